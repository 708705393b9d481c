/* The stable object model: a user, computer, group or other directory object
 * as the bridge reports it, decoded from an LDAP entry and rendered as JSON
 * (the shape the wire protocol and `adbridge --json` use).
 *
 * Objects are immutable once decoded and reference-counted, so a cache, a
 * member list and a reply can share one without copying.  adb_object_ref and
 * adb_object_unref are thread-safe.
 *
 * JSON shape (field names are part of the contract; absent values are null):
 *   {"kind": "user"|"computer"|"group"|"foreign"|"other",
 *    "sid", "guid", "dn", "sam_account_name", "upn", "display_name",
 *    "given_name", "surname", "mail",
 *    "domain": {"dns", "netbios"}, "forest",
 *    "account": null | {"enabled", "locked", "password_expired",
 *                       "must_change_password", "account_expires",
 *                       "account_expired"},
 *      ("locked" and "password_expired" are null in listings, where the
 *      DC is not asked to compute them: see adb_object_attrs)
 *    "group": null | {"type": "security"|"distribution",
 *                     "scope": "global"|"domain_local"|"universal"|"builtin_local"}}
 * "account" is set for users and computers, "group" for groups; "foreign" is
 * a foreign security principal whose forest could not be asked (only its SID
 * and domain are known). */
#ifndef ADBRIDGE_OBJECT_H
#define ADBRIDGE_OBJECT_H

#include <adbridge/error.h>
#include <adbridge/guid.h>
#include <adbridge/ldap_conn.h>
#include <adbridge/sid.h>

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

typedef enum adb_object_kind {
    ADB_OBJECT_OTHER = 0,
    ADB_OBJECT_USER,
    ADB_OBJECT_COMPUTER,
    ADB_OBJECT_GROUP,
    ADB_OBJECT_FOREIGN,    /* foreign security principal, not resolved */
} adb_object_kind;

/* Masks of kinds, for lookups that accept some kinds only. */
enum {
    ADB_KINDS_USER = 1u << ADB_OBJECT_USER,
    ADB_KINDS_COMPUTER = 1u << ADB_OBJECT_COMPUTER,
    ADB_KINDS_GROUP = 1u << ADB_OBJECT_GROUP,
    ADB_KINDS_ANY = 0xffu,
};

typedef enum adb_group_scope {
    ADB_SCOPE_UNKNOWN = 0,
    ADB_SCOPE_GLOBAL,
    ADB_SCOPE_DOMAIN_LOCAL,
    ADB_SCOPE_UNIVERSAL,
    ADB_SCOPE_BUILTIN_LOCAL,   /* BUILTIN\... groups (groupType bit 0x1) */
} adb_group_scope;

/* userAccountControl and msDS-User-Account-Control-Computed bits (MS-ADTS 2.2.16). */
enum {
    ADB_UF_ACCOUNTDISABLE = 0x00000002,
    ADB_UF_LOCKOUT = 0x00000010,
    ADB_UF_WORKSTATION_TRUST_ACCOUNT = 0x00001000,
    ADB_UF_SERVER_TRUST_ACCOUNT = 0x00002000,
    ADB_UF_DONT_EXPIRE_PASSWD = 0x00010000,
    ADB_UF_PASSWORD_EXPIRED = 0x00800000,
};

/* groupType bits (MS-ADTS 2.2.12). */
enum {
    ADB_GROUP_TYPE_BUILTIN_LOCAL = 0x00000001,
    ADB_GROUP_TYPE_GLOBAL = 0x00000002,
    ADB_GROUP_TYPE_DOMAIN_LOCAL = 0x00000004,
    ADB_GROUP_TYPE_UNIVERSAL = 0x00000008,
    ADB_GROUP_TYPE_SECURITY = (int32_t)0x80000000,
};

typedef struct adb_object {
    int refs_;                   /* private: use adb_object_ref/unref */
    adb_object_kind kind;
    bool has_sid, has_guid;
    adb_sid sid;
    adb_guid guid;
    char *dn, *sam_account_name, *upn, *display_name, *given_name, *surname, *mail;
    char *domain_dns, *domain_netbios, *forest;
    char *sort_key;              /* see adb_object_sort_key */
    /* users and computers */
    bool enabled, must_change_password, account_expired;
    bool status_known;           /* locked and password_expired were read (ADB_ATTRS_FULL) */
    bool locked, password_expired;
    time_t account_expires;      /* Unix time; 0 = never */
    uint32_t primary_group_rid;  /* primaryGroupID; 0 when absent */
    /* groups */
    bool security;
    adb_group_scope scope;
} adb_object;

/* Where the entry came from; domain NULL: derived from the DN's DC= tail. */
typedef struct adb_object_origin {
    const char *domain_dns, *domain_netbios, *forest;
} adb_object_origin;

/* The attributes adb_object_decode reads (NULL-terminated), for searches.
 * ADB_ATTRS_FULL includes msDS-User-Account-Control-Computed, which the DC
 * computes per object (on Samba about 1 ms each: a listing of thousands of
 * users would take seconds), so listings ask for ADB_ATTRS_LIST and their
 * users carry status_known = false. */
