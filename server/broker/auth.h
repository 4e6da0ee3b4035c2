/*
 * vmgate — authentication: password hashes (yescrypt through libxcrypt, the
 * same strings as /etc/shadow), NT hashes for RDP NLA, the login decision
 * against the store with failed-login rate limiting, and optional PAM for
 * system accounts.
 *
 * Passwords are 1..VG_PASSWORD_MAX bytes of valid UTF-8. The bound is
 * libxcrypt's: crypt(3) refuses phrases of CRYPT_MAX_PASSPHRASE_SIZE (512)
 * bytes or more, so a longer password could never be stored or checked. Secrets this module
 * copies are wiped (OPENSSL_cleanse) before they are freed; the caller wipes
 * its own copies of passwords.
 *
 * Threading: every function may be called from any thread. Hashing is
 * deliberately slow (tens of milliseconds) and PAM may block on its
 * modules: call them from a worker thread, never from a main loop.
 */
#ifndef VG_AUTH_H
#define VG_AUTH_H

#include <stdbool.h>
#include <stdint.h>

#include "ratelimit.h"
#include "store.h"

/** Longest password accepted, in bytes (libxcrypt's CRYPT_MAX_PASSPHRASE_SIZE - 1). */
#define VG_PASSWORD_MAX 511

/** Length of an NT hash in hex digits (the buffer needs one more for the NUL). */
#define VG_NT_HASH_LEN 32

/** Whether @password is 1..VG_PASSWORD_MAX bytes of valid UTF-8. NULL is invalid. */
bool vg_auth_password_valid(const char *password);

/**
 * Hash @password with yescrypt and a fresh random salt, at libxcrypt's
 * default cost.
 * @return 0 and *hash set to a "$y$..." string (free with
 *         vg_auth_secret_free); -EINVAL for an invalid password; -EIO if
 *         libxcrypt fails.
 */
int vg_auth_hash_password(const char *password, char **hash);

/**
 * Check @password against @hash (any method libxcrypt knows), comparing in
 * constant time.
 * @return 0 if it matches; -EACCES if it does not or @hash cannot match any
 *         password (a locked "!" or "*" entry); -EINVAL for an invalid
 *         password or an empty hash.
 */
int vg_auth_verify_password(const char *password, const char *hash);

/**
 * The NT hash of @password: MD4 of its UTF-16LE form, as lower-case hex.
 * Computed in a private OpenSSL library context with the default and legacy
 * providers loaded (OpenSSL 3 keeps MD4 in the legacy provider).
 * @return 0 and @out filled (VG_NT_HASH_LEN digits and a NUL; a secret:
 *         wipe it); -EINVAL for an invalid password; -ENOTSUP if the legacy
 *         provider cannot be loaded.
 */
int vg_auth_nt_hash(const char *password, char out[VG_NT_HASH_LEN + 1]);

/**
 * As vg_auth_nt_hash, of @password followed by one UTF-16 NUL: what FreeRDP
 * clients before 3.17 answer NTLM with for a password a Server Redirection
 * PDU gave them (they count its terminator in).
 */
int vg_auth_nt_hash_terminated(const char *password, char out[VG_NT_HASH_LEN + 1]);

/** Wipe and free a secret string (a hash, a password copy). NULL is fine. */
void vg_auth_secret_free(char *secret);

/**
 * Outcome of a login. Distinct for logs and the audit trail only: clients
 * must be told the same thing for every failure.
 */
typedef enum vg_auth_result {
    VG_AUTH_OK = 0,
    VG_AUTH_BAD_CREDENTIALS, /**< unknown user, wrong or invalid password */
    VG_AUTH_RATE_LIMITED,    /**< too many recent failures for the user or the address */
    VG_AUTH_DISABLED,        /**< right password, but the account is disabled */
} vg_auth_result;

/** "ok", "bad-credentials", "rate-limited" or "disabled", for logs and audit records. */
const char *vg_auth_result_name(vg_auth_result result);

/**
 * Decide a login by @user with @password from @addr at @now (monotonic
 * seconds, as for vg_ratelimit_check).
 *
 * Order: the rate limiter (@rl may be NULL for none); the user's record;
 * the password. An unknown user, an invalid name or an invalid password
 * still costs one yescrypt verification against a fixed dummy hash, so the
 * answer and its timing equal those of a wrong password. Wrong credentials
 * count as a failure in @rl; success clears the user's failures. A disabled
 * account is reported only after its password matched.
 *
 * @return 0 and *result set; -EIO if the store failed (no decision: refuse).
 */
int vg_auth_login(vg_store *store, vg_ratelimit *rl, const char *user, const char *password,
                  const char *addr, int64_t now, vg_auth_result *result);

/**
 * Authenticate a system account through PAM service @service
 * (/etc/pam.d/<service>), then check the account (expiry, access rules).
 * A conversation function answers password prompts with @password and
 * other prompts with @user. PAM's own fail delay is turned off: vmgate's
 * rate limiter is what slows guessing, and a sleeping thread per failure
 * would be cheap for an attacker to exhaust.
 * @return 0 if PAM accepted; -EACCES if it refused (unknown user, wrong
 *         password, expired account); -EINVAL for a bad argument; -EIO for
 *         any other PAM failure (logged).
 */
int vg_auth_pam(const char *service, const char *user, const char *password);

#endif /* VG_AUTH_H */
