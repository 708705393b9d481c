/* Integration: machine-account Kerberos and sealed LDAP against the Samba
 * DCs of samba-testenv (run by t-20-ldap.sh, which sets ADB_TEST_*). */
#include "config.h"

#include <adbridge/filter.h>
#include <adbridge/krb.h>
#include <adbridge/ldap_conn.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

static const char *env(const char *name)
{
    const char *v = getenv(name);
    if (v == NULL || v[0] == '\0')
        fail_msg("%s is not set: run this through tests/integration/run.test", name);
    return v;
}

static const char *machine(void)
{
    static char p[256];
    snprintf(p, sizeof p, "%s$@%s", env("ADB_TEST_MACHINE"), env("ADB_TEST_REALM"));
    return p;
}

static adb_krb *machine_creds(void)
{
    adb_krb *k;
    adb_error err = { 0 };

    if (adb_krb_new(env("ADB_TEST_KEYTAB"), machine(), &k, &err) != ADB_OK
        || adb_krb_refresh(k, false, &err) != ADB_OK)
        fail_msg("machine credentials: %s: %s", adb_code_name(err.code), err.message);
    return k;
}

static adb_ldap_conn *connect_dc1(adb_krb *k)
{
    adb_ldap_target t = { .host = "dc1.adb.test", .address = env("ADB_TEST_DC1") };
    adb_ldap_conn *c;
    adb_error err = { 0 };

    if (adb_ldap_connect(&t, k, NULL, &c, &err) != ADB_OK)
        fail_msg("connect dc1: %s: %s", adb_code_name(err.code), err.message);
    return c;
}

static void test_bind_sealed_and_read(void **state)
{
    adb_krb *k = machine_creds();
    adb_ldap_conn *c = connect_dc1(k);
    const char *attrs[] = { "dnsHostName", "defaultNamingContext", NULL };
    const char *user_attrs[] = { "sAMAccountName", "objectSid", "objectGUID", NULL };
    adb_ldap_entry *e;
    adb_error err = { 0 };
    char buf[256];

    (void)state;
    assert_true(adb_ldap_ssf(c) >= 56);
    assert_string_equal(adb_krb_principal(k), machine());
    assert_true(adb_krb_expiry(k) > 0);
    assert_int_equal(adb_ldap_read(c, "", NULL, attrs, &e, &err), ADB_OK);
    assert_string_equal(adb_ldap_entry_str(e, "dnsHostName", buf, sizeof buf), "dc1.adb.test");
    assert_string_equal(adb_ldap_entry_str(e, "defaultNamingContext", buf, sizeof buf), "DC=adb,DC=test");
    adb_ldap_entry_free(e);

    adb_ldap_search *s;
    assert_int_equal(adb_ldap_search_begin(c, "DC=adb,DC=test", ADB_LDAP_SCOPE_SUBTREE,
                                           "(sAMAccountName=alice)", user_attrs, 0, &s, &err), ADB_OK);
    assert_int_equal(adb_ldap_search_next(s, &e, &err), ADB_OK);
    assert_non_null(e);
    assert_string_equal(adb_ldap_entry_str(e, "sAMAccountName", buf, sizeof buf), "alice");
    /* Binary attributes come back as bytes: a SID is 28 bytes, a GUID 16. */
    assert_int_equal(adb_ldap_entry_values(e, "objectSid")[0]->bv_len, 28);
    assert_int_equal(adb_ldap_entry_values(e, "objectGUID")[0]->bv_len, 16);
    adb_ldap_entry_free(e);
    assert_int_equal(adb_ldap_search_next(s, &e, &err), ADB_OK);
    assert_null(e);
    adb_ldap_search_end(s);

    /* A missing object is not_found, not a generic error. */
    assert_int_equal(adb_ldap_read(c, "CN=nobody,DC=adb,DC=test", NULL, attrs, &e, &err), ADB_E_NOT_FOUND);
    adb_ldap_close(c);
    adb_krb_free(k);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorts and checks that no string repeats; returns the count. */
static size_t assert_unique(char **v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_str);
    for (size_t i = 1; i < n; i++)
        if (strcmp(v[i - 1], v[i]) == 0)
            fail_msg("duplicate: %s", v[i]);
    return n;
}

