/* The domains: topology.get and domains.configure — each operation's
 * params, run and text, and its entry in the table of operations (ops.h). */
#include "config.h"

#include "ops_internal.h"
#include "params.h"

#include <adbridge/optext.h>

#include <stdlib.h>
#include <string.h>

/* ---- topology.get ---- */

static adb_code params_topology(adb_param_dec *d, json_t *p)
{
    static const char *const allowed[] = { "refresh", NULL };
    adb_code rc;

    if ((rc = param_only(d, p, "$.params", allowed)) != ADB_OK)
        return rc;
    return param_bool(d, p, "$.params", "refresh", &d->r->refresh);
}

static adb_code run_topology(adb_service *s, const adb_request *r, adb_op_outcome *o, adb_error *err)
{
    return s->backend.topology(s->backend.arg, r->refresh, &o->result, err);
}

static const json_t *forest_of(const json_t *topology, const char *root)
{
    size_t i;
    json_t *f;

    json_array_foreach(json_object_get(topology, "forests"), i, f)
        if (root != NULL && adb_text_member(f, "root") != NULL && strcmp(adb_text_member(f, "root"), root) == 0)
            return f;
    return NULL;
}

/* What a person needs to know about a domain, in a few words. */
static const char *domain_status(const json_t *t, const json_t *dom, char *buf, size_t size)
{
    const char *error = adb_text_member(dom, "error"), *dc = adb_text_member(dom, "dc");
    const json_t *level = json_object_get(dom, "functional_level");
    bool contacted = json_is_true(json_object_get(dom, "contacted"));

    if (!json_is_true(json_object_get(dom, "use_for_subscriptions")) && !contacted)
        snprintf(buf, size, "not contacted (disabled)");
    else if (error != NULL)
        snprintf(buf, size, "%s", error);
    else if (!json_is_true(json_object_get(dom, "supported")) && json_is_integer(level)
             && json_integer_value(level) < ADB_LEVEL_2008R2)
        snprintf(buf, size, "unsupported: functional level %s is below 2008 R2",
                 adb_text_member(dom, "level_name") != NULL ? adb_text_member(dom, "level_name") : "?");
    else if (!json_is_true(json_object_get(dom, "supported"))) {
        const char *name = adb_text_member(forest_of(t, adb_text_member(dom, "forest")), "level_name");
        snprintf(buf, size, "unsupported: forest functional level %s is below 2008 R2", name != NULL ? name : "?");
    } else if (contacted)
        snprintf(buf, size, "ok (read from %s)", dc != NULL ? dc : "-");
    else
        snprintf(buf, size, "not read");
    return buf;
}

static void put_column(FILE *out, adb_text_put_fn put, const char *s, int width)
{
    put(out, s != NULL ? s : "-", width);
    fputc(' ', out);
}

