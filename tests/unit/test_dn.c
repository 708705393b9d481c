/* Distinguished names: validation, domain of a DN, normal form, ancestry. */
#include "config.h"

#include <adbridge/dn.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

static void test_valid(void **state)
{
    (void)state;
    assert_true(adb_dn_valid("CN=alice,OU=AdbTest,DC=adb,DC=test"));
    assert_true(adb_dn_valid("CN=Smith\\, John (Sales) *VIP*,OU=AdbTest,DC=adb,DC=test"));
    assert_true(adb_dn_valid("CN=O\\\"Brien\\; Pat \\<Ops\\> \\#1,DC=adb,DC=test"));
    assert_true(adb_dn_valid("CN=\xe5\xb1\xb1\xe7\x94\xb0 \xe5\xa4\xaa\xe9\x83\x8e,DC=adb,DC=test"));
    assert_true(adb_dn_valid("DC=adb,DC=test"));
    assert_false(adb_dn_valid(""));
    assert_false(adb_dn_valid(NULL));
    assert_false(adb_dn_valid("alice"));
    assert_false(adb_dn_valid("CN=a,,DC=test"));
    assert_false(adb_dn_valid("CN=Smith, John,DC=adb"));           /* unescaped comma: " John" is no RDN */
    assert_false(adb_dn_valid("2.5.4.3=alice,DC=adb,DC=test"));     /* OIDs are not accepted from callers */
    assert_false(adb_dn_valid("CN=#04024869,DC=adb,DC=test"));      /* BER values neither */
    char *long_dn = malloc(ADB_DN_MAX + 10);
    memset(long_dn, 'a', ADB_DN_MAX + 9);
    memcpy(long_dn, "CN=", 3);
    long_dn[ADB_DN_MAX + 9] = '\0';
    assert_false(adb_dn_valid(long_dn));
    free(long_dn);
}

static void test_domain(void **state)
{
    char buf[ADB_DOMAIN_MAX];
    adb_error err = { 0 };

    (void)state;
    assert_int_equal(adb_dn_domain("CN=alice,OU=AdbTest,DC=adb,DC=test", buf, sizeof buf, &err), ADB_OK);
    assert_string_equal(buf, "adb.test");
    assert_int_equal(adb_dn_domain("cn=x,dc=Child,dc=ADB,dc=Test", buf, sizeof buf, &err), ADB_OK);
    assert_string_equal(buf, "child.adb.test");
    /* Only the trailing run of DC= counts. */
    assert_int_equal(adb_dn_domain("DC=zone,CN=MicrosoftDNS,DC=adb,DC=test", buf, sizeof buf, &err), ADB_OK);
    assert_string_equal(buf, "adb.test");
    assert_int_equal(adb_dn_domain("CN=Schema,CN=Configuration", buf, sizeof buf, &err), ADB_E_INVALID_REQUEST);
    assert_non_null(strstr(err.message, "DC="));
    assert_int_equal(adb_dn_domain("nonsense", buf, sizeof buf, &err), ADB_E_INVALID_REQUEST);
    assert_int_equal(adb_dn_domain("CN=x,DC=bad_label-,DC=test", buf, sizeof buf, &err), ADB_E_INVALID_REQUEST);
    assert_int_equal(adb_dn_domain("CN=x,DC=adb,DC=test", buf, 5, &err), ADB_E_INVALID_REQUEST);
}

static void test_from_domain(void **state)
{
    char buf[64];
    adb_error err = { 0 };

    (void)state;
    assert_int_equal(adb_dn_from_domain("adb.test", buf, sizeof buf, &err), ADB_OK);
    assert_string_equal(buf, "DC=adb,DC=test");
    assert_int_equal(adb_dn_from_domain("a.b.c", buf, sizeof buf, &err), ADB_OK);
    assert_string_equal(buf, "DC=a,DC=b,DC=c");
    assert_int_equal(adb_dn_from_domain("bad domain", buf, sizeof buf, &err), ADB_E_INVALID_REQUEST);
    assert_int_equal(adb_dn_from_domain("adb.test", buf, 8, &err), ADB_E_INTERNAL);
}

static void test_normalize(void **state)
{
    char *a, *b;
    adb_error err = { 0 };

    (void)state;
    assert_int_equal(adb_dn_normalize("CN=Alice,OU=AdbTest,DC=ADB,DC=test", &a, &err), ADB_OK);
    assert_int_equal(adb_dn_normalize("cn=alice, ou=adbtest, dc=adb, dc=test", &b, &err), ADB_OK);
    assert_string_equal(a, b);
    free(a);
    free(b);
    /* Two spellings of one escaped comma are one DN. */
    assert_int_equal(adb_dn_normalize("CN=Smith\\, John,DC=adb,DC=test", &a, &err), ADB_OK);
    assert_int_equal(adb_dn_normalize("CN=Smith\\2C John,DC=adb,DC=test", &b, &err), ADB_OK);
    assert_string_equal(a, b);
    free(a);
    free(b);
    assert_int_equal(adb_dn_normalize("garbage", &a, &err), ADB_E_INVALID_REQUEST);
    assert_null(a);

}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_domain),
        cmocka_unit_test(test_from_domain),
        cmocka_unit_test(test_normalize),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
