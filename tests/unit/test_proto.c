/* Unit tests of the wire contract's decoder and encoder (src/proto/proto.c).
 * The examples in schemas/examples are checked by tests/conformance; here:
 * the decoded values, the paths of errors, limits, and reply shapes. */
#include "config.h"

#include <adbridge/object.h>
#include <adbridge/proto.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#define KID "Qm9yaXMtdGhlLWtleS1pZA"

static adb_code decode(const char *text, adb_request *r, adb_error *err)
{
    return adb_request_decode(text, strlen(text), 0, r, err);
}

static void test_op_names(void **state)
{
    (void)state;
    for (int i = 0; i < ADB_OP_COUNT_; i++)
        assert_int_equal(adb_op_from_name(adb_op_name((adb_op)i)), i);
    assert_int_equal(adb_op_from_name("user.delete"), ADB_OP_NONE);
    assert_null(adb_op_name(ADB_OP_NONE));
}

static void test_good_requests(void **state)
{
    adb_request r;
    adb_error err = { 0 };

    (void)state;
    assert_int_equal(decode("{\"v\":1,\"id\":\"r-1\",\"op\":\"user.get\",\"params\":{\"id\":\"alice\",\"domain\":\"ADB\"},"
                            "\"deadline\":\"2030-01-31T12:00:00.250Z\"}", &r, &err), ADB_OK);
    assert_string_equal(r.id, "r-1");
    assert_int_equal(r.op, ADB_OP_USER_GET);
    assert_string_equal(r.ident, "alice");
    assert_string_equal(r.domain, "ADB");
    assert_true(r.deadline_ms == INT64_C(1896091200250));
    adb_request_clear(&r);

    assert_int_equal(decode("{\"v\":1.0,\"id\":\"r\",\"op\":\"search\",\"params\":{\"prefix\":\"Sm\",\"kinds\":[\"group\"],"
                            "\"limit\":25.0,\"cursor\":\"AQEA_-\"}}", &r, &err), ADB_OK);
    assert_string_equal(r.prefix, "Sm");
    assert_int_equal(r.kinds, ADB_KINDS_GROUP);
    assert_int_equal(r.limit, 25);
    assert_string_equal(r.cursor, "AQEA_-");
    adb_request_clear(&r);

    assert_int_equal(decode("{\"v\":1,\"id\":\"r\",\"op\":\"group.members\",\"params\":{\"group\":\"big.group\","
                            "\"transitive\":true,\"limit\":10000}}", &r, &err), ADB_OK);
    assert_true(r.transitive);
    assert_int_equal(r.limit, 10000);
    assert_null(r.cursor);
    assert_int_equal(r.fields, 0);
    adb_request_clear(&r);

    assert_int_equal(decode("{\"v\":1,\"id\":\"r\",\"op\":\"group.members\",\"params\":{\"group\":\"big.group\","
                            "\"fields\":[\"sam_account_name\",\"sid\"]}}", &r, &err), ADB_OK);
    assert_int_equal(r.fields, ADB_FIELD_SID | ADB_FIELD_SAM_ACCOUNT_NAME);
    adb_request_clear(&r);

    assert_int_equal(decode("{\"v\":1,\"id\":\"r\",\"op\":\"auth.password\",\"params\":{\"user\":\"alice@adb.test\","
                            "\"sealed\":{\"" KID "\":\"AAAA\",\"ZmFrZS1zZWNvbmQta2V5LW\":\"QkJC\"},"
                            "\"include_groups\":true}}", &r, &err), ADB_OK);
    assert_int_equal(r.n_sealed, 2);
    assert_string_equal(r.sealed[0].key_id, KID);
    assert_string_equal(r.sealed[0].sealed_b64, "AAAA");
    assert_true(r.include_groups);
    assert_null(r.password);
    adb_request_clear(&r);

    assert_int_equal(decode("{\"v\":1,\"id\":\"r\",\"op\":\"auth.password\",\"params\":{\"user\":\"alice\","
                            "\"password\":\"p\\u00e4ss\"}}", &r, &err), ADB_OK);
    assert_int_equal(r.password_len, 5);
    adb_request_clear(&r);

    assert_int_equal(decode("{\"v\":1,\"id\":\"r\",\"op\":\"domains.configure\",\"params\":{\"domains\":["
                            "{\"domain\":\"adb.test\",\"use_for_subscriptions\":true},"
                            "{\"domain\":\"partner.test\",\"use_for_subscriptions\":false}]}}", &r, &err), ADB_OK);
    assert_int_equal(r.n_domains, 2);
    assert_string_equal(r.domains[1].domain, "partner.test");
    assert_false(r.domains[1].enabled);
    assert_true(r.domains[0].enabled);
    adb_request_clear(&r);

    assert_int_equal(decode("{\"params\":{},\"op\":\"cache.invalidate\",\"id\":\"r\",\"v\":1}", &r, &err), ADB_OK);
    assert_null(r.ident);
    adb_request_clear(&r);
}

