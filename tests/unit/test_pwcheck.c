/* Password checks without a KDC: the reason for each krb5 error and
 * NTSTATUS, the NTSTATUS decoder on e-data as Samba sends it (and broken
 * e-data), the account-state disambiguation, input checks, and the
 * configuration overlay's explicit KDC list (a dead loopback KDC gives
 * dc_unavailable), and the etype info read from krb5's trace that decides
 * which key an early check may offer. */
#include "config.h"

#include <adbridge/pwcheck.h>

#include "../../src/ad/pwcheck_internal.h"

#include <krb5/krb5.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "entry_fixture.h"

static char dir[] = "/tmp/adb-pwcheck-XXXXXX";
static char keytab[300], krb5conf[300];

/* A keytab with random keys for TESTHOST$ and host/testhost.test.invalid,
 * and a krb5.conf that never looks KDCs up in DNS. */
static int setup(void **state)
{
    static const char *const names[] = { "TESTHOST$@TEST.INVALID", "host/testhost.test.invalid@TEST.INVALID" };
    krb5_context ctx;
    krb5_keytab kt;
    FILE *f;

    (void)state;
    if (mkdtemp(dir) == NULL)
        return -1;
    snprintf(keytab, sizeof keytab, "%s/test.keytab", dir);
    snprintf(krb5conf, sizeof krb5conf, "%s/krb5.conf", dir);
    if ((f = fopen(krb5conf, "w")) == NULL)
        return -1;
    fprintf(f, "[libdefaults]\n default_realm = TEST.INVALID\n dns_lookup_kdc = false\n dns_lookup_realm = false\n"
               " udp_preference_limit = 0\n");
    fclose(f);
    setenv("KRB5_CONFIG", krb5conf, 1);
    if (krb5_init_context(&ctx) != 0 || krb5_kt_resolve(ctx, keytab, &kt) != 0)
        return -1;
    for (size_t i = 0; i < 2; i++) {
        krb5_keytab_entry e;
        memset(&e, 0, sizeof e);
        if (krb5_parse_name(ctx, names[i], &e.principal) != 0
            || krb5_c_make_random_key(ctx, ENCTYPE_AES256_CTS_HMAC_SHA1_96, &e.key) != 0)
            return -1;
        e.vno = 2;
        if (krb5_kt_add_entry(ctx, kt, &e) != 0)
            return -1;
        krb5_free_principal(ctx, e.principal);
        krb5_free_keyblock_contents(ctx, &e.key);
    }
    krb5_kt_close(ctx, kt);
    krb5_free_context(ctx);
    return 0;
}

