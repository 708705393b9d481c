/* adbridge diagnose, a domain's DCs: whether the domain is used at all, its
 * DCs found (the pinned "dcs" resolved, else _ldap._tcp SRV) and narrowed
 * by --dc, all of them pinged and port-probed at once (one timeout for a
 * dead DC), and in the end how many answered. */
#include "config.h"

#include "diag_internal.h"

#include <adbridge/clock.h>

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The connector port table (DESIGN/CONTEXT): TCP, then UDP where a probe can tell. */
static const uint16_t tcp_ports[DIAG_N_TCP] = { 53, 88, 135, 389, 445, 464, 636, 3268, 3269 };

bool diag_domain_used(const diag_run *R)
{
    return R->subs == NULL || adb_subscriptions_enabled(R->subs, R->dom.cfg->name);
}

void diag_domain_enabled(diag_run *R)
{
    const char *name = R->dom.cfg->name;

    if (!diag_domain_used(R))
        diag_emit(R, NULL, name, ADB_DIAG_SKIP, 0, NULL, NULL,
                  "not used for subscriptions: not contacted (adbridge domain enable %s to use it)", name);
}

static bool dc_selected(const diag_run *R, const char *host, const char *addr)
{
    const char *want = R->o->dc;
    size_t wl;
    if (want == NULL)
        return true;
    wl = strlen(want);
    return strcasecmp(want, host) == 0 || strcmp(want, addr) == 0
           || (strncasecmp(want, host, wl) == 0 && host[wl] == '.');
}

static void add_dc(diag_domain *D, const char *host, const char *addr)
{
    if (D->n_known >= DIAG_MAX_DCS)
        return;
    snprintf(D->dcs[D->n_known].host, sizeof D->dcs[0].host, "%s", host);
    snprintf(D->dcs[D->n_known].addr, sizeof D->dcs[0].addr, "%s", addr);
    D->n_known++;
}

/* The pinned DCs' addresses; those that do not resolve are kept for dns.addr. */
static void resolve_pinned(diag_run *R)
{
    diag_domain *D = &R->dom;
    const adb_domain_config *dcfg = D->cfg;

    D->unresolved = calloc(dcfg->n_dcs, sizeof *D->unresolved);
    for (size_t i = 0; D->unresolved != NULL && i < dcfg->n_dcs && D->n_known < DIAG_MAX_DCS; i++) {
        diag_unresolved *u = &D->unresolved[D->n_unresolved];
        char addr[46];
        double t0 = adb_mono_ms_f();

        memset(u, 0, sizeof *u);
        if (adb_dns_addr(&R->dns, dcfg->dcs[i], addr, &u->err) == ADB_OK) {
            add_dc(D, dcfg->dcs[i], addr);
            continue;
        }
        u->name = dcfg->dcs[i];
        u->ms = adb_mono_ms_f() - t0;
        D->n_unresolved++;
    }
}

void diag_locate_dcs(diag_run *R)
{
    diag_domain *D = &R->dom;
    char name[300];

    if (D->located)
        return;
    D->located = true;
    if (D->cfg->n_dcs > 0) {
        resolve_pinned(R);
    } else {
        D->from_srv = true;
        snprintf(name, sizeof name, "_ldap._tcp.%s", D->cfg->name);
        diag_srv_query(R, name, &D->ldap_srv);
        for (size_t i = 0; D->ldap_srv.code == ADB_OK && i < D->ldap_srv.res.n; i++)
            if (D->ldap_srv.res.targets[i].n_addrs > 0)
                add_dc(D, D->ldap_srv.res.targets[i].host, D->ldap_srv.res.targets[i].addrs[0]);
    }
    for (size_t i = 0; i < D->n_known; i++)
        if (dc_selected(R, D->dcs[i].host, D->dcs[i].addr))
            D->dcs[D->n++] = D->dcs[i];
}

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

/* The probes of one DC: the TCP ports, then UDP 53 and 88 by protocol. */
static void set_probes(diag_domain *D, diag_dc *dc, adb_port_probe *probes)
{
    dc->probes = probes;
    for (size_t k = 0; k < DIAG_N_PROBES; k++) {
        adb_port_probe *p = &probes[k];
        p->address = dc->addr;
        if (k < DIAG_N_TCP) {
            p->kind = ADB_PROBE_TCP;
            p->port = tcp_ports[k];
        } else {
            p->kind = k == DIAG_N_TCP ? ADB_PROBE_UDP_DNS : ADB_PROBE_UDP_KDC;
            p->port = k == DIAG_N_TCP ? 53 : 88;
            p->realm = D->realm;
            p->client = D->client[0] ? D->client : NULL;
        }
    }
}

/* CLDAP pings and port probes of every DC at once; the forest from the
 * first answer. */
