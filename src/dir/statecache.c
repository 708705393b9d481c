/* The CLI's caches in the state directory (see include/adbridge/statecache.h):
 * the envelope, safe reads and atomic writes, and the codecs of the
 * topology and of located DC lists.  Decoders check every field as they
 * would data from the network: a cache file is a hint, not a trusted input. */
#include "config.h"

#include <adbridge/config.h>
#include <adbridge/dn.h>
#include <adbridge/fileio.h>
#include <adbridge/sid.h>
#include <adbridge/statecache.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum {
    CACHE_VERSION = 1,
    CLOCK_SLACK_S = 300,     /* a file written up to this far "in the future" is still read */
    MAX_FORESTS = 256,
    MAX_DOMAINS = 1024,
    MAX_TRUSTS = 1024,
    MAX_SUFFIXES = 1024,
    MAX_DCS = 256,
    NAME_MAX_BYTES = 255,    /* a DNS name, a host, a trust partner */
    SHORT_MAX_BYTES = 63,    /* a NetBIOS name, a site */
    TEXT_MAX_BYTES = 2048,   /* an error message */
};

bool adb_statecache_dir_ok(const char *dir, char *why, size_t size)
{
    struct stat st;
    uid_t me = geteuid();

    if (dir == NULL || stat(dir, &st) != 0) {
        snprintf(why, size, "%s", dir == NULL ? "no state directory" : strerror(errno));
        return false;
    }
    if (!S_ISDIR(st.st_mode)) {
        snprintf(why, size, "not a directory");
        return false;
    }
    if ((st.st_mode & 077) != 0) {
        snprintf(why, size, "mode %04o: group or others have access (want 0700)", (unsigned)(st.st_mode & 07777));
        return false;
    }
    if (st.st_uid != me && me != 0) {
        snprintf(why, size, "owned by uid %u, not by this user (uid %u)", (unsigned)st.st_uid, (unsigned)me);
        return false;
    }
    return true;
}

/* ======================================================================
 * The envelope.
 * ====================================================================== */

char *adb_statecache_encode(const char *kind, const char *scope, time_t written, time_t expires, json_t *data)
{
    char format[64];
    json_t *j;
    char *text;

    snprintf(format, sizeof format, "adbridge-%s-cache", kind);
    j = json_pack("{s:s, s:i, s:s, s:I, s:I, s:o}", "format", format, "version", CACHE_VERSION, "scope", scope, "written",
                  (json_int_t)written, "expires", (json_int_t)expires, "data", data);
    if (j == NULL)
        return NULL;
    text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    return text;
}

adb_code adb_statecache_decode(const char *text, size_t len, const char *kind, const char *scope, time_t now,
                               json_t **data, time_t *written, time_t *expires, adb_error *err)
{
    json_error_t je;
    json_t *root, *d;
    const char *format, *sc;
    json_int_t version, w, e;
    char want[64];
    adb_code rc = ADB_E_PROTOCOL;

    *data = NULL;
    if ((root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je)) == NULL)
        return adb_error_set(err, ADB_E_PROTOCOL, "not JSON (%s, line %d)", je.text, je.line);
    if (json_unpack_ex(root, &je, JSON_STRICT, "{s:s, s:I, s:s, s:I, s:I, s:o}", "format", &format, "version",
                       &version, "scope", &sc, "written", &w, "expires", &e, "data", &d) != 0) {
        adb_error_set(err, ADB_E_PROTOCOL, "not a cache file of adbridge (%s)", je.text);
        goto out;
    }
    snprintf(want, sizeof want, "adbridge-%s-cache", kind);
    if (strcmp(format, want) != 0)
        adb_error_set(err, ADB_E_PROTOCOL, "format '%.60s', not '%s'", format, want);
    else if (version != CACHE_VERSION)
        adb_error_set(err, ADB_E_PROTOCOL, "version %lld (written by another adbridge)", (long long)version);
    else if (strcmp(sc, scope) != 0)
        adb_error_set(err, ADB_E_PROTOCOL, "written for another configuration or flags (its scope differs)");
    else if (w > (json_int_t)now + CLOCK_SLACK_S)
        adb_error_set(err, ADB_E_PROTOCOL, "written %lld s in the future", (long long)(w - (json_int_t)now));
    else if (e < w || e - w > ADB_STATECACHE_MAX_TTL_S)
        adb_error_set(err, ADB_E_PROTOCOL, "lifetime %lld s is out of bounds", (long long)(e - w));
    else if (e <= (json_int_t)now)
        adb_error_set(err, ADB_E_PROTOCOL, "expired %lld s ago", (long long)((json_int_t)now - e));
    else if (!json_is_object(d))
        adb_error_set(err, ADB_E_PROTOCOL, "its data is not an object");
    else {
        *data = json_incref(d);
        if (written != NULL)
            *written = (time_t)w;
        if (expires != NULL)
            *expires = (time_t)e;
        rc = ADB_OK;
    }
