/* adbridge diagnose, the checks engine: see include/adbridge/diagnose.h.
 *
 * Reads top to bottom: configuration, keytab, DNS servers, machine TGT, then
 * per configured domain (SRV discovery; CLDAP pings and port probes of all
 * its DCs at once; DNS records; per reachable DC clock, service ticket and
 * sealed bind; the machine account's kvno; reachable DC count), then the
 * topology and the cloud link.  Each finding is one result; the progress
 * callback sees it at once. */
#include "config.h"

#include <adbridge/clock.h>
#include <adbridge/cldap.h>
#include <adbridge/config.h>
#include <adbridge/dctime.h>
#include <adbridge/diagnose.h>
#include <adbridge/directory.h>
#include <adbridge/dns.h>
#include <adbridge/fileio.h>
#include <adbridge/filter.h>
#include <adbridge/identity.h>
#include <adbridge/krb.h>
#include <adbridge/ldap_conn.h>
#include <adbridge/link.h>
#include <adbridge/netlogon.h>
#include <adbridge/portprobe.h>
#include <adbridge/subscriptions.h>
#include <adbridge/svcticket.h>
#include <adbridge/topology.h>

#include <ctype.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum {
    DEFAULT_TIMEOUT_MS = 3000,
    SKEW_WARN_S = 120,          /* warn above 2 minutes */
    SKEW_FAIL_S = 300,          /* Kerberos' default maximum skew */
    MAX_DCS = 64,
};

/* The connector port table (DESIGN/CONTEXT): TCP, then UDP where a probe can tell. */
static const uint16_t tcp_ports[] = { 53, 88, 135, 389, 445, 464, 636, 3268, 3269 };
#define N_TCP (sizeof tcp_ports / sizeof tcp_ports[0])
#define N_PROBES (N_TCP + 2)    /* + UDP 53 (DNS query), UDP 88 (AS-REQ); UDP 389 is the CLDAP ping */

/* ---------------------------------------------------------------- report */

const char *adb_diag_status_name(adb_diag_status s)
{
    switch (s) {
    case ADB_DIAG_PASS: return "pass";
    case ADB_DIAG_WARN: return "warn";
    case ADB_DIAG_FAIL: return "fail";
    default: return "skip";
    }
}

static void utc_text(time_t t, char *buf, size_t size)
{
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL || strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(buf, size, "1970-01-01T00:00:00Z");
}

adb_diag_report *adb_diag_report_new(int timeout_ms)
{
    adb_diag_report *r = calloc(1, sizeof *r);
    if (r == NULL)
        return NULL;
    r->timeout_ms = timeout_ms > 0 ? timeout_ms : DEFAULT_TIMEOUT_MS;
    utc_text(time(NULL), r->started, sizeof r->started);
    return r;
}

static char *dup_or_null(const char *s)
{
    return s != NULL ? strdup(s) : NULL;
}

adb_diag_result *adb_diag_report_add(adb_diag_report *r, const adb_diag_item *res)
{
    if (r == NULL || res == NULL)
        return NULL;
    if (r->n == r->cap_) {
        size_t cap = r->cap_ ? r->cap_ * 2 : 32;
        adb_diag_result *p = realloc(r->results, cap * sizeof *p);
        if (p == NULL)
            return NULL;
        r->results = p;
        r->cap_ = cap;
    }
    adb_diag_result *d = &r->results[r->n];
    *d = (adb_diag_result){
        .check = res->check, .id = dup_or_null(res->id), .title = dup_or_null(res->title),
        .forest = dup_or_null(res->forest), .domain = dup_or_null(res->domain), .dc = dup_or_null(res->dc),
        .status = res->status, .ms = res->ms, .message = dup_or_null(res->message ? res->message : ""),
        .fix = dup_or_null(res->fix), .details = res->details != NULL ? json_incref(res->details) : NULL,
    };
    r->n++;
    return d;
}

void adb_diag_report_free(adb_diag_report *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->n; i++) {
        adb_diag_result *d = &r->results[i];
        free(d->id), free(d->title), free(d->forest), free(d->domain), free(d->dc);
        free(d->message), free(d->fix);
        json_decref(d->details);
    }
    free(r->results);
    free(r->config_path);
    free(r);
}

void adb_diag_counts(const adb_diag_report *r, size_t counts[4])
{
    counts[0] = counts[1] = counts[2] = counts[3] = 0;
    for (size_t i = 0; r != NULL && i < r->n; i++)
        if ((unsigned)r->results[i].status < 4)
            counts[r->results[i].status]++;
}

adb_diag_status adb_diag_overall(const adb_diag_report *r)
{
    size_t c[4];
    adb_diag_counts(r, c);
    return c[ADB_DIAG_FAIL] ? ADB_DIAG_FAIL : c[ADB_DIAG_WARN] ? ADB_DIAG_WARN : ADB_DIAG_PASS;
}

int adb_diag_exit_code(const adb_diag_report *r)
{
    adb_diag_status s = adb_diag_overall(r);
    return s == ADB_DIAG_FAIL ? 2 : s == ADB_DIAG_WARN ? 1 : 0;
}

static json_t *str_or_null(const char *s)
{
    return s != NULL ? json_string(s) : json_null();
}

json_t *adb_diag_report_to_json(const adb_diag_report *r)
{
    static const char *const check_names[] = { "", "config", "keytab", "dns", "cldap", "ports",
                                               "clock", "kerberos", "ldap", "topology", "cloud" };
    json_t *checks = json_array();
    size_t c[4];

    for (size_t i = 0; i < r->n; i++) {
        const adb_diag_result *d = &r->results[i];
        int k = d->check >= 1 && d->check <= 10 ? d->check : 0;
        json_t *o = json_object();
        json_object_set_new(o, "check", json_integer(k));
        json_object_set_new(o, "group", json_string(check_names[k]));
        json_object_set_new(o, "id", json_string(d->id ? d->id : ""));
        json_object_set_new(o, "title", json_string(d->title ? d->title : ""));
        json_object_set_new(o, "forest", str_or_null(d->forest));
        json_object_set_new(o, "domain", str_or_null(d->domain));
        json_object_set_new(o, "dc", str_or_null(d->dc));
        json_object_set_new(o, "status", json_string(adb_diag_status_name(d->status)));
        json_object_set_new(o, "ms", json_real(d->ms >= 0 ? d->ms : 0));
        json_object_set_new(o, "message", json_string(d->message ? d->message : ""));
        json_object_set_new(o, "fix", str_or_null(d->fix));
        json_object_set_new(o, "details", d->details ? json_incref(d->details) : json_object());
        json_array_append_new(checks, o);
    }
    adb_diag_counts(r, c);
    return json_pack("{s:i, s:s, s:s?, s:f, s:i, s:s, s:i, s:{s:I, s:I, s:I, s:I}, s:o}", "version", 1, "started",
                     r->started, "config", r->config_path, "duration_ms", r->duration_ms, "timeout_ms",
                     r->timeout_ms, "status", adb_diag_status_name(adb_diag_overall(r)), "exit_code",
                     adb_diag_exit_code(r), "summary", "pass", (json_int_t)c[0], "warn", (json_int_t)c[1], "fail",
                     (json_int_t)c[2], "skip", (json_int_t)c[3], "checks", checks);
}

/* ---------------------------------------------------------------- engine */

typedef struct run {
    adb_diag_report *rep;
    const adb_diag_options *o;
    int tmo;
    adb_config *cfg;
    adb_subscriptions *subs;
    adb_krb *krb;             /* NULL when the keytab is unusable */
    bool tgt_ok;
    adb_code tgt_code;
    const char *dns_servers[16];
    adb_dns_options dns;
} run;

typedef struct scope {
    const char *forest, *domain, *dc;
} scope;

static const scope GLOBAL = { 0 };

/* Records one result and shows it to the progress callback; takes details. */
/* One result: recorded in the report and shown by the progress callback. */
__attribute__((format(printf, 10, 0)))
static void vemit(run *R, const scope *sc, int check, const char *id, const char *title, adb_diag_status st,
                  double ms, json_t *details, const char *fix, const char *fmt, va_list ap)
{
    char msg[1024];

    vsnprintf(msg, sizeof msg, fmt, ap);
    adb_diag_item res = { .check = check, .id = id, .title = title, .forest = sc->forest, .domain = sc->domain,
                          .dc = sc->dc, .status = st, .ms = ms, .message = msg, .fix = fix, .details = details };
    adb_diag_result *d = adb_diag_report_add(R->rep, &res);
    json_decref(details);
    if (d != NULL && R->o->progress != NULL)
        R->o->progress(d, R->o->progress_arg);
}

