/* The directory operations the cloud and the CLI use: get a user or group by
 * any identifier, search (people picker), a user's groups, a group's
 * members, the topology and the "use for subscriptions" flags.
 *
 * Each operation is a straight-line function meant for a worker thread: it
 * blocks on LDAP calls that each have a timeout, runs them through the
 * connection pool (which fails over to the next DC), and only ever talks to
 * domains enabled for subscriptions (the locator enforces it).  Results come
 * from the cache when they can; a cache hit never touches the network.
 * Every LDAP filter is built with filter.h from the request's values.
 *
 * Errors: not_found, ambiguous (a bare name in several domains: the message
 * and the candidates list name them), domain_not_enabled, invalid_request
 * (malformed id, prefix, limit or cursor), dc_unavailable, timeout; and the
 * lower layers' (kerberos_error, ldap_error, ...) with their messages.
 *
 * All functions are thread-safe. */
#ifndef ADBRIDGE_DIRECTORY_H
#define ADBRIDGE_DIRECTORY_H

#include <adbridge/cache.h>
#include <adbridge/config.h>
#include <adbridge/cursor.h>
#include <adbridge/error.h>
#include <adbridge/log.h>
#include <adbridge/object.h>
#include <adbridge/pool.h>
#include <adbridge/subscriptions.h>
#include <adbridge/topology.h>

#include <stdbool.h>
#include <stddef.h>

typedef struct adb_dir adb_dir;

enum {
    ADB_SEARCH_DEFAULT_LIMIT = 50,
    ADB_SEARCH_MAX_LIMIT = 1000,
    ADB_SEARCH_PREFIX_MAX = 256,
    ADB_MEMBERS_DEFAULT_LIMIT = 1000,
    ADB_MEMBERS_MAX_LIMIT = 10000,
};

typedef enum adb_dir_gc_mode {
    ADB_DIR_GC_AUTO = 0,   /* search a forest's GC when 2+ of its domains are enabled */
    ADB_DIR_GC_ALWAYS,     /* always find search candidates on the GC */
    ADB_DIR_GC_NEVER,      /* search every enabled domain on its own DCs */
} adb_dir_gc_mode;

typedef struct adb_dir_options {
    adb_cache_options cache;
    adb_pool_options pool;
    int topology_ttl_s;          /* re-read the topology after this; 0: 900 */
    adb_dir_gc_mode search_gc;
    size_t max_expansion;        /* bound on members collected by one expansion; 0: 1,000,000 */
    adb_search_index search_index;   /* config.h */
    int search_index_refresh_s;  /* read what changed this often; 0: 60 */
} adb_dir_options;

/* The options the configuration gives the daemon: its "cache" (TTLs and
 * the search index).  adb_dir_open with NULL options takes the same TTLs
 * with the index off (the CLI answers one request: no index to build). */
void adb_dir_options_from_config(const adb_config *cfg, adb_dir_options *out);

/* Builds the stack from the configuration: the persisted flags (which the
 * locator asks; it keeps no copy), the locator, the machine credentials
 * (keytab; no KDC contact yet), the connection pool and the cache.  The
 * joined domain is the realm of the machine principal.  Reads no directory
 * data. */
adb_code adb_dir_open(const adb_config *cfg, const adb_logger *log, const adb_dir_options *opts, adb_dir **out,
                      adb_error *err);
void adb_dir_free(adb_dir *d);

const char *adb_dir_joined_domain(const adb_dir *d);
adb_subscriptions *adb_dir_subscriptions(adb_dir *d);

/* One object by identifier (see ident.h; domain qualifies a bare name and
 * may be NULL).  kinds: ADB_KINDS_* mask; an object of another kind is
 * not_found ("... is a group, not a user").  On ambiguous, candidates (may be
 * NULL) receives every match.  *out is a reference: adb_object_unref it. */
adb_code adb_dir_get(adb_dir *d, const char *id, const char *domain, unsigned kinds, adb_object **out,
                     adb_object_list *candidates, adb_error *err);

/* How fresh an answer is. */
typedef struct adb_dir_freshness {
    bool stale;           /* from the cache: no DC of its domain answered */
    int64_t age_s;        /* stale: seconds since it was read from a DC */
} adb_dir_freshness;

/* adb_dir_get, and when no DC of the object's domain answers
 * (dc_unavailable), the object as the cache last held it if it was read at
 * most cache.stale_max_age_s ago (fresh->stale, with its age; logged as
 * stale_answer).  For lookups only: a password check never takes a stale
 * object.  fresh may be NULL (= adb_dir_get). */
adb_code adb_dir_get_or_stale(adb_dir *d, const char *id, const char *domain, unsigned kinds, adb_object **out,
                              adb_object_list *candidates, adb_dir_freshness *fresh, adb_error *err);

/* One page of a listing. */
typedef struct adb_dir_page {
    adb_object_list items;
    char next_cursor[ADB_CURSOR_TEXT_MAX];   /* "" on the last page */
} adb_dir_page;

