/* The instance key pair: creation (0600, atomic), loading, refusal of a file
 * others can read, rotation with a grace period (injected clock), and sealed
 * copies for two instances: each opens its own, another's is key_unknown, a
 * corrupted one is invalid_request. */
#include "config.h"

#include <adbridge/keystore.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

static char root[] = "/tmp/adb-keystore-XXXXXX";
static time_t fake_now = 1700000000;

static time_t clock_fn(void *arg)
{
    (void)arg;
    return fake_now;
}

static const adb_keystore_options opts = { .clock = { clock_fn, NULL } };

static int setup(void **state)
{
    (void)state;
    return mkdtemp(root) == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    char cmd[128];
    (void)state;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    return system(cmd) == 0 ? 0 : -1;
}

/* A fresh state dir per test: root/NAME (not created: the keystore does). */
static const char *dir_for(const char *name, char *buf, size_t size)
{
    snprintf(buf, size, "%s/%s", root, name);
    return buf;
}

static adb_keystore *open_ok(const char *dir)
{
    adb_keystore *ks;
    adb_error err = { 0 };

    if (adb_keystore_open(dir, &opts, &ks, &err) != ADB_OK)
        fail_msg("open %s: %s: %s", dir, adb_code_name(err.code), err.message);
    return ks;
}

static char *seal_for(const adb_key_info *k, const char *msg)
{
    char *b64;
    adb_error err = { 0 };

    if (adb_seal_b64(k->public_key, msg, strlen(msg), &b64, &err) != ADB_OK)
        fail_msg("seal: %s", err.message);
    return b64;
}

static void test_create_and_load(void **state)
{
    char dir[256], path[300], id[ADB_KEY_ID_SIZE];
    adb_key_info a, b;
    adb_keystore *ks;
    adb_error err = { 0 };
    struct stat st;

    (void)state;
    ks = open_ok(dir_for("create", dir, sizeof dir));
    adb_keystore_current(ks, &a);
    assert_int_equal(strlen(a.key_id), 22);
    assert_int_equal(strlen(a.public_key), 44);
    assert_int_equal(a.created, fake_now);
    assert_int_equal(a.expires, 0);
    /* The id is what the cloud computes from the public key. */
    assert_int_equal(adb_key_id_from_public(a.public_key, id, &err), ADB_OK);
    assert_string_equal(id, a.key_id);
    snprintf(path, sizeof path, "%s/%s", dir, ADB_KEYSTORE_FILE);
    assert_string_equal(adb_keystore_path(ks), path);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(stat(dir, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0700);
    adb_keystore_free(ks);

    ks = open_ok(dir);   /* loads, does not create another pair */
    adb_keystore_current(ks, &b);
    assert_string_equal(a.key_id, b.key_id);
    assert_string_equal(a.public_key, b.public_key);
    assert_int_equal(adb_keystore_keys(ks, &b, 1), 1);
    adb_keystore_free(ks);
}

static void test_no_create(void **state)
{
    char dir[256];
    adb_keystore_options o = opts;
    adb_keystore *ks;
    adb_error err = { 0 };

    (void)state;
    o.no_create = true;
    assert_int_equal(adb_keystore_open(dir_for("nocreate", dir, sizeof dir), &o, &ks, &err), ADB_E_NOT_FOUND);
    assert_null(ks);
    assert_int_equal(access(dir, F_OK), -1);
}

static void test_refuses_file_others_can_read(void **state)
{
    char dir[256], path[300];
    adb_keystore *ks;
    adb_error err = { 0 };

    (void)state;
    adb_keystore_free(open_ok(dir_for("perm", dir, sizeof dir)));
    snprintf(path, sizeof path, "%s/%s", dir, ADB_KEYSTORE_FILE);
    assert_int_equal(chmod(path, 0640), 0);
    assert_int_equal(adb_keystore_open(dir, &opts, &ks, &err), ADB_E_CONFIG);
    assert_null(ks);
    print_message("# %s\n", err.message);
    assert_non_null(strstr(err.message, path));
    assert_non_null(strstr(err.message, "chmod 600"));
    assert_int_equal(chmod(path, 0604), 0);
    assert_int_equal(adb_keystore_open(dir, &opts, &ks, &err), ADB_E_CONFIG);
    assert_int_equal(chmod(path, 0600), 0);
    adb_keystore_free(open_ok(dir));
}

static void test_refuses_symlink(void **state)
{
    char dir[256], path[300], target[300];
    adb_keystore *ks;
    adb_error err = { 0 };

    (void)state;
    adb_keystore_free(open_ok(dir_for("link", dir, sizeof dir)));
    snprintf(path, sizeof path, "%s/%s", dir, ADB_KEYSTORE_FILE);
    snprintf(target, sizeof target, "%s/elsewhere", dir);
    assert_int_equal(rename(path, target), 0);
    assert_int_equal(symlink(target, path), 0);
    assert_int_equal(adb_keystore_open(dir, &opts, &ks, &err), ADB_E_CONFIG);
    assert_non_null(strstr(err.message, "symbolic link"));
}

static void write_file(const char *dir, const char *text)
{
    char path[300];
    FILE *f;

    mkdir(dir, 0700);
    snprintf(path, sizeof path, "%s/%s", dir, ADB_KEYSTORE_FILE);
    assert_non_null(f = fopen(path, "w"));
    fputs(text, f);
    fclose(f);
    chmod(path, 0600);
}

static void test_malformed_files(void **state)
{
    static const char *const bad[] = {
        "",
        "adbridge-keys 2\n",
        "adbridge-keys 1\n",
        "adbridge-keys 1\nold x 1 2 AAAA AAAA\n",
        "adbridge-keys 1\ncurrent x 1\n",
        "adbridge-keys 1\ncurrent x 1 !!!! AAAA\n",
        "adbridge-keys 1\nbogus\n",
    };
    char dir[256];
    adb_keystore *ks;
    adb_error err = { 0 };

    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char name[32];
        snprintf(name, sizeof name, "bad%zu", i);
        write_file(dir_for(name, dir, sizeof dir), bad[i]);
        assert_int_equal(adb_keystore_open(dir, &opts, &ks, &err), ADB_E_CONFIG);
        assert_non_null(strstr(err.message, dir));
    }
}

