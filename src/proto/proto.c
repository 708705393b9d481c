/* The request decoder and reply encoder (see include/adbridge/proto.h):
 * the envelope here, each operation's params by its entry in the table of
 * operations (ops.h), with the checks of params.h.  Each check mirrors a
 * keyword of schemas/request.schema.json; the conformance test
 * (tests/conformance) keeps the two in agreement. */
#include "config.h"

#include "params.h"

#include <adbridge/json.h>
#include <adbridge/clock.h>
#include <adbridge/proto.h>
#include <adbridge/secmem.h>
#include <adbridge/text.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
    char buf[ADB_RFC3339_SIZE];
    return t != 0 && adb_rfc3339((time_t)t, buf) ? json_string(buf) : json_null();
}

/* ---- the envelope ---- */

static void request_init(adb_request *out)
{
    memset(out, 0, sizeof *out);
    out->op = ADB_OP_NONE;
}

/* Everything but the rules of the text: out->root_ holds root. */
static adb_code decode_root(adb_param_dec *d, json_t *root)
{
    static const char *const allowed[] = { "v", "id", "op", "params", "deadline", NULL };
    adb_request *out = d->r;
    json_t *v, *params;
    const char *s = NULL;
    int64_t version;
    adb_code rc;

    if (!json_is_object(root))
        return param_bad(d, "$", "must be a JSON object");

    /* The id first, so that every later error can be answered with it. */
    if ((rc = param_string(d, root, "$", "id", true, 1, ADB_PROTO_ID_MAX, PARAM_REQUEST_ID, &s)) != ADB_OK)
        return rc;
    snprintf(out->id, sizeof out->id, "%s", s);

    if ((v = json_object_get(root, "v")) == NULL)
        return param_bad(d, "$.v", "is required (the protocol version; this bridge speaks %d)", ADB_PROTO_VERSION);
    if (!param_integral(v, &version) || version != ADB_PROTO_VERSION)
        return param_bad(d, "$.v", "protocol version not supported; this bridge speaks version %d (see health)",
                         ADB_PROTO_VERSION);
    if ((rc = param_only(d, root, "$", allowed)) != ADB_OK)
        return rc;
    if ((rc = param_string(d, root, "$", "op", true, 1, 64, PARAM_ANY, &s)) != ADB_OK)
        return rc;
    if ((out->op = adb_op_from_name(s)) == ADB_OP_NONE)
        return param_bad(d, "$.op", "unknown operation (this bridge speaks protocol version %d level %d; see health)",
                         ADB_PROTO_VERSION, ADB_PROTO_LEVEL);
    if ((params = json_object_get(root, "params")) == NULL)
        return param_bad(d, "$.params", "is required");
    if (!json_is_object(params))
        return param_bad(d, "$.params", "must be an object");
    if ((rc = adb_ops[out->op]->params(d, params)) != ADB_OK)
        return rc;
    out->params = params;
    if ((v = json_object_get(root, "deadline")) != NULL) {
        if (!json_is_string(v) || !parse_time(json_string_value(v), &out->deadline_ms))
            return param_bad(d, "$.deadline", "must be an RFC 3339 time in UTC, e.g. 2025-01-31T12:00:00Z");
    }
    return ADB_OK;
}

adb_code adb_request_decode(const void *body, size_t len, size_t max_bytes, adb_request *out, adb_error *err)
{
    adb_param_dec d = { out, err };
    json_error_t jerr;
    adb_code rc;

    request_init(out);
    if (max_bytes == 0)
        max_bytes = ADB_PROTO_MAX_MESSAGE_DEFAULT;
    if (len > max_bytes)
        return param_bad(&d, "$", "the message is %zu bytes; this bridge accepts at most %zu "
                         "(broker.max_message_bytes)", len, max_bytes);
    if (body == NULL || len == 0)
        return param_bad(&d, "$", "the message is empty");
    out->root_ = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (out->root_ == NULL) {
        /* Not jansson's text: it quotes the input ("near '...'", "byte
         * 0x.."), which could be a password; the stack copy is wiped. */
        rc = param_bad(&d, "$", "not a valid JSON text (UTF-8, no duplicate keys): %s at line %d column %d",
                       adb_json_error_kind(&jerr), jerr.line, jerr.column);
        adb_wipe(&jerr, sizeof jerr);
        return rc;
    }
    return decode_root(&d, out->root_);
}

adb_code adb_request_decode_json(json_t *root, adb_request *out, adb_error *err)
{
    adb_param_dec d = { out, err };

    request_init(out);
    if (root == NULL)
        return param_bad(&d, "$", "the message is empty");
    out->root_ = json_incref(root);
    return decode_root(&d, root);
}

void adb_request_clear(adb_request *r)
{
    if (r->password != NULL)
        adb_wipe((char *)(uintptr_t)r->password, r->password_len);   /* jansson's buffer, ours */
    json_decref(r->root_);
    request_init(r);
}

/* ---- replies ---- */

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
        size_t k = adb_utf8_len((const unsigned char *)s + i);
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
    char *text = adb_json_dumps(reply, JSON_COMPACT, len);

    json_decref(reply);
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

json_t *adb_reply_error_json(const char *id, adb_op op, adb_code code, const char *message, const char *path,
                             json_t *candidates)
{
    json_t *r = envelope(id, op), *e = json_object();

    if (r == NULL || e == NULL) {
        json_decref(r);
        json_decref(e);
        json_decref(candidates);
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
    return r;
}

json_t *adb_reply_result_json(const char *id, adb_op op, json_t *result)
{
    json_t *r = envelope(id, op);

    if (r == NULL || result == NULL || adb_op_name(op) == NULL) {
        json_decref(r);
        json_decref(result);
        return adb_reply_error_json(id, op, ADB_E_NOMEM, "out of memory while encoding the reply", NULL, NULL);
    }
    json_object_set_new(r, "result", result);
    return r;
}

char *adb_reply_result(const char *id, adb_op op, json_t *result, size_t *len)
{
    return finish(adb_reply_result_json(id, op, result), len);
}

char *adb_reply_error(const char *id, adb_op op, adb_code code, const char *message, const char *path,
                      json_t *candidates, size_t *len)
{
    return finish(adb_reply_error_json(id, op, code, message, path, candidates), len);
}
