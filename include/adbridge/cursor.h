/* Paging cursors: opaque to the client, checked when they come back.
 *
 * A cursor says "resume after this sort key" for one operation and one
 * query.  It is self-contained (any bridge instance can continue a listing
 * another started) and carries:
 *   version, operation, a 64-bit binding of the query's parameters, the key,
 *   and a checksum,
 * as base64url text.  Decoding refuses — with ADB_E_INVALID_REQUEST — any
 * cursor that is malformed, was altered (checksum), belongs to another
 * operation or another query (binding), or whose key is not valid text.
 * The checksum catches corruption and casual edits; it is not a secret MAC,
 * and needs not be: a forged cursor can only name a resume point of the
 * caller's own query, and its key is never put into a filter unescaped. */
#ifndef ADBRIDGE_CURSOR_H
#define ADBRIDGE_CURSOR_H

#include <adbridge/error.h>

#include <stddef.h>
#include <stdint.h>

enum {
    ADB_CURSOR_KEY_MAX = 768,     /* bytes of a resume key */
    ADB_CURSOR_TEXT_MAX = 1100,   /* characters of an encoded cursor, with the NUL */
};

typedef enum adb_cursor_op {
    ADB_CURSOR_SEARCH = 1,
    ADB_CURSOR_MEMBERS = 2,
} adb_cursor_op;

typedef struct adb_cursor {
    adb_cursor_op op;
    uint64_t binding;
    char key[ADB_CURSOR_KEY_MAX + 1];   /* NUL-terminated */
} adb_cursor;

#define ADB_CURSOR_BIND_INIT UINT64_C(0xcbf29ce484222325)

/* Folds len bytes (and a separator) into a binding: start from
 * ADB_CURSOR_BIND_INIT and fold every parameter that defines the query. */
uint64_t adb_cursor_bind(uint64_t binding, const void *data, size_t len);

/* Encodes into out (size >= ADB_CURSOR_TEXT_MAX always suffices).
 * ADB_E_INTERNAL when the key is too long or out too small. */
adb_code adb_cursor_encode(const adb_cursor *c, char *out, size_t size, adb_error *err);

/* Decodes text and checks it against the operation and binding of the
 * request it came back with. */
adb_code adb_cursor_decode(const char *text, adb_cursor_op op, uint64_t binding, adb_cursor *out,
                           adb_error *err);

#endif
