/* The stable object model (see include/adbridge/object.h). */
#include "config.h"

#include <adbridge/text.h>
#include <adbridge/dn.h>
#include <adbridge/clock.h>
#include <adbridge/object.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The same list twice: the listing set stops before the computed attribute. */
#define ATTRS_COMMON                                                                                   \
    "objectClass", "objectSid", "objectGUID", "sAMAccountName", "userPrincipalName", "displayName",   \
        "givenName", "sn", "mail", "userAccountControl", "pwdLastSet", "accountExpires", "primaryGroupID", \
        "groupType"
static const char *const full_attrs[] = { ATTRS_COMMON, "msDS-User-Account-Control-Computed", NULL };
static const char *const list_attrs[] = { ATTRS_COMMON, NULL };
static const char *const names_attrs[] = { "objectClass", "objectSid", "objectGUID", "sAMAccountName", "groupType",
                                           NULL };

/* FILETIME of 1970-01-01 and the "never" value of accountExpires. */
#define FILETIME_UNIX_EPOCH INT64_C(116444736000000000)
#define FILETIME_NEVER INT64_C(0x7FFFFFFFFFFFFFFF)

const char *const *adb_object_attrs(adb_attr_set set)
{
    switch (set) {
    case ADB_ATTRS_LIST: return list_attrs;
    case ADB_ATTRS_NAMES: return names_attrs;
    case ADB_ATTRS_FULL: break;
    }
    return full_attrs;
}

const char *adb_object_kind_name(adb_object_kind kind)
{
    switch (kind) {
    case ADB_OBJECT_USER: return "user";
    case ADB_OBJECT_COMPUTER: return "computer";
    case ADB_OBJECT_GROUP: return "group";
    case ADB_OBJECT_FOREIGN: return "foreign";
    case ADB_OBJECT_OTHER: break;
    }
    return "other";
}

const char *adb_group_scope_name(adb_group_scope scope)
{
    switch (scope) {
    case ADB_SCOPE_GLOBAL: return "global";
    case ADB_SCOPE_DOMAIN_LOCAL: return "domain_local";
    case ADB_SCOPE_UNIVERSAL: return "universal";
    case ADB_SCOPE_BUILTIN_LOCAL: return "builtin_local";
    case ADB_SCOPE_UNKNOWN: break;
    }
    return "unknown";
}

void adb_group_type_decode(int32_t group_type, bool *security, adb_group_scope *scope)
{
    uint32_t t = (uint32_t)group_type;

    *security = (t & (uint32_t)ADB_GROUP_TYPE_SECURITY) != 0;
    /* BUILTIN groups carry 0x1 together with 0x4 (domain local): report the former. */
    if (t & ADB_GROUP_TYPE_BUILTIN_LOCAL)
        *scope = ADB_SCOPE_BUILTIN_LOCAL;
    else if (t & ADB_GROUP_TYPE_GLOBAL)
        *scope = ADB_SCOPE_GLOBAL;
    else if (t & ADB_GROUP_TYPE_DOMAIN_LOCAL)
        *scope = ADB_SCOPE_DOMAIN_LOCAL;
    else if (t & ADB_GROUP_TYPE_UNIVERSAL)
        *scope = ADB_SCOPE_UNIVERSAL;
    else
        *scope = ADB_SCOPE_UNKNOWN;
}

time_t adb_filetime_to_unix(int64_t filetime)
{
    if (filetime <= FILETIME_UNIX_EPOCH || filetime == FILETIME_NEVER)
        return 0;
    return (time_t)((filetime - FILETIME_UNIX_EPOCH) / 10000000);
}

adb_object *adb_object_ref(adb_object *o)
{
    if (o != NULL)
        __atomic_add_fetch(&o->refs_, 1, __ATOMIC_RELAXED);
    return o;
}

