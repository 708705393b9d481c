/* Logging: level filter, one line per event, hostile values cannot forge fields. */
#include "config.h"

#include <adbridge/log.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

static char *capture(adb_log_level level, adb_log_level msg_level, const char *fields)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    adb_logger lg;

    assert_non_null(f);
    adb_logger_init(&lg, level, f);
    adb_log(&lg, msg_level, "test_event", "%s", fields);
    fclose(f);
    return buf;
}

static void test_level_filter(void **state)
{
    char *out;

    (void)state;
    out = capture(ADB_LOG_INFO, ADB_LOG_DEBUG, "a=1");
    assert_string_equal(out, "");
    free(out);
    out = capture(ADB_LOG_INFO, ADB_LOG_WARN, "a=1");
    assert_non_null(strstr(out, " level=warn event=test_event a=1\n"));
    assert_true(strncmp(out, "ts=", 3) == 0);
    free(out);
}

static void test_level_names(void **state)
{
    adb_log_level l;

    (void)state;
    assert_true(adb_log_level_parse("DEBUG", &l));
    assert_int_equal(l, ADB_LOG_DEBUG);
    assert_false(adb_log_level_parse("verbose", &l));
    assert_false(adb_log_level_parse(NULL, &l));
    assert_string_equal(adb_log_level_name(ADB_LOG_WARN), "warn");
}

static void test_value_quoting(void **state)
{
    char buf[64];

    (void)state;
    assert_string_equal(adb_log_value(buf, sizeof buf, "dc1.adb.test"), "dc1.adb.test");
    assert_string_equal(adb_log_value(buf, sizeof buf, ""), "\"\"");
    assert_string_equal(adb_log_value(buf, sizeof buf, "a b"), "\"a b\"");
    assert_string_equal(adb_log_value(buf, sizeof buf, "x\nlevel=error"), "\"x\\x0alevel=error\"");
    assert_string_equal(adb_log_value(buf, sizeof buf, "q\"\\"), "\"q\\\"\\\\\"");
    /* Truncates instead of overflowing. */
    char small[8];
    adb_log_value(small, sizeof small, "a long value with spaces");
    assert_true(strlen(small) < sizeof small);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_level_filter),
        cmocka_unit_test(test_level_names),
        cmocka_unit_test(test_value_quoting),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
