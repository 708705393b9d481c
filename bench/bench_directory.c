/* Directory operations: lookup by name and by SID, groups-of the nested user,
 * members of the 5,000-member group — p50/p95 cold (empty cache; warm
 * connections and topology) and warm (cached).  The lookups and groups-of
 * each have a floor of raw LDAP on one warm sealed connection, timed
 * interleaved with their cold samples: the one search that answers a lookup,
 * and groups-of's three steps (find the user, read its tokenGroups, resolve
 * the SIDs in one search); each row prints its ratio, the goal, and the LDAP
 * round trips it took against the floor's.  `bench_directory N lookups` runs
 * only those rows.  Peak RSS while streaming the big group is measured in
 * a child process that does nothing else.
 *
 * Members are also timed with fields (sid and sam_account_name: members read
 * with ADB_ATTRS_NAMES), and transitively for the nest chain (nest.L1, one
 * user 8 groups down); with ADB_BENCH_WINBIND (bench/run sets it to
 * bench/winbind-anchor.sh) the same two groups go through a fresh winbindd
 * with empty caches in the same run, and the ratios adbridge/winbind are
 * printed beside them.  The floors of big.group's members show what the DC
 * spends per returned entry: paged or not, whole listing attributes or
 * names only. */
#include "config.h"

#include "stats.h"

#include <adbridge/directory.h>
#include <adbridge/filter.h>
#include <adbridge/krb.h>
#include <adbridge/ldap_conn.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static adb_config *cfg;
static adb_logger quiet;

static adb_dir *open_dir(void)
{
    return bench_dir_open(cfg, &quiet);
}

/* ---- the operations ---- */

static const char *user_sid;

static void op_by_name(adb_dir *d)
{
    adb_object *o;
    adb_error err = { 0 };

    if (adb_dir_get(d, "ADB\\alice", NULL, ADB_KINDS_USER, &o, NULL, &err) != ADB_OK)
        bench_die("get ADB\\alice", &err);
    adb_object_unref(o);
}

static void op_by_sid(adb_dir *d)
{
    adb_object *o;
    adb_error err = { 0 };

    if (adb_dir_get(d, user_sid, NULL, ADB_KINDS_USER, &o, NULL, &err) != ADB_OK)
        bench_die("get by SID", &err);
    adb_object_unref(o);
}

static size_t last_count;

static void op_groups_of(adb_dir *d)
{
    adb_object_list l = { 0 };
    adb_error err = { 0 };

    if (adb_dir_groups_of(d, "ADB\\nested.user", NULL, NULL, &l, &err) != ADB_OK)
        bench_die("groups-of nested.user", &err);
    last_count = l.n;
    adb_object_list_clear(&l);
}

/* Every page of a group's members, 1000 at a time. */
static void members_all(adb_dir *d, const char *group, bool transitive, unsigned fields)
{
    char cursor[ADB_CURSOR_TEXT_MAX] = "";
    adb_error err = { 0 };
    size_t n = 0;

    do {
        adb_dir_members_request req = { .group = group, .limit = 1000, .transitive = transitive,
                                        .cursor = cursor[0] ? cursor : NULL, .fields = fields };
        adb_dir_page p;
        if (adb_dir_members(d, &req, NULL, &p, &err) != ADB_OK)
            bench_die(group, &err);
        n += p.items.n;
        snprintf(cursor, sizeof cursor, "%s", p.next_cursor);
        adb_dir_page_clear(&p);
    } while (cursor[0] != '\0');
    last_count = n;
}

enum { NAMES = ADB_FIELD_SID | ADB_FIELD_SAM_ACCOUNT_NAME };

static void op_big_group(adb_dir *d)
{
    members_all(d, "ADB\\big.group", false, 0);
}

static void op_big_group_names(adb_dir *d)
{
    members_all(d, "ADB\\big.group", false, NAMES);
}

/* A group of one member: the same process and code, without the 5,000. */
static void op_small_group(adb_dir *d)
{
    members_all(d, "ADB\\nest.L1", false, 0);
}

static void op_nest(adb_dir *d)
{
    members_all(d, "ADB\\nest.L1", true, 0);
}

static void op_nest_names(adb_dir *d)
{
    members_all(d, "ADB\\nest.L1", true, NAMES);
}

/* winbind's cold p50 (ms) of `wbinfo --group-info` for each group, from
 * bench/winbind-anchor.sh; false when ADB_BENCH_WINBIND is not set. */
