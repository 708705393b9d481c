/* Accounts never checked: krbtgt (and RODC krbtgt_*), trust, computer and
 * managed service accounts always; privileged accounts (RID 500,
 * adminCount, the four admin groups, transitively through tokenGroups)
 * unless allowed; configured groups always.  Built from hand-made entries
 * the way one base read of the user returns them. */
#include "config.h"

#include <adbridge/restricted.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "entry_fixture.h"

static const char *DOMAIN_SID = "S-1-5-21-1532876224-3170894973-935685558";

static void add_sid(built *b, const char *attr, const char *text)
{
    adb_sid sid;
    uint8_t buf[ADB_SID_BINARY_MAX];
    size_t len;
    adb_error err = { 0 };

    assert_int_equal(adb_sid_parse(text, strlen(text), &sid, &err), ADB_OK);
    assert_int_equal(adb_sid_encode(&sid, buf, sizeof buf, &len, &err), ADB_OK);
    add_bin(b, attr, buf, len);
}

/* A user entry with RID rid, sAMAccountType type, and groups (RIDs in the
 * domain; 544 means BUILTIN\Administrators). */
static built *account(const char *sam, unsigned rid, const char *type, const char *uac, const unsigned *groups)
{
    built *b = entry_new("CN=x,CN=Users,DC=adb,DC=test");
    char sid[200];

    snprintf(sid, sizeof sid, "%s-%u", DOMAIN_SID, rid);
    add_sid(b, "objectSid", sid);
    add(b, "sAMAccountName", sam);
    add(b, "sAMAccountType", type);
    add(b, "userAccountControl", uac);
    add(b, "objectClass", "top");
    add(b, "objectClass", "user");
    add_sid(b, "tokenGroups", "S-1-5-32-545");   /* Users */
    for (; groups != NULL && *groups != 0; groups++) {
        if (*groups == 544)
            snprintf(sid, sizeof sid, "S-1-5-32-544");
        else
            snprintf(sid, sizeof sid, "%s-%u", DOMAIN_SID, *groups);
        add_sid(b, "tokenGroups", sid);
    }
    return b;
}

/* Restricted under policy p?  why must then be a sentence. */
static bool restricted(built *b, const adb_restrict_policy *p, char *why, size_t size)
{
    adb_account_facts f;
    adb_error err = { 0 };
    bool r;

    assert_int_equal(adb_account_facts_from_entry(&b->e, &f, &err), ADB_OK);
    why[0] = '\0';
    r = adb_account_restricted(&f, p, why, size);
    assert_true(r == (why[0] != '\0'));
    adb_account_facts_clear(&f);
    entry_free(b);
    return r;
}

static const unsigned domain_users[] = { 513, 0 };

static void test_never_checked(void **state)
{
    adb_restrict_policy allow = { .allow_privileged = true };
    char why[512];

    (void)state;
    assert_true(restricted(account("krbtgt", 502, "805306368", "514", domain_users), &allow, why, sizeof why));
    assert_non_null(strstr(why, "krbtgt"));
    assert_true(restricted(account("krbtgt_12345", 1601, "805306368", "514", domain_users), &allow, why,
                           sizeof why));
    assert_true(restricted(account("PARTNER$", 1105, "805306370", "2080", NULL), &allow, why, sizeof why));
    assert_non_null(strstr(why, "trust account"));
    assert_true(restricted(account("CONNECTOR1$", 1106, "805306369", "4096", NULL), &allow, why, sizeof why));
    assert_non_null(strstr(why, "computer account"));
    assert_true(restricted(account("DC1$", 1000, "805306369", "532480", NULL), &allow, why, sizeof why));
    {
        built *g = account("svc-web$", 1110, "805306369", "4096", NULL);
        add(g, "objectClass", "msDS-GroupManagedServiceAccount");
        assert_true(restricted(g, &allow, why, sizeof why));
        assert_non_null(strstr(why, "managed service account"));
    }
    /* A plain user is checked. */
    assert_false(restricted(account("alice", 1104, "805306368", "512", domain_users), &allow, why, sizeof why));
}

