/* A wall clock that tests can replace: modules that keep time-based state
 * (key grace periods, lockout windows) read the time through an adb_clock
 * given in their options; a zeroed adb_clock is the system clock. */
#ifndef ADBRIDGE_CLOCK_H
#define ADBRIDGE_CLOCK_H

#include <time.h>

typedef struct adb_clock {
    time_t (*now)(void *arg);   /* NULL: time(NULL) */
    void *arg;
} adb_clock;

static inline time_t adb_clock_now(const adb_clock *c)
{
    return c != NULL && c->now != NULL ? c->now(c->arg) : time(NULL);
}

#endif
