/* Errors: a stable machine-readable code plus a message an admin can act on.
 *
 * Every library call that can fail returns an adb_code and, when the caller
 * passes an adb_error, fills in the message.  The library never prints and
 * exits; front ends decide what to show.  Messages never contain secrets. */
#ifndef ADBRIDGE_ERROR_H
#define ADBRIDGE_ERROR_H

#include <stdbool.h>
#include <stddef.h>

/* The order is not part of the contract; the names are (adb_code_name). */
typedef enum adb_code {
    ADB_OK = 0,
    ADB_E_INVALID_REQUEST,  /* malformed input from a caller or message */
    ADB_E_CONFIG,           /* configuration file missing or invalid */
    ADB_E_NOT_FOUND,
    ADB_E_AMBIGUOUS,
    ADB_E_DOMAIN_NOT_ENABLED,
    ADB_E_DC_UNAVAILABLE,
    ADB_E_TIMEOUT,
    ADB_E_DNS,              /* name resolution failed */
    ADB_E_PROTOCOL,         /* a peer sent something we could not decode */
    ADB_E_KEYTAB,
    ADB_E_KERBEROS,
    ADB_E_CLOCK_SKEW,
    ADB_E_LDAP,
    ADB_E_IO,
    ADB_E_NOMEM,
    ADB_E_INTERNAL,
    ADB_E_KEY_UNKNOWN,      /* a sealed credential is not for any key of this instance */
    ADB_E_RETRY,            /* not run (a redelivered password check): send a fresh request */
    ADB_E_TLS,              /* TLS to a DC failed: handshake, StartTLS, or Kerberos refused inside TLS */
    ADB_E_TLS_CERT,         /* a DC's certificate failed verification (CA, name, dates) */
    ADB_CODE_COUNT_        /* keep last */
} adb_code;

enum { ADB_ERROR_MESSAGE_MAX = 512 };

typedef struct adb_error {
    adb_code code;
    char message[ADB_ERROR_MESSAGE_MAX];
} adb_error;

/* Stable snake_case name of a code ("not_found"), used on the wire and in logs. */
const char *adb_code_name(adb_code code);

/* The code named by adb_code_name's text; false for a name it never gives. */
bool adb_code_from_name(const char *name, adb_code *out);

/* Sets err (when not NULL) and returns code, so callers can write
 * `return adb_error_set(err, ADB_E_DNS, "...", ...);`.  The message is
 * truncated, never overflowed. */
adb_code adb_error_set(adb_error *err, adb_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Puts "context: " in front of an existing message. */
void adb_error_prefix(adb_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

void adb_error_clear(adb_error *err);

#endif
