/* PRIVATE to the directory: only src/dir/directory.c and src/dir/dir_*.c
 * include this header.  The public API is include/adbridge/directory.h.
 *
 * What the directory's files share:
 *   directory.c     the stack (struct adb_dir), topology, which domains an
 *                   operation may use, pages, the flag, invalidation, stats
 *   dir_read.c      LDAP searches through the pool, OR-batched filters
 *   dir_keys.c      cache keys, and putting objects and lists in the cache
 *   dir_get.c       one object by identifier
 *   dir_resolve.c   SIDs to objects, in batches (members, groups-of)
 *   dir_members.c   a group's members
 *   dir_groups.c    a user's groups (groups-of)
 *   dir_search.c    people picker
 *   dir_names.c     the search index and the thread that keeps it fresh
 *
 * Each operation reads top to bottom: parse and validate, try the cache, get
 * the topology, route to domains, run blocking LDAP reads through
 * adb_pool_run (one retry on the next DC), decode, cache, answer.  LDAP work
 * is wrapped in small "ops" (a struct of arguments and a function) because
 * the pool calls back with a connection; every op starts from scratch, as the
 * pool may run it a second time on another DC. */
#ifndef ADBRIDGE_DIR_INTERNAL_H
#define ADBRIDGE_DIR_INTERNAL_H

#include <adbridge/directory.h>
#include <adbridge/ident.h>
#include <adbridge/krb.h>
#include <adbridge/ldap_conn.h>
#include <adbridge/locator.h>

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

enum {
    DIR_KEY_MAX = ADB_IDENT_MAX + 320,   /* one cache key */
    DIR_OBJECT_KEYS_MAX = 6,             /* keys one object can be asked by */
};

struct adb_dir {
    const adb_config *cfg;
    const adb_logger *log;
    adb_dir_options o;
    adb_subscriptions *subs;      /* the one owner of "use for subscriptions" */
    adb_locator *loc;             /* asks subs; keeps no flag of its own */
    adb_krb *krb;
    adb_pool *pool;
    adb_cache *cache;
    char joined[ADB_DOMAIN_MAX];
    pthread_mutex_t topo_mu;      /* guards topo, topo_at, topology_reads */
    pthread_mutex_t refresh_mu;   /* one topology read at a time */
    adb_topology *topo;
    time_t topo_at;
    unsigned long topology_reads;
    unsigned long fsp_index_reads;   /* atomic (dir_fsp.c) */
    struct dir_names_mgr *names;     /* dir_names.c; NULL: search index off */
    char *topo_file;              /* the CLI's topology cache (statecache.h); NULL: none */
};

/* ---- directory.c: which domains an operation may use; pages ---- */

/* Why a domain cannot be used (not enabled, level too old, unreadable), as
 * an error; ADB_OK when it can. */
adb_code dir_check_usable(adb_dir *d, const adb_topo_domain *td, adb_error *err);
/* td is not NULL and can be used. */
bool dir_usable(adb_dir *d, const adb_topo_domain *td);
/* Where objects read from td come from (all NULL for td NULL). */
adb_object_origin dir_origin_of(const adb_topo_domain *td);
/* Every usable domain of t, in a malloc'd array; domain_not_enabled when none. */
adb_code dir_all_domains(adb_dir *d, const adb_topology *t, const adb_topo_domain ***out, size_t *n,
                         adb_error *err);
/* out->next_cursor: the page after key, bound to the request. */
adb_code dir_set_next_cursor(adb_dir_page *out, adb_cursor_op op, uint64_t binding, const char *key,
                             adb_error *err);

/* ---- dir_read.c: LDAP reads through the pool ---- */

typedef adb_code (*dir_entry_fn)(const adb_ldap_entry *e, void *arg, adb_error *err);

/* One search: every entry goes to on_entry; reset (may be NULL) runs first,
 * as the pool may run the search again on another DC. */
typedef struct dir_search_op {
    const char *base;
    int scope;
    const char *filter;
    const char *const *attrs;
    dir_entry_fn on_entry;
    void (*reset)(void *arg);
    void *arg;
} dir_search_op;

adb_code dir_run_search(adb_dir *d, const char *domain, adb_pool_kind kind, dir_search_op *op, adb_error *err);
/* The same, unpaged while the server allows (adb_ldap_search_begin with
 * page_size -1): for a scan of small entries whose count the server bounds. */
adb_code dir_run_scan(adb_dir *d, const char *domain, adb_pool_kind kind, dir_search_op *op, adb_error *err);

/* Objects matching filter under base (NULL: the domain's NC) in the domain
 * td, appended to out.  Lookups of one object ask for ADB_ATTRS_FULL,
 * listings for ADB_ATTRS_LIST. */
