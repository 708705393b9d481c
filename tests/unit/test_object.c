/* Object decoding from hand-built LDAP entries: kinds, SID/GUID, account
 * status bits, group types, expiry; JSON shape; lists and sort keys. */
#include "config.h"

#include <adbridge/object.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "entry_fixture.h"

/* S-1-5-21-1-2-3-1105 and GUID 00112233-4455-6677-8899-aabbccddeeff in AD byte order. */
static const uint8_t sid_bin[] = { 1, 5, 0, 0, 0, 0, 0, 5, 21, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0,
                                   0x51, 4, 0, 0 };
static const uint8_t guid_bin[] = { 0x33, 0x22, 0x11, 0x00, 0x55, 0x44, 0x77, 0x66,
                                    0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff };
static const adb_object_origin adb_origin = { "adb.test", "ADB", "adb.test" };
static const time_t now = 1700000000;   /* 2023-11-14 */

static built *user_entry(const char *uac, const char *computed, const char *pwd_last_set, const char *expires)
{
    built *b = entry_new("CN=alice,OU=AdbTest,DC=adb,DC=test");
    add(b, "objectClass", "top");
    add(b, "objectClass", "person");
    add(b, "objectClass", "organizationalPerson");
    add(b, "objectClass", "user");
    add_bin(b, "objectSid", sid_bin, sizeof sid_bin);
    add_bin(b, "objectGUID", guid_bin, sizeof guid_bin);
    add(b, "sAMAccountName", "alice");
    add(b, "userPrincipalName", "alice@adb.test");
    add(b, "displayName", "Alice Example");
    add(b, "givenName", "Alice");
    add(b, "sn", "Example");
    add(b, "mail", "alice@example.test");
    add(b, "primaryGroupID", "513");
    if (uac)
        add(b, "userAccountControl", uac);
    if (computed)
        add(b, "msDS-User-Account-Control-Computed", computed);
    if (pwd_last_set)
        add(b, "pwdLastSet", pwd_last_set);
    if (expires)
        add(b, "accountExpires", expires);
    return b;
}

static adb_object *decode_ok(built *b)
{
    adb_object *o = NULL;
    adb_error err = { 0 };

    if (adb_object_decode(&b->e, &adb_origin, now, &o, &err) != ADB_OK)
        fail_msg("decode: %s", err.message);
    return o;
}

static void test_user(void **state)
{
    built *b = user_entry("512", "0", "133000000000000000", "9223372036854775807");
    adb_object *o = decode_ok(b);
    char sid[ADB_SID_STRING_MAX], guid[ADB_GUID_STRING_MAX], disp[64];

    (void)state;
    assert_int_equal(o->kind, ADB_OBJECT_USER);
    assert_true(o->has_sid);
    assert_int_equal(adb_sid_format(&o->sid, sid, sizeof sid, NULL), ADB_OK);
    assert_string_equal(sid, "S-1-5-21-1-2-3-1105");
    adb_guid_format(&o->guid, guid);
    assert_string_equal(guid, "00112233-4455-6677-8899-aabbccddeeff");
    assert_string_equal(o->sam_account_name, "alice");
    assert_string_equal(o->upn, "alice@adb.test");
    assert_string_equal(o->display_name, "Alice Example");
    assert_string_equal(o->given_name, "Alice");
    assert_string_equal(o->surname, "Example");
    assert_string_equal(o->mail, "alice@example.test");
    assert_string_equal(o->dn, "CN=alice,OU=AdbTest,DC=adb,DC=test");
    assert_string_equal(o->domain_dns, "adb.test");
    assert_string_equal(o->domain_netbios, "ADB");
    assert_string_equal(o->forest, "adb.test");
    assert_true(o->enabled);
    assert_false(o->locked);
    assert_false(o->password_expired);
    assert_false(o->must_change_password);
    assert_int_equal(o->account_expires, 0);
    assert_false(o->account_expired);
    assert_int_equal(o->primary_group_rid, 513);
    assert_string_equal(adb_object_display(o, disp, sizeof disp), "ADB\\alice");
    assert_string_equal(adb_object_sort_key(o), "alice\x01" "adb.test");
    assert_true(adb_object_size(o) > sizeof *o);
    /* References: the object lives until the last one goes. */
    adb_object *r = adb_object_ref(o);
    adb_object_unref(o);
    assert_string_equal(r->sam_account_name, "alice");
    adb_object_unref(r);
    entry_free(b);
}

