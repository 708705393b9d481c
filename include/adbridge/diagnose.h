/* adbridge diagnose: can this connector reach every forest, and what exactly
 * to fix when it cannot.
 *
 * Runs the checks of issue 6 in order and collects one result per item
 * checked (a file, a DNS query, a DC, a port set, a ticket, a bind, a
 * domain, the cloud link), each with a status, the time it took, a message
 * and, for warn and fail, a one-line fix an admin can act on.  Results are
 * handed to a progress callback as they are produced, so a front end can
 * print while the checks run; they come grouped: global checks, then each
 * configured domain (DNS, CLDAP, ports, clock, Kerberos, LDAP, reachable
 * DCs), then the topology and the cloud link.
 *
 * Bounded: DNS, the CLDAP pings and the port probes of a domain's DCs run in
 * parallel with one timeout; checks that need a DC that did not answer on TCP
 * 389 are skipped, so a dead DC costs one timeout.  Every byte shown comes
 * from a peer or the configuration; no secret is ever read into a result.
 *
 * The module (src/diag/) sits above dir, beside proto: it uses dir, ad,
 * util and the cloud link's probe (link.h). */
#ifndef ADBRIDGE_DIAGNOSE_H
#define ADBRIDGE_DIAGNOSE_H

#include <adbridge/error.h>
#include <adbridge/log.h>

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

typedef enum adb_diag_status {
    ADB_DIAG_PASS = 0,
    ADB_DIAG_WARN,
    ADB_DIAG_FAIL,
    ADB_DIAG_SKIP,       /* not run: not applicable, filtered out, or a check it needs failed */
} adb_diag_status;

/* Which of the ten groups of checks a result belongs to. */
enum {
    ADB_DIAG_CONFIG = 1, ADB_DIAG_KEYTAB, ADB_DIAG_DNS, ADB_DIAG_CLDAP, ADB_DIAG_PORTS,
    ADB_DIAG_CLOCK, ADB_DIAG_KERBEROS, ADB_DIAG_LDAP, ADB_DIAG_TOPOLOGY, ADB_DIAG_CLOUD,
};

typedef struct adb_diag_result {
    int check;              /* ADB_DIAG_CONFIG .. ADB_DIAG_CLOUD */
    char *id;               /* stable item kind, e.g. "dns.srv", "ports", "kerberos.service" */
    char *title;            /* what was checked, e.g. "SRV _ldap._tcp.adb.test" */
    char *forest;           /* scope; NULL for global checks */
    char *domain;
    char *dc;
    adb_diag_status status;
    double ms;              /* time taken */
    char *message;
    char *fix;              /* one line; set for warn and fail, NULL otherwise */
    json_t *details;        /* structured data (JSON object) or NULL */
} adb_diag_result;

typedef struct adb_diag_report {
    adb_diag_result *results;
    size_t n, cap_;
    char started[32];       /* UTC, RFC 3339 */
    double duration_ms;
    int timeout_ms;
    char *config_path;
} adb_diag_report;

typedef void (*adb_diag_progress_fn)(const adb_diag_result *r, void *arg);

typedef struct adb_diag_options {
    const char *domain;       /* only this configured domain; NULL: all */
    const char *dc;           /* only this DC (host name or address); NULL: all */
    bool skip_cloud;
    int timeout_ms;           /* per probe; 0: 3000 */
    adb_diag_progress_fn progress;
    void *progress_arg;
    const adb_logger *log;    /* may be NULL */
} adb_diag_options;

/* Runs every check against the configuration at config_path (loaded here:
 * check 1 reports a broken file instead of stopping).  Returns an error only
 * for bad arguments or memory; every finding is a result inside *out. */
adb_code adb_diagnose_run(const char *config_path, const adb_diag_options *opts, adb_diag_report **out,
                          adb_error *err);

void adb_diag_report_free(adb_diag_report *r);

/* A result to append: the same fields, borrowed. */
typedef struct adb_diag_item {
    int check;
    const char *id, *title, *forest, *domain, *dc;
    adb_diag_status status;
    double ms;
    const char *message, *fix;
    json_t *details;
} adb_diag_item;

/* For the engine and tests: an empty report, and a result appended (strings
 * copied, a new reference to details; NULL strings stay NULL). */
adb_diag_report *adb_diag_report_new(int timeout_ms);
adb_diag_result *adb_diag_report_add(adb_diag_report *r, const adb_diag_item *res);

/* The table of checks (src/diag/diagnose.c), in the order they run: one
 * row per result id of schemas/diagnose.schema.json. */
typedef struct adb_diag_check_info {
    const char *id;         /* "config.file" .. "cloud" */
    int group;              /* ADB_DIAG_CONFIG .. ADB_DIAG_CLOUD */
    const char *title;      /* what it checks, in words */
} adb_diag_check_info;

size_t adb_diag_check_count(void);

/* Row i, NULL past the end. */
const adb_diag_check_info *adb_diag_check_at(size_t i);

/* A group's name as the JSON "group" gives it ("config" .. "cloud"), NULL out of range. */
const char *adb_diag_group_name(int group);

/* "pass", "warn", "fail", "skip". */
const char *adb_diag_status_name(adb_diag_status s);

/* counts[status] for every status. */
void adb_diag_counts(const adb_diag_report *r, size_t counts[4]);

/* The worst status of the report (skip counts as pass). */
adb_diag_status adb_diag_overall(const adb_diag_report *r);

/* 0 all passed (or skipped), 1 warnings only, 2 any failure. */
int adb_diag_exit_code(const adb_diag_report *r);

/* The report as schemas/diagnose.schema.json describes it. */
json_t *adb_diag_report_to_json(const adb_diag_report *r);

#endif