/* A pair whose public key was swapped for another's is refused. */
static void test_mismatched_pair_refused(void **state)
{
    char dir1[256], dir2[256], path[300], text[2048];
    adb_key_info other;
    adb_keystore *ks;
    adb_error err = { 0 };
    FILE *f;
    char *line, *pk;

    (void)state;
    adb_keystore_free(open_ok(dir_for("pair1", dir1, sizeof dir1)));
    ks = open_ok(dir_for("pair2", dir2, sizeof dir2));
    adb_keystore_current(ks, &other);
    adb_keystore_free(ks);
    snprintf(path, sizeof path, "%s/%s", dir1, ADB_KEYSTORE_FILE);
    assert_non_null(f = fopen(path, "r"));
    text[fread(text, 1, sizeof text - 1, f)] = '\0';
    fclose(f);
    line = strstr(text, "\ncurrent ");
    assert_non_null(line);
    /* current ID CREATED PUBLIC SECRET: overwrite PUBLIC. */
    pk = strchr(strchr(strchr(line + 1, ' ') + 1, ' ') + 1, ' ') + 1;
    memcpy(pk, other.public_key, 44);
    write_file(dir1, text);
    assert_int_equal(adb_keystore_open(dir1, &opts, &ks, &err), ADB_E_CONFIG);
    assert_non_null(strstr(err.message, "does not match"));
}