static int teardown(void **state)
{
    char cmd[128];
    (void)state;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_reason_names(void **state)
{
    (void)state;
    assert_string_equal(adb_auth_reason_name(ADB_AUTH_NONE), "none");
    assert_string_equal(adb_auth_reason_name(ADB_AUTH_OK), "ok");
    assert_string_equal(adb_auth_reason_name(ADB_AUTH_LOCKED_BY_BRIDGE), "locked_by_bridge");
    assert_string_equal(adb_auth_reason_name((adb_auth_reason)999), "none");
    for (int i = 0; i < ADB_AUTH_REASON_COUNT_; i++)
        for (int j = i + 1; j < ADB_AUTH_REASON_COUNT_; j++)
            assert_string_not_equal(adb_auth_reason_name((adb_auth_reason)i), adb_auth_reason_name((adb_auth_reason)j));
}

static void test_reason_from_krb5(void **state)
{
    static const struct {
        long code;
        uint32_t ntstatus;
        adb_auth_reason reason;
        bool needs;
    } cases[] = {
        { 0, 0, ADB_AUTH_OK, false },
        { KRB5KDC_ERR_PREAUTH_FAILED, 0, ADB_AUTH_INVALID_CREDENTIALS, false },
        { KRB5KDC_ERR_PREAUTH_FAILED, ADB_NTSTATUS_WRONG_PASSWORD, ADB_AUTH_INVALID_CREDENTIALS, false },
        { KRB5KRB_AP_ERR_BAD_INTEGRITY, 0, ADB_AUTH_INVALID_CREDENTIALS, false },
        { KRB5KDC_ERR_C_PRINCIPAL_UNKNOWN, 0, ADB_AUTH_UNKNOWN_USER, false },
        { KRB5KDC_ERR_CLIENT_REVOKED, ADB_NTSTATUS_ACCOUNT_DISABLED, ADB_AUTH_ACCOUNT_DISABLED, false },
        { KRB5KDC_ERR_CLIENT_REVOKED, ADB_NTSTATUS_ACCOUNT_LOCKED_OUT, ADB_AUTH_ACCOUNT_LOCKED, false },
        { KRB5KDC_ERR_CLIENT_REVOKED, ADB_NTSTATUS_ACCOUNT_EXPIRED, ADB_AUTH_ACCOUNT_EXPIRED, false },
        { KRB5KDC_ERR_CLIENT_REVOKED, ADB_NTSTATUS_INVALID_LOGON_HOURS, ADB_AUTH_ACCOUNT_RESTRICTED, false },
        { KRB5KDC_ERR_CLIENT_REVOKED, 0, ADB_AUTH_ACCOUNT_RESTRICTED, true },
        { KRB5KDC_ERR_POLICY, ADB_NTSTATUS_INVALID_WORKSTATION, ADB_AUTH_ACCOUNT_RESTRICTED, false },
        { KRB5KDC_ERR_KEY_EXP, ADB_NTSTATUS_PASSWORD_MUST_CHANGE, ADB_AUTH_PASSWORD_MUST_CHANGE, false },
        { KRB5KDC_ERR_KEY_EXP, ADB_NTSTATUS_PASSWORD_EXPIRED, ADB_AUTH_PASSWORD_EXPIRED, false },
        { KRB5KDC_ERR_KEY_EXP, 0, ADB_AUTH_PASSWORD_EXPIRED, true },
        { KRB5KRB_AP_ERR_SKEW, 0, ADB_AUTH_CLOCK_SKEW, false },
        { KRB5_KDC_UNREACH, 0, ADB_AUTH_DC_UNAVAILABLE, false },
        { KRB5_REALM_CANT_RESOLVE, 0, ADB_AUTH_DC_UNAVAILABLE, false },
        { KRB5_REALM_UNKNOWN, 0, ADB_AUTH_DC_UNAVAILABLE, false },
        { KRB5KDC_ERR_ETYPE_NOSUPP, 0, ADB_AUTH_NONE, false },
        { KRB5_KT_NOTFOUND, 0, ADB_AUTH_NONE, false },
    };

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bool needs = !cases[i].needs;
        adb_auth_reason r = adb_pwcheck_reason(cases[i].code, cases[i].ntstatus, &needs);
        if (r != cases[i].reason || needs != cases[i].needs)
            fail_msg("case %zu: code %ld status 0x%08x: got %s%s, want %s%s", i, cases[i].code,
                     (unsigned)cases[i].ntstatus, adb_auth_reason_name(r), needs ? " (needs state)" : "",
                     adb_auth_reason_name(cases[i].reason), cases[i].needs ? " (needs state)" : "");
    }
    assert_int_equal(adb_pwcheck_reason(0, 0, NULL), ADB_AUTH_OK);
}

/* e-data of KRB-ERRORs from Samba 4.17's KDC (samba-testenv): METHOD-DATA
 * with PA-ETYPE-INFO2 and, for account states, PA-PW-SALT = NTSTATUS. */
