/* Identifier parsing: every form, and strict refusal of malformed input. */
#include "config.h"

#include <adbridge/ident.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

static adb_ident parse_ok(const char *text, const char *domain)
{
    adb_ident id;
    adb_error err = { 0 };

    if (adb_ident_parse(text, strlen(text), domain, &id, &err) != ADB_OK)
        fail_msg("'%s': %s", text, err.message);
    return id;
}

static void parse_bad(const char *text, size_t len, const char *domain, const char *why)
{
    adb_ident id;
    adb_error err = { 0 };

    if (adb_ident_parse(text, len, domain, &id, &err) != ADB_E_INVALID_REQUEST)
        fail_msg("'%.*s' was accepted", (int)len, text);
    if (strstr(err.message, why) == NULL)
        fail_msg("'%.*s': message '%s' lacks '%s'", (int)len, text, err.message, why);
}

static void test_forms(void **state)
{
    adb_ident id;
    char buf[ADB_GUID_STRING_MAX];

    (void)state;
    id = parse_ok("ADB\\alice", NULL);
    assert_int_equal(id.kind, ADB_IDENT_NT4);
    assert_string_equal(id.domain, "ADB");
    assert_string_equal(id.name, "alice");

    id = parse_ok("adb.test\\alice", NULL);
    assert_int_equal(id.kind, ADB_IDENT_NT4);
    assert_string_equal(id.domain, "adb.test");

    id = parse_ok("alice@adb.test", NULL);
    assert_int_equal(id.kind, ADB_IDENT_UPN);
    assert_string_equal(id.domain, "adb.test");
    assert_string_equal(id.name, "alice@adb.test");

    id = parse_ok("S-1-5-21-1-2-3-1105", NULL);
    assert_int_equal(id.kind, ADB_IDENT_SID);
    assert_int_equal(id.sid.sub[4], 1105);

    id = parse_ok("00112233-4455-6677-8899-AABBCCDDEEFF", NULL);
    assert_int_equal(id.kind, ADB_IDENT_GUID);
    adb_guid_format(&id.guid, buf);
    assert_string_equal(buf, "00112233-4455-6677-8899-aabbccddeeff");
    id = parse_ok("{00112233-4455-6677-8899-aabbccddeeff}", NULL);
    assert_int_equal(id.kind, ADB_IDENT_GUID);

    id = parse_ok("CN=Smith\\, John (Sales) *VIP*,OU=AdbTest,DC=adb,DC=test", NULL);
    assert_int_equal(id.kind, ADB_IDENT_DN);
    assert_string_equal(id.domain, "adb.test");
    assert_string_equal(id.name, "CN=Smith\\, John (Sales) *VIP*,OU=AdbTest,DC=adb,DC=test");

    id = parse_ok("alice", NULL);
    assert_int_equal(id.kind, ADB_IDENT_NAME);
    assert_string_equal(id.domain, "");
    id = parse_ok("alice", "ADB");
    assert_int_equal(id.kind, ADB_IDENT_NT4);
    assert_string_equal(id.domain, "ADB");
    id = parse_ok("Domain Users", "partner.test");
    assert_int_equal(id.kind, ADB_IDENT_NT4);
    assert_string_equal(id.name, "Domain Users");
    id = parse_ok("CONNECTOR1$", NULL);
    assert_int_equal(id.kind, ADB_IDENT_NAME);
    /* Non-ASCII names are names. */
    id = parse_ok("ADB\\jos\xc3\xa9.m\xc3\xbcller", NULL);
    assert_string_equal(id.name, "jos\xc3\xa9.m\xc3\xbcller");
    /* "s-..." is a SID only if it parses: a name starting "s-" is refused as a bad SID. */
    parse_bad("s-smith", 7, NULL, "malformed SID");
    /* Empty domain argument is "none". */
    id = parse_ok("bob", "");
    assert_int_equal(id.kind, ADB_IDENT_NAME);
}

static void test_refused(void **state)
{
    char big[ADB_IDENT_MAX + 2];

    (void)state;
    parse_bad("", 0, NULL, "empty");
    parse_bad(NULL, 0, NULL, "empty");
    memset(big, 'a', sizeof big);
    parse_bad(big, sizeof big, NULL, "at most");
    parse_bad("al\0ice", 6, NULL, "NUL");
    parse_bad("al\nice", 6, NULL, "control");
    parse_bad("al\x7f" "ice", 6, NULL, "control");
    parse_bad("\xff\xfe", 2, NULL, "UTF-8");
    parse_bad("\xc0\xaf", 2, NULL, "UTF-8");           /* overlong '/' */
    parse_bad("\xed\xa0\x80", 3, NULL, "UTF-8");       /* surrogate */
    parse_bad("\xe5\xb1", 2, NULL, "UTF-8");           /* truncated */
    parse_bad("\xc2\x85", 2, NULL, "UTF-8");           /* C1 control NEL */
    parse_bad("S-1-5-21-01-2", 13, NULL, "malformed SID");
    parse_bad("S-1-5", 5, NULL, "malformed SID");
    parse_bad("CN=alice,,DC=test", 17, NULL, "distinguished name");
    parse_bad("CN=alice,OU=x", 13, NULL, "names no domain");
    parse_bad("\\alice", 6, NULL, "domain part is empty");
    parse_bad("ADB\\", 4, NULL, "empty");
    parse_bad("A*B\\alice", 9, NULL, "NetBIOS");
    parse_bad("TOOLONGNETBIOSNAME\\alice", 24, NULL, "NetBIOS");
    parse_bad("bad..dns\\alice", 14, NULL, "NetBIOS");
    parse_bad("ADB\\al\\ice", 10, NULL, "cannot contain");
    parse_bad("ADB\\a*", 6, NULL, "cannot contain");
    parse_bad("*", 1, NULL, "cannot contain");
    parse_bad("*)(objectClass=*", 16, NULL, "cannot contain");
    parse_bad("alice)(|(sAMAccountName=*", 25, NULL, "cannot contain");
    parse_bad("alice.", 6, NULL, "ends with");
    parse_bad(" alice", 6, NULL, "space");
    parse_bad("@adb.test", 9, NULL, "nothing before");
    parse_bad("alice@", 6, NULL, "empty");
    parse_bad("alice@bad_suffix!", 17, NULL, "not a DNS name");
    parse_bad("alice@adb.test", 14, "ADB", "only qualify a bare");
    parse_bad("alice", 5, "A:B", "NetBIOS");
    char longname[300];
    memset(longname, 'n', sizeof longname);
    parse_bad(longname, ADB_NAME_MAX + 1, NULL, "at most");
}

static void test_helpers(void **state)
{
    (void)state;
    assert_true(adb_netbios_name_valid("ADB"));
    assert_true(adb_netbios_name_valid("PARTNER-2"));
    assert_false(adb_netbios_name_valid(""));
    assert_false(adb_netbios_name_valid("SIXTEENCHARSLONG"));
    assert_false(adb_netbios_name_valid("A.B"));
    assert_true(adb_text_valid("\xe5\xb1\xb1\xe7\x94\xb0", 6));
    assert_true(adb_text_valid("\xf0\x9f\x98\x80", 4));
    assert_false(adb_text_valid("\xf4\x90\x80\x80", 4));   /* above U+10FFFF */
    assert_false(adb_text_valid("\t", 1));
    assert_string_equal(adb_ident_kind_name(ADB_IDENT_UPN), "upn");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forms),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_helpers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