static void test_account_status(void **state)
{
    struct {
        const char *uac, *computed, *pwd, *expires;
        bool enabled, locked, expired_pw, must_change, account_expired;
        time_t expires_at;
    } cases[] = {
        { "514", "0", "133000000000000000", "0", false, false, false, false, false, 0 },      /* disabled */
        { "512", "16", "133000000000000000", "0", true, true, false, false, false, 0 },       /* locked */
        { "512", "8388608", "133000000000000000", "0", true, false, true, false, false, 0 },  /* password expired */
        /* pwdLastSet 0: AD also sets PASSWORD_EXPIRED; reported as must change only. */
        { "512", "8388608", "0", "0", true, false, false, true, false, 0 },
        /* accountExpires 2023-01-01 (before now): expired; 2030-01-01: not yet. */
        { "512", "0", "1", "133170048000000000", true, false, false, false, true, 1672531200 },
        { "512", "0", "1", "135379296000000000", true, false, false, false, false, 1893456000 },
        /* No computed attribute (a listing): status not known, not guessed. */
        { "512", NULL, NULL, NULL, true, false, false, false, false, 0 },
        { "66050", "16", "1", "9223372036854775807", false, true, false, false, false, 0 },
    };

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        built *b = user_entry(cases[i].uac, cases[i].computed, cases[i].pwd, cases[i].expires);
        adb_object *o = decode_ok(b);
        print_message("# case %zu\n", i);
        assert_int_equal(o->enabled, cases[i].enabled);
        assert_int_equal(o->locked, cases[i].locked);
        assert_int_equal(o->password_expired, cases[i].expired_pw);
        assert_int_equal(o->must_change_password, cases[i].must_change);
        assert_int_equal(o->account_expired, cases[i].account_expired);
        assert_int_equal(o->account_expires, cases[i].expires_at);
        assert_int_equal(o->status_known, cases[i].computed != NULL);
        json_t *j = adb_object_to_json(o), *acct = json_object_get(j, "account");
        assert_true(cases[i].computed != NULL ? json_is_boolean(json_object_get(acct, "locked"))
                                              : json_is_null(json_object_get(acct, "locked")));
        assert_true(cases[i].computed != NULL ? json_is_boolean(json_object_get(acct, "password_expired"))
                                              : json_is_null(json_object_get(acct, "password_expired")));
        json_decref(j);
        adb_object_unref(o);
        entry_free(b);
    }
}

static void test_group_types(void **state)
{
    struct {
        const char *group_type;
        bool security;
        adb_group_scope scope;
        const char *scope_name;
    } cases[] = {
        { "-2147483646", true, ADB_SCOPE_GLOBAL, "global" },
        { "-2147483644", true, ADB_SCOPE_DOMAIN_LOCAL, "domain_local" },
        { "-2147483640", true, ADB_SCOPE_UNIVERSAL, "universal" },
        { "2", false, ADB_SCOPE_GLOBAL, "global" },
        { "4", false, ADB_SCOPE_DOMAIN_LOCAL, "domain_local" },
        { "8", false, ADB_SCOPE_UNIVERSAL, "universal" },
        { "-2147483643", true, ADB_SCOPE_BUILTIN_LOCAL, "builtin_local" },   /* BUILTIN\Administrators */
    };

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        built *b = entry_new("CN=g,OU=AdbTest,DC=adb,DC=test");
        adb_object *o;
        json_t *j;
        add(b, "objectClass", "top");
        add(b, "objectClass", "group");
        add(b, "sAMAccountName", "g");
        add(b, "groupType", cases[i].group_type);
        o = decode_ok(b);
        assert_int_equal(o->kind, ADB_OBJECT_GROUP);
        assert_int_equal(o->security, cases[i].security);
        assert_int_equal(o->scope, cases[i].scope);
        j = adb_object_to_json(o);
        assert_string_equal(json_string_value(json_object_get(json_object_get(j, "group"), "scope")),
                            cases[i].scope_name);
        assert_string_equal(json_string_value(json_object_get(json_object_get(j, "group"), "type")),
                            cases[i].security ? "security" : "distribution");
        assert_true(json_is_null(json_object_get(j, "account")));
        json_decref(j);
        adb_object_unref(o);
        entry_free(b);
    }
}

