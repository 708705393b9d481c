/* Parallel TCP/UDP port probes: see include/adbridge/portprobe.h. */
#include "config.h"

#include <adbridge/clock.h>
#include <adbridge/portprobe.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <lber.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum {
    MAX_PROBES = 1024,
    MAX_DATAGRAM = 4096,
    KRB_NT_PRINCIPAL = 1,
    KRB_NT_SRV_INST = 2,
    KRB_AS_REQ_TAG = 0x6a,    /* [APPLICATION 10] */
    KRB_AS_REP_TAG = 0x6b,    /* [APPLICATION 11] */
    KRB_ERROR_TAG = 0x7e,     /* [APPLICATION 30] */
};

const char *adb_port_state_name(adb_port_state s)
{
    switch (s) {
    case ADB_PORT_OPEN: return "open";
    case ADB_PORT_CLOSED: return "closed";
    case ADB_PORT_TIMEOUT: return "timeout";
    default: return "error";
    }
}

adb_code adb_portprobe_dns_query(uint16_t id, uint8_t **out, size_t *len, adb_error *err)
{
    /* id, flags 0 (no recursion: the DC answers from its own data at once),
     * one question: "." SOA IN. */
    static const uint8_t tail[] = { 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                                    0x00, 0x00, 0x06, 0x00, 0x01 };
    uint8_t *b = malloc(2 + sizeof tail);

    if (b == NULL)
        return adb_error_set(err, ADB_E_NOMEM, "out of memory");
    b[0] = (uint8_t)(id >> 8);
    b[1] = (uint8_t)(id & 0xff);
    memcpy(b + 2, tail, sizeof tail);
    *out = b;
    *len = 2 + sizeof tail;
    return ADB_OK;
}

adb_code adb_portprobe_as_req(const char *realm, const char *client, uint32_t nonce, uint8_t **out, size_t *len,
                              adb_error *err)
{
    static const char no_options[5] = { 0 };   /* BIT STRING: 0 unused bits, 32 zero bits */
    struct berval *bv = NULL;
    adb_code code = ADB_OK;

    if (realm == NULL || realm[0] == '\0' || strlen(realm) > 255)
        return adb_error_set(err, ADB_E_INVALID_REQUEST, "KDC probe: a realm of 1 to 255 bytes is needed");
    if (client == NULL)
        client = "adbridge-probe";
    if (strlen(client) > 255)
        return adb_error_set(err, ADB_E_INVALID_REQUEST, "KDC probe: client name too long");
    BerElement *ber = ber_alloc_t(LBER_USE_DER);
    if (ber == NULL)
        return adb_error_set(err, ADB_E_NOMEM, "out of memory");
    /* AS-REQ (RFC 4120 5.4.1): pvno 5, msg-type 10, no padata, req-body. */
    if (ber_printf(ber, "t{{t{i}t{i}t{{", (ber_tag_t)KRB_AS_REQ_TAG, (ber_tag_t)0xa1, (ber_int_t)5,
                   (ber_tag_t)0xa2, (ber_int_t)10, (ber_tag_t)0xa4) < 0
        || ber_printf(ber, "t{to}", (ber_tag_t)0xa0, (ber_tag_t)0x03, no_options, (ber_len_t)sizeof no_options) < 0
        || ber_printf(ber, "t{{t{i}t{{ts}}}}", (ber_tag_t)0xa1, (ber_tag_t)0xa0, (ber_int_t)KRB_NT_PRINCIPAL,
                      (ber_tag_t)0xa1, (ber_tag_t)0x1b, client) < 0
        || ber_printf(ber, "t{ts}", (ber_tag_t)0xa2, (ber_tag_t)0x1b, realm) < 0
        || ber_printf(ber, "t{{t{i}t{{tsts}}}}", (ber_tag_t)0xa3, (ber_tag_t)0xa0, (ber_int_t)KRB_NT_SRV_INST,
                      (ber_tag_t)0xa1, (ber_tag_t)0x1b, "krbtgt", (ber_tag_t)0x1b, realm) < 0
        || ber_printf(ber, "t{ts}", (ber_tag_t)0xa5, (ber_tag_t)0x18, "20370913024805Z") < 0
        || ber_printf(ber, "t{i}", (ber_tag_t)0xa7, (ber_int_t)(nonce & 0x7fffffff)) < 0
        || ber_printf(ber, "t{{iii}}", (ber_tag_t)0xa8, (ber_int_t)18, (ber_int_t)17, (ber_int_t)23) < 0
        || ber_printf(ber, "}}}}") < 0 || ber_flatten(ber, &bv) < 0) {
        code = adb_error_set(err, ADB_E_INTERNAL, "KDC probe: cannot encode the AS-REQ for %s", realm);
    } else if ((*out = malloc(bv->bv_len)) == NULL) {
        code = adb_error_set(err, ADB_E_NOMEM, "out of memory");
    } else {
        memcpy(*out, bv->bv_val, bv->bv_len);
        *len = bv->bv_len;
    }
    ber_bvfree(bv);
    ber_free(ber, 1);
    return code;
}

