/* Forests, domains and trusts (see include/adbridge/topology.h). */
#include "config.h"

#include <adbridge/text.h>
#include <adbridge/dn.h>
#include <adbridge/topology.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* crossRef systemFlags: FLAG_CR_NTDS_NC | FLAG_CR_NTDS_DOMAIN (MS-ADTS 6.1.1.2.1.1.5). */
enum { CR_DOMAIN_FLAGS = 0x3, MAX_QUEUE = 256 };

const char *const adb_rootdse_attrs[] = {
    "defaultNamingContext", "configurationNamingContext", "rootDomainNamingContext", "dnsHostName",
    "domainFunctionality", "forestFunctionality", "currentTime", NULL,
};
const char *const adb_crossref_attrs[] = { "nETBIOSName", "dnsRoot", "nCName", "systemFlags", NULL };
const char *const adb_trust_attrs[] = {
    "trustPartner", "flatName", "trustDirection", "trustType", "trustAttributes", "securityIdentifier", NULL,
};
static const char *const nc_head_attrs[] = { "objectSid", "msDS-Behavior-Version", NULL };
static const char *const partitions_attrs[] = { "msDS-Behavior-Version", "uPNSuffixes", NULL };

/* ---- small helpers ---- */

static char *lower_dup(const char *s)
{
    char *d = s != NULL ? strdup(s) : NULL;

    adb_ascii_lower_in_place(d);
    return d;
}

static void set_str(char **field, const char *value)
{
    if (*field == NULL && value != NULL)
        *field = strdup(value);
}

bool adb_level_supported(int level)
{
    return level == ADB_LEVEL_UNKNOWN || level >= ADB_LEVEL_2008R2;
}

const char *adb_level_name(int level)
{
    static const char *const names[] = { "2000", "2003 interim", "2003", "2008", "2008 R2", "2012", "2012 R2",
                                         "2016" };
    if (level >= 0 && level < (int)(sizeof names / sizeof names[0]))
        return names[level];
    return level > 7 ? "newer than 2016" : "unknown";
}

const char *adb_trust_direction_name(uint32_t direction)
{
    switch (direction & 3) {
    case ADB_TRUST_DIRECTION_INBOUND: return "inbound";
    case ADB_TRUST_DIRECTION_OUTBOUND: return "outbound";
    case ADB_TRUST_DIRECTION_INBOUND | ADB_TRUST_DIRECTION_OUTBOUND: return "bidirectional";
    }
    return "disabled";
}

static const char *trust_type_name(uint32_t type)
{
    switch (type) {
    case ADB_TRUST_TYPE_DOWNLEVEL: return "downlevel";
    case ADB_TRUST_TYPE_UPLEVEL: return "uplevel";
    case ADB_TRUST_TYPE_MIT: return "mit";
    }
    return "other";
}

/* ---- decoders ---- */

adb_code adb_rootdse_decode(const adb_ldap_entry *e, adb_rootdse *out, adb_error *err)
{
    int64_t level;

    memset(out, 0, sizeof *out);
    out->domain_level = out->forest_level = ADB_LEVEL_UNKNOWN;
    if (adb_ldap_entry_str(e, "defaultNamingContext", out->default_nc, sizeof out->default_nc) == NULL
        || adb_ldap_entry_str(e, "configurationNamingContext", out->config_nc, sizeof out->config_nc) == NULL
        || adb_ldap_entry_str(e, "rootDomainNamingContext", out->root_nc, sizeof out->root_nc) == NULL)
        return adb_error_set(err, ADB_E_PROTOCOL,
                             "rootDSE lacks defaultNamingContext, configurationNamingContext or "
                             "rootDomainNamingContext (is this an AD domain controller?)");
    adb_ldap_entry_str(e, "dnsHostName", out->dns_host_name, sizeof out->dns_host_name);
    adb_ldap_entry_str(e, "currentTime", out->current_time, sizeof out->current_time);
    if (adb_ldap_entry_int64(e, "domainFunctionality", &level) && level >= 0 && level < 100)
        out->domain_level = (int)level;
    if (adb_ldap_entry_int64(e, "forestFunctionality", &level) && level >= 0 && level < 100)
        out->forest_level = (int)level;
    return ADB_OK;
}

