/* AD object GUIDs (objectGUID): the 16 bytes AD stores and RFC 4122 text.
 *
 * AD stores the GUID as the Windows GUID structure: the first three fields
 * little-endian.  So the text "00112233-4455-6677-8899-aabbccddeeff" is the
 * bytes 33 22 11 00 55 44 77 66 88 99 aa bb cc dd ee ff.  adb_guid keeps AD's
 * byte order, so it goes to and from LDAP unchanged. */
#ifndef ADBRIDGE_GUID_H
#define ADBRIDGE_GUID_H

#include <adbridge/error.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
    ADB_GUID_SIZE = 16,
    ADB_GUID_STRING_MAX = 37,                   /* 36 characters and the NUL */
    ADB_GUID_FILTER_MAX = 3 * ADB_GUID_SIZE + 1, /* 49, with the NUL */
};

typedef struct adb_guid {
    uint8_t b[ADB_GUID_SIZE];  /* AD byte order, as in the objectGUID value */
} adb_guid;

/* Binary (an LDAP attribute value) -> GUID.  ADB_E_PROTOCOL unless len is 16. */
adb_code adb_guid_decode(const void *data, size_t len, adb_guid *out, adb_error *err);

/* Text -> GUID.  Accepts "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" bare or in
 * braces "{...}", hex digits in either case; nothing else (no spaces, no
 * missing dashes, no "urn:uuid:").  ADB_E_INVALID_REQUEST otherwise. */
adb_code adb_guid_parse(const char *text, size_t len, adb_guid *out, adb_error *err);

/* GUID -> canonical text: bare, lower case, NUL-terminated.  Never fails. */
void adb_guid_format(const adb_guid *guid, char buf[ADB_GUID_STRING_MAX]);

/* GUID -> the escaped binary form for an LDAP filter ("\33\22..."), as
 * adb_filter_escape(ADB_FILTER_BINARY) makes it; size >= ADB_GUID_FILTER_MAX. */
adb_code adb_guid_filter_value(const adb_guid *guid, char *buf, size_t size, adb_error *err);

bool adb_guid_equal(const adb_guid *a, const adb_guid *b);

#endif
