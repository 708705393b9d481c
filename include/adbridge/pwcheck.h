/* Password verification with Kerberos (MIT krb5), and why a check failed.
 *
 * A check is an AS exchange for the user (krb5_init_creds_*: no prompter,
 * no password change, no credential cache anywhere), armored with FAST
 * (RFC 6113) by the machine's TGT: the KDC's reply and errors are then
 * encrypted under the armor key, which only a KDC holding the krbtgt key can
 * derive, so a spoofed KDC can never make a wrong password pass, and no
 * further round trip is needed.  Where armoring is not possible (a KDC
 * without FAST, no machine TGT, no cross-realm armor ticket) -- found out
 * before any password-derived data is sent -- the exchange runs unarmored
 * and is followed by krb5_verify_init_creds against the host keytab with
 * ap_req_nofail: the user's TGT gets a ticket for the bridge's own service
 * principal, which must decrypt with the keytab's key.  Either way the
 * check fails closed.
 *
 * Names: a UPN ("alice@adb.test") is sent as an enterprise principal with
 * canonicalization, so the KDC finds the account by UPN and refers the
 * client to the right realm (another domain or a trusted forest); a bare
 * name ("alice") is the sAMAccountName in the machine's realm.  DOMAIN\name
 * is mapped by the directory lookup first (not here).
 *
 * Reasons: from the krb5 error and, where the KDC sends one, the NTSTATUS
 * in the KRB-ERROR's e-data (AD and Samba put it in a PA-PW-SALT entry);
 * where neither tells (e.g. Samba sends no NTSTATUS for a locked account),
 * the result asks for the account's state from the directory
 * (needs_account_state) and adb_pwcheck_resolve finishes the job.
 *
 * KDCs: the krb5 library's own selection (krb5.conf, DNS SRV), or an
 * explicit list per realm (options.kdcs, adb_pwcheck_set_kdcs: e.g. from the
 * locator's _kerberos._tcp answer).  Each check runs in its own krb5 context built on
 * an in-memory overlay of the configuration (a profile vtable): the overlay
 * replaces [realms] REALM kdc with the explicit list and turns
 * kdc_timesync off, so a skewed clock is reported (clock_skew) instead of
 * silently adopted from the KDC's answer.  No file is written.
 *
 * The password: the caller's secret (secmem.h) is passed to krb5, which
 * keeps one heap copy for the exchange and wipes it (zapfree) in
 * krb5_init_creds_free; derived keys are wiped by krb5 too, and so is an
 * early check's key derived ahead (its own copy and the MEMORY keytab's)
 * when the check ends.  The password never reaches an error message, a
 * log line or the result.
 *
 * Thread-safe: checks run concurrently, each on its own krb5 context. */
#ifndef ADBRIDGE_PWCHECK_H
#define ADBRIDGE_PWCHECK_H

#include <adbridge/error.h>
#include <adbridge/krb.h>
#include <adbridge/ldap_conn.h>
#include <adbridge/secmem.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* The outcome of a check.  Zero is "no result" so that a zeroed or
 * unfilled result is never mistaken for ok. */
typedef enum adb_auth_reason {
    ADB_AUTH_NONE = 0,               /* no result (an error was returned) */
    ADB_AUTH_OK,
    ADB_AUTH_INVALID_CREDENTIALS,    /* wrong password */
    ADB_AUTH_UNKNOWN_USER,
    ADB_AUTH_ACCOUNT_DISABLED,
    ADB_AUTH_ACCOUNT_LOCKED,         /* locked out by AD */
    ADB_AUTH_ACCOUNT_EXPIRED,
    ADB_AUTH_PASSWORD_EXPIRED,
    ADB_AUTH_PASSWORD_MUST_CHANGE,
    ADB_AUTH_CLOCK_SKEW,
    ADB_AUTH_DC_UNAVAILABLE,
    ADB_AUTH_ACCOUNT_RESTRICTED,     /* logon hours, workstations, or refused for a reason neither the KDC nor the directory tells */
    ADB_AUTH_LOCKED_BY_BRIDGE,       /* refused by the bridge's smart lockout (lockout.h), never by adb_pwcheck */
    ADB_AUTH_REASON_COUNT_
} adb_auth_reason;

/* Stable snake_case name ("invalid_credentials"); "none" for ADB_AUTH_NONE. */
const char *adb_auth_reason_name(adb_auth_reason r);

typedef struct adb_pwcheck adb_pwcheck;

