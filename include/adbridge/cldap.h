/* The CLDAP netlogon ping ("LDAP ping", MS-ADTS 6.3.3): an LDAP search over
 * UDP 389 for the rootDSE's Netlogon attribute, sent to several DCs at once.
 * Encoded and decoded with liblber (Debian's libldap has no cldap://). */
#ifndef ADBRIDGE_CLDAP_H
#define ADBRIDGE_CLDAP_H

#include <adbridge/error.h>
#include <adbridge/netlogon.h>

#include <stddef.h>
#include <stdint.h>

/* What the ping asks for: NETLOGON_NT_VERSION_5 | 5EX | WITH_CLOSEST_SITE. */
#define ADB_CLDAP_NTVER (ADB_NT_VERSION_5 | ADB_NT_VERSION_5EX | ADB_NT_VERSION_WITH_CLOSEST_SITE)

typedef struct adb_cldap_ping {
    const char *address;     /* in: numeric IPv4 address of the DC */
    uint16_t port;           /* in: 0 = 389 */
    adb_code code;           /* out: ADB_OK, timeout, dc_unavailable, protocol_error */
    char error[768];         /* out: why, when code != ADB_OK */
    int rtt_us;              /* out: round trip when answered */
    adb_netlogon reply;      /* out: decoded answer when ADB_OK */
} adb_cldap_ping;

/* Pings every DC of pings[] in parallel for domain and waits up to
 * timeout_ms for all answers.  Each ping gets its own result; the call
 * fails only when it cannot start (bad arguments, no sockets). */
adb_code adb_cldap_ping_all(adb_cldap_ping *pings, size_t n, const char *domain, int timeout_ms, adb_error *err);

/* The request datagram (for tests and fuzzing): a malloc'd buffer. */
adb_code adb_cldap_encode(int msgid, const char *domain, uint32_t ntver, uint8_t **out, size_t *out_len,
                          adb_error *err);

/* Decodes a reply datagram: checks the message id and returns the Netlogon
 * blob's decoding. protocol_error for anything else. */
adb_code adb_cldap_decode(const uint8_t *buf, size_t len, int msgid, uint32_t ntver, adb_netlogon *out,
                          adb_error *err);

#endif
