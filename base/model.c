/*
 * vmgate — the broker's shared vocabulary (see model.h).
 */
#include "model.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

#include <glib.h>

bool vg_name_valid(const char *name)
{
    size_t len;

    if (!name || name[0] == '\0' || name[0] == '-')
        return false;
    len = strnlen(name, VG_NAME_MAX + 1);
    if (len > VG_NAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        /* Spelled out rather than isalnum(): the locale must not widen the set. */
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '@' || c == '-';
        if (!ok)
            return false;
    }
    return true;
}

bool vg_vm_name_valid(const char *name)
{
    size_t len;

    if (!name || name[0] == '\0')
        return false;
    len = strnlen(name, VG_VM_NAME_MAX + 1);
    if (len > VG_VM_NAME_MAX || !g_utf8_validate(name, (gssize)len, NULL))
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        /* libvirt refuses '/' and '\n' in a QEMU domain's name; XML 1.0
         * allows no other C0 control but tab and carriage return. */
        if (c == '/' || (c < 0x20 && c != '\t' && c != '\r'))
            return false;
    }
    return true;
}

static const char *const role_names[] = {
    [VG_ROLE_OWNER] = "owner",
    [VG_ROLE_CONTROLLER] = "controller",
    [VG_ROLE_OBSERVER] = "observer",
};

static const char *const idle_names[] = {
    [VG_IDLE_NONE] = "none",
    [VG_IDLE_SHUTDOWN] = "shutdown",
    [VG_IDLE_SUSPEND] = "suspend",
};

static const char *const second_login_names[] = {
    [VG_SECOND_LOGIN_TAKEOVER] = "takeover",
    [VG_SECOND_LOGIN_JOIN] = "join",
};

#define N_ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))

static const char *name_of(const char *const *names, size_t n, int value)
{
    if (value < 0 || (size_t)value >= n)
        return "?";
    return names[value];
}

static int parse_name(const char *const *names, size_t n, const char *name, int *out)
{
    if (!name)
        return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(name, names[i]) == 0) {
            *out = (int)i;
            return 0;
        }
    }
    return -EINVAL;
}

const char *vg_role_name(vg_role role)
{
    return name_of(role_names, N_ELEMENTS(role_names), (int)role);
}

int vg_role_parse(const char *name, vg_role *out)
{
    int v, r = parse_name(role_names, N_ELEMENTS(role_names), name, &v);
    if (r == 0)
        *out = (vg_role)v;
    return r;
}

const char *vg_idle_action_name(vg_idle_action action)
{
    return name_of(idle_names, N_ELEMENTS(idle_names), (int)action);
}

int vg_idle_action_parse(const char *name, vg_idle_action *out)
{
    int v, r = parse_name(idle_names, N_ELEMENTS(idle_names), name, &v);
    if (r == 0)
        *out = (vg_idle_action)v;
    return r;
}

const char *vg_second_login_name(vg_second_login mode)
{
    return name_of(second_login_names, N_ELEMENTS(second_login_names), (int)mode);
}

int vg_second_login_parse(const char *name, vg_second_login *out)
{
    int v, r = parse_name(second_login_names, N_ELEMENTS(second_login_names), name, &v);
    if (r == 0)
        *out = (vg_second_login)v;
    return r;
}
