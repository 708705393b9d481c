/* The daemon's secret files (see secrets.h). */
#include "config.h"

#include "secrets.h"

#include <adbridge/fileio.h>
#include <adbridge/secmem.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Owned by $.user, mode 0700; one directory per daemon process in it (the
 * user must be able to remove its own when it stops). */
#define OWN_DIR_PARENT "/run/adbridged"
#define OWN_DIR_FORMAT OWN_DIR_PARENT "/%ld"

enum { KEYTAB_MAX = ADB_SECRET_MAX };

typedef struct cred_field {
    const char *id;        /* LoadCredential= ID, file name in the credentials directory */
    const char *field;     /* the configuration field it stands for */
    const char *what;      /* for messages */
    char **value;
} cred_field;

struct adbd_secrets {
    char *cred_dir;        /* the credentials in use: systemd's, our own, or NULL */
    bool own;              /* cred_dir is ours (we made it, we remove it) */
    char *keytab_source;   /* the configured keytab */
    int keytab_fd;         /* own: the configured keytab as root opened it */
    struct stat keytab_st; /* own: its identity; systemd: the configured file's at start */
    bool keytab_from_cred; /* cfg->keytab is a credential */
    unsigned char digest[crypto_generichash_BYTES];   /* own: the bytes of our copy */
};

static size_t fields_of(adb_config *cfg, cred_field out[4])
{
    const cred_field f[] = {
        { "keytab", "$.keytab", "keytab", &cfg->keytab },
        { "broker-password", "$.broker.password_file", "broker password", &cfg->broker.password_file },
        { "proxy-credentials", "$.broker.proxy.credentials_file", "proxy credentials",
          &cfg->broker.proxy.credentials_file },
        { "broker-key", "$.broker.key_file", "broker TLS key", &cfg->broker.key_file },
    };
    memcpy(out, f, sizeof f);
    return sizeof f / sizeof f[0];
}

/* ---- reading ---- */

/* The whole file behind fd, from offset 0, into secret memory; checks that
 * it looks like a keytab (MIT/Heimdal: 0x05, version 1 or 2). */
static adb_code read_keytab_fd(int fd, const char *name, adb_secret **out, adb_error *err)
{
    adb_secret *buf;
    size_t len = 0;
    adb_code rc;

    *out = NULL;
    if ((rc = adb_secret_new(KEYTAB_MAX, &buf, err)) != ADB_OK)
        return rc;
    for (;;) {
        ssize_t r = pread(fd, adb_secret_data(buf) + len, KEYTAB_MAX - len, (off_t)len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = adb_error_set(err, ADB_E_KEYTAB, "cannot read keytab %s: %s", name, strerror(errno));
            goto fail;
        }
        if (r == 0)
            break;
        len += (size_t)r;
        if (len == KEYTAB_MAX) {
            rc = adb_error_set(err, ADB_E_KEYTAB, "keytab %s is larger than %u bytes", name, (unsigned)KEYTAB_MAX - 1);
            goto fail;
        }
    }
    if (len < 2 || adb_secret_cdata(buf)[0] != 5 || (adb_secret_cdata(buf)[1] != 1 && adb_secret_cdata(buf)[1] != 2)) {
        rc = adb_error_set(err, ADB_E_KEYTAB, "%s is %s, not a keytab (join the host with adcli join, or fix "
                           "\"keytab\" in the configuration)", name, len == 0 ? "empty" : "something else");
        goto fail;
    }
    adb_secret_set_len(buf, len);
    *out = buf;
    return ADB_OK;
fail:
    adb_secret_free(buf);
    return rc;
}

/* ---- our own credentials directory ---- */

/* Writes a new file name in dirfd (0400, owned by uid:gid when given). */
static adb_code write_copy(int dirfd, const char *dir, const char *name, const adb_secret *bytes, uid_t uid,
                           gid_t gid, adb_error *err)
{
    const unsigned char *p = adb_secret_cdata(bytes);
    size_t left = adb_secret_len(bytes);
    int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0400), e;

    if (fd < 0)
        return adb_error_set(err, ADB_E_IO, "cannot create %s/%s: %s", dir, name, strerror(errno));
    if (uid != (uid_t)-1 && fchown(fd, uid, gid) != 0)
        goto fail;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            goto fail;
        p += w;
        left -= (size_t)w;
    }
    if (close(fd) != 0) {
        fd = -1;
        goto fail;
    }
    return ADB_OK;
