/* Topology: decoders of rootDSE, crossRef and trustedDomain entries,
 * lookups by name/NetBIOS/SID/DN, functional levels, JSON. */
#include "config.h"

#include <adbridge/topology.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "entry_fixture.h"

/* S-1-5-21-2738551075-705579278-3387671068, partner.test's SID in the testenv. */
static const uint8_t partner_sid[] = { 1, 4, 0, 0, 0, 0, 0, 5, 0x15, 0, 0, 0, 0x23, 0xf9, 0x3a, 0xa3,
                                       0x0e, 0x49, 0x0e, 0x2a, 0x1c, 0xc2, 0xeb, 0xc9 };

static void test_rootdse(void **state)
{
    built *b = entry_new("");
    adb_rootdse r;
    adb_error err = { 0 };

    (void)state;
    add(b, "defaultNamingContext", "DC=adb,DC=test");
    add(b, "configurationNamingContext", "CN=Configuration,DC=adb,DC=test");
    add(b, "rootDomainNamingContext", "DC=adb,DC=test");
    add(b, "dnsHostName", "dc1.adb.test");
    add(b, "domainFunctionality", "4");
    add(b, "forestFunctionality", "3");
    add(b, "currentTime", "20261123065214.0Z");
    assert_int_equal(adb_rootdse_decode(&b->e, &r, &err), ADB_OK);
    assert_string_equal(r.default_nc, "DC=adb,DC=test");
    assert_string_equal(r.config_nc, "CN=Configuration,DC=adb,DC=test");
    assert_string_equal(r.dns_host_name, "dc1.adb.test");
    assert_string_equal(r.current_time, "20261123065214.0Z");
    assert_int_equal(r.domain_level, 4);
    assert_int_equal(r.forest_level, 3);
    entry_free(b);

    b = entry_new("");
    add(b, "dnsHostName", "ldap.example");   /* not an AD DC */
    assert_int_equal(adb_rootdse_decode(&b->e, &r, &err), ADB_E_PROTOCOL);
    assert_non_null(strstr(err.message, "defaultNamingContext"));
    entry_free(b);

    b = entry_new("");
    add(b, "defaultNamingContext", "DC=adb,DC=test");
    add(b, "configurationNamingContext", "CN=Configuration,DC=adb,DC=test");
    add(b, "rootDomainNamingContext", "DC=adb,DC=test");
    add(b, "domainFunctionality", "four");
    assert_int_equal(adb_rootdse_decode(&b->e, &r, &err), ADB_OK);
    assert_int_equal(r.domain_level, ADB_LEVEL_UNKNOWN);
    entry_free(b);
}

static void test_crossref(void **state)
{
    built *b = entry_new("CN=ADB,CN=Partitions,CN=Configuration,DC=adb,DC=test");
    adb_topo_domain d;
    bool is_domain;
    adb_error err = { 0 };

    (void)state;
    add(b, "nCName", "DC=adb,DC=test");
    add(b, "dnsRoot", "ADB.test");
    add(b, "nETBIOSName", "ADB");
    add(b, "systemFlags", "3");
    assert_int_equal(adb_crossref_decode(&b->e, &d, &is_domain, &err), ADB_OK);
    assert_true(is_domain);
    assert_string_equal(d.dns, "adb.test");
    assert_string_equal(d.netbios, "ADB");
    assert_string_equal(d.nc, "DC=adb,DC=test");
    assert_int_equal(d.level, ADB_LEVEL_UNKNOWN);
    adb_topo_domain_clear(&d);
    entry_free(b);

    /* DNS zones (systemFlags 5) and configuration/schema (1) are not domains. */
    const char *flags[] = { "5", "1", "0" };
    for (int i = 0; i < 3; i++) {
        b = entry_new("CN=x,CN=Partitions,CN=Configuration,DC=adb,DC=test");
        add(b, "nCName", "DC=DomainDnsZones,DC=adb,DC=test");
        add(b, "dnsRoot", "DomainDnsZones.adb.test");
        add(b, "systemFlags", flags[i]);
        assert_int_equal(adb_crossref_decode(&b->e, &d, &is_domain, &err), ADB_OK);
        assert_false(is_domain);
        entry_free(b);
    }
    b = entry_new("CN=bad,CN=Partitions,CN=Configuration,DC=adb,DC=test");
    add(b, "systemFlags", "3");
    add(b, "dnsRoot", "bad name");
    add(b, "nCName", "DC=x");
    assert_int_equal(adb_crossref_decode(&b->e, &d, &is_domain, &err), ADB_E_PROTOCOL);
    entry_free(b);
}

