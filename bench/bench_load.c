/* CPU under load (issue 15): adbridged as its own process behind RabbitMQ,
 * driven by a qpid-proton client with 10-50 requests in flight.
 *
 * In one run: the bare AMQP request/reply floor (an echo responder in this
 * program on the same broker: receive, reply at once), cached lookups (the
 * same few users) and uncached lookups (bulk.00001..bulk.05000 of adb.test,
 * the cache emptied with cache.invalidate before each run).  Each line gives
 * requests/s, latency p50/p95 and, for the daemon, the CPU time adbridged and
 * the DCs' samba processes (every process of the adbt-dc1, adbt-dc2 and
 * adbt-pdc namespaces) spent from the first request to the last reply, read
 * from /proc/PID/stat.  Other users of the testenv load the same DCs: bridge/dc
 * is given against all their CPU and, idle-corrected, less their pace with
 * this bridge idle (a second before and after each run).  Each measurement
 * is repeated; the summary gives the medians (the machine is shared, single
 * runs are noisy).
 *
 * bench/run starts the broker (tests/integration/broker.sh: BROKER_AMQP_URL,
 * BROKER_USER, BROKER_PASSWORD_FILE), declares the echo queue and sets
 * ADB_BENCH_ADBRIDGED; this program starts adbridged with a copy of
 * $ADBRIDGE_CONFIG (its own state_dir, a broker section) and stops it at the
 * end.  ADB_BENCH_KEEP=1 keeps its directory (configuration, log).
 *
 * Usage: bench_load [-w WORKERS] [-p PREFETCH] [-n REQUESTS] [-c IN_FLIGHT,...] [-r REPEATS] */
#include "config.h"

#include "amqp_client.h"
#include "stats.h"

#include <jansson.h>
#include <proton/event.h>
#include <proton/session.h>
#include <proton/transport.h>

#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define REQUESTS_ADDR "/queue/requests"
#define ECHO_ADDR "/queue/bench-echo"
#define BULK_USERS 5000  /* samba-testenv/seed.py: bulk.00001 .. bulk.05000 */
#define CACHED_USERS 4
#define MAX_WINDOWS 8
#define MAX_REPEATS 15

static const char *const dc_namespaces[] = { "adbt-dc1", "adbt-dc2", "adbt-pdc" };

static int daemon_pid; /* adbridged, stopped at any exit */

static void daemon_kill(void)
{
    if (daemon_pid > 0)
        kill(daemon_pid, SIGKILL);
}

