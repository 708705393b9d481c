/* adbridged: the connector daemon.  Thin front end over the library. */
#include "config.h"

#include <adbridge/ctx.h>
#include <adbridge/version.h>

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: adbridged [--config FILE] [--foreground] [--check-config]\n"
            "\n"
            "The adbridge daemon: answers the cloud control plane's directory requests\n"
            "over an outbound AMQP 1.0 link, reading Active Directory as this host's\n"
            "machine account.\n"
            "\n"
            "Options:\n"
            "  -c, --config FILE  configuration file (default: $ADBRIDGE_CONFIG,\n"
            "                     else " ADB_DEFAULT_CONFIG_PATH ")\n"
            "  -f, --foreground   stay in the foreground, log to stderr\n"
            "      --check-config validate the configuration and exit\n"
            "  -h, --help         show this help\n"
            "  -V, --version      show the version\n");
}

int main(int argc, char **argv)
{
    enum { OPT_CHECK_CONFIG = 256 };
    static const struct option opts[] = {
        { "config", required_argument, NULL, 'c' },
        { "foreground", no_argument, NULL, 'f' },
        { "check-config", no_argument, NULL, OPT_CHECK_CONFIG },
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, 'V' },
        { NULL, 0, NULL, 0 },
    };
    const char *config_path = NULL;
    bool check_only = false;
    adb_error err = { 0 };
    adb_ctx *ctx;
    int opt;

    while ((opt = getopt_long(argc, argv, "c:fhV", opts, NULL)) != -1) {
        switch (opt) {
        case 'c': config_path = optarg; break;
        case 'f': break;
        case OPT_CHECK_CONFIG: check_only = true; break;
        case 'h': usage(stdout); return 0;
        case 'V': printf("adbridged %s\n", adb_version()); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "adbridged: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (adb_ctx_new(config_path, &ctx, &err) != ADB_OK) {
        fprintf(stderr, "adbridged: %s: %s\n", adb_code_name(err.code), err.message);
        return 2;
    }
    if (check_only) {
        printf("adbridged: configuration %s is valid (%zu domains)\n", ctx->config->path,
               ctx->config->n_domains);
        adb_ctx_free(ctx);
        return 0;
    }
    adb_log(&ctx->log, ADB_LOG_ERROR, "not_implemented",
            "msg=\"the cloud link (AMQP 1.0) is not built yet; only --check-config works\"");
    adb_ctx_free(ctx);
    return 2;
}
