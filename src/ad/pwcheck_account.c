/* The account's state from the directory, and the reason it gives where
 * the KDC did not say why a check failed (see include/adbridge/pwcheck.h). */
#include "config.h"

#include <adbridge/dn.h>
#include <adbridge/filter.h>
#include <adbridge/pwcheck.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FILETIME_UNIX_EPOCH 116444736000000000LL   /* 1970-01-01 in 100 ns since 1601 */

adb_code adb_account_state_from_entry(const adb_ldap_entry *e, adb_account_state *out, adb_error *err)
{
    int64_t v;

    memset(out, 0, sizeof *out);
    if (!adb_ldap_entry_int64(e, "userAccountControl", &v) || v < INT32_MIN || v > UINT32_MAX)
        return adb_error_set(err, ADB_E_PROTOCOL, "%s: no valid userAccountControl", e->dn != NULL ? e->dn : "(entry)");
    out->uac = (uint32_t)v;
    if (adb_ldap_entry_int64(e, "msDS-User-Account-Control-Computed", &v) && v >= INT32_MIN && v <= UINT32_MAX) {
        out->has_uac_computed = true;
        out->uac_computed = (uint32_t)v;
    }
    if (adb_ldap_entry_int64(e, "lockoutTime", &v))
        out->lockout_time = v;
    if (adb_ldap_entry_int64(e, "accountExpires", &v))
        out->account_expires = v;
    if (adb_ldap_entry_int64(e, "pwdLastSet", &v)) {
        out->has_pwd_last_set = true;
        out->pwd_last_set = v;
    }
    return ADB_OK;
}

static const char *const state_attrs[] = {
    "userAccountControl", "msDS-User-Account-Control-Computed", "lockoutTime", "accountExpires", "pwdLastSet", NULL,
};

/* The DN of a user by UPN or sAMAccountName under base. */
static adb_code find_user(adb_ldap_conn *c, const char *base, const char *user, char **dn, adb_error *err)
{
    static const char *const no_attrs[] = { "1.1", NULL };
    adb_ldap_search *s = NULL;
    adb_ldap_entry *e = NULL, *e2 = NULL;
    char *filter = NULL;
    adb_code rc;

    *dn = NULL;
    rc = strchr(user, '@') != NULL
             ? adb_filter_build(&filter, err, "(&(sAMAccountType=805306368)(userPrincipalName=%v))", user)
             : adb_filter_build(&filter, err, "(&(sAMAccountType=805306368)(sAMAccountName=%v))", user);
    if (rc != ADB_OK)
        return rc;
    if ((rc = adb_ldap_search_begin(c, base, ADB_LDAP_SCOPE_SUBTREE, filter, no_attrs, 0, &s, err)) != ADB_OK
        || (rc = adb_ldap_search_next(s, &e, err)) != ADB_OK)
        goto out;
    if (e == NULL) {
        rc = adb_error_set(err, ADB_E_NOT_FOUND, "no user %s under %s on %s", user, base, adb_ldap_host(c));
        goto out;
    }
    if ((rc = adb_ldap_search_next(s, &e2, err)) != ADB_OK)
        goto out;
    if (e2 != NULL) {
        rc = adb_error_set(err, ADB_E_AMBIGUOUS, "more than one user %s under %s", user, base);
        goto out;
    }
    if ((*dn = strdup(e->dn)) == NULL)
        rc = adb_error_set(err, ADB_E_NOMEM, "out of memory");
out:
    adb_ldap_entry_free(e);
    adb_ldap_entry_free(e2);
    if (s != NULL)
        adb_ldap_search_end(s);
    free(filter);
    return rc;
}


adb_code adb_account_state_read(adb_ldap_conn *c, const char *base_dn, const char *user, adb_account_state *out,
                                char **dn_out, adb_error *err)
{
    static const char *const root_attrs[] = { "defaultNamingContext", NULL };
    adb_ldap_entry *e = NULL;
    char *dn = NULL, base[1024];
    adb_code rc;

    memset(out, 0, sizeof *out);
    if (dn_out != NULL)
        *dn_out = NULL;
    if (adb_dn_looks_like(user, strlen(user)) && strchr(user, '@') == NULL) {
        if ((dn = strdup(user)) == NULL)
            return adb_error_set(err, ADB_E_NOMEM, "out of memory");
    } else {
        if (base_dn == NULL) {
            if ((rc = adb_ldap_read(c, "", NULL, root_attrs, &e, err)) != ADB_OK)
                return rc;
            base_dn = adb_ldap_entry_str(e, "defaultNamingContext", base, sizeof base);
            adb_ldap_entry_free(e);
            e = NULL;
            if (base_dn == NULL)
                return adb_error_set(err, ADB_E_PROTOCOL, "%s has no defaultNamingContext", adb_ldap_host(c));
        }
        if ((rc = find_user(c, base_dn, user, &dn, err)) != ADB_OK)
            return rc;
    }
    /* A base read: msDS-User-Account-Control-Computed is constructed and
     * AD returns it only there. */
    if ((rc = adb_ldap_read(c, dn, NULL, state_attrs, &e, err)) == ADB_OK)
        rc = adb_account_state_from_entry(e, out, err);
    adb_ldap_entry_free(e);
    if (rc == ADB_OK && dn_out != NULL)
        *dn_out = dn;
    else
        free(dn);
    return rc;
}

static bool filetime_passed(int64_t ft, time_t now)
{
    if (ft <= 0 || ft == INT64_MAX)
        return false;   /* never */
    return (ft - FILETIME_UNIX_EPOCH) / 10000000 <= (int64_t)now;
}

adb_auth_reason adb_account_state_reason(adb_auth_reason provisional, const adb_account_state *st, time_t now)
{
    switch (provisional) {
    case ADB_AUTH_ACCOUNT_RESTRICTED:   /* client revoked, no NTSTATUS */
        if (st->uac & ADB_UAC_ACCOUNTDISABLE)
            return ADB_AUTH_ACCOUNT_DISABLED;
        if (st->has_uac_computed ? (st->uac_computed & ADB_UAC_LOCKOUT) != 0 : st->lockout_time > 0)
            return ADB_AUTH_ACCOUNT_LOCKED;
        if (filetime_passed(st->account_expires, now))
            return ADB_AUTH_ACCOUNT_EXPIRED;
        return ADB_AUTH_ACCOUNT_RESTRICTED;
    case ADB_AUTH_PASSWORD_EXPIRED:     /* key expired, no NTSTATUS */
        return st->has_pwd_last_set && st->pwd_last_set == 0 ? ADB_AUTH_PASSWORD_MUST_CHANGE
                                                             : ADB_AUTH_PASSWORD_EXPIRED;
    default:
        return provisional;
    }
}

void adb_pwcheck_resolve(adb_pwcheck_result *r, const adb_account_state *st, time_t now)
{
    if (!r->needs_account_state)
        return;
    r->reason = adb_account_state_reason(r->reason, st, now);
    r->needs_account_state = false;
}
