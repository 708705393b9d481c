/* Smart lockout policy (see include/adbridge/lockout.h). */
#include "config.h"

#include <adbridge/lockout.h>
#include <adbridge/secmem.h>

#include <pthread.h>
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum {
    DEFAULT_THRESHOLD_CAP = 3,
    DEFAULT_THRESHOLD_NO_AD = 5,
    DEFAULT_THRESHOLD_UNKNOWN = 1,
    DEFAULT_WINDOW_S = 1800,
    DEFAULT_MAX_USERS = 65536,
    MAX_BUCKETS = 1 << 20,
    ID_BYTES = 16,
};

typedef struct entry {
    unsigned char id[ID_BYTES];   /* keyed hash of the user name */
    unsigned failures;
    unsigned pending;             /* checks begun and not ended */
    time_t last_failure;
    struct entry *hnext;          /* bucket chain */
    struct entry *prev, *next;    /* LRU list, most recent first */
} entry;

struct adb_lockout {
    pthread_mutex_t lock;
    adb_lockout_options opts;
    unsigned char hash_key[crypto_generichash_KEYBYTES];
    entry **buckets;
    size_t mask;
    entry *head, *tail;
    size_t n;
};

adb_code adb_lockout_new(const adb_lockout_options *opts, adb_lockout **out, adb_error *err)
{
    adb_lockout *lo;
    size_t nb = 1;
    adb_code rc;

    *out = NULL;
    if ((rc = adb_secmem_init(err)) != ADB_OK)
        return rc;
    if ((lo = calloc(1, sizeof *lo)) == NULL)
        return adb_error_set(err, ADB_E_NOMEM, "out of memory");
    if (opts != NULL)
        lo->opts = *opts;
    if (lo->opts.threshold_no_ad == 0)
        lo->opts.threshold_no_ad = DEFAULT_THRESHOLD_NO_AD;
    if (lo->opts.threshold_unknown == 0)
        lo->opts.threshold_unknown = DEFAULT_THRESHOLD_UNKNOWN;
    if (lo->opts.window_s <= 0)
        lo->opts.window_s = DEFAULT_WINDOW_S;
    if (lo->opts.max_users == 0)
        lo->opts.max_users = DEFAULT_MAX_USERS;
    while (nb < lo->opts.max_users && nb < MAX_BUCKETS)
        nb <<= 1;
    if ((lo->buckets = calloc(nb, sizeof *lo->buckets)) == NULL) {
        free(lo);
        return adb_error_set(err, ADB_E_NOMEM, "out of memory");
    }
    lo->mask = nb - 1;
    /* A random hash key: names sent by an attacker cannot be chosen to
     * collide (bucket flooding, or one user's count charged to another). */
    crypto_generichash_keygen(lo->hash_key);
    pthread_mutex_init(&lo->lock, NULL);
    *out = lo;
    return ADB_OK;
}

void adb_lockout_free(adb_lockout *lo)
{
    if (lo == NULL)
        return;
    for (entry *e = lo->head, *next; e != NULL; e = next) {
        next = e->next;
        free(e);
    }
    pthread_mutex_destroy(&lo->lock);
    free(lo->buckets);
    adb_wipe(lo->hash_key, sizeof lo->hash_key);
    free(lo);
}

unsigned adb_lockout_threshold(const adb_lockout *lo, const adb_lockout_ad_policy *ad)
{
    unsigned t = lo->opts.threshold;

    if (ad != NULL && ad->known && ad->threshold == 0)   /* AD never locks out */
        return t != 0 ? t : lo->opts.threshold_no_ad;
    if (ad == NULL || !ad->known)                        /* AD's could be as low as 1 */
        return lo->opts.threshold_unknown;
    if (t == 0) {
        t = ad->threshold > 2 ? ad->threshold - 2 : 1;
        if (t > DEFAULT_THRESHOLD_CAP)
            t = DEFAULT_THRESHOLD_CAP;
    }
    /* Never let the bridge be the one that trips AD's lockout. */
    if (t >= ad->threshold)
        t = ad->threshold - 1;
    return t > 0 ? t : 1;
}

long adb_lockout_window(const adb_lockout *lo, const adb_lockout_ad_policy *ad)
{
    return ad != NULL && ad->known && ad->window_s > 0 ? ad->window_s : lo->opts.window_s;
}

static void user_id(const adb_lockout *lo, const char *user, unsigned char id[ID_BYTES])
{
    crypto_generichash_state st;
    unsigned char chunk[64];
    size_t n = 0;

    crypto_generichash_init(&st, lo->hash_key, sizeof lo->hash_key, ID_BYTES);
    for (const char *p = user; *p != '\0'; p++) {
        unsigned char c = (unsigned char)*p;
        chunk[n++] = c >= 'A' && c <= 'Z' ? (unsigned char)(c - 'A' + 'a') : c;
        if (n == sizeof chunk) {
            crypto_generichash_update(&st, chunk, n);
            n = 0;
        }
    }
    crypto_generichash_update(&st, chunk, n);
    crypto_generichash_final(&st, id, ID_BYTES);
}

