/* The cloud link's requests (link_internal.h): incoming transfers become
 * jobs for the workers.  The body is copied into wiped memory and proton's
 * copy wiped; a request too large to take whole keeps only its start; the
 * deliveries of a request are counted against broker.delivery_limit, with
 * a memory of the ones given back; the credit never exceeds the free
 * window (workers + prefetch), and what waits for a worker is queued here.  Also how a request is
 * settled when it is not answered: released, given back or rejected. */
#include "config.h"

#include "link_internal.h"

#include <adbridge/clock.h>
#include <adbridge/log.h>

#include <proton/codec.h>
#include <proton/disposition.h>

#include <stdlib.h>
#include <string.h>

enum {
    HOLD_FACTOR = 8,               /* requests sent beyond the credit: up to this many times the window wait */
};

/* Per-delivery read buffer while transfers arrive. */
typedef struct inbuf {
    unsigned char *data;           /* adb_secmem_alloc'd (cap bytes): wiped when freed */
    size_t len, cap;
    size_t dropped;                /* bytes past max_bytes, read and dropped */
    bool oversize;
} inbuf;

/* ---- jobs ---- */

/* Bodies are locked memory from adb_secmem_alloc (a request may carry a
 * password), kept for the next request once wiped: no mmap/munmap per
 * message.  A body's size is its length, or 1 for an empty one. */
static size_t body_size(size_t len)
{
    return len > 0 ? len : 1;
}

/* Frees a job; its body is wiped. */
void link_job_free(adb_link_job *j)
{
    if (j == NULL)
        return;
    if (j->body != NULL)
        adb_secmem_free(j->body, body_size(j->body_len));
    free(j->reply);
    if (j->msg != NULL)
        pn_message_free(j->msg);
    free(j);
}

/* A taken request: it holds a slot until it ends. */
static void live_add(adb_link *l, adb_link_job *j)
{
    j->prev = NULL;
    j->next = l->live;
    if (l->live != NULL)
        l->live->prev = j;
    l->live = j;
    l->outstanding++;
}

/* Ends a job the link thread holds (no worker has it). */
void link_job_end(adb_link *l, adb_link_job *j)
{
    if (j->prev != NULL)
        j->prev->next = j->next;
    else if (l->live == j)
        l->live = j->next;
    if (j->next != NULL)
        j->next->prev = j->prev;
    l->outstanding--;
    link_reply_detach(j);
    link_job_free(j);
}

/* ---- delivery counting (broker.delivery_limit) ---- */

/* A keyed hash of the message id with its type (never 0); 0 without an id. */
static uint64_t seen_key_of(const adb_link *l, pn_msgid_t id)
{
    crypto_generichash_state st;
    unsigned char type = (unsigned char)id.type, out[crypto_generichash_BYTES_MIN];
    uint64_t k;

    if (id.type == PN_NULL)
        return 0;
    crypto_generichash_init(&st, l->seen_salt, sizeof l->seen_salt, sizeof out);
    crypto_generichash_update(&st, &type, 1);
    switch (id.type) {
    case PN_ULONG: {
        uint64_t v = id.u.as_ulong;
        crypto_generichash_update(&st, (const unsigned char *)&v, sizeof v);
        break;
    }
    case PN_UUID:
        crypto_generichash_update(&st, (const unsigned char *)id.u.as_uuid.bytes, sizeof id.u.as_uuid.bytes);
        break;
    case PN_BINARY:
    case PN_STRING:
    case PN_SYMBOL:
        crypto_generichash_update(&st, (const unsigned char *)id.u.as_bytes.start, id.u.as_bytes.size);
        break;
    default:
        return 0;
    }
    crypto_generichash_final(&st, out, sizeof out);
    memcpy(&k, out, sizeof k);
    return k != 0 ? k : 1;
}

