/* adbridge diagnose, the runner and its table of checks: see
 * include/adbridge/diagnose.h and diag_internal.h.
 *
 * The table reads top to bottom as a run does: configuration, DNS servers,
 * keytab and machine TGT; then per configured domain its DCs (located,
 * pinged and port-probed at once), its DNS records, per DC the CLDAP ping,
 * ports, clock, service ticket and sealed bind, the machine account's kvno
 * and the count of reachable DCs; then the topology and the cloud link. */
#include "config.h"

#include "diag_internal.h"

#include <adbridge/clock.h>

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum {
    CONFIGURED = NEED_CONFIG,                        /* every check but config.file */
    IN_DOMAIN = NEED_CONFIG | NEED_ENABLED,           /* every per-domain check but domain.enabled */
    ON_DC = IN_DOMAIN | NEED_LOCATED | NEED_PROBED,   /* every per-DC check */
};

static const diag_check checks[] = {
    /* { id, group, title }, how often, the check, what it needs, its skip verb */
    { { "config.file", ADB_DIAG_CONFIG, "configuration file" },
      DIAG_ONCE, diag_config_file, 0, NULL },
    { { "config.keytab", ADB_DIAG_CONFIG, "keytab file owner and mode" },
      DIAG_ONCE, diag_config_keytab, CONFIGURED, NULL },
    { { "config.state_dir", ADB_DIAG_CONFIG, "state directory owner and mode" },
      DIAG_ONCE, diag_config_state_dir, CONFIGURED, NULL },
    { { "config.subscriptions", ADB_DIAG_CONFIG, "use-for-subscriptions flags" },
      DIAG_ONCE, diag_config_subscriptions, CONFIGURED, NULL },
    { { "config.domain", ADB_DIAG_CONFIG, "the domain given to --domain" },
      DIAG_ONCE, diag_config_domain, CONFIGURED, NULL },
    { { "dns.server", ADB_DIAG_DNS, "DNS servers" },
      DIAG_ONCE, diag_dns_servers, CONFIGURED, NULL },
    { { "keytab", ADB_DIAG_KEYTAB, "keytab" },
      DIAG_ONCE, diag_keytab, CONFIGURED, NULL },
    { { "keytab.identity", ADB_DIAG_KEYTAB, "instance identity" },
      DIAG_ONCE, diag_keytab_identity, CONFIGURED | NEED_KEYTAB, NULL },
    { { "kerberos.tgt", ADB_DIAG_KERBEROS, "machine TGT" },
      DIAG_ONCE, diag_kerberos_tgt, CONFIGURED | NEED_KEYTAB, "not tried" },
    { { "domain.enabled", ADB_DIAG_TOPOLOGY, "domain used for subscriptions" },
      DIAG_PER_DOMAIN, diag_domain_enabled, CONFIGURED, NULL },
    { { "dns.addr", ADB_DIAG_DNS, "addresses of the pinned DCs" },
      DIAG_PER_DOMAIN, diag_dns_addr, IN_DOMAIN | NEED_LOCATED, NULL },
    { { "dc.filter", ADB_DIAG_CLDAP, "a DC matches --dc" },
      DIAG_PER_DOMAIN, diag_dc_filter, IN_DOMAIN | NEED_LOCATED, NULL },
    { { "dns.srv", ADB_DIAG_DNS, "SRV records of the domain, its forest and sites" },
      DIAG_PER_DOMAIN, diag_dns_srv, IN_DOMAIN | NEED_LOCATED | NEED_MATCHED | NEED_PROBED, NULL },
    { { "cldap", ADB_DIAG_CLDAP, "CLDAP ping" },
      DIAG_PER_DC, diag_cldap, ON_DC, NULL },
    { { "ports", ADB_DIAG_PORTS, "ports" },
      DIAG_PER_DC, diag_ports, ON_DC, NULL },
    { { "clock", ADB_DIAG_CLOCK, "clock skew" },
      DIAG_PER_DC, diag_clock, ON_DC | NEED_TCP389, "not tried" },
    /* a KDC question: the DC itself need not answer on TCP 389 */
    { { "kerberos.service", ADB_DIAG_KERBEROS, "ticket ldap/<dc>" },
      DIAG_PER_DC, diag_kerberos_service, ON_DC | NEED_TGT, "not tried" },
    { { "ldap", ADB_DIAG_LDAP, "sealed GSSAPI bind" },
      DIAG_PER_DC, diag_ldap, ON_DC | NEED_TCP389 | NEED_TGT, "not tried" },
    { { "keytab.kvno", ADB_DIAG_KEYTAB, "key version" },
      DIAG_PER_DOMAIN, diag_keytab_kvno, IN_DOMAIN | NEED_LOCATED | NEED_DCS | NEED_JOINED | NEED_LDAP,
      "not compared" },
    { { "domain.dcs", ADB_DIAG_TOPOLOGY, "reachable DCs" },
      DIAG_PER_DOMAIN, diag_domain_dcs, IN_DOMAIN | NEED_LOCATED | NEED_MATCHED | NEED_PROBED, NULL },
    { { "topology", ADB_DIAG_TOPOLOGY, "forests, domains, trusts" },
      DIAG_ONCE, diag_topology, CONFIGURED | NEED_ALL_DCS | NEED_TGT, "not read" },
    { { "topology.forest", ADB_DIAG_TOPOLOGY, "forests and their functional levels" },
      DIAG_ONCE, diag_topology_forests, CONFIGURED | NEED_TOPOLOGY, NULL },
    { { "topology.domain", ADB_DIAG_TOPOLOGY, "domains and their functional levels" },
      DIAG_ONCE, diag_topology_domains, CONFIGURED | NEED_TOPOLOGY, NULL },
    { { "topology.trust", ADB_DIAG_TOPOLOGY, "trusts" },
      DIAG_ONCE, diag_topology_trusts, CONFIGURED | NEED_TOPOLOGY, NULL },
    { { "cloud", ADB_DIAG_CLOUD, "cloud link" },
      DIAG_ONCE, diag_cloud, CONFIGURED, NULL },
};
#define N_CHECKS (sizeof checks / sizeof checks[0])

