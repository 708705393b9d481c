/* The cloud link's replies (link_internal.h): one sender per reply address,
 * each on a session of its own; a reply the broker refuses or leaves
 * unsettled is sent again, up to REPLY_ATTEMPTS, before its request is
 * rejected; a request is accepted only once the broker accepted its reply. */
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

enum {
    REPLY_ATTEMPTS = 3,            /* sends of one reply before its request is rejected */
    REPLY_SETTLE_MS = 30000,       /* a reply the broker has not settled by then counts as failed */
};

/* Forgets the reply delivery (settled locally: no outcome is awaited any more). */
void link_reply_detach(adb_link_job *j)
{
    if (j->reply_dlv == NULL)
        return;
    pn_delivery_set_context(j->reply_dlv, NULL);
    pn_delivery_settle(j->reply_dlv);
    j->reply_dlv = NULL;
}

/* The target a reply to reply_to is sent to.  Replies must never create
 * broker objects: RabbitMQ before 4.0 declares (creates, with the bridge's
 * credentials) the queue of a "/queue/NAME" or bare "NAME" target on attach,
 * while "/amq/queue/NAME" addresses the same queue without declaring it
 * (a reply to a queue that does not exist is then dropped by the broker).
 * Other brokers do not create nodes on attach: the address is kept. */
static void reply_target(const adb_link *l, const char *reply_to, char *buf, size_t size)
{
    if (l->rabbit_v1 && strncmp(reply_to, "/queue/", 7) == 0 && reply_to[7] != '\0')
        link_fmt(buf, size, "/amq/queue/%s", reply_to + 7);
    else if (l->rabbit_v1 && reply_to[0] != '/')
        link_fmt(buf, size, "/amq/queue/%s", reply_to);
    else
        link_fmt(buf, size, "%s", reply_to);
}

void link_close_with_session(pn_link_t *lk, pn_session_t *ssn)
{
    if (lk != NULL && !(pn_link_state(lk) & PN_LOCAL_CLOSED))
        pn_link_close(lk);
    if (ssn != NULL) {
        if (!(pn_session_state(ssn) & PN_LOCAL_CLOSED))
            pn_session_close(ssn);
        pn_session_free(ssn); /* proton keeps it until the end is on the wire */
    }
}

/* Closes a reply sender and its session and frees them. */
static void sender_drop(sender_entry *s)
{
    link_close_with_session(s->link, s->ssn);
    free(s->address);
    memset(s, 0, sizeof *s);
}

pn_link_t *link_sender_to(adb_link *l, const char *address)
{
    sender_entry *slot = NULL;
    char name[64], target[ADDRESS_MAX + 16];
    size_t i;

    for (i = 0; i < MAX_SENDERS; i++)
        if (l->senders[i].link != NULL && strcmp(l->senders[i].address, address) == 0) {
            l->senders[i].last_use = ++l->use_clock;
            return l->senders[i].link;
        }
    for (i = 0; i < MAX_SENDERS; i++)
        if (l->senders[i].link == NULL) {
            slot = &l->senders[i];
            break;
        }
    if (slot == NULL) { /* evict the least recently used idle sender */
        for (i = 0; i < MAX_SENDERS; i++)
            if (pn_link_unsettled(l->senders[i].link) == 0 && (slot == NULL || l->senders[i].last_use < slot->last_use))
                slot = &l->senders[i];
        if (slot == NULL)
            return NULL;
        sender_drop(slot);
    }
    if ((slot->address = strdup(address)) == NULL || (slot->ssn = pn_session(l->c.driver.connection)) == NULL) {
        sender_drop(slot);
        return NULL;
    }
    pn_session_open(slot->ssn);
    snprintf(name, sizeof name, "adbridge-reply-%llu", (unsigned long long)++l->tag_seq);
    slot->link = pn_sender(slot->ssn, name);
    reply_target(l, address, target, sizeof target);
    pn_terminus_set_address(pn_link_target(slot->link), target);
    pn_link_set_snd_settle_mode(slot->link, PN_SND_UNSETTLED);
    pn_link_open(slot->link);
    slot->last_use = ++l->use_clock;
    return slot->link;
}

