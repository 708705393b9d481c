/* Directory commands of the CLI (see cmd_directory.h).  Thin: parse the
 * arguments, call adb_dir_*, print a table or (--json) the wire shapes. */
#include "config.h"

#include "cli.h"
#include "cmd_directory.h"

#include <adbridge/directory.h>

#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { CLI_FOUND = 0, CLI_NOT_FOUND = 1, CLI_ERROR = 2 };

/* Options shared by the commands; each takes the ones it lists. */
typedef struct cli_opts {
    bool json, users, groups, transitive, refresh;
    const char *domain, *cursor;
    size_t limit;
    int first_arg;   /* index of the first operand in argv */
} cli_opts;

enum { OPT_JSON = 1, OPT_DOMAIN, OPT_USERS, OPT_GROUPS, OPT_LIMIT, OPT_CURSOR, OPT_TRANSITIVE, OPT_REFRESH };

static int parse(const char *cmd, int argc, char **argv, const char *allowed, int operands, cli_opts *o)
{
    static const struct option all[] = {
        { "json", no_argument, NULL, OPT_JSON },       { "domain", required_argument, NULL, OPT_DOMAIN },
        { "users", no_argument, NULL, OPT_USERS },     { "groups", no_argument, NULL, OPT_GROUPS },
        { "limit", required_argument, NULL, OPT_LIMIT }, { "cursor", required_argument, NULL, OPT_CURSOR },
        { "transitive", no_argument, NULL, OPT_TRANSITIVE }, { "refresh", no_argument, NULL, OPT_REFRESH },
        { NULL, 0, NULL, 0 },
    };
    int opt;

    memset(o, 0, sizeof *o);
    optind = 0;   /* GNU getopt: start over (main parsed its own options) */
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "", all, NULL)) != -1) {
        char *end;
        unsigned long n;
        if (opt == '?' || strchr(allowed, opt) == NULL) {
            fprintf(stderr, "adbridge %s: '%s' is not an option of this command (see adbridge --help)\n", cmd,
                    argv[optind - 1]);
            return CLI_ERROR;
        }
        switch (opt) {
        case OPT_JSON: o->json = true; break;
        case OPT_DOMAIN: o->domain = optarg; break;
        case OPT_USERS: o->users = true; break;
        case OPT_GROUPS: o->groups = true; break;
        case OPT_CURSOR: o->cursor = optarg; break;
        case OPT_TRANSITIVE: o->transitive = true; break;
        case OPT_REFRESH: o->refresh = true; break;
        case OPT_LIMIT:
            n = strtoul(optarg, &end, 10);
            if (*optarg == '\0' || *end != '\0' || n == 0 || n > INT_MAX) {
                fprintf(stderr, "adbridge %s: --limit wants a positive number, not '%s'\n", cmd, optarg);
                return CLI_ERROR;
            }
            o->limit = n;
            break;
        }
    }
    if (argc - optind != operands) {
        fprintf(stderr, "adbridge %s: expected %d argument%s (see adbridge --help)\n", cmd, operands,
                operands == 1 ? "" : "s");
        return CLI_ERROR;
    }
    o->first_arg = optind;
    return CLI_FOUND;
}

static int fail(const char *cmd, const adb_error *err)
{
    cli_print_error(cmd, err);
    return err->code == ADB_E_NOT_FOUND ? CLI_NOT_FOUND : CLI_ERROR;
}

static int open_dir(const char *cmd, adb_ctx *ctx, adb_dir **d)
{
    adb_error err = { 0 };

    if (adb_dir_open(ctx->config, &ctx->log, NULL, d, &err) != ADB_OK)
        return fail(cmd, &err);
    return CLI_FOUND;
}

static const char *yes_no(bool b)
{
    return b ? "yes" : "no";
}

static const char *or_dash(const char *s)
{
    return s != NULL ? s : "-";
}

/* "name                   value": the value escaped (it comes from the directory). */
static void field(const char *name, const char *value)
{
    printf("%-22s ", name);
    cli_put(stdout, or_dash(value), 0);
    putchar('\n');
}

