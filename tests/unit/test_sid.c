/* SID codecs: well-known SIDs both ways, every malformed binary refused,
 * strict canonical text, and the domain / RID helpers. */
#include "config.h"

#include <adbridge/sid.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

static const uint8_t user_bin[] = { 0x01, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05, 0x15, 0x00, 0x00, 0x00,
                                    0xc7, 0xf7, 0xfe, 0xd7, 0x7c, 0x77, 0x55, 0xc8, 0x94, 0x5a, 0xce, 0x01,
                                    0xf5, 0x03, 0x00, 0x00 };
static const char user_text[] = "S-1-5-21-3623811015-3361044348-30300820-1013";
static const uint8_t admins_bin[] = { 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05,
                                      0x20, 0x00, 0x00, 0x00, 0x20, 0x02, 0x00, 0x00 };
static const uint8_t everyone_bin[] = { 0x01, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00 };

static adb_sid parse_ok(const char *text)
{
    adb_sid s;
    adb_error err = { 0 };

    if (adb_sid_parse(text, strlen(text), &s, &err) != ADB_OK)
        fail_msg("%s: %s", text, err.message);
    return s;
}

static void check_pair(const uint8_t *bin, size_t len, const char *text)
{
    adb_sid s, t;
    uint8_t out[ADB_SID_BINARY_MAX];
    char str[ADB_SID_STRING_MAX];
    size_t n;
    adb_error err = { 0 };

    assert_int_equal(adb_sid_decode(bin, len, &s, &err), ADB_OK);
    assert_int_equal(adb_sid_format(&s, str, sizeof str, &err), ADB_OK);
    assert_string_equal(str, text);
    t = parse_ok(text);
    assert_true(adb_sid_equal(&s, &t));
    assert_int_equal(adb_sid_encode(&t, out, sizeof out, &n, &err), ADB_OK);
    assert_int_equal(n, len);
    assert_memory_equal(out, bin, len);
}

static void test_well_known(void **state)
{
    adb_sid s;

    (void)state;
    check_pair(user_bin, sizeof user_bin, user_text);
    check_pair(admins_bin, sizeof admins_bin, "S-1-5-32-544");
    check_pair(everyone_bin, sizeof everyone_bin, "S-1-1-0");
    s = parse_ok(user_text);
    assert_int_equal(s.n_sub, 5);
    assert_int_equal(s.authority, 5);
    assert_int_equal(s.sub[0], 21);
    assert_int_equal(s.sub[4], 1013);
    s = parse_ok("S-1-0-0");  /* Null SID */
    assert_int_equal(s.authority, 0);
    s = parse_ok("S-1-5-18");  /* Local System */
    assert_int_equal(s.n_sub, 1);
    assert_int_equal(s.sub[0], 18);
}

static void test_extremes(void **state)
{
    uint8_t bin[ADB_SID_BINARY_MAX];
    const char *max_text = "S-1-0xFFFFFFFFFFFF-4294967295-4294967295-4294967295-4294967295-4294967295"
                           "-4294967295-4294967295-4294967295-4294967295-4294967295-4294967295-4294967295"
                           "-4294967295-4294967295-4294967295";
    adb_sid s;
    char str[ADB_SID_STRING_MAX];
    adb_error err = { 0 };

    (void)state;
    memset(bin, 0xff, sizeof bin);
    bin[0] = 1;
    bin[1] = 15;
    check_pair(bin, sizeof bin, max_text);
    assert_int_equal(strlen(max_text) + 1, ADB_SID_STRING_MAX);  /* the buffer size is exact */
    s = parse_ok(max_text);
    assert_int_equal(s.authority, UINT64_C(0xffffffffffff));

    /* authorities around 2^32: decimal below, 12 hex digits from there on */
    s = parse_ok("S-1-4294967295-1");
    assert_int_equal(s.authority, UINT32_MAX);
    assert_int_equal(adb_sid_format(&s, str, sizeof str, &err), ADB_OK);
    assert_string_equal(str, "S-1-4294967295-1");
    s = parse_ok("S-1-0x000100000000-1");
    assert_int_equal(s.authority, UINT64_C(1) << 32);
    assert_int_equal(adb_sid_format(&s, str, sizeof str, &err), ADB_OK);
    assert_string_equal(str, "S-1-0x000100000000-1");
    s.authority = UINT64_C(0x123456789ABC);
    assert_int_equal(adb_sid_format(&s, str, sizeof str, &err), ADB_OK);
    assert_string_equal(str, "S-1-0x123456789ABC-1");
    s = parse_ok("S-1-0-4294967295");
    assert_int_equal(s.sub[0], UINT32_MAX);
}

