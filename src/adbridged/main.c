/* adbridged: the connector daemon.  Thin front end: configuration, the
 * directory stack, the dispatcher, a worker pool, and the cloud link
 * (link.h).  It never listens on a port. */
#include "config.h"

#include "workers.h"

#include <adbridge/auth.h>
#include <adbridge/ctx.h>
#include <adbridge/directory.h>
#include <adbridge/dispatch.h>
#include <adbridge/keystore.h>
#include <adbridge/link.h>
#include <adbridge/secmem.h>
#include <adbridge/version.h>

#include <getopt.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* How long SIGTERM waits for requests in flight before giving them back. */
enum { STOP_GRACE_MS = 10000 };

typedef struct daemon_state {
    adb_ctx *ctx;
    adb_service *svc;
    adb_link *link;
    adb_workers *workers;
    unsigned n_workers;
} daemon_state;

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: adbridged [--config FILE] [--foreground] [--check-config]\n"
            "\n"
            "The adbridge daemon: answers the cloud control plane's directory requests\n"
            "over an outbound AMQP 1.0 link, reading Active Directory as this host's\n"
            "machine account.\n"
            "\n"
            "Options:\n"
            "  -c, --config FILE  configuration file (default: $ADBRIDGE_CONFIG,\n"
            "                     else " ADB_DEFAULT_CONFIG_PATH ")\n"
            "  -f, --foreground   stay in the foreground, log to stderr\n"
            "      --check-config validate the configuration and exit\n"
            "  -h, --help         show this help\n"
            "  -V, --version      show the version\n"
            "\n"
            "Signals: SIGTERM/SIGINT stop taking work, finish or give back the requests\n"
            "in flight and exit; SIGHUP re-reads the instance key file.\n");
}

/* Worker thread: one request through the dispatcher, the reply back to the link. */
static void run_job(void *arg, void *item)
{
    daemon_state *d = arg;
    adb_link_job *job = item;
    const adb_link_request *rq = adb_link_job_request(job);
    adb_delivery dlv = { .redelivered = rq->redelivered, .expiry_unix_ms = rq->expiry_unix_ms };
    char *reply = NULL;
    size_t reply_len = 0;

    adb_dispatch(d->svc, rq->body, rq->len, &dlv, &reply, &reply_len);
    /* reply NULL (out of memory): the link gives the request back. */
    adb_link_complete(d->link, job, reply, reply_len);
    free(reply);
}

static void drop_job(void *arg, void *item)
{
    daemon_state *d = arg;
    adb_link_complete(d->link, item, NULL, 0);
}

static void submit_job(void *arg, adb_link_job *job)
{
    daemon_state *d = arg;
    adb_workers_push(d->workers, job);
}

