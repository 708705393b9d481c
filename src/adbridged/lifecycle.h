/* adbridged's life as a service: the identity check before serving, the
 * wait for the first link attempt before READY=1, and the main thread's
 * loop between signals (STATUS= with the link state, WATCHDOG=1).
 *
 * The watchdog is pinged from the main thread only after it got a snapshot
 * of the link's state, which takes the link's lock: a link thread wedged
 * while holding its lock, or a wedged main loop, stops the pings and
 * systemd (WatchdogSec=) kills and restarts the service. */
#ifndef ADBRIDGED_LIFECYCLE_H
#define ADBRIDGED_LIFECYCLE_H

#include "notify.h"
#include "secrets.h"

#include <adbridge/config.h>
#include <adbridge/error.h>
#include <adbridge/krb.h>
#include <adbridge/link.h>
#include <adbridge/log.h>

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

/* Exit status for a start that must not be retried as is (clone, account
 * missing): EX_CONFIG, listed in the unit's RestartPreventExitStatus=. */
enum { ADBD_EXIT_CONFIG = 78 };

/* The clone check (identity.h) for this keytab principal: binds a state
 * directory seen for the first time (event=identity_bound), passes a
 * match, and fails (config_invalid, with `adbridge key reset`) otherwise. */
adb_code adbd_identity_check(const adb_config *cfg, const char *principal, bool record, const adb_logger *log,
                             adb_error *err);

/* SIGHUP's keytab part: the copy krb5 reads is refreshed (secrets.h) and,
 * when it changed, a new TGT is fetched with it at once; logs
 * keytab_reloaded (with the kvno) or keytab_reload_failed. */
void adbd_reload_keytab(adbd_secrets *s, adb_krb *krb, const adb_logger *log);

/* Before anything else: the secret files (secrets.h: systemd's
 * credentials, or copies of its own when started as root with $.user), then
 * the privilege drop to $.user (privdrop.h), or a warning when started as
 * root without $.user, or the check of an unprivileged start; last, that the
 * files read later are readable.  *secrets is for the SIGHUP reload and is
 * freed (adbd_secrets_free) at exit, also after a failure. */
adb_code adbd_secure_start(adb_config *cfg, const adb_logger *log, adbd_secrets **secrets, adb_error *err);

/* One line for STATUS= and logs: "link connected to HOST, 0 in flight". */
void adbd_link_status_text(adb_link *link, const adb_broker_config *b, char *buf, size_t size);

/* Waits (at most timeout_ms) until the link's first attempt ended:
 * connected, or failed and backing off.  Returns 0, or the signal that
 * arrived meanwhile (SIGTERM, SIGINT; SIGHUP is kept pending). */
int adbd_wait_first_attempt(adb_link *link, const sigset_t *sigs, adbd_notify *n, int timeout_ms);

/* Waits for one of sigs, sending STATUS= changes and WATCHDOG=1 at every
 * tick (a second, or half the watchdog interval when that is shorter) —
 * but no WATCHDOG=1 while the link thread's heartbeat is older than
 * ADB_LINK_STALL_MS (logged once as link_stalled), so that a stuck link
 * thread gets the service restarted. */
int adbd_wait_signal(adb_link *link, const adb_broker_config *b, const sigset_t *sigs, adbd_notify *n,
                     const adb_logger *log);

#endif
