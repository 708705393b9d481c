/* DNS SRV discovery of domain controllers with c-ares (RFC 2782).
 *
 * One call resolves one SRV name and the addresses of its targets, with a
 * deadline, against the configured servers or the system's resolv.conf.
 * c-ares 1.18 (Debian 12) neither exposes the SRV records' TTL nor the
 * additional section, so target addresses come from A and AAAA queries
 * (asked all at once) and the TTL of the result is the smallest TTL of those
 * records. */
#ifndef ADBRIDGE_DNS_H
#define ADBRIDGE_DNS_H

#include <adbridge/error.h>

#include <stddef.h>
#include <stdint.h>

#define ADB_DNS_MAX_ADDRS 8

typedef struct adb_srv_target {
    char host[256];
    uint16_t port, priority, weight;
    char addrs[ADB_DNS_MAX_ADDRS][46];   /* numeric addresses: IPv4 (A) first, then IPv6 (AAAA) */
    size_t n_addrs;
} adb_srv_target;

typedef struct adb_srv_result {
    adb_srv_target *targets;             /* RFC 2782 order */
    size_t n;
    uint32_t ttl;                        /* seconds the answer may be cached */
} adb_srv_result;

typedef struct adb_dns_options {
    const char *const *servers;          /* "IP" or "IP:port"; NULL: resolv.conf */
    size_t n_servers;
    int timeout_ms;                      /* whole call; 0: 3000 */
} adb_dns_options;

/* SRV records of name, ordered, with addresses.  Errors name the query and
 * the servers: not_found (NXDOMAIN or no SRV records), dns_failure
 * (SERVFAIL, REFUSED, malformed), timeout. */
adb_code adb_dns_srv(const adb_dns_options *opts, const char *name, adb_srv_result *out, adb_error *err);
void adb_srv_result_free(adb_srv_result *r);

/* The addresses of host (A and AAAA queries at once; IPv4 first, up to
 * ADB_DNS_MAX_ADDRS), or host itself when it is already a numeric address.
 * not_found when it has neither. */
adb_code adb_dns_addrs(const adb_dns_options *opts, const char *host, char addrs[][46], size_t *n,
                       adb_error *err);

/* The first of adb_dns_addrs. */
adb_code adb_dns_addr(const adb_dns_options *opts, const char *host, char addr[46], adb_error *err);

/* RFC 2782 order in place: priority ascending; within one priority a
 * weighted random draw (weight-0 targets first in the running sum, so they
 * are picked rarely but can be).  rnd returns uniformly random 32-bit values. */
void adb_srv_order(adb_srv_target *t, size_t n, uint32_t (*rnd)(void *ctx), void *ctx);

#endif
