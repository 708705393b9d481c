/* The CLI's credential commands: adbridge key show|rotate (the instance key
 * pair for sealed credentials) and adbridge auth (a password check), kept
 * apart from main.c's dispatch. */
#ifndef ADBRIDGE_CLI_CMD_AUTH_H
#define ADBRIDGE_CLI_CMD_AUTH_H

#include <adbridge/ctx.h>

/* key show [--json] | key rotate [--grace SECONDS] [--json]: 0 done, 2 error. */
int cmd_key(adb_ctx *ctx, int argc, char **argv);

/* auth USER [--stdin] [--json]: 0 only when the password is right, 1 for
 * any other result (the reason is printed), 2 on error. */
int cmd_auth(adb_ctx *ctx, int argc, char **argv);

#endif
