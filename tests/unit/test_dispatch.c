/* The dispatcher's rules over a fake directory and password checker
 * (backend.h), with no network: the table of operations, every operation,
 * every error code the dispatcher makes or passes on, pages cut to
 * broker.max_reply_bytes, deadline and expiry (timeout, not run), redelivery
 * (auth.password: retry, not run; lookups run again), and the in-process
 * entry of the CLI (plaintext allowed, not cut, password wiped). */
#include "config.h"

#include <adbridge/dispatch.h>
#include <adbridge/ops.h>
#include <adbridge/proto.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#define PASSWORD "Fake-Passw0rd-Marker"
#define KID "Qm9yaXMtdGhlLWtleS1pZA"

/* ---- the fake backend: answers from its fields, records what it was asked ---- */

typedef struct fake {
    adb_code rc;                        /* every directory call answers this; ADB_OK: a result */
    const char *message;
    int n_candidates;                   /* ambiguous: candidates given */
    bool no_owner;                      /* groups_of / members return no user / group */
    size_t total;                       /* items a listing has in all */
    size_t dn_pad;                      /* bytes added to each listed item's DN */
    int calls, auth_calls;
    char ident[64], domain[64], prefix[64], cursor[64], invalidated[64];
    unsigned kinds;
    size_t limit;
    bool transitive, refresh, invalidated_all;
    adb_subscription flags[2];
    adb_auth_reason reason;
    char password[64];
    bool plaintext_from_wire, include_groups;
    size_t n_sealed;
    int64_t stale_age_s;                /* > 0: get answers from the "cache" this old */
} fake;

static void keep(char *dst, const char *src)
{
    snprintf(dst, 64, "%s", src != NULL ? src : "");
}

static adb_object *object(adb_object_kind kind, unsigned rid, size_t pad)
{
    static const adb_object_origin origin = { "adb.test", "ADB", "adb.test" };
    char text[64], *dn = malloc(pad + 64);
    adb_sid sid;
    adb_object *o = NULL;

    snprintf(text, sizeof text, "S-1-5-21-1-2-3-%u", rid);
    assert_int_equal(adb_sid_parse(text, strlen(text), &sid, NULL), ADB_OK);
    size_t n = (size_t)snprintf(dn, 64, "CN=obj%u,DC=adb,DC=test", rid);
    memset(dn + n, 'x', pad);   /* a long DN: a big reply */
    dn[n + pad] = '\0';
    assert_int_equal(adb_object_new_stub(kind, &sid, dn, &origin, &o, NULL), ADB_OK);
    free(dn);
    return o;
}

static adb_code answer(fake *f, adb_error *err)
{
    f->calls++;
    if (f->rc == ADB_OK)
        return ADB_OK;
    if (f->message == NULL)
        return f->rc;   /* no message: the dispatcher names the code */
    return adb_error_set(err, f->rc, "%s", f->message);
}

static void add(adb_object_list *l, adb_object *o)
{
    assert_int_equal(adb_object_list_add(l, o, NULL), ADB_OK);
    adb_object_unref(o);
}

static adb_code fake_get(void *arg, const char *id, const char *domain, unsigned kinds, adb_object **out,
                         adb_object_list *candidates, adb_dir_freshness *fresh, adb_error *err)
{
    fake *f = arg;
    adb_code rc = answer(f, err);

    if (rc == ADB_OK && f->stale_age_s > 0)
        *fresh = (adb_dir_freshness){ .stale = true, .age_s = f->stale_age_s };

    keep(f->ident, id);
    keep(f->domain, domain);
    f->kinds = kinds;
    for (int i = 0; rc == ADB_E_AMBIGUOUS && i < f->n_candidates; i++)
        add(candidates, object(ADB_OBJECT_USER, 500 + (unsigned)i, 0));
    if (rc == ADB_OK)
        *out = object(kinds == ADB_KINDS_GROUP ? ADB_OBJECT_GROUP : ADB_OBJECT_USER, 1104, 0);
    return rc;
}

