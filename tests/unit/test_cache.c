/* Cache: TTL per kind, negative entries, LRU under a memory bound,
 * invalidation, shared values outliving eviction, threads. */
#include "config.h"

#include <adbridge/cache.h>

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

/* A counted value: the test sees every retain and release. */
typedef struct val {
    int refs;
    int id;
} val;

static int live_values;

static void *val_retain(void *v)
{
    __atomic_add_fetch(&((val *)v)->refs, 1, __ATOMIC_RELAXED);
    return v;
}

static void val_release(void *v)
{
    if (__atomic_sub_fetch(&((val *)v)->refs, 1, __ATOMIC_ACQ_REL) == 0) {
        __atomic_sub_fetch(&live_values, 1, __ATOMIC_RELAXED);
        free(v);
    }
}

static const adb_cache_type val_type = { val_retain, val_release };

static val *val_new(int id)
{
    val *v = calloc(1, sizeof *v);
    v->refs = 1;
    v->id = id;
    __atomic_add_fetch(&live_values, 1, __ATOMIC_RELAXED);
    return v;
}

static int64_t fake_now;

static int64_t fake_clock(void *arg)
{
    (void)arg;
    return fake_now;
}

static adb_cache *make(size_t max_bytes)
{
    adb_cache_options o = { .clock_ms = fake_clock, .max_bytes = max_bytes };
    adb_cache *c;

    o.ttl_s[ADB_CACHE_USER] = 10;
    o.ttl_s[ADB_CACHE_GROUP] = 20;
    o.ttl_s[ADB_CACHE_MEMBERS] = -1;   /* never cached */
    o.negative_ttl_s = 5;
    fake_now = 1000000;
    assert_int_equal(adb_cache_new(&o, &c, NULL), ADB_OK);
    return c;
}

static int get_id(adb_cache *c, const char *key)
{
    void *v;
    adb_cache_result r = adb_cache_get(c, key, &v);
    int id;

    if (r == ADB_CACHE_NEGATIVE)
        return -1;
    if (r == ADB_CACHE_MISS) {
        assert_null(v);
        return 0;
    }
    id = ((val *)v)->id;
    val_release(v);
    return id;
}

static void test_hit_miss_ttl_per_kind(void **state)
{
    adb_cache *c = make(0);
    adb_cache_stats st;

    (void)state;
    assert_int_equal(get_id(c, "sid:S-1-5-21-1-2-3-1105"), 0);
    adb_cache_put(c, "sid:S-1-5-21-1-2-3-1105", ADB_CACHE_USER, &val_type, val_new(1), 100);
    adb_cache_put(c, "sid:S-1-5-21-1-2-3-513", ADB_CACHE_GROUP, &val_type, val_new(2), 100);
    adb_cache_put(c, "members:x", ADB_CACHE_MEMBERS, &val_type, val_new(3), 100);   /* released at once */
    assert_int_equal(live_values, 2);
    assert_int_equal(get_id(c, "sid:S-1-5-21-1-2-3-1105"), 1);
    assert_int_equal(get_id(c, "sid:S-1-5-21-1-2-3-513"), 2);
    assert_int_equal(get_id(c, "members:x"), 0);
    fake_now += 9999;                  /* just under the user TTL */
    assert_int_equal(get_id(c, "sid:S-1-5-21-1-2-3-1105"), 1);
    fake_now += 1;                     /* user TTL reached, group not yet */
    assert_int_equal(get_id(c, "sid:S-1-5-21-1-2-3-1105"), 0);
    assert_int_equal(get_id(c, "sid:S-1-5-21-1-2-3-513"), 2);
    fake_now += 10000;
    assert_int_equal(get_id(c, "sid:S-1-5-21-1-2-3-513"), 0);
    assert_int_equal(live_values, 0);
    adb_cache_stats_get(c, &st);
    assert_int_equal(st.hits, 4);
    assert_int_equal(st.expired, 2);
    assert_int_equal(st.entries, 0);
    assert_int_equal(st.bytes, 0);
    adb_cache_free(c);
}

