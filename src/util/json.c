/* jansson, safely (see include/adbridge/json.h). */
#include "config.h"

#include <adbridge/json.h>
#include <adbridge/secmem.h>

#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Set once at start, before threads (adb_json_wipe_install). */
static void (*release_fn)(void *p) = free;

static void *json_block_new(size_t n)
{
    return malloc(n);
}

static void json_block_free(void *p)
{
    if (p == NULL)
        return;
    /* The usable size, not the requested one: jansson's buffers (a request
     * body being lexed, a decoded password) are grown by copying, and every
     * byte of every generation goes through here. */
    adb_wipe(p, malloc_usable_size(p));
    release_fn(p);
}

void adb_json_wipe_install(void (*release)(void *p))
{
    release_fn = release != NULL ? release : free;
    json_set_alloc_funcs(json_block_new, json_block_free);
}

typedef struct dump_buf {
    char *p;
    size_t len, cap;   /* cap > len: room for the NUL */
} dump_buf;

static int dump_append(const char *s, size_t n, void *arg)
{
    dump_buf *b = arg;

    if (n >= b->cap - b->len) {
        size_t cap = b->cap;
        char *grown;
        while (n >= cap - b->len) {
            if (cap > SIZE_MAX / 2)
                return -1;
            cap *= 2;
        }
        if ((grown = malloc(cap)) == NULL)
            return -1;
        memcpy(grown, b->p, b->len);
        adb_wipe(b->p, b->len);
        free(b->p);
        b->p = grown;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    return 0;
}

char *adb_json_dumps(const json_t *j, size_t flags, size_t *len)
{
    /* 1 KiB holds a user.get reply (~700 bytes) and most errors in one go,
     * and stays within glibc's per-thread cache (a 2 KiB block did not). */
    dump_buf b = { .p = malloc(1024), .cap = 1024 };

    if (len != NULL)
        *len = 0;
    if (b.p == NULL || j == NULL || json_dump_callback(j, dump_append, &b, flags) != 0) {
        if (b.p != NULL)
            adb_wipe(b.p, b.len);
        free(b.p);
        return NULL;
    }
    b.p[b.len] = '\0';
    if (len != NULL)
        *len = b.len;
    return b.p;
}

const char *adb_json_error_kind(const json_error_t *e)
{
    switch (json_error_code(e)) {
    case json_error_out_of_memory: return "out of memory";
    case json_error_stack_overflow: return "nested too deeply";
    case json_error_cannot_open_file: return "cannot open the file";
    case json_error_invalid_utf8: return "not valid UTF-8";
    case json_error_premature_end_of_input: return "unexpected end of the text";
    case json_error_end_of_input_expected: return "more text after the end of the JSON value";
    case json_error_invalid_syntax: return "not JSON syntax (a missing or misplaced quote, comma, colon or bracket?)";
    case json_error_null_character: return "a NUL character";
    case json_error_null_byte_in_key: return "a NUL byte in an object key";
    case json_error_duplicate_key: return "a duplicate object key";
    case json_error_numeric_overflow: return "a number out of range";
    default: return "not valid JSON";
    }
}

json_t *adb_json_ms_or_null(double ms)
{
    return ms >= 0 ? json_real(ms) : json_null();
}
