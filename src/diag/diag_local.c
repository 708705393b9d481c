/* adbridge diagnose, the checks of this host alone: the configuration file,
 * the keytab's and the state directory's owner and mode, the
 * use-for-subscriptions flags, --domain, the keytab's keys and the instance
 * identity (clone detection). */
#include "config.h"

#include "diag_internal.h"

#include <adbridge/clock.h>
#include <adbridge/fileio.h>
#include <adbridge/identity.h>

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Loads the configuration every other check reads. */
void diag_config_file(diag_run *R)
{
    const char *path = R->rep->config_path;
    adb_error e = { 0 };
    double t0 = adb_mono_ms_f();
    char fix[768];

    if (adb_config_load(path, &R->cfg, &e) != ADB_OK) {
        R->cfg = NULL;
        snprintf(fix, sizeof fix, "correct %s (see schemas/config.schema.json), then run adbridge diagnose again",
                 path);
        diag_emit(R, NULL, path, ADB_DIAG_FAIL, adb_mono_ms_f() - t0, NULL, fix, "%s", e.message);
        return;
    }
    size_t ns = R->cfg->n_dns_servers < DIAG_MAX_DNS_SERVERS ? R->cfg->n_dns_servers : DIAG_MAX_DNS_SERVERS;
    for (size_t i = 0; i < ns; i++)
        R->dns_servers[i] = R->cfg->dns_servers[i];
    R->dns = (adb_dns_options){ .servers = ns ? R->dns_servers : NULL, .n_servers = ns, .timeout_ms = R->tmo };
    diag_emit(R, NULL, path, ADB_DIAG_PASS, adb_mono_ms_f() - t0,
              json_pack("{s:i, s:i, s:b}", "domains", (int)R->cfg->n_domains, "dns_servers",
                        (int)R->cfg->n_dns_servers, "broker", R->cfg->broker.url != NULL),
              NULL, "valid: %zu domain(s), %s", R->cfg->n_domains,
              R->cfg->n_dns_servers ? "explicit DNS servers" : "DNS from resolv.conf");
}

/* The keytab and the state directory: the same checks (fileio.h) as
 * adbridged's start-up, which refuses what fails here. */
static void report_permissions(diag_run *R, const char *path, void (*check)(const char *, adb_perm_check *))
{
    adb_perm_check pc;
    char mode[16];
    json_t *details = NULL;
    double t0 = adb_mono_ms_f();

    check(path, &pc);
    double ms = adb_mono_ms_f() - t0;
    if (pc.mode != 0) {
        snprintf(mode, sizeof mode, "%04o", pc.mode);
        details = json_pack("{s:s}", "mode", mode);
    }
    if (pc.verdict == ADB_PERM_OK)
        diag_emit(R, NULL, path, ADB_DIAG_PASS, ms, details, NULL, "%s", pc.message);
    else
        diag_emit(R, NULL, path, pc.verdict == ADB_PERM_WARN ? ADB_DIAG_WARN : ADB_DIAG_FAIL, ms, details, pc.fix,
                  "%s", pc.message);
}

void diag_config_keytab(diag_run *R)
{
    report_permissions(R, R->cfg->keytab, adb_check_keytab);
}

void diag_config_state_dir(diag_run *R)
{
    report_permissions(R, R->cfg->state_dir, adb_check_state_dir);
}

void diag_config_subscriptions(diag_run *R)
{
    adb_error e = { 0 };
    double t0 = adb_mono_ms_f();
    char fix[768];

    if (adb_subscriptions_open(R->cfg, &R->subs, &e) != ADB_OK) {
        R->subs = NULL;
        snprintf(fix, sizeof fix, "repair or remove %s/" ADB_SUBSCRIPTIONS_FILE
                 " (removing it restores the flags of the configuration)", R->cfg->state_dir);
        diag_emit(R, NULL, ADB_SUBSCRIPTIONS_FILE, ADB_DIAG_FAIL, adb_mono_ms_f() - t0, NULL, fix, "%s", e.message);
        return;
    }
    diag_emit(R, NULL, ADB_SUBSCRIPTIONS_FILE, ADB_DIAG_PASS, adb_mono_ms_f() - t0, NULL, NULL,
              "use-for-subscriptions flags readable (%s)", adb_subscriptions_path(R->subs));
}

