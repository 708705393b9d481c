/* Secret buffers in libsodium memory (see include/adbridge/secmem.h). */
#include "config.h"

#include <adbridge/secmem.h>

#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>

/* Kept buffers: per power-of-two size class from 64 B to 128 KiB, a few
 * wiped buffers each (sodium_malloc'd at the class size, so the guard page
 * sits after the class's end rather than the caller's size).  Larger
 * buffers are freed at once. */
enum { CLASS_MIN_SHIFT = 6, CLASSES = 12, KEPT_PER_CLASS = 16 };

static struct {
    pthread_mutex_t mu;
    void *kept[CLASSES][KEPT_PER_CLASS];
    int n[CLASSES];
} pool = { .mu = PTHREAD_MUTEX_INITIALIZER };

/* The class of size, or -1 when it is too large to keep. */
static int size_class(size_t size)
{
    for (int c = 0; c < CLASSES; c++)
        if (size <= (size_t)1 << (CLASS_MIN_SHIFT + c))
            return c;
    return -1;
}

void *adb_secmem_alloc(size_t size)
{
    int c = size_class(size);
    void *p = NULL;

    if (size == 0 || sodium_init() < 0)
        return NULL;
    if (c < 0)
        return sodium_malloc(size);
    pthread_mutex_lock(&pool.mu);
    if (pool.n[c] > 0)
        p = pool.kept[c][--pool.n[c]];
    pthread_mutex_unlock(&pool.mu);
    return p != NULL ? p : sodium_malloc((size_t)1 << (CLASS_MIN_SHIFT + c));
}

void adb_secmem_free(void *p, size_t size)
{
    int c = size_class(size);

    if (p == NULL)
        return;
    sodium_memzero(p, size);
    if (c >= 0) {
        pthread_mutex_lock(&pool.mu);
        if (pool.n[c] < KEPT_PER_CLASS) {
            pool.kept[c][pool.n[c]++] = p;
            p = NULL;
        }
        pthread_mutex_unlock(&pool.mu);
    }
    sodium_free(p);   /* NULL: kept */
}

struct adb_secret {
    unsigned char *data;   /* sodium_malloc'd, cap + 1 bytes, data[len] == 0 */
    size_t len, cap;
};

adb_code adb_secmem_init(adb_error *err)
{
    /* 0: initialised now, 1: already; thread-safe in libsodium. */
    if (sodium_init() < 0)
        return adb_error_set(err, ADB_E_INTERNAL, "libsodium cannot initialise (no usable random source?)");
    return ADB_OK;
}

adb_code adb_secret_new(size_t cap, adb_secret **out, adb_error *err)
{
    adb_secret *s;
    adb_code rc;

    *out = NULL;
    if (cap == 0 || cap > ADB_SECRET_MAX)
        return adb_error_set(err, ADB_E_INVALID_REQUEST, "a secret of %zu bytes is refused (1 to %u)", cap,
                             ADB_SECRET_MAX);
    if ((rc = adb_secmem_init(err)) != ADB_OK)
        return rc;
    /* The struct holds no secret bytes, only where they are. */
    if ((s = calloc(1, sizeof *s)) == NULL)
        return adb_error_set(err, ADB_E_NOMEM, "out of memory");
    if ((s->data = sodium_malloc(cap + 1)) == NULL) {
        free(s);
        return adb_error_set(err, ADB_E_NOMEM, "cannot allocate %zu bytes of locked memory for a secret: %s",
                             cap + 1, strerror(errno));
    }
    sodium_memzero(s->data, cap + 1);   /* sodium_malloc fills with 0xdb */
    s->cap = cap;
    *out = s;
    return ADB_OK;
}

adb_code adb_secret_from(const void *data, size_t len, adb_secret **out, adb_error *err)
{
    adb_code rc = adb_secret_new(len, out, err);

    if (rc == ADB_OK) {
        memcpy((*out)->data, data, len);
        (*out)->len = len;
    }
    return rc;
}

unsigned char *adb_secret_data(adb_secret *s) { return s->data; }
const unsigned char *adb_secret_cdata(const adb_secret *s) { return s->data; }
const char *adb_secret_str(const adb_secret *s) { return (const char *)s->data; }
size_t adb_secret_len(const adb_secret *s) { return s->len; }
size_t adb_secret_cap(const adb_secret *s) { return s->cap; }

bool adb_secret_has_nul(const adb_secret *s)
{
    return memchr(s->data, 0, s->len) != NULL;
}

void adb_secret_set_len(adb_secret *s, size_t len)
{
    if (len > s->cap)
        len = s->cap;
    s->len = len;
    sodium_memzero(s->data + len, s->cap + 1 - len);
}

void adb_secret_free(adb_secret *s)
{
    if (s == NULL)
        return;
    /* Unmapped, not kept (unlike adb_secmem_free): a stale pointer to a
     * password faults.  sodium_free wipes too; the explicit wipe keeps the
     * contract independent of that. */
    sodium_memzero(s->data, s->cap + 1);
    sodium_free(s->data);
    free(s);
}

void adb_wipe(void *p, size_t len)
{
    if (p != NULL && len > 0)
        sodium_memzero(p, len);
}

bool adb_secret_equal(const adb_secret *a, const adb_secret *b)
{
    return a->len == b->len && sodium_memcmp(a->data, b->data, a->len) == 0;
}

adb_code adb_secmem_harden_process(adb_error *err)
{
    const struct rlimit none = { 0, 0 };

    if (setrlimit(RLIMIT_CORE, &none) != 0)
        return adb_error_set(err, ADB_E_IO, "setrlimit(RLIMIT_CORE, 0): %s", strerror(errno));
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
        return adb_error_set(err, ADB_E_IO, "prctl(PR_SET_DUMPABLE, 0): %s", strerror(errno));
    return ADB_OK;
}
