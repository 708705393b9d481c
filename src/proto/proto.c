/* The request decoder and reply encoder (see include/adbridge/proto.h).
 * Each check mirrors a keyword of schemas/request.schema.json; the
 * conformance test (tests/conformance) keeps the two in agreement. */
#include "config.h"

#include <adbridge/json.h>
#include <adbridge/object.h>
#include <adbridge/proto.h>
#include <adbridge/secmem.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const op_names[ADB_OP_COUNT_] = {
    [ADB_OP_HEALTH] = "health",
    [ADB_OP_TOPOLOGY_GET] = "topology.get",
    [ADB_OP_DOMAINS_CONFIGURE] = "domains.configure",
    [ADB_OP_USER_GET] = "user.get",
    [ADB_OP_GROUP_GET] = "group.get",
    [ADB_OP_SEARCH] = "search",
    [ADB_OP_USER_GROUPS] = "user.groups",
    [ADB_OP_GROUP_MEMBERS] = "group.members",
    [ADB_OP_AUTH_PASSWORD] = "auth.password",
    [ADB_OP_CACHE_INVALIDATE] = "cache.invalidate",
};

const char *adb_op_name(adb_op op)
{
    return op >= 0 && op < ADB_OP_COUNT_ ? op_names[op] : NULL;
}

adb_op adb_op_from_name(const char *name)
{
    for (int i = 0; name != NULL && i < ADB_OP_COUNT_; i++)
        if (strcmp(op_names[i], name) == 0)
            return (adb_op)i;
    return ADB_OP_NONE;
}

/* ---- decoding helpers ---- */

typedef struct dec {
    adb_request *r;
    adb_error *err;
} dec;

