/* The instance key pair (see include/adbridge/keystore.h).
 *
 * File format (text, one key per line, current key first):
 *
 *   adbridge-keys 1
 *   current KEY_ID CREATED PUBLIC_B64 SECRET_B64
 *   old KEY_ID CREATED EXPIRES PUBLIC_B64 SECRET_B64
 *
 * Times are Unix seconds.  The file is read with read(2) straight into
 * secret memory and parsed there (stdio or a JSON library would leave copies
 * of the secret keys in ordinary heap buffers). */
#include "config.h"

#include <adbridge/text.h>
#include <adbridge/fileio.h>
#include <adbridge/keystore.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define FILE_MAGIC "adbridge-keys 1"
#define B64 sodium_base64_VARIANT_ORIGINAL
#define B64URL sodium_base64_VARIANT_URLSAFE_NO_PADDING

enum {
    FILE_MAX = 16384,
    LOCK_WAIT_MS = 5000,
    KEY_ID_BYTES = 16,
    SECRET_B64_SIZE = 45,
};
#define MAX_GRACE_S (366L * 24 * 3600)

typedef struct ks_key {
    char id[ADB_KEY_ID_SIZE];
    unsigned char pk[crypto_box_PUBLICKEYBYTES];
    adb_secret *sk;        /* crypto_box_SECRETKEYBYTES */
    time_t created;
    time_t expires;        /* 0: current */
} ks_key;

struct adb_keystore {
    pthread_mutex_t lock;
    char *path;
    char *lock_path;
    adb_clock clock;
    ks_key keys[ADB_KEYSTORE_MAX_KEYS];   /* keys[0] is current */
    size_t n;
    dev_t dev;             /* identity of the file last read or written */
    ino_t ino;
    struct timespec mtime;
};

static void key_id_of(const unsigned char pk[crypto_box_PUBLICKEYBYTES], char id[ADB_KEY_ID_SIZE])
{
    unsigned char h[KEY_ID_BYTES];

    crypto_generichash(h, sizeof h, pk, crypto_box_PUBLICKEYBYTES, NULL, 0);
    sodium_bin2base64(id, ADB_KEY_ID_SIZE, h, sizeof h, B64URL);
}

static void keys_clear(ks_key *keys, size_t *n)
{
    for (size_t i = 0; i < *n; i++)
        adb_secret_free(keys[i].sk);
    memset(keys, 0, *n * sizeof *keys);
    *n = 0;
}

static adb_code new_pair(ks_key *k, time_t now, adb_error *err)
{
    adb_code rc = adb_secret_new(crypto_box_SECRETKEYBYTES, &k->sk, err);

    if (rc != ADB_OK)
        return rc;
    crypto_box_keypair(k->pk, adb_secret_data(k->sk));
    adb_secret_set_len(k->sk, crypto_box_SECRETKEYBYTES);
    key_id_of(k->pk, k->id);
    k->created = now;
    k->expires = 0;
    return ADB_OK;
}

static void info_of(const ks_key *k, adb_key_info *out)
{
    memset(out, 0, sizeof *out);
    memcpy(out->key_id, k->id, sizeof out->key_id);
    sodium_bin2base64(out->public_key, sizeof out->public_key, k->pk, sizeof k->pk, B64);
    out->created = k->created;
    out->expires = k->expires;
}

static bool usable(const ks_key *k, time_t now)
{
    return k->expires == 0 || k->expires > now;
}

/* ---- parsing, in place, inside the secret buffer ---- */

/* Next space- or newline-terminated field of *p (inside one line). */
static char *field(char **p)
{
    char *s = *p, *e;

    if (s == NULL || *s == '\0')
        return NULL;
    e = s + strcspn(s, " ");
    if (e == s)
        return NULL;
    if (*e == ' ')
        *e++ = '\0';
    *p = e;
    return s;
}

