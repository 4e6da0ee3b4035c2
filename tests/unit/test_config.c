/*
 * Unit tests: vmgated's configuration file — defaults, strict checking
 * with file:line and key in every error, and the sample file's defaults.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <glib.h>
#include <glib/gstdio.h>

#include "config.h"
#include "log.h"

typedef struct fixture {
    char *dir;
    char *path;
} fixture;

static int setup(void **state)
{
    fixture *f = g_new0(fixture, 1);
    f->dir = g_dir_make_tmp("vg-config-XXXXXX", NULL);
    assert_non_null(f->dir);
    f->path = g_build_filename(f->dir, "vmgated.conf", NULL);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    g_unlink(f->path);
    g_rmdir(f->dir);
    g_free(f->path);
    g_free(f->dir);
    g_free(f);
    return 0;
}

static void write_file(fixture *f, const char *text)
{
    assert_true(g_file_set_contents(f->path, text, -1, NULL));
}

/* Load @text and expect failure; returns the error text (g_free it). */
static char *load_error(fixture *f, const char *text)
{
    vg_config *cfg = NULL;
    char *error = NULL;

    write_file(f, text);
    assert_int_equal(vg_config_load(f->path, &cfg, &error), -EINVAL);
    assert_null(cfg);
    assert_non_null(error);
    return error;
}

static void assert_defaults(const vg_config *c)
{
    assert_string_equal(c->libvirt_uri, "qemu:///system");
    assert_string_equal(c->libvirt_vms, "*");
    assert_string_equal(c->vnc_listen, "0.0.0.0");
    assert_int_equal(c->vnc_port, 5900);
    assert_false(c->vnc_allow_insecure_loopback);
    assert_int_equal(c->logins_per_address, 4);
    assert_int_equal(c->login_timeout, 10);
    assert_int_equal(c->stalled_viewer_timeout, 30);
    assert_int_equal(c->max_screen_width, 8192);
    assert_int_equal(c->max_screen_height, 8192);
    assert_false(c->audit_fail_open);
    assert_true(c->web_enabled);
    assert_string_equal(c->web_listen, "0.0.0.0");
    assert_int_equal(c->web_port, 8443);
    assert_string_equal(c->web_novnc_dir, "/usr/share/novnc");
    assert_int_equal(c->web_session_lifetime, 28800);
    assert_int_equal(c->web_session_idle, 1800);
    assert_string_equal(c->rdp_listen, "0.0.0.0");
    assert_int_equal(c->rdp_port, 3389);
    assert_true(c->rdp_nla);
    assert_false(c->rdp_lossless);
    assert_string_equal(c->rdp_h264_preset, "ultrafast");
    assert_false(c->metrics_enabled);
    assert_string_equal(c->metrics_listen, "127.0.0.1");
    assert_int_equal(c->metrics_port, 9750);
    assert_string_equal(c->tls_certificate, "/etc/vmgate/server.crt");
    assert_string_equal(c->tls_key, "/etc/vmgate/server.key");
    assert_string_equal(c->state_dir, "/var/lib/vmgate");
    assert_string_equal(c->admin_socket, "/run/vmgate/admin.sock");
    assert_string_equal(c->admin_group, "vmgate-admin");
    assert_string_equal(c->admin_readonly_group, "vmgate-readonly");
    assert_int_equal(c->admin_idle_timeout, 300);
    assert_string_equal(c->audit_log, "/var/log/vmgate/audit.log");
    assert_int_equal(c->log_level, VG_LOG_NOTICE);
    assert_false(c->pam);
    assert_string_equal(c->pam_service, "vmgate");
    assert_int_equal(c->max_failures, 5);
    assert_int_equal(c->failure_window, 300);
    assert_int_equal(c->lockout, 300);
    assert_true(c->power_on_demand);
    assert_int_equal(c->second_login, VG_SECOND_LOGIN_TAKEOVER);
    assert_int_equal(c->store_backend, VG_STORE_SQLITE);
    assert_string_equal(c->store_dsn, "dbname=vmgate");
    assert_string_equal(c->store_password_file, "");
}

static void test_config_defaults(void **state)
{
    vg_config *cfg = vg_config_new_defaults();
    (void)state;
    assert_defaults(cfg);
    vg_config_free(cfg);
}

static void test_config_empty_file_gives_defaults(void **state)
{
    fixture *f = *state;
    vg_config *cfg = NULL;
    char *error = NULL;

    write_file(f, "# nothing set\n\n[vnc]\n");
    assert_int_equal(vg_config_load(f->path, &cfg, &error), 0);
    assert_null(error);
    assert_defaults(cfg);
    vg_config_free(cfg);
}

