/* A domain controller's clock, for the clock-skew check of adbridge diagnose.
 *
 * Reads the rootDSE's currentTime anonymously (no bind).  Anonymous, not over
 * the machine account's sealed connection, on purpose: the rootDSE is readable
 * without credentials on every AD DC (clients read it before they bind), it
 * holds no secret, and skew matters most exactly when Kerberos fails because
 * of it: a sealed GSSAPI bind is impossible then, an anonymous read is not. */
#ifndef ADBRIDGE_DCTIME_H
#define ADBRIDGE_DCTIME_H

#include <adbridge/error.h>

#include <stdbool.h>
#include <time.h>

typedef struct adb_dctime {
    time_t dc;            /* the DC's currentTime */
    time_t local;         /* this host's clock halfway through the exchange */
    double rtt_ms;        /* round trip of the search */
    char text[32];        /* currentTime as sent, e.g. "20241123101600.0Z" */
} adb_dctime;

/* Connects to address:port (0: 389) and reads currentTime within timeout_ms.
 * Errors: dc_unavailable, timeout, ldap_error, protocol_error (a value that
 * is not a GeneralizedTime) — each naming the DC. */
adb_code adb_dctime_read(const char *address, int port, int timeout_ms, adb_dctime *out, adb_error *err);

/* Parses LDAP GeneralizedTime in UTC ("YYYYMMDDHHMMSS[.f...]Z"); false when malformed. */
bool adb_generalized_time_parse(const char *s, time_t *out);

#endif
