/* Dialling the broker directly or through an HTTP CONNECT proxy (proxy.h). */
#include "config.h"

#include <adbridge/clock.h>
#include <adbridge/fileio.h>
#include <adbridge/proxy.h>

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum { RESPONSE_HEAD_MAX = 8192 };

static int remaining(int64_t deadline_ms)
{
    int64_t r = deadline_ms - adb_mono_ms();
    return r < 0 ? 0 : r > INT32_MAX ? INT32_MAX : (int)r;
}

static void tune_socket(int fd)
{
    int one = 1;
    /* Small request/reply traffic: never wait for Nagle or a delayed ACK. */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
#ifdef TCP_QUICKACK
    setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
#endif
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
}

/* Non-blocking connect to each address of host:port in turn. */
static adb_code tcp_connect(const char *host, unsigned port, int64_t deadline_ms, int *fd_out, const char **stage,
                            adb_error *err)
{
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_ADDRCONFIG };
    struct addrinfo *res = NULL, *ai;
    char portstr[8];
    char last[256] = "no address";
    adb_code rc = ADB_E_IO;
    int gai;

    snprintf(portstr, sizeof portstr, "%u", port);
    *stage = "resolve";
    /* getaddrinfo has no timeout of its own; the resolver's (resolv.conf) bounds it. */
    if ((gai = getaddrinfo(host, portstr, &hints, &res)) != 0)
        return adb_error_set(err, ADB_E_DNS, "cannot resolve %s: %s", host, gai_strerror(gai));
    *stage = "tcp";
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
        struct pollfd pfd;
        int soerr = 0;
        socklen_t sl = sizeof soerr;
        int pr;

        if (fd < 0) {
            snprintf(last, sizeof last, "socket: %s", strerror(errno));
            continue;
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0 && errno != EINPROGRESS) {
            snprintf(last, sizeof last, "%s", strerror(errno));
            close(fd);
            continue;
        }
        pfd = (struct pollfd){ .fd = fd, .events = POLLOUT };
        do
            pr = poll(&pfd, 1, remaining(deadline_ms));
        while (pr < 0 && errno == EINTR);
        if (pr == 0) {
            close(fd);
            rc = ADB_E_TIMEOUT;
            snprintf(last, sizeof last, "no answer before the deadline");
            break;
        }
        if (pr < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0 || soerr != 0) {
            snprintf(last, sizeof last, "%s", strerror(soerr != 0 ? soerr : errno));
            close(fd);
            continue;
        }
        tune_socket(fd);
        freeaddrinfo(res);
        *fd_out = fd;
        return ADB_OK;
    }
    freeaddrinfo(res);
    return adb_error_set(err, rc, "cannot connect to %s port %u: %s", host, port, last);
}

static adb_code send_all(int fd, const char *buf, size_t len, int64_t deadline_ms, const char *what, adb_error *err)
{
    while (len > 0) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
        if (n > 0) {
            buf += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd pfd = { .fd = fd, .events = POLLOUT };
            int pr = poll(&pfd, 1, remaining(deadline_ms));
            if (pr == 0)
                return adb_error_set(err, ADB_E_TIMEOUT, "%s: sending timed out", what);
            continue;
        }
        return adb_error_set(err, ADB_E_IO, "%s: send failed: %s", what, strerror(errno));
    }
    return ADB_OK;
}

/* The CONNECT exchange.  The response head is read one byte at a time so
 * nothing that belongs to the tunnel is swallowed. */