static adb_code bad(dec *d, const char *path, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static adb_code bad(dec *d, const char *path, const char *fmt, ...)
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

/* path + "." + key, or path + "[\"key\"]" when key is not a plain word;
 * a long or odd key is cut and escaped, so the path is safe to show. */
static void join(char *out, size_t size, const char *path, const char *key)
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

static void index_path(char *out, size_t size, const char *path, size_t i)
{
    if (snprintf(out, size, "%s[%zu]", path, i) < 0)   /* cut when too long: fine for a path */
        out[0] = '\0';
}

/* Refuses members of obj not named in allowed (NULL-terminated). */
static adb_code only(dec *d, json_t *obj, const char *path, const char *const *allowed)
{
    const char *key;
    json_t *v;
    char p[ADB_PROTO_PATH_MAX];

    json_object_foreach(obj, key, v) {
        bool ok = false;
        for (size_t i = 0; allowed[i] != NULL && !ok; i++)
            ok = strcmp(allowed[i], key) == 0;
        if (!ok) {
            join(p, sizeof p, path, key);
            return bad(d, p, "unknown field (this bridge speaks protocol version %d level %d; see health)",
                       ADB_PROTO_VERSION, ADB_PROTO_LEVEL);
        }
    }
    return ADB_OK;
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

typedef enum str_kind {
    STR_TEXT = 0,      /* no control characters */
    STR_ANY,           /* any character (jansson already refuses NUL) */
    STR_REQUEST_ID,
    STR_DOMAIN,
    STR_CURSOR,
    STR_KEY_ID,
    STR_BASE64,
} str_kind;

static bool str_ok(const char *s, size_t n, str_kind kind)
{
    if (kind != STR_ANY && !no_controls(s, n))
        return false;
    switch (kind) {
    case STR_TEXT:
    case STR_ANY: return true;
    case STR_REQUEST_ID: return charset(s, ALNUM "._:-");
    case STR_DOMAIN: return strchr(ALNUM, s[0]) != NULL && s[0] != '\0' && charset(s, ALNUM "._-");
    case STR_CURSOR: return charset(s, ALNUM "_-");
    case STR_KEY_ID: return n == 22 && charset(s, ALNUM "_-");
    case STR_BASE64: {
        size_t body = strspn(s, ALNUM "+/"), pad = strspn(s + body, "=");
        return body > 0 && pad <= 2 && body + pad == n;
    }
    }
    return false;
}

static const char *str_what(str_kind kind)
{
    switch (kind) {
    case STR_TEXT: return "without control characters";
    case STR_ANY: return "";
    case STR_REQUEST_ID: return "of letters, digits and . _ : -";
    case STR_DOMAIN: return "naming a DNS or NetBIOS domain (letters, digits, . _ -, starting with a letter or digit)";
    case STR_CURSOR: return "holding a next_cursor as the bridge returned it";
    case STR_KEY_ID: return "holding a key id (22 characters of base64url)";
    case STR_BASE64: return "of standard base64";
    }
    return "";
}

/* A string value at path: type, length in code points, characters. */
static adb_code string_value(dec *d, json_t *v, const char *path, size_t min, size_t max, str_kind kind,
                             const char **out)
{
    const char *s;
    size_t bytes, n;

    if (!json_is_string(v))
        return bad(d, path, "must be a string");
    s = json_string_value(v);
    bytes = json_string_length(v);
    n = utf8_len(s, bytes);
    if (n < min || n > max)
        return bad(d, path, "must be %zu to %zu characters long, not %zu", min, max, n);
    if (!str_ok(s, bytes, kind))
        return bad(d, path, "must be a string %s", str_what(kind));
    *out = s;
    return ADB_OK;
}

/* An optional (required = false) or required member. */
static adb_code string_field(dec *d, json_t *obj, const char *path, const char *key, bool required, size_t min,
                             size_t max, str_kind kind, const char **out)
{
    json_t *v = json_object_get(obj, key);
    char p[ADB_PROTO_PATH_MAX];

    join(p, sizeof p, path, key);
    if (v == NULL)
        return required ? bad(d, p, "is required") : ADB_OK;
    return string_value(d, v, p, min, max, kind, out);
}

static adb_code bool_field(dec *d, json_t *obj, const char *path, const char *key, bool *out)
{
    json_t *v = json_object_get(obj, key);
    char p[ADB_PROTO_PATH_MAX];

    if (v == NULL)
        return ADB_OK;
    if (!json_is_boolean(v)) {
        join(p, sizeof p, path, key);
        return bad(d, p, "must be true or false");
    }
    *out = json_is_true(v);
    return ADB_OK;
}

/* JSON Schema's "integer" is any number with no fraction (1.0 too). */
static bool integral(json_t *v, int64_t *out)
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

static adb_code limit_field(dec *d, json_t *obj, const char *path, int64_t max, size_t *out)
{
    json_t *v = json_object_get(obj, "limit");
    char p[ADB_PROTO_PATH_MAX];
    int64_t n;

    if (v == NULL)
        return ADB_OK;
    join(p, sizeof p, path, "limit");
    if (!integral(v, &n) || n < 1 || n > max)
        return bad(d, p, "must be an integer from 1 to %lld", (long long)max);
    *out = (size_t)n;
    return ADB_OK;
}

static adb_code object_at(dec *d, json_t *v, const char *path, const char *const *allowed)
{
    if (!json_is_object(v))
        return bad(d, path, "must be an object");
    return only(d, v, path, allowed);
}

/* ---- deadline: RFC 3339 UTC ---- */

static int64_t days_from_civil(int64_t y, int m, int dd)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + dd - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static bool digits(const char *s, int n, int *out)
{
    *out = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        *out = *out * 10 + (s[i] - '0');
    }
    return true;
}

/* "YYYY-MM-DDTHH:MM:SS[.f{1,9}]Z" -> Unix ms. */
static bool parse_time(const char *s, int64_t *ms)
{
    static const int mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    int y, mo, dd, h, mi, se, frac = 0, nf = 0;
    size_t n = strlen(s);

    if (n < 20 || !digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) || s[7] != '-'
        || !digits(s + 8, 2, &dd) || s[10] != 'T' || !digits(s + 11, 2, &h) || s[13] != ':'
        || !digits(s + 14, 2, &mi) || s[16] != ':' || !digits(s + 17, 2, &se))
        return false;
    if (s[19] == '.') {
        for (nf = 0; s[20 + nf] >= '0' && s[20 + nf] <= '9'; nf++)
            if (nf < 3)
                frac = frac * 10 + (s[20 + nf] - '0');
        if (nf < 1 || nf > 9)
            return false;
        for (int k = nf; k < 3; k++)
            frac *= 10;
        nf++;   /* the dot */
    }
    if (s[19 + nf] != 'Z' || s[20 + nf] != '\0')
        return false;
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (y < 1 || mo < 1 || mo > 12 || dd < 1 || dd > mdays[mo - 1] + (mo == 2 && leap) || h > 23 || mi > 59
        || se > 59)
        return false;
    *ms = ((days_from_civil(y, mo, dd) * 86400) + h * 3600 + mi * 60 + se) * 1000 + frac;
    return true;
}

