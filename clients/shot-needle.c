/*
 * vmgate-shot — needles: loading (PNG + openQA-style JSON, json-glib),
 * matching within a search margin, diff images, and writing new ones.
 *
 * Threading: see shot-needle.h.
 */
#include "shot-needle.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include <glib.h>
#include <json-glib/json-glib.h>

static bool json_int(JsonObject *o, const char *key, int min, int max, int *out, bool required)
{
    JsonNode *v = json_object_get_member(o, key);
    gint64 i;

    if (!v)
        return !required;
    if (!JSON_NODE_HOLDS_VALUE(v) || json_node_get_value_type(v) != G_TYPE_INT64)
        return false;
    i = json_node_get_int(v);
    if (i < min || i > max)
        return false;
    *out = (int)i;
    return true;
}

static bool json_number(JsonObject *o, const char *key, double min, double max, double *out)
{
    JsonNode *v = json_object_get_member(o, key);
    double d;

    if (!v)
        return true;
    if (!JSON_NODE_HOLDS_VALUE(v))
        return false;
    if (json_node_get_value_type(v) == G_TYPE_INT64)
        d = (double)json_node_get_int(v);
    else if (json_node_get_value_type(v) == G_TYPE_DOUBLE)
        d = json_node_get_double(v);
    else
        return false;
    if (!(d > min && d <= max))
        return false;
    *out = d;
    return true;
}

static int parse_area(shot_needle *n, JsonNode *node, size_t i, shot_needle_area *a, char *why,
                      size_t why_len)
{
    JsonObject *o;
    JsonNode *cp;
    const char *type = "match";

    if (!JSON_NODE_HOLDS_OBJECT(node)) {
        snprintf(why, why_len, "area %zu is not an object", i + 1);
        return -EINVAL;
    }
    o = json_node_get_object(node);
    a->type = SHOT_AREA_MATCH;
    a->match = SHOT_NEEDLE_DEFAULT_MATCH;
    a->margin = SHOT_NEEDLE_DEFAULT_MARGIN;
    if (!json_int(o, "xpos", 0, SHOT_IMAGE_MAX_DIM, &a->rect.x, true) ||
        !json_int(o, "ypos", 0, SHOT_IMAGE_MAX_DIM, &a->rect.y, true) ||
        !json_int(o, "width", 1, SHOT_IMAGE_MAX_DIM, &a->rect.w, true) ||
        !json_int(o, "height", 1, SHOT_IMAGE_MAX_DIM, &a->rect.h, true)) {
        snprintf(why, why_len,
                 "area %zu needs xpos, ypos (0 or more), width and height (1 or more) as "
                 "integers",
                 i + 1);
        return -EINVAL;
    }
    if (!shot_rect_inside(&a->rect, n->image.width, n->image.height)) {
        snprintf(why, why_len, "area %zu (%d,%d,%d,%d) is not inside the %ux%u image", i + 1,
                 a->rect.x, a->rect.y, a->rect.w, a->rect.h, n->image.width, n->image.height);
        return -EINVAL;
    }
    if (json_object_has_member(o, "type")) {
        JsonNode *t = json_object_get_member(o, "type");
        if (!JSON_NODE_HOLDS_VALUE(t) || json_node_get_value_type(t) != G_TYPE_STRING) {
            snprintf(why, why_len, "area %zu: type is not a string", i + 1);
            return -EINVAL;
        }
        type = json_node_get_string(t);
    }
    if (!strcmp(type, "match")) {
        a->type = SHOT_AREA_MATCH;
    } else if (!strcmp(type, "exclude")) {
        a->type = SHOT_AREA_EXCLUDE;
    } else {
        snprintf(why, why_len,
                 "area %zu: type '%s' is not supported (match or exclude; for text on the "
                 "screen use the wait-text step)",
                 i + 1, type);
        return -EINVAL;
    }
    if (!json_number(o, "match", 0, 100, &a->match)) {
        snprintf(why, why_len, "area %zu: match must be a percentage above 0, at most 100", i + 1);
        return -EINVAL;
    }
    if (!json_int(o, "margin", 0, SHOT_NEEDLE_MAX_MARGIN, &a->margin, false)) {
        snprintf(why, why_len, "area %zu: margin must be an integer from 0 to %d", i + 1,
                 SHOT_NEEDLE_MAX_MARGIN);
        return -EINVAL;
    }
    a->click_x = a->rect.w / 2;
    a->click_y = a->rect.h / 2;
    cp = json_object_get_member(o, "click_point");
    if (cp && JSON_NODE_HOLDS_OBJECT(cp)) {
        JsonObject *c = json_node_get_object(cp);
        if (!json_int(c, "xpos", 0, a->rect.w - 1, &a->click_x, true) ||
            !json_int(c, "ypos", 0, a->rect.h - 1, &a->click_y, true)) {
            snprintf(why, why_len, "area %zu: click_point needs xpos and ypos inside the area",
                     i + 1);
            return -EINVAL;
        }
    } else if (cp && !(JSON_NODE_HOLDS_VALUE(cp) && json_node_get_value_type(cp) == G_TYPE_STRING &&
                       !strcmp(json_node_get_string(cp), "center"))) {
        snprintf(why, why_len, "area %zu: click_point is an object or \"center\"", i + 1);
        return -EINVAL;
    }
    return 0;
}

