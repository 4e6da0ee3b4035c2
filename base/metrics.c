/*
 * vmgate — metrics primitives, the process's counters and the Prometheus
 * text format. See metrics.h.
 */
#include "metrics.h"

#include <errno.h>
#include <math.h>
#include <string.h>

/* Encode time: planar pieces of a small change take well under a
 * millisecond; H.264 of a 1080p frame 30-100 ms on one core. */
static const double encode_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                       0.05,   0.1,   0.25,   0.5,   1.0};
#define ENCODE_BOUNDS_NS                                                                           \
    {                                                                                              \
        500000, 1000000, 2500000, 5000000, 10000000, 25000000, 50000000, 100000000, 250000000,     \
            500000000, 1000000000                                                                  \
    }
#define N_ENCODE_BOUNDS (sizeof(encode_bounds) / sizeof(encode_bounds[0]))

vg_metrics_set vg_metrics = {
    .encode =
        {
            [VG_METRIC_ENCODER_PLANAR] = {.bounds = encode_bounds,
                                          .n_bounds = N_ENCODE_BOUNDS,
                                          .bound_ns = ENCODE_BOUNDS_NS},
            [VG_METRIC_ENCODER_AVC420] = {.bounds = encode_bounds,
                                          .n_bounds = N_ENCODE_BOUNDS,
                                          .bound_ns = ENCODE_BOUNDS_NS},
        },
};

static const char *const proto_names[] = {"vnc", "rdp", "web"};
static const char *const codec_names[] = {"rfb", "planar", "uncompressed", "avc420", "move"};
static const char *const encoder_names[] = {"planar", "avc420"};
static const char *const login_names[] = {"ok",      "bad_credentials", "throttled", "disabled",
                                          "refused", "unavailable",     "error",
                                          "redirected"};
static const char *const refusal_names[] = {"full", "logging_in", "per_source"};
static const char *const lockout_names[] = {"user", "address"};

G_STATIC_ASSERT(G_N_ELEMENTS(proto_names) == VG_METRIC_PROTO_N);
G_STATIC_ASSERT(G_N_ELEMENTS(codec_names) == VG_METRIC_CODEC_N);
G_STATIC_ASSERT(G_N_ELEMENTS(encoder_names) == VG_METRIC_ENCODER_N);
G_STATIC_ASSERT(G_N_ELEMENTS(login_names) == VG_METRIC_LOGIN_N);
G_STATIC_ASSERT(G_N_ELEMENTS(refusal_names) == VG_METRIC_REFUSED_N);
G_STATIC_ASSERT(G_N_ELEMENTS(lockout_names) == VG_METRIC_LOCKOUT_N);
G_STATIC_ASSERT(G_N_ELEMENTS(encode_bounds) <= VG_HISTOGRAM_MAX_BOUNDS);

#define NAME_OF(table, i) ((unsigned)(i) < G_N_ELEMENTS(table) ? table[i] : "?")

const char *vg_metric_proto_name(vg_metric_proto p)
{
    return NAME_OF(proto_names, p);
}

int vg_metric_proto_parse(const char *name)
{
    for (unsigned i = 0; name && i < G_N_ELEMENTS(proto_names); i++)
        if (strcmp(name, proto_names[i]) == 0)
            return (int)i;
    return -1;
}

const char *vg_metric_codec_name(vg_metric_codec c)
{
    return NAME_OF(codec_names, c);
}

const char *vg_metric_encoder_name(vg_metric_encoder e)
{
    return NAME_OF(encoder_names, e);
}

const char *vg_metric_login_name(vg_metric_login l)
{
    return NAME_OF(login_names, l);
}

const char *vg_metric_refusal_name(vg_metric_refusal r)
{
    return NAME_OF(refusal_names, r);
}

const char *vg_metric_lockout_name(vg_metric_lockout k)
{
    return NAME_OF(lockout_names, k);
}

/* ---- histogram ------------------------------------------------------------ */

int vg_histogram_init(vg_histogram *h, const double *bounds, unsigned n_bounds)
{
    if (!h || !bounds || n_bounds == 0 || n_bounds > VG_HISTOGRAM_MAX_BOUNDS)
        return -EINVAL;
    for (unsigned i = 0; i < n_bounds; i++) {
        if (!(bounds[i] > 0) || !isfinite(bounds[i]) || bounds[i] > 1e9 ||
            (i > 0 && !(bounds[i] > bounds[i - 1])))
            return -EINVAL;
    }
    memset(h, 0, sizeof(*h));
    h->bounds = bounds;
    h->n_bounds = n_bounds;
    for (unsigned i = 0; i < n_bounds; i++)
        h->bound_ns[i] = (uint64_t)llround(bounds[i] * 1e9);
    return 0;
}

