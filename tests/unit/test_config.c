/* Configuration decoder: accepts the documented shape, refuses everything
 * else with the JSON path of the offending field. */
#include "config.h"

#include <adbridge/config.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

static adb_code parse(const char *json, adb_config **cfg, adb_error *err)
{
    return adb_config_parse(json, strlen(json), "test.json", cfg, err);
}

static void test_full_config(void **state)
{
    const char *json =
        "{\"state_dir\": \"/var/lib/x\", \"keytab\": \"/k.keytab\","
        " \"machine_principal\": \"CONN$@ADB.TEST\", \"dns_servers\": [\"10.0.0.53\", \"::1\"],"
        " \"log_level\": \"debug\", \"domains\": ["
        "  {\"name\": \"ADB.test\", \"use_for_subscriptions\": true, \"site\": \"Tokyo\","
        "   \"dcs\": [\"dc1.adb.test\", \"10.0.0.11\"]},"
        "  {\"name\": \"partner.test\"}]}";
    adb_config *cfg;
    adb_error err = { 0 };

    (void)state;
    assert_int_equal(parse(json, &cfg, &err), ADB_OK);
    assert_string_equal(cfg->state_dir, "/var/lib/x");
    assert_string_equal(cfg->keytab, "/k.keytab");
    assert_string_equal(cfg->machine_principal, "CONN$@ADB.TEST");
    assert_int_equal(cfg->n_dns_servers, 2);
    assert_int_equal(cfg->log_level, ADB_LOG_DEBUG);
    assert_int_equal(cfg->n_domains, 2);
    assert_string_equal(cfg->domains[0].name, "adb.test");
    assert_true(cfg->domains[0].use_for_subscriptions);
    assert_string_equal(cfg->domains[0].site, "Tokyo");
    assert_int_equal(cfg->domains[0].n_dcs, 2);
    assert_false(cfg->domains[1].use_for_subscriptions);
    assert_null(cfg->domains[1].site);
    assert_ptr_equal(adb_config_domain(cfg, "PARTNER.TEST"), &cfg->domains[1]);
    assert_null(adb_config_domain(cfg, "other.test"));
    adb_config_free(cfg);
}

static void test_defaults(void **state)
{
    adb_config *cfg;
    adb_error err = { 0 };

    (void)state;
    assert_int_equal(parse("{\"domains\": [{\"name\": \"a.test\"}]}", &cfg, &err), ADB_OK);
    assert_string_equal(cfg->keytab, ADB_DEFAULT_KEYTAB);
    assert_string_equal(cfg->state_dir, ADB_DEFAULT_STATE_DIR);
    assert_null(cfg->machine_principal);
    assert_int_equal(cfg->n_dns_servers, 0);
    assert_int_equal(cfg->log_level, ADB_LOG_INFO);
    adb_config_free(cfg);
}

