/* The search index's structure (src/dir/dir_names.c): prefix matches on each
 * of the four names, ASCII case folded, ordered by account name then domain
 * across domains, after a cursor, each object once, removal, refresh (the
 * last put of a GUID wins), and the auto policy. */
#include "config.h"

#include "../../src/dir/dir_internal.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

static adb_guid guid_of(unsigned n)
{
    adb_guid g;

    memset(&g, 0, sizeof g);
    g.b[0] = (uint8_t)(n >> 8);
    g.b[1] = (uint8_t)n;
    return g;
}

static void put(dir_names *x, unsigned n, unsigned kind, const char *sam, const char *display, const char *mail,
                const char *upn)
{
    adb_guid g = guid_of(n);
    adb_error err = { 0 };

    assert_int_equal(dir_names_put(x, &g, kind, sam, display, mail, upn, &err), ADB_OK);
}

/* adb.test: users, a group, one whose mail is its UPN. */
static dir_names *adb_test(void)
{
    dir_names *x = dir_names_new("adb.test");
    adb_error err = { 0 };

    assert_non_null(x);
    put(x, 1, ADB_KINDS_USER, "alice", "Alice Anders", "alice@adb.test", "alice@adb.test");
    put(x, 2, ADB_KINDS_USER, "bob", "Bob Baker", "b.baker@mail.test", "bob@adb.test");
    put(x, 3, ADB_KINDS_USER, "Carol", "Alan Carol", NULL, NULL);
    put(x, 4, ADB_KINDS_GROUP, "alpha.group", NULL, NULL, NULL);
    put(x, 5, ADB_KINDS_USER, "zed", "Zed", "ALIAS@adb.test", NULL);
    put(x, 6, ADB_KINDS_USER, "\xe5\xb1\xb1\xe7\x94\xb0", "\xe5\xb1\xb1\xe7\x94\xb0 \xe5\xa4\xaa\xe9\x83\x8e", NULL, NULL);
    assert_int_equal(dir_names_seal(x, &err), ADB_OK);
    return x;
}

/* The names of the first k matches after `after`, space-separated. */
static char *find(dir_names **xs, size_t nx, const char *prefix, unsigned kinds, const char *after, size_t k)
{
    static char buf[512];
    dir_name_hit hits[16];
    size_t n = 0, len = 0;

    for (size_t i = 0; i < nx; i++)
        n = dir_names_find(xs[i], prefix, kinds, after, hits, n, k);
    buf[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        const char *sep = strchr(hits[i].key, '\x01');
        len += (size_t)snprintf(buf + len, sizeof buf - len, "%s%.*s@%s", i > 0 ? " " : "",
                                (int)(sep - hits[i].key), hits[i].key, sep + 1);
    }
    return buf;
}

static void test_each_name(void **state)
{
    dir_names *x = adb_test();

    (void)state;
    assert_int_equal(dir_names_count(x), 6);
    assert_string_equal(find(&x, 1, "bob", ADB_KINDS_ANY, NULL, 10), "bob@adb.test");            /* sAMAccountName */
    assert_string_equal(find(&x, 1, "bob b", ADB_KINDS_ANY, NULL, 10), "bob@adb.test");          /* displayName */
    assert_string_equal(find(&x, 1, "b.baker@", ADB_KINDS_ANY, NULL, 10), "bob@adb.test");       /* mail */
    assert_string_equal(find(&x, 1, "bob@adb", ADB_KINDS_ANY, NULL, 10), "bob@adb.test");        /* UPN */
    assert_string_equal(find(&x, 1, "bobby", ADB_KINDS_ANY, NULL, 10), "");
    assert_string_equal(find(&x, 1, "x", ADB_KINDS_ANY, NULL, 10), "");
    assert_string_equal(find(&x, 1, "\xe5\xb1\xb1\xe7\x94\xb0 ", ADB_KINDS_ANY, NULL, 10),
                        "\xe5\xb1\xb1\xe7\x94\xb0@adb.test");
    dir_names_unref(x);
}

static void test_case_and_order(void **state)
{
    dir_names *x = adb_test();

    (void)state;
    /* "al": alice (name, display, mail, UPN: once), Alan Carol (display),
     * alpha.group, ALIAS@ (zed's mail); ordered by account name. */
    assert_string_equal(find(&x, 1, "al", ADB_KINDS_ANY, NULL, 10),
                        "alice@adb.test alpha.group@adb.test carol@adb.test zed@adb.test");
    assert_string_equal(find(&x, 1, "al", ADB_KINDS_USER, NULL, 10), "alice@adb.test carol@adb.test zed@adb.test");
    assert_string_equal(find(&x, 1, "al", ADB_KINDS_GROUP, NULL, 10), "alpha.group@adb.test");
    /* The prefix comes lower-cased (dir_lower_into): the keys are too. */
    assert_string_equal(find(&x, 1, "carol", ADB_KINDS_ANY, NULL, 10), "carol@adb.test");
    assert_string_equal(find(&x, 1, "alias@", ADB_KINDS_ANY, NULL, 10), "zed@adb.test");
    dir_names_unref(x);
}

