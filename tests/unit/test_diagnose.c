/* adbridge diagnose (src/diag) without a network: the report's encoding, the
 * exit code policy, a fix on every warning and failure of a run that fails
 * offline (loopback only), each result under an id and group of the table
 * of checks, and the probes' own encoders and decoders (port probe
 * requests, reply recognition, GeneralizedTime) plus port probes on
 * loopback sockets. */
#include "config.h"

#include <adbridge/dctime.h>
#include <adbridge/diagnose.h>
#include <adbridge/portprobe.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

static char dir[] = "/tmp/adb-diag-XXXXXX";

static int setup(void **state)
{
    (void)state;
    return mkdtemp(dir) != NULL ? 0 : -1;
}

static int teardown(void **state)
{
    char cmd[128];
    (void)state;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void add(adb_diag_report *r, adb_diag_status st, const char *fix)
{
    adb_diag_item res = { .check = ADB_DIAG_PORTS, .id = "ports", .title = "ports of 10.0.0.1", .forest = "f.test",
                            .domain = "f.test", .dc = "dc.f.test", .status = st, .ms = 1.5, .message = "m",
                            .fix = fix };
    assert_non_null(adb_diag_report_add(r, &res));
}

static void test_exit_code_policy(void **state)
{
    (void)state;
    adb_diag_report *r = adb_diag_report_new(0);
    assert_int_equal(r->timeout_ms, 3000);
    assert_int_equal(adb_diag_exit_code(r), 0);            /* nothing ran: nothing failed */
    add(r, ADB_DIAG_PASS, NULL);
    add(r, ADB_DIAG_SKIP, NULL);
    assert_int_equal(adb_diag_exit_code(r), 0);            /* skips do not warn */
    add(r, ADB_DIAG_WARN, "do this");
    assert_int_equal(adb_diag_exit_code(r), 1);
    assert_int_equal(adb_diag_overall(r), ADB_DIAG_WARN);
    add(r, ADB_DIAG_FAIL, "do that");
    add(r, ADB_DIAG_WARN, "and this");
    assert_int_equal(adb_diag_exit_code(r), 2);            /* any failure wins over warnings */
    size_t c[4];
    adb_diag_counts(r, c);
    assert_int_equal(c[ADB_DIAG_PASS], 1);
    assert_int_equal(c[ADB_DIAG_WARN], 2);
    assert_int_equal(c[ADB_DIAG_FAIL], 1);
    assert_int_equal(c[ADB_DIAG_SKIP], 1);
    assert_string_equal(adb_diag_status_name(ADB_DIAG_SKIP), "skip");
    assert_string_equal(adb_diag_status_name(ADB_DIAG_FAIL), "fail");
    adb_diag_report_free(r);
}

static void test_report_encoding(void **state)
{
    (void)state;
    adb_diag_report *r = adb_diag_report_new(1500);
    adb_diag_item global = { .check = ADB_DIAG_CONFIG, .id = "config.file", .title = "/etc/x.json",
                               .status = ADB_DIAG_PASS, .ms = 0.25, .message = "valid",
                               .details = json_pack("{s:i}", "domains", 2) };
    adb_diag_report_add(r, &global);
    json_decref(global.details);
    add(r, ADB_DIAG_FAIL, "open TCP 636 from this host to 10.0.0.1");
    r->duration_ms = 12.5;

    json_t *doc = adb_diag_report_to_json(r);
    assert_non_null(doc);
    assert_int_equal(json_integer_value(json_object_get(doc, "version")), 1);
    assert_int_equal(json_integer_value(json_object_get(doc, "exit_code")), 2);
    assert_string_equal(json_string_value(json_object_get(doc, "status")), "fail");
    assert_int_equal(json_integer_value(json_object_get(doc, "timeout_ms")), 1500);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(doc, "summary"), "fail")), 1);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(doc, "summary"), "pass")), 1);
    json_t *checks = json_object_get(doc, "checks");
    assert_int_equal(json_array_size(checks), 2);
    json_t *g = json_array_get(checks, 0), *p = json_array_get(checks, 1);
    assert_string_equal(json_string_value(json_object_get(g, "group")), "config");
    assert_true(json_is_null(json_object_get(g, "forest")));
    assert_true(json_is_null(json_object_get(g, "dc")));
    assert_true(json_is_null(json_object_get(g, "fix")));
    assert_int_equal(json_integer_value(json_object_get(json_object_get(g, "details"), "domains")), 2);
    assert_string_equal(json_string_value(json_object_get(p, "group")), "ports");
    assert_int_equal(json_integer_value(json_object_get(p, "check")), ADB_DIAG_PORTS);
    assert_string_equal(json_string_value(json_object_get(p, "status")), "fail");
    assert_string_equal(json_string_value(json_object_get(p, "dc")), "dc.f.test");
    assert_string_equal(json_string_value(json_object_get(p, "fix")), "open TCP 636 from this host to 10.0.0.1");
    assert_true(json_is_object(json_object_get(p, "details")));   /* always an object, {} when none */
    json_decref(doc);
    adb_diag_report_free(r);
}