__attribute__((format(printf, 1, 2), noreturn)) static void dief(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fprintf(stderr, "bench_load: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

/* ---- CPU time from /proc ---- */

/* utime + stime (+ cutime + cstime with children) of pid, in clock ticks; -1 if gone. */
static long long proc_ticks(int pid, bool children)
{
    char path[64], buf[1024];
    const char *p;
    long long v[4];
    FILE *f;
    size_t n;

    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    if ((f = fopen(path, "r")) == NULL)
        return -1;
    n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* comm may hold spaces and parentheses: the fields start after the last ')'. */
    if ((p = strrchr(buf, ')')) == NULL
        || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lld %lld %lld %lld", &v[0], &v[1], &v[2],
                  &v[3]) != 4)
        return -1;
    return v[0] + v[1] + (children ? v[2] + v[3] : 0);
}

typedef struct dc_procs {
    int pid[1024];
    long long t0[1024];
    size_t n;
} dc_procs;

/* The processes of the DC namespaces (ip netns pids), listed before a run. */
static void dc_list(dc_procs *dc)
{
    dc->n = 0;
    for (size_t i = 0; i < sizeof dc_namespaces / sizeof *dc_namespaces; i++) {
        char cmd[128];
        int pid;
        FILE *f;

        snprintf(cmd, sizeof cmd, "ip netns pids %s", dc_namespaces[i]);
        if ((f = popen(cmd, "r")) == NULL)
            dief("cannot run %s", cmd);
        while (fscanf(f, "%d", &pid) == 1 && dc->n < sizeof dc->pid / sizeof *dc->pid)
            dc->pid[dc->n++] = pid;
        pclose(f);
    }
    if (dc->n == 0)
        dief("%s", "no process in the DC namespaces: is samba-testenv up, and is this run as root?");
}

/* Children too: a samba worker that forked and reaped one counts it. */
static void dc_start(dc_procs *dc)
{
    for (size_t i = 0; i < dc->n; i++)
        dc->t0[i] = proc_ticks(dc->pid[i], true);
}

static long long dc_delta(const dc_procs *dc);

/* The DCs' CPU seconds per second over one second with this bridge idle:
 * other users of the testenv, sampled before and after each run. */
static double dc_idle_rate(dc_procs *dc)
{
    dc_start(dc);
    usleep(1000000);
    return (double)dc_delta(dc) / (double)sysconf(_SC_CLK_TCK);
}

static long long dc_delta(const dc_procs *dc)
{
    long long sum = 0;
    for (size_t i = 0; i < dc->n; i++) {
        long long t = proc_ticks(dc->pid[i], true);
        if (t >= 0 && dc->t0[i] >= 0)
            sum += t - dc->t0[i];
    }
    return sum;
}

/* ---- the echo responder: the bare request/reply floor ---- */

typedef struct echo {
    pthread_t th;
    amqp_broker *b;
    pn_proactor_t *p;
    pn_connection_t *conn;
    pn_link_t *rcv, *snd;
    pn_message_t *pending[256]; /* replies waiting for credit on snd */
    size_t head, n;
    unsigned long long sent; /* delivery tags */
    pn_rwbytes_t buf;
    char *rbuf;
    size_t rcap;
} echo;

static void echo_flush(echo *e)
{
    while (e->n > 0 && pn_link_credit(e->snd) > 0) {
        pn_message_t *m = e->pending[e->head];
        e->head = (e->head + 1) % 256;
        e->n--;
        char tag[24];
        int tl = snprintf(tag, sizeof tag, "%llu", e->sent++);
        pn_delivery(e->snd, pn_dtag(tag, (size_t)tl));
        if (pn_message_send(m, e->snd, &e->buf) < 0)
            dief("%s", "echo: pn_message_send failed");
        pn_message_free(m);
        pn_link_flow(e->rcv, 1); /* one more request once its reply is out */
    }
}

static void echo_request(echo *e, pn_delivery_t *d)
{
    pn_message_t *m = amqp_recv_message(e->b, e->rcv, d, &e->rbuf, &e->rcap), *r = pn_message();

    pn_message_set_correlation_id(r, pn_message_get_correlation_id(m));
    pn_message_set_address(r, AMQP_REPLY_ADDR);
    pn_data_copy(pn_message_body(r), pn_message_body(m));
    pn_message_free(m);
    pn_delivery_update(d, PN_ACCEPTED);
    pn_delivery_settle(d);
    if (e->n == 256)
        dief("%s", "echo: more than 256 replies waiting for credit");
    e->pending[(e->head + e->n++) % 256] = r;
    echo_flush(e);
}

static void *echo_main(void *arg)
{
    echo *e = arg;
    pn_connection_t *conn = e->conn;
    pn_session_t *ss = pn_session(conn);

    pn_session_open(ss);
    e->rcv = pn_receiver(ss, "bench-echo-requests");
    pn_terminus_set_address(pn_link_source(e->rcv), ECHO_ADDR);
    pn_link_open(e->rcv);
    pn_link_flow(e->rcv, 64);
    e->snd = pn_sender(ss, "bench-echo-replies");
    pn_terminus_set_address(pn_link_target(e->snd), AMQP_REPLY_ADDR);
    pn_link_open(e->snd);
    for (bool done = false; !done;) {
        pn_event_batch_t *batch = pn_proactor_wait(e->p);
        pn_event_t *ev;
        while ((ev = pn_event_batch_next(batch)) != NULL) {
            switch (pn_event_type(ev)) {
            case PN_LINK_FLOW:
                echo_flush(e);
                break;
            case PN_DELIVERY: {
                pn_delivery_t *d = pn_event_delivery(ev);
                if (pn_delivery_link(d) == e->snd) {
                    if (pn_delivery_remote_state(d) != 0)
                        pn_delivery_settle(d);
                } else if (pn_delivery_readable(d) && !pn_delivery_partial(d)) {
                    echo_request(e, d);
                }
                break;
            }
            case PN_CONNECTION_WAKE: /* echo_stop */
                pn_connection_close(conn);
                break;
            case PN_LINK_REMOTE_CLOSE:
                amqp_check_cond(e->b, pn_link_remote_condition(pn_event_link(ev)), "echo link");
                break;
            case PN_TRANSPORT_CLOSED:
                amqp_check_cond(e->b, pn_transport_condition(pn_event_transport(ev)), "echo transport");
                done = true;
                break;
            default:
                break;
            }
        }
        pn_proactor_done(e->p, batch);
    }
    return NULL;
}

static void echo_start(echo *e, amqp_broker *b)
{
    memset(e, 0, sizeof *e);
    e->b = b;
    e->p = pn_proactor();
    e->conn = amqp_connect(b, e->p, "bench-load-echo");
    pthread_create(&e->th, NULL, echo_main, e);
}

static void echo_stop(echo *e)
{
    pn_connection_wake(e->conn); /* thread-safe, unlike closing it from here */
    pthread_join(e->th, NULL);
    pn_proactor_free(e->p);
    while (e->n > 0) {
        pn_message_free(e->pending[e->head]);
        e->head = (e->head + 1) % 256;
        e->n--;
    }
    free(e->buf.start);
    free(e->rbuf);
}

/* ---- the client: n requests, window in flight ---- */

typedef enum { BODY_UNCACHED, BODY_CACHED, BODY_HEALTH, BODY_INVALIDATE } body_kind;

typedef struct cpu_probe {
    int daemon;          /* adbridged's pid; 0: nothing to measure */
    dc_procs *dc;
    long long d0, d1;    /* adbridged ticks at the first send, at the last reply */
    long long dc_ticks;  /* the DCs' ticks in between */
} cpu_probe;

/* What the amqp_client.h callbacks get. */
typedef struct load_arg {
    body_kind kind;
    cpu_probe *cpu;
} load_arg;

static int body_text(const void *arg, char *out, size_t size, const char *cid, int i)
{
    body_kind kind = ((const load_arg *)arg)->kind;

    switch (kind) {
    case BODY_UNCACHED:
    case BODY_CACHED:
        return snprintf(out, size, "{\"v\":1,\"id\":\"%s\",\"op\":\"user.get\",\"params\":{\"id\":\"bulk.%05d@adb.test\"}}",
                        cid, 1 + i % (kind == BODY_CACHED ? CACHED_USERS : BULK_USERS));
    case BODY_HEALTH:
        return snprintf(out, size, "{\"v\":1,\"id\":\"%s\",\"op\":\"health\",\"params\":{}}", cid);
    case BODY_INVALIDATE:
        return snprintf(out, size, "{\"v\":1,\"id\":\"%s\",\"op\":\"cache.invalidate\",\"params\":{}}", cid);
    }
    return 0;
}

/* The CPU counters from the first send to the last reply. */
static void cpu_started(const void *arg)
{
    cpu_probe *cpu = ((const load_arg *)arg)->cpu;

    dc_start(cpu->dc);
    cpu->d0 = proc_ticks(cpu->daemon, false);
}

static void cpu_finished(const void *arg)
{
    cpu_probe *cpu = ((const load_arg *)arg)->cpu;

    cpu->d1 = proc_ticks(cpu->daemon, false);
    cpu->dc_ticks = dc_delta(cpu->dc);
}

/* Sends n requests to target with at most window in flight; returns the
 * seconds from the first send to the last reply. */
static double client_run(amqp_broker *b, const char *target, const char *prefix, body_kind kind, int n, int window,
                         bench_samples *lat, cpu_probe *cpu)
{
    load_arg a = { kind, cpu };
    amqp_run r = { .name = "bench-load", .target = target, .prefix = prefix, .n = n, .window = window,
                   .body = body_text, .started = cpu != NULL ? cpu_started : NULL,
                   .finished = cpu != NULL ? cpu_finished : NULL, .arg = &a };

    return amqp_client_run(b, &r, lat);
}

/* ---- adbridged ---- */

/* A copy of $ADBRIDGE_CONFIG with its own state_dir and a broker section. */
static void write_config(const char *path, const char *state_dir, int workers, int prefetch)
{
    json_error_t je;
    json_t *c = json_load_file(bench_need("ADBRIDGE_CONFIG"), 0, &je);

    if (c == NULL)
        dief("cannot read $ADBRIDGE_CONFIG: %s", je.text);
    json_object_set_new(c, "state_dir", json_string(state_dir));
    json_object_set_new(c, "broker", json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:i}", "url", bench_need("BROKER_AMQP_URL"),
                                               "address", REQUESTS_ADDR, "username", bench_need("BROKER_USER"),
                                               "password_file", bench_need("BROKER_PASSWORD_FILE"), "sasl_mechanisms",
                                               "PLAIN", "workers", workers, "reconnect_max_s", 4));
    if (prefetch >= 0)
        json_object_set_new(json_object_get(c, "broker"), "prefetch", json_integer(prefetch));
    if (json_dump_file(c, path, JSON_INDENT(1)) != 0)
        dief("cannot write %s", path);
    json_decref(c);
}

