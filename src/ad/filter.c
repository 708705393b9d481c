/* LDAP filter value escaping and building (see include/adbridge/filter.h). */
#include "config.h"

#include <adbridge/filter.h>

#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char hex_digits[] = "0123456789abcdef";

/* Length of the well-formed UTF-8 sequence (RFC 3629) starting at p, or 0
 * when p[0] does not start one: overlongs, surrogates, values above
 * U+10FFFF and truncated sequences are not well-formed. */
static size_t utf8_seq_len(const uint8_t *p, size_t avail)
{
    uint8_t c = p[0];
    size_t n;
    uint8_t lo = 0x80, hi = 0xbf;  /* range of the second byte */

    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        if (c == 0xe0)
            lo = 0xa0;
        else if (c == 0xed)
            hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        if (c == 0xf0)
            lo = 0x90;
        else if (c == 0xf4)
            hi = 0x8f;
    } else {
        return 0;
    }
    if (avail < n || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if (p[i] < 0x80 || p[i] > 0xbf)
            return 0;
    return n;
}

static bool must_escape_ascii(uint8_t c)
{
    return c < 0x20 || c == 0x7f || c == '*' || c == '(' || c == ')' || c == '\\';
}

/* Writes the escaped form to out (when not NULL) and returns its length: the
 * size pass and the write pass run the same code, so they always agree. */
static size_t escape_into(const uint8_t *v, size_t len, unsigned flags, char *out)
{
    size_t o = 0;

    for (size_t i = 0; i < len;) {
        uint8_t c = v[i];
        size_t n = 0;

        if (flags & ADB_FILTER_BINARY)
            n = 0;
        else if (c < 0x80)
            n = must_escape_ascii(c) ? 0 : 1;
        else if (!(flags & ADB_FILTER_ASCII))
            n = utf8_seq_len(v + i, len - i);
        if (n == 0) {
            if (out != NULL) {
                out[o] = '\\';
                out[o + 1] = hex_digits[c >> 4];
                out[o + 2] = hex_digits[c & 0xf];
            }
            o += 3;
            i++;
        } else {
            if (out != NULL)
                memcpy(out + o, v + i, n);
            o += n;
            i += n;
        }
    }
    return o;
}

adb_code adb_filter_escape(const void *value, size_t len, unsigned flags, char *out, size_t out_size,
                           size_t *out_len, adb_error *err)
{
    size_t need;

    if (out != NULL && out_size > 0)
        out[0] = '\0';
    if (value == NULL && len > 0)
        return adb_error_set(err, ADB_E_INTERNAL, "filter value: NULL pointer with length %zu", len);
    if (len > ADB_FILTER_VALUE_MAX)
        return adb_error_set(err, ADB_E_INVALID_REQUEST,
                             "filter value is %zu bytes, more than the %d allowed", len, ADB_FILTER_VALUE_MAX);
    need = escape_into(value, len, flags, NULL);
    if (out == NULL || need + 1 > out_size)
        return adb_error_set(err, ADB_E_INTERNAL, "escaped filter value needs %zu bytes, buffer has %zu",
                             need + 1, out != NULL ? out_size : 0);
    escape_into(value, len, flags, out);
    out[need] = '\0';
    if (out_len != NULL)
        *out_len = need;
    return ADB_OK;
}

adb_code adb_filter_escape_alloc(const void *value, size_t len, unsigned flags, char **out, adb_error *err)
{
    adb_code code;
    char *buf;

    *out = NULL;
    if (len > ADB_FILTER_VALUE_MAX)  /* before sizing the buffer from len */
        return adb_filter_escape(value, len, flags, NULL, 0, NULL, err);
    if ((buf = malloc(ADB_FILTER_ESCAPED_SIZE(len))) == NULL)
        return adb_error_set(err, ADB_E_NOMEM, "out of memory escaping a filter value");
    if ((code = adb_filter_escape(value, len, flags, buf, ADB_FILTER_ESCAPED_SIZE(len), NULL, err)) != ADB_OK) {
        free(buf);
        return code;
    }
    *out = buf;
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

adb_code adb_filter_unescape(const char *text, size_t len, void *out, size_t out_size, size_t *out_len,
                             adb_error *err)
{
    uint8_t *o = out;
    size_t n = 0;

    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        int h, l;

        if (c == '*' || c == '(' || c == ')' || c == '\0')
            return adb_error_set(err, ADB_E_INVALID_REQUEST,
                                 "escaped filter value: unescaped special byte 0x%02x at offset %zu",
                                 (unsigned)(uint8_t)c, i);
        if (c == '\\') {
            if (len - i < 3 || (h = hex_value(text[i + 1])) < 0 || (l = hex_value(text[i + 2])) < 0)
                return adb_error_set(err, ADB_E_INVALID_REQUEST,
                                     "escaped filter value: '\\' at offset %zu is not followed by two hex digits", i);
            c = (char)(h << 4 | l);
            i += 2;
        }
        if (n >= out_size)
            return adb_error_set(err, ADB_E_INTERNAL, "unescaped filter value does not fit in %zu bytes", out_size);
        o[n++] = (uint8_t)c;
    }
    if (out_len != NULL)
        *out_len = n;
    return ADB_OK;
}

/* numericoid (RFC 4512): number 1*("." number), number without leading zeros.
 * Returns the length consumed, 0 when s does not start with one. */
static size_t oid_len(const char *s)
{
    size_t i = 0, parts = 0;

    for (;;) {
        size_t start = i;
        if (s[i] == '0')
            i++;
        else
            while (s[i] >= '0' && s[i] <= '9')
                i++;
        if (i == start)
            return 0;
        parts++;
        if (s[i] != '.' || !(s[i + 1] >= '0' && s[i + 1] <= '9'))
            break;
        i++;
    }
    return parts >= 2 ? i : 0;
}

