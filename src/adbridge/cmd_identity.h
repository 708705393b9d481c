/* adbridge key reset: a new instance identity for this machine (see
 * include/adbridge/identity.h). */
#ifndef ADBRIDGE_CMD_IDENTITY_H
#define ADBRIDGE_CMD_IDENTITY_H

#include <adbridge/ctx.h>

/* argv: "key" "reset" [--force] [--json].  Exit 0 done, 2 error. */
int cmd_key_reset(adb_ctx *ctx, int argc, char **argv);

#endif
