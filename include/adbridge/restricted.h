/* Accounts whose passwords the bridge never sends to a KDC.
 *
 * Always refused, whatever the configuration: krbtgt (RID 502) and the
 * RODCs' krbtgt_NNNNN accounts (a few wrong guesses would lock them and
 * the KDC would then refuse every logon of the domain), trust accounts,
 * computer accounts and (group) managed service accounts (their passwords
 * are machine-generated: a check can only be an attack).
 *
 * Refused unless auth.allow_privileged: the built-in Administrator (RID
 * 500), accounts with adminCount=1, and members (transitively, from
 * tokenGroups) of Administrators, Domain Admins, Enterprise Admins and
 * Schema Admins.  Refused always: members of the groups in
 * auth.refuse_groups.
 *
 * The decision is a pure function of what one base read of the user
 * returns (adb_account_facts_attrs), so it is unit-tested without a DC. */
#ifndef ADBRIDGE_RESTRICTED_H
#define ADBRIDGE_RESTRICTED_H

#include <adbridge/error.h>
#include <adbridge/ldap_conn.h>
#include <adbridge/sid.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { ADB_ACCOUNT_MAX_GROUPS = 1024 };

typedef struct adb_account_facts {
    adb_sid sid;                 /* objectSid */
    char sam[257];               /* sAMAccountName */
    uint32_t sam_account_type;   /* 0 when absent */
    uint32_t uac;                /* userAccountControl */
    bool admin_count;            /* adminCount = 1 */
    bool managed_service;        /* objectClass msDS-(Group|Delegated)ManagedServiceAccount */
    adb_sid *groups;             /* tokenGroups (transitive, with built-in groups) */
    size_t n_groups;
} adb_account_facts;

/* The attributes adb_account_facts_from_entry reads (tokenGroups needs a
 * base read). */
extern const char *const adb_account_facts_attrs[];

/* protocol_error when objectSid or a tokenGroups value is malformed. */
adb_code adb_account_facts_from_entry(const adb_ldap_entry *e, adb_account_facts *out, adb_error *err);
void adb_account_facts_clear(adb_account_facts *f);

typedef struct adb_restrict_policy {
    bool allow_privileged;       /* auth.allow_privileged */
    const adb_sid *refuse;       /* auth.refuse_groups, resolved to SIDs */
    size_t n_refuse;
} adb_restrict_policy;

/* true: the password must not be checked; why gets a sentence for the
 * admin and the cloud (never empty then). */
bool adb_account_restricted(const adb_account_facts *f, const adb_restrict_policy *p, char *why, size_t size);

#endif
