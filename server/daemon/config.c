/*
 * vmgate — vmgated's configuration file (see config.h).
 *
 * One table lists every key with its kind, range and default; defaults go
 * through the same parser as the file's values, so they cannot drift out
 * of the checked ranges. GKeyFile reads the file but reports no line
 * numbers, so the file is also scanned here for where each group and key
 * is, and for lines GKeyFile would reject.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include <glib.h>

#include "log.h"
#include "vm-filter.h"

typedef enum kind {
    K_URI,          /* a libvirt URI */
    K_VM_FILTER,    /* VM name patterns (vm-filter.h) */
    K_ADDRESS,      /* an IPv4 or IPv6 address */
    K_UINT,         /* an integer in min..max */
    K_BOOL,         /* true or false */
    K_PATH,         /* an absolute path */
    K_NAME,         /* a group or service name */
    K_LOG_LEVEL,    /* error, warning, notice, info, debug */
    K_SECOND_LOGIN, /* takeover or join */
    K_BACKEND,      /* sqlite or postgresql */
    K_DSN,          /* a libpq connection string (checked by libpq when the store opens) */
    K_OPT_PATH,     /* an absolute path, or empty for none */
    K_INSTANCE,     /* an instance name (vg_name_valid), or empty for the host name */
    K_HOST,         /* a host name or IP address, or empty for the host name */
    K_H264_PRESET,  /* one of libx264's presets (h264_presets) */
} kind;

typedef struct key_spec {
    const char *group;
    const char *key;
    kind kind;
    size_t offset;
    const char *def;
    unsigned min, max;
} key_spec;

#define F(field) offsetof(vg_config, field)

static const key_spec specs[] = {
    {"instance", "name", K_INSTANCE, F(instance_name), "", 0, 0},
    {"instance", "address", K_HOST, F(instance_address), "", 0, 0},
    {"instance", "ca", K_OPT_PATH, F(instance_ca), "", 0, 0},
    {"libvirt", "uri", K_URI, F(libvirt_uri), "qemu:///system", 0, 0},
    {"libvirt", "vms", K_VM_FILTER, F(libvirt_vms), "*", 0, 0},
    {"vnc", "listen", K_ADDRESS, F(vnc_listen), "0.0.0.0", 0, 0},
    {"vnc", "port", K_UINT, F(vnc_port), "5900", 1, 65535},
    {"vnc", "allow_insecure_loopback", K_BOOL, F(vnc_allow_insecure_loopback), "false", 0, 0},
    {"rdp", "listen", K_ADDRESS, F(rdp_listen), "0.0.0.0", 0, 0},
    {"rdp", "port", K_UINT, F(rdp_port), "3389", 1, 65535},
    {"rdp", "nla", K_BOOL, F(rdp_nla), "true", 0, 0},
    {"rdp", "lossless", K_BOOL, F(rdp_lossless), "false", 0, 0},
    {"rdp", "h264_preset", K_H264_PRESET, F(rdp_h264_preset), "ultrafast", 0, 0},
    {"web", "enabled", K_BOOL, F(web_enabled), "true", 0, 0},
    {"web", "listen", K_ADDRESS, F(web_listen), "0.0.0.0", 0, 0},
    {"web", "port", K_UINT, F(web_port), "8443", 1, 65535},
    {"web", "novnc_dir", K_PATH, F(web_novnc_dir), "/usr/share/novnc", 0, 0},
    {"web", "session_lifetime", K_UINT, F(web_session_lifetime), "28800", 60, 604800},
    {"web", "session_idle", K_UINT, F(web_session_idle), "1800", 60, 86400},
    {"metrics", "enabled", K_BOOL, F(metrics_enabled), "false", 0, 0},
    {"metrics", "listen", K_ADDRESS, F(metrics_listen), "127.0.0.1", 0, 0},
    {"metrics", "port", K_UINT, F(metrics_port), "9750", 1, 65535},
    {"tls", "certificate", K_PATH, F(tls_certificate), "/etc/vmgate/server.crt", 0, 0},
    {"tls", "key", K_PATH, F(tls_key), "/etc/vmgate/server.key", 0, 0},
    {"daemon", "state_dir", K_PATH, F(state_dir), "/var/lib/vmgate", 0, 0},
    {"daemon", "admin_socket", K_PATH, F(admin_socket), "/run/vmgate/admin.sock", 0, 0},
    {"daemon", "admin_group", K_NAME, F(admin_group), "vmgate-admin", 0, 0},
    {"daemon", "admin_readonly_group", K_NAME, F(admin_readonly_group), "vmgate-readonly", 0, 0},
    {"daemon", "admin_idle_timeout", K_UINT, F(admin_idle_timeout), "300", 10, 86400},
    {"daemon", "audit_log", K_PATH, F(audit_log), "/var/log/vmgate/audit.log", 0, 0},
    {"daemon", "log_level", K_LOG_LEVEL, F(log_level), "notice", 0, 0},
    {"daemon", "audit_fail_open", K_BOOL, F(audit_fail_open), "false", 0, 0},
    {"store", "backend", K_BACKEND, F(store_backend), "sqlite", 0, 0},
    {"store", "dsn", K_DSN, F(store_dsn), "dbname=vmgate", 0, 0},
    {"store", "password_file", K_OPT_PATH, F(store_password_file), "", 0, 0},
    {"limits", "logins_per_address", K_UINT, F(logins_per_address), "4", 1, 1000},
    {"limits", "login_timeout", K_UINT, F(login_timeout), "10", 1, 600},
    {"limits", "stalled_viewer_timeout", K_UINT, F(stalled_viewer_timeout), "30", 1, 3600},
    {"limits", "max_screen_width", K_UINT, F(max_screen_width), "8192", 64, 16384},
    {"limits", "max_screen_height", K_UINT, F(max_screen_height), "8192", 64, 16384},
    {"auth", "pam", K_BOOL, F(pam), "false", 0, 0},
    {"auth", "pam_service", K_NAME, F(pam_service), "vmgate", 0, 0},
    {"auth", "max_failures", K_UINT, F(max_failures), "5", 1, 1000},
    {"auth", "failure_window", K_UINT, F(failure_window), "300", 1, 86400},
    {"auth", "lockout", K_UINT, F(lockout), "300", 1, 86400},
    {"policy", "power_on_demand", K_BOOL, F(power_on_demand), "true", 0, 0},
    {"policy", "second_login", K_SECOND_LOGIN, F(second_login), "takeover", 0, 0},
};

