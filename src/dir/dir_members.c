/* A group's members: adb_dir_members (see include/adbridge/directory.h).
 *
 * Direct members are the group's member values (range retrieval) resolved
 * to objects, by one (memberOf=group) search for a large group and by DN in
 * batches for the rest, foreign principals resolved in their forests, plus
 * the accounts whose primary group it is.  A transitive listing expands
 * nested groups breadth first, each once (cycles end).  The expansion is
 * cached whole; pages are cut from it. */
#include "config.h"

#include "dir_internal.h"

#include <adbridge/dn.h>
#include <adbridge/filter.h>
#include <adbridge/strmap.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MEMBEROF_MIN = 50 };   /* from this many members, find them by (memberOf=group) */

/* Values of one attribute of one object, with range retrieval. */
typedef struct values_op {
    const char *dn, *attr;
    char **v;
    size_t n, cap;
    bool nomem;
} values_op;

static void values_reset(values_op *vo)
{
    for (size_t i = 0; i < vo->n; i++)
        free(vo->v[i]);
    free(vo->v);
    vo->v = NULL;
    vo->n = vo->cap = 0;
    vo->nomem = false;
}

static bool on_value(const struct berval *bv, void *arg)
{
    values_op *vo = arg;

    if (bv->bv_len == 0 || memchr(bv->bv_val, '\0', bv->bv_len) != NULL)
        return true;   /* not a DN; nothing to resolve */
    if (vo->n == vo->cap) {
        size_t cap = vo->cap ? vo->cap * 2 : 256;
        char **grown = realloc(vo->v, cap * sizeof *grown);
        if (grown == NULL) {
            vo->nomem = true;
            return false;
        }
        vo->v = grown;
        vo->cap = cap;
    }
    if ((vo->v[vo->n] = strndup(bv->bv_val, bv->bv_len)) == NULL) {
        vo->nomem = true;
        return false;
    }
    vo->n++;
    return true;
}

static adb_code op_read_values(adb_ldap_conn *c, void *arg, adb_error *err)
{
    values_op *vo = arg;
    adb_code rc;

    values_reset(vo);
    rc = adb_ldap_read_all_values(c, vo->dn, vo->attr, on_value, vo, err);
    if (rc == ADB_OK && vo->nomem)
        rc = adb_error_set(err, ADB_E_NOMEM, "out of memory reading %s of %s", vo->attr, vo->dn);
    return rc;
}

/* ======================================================================
 * Direct members.
 * ====================================================================== */

/* One value of a group's member attribute, on its way to an object. */
typedef struct member_ref {
    char *norm;                   /* normal form of the DN; NULL when it is not one */
    const adb_topo_domain *td;    /* its domain; NULL when in no known forest */
    adb_object *obj;              /* a reference once resolved */
} member_ref;

/* Points refs at the objects found (matched by normal DN). */
static void match_refs(adb_strmap *index, const adb_object_list *found)
{
    for (size_t i = 0; i < found->n; i++) {
        char *norm;
        adb_strmap_slot *slot;
        if (adb_dn_normalize(found->items[i]->dn, &norm, NULL) != ADB_OK)
            continue;
        if ((slot = adb_strmap_find(index, norm)) != NULL && ((member_ref *)slot->value)->obj == NULL)
            ((member_ref *)slot->value)->obj = adb_object_ref(found->items[i]);
        free(norm);
    }
}

/* Accounts whose primary group is g: AD leaves them out of g's member
 * values (primaryGroupID holds the group's RID instead).  A primary group is
 * a global or universal security group of the account's own domain. */
static adb_code primary_members(adb_dir *d, const adb_topo_domain *gd, const adb_object *g, adb_object_list *out,
                                adb_error *err)
{
    uint32_t rid;
    char text[16], *filter = NULL;
    adb_code rc;

    if (!g->has_sid || !g->security || (g->scope != ADB_SCOPE_GLOBAL && g->scope != ADB_SCOPE_UNIVERSAL)
        || !gd->has_sid || !adb_sid_in_domain(&g->sid, &gd->sid) || adb_sid_split(&g->sid, NULL, &rid, NULL) != ADB_OK)
        return ADB_OK;
    snprintf(text, sizeof text, "%u", (unsigned)rid);
    if ((rc = adb_filter_build(&filter, err, "(primaryGroupID=%v)", text)) == ADB_OK)
        rc = dir_search_objects(d, gd, NULL, ADB_LDAP_SCOPE_SUBTREE, filter, ADB_ATTRS_LIST, out, err);
    free(filter);
    if (rc != ADB_OK)
        adb_error_prefix(err, "finding the accounts whose primary group is %s", g->dn);
    return rc;
}

/* Direct members of group g: its member values (range retrieval) resolved
 * to objects, foreign principals resolved in their forests, and the
 * accounts that have g as their primary group. */
