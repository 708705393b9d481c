/* Smart lockout: thresholds below AD's, AD's way of counting (a failure
 * more than the window after the previous one starts again), reset on a
 * right password, checks in flight, the LRU bound, AD's policy from entries,
 * and concurrent use. */
#include "config.h"

#include <adbridge/lockout.h>

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "entry_fixture.h"

static time_t fake_now;

static time_t clock_fn(void *arg)
{
    (void)arg;
    return fake_now;
}

static adb_lockout *make(unsigned threshold, size_t max_users)
{
    adb_lockout_options o = { .threshold = threshold, .max_users = max_users, .clock = { clock_fn, NULL } };
    adb_lockout *lo;
    adb_error err = { 0 };

    assert_int_equal(adb_lockout_new(&o, &lo, &err), ADB_OK);
    return lo;
}

static const adb_lockout_ad_policy ad5 = { .known = true, .threshold = 5, .window_s = 1800 };

static void fail_once(adb_lockout *lo, const char *user, const adb_lockout_ad_policy *ad)
{
    assert_true(adb_lockout_begin(lo, user, ad, NULL));
    adb_lockout_end(lo, user, ADB_LOCKOUT_FAILURE);
}

static void test_thresholds(void **state)
{
    adb_lockout *dflt = make(0, 0), *ten = make(10, 0), *two = make(2, 0);
    adb_lockout_ad_policy p = { .known = true, .window_s = 600 };

    (void)state;
    p.threshold = 5;
    assert_int_equal(adb_lockout_threshold(dflt, &p), 3);   /* min(5 - 2, 3) */
    assert_int_equal(adb_lockout_threshold(ten, &p), 4);    /* configured, capped at AD - 1 */
    assert_int_equal(adb_lockout_threshold(two, &p), 2);
    p.threshold = 10;
    assert_int_equal(adb_lockout_threshold(dflt, &p), 3);
    assert_int_equal(adb_lockout_threshold(ten, &p), 9);
    p.threshold = 3;
    assert_int_equal(adb_lockout_threshold(dflt, &p), 1);
    assert_int_equal(adb_lockout_threshold(two, &p), 2);
    p.threshold = 2;
    assert_int_equal(adb_lockout_threshold(dflt, &p), 1);
    assert_int_equal(adb_lockout_threshold(two, &p), 1);
    p.threshold = 1;
    assert_int_equal(adb_lockout_threshold(dflt, &p), 1);   /* never 0 */
    p.threshold = 0;                                        /* AD never locks out */
    assert_int_equal(adb_lockout_threshold(dflt, &p), 5);
    assert_int_equal(adb_lockout_threshold(ten, &p), 10);
    assert_int_equal(adb_lockout_threshold(dflt, NULL), 1); /* unknown: AD's could be 1 */
    assert_int_equal(adb_lockout_threshold(ten, NULL), 1);
    assert_int_equal(adb_lockout_window(dflt, &p), 600);
    assert_int_equal(adb_lockout_window(dflt, NULL), 1800);
    p.known = false;
    p.pso_unreadable = true;
    assert_int_equal(adb_lockout_threshold(dflt, &p), 1);
    assert_int_equal(adb_lockout_window(dflt, &p), 1800);
    adb_lockout_free(dflt);
    adb_lockout_free(ten);
    adb_lockout_free(two);
}

static void test_refuses_at_threshold_until_window(void **state)
{
    adb_lockout *lo = make(0, 0);
    time_t retry = 0, last;

    (void)state;
    fake_now = 1000;
    fail_once(lo, "alice@adb.test", &ad5);
    fake_now = 1010;
    fail_once(lo, "alice@adb.test", &ad5);
    fake_now = 1020;
    fail_once(lo, "alice@adb.test", &ad5);
    assert_int_equal(adb_lockout_failures(lo, "alice@adb.test", &ad5, &last), 3);
    assert_int_equal(last, 1020);
    fake_now = 1030;
    assert_false(adb_lockout_begin(lo, "alice@adb.test", &ad5, &retry));
    assert_int_equal(retry, 1020 + 1800);
    /* Names are compared ASCII case-insensitively. */
    assert_false(adb_lockout_begin(lo, "ALICE@ADB.TEST", &ad5, NULL));
    /* Other users are not affected. */
    assert_true(adb_lockout_begin(lo, "bob@adb.test", &ad5, NULL));
    adb_lockout_end(lo, "bob@adb.test", ADB_LOCKOUT_SUCCESS);
    fake_now = 1020 + 1799;
    assert_false(adb_lockout_begin(lo, "alice@adb.test", &ad5, NULL));
    fake_now = 1020 + 1800;
    assert_true(adb_lockout_begin(lo, "alice@adb.test", &ad5, NULL));
    adb_lockout_end(lo, "alice@adb.test", ADB_LOCKOUT_SUCCESS);
    assert_int_equal(adb_lockout_failures(lo, "alice@adb.test", &ad5, NULL), 0);
    adb_lockout_free(lo);
}