static const unsigned char edata_disabled[] = {
    0x30, 0x4c, 0x30, 0x33, 0xa1, 0x03, 0x02, 0x01, 0x13, 0xa2, 0x2c, 0x04, 0x2a, 0x30, 0x28, 0x30, 0x26, 0xa0, 0x03,
    0x02, 0x01, 0x12, 0xa1, 0x17, 0x1b, 0x15, 0x41, 0x44, 0x42, 0x2e, 0x54, 0x45, 0x53, 0x54, 0x64, 0x69, 0x73, 0x61,
    0x62, 0x6c, 0x65, 0x64, 0x2e, 0x75, 0x73, 0x65, 0x72, 0xa2, 0x06, 0x04, 0x04, 0x00, 0x00, 0x10, 0x00, 0x30, 0x15,
    0xa1, 0x03, 0x02, 0x01, 0x03, 0xa2, 0x0e, 0x04, 0x0c, 0x72, 0x00, 0x00, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00,
    0x00, 0x00,
};
static const unsigned char edata_mustchange[] = {
    0x30, 0x4e, 0x30, 0x35, 0xa1, 0x03, 0x02, 0x01, 0x13, 0xa2, 0x2e, 0x04, 0x2c, 0x30, 0x2a, 0x30, 0x28, 0xa0, 0x03,
    0x02, 0x01, 0x12, 0xa1, 0x19, 0x1b, 0x17, 0x41, 0x44, 0x42, 0x2e, 0x54, 0x45, 0x53, 0x54, 0x6d, 0x75, 0x73, 0x74,
    0x63, 0x68, 0x61, 0x6e, 0x67, 0x65, 0x2e, 0x75, 0x73, 0x65, 0x72, 0xa2, 0x06, 0x04, 0x04, 0x00, 0x00, 0x10, 0x00,
    0x30, 0x15, 0xa1, 0x03, 0x02, 0x01, 0x03, 0xa2, 0x0e, 0x04, 0x0c, 0x24, 0x02, 0x00, 0xc0, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x00, 0x00,
};
/* locked.user: Samba sends no NTSTATUS, only the etype info. */
static const unsigned char edata_locked[] = {
    0x30, 0x33, 0x30, 0x31, 0xa1, 0x03, 0x02, 0x01, 0x13, 0xa2, 0x2a, 0x04, 0x28, 0x30, 0x26, 0x30, 0x24, 0xa0, 0x03,
    0x02, 0x01, 0x12, 0xa1, 0x15, 0x1b, 0x13, 0x41, 0x44, 0x42, 0x2e, 0x54, 0x45, 0x53, 0x54, 0x6c, 0x6f, 0x63, 0x6b,
    0x65, 0x64, 0x2e, 0x75, 0x73, 0x65, 0x72, 0xa2, 0x06, 0x04, 0x04, 0x00, 0x00, 0x10, 0x00,
};
/* Windows' KERB-ERROR-DATA form: one SEQUENCE { [1] 3, [2] KERB-EXT-ERROR }. */
static const unsigned char edata_kerb_error_data[] = {
    0x30, 0x15, 0xa1, 0x03, 0x02, 0x01, 0x03, 0xa2, 0x0e, 0x04, 0x0c, 0x34, 0x02, 0x00, 0xc0, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x00, 0x00,
};

static void test_edata_ntstatus(void **state)
{
    uint32_t st = 1;
    unsigned char buf[sizeof edata_disabled];

    (void)state;
    assert_true(adb_pwcheck_edata_ntstatus(edata_disabled, sizeof edata_disabled, &st));
    assert_int_equal(st, ADB_NTSTATUS_ACCOUNT_DISABLED);
    assert_true(adb_pwcheck_edata_ntstatus(edata_mustchange, sizeof edata_mustchange, &st));
    assert_int_equal(st, ADB_NTSTATUS_PASSWORD_MUST_CHANGE);
    assert_false(adb_pwcheck_edata_ntstatus(edata_locked, sizeof edata_locked, &st));
    assert_int_equal(st, 0);
    assert_true(adb_pwcheck_edata_ntstatus(edata_kerb_error_data, sizeof edata_kerb_error_data, &st));
    assert_int_equal(st, ADB_NTSTATUS_ACCOUNT_LOCKED_OUT);

    /* Broken input: never a status, never a read outside the buffer. */
    assert_false(adb_pwcheck_edata_ntstatus(NULL, 0, &st));
    assert_false(adb_pwcheck_edata_ntstatus("\x30", 1, &st));
    for (size_t n = 0; n < sizeof edata_disabled; n++)   /* every truncation */
        assert_false(adb_pwcheck_edata_ntstatus(edata_disabled, n, &st));
    memcpy(buf, edata_disabled, sizeof buf);
    buf[1] = 0x7f;   /* outer length beyond the data */
    assert_false(adb_pwcheck_edata_ntstatus(buf, sizeof buf, &st));
    memcpy(buf, edata_disabled, sizeof buf);
    buf[sizeof buf - 13] = 0x0b;   /* PA-PW-SALT value of 11 bytes, not 12 */
    assert_false(adb_pwcheck_edata_ntstatus(buf, sizeof buf, &st));
    memcpy(buf, edata_disabled, sizeof buf);
    buf[sizeof buf - 9] = 0x00;   /* status 0x00000072: not an error status */
    buf[sizeof buf - 10] = 0x00;
    assert_false(adb_pwcheck_edata_ntstatus(buf, sizeof buf, &st));
    assert_int_equal(st, 0);
}