__attribute__((format(printf, 9, 10)))
static void emit(run *R, const scope *sc, int check, const char *id, const char *title, adb_diag_status st,
                 double ms, json_t *details, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vemit(R, sc, check, id, title, st, ms, details, NULL, fmt, ap);
    va_end(ap);
}

/* emit with a fix: the form every warn and fail uses. */
__attribute__((format(printf, 10, 11)))
static void emit_fix(run *R, const scope *sc, int check, const char *id, const char *title, adb_diag_status st,
                     double ms, json_t *details, const char *fix, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vemit(R, sc, check, id, title, st, ms, details, fix, fmt, ap);
    va_end(ap);
}

static const char NTP_FIX[] = "sync the clock with NTP (chronyc makestep / timedatectl set-ntp true)";

static void realm_of(const char *domain, char *out, size_t size)
{
    size_t i;
    for (i = 0; domain[i] != '\0' && i + 1 < size; i++)
        out[i] = (char)toupper((unsigned char)domain[i]);
    out[i] = '\0';
}

static const char *joined_domain(const run *R, char *buf, size_t size)
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

/* The fix for a Kerberos failure, by its code. */
static void kerberos_fix(run *R, adb_code code, const char *kdcs, char *fix, size_t size)
{
    char jd[256];
    const char *dom = joined_domain(R, jd, sizeof jd);

    if (code == ADB_E_CLOCK_SKEW)
        snprintf(fix, size, "%s; the domain controllers of %s are the time source", NTP_FIX, dom);
    else if (code == ADB_E_DC_UNAVAILABLE || code == ADB_E_TIMEOUT)
        snprintf(fix, size, "open TCP and UDP 88 from this host to the KDCs of %s%s%s, or fix the realm's kdc "
                 "entries in krb5.conf", dom, kdcs ? " " : "", kdcs ? kdcs : "");
    else
        snprintf(fix, size, "re-join with adcli join --domain=%s (or restore the keytab %s), or run adcli update "
                 "if the account's password changed", dom, R->cfg->keytab);
}

/* ---- check 1: configuration ---- */

static void emit_perm(run *R, const char *id, const char *title, const adb_perm_check *pc, double ms)
{
    char mode[16];
    json_t *details = NULL;

    if (pc->mode != 0) {
        snprintf(mode, sizeof mode, "%04o", pc->mode);
        details = json_pack("{s:s}", "mode", mode);
    }
    if (pc->verdict == ADB_PERM_OK)
        emit(R, &GLOBAL, ADB_DIAG_CONFIG, id, title, ADB_DIAG_PASS, ms, details, "%s", pc->message);
    else
        emit_fix(R, &GLOBAL, ADB_DIAG_CONFIG, id, title, pc->verdict == ADB_PERM_WARN ? ADB_DIAG_WARN : ADB_DIAG_FAIL,
                 ms, details, pc->fix, "%s", pc->message);
}

static bool check_config(run *R, const char *path)
{
    adb_error e = { 0 };
    double t0 = adb_mono_ms_f();
    char fix[768];

    if (adb_config_load(path, &R->cfg, &e) != ADB_OK) {
        snprintf(fix, sizeof fix, "correct %s (see schemas/config.schema.json), then run adbridge diagnose again",
                 path);
        emit_fix(R, &GLOBAL, ADB_DIAG_CONFIG, "config.file", path, ADB_DIAG_FAIL, adb_mono_ms_f() - t0, NULL, fix, "%s",
                 e.message);
        return false;
    }
    emit(R, &GLOBAL, ADB_DIAG_CONFIG, "config.file", path, ADB_DIAG_PASS, adb_mono_ms_f() - t0,
         json_pack("{s:i, s:i, s:b}", "domains", (int)R->cfg->n_domains, "dns_servers", (int)R->cfg->n_dns_servers,
                   "broker", R->cfg->broker.url != NULL),
         "valid: %zu domain(s), %s", R->cfg->n_domains,
         R->cfg->n_dns_servers ? "explicit DNS servers" : "DNS from resolv.conf");

    /* The keytab and the state directory: the same checks (fileio.h) as
     * adbridged's start-up, which refuses what fails here. */
    adb_perm_check pc;
    t0 = adb_mono_ms_f();
    adb_check_keytab(R->cfg->keytab, &pc);
    emit_perm(R, "config.keytab", R->cfg->keytab, &pc, adb_mono_ms_f() - t0);
    t0 = adb_mono_ms_f();
    adb_check_state_dir(R->cfg->state_dir, &pc);
    emit_perm(R, "config.state_dir", R->cfg->state_dir, &pc, adb_mono_ms_f() - t0);
    t0 = adb_mono_ms_f();
    if (adb_subscriptions_open(R->cfg, &R->subs, &e) != ADB_OK) {
        snprintf(fix, sizeof fix, "repair or remove %s/" ADB_SUBSCRIPTIONS_FILE
                 " (removing it restores the flags of the configuration)", R->cfg->state_dir);
        emit_fix(R, &GLOBAL, ADB_DIAG_CONFIG, "config.subscriptions", ADB_SUBSCRIPTIONS_FILE, ADB_DIAG_FAIL,
                 adb_mono_ms_f() - t0, NULL, fix, "%s", e.message);
    } else {
        emit(R, &GLOBAL, ADB_DIAG_CONFIG, "config.subscriptions", ADB_SUBSCRIPTIONS_FILE, ADB_DIAG_PASS,
             adb_mono_ms_f() - t0, NULL, "use-for-subscriptions flags readable (%s)", adb_subscriptions_path(R->subs));
    }
    return true;
}

/* ---- check 2 (keytab) and 7 (TGT) ---- */

/* The instance identity (identity.h): keys made on another machine, or for
 * another machine account, mean a clone, which adbridged refuses to serve. */
static void check_identity(run *R)
{
    const char *princ = adb_krb_principal(R->krb);
    double t0 = adb_mono_ms_f();
    adb_identity_state st;
    adb_identity rec;
    adb_error e = { 0 };
    char when[32];

    if (adb_identity_check(R->cfg->state_dir, princ, &st, &rec, &e) != ADB_OK) {
        emit_fix(R, &GLOBAL, ADB_DIAG_KEYTAB, "keytab.identity", "instance identity", ADB_DIAG_FAIL,
                 adb_mono_ms_f() - t0, NULL, "adbridge key reset (a new key pair bound to this machine)", "%s",
                 e.message);
        return;
    }
    if (st == ADB_IDENTITY_UNBOUND) {
        emit(R, &GLOBAL, ADB_DIAG_KEYTAB, "keytab.identity", "instance identity", ADB_DIAG_PASS, adb_mono_ms_f() - t0,
             NULL, "not bound yet: adbridged binds its keys to this machine and %s at its first start", princ);
        return;
    }
    if (adb_identity_explain(R->cfg->state_dir, st, &rec, princ, &e) != ADB_OK) {
        emit_fix(R, &GLOBAL, ADB_DIAG_KEYTAB, "keytab.identity", "instance identity", ADB_DIAG_FAIL,
                 adb_mono_ms_f() - t0, json_pack("{s:s, s:s}", "recorded_principal", rec.principal, "reason",
                                                st == ADB_IDENTITY_OTHER_MACHINE ? "machine_id" : "principal"),
                 "adbridge key reset, then register the new public key with the cloud", "%s", e.message);
        return;
    }
    utc_text(rec.bound, when, sizeof when);
    emit(R, &GLOBAL, ADB_DIAG_KEYTAB, "keytab.identity", "instance identity", ADB_DIAG_PASS, adb_mono_ms_f() - t0,
         json_pack("{s:s, s:s}", "principal", rec.principal, "bound", when),
         "the instance keys belong to this machine and %s (since %s)", rec.principal, when);
}

