/* TTL + LRU cache (see include/adbridge/cache.h).
 *
 * A chained hash table for lookups and a doubly-linked list in recency order
 * (head = most recent) for eviction, both under one mutex.  Values are
 * released outside the lock: a release may free a large member list. */
#include "config.h"

#include <adbridge/cache.h>
#include <adbridge/clock.h>

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum {
    DEFAULT_OBJECT_TTL_S = 300,
    DEFAULT_MEMBERSHIP_TTL_S = 120,
    DEFAULT_NEGATIVE_TTL_S = 60,
    ENTRY_OVERHEAD = 96,          /* bytes of bookkeeping per entry, for the bound */
};
#define DEFAULT_MAX_BYTES ((size_t)64 << 20)

typedef struct entry {
    struct entry *next_hash;
    struct entry *prev, *next;    /* recency list */
    char *key;
    uint64_t hash;
    const adb_cache_type *type;   /* NULL for a negative entry */
    void *value;
    size_t bytes;                 /* key + value + overhead */
    int64_t stored_ms, expires_ms;
} entry;

struct adb_cache {
    pthread_mutex_t mu;
    adb_cache_options o;
    entry **buckets;
    size_t n_buckets;
    entry *head, *tail;
    adb_cache_stats stats;
};

/* Values to release once the lock is dropped. */
typedef struct garbage {
    entry *list;
} garbage;

static int64_t monotonic_ms(void *arg)
{
    (void)arg;
    return adb_mono_ms();
}

static uint64_t hash_key(const char *key)
{
    uint64_t h = UINT64_C(0xcbf29ce484222325);   /* FNV-1a */

    for (; *key != '\0'; key++) {
        h ^= (unsigned char)*key;
        h *= UINT64_C(0x100000001b3);
    }
    return h;
}

adb_code adb_cache_new(const adb_cache_options *opts, adb_cache **out, adb_error *err)
{
    adb_cache *c = calloc(1, sizeof *c);

    *out = NULL;
    if (c == NULL)
        return adb_error_set(err, ADB_E_NOMEM, "out of memory");
    if (opts != NULL)
        c->o = *opts;
    for (int k = 0; k < ADB_CACHE_KIND_COUNT_; k++)
        if (c->o.ttl_s[k] == 0)
            c->o.ttl_s[k] = k <= ADB_CACHE_OTHER ? DEFAULT_OBJECT_TTL_S : DEFAULT_MEMBERSHIP_TTL_S;
    if (c->o.negative_ttl_s == 0)
        c->o.negative_ttl_s = DEFAULT_NEGATIVE_TTL_S;
    if (c->o.max_bytes == 0)
        c->o.max_bytes = DEFAULT_MAX_BYTES;
    if (c->o.clock_ms == NULL)
        c->o.clock_ms = monotonic_ms;
    c->n_buckets = 1024;
    if ((c->buckets = calloc(c->n_buckets, sizeof *c->buckets)) == NULL) {
        free(c);
        return adb_error_set(err, ADB_E_NOMEM, "out of memory");
    }
    pthread_mutex_init(&c->mu, NULL);
    *out = c;
    return ADB_OK;
}

static void release_garbage(garbage *g)
{
    while (g->list != NULL) {
        entry *e = g->list;
        g->list = e->next;
        if (e->type != NULL)
            e->type->release(e->value);
        free(e->key);
        free(e);
    }
}

/* Unlinks e from the table and the recency list and queues it for release. */
static void drop(adb_cache *c, entry *e, garbage *g)
{
    entry **p = &c->buckets[e->hash % c->n_buckets];

    while (*p != e)
        p = &(*p)->next_hash;
    *p = e->next_hash;
    if (e->prev != NULL)
        e->prev->next = e->next;
    else
        c->head = e->next;
    if (e->next != NULL)
        e->next->prev = e->prev;
    else
        c->tail = e->prev;
    c->stats.entries--;
    c->stats.bytes -= e->bytes;
    e->prev = NULL;
    e->next = g->list;
    g->list = e;
}

