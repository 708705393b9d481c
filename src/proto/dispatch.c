/* The dispatcher (see include/adbridge/dispatch.h): decode, refuse what must
 * not run, run the operation by its entry in the table (ops.h), encode.
 * What each operation does is in its src/proto/op_<family>.c; here only
 * the rules every request goes through. */
#include "config.h"

#include "ops_internal.h"

#include <adbridge/clock.h>
#include <adbridge/dispatch.h>
#include <adbridge/json.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { REPLY_BYTES_DEFAULT = 262144 };   /* Azure Service Bus standard tier */

adb_code adb_service_new(const adb_service_options *opts, adb_service **out, adb_error *err)
{
    adb_service *s;

    *out = NULL;
    if (opts == NULL || (opts->dir == NULL && opts->backend == NULL) || opts->config == NULL)
        return adb_error_set(err, ADB_E_INVALID_REQUEST, "a service needs a directory and a configuration");
    if ((s = calloc(1, sizeof *s)) == NULL)
        return adb_error_set(err, ADB_E_NOMEM, "out of memory");
    if (opts->backend != NULL)
        s->backend = *opts->backend;
    else
        adb_backend_init(&s->backend, opts->dir, opts->auth);
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

/* How a request reached the dispatcher. */
typedef struct arrival {
    const adb_delivery *dlv;            /* NULL: first delivery, no expiry */
    size_t reply_budget;                /* bytes of a reply; 0: no limit */
    bool local;                         /* the host's admin, in process */
} arrival;

/* timeout or retry for a request that must not run; ADB_OK otherwise. */
static adb_code admit(const adb_request *r, const arrival *a, adb_error *err)
{
    int64_t wall = adb_wall_ms();

    if (r->deadline_ms != 0 && wall >= r->deadline_ms)
        return adb_error_set(err, ADB_E_TIMEOUT, "the request's deadline passed %lld ms before it could run; not run",
                             (long long)(wall - r->deadline_ms));
    if (a->dlv != NULL && a->dlv->expiry_unix_ms != 0 && wall >= a->dlv->expiry_unix_ms)
        return adb_error_set(err, ADB_E_TIMEOUT, "the message expired %lld ms before it could run; not run",
                             (long long)(wall - a->dlv->expiry_unix_ms));
    if (adb_ops[r->op]->once && a->dlv != NULL && a->dlv->redelivered)
        return adb_error_set(err, ADB_E_RETRY, "this %s request was delivered before and is not run again (a "
                             "second password check could count a wrong password twice against AD's lockout); send "
                             "a fresh request", adb_ops[r->op]->name);
    return ADB_OK;
}

/* Runs r into a result reply.  A page of a paged op whose reply would
 * exceed the budget is asked again with a smaller limit, in proportion
 * (the directory serves the second ask from its cache): the cloud gets a
 * shorter page and a cursor for the rest, never a reply the broker
 * refuses. */
static adb_code run(adb_service *s, adb_request *r, size_t budget, adb_op_outcome *o, json_t **reply, adb_error *err)
{
    const adb_op_def *def = adb_ops[r->op];
    size_t limit = r->limit != 0 ? r->limit : def->default_limit, len = 0;
    adb_code rc;

    for (int tries = 0;; tries++) {
        if ((rc = def->run(s, r, o, err)) != ADB_OK)
            return rc;
        *reply = adb_reply_result_json(r->id, r->op, o->result);   /* takes the result */
        o->result = NULL;
        if (*reply == NULL)
            return adb_error_set(err, ADB_E_NOMEM, "out of memory");
        if (budget == 0 || def->list == NULL || (len = json_dumpb(*reply, NULL, 0, JSON_COMPACT)) <= budget)
            return ADB_OK;
        if (tries == 4 || limit <= 1)
            break;
        size_t smaller = (size_t)((double)limit * (double)budget / (double)len * 0.9);
        limit = r->limit = smaller >= 1 ? smaller : 1;
        json_decref(*reply);
        *reply = NULL;
        adb_log(s->log, ADB_LOG_DEBUG, "reply_page_cut", "op=%s limit=%zu", def->name, limit);
    }
    json_decref(*reply);
    *reply = NULL;
    return adb_error_set(err, ADB_E_INTERNAL, "the reply (%zu bytes) does not fit broker.max_reply_bytes (%zu) "
                         "even with one item per page: raise broker.max_reply_bytes", len, budget);
}

static void count_and_log(adb_service *svc, const adb_request *req, adb_code rc, const adb_error *err,
                          int64_t start, const arrival *a)
{
    char idv[ADB_PROTO_ID_MAX + 8], pathv[ADB_PROTO_PATH_MAX + 8], msgv[ADB_ERROR_MESSAGE_MAX + 16];
    /* The admin at the CLI sees the outcome itself. */
    adb_log_level level = a->local ? ADB_LOG_DEBUG : rc == ADB_OK ? ADB_LOG_INFO : ADB_LOG_WARN;

    atomic_fetch_add(&svc->total, 1);
    if (req->op != ADB_OP_NONE)
        atomic_fetch_add(&svc->by_op[req->op], 1);
    if (rc != ADB_OK && (unsigned)rc < ADB_CODE_COUNT_)
        atomic_fetch_add(&svc->by_code[rc], 1);
    if (!adb_log_enabled(svc->log, level))   /* the arguments below are formatted before adb_log looks */
        return;
    adb_log(svc->log, level, "request",
            "id=%s op=%s code=%s duration_ms=%lld%s%s%s%s", req->id[0] ? adb_log_value(idv, sizeof idv, req->id) : "-",
            req->op != ADB_OP_NONE ? adb_op_name(req->op) : "-", adb_code_name(rc),
            (long long)(adb_mono_ms() - start), rc == ADB_OK ? "" : " msg=",
            rc == ADB_OK ? "" : adb_log_value(msgv, sizeof msgv, err->message),
            req->error_path[0] != '\0' ? " path=" : "",
            req->error_path[0] != '\0' ? adb_log_value(pathv, sizeof pathv, req->error_path) : "");
}

/* A decoded request (rc: how decoding went) to its reply object. */
static json_t *serve(adb_service *svc, adb_request *req, adb_code rc, adb_error *err, const arrival *a)
{
    adb_op_outcome o = { 0 };
    json_t *reply = NULL;
    int64_t start = adb_mono_ms();

    if (rc == ADB_OK)
        rc = admit(req, a, err);
    if (rc == ADB_OK)
        rc = run(svc, req, a->reply_budget, &o, &reply, err);
    if (rc != ADB_OK && err->message[0] == '\0')
        adb_error_set(err, rc, "%s", adb_code_name(rc));
    if (rc != ADB_OK) {
        const char *path = rc == ADB_E_INVALID_REQUEST && req->error_path[0] != '\0' ? req->error_path : o.path;
        json_decref(o.result);
        reply = adb_reply_error_json(req->id, req->op, rc, err->message, path, o.candidates);
    }
    count_and_log(svc, req, rc, err, start, a);
    if (a->dlv != NULL && a->dlv->unavailable != NULL)
        *a->dlv->unavailable = rc == ADB_E_DC_UNAVAILABLE && req->op != ADB_OP_NONE && !adb_ops[req->op]->once;
    return reply;
}

void adb_dispatch(adb_service *svc, const void *body, size_t len, const adb_delivery *dlv, char **reply,
                  size_t *reply_len)
{
    arrival a = { .dlv = dlv, .reply_budget = svc->cfg->broker.max_reply_bytes != 0 ? svc->cfg->broker.max_reply_bytes
                                                                                      : REPLY_BYTES_DEFAULT };
    adb_request req;
    adb_error err = { 0 };
    adb_code rc = adb_request_decode(body, len, svc->cfg->broker.max_message_bytes, &req, &err);
    json_t *r = serve(svc, &req, rc, &err, &a);

    *reply = adb_json_dumps(r, JSON_COMPACT, reply_len);
    json_decref(r);
    adb_request_clear(&req);
}

json_t *adb_dispatch_local(adb_service *svc, json_t *request)
{
    arrival a = { .local = true };
    adb_request req;
    adb_error err = { 0 };
    adb_code rc = adb_request_decode_json(request, &req, &err);
    json_t *reply;

    req.local = true;
    reply = serve(svc, &req, rc, &err, &a);
    adb_request_clear(&req);
    return reply;
}