json_t *adb_proto_time(int64_t t)
{
    struct tm tm;
    time_t tt = (time_t)t;
    char buf[32];

    if (t == 0 || gmtime_r(&tt, &tm) == NULL)
        return json_null();
    strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return json_string(buf);
}

/* ---- params of each op ---- */

static adb_code params_get(dec *d, json_t *p, const char *idkey)
{
    const char *const allowed[] = { idkey, "domain", NULL };
    adb_code rc;

    if ((rc = object_at(d, p, "$.params", allowed)) != ADB_OK
        || (rc = string_field(d, p, "$.params", idkey, true, 1, ADB_PROTO_IDENT_MAX, STR_TEXT, &d->r->ident))
               != ADB_OK)
        return rc;
    return string_field(d, p, "$.params", "domain", false, 1, 253, STR_DOMAIN, &d->r->domain);
}

static adb_code params_domains(dec *d, json_t *p)
{
    static const char *const allowed[] = { "domains", NULL };
    static const char *const item_allowed[] = { "domain", "use_for_subscriptions", NULL };
    json_t *list = json_object_get(p, "domains"), *it;
    char path[ADB_PROTO_PATH_MAX], ip[ADB_PROTO_PATH_MAX];
    size_t i;
    adb_code rc;

    if ((rc = object_at(d, p, "$.params", allowed)) != ADB_OK)
        return rc;
    snprintf(path, sizeof path, "$.params.domains");
    if (list == NULL)
        return bad(d, path, "is required");
    if (!json_is_array(list) || json_array_size(list) < 1 || json_array_size(list) > ADB_PROTO_DOMAINS_MAX)
        return bad(d, path, "must be an array of 1 to %d entries", ADB_PROTO_DOMAINS_MAX);
    json_array_foreach(list, i, it) {
        adb_domain_flag *f = &d->r->domains[i];
        json_t *flag;
        index_path(ip, sizeof ip, path, i);
        if ((rc = object_at(d, it, ip, item_allowed)) != ADB_OK
            || (rc = string_field(d, it, ip, "domain", true, 1, 253, STR_DOMAIN, &f->domain)) != ADB_OK)
            return rc;
        if ((flag = json_object_get(it, "use_for_subscriptions")) == NULL || !json_is_boolean(flag)) {
            join(path, sizeof path, ip, "use_for_subscriptions");
            return bad(d, path, flag == NULL ? "is required" : "must be true or false");
        }
        f->enabled = json_is_true(flag);
    }
    d->r->n_domains = json_array_size(list);
    return ADB_OK;
}

static adb_code params_search(dec *d, json_t *p)
{
    static const char *const allowed[] = { "prefix", "kinds", "limit", "cursor", NULL };
    json_t *kinds = json_object_get(p, "kinds"), *k;
    char path[ADB_PROTO_PATH_MAX];
    size_t i;
    adb_code rc;

    if ((rc = object_at(d, p, "$.params", allowed)) != ADB_OK
        || (rc = string_field(d, p, "$.params", "prefix", true, 1, ADB_PROTO_PREFIX_MAX, STR_TEXT, &d->r->prefix))
               != ADB_OK
        || (rc = limit_field(d, p, "$.params", 1000, &d->r->limit)) != ADB_OK
        || (rc = string_field(d, p, "$.params", "cursor", false, 1, 1099, STR_CURSOR, &d->r->cursor)) != ADB_OK)
        return rc;
    if (kinds == NULL)
        return ADB_OK;
    if (!json_is_array(kinds) || json_array_size(kinds) < 1 || json_array_size(kinds) > 2)
        return bad(d, "$.params.kinds", "must be an array of \"user\" and/or \"group\"");
    json_array_foreach(kinds, i, k) {
        unsigned bit = 0;
        const char *s = json_string_value(k);
        if (s != NULL && strcmp(s, "user") == 0 && json_string_length(k) == 4)
            bit = ADB_KINDS_USER;
        else if (s != NULL && strcmp(s, "group") == 0 && json_string_length(k) == 5)
            bit = ADB_KINDS_GROUP;
        index_path(path, sizeof path, "$.params.kinds", i);
        if (bit == 0)
            return bad(d, path, "must be \"user\" or \"group\"");
        if (d->r->kinds & bit)
            return bad(d, path, "is listed twice");
        d->r->kinds |= bit;
    }
    return ADB_OK;
}

