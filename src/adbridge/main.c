/* adbridge: the admin CLI.  Thin: parses arguments, calls the library,
 * prints tables or JSON.  Exit codes: 0 done/found, 1 not found, 2 error.
 *
 * Two kinds of command: the admin's own (config, locate, key, diagnose),
 * listed here, and the operations of the wire contract, which come from the
 * table of operations (ops.h) and run through the dispatcher (cmd_ops.h). */
#include "config.h"

#include <adbridge/ctx.h>
#include <adbridge/json.h>
#include <adbridge/version.h>

#include "cmd_ops.h"
#include "cmd_locate.h"
#include "cmd_auth.h"
#include "cmd_diagnose.h"
#include "cmd_identity.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { EXIT_FOUND = 0, EXIT_NOT_FOUND = 1, EXIT_ERROR = 2 };

typedef struct cli_command {
    const char *name;
    const char *summary;
    int (*run)(adb_ctx *ctx, int argc, char **argv);
    /* Instead of run, for a command that must work when the configuration
     * does not load (it reports that itself): gets the --config value. */
    int (*run_unloaded)(const char *config_path, int argc, char **argv);
} cli_command;

static int cmd_config(adb_ctx *ctx, int argc, char **argv);

static const cli_command commands[] = {
    { "config", "show the configuration in effect (domains, DNS, keytab)", cmd_config, NULL },
    { "locate", "DOMAIN [--site S] [--gc] [--json]: the DCs the locator picks, in order", cmd_locate, NULL },
    { "key", "show|rotate [--grace SECONDS]|reset [--force] [--json]: the instance key pair for sealed passwords "
             "(reset: a new pair bound to this machine, after a clone)", cmd_key, NULL },
    { "diagnose", "[--json] [--domain D] [--dc DC] [--skip-cloud] [--timeout S]: check every forest is reachable (exit 0 pass, 1 warn, 2 fail)", NULL,
      cmd_diagnose },
};

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: adbridge [--config FILE] COMMAND [ARGS...]\n"
            "\n"
            "Admin CLI of adbridge, the Active Directory bridge.\n"
            "\n"
            "Commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-12s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\nOperations (as the cloud asks them; --json prints the reply's result):\n");
    for (int i = 0; i < ADB_OP_COUNT_; i++)
        if (adb_ops[i]->cli != NULL)
            fprintf(out, "  %-12s %s\n", adb_ops[i]->cli->command, adb_ops[i]->cli->usage);
    fprintf(out,
            "\n"
            "Options:\n"
            "  -c, --config FILE  configuration file (default: $ADBRIDGE_CONFIG,\n"
            "                     else " ADB_DEFAULT_CONFIG_PATH ")\n"
            "  -h, --help         show this help\n"
            "  -V, --version      show the version\n"
            "\n"
            "Exit status: 0 success, 1 not found, 2 error.\n");
}

static int cmd_config(adb_ctx *ctx, int argc, char **argv)
{
    const adb_config *cfg = ctx->config;

    (void)argv;
    if (argc > 1) {
        fprintf(stderr, "adbridge config: takes no arguments\n");
        return EXIT_ERROR;
    }
    printf("configuration  %s\n", cfg->path);
    printf("state dir      %s\n", cfg->state_dir);
    printf("keytab         %s\n", cfg->keytab);
    printf("principal      %s\n", cfg->machine_principal != NULL ? cfg->machine_principal
                                                               : "(first in keytab)");
    printf("dns servers    ");
    if (cfg->n_dns_servers == 0)
        printf("(system resolv.conf)");
    for (size_t i = 0; i < cfg->n_dns_servers; i++)
        printf("%s%s", i > 0 ? " " : "", cfg->dns_servers[i]);
    printf("\nlog level      %s\n\n", adb_log_level_name(cfg->log_level));
    printf("%-32s %-14s %-12s %s\n", "DOMAIN", "SUBSCRIPTIONS", "SITE", "PINNED DCS");
    for (size_t i = 0; i < cfg->n_domains; i++) {
        const adb_domain_config *d = &cfg->domains[i];
        printf("%-32s %-14s %-12s ", d->name, d->use_for_subscriptions ? "enabled" : "disabled",
               d->site != NULL ? d->site : "-");
        if (d->n_dcs == 0)
            printf("-");
        for (size_t j = 0; j < d->n_dcs; j++)
            printf("%s%s", j > 0 ? "," : "", d->dcs[j]);
        printf("\n");
    }
    return EXIT_FOUND;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "config", required_argument, NULL, 'c' },
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, 'V' },
        { NULL, 0, NULL, 0 },
    };
    const char *config_path = NULL;
    adb_error err = { 0 };
    const cli_command *cmd = NULL;
    adb_op op = ADB_OP_NONE;
    adb_ctx *ctx;
    int opt, rc;

    /* Before any jansson call: every block it frees is wiped (json.h). */
    adb_json_wipe_install(NULL);
    /* '+': stop at the command name; the command parses its own options. */
    while ((opt = getopt_long(argc, argv, "+c:hV", opts, NULL)) != -1) {
        switch (opt) {
        case 'c': config_path = optarg; break;
        case 'h': usage(stdout); return EXIT_FOUND;
        case 'V': printf("adbridge %s\n", adb_version()); return EXIT_FOUND;
        default: usage(stderr); return EXIT_ERROR;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return EXIT_ERROR;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0] && cmd == NULL; i++)
        if (strcmp(argv[optind], commands[i].name) == 0)
            cmd = &commands[i];
    if (cmd == NULL && (op = adb_op_from_command(argv[optind])) == ADB_OP_NONE) {
        fprintf(stderr, "adbridge: unknown command '%s' (see adbridge --help)\n", argv[optind]);
        return EXIT_ERROR;
    }
    if (cmd != NULL && cmd->run_unloaded != NULL)
        return cmd->run_unloaded(config_path, argc - optind, argv + optind);
    /* A new process per command: keep tickets, topology and DCs for the next (statecache.h). */
    if (adb_ctx_new_with(config_path, ADB_CTX_PERSIST_CACHES, &ctx, &err) != ADB_OK) {
        fprintf(stderr, "adbridge: %s: %s\n", adb_code_name(err.code), err.message);
        return EXIT_ERROR;
    }
    if (cmd == NULL)
        rc = cmd_op(ctx, op, argc - optind, argv + optind);
    else if (strcmp(cmd->name, "key") == 0 && optind + 1 < argc && strcmp(argv[optind + 1], "reset") == 0)
        rc = cmd_key_reset(ctx, argc - optind, argv + optind);
    else
        rc = cmd->run(ctx, argc - optind, argv + optind);
    adb_ctx_free(ctx);
    return rc;
}