static bool parse_time(const char *s, time_t *out)
{
    int64_t v;

    if (s == NULL || *s == '-' || !adb_ascii_int64(s, 0, INT64_MAX, &v))
        return false;
    *out = (time_t)v;
    return true;
}

static adb_code bad_file(const char *path, int line, const char *what, adb_error *err)
{
    return adb_error_set(err, ADB_E_CONFIG,
                         "key file %s, line %d: %s (restore it from a backup, or move it away to create a new "
                         "key pair and register the new public key)", path, line, what);
}

/* Decodes one key line's fields (after the kind) into k. */
static adb_code parse_key(const char *path, int lineno, char *rest, bool current, ks_key *k, adb_error *err)
{
    char *id = field(&rest), *created = field(&rest), *expires = current ? NULL : field(&rest);
    char *pk_b64 = field(&rest), *sk_b64 = field(&rest);
    unsigned char check[crypto_box_PUBLICKEYBYTES];
    size_t bin_len;
    adb_code rc;

    if (id == NULL || created == NULL || (!current && expires == NULL) || pk_b64 == NULL || sk_b64 == NULL
        || *rest != '\0')
        return bad_file(path, lineno, "wrong number of fields", err);
    if (!parse_time(created, &k->created) || (!current && !parse_time(expires, &k->expires))
        || (!current && k->expires == 0))
        return bad_file(path, lineno, "bad time", err);
    if (sodium_base642bin(k->pk, sizeof k->pk, pk_b64, strlen(pk_b64), NULL, &bin_len, NULL, B64) != 0
        || bin_len != sizeof k->pk)
        return bad_file(path, lineno, "bad public key", err);
    if ((rc = adb_secret_new(crypto_box_SECRETKEYBYTES, &k->sk, err)) != ADB_OK)
        return rc;
    if (sodium_base642bin(adb_secret_data(k->sk), crypto_box_SECRETKEYBYTES, sk_b64, strlen(sk_b64), NULL,
                          &bin_len, NULL, B64) != 0
        || bin_len != crypto_box_SECRETKEYBYTES)
        return bad_file(path, lineno, "bad secret key", err);
    adb_secret_set_len(k->sk, crypto_box_SECRETKEYBYTES);
    /* The pair must belong together and the id must be the public key's. */
    crypto_scalarmult_base(check, adb_secret_cdata(k->sk));
    if (sodium_memcmp(check, k->pk, sizeof check) != 0)
        return bad_file(path, lineno, "the secret key does not match the public key", err);
    key_id_of(k->pk, k->id);
    if (strcmp(k->id, id) != 0)
        return bad_file(path, lineno, "the key id does not match the public key", err);
    return ADB_OK;
}

static adb_code parse_file(const char *path, adb_secret *buf, ks_key *keys, size_t *n, adb_error *err)
{
    char *text = (char *)adb_secret_data(buf), *line, *next;
    int lineno = 0;
    bool magic = false;
    adb_code rc;

    *n = 0;
    if (adb_secret_has_nul(buf))
        return bad_file(path, 1, "contains a NUL byte", err);
    for (line = text; line != NULL && *line != '\0'; line = next) {
        char *kind, *rest;
        bool current;

        lineno++;
        next = strchr(line, '\n');
        if (next != NULL)
            *next++ = '\0';
        if (*line == '#' || *line == '\0')
            continue;
        if (!magic) {   /* the first line that is not a comment */
            if (strcmp(line, FILE_MAGIC) != 0)
                return bad_file(path, lineno, "not an adbridge key file of version 1", err);
            magic = true;
            continue;
        }
        rest = line;
        kind = field(&rest);
        current = kind != NULL && strcmp(kind, "current") == 0;
        if (!current && (kind == NULL || strcmp(kind, "old") != 0))
            return bad_file(path, lineno, "a line must start with 'current' or 'old'", err);
        if (current != (*n == 0))
            return bad_file(path, lineno, "exactly one 'current' key, on the first key line", err);
        if (*n == ADB_KEYSTORE_MAX_KEYS)
            return bad_file(path, lineno, "too many keys", err);
        rc = parse_key(path, lineno, rest, current, &keys[*n], err);
        (*n)++;   /* counted even on failure, so keys_clear frees its secret */
        if (rc != ADB_OK)
            return rc;
    }
    if (*n == 0)
        return bad_file(path, lineno, "no key", err);
    return ADB_OK;
}