/* AD keeps counting while each failure comes within the window of the
 * previous one; a sliding window would count only the recent ones. */
static void test_counts_like_ad(void **state)
{
    adb_lockout *lo = make(0, 0);

    (void)state;
    fake_now = 0;
    fail_once(lo, "u", &ad5);
    fake_now = 1700;
    fail_once(lo, "u", &ad5);
    fake_now = 3400;
    fail_once(lo, "u", &ad5);
    fake_now = 3500;
    assert_int_equal(adb_lockout_failures(lo, "u", &ad5, NULL), 3);
    assert_false(adb_lockout_begin(lo, "u", &ad5, NULL));
    /* A gap longer than the window starts over. */
    fake_now = 3400 + 1800;
    assert_int_equal(adb_lockout_failures(lo, "u", &ad5, NULL), 0);
    fail_once(lo, "u", &ad5);
    assert_int_equal(adb_lockout_failures(lo, "u", &ad5, NULL), 1);
    adb_lockout_free(lo);
}

static void test_success_resets_and_neutral_does_not_count(void **state)
{
    adb_lockout *lo = make(0, 0);

    (void)state;
    fake_now = 100;
    fail_once(lo, "u", &ad5);
    fail_once(lo, "u", &ad5);
    assert_true(adb_lockout_begin(lo, "u", &ad5, NULL));
    adb_lockout_end(lo, "u", ADB_LOCKOUT_NEUTRAL);   /* e.g. dc_unavailable */
    assert_int_equal(adb_lockout_failures(lo, "u", &ad5, NULL), 2);
    assert_true(adb_lockout_begin(lo, "u", &ad5, NULL));
    adb_lockout_end(lo, "u", ADB_LOCKOUT_SUCCESS);
    assert_int_equal(adb_lockout_failures(lo, "u", &ad5, NULL), 0);
    assert_int_equal(adb_lockout_size(lo), 0);   /* nothing left to remember */
    fail_once(lo, "u", &ad5);
    fail_once(lo, "u", &ad5);
    fail_once(lo, "u", &ad5);
    assert_false(adb_lockout_begin(lo, "u", &ad5, NULL));
    assert_int_equal(adb_lockout_outcome_of(ADB_AUTH_OK), ADB_LOCKOUT_SUCCESS);
    assert_int_equal(adb_lockout_outcome_of(ADB_AUTH_INVALID_CREDENTIALS), ADB_LOCKOUT_FAILURE);
    assert_int_equal(adb_lockout_outcome_of(ADB_AUTH_UNKNOWN_USER), ADB_LOCKOUT_NEUTRAL);
    assert_int_equal(adb_lockout_outcome_of(ADB_AUTH_ACCOUNT_LOCKED), ADB_LOCKOUT_NEUTRAL);
    assert_int_equal(adb_lockout_outcome_of(ADB_AUTH_NONE), ADB_LOCKOUT_NEUTRAL);
    adb_lockout_free(lo);
}

/* Checks in flight count: three concurrent attempts fill a threshold of 3,
 * so a fourth cannot slip past before their results are known. */
static void test_checks_in_flight(void **state)
{
    adb_lockout *lo = make(0, 0);
    time_t retry;

    (void)state;
    fake_now = 50;
    assert_true(adb_lockout_begin(lo, "u", &ad5, NULL));
    assert_true(adb_lockout_begin(lo, "u", &ad5, NULL));
    assert_true(adb_lockout_begin(lo, "u", &ad5, NULL));
    assert_false(adb_lockout_begin(lo, "u", &ad5, &retry));
    assert_int_equal(retry, 51);
    adb_lockout_end(lo, "u", ADB_LOCKOUT_SUCCESS);
    adb_lockout_end(lo, "u", ADB_LOCKOUT_NEUTRAL);
    assert_true(adb_lockout_begin(lo, "u", &ad5, NULL));
    adb_lockout_end(lo, "u", ADB_LOCKOUT_NEUTRAL);
    adb_lockout_end(lo, "u", ADB_LOCKOUT_NEUTRAL);
    assert_int_equal(adb_lockout_size(lo), 0);
    adb_lockout_free(lo);
}