/* Every user's DN from one search of page_size (-1: unpaged), checked unique. */
static size_t all_users(int page_size)
{
    adb_krb *k = machine_creds();
    adb_ldap_conn *c = connect_dc1(k);
    const char *attrs[] = { "sAMAccountName", NULL };
    adb_ldap_search *s;
    adb_ldap_entry *e;
    adb_error err = { 0 };
    size_t n = 0, cap = 8192;
    char **dns = malloc(cap * sizeof *dns);

    assert_int_equal(adb_ldap_search_begin(c, "DC=adb,DC=test", ADB_LDAP_SCOPE_SUBTREE,
                                           "(&(objectCategory=person)(objectClass=user))", attrs, page_size,
                                           &s, &err), ADB_OK);
    while (adb_ldap_search_next(s, &e, &err) == ADB_OK && e != NULL) {
        if (n == cap)
            dns = realloc(dns, (cap *= 2) * sizeof *dns);
        dns[n++] = strdup(e->dn);
        adb_ldap_entry_free(e);
    }
    assert_int_equal(err.code, ADB_OK);
    adb_ldap_search_end(s);
    assert_unique(dns, n);
    for (size_t i = 0; i < n; i++)
        free(dns[i]);
    free(dns);
    adb_ldap_close(c);
    adb_krb_free(k);
    return n;
}

static void test_paged_search_all_users(void **state)
{
    (void)state;
    /* Page size 200 against > 5000 users: dozens of pages, one iterator. */
    size_t n = all_users(200);
    print_message("# paged search: %zu users\n", n);
    assert_true(n > 5000);
    /* Unpaged (Samba sets no size limit): the same users in one response.
     * The fallback to paging on AD's size limit cannot be provoked here. */
    assert_int_equal(all_users(-1), n);
}

struct collect { char **v; size_t n, cap; };

static bool collect_value(const struct berval *value, void *arg)
{
    struct collect *col = arg;
    if (col->n == col->cap)
        col->v = realloc(col->v, (col->cap = col->cap ? col->cap * 2 : 1024) * sizeof *col->v);
    col->v[col->n++] = strndup(value->bv_val, value->bv_len);
    return true;
}

static void test_range_retrieval_big_group(void **state)
{
    adb_krb *k = machine_creds();
    adb_ldap_conn *c = connect_dc1(k);
    const char *attrs[] = { "member", NULL };
    adb_ldap_search *s;
    adb_ldap_entry *e;
    adb_error err = { 0 };
    struct collect col = { 0 };
    char dn[512];

    (void)state;
    assert_int_equal(adb_ldap_search_begin(c, "DC=adb,DC=test", ADB_LDAP_SCOPE_SUBTREE,
                                           "(sAMAccountName=big.group)", attrs, 0, &s, &err), ADB_OK);
    assert_int_equal(adb_ldap_search_next(s, &e, &err), ADB_OK);
    assert_non_null(e);
    snprintf(dn, sizeof dn, "%s", e->dn);
    /* Samba 4.17 has no MaxValRange and would send all 5,000 at once; the
     * range loop asks in windows of ADB_LDAP_RANGE_STEP, so 4 round trips. */
    adb_ldap_entry_free(e);
    adb_ldap_search_end(s);

    assert_int_equal(adb_ldap_read_all_values(c, dn, "member", collect_value, &col, &err), ADB_OK);
    print_message("# range retrieval: %zu members\n", col.n);
    assert_true(col.n >= 5000);
    assert_true(col.n > ADB_LDAP_RANGE_STEP);
    assert_unique(col.v, col.n);
    for (size_t i = 0; i < col.n; i++)
        free(col.v[i]);
    free(col.v);
    adb_ldap_close(c);
    adb_krb_free(k);
}