/* ---- file access ---- */

static void remember(adb_keystore *ks, const struct stat *st)
{
    ks->dev = st->st_dev;
    ks->ino = st->st_ino;
    ks->mtime = st->st_mtim;
}

/* Reads and parses the file into ks (replacing what it holds). */
static adb_code load(adb_keystore *ks, adb_error *err)
{
    ks_key keys[ADB_KEYSTORE_MAX_KEYS];
    size_t n = 0;
    adb_secret *buf;
    struct stat st;
    adb_code rc;

    memset(keys, 0, sizeof keys);
    memset(&st, 0, sizeof st);
    /* fileio.h's reader of secret files: no link, no FIFO, mode 0600, our own. */
    if ((rc = adb_secret_file_read(ks->path, "key", FILE_MAX, ADB_SECRET_FILE_RAW, &buf, &st, err)) != ADB_OK)
        return rc;
    rc = parse_file(ks->path, buf, keys, &n, err);
    adb_secret_free(buf);
    if (rc != ADB_OK) {
        keys_clear(keys, &n);
        return rc;
    }
    keys_clear(ks->keys, &ks->n);
    memcpy(ks->keys, keys, sizeof keys);
    ks->n = n;
    remember(ks, &st);
    return ADB_OK;
}

/* Writes keys (usable ones only) to the file atomically, mode 0600. */
static adb_code store(adb_keystore *ks, const ks_key *keys, size_t n, adb_error *err)
{
    adb_secret *buf;
    char *text;
    size_t off = 0, cap;
    time_t now = adb_clock_now(&ks->clock);
    struct stat st;
    adb_code rc;

    if ((rc = adb_secret_new(FILE_MAX, &buf, err)) != ADB_OK)
        return rc;
    text = (char *)adb_secret_data(buf);
    cap = adb_secret_cap(buf);
    off += (size_t)snprintf(text + off, cap - off,
                            "# adbridge instance key pairs (X25519, libsodium crypto_box); current first.\n"
                            "# Secret: keep it mode 0600, owned by the bridge's user. Never copy it to another host.\n"
                            FILE_MAGIC "\n");
    for (size_t i = 0; i < n; i++) {
        char pk[ADB_PUBLIC_KEY_B64_SIZE], sk[SECRET_B64_SIZE], expires[32] = "";
        if (!usable(&keys[i], now))
            continue;
        sodium_bin2base64(pk, sizeof pk, keys[i].pk, sizeof keys[i].pk, B64);
        sodium_bin2base64(sk, sizeof sk, adb_secret_cdata(keys[i].sk), crypto_box_SECRETKEYBYTES, B64);
        if (keys[i].expires != 0)
            snprintf(expires, sizeof expires, "%lld ", (long long)keys[i].expires);
        off += (size_t)snprintf(text + off, cap - off, "%s %s %lld %s%s %s\n", i == 0 ? "current" : "old",
                                keys[i].id, (long long)keys[i].created, expires, pk, sk);
        adb_wipe(sk, sizeof sk);
    }
    rc = adb_file_write_atomic(ks->path, text, off, 0600, err);
    adb_secret_free(buf);
    if (rc == ADB_OK && stat(ks->path, &st) == 0)
        remember(ks, &st);
    return rc;
}

/* Serialises read-modify-write of the file between processes (a CLI
 * rotation while the daemon starts).  Waits at most LOCK_WAIT_MS. */
