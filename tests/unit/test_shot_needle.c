/*
 * Unit tests: needles — openQA-style JSON, matching with a search margin,
 * similarity, exclude areas, diff images, writing and reading back.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <glib.h>
#include <glib/gstdio.h>

#include "shot-needle.h"

#define W 200
#define H 120

static void set(shot_image *img, int x, int y, uint32_t rgb)
{
    uint8_t *p = img->px + ((size_t)y * img->width + (size_t)x) * 4;
    p[0] = rgb & 0xff;
    p[1] = (rgb >> 8) & 0xff;
    p[2] = (rgb >> 16) & 0xff;
    p[3] = 0;
}

static shot_image blank(void)
{
    shot_image img = {.width = W, .height = H, .px = g_malloc0((size_t)W * H * 4)};
    return img;
}

/* A 40 x 20 pattern with its top-left corner at (x, y). */
static void pattern(shot_image *img, int x, int y)
{
    for (int j = 0; j < 20; j++)
        for (int i = 0; i < 40; i++)
            set(img, x + i, y + j, ((i * 7) ^ (j * 13)) & 1 ? 0xffffff : 0x3060a0);
}

static shot_needle *needle_from(shot_image *ref, const char *json)
{
    shot_needle *n = g_new0(shot_needle, 1);
    char why[256];
    n->name = g_strdup("t");
    n->image = *ref;
    if (shot_needle_parse_json(n, json, strlen(json), why, sizeof(why)) < 0)
        fail_msg("parse: %s", why);
    return n;
}

static const char area_json[] =
    "{\"area\":[{\"xpos\":50,\"ypos\":40,\"width\":40,\"height\":20,\"type\":\"match\","
    "\"margin\":10}],\"tags\":[\"t\"]}";

static void test_needle_matches_shifted_within_margin(void **state)
{
    shot_image ref = blank(), scr = blank();
    shot_needle *n;
    shot_match m;
    (void)state;

    pattern(&ref, 50, 40);
    pattern(&scr, 55, 37);
    n = needle_from(&ref, area_json);
    assert_int_equal(n->areas[0].margin, 10);
    assert_true(n->areas[0].match == SHOT_NEEDLE_DEFAULT_MATCH);
    assert_int_equal(shot_needle_match(n, &scr, &m), 0);
    assert_true(m.matched);
    assert_true(m.similarity == 100.0);
    assert_int_equal(m.dx[0], 5);
    assert_int_equal(m.dy[0], -3);
    assert_int_equal(m.click_x, 55 + 20);
    assert_int_equal(m.click_y, 37 + 10);
    shot_match_clear(&m);
    shot_needle_free(n);
    shot_image_clear(&scr);
}

static void test_needle_beyond_margin_does_not_match(void **state)
{
    shot_image ref = blank(), scr = blank();
    shot_needle *n;
    shot_match m;
    (void)state;

    pattern(&ref, 50, 40);
    pattern(&scr, 75, 40); /* 25 px away, margin 10 */
    n = needle_from(&ref, area_json);
    shot_needle_match(n, &scr, &m);
    assert_false(m.matched);
    assert_true(m.similarity < 96.0);
    shot_match_clear(&m);
    shot_needle_free(n);
    shot_image_clear(&scr);
}

static void test_similarity_is_share_of_close_pixels(void **state)
{
    shot_image ref = blank(), scr = blank();
    shot_needle *n;
    shot_match m;
    (void)state;

    pattern(&ref, 50, 40);
    pattern(&scr, 50, 40);
    /* 80 of 800 pixels differ a lot, 100 only a little (within tolerance). */
    for (int i = 0; i < 80; i++)
        set(&scr, 50 + i % 40, 40 + i / 40, 0xff0000);
    for (int i = 0; i < 100; i++) {
        uint8_t *p = scr.px + ((size_t)(50 + i / 40) * W + (size_t)(50 + i % 40)) * 4;
        p[0] = (uint8_t)(p[0] > 128 ? p[0] - 10 : p[0] + 10);
    }
    n = needle_from(&ref, "{\"area\":[{\"xpos\":50,\"ypos\":40,\"width\":40,\"height\":20,"
                          "\"margin\":0,\"match\":85}]}");
    shot_needle_match(n, &scr, &m);
    assert_true(m.similarity > 89.99 && m.similarity < 90.01);
    assert_true(m.matched);
    shot_match_clear(&m);
    shot_needle_free(n);
    shot_image_clear(&scr);
}