#define N_SPECS (sizeof(specs) / sizeof(specs[0]))

/* libx264's presets, fastest first: the RDP front end's H.264 encoder
 * (protocol/rdp/rdp-h264.c) hands the value to libx264 as it is. */
static const char *const h264_presets[] = {"ultrafast", "superfast", "veryfast", "faster", "fast",
                                           "medium",    "slow",      "slower",   "veryslow", NULL};

/* What clients may be told to connect to: a DNS name or an IPv4 or IPv6 address. */
static bool host_valid(const char *value)
{
    unsigned char addr[16];
    size_t len = strlen(value);

    if (inet_pton(AF_INET, value, addr) == 1 || inet_pton(AF_INET6, value, addr) == 1)
        return true;
    if (len == 0 || len > 253 || value[0] == '-' || value[0] == '.')
        return false;
    for (const char *p = value; *p; p++) {
        if (!g_ascii_isalnum(*p) && *p != '-' && *p != '.')
            return false;
    }
    return true;
}

/*
 * [instance] name and address left empty are this host's name. A host name
 * that is not a valid instance name is an error: a name the operator did
 * not choose must not be made up or cut.
 */
static void fill_instance(vg_config *cfg, const char *path, GString *errors)
{
    const char *host = g_get_host_name();

    if (!*cfg->instance_name) {
        if (vg_name_valid(host)) {
            g_free(cfg->instance_name);
            cfg->instance_name = g_strdup(host);
        } else {
            g_autofree char *shown = g_strescape(host, NULL);
            g_string_append_printf(errors,
                                   "%s: [instance] name: the host name \"%s\" is not a valid "
                                   "instance name (1..64 letters, digits, '.', '_', '@' or '-'); "
                                   "set [instance] name\n",
                                   path, shown);
        }
    }
    if (!*cfg->instance_address) {
        if (host_valid(host)) {
            g_free(cfg->instance_address);
            cfg->instance_address = g_strdup(host);
        } else {
            g_autofree char *shown = g_strescape(host, NULL);
            g_string_append_printf(errors,
                                   "%s: [instance] address: the host name \"%s\" is not a host "
                                   "name clients can use; set [instance] address\n",
                                   path, shown);
        }
    }
}