static bool winbind_p50(double *big_ms, double *nest_ms)
{
    const char *script = getenv("ADB_BENCH_WINBIND");
    char cmd[1024], line[256], group[64];
    double ms;
    FILE *f;

    *big_ms = *nest_ms = 0;
    if (script == NULL || *script == '\0')
        return false;
    snprintf(cmd, sizeof cmd, "'%s' 5 big.group nest.L1", script);
    if ((f = popen(cmd, "r")) == NULL) {
        perror("popen");
        exit(2);
    }
    while (fgets(line, sizeof line, f) != NULL) {
        fputs(line, stdout);
        if (sscanf(line, "winbind %63s n=%*d p50_ms=%lf", group, &ms) == 2)
            *(strcmp(group, "big.group") == 0 ? big_ms : nest_ms) = ms;
    }
    if (pclose(f) != 0 || *big_ms <= 0 || *nest_ms <= 0) {
        fprintf(stderr, "bench_directory: %s failed\n", script);
        exit(2);
    }
    return true;
}

/* ---- the floors: raw searches on one warm sealed connection ---- */

static adb_ldap_conn *floor_conn;
static adb_krb *floor_creds;
static const char floor_base[] = "DC=adb,DC=test";

/* One search on the floor's connection, each entry handed to fn (when not
 * NULL).  page_size as adb_ldap_search_begin's; -1 sends no paged-results
 * control, as ldapsearch does. */
static void floor_run(const char *base, int scope, const char *filter, const char *const *attrs, int page_size,
                      void (*fn)(const adb_ldap_entry *e, void *arg), void *arg)
{
    adb_ldap_search *s;
    adb_ldap_entry *e;
    adb_error err = { 0 };

    if (adb_ldap_search_begin(floor_conn, base, scope, filter, attrs, page_size, &s, &err) != ADB_OK)
        bench_die("floor search", &err);
    while (adb_ldap_search_next(s, &e, &err) == ADB_OK && e != NULL) {
        if (fn != NULL)
            fn(e, arg);
        adb_ldap_entry_free(e);
    }
    if (err.code != ADB_OK)
        bench_die("floor search", &err);
    adb_ldap_search_end(s);
}

static void floor_search_paged(const char *filter, adb_attr_set set, int page_size)
{
    floor_run(floor_base, ADB_LDAP_SCOPE_SUBTREE, filter, adb_object_attrs(set), page_size, NULL, NULL);
}

static void floor_search_set(const char *filter, adb_attr_set set)
{
    floor_search_paged(filter, set, 0);
}

/* A lookup's floor: the one search that answers it, whole objects. */
static void floor_by_name(void)
{
    floor_search_paged("(sAMAccountName=alice)", ADB_ATTRS_FULL, -1);
}

static char *sid_filter;

static void floor_by_sid(void)
{
    floor_search_paged(sid_filter, ADB_ATTRS_FULL, -1);
}

/* groups-of's floor, three steps: the user, its tokenGroups in one base
 * read, then its groups in one search by their SIDs. */
static void keep_dn(const adb_ldap_entry *e, void *arg)
{
    snprintf(arg, 512, "%s", e->dn);
}

static void sids_filter(const adb_ldap_entry *e, void *arg)
{
    struct berval **v = adb_ldap_entry_values(e, "tokenGroups");
    char **filter = arg, *item;
    size_t len = 4;
    adb_error err = { 0 };

    for (size_t i = 0; v != NULL && v[i] != NULL; i++) {
        if (adb_filter_build(&item, &err, "(objectSid=%b)", v[i]->bv_val, (size_t)v[i]->bv_len) != ADB_OK)
            bench_die("filter", &err);
        if ((*filter = realloc(*filter, len + strlen(item))) == NULL)
            abort();
        if (len == 4)
            strcpy(*filter, "(|");
        strcat(*filter, item);
        len += strlen(item);
        free(item);
    }
    if (*filter != NULL)
        strcat(*filter, ")");
}

static void count_entry(const adb_ldap_entry *e, void *arg)
{
    (void)e;
    (*(size_t *)arg)++;
}

static size_t floor_groups;

static void floor_groups_of(void)
{
    static const char *const token_attrs[] = { "tokenGroups", NULL };
    char dn[512] = "", *filter = NULL;

    floor_run(floor_base, ADB_LDAP_SCOPE_SUBTREE, "(sAMAccountName=nested.user)", adb_object_attrs(ADB_ATTRS_FULL),
              -1, keep_dn, dn);
    floor_run(dn, ADB_LDAP_SCOPE_BASE, "(objectClass=*)", token_attrs, -1, sids_filter, &filter);
    if (filter == NULL) {
        fprintf(stderr, "bench_directory: nested.user has no tokenGroups\n");
        exit(2);
    }
    floor_groups = 0;
    floor_run(floor_base, ADB_LDAP_SCOPE_SUBTREE, filter, adb_object_attrs(ADB_ATTRS_LIST), -1, count_entry,
              &floor_groups);
    free(filter);
}

