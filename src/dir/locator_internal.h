/* Private to the DC locator (src/dir/locator*.c): its state, shared by
 * locator.c (locate, health) and locator_file.c (lists kept between
 * processes).  Not a public header. */
#ifndef ADBRIDGE_LOCATOR_INTERNAL_H
#define ADBRIDGE_LOCATOR_INTERNAL_H

#include <adbridge/locator.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* A log field value, quoted as needed (a buffer per use, for one call). */
#define V(s) ADB_LOG_V(s)

typedef struct health {
    char host[256];
    int fails;
    int64_t retry_at;             /* monotonic ms; 0 = no backoff */
} health;

typedef struct dom {
    const adb_domain_config *cfg;
    adb_dc_list cache[2];         /* [0] DCs, [1] GCs of its forest */
    int64_t expires[2];           /* monotonic ms */
    int64_t born[2];              /* monotonic ms: when the list was found */
    health *health;
    size_t n_health;
    bool busy[2];                 /* a refresh or re-probe of cache[k] runs (one at a time) */
    adb_code busy_code[2];        /* how the last refresh ended, for the callers that waited */
    unsigned long refreshed[2];   /* refreshes ended: tells a waiter a refresh from a re-probe */
    char busy_msg[2][ADB_ERROR_MESSAGE_MAX];
} dom;

struct adb_locator {
    const adb_config *cfg;
    const adb_logger *log;
    /* The flags' one owner, asked at each use, never copied; NULL: the
     * configuration's values.  Its lock is a leaf: mu may be held while
     * asking it, and it never calls back here. */
    adb_subscriptions *subs;
    pthread_mutex_t mu;           /* guards the doms' caches, health and busy flags, stats, file_read */
    pthread_cond_t done;          /* a refresh or re-probe ended (busy cleared) */
    adb_locator_stats stats;
    dom *doms;                    /* one per configured domain; the array never changes */
    size_t n;
    char *file;                   /* adb_locator_persist's file; NULL: memory only */
    char *scope;                  /* what the file's lists depend on (statecache.h) */
    bool file_read;
    /* What adb_locator_changed reads without the lock: a count of changes
     * and the earliest time (monotonic ms) a backoff or a list's TTL runs
     * out; both written under mu by locator_changed. */
    _Atomic uint64_t changes;
    _Atomic int64_t next_due;
};

/* The domain's state; NULL when not configured.  Reads only what never
 * changes (the array and its configuration): no lock. */
dom *locator_find(adb_locator *loc, const char *domain);

/* A list or a DC's health changed (mu held): counts it and sets when the
 * next backoff or TTL runs out. */
void locator_changed(adb_locator *loc);

/* Installs, once, the lists an earlier process left in loc->file. */
void locator_read_file(adb_locator *loc);
/* Writes every list this process holds that has time left. */
void locator_write_file(adb_locator *loc);

#endif
