/*
 * vmgate-shot — scripts: the steps of one session, parsed and checked
 * before anything connects.
 *
 * A script is text, one step a line; words are split as a POSIX shell
 * splits them (quotes group, backslashes escape; no variables), "#" starts
 * a comment. Every step is checked when the script is read: unknown steps,
 * bad arguments, needles that cannot be loaded, text the keyboard layout
 * cannot type; each error names the file and line. Text is turned into key
 * events here, with the layout in force at that line (--layout, then each
 * "layout" step), so nothing is left to fail on the way.
 *
 * Threading: a script is built and read by one thread.
 */
#ifndef VG_SHOT_SCRIPT_H
#define VG_SHOT_SCRIPT_H

#include <stdbool.h>
#include <stdint.h>

#include <glib.h>

#include "shot-image.h"
#include "shot-layout.h"
#include "shot-needle.h"

typedef enum shot_step_kind {
    SHOT_STEP_TYPE,
    SHOT_STEP_KEY,
    SHOT_STEP_MOVE,
    SHOT_STEP_CLICK,
    SHOT_STEP_DOUBLE_CLICK,
    SHOT_STEP_DRAG,
    SHOT_STEP_SCROLL,
    SHOT_STEP_WAIT_STILL,
    SHOT_STEP_WAIT_SCREEN,
    SHOT_STEP_WAIT_GONE,
    SHOT_STEP_CLICK_NEEDLE,
    SHOT_STEP_ASSERT_SCREEN,
    SHOT_STEP_WAIT_TEXT,
    SHOT_STEP_SCREENSHOT,
    SHOT_STEP_SLEEP,
    SHOT_STEP_LAYOUT,
} shot_step_kind;

/** One step. Fields a kind does not use are zero. */
typedef struct shot_step {
    shot_step_kind kind;
    const char *name; /**< the step's word ("wait-screen"); static */
    char *file;       /**< where it was written, for messages */
    int line;
    char *source;     /**< the line as written, without comment and outer blanks */
    bool expect_fail; /**< passes when the check fails (expect-fail) */
    char *text;       /**< wait-text: the text; screenshot: the file; layout: the name */
    GArray *keys;     /**< type, key: shot_key_event in order */
    int x, y, x2, y2; /**< pointer positions */
    bool has_pos;     /**< click, double-click, scroll: x, y given */
    uint32_t button;  /**< VG_BUTTON_* */
    int count;        /**< scroll: steps, positive down */
    int ms;           /**< wait-still, sleep */
    int timeout_s;    /**< waiting steps */
    shot_rect area;   /**< wait-text */
    bool has_area;
    shot_needle *needle; /**< owned by the script */
} shot_step;

typedef struct shot_script {
    char *name;       /**< the file, "-" for standard input, or "command line" */
    GPtrArray *steps; /**< shot_step * */
    bool needs_ocr;   /**< some step reads text */
    /* Parsing state. */
    shot_layout *layout;
    GPtrArray *layouts;  /**< every layout used, freed with the script */
    GHashTable *needles; /**< path → shot_needle *, each loaded once */
    char *needle_dir;
    int default_timeout_s;
} shot_script;

/**
 * A new, empty script.
 * @param layout            the layout in force at the start ("us" if NULL)
 * @param needle_dir        where relative needle names are looked up (NULL:
 *                          the current directory)
 * @param default_timeout_s a waiting step's timeout when it names none
 * @param why               receives a sentence when the layout is unknown
 * @return the script, or NULL when @layout cannot be compiled.
 */
shot_script *shot_script_new(const char *name, const char *layout, const char *needle_dir,
                             int default_timeout_s, char *why, size_t why_len);

void shot_script_free(shot_script *s);

/**
 * Parse one step from words (as split from a line) and append it.
 * @return 0, or -EINVAL with @why set (without file and line).
 */
int shot_script_add_argv(shot_script *s, const char *file, int line, const char *source, int argc,
                         char **argv, char *why, size_t why_len);

/**
 * Parse script text and append its steps. Errors are appended to @errors,
 * one line each, as "FILE:LINE: message"; parsing goes on after an error
 * so that every bad line is reported (at most 20).
 * @return the number of errors (0: all steps appended).
 */
int shot_script_add_text(shot_script *s, const char *file, const char *text, GString *errors);

#endif /* VG_SHOT_SCRIPT_H */
