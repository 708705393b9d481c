/* "Use for subscriptions" flags: configuration defaults, atomic persistence,
 * reload, corrupt state files, failure leaves everything unchanged. */
#include "config.h"

#include <adbridge/fileio.h>
#include <adbridge/subscriptions.h>

#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

static char dir[] = "/tmp/adb-subs-XXXXXX";
static char path[256];

static int setup(void **state)
{
    (void)state;
    if (mkdtemp(dir) == NULL)
        return -1;
    snprintf(path, sizeof path, "%s/" ADB_SUBSCRIPTIONS_FILE, dir);
    return 0;
}

static int teardown(void **state)
{
    char cmd[128];
    (void)state;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static int reset(void **state)
{
    (void)state;
    unlink(path);
    return 0;
}

static adb_config *config_in(const char *state_dir)
{
    char text[512];
    adb_config *cfg;
    adb_error err = { 0 };

    snprintf(text, sizeof text,
             "{\"state_dir\": \"%s\", \"domains\": [{\"name\": \"adb.test\", \"use_for_subscriptions\": true},"
             " {\"name\": \"partner.test\"}]}", state_dir);
    if (adb_config_parse(text, strlen(text), "test", &cfg, &err) != ADB_OK)
        fail_msg("config: %s", err.message);
    return cfg;
}

static int count_entries(void)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static void test_defaults_from_config(void **state)
{
    adb_config *cfg = config_in(dir);
    adb_subscriptions *s;
    adb_subscription *list;
    size_t n;
    adb_error err = { 0 };

    (void)state;
    assert_int_equal(adb_subscriptions_open(cfg, &s, &err), ADB_OK);
    assert_string_equal(adb_subscriptions_path(s), path);
    assert_true(adb_subscriptions_enabled(s, "adb.test"));
    assert_true(adb_subscriptions_enabled(s, "ADB.TEST"));
    assert_false(adb_subscriptions_enabled(s, "partner.test"));
    assert_true(adb_subscriptions_known(s, "partner.test"));
    assert_false(adb_subscriptions_known(s, "other.test"));
    assert_false(adb_subscriptions_enabled(s, "other.test"));
    assert_int_equal(adb_subscriptions_list(s, &list, &n, &err), ADB_OK);
    assert_int_equal(n, 2);
    assert_string_equal(list[0].name, "adb.test");
    assert_false(list[0].persisted);
    free(list);
    assert_int_equal(count_entries(), 0);   /* reading writes nothing */
    adb_subscriptions_free(s);
    adb_config_free(cfg);
}

static void test_set_persists_and_survives_reload(void **state)
{
    adb_config *cfg = config_in(dir);
    adb_subscriptions *s;
    struct stat st;
    char *text;
    size_t len;
    adb_error err = { 0 };

    (void)state;
    assert_int_equal(adb_subscriptions_open(cfg, &s, &err), ADB_OK);
    assert_int_equal(adb_subscriptions_set(s, "Partner.Test", true, &err), ADB_OK);
    assert_int_equal(adb_subscriptions_set(s, "adb.test", false, &err), ADB_OK);
    assert_int_equal(adb_subscriptions_set(s, "child.adb.test", true, &err), ADB_OK);   /* from the topology */
    assert_true(adb_subscriptions_enabled(s, "partner.test"));
    assert_false(adb_subscriptions_enabled(s, "adb.test"));
    assert_true(adb_subscriptions_known(s, "child.adb.test"));
    adb_subscriptions_free(s);
    /* The file: every flag, mode 0600, nothing else left in the directory. */
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(count_entries(), 1);
    assert_int_equal(adb_file_read(path, 4096, &text, &len, &err), ADB_OK);
    assert_non_null(strstr(text, "\"partner.test\": true"));
    assert_non_null(strstr(text, "\"adb.test\": false"));
    free(text);
    /* A restart: the persisted values win over the configuration. */
    assert_int_equal(adb_subscriptions_open(cfg, &s, &err), ADB_OK);
    assert_true(adb_subscriptions_enabled(s, "partner.test"));
    assert_false(adb_subscriptions_enabled(s, "adb.test"));
    assert_true(adb_subscriptions_enabled(s, "child.adb.test"));
    adb_subscription *list;
    size_t n;
    assert_int_equal(adb_subscriptions_list(s, &list, &n, &err), ADB_OK);
    assert_int_equal(n, 3);
    assert_string_equal(list[1].name, "child.adb.test");
    assert_true(list[0].persisted);
    free(list);
    adb_subscriptions_free(s);
    adb_config_free(cfg);
}

static void test_invalid_names(void **state)
{
    adb_config *cfg = config_in(dir);
    adb_subscriptions *s;
    adb_error err = { 0 };

    (void)state;
    assert_int_equal(adb_subscriptions_open(cfg, &s, &err), ADB_OK);
    assert_int_equal(adb_subscriptions_set(s, "not a domain", true, &err), ADB_E_INVALID_REQUEST);
    assert_int_equal(adb_subscriptions_set(s, NULL, true, &err), ADB_E_INVALID_REQUEST);
    assert_int_equal(adb_subscriptions_set(s, "../etc", true, &err), ADB_E_INVALID_REQUEST);
    assert_int_equal(count_entries(), 0);
    adb_subscriptions_free(s);
    adb_config_free(cfg);
}

static void test_write_failure_changes_nothing(void **state)
{
    adb_config *cfg = config_in("/nonexistent-adbridge-state");
    adb_subscriptions *s;
    adb_error err = { 0 };

    (void)state;
    assert_int_equal(adb_subscriptions_open(cfg, &s, &err), ADB_OK);
    assert_int_equal(adb_subscriptions_set(s, "partner.test", true, &err), ADB_E_IO);
    assert_non_null(strstr(err.message, "/nonexistent-adbridge-state/subscriptions.json"));
    assert_non_null(strstr(err.message, "not changed"));
    assert_false(adb_subscriptions_enabled(s, "partner.test"));
    adb_subscriptions_free(s);
    adb_config_free(cfg);
}

static void test_corrupt_files(void **state)
{
    const char *bad[] = {
        "{\"version\": 1, \"domains\": {\"adb.test\": tr",            /* half-written */
        "",                                                           /* empty */
        "[]",
        "{\"version\": 2, \"domains\": {}}",
        "{\"version\": 1, \"domains\": {\"adb.test\": \"yes\"}}",
        "{\"version\": 1, \"domains\": {\"not a name\": true}}",
        "{\"version\": 1, \"domains\": {}, \"extra\": 1}",
        "{\"version\": 1, \"domains\": {\"adb.test\": true, \"adb.test\": false}}",
        "{\"domains\": {}}",
    };
    adb_config *cfg = config_in(dir);

    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        adb_subscriptions *s = NULL;
        adb_error err = { 0 };
        assert_int_equal(adb_file_write_atomic(path, bad[i], strlen(bad[i]), 0600, &err), ADB_OK);
        if (adb_subscriptions_open(cfg, &s, &err) != ADB_E_CONFIG)
            fail_msg("corrupt file %zu accepted", i);
        assert_null(s);
        assert_non_null(strstr(err.message, path));
        assert_non_null(strstr(err.message, "corrupt"));
        assert_non_null(strstr(err.message, "remove it"));
    }
    /* Unreadable (a directory where the file should be): an I/O error, not a silent default. */
    unlink(path);
    mkdir(path, 0700);
    adb_subscriptions *s = NULL;
    adb_error err = { 0 };
    assert_int_not_equal(adb_subscriptions_open(cfg, &s, &err), ADB_OK);
    rmdir(path);
    adb_config_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_defaults_from_config, reset),
        cmocka_unit_test_setup(test_set_persists_and_survives_reload, reset),
        cmocka_unit_test_setup(test_invalid_names, reset),
        cmocka_unit_test_setup(test_write_failure_changes_nothing, reset),
        cmocka_unit_test_setup(test_corrupt_files, reset),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
