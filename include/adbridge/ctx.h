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

typedef enum adb_ctx_flags {
    ADB_CTX_DEFAULT = 0,
    /* A short-lived front end (the CLI): keep the machine's tickets, the
     * topology and the located DCs in the state directory between runs
     * (config->persist_caches; statecache.h).  The daemon does not. */
    ADB_CTX_PERSIST_CACHES = 1 << 0,
} adb_ctx_flags;

/* adb_ctx_new with flags (adb_ctx_flags). */
adb_code adb_ctx_new_with(const char *config_path, unsigned flags, adb_ctx **out, adb_error *err);

void adb_ctx_free(adb_ctx *ctx);

#endif
