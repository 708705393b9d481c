/* Clone detection (see include/adbridge/identity.h).
 *
 * File format (text):
 *
 *   adbridge-identity 1
 *   machine HEX32
 *   principal NAME$@REALM
 *   bound UNIX_SECONDS
 */
#include "config.h"

#include <adbridge/text.h>
#include <adbridge/fileio.h>
#include <adbridge/identity.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#define FILE_MAGIC "adbridge-identity 1"

enum { FILE_MAX = 4096 };

/* sd_id128_get_machine_app_specific(3), as systemd documents it: the first
 * 16 bytes of HMAC-SHA256(key = the machine id, message = the application
 * id), marked as a version 4 UUID.  Done with libsodium rather than
 * libsystemd so that the CLI does not load libsystemd and its five
 * libraries on every start for this one call (t-80 compares the result
 * with `systemd-id128 machine-id --app-specific`). */
adb_code adb_identity_app_specific(const char *machine_hex, const char *app_hex, char out[33], adb_error *err)
{
    unsigned char machine[16], app[16], mac[crypto_auth_hmacsha256_BYTES];
    size_t n1 = 0, n2 = 0;
    static const unsigned char zero[16];

    out[0] = '\0';
    if (sodium_init() < 0)
        return adb_error_set(err, ADB_E_INTERNAL, "libsodium failed to initialise");
    if (strlen(machine_hex) != 32 || sodium_hex2bin(machine, sizeof machine, machine_hex, 32, NULL, &n1, NULL) != 0
        || n1 != 16 || sodium_memcmp(machine, zero, 16) == 0)
        return adb_error_set(err, ADB_E_IO, "this machine's id (/etc/machine-id) is not 32 hexadecimal digits. Every "
                             "systemd host has one; create it with systemd-machine-id-setup");
    if (strlen(app_hex) != 32 || sodium_hex2bin(app, sizeof app, app_hex, 32, NULL, &n2, NULL) != 0 || n2 != 16)
        return adb_error_set(err, ADB_E_INTERNAL, "bad application id");
    crypto_auth_hmacsha256_state st; /* the init/update API: the key is 16 bytes, not KEYBYTES */
    crypto_auth_hmacsha256_init(&st, machine, sizeof machine);
    crypto_auth_hmacsha256_update(&st, app, sizeof app);
    crypto_auth_hmacsha256_final(&st, mac);
    sodium_memzero(&st, sizeof st);
    mac[6] = (unsigned char)((mac[6] & 0x0f) | 0x40);
    mac[8] = (unsigned char)((mac[8] & 0x3f) | 0x80);
    sodium_bin2hex(out, 33, mac, 16);
    sodium_memzero(machine, sizeof machine);
    sodium_memzero(mac, sizeof mac);
    return ADB_OK;
}

adb_code adb_identity_this_machine(char out[33], adb_error *err)
{
    char text[64];
    size_t n = 0;
    FILE *f = fopen("/etc/machine-id", "re");

    out[0] = '\0';
    if (f == NULL)
        return adb_error_set(err, ADB_E_IO, "cannot read this machine's id (/etc/machine-id): %s. Every systemd "
                             "host has one; create it with systemd-machine-id-setup", strerror(errno));
    n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    text[strcspn(text, "\n")] = '\0';
    adb_code rc = adb_identity_app_specific(text, ADB_IDENTITY_APP_ID, out, err);
    sodium_memzero(text, sizeof text);
    return rc;
}

static char *identity_path(const char *state_dir)
{
    size_t n = strlen(state_dir) + sizeof ADB_IDENTITY_FILE + 1;
    char *p = malloc(n);

    if (p != NULL)
        snprintf(p, n, "%s/%s", state_dir, ADB_IDENTITY_FILE);
    return p;
}

static bool hex32(const char *s)
{
    return strlen(s) == 32 && strspn(s, "0123456789abcdef") == 32;
}

