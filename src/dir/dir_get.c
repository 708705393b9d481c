/* One object by identifier: adb_dir_get (see include/adbridge/directory.h),
 * and dir_get_kind for the operations that start from one object (members,
 * groups-of).  The identifier says where to look: a SID its domain, a DN
 * or an NT4 name its domain, a UPN its suffix's domain when it is one, and
 * a bare name every enabled domain.  Hits and misses are cached. */
#include "config.h"

#include "dir_internal.h"

#include <adbridge/filter.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* One domain's part of a search over several. */
typedef struct domain_search {
    adb_dir *d;
    const adb_topo_domain *td;
    const char *base, *filter;
    int scope;
    adb_object_list found;
    adb_error err;
    adb_code rc;
} domain_search;

static void *search_one(void *arg)
{
    domain_search *s = arg;

    /* Unpaged: a lookup matches a few entries, and Samba answers a one-entry
     * search with the paged-results control about 1.13x slower (measured). */
    s->rc = dir_scan_objects(s->d, s->td, s->base, s->scope, s->filter, ADB_ATTRS_FULL, &s->found, &s->err);
    if (s->rc == ADB_E_NOT_FOUND && s->scope == ADB_LDAP_SCOPE_BASE)
        s->rc = ADB_OK;   /* a DN that does not exist */
    return NULL;
}

/* Searches each domain of v with filter, all at once (dir_parallel).
 * Results and the first error come in v's order. */
static adb_code search_domains(adb_dir *d, const adb_topo_domain **v, size_t n, const char *base, int scope,
                               const char *filter, adb_object_list *found, adb_error *err)
{
    domain_search *s = calloc(n, sizeof *s);
    adb_code rc = ADB_OK;

    if (n > 0 && s == NULL)
        return adb_error_set(err, ADB_E_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++)
        s[i] = (domain_search){ .d = d, .td = v[i], .base = base, .filter = filter, .scope = scope };
    dir_parallel(s, n, sizeof *s, search_one);
    for (size_t i = 0; i < n; i++) {
        if (rc == ADB_OK && s[i].rc != ADB_OK) {
            rc = s[i].rc;
            if (err != NULL)
                *err = s[i].err;
            adb_error_prefix(err, "searching %s", v[i]->dns);
        }
        for (size_t j = 0; rc == ADB_OK && j < s[i].found.n; j++)
            rc = adb_object_list_add(found, s[i].found.items[j], err);
        adb_object_list_clear(&s[i].found);
    }
    free(s);
    return rc;
}

/* The domain an NT4 name or a bare name with a domain names. */
static adb_code named_domain(adb_dir *d, const adb_topology *t, const char *name, const adb_topo_domain **out,
                             adb_error *err)
{
    char known[400] = "";
    size_t o = 0;

    if ((*out = adb_topology_domain(t, name)) != NULL)
        return dir_check_usable(d, *out, err);
    /* An enabled domain that could not be read may be the one (its NetBIOS
     * name is learnt by reading it): that is no "not found". */
    for (size_t i = 0; i < t->n_domains; i++)
        if (t->domains[i].error != NULL && adb_subscriptions_enabled(d->subs, t->domains[i].dns))
            return adb_error_set(err, ADB_E_DC_UNAVAILABLE, "cannot tell which domain '%s' is: %s could not be "
                                 "read (%s)", name, t->domains[i].dns, t->domains[i].error);
    for (size_t i = 0; i < t->n_domains && o < sizeof known; i++)
        o += (size_t)snprintf(known + o, sizeof known - o, "%s%s%s%s%s", i ? ", " : "", t->domains[i].dns,
                              t->domains[i].netbios ? " (" : "", t->domains[i].netbios ? t->domains[i].netbios : "",
                              t->domains[i].netbios ? ")" : "");
    return adb_error_set(err, ADB_E_NOT_FOUND, "unknown domain '%s' (known: %s)", name, known[0] ? known : "none");
}

