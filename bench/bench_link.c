/* The cloud link's cost, in one run: adb_dispatch called in process (no
 * broker), the broker's own round trip (an echo responder behind adb_link),
 * a health request through adb_link + adb_dispatch (direct and through an
 * HTTP CONNECT proxy), and throughput with 1 and 4 workers.
 *
 * The broker (RabbitMQ 3.10, rabbitmq_amqp1_0) and tinyproxy are started by
 * bench/run with tests/integration/broker.sh, which exports BROKER_AMQP_URL,
 * BROKER_USER, BROKER_PASSWORD_FILE and PROXY_PORT_bench.  The client is a
 * qpid-proton proactor in this process: requests to /queue/requests with
 * reply_to /queue/replies (RabbitMQ 3.10 refuses dynamic reply queues) and a
 * correlation id that indexes the send time. */
#include "config.h"

#include "stats.h"

#include <adbridge/config.h>
#include <adbridge/directory.h>
#include <adbridge/dispatch.h>
#include <adbridge/keystore.h>
#include <adbridge/link.h>
#include <adbridge/log.h>

#include <jansson.h>
#include <proton/condition.h>
#include <proton/connection.h>
#include <proton/delivery.h>
#include <proton/event.h>
#include <proton/link.h>
#include <proton/message.h>
#include <proton/proactor.h>
#include <proton/sasl.h>
#include <proton/session.h>
#include <proton/transport.h>

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define HEALTH "{\"v\":1,\"id\":\"@\",\"op\":\"health\",\"params\":{}}"
#define USER_GET "{\"v\":1,\"id\":\"@\",\"op\":\"user.get\",\"params\":{\"id\":\"alice@adb.test\"}}"
#define SEARCH "{\"v\":1,\"id\":\"@\",\"op\":\"search\",\"params\":{\"prefix\":\"ali\"}}"
#define INVALIDATE "{\"v\":1,\"id\":\"@\",\"op\":\"cache.invalidate\",\"params\":{\"id\":\"alice@adb.test\"}}"

static char *need(const char *name)
{
    char *v = getenv(name);
    if (v == NULL || *v == '\0') {
        fprintf(stderr, "bench_link: %s is not set (run through bench/run, which starts the broker)\n", name);
        exit(2);
    }
    return v;
}

static void die(const char *what, const adb_error *err)
{
    fprintf(stderr, "bench_link: %s: %s: %s\n", what, adb_code_name(err->code), err->message);
    exit(2);
}

static void dief(const char *what)
{
    fprintf(stderr, "bench_link: %s\n", what);
    exit(2);
}

/* ---- (a) adb_dispatch in process ---- */

/* One dispatch of a template with its "@" id filled in; exits unless the
 * reply carries a result. */
static void dispatch_ok(adb_service *svc, const char *tmpl)
{
    char *reply = NULL, req[512];
    const char *at = strchr(tmpl, '@');
    size_t len = 0;
    int rl = snprintf(req, sizeof req, "%.*sbench-1%s", (int)(at - tmpl), tmpl, at + 1);

    adb_dispatch(svc, req, (size_t)rl, NULL, &reply, &len);
    if (reply == NULL || strstr(reply, "\"result\"") == NULL) {
        fprintf(stderr, "bench_link: %s\n  answered %.400s\n", req, reply != NULL ? reply : "(out of memory)");
        exit(2);
    }
    free(reply);
}

static void run_dispatch(adb_service *svc, const char *name, const char *req, const char *before, int n)
{
    bench_samples s = { 0 };

    dispatch_ok(svc, req); /* warm: connection, tickets, cache */
    for (int i = 0; i < n; i++) {
        double t0;
        if (before != NULL)
            dispatch_ok(svc, before);
        t0 = bench_now_us();
        dispatch_ok(svc, req);
        bench_add(&s, bench_now_us() - t0);
    }
    bench_report(name, &s);
}

typedef struct tp_arg {
    adb_service *svc;
    const char *req;
    int n;
} tp_arg;

static void *tp_thread(void *arg)
{
    tp_arg *a = arg;
    for (int i = 0; i < a->n; i++)
        dispatch_ok(a->svc, a->req);
    return NULL;
}

static void run_dispatch_throughput(adb_service *svc, const char *name, const char *req, unsigned threads, int n)
{
    pthread_t th[8];
    tp_arg a = { svc, req, n / (int)threads };
    double t0 = bench_now_us(), dt;

    for (unsigned i = 0; i < threads; i++)
        pthread_create(&th[i], NULL, tp_thread, &a);
    for (unsigned i = 0; i < threads; i++)
        pthread_join(th[i], NULL);
    dt = bench_now_us() - t0;
    printf("%-44s n=%-6d %10.0f requests/s\n", name, a.n * (int)threads, a.n * threads / (dt / 1e6));
}