static void test_cursor_and_domains(void **state)
{
    dir_names *x[2] = { adb_test(), dir_names_new("partner.test") };
    adb_error err = { 0 };
    char after[64];

    (void)state;
    put(x[1], 1, ADB_KINDS_USER, "alice", NULL, NULL, NULL);   /* the same GUID bytes, another domain */
    put(x[1], 7, ADB_KINDS_USER, "al.partner", NULL, NULL, NULL);
    assert_int_equal(dir_names_seal(x[1], &err), ADB_OK);
    assert_string_equal(find(x, 2, "al", ADB_KINDS_ANY, NULL, 10),
                        "al.partner@partner.test alice@adb.test alice@partner.test alpha.group@adb.test "
                        "carol@adb.test zed@adb.test");
    /* Pages of 2: the first k, then after the last key of the page. */
    assert_string_equal(find(x, 2, "al", ADB_KINDS_ANY, NULL, 2), "al.partner@partner.test alice@adb.test");
    char *k = adb_sort_key_make("alice", "adb.test");
    snprintf(after, sizeof after, "%s", k);
    free(k);
    assert_string_equal(find(x, 2, "al", ADB_KINDS_ANY, after, 2), "alice@partner.test alpha.group@adb.test");
    k = adb_sort_key_make("alpha.group", "adb.test");
    snprintf(after, sizeof after, "%s", k);
    free(k);
    assert_string_equal(find(x, 2, "al", ADB_KINDS_ANY, after, 2), "carol@adb.test zed@adb.test");
    k = adb_sort_key_make("zed", "adb.test");
    snprintf(after, sizeof after, "%s", k);
    free(k);
    assert_string_equal(find(x, 2, "al", ADB_KINDS_ANY, after, 2), "");
    dir_names_unref(x[0]);
    dir_names_unref(x[1]);
}

static void test_remove_and_refresh(void **state)
{
    dir_names *x = adb_test(), *y;
    adb_guid g = guid_of(3);
    adb_error err = { 0 };

    (void)state;
    dir_names_remove(x, &g);   /* carol: gone from this snapshot at once */
    assert_string_equal(find(&x, 1, "al", ADB_KINDS_USER, NULL, 10), "alice@adb.test zed@adb.test");
    /* A refresh: the live objects, then what changed (bob renamed). */
    assert_non_null(y = dir_names_derive(x));
    put(y, 2, ADB_KINDS_USER, "robert", "Robert Baker", NULL, "robert@adb.test");
    put(y, 8, ADB_KINDS_USER, "alfred", NULL, NULL, NULL);
    assert_int_equal(dir_names_seal(y, &err), ADB_OK);
    assert_int_equal(dir_names_count(y), 6);   /* 6 - carol + alfred */
    assert_string_equal(find(&y, 1, "bob", ADB_KINDS_ANY, NULL, 10), "");
    assert_string_equal(find(&y, 1, "rob", ADB_KINDS_ANY, NULL, 10), "robert@adb.test");
    assert_string_equal(find(&y, 1, "al", ADB_KINDS_USER, NULL, 10), "alfred@adb.test alice@adb.test zed@adb.test");
    /* The old snapshot is untouched by the refresh. */
    assert_string_equal(find(&x, 1, "bob", ADB_KINDS_ANY, NULL, 10), "bob@adb.test");
    assert_true(dir_names_bytes(y) > 6 * 40);
    dir_names_unref(x);
    assert_string_equal(find(&y, 1, "robert b", ADB_KINDS_ANY, NULL, 10), "robert@adb.test");
    dir_names_unref(y);
}

static void test_matches(void **state)
{
    const char *const names[4] = { "bob", "Bob Baker", NULL, "Bob@ADB.test" };

    (void)state;
    assert_true(dir_names_matches("bob b", names));
    assert_true(dir_names_matches("bob@adb", names));
    assert_true(dir_names_matches("b", names));
    assert_false(dir_names_matches("baker", names));
    assert_false(dir_names_matches("bob baker and", names));
}

static void test_auto_policy(void **state)
{
    (void)state;
    assert_false(dir_names_auto_wants(ADB_SEARCH_INDEX_OFF, 100000));
    assert_true(dir_names_auto_wants(ADB_SEARCH_INDEX_ON, 0));
    assert_false(dir_names_auto_wants(ADB_SEARCH_INDEX_AUTO, 0));
    assert_false(dir_names_auto_wants(ADB_SEARCH_INDEX_AUTO, DIR_NAMES_AUTO_MS - 1));   /* AD, Samba at 5,000 */
    assert_true(dir_names_auto_wants(ADB_SEARCH_INDEX_AUTO, DIR_NAMES_AUTO_MS));
    assert_true(dir_names_auto_wants(ADB_SEARCH_INDEX_AUTO, 1036));   /* Samba at 100,000 */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_each_name),
        cmocka_unit_test(test_case_and_order),
        cmocka_unit_test(test_cursor_and_domains),
        cmocka_unit_test(test_remove_and_refresh),
        cmocka_unit_test(test_matches),
        cmocka_unit_test(test_auto_policy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