static void check_keytab_and_tgt(run *R)
{
    adb_error e = { 0 };
    char fix[768], jd[256];
    double t0 = adb_mono_ms_f();

    if (adb_krb_new(R->cfg->keytab, R->cfg->machine_principal, &R->krb, &e) != ADB_OK) {
        R->krb = NULL;
        kerberos_fix(R, ADB_E_KEYTAB, NULL, fix, sizeof fix);
        emit_fix(R, &GLOBAL, ADB_DIAG_KEYTAB, "keytab", R->cfg->keytab, ADB_DIAG_FAIL, adb_mono_ms_f() - t0, NULL, fix,
                 "%s", e.message);
        emit(R, &GLOBAL, ADB_DIAG_KERBEROS, "kerberos.tgt", "machine TGT", ADB_DIAG_SKIP, 0, NULL,
             "not tried: the keytab is unusable");
        return;
    }
    emit(R, &GLOBAL, ADB_DIAG_KEYTAB, "keytab", R->cfg->keytab, ADB_DIAG_PASS, adb_mono_ms_f() - t0,
         json_pack("{s:s, s:i}", "principal", adb_krb_principal(R->krb), "kvno", adb_krb_kvno(R->krb)),
         "principal %s, key version %d", adb_krb_principal(R->krb), adb_krb_kvno(R->krb));
    check_identity(R);

    t0 = adb_mono_ms_f();
    char title[300];
    snprintf(title, sizeof title, "machine TGT (%s)", joined_domain(R, jd, sizeof jd));
    const scope sc = GLOBAL;
    R->tgt_code = adb_krb_refresh(R->krb, true, &e);
    R->tgt_ok = R->tgt_code == ADB_OK;
    if (!R->tgt_ok) {
        kerberos_fix(R, R->tgt_code, NULL, fix, sizeof fix);
        emit_fix(R, &sc, ADB_DIAG_KERBEROS, "kerberos.tgt", title, ADB_DIAG_FAIL, adb_mono_ms_f() - t0,
                 json_pack("{s:s}", "code", adb_code_name(R->tgt_code)), fix, "%s", e.message);
        return;
    }
    char until[32];
    utc_text(adb_krb_expiry(R->krb), until, sizeof until);
    emit(R, &sc, ADB_DIAG_KERBEROS, "kerberos.tgt", title, ADB_DIAG_PASS, adb_mono_ms_f() - t0,
         json_pack("{s:s, s:s}", "principal", adb_krb_principal(R->krb), "valid_until", until),
         "TGT for %s, valid until %s", adb_krb_principal(R->krb), until);
}

/* ---- check 3: the DNS servers themselves ---- */

static void check_dns_servers(run *R)
{
    char name[300], fix[768];
    const char *probe_domain = R->cfg->n_domains > 0 ? R->cfg->domains[0].name : "adbridge.invalid";
    adb_error e;

    snprintf(name, sizeof name, "_ldap._tcp.%s", probe_domain);
    size_t n = R->cfg->n_dns_servers ? R->cfg->n_dns_servers : 1;
    for (size_t i = 0; i < n; i++) {
        const char *srv = R->cfg->n_dns_servers ? R->cfg->dns_servers[i] : NULL;
        adb_dns_options one = { .servers = srv ? &srv : NULL, .n_servers = srv ? 1 : 0, .timeout_ms = R->tmo };
        adb_srv_result res = { 0 };
        char title[300];
        double t0 = adb_mono_ms_f();

        snprintf(title, sizeof title, "DNS server %s", srv ? srv : "(resolv.conf)");
        memset(&e, 0, sizeof e);
        adb_code c = adb_dns_srv(&one, name, &res, &e);
        adb_srv_result_free(&res);
        /* Any answer, NXDOMAIN included, shows the server is there. */
        if (c == ADB_OK || c == ADB_E_NOT_FOUND) {
            emit(R, &GLOBAL, ADB_DIAG_DNS, "dns.server", title, ADB_DIAG_PASS, adb_mono_ms_f() - t0,
                 json_pack("{s:s, s:s}", "server", srv ? srv : "resolv.conf", "query", name), "answers (%s: %s)",
                 name, c == ADB_OK ? "records found" : "no such name");
        } else {
            if (srv)
                snprintf(fix, sizeof fix, "open UDP and TCP 53 from this host to %s, or correct \"dns_servers\" in %s",
                         srv, R->cfg->path);
            else
                snprintf(fix, sizeof fix, "fix the nameservers of /etc/resolv.conf, or set \"dns_servers\" in %s to "
                         "DNS servers of the AD domains", R->cfg->path);
            emit_fix(R, &GLOBAL, ADB_DIAG_DNS, "dns.server", title, ADB_DIAG_FAIL, adb_mono_ms_f() - t0,
                     json_pack("{s:s, s:s}", "server", srv ? srv : "resolv.conf", "query", name), fix, "%s",
                     e.message);
        }
    }
}

/* One SRV query, asked now and reported later (once the forest is known). */
typedef struct srv_outcome {
    adb_code code;
    adb_error err;
    double ms;
    adb_srv_result res;
} srv_outcome;

static void srv_query(run *R, const char *name, srv_outcome *o)
{
    double t0 = adb_mono_ms_f();
    memset(o, 0, sizeof *o);
    o->code = adb_dns_srv(&R->dns, name, &o->res, &o->err);
    o->ms = adb_mono_ms_f() - t0;
}

/* Reports an SRV query: pass with its targets, fail naming the query. */
static bool srv_report(run *R, const scope *sc, const char *name, const char *what, const srv_outcome *o)
{
    const adb_srv_result res = o->res;
    const adb_error e = o->err;
    adb_code c = o->code;
    double ms = o->ms;
    char title[320], fix[768];

    snprintf(title, sizeof title, "SRV %s", name);
    if (c != ADB_OK) {
        if (c == ADB_E_NOT_FOUND)
            snprintf(fix, sizeof fix, "check the domain name \"%s\" in %s, and that the DNS servers serve the AD "
                     "zone (the DCs' DNS, or a conditional forwarder to it)", sc->domain, R->cfg->path);
        else
            snprintf(fix, sizeof fix, "make the DNS servers (%s) answer for %s: open UDP/TCP 53 to them, or point "
                     "\"dns_servers\" in %s at the DCs' DNS", R->cfg->n_dns_servers ? R->cfg->dns_servers[0]
                     : "resolv.conf", sc->domain, R->cfg->path);
        emit_fix(R, sc, ADB_DIAG_DNS, "dns.srv", title, ADB_DIAG_FAIL, ms,
                 json_pack("{s:s, s:s, s:s}", "query", name, "purpose", what, "code", adb_code_name(c)), fix,
                 "%s", e.message);
        return false;
    }
    json_t *targets = json_array();
    char unresolved[512] = "", list[512] = "";
    size_t lo = 0, uo = 0;
    for (size_t i = 0; i < res.n; i++) {
        adb_srv_target *t = &res.targets[i];
        json_t *addrs = json_array();
        for (size_t j = 0; j < t->n_addrs; j++)
            json_array_append_new(addrs, json_string(t->addrs[j]));
        json_array_append_new(targets, json_pack("{s:s, s:i, s:i, s:i, s:o}", "host", t->host, "port", t->port,
                                                 "priority", t->priority, "weight", t->weight, "addresses", addrs));
        if (t->n_addrs == 0 && uo < sizeof unresolved)
            uo += (size_t)snprintf(unresolved + uo, sizeof unresolved - uo, "%s%s", uo ? ", " : "", t->host);
        if (lo < sizeof list)
            lo += (size_t)snprintf(list + lo, sizeof list - lo, "%s%s:%u", lo ? ", " : "", t->host, t->port);
    }
    json_t *det = json_pack("{s:s, s:s, s:o}", "query", name, "purpose", what, "targets", targets);
    if (unresolved[0] != '\0') {
        snprintf(fix, sizeof fix, "add A records for %s (or have the DCs re-register: samba_dnsupdate / "
                 "ipconfig /registerdns)", unresolved);
        emit_fix(R, sc, ADB_DIAG_DNS, "dns.srv", title, ADB_DIAG_FAIL, ms, det, fix,
                 "%zu target(s); no address for %s", res.n, unresolved);
    } else {
        emit(R, sc, ADB_DIAG_DNS, "dns.srv", title, ADB_DIAG_PASS, ms, det, "%zu target(s): %s", res.n, list);
    }
    return true;
}

static void check_srv(run *R, const scope *sc, const char *name, const char *what)
{
    srv_outcome o;
    srv_query(R, name, &o);
    srv_report(R, sc, name, what, &o);
    adb_srv_result_free(&o.res);
}

/* ---- per domain ---- */

typedef struct dcinfo {
    char host[256];
    char addr[64];
    adb_port_probe probes[N_PROBES];
    bool tcp389;
    bool reachable;           /* CLDAP answered and TCP 389 open */
} dcinfo;