void diag_probe_dcs(diag_run *R)
{
    diag_domain *D = &R->dom;
    adb_error e = { 0 };
    size_t i;

    if (D->probed)
        return;
    D->probed = true;
    if (D->n == 0)
        return;
    for (i = 0; D->cfg->name[i] != '\0' && i + 1 < sizeof D->realm; i++)
        D->realm[i] = (char)toupper((unsigned char)D->cfg->name[i]);
    D->realm[i] = '\0';
    diag_account_name(R, D->client, sizeof D->client);
    for (i = 0; i < D->n; i++) {
        D->pings[i].address = D->dcs[i].addr;
        set_probes(D, &D->dcs[i], &D->probes[i * DIAG_N_PROBES]);
    }
    ping_job pj = { .pings = D->pings, .n = D->n, .domain = D->cfg->name, .tmo = R->tmo };
    pthread_t th;
    bool threaded = pthread_create(&th, NULL, ping_thread, &pj) == 0;
    if (!threaded)
        ping_thread(&pj);
    double t0 = adb_mono_ms_f();
    adb_port_probe_all(D->probes, D->n * DIAG_N_PROBES, R->tmo, &e);
    D->ports_ms = adb_mono_ms_f() - t0;
    if (threaded)
        pthread_join(th, NULL);
    D->ping_ms = adb_mono_ms_f() - t0;

    snprintf(D->forest_buf, sizeof D->forest_buf, "%s", D->cfg->name);
    for (i = 0; i < D->n; i++)
        if (D->pings[i].code == ADB_OK && D->pings[i].reply.forest[0] != '\0') {
            snprintf(D->forest_buf, sizeof D->forest_buf, "%s", D->pings[i].reply.forest);
            break;
        }
    D->forest = D->forest_buf;
    for (i = 0; i < D->n; i++) {
        D->dcs[i].tcp389 = D->dcs[i].probes[DIAG_TCP389].state == ADB_PORT_OPEN;
        D->dcs[i].reachable = D->dcs[i].tcp389 && D->pings[i].code == ADB_OK;
    }
}

void diag_dns_addr(diag_run *R)
{
    const diag_domain *D = &R->dom;
    char fix[512], title[300];

    for (size_t i = 0; i < D->n_unresolved; i++) {
        const diag_unresolved *u = &D->unresolved[i];
        snprintf(title, sizeof title, "A %s", u->name);
        snprintf(fix, sizeof fix, "add an A record for %s, or pin its address in \"dcs\" of %s", u->name,
                 R->cfg->path);
        diag_emit(R, NULL, title, ADB_DIAG_FAIL, u->ms, NULL, fix, "%s", u->err.message);
    }
}

void diag_dc_filter(diag_run *R)
{
    if (R->dom.n == 0 && R->dom.n_known > 0)
        diag_emit(R, NULL, R->o->dc, ADB_DIAG_SKIP, 0, NULL, NULL, "no DC of %s matches --dc %s", R->dom.cfg->name,
                  R->o->dc);
}

/* The seeds ask every forest to stay reachable through a failure: two DCs. */
void diag_domain_dcs(diag_run *R)
{
    const diag_domain *D = &R->dom;
    const char *name = D->cfg->name;
    char reach_list[512] = "", down_list[512] = "", fix[768];
    size_t reachable = 0, ro = 0, dn = 0;

    if (D->n == 0) {
        diag_emit(R, NULL, NULL, ADB_DIAG_FAIL, 0, NULL, "fix the DNS checks of this domain above",
                  "no DC of %s is known", name);
        return;
    }
    for (size_t i = 0; i < D->n; i++) {
        const diag_dc *dc = &D->dcs[i];
        if (dc->reachable) {
            reachable++;
            if (ro < sizeof reach_list)
                ro += (size_t)snprintf(reach_list + ro, sizeof reach_list - ro, "%s%s", ro ? ", " : "", dc->host);
        } else if (dn < sizeof down_list) {
            dn += (size_t)snprintf(down_list + dn, sizeof down_list - dn, "%s%s", dn ? ", " : "", dc->host);
        }
    }
    json_t *det = json_pack("{s:i, s:i}", "reachable", (int)reachable, "known", (int)D->n);
    if (reachable >= 2) {
        diag_emit(R, NULL, NULL, ADB_DIAG_PASS, 0, det, NULL, "%zu of %zu DCs reachable: %s", reachable, D->n,
                  reach_list);
        return;
    }
    if (reachable == 1) {
        if (D->n > 1)
            snprintf(fix, sizeof fix, "bring back %s (see its checks above), so that %s survives the loss of one DC",
                     down_list, name);
        else
            snprintf(fix, sizeof fix, "add a second DC to %s (or make another one reachable from this host), so "
                     "that the domain survives the loss of one DC", name);
        diag_emit(R, NULL, NULL, ADB_DIAG_WARN, 0, det, fix, "one DC reachable (%s) of %zu%s", reach_list, D->n,
                  R->o->dc ? " selected with --dc" : "");
        return;
    }
    snprintf(fix, sizeof fix, "make a DC of %s reachable from this host (see the ports and CLDAP checks above)", name);
    diag_emit(R, NULL, NULL, ADB_DIAG_FAIL, 0, det, fix, "no DC of %s is reachable (tried %s)", name, down_list);
}
