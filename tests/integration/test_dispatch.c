/* Integration: the dispatcher (src/proto/dispatch.c) runs every operation
 * against the testenv's DCs, as the daemon's workers do, run by
 * t-55-dispatch.sh.  Every reply is also written to
 * $ADB_TEST_TMP/dispatch-replies/ so that the shell validates them all
 * against schemas/reply.schema.json in one python run.
 *
 * One service for the whole program, on a copy of the testenv's
 * configuration whose state_dir is private (instance keys and flags changed
 * here never touch the shared state). */
#include "config.h"

#include <adbridge/auth.h>
#include <adbridge/dispatch.h>
#include <adbridge/keystore.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#define PASSWORD "Adb.User-Passw0rd"

static const char *env(const char *name)
{
    const char *v = getenv(name);
    if (v == NULL || v[0] == '\0')
        fail_msg("%s is not set: run this through tests/integration/run.test", name);
    return v;
}

typedef struct fixture {
    adb_config *cfg;
    adb_logger log;
    char *log_text;
    size_t log_len;
    FILE *log_file;
    adb_dir *dir;
    adb_keystore *ks;
    adb_auth *auth;
    adb_service *svc;
    char replies[512];
    int n;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    adb_error err = { 0 };
    char dir[512];
    adb_service_options so = { 0 };

    if (adb_config_load(env("ADBRIDGE_CONFIG"), &f->cfg, &err) != ADB_OK)
        fail_msg("config: %s", err.message);
    snprintf(dir, sizeof dir, "%s/dispatch-state-%d", env("ADB_TEST_TMP"), (int)getpid());
    mkdir(dir, 0700);
    free(f->cfg->state_dir);
    f->cfg->state_dir = strdup(dir);
    f->cfg->auth.allow_plaintext_password = false;
    snprintf(f->replies, sizeof f->replies, "%s/dispatch-replies", env("ADB_TEST_TMP"));
    mkdir(f->replies, 0700);
    f->log_file = open_memstream(&f->log_text, &f->log_len);
    adb_logger_init(&f->log, ADB_LOG_DEBUG, f->log_file);
    if (adb_dir_open(f->cfg, &f->log, NULL, &f->dir, &err) != ADB_OK)
        fail_msg("adb_dir_open: %s: %s", adb_code_name(err.code), err.message);
    if (adb_keystore_open(dir, NULL, &f->ks, &err) != ADB_OK)
        fail_msg("adb_keystore_open: %s", err.message);
    if (adb_auth_new(f->dir, f->ks, f->cfg, &f->log, &f->auth, &err) != ADB_OK)
        fail_msg("adb_auth_new: %s: %s", adb_code_name(err.code), err.message);
    so.dir = f->dir;
    so.auth = f->auth;
    so.keystore = f->ks;
    so.config = f->cfg;
    so.log = &f->log;
    if (adb_service_new(&so, &f->svc, &err) != ADB_OK)
        fail_msg("adb_service_new: %s", err.message);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;

    adb_service_free(f->svc);
    adb_auth_free(f->auth);
    adb_keystore_free(f->ks);
    adb_dir_free(f->dir);
    fclose(f->log_file);
    /* Nothing this program logged may hold the password. */
    if (f->log_text != NULL && strstr(f->log_text, PASSWORD) != NULL)
        fail_msg("the log holds the password");
    free(f->log_text);
    adb_config_free(f->cfg);
    free(f);
    return 0;
}

/* Dispatches text and returns the parsed reply (saved for the schema check). */
static json_t *call_dlv(fixture *f, const char *text, const adb_delivery *dlv)
{
    char *reply = NULL, path[600];
    size_t len = 0;
    json_t *j;
    FILE *out;

    adb_dispatch(f->svc, text, strlen(text), dlv, &reply, &len);
    assert_non_null(reply);
    assert_int_equal(strlen(reply), len);
    if (strstr(reply, PASSWORD) != NULL)
        fail_msg("a reply holds the password: %s", reply);
    snprintf(path, sizeof path, "%s/%03d.json", f->replies, ++f->n);
    if ((out = fopen(path, "w")) == NULL)
        fail_msg("cannot write %s", path);
    fputs(reply, out);
    fclose(out);
    j = json_loads(reply, JSON_REJECT_DUPLICATES, NULL);
    if (j == NULL)
        fail_msg("the reply is not JSON: %s", reply);
    free(reply);
    return j;
}

static json_t *call(fixture *f, const char *text)
{
    return call_dlv(f, text, NULL);
}