/* The optional sections: ldap, auth, broker (with its proxy). */
static void test_sections(void **state)
{
    const char *json =
        "{\"domains\": [{\"name\": \"a.test\"}],"
        " \"ldap\": {\"tls\": \"ldaps\", \"ca_file\": \"/etc/ssl/ad-ca.pem\"},"
        " \"auth\": {\"lockout_threshold\": 2, \"lockout_window_s\": 600, \"allow_plaintext_password\": true,"
        " \"lockout_margin\": 3, \"allow_privileged\": true, \"refuse_groups\": [\"ADB\\\\Helpdesk\", \"S-1-5-21-1-2-3-1500\"],"
        "  \"key_grace_s\": 3600},"
        " \"broker\": {\"url\": \"amqps://bus.example.net:5671\", \"address\": \"site1.requests\","
        "  \"sasl_mechanisms\": \"PLAIN\", \"username\": \"bridge\", \"password_file\": \"/etc/adbridge/broker.pw\","
        "  \"ca_file\": \"/etc/ssl/bus-ca.pem\", \"max_message_bytes\": 131072, \"workers\": 8,"
        "  \"reconnect_max_s\": 30, \"delivery_limit\": 3, \"status_address\": \"site1.status\","
        "  \"status_period_s\": 10, \"forest_address\": \"{address}/{forest}\","
        "  \"proxy\": {\"host\": \"proxy.corp\", \"port\": 3128,"
        "  \"credentials_file\": \"/etc/adbridge/proxy.cred\"}}}";
    adb_config *cfg;
    adb_error err = { 0 };

    (void)state;
    assert_int_equal(parse(json, &cfg, &err), ADB_OK);
    assert_int_equal(cfg->ldap.tls, ADB_LDAP_TLS_LDAPS);
    assert_string_equal(cfg->ldap.ca_file, "/etc/ssl/ad-ca.pem");
    assert_int_equal(cfg->auth.lockout_threshold, 2);
    assert_int_equal(cfg->auth.lockout_window_s, 600);
    assert_true(cfg->auth.allow_plaintext_password);
    assert_int_equal(cfg->auth.key_grace_s, 3600);
    assert_int_equal(cfg->auth.lockout_margin, 3);
    assert_true(cfg->auth.allow_privileged);
    assert_int_equal(cfg->auth.n_refuse_groups, 2);
    assert_string_equal(cfg->auth.refuse_groups[0], "ADB\\Helpdesk");
    assert_string_equal(cfg->broker.url, "amqps://bus.example.net:5671");
    assert_string_equal(cfg->broker.address, "site1.requests");
    assert_string_equal(cfg->broker.username, "bridge");
    assert_int_equal(cfg->broker.max_message_bytes, 131072);
    assert_int_equal(cfg->broker.workers, 8);
    assert_int_equal(cfg->broker.prefetch, 16);   /* default: twice the workers */
    assert_int_equal(cfg->broker.reconnect_max_s, 30);
    assert_int_equal(cfg->broker.delivery_limit, 3);
    assert_string_equal(cfg->broker.status_address, "site1.status");
    assert_int_equal(cfg->broker.status_period_s, 10);
    assert_string_equal(cfg->broker.forest_address, "{address}/{forest}");
    assert_string_equal(cfg->broker.proxy.host, "proxy.corp");
    assert_int_equal(cfg->broker.proxy.port, 3128);
    assert_string_equal(cfg->broker.proxy.credentials_file, "/etc/adbridge/proxy.cred");
    adb_config_free(cfg);

    /* Absent sections: no TLS, defaults for auth, no broker. */
    assert_int_equal(parse("{\"domains\": [{\"name\": \"a.test\"}]}", &cfg, &err), ADB_OK);
    assert_int_equal(cfg->ldap.tls, ADB_LDAP_TLS_OFF);
    assert_false(cfg->auth.allow_plaintext_password);
    assert_int_equal(cfg->auth.key_grace_s, 7L * 24 * 3600);
    assert_int_equal(cfg->auth.lockout_margin, 2);
    assert_false(cfg->auth.allow_privileged);
    assert_int_equal(cfg->auth.n_refuse_groups, 0);
    assert_null(cfg->broker.url);
    assert_int_equal(cfg->broker.workers, 4);
    assert_int_equal(cfg->broker.max_message_bytes, 65536);
    assert_int_equal(cfg->broker.max_reply_bytes, 262144);
    assert_int_equal(cfg->broker.delivery_limit, 5);
    adb_config_free(cfg);

    assert_int_equal(parse("{\"domains\": [{\"name\": \"a.test\"}], \"broker\": {\"url\": \"amqp://10.0.0.1\"}}",
                           &cfg, &err), ADB_OK);
    assert_string_equal(cfg->broker.address, "adbridge.requests");
    assert_string_equal(cfg->broker.status_address, "adbridge.status");
    assert_int_equal(cfg->broker.status_period_s, 30);
    assert_null(cfg->broker.forest_address);
    assert_null(cfg->broker.proxy.host);
    adb_config_free(cfg);
}