/* Each bad request and the path its error must name. */
static const struct {
    const char *text, *path;
} bad_cases[] = {
    { "{\"v\":1,\"id\":\"r\",\"op\":\"health\",\"params\":{},\"x\":1}", "$.x" },
    { "{\"v\":1,\"id\":\"r\",\"op\":\"health\",\"params\":{\"x y\":1}}", "$.params[\"x y\"]" },
    { "{\"v\":2,\"id\":\"r\",\"op\":\"health\",\"params\":{}}", "$.v" },
    { "{\"v\":true,\"id\":\"r\",\"op\":\"health\",\"params\":{}}", "$.v" },
    { "{\"id\":\"r\",\"op\":\"health\",\"params\":{}}", "$.v" },
    { "{\"v\":1,\"op\":\"health\",\"params\":{}}", "$.id" },
    { "{\"v\":1,\"id\":\"a b\",\"op\":\"health\",\"params\":{}}", "$.id" },
    { "{\"v\":1,\"id\":\"r\",\"op\":\"user.delete\",\"params\":{}}", "$.op" },
    { "{\"v\":1,\"id\":\"r\",\"op\":\"health\"}", "$.params" },
    { "{\"v\":1,\"id\":\"r\",\"op\":\"user.get\",\"params\":{\"id\":7}}", "$.params.id" },
    { "{\"v\":1,\"id\":\"r\",\"op\":\"user.get\",\"params\":{\"id\":\"a\\u0007\"}}", "$.params.id" },
    { "{\"v\":1,\"id\":\"r\",\"op\":\"user.get\",\"params\":{\"id\":\"a\",\"domain\":\"-x\"}}", "$.params.domain" },
    { "{\"v\":1,\"id\":\"r\",\"op\":\"search\",\"params\":{\"prefix\":\"a\",\"limit\":1.5}}", "$.params.limit" },
    { "{\"v\":1,\"id\":\"r\",\"op\":\"search\",\"params\":{\"prefix\":\"a\",\"kinds\":[\"user\",7]}}",
      "$.params.kinds[1]" },
    { "{\"v\":1,\"id\":\"r\",\"op\":\"search\",\"params\":{\"prefix\":\"a\",\"cursor\":\"a=\"}}", "$.params.cursor" },
    { "{\"v\":1,\"id\":\"r\",\"op\":\"domains.configure\",\"params\":{\"domains\":[{\"domain\":\"a.test\","
      "\"use_for_subscriptions\":true},{\"domain\":\"b.test\",\"use_for_subscriptions\":\"no\"}]}}",
      "$.params.domains[1].use_for_subscriptions" },
    { "{\"v\":1,\"id\":\"r\",\"op\":\"auth.password\",\"params\":{\"user\":\"u\",\"sealed\":{\"short\":\"AAAA\"}}}",
      "$.params.sealed.short" },
    { "{\"v\":1,\"id\":\"r\",\"op\":\"auth.password\",\"params\":{\"user\":\"u\",\"sealed\":{\"" KID "\":\"A!AA\"}}}",
      "$.params.sealed." KID },
    { "{\"v\":1,\"id\":\"r\",\"op\":\"auth.password\",\"params\":{\"user\":\"u\"}}", "$.params" },
    { "{\"v\":1,\"id\":\"r\",\"op\":\"health\",\"params\":{},\"deadline\":\"2030-02-30T00:00:00Z\"}", "$.deadline" },
    { "{\"v\":1,\"id\":\"r\",\"op\":\"health\",\"params\":{},\"op\":\"health\"}", "$" },
    { "[1]", "$" },
    /* group.members fields: names of the object shape, each once. */
    { "{\"v\":1,\"id\":\"r\",\"op\":\"group.members\",\"params\":{\"group\":\"g\",\"fields\":[\"sid\",\"name\"]}}",
      "$.params.fields[1]" },
    { "{\"v\":1,\"id\":\"r\",\"op\":\"group.members\",\"params\":{\"group\":\"g\",\"fields\":[\"sid\",\"sid\"]}}",
      "$.params.fields[1]" },
    { "{\"v\":1,\"id\":\"r\",\"op\":\"group.members\",\"params\":{\"group\":\"g\",\"fields\":[]}}",
      "$.params.fields" },
    { "{\"v\":1,\"id\":\"r\",\"op\":\"group.members\",\"params\":{\"group\":\"g\",\"fields\":\"sid\"}}",
      "$.params.fields" },
    { "{\"v\":1,\"id\":\"r\",\"op\":\"group.members\",\"params\":{\"group\":\"g\",\"fields\":[1]}}",
      "$.params.fields[0]" },
    { "{\"v\":1,\"id\":\"r\",\"op\":\"user.get\",\"params\":{\"id\":\"\xff\"}}", "$" },
};

