/* What the benchmarks share (header-only): latency samples and percentiles,
 * their environment, failing set-up steps, a private configuration. */
#ifndef ADBRIDGE_BENCH_STATS_H
#define ADBRIDGE_BENCH_STATS_H

#include <adbridge/config.h>
#include <adbridge/directory.h>
#include <adbridge/error.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct bench_samples {
    double *us;
    size_t n, cap;
} bench_samples;

/* The environment variable name (bench/run sets them), or exit 2. */
static inline char *bench_need(const char *name)
{
    char *v = getenv(name);
    if (v == NULL || *v == '\0') {
        fprintf(stderr, "%s: %s is not set (run through bench/run)\n", program_invocation_short_name, name);
        exit(2);
    }
    return v;
}

/* A failed step of the benchmark's own set-up: say which, and exit 2. */
static inline void bench_die(const char *what, const adb_error *err)
{
    fprintf(stderr, "%s: %s: %s: %s\n", program_invocation_short_name, what, adb_code_name(err->code), err->message);
    exit(2);
}

/* The testenv's configuration (ADBRIDGE_CONFIG) with state_dir a new
 * directory made from the mkdtemp template state: never the shared state. */
static inline adb_config *bench_config(char *state)
{
    adb_config *cfg;
    adb_error err = { 0 };

    if (adb_config_load(bench_need("ADBRIDGE_CONFIG"), &cfg, &err) != ADB_OK)
        bench_die("config", &err);
    if (mkdtemp(state) == NULL) {
        perror("mkdtemp");
        exit(2);
    }
    free(cfg->state_dir);
    cfg->state_dir = strdup(state);
    return cfg;
}

/* Frees bench_config's configuration and removes its state directory. */
static inline void bench_config_free(adb_config *cfg, const char *state)
{
    char path[300];

    adb_config_free(cfg);
    snprintf(path, sizeof path, "%s/subscriptions.json", state);
    unlink(path);
    rmdir(state);
}

static inline adb_dir *bench_dir_open(const adb_config *cfg, const adb_logger *log)
{
    adb_dir *d;
    adb_error err = { 0 };

    if (adb_dir_open(cfg, log, NULL, &d, &err) != ADB_OK)
        bench_die("adb_dir_open", &err);
    return d;
}

static inline double bench_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static inline void bench_add(bench_samples *s, double us)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 256;
        s->us = realloc(s->us, s->cap * sizeof *s->us);
        if (s->us == NULL)
            abort();
    }
    s->us[s->n++] = us;
}

static inline int bench_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile (p in 0..100). */
static inline double bench_pct(bench_samples *s, double p)
{
    size_t k;
    if (s->n == 0)
        return 0;
    qsort(s->us, s->n, sizeof *s->us, bench_cmp);
    k = (size_t)((p / 100.0) * (double)s->n + 0.5);
    if (k == 0)
        k = 1;
    if (k > s->n)
        k = s->n;
    return s->us[k - 1];
}

/* One line per measurement: name, count, p50, p95, p99 in milliseconds. */
static inline void bench_report(const char *name, bench_samples *s)
{
    printf("%-44s n=%-6zu p50=%8.3f ms  p95=%8.3f ms  p99=%8.3f ms\n", name, s->n,
           bench_pct(s, 50) / 1000, bench_pct(s, 95) / 1000, bench_pct(s, 99) / 1000);
    free(s->us);
    s->us = NULL;
    s->n = s->cap = 0;
}

#endif
