/* Credential commands of the CLI (see cmd_auth.h): key show|rotate through
 * keystore.h, and the password prompt of `adbridge auth` (the check itself
 * runs through the dispatcher: cmd_ops.c). */
#include "config.h"

#include "cli.h"
#include "cmd_auth.h"

#include <adbridge/clock.h>
#include <adbridge/keystore.h>
#include <adbridge/pwcheck.h>
#include <adbridge/secmem.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

enum { CLI_OK = 0, CLI_ERROR = 2 };
enum { OPT_JSON = 1, OPT_GRACE };

static int fail(const char *cmd, const adb_error *err)
{
    cli_print_error(cmd, err);
    return CLI_ERROR;
}

static void harden(const char *cmd)
{
    adb_error err = { 0 };

    if (adb_secmem_harden_process(&err) != ADB_OK)
        fprintf(stderr, "adbridge %s: warning: %s\n", cmd, err.message);
}

static const char *utc(time_t t, char *buf, size_t size)
{
    char text[ADB_RFC3339_SIZE];

    if (!adb_rfc3339(t, text))
        snprintf(text, sizeof text, "%lld", (long long)t);
    snprintf(buf, size, "%s", text);
    return buf;
}

/* ---- key show | key rotate ---- */

static json_t *key_json(const adb_key_info *k)
{
    char created[32], expires[32];
    json_t *j = json_pack("{s:s,s:s,s:s}", "key_id", k->key_id, "public_key", k->public_key, "created",
                          utc(k->created, created, sizeof created));

    if (j != NULL && k->expires != 0)
        json_object_set_new(j, "expires", json_string(utc(k->expires, expires, sizeof expires)));
    return j;
}

static void print_keys(const adb_keystore *ks, const adb_key_info *keys, size_t n, bool json)
{
    char t1[32], t2[32];

    if (json) {
        json_t *j = key_json(&keys[0]), *old = json_array();
        for (size_t i = 1; i < n; i++)
            json_array_append_new(old, key_json(&keys[i]));
        json_object_set_new(j, "old_keys", old);
        json_object_set_new(j, "key_file", json_string(adb_keystore_path(ks)));
        cli_print_json(j);
        return;
    }
    printf("%-12s %s\n", "key file", adb_keystore_path(ks));
    printf("%-12s %s\n", "key id", keys[0].key_id);
    printf("%-12s %s\n", "public key", keys[0].public_key);
    printf("%-12s %s\n", "created", utc(keys[0].created, t1, sizeof t1));
    if (n == 1)
        printf("%-12s none\n", "old keys");
    for (size_t i = 1; i < n; i++)
        printf("%-12s %s  created %s  usable until %s\n", i == 1 ? "old keys" : "", keys[i].key_id,
               utc(keys[i].created, t1, sizeof t1), utc(keys[i].expires, t2, sizeof t2));
}

int cmd_key(adb_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        { "json", no_argument, NULL, OPT_JSON },
        { "grace", required_argument, NULL, OPT_GRACE },
        { NULL, 0, NULL, 0 },
    };
    adb_key_info keys[ADB_KEYSTORE_MAX_KEYS];
    adb_keystore *ks;
    adb_error err = { 0 };
    long grace = ADB_KEYSTORE_DEFAULT_GRACE_S;
    bool json = false, grace_set = false;
    const char *verb;
    int opt, rc = CLI_OK;

    optind = 0;   /* GNU getopt: start over (main parsed its own options) */
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        char *end;
        switch (opt) {
        case OPT_JSON: json = true; break;
        case OPT_GRACE:
            errno = 0;
            grace = strtol(optarg, &end, 10);
            if (*optarg == '\0' || *end != '\0' || errno != 0 || grace < 0) {
                fprintf(stderr, "adbridge key: --grace wants a number of seconds, not '%s'\n", optarg);
                return CLI_ERROR;
            }
            grace_set = true;
            break;
        default:
            fprintf(stderr, "adbridge key: '%s' is not an option of this command (see adbridge --help)\n",
                    argv[optind - 1]);
            return CLI_ERROR;
        }
    }
    verb = optind < argc ? argv[optind] : NULL;
    if (argc - optind != 1 || (strcmp(verb, "show") != 0 && strcmp(verb, "rotate") != 0)) {
        fprintf(stderr, "adbridge key: expected 'show' or 'rotate' (see adbridge --help)\n");
        return CLI_ERROR;
    }
    if (grace_set && strcmp(verb, "rotate") != 0) {
        fprintf(stderr, "adbridge key show: --grace belongs to 'key rotate'\n");
        return CLI_ERROR;
    }
    harden("key");
    if (adb_keystore_open(ctx->config->state_dir, NULL, &ks, &err) != ADB_OK)
        return fail("key", &err);
    if (strcmp(verb, "rotate") == 0 && adb_keystore_rotate(ks, grace, NULL, &err) != ADB_OK)
        rc = fail("key rotate", &err);
    if (rc == CLI_OK)
        print_keys(ks, keys, adb_keystore_keys(ks, keys, ADB_KEYSTORE_MAX_KEYS), json);
    adb_keystore_free(ks);
    return rc;
}

/* ---- the password of adbridge auth ---- */

/* One line into a secret, with read(2) byte by byte: no stdio buffer ever
 * holds the password.  From the terminal (echo off) or from stdin. */
adb_code cli_read_password(const char *cmd, const char *user, bool from_stdin, adb_secret **out, adb_error *err)
{
    struct termios saved, quiet;
    bool restore = false;
    adb_secret *s;
    unsigned char *p;
    size_t len = 0;
    adb_code rc = ADB_OK;
    int fd = STDIN_FILENO;

    *out = NULL;
    harden(cmd);
    if (!from_stdin) {
        if ((fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC)) < 0)
            return adb_error_set(err, ADB_E_INVALID_REQUEST, "no terminal to read the password from (%s): "
                                 "give it on standard input with --stdin", strerror(errno));
        if (tcgetattr(fd, &saved) == 0) {
            quiet = saved;
            quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
            restore = tcsetattr(fd, TCSAFLUSH, &quiet) == 0;
        }
        dprintf(fd, "Password for %s: ", user != NULL ? user : "");
    }
    if ((rc = adb_secret_new(ADB_PWCHECK_PASSWORD_MAX + 1, &s, err)) != ADB_OK)
        goto out;
    p = adb_secret_data(s);
    for (;;) {
        unsigned char c;
        ssize_t r = read(fd, &c, 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = adb_error_set(err, ADB_E_IO, "cannot read the password: %s", strerror(errno));
            break;
        }
        if (r == 0 || c == '\n')
            break;
        if (len == adb_secret_cap(s)) {
            rc = adb_error_set(err, ADB_E_INVALID_REQUEST, "the password is longer than %d bytes",
                               ADB_PWCHECK_PASSWORD_MAX);
            break;
        }
        p[len++] = c;
        c = 0;
    }
    if (len > 0 && p[len - 1] == '\r')
        len--;
    adb_secret_set_len(s, len);
    if (rc == ADB_OK)
        *out = s;
    else
        adb_secret_free(s);
out:
    if (!from_stdin) {
        if (restore)
            tcsetattr(fd, TCSAFLUSH, &saved);
        dprintf(fd, "\n");
        close(fd);
    }
    return rc;
}