static void rfc3339(int64_t ms, char *buf, size_t size)
{
    time_t s = (time_t)(ms / 1000);
    struct tm tm;

    gmtime_r(&s, &tm);
    snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

/* health's "link" member (dispatch.h adb_link_state_fn); on a worker thread. */
static void link_health(void *arg, json_t *out)
{
    daemon_state *d = arg;
    const adb_broker_config *b = &d->ctx->config->broker;
    adb_link_state st;
    char since[64];
    const char *state;

    adb_link_state_get(d->link, &st);
    switch (st.status) {
    case ADB_LINK_CONNECTED: state = "connected"; break;
    case ADB_LINK_CONNECTING: state = "connecting"; break;
    default: state = "disconnected"; break;
    }
    rfc3339(st.since_unix_ms, since, sizeof since);
    json_object_set_new(out, "state", json_string(state));
    json_object_set_new(out, "broker", json_string(b->url)); /* credentials never live in the URL (link.c refuses) */
    json_object_set_new(out, "address", json_string(b->address));
    if (b->proxy.host != NULL) {
        char hp[300];
        snprintf(hp, sizeof hp, "%s:%u", b->proxy.host, b->proxy.port);
        json_object_set_new(out, "proxy", json_string(hp));
    } else {
        json_object_set_new(out, "proxy", json_null());
    }
    json_object_set_new(out, "since", json_string(since));
    json_object_set_new(out, "reconnects", json_integer(st.connects > 0 ? (json_int_t)st.connects - 1 : 0));
    json_object_set_new(out, "in_flight", json_integer(st.in_flight));
    json_object_set_new(out, "workers", json_integer(d->n_workers));
    json_object_set_new(out, "last_error", st.last_code != ADB_OK ? json_string(st.last_error) : json_null());
}

static int fail(adb_ctx *ctx, const char *what, const adb_error *err)
{
    adb_log(&ctx->log, ADB_LOG_ERROR, "startup_failed", "step=%s code=%s error=\"%s\"", what,
            adb_code_name(err->code), err->message);
    fprintf(stderr, "adbridged: %s: %s: %s\n", what, adb_code_name(err->code), err->message);
    return 1;
}

static int serve(adb_ctx *ctx)
{
    const adb_config *cfg = ctx->config;
    daemon_state d = { .ctx = ctx };
    adb_keystore *ks = NULL;
    adb_dir *dir = NULL;
    adb_auth *auth = NULL;
    adb_error err = { 0 };
    sigset_t sigs;
    int rc = 1;

    if (cfg->broker.url == NULL) {
        adb_error_set(&err, ADB_E_CONFIG, "%s: $.broker.url is not set: the daemon has no cloud link to serve",
                      cfg->path);
        return fail(ctx, "config", &err);
    }
    /* Signals go to the main thread only: block them before any thread starts. */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (adb_secmem_harden_process(&err) != ADB_OK)
        return fail(ctx, "harden_process", &err);
    if (adb_keystore_open(cfg->state_dir, NULL, &ks, &err) != ADB_OK) {
        rc = fail(ctx, "keystore", &err);
        goto out;
    }
    if (adb_dir_open(cfg, &ctx->log, NULL, &dir, &err) != ADB_OK) {
        rc = fail(ctx, "directory", &err);
        goto out;
    }
    if (adb_auth_new(dir, ks, cfg, &ctx->log, &auth, &err) != ADB_OK) {
        rc = fail(ctx, "auth", &err);
        goto out;
    }
    {
        adb_service_options so = {
            .dir = dir, .auth = auth, .keystore = ks, .config = cfg, .log = &ctx->log,
            .link_state = link_health, .link_arg = &d,
        };
        if (adb_service_new(&so, &d.svc, &err) != ADB_OK) {
            rc = fail(ctx, "service", &err);
            goto out;
        }
    }
    d.n_workers = cfg->broker.workers != 0 ? cfg->broker.workers : 4;
    {
        adb_link_options lo = {
            .broker = &cfg->broker, .log = &ctx->log, .slots = d.n_workers, .submit = submit_job, .submit_arg = &d,
        };
        if (adb_link_new(&lo, &d.link, &err) != ADB_OK) {
            rc = fail(ctx, "link", &err);
            goto out;
        }
    }
    if (adb_workers_new(d.n_workers, run_job, drop_job, &d, &d.workers, &err) != ADB_OK) {
        rc = fail(ctx, "workers", &err);
        goto out;
    }
    if (adb_link_start(d.link, &err) != ADB_OK) {
        rc = fail(ctx, "link", &err);
        goto out;
    }
    {
        adb_key_info cur;
        adb_keystore_current(ks, &cur);
        adb_log(&ctx->log, ADB_LOG_INFO, "started", "version=%s workers=%u key_id=%s pid=%ld", adb_version(),
                d.n_workers, cur.key_id, (long)getpid());
    }
    for (;;) {
        int sig = 0;
        if (sigwait(&sigs, &sig) != 0)
            continue;
        if (sig == SIGHUP) {
            bool changed = false;
            if (adb_keystore_reload(ks, &changed, &err) != ADB_OK)
                adb_log(&ctx->log, ADB_LOG_ERROR, "reload_failed", "code=%s error=\"%s\" msg=\"keeping the keys "
                        "loaded before\"", adb_code_name(err.code), err.message);
            else
                adb_log(&ctx->log, ADB_LOG_INFO, "reloaded", "key_file_changed=%s", changed ? "yes" : "no");
            continue;
        }
        adb_log(&ctx->log, ADB_LOG_INFO, "stopping", "signal=%s grace_ms=%d", sig == SIGTERM ? "TERM" : "INT",
                STOP_GRACE_MS);
        break;
    }
    /* Stop taking work, let the workers answer what they hold, give back the rest. */
    adb_link_stop(d.link, STOP_GRACE_MS);
    rc = 0;
out:
    adb_workers_free(d.workers);
    adb_link_free(d.link);
    adb_service_free(d.svc);
    adb_auth_free(auth);
    adb_dir_free(dir);
    adb_keystore_free(ks);
    if (rc == 0)
        adb_log(&ctx->log, ADB_LOG_INFO, "stopped", "code=ok");
    return rc;
}

int main(int argc, char **argv)
{
    enum { OPT_CHECK_CONFIG = 256 };
    static const struct option opts[] = {
        { "config", required_argument, NULL, 'c' },
        { "foreground", no_argument, NULL, 'f' },
        { "check-config", no_argument, NULL, OPT_CHECK_CONFIG },
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, 'V' },
        { NULL, 0, NULL, 0 },
    };
    const char *config_path = NULL;
    bool check_only = false;
    adb_error err = { 0 };
    adb_ctx *ctx;
    int opt, rc;

    while ((opt = getopt_long(argc, argv, "c:fhV", opts, NULL)) != -1) {
        switch (opt) {
        case 'c': config_path = optarg; break;
        case 'f': break;
        case OPT_CHECK_CONFIG: check_only = true; break;
        case 'h': usage(stdout); return 0;
        case 'V': printf("adbridged %s\n", adb_version()); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "adbridged: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (adb_ctx_new(config_path, &ctx, &err) != ADB_OK) {
        fprintf(stderr, "adbridged: %s: %s\n", adb_code_name(err.code), err.message);
        return 2;
    }
    if (check_only) {
        printf("adbridged: configuration %s is valid (%zu domains)\n", ctx->config->path,
               ctx->config->n_domains);
        adb_ctx_free(ctx);
        return 0;
    }
    rc = serve(ctx);
    adb_ctx_free(ctx);
    return rc;
}
