/* The daemon's status announcements (schemas/status.schema.json): a thread
 * of its own probes the configured domains (the locator's DNS and CLDAP
 * pings, which also refresh the DC health that health reports) every
 * broker.status_period_s, builds the status from health's data, and hands
 * it to the link (adb_link_announce) when the link (re)connects, when
 * anything but the load changed, and at least once a period. */
#ifndef ADBRIDGED_STATUS_H
#define ADBRIDGED_STATUS_H

#include <adbridge/config.h>
#include <adbridge/directory.h>
#include <adbridge/dispatch.h>
#include <adbridge/error.h>
#include <adbridge/link.h>
#include <adbridge/log.h>

typedef struct adbd_status adbd_status;

/* Starts the thread; *out stays NULL (and ADB_OK) when broker.status_period_s
 * is 0.  Everything given must outlive adbd_status_stop. */
adb_code adbd_status_start(const adb_config *cfg, adb_service *svc, adb_dir *dir, adb_link *link, unsigned workers,
                           const adb_logger *log, adbd_status **out, adb_error *err);

/* Stops and joins the thread, frees.  NULL is fine. */
void adbd_status_stop(adbd_status *s);

#endif