static void test_config_values_are_read(void **state)
{
    fixture *f = *state;
    vg_config *cfg = NULL;
    char *error = NULL;

    write_file(f, "[vnc]\n"
                  "listen = ::1\n"
                  "port=5901\n"
                  "  allow_insecure_loopback = true  \n"
                  "[daemon]\n"
                  "log_level = debug\n"
                  "state_dir = /srv/vmgate\\sstate\n"
                  "[auth]\n"
                  "lockout = 86400\n"
                  "[policy]\n"
                  "second_login = join\n"
                  "power_on_demand = false\n"
                  "[rdp]\n"
                  "h264_preset = veryfast\n");
    assert_int_equal(vg_config_load(f->path, &cfg, &error), 0);
    assert_string_equal(cfg->vnc_listen, "::1");
    assert_int_equal(cfg->vnc_port, 5901);
    assert_true(cfg->vnc_allow_insecure_loopback);
    assert_int_equal(cfg->log_level, VG_LOG_DEBUG);
    assert_string_equal(cfg->state_dir, "/srv/vmgate state");
    assert_int_equal(cfg->lockout, 86400);
    assert_int_equal(cfg->second_login, VG_SECOND_LOGIN_JOIN);
    assert_false(cfg->power_on_demand);
    assert_string_equal(cfg->rdp_h264_preset, "veryfast");
    assert_int_equal(cfg->rdp_port, 3389); /* untouched keys keep their defaults */
    vg_config_free(cfg);
}

static void test_config_bad_value_names_file_line_and_key(void **state)
{
    fixture *f = *state;
    char *error = load_error(f, "# vmgated\n"
                                "\n"
                                "[vnc]\n"
                                "listen = 0.0.0.0\n"
                                "port = abc\n");
    char *expected =
        g_strdup_printf("%s:5: [vnc] port: expected an integer 1..65535, got \"abc\"", f->path);

    assert_string_equal(error, expected);
    g_free(expected);
    g_free(error);
}

static void test_config_out_of_range_and_wrong_kinds(void **state)
{
    fixture *f = *state;
    char *error = load_error(f, "[rdp]\n"
                                "port = 0\n"
                                "nla = yes\n"
                                "listen = example.org\n"
                                "h264_preset = quick\n"
                                "[tls]\n"
                                "key = server.key\n"
                                "[daemon]\n"
                                "log_level = loud\n"
                                "[policy]\n"
                                "second_login = steal\n");
    char *p = f->path;
    char *lines[] = {
        g_strdup_printf("%s:2: [rdp] port: expected an integer 1..65535, got \"0\"", p),
        g_strdup_printf("%s:3: [rdp] nla: expected true or false, got \"yes\"", p),
        g_strdup_printf("%s:4: [rdp] listen: expected an IPv4 or IPv6 address, got "
                        "\"example.org\"",
                        p),
        g_strdup_printf("%s:5: [rdp] h264_preset: expected one of libx264's presets: ultrafast, "
                        "superfast, veryfast, faster, fast, medium, slow, slower, veryslow, got "
                        "\"quick\"",
                        p),
        g_strdup_printf("%s:7: [tls] key: expected an absolute path, got \"server.key\"", p),
        g_strdup_printf("%s:9: [daemon] log_level: expected error, warning, notice, info or "
                        "debug, got \"loud\"",
                        p),
        g_strdup_printf("%s:11: [policy] second_login: expected takeover or join, got \"steal\"",
                        p),
    };

    /* Every error is reported, one per line. */
    for (size_t i = 0; i < G_N_ELEMENTS(lines); i++) {
        assert_non_null(strstr(error, lines[i]));
        g_free(lines[i]);
    }
    {
        char **split = g_strsplit(error, "\n", -1);
        assert_int_equal(g_strv_length(split), G_N_ELEMENTS(lines));
        g_strfreev(split);
    }
    g_free(error);
}

static void test_config_vm_name_patterns(void **state)
{
    fixture *f = *state;
    vg_config *cfg = NULL;
    char *error = NULL;
    char *expected;

    write_file(f, "[libvirt]\nvms = web-*, Windows 11 (dev) ?\n");
    assert_int_equal(vg_config_load(f->path, &cfg, &error), 0);
    assert_string_equal(cfg->libvirt_vms, "web-*, Windows 11 (dev) ?");
    vg_config_free(cfg);

    error = load_error(f, "[libvirt]\nvms = web-*, ,build-?\n");
    expected = g_strdup_printf("%s:2: [libvirt] vms: expected VM name patterns separated by "
                               "commas, none of them empty (such as \"web-*, build-?\"), got "
                               "\"web-*, ,build-?\"",
                               f->path);
    assert_string_equal(error, expected);
    g_free(expected);
    g_free(error);
}

