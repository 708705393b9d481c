/* Integration: the DC locator against the testenv's DCs (run by
 * t-30-locator.sh, which sets ADB_TEST_* and the configuration).
 *
 *   test_locator concurrent   50 callers at once on a stale entry: one refresh (cmocka, TAP)
 *   test_locator watch         every 200 ms, which DC serves an LDAP read through the pool
 *                              and what health says of each DC, one line each, until killed
 *   test_locator read          one LDAP read through the pool: the DC and address that served it */
#include "config.h"

#include <adbridge/config.h>
#include <adbridge/krb.h>
#include <adbridge/locator.h>
#include <adbridge/pool.h>

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#define CALLERS 50

static adb_config *cfg;

static void load(void)
{
    adb_error err = { 0 };
    const char *path = getenv("ADBRIDGE_CONFIG");

    if (path == NULL || adb_config_load(path, &cfg, &err) != ADB_OK) {
        fprintf(stderr, "test_locator: configuration ($ADBRIDGE_CONFIG): %s\n", err.message);
        exit(2);
    }
}

struct caller {
    adb_locator *loc;
    pthread_barrier_t *go;
    adb_code code;
    char first[256];
};

static void *call(void *arg)
{
    struct caller *c = arg;
    adb_locator_options o = { .max_age_ms = 1000 };
    adb_dc_list l;
    adb_error err = { 0 };

    pthread_barrier_wait(c->go);
    if ((c->code = adb_locator_get(c->loc, cfg->domains[0].name, ADB_LOCATE_DEFAULT, &o, &l, &err)) == ADB_OK) {
        snprintf(c->first, sizeof c->first, "%s", l.dcs[0].host);
        adb_dc_list_free(&l);
    }
    return NULL;
}

/* The entry is found once, goes stale (max_age 1 s), then 50 callers ask at
 * the same instant: one of them refreshes, the others wait for its result. */
static void test_one_refresh_for_concurrent_callers(void **state)
{
    static struct caller c[CALLERS];
    pthread_t t[CALLERS];
    pthread_barrier_t go;
    adb_locator *loc;
    adb_locator_stats st;
    adb_dc_list l;
    adb_error err = { 0 };

    (void)state;
    assert_int_equal(adb_locator_new(cfg, NULL, &loc, &err), ADB_OK);
    if (adb_locator_get(loc, cfg->domains[0].name, ADB_LOCATE_DEFAULT, NULL, &l, &err) != ADB_OK)
        fail_msg("first locate: %s", err.message);
    adb_dc_list_free(&l);
    adb_locator_stats_get(loc, &st);
    assert_int_equal(st.refreshes, 1);
    usleep(1100 * 1000);
    pthread_barrier_init(&go, NULL, CALLERS);
    for (int i = 0; i < CALLERS; i++) {
        c[i] = (struct caller){ .loc = loc, .go = &go };
        assert_int_equal(pthread_create(&t[i], NULL, call, &c[i]), 0);
    }
    for (int i = 0; i < CALLERS; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(c[i].code, ADB_OK);
        assert_string_equal(c[i].first, c[0].first);
    }
    adb_locator_stats_get(loc, &st);
    print_message("# refreshes %lu, pings %lu, first DC %s\n", st.refreshes, st.pings, c[0].first);
    assert_int_equal(st.refreshes, 2);            /* the first locate and one for all 50 */
    pthread_barrier_destroy(&go);
    adb_locator_free(loc);
}

struct read_host {
    char host[256];
};

/* A sealed read of the rootDSE's currentTime on a pooled connection; host
 * is the DC the connection goes to. */
static adb_code read_host(adb_ldap_conn *c, void *arg, adb_error *err)
{
    struct read_host *r = arg;
    const char *attrs[] = { "currentTime", NULL };
    adb_ldap_entry *e;
    adb_code code = adb_ldap_read(c, "", NULL, attrs, &e, err);

    if (code == ADB_OK) {
        snprintf(r->host, sizeof r->host, "%s", adb_ldap_host(c));
        adb_ldap_entry_free(e);
    }
    return code;
}

static int pool_mode(int watch)
{
    adb_locator *loc;
    adb_krb *k;
    adb_pool *pool;
    adb_error err = { 0 };
    const char *domain = cfg->domains[0].name;
    struct timespec t0, t1;

    if (adb_locator_new(cfg, NULL, &loc, &err) != ADB_OK || adb_krb_new(cfg->keytab, cfg->machine_principal, &k, &err) != ADB_OK
        || adb_pool_new(loc, k, NULL, NULL, &pool, &err) != ADB_OK) {
        fprintf(stderr, "test_locator: set-up: %s\n", err.message);
        return 2;
    }
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do {
        struct read_host r = { "-" };
        adb_dc_health h[16];
        adb_dc_list l;
        adb_code code = adb_pool_run(pool, domain, ADB_POOL_DC, read_host, &r, &err);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        printf("t=%.1f host=%s code=%s", (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9, r.host,
               adb_code_name(code));
        size_t n = adb_locator_health(loc, h, 16);
        for (size_t i = 0; i < n && i < 16; i++)
            if (strcasecmp(h[i].domain, domain) == 0 && h[i].host[0] != '\0')
                printf(" %s=%s/%u", h[i].host, h[i].state == ADB_DC_UP ? "up" : h[i].state == ADB_DC_DOWN ? "down" : "untried",
                   h[i].failures);
        if (adb_locator_get(loc, domain, ADB_LOCATE_DEFAULT, NULL, &l, &err) == ADB_OK) {
            for (size_t i = 0; i < l.n; i++)
                if (strcasecmp(l.dcs[i].host, r.host) == 0)
                    printf(" address=%s", l.dcs[i].address);
            adb_dc_list_free(&l);
        }
        if (code != ADB_OK)
            printf(" error=%s", err.message);
        printf("\n");
        fflush(stdout);
        if (watch)
            usleep(200 * 1000);
    } while (watch);
    adb_pool_free(pool);
    adb_krb_free(k);
    adb_locator_free(loc);
    return 0;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";

    load();
    if (strcmp(mode, "watch") == 0 || strcmp(mode, "read") == 0)
        return pool_mode(strcmp(mode, "watch") == 0);
    if (strcmp(mode, "concurrent") != 0) {
        fprintf(stderr, "usage: test_locator concurrent|watch|read\n");
        return 2;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_refresh_for_concurrent_callers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