typedef struct ping_job {
    adb_cldap_ping *pings;
    size_t n;
    const char *domain;
    int tmo;
    adb_code code;
    adb_error err;
} ping_job;

static void *ping_thread(void *arg)
{
    ping_job *j = arg;
    j->code = adb_cldap_ping_all(j->pings, j->n, j->domain, j->tmo, &j->err);
    return NULL;
}

static bool dc_selected(const run *R, const char *host, const char *addr)
{
    const char *want = R->o->dc;
    size_t wl;
    if (want == NULL)
        return true;
    wl = strlen(want);
    return strcasecmp(want, host) == 0 || strcmp(want, addr) == 0
           || (strncasecmp(want, host, wl) == 0 && host[wl] == '.');
}

static const char *port_label(const adb_port_probe *p, char *buf, size_t size)
{
    snprintf(buf, size, "%s %u", p->kind == ADB_PROBE_TCP ? "TCP" : "UDP", p->port);
    return buf;
}

static void check_ports(run *R, const scope *sc, dcinfo *dc, const adb_cldap_ping *ping, double ms)
{
    char closed[256] = "", fix[768], lab[16];
    size_t co = 0, n_closed = 0;
    json_t *ports = json_array();

    for (size_t i = 0; i < N_PROBES; i++) {
        const adb_port_probe *p = &dc->probes[i];
        bool ok = p->state == ADB_PORT_OPEN;
        json_array_append_new(ports, json_pack("{s:s, s:i, s:s, s:s, s:o, s:s}", "protocol",
                                               p->kind == ADB_PROBE_TCP ? "tcp" : "udp", "port", p->port, "state",
                                               adb_port_state_name(p->state), "status", ok ? "pass" : "fail",
                                               "rtt_ms", ok ? json_real(p->rtt_us / 1000.0) : json_null(), "error",
                                               p->error));
        if (!ok) {
            n_closed++;
            if (co < sizeof closed)
                co += (size_t)snprintf(closed + co, sizeof closed - co, "%s%s (%s)", co ? ", " : "",
                                       port_label(p, lab, sizeof lab), adb_port_state_name(p->state));
        }
    }
    bool udp389 = ping->code == ADB_OK;
    json_array_append_new(ports, json_pack("{s:s, s:i, s:s, s:s, s:o, s:s}", "protocol", "udp", "port", 389, "state",
                                           udp389 ? "open" : ping->code == ADB_E_TIMEOUT ? "timeout" : "closed",
                                           "status", udp389 ? "pass" : "fail", "rtt_ms",
                                           udp389 ? json_real(ping->rtt_us / 1000.0) : json_null(), "error",
                                           udp389 ? "" : ping->error));
    if (!udp389) {
        n_closed++;
        if (co < sizeof closed)
            co += (size_t)snprintf(closed + co, sizeof closed - co, "%sUDP 389 (CLDAP)", co ? ", " : "");
    }
    json_t *det = json_pack("{s:s, s:o}", "address", dc->addr, "ports", ports);
    char title[300];
    snprintf(title, sizeof title, "ports of %s", dc->addr);
    if (n_closed == 0) {
        emit(R, sc, ADB_DIAG_PORTS, "ports", title, ADB_DIAG_PASS, ms, det,
             "open: TCP 53 88 135 389 445 464 636 3268 3269, UDP 53 88 389");
        return;
    }
    if (n_closed == N_PROBES + 1) {
        snprintf(fix, sizeof fix, "start the DC %s (%s) or restore the network path from this host to it",
                 dc->host, dc->addr);
        emit_fix(R, sc, ADB_DIAG_PORTS, "ports", title, ADB_DIAG_FAIL, ms, det, fix,
                 "no port answers: %s", closed);
        return;
    }
    /* "open TCP 636, UDP 88 from this host to 10.231.1.11" */
    char list[200] = "";
    size_t lo = 0;
    for (size_t i = 0; i < N_PROBES && lo < sizeof list; i++)
        if (dc->probes[i].state != ADB_PORT_OPEN)
            lo += (size_t)snprintf(list + lo, sizeof list - lo, "%s%s", lo ? ", " : "",
                                   port_label(&dc->probes[i], lab, sizeof lab));
    if (!udp389 && lo < sizeof list)
        snprintf(list + lo, sizeof list - lo, "%sUDP 389", lo ? ", " : "");
    snprintf(fix, sizeof fix, "open %s from this host to %s (firewalls on the way and on the DC), or start the "
             "service behind it", list, dc->addr);
    emit_fix(R, sc, ADB_DIAG_PORTS, "ports", title, ADB_DIAG_FAIL, ms, det, fix, "not reachable: %s", closed);
}

static void check_clock(run *R, const scope *sc, const dcinfo *dc)
{
    adb_dctime t;
    adb_error e = { 0 };
    char fix[768], local[32], dct[32];
    double t0 = adb_mono_ms_f();

    if (adb_dctime_read(dc->addr, 389, R->tmo, &t, &e) != ADB_OK) {
        snprintf(fix, sizeof fix, "open TCP 389 from this host to %s; then run adbridge diagnose again", dc->addr);
        emit_fix(R, sc, ADB_DIAG_CLOCK, "clock", "clock skew", ADB_DIAG_FAIL, adb_mono_ms_f() - t0, NULL, fix,
                 "cannot read the DC's time: %s", e.message);
        return;
    }
    long skew = (long)difftime(t.local, t.dc);     /* positive: this host is ahead */
    long mag = skew < 0 ? -skew : skew;
    utc_text(t.local, local, sizeof local);
    utc_text(t.dc, dct, sizeof dct);
    json_t *det = json_pack("{s:s, s:s, s:I, s:f}", "dc_time", dct, "local_time", local, "skew_s", (json_int_t)skew,
                            "rtt_ms", t.rtt_ms);
    if (mag <= SKEW_WARN_S) {
        emit(R, sc, ADB_DIAG_CLOCK, "clock", "clock skew", ADB_DIAG_PASS, adb_mono_ms_f() - t0, det,
             "%ld s (DC %s)", skew, dct);
        return;
    }
    snprintf(fix, sizeof fix, "%s — the DC says %s, this host says %s", NTP_FIX, dct, local);
    emit_fix(R, sc, ADB_DIAG_CLOCK, "clock", "clock skew", mag > SKEW_FAIL_S ? ADB_DIAG_FAIL : ADB_DIAG_WARN,
             adb_mono_ms_f() - t0, det, fix, "this host is %ld s %s the DC (%s: Kerberos allows %d s)", mag,
             skew > 0 ? "ahead of" : "behind", mag > SKEW_FAIL_S ? "too much" : "close to the limit", SKEW_FAIL_S);
}

static void check_service_ticket(run *R, const scope *sc, const dcinfo *dc)
{
    adb_svcticket tk;
    adb_error e = { 0 };
    char title[300], fix[768];
    double t0 = adb_mono_ms_f();

    snprintf(title, sizeof title, "ticket ldap/%s", dc->host);
    if (!R->tgt_ok) {
        emit(R, sc, ADB_DIAG_KERBEROS, "kerberos.service", title, ADB_DIAG_SKIP, 0, NULL,
             "not tried: no machine TGT");
        return;
    }
    adb_code c = adb_svcticket_get(R->krb, "ldap", dc->host, &tk, &e);
    if (c != ADB_OK) {
        if (c == ADB_E_KERBEROS && strstr(e.message, "does not know") != NULL)
            snprintf(fix, sizeof fix, "register ldap/%s on the DC's computer account (samba-tool spn add / "
                     "setspn -S), or make the SRV target the DC's real DNS name", dc->host);
        else
            kerberos_fix(R, c, NULL, fix, sizeof fix);
        emit_fix(R, sc, ADB_DIAG_KERBEROS, "kerberos.service", title, ADB_DIAG_FAIL, adb_mono_ms_f() - t0, NULL, fix,
                 "%s", e.message);
        return;
    }
    emit(R, sc, ADB_DIAG_KERBEROS, "kerberos.service", title, ADB_DIAG_PASS, adb_mono_ms_f() - t0,
         json_pack("{s:s, s:s}", "server", tk.server, "enctype", tk.enctype), "%s (%s)", tk.server, tk.enctype);
}

