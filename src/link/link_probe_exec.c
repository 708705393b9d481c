/* The broker probe run by the daemon's binary (link.h adb_link_probe_exec).
 *
 * Why another process: the AMQP stack (qpid-proton, and OpenSSL under it)
 * lives in adbridged.  Linking it into the CLI for `adbridge diagnose`'s one
 * cloud check cost every CLI command about 2.5 ms of loading and relocation
 * at start.  `adbridged --probe-broker` runs adb_link_probe as the daemon
 * would and prints the result as one JSON object; this file writes and
 * reads that object and runs the binary.  It uses no proton symbol, so the
 * CLI links without proton. */
#include "config.h"

#include <adbridge/clock.h>
#include <adbridge/json.h>
#include <adbridge/link.h>

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

enum { OUTPUT_MAX = 16384, EXIT_GRACE_MS = 3000 };

/* The failed stages adb_link_probe names, so that a decoded one points at
 * a static string as the struct promises. */
static const char *const STAGES[] = { "config", "resolve", "tcp", "proxy", "tls", "sasl", "amqp_open", "close" };

void adb_link_probe_result_reset(adb_link_probe_result *r)
{
    memset(r, 0, sizeof *r);
    r->tcp_ms = r->proxy_ms = r->tls_ms = r->amqp_open_ms = r->close_ms = -1;
}

char *adb_link_probe_result_json(adb_code rc, const adb_link_probe_result *r)
{
    json_t *o = json_pack("{s:s, s:s, s:s?, s:o, s:o, s:o, s:o, s:o, s:s, s:s, s:s, s:s}", "code", adb_code_name(rc),
                          "message", rc == ADB_OK ? "" : r->error.message, "failed_stage", r->failed_stage,
                          "tcp_ms", adb_json_ms_or_null(r->tcp_ms), "proxy_ms", adb_json_ms_or_null(r->proxy_ms),
                          "tls_ms", adb_json_ms_or_null(r->tls_ms), "amqp_open_ms", adb_json_ms_or_null(r->amqp_open_ms),
                          "close_ms", adb_json_ms_or_null(r->close_ms), "tls_protocol", r->tls_protocol,
                          "tls_cipher", r->tls_cipher, "sasl_mechanism", r->sasl_mech,
                          "remote_container", r->remote_container);
    char *text = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;

    json_decref(o);
    return text;
}

static double ms_of(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);

    return json_is_number(v) ? json_number_value(v) : -1;
}

static void copy_str(json_t *o, const char *key, char *buf, size_t size)
{
    const char *s = json_string_value(json_object_get(o, key));

    snprintf(buf, size, "%s", s != NULL ? s : "");
}

/* The daemon's answer: a code adb_code_from_name knows, stages we know. */
static adb_code decode(const char *text, adb_link_probe_result *r, adb_error *err)
{
    json_error_t je;
    json_t *o = json_loads(text, JSON_REJECT_DUPLICATES, &je);
    const char *code = json_string_value(json_object_get(o, "code"));
    const char *stage = json_string_value(json_object_get(o, "failed_stage"));
    adb_code rc;

    if (!json_is_object(o) || code == NULL || !adb_code_from_name(code, &rc)) {
        json_decref(o);
        return adb_error_set(err, ADB_E_INTERNAL, "adbridged --probe-broker printed no result (%s)",
                             o == NULL ? je.text : "no known \"code\"");
    }
    r->tcp_ms = ms_of(o, "tcp_ms");
    r->proxy_ms = ms_of(o, "proxy_ms");
    r->tls_ms = ms_of(o, "tls_ms");
    r->amqp_open_ms = ms_of(o, "amqp_open_ms");
    r->close_ms = ms_of(o, "close_ms");
    for (size_t i = 0; stage != NULL && i < sizeof STAGES / sizeof STAGES[0]; i++)
        if (strcmp(stage, STAGES[i]) == 0)
            r->failed_stage = STAGES[i];
    copy_str(o, "tls_protocol", r->tls_protocol, sizeof r->tls_protocol);
    copy_str(o, "tls_cipher", r->tls_cipher, sizeof r->tls_cipher);
    copy_str(o, "sasl_mechanism", r->sasl_mech, sizeof r->sasl_mech);
    copy_str(o, "remote_container", r->remote_container, sizeof r->remote_container);
    if (rc != ADB_OK) {
        const char *msg = json_string_value(json_object_get(o, "message"));
        adb_error_set(&r->error, rc, "%s", msg != NULL ? msg : "");
        *err = r->error;
    }
    json_decref(o);
    return rc;
}

