/*
 * vmgate — metrics: the primitives every layer bumps (counters, a
 * histogram with fixed buckets), the process's own counters, and the
 * Prometheus text exposition format (version 0.0.4) they are shown in.
 *
 * Two kinds of figures:
 *
 * - Counted where they happen: the members of `vg_metrics` below, bumped
 *   by vmm-bridge (capture), protocol (frames, bytes, encode time, refused
 *   connections) and server (logins, audit failures). They live here, in
 *   base/, so that the lower layers can count without depending on
 *   server/.
 * - Computed when scraped: what the daemon already knows (viewers from
 *   the session registry, lockouts from the rate limiter, the libvirt
 *   connection, capture frames from each VM's surface). server/metrics/
 *   does that; nothing is kept twice.
 *
 * Label sets are bounded by construction: every label of a counted family
 * is an index into a fixed table of names (protocol, codec, login result,
 * refusal reason). A family whose label comes from outside (a VM's name)
 * is computed at scrape time from a bounded registry.
 *
 * Cost on the hot paths (a frame, a piece of a frame): one relaxed atomic
 * add per counter, no lock, no allocation. A histogram observation is a
 * short scan of its bounds and two relaxed atomic adds.
 *
 * Threading: every function may be called from any thread. A scrape reads
 * each value atomically, but not all of them at one instant (a histogram's
 * sum may lag its count by an observation in flight); Prometheus expects
 * no more than that.
 *
 * A new front end (the web one, say) gets most of its figures for free:
 *
 * - logins: counted by the broker for every front end (vmgate_logins_total
 *   has no protocol label); do not count them again;
 * - viewers: vmgate_viewers{protocol="web"} comes from the session
 *   registry once it admits viewers through the gate with protocol "web";
 * - refusals by a cap: counted by base/net.h's acceptor when its tag is
 *   the front end's name ("web"); a front end with its own acceptor calls
 *   vg_metrics_refused(VG_METRIC_PROTO_WEB, VG_METRIC_REFUSED_...);
 * - frames and bytes: the front end counts what it sends, e.g. per RFB
 *   framebuffer update and per write to the WebSocket:
 *
 *       vg_metrics_frames(VG_METRIC_PROTO_WEB, VG_METRIC_CODEC_RFB, 1);
 *       vg_metrics_bytes(VG_METRIC_PROTO_WEB, VG_METRIC_CODEC_RFB, written);
 *
 *   (VNC counts its frames in protocol/vnc/vnc-screen.c's
 *   displayFinishedHook and its bytes in vnc-relay.c: a web viewer that
 *   reuses those for its RFB would be counted as "vnc" there unless they
 *   learn the viewer's protocol.)
 */
#ifndef VG_METRICS_H
#define VG_METRICS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <glib.h>

/* ---- primitives ------------------------------------------------------- */

/** A monotonic counter. Zero-initialised storage is a counter at 0. */
typedef struct vg_counter {
    _Atomic uint64_t v;
} vg_counter;

/** Add @n to @c. */
static inline void vg_counter_add(vg_counter *c, uint64_t n)
{
    atomic_fetch_add_explicit(&c->v, n, memory_order_relaxed);
}

/** The value of @c. */
static inline uint64_t vg_counter_get(const vg_counter *c)
{
    return atomic_load_explicit(&((vg_counter *)c)->v, memory_order_relaxed);
}

/** Most upper bounds a histogram may have (the +Inf bucket comes on top). */
#define VG_HISTOGRAM_MAX_BOUNDS 16

/**
 * A histogram of durations with fixed buckets. @bounds are the buckets'
 * upper bounds in seconds, strictly ascending, static (not copied). Each
 * observation lands in one bucket; the renderer makes them cumulative.
 */
typedef struct vg_histogram {
    const double *bounds;
    unsigned n_bounds;                                   /**< ≤ VG_HISTOGRAM_MAX_BOUNDS */
    uint64_t bound_ns[VG_HISTOGRAM_MAX_BOUNDS];          /**< bounds in ns, for the hot path */
    _Atomic uint64_t count[VG_HISTOGRAM_MAX_BOUNDS + 1]; /**< per bucket, last is +Inf */
    _Atomic uint64_t sum_ns;
} vg_histogram;

/**
 * Set up @h with @n_bounds upper bounds (seconds, strictly ascending, at
 * most VG_HISTOGRAM_MAX_BOUNDS; @bounds must outlive @h). All counts zero.
 * @return 0, or -EINVAL for bounds that break those rules.
 */
