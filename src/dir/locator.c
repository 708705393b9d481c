/* DC locator: see include/adbridge/locator.h. */
#include "config.h"

#include <adbridge/clock.h>
#include <adbridge/cldap.h>
#include <adbridge/dns.h>
#include <adbridge/locator.h>
#include <adbridge/statecache.h>
#include <adbridge/subscriptions.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* A log field value, quoted as needed (a buffer per use, for one call). */
#define V(s) adb_log_value((char[600]){ 0 }, 600, (s))

#define MAX_PINGS 16              /* DCs pinged per locate */
#define PINNED_TTL 600            /* seconds a pinned list's pings stay valid */
#define BACKOFF_FIRST_MS 5000     /* a failed DC is left alone this long, doubling */
#define BACKOFF_MAX_MS 300000

typedef struct health {
    char host[256];
    int fails;
    int64_t retry_at;             /* monotonic ms; 0 = no backoff */
} health;

typedef struct dom {
    const adb_domain_config *cfg;
    adb_dc_list cache[2];         /* [0] DCs, [1] GCs of its forest */
    int64_t expires[2];           /* monotonic ms */
    health *health;
    size_t n_health;
} dom;

struct adb_locator {
    const adb_config *cfg;
    const adb_logger *log;
    /* The flags' one owner, asked at each use, never copied; NULL: the
     * configuration's values.  Its lock is a leaf: mu may be held while
     * asking it, and it never calls back here. */
    adb_subscriptions *subs;
    pthread_mutex_t mu;           /* guards the doms' caches and health, and file_read */
    dom *doms;                    /* one per configured domain; the array never changes */
    size_t n;
    char *file;                   /* adb_locator_persist's file; NULL: memory only */
    char *scope;                  /* what the file's lists depend on (statecache.h) */
    bool file_read;
};

adb_code adb_locator_new(const adb_config *cfg, const adb_logger *log, adb_locator **out, adb_error *err)
{
    return adb_locator_new_with_subscriptions(cfg, NULL, log, out, err);
}

adb_code adb_locator_new_with_subscriptions(const adb_config *cfg, adb_subscriptions *subs, const adb_logger *log,
                                            adb_locator **out, adb_error *err)
{
    adb_locator *loc = calloc(1, sizeof *loc);

    if (loc == NULL || (loc->doms = calloc(cfg->n_domains ? cfg->n_domains : 1, sizeof *loc->doms)) == NULL) {
        free(loc);
        return adb_error_set(err, ADB_E_NOMEM, "out of memory");
    }
    loc->cfg = cfg;
    loc->log = log;
    loc->subs = subs;
    loc->n = cfg->n_domains;
    for (size_t i = 0; i < loc->n; i++)
        loc->doms[i].cfg = &cfg->domains[i];
    pthread_mutex_init(&loc->mu, NULL);
    *out = loc;
    return ADB_OK;
}

void adb_dc_list_free(adb_dc_list *list)
{
    if (list == NULL)
        return;
    free(list->dcs);
    list->dcs = NULL;
    list->n = 0;
}

void adb_locator_free(adb_locator *loc)
{
    if (loc == NULL)
        return;
    for (size_t i = 0; i < loc->n; i++) {
        adb_dc_list_free(&loc->doms[i].cache[0]);
        adb_dc_list_free(&loc->doms[i].cache[1]);
        free(loc->doms[i].health);
    }
    pthread_mutex_destroy(&loc->mu);
    free(loc->doms);
    free(loc->file);
    free(loc->scope);
    free(loc);
}

/* Reads only what never changes (the array and its configuration): no lock. */
static dom *find(adb_locator *loc, const char *domain)
{
    for (size_t i = 0; i < loc->n; i++)
        if (strcasecmp(loc->doms[i].cfg->name, domain) == 0)
            return &loc->doms[i];
    return NULL;
}

/* ---- lists kept between processes (adb_locator_persist) ---- */

