/* Leveled key=value logging (see include/adbridge/log.h). */
#include "config.h"

#include <adbridge/log.h>

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <strings.h>
#include <time.h>

static const char *const level_names[] = { "error", "warn", "info", "debug" };
static const char *const journal_prio[] = { "<3>", "<4>", "<6>", "<7>" };

/* True when fd is the journald stream systemd gave the service:
 * $JOURNAL_STREAM is "DEVICE:INODE" of it (systemd.exec(5)). */
static bool is_journal_stream(FILE *out)
{
    const char *js = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    struct stat st;
    int fd;

    if (js == NULL || out == NULL || sscanf(js, "%llu:%llu", &dev, &ino) != 2 || (fd = fileno(out)) < 0
        || fstat(fd, &st) != 0)
        return false;
    return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void adb_logger_init(adb_logger *lg, adb_log_level level, FILE *out)
{
    lg->level = level;
    lg->out = out;
    lg->journal = is_journal_stream(out);
}

const char *adb_log_level_name(adb_log_level level)
{
    if ((unsigned)level > ADB_LOG_DEBUG)
        return "debug";
    return level_names[level];
}

bool adb_log_level_parse(const char *name, adb_log_level *out)
{
    for (unsigned i = 0; i <= ADB_LOG_DEBUG; i++) {
        if (name != NULL && strcasecmp(name, level_names[i]) == 0) {
            *out = (adb_log_level)i;
            return true;
        }
    }
    return false;
}

void adb_log(const adb_logger *lg, adb_log_level level, const char *event,
             const char *fields_fmt, ...)
{
    char fields[2048] = "";
    char stamp[40];
    struct timespec now;
    struct tm tm;

    if (!adb_log_enabled(lg, level))
        return;
    if (fields_fmt != NULL && fields_fmt[0] != '\0') {
        va_list ap;
        va_start(ap, fields_fmt);
        vsnprintf(fields, sizeof fields, fields_fmt, ap);
        va_end(ap);
    }
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
    /* One fprintf per line: stdio locks the stream, so lines never interleave.
     * For journald, the priority prefix of sd-daemon.h: <3> err, <4> warning,
     * <6> info, <7> debug. */
    fprintf(lg->out, "%sts=%s.%03ldZ level=%s event=%s%s%s\n",
            lg->journal ? journal_prio[(unsigned)level <= ADB_LOG_DEBUG ? level : ADB_LOG_DEBUG] : "", stamp,
            now.tv_nsec / 1000000L, adb_log_level_name(level), event,
            fields[0] != '\0' ? " " : "", fields);
    fflush(lg->out);
}

const char *adb_log_value(char *buf, size_t size, const char *value)
{
    size_t o = 0;
    bool quote = (value == NULL || value[0] == '\0');

    if (size == 0)
        return "";
    if (value == NULL)
        value = "";
    for (const char *p = value; *p != '\0' && !quote; p++)
        quote = (*p == ' ' || *p == '"' || *p == '=' || (unsigned char)*p < 0x20 || *p == 0x7f);
    if (!quote) {
        snprintf(buf, size, "%s", value);
        return buf;
    }
    /* Quoted form; stop early rather than overflow (need room for \xNN, quote, NUL). */
    buf[o++] = '"';
    for (const unsigned char *p = (const unsigned char *)value; *p != '\0' && o + 6 < size; p++) {
        if (*p < 0x20 || *p == 0x7f) {
            o += (size_t)snprintf(buf + o, size - o, "\\x%02x", *p);
        } else if (*p == '"' || *p == '\\') {
            buf[o++] = '\\';
            buf[o++] = (char)*p;
        } else {
            buf[o++] = (char)*p;
        }
    }
    buf[o++] = '"';
    buf[o] = '\0';
    return buf;
}