out:
    json_decref(root);
    return rc;
}

adb_code adb_statecache_read(const char *path, const char *kind, const char *scope, time_t now, json_t **data,
                             time_t *written, time_t *expires, adb_error *err)
{
    struct stat st;
    char *text;
    size_t len;
    adb_code rc;

    *data = NULL;
    if (lstat(path, &st) != 0)
        return adb_error_set(err, errno == ENOENT ? ADB_E_NOT_FOUND : ADB_E_IO, "%s", strerror(errno));
    if (!S_ISREG(st.st_mode))
        return adb_error_set(err, ADB_E_PROTOCOL, "not a regular file");
    if (st.st_uid != geteuid())
        return adb_error_set(err, ADB_E_PROTOCOL, "owned by uid %u, not by this user", (unsigned)st.st_uid);
    if ((st.st_mode & 077) != 0)
        return adb_error_set(err, ADB_E_PROTOCOL, "mode %04o: group or others have access",
                             (unsigned)(st.st_mode & 07777));
    if (st.st_size > ADB_STATECACHE_MAX_BYTES)
        return adb_error_set(err, ADB_E_PROTOCOL, "larger than %d bytes", ADB_STATECACHE_MAX_BYTES);
    if ((rc = adb_file_read(path, ADB_STATECACHE_MAX_BYTES, &text, &len, err)) != ADB_OK)
        return rc;
    rc = adb_statecache_decode(text, len, kind, scope, now, data, written, expires, err);
    free(text);
    return rc;
}

adb_code adb_statecache_write(const char *path, const char *kind, const char *scope, time_t written,
                              time_t expires, json_t *data, adb_error *err)
{
    char *text = adb_statecache_encode(kind, scope, written, expires, data);
    adb_code rc;

    if (text == NULL)
        return adb_error_set(err, ADB_E_NOMEM, "cannot encode the %s cache (out of memory, or a value that is not "
                             "UTF-8)", kind);
    rc = adb_file_write_atomic(path, text, strlen(text), 0600, err);
    free(text);
    return rc;
}

void adb_statecache_log_ignored(const adb_logger *log, const char *path, const adb_error *why)
{
    char p[600], m[600];

    adb_log(log, ADB_LOG_DEBUG, "state_cache_ignored", "file=%s code=%s reason=%s", adb_log_value(p, sizeof p, path),
            adb_code_name(why->code), adb_log_value(m, sizeof m, why->message));
}

/* ======================================================================
 * Field checks.
 * ====================================================================== */

/* A JSON string of 1..max bytes (0..max when empty_ok) with no NUL and,
 * unless any_bytes, no control character. */
static bool text_ok(const json_t *v, size_t max, bool empty_ok, bool any_bytes)
{
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);

    if (s == NULL || strlen(s) != n || n > max || (n == 0 && !empty_ok))
        return false;
    for (size_t i = 0; i < n && !any_bytes; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return false;
    return true;
}

static bool dns_ok(const json_t *v)
{
    return text_ok(v, NAME_MAX_BYTES, false, false) && adb_dns_name_valid(json_string_value(v));
}

static bool level_ok(json_int_t level)
{
    return level >= ADB_LEVEL_UNKNOWN && level < 100;
}

static bool u32_ok(json_int_t v)
{
    return v >= 0 && v <= (json_int_t)UINT32_MAX;
}

/* *out = a copy of v (NULL for JSON null) when check(v) holds. */
static bool opt_dup(const json_t *v, bool (*check)(const json_t *), char **out)
{
    *out = NULL;
    if (json_is_null(v))
        return true;
    if (!check(v))
        return false;
    *out = strdup(json_string_value(v));
    return *out != NULL;
}

