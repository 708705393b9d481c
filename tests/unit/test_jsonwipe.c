/* jansson's heap never keeps a password once freed (src/util/json.c): with
 * the allocator adbridge installs, every block jansson frees is zero when it
 * reaches free(3); with plain malloc/free the same requests leave copies of
 * the password behind (the control, so this test can fail).  And a request
 * that jansson cannot parse is described without quoting it. */
#include "config.h"

#include <adbridge/json.h>
#include <adbridge/proto.h>

#include <malloc.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#define MARKER "hunter2-Marker-"

typedef struct counts {
    size_t freed, dirty, marked;
} counts;

static counts seen;

/* Looks at a block just before it goes back to malloc. */
static void inspect(void *p)
{
    size_t n = malloc_usable_size(p);
    const unsigned char *b = p;

    seen.freed++;
    for (size_t i = 0; i < n; i++) {
        if (b[i] != 0) {
            seen.dirty++;
            break;
        }
    }
    if (memmem(p, n, MARKER, strlen(MARKER)) != NULL)
        seen.marked++;
    free(p);
}

static void plain_free(void *p)
{
    if (p != NULL)
        inspect(p);
}

/* Three plaintext auth requests, as the daemon gets them (the policy refuses
 * them later; the decoder has read them by then), one cut short right after
 * the password, one whose password holds a control character. */
static void decode_requests(void)
{
    char body[1024], password[200];
    adb_request req;
    adb_error err;

    /* Long enough that jansson's lexer grows its buffer (copy, free) while
     * reading it. */
    snprintf(password, sizeof password, "%s%s", MARKER, "0123456789abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ");
    for (int i = 0; i < 3; i++) {
        int n = snprintf(body, sizeof body,
                         "{\"v\":1,\"id\":\"r%d\",\"op\":\"auth.password\",\"params\":{\"user\":\"alice\","
                         "\"password\":\"%s\"}}", i, password);
        memset(&err, 0, sizeof err);
        assert_int_equal(adb_request_decode(body, (size_t)n, 0, &req, &err), ADB_OK);
        assert_non_null(req.password);
        adb_request_clear(&req);
    }
    int n = snprintf(body, sizeof body, "{\"v\":1,\"id\":\"r9\",\"op\":\"auth.password\",\"params\":{\"password\":\"%s",
                     password);
    memset(&err, 0, sizeof err);
    assert_int_equal(adb_request_decode(body, (size_t)n, 0, &req, &err), ADB_E_INVALID_REQUEST);
    assert_null(strstr(err.message, "hunter2"));
    adb_request_clear(&req);

    n = snprintf(body, sizeof body, "{\"v\":1,\"id\":\"r8\",\"op\":\"auth.password\",\"params\":{\"password\":\"%s\x01\"}}",
                 password);
    memset(&err, 0, sizeof err);
    assert_int_equal(adb_request_decode(body, (size_t)n, 0, &req, &err), ADB_E_INVALID_REQUEST);
    print_message("# %s\n", err.message);
    assert_null(strstr(err.message, "hunter2"));
    assert_null(strstr(err.message, "near"));
    adb_request_clear(&req);
}

static void test_control_plain_free_keeps_copies(void **state)
{
    (void)state;
    memset(&seen, 0, sizeof seen);
    json_set_alloc_funcs(malloc, plain_free);
    decode_requests();
    print_message("# plain free: %zu blocks freed, %zu held the password\n", seen.freed, seen.marked);
    assert_true(seen.freed > 0);
    assert_true(seen.marked > 0);   /* what the wiping allocator is for */
}

static void test_wiped_blocks_hold_nothing(void **state)
{
    (void)state;
    memset(&seen, 0, sizeof seen);
    adb_json_wipe_install(inspect);
    decode_requests();
    print_message("# wiping free: %zu blocks freed, %zu not zero, %zu held the password\n", seen.freed, seen.dirty,
                  seen.marked);
    assert_true(seen.freed > 0);
    assert_int_equal(seen.marked, 0);
    assert_int_equal(seen.dirty, 0);

    /* json_dumps' text stays an ordinary malloc block: free(3) takes it. */
    json_t *j = json_pack("{s:s}", "k", "v");
    char *text = json_dumps(j, 0);
    assert_non_null(text);
    free(text);
    json_decref(j);
}

/* Each kind of parse error has its own text, none from the input. */
static void test_error_kinds(void **state)
{
    static const struct { const char *text, *kind; } cases[] = {
        { "hunter2", "not JSON syntax" },
        { "{\"a\": 1} hunter2", "more text after the end" },
        { "\xffhunter2", "not valid UTF-8" },
        { "{\"a\": \"hunter2", "unexpected end" },
        { "{\"a\": 1, \"a\": 2}", "a duplicate object key" },
    };
    (void)state;

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_error_t e;
        assert_null(json_loads(cases[i].text, JSON_REJECT_DUPLICATES, &e));
        print_message("# case %zu: %s (jansson's own text: %s)\n", i, adb_json_error_kind(&e), e.text);
        assert_non_null(strstr(adb_json_error_kind(&e), cases[i].kind));
    }
}

/* adb_json_dumps writes what json_dumps writes, with its length, also when
 * the text outgrows its first buffer (2 KiB). */
static void test_dumps_matches_jansson(void **state)
{
    char big[5000];
    size_t len = 99;
    (void)state;

    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    for (int i = 0; i < 2; i++) {
        json_t *j = json_pack("{s:i,s:s,s:[b,n]}", "v", 1, "text", i == 0 ? "h\u00e9llo \"q\"" : big, "a", 1);
        char *ours = adb_json_dumps(j, JSON_COMPACT, &len), *theirs = json_dumps(j, JSON_COMPACT);
        assert_non_null(ours);
        assert_string_equal(ours, theirs);
        assert_int_equal(len, strlen(theirs));
        free(ours);
        free(theirs);
        json_decref(j);
    }
    assert_null(adb_json_dumps(NULL, JSON_COMPACT, &len));
    assert_int_equal(len, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dumps_matches_jansson),
        cmocka_unit_test(test_control_plain_free_keeps_copies),
        cmocka_unit_test(test_wiped_blocks_hold_nothing),
        cmocka_unit_test(test_error_kinds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
