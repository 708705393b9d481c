/* Smart lockout: the bridge stops checking a user's password before AD
 * would lock the account out, so wrong passwords sprayed through the cloud
 * cannot lock users out of their desktops.
 *
 * Per user the bridge counts failed checks the way AD counts badPwdCount: a
 * failure more than the observation window after the previous one starts
 * the count again.  Once the count (plus checks in flight) reaches the
 * bridge's threshold, further checks are refused (locked_by_bridge) until
 * the window has passed since the last failure.  A correct password resets
 * the count.
 *
 * The bridge's threshold: the configured one, else min(AD - 2, 3); never
 * more than AD - 1 and never less than 1.  When AD never locks out
 * (lockoutThreshold 0): the configured one, else threshold_no_ad.  When AD's
 * policy is unknown (not read, or the user's password settings object
 * cannot be read by the machine account, as AD's default permissions have
 * it): threshold_unknown, 1 unless configured, since AD's threshold could be
 * anything.
 *
 * State is in memory, per instance, bounded: the least recently used user
 * is forgotten when max_users is reached.  Users are keyed by a keyed hash of
 * the name given (ASCII case-insensitive), so memory per user is fixed and
 * names are not kept.  Thread-safe. */
#ifndef ADBRIDGE_LOCKOUT_H
#define ADBRIDGE_LOCKOUT_H

#include <adbridge/clock.h>
#include <adbridge/error.h>
#include <adbridge/ldap_conn.h>
#include <adbridge/pwcheck.h>

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

typedef struct adb_lockout adb_lockout;

/* AD's lockout policy for one user: the domain's, or its PSO's. */
typedef struct adb_lockout_ad_policy {
    bool known;           /* false: not read (the bridge's defaults apply) */
    unsigned threshold;   /* lockoutThreshold; 0: AD never locks the account out */
    long window_s;        /* lockOutObservationWindow, seconds */
    bool pso_unreadable;  /* a PSO applies whose settings the machine account may not read */
} adb_lockout_ad_policy;

typedef struct adb_lockout_options {
    unsigned threshold;         /* 0: min(AD - 2, 3) */
    unsigned threshold_no_ad;   /* when AD never locks out; 0: 5 */
    unsigned threshold_unknown; /* when AD's policy is unknown; 0: 1 */
    long window_s;              /* when AD's window is unknown or 0; 0: 1800 */
    size_t max_users;           /* 0: 65536 */
    adb_clock clock;
} adb_lockout_options;

adb_code adb_lockout_new(const adb_lockout_options *opts, adb_lockout **out, adb_error *err);
void adb_lockout_free(adb_lockout *lo);

/* The bridge's threshold and window for a user under AD policy ad (may be NULL). */
unsigned adb_lockout_threshold(const adb_lockout *lo, const adb_lockout_ad_policy *ad);
long adb_lockout_window(const adb_lockout *lo, const adb_lockout_ad_policy *ad);

/* Before a check of user's password.  true: go ahead; a slot is reserved
 * (it counts as a failure for concurrent checks) and adb_lockout_end must
 * follow exactly once.  false: refused; *retry_at (may be NULL) gets the
 * time from which a check will be allowed again. */
bool adb_lockout_begin(adb_lockout *lo, const char *user, const adb_lockout_ad_policy *ad, time_t *retry_at);

typedef enum adb_lockout_outcome {
    ADB_LOCKOUT_SUCCESS = 0,   /* right password: the count starts again */
    ADB_LOCKOUT_FAILURE,       /* wrong password: AD counted it too */
    ADB_LOCKOUT_NEUTRAL,       /* nothing AD counts (unknown user, DC unreachable, ...) */
} adb_lockout_outcome;

/* How a check's reason counts: ok -> success, invalid_credentials ->
 * failure, everything else neutral. */
adb_lockout_outcome adb_lockout_outcome_of(adb_auth_reason reason);

void adb_lockout_end(adb_lockout *lo, const char *user, adb_lockout_outcome outcome);

/* Failures counted for user now (0 when unknown or the window passed), and
 * the time of the last one. */
unsigned adb_lockout_failures(adb_lockout *lo, const char *user, const adb_lockout_ad_policy *ad,
                              time_t *last_failure);

/* Users tracked (at most max_users). */
size_t adb_lockout_size(adb_lockout *lo);

/* ---- AD's policy from the directory ---- */

/* From the domain object (lockoutThreshold, lockOutObservationWindow) or a
 * password settings object (msDS-LockoutThreshold,
 * msDS-LockoutObservationWindow); windows are negative 100 ns intervals.
 * protocol_error: values missing or malformed. */
adb_code adb_lockout_policy_from_entry(const adb_ldap_entry *e, adb_lockout_ad_policy *out, adb_error *err);

/* Reads the policy that applies to user_dn: its resultant PSO
 * (msDS-ResultantPSO) when there is one, else the domain object at
 * domain_dn (user_dn may be NULL: the domain's).  A PSO the machine account
 * may not read gives ADB_OK with known = false and pso_unreadable (grant the
 * machine account read access to CN=Password Settings Container for the
 * precise policy). */
adb_code adb_lockout_read_policy(adb_ldap_conn *c, const char *domain_dn, const char *user_dn,
                                 adb_lockout_ad_policy *out, adb_error *err);

#endif
