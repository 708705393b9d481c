/* Small file helpers: state that must never be half-written, bounded reads,
 * the one reader of secret files, and the permission checks of the files
 * the bridge trusts (keytab, state directory).
 *
 * Every open here is O_NONBLOCK: a FIFO or a device put where a file should
 * be is refused at once instead of hanging the program (a daemon blocked in
 * open(2) logs nothing and cannot even be stopped cleanly). */
#ifndef ADBRIDGE_FILEIO_H
#define ADBRIDGE_FILEIO_H

#include <adbridge/error.h>
#include <adbridge/secmem.h>

#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

/* Replaces path with data atomically: writes path.tmp.XXXXXX in the same
 * directory, fsyncs it, renames it over path, fsyncs the directory.  A crash
 * leaves either the old or the new content, never a mix. */
adb_code adb_file_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
                               adb_error *err);

/* Reads a whole regular file of at most max bytes into a malloc'd
 * NUL-terminated buffer.  not_found when it does not exist; io_error for
 * anything else (not a regular file, too large, read error). */
adb_code adb_file_read(const char *path, size_t max, char **out, size_t *len, adb_error *err);

/* Longest one-line secret file (a password, "user:password"). */
#define ADB_SECRET_LINE_MAX 4095u

/* How a secret file's content is taken. */
typedef enum adb_secret_file_form {
    ADB_SECRET_FILE_RAW,    /* every byte (the instance key file) */
    ADB_SECRET_FILE_LINE,   /* one line (a password): a final "\n" or "\r\n" dropped, empty refused */
} adb_secret_file_form;

/* The one reader of secret files: the instance key file, the broker
 * password, the proxy credentials.  Opened with O_NOFOLLOW (a symbolic link
 * is refused: it could point anywhere) and O_NONBLOCK, then refused unless it
 * is a regular file, gives group and others no permission at all, is owned
 * by the running user or root, and holds at most max bytes
 * (<= ADB_SECRET_MAX).  Read with read(2) straight into secret memory: no
 * stdio or heap copy.  what names the file in messages ("broker password" ->
 * "broker password file /path ..."); each refusal says why and the fix, and
 * never quotes the content.  st (may be NULL) gets the file's identity.
 * Errors: not_found; config_invalid (link, type, mode, owner, size, empty);
 * io_error. */
adb_code adb_secret_file_read(const char *path, const char *what, size_t max, adb_secret_file_form form,
                              adb_secret **out, struct stat *st, adb_error *err);

/* The same checks, without reading: for a secret file that another library
 * opens itself (the broker's TLS client key, read by proton). */
adb_code adb_secret_file_check(const char *path, const char *what, adb_error *err);

/* ---- permission checks shared by adbridged's start-up, adbridged
 * --check-config and adbridge diagnose ---- */

typedef enum adb_perm_verdict {
    ADB_PERM_OK = 0,
    ADB_PERM_WARN,       /* usable, but an admin should act (fix says how) */
    ADB_PERM_REFUSED,    /* not usable safely: the daemon refuses to start */
} adb_perm_verdict;

typedef struct adb_perm_check {
    adb_perm_verdict verdict;
    adb_code code;                          /* REFUSED: not_found, keytab, config_invalid or io_error */
    unsigned mode;                          /* permission bits, when the file could be examined */
    char message[ADB_ERROR_MESSAGE_MAX];    /* what was found: "mode 0600" or what is wrong */
    char fix[ADB_ERROR_MESSAGE_MAX];        /* WARN, REFUSED: one step an admin can take */
} adb_perm_check;

/* The keytab (the machine account's keys: whoever reads them can act as this
 * host).  Refused: missing, unreadable by this process, not a regular file,
 * readable or writable by others, writable by the group.  Warned: owned by
 * a user other than root or the running one, readable by its group (a
 * service user's own copy, a group shared with it on purpose: legitimate,
 * and what `adbridge diagnose` run as root sees). */
void adb_check_keytab(const char *path, adb_perm_check *out);

/* The state directory (instance key, subscription flags).  Refused: missing
 * (code not_found: adbridged creates it itself, mode 0700), not a directory,
 * writable by group or others, not writable by this process, or inside a
 * directory that group or others can write without the sticky bit (they
 * could swap the state directory itself).  Warned: it or a directory above
 * it owned by a user other than root or the running one. */
void adb_check_state_dir(const char *path, adb_perm_check *out);

/* err = "message. Fix: fix" of a check; returns its code (ok for OK/WARN). */
adb_code adb_perm_error(const adb_perm_check *c, adb_error *err);

#endif
