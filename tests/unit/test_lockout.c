/* Smart lockout: thresholds below AD's, AD's way of counting (a failure
 * more than the window after the previous one starts again), reset on a
 * right password, checks in flight, the LRU bound, AD's policy from entries,
 * and concurrent use. */
#include "config.h"

#include <adbridge/lockout.h>
#include <adbridge/object.h>

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

/* A check of user without AD's count (the second layer alone); no waiting. */
static adb_lockout_verdict begin(adb_lockout *lo, const char *user, const adb_lockout_ad_policy *ad, time_t *retry)
{
    adb_lockout_check q = { .user = user, .policy = ad };
    adb_lockout_decision d;
    adb_lockout_verdict v = adb_lockout_begin(lo, &q, &d);

    if (retry != NULL)
        *retry = d.retry_at;
    return v;
}

static void end(adb_lockout *lo, const char *user, adb_lockout_outcome outcome)
{
    adb_lockout_check q = { .user = user };
    adb_lockout_end(lo, &q, outcome);
}

static void fail_once(adb_lockout *lo, const char *user, const adb_lockout_ad_policy *ad)
{
    assert_int_equal(begin(lo, user, ad, NULL), ADB_LOCKOUT_GO);
    end(lo, user, ADB_LOCKOUT_FAILURE);
}

static void test_thresholds(void **state)
{
    adb_lockout *dflt = make(0, 0), *ten = make(10, 0), *two = make(2, 0);
    adb_lockout_ad_policy p = { .known = true, .window_s = 600 };

    (void)state;
    p.threshold = 5;
    assert_int_equal(adb_lockout_threshold(dflt, &p), 3);   /* 5 - margin 2 */
    assert_int_equal(adb_lockout_threshold(ten, &p), 3);    /* configured, but never above AD - margin */
    assert_int_equal(adb_lockout_threshold(two, &p), 2);    /* configured lower */
    p.threshold = 10;
    assert_int_equal(adb_lockout_threshold(dflt, &p), 8);
    assert_int_equal(adb_lockout_threshold(ten, &p), 8);
    p.threshold = 3;
    assert_int_equal(adb_lockout_threshold(dflt, &p), 1);
    assert_int_equal(adb_lockout_threshold(two, &p), 1);
    p.threshold = 2;                                        /* not above the margin: nothing is safe */
    assert_int_equal(adb_lockout_threshold(dflt, &p), 0);
    assert_int_equal(adb_lockout_threshold(two, &p), 0);
    p.threshold = 1;
    assert_int_equal(adb_lockout_threshold(dflt, &p), 0);
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
    assert_int_equal(begin(lo, "alice@adb.test", &ad5, &retry), ADB_LOCKOUT_REFUSED);
    assert_int_equal(retry, 1020 + 1800);
    /* Names are compared ASCII case-insensitively. */
    assert_int_equal(begin(lo, "ALICE@ADB.TEST", &ad5, NULL), ADB_LOCKOUT_REFUSED);
    /* Other users are not affected. */
    assert_int_equal(begin(lo, "bob@adb.test", &ad5, NULL), ADB_LOCKOUT_GO);
    end(lo, "bob@adb.test", ADB_LOCKOUT_SUCCESS);
    fake_now = 1020 + 1799;
    assert_int_equal(begin(lo, "alice@adb.test", &ad5, NULL), ADB_LOCKOUT_REFUSED);
    fake_now = 1020 + 1800;
    assert_int_equal(begin(lo, "alice@adb.test", &ad5, NULL), ADB_LOCKOUT_GO);
    end(lo, "alice@adb.test", ADB_LOCKOUT_SUCCESS);
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
    assert_int_equal(begin(lo, "u", &ad5, NULL), ADB_LOCKOUT_REFUSED);
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
    assert_int_equal(begin(lo, "u", &ad5, NULL), ADB_LOCKOUT_GO);
    end(lo, "u", ADB_LOCKOUT_NEUTRAL);   /* e.g. dc_unavailable */
    assert_int_equal(adb_lockout_failures(lo, "u", &ad5, NULL), 2);
    assert_int_equal(begin(lo, "u", &ad5, NULL), ADB_LOCKOUT_GO);
    end(lo, "u", ADB_LOCKOUT_SUCCESS);
    assert_int_equal(adb_lockout_failures(lo, "u", &ad5, NULL), 0);
    assert_int_equal(adb_lockout_size(lo), 0);   /* nothing left to remember */
    fail_once(lo, "u", &ad5);
    fail_once(lo, "u", &ad5);
    fail_once(lo, "u", &ad5);
    assert_int_equal(begin(lo, "u", &ad5, NULL), ADB_LOCKOUT_REFUSED);
    assert_int_equal(adb_lockout_outcome_of(ADB_AUTH_OK), ADB_LOCKOUT_SUCCESS);
    assert_int_equal(adb_lockout_outcome_of(ADB_AUTH_INVALID_CREDENTIALS), ADB_LOCKOUT_FAILURE);
    assert_int_equal(adb_lockout_outcome_of(ADB_AUTH_UNKNOWN_USER), ADB_LOCKOUT_NEUTRAL);
    assert_int_equal(adb_lockout_outcome_of(ADB_AUTH_ACCOUNT_LOCKED), ADB_LOCKOUT_NEUTRAL);
    assert_int_equal(adb_lockout_outcome_of(ADB_AUTH_NONE), ADB_LOCKOUT_NEUTRAL);
    adb_lockout_free(lo);
}