int shot_needle_parse_json(shot_needle *n, const char *json, size_t len, char *why, size_t why_len)
{
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autoptr(GError) err = NULL;
    JsonNode *root, *areas, *tags;
    JsonArray *arr;
    size_t count, matches = 0;

    if (!json_parser_load_from_data(parser, json, (gssize)len, &err)) {
        snprintf(why, why_len, "not JSON: %s", err->message);
        return -EINVAL;
    }
    root = json_parser_get_root(parser);
    if (!root || !JSON_NODE_HOLDS_OBJECT(root)) {
        snprintf(why, why_len, "not a JSON object");
        return -EINVAL;
    }
    areas = json_object_get_member(json_node_get_object(root), "area");
    if (!areas || !JSON_NODE_HOLDS_ARRAY(areas)) {
        snprintf(why, why_len, "no \"area\" array");
        return -EINVAL;
    }
    arr = json_node_get_array(areas);
    count = json_array_get_length(arr);
    if (count == 0 || count > SHOT_NEEDLE_MAX_AREAS) {
        snprintf(why, why_len, "\"area\" must hold 1 to %d areas", SHOT_NEEDLE_MAX_AREAS);
        return -EINVAL;
    }
    g_free(n->areas);
    n->areas = g_new0(shot_needle_area, count);
    n->n_areas = count;
    for (size_t i = 0; i < count; i++) {
        int r = parse_area(n, json_array_get_element(arr, (guint)i), i, &n->areas[i], why, why_len);
        if (r < 0)
            return r;
        if (n->areas[i].type == SHOT_AREA_MATCH)
            matches++;
    }
    if (matches == 0) {
        snprintf(why, why_len, "no area of type \"match\"");
        return -EINVAL;
    }
    g_strfreev(n->tags);
    n->tags = NULL;
    tags = json_object_get_member(json_node_get_object(root), "tags");
    if (tags && JSON_NODE_HOLDS_ARRAY(tags)) {
        JsonArray *t = json_node_get_array(tags);
        GPtrArray *v = g_ptr_array_new();
        for (guint i = 0; i < json_array_get_length(t); i++) {
            JsonNode *e = json_array_get_element(t, i);
            if (JSON_NODE_HOLDS_VALUE(e) && json_node_get_value_type(e) == G_TYPE_STRING)
                g_ptr_array_add(v, g_strdup(json_node_get_string(e)));
        }
        g_ptr_array_add(v, NULL);
        n->tags = (char **)g_ptr_array_free(v, FALSE);
    }
    return 0;
}

