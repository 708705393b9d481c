/* A group's members: adb_dir_members (see include/adbridge/directory.h).
 *
 * A group's direct members are named by its member values (range
 * retrieval) and by the accounts whose primary group it is (AD leaves those
 * out of member); their DNs are read first, sorted and each kept once
 * (dn_list, about 50 bytes a member).  From STREAM_MIN members on, a direct
 * listing keeps only these DNs and streams: a page is the next `limit` DNs
 * after the cursor's, read from the DC by DN in OR batches, so memory holds
 * one page of objects whatever the group's size, and pages come in the
 * order of the DNs.  A smaller group, and a transitive listing (nested
 * groups expanded breadth first, each once, bounded by max_expansion: its
 * members must be known whole to drop repeats), is resolved whole, sorted
 * by name and cached whole; pages are cut from that.  Foreign security
 * principals are resolved in their forests.  A caller that shows only names
 * and identifiers (ADB_FIELDS_NAMES) gets members read with ADB_ATTRS_NAMES. */
#include "config.h"

#include "dir_internal.h"

#include <adbridge/dn.h>
#include <adbridge/filter.h>
#include <adbridge/strmap.h>
#include <adbridge/text.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    MEMBEROF_MIN = 50,            /* from this many members, find them by (memberOf=group) */
    STREAM_MIN = 1000,            /* from this many, a direct listing streams (DN order) */
    DN_BATCH = 25,                /* DNs per OR filter (big.group read in one thread: 0.84 s at 25, 1.45 s at 100) */
    DN_JOBS = 4,                  /* reads by DN at once (the pool's connections per domain) */
};

/* ======================================================================
 * The DNs of a group's direct members.
 * ====================================================================== */

/* DNs in one block of text (no allocation per DN): 100,000 members are
 * about 5 MB. */
typedef struct dn_list {
    char *text;                   /* the DNs, each NUL-terminated */
    size_t len, cap;
    uint32_t *at;                 /* where each DN starts in text; sorted once loaded */
    size_t n, n_cap;
    size_t max;                   /* more members are refused (max_expansion) */
    bool nomem, too_many;
} dn_list;

static void dn_list_clear(dn_list *l)
{
    free(l->text);
    free(l->at);
    memset(l, 0, sizeof *l);
}

static const char *dn_at(const dn_list *l, size_t i)
{
    return l->text + l->at[i];
}

/* AD compares DNs without regard to ASCII case.  At most max bytes. */
static int dn_cmp(const char *a, const char *b, size_t max)
{
    for (size_t i = 0; i < max; i++) {
        unsigned char x = (unsigned char)adb_ascii_lower(a[i]), y = (unsigned char)adb_ascii_lower(b[i]);
        if (x != y || x == '\0')
            return x < y ? -1 : x > y;
    }
    return 0;
}

static int cmp_at(const void *a, const void *b, void *text)
{
    return dn_cmp((const char *)text + *(const uint32_t *)a, (const char *)text + *(const uint32_t *)b, SIZE_MAX);
}

static bool dn_add(dn_list *l, const char *dn, size_t len)
{
    if (len == 0 || memchr(dn, '\0', len) != NULL)
        return true;   /* not a DN; nothing to resolve */
    if (l->n >= l->max) {
        l->too_many = true;
        return false;
    }
    if (l->len + len + 1 > UINT32_MAX) {
        l->nomem = true;
        return false;
    }
    if (l->len + len + 1 > l->cap) {
        size_t cap = l->cap ? l->cap : 4096;
        while (cap < l->len + len + 1)
            cap *= 2;
        char *grown = realloc(l->text, cap);
        if (grown == NULL) {
            l->nomem = true;
            return false;
        }
        l->text = grown;
        l->cap = cap;
    }
    if (l->n == l->n_cap) {
        size_t cap = l->n_cap ? l->n_cap * 2 : 256;
        uint32_t *grown = realloc(l->at, cap * sizeof *grown);
        if (grown == NULL) {
            l->nomem = true;
            return false;
        }
        l->at = grown;
        l->n_cap = cap;
    }
    memcpy(l->text + l->len, dn, len);
    l->text[l->len + len] = '\0';
    l->at[l->n++] = (uint32_t)l->len;
    l->len += len + 1;
    return true;
}

static adb_code dn_list_error(const dn_list *l, adb_error *err)
{
    return l->nomem ? adb_error_set(err, ADB_E_NOMEM, "out of memory")
                    : adb_error_set(err, ADB_E_INVALID_REQUEST, "more than %zu members; refusing to expand it", l->max);
}

