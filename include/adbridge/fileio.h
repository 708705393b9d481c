/* Small file helpers for state that must never be half-written. */
#ifndef ADBRIDGE_FILEIO_H
#define ADBRIDGE_FILEIO_H

#include <adbridge/error.h>

#include <stddef.h>
#include <sys/types.h>

/* Replaces path with data atomically: writes path.tmp.XXXXXX in the same
 * directory, fsyncs it, renames it over path, fsyncs the directory.  A crash
 * leaves either the old or the new content, never a mix. */
adb_code adb_file_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
                               adb_error *err);

/* Reads a whole file of at most max bytes into a malloc'd NUL-terminated
 * buffer.  not_found when it does not exist. */
adb_code adb_file_read(const char *path, size_t max, char **out, size_t *len, adb_error *err);

#endif