typedef struct adb_pwcheck_options {
    /* Service principal whose keytab key verifies the KDC's answer.  NULL:
     * the keytab's host/FQDN@REALM of the machine's realm, else the machine
     * principal itself. */
    const char *verify_principal;
    /* Realm of bare names and of enterprise principals (where the KDC
     * starts).  NULL: the machine's realm. */
    const char *realm;
    /* Explicit KDCs ("host" or "host:port") for `realm`, NULL-terminated;
     * NULL: krb5.conf / DNS.  More realms: adb_pwcheck_set_kdcs. */
    const char *const *kdcs;
    /* true: never armor the exchange (a KDC whose FAST is broken); every
     * answer is then verified with a service ticket.  false: armor where
     * the KDC and the machine TGT allow it. */
    bool unarmored;
} adb_pwcheck_options;

/* Uses the machine's keytab, principal and realm (adb_krb_keytab,
 * adb_krb_principal, adb_krb_realm); contacts no KDC.  machine must outlive
 * the checker.  keytab_error: the keytab has no key for the verification
 * principal. */
adb_code adb_pwcheck_new(adb_krb *machine, const adb_pwcheck_options *opts, adb_pwcheck **out,
                         adb_error *err);
void adb_pwcheck_free(adb_pwcheck *pc);

/* Replaces the KDCs used for realm with kdcs ("host" or "host:port",
 * NULL-terminated, e.g. the locator's _kerberos._tcp answer, best first);
 * NULL or empty: back to krb5.conf / DNS.  Takes effect at the next KDC
 * lookup of any check (also for referrals to that realm).  Up to 32 realms. */
adb_code adb_pwcheck_set_kdcs(adb_pwcheck *pc, const char *realm, const char *const *kdcs, adb_error *err);

/* The principal used to verify the KDC's answers ("host/x.adb.test@ADB.TEST"). */
const char *adb_pwcheck_verify_principal(const adb_pwcheck *pc);

enum { ADB_PWCHECK_USER_MAX = 512, ADB_PWCHECK_PASSWORD_MAX = 1024 };

typedef struct adb_pwcheck_result {
    adb_auth_reason reason;
    /* true when reason is provisional because the KDC did not say why
     * (client revoked, or key expired, without an NTSTATUS): read the
     * account (adb_account_state_read) and call adb_pwcheck_resolve. */
    bool needs_account_state;
    long krb5_code;              /* error of the AS exchange or verification; 0 on ok */
    uint32_t ntstatus;           /* NTSTATUS from the KDC's e-data; 0: none */
    char principal[ADB_PWCHECK_USER_MAX + 64];   /* canonical client principal (ok only) */
    char realm[256];             /* realm that answered last (after referrals) */
    char kdc[64];                /* address of the KDC that answered last */
    bool armored;                /* ok through FAST; false: verified with a service ticket */
    bool key_ahead;              /* an early check's key was derived before the go (its guess was right) */
} adb_pwcheck_result;

/* Checks user's password.  ADB_OK with out->reason set for every outcome
 * listed in adb_auth_reason (dc_unavailable and clock_skew included; err is
 * cleared, except that dc_unavailable leaves the KDCs tried in its message);
 * otherwise an error and out->reason = ADB_AUTH_NONE: invalid_request (empty
 * or malformed user, DOMAIN\name, empty password or one with a NUL byte),
 * keytab_error / kerberos_error (the KDC's answer could not be verified
 * with the host keytab: the check fails closed; or another krb5 failure,
 * with its message). */
adb_code adb_pwcheck_password(adb_pwcheck *pc, const char *user, const adb_secret *password,
                              adb_pwcheck_result *out, adb_error *err);

/* A check begun before the caller knows whether it may run: krb5's set-up
 * for it starts at once on a thread of its own, so that it overlaps the
 * caller's reads of the account and its lockout state, and so does the
 * derivation of the user's key under the salt AD most likely gives (two
 * such checks at a time, twenty a second; the key krb5 uses is always the
 * one for the KDC's own salt).  Nothing is sent to a KDC until adb_pwcheck_finish says
 * go.  The password is copied (and wiped when the check ends). */
typedef struct adb_pwcheck_early adb_pwcheck_early;
adb_code adb_pwcheck_begin(adb_pwcheck *pc, const char *user, const adb_secret *password, adb_pwcheck_early **out,
                           adb_error *err);