/* A page of f->total items from the cursor "c<offset>" on. */
static adb_code page_of(fake *f, adb_object_kind kind, size_t limit, size_t fallback, const char *cursor,
                        adb_dir_page *out)
{
    size_t from = cursor != NULL ? strtoul(cursor + 1, NULL, 10) : 0, n = limit != 0 ? limit : fallback;

    memset(out, 0, sizeof *out);
    f->limit = limit;
    keep(f->cursor, cursor);
    for (size_t i = from; i < from + n && i < f->total; i++)
        add(&out->items, object(kind, 2000 + (unsigned)i, f->dn_pad));
    if (from + n < f->total)
        snprintf(out->next_cursor, sizeof out->next_cursor, "c%zu", from + n);
    return ADB_OK;
}

static adb_code fake_search(void *arg, const adb_dir_search_request *req, adb_dir_page *out, adb_error *err)
{
    fake *f = arg;
    adb_code rc = answer(f, err);

    keep(f->prefix, req->prefix);
    f->kinds = req->kinds;
    return rc != ADB_OK ? rc : page_of(f, ADB_OBJECT_USER, req->limit, ADB_SEARCH_DEFAULT_LIMIT, req->cursor, out);
}

static adb_code fake_groups_of(void *arg, const char *user, const char *domain, adb_object **user_out,
                               adb_object_list *out, adb_error *err)
{
    fake *f = arg;
    adb_code rc = answer(f, err);

    keep(f->ident, user);
    keep(f->domain, domain);
    if (rc == ADB_OK && !f->no_owner)
        *user_out = object(ADB_OBJECT_USER, 1104, 0);
    if (rc == ADB_OK)
        add(out, object(ADB_OBJECT_GROUP, 1200, 0));
    return rc;
}

static adb_code fake_members(void *arg, const adb_dir_members_request *req, adb_object **group_out,
                             adb_dir_page *out, adb_error *err)
{
    fake *f = arg;
    adb_code rc = answer(f, err);

    keep(f->ident, req->group);
    f->transitive = req->transitive;
    if (rc != ADB_OK)
        return rc;
    if (!f->no_owner)
        *group_out = object(ADB_OBJECT_GROUP, 1300, 0);
    return page_of(f, ADB_OBJECT_USER, req->limit, ADB_MEMBERS_DEFAULT_LIMIT, req->cursor, out);
}

static adb_code fake_topology(void *arg, bool refresh, json_t **out, adb_error *err)
{
    fake *f = arg;
    adb_code rc = answer(f, err);

    f->refresh = refresh;
    *out = rc == ADB_OK ? json_pack("{s:s,s:[],s:[],s:[]}", "joined_domain", "adb.test", "forests", "domains",
                                    "trusts")
                        : NULL;
    return rc;
}

/* Known by DNS name, partner.test also by its NetBIOS name; others: not_found. */
static adb_code fake_set_enabled(void *arg, const char *domain, bool enabled, adb_error *err)
{
    fake *f = arg;

    for (int i = 0; i < 2; i++)
        if (strcmp(domain, f->flags[i].name) == 0 || (i == 1 && strcmp(domain, "PARTNER") == 0)) {
            f->flags[i].enabled = enabled;
            f->flags[i].persisted = true;
            return ADB_OK;
        }
    return adb_error_set(err, ADB_E_NOT_FOUND, "unknown domain '%s'", domain);
}

static adb_code fake_flags(void *arg, adb_subscription **out, size_t *n, adb_error *err)
{
    fake *f = arg;

    (void)err;
    *out = malloc(sizeof f->flags);
    memcpy(*out, f->flags, sizeof f->flags);
    *n = 2;
    return ADB_OK;
}

static void fake_invalidate(void *arg, const char *id)
{
    fake *f = arg;

    f->calls++;
    f->invalidated_all = id == NULL;
    keep(f->invalidated, id);
}

static void fake_dir_stats(void *arg, adb_dir_stats *out)
{
    (void)arg;
    memset(out, 0, sizeof *out);
    out->cache.hits = 7;
}

static size_t fake_dc_health(void *arg, adb_dc_health *rows, size_t cap)
{
    (void)arg;
    if (cap >= 1)
        rows[0] = (adb_dc_health){ .domain = "adb.test", .enabled = true, .host = "dc1.adb.test", .state = ADB_DC_UP };
    return 1;
}

