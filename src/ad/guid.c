/* GUID codecs (see include/adbridge/guid.h). */
#include "config.h"

#include <adbridge/filter.h>
#include <adbridge/guid.h>

#include <string.h>

/* Byte of adb_guid.b for each pair of hex digits of the text, in text order:
 * the first three fields are little-endian in AD's layout. */
static const uint8_t text_order[ADB_GUID_SIZE] = { 3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15 };

/* Dashes sit after 4, 6, 8 and 10 bytes of the text. */
static bool dash_after(int pair)
{
    return pair == 3 || pair == 5 || pair == 7 || pair == 9;
}

adb_code adb_guid_decode(const void *data, size_t len, adb_guid *out, adb_error *err)
{
    memset(out, 0, sizeof *out);
    if (len != ADB_GUID_SIZE)
        return adb_error_set(err, ADB_E_PROTOCOL, "binary GUID is %zu bytes, not %d", len, ADB_GUID_SIZE);
    memcpy(out->b, data, ADB_GUID_SIZE);
    return ADB_OK;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

adb_code adb_guid_parse(const char *text, size_t len, adb_guid *out, adb_error *err)
{
    const char *p = text;
    size_t i = 0;

    memset(out, 0, sizeof *out);
    if (len == 38 && text[0] == '{' && text[37] == '}') {
        p = text + 1;
        len = 36;
    }
    if (len != 36)
        return adb_error_set(err, ADB_E_INVALID_REQUEST,
                             "invalid GUID text: %zu characters, expected 36 "
                             "(xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx, optionally in braces)",
                             len);
    for (int pair = 0; pair < ADB_GUID_SIZE; pair++) {
        int h = hex_value(p[i]), l = hex_value(p[i + 1]);
        if (h < 0 || l < 0)
            return adb_error_set(err, ADB_E_INVALID_REQUEST, "invalid GUID text at character %zu: expected a hex digit",
                                 (size_t)(p - text) + i + (h < 0 ? 1 : 2));
        out->b[text_order[pair]] = (uint8_t)(h << 4 | l);
        i += 2;
        if (dash_after(pair)) {
            if (p[i] != '-')
                return adb_error_set(err, ADB_E_INVALID_REQUEST, "invalid GUID text at character %zu: expected '-'",
                                     (size_t)(p - text) + i + 1);
            i++;
        }
    }
    return ADB_OK;
}

void adb_guid_format(const adb_guid *guid, char buf[ADB_GUID_STRING_MAX])
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;

    for (int pair = 0; pair < ADB_GUID_SIZE; pair++) {
        uint8_t c = guid->b[text_order[pair]];
        buf[o++] = hex[c >> 4];
        buf[o++] = hex[c & 0xf];
        if (dash_after(pair))
            buf[o++] = '-';
    }
    buf[o] = '\0';
}

adb_code adb_guid_filter_value(const adb_guid *guid, char *buf, size_t size, adb_error *err)
{
    return adb_filter_escape(guid->b, ADB_GUID_SIZE, ADB_FILTER_BINARY, buf, size, NULL, err);
}

bool adb_guid_equal(const adb_guid *a, const adb_guid *b)
{
    return memcmp(a->b, b->b, ADB_GUID_SIZE) == 0;
}
