/* Error codes and messages (see include/adbridge/error.h). */
#include "config.h"

#include <adbridge/error.h>

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const code_names[ADB_CODE_COUNT_] = {
    [ADB_OK] = "ok",
    [ADB_E_INVALID_REQUEST] = "invalid_request",
    [ADB_E_CONFIG] = "config_invalid",
    [ADB_E_NOT_FOUND] = "not_found",
    [ADB_E_AMBIGUOUS] = "ambiguous",
    [ADB_E_DOMAIN_NOT_ENABLED] = "domain_not_enabled",
    [ADB_E_DC_UNAVAILABLE] = "dc_unavailable",
    [ADB_E_TIMEOUT] = "timeout",
    [ADB_E_DNS] = "dns_failure",
    [ADB_E_PROTOCOL] = "protocol_error",
    [ADB_E_KEYTAB] = "keytab_error",
    [ADB_E_KERBEROS] = "kerberos_error",
    [ADB_E_CLOCK_SKEW] = "clock_skew",
    [ADB_E_LDAP] = "ldap_error",
    [ADB_E_IO] = "io_error",
    [ADB_E_NOMEM] = "out_of_memory",
    [ADB_E_INTERNAL] = "internal_error",
    [ADB_E_KEY_UNKNOWN] = "key_unknown",
    [ADB_E_RETRY] = "retry",
    [ADB_E_TLS] = "tls_error",
    [ADB_E_TLS_CERT] = "tls_certificate",
};

const char *adb_code_name(adb_code code)
{
    if ((unsigned)code >= ADB_CODE_COUNT_ || code_names[code] == NULL)
        return "internal_error";
    return code_names[code];
}

bool adb_code_from_name(const char *name, adb_code *out)
{
    for (int c = 0; c < ADB_CODE_COUNT_; c++)
        if (code_names[c] != NULL && strcmp(code_names[c], name) == 0) {
            *out = (adb_code)c;
            return true;
        }
    return false;
}

adb_code adb_error_set(adb_error *err, adb_code code, const char *fmt, ...)
{
    if (err != NULL) {
        va_list ap;
        err->code = code;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
    }
    return code;
}

void adb_error_prefix(adb_error *err, const char *fmt, ...)
{
    char prefix[ADB_ERROR_MESSAGE_MAX];
    char old[ADB_ERROR_MESSAGE_MAX];
    va_list ap;

    if (err == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, err->message, sizeof old);
    /* Truncation is wanted here; using the result tells the compiler so. */
    if (snprintf(err->message, sizeof err->message, "%s: %s", prefix, old) < 0)
        err->message[0] = '\0';
}

void adb_error_clear(adb_error *err)
{
    if (err != NULL) {
        err->code = ADB_OK;
        err->message[0] = '\0';
    }
}