bool adb_portprobe_reply_ok(adb_probe_kind kind, uint16_t id, const uint8_t *buf, size_t len)
{
    if (buf == NULL)
        return false;
    if (kind == ADB_PROBE_UDP_DNS)
        return len >= 12 && buf[0] == (id >> 8) && buf[1] == (id & 0xff) && (buf[2] & 0x80) != 0;
    if (kind == ADB_PROBE_UDP_KDC)
        return len >= 2 && (buf[0] == KRB_ERROR_TAG || buf[0] == KRB_AS_REP_TAG);
    return false;
}

typedef struct slot {
    int fd;
    uint16_t id;
    bool done;
    int64_t start;
} slot;

static void finish(adb_port_probe *p, slot *s, adb_port_state st, int64_t now, const char *why)
{
    p->state = st;
    p->rtt_us = st == ADB_PORT_OPEN ? (int)(now - s->start) : -1;
    snprintf(p->error, sizeof p->error, "%.*s", (int)sizeof p->error - 1, why != NULL ? why : "");
    s->done = true;
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
}

static void fail_errno(adb_port_probe *p, slot *s, int e, int64_t now)
{
    if (e == ECONNREFUSED)
        finish(p, s, ADB_PORT_CLOSED, now, p->kind == ADB_PROBE_TCP ? "connection refused"
                                                                     : "port unreachable (ICMP)");
    else if (e == EHOSTUNREACH || e == ENETUNREACH)
        finish(p, s, ADB_PORT_TIMEOUT, now, strerror(e));
    else
        finish(p, s, ADB_PORT_ERROR, now, strerror(e));
}

