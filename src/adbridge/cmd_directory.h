/* The CLI's directory commands (user, group, search, groups-of, members,
 * domains, domain enable|disable), kept apart from main.c's dispatch.
 * Each returns the process exit status: 0 found/done, 1 not found, 2 error. */
#ifndef ADBRIDGE_CLI_CMD_DIRECTORY_H
#define ADBRIDGE_CLI_CMD_DIRECTORY_H

#include <adbridge/ctx.h>

int cmd_user(adb_ctx *ctx, int argc, char **argv);
int cmd_group(adb_ctx *ctx, int argc, char **argv);
int cmd_search(adb_ctx *ctx, int argc, char **argv);
int cmd_groups_of(adb_ctx *ctx, int argc, char **argv);
int cmd_members(adb_ctx *ctx, int argc, char **argv);
int cmd_domains(adb_ctx *ctx, int argc, char **argv);
int cmd_domain(adb_ctx *ctx, int argc, char **argv);

#endif
