/* Integration: password checks against the testenv's KDCs and seeded
 * accounts (run by t-50-auth.sh, which sets ADB_TEST_*): every reason with
 * the krb5 error the KDC gave, the directory read that tells revoked cases
 * apart, a cross-forest user through the trust, an explicit KDC list,
 * verification against a keytab with a wrong key failing closed, a sealed
 * request opened by either of two instances, smart lockout keeping a
 * real account below AD's threshold, and an early check that sends nothing
 * to a KDC until it is let go.
 *
 * Wrong passwords: badpw.user (never locks out) takes most of them; alice
 * gets one, followed by her right password; the lockout test uses its own
 * throw-away user (ADB_TEST_LOCKOUT_USER). */
#include "config.h"

#include <adbridge/auth.h>
#include <adbridge/config.h>
#include <adbridge/directory.h>
#include <adbridge/keystore.h>
#include <adbridge/krb.h>
#include <adbridge/locator.h>
#include <adbridge/lockout.h>
#include <adbridge/pool.h>
#include <adbridge/pwcheck.h>
#include <adbridge/text.h>

#include <krb5/krb5.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#define PASSWORD "Adb.User-Passw0rd"

static const char *env(const char *name)
{
    const char *v = getenv(name);
    if (v == NULL || v[0] == '\0')
        fail_msg("%s is not set: run this through tests/integration/run.test", name);
    return v;
}