static bool dup_checked(const json_t *v, bool (*check)(const json_t *), char **out)
{
    return !json_is_null(v) && opt_dup(v, check, out);
}

static bool name_check(const json_t *v) { return text_ok(v, NAME_MAX_BYTES, false, false); }
static bool short_check(const json_t *v) { return text_ok(v, SHORT_MAX_BYTES, false, false); }
static bool message_check(const json_t *v) { return text_ok(v, TEXT_MAX_BYTES, false, true); }
static bool dn_check(const json_t *v)
{
    return text_ok(v, ADB_DN_MAX, false, false) && adb_dn_valid(json_string_value(v));
}
static bool time_check(const json_t *v) { return text_ok(v, 32, false, false); }

static bool sid_of(const json_t *v, bool *has, adb_sid *sid)
{
    *has = false;
    if (json_is_null(v))
        return true;
    if (!text_ok(v, ADB_SID_STRING_MAX, false, false)
        || adb_sid_parse(json_string_value(v), json_string_length(v), sid, NULL) != ADB_OK)
        return false;
    *has = true;
    return true;
}

static json_t *sid_json(bool has, const adb_sid *sid)
{
    char buf[ADB_SID_STRING_MAX];
    return has && adb_sid_format(sid, buf, sizeof buf, NULL) == ADB_OK ? json_string(buf) : json_null();
}

/* ======================================================================
 * The topology.
 * ====================================================================== */

json_t *adb_topology_cache_to_json(const adb_topology *t)
{
    json_t *forests = json_array(), *domains = json_array(), *trusts = json_array(), *root;
    bool ok = forests != NULL && domains != NULL && trusts != NULL;

    for (size_t i = 0; ok && i < t->n_forests; i++) {
        const adb_topo_forest *f = &t->forests[i];
        json_t *suffixes = json_array();
        for (size_t k = 0; suffixes != NULL && k < f->n_upn_suffixes; k++)
            ok &= json_array_append_new(suffixes, json_string(f->upn_suffixes[k])) == 0;
        ok &= json_array_append_new(forests, json_pack("{s:s, s:i, s:b, s:b, s:s?, s:o}", "root", f->root, "level",
                                                       f->level, "own", f->own, "contacted", f->contacted, "error",
                                                       f->error, "upn_suffixes", suffixes)) == 0;
    }
    for (size_t i = 0; ok && i < t->n_domains; i++) {
        const adb_topo_domain *d = &t->domains[i];
        ok &= json_array_append_new(
                  domains, json_pack("{s:s, s:s?, s:s?, s:s?, s:o, s:i, s:i, s:b, s:b, s:s?, s:s?}", "dns", d->dns,
                                     "netbios", d->netbios, "nc", d->nc, "forest", d->forest, "sid",
                                     sid_json(d->has_sid, &d->sid), "level", d->level, "forest_level",
                                     d->forest_level, "configured", d->configured, "contacted", d->contacted, "dc",
                                     d->dc, "error", d->error)) == 0;
    }
    for (size_t i = 0; ok && i < t->n_trusts; i++) {
        const adb_topo_trust *tr = &t->trusts[i];
        ok &= json_array_append_new(trusts, json_pack("{s:s, s:s, s:s?, s:o, s:I, s:I, s:I}", "domain", tr->domain,
                                                      "partner", tr->partner, "flat_name", tr->flat_name, "sid",
                                                      sid_json(tr->has_sid, &tr->sid), "direction",
                                                      (json_int_t)tr->direction, "type", (json_int_t)tr->type,
                                                      "attributes", (json_int_t)tr->attributes)) == 0;
    }
    if (!ok) {
        json_decref(forests);
        json_decref(domains);
        json_decref(trusts);
        return NULL;
    }
    root = json_pack("{s:s, s:I, s:s?, s:o, s:o, s:o}", "joined", t->joined, "discovered",
                     (json_int_t)t->discovered, "dc_time", t->dc_time, "forests", forests, "domains", domains,
                     "trusts", trusts);
    return root;
}

static adb_code bad(adb_error *err, const char *what, size_t i, const char *detail)
{
    return adb_error_set(err, ADB_E_PROTOCOL, "topology cache: %s[%zu]: %s", what, i, detail);
}

