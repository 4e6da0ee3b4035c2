/*
 * vmgate — password hashes, NT hashes and the login decision (see auth.h).
 *
 * Threading: no shared state except the OpenSSL context for MD4, which is
 * created once (g_once) and only read afterwards.
 */
#include "auth.h"

#include <crypt.h>
#include <errno.h>
#include <string.h>

#include <glib.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/provider.h>

#include "log.h"

#define TAG "auth"

_Static_assert(VG_PASSWORD_MAX < CRYPT_MAX_PASSPHRASE_SIZE, "crypt(3) must accept every password");

/*
 * The hash an unknown user is checked against. Made once with libxcrypt's
 * default yescrypt cost ("j9T") from a random password nobody kept: its only
 * job is to cost what a real check costs. If the default cost of new hashes
 * ever changes, regenerate it with the same parameters.
 */
static const char dummy_hash[] =
    "$y$j9T$r64v1BSHU.vT7aYQa9hoT1$jQCH0chzQlCFW/8kGObJi2eOoi.LoGfpG6JDGLcPKTB";

bool vg_auth_password_valid(const char *password)
{
    size_t len;

    if (!password)
        return false;
    len = strnlen(password, VG_PASSWORD_MAX + 1);
    return len >= 1 && len <= VG_PASSWORD_MAX && g_utf8_validate(password, (gssize)len, NULL);
}

void vg_auth_secret_free(char *secret)
{
    if (secret) {
        OPENSSL_cleanse(secret, strlen(secret));
        g_free(secret);
    }
}

int vg_auth_hash_password(const char *password, char **hash)
{
    char salt[CRYPT_GENSALT_OUTPUT_SIZE];
    struct crypt_data *data;
    const char *out;
    int r = 0;

    if (!vg_auth_password_valid(password) || !hash)
        return -EINVAL;
    /* Count 0: libxcrypt's default cost; NULL random bytes: it reads the OS's generator. */
    if (!crypt_gensalt_rn("$y$", 0, NULL, 0, salt, sizeof(salt))) {
        vg_warning(TAG, "crypt_gensalt: %s", g_strerror(errno));
        return -EIO;
    }
    data = g_new0(struct crypt_data, 1);
    out = crypt_r(password, salt, data);
    if (!out || out[0] == '*') {
        vg_warning(TAG, "crypt: yescrypt hashing failed");
        r = -EIO;
    } else {
        *hash = g_strdup(out);
    }
    OPENSSL_cleanse(data, sizeof(*data));
    g_free(data);
    return r;
}

/* One crypt_r check without input validation: used for the dummy checks too. */
static int verify_raw(const char *password, const char *hash)
{
    struct crypt_data *data = g_new0(struct crypt_data, 1);
    const char *out;
    size_t len = strlen(hash);
    int r = -EACCES;

    out = crypt_r(password, hash, data);
    /* Failure tokens start with '*'; a stored "*" or "!" entry matches nothing. */
    if (out && out[0] != '*' && hash[0] != '*' && hash[0] != '!' && strlen(out) == len &&
        CRYPTO_memcmp(out, hash, len) == 0)
        r = 0;
    OPENSSL_cleanse(data, sizeof(*data));
    g_free(data);
    return r;
}

int vg_auth_verify_password(const char *password, const char *hash)
{
    if (!vg_auth_password_valid(password) || !hash || !*hash)
        return -EINVAL;
    return verify_raw(password, hash);
}

/* ---- NT hash ---- */

typedef struct md4_provider {
    OSSL_LIB_CTX *ctx;
    EVP_MD *md4;
} md4_provider;

/*
 * A private library context, so that loading the legacy provider does not
 * make legacy algorithms available to the TLS code, which uses the default
 * context.
 */
static gpointer md4_init(gpointer unused)
{
    static md4_provider p;

    p.ctx = OSSL_LIB_CTX_new();
    if (!p.ctx)
        return NULL;
    if (!OSSL_PROVIDER_load(p.ctx, "default") || !OSSL_PROVIDER_load(p.ctx, "legacy")) {
        vg_error(TAG, "cannot load OpenSSL's legacy provider: NT hashes (RDP NLA) unavailable");
        return NULL;
    }
    p.md4 = EVP_MD_fetch(p.ctx, "MD4", NULL);
    if (!p.md4) {
        vg_error(TAG, "OpenSSL has no MD4: NT hashes (RDP NLA) unavailable");
        return NULL;
    }
    return &p;
}

