/* LDAP search filters (RFC 4515) built from untrusted values.
 *
 * Every filter the bridge builds from input goes through this module: values
 * are escaped here and nowhere else, attribute names are checked against a
 * fixed pattern, and the one composition helper (adb_filter_build) escapes
 * every value it substitutes.  Never paste a value into a filter with
 * snprintf.  Binary values (SIDs, GUIDs) go through adb_sid_filter_value and
 * adb_guid_filter_value, which call adb_filter_escape with ADB_FILTER_BINARY. */
#ifndef ADBRIDGE_FILTER_H
#define ADBRIDGE_FILTER_H

#include <adbridge/error.h>

#include <stdbool.h>
#include <stddef.h>

enum {
    ADB_FILTER_VALUE_MAX = 1024,   /* raw bytes of one value; longer is refused */
    ADB_FILTER_MAX = 16384,        /* bytes of one built filter */
    ADB_FILTER_ATTR_MAX = 128,     /* bytes of one attribute description */
};

/* Buffer size (with the NUL) that always holds the escaped form of len bytes. */
#define ADB_FILTER_ESCAPED_SIZE(len) (3 * (size_t)(len) + 1)

typedef enum adb_filter_flags {
    /* Escapes * ( ) \ as \2a \28 \29 \5c, NUL and the other ASCII control
     * bytes (so filters stay printable in logs and error messages), and every
     * byte that is not part of well-formed UTF-8 (RFC 4515 allows only UTF-8
     * unescaped).  Printable ASCII and well-formed UTF-8 pass through, as AD
     * matches on UTF-8. */
    ADB_FILTER_DEFAULT = 0,
    ADB_FILTER_ASCII = 1 << 0,   /* also escape every byte >= 0x80 */
    ADB_FILTER_BINARY = 1 << 1,  /* escape every byte (binary attributes) */
} adb_filter_flags;

/* Escapes len bytes of value (which may contain NUL) into out, NUL-terminated;
 * *out_len (may be NULL) gets the length without the NUL.
 * ADB_E_INVALID_REQUEST: len > ADB_FILTER_VALUE_MAX.
 * ADB_E_INTERNAL: out_size too small (size it with ADB_FILTER_ESCAPED_SIZE);
 * nothing but an empty string is written then. */
adb_code adb_filter_escape(const void *value, size_t len, unsigned flags, char *out, size_t out_size,
                           size_t *out_len, adb_error *err);

/* Same, into a malloc'd string the caller frees. */
adb_code adb_filter_escape_alloc(const void *value, size_t len, unsigned flags, char **out, adb_error *err);

/* Inverse of adb_filter_escape for one value: \XX (either case) becomes the
 * byte; an unescaped * ( ) or NUL, or a \ not followed by two hex digits, is
 * refused (ADB_E_INVALID_REQUEST).  Writes at most out_size bytes, no NUL. */
adb_code adb_filter_unescape(const char *text, size_t len, void *out, size_t out_size, size_t *out_len,
                             adb_error *err);

/* True when attr may appear on the left of a filter item: a name (letter,
 * then letters, digits, '-') or a numeric OID, optionally followed by a
 * matching rule ":OID:" (e.g. "member:1.2.840.113556.1.4.1941:").  Nothing
 * else — no options, no spaces, no '=' — and at most ADB_FILTER_ATTR_MAX bytes. */
bool adb_filter_attr_valid(const char *attr);

/* "(attr=escaped value)" in a malloc'd string. */
adb_code adb_filter_eq(const char *attr, const void *value, size_t len, char **out, adb_error *err);

/* Builds a filter from a template the program owns, e.g.
 *   adb_filter_build(&f, err, "(&(objectClass=user)(|(sAMAccountName=%v)(cn=%v*)))", name, name);
 * Conversions (there is no way to insert an unescaped value):
 *   %v  const char *            NUL-terminated value, escaped (ADB_FILTER_DEFAULT)
 *   %V  const void *, size_t    value with length, escaped (ADB_FILTER_DEFAULT)
 *   %b  const void *, size_t    binary value, every byte escaped (ADB_FILTER_BINARY)
 *   %a  const char *            attribute description, checked by adb_filter_attr_valid
 *   %%  a literal '%'
 * The result must start with '(' and have balanced parentheses.
 * ADB_E_INVALID_REQUEST: a value longer than ADB_FILTER_VALUE_MAX, a result
 * longer than ADB_FILTER_MAX, or an invalid attribute for %a (names may come
 * from a request).  ADB_E_INTERNAL: a bad template or a NULL value. */
adb_code adb_filter_build(char **out, adb_error *err, const char *fmt, ...);

#endif
