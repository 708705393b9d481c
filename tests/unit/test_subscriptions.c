/* "Use for subscriptions" flags: configuration defaults, atomic persistence,
 * reload, corrupt state files, failure leaves everything unchanged; and one
 * view of them: the locator asks this module, so concurrent changes cannot
 * leave the two disagreeing. */
#include "config.h"

#include <adbridge/fileio.h>
#include <adbridge/locator.h>
#include <adbridge/subscriptions.h>

#include <dirent.h>
#include <pthread.h>
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

/* A configuration with state_dir and domains (a JSON array). */
static adb_config *config_of(const char *state_dir, const char *domains)
{
    char text[1024];
    adb_config *cfg;
    adb_error err = { 0 };

    snprintf(text, sizeof text, "{\"state_dir\": \"%s\", \"domains\": %s}", state_dir, domains);
    if (adb_config_parse(text, strlen(text), "test", &cfg, &err) != ADB_OK)
        fail_msg("config: %s", err.message);
    return cfg;
}

static adb_config *config_in(const char *state_dir)
{
    return config_of(state_dir, "[{\"name\": \"adb.test\", \"use_for_subscriptions\": true},"
                                " {\"name\": \"partner.test\"}]");
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

/* The locator's view of domain (its health row's flag): 1, 0, or -1 when
 * it has no row.  Safe on any thread (it asserts nothing). */
static int locator_says(adb_locator *loc, const char *domain)
{
    adb_dc_health rows[8];
    size_t n = adb_locator_health(loc, rows, 8);

    for (size_t i = 0; i < n && i < 8; i++)
        if (strcmp(rows[i].domain, domain) == 0)
            return rows[i].enabled;
    return -1;
}

/* A locate of a domain its owner disabled is refused before any DNS query
 * or ping (this test has no network); the change holds at once. */
static void test_locator_asks_the_owner(void **state)
{
    adb_config *cfg = config_in(dir);
    adb_subscriptions *s;
    adb_locator *loc;
    adb_dc_list list;
    adb_error err = { 0 };

    (void)state;
    assert_int_equal(adb_subscriptions_open(cfg, &s, &err), ADB_OK);
    assert_int_equal(adb_locator_new_with_subscriptions(cfg, s, NULL, &loc, &err), ADB_OK);
    assert_int_equal(locator_says(loc, "adb.test"), 1);
    assert_int_equal(locator_says(loc, "partner.test"), 0);
    assert_int_equal(adb_subscriptions_set(s, "adb.test", false, &err), ADB_OK);
    assert_int_equal(locator_says(loc, "adb.test"), 0);
    assert_int_equal(adb_locator_get(loc, "adb.test", ADB_LOCATE_DEFAULT, NULL, &list, &err),
                     ADB_E_DOMAIN_NOT_ENABLED);
    assert_non_null(strstr(err.message, "not marked \"use for subscriptions\""));
    /* Not configured: refused whatever a flag says. */
    assert_int_equal(adb_subscriptions_set(s, "child.adb.test", true, &err), ADB_OK);
    assert_int_equal(adb_locator_get(loc, "child.adb.test", ADB_LOCATE_DEFAULT, NULL, &list, &err),
                     ADB_E_DOMAIN_NOT_ENABLED);
    assert_non_null(strstr(err.message, "not in the configuration"));
    adb_locator_free(loc);
    adb_subscriptions_free(s);
    /* A stand-alone locator: the configuration's values, the state file unread. */
    assert_int_equal(adb_locator_new(cfg, NULL, &loc, &err), ADB_OK);
    assert_int_equal(locator_says(loc, "adb.test"), 1);
    adb_locator_free(loc);
    adb_config_free(cfg);
}

enum { WRITERS = 4, ROUNDS = 60 };

typedef struct hammer {
    adb_subscriptions *s;
    adb_locator *loc;
    unsigned seed;
    int failures;
} hammer;

/* Sets the two shared domains to random values, as concurrent
 * domains.configure requests would. */
static void *write_shared(void *arg)
{
    hammer *h = arg;

    for (int i = 0; i < ROUNDS; i++) {
        adb_error err = { 0 };
        const char *domain = rand_r(&h->seed) % 2 ? "adb.test" : "partner.test";
        if (adb_subscriptions_set(h->s, domain, rand_r(&h->seed) % 2, &err) != ADB_OK)
            h->failures++;
    }
    return NULL;
}

/* The only writer of child.adb.test: after each change both views must
 * already show it (there is no second step that could lag). */
static void *write_own(void *arg)
{
    hammer *h = arg;

    for (int i = 0; i < ROUNDS; i++) {
        adb_error err = { 0 };
        int on = i % 2 == 0;
        if (adb_subscriptions_set(h->s, "child.adb.test", on, &err) != ADB_OK
            || adb_subscriptions_enabled(h->s, "child.adb.test") != on || locator_says(h->loc, "child.adb.test") != on)
            h->failures++;
    }
    return NULL;
}

static void test_concurrent_changes_leave_one_view(void **state)
{
    static const char *const domains[] = { "adb.test", "partner.test", "child.adb.test" };
    adb_config *cfg = config_of(dir, "[{\"name\": \"adb.test\", \"use_for_subscriptions\": true},"
                                     " {\"name\": \"partner.test\"}, {\"name\": \"child.adb.test\"}]");
    adb_subscriptions *s, *reread;
    adb_locator *loc;
    hammer h[WRITERS + 1];
    pthread_t th[WRITERS + 1];
    adb_error err = { 0 };

    (void)state;
    assert_int_equal(adb_subscriptions_open(cfg, &s, &err), ADB_OK);
    assert_int_equal(adb_locator_new_with_subscriptions(cfg, s, NULL, &loc, &err), ADB_OK);
    for (unsigned i = 0; i <= WRITERS; i++) {
        h[i] = (hammer){ s, loc, 7919 * (i + 1), 0 };
        assert_int_equal(pthread_create(&th[i], NULL, i < WRITERS ? write_shared : write_own, &h[i]), 0);
    }
    for (unsigned i = 0; i <= WRITERS; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(h[i].failures, 0);
    }
    /* Memory, the locator and the file (read back as a restart would) agree. */
    assert_int_equal(adb_subscriptions_open(cfg, &reread, &err), ADB_OK);
    for (size_t i = 0; i < 3; i++) {
        int on = adb_subscriptions_enabled(s, domains[i]);
        assert_int_equal(locator_says(loc, domains[i]), on);
        assert_int_equal(adb_subscriptions_enabled(reread, domains[i]), on);
    }
    adb_subscriptions_free(reread);
    adb_locator_free(loc);
    adb_subscriptions_free(s);
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
        cmocka_unit_test_setup(test_locator_asks_the_owner, reset),
        cmocka_unit_test_setup(test_concurrent_changes_leave_one_view, reset),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
