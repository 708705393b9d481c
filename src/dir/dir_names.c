/* The search index (dir_internal.h): each indexed domain's users and
 * groups by name, so that search answers a prefix from memory.  Samba's ldb
 * has no index for a prefix match: every search reads every account of the
 * kind (about 1 s of DC CPU at 100,000 users); AD has the indexes and never
 * needs this one (the auto policy then never asks for it).
 *
 * Like SSSD's enumeration: one read of the domain's accounts (names, GUID,
 * kind), then every refresh period only what changed since on that DC,
 * (uSNChanged>=W+1) with W the DC's highestCommittedUSN when the last read
 * began (MS-ADTS 3.1.1.3.2.1: USNs are the DC's own, so another DC, told by
 * its dsServiceName, means a full read).  Deleted objects do not come back
 * in a search of changes: search drops the ones its fetch by GUID misses,
 * and a full read every DIR_NAMES_FULL_S drops the rest.
 *
 * A snapshot is immutable once sealed (except the atomic "dead" mark) and
 * shared by reference: one maintenance thread builds the next one without a
 * lock and swaps it in; searches never wait for it. */
#include "config.h"

#include "dir_internal.h"

#include <adbridge/clock.h>
#include <adbridge/filter.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t dir_names_max = 1000000;   /* accounts per domain: about 220 MB */

enum {
    NAME_KEYS = 4,               /* sAMAccountName, displayName, mail, userPrincipalName */
    DIR_NAMES_FULL_S = 3600,     /* a full read drops what was deleted and never searched for */
    STALE_PERIODS = 3,           /* an index this many periods old is not used (DC unreachable) */
};

/* One account; shared by the snapshots that hold it. */
struct dir_name_obj {
    int refs;                    /* atomic */
    int dead;                    /* atomic: a fetch by GUID did not find it */
    adb_guid guid;
    unsigned kind;               /* ADB_KINDS_USER or ADB_KINDS_GROUP */
    size_t seq;                  /* order of arrival: the last one of a GUID wins */
    const char *names[NAME_KEYS];   /* lower-cased, in text; NULL when absent */
    char text[];                 /* the sort key, then the names */
};

typedef struct name_key {
    const char *key;
    dir_name_obj *o;
} name_key;

struct dir_names {
    int refs;                    /* atomic */
    char *dns;
    dir_name_obj **objs;         /* by GUID once sealed */
    size_t n, cap;
    name_key *keys;              /* once sealed: the account names [0, n_sam) and the other names */
    size_t n_sam, n_keys;        /* [n_sam, n_keys) that do not extend their account name, each by key */
    size_t bytes;
};

static void obj_unref(dir_name_obj *o)
{
    if (o != NULL && __atomic_sub_fetch(&o->refs, 1, __ATOMIC_ACQ_REL) == 0)
        free(o);
}

dir_names *dir_names_new(const char *dns)
{
    dir_names *x = calloc(1, sizeof *x);

    if (x != NULL && (x->dns = strdup(dns)) == NULL) {
        free(x);
        x = NULL;
    }
    if (x != NULL)
        x->refs = 1;
    return x;
}

dir_names *dir_names_ref(dir_names *x)
{
    if (x != NULL)
        __atomic_add_fetch(&x->refs, 1, __ATOMIC_RELAXED);
    return x;
}