static adb_code find_by_ident(adb_dir *d, const adb_topology *t, const adb_ident *id, adb_object_list *found,
                              adb_error *err)
{
    const adb_topo_domain **v = NULL, *one = NULL;
    size_t n = 0;
    char *filter = NULL, local[ADB_IDENT_MAX + 1];
    uint8_t bin[ADB_SID_BINARY_MAX];
    size_t bin_len = 0;
    const char *base = NULL;
    int scope = ADB_LDAP_SCOPE_SUBTREE;
    adb_code rc = ADB_OK;

    switch (id->kind) {
    case ADB_IDENT_SID:
        if ((rc = adb_sid_encode(&id->sid, bin, sizeof bin, &bin_len, err)) == ADB_OK)
            rc = adb_filter_build(&filter, err, "(&(objectSid=%b)(!(objectClass=foreignSecurityPrincipal)))", bin,
                                  bin_len);
        /* BUILTIN SIDs exist in every domain: the joined domain answers for them. */
        one = dir_sid_is_builtin(&id->sid) ? adb_topology_domain(t, d->joined)
                                           : adb_topology_domain_of_sid(t, &id->sid);
        if (rc == ADB_OK && one != NULL)
            rc = dir_check_usable(d, one, err);
        break;
    case ADB_IDENT_GUID:
        rc = adb_filter_build(&filter, err, "(&(objectGUID=%b)(!(objectClass=foreignSecurityPrincipal)))",
                              id->guid.b, sizeof id->guid.b);
        break;
    case ADB_IDENT_DN:
        if ((one = adb_topology_domain(t, id->domain)) == NULL)
            return adb_error_set(err, ADB_E_NOT_FOUND, "no known domain holds '%.300s' (its domain %s is not in "
                                 "the topology)", id->name, id->domain);
        if ((rc = dir_check_usable(d, one, err)) == ADB_OK && (filter = strdup("(objectClass=*)")) == NULL)
            rc = adb_error_set(err, ADB_E_NOMEM, "out of memory");
        base = id->name;
        scope = ADB_LDAP_SCOPE_BASE;
        break;
    case ADB_IDENT_UPN:
        one = adb_topology_domain(t, id->domain);
        if (one != NULL && strcasecmp(one->dns, id->domain) == 0) {
            /* Suffix = the domain: the implicit UPN sAMAccountName@dns counts too. */
            size_t llen = strlen(id->name) - strlen(id->domain) - 1;
            memcpy(local, id->name, llen);
            local[llen] = '\0';
            if ((rc = dir_check_usable(d, one, err)) == ADB_OK)
                rc = adb_filter_build(&filter, err, "(|(userPrincipalName=%v)(sAMAccountName=%v))", id->name, local);
        } else {
            one = NULL;   /* an alternative suffix: any domain may hold it */
            rc = adb_filter_build(&filter, err, "(userPrincipalName=%v)", id->name);
        }
        break;
    case ADB_IDENT_NT4:
        if ((rc = named_domain(d, t, id->domain, &one, err)) == ADB_OK)
            rc = adb_filter_build(&filter, err, "(sAMAccountName=%v)", id->name);
        break;
    case ADB_IDENT_NAME:
        rc = adb_filter_build(&filter, err, "(sAMAccountName=%v)", id->name);
        break;
    }
    if (rc == ADB_OK) {
        if (one != NULL) {
            v = calloc(1, sizeof *v);
            if (v != NULL)
                v[n++] = one;
            else
                rc = adb_error_set(err, ADB_E_NOMEM, "out of memory");
        } else {
            rc = dir_all_domains(d, t, &v, &n, err);
        }
    }
    if (rc == ADB_OK)
        rc = search_domains(d, v, n, base, scope, filter, found, err);
    /* UPN = domain suffix: an explicit UPN beats another account's implicit one. */
    if (rc == ADB_OK && id->kind == ADB_IDENT_UPN && found->n > 1) {
        for (size_t i = 0; i < found->n; i++)
            if (found->items[i]->upn != NULL && strcasecmp(found->items[i]->upn, id->name) == 0) {
                adb_object *keep = adb_object_ref(found->items[i]);
                adb_object_list_clear(found);
                rc = adb_object_list_add(found, keep, err);
                adb_object_unref(keep);
                break;
            }
    }
    free(filter);
    free(v);
    return rc;
}

static adb_code not_found(adb_error *err, const adb_ident *id, const char *text, bool remembered)
{
    bool in_domain = id->kind == ADB_IDENT_NT4 || id->kind == ADB_IDENT_DN;

    return adb_error_set(err, ADB_E_NOT_FOUND, "no object %s '%.300s' in %s%s%s",
                         id->kind == ADB_IDENT_SID ? "with SID" : id->kind == ADB_IDENT_GUID ? "with GUID"
                         : id->kind == ADB_IDENT_DN ? "with DN" : id->kind == ADB_IDENT_UPN ? "with UPN" : "named",
                         text, in_domain ? "domain " : "the enabled domains", in_domain ? id->domain : "",
                         remembered ? " (a remembered miss: it is asked again after the negative cache's TTL)" : "");
}