static json_t *result_of(json_t *reply)
{
    json_t *r = json_object_get(reply, "result");
    if (r == NULL) {
        char *t = json_dumps(reply, 0);
        fail_msg("expected a result, got %s", t);
    }
    return r;
}

static const char *error_code(json_t *reply)
{
    json_t *e = json_object_get(reply, "error");
    if (e == NULL) {
        char *t = json_dumps(reply, 0);
        fail_msg("expected an error, got %.500s", t);
    }
    return json_string_value(json_object_get(e, "code"));
}

static bool list_has(json_t *list, const char *key, const char *value)
{
    size_t i;
    json_t *o;
    json_array_foreach(list, i, o) {
        const char *v = json_string_value(json_object_get(o, key));
        if (v != NULL && strcmp(v, value) == 0)
            return true;
    }
    return false;
}

static void test_health(void **state)
{
    fixture *f = *state;
    adb_key_info cur;
    json_t *r = call(f, "{\"v\":1,\"id\":\"h-1\",\"op\":\"health\",\"params\":{}}"), *res = result_of(r);

    adb_keystore_current(f->ks, &cur);
    assert_string_equal(json_string_value(json_object_get(r, "id")), "h-1");
    assert_int_equal(json_integer_value(json_array_get(json_object_get(json_object_get(res, "protocol"), "versions"), 0)),
                     1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(res, "keys"), 0), "key_id")),
                        cur.key_id);
    assert_true(list_has(json_object_get(res, "domains"), "domain", "adb.test"));
    assert_string_equal(json_string_value(json_object_get(json_object_get(res, "link"), "state")), "none");
    json_decref(r);
}

static void test_lookups(void **state)
{
    fixture *f = *state;
    json_t *r, *res;

    r = call(f, "{\"v\":1,\"id\":\"u-1\",\"op\":\"user.get\",\"params\":{\"id\":\"alice@adb.test\"}}");
    res = result_of(r);
    assert_string_equal(json_string_value(json_object_get(json_object_get(res, "object"), "sam_account_name")), "alice");
    json_decref(r);

    r = call(f, "{\"v\":1,\"id\":\"u-2\",\"op\":\"user.get\",\"params\":{\"id\":\"Administrator\"}}");
    assert_string_equal(error_code(r), "ambiguous");
    assert_true(json_array_size(json_object_get(json_object_get(r, "error"), "candidates")) >= 2);
    json_decref(r);

    r = call(f, "{\"v\":1,\"id\":\"u-3\",\"op\":\"user.get\",\"params\":{\"id\":\"ADB\\\\no.such.user\"}}");
    assert_string_equal(error_code(r), "not_found");
    json_decref(r);

    r = call(f, "{\"v\":1,\"id\":\"g-1\",\"op\":\"group.get\",\"params\":{\"id\":\"ADB\\\\grp.domlocal.sec\"}}");
    res = result_of(r);
    assert_string_equal(json_string_value(json_object_get(json_object_get(json_object_get(res, "object"), "group"),
                                                          "scope")), "domain_local");
    json_decref(r);

    r = call(f, "{\"v\":1,\"id\":\"s-1\",\"op\":\"search\",\"params\":{\"prefix\":\"ali\",\"kinds\":[\"user\"]}}");
    assert_true(list_has(json_object_get(result_of(r), "items"), "sam_account_name", "alice"));
    json_decref(r);

    r = call(f, "{\"v\":1,\"id\":\"ug-1\",\"op\":\"user.groups\",\"params\":{\"user\":\"ADB\\\\nested.user\"}}");
    assert_true(list_has(json_object_get(result_of(r), "groups"), "sam_account_name", "nest.L8"));
    json_decref(r);

    r = call(f, "{\"v\":1,\"id\":\"c-1\",\"op\":\"cache.invalidate\",\"params\":{\"id\":\"alice@adb.test\"}}");
    assert_false(json_is_true(json_object_get(result_of(r), "all")));
    json_decref(r);
    r = call(f, "{\"v\":1,\"id\":\"c-2\",\"op\":\"cache.invalidate\",\"params\":{}}");
    assert_true(json_is_true(json_object_get(result_of(r), "all")));
    json_decref(r);
}

/* big.group has 5000 members: asked in pages of 700, which at about 550
 * bytes a member would exceed broker.max_reply_bytes (256 KB by default),
 * so the bridge cuts each page to fit and the cursor carries on: every
 * member exactly once, no reply over the limit. */
