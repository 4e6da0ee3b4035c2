/*
 * vmgate — the web front end's checks of what a browser sends. See
 * web-check.h.
 */
#include "web-check.h"

#include <string.h>

#include <glib.h>
#include <libsoup/soup.h>
#include <openssl/crypto.h>

bool vg_web_token_ok(const char *t)
{
    if (!t || strlen(t) != VG_WEB_TOKEN_LEN)
        return false;
    for (const char *p = t; *p; p++)
        if (!g_ascii_isxdigit(*p) || g_ascii_isupper(*p))
            return false;
    return true;
}

char *vg_web_cookie_value(const char *header, const char *name)
{
    GHashTable *params;
    char *value;

    if (!header || !name || strlen(header) > VG_WEB_COOKIE_MAX)
        return NULL;
    params = soup_header_parse_semi_param_list(header);
    value = g_strdup(g_hash_table_lookup(params, name));
    soup_header_free_param_list(params);
    return value;
}

bool vg_web_same_origin(const char *origin, const char *host)
{
    static const char scheme[] = "https://";

    if (!origin || !host || !*host || strlen(host) > 300)
        return false;
    return g_ascii_strncasecmp(origin, scheme, sizeof(scheme) - 1) == 0 &&
           g_ascii_strcasecmp(origin + sizeof(scheme) - 1, host) == 0;
}

bool vg_web_novnc_path_ok(const char *rel)
{
    static const char allowed[] =
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./";

    return rel && (g_str_has_prefix(rel, "core/") || g_str_has_prefix(rel, "vendor/")) &&
           g_str_has_suffix(rel, ".js") && !strstr(rel, "..") && !strstr(rel, "//") &&
           strspn(rel, allowed) == strlen(rel);
}

char *vg_web_form_field(const char *body, size_t len, const char *key, size_t max)
{
    char *text = g_strndup(body ? body : "", body ? len : 0);
    GHashTable *form = soup_form_decode(text);
    const char *v = form ? g_hash_table_lookup(form, key) : NULL;
    char *out = NULL;

    if (v && strlen(v) <= max && g_utf8_validate(v, -1, NULL))
        out = g_strdup(v);
    /* The decoded values may hold a password too. */
    if (form) {
        GHashTableIter it;
        gpointer val;
        g_hash_table_iter_init(&it, form);
        while (g_hash_table_iter_next(&it, NULL, &val))
            OPENSSL_cleanse(val, strlen(val));
        g_hash_table_unref(form);
    }
    OPENSSL_cleanse(text, body ? len : 0);
    g_free(text);
    return out;
}
