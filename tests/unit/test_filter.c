/* LDAP filter escaping and building: every special byte is escaped, hostile
 * values cannot change the structure of a filter, and oversize input is
 * refused with a clear code. */
#include "config.h"

#include <adbridge/filter.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

/* Escapes a NUL-terminated value with flags and checks the result. */
static void check_escape(const char *in, unsigned flags, const char *want)
{
    char out[ADB_FILTER_ESCAPED_SIZE(64)];
    size_t n = 999;
    adb_error err = { 0 };

    assert_int_equal(adb_filter_escape(in, strlen(in), flags, out, sizeof out, &n, &err), ADB_OK);
    assert_string_equal(out, want);
    assert_int_equal(n, strlen(want));
}

static void test_specials(void **state)
{
    (void)state;
    check_escape("", 0, "");
    check_escape("alice", 0, "alice");
    check_escape("*", 0, "\\2a");
    check_escape("(", 0, "\\28");
    check_escape(")", 0, "\\29");
    check_escape("\\", 0, "\\5c");
    check_escape("a*b(c)d\\e", 0, "a\\2ab\\28c\\29d\\5ce");
    check_escape("*)(objectClass=*", 0, "\\2a\\29\\28objectClass=\\2a");
    check_escape("admin)(|(cn=*", 0, "admin\\29\\28|\\28cn=\\2a");
    check_escape("\\2a", 0, "\\5c2a");  /* an escape in input stays literal */
    /* printable ASCII other than the four specials passes */
    check_escape(" !\"#$%&'+,-./:;<=>?@[]^_`{|}~", 0, " !\"#$%&'+,-./:;<=>?@[]^_`{|}~");
}

static void test_nul_and_controls(void **state)
{
    char out[64];
    size_t n;

    (void)state;
    assert_int_equal(adb_filter_escape("a\0b", 3, 0, out, sizeof out, &n, NULL), ADB_OK);
    assert_string_equal(out, "a\\00b");
    assert_int_equal(n, 5);
    assert_int_equal(adb_filter_escape("\0", 1, 0, out, sizeof out, &n, NULL), ADB_OK);
    assert_string_equal(out, "\\00");
    check_escape("\t\n\r\x1b\x7f", 0, "\\09\\0a\\0d\\1b\\7f");
}

static void test_every_byte(void **state)
{
    (void)state;
    for (int c = 0; c < 256; c++) {
        uint8_t in = (uint8_t)c;
        char out[8], want[8];
        adb_error err = { 0 };
        bool literal = c >= 0x20 && c < 0x7f && c != '*' && c != '(' && c != ')' && c != '\\';

        /* a lone byte >= 0x80 is never well-formed UTF-8 */
        assert_int_equal(adb_filter_escape(&in, 1, 0, out, sizeof out, NULL, &err), ADB_OK);
        if (literal)
            snprintf(want, sizeof want, "%c", c);
        else
            snprintf(want, sizeof want, "\\%02x", c);
        assert_string_equal(out, want);
        assert_int_equal(adb_filter_escape(&in, 1, ADB_FILTER_BINARY, out, sizeof out, NULL, &err), ADB_OK);
        snprintf(want, sizeof want, "\\%02x", c);
        assert_string_equal(out, want);
    }
}

static void test_utf8(void **state)
{
    (void)state;
    /* well-formed UTF-8 passes by default (AD matches UTF-8) */
    check_escape("J\xc3\xbcrgen", 0, "J\xc3\xbcrgen");
    check_escape("\xe5\xb1\xb1\xe7\x94\xb0", 0, "\xe5\xb1\xb1\xe7\x94\xb0");
    check_escape("\xf0\x9f\x98\x80*", 0, "\xf0\x9f\x98\x80\\2a");
    check_escape("\xef\xbf\xbf", 0, "\xef\xbf\xbf");
    check_escape("\xf4\x8f\xbf\xbf", 0, "\xf4\x8f\xbf\xbf");
    /* ...and is escaped with ADB_FILTER_ASCII */
    check_escape("J\xc3\xbcrgen", ADB_FILTER_ASCII, "J\\c3\\bcrgen");
    check_escape("a(b", ADB_FILTER_ASCII, "a\\28b");
    /* bytes that are not well-formed UTF-8 are escaped */
    check_escape("\xc3", 0, "\\c3");                            /* truncated */
    check_escape("\xc3(", 0, "\\c3\\28");                       /* bad continuation */
    check_escape("\xc0\xaf", 0, "\\c0\\af");                    /* overlong '/' */
    check_escape("\xe0\x80\xaf", 0, "\\e0\\80\\af");            /* overlong */
    check_escape("\xed\xa0\x80", 0, "\\ed\\a0\\80");            /* surrogate */
    check_escape("\xf4\x90\x80\x80", 0, "\\f4\\90\\80\\80");    /* > U+10FFFF */
    check_escape("\xf5\x80\x80\x80", 0, "\\f5\\80\\80\\80");
    check_escape("\xbf\xc3\xbc", 0, "\\bf\xc3\xbc");            /* stray continuation */
    check_escape("\xe5\xb1", 0, "\\e5\\b1");
    check_escape("\xfe\xff", 0, "\\fe\\ff");
    /* binary: every byte */
    check_escape("ab", ADB_FILTER_BINARY, "\\61\\62");
}