static adb_code forest_from(json_t *j, size_t i, adb_topo_forest *f, adb_error *err)
{
    json_error_t je;
    json_t *root, *error, *suffixes, *v;
    json_int_t level;
    int own, contacted;
    size_t k;

    if (json_unpack_ex(j, &je, JSON_STRICT, "{s:o, s:I, s:b, s:b, s:o, s:o}", "root", &root, "level", &level,
                       "own", &own, "contacted", &contacted, "error", &error, "upn_suffixes", &suffixes) != 0)
        return bad(err, "forests", i, je.text);
    if (!dns_ok(root) || !level_ok(level) || !json_is_array(suffixes) || json_array_size(suffixes) > MAX_SUFFIXES)
        return bad(err, "forests", i, "a root, level or upn_suffixes out of bounds");
    f->level = (int)level;
    f->own = own;
    f->contacted = contacted;
    if (!dup_checked(root, name_check, &f->root) || !opt_dup(error, message_check, &f->error))
        return bad(err, "forests", i, "a bad root or error");
    if ((f->upn_suffixes = calloc(json_array_size(suffixes) + 1, sizeof *f->upn_suffixes)) == NULL)
        return adb_error_set(err, ADB_E_NOMEM, "out of memory");
    json_array_foreach(suffixes, k, v) {
        if (!dup_checked(v, name_check, &f->upn_suffixes[k]))
            return bad(err, "forests", i, "a bad UPN suffix");
        f->n_upn_suffixes++;
    }
    return ADB_OK;
}

static adb_code domain_from(json_t *j, size_t i, adb_topo_domain *d, adb_error *err)
{
    json_error_t je;
    json_t *dns, *netbios, *nc, *forest, *sid, *dc, *error;
    json_int_t level, forest_level;
    int configured, contacted;

    d->level = d->forest_level = ADB_LEVEL_UNKNOWN;
    if (json_unpack_ex(j, &je, JSON_STRICT, "{s:o, s:o, s:o, s:o, s:o, s:I, s:I, s:b, s:b, s:o, s:o}", "dns",
                       &dns, "netbios", &netbios, "nc", &nc, "forest", &forest, "sid", &sid, "level", &level,
                       "forest_level", &forest_level, "configured", &configured, "contacted", &contacted, "dc", &dc,
                       "error", &error) != 0)
        return bad(err, "domains", i, je.text);
    if (!dns_ok(dns) || !level_ok(level) || !level_ok(forest_level) || !sid_of(sid, &d->has_sid, &d->sid)
        || !(json_is_null(forest) || dns_ok(forest)) || !(json_is_null(dc) || dns_ok(dc)))
        return bad(err, "domains", i, "a DNS name, level or SID is not valid");
    d->level = (int)level;
    d->forest_level = (int)forest_level;
    d->configured = configured;
    d->contacted = contacted;
    if (!dup_checked(dns, name_check, &d->dns) || !opt_dup(netbios, short_check, &d->netbios)
        || !opt_dup(nc, dn_check, &d->nc) || !opt_dup(forest, name_check, &d->forest)
        || !opt_dup(dc, name_check, &d->dc) || !opt_dup(error, message_check, &d->error))
        return bad(err, "domains", i, "a NetBIOS name, naming context or message is not valid");
    return ADB_OK;
}

static adb_code trust_from(json_t *j, size_t i, adb_topo_trust *t, adb_error *err)
{
    json_error_t je;
    json_t *domain, *partner, *flat, *sid;
    json_int_t direction, type, attributes;

    if (json_unpack_ex(j, &je, JSON_STRICT, "{s:o, s:o, s:o, s:o, s:I, s:I, s:I}", "domain", &domain,
                       "partner", &partner, "flat_name", &flat, "sid", &sid, "direction", &direction, "type", &type,
                       "attributes", &attributes) != 0)
        return bad(err, "trusts", i, je.text);
    if (!dns_ok(domain) || !u32_ok(direction) || !u32_ok(type) || !u32_ok(attributes)
        || !sid_of(sid, &t->has_sid, &t->sid))
        return bad(err, "trusts", i, "a domain, SID or number is not valid");
    t->direction = (uint32_t)direction;
    t->type = (uint32_t)type;
    t->attributes = (uint32_t)attributes;
    if (!dup_checked(domain, name_check, &t->domain) || !dup_checked(partner, name_check, &t->partner)
        || !opt_dup(flat, short_check, &t->flat_name))
        return bad(err, "trusts", i, "a partner or flat name is not valid");
    return ADB_OK;
}

