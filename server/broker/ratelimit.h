/*
 * vmgate — failed-login rate limiter.
 *
 * Failures are counted per user name and per source address separately:
 * max_failures failures of one key within `window` seconds lock that key
 * out for `lockout` seconds. A login is refused while either its user or its
 * address is locked out, so guessing one user's password from many
 * addresses and guessing many users' passwords from one address are both
 * slowed down. A success clears the user's counter (not the address's).
 *
 * Addresses are grouped the way attackers get them: the port of a peer
 * string ("192.0.2.1:40000", "[2001:db8::1]:3389", as the front ends name
 * peers) is dropped, an IPv6 address counts as its /64 prefix, an
 * IPv4-mapped IPv6 address as the IPv4 address; any other string (a UNIX
 * socket peer, say) is taken as it is.
 *
 * Time is passed in by the caller (@now, seconds on a monotonic clock such
 * as vg_now_us() / 1000000), which is how tests inject a clock.
 *
 * Memory is bounded: at most max_entries keys are tracked. When the table is
 * full after dropping expired keys, a new key takes the place of the key
 * with the fewest failures in the window (the oldest of those), never of a
 * key that is locked out: a flood of new addresses can only push out keys
 * with as few failures as its own, not an offender close to a lockout, and
 * cannot lift a lockout. Only when every tracked key is locked out are
 * failures of new keys not recorded (failing closed would let anyone with
 * many addresses lock every user out).
 *
 * Threading: all functions may be called from any thread; the limiter has
 * its own mutex.
 */
#ifndef VG_RATELIMIT_H
#define VG_RATELIMIT_H

#include <stdint.h>

#define VG_RATELIMIT_DEFAULT_MAX_FAILURES 5
#define VG_RATELIMIT_DEFAULT_WINDOW       300
#define VG_RATELIMIT_DEFAULT_LOCKOUT      300
#define VG_RATELIMIT_DEFAULT_MAX_ENTRIES  65536

typedef struct vg_ratelimit vg_ratelimit;

typedef struct vg_ratelimit_config {
    unsigned max_failures; /**< failures that lock a key out, 1..1000 (default 5) */
    int64_t window;        /**< seconds in which they must fall, 1..86400 (default 300) */
    int64_t lockout;       /**< seconds a key stays locked out, 1..86400 (default 300) */
    unsigned max_entries;  /**< keys tracked at most, >= 16 (default 65536) */
} vg_ratelimit_config;

/** Fill @cfg with the defaults above. */
void vg_ratelimit_config_defaults(vg_ratelimit_config *cfg);

/**
 * Create a limiter; @cfg NULL means the defaults.
 * @return 0 and *out set (free with vg_ratelimit_free); -EINVAL for a value
 *         out of range.
 */
int vg_ratelimit_new(const vg_ratelimit_config *cfg, vg_ratelimit **out);

/**
 * Change the limits of a running limiter (a reload), keeping what it counted:
 * a key's failures still in the window count against the new limit (at most
 * one short of it), and lockouts already running end when they were due.
 * cfg->max_entries is not changed. @return 0 or -EINVAL (nothing changed).
 */
int vg_ratelimit_reconfigure(vg_ratelimit *rl, const vg_ratelimit_config *cfg);

/** Free a limiter. NULL is fine. */
void vg_ratelimit_free(vg_ratelimit *rl);

/**
 * Whether a login by @user from @addr may be tried at @now. Either may be
 * NULL (not checked).
 * @return 0 if allowed; -EAGAIN if the user or the address is locked out.
 */
int vg_ratelimit_check(vg_ratelimit *rl, const char *user, const char *addr, int64_t now);

/** Record a failed login by @user from @addr (either may be NULL) at @now. */
void vg_ratelimit_fail(vg_ratelimit *rl, const char *user, const char *addr, int64_t now);

/**
 * Called once each time a key is locked out: @kind is "user" or "address",
 * @what the user name or the address as counted (no port; an IPv6 address as
 * "prefix/64"), @seconds the lockout. Called from vg_ratelimit_fail's
 * thread, after the limiter's lock is released.
 */
typedef void (*vg_ratelimit_lockout_fn)(void *opaque, const char *kind, const char *what,
                                        int64_t seconds);

/** Set (or with NULL clear) the lockout callback. Call before sharing @rl between threads. */
void vg_ratelimit_set_lockout_fn(vg_ratelimit *rl, vg_ratelimit_lockout_fn fn, void *opaque);

/** Record a successful login: clears @user's failures and lockout. NULL is ignored. */
void vg_ratelimit_success(vg_ratelimit *rl, const char *user);

/** How many user names and how many addresses are locked out at @now (bounded by max_entries). */
void vg_ratelimit_locked_out(vg_ratelimit *rl, int64_t now, unsigned *users, unsigned *addresses);

#endif /* VG_RATELIMIT_H */