static void test_two_instances(void **state)
{
    char da[256], db[256], used[ADB_KEY_ID_SIZE];
    adb_keystore *a = open_ok(dir_for("inst-a", da, sizeof da));
    adb_keystore *b = open_ok(dir_for("inst-b", db, sizeof db));
    adb_key_info ka, kb;
    adb_secret *pw;
    adb_error err = { 0 };
    char *sa, *sb;

    (void)state;
    adb_keystore_current(a, &ka);
    adb_keystore_current(b, &kb);
    assert_string_not_equal(ka.key_id, kb.key_id);
    sa = seal_for(&ka, "Pa55-word");
    sb = seal_for(&kb, "Pa55-word");
    {
        adb_sealed_copy both[] = { { kb.key_id, sb }, { ka.key_id, sa } };
        assert_int_equal(adb_keystore_open_request(a, both, 2, &pw, used, &err), ADB_OK);
        assert_string_equal(adb_secret_str(pw), "Pa55-word");
        assert_int_equal(adb_secret_len(pw), 9);
        assert_string_equal(used, ka.key_id);
        adb_secret_free(pw);
        assert_int_equal(adb_keystore_open_request(b, both, 2, &pw, used, &err), ADB_OK);
        assert_string_equal(adb_secret_str(pw), "Pa55-word");
        assert_string_equal(used, kb.key_id);
        adb_secret_free(pw);
    }
    {   /* Only the other instance's copy: key_unknown, nothing decrypted. */
        adb_sealed_copy only_b[] = { { kb.key_id, sb } };
        assert_int_equal(adb_keystore_open_request(a, only_b, 1, &pw, NULL, &err), ADB_E_KEY_UNKNOWN);
        assert_null(pw);
        assert_string_equal(adb_code_name(err.code), "key_unknown");
        assert_int_equal(adb_keystore_open_request(a, NULL, 0, &pw, NULL, &err), ADB_E_KEY_UNKNOWN);
    }
    {   /* Our id, but sealed to the other key: invalid_request. */
        adb_sealed_copy wrong[] = { { ka.key_id, sb } };
        assert_int_equal(adb_keystore_open_request(a, wrong, 1, &pw, NULL, &err), ADB_E_INVALID_REQUEST);
        assert_null(pw);
    }
    {   /* Corrupted: one base64 character changed. */
        char *bad = strdup(sa);
        bad[10] = bad[10] == 'A' ? 'B' : 'A';
        adb_sealed_copy c[] = { { ka.key_id, bad } };
        assert_int_equal(adb_keystore_open_request(a, c, 1, &pw, NULL, &err), ADB_E_INVALID_REQUEST);
        assert_non_null(strstr(err.message, "does not open"));
        free(bad);
    }
    {   /* Not base64, truncated, empty. */
        adb_sealed_copy c1[] = { { ka.key_id, "!!not base64!!" } };
        adb_sealed_copy c2[] = { { ka.key_id, "AAAA" } };
        adb_sealed_copy c3[] = { { ka.key_id, "" } };
        assert_int_equal(adb_keystore_open_request(a, c1, 1, &pw, NULL, &err), ADB_E_INVALID_REQUEST);
        assert_int_equal(adb_keystore_open_request(a, c2, 1, &pw, NULL, &err), ADB_E_INVALID_REQUEST);
        assert_int_equal(adb_keystore_open_request(a, c3, 1, &pw, NULL, &err), ADB_E_INVALID_REQUEST);
    }
    /* The raw API: unknown id, and the plain bytes. */
    assert_int_equal(adb_keystore_open_sealed(a, kb.key_id, "x", 1, &pw, &err), ADB_E_KEY_UNKNOWN);
    free(sa);
    free(sb);
    adb_keystore_free(a);
    adb_keystore_free(b);
}

static void test_rotation_and_grace(void **state)
{
    char dir[256], used[ADB_KEY_ID_SIZE];
    adb_keystore *ks;
    adb_key_info k1, k2, k3, keys[ADB_KEYSTORE_MAX_KEYS];
    adb_secret *pw;
    adb_error err = { 0 };
    char *s1, *s2;

    (void)state;
    fake_now = 1700000000;
    ks = open_ok(dir_for("rotate", dir, sizeof dir));
    adb_keystore_current(ks, &k1);
    s1 = seal_for(&k1, "in-flight");   /* sealed before the rotation */
    fake_now += 100;
    assert_int_equal(adb_keystore_rotate(ks, 3600, &k2, &err), ADB_OK);
    assert_string_not_equal(k1.key_id, k2.key_id);
    assert_int_equal(adb_keystore_keys(ks, keys, ADB_KEYSTORE_MAX_KEYS), 2);
    assert_string_equal(keys[0].key_id, k2.key_id);
    assert_string_equal(keys[1].key_id, k1.key_id);
    assert_int_equal(keys[1].expires, fake_now + 3600);
    s2 = seal_for(&k2, "new-one");

    /* In the grace period: the old key still opens in-flight requests. */
    fake_now += 3599;
    {
        adb_sealed_copy c[] = { { k1.key_id, s1 } };
        assert_int_equal(adb_keystore_open_request(ks, c, 1, &pw, used, &err), ADB_OK);
        assert_string_equal(adb_secret_str(pw), "in-flight");
        assert_string_equal(used, k1.key_id);
        adb_secret_free(pw);
    }
    /* The expiry is in the file: a reload (another process) sees it too. */
    adb_keystore_free(ks);
    ks = open_ok(dir);
    assert_int_equal(adb_keystore_keys(ks, keys, ADB_KEYSTORE_MAX_KEYS), 2);
    assert_int_equal(keys[1].expires, 1700000000 + 100 + 3600);

    /* After the grace period: key_unknown, the current key still works. */
    fake_now += 1;
    {
        adb_sealed_copy c[] = { { k1.key_id, s1 } };
        adb_sealed_copy both[] = { { k1.key_id, s1 }, { k2.key_id, s2 } };
        assert_int_equal(adb_keystore_open_request(ks, c, 1, &pw, NULL, &err), ADB_E_KEY_UNKNOWN);
        assert_int_equal(adb_keystore_open_request(ks, both, 2, &pw, used, &err), ADB_OK);
        assert_string_equal(adb_secret_str(pw), "new-one");
        adb_secret_free(pw);
    }
    assert_int_equal(adb_keystore_keys(ks, keys, ADB_KEYSTORE_MAX_KEYS), 1);

    /* Grace 0: the previous key is dropped at once; expired ones leave the file. */
    assert_int_equal(adb_keystore_rotate(ks, 0, &k3, &err), ADB_OK);
    assert_int_equal(adb_keystore_keys(ks, keys, ADB_KEYSTORE_MAX_KEYS), 1);
    assert_string_equal(keys[0].key_id, k3.key_id);
    adb_keystore_free(ks);
    ks = open_ok(dir);
    assert_int_equal(adb_keystore_keys(ks, keys, ADB_KEYSTORE_MAX_KEYS), 1);
    assert_int_equal(adb_keystore_rotate(ks, -1, NULL, &err), ADB_E_INVALID_REQUEST);
    adb_keystore_free(ks);
    free(s1);
    free(s2);
}