/* Reads the machine account's msDS-KeyVersionNumber and compares. */
static void check_kvno(run *R, const scope *sc, adb_ldap_conn *c, const char *base)
{
    static const char *const attrs[] = { "msDS-KeyVersionNumber", NULL };
    char sam[256], fix[768], jd[256];
    adb_error e = { 0 };
    char *filter = NULL;
    adb_ldap_search *s = NULL;
    adb_ldap_entry *ent = NULL;
    int64_t kvno = -1;
    double t0 = adb_mono_ms_f();

    snprintf(sam, sizeof sam, "%s", adb_krb_principal(R->krb));
    char *at = strchr(sam, '@');
    if (at != NULL)
        *at = '\0';
    if (adb_filter_build(&filter, &e, "(&(objectClass=computer)(sAMAccountName=%v))", sam) == ADB_OK
        && adb_ldap_search_begin(c, base, ADB_LDAP_SCOPE_SUBTREE, filter, attrs, 0, &s, &e) == ADB_OK
        && adb_ldap_search_next(s, &ent, &e) == ADB_OK && ent != NULL)
        adb_ldap_entry_int64(ent, "msDS-KeyVersionNumber", &kvno);
    adb_ldap_entry_free(ent);
    if (s != NULL)
        adb_ldap_search_end(s);
    free(filter);
    int mine = adb_krb_kvno(R->krb);
    if (kvno < 0) {
        snprintf(fix, sizeof fix, "check that the computer account %s exists in %s (re-join with adcli join if not)",
                 sam, joined_domain(R, jd, sizeof jd));
        emit_fix(R, sc, ADB_DIAG_KEYTAB, "keytab.kvno", "key version", ADB_DIAG_WARN, adb_mono_ms_f() - t0, NULL, fix,
                 "cannot read msDS-KeyVersionNumber of %s%s%s", sam, e.message[0] ? ": " : "", e.message);
    } else if (kvno != mine) {
        snprintf(fix, sizeof fix, "run adcli update (or re-join with adcli join --domain=%s) so that the keytab "
                 "holds the account's current key", joined_domain(R, jd, sizeof jd));
        emit_fix(R, sc, ADB_DIAG_KEYTAB, "keytab.kvno", "key version", ADB_DIAG_FAIL, adb_mono_ms_f() - t0,
                 json_pack("{s:i, s:I}", "keytab", mine, "account", (json_int_t)kvno), fix,
                 "keytab has kvno %d, the account %s has %lld", mine, sam, (long long)kvno);
    } else {
        emit(R, sc, ADB_DIAG_KEYTAB, "keytab.kvno", "key version", ADB_DIAG_PASS, adb_mono_ms_f() - t0,
             json_pack("{s:i, s:I}", "keytab", mine, "account", (json_int_t)kvno),
             "keytab kvno %d matches the account's msDS-KeyVersionNumber", mine);
    }
}

