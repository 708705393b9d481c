/* Scale: the people picker and group.members over the 5,000 bulk users of
 * adb.test and, when `testenv up --large` seeded it, the 100,000 users of
 * partner.test.  Prints, never asserts:
 *   - search: the first page's latency (p50/p95) and the DC CPU each search
 *     costs (utime+stime of every process in the DCs' network namespaces,
 *     read from /proc before and after N searches);
 *   - group.members through the dispatcher as the wire runs it (pages cut
 *     to broker.max_reply_bytes): ms per 1,000 members, the largest page
 *     against max_reply_bytes, and the peak RSS of a child process that
 *     streams every page and does nothing else.
 *   - the same searches with the search index on (cache.search_index):
 *     its build (wall time, DC CPU), memory, first pages, one refresh;
 * Arguments: [N [ROWS]]: N searches a row (default 20); ROWS "index" runs
 * only the rows with the index on, "search" every search row (no
 * group.members), "members" only group.members; default all.
 * Only the public directory and dispatch API is used.  The DC CPU counts all
 * the DCs do meanwhile: other clients of a shared testenv inflate it. */
#include "config.h"

#include "stats.h"

#include <adbridge/directory.h>
#include <adbridge/dispatch.h>

#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* The testenv's namespaces (samba-testenv/testenv: DC_NS). */
static const char *const ADB_DC_NS[] = { "adbt-dc1", "adbt-dc2", NULL };
static const char *const PARTNER_DC_NS[] = { "adbt-pdc", NULL };

static adb_config *cfg;
static adb_logger quiet;

/* CPU time (ms) used so far by every process in the named network
 * namespaces; processes that ended in between are not counted. */
static double ns_cpu_ms(const char *const *names)
{
    double ticks = 0;
    DIR *proc = opendir("/proc");
    struct dirent *de;

    if (proc == NULL)
        return -1;
    while ((de = readdir(proc)) != NULL) {
        char path[300], buf[1024];
        struct stat pst, nst;
        if (de->d_name[0] < '0' || de->d_name[0] > '9')
            continue;
        snprintf(path, sizeof path, "/proc/%s/ns/net", de->d_name);
        if (stat(path, &pst) != 0)
            continue;
        bool ours = false;
        for (size_t i = 0; names[i] != NULL && !ours; i++) {
            snprintf(path, sizeof path, "/run/netns/%s", names[i]);
            ours = stat(path, &nst) == 0 && nst.st_ino == pst.st_ino && nst.st_dev == pst.st_dev;
        }
        if (!ours)
            continue;
        snprintf(path, sizeof path, "/proc/%s/stat", de->d_name);
        FILE *f = fopen(path, "r");
        if (f == NULL)
            continue;
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = '\0';
        char *p = strrchr(buf, ')');   /* comm may hold spaces */
        unsigned long long ut, st;
        if (p != NULL && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) == 2)
            ticks += (double)(ut + st);
    }
    closedir(proc);
    return ticks * 1000.0 / (double)sysconf(_SC_CLK_TCK);
}

static adb_dir *open_dir(void)
{
    return bench_dir_open(cfg, &quiet);
}

/* ---- search: first page, latency and DC CPU ---- */

static size_t first_page(adb_dir *d, const char *prefix, size_t limit)
{
    adb_dir_search_request req = { .prefix = prefix, .limit = limit };
    adb_dir_page p;
    adb_error err = { 0 };
    size_t n;

    adb_dir_invalidate(d, NULL);
    if (adb_dir_search(d, &req, &p, &err) != ADB_OK)
        bench_die("search", &err);
    n = p.items.n;
    adb_dir_page_clear(&p);
    return n;
}

/* Returns the p50 in ms. */
static double bench_search(adb_dir *d, const char *label, const char *prefix, int n)
{
    bench_samples s = { 0 };
    char name[128];
    size_t got = first_page(d, prefix, 20);   /* connections in place */
    double adb0 = ns_cpu_ms(ADB_DC_NS), partner0 = ns_cpu_ms(PARTNER_DC_NS);

    for (int i = 0; i < n; i++) {
        double t0 = bench_now_us();
        first_page(d, prefix, 20);
        bench_add(&s, bench_now_us() - t0);
    }
    double adb_ms = (ns_cpu_ms(ADB_DC_NS) - adb0) / n, partner_ms = (ns_cpu_ms(PARTNER_DC_NS) - partner0) / n;
    snprintf(name, sizeof name, "search '%s' limit 20, %s", prefix, label);
    double p50 = bench_pct(&s, 50) / 1000;
    bench_report(name, &s);
    if (adb_ms < 0 || partner_ms < 0)   /* a DC process ended meanwhile (another test stopped a DC) */
        printf("%-44s %zu items; DC CPU per search: n/a (a DC process ended)\n", "", got);
    else
        printf("%-44s %zu items; DC CPU per search: adb.test DCs %.1f ms, partner DC %.1f ms\n", "", got, adb_ms,
               partner_ms);
    free(s.us);
    return p50;
}