static void *field(vg_config *cfg, const key_spec *k)
{
    return (char *)cfg + k->offset;
}

/*
 * Parse @value for @k into @cfg.
 * @return NULL, or what was expected (g_free it) for the error message.
 */
static char *parse_value(vg_config *cfg, const key_spec *k, const char *value)
{
    unsigned char addr[16];
    guint64 n;
    int level;
    vg_second_login mode;
    vg_store_backend backend;

    switch (k->kind) {
    case K_URI:
        /* libvirt parses it; catch the obvious slips (empty, a bare name). */
        if (!*value || !strchr(value, ':') || strpbrk(value, " \t"))
            return g_strdup("expected a libvirt URI such as qemu:///system");
        break;
    case K_VM_FILTER: {
        vg_vm_filter *filter = NULL;
        char *err = NULL;
        if (vg_vm_filter_parse(value, &filter, &err) < 0)
            return err;
        vg_vm_filter_free(filter);
        break;
    }
    case K_ADDRESS:
        if (inet_pton(AF_INET, value, addr) != 1 && inet_pton(AF_INET6, value, addr) != 1)
            return g_strdup("expected an IPv4 or IPv6 address");
        break;
    case K_UINT:
        if (!g_ascii_string_to_unsigned(value, 10, k->min, k->max, &n, NULL))
            return g_strdup_printf("expected an integer %u..%u", k->min, k->max);
        *(unsigned *)field(cfg, k) = (unsigned)n;
        return NULL;
    case K_BOOL:
        if (strcmp(value, "true") == 0)
            *(bool *)field(cfg, k) = true;
        else if (strcmp(value, "false") == 0)
            *(bool *)field(cfg, k) = false;
        else
            return g_strdup("expected true or false");
        return NULL;
    case K_PATH:
        if (!g_path_is_absolute(value))
            return g_strdup("expected an absolute path");
        break;
    case K_NAME:
        if (!vg_name_valid(value))
            return g_strdup("expected a name of 1..64 letters, digits, '.', '_', '@' or '-'");
        break;
    case K_LOG_LEVEL:
        level = vg_log_parse_level(value);
        if (level < 0)
            return g_strdup("expected error, warning, notice, info or debug");
        *(int *)field(cfg, k) = level;
        return NULL;
    case K_SECOND_LOGIN:
        if (vg_second_login_parse(value, &mode) < 0)
            return g_strdup("expected takeover or join");
        *(vg_second_login *)field(cfg, k) = mode;
        return NULL;
    case K_BACKEND:
        if (vg_store_backend_parse(value, &backend) < 0)
            return g_strdup("expected sqlite or postgresql");
        *(vg_store_backend *)field(cfg, k) = backend;
        return NULL;
    case K_DSN:
        /* It may hold a password: the error never repeats it (see read_values). */
        if (!*value)
            return g_strdup("expected a libpq connection string such as \"host=db.example.org "
                            "dbname=vmgate user=vmgate sslmode=verify-full\"");
        break;
    case K_OPT_PATH:
        if (*value && !g_path_is_absolute(value))
            return g_strdup("expected an absolute path, or nothing");
        break;
    case K_INSTANCE:
        if (*value && !vg_name_valid(value))
            return g_strdup("expected a name of 1..64 letters, digits, '.', '_', '@' or '-'");
        break;
    case K_HOST:
        if (*value && !host_valid(value))
            return g_strdup("expected a host name or an IP address");
        break;
    case K_H264_PRESET:
        if (!g_strv_contains(h264_presets, value)) {
            g_autofree char *all = g_strjoinv(", ", (char **)h264_presets);
            return g_strdup_printf("expected one of libx264's presets: %s", all);
        }
        break;
    }
    /* The string kinds. */
    g_free(*(char **)field(cfg, k));
    *(char **)field(cfg, k) = g_strdup(value);
    return NULL;
}