static void test_bad_requests(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        adb_request r;
        adb_error err = { 0 };
        adb_code rc = decode(bad_cases[i].text, &r, &err);
        if (rc != ADB_E_INVALID_REQUEST || strcmp(r.error_path, bad_cases[i].path) != 0)
            fail_msg("case %zu: %s: got %s path '%s' (%s), wanted path '%s'", i, bad_cases[i].text, adb_code_name(rc),
                     r.error_path, err.message, bad_cases[i].path);
        /* The message names the path, for logs. */
        assert_memory_equal(err.message, bad_cases[i].path, strlen(bad_cases[i].path));
        adb_request_clear(&r);
    }
}

static void test_id_kept_for_reply(void **state)
{
    adb_request r;
    adb_error err = { 0 };

    (void)state;
    assert_int_equal(decode("{\"v\":1,\"id\":\"keep-me\",\"op\":\"user.get\",\"params\":{\"nope\":1}}", &r, &err),
                     ADB_E_INVALID_REQUEST);
    assert_string_equal(r.id, "keep-me");
    assert_int_equal(r.op, ADB_OP_USER_GET);
    adb_request_clear(&r);
    assert_int_equal(decode("{\"v\":1,\"id\":\"\",\"op\":\"user.get\",\"params\":{}}", &r, &err),
                     ADB_E_INVALID_REQUEST);
    assert_string_equal(r.id, "");
    assert_int_equal(r.op, ADB_OP_NONE);
    adb_request_clear(&r);
}

static void test_limits(void **state)
{
    char *big = malloc(70000);
    adb_request r;
    adb_error err = { 0 };
    size_t n;

    (void)state;
    n = (size_t)snprintf(big, 70000, "{\"v\":1,\"id\":\"r\",\"op\":\"user.get\",\"params\":{\"id\":\"");
    memset(big + n, 'a', 66000);
    strcpy(big + n + 66000, "\"}}");
    assert_int_equal(adb_request_decode(big, strlen(big), 0, &r, &err), ADB_E_INVALID_REQUEST);
    assert_string_equal(r.error_path, "$");
    assert_non_null(strstr(err.message, "65536"));
    adb_request_clear(&r);
    /* Within a raised limit, the identifier's own limit applies. */
    assert_int_equal(adb_request_decode(big, strlen(big), 100000, &r, &err), ADB_E_INVALID_REQUEST);
    assert_string_equal(r.error_path, "$.params.id");
    adb_request_clear(&r);
    /* 512 code points of 4 bytes each are fine; 513 are not. */
    n = (size_t)snprintf(big, 70000, "{\"v\":1,\"id\":\"r\",\"op\":\"user.get\",\"params\":{\"id\":\"");
    for (int i = 0; i < 512; i++, n += 4)
        memcpy(big + n, "\xf0\x9f\x98\x80", 4);
    strcpy(big + n, "\"}}");
    assert_int_equal(adb_request_decode(big, strlen(big), 0, &r, &err), ADB_OK);
    adb_request_clear(&r);
    memcpy(big + n, "\xf0\x9f\x98\x80\"}}", 8);
    assert_int_equal(adb_request_decode(big, strlen(big), 0, &r, &err), ADB_E_INVALID_REQUEST);
    assert_non_null(strstr(err.message, "513"));
    adb_request_clear(&r);
    assert_int_equal(adb_request_decode("", 0, 0, &r, &err), ADB_E_INVALID_REQUEST);
    adb_request_clear(&r);
    free(big);
}