/* Waits until the index's counter (builds or refreshes) reaches n. */
static void wait_index(adb_dir *d, bool builds, unsigned long n)
{
    adb_dir_stats st;

    for (int i = 0; i < 6000; i++) {
        adb_dir_stats_get(d, &st);
        if ((builds ? st.search_index_builds : st.search_index_refreshes) >= n)
            return;
        usleep(100000);
    }
    fprintf(stderr, "bench_scale: the search index did not reach %lu %s in 600 s\n", n, builds ? "builds" : "refreshes");
    exit(2);
}

/* The search index on (cache.search_index): its one-time read of every
 * domain, the same first pages answered from it, and one refresh of
 * each domain (a rootDSE read, and a search of what changed when the DC's
 * highestCommittedUSN moved). */
static void bench_index(bool large, int n)
{
    adb_dir_options o = { 0 };
    adb_dir_stats st, st2;
    adb_dir *d;
    adb_error err = { 0 };

    adb_dir_options_from_config(cfg, &o);
    o.search_index = ADB_SEARCH_INDEX_ON;
    o.search_index_refresh_s = 15;   /* none during the searches below, then one */
    if (adb_dir_open(cfg, &quiet, &o, &d, &err) != ADB_OK)
        bench_die("adb_dir_open", &err);
    first_page(d, "zz.none", 20);   /* the topology, and the index wanted for both domains */
    double adb0 = ns_cpu_ms(ADB_DC_NS), partner0 = ns_cpu_ms(PARTNER_DC_NS), t0 = bench_now_us();
    first_page(d, "zz.none", 20);
    wait_index(d, true, 2);
    double wall = (bench_now_us() - t0) / 1000;
    adb_dir_stats_get(d, &st);
    printf("%-44s %.0f ms wall (both domains, one after the other); DC CPU: adb.test DCs %.0f ms, partner DC %.0f ms\n",
           "search index: build", wall, ns_cpu_ms(ADB_DC_NS) - adb0, ns_cpu_ms(PARTNER_DC_NS) - partner0);
    printf("%-44s %zu objects, %zu bytes: %.0f bytes per object\n", "search index: memory", st.search_index_objects,
           st.search_index_bytes, st.search_index_objects ? (double)st.search_index_bytes / (double)st.search_index_objects : 0);
    double small = bench_search(d, "index on, 5k", "bulk.0", n);
    bench_search(d, "index on, 5k, 10 match", "bulk.0100", n);
    bench_search(d, "index on, nothing matches", "zz.none", n);
    if (large) {
        double big = bench_search(d, "index on, 100k", "large.0", n);
        bench_search(d, "index on, 100k, 10,000 match", "large.01", n);
        printf("%-44s p50 100k / 5k = %.2f (goal: 0.80 to 1.20)\n", "search index: first page", small > 0 ? big / small : 0);
    }
    adb_dir_stats_get(d, &st);
    adb0 = ns_cpu_ms(ADB_DC_NS);
    partner0 = ns_cpu_ms(PARTNER_DC_NS);
    wait_index(d, false, st.search_index_refreshes + 2);
    adb_dir_stats_get(d, &st2);
    printf("%-44s %lu refreshes (%lu read changes), last %lld ms; DC CPU meanwhile: adb.test DCs %.0f ms, partner DC %.0f ms\n",
           "search index: one refresh per domain", st2.search_index_refreshes - st.search_index_refreshes,
           st2.search_index_change_reads - st.search_index_change_reads, (long long)st2.search_index_refresh_ms,
           ns_cpu_ms(ADB_DC_NS) - adb0, ns_cpu_ms(PARTNER_DC_NS) - partner0);
    printf("%-44s %lu searches answered from the index\n", "", st2.search_index_answers);
    adb_dir_free(d);
}

/* ---- group.members through the dispatcher ---- */

typedef struct members_run {
    size_t members, pages, max_page_bytes, pages_over;
    double ms;
} members_run;

