/* The foreign security principals of a domain, by SID (dir_internal.h):
 * groups-of asks every other forest's domains which of the user's SIDs
 * they hold as FSPs.  Those are few and change only when someone adds a
 * member from another forest, so the whole container is read once and
 * kept for the membership TTL, like a user's groups: a user's groups-of
 * then costs no read in a forest that holds none of its SIDs.  The index
 * is a cached list of stubs (SID and DN). */
#include "config.h"

#include "dir_internal.h"

#include <stdio.h>
#include <string.h>

static adb_code on_fsp(const adb_ldap_entry *e, void *arg, adb_error *err)
{
    adb_object_list *l = arg;
    struct berval **v = adb_ldap_entry_values(e, "objectSid");
    adb_object *o = NULL;
    adb_sid sid;
    adb_code rc;

    if (v == NULL || v[0] == NULL || adb_sid_decode(v[0]->bv_val, v[0]->bv_len, &sid, NULL) != ADB_OK)
        return ADB_OK;   /* an FSP without a SID holds no one */
    if ((rc = adb_object_new_stub(ADB_OBJECT_FOREIGN, &sid, e->dn, NULL, &o, err)) == ADB_OK)
        rc = adb_object_list_add(l, o, err);
    adb_object_unref(o);
    return rc;
}

static void fsps_reset(void *arg)
{
    adb_object_list_clear(arg);
}

adb_code dir_fsp_index_get(adb_dir *d, const adb_topo_domain *td, dir_shared_list **out, adb_error *err)
{
    static const char *const attrs[] = { "objectSid", NULL };
    char key[DIR_KEY_MAX], base[600], dns[300];
    dir_shared_list *sl;
    void *value;
    adb_code rc;

    *out = NULL;
    dir_lower_into(dns, sizeof dns, td->dns);
    snprintf(key, sizeof key, "fsp-index:%s", dns);
    if (adb_cache_get(d->cache, key, &value) == ADB_CACHE_HIT) {
        *out = value;
        return ADB_OK;
    }
    if ((sl = dir_shared_list_new(err)) == NULL)
        return ADB_E_NOMEM;
    snprintf(base, sizeof base, "CN=ForeignSecurityPrincipals,%s", td->nc);
    dir_search_op op = { base, ADB_LDAP_SCOPE_ONE, "(objectClass=foreignSecurityPrincipal)", attrs, on_fsp,
                         fsps_reset, &sl->list };
    rc = dir_run_search(d, td->dns, ADB_POOL_DC, &op, err);
    if (rc == ADB_E_NOT_FOUND) {   /* no container: no FSPs */
        adb_error_clear(err);
        rc = ADB_OK;
    }
    if (rc != ADB_OK) {
        dir_list_release(sl);
        return rc;
    }
    __atomic_add_fetch(&d->fsp_index_reads, 1, __ATOMIC_RELAXED);
    dir_cache_list(d, key, ADB_CACHE_GROUPS_OF, sl);
    *out = sl;
    return ADB_OK;
}

/* A linear scan: a domain holds few FSPs, a user few SIDs. */
const char *dir_fsp_dn(const dir_shared_list *x, const adb_sid *sid)
{
    for (size_t i = 0; i < x->list.n; i++)
        if (x->list.items[i]->has_sid && adb_sid_equal(&x->list.items[i]->sid, sid))
            return x->list.items[i]->dn;
    return NULL;
}
