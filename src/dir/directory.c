/* The directory's stack (see include/adbridge/directory.h): opening and
 * freeing it, the topology it reads, which domains an operation may use,
 * pages, the use-for-subscriptions flag, invalidation and stats.  The
 * operations are in dir_get.c, dir_members.c, dir_groups.c and dir_search.c;
 * what they share is in dir_internal.h. */
#include "config.h"

#include "dir_internal.h"

#include <adbridge/clock.h>
#include <adbridge/statecache.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    DEFAULT_TOPOLOGY_TTL_S = 900,
    TOPOLOGY_RETRY_S = 30,        /* a topology with read errors is re-read sooner */
    DEFAULT_SEARCH_INDEX_REFRESH_S = 60,
};
#define DEFAULT_MAX_EXPANSION ((size_t)1000000)

/* ======================================================================
 * Open, close, topology.
 * ====================================================================== */

/* state_dir/name, malloc'd; NULL when out of memory. */
static char *state_path(const adb_config *cfg, const char *name)
{
    size_t n = strlen(cfg->state_dir) + strlen(name) + 2;
    char *p = malloc(n);

    if (p != NULL)
        snprintf(p, n, "%s/%s", cfg->state_dir, name);
    return p;
}

/* The CLI (cfg->persist_caches): where the machine ccache, the located DCs
 * and the topology are kept between runs, when the state directory may
 * hold them (else, said at debug, everything stays in memory). */
static adb_code open_persistent(adb_dir *d, char **ccache, adb_error *err)
{
    char why[200], *dcs;
    adb_code rc;

    *ccache = NULL;
    if (!d->cfg->persist_caches)
        return ADB_OK;
    if (!adb_statecache_dir_ok(d->cfg->state_dir, why, sizeof why)) {
        char v[600];
        adb_log(d->log, ADB_LOG_DEBUG, "state_cache_off", "state_dir=%s reason=%s",
                adb_log_value(v, 300, d->cfg->state_dir), adb_log_value(v + 300, 300, why));
        return ADB_OK;
    }
    if ((*ccache = state_path(d->cfg, ADB_STATECACHE_CCACHE)) == NULL
        || (d->topo_file = state_path(d->cfg, ADB_STATECACHE_TOPOLOGY)) == NULL
        || (dcs = state_path(d->cfg, ADB_STATECACHE_DCS)) == NULL)
        return adb_error_set(err, ADB_E_NOMEM, "out of memory");
    rc = adb_locator_persist(d->loc, dcs, err);
    free(dcs);
    return rc;
}

void adb_dir_options_from_config(const adb_config *cfg, adb_dir_options *out)
{
    memset(out, 0, sizeof *out);
    for (int k = 0; k < ADB_CACHE_KIND_COUNT_; k++)
        out->cache.ttl_s[k] = k <= ADB_CACHE_OTHER ? cfg->cache.object_ttl_s : cfg->cache.membership_ttl_s;
    out->cache.negative_ttl_s = cfg->cache.negative_ttl_s;
    out->cache.stale_max_s = cfg->cache.stale_max_age_s;
    out->search_index = cfg->cache.search_index;
    out->search_index_refresh_s = cfg->cache.search_index_refresh_s;
}

adb_code adb_dir_open(const adb_config *cfg, const adb_logger *log, const adb_dir_options *opts, adb_dir **out,
                      adb_error *err)
{
    adb_dir *d = calloc(1, sizeof *d);
    adb_krb_options ko = { .log = log };
    char *ccache = NULL;
    adb_code rc;

    *out = NULL;
    if (d == NULL)
        return adb_error_set(err, ADB_E_NOMEM, "out of memory");
    d->cfg = cfg;
    d->log = log;
    if (opts != NULL) {
        d->o = *opts;
    } else {   /* the configuration's "cache", without a search index */
        adb_dir_options_from_config(cfg, &d->o);
        d->o.search_index = ADB_SEARCH_INDEX_OFF;
    }
    if (d->o.search_index_refresh_s <= 0)
        d->o.search_index_refresh_s = DEFAULT_SEARCH_INDEX_REFRESH_S;
    if (d->o.topology_ttl_s <= 0)
        d->o.topology_ttl_s = DEFAULT_TOPOLOGY_TTL_S;
    if (d->o.max_expansion == 0)
        d->o.max_expansion = DEFAULT_MAX_EXPANSION;
    pthread_mutex_init(&d->topo_mu, NULL);
    pthread_mutex_init(&d->refresh_mu, NULL);
    /* The locator asks the subscriptions for every flag: one view, one lock. */
    if ((rc = adb_subscriptions_open(cfg, &d->subs, err)) != ADB_OK
        || (rc = adb_locator_new_with_subscriptions(cfg, d->subs, log, &d->loc, err)) != ADB_OK
        || (rc = open_persistent(d, &ccache, err)) != ADB_OK)
        goto fail;
    /* How connections are protected: the configuration's "ldap", unless the
     * caller chose TLS itself. */
    if (d->o.pool.ldap.tls == ADB_LDAP_TLS_OFF && d->o.pool.ldap.ca_file == NULL) {
        d->o.pool.ldap.tls = cfg->ldap.tls;
        d->o.pool.ldap.ca_file = cfg->ldap.ca_file;
    }
    ko.ccache_file = ccache;
    if ((rc = adb_krb_new_with(cfg->keytab, cfg->machine_principal, &ko, &d->krb, err)) != ADB_OK
        || (rc = adb_pool_new(d->loc, d->krb, &d->o.pool, log, &d->pool, err)) != ADB_OK
        || (rc = adb_cache_new(&d->o.cache, &d->cache, err)) != ADB_OK || (rc = dir_names_open(d, err)) != ADB_OK)
        goto fail;
    snprintf(d->joined, sizeof d->joined, "%s", adb_krb_realm(d->krb));
    dir_lower_into(d->joined, sizeof d->joined, d->joined);
    free(ccache);
    *out = d;
    return ADB_OK;
fail:
    free(ccache);
    adb_dir_free(d);
    return rc;
}