void adb_cache_free(adb_cache *c)
{
    garbage g = { NULL };

    if (c == NULL)
        return;
    while (c->head != NULL)
        drop(c, c->head, &g);
    release_garbage(&g);
    free(c->buckets);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

static entry *find(adb_cache *c, const char *key, uint64_t h)
{
    for (entry *e = c->buckets[h % c->n_buckets]; e != NULL; e = e->next_hash)
        if (e->hash == h && strcmp(e->key, key) == 0)
            return e;
    return NULL;
}

/* Doubles the table when it gets crowded; on allocation failure it just
 * stays as it is (chains get longer, nothing breaks). */
static void maybe_grow(adb_cache *c)
{
    size_t n = c->n_buckets * 2;
    entry **b;

    if (c->stats.entries < c->n_buckets)
        return;
    if ((b = calloc(n, sizeof *b)) == NULL)
        return;
    for (size_t i = 0; i < c->n_buckets; i++)
        for (entry *e = c->buckets[i], *next; e != NULL; e = next) {
            next = e->next_hash;
            e->next_hash = b[e->hash % n];
            b[e->hash % n] = e;
        }
    free(c->buckets);
    c->buckets = b;
    c->n_buckets = n;
}

static void push_front(adb_cache *c, entry *e)
{
    e->prev = NULL;
    e->next = c->head;
    if (c->head != NULL)
        c->head->prev = e;
    c->head = e;
    if (c->tail == NULL)
        c->tail = e;
}

static void insert(adb_cache *c, const char *key, const adb_cache_type *type, void *value, size_t size,
                   int ttl_s)
{
    garbage g = { NULL };
    uint64_t h = hash_key(key);
    size_t bytes = strlen(key) + 1 + size + ENTRY_OVERHEAD;
    entry *e = NULL, *old;

    if (ttl_s < 0 || bytes > c->o.max_bytes / 4 || (e = calloc(1, sizeof *e)) == NULL
        || (e->key = strdup(key)) == NULL) {
        if (type != NULL)
            type->release(value);
        free(e);
        return;
    }
    e->hash = h;
    e->type = type;
    e->value = value;
    e->bytes = bytes;
    pthread_mutex_lock(&c->mu);
    e->stored_ms = c->o.clock_ms(c->o.clock_arg);
    e->expires_ms = e->stored_ms + (int64_t)ttl_s * 1000;
    if ((old = find(c, key, h)) != NULL)
        drop(c, old, &g);
    maybe_grow(c);
    e->next_hash = c->buckets[h % c->n_buckets];
    c->buckets[h % c->n_buckets] = e;
    push_front(c, e);
    c->stats.entries++;
    c->stats.bytes += bytes;
    c->stats.inserts++;
    while (c->stats.bytes > c->o.max_bytes && c->tail != NULL && c->tail != e) {
        drop(c, c->tail, &g);
        c->stats.evictions++;
    }
    pthread_mutex_unlock(&c->mu);
    release_garbage(&g);
}

void adb_cache_put(adb_cache *c, const char *key, adb_cache_kind kind, const adb_cache_type *type, void *value,
                   size_t size)
{
    if ((unsigned)kind >= ADB_CACHE_KIND_COUNT_) {
        type->release(value);
        return;
    }
    insert(c, key, type, value, size, c->o.ttl_s[kind]);
}

void adb_cache_put_negative(adb_cache *c, const char *key)
{
    insert(c, key, NULL, NULL, 0, c->o.negative_ttl_s);
}

static int64_t now_ms(adb_cache *c)
{
    return c->o.clock_ms(c->o.clock_arg);
}

static bool keep_stale(adb_cache *c, const entry *e)
{
    return e->type != NULL && now_ms(c) - e->stored_ms <= (int64_t)c->o.stale_max_s * 1000;
}

/* Most recently used goes to the front. */
static void touch(adb_cache *c, entry *e)
{
    if (e == c->head)
        return;
    e->prev->next = e->next;
    if (e->next != NULL)
        e->next->prev = e->prev;
    else
        c->tail = e->prev;
    push_front(c, e);
}

adb_cache_result adb_cache_get_stale(adb_cache *c, const char *key, void **value, int64_t *age_s)
{
    adb_cache_result r = ADB_CACHE_MISS;
    entry *e;

    *value = NULL;
    *age_s = 0;
    pthread_mutex_lock(&c->mu);
    if ((e = find(c, key, hash_key(key))) != NULL && keep_stale(c, e)) {
        touch(c, e);
        c->stats.stale_hits++;
        *value = e->type->retain(e->value);
        *age_s = (now_ms(c) - e->stored_ms) / 1000;
        r = ADB_CACHE_HIT;
    }
    pthread_mutex_unlock(&c->mu);
    return r;
}

adb_cache_result adb_cache_get(adb_cache *c, const char *key, void **value)
{
    garbage g = { NULL };
    uint64_t h = hash_key(key);
    adb_cache_result r = ADB_CACHE_MISS;
    entry *e;

    *value = NULL;
    pthread_mutex_lock(&c->mu);
    if ((e = find(c, key, h)) != NULL && now_ms(c) >= e->expires_ms) {
        /* An object kept for stale answers stays until its stale age is up. */
        if (!keep_stale(c, e))
            drop(c, e, &g);
        c->stats.expired++;
        e = NULL;
    }
    if (e == NULL) {
        c->stats.misses++;
    } else {
        touch(c, e);
        if (e->type == NULL) {
            c->stats.negative_hits++;
            r = ADB_CACHE_NEGATIVE;
        } else {
            c->stats.hits++;
            *value = e->type->retain(e->value);
            r = ADB_CACHE_HIT;
        }
    }
    pthread_mutex_unlock(&c->mu);
    release_garbage(&g);
    return r;
}

void adb_cache_invalidate(adb_cache *c, const char *key)
{
    garbage g = { NULL };
    entry *e;

    pthread_mutex_lock(&c->mu);
    if ((e = find(c, key, hash_key(key))) != NULL)
        drop(c, e, &g);
    pthread_mutex_unlock(&c->mu);
    release_garbage(&g);
}

void adb_cache_invalidate_all(adb_cache *c)
{
    garbage g = { NULL };

    pthread_mutex_lock(&c->mu);
    while (c->head != NULL)
        drop(c, c->head, &g);
    pthread_mutex_unlock(&c->mu);
    release_garbage(&g);
}

void adb_cache_stats_get(adb_cache *c, adb_cache_stats *out)
{
    pthread_mutex_lock(&c->mu);
    *out = c->stats;
    pthread_mutex_unlock(&c->mu);
}