int shot_needle_load(const char *ref, shot_needle **out, char *why, size_t why_len)
{
    g_autofree char *base = NULL, *json = NULL;
    char inner[512];
    size_t len = 0;
    shot_needle *n;
    g_autoptr(GError) err = NULL;
    int r;

    *out = NULL;
    if (g_str_has_suffix(ref, ".png"))
        base = g_strndup(ref, strlen(ref) - 4);
    else if (g_str_has_suffix(ref, ".json"))
        base = g_strndup(ref, strlen(ref) - 5);
    else
        base = g_strdup(ref);
    n = g_new0(shot_needle, 1);
    n->name = g_path_get_basename(base);
    n->png_path = g_strconcat(base, ".png", NULL);
    r = shot_image_load_png(n->png_path, &n->image, why, why_len);
    if (r < 0) {
        if (r == -ENOENT)
            snprintf(why, why_len, "needle '%s': %s does not exist", ref, n->png_path);
        goto fail;
    }
    n->json_path = g_strconcat(base, ".json", NULL);
    if (!g_file_test(n->json_path, G_FILE_TEST_EXISTS)) {
        /* No JSON: the whole image is one area. */
        g_clear_pointer(&n->json_path, g_free);
        n->areas = g_new0(shot_needle_area, 1);
        n->n_areas = 1;
        n->areas[0] = (shot_needle_area){
            .rect = {0, 0, (int)n->image.width, (int)n->image.height},
            .type = SHOT_AREA_MATCH,
            .match = SHOT_NEEDLE_DEFAULT_MATCH,
            .margin = 0,
            .click_x = (int)n->image.width / 2,
            .click_y = (int)n->image.height / 2,
        };
        *out = n;
        return 0;
    }
    if (!g_file_get_contents(n->json_path, &json, &len, &err)) {
        snprintf(why, why_len, "%s: %s", n->json_path, err->message);
        r = -EIO;
        goto fail;
    }
    if (len > 1024 * 1024) {
        snprintf(why, why_len, "%s: larger than 1 MiB", n->json_path);
        r = -EINVAL;
        goto fail;
    }
    r = shot_needle_parse_json(n, json, len, inner, sizeof(inner));
    if (r < 0) {
        snprintf(why, why_len, "%s: %s", n->json_path, inner);
        goto fail;
    }
    *out = n;
    return 0;
fail:
    shot_needle_free(n);
    return r;
}

void shot_needle_free(shot_needle *n)
{
    if (!n)
        return;
    g_free(n->name);
    g_free(n->png_path);
    g_free(n->json_path);
    shot_image_clear(&n->image);
    g_free(n->areas);
    g_strfreev(n->tags);
    g_free(n);
}

void shot_match_clear(shot_match *m)
{
    g_free(m->dx);
    g_free(m->dy);
    g_free(m->area_similarity);
    memset(m, 0, sizeof(*m));
}

static inline bool pixels_close(const uint8_t *a, const uint8_t *b)
{
    for (int c = 0; c < 3; c++) {
        int d = (int)a[c] - (int)b[c];
        if (d > SHOT_NEEDLE_TOLERANCE || d < -SHOT_NEEDLE_TOLERANCE)
            return false;
    }
    return true;
}

/* Whether needle pixel (x, y) lies in an exclude area. */
static bool excluded(const shot_needle *n, int x, int y)
{
    for (size_t i = 0; i < n->n_areas; i++) {
        const shot_rect *r = &n->areas[i].rect;
        if (n->areas[i].type == SHOT_AREA_EXCLUDE && x >= r->x && x < r->x + r->w && y >= r->y &&
            y < r->y + r->h)
            return true;
    }
    return false;
}

/* Pixels of area @a (needle position) that differ from the screen with
 * the area shifted by (dx, dy), looking at every @step-th row and column,
 * stopping once @limit are found. */
