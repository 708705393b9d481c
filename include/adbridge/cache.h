/* The dir layer's cache: string keys to shared, immutable values.
 *
 * Each entry has a kind with its own time to live; a miss can be remembered
 * as a negative entry (its own, shorter TTL).  The total size is bounded:
 * past max_bytes the least recently used entries go.  Values are
 * reference-counted by the caller's retain/release, so a value handed out
 * stays valid after it is evicted.  All calls are thread-safe and never
 * block on anything but the cache's own mutex: a hit never touches the
 * network. */
#ifndef ADBRIDGE_CACHE_H
#define ADBRIDGE_CACHE_H

#include <adbridge/error.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct adb_cache adb_cache;

typedef enum adb_cache_kind {
    ADB_CACHE_USER = 0,      /* a user or computer object */
    ADB_CACHE_GROUP,         /* a group object */
    ADB_CACHE_OTHER,         /* any other object */
    ADB_CACHE_GROUPS_OF,     /* a user's groups */
    ADB_CACHE_MEMBERS,       /* a group's members */
    ADB_CACHE_KIND_COUNT_
} adb_cache_kind;

typedef struct adb_cache_options {
    /* Seconds an entry of each kind lives; 0: the default (300 for objects,
     * 120 for memberships); negative: that kind is never cached. */
    int ttl_s[ADB_CACHE_KIND_COUNT_];
    int negative_ttl_s;      /* 0: 60; negative: misses are not remembered */
    size_t max_bytes;        /* 0: 64 MiB */
    /* Seconds an object stays available to adb_cache_get_stale after it was
     * stored (answers while its domain's DCs are all down); 0: none. */
    int stale_max_s;
    /* Monotonic clock in milliseconds; NULL: CLOCK_MONOTONIC.  Tests inject one. */
    int64_t (*clock_ms)(void *arg);
    void *clock_arg;
} adb_cache_options;

/* How the cache holds a value: retain returns a new reference to it,
 * release drops one. */
typedef struct adb_cache_type {
    void *(*retain)(void *value);
    void (*release)(void *value);
} adb_cache_type;

typedef enum adb_cache_result {
    ADB_CACHE_MISS = 0,
    ADB_CACHE_HIT,
    ADB_CACHE_NEGATIVE,      /* a remembered miss */
} adb_cache_result;

typedef struct adb_cache_stats {
    unsigned long hits, negative_hits, misses, expired, evictions, inserts, stale_hits;
    size_t entries, bytes;
} adb_cache_stats;

adb_code adb_cache_new(const adb_cache_options *opts, adb_cache **out, adb_error *err);
void adb_cache_free(adb_cache *c);

/* Stores value under key (replacing what was there), taking over the
 * caller's reference in every case.  size: bytes the value holds.  A kind
 * with a negative TTL or a value bigger than a quarter of max_bytes is
 * released at once and not stored. */
void adb_cache_put(adb_cache *c, const char *key, adb_cache_kind kind, const adb_cache_type *type, void *value,
                   size_t size);

/* Remembers that key does not exist (for the negative TTL). */
void adb_cache_put_negative(adb_cache *c, const char *key);

/* HIT: *value is a new reference (give it back with type->release).
 * NEGATIVE / MISS: *value is NULL.  An expired entry is removed and counts
 * as a miss. */
adb_cache_result adb_cache_get(adb_cache *c, const char *key, void **value);

/* For when the DCs cannot be asked: an entry stored at most stale_max_s
 * ago, expired or not.  HIT: *value is a new reference and *age_s its age;
 * a negative entry or nothing that recent: MISS. */
adb_cache_result adb_cache_get_stale(adb_cache *c, const char *key, void **value, int64_t *age_s);

/* Drops one key (no-op when absent), or every entry. */
void adb_cache_invalidate(adb_cache *c, const char *key);
void adb_cache_invalidate_all(adb_cache *c);

void adb_cache_stats_get(adb_cache *c, adb_cache_stats *out);

#endif
