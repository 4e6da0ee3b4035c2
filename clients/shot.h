/*
 * vmgate-shot — shared definitions of the headless client's modes.
 *
 * Each mode connects its own way and hands a display source to
 * shot_finish(), the tail they share: wait for a complete screen, then run
 * the script's steps (shot-run.h).
 */
#ifndef VG_SHOT_H
#define VG_SHOT_H

#include <stdbool.h>
#include <stdint.h>

#include <glib.h>

#include "display.h"

/* Exit codes (documented in --help and README). */
#define SHOT_EXIT_OK      0
#define SHOT_EXIT_TIMEOUT 1
#define SHOT_EXIT_USAGE   2
#define SHOT_EXIT_AUTH    3
#define SHOT_EXIT_CONNECT 4
#define SHOT_EXIT_OUTPUT  5

typedef struct shot_script shot_script;
typedef struct shot_ocr shot_ocr;

typedef struct shot_options {
    shot_script *script;          /* the steps to run over the connection */
    shot_ocr *ocr;                /* for wait-text steps; NULL when the script has none */
    GPtrArray *results;           /* receives a shot_result per step (shot-run.h) */
    const char *artifacts_dir;    /* where failing screens go; NULL: nowhere */
    const char *artifacts_prefix; /* file name prefix there */
    int timeout_s;
    int key_delay_ms;
    int64_t deadline_us; /* for connecting and the first screen */
    char *failure;       /* optional: receives why connecting failed, for the reports */
    size_t failure_len;
} shot_options;

/** What the VNC mode needs besides the common options; the caller owns all of it. */
typedef struct shot_vnc_params {
    const char *host;     /**< name or address, IPv6 without brackets */
    const char *port;     /**< decimal, 1..65535 */
    const char *user;     /**< VeNCrypt Plain user name */
    const char *password; /**< never logged; the caller wipes it */
    const char *ca_file;  /**< PEM trust anchors; NULL: the system's */
    bool insecure;        /**< accept any server certificate */
    char *why;            /**< optional: receives why connecting failed */
    size_t why_len;
} shot_vnc_params;

/** What the RDP mode needs besides the common options; the caller owns all of it. */
typedef struct shot_rdp_params {
    const char *host;     /**< name or address, IPv6 without brackets */
    const char *port;     /**< decimal, 1..65535 */
    const char *user;     /**< RDP user name */
    const char *password; /**< never logged; the caller wipes it */
    const char *vm;       /**< VM id sent as the preconnection blob; NULL: none */
    const char *ca_file;  /**< PEM trust anchors; NULL: the system's */
    bool insecure;        /**< accept any server certificate */
} shot_rdp_params;

/**
 * The shared tail of every mode: wait for a complete screen, then run
 * opt->script, one result per step into opt->results. Errors are printed on
 * stderr.
 * @param src  a connected display source; its surface is the screen
 * @return an exit code: SHOT_EXIT_OK, _TIMEOUT (no first screen, or a step
 *         failed), _CONNECT (connection lost) or _OUTPUT.
 */
int shot_finish(vg_display_source *src, const shot_options *opt);

/**
 * Say why something failed: "vmgate-shot: MESSAGE" on stderr, and the
 * message into @buf (when not NULL) for the reports.
 */
void shot_fail(char *buf, size_t len, const char *fmt, ...) G_GNUC_PRINTF(3, 4);

/** Run the libvirt mode. Returns an exit code. */
int shot_run_libvirt(const char *uri, const char *domain, const shot_options *opt);

/**
 * Split "HOST:PORT" or "[IPV6]:PORT" into its parts (g_malloc'ed, the
 * caller frees them).
 * @return 0, or -EINVAL with nothing allocated when the text is not of
 *         that form or the port is not in 1..65535.
 */
int shot_parse_host_port(const char *text, char **host, char **port);

/**
 * Run the VNC mode: VeNCrypt X509Plain to a vmgate VNC front end (or any
 * VNC server offering it). Prints errors on stderr, never the password.
 * @return an exit code (SHOT_EXIT_*).
 */
int shot_run_vnc(const shot_vnc_params *params, const shot_options *opt);

/**
 * The VNC mode's connection alone: connect, TLS, log in, ask for the first
 * update. Prints errors on stderr, never the password.
 * @param p         kept by the source: must outlive it
 * @param out       receives the display source on success (its surface is
 *                  the screen); end it with shot_vnc_disconnect()
 * @return SHOT_EXIT_OK or another exit code (SHOT_EXIT_*)
 */
int shot_vnc_connect(const shot_vnc_params *p, int64_t deadline_us, int timeout_s,
                     vg_display_source **out);

/** Disconnect and free a source from shot_vnc_connect(). */
void shot_vnc_disconnect(vg_display_source *src);

/**
 * Run the RDP mode: NLA or TLS (never standard RDP security) to a vmgate RDP
 * front end (or any RDP server), asking for lossless codecs only (a lossy one
 * the server sends anyway is reported as a warning). Prints errors on stderr,
 * never the password.
 * @return an exit code (SHOT_EXIT_*).
 */
int shot_run_rdp(const shot_rdp_params *params, const shot_options *opt);

#endif /* VG_SHOT_H */