/* Sealed bind, rootDSE, levels; returns the connection for more reads. */
static adb_ldap_conn *check_ldap(run *R, const scope *sc, const dcinfo *dc)
{
    adb_ldap_target tg = { .host = dc->host, .address = dc->addr, .port = 389 };
    adb_ldap_options lo = { .connect_timeout_ms = R->tmo, .op_timeout_ms = 2 * R->tmo, .tls = R->cfg->ldap.tls,
                            .ca_file = R->cfg->ldap.ca_file };
    adb_ldap_conn *c = NULL;
    adb_ldap_entry *ent = NULL;
    adb_rootdse rd;
    adb_error e = { 0 };
    char fix[768];
    double t0 = adb_mono_ms_f();

    if (!R->tgt_ok) {
        emit(R, sc, ADB_DIAG_LDAP, "ldap", "sealed GSSAPI bind", ADB_DIAG_SKIP, 0, NULL, "not tried: no machine TGT");
        return NULL;
    }
    adb_code code = adb_ldap_connect(&tg, R->krb, &lo, &c, &e);
    if (code != ADB_OK) {
        if (code == ADB_E_KERBEROS || code == ADB_E_CLOCK_SKEW)
            kerberos_fix(R, code, NULL, fix, sizeof fix);
        else
            snprintf(fix, sizeof fix, "open TCP 389 from this host to %s and check that the DC accepts SASL GSSAPI "
                     "with signing and sealing", dc->addr);
        emit_fix(R, sc, ADB_DIAG_LDAP, "ldap", "sealed GSSAPI bind", ADB_DIAG_FAIL, adb_mono_ms_f() - t0,
                 json_pack("{s:s}", "code", adb_code_name(code)), fix, "%s", e.message);
        return NULL;
    }
    unsigned ssf = adb_ldap_ssf(c);
    if (adb_ldap_read(c, "", NULL, adb_rootdse_attrs, &ent, &e) != ADB_OK
        || adb_rootdse_decode(ent, &rd, &e) != ADB_OK) {
        snprintf(fix, sizeof fix, "check the DC %s's LDAP service (its log, samba-tool dbcheck)", dc->host);
        emit_fix(R, sc, ADB_DIAG_LDAP, "ldap", "sealed GSSAPI bind", ADB_DIAG_FAIL, adb_mono_ms_f() - t0,
                 json_pack("{s:i}", "ssf", (int)ssf), fix, "bound (SSF %u), but the rootDSE read failed: %s", ssf,
                 e.message);
        adb_ldap_entry_free(ent);
        adb_ldap_close(c);
        return NULL;
    }
    adb_ldap_entry_free(ent);
    json_t *det = json_pack("{s:i, s:s, s:s, s:i, s:s, s:i, s:s, s:b}", "ssf", (int)ssf, "dns_host_name",
                            rd.dns_host_name, "default_nc", rd.default_nc, "domain_level", rd.domain_level,
                            "domain_level_name", adb_level_name(rd.domain_level), "forest_level", rd.forest_level,
                            "forest_level_name", adb_level_name(rd.forest_level), "levels_supported",
                            adb_level_supported(rd.domain_level) && adb_level_supported(rd.forest_level));
    if (!adb_level_supported(rd.domain_level) || !adb_level_supported(rd.forest_level)) {
        snprintf(fix, sizeof fix, "raise the domain and forest functional levels to Windows Server 2008 R2 or later "
                 "(the oldest adbridge supports)");
        emit_fix(R, sc, ADB_DIAG_LDAP, "ldap", "sealed GSSAPI bind", ADB_DIAG_FAIL, adb_mono_ms_f() - t0, det, fix,
                 "bound with SSF %u; functional levels domain %s, forest %s: unsupported", ssf,
                 adb_level_name(rd.domain_level), adb_level_name(rd.forest_level));
    } else {
        emit(R, sc, ADB_DIAG_LDAP, "ldap", "sealed GSSAPI bind", ADB_DIAG_PASS, adb_mono_ms_f() - t0, det,
             "bound, %s; rootDSE of %s; levels domain %s, forest %s", adb_ldap_protection(c), rd.dns_host_name,
             adb_level_name(rd.domain_level), adb_level_name(rd.forest_level));
    }
    return c;   /* the caller may read the machine account's kvno on it */
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

/* DCs of a domain: the pinned list, else its _ldap._tcp SRV records. */
static size_t domain_dcs(run *R, const adb_domain_config *dcfg, const scope *sc, dcinfo *dcs, srv_outcome *srv)
{
    char name[300];
    size_t n = 0;

    if (dcfg->n_dcs > 0) {
        for (size_t i = 0; i < dcfg->n_dcs && n < MAX_DCS; i++) {
            char addr[46];
            adb_error e = { 0 };
            double t0 = adb_mono_ms_f();
            if (adb_dns_addr(&R->dns, dcfg->dcs[i], addr, &e) != ADB_OK) {
                char fix[512], title[300];
                snprintf(title, sizeof title, "A %s", dcfg->dcs[i]);
                snprintf(fix, sizeof fix, "add an A record for %s, or pin its address in \"dcs\" of %s",
                         dcfg->dcs[i], R->cfg->path);
                emit_fix(R, sc, ADB_DIAG_DNS, "dns.addr", title, ADB_DIAG_FAIL, adb_mono_ms_f() - t0, NULL, fix, "%s",
                         e.message);
                continue;
            }
            snprintf(dcs[n].host, sizeof dcs[n].host, "%s", dcfg->dcs[i]);
            snprintf(dcs[n].addr, sizeof dcs[n].addr, "%s", addr);
            n++;
        }
        return n;
    }
    snprintf(name, sizeof name, "_ldap._tcp.%s", dcfg->name);
    srv_query(R, name, srv);
    if (srv->code != ADB_OK) {       /* no forest to group it under: report now */
        srv_report(R, sc, name, "domain controllers", srv);
        return 0;
    }
    for (size_t i = 0; i < srv->res.n && n < MAX_DCS; i++) {
        if (srv->res.targets[i].n_addrs == 0)
            continue;
        snprintf(dcs[n].host, sizeof dcs[n].host, "%s", srv->res.targets[i].host);
        snprintf(dcs[n].addr, sizeof dcs[n].addr, "%s", srv->res.targets[i].addrs[0]);
        n++;
    }
    return n;
}

static void check_domain(run *R, const adb_domain_config *dcfg)
{
    scope sc = { .forest = NULL, .domain = dcfg->name };
    dcinfo *dcs = calloc(MAX_DCS, sizeof *dcs);
    adb_cldap_ping *pings = calloc(MAX_DCS, sizeof *pings);
    adb_port_probe *probes = calloc(MAX_DCS * N_PROBES, sizeof *probes);
    srv_outcome srv = { .code = ADB_E_NOT_FOUND };
    char forest[256], realm[256], principal_short[256] = "", name[400], fix[768], jd[256];
    adb_error e = { 0 };

    if (dcs == NULL || pings == NULL || probes == NULL)
        goto out;
    if (R->subs != NULL && !adb_subscriptions_enabled(R->subs, dcfg->name)) {
        emit(R, &sc, ADB_DIAG_TOPOLOGY, "domain.enabled", dcfg->name, ADB_DIAG_SKIP, 0, NULL,
             "not used for subscriptions: not contacted (adbridge domain enable %s to use it)", dcfg->name);
        goto out;
    }
    /* The forest is known after the pings; hold the results until then so
     * that they come grouped under it. */
    size_t n_all = domain_dcs(R, dcfg, &sc, dcs, &srv);
    size_t n = 0;
    for (size_t i = 0; i < n_all; i++)
        if (dc_selected(R, dcs[i].host, dcs[i].addr))
            dcs[n++] = dcs[i];
    if (n == 0) {
        if (n_all > 0)
            emit(R, &sc, ADB_DIAG_CLDAP, "dc.filter", R->o->dc, ADB_DIAG_SKIP, 0, NULL,
                 "no DC of %s matches --dc %s", dcfg->name, R->o->dc);
        else
            emit_fix(R, &sc, ADB_DIAG_TOPOLOGY, "domain.dcs", "reachable DCs", ADB_DIAG_FAIL, 0, NULL,
                     "fix the DNS checks of this domain above", "no DC of %s is known", dcfg->name);
        goto out;
    }
    realm_of(dcfg->name, realm, sizeof realm);
    if (R->krb != NULL) {
        snprintf(principal_short, sizeof principal_short, "%s", adb_krb_principal(R->krb));
        char *at = strchr(principal_short, '@');
        if (at != NULL)
            *at = '\0';
    }
    for (size_t i = 0; i < n; i++) {
        pings[i].address = dcs[i].addr;
        for (size_t k = 0; k < N_PROBES; k++) {
            adb_port_probe *p = &dcs[i].probes[k];
            p->address = dcs[i].addr;
            if (k < N_TCP) {
                p->kind = ADB_PROBE_TCP;
                p->port = tcp_ports[k];
            } else {
                p->kind = k == N_TCP ? ADB_PROBE_UDP_DNS : ADB_PROBE_UDP_KDC;
                p->port = k == N_TCP ? 53 : 88;
                p->realm = realm;
                p->client = principal_short[0] ? principal_short : NULL;
            }
        }
    }
    /* CLDAP pings and port probes at once: one timeout for a dead DC. */
    ping_job pj = { .pings = pings, .n = n, .domain = dcfg->name, .tmo = R->tmo };
    pthread_t th;
    bool threaded = pthread_create(&th, NULL, ping_thread, &pj) == 0;
    if (!threaded)
        ping_thread(&pj);
    double t0 = adb_mono_ms_f();
    for (size_t i = 0; i < n; i++)
        memcpy(&probes[i * N_PROBES], dcs[i].probes, sizeof dcs[i].probes);
    adb_port_probe_all(probes, n * N_PROBES, R->tmo, &e);
    for (size_t i = 0; i < n; i++)
        memcpy(dcs[i].probes, &probes[i * N_PROBES], sizeof dcs[i].probes);
    double ports_ms = adb_mono_ms_f() - t0;
    if (threaded)
        pthread_join(th, NULL);
    double ping_ms = adb_mono_ms_f() - t0;

    snprintf(forest, sizeof forest, "%s", dcfg->name);
    for (size_t i = 0; i < n; i++)
        if (pings[i].code == ADB_OK && pings[i].reply.forest[0] != '\0') {
            snprintf(forest, sizeof forest, "%s", pings[i].reply.forest);
            break;
        }
    sc.forest = forest;

    /* check 3: the domain's records */
    if (dcfg->n_dcs == 0) {
        snprintf(name, sizeof name, "_ldap._tcp.%s", dcfg->name);
        srv_report(R, &sc, name, "domain controllers", &srv);
    }
    snprintf(name, sizeof name, "_kerberos._tcp.%s", dcfg->name);
    check_srv(R, &sc, name, "Kerberos KDCs");
    snprintf(name, sizeof name, "_gc._tcp.%s", forest);
    check_srv(R, &sc, name, "global catalogs of the forest");
    char sites[8][64];
    size_t n_sites = 0;
    for (size_t i = 0; i < n; i++) {
        const char *cand[2] = { pings[i].reply.dc_site, pings[i].reply.client_site };
        if (pings[i].code != ADB_OK)
            continue;
        for (int k = 0; k < 2; k++) {
            bool seen = cand[k][0] == '\0';
            for (size_t j = 0; j < n_sites && !seen; j++)
                seen = strcasecmp(sites[j], cand[k]) == 0;
            if (!seen && n_sites < 8)
                snprintf(sites[n_sites++], sizeof sites[0], "%s", cand[k]);
        }
    }
    for (size_t j = 0; j < n_sites; j++) {
        snprintf(name, sizeof name, "_ldap._tcp.%s._sites.%s", sites[j], dcfg->name);
        check_srv(R, &sc, name, "domain controllers of a site");
    }

    /* checks 4-8 per DC */
    size_t reachable = 0;
    char reach_list[512] = "", down_list[512] = "";
    size_t ro = 0, dn = 0;
    adb_ldap_conn *kvno_conn = NULL;
    for (size_t i = 0; i < n; i++) {
        dcinfo *dc = &dcs[i];
        adb_cldap_ping *pg = &pings[i];
        scope dsc = { .forest = forest, .domain = dcfg->name, .dc = dc->host };
        char title[300], flags[512];

        snprintf(title, sizeof title, "CLDAP ping %s", dc->addr);
        if (pg->code == ADB_OK) {
            adb_netlogon *r = &pg->reply;
            bool closest = (r->flags & ADB_DS_CLOSEST) != 0
                           || (r->dc_site[0] && strcasecmp(r->dc_site, r->client_site) == 0);
            emit(R, &dsc, ADB_DIAG_CLDAP, "cldap", title, ADB_DIAG_PASS, pg->rtt_us / 1000.0,
                 json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:s, s:f}", "address", dc->addr, "host", r->host,
                           "forest", r->forest, "site", r->dc_site, "client_site", r->client_site, "closest",
                           closest, "flags", adb_netlogon_flags_text(r->flags, flags, sizeof flags), "rtt_ms",
                           pg->rtt_us / 1000.0),
                 "site %s%s, client site %s, %.2f ms, flags %s", r->dc_site[0] ? r->dc_site : "?",
                 closest ? " (closest)" : "", r->client_site[0] ? r->client_site : "?", pg->rtt_us / 1000.0,
                 flags);
        } else {
            snprintf(fix, sizeof fix, "open UDP 389 from this host to %s and check that the DC %s is running",
                     dc->addr, dc->host);
            emit_fix(R, &dsc, ADB_DIAG_CLDAP, "cldap", title, ADB_DIAG_FAIL, ping_ms,
                     json_pack("{s:s, s:s}", "address", dc->addr, "code", adb_code_name(pg->code)), fix, "%s",
                     pg->error);
        }
        check_ports(R, &dsc, dc, pg, ports_ms);
        dc->tcp389 = dc->probes[3].state == ADB_PORT_OPEN;
        dc->reachable = dc->tcp389 && pg->code == ADB_OK;
        if (dc->reachable) {
            reachable++;
            if (ro < sizeof reach_list)
                ro += (size_t)snprintf(reach_list + ro, sizeof reach_list - ro, "%s%s", ro ? ", " : "", dc->host);
        } else if (dn < sizeof down_list) {
            dn += (size_t)snprintf(down_list + dn, sizeof down_list - dn, "%s%s", dn ? ", " : "", dc->host);
        }
        if (!dc->tcp389) {
            const char *why = "not tried: the DC does not answer on TCP 389 (see ports)";
            emit(R, &dsc, ADB_DIAG_CLOCK, "clock", "clock skew", ADB_DIAG_SKIP, 0, NULL, "%s", why);
            check_service_ticket(R, &dsc, dc);    /* a KDC question: the DC itself need not be up */
            emit(R, &dsc, ADB_DIAG_LDAP, "ldap", "sealed GSSAPI bind", ADB_DIAG_SKIP, 0, NULL, "%s", why);
            continue;
        }
        check_clock(R, &dsc, dc);
        check_service_ticket(R, &dsc, dc);
        adb_ldap_conn *c = check_ldap(R, &dsc, dc);
        if (c != NULL && kvno_conn == NULL)
            kvno_conn = c;
        else if (c != NULL)
            adb_ldap_close(c);
    }

    /* check 2 (second half): the keytab's kvno against the account's, in the joined domain */
    if (R->krb != NULL && strcasecmp(dcfg->name, joined_domain(R, jd, sizeof jd)) == 0) {
        scope ksc = { .forest = forest, .domain = dcfg->name };
        if (kvno_conn != NULL) {
            char base[512];
            default_nc_of(dcfg->name, base, sizeof base);
            check_kvno(R, &ksc, kvno_conn, base);
        } else {
            emit(R, &ksc, ADB_DIAG_KEYTAB, "keytab.kvno", "key version", ADB_DIAG_SKIP, 0, NULL,
                 "not compared: no sealed LDAP connection to a DC of %s", dcfg->name);
        }
    }
    if (kvno_conn != NULL)
        adb_ldap_close(kvno_conn);

    /* check 9 (per domain): the seeds ask every forest to stay reachable through a failure */
    json_t *det = json_pack("{s:i, s:i}", "reachable", (int)reachable, "known", (int)n);
    if (reachable >= 2) {
        emit(R, &sc, ADB_DIAG_TOPOLOGY, "domain.dcs", "reachable DCs", ADB_DIAG_PASS, 0, det,
             "%zu of %zu DCs reachable: %s", reachable, n, reach_list);
    } else if (reachable == 1) {
        if (n > 1)
            snprintf(fix, sizeof fix, "bring back %s (see its checks above), so that %s survives the loss of one DC",
                     down_list, dcfg->name);
        else
            snprintf(fix, sizeof fix, "add a second DC to %s (or make another one reachable from this host), so "
                     "that the domain survives the loss of one DC", dcfg->name);
        emit_fix(R, &sc, ADB_DIAG_TOPOLOGY, "domain.dcs", "reachable DCs", ADB_DIAG_WARN, 0, det, fix,
                 "one DC reachable (%s) of %zu%s", reach_list, n, R->o->dc ? " selected with --dc" : "");
    } else {
        snprintf(fix, sizeof fix, "make a DC of %s reachable from this host (see the ports and CLDAP checks above)",
                 dcfg->name);
        emit_fix(R, &sc, ADB_DIAG_TOPOLOGY, "domain.dcs", "reachable DCs", ADB_DIAG_FAIL, 0, det, fix,
                 "no DC of %s is reachable (tried %s)", dcfg->name, down_list);
    }
