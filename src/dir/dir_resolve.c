/* SIDs to objects, in batches (see dir_internal.h): the groups of a user's
 * tokenGroups, and members that are foreign security principals, resolved
 * in the domains their SIDs belong to. */
#include "config.h"

#include "dir_internal.h"

#include <adbridge/filter.h>
#include <adbridge/strmap.h>

#include <stdlib.h>

static const char *const not_fsp = "(!(objectClass=foreignSecurityPrincipal))";

/* The SIDs of one domain still to be read, and their filter items. */
typedef struct sid_bucket {
    const adb_topo_domain *td;
    dir_items filters;     /* "(objectSid=...)" items */
    adb_sid *sids;
    size_t n;
} sid_bucket;

static adb_code add_stub(adb_object_list *out, adb_object_kind kind, const adb_sid *sid, const char *dn,
                         const adb_topo_domain *td, adb_error *err)
{
    adb_object_origin origin = dir_origin_of(td);
    adb_object *o;
    adb_code rc = adb_object_new_stub(kind, sid, dn, &origin, &o, err);

    if (rc == ADB_OK) {
        rc = adb_object_list_add(out, o, err);
        adb_object_unref(o);
    }
    return rc;
}

adb_code dir_resolve_sids(adb_dir *d, const adb_topology *t, const adb_sid *sids, size_t n,
                          const adb_topo_domain *builtin_td, adb_object_list *out, adb_error *err)
{
    sid_bucket *b = calloc(t->n_domains + 1, sizeof *b);
    size_t nb = 0;
    adb_code rc = ADB_OK;

    if (b == NULL)
        return adb_error_set(err, ADB_E_NOMEM, "out of memory");
    for (size_t i = 0; rc == ADB_OK && i < n; i++) {
        const adb_topo_domain *td = dir_sid_is_builtin(&sids[i]) ? builtin_td
                                                                 : adb_topology_domain_of_sid(t, &sids[i]);
        char key[DIR_KEY_MAX];
        uint8_t bin[ADB_SID_BINARY_MAX];
        size_t len, k;
        char *item = NULL;
        void *value;
        adb_sid *grown;

        dir_key_sid(key, sizeof key, &sids[i], td != NULL ? td->dns : NULL);
        if (dir_usable(d, td) && adb_cache_get(d->cache, key, &value) == ADB_CACHE_HIT) {
            rc = adb_object_list_add(out, value, err);
            adb_object_unref(value);
            continue;
        }
        if (!dir_usable(d, td)) {
            rc = add_stub(out, ADB_OBJECT_FOREIGN, &sids[i], NULL, td, err);
            continue;
        }
        for (k = 0; k < nb && b[k].td != td; k++)
            ;
        if (k == nb)
            b[nb++].td = td;
        if ((grown = realloc(b[k].sids, (b[k].n + 1) * sizeof *grown)) == NULL) {
            rc = adb_error_set(err, ADB_E_NOMEM, "out of memory");
            break;
        }
        b[k].sids = grown;
        b[k].sids[b[k].n++] = sids[i];
        if ((rc = adb_sid_encode(&sids[i], bin, sizeof bin, &len, err)) == ADB_OK
            && (rc = adb_filter_build(&item, err, "(objectSid=%b)", bin, len)) == ADB_OK)
            rc = dir_items_add(&b[k].filters, item, err);
    }
    for (size_t k = 0; rc == ADB_OK && k < nb; k++) {
        adb_object_list got = { 0 };
        rc = dir_scan_batches(d, b[k].td, &b[k].filters, not_fsp, ADB_ATTRS_LIST, &got, err);
        /* Every SID asked for: its object, or a stub when it is gone. */
        adb_strmap by_sid = { 0 };
        for (size_t g = 0; rc == ADB_OK && g < got.n; g++) {
            char text[ADB_SID_STRING_MAX];
            if (got.items[g]->has_sid && adb_sid_format(&got.items[g]->sid, text, sizeof text, NULL) == ADB_OK
                && adb_strmap_put(&by_sid, text, got.items[g]) < 0)
                rc = adb_error_set(err, ADB_E_NOMEM, "out of memory");
        }
        for (size_t s = 0; rc == ADB_OK && s < b[k].n; s++) {
            char text[ADB_SID_STRING_MAX] = "";
            adb_strmap_slot *slot;
            adb_object *match;
            adb_sid_format(&b[k].sids[s], text, sizeof text, NULL);
            match = (slot = adb_strmap_find(&by_sid, text)) != NULL ? slot->value : NULL;
            if (match != NULL) {
                dir_cache_object(d, match);
                rc = adb_object_list_add(out, match, err);
            } else {
                rc = add_stub(out, ADB_OBJECT_OTHER, &b[k].sids[s], NULL, b[k].td, err);
            }
        }
        adb_strmap_clear(&by_sid);
        adb_object_list_clear(&got);
    }
    for (size_t k = 0; k < nb; k++) {
        dir_items_clear(&b[k].filters);
        free(b[k].sids);
    }
    free(b);
    return rc;
}

adb_code dir_resolve_fsps(adb_dir *d, const adb_topology *t, adb_object_list *list, adb_error *err)
{
    adb_object_list keep = { 0 }, resolved = { 0 };
    adb_sid *sids = calloc(list->n + 1, sizeof *sids);
    size_t n = 0;
    adb_code rc = ADB_OK;

    if (sids == NULL)
        return adb_error_set(err, ADB_E_NOMEM, "out of memory");
    for (size_t i = 0; rc == ADB_OK && i < list->n; i++) {
        if (list->items[i]->kind == ADB_OBJECT_FOREIGN && list->items[i]->has_sid)
            sids[n++] = list->items[i]->sid;
        else
            rc = adb_object_list_add(&keep, list->items[i], err);
    }
    if (rc == ADB_OK && n > 0)
        rc = dir_resolve_sids(d, t, sids, n, NULL, &resolved, err);
    for (size_t i = 0; rc == ADB_OK && i < resolved.n; i++)
        rc = adb_object_list_add(&keep, resolved.items[i], err);
    free(sids);
    adb_object_list_clear(&resolved);
    if (rc != ADB_OK) {
        adb_object_list_clear(&keep);
        return rc;
    }
    adb_object_list_clear(list);
    *list = keep;
    return ADB_OK;
}