static void test_trust(void **state)
{
    built *b = entry_new("CN=partner.test,CN=System,DC=adb,DC=test");
    adb_topo_trust t;
    adb_error err = { 0 };
    char sid[ADB_SID_STRING_MAX];

    (void)state;
    add(b, "trustPartner", "Partner.Test");
    add(b, "flatName", "PARTNER");
    add(b, "trustDirection", "3");
    add(b, "trustType", "2");
    add(b, "trustAttributes", "8");
    add_bin(b, "securityIdentifier", partner_sid, sizeof partner_sid);
    assert_int_equal(adb_trust_decode(&b->e, "adb.test", &t, &err), ADB_OK);
    assert_string_equal(t.partner, "partner.test");
    assert_string_equal(t.flat_name, "PARTNER");
    assert_string_equal(t.domain, "adb.test");
    assert_int_equal(t.direction, 3);
    assert_int_equal(t.type, ADB_TRUST_TYPE_UPLEVEL);
    assert_true(t.attributes & ADB_TRUST_ATTR_FOREST_TRANSITIVE);
    assert_true(t.has_sid);
    adb_sid_format(&t.sid, sid, sizeof sid, NULL);
    assert_string_equal(sid, "S-1-5-21-2738551075-705579278-3387671068");
    assert_string_equal(adb_trust_direction_name(t.direction), "bidirectional");
    adb_topo_trust_clear(&t);

    first_value(b, "securityIdentifier")->bv_len = 10;
    assert_int_equal(adb_trust_decode(&b->e, "adb.test", &t, &err), ADB_E_PROTOCOL);
    assert_non_null(strstr(err.message, "partner.test"));
    entry_free(b);

    b = entry_new("CN=x,CN=System,DC=adb,DC=test");
    add(b, "flatName", "X");
    assert_int_equal(adb_trust_decode(&b->e, "adb.test", &t, &err), ADB_E_PROTOCOL);
    entry_free(b);
    assert_string_equal(adb_trust_direction_name(1), "inbound");
    assert_string_equal(adb_trust_direction_name(2), "outbound");
    assert_string_equal(adb_trust_direction_name(0), "disabled");
}

static void test_levels(void **state)
{
    (void)state;
    assert_false(adb_level_supported(0));
    assert_false(adb_level_supported(2));
    assert_false(adb_level_supported(3));    /* 2008 */
    assert_true(adb_level_supported(4));     /* 2008 R2 */
    assert_true(adb_level_supported(7));
    assert_true(adb_level_supported(ADB_LEVEL_UNKNOWN));
    assert_string_equal(adb_level_name(3), "2008");
    assert_string_equal(adb_level_name(4), "2008 R2");
    assert_string_equal(adb_level_name(7), "2016");
    assert_string_equal(adb_level_name(10), "newer than 2016");
    assert_string_equal(adb_level_name(ADB_LEVEL_UNKNOWN), "unknown");
}

/* A topology as discovery would build it, by hand. */
static adb_topology *two_forests(void)
{
    adb_topology *t = calloc(1, sizeof *t);

    t->refs_ = 1;
    t->joined = strdup("adb.test");
    t->n_domains = 2;
    t->domains = calloc(2, sizeof *t->domains);
    t->domains[0] = (adb_topo_domain){ .dns = strdup("adb.test"), .netbios = strdup("ADB"),
                                       .nc = strdup("DC=adb,DC=test"), .forest = strdup("adb.test"), .level = 4,
                                       .forest_level = 4,
                                       .contacted = true, .configured = true, .dc = strdup("dc1.adb.test") };
    adb_sid_parse("S-1-5-21-1-2-3", 14, &t->domains[0].sid, NULL);
    t->domains[0].has_sid = true;
    t->domains[1] = (adb_topo_domain){ .dns = strdup("partner.test"), .netbios = strdup("PARTNER"),
                                       .nc = strdup("DC=partner,DC=test"), .forest = strdup("partner.test"),
                                       .level = 3, .forest_level = ADB_LEVEL_UNKNOWN, .configured = true };
    adb_sid_decode(partner_sid, sizeof partner_sid, &t->domains[1].sid, NULL);
    t->domains[1].has_sid = true;
    t->n_forests = 2;
    t->forests = calloc(2, sizeof *t->forests);
    t->forests[0] = (adb_topo_forest){ .root = strdup("adb.test"), .level = 4, .own = true, .contacted = true };
    t->forests[1] = (adb_topo_forest){ .root = strdup("partner.test"), .level = ADB_LEVEL_UNKNOWN,
                                       .error = strdup("dc_unavailable: no DC answered") };
    t->n_trusts = 1;
    t->trusts = calloc(1, sizeof *t->trusts);
    t->trusts[0] = (adb_topo_trust){ .domain = strdup("adb.test"), .partner = strdup("partner.test"),
                                     .flat_name = strdup("PARTNER"), .direction = 3, .type = 2, .attributes = 8 };
    return t;
}

