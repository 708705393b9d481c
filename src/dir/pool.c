/* LDAP connection pool (see include/adbridge/pool.h). */
#include "config.h"

#include <adbridge/netlogon.h>
#include <adbridge/pool.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

enum { DEFAULT_MAX = 4, DEFAULT_ACQUIRE_MS = 10000, DEFAULT_MAX_IDLE_S = 600 };

typedef struct slot {
    adb_ldap_conn *c;        /* NULL while its connection is being made */
    char domain[256];
    adb_pool_kind kind;
    char host[256];
    time_t created;
    bool in_use;
    bool pdc;                /* its DC is the domain's PDC emulator (the ping's PDC flag) */
    uint64_t seen;           /* the locator's changes when last asked whether it prefers another DC */
} slot;

struct adb_pool {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    adb_locator *loc;
    adb_krb *creds;
    adb_pool_options o;
    const adb_logger *log;
    slot *slots;
    size_t n, cap;
    adb_pool_stats stats;
};

adb_code adb_pool_new(adb_locator *loc, adb_krb *creds, const adb_pool_options *opts,
                      const adb_logger *log, adb_pool **out, adb_error *err)
{
    adb_pool *p = calloc(1, sizeof *p);

    *out = NULL;
    if (p == NULL)
        return adb_error_set(err, ADB_E_NOMEM, "out of memory");
    if (opts != NULL)
        p->o = *opts;
    if (p->o.max_per_domain <= 0)
        p->o.max_per_domain = DEFAULT_MAX;
    if (p->o.acquire_timeout_ms <= 0)
        p->o.acquire_timeout_ms = DEFAULT_ACQUIRE_MS;
    if (p->o.max_idle_s <= 0)
        p->o.max_idle_s = DEFAULT_MAX_IDLE_S;
    p->loc = loc;
    p->creds = creds;
    p->log = log;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    *out = p;
    return ADB_OK;
}