typedef struct fixture {
    adb_config *cfg;
    adb_krb *krb;
    adb_pwcheck *pc;
    adb_locator *loc;
    adb_pool *pool;
    adb_dir *dir;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    adb_error err = { 0 };

    if (adb_config_load(env("ADBRIDGE_CONFIG"), &f->cfg, &err) != ADB_OK
        || adb_krb_new(f->cfg->keytab, f->cfg->machine_principal, &f->krb, &err) != ADB_OK
        || adb_pwcheck_new(f->krb, NULL, &f->pc, &err) != ADB_OK) {
        print_message("# set-up: %s: %s\n", adb_code_name(err.code), err.message);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;

    adb_dir_free(f->dir);
    adb_pool_free(f->pool);
    adb_locator_free(f->loc);
    adb_pwcheck_free(f->pc);
    adb_krb_free(f->krb);
    adb_config_free(f->cfg);
    free(f);
    return 0;
}

/* The pool, built on first use (only the revoked cases need LDAP). */
static adb_pool *pool_of(fixture *f)
{
    adb_error err = { 0 };

    if (f->pool == NULL
        && (adb_krb_refresh(f->krb, false, &err) != ADB_OK || adb_locator_new(f->cfg, NULL, &f->loc, &err) != ADB_OK
            || adb_pool_new(f->loc, f->krb, NULL, NULL, &f->pool, &err) != ADB_OK))
        fail_msg("pool: %s: %s", adb_code_name(err.code), err.message);
    return f->pool;
}

/* The directory stack, built on first use (the checks through auth.h). */
static adb_dir *dir_of(fixture *f)
{
    adb_error err = { 0 };

    if (f->dir == NULL && adb_dir_open(f->cfg, NULL, NULL, &f->dir, &err) != ADB_OK)
        fail_msg("directory: %s: %s", adb_code_name(err.code), err.message);
    return f->dir;
}

/* A checker on the fixture's directory with instance keys ks (may be NULL). */
static adb_auth *auth_of(fixture *f, adb_keystore *ks)
{
    adb_auth *a;
    adb_error err = { 0 };

    if (adb_auth_new(dir_of(f), ks, f->cfg, NULL, &a, &err) != ADB_OK)
        fail_msg("auth: %s: %s", adb_code_name(err.code), err.message);
    return a;
}

static adb_secret *secret(const char *s)
{
    adb_secret *p;
    adb_error err = { 0 };

    assert_int_equal(adb_secret_from(s, strlen(s), &p, &err), ADB_OK);
    return p;
}

/* One check; prints the krb5 error and NTSTATUS for the record. */
static adb_code check_with(adb_pwcheck *pc, const char *user, const char *password, adb_pwcheck_result *r,
                           adb_error *err)
{
    adb_secret *pw = secret(password);
    adb_code rc = adb_pwcheck_password(pc, user, pw, r, err);

    adb_secret_free(pw);
    print_message("# %-28s -> %s%s (rc %s, krb5 %ld, ntstatus 0x%08X, kdc %s)%s%s\n", user,
                  adb_auth_reason_name(r->reason), r->needs_account_state ? " (provisional)" : "", adb_code_name(rc),
                  r->krb5_code, (unsigned)r->ntstatus, r->kdc[0] != '\0' ? r->kdc : "-",
                  err->message[0] != '\0' ? ": " : "", err->message);
    assert_null(strstr(err->message, password));
    return rc;
}

static adb_pwcheck_result check(fixture *f, const char *user, const char *password)
{
    adb_pwcheck_result r;
    adb_error err = { 0 };

    if (check_with(f->pc, user, password, &r, &err) != ADB_OK)
        fail_msg("%s: %s: %s", user, adb_code_name(err.code), err.message);
    return r;
}

static void test_ok_upn_and_bare_name(void **state)
{
    fixture *f = *state;
    adb_pwcheck_result r = check(f, "alice@adb.test", PASSWORD);

    assert_int_equal(r.reason, ADB_AUTH_OK);
    assert_int_equal(r.krb5_code, 0);
    assert_string_equal(r.principal, "alice@ADB.TEST");
    assert_string_equal(r.realm, "ADB.TEST");
    r = check(f, "alice", PASSWORD);
    assert_int_equal(r.reason, ADB_AUTH_OK);
    assert_string_equal(r.principal, "alice@ADB.TEST");
    /* Samba's KDC speaks FAST: the machine TGT armors the exchange. */
    assert_true(r.armored);
    print_message("# armored with FAST; fallback verification against %s\n", adb_pwcheck_verify_principal(f->pc));
    assert_non_null(strstr(adb_pwcheck_verify_principal(f->pc), "host/"));
}

/* Unarmored (as against a KDC without FAST): the answer is verified with
 * a ticket for the host keytab instead, and every outcome is still told
 * apart.  (The fallback from a failed armor to this path is exercised by
 * test_verification_fails_closed: its machine TGT cannot be fetched.) */
static void test_unarmored_fallback(void **state)
{
    fixture *f = *state;
    adb_krb *fresh;
    adb_pwcheck *pc;
    adb_pwcheck_result r;
    adb_error err = { 0 };

    if (adb_krb_new(f->cfg->keytab, f->cfg->machine_principal, &fresh, &err) != ADB_OK
        || adb_pwcheck_new(fresh, &(adb_pwcheck_options){ .unarmored = true }, &pc, &err) != ADB_OK)
        fail_msg("%s: %s", adb_code_name(err.code), err.message);
    if (check_with(pc, "alice@adb.test", PASSWORD, &r, &err) != ADB_OK)
        fail_msg("%s: %s", adb_code_name(err.code), err.message);
    assert_int_equal(r.reason, ADB_AUTH_OK);
    assert_false(r.armored);
    assert_int_equal(check_with(pc, "badpw.user@adb.test", "Wrong-Passw0rd-1", &r, &err), ADB_OK);
    assert_int_equal(r.reason, ADB_AUTH_INVALID_CREDENTIALS);
    assert_int_equal(check_with(pc, "nosuch.user@adb.test", PASSWORD, &r, &err), ADB_OK);
    assert_int_equal(r.reason, ADB_AUTH_UNKNOWN_USER);
    adb_pwcheck_free(pc);
    adb_krb_free(fresh);
}

static void test_wrong_password(void **state)
{
    fixture *f = *state;
    adb_pwcheck_result r = check(f, "badpw.user@adb.test", "Wrong-Passw0rd-1");

    assert_int_equal(r.reason, ADB_AUTH_INVALID_CREDENTIALS);
    assert_int_equal(r.krb5_code, KRB5KDC_ERR_PREAUTH_FAILED);
    assert_false(r.needs_account_state);
    /* alice: one wrong password, then the right one (AD resets her count). */
    r = check(f, "alice@adb.test", "Wrong-Passw0rd-1");
    assert_int_equal(r.reason, ADB_AUTH_INVALID_CREDENTIALS);
    r = check(f, "alice@adb.test", PASSWORD);
    assert_int_equal(r.reason, ADB_AUTH_OK);
}

static void test_unknown_user(void **state)
{
    fixture *f = *state;
    adb_pwcheck_result r = check(f, "nosuch.user@adb.test", PASSWORD);

    assert_int_equal(r.reason, ADB_AUTH_UNKNOWN_USER);
    assert_int_equal(r.krb5_code, KRB5KDC_ERR_C_PRINCIPAL_UNKNOWN);
    r = check(f, "nosuch.user", PASSWORD);
    assert_int_equal(r.reason, ADB_AUTH_UNKNOWN_USER);
}

typedef struct state_read {
    const char *user;
    adb_account_state st;
} state_read;

static adb_code read_state(adb_ldap_conn *c, void *arg, adb_error *err)
{
    state_read *r = arg;
    return adb_account_state_read(c, NULL, r->user, &r->st, NULL, err);
}

/* A check, completed with the account's state from the directory when the
 * KDC did not say why (as the directory operation will do). */
static adb_pwcheck_result check_resolved(fixture *f, const char *user)
{
    adb_pwcheck_result r = check(f, user, PASSWORD);
    state_read s = { .user = user };
    adb_error err = { 0 };

    if (r.needs_account_state) {
        if (adb_pool_run(pool_of(f), "adb.test", ADB_POOL_DC, read_state, &s, &err) != ADB_OK)
            fail_msg("state of %s: %s: %s", user, adb_code_name(err.code), err.message);
        adb_pwcheck_resolve(&r, &s.st, time(NULL));
        print_message("#   resolved from the directory (uac 0x%x, computed 0x%x, lockoutTime %lld): %s\n",
                      (unsigned)s.st.uac, (unsigned)s.st.uac_computed, (long long)s.st.lockout_time,
                      adb_auth_reason_name(r.reason));
    }
    return r;
}

static void test_account_states(void **state)
{
    fixture *f = *state;
    adb_pwcheck_result r;

    r = check_resolved(f, "disabled.user@adb.test");
    assert_int_equal(r.reason, ADB_AUTH_ACCOUNT_DISABLED);
    assert_int_equal(r.krb5_code, KRB5KDC_ERR_CLIENT_REVOKED);
    r = check_resolved(f, "locked.user@adb.test");
    assert_int_equal(r.reason, ADB_AUTH_ACCOUNT_LOCKED);
    assert_int_equal(r.krb5_code, KRB5KDC_ERR_CLIENT_REVOKED);
    r = check_resolved(f, "expired.user@adb.test");
    assert_int_equal(r.reason, ADB_AUTH_ACCOUNT_EXPIRED);
    assert_int_equal(r.krb5_code, KRB5KDC_ERR_CLIENT_REVOKED);
    r = check_resolved(f, "mustchange.user@adb.test");
    assert_int_equal(r.reason, ADB_AUTH_PASSWORD_MUST_CHANGE);
    assert_int_equal(r.krb5_code, KRB5KDC_ERR_KEY_EXP);
    r = check_resolved(f, "pwexpired.user@adb.test");
    assert_int_equal(r.reason, ADB_AUTH_PASSWORD_EXPIRED);
    assert_int_equal(r.krb5_code, KRB5KDC_ERR_KEY_EXP);
}

/* The directory alone tells them apart too (no NTSTATUS: as with a KDC
 * that sends none). */
static void test_state_from_directory(void **state)
{
    static const struct {
        const char *user;
        adb_auth_reason provisional, want;
    } cases[] = {
        { "disabled.user", ADB_AUTH_ACCOUNT_RESTRICTED, ADB_AUTH_ACCOUNT_DISABLED },
        { "locked.user", ADB_AUTH_ACCOUNT_RESTRICTED, ADB_AUTH_ACCOUNT_LOCKED },
        { "expired.user@adb.test", ADB_AUTH_ACCOUNT_RESTRICTED, ADB_AUTH_ACCOUNT_EXPIRED },
        { "alice", ADB_AUTH_ACCOUNT_RESTRICTED, ADB_AUTH_ACCOUNT_RESTRICTED },
        { "mustchange.user", ADB_AUTH_PASSWORD_EXPIRED, ADB_AUTH_PASSWORD_MUST_CHANGE },
        { "pwexpired.user", ADB_AUTH_PASSWORD_EXPIRED, ADB_AUTH_PASSWORD_EXPIRED },
    };
    fixture *f = *state;
    adb_error err = { 0 };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        state_read s = { .user = cases[i].user };
        if (adb_pool_run(pool_of(f), "adb.test", ADB_POOL_DC, read_state, &s, &err) != ADB_OK)
            fail_msg("%s: %s: %s", cases[i].user, adb_code_name(err.code), err.message);
        assert_int_equal(adb_account_state_reason(cases[i].provisional, &s.st, time(NULL)), cases[i].want);
    }
    {
        state_read s = { .user = "nosuch.user" };
        assert_int_equal(adb_pool_run(pool_of(f), "adb.test", ADB_POOL_DC, read_state, &s, &err), ADB_E_NOT_FOUND);
    }
}