static long count_bad(const shot_needle *n, const shot_needle_area *a, const uint8_t *mask,
                      const shot_image *scr, int dx, int dy, int step, long limit)
{
    const shot_image *ref = &n->image;
    int sx = a->rect.x + dx, sy = a->rect.y + dy;
    long bad = 0;

    for (int y = 0; y < a->rect.h && bad < limit; y += step) {
        const uint8_t *rp =
            ref->px + ((size_t)(a->rect.y + y) * ref->width + (size_t)a->rect.x) * 4;
        const uint8_t *sp = scr->px + ((size_t)(sy + y) * scr->width + (size_t)sx) * 4;
        const uint8_t *mk = mask ? mask + (size_t)y * (size_t)a->rect.w : NULL;
        for (int x = 0; x < a->rect.w; x += step) {
            if (mk && mk[x])
                continue;
            if (!pixels_close(rp + x * 4, sp + x * 4))
                bad++;
        }
    }
    return bad;
}

typedef struct shift {
    int dx, dy;
    long bad; /* on the sample */
} shift;

/* Best similarity of area @a over the shifts within its margin.
 *
 * Comparing every pixel at every shift costs margin² × area: seconds for a
 * large area that matches nowhere. So every shift is first scored on a
 * sample (every SAMPLE_STEP-th row and column), and only the
 * SAMPLE_KEEP best of them, with the unshifted position, are compared
 * pixel by pixel. An area that is on the screen scores best on the sample
 * too; the similarity reported is always a full count at some shift.
 * Ties keep the smaller shift: shifts are tried ring by ring outwards and a
 * later one must be strictly better. */
#define SAMPLE_STEP 4
#define SAMPLE_KEEP 8
static double match_area(const shot_needle *n, const shot_needle_area *a, const uint8_t *mask,
                         size_t total, const shot_image *scr, int *best_dx, int *best_dy)
{
    shift keep[SAMPLE_KEEP + 1];
    size_t kept = 0;
    long best_ok = -1;
    int m = a->margin;
    bool sample = (size_t)a->rect.w * (size_t)a->rect.h >= 64u * SAMPLE_STEP * SAMPLE_STEP && m > 0;

    *best_dx = *best_dy = 0;
    if (total == 0)
        return 100.0;
    for (int step = 0; step <= m; step++) {
        /* The ring of shifts at Chebyshev distance @step. */
        for (int dy = -step; dy <= step; dy++) {
            for (int dx = -step; dx <= step; dx++) {
                int sx = a->rect.x + dx, sy = a->rect.y + dy;
                long bad;

                if (dx != -step && dx != step && dy != -step && dy != step)
                    continue;
                if (sx < 0 || sy < 0 || (int64_t)sx + a->rect.w > scr->width ||
                    (int64_t)sy + a->rect.h > scr->height)
                    continue;
                if (!sample) {
                    /* Stop as soon as this shift cannot beat the best one. */
                    long limit = (long)total - best_ok;
                    bad = count_bad(n, a, mask, scr, dx, dy, 1, limit);
                    if (bad < limit) {
                        best_ok = (long)total - bad;
                        *best_dx = dx;
                        *best_dy = dy;
                        if (bad == 0)
                            goto done;
                    }
                    continue;
                }
                /* Keep the SAMPLE_KEEP best on the sample, in order; the
                 * unshifted position (the first tried) is kept apart. */
                {
                    long limit = kept < SAMPLE_KEEP + 1 ? LONG_MAX : keep[kept - 1].bad;
                    size_t at;

                    bad = count_bad(n, a, mask, scr, dx, dy, SAMPLE_STEP, limit);
                    if (bad >= limit)
                        continue;
                    if (kept == 0) {
                        keep[kept++] = (shift){dx, dy, bad};
                        continue;
                    }
                    at = kept < SAMPLE_KEEP + 1 ? kept : kept - 1;
                    while (at > 1 && keep[at - 1].bad > bad) {
                        keep[at] = keep[at - 1];
                        at--;
                    }
                    keep[at] = (shift){dx, dy, bad};
                    if (kept < SAMPLE_KEEP + 1)
                        kept++;
                }
            }
        }
    }
    for (size_t i = 0; i < kept; i++) {
        long limit = (long)total - best_ok;
        long bad = count_bad(n, a, mask, scr, keep[i].dx, keep[i].dy, 1, limit);
        if (bad < limit) {
            best_ok = (long)total - bad;
            *best_dx = keep[i].dx;
            *best_dy = keep[i].dy;
        }
    }
done:
    if (best_ok < 0)
        return 0.0; /* the area never fitted on this screen */
    return 100.0 * (double)best_ok / (double)total;
}

