/* NETLOGON_SAM_LOGON_RESPONSE_EX decoder and CLDAP request/reply codec. */
#include "config.h"

#include <adbridge/cldap.h>
#include <adbridge/netlogon.h>

#include <lber.h>
#include <ldap.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

/* A reply as Samba sends it for NtVer 5|5EX|WITH_CLOSEST_SITE: names share
 * suffixes through compression pointers (0xC0 0x18 = offset 24, the forest). */
static const uint8_t good[] = {
    23, 0, 0, 0,                                   /* opcode, Sbz */
    0xfd, 0x13, 0x00, 0x00,                        /* flags: PDC GC LDAP DS KDC TIMESERV CLOSEST WRITABLE GOOD_TIMESERV FULL_SECRET */
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,   /* DomainGuid */
    3, 'a', 'd', 'b', 4, 't', 'e', 's', 't', 0,    /* DnsForestName @24 */
    0xc0, 24,                                      /* DnsDomainName -> adb.test */
    3, 'd', 'c', '1', 0xc0, 24,                    /* DnsHostName dc1.adb.test */
    3, 'A', 'D', 'B', 0,                           /* NetbiosDomainName */
    3, 'D', 'C', '1', 0,                           /* NetbiosComputerName */
    0,                                             /* UserName "" */
    5, 'T', 'o', 'k', 'y', 'o', 0,                 /* DcSiteName @53 */
    0xc0, 53,                                      /* ClientSiteName -> Tokyo */
    0,                                             /* NextClosestSiteName "" */
    5, 0, 0, 0, 0xff, 0xff, 0xff, 0xff,            /* NtVersion, LmNtToken, Lm20Token */
};

static void test_good_reply(void **state)
{
    adb_netlogon nl;
    adb_error err = { 0 };
    char flags[256];

    (void)state;
    assert_int_equal(adb_netlogon_decode(good, sizeof good, ADB_CLDAP_NTVER, &nl, &err), ADB_OK);
    assert_int_equal(nl.opcode, 23);
    assert_string_equal(nl.forest, "adb.test");
    assert_string_equal(nl.domain, "adb.test");
    assert_string_equal(nl.host, "dc1.adb.test");
    assert_string_equal(nl.netbios_domain, "ADB");
    assert_string_equal(nl.netbios_host, "DC1");
    assert_string_equal(nl.user, "");
    assert_string_equal(nl.dc_site, "Tokyo");
    assert_string_equal(nl.client_site, "Tokyo");
    assert_int_equal(nl.nt_version, 5);
    assert_int_equal(nl.domain_guid[15], 16);
    assert_true(nl.flags & ADB_DS_CLOSEST);
    assert_string_equal(adb_netlogon_flags_text(nl.flags, flags, sizeof flags),
                        "PDC,GC,LDAP,DS,KDC,TIMESERV,CLOSEST,WRITABLE,GOOD_TIMESERV,FULL_SECRET_DOMAIN_6");
}

/* Every truncation is refused, never read past. */
static void test_truncated_everywhere(void **state)
{
    adb_netlogon nl;
    adb_error err = { 0 };

    (void)state;
    for (size_t len = 0; len < sizeof good; len++) {
        uint8_t *copy = malloc(len ? len : 1);     /* exact size: ASan sees any overread */
        memcpy(copy, good, len);
        assert_int_equal(adb_netlogon_decode(copy, len, ADB_CLDAP_NTVER, &nl, &err), ADB_E_PROTOCOL);
        free(copy);
    }
}

