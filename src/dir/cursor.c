/* Paging cursors (see include/adbridge/cursor.h).
 *
 * Layout before base64url (no padding):
 *   [0] version = 1   [1] op   [2..9] binding (big-endian)
 *   [10..11] key length (big-endian)   key   checksum (4 bytes, big-endian):
 *   FNV-1a 32 of everything before it. */
#include "config.h"

#include <adbridge/cursor.h>

#include <sodium.h>
#include <string.h>

enum { CURSOR_VERSION = 1, HEADER = 12, CHECKSUM = 4, RAW_MAX = HEADER + ADB_CURSOR_KEY_MAX + CHECKSUM };

/* base64url without padding (RFC 4648 section 5), libsodium's codec. */
#define B64_VARIANT sodium_base64_VARIANT_URLSAFE_NO_PADDING
static const char b64_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

uint64_t adb_cursor_bind(uint64_t binding, const void *data, size_t len)
{
    const unsigned char *p = data;

    for (size_t i = 0; i < len; i++) {
        binding ^= p[i];
        binding *= UINT64_C(0x100000001b3);
    }
    /* A separator, so ("ab","c") and ("a","bc") bind differently. */
    binding ^= 0xff;
    binding *= UINT64_C(0x100000001b3);
    return binding;
}

static uint32_t checksum(const unsigned char *p, size_t len)
{
    uint32_t h = UINT32_C(0x811c9dc5);

    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= UINT32_C(0x01000193);
    }
    return h;
}

adb_code adb_cursor_encode(const adb_cursor *c, char *out, size_t size, adb_error *err)
{
    unsigned char raw[RAW_MAX];
    size_t klen = strnlen(c->key, sizeof c->key), n = 0;
    uint32_t sum;

    if (size > 0)
        out[0] = '\0';
    if (klen > ADB_CURSOR_KEY_MAX)
        return adb_error_set(err, ADB_E_INTERNAL, "cursor key longer than %d bytes", ADB_CURSOR_KEY_MAX);
    raw[n++] = CURSOR_VERSION;
    raw[n++] = (unsigned char)c->op;
    for (int i = 7; i >= 0; i--)
        raw[n++] = (unsigned char)(c->binding >> (8 * i));
    raw[n++] = (unsigned char)(klen >> 8);
    raw[n++] = (unsigned char)klen;
    memcpy(raw + n, c->key, klen);
    n += klen;
    sum = checksum(raw, n);
    for (int i = 3; i >= 0; i--)
        raw[n++] = (unsigned char)(sum >> (8 * i));
    if (sodium_base64_ENCODED_LEN(n, B64_VARIANT) > size)
        return adb_error_set(err, ADB_E_INTERNAL, "cursor buffer of %zu bytes is too small", size);
    sodium_bin2base64(out, size, raw, n, B64_VARIANT);
    return ADB_OK;
}

static adb_code malformed(adb_error *err, const char *why)
{
    return adb_error_set(err, ADB_E_INVALID_REQUEST,
                         "invalid cursor: %s (pass back the next_cursor of the previous page unchanged, or "
                         "start over without one)", why);
}

adb_code adb_cursor_decode(const char *text, adb_cursor_op op, uint64_t binding, adb_cursor *out,
                           adb_error *err)
{
    unsigned char raw[RAW_MAX];
    size_t len = text != NULL ? strnlen(text, ADB_CURSOR_TEXT_MAX) : 0, n = 0, klen;
    uint32_t sum;

    memset(out, 0, sizeof *out);
    if (len == 0)
        return malformed(err, "it is empty");
    if (len >= ADB_CURSOR_TEXT_MAX)
        return malformed(err, "it is too long");
    if (len % 4 == 1)
        return malformed(err, "its length is impossible for base64url");
    if (strspn(text, b64_alphabet) != len)
        return malformed(err, "it contains a character outside base64url");
    if (len / 4 * 3 + (len % 4 ? len % 4 - 1 : 0) > sizeof raw)
        return malformed(err, "it is too long");
    if (sodium_base642bin(raw, sizeof raw, text, len, NULL, &n, NULL, B64_VARIANT) != 0)
        return malformed(err, "it has stray bits at the end");
    if (n < HEADER + CHECKSUM)
        return malformed(err, "it is too short");
    sum = (uint32_t)raw[n - 4] << 24 | (uint32_t)raw[n - 3] << 16 | (uint32_t)raw[n - 2] << 8 | raw[n - 1];
    if (checksum(raw, n - CHECKSUM) != sum)
        return malformed(err, "its checksum does not match (it was altered or truncated)");
    if (raw[0] != CURSOR_VERSION)
        return malformed(err, "it has an unknown version");
    klen = (size_t)raw[10] << 8 | raw[11];
    if (HEADER + klen + CHECKSUM != n || klen > ADB_CURSOR_KEY_MAX)
        return malformed(err, "its length fields are inconsistent");
    if (raw[1] != (unsigned char)op)
        return malformed(err, "it belongs to another operation");
    out->op = op;
    for (int i = 0; i < 8; i++)
        out->binding = out->binding << 8 | raw[2 + i];
    if (out->binding != binding) {
        memset(out, 0, sizeof *out);
        return malformed(err, "it belongs to another query (the parameters changed)");
    }
    /* Keys are sort keys: text plus the 0x01 separator. */
    for (size_t i = 0; i < klen; i++)
        if (raw[HEADER + i] == '\0') {
            memset(out, 0, sizeof *out);
            return malformed(err, "its key contains a NUL byte");
        }
    memcpy(out->key, raw + HEADER, klen);
    out->key[klen] = '\0';
    return ADB_OK;
}