/* The groups, by ADB_DIAG_CONFIG .. ADB_DIAG_CLOUD. */
static const char *const group_names[] = { NULL, "config", "keytab", "dns", "cldap", "ports",
                                           "clock", "kerberos", "ldap", "topology", "cloud" };

/* Why a check was skipped, after its verb ("not tried: no machine TGT").
 * A need not listed here skips a check without a result. */
static const struct {
    unsigned need;
    const char *why;
    bool names_domain;       /* the domain's name follows */
} skip_reasons[] = {
    { NEED_ALL_DCS, " with --dc", false },
    { NEED_TCP389, ": the DC does not answer on TCP 389 (see ports)", false },
    { NEED_KEYTAB, ": the keytab is unusable", false },
    { NEED_TGT, ": no machine TGT", false },
    { NEED_LDAP, ": no sealed LDAP connection to a DC of ", true },
};

size_t adb_diag_check_count(void)
{
    return N_CHECKS;
}

const adb_diag_check_info *adb_diag_check_at(size_t i)
{
    return i < N_CHECKS ? &checks[i].info : NULL;
}

const char *adb_diag_group_name(int group)
{
    return group >= ADB_DIAG_CONFIG && group <= ADB_DIAG_CLOUD ? group_names[group] : NULL;
}

/* ---------------------------------------------------------------- helpers */

void diag_emit(diag_run *R, const diag_scope *sc, const char *title, adb_diag_status st, double ms, json_t *details,
               const char *fix, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (sc == NULL)
        sc = &R->at;
    adb_diag_item res = { .check = R->check->info.group, .id = R->check->info.id,
                          .title = title != NULL ? title : R->check->info.title, .forest = sc->forest,
                          .domain = sc->domain, .dc = sc->dc, .status = st, .ms = ms, .message = msg, .fix = fix,
                          .details = details };
    adb_diag_result *d = adb_diag_report_add(R->rep, &res);
    json_decref(details);
    if (d != NULL && R->o->progress != NULL)
        R->o->progress(d, R->o->progress_arg);
}