static void test_sizes(void **state)
{
    char small[4];
    char *big = malloc(ADB_FILTER_VALUE_MAX + 1), *out = NULL;
    char *outbuf = malloc(ADB_FILTER_ESCAPED_SIZE(ADB_FILTER_VALUE_MAX + 1));
    size_t n;
    adb_error err = { 0 };

    (void)state;
    assert_non_null(big);
    assert_non_null(outbuf);
    memset(big, '*', ADB_FILTER_VALUE_MAX + 1);
    /* exactly the maximum, worst case */
    assert_int_equal(adb_filter_escape(big, ADB_FILTER_VALUE_MAX, 0, outbuf,
                                       ADB_FILTER_ESCAPED_SIZE(ADB_FILTER_VALUE_MAX), &n, &err), ADB_OK);
    assert_int_equal(n, 3 * ADB_FILTER_VALUE_MAX);
    /* one more byte is refused as a bad request */
    assert_int_equal(adb_filter_escape(big, ADB_FILTER_VALUE_MAX + 1, 0, outbuf,
                                       ADB_FILTER_ESCAPED_SIZE(ADB_FILTER_VALUE_MAX + 1), &n, &err),
                     ADB_E_INVALID_REQUEST);
    assert_non_null(strstr(err.message, "1025 bytes"));
    assert_string_equal(outbuf, "");
    assert_int_equal(adb_filter_escape_alloc(big, ADB_FILTER_VALUE_MAX + 1, 0, &out, &err), ADB_E_INVALID_REQUEST);
    assert_null(out);
    /* a short buffer is the caller's bug, and nothing is left half-written */
    assert_int_equal(adb_filter_escape("*", 1, 0, small, 3, &n, &err), ADB_E_INTERNAL);
    assert_string_equal(small, "");
    assert_non_null(strstr(err.message, "needs 4 bytes"));
    assert_int_equal(adb_filter_escape("*", 1, 0, small, 4, &n, &err), ADB_OK);
    assert_string_equal(small, "\\2a");
    assert_int_equal(adb_filter_escape("abc", 3, 0, small, 3, &n, &err), ADB_E_INTERNAL);
    assert_int_equal(adb_filter_escape("abc", 3, 0, NULL, 0, &n, &err), ADB_E_INTERNAL);
    assert_int_equal(adb_filter_escape(NULL, 1, 0, small, sizeof small, &n, &err), ADB_E_INTERNAL);
    assert_int_equal(adb_filter_escape(NULL, 0, 0, small, sizeof small, &n, &err), ADB_OK);
    assert_string_equal(small, "");
    /* alloc */
    assert_int_equal(adb_filter_escape_alloc("a\0)", 3, 0, &out, &err), ADB_OK);
    assert_string_equal(out, "a\\00\\29");
    free(out);
    free(big);
    free(outbuf);
}

static void test_unescape(void **state)
{
    uint8_t buf[16];
    size_t n;
    adb_error err = { 0 };
    const char *in = "a\\2A\\28\\29\\5c\\00\\ff\xc3\xbc";

    (void)state;
    assert_int_equal(adb_filter_unescape(in, strlen(in), buf, sizeof buf, &n, &err), ADB_OK);
    assert_int_equal(n, 9);
    assert_memory_equal(buf, "a*()\\\0\xff\xc3\xbc", 9);
    assert_int_equal(adb_filter_unescape("*", 1, buf, sizeof buf, &n, &err), ADB_E_INVALID_REQUEST);
    assert_int_equal(adb_filter_unescape("(", 1, buf, sizeof buf, &n, &err), ADB_E_INVALID_REQUEST);
    assert_int_equal(adb_filter_unescape(")", 1, buf, sizeof buf, &n, &err), ADB_E_INVALID_REQUEST);
    assert_int_equal(adb_filter_unescape("a\0", 2, buf, sizeof buf, &n, &err), ADB_E_INVALID_REQUEST);
    assert_int_equal(adb_filter_unescape("\\", 1, buf, sizeof buf, &n, &err), ADB_E_INVALID_REQUEST);
    assert_int_equal(adb_filter_unescape("\\2", 2, buf, sizeof buf, &n, &err), ADB_E_INVALID_REQUEST);
    assert_int_equal(adb_filter_unescape("\\2g", 3, buf, sizeof buf, &n, &err), ADB_E_INVALID_REQUEST);
    assert_int_equal(adb_filter_unescape("\\g2", 3, buf, sizeof buf, &n, &err), ADB_E_INVALID_REQUEST);
    assert_int_equal(adb_filter_unescape("abc", 3, buf, 2, &n, &err), ADB_E_INTERNAL);
}