/* adbridged beside this executable (the build tree, one bin directory),
 * else where configure installs it. */
static void daemon_path(char *buf, size_t size)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    char *slash;

    if (n > 0) {
        self[n] = '\0';
        if ((slash = strrchr(self, '/')) != NULL) {
            *slash = '\0';
            int w = snprintf(buf, size, "%s/adbridged", self);
            if (w > 0 && (size_t)w < size && access(buf, X_OK) == 0)
                return;
        }
    }
    snprintf(buf, size, "%s/adbridged", ADB_SBINDIR);
}

/* Reads the child's stdout until EOF, OUTPUT_MAX or the deadline. */
static size_t read_all(int fd, char *buf, size_t size, int64_t deadline)
{
    size_t len = 0;

    while (len + 1 < size) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        int64_t left = deadline - adb_mono_ms();
        ssize_t got;

        if (left <= 0 || poll(&p, 1, (int)left) <= 0)
            break;
        if ((got = read(fd, buf + len, size - 1 - len)) < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        len += (size_t)got;
    }
    buf[len] = '\0';
    return len;
}

adb_code adb_link_probe_exec(const char *config_path, int timeout_ms, adb_link_probe_result *out, adb_error *err)
{
    char exe[PATH_MAX], cfg[PATH_MAX], tmo[24], opt_config[] = "--config", opt_probe[] = "--probe-broker",
        opt_tmo[] = "--timeout-ms", *text = NULL;
    char *argv[] = { exe, opt_config, cfg, opt_probe, opt_tmo, tmo, NULL };
    posix_spawn_file_actions_t fa;
    int fds[2] = { -1, -1 }, status = 0;
    pid_t pid = -1;
    adb_code rc;

    adb_link_probe_result_reset(out);
    daemon_path(exe, sizeof exe);
    snprintf(cfg, sizeof cfg, "%s", config_path);
    snprintf(tmo, sizeof tmo, "%d", timeout_ms);
    if (pipe2(fds, O_CLOEXEC) != 0 || (text = malloc(OUTPUT_MAX)) == NULL) {
        rc = adb_error_set(err, ADB_E_IO, "cannot run %s --probe-broker: %s", exe, strerror(errno));
        goto out;
    }
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
    int e = posix_spawn(&pid, exe, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    fds[1] = -1;
    if (e != 0) {
        pid = -1;
        rc = adb_error_set(err, ADB_E_IO, "cannot run %s --probe-broker: %s (the broker check runs the daemon's "
                           "binary; is adbridged installed?)", exe, strerror(e));
        goto out;
    }
    read_all(fds[0], text, OUTPUT_MAX, adb_mono_ms() + timeout_ms + EXIT_GRACE_MS);
    if (waitpid(pid, &status, WNOHANG) == 0) {
        kill(pid, SIGKILL); /* past its own timeout and our grace */
        waitpid(pid, &status, 0);
    }
    pid = -1;
    rc = decode(text, out, err); /* a failure of the probe process itself leaves out->error at ok */
out:
    if (fds[0] >= 0)
        close(fds[0]);
    if (fds[1] >= 0)
        close(fds[1]);
    if (pid > 0)
        waitpid(pid, &status, 0);
    free(text);
    return rc;
}
