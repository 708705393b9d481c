/* jansson, the way adbridge uses it safely.
 *
 * Request bodies can hold a plaintext password (where the configuration
 * allows one) and a configuration path can point at a secret file by
 * mistake: neither may outlive its use in freed heap memory or reach an
 * error message.  So: every block jansson frees is wiped first, and a parse
 * error is described by its kind and position, never by jansson's text,
 * which quotes the input ("... near 'hunter2'", "unable to decode byte 0x..."). */
#ifndef ADBRIDGE_JSON_H
#define ADBRIDGE_JSON_H

#include <jansson.h>

/* Installs jansson's process-wide allocator: malloc, and a free that wipes
 * the block's whole usable size (malloc_usable_size) before handing it to
 * release (NULL: free(3)).  No size header: json_dumps' results stay
 * ordinary malloc blocks that callers free with free(3).  Call once at the
 * start of a program, before any other jansson call and before threads
 * start (jansson does not lock its allocator).  Tests pass a release that
 * inspects each wiped block before freeing it. */
void adb_json_wipe_install(void (*release)(void *p));

/* json_dumps without its cost on a reply path: one malloc'd buffer (free(3)
 * it) filled in one pass, where json_dumps grows a 16-byte buffer by
 * doubling through the wiping allocator, copies the result and leaves the
 * caller a strlen.  *len (when not NULL) gets the length.  A buffer that
 * must grow is wiped before it is freed, like every jansson block.  NULL
 * when out of memory. */
char *adb_json_dumps(const json_t *j, size_t flags, size_t *len);

/* What kind of error a failed json_load* reported ("invalid UTF-8",
 * "unexpected end of input", ...): a constant text that never quotes the
 * input.  Callers add e->line and e->column. */
const char *adb_json_error_kind(const json_error_t *e);

/* A duration in milliseconds as a JSON number, or null when it is negative
 * (the stage was not reached). */
json_t *adb_json_ms_or_null(double ms);

#endif
