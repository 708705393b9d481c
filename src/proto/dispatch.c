/* The dispatcher (see include/adbridge/dispatch.h): decode, refuse what must
 * not run, run the operation, encode.  Results are rendered with the
 * object and topology renderers of the dir layer (object.h, topology.h),
 * so the wire and `adbridge --json` share one shape. */
#include "config.h"

#include <adbridge/clock.h>
#include <adbridge/dispatch.h>
#include <adbridge/locator.h>
#include <adbridge/proto.h>
#include <adbridge/version.h>

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct adb_service {
    adb_dir *dir;
    adb_auth *auth;
    adb_keystore *ks;
    const adb_config *cfg;
    const adb_logger *log;
    adb_link_state_fn link_state;
    void *link_arg;
    time_t started;
    int64_t started_mono_s;
    atomic_ulong total;
    atomic_ulong by_op[ADB_OP_COUNT_];
    atomic_ulong by_code[ADB_CODE_COUNT_];
};

adb_code adb_service_new(const adb_service_options *opts, adb_service **out, adb_error *err)
{
    adb_service *s;

    *out = NULL;
    if (opts == NULL || opts->dir == NULL || opts->config == NULL)
        return adb_error_set(err, ADB_E_INVALID_REQUEST, "a service needs a directory and a configuration");
    if ((s = calloc(1, sizeof *s)) == NULL)
        return adb_error_set(err, ADB_E_NOMEM, "out of memory");
    s->dir = opts->dir;
    s->auth = opts->auth;
    s->ks = opts->keystore;
    s->cfg = opts->config;
    s->log = opts->log;
    s->link_state = opts->link_state;
    s->link_arg = opts->link_arg;
    s->started = time(NULL);
    s->started_mono_s = adb_mono_ms() / 1000;
    *out = s;
    return ADB_OK;
}

void adb_service_free(adb_service *svc)
{
    free(svc);
}

/* What an operation hands back besides its result. */
typedef struct outcome {
    json_t *result;
    json_t *candidates;                 /* ambiguous */
    char path[ADB_PROTO_PATH_MAX];      /* the param at fault */
} outcome;

/* ---- health ---- */

static json_t *counters(adb_service *s)
{
    json_t *by_op = json_object(), *by_code = json_object();

    for (int i = 0; i < ADB_OP_COUNT_; i++)
        json_object_set_new(by_op, adb_op_name((adb_op)i), json_integer((json_int_t)atomic_load(&s->by_op[i])));
    for (int i = 1; i < ADB_CODE_COUNT_; i++) {
        unsigned long n = atomic_load(&s->by_code[i]);
        if (n > 0)
            json_object_set_new(by_code, adb_code_name((adb_code)i), json_integer((json_int_t)n));
    }
    return json_pack("{s:I,s:o,s:o}", "total", (json_int_t)atomic_load(&s->total), "by_op", by_op, "errors",
                     by_code);
}

static json_t *keys_json(adb_service *s)
{
    adb_key_info keys[ADB_KEYSTORE_MAX_KEYS];
    json_t *a = json_array();
    size_t n = s->ks != NULL ? adb_keystore_keys(s->ks, keys, ADB_KEYSTORE_MAX_KEYS) : 0;

    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_pack("{s:s,s:s,s:b,s:o,s:o}", "key_id", keys[i].key_id, "public_key",
                                           keys[i].public_key, "current", i == 0 && keys[i].expires == 0,
                                           "created", adb_proto_time(keys[i].created), "expires",
                                           adb_proto_time(keys[i].expires)));
    return a;
}

static const char *dc_state_name(adb_dc_state st)
{
    switch (st) {
    case ADB_DC_UP: return "up";
    case ADB_DC_UNTRIED: return "untried";
    case ADB_DC_DOWN: return "down";
    }
    return "down";
}

