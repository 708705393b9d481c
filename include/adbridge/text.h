/* Text in one place: the ASCII case of DNS names, realms and cache keys
 * (AD compares them case-insensitively in ASCII only, and tolower() would
 * follow the locale), decimal integers as LDAP values and our state files
 * write them, and well-formed UTF-8 (what the wire takes and the CLI
 * shows). */
#ifndef ADBRIDGE_TEXT_H
#define ADBRIDGE_TEXT_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static inline char adb_ascii_lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static inline char adb_ascii_upper(char c)
{
    return c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
}

/* src lower-cased (or upper-cased) into dst of size bytes.  false when it
 * did not fit: dst then holds the start that fitted. */
static inline bool adb_ascii_case_copy(char *dst, size_t size, const char *src, bool upper)
{
    size_t i = 0;

    if (size == 0)
        return false;
    for (; src[i] != '\0' && i + 1 < size; i++)
        dst[i] = upper ? adb_ascii_upper(src[i]) : adb_ascii_lower(src[i]);
    dst[i] = '\0';
    return src[i] == '\0';
}

static inline void adb_ascii_lower_in_place(char *s)
{
    for (; s != NULL && *s != '\0'; s++)
        *s = adb_ascii_lower(*s);
}

/* A whole signed decimal integer in [min, max]: no empty text, no sign-only
 * text, no trailing bytes, no overflow. */
static inline bool adb_ascii_int64(const char *s, int64_t min, int64_t max, int64_t *out)
{
    char *end;
    long long v;

    if (s == NULL || *s == '\0' || *s == ' ' || *s == '+')
        return false;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
        return false;
    *out = v;
    return true;
}

/* Length (1..4) of the well-formed UTF-8 sequence at s (no overlongs,
 * surrogates or values past U+10FFFF), 0 when s does not start one.  Reads
 * no further than a NUL: a continuation byte is never NUL. */
static inline size_t adb_utf8_len(const unsigned char *s)
{
    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xC2 && s[0] <= 0xDF)
        return (s[1] & 0xC0) == 0x80 ? 2 : 0;
    if (s[0] >= 0xE0 && s[0] <= 0xEF)
        return (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 || (s[0] == 0xE0 && s[1] < 0xA0)   /* overlong */
                       || (s[0] == 0xED && s[1] >= 0xA0)                                          /* surrogate */
                   ? 0 : 3;
    if (s[0] >= 0xF0 && s[0] <= 0xF4)
        return (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80
                       || (s[0] == 0xF0 && s[1] < 0x90) || (s[0] == 0xF4 && s[1] >= 0x90)
                   ? 0 : 4;
    return 0;
}

#endif