static seen_entry *seen_find(adb_link *l, uint64_t key)
{
    if (key == 0 || l->seen_used == 0)   /* nothing given back yet: the common case, no scan */
        return NULL;
    for (size_t i = 0; i < SEEN_MAX; i++)
        if (l->seen[i].key == key)
            return &l->seen[i];
    return NULL;
}

/* Remembers (or updates) a request that may come back; the oldest entry
 * makes room when the table is full. */
static void seen_put(adb_link *l, const adb_link_job *j)
{
    seen_entry *e = seen_find(l, j->seen_key);

    if (j->seen_key == 0)
        return;
    if (e == NULL) {
        e = &l->seen[l->seen_next];
        l->seen_next = (l->seen_next + 1) % SEEN_MAX;
        if (e->key == 0)
            l->seen_used++;
        e->key = j->seen_key;
    }
    e->deliveries = j->req.deliveries;
}

/* A request settled for good (accepted or rejected) does not come back. */
void link_seen_drop(adb_link *l, const adb_link_job *j)
{
    seen_entry *e = seen_find(l, j->seen_key);
    if (e != NULL) {
        e->key = 0;
        l->seen_used--;
    }
}

/* ---- settling requests ---- */

/* Gives a request back to the broker untouched (it never reached a worker). */
static void release(adb_link *l, pn_delivery_t *d)
{
    pn_delivery_update(d, PN_RELEASED);
    pn_delivery_settle(d);
    COUNT(l, released);
}

/* Gives a request that ran back to the broker for another instance:
 * modified with delivery-failed, so brokers that count deliveries count
 * this one -- released for RabbitMQ before 4.0, which ends the whole session
 * on a modified outcome ("Unrecognised state").  We count it too, should it
 * come back here. */
void link_give_back(adb_link *l, adb_link_job *j)
{
    seen_put(l, j);
    if (l->rabbit_v1) {
        pn_delivery_update(j->dlv, PN_RELEASED);
    } else {
        pn_disposition_set_failed(pn_delivery_local(j->dlv), true);
        pn_delivery_update(j->dlv, PN_MODIFIED);
    }
    pn_delivery_settle(j->dlv);
    COUNT(l, released);
}

/* Settles a request rejected: the broker's dead-letter policy applies.  The
 * condition goes to the broker: an address or a count, never the body. */
void link_reject(adb_link *l, pn_delivery_t *d, const char *condition, const char *description)
{
    pn_condition_t *c = pn_disposition_condition(pn_delivery_local(d));

    pn_condition_set_name(c, condition);
    if (description != NULL)
        pn_condition_set_description(c, description);
    pn_delivery_update(d, PN_REJECTED);
    pn_delivery_settle(d);
    COUNT(l, rejected);
}

/* ---- credit, and requests waiting for a worker ---- */

/* Room for more requests.  The window bounds the requests not yet answered
 * (waiting, or at a worker); a reply awaiting the broker's settlement needs
 * no worker, so it counts only against twice the window (what one instance
 * holds unsettled at most).  The credit for the next request then goes out
 * with the reply, not a broker round trip after it. */
int link_free_window(const adb_link *l)
{
    int answering = (int)l->window - (int)(l->waiting + l->at_work);
    int holding = 2 * (int)l->window - (int)l->outstanding;

    return answering < holding ? answering : holding;
}

/* Grants credit up to the free window (none while stopping).  proton keeps
 * the credit as a signed count that a peer sending more than it was given
 * drives below zero; adding to it then would put a negative link-credit on
 * the wire, which the peer reads as an unsigned 4294967295 -- unlimited.  So
 * a negative credit is first brought back to zero (a flow of link-credit 0:
 * "stop"), and the credit never exceeds link_free_window. */