static json_t *domains_json(adb_service *s)
{
    adb_locator *loc = adb_dir_locator(s->dir);
    adb_dc_health *rows = NULL;
    size_t n = 0, cap = 0;
    json_t *a = json_array();

    /* The count can grow between the two calls: take what fits. */
    if (loc != NULL && (cap = adb_locator_health(loc, NULL, 0)) > 0 && (rows = calloc(cap, sizeof *rows)) != NULL)
        n = adb_locator_health(loc, rows, cap);
    if (n > cap)
        n = cap;
    for (size_t i = 0; i < n; i++) {
        json_t *dom = NULL, *item;
        size_t k;
        json_array_foreach(a, k, item) {
            if (strcmp(json_string_value(json_object_get(item, "domain")), rows[i].domain) == 0) {
                dom = item;
                break;
            }
        }
        if (dom == NULL) {
            dom = json_pack("{s:s,s:b,s:[]}", "domain", rows[i].domain, "use_for_subscriptions", rows[i].enabled,
                            "dcs");
            if (dom == NULL)
                continue;
            json_array_append_new(a, dom);
        }
        if (rows[i].host[0] != '\0')
            json_array_append_new(json_object_get(dom, "dcs"),
                                  json_pack("{s:s,s:s,s:I,s:I}", "host", rows[i].host, "state",
                                            dc_state_name(rows[i].state), "failures", (json_int_t)rows[i].failures,
                                            "retry_in_s", (json_int_t)(rows[i].retry_in_s > 0 ? rows[i].retry_in_s : 0)));
    }
    free(rows);
    return a;
}

static adb_code op_health(adb_service *s, outcome *o)
{
    adb_dir_stats st;
    json_t *ops = json_array(), *link = json_pack("{s:s}", "state", "none"), *auth = json_null();

    adb_dir_stats_get(s->dir, &st);
    for (int i = 0; i < ADB_OP_COUNT_; i++)
        json_array_append_new(ops, json_string(adb_op_name((adb_op)i)));
    if (s->link_state != NULL && link != NULL)
        s->link_state(s->link_arg, link);
    if (s->auth != NULL) {
        adb_auth_stats as;
        adb_auth_stats_get(s->auth, &as);
        json_decref(auth);
        auth = json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "checks", (json_int_t)as.checks, "ok", (json_int_t)as.ok,
                         "failed", (json_int_t)as.failed, "locked_by_bridge", (json_int_t)as.locked_by_bridge,
                         "restricted", (json_int_t)as.restricted, "errors", (json_int_t)as.errors, "lockout_users", (json_int_t)as.lockout_users);
    }
    o->result = json_pack(
        "{s:{s:s,s:o,s:I},s:{s:[i],s:i,s:o},s:o,s:o,s:{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I},s:{s:I,s:I,s:I,s:I,s:I},"
        "s:I,s:o,s:o,s:o}",
        "bridge", "version", adb_version(), "started", adb_proto_time(s->started), "uptime_s",
        (json_int_t)(adb_mono_ms() / 1000 - s->started_mono_s),
        "protocol", "versions", ADB_PROTO_VERSION, "level", ADB_PROTO_LEVEL, "ops", ops,
        "keys", keys_json(s), "domains", domains_json(s),
        "cache", "hits", (json_int_t)st.cache.hits, "negative_hits", (json_int_t)st.cache.negative_hits, "misses",
        (json_int_t)st.cache.misses, "expired", (json_int_t)st.cache.expired, "evictions",
        (json_int_t)st.cache.evictions, "inserts", (json_int_t)st.cache.inserts, "entries",
        (json_int_t)st.cache.entries, "bytes", (json_int_t)st.cache.bytes,
        "pool", "connects", (json_int_t)st.pool.connects, "reuses", (json_int_t)st.pool.reuses, "failovers",
        (json_int_t)st.pool.failovers, "retries", (json_int_t)st.pool.retries, "open",
        (json_int_t)(st.pool.open > 0 ? st.pool.open : 0),
        "topology_reads", (json_int_t)st.topology_reads, "auth", auth, "requests", counters(s), "link", link);
    return o->result != NULL ? ADB_OK : ADB_E_NOMEM;
}

/* ---- directory operations ---- */

static adb_code op_topology(adb_service *s, const adb_request *r, outcome *o, adb_error *err)
{
    adb_topology *t = NULL;
    adb_code rc = adb_dir_topology(s->dir, r->refresh, &t, err);

    if (rc != ADB_OK)
        return rc;
    o->result = adb_topology_to_json(t, adb_dir_subscriptions(s->dir));
    adb_topology_unref(t);
    return ADB_OK;
}

static json_t *flags_json(adb_service *s, adb_error *err)
{
    adb_subscription *list = NULL;
    size_t n = 0;
    json_t *a;

    if (adb_subscriptions_list(adb_dir_subscriptions(s->dir), &list, &n, err) != ADB_OK)
        return NULL;
    a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_pack("{s:s,s:b,s:b}", "domain", list[i].name, "use_for_subscriptions",
                                           list[i].enabled, "persisted", list[i].persisted));
    free(list);
    return json_pack("{s:o}", "domains", a);
}