static void test_kinds(void **state)
{
    const char *classes[][5] = {
        { "top", "person", "organizationalPerson", "user", "computer" },
        { "top", "foreignSecurityPrincipal", NULL, NULL, NULL },
        { "top", "contact", NULL, NULL, NULL },
    };
    adb_object_kind want[] = { ADB_OBJECT_COMPUTER, ADB_OBJECT_FOREIGN, ADB_OBJECT_OTHER };

    (void)state;
    for (size_t i = 0; i < 3; i++) {
        built *b = entry_new("CN=x,DC=adb,DC=test");
        adb_object *o;
        for (size_t k = 0; k < 5 && classes[i][k] != NULL; k++)
            add(b, "objectClass", classes[i][k]);
        o = decode_ok(b);
        assert_int_equal(o->kind, want[i]);
        /* No account name: the sort key falls back to the DN. */
        assert_string_equal(adb_object_sort_key(o), "cn=x,dc=adb,dc=test\x01" "adb.test");
        adb_object_unref(o);
        entry_free(b);
    }
    assert_string_equal(adb_object_kind_name(ADB_OBJECT_COMPUTER), "computer");
    assert_string_equal(adb_object_kind_name(ADB_OBJECT_FOREIGN), "foreign");
}

static void test_malformed(void **state)
{
    adb_object *o;
    adb_error err = { 0 };
    built *b;

    (void)state;
    b = user_entry("512", "0", "1", "0");
    first_value(b, "objectSid")->bv_len = 27;   /* objectSid one byte short */
    assert_int_equal(adb_object_decode(&b->e, &adb_origin, now, &o, &err), ADB_E_PROTOCOL);
    assert_null(o);
    assert_non_null(strstr(err.message, "CN=alice"));
    entry_free(b);

    b = user_entry("512", "0", "1", "0");
    first_value(b, "objectGUID")->bv_len = 15;   /* objectGUID */
    assert_int_equal(adb_object_decode(&b->e, &adb_origin, now, &o, &err), ADB_E_PROTOCOL);
    entry_free(b);

    b = user_entry("5x12", "0", "1", "0");
    assert_int_equal(adb_object_decode(&b->e, &adb_origin, now, &o, &err), ADB_E_PROTOCOL);
    assert_non_null(strstr(err.message, "userAccountControl"));
    entry_free(b);

    b = user_entry("512", "0", "1", "99999999999999999999999");   /* overflows int64 */
    assert_int_equal(adb_object_decode(&b->e, &adb_origin, now, &o, &err), ADB_E_PROTOCOL);
    entry_free(b);

    /* A value with an embedded NUL is dropped, not truncated. */
    b = user_entry("512", "0", "1", "0");
    first_value(b, "displayName")->bv_val[3] = '\0';   /* displayName "Ali\0e Example" */
    o = decode_ok(b);
    assert_null(o->display_name);
    adb_object_unref(o);
    entry_free(b);
}