static int daemon_start(const char *exe, const char *config, const char *log)
{
    int pid = fork();

    if (pid < 0)
        dief("%s", "fork failed");
    if (pid == 0) {
        if (freopen(log, "w", stderr) == NULL || freopen("/dev/null", "w", stdout) == NULL)
            _exit(127);
        execl(exe, exe, "--config", config, "--foreground", (char *)NULL);
        _exit(127);
    }
    return pid;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The median of the figures that are numbers (NAN: none). */
static double median(double *v, int n)
{
    int k = 0;
    for (int i = 0; i < n; i++)
        if (!isnan(v[i]))
            v[k++] = v[i];
    if (k == 0)
        return NAN;
    qsort(v, (size_t)k, sizeof *v, cmp_double);
    return k % 2 ? v[k / 2] : (v[k / 2 - 1] + v[k / 2]) / 2;
}

/* The medians of one measurement's repeats. */
typedef struct result {
    double rps, p50, p95, bridge_ms, ratio, net; /* ratio: to all DC CPU; net: less the DCs' idle pace */
} result;

/* repeats runs of n requests of kind to target with window in flight. */
static result measure(amqp_broker *b, const char *target, const char *name, const char *tag, body_kind kind, int n,
                      int window, int repeats, int daemon, dc_procs *dc)
{
    double rps[MAX_REPEATS], p50[MAX_REPEATS], p95[MAX_REPEATS], bms[MAX_REPEATS], raw[MAX_REPEATS],
        net[MAX_REPEATS];
    long tick = sysconf(_SC_CLK_TCK);
    result r;

    for (int k = 0; k < repeats; k++) {
        bench_samples s = { 0 };
        cpu_probe cpu = { .daemon = daemon, .dc = dc };
        char prefix[64];
        double secs, bg = 0;

        if (kind == BODY_UNCACHED) { /* every user uncached again */
            snprintf(prefix, sizeof prefix, "inv-%s-%d", tag, k);
            client_run(b, REQUESTS_ADDR, prefix, BODY_INVALIDATE, 1, 1, &s, NULL);
            free(s.us);
            s = (bench_samples){ 0 };
        }
        if (daemon != 0) {
            dc_list(dc);
            bg = dc_idle_rate(dc) / 2;
        }
        snprintf(prefix, sizeof prefix, "%s-%d", tag, k);
        secs = client_run(b, target, prefix, kind, n, window, &s, daemon != 0 ? &cpu : NULL);
        rps[k] = n / secs;
        p50[k] = bench_pct(&s, 50) / 1000;
        p95[k] = bench_pct(&s, 95) / 1000;
        free(s.us);
        printf("  %-38s in_flight=%-3d n=%-5d %7.0f req/s  p50=%7.3f ms  p95=%7.3f ms", name, window, n, rps[k],
               p50[k], p95[k]);
        bms[k] = raw[k] = net[k] = 0;
        if (daemon != 0) {
            double bs = (double)(cpu.d1 - cpu.d0) / (double)tick, ds = (double)cpu.dc_ticks / (double)tick, dn;
            bg += dc_idle_rate(dc) / 2;
            dn = ds - bg * secs;
            bms[k] = bs * 1000 / n;
            raw[k] = ds > 0 ? bs / ds : 0;
            net[k] = dn > 0.1 * ds ? bs / dn : NAN; /* the others' load swamped ours: no figure */
            if (kind == BODY_UNCACHED) /* a cached lookup asks no DC: no ratio */
                printf("  bridge_cpu=%.2fs dc_cpu=%.2fs (dc idle %.2f/s) bridge/dc=%.2f (idle-corrected %.2f)", bs,
                       ds, bg, raw[k], net[k]);
            else
                printf("  bridge_cpu=%.2fs", bs);
            printf(" bridge_ms/lookup=%.3f", bms[k]);
        }
        printf("\n");
    }
    r.rps = median(rps, repeats);
    r.p50 = median(p50, repeats);
    r.p95 = median(p95, repeats);
    r.bridge_ms = median(bms, repeats);
    r.ratio = median(raw, repeats);
    r.net = median(net, repeats);
    printf("%-40s in_flight=%-3d median of %d: %7.0f req/s  p50=%7.3f ms  p95=%7.3f ms", name, window, repeats,
           r.rps, r.p50, r.p95);
    if (kind == BODY_UNCACHED)
        printf("  bridge/dc=%.2f (idle-corrected %.2f)", r.ratio, r.net);
    if (daemon != 0)
        printf(" bridge_ms/lookup=%.3f", r.bridge_ms);
    printf("\n");
    return r;
}

static int parse_windows(const char *s, int *w)
{
    int n = 0;
    for (char *end; *s != '\0' && n < MAX_WINDOWS; s = *end == ',' ? end + 1 : end) {
        long v = strtol(s, &end, 10);
        if (end == s || v < 1 || v > 200)
            dief("bad -c list: %s (in-flight counts 1..200, comma separated)", s);
        w[n++] = (int)v;
    }
    return n;
}

int main(int argc, char **argv)
{
    int workers = 4, prefetch = -1, n = 3000, repeats = 3, windows[MAX_WINDOWS], nw = 0, opt, daemon, status;
    char dir[] = "/tmp/adb-bench-load-XXXXXX", config[PATH_MAX], log[PATH_MAX], state[PATH_MAX];
    const char *exe = bench_need("ADB_BENCH_ADBRIDGED");
    result floor_r[MAX_WINDOWS], cached[MAX_WINDOWS], uncached[MAX_WINDOWS];
    bench_samples s = { 0 };
    dc_procs *dc = calloc(1, sizeof *dc);
    amqp_broker b;
    echo e;

    while ((opt = getopt(argc, argv, "w:p:n:c:r:")) != -1) {
        switch (opt) {
        case 'w': workers = atoi(optarg); break;
        case 'p': prefetch = atoi(optarg); break;
        case 'n': n = atoi(optarg); break;
        case 'c': nw = parse_windows(optarg, windows); break;
        case 'r': repeats = atoi(optarg); break;
        default:
            fprintf(stderr, "usage: bench_load [-w WORKERS] [-p PREFETCH] [-n REQUESTS] [-c IN_FLIGHT,...] [-r REPEATS]\n");
            return 2;
        }
    }
    if (nw == 0)
        nw = parse_windows("10,50", windows);
    if (workers < 1 || workers > 256 || prefetch > 1024 || n < 10 || repeats < 1 || repeats > MAX_REPEATS || dc == NULL)
        dief("%s", "bad arguments: -w 1..256, -p 0..1024, -n >= 10, -r 1..15");
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IOLBF, 0);
    amqp_broker_init(&b, "bench_load");
    if (mkdtemp(dir) == NULL)
        dief("%s", "mkdtemp failed");
    snprintf(config, sizeof config, "%s/adbridged.json", dir);
    snprintf(log, sizeof log, "%s/adbridged.log", dir);
    snprintf(state, sizeof state, "%s/state", dir);
    write_config(config, state, workers, prefetch);
    daemon = daemon_pid = daemon_start(exe, config, log);
    atexit(daemon_kill);

    printf("-- bare AMQP request/reply floor: echo responder in this program (%s)\n", b.addr);
    echo_start(&e, &b);
    client_run(&b, ECHO_ADDR, "echo-warm", BODY_CACHED, 50, 10, &s, NULL);
    free(s.us);
    s = (bench_samples){ 0 };
    for (int i = 0; i < nw; i++)
        floor_r[i] = measure(&b, ECHO_ADDR, "echo (floor)", "echo", BODY_CACHED, n, windows[i], repeats, 0, NULL);
    echo_stop(&e);

    if (prefetch >= 0)
        printf("-- adbridged (%d workers, prefetch %d, pid %d, log %s): user.get by UPN\n", workers, prefetch, daemon,
               log);
    else
        printf("-- adbridged (%d workers, prefetch default, pid %d, log %s): user.get by UPN\n", workers, daemon, log);
    client_run(&b, REQUESTS_ADDR, "health", BODY_HEALTH, 1, 1, &s, NULL); /* waits for the daemon's link */
    client_run(&b, REQUESTS_ADDR, "warm", BODY_CACHED, CACHED_USERS * 5, 1, &s, NULL);
    free(s.us);
    for (int i = 0; i < nw; i++)
        cached[i] = measure(&b, REQUESTS_ADDR, "cached (4 users)", "c", BODY_CACHED, n, windows[i], repeats, daemon,
                            dc);
    printf("-- uncached: bulk.NNNNN@adb.test, the cache emptied (cache.invalidate) before each run\n");
    for (int i = 0; i < nw; i++)
        uncached[i] = measure(&b, REQUESTS_ADDR, "uncached (bulk users)", "u", BODY_UNCACHED, n, windows[i],
                              repeats, daemon, dc);

    printf("-- goals (medians; the machine's 2 cores are shared, figures are noisy)\n");
    for (int i = 0; i < nw; i++) {
        printf("in_flight=%-3d uncached: bridge CPU / DC CPU = %.2f, idle-corrected %.2f (goal <= 0.25), %.3f ms "
               "bridge CPU per lookup\n", windows[i], uncached[i].ratio, uncached[i].net, uncached[i].bridge_ms);
        printf("in_flight=%-3d cached vs floor: p50 %.2fx, throughput %.2fx of the floor's (goal: within 2x)\n",
               windows[i], cached[i].p50 / floor_r[i].p50, floor_r[i].rps / cached[i].rps);
    }

    kill(daemon, SIGTERM);
    daemon_pid = 0;
    if (waitpid(daemon, &status, 0) != daemon || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fprintf(stderr, "bench_load: adbridged did not stop cleanly (log: %s)\n", log);
    else if (getenv("ADB_BENCH_KEEP") == NULL || *getenv("ADB_BENCH_KEEP") == '\0') {
        char cmd[PATH_MAX + 16];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "bench_load: could not remove %s\n", dir);
    }
    free(dc);
    return 0;
}