static void test_missing_keytab(void **state)
{
    adb_krb *k;
    adb_error err = { 0 };

    (void)state;
    assert_int_equal(adb_krb_new("/nonexistent/krb5.keytab", NULL, &k, &err), ADB_E_KEYTAB);
    assert_non_null(strstr(err.message, "/nonexistent/krb5.keytab"));
    assert_non_null(strstr(err.message, "adcli join"));
}

static void test_principal_not_in_keytab(void **state)
{
    adb_krb *k;
    adb_error err = { 0 };

    (void)state;
    assert_int_equal(adb_krb_new(env("ADB_TEST_KEYTAB"), "OTHERHOST$@ADB.TEST", &k, &err), ADB_E_KEYTAB);
    assert_non_null(strstr(err.message, "no key for OTHERHOST$@ADB.TEST"));
}

/* Each of these keytabs / krb5.confs is prepared by t-20-ldap.sh. */
static void test_wrong_key(void **state)
{
    adb_krb *k;
    adb_error err = { 0 };

    (void)state;
    assert_int_equal(adb_krb_new(env("ADB_TEST_WRONG_KEYTAB"), machine(), &k, &err), ADB_OK);
    assert_int_equal(adb_krb_refresh(k, true, &err), ADB_E_KERBEROS);
    assert_non_null(strstr(err.message, "adcli update"));
    adb_krb_free(k);
}

static void test_unknown_principal(void **state)
{
    adb_krb *k;
    adb_error err = { 0 };

    (void)state;
    assert_int_equal(adb_krb_new(env("ADB_TEST_GHOST_KEYTAB"), NULL, &k, &err), ADB_OK);
    assert_int_equal(adb_krb_refresh(k, true, &err), ADB_E_KERBEROS);
    assert_non_null(strstr(err.message, "unknown to the KDC"));
    adb_krb_free(k);
}

static void test_unreachable_kdc(void **state)
{
    adb_krb *k;
    adb_error err = { 0 };
    const char *saved = getenv("KRB5_CONFIG");
    char *copy = saved != NULL ? strdup(saved) : NULL;

    (void)state;
    setenv("KRB5_CONFIG", env("ADB_TEST_DEAD_KRB5_CONFIG"), 1);
    assert_int_equal(adb_krb_new(env("ADB_TEST_KEYTAB"), machine(), &k, &err), ADB_OK);
    assert_int_equal(adb_krb_refresh(k, true, &err), ADB_E_DC_UNAVAILABLE);
    print_message("# %s\n", err.message);
    assert_non_null(strstr(err.message, "127.0.0.1:1"));
    adb_krb_free(k);
    if (copy != NULL) {
        setenv("KRB5_CONFIG", copy, 1);
        free(copy);
    }
}

/* Number of entries under DC=adb,DC=test matching a filter built from a
 * template and one untrusted value. */
static size_t count_matches(adb_ldap_conn *c, const char *template, const char *value)
{
    const char *attrs[] = { "1.1", NULL };
    adb_ldap_search *s;
    adb_ldap_entry *e;
    adb_error err = { 0 };
    char *filter;
    size_t n = 0;

    assert_int_equal(adb_filter_build(&filter, &err, template, value), ADB_OK);
    assert_int_equal(adb_ldap_search_begin(c, "DC=adb,DC=test", ADB_LDAP_SCOPE_SUBTREE, filter, attrs, 0,
                                           &s, &err), ADB_OK);
    while (adb_ldap_search_next(s, &e, &err) == ADB_OK && e != NULL) {
        n++;
        adb_ldap_entry_free(e);
    }
    assert_int_equal(err.code, ADB_OK);
    adb_ldap_search_end(s);
    free(filter);
    return n;
}

