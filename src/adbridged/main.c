/* adbridged: the connector daemon.  Thin front end: configuration, the
 * directory stack, the dispatcher, a worker pool, and the cloud link
 * (link.h).  It never listens on a port. */
#include "config.h"

#include "lifecycle.h"
#include "status.h"
#include "workers.h"

#include <adbridge/auth.h>
#include <adbridge/clock.h>
#include <adbridge/ctx.h>
#include <adbridge/directory.h>
#include <adbridge/dispatch.h>
#include <adbridge/fileio.h>
#include <adbridge/json.h>
#include <adbridge/keystore.h>
#include <adbridge/krb.h>
#include <adbridge/link.h>
#include <adbridge/secmem.h>
#include <adbridge/text.h>
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

/* How long READY=1 waits for the first link attempt (connect, TLS, SASL, attach). */
enum { FIRST_ATTEMPT_MS = 20000 };

/* How long SIGTERM waits for requests in flight before giving them back. */
enum { STOP_GRACE_MS = 10000 };

typedef struct daemon_state {
    adb_ctx *ctx;
    adb_service *svc;
    adb_link *link;
    adb_workers *workers;
    adbd_status *status;
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
            "      --check-config run the start-up checks (configuration, file permissions,\n"
            "                     secret files, instance key; no network) and exit\n"
            "      --probe-broker connect to the broker as the daemon would (proxy, TLS, SASL,\n"
            "                     AMQP open), print the outcome as JSON and exit; what\n"
            "                     `adbridge diagnose` runs for its cloud check\n"
            "      --timeout-ms N the probe's time limit (default 10000)\n"
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
    bool unavailable = false;
    adb_delivery dlv = { .redelivered = rq->redelivered, .expiry_unix_ms = rq->expiry_unix_ms,
                         .unavailable = &unavailable };
    char *reply = NULL;
    size_t reply_len = 0;

    if (!adb_link_job_start(job)) {   /* queued behind another and no longer wanted: settled unrun */
        adb_link_complete(d->link, job, NULL, 0);
        return;
    }
    adb_dispatch(d->svc, rq->body, rq->len, &dlv, &reply, &reply_len);
    /* No DC of a forest answered a request that came on that forest's
     * address: another instance may reach it (this one detaches once its
     * probes agree), so the request goes back instead of the answer. */
    if (unavailable && adb_link_may_reroute(rq, d->ctx->config->broker.delivery_limit, adb_wall_ms())) {
        adb_log(&d->ctx->log, ADB_LOG_INFO, "request_rerouted", "message_id=%s forest=%s deliveries=%u "
                "reason=dc_unavailable", ADB_LOG_V(rq->message_id), ADB_LOG_V(rq->forest), rq->deliveries);
        free(reply);
        reply = NULL;
    }
    /* reply NULL (out of memory, or rerouted): the link gives the request back. */
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
    json_object_set_new(out, "broker", json_string(b->url)); /* credentials never live in the URL (link_conn.c refuses) */
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

/* A finding that does not stop the daemon: in the log and on stderr. */
static void warn(adb_ctx *ctx, const char *what, const char *message, const char *fix)
{
    char m[ADB_ERROR_MESSAGE_MAX + 8], f[ADB_ERROR_MESSAGE_MAX + 8];

    adb_log(&ctx->log, ADB_LOG_WARN, "startup_warning", "step=%s warning=%s fix=%s", what,
            adb_log_value(m, sizeof m, message), adb_log_value(f, sizeof f, fix));
    fprintf(stderr, "adbridged: %s: warning: %s. Fix: %s\n", what, message, fix);
}

/* A file in systemd's $CREDENTIALS_DIRECTORY: made by systemd for this
 * service alone (0400; on a tmpfs the access is an ACL, which shows as
 * group bits), not one the admin placed. */
static bool systemd_credential(const char *path)
{
    const char *dir = getenv("CREDENTIALS_DIRECTORY");
    size_t n = dir != NULL ? strlen(dir) : 0;

    return n > 0 && strncmp(path, dir, n) == 0 && path[n] == '/';
}

/* The start-up checks that need no network, run by --check-config too: the
 * state directory and the keytab (the same checks as adbridge diagnose),
 * and every secret file opened and read the way the link reads it
 * (fileio.h: no FIFO can block start-up, no 0644 secret passes).  On the
 * paths in use, after adbd_secure_start may have pointed them at copies. */
static int preflight(adb_ctx *ctx, bool check_only)
{
    const adb_config *cfg = ctx->config;
    const adb_broker_config *b = &cfg->broker;
    const struct {
        const char *path, *what, *key;
        bool read;   /* false: only checked (proton reads the TLS key itself) */
    } secrets[] = {
        { b->password_file, "broker password", "$.broker.password_file", true },
        { b->proxy.credentials_file, "proxy credentials", "$.broker.proxy.credentials_file", true },
        /* without key_file, the key is inside cert_file */
        { b->key_file != NULL ? b->key_file : b->cert_file, "broker TLS key",
          b->key_file != NULL ? "$.broker.key_file" : "$.broker.cert_file", false },
    };
    adb_perm_check pc;
    adb_error err = { 0 };

    adb_check_state_dir(cfg->state_dir, &pc);
    if (pc.verdict == ADB_PERM_REFUSED && pc.code == ADB_E_NOT_FOUND) {
        if (check_only)   /* the keystore creates it, mode 0700, under safe parents */
            printf("adbridged: note: state directory %s does not exist yet; adbridged creates it at its first "
                   "start\n", cfg->state_dir);
    } else if (pc.verdict == ADB_PERM_WARN) {
        warn(ctx, "state_dir", pc.message, pc.fix);
    } else if (adb_perm_error(&pc, &err) != ADB_OK) {
        return fail(ctx, "state_dir", &err);
    }
    if (systemd_credential(cfg->keytab))
        pc.verdict = ADB_PERM_OK;
    else
        adb_check_keytab(cfg->keytab, &pc);
    if (pc.verdict == ADB_PERM_WARN)
        warn(ctx, "keytab", pc.message, pc.fix);
    else if (adb_perm_error(&pc, &err) != ADB_OK)
        return fail(ctx, "keytab", &err);
    for (size_t i = 0; i < sizeof secrets / sizeof secrets[0]; i++) {
        adb_secret *s = NULL;
        adb_code rc;
        if (secrets[i].path == NULL || systemd_credential(secrets[i].path))
            continue;
        rc = secrets[i].read ? adb_secret_file_read(secrets[i].path, secrets[i].what, ADB_SECRET_LINE_MAX,
                                                    ADB_SECRET_FILE_LINE, &s, NULL, &err)
                             : adb_secret_file_check(secrets[i].path, secrets[i].what, &err);
        adb_secret_free(s);
        if (rc != ADB_OK) {
            adb_error_prefix(&err, "%s", secrets[i].key);
            return fail(ctx, "secret_file", &err);
        }
    }
    return 0;
}

/* Starts the daemon and serves until SIGTERM/SIGINT.  check_only
 * (--check-config): the same start-up, keystore, directory, auth, dispatcher
 * and link set up, none of which touches the network, and no more: nothing
 * created, no connection made. */
static int serve(adb_ctx *ctx, bool check_only)
{
    const adb_config *cfg = ctx->config;
    daemon_state d = { .ctx = ctx };
    adb_keystore *ks = NULL;
    adb_dir *dir = NULL;
    adb_auth *auth = NULL;
    adbd_secrets *secrets = NULL;
    adbd_notify notify;
    adb_error err = { 0 };
    sigset_t sigs;
    int rc = 1, sig;

    if (cfg->broker.url == NULL && !check_only) {
        adb_error_set(&err, ADB_E_CONFIG, "%s: $.broker.url is not set: the daemon has no cloud link to serve",
                      cfg->path);
        return fail(ctx, "config", &err);
    }
    if (cfg->broker.url == NULL)   /* the CLI uses such a configuration */
        warn(ctx, "config", "$.broker.url is not set: adbridged would refuse to start (adbridge, the CLI, can use "
             "this configuration)", "add a \"broker\" section to run the daemon");
    /* Signals go to the main thread only: block them before any thread starts. */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    if (!check_only)
        pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (adb_secmem_harden_process(&err) != ADB_OK)
        return fail(ctx, "harden_process", &err);
    /* The secret files, then no more root, before anything else is read or
     * dialled (lifecycle.h); what follows runs as the service's user. */
    if (adbd_secure_start(ctx->config, &ctx->log, &secrets, &err) != ADB_OK) {
        fail(ctx, "privileges", &err);
        rc = ADBD_EXIT_CONFIG;
        goto out;
    }
    if (preflight(ctx, check_only) != 0) {
        rc = ADBD_EXIT_CONFIG;   /* a restart would meet the same file */
        goto out;
    }
    {
        /* --check-config creates nothing: a missing key is made at first start. */
        adb_keystore_options ko = { .no_create = check_only };
        if (adb_keystore_open(cfg->state_dir, &ko, &ks, &err) == ADB_E_NOT_FOUND && check_only) {
            printf("adbridged: note: no instance key in %s yet; adbridged creates one at its first start\n",
                   cfg->state_dir);
        } else if (ks == NULL) {
            rc = fail(ctx, "keystore", &err);
            goto out;
        }
    }
    adb_dir_options dopts;
    adb_dir_options_from_config(cfg, &dopts);   /* with the search index the CLI goes without */
    if (adb_dir_open(cfg, &ctx->log, &dopts, &dir, &err) != ADB_OK) {
        rc = fail(ctx, "directory", &err);
        goto out;
    }
    /* A clone (identity.h) does not serve. */
    if (adbd_identity_check(cfg, adb_krb_principal(adb_dir_krb(dir)), !check_only, &ctx->log, &err) != ADB_OK) {
        fail(ctx, "identity", &err);
        rc = ADBD_EXIT_CONFIG;
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
    if (cfg->broker.url != NULL) {
        adb_link_options lo = {
            .broker = &cfg->broker, .log = &ctx->log, .slots = d.n_workers, .submit = submit_job, .submit_arg = &d,
        };
        if (adb_link_new(&lo, &d.link, &err) != ADB_OK) {
            rc = fail(ctx, "link", &err);
            goto out;
        }
    }
    if (check_only) {
        printf("adbridged: configuration %s is valid (%zu domains)\n", cfg->path, cfg->n_domains);
        rc = 0;
        goto out;
    }
    if (adb_workers_new(d.n_workers, run_job, drop_job, &d, &d.workers, &err) != ADB_OK) {
        rc = fail(ctx, "workers", &err);
        goto out;
    }
    if (adb_link_start(d.link, &err) != ADB_OK
        || adbd_status_start(cfg, d.svc, dir, d.link, d.n_workers, &ctx->log, &d.status, &err) != ADB_OK) {
        rc = fail(ctx, "link", &err);
        goto out;
    }
    {
        adb_key_info cur;
        adb_keystore_current(ks, &cur);
        adb_log(&ctx->log, ADB_LOG_INFO, "started", "version=%s workers=%u key_id=%s pid=%ld", adb_version(),
                d.n_workers, cur.key_id, (long)getpid());
    }
    /* systemd (Type=notify): ready once the first link attempt is over. */
    adbd_notify_init(&notify);
    if ((sig = adbd_wait_first_attempt(d.link, &sigs, &notify, FIRST_ATTEMPT_MS)) == 0) {
        char status[256];
        adbd_link_status_text(d.link, &cfg->broker, status, sizeof status);
        adbd_notify_ready(&notify, status);
    }
    for (;; sig = 0) {
        if (sig == 0)
            sig = adbd_wait_signal(d.link, &cfg->broker, &sigs, &notify, &ctx->log);
        if (sig == SIGHUP) {
            bool changed = false;
            char status[256];
            adbd_notify_reloading(&notify);
            if (adb_keystore_reload(ks, &changed, &err) != ADB_OK)
                adb_log(&ctx->log, ADB_LOG_ERROR, "reload_failed", "code=%s error=\"%s\" msg=\"keeping the keys "
                        "loaded before\"", adb_code_name(err.code), err.message);
            else
                adb_log(&ctx->log, ADB_LOG_INFO, "reloaded", "key_file_changed=%s", changed ? "yes" : "no");
            adbd_reload_keytab(secrets, adb_dir_krb(dir), &ctx->log);
            adbd_link_status_text(d.link, &cfg->broker, status, sizeof status);
            adbd_notify_ready(&notify, status);
            continue;
        }
        adbd_notify_stopping(&notify);
        adb_log(&ctx->log, ADB_LOG_INFO, "stopping", "signal=%s grace_ms=%d", sig == SIGTERM ? "TERM" : "INT",
                STOP_GRACE_MS);
        break;
    }
    /* Stop taking work, let the workers answer what they hold, give back the rest. */
    adbd_status_stop(d.status);
    d.status = NULL;
    adb_link_stop(d.link, STOP_GRACE_MS);
    rc = 0;
out:
    adbd_status_stop(d.status);
    adb_workers_free(d.workers);
    adb_link_free(d.link);
    adb_service_free(d.svc);
    adb_auth_free(auth);
    adb_dir_free(dir);
    adb_keystore_free(ks);
    adbd_secrets_free(secrets);
    if (rc == 0 && !check_only)
        adb_log(&ctx->log, ADB_LOG_INFO, "stopped", "code=ok");
    return rc;
}

/* --probe-broker: one JSON line on stdout whatever the outcome (0), or 2
 * when the configuration cannot be read (the message on stderr). */
static int probe_broker(const char *config_path, int timeout_ms)
{
    adb_link_probe_result r;
    adb_config *cfg = NULL;
    adb_error err = { 0 };
    adb_code rc;
    char *text;

    if (adb_config_load(adb_config_path(config_path), &cfg, &err) != ADB_OK) {
        fprintf(stderr, "adbridged: %s: %s\n", adb_code_name(err.code), err.message);
        return 2;
    }
    rc = adb_link_probe(&cfg->broker, timeout_ms, &r, &err);
    text = adb_link_probe_result_json(rc, &r);
    adb_config_free(cfg);
    if (text == NULL)
        return 1;
    printf("%s\n", text);
    free(text);
    return 0;
}

int main(int argc, char **argv)
{
    enum { OPT_CHECK_CONFIG = 256, OPT_PROBE_BROKER, OPT_TIMEOUT_MS };
    static const struct option opts[] = {
        { "config", required_argument, NULL, 'c' },
        { "foreground", no_argument, NULL, 'f' },
        { "check-config", no_argument, NULL, OPT_CHECK_CONFIG },
        { "probe-broker", no_argument, NULL, OPT_PROBE_BROKER },
        { "timeout-ms", required_argument, NULL, OPT_TIMEOUT_MS },
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, 'V' },
        { NULL, 0, NULL, 0 },
    };
    const char *config_path = NULL;
    bool check_only = false, probe = false;
    int64_t timeout_ms = 10000;
    adb_error err = { 0 };
    adb_ctx *ctx;
    int opt, rc;

    /* Before any jansson call: every block it frees is wiped, request
     * bodies with a plaintext password among them (json.h). */
    adb_json_wipe_install(NULL);
    while ((opt = getopt_long(argc, argv, "c:fhV", opts, NULL)) != -1) {
        switch (opt) {
        case 'c': config_path = optarg; break;
        case 'f': break;
        case OPT_CHECK_CONFIG: check_only = true; break;
        case OPT_PROBE_BROKER: probe = true; break;
        case OPT_TIMEOUT_MS:
            if (!adb_ascii_int64(optarg, 1, 600000, &timeout_ms)) {
                fprintf(stderr, "adbridged: --timeout-ms wants milliseconds from 1 to 600000, not '%s'\n", optarg);
                return 2;
            }
            break;
        case 'h': usage(stdout); return 0;
        case 'V': printf("adbridged %s\n", adb_version()); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "adbridged: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (probe)
        return probe_broker(config_path, (int)timeout_ms);
    if (adb_ctx_new(config_path, &ctx, &err) != ADB_OK) {
        fprintf(stderr, "adbridged: %s: %s\n", adb_code_name(err.code), err.message);
        return 2;
    }
    rc = serve(ctx, check_only);
    adb_ctx_free(ctx);
    return rc;
}