static bool count_value(const struct berval *v, void *arg)
{
    (void)v;
    (*(size_t *)arg)++;
    return true;
}

static double p50_of(bench_samples *s)
{
    return bench_pct(s, 50);
}

/* A row's own floor, timed interleaved with it: one floor sample, then one
 * cold sample of the bridge, so both see the same load on the DCs. */
typedef struct row_floor {
    const char *name;
    void (*run)(void);
    int round_trips;
    double goal;                 /* cold p50 / floor p50 at most */
} row_floor;

typedef struct result {
    const char *name;
    double cold50, warm50, floor50, round_trips;
} result;

static double name_floor_p50;   /* the rows without a floor of their own are set against it */

/* LDAP operations the directory has run: every one takes a pooled connection. */
static unsigned long ldap_ops(adb_dir *d)
{
    adb_dir_stats st;

    adb_dir_stats_get(d, &st);
    return st.pool.connects + st.pool.reuses;
}

static void measure(const char *name, adb_dir *d, void (*op)(adb_dir *), const row_floor *f, int cold_n, int warm_n,
                    result *r)
{
    bench_samples s = { 0 }, fs = { 0 };
    char label[96];
    unsigned long ops0;

    op(d);   /* connections and topology in place */
    if (f != NULL)
        f->run();
    ops0 = ldap_ops(d);
    for (int i = 0; i < cold_n; i++) {
        double t0;
        if (f != NULL) {
            t0 = bench_now_us();
            f->run();
            bench_add(&fs, bench_now_us() - t0);
        }
        adb_dir_invalidate(d, NULL);
        t0 = bench_now_us();
        op(d);
        bench_add(&s, bench_now_us() - t0);
    }
    r->name = name;
    r->round_trips = (double)(ldap_ops(d) - ops0) / cold_n;
    r->cold50 = p50_of(&s);
    r->floor50 = f != NULL ? p50_of(&fs) : name_floor_p50;
    if (f != NULL)
        bench_report(f->name, &fs);
    snprintf(label, sizeof label, "%s, cold", name);
    bench_report(label, &s);
    op(d);
    for (int i = 0; i < warm_n; i++) {
        double t0 = bench_now_us();
        op(d);
        bench_add(&s, bench_now_us() - t0);
    }
    r->warm50 = p50_of(&s);
    snprintf(label, sizeof label, "%s, warm (cached)", name);
    bench_report(label, &s);
    if (f != NULL)
        printf("%-44s cold p50 = %.2fx its floor (goal <= %.2fx); LDAP round trips %.1f (floor %d)\n", "",
               r->cold50 / r->floor50, f->goal, r->round_trips, f->round_trips);
    else
        printf("%-44s cold p50 = %.1fx the name floor, warm p50 = %.2fx; LDAP operations %.1f\n", "",
               r->cold50 / r->floor50, r->warm50 / r->floor50, r->round_trips);
}