void link_update_credit(adb_link *l)
{
    pn_link_t *r[1 + MAX_FORESTS];
    int have[1 + MAX_FORESTS], add[1 + MAX_FORESTS] = { 0 }, avail, share, room;
    size_t n, i, k, shares;

    if (!l->serving)
        return;
    /* Several receivers (link_forests.c): the free window is shared, each
     * getting its part (the odd ones in turn), so the sum never exceeds
     * them; the credit a detaching forest receiver still has counts against
     * them too.  Credit cannot be taken back (a drain ends the session on
     * RabbitMQ 3.10): an idle queue keeps its part, so every receiver needs
     * a slot of its own (workers > forests, link_forests_sync warns). */
    n = link_credit_receivers(l, r, 1 + MAX_FORESTS, &shares);
    room = link_free_window(l);
    avail = room - link_forests_idle_credit(l);
    for (i = 0; i < n; i++) {
        if ((have[i] = pn_link_remote_credit(r[i])) < 0) {
            pn_link_flow(r[i], -have[i]);
            have[i] = 0;
        }
        avail -= have[i] + pn_link_queued(r[i]);
    }
    if (l->stopping || n == 0)
        return;
    if ((share = room / (int)(shares > n ? shares : n)) < 1)
        share = 1;
    for (k = 0; avail > 0 && k < n * (size_t)l->window; k++) {
        i = (l->credit_turn + k) % n;
        if (have[i] + add[i] + pn_link_queued(r[i]) < share) {
            add[i]++;
            avail--;
        }
    }
    l->credit_turn++;
    for (i = 0; i < n; i++)
        if (add[i] > 0)
            pn_link_flow(r[i], add[i]);
}

/* Hands waiting jobs to the workers: one each, and with prefetch one more
 * each queued behind it, so a worker that finishes takes its next job
 * without sleeping until the link thread has heard of it (about 2 of the 6
 * context switches of a lookup).  A queued job the link no longer wants is
 * recalled (link_recall_at_work), not run. */
void link_feed_workers(adb_link *l)
{
    unsigned ahead = l->window - l->slots < l->slots ? l->window - l->slots : l->slots;

    while (l->wait_head != NULL && l->at_work < l->slots + ahead && l->serving && !l->stopping) {
        adb_link_job *j = l->wait_head;
        l->wait_head = j->wait_next;
        if (l->wait_head == NULL)
            l->wait_tail = NULL;
        l->waiting--;
        j->wait_next = NULL;
        j->state = JOB_AT_WORKER;
        l->at_work++;
        l->submit(l->submit_arg, j);
    }
}