static adb_code file_lock(const adb_keystore *ks, int *fd_out, adb_error *err)
{
    int fd = open(ks->lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);

    *fd_out = -1;
    if (fd < 0)
        return adb_error_set(err, ADB_E_IO, "cannot open lock file %s: %s", ks->lock_path, strerror(errno));
    for (int waited = 0; flock(fd, LOCK_EX | LOCK_NB) != 0; waited += 50) {
        if (errno != EWOULDBLOCK && errno != EINTR) {
            int e = errno;
            close(fd);
            return adb_error_set(err, ADB_E_IO, "cannot lock %s: %s", ks->lock_path, strerror(e));
        }
        if (waited >= LOCK_WAIT_MS) {
            close(fd);
            return adb_error_set(err, ADB_E_TIMEOUT, "%s stayed locked for %d ms by another adbridge process",
                                 ks->lock_path, LOCK_WAIT_MS);
        }
        usleep(50 * 1000);
    }
    *fd_out = fd;
    return ADB_OK;
}

static void file_unlock(int fd)
{
    if (fd >= 0)
        close(fd);   /* releases the flock */
}

static adb_code ensure_dir(const char *dir, adb_error *err)
{
    struct stat st;

    if (stat(dir, &st) == 0)
        return S_ISDIR(st.st_mode) ? ADB_OK
                                   : adb_error_set(err, ADB_E_CONFIG, "state_dir %s is not a directory", dir);
    if (errno != ENOENT || mkdir(dir, 0700) != 0)
        return adb_error_set(err, ADB_E_IO, "cannot create state_dir %s: %s", dir, strerror(errno));
    return ADB_OK;
}

static char *path_join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);

    if (p != NULL)
        snprintf(p, n, "%s/%s", dir, name);
    return p;
}

adb_code adb_keystore_open(const char *state_dir, const adb_keystore_options *opts, adb_keystore **out,
                           adb_error *err)
{
    adb_keystore *ks;
    adb_code rc;
    int lock_fd = -1;

    *out = NULL;
    if ((rc = adb_secmem_init(err)) != ADB_OK)
        return rc;
    if (state_dir == NULL || *state_dir == '\0')
        return adb_error_set(err, ADB_E_CONFIG, "no state_dir configured for the instance key");
    if ((ks = calloc(1, sizeof *ks)) == NULL)
        return adb_error_set(err, ADB_E_NOMEM, "out of memory");
    pthread_mutex_init(&ks->lock, NULL);
    if (opts != NULL)
        ks->clock = opts->clock;
    ks->path = path_join(state_dir, ADB_KEYSTORE_FILE);
    ks->lock_path = path_join(state_dir, ADB_KEYSTORE_FILE ".lock");
    if (ks->path == NULL || ks->lock_path == NULL) {
        rc = adb_error_set(err, ADB_E_NOMEM, "out of memory");
        goto fail;
    }
    rc = load(ks, err);
    if (rc != ADB_E_NOT_FOUND)
        goto done;
    if (opts != NULL && opts->no_create)
        goto fail;
    /* First start: create the pair under the lock (another process may be
     * creating it at the same moment; the second one loads the first's). */
    if ((rc = ensure_dir(state_dir, err)) != ADB_OK || (rc = file_lock(ks, &lock_fd, err)) != ADB_OK)
        goto fail;
    rc = load(ks, err);
    if (rc == ADB_E_NOT_FOUND) {
        ks_key k;
        memset(&k, 0, sizeof k);
        if ((rc = new_pair(&k, adb_clock_now(&ks->clock), err)) == ADB_OK
            && (rc = store(ks, &k, 1, err)) == ADB_OK) {
            ks->keys[0] = k;
            ks->n = 1;
        } else {
            adb_secret_free(k.sk);
        }
    }
    file_unlock(lock_fd);
done:
    if (rc == ADB_OK) {
        *out = ks;
        return ADB_OK;
    }
fail:
    adb_keystore_free(ks);
    return rc;
}

void adb_keystore_free(adb_keystore *ks)
{
    if (ks == NULL)
        return;
    keys_clear(ks->keys, &ks->n);
    pthread_mutex_destroy(&ks->lock);
    free(ks->path);
    free(ks->lock_path);
    free(ks);
}