int shot_needle_match(const shot_needle *n, const shot_image *screen, shot_match *out)
{
    bool first_click = true;

    memset(out, 0, sizeof(*out));
    out->n_areas = n->n_areas;
    out->dx = g_new0(int, n->n_areas);
    out->dy = g_new0(int, n->n_areas);
    out->area_similarity = g_new0(double, n->n_areas);
    out->matched = true;
    out->similarity = 100.0;
    for (size_t i = 0; i < n->n_areas; i++) {
        const shot_needle_area *a = &n->areas[i];
        g_autofree uint8_t *mask = NULL;
        size_t total = (size_t)a->rect.w * (size_t)a->rect.h;
        double sim;

        if (a->type != SHOT_AREA_MATCH)
            continue;
        for (size_t j = 0; j < n->n_areas; j++) {
            if (n->areas[j].type == SHOT_AREA_EXCLUDE) {
                mask = g_malloc0(total);
                break;
            }
        }
        if (mask) {
            for (int y = 0; y < a->rect.h; y++) {
                for (int x = 0; x < a->rect.w; x++) {
                    if (excluded(n, a->rect.x + x, a->rect.y + y)) {
                        mask[(size_t)y * (size_t)a->rect.w + (size_t)x] = 1;
                        total--;
                    }
                }
            }
        }
        sim = match_area(n, a, mask, total, screen, &out->dx[i], &out->dy[i]);
        out->area_similarity[i] = sim;
        if (sim < out->similarity || first_click) {
            out->similarity = sim;
            out->worst = i;
        }
        if (sim + 1e-9 < a->match)
            out->matched = false;
        if (first_click) {
            out->first = i;
            out->click_x = a->rect.x + out->dx[i] + a->click_x;
            out->click_y = a->rect.y + out->dy[i] + a->click_y;
            first_click = false;
        }
    }
    return 0;
}

static void put(shot_image *img, int x, int y, uint8_t r, uint8_t g, uint8_t b)
{
    uint8_t *p;
    if (x < 0 || y < 0 || (uint32_t)x >= img->width || (uint32_t)y >= img->height)
        return;
    p = img->px + ((size_t)y * img->width + (size_t)x) * 4;
    p[0] = b;
    p[1] = g;
    p[2] = r;
}

