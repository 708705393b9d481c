/* Integration: the LDAP pool over the real locator, and failover when a DC
 * stops under an open pool (run by t-35-pool.sh, which sets ADB_TEST_*). */
#include "config.h"

#include <adbridge/config.h>
#include <adbridge/krb.h>
#include <adbridge/locator.h>
#include <adbridge/pool.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

static const char *env(const char *name)
{
    const char *v = getenv(name);
    if (v == NULL || v[0] == '\0')
        fail_msg("%s is not set: run this through tests/integration/run.test", name);
    return v;
}

struct read_host {
    char host[256];
};

/* The operation: read the rootDSE's dnsHostName (which DC served it). */
static adb_code read_host(adb_ldap_conn *c, void *arg, adb_error *err)
{
    struct read_host *r = arg;
    const char *attrs[] = { "dnsHostName", NULL };
    adb_ldap_entry *e;
    adb_code code = adb_ldap_read(c, "", NULL, attrs, &e, err);
    if (code == ADB_OK) {
        adb_ldap_entry_str(e, "dnsHostName", r->host, sizeof r->host);
        adb_ldap_entry_free(e);
    }
    return code;
}

static void test_failover_under_open_pool(void **state)
{
    adb_config *cfg;
    adb_locator *loc;
    adb_krb *k;
    adb_pool *pool;
    adb_pool_stats st;
    adb_error err = { 0 };
    struct read_host r = { "" };
    int failures = 0;

    (void)state;
    if (adb_config_load(env("ADBRIDGE_CONFIG"), &cfg, &err) != ADB_OK
        || adb_locator_new(cfg, NULL, &loc, &err) != ADB_OK
        || adb_krb_new(cfg->keytab, cfg->machine_principal, &k, &err) != ADB_OK
        || adb_krb_refresh(k, false, &err) != ADB_OK || adb_pool_new(loc, k, NULL, NULL, &pool, &err) != ADB_OK)
        fail_msg("set-up: %s: %s", adb_code_name(err.code), err.message);

    /* Warm: the client is in Tokyo, so DC1 serves. */
    for (int i = 0; i < 5; i++)
        assert_int_equal(adb_pool_run(pool, "adb.test", ADB_POOL_DC, read_host, &r, &err), ADB_OK);
    assert_string_equal(r.host, "dc1.adb.test");

    assert_int_equal(system(env("ADB_TEST_STOP_DC1")), 0);
    /* The pool's connection to DC1 is dead now; the next operations move to DC2. */
    for (int i = 0; i < 20; i++) {
        adb_error e = { 0 };
        if (adb_pool_run(pool, "adb.test", ADB_POOL_DC, read_host, &r, &e) != ADB_OK) {
            print_message("# search %d failed: %s: %s\n", i, adb_code_name(e.code), e.message);
            failures++;
        } else {
            assert_string_equal(r.host, "dc2.adb.test");
        }
    }
    adb_pool_stats_get(pool, &st);
    print_message("# after DC1 stopped: %d of 20 failed; connects %lu, failovers %lu, retries %lu\n", failures,
                  st.connects, st.failovers, st.retries);
    /* At most the one in-flight operation may fail; adb_pool_run's retry makes it 0. */
    assert_true(failures <= 1);
    assert_true(st.retries + st.failovers >= 1);

    assert_int_equal(system(env("ADB_TEST_START_DC1")), 0);
    adb_pool_free(pool);
    adb_krb_free(k);
    adb_locator_free(loc);
    adb_config_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_failover_under_open_pool),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
