/* Distinguished names (RFC 4514) as AD uses them: validation, the DNS domain
 * a DN lives in (its trailing DC= components), and a normal form for
 * comparing DNs that differ only in case or escaping.
 *
 * Parsing is libldap's (ldap_str2dn), so escapes ("CN=Smith\, John") and
 * hex pairs are understood exactly as a DC understands them. */
#ifndef ADBRIDGE_DN_H
#define ADBRIDGE_DN_H

#include <adbridge/error.h>

#include <stdbool.h>
#include <stddef.h>

enum {
    ADB_DN_MAX = 2048,      /* bytes of a DN we accept from a caller */
    ADB_DOMAIN_MAX = 256,   /* bytes of a DNS domain name, with the NUL */
};

/* True when dn is a non-empty LDAPv3 DN of at most ADB_DN_MAX bytes whose
 * attribute types are names (CN, OU, DC, ...), not OIDs or BER values. */
bool adb_dn_valid(const char *dn);

/* The first len bytes of t start like a DN ("attr=..." with attr a name),
 * which no account name can (sAMAccountName cannot hold '='): how an
 * identifier is told to be a DN before anything is looked up. */
bool adb_dn_looks_like(const char *t, size_t len);

/* "CN=x,OU=y,DC=adb,DC=test" -> "adb.test" (lower case): the trailing run of
 * single-valued DC= components.  ADB_E_INVALID_REQUEST when dn is not a DN
 * or has no DC= tail. */
adb_code adb_dn_domain(const char *dn, char *out, size_t size, adb_error *err);

/* "adb.test" -> "DC=adb,DC=test".  ADB_E_INVALID_REQUEST for a name that is
 * not a DNS name; ADB_E_INTERNAL when out is too small. */
adb_code adb_dn_from_domain(const char *domain, char *out, size_t size, adb_error *err);

/* Normal form for comparisons and cache keys: re-serialised by libldap
 * (escapes made canonical) and ASCII letters lower-cased.  malloc'd;
 * ADB_E_INVALID_REQUEST when dn is not a DN. */
adb_code adb_dn_normalize(const char *dn, char **out, adb_error *err);

#endif