void adb_object_unref(adb_object *o)
{
    if (o == NULL || __atomic_sub_fetch(&o->refs_, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    free(o->dn);
    free(o->sam_account_name);
    free(o->upn);
    free(o->display_name);
    free(o->given_name);
    free(o->surname);
    free(o->mail);
    free(o->domain_dns);
    free(o->domain_netbios);
    free(o->forest);
    free(o->sort_key);
    free(o);
}

static size_t slen(const char *s)
{
    return s != NULL ? strlen(s) + 1 : 0;
}

size_t adb_object_size(const adb_object *o)
{
    return sizeof *o + slen(o->dn) + slen(o->sam_account_name) + slen(o->upn) + slen(o->display_name)
           + slen(o->given_name) + slen(o->surname) + slen(o->mail) + slen(o->domain_dns)
           + slen(o->domain_netbios) + slen(o->forest) + slen(o->sort_key);
}

/* Copy of the first value of attr; NULL when absent, empty or containing NUL. */
static bool dup_value(const adb_ldap_entry *e, const char *attr, char **out)
{
    struct berval **v = adb_ldap_entry_values(e, attr);

    *out = NULL;
    if (v == NULL || v[0] == NULL || v[0]->bv_len == 0 || memchr(v[0]->bv_val, '\0', v[0]->bv_len) != NULL)
        return true;
    *out = strndup(v[0]->bv_val, v[0]->bv_len);
    return *out != NULL;
}

static bool dup_opt(const char *s, char **out)
{
    *out = s != NULL ? strdup(s) : NULL;
    return s == NULL || *out != NULL;
}

/* Integer syntax value (decimal, optional '-'); false when present and malformed. */
static bool int_value(const adb_ldap_entry *e, const char *attr, int64_t min, int64_t max, bool *present,
                      int64_t *out)
{
    struct berval **v = adb_ldap_entry_values(e, attr);
    char buf[32];
    int64_t n;

    *present = false;
    *out = 0;
    if (v == NULL || v[0] == NULL)
        return true;
    if (v[0]->bv_len == 0 || v[0]->bv_len >= sizeof buf)
        return false;
    memcpy(buf, v[0]->bv_val, v[0]->bv_len);
    buf[v[0]->bv_len] = '\0';
    if (!adb_ascii_int64(buf, min, max, &n))
        return false;
    *present = true;
    *out = n;
    return true;
}

static bool has_class(const adb_ldap_entry *e, const char *cls)
{
    struct berval **v = adb_ldap_entry_values(e, "objectClass");

    for (size_t i = 0; v != NULL && v[i] != NULL; i++)
        if (v[i]->bv_len == strlen(cls) && strncasecmp(v[i]->bv_val, cls, v[i]->bv_len) == 0)
            return true;
    return false;
}

static void fold_ascii(char *s)
{
    for (; *s != '\0'; s++)
        if (*s >= 'A' && *s <= 'Z')
            *s = (char)(*s - 'A' + 'a');
}

char *adb_sort_key_make(const char *name, const char *domain)
{
    size_t n = strlen(name) + 1 + slen(domain) + 1;
    char *key = malloc(n);

    if (key != NULL) {
        snprintf(key, n, "%s\x01%s", name, domain != NULL ? domain : "");
        fold_ascii(key);
    }
    return key;
}

static bool make_sort_key(adb_object *o)
{
    char sid[ADB_SID_STRING_MAX] = "";
    const char *name = o->sam_account_name;

    if (name == NULL && o->has_sid && adb_sid_format(&o->sid, sid, sizeof sid, NULL) == ADB_OK)
        name = sid;
    if (name == NULL)
        name = o->dn != NULL ? o->dn : "";
    return (o->sort_key = adb_sort_key_make(name, o->domain_dns)) != NULL;
}

static adb_object *object_alloc(void)
{
    adb_object *o = calloc(1, sizeof *o);

    if (o != NULL)
        o->refs_ = 1;
    return o;
}

static adb_code set_origin(adb_object *o, const adb_object_origin *origin, adb_error *err)
{
    char domain[ADB_DOMAIN_MAX];
    const char *dns = origin != NULL ? origin->domain_dns : NULL;

    if (dns == NULL && o->dn != NULL && adb_dn_domain(o->dn, domain, sizeof domain, NULL) == ADB_OK)
        dns = domain;
    if (!dup_opt(dns, &o->domain_dns) || !dup_opt(origin != NULL ? origin->domain_netbios : NULL, &o->domain_netbios)
        || !dup_opt(origin != NULL ? origin->forest : NULL, &o->forest))
        return adb_error_set(err, ADB_E_NOMEM, "out of memory");
    if (o->domain_dns != NULL)
        fold_ascii(o->domain_dns);
    return ADB_OK;
}

adb_code adb_object_decode(const adb_ldap_entry *e, const adb_object_origin *origin, time_t now,
                           adb_object **out, adb_error *err)
{
    adb_object *o = object_alloc();
    struct berval **v;
    int64_t uac = 0, computed = 0, pwd_last_set = 0, expires = 0, primary = 0, group_type = 0;
    bool have_uac, have_computed, have_pwd, have_expires, have_primary, have_group_type;
    const char *bad = NULL;
    adb_code rc;

    *out = NULL;
    if (o == NULL)
        return adb_error_set(err, ADB_E_NOMEM, "out of memory");
    if (has_class(e, "computer"))
        o->kind = ADB_OBJECT_COMPUTER;
    else if (has_class(e, "user"))
        o->kind = ADB_OBJECT_USER;
    else if (has_class(e, "group"))
        o->kind = ADB_OBJECT_GROUP;
    else if (has_class(e, "foreignSecurityPrincipal"))
        o->kind = ADB_OBJECT_FOREIGN;

    if ((v = adb_ldap_entry_values(e, "objectSid")) != NULL && v[0] != NULL) {
        if ((rc = adb_sid_decode(v[0]->bv_val, v[0]->bv_len, &o->sid, err)) != ADB_OK)
            goto protocol;
        o->has_sid = true;
    }
    if ((v = adb_ldap_entry_values(e, "objectGUID")) != NULL && v[0] != NULL) {
        if ((rc = adb_guid_decode(v[0]->bv_val, v[0]->bv_len, &o->guid, err)) != ADB_OK)
            goto protocol;
        o->has_guid = true;
    }
    if (!int_value(e, "userAccountControl", 0, UINT32_MAX, &have_uac, &uac))
        bad = "userAccountControl";
    else if (!int_value(e, "msDS-User-Account-Control-Computed", 0, UINT32_MAX, &have_computed, &computed))
        bad = "msDS-User-Account-Control-Computed";
    else if (!int_value(e, "pwdLastSet", INT64_MIN, INT64_MAX, &have_pwd, &pwd_last_set))
        bad = "pwdLastSet";
    else if (!int_value(e, "accountExpires", INT64_MIN, INT64_MAX, &have_expires, &expires))
        bad = "accountExpires";
    else if (!int_value(e, "primaryGroupID", 0, UINT32_MAX, &have_primary, &primary))
        bad = "primaryGroupID";
    else if (!int_value(e, "groupType", INT32_MIN, INT32_MAX, &have_group_type, &group_type))
        bad = "groupType";
    if (bad != NULL) {
        rc = adb_error_set(err, ADB_E_PROTOCOL, "%s is not an integer", bad);
        goto protocol;
    }
    if ((o->dn = strdup(e->dn != NULL ? e->dn : "")) == NULL || !dup_value(e, "sAMAccountName", &o->sam_account_name)
        || !dup_value(e, "userPrincipalName", &o->upn) || !dup_value(e, "displayName", &o->display_name)
        || !dup_value(e, "givenName", &o->given_name) || !dup_value(e, "sn", &o->surname)
        || !dup_value(e, "mail", &o->mail))
        goto nomem;
    if ((rc = set_origin(o, origin, err)) != ADB_OK) {
        adb_object_unref(o);
        return rc;
    }
    if (o->kind == ADB_OBJECT_USER || o->kind == ADB_OBJECT_COMPUTER) {
        o->enabled = have_uac && (uac & ADB_UF_ACCOUNTDISABLE) == 0;
        o->status_known = have_computed;
        o->locked = have_computed && (computed & ADB_UF_LOCKOUT) != 0;
        o->must_change_password = have_pwd && pwd_last_set == 0;
        /* AD sets PASSWORD_EXPIRED for pwdLastSet = 0 too; report that as
         * must_change_password only, so the two answers stay distinct. */
        o->password_expired = have_computed && (computed & ADB_UF_PASSWORD_EXPIRED) != 0
                              && !o->must_change_password;
        o->account_expires = have_expires ? adb_filetime_to_unix(expires) : 0;
        o->account_expired = o->account_expires != 0 && now >= o->account_expires;
        o->primary_group_rid = (uint32_t)primary;
    }
    if (o->kind == ADB_OBJECT_GROUP)
        adb_group_type_decode((int32_t)group_type, &o->security, &o->scope);
    if (!make_sort_key(o))
        goto nomem;
    *out = o;
    return ADB_OK;
protocol:
    adb_error_prefix(err, "entry '%.200s'", e->dn != NULL ? e->dn : "");
    adb_object_unref(o);
    return rc;
nomem:
    adb_object_unref(o);
    return adb_error_set(err, ADB_E_NOMEM, "out of memory");
}

adb_code adb_object_new_stub(adb_object_kind kind, const adb_sid *sid, const char *dn,
                             const adb_object_origin *origin, adb_object **out, adb_error *err)
{
    adb_object *o = object_alloc();
    adb_code rc;

    *out = NULL;
    if (o == NULL)
        return adb_error_set(err, ADB_E_NOMEM, "out of memory");
    o->kind = kind;
    if (sid != NULL) {
        o->has_sid = true;
        o->sid = *sid;
    }
    if (dn != NULL && (o->dn = strdup(dn)) == NULL) {
        adb_object_unref(o);
        return adb_error_set(err, ADB_E_NOMEM, "out of memory");
    }
    if ((rc = set_origin(o, origin, err)) != ADB_OK) {
        adb_object_unref(o);
        return rc;
    }
    if (!make_sort_key(o)) {
        adb_object_unref(o);
        return adb_error_set(err, ADB_E_NOMEM, "out of memory");
    }
    *out = o;
    return ADB_OK;
}

const char *adb_object_display(const adb_object *o, char *buf, size_t size)
{
    char sid[ADB_SID_STRING_MAX] = "";
    const char *domain = o->domain_netbios != NULL ? o->domain_netbios : o->domain_dns;

    if (o->sam_account_name != NULL)
        snprintf(buf, size, "%s%s%s", domain != NULL ? domain : "", domain != NULL ? "\\" : "",
                 o->sam_account_name);
    else if (o->has_sid && adb_sid_format(&o->sid, sid, sizeof sid, NULL) == ADB_OK)
        snprintf(buf, size, "%s%s%s", domain != NULL ? domain : "", domain != NULL ? "\\" : "", sid);
    else
        snprintf(buf, size, "%s", o->dn != NULL ? o->dn : "?");
    return buf;
}

const char *adb_object_sort_key(const adb_object *o)
{
    return o->sort_key != NULL ? o->sort_key : "";
}

/* A JSON string, or null when absent (or, defensively, not UTF-8). */
static json_t *jstr(const char *s)
{
    json_t *j = s != NULL ? json_string(s) : NULL;
    return j != NULL ? j : json_null();
}

static json_t *jtime(time_t t)
{
    char buf[ADB_RFC3339_SIZE];
    return t != 0 && adb_rfc3339(t, buf) ? json_string(buf) : json_null();
}

json_t *adb_object_to_json(const adb_object *o)
{
    char sid[ADB_SID_STRING_MAX], guid[ADB_GUID_STRING_MAX];
    json_t *j = json_object();

    if (j == NULL)
        return NULL;
    if (o->has_guid)
        adb_guid_format(&o->guid, guid);
    json_object_set_new(j, "kind", json_string(adb_object_kind_name(o->kind)));
    json_object_set_new(j, "sid", o->has_sid && adb_sid_format(&o->sid, sid, sizeof sid, NULL) == ADB_OK
                                      ? json_string(sid) : json_null());
    json_object_set_new(j, "guid", o->has_guid ? json_string(guid) : json_null());
    json_object_set_new(j, "dn", jstr(o->dn != NULL && o->dn[0] != '\0' ? o->dn : NULL));
    json_object_set_new(j, "sam_account_name", jstr(o->sam_account_name));
    json_object_set_new(j, "upn", jstr(o->upn));
    json_object_set_new(j, "display_name", jstr(o->display_name));
    json_object_set_new(j, "given_name", jstr(o->given_name));
    json_object_set_new(j, "surname", jstr(o->surname));
    json_object_set_new(j, "mail", jstr(o->mail));
    json_object_set_new(j, "domain", json_pack("{s:o,s:o}", "dns", jstr(o->domain_dns), "netbios",
                                               jstr(o->domain_netbios)));
    json_object_set_new(j, "forest", jstr(o->forest));
    if (o->kind == ADB_OBJECT_USER || o->kind == ADB_OBJECT_COMPUTER)
        json_object_set_new(j, "account",
                            json_pack("{s:b,s:o,s:o,s:b,s:o,s:b}", "enabled", o->enabled, "locked",
                                      o->status_known ? json_boolean(o->locked) : json_null(), "password_expired",
                                      o->status_known ? json_boolean(o->password_expired) : json_null(),
                                      "must_change_password", o->must_change_password, "account_expires",
                                      jtime(o->account_expires), "account_expired", o->account_expired));
    else
        json_object_set_new(j, "account", json_null());
    if (o->kind == ADB_OBJECT_GROUP)
        json_object_set_new(j, "group", json_pack("{s:s,s:s}", "type", o->security ? "security" : "distribution",
                                                  "scope", adb_group_scope_name(o->scope)));
    else
        json_object_set_new(j, "group", json_null());
    return j;
}

/* The JSON keys in the order of the ADB_FIELD_* bits. */
static const char *const field_names[] = { "kind", "sid", "guid", "dn", "sam_account_name", "upn", "display_name",
                                           "given_name", "surname", "mail", "domain", "forest", "account", "group" };

unsigned adb_object_field(const char *name)
{
    for (size_t i = 0; name != NULL && i < sizeof field_names / sizeof *field_names; i++)
        if (strcmp(name, field_names[i]) == 0)
            return 1u << i;
    return 0;
}

json_t *adb_object_to_json_fields(const adb_object *o, unsigned fields)
{
    json_t *j = adb_object_to_json(o);

    for (size_t i = 0; j != NULL && fields != 0 && i < sizeof field_names / sizeof *field_names; i++)
        if (!(fields & (1u << i)))
            json_object_del(j, field_names[i]);
    return j;
}

adb_code adb_object_list_add(adb_object_list *l, adb_object *o, adb_error *err)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        adb_object **grown = realloc(l->items, cap * sizeof *grown);
        if (grown == NULL)
            return adb_error_set(err, ADB_E_NOMEM, "out of memory");
        l->items = grown;
        l->cap = cap;
    }
    l->items[l->n++] = adb_object_ref(o);
    return ADB_OK;
}

static int cmp_objects(const void *a, const void *b)
{
    return strcmp(adb_object_sort_key(*(adb_object *const *)a), adb_object_sort_key(*(adb_object *const *)b));
}

void adb_object_list_sort(adb_object_list *l)
{
    if (l->n > 1)
        qsort(l->items, l->n, sizeof *l->items, cmp_objects);
}

void adb_object_list_clear(adb_object_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        adb_object_unref(l->items[i]);
    free(l->items);
    l->items = NULL;
    l->n = l->cap = 0;
}

json_t *adb_object_list_to_json(const adb_object_list *l)
{
    return adb_object_list_to_json_fields(l, 0);
}

json_t *adb_object_list_to_json_fields(const adb_object_list *l, unsigned fields)
{
    json_t *a = json_array();

    for (size_t i = 0; a != NULL && i < l->n; i++)
        json_array_append_new(a, adb_object_to_json_fields(l->items[i], fields));
    return a;
}
