/* Secrets in memory: passwords and private keys live only in adb_secret
 * buffers (libsodium's sodium_malloc: guard pages, a canary, mlock'd so
 * they are never swapped, MADV_DONTDUMP so they are left out of core dumps)
 * and are wiped when freed.  Plus the process hardening the front ends call
 * once at start: no core dumps, not dumpable or ptrace-able by other
 * processes of the same user.
 *
 * A secret's bytes never reach a log line, an error message or a reply;
 * nothing here formats them. */
#ifndef ADBRIDGE_SECMEM_H
#define ADBRIDGE_SECMEM_H

#include <adbridge/error.h>

#include <stdbool.h>
#include <stddef.h>

/* Longest secret one buffer holds (a password, a key file). */
#define ADB_SECRET_MAX (64u * 1024u)

typedef struct adb_secret adb_secret;

/* Initialises libsodium (idempotent, thread-safe).  Every other function of
 * this header and of keystore.h calls it; front ends may call it early. */
adb_code adb_secmem_init(adb_error *err);

/* A zeroed secret of capacity cap (1..ADB_SECRET_MAX) bytes and length 0.
 * One byte beyond the capacity always holds NUL, so the data can be passed
 * as a C string (e.g. to krb5) once the length is set. */
adb_code adb_secret_new(size_t cap, adb_secret **out, adb_error *err);

/* A secret holding a copy of len bytes (capacity len). */
adb_code adb_secret_from(const void *data, size_t len, adb_secret **out, adb_error *err);

unsigned char *adb_secret_data(adb_secret *s);
const unsigned char *adb_secret_cdata(const adb_secret *s);

/* The bytes as a NUL-terminated string (NUL at data[len]).  A secret that
 * contains a NUL byte is cut there by C-string users: check with
 * adb_secret_has_nul where that matters. */
const char *adb_secret_str(const adb_secret *s);

size_t adb_secret_len(const adb_secret *s);
size_t adb_secret_cap(const adb_secret *s);
bool adb_secret_has_nul(const adb_secret *s);

/* Sets the length (<= capacity) after writing into adb_secret_data; the
 * bytes from len to the capacity are wiped. */
void adb_secret_set_len(adb_secret *s, size_t len);

/* Wipes the bytes and frees the buffer; NULL is fine. */
void adb_secret_free(adb_secret *s);

/* Raw locked memory for secret bytes (a message body that may hold a
 * password), for code that manages its own buffers: size bytes (> 0), not
 * zeroed; NULL when out of memory.  adb_secmem_free wipes the same size
 * bytes and keeps the buffer for the next alloc of its size class instead of
 * unmapping it: sodium_malloc and sodium_free cost an mmap, mlock, munlock
 * and munmap each, which a request/reply loop would pay per message.
 * (adb_secret buffers are unmapped when freed: a stale pointer to one
 * faults.) */
void *adb_secmem_alloc(size_t size);
void adb_secmem_free(void *p, size_t size);

/* Wipes len bytes of ordinary memory (a stack buffer that held a secret);
 * the compiler cannot drop it. */
void adb_wipe(void *p, size_t len);

/* Constant-time comparison of two secrets (true when equal). */
bool adb_secret_equal(const adb_secret *a, const adb_secret *b);

/* Process hardening, once at start of a front end that handles secrets:
 * RLIMIT_CORE 0 (no core file) and PR_SET_DUMPABLE 0 (no core, no ptrace
 * attach or /proc/PID/mem read by other processes of the same user).
 * The secret buffers are MADV_DONTDUMP regardless (sodium_malloc).
 * io_error names the call that failed. */
adb_code adb_secmem_harden_process(adb_error *err);

#endif
