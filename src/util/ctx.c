/* Process context (see include/adbridge/ctx.h). */
#include "config.h"

#include <adbridge/ctx.h>
#include <adbridge/version.h>

#include <stdio.h>
#include <stdlib.h>

const char *adb_version(void)
{
    return PACKAGE_VERSION;
}

adb_code adb_ctx_new(const char *config_path, adb_ctx **out, adb_error *err)
{
    return adb_ctx_new_with(config_path, ADB_CTX_DEFAULT, out, err);
}

adb_code adb_ctx_new_with(const char *config_path, unsigned flags, adb_ctx **out, adb_error *err)
{
    adb_ctx *ctx = calloc(1, sizeof *ctx);
    adb_code rc;

    *out = NULL;
    if (ctx == NULL)
        return adb_error_set(err, ADB_E_NOMEM, "out of memory");
    rc = adb_config_load(adb_config_path(config_path), &ctx->config, err);
    if (rc != ADB_OK) {
        free(ctx);
        return rc;
    }
    ctx->config->persist_caches = (flags & ADB_CTX_PERSIST_CACHES) != 0;
    adb_logger_init(&ctx->log, ctx->config->log_level, stderr);
    *out = ctx;
    return ADB_OK;
}

void adb_ctx_free(adb_ctx *ctx)
{
    if (ctx == NULL)
        return;
    adb_config_free(ctx->config);
    free(ctx);
}
