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
    p->code = code;
    snprintf(p->error, sizeof p->error, "CLDAP ping %s:%u: %s", p->address, p->port ? p->port : 389, why);
}

adb_code adb_cldap_ping_all(adb_cldap_ping *pings, size_t n, const char *domain, int timeout_ms, adb_error *err)
{
    struct pollfd *pfd = calloc(n ? n : 1, sizeof *pfd);
    int *ids = calloc(n ? n : 1, sizeof *ids);
    int64_t *sent = calloc(n ? n : 1, sizeof *sent);
    uint8_t buf[MAX_DATAGRAM];
    size_t pending = 0;
    adb_code code = ADB_OK;

    if (pfd == NULL || ids == NULL || sent == NULL) {
        code = adb_error_set(err, ADB_E_NOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        adb_cldap_ping *p = &pings[i];
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(p->port ? p->port : 389) };
        uint32_t r = 0;
        uint8_t *req;
        size_t req_len;

        pfd[i].fd = -1;
        p->rtt_us = -1;
        p->error[0] = '\0';
        if (inet_pton(AF_INET, p->address, &sa.sin_addr) != 1) {
            fail(p, ADB_E_INVALID_REQUEST, "not an IPv4 address");
            continue;
        }
        if (getrandom(&r, sizeof r, 0) != sizeof r)
            r = (uint32_t)adb_mono_us();
        ids[i] = (int)(r & 0x7fffffff) | 1;
        if ((code = adb_cldap_encode(ids[i], domain, ADB_CLDAP_NTVER, &req, &req_len, err)) != ADB_OK)
            goto out;
        /* A connected socket: the kernel drops datagrams from any other
         * address, and a closed port comes back as ECONNREFUSED at once. */
        pfd[i].fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (pfd[i].fd < 0 || connect(pfd[i].fd, (struct sockaddr *)&sa, sizeof sa) < 0
            || send(pfd[i].fd, req, req_len, 0) != (ssize_t)req_len) {
            fail(p, ADB_E_DC_UNAVAILABLE, strerror(errno));
            free(req);
            continue;
        }
        free(req);
        sent[i] = adb_mono_us();
        pfd[i].events = POLLIN;
        p->code = ADB_E_TIMEOUT;
        pending++;
    }
    int64_t deadline = adb_mono_us() + (int64_t)(timeout_ms > 0 ? timeout_ms : 1000) * 1000;
    while (pending > 0) {
        int64_t left = deadline - adb_mono_us();
        if (left <= 0 || poll(pfd, (nfds_t)n, (int)((left + 999) / 1000)) < 0)
            break;
        for (size_t i = 0; i < n; i++) {
            adb_cldap_ping *p = &pings[i];
            if (pfd[i].fd < 0 || pfd[i].events == 0 || pfd[i].revents == 0)
                continue;
            ssize_t got = recv(pfd[i].fd, buf, sizeof buf, 0);
            if (got < 0 && (errno == EAGAIN || errno == EINTR))
                continue;
            adb_error perr = { 0 };
            bool other_id = false;
            if (got < 0) {
                fail(p, ADB_E_DC_UNAVAILABLE, errno == ECONNREFUSED ? "port refused (no CLDAP service)" : strerror(errno));
            } else if (decode(buf, (size_t)got, ids[i], ADB_CLDAP_NTVER, &p->reply, &other_id, &perr) != ADB_OK) {
                if (other_id)       /* a late answer to an earlier ping: wait for ours */
                    continue;
                fail(p, perr.code, perr.message);
            } else {
                p->code = ADB_OK;
                p->rtt_us = (int)(adb_mono_us() - sent[i]);
            }
            pfd[i].events = 0;
            pending--;
        }
    }
    for (size_t i = 0; i < n; i++)
        if (pfd[i].fd >= 0 && pfd[i].events != 0)
            fail(&pings[i], ADB_E_TIMEOUT, "no answer within the ping timeout");
out:
    for (size_t i = 0; pfd != NULL && i < n; i++)
        if (pfd[i].fd >= 0)
            close(pfd[i].fd);
    free(pfd);
    free(ids);
    free(sent);
    return code;
}
