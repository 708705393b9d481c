/* People picker: adb_dir_search (see include/adbridge/directory.h).
 *
 * Users and groups whose account name, display name, mail or UPN starts with
 * the prefix, in every enabled domain, ordered by account name then domain.
 * Candidates are found with a filter on attributes Samba and AD index
 * (sAMAccountType selects the kind; the four names are in @INDEXLIST and
 * have fATTINDEX), asking for the account name and GUID only: on a forest's
 * global catalog when search_gc says so (auto: when two or more of its
 * domains are enabled), else on each domain's DCs.  Only the best limit+1
 * candidates after the cursor are kept (the one more tells whether a next
 * page exists); the page's objects are then read from their DCs by GUID.
 * Samba's ldb has no index for a prefix (substring) match: the DC still
 * reads every account of the kind, but sends back two attributes per match
 * instead of a whole object (see schemas/README.md, search). */
#include "config.h"

#include "dir_internal.h"

#include <adbridge/clock.h>
#include <adbridge/filter.h>

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* One candidate: its sort key, where to fetch it, and the object once read. */
typedef struct cand {
    char *key;
    adb_object *obj;
    const adb_topo_domain *td;
    adb_guid guid;
    dir_names *x;                /* found in this index (not held); NULL: by a DC */
} cand;

/* The k smallest keys after `after`, kept sorted. */
typedef struct topk {
    cand *v;
    size_t n, k;
    const char *after;
} topk;

static void cand_clear(cand *c)
{
    free(c->key);
    adb_object_unref(c->obj);
    memset(c, 0, sizeof *c);
}

/* Takes over c in every case. */
static adb_code topk_offer(topk *tk, cand *c, adb_error *err)
{
    size_t lo = 0, hi = tk->n;

    if (c->key == NULL) {
        cand_clear(c);
        return adb_error_set(err, ADB_E_NOMEM, "out of memory");
    }
    if ((tk->after != NULL && strcmp(c->key, tk->after) <= 0)
        || (tk->n == tk->k && strcmp(c->key, tk->v[tk->n - 1].key) >= 0)) {
        cand_clear(c);
        return ADB_OK;
    }
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(tk->v[mid].key, c->key) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < tk->n && strcmp(tk->v[lo].key, c->key) == 0) {   /* seen already (GC and DC) */
        cand_clear(c);
        return ADB_OK;
    }
    if (tk->n == tk->k)
        cand_clear(&tk->v[--tk->n]);
    memmove(&tk->v[lo + 1], &tk->v[lo], (tk->n - lo) * sizeof *tk->v);
    tk->v[lo] = *c;
    tk->n++;
    return ADB_OK;
}

typedef struct search_collect {
    topk *tk;
    const adb_topology *t;
    adb_dir *d;
    const adb_topo_domain *td;   /* NULL on a GC: from each entry's DN */
} search_collect;

static adb_code search_entry(const adb_ldap_entry *e, void *arg, adb_error *err)
{
    search_collect *sc = arg;
    cand c = { 0 };
    char sam[ADB_NAME_MAX + 1];
    struct berval **g = adb_ldap_entry_values(e, "objectGUID");

    c.td = sc->td != NULL ? sc->td : adb_topology_domain_of_dn(sc->t, e->dn);
    if (!dir_usable(sc->d, c.td) || adb_ldap_entry_str(e, "sAMAccountName", sam, sizeof sam) == NULL || g == NULL
        || g[0] == NULL || adb_guid_decode(g[0]->bv_val, g[0]->bv_len, &c.guid, NULL) != ADB_OK)
        return ADB_OK;   /* another (disabled) domain of the forest, or not an account */
    c.key = adb_sort_key_make(sam, c.td->dns);
    return topk_offer(sc->tk, &c, err);
}

static void search_reset(void *arg)
{
    (void)arg;   /* the top-k drops duplicates: a retry may offer the same entries again */
}

