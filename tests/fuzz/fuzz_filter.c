/* Fuzzes LDAP filter escaping: escaped output never holds an unescaped
 * special byte, unescaping gives the input back, and a built filter keeps
 * the structure of its template whatever the value. */
#include "config.h"

#include <adbridge/filter.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do { if (!(cond)) abort(); } while (0)

static bool is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static void escape_round_trip(const uint8_t *data, size_t size, unsigned flags)
{
    char *out = NULL;
    uint8_t *back;
    size_t n, back_len;
    adb_code code = adb_filter_escape_alloc(data, size, flags, &out, NULL);

    if (size > ADB_FILTER_VALUE_MAX) {
        CHECK(code == ADB_E_INVALID_REQUEST && out == NULL);
        return;
    }
    CHECK(code == ADB_OK);
    n = strlen(out);
    CHECK(n >= size && n <= 3 * size);
    for (size_t i = 0; i < n; i++) {
        uint8_t c = (uint8_t)out[i];
        CHECK(c != '*' && c != '(' && c != ')');
        CHECK(c >= 0x20 && c != 0x7f);  /* no NUL (strlen) and no control byte */
        if (flags & ADB_FILTER_ASCII)
            CHECK(c < 0x80);
        if (c == '\\') {
            CHECK(i + 2 < n && is_hex(out[i + 1]) && is_hex(out[i + 2]));
            i += 2;
        } else if (flags & ADB_FILTER_BINARY) {
            CHECK(0);
        }
    }
    back = malloc(size + 1);
    CHECK(back != NULL);
    CHECK(adb_filter_unescape(out, n, back, size, &back_len, NULL) == ADB_OK);
    CHECK(back_len == size && memcmp(back, data, size) == 0);
    free(back);
    free(out);
}

static void unescape_any(const uint8_t *data, size_t size)
{
    uint8_t *v = malloc(size + 1);
    char *again = NULL;
    uint8_t *back;
    size_t n, m;

    CHECK(v != NULL);
    if (adb_filter_unescape((const char *)data, size, v, size, &n, NULL) == ADB_OK && n <= ADB_FILTER_VALUE_MAX) {
        CHECK(n <= size);
        CHECK(adb_filter_escape_alloc(v, n, ADB_FILTER_DEFAULT, &again, NULL) == ADB_OK);
        back = malloc(n + 1);
        CHECK(back != NULL);
        CHECK(adb_filter_unescape(again, strlen(again), back, n, &m, NULL) == ADB_OK);
        CHECK(m == n && memcmp(back, v, n) == 0);
        free(back);
        free(again);
    }
    free(v);
}

static void build(const uint8_t *data, size_t size)
{
    char *f = NULL, *attr;
    const char *tmpl = "(&(objectClass=user)(|(cn=%V*)(sAMAccountName=%V)))";
    size_t open = 0, close = 0;

    if (adb_filter_build(&f, NULL, tmpl, data, size, data, size) == ADB_OK) {
        for (const char *p = f; *p != '\0'; p++) {
            open += *p == '(';
            close += *p == ')';
        }
        CHECK(open == 5 && close == 5);
        CHECK(strncmp(f, "(&(objectClass=user)(|(cn=", 26) == 0);
        free(f);
    } else {
        CHECK(size > ADB_FILTER_VALUE_MAX && f == NULL);
    }

    /* the input as an attribute name: if accepted, it cannot break out */
    attr = malloc(size + 1);
    CHECK(attr != NULL);
    memcpy(attr, data, size);
    attr[size] = '\0';
    if (adb_filter_attr_valid(attr)) {
        CHECK(strpbrk(attr, "()=*\\ ;") == NULL);
        CHECK(adb_filter_eq(attr, "x", 1, &f, NULL) == ADB_OK);
        CHECK(strlen(f) == strlen(attr) + 4);
        free(f);
    }
    free(attr);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    escape_round_trip(data, size, ADB_FILTER_DEFAULT);
    escape_round_trip(data, size, ADB_FILTER_ASCII);
    escape_round_trip(data, size, ADB_FILTER_BINARY);
    unescape_any(data, size);
    build(data, size);
    return 0;
}