static adb_code fake_auth_check(void *auth_arg, const adb_auth_request *req, adb_auth_result *out, adb_error *err)
{
    fake *f = auth_arg;

    f->auth_calls++;
    memset(out, 0, sizeof *out);
    keep(f->ident, req->user);
    keep(f->password, req->password != NULL ? adb_secret_str(req->password) : NULL);
    f->plaintext_from_wire = req->plaintext_from_wire;
    f->include_groups = req->include_groups;
    f->n_sealed = req->n_sealed;
    if (f->rc != ADB_OK)
        return adb_error_set(err, f->rc, "%s", f->message != NULL ? f->message : "fake");
    out->reason = f->reason;
    if (req->n_sealed > 0)
        snprintf(out->key_id, sizeof out->key_id, "%s", req->sealed[0].key_id);
    out->user = object(ADB_OBJECT_USER, 1104, 0);
    add(&out->groups, object(ADB_OBJECT_GROUP, 1200, 0));
    snprintf(out->kerberos.realm, sizeof out->kerberos.realm, "ADB.TEST");
    snprintf(out->detail, sizeof out->detail, "fake detail");
    return ADB_OK;
}

static void fake_auth_stats(void *auth_arg, adb_auth_stats *out)
{
    fake *f = auth_arg;

    memset(out, 0, sizeof *out);
    out->checks = (unsigned long)f->auth_calls;
}

static void link_state(void *arg, json_t *out)
{
    (void)arg;
    json_object_set_new(out, "state", json_string("connected"));
}

/* ---- the fixture: one service over one fake ---- */

typedef struct fixture {
    fake f;
    adb_config cfg;
    adb_logger log;
    FILE *log_file;
    char *log_text;
    size_t log_len;
    adb_service *svc;
    int n;
} fixture;

static void service(fixture *x, bool with_auth)
{
    adb_backend b = {
        .arg = &x->f, .get = fake_get, .search = fake_search, .groups_of = fake_groups_of, .members = fake_members,
        .topology = fake_topology, .set_enabled = fake_set_enabled, .flags = fake_flags,
        .invalidate = fake_invalidate, .dir_stats = fake_dir_stats, .dc_health = fake_dc_health,
        .auth_arg = &x->f, .auth_check = with_auth ? fake_auth_check : NULL,
        .auth_stats = with_auth ? fake_auth_stats : NULL,
    };
    adb_service_options so = { .backend = &b, .config = &x->cfg, .log = &x->log, .link_state = link_state };

    adb_service_free(x->svc);
    assert_int_equal(adb_service_new(&so, &x->svc, NULL), ADB_OK);
}

static int setup(void **state)
{
    fixture *x = calloc(1, sizeof *x);

    x->f.total = 3;
    x->f.reason = ADB_AUTH_OK;
    snprintf(x->f.flags[0].name, sizeof x->f.flags[0].name, "adb.test");
    snprintf(x->f.flags[1].name, sizeof x->f.flags[1].name, "partner.test");
    x->f.flags[0].enabled = x->f.flags[1].enabled = true;
    x->cfg.broker.max_reply_bytes = 8000;
    x->log_file = open_memstream(&x->log_text, &x->log_len);
    adb_logger_init(&x->log, ADB_LOG_INFO, x->log_file);
    service(x, true);
    *state = x;
    return 0;
}

static int teardown(void **state)
{
    fixture *x = *state;

    adb_service_free(x->svc);
    fclose(x->log_file);
    if (x->log_text != NULL && strstr(x->log_text, PASSWORD) != NULL)
        fail_msg("the log holds the password");
    free(x->log_text);
    free(x);
    return 0;
}

