/* sd_notify(3) for adbridged (see notify.h).  libsystemd does the protocol:
 * one datagram per message on the AF_UNIX socket named by $NOTIFY_SOCKET
 * (a path, or '@' for the abstract namespace). */
#include "config.h"

#include "notify.h"

#include <stdio.h>
#include <string.h>
#include <systemd/sd-daemon.h>

void adbd_notify_init(adbd_notify *n)
{
    uint64_t usec = 0;

    memset(n, 0, sizeof *n);
    /* > 0: a watchdog is set and meant for this process ($WATCHDOG_PID). */
    if (sd_watchdog_enabled(0, &usec) > 0)
        n->watchdog_usec = usec;
}

void adbd_notify_ready(adbd_notify *n, const char *status)
{
    snprintf(n->last_status, sizeof n->last_status, "%s", status);
    sd_notifyf(0, "READY=1\nSTATUS=%s", status);
}

void adbd_notify_status(adbd_notify *n, const char *status)
{
    if (strcmp(status, n->last_status) == 0)
        return;
    snprintf(n->last_status, sizeof n->last_status, "%s", status);
    sd_notifyf(0, "STATUS=%s", status);
}

void adbd_notify_reloading(adbd_notify *n)
{
    sd_notify(0, "RELOADING=1\nSTATUS=reloading the instance keys and the keytab");
    n->last_status[0] = '\0';
}

void adbd_notify_stopping(adbd_notify *n)
{
    sd_notify(0, "STOPPING=1\nSTATUS=stopping: finishing or giving back the requests in flight");
    n->last_status[0] = '\0';
}

void adbd_notify_watchdog(const adbd_notify *n)
{
    if (n->watchdog_usec != 0)
        sd_notify(0, "WATCHDOG=1");
}
