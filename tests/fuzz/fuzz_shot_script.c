/*
 * Fuzz target: vmgate-shot's script parser (shell-word lexing, every step's
 * arguments, key combos, text on a keyboard layout). Scripts come from CI
 * repositories, needles from elsewhere (openQA): neither may crash it.
 */
#include <string.h>

#include <glib.h>

#include "fuzz.h"
#include "shot-script.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    g_autofree char *text = g_strndup((const char *)data, size);
    g_autoptr(GString) errors = g_string_new(NULL);
    char why[256];
    /* No needle can be found here: those steps fail as they should. */
    shot_script *s =
        shot_script_new("fuzz", "us", "/nonexistent/vmgate-fuzz", 30, why, sizeof(why));
    int n;

    if (!s)
        __builtin_trap();
    n = shot_script_add_text(s, "fuzz", text, errors);
    /* Errors are reported exactly when there are some, one line each. */
    if (n < 0 || (n == 0) != (errors->len == 0))
        __builtin_trap();
    for (guint i = 0; i < s->steps->len; i++) {
        const shot_step *st = s->steps->pdata[i];
        if (!st->name || st->line < 1 || st->needle)
            __builtin_trap();
        if ((st->kind == SHOT_STEP_TYPE || st->kind == SHOT_STEP_KEY) && !st->keys)
            __builtin_trap();
    }
    shot_script_free(s);
    return 0;
}
