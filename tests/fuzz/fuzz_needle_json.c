/*
 * Fuzz target: a needle's JSON (openQA's format: areas, thresholds,
 * margins, click points) against a small image, then a match with it.
 */
#include <string.h>

#include <glib.h>

#include "fuzz.h"
#include "shot-needle.h"

#define W 64
#define H 48

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t pixels[W * H * 4];
    shot_needle n = {.image = {.width = W, .height = H, .px = pixels}};
    shot_image screen = {.width = W, .height = H, .px = pixels};
    shot_match m;
    char why[256] = "";

    if (shot_needle_parse_json(&n, (const char *)data, size, why, sizeof(why)) == 0) {
        /* Every area it accepts lies inside the image; one match area. */
        size_t matches = 0;
        for (size_t i = 0; i < n.n_areas; i++) {
            if (!shot_rect_inside(&n.areas[i].rect, W, H))
                __builtin_trap();
            matches += n.areas[i].type == SHOT_AREA_MATCH;
        }
        if (matches == 0 || shot_needle_match(&n, &screen, &m) != 0 || !m.matched)
            __builtin_trap(); /* the image matches itself */
        shot_match_clear(&m);
    } else if (!why[0]) {
        __builtin_trap(); /* a refusal always says why */
    }
    g_free(n.areas);
    g_strfreev(n.tags);
    return 0;
}
