/* CLDAP netlogon ping: see include/adbridge/cldap.h. */
#include "config.h"

#include <adbridge/clock.h>
#include <adbridge/cldap.h>

#include <arpa/inet.h>
#include <errno.h>
#include <lber.h>
#include <ldap.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_DATAGRAM 4096

adb_code adb_cldap_encode(int msgid, const char *domain, uint32_t ntver, uint8_t **out, size_t *out_len,
                          adb_error *err)
{
    char nt[4] = { (char)(ntver & 0xff), (char)(ntver >> 8 & 0xff), (char)(ntver >> 16 & 0xff),
                   (char)(ntver >> 24 & 0xff) };
    struct berval *bv = NULL;
    adb_code code = ADB_OK;

    if (domain == NULL || domain[0] == '\0' || strlen(domain) > 255)
        return adb_error_set(err, ADB_E_INVALID_REQUEST, "CLDAP ping: a domain name of 1 to 255 bytes is needed");
    BerElement *ber = ber_alloc_t(LBER_USE_DER);
    if (ber == NULL)
        return adb_error_set(err, ADB_E_NOMEM, "out of memory");
    /* SearchRequest: base "", scope base, filter (&(DnsDomain=d)(NtVer=4 bytes LE)), attrs Netlogon */
    if (ber_printf(ber, "{it{seeiib", (ber_int_t)msgid, (ber_tag_t)LDAP_REQ_SEARCH, "",
                   (ber_int_t)LDAP_SCOPE_BASE, (ber_int_t)LDAP_DEREF_NEVER, (ber_int_t)0, (ber_int_t)0,
                   (ber_int_t)0) < 0
        || ber_printf(ber, "t{", (ber_tag_t)LDAP_FILTER_AND) < 0
        || ber_printf(ber, "t{ss}", (ber_tag_t)LDAP_FILTER_EQUALITY, "DnsDomain", domain) < 0
        || ber_printf(ber, "t{so}", (ber_tag_t)LDAP_FILTER_EQUALITY, "NtVer", nt, (ber_len_t)sizeof nt) < 0
        || ber_printf(ber, "}{s}}}", "Netlogon") < 0 || ber_flatten(ber, &bv) < 0) {
        code = adb_error_set(err, ADB_E_INTERNAL, "CLDAP ping: cannot encode the request for %s", domain);
    } else if ((*out = malloc(bv->bv_len)) == NULL) {
        code = adb_error_set(err, ADB_E_NOMEM, "out of memory");
    } else {
        memcpy(*out, bv->bv_val, bv->bv_len);
        *out_len = bv->bv_len;
    }
    ber_bvfree(bv);
    ber_free(ber, 1);
    return code;
}

/* other_id: set when the datagram is a well-formed reply to another ping. */
static adb_code decode(const uint8_t *buf, size_t len, int msgid, uint32_t ntver, adb_netlogon *out,
                       bool *other_id, adb_error *err)
{
    struct berval in = { .bv_len = len, .bv_val = (char *)(uintptr_t)buf }, dn, type;
    BerVarray vals = NULL;
    ber_int_t id;
    ber_len_t l;
    adb_code code;

    if (buf == NULL || len == 0 || len > MAX_DATAGRAM)
        return adb_error_set(err, ADB_E_PROTOCOL, "CLDAP reply of %zu bytes", len);
    BerElement *ber = ber_init(&in);
    if (ber == NULL)
        return adb_error_set(err, ADB_E_NOMEM, "out of memory");
    if (ber_scanf(ber, "{i", &id) == LBER_ERROR) {
        code = adb_error_set(err, ADB_E_PROTOCOL, "CLDAP reply is not an LDAP message");
    } else if (id != msgid) {
        *other_id = true;
        code = adb_error_set(err, ADB_E_PROTOCOL, "CLDAP reply for message %d, not %d", (int)id, msgid);
    } else if (ber_peek_tag(ber, &l) == LDAP_RES_SEARCH_RESULT) {
        code = adb_error_set(err, ADB_E_PROTOCOL, "the DC answered the ping without a Netlogon entry "
                                                  "(it does not serve this domain)");
    } else if (ber_peek_tag(ber, &l) != LDAP_RES_SEARCH_ENTRY
               || ber_scanf(ber, "{m{{m[W]", &dn, &type, &vals) == LBER_ERROR) {
        code = adb_error_set(err, ADB_E_PROTOCOL, "CLDAP reply is not a search entry with attributes");
    } else if (type.bv_len != 8 || strncasecmp(type.bv_val, "Netlogon", 8) != 0 || vals == NULL
               || vals[0].bv_val == NULL) {
        code = adb_error_set(err, ADB_E_PROTOCOL, "CLDAP reply carries no Netlogon value");
    } else {
        code = adb_netlogon_decode((const uint8_t *)vals[0].bv_val, vals[0].bv_len, ntver, out, err);
    }
    ber_bvarray_free(vals);
    ber_free(ber, 1);
    return code;
}

