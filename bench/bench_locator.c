/* DC locator: time to locate adb.test cold (DNS SRV + A/AAAA + CLDAP pings
 * in MS-DISO batches, a new locator each time) and warm (answered from the
 * cache); cold again with dead DCs pinned ahead of the two live ones (3 dead
 * in the first batch of 5; 5 dead: the whole first batch); the refreshes 50
 * concurrent callers cause on a stale entry; the CLDAP ping round trip to
 * each DC alone.  Against the testenv (bench/run). */
#include "config.h"

#include "stats.h"

#include <adbridge/cldap.h>
#include <adbridge/config.h>
#include <adbridge/locator.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* n cold locates of adb.test with hosts pinned (NULL: from DNS). */
static void cold(const char *name, adb_config *cfg, char **hosts, size_t n_hosts, int n)
{
    char **dcs = cfg->domains[0].dcs;
    size_t n_dcs = cfg->domains[0].n_dcs;
    bench_samples s = { 0 };
    adb_error err = { 0 };
    adb_locator *loc;
    adb_dc_list l;

    if (hosts != NULL) {
        cfg->domains[0].dcs = hosts;
        cfg->domains[0].n_dcs = n_hosts;
    }
    for (int i = 0; i < n; i++) {
        double t0 = bench_now_us();
        if (adb_locator_new(cfg, NULL, &loc, &err) != ADB_OK
            || adb_locator_get(loc, "adb.test", ADB_LOCATE_DEFAULT, NULL, &l, &err) != ADB_OK)
            bench_die("locate", &err);
        bench_add(&s, bench_now_us() - t0);
        adb_dc_list_free(&l);
        adb_locator_free(loc);
    }
    cfg->domains[0].dcs = dcs;
    cfg->domains[0].n_dcs = n_dcs;
    bench_report(name, &s);
}

struct caller {
    adb_locator *loc;
    pthread_barrier_t *go;
};

static void *call(void *arg)
{
    struct caller *c = arg;
    adb_locator_options o = { .max_age_ms = 1 };   /* the entry is stale for all of them */
    adb_dc_list l;
    adb_error err = { 0 };

    pthread_barrier_wait(c->go);
    if (adb_locator_get(c->loc, "adb.test", ADB_LOCATE_DEFAULT, &o, &l, &err) == ADB_OK)
        adb_dc_list_free(&l);
    return NULL;
}

/* 50 callers at once on a stale entry: how many refreshes they cause. */
static void concurrent(adb_config *cfg)
{
    enum { CALLERS = 50, ROUNDS = 20 };
    struct caller c[CALLERS];
    pthread_t t[CALLERS];
    pthread_barrier_t go;
    adb_locator_stats st;
    adb_error err = { 0 };
    adb_locator *loc;
    adb_dc_list l;

    if (adb_locator_new(cfg, NULL, &loc, &err) != ADB_OK
        || adb_locator_get(loc, "adb.test", ADB_LOCATE_DEFAULT, NULL, &l, &err) != ADB_OK)
        bench_die("locate", &err);
    adb_dc_list_free(&l);
    pthread_barrier_init(&go, NULL, CALLERS);
    for (int r = 0; r < ROUNDS; r++) {
        struct timespec ms2 = { 0, 2000000 };
        nanosleep(&ms2, NULL);                     /* past max_age */
        for (int i = 0; i < CALLERS; i++) {
            c[i] = (struct caller){ .loc = loc, .go = &go };
            if (pthread_create(&t[i], NULL, call, &c[i]) != 0)
                exit(2);
        }
        for (int i = 0; i < CALLERS; i++)
            pthread_join(t[i], NULL);
    }
    adb_locator_stats_get(loc, &st);
    printf("%-44s rounds=%d refreshes=%lu (%.2f per round of %d) pings=%lu\n", "50 concurrent callers, stale entry",
           ROUNDS, st.refreshes - 1, (double)(st.refreshes - 1) / ROUNDS, CALLERS, st.pings);
    pthread_barrier_destroy(&go);
    adb_locator_free(loc);
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 200;
    const char *path = getenv("ADBRIDGE_CONFIG");
    bench_samples s = { 0 };
    adb_error err = { 0 };
    adb_config *cfg;
    adb_locator *loc;
    adb_dc_list l;

    if (path == NULL || adb_config_load(path, &cfg, &err) != ADB_OK)
        bench_die("configuration ($ADBRIDGE_CONFIG, run through bench/run)", &err);
    char *alive[] = { "dc1.adb.test", "dc2.adb.test" };
    char *dead3[] = { "10.231.9.1", "10.231.9.2", "10.231.9.3", "dc1.adb.test", "dc2.adb.test" };
    char *dead5[] = { "10.231.9.1", "10.231.9.2", "10.231.9.3", "10.231.9.4", "10.231.9.5", "dc1.adb.test",
                      "dc2.adb.test" };
    cold("locate adb.test cold (DNS + pings)", cfg, NULL, 0, n);
    cold("cold, pinned: 2 alive of 2", cfg, alive, 2, n);
    cold("cold, pinned: 3 dead of 5, in the 1st batch", cfg, dead3, 5, n / 10 + 1);
    cold("cold, pinned: 5 dead of 7 (the 1st batch)", cfg, dead5, 7, n / 10 + 1);
    concurrent(cfg);

    if (adb_locator_new(cfg, NULL, &loc, &err) != ADB_OK
        || adb_locator_get(loc, "adb.test", ADB_LOCATE_DEFAULT, NULL, &l, &err) != ADB_OK)
        bench_die("locate", &err);
    adb_dc_list_free(&l);
    for (int i = 0; i < n * 50; i++) {
        double t0 = bench_now_us();
        if (adb_locator_get(loc, "adb.test", ADB_LOCATE_DEFAULT, NULL, &l, &err) != ADB_OK)
            bench_die("locate", &err);
        bench_add(&s, bench_now_us() - t0);
        adb_dc_list_free(&l);
    }
    bench_report("locate adb.test warm (cached)", &s);
    adb_locator_free(loc);

    const char *dcs[] = { getenv("ADB_TEST_DC1"), getenv("ADB_TEST_DC2") };
    for (int d = 0; d < 2; d++) {
        if (dcs[d] == NULL)
            continue;
        for (int i = 0; i < n; i++) {
            adb_cldap_ping p = { .address = dcs[d] };
            if (adb_cldap_ping_all(&p, 1, "adb.test", 1000, &err) != ADB_OK || p.code != ADB_OK) {
                fprintf(stderr, "bench_locator: ping %s: %s\n", dcs[d], p.error);
                exit(2);
            }
            bench_add(&s, p.rtt_us);
        }
        char name[64];
        snprintf(name, sizeof name, "CLDAP ping round trip, DC%d", d + 1);
        bench_report(name, &s);
    }
    adb_config_free(cfg);
    return 0;
}