adb_code adb_topology_cache_from_json(json_t *j, const char *joined, adb_topology **out, adb_error *err)
{
    json_error_t je;
    json_t *jjoined, *dc_time, *forests, *domains, *trusts, *v;
    json_int_t discovered;
    adb_topology *t;
    adb_code rc = ADB_OK;
    size_t i;

    *out = NULL;
    if (json_unpack_ex(j, &je, JSON_STRICT, "{s:o, s:I, s:o, s:o, s:o, s:o}", "joined", &jjoined,
                       "discovered", &discovered, "dc_time", &dc_time, "forests", &forests, "domains", &domains,
                       "trusts", &trusts) != 0)
        return adb_error_set(err, ADB_E_PROTOCOL, "topology cache: %s", je.text);
    if (!dns_ok(jjoined) || joined == NULL || strcasecmp(json_string_value(jjoined), joined) != 0)
        return adb_error_set(err, ADB_E_PROTOCOL, "topology cache: written for another joined domain");
    if (discovered < 0 || !(json_is_null(dc_time) || time_check(dc_time)) || !json_is_array(forests)
        || json_array_size(forests) > MAX_FORESTS || !json_is_array(domains) || json_array_size(domains) > MAX_DOMAINS
        || !json_is_array(trusts) || json_array_size(trusts) > MAX_TRUSTS)
        return adb_error_set(err, ADB_E_PROTOCOL, "topology cache: a time or a list is out of bounds");
    if ((t = calloc(1, sizeof *t)) == NULL)
        return adb_error_set(err, ADB_E_NOMEM, "out of memory");
    t->refs_ = 1;
    t->discovered = (time_t)discovered;
    if ((t->joined = strdup(json_string_value(jjoined))) == NULL
        || (!json_is_null(dc_time) && (t->dc_time = strdup(json_string_value(dc_time))) == NULL)
        || (t->forests = calloc(json_array_size(forests) + 1, sizeof *t->forests)) == NULL
        || (t->domains = calloc(json_array_size(domains) + 1, sizeof *t->domains)) == NULL
        || (t->trusts = calloc(json_array_size(trusts) + 1, sizeof *t->trusts)) == NULL) {
        adb_topology_unref(t);
        return adb_error_set(err, ADB_E_NOMEM, "out of memory");
    }
    /* Counted as they are filled: unref frees exactly what was built. */
    json_array_foreach(forests, i, v) {
        t->n_forests++;
        if ((rc = forest_from(v, i, &t->forests[i], err)) != ADB_OK)
            break;
    }
    json_array_foreach(domains, i, v) {
        if (rc != ADB_OK)
            break;
        t->n_domains++;
        rc = domain_from(v, i, &t->domains[i], err);
    }
    json_array_foreach(trusts, i, v) {
        if (rc != ADB_OK)
            break;
        t->n_trusts++;
        rc = trust_from(v, i, &t->trusts[i], err);
    }
    if (rc != ADB_OK) {
        adb_topology_unref(t);
        return rc;
    }
    *out = t;
    return ADB_OK;
}

/* ======================================================================
 * Located DCs.
 * ====================================================================== */

static const char *state_name(adb_dc_state s)
{
    return s == ADB_DC_UP ? "up" : s == ADB_DC_DOWN ? "down" : "untried";
}

json_t *adb_dc_cache_entry_to_json(const adb_dc_cache_entry *e)
{
    json_t *dcs = json_array();
    bool ok = dcs != NULL;

    for (size_t i = 0; ok && i < e->list.n; i++) {
        const adb_dc *dc = &e->list.dcs[i];
        ok &= json_array_append_new(dcs, json_pack("{s:s, s:s, s:i, s:s, s:I, s:i, s:b, s:s}", "host", dc->host,
                                                   "address", dc->address, "port", (int)dc->ldap_port, "site",
                                                   dc->site, "flags", (json_int_t)dc->flags, "rtt_us", dc->rtt_us,
                                                   "in_client_site", dc->in_client_site, "state",
                                                   state_name(dc->state))) == 0;
    }
    if (!ok) {
        json_decref(dcs);
        return NULL;
    }
    return json_pack("{s:s, s:b, s:I, s:s, s:s, s:o}", "domain", e->list.domain, "gc", e->gc, "expires",
                     (json_int_t)e->expires, "forest", e->list.forest, "client_site", e->list.client_site, "dcs",
                     dcs);
}

