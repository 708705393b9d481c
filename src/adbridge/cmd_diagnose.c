/* adbridge diagnose [--json] [--domain D] [--dc DC] [--skip-cloud] [--timeout SECONDS]
 *
 * Prints each check as it finishes, grouped by forest, domain and DC, with
 * colour only when stdout is a terminal; --json prints one document
 * (schemas/diagnose.schema.json) at the end.  Exit: 0 all pass, 1 warnings
 * only, 2 any failure (or bad usage). */
#include "config.h"

#include "cli.h"
#include "cmd_diagnose.h"

#include <adbridge/diagnose.h>

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct printer {
    bool colour;
    const char *forest, *domain, *dc;   /* current group (pointers into the report) */
    bool started;
} printer;

static bool same(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static const char *colour_of(adb_diag_status s)
{
    switch (s) {
    case ADB_DIAG_PASS: return "\033[32m";
    case ADB_DIAG_WARN: return "\033[33m";
    case ADB_DIAG_FAIL: return "\033[1;31m";
    default: return "\033[2m";
    }
}

static void on_result(const adb_diag_result *r, void *arg)
{
    printer *p = arg;
    const char *bold = p->colour ? "\033[1m" : "", *off = p->colour ? "\033[0m" : "";
    static const char *const label[] = { "PASS", "WARN", "FAIL", "SKIP" };

    if (!p->started || !same(p->forest, r->forest) || !same(p->domain, r->domain)) {
        /* Everything a result holds may come from a peer or a file: escaped. */
        if (r->forest != NULL || r->domain != NULL) {
            printf("\n%sforest ", bold);
            cli_put(stdout, r->forest ? r->forest : "(unknown)", 0);
            if (r->domain != NULL) {
                fputs(" / domain ", stdout);
                cli_put(stdout, r->domain, 0);
            }
            printf("%s\n", off);
        } else if (p->started) {
            printf("\n%sglobal%s\n", bold, off);
        }
        p->dc = NULL;
    }
    if (r->dc != NULL && !same(p->dc, r->dc)) {
        printf("  %sDC ", bold);
        cli_put(stdout, r->dc, 0);
        printf("%s\n", off);
    }
    p->started = true;
    p->forest = r->forest, p->domain = r->domain, p->dc = r->dc;

    const char *indent = r->dc != NULL ? "    " : "  ";
    printf("%s%s%s%s  ", indent, p->colour ? colour_of(r->status) : "", label[r->status & 3], off);
    cli_put(stdout, r->title, 0);
    printf(": ");
    cli_put(stdout, r->message, 0);
    if (r->ms >= 0.05)
        printf(" (%.1f ms)", r->ms);
    putchar('\n');
    if (r->fix != NULL) {
        printf("%s      fix: ", indent);
        cli_put(stdout, r->fix, 0);
        putchar('\n');
    }
    fflush(stdout);
}

int cmd_diagnose(const char *config_path, int argc, char **argv)
{
    const char *path = adb_config_path(config_path);
    static const struct option opts[] = {
        { "json", no_argument, NULL, 'j' },
        { "domain", required_argument, NULL, 'd' },
        { "dc", required_argument, NULL, 's' },
        { "skip-cloud", no_argument, NULL, 'k' },
        { "timeout", required_argument, NULL, 't' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    adb_diag_options o = { .log = NULL };
    adb_diag_report *rep = NULL;
    adb_error err = { 0 };
    printer pr = { 0 };
    bool json = false;
    int opt;

    optind = 0;
    while ((opt = getopt_long(argc, argv, "jd:s:kt:h", opts, NULL)) != -1) {
        switch (opt) {
        case 'j': json = true; break;
        case 'd': o.domain = optarg; break;
        case 's': o.dc = optarg; break;
        case 'k': o.skip_cloud = true; break;
        case 't': {
            char *end;
            double s = strtod(optarg, &end);
            if (end == optarg || *end != '\0' || !(s >= 0.1 && s <= 120)) {
                fprintf(stderr, "adbridge diagnose: --timeout takes seconds between 0.1 and 120\n");
                return 2;
            }
            o.timeout_ms = (int)(s * 1000);
            break;
        }
        case 'h':
            printf("Usage: adbridge diagnose [--json] [--domain D] [--dc DC] [--skip-cloud] [--timeout SECONDS]\n"
                   "Checks configuration, keytab, DNS, CLDAP, ports, clock, Kerberos, LDAP, topology and the\n"
                   "cloud link; prints a fix for every warning and failure.\n"
                   "Exit status: 0 all pass, 1 warnings only, 2 any failure.\n");
            return 0;
        default:
            fprintf(stderr, "usage: adbridge diagnose [--json] [--domain D] [--dc DC] [--skip-cloud] "
                            "[--timeout SECONDS]\n");
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "adbridge diagnose: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (!json) {
        const char *term = getenv("TERM");
        pr.colour = isatty(STDOUT_FILENO) && getenv("NO_COLOR") == NULL && !(term != NULL && strcmp(term, "dumb") == 0);
        o.progress = on_result;
        o.progress_arg = &pr;
        printf("adbridge diagnose: %s (timeout %.1f s per probe)\n", path,
               (o.timeout_ms > 0 ? o.timeout_ms : 3000) / 1000.0);
        fflush(stdout);
    }
    if (adb_diagnose_run(path, &o, &rep, &err) != ADB_OK) {
        cli_print_error("diagnose", &err);
        return 2;
    }
    int rc = adb_diag_exit_code(rep);
    if (json) {
        json_t *doc = adb_diag_report_to_json(rep);
        json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        putchar('\n');
        json_decref(doc);
    } else {
        size_t c[4];
        adb_diag_counts(rep, c);
        const char *col = pr.colour ? (rc == 2 ? "\033[1;31m" : rc == 1 ? "\033[33m" : "\033[32m") : "";
        printf("\n%sSummary: %zu passed, %zu warning(s), %zu failed, %zu skipped in %.1f s — %s (exit %d)%s\n", col,
               c[0], c[1], c[2], c[3], rep->duration_ms / 1000.0,
               rc == 2 ? "FAILED" : rc == 1 ? "WARNINGS" : "ALL PASSED", rc, pr.colour ? "\033[0m" : "");
    }
    adb_diag_report_free(rep);
    return rc;
}
