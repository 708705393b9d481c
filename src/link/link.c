/* The cloud link: AMQP 1.0 over a socket this module owns (link.h).
 *
 * One thread (run) owns the socket, the pn_connection_driver and every
 * proton object.  Workers hand finished jobs back through a mutex-protected
 * list and an eventfd; adb_link_stop sets a flag and writes the same eventfd.
 *
 * Credit: the window is the worker slots plus broker.prefetch.  It bounds
 * the jobs not yet answered (waiting for a worker, or at one), so a busy
 * bridge takes no more than it can do soon, and a job orphaned by a lost
 * connection still holds its place until the worker is done with it; a
 * job whose reply awaits the broker's settlement needs no worker and counts
 * only against twice the window, so the credit for the next request goes
 * out with the reply (link_free_window).  The prefetched requests wait in the link for a worker:
 * the broker's round trip for new credit is not paid between two requests,
 * and a request waits behind at most a few others while a second instance
 * may be idle (N+1).  A peer that sends more than the credit does not get
 * more workers either: the extra requests wait too (link_update_credit,
 * take_request).
 *
 * Replies go out on sessions of their own, one per reply address, so a
 * reply the broker refuses never ends the request link; a request whose
 * reply cannot be delivered is rejected after REPLY_ATTEMPTS, and one
 * delivered more than broker.delivery_limit times is rejected unrun -- the
 * broker's dead-letter policy takes it from there.
 *
 * This file: lifecycle, the thread's loop and its proton events, the state.
 * The other files of the module are listed in link_internal.h. */
#include "config.h"

#include "link_internal.h"

#include <adbridge/clock.h>
#include <adbridge/fileio.h>
#include <adbridge/log.h>
#include <adbridge/proxy.h>

#include <proton/codec.h>
#include <proton/connection.h>
#include <proton/event.h>
#include <proton/terminus.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

enum {
    CONNECT_TIMEOUT_MS = 15000,    /* TCP + proxy + TLS + SASL + open */
    CLOSE_TIMEOUT_MS = 2000,       /* waiting for the broker's close */
    BACKOFF_BASE_MS = 500,
};

const char *adb_link_status_name(adb_link_status s)
{
    switch (s) {
    case ADB_LINK_IDLE: return "idle";
    case ADB_LINK_CONNECTING: return "connecting";
    case ADB_LINK_CONNECTED: return "connected";
    case ADB_LINK_BACKOFF: return "backoff";
    case ADB_LINK_STOPPING: return "stopping";
    }
    return "idle";
}

/* One turn of the link thread: the heartbeat the daemon's watchdog reads. */
static void beat(adb_link *l)
{
    pthread_mutex_lock(&l->lock);
    l->st.heartbeat_mono_ms = adb_mono_ms();
    pthread_mutex_unlock(&l->lock);
}

static void set_status(adb_link *l, adb_link_status s)
{
    pthread_mutex_lock(&l->lock);
    l->st.heartbeat_mono_ms = adb_mono_ms();
    if (l->st.status != s) {
        l->st.status = s;
        l->st.since_unix_ms = adb_wall_ms();
    }
    l->st.in_flight = l->outstanding;
    pthread_mutex_unlock(&l->lock);
}

static void set_error(adb_link *l, adb_code code, const char *text)
{
    pthread_mutex_lock(&l->lock);
    l->st.last_code = code;
    snprintf(l->st.last_error, sizeof l->st.last_error, "%s", text);
    l->st.failures++;
    pthread_mutex_unlock(&l->lock);
    l->err_recorded = true;
}
static bool stop_flag(adb_link *l)
{
    bool s;
    pthread_mutex_lock(&l->lock);
    s = l->stop_requested;
    pthread_mutex_unlock(&l->lock);
    return s;
}

