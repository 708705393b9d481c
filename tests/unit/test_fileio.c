/* Atomic state files: content replaced whole, mode applied, no temp left.
 * Secret files: one reader that never blocks on a FIFO and refuses links,
 * loose modes and foreign owners.  The keytab and state directory checks
 * that adbridged's start-up, --check-config and diagnose share. */
#include "config.h"

#include <adbridge/fileio.h>

#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

static char dir[] = "/tmp/adb-fileio-XXXXXX";

static int setup(void **state)
{
    (void)state;
    return mkdtemp(dir) == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    char cmd[128];
    (void)state;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static int count_entries(void)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static void test_write_replace_read(void **state)
{
    char path[256], *buf;
    size_t len;
    struct stat st;
    adb_error err = { 0 };

    (void)state;
    snprintf(path, sizeof path, "%s/state.json", dir);
    assert_int_equal(adb_file_read(path, 100, &buf, &len, &err), ADB_E_NOT_FOUND);
    assert_int_equal(adb_file_write_atomic(path, "first", 5, 0600, &err), ADB_OK);
    assert_int_equal(adb_file_write_atomic(path, "second!", 7, 0600, &err), ADB_OK);
    assert_int_equal(adb_file_read(path, 100, &buf, &len, &err), ADB_OK);
    assert_int_equal(len, 7);
    assert_string_equal(buf, "second!");
    free(buf);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(count_entries(), 1);   /* no temporary file left behind */

    /* Over the limit is an error, not a silent truncation. */
    assert_int_equal(adb_file_read(path, 3, &buf, &len, &err), ADB_E_IO);
    assert_non_null(strstr(err.message, "larger than 3 bytes"));
}

static void test_write_into_missing_dir(void **state)
{
    adb_error err = { 0 };

    (void)state;
    assert_int_equal(adb_file_write_atomic("/nonexistent-dir/x.json", "x", 1, 0600, &err), ADB_E_IO);
    assert_non_null(strstr(err.message, "/nonexistent-dir/x.json"));
}

static void put_file(const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    assert_int_equal(chmod(path, mode), 0);
}

/* The one reader of secret files: a FIFO is refused at once (it used to hang
 * the daemon at start), so are links, other modes and foreign owners. */
static void test_secret_file_refusals(void **state)
{
    char path[300], target[300];
    adb_secret *s = NULL;
    adb_error err = { 0 };

    (void)state;
    snprintf(path, sizeof path, "%s/fifo", dir);
    assert_int_equal(mkfifo(path, 0600), 0);
    alarm(10);   /* a regression hangs in open(2): SIGALRM ends the test as a failure */
    assert_int_equal(adb_secret_file_read(path, "broker password", 100, ADB_SECRET_FILE_LINE, &s, NULL, &err),
                     ADB_E_CONFIG);
    assert_int_equal(adb_secret_file_check(path, "broker TLS key", &err), ADB_E_CONFIG);
    alarm(0);
    print_message("# %s\n", err.message);
    assert_non_null(strstr(err.message, "FIFO"));
    assert_null(s);

    snprintf(path, sizeof path, "%s/pw", dir);
    put_file(path, "hunter2\n", 0644);
    assert_int_equal(adb_secret_file_read(path, "broker password", 100, ADB_SECRET_FILE_LINE, &s, NULL, &err),
                     ADB_E_CONFIG);
    assert_non_null(strstr(err.message, "mode 0644"));
    assert_non_null(strstr(err.message, "chmod 600"));
    assert_null(strstr(err.message, "hunter2"));
    assert_int_equal(chmod(path, 0640), 0);
    assert_int_equal(adb_secret_file_check(path, "broker TLS key", &err), ADB_E_CONFIG);

    assert_int_equal(chmod(path, 0600), 0);
    snprintf(target, sizeof target, "%s/pw-link", dir);
    assert_int_equal(symlink(path, target), 0);
    assert_int_equal(adb_secret_file_read(target, "proxy credentials", 100, ADB_SECRET_FILE_LINE, &s, NULL, &err),
                     ADB_E_CONFIG);
    assert_non_null(strstr(err.message, "symbolic link"));

    assert_int_equal(adb_secret_file_read(path, "x", 4, ADB_SECRET_FILE_LINE, &s, NULL, &err), ADB_E_CONFIG);
    assert_non_null(strstr(err.message, "larger than 4 bytes"));

    snprintf(target, sizeof target, "%s/missing", dir);
    assert_int_equal(adb_secret_file_read(target, "key", 100, ADB_SECRET_FILE_RAW, &s, NULL, &err), ADB_E_NOT_FOUND);

    if (geteuid() == 0) {
        assert_int_equal(chown(path, 65534, 65534), 0);
        assert_int_equal(adb_secret_file_read(path, "x", 100, ADB_SECRET_FILE_LINE, &s, NULL, &err), ADB_E_CONFIG);
        assert_non_null(strstr(err.message, "owned by uid 65534"));
        assert_int_equal(chown(path, 0, 0), 0);
    } else {
        print_message("# not root: a foreign owner cannot be made here, that refusal is not exercised\n");
    }
}

static void test_secret_file_read(void **state)
{
    char path[300];
    adb_secret *s = NULL;
    adb_error err = { 0 };
    struct stat st;

    (void)state;
    snprintf(path, sizeof path, "%s/line", dir);
    put_file(path, "hunter2\r\n", 0600);
    assert_int_equal(adb_secret_file_read(path, "x", 100, ADB_SECRET_FILE_LINE, &s, &st, &err), ADB_OK);
    assert_string_equal(adb_secret_str(s), "hunter2");
    assert_true(S_ISREG(st.st_mode));
    adb_secret_free(s);
    assert_int_equal(adb_secret_file_read(path, "x", 100, ADB_SECRET_FILE_RAW, &s, NULL, &err), ADB_OK);
    assert_int_equal(adb_secret_len(s), 9);
    adb_secret_free(s);
    assert_int_equal(adb_secret_file_check(path, "x", &err), ADB_OK);

    /* Exactly max bytes is fine, up to ADB_SECRET_MAX. */
    put_file(path, "hunter2", 0600);
    assert_int_equal(adb_secret_file_read(path, "x", 7, ADB_SECRET_FILE_RAW, &s, NULL, &err), ADB_OK);
    adb_secret_free(s);
    assert_int_equal(adb_secret_file_read(path, "x", ADB_SECRET_MAX, ADB_SECRET_FILE_RAW, &s, NULL, &err), ADB_OK);
    assert_int_equal(adb_secret_len(s), 7);
    adb_secret_free(s);
    assert_int_equal(adb_secret_file_read(path, "x", ADB_SECRET_MAX + 1, ADB_SECRET_FILE_RAW, &s, NULL, &err),
                     ADB_E_INTERNAL);

    put_file(path, "\n", 0600);
    assert_int_equal(adb_secret_file_read(path, "broker password", 100, ADB_SECRET_FILE_LINE, &s, NULL, &err),
                     ADB_E_CONFIG);
    assert_non_null(strstr(err.message, "is empty"));
}

static void test_plain_read_refuses_fifo(void **state)
{
    char path[300], *buf = NULL;
    size_t len;
    adb_error err = { 0 };

    (void)state;
    snprintf(path, sizeof path, "%s/config-fifo", dir);
    assert_int_equal(mkfifo(path, 0600), 0);
    alarm(10);
    assert_int_equal(adb_file_read(path, 100, &buf, &len, &err), ADB_E_IO);
    alarm(0);
    assert_non_null(strstr(err.message, "not a regular file"));
}

static void test_keytab_check(void **state)
{
    char path[300];
    adb_perm_check c;

    (void)state;
    snprintf(path, sizeof path, "%s/krb5.keytab", dir);
    adb_check_keytab(path, &c);
    assert_int_equal(c.verdict, ADB_PERM_REFUSED);
    assert_int_equal(c.code, ADB_E_KEYTAB);
    assert_non_null(strstr(c.fix, "adcli join"));

    put_file(path, "\x05\x02", 0600);
    adb_check_keytab(path, &c);
    assert_int_equal(c.verdict, ADB_PERM_OK);
    assert_int_equal(c.mode, 0600);

    assert_int_equal(chmod(path, 0640), 0);
    adb_check_keytab(path, &c);
    assert_int_equal(c.verdict, ADB_PERM_WARN);
    assert_non_null(strstr(c.fix, "chmod 600"));

    assert_int_equal(chmod(path, 0644), 0);
    adb_check_keytab(path, &c);
    print_message("# %s. Fix: %s\n", c.message, c.fix);
    assert_int_equal(c.verdict, ADB_PERM_REFUSED);
    assert_int_equal(c.code, ADB_E_CONFIG);
    assert_non_null(strstr(c.message, "mode 0644"));
    assert_non_null(strstr(c.fix, "chmod 600 "));
    assert_non_null(strstr(c.fix, path));
    adb_error err = { 0 };
    assert_int_equal(adb_perm_error(&c, &err), ADB_E_CONFIG);
    assert_non_null(strstr(err.message, "Fix: chmod 600"));

    assert_int_equal(chmod(path, 0620), 0);
    adb_check_keytab(path, &c);
    assert_int_equal(c.verdict, ADB_PERM_REFUSED);

    /* Another user's keytab (the service user's copy, seen by root): warned. */
    assert_int_equal(chmod(path, 0600), 0);
    if (geteuid() == 0) {
        assert_int_equal(chown(path, 65534, 65534), 0);
        adb_check_keytab(path, &c);
        assert_int_equal(c.verdict, ADB_PERM_WARN);
        assert_non_null(strstr(c.message, "uid 65534"));
        assert_int_equal(chown(path, 0, 0), 0);
    } else {
        print_message("# not root: a foreign owner cannot be made here, that warning is not exercised\n");
    }

    assert_int_equal(unlink(path), 0);
    assert_int_equal(mkfifo(path, 0600), 0);
    alarm(10);
    adb_check_keytab(path, &c);
    alarm(0);
    assert_int_equal(c.verdict, ADB_PERM_REFUSED);
    assert_non_null(strstr(c.message, "FIFO"));
}

static void test_state_dir_check(void **state)
{
    char path[300], sub[330];
    adb_perm_check c;

    (void)state;
    snprintf(path, sizeof path, "%s/state", dir);
    adb_check_state_dir(path, &c);
    assert_int_equal(c.verdict, ADB_PERM_REFUSED);
    assert_int_equal(c.code, ADB_E_NOT_FOUND);   /* adbridged creates it */

    assert_int_equal(mkdir(path, 0700), 0);
    adb_check_state_dir(path, &c);
    assert_int_equal(c.verdict, ADB_PERM_OK);

    assert_int_equal(chmod(path, 0777), 0);
    adb_check_state_dir(path, &c);
    print_message("# %s. Fix: %s\n", c.message, c.fix);
    assert_int_equal(c.verdict, ADB_PERM_REFUSED);
    assert_int_equal(c.code, ADB_E_CONFIG);
    assert_non_null(strstr(c.fix, "chmod 700"));
    assert_int_equal(chmod(path, 0770), 0);
    adb_check_state_dir(path, &c);
    assert_int_equal(c.verdict, ADB_PERM_REFUSED);

    /* A parent others can write (no sticky bit) could swap the directory,
     * existing or still to be created. */
    snprintf(sub, sizeof sub, "%s/inner", path);
    assert_int_equal(chmod(path, 0777), 0);
    adb_check_state_dir(sub, &c);
    assert_int_equal(c.verdict, ADB_PERM_REFUSED);
    assert_int_equal(c.code, ADB_E_CONFIG);
    assert_int_equal(mkdir(sub, 0700), 0);
    adb_check_state_dir(sub, &c);
    print_message("# %s. Fix: %s\n", c.message, c.fix);
    assert_int_equal(c.verdict, ADB_PERM_REFUSED);
    assert_non_null(strstr(c.fix, "chmod go-w"));
    assert_int_equal(chmod(path, 01777), 0);   /* sticky, like /tmp: fine */
    adb_check_state_dir(sub, &c);
    assert_int_equal(c.verdict, ADB_PERM_OK);
    if (geteuid() == 0) {
        assert_int_equal(chown(sub, 65534, 65534), 0);
        adb_check_state_dir(sub, &c);
        assert_int_equal(c.verdict, ADB_PERM_WARN);
        assert_non_null(strstr(c.message, "uid 65534"));
        assert_int_equal(chown(sub, 0, 0), 0);
    }

    snprintf(sub, sizeof sub, "%s/file", path);
    put_file(sub, "x", 0600);
    adb_check_state_dir(sub, &c);
    assert_int_equal(c.verdict, ADB_PERM_REFUSED);
    assert_non_null(strstr(c.message, "not a directory"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_write_replace_read),
        cmocka_unit_test(test_write_into_missing_dir),
        cmocka_unit_test(test_secret_file_refusals),
        cmocka_unit_test(test_secret_file_read),
        cmocka_unit_test(test_plain_read_refuses_fifo),
        cmocka_unit_test(test_keytab_check),
        cmocka_unit_test(test_state_dir_check),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
