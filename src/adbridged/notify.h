/* adbridged's side of the systemd service protocol (sd_notify(3) from
 * libsystemd): READY=1 once the configuration, the keys and the first link
 * attempt are done; STATUS= with the link state; RELOADING=1 / READY=1
 * around SIGHUP; STOPPING=1; WATCHDOG=1 pings.
 *
 * Every call is a no-op when $NOTIFY_SOCKET is unset (not started by
 * systemd, or by a unit without Type=notify), so the daemon runs the same
 * in the foreground.  One adbd_notify per daemon, used by the main thread. */
#ifndef ADBRIDGED_NOTIFY_H
#define ADBRIDGED_NOTIFY_H

#include <stdbool.h>
#include <stdint.h>

typedef struct adbd_notify {
    uint64_t watchdog_usec;    /* WatchdogSec= as systemd passed it; 0: no watchdog */
    char last_status[256];     /* the last STATUS= sent */
} adbd_notify;

/* Reads $WATCHDOG_USEC / $WATCHDOG_PID (sd_watchdog_enabled). */
void adbd_notify_init(adbd_notify *n);

/* READY=1 with a STATUS= line. */
void adbd_notify_ready(adbd_notify *n, const char *status);

/* STATUS=..., sent only when it differs from the last one sent. */
void adbd_notify_status(adbd_notify *n, const char *status);

/* RELOADING=1 (before a SIGHUP reload; READY=1 after it), STOPPING=1
 * (SIGTERM), WATCHDOG=1 (only when systemd asked for a watchdog). */
void adbd_notify_reloading(adbd_notify *n);
void adbd_notify_stopping(adbd_notify *n);
void adbd_notify_watchdog(const adbd_notify *n);

#endif