/* Recalls one job handed to the workers if no worker started it yet. */
static void recall(adb_link_job *j, job_recall why)
{
    int queued = RUN_QUEUED;

    if (__atomic_compare_exchange_n(&j->run, &queued, RUN_RECALLED, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
        j->recall = why;
}

/* Recalls the jobs queued at the workers (of one receiver, or all with rcv
 * NULL): the worker that takes one completes it unrun (adb_link_job_start),
 * and it is settled by why.  Jobs already started run to their end. */
void link_recall_at_work(adb_link *l, const pn_link_t *rcv, job_recall why)
{
    for (adb_link_job *j = l->live; j != NULL; j = j->next)
        if (j->state == JOB_AT_WORKER && (rcv == NULL || j->rcv == rcv))
            recall(j, why);
}

/* A request a worker gave back unanswered: recalled unrun, released or
 * handed back untouched; run, given back as a delivery that failed. */
void link_settle_unanswered(adb_link *l, adb_link_job *j)
{
    if (__atomic_load_n(&j->run, __ATOMIC_ACQUIRE) != RUN_RECALLED)
        link_give_back(l, j);
    else if (j->recall == RECALL_HAND_BACK)
        link_hand_back(l, j->dlv);
    else
        release(l, j->dlv);
}

/* Gives back the jobs no worker took yet (stopping, or the connection ended). */
void link_release_waiting(adb_link *l)
{
    adb_link_job *j, *next;

    for (j = l->wait_head; j != NULL; j = next) {
        next = j->wait_next;
        if (j->dlv != NULL && l->serving)
            release(l, j->dlv);
        j->dlv = NULL;
        link_job_end(l, j);
    }
    l->wait_head = l->wait_tail = NULL;
    l->waiting = 0;
}

/* Gives back every request of this connection that is not settled yet. */
void link_release_all(adb_link *l)
{
    adb_link_job *j, *next;

    link_release_waiting(l);
    for (j = l->live; j != NULL; j = next) {
        next = j->next;
        if (j->dlv != NULL && l->serving)
            link_give_back(l, j);
        else if (j->dlv != NULL)
            seen_put(l, j); /* the connection is gone: the broker gives it back by itself */
        j->dlv = NULL;
        if (j->state != JOB_AT_WORKER) {
            link_job_end(l, j);
        } else {
            /* Still at its worker: it stays outstanding (holding a slot) until
             * adb_link_complete hands it back; unlinked, marked stale, and
             * not run if its worker has not started it. */
            recall(j, RECALL_RELEASE);
            if (j->prev != NULL)
                j->prev->next = j->next;
            else
                l->live = j->next;
            if (j->next != NULL)
                j->next->prev = j->prev;
            j->prev = j->next = NULL;
            j->gen = 0;
        }
    }
    l->live = NULL;
}

/* ---- a request's message id and expiry ---- */

/* The message id for logs: a string as it is, a number in decimal, a UUID
 * in its usual form, binary in hex; cut to fit.  (Not pn_message_id: that
 * deprecated call moves the id and leaves pn_message_get_id's copy dangling.) */
static void msgid_text(pn_message_t *m, char *buf, size_t size)
{
    pn_msgid_t id = pn_message_get_id(m);
    const unsigned char *u = (const unsigned char *)id.u.as_uuid.bytes;

    buf[0] = '\0';
    switch (id.type) {
    case PN_STRING:
        link_fmt(buf, size, "%.*s", (int)(id.u.as_bytes.size < size ? id.u.as_bytes.size : size - 1),
                 id.u.as_bytes.start);
        break;
    case PN_ULONG:
        link_fmt(buf, size, "%llu", (unsigned long long)id.u.as_ulong);
        break;
    case PN_UUID:
        link_fmt(buf, size, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0], u[1], u[2],
                 u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15]);
        break;
    case PN_BINARY:
        if (size > 3) {
            size_t n = id.u.as_bytes.size < (size - 3) / 2 ? id.u.as_bytes.size : (size - 3) / 2;
            memcpy(buf, "0x", 2);
            sodium_bin2hex(buf + 2, size - 2, (const unsigned char *)id.u.as_bytes.start, n);
        }
        break;
    default:
        break;
    }
}

int64_t link_locked_until(pn_data_t *a)
{
    static const char key[] = "x-opt-locked-until";
    int64_t t = 0;

    if (a == NULL)
        return 0;
    pn_data_rewind(a);
    if (!pn_data_next(a) || pn_data_type(a) != PN_MAP)
        return 0;
    pn_data_enter(a);
    while (pn_data_next(a)) {
        pn_bytes_t k = pn_data_type(a) == PN_SYMBOL ? pn_data_get_symbol(a) : pn_bytes(0, NULL);
        bool ours = k.size == sizeof key - 1 && memcmp(k.start, key, k.size) == 0;
        if (!pn_data_next(a))
            break;
        if (ours && pn_data_type(a) == PN_TIMESTAMP) {
            t = pn_data_get_timestamp(a);
            break;
        }
    }
    pn_data_exit(a);
    return t > 0 ? t : 0;
}

bool link_lock_expired(const adb_link_job *j)
{
    return j->lock_until_ms != 0 && adb_wall_ms() >= j->lock_until_ms;
}

/* When the request expires (Unix ms, 0: never): its absolute expiry time,
 * creation time + ttl, or the end of a broker's lock on it, whichever
 * comes first. */