/* Reads the objects of the first n candidates from their domains, by GUID. */
static adb_code fill_from_dcs(adb_dir *d, topk *tk, size_t n, adb_error *err)
{
    adb_code rc = ADB_OK;

    if (n > tk->n)
        n = tk->n;
    for (size_t i = 0; rc == ADB_OK && i < n; i++) {
        const adb_topo_domain *td = tk->v[i].td;
        dir_items it = { 0 };
        adb_object_list got = { 0 };
        if (tk->v[i].obj != NULL)
            continue;
        for (size_t k = i; rc == ADB_OK && k < n; k++) {
            char *item = NULL;
            if (tk->v[k].obj != NULL || tk->v[k].td != td)
                continue;
            rc = adb_filter_build(&item, err, "(objectGUID=%b)", tk->v[k].guid.b, sizeof tk->v[k].guid.b);
            if (rc == ADB_OK)
                rc = dir_items_add(&it, item, err);
        }
        if (rc == ADB_OK)
            rc = dir_search_batches(d, td, &it, "", &got, err);
        for (size_t k = i; rc == ADB_OK && k < n; k++) {
            if (tk->v[k].obj != NULL || tk->v[k].td != td)
                continue;
            for (size_t g = 0; g < got.n && tk->v[k].obj == NULL; g++)
                if (got.items[g]->has_guid && adb_guid_equal(&got.items[g]->guid, &tk->v[k].guid))
                    tk->v[k].obj = adb_object_ref(got.items[g]);
            if (tk->v[k].obj == NULL && tk->v[k].x == NULL)   /* deleted between the two reads: a placeholder keeps the page order */
                rc = adb_object_new_stub(ADB_OBJECT_OTHER, NULL, NULL, NULL, &tk->v[k].obj, err);
        }
        adb_object_list_clear(&got);
        dir_items_clear(&it);
    }
    return rc;
}

/* Prefix of any of the names a people picker matches on. */
#define NAME_PREFIX "(|(sAMAccountName=%v*)(displayName=%v*)(mail=%v*)(userPrincipalName=%v*))"
/* sAMAccountType (one indexed attribute) instead of objectCategory and
 * objectClass (DIR_SAT_*, dir_internal.h). */
static const char *const search_templates[3] = {
    "(&" DIR_SAT_USERS NAME_PREFIX ")",
    "(&(|" DIR_SAT_GROUPS ")" NAME_PREFIX ")",
    "(&(|" DIR_SAT_USERS DIR_SAT_GROUPS ")" NAME_PREFIX ")",
};

/* Whether o, fetched for an index candidate, is still what the index said:
 * of the kinds, a name with the prefix, the same sort key.  One renamed
 * since the last refresh is left out (it never shows under a name it lost). */
static bool still_matches(const adb_object *o, const char *lower, unsigned kinds, const char *key)
{
    const char *const names[4] = { o->sam_account_name, o->display_name, o->mail, o->upn };

    return (kinds & (1u << o->kind)) != 0 && dir_names_matches(lower, names)
           && strcmp(adb_object_sort_key(o), key) == 0;
}

/* Pages from the indexes (snaps[i] for v[i]; NULL: scanned, in dc) into
 * res (cap k): a round takes the next candidates of both, reads them by
 * GUID, drops from the index those gone (and from the page those renamed),
 * and fills the page again from the next ones. */
static adb_code page_from_index(adb_dir *d, const adb_topo_domain **v, dir_names **snaps, size_t n, topk *dc,
                                const char *lower, unsigned kinds, topk *res, adb_error *err)
{
    dir_name_hit *hits = calloc(res->k, sizeof *hits);
    char *after = res->after != NULL ? strdup(res->after) : NULL;
    size_t dc_pos = 0;
    adb_code rc = hits == NULL || (res->after != NULL && after == NULL) ? adb_error_set(err, ADB_E_NOMEM, "out of memory")
                                                                       : ADB_OK;

    while (rc == ADB_OK && res->n < res->k) {
        topk tk = { .k = res->k - res->n, .after = after };
        size_t nh = 0, from_dc = 0;
        bool dropped = false;
        if ((tk.v = calloc(tk.k, sizeof *tk.v)) == NULL) {
            rc = adb_error_set(err, ADB_E_NOMEM, "out of memory");
            break;
        }
        for (size_t i = dc_pos; rc == ADB_OK && i < dc->n && i < dc_pos + tk.k; i++) {
            cand c = { strdup(dc->v[i].key), NULL, dc->v[i].td, dc->v[i].guid, NULL };
            rc = topk_offer(&tk, &c, err);
        }
        for (size_t i = 0; i < n; i++)
            if (snaps[i] != NULL)
                nh = dir_names_find(snaps[i], lower, kinds, after, hits, nh, tk.k);
        for (size_t h = 0; rc == ADB_OK && h < nh; h++) {
            cand c = { strdup(hits[h].key), NULL, NULL, hits[h].guid, hits[h].x };
            for (size_t i = 0; i < n; i++)
                if (snaps[i] == hits[h].x)
                    c.td = v[i];
            rc = topk_offer(&tk, &c, err);
        }
        if (rc == ADB_OK && tk.n > 0)
            rc = fill_from_dcs(d, &tk, tk.n, err);
        char *last = rc == ADB_OK && tk.n > 0 ? strdup(tk.v[tk.n - 1].key) : NULL;   /* the next round starts after it */
        if (rc == ADB_OK && tk.n > 0 && last == NULL)
            rc = adb_error_set(err, ADB_E_NOMEM, "out of memory");
        for (size_t i = 0; rc == ADB_OK && i < tk.n; i++) {
            cand *c = &tk.v[i];
            from_dc += c->x == NULL;
            if (c->x != NULL && c->obj == NULL)
                dir_names_remove(c->x, &c->guid);   /* deleted: never offered again */
            if (c->x != NULL && (c->obj == NULL || !still_matches(c->obj, lower, kinds, c->key))) {
                dropped = true;
                continue;
            }
            res->v[res->n++] = *c;   /* in order: every key of this round is after the last round's */
            memset(c, 0, sizeof *c);
        }
        dc_pos += from_dc;   /* the DC's candidates taken are the first ones it had */
        free(after);
        after = last;
        for (size_t i = 0; i < tk.n; i++)
            cand_clear(&tk.v[i]);
        free(tk.v);
        if (tk.n == 0 || !dropped)
            break;   /* the page is full, or there is nothing more */
    }
    free(after);
    free(hits);
    return rc;
}