/* Sorted, each once, and no bigger than it needs to be. */
static void dn_list_finish(dn_list *l)
{
    size_t n = 0;
    void *p;

    qsort_r(l->at, l->n, sizeof *l->at, cmp_at, l->text);
    for (size_t i = 0; i < l->n; i++)
        if (n == 0 || dn_cmp(dn_at(l, n - 1), dn_at(l, i), SIZE_MAX) != 0)
            l->at[n++] = l->at[i];
    l->n = n;
    if (l->len > 0 && (p = realloc(l->text, l->len)) != NULL) {
        l->text = p;
        l->cap = l->len;
    }
    if (l->n > 0 && (p = realloc(l->at, l->n * sizeof *l->at)) != NULL) {
        l->at = p;
        l->n_cap = l->n;
    }
}

/* One read into the list (member values, or the primary group's accounts):
 * it starts again from n0/len0, as the pool may run it a second time. */
typedef struct dns_op {
    dn_list *l;
    const char *group;
    size_t n0, len0;
} dns_op;

static void dns_reset(void *arg)
{
    dns_op *o = arg;

    o->l->n = o->n0;
    o->l->len = o->len0;
    o->l->nomem = o->l->too_many = false;
}

static bool on_value(const struct berval *bv, void *arg)
{
    return dn_add(((dns_op *)arg)->l, bv->bv_val, bv->bv_len);
}

static adb_code op_read_values(adb_ldap_conn *c, void *arg, adb_error *err)
{
    dns_reset(arg);
    return adb_ldap_read_all_values(c, ((dns_op *)arg)->group, "member", on_value, arg, err);
}

static adb_code on_primary(const adb_ldap_entry *e, void *arg, adb_error *err)
{
    dns_op *o = arg;

    return e->dn == NULL || dn_add(o->l, e->dn, strlen(e->dn)) ? ADB_OK : dn_list_error(o->l, err);
}

/* (primaryGroupID=RID) when g can be a primary group (a global or universal
 * security group of the account's own domain); NULL when it cannot. */
static adb_code primary_filter(const adb_topo_domain *gd, const adb_object *g, char **out, adb_error *err)
{
    uint32_t rid;
    char text[16];

    *out = NULL;
    if (!g->has_sid || !g->security || (g->scope != ADB_SCOPE_GLOBAL && g->scope != ADB_SCOPE_UNIVERSAL)
        || !gd->has_sid || !adb_sid_in_domain(&g->sid, &gd->sid) || adb_sid_split(&g->sid, NULL, &rid, NULL) != ADB_OK)
        return ADB_OK;
    snprintf(text, sizeof text, "%u", (unsigned)rid);
    return adb_filter_build(out, err, "(primaryGroupID=%v)", text);
}

/* The DNs of g's direct members into l, sorted, each once: its member
 * values (range retrieval), then the accounts whose primary group it is, by
 * DN only (a search that returns no attributes).  That search is paged,
 * since libldap holds an unpaged answer whole until it is read, unless the
 * caller keeps the members whole anyway (a transitive expansion): on Samba
 * a paged search costs the DC more (a millisecond or two per group). */
static adb_code load_dns(adb_dir *d, const adb_topo_domain *gd, const adb_object *g, bool whole, dn_list *l,
                         adb_error *err)
{
    static const char *const no_attrs[] = { "1.1", NULL };
    dns_op o = { .l = l, .group = g->dn };
    dir_search_op scan = { gd->nc, ADB_LDAP_SCOPE_SUBTREE, NULL, no_attrs, on_primary, dns_reset, &o };
    char *filter = NULL;
    adb_code rc;

    l->max = d->o.max_expansion;
    if ((rc = dir_check_usable(d, gd, err)) != ADB_OK)
        return rc;
    if ((rc = adb_pool_run(d->pool, gd->dns, ADB_POOL_DC, op_read_values, &o, err)) == ADB_OK
        && (l->nomem || l->too_many))
        rc = dn_list_error(l, err);
    if (rc == ADB_OK && (rc = primary_filter(gd, g, &filter, err)) == ADB_OK && filter != NULL) {
        o.n0 = l->n;
        o.len0 = l->len;
        scan.filter = filter;
        rc = whole ? dir_run_scan(d, gd->dns, ADB_POOL_DC, &scan, err)
                   : dir_run_search(d, gd->dns, ADB_POOL_DC, &scan, err);
    }
    free(filter);
    if (rc != ADB_OK) {
        adb_error_prefix(err, "reading the members of %s", g->dn);
        return rc;
    }
    dn_list_finish(l);
    return ADB_OK;
}