static void test_negative(void **state)
{
    adb_cache *c = make(0);

    (void)state;
    adb_cache_put_negative(c, "name:nobody");
    assert_int_equal(get_id(c, "name:nobody"), -1);
    fake_now += 4999;
    assert_int_equal(get_id(c, "name:nobody"), -1);
    fake_now += 1;
    assert_int_equal(get_id(c, "name:nobody"), 0);
    /* A positive answer replaces a negative one. */
    adb_cache_put_negative(c, "name:alice");
    adb_cache_put(c, "name:alice", ADB_CACHE_USER, &val_type, val_new(7), 10);
    assert_int_equal(get_id(c, "name:alice"), 7);
    adb_cache_free(c);
    assert_int_equal(live_values, 0);
}

/* Stale answers: an object stays available to adb_cache_get_stale for
 * stale_max_s after it was stored, though adb_cache_get misses it once its
 * TTL is up; negative entries are never stale answers; without stale_max_s
 * nothing is kept past the TTL. */
static void test_stale(void **state)
{
    adb_cache_options o = { .clock_ms = fake_clock, .stale_max_s = 3600 };
    adb_cache *c;
    adb_cache_stats st;
    void *v;
    int64_t age;

    (void)state;
    o.ttl_s[ADB_CACHE_USER] = 10;
    fake_now = 1000000;
    assert_int_equal(adb_cache_new(&o, &c, NULL), ADB_OK);
    adb_cache_put(c, "name:alice", ADB_CACHE_USER, &val_type, val_new(1), 100);
    adb_cache_put_negative(c, "name:nobody");
    assert_int_equal(adb_cache_get_stale(c, "name:alice", &v, &age), ADB_CACHE_HIT);   /* fresh counts too */
    assert_int_equal(age, 0);
    val_release(v);
    fake_now += 60 * 1000;                  /* past the TTL */
    assert_int_equal(get_id(c, "name:alice"), 0);
    assert_int_equal(adb_cache_get_stale(c, "name:alice", &v, &age), ADB_CACHE_HIT);
    assert_int_equal(((val *)v)->id, 1);
    assert_int_equal(age, 60);
    val_release(v);
    assert_int_equal(adb_cache_get_stale(c, "name:nobody", &v, &age), ADB_CACHE_MISS);
    assert_null(v);
    fake_now += 3540 * 1000;                /* exactly the stale limit: still */
    assert_int_equal(adb_cache_get_stale(c, "name:alice", &v, &age), ADB_CACHE_HIT);
    assert_int_equal(age, 3600);
    val_release(v);
    fake_now += 1;
    assert_int_equal(adb_cache_get_stale(c, "name:alice", &v, &age), ADB_CACHE_MISS);
    assert_int_equal(get_id(c, "name:alice"), 0);   /* now dropped */
    assert_int_equal(get_id(c, "name:nobody"), 0);  /* expired long ago: dropped */
    adb_cache_stats_get(c, &st);
    assert_int_equal(st.stale_hits, 3);
    assert_int_equal(st.entries, 0);
    adb_cache_free(c);
    assert_int_equal(live_values, 0);

    c = make(0);                            /* stale_max_s 0: nothing kept */
    adb_cache_put(c, "name:alice", ADB_CACHE_USER, &val_type, val_new(1), 100);
    fake_now += 10000;
    assert_int_equal(get_id(c, "name:alice"), 0);
    assert_int_equal(adb_cache_get_stale(c, "name:alice", &v, &age), ADB_CACHE_MISS);
    adb_cache_free(c);
    assert_int_equal(live_values, 0);
}

static void test_lru_bound(void **state)
{
    /* Each entry is key + 1000 + overhead bytes; 10 KB holds about nine. */
    adb_cache *c = make(10000);
    adb_cache_stats st;
    char key[32];

    (void)state;
    for (int i = 1; i <= 5; i++) {
        snprintf(key, sizeof key, "k%d", i);
        adb_cache_put(c, key, ADB_CACHE_USER, &val_type, val_new(i), 1000);
    }
    assert_int_equal(get_id(c, "k1"), 1);    /* k1 is now the most recent; k2 the least */
    for (int i = 6; i <= 12; i++) {
        snprintf(key, sizeof key, "k%d", i);
        adb_cache_put(c, key, ADB_CACHE_USER, &val_type, val_new(i), 1000);
    }
    adb_cache_stats_get(c, &st);
    assert_true(st.bytes <= 10000);
    assert_true(st.evictions >= 3);
    assert_int_equal(get_id(c, "k2"), 0);    /* evicted first */
    assert_int_equal(get_id(c, "k3"), 0);
    assert_int_equal(get_id(c, "k1"), 1);    /* kept: it was used */
    assert_int_equal(get_id(c, "k12"), 12);
    assert_int_equal((int)st.entries, live_values);
    /* Too big for the cache (over a quarter of it): not stored. */
    adb_cache_put(c, "huge", ADB_CACHE_USER, &val_type, val_new(99), 5000);
    assert_int_equal(get_id(c, "huge"), 0);
    assert_int_equal(get_id(c, "k12"), 12);
    adb_cache_free(c);
    assert_int_equal(live_values, 0);
}