void adb_dir_free(adb_dir *d)
{
    if (d == NULL)
        return;
    dir_names_close(d);   /* its thread reads through the pool */
    adb_topology_unref(d->topo);
    adb_cache_free(d->cache);
    adb_pool_free(d->pool);
    adb_krb_free(d->krb);
    adb_locator_free(d->loc);
    adb_subscriptions_free(d->subs);
    pthread_mutex_destroy(&d->refresh_mu);
    pthread_mutex_destroy(&d->topo_mu);
    free(d->topo_file);
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

/* What a cached topology depends on: the machine account, and which
 * configured domains are enabled (only those are read).  Malloc'd. */
static char *topology_scope(adb_dir *d)
{
    char *scope = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&scope, &len);

    if (f == NULL)
        return NULL;
    fprintf(f, "v1 principal=%s domains=", adb_krb_principal(d->krb));
    for (size_t i = 0; i < d->cfg->n_domains; i++)
        fprintf(f, "%s:%d,", d->cfg->domains[i].name, adb_subscriptions_enabled(d->subs, d->cfg->domains[i].name));
    if (fclose(f) != 0) {
        free(scope);
        return NULL;
    }
    return scope;
}

/* The topology an earlier run left, with its age; NULL when there is none
 * that may be used (a debug line says why). */
static adb_topology *topology_from_file(adb_dir *d, time_t *age)
{
    char *scope = topology_scope(d);
    adb_topology *t = NULL;
    adb_error e = { 0 };
    json_t *data = NULL;
    time_t now = time(NULL), written = now;
    adb_code rc = scope == NULL ? adb_error_set(&e, ADB_E_NOMEM, "out of memory")
                                : adb_statecache_read(d->topo_file, "topology", scope, now, &data, &written, NULL, &e);

    if (rc == ADB_OK)
        rc = adb_topology_cache_from_json(data, d->joined, &t, &e);
    if (rc == ADB_OK && now - written > d->o.topology_ttl_s)   /* this run's TTL may be shorter */
        rc = adb_error_set(&e, ADB_E_PROTOCOL, "older than the topology TTL (%d s)", d->o.topology_ttl_s);
    if (rc != ADB_OK && rc != ADB_E_NOT_FOUND)
        adb_statecache_log_ignored(d->log, d->topo_file, &e);
    if (rc != ADB_OK) {
        adb_topology_unref(t);
        t = NULL;
    }
    *age = now > written ? now - written : 0;
    json_decref(data);
    free(scope);
    return t;
}

/* Keeps a topology read without errors for the next run. */
static void topology_to_file(adb_dir *d, const adb_topology *t)
{
    char *scope, v[600];
    adb_error e = { 0 };
    time_t now = time(NULL);
    json_t *data;

    for (size_t i = 0; i < t->n_domains; i++)
        if (t->domains[i].error != NULL)
            return;   /* re-read sooner than a TTL: TOPOLOGY_RETRY_S */
    if ((scope = topology_scope(d)) == NULL || (data = adb_topology_cache_to_json(t)) == NULL
        || adb_statecache_write(d->topo_file, "topology", scope, now, now + d->o.topology_ttl_s, data, &e) != ADB_OK)
        adb_log(d->log, ADB_LOG_DEBUG, "state_cache_unwritten", "file=%s error=%s",
                adb_log_value(v, 300, d->topo_file),
                adb_log_value(v + 300, 300, e.message[0] != '\0' ? e.message : "out of memory"));
    free(scope);
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
    /* A new process (the CLI): the topology an earlier run read, while it is fresh. */
    time_t age = 0;
    if (t == NULL && !refresh && d->topo_file != NULL && d->topo == NULL && (t = topology_from_file(d, &age)) != NULL) {
        pthread_mutex_lock(&d->topo_mu);
        d->topo = adb_topology_ref(t);
        d->topo_at = (time_t)(adb_mono_ms() / 1000) - age;
        pthread_mutex_unlock(&d->topo_mu);
    }
    if (t == NULL && (rc = adb_topology_discover(d->pool, d->subs, d->cfg, d->joined, d->log, &t, err)) == ADB_OK) {
        pthread_mutex_lock(&d->topo_mu);
        adb_topology_unref(d->topo);
        d->topo = adb_topology_ref(t);
        d->topo_at = (time_t)(adb_mono_ms() / 1000);
        d->topology_reads++;
        pthread_mutex_unlock(&d->topo_mu);
        if (d->topo_file != NULL)
            topology_to_file(d, t);
    }
    pthread_mutex_unlock(&d->refresh_mu);
    *out = t;
    return rc;
}