/* go: lets the check prove the password and waits for its outcome, as
 * adb_pwcheck_password returns it.  !go: cancels it (returns ADB_OK at once;
 * the thread ends by itself, having sent nothing to a KDC; out and
 * err are untouched).  Either way e is gone.  NULL e: nothing to do. */
adb_code adb_pwcheck_finish(adb_pwcheck_early *e, bool go, adb_pwcheck_result *out, adb_error *err);

/* ---- reasons ---- */

/* NTSTATUS values AD's KDC sends in e-data. */
#define ADB_NTSTATUS_WRONG_PASSWORD 0xC000006Au
#define ADB_NTSTATUS_NO_SUCH_USER 0xC0000064u
#define ADB_NTSTATUS_ACCOUNT_RESTRICTION 0xC000006Eu
#define ADB_NTSTATUS_INVALID_LOGON_HOURS 0xC000006Fu
#define ADB_NTSTATUS_INVALID_WORKSTATION 0xC0000070u
#define ADB_NTSTATUS_PASSWORD_EXPIRED 0xC0000071u
#define ADB_NTSTATUS_ACCOUNT_DISABLED 0xC0000072u
#define ADB_NTSTATUS_ACCOUNT_EXPIRED 0xC0000193u
#define ADB_NTSTATUS_PASSWORD_MUST_CHANGE 0xC0000224u
#define ADB_NTSTATUS_ACCOUNT_LOCKED_OUT 0xC0000234u

/* The reason for a krb5 error code (from the AS exchange) and the NTSTATUS
 * of its e-data (0: none).  *needs_state (may be NULL) is set when the
 * reason is provisional (see adb_pwcheck_result).  ADB_AUTH_NONE: the code
 * is not an outcome but a failure (the caller reports an error). */
adb_auth_reason adb_pwcheck_reason(long krb5_code, uint32_t ntstatus, bool *needs_state);

/* Finds the NTSTATUS in a KRB-ERROR's e-data: METHOD-DATA (a sequence of
 * PA-DATA) or a single KERB-ERROR-DATA, entry type 3 (PA-PW-SALT /
 * KERB_ERR_TYPE_EXTENDED) whose value is 12 bytes, the first 4 the status
 * little-endian.  false when absent or malformed (untrusted input: every
 * length is checked). */
bool adb_pwcheck_edata_ntstatus(const void *edata, size_t len, uint32_t *ntstatus);

/* ---- the account's state, to tell revoked and expired cases apart ---- */

#define ADB_UAC_ACCOUNTDISABLE 0x0002u
#define ADB_UAC_LOCKOUT 0x0010u
#define ADB_UAC_PASSWORD_EXPIRED 0x800000u

typedef struct adb_account_state {
    uint32_t uac;                 /* userAccountControl */
    bool has_uac_computed;
    uint32_t uac_computed;        /* msDS-User-Account-Control-Computed (base reads only) */
    int64_t lockout_time;         /* lockoutTime, FILETIME; 0: not locked */
    int64_t account_expires;      /* accountExpires, FILETIME; 0 or INT64_MAX: never */
    bool has_pwd_last_set;
    int64_t pwd_last_set;         /* pwdLastSet, FILETIME; 0: must change at next logon */
} adb_account_state;

/* Decodes the attributes from an entry (userAccountControl is required). */
adb_code adb_account_state_from_entry(const adb_ldap_entry *e, adb_account_state *out, adb_error *err);

/* Reads a user's state through c.  user: a DN, a UPN (has '@') or a
 * sAMAccountName; base_dn: where to search for the latter two (NULL: the
 * DC's defaultNamingContext).  dn_out (may be NULL) gets the user's DN
 * (malloc'd).  not_found, ambiguous, ldap_error. */
adb_code adb_account_state_read(adb_ldap_conn *c, const char *base_dn, const char *user, adb_account_state *out,
                                char **dn_out, adb_error *err);

/* The reason a provisional one stands for, given the account's state:
 * revoked -> account_disabled, account_locked or account_expired (checked
 * in that order; now for accountExpires), else account_restricted;
 * key expired -> password_must_change when pwdLastSet is 0, else
 * password_expired.  Other reasons are returned unchanged. */
adb_auth_reason adb_account_state_reason(adb_auth_reason provisional, const adb_account_state *st, time_t now);

/* Applies adb_account_state_reason to a result that needs it. */
void adb_pwcheck_resolve(adb_pwcheck_result *r, const adb_account_state *st, time_t now);

#endif
