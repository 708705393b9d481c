/* Integration: machine-account Kerberos and sealed LDAP against the Samba
 * DCs of samba-testenv (run by t-20-ldap.sh, which sets ADB_TEST_*). */
#include "config.h"

#include <adbridge/filter.h>
#include <adbridge/krb.h>
#include <adbridge/ldap_conn.h>

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

static const char *machine(void)
{
    static char p[256];
    snprintf(p, sizeof p, "%s$@%s", env("ADB_TEST_MACHINE"), env("ADB_TEST_REALM"));
    return p;
}

static adb_krb *machine_creds(void)
{
    adb_krb *k;
    adb_error err = { 0 };

    if (adb_krb_new(env("ADB_TEST_KEYTAB"), machine(), &k, &err) != ADB_OK
        || adb_krb_refresh(k, false, &err) != ADB_OK)
        fail_msg("machine credentials: %s: %s", adb_code_name(err.code), err.message);
    return k;
}

static adb_ldap_conn *connect_dc1(adb_krb *k)
{
    adb_ldap_target t = { .host = "dc1.adb.test", .address = env("ADB_TEST_DC1") };
    adb_ldap_conn *c;
    adb_error err = { 0 };

    if (adb_ldap_connect(&t, k, NULL, &c, &err) != ADB_OK)
        fail_msg("connect dc1: %s: %s", adb_code_name(err.code), err.message);
    return c;
}

static void test_bind_sealed_and_read(void **state)
{
    adb_krb *k = machine_creds();
    adb_ldap_conn *c = connect_dc1(k);
    const char *attrs[] = { "dnsHostName", "defaultNamingContext", NULL };
    const char *user_attrs[] = { "sAMAccountName", "objectSid", "objectGUID", NULL };
    adb_ldap_entry *e;
    adb_error err = { 0 };
    char buf[256];

    (void)state;
    assert_true(adb_ldap_ssf(c) >= 56);
    assert_string_equal(adb_krb_principal(k), machine());
    assert_true(adb_krb_expiry(k) > 0);
    assert_int_equal(adb_ldap_read(c, "", NULL, attrs, &e, &err), ADB_OK);
    assert_string_equal(adb_ldap_entry_str(e, "dnsHostName", buf, sizeof buf), "dc1.adb.test");
    assert_string_equal(adb_ldap_entry_str(e, "defaultNamingContext", buf, sizeof buf), "DC=adb,DC=test");
    adb_ldap_entry_free(e);

    adb_ldap_search *s;
    assert_int_equal(adb_ldap_search_begin(c, "DC=adb,DC=test", ADB_LDAP_SCOPE_SUBTREE,
                                           "(sAMAccountName=alice)", user_attrs, 0, &s, &err), ADB_OK);
    assert_int_equal(adb_ldap_search_next(s, &e, &err), ADB_OK);
    assert_non_null(e);
    assert_string_equal(adb_ldap_entry_str(e, "sAMAccountName", buf, sizeof buf), "alice");
    /* Binary attributes come back as bytes: a SID is 28 bytes, a GUID 16. */
    assert_int_equal(adb_ldap_entry_values(e, "objectSid")[0]->bv_len, 28);
    assert_int_equal(adb_ldap_entry_values(e, "objectGUID")[0]->bv_len, 16);
    adb_ldap_entry_free(e);
    assert_int_equal(adb_ldap_search_next(s, &e, &err), ADB_OK);
    assert_null(e);
    adb_ldap_search_end(s);

    /* A missing object is not_found, not a generic error. */
    assert_int_equal(adb_ldap_read(c, "CN=nobody,DC=adb,DC=test", NULL, attrs, &e, &err), ADB_E_NOT_FOUND);
    adb_ldap_close(c);
    adb_krb_free(k);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorts and checks that no string repeats; returns the count. */
static size_t assert_unique(char **v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_str);
    for (size_t i = 1; i < n; i++)
        if (strcmp(v[i - 1], v[i]) == 0)
            fail_msg("duplicate: %s", v[i]);
    return n;
}

