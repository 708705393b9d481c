/* DNS SRV discovery with c-ares: see include/adbridge/dns.h. */
#include "config.h"

#include <adbridge/clock.h>
#include <adbridge/dns.h>

#include <ares.h>
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEFAULT_TIMEOUT_MS 3000
#define MAX_TTL 600          /* re-discover at least every 10 minutes */

struct answer {
    int status;
    unsigned char *buf;
    int len;
    bool done;
};

static void on_answer(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
    struct answer *a = arg;
    (void)timeouts;
    a->status = status;
    a->done = true;
    if (status == ARES_SUCCESS && abuf != NULL && alen > 0 && (a->buf = malloc((size_t)alen)) != NULL) {
        memcpy(a->buf, abuf, (size_t)alen);
        a->len = alen;
    }
}

/* Drives the channel until every query answered or the deadline passed
 * (then the rest are cancelled: their callbacks see ARES_ECANCELLED). */
static void run(ares_channel ch, int64_t deadline)
{
    for (;;) {
        ares_socket_t socks[ARES_GETSOCK_MAXNUM];
        struct pollfd pfd[ARES_GETSOCK_MAXNUM];
        int bits = ares_getsock(ch, socks, ARES_GETSOCK_MAXNUM), n = 0;

        for (int i = 0; i < ARES_GETSOCK_MAXNUM; i++) {
            /* c-ares' ARES_GETSOCK_WRITABLE shifts a signed 1 into bit 31:
             * read the bits unsigned instead (readable i, writable i + 16). */
            unsigned ubits = (unsigned)bits;
            short ev = (short)(((ubits >> i) & 1u ? POLLIN : 0)
                               | ((ubits >> (i + ARES_GETSOCK_MAXNUM)) & 1u ? POLLOUT : 0));
            if (ev != 0)
                pfd[n++] = (struct pollfd){ .fd = socks[i], .events = ev };
        }
        if (n == 0)
            return;
        int64_t left = deadline - adb_mono_ms();
        if (left <= 0) {
            ares_cancel(ch);
            return;
        }
        struct timeval tv, maxtv = { .tv_sec = left / 1000, .tv_usec = (left % 1000) * 1000 };
        struct timeval *tvp = ares_timeout(ch, &maxtv, &tv);
        int wait = (int)(tvp->tv_sec * 1000 + tvp->tv_usec / 1000);
        if (poll(pfd, (nfds_t)n, wait > 0 ? wait : 1) <= 0) {
            ares_process_fd(ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);   /* retries, timeouts */
            continue;
        }
        for (int i = 0; i < n; i++)
            ares_process_fd(ch, (pfd[i].revents & (POLLIN | POLLERR | POLLHUP)) ? pfd[i].fd : ARES_SOCKET_BAD,
                            (pfd[i].revents & POLLOUT) ? pfd[i].fd : ARES_SOCKET_BAD);
    }
}

static void servers_text(const adb_dns_options *o, char *buf, size_t size)
{
    size_t off = 0;

    if (o == NULL || o->n_servers == 0) {
        snprintf(buf, size, "the servers of /etc/resolv.conf");
        return;
    }
    buf[0] = '\0';
    for (size_t i = 0; i < o->n_servers && off < size; i++)
        off += (size_t)snprintf(buf + off, size - off, "%s%s", i ? "," : "", o->servers[i]);
}

static adb_code open_channel(const adb_dns_options *o, int try_ms, ares_channel *ch, adb_error *err)
{
    struct ares_options opt = { .timeout = try_ms, .tries = 2 };
    int rc = ares_init_options(ch, &opt, ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES);

    if (rc != ARES_SUCCESS)
        return adb_error_set(err, ADB_E_DNS, "cannot start the DNS resolver: %s", ares_strerror(rc));
    if (o != NULL && o->n_servers > 0) {
        char csv[1024];
        servers_text(o, csv, sizeof csv);
        if ((rc = ares_set_servers_ports_csv(*ch, csv)) != ARES_SUCCESS) {
            ares_destroy(*ch);
            return adb_error_set(err, ADB_E_CONFIG, "dns_servers \"%s\": %s (expected IP or IP:port)", csv,
                                 ares_strerror(rc));
        }
    }
    return ADB_OK;
}

