/* Status announcements (link.h adb_link_announce): the daemon hands in a
 * JSON text; the link thread sends the latest one to broker.status_address
 * on a sender of its own, pre-settled, with the TTL it was given, so a
 * reader sees only announcements of instances alive within the TTL. */
#include "config.h"

#include "link_internal.h"

#include <adbridge/clock.h>
#include <adbridge/log.h>

#include <stdlib.h>
#include <string.h>

void adb_link_announce(adb_link *l, const char *doc, size_t len, unsigned ttl_ms)
{
    char *copy = malloc(len > 0 ? len : 1);

    if (copy == NULL)
        return; /* the next announcement replaces it */
    memcpy(copy, doc, len);
    pthread_mutex_lock(&l->lock);
    free(l->status_doc);
    l->status_doc = copy;
    l->status_len = len;
    l->status_ttl_ms = ttl_ms;
    pthread_mutex_unlock(&l->lock);
    link_wake(l);
}

void link_send_status(adb_link *l)
{
    pn_message_t *m;
    pn_rwbytes_t buf = { 0, NULL };
    pn_link_t *snd;
    pn_delivery_t *d;
    char *doc;
    size_t len;
    unsigned ttl_ms;
    ssize_t n;
    char tag[24], addrq[2 * ADDRESS_MAX];

    if (!l->serving || l->stopping || l->b->status_address == NULL)
        return;
    pthread_mutex_lock(&l->lock);
    doc = l->status_doc;
    len = l->status_len;
    ttl_ms = l->status_ttl_ms;
    l->status_doc = NULL;
    pthread_mutex_unlock(&l->lock);
    if (doc == NULL)
        return;
    link_log_field(addrq, sizeof addrq, l->b->status_address);
    if ((m = pn_message()) == NULL || (snd = link_sender_to(l, l->b->status_address)) == NULL) {
        adb_log(l->log, ADB_LOG_WARN, "status_failed", "address=%s reason=no_sender", addrq);
        goto out;
    }
    pn_message_set_address(m, l->b->status_address);
    pn_message_set_content_type(m, "application/json");
    pn_message_set_subject(m, "adbridge.status");
    pn_message_set_creation_time(m, adb_wall_ms());
    if (ttl_ms > 0)
        pn_message_set_ttl(m, ttl_ms);
    pn_data_put_string(pn_message_body(m), pn_bytes(len, doc));
    if ((n = pn_message_encode2(m, &buf)) < 0) {
        adb_log(l->log, ADB_LOG_WARN, "status_failed", "address=%s reason=encode", addrq);
        goto out;
    }
    snprintf(tag, sizeof tag, "s%llu", (unsigned long long)++l->tag_seq);
    d = pn_delivery(snd, pn_dtag(tag, strlen(tag)));
    pn_link_send(snd, buf.start, (size_t)n);
    pn_link_advance(snd);
    pn_delivery_settle(d); /* pre-settled: no outcome awaited */
    COUNT(l, announced);
    adb_log(l->log, ADB_LOG_DEBUG, "status_sent", "address=%s bytes=%zu ttl_ms=%u", addrq, len, ttl_ms);
out:
    free(buf.start);
    if (m != NULL)
        pn_message_free(m);
    free(doc);
}
