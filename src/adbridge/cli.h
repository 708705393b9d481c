/* What the CLI's commands share: how a JSON document, an error and text from
 * the directory or the network are printed.
 *
 * Directory data is hostile: a displayName may hold terminal escape
 * sequences that retitle or clear the admin's terminal.  In text mode every
 * string that came from AD, a DC, DNS or a peer goes through cli_escape (or
 * cli_put, built on it); --json output is escaped by jansson. */
#ifndef ADBRIDGE_CLI_H
#define ADBRIDGE_CLI_H

#include <adbridge/error.h>

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>

/* Prints j indented on stdout and releases it. */
void cli_print_json(json_t *j);

/* "adbridge CMD: code: message" on stderr, the message escaped (it may
 * quote a name or a server's text). */
void cli_print_error(const char *cmd, const adb_error *err);
/* The same from a code's name and a message (a reply's error). */
void cli_print_failure(const char *cmd, const char *code, const char *message);

/* Writes s made safe for a terminal into out (size bytes, always
 * NUL-terminated when size > 0; cut at a character boundary when too small)
 * and returns the length the whole escaped text needs, like snprintf.
 * Escaped: C0 controls and DEL as \xHH, C1 controls (U+0080..U+009F) as
 * \u00HH, every byte that is not part of valid UTF-8 (overlong, surrogate,
 * past U+10FFFF, cut short) as \xHH.  Everything else is kept as it is,
 * backslashes included (DOMAIN\name stays readable).  NULL is "". */
size_t cli_escape(const char *s, char *out, size_t size);

/* Writes s escaped to f, then spaces up to width columns (one column per
 * character; 0: no padding). */
void cli_put(FILE *f, const char *s, int width);

#endif