void vg_config_free(vg_config *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < N_SPECS; i++) {
        switch (specs[i].kind) {
        case K_URI:
        case K_VM_FILTER:
        case K_ADDRESS:
        case K_PATH:
        case K_NAME:
        case K_DSN:
        case K_OPT_PATH:
        case K_INSTANCE:
        case K_HOST:
        case K_H264_PRESET:
            g_free(*(char **)field(cfg, &specs[i]));
            break;
        default:
            break;
        }
    }
    g_free(cfg);
}

vg_config *vg_config_new_defaults(void)
{
    vg_config *cfg = g_new0(vg_config, 1);

    for (size_t i = 0; i < N_SPECS; i++) {
        char *bad = parse_value(cfg, &specs[i], specs[i].def);
        /* A default the parser rejects is a bug in the table above. */
        g_assert(bad == NULL);
    }
    return cfg;
}

static const key_spec *find_spec(const char *group, const char *key)
{
    for (size_t i = 0; i < N_SPECS; i++) {
        if (strcmp(specs[i].group, group) == 0 && (!key || strcmp(specs[i].key, key) == 0))
            return &specs[i];
    }
    return NULL;
}

/* Where things are in the file: "group" and "group\nkey" -> line number. */
typedef struct scan {
    GHashTable *lines;
} scan;

static void scan_note(scan *sc, const char *group, const char *key, int line, bool last)
{
    char *id = key ? g_strdup_printf("%s\n%s", group, key) : g_strdup(group);

    /* GKeyFile keeps the last value of a repeated key; a group is named by its first header. */
    if (last || !g_hash_table_contains(sc->lines, id))
        g_hash_table_insert(sc->lines, id, GINT_TO_POINTER(line));
    else
        g_free(id);
}

static int scan_line(scan *sc, const char *group, const char *key)
{
    char *id = key ? g_strdup_printf("%s\n%s", group, key) : g_strdup(group);
    int line = GPOINTER_TO_INT(g_hash_table_lookup(sc->lines, id));
    g_free(id);
    return line;
}

/*
 * Record the line of every group and key, and report the lines GKeyFile
 * would reject (it would say what is wrong, but not where).
 */
static void scan_file(scan *sc, const char *path, const char *data, GString *errors)
{
    char **lines = g_strsplit(data, "\n", -1);
    char *group = NULL;

    for (int i = 0; lines[i]; i++) {
        char *l = g_strstrip(lines[i]);
        char *eq;
        int lineno = i + 1;

        if (*l == '\0' || *l == '#')
            continue;
        if (*l == '[') {
            char *end = strrchr(l, ']');
            if (!end || end[1] != '\0' || end == l + 1) {
                g_string_append_printf(errors, "%s:%d: malformed group header\n", path, lineno);
                continue;
            }
            g_free(group);
            group = g_strndup(l + 1, (gsize)(end - l - 1));
            scan_note(sc, group, NULL, lineno, false);
            continue;
        }
        eq = strchr(l, '=');
        if (!eq) {
            g_string_append_printf(errors, "%s:%d: expected [group], key = value or a # comment\n",
                                   path, lineno);
            continue;
        }
        *eq = '\0';
        g_strchomp(l);
        if (!group) {
            g_string_append_printf(errors, "%s:%d: %s: key outside any [group]\n", path, lineno, l);
            continue;
        }
        if (*l == '\0') {
            g_string_append_printf(errors, "%s:%d: [%s]: missing key name before '='\n", path,
                                   lineno, group);
            continue;
        }
        scan_note(sc, group, l, lineno, true);
    }
    g_free(group);
    g_strfreev(lines);
}

/* Unknown groups and keys: typos must not leave a default silently in force. */
static void check_known(GKeyFile *kf, scan *sc, const char *path, GString *errors)
{
    char **groups = g_key_file_get_groups(kf, NULL);

    for (int g = 0; groups[g]; g++) {
        char **keys;
        if (!find_spec(groups[g], NULL)) {
            g_string_append_printf(errors, "%s:%d: [%s]: unknown group\n", path,
                                   scan_line(sc, groups[g], NULL), groups[g]);
            continue;
        }
        keys = g_key_file_get_keys(kf, groups[g], NULL, NULL);
        for (int k = 0; keys && keys[k]; k++) {
            if (!find_spec(groups[g], keys[k]))
                g_string_append_printf(errors, "%s:%d: [%s] %s: unknown key\n", path,
                                       scan_line(sc, groups[g], keys[k]), groups[g], keys[k]);
        }
        g_strfreev(keys);
    }
    g_strfreev(groups);
}

