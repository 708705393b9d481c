/* DC locator: see include/adbridge/locator.h. */
#include "config.h"

#include <adbridge/clock.h>
#include <adbridge/cldap.h>
#include <adbridge/dns.h>
#include <adbridge/locator.h>
#include <adbridge/subscriptions.h>

#include "locator_internal.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define PINNED_TTL 600            /* seconds a pinned list's pings stay valid */
#define BACKOFF_FIRST_MS 5000     /* a failed DC is left alone this long, doubling */
#define BACKOFF_MAX_MS 60000     /* so a DC that is back is re-probed, and used, within a minute */

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
    pthread_cond_init(&loc->done, NULL);
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
    pthread_cond_destroy(&loc->done);
    free(loc->doms);
    free(loc->file);
    free(loc->scope);
    free(loc);
}

/* Reads only what never changes (the array and its configuration): no lock. */
dom *locator_find(adb_locator *loc, const char *domain)
{
    for (size_t i = 0; i < loc->n; i++)
        if (strcasecmp(loc->doms[i].cfg->name, domain) == 0)
            return &loc->doms[i];
    return NULL;
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

void locator_changed(adb_locator *loc)
{
    int64_t due = INT64_MAX;

    for (size_t i = 0; i < loc->n; i++) {
        const dom *d = &loc->doms[i];
        for (int k = 0; k < 2; k++)
            if (d->cache[k].dcs != NULL && d->expires[k] < due)
                due = d->expires[k];
        for (size_t h = 0; h < d->n_health; h++)
            if (d->health[h].fails > 0 && d->health[h].retry_at < due)
                due = d->health[h].retry_at;
    }
    atomic_store(&loc->next_due, due);
    atomic_fetch_add(&loc->changes, 1);
}

bool adb_locator_changed(adb_locator *loc, uint64_t *seen)
{
    uint64_t now = atomic_load(&loc->changes);
    bool changed = now != *seen || adb_mono_ms() >= atomic_load(&loc->next_due);

    *seen = now;
    return changed;
}

static void set_health(adb_locator *loc, const char *domain, const char *host, bool up)
{
    pthread_mutex_lock(&loc->mu);
    dom *d = locator_find(loc, domain);
    health *h = d != NULL ? health_of(d, host) : NULL;
    if (h != NULL) {
        bool changed = !up || h->fails > 0;
        if (up) {
            h->fails = 0;
            h->retry_at = 0;
        } else {
            int64_t backoff = BACKOFF_FIRST_MS << (h->fails < 6 ? h->fails : 6);
            h->fails++;
            h->retry_at = adb_mono_ms() + (backoff < BACKOFF_MAX_MS ? backoff : BACKOFF_MAX_MS);
            drop_hint(d, host);
        }
        if (changed)
            locator_changed(loc);
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

/* One address to ping, of list->dcs[dc]. */
typedef struct target {
    size_t dc;
    char addr[64];
} target;

/* Candidate DCs: the pinned list, else the SRV records of name; every
 * address of each (A, then AAAA) in *t, in the DCs' order. */
static adb_code candidates(adb_locator *loc, const adb_domain_config *cfg, const char *srv_name,
                           const adb_dns_options *dns, adb_dc_list *out, target **t, size_t *nt, uint32_t *ttl,
                           adb_error *err)
{
    bool pinned = cfg->n_dcs > 0 && srv_name[1] == 'l';      /* pinned DCs (not for _gc) */
    adb_srv_result srv = { 0 };
    size_t n = pinned ? cfg->n_dcs : 0;
    adb_code code;

    *ttl = PINNED_TTL;
    if (!pinned) {
        if ((code = adb_dns_srv(dns, srv_name, &srv, err)) != ADB_OK)
            return code;
        n = srv.n;
        *ttl = srv.ttl;
    }
    out->dcs = calloc(n ? n : 1, sizeof *out->dcs);
    *t = calloc(n * ADB_DNS_MAX_ADDRS + 1, sizeof **t);
    if (out->dcs == NULL || *t == NULL) {
        adb_srv_result_free(&srv);
        return adb_error_set(err, ADB_E_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        adb_dc *dc = &out->dcs[out->n++];
        char addrs[ADB_DNS_MAX_ADDRS][46];
        size_t na = 0;
        adb_error aerr = { 0 };
        snprintf(dc->host, sizeof dc->host, "%s", pinned ? cfg->dcs[i] : srv.targets[i].host);
        dc->ldap_port = pinned ? 389 : srv.targets[i].port;
        dc->rtt_us = -1;
        dc->state = ADB_DC_UNTRIED;
        if (pinned) {
            if (adb_dns_addrs(dns, dc->host, addrs, &na, &aerr) != ADB_OK)
                na = 0;
        } else {
            memcpy(addrs, srv.targets[i].addrs, sizeof addrs);
            na = srv.targets[i].n_addrs;
            snprintf(aerr.message, sizeof aerr.message, "%s has no A or AAAA record", dc->host);
        }
        if (na == 0)
            adb_log(loc->log, ADB_LOG_WARN, "dc_unresolved", "srv=%s host=%s error=%s", V(srv_name), V(dc->host),
                    V(aerr.message));
        for (size_t k = 0; k < na; k++) {
            (*t)[*nt].dc = i;
            memcpy((*t)[(*nt)++].addr, addrs[k], sizeof addrs[k]);
        }
        if (na > 0)
            snprintf(dc->address, sizeof dc->address, "%s", addrs[0]);
    }
    adb_srv_result_free(&srv);
    return ADB_OK;
}

/* Hosts of the site-specific SRV records, to mark DCs of the client's site. */
static void mark_site(adb_locator *loc, int kind, const char *site, const adb_dns_options *dns, adb_dc_list *list)
{
    char name[600];
    adb_srv_result srv;
    adb_error err = { 0 };

    if (kind == 1)
        snprintf(name, sizeof name, "_gc._tcp.%s._sites.%s", site, list->forest);
    else
        snprintf(name, sizeof name, "_ldap._tcp.%s._sites.dc._msdcs.%s", site, list->domain);
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

/* A good answer: a directory server with LDAP, and a global catalog when
 * GCs are looked for. */
static bool good_answer(const adb_netlogon *nl, void *ctx)
{
    uint32_t need = ADB_DS_DS | ADB_DS_LDAP | (*(const int *)ctx == 1 ? ADB_DS_GC : 0);
    return (nl->flags & need) == need;
}

/* Pings the targets t[] that want[] selects, in order, on MS-DISO's
 * schedule until the first good answer, and writes what each DC said into
 * list (and the health records).  Returns how many DCs answered well;
 * failures are appended to tried. */
static size_t ping_round(adb_locator *loc, const char *domain, int kind, adb_dc_list *list, const target *t,
                         size_t nt, const bool *want, int first_ms, char *tried, size_t tried_size)
{
    adb_cldap_ping *pings = calloc(nt ? nt : 1, sizeof *pings);
    size_t *of = calloc(nt ? nt : 1, sizeof *of), np = 0, won, good = 0;
    bool *failed = calloc(list->n ? list->n : 1, sizeof *failed);
    adb_error err = { 0 };

    for (size_t i = 0; pings != NULL && of != NULL && i < nt; i++)
        if (want[t[i].dc]) {
            pings[np].address = t[i].addr;
            pings[np].port = 0;
            of[np++] = i;
        }
    if (pings == NULL || of == NULL || failed == NULL
        || adb_cldap_search(pings, np, domain, first_ms, good_answer, &kind, &won, &err) != ADB_OK)
        np = 0;
    pthread_mutex_lock(&loc->mu);
    loc->stats.pings += np;
    pthread_mutex_unlock(&loc->mu);
    for (size_t k = 0; k < np; k++) {
        adb_dc *dc = &list->dcs[t[of[k]].dc];
        const adb_netlogon *nl = &pings[k].reply;
        if (!pings[k].settled || dc->state == ADB_DC_UP)
            continue;
        if (pings[k].code != ADB_OK) {
            failed[t[of[k]].dc] = true;
            adb_log(loc->log, ADB_LOG_WARN, "ping_failed", "domain=%s host=%s error=%s", V(domain), V(dc->host),
                    V(pings[k].error));
            size_t off = strlen(tried);
            if (off < tried_size)
                snprintf(tried + off, tried_size - off, "%s%s (%s)", off ? "; " : "", dc->host, pings[k].error);
            continue;
        }
        bool ok = good_answer(nl, &kind);
        good += ok;
        dc->state = ok ? ADB_DC_UP : ADB_DC_DOWN;      /* answered, but cannot serve this kind */
        dc->rtt_us = pings[k].rtt_us;
        dc->flags = nl->flags;
        snprintf(dc->address, sizeof dc->address, "%s", pings[k].address);
        snprintf(dc->site, sizeof dc->site, "%s", nl->dc_site);
        if (k == won && nl->client_site[0] != '\0')
            snprintf(list->client_site, sizeof list->client_site, "%s", nl->client_site);
        if (k == won && kind == 0 && nl->forest[0] != '\0')
            snprintf(list->forest, sizeof list->forest, "%s", nl->forest);
        adb_locator_mark_up(loc, domain, dc->host);
    }
    /* A DC is down when every address pinged failed and none answered. */
    for (size_t i = 0; failed != NULL && i < list->n; i++)
        if (failed[i] && list->dcs[i].state != ADB_DC_UP) {
            list->dcs[i].state = ADB_DC_DOWN;
            adb_locator_mark_down(loc, domain, list->dcs[i].host);
        }
    free(pings);
    free(of);
    free(failed);
    return good;
}

/* DNS, then pings until the first good answer; then, as DsGetDcName, the
 * DCs of the client's site that answer decides the order. */
static adb_code refresh(adb_locator *loc, dom *d, int kind, const char *site, const adb_locator_options *opts,
                        adb_dc_list *out, uint32_t *ttl, adb_error *err)
{
    const adb_domain_config *cfg = d->cfg;
    const char *domain = cfg->name;
    adb_dns_options dns = { .servers = (const char *const *)loc->cfg->dns_servers,
                            .n_servers = loc->cfg->n_dns_servers,
                            .timeout_ms = opts != NULL ? opts->dns_timeout_ms : 0 };
    int first_ms = opts != NULL ? opts->ping_timeout_ms : 0;
    adb_dc_list list = { 0 };
    target *t = NULL;
    size_t nt = 0, answered;
    char srv_name[600], forest[256], tried[1024] = "";
    adb_code code;

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
    if ((code = candidates(loc, cfg, srv_name, &dns, &list, &t, &nt, ttl, err)) != ADB_OK) {
        adb_dc_list_free(&list);
        free(t);
        return code;
    }
    snprintf(list.domain, sizeof list.domain, "%s", domain);
    snprintf(list.forest, sizeof list.forest, "%s", forest);
    bool *want = calloc(list.n ? list.n : 1, sizeof *want);
    if (want == NULL) {
        code = adb_error_set(err, ADB_E_NOMEM, "out of memory");
        goto out;
    }

    /* Ping those not in backoff (all of them if every one is). */
    pthread_mutex_lock(&loc->mu);
    int64_t now = adb_mono_ms();
    bool all_backoff = true;
    for (size_t i = 0; i < list.n; i++)
        all_backoff &= list.dcs[i].address[0] == '\0' || in_backoff(d, list.dcs[i].host, now);
    for (size_t i = 0; i < list.n; i++) {
        want[i] = all_backoff || !in_backoff(d, list.dcs[i].host, now);
        if (!want[i])
            list.dcs[i].state = ADB_DC_DOWN;
    }
    loc->stats.refreshes++;
    pthread_mutex_unlock(&loc->mu);
    answered = ping_round(loc, domain, kind, &list, t, nt, want, first_ms, tried, sizeof tried);
    if (answered == 0) {
        code = adb_error_set(err, ADB_E_DC_UNAVAILABLE, "no domain controller of %s answered (%s): %s", domain,
                             srv_name, list.n == 0 ? "DNS lists none" : tried[0] ? tried : "none has an address");
        goto out;
    }
    if (site != NULL)
        snprintf(list.client_site, sizeof list.client_site, "%s", site);
    bool site_up = false;
    for (size_t i = 0; i < list.n; i++)
        if (list.client_site[0] != '\0' && strcasecmp(list.dcs[i].site, list.client_site) == 0)
            list.dcs[i].in_client_site = true;
    if (list.client_site[0] != '\0' && (kind == 1 || cfg->n_dcs == 0))
        mark_site(loc, kind, list.client_site, &dns, &list);
    /* The winner is not of the client's site: ping the site's DCs not heard yet. */
    for (size_t i = 0; i < list.n; i++) {
        site_up |= list.dcs[i].in_client_site && list.dcs[i].state == ADB_DC_UP;
        want[i] = list.dcs[i].in_client_site && list.dcs[i].state == ADB_DC_UNTRIED;
    }
    if (!site_up)
        answered += ping_round(loc, domain, kind, &list, t, nt, want, first_ms, tried, sizeof tried);
    apply_health(d, &list, adb_mono_ms());
    adb_log(loc->log, ADB_LOG_DEBUG, "located", "domain=%s kind=%s dcs=%zu answered=%zu client_site=%s first=%s",
            V(domain), kind ? "gc" : "dc", list.n, answered, V(list.client_site), V(list.dcs[0].host));
    *out = list;
    list.dcs = NULL;
out:
    adb_dc_list_free(&list);
    free(want);
    free(t);
    return code;
}

/* DCs of d's cached list whose backoff ran out (failures, retry time past). */
static bool due(dom *d, const adb_dc_list *l, int64_t now, bool *want)
{
    bool any = false;
    for (size_t i = 0; i < l->n; i++) {
        want[i] = false;
        for (size_t k = 0; k < d->n_health; k++)
            if (strcasecmp(d->health[k].host, l->dcs[i].host) == 0)
                want[i] = d->health[k].fails > 0 && d->health[k].retry_at <= now;
        any |= want[i];
    }
    return any;
}

/* Pings the DCs of cache[kind] that are due (the caller holds the entry's
 * busy flag) and writes what they say back into the cache: a DC that
 * answers again is up and, of the client's site, first again. */
static void reprobe(adb_locator *loc, dom *d, int kind, const adb_locator_options *opts)
{
    adb_dc_list l = { 0 };
    target *t = NULL;
    bool *want = NULL;
    size_t nt = 0;
    char tried[1024] = "";

    pthread_mutex_lock(&loc->mu);
    bool ok = copy_list(&d->cache[kind], &l, NULL) == ADB_OK
              && (want = calloc(l.n ? l.n : 1, sizeof *want)) != NULL
              && (t = calloc(l.n ? l.n : 1, sizeof *t)) != NULL && due(d, &l, adb_mono_ms(), want);
    loc->stats.reprobes += ok;
    pthread_mutex_unlock(&loc->mu);
    for (size_t i = 0; ok && i < l.n; i++)
        if (l.dcs[i].address[0] != '\0') {
            t[nt].dc = i;
            snprintf(t[nt++].addr, sizeof t->addr, "%s", l.dcs[i].address);
        }
    if (ok && ping_round(loc, d->cfg->name, kind, &l, t, nt, want, opts != NULL ? opts->ping_timeout_ms : 0, tried,
                         sizeof tried) > 0) {
        pthread_mutex_lock(&loc->mu);
        for (size_t i = 0; i < l.n; i++)
            for (size_t k = 0; want[i] && l.dcs[i].state == ADB_DC_UP && k < d->cache[kind].n; k++)
                if (strcasecmp(d->cache[kind].dcs[k].host, l.dcs[i].host) == 0) {
                    bool in_site = d->cache[kind].dcs[k].in_client_site;
                    d->cache[kind].dcs[k] = l.dcs[i];
                    d->cache[kind].dcs[k].in_client_site = in_site;
                }
        locator_changed(loc);
        pthread_mutex_unlock(&loc->mu);
    }
    adb_dc_list_free(&l);
    free(want);
    free(t);
}

adb_code adb_locator_get(adb_locator *loc, const char *domain, adb_locate_flags flags,
                         const adb_locator_options *opts, adb_dc_list *out, adb_error *err)
{
    int kind = (flags & ADB_LOCATE_GC) ? 1 : 0;
    uint32_t ttl = PINNED_TTL;
    adb_code code;

    memset(out, 0, sizeof *out);
    dom *d = locator_find(loc, domain);
    if (d == NULL || !enabled(loc, d))
        return adb_error_set(err, ADB_E_DOMAIN_NOT_ENABLED,
                             d == NULL ? "domain %s is not in the configuration; the bridge talks only to DCs of "
                                         "domains configured and marked \"use for subscriptions\""
                                       : "domain %s is not marked \"use for subscriptions\"; enable it (adbridge "
                                         "domain enable) to let the bridge contact its DCs",
                             domain);
    const adb_domain_config *cfg = d->cfg;
    const char *site = opts != NULL && opts->site != NULL ? opts->site : cfg->site;
    if (site != cfg->site)                   /* a one-off site: neither cached nor shared */
        return refresh(loc, d, kind, site, opts, out, &ttl, err);
    if (loc->file != NULL && !(flags & ADB_LOCATE_FORCE)) {
        pthread_mutex_lock(&loc->mu);
        bool first = !loc->file_read;
        loc->file_read = true;
        pthread_mutex_unlock(&loc->mu);
        if (first)
            locator_read_file(loc);
    }

    /* One refresh (or re-probe) of an entry at a time: callers that find it
     * stale while one runs wait for its result instead of starting theirs. */
    bool waited = false;
    pthread_mutex_lock(&loc->mu);
    for (;;) {
        int64_t now = adb_mono_ms();
        int max_age = opts != NULL ? opts->max_age_ms : 0;
        bool fresh = d->cache[kind].dcs != NULL
                     && ((d->expires[kind] > now && (max_age <= 0 || now - d->born[kind] < max_age)) || waited);
        if (fresh && (waited || !(flags & ADB_LOCATE_FORCE))) {
            if ((code = copy_list(&d->cache[kind], out, err)) != ADB_OK)
                break;
            apply_health(d, out, now);
            bool *want = calloc(out->n ? out->n : 1, sizeof *want);
            bool probe = want != NULL && !d->busy[kind] && due(d, out, now, want);
            free(want);
            if (usable(out) && probe) {          /* this caller re-probes; the others go on */
                d->busy[kind] = true;
                pthread_mutex_unlock(&loc->mu);
                reprobe(loc, d, kind, opts);
                pthread_mutex_lock(&loc->mu);
                d->busy[kind] = false;
                pthread_cond_broadcast(&loc->done);
                adb_dc_list_free(out);
                if ((code = copy_list(&d->cache[kind], out, err)) == ADB_OK)
                    apply_health(d, out, adb_mono_ms());
                break;
            }
            if (usable(out))
                break;
            adb_dc_list_free(out);             /* every cached DC is down: look again */
        }
        if (waited && d->busy_code[kind] != ADB_OK) {    /* the refresh waited for failed */
            code = adb_error_set(err, d->busy_code[kind], "%s", d->busy_msg[kind]);
            break;
        }
        if (d->busy[kind]) {
            unsigned long gen = d->refreshed[kind];
            while (d->busy[kind])
                pthread_cond_wait(&loc->done, &loc->mu);
            waited = d->refreshed[kind] != gen;   /* a refresh ended, not a re-probe */
            continue;
        }
        d->busy[kind] = true;
        pthread_mutex_unlock(&loc->mu);
        adb_error e = { 0 };
        adb_dc_list list = { 0 };
        code = refresh(loc, d, kind, site, opts, &list, &ttl, &e);
        pthread_mutex_lock(&loc->mu);
        if (code == ADB_OK) {
            adb_dc_list_free(&d->cache[kind]);
            if (copy_list(&list, &d->cache[kind], NULL) == ADB_OK) {
                d->born[kind] = adb_mono_ms();
                d->expires[kind] = d->born[kind] + (int64_t)ttl * 1000;
            }
            locator_changed(loc);
        }
        d->busy_code[kind] = code;
        d->refreshed[kind]++;
        snprintf(d->busy_msg[kind], sizeof d->busy_msg[kind], "%s", e.message);
        d->busy[kind] = false;
        pthread_cond_broadcast(&loc->done);
        pthread_mutex_unlock(&loc->mu);
        if (code == ADB_OK && loc->file != NULL)
            locator_write_file(loc);
        if (code != ADB_OK)
            adb_error_set(err, code, "%s", e.message);
        *out = list;
        return code;
    }
    pthread_mutex_unlock(&loc->mu);
    return code;
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

void adb_locator_stats_get(adb_locator *loc, adb_locator_stats *out)
{
    pthread_mutex_lock(&loc->mu);
    *out = loc->stats;
    pthread_mutex_unlock(&loc->mu);
}

bool adb_locator_prefers_other(adb_locator *loc, const char *domain, adb_locate_flags flags, const char *host)
{
    adb_dc_list l;
    adb_error e = { 0 };
    bool other = true;                  /* host is not in the list at all */

    if (adb_locator_get(loc, domain, flags & ~ADB_LOCATE_FORCE, NULL, &l, &e) != ADB_OK)
        return false;                   /* nothing better known */
    for (size_t i = 0; i < l.n; i++)
        if (strcasecmp(l.dcs[i].host, host) == 0)
            other = rank(&l.dcs[i]) > rank(&l.dcs[0]);
    adb_dc_list_free(&l);
    return other;
}
