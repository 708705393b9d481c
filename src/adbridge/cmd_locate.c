/* adbridge locate DOMAIN [--site S] [--gc] [--json] */
#include "config.h"

#include "cli.h"
#include "cmd_locate.h"

#include <adbridge/locator.h>
#include <adbridge/netlogon.h>

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

static const char *state_name(adb_dc_state s)
{
    return s == ADB_DC_UP ? "up" : s == ADB_DC_DOWN ? "down" : "untried";
}

static void print_json(const adb_dc_list *l)
{
    json_t *dcs = json_array();
    char flags[512];

    for (size_t i = 0; i < l->n; i++) {
        const adb_dc *dc = &l->dcs[i];
        json_array_append_new(dcs, json_pack("{s:i, s:s, s:s, s:i, s:s, s:s, s:b, s:s, s:o}", "order", (int)i + 1,
                                             "host", dc->host, "address", dc->address, "port", dc->ldap_port,
                                             "site", dc->site, "state", state_name(dc->state), "in_client_site",
                                             dc->in_client_site, "flags",
                                             adb_netlogon_flags_text(dc->flags, flags, sizeof flags), "rtt_us",
                                             dc->rtt_us >= 0 ? json_integer(dc->rtt_us) : json_null()));
    }
    json_t *doc = json_pack("{s:s, s:s, s:s, s:o}", "domain", l->domain, "forest", l->forest, "client_site",
                            l->client_site, "dcs", dcs);
    json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    putchar('\n');
    json_decref(doc);
}

/* Names and sites come from DNS and the DCs' netlogon replies: escaped. */
static void print_table(const adb_dc_list *l)
{
    char flags[512];

    fputs("domain ", stdout);
    cli_put(stdout, l->domain, 0);
    fputs("   forest ", stdout);
    cli_put(stdout, l->forest[0] ? l->forest : "?", 0);
    fputs("   client site ", stdout);
    cli_put(stdout, l->client_site[0] ? l->client_site : "(unknown)", 0);
    printf("\n\n%-3s %-28s %-15s %-5s %-16s %-7s %9s  %s\n", "#", "DC", "ADDRESS", "PORT", "SITE", "STATE", "RTT",
           "FLAGS");
    for (size_t i = 0; i < l->n; i++) {
        const adb_dc *dc = &l->dcs[i];
        char rtt[32] = "-";
        if (dc->rtt_us >= 0)
            snprintf(rtt, sizeof rtt, "%.2f ms", dc->rtt_us / 1000.0);
        printf("%-3zu ", i + 1);
        cli_put(stdout, dc->host, 28);
        putchar(' ');
        cli_put(stdout, dc->address[0] ? dc->address : "-", 15);
        printf(" %-5u ", dc->ldap_port);
        cli_put(stdout, dc->site[0] ? dc->site : "-", 16);
        printf(" %-7s %9s  %s%s\n", state_name(dc->state), rtt, adb_netlogon_flags_text(dc->flags, flags, sizeof flags),
               dc->in_client_site ? " (client site)" : "");
    }
}

int cmd_locate(adb_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        { "site", required_argument, NULL, 's' },
        { "gc", no_argument, NULL, 'g' },
        { "json", no_argument, NULL, 'j' },
        { NULL, 0, NULL, 0 },
    };
    adb_locator_options lo = { 0 };
    adb_locate_flags flags = ADB_LOCATE_FORCE;
    bool json = false;
    adb_error err = { 0 };
    adb_locator *loc = NULL;
    adb_dc_list list;
    int opt;

    optind = 0;     /* GNU getopt: start over, options may follow DOMAIN */
    while ((opt = getopt_long(argc, argv, "s:gj", opts, NULL)) != -1) {
        switch (opt) {
        case 's': lo.site = optarg; break;
        case 'g': flags |= ADB_LOCATE_GC; break;
        case 'j': json = true; break;
        default: return 2;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "usage: adbridge locate DOMAIN [--site SITE] [--gc] [--json]\n");
        return 2;
    }
    if (adb_locator_new(ctx->config, &ctx->log, &loc, &err) != ADB_OK
        || adb_locator_get(loc, argv[optind], flags, &lo, &list, &err) != ADB_OK) {
        cli_print_error("locate", &err);
        adb_locator_free(loc);
        return err.code == ADB_E_NOT_FOUND ? 1 : 2;
    }
    if (json)
        print_json(&list);
    else
        print_table(&list);
    adb_dc_list_free(&list);
    adb_locator_free(loc);
    return 0;
}