/* One check per user in flight: a second one is busy (no wait asked),
 * never refused; other users are not affected. */
static void test_checks_in_flight(void **state)
{
    adb_lockout *lo = make(0, 0);
    time_t retry;

    (void)state;
    fake_now = 50;
    assert_int_equal(begin(lo, "u", &ad5, NULL), ADB_LOCKOUT_GO);
    assert_int_equal(begin(lo, "u", &ad5, &retry), ADB_LOCKOUT_BUSY);
    assert_int_equal(retry, 51);
    assert_int_equal(begin(lo, "other", &ad5, NULL), ADB_LOCKOUT_GO);
    end(lo, "other", ADB_LOCKOUT_NEUTRAL);
    end(lo, "u", ADB_LOCKOUT_SUCCESS);
    assert_int_equal(begin(lo, "u", &ad5, NULL), ADB_LOCKOUT_GO);
    end(lo, "u", ADB_LOCKOUT_NEUTRAL);
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
    assert_int_equal(begin(lo, "slow", &ad5, NULL), ADB_LOCKOUT_GO);
    for (int i = 0; i < 4; i++) {
        snprintf(name, sizeof name, "flood%d", i);
        fail_once(lo, name, &ad5);
    }
    end(lo, "slow", ADB_LOCKOUT_FAILURE);
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
        if (begin(w->lo, name, &ad5, NULL) == ADB_LOCKOUT_GO)
            end(w->lo, name, i % 3 == 0 ? ADB_LOCKOUT_FAILURE : ADB_LOCKOUT_SUCCESS);
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


/* ---- AD's count: the state every instance shares ---- */

static adb_lockout_verdict begin_ad(adb_lockout *lo, const char *user, const adb_lockout_ad_state *ad,
                                    const unsigned char *tag, adb_lockout_decision *d)
{
    adb_lockout_check q = { .user = user, .policy = &ad5, .ad = ad, .tag = tag };
    return adb_lockout_begin(lo, &q, d);
}

static void test_ad_count_decides(void **state)
{
    adb_lockout *lo = make(0, 0);
    adb_lockout_ad_state ad = { .known = true, .bad_pwd_count = 2, .bad_password_time = 1000 };
    adb_lockout_decision d;
    adb_lockout_check q = { .user = "S-1-5-21-1-2-3-1104", .policy = &ad5, .ad = &ad };

    (void)state;
    fake_now = 1100;
    /* 2 failures elsewhere (typos at a workstation, another instance): one more is allowed. */
    assert_int_equal(adb_lockout_begin(lo, &q, &d), ADB_LOCKOUT_GO);
    assert_int_equal(d.failures, 2);
    assert_true(d.failures_from_ad);
    adb_lockout_end(lo, &q, ADB_LOCKOUT_FAILURE);
    /* AD now says 3 = 5 - margin: refused until the window passes from AD's last failure. */
    ad.bad_pwd_count = 3;
    ad.bad_password_time = 1100;
    assert_int_equal(begin_ad(lo, q.user, &ad, NULL, &d), ADB_LOCKOUT_REFUSED);
    assert_int_equal(d.limit, 3);
    assert_int_equal(d.retry_at, 1100 + 1800);
    /* AD's count decays with the window, as AD applies it. */
    fake_now = 1100 + 1800;
    assert_int_equal(begin_ad(lo, q.user, &ad, NULL, &d), ADB_LOCKOUT_GO);
    assert_int_equal(d.failures, 0);
    adb_lockout_end(lo, &q, ADB_LOCKOUT_SUCCESS);
    /* AD's count below ours (a failure AD already forgot, e.g. read on another DC): ours stands. */
    fail_once(lo, q.user, &ad5);
    fail_once(lo, q.user, &ad5);
    fail_once(lo, q.user, &ad5);
    ad.bad_pwd_count = 0;
    assert_int_equal(begin_ad(lo, q.user, &ad, NULL, &d), ADB_LOCKOUT_REFUSED);
    assert_false(d.failures_from_ad);
    assert_int_equal(d.failures, 3);
    adb_lockout_free(lo);
}

static void test_locked_in_ad(void **state)
{
    adb_lockout *lo = make(0, 0);
    adb_lockout_ad_policy p = ad5;
    adb_lockout_ad_state ad = { .known = true, .bad_pwd_count = 5, .bad_password_time = 500, .lockout_time = 500 };
    adb_lockout_check q = { .user = "u", .policy = &p, .ad = &ad };
    adb_lockout_decision d;

    (void)state;
    p.duration_s = 7200;
    fake_now = 600;
    assert_int_equal(adb_lockout_begin(lo, &q, &d), ADB_LOCKOUT_LOCKED_IN_AD);
    assert_int_equal(d.retry_at, 500 + 7200);
    p.duration_s = -1;   /* until an admin unlocks */
    fake_now = 100000;
    assert_int_equal(adb_lockout_begin(lo, &q, &d), ADB_LOCKOUT_LOCKED_IN_AD);
    assert_int_equal(d.retry_at, 0);
    /* The duration has passed: AD unlocks on the next logon. */
    p.duration_s = 7200;
    ad.bad_pwd_count = 0;
    assert_int_equal(adb_lockout_begin(lo, &q, &d), ADB_LOCKOUT_GO);
    adb_lockout_end(lo, &q, ADB_LOCKOUT_SUCCESS);
    adb_lockout_free(lo);
}

/* The same wrong password again is answered from memory; another one goes
 * to AD; a new password (pwdLastSet) forgets them; so does the window. */
static void test_repeated_wrong_password(void **state)
{
    adb_lockout *lo = make(0, 0);
    adb_lockout_ad_state ad = { .known = true, .pwd_last_set = 111 };
    unsigned char t1[ADB_LOCKOUT_TAG_BYTES], t2[ADB_LOCKOUT_TAG_BYTES], t3[ADB_LOCKOUT_TAG_BYTES];
    adb_lockout_check q = { .user = "S-1-5-21-1-2-3-1105", .policy = &ad5, .ad = &ad, .tag = t1 };
    adb_lockout_decision d;

    (void)state;
    adb_lockout_tag(lo, q.user, "Wrong-1", 7, t1);
    adb_lockout_tag(lo, q.user, "Wrong-2", 7, t2);
    adb_lockout_tag(lo, "S-1-5-21-1-2-3-1106", "Wrong-1", 7, t3);
    assert_memory_not_equal(t1, t2, sizeof t1);
    assert_memory_not_equal(t1, t3, sizeof t1);   /* per user */
    fake_now = 2000;
    assert_int_equal(adb_lockout_begin(lo, &q, &d), ADB_LOCKOUT_GO);
    adb_lockout_end(lo, &q, ADB_LOCKOUT_FAILURE);
    for (int i = 0; i < 20; i++)
        assert_int_equal(adb_lockout_begin(lo, &q, &d), ADB_LOCKOUT_REPEATED);
    assert_int_equal(begin_ad(lo, q.user, &ad, t2, &d), ADB_LOCKOUT_GO);
    q.tag = t2;
    adb_lockout_end(lo, &q, ADB_LOCKOUT_FAILURE);
    assert_int_equal(begin_ad(lo, q.user, &ad, t1, &d), ADB_LOCKOUT_REPEATED);
    assert_int_equal(begin_ad(lo, q.user, &ad, t2, &d), ADB_LOCKOUT_REPEATED);
    /* A right password does not make the wrong ones right. */
    assert_int_equal(begin_ad(lo, q.user, &ad, t3, &d), ADB_LOCKOUT_GO);
    q.tag = t3;
    adb_lockout_end(lo, &q, ADB_LOCKOUT_SUCCESS);
    assert_int_equal(begin_ad(lo, q.user, &ad, t1, &d), ADB_LOCKOUT_REPEATED);
    /* The password was changed: any old guess may be the new password. */
    ad.pwd_last_set = 222;
    assert_int_equal(begin_ad(lo, q.user, &ad, t1, &d), ADB_LOCKOUT_GO);
    q.tag = t1;
    adb_lockout_end(lo, &q, ADB_LOCKOUT_FAILURE);
    assert_int_equal(begin_ad(lo, q.user, &ad, t1, &d), ADB_LOCKOUT_REPEATED);
    fake_now = 2000 + 1800;
    assert_int_equal(begin_ad(lo, q.user, &ad, t1, &d), ADB_LOCKOUT_GO);
    adb_lockout_end(lo, &q, ADB_LOCKOUT_NEUTRAL);
    adb_lockout_free(lo);
}

typedef struct ender {
    adb_lockout *lo;
    const char *user;
    adb_lockout_outcome outcome;
    const adb_lockout_check *q;   /* the check to end; NULL: user's, without a tag */
} ender;

static void *end_later(void *arg)
{
    ender *e = arg;
    struct timespec ts = { 0, 50 * 1000000L };

    nanosleep(&ts, NULL);
    if (e->q != NULL)
        adb_lockout_end(e->lo, e->q, e->outcome);
    else
        end(e->lo, e->user, e->outcome);
    return NULL;
}

/* A check that finds another in flight waits for it, then rechecks with
 * AD's count read again: a right password lets it go, a failure that
 * fills the limit refuses it, a repeated wrong password is answered from
 * memory, and a deadline that passes makes it busy. */
static void test_waits_for_checks_in_flight(void **state)
{
    adb_lockout *lo = make(0, 0);
    unsigned char tag[ADB_LOCKOUT_TAG_BYTES];
    adb_lockout_ad_state ad = { .known = true };
    adb_lockout_check q = { .user = "u", .policy = &ad5, .ad = &ad };
    adb_lockout_decision d;
    ender e = { .lo = lo, .user = "u", .outcome = ADB_LOCKOUT_SUCCESS };
    pthread_t t;

    (void)state;
    fake_now = 70;
    assert_int_equal(begin(lo, "u", &ad5, NULL), ADB_LOCKOUT_GO);
    q.wait_until_ms = adb_mono_ms() + 5000;
    assert_int_equal(pthread_create(&t, NULL, end_later, &e), 0);
    assert_int_equal(adb_lockout_begin(lo, &q, &d), ADB_LOCKOUT_RECHECK);
    pthread_join(t, NULL);
    assert_int_equal(adb_lockout_recheck(lo, &q, &d), ADB_LOCKOUT_GO);
    end(lo, "u", ADB_LOCKOUT_NEUTRAL);
    assert_int_equal(adb_lockout_size(lo), 0);

    /* Two failures in AD; the check in flight makes it three: refused on recheck. */
    assert_int_equal(begin(lo, "v", &ad5, NULL), ADB_LOCKOUT_GO);
    e = (ender){ .lo = lo, .user = "v", .outcome = ADB_LOCKOUT_FAILURE };
    q.user = "v";
    ad = (adb_lockout_ad_state){ .known = true, .bad_pwd_count = 2, .bad_password_time = 60 };
    q.wait_until_ms = adb_mono_ms() + 5000;
    assert_int_equal(pthread_create(&t, NULL, end_later, &e), 0);
    assert_int_equal(adb_lockout_begin(lo, &q, &d), ADB_LOCKOUT_RECHECK);
    pthread_join(t, NULL);
    ad.bad_pwd_count = 3;   /* read again */
    ad.bad_password_time = 70;
    assert_int_equal(adb_lockout_recheck(lo, &q, &d), ADB_LOCKOUT_REFUSED);
    assert_int_equal(d.failures, 3);
    assert_int_equal(d.retry_at, 70 + 1800);

    /* The same wrong password twice at once: the second waits for the
     * first, and once it failed, never reaches AD. */
    adb_lockout_tag(lo, "w", "Wrong", 5, tag);
    q = (adb_lockout_check){ .user = "w", .policy = &ad5, .tag = tag, .wait_until_ms = adb_mono_ms() + 5000 };
    assert_int_equal(adb_lockout_begin(lo, &q, &d), ADB_LOCKOUT_GO);
    e = (ender){ lo, "w", ADB_LOCKOUT_FAILURE, &q };
    assert_int_equal(pthread_create(&t, NULL, end_later, &e), 0);
    assert_int_equal(adb_lockout_begin(lo, &q, &d), ADB_LOCKOUT_REPEATED);
    pthread_join(t, NULL);

    /* A deadline that passes while the check in flight runs: busy. */
    assert_int_equal(begin(lo, "x", &ad5, NULL), ADB_LOCKOUT_GO);
    q = (adb_lockout_check){ .user = "x", .policy = &ad5, .wait_until_ms = adb_mono_ms() + 30 };
    assert_int_equal(adb_lockout_begin(lo, &q, &d), ADB_LOCKOUT_BUSY);
    assert_int_equal(d.in_flight, 1);
    end(lo, "x", ADB_LOCKOUT_NEUTRAL);
    adb_lockout_free(lo);
}

static void test_state_from_entry(void **state)
{
    built *u = entry_new("CN=u,DC=adb,DC=test"), *fresh = entry_new("CN=fresh,DC=adb,DC=test");
    adb_lockout_ad_state st;

    (void)state;
    add(u, "badPwdCount", "2");
    add(u, "badPasswordTime", "134410618740034930");
    add(u, "lockoutTime", "0");
    add(u, "pwdLastSet", "134410618741834330");
    adb_lockout_state_from_entry(&u->e, &st);
    assert_true(st.known);
    assert_int_equal(st.bad_pwd_count, 2);
    assert_int_equal(st.bad_password_time, adb_filetime_to_unix(134410618740034930LL));
    assert_int_equal(st.lockout_time, 0);
    assert_true(st.pwd_last_set == 134410618741834330LL);
    adb_lockout_state_from_entry(&fresh->e, &st);   /* AD leaves them unset until first used */
    assert_true(st.known);
    assert_int_equal(st.bad_pwd_count, 0);
    assert_int_equal(st.bad_password_time, 0);
    entry_free(u);
    entry_free(fresh);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_thresholds),
        cmocka_unit_test(test_ad_count_decides),
        cmocka_unit_test(test_locked_in_ad),
        cmocka_unit_test(test_repeated_wrong_password),
        cmocka_unit_test(test_waits_for_checks_in_flight),
        cmocka_unit_test(test_state_from_entry),
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
