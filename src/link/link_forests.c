/* Per-forest request receivers (link.h adb_link_set_forests): while the
 * daemon says it can serve a forest, a receiver on that forest's address
 * (broker.forest_address) takes its requests beside the common address.
 * A forest it no longer serves stops getting credit at once; the requests
 * it holds that no worker took are handed back unrun (modified,
 * undeliverable-here; released to RabbitMQ before 4.0), and the receiver
 * closes once no worker holds one of its requests, so no request is
 * settled on a closed link and answered twice. */
#include "config.h"

#include "link_internal.h"

#include <adbridge/clock.h>
#include <adbridge/log.h>

#include <proton/connection.h>
#include <proton/disposition.h>
#include <proton/terminus.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { FOREST_RETRY_MS = 10000 };   /* a forest address the broker refused is attached again after this */

void adb_link_set_forests(adb_link *l, const char *const *forests, size_t n)
{
    pthread_mutex_lock(&l->lock);
    l->n_forests_wanted = 0;
    for (size_t i = 0; i < n && i < MAX_FORESTS; i++)
        link_fmt(l->forests_wanted[l->n_forests_wanted++], FOREST_NAME_MAX, "%s", forests[i]);
    l->forests_changed = true;
    pthread_mutex_unlock(&l->lock);
    link_wake(l);
}

/* broker.forest_address with {address} and {forest} filled in. */
void link_forest_address(const adb_link *l, const char *forest, char *buf, size_t size)
{
    const char *t = l->b->forest_address;
    size_t o = 0;

    buf[0] = '\0';
    while (*t != '\0' && o + 1 < size) {
        const char *v = strncmp(t, "{address}", 9) == 0 ? l->b->address : strncmp(t, "{forest}", 8) == 0 ? forest : NULL;
        if (v != NULL) {
            o += (size_t)snprintf(buf + o, size - o, "%s", v);
            t += v == forest ? 8 : 9;
        } else {
            buf[o++] = *t++;
            buf[o] = '\0';
        }
    }
}

forest_rcv *link_forest_of(adb_link *l, pn_link_t *lk, pn_session_t *ssn)
{
    for (size_t i = 0; i < MAX_FORESTS; i++)
        if (l->forests[i].forest[0] != '\0' && ((lk != NULL && l->forests[i].link == lk)
                                                || (ssn != NULL && l->forests[i].ssn == ssn)))
            return &l->forests[i];
    return NULL;
}

static void attach(adb_link *l, forest_rcv *f)
{
    char address[ADDRESS_MAX], name[64];

    link_forest_address(l, f->forest, address, sizeof address);
    f->ssn = pn_session(l->c.driver.connection);
    pn_session_open(f->ssn);
    snprintf(name, sizeof name, "adbridge-requests-%llu", (unsigned long long)++l->tag_seq);
    f->link = pn_receiver(f->ssn, name);
    pn_terminus_set_address(pn_link_source(f->link), address);
    pn_link_set_snd_settle_mode(f->link, PN_SND_UNSETTLED);
    pn_link_set_rcv_settle_mode(f->link, PN_RCV_FIRST);
    pn_link_open(f->link);
    f->attached = false;
    f->detaching = false;
}

/* Closes the receiver and its session (proton frees them once the end is on the wire). */
static void close_rcv(forest_rcv *f)
{
    link_close_with_session(f->link, f->ssn);
    f->ssn = NULL;
    f->link = NULL;
    f->attached = false;
}

void link_hand_back(adb_link *l, pn_delivery_t *d)
{
    if (l->rabbit_v1) {
        pn_delivery_update(d, PN_RELEASED);
    } else {
        pn_disposition_set_undeliverable(pn_delivery_local(d), true);
        pn_delivery_update(d, PN_MODIFIED);
    }
    pn_delivery_settle(d);
    COUNT(l, released);
}

/* The forest is lost: no more credit; what waits for a worker goes back. */
static void start_detach(adb_link *l, forest_rcv *f)
{
    adb_link_job *j, **pp;
    unsigned handed = 0;

    f->detaching = true;
    for (pp = &l->wait_head; (j = *pp) != NULL;) {
        if (j->rcv != f->link || j->dlv == NULL) {
            pp = &j->wait_next;
            continue;
        }
        *pp = j->wait_next;
        if (l->wait_tail == j)
            l->wait_tail = NULL;
        l->waiting--;
        link_hand_back(l, j->dlv);
        link_job_end(l, j);
        handed++;
    }
    if (l->wait_tail == NULL)
        for (j = l->wait_head; j != NULL; j = j->wait_next)
            l->wait_tail = j;
    link_recall_at_work(l, f->link, RECALL_HAND_BACK);   /* queued at a worker, not started: handed back too */
    adb_log(l->log, ADB_LOG_INFO, "link_forest_detaching", "forest=%s handed_back=%u", f->forest, handed);
}

static bool busy(const adb_link *l, const forest_rcv *f)
{
    for (const adb_link_job *j = l->live; j != NULL; j = j->next)
        if (j->rcv == f->link)
            return true;
    return false;
}