enum { MAX_FILE_ENTRIES = 512 };

adb_code adb_locator_persist(adb_locator *loc, const char *path, adb_error *err)
{
    char *scope = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&scope, &len);

    if (f == NULL)
        return adb_error_set(err, ADB_E_NOMEM, "out of memory");
    /* What a list depends on: the DNS servers asked, each domain's pinned site and DCs. */
    fprintf(f, "v1 dns=");
    for (size_t i = 0; i < loc->cfg->n_dns_servers; i++)
        fprintf(f, "%s,", loc->cfg->dns_servers[i]);
    for (size_t i = 0; i < loc->n; i++) {
        const adb_domain_config *c = loc->doms[i].cfg;
        fprintf(f, " domain=%s site=%s dcs=", c->name, c->site != NULL ? c->site : "");
        for (size_t k = 0; k < c->n_dcs; k++)
            fprintf(f, "%s,", c->dcs[k]);
    }
    free(loc->file);
    free(loc->scope);
    loc->file = loc->scope = NULL;
    if (fclose(f) != 0 || scope == NULL || (loc->file = strdup(path)) == NULL) {
        free(scope);
        return adb_error_set(err, ADB_E_NOMEM, "out of memory");
    }
    loc->scope = scope;
    return ADB_OK;
}

/* Installs, once, the lists an earlier process left in the file where this
 * one has none.  A file that is not right in every part is ignored whole
 * (a debug line says why): the locator then starts from DNS. */
static void read_file(adb_locator *loc)
{
    adb_dc_cache_entry *v = NULL;
    json_t *data = NULL, *entries, *j;
    adb_error e = { 0 };
    time_t now = time(NULL);
    size_t n = 0, i;
    adb_code rc;

    if ((rc = adb_statecache_read(loc->file, "dcs", loc->scope, now, &data, NULL, NULL, &e)) != ADB_OK) {
        if (rc != ADB_E_NOT_FOUND)
            adb_statecache_log_ignored(loc->log, loc->file, &e);
        return;
    }
    entries = json_object_get(data, "entries");
    if (json_object_size(data) != 1 || !json_is_array(entries) || json_array_size(entries) > MAX_FILE_ENTRIES) {
        adb_error_set(&e, ADB_E_PROTOCOL, "DC cache: expected {\"entries\": [...]}");
        goto ignored;
    }
    if ((v = calloc(json_array_size(entries) + 1, sizeof *v)) == NULL)
        goto out;
    json_array_foreach(entries, i, j) {
        if (adb_dc_cache_entry_from_json(j, &v[i], &e) != ADB_OK)
            goto ignored;
        n++;
    }
    pthread_mutex_lock(&loc->mu);
    int64_t mono = adb_mono_ms();
    for (i = 0; i < n; i++) {
        dom *d = find(loc, v[i].list.domain);
        int k = v[i].gc ? 1 : 0;
        if (d == NULL || v[i].expires <= now || (d->cache[k].dcs != NULL && d->expires[k] > mono))
            continue;
        adb_dc_list_free(&d->cache[k]);
        d->cache[k] = v[i].list;
        d->cache[k].from_cache = true;
        d->expires[k] = mono + (int64_t)(v[i].expires - now) * 1000;
        memset(&v[i].list, 0, sizeof v[i].list);   /* moved */
    }
    pthread_mutex_unlock(&loc->mu);
    goto out;
ignored:
    adb_statecache_log_ignored(loc->log, loc->file, &e);
out:
    for (i = 0; v != NULL && i < n; i++)
        adb_dc_list_free(&v[i].list);
    free(v);
    json_decref(data);
}

/* Writes every list this process holds that has time left (fresh ones and
 * remembered ones), for the next process. */