/* Every length below and above the right one, wrong counts, wrong revisions. */
static void test_malformed_binary(void **state)
{
    uint8_t buf[ADB_SID_BINARY_MAX + 8];
    adb_sid s;
    adb_error err = { 0 };

    (void)state;
    for (size_t len = 0; len < sizeof user_bin; len++) {
        assert_int_equal(adb_sid_decode(user_bin, len, &s, &err), ADB_E_PROTOCOL);
        assert_int_equal(s.n_sub, 0);
    }
    memset(buf, 0, sizeof buf);
    memcpy(buf, user_bin, sizeof user_bin);
    for (size_t len = sizeof user_bin + 1; len <= sizeof buf; len++)
        assert_int_equal(adb_sid_decode(buf, len, &s, &err), ADB_E_PROTOCOL);
    assert_non_null(strstr(err.message, "5 sub-authorities need 28"));

    /* count does not match the length, for every count */
    for (unsigned count = 0; count < 256; count++) {
        buf[0] = 1;
        buf[1] = (uint8_t)count;
        for (size_t len = 8; len <= sizeof buf; len += 4) {
            bool ok = count >= 1 && count <= 15 && len == 8 + 4 * count;
            assert_int_equal(adb_sid_decode(buf, len, &s, &err), ok ? ADB_OK : ADB_E_PROTOCOL);
        }
    }
    /* revision other than 1 */
    memcpy(buf, user_bin, sizeof user_bin);
    for (unsigned rev = 0; rev < 256; rev++) {
        buf[0] = (uint8_t)rev;
        assert_int_equal(adb_sid_decode(buf, sizeof user_bin, &s, &err), rev == 1 ? ADB_OK : ADB_E_PROTOCOL);
    }
    buf[0] = 2;
    adb_sid_decode(buf, sizeof user_bin, &s, &err);
    assert_non_null(strstr(err.message, "revision 2"));
    /* zero sub-authorities */
    assert_int_equal(adb_sid_decode("\x01\x00\x00\x00\x00\x00\x00\x05", 8, &s, &err), ADB_E_PROTOCOL);
}

static void check_bad_text(const char *text, size_t len)
{
    adb_sid s;
    adb_error err = { 0 };

    if (adb_sid_parse(text, len, &s, &err) != ADB_E_INVALID_REQUEST)
        fail_msg("accepted SID text '%.*s'", (int)len, text);
    assert_true(strlen(err.message) > 0);
}

#define BAD(t) check_bad_text((t), sizeof(t) - 1)