static void print_object(const adb_object *o)
{
    char sid[ADB_SID_STRING_MAX] = "-", guid[ADB_GUID_STRING_MAX] = "-", who[300];

    if (o->has_sid)
        adb_sid_format(&o->sid, sid, sizeof sid, NULL);
    if (o->has_guid)
        adb_guid_format(&o->guid, guid);
    field("name", adb_object_display(o, who, sizeof who));
    field("kind", adb_object_kind_name(o->kind));
    field("display name", o->display_name);
    field("upn", o->upn);
    field("mail", o->mail);
    field("given name", o->given_name);
    field("surname", o->surname);
    printf("%-22s ", "domain");
    cli_put(stdout, or_dash(o->domain_dns), 0);
    fputs(" (", stdout);
    cli_put(stdout, or_dash(o->domain_netbios), 0);
    fputs("), forest ", stdout);
    cli_put(stdout, or_dash(o->forest), 0);
    putchar('\n');
    field("sid", sid);
    field("guid", guid);
    field("dn", o->dn);
    if (o->kind == ADB_OBJECT_USER || o->kind == ADB_OBJECT_COMPUTER) {
        char when[32] = "never";
        struct tm tm;
        if (o->account_expires != 0 && gmtime_r(&o->account_expires, &tm) != NULL)
            strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", &tm);
        printf("%-22s %s\n", "enabled", yes_no(o->enabled));
        printf("%-22s %s\n", "locked out", o->status_known ? yes_no(o->locked) : "unknown");
        printf("%-22s %s\n", "password expired", o->status_known ? yes_no(o->password_expired) : "unknown");
        printf("%-22s %s\n", "must change password", yes_no(o->must_change_password));
        printf("%-22s %s%s\n", "account expires", when, o->account_expired ? " (expired)" : "");
    }
    if (o->kind == ADB_OBJECT_GROUP) {
        printf("%-22s %s\n", "group type", o->security ? "security" : "distribution");
        printf("%-22s %s\n", "group scope", adb_group_scope_name(o->scope));
    }
}

static void print_row_header(void)
{
    printf("%-36s %-9s %-30s %s\n", "NAME", "KIND", "DISPLAY NAME", "DETAIL");
}

/* One line: DOMAIN\name, kind, display name, UPN (users) or type/scope (groups). */
static void print_row(const adb_object *o)
{
    char who[300], detail[300], sid[ADB_SID_STRING_MAX] = "";

    if (o->kind == ADB_OBJECT_GROUP)
        snprintf(detail, sizeof detail, "%s %s", o->security ? "security" : "distribution",
                 adb_group_scope_name(o->scope));
    else if (o->upn != NULL)
        snprintf(detail, sizeof detail, "%s%s", o->upn, o->kind == ADB_OBJECT_USER && !o->enabled ? " (disabled)" : "");
    else if (o->has_sid && adb_sid_format(&o->sid, sid, sizeof sid, NULL) == ADB_OK)
        snprintf(detail, sizeof detail, "%s", o->dn != NULL ? o->dn : sid);
    else
        snprintf(detail, sizeof detail, "%s", or_dash(o->dn));
    cli_put(stdout, adb_object_display(o, who, sizeof who), 36);
    printf(" %-9s ", adb_object_kind_name(o->kind));
    cli_put(stdout, or_dash(o->display_name), 30);
    putchar(' ');
    cli_put(stdout, detail, 0);
    putchar('\n');
}

static int print_ambiguous(const char *cmd, const adb_error *err, const adb_object_list *candidates, bool json)
{
    if (json) {
        json_t *j = json_pack("{s:s,s:s,s:o}", "error", adb_code_name(err->code), "message", err->message,
                              "candidates", adb_object_list_to_json(candidates));
        cli_print_json(j);
    } else {
        cli_print_error(cmd, err);
        print_row_header();
        for (size_t i = 0; i < candidates->n; i++)
            print_row(candidates->items[i]);
    }
    return CLI_ERROR;
}

