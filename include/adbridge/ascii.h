/* ASCII case of DNS names, realms and cache keys, in one place.  AD
 * compares these names case-insensitively in ASCII only, and tolower() would
 * follow the locale: these never do. */
#ifndef ADBRIDGE_ASCII_H
#define ADBRIDGE_ASCII_H

#include <stdbool.h>
#include <stddef.h>
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

#endif