static void test_malformed_text(void **state)
{
    adb_sid s;
    adb_error err = { 0 };

    (void)state;
    BAD("");
    BAD("S");
    BAD("S-");
    BAD("S-1");
    BAD("S-1-");
    BAD("S-1-5");        /* no sub-authority */
    BAD("S-1-0");
    BAD("S-1-5-");
    BAD("S-1-5-21-");
    BAD("S-1-5--21");
    BAD("S-1--5-21");
    BAD("S-1-+5-21");
    BAD("S-1-5-+21");
    BAD("S-1-5--1");
    BAD("S-1-5-21 ");
    BAD(" S-1-5-21");
    BAD("S-1-5-21\n");
    BAD("S-1-05-21");    /* leading zeros */
    BAD("S-1-5-021");
    BAD("S-1-5-00");
    BAD("s-1-5-21");     /* canonical form only */
    BAD("S-2-5-21");
    BAD("S-0-5-21");
    BAD("S-01-5-21");
    BAD("S-1-5-21a");
    BAD("S-1-5-0x15");
    BAD("S-1-5-21-4294967296");   /* overflow */
    BAD("S-1-5-21-99999999999");
    BAD("S-1-5-21-18446744073709551617");
    BAD("S-1-4294967296-1");      /* authority >= 2^32 must be hex */
    BAD("S-1-281474976710655-1");
    BAD("S-1-281474976710656-1");
    BAD("S-1-0x0000FFFFFFFF-1");  /* hex only from 2^32 on */
    BAD("S-1-0x000000000005-1");
    BAD("S-1-0xffffffffffff-1");  /* upper-case hex only */
    BAD("S-1-0XFFFFFFFFFFFF-1");
    BAD("S-1-0xFFFFFFFFFFF-1");   /* exactly 12 digits */
    BAD("S-1-0xFFFFFFFFFFFFF-1");
    BAD("S-1-0x1000000000000-1");
    BAD("S-1-0x-1");
    BAD("S-1-0xFFFFFFFFFFFF");
    BAD("S-1-5-1-2-3-4-5-6-7-8-9-10-11-12-13-14-15-16");  /* 16 sub-authorities */
    BAD("S-1-5-21\0-1");
    BAD("S-1-5\0");
    BAD("S-1-5-\xd9\xa1");  /* Arabic-Indic digit one */

    /* 15 are fine */
    s = parse_ok("S-1-5-1-2-3-4-5-6-7-8-9-10-11-12-13-14-15");
    assert_int_equal(s.n_sub, 15);
    /* the length bound is checked before anything is read */
    char long_text[ADB_SID_STRING_MAX + 1];
    memset(long_text, '1', sizeof long_text);
    memcpy(long_text, "S-1-5-", 6);
    assert_int_equal(adb_sid_parse(long_text, sizeof long_text, &s, &err), ADB_E_INVALID_REQUEST);
    assert_non_null(strstr(err.message, "longer than any SID"));
    /* messages say where */
    assert_int_equal(adb_sid_parse("S-1-5-21-x", 10, &s, &err), ADB_E_INVALID_REQUEST);
    assert_non_null(strstr(err.message, "character 10"));
}

static void test_format_and_encode_errors(void **state)
{
    adb_sid s = parse_ok(user_text);
    char small[10];
    uint8_t bin[27];
    size_t n;
    adb_error err = { 0 };

    (void)state;
    assert_int_equal(adb_sid_format(&s, small, sizeof small, &err), ADB_E_INTERNAL);
    assert_string_equal(small, "");
    assert_int_equal(adb_sid_encode(&s, bin, sizeof bin, &n, &err), ADB_E_INTERNAL);
    s.n_sub = 0;
    assert_int_equal(adb_sid_format(&s, small, sizeof small, &err), ADB_E_INTERNAL);
    s.n_sub = 16;
    assert_int_equal(adb_sid_encode(&s, bin, sizeof bin, &n, &err), ADB_E_INTERNAL);
    s.n_sub = 1;
    s.authority = UINT64_C(1) << 48;
    assert_int_equal(adb_sid_format(&s, small, sizeof small, &err), ADB_E_INTERNAL);
}

static void test_filter_value(void **state)
{
    adb_sid s = parse_ok("S-1-5-32-544");
    char f[ADB_SID_FILTER_MAX];
    adb_error err = { 0 };

    (void)state;
    assert_int_equal(adb_sid_filter_value(&s, f, sizeof f, &err), ADB_OK);
    assert_string_equal(f, "\\01\\02\\00\\00\\00\\00\\00\\05\\20\\00\\00\\00\\20\\02\\00\\00");
    assert_int_equal(adb_sid_filter_value(&s, f, 10, &err), ADB_E_INTERNAL);
    /* the largest SID fits the declared size */
    s = parse_ok("S-1-0xFFFFFFFFFFFF-1-2-3-4-5-6-7-8-9-10-11-12-13-14-15");
    assert_int_equal(adb_sid_filter_value(&s, f, sizeof f, &err), ADB_OK);
    assert_int_equal(strlen(f), ADB_SID_FILTER_MAX - 1);
}

