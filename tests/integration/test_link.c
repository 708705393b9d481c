/* The transport's own test program: adb_link with an echo handler, and the
 * probe.  Driven by tests/integration/t-70-daemon.sh against a real broker.
 *
 *   test_link serve   echo responder until SIGTERM (then drains like adbridged)
 *   test_link probe   adb_link_probe, prints the stages
 *   test_link new     adb_link_new only (configuration / password file checks)
 *
 * Configuration from the environment (the broker section the daemon reads
 * from its JSON file): LINK_URL, LINK_ADDRESS, LINK_USER, LINK_PASSWORD_FILE,
 * LINK_MECHS, LINK_CA, LINK_PROXY_HOST, LINK_PROXY_PORT, LINK_PROXY_CRED,
 * LINK_WORKERS, LINK_DELAY_MS (each echo sleeps this long), LINK_RECONNECT_MAX_S,
 * LINK_DELIVERY_LIMIT.
 *
 * The echo reply is JSON: {"pid", "redelivered", "deliveries", "expired",
 * "len", "body"}; for a request too large to be taken whole (no body) it is
 * {"pid", "oversize": true, "len"}.  A body holding @GIVEBACK@ is not
 * answered (adb_link_complete with no reply: the link gives it back).  Each
 * job prints "job message_id=... deliveries=N" on stdout, and the state line
 * (SIGUSR1, SIGTERM) carries the link's counters and max_busy, the most
 * jobs the workers ran at any one time. */
#include "config.h"

#include <adbridge/link.h>
#include <adbridge/log.h>

#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char *env(const char *name)
{
    char *v = getenv(name);
    return v != NULL && v[0] != '\0' ? v : NULL;
}

static void broker_from_env(adb_broker_config *b)
{
    memset(b, 0, sizeof *b);
    b->url = env("LINK_URL");
    static char def_address[] = "/queue/requests";
    b->address = env("LINK_ADDRESS") != NULL ? env("LINK_ADDRESS") : def_address;
    b->username = env("LINK_USER");
    b->password_file = env("LINK_PASSWORD_FILE");
    b->sasl_mechanisms = env("LINK_MECHS");
    b->ca_file = env("LINK_CA");
    b->proxy.host = env("LINK_PROXY_HOST");
    b->proxy.port = env("LINK_PROXY_PORT") != NULL ? (unsigned)atoi(env("LINK_PROXY_PORT")) : 0;
    b->proxy.credentials_file = env("LINK_PROXY_CRED");
    b->workers = env("LINK_WORKERS") != NULL ? (unsigned)atoi(env("LINK_WORKERS")) : 2;
    b->prefetch = env("LINK_PREFETCH") != NULL ? (unsigned)atoi(env("LINK_PREFETCH")) : 0;
    b->reconnect_max_s = env("LINK_RECONNECT_MAX_S") != NULL ? (unsigned)atoi(env("LINK_RECONNECT_MAX_S")) : 4;
    b->max_message_bytes = 65536;
    b->delivery_limit = env("LINK_DELIVERY_LIMIT") != NULL ? (unsigned)atoi(env("LINK_DELIVERY_LIMIT")) : 0;
}

/* ---- a tiny job queue and echo workers ---- */

typedef struct queue {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    adb_link_job *items[1024];
    size_t head, n;
    bool stop;
    adb_link *link;
    int delay_ms;
    unsigned busy, max_busy;       /* being run by a worker */
} queue;

static void finish(queue *q, adb_link_job *job, const char *reply, size_t len)
{
    pthread_mutex_lock(&q->lock);
    q->busy--;
    pthread_mutex_unlock(&q->lock);
    adb_link_complete(q->link, job, reply, len);
}

static void submit(void *arg, adb_link_job *job)
{
    queue *q = arg;
    pthread_mutex_lock(&q->lock);
    if (q->n == 1024) { /* cannot happen: at most two jobs a worker; never lose a job */
        q->busy++;
        pthread_mutex_unlock(&q->lock);
        finish(q, job, NULL, 0);
        return;
    }
    q->items[(q->head + q->n++) % 1024] = job;
    pthread_cond_signal(&q->cond);
    pthread_mutex_unlock(&q->lock);
}