static void render_topology(const json_t *params, const json_t *t, const adb_text_page *page, FILE *out,
                            adb_text_put_fn put)
{
    char status[ADB_ERROR_MESSAGE_MAX + 64];
    size_t i;
    json_t *d, *tr;

    (void)params;
    (void)page;
    fputs("joined domain ", out);
    put(out, adb_text_member(t, "joined_domain") != NULL ? adb_text_member(t, "joined_domain") : "-", 0);
    if (adb_text_member(t, "dc_time") != NULL) {
        fputs(", DC time ", out);
        put(out, adb_text_member(t, "dc_time"), 0);
    }
    fprintf(out, "\n\n%-24s %-10s %-18s %-8s %-14s %s\n", "DOMAIN", "NETBIOS", "FOREST", "LEVEL", "SUBSCRIPTIONS",
            "STATUS");
    json_array_foreach(json_object_get(t, "domains"), i, d) {
        put_column(out, put, adb_text_member(d, "dns"), 24);
        put_column(out, put, adb_text_member(d, "netbios"), 10);
        put_column(out, put, adb_text_member(d, "forest"), 18);
        put_column(out, put, adb_text_member(d, "level_name"), 8);
        fprintf(out, "%-14s ", json_is_true(json_object_get(d, "use_for_subscriptions")) ? "enabled" : "disabled");
        put(out, domain_status(t, d, status, sizeof status), 0);
        fputc('\n', out);
    }
    fprintf(out, "\n%-24s %-24s %-10s %-14s %s\n", "TRUST FROM", "TO", "FLAT NAME", "DIRECTION", "KIND, PARTNER SID");
    json_array_foreach(json_object_get(t, "trusts"), i, tr) {
        put_column(out, put, adb_text_member(tr, "domain"), 24);
        put_column(out, put, adb_text_member(tr, "partner"), 24);
        put_column(out, put, adb_text_member(tr, "flat_name"), 10);
        put_column(out, put, adb_text_member(tr, "direction"), 14);
        fprintf(out, "%s%s ", json_is_true(json_object_get(tr, "forest_transitive")) ? "forest" : "external",
                json_is_true(json_object_get(tr, "within_forest")) ? " (within forest)" : "");
        put(out, adb_text_member(tr, "sid") != NULL ? adb_text_member(tr, "sid") : "-", 0);
        fputc('\n', out);
    }
}

const adb_op_def adb_op_topology_get = {
    .name = "topology.get",
    .params = params_topology,
    .run = run_topology,
    .cli = &(const adb_op_cli){
        .command = "domains",
        .usage = "[--refresh] [--json]: forests, domains, trusts and which domains are enabled",
        .args = { { ADB_CLI_TRUE, "refresh", "refresh", NULL } },
        .render = render_topology,
    },
};

/* ---- domains.configure ---- */

static adb_code params_domains(adb_param_dec *d, json_t *p)
{
    static const char *const allowed[] = { "domains", NULL };
    static const char *const item_allowed[] = { "domain", "use_for_subscriptions", NULL };
    json_t *list = json_object_get(p, "domains"), *it;
    char path[ADB_PROTO_PATH_MAX], ip[ADB_PROTO_PATH_MAX];
    size_t i;
    adb_code rc;

    if ((rc = param_object(d, p, "$.params", allowed)) != ADB_OK)
        return rc;
    snprintf(path, sizeof path, "$.params.domains");
    if (list == NULL)
        return param_bad(d, path, "is required");
    if (!json_is_array(list) || json_array_size(list) < 1 || json_array_size(list) > ADB_PROTO_DOMAINS_MAX)
        return param_bad(d, path, "must be an array of 1 to %d entries", ADB_PROTO_DOMAINS_MAX);
    json_array_foreach(list, i, it) {
        adb_domain_flag *f = &d->r->domains[i];
        json_t *flag;
        param_index(ip, sizeof ip, path, i);
        if ((rc = param_object(d, it, ip, item_allowed)) != ADB_OK
            || (rc = param_string(d, it, ip, "domain", true, 1, 253, PARAM_DOMAIN, &f->domain)) != ADB_OK)
            return rc;
        if ((flag = json_object_get(it, "use_for_subscriptions")) == NULL || !json_is_boolean(flag)) {
            param_join(path, sizeof path, ip, "use_for_subscriptions");
            return param_bad(d, path, flag == NULL ? "is required" : "must be true or false");
        }
        f->enabled = json_is_true(flag);
    }
    d->r->n_domains = json_array_size(list);
    return ADB_OK;
}

static json_t *flags_json(adb_service *s, adb_error *err)
{
    adb_subscription *list = NULL;
    size_t n = 0;
    json_t *a;

    if (s->backend.flags(s->backend.arg, &list, &n, err) != ADB_OK)
        return NULL;
    a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_pack("{s:s,s:b,s:b}", "domain", list[i].name, "use_for_subscriptions",
                                           list[i].enabled, "persisted", list[i].persisted));
    free(list);
    return json_pack("{s:o}", "domains", a);
}