static void write_file(adb_locator *loc)
{
    json_t *entries = json_array();
    adb_error e = { 0 };
    time_t now = time(NULL), latest = now + 1;
    bool ok = entries != NULL;

    pthread_mutex_lock(&loc->mu);
    int64_t mono = adb_mono_ms();
    for (size_t i = 0; ok && i < loc->n; i++)
        for (int k = 0; k < 2; k++) {
            const dom *d = &loc->doms[i];
            adb_dc_cache_entry ce = { .gc = k == 1, .list = d->cache[k] };
            if (d->cache[k].dcs == NULL || d->cache[k].n == 0 || d->expires[k] <= mono + 1000)
                continue;
            ce.expires = now + (time_t)((d->expires[k] - mono) / 1000);
            if (ce.expires > now + ADB_STATECACHE_MAX_TTL_S)
                ce.expires = now + ADB_STATECACHE_MAX_TTL_S;
            if (ce.expires > latest)
                latest = ce.expires;
            ok &= json_array_append_new(entries, adb_dc_cache_entry_to_json(&ce)) == 0;
        }
    pthread_mutex_unlock(&loc->mu);
    if (!ok) {
        json_decref(entries);
        return;
    }
    if (adb_statecache_write(loc->file, "dcs", loc->scope, now, latest, json_pack("{s:o}", "entries", entries), &e)
        != ADB_OK)
        adb_log(loc->log, ADB_LOG_DEBUG, "state_cache_unwritten", "file=%s error=%s", V(loc->file), V(e.message));
}

/* "Use for subscriptions" of d, as its owner says now. */
static bool enabled(adb_locator *loc, const dom *d)
{
    return loc->subs != NULL ? adb_subscriptions_enabled(loc->subs, d->cfg->name) : d->cfg->use_for_subscriptions;
}

/* Health record of host (created on demand); NULL only when out of memory. */
static health *health_of(dom *d, const char *host)
{
    for (size_t i = 0; i < d->n_health; i++)
        if (strcasecmp(d->health[i].host, host) == 0)
            return &d->health[i];
    health *h = realloc(d->health, (d->n_health + 1) * sizeof *h);
    if (h == NULL)
        return NULL;
    d->health = h;
    h = &d->health[d->n_health++];
    memset(h, 0, sizeof *h);
    snprintf(h->host, sizeof h->host, "%s", host);
    return h;
}

/* A list remembered from an earlier process is only a hint: one of its DCs
 * failing is reason enough to locate afresh at the next call. */
static void drop_hint(dom *d, const char *host)
{
    for (int k = 0; k < 2; k++)
        for (size_t i = 0; d->cache[k].from_cache && i < d->cache[k].n; i++)
            if (strcasecmp(d->cache[k].dcs[i].host, host) == 0) {
                adb_dc_list_free(&d->cache[k]);
                d->cache[k].from_cache = false;
                d->expires[k] = 0;
            }
}

static void set_health(adb_locator *loc, const char *domain, const char *host, bool up)
{
    pthread_mutex_lock(&loc->mu);
    dom *d = find(loc, domain);
    health *h = d != NULL ? health_of(d, host) : NULL;
    if (h != NULL) {
        if (up) {
            h->fails = 0;
            h->retry_at = 0;
        } else {
            int64_t backoff = BACKOFF_FIRST_MS << (h->fails < 6 ? h->fails : 6);
            h->fails++;
            h->retry_at = adb_mono_ms() + (backoff < BACKOFF_MAX_MS ? backoff : BACKOFF_MAX_MS);
            drop_hint(d, host);
        }
    }
    pthread_mutex_unlock(&loc->mu);
    adb_log(loc->log, up ? ADB_LOG_DEBUG : ADB_LOG_WARN, up ? "dc_up" : "dc_down", "domain=%s host=%s",
            V(domain), V(host));
}

void adb_locator_mark_down(adb_locator *loc, const char *domain, const char *host)
{
    set_health(loc, domain, host, false);
}

void adb_locator_mark_up(adb_locator *loc, const char *domain, const char *host)
{
    set_health(loc, domain, host, true);
}