static adb_code params_members(dec *d, json_t *p)
{
    static const char *const allowed[] = { "group", "domain", "transitive", "limit", "cursor", NULL };
    adb_code rc;

    if ((rc = object_at(d, p, "$.params", allowed)) != ADB_OK
        || (rc = string_field(d, p, "$.params", "group", true, 1, ADB_PROTO_IDENT_MAX, STR_TEXT, &d->r->ident))
               != ADB_OK
        || (rc = string_field(d, p, "$.params", "domain", false, 1, 253, STR_DOMAIN, &d->r->domain)) != ADB_OK
        || (rc = bool_field(d, p, "$.params", "transitive", &d->r->transitive)) != ADB_OK
        || (rc = limit_field(d, p, "$.params", 10000, &d->r->limit)) != ADB_OK)
        return rc;
    return string_field(d, p, "$.params", "cursor", false, 1, 1099, STR_CURSOR, &d->r->cursor);
}

static adb_code params_auth(dec *d, json_t *p)
{
    static const char *const allowed[] = { "user", "domain", "sealed", "password", "include_groups", NULL };
    json_t *sealed = json_object_get(p, "sealed"), *pw = json_object_get(p, "password"), *v;
    const char *key;
    char path[ADB_PROTO_PATH_MAX];
    adb_code rc;

    if ((rc = object_at(d, p, "$.params", allowed)) != ADB_OK
        || (rc = string_field(d, p, "$.params", "user", true, 1, ADB_PROTO_IDENT_MAX, STR_TEXT, &d->r->ident))
               != ADB_OK
        || (rc = string_field(d, p, "$.params", "domain", false, 1, 253, STR_DOMAIN, &d->r->domain)) != ADB_OK
        || (rc = bool_field(d, p, "$.params", "include_groups", &d->r->include_groups)) != ADB_OK)
        return rc;
    if ((sealed == NULL) == (pw == NULL))
        return bad(d, "$.params", "give exactly one of sealed (the password sealed to each instance key) and "
                                  "password");
    if (pw != NULL) {
        /* Never quoted in a message: only its type and length are checked. */
        if ((rc = string_value(d, pw, "$.params.password", 1, ADB_PROTO_PASSWORD_MAX, STR_ANY, &d->r->password))
            != ADB_OK)
            return rc;
        d->r->password_len = json_string_length(pw);
        return ADB_OK;
    }
    if (!json_is_object(sealed) || json_object_size(sealed) < 1 || json_object_size(sealed) > ADB_PROTO_SEALED_MAX)
        return bad(d, "$.params.sealed", "must be an object of 1 to %d key id -> sealed copy members",
                   ADB_PROTO_SEALED_MAX);
    json_object_foreach(sealed, key, v) {
        adb_sealed_copy *c = &d->r->sealed[d->r->n_sealed];
        join(path, sizeof path, "$.params.sealed", key);
        if (!str_ok(key, strlen(key), STR_KEY_ID))
            return bad(d, path, "the member name must be a key id (22 characters of base64url; see health)");
        if ((rc = string_value(d, v, path, 4, ADB_PROTO_SEALED_B64_MAX, STR_BASE64, &c->sealed_b64)) != ADB_OK)
            return rc;
        c->key_id = key;
        d->r->n_sealed++;
    }
    return ADB_OK;
}