static void test_special_names_round_trip(void **state)
{
    const char *names[] = { "Smith, John (Sales) *VIP*", "O\"Brien; Pat <Ops> #1",
                            "\xe5\xb1\xb1\xe7\x94\xb0 \xe5\xa4\xaa\xe9\x83\x8e", "Jos\xc3\xa9 M\xc3\xbcller" };

    (void)state;
    for (size_t i = 0; i < 4; i++) {
        built *b = entry_new("CN=x,OU=AdbTest,DC=adb,DC=test");
        adb_object *o;
        json_t *j, *back;
        char *text;
        add(b, "objectClass", "user");
        add(b, "displayName", names[i]);
        add(b, "sAMAccountName", "x");
        o = decode_ok(b);
        j = adb_object_to_json(o);
        text = json_dumps(j, 0);
        back = json_loads(text, 0, NULL);
        assert_string_equal(json_string_value(json_object_get(back, "display_name")), names[i]);
        free(text);
        json_decref(back);
        json_decref(j);
        adb_object_unref(o);
        entry_free(b);
    }
}

static void test_json_shape(void **state)
{
    built *b = user_entry("512", "16", "0", "133170048000000000");
    adb_object *o = decode_ok(b);
    json_t *j = adb_object_to_json(o), *acct = json_object_get(j, "account");
    const char *fields[] = { "kind", "sid", "guid", "dn", "sam_account_name", "upn", "display_name", "given_name",
                             "surname", "mail", "domain", "forest", "account", "group" };

    (void)state;
    assert_int_equal(json_object_size(j), sizeof fields / sizeof fields[0]);
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        assert_non_null(json_object_get(j, fields[i]));
    assert_string_equal(json_string_value(json_object_get(j, "kind")), "user");
    assert_string_equal(json_string_value(json_object_get(j, "sid")), "S-1-5-21-1-2-3-1105");
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "domain"), "netbios")), "ADB");
    assert_true(json_is_true(json_object_get(acct, "locked")));
    assert_true(json_is_true(json_object_get(acct, "must_change_password")));
    assert_true(json_is_false(json_object_get(acct, "password_expired")));
    assert_string_equal(json_string_value(json_object_get(acct, "account_expires")), "2023-01-01T00:00:00Z");
    assert_true(json_is_true(json_object_get(acct, "account_expired")));
    assert_true(json_is_null(json_object_get(j, "group")));
    json_decref(j);
    adb_object_unref(o);
    entry_free(b);
}

/* A projection keeps exactly the fields asked for; 0 keeps all. */
static void test_json_fields(void **state)
{
    built *b = user_entry("512", "16", "0", "133170048000000000");
    adb_object *o = decode_ok(b);
    json_t *j = adb_object_to_json_fields(o, ADB_FIELD_SID | ADB_FIELD_SAM_ACCOUNT_NAME);

    (void)state;
    assert_int_equal(json_object_size(j), 2);
    assert_string_equal(json_string_value(json_object_get(j, "sid")), "S-1-5-21-1-2-3-1105");
    assert_non_null(json_object_get(j, "sam_account_name"));
    json_decref(j);
    j = adb_object_to_json_fields(o, 0);
    assert_int_equal(json_object_size(j), 14);
    json_decref(j);
    assert_int_equal(adb_object_field("group"), ADB_FIELD_GROUP);
    assert_int_equal(adb_object_field("kind"), ADB_FIELD_KIND);
    assert_int_equal(adb_object_field("name"), 0);
    assert_int_equal(adb_object_field("Sid"), 0);
    assert_int_equal(adb_object_field(NULL), 0);
    adb_object_unref(o);
    entry_free(b);
}