/* All or nothing: a failure puts back the flags set before it. */
static adb_code op_domains(adb_service *s, const adb_request *r, outcome *o, adb_error *err)
{
    adb_subscriptions *subs = adb_dir_subscriptions(s->dir);
    bool before[ADB_PROTO_DOMAINS_MAX];
    adb_code rc;

    for (size_t i = 0; i < r->n_domains; i++)
        before[i] = adb_subscriptions_enabled(subs, r->domains[i].domain);
    for (size_t i = 0; i < r->n_domains; i++) {
        if ((rc = adb_dir_set_enabled(s->dir, r->domains[i].domain, r->domains[i].enabled, err)) != ADB_OK) {
            snprintf(o->path, sizeof o->path, "$.params.domains[%zu].domain", i);
            while (i-- > 0)
                if (before[i] != r->domains[i].enabled)
                    adb_dir_set_enabled(s->dir, r->domains[i].domain, before[i], NULL);
            adb_error_prefix(err, "nothing was changed");
            return rc;
        }
    }
    o->result = flags_json(s, err);
    return o->result != NULL ? ADB_OK : (err != NULL ? err->code : ADB_E_NOMEM);
}

static adb_code op_get(adb_service *s, const adb_request *r, unsigned kinds, outcome *o, adb_error *err)
{
    adb_object *obj = NULL;
    adb_object_list cand = { 0 };
    adb_code rc = adb_dir_get(s->dir, r->ident, r->domain, kinds, &obj, &cand, err);

    if (rc == ADB_OK)
        o->result = json_pack("{s:o}", "object", adb_object_to_json(obj));
    else if (rc == ADB_E_AMBIGUOUS && cand.n > 0)
        o->candidates = adb_object_list_to_json(&cand);
    adb_object_unref(obj);
    adb_object_list_clear(&cand);
    return rc;
}

static json_t *cursor_json(const char *c)
{
    return c[0] != '\0' ? json_string(c) : json_null();
}

static adb_code op_search(adb_service *s, const adb_request *r, outcome *o, adb_error *err)
{
    adb_dir_search_request q = { .prefix = r->prefix, .kinds = r->kinds, .limit = r->limit, .cursor = r->cursor };
    adb_dir_page page;
    adb_code rc = adb_dir_search(s->dir, &q, &page, err);

    if (rc != ADB_OK)
        return rc;
    o->result = json_pack("{s:o,s:o}", "items", adb_object_list_to_json(&page.items), "next_cursor",
                          cursor_json(page.next_cursor));
    adb_dir_page_clear(&page);
    return ADB_OK;
}

static adb_code op_groups(adb_service *s, const adb_request *r, outcome *o, adb_error *err)
{
    adb_object *user = NULL;
    adb_object_list groups = { 0 };
    adb_code rc = adb_dir_groups_of(s->dir, r->ident, r->domain, &user, &groups, err);

    if (rc == ADB_OK)
        o->result = json_pack("{s:o,s:o}", "user", adb_object_to_json(user), "groups",
                              adb_object_list_to_json(&groups));
    adb_object_unref(user);
    adb_object_list_clear(&groups);
    return rc;
}

static adb_code op_members(adb_service *s, const adb_request *r, outcome *o, adb_error *err)
{
    adb_dir_members_request q = { .group = r->ident, .domain = r->domain, .transitive = r->transitive,
                                  .limit = r->limit, .cursor = r->cursor };
    adb_object *group = NULL;
    adb_dir_page page;
    adb_code rc = adb_dir_members(s->dir, &q, &group, &page, err);

    if (rc != ADB_OK)
        return rc;
    if (group == NULL) {
        adb_dir_page_clear(&page);
        return adb_error_set(err, ADB_E_INTERNAL, "the directory returned members without their group");
    }
    o->result = json_pack("{s:o,s:o,s:o}", "group", adb_object_to_json(group), "members",
                          adb_object_list_to_json(&page.items), "next_cursor", cursor_json(page.next_cursor));
    adb_object_unref(group);
    adb_dir_page_clear(&page);
    return ADB_OK;
}

