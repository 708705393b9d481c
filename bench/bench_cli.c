/* The admin CLI as an admin runs it: a new `adbridge` process per call,
 * timed with posix_spawn and waitpid beside the tools admins use today —
 * ldapsearch(1) -Y GSSAPI one-shot and kinit(1) with a password — in the
 * same run and interleaved (A, B, A, B, ...), so a noisy machine weighs on
 * every row alike.  bench/run starts it inside `testenv run` once (the
 * testenv's hosts and krb5.conf); every timed process is spawned directly
 * from here.
 *
 * adbridge runs with a private configuration whose state_dir is a fresh
 * 0700 directory: "warm" rows run with what earlier runs left there (the
 * machine ccache, the topology and DC caches), the "cold" row empties it
 * before each run (a first run: machine login, DNS and CLDAP, topology).
 * ldapsearch runs warm too: its ccache holds the machine TGT (kinit -k once)
 * and keeps the service ticket it gets on its first run.
 *
 * ADB_BENCH_CLI_BEFORE=/path/to/an/older/adbridge adds its rows, timed in
 * the same rounds, for before/after figures.  ADB_BENCH_CLI_RUNS (default
 * 30) rounds are timed after 2 untimed ones. */
#include "config.h"

#include "stats.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define PASSWORD "Adb.User-Passw0rd"   /* the seeded users' (samba-testenv/seed.py) */
#define MAX_ARGS 16
#define MAX_ROWS 24

typedef struct row {
    char name[96];
    char *argv[MAX_ARGS];
    const char *stdin_path;   /* NULL: /dev/null */
    char **env;               /* NULL: ours */
    const char *wipe_dir;     /* emptied before each run (cold) */
    struct row *before;       /* run, untimed, before each run (e.g. a fresh sssd) */
    struct row *after;        /* run, untimed, after each run (so it does not load the DC for the next rows) */
    bool optional;            /* not in the ratio lines */
    bench_samples s;
} row;

static char tmp[256], state[300], state_before[300], cfg_path[300], cfg_before[300], pw_path[300],
    ls_cc[300], kinit_cc[300];

/* "bench_cli: " + what + detail, and exit 2. */
static void die(const char *what, const char *detail)
{
    fprintf(stderr, "bench_cli: %s%s\n", what, detail);
    exit(2);
}

/* A copy of the testenv's configuration with state_dir set. */
static void write_config(const char *path, const char *state_dir)
{
    json_error_t je;
    json_t *cfg = json_load_file(bench_need("ADBRIDGE_CONFIG"), 0, &je);

    if (cfg == NULL)
        die("cannot read $ADBRIDGE_CONFIG: ", je.text);
    json_object_set_new(cfg, "state_dir", json_string(state_dir));
    if (json_dump_file(cfg, path, JSON_INDENT(2)) != 0)
        die("cannot write ", path);
    json_decref(cfg);
    if (mkdir(state_dir, 0700) != 0 && errno != EEXIST)
        die("cannot create ", state_dir);
}

/* Removes the files of dir (flat: the state dir has no subdirectories
 * that these runs create). */
static void wipe(const char *dir)
{
    char cmd[600];

    snprintf(cmd, sizeof cmd, "find '%s' -mindepth 1 -maxdepth 1 -type f -delete", dir);
    if (system(cmd) != 0)
        die("cannot empty ", dir);
}

/* Runs argv once; returns its wall time in µs, or dies when it fails. */
static double run_once(const row *r, bool quiet)
{
    posix_spawn_file_actions_t fa;
    pid_t pid;
    int status;
    double t0, t1;

    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, r->stdin_path != NULL ? r->stdin_path : "/dev/null", O_RDONLY, 0);
    if (quiet) {
        posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
        posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    }
    t0 = bench_now_us();
    if (posix_spawnp(&pid, r->argv[0], &fa, NULL, r->argv, r->env != NULL ? r->env : environ) != 0)
        die("cannot start ", r->argv[0]);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    t1 = bench_now_us();
    posix_spawn_file_actions_destroy(&fa);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        if (quiet) {
            fprintf(stderr, "bench_cli: '%s' failed; its output:\n", r->name);
            run_once(r, false);
        }
        die(r->name, ": did not succeed (a benchmark never times failures)");
    }
    return t1 - t0;
}

static char **env_with(char *assignment)
{
    size_t n = 0;
    char **env;

    while (environ[n] != NULL)
        n++;
    if ((env = calloc(n + 2, sizeof *env)) == NULL)
        die("out of memory", "");
    env[0] = assignment;
    for (size_t i = 0, k = 1; i < n; i++)
        if (strncmp(environ[i], "KRB5CCNAME=", 11) != 0)
            env[k++] = environ[i];
    return env;
}

