/* Password checks: latency of a right and of a wrong password through
 * adb_pwcheck (AS exchange + verification against the host keytab), beside
 * kinit(1) of the same user in the same run (AS exchange only, a new
 * process each time); the whole auth.password flow (adb_auth_check: user
 * lookup, lockout policy read, KDCs from the locator, check); and the cost
 * of opening a sealed copy. */
#include "config.h"

#include "stats.h"

#include <adbridge/auth.h>
#include <adbridge/config.h>
#include <adbridge/directory.h>
#include <adbridge/keystore.h>
#include <adbridge/krb.h>
#include <adbridge/pwcheck.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PASSWORD "Adb.User-Passw0rd"
#define WRONG "Wrong-Passw0rd-1"

static void run_checks(adb_pwcheck *pc, const char *name, const char *user, const char *password,
                       adb_auth_reason want, int n)
{
    bench_samples s = { 0 };
    adb_secret *pw;
    adb_error err = { 0 };

    if (adb_secret_from(password, strlen(password), &pw, &err) != ADB_OK)
        bench_die("secret", &err);
    for (int i = 0; i < n; i++) {
        adb_pwcheck_result r;
        double t0 = bench_now_us();
        if (adb_pwcheck_password(pc, user, pw, &r, &err) != ADB_OK)
            bench_die(user, &err);
        bench_add(&s, bench_now_us() - t0);
        if (r.reason != want) {
            fprintf(stderr, "bench_auth: %s: %s, expected %s\n", user, adb_auth_reason_name(r.reason),
                    adb_auth_reason_name(want));
            exit(2);
        }
    }
    adb_secret_free(pw);
    bench_report(name, &s);
}

/* kinit -E (enterprise name, like the bridge) with the password on stdin,
 * the ticket into a throw-away memory cache. */
static void run_kinit(const char *name, const char *user, const char *password, int n)
{
    bench_samples s = { 0 };
    char cmd[512];

    snprintf(cmd, sizeof cmd, "kinit -c MEMORY:bench -E '%s' >/dev/null 2>&1", user);
    for (int i = 0; i < n; i++) {
        double t0 = bench_now_us();
        FILE *p = popen(cmd, "w");
        if (p == NULL) {
            perror("bench_auth: kinit");
            exit(2);
        }
        fprintf(p, "%s\n", password);
        pclose(p);
        bench_add(&s, bench_now_us() - t0);
    }
    bench_report(name, &s);
}

/* adb_auth_check end to end, sealed copy included. */
static void run_auth_flow(const char *name, const char *user, const char *password, adb_auth_reason want, int n)
{
    char dir[] = "/tmp/adb-bench-auth-XXXXXX", cmd[64], *sealed;
    bench_samples s = { 0 };
    adb_config *cfg;
    adb_dir *d;
    adb_keystore *ks;
    adb_auth *a;
    adb_key_info k;
    adb_error err = { 0 };

    if (adb_config_load(bench_need("ADBRIDGE_CONFIG"), &cfg, &err) != ADB_OK
        || adb_dir_open(cfg, NULL, NULL, &d, &err) != ADB_OK || mkdtemp(dir) == NULL
        || adb_keystore_open(dir, NULL, &ks, &err) != ADB_OK || adb_auth_new(d, ks, cfg, NULL, &a, &err) != ADB_OK)
        bench_die("auth set-up", &err);
    adb_keystore_current(ks, &k);
    if (adb_seal_b64(k.public_key, password, strlen(password), &sealed, &err) != ADB_OK)
        bench_die("seal", &err);
    for (int i = 0; i < n; i++) {
        adb_sealed_copy copy = { k.key_id, sealed };
        adb_auth_request req = { .user = user, .sealed = &copy, .n_sealed = 1 };
        adb_auth_result r;
        double t0 = bench_now_us();
        if (adb_auth_check(a, &req, &r, &err) != ADB_OK)
            bench_die(user, &err);
        bench_add(&s, bench_now_us() - t0);
        if (r.reason != want && !(i > 0 && r.reason == ADB_AUTH_LOCKED_BY_BRIDGE)) {
            fprintf(stderr, "bench_auth: %s: %s, expected %s\n", user, adb_auth_reason_name(r.reason),
                    adb_auth_reason_name(want));
            exit(2);
        }
        adb_auth_result_clear(&r);
    }
    bench_report(name, &s);
    free(sealed);
    adb_auth_free(a);
    adb_keystore_free(ks);
    adb_dir_free(d);
    adb_config_free(cfg);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench_auth: could not remove %s\n", dir);
}