static void test_hostile(void **state)
{
    adb_netlogon nl;
    adb_error err = { 0 };
    uint8_t b[sizeof good];

    (void)state;
    memcpy(b, good, sizeof b);
    b[34] = 0xc0, b[35] = 34;                /* DnsDomainName points at itself */
    assert_int_equal(adb_netlogon_decode(b, sizeof b, ADB_CLDAP_NTVER, &nl, &err), ADB_E_PROTOCOL);
    assert_non_null(strstr(err.message, "DnsDomainName"));

    memcpy(b, good, sizeof b);
    b[35] = 200;                             /* pointer beyond the blob */
    assert_int_equal(adb_netlogon_decode(b, sizeof b, ADB_CLDAP_NTVER, &nl, &err), ADB_E_PROTOCOL);

    memcpy(b, good, sizeof b);
    b[0] = 19;                               /* an older response type */
    assert_int_equal(adb_netlogon_decode(b, sizeof b, ADB_CLDAP_NTVER, &nl, &err), ADB_E_PROTOCOL);
    assert_non_null(strstr(err.message, "opcode 19"));

    memcpy(b, good, sizeof b);
    b[24] = 60;                              /* label longer than the rest of the blob */
    assert_int_equal(adb_netlogon_decode(b, sizeof b, ADB_CLDAP_NTVER, &nl, &err), ADB_E_PROTOCOL);

    uint8_t longer[sizeof good + 1];
    memcpy(longer, good, sizeof good);
    longer[sizeof good] = 0;                 /* trailing garbage */
    assert_int_equal(adb_netlogon_decode(longer, sizeof longer, ADB_CLDAP_NTVER, &nl, &err), ADB_E_PROTOCOL);
}

/* The request decodes back, with liblber, to the search MS-ADTS describes. */
static void test_request_encoding(void **state)
{
    uint8_t *req;
    size_t len;
    adb_error err = { 0 };
    ber_int_t id, scope, deref, size, time, types;
    ber_tag_t op, and_tag, eq1, eq2;
    struct berval base, a1, v1, a2, v2, attr;

    (void)state;
    assert_int_equal(adb_cldap_encode(4711, "adb.test", ADB_CLDAP_NTVER, &req, &len, &err), ADB_OK);
    struct berval in = { .bv_len = len, .bv_val = (char *)req };
    BerElement *ber = ber_init(&in);
    assert_int_not_equal(ber_scanf(ber, "{it{meeiib", &id, &op, &base, &scope, &deref, &size, &time, &types),
                         LBER_ERROR);
    assert_int_equal(id, 4711);
    assert_int_equal(op, LDAP_REQ_SEARCH);
    assert_int_equal(base.bv_len, 0);
    assert_int_equal(scope, LDAP_SCOPE_BASE);
    assert_int_not_equal(ber_scanf(ber, "t{t{mm}t{mm}}{m}", &and_tag, &eq1, &a1, &v1, &eq2, &a2, &v2, &attr),
                         LBER_ERROR);
    assert_int_equal(and_tag, LDAP_FILTER_AND);
    assert_int_equal(eq1, LDAP_FILTER_EQUALITY);
    assert_memory_equal(a1.bv_val, "DnsDomain", 9);
    assert_memory_equal(v1.bv_val, "adb.test", 8);
    assert_memory_equal(a2.bv_val, "NtVer", 5);
    assert_int_equal(v2.bv_len, 4);
    assert_memory_equal(v2.bv_val, "\x16\0\0\0", 4);
    assert_memory_equal(attr.bv_val, "Netlogon", 8);
    ber_free(ber, 1);
    free(req);
    assert_int_equal(adb_cldap_encode(1, "", ADB_CLDAP_NTVER, &req, &len, &err), ADB_E_INVALID_REQUEST);
}

/* A SearchResultEntry carrying blob, as a DC sends it. */
static struct berval *reply(int id, const char *attr, const void *blob, size_t len)
{
    BerElement *ber = ber_alloc_t(LBER_USE_DER);
    struct berval *bv;
    assert_true(ber_printf(ber, "{it{s{{s[o]}}}}", (ber_int_t)id, (ber_tag_t)LDAP_RES_SEARCH_ENTRY, "", attr,
                           blob, (ber_len_t)len) >= 0);
    assert_true(ber_flatten(ber, &bv) >= 0);
    ber_free(ber, 1);
    return bv;
}