const char *adb_keystore_path(const adb_keystore *ks)
{
    return ks->path;
}

size_t adb_keystore_keys(adb_keystore *ks, adb_key_info *out, size_t max)
{
    size_t w = 0;
    time_t now = adb_clock_now(&ks->clock);

    pthread_mutex_lock(&ks->lock);
    for (size_t i = 0; i < ks->n && w < max; i++)
        if (usable(&ks->keys[i], now))
            info_of(&ks->keys[i], &out[w++]);
    pthread_mutex_unlock(&ks->lock);
    return w;
}

void adb_keystore_current(adb_keystore *ks, adb_key_info *out)
{
    pthread_mutex_lock(&ks->lock);
    info_of(&ks->keys[0], out);
    pthread_mutex_unlock(&ks->lock);
}

static int by_expiry_desc(const void *a, const void *b)
{
    const ks_key *x = a, *y = b;
    return (x->expires < y->expires) - (x->expires > y->expires);
}

adb_code adb_keystore_rotate(adb_keystore *ks, long grace_s, adb_key_info *out, adb_error *err)
{
    ks_key next[ADB_KEYSTORE_MAX_KEYS + 1];
    size_t n = 0;
    time_t now;
    int lock_fd;
    adb_code rc;

    if (grace_s < 0 || grace_s > MAX_GRACE_S)
        return adb_error_set(err, ADB_E_INVALID_REQUEST, "a grace period of %ld s is refused (0 to %ld)", grace_s,
                             (long)MAX_GRACE_S);
    pthread_mutex_lock(&ks->lock);
    if ((rc = file_lock(ks, &lock_fd, err)) != ADB_OK)
        goto out;
    /* Start from what is on disk: another process may have rotated. */
    if ((rc = load(ks, err)) != ADB_OK)
        goto unlock;
    now = adb_clock_now(&ks->clock);
    memset(next, 0, sizeof next);
    if ((rc = new_pair(&next[0], now, err)) != ADB_OK)
        goto unlock;
    n = 1;
    for (size_t i = 0; i < ks->n; i++) {
        ks_key k = ks->keys[i];
        if (k.expires == 0)
            k.expires = now + grace_s;   /* the current key starts its grace */
        if (usable(&k, now))
            next[n++] = k;
    }
    /* Keep the old keys that expire last when there are too many. */
    qsort(next + 1, n - 1, sizeof *next, by_expiry_desc);
    if (n > ADB_KEYSTORE_MAX_KEYS)
        n = ADB_KEYSTORE_MAX_KEYS;
    if ((rc = store(ks, next, n, err)) != ADB_OK) {
        adb_secret_free(next[0].sk);
        goto unlock;
    }
    /* The secrets moved into next[]; free only those that were dropped. */
    for (size_t i = 0; i < ks->n; i++) {
        bool kept = false;
        for (size_t j = 1; j < n; j++)
            kept = kept || next[j].sk == ks->keys[i].sk;
        if (!kept)
            adb_secret_free(ks->keys[i].sk);
    }
    memset(ks->keys, 0, sizeof ks->keys);
    memcpy(ks->keys, next, n * sizeof *next);
    ks->n = n;
    if (out != NULL)
        info_of(&ks->keys[0], out);
unlock:
    file_unlock(lock_fd);
out:
    pthread_mutex_unlock(&ks->lock);
    return rc;
}

static adb_code reload_locked(adb_keystore *ks, bool *changed, adb_error *err)
{
    struct stat st;

    if (changed != NULL)
        *changed = false;
    if (stat(ks->path, &st) != 0)
        return adb_error_set(err, ADB_E_IO, "cannot stat key file %s: %s", ks->path, strerror(errno));
    if (st.st_dev == ks->dev && st.st_ino == ks->ino && st.st_mtim.tv_sec == ks->mtime.tv_sec
        && st.st_mtim.tv_nsec == ks->mtime.tv_nsec)
        return ADB_OK;
    if (changed != NULL)
        *changed = true;
    return load(ks, err);
}