/* A syntax error right after a password must not quote it. */
static void test_no_password_in_errors(void **state)
{
    static const char *const texts[] = {
        "{\"v\":1,\"id\":\"r\",\"op\":\"auth.password\",\"params\":{\"user\":\"u\",\"password\":\"SECRETpw\x01\"}}",
        "{\"v\":1,\"id\":\"r\",\"op\":\"auth.password\",\"params\":{\"user\":\"u\",\"password\":SECRETpw}}",
        "{\"v\":1,\"id\":\"r\",\"op\":\"auth.password\",\"params\":{\"user\":\"u\",\"password\":\"SECRETpw\"",
        "{\"v\":1,\"id\":\"r\",\"op\":\"auth.password\",\"params\":{\"user\":\"u\",\"password\":7,\"x\":\"SECRETpw\"}}",
    };

    (void)state;
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        adb_request r;
        adb_error err = { 0 };
        assert_int_equal(decode(texts[i], &r, &err), ADB_E_INVALID_REQUEST);
        if (strstr(err.message, "SECRET") != NULL)
            fail_msg("case %zu: the message quotes the input: %s", i, err.message);
        adb_request_clear(&r);
    }
}

static json_t *parse(const char *text)
{
    json_t *j = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
    assert_non_null(j);
    return j;
}

static void test_replies(void **state)
{
    size_t len;
    char *text, msg[2000];
    json_t *j, *e;

    (void)state;
    text = adb_reply_result("r-1", ADB_OP_CACHE_INVALIDATE, json_pack("{s:b}", "all", 1), &len);
    assert_int_equal(strlen(text), len);
    assert_string_equal(text, "{\"v\":1,\"id\":\"r-1\",\"op\":\"cache.invalidate\",\"result\":{\"all\":true}}");
    free(text);

    /* Undecodable input: id null, no op; candidates only for ambiguous. */
    text = adb_reply_error(NULL, ADB_OP_NONE, ADB_E_INVALID_REQUEST, "$: bad", "$", json_array(), &len);
    j = parse(text);
    assert_true(json_is_null(json_object_get(j, "id")));
    assert_null(json_object_get(j, "op"));
    e = json_object_get(j, "error");
    assert_string_equal(json_string_value(json_object_get(e, "code")), "invalid_request");
    assert_string_equal(json_string_value(json_object_get(e, "path")), "$");
    assert_null(json_object_get(e, "candidates"));
    json_decref(j);
    free(text);

    text = adb_reply_error("r", ADB_OP_USER_GET, ADB_E_AMBIGUOUS, "two", NULL, json_array(), &len);
    j = parse(text);
    e = json_object_get(j, "error");
    assert_true(json_is_array(json_object_get(e, "candidates")));
    assert_null(json_object_get(e, "path"));
    json_decref(j);
    free(text);

    /* Messages become valid UTF-8, at most 1024 code points, never empty. */
    memset(msg, 'm', sizeof msg - 1);
    msg[sizeof msg - 1] = '\0';
    msg[3] = (char)0xff;
    text = adb_reply_error("r", ADB_OP_HEALTH, ADB_E_INTERNAL, msg, NULL, NULL, &len);
    j = parse(text);
    e = json_object_get(j, "error");
    assert_int_equal(json_string_length(json_object_get(e, "message")), 1024);
    assert_memory_equal(json_string_value(json_object_get(e, "message")), "mmm?mm", 6);
    json_decref(j);
    free(text);
    text = adb_reply_error("r", ADB_OP_HEALTH, ADB_E_TIMEOUT, "", NULL, NULL, &len);
    assert_non_null(strstr(text, "\"message\":\"timeout\""));
    free(text);
}

static void test_time(void **state)
{
    json_t *t;

    (void)state;
    t = adb_proto_time(1896091200);
    assert_string_equal(json_string_value(t), "2030-01-31T12:00:00Z");
    json_decref(t);
    t = adb_proto_time(0);
    assert_true(json_is_null(t));
    json_decref(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_op_names),
        cmocka_unit_test(test_good_requests),
        cmocka_unit_test(test_bad_requests),
        cmocka_unit_test(test_id_kept_for_reply),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_no_password_in_errors),
        cmocka_unit_test(test_replies),
        cmocka_unit_test(test_time),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
