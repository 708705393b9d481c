/* Directory operations (see include/adbridge/directory.h).
 *
 * Each public operation reads top to bottom: parse and validate, try the
 * cache, get the topology, route to domains, run blocking LDAP reads through
 * adb_pool_run (one retry on the next DC), decode, cache, answer.  LDAP work
 * is wrapped in small "ops" (a struct of arguments and a function) because
 * the pool calls back with a connection; every op starts from scratch, as
 * the pool may run it a second time on another DC. */
#include "config.h"

#include <adbridge/clock.h>
#include <adbridge/directory.h>
#include <adbridge/dn.h>
#include <adbridge/filter.h>
#include <adbridge/ident.h>
#include <adbridge/krb.h>
#include <adbridge/locator.h>

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

enum {
    DEFAULT_TOPOLOGY_TTL_S = 900,
    TOPOLOGY_RETRY_S = 30,        /* a topology with read errors is re-read sooner */
    BATCH_ITEMS = 100,            /* values per OR filter */
    BATCH_BYTES = 12000,          /* bytes of OR items per filter (ADB_FILTER_MAX is 16384) */
    MEMBEROF_MIN = 50,            /* from this many members, find them by (memberOf=group) */
    KEY_MAX = ADB_IDENT_MAX + 320,
};
#define DEFAULT_MAX_EXPANSION ((size_t)1000000)

struct adb_dir {
    const adb_config *cfg;
    const adb_logger *log;
    adb_dir_options o;
    adb_subscriptions *subs;
    adb_locator *loc;
    adb_krb *krb;
    adb_pool *pool;
    adb_cache *cache;
    char joined[ADB_DOMAIN_MAX];
    pthread_mutex_t topo_mu;      /* guards topo, topo_at, topology_reads */
    pthread_mutex_t refresh_mu;   /* one topology read at a time */
    adb_topology *topo;
    time_t topo_at;
    unsigned long topology_reads;
};

/* ======================================================================
 * Small containers: a string set/map and shared (cached) object lists.
 * ====================================================================== */

typedef struct strmap_slot {
    char *key;
    void *value;
} strmap_slot;

typedef struct strmap {
    strmap_slot *slots;
    size_t n, cap;
} strmap;

static uint64_t str_hash(const char *s)
{
    uint64_t h = UINT64_C(0xcbf29ce484222325);

    for (; *s != '\0'; s++) {
        h ^= (unsigned char)*s;
        h *= UINT64_C(0x100000001b3);
    }
    return h;
}

static strmap_slot *strmap_find(const strmap *m, const char *key)
{
    if (m->cap == 0)
        return NULL;
    for (size_t i = str_hash(key) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        if (m->slots[i].key == NULL)
            return NULL;
        if (strcmp(m->slots[i].key, key) == 0)
            return &m->slots[i];
    }
}

/* Adds key (copied) unless present.  1: added, 0: present, -1: no memory. */
static int strmap_put(strmap *m, const char *key, void *value)
{
    size_t i;

    if (strmap_find(m, key) != NULL)
        return 0;
    if ((m->n + 1) * 2 > m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 64;
        strmap_slot *s = calloc(cap, sizeof *s);
        if (s == NULL)
            return -1;
        for (size_t k = 0; k < m->cap; k++)
            if (m->slots[k].key != NULL) {
                for (i = str_hash(m->slots[k].key) & (cap - 1); s[i].key != NULL; i = (i + 1) & (cap - 1))
                    ;
                s[i] = m->slots[k];
            }
        free(m->slots);
        m->slots = s;
        m->cap = cap;
    }
    for (i = str_hash(key) & (m->cap - 1); m->slots[i].key != NULL; i = (i + 1) & (m->cap - 1))
        ;
    if ((m->slots[i].key = strdup(key)) == NULL)
        return -1;
    m->slots[i].value = value;
    m->n++;
    return 1;
}

static void strmap_clear(strmap *m)
{
    for (size_t i = 0; i < m->cap; i++)
        free(m->slots[i].key);
    free(m->slots);
    memset(m, 0, sizeof *m);
}

typedef struct shared_list {
    int refs;
    adb_object_list list;
} shared_list;

static void *list_retain(void *v)
{
    __atomic_add_fetch(&((shared_list *)v)->refs, 1, __ATOMIC_RELAXED);
    return v;
}

static void list_release(void *v)
{
    shared_list *s = v;

    if (s != NULL && __atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL) == 0) {
        adb_object_list_clear(&s->list);
        free(s);
    }
}

static const adb_cache_type list_type = { list_retain, list_release };

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
    size_t n = sizeof(shared_list) + l->n * sizeof *l->items;

    for (size_t i = 0; i < l->n; i++)
        n += adb_object_size(l->items[i]);
    return n;
}

/* ======================================================================
 * Open, close, topology.
 * ====================================================================== */

adb_code adb_dir_open(const adb_config *cfg, const adb_logger *log, const adb_dir_options *opts, adb_dir **out,
                      adb_error *err)
{
    adb_dir *d = calloc(1, sizeof *d);
    adb_subscription *flags = NULL;
    size_t n_flags = 0;
    adb_code rc;

    *out = NULL;
    if (d == NULL)
        return adb_error_set(err, ADB_E_NOMEM, "out of memory");
    d->cfg = cfg;
    d->log = log;
    if (opts != NULL)
        d->o = *opts;
    if (d->o.topology_ttl_s <= 0)
        d->o.topology_ttl_s = DEFAULT_TOPOLOGY_TTL_S;
    if (d->o.max_expansion == 0)
        d->o.max_expansion = DEFAULT_MAX_EXPANSION;
    pthread_mutex_init(&d->topo_mu, NULL);
    pthread_mutex_init(&d->refresh_mu, NULL);
    if ((rc = adb_subscriptions_open(cfg, &d->subs, err)) != ADB_OK
        || (rc = adb_locator_new(cfg, log, &d->loc, err)) != ADB_OK
        || (rc = adb_subscriptions_list(d->subs, &flags, &n_flags, err)) != ADB_OK)
        goto fail;
    /* The locator is the one place that enforces the flags: hand it each. */
    for (size_t i = 0; i < n_flags; i++) {
        adb_error e = { 0 };
        rc = adb_locator_set_enabled(d->loc, flags[i].name, flags[i].enabled, &e);
        if (rc == ADB_E_NOT_FOUND) {   /* not configured: the locator never contacts it */
            rc = ADB_OK;
        } else if (rc != ADB_OK) {
            adb_error_set(err, rc, "applying the use-for-subscriptions flag of %s: %s", flags[i].name, e.message);
            goto fail;
        }
    }
    /* How connections are protected: the configuration's "ldap", unless the
     * caller chose TLS itself. */
    if (d->o.pool.ldap.tls == ADB_LDAP_TLS_OFF && d->o.pool.ldap.ca_file == NULL) {
        d->o.pool.ldap.tls = cfg->ldap.tls;
        d->o.pool.ldap.ca_file = cfg->ldap.ca_file;
    }
    if ((rc = adb_krb_new(cfg->keytab, cfg->machine_principal, &d->krb, err)) != ADB_OK
        || (rc = adb_pool_new(d->loc, d->krb, &d->o.pool, log, &d->pool, err)) != ADB_OK
        || (rc = adb_cache_new(&d->o.cache, &d->cache, err)) != ADB_OK)
        goto fail;
    snprintf(d->joined, sizeof d->joined, "%s", adb_krb_realm(d->krb));
    for (char *p = d->joined; *p != '\0'; p++)
        *p = (char)tolower((unsigned char)*p);
    free(flags);
    *out = d;
    return ADB_OK;
fail:
    free(flags);
    adb_dir_free(d);
    return rc;
}

void adb_dir_free(adb_dir *d)
{
    if (d == NULL)
        return;
    adb_topology_unref(d->topo);
    adb_cache_free(d->cache);
    adb_pool_free(d->pool);
    adb_krb_free(d->krb);
    adb_locator_free(d->loc);
    adb_subscriptions_free(d->subs);
    pthread_mutex_destroy(&d->refresh_mu);
    pthread_mutex_destroy(&d->topo_mu);
    free(d);
}

const char *adb_dir_joined_domain(const adb_dir *d)
{
    return d->joined;
}

adb_subscriptions *adb_dir_subscriptions(adb_dir *d)
{
    return d->subs;
}

static bool topology_fresh(adb_dir *d)
{
    bool errors = false;

    if (d->topo == NULL)
        return false;
    for (size_t i = 0; i < d->topo->n_domains; i++)
        errors |= d->topo->domains[i].error != NULL;
    return (time_t)(adb_mono_ms() / 1000) - d->topo_at < (errors ? TOPOLOGY_RETRY_S : d->o.topology_ttl_s);
}