static adb_code params_of(dec *d, json_t *p)
{
    static const char *const none[] = { NULL };
    static const char *const topo[] = { "refresh", NULL };
    static const char *const inval[] = { "id", NULL };
    adb_code rc;

    if (p == NULL)
        return bad(d, "$.params", "is required");
    if (!json_is_object(p))
        return bad(d, "$.params", "must be an object");
    switch (d->r->op) {
    case ADB_OP_HEALTH: return only(d, p, "$.params", none);
    case ADB_OP_TOPOLOGY_GET:
        if ((rc = only(d, p, "$.params", topo)) != ADB_OK)
            return rc;
        return bool_field(d, p, "$.params", "refresh", &d->r->refresh);
    case ADB_OP_DOMAINS_CONFIGURE: return params_domains(d, p);
    case ADB_OP_USER_GET:
    case ADB_OP_GROUP_GET: return params_get(d, p, "id");
    case ADB_OP_USER_GROUPS: return params_get(d, p, "user");
    case ADB_OP_SEARCH: return params_search(d, p);
    case ADB_OP_GROUP_MEMBERS: return params_members(d, p);
    case ADB_OP_AUTH_PASSWORD: return params_auth(d, p);
    case ADB_OP_CACHE_INVALIDATE:
        if ((rc = only(d, p, "$.params", inval)) != ADB_OK)
            return rc;
        return string_field(d, p, "$.params", "id", false, 1, ADB_PROTO_IDENT_MAX, STR_TEXT, &d->r->ident);
    case ADB_OP_NONE:
    case ADB_OP_COUNT_: break;
    }
    return bad(d, "$.op", "unknown operation");
}

/* ---- the envelope ---- */

adb_code adb_request_decode(const void *body, size_t len, size_t max_bytes, adb_request *out, adb_error *err)
{
    static const char *const allowed[] = { "v", "id", "op", "params", "deadline", NULL };
    dec d = { out, err };
    json_error_t jerr;
    json_t *root, *v;
    const char *s = NULL;
    int64_t version;
    adb_code rc;

    memset(out, 0, sizeof *out);
    out->op = ADB_OP_NONE;
    if (max_bytes == 0)
        max_bytes = ADB_PROTO_MAX_MESSAGE_DEFAULT;
    if (len > max_bytes)
        return bad(&d, "$", "the message is %zu bytes; this bridge accepts at most %zu (broker.max_message_bytes)",
                   len, max_bytes);
    if (body == NULL || len == 0)
        return bad(&d, "$", "the message is empty");
    root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        /* Not jansson's text: it quotes the input ("near '...'", "byte
         * 0x.."), which could be a password; the stack copy is wiped. */
        rc = bad(&d, "$", "not a valid JSON text (UTF-8, no duplicate keys): %s at line %d column %d",
                 adb_json_error_kind(&jerr), jerr.line, jerr.column);
        adb_wipe(&jerr, sizeof jerr);
        return rc;
    }
    out->root_ = root;
    if (!json_is_object(root))
        return bad(&d, "$", "must be a JSON object");

    /* The id first, so that every later error can be answered with it. */
    if ((rc = string_field(&d, root, "$", "id", true, 1, ADB_PROTO_ID_MAX, STR_REQUEST_ID, &s)) != ADB_OK)
        return rc;
    snprintf(out->id, sizeof out->id, "%s", s);

    if ((v = json_object_get(root, "v")) == NULL)
        return bad(&d, "$.v", "is required (the protocol version; this bridge speaks %d)", ADB_PROTO_VERSION);
    if (!integral(v, &version) || version != ADB_PROTO_VERSION)
        return bad(&d, "$.v", "protocol version not supported; this bridge speaks version %d (see health)",
                   ADB_PROTO_VERSION);
    if ((rc = only(&d, root, "$", allowed)) != ADB_OK)
        return rc;
    if ((rc = string_field(&d, root, "$", "op", true, 1, 64, STR_ANY, &s)) != ADB_OK)
        return rc;
    if ((out->op = adb_op_from_name(s)) == ADB_OP_NONE)
        return bad(&d, "$.op", "unknown operation (this bridge speaks protocol version %d level %d; see health)",
                   ADB_PROTO_VERSION, ADB_PROTO_LEVEL);
    if ((rc = params_of(&d, json_object_get(root, "params"))) != ADB_OK)
        return rc;
    if ((v = json_object_get(root, "deadline")) != NULL) {
        if (!json_is_string(v) || !parse_time(json_string_value(v), &out->deadline_ms))
            return bad(&d, "$.deadline", "must be an RFC 3339 time in UTC, e.g. 2025-01-31T12:00:00Z");
    }
    return ADB_OK;
}

