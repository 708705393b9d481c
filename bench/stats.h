/* Latency samples and percentiles for the benchmarks (header-only). */
#ifndef ADBRIDGE_BENCH_STATS_H
#define ADBRIDGE_BENCH_STATS_H

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

typedef struct bench_samples {
    double *us;
    size_t n, cap;
} bench_samples;

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
