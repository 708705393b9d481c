/* Password checks as the cloud and the CLI ask them: one straight-line
 * function that opens the sealed credential, finds the user, applies the
 * bridge's smart lockout, runs the Kerberos check against the KDCs the
 * locator names, tells the precise reason, and optionally returns the user
 * and its groups.
 *
 * Order of a check (nothing after a refusal runs):
 *   1. the credential: this instance's sealed copy (keystore.h), or a
 *      plaintext password only when the configuration allows it
 *      (auth.allow_plaintext_password); key_unknown without contacting AD;
 *   2. the user, through the directory (an unknown user is the result
 *      unknown_user, and no KDC is asked, so a guessed name costs nothing
 *      against AD);
 *   3. one read of the account on its domain's PDC emulator (the closest
 *      DC when the PDC cannot be reached, logged as pdc_unreachable): what
 *      it is, AD's badPwdCount / badPasswordTime / lockoutTime, and the
 *      lockout policy (domain or PSO) that applies;
 *   4. accounts never checked (restricted.h): account_restricted;
 *   5. smart lockout (lockout.h): locked_by_bridge with retry_at when AD's
 *      count or this process's is at the limit, account_locked when AD has
 *      locked it, invalid_credentials for a wrong password already refused
 *      in the window — none of them contacts a KDC;
 *   6. the Kerberos AS exchange verified with the host keytab (pwcheck.h),
 *      KDCs from the locator, the PDC emulator first;
 *   7. where the KDC's answer is ambiguous, the account's state read as the
 *      machine account;
 *   8. on ok, when asked, the user's groups (adb_dir_groups_of).
 * The password is wiped as soon as the KDC has answered.
 *
 * Thread-safe: checks run concurrently on worker threads. */
#ifndef ADBRIDGE_AUTH_H
#define ADBRIDGE_AUTH_H

#include <adbridge/clock.h>
#include <adbridge/config.h>
#include <adbridge/directory.h>
#include <adbridge/error.h>
#include <adbridge/keystore.h>
#include <adbridge/lockout.h>
#include <adbridge/log.h>
#include <adbridge/object.h>
#include <adbridge/pwcheck.h>
#include <adbridge/secmem.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

typedef struct adb_auth adb_auth;

/* dir and ks must outlive the checker; ks may be NULL (then only plaintext
 * passwords can be checked: the CLI).  Reads cfg->auth. */
adb_code adb_auth_new(adb_dir *dir, adb_keystore *ks, const adb_config *cfg, const adb_logger *log, adb_auth **out,
                      adb_error *err);
void adb_auth_free(adb_auth *a);

/* The clock of smart lockout (tests); call before the first check. */
adb_code adb_auth_set_clock(adb_auth *a, adb_clock clock, adb_error *err);

typedef struct adb_auth_request {
    const char *user;                 /* UPN, sAMAccountName or DOMAIN\name */
    const char *domain;               /* qualifies a bare name; may be NULL */
    const adb_sealed_copy *sealed;    /* one copy per registered instance */
    size_t n_sealed;
    const adb_secret *password;       /* plaintext instead of sealed (CLI; or allowed by config) */
    bool plaintext_from_wire;         /* password came in a message: refused unless allowed */
    bool include_groups;              /* on ok: the user's groups in result.groups */
    int64_t deadline_ms;              /* Unix ms by which to answer; 0: none (waits for checks in flight are bounded) */
} adb_auth_request;

typedef struct adb_auth_result {
    adb_auth_reason reason;
    time_t retry_at;                  /* locked_by_bridge: when a check is allowed again */
    char key_id[ADB_KEY_ID_SIZE];     /* the key that opened the copy ("" for plaintext) */
    adb_object *user;                 /* the user when found (a reference) */
    adb_object_list groups;           /* on ok with include_groups */
    adb_pwcheck_result kerberos;      /* the KDC's side (realm, kdc, krb5 code, ntstatus) */
    char detail[ADB_ERROR_MESSAGE_MAX]; /* why, for an admin (never the password) */
} adb_auth_result;

void adb_auth_result_clear(adb_auth_result *r);

/* ADB_OK with out->reason set for every outcome of adb_auth_reason;
 * otherwise an error: invalid_request (malformed request, a plaintext
 * password the configuration does not allow, a copy that does not open),
 * key_unknown (no copy for this instance), ambiguous (the name is in
 * several domains), domain_not_enabled, keytab_error / kerberos_error (the
 * KDC's answer could not be verified: fails closed). */
adb_code adb_auth_check(adb_auth *a, const adb_auth_request *req, adb_auth_result *out, adb_error *err);

typedef struct adb_auth_stats {
    unsigned long checks, ok, failed, locked_by_bridge, restricted, errors;
    size_t lockout_users;
} adb_auth_stats;

void adb_auth_stats_get(adb_auth *a, adb_auth_stats *out);

#endif
