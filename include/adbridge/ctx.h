/* adb_ctx: the one place for process state — configuration, logger and,
 * as the layers grow, caches and pools.  A front end creates it and passes
 * it down; nothing else in the library is global and mutable. */
#ifndef ADBRIDGE_CTX_H
#define ADBRIDGE_CTX_H

#include <adbridge/config.h>
#include <adbridge/error.h>
#include <adbridge/log.h>

typedef struct adb_ctx {
    adb_config *config;
    adb_logger log;
} adb_ctx;

/* Loads the configuration at adb_config_path(config_path) and sets up
 * logging to stderr at the configured level. */
adb_code adb_ctx_new(const char *config_path, adb_ctx **out, adb_error *err);

void adb_ctx_free(adb_ctx *ctx);

#endif