static void test_members_paging(void **state)
{
    fixture *f = *state;
    char text[2048], cursor[1200] = "";
    json_t *seen = json_object();
    int pages = 0;

    do {
        json_t *r, *res, *m;
        size_t i;
        if (cursor[0] == '\0')
            snprintf(text, sizeof text, "{\"v\":1,\"id\":\"m-%d\",\"op\":\"group.members\",\"params\":{\"group\":"
                     "\"ADB\\\\big.group\",\"limit\":700}}", pages);
        else
            snprintf(text, sizeof text, "{\"v\":1,\"id\":\"m-%d\",\"op\":\"group.members\",\"params\":{\"group\":"
                     "\"ADB\\\\big.group\",\"limit\":700,\"cursor\":\"%s\"}}", pages, cursor);
        r = call(f, text);
        res = result_of(r);
        assert_true(json_array_size(json_object_get(res, "members")) <= 700);
        {
            char *dump = json_dumps(r, JSON_COMPACT);
            assert_non_null(dump);
            assert_true(strlen(dump) <= 262144);
            free(dump);
        }
        json_array_foreach(json_object_get(res, "members"), i, m)
            json_object_set(seen, json_string_value(json_object_get(m, "sid")), json_true());
        snprintf(cursor, sizeof cursor, "%s",
                 json_is_string(json_object_get(res, "next_cursor")) ? json_string_value(json_object_get(res, "next_cursor"))
                                                                     : "");
        json_decref(r);
        pages++;
    } while (cursor[0] != '\0' && pages < 40);
    print_message("# big.group: %d pages under the 256 KB reply limit\n", pages);
    assert_true(pages > 8 && pages < 40);
    assert_int_equal(json_object_size(seen), 5000);
    json_decref(seen);
}

static bool flag_of(json_t *res, const char *domain)
{
    size_t i;
    json_t *d;
    json_array_foreach(json_object_get(res, "domains"), i, d)
        if (strcmp(json_string_value(json_object_get(d, "domain")), domain) == 0)
            return json_is_true(json_object_get(d, "use_for_subscriptions"));
    fail_msg("%s is not in the flags", domain);
    return false;
}

static void test_topology_and_domains(void **state)
{
    fixture *f = *state;
    json_t *r, *res;

    r = call(f, "{\"v\":1,\"id\":\"t-1\",\"op\":\"topology.get\",\"params\":{\"refresh\":true}}");
    res = result_of(r);
    assert_true(list_has(json_object_get(res, "domains"), "dns", "adb.test"));
    assert_true(list_has(json_object_get(res, "trusts"), "partner", "partner.test"));
    json_decref(r);

    r = call(f, "{\"v\":1,\"id\":\"d-1\",\"op\":\"domains.configure\",\"params\":{\"domains\":[{\"domain\":"
                "\"partner.test\",\"use_for_subscriptions\":false}]}}");
    assert_false(flag_of(result_of(r), "partner.test"));
    json_decref(r);
    r = call(f, "{\"v\":1,\"id\":\"d-2\",\"op\":\"user.get\",\"params\":{\"id\":\"PARTNER\\\\pat.partner\"}}");
    assert_non_null(json_object_get(r, "error"));
    json_decref(r);

    /* All or nothing: the second entry fails, the first is put back. */
    r = call(f, "{\"v\":1,\"id\":\"d-3\",\"op\":\"domains.configure\",\"params\":{\"domains\":[{\"domain\":"
                "\"partner.test\",\"use_for_subscriptions\":true},{\"domain\":\"no-such.test\","
                "\"use_for_subscriptions\":true}]}}");
    assert_string_equal(error_code(r), "not_found");
    assert_string_equal(json_string_value(json_object_get(json_object_get(r, "error"), "path")),
                        "$.params.domains[1].domain");
    json_decref(r);
    assert_false(adb_subscriptions_enabled(adb_dir_subscriptions(f->dir), "partner.test"));

    /* Restore. */
    r = call(f, "{\"v\":1,\"id\":\"d-4\",\"op\":\"domains.configure\",\"params\":{\"domains\":[{\"domain\":"
                "\"partner.test\",\"use_for_subscriptions\":true}]}}");
    assert_true(flag_of(result_of(r), "partner.test"));
    json_decref(r);
    r = call(f, "{\"v\":1,\"id\":\"d-5\",\"op\":\"user.get\",\"params\":{\"id\":\"PARTNER\\\\pat.partner\"}}");
    assert_non_null(json_object_get(r, "result"));
    json_decref(r);
}