static void test_cross_forest(void **state)
{
    fixture *f = *state;
    adb_pwcheck_result r = check(f, "pat.partner@partner.test", PASSWORD);

    assert_int_equal(r.reason, ADB_AUTH_OK);
    assert_string_equal(r.principal, "pat.partner@PARTNER.TEST");
    assert_string_equal(r.realm, "PARTNER.TEST");
    r = check(f, "pia.partner@partner.test", "Wrong-Passw0rd-1");
    assert_int_equal(r.reason, ADB_AUTH_INVALID_CREDENTIALS);
    r = check(f, "pia.partner@partner.test", PASSWORD);
    assert_int_equal(r.reason, ADB_AUTH_OK);
}

static void test_explicit_kdcs(void **state)
{
    const char *dc2[] = { env("ADB_TEST_DC2"), NULL }, *dead[] = { "127.0.0.1:1", NULL };
    adb_pwcheck_options o = { .kdcs = dc2 };
    fixture *f = *state;
    adb_pwcheck *pc;
    adb_pwcheck_result r;
    adb_error err = { 0 };
    char want[80];

    assert_int_equal(adb_pwcheck_new(f->krb, &o, &pc, &err), ADB_OK);
    assert_int_equal(check_with(pc, "alice@adb.test", PASSWORD, &r, &err), ADB_OK);
    assert_int_equal(r.reason, ADB_AUTH_OK);
    snprintf(want, sizeof want, "%s:88", env("ADB_TEST_DC2"));
    assert_string_equal(r.kdc, want);
    adb_pwcheck_free(pc);

    o.kdcs = dead;
    assert_int_equal(adb_pwcheck_new(f->krb, &o, &pc, &err), ADB_OK);
    assert_int_equal(check_with(pc, "alice@adb.test", PASSWORD, &r, &err), ADB_OK);
    assert_int_equal(r.reason, ADB_AUTH_DC_UNAVAILABLE);
    assert_int_equal(r.krb5_code, KRB5_KDC_UNREACH);
    assert_non_null(strstr(err.message, "127.0.0.1:1"));
    /* Replaced while running (the locator's answer changed). */
    assert_int_equal(adb_pwcheck_set_kdcs(pc, env("ADB_TEST_REALM"), dc2, &err), ADB_OK);
    assert_int_equal(check_with(pc, "alice@adb.test", PASSWORD, &r, &err), ADB_OK);
    assert_int_equal(r.reason, ADB_AUTH_OK);
    assert_string_equal(r.kdc, want);
    /* A realm reached by referral uses its own list: the partner's KDC is
     * "down", the referral to it is followed and fails there. */
    assert_int_equal(adb_pwcheck_set_kdcs(pc, env("ADB_TEST_PARTNER_REALM"), dead, &err), ADB_OK);
    assert_int_equal(check_with(pc, "pat.partner@partner.test", PASSWORD, &r, &err), ADB_OK);
    assert_int_equal(r.reason, ADB_AUTH_DC_UNAVAILABLE);
    assert_int_equal(adb_pwcheck_set_kdcs(pc, env("ADB_TEST_PARTNER_REALM"), NULL, &err), ADB_OK);
    assert_int_equal(check_with(pc, "pat.partner@partner.test", PASSWORD, &r, &err), ADB_OK);
    assert_int_equal(r.reason, ADB_AUTH_OK);
    adb_pwcheck_free(pc);
}

