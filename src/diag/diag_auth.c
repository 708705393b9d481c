/* adbridge diagnose, Kerberos and LDAP: the machine TGT, a service ticket
 * per DC, the sealed GSSAPI bind with the rootDSE's functional levels, and
 * the keytab's key version against the machine account's. */
#include "config.h"

#include "diag_internal.h"

#include <adbridge/clock.h>
#include <adbridge/filter.h>
#include <adbridge/svcticket.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void diag_kerberos_fix(const diag_run *R, adb_code code, char *fix, size_t size)
{
    char jd[256];
    const char *dom = diag_joined_domain(R, jd, sizeof jd);

    if (code == ADB_E_CLOCK_SKEW)
        snprintf(fix, size, "%s; the domain controllers of %s are the time source", DIAG_NTP_FIX, dom);
    else if (code == ADB_E_DC_UNAVAILABLE || code == ADB_E_TIMEOUT)
        snprintf(fix, size, "open TCP and UDP 88 from this host to the KDCs of %s, or fix the realm's kdc "
                 "entries in krb5.conf", dom);
    else
        snprintf(fix, size, "re-join with adcli join --domain=%s (or restore the keytab %s), or run adcli update "
                 "if the account's password changed", dom, R->cfg->keytab);
}

void diag_kerberos_tgt(diag_run *R)
{
    adb_error e = { 0 };
    char fix[768], jd[256], title[300], until[32];
    double t0 = adb_mono_ms_f();

    snprintf(title, sizeof title, "machine TGT (%s)", diag_joined_domain(R, jd, sizeof jd));
    adb_code code = adb_krb_refresh(R->krb, true, &e);
    R->tgt_ok = code == ADB_OK;
    if (!R->tgt_ok) {
        diag_kerberos_fix(R, code, fix, sizeof fix);
        diag_emit(R, NULL, title, ADB_DIAG_FAIL, adb_mono_ms_f() - t0, json_pack("{s:s}", "code", adb_code_name(code)),
                  fix, "%s", e.message);
        return;
    }
    diag_utc_text(adb_krb_expiry(R->krb), until, sizeof until);
    diag_emit(R, NULL, title, ADB_DIAG_PASS, adb_mono_ms_f() - t0,
              json_pack("{s:s, s:s}", "principal", adb_krb_principal(R->krb), "valid_until", until), NULL,
              "TGT for %s, valid until %s", adb_krb_principal(R->krb), until);
}

void diag_kerberos_service(diag_run *R)
{
    const diag_dc *dc = diag_current_dc(R);
    adb_svcticket tk;
    adb_error e = { 0 };
    char title[300], fix[768];
    double t0 = adb_mono_ms_f();

    diag_title(R, title, sizeof title);
    adb_code c = adb_svcticket_get(R->krb, "ldap", dc->host, &tk, &e);
    if (c != ADB_OK) {
        if (c == ADB_E_KERBEROS && strstr(e.message, "does not know") != NULL)
            snprintf(fix, sizeof fix, "register ldap/%s on the DC's computer account (samba-tool spn add / "
                     "setspn -S), or make the SRV target the DC's real DNS name", dc->host);
        else
            diag_kerberos_fix(R, c, fix, sizeof fix);
        diag_emit(R, NULL, title, ADB_DIAG_FAIL, adb_mono_ms_f() - t0, NULL, fix, "%s", e.message);
        return;
    }
    diag_emit(R, NULL, title, ADB_DIAG_PASS, adb_mono_ms_f() - t0,
              json_pack("{s:s, s:s}", "server", tk.server, "enctype", tk.enctype), NULL, "%s (%s)", tk.server,
              tk.enctype);
}

/* The bound connection's rootDSE: the DC's name, naming context and levels. */
static void report_rootdse(diag_run *R, adb_ldap_conn *c, const adb_rootdse *rd, double t0)
{
    unsigned ssf = adb_ldap_ssf(c);
    bool supported = adb_level_supported(rd->domain_level) && adb_level_supported(rd->forest_level);
    json_t *det = json_pack("{s:i, s:s, s:s, s:i, s:s, s:i, s:s, s:b}", "ssf", (int)ssf, "dns_host_name",
                            rd->dns_host_name, "default_nc", rd->default_nc, "domain_level", rd->domain_level,
                            "domain_level_name", adb_level_name(rd->domain_level), "forest_level", rd->forest_level,
                            "forest_level_name", adb_level_name(rd->forest_level), "levels_supported", supported);
    if (!supported)
        diag_emit(R, NULL, NULL, ADB_DIAG_FAIL, adb_mono_ms_f() - t0, det,
                  "raise the domain and forest functional levels to Windows Server 2008 R2 or later (the oldest "
                  "adbridge supports)", "bound with SSF %u; functional levels domain %s, forest %s: unsupported",
                  ssf, adb_level_name(rd->domain_level), adb_level_name(rd->forest_level));
    else
        diag_emit(R, NULL, NULL, ADB_DIAG_PASS, adb_mono_ms_f() - t0, det, NULL,
                  "bound, %s; rootDSE of %s; levels domain %s, forest %s", adb_ldap_protection(c),
                  rd->dns_host_name, adb_level_name(rd->domain_level), adb_level_name(rd->forest_level));
}

/* Sealed bind, rootDSE, levels; the domain keeps the first connection for
 * the machine account's kvno. */
