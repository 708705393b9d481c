/* The CLI's state caches (statecache.h): the envelope and its refusals
 * (foreign, stale, future, unknown members, not JSON, cut short or
 * mangled), the checks of a file before it is read (type, owner, mode,
 * size), atomic 0600 writes, and the decoders of the topology and of
 * located DC lists: round trips, and a refusal for every field that is out
 * of bounds.  A decoder that refuses never leaks and never half-fills. */
#include "config.h"

#include <adbridge/statecache.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

static char dir[] = "/tmp/adb-statecache-XXXXXX";
static char path[256];

static const time_t NOW = 1800000000;   /* 2027-01-15 */

static int setup(void **state)
{
    (void)state;
    if (mkdtemp(dir) == NULL)
        return -1;
    snprintf(path, sizeof path, "%s/" ADB_STATECACHE_TOPOLOGY, dir);
    return 0;
}

static int teardown(void **state)
{
    char cmd[128];
    (void)state;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static int reset(void **state)
{
    (void)state;
    unlink(path);
    return 0;
}

static void write_text(const char *p, const char *text, mode_t mode)
{
    FILE *f;

    unlink(p);
    f = fopen(p, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(chmod(p, mode), 0);
}

/* Decodes text as a "topology" envelope of scope "s1" at NOW. */
static adb_code decode(const char *text, adb_error *err)
{
    json_t *data = NULL;
    adb_code rc = adb_statecache_decode(text, strlen(text), "topology", "s1", NOW, &data, NULL, NULL, err);

    if (rc == ADB_OK)
        assert_non_null(data);
    else
        assert_null(data);
    json_decref(data);
    return rc;
}

/* ---- the envelope ---- */

static void test_envelope_round_trip(void **state)
{
    json_t *data = NULL;
    time_t written = 0, expires = 0;
    adb_error err = { 0 };
    char *text;

    (void)state;
    text = adb_statecache_encode("topology", "s1", NOW - 10, NOW + 890, json_pack("{s:i}", "x", 7));
    assert_non_null(text);
    assert_int_equal(adb_statecache_decode(text, strlen(text), "topology", "s1", NOW, &data, &written, &expires, &err),
                     ADB_OK);
    assert_int_equal(json_integer_value(json_object_get(data, "x")), 7);
    assert_int_equal(written, NOW - 10);
    assert_int_equal(expires, NOW + 890);
    json_decref(data);
    free(text);
}

static void test_envelope_refusals(void **state)
{
    static const struct {
        const char *text, *why;
    } cases[] = {
        { "", "not JSON" },
        { "{\"format\": \"adbridge-topology-cache\"", "not JSON" },
        { "[]", "not a cache file" },
        { "{\"format\":\"adbridge-topology-cache\",\"version\":1,\"scope\":\"s1\",\"written\":1799999990,"
          "\"expires\":1800000100}", "not a cache file" },
        { "{\"format\":\"adbridge-topology-cache\",\"version\":1,\"scope\":\"s1\",\"written\":1799999990,"
          "\"expires\":1800000100,\"data\":{},\"extra\":1}", "not a cache file" },
        { "{\"format\":\"adbridge-topology-cache\",\"version\":1,\"version\":1,\"scope\":\"s1\",\"written\":1799999990,"
          "\"expires\":1800000100,\"data\":{}}", "not JSON" },
        { "{\"format\":\"adbridge-dcs-cache\",\"version\":1,\"scope\":\"s1\",\"written\":1799999990,"
          "\"expires\":1800000100,\"data\":{}}", "format" },
        { "{\"format\":\"adbridge-topology-cache\",\"version\":2,\"scope\":\"s1\",\"written\":1799999990,"
          "\"expires\":1800000100,\"data\":{}}", "version 2" },
        { "{\"format\":\"adbridge-topology-cache\",\"version\":\"1\",\"scope\":\"s1\",\"written\":1799999990,"
          "\"expires\":1800000100,\"data\":{}}", "not a cache file" },
        { "{\"format\":\"adbridge-topology-cache\",\"version\":1,\"scope\":\"s2\",\"written\":1799999990,"
          "\"expires\":1800000100,\"data\":{}}", "another configuration" },
        { "{\"format\":\"adbridge-topology-cache\",\"version\":1,\"scope\":\"s1\",\"written\":1800009999,"
          "\"expires\":1800010100,\"data\":{}}", "in the future" },
        { "{\"format\":\"adbridge-topology-cache\",\"version\":1,\"scope\":\"s1\",\"written\":1799999990,"
          "\"expires\":1800999999,\"data\":{}}", "out of bounds" },
        { "{\"format\":\"adbridge-topology-cache\",\"version\":1,\"scope\":\"s1\",\"written\":1799999990,"
          "\"expires\":1799999980,\"data\":{}}", "out of bounds" },
        { "{\"format\":\"adbridge-topology-cache\",\"version\":1,\"scope\":\"s1\",\"written\":1799999000,"
          "\"expires\":1799999900,\"data\":{}}", "expired 100 s ago" },
        { "{\"format\":\"adbridge-topology-cache\",\"version\":1,\"scope\":\"s1\",\"written\":1799999990,"
          "\"expires\":1800000100,\"data\":[]}", "not an object" },
    };

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        adb_error err = { 0 };
        if (decode(cases[i].text, &err) != ADB_E_PROTOCOL || strstr(err.message, cases[i].why) == NULL)
            fail_msg("case %zu: wanted protocol_error with '%s', got '%s'", i, cases[i].why, err.message);
    }
}

/* Every prefix of a good file, and every byte of it mangled: refused or
 * (for harmless changes) accepted, never a crash or a leak (ASan). */
static void test_envelope_cut_and_mangled(void **state)
{
    char *text = adb_statecache_encode("topology", "s1", NOW - 10, NOW + 890,
                                       json_pack("{s:s, s:[i,i]}", "a", "b", "c", 1, 2));
    size_t len;

    (void)state;
    assert_non_null(text);
    len = strlen(text);
    for (size_t n = 0; n < len; n++) {
        adb_error err = { 0 };
        json_t *data = NULL;
        assert_int_equal(adb_statecache_decode(text, n, "topology", "s1", NOW, &data, NULL, NULL, &err),
                         ADB_E_PROTOCOL);
        assert_null(data);
    }
    for (size_t i = 0; i < len; i++) {
        static const char subst[] = { '\0', '"', '}', '9', 'x', '\\', (char)0xff };
        for (size_t k = 0; k < sizeof subst; k++) {
            char *copy = strdup(text);
            json_t *data = NULL;
            adb_error err = { 0 };
            copy[i] = subst[k];
            adb_code rc = adb_statecache_decode(copy, len, "topology", "s1", NOW, &data, NULL, NULL, &err);
            assert_true(rc == ADB_OK || rc == ADB_E_PROTOCOL);
            json_decref(data);
            free(copy);
        }
    }
    free(text);
}

/* ---- files ---- */

static void test_write_then_read(void **state)
{
    json_t *data = NULL;
    adb_error err = { 0 };
    struct stat st;

    (void)state;
    assert_int_equal(adb_statecache_write(path, "topology", "s1", time(NULL), time(NULL) + 60,
                                          json_pack("{s:b}", "ok", 1), &err), ADB_OK);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(adb_statecache_read(path, "topology", "s1", time(NULL), &data, NULL, NULL, &err), ADB_OK);
    assert_true(json_is_true(json_object_get(data, "ok")));
    json_decref(data);
}

static void test_read_refusals(void **state)
{
    char link[300], big[300];
    json_t *data = NULL;
    adb_error err = { 0 };
    FILE *f;

    (void)state;
    assert_int_equal(adb_statecache_read(path, "topology", "s1", time(NULL), &data, NULL, NULL, &err),
                     ADB_E_NOT_FOUND);
    assert_int_equal(adb_statecache_write(path, "topology", "s1", time(NULL), time(NULL) + 60, json_object(), &err),
                     ADB_OK);
    /* Readable by others: refused, whatever it holds. */
    assert_int_equal(chmod(path, 0644), 0);
    assert_int_equal(adb_statecache_read(path, "topology", "s1", time(NULL), &data, NULL, NULL, &err), ADB_E_PROTOCOL);
    assert_non_null(strstr(err.message, "group or others"));
    assert_int_equal(chmod(path, 0600), 0);
    /* A symbolic link (to a good file): refused. */
    snprintf(link, sizeof link, "%s/link.cache", dir);
    unlink(link);
    assert_int_equal(symlink(path, link), 0);
    assert_int_equal(adb_statecache_read(link, "topology", "s1", time(NULL), &data, NULL, NULL, &err), ADB_E_PROTOCOL);
    assert_non_null(strstr(err.message, "not a regular file"));
    unlink(link);
    /* A directory. */
    assert_int_equal(adb_statecache_read(dir, "topology", "s1", time(NULL), &data, NULL, NULL, &err), ADB_E_PROTOCOL);
    /* Too large. */
    snprintf(big, sizeof big, "%s/big.cache", dir);
    assert_non_null(f = fopen(big, "w"));
    assert_int_equal(fseek(f, ADB_STATECACHE_MAX_BYTES, SEEK_SET), 0);
    assert_int_equal(fputc(' ', f), ' ');
    assert_int_equal(fclose(f), 0);
    assert_int_equal(chmod(big, 0600), 0);
    assert_int_equal(adb_statecache_read(big, "topology", "s1", time(NULL), &data, NULL, NULL, &err), ADB_E_PROTOCOL);
    assert_non_null(strstr(err.message, "larger than"));
    unlink(big);
    /* Another user's (only root can make one). */
    if (geteuid() == 0) {
        assert_int_equal(chown(path, 65534, 65534), 0);
        assert_int_equal(adb_statecache_read(path, "topology", "s1", time(NULL), &data, NULL, NULL, &err),
                         ADB_E_PROTOCOL);
        assert_non_null(strstr(err.message, "owned by uid 65534"));
    }
    /* Garbage. */
    write_text(path, "\x7f" "ELF garbage", 0600);
    assert_int_equal(adb_statecache_read(path, "topology", "s1", time(NULL), &data, NULL, NULL, &err), ADB_E_PROTOCOL);
    assert_null(data);
}

static void test_dir_ok(void **state)
{
    char sub[300], why[200];

    (void)state;
    snprintf(sub, sizeof sub, "%s/sub", dir);
    rmdir(sub);
    assert_false(adb_statecache_dir_ok(sub, why, sizeof why));
    assert_int_equal(mkdir(sub, 0700), 0);
    assert_int_equal(chmod(sub, 0700), 0);
    assert_true(adb_statecache_dir_ok(sub, why, sizeof why));
    assert_int_equal(chmod(sub, 0750), 0);
    assert_false(adb_statecache_dir_ok(sub, why, sizeof why));
    assert_non_null(strstr(why, "mode 0750"));
    assert_int_equal(rmdir(sub), 0);
    write_text(path, "x", 0600);
    assert_false(adb_statecache_dir_ok(path, why, sizeof why));
    assert_false(adb_statecache_dir_ok(NULL, why, sizeof why));
}

/* ---- the topology ---- */

static adb_sid sid_of(const char *text)
{
    adb_sid sid;
    assert_int_equal(adb_sid_parse(text, strlen(text), &sid, NULL), ADB_OK);
    return sid;
}

static adb_topology *sample_topology(void)
{
    adb_topology *t = calloc(1, sizeof *t);

    t->refs_ = 1;
    t->joined = strdup("adb.test");
    t->discovered = NOW - 5;
    t->dc_time = strdup("20270115080000.0Z");
    t->n_forests = 2;
    t->forests = calloc(2, sizeof *t->forests);
    t->forests[0] = (adb_topo_forest){ .root = strdup("adb.test"), .level = 7, .own = true, .contacted = true };
    t->forests[0].upn_suffixes = calloc(2, sizeof(char *));
    t->forests[0].upn_suffixes[0] = strdup("corp.example");
    t->forests[0].upn_suffixes[1] = strdup("mail.example");
    t->forests[0].n_upn_suffixes = 2;
    t->forests[1] = (adb_topo_forest){ .root = strdup("partner.test"), .level = ADB_LEVEL_UNKNOWN,
                                       .error = strdup("dc_unavailable: no DC \"answered\"") };
    t->n_domains = 3;
    t->domains = calloc(3, sizeof *t->domains);
    t->domains[0] = (adb_topo_domain){ .dns = strdup("adb.test"), .netbios = strdup("ADB"),
                                       .nc = strdup("DC=adb,DC=test"), .forest = strdup("adb.test"), .has_sid = true,
                                       .sid = sid_of("S-1-5-21-1-2-3"), .level = 7, .forest_level = 7,
                                       .configured = true, .contacted = true, .dc = strdup("dc1.adb.test") };
    t->domains[1] = (adb_topo_domain){ .dns = strdup("child.adb.test"), .nc = strdup("DC=child,DC=adb,DC=test"),
                                       .forest = strdup("adb.test"), .level = ADB_LEVEL_UNKNOWN, .forest_level = 7 };
    t->domains[2] = (adb_topo_domain){ .dns = strdup("partner.test"), .netbios = strdup("PARTNER"),
                                       .level = ADB_LEVEL_UNKNOWN, .forest_level = ADB_LEVEL_UNKNOWN,
                                       .configured = true, .error = strdup("timeout: 3 s") };
    t->n_trusts = 1;
    t->trusts = calloc(1, sizeof *t->trusts);
    t->trusts[0] = (adb_topo_trust){ .domain = strdup("adb.test"), .partner = strdup("partner.test"),
                                     .flat_name = strdup("PARTNER"), .has_sid = true, .sid = sid_of("S-1-5-21-4-5-6"),
                                     .direction = 3, .type = 2, .attributes = 0x8 };
    return t;
}

/* The sample through JSON text and back. */
static adb_code round_trip(adb_topology *t, adb_topology **out, adb_error *err)
{
    json_t *j = adb_topology_cache_to_json(t), *back;
    char *text;
    adb_code rc;

    assert_non_null(j);
    text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    back = json_loads(text, 0, NULL);
    free(text);
    assert_non_null(back);
    rc = adb_topology_cache_from_json(back, "ADB.TEST", out, err);
    json_decref(back);
    return rc;
}

static void test_topology_round_trip(void **state)
{
    adb_topology *t = sample_topology(), *u = NULL;
    adb_error err = { 0 };

    (void)state;
    assert_int_equal(round_trip(t, &u, &err), ADB_OK);
    assert_string_equal(u->joined, "adb.test");
    assert_int_equal(u->discovered, NOW - 5);
    assert_string_equal(u->dc_time, "20270115080000.0Z");
    assert_int_equal(u->n_forests, 2);
    assert_true(u->forests[0].own && u->forests[0].contacted && !u->forests[1].own);
    assert_int_equal(u->forests[0].n_upn_suffixes, 2);
    assert_string_equal(u->forests[0].upn_suffixes[1], "mail.example");
    assert_int_equal(u->forests[1].level, ADB_LEVEL_UNKNOWN);
    assert_string_equal(u->forests[1].error, "dc_unavailable: no DC \"answered\"");
    assert_int_equal(u->n_domains, 3);
    assert_true(u->domains[0].has_sid && adb_sid_equal(&u->domains[0].sid, &t->domains[0].sid));
    assert_string_equal(u->domains[0].nc, "DC=adb,DC=test");
    assert_string_equal(u->domains[0].dc, "dc1.adb.test");
    assert_true(u->domains[0].configured && u->domains[0].contacted);
    assert_null(u->domains[1].netbios);
    assert_false(u->domains[1].has_sid);
    assert_null(u->domains[2].nc);
    assert_string_equal(u->domains[2].error, "timeout: 3 s");
    assert_int_equal(u->n_trusts, 1);
    assert_string_equal(u->trusts[0].flat_name, "PARTNER");
    assert_int_equal(u->trusts[0].direction, 3);
    assert_int_equal(u->trusts[0].attributes, 0x8);
    assert_true(adb_sid_equal(&u->trusts[0].sid, &t->trusts[0].sid));
    /* The lookups work on what was read back. */
    assert_ptr_equal(adb_topology_domain(u, "PARTNER"), &u->domains[2]);
    adb_topology_unref(u);
    /* Another joined domain: foreign. */
    json_t *j = adb_topology_cache_to_json(t);
    assert_int_equal(adb_topology_cache_from_json(j, "partner.test", &u, &err), ADB_E_PROTOCOL);
    assert_null(u);
    json_decref(j);
    adb_topology_unref(t);
}

/* One member of the sample's JSON replaced by a bad value: refused. */
static void test_topology_refusals(void **state)
{
    static const struct {
        const char *array;   /* NULL: the top object */
        const char *member, *bad;
    } cases[] = {
        { NULL, "joined", "\"not a name\"" },
        { NULL, "discovered", "-1" },
        { NULL, "dc_time", "5" },
        { NULL, "forests", "{}" },
        { NULL, "surprise", "1" },
        { "forests", "root", "\"-bad-.test\"" },
        { "forests", "level", "100" },
        { "forests", "own", "1" },
        { "forests", "upn_suffixes", "[\"a\\u0000b\"]" },
        { "forests", "upn_suffixes", "[5]" },
        { "domains", "dns", "\"adb..test\"" },
        { "domains", "dns", "\"adb.test\\u0000.evil\"" },
        { "domains", "netbios", "\"A\\nB\"" },
        { "domains", "netbios", "\"0123456789012345678901234567890123456789012345678901234567890123\"" },
        { "domains", "nc", "\"not a DN\"" },
        { "domains", "sid", "\"S-1-5-21-x\"" },
        { "domains", "level", "-2" },
        { "domains", "forest_level", "\"7\"" },
        { "domains", "dc", "\"dc1 .adb.test\"" },
        { "domains", "error", "[]" },
        { "domains", "extra", "null" },
        { "trusts", "direction", "4294967296" },
        { "trusts", "attributes", "-1" },
        { "trusts", "partner", "null" },
        { "trusts", "sid", "\"S-1\"" },
    };
    adb_topology *t = sample_topology();
    json_t *good = adb_topology_cache_to_json(t);

    (void)state;
    adb_topology_unref(t);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *j = json_deep_copy(good), *obj = j, *bad = json_loads(cases[i].bad, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
        adb_topology *u = NULL;
        adb_error err = { 0 };
        assert_non_null(bad);
        if (cases[i].array != NULL)
            obj = json_array_get(json_object_get(j, cases[i].array), 0);
        json_object_set_new(obj, cases[i].member, bad);
        if (adb_topology_cache_from_json(j, "adb.test", &u, &err) != ADB_E_PROTOCOL || u != NULL)
            fail_msg("case %zu (%s.%s = %s) was not refused", i, cases[i].array ? cases[i].array : "",
                     cases[i].member, cases[i].bad);
        json_decref(j);
    }
    /* Too many domains. */
    json_t *j = json_deep_copy(good), *domains = json_object_get(j, "domains");
    while (json_array_size(domains) <= 1024)
        json_array_append(domains, json_array_get(domains, 0));
    adb_topology *u = NULL;
    adb_error err = { 0 };
    assert_int_equal(adb_topology_cache_from_json(j, "adb.test", &u, &err), ADB_E_PROTOCOL);
    json_decref(j);
    json_decref(good);
}

/* ---- located DCs ---- */

static adb_dc_cache_entry sample_entry(void)
{
    adb_dc_cache_entry e = { .gc = false, .expires = NOW + 600 };

    snprintf(e.list.domain, sizeof e.list.domain, "adb.test");
    snprintf(e.list.forest, sizeof e.list.forest, "adb.test");
    snprintf(e.list.client_site, sizeof e.list.client_site, "Tokyo");
    e.list.n = 2;
    e.list.dcs = calloc(2, sizeof *e.list.dcs);
    e.list.dcs[0] = (adb_dc){ .host = "dc1.adb.test", .address = "10.231.1.11", .ldap_port = 389, .site = "Tokyo",
                              .flags = 0x13fd, .rtt_us = 612, .in_client_site = true, .state = ADB_DC_UP };
    e.list.dcs[1] = (adb_dc){ .host = "dc2.adb.test", .address = "fd00::12", .ldap_port = 389, .site = "Osaka",
                              .flags = 0x13fc, .rtt_us = -1, .state = ADB_DC_DOWN };
    return e;
}

static void test_dc_round_trip(void **state)
{
    adb_dc_cache_entry e = sample_entry(), back;
    json_t *j = adb_dc_cache_entry_to_json(&e);
    adb_error err = { 0 };

    (void)state;
    assert_non_null(j);
    assert_int_equal(adb_dc_cache_entry_from_json(j, &back, &err), ADB_OK);
    assert_false(back.gc);
    assert_int_equal(back.expires, NOW + 600);
    assert_string_equal(back.list.client_site, "Tokyo");
    assert_int_equal(back.list.n, 2);
    assert_string_equal(back.list.dcs[0].address, "10.231.1.11");
    assert_int_equal(back.list.dcs[0].flags, 0x13fd);
    assert_int_equal(back.list.dcs[0].state, ADB_DC_UP);
    assert_true(back.list.dcs[0].in_client_site);
    assert_string_equal(back.list.dcs[1].address, "fd00::12");
    assert_int_equal(back.list.dcs[1].rtt_us, -1);
    assert_int_equal(back.list.dcs[1].state, ADB_DC_DOWN);
    assert_false(back.list.from_cache);   /* the locator marks what it installs */
    adb_dc_list_free(&back.list);
    adb_dc_list_free(&e.list);
    json_decref(j);
}

static void test_dc_refusals(void **state)
{
    static const struct {
        bool in_dc;
        const char *member, *bad;
    } cases[] = {
        { false, "domain", "\"adb test\"" },
        { false, "gc", "0" },
        { false, "expires", "-5" },
        { false, "forest", "\"bad..forest\"" },
        { false, "client_site", "\"a\\tb\"" },
        { false, "dcs", "[]" },
        { false, "more", "true" },
        { true, "host", "\"\"" },
        { true, "host", "\"dc1\\u001b[2J\"" },
        { true, "address", "\"10.231.1.999\"" },
        { true, "address", "\"dc1.adb.test\"" },
        { true, "port", "0" },
        { true, "port", "65536" },
        { true, "flags", "-1" },
        { true, "rtt_us", "-2" },
        { true, "state", "\"sleeping\"" },
        { true, "state", "1" },
        { true, "in_client_site", "null" },
    };
    adb_dc_cache_entry e = sample_entry();
    json_t *good = adb_dc_cache_entry_to_json(&e);

    (void)state;
    adb_dc_list_free(&e.list);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *j = json_deep_copy(good), *bad = json_loads(cases[i].bad, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
        json_t *obj = cases[i].in_dc ? json_array_get(json_object_get(j, "dcs"), 1) : j;
        adb_dc_cache_entry out;
        adb_error err = { 0 };
        assert_non_null(bad);
        json_object_set_new(obj, cases[i].member, bad);
        if (adb_dc_cache_entry_from_json(j, &out, &err) != ADB_E_PROTOCOL || out.list.dcs != NULL)
            fail_msg("case %zu (%s = %s) was not refused", i, cases[i].member, cases[i].bad);
        json_decref(j);
    }
    /* More DCs than a list may hold. */
    json_t *j = json_deep_copy(good), *dcs = json_object_get(j, "dcs");
    while (json_array_size(dcs) <= 256)
        json_array_append(dcs, json_array_get(dcs, 0));
    adb_dc_cache_entry out;
    adb_error err = { 0 };
    assert_int_equal(adb_dc_cache_entry_from_json(j, &out, &err), ADB_E_PROTOCOL);
    json_decref(j);
    json_decref(good);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_envelope_round_trip),
        cmocka_unit_test(test_envelope_refusals),
        cmocka_unit_test(test_envelope_cut_and_mangled),
        cmocka_unit_test_setup(test_write_then_read, reset),
        cmocka_unit_test_setup(test_read_refusals, reset),
        cmocka_unit_test_setup(test_dir_ok, reset),
        cmocka_unit_test(test_topology_round_trip),
        cmocka_unit_test(test_topology_refusals),
        cmocka_unit_test(test_dc_round_trip),
        cmocka_unit_test(test_dc_refusals),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