int shot_needle_diff(const shot_needle *n, const shot_image *screen, const shot_match *m,
                     shot_image *out)
{
    size_t bytes = (size_t)screen->width * screen->height * 4;

    out->width = screen->width;
    out->height = screen->height;
    out->px = g_try_malloc(bytes);
    if (!out->px)
        return -ENOMEM;
    for (size_t i = 0; i < bytes; i++)
        out->px[i] = (uint8_t)(screen->px[i] / 3);
    for (size_t i = 0; i < n->n_areas && i < m->n_areas; i++) {
        const shot_needle_area *a = &n->areas[i];
        int sx = a->rect.x + m->dx[i], sy = a->rect.y + m->dy[i];
        bool ok = m->area_similarity[i] + 1e-9 >= a->match;

        if (a->type != SHOT_AREA_MATCH)
            continue;
        for (int y = 0; y < a->rect.h; y++) {
            for (int x = 0; x < a->rect.w; x++) {
                int px = sx + x, py = sy + y;
                if (px < 0 || py < 0 || (uint32_t)px >= screen->width ||
                    (uint32_t)py >= screen->height)
                    continue;
                const uint8_t *s = screen->px + ((size_t)py * screen->width + (size_t)px) * 4;
                const uint8_t *r =
                    n->image.px +
                    ((size_t)(a->rect.y + y) * n->image.width + (size_t)(a->rect.x + x)) * 4;
                if (excluded(n, a->rect.x + x, a->rect.y + y) || pixels_close(s, r))
                    put(out, px, py, s[2], s[1], s[0]);
                else
                    put(out, px, py, 255, 0, 0);
            }
        }
        for (int x = -1; x <= a->rect.w; x++) {
            put(out, sx + x, sy - 1, ok ? 0 : 255, 255, 0);
            put(out, sx + x, sy + a->rect.h, ok ? 0 : 255, 255, 0);
        }
        for (int y = -1; y <= a->rect.h; y++) {
            put(out, sx - 1, sy + y, ok ? 0 : 255, 255, 0);
            put(out, sx + a->rect.w, sy + y, ok ? 0 : 255, 255, 0);
        }
    }
    return 0;
}

int shot_needle_write(const shot_image *screen, const char *path_base, const shot_rect *rects,
                      size_t n_rects, double match, int margin, char **tags, char *why,
                      size_t why_len)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(JsonGenerator) gen = json_generator_new();
    g_autoptr(JsonNode) root = NULL;
    g_autofree char *png = g_strconcat(path_base, ".png", NULL);
    g_autofree char *json_path = g_strconcat(path_base, ".json", NULL);
    g_autofree char *text = NULL;
    g_autofree char *name = g_path_get_basename(path_base);
    int r;

    for (size_t i = 0; i < n_rects; i++) {
        if (!shot_rect_inside(&rects[i], screen->width, screen->height)) {
            snprintf(why, why_len, "area %d,%d,%d,%d is not inside the %ux%u screen", rects[i].x,
                     rects[i].y, rects[i].w, rects[i].h, screen->width, screen->height);
            return -EINVAL;
        }
    }
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "area");
    json_builder_begin_array(b);
    for (size_t i = 0; i < n_rects; i++) {
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "xpos");
        json_builder_add_int_value(b, rects[i].x);
        json_builder_set_member_name(b, "ypos");
        json_builder_add_int_value(b, rects[i].y);
        json_builder_set_member_name(b, "width");
        json_builder_add_int_value(b, rects[i].w);
        json_builder_set_member_name(b, "height");
        json_builder_add_int_value(b, rects[i].h);
        json_builder_set_member_name(b, "type");
        json_builder_add_string_value(b, "match");
        json_builder_set_member_name(b, "match");
        json_builder_add_double_value(b, match);
        json_builder_set_member_name(b, "margin");
        json_builder_add_int_value(b, margin);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    json_builder_set_member_name(b, "tags");
    json_builder_begin_array(b);
    if (tags && tags[0]) {
        for (char **t = tags; *t; t++)
            json_builder_add_string_value(b, *t);
    } else {
        json_builder_add_string_value(b, name);
    }
    json_builder_end_array(b);
    json_builder_set_member_name(b, "properties");
    json_builder_begin_array(b);
    json_builder_end_array(b);
    json_builder_end_object(b);
    root = json_builder_get_root(b);
    json_generator_set_root(gen, root);
    json_generator_set_pretty(gen, TRUE);
    text = json_generator_to_data(gen, NULL);
    r = shot_image_save_png(screen, png);
    if (r < 0) {
        snprintf(why, why_len, "cannot write %s: %s", png, g_strerror(-r));
        return r;
    }
    {
        g_autofree char *with_nl = g_strconcat(text, "\n", NULL);
        g_autoptr(GError) err = NULL;
        if (!g_file_set_contents(json_path, with_nl, -1, &err)) {
            snprintf(why, why_len, "cannot write %s: %s", json_path, err->message);
            return -EIO;
        }
    }
    return 0;
}
