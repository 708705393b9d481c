/* Atomic state files: content replaced whole, mode applied, no temp left. */
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_write_replace_read),
        cmocka_unit_test(test_write_into_missing_dir),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