static bool is_account(const adb_object *o)
{
    return o->kind == ADB_OBJECT_USER || o->kind == ADB_OBJECT_COMPUTER;
}

/* Whether a cached object may still be served (its domain may have been disabled since). */
static adb_code check_cached(adb_dir *d, const adb_object *o, adb_error *err)
{
    if (o->domain_dns != NULL && !adb_subscriptions_enabled(d->subs, o->domain_dns))
        return adb_error_set(err, ADB_E_DOMAIN_NOT_ENABLED, "domain %s is not enabled for use", o->domain_dns);
    return ADB_OK;
}

/* After rc (dc_unavailable) from the DCs: the cached object, when stale
 * answers are wanted and it is recent enough. */
static adb_code stale_object(adb_dir *d, const char *key, const char *text, adb_code rc, adb_object **out,
                             adb_dir_freshness *fresh, adb_error *err)
{
    void *value;
    int64_t age;
    char who[300];

    if (fresh == NULL || rc != ADB_E_DC_UNAVAILABLE || adb_cache_get_stale(d->cache, key, &value, &age) != ADB_CACHE_HIT)
        return rc;
    if (check_cached(d, value, NULL) != ADB_OK) {
        adb_object_unref(value);
        return rc;
    }
    adb_log(d->log, ADB_LOG_WARN, "stale_answer", "id=%s object=%s domain=%s age_s=%lld why=%s", ADB_LOG_V(text),
            ADB_LOG_V(adb_object_display(value, who, sizeof who)),
            ADB_LOG_V(((adb_object *)value)->domain_dns != NULL ? ((adb_object *)value)->domain_dns : "-"),
            (long long)age, ADB_LOG_V(err != NULL ? err->message : "dc_unavailable"));
    adb_error_clear(err);
    fresh->stale = true;
    fresh->age_s = age;
    *out = value;
    return ADB_OK;
}

static adb_code get_object(adb_dir *d, const adb_ident *id, const char *text, adb_object **out,
                           adb_object_list *candidates, adb_dir_freshness *fresh, adb_error *err)
{
    char key[DIR_KEY_MAX], who[300];
    void *value;
    adb_topology *t;
    adb_object_list found = { 0 };
    adb_code rc;

    *out = NULL;
    dir_key_ident(key, sizeof key, id);
    switch (adb_cache_get(d->cache, key, &value)) {
    case ADB_CACHE_HIT:
        if ((rc = check_cached(d, value, err)) != ADB_OK) {
            adb_object_unref(value);
            return rc;
        }
        if (is_account(value) && !((adb_object *)value)->status_known) {
            adb_object_unref(value);   /* cached by a listing: read the whole account */
            break;
        }
        *out = value;
        return ADB_OK;
    case ADB_CACHE_NEGATIVE: return not_found(err, id, text, true);
    case ADB_CACHE_MISS: break;
    }
    if ((rc = adb_dir_topology(d, false, &t, err)) != ADB_OK)
        return stale_object(d, key, text, rc, out, fresh, err);
    rc = find_by_ident(d, t, id, &found, err);
    adb_topology_unref(t);
    if (rc != ADB_OK) {
        adb_object_list_clear(&found);
        return stale_object(d, key, text, rc, out, fresh, err);
    }
    if (found.n == 0) {
        adb_cache_put_negative(d->cache, key);
        return not_found(err, id, text, false);
    }
    if (found.n > 1) {
        char list[400] = "";
        size_t o = 0;
        adb_object_list_sort(&found);
        for (size_t i = 0; i < found.n && o < sizeof list; i++)
            o += (size_t)snprintf(list + o, sizeof list - o, "%s%s", i ? ", " : "",
                                  adb_object_display(found.items[i], who, sizeof who));
        rc = adb_error_set(err, ADB_E_AMBIGUOUS, "'%.200s' matches %zu objects: %s; qualify it (DOMAIN\\name, "
                           "UPN or SID)", text, found.n, list);
        if (candidates != NULL)
            for (size_t i = 0; i < found.n; i++)
                adb_object_list_add(candidates, found.items[i], NULL);
        adb_object_list_clear(&found);
        return rc;
    }
    *out = adb_object_ref(found.items[0]);
    adb_object_list_clear(&found);
    dir_cache_object(d, *out);
    /* The query's own key too: a bare name or an implicit UPN is none of the object's. */
    dir_cache_object_as(d, key, *out);
    return ADB_OK;
}

