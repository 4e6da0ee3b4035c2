/*
 * Unit tests: metrics primitives and the Prometheus text format
 * (base/metrics.c): escaping, histogram buckets, the counters' page.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <glib.h>

#include "metrics.h"

/* The line of @text that starts with @prefix, or NULL (g_free it). */
static char *line_starting(const char *text, const char *prefix)
{
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    for (int i = 0; lines[i]; i++)
        if (g_str_has_prefix(lines[i], prefix))
            return g_strdup(lines[i]);
    return NULL;
}

static void test_metrics_label_values_are_escaped(void **state)
{
    g_autoptr(GString) out = g_string_new(NULL);
    vg_metric_label l[] = {{"vm", "a\\b \"q\"\nnext"}, {"role", "owner"}};
    (void)state;

    vg_metrics_write_u64(out, "vmgate_x_total", l, 2, 7);
    assert_string_equal(out->str,
                        "vmgate_x_total{vm=\"a\\\\b \\\"q\\\"\\nnext\",role=\"owner\"} 7\n");
}

static void test_metrics_invalid_utf8_in_a_label_becomes_replacement_character(void **state)
{
    g_autoptr(GString) out = g_string_new(NULL);
    vg_metric_label l[] = {{"vm", "bad\xff"
                                  "name"}};
    (void)state;

    vg_metrics_write_u64(out, "vmgate_y", l, 1, 1);
    assert_true(g_utf8_validate(out->str, -1, NULL));
    assert_string_equal(out->str, "vmgate_y{vm=\"bad\xef\xbf\xbdname\"} 1\n");
}

static void test_metrics_help_escapes_backslash_and_newline_but_not_quotes(void **state)
{
    g_autoptr(GString) out = g_string_new(NULL);
    (void)state;

    vg_metrics_write_family(out, "vmgate_z", VG_METRIC_GAUGE, "a \"b\" c\\d\ne");
    assert_string_equal(out->str, "# HELP vmgate_z a \"b\" c\\\\d\\ne\n# TYPE vmgate_z gauge\n");
}

static void test_metrics_sample_without_labels_has_no_braces(void **state)
{
    g_autoptr(GString) out = g_string_new(NULL);
    (void)state;

    vg_metrics_write_u64(out, "vmgate_up", NULL, 0, 1);
    vg_metrics_write_double(out, "vmgate_d", NULL, 0, 0.25);
    vg_metrics_write_double(out, "vmgate_inf", NULL, 0, 1.0 / 0.0);
    assert_string_equal(out->str, "vmgate_up 1\nvmgate_d 0.25\nvmgate_inf +Inf\n");
}

static const double test_bounds[] = {0.001, 0.01, 0.1};

static void test_histogram_buckets_are_cumulative_and_le_is_inclusive(void **state)
{
    vg_histogram h;
    g_autoptr(GString) out = g_string_new(NULL);
    vg_metric_label l[] = {{"codec", "planar"}};
    (void)state;

    assert_int_equal(vg_histogram_init(&h, test_bounds, 3), 0);
    vg_histogram_observe_ns(&h, 500000);     /* 0.0005 s: first bucket */
    vg_histogram_observe_ns(&h, 1000000);    /* exactly 0.001: still the first (le) */
    vg_histogram_observe_ns(&h, 5000000);    /* 0.005: second */
    vg_histogram_observe_ns(&h, 2000000000); /* 2 s: only +Inf */
    assert_int_equal(vg_histogram_count(&h), 4);

    vg_metrics_write_histogram(out, "vmgate_t_seconds", l, 1, &h);
    assert_string_equal(out->str, "vmgate_t_seconds_bucket{codec=\"planar\",le=\"0.001\"} 2\n"
                                  "vmgate_t_seconds_bucket{codec=\"planar\",le=\"0.01\"} 3\n"
                                  "vmgate_t_seconds_bucket{codec=\"planar\",le=\"0.1\"} 3\n"
                                  "vmgate_t_seconds_bucket{codec=\"planar\",le=\"+Inf\"} 4\n"
                                  "vmgate_t_seconds_sum{codec=\"planar\"} 2.0065\n"
                                  "vmgate_t_seconds_count{codec=\"planar\"} 4\n");
}

