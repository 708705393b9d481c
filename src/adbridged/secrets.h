/* The daemon's secret files when it runs without root: systemd
 * credentials, or copies of its own when started as root without systemd.
 *
 * The configuration keeps the real paths (the admin CLI, run as root, reads
 * those).  In the daemon, a credential with one of these IDs takes the place
 * of its field:
 *
 *   keytab              $.keytab
 *   broker-password     $.broker.password_file
 *   proxy-credentials   $.broker.proxy.credentials_file
 *   broker-key          $.broker.key_file
 *
 * Under systemd the unit passes them (LoadCredential=ID:SOURCE) and they are
 * in $CREDENTIALS_DIRECTORY.  Started as root without systemd, with $.user,
 * adbridged does the same itself before dropping root: it copies each
 * configured secret file into a directory of its own,
 * /run/adbridged/PID (mode 0700, files 0400, owned by $.user; on a Debian host
 * /run is a tmpfs, so the copies stay in memory), which it removes when it stops (and,
 * at the next start, when a crash left one behind).  The files it reads later as $.user are then its copies.
 *
 * Keytab rotation.  krb5 reads the keytab at every ticket refresh and every
 * password check.  Without systemd the daemon keeps the keytab it opened as
 * root; on SIGHUP it reads that descriptor again and replaces its copy
 * (`adcli update` rewrites the keytab in place, so a rotated machine password
 * reaches the running daemon).  A keytab replaced by another file (rename)
 * cannot be reopened without root: the reload says so, a restart reads it.
 * Under systemd, credentials are copied once per start (systemd.io/CREDENTIALS:
 * immutable while the service runs): the reload notices that the keytab
 * changed on disk and says that `systemctl restart adbridged` delivers it. */
#ifndef ADBRIDGED_SECRETS_H
#define ADBRIDGED_SECRETS_H

#include "privdrop.h"

#include <adbridge/config.h>
#include <adbridge/error.h>
#include <adbridge/log.h>

#include <stdbool.h>

typedef struct adbd_secrets adbd_secrets;

/* acct not NULL (root, $.user, no $CREDENTIALS_DIRECTORY): copies the
 * secret files into the daemon's own credentials directory, owned by acct.
 * Then points the fields above at the credentials (systemd's or its own;
 * event=credential_used each; a credential for a field that is not set is
 * logged, credential_unused, and ignored).  Without credentials, nothing
 * changes. */
adb_code adbd_secrets_open(adb_config *cfg, const adbd_account *acct, const adb_logger *log, adbd_secrets **out,
                           adb_error *err);

/* SIGHUP: the keytab again (see above).  *changed: the copy krb5 reads was
 * replaced.  keytab_error when it cannot be read again (the message says
 * what to do); the previous copy stays. */
adb_code adbd_secrets_reload_keytab(adbd_secrets *s, const adb_logger *log, bool *changed, adb_error *err);

/* Removes the daemon's own credentials directory, if it made one. */
void adbd_secrets_free(adbd_secrets *s);

/* After the privilege drop: every file the daemon opens later (the broker's
 * and the DCs' CA files, the client certificate and key, the proxy
 * credentials, read at each connection) must be readable now.
 * config_invalid naming the file, the user and the fix otherwise. */
adb_code adbd_secrets_check_readable(const adb_config *cfg, adb_error *err);

#endif