/* Dispatches {"v":1,"id":"t-N","op":op,"params":params...extra} as the daemon does. */
static json_t *call_dlv(fixture *x, const char *op, const char *params, const char *extra, const adb_delivery *dlv)
{
    char text[4096], *reply = NULL;
    size_t len = 0;
    json_t *j;

    snprintf(text, sizeof text, "{\"v\":1,\"id\":\"t-%d\",\"op\":\"%s\",\"params\":%s%s}", ++x->n, op, params,
             extra != NULL ? extra : "");
    adb_dispatch(x->svc, text, strlen(text), dlv, &reply, &len);
    assert_non_null(reply);
    assert_int_equal(strlen(reply), len);
    assert_null(strstr(reply, PASSWORD));
    j = json_loads(reply, JSON_REJECT_DUPLICATES, NULL);
    assert_non_null(j);
    free(reply);
    return j;
}

static json_t *call(fixture *x, const char *op, const char *params)
{
    return call_dlv(x, op, params, NULL, NULL);
}

static json_t *result_of(json_t *reply)
{
    json_t *r = json_object_get(reply, "result");
    if (r == NULL)
        fail_msg("expected a result, got error %s: %s",
                 json_string_value(json_object_get(json_object_get(reply, "error"), "code")),
                 json_string_value(json_object_get(json_object_get(reply, "error"), "message")));
    return r;
}

static const char *code_of(json_t *reply)
{
    return json_string_value(json_object_get(json_object_get(reply, "error"), "code"));
}

static const char *error_member(json_t *reply, const char *key)
{
    return json_string_value(json_object_get(json_object_get(reply, "error"), key));
}

/* ---- the table ---- */

static void test_table(void **state)
{
    (void)state;
    for (int i = 0; i < ADB_OP_COUNT_; i++) {
        const adb_op_def *d = adb_ops[i];
        assert_non_null(d);
        assert_non_null(d->name);
        assert_non_null(d->params);
        assert_non_null(d->run);
        assert_int_equal(adb_op_from_name(d->name), i);
        assert_ptr_equal(adb_op_def_of((adb_op)i), d);
        if (d->list != NULL)
            assert_true(d->default_limit > 0);
        if (d->cli != NULL) {
            assert_non_null(d->cli->usage);
            assert_non_null(d->cli->render);
            assert_int_equal(adb_op_from_command(d->cli->command), i);   /* one op per command */
        }
    }
    assert_null(adb_op_def_of(ADB_OP_NONE));
    assert_int_equal(adb_op_from_command("diagnose"), ADB_OP_NONE);
}

/* ---- every operation ---- */

static void test_health(void **state)
{
    fixture *x = *state;
    json_t *r, *res, *ops;

    json_decref(call(x, "user.get", "{\"id\":\"alice\"}"));
    r = call(x, "health", "{}");
    res = result_of(r);
    ops = json_object_get(json_object_get(res, "protocol"), "ops");
    assert_int_equal(json_array_size(ops), ADB_OP_COUNT_);
    for (int i = 0; i < ADB_OP_COUNT_; i++)
        assert_string_equal(json_string_value(json_array_get(ops, (size_t)i)), adb_ops[i]->name);
    assert_int_equal(json_array_size(json_object_get(res, "keys")), 0);
    assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(res, "domains"), 0), "domain")),
                        "adb.test");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(res, "cache"), "hits")), 7);
    assert_true(json_is_object(json_object_get(res, "auth")));
    assert_string_equal(json_string_value(json_object_get(json_object_get(res, "link"), "state")), "connected");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(json_object_get(res, "requests"), "by_op"),
                                                        "user.get")), 1);
    json_decref(r);

    service(x, false);   /* no password checker */
    r = call(x, "health", "{}");
    assert_true(json_is_null(json_object_get(result_of(r), "auth")));
    json_decref(r);
}

