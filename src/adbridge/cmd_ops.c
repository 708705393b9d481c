/* The CLI's commands for the operations of the wire contract (see
 * cmd_ops.h).  Thin: arguments -> a request by the op's `cli` part of the
 * table (ops.h) -> adb_dispatch_local -> the wire's result, printed. */
#include "config.h"

#include "cli.h"
#include "cmd_auth.h"
#include "cmd_ops.h"

#include <adbridge/auth.h>
#include <adbridge/directory.h>
#include <adbridge/dispatch.h>
#include <adbridge/optext.h>
#include <adbridge/proto.h>
#include <adbridge/secmem.h>

#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { CLI_FOUND = 0, CLI_NOT_FOUND = 1, CLI_ERROR = 2 };
enum { OPT_JSON = 1, OPT_STDIN, OPT_ARG = 100 };   /* OPT_ARG + i: the op's args[i] */

typedef struct command {
    const char *name;                   /* as typed: "user" */
    const adb_op_def *def;
    const adb_op_cli *cli;
    bool json, from_stdin;
    json_t *params;
} command;

static int usage_error(const command *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int usage_error(const command *c, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "adbridge %s: ", c->name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return CLI_ERROR;
}

/* One argument into params, as its kind says. */
static int set_arg(command *c, const adb_cli_arg *a, const char *value)
{
    json_t *v = NULL, *list, *item;
    size_t i;
    char *end;
    unsigned long n;

    switch (a->kind) {
    case ADB_CLI_OPERAND:
    case ADB_CLI_STRING:
        if ((v = json_string(value)) == NULL)
            return usage_error(c, "%s%s is not UTF-8 text", a->kind == ADB_CLI_STRING ? "--" : "", a->option);
        break;
    case ADB_CLI_NUMBER:
        n = strtoul(value, &end, 10);
        if (*value == '\0' || *end != '\0' || n == 0 || n > INT_MAX)
            return usage_error(c, "--%s wants a positive number, not '%s'", a->option, value);
        v = json_integer((json_int_t)n);
        break;
    case ADB_CLI_TRUE:
        v = json_true();
        break;
    case ADB_CLI_ADD:
        if ((list = json_object_get(c->params, a->param)) == NULL) {
            list = json_array();
            json_object_set_new(c->params, a->param, list);
        }
        json_array_foreach(list, i, item)
            if (strcmp(json_string_value(item), a->value) == 0)
                return CLI_FOUND;
        json_array_append_new(list, json_string(a->value));
        return CLI_FOUND;
    case ADB_CLI_END:
        break;
    }
    json_object_set_new(c->params, a->param, v);
    return CLI_FOUND;
}

/* The options and operands of the op's args (plus --json, and --stdin for
 * a command that reads a password) into params. */
static int parse(command *c, int argc, char **argv)
{
    struct option opts[ADB_CLI_ARGS_MAX + 3];
    size_t n = 0, n_args = 0, operands = 0;
    int opt, k;

    for (; n_args < ADB_CLI_ARGS_MAX && c->cli->args[n_args].kind != ADB_CLI_END; n_args++) {
        const adb_cli_arg *a = &c->cli->args[n_args];
        if (a->kind == ADB_CLI_OPERAND)
            operands++;
        else
            opts[n++] = (struct option){ a->option, a->kind == ADB_CLI_STRING || a->kind == ADB_CLI_NUMBER
                                                        ? required_argument : no_argument,
                                         NULL, OPT_ARG + (int)n_args };
    }
    opts[n++] = (struct option){ "json", no_argument, NULL, OPT_JSON };
    if (c->cli->password_for != NULL)
        opts[n++] = (struct option){ "stdin", no_argument, NULL, OPT_STDIN };
    opts[n] = (struct option){ NULL, 0, NULL, 0 };

    optind = 0;   /* GNU getopt: start over (main parsed its own options) */
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (opt == OPT_JSON)
            c->json = true;
        else if (opt == OPT_STDIN)
            c->from_stdin = true;
        else if (opt < OPT_ARG)
            return usage_error(c, "'%s' is not an option of this command (see adbridge --help)", argv[optind - 1]);
        else if (set_arg(c, &c->cli->args[opt - OPT_ARG], optarg) != CLI_FOUND)
            return CLI_ERROR;
    }
    if ((size_t)(argc - optind) != operands)
        return usage_error(c, "expected %zu argument%s (see adbridge --help)", operands, operands == 1 ? "" : "s");
    k = optind;
    for (size_t i = 0; i < n_args; i++)
        if (c->cli->args[i].kind == ADB_CLI_OPERAND && set_arg(c, &c->cli->args[i], argv[k++]) != CLI_FOUND)
            return CLI_ERROR;
    return CLI_FOUND;
}