void dir_names_unref(dir_names *x)
{
    if (x == NULL || __atomic_sub_fetch(&x->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    for (size_t i = 0; i < x->n; i++)
        obj_unref(x->objs[i]);
    free(x->objs);
    free(x->keys);
    free(x->dns);
    free(x);
}

static adb_code add_obj(dir_names *x, dir_name_obj *o, adb_error *err)
{
    if (x->n == x->cap) {
        size_t cap = x->cap != 0 ? x->cap * 2 : 1024;
        dir_name_obj **v = realloc(x->objs, cap * sizeof *v);
        if (v == NULL) {
            obj_unref(o);
            return adb_error_set(err, ADB_E_NOMEM, "out of memory");
        }
        x->objs = v;
        x->cap = cap;
    }
    o->seq = x->n;
    x->objs[x->n++] = o;
    return ADB_OK;
}

dir_names *dir_names_derive(const dir_names *old)
{
    dir_names *x = dir_names_new(old->dns);

    for (size_t i = 0; x != NULL && i < old->n; i++) {
        if (__atomic_load_n(&old->objs[i]->dead, __ATOMIC_RELAXED))
            continue;
        __atomic_add_fetch(&old->objs[i]->refs, 1, __ATOMIC_RELAXED);
        if (add_obj(x, old->objs[i], NULL) != ADB_OK) {
            dir_names_unref(x);
            x = NULL;
        }
    }
    return x;
}

adb_code dir_names_put(dir_names *x, const adb_guid *guid, unsigned kind, const char *sam, const char *display,
                       const char *mail, const char *upn, adb_error *err)
{
    const char *src[NAME_KEYS] = { sam, display, mail, upn };
    char *sort = adb_sort_key_make(sam, x->dns), *p;
    size_t len = sort != NULL ? strlen(sort) + 1 : 0;
    dir_name_obj *o;

    if (sort == NULL)
        return adb_error_set(err, ADB_E_NOMEM, "out of memory");
    for (int k = 0; k < NAME_KEYS; k++)
        len += src[k] != NULL ? strlen(src[k]) + 1 : 0;
    if ((o = calloc(1, sizeof *o + len)) == NULL) {
        free(sort);
        return adb_error_set(err, ADB_E_NOMEM, "out of memory");
    }
    o->refs = 1;
    o->guid = *guid;
    o->kind = kind;
    p = stpcpy(o->text, sort) + 1;
    free(sort);
    for (int k = 0; k < NAME_KEYS; k++) {
        if (src[k] == NULL || src[k][0] == '\0')
            continue;
        size_t n = strlen(src[k]) + 1;
        dir_lower_into(p, n, src[k]);
        o->names[k] = p;
        p += n;
    }
    return add_obj(x, o, err);
}

static int by_guid_seq(const void *a, const void *b)
{
    const dir_name_obj *x = *(dir_name_obj *const *)a, *y = *(dir_name_obj *const *)b;
    int c = memcmp(x->guid.b, y->guid.b, sizeof x->guid.b);

    return c != 0 ? c : x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int by_key(const void *a, const void *b)
{
    return strcmp(((const name_key *)a)->key, ((const name_key *)b)->key);
}

/* Whether name a of o is an extension of its account name (mail and UPN
 * "name@..."): a prefix it matches and the account name does not is
 * longer than the account name, so dir_names_find looks such names up
 * through the account names instead of keeping a key for them. */
static bool extends_sam(const dir_name_obj *o, int a)
{
    return a > 0 && o->names[0] != NULL && strncmp(o->names[a], o->names[0], strlen(o->names[0])) == 0;
}

adb_code dir_names_seal(dir_names *x, adb_error *err)
{
    size_t n = 0, k = 0;

    if (x->n > 1)
        qsort(x->objs, x->n, sizeof *x->objs, by_guid_seq);
    for (size_t i = 0; i < x->n; i++) {   /* one per GUID: the last put */
        if (i + 1 < x->n && memcmp(x->objs[i]->guid.b, x->objs[i + 1]->guid.b, sizeof x->objs[i]->guid.b) == 0)
            obj_unref(x->objs[i]);
        else
            x->objs[n++] = x->objs[i];
    }
    x->n = n;
    free(x->keys);
    if ((x->keys = malloc((n * NAME_KEYS + 1) * sizeof *x->keys)) == NULL)
        return adb_error_set(err, ADB_E_NOMEM, "out of memory");
    x->bytes = sizeof *x + x->cap * sizeof *x->objs;
    for (size_t i = 0; i < n; i++)   /* the account names first: in the order of the sort keys */
        if (x->objs[i]->names[0] != NULL)
            x->keys[k++] = (name_key){ x->objs[i]->names[0], x->objs[i] };
    x->n_sam = k;
    for (size_t i = 0; i < n; i++) {
        dir_name_obj *o = x->objs[i];
        const char *end = o->text + strlen(o->text) + 1;
        for (int a = 1; a < NAME_KEYS; a++) {
            bool again = false;   /* the same name twice (mail = UPN): one key */
            for (int b = 1; b < a && o->names[a] != NULL; b++)
                again |= o->names[b] != NULL && strcmp(o->names[a], o->names[b]) == 0;
            if (o->names[a] != NULL && !again && !extends_sam(o, a))
                x->keys[k++] = (name_key){ o->names[a], o };
        }
        for (int a = 0; a < NAME_KEYS; a++)
            if (o->names[a] != NULL)
                end = o->names[a] + strlen(o->names[a]) + 1;
        x->bytes += sizeof *o + (size_t)(end - o->text);
    }
    x->n_keys = k;
    name_key *fit = realloc(x->keys, (k + 1) * sizeof *x->keys);   /* most mail and UPNs took no key */
    if (fit != NULL)
        x->keys = fit;
    x->bytes += (fit != NULL ? k + 1 : n * NAME_KEYS + 1) * sizeof *x->keys;
    qsort(x->keys, x->n_sam, sizeof *x->keys, by_key);
    qsort(x->keys + x->n_sam, k - x->n_sam, sizeof *x->keys, by_key);
    return ADB_OK;
}

size_t dir_names_count(const dir_names *x)
{
    return x != NULL ? x->n : 0;
}

size_t dir_names_bytes(const dir_names *x)
{
    return x != NULL ? x->bytes : 0;
}

const char *dir_names_domain(const dir_names *x)
{
    return x->dns;
}

void dir_names_remove(dir_names *x, const adb_guid *guid)
{
    size_t lo = 0, hi = x->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = memcmp(x->objs[mid]->guid.b, guid->b, sizeof guid->b);
        if (c == 0) {
            __atomic_store_n(&x->objs[mid]->dead, 1, __ATOMIC_RELAXED);
            return;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
}

/* The first of v[lo, hi) not below key: v's elements are `size` bytes and
 * begin with their key (name_key, dir_name_hit). */
static size_t bound(const void *v, size_t size, size_t lo, size_t hi, const char *key)
{
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(*(const char *const *)((const char *)v + mid * size), key) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static size_t lower_bound(const name_key *keys, size_t lo, size_t hi, const char *key)
{
    return bound(keys, sizeof *keys, lo, hi, key);
}

/* Merges o into hits; false when it sorts after a full hits (so does every
 * later account name). */
static bool offer(dir_names *x, const dir_name_obj *o, unsigned kinds, const char *after, dir_name_hit *hits,
                  size_t *n, size_t k)
{
    const char *sort = o->text;
    size_t at;

    if (*n == k && strcmp(sort, hits[*n - 1].key) >= 0)
        return false;
    if ((o->kind & kinds) == 0 || __atomic_load_n(&o->dead, __ATOMIC_RELAXED)
        || (after != NULL && strcmp(sort, after) <= 0))
        return true;
    at = bound(hits, sizeof *hits, 0, *n, sort);
    if (at < *n && strcmp(hits[at].key, sort) == 0)
        return true;   /* found by another of its names */
    if (*n == k)
        (*n)--;
    memmove(&hits[at + 1], &hits[at], (*n - at) * sizeof *hits);
    hits[at] = (dir_name_hit){ sort, o->guid, o->kind, x };
    (*n)++;
    return true;
}

size_t dir_names_find(dir_names *x, const char *prefix, unsigned kinds, const char *after,
                      dir_name_hit *hits, size_t n, size_t k)
{
    size_t plen = strlen(prefix), start = lower_bound(x->keys, 0, x->n_sam, prefix);
    char part[ADB_SEARCH_PREFIX_MAX + 1];

    if (k == 0 || plen > ADB_SEARCH_PREFIX_MAX)
        return n;
    /* Account names: in sort order, from the cursor's on, the first k. */
    if (after != NULL && strcspn(after, "\x01") < sizeof part) {
        snprintf(part, sizeof part, "%.*s", (int)strcspn(after, "\x01"), after);
        size_t from = lower_bound(x->keys, 0, x->n_sam, part);
        start = from > start ? from : start;
    }
    for (size_t i = start; i < x->n_sam && strncmp(x->keys[i].key, prefix, plen) == 0; i++)
        if (!offer(x, x->keys[i].o, kinds, after, hits, &n, k))
            break;
    /* Names that extend their account name match only a prefix longer
     * than it: the accounts named by the prefix's first j bytes. */
    for (size_t j = 1; j < plen; j++) {
        snprintf(part, sizeof part, "%.*s", (int)j, prefix);
        for (size_t i = lower_bound(x->keys, 0, x->n_sam, part); i < x->n_sam && strcmp(x->keys[i].key, part) == 0;
             i++) {
            const dir_name_obj *o = x->keys[i].o;
            for (int a = 1; a < NAME_KEYS; a++)
                if (o->names[a] != NULL && extends_sam(o, a) && strncmp(o->names[a], prefix, plen) == 0) {
                    offer(x, o, kinds, after, hits, &n, k);
                    break;
                }
        }
    }
    /* The other names: every one with the prefix. */
    for (size_t i = lower_bound(x->keys, x->n_sam, x->n_keys, prefix);
         i < x->n_keys && strncmp(x->keys[i].key, prefix, plen) == 0; i++)
        offer(x, x->keys[i].o, kinds, after, hits, &n, k);
    return n;
}

bool dir_names_matches(const char *prefix, const char *const names[4])
{
    size_t plen = strlen(prefix);

    for (int k = 0; k < NAME_KEYS; k++) {
        char low[ADB_SEARCH_PREFIX_MAX + 1];
        if (names[k] == NULL)
            continue;
        dir_lower_into(low, plen + 1 < sizeof low ? plen + 1 : sizeof low, names[k]);
        if (strcmp(low, prefix) == 0)
            return true;
    }
    return false;
}

bool dir_names_auto_wants(adb_search_index mode, int64_t scan_ms)
{
    return mode == ADB_SEARCH_INDEX_ON || (mode == ADB_SEARCH_INDEX_AUTO && scan_ms >= DIR_NAMES_AUTO_MS);
}

/* ======================================================================
 * Maintenance: one thread reads and refreshes the wanted domains.
 * ====================================================================== */

/* One indexed domain. */
typedef struct names_slot {
    char dns[ADB_DOMAIN_MAX];
    char *nc;
    dir_names *snap;             /* the published snapshot; NULL until the first read */
    int64_t fresh_ms;            /* when the read behind snap began (monotonic) */
    int64_t built_ms;            /* when its last full read began */
    int64_t next_ms;             /* when to read next */
    uint64_t usn;                /* snap holds every change of dsa up to this USN */
    char dsa[512];               /* the DC it was read from: its dsServiceName */
} names_slot;

struct dir_names_mgr {
    pthread_mutex_t mu;          /* guards everything below */
    pthread_cond_t cv;           /* a domain became wanted, or stop */
    pthread_t thread;
    bool running, stop;
    names_slot **slots;
    size_t n;
    unsigned long builds, refreshes, change_reads, answers;
    int64_t last_build_ms, last_refresh_ms;
};

/* One read of a domain's accounts on one connection: the rootDSE, then all
 * of them (old NULL) or what changed since usn. */
typedef struct names_read {
    dir_names_mgr *m;
    const char *dns, *nc;
    dir_names *old;
    uint64_t usn;
    const char *dsa;
    dir_names *snap;             /* out; NULL with ADB_OK: nothing changed */
    uint64_t new_usn;
    char new_dsa[512];
    bool full;
    bool too_many;               /* out: more than dir_names_max accounts */
} names_read;

static const char *const root_attrs[] = { "highestCommittedUSN", "dsServiceName", NULL };
static const char *const name_attrs[] = { "sAMAccountName", "displayName", "mail", "userPrincipalName",
                                          "objectGUID", "sAMAccountType", NULL };

static adb_code names_entry(names_read *r, const adb_ldap_entry *e, adb_error *err)
{
    char sam[ADB_NAME_MAX + 1], display[1024], mail[1024], upn[1024];
    struct berval **g = adb_ldap_entry_values(e, "objectGUID");
    int64_t sat;
    adb_guid guid;

    if (r->snap->n >= dir_names_max) {
        r->too_many = true;
        return adb_error_set(err, ADB_E_INTERNAL, "more than %zu accounts", dir_names_max);
    }
    if (adb_ldap_entry_str(e, "sAMAccountName", sam, sizeof sam) == NULL || g == NULL || g[0] == NULL
        || adb_guid_decode(g[0]->bv_val, g[0]->bv_len, &guid, NULL) != ADB_OK
        || !adb_ldap_entry_int64(e, "sAMAccountType", &sat))
        return ADB_OK;   /* not an account search could show */
    return dir_names_put(r->snap, &guid, sat == DIR_SAT_USER ? ADB_KINDS_USER : ADB_KINDS_GROUP, sam,
                         adb_ldap_entry_str(e, "displayName", display, sizeof display),
                         adb_ldap_entry_str(e, "mail", mail, sizeof mail),
                         adb_ldap_entry_str(e, "userPrincipalName", upn, sizeof upn), err);
}

static adb_code names_op(adb_ldap_conn *c, void *arg, adb_error *err)
{
    names_read *r = arg;
    adb_ldap_entry *e = NULL;
    adb_ldap_search *s;
    char *filter = NULL, usn[32];
    int64_t hc = 0;
    adb_code rc;

    dir_names_unref(r->snap);   /* the pool may run this again on another DC */
    r->snap = NULL;
    r->too_many = false;
    if ((rc = adb_ldap_read(c, "", NULL, root_attrs, &e, err)) != ADB_OK)
        return rc;
    if (!adb_ldap_entry_int64(e, "highestCommittedUSN", &hc) || hc < 0
        || adb_ldap_entry_str(e, "dsServiceName", r->new_dsa, sizeof r->new_dsa) == NULL)
        rc = adb_error_set(err, ADB_E_PROTOCOL, "the rootDSE of %s has no highestCommittedUSN or dsServiceName",
                           adb_ldap_host(c));
    adb_ldap_entry_free(e);
    if (rc != ADB_OK)
        return rc;
    r->new_usn = (uint64_t)hc;
    r->full = r->old == NULL || strcmp(r->dsa, r->new_dsa) != 0;   /* USNs are per DC */
    if (!r->full && r->new_usn <= r->usn)
        return ADB_OK;   /* nothing changed on that DC */
    snprintf(usn, sizeof usn, "%" PRIu64, r->usn + 1);
    rc = r->full ? adb_filter_build(&filter, err, "(|" DIR_SAT_USERS DIR_SAT_GROUPS ")")
                 : adb_filter_build(&filter, err, "(&(|" DIR_SAT_USERS DIR_SAT_GROUPS ")(uSNChanged>=%v))", usn);
    if (rc != ADB_OK)
        return rc;
    r->snap = r->full ? dir_names_new(r->dns) : dir_names_derive(r->old);
    if (r->snap == NULL)
        rc = adb_error_set(err, ADB_E_NOMEM, "out of memory");
    /* Unpaged (a DC with a MaxPageSize, as AD, cuts it short and it is asked
     * again paged): a paged read of 105,000 accounts cost Samba 14 s of CPU,
     * 4x the unpaged one, which libldap holds whole until it ends. */
    if (rc == ADB_OK && (rc = adb_ldap_search_begin(c, r->nc, ADB_LDAP_SCOPE_SUBTREE, filter, name_attrs, -1, &s,
                                                    err)) == ADB_OK) {
        while ((rc = adb_ldap_search_next(s, &e, err)) == ADB_OK && e != NULL) {
            rc = __atomic_load_n(&r->m->stop, __ATOMIC_RELAXED)
                     ? adb_error_set(err, ADB_E_INTERNAL, "the directory is closing")
                     : names_entry(r, e, err);
            adb_ldap_entry_free(e);
            if (rc != ADB_OK)
                break;
        }
        adb_ldap_search_end(s);
    }
    free(filter);
    if (rc == ADB_OK)
        rc = dir_names_seal(r->snap, err);
    return rc;
}

/* Reads slot i (the lock is held on entry and exit, not across the read). */
static void names_work(adb_dir *d, dir_names_mgr *m, size_t i)
{
    names_slot *s = m->slots[i];
    int64_t t0 = adb_mono_ms();
    bool full_due = s->snap == NULL || t0 - s->built_ms >= (int64_t)DIR_NAMES_FULL_S * 1000;
    names_read r = { .m = m, .dns = s->dns, .nc = s->nc, .old = full_due ? NULL : dir_names_ref(s->snap), .usn = s->usn,
                     .dsa = s->dsa };
    dir_names *drop = NULL;
    adb_error err = { 0 };
    adb_code rc;
    char v[600];

    if (!adb_subscriptions_enabled(d->subs, s->dns)) {   /* disabled since: not read (the locator would refuse) */
        drop = s->snap;
        s->snap = NULL;
        s->next_ms = t0 + (int64_t)d->o.search_index_refresh_s * 1000;
        pthread_mutex_unlock(&m->mu);
        dir_names_unref(drop);
        dir_names_unref(r.old);
        pthread_mutex_lock(&m->mu);
        return;
    }
    pthread_mutex_unlock(&m->mu);
    rc = adb_pool_run(d->pool, r.dns, ADB_POOL_DC, names_op, &r, &err);
    pthread_mutex_lock(&m->mu);
    int64_t took = adb_mono_ms() - t0;
    if (rc == ADB_OK) {
        if (r.snap != NULL) {
            drop = s->snap;
            s->snap = r.snap;
        }
        s->usn = r.new_usn;
        snprintf(s->dsa, sizeof s->dsa, "%s", r.new_dsa);
        s->fresh_ms = t0;
        if (r.full) {
            s->built_ms = t0;
            m->builds++;
            m->last_build_ms = took;
        } else {
            m->refreshes++;
            m->change_reads += r.snap != NULL;
            m->last_refresh_ms = took;
        }
        adb_log(d->log, r.full ? ADB_LOG_INFO : ADB_LOG_DEBUG, r.full ? "search_index_built" : "search_index_refreshed",
                "domain=%s objects=%zu bytes=%zu ms=%" PRId64 " usn=%" PRIu64, s->dns, dir_names_count(s->snap),
                dir_names_bytes(s->snap), took, s->usn);
    } else if (r.too_many) {   /* never again: each try would read them all */
        dir_names_unref(r.snap);
        drop = s->snap;
        s->snap = NULL;
        adb_log(d->log, ADB_LOG_WARN, "search_index_too_big", "domain=%s max=%zu", s->dns, dir_names_max);
    } else if (!m->stop) {
        dir_names_unref(r.snap);
        adb_log(d->log, ADB_LOG_WARN, "search_index_failed", "domain=%s code=%s error=%s", s->dns, adb_code_name(rc),
                adb_log_value(v, sizeof v, err.message));
    } else {
        dir_names_unref(r.snap);
    }
    s->next_ms = r.too_many ? INT64_MAX : adb_mono_ms() + (int64_t)d->o.search_index_refresh_s * 1000;
    pthread_mutex_unlock(&m->mu);
    dir_names_unref(drop);   /* freeing 100,000 objects takes a while: not under the lock */
    dir_names_unref(r.old);
    pthread_mutex_lock(&m->mu);
}

static void *names_main(void *arg)
{
    adb_dir *d = arg;
    dir_names_mgr *m = d->names;

    pthread_mutex_lock(&m->mu);
    while (!m->stop) {
        int64_t now = adb_mono_ms(), wake = now + 3600 * 1000;
        size_t pick = m->n;
        for (size_t i = 0; i < m->n && pick == m->n; i++) {
            if (m->slots[i]->next_ms <= now)
                pick = i;
            else if (m->slots[i]->next_ms < wake)
                wake = m->slots[i]->next_ms;
        }
        if (pick < m->n) {
            names_work(d, m, pick);
            continue;
        }
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        int64_t ns = ts.tv_nsec + (wake - now) % 1000 * 1000000;
        ts.tv_sec += (wake - now) / 1000 + ns / 1000000000;
        ts.tv_nsec = ns % 1000000000;
        pthread_cond_timedwait(&m->cv, &m->mu, &ts);
    }
    pthread_mutex_unlock(&m->mu);
    return NULL;
}

adb_code dir_names_open(adb_dir *d, adb_error *err)
{
    dir_names_mgr *m;
    pthread_condattr_t ca;

    if (d->o.search_index == ADB_SEARCH_INDEX_OFF)
        return ADB_OK;
    if ((m = calloc(1, sizeof *m)) == NULL)
        return adb_error_set(err, ADB_E_NOMEM, "out of memory");
    pthread_mutex_init(&m->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&m->cv, &ca);
    pthread_condattr_destroy(&ca);
    d->names = m;
    return ADB_OK;
}

void dir_names_close(adb_dir *d)
{
    dir_names_mgr *m = d->names;

    if (m == NULL)
        return;
    pthread_mutex_lock(&m->mu);
    m->stop = true;
    pthread_cond_signal(&m->cv);
    pthread_mutex_unlock(&m->mu);
    if (m->running)
        pthread_join(m->thread, NULL);
    for (size_t i = 0; i < m->n; i++) {
        dir_names_unref(m->slots[i]->snap);
        free(m->slots[i]->nc);
        free(m->slots[i]);
    }
    free(m->slots);
    pthread_cond_destroy(&m->cv);
    pthread_mutex_destroy(&m->mu);
    free(m);
    d->names = NULL;
}

static names_slot *slot_of(dir_names_mgr *m, const char *dns)
{
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->slots[i]->dns, dns) == 0)
            return m->slots[i];
    return NULL;
}

/* td is to be indexed from now on (m->mu held).  Out of memory: it is not,
 * and search goes on asking the DCs. */
static void want(adb_dir *d, dir_names_mgr *m, const adb_topo_domain *td)
{
    names_slot *s, **v;
    char dns[ADB_DOMAIN_MAX];

    dir_lower_into(dns, sizeof dns, td->dns);
    if (m->stop || slot_of(m, dns) != NULL || (s = calloc(1, sizeof *s)) == NULL)
        return;
    if ((s->nc = strdup(td->nc)) == NULL || (v = realloc(m->slots, (m->n + 1) * sizeof *v)) == NULL) {
        free(s->nc);
        free(s);
        return;
    }
    snprintf(s->dns, sizeof s->dns, "%s", dns);
    m->slots = v;
    m->slots[m->n++] = s;
    if (!m->running)
        m->running = pthread_create(&m->thread, NULL, names_main, d) == 0;
    pthread_cond_signal(&m->cv);
    adb_log(d->log, ADB_LOG_INFO, "search_index_wanted", "domain=%s", dns);
}

dir_names *dir_names_get(adb_dir *d, const adb_topo_domain *td)
{
    dir_names_mgr *m = d->names;
    dir_names *x = NULL;
    names_slot *s;
    char dns[ADB_DOMAIN_MAX];

    if (m == NULL)
        return NULL;
    dir_lower_into(dns, sizeof dns, td->dns);
    pthread_mutex_lock(&m->mu);
    if ((s = slot_of(m, dns)) == NULL && d->o.search_index == ADB_SEARCH_INDEX_ON)
        want(d, m, td);
    else if (s != NULL && s->snap != NULL
             && adb_mono_ms() - s->fresh_ms < (int64_t)STALE_PERIODS * d->o.search_index_refresh_s * 1000)
        x = dir_names_ref(s->snap);
    pthread_mutex_unlock(&m->mu);
    return x;
}

void dir_names_scanned(adb_dir *d, const adb_topo_domain *td, int64_t ms)
{
    dir_names_mgr *m = d->names;

    if (m == NULL || !dir_names_auto_wants(d->o.search_index, ms))
        return;
    pthread_mutex_lock(&m->mu);
    want(d, m, td);
    pthread_mutex_unlock(&m->mu);
}

void dir_names_refresh_now(adb_dir *d)
{
    dir_names_mgr *m = d->names;

    if (m == NULL)
        return;
    pthread_mutex_lock(&m->mu);
    for (size_t i = 0; i < m->n; i++)
        if (m->slots[i]->next_ms != INT64_MAX)   /* not one too big to index */
            m->slots[i]->next_ms = 0;
    pthread_cond_signal(&m->cv);
    pthread_mutex_unlock(&m->mu);
}

void dir_names_answered(adb_dir *d)
{
    pthread_mutex_lock(&d->names->mu);
    d->names->answers++;
    pthread_mutex_unlock(&d->names->mu);
}

void dir_names_stats(adb_dir *d, adb_dir_stats *out)
{
    dir_names_mgr *m = d->names;

    if (m == NULL)
        return;
    pthread_mutex_lock(&m->mu);
    out->search_index_builds = m->builds;
    out->search_index_refreshes = m->refreshes;
    out->search_index_change_reads = m->change_reads;
    out->search_index_answers = m->answers;
    out->search_index_build_ms = m->last_build_ms;
    out->search_index_refresh_ms = m->last_refresh_ms;
    for (size_t i = 0; i < m->n; i++) {
        out->search_index_objects += dir_names_count(m->slots[i]->snap);
        out->search_index_bytes += dir_names_bytes(m->slots[i]->snap);
    }
    pthread_mutex_unlock(&m->mu);
}