/* The reply sender on link lk or session ssn; NULL: not a reply sender. */
sender_entry *link_sender_of(adb_link *l, pn_link_t *lk, pn_session_t *ssn)
{
    for (size_t i = 0; i < MAX_SENDERS; i++)
        if (l->senders[i].link != NULL && (l->senders[i].link == lk || l->senders[i].ssn == ssn))
            return &l->senders[i];
    return NULL;
}

static void reply_retry(adb_link *l, adb_link_job *j, const char *why, bool final);

/* Sends a worker's reply; the request is settled when the broker settles it. */
void link_send_reply(adb_link *l, adb_link_job *j)
{
    pn_message_t *r = pn_message();
    pn_msgid_t cid;
    pn_rwbytes_t buf = { 0, NULL };
    pn_link_t *snd;
    pn_delivery_t *rd;
    ssize_t n;
    char tag[24];
    char idq[2 * MSGID_TEXT_MAX];

    j->reply_attempts++;
    if (r == NULL || (snd = link_sender_to(l, pn_message_get_reply_to(j->msg))) == NULL)
        goto fail;
    pn_message_set_address(r, pn_message_get_reply_to(j->msg));
    cid = pn_message_get_correlation_id(j->msg);
    if (cid.type == PN_NULL)
        cid = pn_message_get_id(j->msg);
    pn_message_set_correlation_id(r, cid);
    pn_message_set_content_type(r, "application/json");
    pn_message_set_durable(r, pn_message_is_durable(j->msg));
    if (j->body_is_string)
        pn_data_put_string(pn_message_body(r), pn_bytes(j->reply_len, (const char *)j->reply));
    else
        pn_data_put_binary(pn_message_body(r), pn_bytes(j->reply_len, (const char *)j->reply));
    if ((n = pn_message_encode2(r, &buf)) < 0)
        goto fail;
    snprintf(tag, sizeof tag, "%llu", (unsigned long long)++l->tag_seq);
    rd = pn_delivery(snd, pn_dtag(tag, strlen(tag)));
    pn_delivery_set_context(rd, j);
    pn_link_send(snd, buf.start, (size_t)n);
    pn_link_advance(snd);
    j->sender = snd;
    j->reply_dlv = rd;
    j->reply_sent_ms = adb_mono_ms();
    j->state = JOB_AWAIT_SETTLE;
    free(buf.start);
    pn_message_free(r);
    return;
fail:
    free(buf.start);
    if (r != NULL)
        pn_message_free(r);
    /* Out of memory, or every reply sender busy: another instance may do better. */
    link_log_field(idq, sizeof idq, j->msgid);
    adb_log(l->log, ADB_LOG_ERROR, "reply_failed", "message_id=%s reason=cannot_build_reply", idq);
    link_give_back(l, j);
    link_job_end(l, j);
}

/* A reply did not get through (its link or session ended, it was released,
 * or no outcome came in time): sent again up to REPLY_ATTEMPTS times, then
 * -- or at once when final (the broker rejected it) -- its request is
 * rejected; never given back, which would run it again and fail the same way. */
