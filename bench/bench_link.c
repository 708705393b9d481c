/* The cloud link's cost, in one run: adb_dispatch called in process (no
 * broker), the broker's own round trip (an echo responder behind adb_link),
 * a health request through adb_link + adb_dispatch (direct and through an
 * HTTP CONNECT proxy), and throughput with 1 and 4 workers.
 *
 * The broker (RabbitMQ 3.10, rabbitmq_amqp1_0) and tinyproxy are started by
 * bench/run with tests/integration/broker.sh, which exports BROKER_AMQP_URL,
 * BROKER_USER, BROKER_PASSWORD_FILE and PROXY_PORT_bench.  The client is a
 * qpid-proton proactor in this process (bench/amqp_client.c, shared with
 * bench_load): requests to /queue/requests with reply_to /queue/replies
 * (RabbitMQ 3.10 refuses dynamic reply queues) and a correlation id that
 * indexes the send time. */
#include "config.h"

#include "amqp_client.h"
#include "stats.h"

#include <adbridge/config.h>
#include <adbridge/directory.h>
#include <adbridge/dispatch.h>
#include <adbridge/keystore.h>
#include <adbridge/link.h>
#include <adbridge/log.h>

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

/* ---- (a) adb_dispatch in process ---- */

/* The request template tmpl with its "@" replaced by id. */
static int fill_id(char *out, size_t size, const char *tmpl, const char *id)
{
    const char *at = strchr(tmpl, '@');
    return snprintf(out, size, "%.*s%s%s", (int)(at - tmpl), tmpl, id, at + 1);
}

/* One dispatch of a template with its "@" id filled in; exits unless the
 * reply carries a result. */
static void dispatch_ok(adb_service *svc, const char *tmpl)
{
    char *reply = NULL, req[512];
    size_t len = 0;
    int rl = fill_id(req, sizeof req, tmpl, "bench-1");

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
        adb_delivery dlv = { .redelivered = rq->redelivered, .expiry_unix_ms = rq->expiry_unix_ms };
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
        bench_die("adb_link_new", &err);
    for (unsigned i = 0; i < workers; i++)
        pthread_create(&r->th[i], NULL, worker, r);
    if (adb_link_start(r->link, &err) != ADB_OK)
        bench_die("adb_link_start", &err);
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

/* ---- the client (amqp_client.h): `window` requests in flight ---- */

static amqp_broker broker; /* set in main */

static int template_body(const void *tmpl, char *out, size_t size, const char *cid, int i)
{
    (void)i;
    return fill_id(out, size, tmpl, cid);
}

/* Sends n requests with at most window in flight; latencies into lat,
 * returns the seconds from the first send to the last reply. */
static double client_run(const char *prefix, const char *body, int n, int window, bench_samples *lat)
{
    amqp_run r = { .name = "bench-link", .target = "/queue/requests", .prefix = prefix, .n = n,
                   .window = window, .body = template_body, .arg = body };
    return amqp_client_run(&broker, &r, lat);
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
    amqp_broker_init(&broker, "bench_link");
    /* Warnings only: a line per request would time the logger. */
    adb_logger_init(&lg, ADB_LOG_WARN, stderr);
    cfg = bench_config(dir);   /* private: keys and flags made here never touch the shared state */
    if (adb_dir_open(cfg, &lg, NULL, &d, &err) != ADB_OK || adb_keystore_open(dir, NULL, &ks, &err) != ADB_OK)
        bench_die("set-up", &err);
    so.dir = d;
    so.keystore = ks;
    so.config = cfg;
    so.log = &lg;
    if (adb_service_new(&so, &svc, &err) != ADB_OK)
        bench_die("adb_service_new", &err);

    printf("-- in process: adb_dispatch, no broker\n");
    run_dispatch(svc, "dispatch health", HEALTH, NULL, n);
    run_dispatch(svc, "dispatch user.get alice (cached)", USER_GET, NULL, n);
    run_dispatch(svc, "dispatch user.get alice (cold cache)", USER_GET, INVALIDATE, n / 3);
    run_dispatch(svc, "dispatch search prefix ali", SEARCH, NULL, n / 5); /* ~0.3 s each here */
    run_dispatch_throughput(svc, "dispatch user.get cached, 1 thread", USER_GET, 1, 20 * n);
    run_dispatch_throughput(svc, "dispatch user.get cached, 4 threads", USER_GET, 4, 20 * n);

    b.url = bench_need("BROKER_AMQP_URL");
    b.address = (char *)"/queue/requests";
    b.username = bench_need("BROKER_USER");
    b.password_file = bench_need("BROKER_PASSWORD_FILE");
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
    b.proxy.port = (unsigned)atoi(bench_need("PROXY_PORT_bench"));
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