static adb_code op_auth(adb_service *s, const adb_request *r, outcome *o, adb_error *err)
{
    adb_auth_request q = { .user = r->ident, .domain = r->domain, .sealed = r->sealed, .n_sealed = r->n_sealed,
                           .include_groups = r->include_groups, .deadline_ms = r->deadline_ms };
    adb_auth_result res;
    adb_secret *pw = NULL;
    adb_code rc;
    json_t *j;

    if (s->auth == NULL)
        return adb_error_set(err, ADB_E_INTERNAL, "this bridge was started without a password checker");
    if (r->password != NULL) {
        rc = adb_secret_from(r->password, r->password_len, &pw, err);
        adb_wipe((char *)(uintptr_t)r->password, r->password_len);   /* the tree's copy: ours from here on */
        if (rc != ADB_OK)
            return rc;
        q.password = pw;
        q.plaintext_from_wire = true;
    }
    rc = adb_auth_check(s->auth, &q, &res, err);
    adb_secret_free(pw);
    if (rc != ADB_OK)
        return rc;
    j = json_pack("{s:s,s:o}", "result", adb_auth_reason_name(res.reason), "key_id",
                  res.key_id[0] != '\0' ? json_string(res.key_id) : json_null());
    if (j != NULL) {
        if (res.reason == ADB_AUTH_LOCKED_BY_BRIDGE)
            json_object_set_new(j, "retry_at", adb_proto_time(res.retry_at > 0 ? res.retry_at : time(NULL)));
        if (res.user != NULL)
            json_object_set_new(j, "user", adb_object_to_json(res.user));
        if (res.reason == ADB_AUTH_OK && r->include_groups)
            json_object_set_new(j, "groups", adb_object_list_to_json(&res.groups));
        if (res.kerberos.realm[0] != '\0')
            json_object_set_new(j, "realm", json_string(res.kerberos.realm));
        if (res.kerberos.kdc[0] != '\0')
            json_object_set_new(j, "kdc", json_string(res.kerberos.kdc));
        if (res.detail[0] != '\0') {
            json_t *d = json_string(res.detail);
            if (d != NULL)
                json_object_set_new(j, "detail", d);
        }
    }
    adb_auth_result_clear(&res);
    o->result = j;
    return j != NULL ? ADB_OK : adb_error_set(err, ADB_E_NOMEM, "out of memory");
}

static adb_code run(adb_service *s, const adb_request *r, outcome *o, adb_error *err)
{
    switch (r->op) {
    case ADB_OP_HEALTH: return op_health(s, o);
    case ADB_OP_TOPOLOGY_GET: return op_topology(s, r, o, err);
    case ADB_OP_DOMAINS_CONFIGURE: return op_domains(s, r, o, err);
    case ADB_OP_USER_GET: return op_get(s, r, ADB_KINDS_USER | ADB_KINDS_COMPUTER, o, err);
    case ADB_OP_GROUP_GET: return op_get(s, r, ADB_KINDS_GROUP, o, err);
    case ADB_OP_SEARCH: return op_search(s, r, o, err);
    case ADB_OP_USER_GROUPS: return op_groups(s, r, o, err);
    case ADB_OP_GROUP_MEMBERS: return op_members(s, r, o, err);
    case ADB_OP_AUTH_PASSWORD: return op_auth(s, r, o, err);
    case ADB_OP_CACHE_INVALIDATE:
        adb_dir_invalidate(s->dir, r->ident);
        o->result = json_pack("{s:b}", "all", r->ident == NULL);
        return ADB_OK;
    case ADB_OP_NONE:
    case ADB_OP_COUNT_: break;
    }
    return adb_error_set(err, ADB_E_INTERNAL, "operation not implemented");
}

/* A page of search or group.members whose reply would exceed
 * broker.max_reply_bytes is asked again with a smaller limit, in proportion
 * (the directory serves the second ask from its cache): the cloud gets a
 * shorter page and a cursor for the rest, never a reply the broker refuses. */
static adb_code fit_page(adb_service *s, adb_request *r, outcome *o, size_t *len, char **reply, adb_error *err)
{
    size_t budget = s->cfg->broker.max_reply_bytes != 0 ? s->cfg->broker.max_reply_bytes : 262144;
    size_t limit = r->limit != 0 ? r->limit
                   : r->op == ADB_OP_SEARCH ? (size_t)ADB_SEARCH_DEFAULT_LIMIT : (size_t)ADB_MEMBERS_DEFAULT_LIMIT;

    for (int tries = 0; *len > budget && tries < 4; tries++) {
        size_t smaller = (size_t)((double)limit * (double)budget / (double)*len * 0.9);
        adb_code rc;
        if (limit <= 1)
            break;
        limit = r->limit = smaller >= 1 ? smaller : 1;
        free(*reply);
        *reply = NULL;
        o->result = NULL;
        if ((rc = run(s, r, o, err)) != ADB_OK)
            return rc;
        adb_log(s->log, ADB_LOG_DEBUG, "reply_page_cut", "op=%s limit=%zu", adb_op_name(r->op), limit);
        *reply = adb_reply_result(r->id, r->op, o->result, len);
        if (*reply == NULL)
            return adb_error_set(err, ADB_E_NOMEM, "out of memory");
    }
    if (*len > budget)
        return adb_error_set(err, ADB_E_INTERNAL, "the reply (%zu bytes) does not fit broker.max_reply_bytes (%zu) "
                             "even with one item per page: raise broker.max_reply_bytes", *len, budget);
    return ADB_OK;
}

