/* LDAP connection pool: a bounded set of bound connections per domain (and
 * per forest global catalog), handed out to worker threads.
 *
 * DCs come from the locator, best first.  A connection that fails at the
 * transport level is closed and its DC reported down to the locator;
 * adb_pool_run retries the operation once on the next DC. */
#ifndef ADBRIDGE_POOL_H
#define ADBRIDGE_POOL_H

#include <adbridge/error.h>
#include <adbridge/krb.h>
#include <adbridge/ldap_conn.h>
#include <adbridge/locator.h>
#include <adbridge/log.h>

#include <stdbool.h>

typedef struct adb_pool adb_pool;

typedef struct adb_pool_options {
    int max_per_domain;        /* 0: 4 */
    int acquire_timeout_ms;    /* wait for a free slot; 0: 10000 */
    int max_idle_s;            /* close idle connections older than this; 0: 600 */
    adb_ldap_options ldap;
} adb_pool_options;

typedef enum adb_pool_kind {
    ADB_POOL_DC = 0,   /* LDAP 389 on a DC of the domain */
    ADB_POOL_GC = 1,   /* Global Catalog 3268 in the domain's forest */
    ADB_POOL_PDC = 2,  /* LDAP 389 on the domain's PDC emulator (the ping's PDC flag), where
                        * badPwdCount is authoritative; the best DC when it cannot be reached */
} adb_pool_kind;

adb_code adb_pool_new(adb_locator *loc, adb_krb *creds, const adb_pool_options *opts,
                      const adb_logger *log, adb_pool **out, adb_error *err);
void adb_pool_free(adb_pool *p);

/* A connection to the best reachable DC of domain; tries the next DC when
 * one cannot be reached.  Give it back with adb_pool_release. */
adb_code adb_pool_acquire(adb_pool *p, const char *domain, adb_pool_kind kind,
                          adb_ldap_conn **out, adb_error *err);

/* Returns c; a broken connection is closed and its DC reported down. */
void adb_pool_release(adb_pool *p, adb_ldap_conn *c);

typedef adb_code (*adb_pool_op)(adb_ldap_conn *c, void *arg, adb_error *err);

/* Runs op on a pooled connection; when it fails because the DC went away
 * (dc_unavailable or timeout on a broken connection), runs it once more on
 * the next DC.  op must be safe to repeat (all reads are). */
adb_code adb_pool_run(adb_pool *p, const char *domain, adb_pool_kind kind, adb_pool_op op,
                      void *arg, adb_error *err);

typedef struct adb_pool_stats {
    unsigned long connects, reuses, failovers, retries;
    int open;
} adb_pool_stats;

void adb_pool_stats_get(adb_pool *p, adb_pool_stats *out);

#endif
