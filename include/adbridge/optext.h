/* Results as text for a person (the CLI's text mode): the pieces the
 * operations' renderers (ops.h) share — a directory object's fields, a
 * table of objects — read from the wire's JSON shapes (object.h).
 *
 * Every string of a result goes through put (the CLI's cli_put, which
 * escapes control characters); only labels and fixed words are printed
 * as they are. */
#ifndef ADBRIDGE_OPTEXT_H
#define ADBRIDGE_OPTEXT_H

#include <adbridge/ops.h>

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>

/* The string member key of obj; NULL when absent, null or not a string. */
const char *adb_text_member(const json_t *obj, const char *key);

/* "label      value": label padded to width columns, value through put
 * ("-" when NULL). */
void adb_text_field(FILE *out, adb_text_put_fn put, int width, const char *label, const char *value);

/* "DOMAIN\name" of an object (NetBIOS name when known, else DNS; the SID
 * when there is no account name; else the DN).  Returns buf. */
const char *adb_text_display(const json_t *object, char *buf, size_t size);

/* Every field of an object, one a line. */
void adb_text_object(FILE *out, adb_text_put_fn put, const json_t *object);

/* A table of objects: NAME, KIND, DISPLAY NAME, DETAIL (the UPN of a user,
 * the type and scope of a group). */
void adb_text_rows_header(FILE *out);
void adb_text_row(FILE *out, adb_text_put_fn put, const json_t *object);
/* The header, then a row per item of list. */
void adb_text_objects(FILE *out, adb_text_put_fn put, const json_t *list);

#endif
