/* adbridge diagnose: can this connector reach every forest, and what to fix. */
#ifndef ADBRIDGE_CMD_DIAGNOSE_H
#define ADBRIDGE_CMD_DIAGNOSE_H

#include <adbridge/config.h>

/* Runs before (and without) the configuration loading: it reports a
 * configuration that does not load as its first check. */
int cmd_diagnose(const char *config_path, int argc, char **argv);

#endif