/* Opens the socket and sends the UDP request; leaves s->fd waiting. */
static void start(adb_port_probe *p, slot *s)
{
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(p->port) };
    uint8_t *req = NULL;
    size_t len = 0;
    adb_error e = { 0 };
    uint32_t rnd = 0;

    s->start = adb_mono_us();
    if (inet_pton(AF_INET, p->address, &sa.sin_addr) != 1) {
        finish(p, s, ADB_PORT_ERROR, s->start, "not a numeric IPv4 address");
        return;
    }
    s->fd = socket(AF_INET, (p->kind == ADB_PROBE_TCP ? SOCK_STREAM : SOCK_DGRAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s->fd < 0) {
        fail_errno(p, s, errno, s->start);
        return;
    }
    if (connect(s->fd, (struct sockaddr *)&sa, sizeof sa) < 0 && errno != EINPROGRESS) {
        fail_errno(p, s, errno, adb_mono_us());
        return;
    }
    if (p->kind == ADB_PROBE_TCP)
        return;
    if (getrandom(&rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
        rnd = (uint32_t)s->start;
    s->id = (uint16_t)rnd;
    if ((p->kind == ADB_PROBE_UDP_DNS ? adb_portprobe_dns_query(s->id, &req, &len, &e)
                                      : adb_portprobe_as_req(p->realm, p->client, rnd, &req, &len, &e)) != ADB_OK) {
        finish(p, s, ADB_PORT_ERROR, adb_mono_us(), e.message);
        return;
    }
    if (send(s->fd, req, len, 0) < 0)
        fail_errno(p, s, errno, adb_mono_us());
    free(req);
}

static void on_event(adb_port_probe *p, slot *s, short revents)
{
    int64_t now = adb_mono_us();
    uint8_t buf[MAX_DATAGRAM];
    int soerr = 0;
    socklen_t sl = sizeof soerr;
    ssize_t r;

    if (p->kind == ADB_PROBE_TCP) {
        if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
            soerr = errno;
        if (soerr != 0)
            fail_errno(p, s, soerr, now);
        else if (revents & POLLOUT)
            finish(p, s, ADB_PORT_OPEN, now, NULL);
        return;
    }
    /* Drain what arrived; a datagram that is not our answer is ignored. */
    while ((r = recv(s->fd, buf, sizeof buf, 0)) >= 0 || errno == EINTR) {
        if (r >= 0 && adb_portprobe_reply_ok(p->kind, s->id, buf, (size_t)r)) {
            finish(p, s, ADB_PORT_OPEN, now, NULL);
            return;
        }
    }
    if (errno != EAGAIN && errno != EWOULDBLOCK)
        fail_errno(p, s, errno, now);
}

adb_code adb_port_probe_all(adb_port_probe *p, size_t n, int timeout_ms, adb_error *err)
{
    if (n == 0)
        return ADB_OK;
    if (p == NULL || n > MAX_PROBES || timeout_ms <= 0)
        return adb_error_set(err, ADB_E_INVALID_REQUEST, "port probe: 1 to %d probes and a positive timeout needed",
                             MAX_PROBES);
    slot *s = calloc(n, sizeof *s);
    struct pollfd *pfd = calloc(n, sizeof *pfd);
    size_t *idx = calloc(n, sizeof *idx);
    if (s == NULL || pfd == NULL || idx == NULL) {
        free(s), free(pfd), free(idx);
        return adb_error_set(err, ADB_E_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        s[i].fd = -1;
        p[i].rtt_us = -1;
        p[i].error[0] = '\0';
        if (p[i].kind == ADB_PROBE_UDP_KDC && p[i].realm == NULL)
            finish(&p[i], &s[i], ADB_PORT_ERROR, 0, "no realm given");
        else
            start(&p[i], &s[i]);
    }
    int64_t deadline = adb_mono_us() + (int64_t)timeout_ms * 1000;
    for (;;) {
        nfds_t m = 0;
        for (size_t i = 0; i < n; i++) {
            if (s[i].done)
                continue;
            pfd[m] = (struct pollfd){ .fd = s[i].fd, .events = p[i].kind == ADB_PROBE_TCP ? POLLOUT : POLLIN };
            idx[m++] = i;
        }
        int64_t left = deadline - adb_mono_us();
        if (m == 0 || left <= 0)
            break;
        int r = poll(pfd, m, (int)((left + 999) / 1000));
        if (r < 0 && errno != EINTR)
            break;
        for (nfds_t k = 0; r > 0 && k < m; k++)
            if (pfd[k].revents != 0)
                on_event(&p[idx[k]], &s[idx[k]], pfd[k].revents);
    }
    for (size_t i = 0; i < n; i++)
        if (!s[i].done) {
            char why[64];
            snprintf(why, sizeof why, "no answer within %d ms", timeout_ms);
            finish(&p[i], &s[i], ADB_PORT_TIMEOUT, adb_mono_us(), why);
        }
    free(s), free(pfd), free(idx);
    return ADB_OK;
}