static adb_code query_error(int status, const char *what, const char *name, const char *servers, adb_error *err)
{
    switch (status) {
    case ARES_ENOTFOUND:
        return adb_error_set(err, ADB_E_NOT_FOUND, "DNS %s %s: no such name (NXDOMAIN) from %s", what, name, servers);
    case ARES_ENODATA:
        return adb_error_set(err, ADB_E_NOT_FOUND, "DNS %s %s: no %s records from %s", what, name, what, servers);
    case ARES_ETIMEOUT:
    case ARES_ECANCELLED:
        return adb_error_set(err, ADB_E_TIMEOUT, "DNS %s %s: no answer from %s in time", what, name, servers);
    case ARES_ECONNREFUSED:
        return adb_error_set(err, ADB_E_DNS, "DNS %s %s: %s refused the connection", what, name, servers);
    default:
        return adb_error_set(err, ADB_E_DNS, "DNS %s %s: %s (from %s)", what, name, ares_strerror(status), servers);
    }
}

static uint32_t random_u32(void *ctx)
{
    (void)ctx;
    uint32_t v;
    FILE *f = fopen("/dev/urandom", "rb");
    if (f == NULL || fread(&v, sizeof v, 1, f) != 1)
        v = (uint32_t)adb_mono_ms() * 2654435761u;
    if (f != NULL)
        fclose(f);
    return v;
}

static int by_priority(const void *a, const void *b)
{
    const adb_srv_target *x = a, *y = b;
    return (x->priority > y->priority) - (x->priority < y->priority);
}

void adb_srv_order(adb_srv_target *t, size_t n, uint32_t (*rnd)(void *ctx), void *ctx)
{
    qsort(t, n, sizeof *t, by_priority);
    for (size_t lo = 0; lo < n;) {
        size_t hi = lo;
        while (hi < n && t[hi].priority == t[lo].priority)
            hi++;
        /* RFC 2782: weight-0 targets first, then draw by running sum. */
        for (size_t i = lo, z = lo; i < hi; i++)
            if (t[i].weight == 0) {
                adb_srv_target tmp = t[z];
                t[z++] = t[i];
                t[i] = tmp;
            }
        for (size_t k = lo; k < hi; k++) {
            uint64_t sum = 0, run_sum = 0;
            for (size_t i = k; i < hi; i++)
                sum += t[i].weight;
            uint64_t r = rnd(ctx) % (sum + 1);
            size_t pick = k;
            for (size_t i = k; i < hi; i++) {
                run_sum += t[i].weight;
                if (run_sum >= r) {
                    pick = i;
                    break;
                }
            }
            adb_srv_target chosen = t[pick];
            memmove(&t[k + 1], &t[k], (pick - k) * sizeof *t);
            t[k] = chosen;
        }
        lo = hi;
    }
}

/* The addresses of a[0] (A) then a[1] (AAAA) answers, appended to addrs
 * up to ADB_DNS_MAX_ADDRS; lowers *ttl to the smallest record TTL. */
static void add_addrs(const struct answer a[2], char addrs[][46], size_t *n, uint32_t *ttl)
{
    for (int v6 = 0; v6 < 2; v6++) {
        struct ares_addrttl at[ADB_DNS_MAX_ADDRS];
        struct ares_addr6ttl at6[ADB_DNS_MAX_ADDRS];
        int na = ADB_DNS_MAX_ADDRS - (int)*n;
        if (na <= 0 || a[v6].status != ARES_SUCCESS || a[v6].buf == NULL
            || (v6 ? ares_parse_aaaa_reply(a[v6].buf, a[v6].len, NULL, at6, &na)
                   : ares_parse_a_reply(a[v6].buf, a[v6].len, NULL, at, &na))
                   != ARES_SUCCESS)
            continue;
        for (int j = 0; j < na; j++) {
            int t = v6 ? at6[j].ttl : at[j].ttl;
            if (v6)
                inet_ntop(AF_INET6, &at6[j].ip6addr, addrs[*n], 46);
            else
                inet_ntop(AF_INET, &at[j].ipaddr, addrs[*n], 46);
            (*n)++;
            if (t >= 0 && (uint32_t)t < *ttl)
                *ttl = (uint32_t)t;
        }
    }
}

