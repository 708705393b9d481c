/* GUID codecs: AD's byte order, bare and braced text, strict refusal of
 * anything else. */
#include "config.h"

#include <adbridge/guid.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

/* objectGUID bytes of "00112233-4455-6677-8899-aabbccddeeff" */
static const uint8_t ad_bytes[16] = { 0x33, 0x22, 0x11, 0x00, 0x55, 0x44, 0x77, 0x66,
                                      0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff };
static const char text[] = "00112233-4455-6677-8899-aabbccddeeff";

static void test_byte_order(void **state)
{
    adb_guid g, h;
    char s[ADB_GUID_STRING_MAX];
    adb_error err = { 0 };

    (void)state;
    assert_int_equal(adb_guid_decode(ad_bytes, sizeof ad_bytes, &g, &err), ADB_OK);
    adb_guid_format(&g, s);
    assert_string_equal(s, text);
    assert_int_equal(adb_guid_parse(text, strlen(text), &h, &err), ADB_OK);
    assert_memory_equal(h.b, ad_bytes, 16);
    assert_true(adb_guid_equal(&g, &h));
    h.b[15] ^= 1;
    assert_false(adb_guid_equal(&g, &h));
}

static void test_accepted_forms(void **state)
{
    const char *forms[] = {
        "00112233-4455-6677-8899-aabbccddeeff",
        "00112233-4455-6677-8899-AABBCCDDEEFF",
        "{00112233-4455-6677-8899-aabbccddeeff}",
        "{00112233-4455-6677-8899-AaBbCcDdEeFf}",
    };
    adb_guid g;
    char s[ADB_GUID_STRING_MAX];
    adb_error err = { 0 };

    (void)state;
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
        assert_int_equal(adb_guid_parse(forms[i], strlen(forms[i]), &g, &err), ADB_OK);
        assert_memory_equal(g.b, ad_bytes, 16);
        adb_guid_format(&g, s);
        assert_string_equal(s, text);  /* canonical: bare, lower case */
    }
    /* a real objectGUID round-trip, all bytes distinct in the text */
    const char *real = "e6d5fd00-385d-4e65-b02d-9da3493ed850";
    assert_int_equal(adb_guid_parse(real, strlen(real), &g, &err), ADB_OK);
    assert_int_equal(g.b[0], 0x00);
    assert_int_equal(g.b[3], 0xe6);
    assert_int_equal(g.b[4], 0x5d);
    assert_int_equal(g.b[6], 0x65);
    assert_int_equal(g.b[8], 0xb0);
    adb_guid_format(&g, s);
    assert_string_equal(s, real);
}

static void check_bad(const char *t, size_t len)
{
    adb_guid g;
    adb_error err = { 0 };

    if (adb_guid_parse(t, len, &g, &err) != ADB_E_INVALID_REQUEST)
        fail_msg("accepted GUID text '%.*s'", (int)len, t);
    assert_true(strlen(err.message) > 0);
}

#define BAD(t) check_bad((t), sizeof(t) - 1)

static void test_refused_forms(void **state)
{
    adb_guid g;
    adb_error err = { 0 };

    (void)state;
    BAD("");
    BAD("{}");
    BAD("00112233445566778899aabbccddeeff");          /* no dashes */
    BAD("00112233-4455-6677-8899-aabbccddeef");       /* short */
    BAD("00112233-4455-6677-8899-aabbccddeeff0");     /* long */
    BAD("00112233-4455-6677-8899-aabbccddeefg");      /* not hex */
    BAD("0011223-34455-6677-8899-aabbccddeeff");      /* dash misplaced */
    BAD("00112233-4455-6677-8899_aabbccddeeff");
    BAD("00112233-4455-6677-88-99aabbccddeeff");
    BAD("{00112233-4455-6677-8899-aabbccddeeff");     /* unbalanced braces */
    BAD("00112233-4455-6677-8899-aabbccddeeff}");
    BAD("(00112233-4455-6677-8899-aabbccddeeff)");
    BAD("[00112233-4455-6677-8899-aabbccddeeff]");
    BAD("{{00112233-4455-6677-8899-aabbccddeef}}");
    BAD(" 00112233-4455-6677-8899-aabbccddeef");
    BAD("00112233-4455-6677-8899-aabbccddeef ");
    BAD("urn:uuid:00112233-4455-6677-8899-aabbccddeeff");
    BAD("0x112233-4455-6677-8899-aabbccddeeff");
    BAD("+0112233-4455-6677-8899-aabbccddeeff");
    BAD("00112233-4455-6677-8899-aabbccddee\0f");
    BAD("00112233-4455-6677-8899-aabbccddee\xef\xbd\x86");
    assert_int_equal(adb_guid_parse("00112233-4455-6677-8899-aabbccddeefx", 36, &g, &err), ADB_E_INVALID_REQUEST);
    assert_non_null(strstr(err.message, "character 36"));
    assert_int_equal(adb_guid_parse("{00112233-4455-6677-8899_aabbccddeeff}", 38, &g, &err), ADB_E_INVALID_REQUEST);
    assert_non_null(strstr(err.message, "character 25"));
}

static void test_binary_and_filter(void **state)
{
    adb_guid g;
    uint8_t buf[17] = { 0 };
    char f[ADB_GUID_FILTER_MAX];
    adb_error err = { 0 };

    (void)state;
    for (size_t len = 0; len <= sizeof buf; len++)
        assert_int_equal(adb_guid_decode(buf, len, &g, &err), len == 16 ? ADB_OK : ADB_E_PROTOCOL);
    assert_int_equal(adb_guid_decode(ad_bytes, 16, &g, &err), ADB_OK);
    assert_int_equal(adb_guid_filter_value(&g, f, sizeof f, &err), ADB_OK);
    assert_string_equal(f, "\\33\\22\\11\\00\\55\\44\\77\\66\\88\\99\\aa\\bb\\cc\\dd\\ee\\ff");
    assert_int_equal(strlen(f), ADB_GUID_FILTER_MAX - 1);
    assert_int_equal(adb_guid_filter_value(&g, f, ADB_GUID_FILTER_MAX - 1, &err), ADB_E_INTERNAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_byte_order),
        cmocka_unit_test(test_accepted_forms),
        cmocka_unit_test(test_refused_forms),
        cmocka_unit_test(test_binary_and_filter),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