/* Values with filter metacharacters find exactly their object; hostile
 * values that would widen an unescaped filter match nothing. */
static void test_injection(void **state)
{
    adb_krb *k = machine_creds();
    adb_ldap_conn *c = connect_dc1(k);
    const char *by_display = "(&(objectClass=user)(displayName=%v))";
    const char *by_account = "(&(objectClass=user)(sAMAccountName=%v))";

    (void)state;
    assert_int_equal(count_matches(c, by_display, "Smith, John (Sales) *VIP*"), 1);
    assert_int_equal(count_matches(c, by_display, "O\"Brien; Pat <Ops> #1 + Co = A\\B"), 1);
    assert_int_equal(count_matches(c, by_display, "\xe5\xb1\xb1\xe7\x94\xb0 \xe5\xa4\xaa\xe9\x83\x8e"), 1);
    assert_int_equal(count_matches(c, by_account, "alice"), 1);
    assert_int_equal(count_matches(c, by_account, "*"), 0);
    assert_int_equal(count_matches(c, by_account, "*)(objectClass=*"), 0);
    assert_int_equal(count_matches(c, by_account, "alice)(|(sAMAccountName=*"), 0);
    assert_int_equal(count_matches(c, by_account, "alice\\2a"), 0);
    assert_int_equal(count_matches(c, by_display, "Smith, John (Sales) *"), 0);
    assert_int_equal(count_matches(c, by_display, "O\"Brien; Pat <Ops> #1 + Co = A\\"), 0);
    adb_ldap_close(c);
    adb_krb_free(k);
}

/* The machine password changes under a live context (adcli update raises the
 * kvno in the keytab): the next forced refresh uses the new key, no restart. */
static void test_keytab_rotation(void **state)
{
    adb_krb *k = machine_creds();
    adb_error err = { 0 };
    int before = adb_krb_kvno(k);

    (void)state;
    assert_true(before > 0);
    assert_int_equal(system(env("ADB_TEST_ROTATE_CMD")), 0);
    assert_int_equal(adb_krb_refresh(k, true, &err), ADB_OK);
    print_message("# kvno %d -> %d\n", before, adb_krb_kvno(k));
    assert_int_equal(adb_krb_kvno(k), before + 1);
    adb_ldap_conn *c = connect_dc1(k);
    assert_true(adb_ldap_ssf(c) >= 56);
    adb_ldap_close(c);
    adb_krb_free(k);
}

/* ---- TLS (ldap.tls = ldaps / starttls, ldap.ca_file) ----
 * DC1 and DC2 allow Kerberos inside TLS (testenv sets Samba's "ldap server
 * require strong auth = allow_sasl_over_tls", Windows' behaviour); PDC keeps
 * Samba's default, which refuses every SASL bind inside TLS. */

static adb_code connect_tls(adb_krb *k, const char *host, const char *address, int port, adb_ldap_tls tls,
                            const char *ca_file, adb_ldap_conn **c, adb_error *err)
{
    adb_ldap_target t = { .host = host, .address = address, .port = port };
    adb_ldap_options o = { .tls = tls, .ca_file = ca_file };

    return adb_ldap_connect(&t, k, &o, c, err);
}

/* Reads the rootDSE and alice through c: the connection really carries LDAP. */
static void assert_reads(adb_ldap_conn *c, const char *host)
{
    const char *attrs[] = { "dnsHostName", NULL };
    const char *user_attrs[] = { "sAMAccountName", "objectSid", NULL };
    adb_ldap_entry *e;
    adb_error err = { 0 };
    adb_ldap_search *s;
    char buf[256];

    assert_int_equal(adb_ldap_read(c, "", NULL, attrs, &e, &err), ADB_OK);
    assert_string_equal(adb_ldap_entry_str(e, "dnsHostName", buf, sizeof buf), host);
    adb_ldap_entry_free(e);
    assert_int_equal(adb_ldap_search_begin(c, "DC=adb,DC=test", ADB_LDAP_SCOPE_SUBTREE, "(sAMAccountName=alice)",
                                           user_attrs, 0, &s, &err), ADB_OK);
    assert_int_equal(adb_ldap_search_next(s, &e, &err), ADB_OK);
    assert_non_null(e);
    assert_int_equal(adb_ldap_entry_values(e, "objectSid")[0]->bv_len, 28);
    adb_ldap_entry_free(e);
    adb_ldap_search_end(s);
}

