/* Paging cursors: round trip, and refusal of anything altered or foreign. */
#include "config.h"

#include <adbridge/cursor.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

static uint64_t binding(const char *prefix)
{
    return adb_cursor_bind(ADB_CURSOR_BIND_INIT, prefix, strlen(prefix));
}

static void encode(const char *key, adb_cursor_op op, uint64_t b, char *out)
{
    adb_cursor c = { .op = op, .binding = b };
    adb_error err = { 0 };

    snprintf(c.key, sizeof c.key, "%s", key);
    assert_int_equal(adb_cursor_encode(&c, out, ADB_CURSOR_TEXT_MAX, &err), ADB_OK);
}

static void refused(const char *text, adb_cursor_op op, uint64_t b, const char *why)
{
    adb_cursor c;
    adb_error err = { 0 };

    assert_int_equal(adb_cursor_decode(text, op, b, &c, &err), ADB_E_INVALID_REQUEST);
    if (strstr(err.message, why) == NULL)
        fail_msg("'%s': message '%s' lacks '%s'", text, err.message, why);
    assert_string_equal(c.key, "");
}

static void test_round_trip(void **state)
{
    const char *keys[] = { "alice\x01" "adb.test", "", "smith.john\x01" "adb.test",
                           "\xe5\xb1\xb1\xe7\x94\xb0\x01" "adb.test", "s-1-5-21-1-2-3-1105\x01" "partner.test" };
    char text[ADB_CURSOR_TEXT_MAX];
    adb_cursor c;
    adb_error err = { 0 };

    (void)state;
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        encode(keys[i], ADB_CURSOR_SEARCH, binding("al"), text);
        /* URL- and JSON-safe text. */
        assert_int_equal(strspn(text, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
                         strlen(text));
        assert_int_equal(adb_cursor_decode(text, ADB_CURSOR_SEARCH, binding("al"), &c, &err), ADB_OK);
        assert_string_equal(c.key, keys[i]);
        assert_int_equal(c.op, ADB_CURSOR_SEARCH);
    }
    /* The longest key fits the documented buffer. */
    char key[ADB_CURSOR_KEY_MAX + 1];
    memset(key, 'k', ADB_CURSOR_KEY_MAX);
    key[ADB_CURSOR_KEY_MAX] = '\0';
    encode(key, ADB_CURSOR_MEMBERS, 42, text);
    assert_true(strlen(text) < ADB_CURSOR_TEXT_MAX);
    assert_int_equal(adb_cursor_decode(text, ADB_CURSOR_MEMBERS, 42, &c, &err), ADB_OK);
    assert_string_equal(c.key, key);
}

static void test_tampered(void **state)
{
    char text[ADB_CURSOR_TEXT_MAX], bad[ADB_CURSOR_TEXT_MAX];
    uint64_t b = binding("al");

    (void)state;
    encode("alice\x01" "adb.test", ADB_CURSOR_SEARCH, b, text);
    /* Every single-character change is caught. */
    for (size_t i = 0; i < strlen(text); i++) {
        adb_cursor c;
        memcpy(bad, text, sizeof bad);
        bad[i] = bad[i] == 'A' ? 'B' : 'A';
        assert_int_equal(adb_cursor_decode(bad, ADB_CURSOR_SEARCH, b, &c, NULL), ADB_E_INVALID_REQUEST);
    }
    memcpy(bad, text, sizeof bad);
    bad[strlen(bad) - 2] = '\0';
    refused(bad, ADB_CURSOR_SEARCH, b, "");
    refused("", ADB_CURSOR_SEARCH, b, "empty");
    refused("abc$def", ADB_CURSOR_SEARCH, b, "base64url");
    refused("abcd=", ADB_CURSOR_SEARCH, b, "");
    refused("AAAAAB", ADB_CURSOR_SEARCH, b, "stray bits");
    refused("AAAA", ADB_CURSOR_SEARCH, b, "too short");
    refused(text, ADB_CURSOR_MEMBERS, b, "another operation");
    refused(text, ADB_CURSOR_SEARCH, binding("bo"), "another query");
    memset(bad, 'A', sizeof bad - 1);
    bad[sizeof bad - 1] = '\0';
    refused(bad, ADB_CURSOR_SEARCH, b, "too long");
}

/* base64url of raw bytes with a correct checksum: a forger's cursor. */
static void forge(const unsigned char *raw, size_t n, char *out)
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    unsigned char buf[64];
    uint32_t h = UINT32_C(0x811c9dc5);
    size_t o = 0;

    memcpy(buf, raw, n);
    for (size_t i = 0; i < n; i++) {
        h ^= raw[i];
        h *= UINT32_C(0x01000193);
    }
    for (int i = 3; i >= 0; i--)
        buf[n++] = (unsigned char)(h >> (8 * i));
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)buf[i] << 16 | (i + 1 < n ? (uint32_t)buf[i + 1] << 8 : 0)
                     | (i + 2 < n ? buf[i + 2] : 0);
        out[o++] = b64[(v >> 18) & 63];
        out[o++] = b64[(v >> 12) & 63];
        if (i + 1 < n)
            out[o++] = b64[(v >> 6) & 63];
        if (i + 2 < n)
            out[o++] = b64[v & 63];
    }
    out[o] = '\0';
}

static void test_forged_fields(void **state)
{
    /* version 1, op search, binding 1, key length, key */
    unsigned char good[] = { 1, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 2, 'a', 'b' };
    unsigned char nul[] = { 1, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 2, 'a', 0 };
    unsigned char len[] = { 1, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 5, 'a', 'b' };
    unsigned char ver[] = { 2, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 2, 'a', 'b' };
    char text[ADB_CURSOR_TEXT_MAX];
    adb_cursor c;
    adb_error err = { 0 };

    (void)state;
    forge(good, sizeof good, text);
    assert_int_equal(adb_cursor_decode(text, ADB_CURSOR_SEARCH, 1, &c, &err), ADB_OK);
    assert_string_equal(c.key, "ab");
    forge(nul, sizeof nul, text);
    refused(text, ADB_CURSOR_SEARCH, 1, "NUL");
    forge(len, sizeof len, text);
    refused(text, ADB_CURSOR_SEARCH, 1, "inconsistent");
    forge(ver, sizeof ver, text);
    refused(text, ADB_CURSOR_SEARCH, 1, "version");

    adb_cursor small = { .op = ADB_CURSOR_SEARCH, .binding = 1, .key = "a" };
    assert_int_equal(adb_cursor_encode(&small, text, 8, &err), ADB_E_INTERNAL);
    /* binding folds a separator: ("ab","c") != ("a","bc") */
    uint64_t x = adb_cursor_bind(adb_cursor_bind(ADB_CURSOR_BIND_INIT, "ab", 2), "c", 1);
    uint64_t y = adb_cursor_bind(adb_cursor_bind(ADB_CURSOR_BIND_INIT, "a", 1), "bc", 2);
    assert_true(x != y);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_tampered),
        cmocka_unit_test(test_forged_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