static int64_t expiry_of(pn_message_t *m, int64_t lock_until_ms)
{
    int64_t abs_exp = (int64_t)pn_message_get_expiry_time(m);
    int64_t ttl = (int64_t)pn_message_get_ttl(m);
    int64_t created = (int64_t)pn_message_get_creation_time(m);
    int64_t exp = abs_exp > 0 ? abs_exp : 0;

    if (ttl > 0) {
        int64_t t = (created > 0 ? created : adb_wall_ms()) + ttl;
        if (exp == 0 || t < exp)
            exp = t;
    }
    if (lock_until_ms != 0 && (exp == 0 || lock_until_ms < exp))
        exp = lock_until_ms;
    return exp;
}


/* ---- the sections of a request (untrusted bytes; proton's decoder reads them) ---- */

enum {
    SEC_HEADER = 0x70, SEC_DELIVERY_ANNOTATIONS, SEC_MESSAGE_ANNOTATIONS, SEC_PROPERTIES,
    SEC_APPLICATION_PROPERTIES, SEC_DATA, SEC_AMQP_SEQUENCE, SEC_AMQP_VALUE, SEC_FOOTER,
};

/* The section code of the described value at p, from its numeric or
 * symbolic descriptor, and in *desc_len the bytes of constructor and
 * descriptor; -1 when p does not start a section. */
static int section_code(pn_data_t *scratch, const unsigned char *p, size_t len, size_t *desc_len)
{
    static const char *const names[] = {
        "amqp:header:list", "amqp:delivery-annotations:map", "amqp:message-annotations:map",
        "amqp:properties:list", "amqp:application-properties:map", "amqp:data:binary",
        "amqp:amqp-sequence:list", "amqp:amqp-value:*", "amqp:footer:map",
    };
    ssize_t n;

    if (len < 2 || p[0] != 0x00) /* 0x00: a described value follows */
        return -1;
    pn_data_clear(scratch);
    if ((n = pn_data_decode(scratch, (const char *)p + 1, len - 1)) <= 0)
        return -1;
    *desc_len = 1 + (size_t)n;
    pn_data_rewind(scratch);
    if (!pn_data_next(scratch))
        return -1;
    if (pn_data_type(scratch) == PN_ULONG) {
        uint64_t c = pn_data_get_ulong(scratch);
        return c >= SEC_HEADER && c <= SEC_FOOTER ? (int)c : -1;
    }
    if (pn_data_type(scratch) == PN_SYMBOL) {
        pn_bytes_t s = pn_data_get_symbol(scratch);
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
            if (strlen(names[i]) == s.size && memcmp(names[i], s.start, s.size) == 0)
                return SEC_HEADER + (int)i;
    }
    return -1;
}

/* Where the body starts: *body_at is the offset of the first section that is
 * not header, annotations or properties (len when there is none).  The
 * sections before it are only measured, the body is not read.  False when
 * they do not decode: malformed, or cut short (an oversize message's kept
 * start that ends before its properties do). */
static bool find_body(pn_data_t *scratch, const unsigned char *p, size_t len, size_t *body_at)
{
    size_t off = 0, dl;

    while (off < len) {
        int code = section_code(scratch, p + off, len - off, &dl);
        ssize_t n;
        if (code < 0)
            return false;
        if (code >= SEC_DATA)
            break;
        pn_data_clear(scratch);
        if ((n = pn_data_decode(scratch, (const char *)p + off, len - off)) <= 0)
            return false;
        off += (size_t)n;
    }
    *body_at = off;
    return true;
}

/* Copies the body -- one data section, or one amqp-value string, then at
 * most a footer -- into wiped memory.  proton's decoded copy is wiped too,
 * and nothing else is decoded: another kind of body (which could hold a
 * password in some other shape) is never copied.  1: taken; 0: no such
 * body (the dispatcher answers the empty body invalid_request); -1: out of
 * memory. */