/* A keytab whose host key is not the one the KDC knows stands for a KDC
 * that does not know the host key (a spoofed one): the right password is
 * not accepted; the check fails closed with an error. */
static void test_verification_fails_closed(void **state)
{
    fixture *f = *state;
    adb_krb *wrong;
    adb_pwcheck *pc;
    adb_pwcheck_result r;
    adb_error err = { 0 };

    if (adb_krb_new(env("ADB_TEST_WRONG_HOST_KEYTAB"), f->cfg->machine_principal, &wrong, &err) != ADB_OK
        || adb_pwcheck_new(wrong, NULL, &pc, &err) != ADB_OK)
        fail_msg("%s: %s", adb_code_name(err.code), err.message);
    assert_int_not_equal(check_with(pc, "alice@adb.test", PASSWORD, &r, &err), ADB_OK);
    assert_int_equal(r.reason, ADB_AUTH_NONE);
    assert_int_equal(err.code, ADB_E_KERBEROS);
    assert_int_equal(r.krb5_code, KRB5KRB_AP_ERR_BAD_INTEGRITY);
    assert_non_null(strstr(err.message, "could not be verified"));
    /* A wrong password is still a wrong password (no verification needed). */
    assert_int_equal(check_with(pc, "badpw.user@adb.test", "Wrong-Passw0rd-1", &r, &err), ADB_OK);
    assert_int_equal(r.reason, ADB_AUTH_INVALID_CREDENTIALS);
    adb_pwcheck_free(pc);
    adb_krb_free(wrong);
}