static int nt_hash(const char *password, bool terminated, char out[VG_NT_HASH_LEN + 1])
{
    static GOnce once = G_ONCE_INIT;
    static const char hex[] = "0123456789abcdef";
    md4_provider *p;
    gunichar2 *utf16;
    glong units = 0;
    unsigned char *le, md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    size_t bytes;
    int r = 0;

    if (!vg_auth_password_valid(password))
        return -EINVAL;
    p = g_once(&once, md4_init, NULL);
    if (!p)
        return -ENOTSUP;

    /* Characters beyond the BMP become surrogate pairs, as Windows does it. */
    utf16 = g_utf8_to_utf16(password, -1, NULL, &units, NULL);
    if (!utf16)
        return -EINVAL;
    bytes = (size_t)(units + (terminated ? 1 : 0)) * 2;
    le = g_malloc0(bytes ? bytes : 1); /* a terminator stays 0 */
    for (glong i = 0; i < units; i++) {
        le[2 * i] = (unsigned char)(utf16[i] & 0xff);
        le[2 * i + 1] = (unsigned char)(utf16[i] >> 8);
    }
    if (!EVP_Digest(le, bytes, md, &mdlen, p->md4, NULL) || mdlen != VG_NT_HASH_LEN / 2) {
        vg_warning(TAG, "MD4 digest failed");
        r = -EIO;
    } else {
        for (unsigned i = 0; i < mdlen; i++) {
            out[2 * i] = hex[md[i] >> 4];
            out[2 * i + 1] = hex[md[i] & 0xf];
        }
        out[VG_NT_HASH_LEN] = '\0';
    }
    OPENSSL_cleanse(md, sizeof(md));
    OPENSSL_cleanse(le, bytes);
    OPENSSL_cleanse(utf16, (size_t)units * 2);
    g_free(le);
    g_free(utf16);
    return r;
}

int vg_auth_nt_hash(const char *password, char out[VG_NT_HASH_LEN + 1])
{
    return nt_hash(password, false, out);
}

int vg_auth_nt_hash_terminated(const char *password, char out[VG_NT_HASH_LEN + 1])
{
    return nt_hash(password, true, out);
}

/* ---- login ---- */

static const char *const result_names[] = {
    [VG_AUTH_OK] = "ok",
    [VG_AUTH_BAD_CREDENTIALS] = "bad-credentials",
    [VG_AUTH_RATE_LIMITED] = "rate-limited",
    [VG_AUTH_DISABLED] = "disabled",
};

const char *vg_auth_result_name(vg_auth_result result)
{
    if ((int)result < 0 || (size_t)result >= sizeof(result_names) / sizeof(result_names[0]))
        return "?";
    return result_names[result];
}

int vg_auth_login(vg_store *store, vg_ratelimit *rl, const char *user, const char *password,
                  const char *addr, int64_t now, vg_auth_result *result)
{
    vg_store_user *u = NULL;
    bool inputs_ok, match;
    int r;

    if (!store || !result)
        return -EINVAL;
    if (rl && vg_ratelimit_check(rl, user, addr, now) < 0) {
        /* Refused without looking, but in the time a check takes: the
         * answer's timing must not tell a prober that the lockout hit. */
        (void)verify_raw("-", dummy_hash);
        *result = VG_AUTH_RATE_LIMITED;
        return 0;
    }

    inputs_ok = vg_name_valid(user) && vg_auth_password_valid(password);
    if (inputs_ok) {
        r = vg_store_user_get(store, user, &u);
        if (r < 0 && r != -ENOENT)
            return r;
    }
    /*
     * Exactly one yescrypt check on every path, so that an unknown user or
     * an invalid input answers like a wrong password, in the same time.
     */
    if (u) {
        match = verify_raw(password, u->password_hash) == 0;
    } else {
        (void)verify_raw(inputs_ok ? password : "-", dummy_hash);
        match = false;
    }

    if (!match) {
        if (rl)
            vg_ratelimit_fail(rl, user, addr, now);
        *result = VG_AUTH_BAD_CREDENTIALS;
    } else if (u->disabled) {
        *result = VG_AUTH_DISABLED;
    } else {
        if (rl)
            vg_ratelimit_success(rl, user);
        *result = VG_AUTH_OK;
    }
    vg_store_user_free(u);
    return 0;
}