diag_dc *diag_current_dc(diag_run *R)
{
    return R->dom.at < R->dom.n ? &R->dom.dcs[R->dom.at] : NULL;
}

const char *diag_title(const diag_run *R, char *buf, size_t size)
{
    const char *t = R->check->info.title, *mark = strstr(t, "<dc>");

    if (mark == NULL || R->dom.at >= R->dom.n)
        return t;
    snprintf(buf, size, "%.*s%s%s", (int)(mark - t), t, R->dom.dcs[R->dom.at].host, mark + 4);
    return buf;
}

const char *diag_joined_domain(const diag_run *R, char *buf, size_t size)
{
    const char *realm = R->krb != NULL ? adb_krb_realm(R->krb) : NULL;
    size_t i;
    if (realm == NULL)
        return R->cfg->n_domains > 0 ? R->cfg->domains[0].name : "";
    for (i = 0; realm[i] != '\0' && i + 1 < size; i++)
        buf[i] = (char)tolower((unsigned char)realm[i]);
    buf[i] = '\0';
    return buf;
}

void diag_account_name(const diag_run *R, char *buf, size_t size)
{
    snprintf(buf, size, "%s", R->krb != NULL ? adb_krb_principal(R->krb) : "");
    char *at = strchr(buf, '@');
    if (at != NULL)
        *at = '\0';
}

/* ---------------------------------------------------------------- runner */

/* Provides what the runner provides (the DCs located, probed), then says
 * whether need holds. */
static bool need_holds(diag_run *R, unsigned need)
{
    diag_domain *D = &R->dom;
    const diag_dc *dc;
    char jd[256];

    switch (need) {
    case NEED_CONFIG: return R->cfg != NULL;
    case NEED_ENABLED: return diag_domain_used(R);
    case NEED_LOCATED: diag_locate_dcs(R); return D->located;
    case NEED_MATCHED: return D->n > 0 || D->n_known == 0;
    case NEED_PROBED: diag_probe_dcs(R); return D->probed;
    case NEED_DCS: return D->n > 0;
    case NEED_JOINED:
        return R->krb != NULL && strcasecmp(D->cfg->name, diag_joined_domain(R, jd, sizeof jd)) == 0;
    case NEED_ALL_DCS: return R->o->dc == NULL;
    case NEED_TCP389: return (dc = diag_current_dc(R)) != NULL && dc->tcp389;
    case NEED_KEYTAB: return R->krb != NULL;
    case NEED_TGT: return R->tgt_ok;
    case NEED_LDAP: return D->ldap != NULL;
    case NEED_TOPOLOGY: return R->topo != NULL;
    default: return false;
    }
}

static diag_scope scope_of(diag_run *R, diag_level level)
{
    diag_dc *dc = diag_current_dc(R);

    if (level == DIAG_ONCE)
        return (diag_scope){ 0 };
    return (diag_scope){ .forest = R->dom.forest, .domain = R->dom.cfg->name,
                         .dc = level == DIAG_PER_DC && dc != NULL ? dc->host : NULL };
}

/* The skip result of a check whose need failed, when the check reports one. */
static void report_skip(diag_run *R, unsigned need)
{
    char title[320];

    for (size_t i = 0; R->check->skipped != NULL && i < sizeof skip_reasons / sizeof skip_reasons[0]; i++)
        if (skip_reasons[i].need == need)
            diag_emit(R, NULL, diag_title(R, title, sizeof title), ADB_DIAG_SKIP, 0, NULL, NULL, "%s%s%s",
                      R->check->skipped, skip_reasons[i].why, skip_reasons[i].names_domain ? R->dom.cfg->name : "");
}