static void test_lru_bound(void **state)
{
    adb_lockout *lo = make(0, 4);
    char name[32];

    (void)state;
    fake_now = 10;
    for (int i = 0; i < 10; i++) {
        snprintf(name, sizeof name, "user%d", i);
        fail_once(lo, name, &ad5);
        assert_true(adb_lockout_size(lo) <= 4);
    }
    assert_int_equal(adb_lockout_size(lo), 4);
    /* The least recently used are forgotten, the last four kept. */
    assert_int_equal(adb_lockout_failures(lo, "user0", &ad5, NULL), 0);
    assert_int_equal(adb_lockout_failures(lo, "user5", &ad5, NULL), 0);
    for (int i = 6; i < 10; i++) {
        snprintf(name, sizeof name, "user%d", i);
        assert_int_equal(adb_lockout_failures(lo, name, &ad5, NULL), 1);
    }
    /* Using user6 makes user7 the oldest: a new user evicts user7. */
    fail_once(lo, "user6", &ad5);
    fail_once(lo, "new", &ad5);
    assert_int_equal(adb_lockout_failures(lo, "user6", &ad5, NULL), 2);
    assert_int_equal(adb_lockout_failures(lo, "user7", &ad5, NULL), 0);
    /* A check whose entry was evicted while it ran still records a failure. */
    assert_true(adb_lockout_begin(lo, "slow", &ad5, NULL));
    for (int i = 0; i < 4; i++) {
        snprintf(name, sizeof name, "flood%d", i);
        fail_once(lo, name, &ad5);
    }
    adb_lockout_end(lo, "slow", ADB_LOCKOUT_FAILURE);
    assert_int_equal(adb_lockout_failures(lo, "slow", &ad5, NULL), 1);
    assert_int_equal(adb_lockout_size(lo), 4);
    adb_lockout_free(lo);
}

static void test_policy_from_entries(void **state)
{
    adb_lockout_ad_policy p;
    adb_error err = { 0 };
    built *dom = entry_new("DC=adb,DC=test"), *pso = entry_new("CN=No Lockout,CN=Password Settings Container");
    built *bad = entry_new("DC=bad");

    (void)state;
    add(dom, "lockoutThreshold", "5");
    add(dom, "lockOutObservationWindow", "-18000000000");
    assert_int_equal(adb_lockout_policy_from_entry(&dom->e, &p, &err), ADB_OK);
    assert_true(p.known);
    assert_int_equal(p.threshold, 5);
    assert_int_equal(p.window_s, 1800);
    add(pso, "msDS-LockoutThreshold", "0");
    add(pso, "msDS-LockoutObservationWindow", "-3000000000");
    assert_int_equal(adb_lockout_policy_from_entry(&pso->e, &p, &err), ADB_OK);
    assert_int_equal(p.threshold, 0);
    assert_int_equal(p.window_s, 300);
    add(bad, "lockoutThreshold", "five");
    add(bad, "lockOutObservationWindow", "-1");
    assert_int_equal(adb_lockout_policy_from_entry(&bad->e, &p, &err), ADB_E_PROTOCOL);
    assert_false(p.known);
    entry_free(dom);
    entry_free(pso);
    entry_free(bad);
}

typedef struct worker_arg {
    adb_lockout *lo;
    int id;
} worker_arg;

static void *worker(void *arg)
{
    worker_arg *w = arg;
    char name[32];

    for (int i = 0; i < 2000; i++) {
        snprintf(name, sizeof name, "user%d", (i + w->id) % 50);
        if (adb_lockout_begin(w->lo, name, &ad5, NULL))
            adb_lockout_end(w->lo, name, i % 3 == 0 ? ADB_LOCKOUT_FAILURE : ADB_LOCKOUT_SUCCESS);
    }
    return NULL;
}

static void test_concurrent(void **state)
{
    adb_lockout *lo = make(0, 32);
    pthread_t t[4];
    worker_arg args[4];

    (void)state;
    fake_now = 5;
    for (int i = 0; i < 4; i++) {
        args[i] = (worker_arg){ lo, i * 7 };
        assert_int_equal(pthread_create(&t[i], NULL, worker, &args[i]), 0);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    assert_true(adb_lockout_size(lo) <= 32);
    /* Every begin was ended: no user is stuck with checks in flight. */
    for (int i = 0; i < 50; i++) {
        char name[32];
        snprintf(name, sizeof name, "user%d", i);
        assert_true(adb_lockout_failures(lo, name, &ad5, NULL) <= 3);
    }
    adb_lockout_free(lo);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_thresholds),
        cmocka_unit_test(test_refuses_at_threshold_until_window),
        cmocka_unit_test(test_counts_like_ad),
        cmocka_unit_test(test_success_resets_and_neutral_does_not_count),
        cmocka_unit_test(test_checks_in_flight),
        cmocka_unit_test(test_lru_bound),
        cmocka_unit_test(test_policy_from_entries),
        cmocka_unit_test(test_concurrent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
