/* What the CLI's commands share: how a JSON document and an error are printed. */
#ifndef ADBRIDGE_CLI_H
#define ADBRIDGE_CLI_H

#include <adbridge/error.h>

#include <jansson.h>

/* Prints j indented on stdout and releases it. */
void cli_print_json(json_t *j);

/* "adbridge CMD: code: message" on stderr. */
void cli_print_error(const char *cmd, const adb_error *err);

#endif