static int get_one(const char *cmd, adb_ctx *ctx, int argc, char **argv, unsigned kinds)
{
    cli_opts o;
    adb_dir *d;
    adb_object *obj = NULL;
    adb_object_list candidates = { 0 };
    adb_error err = { 0 };
    int rc;

    if ((rc = parse(cmd, argc, argv, (char[]){ OPT_JSON, OPT_DOMAIN, 0 }, 1, &o)) != CLI_FOUND
        || (rc = open_dir(cmd, ctx, &d)) != CLI_FOUND)
        return rc;
    if (adb_dir_get(d, argv[o.first_arg], o.domain, kinds, &obj, &candidates, &err) != ADB_OK)
        rc = err.code == ADB_E_AMBIGUOUS ? print_ambiguous(cmd, &err, &candidates, o.json) : fail(cmd, &err);
    else if (o.json)
        cli_print_json(adb_object_to_json(obj));
    else
        print_object(obj);
    adb_object_unref(obj);
    adb_object_list_clear(&candidates);
    adb_dir_free(d);
    return rc;
}

int cmd_user(adb_ctx *ctx, int argc, char **argv)
{
    return get_one("user", ctx, argc, argv, ADB_KINDS_USER | ADB_KINDS_COMPUTER);
}

int cmd_group(adb_ctx *ctx, int argc, char **argv)
{
    return get_one("group", ctx, argc, argv, ADB_KINDS_GROUP);
}

int cmd_search(adb_ctx *ctx, int argc, char **argv)
{
    cli_opts o;
    adb_dir *d;
    adb_dir_page page;
    adb_dir_search_request req = { 0 };
    adb_error err = { 0 };
    int rc;

    if ((rc = parse("search", argc, argv,
                    (char[]){ OPT_JSON, OPT_USERS, OPT_GROUPS, OPT_LIMIT, OPT_CURSOR, 0 }, 1, &o)) != CLI_FOUND
        || (rc = open_dir("search", ctx, &d)) != CLI_FOUND)
        return rc;
    req.prefix = argv[o.first_arg];
    req.kinds = (o.users ? ADB_KINDS_USER : 0) | (o.groups ? ADB_KINDS_GROUP : 0);
    req.limit = o.limit;
    req.cursor = o.cursor;
    if (adb_dir_search(d, &req, &page, &err) != ADB_OK) {
        rc = fail("search", &err);
    } else {
        if (o.json) {
            cli_print_json(json_pack("{s:o,s:o}", "items", adb_object_list_to_json(&page.items), "next_cursor",
                                 page.next_cursor[0] ? json_string(page.next_cursor) : json_null()));
        } else {
            print_row_header();
            for (size_t i = 0; i < page.items.n; i++)
                print_row(page.items.items[i]);
            fflush(stdout);
            if (page.next_cursor[0] != '\0')
                fprintf(stderr, "more: adbridge search '%s'%s%s --cursor %s\n", req.prefix,
                        o.users ? " --users" : "", o.groups ? " --groups" : "", page.next_cursor);
        }
        rc = page.items.n > 0 ? CLI_FOUND : CLI_NOT_FOUND;
        adb_dir_page_clear(&page);
    }
    adb_dir_free(d);
    return rc;
}

int cmd_groups_of(adb_ctx *ctx, int argc, char **argv)
{
    cli_opts o;
    adb_dir *d;
    adb_object *user = NULL;
    adb_object_list groups = { 0 };
    adb_error err = { 0 };
    int rc;

    if ((rc = parse("groups-of", argc, argv, (char[]){ OPT_JSON, OPT_DOMAIN, 0 }, 1, &o)) != CLI_FOUND
        || (rc = open_dir("groups-of", ctx, &d)) != CLI_FOUND)
        return rc;
    if (adb_dir_groups_of(d, argv[o.first_arg], o.domain, &user, &groups, &err) != ADB_OK) {
        rc = fail("groups-of", &err);
    } else if (o.json) {
        cli_print_json(json_pack("{s:o,s:o}", "user", adb_object_to_json(user), "groups",
                             adb_object_list_to_json(&groups)));
    } else {
        char who[300];
        fputs("# ", stdout);
        cli_put(stdout, adb_object_display(user, who, sizeof who), 0);
        printf(" is in %zu groups\n", groups.n);
        print_row_header();
        for (size_t i = 0; i < groups.n; i++)
            print_row(groups.items[i]);
    }
    adb_object_unref(user);
    adb_object_list_clear(&groups);
    adb_dir_free(d);
    return rc;
}