static void test_lookups(void **state)
{
    fixture *x = *state;
    json_t *r, *res;

    r = call(x, "user.get", "{\"id\":\"alice\",\"domain\":\"ADB\"}");
    assert_string_equal(json_string_value(json_object_get(json_object_get(result_of(r), "object"), "kind")), "user");
    assert_string_equal(x->f.ident, "alice");
    assert_string_equal(x->f.domain, "ADB");
    assert_int_equal(x->f.kinds, ADB_KINDS_USER | ADB_KINDS_COMPUTER);
    json_decref(r);

    r = call(x, "group.get", "{\"id\":\"grp\"}");
    assert_string_equal(json_string_value(json_object_get(json_object_get(result_of(r), "object"), "kind")), "group");
    assert_int_equal(x->f.kinds, ADB_KINDS_GROUP);
    assert_null(json_object_get(result_of(r), "stale"));   /* fresh: no mark */
    json_decref(r);

    /* A stale answer (no DC answered) says so, with its age. */
    x->f.stale_age_s = 75;
    r = call(x, "user.get", "{\"id\":\"alice\"}");
    res = result_of(r);
    assert_true(json_is_true(json_object_get(res, "stale")));
    assert_int_equal(json_integer_value(json_object_get(res, "stale_age_s")), 75);
    assert_non_null(json_object_get(res, "object"));
    json_decref(r);
    x->f.stale_age_s = 0;

    r = call(x, "search", "{\"prefix\":\"Sm\",\"kinds\":[\"user\"],\"limit\":2,\"cursor\":\"c0\"}");
    res = result_of(r);
    assert_int_equal(json_array_size(json_object_get(res, "items")), 2);
    assert_string_equal(json_string_value(json_object_get(res, "next_cursor")), "c2");
    assert_string_equal(x->f.prefix, "Sm");
    assert_int_equal(x->f.kinds, ADB_KINDS_USER);
    assert_int_equal(x->f.limit, 2);
    assert_string_equal(x->f.cursor, "c0");
    json_decref(r);

    r = call(x, "user.groups", "{\"user\":\"nested.user\"}");
    res = result_of(r);
    assert_non_null(json_object_get(res, "user"));
    assert_int_equal(json_array_size(json_object_get(res, "groups")), 1);
    json_decref(r);

    r = call(x, "group.members", "{\"group\":\"big.group\",\"transitive\":true}");
    res = result_of(r);
    assert_int_equal(json_array_size(json_object_get(res, "members")), 3);
    assert_true(json_is_null(json_object_get(res, "next_cursor")));
    assert_string_equal(json_string_value(json_object_get(json_object_get(res, "group"), "kind")), "group");
    assert_true(x->f.transitive);
    json_decref(r);

    r = call(x, "cache.invalidate", "{\"id\":\"alice\"}");
    assert_false(json_is_true(json_object_get(result_of(r), "all")));
    assert_string_equal(x->f.invalidated, "alice");
    json_decref(r);
    r = call(x, "cache.invalidate", "{}");
    assert_true(json_is_true(json_object_get(result_of(r), "all")));
    assert_true(x->f.invalidated_all);
    json_decref(r);
}

static void test_topology(void **state)
{
    fixture *x = *state;
    json_t *r = call(x, "topology.get", "{\"refresh\":true}");

    assert_string_equal(json_string_value(json_object_get(result_of(r), "joined_domain")), "adb.test");
    assert_true(x->f.refresh);
    json_decref(r);
}

/* The fake's flags come in its order: adb.test, partner.test. */
static bool flag_at(json_t *reply, size_t i, const char *domain)
{
    json_t *d = json_array_get(json_object_get(result_of(reply), "domains"), i);

    assert_string_equal(json_string_value(json_object_get(d, "domain")), domain);
    return json_is_true(json_object_get(d, "use_for_subscriptions"));
}

/* All or nothing: a failing entry puts back what the entries before it
 * changed, even one given by its NetBIOS name. */
static void test_domains_configure(void **state)
{
    fixture *x = *state;
    json_t *r;

    r = call(x, "domains.configure", "{\"domains\":[{\"domain\":\"partner.test\",\"use_for_subscriptions\":false}]}");
    assert_true(flag_at(r, 0, "adb.test"));
    assert_false(flag_at(r, 1, "partner.test"));
    json_decref(r);

    r = call(x, "domains.configure", "{\"domains\":[{\"domain\":\"PARTNER\",\"use_for_subscriptions\":true},"
                                     "{\"domain\":\"no-such.test\",\"use_for_subscriptions\":true}]}");
    assert_string_equal(code_of(r), "not_found");
    assert_string_equal(error_member(r, "path"), "$.params.domains[1].domain");
    assert_non_null(strstr(error_member(r, "message"), "nothing was changed"));
    assert_false(x->f.flags[1].enabled);
    json_decref(r);
}