void adb_dir_page_clear(adb_dir_page *p);

typedef struct adb_dir_search_request {
    const char *prefix;   /* of sAMAccountName, displayName, mail or userPrincipalName */
    unsigned kinds;       /* ADB_KINDS_USER and/or ADB_KINDS_GROUP; 0: both */
    size_t limit;         /* 1..ADB_SEARCH_MAX_LIMIT; 0: ADB_SEARCH_DEFAULT_LIMIT */
    const char *cursor;   /* next_cursor of the previous page, or NULL */
} adb_dir_search_request;

/* People picker: users and/or groups whose names start with prefix, in all
 * enabled domains, ordered by account name then domain. */
adb_code adb_dir_search(adb_dir *d, const adb_dir_search_request *req, adb_dir_page *out, adb_error *err);

/* Every group the user is in, transitively (tokenGroups, with the primary
 * group, resolved in batches), plus groups of other forests that hold the
 * user or its groups through foreign security principals.  Ordered.
 * *user_out (may be NULL) receives the user. */
adb_code adb_dir_groups_of(adb_dir *d, const char *user, const char *domain, adb_object **user_out,
                           adb_object_list *out, adb_error *err);

typedef struct adb_dir_members_request {
    const char *group;
    const char *domain;   /* qualifies a bare name; may be NULL */
    bool transitive;      /* every non-group principal reachable through nesting */
    size_t limit;         /* 1..ADB_MEMBERS_MAX_LIMIT; 0: ADB_MEMBERS_DEFAULT_LIMIT */
    const char *cursor;
    unsigned fields;      /* ADB_FIELD_* the caller will show; 0: all.  Within
                             ADB_FIELDS_NAMES, members are read with
                             ADB_ATTRS_NAMES (cheaper per entry on the DC) */
} adb_dir_members_request;

/* A group's members, one page at a time, ordered.  Direct: the member
 * values (range retrieval) resolved to objects, nested groups included as
 * groups.  Transitive: nested groups are expanded (cycles terminate) and
 * only the principals found are listed, each once.  Members from another
 * forest (foreign security principals) are resolved there.  The expansion is
 * cached, so later pages are served from memory.  *group_out (may be NULL)
 * receives the group. */
adb_code adb_dir_members(adb_dir *d, const adb_dir_members_request *req, adb_object **group_out,
                         adb_dir_page *out, adb_error *err);

/* The Kerberos name a user identifier most likely has, without reading
 * the directory: name@domain for DOMAIN\name (or a name with its domain;
 * a bare name: the joined domain), the UPN itself when its suffix is an
 * enabled domain; and that domain.  False for SIDs, GUIDs, DNs and other
 * UPN suffixes.
 * A password check starts its KDC exchange with it while it reads the
 * account (auth.c), and uses it only if the account says the same. */
bool adb_dir_principal_guess(adb_dir *d, const char *id, const char *domain, char *principal, size_t psize,
                             char *domain_dns, size_t dsize);

/* The topology (read on first use and after topology_ttl_s; refresh forces
 * a new read).  *out is a reference: adb_topology_unref it. */
adb_code adb_dir_topology(adb_dir *d, bool refresh, adb_topology **out, adb_error *err);

/* Enables or disables a domain for use: persisted (the locator reads that
 * same flag, so it holds from the next request on), then cached results are
 * dropped.  domain: a DNS name, or a NetBIOS name the topology knows.
 * not_found for a domain that is not in the configuration. */
adb_code adb_dir_set_enabled(adb_dir *d, const char *domain, bool enabled, adb_error *err);

/* Drops what the cache holds about one identifier (every key of the object
 * it names, and its memberships), or everything when id is NULL; then the
 * search indexes are refreshed at once too (in the background). */
void adb_dir_invalidate(adb_dir *d, const char *id);

typedef struct adb_dir_stats {
    adb_cache_stats cache;
    adb_pool_stats pool;
    unsigned long topology_reads;
    unsigned long fsp_index_reads;   /* reads of a domain's foreign security principals (groups-of) */
    unsigned long search_index_builds;      /* full reads of a domain's names */
    unsigned long search_index_refreshes;   /* refreshes: a rootDSE read, and ... */
    unsigned long search_index_change_reads;   /* ... a search of what changed when its USN moved */
    unsigned long search_index_answers;     /* searches answered from the index (no DC scan) */
    size_t search_index_objects, search_index_bytes;   /* held now, all domains */
    int64_t search_index_build_ms, search_index_refresh_ms;   /* the last of each, wall time */
} adb_dir_stats;

void adb_dir_stats_get(adb_dir *d, adb_dir_stats *out);

/* The stack's parts, for modules built on the directory (auth.h, health). */
adb_locator *adb_dir_locator(adb_dir *d);
adb_pool *adb_dir_pool(adb_dir *d);
adb_krb *adb_dir_krb(adb_dir *d);
const adb_config *adb_dir_config(const adb_dir *d);

#endif
