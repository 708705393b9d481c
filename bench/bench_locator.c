/* DC locator: time to locate adb.test cold (DNS SRV + A + parallel CLDAP
 * pings, a new locator each time) and warm (answered from the cache), and the
 * CLDAP ping round trip to each DC alone.  Against the testenv (bench/run). */
#include "config.h"

#include "stats.h"

#include <adbridge/cldap.h>
#include <adbridge/config.h>
#include <adbridge/locator.h>

#include <stdio.h>
#include <stdlib.h>

static void die(const char *what, const adb_error *err)
{
    fprintf(stderr, "bench_locator: %s: %s: %s\n", what, adb_code_name(err->code), err->message);
    exit(2);
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 200;
    const char *path = getenv("ADBRIDGE_CONFIG");
    bench_samples s = { 0 };
    adb_error err = { 0 };
    adb_config *cfg;
    adb_locator *loc;
    adb_dc_list l;

    if (path == NULL || adb_config_load(path, &cfg, &err) != ADB_OK)
        die("configuration ($ADBRIDGE_CONFIG, run through bench/run)", &err);
    for (int i = 0; i < n; i++) {
        double t0 = bench_now_us();
        if (adb_locator_new(cfg, NULL, &loc, &err) != ADB_OK
            || adb_locator_get(loc, "adb.test", ADB_LOCATE_DEFAULT, NULL, &l, &err) != ADB_OK)
            die("locate", &err);
        bench_add(&s, bench_now_us() - t0);
        adb_dc_list_free(&l);
        adb_locator_free(loc);
    }
    bench_report("locate adb.test cold (DNS + pings)", &s);

    if (adb_locator_new(cfg, NULL, &loc, &err) != ADB_OK
        || adb_locator_get(loc, "adb.test", ADB_LOCATE_DEFAULT, NULL, &l, &err) != ADB_OK)
        die("locate", &err);
    adb_dc_list_free(&l);
    for (int i = 0; i < n * 50; i++) {
        double t0 = bench_now_us();
        if (adb_locator_get(loc, "adb.test", ADB_LOCATE_DEFAULT, NULL, &l, &err) != ADB_OK)
            die("locate", &err);
        bench_add(&s, bench_now_us() - t0);
        adb_dc_list_free(&l);
    }
    bench_report("locate adb.test warm (cached)", &s);
    adb_locator_free(loc);

    const char *dcs[] = { getenv("ADB_TEST_DC1"), getenv("ADB_TEST_DC2") };
    for (int d = 0; d < 2; d++) {
        if (dcs[d] == NULL)
            continue;
        for (int i = 0; i < n; i++) {
            adb_cldap_ping p = { .address = dcs[d] };
            if (adb_cldap_ping_all(&p, 1, "adb.test", 1000, &err) != ADB_OK || p.code != ADB_OK) {
                fprintf(stderr, "bench_locator: ping %s: %s\n", dcs[d], p.error);
                exit(2);
            }
            bench_add(&s, p.rtt_us);
        }
        char name[64];
        snprintf(name, sizeof name, "CLDAP ping round trip, DC%d", d + 1);
        bench_report(name, &s);
    }
    adb_config_free(cfg);
    return 0;
}