static adb_code proxy_connect(int fd, const adb_proxy_config *p, const char *host, unsigned port,
                              int64_t deadline_ms, adb_error *err)
{
    char what[300];
    char head[RESPONSE_HEAD_MAX];
    size_t hlen = 0;
    char *req = NULL;
    size_t reqcap;
    adb_secret *cred = NULL;
    char *b64 = NULL;
    adb_code rc;
    int n;

    snprintf(what, sizeof what, "proxy %s port %u", p->host, p->port);
    if (p->credentials_file != NULL) {
        size_t b64len;
        if ((rc = adb_secret_file_read(p->credentials_file, "proxy credentials", ADB_SECRET_LINE_MAX, ADB_SECRET_FILE_LINE, &cred, NULL, err)) != ADB_OK)
            return rc;
        if (memchr(adb_secret_cdata(cred), ':', adb_secret_len(cred)) == NULL) {
            adb_secret_free(cred);
            return adb_error_set(err, ADB_E_CONFIG, "proxy credentials file %s must hold user:password on one line",
                                 p->credentials_file);
        }
        b64len = sodium_base64_ENCODED_LEN(adb_secret_len(cred), sodium_base64_VARIANT_ORIGINAL);
        if ((b64 = sodium_malloc(b64len)) == NULL) {
            adb_secret_free(cred);
            return adb_error_set(err, ADB_E_NOMEM, "out of memory");
        }
        sodium_bin2base64(b64, b64len, adb_secret_cdata(cred), adb_secret_len(cred), sodium_base64_VARIANT_ORIGINAL);
        adb_secret_free(cred);
    }
    reqcap = 2 * strlen(host) + 256 + (b64 != NULL ? strlen(b64) : 0);
    if ((req = sodium_malloc(reqcap)) == NULL) {
        if (b64 != NULL)
            sodium_free(b64);
        return adb_error_set(err, ADB_E_NOMEM, "out of memory");
    }
    n = snprintf(req, reqcap, "CONNECT %s:%u HTTP/1.1\r\nHost: %s:%u\r\n%s%s%s\r\n", host, port, host, port,
                 b64 != NULL ? "Proxy-Authorization: Basic " : "", b64 != NULL ? b64 : "", b64 != NULL ? "\r\n" : "");
    if (b64 != NULL)
        sodium_free(b64);
    /* The request holds the credentials: it lives in wiped memory only. */
    rc = send_all(fd, req, (size_t)n, deadline_ms, what, err);
    sodium_free(req);
    if (rc != ADB_OK)
        return rc;

    for (;;) {
        ssize_t r;
        if (hlen == sizeof head - 1)
            return adb_error_set(err, ADB_E_PROTOCOL, "%s: response head longer than %d bytes", what,
                                 RESPONSE_HEAD_MAX);
        r = recv(fd, head + hlen, 1, 0);
        if (r == 1) {
            hlen++;
            if (hlen >= 4 && memcmp(head + hlen - 4, "\r\n\r\n", 4) == 0)
                break;
            continue;
        }
        if (r == 0)
            return adb_error_set(err, ADB_E_PROTOCOL, "%s closed the connection during CONNECT", what);
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            struct pollfd pfd = { .fd = fd, .events = POLLIN };
            if (poll(&pfd, 1, remaining(deadline_ms)) == 0)
                return adb_error_set(err, ADB_E_TIMEOUT, "%s: no CONNECT response before the deadline", what);
            continue;
        }
        return adb_error_set(err, ADB_E_IO, "%s: receive failed: %s", what, strerror(errno));
    }
    head[hlen] = '\0';
    {
        char *eol = strstr(head, "\r\n");
        int major, minor, status;
        char vis[128];
        size_t i, j = 0;

        *eol = '\0';
        /* Quote the status line safely: printable ASCII only. */
        for (i = 0; head[i] != '\0' && j + 1 < sizeof vis; i++)
            vis[j++] = (head[i] >= 0x20 && head[i] < 0x7f) ? head[i] : '?';
        vis[j] = '\0';
        if (sscanf(head, "HTTP/%d.%d %3d", &major, &minor, &status) != 3)
            return adb_error_set(err, ADB_E_PROTOCOL, "%s: not an HTTP response: \"%s\"", what, vis);
        if (status == 407)
            return adb_error_set(err, ADB_E_PROTOCOL,
                                 "%s refused the tunnel to %s:%u: \"%s\" — %s", what, host, port, vis,
                                 p->credentials_file != NULL ? "check the user:password in the proxy credentials file"
                                                             : "the proxy wants credentials: set broker.proxy.credentials_file");
        if (status < 200 || status > 299)
            return adb_error_set(err, ADB_E_PROTOCOL, "%s refused the tunnel to %s:%u: \"%s\"%s", what, host, port,
                                 vis, status == 403 ? " (does the proxy allow CONNECT to this port?)" : "");
    }
    return ADB_OK;
}

adb_code adb_dial(const adb_proxy_config *proxy, const char *host, unsigned port, int64_t deadline_ms, int *fd_out,
                  adb_dial_times *times, const char **stage, adb_error *err)
{
    bool via = proxy != NULL && proxy->host != NULL && proxy->host[0] != '\0';
    const char *st = "tcp";
    adb_dial_times t = { -1, -1 };
    double t0 = adb_mono_ms_f();
    adb_code rc;
    int fd = -1;

    *fd_out = -1;
    rc = via ? tcp_connect(proxy->host, proxy->port != 0 ? proxy->port : 3128, deadline_ms, &fd, &st, err)
             : tcp_connect(host, port, deadline_ms, &fd, &st, err);
    if (rc == ADB_OK) {
        t.tcp_ms = adb_mono_ms_f() - t0;
        if (via) {
            double t1 = adb_mono_ms_f();
            st = "proxy";
            if ((rc = proxy_connect(fd, proxy, host, port, deadline_ms, err)) == ADB_OK)
                t.proxy_ms = adb_mono_ms_f() - t1;
            else {
                close(fd);
                fd = -1;
            }
        }
    } else if (via) {
        adb_error_prefix(err, "HTTP proxy");
    }
    if (times != NULL)
        *times = t;
    if (stage != NULL)
        *stage = rc == ADB_OK ? NULL : st;
    *fd_out = fd;
    return rc;
}