static void *echo_worker(void *arg)
{
    queue *q = arg;

    for (;;) {
        adb_link_job *job;
        const adb_link_request *rq;
        struct timespec now;
        json_t *o;
        char *text;
        int64_t now_ms;

        pthread_mutex_lock(&q->lock);
        while (q->n == 0 && !q->stop)
            pthread_cond_wait(&q->cond, &q->lock);
        if (q->n == 0) {
            pthread_mutex_unlock(&q->lock);
            return NULL;
        }
        job = q->items[q->head];
        q->head = (q->head + 1) % 1024;
        q->n--;
        if (++q->busy > q->max_busy)
            q->max_busy = q->busy;
        pthread_mutex_unlock(&q->lock);
        if (!adb_link_job_start(job)) {   /* as adbridged's workers do */
            finish(q, job, NULL, 0);
            continue;
        }

        rq = adb_link_job_request(job);
        printf("job message_id=%s deliveries=%u\n", rq->message_id, rq->deliveries);
        clock_gettime(CLOCK_REALTIME, &now);
        now_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
        if (q->delay_ms > 0 && !(rq->expiry_unix_ms != 0 && rq->expiry_unix_ms <= now_ms))
            usleep((useconds_t)q->delay_ms * 1000);
        if (rq->body == NULL) {
            o = json_pack("{s:i, s:b, s:I}", "pid", (int)getpid(), "oversize", 1, "len", (json_int_t)rq->len);
        } else if (memmem(rq->body, rq->len, "@GIVEBACK@", 10) != NULL) {
            finish(q, job, NULL, 0);
            continue;
        } else {
            o = json_pack("{s:i, s:b, s:i, s:b, s:I, s:s%}", "pid", (int)getpid(), "redelivered", rq->redelivered,
                          "deliveries", (int)rq->deliveries, "expired",
                          rq->expiry_unix_ms != 0 && rq->expiry_unix_ms <= now_ms, "len", (json_int_t)rq->len,
                          "body", (const char *)rq->body, rq->len);
        }
        if (o == NULL) /* not UTF-8: echo without the body */
            o = json_pack("{s:i, s:b, s:I}", "pid", (int)getpid(), "redelivered", rq->redelivered, "len",
                          (json_int_t)rq->len);
        text = json_dumps(o, JSON_COMPACT);
        finish(q, job, text, text != NULL ? strlen(text) : 0);
        free(text);
        json_decref(o);
    }
}

