/*
 * vmgate — vmgated's configuration file: an INI file read with GKeyFile.
 * Every key, its default and its meaning are in server/vmgated.conf.sample.
 *
 * The file is checked strictly: an unknown group or key is an error (a typo
 * must not silently leave a default in force), and so is a value of the
 * wrong kind. Each error names the file, the line and the key:
 *
 *     /etc/vmgate/vmgated.conf:12: [vnc] port: expected an integer 1..65535, got "abc"
 *
 * Threading: no shared state; a vg_config is read-only once loaded.
 */
#ifndef VG_CONFIG_H
#define VG_CONFIG_H

#include <stdbool.h>

#include "model.h"
#include "store.h"

/** Where vmgated looks for its configuration unless told otherwise. */
#define VG_CONFIG_DEFAULT_PATH "/etc/vmgate/vmgated.conf"

typedef struct vg_config {
    /* [instance] */
    char *instance_name;    /**< name: this vmgated among those sharing a store (vg_name_valid);
                                 the host name unless set */
    char *instance_address; /**< address: the host name or IP clients reach its front ends at;
                                 the host name unless set */
    char *instance_ca;      /**< ca: CA certificates (PEM) the other instances' certificates are
                                 checked against when VNC is relayed to them; "": no relay */

    /* [libvirt] */
    char *libvirt_uri; /**< uri: hypervisor connection */
    char *libvirt_vms; /**< vms: the VMs served, name patterns (vm-filter.h) */

    /* [vnc] */
    char *vnc_listen;                 /**< listen: IPv4 or IPv6 address */
    unsigned vnc_port;                /**< port */
    bool vnc_allow_insecure_loopback; /**< allow_insecure_loopback: VNC without TLS from loopback */

    /* [web] */
    bool web_enabled;              /**< enabled: serve the browser front end (with a certificate) */
    char *web_listen;              /**< listen */
    unsigned web_port;             /**< port */
    char *web_novnc_dir;           /**< novnc_dir: noVNC's files (core/, vendor/) */
    unsigned web_session_lifetime; /**< session_lifetime: seconds a browser login lasts */
    unsigned web_session_idle;     /**< session_idle: ... or unused */

    /* [rdp] */
    char *rdp_listen;  /**< listen */
    unsigned rdp_port; /**< port */
    bool rdp_nla;      /**< nla: require Network Level Authentication (false: TLS only) */
    bool rdp_lossless; /**< lossless: never use a lossy codec */
    char *rdp_h264_preset; /**< h264_preset: libx264's preset for motion (speed against quality) */

    /* [metrics] */
    bool metrics_enabled;  /**< enabled: serve /metrics, /healthz and /readyz (plain HTTP) */
    char *metrics_listen;  /**< listen: IPv4 or IPv6 address */
    unsigned metrics_port; /**< port */

    /* [tls] */
    char *tls_certificate; /**< certificate: PEM chain */
    char *tls_key;         /**< key: PEM private key */

    /* [daemon] */
    char *state_dir;             /**< state_dir: the store lives here */
    char *admin_socket;          /**< admin_socket */
    char *admin_group;           /**< admin_group: may use the admin socket */
    char *admin_readonly_group;  /**< admin_readonly_group: may list, read the audit log and take
                                      screenshots */
    unsigned admin_idle_timeout; /**< admin_idle_timeout: seconds an admin connection may send
                                      nothing */
    char *audit_log;             /**< audit_log: one JSON object per line */
    int log_level;               /**< log_level: VG_LOG_* */
    bool
        audit_fail_open; /**< audit_fail_open: let logins in when the audit log cannot be written */

    /* [store] */
    vg_store_backend store_backend; /**< backend: sqlite (in state_dir) or postgresql */
    char *store_dsn;                /**< dsn: libpq connection string (postgresql) */
    char *store_password_file;      /**< password_file: the database password, or "" for none */

    /* [limits] */
    unsigned logins_per_address;     /**< logins_per_address: connections not yet logged in from one
                                          address (IPv6: one /64), per port */
    unsigned login_timeout;          /**< login_timeout: seconds from TCP to logged in */
    unsigned stalled_viewer_timeout; /**< stalled_viewer_timeout: seconds a viewer may read
                                          nothing before it is ended (VNC, RDP) */
    unsigned max_screen_width;       /**< max_screen_width: widest VM screen mode served */
    unsigned max_screen_height;      /**< max_screen_height: tallest VM screen mode served */

    /* [auth] */
    bool pam;                /**< pam: also accept system accounts through PAM */
    char *pam_service;       /**< pam_service */
    unsigned max_failures;   /**< max_failures: failed logins that lock a user or address out */
    unsigned failure_window; /**< failure_window: seconds in which they count */
    unsigned lockout;        /**< lockout: seconds the lockout lasts */

    /* [policy] */
    bool power_on_demand;         /**< power_on_demand: start or resume a VM at login */
    vg_second_login second_login; /**< second_login: takeover or join */
} vg_config;

/** A configuration holding every default. Free with vg_config_free. */
vg_config *vg_config_new_defaults(void);

/**
 * Read the configuration file @path. Keys it does not set keep their
 * defaults.
 * @return 0 and *out set; -EINVAL if the file has errors (*error then lists
 *         them, one per line); a negative errno if it cannot be read (*error
 *         says so). *error is set only on failure; g_free it.
 */
int vg_config_load(const char *path, vg_config **out, char **error);

/** Free a configuration. NULL is fine. */
void vg_config_free(vg_config *cfg);

#endif /* VG_CONFIG_H */