out:
    adb_srv_result_free(&srv.res);
    free(dcs);
    free(pings);
    free(probes);
}

/* ---- check 9: topology ---- */

static void check_topology(run *R)
{
    adb_dir_options dopt = { 0 };
    adb_dir *d = NULL;
    adb_topology *t = NULL;
    adb_error e = { 0 };
    char fix[768];
    double t0 = adb_mono_ms_f();

    if (!R->tgt_ok) {
        emit(R, &GLOBAL, ADB_DIAG_TOPOLOGY, "topology", "forests, domains, trusts", ADB_DIAG_SKIP, 0, NULL,
             "not read: no machine TGT");
        return;
    }
    dopt.pool.ldap.connect_timeout_ms = R->tmo;
    dopt.pool.ldap.op_timeout_ms = 2 * R->tmo;
    dopt.pool.acquire_timeout_ms = 2 * R->tmo;
    if (adb_dir_open(R->cfg, R->o->log, &dopt, &d, &e) != ADB_OK || adb_dir_topology(d, true, &t, &e) != ADB_OK) {
        snprintf(fix, sizeof fix, "fix the failures above (DNS, Kerberos, LDAP), then run adbridge diagnose again");
        emit_fix(R, &GLOBAL, ADB_DIAG_TOPOLOGY, "topology", "forests, domains, trusts", ADB_DIAG_FAIL,
                 adb_mono_ms_f() - t0, NULL, fix, "%s", e.message);
        adb_dir_free(d);
        return;
    }
    double ms = adb_mono_ms_f() - t0;
    adb_subscriptions *subs = adb_dir_subscriptions(d);
    emit(R, &GLOBAL, ADB_DIAG_TOPOLOGY, "topology", "forests, domains, trusts", ADB_DIAG_PASS, ms,
         adb_topology_to_json(t, subs), "%zu forest(s), %zu domain(s), %zu trust(s); joined domain %s", t->n_forests,
         t->n_domains, t->n_trusts, t->joined ? t->joined : "?");
    for (size_t i = 0; i < t->n_forests; i++) {
        const adb_topo_forest *f = &t->forests[i];
        scope sc = { .forest = f->root };
        char title[300];
        snprintf(title, sizeof title, "forest %s", f->root);
        if (f->error != NULL) {
            snprintf(fix, sizeof fix, "see the checks of the domains of %s above; the forest is read through their DCs",
                     f->root);
            emit_fix(R, &sc, ADB_DIAG_TOPOLOGY, "topology.forest", title, ADB_DIAG_FAIL, 0, NULL, fix, "%s",
                     f->error);
        } else if (!adb_level_supported(f->level)) {
            emit_fix(R, &sc, ADB_DIAG_TOPOLOGY, "topology.forest", title, ADB_DIAG_FAIL, 0, NULL,
                     "raise the forest functional level to Windows Server 2008 R2 or later",
                     "forest functional level %s is not supported", adb_level_name(f->level));
        } else {
            emit(R, &sc, ADB_DIAG_TOPOLOGY, "topology.forest", title, ADB_DIAG_PASS, 0,
                 json_pack("{s:b, s:b, s:s}", "own", f->own, "contacted", f->contacted, "level", adb_level_name(f->level)),
                 "%s forest, level %s%s", f->own ? "own" : "trusted", adb_level_name(f->level),
                 f->contacted ? "" : " (not contacted)");
        }
    }
    for (size_t i = 0; i < t->n_domains; i++) {
        const adb_topo_domain *dm = &t->domains[i];
        if (R->o->domain != NULL && strcasecmp(R->o->domain, dm->dns) != 0)
            continue;
        scope sc = { .forest = dm->forest, .domain = dm->dns };
        bool enabled = adb_subscriptions_enabled(subs, dm->dns);
        char title[300];
        snprintf(title, sizeof title, "domain %s", dm->dns);
        json_t *det = json_pack("{s:s?, s:b, s:b, s:b, s:s}", "netbios", dm->netbios, "use_for_subscriptions",
                                enabled, "configured", dm->configured, "contacted", dm->contacted, "level",
                                adb_level_name(dm->level));
        if (enabled && dm->error != NULL) {
            snprintf(fix, sizeof fix, "see the checks of %s above (DNS, ports, Kerberos, LDAP)", dm->dns);
            emit_fix(R, &sc, ADB_DIAG_TOPOLOGY, "topology.domain", title, ADB_DIAG_FAIL, 0, det, fix,
                     "used for subscriptions, but unreadable: %s", dm->error);
        } else if (enabled && !adb_level_supported(dm->level)) {
            emit_fix(R, &sc, ADB_DIAG_TOPOLOGY, "topology.domain", title, ADB_DIAG_FAIL, 0, det,
                     "raise the domain functional level to Windows Server 2008 R2 or later",
                     "domain functional level %s is not supported", adb_level_name(dm->level));
        } else {
            emit(R, &sc, ADB_DIAG_TOPOLOGY, "topology.domain", title, ADB_DIAG_PASS, 0, det,
                 "%s (%s), level %s%s", enabled ? "used for subscriptions" : "not used for subscriptions",
                 dm->netbios ? dm->netbios : "?", adb_level_name(dm->level),
                 enabled ? "" : " (adbridge domain enable to use it)");
        }
    }
    for (size_t i = 0; i < t->n_trusts; i++) {
        const adb_topo_trust *tr = &t->trusts[i];
        char title[600];
        const adb_topo_domain *own = adb_topology_domain(t, tr->domain);
        scope sc = { .forest = own != NULL ? own->forest : NULL, .domain = tr->domain };
        if (R->o->domain != NULL && strcasecmp(R->o->domain, tr->domain) != 0)
            continue;
        snprintf(title, sizeof title, "trust %s -> %s", tr->domain, tr->partner);
        emit(R, &sc, ADB_DIAG_TOPOLOGY, "topology.trust", title, ADB_DIAG_PASS, 0,
             json_pack("{s:s, s:s, s:i, s:i}", "partner", tr->partner, "direction",
                       adb_trust_direction_name(tr->direction), "type", (int)tr->type, "attributes",
                       (int)tr->attributes),
             "%s, %s%s", adb_trust_direction_name(tr->direction),
             tr->attributes & ADB_TRUST_ATTR_FOREST_TRANSITIVE ? "forest trust" : "external trust",
             tr->attributes & ADB_TRUST_ATTR_WITHIN_FOREST ? " (within the forest)" : "");
    }
    adb_topology_unref(t);
    adb_dir_free(d);
}