static bool is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

bool adb_filter_attr_valid(const char *attr)
{
    size_t i, n;

    if (attr == NULL || strnlen(attr, ADB_FILTER_ATTR_MAX + 1) > ADB_FILTER_ATTR_MAX)
        return false;
    if (is_alpha(attr[0])) {
        for (i = 1; is_alpha(attr[i]) || (attr[i] >= '0' && attr[i] <= '9') || attr[i] == '-'; i++)
            ;
    } else if ((i = oid_len(attr)) == 0) {
        return false;
    }
    if (attr[i] == '\0')
        return true;
    /* extensible match: attr ":" matchingrule ":" (the "=" follows) */
    if (attr[i] != ':' || (n = oid_len(attr + i + 1)) == 0)
        return false;
    i += 1 + n;
    return attr[i] == ':' && attr[i + 1] == '\0';
}

adb_code adb_filter_eq(const char *attr, const void *value, size_t len, char **out, adb_error *err)
{
    return adb_filter_build(out, err, "(%a=%V)", attr, value, len);
}

/* Output of adb_filter_build: a fixed buffer of ADB_FILTER_MAX + 1 bytes,
 * shrunk at the end; every append checks the room left. */
struct out {
    char *p;
    size_t len;
};

static bool put(struct out *o, const char *s, size_t n)
{
    if (n > ADB_FILTER_MAX - o->len)
        return false;
    memcpy(o->p + o->len, s, n);
    o->len += n;
    return true;
}

static adb_code put_value(struct out *o, const void *v, size_t len, unsigned flags, adb_error *err)
{
    size_t n;
    adb_code code;

    if (len > ADB_FILTER_VALUE_MAX)
        return adb_filter_escape(v, len, flags, NULL, 0, NULL, err);
    /* escaped values are at most 3 * ADB_FILTER_VALUE_MAX, so they fit before the check */
    if ((code = adb_filter_escape(v, len, flags, o->p + o->len, ADB_FILTER_MAX + 1 - o->len, &n, err))
        != ADB_OK) {
        if (code == ADB_E_INTERNAL)
            return adb_error_set(err, ADB_E_INVALID_REQUEST, "LDAP filter would be longer than %d bytes",
                                 ADB_FILTER_MAX);
        return code;
    }
    o->len += n;
    return ADB_OK;
}

static adb_code build(struct out *o, adb_error *err, const char *fmt, va_list ap)
{
    int depth = 0;
    adb_code code;

    for (const char *f = fmt; *f != '\0'; f++) {
        const char *s;
        const void *v;
        size_t len;

        if (*f != '%') {
            if (*f == '(')
                depth++;
            else if (*f == ')' && --depth < 0)
                break;
            if (!put(o, f, 1))
                goto too_long;
            continue;
        }
        switch (*++f) {
        case 'v':
            if ((s = va_arg(ap, const char *)) == NULL)
                return adb_error_set(err, ADB_E_INTERNAL, "LDAP filter template '%s': NULL value for %%v", fmt);
            if ((code = put_value(o, s, strlen(s), ADB_FILTER_DEFAULT, err)) != ADB_OK)
                return code;
            break;
        case 'V':
        case 'b':
            v = va_arg(ap, const void *);
            len = va_arg(ap, size_t);
            if (v == NULL && len > 0)
                return adb_error_set(err, ADB_E_INTERNAL, "LDAP filter template '%s': NULL value for %%%c", fmt, *f);
            if ((code = put_value(o, v, len, *f == 'b' ? ADB_FILTER_BINARY : ADB_FILTER_DEFAULT, err)) != ADB_OK)
                return code;
            break;
        case 'a':
            s = va_arg(ap, const char *);
            if (!adb_filter_attr_valid(s))
                return adb_error_set(err, ADB_E_INVALID_REQUEST,
                                     "LDAP filter: invalid attribute description (expected a name of letters, "
                                     "digits and '-', or an OID, optionally followed by ':OID:')");
            if (!put(o, s, strlen(s)))
                goto too_long;
            break;
        case '%':
            if (!put(o, "%", 1))
                goto too_long;
            break;
        default:
            return adb_error_set(err, ADB_E_INTERNAL, "LDAP filter template '%s': unknown conversion", fmt);
        }
    }
    if (depth != 0 || o->len == 0 || o->p[0] != '(')
        return adb_error_set(err, ADB_E_INTERNAL,
                             "LDAP filter template '%s': must start with '(' and balance its parentheses", fmt);
    o->p[o->len] = '\0';
    return ADB_OK;

too_long:
    return adb_error_set(err, ADB_E_INVALID_REQUEST, "LDAP filter would be longer than %d bytes", ADB_FILTER_MAX);
}

adb_code adb_filter_build(char **out, adb_error *err, const char *fmt, ...)
{
    /* Built on the stack and copied at its size: a 16 KiB heap buffer cut
     * down by realloc cost more than the filter itself. */
    char buf[ADB_FILTER_MAX + 1];
    struct out o = { buf, 0 };
    adb_code code;
    va_list ap;

    *out = NULL;
    if (fmt == NULL)
        return adb_error_set(err, ADB_E_INTERNAL, "LDAP filter: NULL template");
    va_start(ap, fmt);
    code = build(&o, err, fmt, ap);
    va_end(ap);
    if (code != ADB_OK)
        return code;
    if ((*out = malloc(o.len + 1)) == NULL)
        return adb_error_set(err, ADB_E_NOMEM, "out of memory building an LDAP filter");
    memcpy(*out, buf, o.len + 1);
    return ADB_OK;
}
