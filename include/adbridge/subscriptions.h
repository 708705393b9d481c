/* "Use for subscriptions": which domains the bridge may use.
 *
 * Each domain's flag starts from the configuration (domains[].use_for_
 * subscriptions); a change (by the cloud's operation or `adbridge domain
 * enable|disable`) is written to <state_dir>/subscriptions.json atomically
 * (temporary file, fsync, rename, fsync of the directory) before it takes
 * effect, so it survives restarts and a crash never leaves half a file.  The
 * persisted value wins over the configuration at the next start.
 *
 * This module is the flags' one owner: it keeps them in memory and in the
 * state file behind one lock, and nothing else keeps a copy.  The locator
 * enforces them by asking this module at each use (see
 * adb_locator_new_with_subscriptions), so what the locator refuses and what
 * this module reports (and persisted) cannot disagree, whatever calls to
 * adb_subscriptions_set run at once.
 * Thread-safe; the lock is a leaf (nothing is called while it is held but
 * the file write), so other modules may ask while holding their own. */
#ifndef ADBRIDGE_SUBSCRIPTIONS_H
#define ADBRIDGE_SUBSCRIPTIONS_H

#include <adbridge/config.h>
#include <adbridge/error.h>

#include <stdbool.h>
#include <stddef.h>

#define ADB_SUBSCRIPTIONS_FILE "subscriptions.json"

typedef struct adb_subscriptions adb_subscriptions;

typedef struct adb_subscription {
    char name[256];      /* DNS domain name, lower case */
    bool enabled;
    bool persisted;      /* the value comes from the state file, not the configuration */
} adb_subscription;

/* Starts from cfg's domains and overlays <cfg->state_dir>/subscriptions.json
 * when it exists.  ADB_E_CONFIG (naming the file, the problem and the fix)
 * when that file is not a valid state file; ADB_E_IO when it cannot be read. */
adb_code adb_subscriptions_open(const adb_config *cfg, adb_subscriptions **out, adb_error *err);
void adb_subscriptions_free(adb_subscriptions *s);

const char *adb_subscriptions_path(const adb_subscriptions *s);

/* Flag of domain (DNS name, case-insensitive); false for an unknown domain. */
bool adb_subscriptions_enabled(adb_subscriptions *s, const char *domain);
/* True when domain has a flag (from the configuration or the state file). */
bool adb_subscriptions_known(adb_subscriptions *s, const char *domain);

/* Sets the flag of domain (a DNS name; this module accepts any, configured
 * or not), persisting first: on failure nothing changes.  File and memory
 * change under one lock, so concurrent calls leave the file, the memory and
 * every reader (the locator included) with the value of the call that ran
 * last.  ADB_E_INVALID_REQUEST for a name that is not a DNS name; ADB_E_IO
 * when the state file cannot be written. */
adb_code adb_subscriptions_set(adb_subscriptions *s, const char *domain, bool enabled, adb_error *err);

/* Copies the flags, sorted by name, into a malloc'd array. */
adb_code adb_subscriptions_list(adb_subscriptions *s, adb_subscription **out, size_t *n, adb_error *err);

#endif