adb_code adb_crossref_decode(const adb_ldap_entry *e, adb_topo_domain *out, bool *is_domain, adb_error *err)
{
    char dns[ADB_DOMAIN_MAX], netbios[64], nc[512];
    int64_t flags = 0;

    *is_domain = false;
    if (!adb_ldap_entry_int64(e, "systemFlags", &flags) || (flags & CR_DOMAIN_FLAGS) != CR_DOMAIN_FLAGS)
        return ADB_OK;
    if (adb_ldap_entry_str(e, "dnsRoot", dns, sizeof dns) == NULL || !adb_dns_name_valid(dns)
        || adb_ldap_entry_str(e, "nCName", nc, sizeof nc) == NULL || !adb_dn_valid(nc))
        return adb_error_set(err, ADB_E_PROTOCOL, "crossRef %.200s lacks a valid dnsRoot or nCName", e->dn);
    memset(out, 0, sizeof *out);
    out->level = out->forest_level = ADB_LEVEL_UNKNOWN;
    out->dns = lower_dup(dns);
    out->nc = strdup(nc);
    if (adb_ldap_entry_str(e, "nETBIOSName", netbios, sizeof netbios) != NULL)
        out->netbios = strdup(netbios);
    if (out->dns == NULL || out->nc == NULL) {
        adb_topo_domain_clear(out);
        return adb_error_set(err, ADB_E_NOMEM, "out of memory");
    }
    *is_domain = true;
    return ADB_OK;
}

adb_code adb_trust_decode(const adb_ldap_entry *e, const char *domain, adb_topo_trust *out, adb_error *err)
{
    char partner[ADB_DOMAIN_MAX], flat[64];
    int64_t v;
    struct berval **sid;

    memset(out, 0, sizeof *out);
    if (adb_ldap_entry_str(e, "trustPartner", partner, sizeof partner) == NULL)
        return adb_error_set(err, ADB_E_PROTOCOL, "trustedDomain %.200s has no trustPartner", e->dn);
    if ((out->partner = lower_dup(partner)) == NULL || (out->domain = lower_dup(domain)) == NULL)
        goto nomem;
    if (adb_ldap_entry_str(e, "flatName", flat, sizeof flat) != NULL && (out->flat_name = strdup(flat)) == NULL)
        goto nomem;
    if (adb_ldap_entry_int64(e, "trustDirection", &v))
        out->direction = (uint32_t)v;
    if (adb_ldap_entry_int64(e, "trustType", &v))
        out->type = (uint32_t)v;
    if (adb_ldap_entry_int64(e, "trustAttributes", &v))
        out->attributes = (uint32_t)v;
    if ((sid = adb_ldap_entry_values(e, "securityIdentifier")) != NULL && sid[0] != NULL) {
        adb_code rc = adb_sid_decode(sid[0]->bv_val, sid[0]->bv_len, &out->sid, err);
        if (rc != ADB_OK) {
            adb_error_prefix(err, "securityIdentifier of trust %s", out->partner);
            adb_topo_trust_clear(out);
            return rc;
        }
        out->has_sid = true;
    }
    return ADB_OK;
nomem:
    adb_topo_trust_clear(out);
    return adb_error_set(err, ADB_E_NOMEM, "out of memory");
}

void adb_topo_domain_clear(adb_topo_domain *d)
{
    free(d->dns);
    free(d->netbios);
    free(d->nc);
    free(d->forest);
    free(d->dc);
    free(d->error);
    memset(d, 0, sizeof *d);
}