static void test_ldaps_bind(void **state)
{
    adb_krb *k = machine_creds();
    adb_ldap_conn *c;
    adb_error err = { 0 };

    (void)state;
    /* Port 389 as the locator's SRV record gives it: LDAPS goes to 636. */
    if (connect_tls(k, "dc1.adb.test", env("ADB_TEST_DC1"), 389, ADB_LDAP_TLS_LDAPS, env("ADB_TEST_DC_CA"), &c,
                    &err) != ADB_OK)
        fail_msg("ldaps dc1: %s: %s", adb_code_name(err.code), err.message);
    print_message("# %s: %s\n", adb_ldap_host(c), adb_ldap_protection(c));
    assert_true(adb_ldap_ssf(c) >= 128);
    assert_non_null(strstr(adb_ldap_protection(c), "+ GSSAPI (no SASL layer), LDAPS port 636"));
    assert_non_null(strstr(adb_ldap_protection(c), "TLS1."));
    assert_reads(c, "dc1.adb.test");
    adb_ldap_close(c);

    /* The global catalog's TLS twin, 3268 -> 3269, on DC2. */
    if (connect_tls(k, "dc2.adb.test", env("ADB_TEST_DC2"), 3268, ADB_LDAP_TLS_LDAPS, env("ADB_TEST_DC_CA"), &c,
                    &err) != ADB_OK)
        fail_msg("ldaps gc dc2: %s: %s", adb_code_name(err.code), err.message);
    print_message("# %s: %s\n", adb_ldap_host(c), adb_ldap_protection(c));
    assert_non_null(strstr(adb_ldap_protection(c), "LDAPS port 3269"));
    assert_reads(c, "dc2.adb.test");
    adb_ldap_close(c);
    adb_krb_free(k);
}

static void test_starttls_bind(void **state)
{
    adb_krb *k = machine_creds();
    adb_ldap_conn *c;
    adb_error err = { 0 };

    (void)state;
    if (connect_tls(k, "dc1.adb.test", env("ADB_TEST_DC1"), 0, ADB_LDAP_TLS_STARTTLS, env("ADB_TEST_DC_CA"), &c,
                    &err) != ADB_OK)
        fail_msg("starttls dc1: %s: %s", adb_code_name(err.code), err.message);
    print_message("# %s: %s\n", adb_ldap_host(c), adb_ldap_protection(c));
    assert_true(adb_ldap_ssf(c) >= 128);
    assert_non_null(strstr(adb_ldap_protection(c), "+ GSSAPI (no SASL layer), StartTLS port 389"));
    assert_reads(c, "dc1.adb.test");
    adb_ldap_close(c);

    /* Without TLS the same call still gives a sealed GSSAPI connection. */
    assert_int_equal(connect_tls(k, "dc1.adb.test", env("ADB_TEST_DC1"), 0, ADB_LDAP_TLS_OFF, NULL, &c, &err), ADB_OK);
    print_message("# %s: %s\n", adb_ldap_host(c), adb_ldap_protection(c));
    assert_non_null(strstr(adb_ldap_protection(c), "GSSAPI sign+seal"));
    adb_ldap_close(c);
    adb_krb_free(k);
}