static void test_invalidate_and_shared_values(void **state)
{
    adb_cache *c = make(0);
    void *held;

    (void)state;
    adb_cache_put(c, "a", ADB_CACHE_USER, &val_type, val_new(1), 10);
    adb_cache_put(c, "b", ADB_CACHE_GROUP, &val_type, val_new(2), 10);
    adb_cache_put(c, "c", ADB_CACHE_OTHER, &val_type, val_new(3), 10);
    assert_int_equal(adb_cache_get(c, "a", &held), ADB_CACHE_HIT);
    adb_cache_invalidate(c, "a");
    adb_cache_invalidate(c, "not-there");
    assert_int_equal(get_id(c, "a"), 0);
    assert_int_equal(get_id(c, "b"), 2);
    /* The value handed out survives its eviction until released. */
    assert_int_equal(((val *)held)->id, 1);
    assert_int_equal(live_values, 3);
    val_release(held);
    assert_int_equal(live_values, 2);
    /* Replacing a key releases the old value. */
    adb_cache_put(c, "b", ADB_CACHE_GROUP, &val_type, val_new(22), 10);
    assert_int_equal(get_id(c, "b"), 22);
    assert_int_equal(live_values, 2);
    adb_cache_invalidate_all(c);
    assert_int_equal(live_values, 0);
    assert_int_equal(get_id(c, "c"), 0);
    adb_cache_free(c);
}

static void test_many_keys(void **state)
{
    adb_cache *c = make(0);
    char key[32];

    (void)state;
    /* Past the initial table size: the table grows and every key stays reachable. */
    for (int i = 1; i <= 5000; i++) {
        snprintf(key, sizeof key, "dn:cn=bulk.%05d", i);
        adb_cache_put(c, key, ADB_CACHE_USER, &val_type, val_new(i), 100);
    }
    for (int i = 1; i <= 5000; i += 7) {
        snprintf(key, sizeof key, "dn:cn=bulk.%05d", i);
        assert_int_equal(get_id(c, key), i);
    }
    adb_cache_free(c);
    assert_int_equal(live_values, 0);
}

static void *hammer(void *arg)
{
    adb_cache *c = arg;
    char key[32];

    for (int i = 0; i < 20000; i++) {
        snprintf(key, sizeof key, "k%d", i % 300);
        if (i % 3 == 0)
            adb_cache_put(c, key, ADB_CACHE_USER, &val_type, val_new(i % 300 + 1), 200);
        else if (i % 97 == 0)
            adb_cache_invalidate(c, key);
        else {
            int id = get_id(c, key);
            if (id != 0 && id != i % 300 + 1)
                return (void *)1;
        }
    }
    return NULL;
}

static void test_threads(void **state)
{
    adb_cache *c = make(30000);   /* small: eviction runs all the time */
    pthread_t t[4];
    void *bad;

    (void)state;
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, hammer, c);
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], &bad);
        assert_null(bad);
    }
    adb_cache_free(c);
    assert_int_equal(live_values, 0);
}

static void test_real_clock_defaults(void **state)
{
    adb_cache *c;

    (void)state;
    assert_int_equal(adb_cache_new(NULL, &c, NULL), ADB_OK);
    adb_cache_put(c, "x", ADB_CACHE_MEMBERS, &val_type, val_new(5), 10);
    assert_int_equal(get_id(c, "x"), 5);
    adb_cache_free(c);
    assert_int_equal(live_values, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hit_miss_ttl_per_kind),
        cmocka_unit_test(test_negative),
        cmocka_unit_test(test_stale),
        cmocka_unit_test(test_lru_bound),
        cmocka_unit_test(test_invalidate_and_shared_values),
        cmocka_unit_test(test_many_keys),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_real_clock_defaults),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