static void run_check(diag_run *R, const diag_check *c)
{
    unsigned unmet = 0;

    for (unsigned need = 1; need <= c->needs && unmet == 0; need <<= 1)
        if ((c->needs & need) != 0 && !need_holds(R, need))
            unmet = need;
    R->check = c;
    R->at = scope_of(R, c->level);
    if (unmet == 0)
        c->run(R);
    else
        report_skip(R, unmet);
}

static bool domain_begin(diag_run *R, const adb_domain_config *dcfg)
{
    diag_domain *D = &R->dom;

    *D = (diag_domain){ .cfg = dcfg, .ldap_srv.code = ADB_E_NOT_FOUND };
    D->dcs = calloc(DIAG_MAX_DCS, sizeof *D->dcs);
    D->pings = calloc(DIAG_MAX_DCS, sizeof *D->pings);
    D->probes = calloc(DIAG_MAX_DCS * DIAG_N_PROBES, sizeof *D->probes);
    return D->dcs != NULL && D->pings != NULL && D->probes != NULL;
}

static void domain_end(diag_run *R)
{
    diag_domain *D = &R->dom;

    adb_srv_result_free(&D->ldap_srv.res);
    if (D->ldap != NULL)
        adb_ldap_close(D->ldap);
    free(D->dcs);
    free(D->unresolved);
    free(D->pings);
    free(D->probes);
    *D = (diag_domain){ 0 };
}

/* The per-DC checks from first on, for every DC of the domain (none until
 * the domain's DCs are located); returns the row after them. */
static size_t run_per_dc(diag_run *R, size_t first)
{
    size_t end = first;

    while (end < N_CHECKS && checks[end].level == DIAG_PER_DC)
        end++;
    for (R->dom.at = 0; R->dom.at < R->dom.n; R->dom.at++)
        for (size_t i = first; i < end; i++)
            run_check(R, &checks[i]);
    return end;
}

/* The per-domain checks from first on (with the per-DC ones among them),
 * for every configured domain --domain selects; returns the row after them. */
static size_t run_per_domain(diag_run *R, size_t first)
{
    size_t end = first;

    while (end < N_CHECKS && checks[end].level != DIAG_ONCE)
        end++;
    for (size_t d = 0; R->cfg != NULL && d < R->cfg->n_domains; d++) {
        const adb_domain_config *dcfg = &R->cfg->domains[d];
        if (R->o->domain != NULL && strcasecmp(dcfg->name, R->o->domain) != 0)
            continue;
        if (domain_begin(R, dcfg)) {
            for (size_t i = first; i < end;)
                if (checks[i].level == DIAG_PER_DC)
                    i = run_per_dc(R, i);
                else
                    run_check(R, &checks[i++]);
        }
        domain_end(R);
    }
    return end;
}

adb_code adb_diagnose_run(const char *config_path, const adb_diag_options *opts, adb_diag_report **out,
                          adb_error *err)
{
    diag_run R = { 0 };
    double t0 = adb_mono_ms_f();

    if (config_path == NULL || opts == NULL || out == NULL)
        return adb_error_set(err, ADB_E_INVALID_REQUEST, "diagnose: a configuration path and options are needed");
    R.o = opts;
    R.tmo = opts->timeout_ms > 0 ? opts->timeout_ms : DIAG_DEFAULT_TIMEOUT_MS;
    if ((R.rep = adb_diag_report_new(R.tmo)) == NULL || (R.rep->config_path = strdup(config_path)) == NULL) {
        adb_diag_report_free(R.rep);
        return adb_error_set(err, ADB_E_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < N_CHECKS;)
        if (checks[i].level == DIAG_ONCE)
            run_check(&R, &checks[i++]);
        else
            i = run_per_domain(&R, i);
    R.rep->duration_ms = adb_mono_ms_f() - t0;
    adb_topology_unref(R.topo);
    adb_dir_free(R.dir);
    adb_krb_free(R.krb);
    adb_subscriptions_free(R.subs);
    adb_config_free(R.cfg);
    *out = R.rep;
    return ADB_OK;
}