int vg_histogram_init(vg_histogram *h, const double *bounds, unsigned n_bounds);

/** Record one observation of @ns nanoseconds. */
void vg_histogram_observe_ns(vg_histogram *h, uint64_t ns);

/** Observations so far (all buckets). */
uint64_t vg_histogram_count(const vg_histogram *h);

/* ---- the process's counters --------------------------------------------- */

/** The front ends, as label protocol="…" (and front="…" for refusals). */
typedef enum vg_metric_proto {
    VG_METRIC_PROTO_VNC,
    VG_METRIC_PROTO_RDP,
    VG_METRIC_PROTO_WEB,
    VG_METRIC_PROTO_N
} vg_metric_proto;

/** How frames were coded, as label codec="…". */
typedef enum vg_metric_codec {
    VG_METRIC_CODEC_RFB,    /**< VNC (and the browser's noVNC): the encoding libvncserver chose */
    VG_METRIC_CODEC_PLANAR, /**< RDP planar (lossless RLE), graphics pipeline or bitmaps */
    VG_METRIC_CODEC_UNCOMPRESSED, /**< RDP raw 32 bpp pixels */
    VG_METRIC_CODEC_AVC420,       /**< RDP H.264 (AVC420) */
    VG_METRIC_CODEC_MOVE, /**< RDP graphics pipeline: the client moved a band of its screen */
    VG_METRIC_CODEC_N
} vg_metric_codec;

/** What an encoder timed, as label codec="…" of the encode histogram. */
typedef enum vg_metric_encoder {
    VG_METRIC_ENCODER_PLANAR, /**< a frame's lossless pieces (planar or uncompressed) */
    VG_METRIC_ENCODER_AVC420, /**< a frame through the H.264 encoder */
    VG_METRIC_ENCODER_N
} vg_metric_encoder;

/** Login outcomes, as label result="…". One per login attempt. */
typedef enum vg_metric_login {
    VG_METRIC_LOGIN_OK,              /**< logged in and given a VM */
    VG_METRIC_LOGIN_BAD_CREDENTIALS, /**< unknown user, wrong password, malformed login */
    VG_METRIC_LOGIN_THROTTLED,       /**< the user or the address is locked out */
    VG_METRIC_LOGIN_DISABLED,        /**< right password, disabled account */
    VG_METRIC_LOGIN_REFUSED,         /**< authenticated, but no VM for this login */
    VG_METRIC_LOGIN_UNAVAILABLE,     /**< the VM could not be started or showed no screen */
    VG_METRIC_LOGIN_ERROR,           /**< the store or the hypervisor failed */
    VG_METRIC_LOGIN_REDIRECTED,      /**< authenticated, sent to the instance that holds the VM */
    VG_METRIC_LOGIN_N
} vg_metric_login;

/** Why a connection was refused before its login, as label reason="…". */
typedef enum vg_metric_refusal {
    VG_METRIC_REFUSED_FULL,       /**< the cap on all connections (or descriptors) */
    VG_METRIC_REFUSED_LOGGING_IN, /**< the cap on connections not yet logged in */
    VG_METRIC_REFUSED_PER_SOURCE, /**< the cap per source address */
    VG_METRIC_REFUSED_N
} vg_metric_refusal;

/** Lockouts the rate limiter started, as label kind="…". */
typedef enum vg_metric_lockout {
    VG_METRIC_LOCKOUT_USER,
    VG_METRIC_LOCKOUT_ADDRESS,
    VG_METRIC_LOCKOUT_N
} vg_metric_lockout;

/** The counters of the process (one instance, `vg_metrics`). */
typedef struct vg_metrics_set {
    vg_counter frames[VG_METRIC_PROTO_N][VG_METRIC_CODEC_N];
    vg_counter bytes[VG_METRIC_PROTO_N][VG_METRIC_CODEC_N];
    vg_histogram encode[VG_METRIC_ENCODER_N];
    vg_counter logins[VG_METRIC_LOGIN_N];
    vg_counter lockouts[VG_METRIC_LOCKOUT_N];
    vg_counter refused[VG_METRIC_PROTO_N][VG_METRIC_REFUSED_N];
    vg_counter console_reconnects; /**< a running VM's console opened again after it was lost */
    vg_counter audit_write_failures;
    vg_counter audit_store_dropped; /**< audit records the shared store's copy lost (queue full) */
} vg_metrics_set;

/** The process's counters. Bump them through the helpers below. */
extern vg_metrics_set vg_metrics;