static int take_body(pn_data_t *scratch, const unsigned char *p, size_t len, adb_link_job *j)
{
    pn_data_t *sec;
    pn_bytes_t bb;
    size_t dl, dl2;
    ssize_t n;
    int code = section_code(scratch, p, len, &dl), rc = 0;
    unsigned char ctor;

    if (code != SEC_DATA && code != SEC_AMQP_VALUE)
        return 0;
    if (dl >= len)
        return 0;
    ctor = p[dl]; /* the value's constructor: vbin8/vbin32 for data, str8/str32 for a string */
    if (code == SEC_DATA ? ctor != 0xa0 && ctor != 0xb0 : ctor != 0xa1 && ctor != 0xb1)
        return 0;
    if ((sec = pn_data(4)) == NULL)
        return -1;
    if ((n = pn_data_decode(sec, (const char *)p, len)) > 0
        && ((size_t)n == len || section_code(scratch, p + n, len - (size_t)n, &dl2) == SEC_FOOTER)) {
        pn_data_rewind(sec);
        pn_data_next(sec);
        pn_data_enter(sec);
        pn_data_next(sec);
        pn_data_next(sec);
        bb = pn_data_type(sec) == PN_BINARY ? pn_data_get_binary(sec)
             : pn_data_type(sec) == PN_STRING ? pn_data_get_string(sec) : pn_bytes(0, NULL);
        if (bb.start != NULL) {
            rc = (j->body = adb_secmem_alloc(body_size(bb.size))) != NULL ? 1 : -1;
            if (rc == 1) {
                memcpy(j->body, bb.start, bb.size);
                j->body_len = bb.size;
                j->body_is_string = pn_data_type(sec) == PN_STRING;
            }
            /* proton's copy lives in the data object's own buffer, allocated
             * once for this one value: wipe it before it is freed. */
            adb_wipe((void *)(uintptr_t)bb.start, bb.size);
        }
    }
    pn_data_free(sec);
    return rc;
}

/* Hands a job to a worker, or queues it while every worker is busy (a
 * prefetched request, or one the peer sent beyond the credit). */
static void enqueue(adb_link *l, adb_link_job *j)
{
    j->state = JOB_WAITING;
    j->wait_next = NULL;
    if (l->wait_tail != NULL)
        l->wait_tail->wait_next = j;
    else
        l->wait_head = j;
    l->wait_tail = j;
    l->waiting++;
    link_feed_workers(l);
}