static void run_open_sealed(int n)
{
    char dir[] = "/tmp/adb-bench-keys-XXXXXX", used[ADB_KEY_ID_SIZE], cmd[64];
    bench_samples s = { 0 };
    adb_keystore *ks;
    adb_key_info k;
    adb_error err = { 0 };
    char *sealed;

    if (mkdtemp(dir) == NULL || adb_keystore_open(dir, NULL, &ks, &err) != ADB_OK)
        bench_die("keystore", &err);
    adb_keystore_current(ks, &k);
    if (adb_seal_b64(k.public_key, PASSWORD, strlen(PASSWORD), &sealed, &err) != ADB_OK)
        bench_die("seal", &err);
    for (int i = 0; i < n; i++) {
        adb_sealed_copy copies[] = { { "another-instance-key-id", "AAAA" }, { k.key_id, sealed } };
        adb_secret *pw;
        double t0 = bench_now_us();
        if (adb_keystore_open_request(ks, copies, 2, &pw, used, &err) != ADB_OK)
            bench_die("open", &err);
        adb_secret_free(pw);
        bench_add(&s, bench_now_us() - t0);
    }
    bench_report("open a sealed copy into secret memory", &s);
    free(sealed);
    adb_keystore_free(ks);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench_auth: could not remove %s\n", dir);
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 50;
    char principal[256];
    adb_krb *k;
    adb_pwcheck *pc;
    adb_error err = { 0 };

    snprintf(principal, sizeof principal, "%s$@%s", bench_need("ADB_TEST_MACHINE"), bench_need("ADB_TEST_REALM"));
    if (adb_krb_new(bench_need("ADB_TEST_KEYTAB"), principal, &k, &err) != ADB_OK
        || adb_pwcheck_new(k, NULL, &pc, &err) != ADB_OK)
        bench_die("set-up", &err);
    printf("%-44s %s\n", "verification principal", adb_pwcheck_verify_principal(pc));
    /* badpw.user never locks out (PSO); alice's count is reset by her
     * right password, checked first and last. */
    run_checks(pc, "pwcheck right password (alice@adb.test)", "alice@adb.test", PASSWORD, ADB_AUTH_OK, n);
    run_kinit("kinit -E right password (alice@adb.test)", "alice@adb.test", PASSWORD, n);
    run_checks(pc, "pwcheck wrong password (badpw.user)", "badpw.user@adb.test", WRONG,
               ADB_AUTH_INVALID_CREDENTIALS, n);
    run_kinit("kinit -E wrong password (badpw.user)", "badpw.user@adb.test", WRONG, n);
    run_checks(pc, "pwcheck right password, cross-forest", "pat.partner@partner.test", PASSWORD, ADB_AUTH_OK, n / 2);
    run_auth_flow("auth.password flow, right password (alice)", "alice@adb.test", PASSWORD, ADB_AUTH_OK, n);
    /* badpw.user's PSO is unreadable to the machine account, so the bridge
     * allows one failure and refuses the rest: the refusal's cost. */
    run_auth_flow("auth.password flow, wrong then locked_by_bridge", "badpw.user@adb.test", WRONG,
                  ADB_AUTH_INVALID_CREDENTIALS, n);
    run_open_sealed(1000);
    adb_pwcheck_free(pc);
    adb_krb_free(k);
    return 0;
}