static void test_exclude_area_is_not_compared(void **state)
{
    shot_image ref = blank(), scr = blank();
    shot_needle *n;
    shot_match m;
    (void)state;

    pattern(&ref, 50, 40);
    pattern(&scr, 50, 40);
    for (int j = 0; j < 20; j++)
        for (int i = 0; i < 10; i++)
            set(&scr, 80 + i, 40 + j, 0x00ff00); /* a clock, say */
    /* The exclude area first: the match area is still the one clicked. */
    n = needle_from(&ref, "{\"area\":[{\"xpos\":80,\"ypos\":40,\"width\":10,\"height\":20,"
                          "\"type\":\"exclude\"},{\"xpos\":50,\"ypos\":40,\"width\":40,"
                          "\"height\":20,\"margin\":0}]}");
    shot_needle_match(n, &scr, &m);
    assert_true(m.matched);
    assert_true(m.similarity == 100.0);
    assert_int_equal(m.first, 1);
    assert_int_equal(m.worst, 1);
    assert_int_equal(m.click_x, 50 + 20);
    shot_match_clear(&m);
    shot_needle_free(n);
    shot_image_clear(&scr);
}

/* A textured 120 x 80 pattern: large enough for the sampled search. */
static void big_pattern(shot_image *img, int x, int y)
{
    for (int j = 0; j < 80; j++)
        for (int i = 0; i < 120; i++)
            set(img, x + i, y + j, (uint32_t)((i * 2654435761u) ^ (j * 40503u)) & 0xffffff);
}

static void test_large_area_is_found_by_sampled_search_with_exact_similarity(void **state)
{
    shot_image ref = {.width = 300, .height = 200, .px = g_malloc0(300 * 200 * 4)};
    shot_image scr = {.width = 300, .height = 200, .px = g_malloc0(300 * 200 * 4)};
    shot_needle *n;
    shot_match m;
    (void)state;

    big_pattern(&ref, 60, 50);
    big_pattern(&scr, 67, 45);
    /* 480 of the 9600 pixels blacked out: 95.0% at the right shift (a
     * little more where the pattern was near black already). */
    for (int i = 0; i < 480; i++)
        set(&scr, 67 + i % 120, 45 + 10 + i / 120, 0x000000);
    n = needle_from(&ref, "{\"area\":[{\"xpos\":60,\"ypos\":50,\"width\":120,"
                          "\"height\":80,\"margin\":12,\"match\":94}]}");
    shot_needle_match(n, &scr, &m);
    assert_int_equal(m.dx[0], 7);
    assert_int_equal(m.dy[0], -5);
    if (!(m.similarity > 94.99 && m.similarity < 95.05))
        fail_msg("similarity %f", m.similarity);
    assert_true(m.matched);
    shot_match_clear(&m);
    shot_needle_free(n);
    shot_image_clear(&scr);
}

static void test_needle_json_errors(void **state)
{
    shot_image ref = blank();
    shot_needle n = {.image = ref};
    char why[256];
    struct {
        const char *json, *want;
    } cases[] = {
        {"not json", "not JSON"},
        {"[]", "not a JSON object"},
        {"{}", "no \"area\" array"},
        {"{\"area\":[]}", "1 to"},
        {"{\"area\":[{\"xpos\":0,\"ypos\":0,\"width\":10}]}", "needs xpos"},
        {"{\"area\":[{\"xpos\":190,\"ypos\":0,\"width\":20,\"height\":5}]}", "not inside"},
        {"{\"area\":[{\"xpos\":0,\"ypos\":0,\"width\":2,\"height\":2,\"type\":\"ocr\"}]}",
         "'ocr' is not supported"},
        {"{\"area\":[{\"xpos\":0,\"ypos\":0,\"width\":2,\"height\":2,\"match\":101}]}",
         "match must be"},
        {"{\"area\":[{\"xpos\":0,\"ypos\":0,\"width\":2,\"height\":2,\"margin\":999}]}",
         "margin must be"},
        {"{\"area\":[{\"xpos\":0,\"ypos\":0,\"width\":2,\"height\":2,\"type\":\"exclude\"}]}",
         "no area of type"},
        {"{\"area\":[{\"xpos\":0,\"ypos\":0,\"width\":2,\"height\":2,"
         "\"click_point\":{\"xpos\":5,\"ypos\":0}}]}",
         "click_point"},
    };
    (void)state;
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        why[0] = 0;
        if (shot_needle_parse_json(&n, cases[i].json, strlen(cases[i].json), why, sizeof(why)) !=
                -EINVAL ||
            !strstr(why, cases[i].want))
            fail_msg("%s: got '%s', want '%s'", cases[i].json, why, cases[i].want);
    }
    g_free(n.areas);
    g_strfreev(n.tags);
    shot_image_clear(&ref);
}

