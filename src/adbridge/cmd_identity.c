/* adbridge key reset (see cmd_identity.h).
 *
 * The fix for a cloned host: the instance keys copied from the original must
 * not be used here, so every key is dropped at once (no grace), a new pair is
 * made, and the identity is bound to this machine and the keytab's
 * principal.  On a host that is not a clone it refuses without --force
 * (`adbridge key rotate` keeps the old key usable for a grace period; reset
 * does not). */
#include "config.h"

#include "cli.h"
#include "cmd_identity.h"

#include <adbridge/identity.h>
#include <adbridge/keystore.h>
#include <adbridge/krb.h>
#include <adbridge/secmem.h>

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { CLI_OK = 0, CLI_ERROR = 2 };
enum { OPT_JSON = 1, OPT_FORCE };

/* Run as root on a state directory that belongs to the service's user
 * (adbridge): act as that user on it (effective ids only; root comes back
 * after), so the files are read with the owner checks the daemon applies and
 * the new ones are the daemon's.  *as_owner tells whether it switched. */
static adb_code become_state_owner(const char *state_dir, bool *as_owner, adb_error *err)
{
    struct stat st;

    *as_owner = false;
    if (geteuid() != 0 || stat(state_dir, &st) != 0 || st.st_uid == 0)
        return ADB_OK;
    if (setegid(st.st_gid) != 0 || seteuid(st.st_uid) != 0)
        return adb_error_set(err, ADB_E_IO, "cannot act as the owner of %s (uid %u): %s", state_dir,
                             (unsigned)st.st_uid, strerror(errno));
    *as_owner = true;
    return ADB_OK;
}

static void back_to_root(bool as_owner)
{
    if (as_owner && (seteuid(0) != 0 || setegid(0) != 0))
        fprintf(stderr, "adbridge key reset: warning: cannot return to root: %s\n", strerror(errno));
}

int cmd_key_reset(adb_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        { "json", no_argument, NULL, OPT_JSON },
        { "force", no_argument, NULL, OPT_FORCE },
        { NULL, 0, NULL, 0 },
    };
    const adb_config *cfg = ctx->config;
    adb_identity_state st;
    adb_identity rec;
    adb_key_info cur;
    adb_keystore *ks = NULL;
    adb_krb *krb = NULL;
    adb_error err = { 0 };
    bool json = false, force = false, as_owner = false;
    char principal[256];
    int opt, rc = CLI_ERROR;

    optind = 0;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (opt) {
        case OPT_JSON: json = true; break;
        case OPT_FORCE: force = true; break;
        default:
            fprintf(stderr, "adbridge key reset: '%s' is not an option of this command (see adbridge --help)\n",
                    argv[optind - 1]);
            return CLI_ERROR;
        }
    }
    if (optind != argc - 1 || strcmp(argv[optind], "reset") != 0) {
        fprintf(stderr, "adbridge key reset: takes no arguments besides --force and --json\n");
        return CLI_ERROR;
    }
    if (adb_secmem_harden_process(&err) != ADB_OK)
        fprintf(stderr, "adbridge key reset: warning: %s\n", err.message);
    /* The principal the identity is bound to: the keytab's (no KDC contact). */
    if (adb_krb_new(cfg->keytab, cfg->machine_principal, &krb, &err) != ADB_OK) {
        cli_print_error("key reset", &err);
        return CLI_ERROR;
    }
    snprintf(principal, sizeof principal, "%s", adb_krb_principal(krb));
    adb_krb_free(krb);
    if (become_state_owner(cfg->state_dir, &as_owner, &err) != ADB_OK) {
        cli_print_error("key reset", &err);
        return CLI_ERROR;
    }
    if (adb_identity_check(cfg->state_dir, principal, &st, &rec, &err) != ADB_OK) {
        /* A malformed record is what reset replaces. */
        if (err.code != ADB_E_CONFIG) {
            cli_print_error("key reset", &err);
            goto out;
        }
        st = ADB_IDENTITY_OTHER_MACHINE;
    }
    if (st == ADB_IDENTITY_MATCH && !force) {
        fprintf(stderr, "adbridge key reset: the instance keys in %s already belong to this machine and %s: nothing "
                "to reset. To replace the key pair anyway (the old key stops working at once), add --force; "
                "adbridge key rotate keeps the old key usable for a grace period\n", cfg->state_dir, principal);
        goto out;
    }
    if (adb_keystore_open(cfg->state_dir, NULL, &ks, &err) != ADB_OK
        || adb_keystore_rotate(ks, 0, &cur, &err) != ADB_OK || adb_identity_bind(cfg->state_dir, principal, &err) != ADB_OK) {
        cli_print_error("key reset", &err);
        goto out;
    }
    if (json) {
        cli_print_json(json_pack("{s:s, s:s, s:s, s:s, s:s}", "key_id", cur.key_id, "public_key", cur.public_key,
                                 "principal", principal, "state_dir", cfg->state_dir, "was",
                                 st == ADB_IDENTITY_OTHER_MACHINE ? "other_machine"
                                 : st == ADB_IDENTITY_OTHER_PRINCIPAL ? "other_principal"
                                 : st == ADB_IDENTITY_UNBOUND ? "unbound" : "this_machine"));
    } else {
        printf("%-12s %s\n", "key file", adb_keystore_path(ks));
        printf("%-12s %s\n", "key id", cur.key_id);
        printf("%-12s %s\n", "public key", cur.public_key);
        printf("%-12s this machine, %s\n", "bound to", principal);
        printf("\nEvery earlier key of this instance is gone. Register the new public key with the cloud, then\n"
               "start adbridged (or reload it: systemctl reload adbridged).\n");
    }
    rc = CLI_OK;
out:
    adb_keystore_free(ks);
    back_to_root(as_owner);
    return rc;
}