static void test_config_metrics_listener(void **state)
{
    fixture *f = *state;
    vg_config *cfg = NULL;
    char *error = NULL, *p = f->path;
    char *lines[3];

    write_file(f, "[metrics]\nenabled = true\nlisten = ::1\nport = 19750\n");
    assert_int_equal(vg_config_load(f->path, &cfg, &error), 0);
    assert_true(cfg->metrics_enabled);
    assert_string_equal(cfg->metrics_listen, "::1");
    assert_int_equal(cfg->metrics_port, 19750);
    vg_config_free(cfg);

    error = load_error(f, "[metrics]\nenabled = on\nlisten = localhost\nport = 0\n");
    lines[0] = g_strdup_printf("%s:2: [metrics] enabled: expected true or false, got \"on\"", p);
    lines[1] = g_strdup_printf(
        "%s:3: [metrics] listen: expected an IPv4 or IPv6 address, got \"localhost\"", p);
    lines[2] = g_strdup_printf("%s:4: [metrics] port: expected an integer 1..65535, got \"0\"", p);
    for (size_t i = 0; i < G_N_ELEMENTS(lines); i++) {
        assert_non_null(strstr(error, lines[i]));
        g_free(lines[i]);
    }
    g_free(error);
}

static void test_config_store_section(void **state)
{
    fixture *f = *state;
    vg_config *cfg = NULL;
    char *error = NULL, *p = f->path;
    char *lines[3];

    write_file(f, "[store]\nbackend = postgresql\n"
                  "dsn = host=db.example.org dbname=vmgate sslmode=verify-full\n"
                  "password_file = /etc/vmgate/db-password\n");
    assert_int_equal(vg_config_load(f->path, &cfg, &error), 0);
    assert_int_equal(cfg->store_backend, VG_STORE_POSTGRESQL);
    assert_string_equal(cfg->store_dsn, "host=db.example.org dbname=vmgate sslmode=verify-full");
    assert_string_equal(cfg->store_password_file, "/etc/vmgate/db-password");
    vg_config_free(cfg);

    error = load_error(f, "[store]\nbackend = mysql\ndsn =\npassword_file = db-password\n");
    lines[0] = g_strdup_printf("%s:2: [store] backend: expected sqlite or postgresql, got "
                               "\"mysql\"",
                               p);
    lines[1] = g_strdup_printf("%s:3: [store] dsn: expected a libpq connection string", p);
    lines[2] = g_strdup_printf(
        "%s:4: [store] password_file: expected an absolute path, or nothing, got \"db-password\"",
        p);
    for (size_t i = 0; i < G_N_ELEMENTS(lines); i++) {
        assert_non_null(strstr(error, lines[i]));
        g_free(lines[i]);
    }
    g_free(error);
}

static void test_config_instance_is_the_host_unless_set(void **state)
{
    fixture *f = *state;
    vg_config *cfg = NULL;
    char *error = NULL, *expected;

    /* The host names of test machines are valid names and addresses. */
    write_file(f, "[vnc]\n");
    assert_int_equal(vg_config_load(f->path, &cfg, &error), 0);
    assert_string_equal(cfg->instance_name, g_get_host_name());
    assert_string_equal(cfg->instance_address, g_get_host_name());
    assert_string_equal(cfg->instance_ca, ""); /* no forwarding unless set */
    vg_config_free(cfg);

    write_file(f, "[instance]\nname = gw-a\naddress = 127.0.0.11\nca = /etc/vmgate/ca.crt\n");
    assert_int_equal(vg_config_load(f->path, &cfg, &error), 0);
    assert_string_equal(cfg->instance_name, "gw-a");
    assert_string_equal(cfg->instance_address, "127.0.0.11");
    assert_string_equal(cfg->instance_ca, "/etc/vmgate/ca.crt");
    vg_config_free(cfg);
    error = load_error(f, "[instance]\nca = ca.crt\n");
    assert_non_null(strstr(error, "[instance] ca: "));
    g_free(error);
    write_file(f, "[instance]\naddress = gw1.example.org\n");
    assert_int_equal(vg_config_load(f->path, &cfg, &error), 0);
    assert_string_equal(cfg->instance_address, "gw1.example.org");
    vg_config_free(cfg);

    error = load_error(f, "[instance]\nname = -gw\n");
    expected = g_strdup_printf("%s:2: [instance] name: expected a name of 1..64 letters, digits, "
                               "'.', '_', '@' or '-', got \"-gw\"",
                               f->path);
    assert_string_equal(error, expected);
    g_free(expected);
    g_free(error);
    error = load_error(f, "[instance]\naddress = gw one\n");
    assert_non_null(strstr(error, "[instance] address: expected a host name or an IP address"));
    g_free(error);
}

static void test_config_unknown_key_is_an_error(void **state)
{
    fixture *f = *state;
    char *error = load_error(f, "[vnc]\nport = 5900\nprot = 5901\n");
    char *expected = g_strdup_printf("%s:3: [vnc] prot: unknown key", f->path);

    assert_string_equal(error, expected);
    g_free(expected);
    g_free(error);
}

