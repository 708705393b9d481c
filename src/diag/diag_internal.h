/* adbridge diagnose, inside: the state of one run, the table of checks and
 * the one way a check reports a result.  Private to src/diag/.
 *
 * The table (diagnose.c) has one row per result id of
 * schemas/diagnose.schema.json: its group, its title, the function that
 * runs it, how often it runs (once, per domain, per DC) and what it needs.
 * The runner walks the table in order, provides what it can (the domain's
 * DCs located, pinged and probed) and skips a check whose needs fail; a
 * check reports only under its own id, so the table is the list of ids. */
#ifndef ADBRIDGE_DIAG_INTERNAL_H
#define ADBRIDGE_DIAG_INTERNAL_H

#include <adbridge/cldap.h>
#include <adbridge/config.h>
#include <adbridge/diagnose.h>
#include <adbridge/directory.h>
#include <adbridge/dns.h>
#include <adbridge/krb.h>
#include <adbridge/ldap_conn.h>
#include <adbridge/portprobe.h>
#include <adbridge/subscriptions.h>
#include <adbridge/topology.h>

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

enum {
    DIAG_DEFAULT_TIMEOUT_MS = 3000,
    DIAG_MAX_DCS = 64,
    DIAG_MAX_DNS_SERVERS = 16,
    DIAG_N_TCP = 9,                     /* the connector's TCP ports (diag_dcs.c) */
    DIAG_N_PROBES = DIAG_N_TCP + 2,     /* + UDP 53 (DNS query), UDP 88 (AS-REQ); UDP 389 is the CLDAP ping */
    DIAG_TCP389 = 3,                    /* index of TCP 389 among the probes */
};

/* Where a result belongs: NULL members for global checks. */
typedef struct diag_scope {
    const char *forest, *domain, *dc;
} diag_scope;

/* One DC of the domain being checked, and what its port probes found. */
typedef struct diag_dc {
    char host[256];
    char addr[64];
    adb_port_probe *probes;   /* DIAG_N_PROBES, in diag_domain.probes */
    bool tcp389;
    bool reachable;           /* CLDAP answered and TCP 389 open */
} diag_dc;

/* A pinned DC whose name did not resolve (reported by dns.addr). */
typedef struct diag_unresolved {
    const char *name;
    adb_error err;
    double ms;
} diag_unresolved;

/* One SRV query, asked now and reported later (once the forest is known). */
typedef struct diag_srv {
    adb_code code;
    adb_error err;
    double ms;
    adb_srv_result res;
} diag_srv;

/* The configured domain being checked. */
typedef struct diag_domain {
    const adb_domain_config *cfg;
    bool enabled;
    bool located, probed;
    diag_dc *dcs;                  /* those --dc selects, DIAG_MAX_DCS */
    size_t n, n_known;             /* selected; known before --dc */
    diag_unresolved *unresolved;   /* pinned names without an address */
    size_t n_unresolved;
    bool from_srv;                 /* the DCs came from ldap_srv, not from "dcs" */
    diag_srv ldap_srv;
    adb_cldap_ping *pings;         /* pings[i] of dcs[i] */
    adb_port_probe *probes;        /* DIAG_N_PROBES per DC */
    char realm[256], client[256];  /* what the UDP 88 probes ask for */
    double ping_ms, ports_ms;
    char forest_buf[256];
    const char *forest;            /* NULL until a DC is probed */
    adb_ldap_conn *ldap;           /* the first sealed bind, kept for keytab.kvno */
    size_t at;                     /* the DC the per-DC checks are on */
} diag_domain;

/* One run of adb_diagnose_run. */
typedef struct diag_run {
    adb_diag_report *rep;
    const adb_diag_options *o;
    int tmo;
    adb_config *cfg;               /* NULL when the file did not load */
    adb_subscriptions *subs;
    adb_krb *krb;                  /* NULL when the keytab is unusable */
    bool tgt_ok;
    const char *dns_servers[DIAG_MAX_DNS_SERVERS];
    adb_dns_options dns;
    diag_domain dom;               /* valid inside the per-domain checks */
    adb_dir *dir;                  /* the topology check's directory and what it read */
    adb_topology *topo;
    const struct diag_check *check;   /* the check being run */
    diag_scope at;                 /* and where */
} diag_run;

/* What a check needs.  The runner tests them in this order and skips the
 * check at the first that fails; LOCATED and PROBED it provides itself, once
 * per domain, when the first check that needs them comes up. */