/* A CA file that did not issue the DC's certificate (t-20-ldap.sh makes one). */
static void test_tls_wrong_ca(void **state)
{
    adb_krb *k = machine_creds();
    adb_ldap_conn *c;
    adb_error err = { 0 };

    (void)state;
    for (int tls = ADB_LDAP_TLS_STARTTLS; tls <= ADB_LDAP_TLS_LDAPS; tls++) {
        assert_int_equal(connect_tls(k, "dc1.adb.test", env("ADB_TEST_DC1"), 0, (adb_ldap_tls)tls,
                                     env("ADB_TEST_WRONG_CA"), &c, &err), ADB_E_TLS_CERT);
        print_message("# %s\n", err.message);
        assert_string_equal(adb_code_name(err.code), "tls_certificate");
        assert_non_null(strstr(err.message, "certificate of dc1.adb.test"));
        assert_non_null(strstr(err.message, "issuer is unknown"));
        assert_non_null(strstr(err.message, "Set ldap.ca_file"));
        assert_non_null(strstr(err.message, env("ADB_TEST_WRONG_CA")));
    }
    adb_krb_free(k);
}

/* The certificate must name the DC the locator gave, not just any DC of the
 * CA: dc1.adb.test at DC2's address presents DC2's certificate. */
static void test_tls_wrong_name(void **state)
{
    adb_krb *k = machine_creds();
    adb_ldap_conn *c;
    adb_error err = { 0 };

    (void)state;
    assert_int_equal(connect_tls(k, "dc1.adb.test", env("ADB_TEST_DC2"), 0, ADB_LDAP_TLS_LDAPS,
                                 env("ADB_TEST_DC_CA"), &c, &err), ADB_E_TLS_CERT);
    print_message("# %s\n", err.message);
    assert_non_null(strstr(err.message, "name in the certificate does not match"));
    assert_non_null(strstr(err.message, "DC2.adb.test"));
    adb_krb_free(k);
}

static void test_tls_missing_ca(void **state)
{
    adb_krb *k = machine_creds();
    adb_ldap_conn *c;
    adb_error err = { 0 };

    (void)state;
    assert_int_equal(connect_tls(k, "dc1.adb.test", env("ADB_TEST_DC1"), 0, ADB_LDAP_TLS_LDAPS,
                                 "/nonexistent/ad-root-ca.pem", &c, &err), ADB_E_CONFIG);
    print_message("# %s\n", err.message);
    assert_non_null(strstr(err.message, "ldap.ca_file /nonexistent/ad-root-ca.pem cannot be read"));
    assert_non_null(strstr(err.message, "No such file"));
    /* Readable, but no certificate in it (a key, a DER file, a typo'd copy). */
    assert_int_equal(connect_tls(k, "dc1.adb.test", env("ADB_TEST_DC1"), 0, ADB_LDAP_TLS_STARTTLS,
                                 env("ADB_TEST_NOT_A_CA"), &c, &err), ADB_E_CONFIG);
    print_message("# %s\n", err.message);
    assert_non_null(strstr(err.message, "holds no PEM certificate"));
    adb_krb_free(k);
}

/* PDC runs Samba's default: TLS works, Kerberos inside it is refused. */
static void test_tls_kerberos_refused(void **state)
{
    adb_krb *k = machine_creds();
    adb_ldap_conn *c;
    adb_error err = { 0 };

    (void)state;
    for (int tls = ADB_LDAP_TLS_STARTTLS; tls <= ADB_LDAP_TLS_LDAPS; tls++) {
        assert_int_equal(connect_tls(k, "pdc.partner.test", env("ADB_TEST_PARTNER_DC"), 0, (adb_ldap_tls)tls,
                                     env("ADB_TEST_DC_CA"), &c, &err), ADB_E_TLS);
        print_message("# %s\n", err.message);
        assert_non_null(strstr(err.message, "GSSAPI bind inside TLS on pdc.partner.test"));
        assert_non_null(strstr(err.message, "refuses Kerberos binds inside TLS"));
        assert_non_null(strstr(err.message, "Sign or Seal are required"));
        assert_non_null(strstr(err.message, "allow_sasl_over_tls"));
    }
    adb_krb_free(k);
}

