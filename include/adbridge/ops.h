/* The operations of the wire contract, in one table.
 *
 * An entry says everything the bridge does with one operation: its name on
 * the wire, how its params are decoded (the decoder, proto.c, calls it), how
 * it runs (the dispatcher, dispatch.c), whether its result is a page that may
 * be cut to fit a reply, whether a redelivered request may run again, and
 * how the admin CLI asks it and prints its result as text.  health lists the
 * table's names; the CLI's commands for directory and password operations
 * are the entries' `cli` parts.
 *
 * Each entry lives next to its decoder, runner and text renderer, in the
 * src/proto/op_<family>.c of its family; ADB_OPS below lists them, and
 * from that one list come the adb_op values and the table adb_ops.
 * Adding an operation: schemas/README.md, "Adding an operation". */
#ifndef ADBRIDGE_OPS_H
#define ADBRIDGE_OPS_H

#include <adbridge/error.h>

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* The operations, in the order health lists them: X(its adb_op value, its
 * entry).  An entry is defined in its family's file (src/proto/op_*.c). */
#define ADB_OPS(X)                                                           \
    X(ADB_OP_HEALTH, adb_op_health)                       /* op_health.c */  \
    X(ADB_OP_TOPOLOGY_GET, adb_op_topology_get)           /* op_domains.c */ \
    X(ADB_OP_DOMAINS_CONFIGURE, adb_op_domains_configure)                    \
    X(ADB_OP_USER_GET, adb_op_user_get)                   /* op_lookup.c */  \
    X(ADB_OP_GROUP_GET, adb_op_group_get)                                    \
    X(ADB_OP_SEARCH, adb_op_search)                                          \
    X(ADB_OP_USER_GROUPS, adb_op_user_groups)                                \
    X(ADB_OP_GROUP_MEMBERS, adb_op_group_members)                            \
    X(ADB_OP_AUTH_PASSWORD, adb_op_auth_password)         /* op_auth.c */    \
    X(ADB_OP_CACHE_INVALIDATE, adb_op_cache_invalidate)   /* op_lookup.c */

typedef enum adb_op {
    ADB_OP_NONE = -1,                   /* not decoded */
#define ADB_OP_VALUE_(value, entry) value,
    ADB_OPS(ADB_OP_VALUE_)
#undef ADB_OP_VALUE_
    ADB_OP_COUNT_                       /* keep last */
} adb_op;

/* The parts of the bridge an entry's functions work on (proto's own). */
struct adb_request;
typedef struct adb_service adb_service;
typedef struct adb_param_dec adb_param_dec;     /* src/proto/params.h */
typedef struct adb_op_outcome adb_op_outcome;   /* src/proto/ops_internal.h */

/* Decodes $.params (an object) into the request; invalid_request with the
 * path of the offending field. */
typedef adb_code (*adb_op_params_fn)(adb_param_dec *d, json_t *params);
/* Runs a decoded request: the result (or the candidates of ambiguous, the
 * path of the param at fault) goes into the outcome. */
typedef adb_code (*adb_op_run_fn)(adb_service *svc, const struct adb_request *r, adb_op_outcome *o, adb_error *err);

/* ---- the CLI's view of an operation ---- */

/* Writes text that came from the directory or the network made safe for a
 * terminal, then spaces up to width columns (0: none).  The CLI passes
 * cli_put; a renderer prints nothing of a result any other way. */
typedef void (*adb_text_put_fn)(FILE *f, const char *untrusted, int width);

/* Where a page stands in a listing the CLI follows to its end. */
typedef struct adb_text_page {
    bool first, last;
    size_t before;                      /* items printed on earlier pages */
} adb_text_page;

/* Prints a result as text for a person.  params: the request's params. */
typedef void (*adb_op_render_fn)(const json_t *params, const json_t *result, const adb_text_page *page, FILE *out,
                                 adb_text_put_fn put);

typedef enum adb_cli_arg_kind {
    ADB_CLI_END = 0,
    ADB_CLI_OPERAND,                    /* the next operand: params.<param> = "ARG" */
    ADB_CLI_STRING,                     /* --<option> VALUE: params.<param> = "VALUE" */
    ADB_CLI_NUMBER,                     /* --<option> N: params.<param> = N */
    ADB_CLI_TRUE,                       /* --<option>: params.<param> = true */
    ADB_CLI_ADD,                        /* --<option>: "<value>" added to the array params.<param> */
} adb_cli_arg_kind;

typedef struct adb_cli_arg {
    adb_cli_arg_kind kind;
    const char *option;                 /* without "--"; an operand's name for messages */
    const char *param;
    const char *value;                  /* ADB_CLI_ADD */
} adb_cli_arg;

enum { ADB_CLI_ARGS_MAX = 8 };

typedef struct adb_op_cli {
    const char *command;                /* "user" */
    const char *usage;                  /* what follows the command in --help */
    adb_cli_arg args[ADB_CLI_ARGS_MAX]; /* up to the first ADB_CLI_END */
    /* Reshapes the params the args built into the op's (domain enable NAME
     * -> domains: [...]); NULL: they are the op's.  invalid_request. */
    adb_code (*reshape)(json_t *params, adb_error *err);
    /* A password is read (terminal, or --stdin) into params.password; this
     * param names the user in the prompt.  NULL: no password. */
    const char *password_for;
    bool all_pages;                     /* follow next_cursor to the end, printing as pages come */
    /* True for a result that answers "no" (nothing found, a wrong
     * password): exit status 1.  NULL: never. */
    bool (*negative)(const json_t *result);
    adb_op_render_fn render;
} adb_op_cli;

typedef struct adb_op_def {
    const char *name;                   /* on the wire: "user.get" */
    adb_op_params_fn params;
    adb_op_run_fn run;
    /* A paged result: the member that holds the page's items ("items"), cut
     * to fit broker.max_reply_bytes, and the limit when params give none.
     * NULL: not paged. */
    const char *list;
    size_t default_limit;
    /* Runs at most once: a redelivered request is answered retry, not run
     * (auth.password: a second check could count a wrong password twice). */
    bool once;
    const adb_op_cli *cli;              /* NULL: not a command of the CLI */
} adb_op_def;

#define ADB_OP_ENTRY_(value, entry) extern const adb_op_def entry;
ADB_OPS(ADB_OP_ENTRY_)
#undef ADB_OP_ENTRY_

/* The table, by adb_op. */
extern const adb_op_def *const adb_ops[ADB_OP_COUNT_];

/* The entry of op; NULL for ADB_OP_NONE or out of range. */
const adb_op_def *adb_op_def_of(adb_op op);
/* "user.get"; NULL for ADB_OP_NONE or out of range. */
const char *adb_op_name(adb_op op);
/* ADB_OP_NONE when name is not an operation. */
adb_op adb_op_from_name(const char *name);
/* The operation the CLI runs for command ("user"); ADB_OP_NONE: none. */
adb_op adb_op_from_command(const char *command);

#endif