static void test_privileged(void **state)
{
    adb_restrict_policy dflt = { 0 }, allow = { .allow_privileged = true };
    static const unsigned da[] = { 513, 512, 0 }, ea[] = { 513, 519, 0 }, sa[] = { 518, 0 }, ba[] = { 544, 0 };
    char why[512];

    (void)state;
    assert_true(restricted(account("Administrator", 500, "805306368", "512", domain_users), &dflt, why, sizeof why));
    assert_non_null(strstr(why, "RID 500"));
    assert_non_null(strstr(why, "auth.allow_privileged"));
    assert_true(restricted(account("da.user", 1200, "805306368", "512", da), &dflt, why, sizeof why));
    assert_non_null(strstr(why, "Domain Admins"));
    assert_true(restricted(account("ea.user", 1201, "805306368", "512", ea), &dflt, why, sizeof why));
    assert_non_null(strstr(why, "Enterprise Admins"));
    assert_true(restricted(account("sa.user", 1202, "805306368", "512", sa), &dflt, why, sizeof why));
    assert_true(restricted(account("ba.user", 1203, "805306368", "512", ba), &dflt, why, sizeof why));
    assert_non_null(strstr(why, "Administrators"));
    {
        built *b = account("protected", 1204, "805306368", "512", domain_users);
        add(b, "adminCount", "1");
        assert_true(restricted(b, &dflt, why, sizeof why));
        assert_non_null(strstr(why, "adminCount"));
    }
    /* Allowed by configuration. */
    assert_false(restricted(account("Administrator", 500, "805306368", "512", da), &allow, why, sizeof why));
    assert_false(restricted(account("da.user", 1200, "805306368", "512", da), &allow, why, sizeof why));
    /* Group RIDs of another shape are not mistaken for admin groups. */
    {
        static const unsigned odd[] = { 1512, 0 };
        assert_false(restricted(account("bob", 1300, "805306368", "512", odd), &dflt, why, sizeof why));
    }
}

static void test_refuse_groups(void **state)
{
    static const unsigned helpdesk[] = { 513, 1500, 0 };
    char text[200], why[512];
    adb_sid sid;
    adb_restrict_policy p = { .allow_privileged = true, .refuse = &sid, .n_refuse = 1 };

    (void)state;
    snprintf(text, sizeof text, "%s-1500", DOMAIN_SID);
    assert_int_equal(adb_sid_parse(text, strlen(text), &sid, NULL), ADB_OK);
    assert_true(restricted(account("hd.user", 1301, "805306368", "512", helpdesk), &p, why, sizeof why));
    assert_non_null(strstr(why, "auth.refuse_groups"));
    assert_false(restricted(account("other", 1302, "805306368", "512", domain_users), &p, why, sizeof why));
}

static void test_malformed(void **state)
{
    built *b = entry_new("CN=bad,DC=adb,DC=test");
    adb_account_facts f;
    adb_error err = { 0 };

    (void)state;
    add(b, "objectSid", "\x01\x05");   /* truncated */
    assert_int_equal(adb_account_facts_from_entry(&b->e, &f, &err), ADB_E_PROTOCOL);
    entry_free(b);
    b = account("x", 1400, "805306368", "512", NULL);
    add(b, "tokenGroups", "\x01\xff");
    assert_int_equal(adb_account_facts_from_entry(&b->e, &f, &err), ADB_E_PROTOCOL);
    assert_null(f.groups);
    entry_free(b);
    b = entry_new("CN=nosid,DC=adb,DC=test");
    assert_int_equal(adb_account_facts_from_entry(&b->e, &f, &err), ADB_E_PROTOCOL);
    entry_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_never_checked),
        cmocka_unit_test(test_privileged),
        cmocka_unit_test(test_refuse_groups),
        cmocka_unit_test(test_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
