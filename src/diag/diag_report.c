/* adbridge diagnose, the report: results collected, counted, turned into an
 * exit code and into the document of schemas/diagnose.schema.json. */
#include "config.h"

#include "diag_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *adb_diag_status_name(adb_diag_status s)
{
    switch (s) {
    case ADB_DIAG_PASS: return "pass";
    case ADB_DIAG_WARN: return "warn";
    case ADB_DIAG_FAIL: return "fail";
    default: return "skip";
    }
}

void diag_utc_text(time_t t, char *buf, size_t size)
{
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL || strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(buf, size, "1970-01-01T00:00:00Z");
}

adb_diag_report *adb_diag_report_new(int timeout_ms)
{
    adb_diag_report *r = calloc(1, sizeof *r);
    if (r == NULL)
        return NULL;
    r->timeout_ms = timeout_ms > 0 ? timeout_ms : DIAG_DEFAULT_TIMEOUT_MS;
    diag_utc_text(time(NULL), r->started, sizeof r->started);
    return r;
}

static char *dup_or_null(const char *s)
{
    return s != NULL ? strdup(s) : NULL;
}

adb_diag_result *adb_diag_report_add(adb_diag_report *r, const adb_diag_item *res)
{
    if (r == NULL || res == NULL)
        return NULL;
    if (r->n == r->cap_) {
        size_t cap = r->cap_ ? r->cap_ * 2 : 32;
        adb_diag_result *p = realloc(r->results, cap * sizeof *p);
        if (p == NULL)
            return NULL;
        r->results = p;
        r->cap_ = cap;
    }
    adb_diag_result *d = &r->results[r->n];
    *d = (adb_diag_result){
        .check = res->check, .id = dup_or_null(res->id), .title = dup_or_null(res->title),
        .forest = dup_or_null(res->forest), .domain = dup_or_null(res->domain), .dc = dup_or_null(res->dc),
        .status = res->status, .ms = res->ms, .message = dup_or_null(res->message ? res->message : ""),
        .fix = dup_or_null(res->fix), .details = res->details != NULL ? json_incref(res->details) : NULL,
    };
    r->n++;
    return d;
}

void adb_diag_report_free(adb_diag_report *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->n; i++) {
        adb_diag_result *d = &r->results[i];
        free(d->id), free(d->title), free(d->forest), free(d->domain), free(d->dc);
        free(d->message), free(d->fix);
        json_decref(d->details);
    }
    free(r->results);
    free(r->config_path);
    free(r);
}

void adb_diag_counts(const adb_diag_report *r, size_t counts[4])
{
    counts[0] = counts[1] = counts[2] = counts[3] = 0;
    for (size_t i = 0; r != NULL && i < r->n; i++)
        if ((unsigned)r->results[i].status < 4)
            counts[r->results[i].status]++;
}

adb_diag_status adb_diag_overall(const adb_diag_report *r)
{
    size_t c[4];
    adb_diag_counts(r, c);
    return c[ADB_DIAG_FAIL] ? ADB_DIAG_FAIL : c[ADB_DIAG_WARN] ? ADB_DIAG_WARN : ADB_DIAG_PASS;
}

int adb_diag_exit_code(const adb_diag_report *r)
{
    adb_diag_status s = adb_diag_overall(r);
    return s == ADB_DIAG_FAIL ? 2 : s == ADB_DIAG_WARN ? 1 : 0;
}

static json_t *str_or_null(const char *s)
{
    return s != NULL ? json_string(s) : json_null();
}

json_t *adb_diag_report_to_json(const adb_diag_report *r)
{
    json_t *checks = json_array();
    size_t c[4];

    for (size_t i = 0; i < r->n; i++) {
        const adb_diag_result *d = &r->results[i];
        const char *group = adb_diag_group_name(d->check);
        json_t *o = json_object();
        json_object_set_new(o, "check", json_integer(group != NULL ? d->check : 0));
        json_object_set_new(o, "group", json_string(group != NULL ? group : ""));
        json_object_set_new(o, "id", json_string(d->id ? d->id : ""));
        json_object_set_new(o, "title", json_string(d->title ? d->title : ""));
        json_object_set_new(o, "forest", str_or_null(d->forest));
        json_object_set_new(o, "domain", str_or_null(d->domain));
        json_object_set_new(o, "dc", str_or_null(d->dc));
        json_object_set_new(o, "status", json_string(adb_diag_status_name(d->status)));
        json_object_set_new(o, "ms", json_real(d->ms >= 0 ? d->ms : 0));
        json_object_set_new(o, "message", json_string(d->message ? d->message : ""));
        json_object_set_new(o, "fix", str_or_null(d->fix));
        json_object_set_new(o, "details", d->details ? json_incref(d->details) : json_object());
        json_array_append_new(checks, o);
    }
    adb_diag_counts(r, c);
    return json_pack("{s:i, s:s, s:s?, s:f, s:i, s:s, s:i, s:{s:I, s:I, s:I, s:I}, s:o}", "version", 1, "started",
                     r->started, "config", r->config_path, "duration_ms", r->duration_ms, "timeout_ms",
                     r->timeout_ms, "status", adb_diag_status_name(adb_diag_overall(r)), "exit_code",
                     adb_diag_exit_code(r), "summary", "pass", (json_int_t)c[0], "warn", (json_int_t)c[1], "fail",
                     (json_int_t)c[2], "skip", (json_int_t)c[3], "checks", checks);
}