/* The cloud seals the password for two registered instances; either one
 * opens its copy and checks it (adb_auth_check, the auth.password
 * operation); a request with only the other instance's copy is key_unknown
 * before any directory or Kerberos traffic; a plaintext password from a
 * message is refused unless the configuration allows it. */
static void test_sealed_request_two_instances(void **state)
{
    fixture *f = *state;
    char dir_a[300], dir_b[300];
    adb_keystore *ka_store, *kb_store;
    adb_auth *a, *b;
    adb_key_info ka, kb;
    adb_auth_result r;
    adb_dir_stats before, after;
    adb_auth_stats as;
    adb_error err = { 0 };
    char *sa, *sb;

    snprintf(dir_a, sizeof dir_a, "%s/instance-a", env("ADB_TEST_TMP"));
    snprintf(dir_b, sizeof dir_b, "%s/instance-b", env("ADB_TEST_TMP"));
    assert_int_equal(adb_keystore_open(dir_a, NULL, &ka_store, &err), ADB_OK);
    assert_int_equal(adb_keystore_open(dir_b, NULL, &kb_store, &err), ADB_OK);
    a = auth_of(f, ka_store);
    b = auth_of(f, kb_store);
    adb_keystore_current(ka_store, &ka);
    adb_keystore_current(kb_store, &kb);
    assert_int_equal(adb_seal_b64(ka.public_key, PASSWORD, strlen(PASSWORD), &sa, &err), ADB_OK);
    assert_int_equal(adb_seal_b64(kb.public_key, PASSWORD, strlen(PASSWORD), &sb, &err), ADB_OK);
    {
        adb_sealed_copy copies[] = { { ka.key_id, sa }, { kb.key_id, sb } };
        adb_auth_request req = { .user = "alice@adb.test", .sealed = copies, .n_sealed = 2, .include_groups = true };
        adb_auth *inst[] = { a, b };
        const char *ids[] = { ka.key_id, kb.key_id };
        for (int i = 0; i < 2; i++) {
            assert_int_equal(adb_auth_check(inst[i], &req, &r, &err), ADB_OK);
            assert_int_equal(r.reason, ADB_AUTH_OK);
            assert_string_equal(r.key_id, ids[i]);
            assert_non_null(r.user);
            assert_string_equal(r.user->sam_account_name, "alice");
            assert_true(r.groups.n > 0);   /* Domain Users at least */
            adb_auth_result_clear(&r);
        }
    }
    {
        /* Instance a rotates its key while the request sealed to the old one
         * is in flight: the old key opens it during its grace period. */
        adb_sealed_copy copies[] = { { ka.key_id, sa } };
        adb_auth_request req = { .user = "alice@adb.test", .sealed = copies, .n_sealed = 1 };
        adb_key_info fresh;
        assert_int_equal(adb_keystore_rotate(ka_store, 600, &fresh, &err), ADB_OK);
        assert_string_not_equal(fresh.key_id, ka.key_id);
        assert_int_equal(adb_auth_check(a, &req, &r, &err), ADB_OK);
        assert_int_equal(r.reason, ADB_AUTH_OK);
        assert_string_equal(r.key_id, ka.key_id);
        adb_auth_result_clear(&r);
    }
    {
        adb_sealed_copy only_b[] = { { kb.key_id, sb } };
        adb_auth_request req = { .user = "alice@adb.test", .sealed = only_b, .n_sealed = 1 };
        adb_dir_stats_get(dir_of(f), &before);
        assert_int_equal(adb_auth_check(a, &req, &r, &err), ADB_E_KEY_UNKNOWN);
        adb_dir_stats_get(dir_of(f), &after);
        assert_int_equal(r.reason, ADB_AUTH_NONE);
        /* Nothing was looked up: no cache lookup, no LDAP operation. */
        assert_int_equal(after.cache.hits + after.cache.misses + after.cache.negative_hits,
                         before.cache.hits + before.cache.misses + before.cache.negative_hits);
        assert_int_equal(after.pool.connects + after.pool.reuses, before.pool.connects + before.pool.reuses);
    }
    {
        adb_secret *pw = secret(PASSWORD);
        adb_auth_request req = { .user = "alice@adb.test", .password = pw, .plaintext_from_wire = true };
        assert_int_equal(adb_auth_check(a, &req, &r, &err), ADB_E_INVALID_REQUEST);
        assert_non_null(strstr(err.message, "allow_plaintext_password"));
        adb_secret_free(pw);
    }
    adb_auth_stats_get(a, &as);
    assert_int_equal(as.checks, 4);
    assert_int_equal(as.ok, 2);
    assert_int_equal(as.errors, 2);
    free(sa);
    free(sb);
    adb_auth_free(a);
    adb_auth_free(b);
    adb_keystore_free(ka_store);
    adb_keystore_free(kb_store);
}

