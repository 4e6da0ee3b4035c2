/*
 * vmgate — the web front end's checks of what a browser sends, kept apart
 * from the server so they can be fuzzed (tests/fuzz/fuzz_web_request.c):
 * the session cookie in a Cookie header, the shape of tokens (sessions,
 * CSRF, tickets), the Origin of a state-changing request, the paths of
 * noVNC's files, and the login and ticket forms.
 *
 * Threading: none; pure functions.
 */
#ifndef VG_WEB_CHECK_H
#define VG_WEB_CHECK_H

#include <stdbool.h>
#include <stddef.h>

/** Bytes of randomness in a token; it is written as twice as many lower-case hex digits. */
#define VG_WEB_TOKEN_BYTES 32
#define VG_WEB_TOKEN_LEN   (2 * VG_WEB_TOKEN_BYTES)
/** Longest Cookie header looked at. */
#define VG_WEB_COOKIE_MAX 8192

/** Whether @t is a token as vmgate makes them (VG_WEB_TOKEN_LEN lower-case hex digits). */
bool vg_web_token_ok(const char *t);

/**
 * The value of cookie @name in the Cookie header @header (libsoup's
 * parser), or NULL (no header, longer than VG_WEB_COOKIE_MAX, no such
 * cookie). g_free it.
 */
char *vg_web_cookie_value(const char *header, const char *name);

/** Whether @origin is "https://" followed by @host (the Host header), case aside. */
bool vg_web_same_origin(const char *origin, const char *host);

/**
 * Whether @rel (the path after /novnc/) names a file vmgate serves from
 * noVNC's package: under core/ or vendor/, ending in .js, letters, digits,
 * '_', '-', '.', '/' only, no "..", no "//".
 */
bool vg_web_novnc_path_ok(const char *rel);

/**
 * The fields of a urlencoded form body (libsoup's decoder) as the login and
 * ticket requests use them: @key's value, NULL when absent, not UTF-8 or
 * longer than @max bytes. The body copy made to decode it is wiped (a
 * login's holds a password). g_free the result (wipe a password first).
 */
char *vg_web_form_field(const char *body, size_t len, const char *key, size_t max);

#endif /* VG_WEB_CHECK_H */