/* ---- the responder: adb_link + worker threads (echo or adb_dispatch) ---- */

typedef struct responder {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    adb_link_job *items[256];
    size_t head, n;
    bool stop;
    adb_link *link;
    adb_service *svc; /* NULL: echo the body */
    pthread_t th[8];
    unsigned workers;
} responder;

static void submit(void *arg, adb_link_job *job)
{
    responder *r = arg;
    pthread_mutex_lock(&r->lock);
    if (r->n == 256) { /* credit <= workers keeps this from happening */
        pthread_mutex_unlock(&r->lock);
        adb_link_complete(r->link, job, NULL, 0);
        return;
    }
    r->items[(r->head + r->n++) % 256] = job;
    pthread_cond_signal(&r->cond);
    pthread_mutex_unlock(&r->lock);
}

static void *worker(void *arg)
{
    responder *r = arg;
    for (;;) {
        adb_link_job *job;
        const adb_link_request *rq;
        char *reply = NULL;
        size_t len = 0;

        pthread_mutex_lock(&r->lock);
        while (r->n == 0 && !r->stop)
            pthread_cond_wait(&r->cond, &r->lock);
        if (r->n == 0) {
            pthread_mutex_unlock(&r->lock);
            return NULL;
        }
        job = r->items[r->head];
        r->head = (r->head + 1) % 256;
        r->n--;
        pthread_mutex_unlock(&r->lock);
        rq = adb_link_job_request(job);
        if (r->svc == NULL) {
            adb_link_complete(r->link, job, rq->body, rq->len);
            continue;
        }
        adb_delivery dlv = { rq->redelivered, rq->expiry_unix_ms };
        adb_dispatch(r->svc, rq->body, rq->len, &dlv, &reply, &len);
        adb_link_complete(r->link, job, reply, len);
        free(reply);
    }
}

static void responder_start(responder *r, adb_broker_config *b, adb_service *svc, unsigned workers,
                            const adb_logger *lg)
{
    adb_link_options lo = { .broker = b, .log = lg, .submit = submit, .submit_arg = r,
                            .container_id = "bench-link-responder" };
    adb_error err = { 0 };
    adb_link_state st;

    memset(r, 0, sizeof *r);
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->cond, NULL);
    r->svc = svc;
    r->workers = workers;
    b->workers = workers;
    if (adb_link_new(&lo, &r->link, &err) != ADB_OK)
        die("adb_link_new", &err);
    for (unsigned i = 0; i < workers; i++)
        pthread_create(&r->th[i], NULL, worker, r);
    if (adb_link_start(r->link, &err) != ADB_OK)
        die("adb_link_start", &err);
    for (int i = 0; i < 300; i++) {
        adb_link_state_get(r->link, &st);
        if (st.status == ADB_LINK_CONNECTED)
            return;
        usleep(50000);
    }
    fprintf(stderr, "bench_link: the link did not connect in 15 s: %s\n", st.last_error);
    exit(2);
}

static void responder_stop(responder *r)
{
    adb_link_stop(r->link, 5000);
    pthread_mutex_lock(&r->lock);
    r->stop = true;
    pthread_cond_broadcast(&r->cond);
    pthread_mutex_unlock(&r->lock);
    for (unsigned i = 0; i < r->workers; i++)
        pthread_join(r->th[i], NULL);
    adb_link_free(r->link);
}

/* ---- the client: a proton proactor, `window` requests in flight ---- */

typedef struct client {
    const char *prefix;
    const char *body;          /* request text; its "@" id is replaced by the correlation id */
    int n, window, sent, done, in_flight;
    double *sent_us;
    double t_first, t_last, t_progress;
    bench_samples *lat;
    pn_link_t *snd, *rcv;
    bool snd_open, rcv_open, closing;
    pn_rwbytes_t buf;
    char *rbuf;
    size_t rcap;
} client;

