/* Identifiers of users and groups as a person or the cloud writes them:
 *   DOMAIN\name        down-level logon name (NetBIOS or DNS domain)
 *   name@suffix        user principal name
 *   S-1-5-21-...       SID
 *   xxxxxxxx-xxxx-...  GUID, bare or in braces
 *   CN=...,DC=...      distinguished name
 *   name               bare sAMAccountName (with an optional separate domain)
 * parsed strictly into a typed id.  Everything malformed — empty, longer than
 * ADB_IDENT_MAX, control characters, invalid UTF-8, a SID/GUID/DN that does
 * not parse, a name with characters AD never allows in sAMAccountName — is
 * ADB_E_INVALID_REQUEST with a message saying what is wrong. */
#ifndef ADBRIDGE_IDENT_H
#define ADBRIDGE_IDENT_H

#include <adbridge/dn.h>
#include <adbridge/error.h>
#include <adbridge/guid.h>
#include <adbridge/sid.h>

#include <stdbool.h>
#include <stddef.h>

enum {
    ADB_IDENT_MAX = ADB_DN_MAX,   /* bytes of an identifier */
    ADB_NAME_MAX = 256,           /* sAMAccountName: rangeUpper 256 */
    ADB_UPN_MAX = 1024,
};

typedef enum adb_ident_kind {
    ADB_IDENT_NAME = 0,   /* name; domain set when given */
    ADB_IDENT_NT4,        /* DOMAIN\name: domain and name */
    ADB_IDENT_UPN,        /* name = the whole UPN, domain = its suffix */
    ADB_IDENT_SID,
    ADB_IDENT_GUID,
    ADB_IDENT_DN,         /* name = the DN, domain = from its DC= tail */
} adb_ident_kind;

typedef struct adb_ident {
    adb_ident_kind kind;
    char domain[ADB_DOMAIN_MAX];   /* NetBIOS or DNS name as given, "" when none */
    char name[ADB_IDENT_MAX + 1];
    adb_sid sid;
    adb_guid guid;
} adb_ident;

/* Parses text (len bytes; an embedded NUL is refused).  domain (may be NULL
 * or "") qualifies a bare name; it is refused with the other forms, which
 * carry their own domain or need none. */
adb_code adb_ident_parse(const char *text, size_t len, const char *domain, adb_ident *out, adb_error *err);

/* "name", "nt4", "upn", "sid", "guid", "dn". */
const char *adb_ident_kind_name(adb_ident_kind kind);

/* True for a NetBIOS domain name: 1-15 bytes, none of \ / : * ? " < > | . or
 * spaces at either end. */
bool adb_netbios_name_valid(const char *name);

/* True when every byte sequence of s (len bytes) is well-formed UTF-8 with no
 * control characters. */
bool adb_text_valid(const char *s, size_t len);

#endif