typedef struct dc_read {
    const char *user;
    long long bad_pwd_count, lockout_time;
} dc_read;

/* badPwdCount is not replicated: read it on the DC whose KDC counted. */
static dc_read read_counters(fixture *f, const char *user)
{
    static const char *const attrs[] = { "badPwdCount", "lockoutTime", NULL };
    adb_ldap_target t = { .host = "dc1.adb.test", .address = env("ADB_TEST_DC1") };
    adb_ldap_conn *c;
    adb_ldap_entry *e;
    adb_error err = { 0 };
    dc_read d = { .user = user };
    char *dn, buf[32];
    adb_account_state st;

    if (adb_krb_refresh(f->krb, false, &err) != ADB_OK || adb_ldap_connect(&t, f->krb, NULL, &c, &err) != ADB_OK
        || adb_account_state_read(c, NULL, user, &st, &dn, &err) != ADB_OK
        || adb_ldap_read(c, dn, NULL, attrs, &e, &err) != ADB_OK)
        fail_msg("counters of %s: %s: %s", user, adb_code_name(err.code), err.message);
    d.bad_pwd_count = adb_ldap_entry_str(e, "badPwdCount", buf, sizeof buf) != NULL ? atoll(buf) : 0;
    d.lockout_time = adb_ldap_entry_str(e, "lockoutTime", buf, sizeof buf) != NULL ? atoll(buf) : 0;
    adb_ldap_entry_free(e);
    free(dn);
    adb_ldap_close(c);
    return d;
}

static time_t lockout_now;

static time_t lockout_clock(void *arg)
{
    (void)arg;
    return lockout_now;
}

typedef struct policy_read {
    adb_lockout_ad_policy p;
} policy_read;

static adb_code read_policy(adb_ldap_conn *c, void *arg, adb_error *err)
{
    return adb_lockout_read_policy(c, "DC=adb,DC=test", NULL, &((policy_read *)arg)->p, err);
}

typedef struct user_policy_read {
    const char *user;
    adb_lockout_ad_policy p;
} user_policy_read;

static adb_code read_user_policy(adb_ldap_conn *c, void *arg, adb_error *err)
{
    user_policy_read *r = arg;
    adb_account_state st;
    char *dn;
    adb_code rc = adb_account_state_read(c, NULL, r->user, &st, &dn, err);

    if (rc == ADB_OK)
        rc = adb_lockout_read_policy(c, "DC=adb,DC=test", dn, &r->p, err);
    free(dn);
    return rc;
}

/* alice is under the domain's policy (5 in 30 minutes); badpw.user under
 * the PSO "No Lockout", which the machine account may not read (AD's
 * default permissions): unknown, so the bridge is as careful as it can be. */
static void test_lockout_policy_per_user(void **state)
{
    fixture *f = *state;
    user_policy_read alice = { .user = "alice" }, badpw = { .user = "badpw.user" };
    adb_error err = { 0 };

    assert_int_equal(adb_pool_run(pool_of(f), "adb.test", ADB_POOL_DC, read_user_policy, &alice, &err), ADB_OK);
    assert_int_equal(adb_pool_run(pool_of(f), "adb.test", ADB_POOL_DC, read_user_policy, &badpw, &err), ADB_OK);
    print_message("# lockout policy: alice threshold %u window %ld s; badpw.user %s\n", alice.p.threshold,
                  alice.p.window_s, badpw.p.pso_unreadable ? "under a PSO the machine account cannot read" : "?");
    assert_true(alice.p.known);
    assert_false(alice.p.pso_unreadable);
    assert_int_equal(alice.p.threshold, 5);
    assert_int_equal(alice.p.window_s, 1800);
    if (badpw.p.known)   /* readable where an admin granted it */
        assert_int_equal(badpw.p.threshold, 0);
    else
        assert_true(badpw.p.pso_unreadable);
}

/* One check through adb_auth_check, as the auth.password operation runs it. */
static adb_auth_reason auth_check(adb_auth *a, const char *user, const char *password, time_t *retry_at)
{
    adb_secret *pw = secret(password);
    adb_auth_request req = { .user = user, .password = pw };
    adb_auth_result r;
    adb_auth_reason reason;
    adb_error err = { 0 };

    if (adb_auth_check(a, &req, &r, &err) != ADB_OK)
        fail_msg("%s: %s: %s", user, adb_code_name(err.code), err.message);
    adb_secret_free(pw);
    reason = r.reason;
    if (retry_at != NULL)
        *retry_at = r.retry_at;
    adb_auth_result_clear(&r);
    return reason;
}