/* A result only when --domain names no configured domain. */
void diag_config_domain(diag_run *R)
{
    const char *want = R->o->domain;
    char fix[512];

    if (want == NULL)
        return;
    for (size_t i = 0; i < R->cfg->n_domains; i++)
        if (strcasecmp(R->cfg->domains[i].name, want) == 0)
            return;
    snprintf(fix, sizeof fix, "add %s to \"domains\" in %s, or check the name given to --domain", want,
             R->rep->config_path);
    diag_scope sc = { .domain = want };
    diag_emit(R, &sc, want, ADB_DIAG_FAIL, 0, NULL, fix, "%s is not a configured domain", want);
}

/* Loads the machine account's keys every Kerberos check uses. */
void diag_keytab(diag_run *R)
{
    adb_error e = { 0 };
    char fix[768];
    double t0 = adb_mono_ms_f();

    if (adb_krb_new(R->cfg->keytab, R->cfg->machine_principal, &R->krb, &e) != ADB_OK) {
        R->krb = NULL;
        diag_kerberos_fix(R, ADB_E_KEYTAB, fix, sizeof fix);
        diag_emit(R, NULL, R->cfg->keytab, ADB_DIAG_FAIL, adb_mono_ms_f() - t0, NULL, fix, "%s", e.message);
        return;
    }
    diag_emit(R, NULL, R->cfg->keytab, ADB_DIAG_PASS, adb_mono_ms_f() - t0,
              json_pack("{s:s, s:i}", "principal", adb_krb_principal(R->krb), "kvno", adb_krb_kvno(R->krb)), NULL,
              "principal %s, key version %d", adb_krb_principal(R->krb), adb_krb_kvno(R->krb));
}

/* The instance identity (identity.h): keys made on another machine, or for
 * another machine account, mean a clone, which adbridged refuses to serve. */
void diag_keytab_identity(diag_run *R)
{
    const char *princ = adb_krb_principal(R->krb);
    double t0 = adb_mono_ms_f();
    adb_identity_state st;
    adb_identity rec;
    adb_error e = { 0 };
    char when[32];

    if (adb_identity_check(R->cfg->state_dir, princ, &st, &rec, &e) != ADB_OK) {
        diag_emit(R, NULL, NULL, ADB_DIAG_FAIL, adb_mono_ms_f() - t0, NULL,
                  "adbridge key reset (a new key pair bound to this machine)", "%s", e.message);
        return;
    }
    if (st == ADB_IDENTITY_UNBOUND) {
        diag_emit(R, NULL, NULL, ADB_DIAG_PASS, adb_mono_ms_f() - t0, NULL, NULL,
                  "not bound yet: adbridged binds its keys to this machine and %s at its first start", princ);
        return;
    }
    if (adb_identity_explain(R->cfg->state_dir, st, &rec, princ, &e) != ADB_OK) {
        diag_emit(R, NULL, NULL, ADB_DIAG_FAIL, adb_mono_ms_f() - t0,
                  json_pack("{s:s, s:s}", "recorded_principal", rec.principal, "reason",
                            st == ADB_IDENTITY_OTHER_MACHINE ? "machine_id" : "principal"),
                  "adbridge key reset, then register the new public key with the cloud", "%s", e.message);
        return;
    }
    diag_utc_text(rec.bound, when, sizeof when);
    diag_emit(R, NULL, NULL, ADB_DIAG_PASS, adb_mono_ms_f() - t0,
              json_pack("{s:s, s:s}", "principal", rec.principal, "bound", when), NULL,
              "the instance keys belong to this machine and %s (since %s)", rec.principal, when);
}