static void test_paged_search_all_users(void **state)
{
    adb_krb *k = machine_creds();
    adb_ldap_conn *c = connect_dc1(k);
    const char *attrs[] = { "sAMAccountName", NULL };
    adb_ldap_search *s;
    adb_ldap_entry *e;
    adb_error err = { 0 };
    size_t n = 0, cap = 8192;
    char **dns = malloc(cap * sizeof *dns);

    (void)state;
    /* Page size 200 against > 5000 users: dozens of pages, one iterator. */
    assert_int_equal(adb_ldap_search_begin(c, "DC=adb,DC=test", ADB_LDAP_SCOPE_SUBTREE,
                                           "(&(objectCategory=person)(objectClass=user))", attrs, 200,
                                           &s, &err), ADB_OK);
    while (adb_ldap_search_next(s, &e, &err) == ADB_OK && e != NULL) {
        if (n == cap)
            dns = realloc(dns, (cap *= 2) * sizeof *dns);
        dns[n++] = strdup(e->dn);
        adb_ldap_entry_free(e);
    }
    assert_int_equal(err.code, ADB_OK);
    adb_ldap_search_end(s);
    print_message("# paged search: %zu users\n", n);
    assert_true(n > 5000);
    assert_unique(dns, n);
    for (size_t i = 0; i < n; i++)
        free(dns[i]);
    free(dns);
    adb_ldap_close(c);
    adb_krb_free(k);
}

struct collect { char **v; size_t n, cap; };

static bool collect_value(const struct berval *value, void *arg)
{
    struct collect *col = arg;
    if (col->n == col->cap)
        col->v = realloc(col->v, (col->cap = col->cap ? col->cap * 2 : 1024) * sizeof *col->v);
    col->v[col->n++] = strndup(value->bv_val, value->bv_len);
    return true;
}

static void test_range_retrieval_big_group(void **state)
{
    adb_krb *k = machine_creds();
    adb_ldap_conn *c = connect_dc1(k);
    const char *attrs[] = { "member", NULL };
    adb_ldap_search *s;
    adb_ldap_entry *e;
    adb_error err = { 0 };
    struct collect col = { 0 };
    char dn[512];

    (void)state;
    assert_int_equal(adb_ldap_search_begin(c, "DC=adb,DC=test", ADB_LDAP_SCOPE_SUBTREE,
                                           "(sAMAccountName=big.group)", attrs, 0, &s, &err), ADB_OK);
    assert_int_equal(adb_ldap_search_next(s, &e, &err), ADB_OK);
    assert_non_null(e);
    snprintf(dn, sizeof dn, "%s", e->dn);
    /* Samba 4.17 has no MaxValRange and would send all 5,000 at once; the
     * range loop asks in windows of ADB_LDAP_RANGE_STEP, so 4 round trips. */
    adb_ldap_entry_free(e);
    adb_ldap_search_end(s);

    assert_int_equal(adb_ldap_read_all_values(c, dn, "member", collect_value, &col, &err), ADB_OK);
    print_message("# range retrieval: %zu members\n", col.n);
    assert_true(col.n >= 5000);
    assert_true(col.n > ADB_LDAP_RANGE_STEP);
    assert_unique(col.v, col.n);
    for (size_t i = 0; i < col.n; i++)
        free(col.v[i]);
    free(col.v);
    adb_ldap_close(c);
    adb_krb_free(k);
}

static void test_missing_keytab(void **state)
{
    adb_krb *k;
    adb_error err = { 0 };

    (void)state;
    assert_int_equal(adb_krb_new("/nonexistent/krb5.keytab", NULL, &k, &err), ADB_E_KEYTAB);
    assert_non_null(strstr(err.message, "/nonexistent/krb5.keytab"));
    assert_non_null(strstr(err.message, "adcli join"));
}

static void test_principal_not_in_keytab(void **state)
{
    adb_krb *k;
    adb_error err = { 0 };

    (void)state;
    assert_int_equal(adb_krb_new(env("ADB_TEST_KEYTAB"), "OTHERHOST$@ADB.TEST", &k, &err), ADB_E_KEYTAB);
    assert_non_null(strstr(err.message, "no key for OTHERHOST$@ADB.TEST"));
}

/* Each of these keytabs / krb5.confs is prepared by t-20-ldap.sh. */
static void test_wrong_key(void **state)
{
    adb_krb *k;
    adb_error err = { 0 };

    (void)state;
    assert_int_equal(adb_krb_new(env("ADB_TEST_WRONG_KEYTAB"), machine(), &k, &err), ADB_OK);
    assert_int_equal(adb_krb_refresh(k, true, &err), ADB_E_KERBEROS);
    assert_non_null(strstr(err.message, "adcli update"));
    adb_krb_free(k);
}

static void test_unknown_principal(void **state)
{
    adb_krb *k;
    adb_error err = { 0 };

    (void)state;
    assert_int_equal(adb_krb_new(env("ADB_TEST_GHOST_KEYTAB"), NULL, &k, &err), ADB_OK);
    assert_int_equal(adb_krb_refresh(k, true, &err), ADB_E_KERBEROS);
    assert_non_null(strstr(err.message, "unknown to the KDC"));
    adb_krb_free(k);
}