static void test_auth(void **state)
{
    fixture *x = *state;
    json_t *r, *res;

    /* Plaintext on the wire: the checker is told so (it refuses unless the
     * configuration allows it). */
    r = call(x, "auth.password", "{\"user\":\"alice\",\"password\":\"" PASSWORD "\",\"include_groups\":true}");
    res = result_of(r);
    assert_string_equal(json_string_value(json_object_get(res, "result")), "ok");
    assert_true(json_is_null(json_object_get(res, "key_id")));
    assert_int_equal(json_array_size(json_object_get(res, "groups")), 1);
    assert_string_equal(json_string_value(json_object_get(res, "realm")), "ADB.TEST");
    assert_string_equal(json_string_value(json_object_get(res, "detail")), "fake detail");
    assert_true(x->f.plaintext_from_wire);
    assert_string_equal(x->f.password, PASSWORD);
    json_decref(r);

    /* Sealed: the key that opened it; groups only with ok. */
    x->f.reason = ADB_AUTH_INVALID_CREDENTIALS;
    r = call(x, "auth.password", "{\"user\":\"alice\",\"sealed\":{\"" KID "\":\"AAAA\"},\"include_groups\":true}");
    res = result_of(r);
    assert_string_equal(json_string_value(json_object_get(res, "key_id")), KID);
    assert_string_equal(json_string_value(json_object_get(res, "result")), "invalid_credentials");
    assert_null(json_object_get(res, "groups"));
    assert_int_equal(x->f.n_sealed, 1);
    json_decref(r);

    x->f.reason = ADB_AUTH_LOCKED_BY_BRIDGE;
    r = call(x, "auth.password", "{\"user\":\"alice\",\"sealed\":{\"" KID "\":\"AAAA\"}}");
    assert_true(json_is_string(json_object_get(result_of(r), "retry_at")));
    json_decref(r);

    service(x, false);
    r = call(x, "auth.password", "{\"user\":\"alice\",\"sealed\":{\"" KID "\":\"AAAA\"}}");
    assert_string_equal(code_of(r), "internal_error");
    json_decref(r);
}

/* ---- errors ---- */

/* What the backend says reaches the cloud as it said it. */
static void test_backend_errors(void **state)
{
    static const adb_code codes[] = { ADB_E_INVALID_REQUEST, ADB_E_CONFIG, ADB_E_NOT_FOUND, ADB_E_AMBIGUOUS,
                                      ADB_E_DOMAIN_NOT_ENABLED, ADB_E_DC_UNAVAILABLE, ADB_E_TIMEOUT, ADB_E_DNS,
                                      ADB_E_PROTOCOL, ADB_E_KEYTAB, ADB_E_KERBEROS, ADB_E_CLOCK_SKEW, ADB_E_LDAP,
                                      ADB_E_IO, ADB_E_NOMEM, ADB_E_INTERNAL, ADB_E_KEY_UNKNOWN, ADB_E_TLS,
                                      ADB_E_TLS_CERT };
    fixture *x = *state;
    json_t *r;

    x->f.message = "what the fake says";
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        x->f.rc = codes[i];
        r = call(x, "user.get", "{\"id\":\"alice\"}");
        assert_string_equal(code_of(r), adb_code_name(codes[i]));
        assert_string_equal(error_member(r, "message"), "what the fake says");
        assert_null(json_object_get(json_object_get(r, "error"), "path"));
        assert_null(json_object_get(json_object_get(r, "error"), "candidates"));
        json_decref(r);
    }
    x->f.message = NULL;   /* no message: the code's name */
    x->f.rc = ADB_E_LDAP;
    r = call(x, "search", "{\"prefix\":\"a\"}");
    assert_string_equal(error_member(r, "message"), "ldap_error");
    json_decref(r);

    x->f.message = "two";
    x->f.rc = ADB_E_AMBIGUOUS;
    x->f.n_candidates = 2;
    r = call(x, "user.get", "{\"id\":\"Administrator\"}");
    assert_int_equal(json_array_size(json_object_get(json_object_get(r, "error"), "candidates")), 2);
    json_decref(r);

    x->f.rc = ADB_E_KEY_UNKNOWN;
    r = call(x, "auth.password", "{\"user\":\"alice\",\"sealed\":{\"" KID "\":\"AAAA\"}}");
    assert_string_equal(code_of(r), "key_unknown");
    json_decref(r);

    r = call(x, "health", "{}");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(json_object_get(result_of(r), "requests"),
                                                                        "errors"), "ambiguous")), 2);
    json_decref(r);
}