/* A complete request delivery: split, check, hand to a worker. */
static void take_request(adb_link *l, pn_delivery_t *d, inbuf *ib)
{
    pn_data_t *scratch = NULL;
    pn_message_t *m = NULL;
    adb_link_job *j = NULL;
    seen_entry *seen;
    forest_rcv *f;
    const char *reply_to;
    size_t body_at = 0;
    uint32_t dc;
    int got;
    char idq[2 * MSGID_TEXT_MAX], desc[160];

    if (l->stopping) {
        release(l, d);
        return;
    }
    if (link_forest_detaching(l, pn_delivery_link(d))) {
        link_hand_back(l, d); /* that forest is lost here: another instance serves it */
        return;
    }
    if (link_free_window(l) <= 0) {
        /* More than the credit: the peer ignores it.  Held for a worker (up
         * to HOLD_FACTOR windows; past that given back untouched):
         * released at once, such requests stayed unacknowledged on RabbitMQ
         * 3.10 in our over-delivery test instead of coming back. */
        COUNT(l, overdelivered);
        /* RabbitMQ before 4.0 does it now and then when a flow crosses
         * deliveries in flight (rabbitmq-server#2597): not worth a warning. */
        if (!l->overdelivery_logged)
            adb_log(l->log, l->rabbit_v1 ? ADB_LOG_INFO : ADB_LOG_WARN, "broker_overdelivered", "window=%u in_flight=%u "
                    "msg=\"the broker sent more requests than the link credit allowed; the extra ones wait for a "
                    "worker\"", l->window, l->outstanding);
        l->overdelivery_logged = true;
        if (l->waiting >= HOLD_FACTOR * l->window) {
            release(l, d);
            return;
        }
    }
    if ((scratch = pn_data(4)) == NULL || (m = pn_message()) == NULL || (j = calloc(1, sizeof *j)) == NULL)
        goto nomem;
    if (!find_body(scratch, ib->data, ib->len, &body_at)
        || (body_at > 0 && pn_message_decode(m, (const char *)ib->data, body_at) != 0)) {
        if (ib->oversize) {
            adb_log(l->log, ADB_LOG_WARN, "request_rejected", "reason=oversize bytes=%zu limit=%zu msg=\"its properties "
                    "do not fit in the first %zu bytes: no reply address to answer\"", ib->len + ib->dropped,
                    l->max_bytes, l->max_bytes);
            link_reject(l, d, "amqp:link:message-size-exceeded", "too large, and its properties could not be read");
        } else {
            adb_log(l->log, ADB_LOG_WARN, "request_rejected", "reason=undecodable_amqp_message bytes=%zu", ib->len);
            link_reject(l, d, "amqp:decode-error", "not an AMQP message");
        }
        goto out;
    }
    j->msg = m;
    m = NULL;
    msgid_text(j->msg, j->msgid, sizeof j->msgid);
    link_log_field(idq, sizeof idq, j->msgid);
    reply_to = pn_message_get_reply_to(j->msg);
    if (reply_to == NULL || reply_to[0] == '\0' || strlen(reply_to) > ADDRESS_MAX) {
        adb_log(l->log, ADB_LOG_WARN, "request_rejected", "reason=%s message_id=%s",
                reply_to == NULL || reply_to[0] == '\0' ? "no_reply_to" : "reply_to_too_long", idq);
        link_reject(l, d, "amqp:invalid-field",
                    reply_to == NULL || reply_to[0] == '\0' ? "no reply-to: nowhere to answer"
                                                             : "reply-to longer than 512 bytes");
        goto out;
    }
    if (ib->oversize) {
        /* Answered by size (invalid_request): the worker gets no body, only its length. */
        j->req.len = ib->len + ib->dropped;
        adb_log(l->log, ADB_LOG_WARN, "request_oversize", "message_id=%s bytes=%zu kept=%zu", idq, j->req.len,
                ib->len);
        COUNT(l, oversize);
    } else {
        if ((got = take_body(scratch, ib->data + body_at, ib->len - body_at, j)) < 0)
            goto nomem;
        if (got == 0) {
            adb_log(l->log, ADB_LOG_WARN, "request_body_type", "message_id=%s msg=\"body is neither one data section "
                    "nor one amqp-value string\"", idq);
            if ((j->body = adb_secmem_alloc(body_size(0))) == NULL)
                goto nomem;
        }
        j->req.body = j->body;
        j->req.len = j->body_len;
    }
    /* How many times this request was delivered, as far as anyone says:
     * delivery_count where the broker raises it, first_acquirer false (at
     * least twice: RabbitMQ 3.10 only sets that), and our own count of the
     * times we gave it back. */
    dc = pn_message_get_delivery_count(j->msg);
    j->req.deliveries = dc < UINT32_MAX ? dc + 1 : UINT32_MAX;
    if (!pn_message_is_first_acquirer(j->msg) && j->req.deliveries < 2)
        j->req.deliveries = 2;
    j->seen_key = seen_key_of(l, pn_message_get_id(j->msg));
    if ((seen = seen_find(l, j->seen_key)) != NULL && seen->deliveries >= j->req.deliveries)
        j->req.deliveries = seen->deliveries + 1;
    j->req.redelivered = j->req.deliveries > 1;
    if (j->req.deliveries > l->delivery_limit) {
        adb_log(l->log, ADB_LOG_WARN, "request_rejected", "reason=delivery_limit message_id=%s deliveries=%u limit=%u "
                "msg=\"not run again; dead-lettered where the queue has a dead-letter policy\"", idq,
                j->req.deliveries, l->delivery_limit);
        link_fmt(desc, sizeof desc, "delivered %u times; broker.delivery_limit is %u", j->req.deliveries,
            l->delivery_limit);
        link_reject(l, d, "adbridge:delivery-limit", desc);
        COUNT(l, delivery_limited);
        link_seen_drop(l, j);
        goto out;
    }
    if ((j->lock_until_ms = link_locked_until(pn_message_annotations(j->msg))) != 0)
        j->lock_until_ms = j->lock_until_ms > LOCK_MARGIN_MS ? j->lock_until_ms - LOCK_MARGIN_MS : 1;
    j->req.expiry_unix_ms = expiry_of(j->msg, j->lock_until_ms);
    j->req.message_id = j->msgid;
    if ((f = link_forest_of(l, pn_delivery_link(d), NULL)) != NULL) {
        link_fmt(j->forest, sizeof j->forest, "%s", f->forest);
        j->req.forest = j->forest;
    }
    j->gen = l->gen;
    j->dlv = d;
    j->rcv = pn_delivery_link(d);
    live_add(l, j);
    COUNT(l, received);
    if (j->req.redelivered)
        COUNT(l, redelivered);
    enqueue(l, j);
    pn_data_free(scratch);
    return;
nomem:
    adb_log(l->log, ADB_LOG_ERROR, "request_released", "reason=out_of_memory");
    release(l, d);
out:
    link_job_free(j);
    if (m != NULL)
        pn_message_free(m);
    if (scratch != NULL)
        pn_data_free(scratch);
}