fail:
    e = errno;
    if (fd >= 0)
        close(fd);
    unlinkat(dirfd, name, 0);
    return adb_error_set(err, ADB_E_IO, "cannot write %s/%s: %s", dir, name, strerror(e));
}

/* Removes the files of a credentials directory and the directory. */
static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;

    if (d != NULL) {
        while ((e = readdir(d)) != NULL)
            if (e->d_name[0] != '.')
                unlinkat(dirfd(d), e->d_name, 0);
        closedir(d);
    }
    rmdir(dir);
}

/* Directories a killed adbridged left behind (its PID is gone). */
static void remove_stale(void)
{
    DIR *d = opendir(OWN_DIR_PARENT);
    struct dirent *e;

    if (d == NULL)
        return;
    while ((e = readdir(d)) != NULL) {
        char path[300], *end;
        long pid = strtol(e->d_name, &end, 10);
        if (e->d_name[0] == '.' || *end != '\0' || pid <= 0 || pid == (long)getpid() || kill((pid_t)pid, 0) == 0
            || errno != ESRCH)
            continue;
        snprintf(path, sizeof path, OWN_DIR_PARENT "/%s", e->d_name);
        remove_dir(path);
    }
    closedir(d);
}

static adb_code stage(adbd_secrets *s, adb_config *cfg, const adbd_account *acct, adb_error *err)
{
    cred_field f[4];
    size_t n = fields_of(cfg, f);
    char dir[128];
    adb_code rc = ADB_OK;
    int dfd;

    /* The parent: made by root (only root writes in /run), given to the user. */
    if (mkdir(OWN_DIR_PARENT, 0700) != 0 && errno != EEXIST)
        return adb_error_set(err, ADB_E_IO, "cannot create %s: %s", OWN_DIR_PARENT, strerror(errno));
    if ((dfd = open(OWN_DIR_PARENT, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0
        || fchown(dfd, acct->uid, acct->gid) != 0 || fchmod(dfd, 0700) != 0) {
        rc = adb_error_set(err, ADB_E_IO, "cannot prepare %s for %s: %s", OWN_DIR_PARENT, acct->name, strerror(errno));
        if (dfd >= 0)
            close(dfd);
        return rc;
    }
    close(dfd);
    remove_stale();
    snprintf(dir, sizeof dir, OWN_DIR_FORMAT, (long)getpid());
    remove_dir(dir);   /* a PID reused after a crash */
    if (mkdir(dir, 0700) != 0)
        return adb_error_set(err, ADB_E_IO, "cannot create %s for the daemon's copies of its secret files: %s", dir,
                             strerror(errno));
    if ((s->cred_dir = strdup(dir)) == NULL) {
        rmdir(dir);
        return adb_error_set(err, ADB_E_NOMEM, "out of memory");
    }
    s->own = true;
    if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
        return adb_error_set(err, ADB_E_IO, "cannot open %s: %s", dir, strerror(errno));
    if (fchown(dfd, acct->uid, acct->gid) != 0) {
        rc = adb_error_set(err, ADB_E_IO, "cannot give %s to %s: %s", dir, acct->name, strerror(errno));
        goto out;
    }
    for (size_t i = 0; i < n && rc == ADB_OK; i++) {
        adb_secret *bytes = NULL;
        if (*f[i].value == NULL)
            continue;
        if (strcmp(f[i].id, "keytab") == 0) {
            /* The keytab's own checks (it may be a symbolic link); its
             * descriptor stays open for SIGHUP. */
            adb_perm_check pc;
            adb_check_keytab(*f[i].value, &pc);
            if ((rc = adb_perm_error(&pc, err)) != ADB_OK)
                break;
            if ((s->keytab_fd = open(*f[i].value, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)) < 0) {
                rc = adb_error_set(err, ADB_E_KEYTAB, "keytab %s: %s", *f[i].value, strerror(errno));
                break;
            }
            if (fstat(s->keytab_fd, &s->keytab_st) != 0
                || (rc = read_keytab_fd(s->keytab_fd, *f[i].value, &bytes, err)) != ADB_OK) {
                if (rc == ADB_OK)
                    rc = adb_error_set(err, ADB_E_IO, "cannot stat keytab %s: %s", *f[i].value, strerror(errno));
                break;
            }
            crypto_generichash(s->digest, sizeof s->digest, adb_secret_cdata(bytes), adb_secret_len(bytes), NULL, 0);
        } else if ((rc = adb_secret_file_read(*f[i].value, f[i].what, ADB_SECRET_MAX - 1, ADB_SECRET_FILE_RAW, &bytes,
                                               NULL, err)) != ADB_OK) {
            adb_error_prefix(err, "%s", f[i].field);
            break;
        }
        rc = write_copy(dfd, dir, f[i].id, bytes, acct->uid, acct->gid, err);
        adb_secret_free(bytes);
    }
out:
    close(dfd);
    return rc;
}

/* ---- the credentials in use ---- */

static adb_code apply(adbd_secrets *s, adb_config *cfg, const adb_logger *log, adb_error *err)
{
    cred_field f[4];
    size_t n = fields_of(cfg, f);

    for (size_t i = 0; i < n; i++) {
        char path[4096];
        struct stat st;

        if (snprintf(path, sizeof path, "%s/%s", s->cred_dir, f[i].id) >= (int)sizeof path)
            return adb_error_set(err, ADB_E_CONFIG, "credentials directory %s: path too long", s->cred_dir);
        if (stat(path, &st) != 0)
            continue;
        if (*f[i].value == NULL) {
            adb_log(log, ADB_LOG_WARN, "credential_unused", "credential=%s field=%s msg=\"the service passes this "
                    "credential but the configuration does not set the field: ignored\"", f[i].id, f[i].field);
            continue;
        }
        adb_log(log, ADB_LOG_INFO, "credential_used", "credential=%s field=%s configured=%s copy=%s", f[i].id,
                f[i].field, *f[i].value, s->own ? "own" : "systemd");
        if (strcmp(f[i].id, "keytab") == 0) {
            s->keytab_from_cred = true;
            /* systemd: remember the configured file, to tell a reload that it changed. */
            if (!s->own && stat(*f[i].value, &s->keytab_st) != 0)
                memset(&s->keytab_st, 0, sizeof s->keytab_st);
        }
        free(*f[i].value);
        if ((*f[i].value = strdup(path)) == NULL)
            return adb_error_set(err, ADB_E_NOMEM, "out of memory");
    }
    return ADB_OK;
}

adb_code adbd_secrets_open(adb_config *cfg, const adbd_account *acct, const adb_logger *log, adbd_secrets **out,
                           adb_error *err)
{
    const char *sd = getenv("CREDENTIALS_DIRECTORY");
    adbd_secrets *s;
    adb_code rc = ADB_OK;

    *out = NULL;
    if ((rc = adb_secmem_init(err)) != ADB_OK)
        return rc;
    if ((s = calloc(1, sizeof *s)) == NULL)
        return adb_error_set(err, ADB_E_NOMEM, "out of memory");
    s->keytab_fd = -1;
    if ((s->keytab_source = strdup(cfg->keytab)) == NULL) {
        free(s);
        return adb_error_set(err, ADB_E_NOMEM, "out of memory");
    }
    if (sd != NULL && sd[0] != '\0') {
        if ((s->cred_dir = strdup(sd)) == NULL)
            rc = adb_error_set(err, ADB_E_NOMEM, "out of memory");
    } else if (acct != NULL) {
        rc = stage(s, cfg, acct, err);
    }
    if (rc == ADB_OK && s->cred_dir != NULL)
        rc = apply(s, cfg, log, err);
    if (rc != ADB_OK) {
        adbd_secrets_free(s);
        return rc;
    }
    *out = s;
    return ADB_OK;
}

adb_code adbd_secrets_reload_keytab(adbd_secrets *s, const adb_logger *log, bool *changed, adb_error *err)
{
    unsigned char digest[crypto_generichash_BYTES];
    adb_secret *bytes = NULL;
    struct stat now;
    adb_code rc;
    int dfd;

    *changed = false;
    if (!s->keytab_from_cred)
        return ADB_OK;   /* krb5 reads the configured keytab itself, each time */
    if (!s->own) {
        /* systemd's copy is made once per start. */
        if (stat(s->keytab_source, &now) == 0 && s->keytab_st.st_ino != 0
            && (now.st_ino != s->keytab_st.st_ino || now.st_dev != s->keytab_st.st_dev
                || now.st_mtim.tv_sec != s->keytab_st.st_mtim.tv_sec
                || now.st_mtim.tv_nsec != s->keytab_st.st_mtim.tv_nsec || now.st_size != s->keytab_st.st_size))
            return adb_error_set(err, ADB_E_KEYTAB, "keytab %s changed since the service started, and systemd "
                                 "hands credentials over only at start: systemctl restart adbridged (in-flight "
                                 "requests are finished or given back)", s->keytab_source);
        return ADB_OK;
    }
    /* Ours: replaced by another file since the start?  Then root is needed. */
    if (stat(s->keytab_source, &now) == 0 && (now.st_dev != s->keytab_st.st_dev || now.st_ino != s->keytab_st.st_ino)) {
        int nfd = open(s->keytab_source, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
        if (nfd < 0) {
            struct passwd *pw = getpwuid(geteuid());
            return adb_error_set(err, ADB_E_KEYTAB, "keytab %s was replaced by another file since adbridged started "
                                 "and user %s cannot open it (%s): restart adbridged to read it", s->keytab_source,
                                 pw != NULL ? pw->pw_name : "?", strerror(errno));
        }
        close(s->keytab_fd);
        s->keytab_fd = nfd;
        fstat(nfd, &s->keytab_st);
    }
    if ((rc = read_keytab_fd(s->keytab_fd, s->keytab_source, &bytes, err)) != ADB_OK)
        return rc;
    crypto_generichash(digest, sizeof digest, adb_secret_cdata(bytes), adb_secret_len(bytes), NULL, 0);
    if (sodium_memcmp(digest, s->digest, sizeof digest) == 0) {
        adb_secret_free(bytes);
        return ADB_OK;
    }
    if ((dfd = open(s->cred_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
        adb_secret_free(bytes);
        return adb_error_set(err, ADB_E_IO, "cannot open %s: %s", s->cred_dir, strerror(errno));
    }
    /* A new file renamed over the old one: krb5 opens one or the other. */
    unlinkat(dfd, "keytab.new", 0);
    rc = write_copy(dfd, s->cred_dir, "keytab.new", bytes, (uid_t)-1, (gid_t)-1, err);
    adb_secret_free(bytes);
    if (rc == ADB_OK && renameat(dfd, "keytab.new", dfd, "keytab") != 0) {
        rc = adb_error_set(err, ADB_E_IO, "cannot replace %s/keytab: %s", s->cred_dir, strerror(errno));
        unlinkat(dfd, "keytab.new", 0);
    }
    close(dfd);
    if (rc == ADB_OK) {
        memcpy(s->digest, digest, sizeof digest);
        *changed = true;
        adb_log(log, ADB_LOG_INFO, "keytab_copied", "source=%s copy=%s/keytab", s->keytab_source, s->cred_dir);
    }
    return rc;
}

void adbd_secrets_free(adbd_secrets *s)
{
    if (s == NULL)
        return;
    if (s->own && s->cred_dir != NULL)
        remove_dir(s->cred_dir);
    if (s->keytab_fd >= 0)
        close(s->keytab_fd);
    free(s->cred_dir);
    free(s->keytab_source);
    free(s);
}

/* ---- after the drop ---- */

adb_code adbd_secrets_check_readable(const adb_config *cfg, adb_error *err)
{
    const struct { const char *field, *path; } files[] = {
        { "$.broker.proxy.credentials_file", cfg->broker.proxy.credentials_file },
        { "$.broker.key_file", cfg->broker.key_file },
        { "$.broker.cert_file", cfg->broker.cert_file },
        { "$.broker.ca_file", cfg->broker.ca_file },
        { "$.ldap.ca_file", cfg->ldap.ca_file },
    };

    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        struct passwd *pw;
        int fd;

        if (files[i].path == NULL)
            continue;
        if ((fd = open(files[i].path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)) >= 0) {
            close(fd);
            continue;
        }
        pw = getpwuid(geteuid());
        return adb_error_set(err, ADB_E_CONFIG, "%s: %s is not readable by user %s (%s), and the daemon opens it "
                             "at every connection: make it readable by that user", files[i].field, files[i].path,
                             pw != NULL ? pw->pw_name : "?", strerror(errno));
    }
    return ADB_OK;
}