/* Every flag that is not what it was is set back.  The entries may name a
 * domain by its NetBIOS name, so the flags are compared, not the names. */
static void put_back(adb_service *s, const adb_subscription *before, size_t n_before)
{
    adb_subscription *now = NULL;
    size_t n_now = 0;

    if (s->backend.flags(s->backend.arg, &now, &n_now, NULL) != ADB_OK)
        return;
    for (size_t i = 0; i < n_now; i++)
        for (size_t k = 0; k < n_before; k++)
            if (strcmp(now[i].name, before[k].name) == 0 && now[i].enabled != before[k].enabled)
                s->backend.set_enabled(s->backend.arg, before[k].name, before[k].enabled, NULL);
    free(now);
}

/* All or nothing: a failure puts back the flags as they were. */
static adb_code run_domains_configure(adb_service *s, const adb_request *r, adb_op_outcome *o, adb_error *err)
{
    adb_subscription *before = NULL;
    size_t n_before = 0;
    adb_code rc;

    if ((rc = s->backend.flags(s->backend.arg, &before, &n_before, err)) != ADB_OK)
        return rc;
    for (size_t i = 0; i < r->n_domains; i++) {
        if ((rc = s->backend.set_enabled(s->backend.arg, r->domains[i].domain, r->domains[i].enabled, err))
            != ADB_OK) {
            snprintf(o->path, sizeof o->path, "$.params.domains[%zu].domain", i);
            put_back(s, before, n_before);
            adb_error_prefix(err, "nothing was changed");
            free(before);
            return rc;
        }
    }
    free(before);
    o->result = flags_json(s, err);
    return o->result != NULL ? ADB_OK : (err != NULL && err->code != ADB_OK ? err->code : ADB_E_NOMEM);
}

/* `domain enable|disable NAME`: the verb and the name become one entry. */
static adb_code reshape_enable(json_t *params, adb_error *err)
{
    const char *verb = json_string_value(json_object_get(params, "verb"));
    json_t *domain = json_object_get(params, "domain");
    bool enable = verb != NULL && strcmp(verb, "enable") == 0;

    if (!enable && (verb == NULL || strcmp(verb, "disable") != 0))
        return adb_error_set(err, ADB_E_INVALID_REQUEST, "expected 'enable' or 'disable', not '%s'",
                             verb != NULL ? verb : "");
    json_object_set_new(params, "domains", json_pack("[{s:O,s:b}]", "domain", domain, "use_for_subscriptions", enable));
    json_object_del(params, "verb");
    json_object_del(params, "domain");
    return json_object_get(params, "domains") != NULL ? ADB_OK : adb_error_set(err, ADB_E_NOMEM, "out of memory");
}

static void render_domains_configure(const json_t *params, const json_t *result, const adb_text_page *page,
                                     FILE *out, adb_text_put_fn put)
{
    size_t i;
    json_t *d;

    (void)result;
    (void)page;
    json_array_foreach(json_object_get(params, "domains"), i, d) {
        put(out, adb_text_member(d, "domain"), 0);
        fprintf(out, ": use for subscriptions %s (saved; a running adbridged applies it at its next start)\n",
                json_is_true(json_object_get(d, "use_for_subscriptions")) ? "enabled" : "disabled");
    }
}

const adb_op_def adb_op_domains_configure = {
    .name = "domains.configure",
    .params = params_domains,
    .run = run_domains_configure,
    .cli = &(const adb_op_cli){
        .command = "domain",
        .usage = "enable|disable NAME [--json]: use a domain for subscriptions, or stop",
        .args = { { ADB_CLI_OPERAND, "enable|disable", "verb", NULL }, { ADB_CLI_OPERAND, "NAME", "domain", NULL } },
        .reshape = reshape_enable,
        .render = render_domains_configure,
    },
};
