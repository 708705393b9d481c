/* Clone detection: the instance's identity (its key pair in the state
 * directory, keystore.h) is bound to this machine and to the machine
 * account of the keytab.
 *
 * state_dir/ADB_IDENTITY_FILE records both: the machine as adbridge's
 * application-specific machine id (sd_id128_get_machine_app_specific(3):
 * an HMAC-SHA256 of /etc/machine-id with adbridge's application id, so the
 * file never holds the machine id itself; `systemd-id128 machine-id
 * --app-specific=ADB_IDENTITY_APP_ID` prints the same value), and the
 * keytab's principal.  A state directory copied to another machine (a cloned
 * VM, a restored backup) or a host joined again under another name no longer
 * matches: the daemon refuses to serve, `adbridge diagnose` fails its
 * identity check, and `adbridge key reset` (a new key pair, bound here) is
 * the fix.  Two instances must never share a key pair: the cloud tells
 * instances apart by their key ids. */
#ifndef ADBRIDGE_IDENTITY_H
#define ADBRIDGE_IDENTITY_H

#include <adbridge/error.h>

#include <time.h>

#define ADB_IDENTITY_FILE "instance-identity"
#define ADB_IDENTITY_APP_ID "db958f6c90d54804a56eba3403ecdca9"

typedef enum adb_identity_state {
    ADB_IDENTITY_MATCH = 0,        /* recorded, same machine and principal */
    ADB_IDENTITY_UNBOUND,          /* nothing recorded yet (first start) */
    ADB_IDENTITY_OTHER_MACHINE,    /* recorded on another machine: a clone */
    ADB_IDENTITY_OTHER_PRINCIPAL,  /* recorded for another machine account */
} adb_identity_state;

typedef struct adb_identity {
    char machine[33];              /* application-specific machine id, 32 hex digits */
    char principal[256];
    time_t bound;                  /* when it was recorded */
} adb_identity;

/* This machine's application-specific id.  io_error when /etc/machine-id
 * is missing or empty (the message names systemd-machine-id-setup). */
adb_code adb_identity_this_machine(char out[33], adb_error *err);

/* The application-specific id of a machine id (both 32 hex digits): what
 * adb_identity_this_machine computes from /etc/machine-id.  io_error for a
 * machine id that is not 32 hex digits or is all zeros. */
adb_code adb_identity_app_specific(const char *machine_hex, const char *app_hex, char out[33], adb_error *err);

/* Compares the record in state_dir with this machine and principal.
 * *recorded (may be NULL) gets the record when there is one.  A mismatch is
 * not an error: *state says it, adb_identity_explain words it.
 * config_invalid when the record is malformed, io_error when unreadable. */
adb_code adb_identity_check(const char *state_dir, const char *principal, adb_identity_state *state,
                            adb_identity *recorded, adb_error *err);

/* Records this machine and principal (atomically, mode 0600). */
adb_code adb_identity_bind(const char *state_dir, const char *principal, adb_error *err);

/* For a mismatch: sets err (config_invalid) to what differs and the fix
 * (`adbridge key reset`), and returns ADB_E_CONFIG; ADB_OK otherwise. */
adb_code adb_identity_explain(const char *state_dir, adb_identity_state state, const adb_identity *recorded,
                              const char *principal, adb_error *err);

#endif
