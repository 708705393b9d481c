/* adbridge locate: which DCs the locator picks for a domain, and why. */
#ifndef ADBRIDGE_CMD_LOCATE_H
#define ADBRIDGE_CMD_LOCATE_H

#include <adbridge/ctx.h>

int cmd_locate(adb_ctx *ctx, int argc, char **argv);

#endif