adb_code adb_dir_topology(adb_dir *d, bool refresh, adb_topology **out, adb_error *err)
{
    adb_topology *t = NULL;
    adb_code rc = ADB_OK;

    *out = NULL;
    pthread_mutex_lock(&d->topo_mu);
    if (!refresh && topology_fresh(d))
        t = adb_topology_ref(d->topo);
    pthread_mutex_unlock(&d->topo_mu);
    if (t != NULL) {
        *out = t;
        return ADB_OK;
    }
    /* One reader at a time.  While it reads, the others keep using the old
     * topology when there is one, and wait for the new one otherwise. */
    if (!refresh && pthread_mutex_trylock(&d->refresh_mu) != 0) {
        pthread_mutex_lock(&d->topo_mu);
        t = adb_topology_ref(d->topo);
        pthread_mutex_unlock(&d->topo_mu);
        if (t != NULL) {
            *out = t;
            return ADB_OK;
        }
        pthread_mutex_lock(&d->refresh_mu);
    } else if (refresh) {
        pthread_mutex_lock(&d->refresh_mu);
    }
    pthread_mutex_lock(&d->topo_mu);
    if (!refresh && topology_fresh(d))
        t = adb_topology_ref(d->topo);
    pthread_mutex_unlock(&d->topo_mu);
    if (t == NULL && (rc = adb_topology_discover(d->pool, d->subs, d->cfg, d->joined, d->log, &t, err)) == ADB_OK) {
        pthread_mutex_lock(&d->topo_mu);
        adb_topology_unref(d->topo);
        d->topo = adb_topology_ref(t);
        d->topo_at = (time_t)(adb_mono_ms() / 1000);
        d->topology_reads++;
        pthread_mutex_unlock(&d->topo_mu);
    }
    pthread_mutex_unlock(&d->refresh_mu);
    *out = t;
    return rc;
}

/* Why a domain cannot be used, as an error; ADB_OK when it can. */
static adb_code check_usable(adb_dir *d, const adb_topo_domain *td, adb_error *err)
{
    if (!adb_subscriptions_enabled(d->subs, td->dns))
        return adb_error_set(err, ADB_E_DOMAIN_NOT_ENABLED,
                             "domain %s is not enabled for use (\"use for subscriptions\" is off); an admin can "
                             "enable it with `adbridge domain enable %s`", td->dns, td->dns);
    if (!adb_level_supported(td->level))
        return adb_error_set(err, ADB_E_DOMAIN_NOT_ENABLED,
                             "domain %s runs at functional level %d (Windows Server %s); adbridge supports "
                             "Windows Server 2008 R2 (level 4) and later", td->dns, td->level,
                             adb_level_name(td->level));
    if (!adb_level_supported(td->forest_level))
        return adb_error_set(err, ADB_E_DOMAIN_NOT_ENABLED,
                             "the forest of %s runs at functional level %d (Windows Server %s); adbridge supports "
                             "Windows Server 2008 R2 (level 4) and later", td->dns, td->forest_level,
                             adb_level_name(td->forest_level));
    if (td->nc == NULL)
        return adb_error_set(err, ADB_E_DC_UNAVAILABLE, "domain %s could not be read: %s", td->dns,
                             td->error != NULL ? td->error : "its naming context is unknown");
    return ADB_OK;
}

static bool usable(adb_dir *d, const adb_topo_domain *td)
{
    return td != NULL && check_usable(d, td, NULL) == ADB_OK;
}

static adb_object_origin origin_of(const adb_topo_domain *td)
{
    adb_object_origin o = { NULL, NULL, NULL };

    if (td != NULL) {
        o.domain_dns = td->dns;
        o.domain_netbios = td->netbios;
        o.forest = td->forest;
    }
    return o;
}

/* Domains a query without a domain goes to: every usable one. */
static adb_code all_domains(adb_dir *d, const adb_topology *t, const adb_topo_domain ***out, size_t *n,
                            adb_error *err)
{
    const adb_topo_domain **v = calloc(t->n_domains + 1, sizeof *v);

    *out = NULL;
    *n = 0;
    if (v == NULL)
        return adb_error_set(err, ADB_E_NOMEM, "out of memory");
    for (size_t i = 0; i < t->n_domains; i++)
        if (usable(d, &t->domains[i]))
            v[(*n)++] = &t->domains[i];
    if (*n == 0) {
        free(v);
        for (size_t i = 0; i < t->n_domains; i++)
            if (adb_subscriptions_enabled(d->subs, t->domains[i].dns))
                return check_usable(d, &t->domains[i], err);
        return adb_error_set(err, ADB_E_DOMAIN_NOT_ENABLED,
                             "no domain is enabled for use; enable one with `adbridge domain enable NAME`");
    }
    *out = v;
    return ADB_OK;
}

/* ======================================================================
 * LDAP ops run through the pool.
 * ====================================================================== */

typedef adb_code (*entry_fn)(const adb_ldap_entry *e, void *arg, adb_error *err);

typedef struct search_op {
    const char *base;
    int scope;
    const char *filter;
    const char *const *attrs;
    entry_fn on_entry;
    void (*reset)(void *arg);
    void *arg;
} search_op;

