/* Clone detection's machine id: sd_id128_get_machine_app_specific(3)'s
 * algorithm done with libsodium.  The vectors come from Python's hmac
 * (an independent implementation); t-80 compares this machine's value with
 * `systemd-id128 machine-id --app-specific`. */
#include "config.h"

#include <adbridge/identity.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

static void test_vector(void **state)
{
    char out[33];
    adb_error e = { 0 };

    (void)state;
    assert_int_equal(adb_identity_app_specific("0123456789abcdef0123456789abcdef", ADB_IDENTITY_APP_ID, out, &e), ADB_OK);
    assert_string_equal(out, "33c107766fdd4ce3b3b406601c97ecc2");
    assert_int_equal(adb_identity_app_specific("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", ADB_IDENTITY_APP_ID, out, &e), ADB_OK);
    assert_string_equal(out, "31685f9e763a414596cae5e83064f7c7");
}

static void test_bad_machine_id(void **state)
{
    static const char *const bad[] = {
        "", "uninitialized", "00000000000000000000000000000000", "0123456789abcdef0123456789abcde",
        "0123456789abcdef0123456789abcdefa", "0123456789abcdef0123456789abcdeg",
    };
    char out[33];

    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        adb_error e = { 0 };
        assert_int_equal(adb_identity_app_specific(bad[i], ADB_IDENTITY_APP_ID, out, &e), ADB_E_IO);
        assert_string_equal(out, "");
        assert_non_null(strstr(e.message, "systemd-machine-id-setup"));
    }
}

static void test_this_machine(void **state)
{
    char out[33];
    adb_error e = { 0 };

    (void)state;
    assert_int_equal(adb_identity_this_machine(out, &e), ADB_OK);
    assert_int_equal(strlen(out), 32);
    assert_int_equal(out[12], '4'); /* version 4 */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vector),
        cmocka_unit_test(test_bad_machine_id),
        cmocka_unit_test(test_this_machine),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
