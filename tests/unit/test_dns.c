/* RFC 2782 ordering of SRV targets (no network). */
#include "config.h"

#include <adbridge/dns.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

/* xorshift32: a fixed, repeatable random source */
static uint32_t xorshift(void *ctx)
{
    uint32_t *s = ctx;
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

static adb_srv_target t(const char *host, uint16_t prio, uint16_t weight)
{
    adb_srv_target x = { .priority = prio, .weight = weight, .port = 389 };
    strcpy(x.host, host);
    return x;
}

static void test_priority_first(void **state)
{
    uint32_t seed = 1;
    (void)state;
    for (int round = 0; round < 100; round++) {
        adb_srv_target v[] = { t("c", 20, 5), t("a", 0, 0), t("d", 30, 100), t("b", 10, 50) };
        adb_srv_order(v, 4, xorshift, &seed);
        assert_string_equal(v[0].host, "a");
        assert_string_equal(v[1].host, "b");
        assert_string_equal(v[2].host, "c");
        assert_string_equal(v[3].host, "d");
    }
}

/* Weight 0 beside weighted targets: picked first only when the draw is 0. */
static void test_weight_zero(void **state)
{
    uint32_t seed = 7;
    int zero_first = 0;
    (void)state;
    for (int round = 0; round < 10000; round++) {
        adb_srv_target v[] = { t("w", 0, 100), t("z", 0, 0) };
        adb_srv_order(v, 2, xorshift, &seed);
        zero_first += strcmp(v[0].host, "z") == 0;
    }
    /* P(r == 0) = 1/101 */
    assert_in_range(zero_first, 40, 180);
    /* All weights 0: every target still comes out, each exactly once. */
    adb_srv_target v[] = { t("a", 0, 0), t("b", 0, 0), t("c", 0, 0) };
    adb_srv_order(v, 3, xorshift, &seed);
    assert_int_equal(strcmp(v[0].host, v[1].host) != 0 && strcmp(v[1].host, v[2].host) != 0
                         && strcmp(v[0].host, v[2].host) != 0, 1);
}

/* Weights 60/30/10: the first pick follows them within 2 points over 20000 draws. */
static void test_weighting_statistics(void **state)
{
    uint32_t seed = 12345;
    int first[3] = { 0 };
    const int n = 20000;
    (void)state;
    for (int round = 0; round < n; round++) {
        adb_srv_target v[] = { t("a", 0, 60), t("b", 0, 30), t("c", 0, 10) };
        adb_srv_order(v, 3, xorshift, &seed);
        first[v[0].host[0] - 'a']++;
    }
    assert_in_range(first[0] * 100 / n, 58, 62);
    assert_in_range(first[1] * 100 / n, 28, 32);
    assert_in_range(first[2] * 100 / n, 8, 12);
}

/* A numeric host, IPv4 or IPv6, is its own address: no query is sent. */
static void test_numeric_hosts(void **state)
{
    char addrs[ADB_DNS_MAX_ADDRS][46];
    adb_dns_options o = { .servers = (const char *const[]){ "192.0.2.1" }, .n_servers = 1, .timeout_ms = 1 };
    adb_error err = { 0 };
    size_t n = 0;

    (void)state;
    assert_int_equal(adb_dns_addrs(&o, "10.231.1.11", addrs, &n, &err), ADB_OK);
    assert_int_equal(n, 1);
    assert_string_equal(addrs[0], "10.231.1.11");
    assert_int_equal(adb_dns_addrs(&o, "fd00:231::12", addrs, &n, &err), ADB_OK);
    assert_int_equal(n, 1);
    assert_string_equal(addrs[0], "fd00:231::12");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_priority_first),
        cmocka_unit_test(test_weight_zero),
        cmocka_unit_test(test_weighting_statistics),
        cmocka_unit_test(test_numeric_hosts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
