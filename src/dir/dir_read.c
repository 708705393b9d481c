/* LDAP reads of the directory (see dir_internal.h): searches run through
 * the connection pool, objects collected from them, and OR-batched filters
 * that ask for many values in one search. */
#include "config.h"

#include "dir_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    BATCH_ITEMS = 100,            /* values per OR filter */
    BATCH_BYTES = 12000,          /* bytes of OR items per filter (ADB_FILTER_MAX is 16384) */
};

static adb_code run_op(adb_ldap_conn *c, dir_search_op *op, int page_size, adb_error *err)
{
    adb_ldap_search *s;
    adb_ldap_entry *e;
    adb_code rc;

    if (op->reset != NULL)
        op->reset(op->arg);
    if ((rc = adb_ldap_search_begin(c, op->base, op->scope, op->filter, op->attrs, page_size, &s, err)) != ADB_OK)
        return rc;
    while ((rc = adb_ldap_search_next(s, &e, err)) == ADB_OK && e != NULL) {
        rc = op->on_entry(e, op->arg, err);
        adb_ldap_entry_free(e);
        if (rc != ADB_OK)
            break;
    }
    adb_ldap_search_end(s);
    return rc;
}

static adb_code op_search(adb_ldap_conn *c, void *arg, adb_error *err)
{
    return run_op(c, arg, 0, err);
}

static adb_code op_scan(adb_ldap_conn *c, void *arg, adb_error *err)
{
    return run_op(c, arg, -1, err);
}

static adb_code run_search(adb_dir *d, const char *domain, adb_pool_kind kind, adb_pool_op fn, dir_search_op *op,
                           adb_error *err)
{
    adb_code rc;

    adb_log(d->log, ADB_LOG_DEBUG, "ldap_search", "domain=%s gc=%d scope=%d", domain, kind == ADB_POOL_GC,
            op->scope);
    rc = adb_pool_run(d->pool, domain, kind, fn, op, err);
    if (rc != ADB_OK && rc != ADB_E_NOT_FOUND)
        adb_log(d->log, ADB_LOG_WARN, "ldap_search_failed", "domain=%s gc=%d code=%s", domain, kind == ADB_POOL_GC,
                adb_code_name(rc));
    return rc;
}

adb_code dir_run_search(adb_dir *d, const char *domain, adb_pool_kind kind, dir_search_op *op, adb_error *err)
{
    return run_search(d, domain, kind, op_search, op, err);
}

adb_code dir_run_scan(adb_dir *d, const char *domain, adb_pool_kind kind, dir_search_op *op, adb_error *err)
{
    return run_search(d, domain, kind, op_scan, op, err);
}

/* Collects decoded objects of one domain. */
typedef struct collect {
    adb_object_list list;
    adb_object_origin origin;
    time_t now;
} collect;

static void collect_reset(void *arg)
{
    adb_object_list_clear(&((collect *)arg)->list);
}

static adb_code collect_entry(const adb_ldap_entry *e, void *arg, adb_error *err)
{
    collect *col = arg;
    adb_object *o;
    adb_code rc = adb_object_decode(e, &col->origin, col->now, &o, err);

    if (rc != ADB_OK)
        return rc;
    rc = adb_object_list_add(&col->list, o, err);
    adb_object_unref(o);
    return rc;
}

static adb_code objects(adb_dir *d, const adb_topo_domain *td, const char *base, int scope, const char *filter,
                        adb_attr_set set, bool unpaged, adb_object_list *out, adb_error *err)
{
    collect col = { .origin = dir_origin_of(td), .now = time(NULL) };
    dir_search_op op = { base != NULL ? base : td->nc, scope, filter, adb_object_attrs(set), collect_entry,
                         collect_reset, &col };
    adb_code rc = unpaged ? dir_run_scan(d, td->dns, ADB_POOL_DC, &op, err)
                          : dir_run_search(d, td->dns, ADB_POOL_DC, &op, err);

    for (size_t i = 0; rc == ADB_OK && i < col.list.n; i++)
        rc = adb_object_list_add(out, col.list.items[i], err);
    adb_object_list_clear(&col.list);
    return rc;
}

adb_code dir_search_objects(adb_dir *d, const adb_topo_domain *td, const char *base, int scope,
                            const char *filter, adb_attr_set set, adb_object_list *out, adb_error *err)
{
    return objects(d, td, base, scope, filter, set, false, out, err);
}

adb_code dir_scan_objects(adb_dir *d, const adb_topo_domain *td, const char *base, int scope,
                          const char *filter, adb_attr_set set, adb_object_list *out, adb_error *err)
{
    return objects(d, td, base, scope, filter, set, true, out, err);
}

/* ======================================================================
 * OR batches.
 * ====================================================================== */

adb_code dir_items_add(dir_items *it, char *item, adb_error *err)
{
    if (item == NULL)
        return adb_error_set(err, ADB_E_NOMEM, "out of memory");
    if (it->n == it->cap) {
        size_t cap = it->cap ? it->cap * 2 : 64;
        char **grown = realloc(it->v, cap * sizeof *grown);
        if (grown == NULL) {
            free(item);
            return adb_error_set(err, ADB_E_NOMEM, "out of memory");
        }
        it->v = grown;
        it->cap = cap;
    }
    it->v[it->n++] = item;
    return ADB_OK;
}

void dir_items_clear(dir_items *it)
{
    for (size_t i = 0; i < it->n; i++)
        free(it->v[i]);
    free(it->v);
    memset(it, 0, sizeof *it);
}

/* Each item is a complete filter from adb_filter_build, and `rest` a fixed
 * filter of the directory, so the result is as safe as its parts. */
char *dir_batch_filter(const dir_items *it, size_t *next, const char *rest)
{
    size_t start = *next, end = start, bytes = 0, len, o = 0;
    char *f;

    while (end < it->n && end - start < BATCH_ITEMS && (end == start || bytes + strlen(it->v[end]) <= BATCH_BYTES))
        bytes += strlen(it->v[end++]);
    len = bytes + strlen(rest) + 8;
    if ((f = malloc(len)) == NULL)
        return NULL;
    o += (size_t)snprintf(f + o, len - o, "(&(|");
    for (size_t i = start; i < end; i++)
        o += (size_t)snprintf(f + o, len - o, "%s", it->v[i]);
    snprintf(f + o, len - o, ")%s)", rest);
    *next = end;
    return f;
}

static adb_code batches(adb_dir *d, const adb_topo_domain *td, const dir_items *it, const char *rest,
                        adb_attr_set set, bool unpaged, adb_object_list *out, adb_error *err)
{
    adb_code rc = ADB_OK;

    for (size_t next = 0; rc == ADB_OK && next < it->n;) {
        char *f = dir_batch_filter(it, &next, rest);
        rc = f != NULL ? objects(d, td, NULL, ADB_LDAP_SCOPE_SUBTREE, f, set, unpaged, out, err)
                       : adb_error_set(err, ADB_E_NOMEM, "out of memory");
        free(f);
    }
    return rc;
}

adb_code dir_search_batches(adb_dir *d, const adb_topo_domain *td, const dir_items *it, const char *rest,
                            adb_object_list *out, adb_error *err)
{
    return batches(d, td, it, rest, ADB_ATTRS_LIST, false, out, err);
}

adb_code dir_scan_batches(adb_dir *d, const adb_topo_domain *td, const dir_items *it, const char *rest,
                          adb_attr_set set, adb_object_list *out, adb_error *err)
{
    return batches(d, td, it, rest, set, true, out, err);
}
