/* Port probes to domain controllers, all at once with one timeout
 * (adbridge diagnose, check 5).
 *
 * TCP: a non-blocking connect; open when it completes, closed when refused,
 * timeout when nothing answers (a firewall dropping packets).  UDP has no
 * handshake, so a UDP port is probed with a request its service must answer:
 * a DNS query on 53 (any well-formed reply with our id counts, whatever its
 * rcode) and a Kerberos AS-REQ without pre-authentication on 88 (a KRB-ERROR
 * such as PREAUTH_REQUIRED, or an AS-REP, counts; nothing is decrypted and no
 * password is involved).  UDP 389 is the CLDAP ping (cldap.h).  An ICMP port
 * unreachable shows as "closed"; silence as "timeout". */
#ifndef ADBRIDGE_PORTPROBE_H
#define ADBRIDGE_PORTPROBE_H

#include <adbridge/error.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum adb_probe_kind {
    ADB_PROBE_TCP = 0,
    ADB_PROBE_UDP_DNS,       /* a DNS query for the root's SOA */
    ADB_PROBE_UDP_KDC,       /* an AS-REQ for krbtgt/REALM */
} adb_probe_kind;

typedef enum adb_port_state {
    ADB_PORT_OPEN = 0,
    ADB_PORT_CLOSED,         /* connection refused / ICMP port unreachable */
    ADB_PORT_TIMEOUT,        /* no answer within the timeout */
    ADB_PORT_ERROR,          /* anything else (see error) */
} adb_port_state;

typedef struct adb_port_probe {
    const char *address;     /* in: numeric IPv4 address */
    uint16_t port;           /* in */
    adb_probe_kind kind;     /* in */
    const char *realm;       /* in, UDP_KDC: the realm asked for (upper case) */
    const char *client;      /* in, UDP_KDC: client name, e.g. "HOST$"; NULL: "adbridge-probe" */
    adb_port_state state;    /* out */
    int rtt_us;              /* out: when open; -1 otherwise */
    char error[128];         /* out: why, when not open */
} adb_port_probe;

/* Runs every probe of p[] in parallel and waits up to timeout_ms in all.
 * Fails only when it cannot start (bad arguments); each probe has its result. */
adb_code adb_port_probe_all(adb_port_probe *p, size_t n, int timeout_ms, adb_error *err);

/* "open", "closed", "timeout", "error". */
const char *adb_port_state_name(adb_port_state s);

/* The request datagrams (exposed for tests): malloc'd buffers. */
adb_code adb_portprobe_dns_query(uint16_t id, uint8_t **out, size_t *len, adb_error *err);
adb_code adb_portprobe_as_req(const char *realm, const char *client, uint32_t nonce, uint8_t **out, size_t *len,
                              adb_error *err);

/* True when buf looks like an answer of the probed service: a DNS reply
 * with id (QR set, 12+ bytes), or a Kerberos AS-REP / KRB-ERROR (its outer
 * APPLICATION tag).  Only the first bytes are looked at. */
bool adb_portprobe_reply_ok(adb_probe_kind kind, uint16_t id, const uint8_t *buf, size_t len);

#endif