static void inbuf_free(inbuf *ib)
{
    adb_secmem_free(ib->data, ib->cap); /* wipes */
    free(ib);
}

/* Room for need (<= max) bytes; grows by doubling up to max. */
static bool inbuf_reserve(inbuf *ib, size_t need, size_t max)
{
    size_t ncap;
    unsigned char *nd;

    if (need <= ib->cap)
        return true;
    ncap = ib->cap * 2 < max ? ib->cap * 2 : max;
    if (ncap < need)
        ncap = need;
    if ((nd = adb_secmem_alloc(ncap)) == NULL)
        return false;
    if (ib->data != NULL) {
        memcpy(nd, ib->data, ib->len);
        adb_secmem_free(ib->data, ib->cap);
    }
    ib->data = nd;
    ib->cap = ncap;
    return true;
}

void link_on_incoming(adb_link *l, pn_delivery_t *d)
{
    inbuf *ib = pn_delivery_get_context(d);
    pn_link_t *lk = pn_delivery_link(d);

    if (!pn_delivery_readable(d))
        return;
    if (ib == NULL) {
        if ((ib = calloc(1, sizeof *ib)) == NULL)
            return; /* retried on the next transfer event */
        pn_delivery_set_context(d, ib);
    }
    for (;;) {
        size_t pending = pn_delivery_pending(d), room = l->max_bytes - ib->len;
        ssize_t n;
        if (pending == 0)
            break;
        if (room > 0) {
            size_t want = pending < room ? pending : room;
            if (!inbuf_reserve(ib, ib->len + want, l->max_bytes))
                return;
            n = pn_link_recv(lk, (char *)ib->data + ib->len, want);
            if (n > 0)
                ib->len += (size_t)n;
        } else {
            /* Too large to take whole: the start (header and properties
             * come before the body) is kept, the rest read and dropped. */
            char scratch[4096];
            ib->oversize = true;
            n = pn_link_recv(lk, scratch, sizeof scratch);
            if (n > 0)
                ib->dropped += (size_t)n;
            adb_wipe(scratch, sizeof scratch);
        }
        if (n <= 0)
            break;
    }
    if (pn_delivery_partial(d) && !pn_delivery_aborted(d))
        return;
    pn_delivery_set_context(d, NULL);
    if (pn_delivery_aborted(d))
        pn_delivery_settle(d);
    else
        take_request(l, d, ib);
    pn_link_advance(lk);
    inbuf_free(ib);
}