static size_t bucket_of(const adb_lockout *lo, const unsigned char id[ID_BYTES])
{
    uint64_t h;

    memcpy(&h, id, sizeof h);
    return (size_t)(h & lo->mask);
}

static void lru_unlink(adb_lockout *lo, entry *e)
{
    if (e->prev != NULL)
        e->prev->next = e->next;
    else
        lo->head = e->next;
    if (e->next != NULL)
        e->next->prev = e->prev;
    else
        lo->tail = e->prev;
    e->prev = e->next = NULL;
}

static void lru_push_front(adb_lockout *lo, entry *e)
{
    e->prev = NULL;
    e->next = lo->head;
    if (lo->head != NULL)
        lo->head->prev = e;
    lo->head = e;
    if (lo->tail == NULL)
        lo->tail = e;
}

static void hash_unlink(adb_lockout *lo, entry *e)
{
    entry **pp = &lo->buckets[bucket_of(lo, e->id)];

    while (*pp != NULL && *pp != e)
        pp = &(*pp)->hnext;
    if (*pp == e)
        *pp = e->hnext;
    e->hnext = NULL;
}

static entry *find(adb_lockout *lo, const unsigned char id[ID_BYTES])
{
    for (entry *e = lo->buckets[bucket_of(lo, id)]; e != NULL; e = e->hnext)
        if (memcmp(e->id, id, ID_BYTES) == 0)
            return e;
    return NULL;
}

static void drop(adb_lockout *lo, entry *e)
{
    hash_unlink(lo, e);
    lru_unlink(lo, e);
    free(e);
    lo->n--;
}

/* The entry for id, created (evicting the least recently used one when
 * full) and moved to the front; NULL when out of memory. */
static entry *get(adb_lockout *lo, const unsigned char id[ID_BYTES])
{
    entry *e = find(lo, id);

    if (e != NULL) {
        lru_unlink(lo, e);
        lru_push_front(lo, e);
        return e;
    }
    if (lo->n >= lo->opts.max_users && lo->tail != NULL) {
        e = lo->tail;
        hash_unlink(lo, e);
        lru_unlink(lo, e);
        lo->n--;
        memset(e, 0, sizeof *e);
    } else if ((e = calloc(1, sizeof *e)) == NULL) {
        return NULL;
    }
    memcpy(e->id, id, ID_BYTES);
    e->hnext = lo->buckets[bucket_of(lo, id)];
    lo->buckets[bucket_of(lo, id)] = e;
    lru_push_front(lo, e);
    lo->n++;
    return e;
}

/* AD resets badPwdCount when the window has passed since the last failure. */
static void expire(entry *e, long window, time_t now)
{
    if (e->failures > 0 && now >= e->last_failure + window)
        e->failures = 0;
}

bool adb_lockout_begin(adb_lockout *lo, const char *user, const adb_lockout_ad_policy *ad, time_t *retry_at)
{
    unsigned char id[ID_BYTES];
    unsigned threshold = adb_lockout_threshold(lo, ad);
    long window = adb_lockout_window(lo, ad);
    time_t now = adb_clock_now(&lo->opts.clock);
    bool allowed;
    entry *e;

    user_id(lo, user, id);
    pthread_mutex_lock(&lo->lock);
    if ((e = get(lo, id)) == NULL) {
        /* No memory to track the user: refusing is the safe side. */
        pthread_mutex_unlock(&lo->lock);
        if (retry_at != NULL)
            *retry_at = now + 1;
        return false;
    }
    expire(e, window, now);
    allowed = e->failures + e->pending < threshold;
    if (allowed)
        e->pending++;
    else if (retry_at != NULL)
        /* Refused by failures: allowed again when they expire; refused by
         * checks in flight only: as soon as one of them ends. */
        *retry_at = e->failures >= threshold ? e->last_failure + window : now + 1;
    pthread_mutex_unlock(&lo->lock);
    return allowed;
}

adb_lockout_outcome adb_lockout_outcome_of(adb_auth_reason reason)
{
    switch (reason) {
    case ADB_AUTH_OK: return ADB_LOCKOUT_SUCCESS;
    case ADB_AUTH_INVALID_CREDENTIALS: return ADB_LOCKOUT_FAILURE;
    default: return ADB_LOCKOUT_NEUTRAL;
    }
}