static int cmd_serve(const adb_broker_config *b, adb_logger *lg)
{
    queue q = { .delay_ms = env("LINK_DELAY_MS") != NULL ? atoi(env("LINK_DELAY_MS")) : 0 };
    adb_link_options lo = { .broker = b, .log = lg, .submit = submit, .submit_arg = &q };
    pthread_t th[64];
    unsigned n = b->workers > 64 ? 64 : b->workers, i;
    adb_error err = { 0 };
    adb_link_state st;
    sigset_t sigs;
    unsigned max_busy;
    int sig;

    pthread_mutex_init(&q.lock, NULL);
    pthread_cond_init(&q.cond, NULL);
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    if (adb_link_new(&lo, &q.link, &err) != ADB_OK) {
        fprintf(stderr, "test_link: %s: %s\n", adb_code_name(err.code), err.message);
        return 1;
    }
    for (i = 0; i < n; i++)
        pthread_create(&th[i], NULL, echo_worker, &q);
    if (adb_link_start(q.link, &err) != ADB_OK) {
        fprintf(stderr, "test_link: %s: %s\n", adb_code_name(err.code), err.message);
        return 1;
    }
    for (;;) {
        if (sigwait(&sigs, &sig) != 0)
            continue;
        adb_link_state_get(q.link, &st);
        pthread_mutex_lock(&q.lock);
        max_busy = q.max_busy;
        pthread_mutex_unlock(&q.lock);
        printf("state status=%s connects=%llu failures=%llu received=%llu redelivered=%llu replied=%llu "
               "released=%llu rejected=%llu dropped=%llu delivery_limited=%llu oversize=%llu reply_retries=%llu "
               "overdelivered=%llu in_flight=%u max_busy=%u last_error=\"%s\"\n",
               adb_link_status_name(st.status), (unsigned long long)st.connects, (unsigned long long)st.failures,
               (unsigned long long)st.received, (unsigned long long)st.redelivered, (unsigned long long)st.replied,
               (unsigned long long)st.released, (unsigned long long)st.rejected, (unsigned long long)st.dropped,
               (unsigned long long)st.delivery_limited, (unsigned long long)st.oversize,
               (unsigned long long)st.reply_retries, (unsigned long long)st.overdelivered, st.in_flight, max_busy,
               st.last_error);
        fflush(stdout);
        if (sig != SIGUSR1)
            break;
    }
    adb_link_stop(q.link, 10000);
    pthread_mutex_lock(&q.lock);
    q.stop = true;
    pthread_cond_broadcast(&q.cond);
    pthread_mutex_unlock(&q.lock);
    for (i = 0; i < n; i++)
        pthread_join(th[i], NULL);
    adb_link_state_get(q.link, &st);
    printf("final replied=%llu released=%llu dropped=%llu\n", (unsigned long long)st.replied,
           (unsigned long long)st.released, (unsigned long long)st.dropped);
    adb_link_free(q.link);
    return 0;
}

static int cmd_probe(const adb_broker_config *b)
{
    adb_link_probe_result r;
    adb_error err = { 0 };
    adb_code rc = adb_link_probe(b, 8000, &r, &err);

    printf("probe code=%s stage=%s tcp_ms=%.1f proxy_ms=%.1f tls_ms=%.1f amqp_open_ms=%.1f close_ms=%.1f "
           "tls=%s cipher=%s sasl=%s remote=%s\n",
           adb_code_name(rc), r.failed_stage != NULL ? r.failed_stage : "-", r.tcp_ms, r.proxy_ms, r.tls_ms,
           r.amqp_open_ms, r.close_ms, r.tls_protocol[0] ? r.tls_protocol : "-", r.tls_cipher[0] ? r.tls_cipher : "-",
           r.sasl_mech[0] ? r.sasl_mech : "-", r.remote_container[0] ? r.remote_container : "-");
    if (rc != ADB_OK)
        printf("error %s\n", err.message);
    return rc == ADB_OK ? 0 : 1;
}

static void ignore(void *arg, adb_link_job *job)
{
    (void)arg;
    (void)job;
}

static int cmd_new(const adb_broker_config *b)
{
    adb_link_options lo = { .broker = b, .submit = ignore };
    adb_link *l = NULL;
    adb_error err = { 0 };
    adb_code rc = adb_link_new(&lo, &l, &err);

    printf("new code=%s%s%s\n", adb_code_name(rc), rc != ADB_OK ? " error=" : "", rc != ADB_OK ? err.message : "");
    adb_link_free(l);
    return rc == ADB_OK ? 0 : 1;
}

int main(int argc, char **argv)
{
    adb_broker_config b;
    adb_logger lg;

    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);
    adb_logger_init(&lg, ADB_LOG_DEBUG, stderr);
    broker_from_env(&b);
    if (argc == 2 && strcmp(argv[1], "serve") == 0)
        return cmd_serve(&b, &lg);
    if (argc == 2 && strcmp(argv[1], "probe") == 0)
        return cmd_probe(&b);
    if (argc == 2 && strcmp(argv[1], "new") == 0)
        return cmd_new(&b);
    fprintf(stderr, "usage: test_link serve|probe|new (configuration from LINK_* variables)\n");
    return 2;
}