static char *auth_request(fixture *f, const char *id, const char *key_id, const char *public_key, const char *extra)
{
    adb_error err = { 0 };
    char *sealed = NULL, *text = malloc(8192);

    (void)f;
    if (adb_seal_b64(public_key, PASSWORD, strlen(PASSWORD), &sealed, &err) != ADB_OK)
        fail_msg("seal: %s", err.message);
    snprintf(text, 8192, "{\"v\":1,\"id\":\"%s\",\"op\":\"auth.password\",\"params\":{\"user\":\"alice@adb.test\","
             "\"sealed\":{\"%s\":\"%s\"},\"include_groups\":true}%s}", id, key_id, sealed, extra);
    free(sealed);
    return text;
}

static void test_auth(void **state)
{
    fixture *f = *state;
    adb_key_info cur, other;
    adb_keystore *ks2;
    adb_error err = { 0 };
    adb_delivery redelivered = { .redelivered = true }, expired = { .expiry_unix_ms = 1000 };
    char dir[600], *text;
    json_t *r, *res;

    adb_keystore_current(f->ks, &cur);
    snprintf(dir, sizeof dir, "%s/dispatch-other-key-%d", env("ADB_TEST_TMP"), (int)getpid());
    if (adb_keystore_open(dir, NULL, &ks2, &err) != ADB_OK)
        fail_msg("second keystore: %s", err.message);
    adb_keystore_current(ks2, &other);
    adb_keystore_free(ks2);

    /* A copy sealed to this instance: ok, with the user's groups. */
    text = auth_request(f, "a-1", cur.key_id, cur.public_key, "");
    r = call(f, text);
    res = result_of(r);
    assert_string_equal(json_string_value(json_object_get(res, "result")), "ok");
    assert_string_equal(json_string_value(json_object_get(res, "key_id")), cur.key_id);
    assert_string_equal(json_string_value(json_object_get(json_object_get(res, "user"), "sam_account_name")), "alice");
    assert_true(json_is_array(json_object_get(res, "groups")));
    json_decref(r);

    /* Redelivered: retry, not run (the checks counter does not move). */
    r = call_dlv(f, text, &redelivered);
    assert_string_equal(error_code(r), "retry");
    json_decref(r);
    /* Past its AMQP expiry: timeout, not run. */
    r = call_dlv(f, text, &expired);
    assert_string_equal(error_code(r), "timeout");
    json_decref(r);
    free(text);

    /* Past its deadline: timeout. */
    text = auth_request(f, "a-2", cur.key_id, cur.public_key, ",\"deadline\":\"2001-01-01T00:00:00Z\"");
    r = call(f, text);
    assert_string_equal(error_code(r), "timeout");
    json_decref(r);
    free(text);

    /* A copy for another instance only: key_unknown. */
    text = auth_request(f, "a-3", other.key_id, other.public_key, "");
    r = call(f, text);
    assert_string_equal(error_code(r), "key_unknown");
    json_decref(r);
    free(text);

    /* Plaintext over the wire: refused by this configuration. */
    r = call(f, "{\"v\":1,\"id\":\"a-4\",\"op\":\"auth.password\",\"params\":{\"user\":\"alice@adb.test\","
                "\"password\":\"" PASSWORD "\"}}");
    assert_string_equal(error_code(r), "invalid_request");
    json_decref(r);

    /* Only the first request reached the checker. */
    r = call(f, "{\"v\":1,\"id\":\"h-2\",\"op\":\"health\",\"params\":{}}");
    res = result_of(r);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(res, "auth"), "ok")), 1);
    assert_true(json_integer_value(json_object_get(json_object_get(json_object_get(res, "requests"), "errors"),
                                                   "retry")) == 1);
    json_decref(r);
}

static void test_malformed(void **state)
{
    fixture *f = *state;
    json_t *r;

    r = call(f, "{\"v\":1,\"id\":\"x-1\",\"op\":\"user.get\",\"params\":{\"id\":\"alice\",\"kind\":\"user\"}}");
    assert_string_equal(error_code(r), "invalid_request");
    assert_string_equal(json_string_value(json_object_get(r, "id")), "x-1");
    assert_string_equal(json_string_value(json_object_get(json_object_get(r, "error"), "path")), "$.params.kind");
    json_decref(r);
    r = call(f, "not json");
    assert_string_equal(error_code(r), "invalid_request");
    assert_true(json_is_null(json_object_get(r, "id")));
    json_decref(r);
    /* and good requests keep flowing */
    r = call(f, "{\"v\":1,\"id\":\"x-2\",\"op\":\"user.get\",\"params\":{\"id\":\"alice@adb.test\"}}");
    assert_non_null(json_object_get(r, "result"));
    json_decref(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_health),
        cmocka_unit_test(test_lookups),
        cmocka_unit_test(test_members_paging),
        cmocka_unit_test(test_topology_and_domains),
        cmocka_unit_test(test_auth),
        cmocka_unit_test(test_malformed),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
