/* The instance's key pair for credentials in transit.
 *
 * Each bridge instance has an X25519 key pair (libsodium crypto_box),
 * created at first start in the state directory, file ADB_KEYSTORE_FILE, mode
 * 0600, written atomically.  The cloud seals a password to every registered
 * instance's public key (crypto_box_seal) and sends a map key id -> sealed
 * copy; an instance opens only the copy for one of its own key ids.
 *
 * Key id: the first 16 bytes of BLAKE2b (crypto_generichash, 16-byte output)
 * of the 32-byte public key, in base64url without padding (22 characters).
 * Public keys and sealed copies are standard base64 (RFC 4648 section 4,
 * with padding).
 *
 * Rotation makes a new pair current and keeps the previous ones until their
 * grace expiry (recorded in the file), so requests sealed to an old key while
 * the cloud learnt the new one still open.  Expired keys are ignored and
 * dropped at the next write.
 *
 * The secret keys are read from the file straight into secret memory
 * (secmem.h) and wiped when freed; no other copy exists.  The file is refused
 * when group or others have any permission on it.
 *
 * All functions are thread-safe. */
#ifndef ADBRIDGE_KEYSTORE_H
#define ADBRIDGE_KEYSTORE_H

#include <adbridge/clock.h>
#include <adbridge/error.h>
#include <adbridge/secmem.h>

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#define ADB_KEYSTORE_FILE "instance-keys"
#define ADB_KEYSTORE_DEFAULT_GRACE_S (7L * 24 * 3600)

enum {
    ADB_KEY_ID_SIZE = 23,           /* 22 characters and the NUL */
    ADB_PUBLIC_KEY_B64_SIZE = 45,   /* 44 characters and the NUL */
    ADB_KEYSTORE_MAX_KEYS = 8,      /* current + old keys in grace */
    ADB_SEALED_MAX = 8192,          /* bytes of one sealed copy (before base64) */
};

typedef struct adb_keystore adb_keystore;

typedef struct adb_keystore_options {
    adb_clock clock;
    bool no_create;   /* not_found instead of creating a missing file */
} adb_keystore_options;

typedef struct adb_key_info {
    char key_id[ADB_KEY_ID_SIZE];
    char public_key[ADB_PUBLIC_KEY_B64_SIZE];
    time_t created;
    time_t expires;   /* 0 for the current key; else end of its grace period */
} adb_key_info;

/* Loads state_dir/ADB_KEYSTORE_FILE, creating state_dir (0700, last
 * component only) and a first key pair when missing.
 * Errors: config_invalid (the file is readable or writable by group or
 * others, not a regular file, owned by another user, or malformed: the
 * message names the file and the fix), io_error, not_found (no_create). */
adb_code adb_keystore_open(const char *state_dir, const adb_keystore_options *opts, adb_keystore **out,
                           adb_error *err);
void adb_keystore_free(adb_keystore *ks);

const char *adb_keystore_path(const adb_keystore *ks);

/* The usable keys, current first, then old keys in their grace period
 * (soonest expiry last); returns how many were written (at most max). */
size_t adb_keystore_keys(adb_keystore *ks, adb_key_info *out, size_t max);

void adb_keystore_current(adb_keystore *ks, adb_key_info *out);

/* New current pair; the previous current key stays usable for grace_s
 * seconds (0: dropped at once).  Written to the file before it takes effect.
 * *out (may be NULL) gets the new current key. */
adb_code adb_keystore_rotate(adb_keystore *ks, long grace_s, adb_key_info *out, adb_error *err);

/* Reads the file again when it changed on disk (e.g. `adbridge key rotate`
 * ran while the daemon runs); *changed (may be NULL) tells whether it did. */
adb_code adb_keystore_reload(adb_keystore *ks, bool *changed, adb_error *err);

/* Opens one sealed copy (raw crypto_box_seal output) with the key key_id
 * into a new secret (caller frees with adb_secret_free).
 * key_unknown: key_id is not one of this instance's usable keys.
 * invalid_request: the copy does not open (corrupted, truncated, or sealed
 * to another public key). */
adb_code adb_keystore_open_sealed(adb_keystore *ks, const char *key_id, const void *sealed, size_t len,
                                  adb_secret **out, adb_error *err);

/* One entry of a request's map of sealed copies. */
typedef struct adb_sealed_copy {
    const char *key_id;
    const char *sealed_b64;   /* base64 of crypto_box_seal output */
} adb_sealed_copy;

/* Picks the copy for one of this instance's keys (the current key first)
 * and opens it.  When none matches, re-reads the key file once if it
 * changed on disk.  key_unknown: no copy for this instance (nothing was
 * decrypted); invalid_request: the copy is not base64 or does not open.
 * used_key_id (may be NULL) gets the key id used. */
adb_code adb_keystore_open_request(adb_keystore *ks, const adb_sealed_copy *copies, size_t n,
                                   adb_secret **out, char used_key_id[ADB_KEY_ID_SIZE], adb_error *err);

/* The key id of a base64 public key (what the cloud computes at
 * registration).  invalid_request: not a 32-byte key in base64. */
adb_code adb_key_id_from_public(const char *public_key_b64, char key_id[ADB_KEY_ID_SIZE], adb_error *err);

/* Seals len bytes to a base64 public key (the cloud's side, for tests and
 * tools); *out is a malloc'd base64 string. */
adb_code adb_seal_b64(const char *public_key_b64, const void *msg, size_t len, char **out, adb_error *err);

#endif