static built *account(const char *uac, const char *computed, const char *lockout, const char *expires,
                      const char *pwd_last_set)
{
    built *b = entry_new("CN=U,OU=Users,DC=adb,DC=test");
    if (uac != NULL)
        add(b, "userAccountControl", uac);
    if (computed != NULL)
        add(b, "msDS-User-Account-Control-Computed", computed);
    if (lockout != NULL)
        add(b, "lockoutTime", lockout);
    if (expires != NULL)
        add(b, "accountExpires", expires);
    if (pwd_last_set != NULL)
        add(b, "pwdLastSet", pwd_last_set);
    return b;
}

/* 2023-11-14 22:13:20 UTC as FILETIME, and now = that + 1 day. */
#define FT_PAST "133444736000000000"
static const time_t NOW = 1700000000 + 86400;

static adb_auth_reason revoked_reason(built *b)
{
    adb_account_state st;
    adb_error err = { 0 };
    adb_auth_reason r;

    assert_int_equal(adb_account_state_from_entry(&b->e, &st, &err), ADB_OK);
    r = adb_account_state_reason(ADB_AUTH_ACCOUNT_RESTRICTED, &st, NOW);
    entry_free(b);
    return r;
}

static void test_state_disambiguation(void **state)
{
    adb_account_state st;
    adb_error err = { 0 };
    built *b;

    (void)state;
    assert_int_equal(revoked_reason(account("514", "0", "0", "9223372036854775807", "1")), ADB_AUTH_ACCOUNT_DISABLED);
    /* Disabled wins over locked and expired, as AD checks it first. */
    assert_int_equal(revoked_reason(account("514", "16", "1", FT_PAST, "1")), ADB_AUTH_ACCOUNT_DISABLED);
    assert_int_equal(revoked_reason(account("512", "16", FT_PAST, "0", "1")), ADB_AUTH_ACCOUNT_LOCKED);
    /* The computed flag is authoritative: a stale lockoutTime is not a lockout. */
    assert_int_equal(revoked_reason(account("512", "0", FT_PAST, "0", "1")), ADB_AUTH_ACCOUNT_RESTRICTED);
    /* Without it (not a base read), lockoutTime decides. */
    assert_int_equal(revoked_reason(account("512", NULL, FT_PAST, "0", "1")), ADB_AUTH_ACCOUNT_LOCKED);
    assert_int_equal(revoked_reason(account("512", "0", "0", FT_PAST, "1")), ADB_AUTH_ACCOUNT_EXPIRED);
    assert_int_equal(revoked_reason(account("512", "0", "0", "0", "1")), ADB_AUTH_ACCOUNT_RESTRICTED);
    assert_int_equal(revoked_reason(account("512", "0", "0", "9223372036854775807", "1")), ADB_AUTH_ACCOUNT_RESTRICTED);
    /* accountExpires in the future: not expired. */
    assert_int_equal(revoked_reason(account("512", "0", "0", "999999999999999999", "1")), ADB_AUTH_ACCOUNT_RESTRICTED);

    b = account("512", NULL, NULL, NULL, "0");
    assert_int_equal(adb_account_state_from_entry(&b->e, &st, &err), ADB_OK);
    assert_int_equal(adb_account_state_reason(ADB_AUTH_PASSWORD_EXPIRED, &st, NOW), ADB_AUTH_PASSWORD_MUST_CHANGE);
    entry_free(b);
    b = account("512", "8388608", NULL, NULL, "133000000000000000");
    assert_int_equal(adb_account_state_from_entry(&b->e, &st, &err), ADB_OK);
    assert_int_equal(adb_account_state_reason(ADB_AUTH_PASSWORD_EXPIRED, &st, NOW), ADB_AUTH_PASSWORD_EXPIRED);
    /* Definite reasons pass through. */
    assert_int_equal(adb_account_state_reason(ADB_AUTH_INVALID_CREDENTIALS, &st, NOW), ADB_AUTH_INVALID_CREDENTIALS);
    entry_free(b);

    b = account(NULL, NULL, NULL, NULL, NULL);
    assert_int_equal(adb_account_state_from_entry(&b->e, &st, &err), ADB_E_PROTOCOL);
    entry_free(b);
    b = account("x12", NULL, NULL, NULL, NULL);
    assert_int_equal(adb_account_state_from_entry(&b->e, &st, &err), ADB_E_PROTOCOL);
    entry_free(b);
}