static void test_attr_names(void **state)
{
    char long_name[ADB_FILTER_ATTR_MAX + 2];

    (void)state;
    assert_true(adb_filter_attr_valid("cn"));
    assert_true(adb_filter_attr_valid("sAMAccountName"));
    assert_true(adb_filter_attr_valid("msDS-PrincipalName"));
    assert_true(adb_filter_attr_valid("x"));
    assert_true(adb_filter_attr_valid("2.5.4.3"));
    assert_true(adb_filter_attr_valid("member:1.2.840.113556.1.4.1941:"));
    assert_true(adb_filter_attr_valid("userAccountControl:1.2.840.113556.1.4.803:"));
    assert_true(adb_filter_attr_valid("1.2.840.113556.1.4.221:1.2.840.113556.1.4.804:"));

    assert_false(adb_filter_attr_valid(NULL));
    assert_false(adb_filter_attr_valid(""));
    assert_false(adb_filter_attr_valid("1cn"));
    assert_false(adb_filter_attr_valid("-cn"));
    assert_false(adb_filter_attr_valid("cn "));
    assert_false(adb_filter_attr_valid(" cn"));
    assert_false(adb_filter_attr_valid("cn=x"));
    assert_false(adb_filter_attr_valid("cn)(objectClass=*"));
    assert_false(adb_filter_attr_valid("c_n"));
    assert_false(adb_filter_attr_valid("cn;binary"));
    assert_false(adb_filter_attr_valid("cn*"));
    assert_false(adb_filter_attr_valid("cn\\2a"));
    assert_false(adb_filter_attr_valid("J\xc3\xbc"));
    assert_false(adb_filter_attr_valid("2"));
    assert_false(adb_filter_attr_valid("2."));
    assert_false(adb_filter_attr_valid("2..5"));
    assert_false(adb_filter_attr_valid("02.5"));
    assert_false(adb_filter_attr_valid("2.05"));
    assert_false(adb_filter_attr_valid("member:"));
    assert_false(adb_filter_attr_valid("member:1.2.840.113556.1.4.1941"));
    assert_false(adb_filter_attr_valid("member::"));
    assert_false(adb_filter_attr_valid("member:dn:"));
    assert_false(adb_filter_attr_valid("member:1.2:x"));
    assert_false(adb_filter_attr_valid("member:1.2::"));
    assert_false(adb_filter_attr_valid("member:1.2.3:="));

    memset(long_name, 'a', sizeof long_name - 1);
    long_name[ADB_FILTER_ATTR_MAX] = '\0';
    assert_true(adb_filter_attr_valid(long_name));
    long_name[ADB_FILTER_ATTR_MAX] = 'a';
    long_name[ADB_FILTER_ATTR_MAX + 1] = '\0';
    assert_false(adb_filter_attr_valid(long_name));
}

static void test_eq(void **state)
{
    char *f = NULL;
    adb_error err = { 0 };

    (void)state;
    assert_int_equal(adb_filter_eq("sAMAccountName", "*)(objectClass=*", 16, &f, &err), ADB_OK);
    assert_string_equal(f, "(sAMAccountName=\\2a\\29\\28objectClass=\\2a)");
    free(f);
    assert_int_equal(adb_filter_eq("cn", "a\0b", 3, &f, &err), ADB_OK);
    assert_string_equal(f, "(cn=a\\00b)");
    free(f);
    assert_int_equal(adb_filter_eq("cn", "", 0, &f, &err), ADB_OK);
    assert_string_equal(f, "(cn=)");
    free(f);
    assert_int_equal(adb_filter_eq("member:1.2.840.113556.1.4.1941:", "CN=a\\,b", 7, &f, &err), ADB_OK);
    assert_string_equal(f, "(member:1.2.840.113556.1.4.1941:=CN=a\\5c,b)");
    free(f);
    f = (char *)"untouched";
    assert_int_equal(adb_filter_eq("cn=x)(cn", "v", 1, &f, &err), ADB_E_INVALID_REQUEST);
    assert_null(f);
    assert_non_null(strstr(err.message, "attribute"));
    assert_int_equal(adb_filter_eq(NULL, "v", 1, &f, &err), ADB_E_INVALID_REQUEST);
}