typedef struct seen {
    size_t n;
} seen;

static void count_progress(const adb_diag_result *r, void *arg)
{
    (void)r;
    ((seen *)arg)->n++;
}

/* A result's id is a check of the table (src/diag/diagnose.c) and its group that check's. */
static void assert_in_table(const adb_diag_result *d)
{
    for (size_t i = 0; i < adb_diag_check_count(); i++) {
        const adb_diag_check_info *c = adb_diag_check_at(i);
        if (strcmp(c->id, d->id) == 0) {
            assert_int_equal(d->check, c->group);
            return;
        }
    }
    fail_msg("result id %s is not a check of the table", d->id);
}

/* Every warn and fail carries a one-line fix and a message; passes and skips carry no fix. */
static void assert_fixes(const adb_diag_report *r)
{
    for (size_t i = 0; i < r->n; i++) {
        const adb_diag_result *d = &r->results[i];
        assert_non_null(d->message);
        assert_true(d->message[0] != '\0');
        assert_true(d->check >= ADB_DIAG_CONFIG && d->check <= ADB_DIAG_CLOUD);
        assert_in_table(d);
        if (d->status == ADB_DIAG_WARN || d->status == ADB_DIAG_FAIL) {
            if (d->fix == NULL || d->fix[0] == '\0')
                fail_msg("result %zu (%s %s) has no fix", i, d->id, d->title);
            assert_null(strchr(d->fix, '\n'));
        } else {
            assert_null(d->fix);
        }
    }
}

static const adb_diag_result *lookup(const adb_diag_report *r, const char *id)
{
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->results[i].id, id) == 0)
            return &r->results[i];
    return NULL;
}

/* The first result with id; the test fails when there is none. */
static const adb_diag_result *find(const adb_diag_report *r, const char *id)
{
    const adb_diag_result *d = lookup(r, id);
    if (d == NULL) {
        print_error("no result with id %s\n", id);
        abort();
    }
    return d;
}

static void test_missing_config_fails_with_fix(void **state)
{
    char path[256];
    adb_diag_options o = { .timeout_ms = 500 };
    adb_diag_report *r = NULL;
    (void)state;

    snprintf(path, sizeof path, "%s/nope.json", dir);
    assert_int_equal(adb_diagnose_run(path, &o, &r, NULL), ADB_OK);
    assert_int_equal(r->n, 1);
    assert_string_equal(r->results[0].id, "config.file");
    assert_int_equal(r->results[0].status, ADB_DIAG_FAIL);
    assert_non_null(strstr(r->results[0].fix, path));
    assert_int_equal(adb_diag_exit_code(r), 2);
    assert_fixes(r);
    adb_diag_report_free(r);
}

/* A configuration whose keytab is missing and whose DNS server (loopback,
 * nothing listening) refuses: everything fails fast, each with its fix. */
