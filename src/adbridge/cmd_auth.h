/* The CLI's credential commands: adbridge key show|rotate (the instance key
 * pair for sealed credentials), and the password prompt of adbridge auth
 * (the check runs through the dispatcher: cmd_ops.h). */
#ifndef ADBRIDGE_CLI_CMD_AUTH_H
#define ADBRIDGE_CLI_CMD_AUTH_H

#include <adbridge/ctx.h>
#include <adbridge/error.h>
#include <adbridge/secmem.h>

#include <stdbool.h>

/* key show [--json] | key rotate [--grace SECONDS] [--json]: 0 done, 2 error. */
int cmd_key(adb_ctx *ctx, int argc, char **argv);

/* Hardens the process (no core dump: secmem.h), then reads one line into a
 * secret: from the terminal with echo off, prompting for user, or with
 * from_stdin from standard input.  invalid_request with no terminal (use
 * --stdin) or a password too long; io_error.  cmd names the command in a
 * warning. */
adb_code cli_read_password(const char *cmd, const char *user, bool from_stdin, adb_secret **out, adb_error *err);

#endif