adb_code adb_keystore_reload(adb_keystore *ks, bool *changed, adb_error *err)
{
    adb_code rc;

    pthread_mutex_lock(&ks->lock);
    rc = reload_locked(ks, changed, err);
    pthread_mutex_unlock(&ks->lock);
    return rc;
}

/* Index of a usable key with this id, or -1. */
static int find_key(const adb_keystore *ks, const char *key_id, time_t now)
{
    for (size_t i = 0; i < ks->n; i++)
        if (usable(&ks->keys[i], now) && strcmp(ks->keys[i].id, key_id) == 0)
            return (int)i;
    return -1;
}

static adb_code open_with(const ks_key *k, const void *sealed, size_t len, adb_secret **out, adb_error *err)
{
    adb_secret *m;
    adb_code rc;

    *out = NULL;
    if (len <= crypto_box_SEALBYTES || len > ADB_SEALED_MAX)
        return adb_error_set(err, ADB_E_INVALID_REQUEST,
                             "the sealed copy for key id %s has %zu bytes (%u to %d expected)", k->id, len,
                             (unsigned)crypto_box_SEALBYTES + 1, ADB_SEALED_MAX);
    if ((rc = adb_secret_new(len - crypto_box_SEALBYTES, &m, err)) != ADB_OK)
        return rc;
    if (crypto_box_seal_open(adb_secret_data(m), sealed, len, k->pk, adb_secret_cdata(k->sk)) != 0) {
        adb_secret_free(m);
        return adb_error_set(err, ADB_E_INVALID_REQUEST,
                             "the sealed copy for key id %s does not open with this instance's key "
                             "(corrupted, or sealed to another public key)", k->id);
    }
    adb_secret_set_len(m, len - crypto_box_SEALBYTES);
    *out = m;
    return ADB_OK;
}

adb_code adb_keystore_open_sealed(adb_keystore *ks, const char *key_id, const void *sealed, size_t len,
                                  adb_secret **out, adb_error *err)
{
    adb_code rc;
    int i;

    *out = NULL;
    pthread_mutex_lock(&ks->lock);
    if ((i = find_key(ks, key_id, adb_clock_now(&ks->clock))) < 0)
        rc = adb_error_set(err, ADB_E_KEY_UNKNOWN, "key id %.*s is not a key of this bridge instance", 64, key_id);
    else
        rc = open_with(&ks->keys[i], sealed, len, out, err);
    pthread_mutex_unlock(&ks->lock);
    return rc;
}

/* The copy meant for the best of our keys (current first), or -1. */
static int pick_copy(const adb_keystore *ks, const adb_sealed_copy *copies, size_t n, time_t now, int *key)
{
    for (size_t i = 0; i < ks->n; i++) {
        if (!usable(&ks->keys[i], now))
            continue;
        for (size_t j = 0; j < n; j++) {
            if (copies[j].key_id != NULL && strcmp(copies[j].key_id, ks->keys[i].id) == 0) {
                *key = (int)i;
                return (int)j;
            }
        }
    }
    return -1;
}

