/* The daemon's fixed pool of worker threads: each runs one job at a time
 * (a directory operation: blocking calls with their own timeouts). */
#ifndef ADBRIDGED_WORKERS_H
#define ADBRIDGED_WORKERS_H

#include <adbridge/error.h>

typedef struct adb_workers adb_workers;

/* run: called on a worker thread for each item.  drop: called (on the
 * stopping thread) for items still queued when the pool stops. */
typedef void (*adb_work_fn)(void *arg, void *item);

adb_code adb_workers_new(unsigned n, adb_work_fn run, adb_work_fn drop, void *arg, adb_workers **out,
                         adb_error *err);

/* Queues an item; never blocks (the link's credit bounds the queue). */
void adb_workers_push(adb_workers *w, void *item);

/* Lets running items finish, drops queued ones, joins and frees. */
void adb_workers_free(adb_workers *w);

#endif
