/* Output helpers of the CLI (see cli.h). */
#include "config.h"

#include "cli.h"

#include <stdio.h>
#include <stdlib.h>

void cli_print_json(json_t *j)
{
    char *text = json_dumps(j, JSON_INDENT(2));

    if (text != NULL)
        printf("%s\n", text);
    free(text);
    json_decref(j);
}

void cli_print_error(const char *cmd, const adb_error *err)
{
    fprintf(stderr, "adbridge %s: %s: %s\n", cmd, adb_code_name(err->code), err->message);
}
