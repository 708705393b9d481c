/* adbridge diagnose, the topology as the directory reads it: the forests,
 * domains and trusts, each forest's and used domain's functional level, and
 * which domains are used for subscriptions. */
#include "config.h"

#include "diag_internal.h"

#include <adbridge/clock.h>

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Reads the topology the per-forest, per-domain and per-trust checks show. */
void diag_topology(diag_run *R)
{
    adb_dir_options dopt = { 0 };
    adb_topology *t = NULL;
    adb_error e = { 0 };
    double t0 = adb_mono_ms_f();

    dopt.pool.ldap.connect_timeout_ms = R->tmo;
    dopt.pool.ldap.op_timeout_ms = 2 * R->tmo;
    dopt.pool.acquire_timeout_ms = 2 * R->tmo;
    if (adb_dir_open(R->cfg, R->o->log, &dopt, &R->dir, &e) != ADB_OK
        || adb_dir_topology(R->dir, true, &t, &e) != ADB_OK) {
        diag_emit(R, NULL, NULL, ADB_DIAG_FAIL, adb_mono_ms_f() - t0, NULL,
                  "fix the failures above (DNS, Kerberos, LDAP), then run adbridge diagnose again", "%s", e.message);
        return;
    }
    R->topo = t;
    diag_emit(R, NULL, NULL, ADB_DIAG_PASS, adb_mono_ms_f() - t0,
              adb_topology_to_json(t, adb_dir_subscriptions(R->dir)), NULL,
              "%zu forest(s), %zu domain(s), %zu trust(s); joined domain %s", t->n_forests, t->n_domains, t->n_trusts,
              t->joined ? t->joined : "?");
}

void diag_topology_forests(diag_run *R)
{
    char title[300], fix[768];

    for (size_t i = 0; i < R->topo->n_forests; i++) {
        const adb_topo_forest *f = &R->topo->forests[i];
        diag_scope sc = { .forest = f->root };
        snprintf(title, sizeof title, "forest %s", f->root);
        if (f->error != NULL) {
            snprintf(fix, sizeof fix, "see the checks of the domains of %s above; the forest is read through their DCs",
                     f->root);
            diag_emit(R, &sc, title, ADB_DIAG_FAIL, 0, NULL, fix, "%s", f->error);
        } else if (!adb_level_supported(f->level)) {
            diag_emit(R, &sc, title, ADB_DIAG_FAIL, 0, NULL,
                      "raise the forest functional level to Windows Server 2008 R2 or later",
                      "forest functional level %s is not supported", adb_level_name(f->level));
        } else {
            diag_emit(R, &sc, title, ADB_DIAG_PASS, 0,
                      json_pack("{s:b, s:b, s:s}", "own", f->own, "contacted", f->contacted, "level",
                                adb_level_name(f->level)),
                      NULL, "%s forest, level %s%s", f->own ? "own" : "trusted", adb_level_name(f->level),
                      f->contacted ? "" : " (not contacted)");
        }
    }
}

void diag_topology_domains(diag_run *R)
{
    adb_subscriptions *subs = adb_dir_subscriptions(R->dir);
    char title[300], fix[768];

    for (size_t i = 0; i < R->topo->n_domains; i++) {
        const adb_topo_domain *dm = &R->topo->domains[i];
        if (R->o->domain != NULL && strcasecmp(R->o->domain, dm->dns) != 0)
            continue;
        diag_scope sc = { .forest = dm->forest, .domain = dm->dns };
        bool enabled = adb_subscriptions_enabled(subs, dm->dns);
        snprintf(title, sizeof title, "domain %s", dm->dns);
        json_t *det = json_pack("{s:s?, s:b, s:b, s:b, s:s}", "netbios", dm->netbios, "use_for_subscriptions",
                                enabled, "configured", dm->configured, "contacted", dm->contacted, "level",
                                adb_level_name(dm->level));
        if (enabled && dm->error != NULL) {
            snprintf(fix, sizeof fix, "see the checks of %s above (DNS, ports, Kerberos, LDAP)", dm->dns);
            diag_emit(R, &sc, title, ADB_DIAG_FAIL, 0, det, fix, "used for subscriptions, but unreadable: %s",
                      dm->error);
        } else if (enabled && !adb_level_supported(dm->level)) {
            diag_emit(R, &sc, title, ADB_DIAG_FAIL, 0, det,
                      "raise the domain functional level to Windows Server 2008 R2 or later",
                      "domain functional level %s is not supported", adb_level_name(dm->level));
        } else {
            diag_emit(R, &sc, title, ADB_DIAG_PASS, 0, det, NULL, "%s (%s), level %s%s",
                      enabled ? "used for subscriptions" : "not used for subscriptions",
                      dm->netbios ? dm->netbios : "?", adb_level_name(dm->level),
                      enabled ? "" : " (adbridge domain enable to use it)");
        }
    }
}

void diag_topology_trusts(diag_run *R)
{
    char title[600];

    for (size_t i = 0; i < R->topo->n_trusts; i++) {
        const adb_topo_trust *tr = &R->topo->trusts[i];
        const adb_topo_domain *own = adb_topology_domain(R->topo, tr->domain);
        diag_scope sc = { .forest = own != NULL ? own->forest : NULL, .domain = tr->domain };
        if (R->o->domain != NULL && strcasecmp(R->o->domain, tr->domain) != 0)
            continue;
        snprintf(title, sizeof title, "trust %s -> %s", tr->domain, tr->partner);
        diag_emit(R, &sc, title, ADB_DIAG_PASS, 0,
                  json_pack("{s:s, s:s, s:i, s:i}", "partner", tr->partner, "direction",
                            adb_trust_direction_name(tr->direction), "type", (int)tr->type, "attributes",
                            (int)tr->attributes),
                  NULL, "%s, %s%s", adb_trust_direction_name(tr->direction),
                  tr->attributes & ADB_TRUST_ATTR_FOREST_TRANSITIVE ? "forest trust" : "external trust",
                  tr->attributes & ADB_TRUST_ATTR_WITHIN_FOREST ? " (within the forest)" : "");
    }
}