static void read_values(vg_config *cfg, GKeyFile *kf, scan *sc, const char *path, GString *errors)
{
    for (size_t i = 0; i < N_SPECS; i++) {
        const key_spec *k = &specs[i];
        GError *err = NULL;
        char *value, *expected;

        if (!g_key_file_has_key(kf, k->group, k->key, NULL))
            continue;
        /* get_string undoes the escapes (\s, \t, \\) GKeyFile allows. */
        value = g_key_file_get_string(kf, k->group, k->key, &err);
        if (!value) {
            g_string_append_printf(errors, "%s:%d: [%s] %s: %s\n", path,
                                   scan_line(sc, k->group, k->key), k->group, k->key, err->message);
            g_error_free(err);
            continue;
        }
        expected = parse_value(cfg, k, g_strstrip(value));
        if (expected) {
            /* A DSN may hold a password: never shown. */
            char *shown = k->kind == K_DSN ? g_strdup("(not shown)") : g_strescape(value, NULL);
            g_string_append_printf(errors, "%s:%d: [%s] %s: %s, got \"%s\"\n", path,
                                   scan_line(sc, k->group, k->key), k->group, k->key, expected,
                                   shown);
            g_free(shown);
            g_free(expected);
        }
        g_free(value);
    }
}

static int file_error_errno(const GError *err)
{
    if (err->domain != G_FILE_ERROR)
        return -EIO;
    switch (err->code) {
    case G_FILE_ERROR_NOENT:
        return -ENOENT;
    case G_FILE_ERROR_ACCES:
    case G_FILE_ERROR_PERM:
        return -EACCES;
    case G_FILE_ERROR_ISDIR:
        return -EISDIR;
    case G_FILE_ERROR_NOMEM:
        return -ENOMEM;
    default:
        return -EIO;
    }
}

int vg_config_load(const char *path, vg_config **out, char **error)
{
    GKeyFile *kf = NULL;
    GError *err = NULL;
    GString *errors = g_string_new(NULL);
    vg_config *cfg = NULL;
    scan sc = {g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL)};
    char *data = NULL;
    gsize len = 0;
    int r = 0;

    if (!g_file_get_contents(path, &data, &len, &err)) {
        r = file_error_errno(err);
        g_string_append(errors, err->message); /* already names the file */
        g_error_free(err);
        goto fail;
    }
    if (memchr(data, '\0', len) || !g_utf8_validate(data, (gssize)len, NULL)) {
        g_string_append_printf(errors, "%s: not a text file in UTF-8", path);
        r = -EINVAL;
        goto fail;
    }
    scan_file(&sc, path, data, errors);
    if (errors->len) {
        r = -EINVAL;
        goto fail;
    }
    kf = g_key_file_new();
    if (!g_key_file_load_from_data(kf, data, len, G_KEY_FILE_NONE, &err)) {
        g_string_append_printf(errors, "%s: %s", path, err->message);
        g_error_free(err);
        r = -EINVAL;
        goto fail;
    }
    cfg = vg_config_new_defaults();
    check_known(kf, &sc, path, errors);
    read_values(cfg, kf, &sc, path, errors);
    if (!errors->len)
        fill_instance(cfg, path, errors);
    if (errors->len) {
        r = -EINVAL;
        goto fail;
    }
    *out = cfg;
    cfg = NULL;
    goto done;

fail:
    /* One error per line, without a final newline. */
    if (errors->len && errors->str[errors->len - 1] == '\n')
        g_string_truncate(errors, errors->len - 1);
    if (error)
        *error = g_strdup(errors->str);
done:
    vg_config_free(cfg);
    if (kf)
        g_key_file_unref(kf);
    g_hash_table_unref(sc.lines);
    g_free(data);
    g_string_free(errors, TRUE);
    return r;
}