static void test_resolve(void **state)
{
    adb_pwcheck_result r;
    adb_account_state st = { .uac = 512, .has_uac_computed = true, .uac_computed = ADB_UAC_LOCKOUT };

    (void)state;
    memset(&r, 0, sizeof r);
    r.reason = adb_pwcheck_reason(KRB5KDC_ERR_CLIENT_REVOKED, 0, &r.needs_account_state);
    assert_true(r.needs_account_state);
    adb_pwcheck_resolve(&r, &st, NOW);
    assert_int_equal(r.reason, ADB_AUTH_ACCOUNT_LOCKED);
    assert_false(r.needs_account_state);
    /* A definite result is left alone. */
    r.reason = ADB_AUTH_ACCOUNT_EXPIRED;
    adb_pwcheck_resolve(&r, &st, NOW);
    assert_int_equal(r.reason, ADB_AUTH_ACCOUNT_EXPIRED);
}

static adb_pwcheck *checker(const char *const *kdcs, adb_krb **k)
{
    adb_pwcheck_options o = { .kdcs = kdcs };
    adb_pwcheck *pc;
    adb_error err = { 0 };

    if (adb_krb_new(keytab, NULL, k, &err) != ADB_OK || adb_pwcheck_new(*k, &o, &pc, &err) != ADB_OK)
        fail_msg("%s: %s", adb_code_name(err.code), err.message);
    return pc;
}

static void test_checker_setup(void **state)
{
    adb_pwcheck_options o = { .verify_principal = "host/other.test.invalid@TEST.INVALID" };
    adb_krb *k;
    adb_pwcheck *pc = checker(NULL, &k);
    adb_error err = { 0 };

    (void)state;
    /* The host principal of the keytab, not the machine account itself. */
    assert_string_equal(adb_pwcheck_verify_principal(pc), "host/testhost.test.invalid@TEST.INVALID");
    adb_pwcheck_free(pc);
    assert_int_equal(adb_pwcheck_new(k, &o, &pc, &err), ADB_E_KEYTAB);
    assert_non_null(strstr(err.message, "host/other.test.invalid@TEST.INVALID"));
    assert_non_null(strstr(err.message, keytab));
    adb_krb_free(k);
}

static void test_input_refused(void **state)
{
    static const char *const users[] = { "", "ADB\\alice", "@adb.test", "alice@", "a/b", "ali\nce" };
    adb_krb *k;
    adb_pwcheck *pc = checker(NULL, &k);
    adb_pwcheck_result r;
    adb_secret *pw, *nul;
    adb_error err = { 0 };
    char long_user[ADB_PWCHECK_USER_MAX + 2];

    (void)state;
    assert_int_equal(adb_secret_from("MARKER-Pw-8d1f", 14, &pw, &err), ADB_OK);
    for (size_t i = 0; i < sizeof users / sizeof users[0]; i++) {
        r.reason = ADB_AUTH_OK;
        assert_int_equal(adb_pwcheck_password(pc, users[i], pw, &r, &err), ADB_E_INVALID_REQUEST);
        assert_int_equal(r.reason, ADB_AUTH_NONE);
        assert_null(strstr(err.message, "MARKER"));
    }
    memset(long_user, 'a', sizeof long_user - 1);
    long_user[sizeof long_user - 1] = '\0';
    assert_int_equal(adb_pwcheck_password(pc, long_user, pw, &r, &err), ADB_E_INVALID_REQUEST);
    assert_int_equal(adb_secret_from("a\0b", 3, &nul, &err), ADB_OK);
    assert_int_equal(adb_pwcheck_password(pc, "alice", nul, &r, &err), ADB_E_INVALID_REQUEST);
    assert_int_equal(adb_pwcheck_password(pc, "alice", NULL, &r, &err), ADB_E_INVALID_REQUEST);
    adb_secret_free(nul);
    adb_secret_free(pw);
    adb_pwcheck_free(pc);
    adb_krb_free(k);
}

/* The overlay's explicit KDC list is what krb5 uses: a dead loopback port
 * (connection refused at once) gives dc_unavailable naming it. */
