/* Topology: the forests, domains and trusts the bridge can see.
 *
 * Discovery starts at the joined domain (and every other domain enabled in
 * the configuration) and reads, on one of its DCs: the rootDSE (naming
 * contexts, dnsHostName, functional levels, currentTime), the forest's
 * domains from CN=Partitions of the configuration NC (crossRef objects with
 * systemFlags FLAG_CR_NTDS_NC | FLAG_CR_NTDS_DOMAIN: nETBIOSName, dnsRoot,
 * nCName), the domain's objectSid and level from its NC head, and its trusts
 * from the trustedDomain objects under CN=System.  Each trusted forest is
 * read the same way through its own DCs (the locator finds them).
 *
 * Only domains marked "use for subscriptions" are contacted: a disabled
 * domain is listed from what others say about it (crossRef, trust object)
 * and marked not contacted.  Functional levels below Windows Server 2008 R2
 * (level 4) are reported as unsupported, and the directory refuses to use
 * such a domain.
 *
 * A topology is immutable once built and reference-counted; the directory
 * swaps in a new one on refresh while readers keep the old. */
#ifndef ADBRIDGE_TOPOLOGY_H
#define ADBRIDGE_TOPOLOGY_H

#include <adbridge/error.h>
#include <adbridge/ldap_conn.h>
#include <adbridge/log.h>
#include <adbridge/pool.h>
#include <adbridge/sid.h>
#include <adbridge/subscriptions.h>

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

enum {
    ADB_LEVEL_UNKNOWN = -1,
    ADB_LEVEL_2008R2 = 4,          /* the oldest supported level */
};

/* trustDirection, trustType, trustAttributes (MS-ADTS 6.1.6.7). */
enum {
    ADB_TRUST_DIRECTION_INBOUND = 1,
    ADB_TRUST_DIRECTION_OUTBOUND = 2,
    ADB_TRUST_TYPE_DOWNLEVEL = 1,
    ADB_TRUST_TYPE_UPLEVEL = 2,
    ADB_TRUST_TYPE_MIT = 3,
    ADB_TRUST_ATTR_NON_TRANSITIVE = 0x1,
    ADB_TRUST_ATTR_WITHIN_FOREST = 0x20,
    ADB_TRUST_ATTR_FOREST_TRANSITIVE = 0x8,
};

typedef struct adb_topo_domain {
    char *dns;          /* lower case */
    char *netbios;      /* NULL when unknown */
    char *nc;           /* "DC=adb,DC=test" */
    char *forest;       /* DNS name of its forest root; NULL when unknown */
    bool has_sid;
    adb_sid sid;
    int level;          /* domain functional level, ADB_LEVEL_UNKNOWN when not read */
    int forest_level;   /* its forest's functional level, likewise */
    bool configured;    /* listed in the configuration */
    bool contacted;     /* read from one of its own DCs in this discovery */
    char *dc;           /* dnsHostName of that DC */
    char *error;        /* why it could not be read; NULL when it was, or was not tried */
} adb_topo_domain;

typedef struct adb_topo_forest {
    char *root;         /* DNS name of the forest root domain */
    int level;          /* forest functional level */
    bool own;           /* the joined domain's forest */
    bool contacted;
    char *error;
    char **upn_suffixes;
    size_t n_upn_suffixes;
} adb_topo_forest;

typedef struct adb_topo_trust {
    char *domain;       /* where the trustedDomain object was read */
    char *partner;      /* trustPartner, lower case */
    char *flat_name;    /* flatName (NetBIOS) */
    bool has_sid;
    adb_sid sid;        /* securityIdentifier */
    uint32_t direction, type, attributes;
} adb_topo_trust;

typedef struct adb_topology {
    int refs_;
    char *joined;           /* the joined domain (from the machine account's realm) */
    time_t discovered;
    char *dc_time;          /* currentTime of the joined domain's DC, as sent */
    adb_topo_forest *forests;
    size_t n_forests;
    adb_topo_domain *domains;
    size_t n_domains;
    adb_topo_trust *trusts;
    size_t n_trusts;
} adb_topology;

/* Reads the topology.  Partial failures (a forest whose DCs do not answer)
 * are recorded in the forest's and domains' error fields, not returned:
 * ADB_OK with errors inside.  Returns an error only for bad arguments or
 * memory. */
adb_code adb_topology_discover(adb_pool *pool, adb_subscriptions *subs, const adb_config *cfg,
                               const char *joined, const adb_logger *log, adb_topology **out, adb_error *err);

adb_topology *adb_topology_ref(adb_topology *t);
void adb_topology_unref(adb_topology *t);

/* Domain by DNS or NetBIOS name (case-insensitive); NULL when unknown. */
const adb_topo_domain *adb_topology_domain(const adb_topology *t, const char *name);
/* The domain whose SID is sid's domain part (sid = domain SID + RID). */
const adb_topo_domain *adb_topology_domain_of_sid(const adb_topology *t, const adb_sid *sid);
/* The domain whose naming context holds dn (by its DC= tail). */
const adb_topo_domain *adb_topology_domain_of_dn(const adb_topology *t, const char *dn);
const adb_topo_forest *adb_topology_forest(const adb_topology *t, const char *root);

/* Level 4 (2008 R2) and up; an unknown level counts as supported. */
bool adb_level_supported(int level);
/* "2008 R2", "2016", ... ("unknown" for ADB_LEVEL_UNKNOWN). */
const char *adb_level_name(int level);
/* "inbound", "outbound", "bidirectional", "disabled". */
const char *adb_trust_direction_name(uint32_t direction);

json_t *adb_topology_to_json(const adb_topology *t, adb_subscriptions *subs);

/* ---- decoders of what discovery reads (exposed for tests) ---- */
typedef struct adb_rootdse {
    char default_nc[512], config_nc[512], root_nc[512], dns_host_name[256], current_time[32];
    int domain_level, forest_level;
} adb_rootdse;

/* The attribute lists to request for each read. */
extern const char *const adb_rootdse_attrs[];
extern const char *const adb_crossref_attrs[];
extern const char *const adb_trust_attrs[];

/* ADB_E_PROTOCOL when a required value is missing or malformed. */
adb_code adb_rootdse_decode(const adb_ldap_entry *e, adb_rootdse *out, adb_error *err);

/* A crossRef entry.  *is_domain is false for non-domain partitions
 * (configuration, schema, DNS zones), which leave out untouched. */
adb_code adb_crossref_decode(const adb_ldap_entry *e, adb_topo_domain *out, bool *is_domain, adb_error *err);

/* A trustedDomain entry, read in domain. */
adb_code adb_trust_decode(const adb_ldap_entry *e, const char *domain, adb_topo_trust *out, adb_error *err);

void adb_topo_domain_clear(adb_topo_domain *d);
void adb_topo_trust_clear(adb_topo_trust *t);

#endif
