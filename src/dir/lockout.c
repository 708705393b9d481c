/* Smart lockout policy (see include/adbridge/lockout.h). */
#include "config.h"

#include <adbridge/lockout.h>
#include <adbridge/object.h>
#include <adbridge/secmem.h>

#include <pthread.h>
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum {
    DEFAULT_MARGIN = 2,
    DEFAULT_THRESHOLD_NO_AD = 5,
    DEFAULT_THRESHOLD_UNKNOWN = 1,
    DEFAULT_WINDOW_S = 1800,
    DEFAULT_MAX_USERS = 65536,
    MAX_BUCKETS = 1 << 20,
    ID_BYTES = 16,
    MAX_TAGS = 4,                 /* wrong passwords remembered per user */
};

typedef struct entry {
    unsigned char id[ID_BYTES];   /* keyed hash of the user name */
    unsigned failures;
    unsigned pending;             /* checks begun and not ended */
    time_t last_failure;
    unsigned char tags[MAX_TAGS][ADB_LOCKOUT_TAG_BYTES]; /* recent wrong passwords, keyed hashes */
    unsigned n_tags, next_tag;
    int64_t tags_pwd_last_set;    /* the pwdLastSet the tags were seen with; 0: unknown */
    struct entry *hnext;          /* bucket chain */
    struct entry *prev, *next;    /* LRU list, most recent first */
} entry;

struct adb_lockout {
    pthread_mutex_t lock;
    pthread_cond_t ended;         /* a check in flight ended */
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
    if (lo->opts.margin == 0)
        lo->opts.margin = DEFAULT_MARGIN;
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
    {
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&lo->ended, &ca);
        pthread_condattr_destroy(&ca);
    }
    *out = lo;
    return ADB_OK;
}

void adb_lockout_free(adb_lockout *lo)
{
    if (lo == NULL)
        return;
    for (entry *e = lo->head, *next; e != NULL; e = next) {
        next = e->next;
        adb_wipe(e, sizeof *e);
        free(e);
    }
    pthread_cond_destroy(&lo->ended);
    pthread_mutex_destroy(&lo->lock);
    free(lo->buckets);
    adb_wipe(lo->hash_key, sizeof lo->hash_key);
    free(lo);
}