/* AD's threshold 5, the bridge's 3 (margin 2): five different wrong
 * passwords through the bridge reach AD only three times, the account is not locked, and after the
 * window the right password works. */
static void test_smart_lockout(void **state)
{
    fixture *f = *state;
    const char *user = env("ADB_TEST_LOCKOUT_USER");
    adb_auth *a = auth_of(f, NULL);
    policy_read pr;
    adb_error err = { 0 };
    time_t retry = 0, t0;
    int reached_ad = 0, refused = 0;
    dc_read d;

    assert_int_equal(adb_pool_run(pool_of(f), "adb.test", ADB_POOL_DC, read_policy, &pr, &err), ADB_OK);
    assert_int_equal(pr.p.threshold, 5);
    assert_int_equal(pr.p.window_s, 1800);
    assert_int_equal(adb_auth_set_clock(a, (adb_clock){ lockout_clock, NULL }, &err), ADB_OK);
    lockout_now = t0 = time(NULL);
    for (int i = 0; i < 5; i++) {
        time_t r_at = 0;
        char wrong[32];
        adb_auth_reason r;
        /* A different wrong password each time: a repeated one is answered
         * from memory and would never reach AD. */
        snprintf(wrong, sizeof wrong, "Wrong-Passw0rd-%d", i);
        r = auth_check(a, user, wrong, &r_at);
        if (r == ADB_AUTH_LOCKED_BY_BRIDGE) {
            refused++;
            retry = r_at;
        } else if (r == ADB_AUTH_INVALID_CREDENTIALS) {
            reached_ad++;
        } else {
            fail_msg("attempt %d: %s", i, adb_auth_reason_name(r));
        }
        lockout_now += 10;
    }
    assert_int_equal(reached_ad, 3);
    assert_int_equal(refused, 2);
    assert_int_equal(retry, t0 + 20 + 1800);   /* the window from the last failure */
    d = read_counters(f, user);
    print_message("# after 5 wrong attempts through the bridge: badPwdCount %lld, lockoutTime %lld on DC1\n",
                  d.bad_pwd_count, d.lockout_time);
    assert_int_equal(d.bad_pwd_count, 3);
    assert_int_equal(d.lockout_time, 0);
    /* Even the right password is refused by the bridge inside the window;
     * another name of the same user counts together (keyed by SID). */
    assert_int_equal(auth_check(a, user, PASSWORD, NULL), ADB_AUTH_LOCKED_BY_BRIDGE);
    {
        char upn[300];
        snprintf(upn, sizeof upn, "ADB\\%s", user);
        assert_int_equal(auth_check(a, upn, PASSWORD, NULL), ADB_AUTH_LOCKED_BY_BRIDGE);
    }
    lockout_now = retry;
    assert_int_equal(auth_check(a, user, PASSWORD, NULL), ADB_AUTH_OK);
    d = read_counters(f, user);
    assert_int_equal(d.bad_pwd_count, 0);
    adb_auth_free(a);
}

/* A check begun early (adb_pwcheck_begin): cancelled, it sends nothing
 * to a KDC -- the throw-away user's badPwdCount does not move, though one
 * let go with the same wrong password moves it by one (so the reading can
 * tell); the right password, let go, is ok and armored. */
static adb_code early_check(adb_pwcheck *pc, const char *user, const char *password, bool go,
                            adb_pwcheck_result *r)
{
    adb_secret *pw = secret(password);
    adb_pwcheck_early *e = NULL;
    adb_error err = { 0 };
    adb_code rc;

    memset(r, 0, sizeof *r);
    assert_int_equal(adb_pwcheck_begin(pc, user, pw, &e, &err), ADB_OK);
    adb_secret_free(pw);   /* the early check keeps its own copy */
    usleep(500 * 1000);    /* its set-up is done: it waits at the gate */
    rc = adb_pwcheck_finish(e, go, r, &err);
    print_message("# early %-6s %s -> %s (rc %s, key %s)\n", go ? "go" : "cancel", user,
                  adb_auth_reason_name(r->reason), adb_code_name(rc), r->key_ahead ? "ahead" : "after the answer");
    return rc;
}