static void client_send(client *c)
{
    if (!c->snd_open || !c->rcv_open || c->closing)
        return;
    while (c->sent < c->n && c->in_flight < c->window && pn_link_credit(c->snd) > 0) {
        char cid[64], body[512];
        const char *at = strchr(c->body, '@');
        pn_message_t *m = pn_message();
        int cl = snprintf(cid, sizeof cid, "%s-%d", c->prefix, c->sent);
        int bl = snprintf(body, sizeof body, "%.*s%s%s", (int)(at - c->body), c->body, cid, at + 1);
        pn_atom_t id = { .type = PN_STRING, .u.as_bytes = pn_bytes((size_t)cl, cid) };

        pn_message_set_reply_to(m, "/queue/replies");
        pn_message_set_correlation_id(m, id);
        pn_message_set_id(m, id);
        pn_data_put_string(pn_message_body(m), pn_bytes((size_t)bl, body));
        if (c->sent == 0)
            c->t_first = bench_now_us();
        c->sent_us[c->sent++] = bench_now_us();
        pn_delivery(c->snd, pn_dtag(cid, (size_t)cl));
        if (pn_message_send(m, c->snd, &c->buf) < 0)
            dief("pn_message_send failed");
        pn_message_free(m);
        c->in_flight++;
    }
}

/* A reply: find its send time by correlation id, ignore strays (a
 * previous phase's late replies). */
static void client_reply(client *c, pn_delivery_t *d)
{
    size_t need = pn_delivery_pending(d), plen = strlen(c->prefix);
    pn_message_t *m;
    pn_atom_t cid;
    double now = bench_now_us();

    if (need > c->rcap) {
        c->rcap = need;
        c->rbuf = realloc(c->rbuf, need);
        if (c->rbuf == NULL)
            abort();
    }
    if (pn_link_recv(c->rcv, c->rbuf, need) != (ssize_t)need)
        dief("pn_link_recv: short read");
    m = pn_message();
    if (pn_message_decode(m, c->rbuf, need) != 0)
        dief("undecodable reply message");
    cid = pn_message_get_correlation_id(m);
    if (cid.type == PN_STRING && cid.u.as_bytes.size > plen + 1 && cid.u.as_bytes.size < 64
        && memcmp(cid.u.as_bytes.start, c->prefix, plen) == 0 && cid.u.as_bytes.start[plen] == '-') {
        char num[64];
        int i;
        pn_data_t *body = pn_message_body(m);
        memcpy(num, cid.u.as_bytes.start + plen + 1, cid.u.as_bytes.size - plen - 1);
        num[cid.u.as_bytes.size - plen - 1] = '\0';
        i = atoi(num);
        pn_data_rewind(body);
        if (pn_data_next(body) && (pn_data_type(body) == PN_STRING || pn_data_type(body) == PN_BINARY)) {
            pn_bytes_t b = pn_data_type(body) == PN_STRING ? pn_data_get_string(body) : pn_data_get_binary(body);
            json_t *o = json_loadb(b.start, b.size, 0, NULL);
            /* A figure for an error reply would time the wrong thing. */
            if (o == NULL || json_object_get(o, "error") != NULL) {
                fprintf(stderr, "bench_link: bad reply: %.*s\n", (int)(b.size > 400 ? 400 : b.size), b.start);
                exit(2);
            }
            json_decref(o);
        } else {
            dief("a reply without a string or binary body");
        }
        if (i >= 0 && i < c->sent) {
            bench_add(c->lat, now - c->sent_us[i]);
            c->done++;
            c->in_flight--;
            c->t_last = now;
            c->t_progress = now;
        }
    }
    pn_message_free(m);
    pn_delivery_update(d, PN_ACCEPTED);
    pn_delivery_settle(d);
    pn_link_flow(c->rcv, 1);
}

static void check_cond(pn_condition_t *cond, const char *where)
{
    if (pn_condition_is_set(cond)) {
        fprintf(stderr, "bench_link: client %s: %s: %s\n", where, pn_condition_get_name(cond),
                pn_condition_get_description(cond));
        exit(2);
    }
}

/* Sends n requests with at most window in flight; latencies into lat,
 * returns the seconds from the first send to the last reply. */
