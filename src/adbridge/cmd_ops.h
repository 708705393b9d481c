/* The CLI's commands for the operations of the wire contract: every entry
 * of the table of operations (ops.h) that has a `cli` part — user, group,
 * search, groups-of, members, domains, domain, auth.
 *
 * A command builds a request from its arguments, runs it through the
 * dispatcher in process (adb_dispatch_local) and prints the reply's result:
 * with --json exactly as the wire carries it, else as text by the op's
 * renderer.  On an error: "adbridge CMD: code: message" on stderr (with
 * --json also the wire's error object on stdout; for ambiguous, in text,
 * the candidates).  Exit status: 0 found/done, 1 not found or a result
 * that answers no (an empty search, a password that is not right), 2 error. */
#ifndef ADBRIDGE_CLI_CMD_OPS_H
#define ADBRIDGE_CLI_CMD_OPS_H

#include <adbridge/ctx.h>
#include <adbridge/ops.h>

/* argv[0] is the command's name. */
int cmd_op(adb_ctx *ctx, adb_op op, int argc, char **argv);

#endif