enum diag_need {
    NEED_CONFIG = 1u << 0,     /* the configuration loaded */
    NEED_ENABLED = 1u << 1,    /* the domain is used for subscriptions */
    NEED_LOCATED = 1u << 2,    /* provided: the domain's DCs looked up ("dcs" resolved, or _ldap._tcp SRV) */
    NEED_MATCHED = 1u << 3,    /* --dc left a DC of the domain, or none was known */
    NEED_PROBED = 1u << 4,     /* provided: the DCs pinged and their ports probed, the forest known */
    NEED_DCS = 1u << 5,        /* a DC of the domain is known */
    NEED_JOINED = 1u << 6,     /* the keytab loaded and this is the domain of its realm */
    NEED_ALL_DCS = 1u << 7,    /* no --dc */
    NEED_TCP389 = 1u << 8,     /* this DC answers on TCP 389 */
    NEED_KEYTAB = 1u << 9,     /* the keytab loaded */
    NEED_TGT = 1u << 10,       /* the machine TGT was obtained */
    NEED_LDAP = 1u << 11,      /* a sealed bind to a DC of the domain succeeded */
    NEED_TOPOLOGY = 1u << 12,  /* the topology was read */
};

typedef enum diag_level {
    DIAG_ONCE,
    DIAG_PER_DOMAIN,           /* each configured domain --domain selects */
    DIAG_PER_DC,               /* each DC of that domain --dc selects */
} diag_level;

/* A row of the table. */
typedef struct diag_check {
    adb_diag_check_info info;  /* id, group, title: what adb_diag_check_at shows */
    diag_level level;
    void (*run)(diag_run *R);
    unsigned needs;            /* enum diag_need */
    const char *skipped;       /* verb of the skip result when a need with a reason fails
                                  ("not tried"); NULL: skipped without a result */
} diag_check;

/* Records a result of the check being run at sc (NULL: where the runner is),
 * with the check's title when title is NULL, and shows it to the progress
 * callback.  fix: NULL for pass and skip.  Takes details. */
__attribute__((format(printf, 8, 9)))
void diag_emit(diag_run *R, const diag_scope *sc, const char *title, adb_diag_status st, double ms, json_t *details,
               const char *fix, const char *fmt, ...);

/* A check's title, "<dc>" replaced with the DC being checked. */
const char *diag_title(const diag_run *R, char *buf, size_t size);

/* The DC the per-DC checks are on. */
diag_dc *diag_current_dc(diag_run *R);

/* The joined domain (the keytab realm, lower case), else the first configured. */
const char *diag_joined_domain(const diag_run *R, char *buf, size_t size);

/* The machine account's name without the realm ("HOST$"), "" without a keytab. */
void diag_account_name(const diag_run *R, char *buf, size_t size);

/* "YYYY-MM-DDTHH:MM:SSZ". */
void diag_utc_text(time_t t, char *buf, size_t size);

/* The fix for a Kerberos failure, by its code (diag_auth.c). */
void diag_kerberos_fix(const diag_run *R, adb_code code, char *fix, size_t size);

extern const char DIAG_NTP_FIX[];

/* The checks, by file.  diag_local.c: */
void diag_config_file(diag_run *R);
void diag_config_keytab(diag_run *R);
void diag_config_state_dir(diag_run *R);
void diag_config_subscriptions(diag_run *R);
void diag_config_domain(diag_run *R);
void diag_keytab(diag_run *R);
void diag_keytab_identity(diag_run *R);

/* diag_network.c: DNS, CLDAP, ports, clock */
void diag_dns_servers(diag_run *R);
void diag_dns_srv(diag_run *R);
void diag_srv_query(diag_run *R, const char *name, diag_srv *o);
void diag_cldap(diag_run *R);
void diag_ports(diag_run *R);
void diag_clock(diag_run *R);

/* diag_dcs.c: the domain's DCs, found, filtered, probed and counted */
bool diag_domain_used(const diag_run *R);   /* NEED_ENABLED */
void diag_domain_enabled(diag_run *R);
void diag_locate_dcs(diag_run *R);     /* provides NEED_LOCATED */
void diag_probe_dcs(diag_run *R);      /* provides NEED_PROBED */
void diag_dns_addr(diag_run *R);
void diag_dc_filter(diag_run *R);
void diag_domain_dcs(diag_run *R);

/* diag_auth.c: Kerberos and the sealed LDAP bind */
void diag_kerberos_tgt(diag_run *R);
void diag_kerberos_service(diag_run *R);
void diag_ldap(diag_run *R);
void diag_keytab_kvno(diag_run *R);

/* diag_topology.c */
void diag_topology(diag_run *R);
void diag_topology_forests(diag_run *R);
void diag_topology_domains(diag_run *R);
void diag_topology_trusts(diag_run *R);

/* diag_cloud.c */
void diag_cloud(diag_run *R);

#endif