static void test_build(void **state)
{
    char *f = NULL;
    adb_error err = { 0 };
    const uint8_t bin[] = { 0x01, 0x2a, 0x00, 0xff };

    (void)state;
    assert_int_equal(adb_filter_build(&f, &err, "(&(objectClass=user)(|(sAMAccountName=%v)(cn=%v*)))",
                                      "a*", "(b)"), ADB_OK);
    assert_string_equal(f, "(&(objectClass=user)(|(sAMAccountName=a\\2a)(cn=\\28b\\29*)))");
    free(f);
    assert_int_equal(adb_filter_build(&f, &err, "(%a=%V)", "cn", "x\0*", (size_t)3), ADB_OK);
    assert_string_equal(f, "(cn=x\\00\\2a)");
    free(f);
    assert_int_equal(adb_filter_build(&f, &err, "(objectSid=%b)", bin, sizeof bin), ADB_OK);
    assert_string_equal(f, "(objectSid=\\01\\2a\\00\\ff)");
    free(f);
    assert_int_equal(adb_filter_build(&f, &err, "(description=100%%)"), ADB_OK);
    assert_string_equal(f, "(description=100%)");
    free(f);
    assert_int_equal(adb_filter_build(&f, &err, "(cn=%V)", (const void *)NULL, (size_t)0), ADB_OK);
    assert_string_equal(f, "(cn=)");
    free(f);

    /* templates: no %s, no other conversions, balanced, starting with '(' */
    assert_int_equal(adb_filter_build(&f, &err, "(cn=%s)", "x"), ADB_E_INTERNAL);
    assert_null(f);
    assert_int_equal(adb_filter_build(&f, &err, "(cn=%d)", 1), ADB_E_INTERNAL);
    assert_int_equal(adb_filter_build(&f, &err, "(cn=x%"), ADB_E_INTERNAL);
    assert_int_equal(adb_filter_build(&f, &err, "cn=%v", "x"), ADB_E_INTERNAL);
    assert_int_equal(adb_filter_build(&f, &err, "(cn=%v", "x"), ADB_E_INTERNAL);
    assert_int_equal(adb_filter_build(&f, &err, "(cn=%v))(", "x"), ADB_E_INTERNAL);
    assert_int_equal(adb_filter_build(&f, &err, ""), ADB_E_INTERNAL);
    assert_int_equal(adb_filter_build(&f, &err, NULL), ADB_E_INTERNAL);
    assert_int_equal(adb_filter_build(&f, &err, "(cn=%v)", (const char *)NULL), ADB_E_INTERNAL);
    assert_int_equal(adb_filter_build(&f, &err, "(cn=%V)", (const void *)NULL, (size_t)1), ADB_E_INTERNAL);
    assert_int_equal(adb_filter_build(&f, &err, "(%a=x)", "c n"), ADB_E_INVALID_REQUEST);
    assert_null(f);
}

static void test_build_limits(void **state)
{
    char *v = malloc(ADB_FILTER_VALUE_MAX + 2), *f = NULL;
    adb_error err = { 0 };

    (void)state;
    assert_non_null(v);
    memset(v, '(', ADB_FILTER_VALUE_MAX + 1);
    v[ADB_FILTER_VALUE_MAX + 1] = '\0';
    assert_int_equal(adb_filter_build(&f, &err, "(cn=%v)", v), ADB_E_INVALID_REQUEST);
    assert_null(f);
    v[ADB_FILTER_VALUE_MAX] = '\0';
    /* 3 * 1024 escaped bytes each: five fit in 16 KiB, six do not */
    assert_int_equal(adb_filter_build(&f, &err, "(|(a=%v)(a=%v)(a=%v)(a=%v)(a=%v))", v, v, v, v, v), ADB_OK);
    assert_int_equal(strlen(f), 5 * (3 * ADB_FILTER_VALUE_MAX + 4) + 3);
    free(f);
    assert_int_equal(adb_filter_build(&f, &err, "(|(a=%v)(a=%v)(a=%v)(a=%v)(a=%v)(a=%v))", v, v, v, v, v, v),
                     ADB_E_INVALID_REQUEST);
    assert_null(f);
    assert_non_null(strstr(err.message, "16384"));
    free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_specials),
        cmocka_unit_test(test_nul_and_controls),
        cmocka_unit_test(test_every_byte),
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_sizes),
        cmocka_unit_test(test_unescape),
        cmocka_unit_test(test_attr_names),
        cmocka_unit_test(test_eq),
        cmocka_unit_test(test_build),
        cmocka_unit_test(test_build_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