static adb_code direct_members(adb_dir *d, const adb_topology *t, const adb_object *g, adb_object_list *out,
                               adb_error *err)
{
    const adb_topo_domain *gd = adb_topology_domain(t, g->domain_dns);
    values_op vo = { .dn = g->dn, .attr = "member" };
    adb_strmap index = { 0 };   /* normal DN -> member_ref */
    adb_object_list got = { 0 }, members = { 0 };
    member_ref *refs = NULL;
    char *filter = NULL;
    adb_code rc;

    if (gd == NULL)
        return adb_error_set(err, ADB_E_NOT_FOUND, "the domain of %s is not in the topology", g->dn);
    if ((rc = dir_check_usable(d, gd, err)) != ADB_OK)
        return rc;
    if ((rc = adb_pool_run(d->pool, gd->dns, ADB_POOL_DC, op_read_values, &vo, err)) != ADB_OK) {
        adb_error_prefix(err, "reading the members of %s", g->dn);
        values_reset(&vo);
        return rc;
    }
    if ((refs = calloc(vo.n + 1, sizeof *refs)) == NULL)
        rc = adb_error_set(err, ADB_E_NOMEM, "out of memory");
    for (size_t k = 0; rc == ADB_OK && k < vo.n; k++) {
        if (adb_dn_normalize(vo.v[k], &refs[k].norm, NULL) != ADB_OK)
            continue;
        refs[k].td = adb_topology_domain_of_dn(t, vo.v[k]);
        if (adb_strmap_put(&index, refs[k].norm, &refs[k]) < 0)
            rc = adb_error_set(err, ADB_E_NOMEM, "out of memory");
    }
    /* Many members: one paged search finds those of the group's own domain. */
    if (rc == ADB_OK && vo.n >= MEMBEROF_MIN && (rc = adb_filter_build(&filter, err, "(memberOf=%v)", g->dn)) == ADB_OK
        && (rc = dir_search_objects(d, gd, NULL, ADB_LDAP_SCOPE_SUBTREE, filter, ADB_ATTRS_LIST, &got, err)) == ADB_OK)
        match_refs(&index, &got);
    free(filter);
    adb_object_list_clear(&got);
    /* The rest (all of them for small groups): by DN, per domain, in batches. */
    for (size_t i = 0; rc == ADB_OK && i < t->n_domains; i++) {
        const adb_topo_domain *td = &t->domains[i];
        dir_items it = { 0 };
        for (size_t k = 0; rc == ADB_OK && k < vo.n; k++) {
            char *item = NULL;
            if (refs[k].norm == NULL || refs[k].obj != NULL || refs[k].td != td)
                continue;
            if (!dir_usable(d, td)) {
                adb_object_origin origin = dir_origin_of(td);
                rc = adb_object_new_stub(ADB_OBJECT_OTHER, NULL, vo.v[k], &origin, &refs[k].obj, err);
            } else if ((rc = adb_filter_build(&item, err, "(distinguishedName=%v)", vo.v[k])) == ADB_OK) {
                rc = dir_items_add(&it, item, err);
            }
        }
        if (rc == ADB_OK)
            rc = dir_search_batches(d, td, &it, "", &got, err);
        match_refs(&index, &got);
        adb_object_list_clear(&got);
        dir_items_clear(&it);
    }
    /* In no forest we know: listed by DN.  Not found at all (just deleted): left out. */
    for (size_t k = 0; rc == ADB_OK && k < vo.n; k++) {
        if (refs[k].norm != NULL && refs[k].td == NULL && refs[k].obj == NULL)
            rc = adb_object_new_stub(ADB_OBJECT_OTHER, NULL, vo.v[k], NULL, &refs[k].obj, err);
        if (rc == ADB_OK && refs[k].obj != NULL)
            rc = adb_object_list_add(&members, refs[k].obj, err);
    }
    if (rc == ADB_OK)
        rc = dir_resolve_fsps(d, t, &members, err);
    if (rc == ADB_OK)
        rc = primary_members(d, gd, g, &members, err);
    for (size_t i = 0; rc == ADB_OK && i < members.n; i++)
        rc = adb_object_list_add(out, members.items[i], err);
    adb_object_list_clear(&members);
    for (size_t k = 0; refs != NULL && k < vo.n; k++) {
        free(refs[k].norm);
        adb_object_unref(refs[k].obj);
    }
    free(refs);
    adb_strmap_clear(&index);
    values_reset(&vo);
    return rc;
}

/* ======================================================================
 * Members.
 * ====================================================================== */

