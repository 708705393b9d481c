/* When a request that found no DC of its forest goes back to the broker
 * for another instance instead of being answered dc_unavailable
 * (include/adbridge/link.h adb_link_may_reroute, src/link/link_forests.c). */
#include "config.h"

#include <adbridge/link.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

static const int64_t NOW = 1900000000123; /* 2030-03-17, in ms */
enum { LIMIT = 5 };

static adb_link_request req(const char *forest, unsigned deliveries, int64_t expiry)
{
    adb_link_request r = { .forest = forest, .deliveries = deliveries, .expiry_unix_ms = expiry };
    return r;
}

/* The common address keeps today's behaviour: answered, never rerouted. */
static void test_common_address_answers(void **state)
{
    adb_link_request r = req(NULL, 1, 0);
    (void)state;
    assert_false(adb_link_may_reroute(&r, LIMIT, NOW));
}

/* On a forest's address, while deliveries are left: given back. */
static void test_forest_address_reroutes(void **state)
{
    adb_link_request r = req("partner.test", 1, 0);
    (void)state;
    assert_true(adb_link_may_reroute(&r, LIMIT, NOW));
    r.deliveries = LIMIT - 1;
    assert_true(adb_link_may_reroute(&r, LIMIT, NOW));
}

/* The last delivery answers: a forest nobody reaches still gets dc_unavailable. */
static void test_last_delivery_answers(void **state)
{
    adb_link_request r = req("partner.test", LIMIT, 0);
    (void)state;
    assert_false(adb_link_may_reroute(&r, LIMIT, NOW));
    r.deliveries = LIMIT + 1;
    assert_false(adb_link_may_reroute(&r, LIMIT, NOW));
    r.deliveries = 1;
    assert_false(adb_link_may_reroute(&r, 1, NOW));   /* delivery_limit 1: never given back */
}

/* Too close to its expiry (or its broker lock's end) for another instance: answered now. */
static void test_expiry_answers(void **state)
{
    adb_link_request r = req("partner.test", 1, NOW + ADB_LINK_REROUTE_MIN_MS);
    (void)state;
    assert_true(adb_link_may_reroute(&r, LIMIT, NOW));
    r.expiry_unix_ms = NOW + ADB_LINK_REROUTE_MIN_MS - 1;
    assert_false(adb_link_may_reroute(&r, LIMIT, NOW));
    r.expiry_unix_ms = NOW - 1;
    assert_false(adb_link_may_reroute(&r, LIMIT, NOW));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_common_address_answers),
        cmocka_unit_test(test_forest_address_reroutes),
        cmocka_unit_test(test_last_delivery_answers),
        cmocka_unit_test(test_expiry_answers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
