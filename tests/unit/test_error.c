/* Error codes: names are stable, unique and snake_case; messages truncate. */
#include "config.h"

#include <adbridge/error.h>

#include <ctype.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

static void test_names_are_stable(void **state)
{
    (void)state;
    assert_string_equal(adb_code_name(ADB_OK), "ok");
    assert_string_equal(adb_code_name(ADB_E_NOT_FOUND), "not_found");
    assert_string_equal(adb_code_name(ADB_E_DOMAIN_NOT_ENABLED), "domain_not_enabled");
    assert_string_equal(adb_code_name(ADB_E_INVALID_REQUEST), "invalid_request");
    assert_string_equal(adb_code_name(ADB_E_CLOCK_SKEW), "clock_skew");
    assert_string_equal(adb_code_name((adb_code)9999), "internal_error");
}

static void test_names_unique_snake_case(void **state)
{
    (void)state;
    for (int i = 0; i < ADB_CODE_COUNT_; i++) {
        const char *a = adb_code_name((adb_code)i);
        assert_true(strlen(a) > 0);
        for (const char *p = a; *p; p++)
            assert_true(islower((unsigned char)*p) || *p == '_');
        for (int j = i + 1; j < ADB_CODE_COUNT_; j++)
            assert_string_not_equal(a, adb_code_name((adb_code)j));
    }
}

static void test_set_truncates_and_prefix(void **state)
{
    adb_error err;
    char big[2000];

    (void)state;
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(adb_error_set(&err, ADB_E_DNS, "%s", big), ADB_E_DNS);
    assert_int_equal(err.code, ADB_E_DNS);
    assert_int_equal(strlen(err.message), ADB_ERROR_MESSAGE_MAX - 1);

    adb_error_set(&err, ADB_E_TIMEOUT, "no answer from %s", "10.0.0.1");
    adb_error_prefix(&err, "locate %s", "adb.test");
    assert_string_equal(err.message, "locate adb.test: no answer from 10.0.0.1");

    adb_error_clear(&err);
    assert_int_equal(err.code, ADB_OK);
    assert_string_equal(err.message, "");
    assert_int_equal(adb_error_set(NULL, ADB_E_IO, "ignored"), ADB_E_IO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_are_stable),
        cmocka_unit_test(test_names_unique_snake_case),
        cmocka_unit_test(test_set_truncates_and_prefix),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
