/* adbridge diagnose, the network checks: the DNS servers and a domain's SRV
 * records, and per DC its CLDAP ping, its ports and its clock.  The pings
 * and port probes themselves run at once for all DCs of a domain
 * (diag_dcs.c); here their outcomes become results. */
#include "config.h"

#include "diag_internal.h"

#include <adbridge/clock.h>
#include <adbridge/dctime.h>
#include <adbridge/netlogon.h>

#include <stdio.h>
#include <string.h>
#include <strings.h>

enum {
    SKEW_WARN_S = 120,          /* warn above 2 minutes */
    SKEW_FAIL_S = 300,          /* Kerberos' default maximum skew */
    MAX_SITES = 8,
};

const char DIAG_NTP_FIX[] = "sync the clock with NTP (chronyc makestep / timedatectl set-ntp true)";

/* ---- DNS ---- */

void diag_dns_servers(diag_run *R)
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
        json_t *det = json_pack("{s:s, s:s}", "server", srv ? srv : "resolv.conf", "query", name);
        /* Any answer, NXDOMAIN included, shows the server is there. */
        if (c == ADB_OK || c == ADB_E_NOT_FOUND) {
            diag_emit(R, NULL, title, ADB_DIAG_PASS, adb_mono_ms_f() - t0, det, NULL, "answers (%s: %s)", name,
                      c == ADB_OK ? "records found" : "no such name");
            continue;
        }
        if (srv)
            snprintf(fix, sizeof fix, "open UDP and TCP 53 from this host to %s, or correct \"dns_servers\" in %s",
                     srv, R->cfg->path);
        else
            snprintf(fix, sizeof fix, "fix the nameservers of /etc/resolv.conf, or set \"dns_servers\" in %s to "
                     "DNS servers of the AD domains", R->cfg->path);
        diag_emit(R, NULL, title, ADB_DIAG_FAIL, adb_mono_ms_f() - t0, det, fix, "%s", e.message);
    }
}

void diag_srv_query(diag_run *R, const char *name, diag_srv *o)
{
    double t0 = adb_mono_ms_f();
    memset(o, 0, sizeof *o);
    o->code = adb_dns_srv(&R->dns, name, &o->res, &o->err);
    o->ms = adb_mono_ms_f() - t0;
}

/* Reports an SRV query: pass with its targets, fail naming the query. */
static void srv_report(diag_run *R, const char *name, const char *what, const diag_srv *o)
{
    const adb_srv_result *res = &o->res;
    const char *domain = R->dom.cfg->name;
    char title[320], fix[768];

    snprintf(title, sizeof title, "SRV %s", name);
    if (o->code != ADB_OK) {
        if (o->code == ADB_E_NOT_FOUND)
            snprintf(fix, sizeof fix, "check the domain name \"%s\" in %s, and that the DNS servers serve the AD "
                     "zone (the DCs' DNS, or a conditional forwarder to it)", domain, R->cfg->path);
        else
            snprintf(fix, sizeof fix, "make the DNS servers (%s) answer for %s: open UDP/TCP 53 to them, or point "
                     "\"dns_servers\" in %s at the DCs' DNS", R->cfg->n_dns_servers ? R->cfg->dns_servers[0]
                     : "resolv.conf", domain, R->cfg->path);
        diag_emit(R, NULL, title, ADB_DIAG_FAIL, o->ms,
                  json_pack("{s:s, s:s, s:s}", "query", name, "purpose", what, "code", adb_code_name(o->code)), fix,
                  "%s", o->err.message);
        return;
    }
    json_t *targets = json_array();
    char unresolved[512] = "", list[512] = "";
    size_t lo = 0, uo = 0;
    for (size_t i = 0; i < res->n; i++) {
        const adb_srv_target *t = &res->targets[i];
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
        diag_emit(R, NULL, title, ADB_DIAG_FAIL, o->ms, det, fix, "%zu target(s); no address for %s", res->n,
                  unresolved);
    } else {
        diag_emit(R, NULL, title, ADB_DIAG_PASS, o->ms, det, NULL, "%zu target(s): %s", res->n, list);
    }
}

static void srv_check(diag_run *R, const char *name, const char *what)
{
    diag_srv o;
    diag_srv_query(R, name, &o);
    srv_report(R, name, what, &o);
    adb_srv_result_free(&o.res);
}

/* The sites the pings named (the DCs' and this host's), each once. */
static size_t ping_sites(const diag_domain *D, char sites[][64], size_t max)
{
    size_t n = 0;

    for (size_t i = 0; i < D->n; i++) {
        const adb_cldap_ping *pg = &D->pings[i];
        const char *cand[2] = { pg->reply.dc_site, pg->reply.client_site };
        if (pg->code != ADB_OK)
            continue;
        for (int k = 0; k < 2; k++) {
            bool seen = cand[k][0] == '\0';
            for (size_t j = 0; j < n && !seen; j++)
                seen = strcasecmp(sites[j], cand[k]) == 0;
            if (!seen && n < max)
                snprintf(sites[n++], sizeof sites[0], "%s", cand[k]);
        }
    }
    return n;
}

