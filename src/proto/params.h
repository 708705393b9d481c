/* What the decoders of params share (proto's own; see proto.h for the
 * rules): each check mirrors a keyword of schemas/request.schema.json, and
 * every refusal is invalid_request with the JSON path of the field at fault
 * in the request's error_path and in the message.  A path is "$" (the
 * message), ".name" for a member, "[3]" for an index, "[\"x y\"]" for a
 * member whose name is not a plain word. */
#ifndef ADBRIDGE_PROTO_PARAMS_H
#define ADBRIDGE_PROTO_PARAMS_H

#include <adbridge/ops.h>
#include <adbridge/proto.h>

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct adb_param_dec {
    adb_request *r;
    adb_error *err;
};

typedef enum param_str {
    PARAM_TEXT = 0,       /* no control characters */
    PARAM_ANY,            /* any character (jansson already refuses NUL in a text) */
    PARAM_REQUEST_ID,
    PARAM_DOMAIN,
    PARAM_CURSOR,
    PARAM_KEY_ID,
    PARAM_BASE64,
} param_str;

/* Sets the error and error_path; always invalid_request. */
adb_code param_bad(adb_param_dec *d, const char *path, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* path + "." + key, or path + "[\"key\"]" when key is not a plain word; a
 * long or odd key is cut and escaped, so the path is safe to show. */
void param_join(char *out, size_t size, const char *path, const char *key);
/* path + "[i]". */
void param_index(char *out, size_t size, const char *path, size_t i);

/* Refuses members of obj not named in allowed (NULL-terminated). */
adb_code param_only(adb_param_dec *d, json_t *obj, const char *path, const char *const *allowed);
/* v is an object with only the allowed members. */
adb_code param_object(adb_param_dec *d, json_t *v, const char *path, const char *const *allowed);

/* Does s (n bytes) pass the character rules of kind? */
bool param_str_ok(const char *s, size_t n, param_str kind);
/* A string value at path: type, length in code points (min..max), characters. */
adb_code param_string_value(adb_param_dec *d, json_t *v, const char *path, size_t min, size_t max, param_str kind,
                            const char **out);
/* Member key of obj at path, a string as above; absent: is required, or
 * leaves *out as it is. */
adb_code param_string(adb_param_dec *d, json_t *obj, const char *path, const char *key, bool required, size_t min,
                      size_t max, param_str kind, const char **out);
/* An optional boolean member. */
adb_code param_bool(adb_param_dec *d, json_t *obj, const char *path, const char *key, bool *out);
/* An optional "limit" member: an integer from 1 to max. */
adb_code param_limit(adb_param_dec *d, json_t *obj, const char *path, int64_t max, size_t *out);

/* JSON Schema's "integer": any number with no fraction (1.0 too). */
bool param_integral(json_t *v, int64_t *out);

/* Params of an operation that takes none: {}. */
adb_code param_none(adb_param_dec *d, json_t *params);

#endif