adb_code adb_keystore_open_request(adb_keystore *ks, const adb_sealed_copy *copies, size_t n,
                                   adb_secret **out, char used_key_id[ADB_KEY_ID_SIZE], adb_error *err)
{
    unsigned char *bin = NULL;
    size_t bin_len = 0, b64_len;
    time_t now = adb_clock_now(&ks->clock);
    adb_code rc;
    int c, k = -1;

    *out = NULL;
    pthread_mutex_lock(&ks->lock);
    if ((c = pick_copy(ks, copies, n, now, &k)) < 0) {
        bool changed = false;
        /* A rotation by another process since we loaded? Look once. */
        if (reload_locked(ks, &changed, NULL) == ADB_OK && changed)
            c = pick_copy(ks, copies, n, now, &k);
    }
    if (c < 0) {
        rc = adb_error_set(err, ADB_E_KEY_UNKNOWN,
                           "the request has no sealed copy for this bridge instance (current key id %s; the request "
                           "has %zu cop%s for other keys): re-read the bridge registrations",
                           ks->keys[0].id, n, n == 1 ? "y" : "ies");
        goto out;
    }
    b64_len = copies[c].sealed_b64 != NULL ? strlen(copies[c].sealed_b64) : 0;
    if (b64_len == 0 || b64_len > (ADB_SEALED_MAX / 3 + 1) * 4) {
        rc = adb_error_set(err, ADB_E_INVALID_REQUEST, "the sealed copy for key id %s is empty or longer than "
                           "%d bytes", ks->keys[k].id, ADB_SEALED_MAX);
        goto out;
    }
    if ((bin = malloc(b64_len)) == NULL) {
        rc = adb_error_set(err, ADB_E_NOMEM, "out of memory");
        goto out;
    }
    if (sodium_base642bin(bin, b64_len, copies[c].sealed_b64, b64_len, NULL, &bin_len, NULL, B64) != 0) {
        rc = adb_error_set(err, ADB_E_INVALID_REQUEST, "the sealed copy for key id %s is not valid base64",
                           ks->keys[k].id);
        goto out;
    }
    rc = open_with(&ks->keys[k], bin, bin_len, out, err);
    if (rc == ADB_OK && used_key_id != NULL)
        memcpy(used_key_id, ks->keys[k].id, ADB_KEY_ID_SIZE);
out:
    pthread_mutex_unlock(&ks->lock);
    free(bin);   /* ciphertext only: nothing to wipe */
    return rc;
}

static adb_code decode_public(const char *b64, unsigned char pk[crypto_box_PUBLICKEYBYTES], adb_error *err)
{
    size_t len;

    if (b64 == NULL
        || sodium_base642bin(pk, crypto_box_PUBLICKEYBYTES, b64, strlen(b64), NULL, &len, NULL, B64) != 0
        || len != crypto_box_PUBLICKEYBYTES)
        return adb_error_set(err, ADB_E_INVALID_REQUEST, "not a base64 X25519 public key of %d bytes",
                             crypto_box_PUBLICKEYBYTES);
    return ADB_OK;
}

adb_code adb_key_id_from_public(const char *public_key_b64, char key_id[ADB_KEY_ID_SIZE], adb_error *err)
{
    unsigned char pk[crypto_box_PUBLICKEYBYTES];
    adb_code rc;

    if ((rc = adb_secmem_init(err)) != ADB_OK || (rc = decode_public(public_key_b64, pk, err)) != ADB_OK)
        return rc;
    key_id_of(pk, key_id);
    return ADB_OK;
}

adb_code adb_seal_b64(const char *public_key_b64, const void *msg, size_t len, char **out, adb_error *err)
{
    unsigned char pk[crypto_box_PUBLICKEYBYTES], *c;
    size_t clen = len + crypto_box_SEALBYTES, b64_size = sodium_base64_encoded_len(clen, B64);
    adb_code rc;

    *out = NULL;
    if ((rc = adb_secmem_init(err)) != ADB_OK || (rc = decode_public(public_key_b64, pk, err)) != ADB_OK)
        return rc;
    if (len == 0 || clen > ADB_SEALED_MAX)
        return adb_error_set(err, ADB_E_INVALID_REQUEST, "cannot seal %zu bytes (1 to %d)", len,
                             ADB_SEALED_MAX - (int)crypto_box_SEALBYTES);
    if ((c = malloc(clen)) == NULL || (*out = malloc(b64_size)) == NULL) {
        free(c);
        return adb_error_set(err, ADB_E_NOMEM, "out of memory");
    }
    crypto_box_seal(c, msg, len, pk);
    sodium_bin2base64(*out, b64_size, c, clen, B64);
    free(c);
    return ADB_OK;
}