typedef enum adb_attr_set { ADB_ATTRS_FULL = 0, ADB_ATTRS_LIST, ADB_ATTRS_NAMES } adb_attr_set;
/* ADB_ATTRS_NAMES: what identifies an object and nothing more (objectClass,
 * objectSid, objectGUID, sAMAccountName, groupType), for listings that asked
 * for ADB_FIELDS_NAMES only: the rest of such an object is not read. */
const char *const *adb_object_attrs(adb_attr_set set);

/* Decodes an entry.  now is the wall clock used for account_expired.
 * ADB_E_PROTOCOL when the DC sent a malformed SID, GUID or number. */
adb_code adb_object_decode(const adb_ldap_entry *e, const adb_object_origin *origin, time_t now,
                           adb_object **out, adb_error *err);

/* An object known only by SID and/or DN, not read from its domain: a
 * foreign security principal whose forest cannot be asked (kind
 * ADB_OBJECT_FOREIGN), or a member in a domain that is not enabled.  sid and
 * dn may be NULL (not both). */
adb_code adb_object_new_stub(adb_object_kind kind, const adb_sid *sid, const char *dn,
                             const adb_object_origin *origin, adb_object **out, adb_error *err);

adb_object *adb_object_ref(adb_object *o);
void adb_object_unref(adb_object *o);

/* Approximate bytes held, for cache accounting. */
size_t adb_object_size(const adb_object *o);

const char *adb_object_kind_name(adb_object_kind kind);
const char *adb_group_scope_name(adb_group_scope scope);

/* groupType -> security flag and scope. */
void adb_group_type_decode(int32_t group_type, bool *security, adb_group_scope *scope);

/* FILETIME (100 ns since 1601) -> Unix time; 0 for 0 and "never"
 * (0x7FFFFFFFFFFFFFFF) and for values before 1970. */
time_t adb_filetime_to_unix(int64_t filetime);

/* "DOMAIN\name" for tables and messages (NetBIOS when known, else DNS; the
 * SID when there is no name).  Returns buf. */
const char *adb_object_display(const adb_object *o, char *buf, size_t size);

/* Sort key: case-folded (ASCII) account name (else the SID text, else the
 * DN), a 0x01 separator, then the lower-case DNS domain.  Lists are ordered
 * by it with strcmp, and paging cursors resume after one. */
const char *adb_object_sort_key(const adb_object *o);
/* The same key from its parts (for entries not decoded into objects). */
char *adb_sort_key_make(const char *name, const char *domain);

json_t *adb_object_to_json(const adb_object *o);

/* Fields of the JSON shape, as bits, for listings that return only some. */
enum {
    ADB_FIELD_KIND = 1u << 0,
    ADB_FIELD_SID = 1u << 1,
    ADB_FIELD_GUID = 1u << 2,
    ADB_FIELD_DN = 1u << 3,
    ADB_FIELD_SAM_ACCOUNT_NAME = 1u << 4,
    ADB_FIELD_UPN = 1u << 5,
    ADB_FIELD_DISPLAY_NAME = 1u << 6,
    ADB_FIELD_GIVEN_NAME = 1u << 7,
    ADB_FIELD_SURNAME = 1u << 8,
    ADB_FIELD_MAIL = 1u << 9,
    ADB_FIELD_DOMAIN = 1u << 10,
    ADB_FIELD_FOREST = 1u << 11,
    ADB_FIELD_ACCOUNT = 1u << 12,
    ADB_FIELD_GROUP = 1u << 13,
    /* The fields ADB_ATTRS_NAMES fills. */
    ADB_FIELDS_NAMES = ADB_FIELD_KIND | ADB_FIELD_SID | ADB_FIELD_GUID | ADB_FIELD_DN | ADB_FIELD_SAM_ACCOUNT_NAME
                       | ADB_FIELD_DOMAIN | ADB_FIELD_FOREST | ADB_FIELD_GROUP,
};

/* The bit of a field name ("sid", "sam_account_name", ...); 0 when unknown. */
unsigned adb_object_field(const char *name);

/* adb_object_to_json with only the fields in the mask (0: all of them). */
json_t *adb_object_to_json_fields(const adb_object *o, unsigned fields);

/* A growable list of references. */
typedef struct adb_object_list {
    adb_object **items;
    size_t n, cap;
} adb_object_list;

/* Appends a new reference to o. */
adb_code adb_object_list_add(adb_object_list *l, adb_object *o, adb_error *err);
/* Sorts by adb_object_sort_key. */
void adb_object_list_sort(adb_object_list *l);
/* Drops every reference and empties the list. */
void adb_object_list_clear(adb_object_list *l);
json_t *adb_object_list_to_json(const adb_object_list *l);
/* The same with only some fields (see adb_object_to_json_fields). */
json_t *adb_object_list_to_json_fields(const adb_object_list *l, unsigned fields);

#endif
