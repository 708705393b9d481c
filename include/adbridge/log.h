/* Logging: one line per event, "ts=... level=... event=... key=value ...".
 *
 * A logger is a value inside adb_ctx (no global state).  Callers pass
 * key=value fields; values that come from the network go through
 * adb_log_value() so a hostile string cannot forge a field or a line.
 * Secrets never reach a log call. */
#ifndef ADBRIDGE_LOG_H
#define ADBRIDGE_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef enum adb_log_level {
    ADB_LOG_ERROR = 0,
    ADB_LOG_WARN,
    ADB_LOG_INFO,
    ADB_LOG_DEBUG,
} adb_log_level;

typedef struct adb_logger {
    adb_log_level level;
    FILE *out;
    bool journal;   /* out is journald's stream: lines start with <N> (sd-daemon.h priorities) */
} adb_logger;

/* journal is set when out is the stream systemd connected to journald
 * ($JOURNAL_STREAM names its device and inode), so `journalctl -p` works. */
void adb_logger_init(adb_logger *lg, adb_log_level level, FILE *out);

/* "error", "warn", "info", "debug". */
const char *adb_log_level_name(adb_log_level level);
bool adb_log_level_parse(const char *name, adb_log_level *out);

static inline bool adb_log_enabled(const adb_logger *lg, adb_log_level level)
{
    return lg != NULL && lg->out != NULL && level <= lg->level;
}

void adb_log(const adb_logger *lg, adb_log_level level, const char *event,
             const char *fields_fmt, ...) __attribute__((format(printf, 4, 5)));

/* Quotes value for a key=value field when it needs it (spaces, quotes,
 * '=', control bytes), escaping control bytes as \xNN.  Returns buf. */
const char *adb_log_value(char *buf, size_t size, const char *value);
/* adb_log_value into a buffer of the enclosing block, for an argument:
 * adb_log(log, level, "event", "user=%s", ADB_LOG_V(user)). */
#define ADB_LOG_V(s) adb_log_value((char[600]){ 0 }, 600, (s))

#endif