static void stream_members(adb_service *svc, const char *group, members_run *r)
{
    char cursor[ADB_CURSOR_TEXT_MAX] = "";
    double t0 = bench_now_us();

    memset(r, 0, sizeof *r);
    do {
        json_t *params = json_pack("{s:s, s:i}", "group", group, "limit", 1000);
        if (cursor[0] != '\0')
            json_object_set_new(params, "cursor", json_string(cursor));
        json_t *req = json_pack("{s:i, s:s, s:s, s:o}", "v", 1, "id", "bench-scale", "op", "group.members",
                                "params", params);
        char *body = json_dumps(req, JSON_COMPACT), *reply = NULL;
        size_t len = 0;
        json_decref(req);
        adb_dispatch(svc, body, strlen(body), NULL, &reply, &len);
        free(body);
        json_t *rep = reply != NULL ? json_loadb(reply, len, 0, NULL) : NULL;
        json_t *res = json_object_get(rep, "result");
        if (res == NULL) {
            fprintf(stderr, "bench_scale: group.members %s: %s\n", group, reply != NULL ? reply : "out of memory");
            exit(2);
        }
        r->pages++;
        r->members += json_array_size(json_object_get(res, "members"));
        if (len > r->max_page_bytes)
            r->max_page_bytes = len;
        if (len > cfg->broker.max_reply_bytes)
            r->pages_over++;
        const char *next = json_string_value(json_object_get(res, "next_cursor"));
        snprintf(cursor, sizeof cursor, "%s", next != NULL ? next : "");
        json_decref(rep);
        free(reply);
    } while (cursor[0] != '\0');
    r->ms = (bench_now_us() - t0) / 1000;
}

/* In a child that does nothing else: its peak RSS is the streaming's. */
static void bench_members(const char *group)
{
    int fds[2], status;
    struct rusage ru;
    members_run r = { 0 };

    if (pipe(fds) != 0) {
        perror("pipe");
        exit(2);
    }
    fflush(stdout);   /* the child's exit must not print it again */
    pid_t pid = fork();
    if (pid == 0) {
        adb_dir *d = open_dir();
        adb_service *svc;
        adb_service_options so = { .dir = d, .config = cfg };
        adb_error err = { 0 };
        if (adb_service_new(&so, &svc, &err) != ADB_OK)
            bench_die("adb_service_new", &err);
        stream_members(svc, group, &r);
        ssize_t w = write(fds[1], &r, sizeof r);
        adb_service_free(svc);
        adb_dir_free(d);
        _exit(w == (ssize_t)sizeof r ? 0 : 1);
    }
    close(fds[1]);
    ssize_t got = pid > 0 ? read(fds[0], &r, sizeof r) : -1;
    close(fds[0]);
    if (pid < 0 || wait4(pid, &status, 0, &ru) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0
        || got != (ssize_t)sizeof r) {
        fprintf(stderr, "bench_scale: streaming %s failed\n", group);
        exit(2);
    }
    printf("%-44s %zu members in %zu pages, %.0f ms: %.1f ms per 1,000; peak RSS %ld KiB\n",
           group, r.members, r.pages, r.ms, r.members ? r.ms * 1000 / (double)r.members : 0, ru.ru_maxrss);
    printf("%-44s largest page %zu bytes of max_reply_bytes %zu; pages over it: %zu\n", "", r.max_page_bytes,
           cfg->broker.max_reply_bytes, r.pages_over);
}

static bool large_present(adb_dir *d)
{
    adb_object *o = NULL;
    adb_error err = { 0 };
    adb_code rc = adb_dir_get(d, "PARTNER\\large.group", NULL, ADB_KINDS_GROUP, &o, NULL, &err);

    adb_object_unref(o);
    if (rc != ADB_OK && rc != ADB_E_NOT_FOUND)
        bench_die("get PARTNER\\large.group", &err);
    return rc == ADB_OK;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 20;
    char state[] = "/tmp/adb-bench-scale-XXXXXX";

    adb_logger_init(&quiet, ADB_LOG_ERROR, stderr);
    cfg = bench_config(state);

    const char *rows = argc > 2 ? argv[2] : "all";
    adb_dir *d = open_dir();
    bool large = large_present(d);
    if (strcmp(rows, "index") == 0) {
        adb_dir_free(d);
        bench_index(large, n);
        bench_config_free(cfg, state);
        return 0;
    }
    bool members_only = strcmp(rows, "members") == 0;
    if (!members_only) {
        bench_search(d, "5k (adb.test bulk)", "bulk.0", n);
        bench_search(d, "5k, 1,000 match", "bulk.01", n);
        bench_search(d, "5k, 10 match", "bulk.0100", n);
        bench_search(d, "nothing matches", "zz.none", n);
        if (large) {
            bench_search(d, "100k (partner.test large)", "large.0", n);
            bench_search(d, "100k, 10,000 match", "large.01", n);
        } else {
            printf("%-44s large dataset absent: run testenv up --large\n", "search over 100k users");
        }
    }
    adb_dir_free(d);
    /* group.members before the index: its children are forked from this
     * process, and would inherit the heap the index's build left behind. */
    if (strcmp(rows, "search") != 0) {
        bench_members("ADB\\big.group");
        if (large)
            bench_members("PARTNER\\large.group");
        else
            printf("%-44s large dataset absent: run testenv up --large\n", "members of PARTNER\\large.group");
    }
    if (!members_only)
        bench_index(large, n);
    bench_config_free(cfg, state);
    return 0;
}