static void test_needle_write_load_and_diff(void **state)
{
    g_autofree char *dir = g_dir_make_tmp("vgshot-XXXXXX", NULL);
    g_autofree char *base = g_build_filename(dir, "login", NULL);
    g_autofree char *png = g_strconcat(base, ".png", NULL);
    g_autofree char *json = g_strconcat(base, ".json", NULL);
    shot_image ref = blank(), scr = blank(), diff = {0};
    shot_rect r = {50, 40, 40, 20}, outside = {190, 0, 20, 5};
    char *tags[] = {"login", "boot", NULL};
    shot_needle *n = NULL;
    shot_match m;
    char why[256];
    size_t red = 0;
    (void)state;

    pattern(&ref, 50, 40);
    assert_int_equal(shot_needle_write(&ref, base, &outside, 1, 96, 5, NULL, why, sizeof(why)),
                     -EINVAL);
    assert_int_equal(shot_needle_write(&ref, base, &r, 1, 90, 5, tags, why, sizeof(why)), 0);
    assert_int_equal(shot_needle_load(base, &n, why, sizeof(why)), 0);
    assert_string_equal(n->name, "login");
    assert_int_equal(n->n_areas, 1);
    assert_int_equal(n->areas[0].rect.x, 50);
    assert_int_equal(n->areas[0].margin, 5);
    assert_true(n->areas[0].match == 90.0);
    assert_string_equal(n->tags[1], "boot");
    assert_int_equal(memcmp(n->image.px, ref.px, (size_t)W * H * 4), 0);

    /* The screen lacks the pattern: no match, and the diff shows red. */
    shot_needle_match(n, &scr, &m);
    assert_false(m.matched);
    assert_int_equal(shot_needle_diff(n, &scr, &m, &diff), 0);
    for (size_t i = 0; i < (size_t)W * H; i++)
        red += diff.px[i * 4 + 2] == 255 && diff.px[i * 4 + 1] == 0 && diff.px[i * 4] == 0;
    assert_true(red > 100 && red <= 800);
    shot_match_clear(&m);
    shot_image_clear(&diff);
    shot_needle_free(n);

    assert_int_equal(shot_needle_load(png, &n, why, sizeof(why)), 0); /* by its .png */
    shot_needle_free(n);
    g_unlink(json);
    assert_int_equal(shot_needle_load(json, &n, why, sizeof(why)), 0); /* the PNG alone */
    assert_int_equal(n->n_areas, 1);
    assert_int_equal(n->areas[0].rect.w, W);
    shot_needle_free(n);
    g_unlink(png);
    assert_int_equal(shot_needle_load(base, &n, why, sizeof(why)), -ENOENT);
    assert_non_null(strstr(why, "does not exist"));
    g_rmdir(dir);
    shot_image_clear(&ref);
    shot_image_clear(&scr);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_needle_matches_shifted_within_margin),
        cmocka_unit_test(test_needle_beyond_margin_does_not_match),
        cmocka_unit_test(test_similarity_is_share_of_close_pixels),
        cmocka_unit_test(test_exclude_area_is_not_compared),
        cmocka_unit_test(test_large_area_is_found_by_sampled_search_with_exact_similarity),
        cmocka_unit_test(test_needle_json_errors),
        cmocka_unit_test(test_needle_write_load_and_diff),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