/* The domain's records: its DCs (when they came from DNS), KDCs, the
 * forest's global catalogs and the DCs of each site the pings named. */
void diag_dns_srv(diag_run *R)
{
    const diag_domain *D = &R->dom;
    const char *domain = D->cfg->name;
    char name[400], sites[MAX_SITES][64];

    if (D->from_srv) {
        snprintf(name, sizeof name, "_ldap._tcp.%s", domain);
        srv_report(R, name, "domain controllers", &D->ldap_srv);
    }
    if (D->n == 0)      /* no DC known: the lookup above is all there is */
        return;
    snprintf(name, sizeof name, "_kerberos._tcp.%s", domain);
    srv_check(R, name, "Kerberos KDCs");
    snprintf(name, sizeof name, "_gc._tcp.%s", D->forest);
    srv_check(R, name, "global catalogs of the forest");
    size_t n_sites = ping_sites(D, sites, MAX_SITES);
    for (size_t j = 0; j < n_sites; j++) {
        snprintf(name, sizeof name, "_ldap._tcp.%s._sites.%s", sites[j], domain);
        srv_check(R, name, "domain controllers of a site");
    }
}

/* ---- per DC: CLDAP, ports, clock ---- */

void diag_cldap(diag_run *R)
{
    const diag_dc *dc = diag_current_dc(R);
    const adb_cldap_ping *pg = &R->dom.pings[R->dom.at];
    char title[300], flags[512], fix[768];

    snprintf(title, sizeof title, "CLDAP ping %s", dc->addr);
    if (pg->code != ADB_OK) {
        snprintf(fix, sizeof fix, "open UDP 389 from this host to %s and check that the DC %s is running", dc->addr,
                 dc->host);
        diag_emit(R, NULL, title, ADB_DIAG_FAIL, R->dom.ping_ms,
                  json_pack("{s:s, s:s}", "address", dc->addr, "code", adb_code_name(pg->code)), fix, "%s",
                  pg->error);
        return;
    }
    const adb_netlogon *r = &pg->reply;
    bool closest = (r->flags & ADB_DS_CLOSEST) != 0 || (r->dc_site[0] && strcasecmp(r->dc_site, r->client_site) == 0);
    diag_emit(R, NULL, title, ADB_DIAG_PASS, pg->rtt_us / 1000.0,
              json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:s, s:f}", "address", dc->addr, "host", r->host, "forest",
                        r->forest, "site", r->dc_site, "client_site", r->client_site, "closest", closest, "flags",
                        adb_netlogon_flags_text(r->flags, flags, sizeof flags), "rtt_ms", pg->rtt_us / 1000.0),
              NULL, "site %s%s, client site %s, %.2f ms, flags %s", r->dc_site[0] ? r->dc_site : "?",
              closest ? " (closest)" : "", r->client_site[0] ? r->client_site : "?", pg->rtt_us / 1000.0, flags);
}

static void port_label(const adb_port_probe *p, char *buf, size_t size)
{
    snprintf(buf, size, "%s %u", p->kind == ADB_PROBE_TCP ? "TCP" : "UDP", p->port);
}

/* Every probe of the DC with its state; the CLDAP ping stands for UDP 389. */
static json_t *ports_json(const diag_dc *dc, const adb_cldap_ping *ping)
{
    json_t *ports = json_array();
    bool udp389 = ping->code == ADB_OK;

    for (size_t i = 0; i < DIAG_N_PROBES; i++) {
        const adb_port_probe *p = &dc->probes[i];
        bool ok = p->state == ADB_PORT_OPEN;
        json_array_append_new(ports, json_pack("{s:s, s:i, s:s, s:s, s:o, s:s}", "protocol",
                                               p->kind == ADB_PROBE_TCP ? "tcp" : "udp", "port", p->port, "state",
                                               adb_port_state_name(p->state), "status", ok ? "pass" : "fail",
                                               "rtt_ms", ok ? json_real(p->rtt_us / 1000.0) : json_null(), "error",
                                               p->error));
    }
    json_array_append_new(ports, json_pack("{s:s, s:i, s:s, s:s, s:o, s:s}", "protocol", "udp", "port", 389, "state",
                                           udp389 ? "open" : ping->code == ADB_E_TIMEOUT ? "timeout" : "closed",
                                           "status", udp389 ? "pass" : "fail", "rtt_ms",
                                           udp389 ? json_real(ping->rtt_us / 1000.0) : json_null(), "error",
                                           udp389 ? "" : ping->error));
    return json_pack("{s:s, s:o}", "address", dc->addr, "ports", ports);
}