/** "vnc", "rdp", "web"; "?" out of range. */
const char *vg_metric_proto_name(vg_metric_proto p);
/** The protocol named @name ("vnc", "rdp", "web"). @return it, or -1. */
int vg_metric_proto_parse(const char *name);
/** "rfb", "planar", "uncompressed", "avc420"; "?" out of range. */
const char *vg_metric_codec_name(vg_metric_codec c);
/** "planar", "avc420"; "?" out of range. */
const char *vg_metric_encoder_name(vg_metric_encoder e);
/** "ok", "bad_credentials", "throttled", "disabled", "refused", "unavailable", "error",
 * "redirected". */
const char *vg_metric_login_name(vg_metric_login l);
/** "full", "logging_in", "per_source"; "?" out of range. */
const char *vg_metric_refusal_name(vg_metric_refusal r);
/** "user", "address"; "?" out of range. */
const char *vg_metric_lockout_name(vg_metric_lockout k);

/** @p sent @n frames coded with @c (a frame of mixed codecs counts under its main one). */
static inline void vg_metrics_frames(vg_metric_proto p, vg_metric_codec c, uint64_t n)
{
    vg_counter_add(&vg_metrics.frames[p][c], n);
}

/** @p sent @n bytes of picture coded with @c (VNC: RFB bytes handed to the viewer's TLS
 * session; RDP: encoded data without PDU or TLS framing). */
static inline void vg_metrics_bytes(vg_metric_proto p, vg_metric_codec c, uint64_t n)
{
    vg_counter_add(&vg_metrics.bytes[p][c], n);
}

/** Encoder @e took @ns nanoseconds for one frame. */
static inline void vg_metrics_encode_ns(vg_metric_encoder e, uint64_t ns)
{
    vg_histogram_observe_ns(&vg_metrics.encode[e], ns);
}

/** One login attempt ended with @l. */
static inline void vg_metrics_login(vg_metric_login l)
{
    vg_counter_add(&vg_metrics.logins[l], 1);
}

/** The front end @p refused a connection over its cap @r. */
static inline void vg_metrics_refused(vg_metric_proto p, vg_metric_refusal r)
{
    vg_counter_add(&vg_metrics.refused[p][r], 1);
}

/** The rate limiter locked a user or an address out. */
static inline void vg_metrics_lockout(vg_metric_lockout k)
{
    vg_counter_add(&vg_metrics.lockouts[k], 1);
}

/** Set every counter of `vg_metrics` to zero (for tests; not while others count). */
void vg_metrics_reset(void);

/* ---- the text exposition format ------------------------------------------ */

/** Family types of the text format. */
typedef enum vg_metric_type {
    VG_METRIC_COUNTER,
    VG_METRIC_GAUGE,
    VG_METRIC_HISTOGRAM,
} vg_metric_type;

/** One label of a sample: @name must be a valid label name; @value is any UTF-8 text. */
typedef struct vg_metric_label {
    const char *name;
    const char *value;
} vg_metric_label;

/**
 * Append the "# HELP" and "# TYPE" lines of family @name (a valid metric
 * name; for a counter, the name with its "_total") to @out. @help is
 * escaped as the format wants (backslash, line feed).
 */
void vg_metrics_write_family(GString *out, const char *name, vg_metric_type type, const char *help);

/**
 * Append one sample line: @name{labels} @value. Label values are escaped
 * (backslash, double quote, line feed); bytes that are not UTF-8 become
 * U+FFFD so that the output stays valid UTF-8.
 */
void vg_metrics_write_u64(GString *out, const char *name, const vg_metric_label *labels,
                          size_t n_labels, uint64_t value);

/** As vg_metrics_write_u64 with a floating-point value ("+Inf", "NaN" spelled as the format wants).
 */
void vg_metrics_write_double(GString *out, const char *name, const vg_metric_label *labels,
                             size_t n_labels, double value);

/**
 * Append the samples of histogram @h as family @name: @name_bucket with
 * le="…" for each bound and "+Inf" (cumulative), @name_sum in seconds and
 * @name_count (equal to the +Inf bucket). @labels come before le.
 */
void vg_metrics_write_histogram(GString *out, const char *name, const vg_metric_label *labels,
                                size_t n_labels, const vg_histogram *h);

/**
 * Append every family of `vg_metrics` (frames, bytes, encode time, logins,
 * lockouts, refused connections, console reconnects, audit write
 * failures), with HELP and TYPE, every label combination present (zero
 * until counted), so that rate() works from the first scrape.
 */
void vg_metrics_write_counters(GString *out);

#endif /* VG_METRICS_H */