static void test_stub_list_sort(void **state)
{
    adb_sid sid;
    adb_object *stub, *a, *z;
    adb_object_list l = { 0 };
    adb_object_origin partner = { "partner.test", "PARTNER", "partner.test" };
    built *ba = user_entry("512", "0", "1", "0"), *bz = entry_new("CN=zed,DC=adb,DC=test");
    json_t *j;
    char disp[80];

    (void)state;
    assert_int_equal(adb_sid_parse("S-1-5-21-9-9-9-1105", 19, &sid, NULL), ADB_OK);
    assert_int_equal(adb_object_new_stub(ADB_OBJECT_FOREIGN, &sid, NULL, &partner, &stub, NULL), ADB_OK);
    assert_string_equal(adb_object_display(stub, disp, sizeof disp), "PARTNER\\S-1-5-21-9-9-9-1105");
    j = adb_object_to_json(stub);
    assert_string_equal(json_string_value(json_object_get(j, "kind")), "foreign");
    assert_true(json_is_null(json_object_get(j, "sam_account_name")));
    json_decref(j);
    add(bz, "objectClass", "group");
    add(bz, "sAMAccountName", "Zed");
    a = decode_ok(ba);
    z = decode_ok(bz);
    assert_int_equal(adb_object_list_add(&l, z, NULL), ADB_OK);
    assert_int_equal(adb_object_list_add(&l, stub, NULL), ADB_OK);
    assert_int_equal(adb_object_list_add(&l, a, NULL), ADB_OK);
    adb_object_unref(a);
    adb_object_unref(z);
    adb_object_unref(stub);
    adb_object_list_sort(&l);
    assert_string_equal(l.items[0]->sam_account_name, "alice");
    assert_null(l.items[1]->sam_account_name);   /* "s-1-5-..." sorts between */
    assert_string_equal(l.items[2]->sam_account_name, "Zed");
    j = adb_object_list_to_json(&l);
    assert_int_equal(json_array_size(j), 3);
    json_decref(j);
    adb_object_list_clear(&l);
    assert_int_equal(l.n, 0);
    entry_free(ba);
    entry_free(bz);
}

static void test_helpers(void **state)
{
    bool sec;
    adb_group_scope scope;
    char *k;

    (void)state;
    assert_int_equal(adb_filetime_to_unix(0), 0);
    assert_int_equal(adb_filetime_to_unix(INT64_MAX), 0);
    assert_int_equal(adb_filetime_to_unix(116444736000000000LL), 0);
    assert_int_equal(adb_filetime_to_unix(116444736000000000LL + 10000000LL), 1);
    assert_int_equal(adb_filetime_to_unix(-5), 0);
    adb_group_type_decode(0, &sec, &scope);
    assert_false(sec);
    assert_int_equal(scope, ADB_SCOPE_UNKNOWN);
    k = adb_sort_key_make("Alice", "ADB.test");
    assert_string_equal(k, "alice\x01" "adb.test");
    free(k);
    /* The attribute list asks for what decoding reads. */
    for (int set = 0; set < 3; set++) {
        const char *const *attrs = adb_object_attrs(set == 0 ? ADB_ATTRS_FULL : set == 1 ? ADB_ATTRS_LIST : ADB_ATTRS_NAMES);
        bool has_computed = false, has_sid = false, has_uac = false;
        for (size_t i = 0; attrs[i] != NULL; i++) {
            has_computed |= strcmp(attrs[i], "msDS-User-Account-Control-Computed") == 0;
            has_sid |= strcmp(attrs[i], "objectSid") == 0;
            has_uac |= strcmp(attrs[i], "userAccountControl") == 0;
        }
        assert_int_equal(has_computed, set == 0);
        assert_int_equal(has_uac, set != 2);   /* names: what identifies an object, no more */
        assert_true(has_sid);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_user),
        cmocka_unit_test(test_account_status),
        cmocka_unit_test(test_group_types),
        cmocka_unit_test(test_kinds),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_special_names_round_trip),
        cmocka_unit_test(test_json_shape),
        cmocka_unit_test(test_json_fields),
        cmocka_unit_test(test_stub_list_sort),
        cmocka_unit_test(test_helpers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