void diag_ldap(diag_run *R)
{
    const diag_dc *dc = diag_current_dc(R);
    adb_ldap_target tg = { .host = dc->host, .address = dc->addr, .port = 389 };
    adb_ldap_options lo = { .connect_timeout_ms = R->tmo, .op_timeout_ms = 2 * R->tmo, .tls = R->cfg->ldap.tls,
                            .ca_file = R->cfg->ldap.ca_file };
    adb_ldap_conn *c = NULL;
    adb_ldap_entry *ent = NULL;
    adb_rootdse rd;
    adb_error e = { 0 };
    char fix[768];
    double t0 = adb_mono_ms_f();

    adb_code code = adb_ldap_connect(&tg, R->krb, &lo, &c, &e);
    if (code != ADB_OK) {
        if (code == ADB_E_KERBEROS || code == ADB_E_CLOCK_SKEW)
            diag_kerberos_fix(R, code, fix, sizeof fix);
        else
            snprintf(fix, sizeof fix, "open TCP 389 from this host to %s and check that the DC accepts SASL GSSAPI "
                     "with signing and sealing", dc->addr);
        diag_emit(R, NULL, NULL, ADB_DIAG_FAIL, adb_mono_ms_f() - t0, json_pack("{s:s}", "code", adb_code_name(code)),
                  fix, "%s", e.message);
        return;
    }
    if (adb_ldap_read(c, "", NULL, adb_rootdse_attrs, &ent, &e) != ADB_OK
        || adb_rootdse_decode(ent, &rd, &e) != ADB_OK) {
        unsigned ssf = adb_ldap_ssf(c);
        snprintf(fix, sizeof fix, "check the DC %s's LDAP service (its log, samba-tool dbcheck)", dc->host);
        diag_emit(R, NULL, NULL, ADB_DIAG_FAIL, adb_mono_ms_f() - t0, json_pack("{s:i}", "ssf", (int)ssf), fix,
                  "bound (SSF %u), but the rootDSE read failed: %s", ssf, e.message);
        adb_ldap_entry_free(ent);
        adb_ldap_close(c);
        return;
    }
    adb_ldap_entry_free(ent);
    report_rootdse(R, c, &rd, t0);
    if (R->dom.ldap == NULL)
        R->dom.ldap = c;
    else
        adb_ldap_close(c);
}

static void default_nc_of(const char *domain, char *out, size_t size)
{
    size_t o = (size_t)snprintf(out, size, "DC=");
    for (const char *p = domain; *p && o + 4 < size; p++) {
        if (*p == '.')
            o += (size_t)snprintf(out + o, size - o, ",DC=");
        else
            out[o++] = *p, out[o] = '\0';
    }
}

/* msDS-KeyVersionNumber of the machine account, -1 when unread (e set). */
static int64_t account_kvno(adb_ldap_conn *c, const char *base, const char *sam, adb_error *e)
{
    static const char *const attrs[] = { "msDS-KeyVersionNumber", NULL };
    char *filter = NULL;
    adb_ldap_search *s = NULL;
    adb_ldap_entry *ent = NULL;
    int64_t kvno = -1;

    if (adb_filter_build(&filter, e, "(&(objectClass=computer)(sAMAccountName=%v))", sam) == ADB_OK
        && adb_ldap_search_begin(c, base, ADB_LDAP_SCOPE_SUBTREE, filter, attrs, 0, &s, e) == ADB_OK
        && adb_ldap_search_next(s, &ent, e) == ADB_OK && ent != NULL)
        adb_ldap_entry_int64(ent, "msDS-KeyVersionNumber", &kvno);
    adb_ldap_entry_free(ent);
    if (s != NULL)
        adb_ldap_search_end(s);
    free(filter);
    return kvno;
}

/* The keytab's kvno against the account's, over the domain's sealed bind. */
void diag_keytab_kvno(diag_run *R)
{
    char sam[256], fix[768], jd[256], base[512];
    adb_error e = { 0 };
    double t0 = adb_mono_ms_f();

    diag_account_name(R, sam, sizeof sam);
    default_nc_of(R->dom.cfg->name, base, sizeof base);
    int64_t kvno = account_kvno(R->dom.ldap, base, sam, &e);
    int mine = adb_krb_kvno(R->krb);
    if (kvno < 0) {
        snprintf(fix, sizeof fix, "check that the computer account %s exists in %s (re-join with adcli join if not)",
                 sam, diag_joined_domain(R, jd, sizeof jd));
        diag_emit(R, NULL, NULL, ADB_DIAG_WARN, adb_mono_ms_f() - t0, NULL, fix,
                  "cannot read msDS-KeyVersionNumber of %s%s%s", sam, e.message[0] ? ": " : "", e.message);
        return;
    }
    json_t *det = json_pack("{s:i, s:I}", "keytab", mine, "account", (json_int_t)kvno);
    if (kvno != mine) {
        snprintf(fix, sizeof fix, "run adcli update (or re-join with adcli join --domain=%s) so that the keytab "
                 "holds the account's current key", diag_joined_domain(R, jd, sizeof jd));
        diag_emit(R, NULL, NULL, ADB_DIAG_FAIL, adb_mono_ms_f() - t0, det, fix,
                  "keytab has kvno %d, the account %s has %lld", mine, sam, (long long)kvno);
        return;
    }
    diag_emit(R, NULL, NULL, ADB_DIAG_PASS, adb_mono_ms_f() - t0, det, NULL,
              "keytab kvno %d matches the account's msDS-KeyVersionNumber", mine);
}
