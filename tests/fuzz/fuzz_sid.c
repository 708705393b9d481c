/* Fuzzes the SID and GUID codecs: whatever a decoder accepts must survive
 * the round trip unchanged (binary -> SID -> binary, text -> SID -> text),
 * and the other form of it must be accepted too. */
#include "config.h"

#include <adbridge/guid.h>
#include <adbridge/sid.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do { if (!(cond)) abort(); } while (0)

static void check_filter_value(const adb_sid *sid)
{
    char f[ADB_SID_FILTER_MAX];
    size_t n;

    CHECK(adb_sid_filter_value(sid, f, sizeof f, NULL) == ADB_OK);
    n = strlen(f);
    CHECK(n == 3 * (8 + 4 * (size_t)sid->n_sub));
    for (size_t i = 0; i < n; i += 3)
        CHECK(f[i] == '\\' && strchr("0123456789abcdef", f[i + 1]) && strchr("0123456789abcdef", f[i + 2]));
}

static void sid_binary(const uint8_t *data, size_t size)
{
    adb_sid s, t;
    uint8_t bin[ADB_SID_BINARY_MAX];
    char text[ADB_SID_STRING_MAX];
    size_t n;

    if (adb_sid_decode(data, size, &s, NULL) != ADB_OK)
        return;
    CHECK(adb_sid_encode(&s, bin, sizeof bin, &n, NULL) == ADB_OK);
    CHECK(n == size && memcmp(bin, data, size) == 0);
    CHECK(adb_sid_format(&s, text, sizeof text, NULL) == ADB_OK);
    CHECK(adb_sid_parse(text, strlen(text), &t, NULL) == ADB_OK);
    CHECK(adb_sid_equal(&s, &t) && memcmp(&s, &t, sizeof s) == 0);
    check_filter_value(&s);
}

static void sid_text(const uint8_t *data, size_t size)
{
    adb_sid s, t, d;
    uint8_t bin[ADB_SID_BINARY_MAX];
    char text[ADB_SID_STRING_MAX];
    size_t n;
    uint32_t rid;

    if (adb_sid_parse((const char *)data, size, &s, NULL) != ADB_OK)
        return;
    CHECK(adb_sid_format(&s, text, sizeof text, NULL) == ADB_OK);
    CHECK(strlen(text) == size && memcmp(text, data, size) == 0);
    CHECK(adb_sid_encode(&s, bin, sizeof bin, &n, NULL) == ADB_OK);
    CHECK(adb_sid_decode(bin, n, &t, NULL) == ADB_OK);
    CHECK(memcmp(&s, &t, sizeof s) == 0);
    if (adb_sid_split(&s, &d, &rid, NULL) == ADB_OK) {
        CHECK(adb_sid_in_domain(&s, &d));
        CHECK(adb_sid_compose(&d, rid, &t, NULL) == ADB_OK && adb_sid_equal(&s, &t));
        CHECK(adb_sid_compare(&d, &s) < 0 && adb_sid_compare(&s, &d) > 0);
    }
    check_filter_value(&s);
}

static int lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

static void guid(const uint8_t *data, size_t size)
{
    adb_guid g, h;
    char text[ADB_GUID_STRING_MAX];
    const uint8_t *bare = data;
    size_t bare_len = size;

    if (adb_guid_decode(data, size, &g, NULL) == ADB_OK) {
        adb_guid_format(&g, text);
        CHECK(adb_guid_parse(text, strlen(text), &h, NULL) == ADB_OK && adb_guid_equal(&g, &h));
    }
    if (adb_guid_parse((const char *)data, size, &g, NULL) != ADB_OK)
        return;
    /* accepted text is the canonical form up to case and braces */
    if (size == 38) {
        CHECK(data[0] == '{' && data[37] == '}');
        bare++;
        bare_len -= 2;
    }
    adb_guid_format(&g, text);
    CHECK(strlen(text) == bare_len);
    for (size_t i = 0; i < bare_len; i++)
        CHECK(text[i] == lower(bare[i]));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sid_binary(data, size);
    sid_text(data, size);
    guid(data, size);
    return 0;
}
