/* Smart lockout: the bridge stops checking a user's password before AD
 * would lock the account out, so wrong passwords sprayed through the cloud
 * cannot lock users out of their desktops — across every bridge instance,
 * restarts, and typos made elsewhere.
 *
 * Two layers, both keyed by the user's SID:
 *
 *  1. AD's own count.  Before each check the caller reads the user's
 *     badPwdCount, badPasswordTime and lockoutTime on the PDC emulator
 *     (adb_lockout_state_from_entry).  AD is then the state N instances
 *     share: while the count (decayed by AD's observation window) is at
 *     least AD's threshold minus the margin, no check goes to a KDC.
 *  2. This process's count, the way AD counts badPwdCount: a failure more
 *     than the window after the previous one starts the count again; a
 *     right password resets it.  At most one check per user is in flight
 *     in this process; a check that finds one in flight waits for it to
 *     end (up to its deadline), then reads AD's count again.
 *
 * A wrong password repeated (a client retrying a stale saved password) is
 * answered from memory: a keyed hash (random per-process key; never the
 * password) of the last few wrong passwords per user, with the pwdLastSet
 * seen, kept for the observation window and dropped when pwdLastSet
 * changes.
 *
 * The limit: AD's threshold minus the margin (default 2), or the
 * configured threshold when lower; 0 (every check refused) when AD's
 * threshold is not above the margin.  When AD never locks out
 * (lockoutThreshold 0): the configured threshold, else threshold_no_ad.
 * When AD's policy is unknown (the user's password settings object cannot
 * be read by the machine account, as AD's default permissions have it):
 * threshold_unknown, 1 unless configured — one wrong password per window.
 *
 * State is in memory, bounded: the least recently used user is forgotten
 * when max_users is reached.  Keys are hashed, so memory per user is fixed
 * and no names are kept.  Thread-safe. */
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
    long duration_s;      /* lockoutDuration, seconds; -1: until an admin unlocks */
    bool pso_unreadable;  /* a PSO applies whose settings the machine account may not read */
} adb_lockout_ad_policy;

/* What AD says about one user's failed logons (read on the PDC emulator). */
typedef struct adb_lockout_ad_state {
    bool known;                 /* false: not read */
    unsigned bad_pwd_count;     /* badPwdCount as stored (not yet decayed) */
    time_t bad_password_time;   /* badPasswordTime; 0: never */
    time_t lockout_time;        /* lockoutTime; 0: not locked */
    int64_t pwd_last_set;       /* pwdLastSet (FILETIME): which password the account has */
} adb_lockout_ad_state;

typedef struct adb_lockout_options {
    unsigned threshold;         /* this process's limit; 0: AD's threshold - margin */
    unsigned margin;            /* 0: 2 */
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

enum { ADB_LOCKOUT_TAG_BYTES = 16 };

/* The keyed hash of a password for user, to recognise it when repeated. */
void adb_lockout_tag(const adb_lockout *lo, const char *user, const void *pw, size_t len,
                     unsigned char tag[ADB_LOCKOUT_TAG_BYTES]);

typedef struct adb_lockout_check {
    const char *user;                    /* the key: the user's SID */
    const adb_lockout_ad_policy *policy; /* AD's policy; NULL: unknown */
    const adb_lockout_ad_state *ad;      /* AD's count; NULL: not read */
    const unsigned char *tag;            /* adb_lockout_tag of the password; NULL: none */
    int64_t wait_until_ms;               /* adb_mono_ms() until which to wait for checks in flight */
} adb_lockout_check;

typedef enum adb_lockout_verdict {
    ADB_LOCKOUT_GO = 0,        /* a slot is reserved: adb_lockout_end must follow exactly once */
    ADB_LOCKOUT_REFUSED,       /* failures (AD's or ours) reached the limit: locked_by_bridge */
    ADB_LOCKOUT_LOCKED_IN_AD,  /* AD has locked the account out: account_locked */
    ADB_LOCKOUT_REPEATED,      /* this wrong password was already refused: invalid_credentials */
    ADB_LOCKOUT_BUSY,          /* a check of this user stayed in flight until the deadline */
    ADB_LOCKOUT_RECHECK,       /* a slot is reserved, after waiting for a check in flight: read AD's
                                * count again and call adb_lockout_recheck */
} adb_lockout_verdict;

typedef struct adb_lockout_decision {
    adb_lockout_verdict verdict;
    unsigned failures;         /* counted now: the larger of AD's (decayed) and ours */
    bool failures_from_ad;     /* failures is AD's count */
    unsigned limit;            /* the bridge's limit for this user */
    unsigned margin;           /* kept below AD's threshold */
    unsigned in_flight;        /* checks of this user in flight in this process */
    time_t retry_at;           /* REFUSED, BUSY, LOCKED_IN_AD: when a check may succeed again (0: unknown) */
} adb_lockout_decision;

/* Before a check of a user's password.  One check per user is in flight
 * at a time in this process: with AD's count read before each one, N
 * instances can overshoot it by at most N - 1 (the margin's job).  A check
 * that finds another in flight waits for it until q->wait_until_ms (BUSY
 * after that), then gets RECHECK. */
adb_lockout_verdict adb_lockout_begin(adb_lockout *lo, const adb_lockout_check *q, adb_lockout_decision *out);

/* After RECHECK, with q->ad read again: GO (the slot stays reserved) or a
 * refusal (the slot is released). */
adb_lockout_verdict adb_lockout_recheck(adb_lockout *lo, const adb_lockout_check *q, adb_lockout_decision *out);

typedef enum adb_lockout_outcome {
    ADB_LOCKOUT_SUCCESS = 0,   /* right password: the count starts again */
    ADB_LOCKOUT_FAILURE,       /* wrong password: AD counted it too */
    ADB_LOCKOUT_NEUTRAL,       /* nothing AD counts (unknown user, DC unreachable, ...) */
} adb_lockout_outcome;

/* How a check's reason counts: ok -> success, invalid_credentials ->
 * failure, everything else neutral. */
adb_lockout_outcome adb_lockout_outcome_of(adb_auth_reason reason);

/* After a check that began with GO (q as given to adb_lockout_begin): a
 * failure remembers q->tag with q->ad's pwdLastSet. */
void adb_lockout_end(adb_lockout *lo, const adb_lockout_check *q, adb_lockout_outcome outcome);

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

/* The attributes adb_lockout_state_from_entry reads from a user entry. */
extern const char *const adb_lockout_state_attrs[];

/* badPwdCount, badPasswordTime, lockoutTime and pwdLastSet of a user
 * entry (missing values are 0, as AD leaves them unset until first used). */
void adb_lockout_state_from_entry(const adb_ldap_entry *e, adb_lockout_ad_state *out);

/* Reads the policy that applies to user_dn: its resultant PSO
 * (msDS-ResultantPSO) when there is one, else the domain object at
 * domain_dn (user_dn may be NULL: the domain's).  A PSO the machine account
 * may not read gives ADB_OK with known = false and pso_unreadable (grant the
 * machine account read access to CN=Password Settings Container for the
 * precise policy). */
adb_code adb_lockout_read_policy(adb_ldap_conn *c, const char *domain_dn, const char *user_dn,
                                 adb_lockout_ad_policy *out, adb_error *err);

/* The same from a user entry already read with msDS-ResultantPSO (NULL:
 * the domain's policy). */
adb_code adb_lockout_read_policy_of(adb_ldap_conn *c, const char *domain_dn, const adb_ldap_entry *user,
                                    adb_lockout_ad_policy *out, adb_error *err);

#endif