static bool in_backoff(dom *d, const char *host, int64_t now)
{
    for (size_t i = 0; i < d->n_health; i++)
        if (strcasecmp(d->health[i].host, host) == 0)
            return d->health[i].retry_at > now;
    return false;
}

static int rank(const adb_dc *dc)
{
    switch (dc->state) {
    case ADB_DC_UP:
        return dc->in_client_site ? 0 : 1;
    case ADB_DC_UNTRIED:
        return dc->in_client_site ? 2 : 3;
    default:
        return 4;
    }
}

static int by_preference(const void *a, const void *b)
{
    const adb_dc *x = a, *y = b;
    int rx = rank(x), ry = rank(y);
    if (rx != ry)
        return rx - ry;
    if (x->rtt_us >= 0 && y->rtt_us >= 0 && x->rtt_us != y->rtt_us)
        return x->rtt_us < y->rtt_us ? -1 : 1;
    return 0;
}

/* The cached list as it stands now: DCs marked down since are moved last,
 * those whose backoff ran out become candidates again. */
static void apply_health(dom *d, adb_dc_list *list, int64_t now)
{
    for (size_t i = 0; i < list->n; i++) {
        adb_dc *dc = &list->dcs[i];
        if (in_backoff(d, dc->host, now))
            dc->state = ADB_DC_DOWN;
        else if (dc->state == ADB_DC_DOWN)
            dc->state = ADB_DC_UNTRIED;
    }
    /* insertion sort: stable, and lists are short */
    for (size_t i = 1; i < list->n; i++)
        for (size_t j = i; j > 0 && by_preference(&list->dcs[j - 1], &list->dcs[j]) > 0; j--) {
            adb_dc t = list->dcs[j];
            list->dcs[j] = list->dcs[j - 1];
            list->dcs[j - 1] = t;
        }
}

static adb_code copy_list(const adb_dc_list *src, adb_dc_list *dst, adb_error *err)
{
    *dst = *src;
    dst->dcs = calloc(src->n ? src->n : 1, sizeof *dst->dcs);
    if (dst->dcs == NULL)
        return adb_error_set(err, ADB_E_NOMEM, "out of memory");
    memcpy(dst->dcs, src->dcs, src->n * sizeof *dst->dcs);
    return ADB_OK;
}

static bool usable(const adb_dc_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        if (l->dcs[i].state != ADB_DC_DOWN)
            return true;
    return false;
}