static void test_missing_owner(void **state)
{
    fixture *x = *state;
    json_t *r;

    x->f.no_owner = true;
    r = call(x, "user.groups", "{\"user\":\"alice\"}");
    assert_string_equal(code_of(r), "internal_error");
    json_decref(r);
    r = call(x, "group.members", "{\"group\":\"g\"}");
    assert_string_equal(code_of(r), "internal_error");
    json_decref(r);
}

static void test_decoder_errors(void **state)
{
    fixture *x = *state;
    char *reply = NULL;
    size_t len = 0;
    json_t *r;

    r = call(x, "user.get", "{\"id\":\"alice\",\"kind\":\"user\"}");
    assert_string_equal(code_of(r), "invalid_request");
    assert_string_equal(error_member(r, "path"), "$.params.kind");
    assert_string_equal(json_string_value(json_object_get(r, "op")), "user.get");
    json_decref(r);

    r = call(x, "user.delete", "{}");
    assert_string_equal(code_of(r), "invalid_request");
    assert_string_equal(error_member(r, "path"), "$.op");
    assert_null(json_object_get(r, "op"));
    json_decref(r);

    adb_dispatch(x->svc, "not json", 8, NULL, &reply, &len);
    r = json_loads(reply, 0, NULL);
    assert_string_equal(code_of(r), "invalid_request");
    assert_true(json_is_null(json_object_get(r, "id")));
    json_decref(r);
    free(reply);
    assert_int_equal(x->f.calls, 0);
}

/* ---- rules before a run ---- */

static void test_deadline_and_expiry(void **state)
{
    fixture *x = *state;
    adb_delivery expired = { .expiry_unix_ms = 1000 }, later = { .expiry_unix_ms = INT64_C(32503680000000) };
    json_t *r;

    r = call_dlv(x, "user.get", "{\"id\":\"alice\"}", ",\"deadline\":\"2001-01-01T00:00:00Z\"", NULL);
    assert_string_equal(code_of(r), "timeout");
    assert_non_null(strstr(error_member(r, "message"), "not run"));
    json_decref(r);
    r = call_dlv(x, "auth.password", "{\"user\":\"a\",\"password\":\"" PASSWORD "\"}", NULL, &expired);
    assert_string_equal(code_of(r), "timeout");
    json_decref(r);
    assert_int_equal(x->f.calls + x->f.auth_calls, 0);

    r = call_dlv(x, "user.get", "{\"id\":\"alice\"}", ",\"deadline\":\"2999-01-01T00:00:00Z\"", &later);
    result_of(r);
    json_decref(r);
    assert_int_equal(x->f.calls, 1);
}

static void test_redelivery(void **state)
{
    fixture *x = *state;
    adb_delivery again = { .redelivered = true };
    json_t *r;

    r = call_dlv(x, "auth.password", "{\"user\":\"a\",\"password\":\"" PASSWORD "\"}", NULL, &again);
    assert_string_equal(code_of(r), "retry");
    json_decref(r);
    assert_int_equal(x->f.auth_calls, 0);

    r = call_dlv(x, "user.get", "{\"id\":\"alice\"}", NULL, &again);   /* idempotent: runs again */
    result_of(r);
    json_decref(r);
    assert_int_equal(x->f.calls, 1);
}

/* ---- pages cut to the reply limit ---- */