unsigned adb_lockout_threshold(const adb_lockout *lo, const adb_lockout_ad_policy *ad)
{
    unsigned t = lo->opts.threshold, limit;

    if (ad != NULL && ad->known && ad->threshold == 0)   /* AD never locks out */
        return t != 0 ? t : lo->opts.threshold_no_ad;
    if (ad == NULL || !ad->known)                        /* AD's could be as low as 1 */
        return lo->opts.threshold_unknown;
    /* One more failure must never be able to lock the account, even with
     * other instances checking at the same time: stay margin below AD. */
    limit = ad->threshold > lo->opts.margin ? ad->threshold - lo->opts.margin : 0;
    return t != 0 && t < limit ? t : limit;
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

/* AD resets badPwdCount when the window has passed since the last failure;
 * the wrong passwords remembered go with it. */
static void expire(entry *e, long window, time_t now)
{
    if (now >= e->last_failure + window) {
        e->failures = 0;
        e->n_tags = e->next_tag = 0;
    }
}

void adb_lockout_tag(const adb_lockout *lo, const char *user, const void *pw, size_t len,
                     unsigned char tag[ADB_LOCKOUT_TAG_BYTES])
{
    crypto_generichash_state st;

    crypto_generichash_init(&st, lo->hash_key, sizeof lo->hash_key, ADB_LOCKOUT_TAG_BYTES);
    crypto_generichash_update(&st, (const unsigned char *)"adbridge-pwtag", 15);
    crypto_generichash_update(&st, (const unsigned char *)user, strlen(user) + 1);
    crypto_generichash_update(&st, pw, len);
    crypto_generichash_final(&st, tag, ADB_LOCKOUT_TAG_BYTES);
    adb_wipe(&st, sizeof st);
}

static bool tag_known(entry *e, const adb_lockout_check *q)
{
    if (q->tag == NULL)
        return false;
    /* A new password (pwdLastSet moved) may be any of the old wrong ones. */
    if (q->ad != NULL && q->ad->known && e->tags_pwd_last_set != 0 && q->ad->pwd_last_set != e->tags_pwd_last_set)
        e->n_tags = e->next_tag = 0;
    for (unsigned i = 0; i < e->n_tags; i++)
        if (sodium_memcmp(e->tags[i], q->tag, ADB_LOCKOUT_TAG_BYTES) == 0)
            return true;
    return false;
}

static void tag_remember(entry *e, const adb_lockout_check *q)
{
    if (q->tag == NULL || tag_known(e, q))
        return;
    memcpy(e->tags[e->next_tag], q->tag, ADB_LOCKOUT_TAG_BYTES);
    e->next_tag = (e->next_tag + 1) % MAX_TAGS;
    if (e->n_tags < MAX_TAGS)
        e->n_tags++;
    if (q->ad != NULL && q->ad->known)
        e->tags_pwd_last_set = q->ad->pwd_last_set;
}

/* AD's count now: badPwdCount decays to 0 once the window has passed since
 * badPasswordTime (AD applies this when it next reads the count). */
static unsigned ad_failures(const adb_lockout_check *q, long window, time_t now)
{
    if (q->ad == NULL || !q->ad->known || q->ad->bad_password_time == 0)
        return 0;
    if (q->policy != NULL && q->policy->known && q->policy->threshold == 0)
        return 0;   /* AD never locks this account: its count is no risk */
    return now < q->ad->bad_password_time + window ? q->ad->bad_pwd_count : 0;
}

static bool locked_in_ad(const adb_lockout_check *q, time_t now, time_t *until)
{
    long duration = q->policy != NULL && q->policy->known ? q->policy->duration_s : -1;

    if (q->ad == NULL || !q->ad->known || q->ad->lockout_time == 0)
        return false;
    *until = duration < 0 ? 0 : q->ad->lockout_time + duration;
    return duration < 0 || now < *until;
}

/* Under the lock: the verdict for e now, without waiting.  holding: this
 * check already holds e's slot. */
static adb_lockout_verdict decide(adb_lockout *lo, entry *e, const adb_lockout_check *q, bool holding,
                                  adb_lockout_decision *d)
{
    long window = adb_lockout_window(lo, q->policy);
    time_t now = adb_clock_now(&lo->opts.clock), until, last;
    unsigned ad = ad_failures(q, window, now);

    memset(d, 0, sizeof *d);
    d->limit = adb_lockout_threshold(lo, q->policy);
    d->margin = lo->opts.margin;
    if (locked_in_ad(q, now, &until)) {
        d->retry_at = until;
        return d->verdict = ADB_LOCKOUT_LOCKED_IN_AD;
    }
    expire(e, window, now);
    d->failures_from_ad = ad >= e->failures;
    d->failures = d->failures_from_ad ? ad : e->failures;
    d->in_flight = e->pending - (holding ? 1 : 0);
    if (tag_known(e, q))
        return d->verdict = ADB_LOCKOUT_REPEATED;
    if (d->failures >= d->limit) {
        last = e->last_failure;
        if (q->ad != NULL && q->ad->known && q->ad->bad_password_time > last)
            last = q->ad->bad_password_time;   /* both counts must have decayed */
        d->retry_at = d->limit == 0 || last == 0 ? 0 : last + window;
        return d->verdict = ADB_LOCKOUT_REFUSED;
    }
    if (d->in_flight > 0) {
        d->retry_at = now + 1;
        return d->verdict = ADB_LOCKOUT_BUSY;
    }
    return d->verdict = ADB_LOCKOUT_GO;
}

static void release(adb_lockout *lo, entry *e)
{
    if (e->pending > 0)
        e->pending--;
    if (e->failures == 0 && e->pending == 0 && e->n_tags == 0)
        drop(lo, e);   /* nothing to remember */
    pthread_cond_broadcast(&lo->ended);
}

adb_lockout_verdict adb_lockout_begin(adb_lockout *lo, const adb_lockout_check *q, adb_lockout_decision *d)
{
    unsigned char id[ID_BYTES];
    bool waited = false;
    entry *e;

    user_id(lo, q->user, id);
    pthread_mutex_lock(&lo->lock);
    for (;;) {
        struct timespec ts;
        int64_t wait_ms;

        if ((e = get(lo, id)) == NULL) {
            /* No memory to track the user: refusing is the safe side. */
            memset(d, 0, sizeof *d);
            d->verdict = ADB_LOCKOUT_REFUSED;
            d->retry_at = adb_clock_now(&lo->opts.clock) + 1;
            break;
        }
        if (decide(lo, e, q, false, d) != ADB_LOCKOUT_BUSY || (wait_ms = q->wait_until_ms - adb_mono_ms()) <= 0)
            break;
        /* The check in flight ends soon; its outcome changes AD's count. */
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += wait_ms / 1000;
        ts.tv_nsec += (wait_ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&lo->ended, &lo->lock, &ts);
        waited = true;
    }
    if (e == NULL) {
        /* refused above */
    } else if (d->verdict == ADB_LOCKOUT_GO) {
        e->pending++;
        if (waited)
            d->verdict = ADB_LOCKOUT_RECHECK;   /* the count the caller read predates the check that ended */
    } else if (e->failures == 0 && e->pending == 0 && e->n_tags == 0) {
        drop(lo, e);   /* nothing to remember */
    }
    pthread_mutex_unlock(&lo->lock);
    return d->verdict;
}

adb_lockout_verdict adb_lockout_recheck(adb_lockout *lo, const adb_lockout_check *q, adb_lockout_decision *d)
{
    unsigned char id[ID_BYTES];
    entry *e;

    user_id(lo, q->user, id);
    pthread_mutex_lock(&lo->lock);
    if ((e = find(lo, id)) == NULL) {   /* evicted while reading: start over, refusing is safe */
        memset(d, 0, sizeof *d);
        d->verdict = ADB_LOCKOUT_BUSY;
        d->retry_at = adb_clock_now(&lo->opts.clock) + 1;
    } else if (decide(lo, e, q, true, d) != ADB_LOCKOUT_GO) {
        release(lo, e);
    }
    pthread_mutex_unlock(&lo->lock);
    return d->verdict;
}

adb_lockout_outcome adb_lockout_outcome_of(adb_auth_reason reason)
{
    switch (reason) {
    case ADB_AUTH_OK: return ADB_LOCKOUT_SUCCESS;
    case ADB_AUTH_INVALID_CREDENTIALS: return ADB_LOCKOUT_FAILURE;
    default: return ADB_LOCKOUT_NEUTRAL;
    }
}

void adb_lockout_end(adb_lockout *lo, const adb_lockout_check *q, adb_lockout_outcome outcome)
{
    unsigned char id[ID_BYTES];
    time_t now = adb_clock_now(&lo->opts.clock);
    entry *e;

    user_id(lo, q->user, id);
    pthread_mutex_lock(&lo->lock);
    if ((e = find(lo, id)) == NULL) {
        /* Evicted while the check ran: record a failure all the same. */
        if (outcome != ADB_LOCKOUT_FAILURE || (e = get(lo, id)) == NULL) {
            pthread_cond_broadcast(&lo->ended);
            goto out;
        }
        e->pending = 1;
    }
    if (outcome == ADB_LOCKOUT_SUCCESS) {
        e->failures = 0;
    } else if (outcome == ADB_LOCKOUT_FAILURE) {
        e->failures++;
        e->last_failure = now;
        tag_remember(e, q);
    }
    release(lo, e);
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
    int64_t threshold, window, duration;
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
    /* lockoutDuration: 0 or "never" (INT64_MIN) keeps the account locked
     * until an admin unlocks it; missing: the same, the safe reading. */
    if (!adb_ldap_entry_int64(e, pso ? "msDS-LockoutDuration" : "lockoutDuration", &duration) || duration >= 0
        || duration == INT64_MIN)
        out->duration_s = -1;
    else
        out->duration_s = (long)(-duration / 10000000);
    return ADB_OK;
}

adb_code adb_lockout_read_policy_of(adb_ldap_conn *c, const char *domain_dn, const adb_ldap_entry *user,
                                    adb_lockout_ad_policy *out, adb_error *err)
{
    static const char *const pso_attrs[] = { "msDS-LockoutThreshold", "msDS-LockoutObservationWindow",
                                             "msDS-LockoutDuration", NULL };
    static const char *const dom_attrs[] = { "lockoutThreshold", "lockOutObservationWindow", "lockoutDuration",
                                             NULL };
    adb_ldap_entry *e = NULL;
    char pso[1024];
    adb_code rc;

    memset(out, 0, sizeof *out);
    if (user != NULL && adb_ldap_entry_str(user, "msDS-ResultantPSO", pso, sizeof pso) != NULL) {
        /* AD lets only Domain Admins read PSOs by default: the entry
         * comes back without the attributes, or not at all. */
        if (adb_ldap_read(c, pso, NULL, pso_attrs, &e, NULL) != ADB_OK
            || adb_lockout_policy_from_entry(e, out, NULL) != ADB_OK) {
            memset(out, 0, sizeof *out);
            out->pso_unreadable = true;
        }
        adb_ldap_entry_free(e);
        return ADB_OK;
    }
    if ((rc = adb_ldap_read(c, domain_dn, NULL, dom_attrs, &e, err)) != ADB_OK) {
        adb_error_prefix(err, "reading the lockout policy of %s", domain_dn);
        return rc;
    }
    rc = adb_lockout_policy_from_entry(e, out, err);
    adb_ldap_entry_free(e);
    return rc;
}

adb_code adb_lockout_read_policy(adb_ldap_conn *c, const char *domain_dn, const char *user_dn,
                                 adb_lockout_ad_policy *out, adb_error *err)
{
    static const char *const user_attrs[] = { "msDS-ResultantPSO", NULL };
    adb_ldap_entry *e = NULL;
    adb_code rc;

    /* Constructed attribute: only on a base read, as done here. */
    if (user_dn != NULL && (rc = adb_ldap_read(c, user_dn, NULL, user_attrs, &e, err)) != ADB_OK)
        return rc;
    rc = adb_lockout_read_policy_of(c, domain_dn, e, out, err);
    adb_ldap_entry_free(e);
    return rc;
}

const char *const adb_lockout_state_attrs[] = { "badPwdCount", "badPasswordTime", "lockoutTime", "pwdLastSet",
                                                NULL };

void adb_lockout_state_from_entry(const adb_ldap_entry *e, adb_lockout_ad_state *out)
{
    int64_t v;

    memset(out, 0, sizeof *out);
    out->known = true;
    if (adb_ldap_entry_int64(e, "badPwdCount", &v) && v > 0 && v < 65536)
        out->bad_pwd_count = (unsigned)v;
    if (adb_ldap_entry_int64(e, "badPasswordTime", &v) && v > 0)
        out->bad_password_time = adb_filetime_to_unix(v);
    if (adb_ldap_entry_int64(e, "lockoutTime", &v) && v > 0)
        out->lockout_time = adb_filetime_to_unix(v);
    if (adb_ldap_entry_int64(e, "pwdLastSet", &v))
        out->pwd_last_set = v;
}