static void test_lookups_and_json(void **state)
{
    adb_topology *t = two_forests();
    adb_sid sid;
    char dir[] = "/tmp/adb-topo-XXXXXX", text[512], cmd[64];
    adb_config *cfg;
    adb_subscriptions *subs;
    json_t *j, *d;

    (void)state;
    assert_ptr_equal(adb_topology_domain(t, "ADB"), &t->domains[0]);
    assert_ptr_equal(adb_topology_domain(t, "Partner.Test"), &t->domains[1]);
    assert_ptr_equal(adb_topology_domain(t, "partner"), &t->domains[1]);
    assert_null(adb_topology_domain(t, "other"));
    assert_int_equal(adb_sid_parse("S-1-5-21-1-2-3-1105", 19, &sid, NULL), ADB_OK);
    assert_ptr_equal(adb_topology_domain_of_sid(t, &sid), &t->domains[0]);
    assert_int_equal(adb_sid_parse("S-1-5-21-1-2-3", 14, &sid, NULL), ADB_OK);
    assert_null(adb_topology_domain_of_sid(t, &sid));   /* the domain's own SID holds no RID */
    assert_int_equal(adb_sid_parse("S-1-5-32-544", 12, &sid, NULL), ADB_OK);
    assert_null(adb_topology_domain_of_sid(t, &sid));
    assert_ptr_equal(adb_topology_domain_of_dn(t, "CN=x,OU=y,DC=Partner,DC=test"), &t->domains[1]);
    assert_null(adb_topology_domain_of_dn(t, "CN=x,DC=child,DC=adb,DC=test"));
    assert_non_null(adb_topology_forest(t, "PARTNER.TEST"));

    assert_non_null(mkdtemp(dir));
    snprintf(text, sizeof text, "{\"state_dir\": \"%s\", \"domains\": [{\"name\": \"adb.test\", "
             "\"use_for_subscriptions\": true}, {\"name\": \"partner.test\"}]}", dir);
    assert_int_equal(adb_config_parse(text, strlen(text), "test", &cfg, NULL), ADB_OK);
    assert_int_equal(adb_subscriptions_open(cfg, &subs, NULL), ADB_OK);
    j = adb_topology_to_json(t, subs);
    assert_string_equal(json_string_value(json_object_get(j, "joined_domain")), "adb.test");
    d = json_array_get(json_object_get(j, "domains"), 1);
    assert_string_equal(json_string_value(json_object_get(d, "netbios")), "PARTNER");
    assert_true(json_is_false(json_object_get(d, "use_for_subscriptions")));
    assert_true(json_is_false(json_object_get(d, "supported")));      /* level 3 = 2008 */
    assert_string_equal(json_string_value(json_object_get(d, "level_name")), "2008");
    assert_string_equal(json_string_value(json_object_get(d, "sid")), "S-1-5-21-2738551075-705579278-3387671068");
    d = json_array_get(json_object_get(j, "domains"), 0);
    assert_true(json_is_true(json_object_get(d, "use_for_subscriptions")));
    assert_string_equal(json_string_value(json_object_get(d, "dc")), "dc1.adb.test");
    d = json_array_get(json_object_get(j, "forests"), 1);
    assert_string_equal(json_string_value(json_object_get(d, "relation")), "trusted");
    assert_string_equal(json_string_value(json_object_get(d, "error")), "dc_unavailable: no DC answered");
    d = json_array_get(json_object_get(j, "trusts"), 0);
    assert_true(json_is_true(json_object_get(d, "forest_transitive")));
    assert_string_equal(json_string_value(json_object_get(d, "direction")), "bidirectional");
    json_decref(j);
    /* A 2008 R2 domain in a 2008 forest is unsupported too. */
    t->domains[0].forest_level = 3;
    j = adb_topology_to_json(t, subs);
    assert_true(json_is_false(json_object_get(json_array_get(json_object_get(j, "domains"), 0), "supported")));
    json_decref(j);

    adb_topology *r = adb_topology_ref(t);
    adb_topology_unref(t);
    assert_string_equal(r->joined, "adb.test");
    adb_topology_unref(r);
    adb_subscriptions_free(subs);
    adb_config_free(cfg);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rootdse),
        cmocka_unit_test(test_crossref),
        cmocka_unit_test(test_trust),
        cmocka_unit_test(test_levels),
        cmocka_unit_test(test_lookups_and_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