void adb_topo_trust_clear(adb_topo_trust *t)
{
    free(t->domain);
    free(t->partner);
    free(t->flat_name);
    memset(t, 0, sizeof *t);
}

static void forest_clear(adb_topo_forest *f)
{
    free(f->root);
    free(f->error);
    for (size_t i = 0; i < f->n_upn_suffixes; i++)
        free(f->upn_suffixes[i]);
    free(f->upn_suffixes);
    memset(f, 0, sizeof *f);
}

adb_topology *adb_topology_ref(adb_topology *t)
{
    if (t != NULL)
        __atomic_add_fetch(&t->refs_, 1, __ATOMIC_RELAXED);
    return t;
}

void adb_topology_unref(adb_topology *t)
{
    if (t == NULL || __atomic_sub_fetch(&t->refs_, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    for (size_t i = 0; i < t->n_forests; i++)
        forest_clear(&t->forests[i]);
    for (size_t i = 0; i < t->n_domains; i++)
        adb_topo_domain_clear(&t->domains[i]);
    for (size_t i = 0; i < t->n_trusts; i++)
        adb_topo_trust_clear(&t->trusts[i]);
    free(t->forests);
    free(t->domains);
    free(t->trusts);
    free(t->joined);
    free(t->dc_time);
    free(t);
}

/* ---- lookups ---- */

const adb_topo_domain *adb_topology_domain(const adb_topology *t, const char *name)
{
    if (name == NULL)
        return NULL;
    for (size_t i = 0; i < t->n_domains; i++)
        if (strcasecmp(t->domains[i].dns, name) == 0)
            return &t->domains[i];
    for (size_t i = 0; i < t->n_domains; i++)
        if (t->domains[i].netbios != NULL && strcasecmp(t->domains[i].netbios, name) == 0)
            return &t->domains[i];
    return NULL;
}

const adb_topo_domain *adb_topology_domain_of_sid(const adb_topology *t, const adb_sid *sid)
{
    for (size_t i = 0; i < t->n_domains; i++)
        if (t->domains[i].has_sid && adb_sid_in_domain(sid, &t->domains[i].sid))
            return &t->domains[i];
    return NULL;
}

const adb_topo_domain *adb_topology_domain_of_dn(const adb_topology *t, const char *dn)
{
    char domain[ADB_DOMAIN_MAX];

    if (adb_dn_domain(dn, domain, sizeof domain, NULL) != ADB_OK)
        return NULL;
    for (size_t i = 0; i < t->n_domains; i++)
        if (strcasecmp(t->domains[i].dns, domain) == 0)
            return &t->domains[i];
    return NULL;
}

const adb_topo_forest *adb_topology_forest(const adb_topology *t, const char *root)
{
    for (size_t i = 0; root != NULL && i < t->n_forests; i++)
        if (strcasecmp(t->forests[i].root, root) == 0)
            return &t->forests[i];
    return NULL;
}

/* ---- discovery ---- */

/* What one DC tells about its domain (and, unless domain_only, its forest). */
typedef struct dc_read {
    bool domain_only;
    adb_rootdse root;
    bool has_sid;
    adb_sid sid;
    int domain_level, forest_level;
    adb_topo_domain *crossrefs;
    size_t n_crossrefs;
    char **upn;
    size_t n_upn;
    adb_topo_trust *trusts;
    size_t n_trusts;
} dc_read;

static void dc_read_reset(dc_read *r)
{
    bool domain_only = r->domain_only;

    for (size_t i = 0; i < r->n_crossrefs; i++)
        adb_topo_domain_clear(&r->crossrefs[i]);
    for (size_t i = 0; i < r->n_trusts; i++)
        adb_topo_trust_clear(&r->trusts[i]);
    for (size_t i = 0; i < r->n_upn; i++)
        free(r->upn[i]);
    free(r->crossrefs);
    free(r->trusts);
    free(r->upn);
    memset(r, 0, sizeof *r);
    r->domain_only = domain_only;
    r->domain_level = r->forest_level = ADB_LEVEL_UNKNOWN;
}

static bool grow(void **v, size_t n, size_t elem)
{
    /* Grows by one element at a time: these lists are short. */
    void *grown = realloc(*v, (n + 1) * elem);
    if (grown == NULL)
        return false;
    *v = grown;
    return true;
}

typedef adb_code (*entry_fn)(const adb_ldap_entry *e, dc_read *r, adb_error *err);

static adb_code search_each(adb_ldap_conn *c, const char *base, const char *filter, const char *const *attrs,
                            entry_fn fn, dc_read *r, adb_error *err)
{
    adb_ldap_search *s;
    adb_ldap_entry *e;
    adb_code rc = adb_ldap_search_begin(c, base, ADB_LDAP_SCOPE_ONE, filter, attrs, 0, &s, err);

    while (rc == ADB_OK && (rc = adb_ldap_search_next(s, &e, err)) == ADB_OK && e != NULL) {
        rc = fn(e, r, err);
        adb_ldap_entry_free(e);
    }
    adb_ldap_search_end(s);
    return rc;
}

static adb_code on_crossref(const adb_ldap_entry *e, dc_read *r, adb_error *err)
{
    adb_topo_domain d;
    bool is_domain;
    adb_code rc = adb_crossref_decode(e, &d, &is_domain, err);

    if (rc != ADB_OK || !is_domain)
        return rc;
    if (!grow((void **)&r->crossrefs, r->n_crossrefs, sizeof *r->crossrefs)) {
        adb_topo_domain_clear(&d);
        return adb_error_set(err, ADB_E_NOMEM, "out of memory");
    }
    r->crossrefs[r->n_crossrefs++] = d;
    return ADB_OK;
}

static adb_code on_trust(const adb_ldap_entry *e, dc_read *r, adb_error *err)
{
    adb_topo_trust t;
    char domain[ADB_DOMAIN_MAX];
    adb_code rc;

    if ((rc = adb_dn_domain(r->root.default_nc, domain, sizeof domain, err)) != ADB_OK
        || (rc = adb_trust_decode(e, domain, &t, err)) != ADB_OK)
        return rc;
    if (!grow((void **)&r->trusts, r->n_trusts, sizeof *r->trusts)) {
        adb_topo_trust_clear(&t);
        return adb_error_set(err, ADB_E_NOMEM, "out of memory");
    }
    r->trusts[r->n_trusts++] = t;
    return ADB_OK;
}

/* One pool operation: everything from one DC over one connection.
 * Starts from scratch, as the pool may run it again on another DC. */
static adb_code op_read_dc(adb_ldap_conn *c, void *arg, adb_error *err)
{
    dc_read *r = arg;
    adb_ldap_entry *e;
    char base[600];
    struct berval **v;
    int64_t level;
    adb_code rc;

    dc_read_reset(r);
    if ((rc = adb_ldap_read(c, "", NULL, adb_rootdse_attrs, &e, err)) != ADB_OK)
        return rc;
    rc = adb_rootdse_decode(e, &r->root, err);
    adb_ldap_entry_free(e);
    if (rc != ADB_OK)
        return rc;
    r->domain_level = r->root.domain_level;
    r->forest_level = r->root.forest_level;

    if ((rc = adb_ldap_read(c, r->root.default_nc, NULL, nc_head_attrs, &e, err)) != ADB_OK)
        return rc;
    if ((v = adb_ldap_entry_values(e, "objectSid")) != NULL && v[0] != NULL
        && (rc = adb_sid_decode(v[0]->bv_val, v[0]->bv_len, &r->sid, err)) == ADB_OK)
        r->has_sid = true;
    if (adb_ldap_entry_int64(e, "msDS-Behavior-Version", &level) && level >= 0 && level < 100)
        r->domain_level = (int)level;
    adb_ldap_entry_free(e);
    if (rc != ADB_OK)
        return rc;

    if (!r->domain_only) {
        snprintf(base, sizeof base, "CN=Partitions,%s", r->root.config_nc);
        if ((rc = adb_ldap_read(c, base, NULL, partitions_attrs, &e, err)) != ADB_OK)
            return rc;
        if (adb_ldap_entry_int64(e, "msDS-Behavior-Version", &level) && level >= 0 && level < 100)
            r->forest_level = (int)level;
        v = adb_ldap_entry_values(e, "uPNSuffixes");
        for (size_t i = 0; v != NULL && v[i] != NULL; i++) {
            if (!grow((void **)&r->upn, r->n_upn, sizeof *r->upn)
                || (r->upn[r->n_upn] = strndup(v[i]->bv_val, v[i]->bv_len)) == NULL) {
                adb_ldap_entry_free(e);
                return adb_error_set(err, ADB_E_NOMEM, "out of memory");
            }
            r->n_upn++;
        }
        adb_ldap_entry_free(e);
        if ((rc = search_each(c, base, "(objectClass=crossRef)", adb_crossref_attrs, on_crossref, r, err)) != ADB_OK)
            return rc;
    }
    snprintf(base, sizeof base, "CN=System,%s", r->root.default_nc);
    return search_each(c, base, "(objectClass=trustedDomain)", adb_trust_attrs, on_trust, r, err);
}

typedef struct builder {
    adb_topology *t;
    adb_pool *pool;
    adb_subscriptions *subs;
    const adb_logger *log;
    char *queue[MAX_QUEUE];
    size_t n_queue;
    bool failed;             /* out of memory while building */
} builder;

static adb_topo_domain *find_domain(adb_topology *t, const char *dns)
{
    for (size_t i = 0; i < t->n_domains; i++)
        if (strcasecmp(t->domains[i].dns, dns) == 0)
            return &t->domains[i];
    return NULL;
}

static adb_topo_domain *add_domain(builder *b, const char *dns)
{
    adb_topo_domain *d = find_domain(b->t, dns);

    if (d != NULL)
        return d;
    if (!grow((void **)&b->t->domains, b->t->n_domains, sizeof *b->t->domains)) {
        b->failed = true;
        return NULL;
    }
    d = &b->t->domains[b->t->n_domains];
    memset(d, 0, sizeof *d);
    d->level = d->forest_level = ADB_LEVEL_UNKNOWN;
    if ((d->dns = lower_dup(dns)) == NULL) {
        b->failed = true;
        return NULL;
    }
    b->t->n_domains++;
    return d;
}

static adb_topo_forest *add_forest(builder *b, const char *root)
{
    adb_topo_forest *f;

    for (size_t i = 0; i < b->t->n_forests; i++)
        if (strcasecmp(b->t->forests[i].root, root) == 0)
            return &b->t->forests[i];
    if (!grow((void **)&b->t->forests, b->t->n_forests, sizeof *b->t->forests)) {
        b->failed = true;
        return NULL;
    }
    f = &b->t->forests[b->t->n_forests];
    memset(f, 0, sizeof *f);
    f->level = ADB_LEVEL_UNKNOWN;
    if ((f->root = lower_dup(root)) == NULL) {
        b->failed = true;
        return NULL;
    }
    b->t->n_forests++;
    return f;
}

static void enqueue(builder *b, const char *dns)
{
    for (size_t i = 0; i < b->n_queue; i++)
        if (strcasecmp(b->queue[i], dns) == 0)
            return;
    if (b->n_queue < MAX_QUEUE && (b->queue[b->n_queue] = lower_dup(dns)) != NULL)
        b->n_queue++;
}

static void record_error(builder *b, const char *dns, const adb_error *e)
{
    adb_topo_domain *d = add_domain(b, dns);
    char msg[ADB_ERROR_MESSAGE_MAX + 32];

    snprintf(msg, sizeof msg, "%s: %s", adb_code_name(e->code), e->message);
    if (d != NULL && d->error == NULL)
        d->error = strdup(msg);
    adb_log(b->log, ADB_LOG_WARN, "topology_read_failed", "domain=%s code=%s", dns, adb_code_name(e->code));
}

/* Folds one DC's answer into the topology. */
static void merge(builder *b, const char *asked, dc_read *r)
{
    char dns[ADB_DOMAIN_MAX], root_dns[ADB_DOMAIN_MAX] = "";
    adb_topo_domain *d;
    adb_topo_forest *f = NULL;

    if (adb_dn_domain(r->root.default_nc, dns, sizeof dns, NULL) != ADB_OK)
        snprintf(dns, sizeof dns, "%s", asked);
    if (!r->domain_only) {
        if (adb_dn_domain(r->root.root_nc, root_dns, sizeof root_dns, NULL) != ADB_OK)
            snprintf(root_dns, sizeof root_dns, "%s", dns);
        for (size_t i = 0; i < r->n_crossrefs; i++)
            if (strcasecmp(r->crossrefs[i].nc, r->root.root_nc) == 0)
                snprintf(root_dns, sizeof root_dns, "%s", r->crossrefs[i].dns);
        if ((f = add_forest(b, root_dns)) == NULL)
            return;
        f->contacted = true;
        f->level = r->forest_level;
        if (f->n_upn_suffixes == 0 && r->n_upn > 0) {
            /* Moved, not copied: r is reset after the merge. */
            f->upn_suffixes = r->upn;
            f->n_upn_suffixes = r->n_upn;
            r->upn = NULL;
            r->n_upn = 0;
        }
        for (size_t i = 0; i < r->n_crossrefs; i++) {
            adb_topo_domain *x = add_domain(b, r->crossrefs[i].dns);
            if (x == NULL)
                return;
            set_str(&x->netbios, r->crossrefs[i].netbios);
            set_str(&x->nc, r->crossrefs[i].nc);
            set_str(&x->forest, root_dns);
            enqueue(b, x->dns);   /* enabled ones get their own read (SID, level) */
        }
    }
    if ((d = add_domain(b, dns)) == NULL)
        return;
    d->contacted = true;
    set_str(&d->nc, r->root.default_nc);
    if (f != NULL)
        set_str(&d->forest, f->root);
    set_str(&d->dc, r->root.dns_host_name[0] != '\0' ? r->root.dns_host_name : NULL);
    d->has_sid = r->has_sid;
    d->sid = r->sid;
    d->level = r->domain_level;
    free(d->error);
    d->error = NULL;
    if (strcasecmp(dns, b->t->joined) == 0 && r->root.current_time[0] != '\0' && b->t->dc_time == NULL)
        b->t->dc_time = strdup(r->root.current_time);
    for (size_t i = 0; i < r->n_trusts; i++) {
        if (!grow((void **)&b->t->trusts, b->t->n_trusts, sizeof *b->t->trusts)) {
            b->failed = true;
            return;
        }
        b->t->trusts[b->t->n_trusts++] = r->trusts[i];
        memset(&r->trusts[i], 0, sizeof r->trusts[i]);   /* moved */
        enqueue(b, b->t->trusts[b->t->n_trusts - 1].partner);
    }
    r->n_trusts = 0;
}

static void visit(builder *b, const char *dns)
{
    adb_topo_domain *known = find_domain(b->t, dns);
    dc_read r = { 0 };
    adb_error e = { 0 };

    if (known != NULL && known->contacted)
        return;
    if (!adb_subscriptions_enabled(b->subs, dns))
        return;   /* never contacted: the locator would refuse anyway */
    /* A domain of a forest already read needs only its own part. */
    r.domain_only = known != NULL && known->forest != NULL && adb_topology_forest(b->t, known->forest) != NULL
                    && adb_topology_forest(b->t, known->forest)->contacted;
    if (adb_pool_run(b->pool, dns, ADB_POOL_DC, op_read_dc, &r, &e) == ADB_OK)
        merge(b, dns, &r);
    else
        record_error(b, dns, &e);
    dc_read_reset(&r);
}

/* Adds what the trusts say about partners that were not read themselves. */
static void add_trust_partners(builder *b)
{
    for (size_t i = 0; i < b->t->n_trusts; i++) {
        const adb_topo_trust *tr = &b->t->trusts[i];
        adb_topo_domain *d = add_domain(b, tr->partner);
        char nc[512];
        if (d == NULL)
            return;
        set_str(&d->netbios, tr->flat_name);
        if (!d->has_sid && tr->has_sid) {
            d->has_sid = true;
            d->sid = tr->sid;
        }
        if (d->nc == NULL && adb_dn_from_domain(d->dns, nc, sizeof nc, NULL) == ADB_OK)
            d->nc = strdup(nc);
        if ((tr->attributes & ADB_TRUST_ATTR_FOREST_TRANSITIVE) && d->forest == NULL) {
            d->forest = strdup(tr->partner);
            add_forest(b, tr->partner);
        }
    }
}

static int cmp_domain(const void *a, const void *b)
{
    const adb_topo_domain *x = a, *y = b;
    int c = strcmp(x->forest != NULL ? x->forest : "~", y->forest != NULL ? y->forest : "~");
    return c != 0 ? c : strcmp(x->dns, y->dns);
}

adb_code adb_topology_discover(adb_pool *pool, adb_subscriptions *subs, const adb_config *cfg,
                               const char *joined, const adb_logger *log, adb_topology **out, adb_error *err)
{
    builder b = { .pool = pool, .subs = subs, .log = log };
    const adb_topo_domain *jd;

    *out = NULL;
    if (joined == NULL || !adb_dns_name_valid(joined))
        return adb_error_set(err, ADB_E_INVALID_REQUEST, "joined domain '%s' is not a DNS name",
                             joined != NULL ? joined : "");
    if ((b.t = calloc(1, sizeof *b.t)) == NULL || (b.t->joined = lower_dup(joined)) == NULL) {
        free(b.t);
        return adb_error_set(err, ADB_E_NOMEM, "out of memory");
    }
    b.t->refs_ = 1;
    b.t->discovered = time(NULL);
    enqueue(&b, joined);
    for (size_t i = 0; i < cfg->n_domains; i++)
        enqueue(&b, cfg->domains[i].name);
    for (size_t i = 0; i < b.n_queue && !b.failed; i++)
        visit(&b, b.queue[i]);
    add_trust_partners(&b);
    for (size_t i = 0; i < cfg->n_domains; i++) {
        adb_topo_domain *d = add_domain(&b, cfg->domains[i].name);
        if (d != NULL)
            d->configured = true;
    }
    add_domain(&b, joined);
    for (size_t i = 0; i < b.n_queue; i++)
        free(b.queue[i]);
    if (b.failed) {
        adb_topology_unref(b.t);
        return adb_error_set(err, ADB_E_NOMEM, "out of memory while reading the topology");
    }
    for (size_t i = 0; i < b.t->n_domains; i++) {
        const adb_topo_forest *f = adb_topology_forest(b.t, b.t->domains[i].forest);
        b.t->domains[i].forest_level = f != NULL ? f->level : ADB_LEVEL_UNKNOWN;
    }
    qsort(b.t->domains, b.t->n_domains, sizeof *b.t->domains, cmp_domain);
    if ((jd = adb_topology_domain(b.t, joined)) != NULL && jd->forest != NULL)
        for (size_t i = 0; i < b.t->n_forests; i++)
            b.t->forests[i].own = strcasecmp(b.t->forests[i].root, jd->forest) == 0;
    adb_log(log, ADB_LOG_DEBUG, "topology_read", "forests=%zu domains=%zu trusts=%zu", b.t->n_forests,
            b.t->n_domains, b.t->n_trusts);
    *out = b.t;
    return ADB_OK;
}

/* ---- JSON ---- */

static json_t *jstr(const char *s)
{
    json_t *j = s != NULL ? json_string(s) : NULL;
    return j != NULL ? j : json_null();
}

static json_t *jsid(bool has, const adb_sid *sid)
{
    char buf[ADB_SID_STRING_MAX];
    return has && adb_sid_format(sid, buf, sizeof buf, NULL) == ADB_OK ? json_string(buf) : json_null();
}

static json_t *jlevel(int level)
{
    return level == ADB_LEVEL_UNKNOWN ? json_null() : json_integer(level);
}

json_t *adb_topology_to_json(const adb_topology *t, adb_subscriptions *subs)
{
    json_t *root = json_object(), *forests = json_array(), *domains = json_array(), *trusts = json_array();

    for (size_t i = 0; i < t->n_forests; i++) {
        const adb_topo_forest *f = &t->forests[i];
        json_t *suffixes = json_array();
        for (size_t k = 0; k < f->n_upn_suffixes; k++)
            json_array_append_new(suffixes, jstr(f->upn_suffixes[k]));
        json_array_append_new(forests, json_pack("{s:o,s:s,s:o,s:o,s:b,s:b,s:o,s:o}", "root", jstr(f->root),
                                                 "relation", f->own ? "own" : "trusted", "functional_level",
                                                 jlevel(f->level), "level_name",
                                                 f->level == ADB_LEVEL_UNKNOWN ? json_null()
                                                                               : json_string(adb_level_name(f->level)),
                                                 "supported", adb_level_supported(f->level), "contacted",
                                                 f->contacted, "upn_suffixes", suffixes, "error", jstr(f->error)));
    }
    for (size_t i = 0; i < t->n_domains; i++) {
        const adb_topo_domain *d = &t->domains[i];
        json_array_append_new(
            domains, json_pack("{s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:b,s:b,s:b,s:b,s:o,s:o}", "dns", jstr(d->dns),
                               "netbios", jstr(d->netbios), "nc", jstr(d->nc), "forest", jstr(d->forest), "sid",
                               jsid(d->has_sid, &d->sid), "functional_level", jlevel(d->level), "level_name",
                               d->level == ADB_LEVEL_UNKNOWN ? json_null() : json_string(adb_level_name(d->level)),
                               "supported", adb_level_supported(d->level) && adb_level_supported(d->forest_level),
                               "use_for_subscriptions",
                               adb_subscriptions_enabled(subs, d->dns), "configured", d->configured,
                               "contacted", d->contacted, "dc", jstr(d->dc), "error", jstr(d->error)));
    }
    for (size_t i = 0; i < t->n_trusts; i++) {
        const adb_topo_trust *tr = &t->trusts[i];
        json_array_append_new(
            trusts, json_pack("{s:o,s:o,s:o,s:o,s:s,s:s,s:b,s:b,s:i}", "domain", jstr(tr->domain), "partner",
                              jstr(tr->partner), "flat_name", jstr(tr->flat_name), "sid",
                              jsid(tr->has_sid, &tr->sid), "direction", adb_trust_direction_name(tr->direction),
                              "type", trust_type_name(tr->type), "forest_transitive",
                              (tr->attributes & ADB_TRUST_ATTR_FOREST_TRANSITIVE) != 0, "within_forest",
                              (tr->attributes & ADB_TRUST_ATTR_WITHIN_FOREST) != 0, "attributes",
                              (int)tr->attributes));
    }
    json_object_set_new(root, "joined_domain", jstr(t->joined));
    json_object_set_new(root, "dc_time", jstr(t->dc_time));
    json_object_set_new(root, "forests", forests);
    json_object_set_new(root, "domains", domains);
    json_object_set_new(root, "trusts", trusts);
    return root;
}
