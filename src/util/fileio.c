/* Atomic writes, bounded reads, secret files and permission checks (see
 * include/adbridge/fileio.h). */
#include "config.h"

#include <adbridge/fileio.h>

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

adb_code adb_file_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
                               adb_error *err)
{
    char tmp[4096], dir[4096];
    const char *p = data;
    int fd, dfd, e;

    if (snprintf(tmp, sizeof tmp, "%s.tmp.XXXXXX", path) >= (int)sizeof tmp)
        return adb_error_set(err, ADB_E_IO, "path too long: %s", path);
    if ((fd = mkstemp(tmp)) < 0)
        return adb_error_set(err, ADB_E_IO, "cannot create a temporary file beside %s: %s", path,
                             strerror(errno));
    if (fchmod(fd, mode) != 0)
        goto fail;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            goto fail;
        p += n;
        len -= (size_t)n;
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        fd = -1;
        goto fail;
    }
    fd = -1;
    if (rename(tmp, path) != 0)
        goto fail;
    /* Make the rename itself durable. */
    snprintf(dir, sizeof dir, "%s", path);
    if ((dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return ADB_OK;
fail:
    e = errno;
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    return adb_error_set(err, ADB_E_IO, "cannot write %s: %s", path, strerror(e));
}

/* Opens for reading without ever blocking: a FIFO opens at once (and is
 * refused by the caller's fstat) instead of waiting for a writer. */
static int open_nb(const char *path, int extra)
{
    return open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC | extra);
}

static const char *kind_of(mode_t m)
{
    return S_ISDIR(m) ? "a directory" : S_ISFIFO(m) ? "a FIFO (named pipe)" : S_ISSOCK(m) ? "a socket"
         : S_ISCHR(m) ? "a character device" : S_ISBLK(m) ? "a block device" : "a special file";
}