void adb_pool_free(adb_pool *p)
{
    if (p == NULL)
        return;
    for (size_t i = 0; i < p->n; i++)
        adb_ldap_close(p->slots[i].c);
    free(p->slots);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

static bool same_key(const slot *s, const char *domain, adb_pool_kind kind)
{
    return s->kind == kind && strcasecmp(s->domain, domain) == 0;
}

/* A connection of kind serves a request for want: a DC connection that
 * happens to be on the PDC emulator serves PDC reads too (no second bind). */
static bool serves(const slot *s, const char *domain, adb_pool_kind want)
{
    return same_key(s, domain, want)
           || (want == ADB_POOL_PDC && s->kind == ADB_POOL_DC && s->pdc && strcasecmp(s->domain, domain) == 0);
}

static void remove_slot(adb_pool *p, size_t i)
{
    p->slots[i] = p->slots[--p->n];
}

/* Moves the DCs whose ping carried the PDC flag to the front (stable). */
static void pdc_first(adb_dc_list *list)
{
    size_t k = 0;

    for (size_t i = 0; i < list->n; i++)
        if (list->dcs[i].flags & ADB_DS_PDC) {
            adb_dc dc = list->dcs[i];
            memmove(&list->dcs[k + 1], &list->dcs[k], (i - k) * sizeof dc);
            list->dcs[k++] = dc;
        }
}

/* Connects to the first reachable DC of the locator's list. */
static adb_code connect_best(adb_pool *p, const char *domain, adb_pool_kind kind,
                             adb_ldap_conn **out, char *host, size_t host_size, bool *pdc, adb_error *err)
{
    adb_dc_list list;
    adb_code rc;
    char tried[512] = "";
    size_t o = 0;
    adb_locate_flags flags = kind == ADB_POOL_GC ? ADB_LOCATE_GC : ADB_LOCATE_DEFAULT;

    if ((rc = adb_krb_refresh(p->creds, false, err)) != ADB_OK)
        return rc;
again:
    rc = adb_locator_get(p->loc, domain, flags, NULL, &list, err);
    if (rc != ADB_OK)
        return rc;
    rc = ADB_E_DC_UNAVAILABLE;
    if (kind == ADB_POOL_PDC)
        pdc_first(&list);
    for (size_t i = 0; i < list.n; i++) {
        const adb_dc *dc = &list.dcs[i];
        adb_ldap_target t = { .host = dc->host, .address = dc->address,
                              .port = kind == ADB_POOL_GC ? 3268 : (dc->ldap_port ? dc->ldap_port : 389) };
        adb_error e = { 0 };

        rc = adb_ldap_connect(&t, p->creds, &p->o.ldap, out, &e);
        if (rc == ADB_OK) {
            char prot[200];
            if (kind == ADB_POOL_PDC && !(dc->flags & ADB_DS_PDC))
                adb_log(p->log, ADB_LOG_WARN, "pdc_unreachable", "domain=%s fallback=%s", domain, dc->host);
            adb_locator_mark_up(p->loc, domain, dc->host);
            snprintf(host, host_size, "%s", dc->host);
            *pdc = kind != ADB_POOL_GC && (dc->flags & ADB_DS_PDC);
            adb_log(p->log, ADB_LOG_DEBUG, "ldap_connect", "domain=%s dc=%s ssf=%u protection=%s", domain,
                    dc->host, adb_ldap_ssf(*out), adb_log_value(prot, sizeof prot, adb_ldap_protection(*out)));
            break;
        }
        if (o < sizeof tried)
            o += (size_t)snprintf(tried + o, sizeof tried - o, "%s%s (%s)", o ? "; " : "", dc->host, e.message);
        if (rc != ADB_E_DC_UNAVAILABLE && rc != ADB_E_TIMEOUT) {
            adb_error_set(err, rc, "%s", e.message);   /* Kerberos or config: another DC will not help */
            break;
        }
        adb_locator_mark_down(p->loc, domain, dc->host);
        adb_log(p->log, ADB_LOG_WARN, "dc_failover", "domain=%s dc=%s code=%s", domain, dc->host,
                adb_code_name(rc));
        pthread_mutex_lock(&p->mu);
        p->stats.failovers++;
        pthread_mutex_unlock(&p->mu);
    }
    /* DCs remembered from an earlier run (locator.h) are a hint: locate afresh. */
    if ((rc == ADB_E_DC_UNAVAILABLE || rc == ADB_E_TIMEOUT) && list.from_cache && !(flags & ADB_LOCATE_FORCE)) {
        adb_dc_list_free(&list);
        flags |= ADB_LOCATE_FORCE;
        goto again;
    }
    if (rc == ADB_E_DC_UNAVAILABLE || rc == ADB_E_TIMEOUT)
        adb_error_set(err, ADB_E_DC_UNAVAILABLE, "no domain controller of %s could be reached: %s", domain,
                      list.n > 0 ? tried : "the locator returned none");
    adb_dc_list_free(&list);
    return rc;
}

adb_code adb_pool_acquire(adb_pool *p, const char *domain, adb_pool_kind kind,
                          adb_ldap_conn **out, adb_error *err)
{
    struct timespec deadline;
    size_t idx;
    adb_ldap_conn *c = NULL;
    char host[256] = "";
    bool pdc = false;
    adb_code rc;

    *out = NULL;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += p->o.acquire_timeout_ms / 1000;
    deadline.tv_nsec += (long)(p->o.acquire_timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&p->mu);
    for (;;) {
        int open = 0;
        for (size_t i = 0; i < p->n; i++) {
            slot *s = &p->slots[i];
            if (!serves(s, domain, kind))
                continue;
            open++;
            if (!s->in_use && s->c != NULL) {
                s->in_use = true;
                p->stats.reuses++;
                *out = s->c;
                pthread_mutex_unlock(&p->mu);
                return ADB_OK;
            }
        }
        if (open < p->o.max_per_domain)
            break;
        if (pthread_cond_timedwait(&p->cv, &p->mu, &deadline) == ETIMEDOUT) {
            pthread_mutex_unlock(&p->mu);
            return adb_error_set(err, ADB_E_TIMEOUT, "all %d LDAP connections to %s are busy",
                                 p->o.max_per_domain, domain);
        }
    }
    /* Reserve the slot, then connect without holding the lock. */
    if (p->n == p->cap) {
        slot *grown = realloc(p->slots, (p->cap = p->cap ? p->cap * 2 : 8) * sizeof *grown);
        if (grown == NULL) {
            pthread_mutex_unlock(&p->mu);
            return adb_error_set(err, ADB_E_NOMEM, "out of memory");
        }
        p->slots = grown;
    }
    idx = p->n++;
    memset(&p->slots[idx], 0, sizeof p->slots[idx]);
    snprintf(p->slots[idx].domain, sizeof p->slots[idx].domain, "%s", domain);
    p->slots[idx].kind = kind;
    p->slots[idx].in_use = true;
    pthread_mutex_unlock(&p->mu);

    rc = connect_best(p, domain, kind, &c, host, sizeof host, &pdc, err);

    pthread_mutex_lock(&p->mu);
    /* Find the reservation again: other threads may have moved slots. */
    for (idx = 0; idx < p->n; idx++)
        if (p->slots[idx].c == NULL && p->slots[idx].in_use && same_key(&p->slots[idx], domain, kind))
            break;
    if (rc == ADB_OK) {
        p->slots[idx].c = c;
        snprintf(p->slots[idx].host, sizeof p->slots[idx].host, "%s", host);
        p->slots[idx].created = time(NULL);
        p->slots[idx].pdc = pdc;
        p->stats.connects++;
        *out = c;
    } else {
        remove_slot(p, idx);
        pthread_cond_signal(&p->cv);
    }
    pthread_mutex_unlock(&p->mu);
    return rc;
}

void adb_pool_release(adb_pool *p, adb_ldap_conn *c)
{
    char domain[256] = "", host[256] = "";
    bool broken = false, kept = false, fallback = false, changed = false;
    adb_pool_kind kind = ADB_POOL_DC;

    if (c == NULL)
        return;
    pthread_mutex_lock(&p->mu);
    for (size_t i = 0; i < p->n; i++) {
        slot *s = &p->slots[i];
        if (s->c != c)
            continue;
        broken = adb_ldap_broken(c);
        snprintf(domain, sizeof domain, "%s", s->domain);
        snprintf(host, sizeof host, "%s", s->host);
        kind = s->kind;
        fallback = s->kind != ADB_POOL_PDC || !s->pdc;   /* a PDC connection on the PDC stays */
        changed = adb_locator_changed(p->loc, &s->seen);
        if (broken || time(NULL) - s->created > p->o.max_idle_s) {
            adb_ldap_close(c);
            remove_slot(p, i);
        } else {
            s->in_use = false;
            kept = true;
        }
        break;
    }
    /* Its DC is gone: idle connections to it would fail the next user too. */
    for (size_t i = 0; broken && i < p->n;) {
        if (!p->slots[i].in_use && strcasecmp(p->slots[i].host, host) == 0) {
            adb_ldap_close(p->slots[i].c);
            remove_slot(p, i);
        } else {
            i++;
        }
    }
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    if (broken) {
        adb_locator_mark_down(p->loc, domain, host);
        adb_log(p->log, ADB_LOG_WARN, "dc_down", "domain=%s dc=%s reason=connection_lost", domain, host);
    }
    /* A better DC answers again (a DC of the client's site that was down):
     * let go of this one, so the next acquire connects there.  Asked only
     * when the locator changed since: the question takes its lock and
     * copies the domain's list. */
    if (kept && fallback && changed
        && adb_locator_prefers_other(p->loc, domain, kind == ADB_POOL_GC ? ADB_LOCATE_GC : ADB_LOCATE_DEFAULT, host)) {
        bool closed = false;
        pthread_mutex_lock(&p->mu);
        for (size_t i = 0; i < p->n && !closed; i++)
            if (p->slots[i].c == c && !p->slots[i].in_use) {
                adb_ldap_close(c);
                remove_slot(p, i);
                closed = true;
            }
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
        if (closed)
            adb_log(p->log, ADB_LOG_INFO, "dc_return", "domain=%s left=%s", domain, host);
    }
}

adb_code adb_pool_run(adb_pool *p, const char *domain, adb_pool_kind kind, adb_pool_op op,
                      void *arg, adb_error *err)
{
    adb_ldap_conn *c;
    adb_code rc;

    for (int attempt = 0;; attempt++) {
        bool broken;
        if ((rc = adb_pool_acquire(p, domain, kind, &c, err)) != ADB_OK)
            return rc;
        rc = op(c, arg, err);
        broken = adb_ldap_broken(c);
        adb_pool_release(p, c);
        if (!(broken && (rc == ADB_E_DC_UNAVAILABLE || rc == ADB_E_TIMEOUT)) || attempt == 1)
            return rc;
        pthread_mutex_lock(&p->mu);
        p->stats.retries++;
        pthread_mutex_unlock(&p->mu);
        adb_log(p->log, ADB_LOG_INFO, "ldap_retry", "domain=%s reason=%s", domain, adb_code_name(rc));
    }
}

void adb_pool_stats_get(adb_pool *p, adb_pool_stats *out)
{
    pthread_mutex_lock(&p->mu);
    *out = p->stats;
    out->open = (int)p->n;
    pthread_mutex_unlock(&p->mu);
}