static const char *kinds_name(unsigned kinds)
{
    if (kinds == ADB_KINDS_GROUP)
        return "a group";
    if ((kinds & ~(unsigned)(ADB_KINDS_USER | ADB_KINDS_COMPUTER)) == 0)
        return "a user";
    return "a user or group";
}

static adb_code get_kind(adb_dir *d, const char *id, const char *domain, unsigned kinds, adb_object **out,
                         adb_object_list *candidates, adb_dir_freshness *fresh, adb_error *err)
{
    adb_ident ident;
    adb_code rc;
    char who[300];

    *out = NULL;
    if (fresh != NULL)
        *fresh = (adb_dir_freshness){ 0 };
    if (id == NULL)
        return adb_error_set(err, ADB_E_INVALID_REQUEST, "no identifier given");
    if ((rc = adb_ident_parse(id, strlen(id), domain, &ident, err)) != ADB_OK)
        return rc;
    if ((rc = get_object(d, &ident, id, out, candidates, fresh, err)) != ADB_OK)
        return rc;
    if ((kinds & (1u << (*out)->kind)) == 0) {
        rc = adb_error_set(err, ADB_E_NOT_FOUND, "%s is %s %s, not %s", adb_object_display(*out, who, sizeof who),
                           (*out)->kind == ADB_OBJECT_USER || (*out)->kind == ADB_OBJECT_OTHER ? "an" : "a",
                           adb_object_kind_name((*out)->kind), kinds_name(kinds));
        adb_object_unref(*out);
        *out = NULL;
    }
    return rc;
}

adb_code dir_get_kind(adb_dir *d, const char *id, const char *domain, unsigned kinds, adb_object **out,
                      adb_object_list *candidates, adb_error *err)
{
    return get_kind(d, id, domain, kinds, out, candidates, NULL, err);
}

adb_code adb_dir_get(adb_dir *d, const char *id, const char *domain, unsigned kinds, adb_object **out,
                     adb_object_list *candidates, adb_error *err)
{
    return get_kind(d, id, domain, kinds != 0 ? kinds : ADB_KINDS_ANY, out, candidates, NULL, err);
}

adb_code adb_dir_get_or_stale(adb_dir *d, const char *id, const char *domain, unsigned kinds, adb_object **out,
                              adb_object_list *candidates, adb_dir_freshness *fresh, adb_error *err)
{
    return get_kind(d, id, domain, kinds != 0 ? kinds : ADB_KINDS_ANY, out, candidates, fresh, err);
}

bool adb_dir_principal_guess(adb_dir *d, const char *id, const char *domain, char *principal, size_t psize,
                             char *domain_dns, size_t dsize)
{
    const adb_topo_domain *td = NULL;
    adb_topology *t = NULL;
    adb_ident ident;
    bool ok = false;

    if (id == NULL || adb_ident_parse(id, strlen(id), domain, &ident, NULL) != ADB_OK
        || (ident.kind != ADB_IDENT_NT4 && ident.kind != ADB_IDENT_UPN && ident.kind != ADB_IDENT_NAME)
        || adb_dir_topology(d, false, &t, NULL) != ADB_OK)
        return false;
    /* A bare name: most users of a connector are in the domain it joined
     * (a wrong guess costs only local set-up: it is cancelled). */
    if (ident.kind == ADB_IDENT_NAME && ident.domain[0] == '\0')
        snprintf(ident.domain, sizeof ident.domain, "%s", d->joined);
    /* A UPN whose suffix is not a domain's DNS name may be any forest's. */
    if ((td = adb_topology_domain(t, ident.domain)) != NULL && dir_check_usable(d, td, NULL) == ADB_OK
        && (ident.kind != ADB_IDENT_UPN || strcasecmp(td->dns, ident.domain) == 0)) {
        int n = ident.kind == ADB_IDENT_UPN ? snprintf(principal, psize, "%s", ident.name)
                                            : snprintf(principal, psize, "%s@%s", ident.name, td->dns);
        ok = n > 0 && (size_t)n < psize && (size_t)snprintf(domain_dns, dsize, "%s", td->dns) < dsize;
    }
    adb_topology_unref(t);
    return ok;
}

