/* Dialling the broker: a TCP connection made directly, or a tunnel through
 * an HTTP CONNECT proxy (RFC 9110 9.3.6) with optional Basic credentials.
 *
 * The socket that comes back is connected end to end (TLS and AMQP run
 * through it unchanged), non-blocking, close-on-exec, with TCP_NODELAY and
 * TCP_QUICKACK set: without them a proxy in the path adds ~40 ms stalls
 * (Nagle against delayed ACKs) to every small request/reply.
 *
 * Everything the proxy sends is untrusted: the response head is read with a
 * size cap, byte by byte (nothing after the blank line is consumed: it
 * belongs to the tunnel), and only its status line is interpreted. */
#ifndef ADBRIDGE_PROXY_H
#define ADBRIDGE_PROXY_H

#include <adbridge/config.h>
#include <adbridge/error.h>
#include <adbridge/secmem.h>

#include <stdint.h>

typedef struct adb_dial_times {
    double tcp_ms;     /* TCP connect to the first hop; -1 when not reached */
    double proxy_ms;   /* CONNECT request to 200 response; -1 when no proxy or not reached */
} adb_dial_times;

/* Connects to host:port, through proxy when proxy->host is set (proxy may be
 * NULL), before deadline_ms (adb_mono_ms, clock.h).
 * *stage (may be NULL) gets the stage that failed: "resolve", "tcp" or
 * "proxy".  Errors: dns_failure, timeout, io_error (refused, unreachable),
 * protocol_error (the proxy answered something other than 200: the message
 * quotes its status line), config_invalid (credentials file). */
adb_code adb_dial(const adb_proxy_config *proxy, const char *host, unsigned port, int64_t deadline_ms,
                  int *fd_out, adb_dial_times *times, const char **stage, adb_error *err);

#endif