static adb_code expand_members(adb_dir *d, const adb_topology *t, adb_object *root, bool transitive,
                               adb_object_list *out, adb_error *err)
{
    adb_strmap visited = { 0 }, seen = { 0 };
    adb_object_list queue = { 0 };
    char key[DIR_KEY_MAX];
    adb_code rc;

    dir_member_key(key, sizeof key, root);
    if (adb_strmap_put(&visited, key, NULL) < 0 || (rc = adb_object_list_add(&queue, root, err)) != ADB_OK) {
        adb_strmap_clear(&visited);
        return adb_error_set(err, ADB_E_NOMEM, "out of memory");
    }
    for (size_t q = 0; rc == ADB_OK && q < queue.n; q++) {
        adb_object_list direct = { 0 };
        rc = direct_members(d, t, queue.items[q], &direct, err);
        if (rc == ADB_E_DOMAIN_NOT_ENABLED && q > 0) {
            /* A nested group of a domain we may not read: list it unexpanded. */
            adb_error_clear(err);
            rc = ADB_OK;
            dir_member_key(key, sizeof key, queue.items[q]);
            if (adb_strmap_put(&seen, key, NULL) > 0)
                rc = adb_object_list_add(out, queue.items[q], err);
        }
        for (size_t i = 0; rc == ADB_OK && i < direct.n; i++) {
            adb_object *m = direct.items[i];
            int added;
            dir_member_key(key, sizeof key, m);
            if (transitive && m->kind == ADB_OBJECT_GROUP) {
                if ((added = adb_strmap_put(&visited, key, NULL)) > 0)
                    rc = adb_object_list_add(&queue, m, err);
            } else if ((added = adb_strmap_put(&seen, key, NULL)) > 0) {
                rc = adb_object_list_add(out, m, err);
            }
            if (rc == ADB_OK && added < 0)
                rc = adb_error_set(err, ADB_E_NOMEM, "out of memory");
            if (rc == ADB_OK && out->n > d->o.max_expansion)
                rc = adb_error_set(err, ADB_E_INVALID_REQUEST, "%s has more than %zu members; refusing to expand it",
                                   root->dn, d->o.max_expansion);
        }
        adb_object_list_clear(&direct);
    }
    adb_object_list_clear(&queue);
    adb_strmap_clear(&visited);
    adb_strmap_clear(&seen);
    if (rc == ADB_OK)
        adb_object_list_sort(out);
    return rc;
}

/* First index whose key sorts after `after`. */
static size_t page_start(const adb_object_list *l, const char *after)
{
    size_t lo = 0, hi = l->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(adb_object_sort_key(l->items[mid]), after) <= 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

adb_code adb_dir_members(adb_dir *d, const adb_dir_members_request *req, adb_object **group_out,
                         adb_dir_page *out, adb_error *err)
{
    size_t limit = req->limit != 0 ? req->limit : ADB_MEMBERS_DEFAULT_LIMIT, start = 0;
    adb_object *g = NULL;
    adb_topology *t = NULL;
    dir_shared_list *sl = NULL;
    adb_cursor cur = { 0 };
    uint64_t binding;
    char key[DIR_KEY_MAX], gid[DIR_KEY_MAX];
    void *value;
    adb_code rc;

    memset(out, 0, sizeof *out);
    if (group_out != NULL)
        *group_out = NULL;
    if (limit > ADB_MEMBERS_MAX_LIMIT)
        return adb_error_set(err, ADB_E_INVALID_REQUEST, "limit %zu is above the maximum of %d", limit,
                             ADB_MEMBERS_MAX_LIMIT);
    if ((rc = dir_get_kind(d, req->group, req->domain, ADB_KINDS_GROUP, &g, NULL, err)) != ADB_OK)
        return rc;
    dir_member_key(gid, sizeof gid, g);
    binding = adb_cursor_bind(adb_cursor_bind(ADB_CURSOR_BIND_INIT, gid, strlen(gid)), req->transitive ? "t" : "d", 1);
    if (req->cursor != NULL && req->cursor[0] != '\0'
        && (rc = adb_cursor_decode(req->cursor, ADB_CURSOR_MEMBERS, binding, &cur, err)) != ADB_OK)
        goto done;
    dir_key_membership(key, sizeof key, req->transitive ? "members-t:" : "members-d:", g);
    if (adb_cache_get(d->cache, key, &value) == ADB_CACHE_HIT) {
        sl = value;
    } else {
        if ((sl = dir_shared_list_new(err)) == NULL) {
            rc = ADB_E_NOMEM;
            goto done;
        }
        if ((rc = adb_dir_topology(d, false, &t, err)) != ADB_OK
            || (rc = expand_members(d, t, g, req->transitive, &sl->list, err)) != ADB_OK)
            goto done;
        dir_cache_list(d, key, ADB_CACHE_MEMBERS, sl);
    }
    if (req->cursor != NULL && req->cursor[0] != '\0')
        start = page_start(&sl->list, cur.key);
    for (size_t i = start; rc == ADB_OK && i < sl->list.n && i - start < limit; i++)
        rc = adb_object_list_add(&out->items, sl->list.items[i], err);
    if (rc == ADB_OK && start + out->items.n < sl->list.n)
        rc = dir_set_next_cursor(out, ADB_CURSOR_MEMBERS, binding,
                                 adb_object_sort_key(out->items.items[out->items.n - 1]), err);
done:
    if (rc != ADB_OK)
        adb_dir_page_clear(out);
    if (rc == ADB_OK && group_out != NULL)
        *group_out = adb_object_ref(g);
    dir_list_release(sl);
    adb_topology_unref(t);
    adb_object_unref(g);
    return rc;
}