#define D "{\"domains\": [{\"name\": \"a.test\"}]"

/* Each bad document must fail with config_invalid and mention `needle`. */
static void test_refusals(void **state)
{
    static const struct { const char *json, *needle; } bad[] = {
        { "", "line" },
        { "[]", "$: the configuration must be a JSON object" },
        { "{\"domains\": [{\"name\": \"a.test\"}], \"extra\": 1}", "$.extra: unknown field" },
        { "{\"domains\": [{\"name\": \"a.test\", \"nmae\": 1}]}", "$.domains[0].nmae: unknown field" },
        { "{}", "$.domains: required" },
        { "{\"domains\": []}", "$.domains: required" },
        { "{\"domains\": [{}]}", "$.domains[0].name: required field is missing" },
        { "{\"domains\": [{\"name\": 5}]}", "$.domains[0].name: must be a non-empty string" },
        { "{\"domains\": [{\"name\": \"a..test\"}]}", "is not a DNS domain name" },
        { "{\"domains\": [{\"name\": \"a.test\"}, {\"name\": \"A.test\"}]}", "listed twice" },
        { "{\"domains\": [{\"name\": \"a.test\", \"use_for_subscriptions\": \"yes\"}]}",
          "$.domains[0].use_for_subscriptions: must be true or false" },
        { "{\"domains\": [{\"name\": \"a.test\", \"dcs\": [\"dc 1\"]}]}", "$.domains[0].dcs[0]: not a valid" },
        { "{\"domains\": [{\"name\": \"a.test\", \"site\": \"a.b\"}]}", "$.domains[0].site" },
        { "{\"domains\": [{\"name\": \"a.test\"}], \"dns_servers\": [\"dns.example\"]}",
          "$.dns_servers[0]: not a valid IP address" },
        { "{\"domains\": [{\"name\": \"a.test\"}], \"keytab\": \"relative.keytab\"}",
          "$.keytab: must be an absolute path" },
        { "{\"domains\": [{\"name\": \"a.test\"}], \"log_level\": \"loud\"}", "$.log_level" },
        { "{\"domains\": [{\"name\": \"a.test\"}], \"machine_principal\": \"HOST\"}", "NAME$@REALM" },
        { "{\"domains\": [{\"name\": \"a.test\"}], \"domains\": []}", "duplicate" },
        { "{\"domains\": [{\"name\": \"a\\u0000b\"}]}", "NUL" },
        { D ", \"ldap\": {\"tls\": \"yes\"}}", "$.ldap.tls: 'yes' is not one of off, starttls, ldaps" },
        { D ", \"ldap\": {\"ca_file\": \"ca.pem\"}}", "$.ldap.ca_file: must be an absolute path" },
        { D ", \"ldap\": {\"cafile\": \"/ca.pem\"}}", "$.ldap.cafile: unknown field" },
        { D ", \"auth\": {\"lockout_threshold\": -1}}", "$.auth.lockout_threshold: must be an integer" },
        { D ", \"auth\": {\"allow_plaintext_password\": 1}}", "$.auth.allow_plaintext_password: must be true" },
        { D ", \"auth\": []}", "$.auth: must be an object" },
        { D ", \"auth\": {\"lockout_margin\": 0}}", "$.auth.lockout_margin: must be an integer" },
        { D ", \"auth\": {\"refuse_groups\": [\"\"]}}", "$.auth.refuse_groups[0]: not a valid group SID or name" },
        { D ", \"broker\": {}}", "$.broker.url: required field is missing" },
        { D ", \"broker\": {\"url\": \"http://x\"}}", "must start with amqp:// or amqps://" },
        { D ", \"broker\": {\"url\": \"amqps://u:p@x\"}}", "must not carry credentials" },
        { D ", \"broker\": {\"url\": \"amqp://x:0\"}}", "invalid port" },
        { D ", \"broker\": {\"url\": \"amqp://x/q\"}}", "broker.address" },
        { D ", \"broker\": {\"url\": \"amqp://b a\"}}", "not a host name" },
        { D ", \"broker\": {\"url\": \"amqp://x\", \"sasl_mechanisms\": \"GSSAPI\"}}", "sasl_mechanisms" },
        { D ", \"broker\": {\"url\": \"amqp://x\", \"username\": \"u\"}}", "go together" },
        { D ", \"broker\": {\"url\": \"amqp://x\", \"ca_file\": \"/ca\"}}", "need an amqps:// url" },
        { D ", \"broker\": {\"url\": \"amqp://x\", \"workers\": 0}}", "$.broker.workers: must be an integer from 1" },
        { D ", \"broker\": {\"url\": \"amqp://x\", \"prefetch\": -1}}", "$.broker.prefetch: must be an integer from 0 to 1024" },
        { D ", \"broker\": {\"url\": \"amqp://x\", \"prefetch\": 1025}}", "$.broker.prefetch: must be an integer from 0" },
        { D ", \"broker\": {\"url\": \"amqp://x\", \"delivery_limit\": 0}}",
          "$.broker.delivery_limit: must be an integer from 1" },
        { D ", \"broker\": {\"url\": \"amqp://x\", \"proxy\": {\"host\": \"p\"}}}", "$.broker.proxy.port: required" },
        { D ", \"broker\": {\"url\": \"amqp://x\", \"status_period_s\": 3601}}",
          "$.broker.status_period_s: must be an integer from 0" },
        { D ", \"broker\": {\"url\": \"amqp://x\", \"status_address\": \"\"}}", "$.broker.status_address: must be a non-empty" },
        { D ", \"broker\": {\"url\": \"amqp://x\", \"forest_address\": \"{address}/x\"}}",
          "$.broker.forest_address: '{address}/x' must contain {forest}" },
        { D ", \"broker\": {\"url\": \"amqp://x\", \"forest_address\": \"{forest}\", \"status_period_s\": 0}}",
          "$.broker.forest_address needs status_period_s above 0" },
        { D ", \"broker\": {\"url\": \"amqp://x\", \"proxy\": {\"host\": \"p\", \"port\": 70000}}}",
          "$.broker.proxy.port: must be an integer" },
        { D ", \"broker\": {\"url\": \"amqp://x\", \"proxy\": {\"port\": 3128}}}", "$.broker.proxy.host: required" },
    };
    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        adb_config *cfg = (adb_config *)1;
        adb_error err = { 0 };
        adb_code rc = parse(bad[i].json, &cfg, &err);
        if (rc != ADB_E_CONFIG || strstr(err.message, bad[i].needle) == NULL)
            fail_msg("case %zu: rc=%d message='%s' wanted '%s'", i, rc, err.message, bad[i].needle);
        assert_null(cfg);
        assert_non_null(strstr(err.message, "test.json"));
    }
}