adb_code adb_dir_search(adb_dir *d, const adb_dir_search_request *req, adb_dir_page *out, adb_error *err)
{
    size_t limit = req->limit != 0 ? req->limit : ADB_SEARCH_DEFAULT_LIMIT, plen, n = 0;
    unsigned kinds = req->kinds != 0 ? req->kinds : ADB_KINDS_USER | ADB_KINDS_GROUP;
    const adb_topo_domain **v = NULL;
    dir_names **snaps = NULL;
    adb_topology *t = NULL;
    char *filter = NULL, lower[ADB_SEARCH_PREFIX_MAX + 1];
    topk tk = { 0 }, res = { 0 };
    adb_cursor cur = { 0 };
    uint64_t binding;
    adb_code rc;
    bool indexed = false, scanned = false;
    static const char *const scan_attrs[] = { "sAMAccountName", "objectGUID", NULL };
    int kind_index = kinds == ADB_KINDS_USER ? 0 : kinds == ADB_KINDS_GROUP ? 1 : 2;

    memset(out, 0, sizeof *out);
    if (req->prefix == NULL || (plen = strlen(req->prefix)) == 0)
        return adb_error_set(err, ADB_E_INVALID_REQUEST, "the search prefix is empty");
    if (plen > ADB_SEARCH_PREFIX_MAX)
        return adb_error_set(err, ADB_E_INVALID_REQUEST, "the search prefix is %zu bytes; at most %d are accepted",
                             plen, ADB_SEARCH_PREFIX_MAX);
    if (!adb_text_valid(req->prefix, plen))
        return adb_error_set(err, ADB_E_INVALID_REQUEST,
                             "the search prefix contains a control character or is not valid UTF-8");
    if (limit > ADB_SEARCH_MAX_LIMIT)
        return adb_error_set(err, ADB_E_INVALID_REQUEST, "limit %zu is above the maximum of %d", limit,
                             ADB_SEARCH_MAX_LIMIT);
    if ((kinds & ~(unsigned)(ADB_KINDS_USER | ADB_KINDS_GROUP)) != 0)
        return adb_error_set(err, ADB_E_INVALID_REQUEST, "search finds users and groups only");
    dir_lower_into(lower, sizeof lower, req->prefix);
    binding = adb_cursor_bind(adb_cursor_bind(ADB_CURSOR_BIND_INIT, lower, strlen(lower)), &kinds, sizeof kinds);
    if (req->cursor != NULL && req->cursor[0] != '\0') {
        if ((rc = adb_cursor_decode(req->cursor, ADB_CURSOR_SEARCH, binding, &cur, err)) != ADB_OK)
            return rc;
        tk.after = res.after = cur.key;
    }
    tk.k = res.k = limit + 1;   /* one more than asked tells whether there is a next page */
    if ((tk.v = calloc(tk.k, sizeof *tk.v)) == NULL || (res.v = calloc(res.k, sizeof *res.v)) == NULL) {
        rc = adb_error_set(err, ADB_E_NOMEM, "out of memory");
        goto done;
    }
    if ((rc = adb_filter_build(&filter, err, search_templates[kind_index], req->prefix, req->prefix, req->prefix,
                               req->prefix)) != ADB_OK)
        goto done;
    if ((rc = adb_dir_topology(d, false, &t, err)) != ADB_OK || (rc = dir_all_domains(d, t, &v, &n, err)) != ADB_OK)
        goto done;
    if ((snaps = calloc(n, sizeof *snaps)) == NULL) {
        rc = adb_error_set(err, ADB_E_NOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++)
        snaps[i] = dir_names_get(d, v[i]);   /* a fresh index of the domain, or NULL */
    for (size_t i = 0; rc == ADB_OK && i < n; i++) {
        size_t in_forest = 0;
        bool done_forest = false, all_indexed = true;
        for (size_t k = 0; k < n; k++)
            if (v[k]->forest != NULL && v[i]->forest != NULL && strcasecmp(v[k]->forest, v[i]->forest) == 0) {
                in_forest++;
                done_forest |= k < i;   /* this forest's GC was asked already */
                all_indexed &= snaps[k] != NULL;
            }
        bool gc = v[i]->forest != NULL
                  && (d->o.search_gc == ADB_DIR_GC_ALWAYS || (d->o.search_gc == ADB_DIR_GC_AUTO && in_forest > 1));
        search_collect sc = { &tk, t, d, gc ? NULL : v[i] };
        dir_search_op op = { gc ? "" : v[i]->nc, ADB_LDAP_SCOPE_SUBTREE, filter, scan_attrs,
                             search_entry, search_reset, &sc };
        if ((gc && (done_forest || all_indexed)) || (!gc && snaps[i] != NULL))
            continue;   /* asked already, or answered by the index */
        if (gc)   /* the GC answers for the forest's domains: their indexes are not used */
            for (size_t k = 0; k < n; k++)
                if (v[k]->forest != NULL && strcasecmp(v[k]->forest, v[i]->forest) == 0) {
                    dir_names_unref(snaps[k]);
                    snaps[k] = NULL;
                }
        int64_t t0 = adb_mono_ms();
        rc = dir_run_scan(d, v[i]->dns, gc ? ADB_POOL_GC : ADB_POOL_DC, &op, err);
        scanned = true;
        if (rc != ADB_OK)
            adb_error_prefix(err, "searching %s%s", gc ? "the global catalog of " : "", gc ? v[i]->forest : v[i]->dns);
        for (size_t k = 0; rc == ADB_OK && k < n; k++)   /* auto: a slow scan gets its domains an index */
            if (k == i || (gc && v[k]->forest != NULL && strcasecmp(v[k]->forest, v[i]->forest) == 0))
                dir_names_scanned(d, v[k], adb_mono_ms() - t0);
    }
    for (size_t i = 0; i < n; i++)
        indexed |= snaps[i] != NULL;
    if (rc == ADB_OK && indexed) {
        rc = page_from_index(d, v, snaps, n, &tk, lower, kinds, &res, err);
        if (rc == ADB_OK && !scanned)
            dir_names_answered(d);
    } else if (rc == ADB_OK) {
        rc = fill_from_dcs(d, &tk, limit, err);
        res.n = tk.n;   /* the same candidates, in order */
        memcpy(res.v, tk.v, tk.n * sizeof *tk.v);
        tk.n = 0;
    }
    for (size_t i = 0; rc == ADB_OK && i < res.n && i < limit; i++)
        rc = adb_object_list_add(&out->items, res.v[i].obj, err);
    if (rc == ADB_OK && res.n > limit)
        rc = dir_set_next_cursor(out, ADB_CURSOR_SEARCH, binding, res.v[limit - 1].key, err);
done:
    if (rc != ADB_OK)
        adb_dir_page_clear(out);
    for (size_t i = 0; i < tk.n; i++)
        cand_clear(&tk.v[i]);
    for (size_t i = 0; i < res.n; i++)
        cand_clear(&res.v[i]);
    for (size_t i = 0; snaps != NULL && i < n; i++)
        dir_names_unref(snaps[i]);
    free(snaps);
    free(tk.v);
    free(res.v);
    free(v);
    free(filter);
    adb_topology_unref(t);
    return rc;
}
