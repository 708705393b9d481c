/* The foreign security principals of a domain, by SID (dir_internal.h):
 * groups-of asks every other forest's domains which of the user's SIDs
 * they hold as FSPs.  Those are few and change only when someone adds a
 * member from another forest, so the whole container is read once and
 * kept for the membership TTL, like a user's groups: a user's groups-of
 * then costs no read in a forest that holds none of its SIDs.  The index
 * is a cached list of stubs (SID and DN).  A domain with more FSPs than
 * dir_fsp_index_max is asked per user instead, as one search for the
 * user's SIDs, so that no index outgrows the cache. */
#include "config.h"

#include "dir_internal.h"

#include <adbridge/filter.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t dir_fsp_index_max = 10000;   /* about 5 MB of stubs */

static const char *const sid_attr[] = { "objectSid", NULL };

static adb_code on_fsp(const adb_ldap_entry *e, void *arg, adb_error *err)
{
    dir_shared_list *sl = arg;
    struct berval **v = adb_ldap_entry_values(e, "objectSid");
    adb_object *o = NULL;
    adb_sid sid;
    adb_code rc;

    if (sl->incomplete || sl->list.n >= dir_fsp_index_max) {
        sl->incomplete = true;   /* the rest is not kept */
        return ADB_OK;
    }
    if (v == NULL || v[0] == NULL || adb_sid_decode(v[0]->bv_val, v[0]->bv_len, &sid, NULL) != ADB_OK)
        return ADB_OK;   /* an FSP without a SID holds no one */
    if ((rc = adb_object_new_stub(ADB_OBJECT_FOREIGN, &sid, e->dn, NULL, &o, err)) == ADB_OK)
        rc = adb_object_list_add(&sl->list, o, err);
    adb_object_unref(o);
    return rc;
}

static void fsps_reset(void *arg)
{
    dir_shared_list *sl = arg;

    adb_object_list_clear(&sl->list);
    sl->incomplete = false;
}

static int by_sid(const void *a, const void *b)
{
    return adb_sid_compare(&(*(adb_object *const *)a)->sid, &(*(adb_object *const *)b)->sid);
}

/* td's FSPs sorted by SID, from the cache or read; incomplete: more than
 * the index keeps. */
static adb_code index_get(adb_dir *d, const adb_topo_domain *td, dir_shared_list **out, adb_error *err)
{
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
    dir_search_op op = { base, ADB_LDAP_SCOPE_ONE, "(objectClass=foreignSecurityPrincipal)", sid_attr, on_fsp,
                         fsps_reset, sl };
    rc = dir_run_scan(d, td->dns, ADB_POOL_DC, &op, err);
    if (rc == ADB_E_NOT_FOUND || (rc == ADB_OK && sl->incomplete)) {   /* no container: none; too many: a marker */
        adb_error_clear(err);
        adb_object_list_clear(&sl->list);
        rc = ADB_OK;
    }
    if (rc != ADB_OK) {
        dir_list_release(sl);
        return rc;
    }
    /* By SID, for dir_fsp_find's binary search (every stub has one). */
    if (sl->list.n > 1)
        qsort(sl->list.items, sl->list.n, sizeof *sl->list.items, by_sid);
    __atomic_add_fetch(&d->fsp_index_reads, 1, __ATOMIC_RELAXED);
    dir_cache_list(d, key, ADB_CACHE_GROUPS_OF, sl);
    *out = sl;
    return ADB_OK;
}

static adb_code on_dn(const adb_ldap_entry *e, void *arg, adb_error *err)
{
    return dir_items_add(arg, strdup(e->dn), err);
}

/* The FSPs for sids, asked of the DC: one search per batch of SIDs. */
static adb_code by_search(adb_dir *d, const adb_topo_domain *td, const adb_sid *sids, size_t n, dir_items *out,
                          adb_error *err)
{
    dir_items terms = { 0 };
    char base[600];
    adb_code rc = ADB_OK;

    for (size_t i = 0; rc == ADB_OK && i < n; i++) {
        uint8_t bin[ADB_SID_BINARY_MAX];
        size_t len;
        char *item = NULL;
        if ((rc = adb_sid_encode(&sids[i], bin, sizeof bin, &len, err)) == ADB_OK
            && (rc = adb_filter_build(&item, err, "(objectSid=%b)", bin, len)) == ADB_OK)
            rc = dir_items_add(&terms, item, err);
    }
    snprintf(base, sizeof base, "CN=ForeignSecurityPrincipals,%s", td->nc);
    for (size_t k = 0; rc == ADB_OK && k < terms.n;) {
        char *f = dir_batch_filter(&terms, &k, "(objectClass=foreignSecurityPrincipal)");
        dir_search_op op = { base, ADB_LDAP_SCOPE_ONE, f, sid_attr, on_dn, NULL, out };
        rc = f != NULL ? dir_run_search(d, td->dns, ADB_POOL_DC, &op, err)
                       : adb_error_set(err, ADB_E_NOMEM, "out of memory");
        if (rc == ADB_E_NOT_FOUND) {   /* no container */
            adb_error_clear(err);
            rc = ADB_OK;
        }
        free(f);
    }
    dir_items_clear(&terms);
    return rc;
}

adb_code dir_fsp_find(adb_dir *d, const adb_topo_domain *td, const adb_sid *sids, size_t n, dir_items *out,
                      adb_error *err)
{
    dir_shared_list *x = NULL;
    adb_code rc;

    if (n == 0 || (rc = index_get(d, td, &x, err)) != ADB_OK)
        return n == 0 ? ADB_OK : rc;
    if (x->incomplete) {
        dir_list_release(x);
        return by_search(d, td, sids, n, out, err);
    }
    for (size_t i = 0; rc == ADB_OK && i < n; i++) {
        size_t lo = 0, hi = x->list.n;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            int c = adb_sid_compare(&x->list.items[mid]->sid, &sids[i]);
            if (c == 0) {
                rc = dir_items_add(out, strdup(x->list.items[mid]->dn), err);
                break;
            }
            if (c < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
    }
    dir_list_release(x);
    return rc;
}