static void test_domain_helpers(void **state)
{
    adb_sid user = parse_ok(user_text), dom, other, again;
    uint32_t rid = 0;
    adb_error err = { 0 };
    char str[ADB_SID_STRING_MAX];

    (void)state;
    assert_int_equal(adb_sid_split(&user, &dom, &rid, &err), ADB_OK);
    assert_int_equal(rid, 1013);
    assert_int_equal(adb_sid_format(&dom, str, sizeof str, &err), ADB_OK);
    assert_string_equal(str, "S-1-5-21-3623811015-3361044348-30300820");
    assert_true(adb_sid_in_domain(&user, &dom));
    assert_false(adb_sid_in_domain(&dom, &dom));
    assert_false(adb_sid_in_domain(&dom, &user));
    assert_int_equal(adb_sid_compose(&dom, 1013, &again, &err), ADB_OK);
    assert_true(adb_sid_equal(&again, &user));
    assert_int_equal(adb_sid_compose(&dom, 512, &again, &err), ADB_OK);
    assert_int_equal(adb_sid_format(&again, str, sizeof str, &err), ADB_OK);
    assert_string_equal(str, "S-1-5-21-3623811015-3361044348-30300820-512");
    assert_true(adb_sid_in_domain(&again, &dom));

    /* a deeper SID, another domain, another authority: not in the domain */
    assert_int_equal(adb_sid_compose(&user, 7, &other, &err), ADB_OK);
    assert_false(adb_sid_in_domain(&other, &dom));
    other = parse_ok("S-1-5-21-3623811015-3361044348-30300821-1013");
    assert_false(adb_sid_in_domain(&other, &dom));
    other = parse_ok("S-1-6-21-3623811015-3361044348-30300820-1013");
    assert_false(adb_sid_in_domain(&other, &dom));
    other = parse_ok("S-1-5-32-544");
    assert_false(adb_sid_in_domain(&other, &dom));

    /* split in place; single sub-authority names no domain */
    again = user;
    assert_int_equal(adb_sid_split(&again, &again, NULL, &err), ADB_OK);
    assert_true(adb_sid_equal(&again, &dom));
    other = parse_ok("S-1-5-18");
    assert_int_equal(adb_sid_split(&other, &dom, &rid, &err), ADB_E_INVALID_REQUEST);
    /* a 15-deep domain has no room for a RID */
    other = parse_ok("S-1-5-1-2-3-4-5-6-7-8-9-10-11-12-13-14-15");
    assert_int_equal(adb_sid_compose(&other, 1, &again, &err), ADB_E_INVALID_REQUEST);
}

static void test_compare(void **state)
{
    adb_sid a = parse_ok("S-1-5-21-1-2-3"), b = parse_ok("S-1-5-21-1-2-3-500"), c = parse_ok("S-1-5-21-1-2-4"),
            d = parse_ok("S-1-16-12288"), e = parse_ok("S-1-5-21-1-2-3");

    (void)state;
    assert_int_equal(adb_sid_compare(&a, &e), 0);
    assert_true(adb_sid_equal(&a, &e));
    assert_true(adb_sid_compare(&a, &b) < 0);  /* prefix first */
    assert_true(adb_sid_compare(&b, &a) > 0);
    assert_true(adb_sid_compare(&b, &c) < 0);
    assert_true(adb_sid_compare(&c, &a) > 0);
    assert_true(adb_sid_compare(&a, &d) < 0);  /* authority first */
    assert_false(adb_sid_equal(&a, &b));
    /* values above INT32_MAX compare as unsigned */
    a = parse_ok("S-1-5-4294967295");
    b = parse_ok("S-1-5-1");
    assert_true(adb_sid_compare(&a, &b) > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_well_known),
        cmocka_unit_test(test_extremes),
        cmocka_unit_test(test_malformed_binary),
        cmocka_unit_test(test_malformed_text),
        cmocka_unit_test(test_format_and_encode_errors),
        cmocka_unit_test(test_filter_value),
        cmocka_unit_test(test_domain_helpers),
        cmocka_unit_test(test_compare),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