void link_forests_sync(adb_link *l)
{
    char wanted[MAX_FORESTS][FOREST_NAME_MAX];
    size_t n = 0;
    bool changed;
    int64_t now = adb_mono_ms();

    if (l->b->forest_address == NULL || !l->serving || l->stopping)
        return;
    pthread_mutex_lock(&l->lock);
    changed = l->forests_changed;
    l->forests_changed = false;
    n = l->n_forests_wanted;
    memcpy(wanted, l->forests_wanted, sizeof wanted);
    pthread_mutex_unlock(&l->lock);
    if (changed) {
        l->forests_known = true;
        if (n > l->forest_shares)
            l->forest_shares = n;
        if (n + 1 > l->window)
            adb_log(l->log, ADB_LOG_WARN, "link_forest_credit", "forests=%zu window=%u msg=\"less credit (workers "
                    "+ prefetch) than request addresses (the common one and one per forest): an idle address can "
                    "hold the credit the others need; raise broker.workers or broker.prefetch\"", n, l->window);
        for (size_t i = 0; i < MAX_FORESTS; i++)
            l->forests[i].wanted = false;
        for (size_t k = 0; k < n; k++) {
            forest_rcv *f = NULL, *free_slot = NULL;
            for (size_t i = 0; i < MAX_FORESTS; i++) {
                if (strcmp(l->forests[i].forest, wanted[k]) == 0)
                    f = &l->forests[i];
                else if (l->forests[i].forest[0] == '\0' && free_slot == NULL)
                    free_slot = &l->forests[i];
            }
            if (f == NULL && (f = free_slot) != NULL) {
                memset(f, 0, sizeof *f);
                link_fmt(f->forest, sizeof f->forest, "%s", wanted[k]);
            }
            if (f != NULL)
                f->wanted = true;
        }
    }
    for (size_t i = 0; i < MAX_FORESTS; i++) {
        forest_rcv *f = &l->forests[i];
        if (f->forest[0] == '\0')
            continue;
        if (f->wanted && f->link == NULL && now >= f->retry_ms) {
            attach(l, f);
        } else if (f->wanted && f->detaching) {
            f->detaching = false;   /* back before it closed: keep it */
            adb_log(l->log, ADB_LOG_INFO, "link_forest_attached", "forest=%s msg=\"kept: served again\"", f->forest);
        } else if (!f->wanted && f->link != NULL && !f->detaching) {
            start_detach(l, f);
        }
        if (!f->wanted && (f->link == NULL || (f->detaching && !busy(l, f)))) {
            if (f->link != NULL)
                adb_log(l->log, ADB_LOG_INFO, "link_forest_detached", "forest=%s", f->forest);
            close_rcv(f);
            memset(f, 0, sizeof *f);
        }
    }
}

bool adb_link_may_reroute(const adb_link_request *rq, unsigned delivery_limit, int64_t now_unix_ms)
{
    return rq->forest != NULL && rq->deliveries < delivery_limit
           && (rq->expiry_unix_ms == 0 || rq->expiry_unix_ms - now_unix_ms >= ADB_LINK_REROUTE_MIN_MS);
}

bool link_forest_detaching(adb_link *l, pn_link_t *lk)
{
    forest_rcv *f = link_forest_of(l, lk, NULL);
    return f != NULL && f->detaching;
}

void link_forest_opened(adb_link *l, forest_rcv *f)
{
    char address[ADDRESS_MAX], aq[2 * ADDRESS_MAX];

    link_forest_address(l, f->forest, address, sizeof address);
    link_log_field(aq, sizeof aq, address);
    f->attached = true;
    adb_log(l->log, ADB_LOG_INFO, "link_forest_attached", "forest=%s address=%s", f->forest, aq);
}

void link_forest_failed(adb_link *l, forest_rcv *f, const char *why)
{
    char address[ADDRESS_MAX], aq[2 * ADDRESS_MAX], wq[ADB_ERROR_MESSAGE_MAX + 8];

    link_forest_address(l, f->forest, address, sizeof address);
    link_log_field(aq, sizeof aq, address);
    link_log_field(wq, sizeof wq, why);
    adb_log(l->log, ADB_LOG_WARN, "link_forest_refused", "forest=%s address=%s error=%s retry_in_ms=%d", f->forest, aq,
            wq, FOREST_RETRY_MS);
    close_rcv(f);
    f->detaching = false;
    f->retry_ms = adb_mono_ms() + FOREST_RETRY_MS;
    if (!f->wanted)
        memset(f, 0, sizeof *f);
}

void link_forests_forget(adb_link *l)
{
    memset(l->forests, 0, sizeof l->forests);
    pthread_mutex_lock(&l->lock);
    l->forests_changed = true;   /* the next connection attaches what is wanted again */
    pthread_mutex_unlock(&l->lock);
}

int link_forests_idle_credit(adb_link *l)
{
    int c = 0;

    for (size_t i = 0; i < MAX_FORESTS; i++)
        if (l->forests[i].link != NULL && (l->forests[i].detaching || !l->forests[i].attached)
            && pn_link_remote_credit(l->forests[i].link) > 0)
            c += pn_link_remote_credit(l->forests[i].link);
    return c;
}

/* The receivers that get credit: the common one, and each forest's that is
 * attached and not detaching. */
size_t link_credit_receivers(adb_link *l, pn_link_t **out, size_t cap, size_t *shares)
{
    size_t n = 0;

    *shares = 1 + l->forest_shares;
    if (l->b->forest_address != NULL && !l->forests_known)
        return 0;   /* the first verdict on the forests comes within a probe */
    if (l->receiver != NULL && n < cap)
        out[n++] = l->receiver;
    for (size_t i = 0; i < MAX_FORESTS && n < cap; i++)
        if (l->forests[i].link != NULL && l->forests[i].attached && !l->forests[i].detaching)
            out[n++] = l->forests[i].link;
    return n;
}
