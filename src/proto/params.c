/* The checks the decoders of params share (see params.h). */
#include "config.h"

#include "params.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

adb_code param_bad(adb_param_dec *d, const char *path, const char *fmt, ...)
{
    char msg[ADB_ERROR_MESSAGE_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(d->r->error_path, sizeof d->r->error_path, "%s", path);
    return adb_error_set(d->err, ADB_E_INVALID_REQUEST, "%s: %s", path, msg);
}

/* Code points of valid UTF-8 (jansson checked it). */
static size_t utf8_len(const char *s, size_t bytes)
{
    size_t n = 0;
    for (size_t i = 0; i < bytes; i++)
        n += ((unsigned char)s[i] & 0xC0) != 0x80;
    return n;
}

/* Bytes of the longest prefix of s with at most max code points. */
static size_t utf8_prefix(const char *s, size_t max)
{
    size_t i = 0, n = 0;
    while (s[i] != '\0') {
        if (((unsigned char)s[i] & 0xC0) != 0x80 && n++ == max)
            break;
        i++;
    }
    return i;
}

void param_join(char *out, size_t size, const char *path, const char *key)
{
    size_t n = strlen(key);

    if (n > 0 && n <= 64 && strspn(key, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") == n) {
        snprintf(out, size, "%s.%s", path, key);
        return;
    }
    json_t *s = json_stringn(key, utf8_prefix(key, 64));
    char *q = s != NULL ? json_dumps(s, JSON_ENCODE_ANY | JSON_ENSURE_ASCII) : NULL;
    snprintf(out, size, "%s[%s]", path, q != NULL ? q : "\"?\"");
    free(q);
    json_decref(s);
}

void param_index(char *out, size_t size, const char *path, size_t i)
{
    if (snprintf(out, size, "%s[%zu]", path, i) < 0)   /* cut when too long: fine for a path */
        out[0] = '\0';
}

adb_code param_only(adb_param_dec *d, json_t *obj, const char *path, const char *const *allowed)
{
    const char *key;
    json_t *v;
    char p[ADB_PROTO_PATH_MAX];

    json_object_foreach(obj, key, v) {
        bool ok = false;
        for (size_t i = 0; allowed[i] != NULL && !ok; i++)
            ok = strcmp(allowed[i], key) == 0;
        if (!ok) {
            param_join(p, sizeof p, path, key);
            return param_bad(d, p, "unknown field (this bridge speaks protocol version %d level %d; see health)",
                             ADB_PROTO_VERSION, ADB_PROTO_LEVEL);
        }
    }
    return ADB_OK;
}

adb_code param_object(adb_param_dec *d, json_t *v, const char *path, const char *const *allowed)
{
    if (!json_is_object(v))
        return param_bad(d, path, "must be an object");
    return param_only(d, v, path, allowed);
}

adb_code param_none(adb_param_dec *d, json_t *params)
{
    static const char *const none[] = { NULL };

    return param_only(d, params, "$.params", none);
}

static bool no_controls(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return false;
    return true;
}

static bool charset(const char *s, const char *set)
{
    return strspn(s, set) == strlen(s);
}

#define ALNUM "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

bool param_str_ok(const char *s, size_t n, param_str kind)
{
    if (kind != PARAM_ANY && !no_controls(s, n))
        return false;
    switch (kind) {
    case PARAM_TEXT:
    case PARAM_ANY: return true;
    case PARAM_REQUEST_ID: return charset(s, ALNUM "._:-");
    case PARAM_DOMAIN: return strchr(ALNUM, s[0]) != NULL && s[0] != '\0' && charset(s, ALNUM "._-");
    case PARAM_CURSOR: return charset(s, ALNUM "_-");
    case PARAM_KEY_ID: return n == 22 && charset(s, ALNUM "_-");
    case PARAM_BASE64: {
        size_t body = strspn(s, ALNUM "+/"), pad = strspn(s + body, "=");
        return body > 0 && pad <= 2 && body + pad == n;
    }
    }
    return false;
}

static const char *str_what(param_str kind)
{
    switch (kind) {
    case PARAM_TEXT: return "without control characters";
    case PARAM_ANY: return "";
    case PARAM_REQUEST_ID: return "of letters, digits and . _ : -";
    case PARAM_DOMAIN: return "naming a DNS or NetBIOS domain (letters, digits, . _ -, starting with a letter or digit)";
    case PARAM_CURSOR: return "holding a next_cursor as the bridge returned it";
    case PARAM_KEY_ID: return "holding a key id (22 characters of base64url)";
    case PARAM_BASE64: return "of standard base64";
    }
    return "";
}

adb_code param_string_value(adb_param_dec *d, json_t *v, const char *path, size_t min, size_t max, param_str kind,
                            const char **out)
{
    const char *s;
    size_t bytes, n;

    if (!json_is_string(v))
        return param_bad(d, path, "must be a string");
    s = json_string_value(v);
    bytes = json_string_length(v);
    n = utf8_len(s, bytes);
    if (n < min || n > max)
        return param_bad(d, path, "must be %zu to %zu characters long, not %zu", min, max, n);
    if (!param_str_ok(s, bytes, kind))
        return param_bad(d, path, "must be a string %s", str_what(kind));
    *out = s;
    return ADB_OK;
}

adb_code param_string(adb_param_dec *d, json_t *obj, const char *path, const char *key, bool required, size_t min,
                      size_t max, param_str kind, const char **out)
{
    json_t *v = json_object_get(obj, key);
    char p[ADB_PROTO_PATH_MAX];

    param_join(p, sizeof p, path, key);
    if (v == NULL)
        return required ? param_bad(d, p, "is required") : ADB_OK;
    return param_string_value(d, v, p, min, max, kind, out);
}

adb_code param_bool(adb_param_dec *d, json_t *obj, const char *path, const char *key, bool *out)
{
    json_t *v = json_object_get(obj, key);
    char p[ADB_PROTO_PATH_MAX];

    if (v == NULL)
        return ADB_OK;
    if (!json_is_boolean(v)) {
        param_join(p, sizeof p, path, key);
        return param_bad(d, p, "must be true or false");
    }
    *out = json_is_true(v);
    return ADB_OK;
}

bool param_integral(json_t *v, int64_t *out)
{
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return true;
    }
    if (json_is_real(v)) {
        double x = json_real_value(v);
        if (x >= -9.2e18 && x <= 9.2e18 && x == (double)(int64_t)x) {
            *out = (int64_t)x;
            return true;
        }
    }
    return false;
}

adb_code param_limit(adb_param_dec *d, json_t *obj, const char *path, int64_t max, size_t *out)
{
    json_t *v = json_object_get(obj, "limit");
    char p[ADB_PROTO_PATH_MAX];
    int64_t n;

    if (v == NULL)
        return ADB_OK;
    param_join(p, sizeof p, path, "limit");
    if (!param_integral(v, &n) || n < 1 || n > max)
        return param_bad(d, p, "must be an integer from 1 to %lld", (long long)max);
    *out = (size_t)n;
    return ADB_OK;
}