static void reply_retry(adb_link *l, adb_link_job *j, const char *why, bool final)
{
    char idq[2 * MSGID_TEXT_MAX], toq[2 * ADDRESS_MAX], whyq[ADB_ERROR_MESSAGE_MAX + 8], desc[ADB_ERROR_MESSAGE_MAX];

    link_log_field(idq, sizeof idq, j->msgid);
    link_log_field(toq, sizeof toq, pn_message_get_reply_to(j->msg));
    link_log_field(whyq, sizeof whyq, why);
    j->sender = NULL;
    if (!final && j->reply_attempts < REPLY_ATTEMPTS) {
        adb_log(l->log, ADB_LOG_WARN, "reply_retry", "message_id=%s reply_to=%s attempt=%u error=%s", idq, toq,
                j->reply_attempts + 1, whyq);
        COUNT(l, reply_retries);
        link_send_reply(l, j);
        return;
    }
    adb_log(l->log, ADB_LOG_WARN, "request_rejected", "reason=reply_undeliverable message_id=%s reply_to=%s "
            "attempts=%u error=%s", idq, toq, j->reply_attempts, whyq);
    link_fmt(desc, sizeof desc, "the reply to %.200s could not be delivered in %u attempts: %.200s",
        pn_message_get_reply_to(j->msg), j->reply_attempts, why);
    link_reject(l, j->dlv, "adbridge:reply-undeliverable", desc);
    link_seen_drop(l, j);
    link_job_end(l, j);
}

/* A reply sender is gone (detached, its session ended, or stuck): its
 * replies in flight are sent again on a new one, or their requests rejected. */
void link_sender_failed(adb_link *l, sender_entry *s, const char *why)
{
    adb_link_job *j, *next;
    pn_link_t *lk = s->link;

    for (j = l->live; j != NULL; j = j->next)
        if (j->state == JOB_AWAIT_SETTLE && j->sender == lk) {
            link_reply_detach(j);
            j->state = JOB_REPLY_RETRY;
        }
    sender_drop(s);
    for (j = l->live; j != NULL; j = next) {
        next = j->next;
        if (j->state == JOB_REPLY_RETRY)
            reply_retry(l, j, why, false);
    }
}

/* The broker settled a reply: settle its request accordingly. */
void link_on_reply_settled(adb_link *l, pn_delivery_t *rd)
{
    adb_link_job *j = pn_delivery_get_context(rd);
    uint64_t state = pn_delivery_remote_state(rd);
    char c[256];

    if (j == NULL)
        return;
    link_cond_text(pn_disposition_condition(pn_delivery_remote(rd)), c, sizeof c);
    link_reply_detach(j);
    if (state == PN_ACCEPTED || state == 0) {
        pn_delivery_update(j->dlv, PN_ACCEPTED);
        pn_delivery_settle(j->dlv);
        COUNT(l, replied);
        link_seen_drop(l, j);
        link_job_end(l, j);
    } else if (state == PN_REJECTED) {
        /* The broker refuses this reply for good: sending it again cannot help. */
        char why[300];
        link_fmt(why, sizeof why, "the broker rejected the reply: %s", c[0] != '\0' ? c : "no reason given");
        reply_retry(l, j, why, true);
    } else {
        char why[64];
        link_fmt(why, sizeof why, "the broker did not take the reply (outcome %s)",
            state == PN_RELEASED ? "released" : state == PN_MODIFIED ? "modified" : "unknown");
        reply_retry(l, j, why, false);
    }
}

/* Replies the broker has not settled in REPLY_SETTLE_MS: their sender is
 * treated as failed, so a silent broker cannot hold a worker slot forever. */
void link_check_reply_timeouts(adb_link *l, int64_t now)
{
    adb_link_job *j;
    char why[96];

again:
    for (j = l->live; j != NULL; j = j->next)
        if (j->state == JOB_AWAIT_SETTLE && now - j->reply_sent_ms > REPLY_SETTLE_MS) {
            sender_entry *s = link_sender_of(l, j->sender, NULL);
            link_fmt(why, sizeof why, "no outcome from the broker within %d ms", REPLY_SETTLE_MS);
            if (s != NULL) {
                link_sender_failed(l, s, why);
            } else {
                link_reply_detach(j);
                reply_retry(l, j, why, false);
            }
            goto again; /* the list changed */
        }
}

/* The connection is gone, and its sessions and links with it: only the
 * addresses are ours to free. */
void link_senders_forget(adb_link *l)
{
    for (size_t i = 0; i < MAX_SENDERS; i++) {
        free(l->senders[i].address);
        memset(&l->senders[i], 0, sizeof l->senders[i]);
    }
}
