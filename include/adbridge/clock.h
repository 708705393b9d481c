/* Time, in one place.
 *
 * A wall clock that tests can replace: modules that keep time-based state
 * (key grace periods, lockout windows) read the time through an adb_clock
 * given in their options; a zeroed adb_clock is the system clock.
 *
 * The monotonic clock for deadlines, timeouts and durations (never moved by
 * NTP or an admin), and the wall clock in milliseconds for times that come
 * from the wire (deadlines, AMQP expiry). */
#ifndef ADBRIDGE_CLOCK_H
#define ADBRIDGE_CLOCK_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

typedef struct adb_clock {
    time_t (*now)(void *arg);   /* NULL: time(NULL) */
    void *arg;
} adb_clock;

static inline time_t adb_clock_now(const adb_clock *c)
{
    return c != NULL && c->now != NULL ? c->now(c->arg) : time(NULL);
}

static inline int64_t adb_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static inline int64_t adb_mono_ms(void)
{
    return adb_mono_us() / 1000;
}

/* Durations to report, with a fraction. */
static inline double adb_mono_ms_f(void)
{
    return (double)adb_mono_us() / 1000.0;
}

enum { ADB_RFC3339_SIZE = 32 };   /* "2024-05-01T12:00:00Z" and its NUL, with room */

/* Unix time t as RFC 3339 UTC ("2024-05-01T12:00:00Z"), the one format of
 * times in replies, logs and the CLI; false (and "") when t has no such form. */
static inline bool adb_rfc3339(time_t t, char buf[ADB_RFC3339_SIZE])
{
    struct tm tm;

    if (gmtime_r(&t, &tm) == NULL || strftime(buf, ADB_RFC3339_SIZE, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
        buf[0] = '\0';
        return false;
    }
    return true;
}

static inline int64_t adb_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#endif
