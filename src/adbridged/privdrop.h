/* Dropping root for good (adbridged started as root without systemd).
 *
 * After adbd_privdrop the process runs as the configured account with its
 * groups, holds no capability in any set (effective, permitted, inheritable,
 * ambient, bounding), has PR_SET_NO_NEW_PRIVS (no setuid binary or file
 * capability can give anything back), and has checked that setuid(0)
 * fails.  libcap-ng does the setgroups/setgid/setuid and capability work.
 * Must run while the process has a single thread: capabilities and the
 * bounding set are per thread. */
#ifndef ADBRIDGED_PRIVDROP_H
#define ADBRIDGED_PRIVDROP_H

#include <adbridge/error.h>

#include <stdbool.h>
#include <sys/types.h>

typedef struct adbd_account {
    uid_t uid;
    gid_t gid;
    char name[64];
} adbd_account;

/* Looks the account up (NSS).  config_invalid when it does not exist (the
 * message says how to create it) or is root. */
adb_code adbd_account_lookup(const char *user, adbd_account *out, adb_error *err);

/* Becomes acct for good.  internal error (the step that failed) otherwise;
 * the caller must exit then. */
adb_code adbd_privdrop(const adbd_account *acct, adb_error *err);

/* Checks the current process: not uid/gid 0 (real, effective, saved,
 * supplementary), setuid(0) fails, no capability in the effective,
 * permitted, inheritable or ambient set (nor in the bounding set when
 * bounding is set), NO_NEW_PRIVS set.  internal error naming what is still
 * there. */
adb_code adbd_privdrop_verify(bool bounding, adb_error *err);

/* For a daemon started without root (systemd User=, or by hand): sets
 * NO_NEW_PRIVS and verifies as above, without the bounding set (only root
 * can empty it; the unit's CapabilityBoundingSet= does). */
adb_code adbd_privdrop_unprivileged(adb_error *err);

#endif