/* Reads until end of file or cap bytes. */
static int read_upto(int fd, unsigned char *buf, size_t cap, size_t *n)
{
    *n = 0;
    while (*n < cap) {
        ssize_t r = read(fd, buf + *n, cap - *n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        *n += (size_t)r;
    }
    return 0;
}

adb_code adb_file_read(const char *path, size_t max, char **out, size_t *len, adb_error *err)
{
    struct stat st;
    char *buf;
    size_t n;
    int fd, e;

    *out = NULL;
    *len = 0;
    if ((fd = open_nb(path, 0)) < 0) {
        e = errno;
        return adb_error_set(err, e == ENOENT ? ADB_E_NOT_FOUND : ADB_E_IO, "cannot open %s: %s", path, strerror(e));
    }
    if (fstat(fd, &st) != 0) {
        e = errno;
        close(fd);
        return adb_error_set(err, ADB_E_IO, "cannot stat %s: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return adb_error_set(err, ADB_E_IO, "%s is %s, not a regular file", path, kind_of(st.st_mode));
    }
    if ((buf = malloc(max + 1)) == NULL) {
        close(fd);
        return adb_error_set(err, ADB_E_NOMEM, "out of memory");
    }
    if (read_upto(fd, (unsigned char *)buf, max + 1, &n) != 0) {
        e = errno;
        close(fd);
        free(buf);
        return adb_error_set(err, ADB_E_IO, "cannot read %s: %s", path, strerror(e));
    }
    close(fd);
    if (n > max) {
        free(buf);
        return adb_error_set(err, ADB_E_IO, "%s is larger than %zu bytes", path, max);
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return ADB_OK;
}

/* ---- secret files ---- */

/* Opens a secret file and checks what it is before a byte is read. */
static adb_code secret_open(const char *path, const char *what, size_t max, int *fd_out, struct stat *st,
                            adb_error *err)
{
    int fd, e;

    *fd_out = -1;
    /* O_NOFOLLOW: a link could point at anything, a file of someone else's. */
    if ((fd = open_nb(path, O_NOFOLLOW)) < 0) {
        e = errno;
        if (e == ENOENT)
            return adb_error_set(err, ADB_E_NOT_FOUND, "%s file %s does not exist", what, path);
        if (e == ELOOP)
            return adb_error_set(err, ADB_E_CONFIG, "cannot open %s file %s: it is a symbolic link; refusing to "
                                 "follow it. Fix: name the file itself in the configuration", what, path);
        return adb_error_set(err, ADB_E_IO, "cannot open %s file %s: %s%s", what, path, strerror(e),
                             e == EACCES ? " (the bridge's user must own it, mode 0600)" : "");
    }
    if (fstat(fd, st) != 0) {
        e = errno;
        close(fd);
        return adb_error_set(err, ADB_E_IO, "cannot stat %s file %s: %s", what, path, strerror(e));
    }
    if (!S_ISREG(st->st_mode)) {
        close(fd);
        return adb_error_set(err, ADB_E_CONFIG, "%s file %s is %s, not a regular file; refusing to read it. "
                             "Fix: name a regular file (mode 0600) in the configuration", what, path,
                             kind_of(st->st_mode));
    }
    if ((st->st_mode & 077) != 0) {
        close(fd);
        return adb_error_set(err, ADB_E_CONFIG, "%s file %s has mode %04o: group or others may access the secret; "
                             "refusing to use it. Fix: chmod 600 %s (and replace the secret if others could read it)",
                             what, path, (unsigned)(st->st_mode & 07777), path);
    }
    if (st->st_uid != geteuid() && st->st_uid != 0) {
        close(fd);
        return adb_error_set(err, ADB_E_CONFIG, "%s file %s is owned by uid %u, neither the bridge's user (uid %u) "
                             "nor root; refusing to use it. Fix: chown it to the user the bridge runs as", what, path,
                             (unsigned)st->st_uid, (unsigned)geteuid());
    }
    if ((unsigned long long)st->st_size > max) {
        close(fd);
        return adb_error_set(err, ADB_E_CONFIG, "%s file %s is larger than %zu bytes", what, path, max);
    }
    *fd_out = fd;
    return ADB_OK;
}

adb_code adb_secret_file_read(const char *path, const char *what, size_t max, adb_secret_file_form form,
                              adb_secret **out, struct stat *st_out, adb_error *err)
{
    adb_secret *buf = NULL;
    struct stat st;
    size_t len;
    adb_code rc;
    int fd;

    *out = NULL;
    if (max == 0 || max > ADB_SECRET_MAX)
        return adb_error_set(err, ADB_E_INTERNAL, "adb_secret_file_read: max %zu is out of range", max);
    if ((rc = secret_open(path, what, max, &fd, &st, err)) != ADB_OK)
        return rc;
    if ((rc = adb_secret_new(max, &buf, err)) != ADB_OK)
        goto out;
    if (read_upto(fd, adb_secret_data(buf), max, &len) != 0) {
        rc = adb_error_set(err, ADB_E_IO, "cannot read %s file %s: %s", what, path, strerror(errno));
        goto out;
    }
    if (len == max) {
        /* Full: one byte more shows a file that grew after fstat. */
        unsigned char extra = 0;
        size_t more = 0;
        int bad = read_upto(fd, &extra, 1, &more);
        adb_wipe(&extra, sizeof extra);
        if (bad != 0 || more > 0) {
            rc = adb_error_set(err, ADB_E_CONFIG, "%s file %s is larger than %zu bytes", what, path, max);
            goto out;
        }
    }
    if (form == ADB_SECRET_FILE_LINE) {
        if (len > 0 && adb_secret_data(buf)[len - 1] == '\n')
            len--;
        if (len > 0 && adb_secret_data(buf)[len - 1] == '\r')
            len--;
        if (len == 0) {
            rc = adb_error_set(err, ADB_E_CONFIG, "%s file %s is empty", what, path);
            goto out;
        }
    }
    adb_secret_set_len(buf, len);
    if (st_out != NULL)
        *st_out = st;
    *out = buf;
    buf = NULL;
out:
    adb_secret_free(buf);
    close(fd);
    return rc;
}

adb_code adb_secret_file_check(const char *path, const char *what, adb_error *err)
{
    struct stat st;
    adb_code rc;
    int fd;

    /* Size is the reader's business (a PEM key is a few KB). */
    if ((rc = secret_open(path, what, (size_t)1 << 20, &fd, &st, err)) == ADB_OK)
        close(fd);
    return rc;
}

/* ---- permission checks ---- */

__attribute__((format(printf, 4, 5)))
static void verdict(adb_perm_check *c, adb_perm_verdict v, adb_code code, const char *fmt, ...)
{
    va_list ap;

    c->verdict = v;
    c->code = v == ADB_PERM_REFUSED ? code : ADB_OK;
    va_start(ap, fmt);
    vsnprintf(c->message, sizeof c->message, fmt, ap);
    va_end(ap);
}

__attribute__((format(printf, 2, 3)))
static void fix(adb_perm_check *c, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(c->fix, sizeof c->fix, fmt, ap);
    va_end(ap);
}

static bool foreign_owner(const struct stat *st)
{
    return st->st_uid != 0 && st->st_uid != geteuid();
}

void adb_check_keytab(const char *path, adb_perm_check *c)
{
    struct stat st;
    int fd, e;

    memset(c, 0, sizeof *c);
    /* A symbolic link is fine here (/etc/krb5.keytab often is one): the
     * checks below are on the file it leads to. */
    if ((fd = open_nb(path, 0)) < 0) {
        e = errno;
        if (e == ENOENT) {
            verdict(c, ADB_PERM_REFUSED, ADB_E_KEYTAB, "keytab %s does not exist", path);
            fix(c, "join the host with adcli join (it writes %s), or set \"keytab\" in the configuration", path);
        } else if (e == EACCES) {
            verdict(c, ADB_PERM_REFUSED, ADB_E_KEYTAB, "keytab %s is not readable by this process (uid %u)", path,
                    (unsigned)geteuid());
            fix(c, "run as root or as the owner of %s (the bridge's user may own a copy, mode 0600)", path);
        } else {
            verdict(c, ADB_PERM_REFUSED, ADB_E_IO, "cannot open keytab %s: %s", path, strerror(e));
            fix(c, "check \"keytab\" in the configuration and the directories leading to %s", path);
        }
        return;
    }
    e = fstat(fd, &st) != 0 ? errno : 0;
    close(fd);
    if (e != 0) {
        verdict(c, ADB_PERM_REFUSED, ADB_E_IO, "cannot stat keytab %s: %s", path, strerror(e));
        fix(c, "check the file system holding %s", path);
        return;
    }
    c->mode = (unsigned)(st.st_mode & 07777);
    if (!S_ISREG(st.st_mode)) {
        verdict(c, ADB_PERM_REFUSED, ADB_E_KEYTAB, "keytab %s is %s, not a regular file", path, kind_of(st.st_mode));
        fix(c, "point \"keytab\" at the file adcli join wrote");
    } else if (st.st_mode & (S_IROTH | S_IWOTH | S_IWGRP)) {
        verdict(c, ADB_PERM_REFUSED, ADB_E_CONFIG, "keytab %s has mode %04o: %s can %s it, and whoever holds its "
                "keys can act as this host", path, c->mode, st.st_mode & (S_IROTH | S_IWOTH) ? "every user" : "its group",
                st.st_mode & (S_IWOTH | S_IWGRP) ? "replace" : "read");
        fix(c, "chmod 600 %s (then adcli update: others may have copied the keys)", path);
    } else if (foreign_owner(&st)) {
        /* Only a warning: run as root, diagnose sees the service user's own
         * copy this way, which is right. */
        verdict(c, ADB_PERM_WARN, ADB_OK, "keytab %s belongs to uid %u, neither root nor this process's user (uid %u): "
                "that user can read the host's keys", path, (unsigned)st.st_uid, (unsigned)geteuid());
        fix(c, "chown root %s (or the user adbridged runs as), chmod 600", path);
    } else if (st.st_mode & S_IRGRP) {
        verdict(c, ADB_PERM_WARN, ADB_OK, "keytab %s is readable by group %u (mode %04o): every member can act as "
                "this host", path, (unsigned)st.st_gid, c->mode);
        fix(c, "chmod 600 %s, unless group %u holds nothing but the bridge's user", path, (unsigned)st.st_gid);
    } else {
        verdict(c, ADB_PERM_OK, ADB_OK, "readable, mode %04o", c->mode);
    }
}

/* Drops the last component of an absolute path ("/a/b" -> "/a", "/a" -> "/"). */
static void up(char *path)
{
    char *slash = strrchr(path, '/');

    if (slash == path)
        slash[1] = '\0';
    else if (slash != NULL)
        *slash = '\0';
}

/* real (resolved, absolute) and every directory above it must not be
 * writable by group or others unless sticky (/tmp): else someone could swap
 * the state directory (refused).  Owned by another user than root or us:
 * that user could (warned: it may be the one adbridged runs as). */
static bool dirs_safe(char *real, const char *dir, adb_perm_check *c)
{
    struct stat st;

    for (;;) {
        if (stat(real, &st) != 0)
            return true;   /* vanished meanwhile: the caller's own checks see it */
        if ((st.st_mode & (S_IWGRP | S_IWOTH)) && !(st.st_mode & S_ISVTX)) {
            verdict(c, ADB_PERM_REFUSED, ADB_E_CONFIG, "%s, a directory above the state directory %s, has mode %04o: "
                    "group or others can replace the state directory", real, dir, (unsigned)(st.st_mode & 07777));
            fix(c, "chmod go-w %s", real);
            return false;
        }
        if (foreign_owner(&st) && c->verdict == ADB_PERM_OK) {   /* the first one found */
            verdict(c, ADB_PERM_WARN, ADB_OK, "%s, a directory above the state directory %s, belongs to uid %u: "
                    "that user can replace the state directory", real, dir, (unsigned)st.st_uid);
            fix(c, "keep the state directory under directories owned by root or by the user adbridged runs as, "
                "e.g. /var/lib/adbridge");
        }
        if (strcmp(real, "/") == 0)
            return true;
        up(real);
    }
}

/* The directories above dir (which may not exist yet) are safe. */
static bool parents_safe(const char *dir, bool exists, adb_perm_check *c)
{
    char *copy = strdup(dir), *real = NULL;
    bool ok = true;

    if (copy != NULL) {
        if (!exists)
            up(copy);   /* the parent must exist to resolve */
        if ((real = realpath(copy, NULL)) != NULL) {
            if (exists)
                up(real);
            ok = dirs_safe(real, dir, c);
        }
    }
    free(real);
    free(copy);
    return ok;
}

void adb_check_state_dir(const char *path, adb_perm_check *c)
{
    struct stat st;
    int fd, e;

    memset(c, 0, sizeof *c);
    if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC)) < 0) {
        e = errno;
        if (e == ENOENT && parents_safe(path, false, c)) {
            /* Where it will be created (mode 0700, ours) is safe. */
            verdict(c, ADB_PERM_REFUSED, ADB_E_NOT_FOUND, "state directory %s does not exist", path);
            fix(c, "mkdir -m 700 -p %s (adbridged creates it at its first start when its parent exists)", path);
        } else if (e == ENOENT) {
            return;   /* parents_safe said why */
        } else if (e == ENOTDIR) {
            verdict(c, ADB_PERM_REFUSED, ADB_E_CONFIG, "state_dir %s is not a directory", path);
            fix(c, "point \"state_dir\" at a directory (mode 0700), e.g. /var/lib/adbridge");
        } else {
            verdict(c, ADB_PERM_REFUSED, ADB_E_IO, "cannot open state directory %s: %s", path, strerror(e));
            fix(c, "make %s accessible to the bridge's user (chown, chmod 700)", path);
        }
        return;
    }
    e = fstat(fd, &st) != 0 ? errno : 0;
    close(fd);
    if (e != 0) {
        verdict(c, ADB_PERM_REFUSED, ADB_E_IO, "cannot stat state directory %s: %s", path, strerror(e));
        fix(c, "check the file system holding %s", path);
        return;
    }
    c->mode = (unsigned)(st.st_mode & 07777);
    if (st.st_mode & (S_IWGRP | S_IWOTH)) {
        verdict(c, ADB_PERM_REFUSED, ADB_E_CONFIG, "state directory %s has mode %04o: %s can write to it and replace "
                "the instance key or the subscription flags", path, c->mode,
                st.st_mode & S_IWOTH ? "every user" : "its group");
        fix(c, "chmod 700 %s", path);
    } else if (access(path, W_OK | X_OK) != 0) {
        verdict(c, ADB_PERM_REFUSED, ADB_E_IO, "state directory %s is not writable by this process (uid %u)", path,
                (unsigned)geteuid());
        fix(c, "make %s writable by the bridge's user (chown, chmod 700)", path);
    } else if (!parents_safe(path, true, c) || c->verdict == ADB_PERM_WARN) {
        return;   /* parents_safe said why */
    } else if (foreign_owner(&st)) {
        /* Only a warning: run as root, diagnose sees the service user's own
         * directory this way, which is right. */
        verdict(c, ADB_PERM_WARN, ADB_OK, "state directory %s belongs to uid %u, neither root nor this process's "
                "user (uid %u): that user can replace the instance key", path, (unsigned)st.st_uid,
                (unsigned)geteuid());
        fix(c, "chown %s to the user adbridged runs as; chmod 700 %s", path, path);
    } else {
        verdict(c, ADB_PERM_OK, ADB_OK, "writable, mode %04o", c->mode);
    }
}

adb_code adb_perm_error(const adb_perm_check *c, adb_error *err)
{
    if (c->verdict != ADB_PERM_REFUSED)
        return ADB_OK;
    return adb_error_set(err, c->code, "%s. Fix: %s", c->message, c->fix);
}
