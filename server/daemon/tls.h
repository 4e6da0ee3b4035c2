/*
 * vmgate — the TLS server context shared by the VNC and RDP front ends.
 *
 * A vg_tls holds one OpenSSL SSL_CTX built from vmgated's [tls] certificate
 * chain and key, configured the one way vmgate speaks TLS on every port
 * (base/tls-policy.h: TLS 1.2 or newer, ECDHE with AEAD, no
 * compression, renegotiation or tickets).
 *
 * Reloading (SIGHUP) builds a whole new SSL_CTX and swaps it in: connections
 * accepted afterwards get the new certificate, while SSL objects made before
 * keep a reference to the old context and finish with it. A reload that
 * fails changes nothing.
 *
 * Threading: every function may be called from any thread. The current
 * context is swapped under the vg_tls's own mutex; SSL_CTX reference counts
 * keep a context alive for as long as any caller or SSL object holds it.
 */
#ifndef VG_TLS_H
#define VG_TLS_H

#include <openssl/ssl.h>

/** Size of a fingerprint buffer: 32 bytes as "AB:CD:…", 95 characters and a NUL. */
#define VG_TLS_FINGERPRINT_SIZE 96

typedef struct vg_tls vg_tls;

/**
 * Build a TLS server context from the PEM certificate chain @cert_path
 * (server certificate first, then intermediates) and the PEM private key
 * @key_path. Encrypted keys are refused rather than prompted for.
 * @return 0 and *out set (free with vg_tls_free); on failure a negative
 *         errno (-ENOENT, -EACCES, ... when a file cannot be read; -EINVAL
 *         when its contents are not usable or the key does not match the
 *         certificate; -ENOMEM) and *error set to a message naming the file
 *         and OpenSSL's reason (g_free it). @error may be NULL.
 */
int vg_tls_new(const char *cert_path, const char *key_path, vg_tls **out, char **error);

/**
 * Load @cert_path and @key_path again into a new context and make it the
 * current one. SSL objects created before keep their old context.
 * @return 0; or, leaving the current context in force, a negative errno and
 *         *error set as for vg_tls_new (g_free it; @error may be NULL).
 */
int vg_tls_reload(vg_tls *tls, const char *cert_path, const char *key_path, char **error);

/**
 * The current context, with a reference taken for the caller: pass it to
 * SSL_new() and then SSL_CTX_free() it (the SSL object holds its own
 * reference). Never NULL.
 */
SSL_CTX *vg_tls_get_ctx(vg_tls *tls);

/**
 * The SHA-256 fingerprint of the current leaf certificate, upper-case hex
 * bytes separated by colons (as `openssl x509 -fingerprint -sha256` prints
 * it), for logs.
 */
void vg_tls_fingerprint(vg_tls *tls, char out[VG_TLS_FINGERPRINT_SIZE]);

/** Free a vg_tls. Contexts still referenced elsewhere live on. NULL is fine. */
void vg_tls_free(vg_tls *tls);

/**
 * A client context for connecting to another instance: the TLS policy,
 * and the peer's certificate checked against the CA certificates in @ca
 * (the caller names the host to check with SSL_set1_host or the IP
 * parameter). Logs why when it cannot.
 * @return the context (SSL_CTX_free it), or NULL.
 */
SSL_CTX *vg_tls_client_ctx_new(const char *ca);

#endif /* VG_TLS_H */