static void test_histogram_refuses_bounds_out_of_order(void **state)
{
    vg_histogram h;
    static const double unordered[] = {0.1, 0.01};
    static const double repeated[] = {0.1, 0.1};
    static const double negative[] = {-1};
    static double too_many[VG_HISTOGRAM_MAX_BOUNDS + 1];
    (void)state;

    for (unsigned i = 0; i < G_N_ELEMENTS(too_many); i++)
        too_many[i] = i + 1;
    assert_int_equal(vg_histogram_init(&h, unordered, 2), -EINVAL);
    assert_int_equal(vg_histogram_init(&h, repeated, 2), -EINVAL);
    assert_int_equal(vg_histogram_init(&h, negative, 1), -EINVAL);
    assert_int_equal(vg_histogram_init(&h, too_many, G_N_ELEMENTS(too_many)), -EINVAL);
    assert_int_equal(vg_histogram_init(&h, test_bounds, 0), -EINVAL);
}

static void test_counters_page_shows_every_label_combination_from_zero(void **state)
{
    g_autoptr(GString) out = g_string_new(NULL);
    g_autofree char *ok = NULL, *web = NULL, *refused = NULL, *inf = NULL;
    (void)state;

    vg_metrics_reset();
    vg_metrics_write_counters(out);
    /* A web front end that never counted still has its series, at 0. */
    web = line_starting(out->str, "vmgate_frames_sent_total{protocol=\"web\",codec=\"rfb\"}");
    assert_non_null(web);
    assert_string_equal(web, "vmgate_frames_sent_total{protocol=\"web\",codec=\"rfb\"} 0");
    ok = line_starting(out->str, "vmgate_logins_total{result=\"ok\"}");
    assert_string_equal(ok, "vmgate_logins_total{result=\"ok\"} 0");
    refused = line_starting(
        out->str, "vmgate_connections_refused_total{front=\"rdp\",reason=\"per_source\"}");
    assert_non_null(refused);
    inf = line_starting(out->str, "vmgate_encode_seconds_bucket{codec=\"avc420\",le=\"+Inf\"}");
    assert_string_equal(inf, "vmgate_encode_seconds_bucket{codec=\"avc420\",le=\"+Inf\"} 0");
}

static void test_counters_move_on_the_page(void **state)
{
    g_autoptr(GString) out = g_string_new(NULL);
    g_autofree char *ok = NULL, *bad = NULL, *bytes = NULL, *refused = NULL, *enc = NULL;
    (void)state;

    vg_metrics_reset();
    vg_metrics_login(VG_METRIC_LOGIN_OK);
    vg_metrics_login(VG_METRIC_LOGIN_OK);
    vg_metrics_login(VG_METRIC_LOGIN_BAD_CREDENTIALS);
    vg_metrics_bytes(VG_METRIC_PROTO_RDP, VG_METRIC_CODEC_PLANAR, 1000);
    vg_metrics_bytes(VG_METRIC_PROTO_RDP, VG_METRIC_CODEC_PLANAR, 24);
    vg_metrics_refused(VG_METRIC_PROTO_VNC, VG_METRIC_REFUSED_LOGGING_IN);
    vg_metrics_encode_ns(VG_METRIC_ENCODER_AVC420, 40 * 1000 * 1000);
    vg_metrics_write_counters(out);

    ok = line_starting(out->str, "vmgate_logins_total{result=\"ok\"}");
    assert_string_equal(ok, "vmgate_logins_total{result=\"ok\"} 2");
    bad = line_starting(out->str, "vmgate_logins_total{result=\"bad_credentials\"}");
    assert_string_equal(bad, "vmgate_logins_total{result=\"bad_credentials\"} 1");
    bytes = line_starting(out->str, "vmgate_bytes_sent_total{protocol=\"rdp\",codec=\"planar\"}");
    assert_string_equal(bytes, "vmgate_bytes_sent_total{protocol=\"rdp\",codec=\"planar\"} 1024");
    refused = line_starting(
        out->str, "vmgate_connections_refused_total{front=\"vnc\",reason=\"logging_in\"}");
    assert_string_equal(refused,
                        "vmgate_connections_refused_total{front=\"vnc\",reason=\"logging_in\"} 1");
    /* 40 ms: not in the 25 ms bucket, in the 50 ms one. */
    enc = line_starting(out->str, "vmgate_encode_seconds_bucket{codec=\"avc420\",le=\"0.025\"}");
    assert_string_equal(enc, "vmgate_encode_seconds_bucket{codec=\"avc420\",le=\"0.025\"} 0");
    g_free(enc);
    enc = line_starting(out->str, "vmgate_encode_seconds_bucket{codec=\"avc420\",le=\"0.05\"}");
    assert_string_equal(enc, "vmgate_encode_seconds_bucket{codec=\"avc420\",le=\"0.05\"} 1");

    /* reset keeps the buckets usable */
    vg_metrics_reset();
    vg_metrics_encode_ns(VG_METRIC_ENCODER_AVC420, 1);
    assert_int_equal(vg_histogram_count(&vg_metrics.encode[VG_METRIC_ENCODER_AVC420]), 1);
}

