/* Machine-account Kerberos credentials (MIT krb5).
 *
 * The bridge authenticates as the host's own machine account (NAME$@REALM)
 * with the key in the host keytab written at join.  By default tickets live
 * in a MEMORY credential cache private to the process (the daemon): nothing
 * is written to disk or shared with other programs.  The keytab is read
 * again at every refresh, so a machine password rotation (adcli update
 * raising the kvno) is picked up without a restart.
 *
 * A short-lived process (the CLI) may keep them in a FILE ccache instead
 * (adb_krb_options.ccache_file, in the 0700 state directory), as SSSD keeps
 * the machine's ccache: the TGT and the service tickets GSSAPI adds to it
 * serve the next run without a KDC.  The file is created 0600 (a new file,
 * renamed into place), trusted only when it passes the checks of every
 * secret file (fileio.h: regular, not a link, this user's or root's, closed
 * to group and others), holds this principal's TGT valid for more than
 * the refresh margin, and records the keytab it was made from (kvno, size,
 * mtime, inode) equal to the keytab now: a rotated or replaced keytab makes
 * a new login, and so does anything unreadable or foreign. */
#ifndef ADBRIDGE_KRB_H
#define ADBRIDGE_KRB_H

#include <adbridge/error.h>
#include <adbridge/log.h>

#include <stdbool.h>
#include <time.h>

typedef struct adb_krb adb_krb;

/* Opens the keytab and picks the principal: `principal` when not NULL, else
 * the keytab's first NAME$@REALM entry.  Does not contact a KDC. */
adb_code adb_krb_new(const char *keytab, const char *principal, adb_krb **out, adb_error *err);

typedef struct adb_krb_options {
    const char *ccache_file;   /* kept between processes (see above); NULL: a MEMORY ccache */
    const adb_logger *log;     /* machine logins and ccache reuse, at debug; may be NULL */
} adb_krb_options;

/* adb_krb_new with options (NULL: the defaults, as adb_krb_new). */
adb_code adb_krb_new_with(const char *keytab, const char *principal, const adb_krb_options *opts, adb_krb **out,
                          adb_error *err);

void adb_krb_free(adb_krb *k);

/* Gets a TGT when there is none, when it expires within five minutes, or
 * when `force` is set.  With a ccache_file, "none" is first answered from
 * the file (see above), and a new TGT replaces the file.  Thread-safe.
 * Errors: keytab_error (missing, unreadable, no such principal or kvno),
 * dc_unavailable (names the KDCs tried), clock_skew, kerberos_error (key
 * mismatch, account unknown or disabled: the message says which and how to
 * fix it). */
adb_code adb_krb_refresh(adb_krb *k, bool force, adb_error *err);

/* "MEMORY:..." or "FILE:..." — for GSSAPI users (see adb_krb_use_on_this_thread). */
const char *adb_krb_ccache_name(const adb_krb *k);

/* Makes GSSAPI on the calling thread use this cache (gss_krb5_ccache_name). */
adb_code adb_krb_use_on_this_thread(const adb_krb *k, adb_error *err);

const char *adb_krb_principal(const adb_krb *k);
const char *adb_krb_realm(const adb_krb *k);
const char *adb_krb_keytab(const adb_krb *k);

/* End time of the current TGT; 0 when none. */
time_t adb_krb_expiry(const adb_krb *k);

/* Highest key version of the principal found in the keytab at the last refresh. */
int adb_krb_kvno(const adb_krb *k);

#endif