static void test_early_check(void **state)
{
    fixture *f = *state;
    const char *user = env("ADB_TEST_LOCKOUT_USER");
    const char *const dc1[] = { env("ADB_TEST_DC1"), NULL };
    adb_pwcheck_options o = { .kdcs = dc1 };   /* the DC whose count read_counters reads */
    adb_pwcheck *pc;
    adb_pwcheck_result r;
    adb_error err = { 0 };
    char upn[300];
    long long c0;

    assert_int_equal(adb_pwcheck_new(f->krb, &o, &pc, &err), ADB_OK);
    snprintf(upn, sizeof upn, "%s@adb.test", user);
    c0 = read_counters(f, user).bad_pwd_count;
    assert_int_equal(early_check(pc, upn, "Wrong-Passw0rd-early", false, &r), ADB_OK);
    assert_int_equal(r.reason, ADB_AUTH_NONE);   /* untouched */
    usleep(300 * 1000);
    assert_int_equal(read_counters(f, user).bad_pwd_count, c0);
    assert_int_equal(early_check(pc, upn, "Wrong-Passw0rd-early", true, &r), ADB_OK);
    assert_int_equal(r.reason, ADB_AUTH_INVALID_CREDENTIALS);
    assert_int_equal(read_counters(f, user).bad_pwd_count, c0 + 1);
    assert_true(r.key_ahead);   /* the wrong password's key, derived before the go: counted once */
    assert_int_equal(early_check(pc, upn, PASSWORD, true, &r), ADB_OK);
    assert_int_equal(r.reason, ADB_AUTH_OK);
    assert_true(r.armored);
    assert_true(r.key_ahead);
    assert_int_equal(read_counters(f, user).bad_pwd_count, 0);
    /* A name in other case: the salt guessed from it is wrong (AD's salt
     * keeps the account's case), so the key comes from the KDC's salt after
     * the first answer -- still one request with the key, counted once. */
    {
        char upper[256];
        adb_ascii_case_copy(upper, sizeof upper, user, true);
        snprintf(upn, sizeof upn, "%s@adb.test", upper);
    }
    assert_int_equal(early_check(pc, upn, "Wrong-Passw0rd-early", true, &r), ADB_OK);
    assert_int_equal(r.reason, ADB_AUTH_INVALID_CREDENTIALS);
    assert_false(r.key_ahead);
    assert_int_equal(read_counters(f, user).bad_pwd_count, 1);
    assert_int_equal(early_check(pc, upn, PASSWORD, true, &r), ADB_OK);
    assert_int_equal(r.reason, ADB_AUTH_OK);
    assert_false(r.key_ahead);
    assert_int_equal(read_counters(f, user).bad_pwd_count, 0);
    /* Another forest's user: the referral's realm and salt. */
    assert_int_equal(early_check(pc, "pat.partner@partner.test", PASSWORD, true, &r), ADB_OK);
    assert_int_equal(r.reason, ADB_AUTH_OK);
    assert_string_equal(r.realm, "PARTNER.TEST");
    assert_true(r.key_ahead);
    snprintf(upn, sizeof upn, "%s@adb.test", user);
    /* Cancelled at once, maybe still setting up: freeing the checker
     * waits for the thread. */
    {
        adb_secret *pw = secret(PASSWORD);
        adb_pwcheck_early *e = NULL;
        assert_int_equal(adb_pwcheck_begin(pc, upn, pw, &e, &err), ADB_OK);
        adb_secret_free(pw);
        assert_int_equal(adb_pwcheck_finish(e, false, NULL, NULL), ADB_OK);
    }
    adb_pwcheck_free(pc);
}

/* Run alone under libfaketime (FAKETIME=+10m, see t-50-auth.sh). */
static void test_clock_skew(void **state)
{
    fixture *f = *state;
    adb_pwcheck_result r = check(f, "alice@adb.test", PASSWORD);

    assert_int_equal(r.reason, ADB_AUTH_CLOCK_SKEW);
    assert_int_equal(r.krb5_code, KRB5KRB_AP_ERR_SKEW);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ok_upn_and_bare_name),
        cmocka_unit_test(test_wrong_password),
        cmocka_unit_test(test_unknown_user),
        cmocka_unit_test(test_account_states),
        cmocka_unit_test(test_state_from_directory),
        cmocka_unit_test(test_cross_forest),
        cmocka_unit_test(test_explicit_kdcs),
        cmocka_unit_test(test_verification_fails_closed),
        cmocka_unit_test(test_unarmored_fallback),
        cmocka_unit_test(test_sealed_request_two_instances),
        cmocka_unit_test(test_lockout_policy_per_user),
        cmocka_unit_test(test_smart_lockout),
        cmocka_unit_test(test_early_check),
        cmocka_unit_test(test_clock_skew),
    };
    /* The clock skew case needs a faked clock, every other case a true one. */
    if (getenv("FAKETIME") != NULL)
        cmocka_set_test_filter("test_clock_skew");
    else
        cmocka_set_skip_filter("test_clock_skew");
    return cmocka_run_group_tests(tests, setup, teardown);
}