/* ======================================================================
 * DNs to objects.
 * ====================================================================== */

/* One DN on its way to an object. */
typedef struct member_ref {
    const char *dn;
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

/* Reads of objects by DN, a share of them each, at once on their own
 * connections. */
typedef struct dn_job {
    adb_dir *d;
    const adb_topo_domain *td;
    dir_items it;                 /* a slice of the caller's items; not owned */
    adb_attr_set set;
    adb_object_list got;
    adb_code rc;
    adb_error err;
} dn_job;

static void *run_dn_job(void *arg)
{
    dn_job *j = arg;

    j->rc = ADB_OK;
    for (size_t s = 0; j->rc == ADB_OK && s < j->it.n; s += DN_BATCH) {
        dir_items batch = { j->it.v + s, j->it.n - s < DN_BATCH ? j->it.n - s : DN_BATCH, 0 };
        j->rc = dir_scan_batches(j->d, j->td, &batch, "", j->set, &j->got, &j->err);
    }
    return NULL;
}

/* The objects of td that the items (distinguishedName=...) name, into got.
 * Samba checks every entry an OR filter finds against each of its terms,
 * so the cost per entry grows with the filter's length: short batches,
 * spread over DN_JOBS connections. */
static adb_code by_dn(adb_dir *d, const adb_topo_domain *td, const dir_items *it, adb_attr_set set,
                      adb_object_list *got, adb_error *err)
{
    size_t n_jobs = (it->n + DN_BATCH - 1) / DN_BATCH, share;
    dn_job jobs[DN_JOBS];
    adb_code rc = ADB_OK;

    if (n_jobs > DN_JOBS)
        n_jobs = DN_JOBS;
    if (n_jobs == 0)
        return ADB_OK;
    share = (it->n + n_jobs - 1) / n_jobs;
    memset(jobs, 0, sizeof jobs);
    for (size_t i = 0; i < n_jobs; i++) {
        size_t from = i * share, to = from + share < it->n ? from + share : it->n;
        jobs[i] = (dn_job){ .d = d, .td = td, .it = { it->v + from, to > from ? to - from : 0, 0 }, .set = set };
    }
    dir_parallel(jobs, n_jobs, sizeof *jobs, run_dn_job);
    for (size_t i = 0; i < n_jobs; i++) {
        for (size_t k = 0; rc == ADB_OK && jobs[i].rc == ADB_OK && k < jobs[i].got.n; k++)
            rc = adb_object_list_add(got, jobs[i].got.items[k], err);
        if (rc == ADB_OK && jobs[i].rc != ADB_OK) {
            rc = jobs[i].rc;
            *err = jobs[i].err;
        }
        adb_object_list_clear(&jobs[i].got);
    }
    return rc;
}

/* The objects the DNs l[start, end) name, in that order, appended to out,
 * read with attribute set `set` (ADB_ATTRS_LIST or ADB_ATTRS_NAMES): when
 * they are all of group g's members and many, those of its domain gd by one
 * (memberOf=g) scan (g NULL: not), the rest by DN, per domain, in batches; foreign
 * principals resolved in their forests; a DN of a domain we may not read,
 * or in no forest we know, listed as a stub by DN.  Not found at all (just
 * deleted): left out. */
static adb_code resolve_dns(adb_dir *d, const adb_topology *t, const adb_topo_domain *gd, const adb_object *g,
                            const dn_list *l, size_t start, size_t end, adb_attr_set set, adb_object_list *out,
                            adb_error *err)
{
    size_t n = end - start;
    adb_strmap index = { 0 };   /* normal DN -> member_ref */
    adb_object_list got = { 0 }, members = { 0 };
    member_ref *refs = calloc(n + 1, sizeof *refs);
    char *filter = NULL;
    adb_code rc = refs != NULL ? ADB_OK : adb_error_set(err, ADB_E_NOMEM, "out of memory");

    for (size_t k = 0; rc == ADB_OK && k < n; k++) {
        refs[k].dn = dn_at(l, start + k);
        if (adb_dn_normalize(refs[k].dn, &refs[k].norm, NULL) != ADB_OK)
            continue;
        refs[k].td = adb_topology_domain_of_dn(t, refs[k].dn);
        if (adb_strmap_put(&index, refs[k].norm, &refs[k]) < 0)
            rc = adb_error_set(err, ADB_E_NOMEM, "out of memory");
    }
    if (rc == ADB_OK && g != NULL && n >= MEMBEROF_MIN
        && (rc = adb_filter_build(&filter, err, "(memberOf=%v)", g->dn)) == ADB_OK
        && (rc = dir_scan_objects(d, gd, NULL, ADB_LDAP_SCOPE_SUBTREE, filter, set, &got, err)) == ADB_OK)
        match_refs(&index, &got);
    free(filter);
    adb_object_list_clear(&got);
    for (size_t i = 0; rc == ADB_OK && i < t->n_domains; i++) {
        const adb_topo_domain *td = &t->domains[i];
        dir_items it = { 0 };
        for (size_t k = 0; rc == ADB_OK && k < n; k++) {
            char *item = NULL;
            if (refs[k].norm == NULL || refs[k].obj != NULL || refs[k].td != td)
                continue;
            if (!dir_usable(d, td)) {
                adb_object_origin origin = dir_origin_of(td);
                rc = adb_object_new_stub(ADB_OBJECT_OTHER, NULL, refs[k].dn, &origin, &refs[k].obj, err);
            } else if ((rc = adb_filter_build(&item, err, "(distinguishedName=%v)", refs[k].dn)) == ADB_OK) {
                rc = dir_items_add(&it, item, err);
            }
        }
        if (rc == ADB_OK)
            rc = by_dn(d, td, &it, set, &got, err);
        match_refs(&index, &got);
        adb_object_list_clear(&got);
        dir_items_clear(&it);
    }
    for (size_t k = 0; rc == ADB_OK && k < n; k++) {
        if (refs[k].norm != NULL && refs[k].td == NULL && refs[k].obj == NULL)
            rc = adb_object_new_stub(ADB_OBJECT_OTHER, NULL, refs[k].dn, NULL, &refs[k].obj, err);
        if (rc == ADB_OK && refs[k].obj != NULL)
            rc = adb_object_list_add(&members, refs[k].obj, err);
    }
    if (rc == ADB_OK)
        rc = dir_resolve_fsps(d, t, &members, err);
    for (size_t i = 0; rc == ADB_OK && i < members.n; i++)
        rc = adb_object_list_add(out, members.items[i], err);
    adb_object_list_clear(&members);
    for (size_t k = 0; refs != NULL && k < n; k++) {
        free(refs[k].norm);
        adb_object_unref(refs[k].obj);
    }
    free(refs);
    adb_strmap_clear(&index);
    return rc;
}

/* Direct members of group g, whole. */
static adb_code direct_members(adb_dir *d, const adb_topology *t, const adb_object *g, adb_attr_set set,
                               adb_object_list *out, adb_error *err)
{
    const adb_topo_domain *gd = adb_topology_domain(t, g->domain_dns);
    dn_list l = { 0 };
    adb_code rc;

    if (gd == NULL)
        return adb_error_set(err, ADB_E_NOT_FOUND, "the domain of %s is not in the topology", g->dn);
    if ((rc = load_dns(d, gd, g, true, &l, err)) == ADB_OK)
        rc = resolve_dns(d, t, gd, g, &l, 0, l.n, set, out, err);
    dn_list_clear(&l);
    return rc;
}

/* ======================================================================
 * Transitive members.
 * ====================================================================== */

static adb_code expand_members(adb_dir *d, const adb_topology *t, adb_object *root, adb_attr_set set,
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
        rc = direct_members(d, t, queue.items[q], set, &direct, err);
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
            if (m->kind == ADB_OBJECT_GROUP) {
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

/* ======================================================================
 * Direct listings, cached under "members-d:".
 * ====================================================================== */

typedef struct direct_list {
    int refs;
    bool streamed;                /* dns holds the members; else whole does */
    bool names_only;              /* whole was read with ADB_ATTRS_NAMES */
    dn_list dns;                  /* streamed: the members' DNs, sorted */
    adb_object_list whole;        /* not streamed: the members, by sort key */
} direct_list;

static void *direct_retain(void *v)
{
    __atomic_add_fetch(&((direct_list *)v)->refs, 1, __ATOMIC_RELAXED);
    return v;
}

static void direct_release(void *v)
{
    direct_list *dl = v;

    if (dl != NULL && __atomic_sub_fetch(&dl->refs, 1, __ATOMIC_ACQ_REL) == 0) {
        dn_list_clear(&dl->dns);
        adb_object_list_clear(&dl->whole);
        free(dl);
    }
}

static const adb_cache_type direct_type = { direct_retain, direct_release };

/* g's direct members, from the cache or read: streamed from STREAM_MIN on,
 * otherwise resolved whole with set. */
static adb_code direct_listing(adb_dir *d, const adb_object *g, bool names, direct_list **out, adb_error *err)
{
    const adb_topo_domain *gd;
    adb_topology *t = NULL;
    direct_list *dl;
    char key[DIR_KEY_MAX];
    size_t bytes;
    void *value;
    adb_code rc;

    dir_key_membership(key, sizeof key, "members-d:", g);
    /* A whole list of names serves a request for names only; a full one serves both. */
    if (adb_cache_get(d->cache, key, &value) == ADB_CACHE_HIT) {
        if (((direct_list *)value)->streamed || !((direct_list *)value)->names_only || names) {
            *out = value;
            return ADB_OK;
        }
        direct_release(value);
    }
    if ((dl = calloc(1, sizeof *dl)) == NULL)
        return adb_error_set(err, ADB_E_NOMEM, "out of memory");
    dl->refs = 1;
    if ((rc = adb_dir_topology(d, false, &t, err)) != ADB_OK)
        goto done;
    if ((gd = adb_topology_domain(t, g->domain_dns)) == NULL) {
        rc = adb_error_set(err, ADB_E_NOT_FOUND, "the domain of %s is not in the topology", g->dn);
        goto done;
    }
    if ((rc = load_dns(d, gd, g, false, &dl->dns, err)) != ADB_OK)
        goto done;
    dl->streamed = dl->dns.n >= STREAM_MIN;
    bytes = sizeof *dl + dl->dns.len + dl->dns.n * sizeof *dl->dns.at;
    if (!dl->streamed) {
        dl->names_only = names;
        if ((rc = resolve_dns(d, t, gd, g, &dl->dns, 0, dl->dns.n, names ? ADB_ATTRS_NAMES : ADB_ATTRS_LIST,
                              &dl->whole, err)) != ADB_OK)
            goto done;
        adb_object_list_sort(&dl->whole);
        dn_list_clear(&dl->dns);
        bytes = sizeof *dl + dl->whole.n * sizeof *dl->whole.items;
        for (size_t i = 0; i < dl->whole.n; i++)
            bytes += adb_object_size(dl->whole.items[i]);
    }
    adb_cache_put(d->cache, key, ADB_CACHE_MEMBERS, &direct_type, direct_retain(dl), bytes);
done:
    adb_topology_unref(t);
    if (rc != ADB_OK) {
        direct_release(dl);
        dl = NULL;
    }
    *out = dl;
    return rc;
}

/* One page of a streamed listing: the `limit` DNs after the cursor's key
 * (a DN, cut to ADB_CURSOR_KEY_MAX bytes), read now. */
static adb_code stream_page(adb_dir *d, const dn_list *l, const char *after, size_t limit, bool names,
                            adb_dir_page *out, uint64_t binding, adb_error *err)
{
    size_t lo = 0, hi = l->n, end;
    adb_topology *t = NULL;
    char key[ADB_CURSOR_KEY_MAX + 1];
    adb_code rc;

    while (after != NULL && lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (dn_cmp(dn_at(l, mid), after, ADB_CURSOR_KEY_MAX) <= 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    end = l->n - lo > limit ? lo + limit : l->n;
    if (lo == end)
        return ADB_OK;
    if ((rc = adb_dir_topology(d, false, &t, err)) == ADB_OK)
        rc = resolve_dns(d, t, NULL, NULL, l, lo, end, names ? ADB_ATTRS_NAMES : ADB_ATTRS_LIST, &out->items, err);
    adb_topology_unref(t);
    if (rc == ADB_OK && end < l->n) {
        snprintf(key, sizeof key, "%s", dn_at(l, end - 1));
        rc = dir_set_next_cursor(out, ADB_CURSOR_MEMBERS, binding, key, err);
    }
    return rc;
}

/* ======================================================================
 * Members.
 * ====================================================================== */

/* One page of a list sorted by adb_object_sort_key: the `limit` objects
 * after the key `after` (NULL: from the start). */
static adb_code cut_page(const adb_object_list *l, const char *after, size_t limit, adb_dir_page *out,
                         uint64_t binding, adb_error *err)
{
    size_t lo = 0, hi = l->n;
    adb_code rc = ADB_OK;

    while (after != NULL && lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(adb_object_sort_key(l->items[mid]), after) <= 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t i = lo; rc == ADB_OK && i < l->n && i - lo < limit; i++)
        rc = adb_object_list_add(&out->items, l->items[i], err);
    if (rc == ADB_OK && lo + out->items.n < l->n)
        rc = dir_set_next_cursor(out, ADB_CURSOR_MEMBERS, binding,
                                 adb_object_sort_key(out->items.items[out->items.n - 1]), err);
    return rc;
}

/* A transitive listing: expanded whole, cached under "members-t:". */
static adb_code transitive_listing(adb_dir *d, adb_object *g, bool names, dir_shared_list **out, adb_error *err)
{
    adb_topology *t = NULL;
    dir_shared_list *sl;
    char key[DIR_KEY_MAX];
    void *value;
    adb_code rc;

    dir_key_membership(key, sizeof key, "members-t:", g);
    /* A list of names serves a request for names only; a full one serves both. */
    if (adb_cache_get(d->cache, key, &value) == ADB_CACHE_HIT) {
        if (!((dir_shared_list *)value)->names_only || names) {
            *out = value;
            return ADB_OK;
        }
        dir_list_release(value);
    }
    if ((sl = dir_shared_list_new(err)) == NULL)
        return ADB_E_NOMEM;
    sl->names_only = names;
    if ((rc = adb_dir_topology(d, false, &t, err)) == ADB_OK
        && (rc = expand_members(d, t, g, names ? ADB_ATTRS_NAMES : ADB_ATTRS_LIST, &sl->list, err)) == ADB_OK)
        dir_cache_list(d, key, ADB_CACHE_MEMBERS, sl);
    adb_topology_unref(t);
    if (rc != ADB_OK) {
        dir_list_release(sl);
        sl = NULL;
    }
    *out = sl;
    return rc;
}

adb_code adb_dir_members(adb_dir *d, const adb_dir_members_request *req, adb_object **group_out,
                         adb_dir_page *out, adb_error *err)
{
    size_t limit = req->limit != 0 ? req->limit : ADB_MEMBERS_DEFAULT_LIMIT;
    bool names = req->fields != 0 && (req->fields & ~(unsigned)ADB_FIELDS_NAMES) == 0;
    bool has_cursor = req->cursor != NULL && req->cursor[0] != '\0';
    adb_object *g = NULL;
    dir_shared_list *sl = NULL;
    direct_list *dl = NULL;
    adb_cursor cur = { 0 };
    uint64_t binding;
    char gid[DIR_KEY_MAX];
    const char *mode;
    adb_code rc;

    memset(out, 0, sizeof *out);
    if (group_out != NULL)
        *group_out = NULL;
    if (limit > ADB_MEMBERS_MAX_LIMIT)
        return adb_error_set(err, ADB_E_INVALID_REQUEST, "limit %zu is above the maximum of %d", limit,
                             ADB_MEMBERS_MAX_LIMIT);
    if ((rc = dir_get_kind(d, req->group, req->domain, ADB_KINDS_GROUP, &g, NULL, err)) != ADB_OK)
        return rc;
    rc = req->transitive ? transitive_listing(d, g, names, &sl, err) : direct_listing(d, g, names, &dl, err);
    if (rc != ADB_OK)
        goto done;
    /* The cursor is bound to the group and to the order of the listing. */
    mode = req->transitive ? "t" : dl->streamed ? "s" : "d";
    dir_member_key(gid, sizeof gid, g);
    binding = adb_cursor_bind(adb_cursor_bind(ADB_CURSOR_BIND_INIT, gid, strlen(gid)), mode, 1);
    if (has_cursor && (rc = adb_cursor_decode(req->cursor, ADB_CURSOR_MEMBERS, binding, &cur, err)) != ADB_OK)
        goto done;
    if (dl != NULL && dl->streamed)
        rc = stream_page(d, &dl->dns, has_cursor ? cur.key : NULL, limit, names, out, binding, err);
    else
        rc = cut_page(sl != NULL ? &sl->list : &dl->whole, has_cursor ? cur.key : NULL, limit, out, binding, err);
done:
    if (rc != ADB_OK)
        adb_dir_page_clear(out);
    if (rc == ADB_OK && group_out != NULL)
        *group_out = adb_object_ref(g);
    dir_list_release(sl);
    if (dl != NULL)
        direct_release(dl);
    adb_object_unref(g);
    return rc;
}