static void test_unreachable_kdc(void **state)
{
    adb_krb *k;
    adb_error err = { 0 };
    const char *saved = getenv("KRB5_CONFIG");
    char *copy = saved != NULL ? strdup(saved) : NULL;

    (void)state;
    setenv("KRB5_CONFIG", env("ADB_TEST_DEAD_KRB5_CONFIG"), 1);
    assert_int_equal(adb_krb_new(env("ADB_TEST_KEYTAB"), machine(), &k, &err), ADB_OK);
    assert_int_equal(adb_krb_refresh(k, true, &err), ADB_E_DC_UNAVAILABLE);
    print_message("# %s\n", err.message);
    assert_non_null(strstr(err.message, "127.0.0.1:1"));
    adb_krb_free(k);
    if (copy != NULL) {
        setenv("KRB5_CONFIG", copy, 1);
        free(copy);
    }
}

/* Number of entries under DC=adb,DC=test matching a filter built from a
 * template and one untrusted value. */
static size_t count_matches(adb_ldap_conn *c, const char *template, const char *value)
{
    const char *attrs[] = { "1.1", NULL };
    adb_ldap_search *s;
    adb_ldap_entry *e;
    adb_error err = { 0 };
    char *filter;
    size_t n = 0;

    assert_int_equal(adb_filter_build(&filter, &err, template, value), ADB_OK);
    assert_int_equal(adb_ldap_search_begin(c, "DC=adb,DC=test", ADB_LDAP_SCOPE_SUBTREE, filter, attrs, 0,
                                           &s, &err), ADB_OK);
    while (adb_ldap_search_next(s, &e, &err) == ADB_OK && e != NULL) {
        n++;
        adb_ldap_entry_free(e);
    }
    assert_int_equal(err.code, ADB_OK);
    adb_ldap_search_end(s);
    free(filter);
    return n;
}

/* Values with filter metacharacters find exactly their object; hostile
 * values that would widen an unescaped filter match nothing. */
static void test_injection(void **state)
{
    adb_krb *k = machine_creds();
    adb_ldap_conn *c = connect_dc1(k);
    const char *by_display = "(&(objectClass=user)(displayName=%v))";
    const char *by_account = "(&(objectClass=user)(sAMAccountName=%v))";

    (void)state;
    assert_int_equal(count_matches(c, by_display, "Smith, John (Sales) *VIP*"), 1);
    assert_int_equal(count_matches(c, by_display, "O\"Brien; Pat <Ops> #1 + Co = A\\B"), 1);
    assert_int_equal(count_matches(c, by_display, "\xe5\xb1\xb1\xe7\x94\xb0 \xe5\xa4\xaa\xe9\x83\x8e"), 1);
    assert_int_equal(count_matches(c, by_account, "alice"), 1);
    assert_int_equal(count_matches(c, by_account, "*"), 0);
    assert_int_equal(count_matches(c, by_account, "*)(objectClass=*"), 0);
    assert_int_equal(count_matches(c, by_account, "alice)(|(sAMAccountName=*"), 0);
    assert_int_equal(count_matches(c, by_account, "alice\\2a"), 0);
    assert_int_equal(count_matches(c, by_display, "Smith, John (Sales) *"), 0);
    assert_int_equal(count_matches(c, by_display, "O\"Brien; Pat <Ops> #1 + Co = A\\"), 0);
    adb_ldap_close(c);
    adb_krb_free(k);
}

/* The machine password changes under a live context (adcli update raises the
 * kvno in the keytab): the next forced refresh uses the new key, no restart. */
static void test_keytab_rotation(void **state)
{
    adb_krb *k = machine_creds();
    adb_error err = { 0 };
    int before = adb_krb_kvno(k);

    (void)state;
    assert_true(before > 0);
    assert_int_equal(system(env("ADB_TEST_ROTATE_CMD")), 0);
    assert_int_equal(adb_krb_refresh(k, true, &err), ADB_OK);
    print_message("# kvno %d -> %d\n", before, adb_krb_kvno(k));
    assert_int_equal(adb_krb_kvno(k), before + 1);
    adb_ldap_conn *c = connect_dc1(k);
    assert_true(adb_ldap_ssf(c) >= 56);
    adb_ldap_close(c);
    adb_krb_free(k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bind_sealed_and_read),
        cmocka_unit_test(test_paged_search_all_users),
        cmocka_unit_test(test_range_retrieval_big_group),
        cmocka_unit_test(test_missing_keytab),
        cmocka_unit_test(test_principal_not_in_keytab),
        cmocka_unit_test(test_wrong_key),
        cmocka_unit_test(test_unknown_principal),
        cmocka_unit_test(test_unreachable_kdc),
        cmocka_unit_test(test_injection),
        cmocka_unit_test(test_keytab_rotation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
