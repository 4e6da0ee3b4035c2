/*
 * vmgate-shot — running a script's steps over one connection, and their
 * results.
 *
 * Steps run in order on the caller's thread against a display source
 * (libvirt console, VNC or RDP client: each has a screen, keys and a
 * pointer). The first step that fails ends the run; the steps after it are
 * reported as skipped. A failing check keeps the screen it last looked at
 * (and, for a needle, a diff image) in the artifacts directory.
 *
 * Threading: one thread runs a script; the source's own thread fills its
 * surface meanwhile.
 */
#ifndef VG_SHOT_RUN_H
#define VG_SHOT_RUN_H

#include <stdbool.h>

#include <glib.h>

#include "display.h"
#include "shot-ocr.h"
#include "shot-script.h"

typedef enum shot_status {
    SHOT_PASSED,
    SHOT_FAILED,
    SHOT_SKIPPED,
} shot_status;

/** The result of one step (or of the connection, when step is NULL). */
typedef struct shot_result {
    const shot_step *step; /**< NULL: the connection itself */
    int index;             /**< 1-based step number; 0 for the connection */
    shot_status status;
    double seconds;
    char *message;     /**< why it failed, or what it found */
    double similarity; /**< a needle step's best similarity, percent; < 0: none */
    char *screen;      /**< the failing screen's PNG, or NULL */
    char *diff;        /**< the needle diff image, or NULL */
    char *text;        /**< wait-text: what was last read */
} shot_result;

typedef struct shot_run_options {
    int key_delay_ms;
    const char *artifacts_dir;    /**< where failing screens go; NULL: nowhere */
    const char *artifacts_prefix; /**< file name prefix there */
    shot_ocr *ocr;                /**< for wait-text; the caller owns it */
} shot_run_options;

/** A new array of results (shot_result *, freed with it). */
GPtrArray *shot_results_new(void);

/** Append a result for the connection: it failed with @message. */
void shot_results_add_connection_failure(GPtrArray *results, const shot_script *script,
                                         const char *message);

/**
 * Run every step of @script on @src, appending one result per step.
 * Messages of failures are also printed on stderr.
 * @return an exit code: SHOT_EXIT_OK, _TIMEOUT (a step failed or timed
 *         out), _CONNECT (connection lost), _OUTPUT (a screenshot could not
 *         be written).
 */
int shot_run_script(vg_display_source *src, const shot_script *script, const shot_run_options *opt,
                    GPtrArray *results);

#endif /* VG_SHOT_RUN_H */