/* cache.search_index: off, on, auto (the default), its refresh period;
 * anything else refused with the path and the values allowed. */
static void test_cache_search_index(void **state)
{
    static const struct { const char *json, *needle; } bad[] = {
        { D ", \"cache\": {\"search_index\": \"yes\"}}", "$.cache.search_index: 'yes' is not one of off, on, auto" },
        { D ", \"cache\": {\"search_index\": true}}", "$.cache.search_index: must be a non-empty string" },
        { D ", \"cache\": {\"search_index_refresh_s\": 4}}", "$.cache.search_index_refresh_s: must be an integer from 5" },
        { D ", \"cache\": {\"search_indx\": \"on\"}}", "$.cache.search_indx: unknown field" },
    };
    adb_config *cfg;
    adb_error err = { 0 };

    (void)state;
    assert_int_equal(parse(D "}", &cfg, &err), ADB_OK);
    assert_int_equal(cfg->cache.search_index, ADB_SEARCH_INDEX_AUTO);
    assert_int_equal(cfg->cache.search_index_refresh_s, 60);
    adb_config_free(cfg);
    assert_int_equal(parse(D ", \"cache\": {\"search_index\": \"on\", \"search_index_refresh_s\": 30}}", &cfg, &err),
                     ADB_OK);
    assert_int_equal(cfg->cache.search_index, ADB_SEARCH_INDEX_ON);
    assert_int_equal(cfg->cache.search_index_refresh_s, 30);
    adb_config_free(cfg);
    assert_int_equal(parse(D ", \"cache\": {\"search_index\": \"off\"}}", &cfg, &err), ADB_OK);
    assert_int_equal(cfg->cache.search_index, ADB_SEARCH_INDEX_OFF);
    adb_config_free(cfg);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cfg = (adb_config *)1;
        if (parse(bad[i].json, &cfg, &err) != ADB_E_CONFIG || strstr(err.message, bad[i].needle) == NULL)
            fail_msg("case %zu: message='%s' wanted '%s'", i, err.message, bad[i].needle);
        assert_null(cfg);
    }
}

