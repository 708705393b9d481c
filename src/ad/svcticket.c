/* A service ticket for ldap/<DC>: see include/adbridge/svcticket.h. */
#include "config.h"

#include <adbridge/svcticket.h>

#include <krb5/krb5.h>
#include <stdio.h>
#include <string.h>

adb_code adb_svcticket_get(const adb_krb *creds, const char *service, const char *host, adb_svcticket *out,
                           adb_error *err)
{
    krb5_context ctx = NULL;
    krb5_ccache cc = NULL;
    krb5_principal server = NULL;
    krb5_creds in, *got = NULL;
    krb5_error_code kc;
    adb_code code = ADB_OK;
    char *name = NULL;

    if (creds == NULL || service == NULL || host == NULL || out == NULL || host[0] == '\0')
        return adb_error_set(err, ADB_E_INVALID_REQUEST, "service ticket: credentials, service and host needed");
    memset(out, 0, sizeof *out);
    memset(&in, 0, sizeof in);
    if ((kc = krb5_init_context(&ctx)) != 0)
        return adb_error_set(err, ADB_E_KERBEROS, "cannot initialise Kerberos (check krb5.conf / KRB5_CONFIG)");
    /* The MEMORY cache is process-wide by name: this sees the machine TGT. */
    if ((kc = krb5_cc_resolve(ctx, adb_krb_ccache_name(creds), &cc)) != 0
        || (kc = krb5_cc_get_principal(ctx, cc, &in.client)) != 0) {
        code = adb_error_set(err, ADB_E_KERBEROS, "no machine TGT in memory: get one first");
        goto out;
    }
    /* Realm from [domain_realm], else the referral realm, as GSSAPI does. */
    if ((kc = krb5_sname_to_principal(ctx, host, service, KRB5_NT_SRV_HST, &server)) != 0) {
        code = adb_error_set(err, ADB_E_KERBEROS, "bad service name %s/%s", service, host);
        goto out;
    }
    in.server = server;
    kc = krb5_get_credentials(ctx, 0, cc, &in, &got);
    if (kc != 0) {
        const char *msg = krb5_get_error_message(ctx, kc);
        switch (kc) {
        case KRB5KDC_ERR_S_PRINCIPAL_UNKNOWN:
            code = adb_error_set(err, ADB_E_KERBEROS,
                                 "the KDC does not know %s/%s: the DC's servicePrincipalName or its DNS name "
                                 "(SRV target) is wrong (%s)", service, host, msg);
            break;
        case KRB5KRB_AP_ERR_SKEW:
            code = adb_error_set(err, ADB_E_CLOCK_SKEW, "clock skew too great for a ticket to %s/%s (%s)", service,
                                 host, msg);
            break;
        case KRB5_KDC_UNREACH:
        case KRB5_REALM_CANT_RESOLVE:
        case KRB5_REALM_UNKNOWN:
            code = adb_error_set(err, ADB_E_DC_UNAVAILABLE, "no KDC answered for a ticket to %s/%s (%s)", service,
                                 host, msg);
            break;
        default:
            code = adb_error_set(err, ADB_E_KERBEROS, "ticket to %s/%s: %s", service, host, msg);
        }
        krb5_free_error_message(ctx, msg);
        goto out;
    }
    if (krb5_unparse_name(ctx, got->server, &name) == 0)
        snprintf(out->server, sizeof out->server, "%s", name);
    if (krb5_enctype_to_name(got->keyblock.enctype, 0, out->enctype, sizeof out->enctype) != 0)
        snprintf(out->enctype, sizeof out->enctype, "%d", (int)got->keyblock.enctype);
    out->endtime = (time_t)got->times.endtime;
out:
    if (name != NULL)
        krb5_free_unparsed_name(ctx, name);
    if (got != NULL)
        krb5_free_creds(ctx, got);
    if (in.client != NULL)
        krb5_free_principal(ctx, in.client);
    if (server != NULL)
        krb5_free_principal(ctx, server);
    if (cc != NULL)
        krb5_cc_close(ctx, cc);
    krb5_free_context(ctx);
    return code;
}