/* Candidate DCs: the pinned list, else the SRV records of name. */
static adb_code candidates(adb_locator *loc, const adb_domain_config *cfg, const char *srv_name,
                           const adb_dns_options *dns, adb_dc_list *out, uint32_t *ttl, adb_error *err)
{
    adb_code code;

    if (cfg->n_dcs > 0 && srv_name[1] == 'l') {     /* pinned DCs (not for _gc) */
        if ((out->dcs = calloc(cfg->n_dcs, sizeof *out->dcs)) == NULL)
            return adb_error_set(err, ADB_E_NOMEM, "out of memory");
        for (size_t i = 0; i < cfg->n_dcs; i++) {
            adb_dc *dc = &out->dcs[out->n++];
            snprintf(dc->host, sizeof dc->host, "%s", cfg->dcs[i]);
            dc->ldap_port = 389;
            dc->rtt_us = -1;
            dc->state = ADB_DC_UNTRIED;
            adb_error aerr = { 0 };
            if (adb_dns_addr(dns, dc->host, dc->address, &aerr) != ADB_OK)
                adb_log(loc->log, ADB_LOG_WARN, "dc_unresolved", "domain=%s host=%s error=%s",
                        V(cfg->name), V(dc->host), V(aerr.message));
        }
        *ttl = PINNED_TTL;
        return ADB_OK;
    }
    adb_srv_result srv;
    if ((code = adb_dns_srv(dns, srv_name, &srv, err)) != ADB_OK)
        return code;
    if ((out->dcs = calloc(srv.n ? srv.n : 1, sizeof *out->dcs)) == NULL) {
        adb_srv_result_free(&srv);
        return adb_error_set(err, ADB_E_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < srv.n; i++) {
        adb_dc *dc = &out->dcs[out->n++];
        snprintf(dc->host, sizeof dc->host, "%s", srv.targets[i].host);
        if (srv.targets[i].n_addrs > 0)
            snprintf(dc->address, sizeof dc->address, "%s", srv.targets[i].addrs[0]);
        else
            adb_log(loc->log, ADB_LOG_WARN, "dc_unresolved", "srv=%s host=%s", V(srv_name),
                    V(dc->host));
        dc->ldap_port = srv.targets[i].port;
        dc->rtt_us = -1;
        dc->state = ADB_DC_UNTRIED;
    }
    *ttl = srv.ttl;
    adb_srv_result_free(&srv);
    return ADB_OK;
}

/* Hosts of the site-specific SRV records, to mark DCs of the client's site. */
static void mark_site(adb_locator *loc, const char *domain, const char *site, const adb_dns_options *dns,
                      adb_dc_list *list)
{
    char name[600];
    adb_srv_result srv;
    adb_error err = { 0 };

    snprintf(name, sizeof name, "_ldap._tcp.%s._sites.dc._msdcs.%s", site, domain);
    if (adb_dns_srv(dns, name, &srv, &err) != ADB_OK) {
        adb_log(loc->log, ADB_LOG_DEBUG, "site_srv_failed", "query=%s error=%s", V(name),
                V(err.message));
        return;
    }
    for (size_t i = 0; i < list->n; i++)
        for (size_t j = 0; j < srv.n; j++)
            if (strcasecmp(list->dcs[i].host, srv.targets[j].host) == 0)
                list->dcs[i].in_client_site = true;
    adb_srv_result_free(&srv);
}

adb_code adb_locator_get(adb_locator *loc, const char *domain, adb_locate_flags flags,
                         const adb_locator_options *opts, adb_dc_list *out, adb_error *err)
{
    int kind = (flags & ADB_LOCATE_GC) ? 1 : 0;
    adb_dns_options dns = { .servers = (const char *const *)loc->cfg->dns_servers,
                            .n_servers = loc->cfg->n_dns_servers,
                            .timeout_ms = opts != NULL ? opts->dns_timeout_ms : 0 };
    int ping_ms = opts != NULL && opts->ping_timeout_ms > 0 ? opts->ping_timeout_ms : 1000;
    adb_dc_list list = { 0 };
    uint32_t ttl = PINNED_TTL;
    char srv_name[600], forest[256];
    adb_code code;

    memset(out, 0, sizeof *out);
    dom *d = find(loc, domain);
    if (d == NULL || !enabled(loc, d))
        return adb_error_set(err, ADB_E_DOMAIN_NOT_ENABLED,
                             d == NULL ? "domain %s is not in the configuration; the bridge talks only to DCs of "
                                         "domains configured and marked \"use for subscriptions\""
                                       : "domain %s is not marked \"use for subscriptions\"; enable it (adbridge "
                                         "domain enable) to let the bridge contact its DCs",
                             domain);
    const adb_domain_config *cfg = d->cfg;
    const char *site = opts != NULL && opts->site != NULL ? opts->site : cfg->site;
    if (loc->file != NULL && !(flags & ADB_LOCATE_FORCE)) {
        pthread_mutex_lock(&loc->mu);
        bool first = !loc->file_read;
        loc->file_read = true;
        pthread_mutex_unlock(&loc->mu);
        if (first)
            read_file(loc);
    }
    int64_t now = adb_mono_ms();
    pthread_mutex_lock(&loc->mu);
    if (!(flags & ADB_LOCATE_FORCE) && site == cfg->site && d->cache[kind].dcs != NULL && d->expires[kind] > now) {
        code = copy_list(&d->cache[kind], out, err);
        if (code == ADB_OK)
            apply_health(d, out, now);
        bool ok = code != ADB_OK || usable(out);
        pthread_mutex_unlock(&loc->mu);
        if (ok)
            return code;
        adb_dc_list_free(out);           /* every cached DC is down: look again */
    } else {
        pthread_mutex_unlock(&loc->mu);
    }

    /* GCs are found in the forest root's DNS: learn the forest first. */
    snprintf(forest, sizeof forest, "%s", domain);
    if (kind == 1) {
        adb_dc_list dcs;
        if ((code = adb_locator_get(loc, domain, ADB_LOCATE_DEFAULT, opts, &dcs, err)) != ADB_OK)
            return code;
        if (dcs.forest[0] != '\0')
            snprintf(forest, sizeof forest, "%s", dcs.forest);
        adb_dc_list_free(&dcs);
        snprintf(srv_name, sizeof srv_name, "_gc._tcp.%s", forest);
    } else {
        snprintf(srv_name, sizeof srv_name, "_ldap._tcp.dc._msdcs.%s", domain);
    }
    if ((code = candidates(loc, cfg, srv_name, &dns, &list, &ttl, err)) != ADB_OK)
        return code;
    snprintf(list.domain, sizeof list.domain, "%s", domain);
    snprintf(list.forest, sizeof list.forest, "%s", forest);

    /* Ping those not in backoff (all of them if every one is), in parallel. */
    adb_cldap_ping pings[MAX_PINGS];
    size_t idx[MAX_PINGS], n_pings = 0;
    pthread_mutex_lock(&loc->mu);
    now = adb_mono_ms();
    bool all_backoff = true;
    for (size_t i = 0; i < list.n; i++)
        if (list.dcs[i].address[0] != '\0' && !in_backoff(d, list.dcs[i].host, now))
            all_backoff = false;
    for (size_t i = 0; i < list.n && n_pings < MAX_PINGS; i++) {
        if (list.dcs[i].address[0] == '\0')
            continue;
        if (!all_backoff && in_backoff(d, list.dcs[i].host, now)) {
            list.dcs[i].state = ADB_DC_DOWN;
            continue;
        }
        memset(&pings[n_pings], 0, sizeof pings[n_pings]);
        pings[n_pings].address = list.dcs[i].address;
        idx[n_pings++] = i;
    }
    pthread_mutex_unlock(&loc->mu);
    if ((code = adb_cldap_ping_all(pings, n_pings, domain, ping_ms, err)) != ADB_OK) {
        adb_dc_list_free(&list);
        return code;
    }

    char tried[1024] = "";
    size_t off = 0, answered = 0;
    for (size_t k = 0; k < n_pings; k++) {
        adb_dc *dc = &list.dcs[idx[k]];
        const adb_netlogon *nl = &pings[k].reply;
        if (pings[k].code != ADB_OK) {
            dc->state = ADB_DC_DOWN;
            adb_log(loc->log, ADB_LOG_WARN, "ping_failed", "domain=%s host=%s error=%s", V(domain),
                    V(dc->host), V(pings[k].error));
            if (off < sizeof tried)
                off += (size_t)snprintf(tried + off, sizeof tried - off, "%s%s (%s)", off ? "; " : "", dc->host,
                                        pings[k].error);
            adb_locator_mark_down(loc, domain, dc->host);
            continue;
        }
        answered++;
        dc->state = ADB_DC_UP;
        dc->rtt_us = pings[k].rtt_us;
        dc->flags = nl->flags;
        snprintf(dc->site, sizeof dc->site, "%s", nl->dc_site);
        if (list.client_site[0] == '\0' && nl->client_site[0] != '\0')
            snprintf(list.client_site, sizeof list.client_site, "%s", nl->client_site);
        if (kind == 0 && nl->forest[0] != '\0')
            snprintf(list.forest, sizeof list.forest, "%s", nl->forest);
        adb_locator_mark_up(loc, domain, dc->host);
    }
    if (site != NULL)
        snprintf(list.client_site, sizeof list.client_site, "%s", site);
    if (answered == 0) {
        code = adb_error_set(err, ADB_E_DC_UNAVAILABLE, "no domain controller of %s answered (%s): %s", domain,
                             srv_name, list.n == 0 ? "DNS lists none" : off ? tried : "none has an address");
        adb_dc_list_free(&list);
        return code;
    }
    for (size_t i = 0; i < list.n; i++)
        if (list.client_site[0] != '\0' && strcasecmp(list.dcs[i].site, list.client_site) == 0)
            list.dcs[i].in_client_site = true;
    if (list.client_site[0] != '\0' && kind == 0 && cfg->n_dcs == 0)
        mark_site(loc, domain, list.client_site, &dns, &list);
    apply_health(d, &list, adb_mono_ms());

    /* Cache it (only what was found without a one-off site override). */
    pthread_mutex_lock(&loc->mu);
    bool cached = false;
    if (site == cfg->site) {
        adb_dc_list_free(&d->cache[kind]);
        if ((cached = copy_list(&list, &d->cache[kind], NULL) == ADB_OK))
            d->expires[kind] = adb_mono_ms() + (int64_t)ttl * 1000;
    }
    pthread_mutex_unlock(&loc->mu);
    if (cached && loc->file != NULL)
        write_file(loc);
    adb_log(loc->log, ADB_LOG_DEBUG, "located", "domain=%s kind=%s dcs=%zu answered=%zu client_site=%s first=%s",
            V(domain), kind ? "gc" : "dc", list.n, answered, V(list.client_site),
            V(list.dcs[0].host));
    *out = list;
    return ADB_OK;
}

static void health_row(adb_dc_health *row, const dom *d, bool on, const char *host, adb_dc_state state,
                       int64_t now)
{
    memset(row, 0, sizeof *row);
    snprintf(row->domain, sizeof row->domain, "%s", d->cfg->name);
    snprintf(row->host, sizeof row->host, "%s", host);
    row->enabled = on;
    row->state = state;
    for (size_t i = 0; host[0] != '\0' && i < d->n_health; i++) {
        const health *h = &d->health[i];
        if (strcasecmp(h->host, host) != 0)
            continue;
        row->failures = (unsigned)h->fails;
        if (h->fails > 0) {
            row->state = ADB_DC_DOWN;
            row->retry_in_s = h->retry_at > now ? (long)((h->retry_at - now + 999) / 1000) : 0;
        }
    }
}

size_t adb_locator_health(adb_locator *loc, adb_dc_health *out, size_t max)
{
    int64_t now = adb_mono_ms();
    size_t n = 0;

    pthread_mutex_lock(&loc->mu);
    for (size_t i = 0; i < loc->n; i++) {
        const dom *d = &loc->doms[i];
        bool on = enabled(loc, d);
        size_t rows = 0;
        for (size_t j = 0; j < d->cache[0].n; j++, rows++, n++)
            if (n < max)
                health_row(&out[n], d, on, d->cache[0].dcs[j].host, d->cache[0].dcs[j].state, now);
        /* DCs that failed but are not in the cached list (it expired). */
        for (size_t j = 0; j < d->n_health; j++) {
            bool listed = false;
            for (size_t k = 0; k < d->cache[0].n && !listed; k++)
                listed = strcasecmp(d->cache[0].dcs[k].host, d->health[j].host) == 0;
            if (!listed) {
                if (n < max)
                    health_row(&out[n], d, on, d->health[j].host, ADB_DC_UNTRIED, now);
                rows++, n++;
            }
        }
        if (rows == 0) {
            if (n < max)
                health_row(&out[n], d, on, "", ADB_DC_UNTRIED, now);
            n++;
        }
    }
    pthread_mutex_unlock(&loc->mu);
    return n;
}
