/* LDAP floor: bind time, per-search latency over one warm sealed connection
 * (and the same two over LDAPS), and pool throughput with N concurrent
 * searches, against the testenv's DC1.
 * Beside it, the same search with ldapsearch(1) is timed by bench/run. */
#include "config.h"

#include "stats.h"

#include <adbridge/krb.h>
#include <adbridge/ldap_conn.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static adb_ldap_target target;
static adb_krb *creds;

static double one_search(adb_ldap_conn *c, const char *filter)
{
    const char *attrs[] = { "sAMAccountName", "objectSid", NULL };
    adb_ldap_search *s;
    adb_ldap_entry *e;
    adb_error err = { 0 };
    double t0 = bench_now_us();

    if (adb_ldap_search_begin(c, "DC=adb,DC=test", ADB_LDAP_SCOPE_SUBTREE, filter, attrs, 0, &s, &err) != ADB_OK)
        bench_die("search", &err);
    while (adb_ldap_search_next(s, &e, &err) == ADB_OK && e != NULL)
        adb_ldap_entry_free(e);
    if (err.code != ADB_OK)
        bench_die("search", &err);
    adb_ldap_search_end(s);
    return bench_now_us() - t0;
}

enum { THREAD_SEARCHES = 200 };

static void *worker(void *arg)
{
    adb_ldap_conn *c;
    adb_error err = { 0 };

    (void)arg;
    if (adb_ldap_connect(&target, creds, NULL, &c, &err) != ADB_OK)
        bench_die("connect", &err);
    for (int i = 0; i < THREAD_SEARCHES; i++)
        one_search(c, "(sAMAccountName=alice)");
    adb_ldap_close(c);
    return NULL;
}

int main(int argc, char **argv)
{
    int iterations = argc > 1 ? atoi(argv[1]) : 500;
    char principal[256];
    bench_samples s = { 0 };
    adb_error err = { 0 };
    adb_ldap_conn *c;

    snprintf(principal, sizeof principal, "%s$@%s", bench_need("ADB_TEST_MACHINE"), bench_need("ADB_TEST_REALM"));
    target.host = "dc1.adb.test";
    target.address = bench_need("ADB_TEST_DC1");

    for (int i = 0; i < 20; i++) {
        double t0 = bench_now_us();
        if (adb_krb_new(bench_need("ADB_TEST_KEYTAB"), principal, &creds, &err) != ADB_OK
            || adb_krb_refresh(creds, true, &err) != ADB_OK)
            bench_die("kinit", &err);
        bench_add(&s, bench_now_us() - t0);
        if (i < 19)
            adb_krb_free(creds);
    }
    bench_report("machine TGT from keytab (AS exchange)", &s);

    for (int i = 0; i < 50; i++) {
        double t0 = bench_now_us();
        if (adb_ldap_connect(&target, creds, NULL, &c, &err) != ADB_OK)
            bench_die("connect", &err);
        bench_add(&s, bench_now_us() - t0);
        adb_ldap_close(c);
    }
    bench_report("connect + GSSAPI bind (sealed), warm TGT", &s);

    if (adb_ldap_connect(&target, creds, NULL, &c, &err) != ADB_OK)
        bench_die("connect", &err);
    printf("%-44s ssf=%u\n", "negotiated security strength", adb_ldap_ssf(c));
    for (int i = 0; i < iterations; i++)
        bench_add(&s, one_search(c, "(sAMAccountName=alice)"));
    bench_report("search by sAMAccountName, warm connection", &s);
    for (int i = 0; i < iterations; i++)
        bench_add(&s, one_search(c, "(objectSid=S-1-5-32-544)"));
    bench_report("search by SID string, warm connection", &s);
    adb_ldap_close(c);

    /* The same over LDAPS (ldap.tls = ldaps with the testenv's CA bundle):
     * TLS protects, GSSAPI only authenticates; beside the sealed figures. */
    {
        adb_ldap_options tls = { .tls = ADB_LDAP_TLS_LDAPS, .ca_file = bench_need("ADB_TEST_DC_CA") };
        for (int i = 0; i < 50; i++) {
            double t0 = bench_now_us();
            if (adb_ldap_connect(&target, creds, &tls, &c, &err) != ADB_OK)
                bench_die("connect (ldaps)", &err);
            bench_add(&s, bench_now_us() - t0);
            adb_ldap_close(c);
        }
        bench_report("connect + LDAPS + GSSAPI bind, warm TGT", &s);
        if (adb_ldap_connect(&target, creds, &tls, &c, &err) != ADB_OK)
            bench_die("connect (ldaps)", &err);
        printf("%-44s %s\n", "LDAPS protection", adb_ldap_protection(c));
        for (int i = 0; i < iterations; i++)
            bench_add(&s, one_search(c, "(sAMAccountName=alice)"));
        bench_report("search by sAMAccountName, warm LDAPS conn.", &s);
        adb_ldap_close(c);
    }

    for (int threads = 1; threads <= 8; threads *= 2) {
        pthread_t t[8];
        double t0 = bench_now_us(), secs;
        for (int i = 0; i < threads; i++)
            pthread_create(&t[i], NULL, worker, NULL);
        for (int i = 0; i < threads; i++)
            pthread_join(t[i], NULL);
        secs = (bench_now_us() - t0) / 1e6;
        printf("%-44s threads=%d searches=%d  %.0f searches/s\n", "throughput, one connection per thread",
               threads, threads * THREAD_SEARCHES, threads * THREAD_SEARCHES / secs);
    }
    adb_krb_free(creds);
    return 0;
}