static void test_load_missing_file(void **state)
{
    adb_config *cfg;
    adb_error err = { 0 };

    (void)state;
    assert_int_equal(adb_config_load("/nonexistent/adbridge.json", &cfg, &err), ADB_E_CONFIG);
    assert_non_null(strstr(err.message, "/nonexistent/adbridge.json"));
    assert_non_null(strstr(err.message, "ADBRIDGE_CONFIG"));
}

/* --config pointing at a secret file by mistake: the error names the file,
 * the line and the kind of error, never its content. */
static void test_error_quotes_no_content(void **state)
{
    static const char *const texts[] = { "hunter2\n", "user:hunter2", "{\"a\": hunter2}", "\"hunter2\xff\"" };
    char path[] = "/tmp/adb-config-secret-XXXXXX";
    adb_config *cfg;
    (void)state;

    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        adb_error err = { 0 };
        int fd = mkstemp(path);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, texts[i], strlen(texts[i])), (ssize_t)strlen(texts[i]));
        close(fd);
        assert_int_equal(adb_config_load(path, &cfg, &err), ADB_E_CONFIG);
        print_message("# %s\n", err.message);
        assert_non_null(strstr(err.message, path));
        assert_non_null(strstr(err.message, "line 1"));
        assert_null(strstr(err.message, "hunter"));
        unlink(path);
        memcpy(path + strlen(path) - 6, "XXXXXX", 6);
    }
}

static void test_path_resolution(void **state)
{
    (void)state;
    unsetenv("ADBRIDGE_CONFIG");
    assert_string_equal(adb_config_path(NULL), ADB_DEFAULT_CONFIG_PATH);
    setenv("ADBRIDGE_CONFIG", "/tmp/x.json", 1);
    assert_string_equal(adb_config_path(NULL), "/tmp/x.json");
    assert_string_equal(adb_config_path("/etc/y.json"), "/etc/y.json");
}

static void test_dns_name_valid(void **state)
{
    (void)state;
    assert_true(adb_dns_name_valid("adb.test"));
    assert_true(adb_dns_name_valid("_msdcs.adb.test"));
    assert_true(adb_dns_name_valid("a-b.c"));
    assert_false(adb_dns_name_valid(""));
    assert_false(adb_dns_name_valid("-a.test"));
    assert_false(adb_dns_name_valid("a-.test"));
    assert_false(adb_dns_name_valid("a.test."));
    assert_false(adb_dns_name_valid("a*.test"));
    assert_false(adb_dns_name_valid("a test"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_config),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_sections),
        cmocka_unit_test(test_cache_search_index),
        cmocka_unit_test(test_load_missing_file),
        cmocka_unit_test(test_error_quotes_no_content),
        cmocka_unit_test(test_path_resolution),
        cmocka_unit_test(test_dns_name_valid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