/* The password as params.password: read into wiped memory, then into the
 * request's tree, which jansson wipes when it frees it (json.h) and the
 * dispatcher wipes once it has taken it. */
static int add_password(command *c)
{
    const char *user = json_string_value(json_object_get(c->params, c->cli->password_for));
    adb_secret *pw = NULL;
    adb_error err = { 0 };
    json_t *v;

    if (cli_read_password(c->name, user, c->from_stdin, &pw, &err) != ADB_OK) {
        cli_print_error(c->name, &err);
        return CLI_ERROR;
    }
    v = json_stringn(adb_secret_str(pw), adb_secret_len(pw));
    adb_secret_free(pw);
    if (v == NULL)
        return usage_error(c, "the password is not UTF-8 text");
    json_object_set_new(c->params, "password", v);
    return CLI_FOUND;
}

/* ---- printing ---- */

static void put_json(FILE *f, const json_t *v)
{
    char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

    fputs(text != NULL ? text : "null", f);
    free(text);
}

/* A listing followed to its end, printed as its pages come: the wire's
 * result with every item in one list and next_cursor null. */
static void stream_json_page(const char *list, json_t *result, const adb_text_page *page)
{
    const char *key;
    json_t *v;
    size_t i;

    if (page->first) {
        fputc('{', stdout);
        json_object_foreach(result, key, v) {
            if (strcmp(key, list) == 0 || strcmp(key, "next_cursor") == 0)
                continue;
            json_t *name = json_string(key);
            put_json(stdout, name);
            json_decref(name);
            fputs(": ", stdout);
            put_json(stdout, v);
            fputs(", ", stdout);
        }
        printf("\"%s\": [", list);
    }
    json_array_foreach(json_object_get(result, list), i, v) {
        fputs(page->before + i > 0 ? ",\n  " : "\n  ", stdout);
        put_json(stdout, v);
    }
    if (page->last)
        fputs("\n], \"next_cursor\": null}\n", stdout);
}

/* s as one shell word: as it is when plain, else in single quotes. */
static void put_word(FILE *f, const char *s)
{
    size_t n = strlen(s);
    char *q, *o;

    if (n > 0 && strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-@=/:,+%") == n) {
        cli_put(f, s, 0);
        return;
    }
    if ((q = o = malloc(4 * n + 3)) == NULL)
        return;
    *o++ = '\'';
    for (const char *p = s; *p != '\0'; p++)
        if (*p == '\'')
            o = stpcpy(o, "'\\''");
        else
            *o++ = *p;
    *o++ = '\'';
    *o = '\0';
    cli_put(f, q, 0);
    free(q);
}

/* "more: adbridge search 'Smith, J' --cursor C": the next page's command. */
static void more_hint(int argc, char **argv, const char *cursor)
{
    fflush(stdout);
    fputs("more: adbridge", stderr);
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--cursor") == 0)
            i++;
        else if (strncmp(argv[i], "--cursor=", 9) != 0) {
            fputc(' ', stderr);
            put_word(stderr, argv[i]);
        }
    }
    fputs(" --cursor ", stderr);
    cli_put(stderr, cursor, 0);
    fputc('\n', stderr);
}

static void print_page(const command *c, json_t *result, const adb_text_page *page)
{
    if (!c->json)
        c->cli->render(c->params, result, page, stdout, cli_put);
    else if (c->cli->all_pages)
        stream_json_page(c->def->list, result, page);
    else
        cli_print_json(json_incref(result));
}

/* An error reply: the line on stderr; with --json, when nothing was
 * printed yet, the wire's error object; in text, an ambiguous name's
 * candidates. */
