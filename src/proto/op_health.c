/* health: the instance's state for the cloud (versions and operations,
 * keys, DC health, cache, pool, checks, requests, the link), from memory
 * only — no network I/O — and its entry in the table of operations. */
#include "config.h"

#include "ops_internal.h"
#include "params.h"

#include <adbridge/clock.h>
#include <adbridge/version.h>

#include <stdlib.h>
#include <string.h>

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
    adb_dc_health *rows = NULL;
    size_t n = 0, cap = 0;
    json_t *a = json_array();

    /* The count can grow between the two calls: take what fits. */
    if (s->backend.dc_health != NULL && (cap = s->backend.dc_health(s->backend.arg, NULL, 0)) > 0
        && (rows = calloc(cap, sizeof *rows)) != NULL)
        n = s->backend.dc_health(s->backend.arg, rows, cap);
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

static json_t *auth_json(adb_service *s)
{
    adb_auth_stats as;

    if (s->backend.auth_stats == NULL)
        return json_null();
    s->backend.auth_stats(s->backend.auth_arg, &as);
    return json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "checks", (json_int_t)as.checks, "ok", (json_int_t)as.ok,
                     "failed", (json_int_t)as.failed, "locked_by_bridge", (json_int_t)as.locked_by_bridge,
                     "restricted", (json_int_t)as.restricted, "errors", (json_int_t)as.errors, "lockout_users",
                     (json_int_t)as.lockout_users);
}

static adb_code run_health(adb_service *s, const adb_request *r, adb_op_outcome *o, adb_error *err)
{
    adb_dir_stats st;
    json_t *ops = json_array(), *link = json_pack("{s:s}", "state", "none");

    (void)r;
    memset(&st, 0, sizeof st);
    s->backend.dir_stats(s->backend.arg, &st);
    for (int i = 0; i < ADB_OP_COUNT_; i++)
        json_array_append_new(ops, json_string(adb_op_name((adb_op)i)));
    if (s->link_state != NULL && link != NULL)
        s->link_state(s->link_arg, link);
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
        "topology_reads", (json_int_t)st.topology_reads, "auth", auth_json(s), "requests", counters(s), "link", link);
    return o->result != NULL ? ADB_OK : adb_error_set(err, ADB_E_NOMEM, "out of memory");
}

/* Not a CLI command: it tells a running daemon's state. */
const adb_op_def adb_op_health = {
    .name = "health",
    .params = param_none,
    .run = run_health,
};
