/* Secret buffers: zeroed, NUL-terminated, locked and left out of core
 * dumps, wiped when shortened, gone (unmapped) once freed; process hardening. */
#include "config.h"

#include <adbridge/secmem.h>

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN 0
#endif

static void test_new_is_zeroed_and_terminated(void **state)
{
    adb_secret *s;
    adb_error err = { 0 };

    (void)state;
    assert_int_equal(adb_secret_new(64, &s, &err), ADB_OK);
    assert_int_equal(adb_secret_len(s), 0);
    assert_int_equal(adb_secret_cap(s), 64);
    for (size_t i = 0; i <= 64; i++)
        assert_int_equal(adb_secret_data(s)[i], 0);
    memcpy(adb_secret_data(s), "hunter2", 7);
    adb_secret_set_len(s, 7);
    assert_string_equal(adb_secret_str(s), "hunter2");
    assert_false(adb_secret_has_nul(s));
    adb_secret_free(s);
    adb_secret_free(NULL);
}

static void test_sizes_refused(void **state)
{
    adb_secret *s = (adb_secret *)&s;
    adb_error err = { 0 };

    (void)state;
    assert_int_equal(adb_secret_new(0, &s, &err), ADB_E_INVALID_REQUEST);
    assert_null(s);
    assert_int_equal(adb_secret_new(ADB_SECRET_MAX + 1, &s, &err), ADB_E_INVALID_REQUEST);
    assert_int_equal(adb_secret_new(ADB_SECRET_MAX, &s, &err), ADB_OK);
    adb_secret_free(s);
}

static void test_set_len_wipes_the_tail(void **state)
{
    adb_secret *s;
    adb_error err = { 0 };

    (void)state;
    assert_int_equal(adb_secret_from("correct horse battery", 21, &s, &err), ADB_OK);
    adb_secret_set_len(s, 7);
    assert_string_equal(adb_secret_str(s), "correct");
    for (size_t i = 7; i <= adb_secret_cap(s); i++)
        assert_int_equal(adb_secret_data(s)[i], 0);
    adb_secret_set_len(s, 1000);   /* clamped to the capacity */
    assert_int_equal(adb_secret_len(s), 21);
    adb_secret_free(s);
}

static void test_nul_and_equal(void **state)
{
    adb_secret *a, *b, *c;
    adb_error err = { 0 };

    (void)state;
    assert_int_equal(adb_secret_from("a\0b", 3, &a, &err), ADB_OK);
    assert_true(adb_secret_has_nul(a));
    assert_int_equal(adb_secret_from("a\0b", 3, &b, &err), ADB_OK);
    assert_int_equal(adb_secret_from("a\0c", 3, &c, &err), ADB_OK);
    assert_true(adb_secret_equal(a, b));
    assert_false(adb_secret_equal(a, c));
    adb_secret_free(a);
    adb_secret_free(b);
    adb_secret_free(c);
}

/* The VmFlags of the mapping that holds addr (/proc/self/smaps). */
static void vm_flags_of(const void *addr, char *flags, size_t size)
{
    FILE *f = fopen("/proc/self/smaps", "re");
    char line[512];
    bool inside = false;

    flags[0] = '\0';
    assert_non_null(f);
    while (fgets(line, sizeof line, f) != NULL) {
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' '))
            inside = (uintptr_t)addr >= lo && (uintptr_t)addr < hi;
        else if (inside && strncmp(line, "VmFlags:", 8) == 0)
            snprintf(flags, size, "%.200s", line + 8);
    }
    fclose(f);
}

static void test_locked_and_not_dumped(void **state)
{
    adb_secret *s;
    adb_error err = { 0 };
    struct rlimit lim;
    char flags[256];

    (void)state;
    assert_int_equal(adb_secret_new(32, &s, &err), ADB_OK);
    vm_flags_of(adb_secret_data(s), flags, sizeof flags);
    print_message("# VmFlags of a secret: %s", flags);
    assert_non_null(strstr(flags, " dd"));   /* MADV_DONTDUMP */
    /* mlock'd, where it can be: AddressSanitizer turns mlock into a no-op. */
    if (!UNDER_ASAN && getrlimit(RLIMIT_MEMLOCK, &lim) == 0 && lim.rlim_cur >= 1024 * 1024)
        assert_non_null(strstr(flags, " lo"));
    adb_secret_free(s);
}

enum { FAULTED = 7 };

static void on_fault(int sig)
{
    (void)sig;
    _exit(FAULTED);
}

/* After free the bytes are not just zeroed: the pages are gone, so a stale
 * pointer cannot read the password.  The read runs in a child process. */
static void test_freed_secret_is_unreadable(void **state)
{
    adb_secret *s;
    adb_error err = { 0 };
    volatile const unsigned char *p;
    int status;
    pid_t pid;

    (void)state;
    assert_int_equal(adb_secret_from("MARKER-PASSWORD", 15, &s, &err), ADB_OK);
    p = adb_secret_data(s);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_fault;   /* also under AddressSanitizer */
        sigaction(SIGSEGV, &sa, NULL);
        sigaction(SIGBUS, &sa, NULL);
        adb_secret_free(s);
        _exit(p[0] == 'M' ? 3 : 4);   /* expected: a fault before this */
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), FAULTED);
    adb_secret_free(s);
}

/* Raw buffers: kept per size class once freed, and wiped: the next alloc
 * of the class gets the same pages with none of the old bytes; locked and
 * not dumped like secrets. */
static void test_raw_buffers_kept_wiped(void **state)
{
    unsigned char *a, *b, *big;
    char flags[256];

    (void)state;
    assert_null(adb_secmem_alloc(0));
    assert_non_null(a = adb_secmem_alloc(1000));
    memset(a, 'P', 1000);
    vm_flags_of(a, flags, sizeof flags);
    assert_non_null(strstr(flags, " dd"));
    adb_secmem_free(a, 1000);
    assert_non_null(b = adb_secmem_alloc(900));   /* the same class (1 KiB) */
    assert_ptr_equal(a, b);
    for (size_t i = 0; i < 1000; i++)
        assert_int_equal(b[i], 0);
    adb_secmem_free(b, 900);
    assert_non_null(big = adb_secmem_alloc(300 * 1024));   /* above the classes: freed at once */
    memset(big, 'Q', 300 * 1024);
    adb_secmem_free(big, 300 * 1024);
    adb_secmem_free(NULL, 10);
}

static void test_wipe(void **state)
{
    char buf[16] = "secret-on-stack";

    (void)state;
    adb_wipe(buf, sizeof buf);
    for (size_t i = 0; i < sizeof buf; i++)
        assert_int_equal(buf[i], 0);
    adb_wipe(NULL, 3);
}

static void test_harden_process(void **state)
{
    int status;
    pid_t pid;

    (void)state;
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct rlimit lim;
        adb_error err = { 0 };
        if (adb_secmem_harden_process(&err) != ADB_OK)
            _exit(1);
        if (prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 0)
            _exit(2);
        if (getrlimit(RLIMIT_CORE, &lim) != 0 || lim.rlim_cur != 0 || lim.rlim_max != 0)
            _exit(3);
        _exit(0);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_is_zeroed_and_terminated),
        cmocka_unit_test(test_sizes_refused),
        cmocka_unit_test(test_set_len_wipes_the_tail),
        cmocka_unit_test(test_nul_and_equal),
        cmocka_unit_test(test_locked_and_not_dumped),
        cmocka_unit_test(test_freed_secret_is_unreadable),
        cmocka_unit_test(test_raw_buffers_kept_wiped),
        cmocka_unit_test(test_wipe),
        cmocka_unit_test(test_harden_process),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