void adb_request_clear(adb_request *r)
{
    if (r->password != NULL)
        adb_wipe((char *)(uintptr_t)r->password, r->password_len);   /* jansson's buffer, ours */
    json_decref(r->root_);
    memset(r, 0, sizeof *r);
    r->op = ADB_OP_NONE;
}

/* ---- replies ---- */

/* Length of a valid UTF-8 sequence at s (no overlongs, surrogates or
 * values past U+10FFFF), 0 when invalid. */
static size_t utf8_seq(const unsigned char *s)
{
    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xC2 && s[0] <= 0xDF)
        return (s[1] & 0xC0) == 0x80 ? 2 : 0;
    if (s[0] >= 0xE0 && s[0] <= 0xEF) {
        if ((s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 || (s[0] == 0xE0 && s[1] < 0xA0)
            || (s[0] == 0xED && s[1] >= 0xA0))
            return 0;
        return 3;
    }
    if (s[0] >= 0xF0 && s[0] <= 0xF4) {
        if ((s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80 || (s[0] == 0xF0 && s[1] < 0x90)
            || (s[0] == 0xF4 && s[1] >= 0x90))
            return 0;
        return 4;
    }
    return 0;
}

/* A JSON string of s made valid UTF-8 ('?' for bad bytes), at most max code
 * points, never empty (fallback). */
static json_t *safe_string(const char *s, size_t max, const char *fallback)
{
    size_t n = s != NULL ? strlen(s) : 0, o = 0, cps = 0;
    char *buf = malloc(n + 1);
    json_t *j;

    if (buf == NULL)
        return NULL;
    for (size_t i = 0; i < n && cps < max; cps++) {
        size_t k = utf8_seq((const unsigned char *)s + i);
        if (k == 0) {
            buf[o++] = '?';
            i++;
        } else {
            memcpy(buf + o, s + i, k);
            o += k;
            i += k;
        }
    }
    j = o > 0 ? json_stringn(buf, o) : json_string(fallback);
    free(buf);
    return j;
}

static char *finish(json_t *reply, size_t *len)
{
    char *text = reply != NULL ? json_dumps(reply, JSON_COMPACT) : NULL;

    json_decref(reply);
    if (len != NULL)
        *len = text != NULL ? strlen(text) : 0;
    return text;
}

static json_t *envelope(const char *id, adb_op op)
{
    json_t *r = json_object();

    if (r == NULL)
        return NULL;
    json_object_set_new(r, "v", json_integer(ADB_PROTO_VERSION));
    json_object_set_new(r, "id", id != NULL && id[0] != '\0' ? json_string(id) : json_null());
    if (adb_op_name(op) != NULL)
        json_object_set_new(r, "op", json_string(adb_op_name(op)));
    return r;
}

char *adb_reply_result(const char *id, adb_op op, json_t *result, size_t *len)
{
    json_t *r = envelope(id, op);

    if (r == NULL || result == NULL || adb_op_name(op) == NULL) {
        json_decref(r);
        json_decref(result);
        return adb_reply_error(id, op, ADB_E_NOMEM, "out of memory while encoding the reply", NULL, NULL, len);
    }
    json_object_set_new(r, "result", result);
    return finish(r, len);
}

char *adb_reply_error(const char *id, adb_op op, adb_code code, const char *message, const char *path,
                      json_t *candidates, size_t *len)
{
    json_t *r = envelope(id, op), *e = json_object();

    if (r == NULL || e == NULL) {
        json_decref(r);
        json_decref(e);
        json_decref(candidates);
        if (len != NULL)
            *len = 0;
        return NULL;
    }
    json_object_set_new(e, "code", json_string(adb_code_name(code)));
    json_object_set_new(e, "message", safe_string(message, 1024, adb_code_name(code)));
    if (path != NULL && path[0] != '\0')
        json_object_set_new(e, "path", safe_string(path, 300, "$"));
    if (candidates != NULL && code == ADB_E_AMBIGUOUS)
        json_object_set_new(e, "candidates", candidates);
    else
        json_decref(candidates);
    json_object_set_new(r, "error", e);
    return finish(r, len);
}
