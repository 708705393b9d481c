/* The small helpers that exist once so that their callers agree: RFC 3339
 * times, ASCII case and decimal integers, the DN test of identifiers, and
 * the KDC addresses read from MIT krb5's trace. */
#include "config.h"

#include <adbridge/text.h>
#include <adbridge/clock.h>
#include <adbridge/dn.h>
#include <adbridge/krbtrace.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

static void test_rfc3339(void **state)
{
    char buf[ADB_RFC3339_SIZE];

    (void)state;
    assert_true(adb_rfc3339(0, buf));
    assert_string_equal(buf, "1970-01-01T00:00:00Z");
    assert_true(adb_rfc3339(1714564800, buf));
    assert_string_equal(buf, "2024-05-01T12:00:00Z");
}

static void test_ascii_case(void **state)
{
    char buf[9], s[] = "ADB.Test";

    (void)state;
    assert_true(adb_ascii_case_copy(buf, sizeof buf, "Adb.TEST", false));
    assert_string_equal(buf, "adb.test");
    assert_true(adb_ascii_case_copy(buf, sizeof buf, "adb.tst", true));
    assert_string_equal(buf, "ADB.TST");
    assert_false(adb_ascii_case_copy(buf, sizeof buf, "partner.test", false));   /* cut, and says so */
    assert_string_equal(buf, "partner.");
    assert_false(adb_ascii_case_copy(buf, 0, "x", false));
    adb_ascii_lower_in_place(s);
    assert_string_equal(s, "adb.test");
    assert_int_equal(adb_ascii_lower((char)0xC4), (char)0xC4);   /* bytes above ASCII untouched */
    adb_ascii_lower_in_place(NULL);
}

static void test_ascii_int64(void **state)
{
    int64_t v = 7;

    (void)state;
    assert_true(adb_ascii_int64("-18000000000", INT64_MIN, INT64_MAX, &v));
    assert_true(v == -18000000000LL);
    assert_true(adb_ascii_int64("0", 0, 10, &v));
    assert_int_equal(v, 0);
    v = 7;
    assert_false(adb_ascii_int64("", INT64_MIN, INT64_MAX, &v));   /* empty is not 0 */
    assert_false(adb_ascii_int64("-", INT64_MIN, INT64_MAX, &v));
    assert_false(adb_ascii_int64("+5", INT64_MIN, INT64_MAX, &v));
    assert_false(adb_ascii_int64(" 5", INT64_MIN, INT64_MAX, &v));
    assert_false(adb_ascii_int64("5 ", INT64_MIN, INT64_MAX, &v));
    assert_false(adb_ascii_int64("12a", INT64_MIN, INT64_MAX, &v));
    assert_false(adb_ascii_int64("99999999999999999999", INT64_MIN, INT64_MAX, &v));   /* overflow */
    assert_false(adb_ascii_int64("11", 0, 10, &v));
    assert_false(adb_ascii_int64(NULL, 0, 10, &v));
    assert_int_equal(v, 7);   /* untouched on refusal */
}

static void test_dn_looks_like(void **state)
{
    (void)state;
    assert_true(adb_dn_looks_like("CN=Alice,DC=adb,DC=test", 23));
    assert_true(adb_dn_looks_like("ou = x", 6));
    assert_true(adb_dn_looks_like("msDS-x=1", 8));
    assert_false(adb_dn_looks_like("alice", 5));
    assert_false(adb_dn_looks_like("=x", 2));
    assert_false(adb_dn_looks_like("1cn=x", 5));
    assert_false(adb_dn_looks_like("a b=c", 5));
    assert_false(adb_dn_looks_like("CN=x", 2));   /* only the first len bytes count */
    assert_false(adb_dn_looks_like("", 0));
}

static void trace(adb_krb_trace *t, const char *message)
{
    krb5_trace_info info = { .message = message };
    adb_krb_trace_cb(NULL, &info, t);
}

static void test_krb_trace(void **state)
{
    adb_krb_trace t = { 0 };
    char buf[200];

    (void)state;
    adb_krb_trace_tried(&t, "none found", buf, sizeof buf);
    assert_string_equal(buf, "none found");
    trace(&t, "[123] 1700000000.1: Sending request (196 bytes) to ADB.TEST");
    trace(&t, "[123] 1700000000.1: Initiating TCP connection to stream 10.231.1.11:88");
    trace(&t, "[123] 1700000000.1: Sending TCP request to stream 10.231.1.11:88");
    trace(&t, "[123] 1700000000.2: Sending TCP request to stream 10.231.2.12:88");
    trace(&t, "[123] 1700000000.3: Received answer (145 bytes) from stream 10.231.2.12:88");
    trace(&t, "[123] 1700000000.3: Response was not from primary KDC");
    trace(&t, NULL);
    adb_krb_trace_cb(NULL, NULL, &t);
    assert_string_equal(t.realm, "ADB.TEST");
    assert_string_equal(t.answered, "10.231.2.12:88");
    assert_int_equal(t.n_tried, 2);
    adb_krb_trace_tried(&t, "none found", buf, sizeof buf);
    assert_string_equal(buf, "10.231.1.11:88, 10.231.2.12:88");
    for (int i = 0; i < 20; i++) {   /* bounded */
        char m[80];
        snprintf(m, sizeof m, "Sending UDP request to dgram 10.0.0.%d:88", i);
        trace(&t, m);
    }
    assert_int_equal(t.n_tried, ADB_KRB_TRACE_MAX_TRIED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc3339),     cmocka_unit_test(test_ascii_case), cmocka_unit_test(test_ascii_int64),
        cmocka_unit_test(test_dn_looks_like), cmocka_unit_test(test_krb_trace),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