static void test_offline_run_has_fixes(void **state)
{
    char path[256], state_dir[256], text[1024];
    adb_diag_report *r = NULL;
    seen s = { 0 };
    (void)state;

    snprintf(state_dir, sizeof state_dir, "%s/state", dir);
    assert_int_equal(mkdir(state_dir, 0700), 0);
    snprintf(path, sizeof path, "%s/adbridge.json", dir);
    snprintf(text, sizeof text,
             "{\"state_dir\": \"%s\", \"keytab\": \"%s/missing.keytab\", \"dns_servers\": [\"127.0.0.1\"],"
             " \"domains\": [{\"name\": \"nosuch.test\", \"use_for_subscriptions\": true},"
             " {\"name\": \"off.test\", \"use_for_subscriptions\": false}]}", state_dir, dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);

    adb_diag_options o = { .timeout_ms = 500, .progress = count_progress, .progress_arg = &s };
    assert_int_equal(adb_diagnose_run(path, &o, &r, NULL), ADB_OK);
    assert_int_equal(s.n, r->n);                            /* every result went through the callback */
    assert_fixes(r);
    assert_int_equal(adb_diag_exit_code(r), 2);

    const adb_diag_result *d = find(r, "config.keytab");
    assert_non_null(d);
    assert_int_equal(d->status, ADB_DIAG_FAIL);
    assert_int_equal(find(r, "keytab")->status, ADB_DIAG_FAIL);
    assert_int_equal(find(r, "kerberos.tgt")->status, ADB_DIAG_SKIP);
    d = find(r, "dns.srv");
    assert_non_null(d);
    assert_int_equal(d->status, ADB_DIAG_FAIL);
    assert_non_null(strstr(d->message, "_ldap._tcp.nosuch.test"));   /* names the query */
    assert_string_equal(d->domain, "nosuch.test");
    d = find(r, "domain.enabled");                          /* the disabled domain is not contacted */
    assert_non_null(d);
    assert_int_equal(d->status, ADB_DIAG_SKIP);
    assert_string_equal(d->domain, "off.test");
    d = find(r, "cloud");
    assert_int_equal(d->status, ADB_DIAG_SKIP);
    assert_string_equal(d->message, "no broker configured");
    assert_true(r->duration_ms < 20000);
    adb_diag_report_free(r);
}

static void test_unknown_domain_option(void **state)
{
    char path[256];
    adb_diag_options o = { .timeout_ms = 300, .domain = "other.test", .skip_cloud = true };
    adb_diag_report *r = NULL;
    (void)state;

    snprintf(path, sizeof path, "%s/adbridge.json", dir);   /* written by the previous test */
    assert_int_equal(adb_diagnose_run(path, &o, &r, NULL), ADB_OK);
    const adb_diag_result *d = find(r, "config.domain");
    assert_non_null(d);
    assert_int_equal(d->status, ADB_DIAG_FAIL);
    assert_null(lookup(r, "dns.srv"));                        /* no configured domain matched */
    assert_string_equal(find(r, "cloud")->message, "skipped (--skip-cloud)");
    assert_fixes(r);
    adb_diag_report_free(r);
}

static void test_generalized_time(void **state)
{
    time_t t;
    (void)state;
    assert_true(adb_generalized_time_parse("20241123101600.0Z", &t));
    assert_int_equal(t, 1732356960);
    assert_true(adb_generalized_time_parse("19700101000000Z", &t));
    assert_int_equal(t, 0);
    assert_false(adb_generalized_time_parse("20240230101600.0Z", &t));   /* 30 February */
    assert_false(adb_generalized_time_parse("20241123101600.0", &t));    /* no zone */
    assert_false(adb_generalized_time_parse("20241123101600+0100", &t)); /* not UTC */
    assert_false(adb_generalized_time_parse("2024112310160.0Z", &t));
    assert_false(adb_generalized_time_parse("20241123101600.Z", &t));
    assert_false(adb_generalized_time_parse("", &t));
    assert_false(adb_generalized_time_parse(NULL, &t));
}