void adb_dispatch(adb_service *svc, const void *body, size_t len, const adb_delivery *dlv, char **reply,
                  size_t *reply_len)
{
    adb_request req;
    adb_error err = { 0 };
    outcome o = { 0 };
    int64_t start = adb_mono_ms(), wall = adb_wall_ms();
    adb_code rc;
    char idv[ADB_PROTO_ID_MAX + 8], pathv[ADB_PROTO_PATH_MAX + 8], msgv[ADB_ERROR_MESSAGE_MAX + 16];

    rc = adb_request_decode(body, len, svc->cfg->broker.max_message_bytes, &req, &err);
    if (rc == ADB_OK && req.deadline_ms != 0 && wall >= req.deadline_ms)
        rc = adb_error_set(&err, ADB_E_TIMEOUT, "the request's deadline passed %lld ms before it could run; not run",
                           (long long)(wall - req.deadline_ms));
    else if (rc == ADB_OK && dlv != NULL && dlv->expiry_unix_ms != 0 && wall >= dlv->expiry_unix_ms)
        rc = adb_error_set(&err, ADB_E_TIMEOUT, "the message expired %lld ms before it could run; not run",
                           (long long)(wall - dlv->expiry_unix_ms));
    if (rc == ADB_OK && req.op == ADB_OP_AUTH_PASSWORD && dlv != NULL && dlv->redelivered)
        rc = adb_error_set(&err, ADB_E_RETRY, "this password check was delivered before and is not run again "
                           "(a second check could count a wrong password twice against AD's lockout); send a "
                           "fresh request");
    if (rc == ADB_OK)
        rc = run(svc, &req, &o, &err);
    if (rc != ADB_OK && err.message[0] == '\0')
        adb_error_set(&err, rc, "%s", adb_code_name(rc));

    if (rc == ADB_OK) {
        *reply = adb_reply_result(req.id, req.op, o.result, reply_len);
        if (*reply != NULL && (req.op == ADB_OP_SEARCH || req.op == ADB_OP_GROUP_MEMBERS)
            && (rc = fit_page(svc, &req, &o, reply_len, reply, &err)) != ADB_OK) {
            free(*reply);
            o.result = NULL;
        }
    }
    if (rc != ADB_OK) {
        const char *path = rc == ADB_E_INVALID_REQUEST && req.error_path[0] != '\0' ? req.error_path : o.path;
        json_decref(o.result);
        *reply = adb_reply_error(req.id, req.op, rc, err.message, path, o.candidates, reply_len);
    }
    if (*reply == NULL)
        *reply_len = 0;

    atomic_fetch_add(&svc->total, 1);
    if (req.op != ADB_OP_NONE)
        atomic_fetch_add(&svc->by_op[req.op], 1);
    if (rc != ADB_OK && (unsigned)rc < ADB_CODE_COUNT_)
        atomic_fetch_add(&svc->by_code[rc], 1);
    adb_log(svc->log, rc == ADB_OK ? ADB_LOG_INFO : ADB_LOG_WARN, "request",
            "id=%s op=%s code=%s duration_ms=%lld%s%s%s%s", req.id[0] ? adb_log_value(idv, sizeof idv, req.id) : "-",
            req.op != ADB_OP_NONE ? adb_op_name(req.op) : "-", adb_code_name(rc),
            (long long)(adb_mono_ms() - start), rc == ADB_OK ? "" : " msg=",
            rc == ADB_OK ? "" : adb_log_value(msgv, sizeof msgv, err.message),
            req.error_path[0] != '\0' ? " path=" : "",
            req.error_path[0] != '\0' ? adb_log_value(pathv, sizeof pathv, req.error_path) : "");
    adb_request_clear(&req);
}