static double client_run(const char *prefix, const char *body, int n, int window, bench_samples *lat)
{
    const char *url = need("BROKER_AMQP_URL");
    char addr[256], pw[256];
    FILE *f = fopen(need("BROKER_PASSWORD_FILE"), "r");
    client c = { .prefix = prefix, .body = body, .n = n, .window = window, .lat = lat };
    pn_proactor_t *p = pn_proactor();
    pn_connection_t *conn = pn_connection();
    pn_transport_t *t = pn_transport();
    pn_sasl_t *sasl = pn_sasl(t);
    pn_session_t *ss;
    bool finished = false;

    if (f == NULL || fgets(pw, sizeof pw, f) == NULL)
        dief("cannot read BROKER_PASSWORD_FILE");
    fclose(f);
    pw[strcspn(pw, "\r\n")] = '\0';
    if (strncmp(url, "amqp://", 7) != 0)
        dief("BROKER_AMQP_URL must be amqp://host:port");
    snprintf(addr, sizeof addr, "%s", url + 7);
    c.sent_us = calloc((size_t)n, sizeof *c.sent_us);
    pn_connection_set_container(conn, "bench-link-client");
    pn_connection_set_user(conn, need("BROKER_USER"));
    pn_connection_set_password(conn, pw);
    pn_sasl_allowed_mechs(sasl, "PLAIN");
    pn_sasl_set_allow_insecure_mechs(sasl, true);
    pn_connection_open(conn);
    ss = pn_session(conn);
    pn_session_open(ss);
    c.snd = pn_sender(ss, "bench-requests");
    pn_terminus_set_address(pn_link_target(c.snd), "/queue/requests");
    pn_link_open(c.snd);
    c.rcv = pn_receiver(ss, "bench-replies");
    pn_terminus_set_address(pn_link_source(c.rcv), "/queue/replies");
    pn_link_open(c.rcv);
    pn_link_flow(c.rcv, window + 16);
    pn_proactor_connect2(p, conn, t, addr);
    c.t_progress = bench_now_us();
    pn_proactor_set_timeout(p, 1000);

    while (!finished) {
        pn_event_batch_t *batch = pn_proactor_wait(p);
        pn_event_t *e;
        while ((e = pn_event_batch_next(batch)) != NULL) {
            switch (pn_event_type(e)) {
            case PN_LINK_REMOTE_OPEN:
                if (pn_event_link(e) == c.snd)
                    c.snd_open = true;
                else
                    c.rcv_open = true;
                client_send(&c);
                break;
            case PN_LINK_FLOW:
                client_send(&c);
                break;
            case PN_DELIVERY: {
                pn_delivery_t *d = pn_event_delivery(e);
                if (pn_delivery_link(d) == c.snd) {
                    if (pn_delivery_remote_state(d) != 0)
                        pn_delivery_settle(d);
                } else if (pn_delivery_readable(d) && !pn_delivery_partial(d)) {
                    client_reply(&c, d);
                    if (c.done == c.n && !c.closing) {
                        c.closing = true;
                        pn_connection_close(conn);
                    } else {
                        client_send(&c);
                    }
                }
                break;
            }
            case PN_PROACTOR_TIMEOUT:
                if (bench_now_us() - c.t_progress < 60e6)
                    break;
                fprintf(stderr, "bench_link: %s: no progress in 60 s (%d of %d replies; attached: %d %d)\n",
                        prefix, c.done, n, c.snd_open, c.rcv_open);
                exit(2);
            case PN_LINK_REMOTE_CLOSE:
                check_cond(pn_link_remote_condition(pn_event_link(e)), "link");
                break;
            case PN_CONNECTION_REMOTE_CLOSE:
                check_cond(pn_connection_remote_condition(pn_event_connection(e)), "connection");
                break;
            case PN_TRANSPORT_CLOSED:
                if (!c.closing)
                    check_cond(pn_transport_condition(pn_event_transport(e)), "transport");
                if (!c.closing)
                    dief("the client's connection closed early");
                break;
            case PN_PROACTOR_INACTIVE:
                finished = true;
                break;
            default:
                break;
            }
        }
        pn_proactor_done(p, batch);
        if (!finished)
            pn_proactor_set_timeout(p, 1000);
    }
    pn_proactor_free(p);
    free(c.sent_us);
    free(c.buf.start);
    free(c.rbuf);
    return (c.t_last - c.t_first) / 1e6;
}

static void run_roundtrip(const char *name, const char *prefix, const char *body, int n)
{
    bench_samples s = { 0 };
    char warm[64];

    snprintf(warm, sizeof warm, "%s-warm", prefix);
    client_run(warm, body, 5, 1, &s); /* connection set-up, first attach, caches */
    free(s.us);
    s = (bench_samples){ 0 };
    client_run(prefix, body, n, 1, &s);
    bench_report(name, &s);
}