/* Every sample comes after its family's HELP and TYPE lines, and every
 * family is declared once. */
static void test_counters_page_declares_each_family_once_before_its_samples(void **state)
{
    g_autoptr(GString) out = g_string_new(NULL);
    g_autoptr(GHashTable) typed = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    g_auto(GStrv) lines = NULL;
    (void)state;

    vg_metrics_write_counters(out);
    lines = g_strsplit(out->str, "\n", -1);
    for (int i = 0; lines[i] && *lines[i]; i++) {
        char name[128];
        if (g_str_has_prefix(lines[i], "# HELP "))
            continue;
        if (sscanf(lines[i], "# TYPE %127s", name) == 1) {
            assert_false(g_hash_table_contains(typed, name));
            g_hash_table_add(typed, g_strdup(name));
            continue;
        }
        assert_int_equal(sscanf(lines[i], "%127[a-z_]", name), 1);
        if (!g_hash_table_contains(typed, name)) {
            /* a histogram's series */
            char *suffix = NULL;
            if ((suffix = g_strrstr(name, "_bucket")) || (suffix = g_strrstr(name, "_sum")) ||
                (suffix = g_strrstr(name, "_count")))
                *suffix = '\0';
            if (!g_hash_table_contains(typed, name))
                fail_msg("sample before its TYPE: %s", lines[i]);
        }
    }
    assert_true(g_hash_table_contains(typed, "vmgate_audit_write_failures_total"));
    assert_true(g_hash_table_contains(typed, "vmgate_audit_store_dropped_total"));
    assert_true(g_hash_table_contains(typed, "vmgate_encode_seconds"));
}

#define THREADS   4
#define ADDS_EACH 100000

static gpointer adder(gpointer data)
{
    (void)data;
    for (int i = 0; i < ADDS_EACH; i++) {
        vg_metrics_frames(VG_METRIC_PROTO_VNC, VG_METRIC_CODEC_RFB, 1);
        vg_metrics_encode_ns(VG_METRIC_ENCODER_PLANAR, 1000);
    }
    return NULL;
}

static void test_counters_lose_nothing_between_threads(void **state)
{
    GThread *t[THREADS];
    (void)state;

    vg_metrics_reset();
    for (int i = 0; i < THREADS; i++)
        t[i] = g_thread_new("adder", adder, NULL);
    for (int i = 0; i < THREADS; i++)
        g_thread_join(t[i]);
    assert_int_equal(vg_counter_get(&vg_metrics.frames[VG_METRIC_PROTO_VNC][VG_METRIC_CODEC_RFB]),
                     THREADS * ADDS_EACH);
    assert_int_equal(vg_histogram_count(&vg_metrics.encode[VG_METRIC_ENCODER_PLANAR]),
                     THREADS * ADDS_EACH);
}

static void test_metric_names_parse_back(void **state)
{
    (void)state;
    for (int p = 0; p < VG_METRIC_PROTO_N; p++)
        assert_int_equal(vg_metric_proto_parse(vg_metric_proto_name(p)), p);
    assert_int_equal(vg_metric_proto_parse("net"), -1);
    assert_int_equal(vg_metric_proto_parse(NULL), -1);
    assert_string_equal(vg_metric_login_name(VG_METRIC_LOGIN_THROTTLED), "throttled");
    assert_string_equal(vg_metric_codec_name(VG_METRIC_CODEC_N), "?");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metrics_label_values_are_escaped),
        cmocka_unit_test(test_metrics_invalid_utf8_in_a_label_becomes_replacement_character),
        cmocka_unit_test(test_metrics_help_escapes_backslash_and_newline_but_not_quotes),
        cmocka_unit_test(test_metrics_sample_without_labels_has_no_braces),
        cmocka_unit_test(test_histogram_buckets_are_cumulative_and_le_is_inclusive),
        cmocka_unit_test(test_histogram_refuses_bounds_out_of_order),
        cmocka_unit_test(test_counters_page_shows_every_label_combination_from_zero),
        cmocka_unit_test(test_counters_move_on_the_page),
        cmocka_unit_test(test_counters_page_declares_each_family_once_before_its_samples),
        cmocka_unit_test(test_counters_lose_nothing_between_threads),
        cmocka_unit_test(test_metric_names_parse_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
