/* Atomic writes and bounded reads (see include/adbridge/fileio.h). */
#include "config.h"

#include <adbridge/fileio.h>

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
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

adb_code adb_file_read(const char *path, size_t max, char **out, size_t *len, adb_error *err)
{
    FILE *f = fopen(path, "re");
    char *buf;
    size_t n;

    *out = NULL;
    *len = 0;
    if (f == NULL)
        return adb_error_set(err, errno == ENOENT ? ADB_E_NOT_FOUND : ADB_E_IO, "cannot open %s: %s",
                             path, strerror(errno));
    if ((buf = malloc(max + 1)) == NULL) {
        fclose(f);
        return adb_error_set(err, ADB_E_NOMEM, "out of memory");
    }
    n = fread(buf, 1, max + 1, f);
    if (ferror(f)) {
        int e = errno;
        fclose(f);
        free(buf);
        return adb_error_set(err, ADB_E_IO, "cannot read %s: %s", path, strerror(e));
    }
    fclose(f);
    if (n > max) {
        free(buf);
        return adb_error_set(err, ADB_E_IO, "%s is larger than %zu bytes", path, max);
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return ADB_OK;
}