void adb_lockout_end(adb_lockout *lo, const char *user, adb_lockout_outcome outcome)
{
    unsigned char id[ID_BYTES];
    time_t now = adb_clock_now(&lo->opts.clock);
    entry *e;

    user_id(lo, user, id);
    pthread_mutex_lock(&lo->lock);
    if ((e = find(lo, id)) == NULL) {
        /* Evicted while the check ran: record a failure all the same. */
        if (outcome != ADB_LOCKOUT_FAILURE || (e = get(lo, id)) == NULL)
            goto out;
        e->pending = 1;
    }
    if (e->pending > 0)
        e->pending--;
    if (outcome == ADB_LOCKOUT_SUCCESS) {
        e->failures = 0;
    } else if (outcome == ADB_LOCKOUT_FAILURE) {
        e->failures++;
        e->last_failure = now;
    }
    if (e->failures == 0 && e->pending == 0)
        drop(lo, e);   /* nothing to remember */
out:
    pthread_mutex_unlock(&lo->lock);
}

unsigned adb_lockout_failures(adb_lockout *lo, const char *user, const adb_lockout_ad_policy *ad,
                              time_t *last_failure)
{
    unsigned char id[ID_BYTES];
    long window = adb_lockout_window(lo, ad);
    time_t now = adb_clock_now(&lo->opts.clock);
    unsigned n = 0;
    entry *e;

    user_id(lo, user, id);
    if (last_failure != NULL)
        *last_failure = 0;
    pthread_mutex_lock(&lo->lock);
    if ((e = find(lo, id)) != NULL) {
        expire(e, window, now);
        n = e->failures;
        if (last_failure != NULL)
            *last_failure = e->last_failure;
    }
    pthread_mutex_unlock(&lo->lock);
    return n;
}

size_t adb_lockout_size(adb_lockout *lo)
{
    size_t n;

    pthread_mutex_lock(&lo->lock);
    n = lo->n;
    pthread_mutex_unlock(&lo->lock);
    return n;
}

/* ---- AD's policy ---- */

adb_code adb_lockout_policy_from_entry(const adb_ldap_entry *e, adb_lockout_ad_policy *out, adb_error *err)
{
    int64_t threshold, window;
    bool pso = adb_ldap_entry_values(e, "msDS-LockoutThreshold") != NULL;

    memset(out, 0, sizeof *out);
    if (!adb_ldap_entry_int64(e, pso ? "msDS-LockoutThreshold" : "lockoutThreshold", &threshold)
        || !adb_ldap_entry_int64(e, pso ? "msDS-LockoutObservationWindow" : "lockOutObservationWindow", &window)
        || threshold < 0 || threshold > 65535 || window > 0)
        return adb_error_set(err, ADB_E_PROTOCOL, "%s: lockout policy attributes missing or malformed",
                             e->dn != NULL ? e->dn : "(entry)");
    out->known = true;
    out->threshold = (unsigned)threshold;
    /* Negative 100 ns intervals; INT64_MIN would mean "never", which AD
     * does not allow for this attribute: treat as unknown window. */
    out->window_s = window == INT64_MIN ? 0 : (long)(-window / 10000000);
    return ADB_OK;
}

adb_code adb_lockout_read_policy(adb_ldap_conn *c, const char *domain_dn, const char *user_dn,
                                 adb_lockout_ad_policy *out, adb_error *err)
{
    static const char *const user_attrs[] = { "msDS-ResultantPSO", NULL };
    static const char *const pso_attrs[] = { "msDS-LockoutThreshold", "msDS-LockoutObservationWindow", NULL };
    static const char *const dom_attrs[] = { "lockoutThreshold", "lockOutObservationWindow", NULL };
    adb_ldap_entry *e = NULL, *p = NULL;
    char pso[1024];
    adb_code rc;

    memset(out, 0, sizeof *out);
    if (user_dn != NULL) {
        /* Constructed attribute: only on a base read, as done here. */
        if ((rc = adb_ldap_read(c, user_dn, NULL, user_attrs, &e, err)) != ADB_OK)
            return rc;
        if (adb_ldap_entry_str(e, "msDS-ResultantPSO", pso, sizeof pso) != NULL) {
            adb_ldap_entry_free(e);
            /* AD lets only Domain Admins read PSOs by default: the entry
             * comes back without the attributes, or not at all. */
            if (adb_ldap_read(c, pso, NULL, pso_attrs, &p, NULL) != ADB_OK
                || adb_lockout_policy_from_entry(p, out, NULL) != ADB_OK) {
                memset(out, 0, sizeof *out);
                out->pso_unreadable = true;
            }
            adb_ldap_entry_free(p);
            return ADB_OK;
        }
        adb_ldap_entry_free(e);
    }
    if ((rc = adb_ldap_read(c, domain_dn, NULL, dom_attrs, &e, err)) != ADB_OK) {
        adb_error_prefix(err, "reading the lockout policy of %s", domain_dn);
        return rc;
    }
    rc = adb_lockout_policy_from_entry(e, out, err);
    adb_ldap_entry_free(e);
    return rc;
}
