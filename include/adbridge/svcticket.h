/* A service ticket for one DC's LDAP service (ldap/<host>), obtained with
 * the machine account's TGT (krb.h), for adbridge diagnose: it proves the
 * KDC knows the DC's SPN and can issue a ticket for it, before any LDAP
 * bind.  Uses the machine credentials' MEMORY cache; cross-realm DCs (a
 * trusted forest) go through the referral / cross-realm TGT path as the
 * GSSAPI bind would. */
#ifndef ADBRIDGE_SVCTICKET_H
#define ADBRIDGE_SVCTICKET_H

#include <adbridge/error.h>
#include <adbridge/krb.h>

#include <time.h>

typedef struct adb_svcticket {
    char server[320];       /* the ticket's server principal, e.g. "ldap/dc1.adb.test@ADB.TEST" */
    char enctype[48];       /* the session key's encryption type */
    time_t endtime;
} adb_svcticket;

/* service/host, e.g. ("ldap", "dc1.adb.test").  The caller has refreshed
 * creds.  Errors: kerberos_error (SPN unknown: names it and says what to
 * check), clock_skew, dc_unavailable (no KDC answered). */
adb_code adb_svcticket_get(const adb_krb *creds, const char *service, const char *host, adb_svcticket *out,
                           adb_error *err);

#endif