int cmd_members(adb_ctx *ctx, int argc, char **argv)
{
    cli_opts o;
    adb_dir *d;
    adb_dir_members_request req = { 0 };
    adb_dir_page page;
    adb_object *group = NULL;
    adb_error err = { 0 };
    char cursor[ADB_CURSOR_TEXT_MAX] = "";
    size_t total = 0;
    int rc;

    if ((rc = parse("members", argc, argv, (char[]){ OPT_JSON, OPT_DOMAIN, OPT_TRANSITIVE, OPT_LIMIT, 0 }, 1, &o))
            != CLI_FOUND
        || (rc = open_dir("members", ctx, &d)) != CLI_FOUND)
        return rc;
    req.group = argv[o.first_arg];
    req.domain = o.domain;
    req.transitive = o.transitive;
    req.limit = o.limit;   /* page size */
    /* Page by page, printed as they come: the listing streams. */
    for (bool first = true;; first = false) {
        req.cursor = cursor[0] != '\0' ? cursor : NULL;
        if (adb_dir_members(d, &req, first ? &group : NULL, &page, &err) != ADB_OK) {
            if (!first && o.json)
                printf("\n]}\n");
            rc = fail("members", &err);
            break;
        }
        if (first && o.json) {
            json_t *gj = adb_object_to_json(group);
            char *g = json_dumps(gj, JSON_COMPACT);
            json_decref(gj);
            printf("{\"group\": %s, \"transitive\": %s, \"members\": [", g != NULL ? g : "null",
                   o.transitive ? "true" : "false");
            free(g);
        } else if (first) {
            char who[300];
            printf("# %s members of ", o.transitive ? "transitive" : "direct");
            cli_put(stdout, adb_object_display(group, who, sizeof who), 0);
            putchar('\n');
            print_row_header();
        }
        for (size_t i = 0; i < page.items.n; i++, total++) {
            if (o.json) {
                json_t *j = adb_object_to_json(page.items.items[i]);
                char *text = json_dumps(j, JSON_COMPACT);
                printf("%s\n  %s", total > 0 ? "," : "", text != NULL ? text : "null");
                free(text);
                json_decref(j);
            } else {
                print_row(page.items.items[i]);
            }
        }
        snprintf(cursor, sizeof cursor, "%s", page.next_cursor);
        adb_dir_page_clear(&page);
        if (cursor[0] == '\0') {
            if (o.json)
                printf("\n]}\n");
            else
                printf("# %zu members\n", total);
            break;
        }
    }
    adb_object_unref(group);
    adb_dir_free(d);
    return rc;
}

static const char *domain_status(const adb_topo_domain *td, bool enabled, char *buf, size_t size)
{
    if (!enabled && !td->contacted)
        snprintf(buf, size, "not contacted (disabled)");
    else if (td->error != NULL)
        snprintf(buf, size, "%s", td->error);
    else if (!adb_level_supported(td->level))
        snprintf(buf, size, "unsupported: functional level %s is below 2008 R2", adb_level_name(td->level));
    else if (!adb_level_supported(td->forest_level))
        snprintf(buf, size, "unsupported: forest functional level %s is below 2008 R2",
                 adb_level_name(td->forest_level));
    else if (td->contacted)
        snprintf(buf, size, "ok (read from %s)", or_dash(td->dc));
    else
        snprintf(buf, size, "not read");
    return buf;
}