static void test_config_unknown_group_is_an_error(void **state)
{
    fixture *f = *state;
    char *error = load_error(f, "[vnc]\n\n[vcn]\nport = 5901\n");
    char *expected = g_strdup_printf("%s:3: [vcn]: unknown group", f->path);

    assert_string_equal(error, expected);
    g_free(expected);
    g_free(error);
}

static void test_config_syntax_error_names_the_line(void **state)
{
    fixture *f = *state;
    char *error = load_error(f, "[vnc]\nport = 5900\nthis is not a setting\n");
    char *expected = g_strdup_printf("%s:3: expected [group], key = value or a # comment", f->path);

    assert_string_equal(error, expected);
    g_free(expected);
    g_free(error);

    error = load_error(f, "port = 5900\n");
    expected = g_strdup_printf("%s:1: port: key outside any [group]", f->path);
    assert_string_equal(error, expected);
    g_free(expected);
    g_free(error);
}

static void test_config_repeated_key_reports_the_line_used(void **state)
{
    fixture *f = *state;
    /* GKeyFile keeps the last value: the error must point at that line. */
    char *error = load_error(f, "[vnc]\nport = 5900\nport = 70000\n");
    char *expected =
        g_strdup_printf("%s:3: [vnc] port: expected an integer 1..65535, got \"70000\"", f->path);

    assert_string_equal(error, expected);
    g_free(expected);
    g_free(error);
}

static void test_config_missing_file(void **state)
{
    fixture *f = *state;
    vg_config *cfg = NULL;
    char *error = NULL;

    assert_int_equal(vg_config_load(f->path, &cfg, &error), -ENOENT);
    assert_null(cfg);
    assert_non_null(strstr(error, f->path));
    g_free(error);
}

/* The sample documents every key with its default: uncommented, it must load as the defaults. */
static void test_config_sample_documents_every_default(void **state)
{
    fixture *f = *state;
    static const char *const keys[] = {
        "uri",
        "vms",
        "listen",
        "port",
        "allow_insecure_loopback",
        "enabled",
        "novnc_dir",
        "session_lifetime",
        "session_idle",
        "nla",
        "lossless",
        "h264_preset",
        "enabled",
        "certificate",
        "key",
        "state_dir",
        "admin_socket",
        "admin_group",
        "admin_readonly_group",
        "admin_idle_timeout",
        "audit_log",
        "log_level",
        "audit_fail_open",
        "backend",
        "dsn",
        "logins_per_address",
        "login_timeout",
        "stalled_viewer_timeout",
        "max_screen_width",
        "max_screen_height",
        "pam",
        "pam_service",
        "max_failures",
        "failure_window",
        "lockout",
        "power_on_demand",
        "second_login",
    };
    char *sample = NULL, **lines;
    GString *active = g_string_new(NULL);
    vg_config *cfg = NULL;
    char *error = NULL;
    unsigned settings = 0;

    assert_true(g_file_get_contents(VG_SAMPLE_CONF, &sample, NULL, NULL));
    lines = g_strsplit(sample, "\n", -1);
    for (int i = 0; lines[i]; i++) {
        const char *l = lines[i];
        /* "#key = value" (no space after '#') is a setting; "# text" is prose. */
        if (l[0] == '#' && g_ascii_islower(l[1]) && strstr(l, " = ")) {
            l++;
            settings++;
        }
        g_string_append_printf(active, "%s\n", l);
    }
    /* listen and port appear four times ([vnc], [web], [rdp] and [metrics]), enabled
     * twice ([web] and [metrics]). */
    assert_int_equal(settings, G_N_ELEMENTS(keys) + 6);
    for (size_t k = 0; k < G_N_ELEMENTS(keys); k++) {
        char *needle = g_strdup_printf("\n#%s = ", keys[k]);
        assert_non_null(strstr(sample, needle));
        g_free(needle);
    }
    write_file(f, active->str);
    assert_int_equal(vg_config_load(f->path, &cfg, &error), 0);
    assert_defaults(cfg);
    vg_config_free(cfg);
    g_strfreev(lines);
    g_string_free(active, TRUE);
    g_free(sample);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
        T(test_config_defaults),
        T(test_config_empty_file_gives_defaults),
        T(test_config_values_are_read),
        T(test_config_bad_value_names_file_line_and_key),
        T(test_config_out_of_range_and_wrong_kinds),
        T(test_config_vm_name_patterns),
        T(test_config_metrics_listener),
        T(test_config_store_section),
        T(test_config_instance_is_the_host_unless_set),
        T(test_config_unknown_key_is_an_error),
        T(test_config_unknown_group_is_an_error),
        T(test_config_syntax_error_names_the_line),
        T(test_config_repeated_key_reports_the_line_used),
        T(test_config_missing_file),
        T(test_config_sample_documents_every_default),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