void diag_ports(diag_run *R)
{
    const diag_dc *dc = diag_current_dc(R);
    const adb_cldap_ping *ping = &R->dom.pings[R->dom.at];
    char closed[256] = "", list[200] = "", fix[768], lab[16], title[300];
    size_t co = 0, lo = 0, n_closed = 0;
    bool udp389 = ping->code == ADB_OK;

    /* closed: "TCP 636 (timeout), UDP 389 (CLDAP)" for the message; list: "TCP 636, UDP 389" for the fix */
    for (size_t i = 0; i < DIAG_N_PROBES; i++) {
        const adb_port_probe *p = &dc->probes[i];
        if (p->state == ADB_PORT_OPEN)
            continue;
        n_closed++;
        port_label(p, lab, sizeof lab);
        if (co < sizeof closed)
            co += (size_t)snprintf(closed + co, sizeof closed - co, "%s%s (%s)", co ? ", " : "", lab,
                                   adb_port_state_name(p->state));
        if (lo < sizeof list)
            lo += (size_t)snprintf(list + lo, sizeof list - lo, "%s%s", lo ? ", " : "", lab);
    }
    if (!udp389) {
        n_closed++;
        if (co < sizeof closed)
            snprintf(closed + co, sizeof closed - co, "%sUDP 389 (CLDAP)", co ? ", " : "");
        if (lo < sizeof list)
            snprintf(list + lo, sizeof list - lo, "%sUDP 389", lo ? ", " : "");
    }
    json_t *det = ports_json(dc, ping);
    snprintf(title, sizeof title, "ports of %s", dc->addr);
    if (n_closed == 0) {
        diag_emit(R, NULL, title, ADB_DIAG_PASS, R->dom.ports_ms, det, NULL,
                  "open: TCP 53 88 135 389 445 464 636 3268 3269, UDP 53 88 389");
        return;
    }
    if (n_closed == DIAG_N_PROBES + 1)
        snprintf(fix, sizeof fix, "start the DC %s (%s) or restore the network path from this host to it", dc->host,
                 dc->addr);
    else    /* "open TCP 636, UDP 88 from this host to 10.231.1.11" */
        snprintf(fix, sizeof fix, "open %s from this host to %s (firewalls on the way and on the DC), or start the "
                 "service behind it", list, dc->addr);
    diag_emit(R, NULL, title, ADB_DIAG_FAIL, R->dom.ports_ms, det, fix, "%s: %s",
              n_closed == DIAG_N_PROBES + 1 ? "no port answers" : "not reachable", closed);
}

void diag_clock(diag_run *R)
{
    const diag_dc *dc = diag_current_dc(R);
    adb_dctime t;
    adb_error e = { 0 };
    char fix[768], local[32], dct[32];
    double t0 = adb_mono_ms_f();

    if (adb_dctime_read(dc->addr, 389, R->tmo, &t, &e) != ADB_OK) {
        snprintf(fix, sizeof fix, "open TCP 389 from this host to %s; then run adbridge diagnose again", dc->addr);
        diag_emit(R, NULL, NULL, ADB_DIAG_FAIL, adb_mono_ms_f() - t0, NULL, fix, "cannot read the DC's time: %s",
                  e.message);
        return;
    }
    long skew = (long)difftime(t.local, t.dc);     /* positive: this host is ahead */
    long mag = skew < 0 ? -skew : skew;
    diag_utc_text(t.local, local, sizeof local);
    diag_utc_text(t.dc, dct, sizeof dct);
    json_t *det = json_pack("{s:s, s:s, s:I, s:f}", "dc_time", dct, "local_time", local, "skew_s", (json_int_t)skew,
                            "rtt_ms", t.rtt_ms);
    if (mag <= SKEW_WARN_S) {
        diag_emit(R, NULL, NULL, ADB_DIAG_PASS, adb_mono_ms_f() - t0, det, NULL, "%ld s (DC %s)", skew, dct);
        return;
    }
    snprintf(fix, sizeof fix, "%s — the DC says %s, this host says %s", DIAG_NTP_FIX, dct, local);
    diag_emit(R, NULL, NULL, mag > SKEW_FAIL_S ? ADB_DIAG_FAIL : ADB_DIAG_WARN, adb_mono_ms_f() - t0, det, fix,
              "this host is %ld s %s the DC (%s: Kerberos allows %d s)", mag, skew > 0 ? "ahead of" : "behind",
              mag > SKEW_FAIL_S ? "too much" : "close to the limit", SKEW_FAIL_S);
}