adb_code dir_search_objects(adb_dir *d, const adb_topo_domain *td, const char *base, int scope,
                            const char *filter, adb_attr_set set, adb_object_list *out, adb_error *err);
/* The same unpaged while the server allows (dir_run_scan): on Samba a paged
 * search costs the DC about twice the CPU per entry; where the server's size
 * limit cuts the answer (AD's MaxPageSize), it is asked again paged. */
adb_code dir_scan_objects(adb_dir *d, const adb_topo_domain *td, const char *base, int scope,
                          const char *filter, adb_attr_set set, adb_object_list *out, adb_error *err);

/* Filter items (each a complete filter from adb_filter_build) to OR together. */
typedef struct dir_items {
    char **v;
    size_t n, cap;
} dir_items;

/* Takes over item (NULL: out of memory) in every case. */
adb_code dir_items_add(dir_items *it, char *item, adb_error *err);
void dir_items_clear(dir_items *it);
/* "(&(|item item ...)rest)" for it->v[*next ...], as many as fit a batch,
 * advancing *next; rest is a fixed filter.  NULL when out of memory. */
char *dir_batch_filter(const dir_items *it, size_t *next, const char *rest);
/* Objects of td (ADB_ATTRS_LIST) that match one of the items and rest: one
 * search per batch, appended to out. */
adb_code dir_search_batches(adb_dir *d, const adb_topo_domain *td, const dir_items *it, const char *rest,
                            adb_object_list *out, adb_error *err);
/* The same with attribute set `set`, unpaged while the server allows
 * (dir_run_scan): a batch answers at most BATCH_ITEMS entries. */
adb_code dir_scan_batches(adb_dir *d, const adb_topo_domain *td, const dir_items *it, const char *rest,
                          adb_attr_set set, adb_object_list *out, adb_error *err);

/* ---- dir_parallel.c ---- */

enum { DIR_PARALLEL_MAX = 16 };   /* threads at once; more jobs run in rounds */

/* Runs run(job) for each of the n jobs (each `size` bytes, in `jobs`) at
 * once and returns when all are done: for reads that do not depend on each
 * other (other domains, other forests).  Jobs report through their struct. */
void dir_parallel(void *jobs, size_t n, size_t size, void *(*run)(void *));

/* ---- dir_keys.c: the cache ---- */

/* A cached list of objects, shared by reference between the cache and readers. */
typedef struct dir_shared_list {
    int refs;
    bool names_only;              /* read with ADB_ATTRS_NAMES (dir_members.c) */
    bool incomplete;              /* more than it keeps: ask the DC instead (dir_fsp.c) */
    adb_object_list list;
} dir_shared_list;

/* An empty list holding one reference. */
dir_shared_list *dir_shared_list_new(adb_error *err);
void dir_list_release(void *list);
/* Puts sl in the cache under key (a reference of its own). */
void dir_cache_list(adb_dir *d, const char *key, adb_cache_kind kind, dir_shared_list *sl);

/* ---- dir_fsp.c ---- */

/* The DNs of the foreign security principals of domain td that stand for
 * any of sids[0..n), appended to out: from td's FSPs, read whole once per
 * membership TTL and cached (cache.invalidate drops them too), or, where td
 * holds more than dir_fsp_index_max, by one search for these SIDs. */
adb_code dir_fsp_find(adb_dir *d, const adb_topo_domain *td, const adb_sid *sids, size_t n, dir_items *out,
                      adb_error *err);
extern size_t dir_fsp_index_max;   /* tests lower it to reach the search */

/* ---- dir_names.c: the search index ---- */

/* sAMAccountType of the accounts search finds (one indexed attribute):
 * users (SAM_USER_OBJECT; not computers, trusts, contacts), and the four
 * group types (security and distribution; global/universal, domain local). */
#define DIR_SAT_USER 805306368
#define DIR_SAT_USERS "(sAMAccountType=805306368)"
#define DIR_SAT_GROUPS "(sAMAccountType=268435456)(sAMAccountType=268435457)" \
                       "(sAMAccountType=536870912)(sAMAccountType=536870913)"
enum { DIR_NAMES_AUTO_MS = 300 };   /* auto: a DC scan this slow gets the domain an index */
/* A domain with more accounts is not indexed (search asks its DCs); tests lower it. */
extern size_t dir_names_max;

/* One domain's accounts by name: immutable once sealed, shared by reference. */
typedef struct dir_names dir_names;
typedef struct dir_name_obj dir_name_obj;
typedef struct dir_names_mgr dir_names_mgr;

/* A match: its sort key (adb_sort_key_make; the first member: dir_names.c
 * bisects hits by it), valid while x is held. */
