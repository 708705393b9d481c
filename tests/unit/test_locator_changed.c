/* adb_locator_changed, the pool's cheap question on every release: it says
 * "changed" at first, after a DC's health changed, and once a backoff has
 * run out, and "unchanged" otherwise.  No network: health reports only. */
#include "config.h"

#include <adbridge/locator.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

static const char cfg_text[] = "{\"state_dir\": \"/nonexistent-adbridge-state\", "
                               "\"domains\": [{\"name\": \"adb.test\"}]}";

static void test_changes(void **state)
{
    adb_config *cfg;
    adb_locator *loc;
    adb_error err = { 0 };
    uint64_t seen = 0;

    (void)state;
    assert_int_equal(adb_config_parse(cfg_text, strlen(cfg_text), "test", &cfg, &err), ADB_OK);
    assert_int_equal(adb_locator_new(cfg, NULL, &loc, &err), ADB_OK);
    assert_true(adb_locator_changed(loc, &seen));        /* nothing known yet: ask */

    adb_locator_mark_up(loc, "adb.test", "dc1.adb.test");   /* up and never failed: no change */
    adb_locator_mark_down(loc, "adb.test", "dc1.adb.test");
    assert_true(adb_locator_changed(loc, &seen));
    assert_false(adb_locator_changed(loc, &seen));        /* its 5 s backoff has not run out */
    adb_locator_mark_up(loc, "adb.test", "dc1.adb.test");
    assert_true(adb_locator_changed(loc, &seen));
    assert_false(adb_locator_changed(loc, &seen));
    adb_locator_mark_up(loc, "adb.test", "dc1.adb.test");   /* already up */
    assert_false(adb_locator_changed(loc, &seen));

    /* The others' count is the same: a second slot that saw nothing yet is told. */
    uint64_t other = 0;
    assert_true(adb_locator_changed(loc, &other));

    adb_locator_free(loc);
    adb_config_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_changes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