static void run_throughput(const char *name, const char *prefix, const char *body, int n, int window)
{
    bench_samples s = { 0 };
    double secs = client_run(prefix, body, n, window, &s);

    printf("%-44s n=%-6d %10.0f requests/s  (%d in flight; p50=%.3f ms p95=%.3f ms)\n", name, n, n / secs, window,
           bench_pct(&s, 50) / 1000, bench_pct(&s, 95) / 1000);
    free(s.us);
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 300;
    char dir[] = "/tmp/adb-bench-link-XXXXXX", cmd[64];
    adb_config *cfg;
    adb_dir *d;
    adb_keystore *ks;
    adb_service *svc;
    adb_service_options so = { 0 };
    adb_broker_config b = { 0 };
    adb_logger lg;
    adb_error err = { 0 };
    responder r;
    char pname[32];

    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IOLBF, 0);
    /* Warnings only: a line per request would time the logger. */
    adb_logger_init(&lg, ADB_LOG_WARN, stderr);
    if (adb_config_load(need("ADBRIDGE_CONFIG"), &cfg, &err) != ADB_OK)
        die("config", &err);
    if (mkdtemp(dir) == NULL)
        dief("mkdtemp failed");
    free(cfg->state_dir); /* private: keys and flags made here never touch the shared state */
    cfg->state_dir = strdup(dir);
    if (adb_dir_open(cfg, &lg, NULL, &d, &err) != ADB_OK || adb_keystore_open(dir, NULL, &ks, &err) != ADB_OK)
        die("set-up", &err);
    so.dir = d;
    so.keystore = ks;
    so.config = cfg;
    so.log = &lg;
    if (adb_service_new(&so, &svc, &err) != ADB_OK)
        die("adb_service_new", &err);

    printf("-- in process: adb_dispatch, no broker\n");
    run_dispatch(svc, "dispatch health", HEALTH, NULL, n);
    run_dispatch(svc, "dispatch user.get alice (cached)", USER_GET, NULL, n);
    run_dispatch(svc, "dispatch user.get alice (cold cache)", USER_GET, INVALIDATE, n / 3);
    run_dispatch(svc, "dispatch search prefix ali", SEARCH, NULL, n / 5); /* ~0.3 s each here */
    run_dispatch_throughput(svc, "dispatch user.get cached, 1 thread", USER_GET, 1, 20 * n);
    run_dispatch_throughput(svc, "dispatch user.get cached, 4 threads", USER_GET, 4, 20 * n);

    b.url = need("BROKER_AMQP_URL");
    b.address = (char *)"/queue/requests";
    b.username = need("BROKER_USER");
    b.password_file = need("BROKER_PASSWORD_FILE");
    b.sasl_mechanisms = (char *)"PLAIN";
    b.max_message_bytes = 65536;
    b.max_reply_bytes = 262144;
    b.reconnect_max_s = 4;

    printf("-- through RabbitMQ %s (client: proton proactor, 1 request in flight)\n", b.url);
    responder_start(&r, &b, NULL, 1, &lg);
    run_roundtrip("broker round trip, echo responder (adb_link)", "echo", HEALTH, n);
    responder_stop(&r);
    responder_start(&r, &b, svc, 1, &lg);
    run_roundtrip("health via adb_link + dispatch, direct", "hd", HEALTH, n);
    run_roundtrip("user.get alice (cached) via adb_link, direct", "ud", USER_GET, n);
    responder_stop(&r);

    b.proxy.host = (char *)"127.0.0.1";
    b.proxy.port = (unsigned)atoi(need("PROXY_PORT_bench"));
    printf("-- the link through tinyproxy (HTTP CONNECT) 127.0.0.1:%u\n", b.proxy.port);
    responder_start(&r, &b, NULL, 1, &lg);
    run_roundtrip("broker round trip, echo responder, proxied", "ep", HEALTH, n);
    responder_stop(&r);
    responder_start(&r, &b, svc, 1, &lg);
    run_roundtrip("health via adb_link + dispatch, proxied", "hp", HEALTH, n);
    responder_stop(&r);
    b.proxy.host = NULL;
    b.proxy.port = 0;

    printf("-- throughput through the broker, direct (user.get alice cached, 16 in flight)\n");
    for (unsigned w = 1; w <= 4; w += 3) {
        responder_start(&r, &b, svc, w, &lg);
        snprintf(pname, sizeof pname, "tp%u", w);
        run_throughput(w == 1 ? "user.get via adb_link, 1 worker" : "user.get via adb_link, 4 workers", pname,
                       USER_GET, 10 * n, 16);
        responder_stop(&r);
    }
    responder_start(&r, &b, NULL, 4, &lg);
    run_throughput("echo responder (adb_link), 4 workers", "tpe", HEALTH, 10 * n, 16);
    responder_stop(&r);

    adb_service_free(svc);
    adb_keystore_free(ks);
    adb_dir_free(d);
    adb_config_free(cfg);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench_link: could not remove %s\n", dir);
    return 0;
}
