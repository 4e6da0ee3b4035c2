/*
 * Fuzz target: what a browser's request carries that the web front end
 * checks itself (protocol/web/web-check.c): the session cookie in a Cookie
 * header, token shapes (sessions, CSRF, console tickets), the Origin of a
 * POST against the Host, the path of a noVNC file, and the login and ticket
 * forms. The input is split at its first three NUL bytes into a Cookie
 * header, an Origin, a Host and the rest, used as a noVNC path and as a
 * form body. Each check also holds to what it promises.
 */
#include <string.h>

#include <glib.h>

#include "fuzz.h"
#include "web-check.h"

static const char *next_part(const uint8_t **data, size_t *size, char **keep)
{
    const uint8_t *end = memchr(*data, 0, *size);
    size_t n = end ? (size_t)(end - *data) : *size;
    *keep = g_strndup((const char *)*data, n);
    *data += end ? n + 1 : n;
    *size -= end ? n + 1 : n;
    return *keep;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    g_autofree char *cookie = NULL, *origin = NULL, *host = NULL, *rest = NULL;
    g_autofree char *value = NULL, *user = NULL, *password = NULL, *vm = NULL;

    next_part(&data, &size, &cookie);
    next_part(&data, &size, &origin);
    next_part(&data, &size, &host);
    rest = g_strndup((const char *)data, size);

    /* A session cookie, if any, is looked at only in its token shape. */
    value = vg_web_cookie_value(cookie, "__Host-vmgate");
    if (value && strlen(cookie) > VG_WEB_COOKIE_MAX)
        __builtin_trap();
    if (value && vg_web_token_ok(value)) {
        if (strlen(value) != VG_WEB_TOKEN_LEN)
            __builtin_trap();
        for (const char *p = value; *p; p++)
            if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
                __builtin_trap();
    }
    if (vg_web_token_ok(rest) && strlen(rest) != VG_WEB_TOKEN_LEN)
        __builtin_trap();

    /* A same origin is exactly https:// and the host. */
    if (vg_web_same_origin(origin, host) &&
        (strlen(origin) != strlen("https://") + strlen(host) || !*host))
        __builtin_trap();

    /* A noVNC path never leaves core/ or vendor/. */
    if (vg_web_novnc_path_ok(rest) &&
        (strstr(rest, "..") || rest[0] == '/' || !g_str_has_suffix(rest, ".js") ||
         !(g_str_has_prefix(rest, "core/") || g_str_has_prefix(rest, "vendor/"))))
        __builtin_trap();

    /* Form fields are bounded UTF-8. */
    user = vg_web_form_field((const char *)data, size, "user", 64);
    password = vg_web_form_field((const char *)data, size, "password", 1024);
    vm = vg_web_form_field((const char *)data, size, "vm", 255);
    if (user && (strlen(user) > 64 || !g_utf8_validate(user, -1, NULL)))
        __builtin_trap();
    if (password && strlen(password) > 1024)
        __builtin_trap();
    if (vm && (strlen(vm) > 255 || !g_utf8_validate(vm, -1, NULL)))
        __builtin_trap();
    return 0;
}