static int print_failure(const command *c, const json_t *reply, bool nothing_printed)
{
    json_t *error = json_object_get(reply, "error");
    const char *code = adb_text_member(error, "code");

    cli_print_failure(c->name, code != NULL ? code : adb_code_name(ADB_E_NOMEM),
                      error != NULL ? adb_text_member(error, "message") : "out of memory");
    if (c->json && nothing_printed && error != NULL)
        cli_print_json(json_incref(error));
    else if (!c->json && json_is_array(json_object_get(error, "candidates")))
        adb_text_objects(stdout, cli_put, json_object_get(error, "candidates"));
    return code != NULL && strcmp(code, "not_found") == 0 ? CLI_NOT_FOUND : CLI_ERROR;
}

/* Runs the request, and again for each next page when the command follows
 * a listing to its end. */
static int run_pages(command *c, adb_service *svc, json_t *request, int argc, char **argv)
{
    adb_text_page page = { .first = true };
    int rc = CLI_FOUND;

    for (;;) {
        json_t *reply = adb_dispatch_local(svc, request), *result = json_object_get(reply, "result");
        const char *cursor = json_string_value(json_object_get(result, "next_cursor"));

        if (result == NULL) {
            if (!page.first)
                fputc('\n', stdout);   /* a listing cut short: not a whole document */
            rc = print_failure(c, reply, page.first);
            json_decref(reply);
            return rc;
        }
        page.last = !c->cli->all_pages || cursor == NULL;
        print_page(c, result, &page);
        if (c->cli->negative != NULL && c->cli->negative(result))
            rc = CLI_NOT_FOUND;
        if (page.last) {
            if (cursor != NULL && !c->json)
                more_hint(argc, argv, cursor);
            json_decref(reply);
            return rc;
        }
        page.before += json_array_size(json_object_get(result, c->def->list));
        page.first = false;
        json_object_set_new(c->params, "cursor", json_string(cursor));   /* the request's params */
        json_decref(reply);
    }
}

static int run(command *c, adb_ctx *ctx, int argc, char **argv)
{
    adb_service_options so = { .config = ctx->config, .log = &ctx->log };
    adb_service *svc = NULL;
    adb_error err = { 0 };
    json_t *request;
    int rc;

    /* A password check needs the checker; it reads no keys (plaintext). */
    if (adb_dir_open(ctx->config, &ctx->log, NULL, &so.dir, &err) != ADB_OK
        || (c->cli->password_for != NULL
            && adb_auth_new(so.dir, NULL, ctx->config, &ctx->log, &so.auth, &err) != ADB_OK)
        || adb_service_new(&so, &svc, &err) != ADB_OK) {
        cli_print_error(c->name, &err);
        rc = err.code == ADB_E_NOT_FOUND ? CLI_NOT_FOUND : CLI_ERROR;
    } else if ((request = json_pack("{s:i,s:s,s:s,s:O}", "v", ADB_PROTO_VERSION, "id", "adbridge-cli", "op",
                                    c->def->name, "params", c->params)) == NULL) {
        rc = usage_error(c, "out of memory");
    } else {
        rc = run_pages(c, svc, request, argc, argv);
        json_decref(request);
    }
    adb_service_free(svc);
    adb_auth_free(so.auth);
    adb_dir_free(so.dir);
    return rc;
}

int cmd_op(adb_ctx *ctx, adb_op op, int argc, char **argv)
{
    const adb_op_def *def = adb_op_def_of(op);
    command c = { .name = argv[0], .def = def, .cli = def != NULL ? def->cli : NULL, .params = json_object() };
    adb_error err = { 0 };
    int rc;

    if (c.cli == NULL || c.params == NULL)
        rc = usage_error(&c, "not a command of the CLI");
    else if ((rc = parse(&c, argc, argv)) == CLI_FOUND && c.cli->reshape != NULL
             && c.cli->reshape(c.params, &err) != ADB_OK) {
        cli_print_error(c.name, &err);
        rc = CLI_ERROR;
    }
    /* The password last: nothing to mistype after it. */
    if (rc == CLI_FOUND && c.cli->password_for != NULL)
        rc = add_password(&c);
    if (rc == CLI_FOUND)
        rc = run(&c, ctx, argc, argv);
    json_decref(c.params);
    return rc;
}