static adb_code parse(const char *path, char *text, adb_identity *out, adb_error *err)
{
    bool magic = false, have_machine = false, have_principal = false;
    int lineno = 0;

    memset(out, 0, sizeof *out);
    for (char *line = text, *next; line != NULL && *line != '\0'; line = next) {
        char *value;

        lineno++;
        if ((next = strchr(line, '\n')) != NULL)
            *next++ = '\0';
        if (*line == '#' || *line == '\0')
            continue;
        if (!magic) {
            if (strcmp(line, FILE_MAGIC) != 0)
                break;
            magic = true;
            continue;
        }
        if ((value = strchr(line, ' ')) == NULL)
            break;
        *value++ = '\0';
        if (strcmp(line, "machine") == 0 && hex32(value)) {
            memcpy(out->machine, value, 33);
            have_machine = true;
        } else if (strcmp(line, "principal") == 0 && strlen(value) < sizeof out->principal && strchr(value, '@')) {
            strcpy(out->principal, value);
            have_principal = true;
        } else if (strcmp(line, "bound") == 0) {
            int64_t t;
            if (!adb_ascii_int64(value, 0, INT64_MAX, &t))
                break;
            out->bound = (time_t)t;
        } else {
            break;
        }
    }
    if (!magic || !have_machine || !have_principal)
        return adb_error_set(err, ADB_E_CONFIG, "identity file %s is malformed (near line %d): move it away and run "
                             "adbridge key reset", path, lineno);
    return ADB_OK;
}

adb_code adb_identity_check(const char *state_dir, const char *principal, adb_identity_state *state,
                            adb_identity *recorded, adb_error *err)
{
    char here[33], *path, *text = NULL;
    adb_identity rec;
    size_t len;
    adb_code rc;

    *state = ADB_IDENTITY_UNBOUND;
    if ((rc = adb_identity_this_machine(here, err)) != ADB_OK)
        return rc;
    if ((path = identity_path(state_dir)) == NULL)
        return adb_error_set(err, ADB_E_NOMEM, "out of memory");
    rc = adb_file_read(path, FILE_MAX, &text, &len, err);
    if (rc == ADB_E_NOT_FOUND) {
        free(path);
        return ADB_OK;
    }
    if (rc == ADB_OK)
        rc = parse(path, text, &rec, err);
    free(text);
    free(path);
    if (rc != ADB_OK)
        return rc;
    if (recorded != NULL)
        *recorded = rec;
    if (strcmp(rec.machine, here) != 0)
        *state = ADB_IDENTITY_OTHER_MACHINE;
    else if (principal != NULL && strcmp(rec.principal, principal) != 0)
        *state = ADB_IDENTITY_OTHER_PRINCIPAL;
    else
        *state = ADB_IDENTITY_MATCH;
    return ADB_OK;
}

adb_code adb_identity_bind(const char *state_dir, const char *principal, adb_error *err)
{
    char here[33], text[FILE_MAX], *path;
    adb_code rc;
    int n;

    if (principal == NULL || strchr(principal, '\n') != NULL || strlen(principal) >= sizeof ((adb_identity *)0)->principal)
        return adb_error_set(err, ADB_E_INTERNAL, "no usable machine principal to bind the instance identity to");
    if ((rc = adb_identity_this_machine(here, err)) != ADB_OK)
        return rc;
    n = snprintf(text, sizeof text,
                 "# adbridge: the machine and machine account this instance's keys belong to.\n"
                 "# On another machine (a clone) adbridged refuses to serve: run adbridge key reset there.\n"
                 FILE_MAGIC "\nmachine %s\nprincipal %s\nbound %lld\n", here, principal, (long long)time(NULL));
    if ((path = identity_path(state_dir)) == NULL)
        return adb_error_set(err, ADB_E_NOMEM, "out of memory");
    rc = adb_file_write_atomic(path, text, (size_t)n, 0600, err);
    free(path);
    return rc;
}

adb_code adb_identity_explain(const char *state_dir, adb_identity_state state, const adb_identity *recorded,
                              const char *principal, adb_error *err)
{
    switch (state) {
    case ADB_IDENTITY_OTHER_MACHINE:
        return adb_error_set(err, ADB_E_CONFIG,
                             "this host looks like a clone: the instance keys in %s were made on another machine "
                             "(its /etc/machine-id differs from the one recorded in %s/" ADB_IDENTITY_FILE "). Two "
                             "instances must not share a key pair. Fix: adbridge key reset (a new key pair bound to "
                             "this machine; register its public key with the cloud)", state_dir, state_dir);
    case ADB_IDENTITY_OTHER_PRINCIPAL:
        return adb_error_set(err, ADB_E_CONFIG,
                             "the instance keys in %s belong to machine account %s, but the keytab is for %s (the "
                             "host was joined again, or cloned and joined). Fix: adbridge key reset (a new key pair "
                             "bound to %s; register its public key with the cloud)", state_dir,
                             recorded != NULL ? recorded->principal : "?", principal != NULL ? principal : "?",
                             principal != NULL ? principal : "this account");
    default:
        return ADB_OK;
    }
}