static row *add(row *rows, size_t *n, const char *name)
{
    if (*n == MAX_ROWS)
        die("too many rows", "");
    row *r = &rows[(*n)++];
    memset(r, 0, sizeof *r);
    snprintf(r->name, sizeof r->name, "%s", name);
    return r;
}

static void set_argv(row *r, const char *const *argv)
{
    for (size_t i = 0; argv[i] != NULL && i < MAX_ARGS - 1; i++)
        if ((r->argv[i] = strdup(argv[i])) == NULL)
            die("out of memory", "");
}

static row *find(row *rows, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(rows[i].name, name) == 0)
            return &rows[i];
    return NULL;
}

static void ratio(row *rows, size_t n, const char *a, const char *b, const char *goal)
{
    row *x = find(rows, n, a), *y = find(rows, n, b);
    if (x == NULL || y == NULL)
        return;
    printf("  %-44s %5.2fx %s\n", a, bench_pct(&x->s, 50) / bench_pct(&y->s, 50), goal);
}

int main(void)
{
    const char *builddir = bench_need("ADB_TOP_BUILDDIR"), *keytab = bench_need("ADB_TEST_KEYTAB");
    const char *before = getenv("ADB_BENCH_CLI_BEFORE");
    const char *runs_env = getenv("ADB_BENCH_CLI_RUNS");
    char adbridge[300], machine[300], ls_env[320], kinit_env[320];
    int runs = runs_env != NULL && atoi(runs_env) > 0 ? atoi(runs_env) : 30;
    row rows[MAX_ROWS];
    size_t n = 0;
    FILE *f;

    snprintf(tmp, sizeof tmp, "/tmp/adb-bench-cli-XXXXXX");
    if (mkdtemp(tmp) == NULL)
        die("cannot create a temporary directory", "");
    snprintf(adbridge, sizeof adbridge, "%s/adbridge", builddir);
    snprintf(machine, sizeof machine, "%s$@%s", bench_need("ADB_TEST_MACHINE"), bench_need("ADB_TEST_REALM"));
    snprintf(state, sizeof state, "%s/state", tmp);
    snprintf(cfg_path, sizeof cfg_path, "%s/adbridge.json", tmp);
    write_config(cfg_path, state);
    snprintf(pw_path, sizeof pw_path, "%s/password", tmp);
    if ((f = fopen(pw_path, "w")) == NULL || chmod(pw_path, 0600) != 0 || fprintf(f, "%s\n", PASSWORD) < 0
        || fclose(f) != 0)
        die("cannot write ", pw_path);
    snprintf(ls_cc, sizeof ls_cc, "%s/ldapsearch.ccache", tmp);
    snprintf(kinit_cc, sizeof kinit_cc, "%s/kinit.ccache", tmp);
    snprintf(ls_env, sizeof ls_env, "KRB5CCNAME=FILE:%s", ls_cc);
    snprintf(kinit_env, sizeof kinit_env, "KRB5CCNAME=FILE:%s", kinit_cc);

    /* ldapsearch's machine TGT, once (its service ticket comes on run 1). */
    row setup = { .name = "kinit -k (ldapsearch's ccache)", .env = env_with(ls_env) };
    set_argv(&setup, (const char *const[]){ "kinit", "-k", "-t", keytab, machine, NULL });
    run_once(&setup, true);

    row *r;
    r = add(rows, &n, "ldapsearch -Y GSSAPI one-shot");
    r->env = env_with(ls_env);
    set_argv(r, (const char *const[]){ "ldapsearch", "-LLL", "-N", "-Q", "-Y", "GSSAPI", "-H", "ldap://dc1.adb.test",
                                       "-b", "DC=adb,DC=test", "(sAMAccountName=alice)", NULL });
    r = add(rows, &n, "adbridge user ADB\\alice");
    set_argv(r, (const char *const[]){ adbridge, "--config", cfg_path, "user", "ADB\\alice", NULL });
    r = add(rows, &n, "adbridge user alice");
    set_argv(r, (const char *const[]){ adbridge, "--config", cfg_path, "user", "alice", NULL });
    r = add(rows, &n, "kinit badpw.user (right password)");
    r->env = env_with(kinit_env);
    r->stdin_path = pw_path;
    set_argv(r, (const char *const[]){ "kinit", "badpw.user@ADB.TEST", NULL });
    r = add(rows, &n, "adbridge auth ADB\\badpw.user");
    r->stdin_path = pw_path;
    set_argv(r, (const char *const[]){ adbridge, "--config", cfg_path, "auth", "--stdin", "ADB\\badpw.user", NULL });
    r = add(rows, &n, "adbridge auth badpw.user");
    r->stdin_path = pw_path;
    set_argv(r, (const char *const[]){ adbridge, "--config", cfg_path, "auth", "--stdin", "badpw.user", NULL });
    r = add(rows, &n, "adbridge groups-of ADB\\nested.user");
    set_argv(r, (const char *const[]){ adbridge, "--config", cfg_path, "groups-of", "ADB\\nested.user", NULL });
    r = add(rows, &n, "adbridge groups-of nested.user");
    set_argv(r, (const char *const[]){ adbridge, "--config", cfg_path, "groups-of", "nested.user", NULL });
    /* SSSD with an empty cache (bench/sssd-anchor.sh: bench/run starts this
     * program inside its private mounts): a fresh sssd, online, before each
     * run; the run is the user's first lookup, as for a new adbridge process. */
    const char *sssd = getenv("ADB_BENCH_SSSD");
    static row sssd_cold = { .name = "sssd-anchor.sh cold" }, sssd_stop = { .name = "sssd-anchor.sh stop" };
    if (sssd != NULL && *sssd != '\0') {
        set_argv(&sssd_cold, (const char *const[]){ sssd, "cold", NULL });
        set_argv(&sssd_stop, (const char *const[]){ sssd, "stop", NULL });
        r = add(rows, &n, "SSSD initgroups nested.user, empty cache");
        r->before = &sssd_cold;
        r->after = &sssd_stop;
        set_argv(r, (const char *const[]){ "getent", "-s", "sss", "initgroups", "nested.user@adb.test", NULL });
    }
    static char cold_state[300], cold_cfg[300];
    snprintf(cold_state, sizeof cold_state, "%s/cold-state", tmp);
    snprintf(cold_cfg, sizeof cold_cfg, "%s/cold.json", tmp);
    write_config(cold_cfg, cold_state);
    r = add(rows, &n, "adbridge user ADB\\alice, cold state dir");
    r->wipe_dir = cold_state;
    r->optional = true;
    set_argv(r, (const char *const[]){ adbridge, "--config", cold_cfg, "user", "ADB\\alice", NULL });
    if (before != NULL && *before != '\0') {
        snprintf(state_before, sizeof state_before, "%s/state-before", tmp);
        snprintf(cfg_before, sizeof cfg_before, "%s/before.json", tmp);
        write_config(cfg_before, state_before);
        r = add(rows, &n, "before: adbridge user ADB\\alice");
        set_argv(r, (const char *const[]){ before, "--config", cfg_before, "user", "ADB\\alice", NULL });
        r = add(rows, &n, "before: adbridge user alice");
        set_argv(r, (const char *const[]){ before, "--config", cfg_before, "user", "alice", NULL });
        r = add(rows, &n, "before: adbridge auth badpw.user");
        r->stdin_path = pw_path;
        set_argv(r, (const char *const[]){ before, "--config", cfg_before, "auth", "--stdin", "badpw.user", NULL });
        r = add(rows, &n, "before: adbridge groups-of nested.user");
        set_argv(r, (const char *const[]){ before, "--config", cfg_before, "groups-of", "nested.user", NULL });
    }

    printf("bench_cli: %d rounds (+2 untimed), rows interleaved in each round; state dir %s\n", runs, state);
    for (int round = 0; round < runs + 2; round++)
        for (size_t i = 0; i < n; i++) {
            double us;
            if (rows[i].wipe_dir != NULL)
                wipe(rows[i].wipe_dir);
            if (rows[i].before != NULL)
                run_once(rows[i].before, true);
            us = run_once(&rows[i], true);
            if (rows[i].after != NULL)
                run_once(rows[i].after, true);
            if (round >= 2)
                bench_add(&rows[i].s, us);
        }
    /* Ratios first: bench_report frees the samples. */
    printf("-- p50 ratios (goals: issue 13)\n");
    ratio(rows, n, "adbridge user ADB\\alice", "ldapsearch -Y GSSAPI one-shot", "(goal <= 1.5x)");
    ratio(rows, n, "adbridge user alice", "ldapsearch -Y GSSAPI one-shot", "(both forests: a bare name)");
    ratio(rows, n, "adbridge auth ADB\\badpw.user", "kinit badpw.user (right password)", "(goal <= 1.5x)");
    ratio(rows, n, "adbridge auth badpw.user", "kinit badpw.user (right password)", "(both forests: a bare name)");
    ratio(rows, n, "adbridge groups-of ADB\\nested.user", "SSSD initgroups nested.user, empty cache", "(goal <= 1x)");
    if (sssd == NULL || *sssd == '\0')
        printf("  (no SSSD row: run through bench/run, which starts bench/sssd-anchor.sh)\n");
    for (size_t i = 0; i < n; i++)
        bench_report(rows[i].name, &rows[i].s);
    for (size_t i = 0; i < n; i++)
        free(rows[i].env);
    free(setup.env);
    snprintf(adbridge, sizeof adbridge, "rm -rf '%s'", tmp);
    if (system(adbridge) != 0)
        fprintf(stderr, "bench_cli: could not remove %s\n", tmp);
    return 0;
}
