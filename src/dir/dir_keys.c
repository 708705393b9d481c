/* What the directory keeps in the cache (see dir_internal.h): the keys of
 * queries, objects and memberships, and objects and shared lists put under
 * them.  A key is a prefix and a normal form: "sid:", "guid:", "dn:" (a
 * normalized DN), "upn:", "nt4:domain\name", "name:", and for memberships
 * "groups-of:", "members-t:", "members-d:" before the object's member key. */
#include "config.h"

#include "dir_internal.h"

#include <adbridge/text.h>
#include <adbridge/dn.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ======================================================================
 * Shared lists and objects in the cache.
 * ====================================================================== */

static void *list_retain(void *v)
{
    __atomic_add_fetch(&((dir_shared_list *)v)->refs, 1, __ATOMIC_RELAXED);
    return v;
}

void dir_list_release(void *v)
{
    dir_shared_list *s = v;

    if (s != NULL && __atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL) == 0) {
        adb_object_list_clear(&s->list);
        free(s);
    }
}

static const adb_cache_type list_type = { list_retain, dir_list_release };

static void *object_retain(void *v)
{
    return adb_object_ref(v);
}

static void object_release(void *v)
{
    adb_object_unref(v);
}

static const adb_cache_type object_type = { object_retain, object_release };

static size_t list_bytes(const adb_object_list *l)
{
    size_t n = sizeof(dir_shared_list) + l->n * sizeof *l->items;

    for (size_t i = 0; i < l->n; i++)
        n += adb_object_size(l->items[i]);
    return n;
}

dir_shared_list *dir_shared_list_new(adb_error *err)
{
    dir_shared_list *sl = calloc(1, sizeof *sl);

    if (sl == NULL)
        adb_error_set(err, ADB_E_NOMEM, "out of memory");
    else
        sl->refs = 1;
    return sl;
}

void dir_cache_list(adb_dir *d, const char *key, adb_cache_kind kind, dir_shared_list *sl)
{
    adb_cache_put(d->cache, key, kind, &list_type, list_retain(sl), list_bytes(&sl->list));
}

/* ======================================================================
 * Keys.
 * ====================================================================== */

void dir_lower_into(char *dst, size_t size, const char *src)
{
    adb_ascii_case_copy(dst, size, src, false);
}

/* buf = a + b (b lower-cased when asked), cut at size. */
static void key_cat(char *buf, size_t size, const char *a, const char *b, bool lower)
{
    size_t n = strlen(a) < size ? strlen(a) : size - 1;

    memcpy(buf, a, n);
    if (lower)
        dir_lower_into(buf + n, size - n, b);
    else
        snprintf(buf + n, size - n, "%s", b);
}

bool dir_sid_is_builtin(const adb_sid *sid)
{
    return sid->authority == 5 && sid->n_sub == 2 && sid->sub[0] == 32;
}

/* BUILTIN SIDs are the same in every domain, so their keys name it. */
void dir_key_sid(char *buf, size_t size, const adb_sid *sid, const char *domain)
{
    char text[ADB_SID_STRING_MAX] = "";

    adb_sid_format(sid, text, sizeof text, NULL);
    if (dir_sid_is_builtin(sid))
        snprintf(buf, size, "sid:%s@%s", text, domain != NULL ? domain : "");
    else
        snprintf(buf, size, "sid:%s", text);
}

static void key_dn(char *buf, size_t size, const char *dn)
{
    char *norm = NULL;

    key_cat(buf, size, "dn:", adb_dn_normalize(dn, &norm, NULL) == ADB_OK ? norm : dn, false);
    free(norm);
}

static void key_nt4(char *buf, size_t size, const char *domain, const char *name)
{
    size_t n;

    key_cat(buf, size, "nt4:", domain, true);
    n = strlen(buf);
    key_cat(buf + n, size - n, "\\", name, true);
}

void dir_key_ident(char *buf, size_t size, const adb_ident *id)
{
    char guid[ADB_GUID_STRING_MAX];

    switch (id->kind) {
    case ADB_IDENT_SID: dir_key_sid(buf, size, &id->sid, id->domain); return;
    case ADB_IDENT_GUID:
        adb_guid_format(&id->guid, guid);
        snprintf(buf, size, "guid:%s", guid);
        return;
    case ADB_IDENT_DN: key_dn(buf, size, id->name); return;
    case ADB_IDENT_NT4: key_nt4(buf, size, id->domain, id->name); return;
    case ADB_IDENT_UPN: key_cat(buf, size, "upn:", id->name, true); return;
    case ADB_IDENT_NAME: key_cat(buf, size, "name:", id->name, true); return;
    }
}

static adb_cache_kind cache_kind(const adb_object *o)
{
    switch (o->kind) {
    case ADB_OBJECT_USER:
    case ADB_OBJECT_COMPUTER: return ADB_CACHE_USER;
    case ADB_OBJECT_GROUP: return ADB_CACHE_GROUP;
    default: return ADB_CACHE_OTHER;
    }
}

size_t dir_object_keys(const adb_object *o, char keys[DIR_OBJECT_KEYS_MAX][DIR_KEY_MAX])
{
    char guid[ADB_GUID_STRING_MAX];
    size_t n = 0;

    if (o->has_sid)
        dir_key_sid(keys[n++], DIR_KEY_MAX, &o->sid, o->domain_dns);
    if (o->has_guid) {
        adb_guid_format(&o->guid, guid);
        snprintf(keys[n++], DIR_KEY_MAX, "guid:%s", guid);
    }
    if (o->dn != NULL && o->dn[0] != '\0')
        key_dn(keys[n++], DIR_KEY_MAX, o->dn);
    if (o->upn != NULL)
        key_cat(keys[n++], DIR_KEY_MAX, "upn:", o->upn, true);
    if (o->sam_account_name != NULL && o->domain_dns != NULL)
        key_nt4(keys[n++], DIR_KEY_MAX, o->domain_dns, o->sam_account_name);
    if (o->sam_account_name != NULL && o->domain_netbios != NULL)
        key_nt4(keys[n++], DIR_KEY_MAX, o->domain_netbios, o->sam_account_name);
    return n;
}

void dir_cache_object_as(adb_dir *d, const char *key, adb_object *o)
{
    adb_cache_put(d->cache, key, cache_kind(o), &object_type, adb_object_ref(o), adb_object_size(o));
}

void dir_cache_object(adb_dir *d, adb_object *o)
{
    char keys[DIR_OBJECT_KEYS_MAX][DIR_KEY_MAX];
    size_t n = dir_object_keys(o, keys);

    if (o->kind == ADB_OBJECT_FOREIGN && o->dn == NULL)
        return;   /* a stub: not worth remembering as the answer for its SID */
    for (size_t i = 0; i < n; i++)
        dir_cache_object_as(d, keys[i], o);
}

void dir_member_key(char *buf, size_t size, const adb_object *o)
{
    if (o->has_sid)
        dir_key_sid(buf, size, &o->sid, o->domain_dns);
    else
        key_dn(buf, size, o->dn != NULL ? o->dn : "");
}

void dir_key_membership(char *buf, size_t size, const char *what, const adb_object *o)
{
    char id[DIR_KEY_MAX];

    dir_member_key(id, sizeof id, o);
    key_cat(buf, size, what, id, false);
}