static void test_explicit_dead_kdc(void **state)
{
    static const char *const kdcs[] = { "127.0.0.1:1", NULL };
    adb_krb *k;
    adb_pwcheck *pc = checker(kdcs, &k);
    adb_pwcheck_result r;
    adb_secret *pw;
    adb_error err = { 0 };

    (void)state;
    assert_int_equal(adb_secret_from("MARKER-Pw-8d1f", 14, &pw, &err), ADB_OK);
    for (int i = 0; i < 2; i++) {   /* the second one reuses the krb5 context */
        assert_int_equal(adb_pwcheck_password(pc, "alice@test.invalid", pw, &r, &err), ADB_OK);
        assert_int_equal(r.reason, ADB_AUTH_DC_UNAVAILABLE);
        assert_int_equal(r.krb5_code, KRB5_KDC_UNREACH);
        assert_non_null(strstr(err.message, "127.0.0.1:1"));
        assert_null(strstr(err.message, "MARKER"));
    }
    adb_secret_free(pw);
    adb_pwcheck_free(pc);
    adb_krb_free(k);
}

/* KDC lists replaced while the checker runs (as the locator will do), and
 * removed again. */
static void test_set_kdcs(void **state)
{
    static const char *const one[] = { "127.0.0.1:1", NULL }, *const two[] = { "127.0.0.1:2", NULL };
    static const char *const bad[] = { "a b", NULL };
    adb_krb *k;
    adb_pwcheck *pc = checker(NULL, &k);
    adb_pwcheck_result r;
    adb_secret *pw;
    adb_error err = { 0 };

    (void)state;
    assert_int_equal(adb_secret_from("x", 1, &pw, &err), ADB_OK);
    assert_int_equal(adb_pwcheck_set_kdcs(pc, "TEST.INVALID", one, &err), ADB_OK);
    assert_int_equal(adb_pwcheck_password(pc, "alice", pw, &r, &err), ADB_OK);
    assert_int_equal(r.reason, ADB_AUTH_DC_UNAVAILABLE);
    assert_non_null(strstr(err.message, "127.0.0.1:1"));
    assert_int_equal(adb_pwcheck_set_kdcs(pc, "TEST.INVALID", two, &err), ADB_OK);
    assert_int_equal(adb_pwcheck_password(pc, "alice", pw, &r, &err), ADB_OK);
    assert_non_null(strstr(err.message, "127.0.0.1:2"));
    assert_null(strstr(err.message, "127.0.0.1:1"));
    assert_int_equal(adb_pwcheck_set_kdcs(pc, "TEST.INVALID", NULL, &err), ADB_OK);
    assert_int_equal(adb_pwcheck_password(pc, "alice", pw, &r, &err), ADB_OK);
    assert_int_equal(r.reason, ADB_AUTH_DC_UNAVAILABLE);
    assert_null(strstr(err.message, "127.0.0.1"));
    assert_int_equal(adb_pwcheck_set_kdcs(pc, "TEST.INVALID", bad, &err), ADB_E_INVALID_REQUEST);
    assert_int_equal(adb_pwcheck_set_kdcs(pc, "", one, &err), ADB_E_INVALID_REQUEST);
    for (int i = 0; i < 40; i++) {   /* bounded */
        char realm[32];
        snprintf(realm, sizeof realm, "R%d.INVALID", i);
        assert_int_equal(adb_pwcheck_set_kdcs(pc, realm, one, &err), i < 32 ? ADB_OK : ADB_E_INVALID_REQUEST);
    }
    adb_secret_free(pw);
    adb_pwcheck_free(pc);
    adb_krb_free(k);
}

/* No KDC configured for the realm at all: dc_unavailable too. */
static void test_no_kdc_configured(void **state)
{
    adb_krb *k;
    adb_pwcheck *pc = checker(NULL, &k);
    adb_pwcheck_result r;
    adb_secret *pw;
    adb_error err = { 0 };

    (void)state;
    assert_int_equal(adb_secret_from("x", 1, &pw, &err), ADB_OK);
    assert_int_equal(adb_pwcheck_password(pc, "alice", pw, &r, &err), ADB_OK);
    assert_int_equal(r.reason, ADB_AUTH_DC_UNAVAILABLE);
    adb_secret_free(pw);
    adb_pwcheck_free(pc);
    adb_krb_free(k);
}

/* Only what krb5's trace shows byte for byte, with default parameters,
 * gives a salt: anything else must never yield a key. */