static void test_reply_decoding(void **state)
{
    adb_netlogon nl;
    adb_error err = { 0 };

    (void)state;
    struct berval *bv = reply(77, "Netlogon", good, sizeof good);
    assert_int_equal(adb_cldap_decode((uint8_t *)bv->bv_val, bv->bv_len, 77, ADB_CLDAP_NTVER, &nl, &err), ADB_OK);
    assert_string_equal(nl.host, "dc1.adb.test");
    /* an answer to another ping */
    assert_int_equal(adb_cldap_decode((uint8_t *)bv->bv_val, bv->bv_len, 78, ADB_CLDAP_NTVER, &nl, &err),
                     ADB_E_PROTOCOL);
    /* every truncation of the datagram */
    for (size_t len = 0; len < bv->bv_len; len++)
        assert_int_equal(adb_cldap_decode((uint8_t *)bv->bv_val, len, 77, ADB_CLDAP_NTVER, &nl, &err),
                         ADB_E_PROTOCOL);
    ber_bvfree(bv);
    bv = reply(77, "objectClass", good, sizeof good);
    assert_int_equal(adb_cldap_decode((uint8_t *)bv->bv_val, bv->bv_len, 77, ADB_CLDAP_NTVER, &nl, &err),
                     ADB_E_PROTOCOL);
    ber_bvfree(bv);
}

/* A reply captured from the testenv's Samba DC2 (tests/fuzz/corpus/netlogon;
 * its first byte is the fuzzer's NtVer selector). */
/* Addresses that are not numeric IPv4 or IPv6 are refused per ping, before
 * any datagram: each is settled with invalid_request and none wins. */
static void test_search_refuses_bad_addresses(void **state)
{
    adb_cldap_ping p[3] = { { .address = "dc1.adb.test" }, { .address = "10.0.0.300" }, { .address = "fd00::1::2" } };
    adb_error err = { 0 };
    size_t winner = 0;

    (void)state;
    assert_int_equal(adb_cldap_search(p, 3, "adb.test", 0, NULL, NULL, &winner, &err), ADB_OK);
    assert_int_equal(winner, 3);
    for (int i = 0; i < 3; i++) {
        assert_true(p[i].settled);
        assert_int_equal(p[i].code, ADB_E_INVALID_REQUEST);
        assert_non_null(strstr(p[i].error, "not a numeric IPv4 or IPv6 address"));
    }
    assert_non_null(strstr(p[2].error, "[fd00::1::2]:389"));
    assert_int_equal(adb_cldap_ping_all(p, 3, "", 100, &err), ADB_OK);   /* refused per ping, not as a whole */
    assert_int_equal(p[0].code, ADB_E_INVALID_REQUEST);
}

static void test_captured_samba_reply(void **state)
{
    char path[4096];
    uint8_t blob[512];
    adb_netlogon nl;
    adb_error err = { 0 };
    const char *top = getenv("ADB_TOP_SRCDIR");

    (void)state;
    snprintf(path, sizeof path, "%s/tests/fuzz/corpus/netlogon/samba-dc2-adb", top != NULL ? top : ".");
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        fail_msg("cannot open %s (run through make check)", path);
    size_t n = fread(blob, 1, sizeof blob, f);
    fclose(f);
    assert_true(n > 1);
    assert_int_equal(adb_netlogon_decode(blob + 1, n - 1, ADB_CLDAP_NTVER, &nl, &err), ADB_OK);
    assert_string_equal(nl.host, "dc2.adb.test");
    assert_string_equal(nl.forest, "adb.test");
    assert_string_equal(nl.netbios_domain, "ADB");
    assert_string_equal(nl.dc_site, "Osaka");
    assert_string_equal(nl.client_site, "Tokyo");
    assert_false(nl.flags & ADB_DS_CLOSEST);
    assert_true(nl.flags & ADB_DS_GC);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_reply),
        cmocka_unit_test(test_truncated_everywhere),
        cmocka_unit_test(test_hostile),
        cmocka_unit_test(test_request_encoding),
        cmocka_unit_test(test_reply_decoding),
        cmocka_unit_test(test_captured_samba_reply),
        cmocka_unit_test(test_search_refuses_bad_addresses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
