/* A DC's clock from its rootDSE: see include/adbridge/dctime.h. */
#include "config.h"

#include <adbridge/clock.h>
#include <adbridge/dctime.h>

#include <ctype.h>
#include <ldap.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>

static int digits(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

bool adb_generalized_time_parse(const char *s, time_t *out)
{
    struct tm tm = { 0 };
    size_t len;
    const char *p;

    if (s == NULL || (len = strlen(s)) < 15 || len > 31)
        return false;
    int y = digits(s, 4), mo = digits(s + 4, 2), d = digits(s + 6, 2);
    int h = digits(s + 8, 2), mi = digits(s + 10, 2), se = digits(s + 12, 2);
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 || mi > 59 || se < 0
        || se > 60)
        return false;
    p = s + 14;
    if (*p == '.' || *p == ',') {
        p++;
        if (!isdigit((unsigned char)*p))
            return false;
        while (isdigit((unsigned char)*p))
            p++;
    }
    if (strcmp(p, "Z") != 0)
        return false;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = se;
    time_t t = timegm(&tm);
    if (t == (time_t)-1)
        return false;
    /* timegm normalises 31 February into March: refuse such dates. */
    struct tm back;
    if (gmtime_r(&t, &back) == NULL || back.tm_mday != d || back.tm_mon != mo - 1)
        return false;
    *out = t;
    return true;
}

adb_code adb_dctime_read(const char *address, int port, int timeout_ms, adb_dctime *out, adb_error *err)
{
    char *attrs[] = { (char *)"currentTime", NULL };
    struct timeval tv = { .tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000 };
    int version = LDAP_VERSION3, rc;
    LDAP *ld = NULL;
    LDAPMessage *res = NULL;
    struct berval **vals = NULL;
    char uri[128];
    adb_code code = ADB_OK;

    if (address == NULL || timeout_ms <= 0 || out == NULL)
        return adb_error_set(err, ADB_E_INVALID_REQUEST, "DC clock: an address and a positive timeout are needed");
    memset(out, 0, sizeof *out);
    snprintf(uri, sizeof uri, "ldap://%s:%d", address, port > 0 ? port : 389);
    if (ldap_initialize(&ld, uri) != LDAP_SUCCESS)
        return adb_error_set(err, ADB_E_INVALID_REQUEST, "DC clock: bad address %s", address);
    ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &version);
    ldap_set_option(ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF);
    ldap_set_option(ld, LDAP_OPT_NETWORK_TIMEOUT, &tv);
    ldap_set_option(ld, LDAP_OPT_TIMEOUT, &tv);
    struct timeval t0;
    gettimeofday(&t0, NULL);
    double m0 = adb_mono_ms_f();
    rc = ldap_search_ext_s(ld, "", LDAP_SCOPE_BASE, "(objectClass=*)", attrs, 0, NULL, NULL, &tv, 1, &res);
    out->rtt_ms = adb_mono_ms_f() - m0;
    out->local = t0.tv_sec + (time_t)((out->rtt_ms / 2 + t0.tv_usec / 1000.0) / 1000.0);
    if (rc == LDAP_TIMEOUT) {
        code = adb_error_set(err, ADB_E_TIMEOUT, "DC %s did not answer a rootDSE read within %d ms", uri, timeout_ms);
        goto out;
    }
    if (rc == LDAP_SERVER_DOWN || rc == LDAP_CONNECT_ERROR) {
        code = adb_error_set(err, ADB_E_DC_UNAVAILABLE, "cannot reach %s: %s", uri, ldap_err2string(rc));
        goto out;
    }
    if (rc != LDAP_SUCCESS) {
        code = adb_error_set(err, ADB_E_LDAP, "rootDSE read on %s: %s", uri, ldap_err2string(rc));
        goto out;
    }
    LDAPMessage *e = ldap_first_entry(ld, res);
    if (e == NULL || (vals = ldap_get_values_len(ld, e, "currentTime")) == NULL || vals[0] == NULL
        || vals[0]->bv_len == 0 || vals[0]->bv_len >= sizeof out->text
        || memchr(vals[0]->bv_val, '\0', vals[0]->bv_len) != NULL) {
        code = adb_error_set(err, ADB_E_PROTOCOL, "rootDSE of %s has no usable currentTime", uri);
        goto out;
    }
    memcpy(out->text, vals[0]->bv_val, vals[0]->bv_len);
    out->text[vals[0]->bv_len] = '\0';
    if (!adb_generalized_time_parse(out->text, &out->dc))
        code = adb_error_set(err, ADB_E_PROTOCOL, "currentTime of %s is not a GeneralizedTime", uri);
out:
    if (vals != NULL)
        ldap_value_free_len(vals);
    if (res != NULL)
        ldap_msgfree(res);
    ldap_unbind_ext_s(ld, NULL, NULL);
    return code;
}