static void test_rotation_bounded(void **state)
{
    char dir[256];
    adb_keystore *ks;
    adb_key_info keys[ADB_KEYSTORE_MAX_KEYS + 2];
    adb_error err = { 0 };

    (void)state;
    fake_now = 1700000000;
    ks = open_ok(dir_for("many", dir, sizeof dir));
    for (int i = 0; i < ADB_KEYSTORE_MAX_KEYS + 3; i++) {
        fake_now += 10;
        assert_int_equal(adb_keystore_rotate(ks, 86400, NULL, &err), ADB_OK);
    }
    assert_int_equal(adb_keystore_keys(ks, keys, ADB_KEYSTORE_MAX_KEYS + 2), ADB_KEYSTORE_MAX_KEYS);
    /* Those kept are the newest (expiring last), newest old key first. */
    for (int i = 2; i < ADB_KEYSTORE_MAX_KEYS; i++)
        assert_true(keys[i - 1].expires > keys[i].expires);
    adb_keystore_free(ks);
}

/* A rotation by another process (the CLI) is picked up by a running one
 * when a request names the new key. */
static void test_reload_after_rotation_elsewhere(void **state)
{
    char dir[256];
    adb_keystore *daemon, *cli;
    adb_key_info k;
    adb_secret *pw;
    adb_error err = { 0 };
    bool changed = true;
    char *s;

    (void)state;
    fake_now = 1700000000;
    daemon = open_ok(dir_for("reload", dir, sizeof dir));
    assert_int_equal(adb_keystore_reload(daemon, &changed, &err), ADB_OK);
    assert_false(changed);
    cli = open_ok(dir);
    assert_int_equal(adb_keystore_rotate(cli, 600, &k, &err), ADB_OK);
    adb_keystore_free(cli);
    s = seal_for(&k, "after-rotation");
    {
        adb_sealed_copy c[] = { { k.key_id, s } };
        assert_int_equal(adb_keystore_open_request(daemon, c, 1, &pw, NULL, &err), ADB_OK);
        assert_string_equal(adb_secret_str(pw), "after-rotation");
        adb_secret_free(pw);
    }
    free(s);
    adb_keystore_free(daemon);
}

static void test_public_key_checks(void **state)
{
    char id[ADB_KEY_ID_SIZE], *out;
    adb_error err = { 0 };

    (void)state;
    assert_int_equal(adb_key_id_from_public("AAAA", id, &err), ADB_E_INVALID_REQUEST);
    assert_int_equal(adb_key_id_from_public(NULL, id, &err), ADB_E_INVALID_REQUEST);
    assert_int_equal(adb_seal_b64("not-a-key", "x", 1, &out, &err), ADB_E_INVALID_REQUEST);
    assert_null(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_and_load),
        cmocka_unit_test(test_no_create),
        cmocka_unit_test(test_refuses_file_others_can_read),
        cmocka_unit_test(test_refuses_symlink),
        cmocka_unit_test(test_malformed_files),
        cmocka_unit_test(test_mismatched_pair_refused),
        cmocka_unit_test(test_two_instances),
        cmocka_unit_test(test_rotation_and_grace),
        cmocka_unit_test(test_rotation_bounded),
        cmocka_unit_test(test_reload_after_rotation_elsewhere),
        cmocka_unit_test(test_public_key_checks),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