adb_code adb_cldap_decode(const uint8_t *buf, size_t len, int msgid, uint32_t ntver, adb_netlogon *out,
                          adb_error *err)
{
    bool other_id = false;
    return decode(buf, len, msgid, ntver, out, &other_id, err);
}

static void fail(adb_cldap_ping *p, adb_code code, const char *why)
{
    bool v6 = strchr(p->address, ':') != NULL;
    p->settled = true;
    p->code = code;
    snprintf(p->error, sizeof p->error, "CLDAP ping %s%s%s:%u: %s", v6 ? "[" : "", p->address, v6 ? "]" : "",
             p->port ? p->port : 389, why);
}

/* One DC's ping in flight. */
typedef struct flight {
    int fd;                 /* -1: not sent (or failed to send) */
    int id;                 /* LDAP message id, the same in the re-sent copy */
    uint8_t *req;
    size_t req_len;
    int64_t sent_us, resend_us, end_us;   /* first send; re-send (0: done); end of its batch's wait */
} flight;

/* Opens a connected socket and sends the first copy.  A connected socket:
 * the kernel drops datagrams from any other address, and a closed port
 * comes back as ECONNREFUSED at once. */
static adb_code launch(adb_cldap_ping *p, flight *f, const char *domain, int wait_ms, adb_error *err)
{
    struct sockaddr_storage ss = { 0 };
    struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
    uint16_t port = htons(p->port ? p->port : 389);
    socklen_t sl;
    uint32_t r = 0;
    adb_code code;

    if (p->address != NULL && inet_pton(AF_INET, p->address, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        sin->sin_port = port;
        sl = sizeof *sin;
    } else if (p->address != NULL && inet_pton(AF_INET6, p->address, &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = port;
        sl = sizeof *sin6;
    } else {
        p->address = p->address != NULL ? p->address : "(none)";
        fail(p, ADB_E_INVALID_REQUEST, "not a numeric IPv4 or IPv6 address");
        return ADB_OK;
    }
    if (getrandom(&r, sizeof r, 0) != sizeof r)
        r = (uint32_t)adb_mono_us();
    f->id = (int)(r & 0x7fffffff) | 1;
    if ((code = adb_cldap_encode(f->id, domain, ADB_CLDAP_NTVER, &f->req, &f->req_len, err)) != ADB_OK)
        return code;
    f->fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (f->fd < 0 || connect(f->fd, (struct sockaddr *)&ss, sl) < 0
        || send(f->fd, f->req, f->req_len, 0) != (ssize_t)f->req_len) {
        fail(p, ADB_E_DC_UNAVAILABLE, strerror(errno));
        if (f->fd >= 0)
            close(f->fd);
        f->fd = -1;
        return ADB_OK;
    }
    f->sent_us = adb_mono_us();
    f->resend_us = f->sent_us + (int64_t)wait_ms * 500;
    f->end_us = f->sent_us + (int64_t)wait_ms * 1000;
    return ADB_OK;
}

/* Reads what came for one ping; true when it is settled by it. */
static bool receive(adb_cldap_ping *p, flight *f)
{
    uint8_t buf[MAX_DATAGRAM];
    adb_error perr = { 0 };
    bool other_id = false;
    ssize_t got = recv(f->fd, buf, sizeof buf, 0);

    if (got < 0 && (errno == EAGAIN || errno == EINTR))
        return false;
    if (got < 0) {
        fail(p, ADB_E_DC_UNAVAILABLE, errno == ECONNREFUSED ? "port refused (no CLDAP service)" : strerror(errno));
    } else if (decode(buf, (size_t)got, f->id, ADB_CLDAP_NTVER, &p->reply, &other_id, &perr) != ADB_OK) {
        if (other_id)       /* a late answer to an earlier ping: wait for ours */
            return false;
        fail(p, perr.code, perr.message);
    } else {
        p->settled = true;
        p->code = ADB_OK;
        p->error[0] = '\0';
        p->rtt_us = (int)(adb_mono_us() - f->sent_us);
    }
    return true;
}

/* The engine of both calls: batches of batch[k] DCs waiting wait_ms[k]
 * (the last entry repeats for the rest), stopping at a good answer when
 * stop is set. */
static adb_code run(adb_cldap_ping *pings, size_t n, const char *domain, const size_t *batch, const int *wait_ms,
                    bool stop, adb_cldap_good good, void *ctx, size_t *winner, adb_error *err)
{
    struct pollfd *pfd = calloc(n ? n : 1, sizeof *pfd);
    flight *fl = calloc(n ? n : 1, sizeof *fl);
    size_t next = 0, pending = 0, won = n;
    int64_t batch_end = 0;
    adb_code code = ADB_OK;

    if (pfd == NULL || fl == NULL) {
        code = adb_error_set(err, ADB_E_NOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        pings[i].settled = false;
        pings[i].code = ADB_E_TIMEOUT;
        pings[i].rtt_us = -1;
        pings[i].error[0] = '\0';
        fl[i].fd = pfd[i].fd = -1;
    }
    for (int k = 0; won == n || !stop;) {
        int64_t now = adb_mono_us();
        if (next < n && (now >= batch_end || pending == 0)) {      /* the next batch */
            int b = k < 2 ? k++ : 2;
            size_t end = batch[b] > 0 && next + batch[b] < n ? next + batch[b] : n;
            for (; next < end; next++) {
                if ((code = launch(&pings[next], &fl[next], domain, wait_ms[b], err)) != ADB_OK)
                    goto out;
                if ((pfd[next].fd = fl[next].fd) >= 0) {
                    pfd[next].events = POLLIN;
                    pending++;
                }
            }
            batch_end = now + (int64_t)wait_ms[b] * 1000;
            continue;
        }
        if (pending == 0 || (next == n && now >= batch_end))
            break;
        /* Sleep until an answer, the next re-send or the batch's end. */
        int64_t wake = batch_end;
        for (size_t i = 0; i < next; i++) {
            if (pfd[i].events == 0 || fl[i].resend_us == 0)
                continue;
            if (fl[i].resend_us <= now) {
                (void)send(fl[i].fd, fl[i].req, fl[i].req_len, 0);   /* once: for a lost request or answer */
                fl[i].resend_us = 0;
            } else if (fl[i].resend_us < wake) {
                wake = fl[i].resend_us;
            }
        }
        if (poll(pfd, (nfds_t)next, wake > now ? (int)((wake - now + 999) / 1000) : 0) < 0 && errno != EINTR)
            break;
        for (size_t i = 0; i < next; i++) {
            if (pfd[i].events == 0 || pfd[i].revents == 0 || !receive(&pings[i], &fl[i]))
                continue;
            pfd[i].events = 0;
            pfd[i].fd = -1;           /* settled: poll it no more */
            pending--;
            if (won == n && pings[i].code == ADB_OK && (good == NULL || good(&pings[i].reply, ctx)))
                won = i;
        }
    }
    /* Verdicts: a ping whose whole wait passed unanswered timed out; one
     * still inside its wait when the search stopped has none. */
    int64_t now = adb_mono_us();
    for (size_t i = 0; i < next; i++)
        if (pfd[i].events != 0 && now >= fl[i].end_us)
            fail(&pings[i], ADB_E_TIMEOUT, "no answer within the ping timeout");
out:
    for (size_t i = 0; fl != NULL && i < n; i++) {
        if (fl[i].fd >= 0)
            close(fl[i].fd);
        free(fl[i].req);
    }
    free(pfd);
    free(fl);
    if (winner != NULL)
        *winner = won;
    return code;
}

adb_code adb_cldap_search(adb_cldap_ping *pings, size_t n, const char *domain, int first_ms, adb_cldap_good good,
                          void *ctx, size_t *winner, adb_error *err)
{
    int first = first_ms > 0 ? first_ms : ADB_CLDAP_FIRST_MS;
    const size_t batch[3] = { ADB_CLDAP_BATCH, ADB_CLDAP_BATCH, 0 };
    const int wait_ms[3] = { first, first / 2 > 0 ? first / 2 : 1, first };

    return run(pings, n, domain, batch, wait_ms, true, good, ctx, winner, err);
}

adb_code adb_cldap_ping_all(adb_cldap_ping *pings, size_t n, const char *domain, int timeout_ms, adb_error *err)
{
    const size_t batch[3] = { 0, 0, 0 };
    int t = timeout_ms > 0 ? timeout_ms : 1000;
    const int wait_ms[3] = { t, t, t };
    adb_code code = run(pings, n, domain, batch, wait_ms, false, NULL, NULL, NULL, err);

    for (size_t i = 0; code == ADB_OK && i < n; i++)
        if (!pings[i].settled)
            fail(&pings[i], ADB_E_TIMEOUT, "no answer within the ping timeout");
    return code;
}