static adb_code op_search(adb_ldap_conn *c, void *arg, adb_error *err)
{
    search_op *op = arg;
    adb_ldap_search *s;
    adb_ldap_entry *e;
    adb_code rc;

    if (op->reset != NULL)
        op->reset(op->arg);
    if ((rc = adb_ldap_search_begin(c, op->base, op->scope, op->filter, op->attrs, 0, &s, err)) != ADB_OK)
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

static adb_code run_search(adb_dir *d, const char *domain, adb_pool_kind kind, search_op *op, adb_error *err)
{
    adb_code rc;

    adb_log(d->log, ADB_LOG_DEBUG, "ldap_search", "domain=%s gc=%d scope=%d", domain, kind == ADB_POOL_GC,
            op->scope);
    rc = adb_pool_run(d->pool, domain, kind, op_search, op, err);
    if (rc != ADB_OK && rc != ADB_E_NOT_FOUND)
        adb_log(d->log, ADB_LOG_WARN, "ldap_search_failed", "domain=%s gc=%d code=%s", domain, kind == ADB_POOL_GC,
                adb_code_name(rc));
    return rc;
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

/* Objects matching filter under base (NULL: the domain's NC) in the domain
 * td, appended to out.  Lookups of one object ask for ADB_ATTRS_FULL,
 * listings for ADB_ATTRS_LIST. */
static adb_code search_objects(adb_dir *d, const adb_topo_domain *td, const char *base, int scope,
                               const char *filter, adb_attr_set set, adb_object_list *out, adb_error *err)
{
    collect col = { .origin = origin_of(td), .now = time(NULL) };
    search_op op = { base != NULL ? base : td->nc, scope, filter, adb_object_attrs(set), collect_entry,
                     collect_reset, &col };
    adb_code rc = run_search(d, td->dns, ADB_POOL_DC, &op, err);

    for (size_t i = 0; rc == ADB_OK && i < col.list.n; i++)
        rc = adb_object_list_add(out, col.list.items[i], err);
    adb_object_list_clear(&col.list);
    return rc;
}

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
 * OR batches: "(&(|item item ...)rest)" from items built by filter.h.
 * ====================================================================== */

typedef struct items {
    char **v;
    size_t n, cap;
} items;

static adb_code items_add(items *it, char *item, adb_error *err)
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

static void items_clear(items *it)
{
    for (size_t i = 0; i < it->n; i++)
        free(it->v[i]);
    free(it->v);
    memset(it, 0, sizeof *it);
}

/* The filter for items[*next ...] (as many as fit a batch), advancing *next.
 * Each item is a complete filter from adb_filter_build, and `rest` a fixed
 * filter of this file, so the result is as safe as its parts. */
static char *batch_filter(const items *it, size_t *next, const char *rest)
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

/* ======================================================================
 * Cache keys.
 * ====================================================================== */

static void lower_into(char *dst, size_t size, const char *src)
{
    size_t i = 0;

    for (; src[i] != '\0' && i + 1 < size; i++)
        dst[i] = (char)tolower((unsigned char)src[i]);
    dst[i] = '\0';
}

/* buf = a + b (b lower-cased when asked), cut at size. */
static void key_cat(char *buf, size_t size, const char *a, const char *b, bool lower)
{
    size_t n = strlen(a) < size ? strlen(a) : size - 1;

    memcpy(buf, a, n);
    if (lower)
        lower_into(buf + n, size - n, b);
    else
        snprintf(buf + n, size - n, "%s", b);
}

static bool sid_is_builtin(const adb_sid *sid)
{
    return sid->authority == 5 && sid->n_sub == 2 && sid->sub[0] == 32;
}

/* "sid:S-1-..."; BUILTIN SIDs are the same in every domain, so theirs name it. */
static void key_sid(char *buf, size_t size, const adb_sid *sid, const char *domain)
{
    char text[ADB_SID_STRING_MAX] = "";

    adb_sid_format(sid, text, sizeof text, NULL);
    if (sid_is_builtin(sid))
        snprintf(buf, size, "sid:%s@%s", text, domain != NULL ? domain : "");
    else
        snprintf(buf, size, "sid:%s", text);
}

static void key_dn(char *buf, size_t size, const char *dn)
{
    char *norm = NULL;

    key_cat(buf, size, "dn:", norm != NULL || adb_dn_normalize(dn, &norm, NULL) == ADB_OK ? norm : dn, false);
    free(norm);
}

static void key_nt4(char *buf, size_t size, const char *domain, const char *name)
{
    size_t n;

    key_cat(buf, size, "nt4:", domain, true);
    n = strlen(buf);
    key_cat(buf + n, size - n, "\\", name, true);
}

/* The cache key of a query. */
static void key_ident(char *buf, size_t size, const adb_ident *id)
{
    char guid[ADB_GUID_STRING_MAX];

    switch (id->kind) {
    case ADB_IDENT_SID: key_sid(buf, size, &id->sid, id->domain); return;
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

/* Every key an object can be asked by, for invalidation and caching. */
static size_t object_keys(const adb_object *o, char keys[6][KEY_MAX])
{
    char guid[ADB_GUID_STRING_MAX];
    size_t n = 0;

    if (o->has_sid)
        key_sid(keys[n++], KEY_MAX, &o->sid, o->domain_dns);
    if (o->has_guid) {
        adb_guid_format(&o->guid, guid);
        snprintf(keys[n++], KEY_MAX, "guid:%s", guid);
    }
    if (o->dn != NULL && o->dn[0] != '\0')
        key_dn(keys[n++], KEY_MAX, o->dn);
    if (o->upn != NULL)
        key_cat(keys[n++], KEY_MAX, "upn:", o->upn, true);
    if (o->sam_account_name != NULL && o->domain_dns != NULL)
        key_nt4(keys[n++], KEY_MAX, o->domain_dns, o->sam_account_name);
    if (o->sam_account_name != NULL && o->domain_netbios != NULL)
        key_nt4(keys[n++], KEY_MAX, o->domain_netbios, o->sam_account_name);
    return n;
}

static void cache_object(adb_dir *d, adb_object *o)
{
    char keys[6][KEY_MAX];
    size_t n = object_keys(o, keys);

    if (o->kind == ADB_OBJECT_FOREIGN && o->dn == NULL)
        return;   /* a stub: not worth remembering as the answer for its SID */
    for (size_t i = 0; i < n; i++)
        adb_cache_put(d->cache, keys[i], cache_kind(o), &object_type, adb_object_ref(o), adb_object_size(o));
}

/* Membership keys name the object by SID (else DN). */
static void key_membership(char *buf, size_t size, const char *what, const adb_object *o)
{
    char id[KEY_MAX];

    if (o->has_sid)
        key_sid(id, sizeof id, &o->sid, o->domain_dns);
    else
        key_dn(id, sizeof id, o->dn != NULL ? o->dn : "");
    key_cat(buf, size, what, id, false);
}

/* ======================================================================
 * Get by identifier.
 * ====================================================================== */

static const char *const not_fsp = "(!(objectClass=foreignSecurityPrincipal))";

/* Searches each domain of v with filter; stops early for DN reads. */
static adb_code search_domains(adb_dir *d, const adb_topo_domain **v, size_t n, const char *base, int scope,
                               const char *filter, adb_object_list *found, adb_error *err)
{
    for (size_t i = 0; i < n; i++) {
        adb_code rc = search_objects(d, v[i], base, scope, filter, ADB_ATTRS_FULL, found, err);
        if (rc == ADB_E_NOT_FOUND && scope == ADB_LDAP_SCOPE_BASE)
            continue;   /* a DN that does not exist */
        if (rc != ADB_OK) {
            adb_error_prefix(err, "searching %s", v[i]->dns);
            return rc;
        }
    }
    return ADB_OK;
}

/* The domain an NT4 name or a bare name with a domain names. */
static adb_code named_domain(adb_dir *d, const adb_topology *t, const char *name, const adb_topo_domain **out,
                             adb_error *err)
{
    char known[400] = "";
    size_t o = 0;

    if ((*out = adb_topology_domain(t, name)) != NULL)
        return check_usable(d, *out, err);
    /* An enabled domain that could not be read may be the one (its NetBIOS
     * name is learnt by reading it): that is no "not found". */
    for (size_t i = 0; i < t->n_domains; i++)
        if (t->domains[i].error != NULL && adb_subscriptions_enabled(d->subs, t->domains[i].dns))
            return adb_error_set(err, ADB_E_DC_UNAVAILABLE, "cannot tell which domain '%s' is: %s could not be "
                                 "read (%s)", name, t->domains[i].dns, t->domains[i].error);
    for (size_t i = 0; i < t->n_domains && o < sizeof known; i++)
        o += (size_t)snprintf(known + o, sizeof known - o, "%s%s%s%s%s", i ? ", " : "", t->domains[i].dns,
                              t->domains[i].netbios ? " (" : "", t->domains[i].netbios ? t->domains[i].netbios : "",
                              t->domains[i].netbios ? ")" : "");
    return adb_error_set(err, ADB_E_NOT_FOUND, "unknown domain '%s' (known: %s)", name, known[0] ? known : "none");
}

static adb_code find_by_ident(adb_dir *d, const adb_topology *t, const adb_ident *id, adb_object_list *found,
                              adb_error *err)
{
    const adb_topo_domain **v = NULL, *one = NULL;
    size_t n = 0;
    char *filter = NULL, local[ADB_IDENT_MAX + 1];
    uint8_t bin[ADB_SID_BINARY_MAX];
    size_t bin_len = 0;
    const char *base = NULL;
    int scope = ADB_LDAP_SCOPE_SUBTREE;
    adb_code rc = ADB_OK;

    switch (id->kind) {
    case ADB_IDENT_SID:
        if ((rc = adb_sid_encode(&id->sid, bin, sizeof bin, &bin_len, err)) == ADB_OK)
            rc = adb_filter_build(&filter, err, "(&(objectSid=%b)(!(objectClass=foreignSecurityPrincipal)))", bin,
                                  bin_len);
        /* BUILTIN SIDs exist in every domain: the joined domain answers for them. */
        one = sid_is_builtin(&id->sid) ? adb_topology_domain(t, d->joined) : adb_topology_domain_of_sid(t, &id->sid);
        if (rc == ADB_OK && one != NULL)
            rc = check_usable(d, one, err);
        break;
    case ADB_IDENT_GUID:
        rc = adb_filter_build(&filter, err, "(&(objectGUID=%b)(!(objectClass=foreignSecurityPrincipal)))",
                              id->guid.b, sizeof id->guid.b);
        break;
    case ADB_IDENT_DN:
        if ((one = adb_topology_domain(t, id->domain)) == NULL)
            return adb_error_set(err, ADB_E_NOT_FOUND, "no known domain holds '%.300s' (its domain %s is not in "
                                 "the topology)", id->name, id->domain);
        if ((rc = check_usable(d, one, err)) == ADB_OK && (filter = strdup("(objectClass=*)")) == NULL)
            rc = adb_error_set(err, ADB_E_NOMEM, "out of memory");
        base = id->name;
        scope = ADB_LDAP_SCOPE_BASE;
        break;
    case ADB_IDENT_UPN:
        one = adb_topology_domain(t, id->domain);
        if (one != NULL && strcasecmp(one->dns, id->domain) == 0) {
            /* Suffix = the domain: the implicit UPN sAMAccountName@dns counts too. */
            size_t llen = strlen(id->name) - strlen(id->domain) - 1;
            memcpy(local, id->name, llen);
            local[llen] = '\0';
            if ((rc = check_usable(d, one, err)) == ADB_OK)
                rc = adb_filter_build(&filter, err, "(|(userPrincipalName=%v)(sAMAccountName=%v))", id->name, local);
        } else {
            one = NULL;   /* an alternative suffix: any domain may hold it */
            rc = adb_filter_build(&filter, err, "(userPrincipalName=%v)", id->name);
        }
        break;
    case ADB_IDENT_NT4:
        if ((rc = named_domain(d, t, id->domain, &one, err)) == ADB_OK)
            rc = adb_filter_build(&filter, err, "(sAMAccountName=%v)", id->name);
        break;
    case ADB_IDENT_NAME:
        rc = adb_filter_build(&filter, err, "(sAMAccountName=%v)", id->name);
        break;
    }
    if (rc == ADB_OK) {
        if (one != NULL) {
            v = calloc(1, sizeof *v);
            if (v != NULL)
                v[n++] = one;
            else
                rc = adb_error_set(err, ADB_E_NOMEM, "out of memory");
        } else {
            rc = all_domains(d, t, &v, &n, err);
        }
    }
    if (rc == ADB_OK)
        rc = search_domains(d, v, n, base, scope, filter, found, err);
    /* UPN = domain suffix: an explicit UPN beats another account's implicit one. */
    if (rc == ADB_OK && id->kind == ADB_IDENT_UPN && found->n > 1) {
        for (size_t i = 0; i < found->n; i++)
            if (found->items[i]->upn != NULL && strcasecmp(found->items[i]->upn, id->name) == 0) {
                adb_object *keep = adb_object_ref(found->items[i]);
                adb_object_list_clear(found);
                rc = adb_object_list_add(found, keep, err);
                adb_object_unref(keep);
                break;
            }
    }
    free(filter);
    free(v);
    return rc;
}

static adb_code not_found(adb_error *err, const adb_ident *id, const char *text, bool remembered)
{
    bool in_domain = id->kind == ADB_IDENT_NT4 || id->kind == ADB_IDENT_DN;

    return adb_error_set(err, ADB_E_NOT_FOUND, "no object %s '%.300s' in %s%s%s",
                         id->kind == ADB_IDENT_SID ? "with SID" : id->kind == ADB_IDENT_GUID ? "with GUID"
                         : id->kind == ADB_IDENT_DN ? "with DN" : id->kind == ADB_IDENT_UPN ? "with UPN" : "named",
                         text, in_domain ? "domain " : "the enabled domains", in_domain ? id->domain : "",
                         remembered ? " (a remembered miss: it is asked again after the negative cache's TTL)" : "");
}

static bool is_account(const adb_object *o)
{
    return o->kind == ADB_OBJECT_USER || o->kind == ADB_OBJECT_COMPUTER;
}

/* Whether a cached object may still be served (its domain may have been disabled since). */
static adb_code check_cached(adb_dir *d, const adb_object *o, adb_error *err)
{
    if (o->domain_dns != NULL && !adb_subscriptions_enabled(d->subs, o->domain_dns))
        return adb_error_set(err, ADB_E_DOMAIN_NOT_ENABLED, "domain %s is not enabled for use", o->domain_dns);
    return ADB_OK;
}

static adb_code get_object(adb_dir *d, const adb_ident *id, const char *text, adb_object **out,
                           adb_object_list *candidates, adb_error *err)
{
    char key[KEY_MAX], who[300];
    void *value;
    adb_topology *t;
    adb_object_list found = { 0 };
    adb_code rc;

    *out = NULL;
    key_ident(key, sizeof key, id);
    switch (adb_cache_get(d->cache, key, &value)) {
    case ADB_CACHE_HIT:
        if ((rc = check_cached(d, value, err)) != ADB_OK) {
            adb_object_unref(value);
            return rc;
        }
        if (is_account(value) && !((adb_object *)value)->status_known) {
            adb_object_unref(value);   /* cached by a listing: read the whole account */
            break;
        }
        *out = value;
        return ADB_OK;
    case ADB_CACHE_NEGATIVE: return not_found(err, id, text, true);
    case ADB_CACHE_MISS: break;
    }
    if ((rc = adb_dir_topology(d, false, &t, err)) != ADB_OK)
        return rc;
    rc = find_by_ident(d, t, id, &found, err);
    adb_topology_unref(t);
    if (rc != ADB_OK) {
        adb_object_list_clear(&found);
        return rc;
    }
    if (found.n == 0) {
        adb_cache_put_negative(d->cache, key);
        return not_found(err, id, text, false);
    }
    if (found.n > 1) {
        char list[400] = "";
        size_t o = 0;
        adb_object_list_sort(&found);
        for (size_t i = 0; i < found.n && o < sizeof list; i++)
            o += (size_t)snprintf(list + o, sizeof list - o, "%s%s", i ? ", " : "",
                                  adb_object_display(found.items[i], who, sizeof who));
        rc = adb_error_set(err, ADB_E_AMBIGUOUS, "'%.200s' matches %zu objects: %s; qualify it (DOMAIN\\name, "
                           "UPN or SID)", text, found.n, list);
        if (candidates != NULL)
            for (size_t i = 0; i < found.n; i++)
                adb_object_list_add(candidates, found.items[i], NULL);
        adb_object_list_clear(&found);
        return rc;
    }
    *out = adb_object_ref(found.items[0]);
    adb_object_list_clear(&found);
    cache_object(d, *out);
    /* The query's own key too: a bare name or an implicit UPN is none of the object's. */
    adb_cache_put(d->cache, key, cache_kind(*out), &object_type, adb_object_ref(*out), adb_object_size(*out));
    return ADB_OK;
}

static const char *kinds_name(unsigned kinds)
{
    if (kinds == ADB_KINDS_GROUP)
        return "a group";
    if ((kinds & ~(unsigned)(ADB_KINDS_USER | ADB_KINDS_COMPUTER)) == 0)
        return "a user";
    return "a user or group";
}

/* Parses id and finds it with the kinds wanted. */
static adb_code get_kind(adb_dir *d, const char *id, const char *domain, unsigned kinds, adb_object **out,
                         adb_object_list *candidates, adb_error *err)
{
    adb_ident ident;
    adb_code rc;
    char who[300];

    *out = NULL;
    if (id == NULL)
        return adb_error_set(err, ADB_E_INVALID_REQUEST, "no identifier given");
    if ((rc = adb_ident_parse(id, strlen(id), domain, &ident, err)) != ADB_OK)
        return rc;
    if ((rc = get_object(d, &ident, id, out, candidates, err)) != ADB_OK)
        return rc;
    if ((kinds & (1u << (*out)->kind)) == 0) {
        rc = adb_error_set(err, ADB_E_NOT_FOUND, "%s is %s %s, not %s", adb_object_display(*out, who, sizeof who),
                           (*out)->kind == ADB_OBJECT_USER || (*out)->kind == ADB_OBJECT_OTHER ? "an" : "a",
                           adb_object_kind_name((*out)->kind), kinds_name(kinds));
        adb_object_unref(*out);
        *out = NULL;
    }
    return rc;
}

adb_code adb_dir_get(adb_dir *d, const char *id, const char *domain, unsigned kinds, adb_object **out,
                     adb_object_list *candidates, adb_error *err)
{
    return get_kind(d, id, domain, kinds != 0 ? kinds : ADB_KINDS_ANY, out, candidates, err);
}

/* ======================================================================
 * SIDs and DNs to objects, in batches.
 * ====================================================================== */

typedef struct sid_bucket {
    const adb_topo_domain *td;
    items filters;     /* "(objectSid=...)" items */
    adb_sid *sids;
    size_t n;
} sid_bucket;

static adb_code add_stub(adb_object_list *out, adb_object_kind kind, const adb_sid *sid, const char *dn,
                         const adb_topo_domain *td, adb_error *err)
{
    adb_object_origin origin = origin_of(td);
    adb_object *o;
    adb_code rc = adb_object_new_stub(kind, sid, dn, &origin, &o, err);

    if (rc == ADB_OK) {
        rc = adb_object_list_add(out, o, err);
        adb_object_unref(o);
    }
    return rc;
}

/* Resolves SIDs to objects in their domains (BUILTIN SIDs in builtin_td):
 * cached ones from the cache, the rest with one OR search per batch.  A SID
 * whose domain is unknown or not usable becomes a stub. */
static adb_code resolve_sids(adb_dir *d, const adb_topology *t, const adb_sid *sids, size_t n,
                             const adb_topo_domain *builtin_td, adb_object_list *out, adb_error *err)
{
    sid_bucket *b = calloc(t->n_domains + 1, sizeof *b);
    size_t nb = 0;
    adb_code rc = ADB_OK;

    if (b == NULL)
        return adb_error_set(err, ADB_E_NOMEM, "out of memory");
    for (size_t i = 0; rc == ADB_OK && i < n; i++) {
        const adb_topo_domain *td = sid_is_builtin(&sids[i]) ? builtin_td : adb_topology_domain_of_sid(t, &sids[i]);
        char key[KEY_MAX];
        uint8_t bin[ADB_SID_BINARY_MAX];
        size_t len, k;
        char *item = NULL;
        void *value;
        adb_sid *grown;

        key_sid(key, sizeof key, &sids[i], td != NULL ? td->dns : NULL);
        if (usable(d, td) && adb_cache_get(d->cache, key, &value) == ADB_CACHE_HIT) {
            rc = adb_object_list_add(out, value, err);
            adb_object_unref(value);
            continue;
        }
        if (!usable(d, td)) {
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
            rc = items_add(&b[k].filters, item, err);
    }
    for (size_t k = 0; rc == ADB_OK && k < nb; k++) {
        adb_object_list got = { 0 };
        for (size_t next = 0; rc == ADB_OK && next < b[k].filters.n;) {
            char *f = batch_filter(&b[k].filters, &next, not_fsp);
            rc = f != NULL ? search_objects(d, b[k].td, NULL, ADB_LDAP_SCOPE_SUBTREE, f, ADB_ATTRS_LIST, &got, err)
                           : adb_error_set(err, ADB_E_NOMEM, "out of memory");
            free(f);
        }
        /* Every SID asked for: its object, or a stub when it is gone. */
        strmap by_sid = { 0 };
        for (size_t g = 0; rc == ADB_OK && g < got.n; g++) {
            char text[ADB_SID_STRING_MAX];
            if (got.items[g]->has_sid && adb_sid_format(&got.items[g]->sid, text, sizeof text, NULL) == ADB_OK
                && strmap_put(&by_sid, text, got.items[g]) < 0)
                rc = adb_error_set(err, ADB_E_NOMEM, "out of memory");
        }
        for (size_t s = 0; rc == ADB_OK && s < b[k].n; s++) {
            char text[ADB_SID_STRING_MAX] = "";
            strmap_slot *slot;
            adb_object *match;
            adb_sid_format(&b[k].sids[s], text, sizeof text, NULL);
            match = (slot = strmap_find(&by_sid, text)) != NULL ? slot->value : NULL;
            if (match != NULL) {
                cache_object(d, match);
                rc = adb_object_list_add(out, match, err);
            } else {
                rc = add_stub(out, ADB_OBJECT_OTHER, &b[k].sids[s], NULL, b[k].td, err);
            }
        }
        strmap_clear(&by_sid);
        adb_object_list_clear(&got);
    }
    for (size_t k = 0; k < nb; k++) {
        items_clear(&b[k].filters);
        free(b[k].sids);
    }
    free(b);
    return rc;
}

/* Replaces the foreign security principals in list by what their SIDs name
 * in their own forests. */
static adb_code resolve_fsps(adb_dir *d, const adb_topology *t, adb_object_list *list, adb_error *err)
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
        rc = resolve_sids(d, t, sids, n, NULL, &resolved, err);
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

/* One value of a group's member attribute, on its way to an object. */
typedef struct member_ref {
    char *norm;                   /* normal form of the DN; NULL when it is not one */
    const adb_topo_domain *td;    /* its domain; NULL when in no known forest */
    adb_object *obj;              /* a reference once resolved */
} member_ref;

/* Points refs at the objects found (matched by normal DN). */
static void match_refs(strmap *index, const adb_object_list *found)
{
    for (size_t i = 0; i < found->n; i++) {
        char *norm;
        strmap_slot *slot;
        if (adb_dn_normalize(found->items[i]->dn, &norm, NULL) != ADB_OK)
            continue;
        if ((slot = strmap_find(index, norm)) != NULL && ((member_ref *)slot->value)->obj == NULL)
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
        rc = search_objects(d, gd, NULL, ADB_LDAP_SCOPE_SUBTREE, filter, ADB_ATTRS_LIST, out, err);
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
    strmap index = { 0 };   /* normal DN -> member_ref */
    adb_object_list got = { 0 }, members = { 0 };
    member_ref *refs = NULL;
    char *filter = NULL;
    adb_code rc;

    if (gd == NULL)
        return adb_error_set(err, ADB_E_NOT_FOUND, "the domain of %s is not in the topology", g->dn);
    if ((rc = check_usable(d, gd, err)) != ADB_OK)
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
        if (strmap_put(&index, refs[k].norm, &refs[k]) < 0)
            rc = adb_error_set(err, ADB_E_NOMEM, "out of memory");
    }
    /* Many members: one paged search finds those of the group's own domain. */
    if (rc == ADB_OK && vo.n >= MEMBEROF_MIN && (rc = adb_filter_build(&filter, err, "(memberOf=%v)", g->dn)) == ADB_OK
        && (rc = search_objects(d, gd, NULL, ADB_LDAP_SCOPE_SUBTREE, filter, ADB_ATTRS_LIST, &got, err)) == ADB_OK)
        match_refs(&index, &got);
    free(filter);
    adb_object_list_clear(&got);
    /* The rest (all of them for small groups): by DN, per domain, in batches. */
    for (size_t i = 0; rc == ADB_OK && i < t->n_domains; i++) {
        const adb_topo_domain *td = &t->domains[i];
        items it = { 0 };
        for (size_t k = 0; rc == ADB_OK && k < vo.n; k++) {
            char *item = NULL;
            if (refs[k].norm == NULL || refs[k].obj != NULL || refs[k].td != td)
                continue;
            if (!usable(d, td)) {
                adb_object_origin origin = origin_of(td);
                rc = adb_object_new_stub(ADB_OBJECT_OTHER, NULL, vo.v[k], &origin, &refs[k].obj, err);
            } else if ((rc = adb_filter_build(&item, err, "(distinguishedName=%v)", vo.v[k])) == ADB_OK) {
                rc = items_add(&it, item, err);
            }
        }
        for (size_t next = 0; rc == ADB_OK && next < it.n;) {
            char *f = batch_filter(&it, &next, "");
            rc = f != NULL ? search_objects(d, td, NULL, ADB_LDAP_SCOPE_SUBTREE, f, ADB_ATTRS_LIST, &got, err)
                           : adb_error_set(err, ADB_E_NOMEM, "out of memory");
            free(f);
            match_refs(&index, &got);
            adb_object_list_clear(&got);
        }
        items_clear(&it);
    }
    /* In no forest we know: listed by DN.  Not found at all (just deleted): left out. */
    for (size_t k = 0; rc == ADB_OK && k < vo.n; k++) {
        if (refs[k].norm != NULL && refs[k].td == NULL && refs[k].obj == NULL)
            rc = adb_object_new_stub(ADB_OBJECT_OTHER, NULL, vo.v[k], NULL, &refs[k].obj, err);
        if (rc == ADB_OK && refs[k].obj != NULL)
            rc = adb_object_list_add(&members, refs[k].obj, err);
    }
    if (rc == ADB_OK)
        rc = resolve_fsps(d, t, &members, err);
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
    strmap_clear(&index);
    values_reset(&vo);
    return rc;
}

/* A member's identity for de-duplication. */
static void member_key(char *buf, size_t size, const adb_object *o)
{
    if (o->has_sid)
        key_sid(buf, size, &o->sid, o->domain_dns);
    else
        key_dn(buf, size, o->dn != NULL ? o->dn : "");
}

/* ======================================================================
 * Members.
 * ====================================================================== */

static adb_code expand_members(adb_dir *d, const adb_topology *t, adb_object *root, bool transitive,
                               adb_object_list *out, adb_error *err)
{
    strmap visited = { 0 }, seen = { 0 };
    adb_object_list queue = { 0 };
    char key[KEY_MAX];
    adb_code rc;

    member_key(key, sizeof key, root);
    if (strmap_put(&visited, key, NULL) < 0 || (rc = adb_object_list_add(&queue, root, err)) != ADB_OK) {
        strmap_clear(&visited);
        return adb_error_set(err, ADB_E_NOMEM, "out of memory");
    }
    for (size_t q = 0; rc == ADB_OK && q < queue.n; q++) {
        adb_object_list direct = { 0 };
        rc = direct_members(d, t, queue.items[q], &direct, err);
        if (rc == ADB_E_DOMAIN_NOT_ENABLED && q > 0) {
            /* A nested group of a domain we may not read: list it unexpanded. */
            adb_error_clear(err);
            rc = ADB_OK;
            member_key(key, sizeof key, queue.items[q]);
            if (strmap_put(&seen, key, NULL) > 0)
                rc = adb_object_list_add(out, queue.items[q], err);
        }
        for (size_t i = 0; rc == ADB_OK && i < direct.n; i++) {
            adb_object *m = direct.items[i];
            int added;
            member_key(key, sizeof key, m);
            if (transitive && m->kind == ADB_OBJECT_GROUP) {
                if ((added = strmap_put(&visited, key, NULL)) > 0)
                    rc = adb_object_list_add(&queue, m, err);
            } else if ((added = strmap_put(&seen, key, NULL)) > 0) {
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
    strmap_clear(&visited);
    strmap_clear(&seen);
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

void adb_dir_page_clear(adb_dir_page *p)
{
    adb_object_list_clear(&p->items);
    p->next_cursor[0] = '\0';
}

static adb_code set_next_cursor(adb_dir_page *out, adb_cursor_op op, uint64_t binding, const char *key,
                                adb_error *err)
{
    adb_cursor c = { .op = op, .binding = binding };

    if (strlen(key) > ADB_CURSOR_KEY_MAX)
        return adb_error_set(err, ADB_E_INTERNAL, "sort key too long for a cursor");
    snprintf(c.key, sizeof c.key, "%s", key);
    return adb_cursor_encode(&c, out->next_cursor, sizeof out->next_cursor, err);
}

adb_code adb_dir_members(adb_dir *d, const adb_dir_members_request *req, adb_object **group_out,
                         adb_dir_page *out, adb_error *err)
{
    size_t limit = req->limit != 0 ? req->limit : ADB_MEMBERS_DEFAULT_LIMIT, start = 0;
    adb_object *g = NULL;
    adb_topology *t = NULL;
    shared_list *sl = NULL;
    adb_cursor cur = { 0 };
    uint64_t binding;
    char key[KEY_MAX], gid[KEY_MAX];
    void *value;
    adb_code rc;

    memset(out, 0, sizeof *out);
    if (group_out != NULL)
        *group_out = NULL;
    if (limit > ADB_MEMBERS_MAX_LIMIT)
        return adb_error_set(err, ADB_E_INVALID_REQUEST, "limit %zu is above the maximum of %d", limit,
                             ADB_MEMBERS_MAX_LIMIT);
    if ((rc = get_kind(d, req->group, req->domain, ADB_KINDS_GROUP, &g, NULL, err)) != ADB_OK)
        return rc;
    member_key(gid, sizeof gid, g);
    binding = adb_cursor_bind(adb_cursor_bind(ADB_CURSOR_BIND_INIT, gid, strlen(gid)), req->transitive ? "t" : "d", 1);
    if (req->cursor != NULL && req->cursor[0] != '\0'
        && (rc = adb_cursor_decode(req->cursor, ADB_CURSOR_MEMBERS, binding, &cur, err)) != ADB_OK)
        goto done;
    key_membership(key, sizeof key, req->transitive ? "members-t:" : "members-d:", g);
    if (adb_cache_get(d->cache, key, &value) == ADB_CACHE_HIT) {
        sl = value;
    } else {
        if ((sl = calloc(1, sizeof *sl)) == NULL) {
            rc = adb_error_set(err, ADB_E_NOMEM, "out of memory");
            goto done;
        }
        sl->refs = 1;
        if ((rc = adb_dir_topology(d, false, &t, err)) != ADB_OK
            || (rc = expand_members(d, t, g, req->transitive, &sl->list, err)) != ADB_OK)
            goto done;
        adb_cache_put(d->cache, key, ADB_CACHE_MEMBERS, &list_type, list_retain(sl), list_bytes(&sl->list));
    }
    if (req->cursor != NULL && req->cursor[0] != '\0')
        start = page_start(&sl->list, cur.key);
    for (size_t i = start; rc == ADB_OK && i < sl->list.n && i - start < limit; i++)
        rc = adb_object_list_add(&out->items, sl->list.items[i], err);
    if (rc == ADB_OK && start + out->items.n < sl->list.n)
        rc = set_next_cursor(out, ADB_CURSOR_MEMBERS, binding,
                             adb_object_sort_key(out->items.items[out->items.n - 1]), err);
done:
    if (rc != ADB_OK)
        adb_dir_page_clear(out);
    if (rc == ADB_OK && group_out != NULL)
        *group_out = adb_object_ref(g);
    list_release(sl);
    adb_topology_unref(t);
    adb_object_unref(g);
    return rc;
}

/* ======================================================================
 * Groups of a user.
 * ====================================================================== */

typedef struct sid_collect {
    adb_sid *v;
    size_t n, cap;
} sid_collect;

static void sids_reset(void *arg)
{
    sid_collect *s = arg;

    free(s->v);
    memset(s, 0, sizeof *s);
}

static adb_code sids_add(sid_collect *s, const adb_sid *sid, adb_error *err)
{
    for (size_t i = 0; i < s->n; i++)
        if (adb_sid_equal(&s->v[i], sid))
            return ADB_OK;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 32;
        adb_sid *grown = realloc(s->v, cap * sizeof *grown);
        if (grown == NULL)
            return adb_error_set(err, ADB_E_NOMEM, "out of memory");
        s->v = grown;
        s->cap = cap;
    }
    s->v[s->n++] = *sid;
    return ADB_OK;
}

static adb_code on_token_groups(const adb_ldap_entry *e, void *arg, adb_error *err)
{
    struct berval **v = adb_ldap_entry_values(e, "tokenGroups");
    adb_code rc = ADB_OK;

    for (size_t i = 0; rc == ADB_OK && v != NULL && v[i] != NULL; i++) {
        adb_sid sid;
        if ((rc = adb_sid_decode(v[i]->bv_val, v[i]->bv_len, &sid, err)) == ADB_OK)
            rc = sids_add(arg, &sid, err);
    }
    return rc;
}

static adb_code on_dn(const adb_ldap_entry *e, void *arg, adb_error *err)
{
    char *dn = strdup(e->dn);
    return items_add(arg, dn, err);
}

/* Groups of domain td that contain any of dns, directly or through other
 * groups of td (breadth first, one OR search per batch and level). */
static adb_code groups_containing(adb_dir *d, const adb_topo_domain *td, const items *dns, adb_object_list *out,
                                  adb_error *err)
{
    strmap seen = { 0 };
    items frontier = { 0 };
    adb_code rc = ADB_OK;

    for (size_t i = 0; rc == ADB_OK && i < dns->n; i++)
        rc = items_add(&frontier, strdup(dns->v[i]), err);
    while (rc == ADB_OK && frontier.n > 0) {
        items terms = { 0 }, next = { 0 };
        adb_object_list found = { 0 };
        for (size_t i = 0; rc == ADB_OK && i < frontier.n; i++) {
            char *item = NULL;
            if ((rc = adb_filter_build(&item, err, "(member=%v)", frontier.v[i])) == ADB_OK)
                rc = items_add(&terms, item, err);
        }
        for (size_t n = 0; rc == ADB_OK && n < terms.n;) {
            char *f = batch_filter(&terms, &n, "(objectClass=group)");
            rc = f != NULL ? search_objects(d, td, NULL, ADB_LDAP_SCOPE_SUBTREE, f, ADB_ATTRS_LIST, &found, err)
                           : adb_error_set(err, ADB_E_NOMEM, "out of memory");
            free(f);
        }
        for (size_t i = 0; rc == ADB_OK && i < found.n; i++) {
            char key[KEY_MAX];
            int added;
            member_key(key, sizeof key, found.items[i]);
            if ((added = strmap_put(&seen, key, NULL)) < 0)
                rc = adb_error_set(err, ADB_E_NOMEM, "out of memory");
            else if (added > 0 && (rc = adb_object_list_add(out, found.items[i], err)) == ADB_OK)
                rc = items_add(&next, strdup(found.items[i]->dn), err);
        }
        adb_object_list_clear(&found);
        items_clear(&terms);
        items_clear(&frontier);
        frontier = next;
    }
    items_clear(&frontier);
    strmap_clear(&seen);
    return rc;
}

static const char *forest_of_sid(const adb_topology *t, const adb_sid *sid)
{
    const adb_topo_domain *td = adb_topology_domain_of_sid(t, sid);
    return td != NULL ? td->forest : NULL;
}

/* Groups of other forests that hold any of sids through foreign security
 * principals, repeated until nothing new turns up (a partner group can hold
 * one of ours, which can hold ...). */
static adb_code foreign_groups(adb_dir *d, const adb_topology *t, sid_collect *sids, strmap *have,
                               adb_object_list *out, adb_error *err)
{
    strmap checked = { 0 };
    bool grew = true;
    adb_code rc = ADB_OK;
    static const char *const sid_attr[] = { "objectSid", NULL };

    while (rc == ADB_OK && grew) {
        grew = false;
        for (size_t i = 0; rc == ADB_OK && i < t->n_domains; i++) {
            const adb_topo_domain *td = &t->domains[i];
            items terms = { 0 }, fsps = { 0 };
            adb_object_list groups = { 0 };
            char base[600];
            if (!usable(d, td))
                continue;
            for (size_t s = 0; rc == ADB_OK && s < sids->n; s++) {
                const char *forest = forest_of_sid(t, &sids->v[s]);
                char key[KEY_MAX], text[ADB_SID_STRING_MAX], *item = NULL;
                uint8_t bin[ADB_SID_BINARY_MAX];
                size_t len;
                if (sid_is_builtin(&sids->v[s])
                    || (forest != NULL && td->forest != NULL && strcasecmp(forest, td->forest) == 0))
                    continue;   /* same forest: tokenGroups covered it */
                adb_sid_format(&sids->v[s], text, sizeof text, NULL);
                snprintf(key, sizeof key, "%s|%s", td->dns, text);
                if (strmap_put(&checked, key, NULL) <= 0)
                    continue;
                if ((rc = adb_sid_encode(&sids->v[s], bin, sizeof bin, &len, err)) == ADB_OK
                    && (rc = adb_filter_build(&item, err, "(objectSid=%b)", bin, len)) == ADB_OK)
                    rc = items_add(&terms, item, err);
            }
            snprintf(base, sizeof base, "CN=ForeignSecurityPrincipals,%s", td->nc);
            for (size_t n = 0; rc == ADB_OK && n < terms.n;) {
                char *f = batch_filter(&terms, &n, "(objectClass=foreignSecurityPrincipal)");
                search_op op = { base, ADB_LDAP_SCOPE_ONE, f, sid_attr, on_dn, NULL, &fsps };
                rc = f != NULL ? run_search(d, td->dns, ADB_POOL_DC, &op, err)
                               : adb_error_set(err, ADB_E_NOMEM, "out of memory");
                if (rc == ADB_E_NOT_FOUND) {   /* no ForeignSecurityPrincipals container */
                    adb_error_clear(err);
                    rc = ADB_OK;
                }
                free(f);
            }
            if (rc == ADB_OK && fsps.n > 0)
                rc = groups_containing(d, td, &fsps, &groups, err);
            for (size_t g = 0; rc == ADB_OK && g < groups.n; g++) {
                char key[KEY_MAX];
                member_key(key, sizeof key, groups.items[g]);
                if (strmap_put(have, key, NULL) > 0) {
                    if ((rc = adb_object_list_add(out, groups.items[g], err)) == ADB_OK && groups.items[g]->has_sid)
                        rc = sids_add(sids, &groups.items[g]->sid, err);
                    grew = true;
                }
            }
            adb_object_list_clear(&groups);
            items_clear(&fsps);
            items_clear(&terms);
        }
    }
    strmap_clear(&checked);
    return rc;
}

adb_code adb_dir_groups_of(adb_dir *d, const char *user, const char *domain, adb_object **user_out,
                           adb_object_list *out, adb_error *err)
{
    adb_object *u = NULL;
    adb_topology *t = NULL;
    const adb_topo_domain *ud;
    sid_collect sids = { 0 };
    shared_list *sl = NULL;
    strmap have = { 0 };
    char key[KEY_MAX];
    void *value;
    adb_code rc;
    static const char *const token_attrs[] = { "tokenGroups", NULL };

    if (user_out != NULL)
        *user_out = NULL;
    if ((rc = get_kind(d, user, domain, ADB_KINDS_USER | ADB_KINDS_COMPUTER, &u, NULL, err)) != ADB_OK)
        return rc;
    key_membership(key, sizeof key, "groups-of:", u);
    if (adb_cache_get(d->cache, key, &value) == ADB_CACHE_HIT) {
        sl = value;
        goto answer;
    }
    if ((sl = calloc(1, sizeof *sl)) == NULL) {
        rc = adb_error_set(err, ADB_E_NOMEM, "out of memory");
        goto done;
    }
    sl->refs = 1;
    if ((rc = adb_dir_topology(d, false, &t, err)) != ADB_OK)
        goto done;
    if ((ud = adb_topology_domain(t, u->domain_dns)) == NULL) {
        rc = adb_error_set(err, ADB_E_NOT_FOUND, "the domain of %s is not in the topology", u->dn);
        goto done;
    }
    if ((rc = check_usable(d, ud, err)) != ADB_OK)
        goto done;
    /* tokenGroups: the transitive closure, primary group included, in one base read. */
    {
        search_op op = { u->dn, ADB_LDAP_SCOPE_BASE, "(objectClass=*)", token_attrs, on_token_groups, sids_reset,
                         &sids };
        if ((rc = run_search(d, ud->dns, ADB_POOL_DC, &op, err)) != ADB_OK) {
            adb_error_prefix(err, "reading tokenGroups of %s", u->dn);
            goto done;
        }
    }
    if (u->primary_group_rid != 0 && u->has_sid) {
        adb_sid dom, primary;
        if (adb_sid_split(&u->sid, &dom, NULL, NULL) == ADB_OK
            && adb_sid_compose(&dom, u->primary_group_rid, &primary, NULL) == ADB_OK
            && (rc = sids_add(&sids, &primary, err)) != ADB_OK)
            goto done;
    }
    if ((rc = resolve_sids(d, t, sids.v, sids.n, ud, &sl->list, err)) != ADB_OK)
        goto done;
    for (size_t i = 0; i < sl->list.n; i++) {
        member_key(key, sizeof key, sl->list.items[i]);
        if (strmap_put(&have, key, NULL) < 0) {
            rc = adb_error_set(err, ADB_E_NOMEM, "out of memory");
            goto done;
        }
    }
    if (u->has_sid && (rc = sids_add(&sids, &u->sid, err)) != ADB_OK)
        goto done;
    if ((rc = foreign_groups(d, t, &sids, &have, &sl->list, err)) != ADB_OK)
        goto done;
    adb_object_list_sort(&sl->list);
    key_membership(key, sizeof key, "groups-of:", u);
    adb_cache_put(d->cache, key, ADB_CACHE_GROUPS_OF, &list_type, list_retain(sl), list_bytes(&sl->list));
answer:
    for (size_t i = 0; rc == ADB_OK && i < sl->list.n; i++)
        rc = adb_object_list_add(out, sl->list.items[i], err);
done:
    if (rc == ADB_OK && user_out != NULL)
        *user_out = adb_object_ref(u);
    list_release(sl);
    sids_reset(&sids);
    strmap_clear(&have);
    adb_topology_unref(t);
    adb_object_unref(u);
    return rc;
}

/* ======================================================================
 * Search (people picker).
 * ====================================================================== */

/* One candidate: its sort key, and either the object or where to fetch it. */
typedef struct cand {
    char *key;
    adb_object *obj;
    const adb_topo_domain *td;
    adb_guid guid;
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
    time_t now;
} search_collect;

static adb_code search_entry(const adb_ldap_entry *e, void *arg, adb_error *err)
{
    search_collect *sc = arg;
    cand c = { 0 };
    adb_code rc;

    if (sc->td != NULL) {
        adb_object_origin origin = origin_of(sc->td);
        if ((rc = adb_object_decode(e, &origin, sc->now, &c.obj, err)) != ADB_OK)
            return rc;
        c.key = strdup(adb_object_sort_key(c.obj));
        c.td = sc->td;
    } else {
        char sam[ADB_NAME_MAX + 1];
        struct berval **g = adb_ldap_entry_values(e, "objectGUID");
        c.td = adb_topology_domain_of_dn(sc->t, e->dn);
        if (!usable(sc->d, c.td) || adb_ldap_entry_str(e, "sAMAccountName", sam, sizeof sam) == NULL || g == NULL
            || g[0] == NULL || adb_guid_decode(g[0]->bv_val, g[0]->bv_len, &c.guid, NULL) != ADB_OK)
            return ADB_OK;   /* another (disabled) domain of the forest, or not an account */
        c.key = adb_sort_key_make(sam, c.td->dns);
    }
    return topk_offer(sc->tk, &c, err);
}

static void search_reset(void *arg)
{
    (void)arg;   /* the top-k drops duplicates: a retry may offer the same entries again */
}

/* Fetches the objects of GC candidates from their domains, by GUID. */
static adb_code fill_from_dcs(adb_dir *d, topk *tk, adb_error *err)
{
    adb_code rc = ADB_OK;

    for (size_t i = 0; rc == ADB_OK && i < tk->n; i++) {
        const adb_topo_domain *td = tk->v[i].td;
        items it = { 0 };
        adb_object_list got = { 0 };
        if (tk->v[i].obj != NULL)
            continue;
        for (size_t k = i; rc == ADB_OK && k < tk->n; k++) {
            char *item = NULL;
            if (tk->v[k].obj != NULL || tk->v[k].td != td)
                continue;
            rc = adb_filter_build(&item, err, "(objectGUID=%b)", tk->v[k].guid.b, sizeof tk->v[k].guid.b);
            if (rc == ADB_OK)
                rc = items_add(&it, item, err);
        }
        for (size_t n = 0; rc == ADB_OK && n < it.n;) {
            char *f = batch_filter(&it, &n, "");
            rc = f != NULL ? search_objects(d, td, NULL, ADB_LDAP_SCOPE_SUBTREE, f, ADB_ATTRS_LIST, &got, err)
                           : adb_error_set(err, ADB_E_NOMEM, "out of memory");
            free(f);
        }
        for (size_t k = i; rc == ADB_OK && k < tk->n; k++) {
            if (tk->v[k].obj != NULL || tk->v[k].td != td)
                continue;
            for (size_t g = 0; g < got.n && tk->v[k].obj == NULL; g++)
                if (got.items[g]->has_guid && adb_guid_equal(&got.items[g]->guid, &tk->v[k].guid))
                    tk->v[k].obj = adb_object_ref(got.items[g]);
            if (tk->v[k].obj == NULL)   /* deleted between the two reads: a placeholder keeps the page order */
                rc = adb_object_new_stub(ADB_OBJECT_OTHER, NULL, NULL, NULL, &tk->v[k].obj, err);
        }
        adb_object_list_clear(&got);
        items_clear(&it);
    }
    return rc;
}

/* Prefix of any of the names a people picker matches on. */
#define NAME_PREFIX "(|(sAMAccountName=%v*)(displayName=%v*)(mail=%v*)(userPrincipalName=%v*))"
static const char *const search_templates[3] = {
    "(&(objectCategory=person)(objectClass=user)" NAME_PREFIX ")",
    "(&(objectClass=group)" NAME_PREFIX ")",
    "(&(|(&(objectCategory=person)(objectClass=user))(objectClass=group))" NAME_PREFIX ")",
};

adb_code adb_dir_search(adb_dir *d, const adb_dir_search_request *req, adb_dir_page *out, adb_error *err)
{
    size_t limit = req->limit != 0 ? req->limit : ADB_SEARCH_DEFAULT_LIMIT, plen, n = 0;
    unsigned kinds = req->kinds != 0 ? req->kinds : ADB_KINDS_USER | ADB_KINDS_GROUP;
    const adb_topo_domain **v = NULL;
    adb_topology *t = NULL;
    char *filter = NULL, lower[ADB_SEARCH_PREFIX_MAX + 1];
    topk tk = { 0 };
    adb_cursor cur = { 0 };
    uint64_t binding;
    adb_code rc;
    static const char *const gc_attrs[] = { "sAMAccountName", "objectGUID", NULL };
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
    lower_into(lower, sizeof lower, req->prefix);
    binding = adb_cursor_bind(adb_cursor_bind(ADB_CURSOR_BIND_INIT, lower, strlen(lower)), &kinds, sizeof kinds);
    if (req->cursor != NULL && req->cursor[0] != '\0') {
        if ((rc = adb_cursor_decode(req->cursor, ADB_CURSOR_SEARCH, binding, &cur, err)) != ADB_OK)
            return rc;
        tk.after = cur.key;
    }
    tk.k = limit + 1;   /* one more than asked tells whether there is a next page */
    if ((tk.v = calloc(tk.k, sizeof *tk.v)) == NULL)
        return adb_error_set(err, ADB_E_NOMEM, "out of memory");
    if ((rc = adb_filter_build(&filter, err, search_templates[kind_index], req->prefix, req->prefix, req->prefix,
                               req->prefix)) != ADB_OK)
        goto done;
    if ((rc = adb_dir_topology(d, false, &t, err)) != ADB_OK || (rc = all_domains(d, t, &v, &n, err)) != ADB_OK)
        goto done;
    for (size_t i = 0; rc == ADB_OK && i < n; i++) {
        size_t in_forest = 0;
        bool done_forest = false;
        for (size_t k = 0; k < n; k++)
            if (v[k]->forest != NULL && v[i]->forest != NULL && strcasecmp(v[k]->forest, v[i]->forest) == 0) {
                in_forest++;
                done_forest |= k < i;   /* this forest's GC was asked already */
            }
        bool gc = v[i]->forest != NULL
                  && (d->o.search_gc == ADB_DIR_GC_ALWAYS || (d->o.search_gc == ADB_DIR_GC_AUTO && in_forest > 1));
        search_collect sc = { &tk, t, d, gc ? NULL : v[i], time(NULL) };
        search_op op = { gc ? "" : v[i]->nc, ADB_LDAP_SCOPE_SUBTREE, filter,
                         gc ? gc_attrs : adb_object_attrs(ADB_ATTRS_LIST),
                         search_entry, search_reset, &sc };
        if (gc && done_forest)
            continue;
        rc = run_search(d, v[i]->dns, gc ? ADB_POOL_GC : ADB_POOL_DC, &op, err);
        if (rc != ADB_OK)
            adb_error_prefix(err, "searching %s%s", gc ? "the global catalog of " : "", gc ? v[i]->forest : v[i]->dns);
    }
    if (rc == ADB_OK)
        rc = fill_from_dcs(d, &tk, err);
    for (size_t i = 0; rc == ADB_OK && i < tk.n && i < limit; i++)
        rc = adb_object_list_add(&out->items, tk.v[i].obj, err);
    if (rc == ADB_OK && tk.n > limit)
        rc = set_next_cursor(out, ADB_CURSOR_SEARCH, binding, tk.v[limit - 1].key, err);
done:
    if (rc != ADB_OK)
        adb_dir_page_clear(out);
    for (size_t i = 0; i < tk.n; i++)
        cand_clear(&tk.v[i]);
    free(tk.v);
    free(v);
    free(filter);
    adb_topology_unref(t);
    return rc;
}

/* ======================================================================
 * Flags, invalidation, stats.
 * ====================================================================== */

adb_code adb_dir_set_enabled(adb_dir *d, const char *domain, bool enabled, adb_error *err)
{
    adb_topology *t = NULL;
    const adb_topo_domain *td = NULL;
    char name[ADB_DOMAIN_MAX];
    bool was;
    adb_code rc;

    if (domain == NULL || domain[0] == '\0')
        return adb_error_set(err, ADB_E_INVALID_REQUEST, "no domain given");
    if (strlen(domain) >= sizeof name)
        return adb_error_set(err, ADB_E_INVALID_REQUEST, "domain name too long");
    lower_into(name, sizeof name, domain);
    /* A NetBIOS name or a domain only the topology knows: ask the topology
     * (reading it touches only enabled domains). */
    if (!adb_subscriptions_known(d->subs, name)) {
        if ((rc = adb_dir_topology(d, false, &t, err)) != ADB_OK)
            return rc;
        if ((td = adb_topology_domain(t, domain)) == NULL) {
            adb_topology_unref(t);
            return adb_error_set(err, ADB_E_NOT_FOUND, "unknown domain '%s': it is neither configured nor in the "
                                 "forests and trusts the bridge can see", domain);
        }
        snprintf(name, sizeof name, "%s", td->dns);
        adb_topology_unref(t);
    }
    was = adb_subscriptions_enabled(d->subs, name);
    if ((rc = adb_subscriptions_set(d->subs, name, enabled, err)) != ADB_OK)
        return rc;
    if ((rc = adb_locator_set_enabled(d->loc, name, enabled, err)) != ADB_OK) {
        adb_error e = { 0 };
        /* Keep the file and the locator in agreement. */
        if (adb_subscriptions_set(d->subs, name, was, &e) != ADB_OK)
            adb_log(d->log, ADB_LOG_ERROR, "subscription_rollback_failed", "domain=%s", name);
        adb_error_prefix(err, "the locator refused %s", name);
        return rc;
    }
    adb_cache_invalidate_all(d->cache);
    pthread_mutex_lock(&d->topo_mu);
    d->topo_at = 0;   /* what can be read changed */
    pthread_mutex_unlock(&d->topo_mu);
    adb_log(d->log, ADB_LOG_INFO, "use_for_subscriptions", "domain=%s enabled=%s", name, enabled ? "true" : "false");
    return ADB_OK;
}

void adb_dir_invalidate(adb_dir *d, const char *id)
{
    adb_ident ident;
    char key[KEY_MAX], keys[6][KEY_MAX];
    void *value;

    if (id == NULL) {
        adb_cache_invalidate_all(d->cache);
        return;
    }
    if (adb_ident_parse(id, strlen(id), NULL, &ident, NULL) != ADB_OK)
        return;
    key_ident(key, sizeof key, &ident);
    if (adb_cache_get(d->cache, key, &value) == ADB_CACHE_HIT) {
        adb_object *o = value;
        size_t n = object_keys(o, keys);
        for (size_t i = 0; i < n; i++)
            adb_cache_invalidate(d->cache, keys[i]);
        key_membership(keys[0], KEY_MAX, "groups-of:", o);
        adb_cache_invalidate(d->cache, keys[0]);
        key_membership(keys[0], KEY_MAX, "members-t:", o);
        adb_cache_invalidate(d->cache, keys[0]);
        key_membership(keys[0], KEY_MAX, "members-d:", o);
        adb_cache_invalidate(d->cache, keys[0]);
        adb_object_unref(o);
    }
    adb_cache_invalidate(d->cache, key);
}

void adb_dir_stats_get(adb_dir *d, adb_dir_stats *out)
{
    memset(out, 0, sizeof *out);
    adb_cache_stats_get(d->cache, &out->cache);
    adb_pool_stats_get(d->pool, &out->pool);
    pthread_mutex_lock(&d->topo_mu);
    out->topology_reads = d->topology_reads;
    pthread_mutex_unlock(&d->topo_mu);
}

adb_locator *adb_dir_locator(adb_dir *d)
{
    return d->loc;
}

adb_pool *adb_dir_pool(adb_dir *d)
{
    return d->pool;
}

adb_krb *adb_dir_krb(adb_dir *d)
{
    return d->krb;
}

const adb_config *adb_dir_config(const adb_dir *d)
{
    return d->cfg;
}
