/* DC locator: which domain controllers of a domain to talk to, in what order.
 *
 * Like Windows' DC locator (MS-ADTS 6.3.3, MS-NRPC DsrGetDcNameEx2): SRV
 * records from DNS (or a pinned DC list), CLDAP netlogon pings in parallel
 * (5 at once and 400 ms, then 5 more and 200 ms, then the rest; cldap.h)
 * until the first good answer, the client's site learnt from it, and, when
 * that DC is of another site, the site's own DCs pinged the same way; DCs of
 * that site first, fastest first.  Addresses from A and AAAA records.  Keeps
 * a health state per DC (down after a failure, re-probed when its backoff
 * of 5 s doubling up to 60 s runs out, so a DC that is back is used again
 * within a minute) and caches the result for the SRV records' TTL.  One
 * refresh per entry at a time: callers that find it stale while one runs
 * wait for that one's result.
 *
 * This is the single place that enforces "talk only to DCs of domains marked
 * use for subscriptions": every other module asks the locator for a DC.  It
 * enforces the flag but does not own it: it asks the flag's one owner
 * (subscriptions.h) at each use and keeps no copy. */
#ifndef ADBRIDGE_LOCATOR_H
#define ADBRIDGE_LOCATOR_H

#include <adbridge/config.h>
#include <adbridge/error.h>
#include <adbridge/log.h>
#include <adbridge/subscriptions.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct adb_locator adb_locator;

typedef enum adb_dc_state {
    ADB_DC_UP = 0,        /* answered its last ping or operation */
    ADB_DC_UNTRIED,       /* found in DNS, not pinged yet (or ping not needed) */
    ADB_DC_DOWN,          /* failed; retried after its backoff */
} adb_dc_state;

typedef struct adb_dc {
    char host[256];        /* DNS name (from SRV or the ping's DnsHostName) */
    char address[64];      /* numeric IP address used to connect */
    uint16_t ldap_port;    /* from SRV; 389 */
    char site[64];         /* DcSiteName from the ping; "" when unknown */
    uint32_t flags;        /* netlogon DS_* flags from the ping */
    int rtt_us;            /* round trip of the last ping; -1 when none */
    bool in_client_site;   /* DC's site == client's site (or DS_CLOSEST) */
    adb_dc_state state;
} adb_dc;

typedef struct adb_dc_list {
    char domain[256];
    char forest[256];       /* DnsForestName from the ping */
    char client_site[64];   /* ClientSiteName from the ping, or the pinned site */
    adb_dc *dcs;            /* ordered: best first */
    size_t n;
    bool from_cache;        /* remembered from an earlier process (adb_locator_persist): a hint; when none
                             * of its DCs answers, locate again with ADB_LOCATE_FORCE */
} adb_dc_list;

typedef enum adb_locate_flags {
    ADB_LOCATE_DEFAULT = 0,
    ADB_LOCATE_FORCE = 1 << 0,   /* ignore the cache: query DNS and ping again */
    ADB_LOCATE_GC = 1 << 1,      /* global catalogs of the domain's forest (_gc._tcp) */
} adb_locate_flags;

typedef struct adb_locator_options {
    int dns_timeout_ms;     /* 0: 3000 */
    int ping_timeout_ms;    /* first stage wait; 0: 400 (MS-DISO) */
    const char *site;       /* override the configured/learnt site; NULL: none */
    int max_age_ms;         /* a cached list older than this is stale too; 0: only its TTL counts */
} adb_locator_options;

/* A locator of cfg's domains (no others) whose "use for subscriptions"
 * flags are subs's, read at each locate and health call, so a change made
 * through adb_subscriptions_set holds from the next call on.  subs must
 * outlive the locator.  The directory builds its locator this way. */
adb_code adb_locator_new_with_subscriptions(const adb_config *cfg, adb_subscriptions *subs, const adb_logger *log,
                                            adb_locator **out, adb_error *err);
/* A stand-alone locator (`adbridge locate`, tests, benchmarks): the flags
 * are the configuration's use_for_subscriptions values, fixed; the state
 * file is not read. */
adb_code adb_locator_new(const adb_config *cfg, const adb_logger *log, adb_locator **out,
                         adb_error *err);
void adb_locator_free(adb_locator *loc);

/* Keeps what the locator finds in path (statecache.h, mode 0600) for the
 * next process, until the SRV records' TTL runs out, and starts from what an
 * earlier process left there: the CLI, which would otherwise query DNS and
 * ping DCs on every run.  A list read from the file is marked from_cache; a
 * DC of it that is reported down drops it, so the next call locates afresh.
 * Without this call (the daemon) nothing is read or written. */
adb_code adb_locator_persist(adb_locator *loc, const char *path, adb_error *err);

/* The ordered DCs of domain (copied into out; free with adb_dc_list_free).
 * Errors: domain_not_enabled, dns_failure / timeout (naming the query and
 * server), dc_unavailable (no DC answered; names the DCs tried). */
adb_code adb_locator_get(adb_locator *loc, const char *domain, adb_locate_flags flags,
                         const adb_locator_options *opts, adb_dc_list *out, adb_error *err);

void adb_dc_list_free(adb_dc_list *list);

/* Health reports from the users of a DC (the LDAP pool, Kerberos). */
void adb_locator_mark_down(adb_locator *loc, const char *domain, const char *host);
void adb_locator_mark_up(adb_locator *loc, const char *domain, const char *host);

/* Whether the locator now ranks another DC of domain strictly before host
 * (a DC of the client's site that answers again, while host is of another
 * site): the pool then lets go of a connection kept on host.  Like
 * adb_locator_get it may re-probe DCs whose backoff ran out. */
bool adb_locator_prefers_other(adb_locator *loc, const char *domain, adb_locate_flags flags, const char *host);

/* Whether adb_locator_prefers_other's answers may have changed since *seen
 * (0 the first time): a DC's health or a located list changed, or a
 * backoff or a list's TTL ran out.  Updates *seen.  Takes no lock (an
 * atomic load and a clock read), for the pool's every release. */
bool adb_locator_changed(adb_locator *loc, uint64_t *seen);

/* Counters, for tests and benchmarks: refreshes (DNS and pings of an
 * entry), re-probes of DCs whose backoff ran out, CLDAP pings sent. */
typedef struct adb_locator_stats {
    unsigned long refreshes, reprobes, pings;
} adb_locator_stats;

void adb_locator_stats_get(adb_locator *loc, adb_locator_stats *out);

/* What the locator knows now, without any network I/O (for `health`). */
typedef struct adb_dc_health {
    char domain[256];
    bool enabled;            /* use for subscriptions, as its owner says now */
    char host[256];          /* "" for a domain with no DC known yet (one row per such domain) */
    adb_dc_state state;
    unsigned failures;       /* consecutive failures */
    long retry_in_s;         /* DOWN: seconds until it is tried again */
} adb_dc_health;

/* Fills up to max rows (one per known DC of each configured domain) and
 * returns how many rows there are in all. */
size_t adb_locator_health(adb_locator *loc, adb_dc_health *out, size_t max);

#endif