static void page_through(fixture *x, const char *op, const char *list, const char *first_params)
{
    char params[256], cursor[64] = "";
    size_t seen = 0;
    int pages = 0;

    do {
        json_t *r, *res;
        if (cursor[0] == '\0')
            snprintf(params, sizeof params, "%s}", first_params);
        else
            snprintf(params, sizeof params, "%s,\"cursor\":\"%s\"}", first_params, cursor);
        r = call(x, op, params);
        res = result_of(r);
        char *text = json_dumps(r, JSON_COMPACT);
        assert_true(strlen(text) <= x->cfg.broker.max_reply_bytes);
        free(text);
        assert_true(json_array_size(json_object_get(res, list)) < 50);
        seen += json_array_size(json_object_get(res, list));
        snprintf(cursor, sizeof cursor, "%s", json_is_string(json_object_get(res, "next_cursor"))
                                                  ? json_string_value(json_object_get(res, "next_cursor")) : "");
        json_decref(r);
        pages++;
    } while (cursor[0] != '\0' && pages < 100);
    assert_int_equal(seen, x->f.total);
    assert_true(pages > 2);
}

static void test_pages_cut(void **state)
{
    fixture *x = *state;
    json_t *r;

    x->f.total = 120;
    x->f.dn_pad = 500;   /* ~800 bytes an item: 50 of them are ~40 KB, the limit 8000 */
    page_through(x, "search", "items", "{\"prefix\":\"bulk\",\"limit\":50");
    page_through(x, "group.members", "members", "{\"group\":\"big\",\"limit\":50");

    /* Not even one item fits: internal_error naming the setting. */
    x->f.dn_pad = 9000;
    r = call(x, "search", "{\"prefix\":\"bulk\"}");
    assert_string_equal(code_of(r), "internal_error");
    assert_non_null(strstr(error_member(r, "message"), "broker.max_reply_bytes"));
    json_decref(r);

    /* A result that is not a page is never cut. */
    r = call(x, "user.groups", "{\"user\":\"alice\"}");
    result_of(r);
    json_decref(r);
}

/* ---- the CLI's entry ---- */

static void test_local(void **state)
{
    fixture *x = *state;
    json_t *req, *reply;

    /* Plaintext is the admin's; the tree's copy is wiped once taken. */
    req = json_pack("{s:i,s:s,s:s,s:{s:s,s:s}}", "v", 1, "id", "cli", "op", "auth.password", "params", "user", "alice",
                    "password", PASSWORD);
    reply = adb_dispatch_local(x->svc, req);
    assert_string_equal(json_string_value(json_object_get(result_of(reply), "result")), "ok");
    assert_false(x->f.plaintext_from_wire);
    assert_string_equal(x->f.password, PASSWORD);
    assert_int_equal(json_string_length(json_object_get(json_object_get(req, "params"), "password")),
                     strlen(PASSWORD));
    assert_int_equal(json_string_value(json_object_get(json_object_get(req, "params"), "password"))[0], '\0');
    json_decref(reply);
    json_decref(req);

    /* No broker in between: a page is not cut. */
    x->f.total = 120;
    x->f.dn_pad = 500;
    req = json_pack("{s:i,s:s,s:s,s:{s:s,s:i}}", "v", 1, "id", "cli", "op", "search", "params", "prefix", "bulk",
                    "limit", 50);
    reply = adb_dispatch_local(x->svc, req);
    assert_int_equal(json_array_size(json_object_get(result_of(reply), "items")), 50);
    json_decref(reply);
    json_decref(req);

    /* Refused by the same decoder. */
    req = json_pack("{s:i,s:s,s:s,s:{s:s}}", "v", 1, "id", "cli", "op", "search", "params", "prefix", "a\x1b");
    reply = adb_dispatch_local(x->svc, req);
    assert_string_equal(code_of(reply), "invalid_request");
    assert_string_equal(error_member(reply, "path"), "$.params.prefix");
    json_decref(reply);
    json_decref(req);

    /* Its log line is at debug level: the admin sees the outcome. */
    fflush(x->log_file);
    assert_null(strstr(x->log_text != NULL ? x->log_text : "", "event=request id=cli"));
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table), T(test_health),   T(test_lookups),           T(test_topology),
        T(test_domains_configure),    T(test_auth),     T(test_backend_errors),    T(test_missing_owner),
        T(test_decoder_errors),       T(test_deadline_and_expiry), T(test_redelivery), T(test_pages_cut),
        T(test_local),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