typedef struct dir_name_hit {
    const char *key;
    adb_guid guid;
    unsigned kind;
    dir_names *x;
} dir_name_hit;

/* Building one (NULL when out of memory): empty, or holding old's live
 * objects; then dir_names_put (the last put of a GUID wins), then seal. */
dir_names *dir_names_new(const char *dns);
dir_names *dir_names_derive(const dir_names *old);
adb_code dir_names_put(dir_names *x, const adb_guid *guid, unsigned kind, const char *sam, const char *display,
                       const char *mail, const char *upn, adb_error *err);
adb_code dir_names_seal(dir_names *x, adb_error *err);
dir_names *dir_names_ref(dir_names *x);
void dir_names_unref(dir_names *x);
size_t dir_names_count(const dir_names *x);
size_t dir_names_bytes(const dir_names *x);
const char *dir_names_domain(const dir_names *x);
/* Marks it gone (a fetch by GUID missed it) in every snapshot holding it. */
void dir_names_remove(dir_names *x, const adb_guid *guid);
/* Merges into hits[0..n) (sorted by key, at most k) the objects of kinds
 * with a name starting with prefix (lower-cased) and a key after `after`
 * (may be NULL), each once; returns the new n.  A bisection, then only the
 * keys that start with the prefix. */
size_t dir_names_find(dir_names *x, const char *prefix, unsigned kinds, const char *after,
                      dir_name_hit *hits, size_t n, size_t k);
/* Whether one of names (sAMAccountName, displayName, mail, UPN; NULL:
 * absent) starts with prefix (lower-cased). */
bool dir_names_matches(const char *prefix, const char *const names[4]);
/* Whether a domain whose DC scan took scan_ms gets an index. */
bool dir_names_auto_wants(adb_search_index mode, int64_t scan_ms);

/* The maintenance (d->names): open and close with the directory. */
adb_code dir_names_open(adb_dir *d, adb_error *err);
void dir_names_close(adb_dir *d);
/* td's snapshot when it is fresh (read less than 3 refresh periods ago),
 * else NULL; in mode on, asks for one.  Never reads the directory. */
dir_names *dir_names_get(adb_dir *d, const adb_topo_domain *td);
/* A DC scan of td for search took ms: auto decides on it. */
void dir_names_scanned(adb_dir *d, const adb_topo_domain *td, int64_t ms);
void dir_names_answered(adb_dir *d);
void dir_names_stats(adb_dir *d, adb_dir_stats *out);
/* Every index is read again now (cache.invalidate); searches go on with the
 * current snapshots meanwhile. */
void dir_names_refresh_now(adb_dir *d);

void dir_lower_into(char *dst, size_t size, const char *src);
/* S-1-5-32-*: the same SIDs in every domain. */
bool dir_sid_is_builtin(const adb_sid *sid);
/* "sid:S-1-..." (BUILTIN SIDs name their domain). */
void dir_key_sid(char *buf, size_t size, const adb_sid *sid, const char *domain);
/* The cache key of a query. */
void dir_key_ident(char *buf, size_t size, const adb_ident *id);
/* Every key an object can be asked by; returns how many. */
size_t dir_object_keys(const adb_object *o, char keys[DIR_OBJECT_KEYS_MAX][DIR_KEY_MAX]);
/* An object's identity among members and groups: its SID key, else its DN key. */
void dir_member_key(char *buf, size_t size, const adb_object *o);
/* what ("groups-of:", "members-t:", "members-d:") + the object's member key. */
void dir_key_membership(char *buf, size_t size, const char *what, const adb_object *o);
/* Caches o under every key of its own. */
void dir_cache_object(adb_dir *d, adb_object *o);
/* Caches o under one more key (a query's). */
void dir_cache_object_as(adb_dir *d, const char *key, adb_object *o);

/* ---- dir_get.c ---- */

/* Parses id and finds the object, of one of the kinds (ADB_KINDS_* mask). */
adb_code dir_get_kind(adb_dir *d, const char *id, const char *domain, unsigned kinds, adb_object **out,
                      adb_object_list *candidates, adb_error *err);

/* ---- dir_resolve.c ---- */

/* Resolves SIDs to objects in their domains (BUILTIN SIDs in builtin_td):
 * cached ones from the cache, the rest with one OR search per batch.  A SID
 * whose domain is unknown or not usable becomes a stub. */
adb_code dir_resolve_sids(adb_dir *d, const adb_topology *t, const adb_sid *sids, size_t n,
                          const adb_topo_domain *builtin_td, adb_object_list *out, adb_error *err);
/* Replaces the foreign security principals in list by what their SIDs name
 * in their own forests. */
adb_code dir_resolve_fsps(adb_dir *d, const adb_topology *t, adb_object_list *list, adb_error *err);

#endif
