/* The CLDAP netlogon ping ("LDAP ping", MS-ADTS 6.3.3): an LDAP search over
 * UDP 389 for the rootDSE's Netlogon attribute, sent to several DCs at once,
 * over IPv4 or IPv6.
 * Encoded and decoded with liblber (Debian's libldap has no cldap://). */
#ifndef ADBRIDGE_CLDAP_H
#define ADBRIDGE_CLDAP_H

#include <adbridge/error.h>
#include <adbridge/netlogon.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What the ping asks for: NETLOGON_NT_VERSION_5 | 5EX | WITH_CLOSEST_SITE. */
#define ADB_CLDAP_NTVER (ADB_NT_VERSION_5 | ADB_NT_VERSION_5EX | ADB_NT_VERSION_WITH_CLOSEST_SITE)

typedef struct adb_cldap_ping {
    const char *address;     /* in: numeric IPv4 or IPv6 address of the DC */
    uint16_t port;           /* in: 0 = 389 */
    bool settled;            /* out: false when never sent, or still awaited when a search stopped
                              * at another DC's answer (no verdict on this one) */
    adb_code code;           /* out, when settled: ADB_OK, timeout, dc_unavailable, protocol_error */
    char error[768];         /* out: why, when code != ADB_OK */
    int rtt_us;              /* out: round trip from the first send, when answered */
    adb_netlogon reply;      /* out: decoded answer when ADB_OK */
} adb_cldap_ping;

/* The DC locator's schedule (MS-DISO 5.4.5.3, as Windows' DsGetDcName and
 * SSSD): ADB_CLDAP_BATCH DCs with first_ms to answer, the next
 * ADB_CLDAP_BATCH with first_ms / 2, then all the rest with first_ms.  A
 * batch where every DC has already answered or failed ends at once.  Each
 * batch re-sends its request, once, to its DCs that have not answered at
 * half its wait: a lost datagram costs half a wait, not the DC. */
#define ADB_CLDAP_BATCH 5
#define ADB_CLDAP_FIRST_MS 400

/* Which answer ends a search: NULL takes any decoded one. */
typedef bool (*adb_cldap_good)(const adb_netlogon *reply, void *ctx);

/* Pings pings[] in that order on the schedule above and stops at the first
 * good answer; answers that come late from an earlier batch still count
 * while later batches run.  *winner is its index, or n when none answered
 * well.  Fails only when it cannot start (bad arguments, no memory). */
adb_code adb_cldap_search(adb_cldap_ping *pings, size_t n, const char *domain, int first_ms, adb_cldap_good good,
                          void *ctx, size_t *winner, adb_error *err);

/* Pings every DC of pings[] at once and waits up to timeout_ms for all of
 * them (re-sent once at half the wait), for a view of every DC
 * (`adbridge diagnose`).  Every ping ends settled. */
adb_code adb_cldap_ping_all(adb_cldap_ping *pings, size_t n, const char *domain, int timeout_ms, adb_error *err);

/* The request datagram (for tests and fuzzing): a malloc'd buffer. */
adb_code adb_cldap_encode(int msgid, const char *domain, uint32_t ntver, uint8_t **out, size_t *out_len,
                          adb_error *err);

/* Decodes a reply datagram: checks the message id and returns the Netlogon
 * blob's decoding. protocol_error for anything else. */
adb_code adb_cldap_decode(const uint8_t *buf, size_t len, int msgid, uint32_t ntver, adb_netlogon *out,
                          adb_error *err);

#endif