/* ---- check 10: the cloud link ---- */

static void check_cloud(run *R)
{
    const adb_broker_config *b = &R->cfg->broker;
    adb_link_probe_result pr;
    adb_error e = { 0 };
    char fix[768], title[300];
    double t0 = adb_mono_ms_f();

    if (R->o->skip_cloud) {
        emit(R, &GLOBAL, ADB_DIAG_CLOUD, "cloud", "cloud link", ADB_DIAG_SKIP, 0, NULL, "skipped (--skip-cloud)");
        return;
    }
    if (b->url == NULL) {
        emit(R, &GLOBAL, ADB_DIAG_CLOUD, "cloud", "cloud link", ADB_DIAG_SKIP, 0, NULL, "no broker configured");
        return;
    }
    snprintf(title, sizeof title, "broker %s%s%s", b->url, b->proxy.host ? " via proxy " : "",
             b->proxy.host ? b->proxy.host : "");
    memset(&pr, 0, sizeof pr);
    adb_code c = adb_link_probe(b, 3 * R->tmo, &pr, &e);
    json_t *det = json_pack("{s:o, s:o, s:o, s:o, s:s?, s:s, s:s, s:s}", "tcp_ms",
                            pr.tcp_ms >= 0 ? json_real(pr.tcp_ms) : json_null(), "proxy_ms",
                            pr.proxy_ms >= 0 ? json_real(pr.proxy_ms) : json_null(), "tls_ms",
                            pr.tls_ms >= 0 ? json_real(pr.tls_ms) : json_null(), "amqp_open_ms",
                            pr.amqp_open_ms >= 0 ? json_real(pr.amqp_open_ms) : json_null(), "failed_stage",
                            pr.failed_stage, "tls_protocol", pr.tls_protocol, "sasl_mechanism", pr.sasl_mech,
                            "remote_container", pr.remote_container);
    if (c == ADB_OK) {
        emit(R, &GLOBAL, ADB_DIAG_CLOUD, "cloud", title, ADB_DIAG_PASS, adb_mono_ms_f() - t0, det,
             "AMQP open %s%s%s%s", pr.tls_protocol[0] ? "over " : "(no TLS)", pr.tls_protocol,
             pr.sasl_mech[0] ? ", SASL " : "", pr.sasl_mech);
        return;
    }
    const char *st = pr.failed_stage ? pr.failed_stage : "connect";
    if (strcmp(st, "config") == 0)
        snprintf(fix, sizeof fix, "correct \"broker\" in %s (see the message)", R->cfg->path);
    else if (strcmp(st, "resolve") == 0)
        snprintf(fix, sizeof fix, "make the broker's (or proxy's) name resolvable from this host");
    else if (strcmp(st, "tcp") == 0)
        snprintf(fix, sizeof fix, "allow outbound TCP from this host to %s%s", b->proxy.host ? "the proxy " : b->url,
                 b->proxy.host ? b->proxy.host : "");
    else if (strcmp(st, "proxy") == 0)
        snprintf(fix, sizeof fix, "have the proxy %s allow CONNECT to the broker (and check its credentials file)",
                 b->proxy.host ? b->proxy.host : "");
    else if (strcmp(st, "tls") == 0)
        snprintf(fix, sizeof fix, "give the CA of the broker's certificate in broker.ca_file, and exempt the broker "
                 "from TLS inspection on the proxy");
    else if (strcmp(st, "sasl") == 0)
        snprintf(fix, sizeof fix, "check broker.username / password_file (or the client certificate) in %s",
                 R->cfg->path);
    else
        snprintf(fix, sizeof fix, "check the broker's AMQP 1.0 endpoint and virtual host (broker.virtual_host)");
    emit_fix(R, &GLOBAL, ADB_DIAG_CLOUD, "cloud", title, ADB_DIAG_FAIL, adb_mono_ms_f() - t0, det, fix,
             "%s failed: %s", st, e.message[0] ? e.message : pr.error.message);
}

adb_code adb_diagnose_run(const char *config_path, const adb_diag_options *opts, adb_diag_report **out,
                          adb_error *err)
{
    run R = { 0 };
    double t0 = adb_mono_ms_f();

    if (config_path == NULL || opts == NULL || out == NULL)
        return adb_error_set(err, ADB_E_INVALID_REQUEST, "diagnose: a configuration path and options are needed");
    R.o = opts;
    R.tmo = opts->timeout_ms > 0 ? opts->timeout_ms : DEFAULT_TIMEOUT_MS;
    if ((R.rep = adb_diag_report_new(R.tmo)) == NULL || (R.rep->config_path = strdup(config_path)) == NULL) {
        adb_diag_report_free(R.rep);
        return adb_error_set(err, ADB_E_NOMEM, "out of memory");
    }
    if (check_config(&R, config_path)) {
        size_t ns = R.cfg->n_dns_servers < 16 ? R.cfg->n_dns_servers : 16;
        for (size_t i = 0; i < ns; i++)
            R.dns_servers[i] = R.cfg->dns_servers[i];
        R.dns = (adb_dns_options){ .servers = ns ? R.dns_servers : NULL, .n_servers = ns, .timeout_ms = R.tmo };

        bool found = opts->domain == NULL;
        for (size_t i = 0; i < R.cfg->n_domains && !found; i++)
            found = strcasecmp(R.cfg->domains[i].name, opts->domain) == 0;
        if (!found) {
            char fix[512];
            snprintf(fix, sizeof fix, "add %s to \"domains\" in %s, or check the name given to --domain",
                     opts->domain, config_path);
            scope sc = { .domain = opts->domain };
            emit_fix(&R, &sc, ADB_DIAG_CONFIG, "config.domain", opts->domain, ADB_DIAG_FAIL, 0, NULL, fix,
                     "%s is not a configured domain", opts->domain);
        }
        check_dns_servers(&R);
        check_keytab_and_tgt(&R);
        for (size_t i = 0; i < R.cfg->n_domains; i++)
            if (opts->domain == NULL || strcasecmp(R.cfg->domains[i].name, opts->domain) == 0)
                check_domain(&R, &R.cfg->domains[i]);
        if (opts->dc == NULL)
            check_topology(&R);
        else
            emit(&R, &GLOBAL, ADB_DIAG_TOPOLOGY, "topology", "forests, domains, trusts", ADB_DIAG_SKIP, 0, NULL,
                 "not read with --dc");
        check_cloud(&R);
    }
    R.rep->duration_ms = adb_mono_ms_f() - t0;
    adb_krb_free(R.krb);
    adb_subscriptions_free(R.subs);
    adb_config_free(R.cfg);
    *out = R.rep;
    return ADB_OK;
}