static void test_probe_requests(void **state)
{
    uint8_t *b = NULL;
    size_t len = 0;
    (void)state;

    assert_int_equal(adb_portprobe_dns_query(0xbeef, &b, &len, NULL), ADB_OK);
    assert_int_equal(len, 17);
    assert_int_equal(b[0], 0xbe);
    assert_int_equal(b[1], 0xef);
    assert_int_equal(b[5], 1);                              /* one question */
    free(b);
    uint8_t reply[12] = { 0xbe, 0xef, 0x80 | 0x04, 0x05 };  /* QR, REFUSED: still an answer */
    assert_true(adb_portprobe_reply_ok(ADB_PROBE_UDP_DNS, 0xbeef, reply, sizeof reply));
    assert_false(adb_portprobe_reply_ok(ADB_PROBE_UDP_DNS, 0xbeee, reply, sizeof reply));
    assert_false(adb_portprobe_reply_ok(ADB_PROBE_UDP_DNS, 0xbeef, reply, 11));
    reply[2] = 0;                                           /* a query, not a reply */
    assert_false(adb_portprobe_reply_ok(ADB_PROBE_UDP_DNS, 0xbeef, reply, sizeof reply));

    assert_int_equal(adb_portprobe_as_req("ADB.TEST", "HOST$", 12345, &b, &len, NULL), ADB_OK);
    assert_true(len > 40);
    assert_int_equal(b[0], 0x6a);                           /* [APPLICATION 10] AS-REQ */
    assert_non_null(memmem(b, len, "krbtgt", 6));
    assert_non_null(memmem(b, len, "ADB.TEST", 8));
    assert_non_null(memmem(b, len, "HOST$", 5));
    free(b);
    assert_int_not_equal(adb_portprobe_as_req("", NULL, 1, &b, &len, NULL), ADB_OK);
    uint8_t krb_error[] = { 0x7e, 0x10 }, as_rep[] = { 0x6b, 0x10 }, junk[] = { 0x30, 0x10 };
    assert_true(adb_portprobe_reply_ok(ADB_PROBE_UDP_KDC, 0, krb_error, sizeof krb_error));
    assert_true(adb_portprobe_reply_ok(ADB_PROBE_UDP_KDC, 0, as_rep, sizeof as_rep));
    assert_false(adb_portprobe_reply_ok(ADB_PROBE_UDP_KDC, 0, junk, sizeof junk));
    assert_false(adb_portprobe_reply_ok(ADB_PROBE_UDP_KDC, 0, krb_error, 1));
    assert_false(adb_portprobe_reply_ok(ADB_PROBE_TCP, 0, krb_error, sizeof krb_error));
}

static uint16_t bound_port(int fd)
{
    struct sockaddr_in sa;
    socklen_t sl = sizeof sa;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    return ntohs(sa.sin_port);
}

static int loopback_socket(int type)
{
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    int fd = socket(AF_INET, type, 0);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    return fd;
}

/* Loopback: a listening TCP port is open, a freed one closed; a UDP port
 * with no one behind it answers ICMP (closed); one that swallows datagrams
 * times out. */
static void test_port_probes_loopback(void **state)
{
    (void)state;
    int lst = loopback_socket(SOCK_STREAM), gone = loopback_socket(SOCK_STREAM);
    int udp_gone = loopback_socket(SOCK_DGRAM), udp_silent = loopback_socket(SOCK_DGRAM);
    assert_int_equal(listen(lst, 4), 0);
    uint16_t p_open = bound_port(lst), p_closed = bound_port(gone), p_udp_closed = bound_port(udp_gone);
    uint16_t p_silent = bound_port(udp_silent);
    close(gone);
    close(udp_gone);

    adb_port_probe p[4] = {
        { .address = "127.0.0.1", .port = p_open, .kind = ADB_PROBE_TCP },
        { .address = "127.0.0.1", .port = p_closed, .kind = ADB_PROBE_TCP },
        { .address = "127.0.0.1", .port = p_udp_closed, .kind = ADB_PROBE_UDP_DNS },
        { .address = "127.0.0.1", .port = p_silent, .kind = ADB_PROBE_UDP_KDC, .realm = "ADB.TEST" },
    };
    assert_int_equal(adb_port_probe_all(p, 4, 300, NULL), ADB_OK);
    assert_int_equal(p[0].state, ADB_PORT_OPEN);
    assert_true(p[0].rtt_us >= 0);
    assert_int_equal(p[1].state, ADB_PORT_CLOSED);
    assert_int_equal(p[2].state, ADB_PORT_CLOSED);
    assert_int_equal(p[3].state, ADB_PORT_TIMEOUT);
    assert_int_equal(p[3].rtt_us, -1);
    assert_non_null(strstr(p[3].error, "300 ms"));
    assert_string_equal(adb_port_state_name(p[1].state), "closed");
    close(lst);
    close(udp_silent);

    adb_port_probe bad = { .address = "not-an-ip", .port = 1, .kind = ADB_PROBE_TCP };
    assert_int_equal(adb_port_probe_all(&bad, 1, 100, NULL), ADB_OK);
    assert_int_equal(bad.state, ADB_PORT_ERROR);
    assert_int_not_equal(adb_port_probe_all(&bad, 1, 0, NULL), ADB_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exit_code_policy),
        cmocka_unit_test(test_report_encoding),
        cmocka_unit_test(test_missing_config_fails_with_fix),
        cmocka_unit_test(test_offline_run_has_fixes),
        cmocka_unit_test(test_unknown_domain_option),
        cmocka_unit_test(test_generalized_time),
        cmocka_unit_test(test_probe_requests),
        cmocka_unit_test(test_port_probes_loopback),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