int cmd_domains(adb_ctx *ctx, int argc, char **argv)
{
    cli_opts o;
    adb_dir *d;
    adb_topology *t = NULL;
    adb_error err = { 0 };
    int rc;

    if ((rc = parse("domains", argc, argv, (char[]){ OPT_JSON, OPT_REFRESH, 0 }, 0, &o)) != CLI_FOUND
        || (rc = open_dir("domains", ctx, &d)) != CLI_FOUND)
        return rc;
    if (adb_dir_topology(d, true, &t, &err) != ADB_OK) {
        rc = fail("domains", &err);
    } else if (o.json) {
        cli_print_json(adb_topology_to_json(t, adb_dir_subscriptions(d)));
    } else {
        char sid[ADB_SID_STRING_MAX], status[ADB_ERROR_MESSAGE_MAX + 64];
        fputs("joined domain ", stdout);
        cli_put(stdout, t->joined, 0);
        if (t->dc_time != NULL) {
            fputs(", DC time ", stdout);
            cli_put(stdout, t->dc_time, 0);
        }
        printf("\n\n%-24s %-10s %-18s %-8s %-14s %s\n", "DOMAIN", "NETBIOS", "FOREST", "LEVEL", "SUBSCRIPTIONS",
               "STATUS");
        for (size_t i = 0; i < t->n_domains; i++) {
            const adb_topo_domain *td = &t->domains[i];
            bool on = adb_subscriptions_enabled(adb_dir_subscriptions(d), td->dns);
            cli_put(stdout, td->dns, 24);
            putchar(' ');
            cli_put(stdout, or_dash(td->netbios), 10);
            putchar(' ');
            cli_put(stdout, or_dash(td->forest), 18);
            printf(" %-8s %-14s ", td->level == ADB_LEVEL_UNKNOWN ? "-" : adb_level_name(td->level),
                   on ? "enabled" : "disabled");
            cli_put(stdout, domain_status(td, on, status, sizeof status), 0);
            putchar('\n');
        }
        printf("\n%-24s %-24s %-10s %-14s %s\n", "TRUST FROM", "TO", "FLAT NAME", "DIRECTION", "KIND, PARTNER SID");
        for (size_t i = 0; i < t->n_trusts; i++) {
            const adb_topo_trust *tr = &t->trusts[i];
            if (!tr->has_sid || adb_sid_format(&tr->sid, sid, sizeof sid, NULL) != ADB_OK)
                snprintf(sid, sizeof sid, "-");
            cli_put(stdout, tr->domain, 24);
            putchar(' ');
            cli_put(stdout, tr->partner, 24);
            putchar(' ');
            cli_put(stdout, or_dash(tr->flat_name), 10);
            printf(" %-14s %s%s %s\n", adb_trust_direction_name(tr->direction),
                   tr->attributes & ADB_TRUST_ATTR_FOREST_TRANSITIVE ? "forest" : "external",
                   tr->attributes & ADB_TRUST_ATTR_WITHIN_FOREST ? " (within forest)" : "", sid);
        }
    }
    adb_topology_unref(t);
    adb_dir_free(d);
    return rc;
}

int cmd_domain(adb_ctx *ctx, int argc, char **argv)
{
    cli_opts o;
    adb_dir *d;
    adb_error err = { 0 };
    bool enable;
    int rc;

    if ((rc = parse("domain", argc, argv, (char[]){ OPT_JSON, 0 }, 2, &o)) != CLI_FOUND)
        return rc;
    if (strcmp(argv[o.first_arg], "enable") == 0) {
        enable = true;
    } else if (strcmp(argv[o.first_arg], "disable") == 0) {
        enable = false;
    } else {
        fprintf(stderr, "adbridge domain: expected 'enable' or 'disable', not '%s'\n", argv[o.first_arg]);
        return CLI_ERROR;
    }
    if ((rc = open_dir("domain", ctx, &d)) != CLI_FOUND)
        return rc;
    if (adb_dir_set_enabled(d, argv[o.first_arg + 1], enable, &err) != ADB_OK) {
        rc = fail("domain", &err);
    } else if (o.json) {
        cli_print_json(json_pack("{s:s,s:b,s:s}", "domain", argv[o.first_arg + 1], "use_for_subscriptions", enable,
                             "state_file", adb_subscriptions_path(adb_dir_subscriptions(d))));
    } else {
        printf("%s: use for subscriptions %s (saved in %s; a running adbridged applies it at its next start)\n",
               argv[o.first_arg + 1], enable ? "enabled" : "disabled",
               adb_subscriptions_path(adb_dir_subscriptions(d)));
    }
    adb_dir_free(d);
    return rc;
}