/* ======================================================================
 * Which domains an operation may use.
 * ====================================================================== */

adb_code dir_check_usable(adb_dir *d, const adb_topo_domain *td, adb_error *err)
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

bool dir_usable(adb_dir *d, const adb_topo_domain *td)
{
    return td != NULL && dir_check_usable(d, td, NULL) == ADB_OK;
}

adb_object_origin dir_origin_of(const adb_topo_domain *td)
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
adb_code dir_all_domains(adb_dir *d, const adb_topology *t, const adb_topo_domain ***out, size_t *n,
                         adb_error *err)
{
    const adb_topo_domain **v = calloc(t->n_domains + 1, sizeof *v);

    *out = NULL;
    *n = 0;
    if (v == NULL)
        return adb_error_set(err, ADB_E_NOMEM, "out of memory");
    for (size_t i = 0; i < t->n_domains; i++)
        if (dir_usable(d, &t->domains[i]))
            v[(*n)++] = &t->domains[i];
    if (*n == 0) {
        free(v);
        for (size_t i = 0; i < t->n_domains; i++)
            if (adb_subscriptions_enabled(d->subs, t->domains[i].dns))
                return dir_check_usable(d, &t->domains[i], err);
        return adb_error_set(err, ADB_E_DOMAIN_NOT_ENABLED,
                             "no domain is enabled for use; enable one with `adbridge domain enable NAME`");
    }
    *out = v;
    return ADB_OK;
}

/* ======================================================================
 * Pages.
 * ====================================================================== */

void adb_dir_page_clear(adb_dir_page *p)
{
    adb_object_list_clear(&p->items);
    p->next_cursor[0] = '\0';
}

adb_code dir_set_next_cursor(adb_dir_page *out, adb_cursor_op op, uint64_t binding, const char *key,
                             adb_error *err)
{
    adb_cursor c = { .op = op, .binding = binding };

    if (strlen(key) > ADB_CURSOR_KEY_MAX)
        return adb_error_set(err, ADB_E_INTERNAL, "sort key too long for a cursor");
    snprintf(c.key, sizeof c.key, "%s", key);
    return adb_cursor_encode(&c, out->next_cursor, sizeof out->next_cursor, err);
}

/* ======================================================================
 * The use-for-subscriptions flag, invalidation, stats.
 * ====================================================================== */

adb_code adb_dir_set_enabled(adb_dir *d, const char *domain, bool enabled, adb_error *err)
{
    adb_topology *t = NULL;
    const adb_topo_domain *td = NULL;
    char name[ADB_DOMAIN_MAX];
    adb_code rc;

    if (domain == NULL || domain[0] == '\0')
        return adb_error_set(err, ADB_E_INVALID_REQUEST, "no domain given");
    if (strlen(domain) >= sizeof name)
        return adb_error_set(err, ADB_E_INVALID_REQUEST, "domain name too long");
    dir_lower_into(name, sizeof name, domain);
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
    /* The locator talks only to DCs of configured domains: a flag anywhere
     * else would say "enabled" and change nothing. */
    if (adb_config_domain(d->cfg, name) == NULL)
        return adb_error_set(err, ADB_E_NOT_FOUND, "domain %s is not in the configuration; the bridge talks only to "
                             "DCs of configured domains: add it to \"domains\" first", name);
    /* One owner, one lock: the locator reads this same flag. */
    if ((rc = adb_subscriptions_set(d->subs, name, enabled, err)) != ADB_OK)
        return rc;
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
    char key[DIR_KEY_MAX], keys[DIR_OBJECT_KEYS_MAX][DIR_KEY_MAX];
    void *value;

    if (id == NULL) {
        adb_cache_invalidate_all(d->cache);
        dir_names_refresh_now(d);
        return;
    }
    if (adb_ident_parse(id, strlen(id), NULL, &ident, NULL) != ADB_OK)
        return;
    dir_key_ident(key, sizeof key, &ident);
    if (adb_cache_get(d->cache, key, &value) == ADB_CACHE_HIT) {
        adb_object *o = value;
        size_t n = dir_object_keys(o, keys);
        for (size_t i = 0; i < n; i++)
            adb_cache_invalidate(d->cache, keys[i]);
        dir_key_membership(keys[0], DIR_KEY_MAX, "groups-of:", o);
        adb_cache_invalidate(d->cache, keys[0]);
        dir_key_membership(keys[0], DIR_KEY_MAX, "members-t:", o);
        adb_cache_invalidate(d->cache, keys[0]);
        dir_key_membership(keys[0], DIR_KEY_MAX, "members-d:", o);
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
    out->fsp_index_reads = __atomic_load_n(&d->fsp_index_reads, __ATOMIC_RELAXED);
    dir_names_stats(d, out);
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