adb_code adb_link_new(const adb_link_options *o, adb_link **out, adb_error *err)
{
    adb_link *l;
    adb_code rc;
    char host[64];

    *out = NULL;
    if (o == NULL || o->broker == NULL || o->submit == NULL)
        return adb_error_set(err, ADB_E_INTERNAL, "adb_link_new: broker and submit are required");
    if (adb_secmem_init(err) != ADB_OK)
        return err != NULL ? err->code : ADB_E_INTERNAL;
    if ((l = calloc(1, sizeof *l)) == NULL)
        return adb_error_set(err, ADB_E_NOMEM, "out of memory");
    l->b = o->broker;
    l->log = o->log;
    l->submit = o->submit;
    l->submit_arg = o->submit_arg;
    l->wake_fd = -1;
    l->c.fd = -1;
    pthread_mutex_init(&l->lock, NULL);
    if ((rc = link_parse_url(l->b->url, &l->u, err)) != ADB_OK)
        goto fail;
    if (l->b->address == NULL || l->b->address[0] == '\0') {
        rc = adb_error_set(err, ADB_E_CONFIG, "$.broker.address: not set (the request queue)");
        goto fail;
    }
    if (l->b->cert_file != NULL && !l->u.tls) {
        rc = adb_error_set(err, ADB_E_CONFIG, "$.broker.cert_file is set but $.broker.url is not amqps://");
        goto fail;
    }
    if (l->b->password_file != NULL) {
        if ((rc = adb_secret_file_read(l->b->password_file, "broker password", ADB_SECRET_LINE_MAX, ADB_SECRET_FILE_LINE, &l->password, NULL, err)) != ADB_OK) {
            adb_error_prefix(err, "$.broker.password_file");
            goto fail;
        }
        if (adb_secret_has_nul(l->password)) {
            rc = adb_error_set(err, ADB_E_CONFIG, "$.broker.password_file: %s holds a NUL byte",
                               l->b->password_file);
            goto fail;
        }
        if (l->b->username == NULL) {
            rc = adb_error_set(err, ADB_E_CONFIG, "$.broker.password_file is set but $.broker.username is not");
            goto fail;
        }
    }
    l->slots = o->slots != 0 ? o->slots : l->b->workers != 0 ? l->b->workers : 4;
    l->window = l->slots + (l->b->prefetch < 1024 ? l->b->prefetch : 1024);
    l->delivery_limit = l->b->delivery_limit != 0 ? l->b->delivery_limit : 5;
    /* Room for a JSON text of max_message_bytes in any AMQP dress; bigger
     * ones are not kept whole (link_on_incoming), the dispatcher refuses them by size. */
    l->max_bytes = (l->b->max_message_bytes != 0 ? l->b->max_message_bytes : 65536) * 2 + 65536;
    randombytes_buf(l->seen_salt, sizeof l->seen_salt);
    if (o->container_id != NULL) {
        snprintf(l->container_id, sizeof l->container_id, "%s", o->container_id);
    } else {
        if (gethostname(host, sizeof host) != 0)
            snprintf(host, sizeof host, "unknown");
        host[sizeof host - 1] = '\0';
        snprintf(l->container_id, sizeof l->container_id, "adbridged-%s-%ld", host, (long)getpid());
    }
    if ((l->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0) {
        rc = adb_error_set(err, ADB_E_IO, "eventfd: %s", strerror(errno));
        goto fail;
    }
    l->st.slots = l->slots;
    l->st.since_unix_ms = adb_wall_ms();
    *out = l;
    return ADB_OK;
fail:
    adb_link_free(l);
    return rc;
}

const adb_link_request *adb_link_job_request(const adb_link_job *job)
{
    return &job->req;
}

bool adb_link_job_start(adb_link_job *job)
{
    int queued = RUN_QUEUED;

    return __atomic_compare_exchange_n(&job->run, &queued, RUN_STARTED, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
}

void link_wake(adb_link *l)
{
    uint64_t one = 1;
    if (write(l->wake_fd, &one, sizeof one) < 0) { /* counter full: already awake */ }
}

void adb_link_complete(adb_link *l, adb_link_job *job, const void *reply, size_t len)
{
    unsigned char *copy = NULL;

    if (reply != NULL && (copy = malloc(len > 0 ? len : 1)) != NULL)
        memcpy(copy, reply, len);
    pthread_mutex_lock(&l->lock);
    job->reply = copy;
    job->reply_len = copy != NULL ? len : 0;
    job->answered = copy != NULL;
    job->done_next = NULL;
    if (l->done_tail != NULL)
        l->done_tail->done_next = job;
    else
        l->done_head = job;
    l->done_tail = job;
    pthread_mutex_unlock(&l->lock);
    link_wake(l);
}

/* ---- the link thread ---- */

/* Product and version from the broker's open properties.  RabbitMQ before
 * 4.0 declares the queue named by a "/queue/NAME" (or bare "NAME") target
 * when a sender attaches (reply_target, link_replies.c). */
static void read_peer(adb_link *l, pn_connection_t *c)
{
    pn_data_t *p = pn_connection_remote_properties(c);
    char product[32] = "", version[32] = "";

    l->rabbit_v1 = false;
    l->peer[0] = '\0';
    if (p == NULL)
        return;
    pn_data_rewind(p);
    if (!pn_data_next(p) || pn_data_type(p) != PN_MAP)
        return;
    pn_data_enter(p);
    while (pn_data_next(p)) {
        pn_bytes_t k = pn_data_type(p) == PN_SYMBOL ? pn_data_get_symbol(p)
                       : pn_data_type(p) == PN_STRING ? pn_data_get_string(p) : pn_bytes(0, NULL);
        char *dst = NULL;
        if (!pn_data_next(p))
            break;
        if (k.size == 7 && memcmp(k.start, "product", 7) == 0)
            dst = product;
        else if (k.size == 7 && memcmp(k.start, "version", 7) == 0)
            dst = version;
        if (dst != NULL && (pn_data_type(p) == PN_STRING || pn_data_type(p) == PN_SYMBOL)) {
            pn_bytes_t v = pn_data_type(p) == PN_STRING ? pn_data_get_string(p) : pn_data_get_symbol(p);
            link_fmt(dst, sizeof product, "%.*s", (int)(v.size < sizeof product ? v.size : sizeof product - 1),
                     v.start);
        }
    }
    pn_data_exit(p);
    if (product[0] != '\0') {
        char pv[80];
        link_fmt(pv, sizeof pv, "%s/%s", product, version[0] != '\0' ? version : "?");
        link_log_field(l->peer, sizeof l->peer, pv);
    }
    l->rabbit_v1 = strcmp(product, "RabbitMQ") == 0 && (version[0] == '\0' || atoi(version) < 4);
}

/* Jobs handed back by workers. */
static void drain_done(adb_link *l)
{
    adb_link_job *j, *next;

    pthread_mutex_lock(&l->lock);
    j = l->done_head;
    l->done_head = l->done_tail = NULL;
    pthread_mutex_unlock(&l->lock);
    for (; j != NULL; j = next) {
        next = j->done_next;
        l->at_work--;
        if (j->gen != l->gen || !l->serving || j->dlv == NULL) {
            /* Its connection is gone: the broker redelivers the request. */
            l->outstanding--;
            COUNT(l, dropped);
            link_job_free(j);
        } else if (!j->answered) {
            link_settle_unanswered(l, j);
            link_job_end(l, j);
        } else if (link_lock_expired(j)) {
            /* The broker's lock is gone: the request is another receiver's now. */
            char idq[2 * MSGID_TEXT_MAX];
            link_log_field(idq, sizeof idq, j->msgid);
            adb_log(l->log, ADB_LOG_WARN, "reply_dropped", "reason=lock_expired message_id=%s late_ms=%lld", idq,
                    (long long)(adb_wall_ms() - j->lock_until_ms));
            link_give_back(l, j);
            link_job_end(l, j);
        } else {
            link_send_reply(l, j);
        }
    }
    link_feed_workers(l);
}


/* Handles one proton event. */
static void handle_event(adb_link *l, pn_event_t *e)
{
    pn_link_t *lk;
    sender_entry *s;
    forest_rcv *f;
    char text[ADB_ERROR_MESSAGE_MAX];
    char addrq[2 * ADDRESS_MAX];

    switch (pn_event_type(e)) {
    case PN_CONNECTION_REMOTE_OPEN:
        read_peer(l, pn_event_connection(e));
        break;
    case PN_LINK_REMOTE_OPEN:
        lk = pn_event_link(e);
        if ((f = link_forest_of(l, lk, NULL)) != NULL) {
            /* A refused source: its detach follows with the reason. */
            if (pn_terminus_get_address(pn_link_remote_source(lk)) != NULL)
                link_forest_opened(l, f);
        } else if (lk == l->receiver) {
            if (pn_terminus_get_address(pn_link_remote_source(lk)) == NULL) {
                /* The broker refuses the source; its detach follows with the reason. */
                break;
            }
            l->serving = true;
            pthread_mutex_lock(&l->lock);
            l->st.connects++;
            pthread_mutex_unlock(&l->lock);
            set_status(l, ADB_LINK_CONNECTED);
            link_log_field(addrq, sizeof addrq, l->b->address);
            adb_log(l->log, ADB_LOG_INFO, "link_connected", "broker=%s:%u tls=%s proxy=%s address=%s slots=%u "
                    "delivery_limit=%u peer=%s", l->u.host, l->u.port, l->u.tls ? "yes" : "no",
                    l->b->proxy.host != NULL ? l->b->proxy.host : "none", addrq, l->slots, l->delivery_limit,
                    l->peer[0] != '\0' ? l->peer : "-");
        }
        break;
    case PN_LINK_REMOTE_CLOSE:
    case PN_LINK_REMOTE_DETACH:
        lk = pn_event_link(e);
        link_cond_text(pn_link_remote_condition(lk), text, sizeof text);
        if (lk == l->receiver) {
            char msg[ADB_ERROR_MESSAGE_MAX];
            link_log_field(addrq, sizeof addrq, l->b->address);
            link_fmt(msg, sizeof msg, "the broker closed the request link on %s: %s", l->b->address,
                     text[0] != '\0' ? text : "no reason given");
            adb_log(l->log, ADB_LOG_ERROR, "link_error", "address=%s error=\"%s\"", addrq, text);
            set_error(l, ADB_E_PROTOCOL, msg);
            pn_link_close(lk);
            pn_connection_close(l->c.driver.connection);
        } else if ((s = link_sender_of(l, lk, NULL)) != NULL) {
            link_log_field(addrq, sizeof addrq, s->address);
            adb_log(l->log, ADB_LOG_WARN, "reply_link_closed", "reply_to=%s error=\"%s\"", addrq, text);
            link_sender_failed(l, s, text[0] != '\0' ? text : "the broker detached the reply link");
        } else if ((f = link_forest_of(l, lk, NULL)) != NULL) {
            link_forest_failed(l, f, text[0] != '\0' ? text : "the broker detached the forest's request link");
        }
        break;
    case PN_DELIVERY: {
        pn_delivery_t *d = pn_event_delivery(e);
        lk = pn_delivery_link(d);
        if (pn_link_is_receiver(lk))
            link_on_incoming(l, d);
        else if (pn_delivery_updated(d) && (pn_delivery_remote_state(d) != 0 || pn_delivery_settled(d)))
            link_on_reply_settled(l, d);
        break;
    }
    case PN_SESSION_REMOTE_CLOSE: {
        pn_session_t *ssn = pn_event_session(e);
        link_cond_text(pn_session_remote_condition(ssn), text, sizeof text);
        if (ssn == l->req_ssn) {
            /* The request session: nothing works without it. */
            char msg[ADB_ERROR_MESSAGE_MAX];
            link_fmt(msg, sizeof msg, "the broker ended the session (request address %s): %s", l->b->address,
                text[0] != '\0' ? text : "no reason given");
            adb_log(l->log, ADB_LOG_ERROR, "link_error", "error=\"%s\"", msg);
            if (!l->stopping)
                set_error(l, ADB_E_PROTOCOL, msg);
            pn_session_close(ssn);
            pn_connection_close(l->c.driver.connection);
        } else if ((s = link_sender_of(l, NULL, ssn)) != NULL) {
            /* A reply session (RabbitMQ ends it when the reply address does
             * not exist): only that reply is concerned. */
            link_log_field(addrq, sizeof addrq, s->address);
            adb_log(l->log, ADB_LOG_WARN, "reply_session_ended", "reply_to=%s error=\"%s\"", addrq, text);
            link_sender_failed(l, s, text[0] != '\0' ? text : "the broker ended the reply session");
        } else if ((f = link_forest_of(l, NULL, ssn)) != NULL) {
            link_forest_failed(l, f, text[0] != '\0' ? text : "the broker ended the forest's request session");
        }
        break;
    }
    case PN_CONNECTION_REMOTE_CLOSE:
        link_cond_text(pn_connection_remote_condition(pn_event_connection(e)), text, sizeof text);
        if (!l->stopping) {
            char msg[ADB_ERROR_MESSAGE_MAX];
            link_fmt(msg, sizeof msg, "the broker closed the connection: %s", text[0] ? text : "no reason given");
            set_error(l, ADB_E_IO, msg);
        }
        pn_connection_close(pn_event_connection(e));
        break;
    default:
        break;
    }
}

/* One connection from dial to close.  Returns when it is over. */
static void serve_once(adb_link *l)
{
    adb_error err = { 0 };
    const char *stage = NULL;
    int64_t open_deadline;
    bool close_sent = false;
    int64_t close_deadline = 0;

    memset(&l->c, 0, sizeof l->c);
    l->c.fd = -1;
    l->serving = false;
    l->receiver = NULL;
    l->req_ssn = NULL;
    l->err_recorded = false;
    l->overdelivery_logged = false;
    l->rabbit_v1 = false;
    l->peer[0] = '\0';
    l->gen++;
    set_status(l, ADB_LINK_CONNECTING);
    open_deadline = adb_mono_ms() + CONNECT_TIMEOUT_MS;
    if (adb_dial(&l->b->proxy, l->u.host, l->u.port, open_deadline, &l->c.fd, NULL, &stage, &err) != ADB_OK ||
        link_conn_setup(&l->c, l->b, &l->u, l->password, l->container_id, &err) != ADB_OK) {
        adb_log(l->log, ADB_LOG_ERROR, "link_error", "stage=%s code=%s error=\"%s\"", stage != NULL ? stage : "setup",
                adb_code_name(err.code), err.message);
        set_error(l, err.code, err.message);
        link_conn_destroy(&l->c);
        return;
    }
    pn_connection_open(l->c.driver.connection);
    l->req_ssn = pn_session(l->c.driver.connection);
    pn_session_open(l->req_ssn);
    l->receiver = pn_receiver(l->req_ssn, "adbridge-requests");
    pn_terminus_set_address(pn_link_source(l->receiver), l->b->address);
    pn_link_set_snd_settle_mode(l->receiver, PN_SND_UNSETTLED);
    pn_link_set_rcv_settle_mode(l->receiver, PN_RCV_FIRST);
    /* No max-message-size: a broker that honours it would never hand us an
     * oversize request, which then could not be answered invalid_request. */
    pn_link_open(l->receiver);

    for (;;) {
        pn_event_t *e;
        int64_t now;
        int wait;

        while ((e = pn_connection_driver_next_event(&l->c.driver)) != NULL)
            handle_event(l, e);
        if (pn_connection_driver_finished(&l->c.driver))
            break;
        drain_done(l);
        link_forests_sync(l);
        link_send_status(l);
        now = adb_mono_ms();
        if (l->serving)
            link_check_reply_timeouts(l, now);
        if (!l->serving && !close_sent && now >= open_deadline) {
            char msg[ADB_ERROR_MESSAGE_MAX];
            if (pn_connection_state(l->c.driver.connection) & PN_REMOTE_ACTIVE)
                link_fmt(msg, sizeof msg, "%s:%u did not attach the request link on %s within %d ms", l->u.host,
                    l->u.port, l->b->address, CONNECT_TIMEOUT_MS);
            else
                link_fmt(msg, sizeof msg, "no AMQP open from %s:%u within %d ms%s", l->u.host, l->u.port,
                    CONNECT_TIMEOUT_MS, l->u.tls && !l->c.tls_done ? " (TLS handshake did not finish)" : "");
            set_error(l, ADB_E_TIMEOUT, msg);
            adb_log(l->log, ADB_LOG_ERROR, "link_error", "stage=amqp_open code=timeout error=\"%s\"", msg);
            break;
        }
        if (!l->stopping && stop_flag(l)) {
            l->stopping = true;
            pthread_mutex_lock(&l->lock);
            l->grace_deadline = now + l->grace_ms;
            pthread_mutex_unlock(&l->lock);
            set_status(l, ADB_LINK_STOPPING);
            adb_log(l->log, ADB_LOG_INFO, "link_stopping", "in_flight=%u grace_ms=%d", l->outstanding, l->grace_ms);
            /* Take no more work: the credit is no longer replenished.  Not
             * pn_link_drain: RabbitMQ 3.10 ends the session on a drain
             * (function_clause in rabbit_classic_queue send_drained), which
             * would lose the requests in flight.  What still arrives on
             * credit already granted is released untouched (take_request),
             * as are the requests no worker took yet or started. */
            link_release_waiting(l);
            link_recall_at_work(l, NULL, RECALL_RELEASE);
            if (!l->serving)
                l->grace_deadline = now;
        }
        if (l->stopping && !close_sent && (l->outstanding == 0 || now >= l->grace_deadline)) {
            if (l->outstanding > 0)
                adb_log(l->log, ADB_LOG_WARN, "link_release", "msg=\"grace period over\" released=%u", l->outstanding);
            link_release_all(l);
            pn_connection_close(l->c.driver.connection);
            close_sent = true;
            close_deadline = now + CLOSE_TIMEOUT_MS;
        }
        if (close_sent && now >= close_deadline)
            break;
        link_update_credit(l);
        set_status(l, l->stopping ? ADB_LINK_STOPPING : l->serving ? ADB_LINK_CONNECTED : ADB_LINK_CONNECTING);
        wait = 1000;
        if (!l->serving && open_deadline - now < wait)
            wait = (int)(open_deadline - now);
        if (l->stopping && !close_sent && l->grace_deadline - now < wait)
            wait = (int)(l->grace_deadline - now);
        if (close_sent && close_deadline - now < wait)
            wait = (int)(close_deadline - now);
        link_conn_io(&l->c, l->wake_fd, wait < 0 ? 0 : wait);
    }
    if (!l->stopping || !close_sent) {
        char text[ADB_ERROR_MESSAGE_MAX];
        link_conn_error_text(&l->c, text, sizeof text);
        if (!l->stopping) {
            char msg[ADB_ERROR_MESSAGE_MAX];
            link_fmt(msg, sizeof msg, "%s:%u: %.400s%s", l->u.host, l->u.port, text, link_error_hint(text, l->u.tls));
            adb_log(l->log, ADB_LOG_ERROR, "link_lost", "broker=%s:%u error=\"%s\" in_flight=%u", l->u.host,
                    l->u.port, msg, l->outstanding);
            if (!l->err_recorded)
                set_error(l, ADB_E_IO, msg);
        }
    }
    /* Whatever is unsettled now, the broker gives to another consumer. */
    l->serving = false;
    link_release_all(l);
    link_senders_forget(l);
    link_forests_forget(l);
    l->receiver = NULL;
    l->req_ssn = NULL;
    link_conn_destroy(&l->c);
}

static void *run(void *arg)
{
    adb_link *l = arg;
    unsigned attempt = 0;
    uint64_t connects_before;

    while (!stop_flag(l)) {
        int64_t delay, until;
        pthread_mutex_lock(&l->lock);
        connects_before = l->st.connects;
        pthread_mutex_unlock(&l->lock);
        serve_once(l);
        if (l->stopping || stop_flag(l))
            break;
        pthread_mutex_lock(&l->lock);
        if (l->st.connects != connects_before)
            attempt = 0; /* it worked for a while: start the backoff again from the bottom */
        pthread_mutex_unlock(&l->lock);
        /* Exponential backoff with jitter: instances that lost the broker
         * together do not come back in step. */
        delay = (int64_t)BACKOFF_BASE_MS << (attempt < 16 ? attempt : 16);
        if (delay > (int64_t)(l->b->reconnect_max_s != 0 ? l->b->reconnect_max_s : 60) * 1000)
            delay = (int64_t)(l->b->reconnect_max_s != 0 ? l->b->reconnect_max_s : 60) * 1000;
        delay = delay / 2 + (int64_t)randombytes_uniform((uint32_t)(delay / 2 + 1));
        attempt++;
        set_status(l, ADB_LINK_BACKOFF);
        adb_log(l->log, ADB_LOG_INFO, "link_backoff", "retry_in_ms=%lld attempt=%u", (long long)delay, attempt);
        until = adb_mono_ms() + delay;
        while (!stop_flag(l)) {
            int64_t left = until - adb_mono_ms();
            struct pollfd pfd = { .fd = l->wake_fd, .events = POLLIN };
            if (left <= 0)
                break;
            beat(l);
            if (poll(&pfd, 1, left < 1000 ? (int)left : 1000) > 0) {
                uint64_t v;
                if (read(l->wake_fd, &v, sizeof v) < 0) { /* spurious */ }
                drain_done(l); /* orphaned jobs finishing: drop their replies */
            }
        }
    }
    drain_done(l);
    set_status(l, ADB_LINK_IDLE);
    adb_log(l->log, ADB_LOG_INFO, "link_stopped", "in_flight=%u", l->outstanding);
    return NULL;
}

adb_code adb_link_start(adb_link *l, adb_error *err)
{
    int r;

    if (l->started)
        return ADB_OK;
    if ((r = pthread_create(&l->thread, NULL, run, l)) != 0)
        return adb_error_set(err, ADB_E_INTERNAL, "cannot start the link thread: %s", strerror(r));
    l->started = true;
    return ADB_OK;
}

void adb_link_stop(adb_link *l, int grace_ms)
{
    if (l == NULL || !l->started)
        return;
    pthread_mutex_lock(&l->lock);
    l->stop_requested = true;
    l->grace_ms = grace_ms < 0 ? 0 : grace_ms;
    pthread_mutex_unlock(&l->lock);
    link_wake(l);
    pthread_join(l->thread, NULL);
    l->started = false;
}

void adb_link_free(adb_link *l)
{
    adb_link_job *j, *next;

    if (l == NULL)
        return;
    adb_link_stop(l, 0);
    for (j = l->done_head; j != NULL; j = next) {
        next = j->done_next;
        link_job_free(j);
    }
    adb_secret_free(l->password);
    free(l->status_doc);
    if (l->wake_fd >= 0)
        close(l->wake_fd);
    pthread_mutex_destroy(&l->lock);
    free(l);
}

const char *adb_link_container_id(const adb_link *l)
{
    return l->container_id;
}

void adb_link_state_get(adb_link *l, adb_link_state *out)
{
    pthread_mutex_lock(&l->lock);
    *out = l->st;
    pthread_mutex_unlock(&l->lock);
}