static void test_etype_info_parse(void **state)
{
    static const struct {
        const char *info;
        krb5_enctype etype;    /* 0: refused */
        const char *salt;
    } cases[] = {
        { "etype aes256-cts, salt \"ADB.TESTalice\", params \"\\x00\\x00\\x10\\x00\"\n", 18, "ADB.TESTalice" },
        { "etype aes128-cts, salt \"ADB.TESTbob\", params \"\\x00\\x00\\x10\\x00\"", 17, "ADB.TESTbob" },
        { "etype aes256-cts, salt \"ADB.TESTa b\", params \"\"", 18, "ADB.TESTa b" },
        { "etype rc4-hmac, salt \"\", params \"\"", 23, "" },
        { "etype aes256-cts, salt \"A\"B\", params \"\"", 18, "A\"B" },   /* the last quote ends it */
        /* refused: */
        { "etype aes256-cts, salt \"ADB.TEST\\xc3\\xa9\", params \"\"", 0, NULL },     /* escaped bytes */
        { "etype aes256-cts, salt \"ADB.TESTa\\\\b\", params \"\"", 0, NULL },         /* a backslash */
        { "etype aes256-cts, salt \"ADB.TESTalice\", params \"\\x00\\x01\\x00\\x00\"", 0, NULL },   /* 65,536 */
        { "etype rc4-hmac, salt \"X\", params \"\\x00\\x00\\x10\\x00\"", 0, NULL },   /* not RC4's */
        { "etype aes256-cts-hmac-sha384-192, salt \"X\", params \"\\x00\\x00\\x10\\x00\"", 0, NULL },
        { "etype no-such-type, salt \"X\", params \"\"", 0, NULL },
        { "etype aes256-cts, salt \"ADB.TESTalice\", params \"", 0, NULL },
        { "etype aes256-cts, salt \"ADB.TESTalice\"", 0, NULL },
        { "etype aes256-cts salt \"X\", params \"\"", 0, NULL },
        { "aes256-cts, salt \"X\", params \"\"", 0, NULL },
        { "etype aes256-cts, salt \"", 0, NULL },
        { "", 0, NULL },
    };
    char salt[300], small[4];
    krb5_enctype etype;

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        bool ok = pwcheck_etype_info_parse(cases[i].info, &etype, salt, sizeof salt);
        print_message("# %s -> %s\n", cases[i].info, ok ? salt : "(refused)");
        assert_int_equal(ok, cases[i].etype != 0);
        if (ok) {
            assert_int_equal(etype, cases[i].etype);
            assert_string_equal(salt, cases[i].salt);
        }
    }
    /* A salt longer than the buffer is refused, not cut. */
    assert_false(pwcheck_etype_info_parse(cases[0].info, &etype, small, sizeof small));
}

/* Keys derived ahead are bounded: two at a time, a burst of ten, then
 * about twenty a second (a refused check wastes one). */
static void test_spec_slots(void **state)
{
    adb_krb *k;
    adb_pwcheck *pc = checker(NULL, &k);
    int a, b, got = 2;   /* a and b */

    (void)state;
    assert_true((a = pwcheck_spec_slot_take(pc)) >= 0);
    assert_true((b = pwcheck_spec_slot_take(pc)) >= 0);
    assert_int_not_equal(a, b);
    assert_int_equal(pwcheck_spec_slot_take(pc), -1);   /* both taken */
    pwcheck_spec_slot_give(pc, a);
    pwcheck_spec_slot_give(pc, b);
    while ((a = pwcheck_spec_slot_take(pc)) >= 0 && got < 100) {
        pwcheck_spec_slot_give(pc, a);
        got++;
    }
    assert_in_range(got, 10, 11);   /* the burst (plus what refilled meanwhile) */
    usleep(120 * 1000);             /* about two more */
    assert_true((a = pwcheck_spec_slot_take(pc)) >= 0);
    pwcheck_spec_slot_give(pc, a);
    adb_pwcheck_free(pc);
    adb_krb_free(k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reason_names),
        cmocka_unit_test(test_reason_from_krb5),
        cmocka_unit_test(test_edata_ntstatus),
        cmocka_unit_test(test_state_disambiguation),
        cmocka_unit_test(test_resolve),
        cmocka_unit_test(test_checker_setup),
        cmocka_unit_test(test_input_refused),
        cmocka_unit_test(test_explicit_dead_kdc),
        cmocka_unit_test(test_set_kdcs),
        cmocka_unit_test(test_no_kdc_configured),
        cmocka_unit_test(test_etype_info_parse),
        cmocka_unit_test(test_spec_slots),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