void vg_histogram_observe_ns(vg_histogram *h, uint64_t ns)
{
    unsigned i = 0;

    /* le: a value equal to a bound belongs to that bound's bucket. */
    while (i < h->n_bounds && ns > h->bound_ns[i])
        i++;
    atomic_fetch_add_explicit(&h->count[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_ns, ns, memory_order_relaxed);
}

uint64_t vg_histogram_count(const vg_histogram *h)
{
    uint64_t n = 0;
    for (unsigned i = 0; i <= h->n_bounds; i++)
        n += atomic_load_explicit(&((vg_histogram *)h)->count[i], memory_order_relaxed);
    return n;
}

void vg_metrics_reset(void)
{
    vg_histogram saved[VG_METRIC_ENCODER_N];

    for (unsigned e = 0; e < VG_METRIC_ENCODER_N; e++)
        saved[e] = vg_metrics.encode[e];
    memset(&vg_metrics, 0, sizeof(vg_metrics));
    for (unsigned e = 0; e < VG_METRIC_ENCODER_N; e++)
        (void)vg_histogram_init(&vg_metrics.encode[e], saved[e].bounds, saved[e].n_bounds);
}

/* ---- text format -------------------------------------------------------------- */

/* @v in C locale, short when 15 digits read back exactly (0.1, not
 * 0.10000000000000001), else with the 17 that always do. */
static void format_double(char buf[G_ASCII_DTOSTR_BUF_SIZE], double v)
{
    g_ascii_formatd(buf, G_ASCII_DTOSTR_BUF_SIZE, "%.15g", v);
    if (g_ascii_strtod(buf, NULL) != v)
        g_ascii_formatd(buf, G_ASCII_DTOSTR_BUF_SIZE, "%.17g", v);
}

/* @v as the format spells it. */
static void append_double(GString *out, double v)
{
    char buf[G_ASCII_DTOSTR_BUF_SIZE];

    if (isnan(v)) {
        g_string_append(out, "NaN");
    } else if (isinf(v)) {
        g_string_append(out, v > 0 ? "+Inf" : "-Inf");
    } else {
        format_double(buf, v);
        g_string_append(out, buf);
    }
}

/* @s with backslash, line feed and (when @quote) double quote escaped;
 * invalid UTF-8 replaced, so that a VM's odd name cannot break the page. */
static void append_escaped(GString *out, const char *s, bool quote)
{
    g_autofree char *valid = g_utf8_make_valid(s ? s : "", -1);

    for (const char *p = valid; *p; p++) {
        if (*p == '\\')
            g_string_append(out, "\\\\");
        else if (*p == '\n')
            g_string_append(out, "\\n");
        else if (quote && *p == '"')
            g_string_append(out, "\\\"");
        else
            g_string_append_c(out, *p);
    }
}

void vg_metrics_write_family(GString *out, const char *name, vg_metric_type type, const char *help)
{
    static const char *const types[] = {"counter", "gauge", "histogram"};

    g_string_append_printf(out, "# HELP %s ", name);
    append_escaped(out, help, false);
    g_string_append_printf(out, "\n# TYPE %s %s\n", name, NAME_OF(types, type));
}

static void append_labels(GString *out, const vg_metric_label *labels, size_t n, const char *le)
{
    if (n == 0 && !le)
        return;
    g_string_append_c(out, '{');
    for (size_t i = 0; i < n; i++) {
        g_string_append_printf(out, "%s%s=\"", i ? "," : "", labels[i].name);
        append_escaped(out, labels[i].value, true);
        g_string_append_c(out, '"');
    }
    if (le)
        g_string_append_printf(out, "%sle=\"%s\"", n ? "," : "", le);
    g_string_append_c(out, '}');
}

void vg_metrics_write_u64(GString *out, const char *name, const vg_metric_label *labels,
                          size_t n_labels, uint64_t value)
{
    g_string_append(out, name);
    append_labels(out, labels, n_labels, NULL);
    g_string_append_printf(out, " %" G_GUINT64_FORMAT "\n", value);
}

void vg_metrics_write_double(GString *out, const char *name, const vg_metric_label *labels,
                             size_t n_labels, double value)
{
    g_string_append(out, name);
    append_labels(out, labels, n_labels, NULL);
    g_string_append_c(out, ' ');
    append_double(out, value);
    g_string_append_c(out, '\n');
}

void vg_metrics_write_histogram(GString *out, const char *name, const vg_metric_label *labels,
                                size_t n_labels, const vg_histogram *h)
{
    vg_histogram *hh = (vg_histogram *)h;
    g_autofree char *bucket = g_strconcat(name, "_bucket", NULL);
    g_autofree char *sum = g_strconcat(name, "_sum", NULL);
    g_autofree char *count = g_strconcat(name, "_count", NULL);
    uint64_t cumulative = 0;
    char le[G_ASCII_DTOSTR_BUF_SIZE];

    for (unsigned i = 0; i <= h->n_bounds; i++) {
        cumulative += atomic_load_explicit(&hh->count[i], memory_order_relaxed);
        g_string_append(out, bucket);
        if (i < h->n_bounds)
            format_double(le, h->bounds[i]);
        else
            g_strlcpy(le, "+Inf", sizeof(le));
        append_labels(out, labels, n_labels, le);
        g_string_append_printf(out, " %" G_GUINT64_FORMAT "\n", cumulative);
    }
    g_string_append(out, sum);
    append_labels(out, labels, n_labels, NULL);
    g_string_append_c(out, ' ');
    append_double(out, (double)atomic_load_explicit(&hh->sum_ns, memory_order_relaxed) / 1e9);
    g_string_append_c(out, '\n');
    /* The +Inf bucket's count, so that the two always agree. */
    vg_metrics_write_u64(out, count, labels, n_labels, cumulative);
}

void vg_metrics_write_counters(GString *out)
{
    vg_metrics_write_family(out, "vmgate_frames_sent_total", VG_METRIC_COUNTER,
                            "Screen updates sent to viewers, by front end and codec.");
    for (unsigned p = 0; p < VG_METRIC_PROTO_N; p++)
        for (unsigned c = 0; c < VG_METRIC_CODEC_N; c++) {
            vg_metric_label l[] = {{"protocol", proto_names[p]}, {"codec", codec_names[c]}};
            vg_metrics_write_u64(out, "vmgate_frames_sent_total", l, 2,
                                 vg_counter_get(&vg_metrics.frames[p][c]));
        }
    vg_metrics_write_family(out, "vmgate_bytes_sent_total", VG_METRIC_COUNTER,
                            "Bytes of screen updates sent to viewers, by front end and codec.");
    for (unsigned p = 0; p < VG_METRIC_PROTO_N; p++)
        for (unsigned c = 0; c < VG_METRIC_CODEC_N; c++) {
            vg_metric_label l[] = {{"protocol", proto_names[p]}, {"codec", codec_names[c]}};
            vg_metrics_write_u64(out, "vmgate_bytes_sent_total", l, 2,
                                 vg_counter_get(&vg_metrics.bytes[p][c]));
        }
    vg_metrics_write_family(out, "vmgate_encode_seconds", VG_METRIC_HISTOGRAM,
                            "Time the RDP encoders took per frame, by encoder.");
    for (unsigned e = 0; e < VG_METRIC_ENCODER_N; e++) {
        vg_metric_label l[] = {{"codec", encoder_names[e]}};
        vg_metrics_write_histogram(out, "vmgate_encode_seconds", l, 1, &vg_metrics.encode[e]);
    }
    vg_metrics_write_family(out, "vmgate_logins_total", VG_METRIC_COUNTER,
                            "Login attempts on every front end, by result.");
    for (unsigned i = 0; i < VG_METRIC_LOGIN_N; i++) {
        vg_metric_label l[] = {{"result", login_names[i]}};
        vg_metrics_write_u64(out, "vmgate_logins_total", l, 1,
                             vg_counter_get(&vg_metrics.logins[i]));
    }
    vg_metrics_write_family(out, "vmgate_lockouts_total", VG_METRIC_COUNTER,
                            "Users and source addresses locked out after repeated failed logins.");
    for (unsigned i = 0; i < VG_METRIC_LOCKOUT_N; i++) {
        vg_metric_label l[] = {{"kind", lockout_names[i]}};
        vg_metrics_write_u64(out, "vmgate_lockouts_total", l, 1,
                             vg_counter_get(&vg_metrics.lockouts[i]));
    }
    vg_metrics_write_family(out, "vmgate_connections_refused_total", VG_METRIC_COUNTER,
                            "Connections refused before login by a connection cap, by front end "
                            "and cap.");
    for (unsigned p = 0; p < VG_METRIC_PROTO_N; p++)
        for (unsigned r = 0; r < VG_METRIC_REFUSED_N; r++) {
            vg_metric_label l[] = {{"front", proto_names[p]}, {"reason", refusal_names[r]}};
            vg_metrics_write_u64(out, "vmgate_connections_refused_total", l, 2,
                                 vg_counter_get(&vg_metrics.refused[p][r]));
        }
    vg_metrics_write_family(
        out, "vmgate_console_reconnects_total", VG_METRIC_COUNTER,
        "Consoles of running VMs opened again after their connection was lost.");
    vg_metrics_write_u64(out, "vmgate_console_reconnects_total", NULL, 0,
                         vg_counter_get(&vg_metrics.console_reconnects));
    vg_metrics_write_family(out, "vmgate_audit_write_failures_total", VG_METRIC_COUNTER,
                            "Audit records that could not be written.");
    vg_metrics_write_u64(out, "vmgate_audit_write_failures_total", NULL, 0,
                         vg_counter_get(&vg_metrics.audit_write_failures));
    vg_metrics_write_family(out, "vmgate_audit_store_dropped_total", VG_METRIC_COUNTER,
                            "Audit records left out of the shared store's copy (its queue was "
                            "full while the database was slow or unreachable); they are in the "
                            "audit file.");
    vg_metrics_write_u64(out, "vmgate_audit_store_dropped_total", NULL, 0,
                         vg_counter_get(&vg_metrics.audit_store_dropped));
}
