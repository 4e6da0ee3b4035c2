/*
 * vmgate — PAM authentication for system accounts (see vg_auth_pam in
 * auth.h).
 *
 * Threading: each call has its own PAM handle; Linux-PAM and the modules it
 * ships (pam_unix uses getpwnam_r) are safe to call from several threads.
 */
#include "auth.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <security/pam_appl.h>

#include "log.h"

#define TAG "auth"

typedef struct conv_data {
    const char *user;
    const char *password;
} conv_data;

static void responses_free(struct pam_response *resp, int n)
{
    for (int i = 0; i < n; i++) {
        if (resp[i].resp) {
            OPENSSL_cleanse(resp[i].resp, strlen(resp[i].resp));
            free(resp[i].resp);
        }
    }
    free(resp);
}

/* PAM frees the answers with free(): they must come from malloc, not GLib. */
static int conversation(int n, const struct pam_message **msg, struct pam_response **resp,
                        void *appdata)
{
    const conv_data *d = appdata;
    struct pam_response *r;

    if (n <= 0 || n > PAM_MAX_NUM_MSG)
        return PAM_CONV_ERR;
    r = calloc((size_t)n, sizeof(*r));
    if (!r)
        return PAM_BUF_ERR;
    for (int i = 0; i < n; i++) {
        switch (msg[i]->msg_style) {
        case PAM_PROMPT_ECHO_OFF:
            r[i].resp = strdup(d->password);
            break;
        case PAM_PROMPT_ECHO_ON:
            r[i].resp = strdup(d->user);
            break;
        case PAM_ERROR_MSG:
        case PAM_TEXT_INFO:
            vg_debug(TAG, "pam: %s", msg[i]->msg ? msg[i]->msg : "");
            continue;
        default:
            responses_free(r, n);
            return PAM_CONV_ERR;
        }
        if (!r[i].resp) {
            responses_free(r, n);
            return PAM_BUF_ERR;
        }
    }
    *resp = r;
    return PAM_SUCCESS;
}

/* Replaces PAM's fail delay (see auth.h). */
static void no_delay(int retval, unsigned usec_delay, void *appdata)
{
}

static bool refusal(int rc)
{
    switch (rc) {
    case PAM_AUTH_ERR:
    case PAM_USER_UNKNOWN:
    case PAM_MAXTRIES:
    case PAM_CRED_INSUFFICIENT:
    case PAM_ACCT_EXPIRED:
    case PAM_NEW_AUTHTOK_REQD:
    case PAM_PERM_DENIED:
    case PAM_AUTHTOK_EXPIRED:
        return true;
    default:
        return false;
    }
}

int vg_auth_pam(const char *service, const char *user, const char *password)
{
    conv_data d = {user, password};
    struct pam_conv conv = {conversation, &d};
    void (*delay_fn)(int, unsigned, void *) = no_delay;
    pam_handle_t *pamh = NULL;
    int rc, r;

    if (!service || !*service || strchr(service, '/') || !user || !*user ||
        !vg_auth_password_valid(password))
        return -EINVAL;
    rc = pam_start(service, user, &conv, &pamh);
    if (rc != PAM_SUCCESS) {
        vg_warning(TAG, "pam_start(%s): %s", service, pam_strerror(pamh, rc));
        return -EIO;
    }
    rc = pam_set_item(pamh, PAM_FAIL_DELAY, (const void *)delay_fn);
    if (rc == PAM_SUCCESS)
        rc = pam_authenticate(pamh, PAM_SILENT | PAM_DISALLOW_NULL_AUTHTOK);
    if (rc == PAM_SUCCESS)
        rc = pam_acct_mgmt(pamh, PAM_SILENT | PAM_DISALLOW_NULL_AUTHTOK);
    if (rc == PAM_SUCCESS) {
        r = 0;
    } else if (refusal(rc)) {
        vg_info(TAG, "pam(%s): refused: %s", service, pam_strerror(pamh, rc));
        r = -EACCES;
    } else {
        vg_warning(TAG, "pam(%s): %s", service, pam_strerror(pamh, rc));
        r = -EIO;
    }
    pam_end(pamh, rc);
    return r;
}