/* Peak RSS (KiB) of a child that opens the directory and runs op once. */
static long child_peak_kib(void (*op)(adb_dir *))
{
    struct rusage ru;
    int status;
    pid_t pid = fork();

    if (pid == 0) {
        adb_dir *d = open_dir();
        op(d);
        adb_dir_free(d);
        _exit(0);
    }
    if (pid < 0 || wait4(pid, &status, 0, &ru) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return -1;
    return ru.ru_maxrss;
}

static void noop(adb_dir *d)
{
    (void)d;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 200;
    char state[] = "/tmp/adb-bench-dir-XXXXXX", principal[256];
    adb_ldap_target target = { .host = "dc1.adb.test" };
    adb_error err = { 0 };
    bench_samples s = { 0 };
    adb_object *alice, *big;
    static char sid[ADB_SID_STRING_MAX];
    adb_dir *d;
    result r[7];
    adb_dir_stats st0, st;
    bool lookups_only = argc > 2 && strcmp(argv[2], "lookups") == 0;
    int rows = 7;

    adb_logger_init(&quiet, ADB_LOG_ERROR, stderr);
    cfg = bench_config(state);

    d = open_dir();
    if (adb_dir_get(d, "ADB\\alice", NULL, ADB_KINDS_USER, &alice, NULL, &err) != ADB_OK
        || adb_dir_get(d, "ADB\\big.group", NULL, ADB_KINDS_GROUP, &big, NULL, &err) != ADB_OK)
        bench_die("get alice and big.group", &err);
    adb_sid_format(&alice->sid, sid, sizeof sid, NULL);
    user_sid = sid;

    /* The floor. */
    snprintf(principal, sizeof principal, "%s$@%s", bench_need("ADB_TEST_MACHINE"), bench_need("ADB_TEST_REALM"));
    target.address = bench_need("ADB_TEST_DC1");
    if (adb_krb_new(bench_need("ADB_TEST_KEYTAB"), principal, &floor_creds, &err) != ADB_OK
        || adb_krb_refresh(floor_creds, false, &err) != ADB_OK
        || adb_ldap_connect(&target, floor_creds, NULL, &floor_conn, &err) != ADB_OK)
        bench_die("floor connection", &err);
    uint8_t bin[ADB_SID_BINARY_MAX];
    size_t bin_len;
    if (adb_sid_encode(&alice->sid, bin, sizeof bin, &bin_len, &err) != ADB_OK
        || adb_filter_build(&sid_filter, &err, "(objectSid=%b)", bin, bin_len) != ADB_OK)
        bench_die("SID filter", &err);

    static const row_floor by_name = { "floor: one search by sAMAccountName, raw", floor_by_name, 1, 1.10 },
                           by_sid = { "floor: one search by objectSid, raw", floor_by_sid, 1, 1.10 },
                           groups = { "floor: user, tokenGroups, SIDs: 3 searches", floor_groups_of, 3, 1.2 };
    measure("lookup by DOMAIN\\name", d, op_by_name, &by_name, n, n * 5, &r[0]);
    name_floor_p50 = r[0].floor50;
    measure("lookup by SID", d, op_by_sid, &by_sid, n, n * 5, &r[1]);
    measure("groups-of nested.user", d, op_groups_of, &groups, n / 2, n * 2, &r[2]);
    printf("%-44s %zu groups (the floor found %zu)\n", "", last_count, floor_groups);
    /* What a running bridge pays for a user it has not seen: the rest of
     * the directory (other forests' FSPs, the groups) still cached. */
    {
        bench_samples us = { 0 };
        unsigned long ops0 = ldap_ops(d);
        for (int i = 0; i < n / 2; i++) {
            adb_dir_invalidate(d, "ADB\\nested.user");
            double t0 = bench_now_us();
            op_groups_of(d);
            bench_add(&us, bench_now_us() - t0);
        }
        double p50 = p50_of(&us);
        bench_report("groups-of nested.user, only the user cold", &us);
        printf("%-44s %.2fx the three-step floor; LDAP round trips %.1f (floor 3)\n", "", p50 / r[2].floor50,
               (double)(ldap_ops(d) - ops0) / (n / 2));
    }
    if (lookups_only) {
        rows = 3;
        goto summary;
    }

    for (int i = 0; i < 20; i++) {
        size_t values = 0;
        double t0 = bench_now_us();
        if (adb_ldap_read_all_values(floor_conn, big->dn, "member", count_value, &values, &err) != ADB_OK)
            bench_die("floor range read", &err);
        bench_add(&s, bench_now_us() - t0);
    }
    bench_report("floor: range read of big.group's 5000 DNs", &s);
    char *member_filter = NULL;
    if (adb_filter_build(&member_filter, &err, "(memberOf=%v)", big->dn) != ADB_OK)
        bench_die("filter", &err);
    for (int i = 0; i < 5; i++) {
        double t0 = bench_now_us();
        floor_search_set(member_filter, ADB_ATTRS_LIST);
        bench_add(&s, bench_now_us() - t0);
    }
    double list_floor_p50 = p50_of(&s);
    bench_report("floor: paged search of big.group's members", &s);
    for (int i = 0; i < 5; i++) {
        double t0 = bench_now_us();
        floor_search_set(member_filter, ADB_ATTRS_NAMES);
        bench_add(&s, bench_now_us() - t0);
    }
    bench_report("floor: the same, names attributes only", &s);
    for (int i = 0; i < 5; i++) {
        double t0 = bench_now_us();
        floor_search_paged(member_filter, ADB_ATTRS_LIST, -1);
        bench_add(&s, bench_now_us() - t0);
    }
    double unpaged_floor_p50 = p50_of(&s);
    bench_report("floor: the same unpaged, list attributes", &s);
    for (int i = 0; i < 5; i++) {
        double t0 = bench_now_us();
        floor_search_paged(member_filter, ADB_ATTRS_NAMES, -1);
        bench_add(&s, bench_now_us() - t0);
    }
    bench_report("floor: the same unpaged, names attributes", &s);
    free(member_filter);

    measure("members of big.group (5 pages of 1000)", d, op_big_group, NULL, 10, 100, &r[3]);
    printf("%-44s %zu members; cold p50 = %.2fx the raw paged search of them\n", "", last_count,
           r[3].cold50 / list_floor_p50);
    measure("members of big.group, fields sid+name", d, op_big_group_names, NULL, 10, 100, &r[4]);
    printf("%-44s %zu members\n", "", last_count);
    measure("transitive members of nest.L1", d, op_nest, NULL, 10, 100, &r[5]);
    measure("transitive nest.L1, fields sid+name", d, op_nest_names, NULL, 10, 100, &r[6]);
    printf("%-44s %zu members\n", "", last_count);
    double wb_big, wb_nest;
    if (winbind_p50(&wb_big, &wb_nest)) {
        printf("%-44s %.2fx (goal <= 0.5x)\n", "adbridge/winbind, big.group, whole objects", r[3].cold50 / 1000 / wb_big);
        /* The DC's own cost for the whole objects, one unpaged search on a
         * warm connection: no client can list them faster than this. */
        printf("%-44s %.2fx (the DC's floor for whole objects)\n", "raw unpaged search/winbind, big.group",
               unpaged_floor_p50 / 1000 / wb_big);
        printf("%-44s %.2fx\n", "adbridge/winbind, big.group, sid+name", r[4].cold50 / 1000 / wb_big);
        printf("%-44s %.2fx\n", "adbridge/winbind, nest.L1, whole objects", r[5].cold50 / 1000 / wb_nest);
        printf("%-44s %.2fx\n", "adbridge/winbind, nest.L1, sid+name", r[6].cold50 / 1000 / wb_nest);
    } else {
        printf("%-44s not run (ADB_BENCH_WINBIND is not set; bench/run sets it)\n", "winbind anchor");
    }
    /* What a streamed listing holds between pages: the cache's bytes for it
     * (the members' DNs), per member; the page's objects are let go. */
    adb_dir_invalidate(d, NULL);
    adb_object_unref(big);
    if (adb_dir_get(d, "ADB\\big.group", NULL, ADB_KINDS_GROUP, &big, NULL, &err) != ADB_OK)
        bench_die("get big.group", &err);
    adb_dir_stats_get(d, &st0);
    op_big_group(d);
    adb_dir_stats_get(d, &st);
    printf("%-44s %.1f bytes per member (%zu members)\n", "held between pages of big.group, cache",
           (double)(st.cache.bytes - st0.cache.bytes) / (double)last_count, last_count);
summary:
    adb_dir_stats_get(d, &st);
    printf("%-44s connects=%lu reuses=%lu topology_reads=%lu cache entries=%zu bytes=%zu\n", "pool and cache",
           st.pool.connects, st.pool.reuses, st.topology_reads, st.cache.entries, st.cache.bytes);
    printf("\n%-44s %9s %9s %9s %10s %11s\n", "summary (p50)", "cold ms", "floor ms", "warm us", "cold/floor",
           "round trips");
    for (int i = 0; i < rows; i++)
        printf("%-44s %9.3f %9.3f %9.1f %9.2fx %11.1f\n", r[i].name, r[i].cold50 / 1000, r[i].floor50 / 1000,
               r[i].warm50, r[i].cold50 / r[i].floor50, r[i].round_trips);
    adb_object_unref(alice);
    adb_object_unref(big);
    adb_dir_free(d);
    if (lookups_only)
        goto out;

    long base = child_peak_kib(noop), peak = child_peak_kib(op_big_group), small = child_peak_kib(op_small_group);
    printf("%-44s %ld KiB (an idle directory: %ld KiB)\n", "peak RSS streaming big.group, cold", peak, base);
    /* Over a group of one member: the DNs held plus one page of 1000 objects,
     * so an upper bound of what each further member adds. */
    printf("%-44s %ld KiB; (big - one member) / 5000 = %.0f bytes per member at most\n",
           "peak RSS listing nest.L1 (1 member), cold", small, (double)(peak - small) * 1024 / 5000);

out:
    adb_ldap_close(floor_conn);
    adb_krb_free(floor_creds);
    free(sid_filter);
    bench_config_free(cfg, state);
    return 0;
}
