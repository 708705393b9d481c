/* The string-keyed hash map: add, find, duplicates, growth, copied keys. */
#include "config.h"

#include <adbridge/strmap.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

static void test_empty_map_finds_nothing(void **state)
{
    adb_strmap m = { 0 };

    (void)state;
    assert_null(adb_strmap_find(&m, "a"));
    assert_null(adb_strmap_find(&m, ""));
    adb_strmap_clear(&m);   /* clearing an empty map is fine */
    assert_int_equal(m.n, 0);
}

static void test_put_find_and_duplicates(void **state)
{
    adb_strmap m = { 0 };
    int one = 1, two = 2;
    adb_strmap_slot *s;

    (void)state;
    assert_int_equal(adb_strmap_put(&m, "dn:cn=a", &one), 1);
    assert_int_equal(adb_strmap_put(&m, "", NULL), 1);       /* the empty key is a key */
    assert_int_equal(adb_strmap_put(&m, "dn:cn=a", &two), 0);   /* present: keeps its value */
    assert_int_equal(m.n, 2);
    assert_non_null(s = adb_strmap_find(&m, "dn:cn=a"));
    assert_ptr_equal(s->value, &one);
    assert_non_null(adb_strmap_find(&m, ""));
    assert_null(adb_strmap_find(&m, "dn:cn=A"));   /* keys compare exactly */
    s->value = &two;                                /* values change in place */
    assert_ptr_equal(adb_strmap_find(&m, "dn:cn=a")->value, &two);
    adb_strmap_clear(&m);
    assert_null(adb_strmap_find(&m, "dn:cn=a"));
    assert_int_equal(m.n, 0);
}

static void test_keys_are_copied(void **state)
{
    adb_strmap m = { 0 };
    char key[16] = "sid:S-1-5-32";

    (void)state;
    assert_int_equal(adb_strmap_put(&m, key, NULL), 1);
    key[0] = 'x';
    assert_non_null(adb_strmap_find(&m, "sid:S-1-5-32"));
    assert_null(adb_strmap_find(&m, key));
    adb_strmap_clear(&m);
}

/* Many keys: the table grows several times and keeps every value. */
static void test_growth_keeps_everything(void **state)
{
    enum { N = 20000 };
    static int values[N];
    adb_strmap m = { 0 };
    char key[32];

    (void)state;
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof key, "k%d", i);
        values[i] = i;
        assert_int_equal(adb_strmap_put(&m, key, &values[i]), 1);
    }
    assert_int_equal(m.n, N);
    assert_true(m.cap >= 2 * (size_t)N);          /* at most half full */
    assert_int_equal(m.cap & (m.cap - 1), 0);      /* a power of two */
    for (int i = 0; i < N; i++) {
        adb_strmap_slot *s;
        snprintf(key, sizeof key, "k%d", i);
        assert_non_null(s = adb_strmap_find(&m, key));
        assert_int_equal(*(int *)s->value, i);
        assert_int_equal(adb_strmap_put(&m, key, NULL), 0);
    }
    assert_null(adb_strmap_find(&m, "k20000"));
    adb_strmap_clear(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_map_finds_nothing),
        cmocka_unit_test(test_put_find_and_duplicates),
        cmocka_unit_test(test_keys_are_copied),
        cmocka_unit_test(test_growth_keeps_everything),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