static bool address_ok(const json_t *v)
{
    unsigned char buf[sizeof(struct in6_addr)];
    const char *s = json_string_value(v);

    if (s == NULL || !text_ok(v, 63, true, false))
        return false;
    return s[0] == '\0' || inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

static adb_code dc_from(json_t *j, size_t i, adb_dc *dc, adb_error *err)
{
    json_error_t je;
    json_t *host, *address, *site, *state;
    json_int_t port, flags, rtt;
    int in_site;
    const char *st;

    if (json_unpack_ex(j, &je, JSON_STRICT, "{s:o, s:o, s:I, s:o, s:I, s:I, s:b, s:o}", "host", &host,
                       "address", &address, "port", &port, "site", &site, "flags", &flags, "rtt_us", &rtt,
                       "in_client_site", &in_site, "state", &state) != 0)
        return adb_error_set(err, ADB_E_PROTOCOL, "DC cache: dcs[%zu]: %s", i, je.text);
    st = json_string_value(state);
    if (!name_check(host) || !address_ok(address) || port < 1 || port > 65535 || !text_ok(site, 63, true, false)
        || !u32_ok(flags) || rtt < -1 || rtt > INT32_MAX || st == NULL
        || (strcmp(st, "up") != 0 && strcmp(st, "untried") != 0 && strcmp(st, "down") != 0))
        return adb_error_set(err, ADB_E_PROTOCOL, "DC cache: dcs[%zu]: a host, address, port or state is not valid",
                             i);
    snprintf(dc->host, sizeof dc->host, "%s", json_string_value(host));
    snprintf(dc->address, sizeof dc->address, "%s", json_string_value(address));
    snprintf(dc->site, sizeof dc->site, "%s", json_string_value(site));
    dc->ldap_port = (uint16_t)port;
    dc->flags = (uint32_t)flags;
    dc->rtt_us = (int)rtt;
    dc->in_client_site = in_site;
    dc->state = st[0] == 'u' && st[1] == 'p' ? ADB_DC_UP : st[0] == 'd' ? ADB_DC_DOWN : ADB_DC_UNTRIED;
    return ADB_OK;
}

adb_code adb_dc_cache_entry_from_json(json_t *j, adb_dc_cache_entry *out, adb_error *err)
{
    json_error_t je;
    json_t *domain, *forest, *site, *dcs, *v;
    json_int_t expires;
    int gc;
    size_t i;
    adb_code rc;

    memset(out, 0, sizeof *out);
    if (json_unpack_ex(j, &je, JSON_STRICT, "{s:o, s:b, s:I, s:o, s:o, s:o}", "domain", &domain, "gc", &gc,
                       "expires", &expires, "forest", &forest, "client_site", &site, "dcs", &dcs) != 0)
        return adb_error_set(err, ADB_E_PROTOCOL, "DC cache: %s", je.text);
    if (!dns_ok(domain) || expires < 0 || !(text_ok(forest, 0, true, false) || dns_ok(forest))
        || !text_ok(site, 63, true, false) || !json_is_array(dcs) || json_array_size(dcs) == 0
        || json_array_size(dcs) > MAX_DCS)
        return adb_error_set(err, ADB_E_PROTOCOL, "DC cache: a domain, forest, site or DC list is not valid");
    out->gc = gc;
    out->expires = (time_t)expires;
    snprintf(out->list.domain, sizeof out->list.domain, "%s", json_string_value(domain));
    snprintf(out->list.forest, sizeof out->list.forest, "%s", json_string_value(forest));
    snprintf(out->list.client_site, sizeof out->list.client_site, "%s", json_string_value(site));
    if ((out->list.dcs = calloc(json_array_size(dcs), sizeof *out->list.dcs)) == NULL)
        return adb_error_set(err, ADB_E_NOMEM, "out of memory");
    json_array_foreach(dcs, i, v) {
        if ((rc = dc_from(v, i, &out->list.dcs[i], err)) != ADB_OK) {
            adb_dc_list_free(&out->list);
            return rc;
        }
        out->list.n++;
    }
    return ADB_OK;
}