/* Peers on the LDAPS port that do not speak TLS: the first answers with
 * text, as a plain service on the wrong port would; the second says nothing
 * until the client gives up. */
static void *not_tls_server(void *arg)
{
    int fd = accept(*(int *)arg, NULL, NULL);
    static const char reply[] = "220 this is not TLS\r\n";
    char buf[4096];

    if (fd >= 0) {
        (void)!read(fd, buf, sizeof buf);
        (void)!write(fd, reply, sizeof reply - 1);
        close(fd);
    }
    if ((fd = accept(*(int *)arg, NULL, NULL)) >= 0) {
        while (read(fd, buf, sizeof buf) > 0)
            ;
        close(fd);
    }
    return NULL;
}

static void test_tls_no_ldaps(void **state)
{
    adb_krb *k = machine_creds();
    adb_ldap_conn *c;
    adb_error err = { 0 };
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof sa;
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    pthread_t th;

    (void)state;
    /* Nothing listens on 636 there: the DC does not offer LDAPS. */
    assert_int_equal(connect_tls(k, "dc1.adb.test", "127.0.0.1", 389, ADB_LDAP_TLS_LDAPS, env("ADB_TEST_DC_CA"),
                                 &c, &err), ADB_E_DC_UNAVAILABLE);
    print_message("# %s\n", err.message);
    assert_non_null(strstr(err.message, "dc1.adb.test does not accept LDAPS on port 636"));

    assert_true(lfd >= 0);
    assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(lfd, 1), 0);
    assert_int_equal(getsockname(lfd, (struct sockaddr *)&sa, &len), 0);
    assert_int_equal(pthread_create(&th, NULL, not_tls_server, &lfd), 0);
    assert_int_equal(connect_tls(k, "dc1.adb.test", "127.0.0.1", ntohs(sa.sin_port), ADB_LDAP_TLS_LDAPS,
                                 env("ADB_TEST_DC_CA"), &c, &err), ADB_E_TLS);
    print_message("# %s\n", err.message);
    assert_non_null(strstr(err.message, "TLS handshake (LDAPS) with dc1.adb.test"));
    /* The silent one: the handshake ends at the connect timeout. */
    {
        adb_ldap_target t = { .host = "dc1.adb.test", .address = "127.0.0.1", .port = ntohs(sa.sin_port) };
        adb_ldap_options o = { .tls = ADB_LDAP_TLS_LDAPS, .ca_file = env("ADB_TEST_DC_CA"),
                               .connect_timeout_ms = 500 };
        assert_int_equal(adb_ldap_connect(&t, k, &o, &c, &err), ADB_E_TIMEOUT);
        print_message("# %s\n", err.message);
        assert_non_null(strstr(err.message, "no TLS handshake within 500 ms"));
    }
    pthread_join(th, NULL);
    close(lfd);
    adb_krb_free(k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bind_sealed_and_read),
        cmocka_unit_test(test_paged_search_all_users),
        cmocka_unit_test(test_range_retrieval_big_group),
        cmocka_unit_test(test_missing_keytab),
        cmocka_unit_test(test_principal_not_in_keytab),
        cmocka_unit_test(test_wrong_key),
        cmocka_unit_test(test_unknown_principal),
        cmocka_unit_test(test_unreachable_kdc),
        cmocka_unit_test(test_injection),
        cmocka_unit_test(test_keytab_rotation),
        cmocka_unit_test(test_ldaps_bind),
        cmocka_unit_test(test_starttls_bind),
        cmocka_unit_test(test_tls_wrong_ca),
        cmocka_unit_test(test_tls_wrong_name),
        cmocka_unit_test(test_tls_missing_ca),
        cmocka_unit_test(test_tls_kerberos_refused),
        cmocka_unit_test(test_tls_no_ldaps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