adb_code adb_dns_srv(const adb_dns_options *opts, const char *name, adb_srv_result *out, adb_error *err)
{
    int timeout = opts != NULL && opts->timeout_ms > 0 ? opts->timeout_ms : DEFAULT_TIMEOUT_MS;
    int64_t deadline = adb_mono_ms() + timeout;
    struct answer srv = { 0 }, *a = NULL;
    struct ares_srv_reply *replies = NULL;
    char servers[1024];
    ares_channel ch;
    adb_code code;
    size_t n = 0;

    memset(out, 0, sizeof *out);
    servers_text(opts, servers, sizeof servers);
    if ((code = open_channel(opts, timeout / 2, &ch, err)) != ADB_OK)
        return code;
    ares_query(ch, name, ns_c_in, ns_t_srv, on_answer, &srv);
    run(ch, deadline);
    if (srv.status != ARES_SUCCESS || !srv.done) {
        code = query_error(srv.done ? srv.status : ARES_ETIMEOUT, "SRV", name, servers, err);
        goto out;
    }
    int rc = ares_parse_srv_reply(srv.buf, srv.len, &replies);
    if (rc != ARES_SUCCESS) {
        code = query_error(rc, "SRV", name, servers, err);
        goto out;
    }
    n = 0;
    for (struct ares_srv_reply *r = replies; r != NULL; r = r->next)
        n++;
    if ((out->targets = calloc(n, sizeof *out->targets)) == NULL || (a = calloc(2 * n, sizeof *a)) == NULL) {
        code = adb_error_set(err, ADB_E_NOMEM, "out of memory");
        goto out;
    }
    for (struct ares_srv_reply *r = replies; r != NULL; r = r->next) {
        adb_srv_target *t = &out->targets[out->n];
        if (strlen(r->host) >= sizeof t->host || r->host[0] == '\0')
            continue;                                    /* "." = service not offered */
        snprintf(t->host, sizeof t->host, "%s", r->host);
        t->port = r->port;
        t->priority = r->priority;
        t->weight = r->weight;
        out->n++;
    }
    /* Every target's addresses, A and AAAA, at once, within what is left of the deadline. */
    for (size_t i = 0; i < out->n; i++) {
        ares_query(ch, out->targets[i].host, ns_c_in, ns_t_a, on_answer, &a[2 * i]);
        ares_query(ch, out->targets[i].host, ns_c_in, ns_t_aaaa, on_answer, &a[2 * i + 1]);
    }
    run(ch, deadline);
    out->ttl = MAX_TTL;
    for (size_t i = 0; i < out->n; i++)     /* an unresolvable target is kept, without address */
        add_addrs(&a[2 * i], out->targets[i].addrs, &out->targets[i].n_addrs, &out->ttl);
    adb_srv_order(out->targets, out->n, random_u32, NULL);
    code = ADB_OK;
out:
    if (a != NULL)
        for (size_t i = 0; i < 2 * n; i++)
            free(a[i].buf);
    free(a);
    if (replies != NULL)
        ares_free_data(replies);
    free(srv.buf);
    ares_destroy(ch);
    if (code != ADB_OK)
        adb_srv_result_free(out);
    return code;
}

void adb_srv_result_free(adb_srv_result *r)
{
    if (r == NULL)
        return;
    free(r->targets);
    r->targets = NULL;
    r->n = 0;
}

adb_code adb_dns_addrs(const adb_dns_options *opts, const char *host, char addrs[][46], size_t *n,
                       adb_error *err)
{
    int timeout = opts != NULL && opts->timeout_ms > 0 ? opts->timeout_ms : DEFAULT_TIMEOUT_MS;
    unsigned char ip[sizeof(struct in6_addr)];
    struct answer a[2] = { { 0 } };
    uint32_t ttl = MAX_TTL;
    char servers[1024];
    ares_channel ch;
    adb_code code = ADB_OK;

    *n = 0;
    if (inet_pton(AF_INET, host, ip) == 1 || inet_pton(AF_INET6, host, ip) == 1) {
        snprintf(addrs[(*n)++], 46, "%s", host);
        return ADB_OK;
    }
    servers_text(opts, servers, sizeof servers);
    if ((code = open_channel(opts, timeout / 2, &ch, err)) != ADB_OK)
        return code;
    ares_query(ch, host, ns_c_in, ns_t_a, on_answer, &a[0]);
    ares_query(ch, host, ns_c_in, ns_t_aaaa, on_answer, &a[1]);
    run(ch, adb_mono_ms() + timeout);
    add_addrs(a, addrs, n, &ttl);
    if (*n == 0) {
        int st = a[0].done ? a[0].status : ARES_ETIMEOUT;
        code = query_error(st == ARES_SUCCESS ? ARES_ENODATA : st, "A/AAAA", host, servers, err);
    }
    free(a[0].buf);
    free(a[1].buf);
    ares_destroy(ch);
    return code;
}

adb_code adb_dns_addr(const adb_dns_options *opts, const char *host, char addr[46], adb_error *err)
{
    char addrs[ADB_DNS_MAX_ADDRS][46];
    size_t n;
    adb_code code = adb_dns_addrs(opts, host, addrs, &n, err);

    if (code == ADB_OK)
        snprintf(addr, 46, "%s", addrs[0]);
    return code;
}
