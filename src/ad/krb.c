/* Machine-account Kerberos credentials (see include/adbridge/krb.h). */
#include "config.h"

#include <adbridge/fileio.h>
#include <adbridge/krb.h>
#include <adbridge/krbtrace.h>

#include <errno.h>
#include <gssapi/gssapi_krb5.h>
#include <krb5/krb5.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum {
    REFRESH_MARGIN_S = 300,  /* renew when the TGT expires within this */
    KEYTAB_ID_MAX = 200,
};

/* The ccache's record of the keytab it was made from (a krb5 ccache
 * configuration entry, so it is written and replaced with the tickets). */
#define CONF_KEYTAB "adbridge-keytab"

struct adb_krb {
    pthread_mutex_t lock;
    krb5_context kctx;
    krb5_principal principal;
    krb5_ccache cc;          /* NULL until the first refresh with a ccache_file */
    char *keytab_path;
    char *principal_name;
    char *realm;
    const char *ccname;      /* file_ccname or mem_ccname */
    char *file_ccname;       /* "FILE:<ccache_file>"; NULL: memory only */
    char *mem_ccname;        /* "MEMORY:..."; also the fallback when the file cannot be written */
    const adb_logger *log;
    bool file_tried;         /* the file was consulted (once per process) */
    time_t endtime;
    int kvno;
    adb_krb_trace trace;     /* KDCs MIT contacted during the last refresh */
};

static adb_code krb_fail(adb_krb *k, krb5_error_code code, adb_error *err, adb_code ec,
                         const char *what)
{
    const char *msg = krb5_get_error_message(k->kctx, code);
    adb_error_set(err, ec, "%s: %s", what, msg);
    krb5_free_error_message(k->kctx, msg);
    return ec;
}

static bool is_machine_principal(krb5_context ctx, krb5_const_principal p)
{
    const krb5_data *c;

    (void)ctx;  /* the accessor macros ignore it */
    if (krb5_princ_size(ctx, p) != 1)
        return false;
    c = krb5_princ_component(ctx, p, 0);
    return c->length > 1 && c->data[c->length - 1] == '$';
}

/* Finds the principal (given or first NAME$ entry) and its highest kvno. */
static adb_code scan_keytab(adb_krb *k, const char *wanted, adb_error *err)
{
    krb5_keytab kt;
    krb5_kt_cursor cur;
    krb5_keytab_entry e;
    krb5_error_code code;
    int kvno = -1;

    if (access(k->keytab_path, R_OK) != 0) {
        int e_no = errno;
        return adb_error_set(err, ADB_E_KEYTAB, "keytab %s: %s%s", k->keytab_path, strerror(e_no),
                             e_no == ENOENT ? " (join the host with adcli join, or set \"keytab\" in the configuration)"
                             : e_no == EACCES ? " (the bridge's user must be able to read it; keep it mode 0600 owned by that user)"
                                              : "");
    }
    if (k->principal == NULL && wanted != NULL
        && (code = krb5_parse_name(k->kctx, wanted, &k->principal)) != 0)
        return krb_fail(k, code, err, ADB_E_CONFIG, wanted);
    if ((code = krb5_kt_resolve(k->kctx, k->keytab_path, &kt)) != 0)
        return krb_fail(k, code, err, ADB_E_KEYTAB, k->keytab_path);
    if ((code = krb5_kt_start_seq_get(k->kctx, kt, &cur)) != 0) {
        krb5_kt_close(k->kctx, kt);
        return krb_fail(k, code, err, ADB_E_KEYTAB, k->keytab_path);
    }
    while (krb5_kt_next_entry(k->kctx, kt, &e, &cur) == 0) {
        bool match;
        if (k->principal != NULL)
            match = krb5_principal_compare(k->kctx, e.principal, k->principal);
        else if ((match = is_machine_principal(k->kctx, e.principal)))
            krb5_copy_principal(k->kctx, e.principal, &k->principal);
        if (match && (int)e.vno > kvno)
            kvno = (int)e.vno;
        krb5_free_keytab_entry_contents(k->kctx, &e);
    }
    krb5_kt_end_seq_get(k->kctx, kt, &cur);
    krb5_kt_close(k->kctx, kt);
    if (kvno < 0)
        return adb_error_set(err, ADB_E_KEYTAB, "keytab %s has no key for %s (check \"machine_principal\" "
                             "or re-join the host with adcli join)", k->keytab_path,
                             wanted != NULL ? wanted : "a machine account (NAME$@REALM)");
    k->kvno = kvno;
    return ADB_OK;
}

adb_code adb_krb_new(const char *keytab, const char *principal, adb_krb **out, adb_error *err)
{
    return adb_krb_new_with(keytab, principal, NULL, out, err);
}

/* A private, process-local cache: never the user's cache. */
static adb_code new_memory_ccache(adb_krb *k, adb_error *err)
{
    krb5_error_code code;
    char *name = NULL;

    if ((code = krb5_cc_new_unique(k->kctx, "MEMORY", NULL, &k->cc)) != 0
        || (code = krb5_cc_get_full_name(k->kctx, k->cc, &name)) != 0)
        return krb_fail(k, code, err, ADB_E_KERBEROS, "cannot create a memory credential cache");
    k->mem_ccname = strdup(name);
    krb5_free_string(k->kctx, name);
    if (k->mem_ccname == NULL)
        return adb_error_set(err, ADB_E_NOMEM, "out of memory");
    k->ccname = k->mem_ccname;
    return ADB_OK;
}

adb_code adb_krb_new_with(const char *keytab, const char *principal, const adb_krb_options *opts, adb_krb **out,
                          adb_error *err)
{
    adb_krb *k = calloc(1, sizeof *k);
    krb5_error_code code;
    char *name = NULL;
    adb_code rc;

    *out = NULL;
    if (k == NULL)
        return adb_error_set(err, ADB_E_NOMEM, "out of memory");
    pthread_mutex_init(&k->lock, NULL);
    if ((code = krb5_init_context(&k->kctx)) != 0) {
        free(k);
        return adb_error_set(err, ADB_E_KERBEROS, "cannot initialise Kerberos (krb5.conf or KRB5_CONFIG "
                             "unreadable?): error %d", (int)code);
    }
    k->keytab_path = strdup(keytab);
    if (k->keytab_path == NULL) {
        adb_krb_free(k);
        return adb_error_set(err, ADB_E_NOMEM, "out of memory");
    }
    if ((rc = scan_keytab(k, principal, err)) != ADB_OK) {
        adb_krb_free(k);
        return rc;
    }
    if ((code = krb5_unparse_name(k->kctx, k->principal, &name)) != 0
        || (k->principal_name = strdup(name)) == NULL
        || (k->realm = strndup(krb5_princ_realm(k->kctx, k->principal)->data,
                               krb5_princ_realm(k->kctx, k->principal)->length)) == NULL) {
        krb5_free_unparsed_name(k->kctx, name);
        adb_krb_free(k);
        return adb_error_set(err, ADB_E_NOMEM, "out of memory");
    }
    krb5_free_unparsed_name(k->kctx, name);
    if (opts != NULL)
        k->log = opts->log;
    if (opts != NULL && opts->ccache_file != NULL) {
        /* Opened at the first refresh: nothing is read before it is needed. */
        size_t n = strlen(opts->ccache_file) + sizeof "FILE:";
        if ((k->file_ccname = malloc(n)) == NULL) {
            adb_krb_free(k);
            return adb_error_set(err, ADB_E_NOMEM, "out of memory");
        }
        snprintf(k->file_ccname, n, "FILE:%s", opts->ccache_file);
        k->ccname = k->file_ccname;
    } else if ((rc = new_memory_ccache(k, err)) != ADB_OK) {
        adb_krb_free(k);
        return rc;
    }
    krb5_set_trace_callback(k->kctx, adb_krb_trace_cb, &k->trace);
    *out = k;
    return ADB_OK;
}

void adb_krb_free(adb_krb *k)
{
    if (k == NULL)
        return;
    if (k->cc != NULL && k->ccname == k->mem_ccname)
        krb5_cc_destroy(k->kctx, k->cc);
    else if (k->cc != NULL)
        krb5_cc_close(k->kctx, k->cc);   /* the file stays for the next process */
    if (k->principal != NULL)
        krb5_free_principal(k->kctx, k->principal);
    if (k->kctx != NULL)
        krb5_free_context(k->kctx);
    pthread_mutex_destroy(&k->lock);
    free(k->keytab_path);
    free(k->principal_name);
    free(k->realm);
    free(k->file_ccname);
    free(k->mem_ccname);
    free(k);
}

/* Maps an AS exchange failure to a code and a message that says what to do. */
static adb_code init_creds_error(adb_krb *k, krb5_error_code code, adb_error *err)
{
    char tried[400];

    switch (code) {
    case KRB5_KDC_UNREACH:
    case KRB5_REALM_CANT_RESOLVE:
    case KRB5_REALM_UNKNOWN:
        adb_krb_trace_tried(&k->trace, "none found: check the realm's kdc entries in krb5.conf or its _kerberos "
                            "SRV records", tried, sizeof tried);
        return adb_error_set(err, ADB_E_DC_UNAVAILABLE,
                             "cannot reach a KDC for realm %s (tried: %s)", k->realm, tried);
    case KRB5KRB_AP_ERR_SKEW:
        return adb_error_set(err, ADB_E_CLOCK_SKEW,
                             "clock skew too great between this host and the KDC of %s: "
                             "synchronise the clock with NTP (the domain controllers are the time source)",
                             k->realm);
    case KRB5KDC_ERR_C_PRINCIPAL_UNKNOWN:
        return adb_error_set(err, ADB_E_KERBEROS,
                             "%s is unknown to the KDC: the computer account was deleted or renamed; "
                             "re-join the host (adcli join)", k->principal_name);
    case KRB5KDC_ERR_CLIENT_REVOKED:
        return adb_error_set(err, ADB_E_KERBEROS,
                             "%s is disabled or locked in AD: enable the computer account", k->principal_name);
    case KRB5KDC_ERR_PREAUTH_FAILED:
    case KRB5KRB_AP_ERR_BAD_INTEGRITY:
    case KRB5KDC_ERR_ETYPE_NOSUPP:
        return adb_error_set(err, ADB_E_KERBEROS,
                             "the KDC refused the key of %s (keytab kvno %d): the keytab is out of date "
                             "with the account's password; run adcli update or re-join the host",
                             k->principal_name, k->kvno);
    case KRB5_KT_NOTFOUND:
    case KRB5_KT_KVNONOTFOUND:
        return adb_error_set(err, ADB_E_KEYTAB,
                             "keytab %s has no usable key for %s: re-join the host (adcli join)",
                             k->keytab_path, k->principal_name);
    default:
        return krb_fail(k, code, err, ADB_E_KERBEROS, k->principal_name);
    }
}

/* What the ccache records of the keytab: any change to the file (a
 * rotation, a replacement, a re-ordered copy) makes a new login.  st is
 * taken before the keytab is read, so a change during the read shows next
 * time. */
static void keytab_identity(const struct stat *st, int kvno, char *buf, size_t size)
{
    snprintf(buf, size, "v1,kvno=%d,size=%lld,mtime=%lld.%09ld,ino=%llu,dev=%llu", kvno, (long long)st->st_size,
             (long long)st->st_mtim.tv_sec, (long)st->st_mtim.tv_nsec, (unsigned long long)st->st_ino,
             (unsigned long long)st->st_dev);
}

/* The ccache file's TGT, when it may be used as it is (see krb.h); else
 * *why says why not and the file is left alone. */
static bool load_file(adb_krb *k, const char **why)
{
    const krb5_data *realm = krb5_princ_realm(k->kctx, k->principal);
    krb5_ccache cc = NULL;
    krb5_principal owner = NULL;
    krb5_data recorded = { 0 };
    krb5_creds match, creds;
    struct stat kst;
    char want[KEYTAB_ID_MAX];
    bool ok = false;
    adb_code rc;

    /* It holds a secret (the TGT's session key): the checks of every secret
     * file.  A link, another user's, or readable by others: never used. */
    if ((rc = adb_secret_file_check(k->file_ccname + 5, "machine ccache", NULL)) != ADB_OK) {
        *why = rc == ADB_E_NOT_FOUND ? "none" : rc == ADB_E_IO ? "unreadable" : "unsafe";
        return false;
    }
    if (stat(k->keytab_path, &kst) != 0) {
        *why = "keytab_unreadable";
        return false;
    }
    keytab_identity(&kst, k->kvno, want, sizeof want);
    memset(&match, 0, sizeof match);
    memset(&creds, 0, sizeof creds);
    if (krb5_cc_resolve(k->kctx, k->file_ccname, &cc) != 0 || krb5_cc_get_principal(k->kctx, cc, &owner) != 0) {
        *why = "unreadable";
        goto out;
    }
    if (!krb5_principal_compare(k->kctx, owner, k->principal)) {
        *why = "foreign";
        goto out;
    }
    if (krb5_cc_get_config(k->kctx, cc, NULL, CONF_KEYTAB, &recorded) != 0 || recorded.length != strlen(want)
        || memcmp(recorded.data, want, recorded.length) != 0) {
        *why = "keytab_changed";
        goto out;
    }
    match.client = k->principal;
    if (krb5_build_principal_ext(k->kctx, &match.server, realm->length, realm->data, 6, "krbtgt", realm->length,
                                 realm->data, 0) != 0
        || krb5_cc_retrieve_cred(k->kctx, cc, 0, &match, &creds) != 0) {
        *why = "no_tgt";
        goto out;
    }
    if ((time_t)creds.times.endtime <= time(NULL) + REFRESH_MARGIN_S) {
        *why = "expiring";
        goto out;
    }
    k->endtime = (time_t)creds.times.endtime;
    k->cc = cc;
    cc = NULL;
    ok = true;
out:
    krb5_free_cred_contents(k->kctx, &creds);
    krb5_free_principal(k->kctx, match.server);
    krb5_free_principal(k->kctx, owner);
    krb5_free_data_contents(k->kctx, &recorded);
    if (cc != NULL)
        krb5_cc_close(k->kctx, cc);
    return ok;
}

/* A new ccache file with creds and the keytab's identity, renamed over
 * the old one: readers see the old file or the new one, never a part.
 * MIT creates it 0600 (O_EXCL, after unlinking whatever had the name). */
static krb5_error_code store_file(adb_krb *k, krb5_creds *creds, const char *identity)
{
    const char *path = k->file_ccname + 5;
    char copy[KEYTAB_ID_MAX];
    krb5_data value = { .length = (unsigned)snprintf(copy, sizeof copy, "%s", identity), .data = copy };
    krb5_ccache tmp = NULL;
    krb5_error_code code;
    size_t n = strlen(k->file_ccname) + 48;
    char *tmpname = malloc(n);

    if (tmpname == NULL)
        return ENOMEM;
    snprintf(tmpname, n, "%s.tmp.%ld.%lx", k->file_ccname, (long)getpid(), (unsigned long)(uintptr_t)k & 0xffffff);
    if ((code = krb5_cc_resolve(k->kctx, tmpname, &tmp)) == 0
        && (code = krb5_cc_initialize(k->kctx, tmp, k->principal)) == 0
        && (code = krb5_cc_store_cred(k->kctx, tmp, creds)) == 0
        && (code = krb5_cc_set_config(k->kctx, tmp, NULL, CONF_KEYTAB, &value)) == 0
        && rename(tmpname + 5, path) != 0)
        code = errno;
    if (tmp != NULL)
        krb5_cc_close(k->kctx, tmp);
    if (code != 0)
        unlink(tmpname + 5);
    free(tmpname);
    if (code == 0 && k->cc == NULL)
        code = krb5_cc_resolve(k->kctx, k->file_ccname, &k->cc);
    return code;
}

/* Stores creds in the process's ccache: the file when there is one, else
 * (or when the file cannot be written: said at warn) memory. */
static adb_code store_creds(adb_krb *k, krb5_creds *creds, const char *identity, adb_error *err)
{
    krb5_error_code code;
    adb_code rc;

    if (k->ccname == k->file_ccname) {
        const char *msg;
        char file[300], why[300];
        if ((code = store_file(k, creds, identity)) == 0)
            return ADB_OK;
        msg = krb5_get_error_message(k->kctx, code);
        adb_log(k->log, ADB_LOG_WARN, "machine_ccache_unwritable", "file=%s error=%s",
                adb_log_value(file, sizeof file, k->file_ccname + 5), adb_log_value(why, sizeof why, msg));
        krb5_free_error_message(k->kctx, msg);
        if (k->cc != NULL)
            krb5_cc_close(k->kctx, k->cc);
        k->cc = NULL;
        if ((rc = new_memory_ccache(k, err)) != ADB_OK)
            return rc;
    }
    if ((code = krb5_cc_initialize(k->kctx, k->cc, k->principal)) != 0
        || (code = krb5_cc_store_cred(k->kctx, k->cc, creds)) != 0)
        return krb_fail(k, code, err, ADB_E_KERBEROS, "cannot store the machine TGT in memory");
    return ADB_OK;
}

adb_code adb_krb_refresh(adb_krb *k, bool force, adb_error *err)
{
    krb5_get_init_creds_opt *opt = NULL;
    krb5_keytab kt = NULL;
    krb5_creds creds;
    krb5_error_code code;
    adb_code rc = ADB_OK;
    const char *why;
    char identity[KEYTAB_ID_MAX] = "";
    struct stat kst;

    pthread_mutex_lock(&k->lock);
    why = force ? "forced" : k->endtime == 0 ? "none" : "expiring";   /* endtime: under the lock */
    if (!force && k->endtime > time(NULL) + REFRESH_MARGIN_S)
        goto out;
    /* First use in this process: the ticket an earlier one left, if it may be used. */
    if (k->ccname == k->file_ccname && !k->file_tried) {
        k->file_tried = true;
        if (!force && load_file(k, &why)) {
            adb_log(k->log, ADB_LOG_DEBUG, "machine_ccache_reused", "principal=%s kvno=%d expires_in_s=%lld",
                    k->principal_name, k->kvno, (long long)(k->endtime - time(NULL)));
            goto out;
        }
    }
    /* Read the keytab again: a rotation may have added a newer kvno. */
    if (stat(k->keytab_path, &kst) != 0)
        memset(&kst, 0, sizeof kst);   /* scan_keytab says why */
    if ((rc = scan_keytab(k, k->principal_name, err)) != ADB_OK)
        goto out;
    keytab_identity(&kst, k->kvno, identity, sizeof identity);
    memset(&creds, 0, sizeof creds);
    memset(&k->trace, 0, sizeof k->trace);
    if ((code = krb5_kt_resolve(k->kctx, k->keytab_path, &kt)) != 0
        || (code = krb5_get_init_creds_opt_alloc(k->kctx, &opt)) != 0) {
        rc = krb_fail(k, code, err, ADB_E_KEYTAB, k->keytab_path);
        goto out;
    }
    krb5_get_init_creds_opt_set_forwardable(opt, 0);
    krb5_get_init_creds_opt_set_proxiable(opt, 0);
    code = krb5_get_init_creds_keytab(k->kctx, &creds, k->principal, kt, 0, NULL, opt);
    if (code != 0) {
        rc = init_creds_error(k, code, err);
        goto out;
    }
    if ((rc = store_creds(k, &creds, identity, err)) == ADB_OK) {
        k->endtime = (time_t)creds.times.endtime;
        adb_log(k->log, ADB_LOG_DEBUG, "machine_login", "principal=%s kvno=%d ccache=%s reason=%s",
                k->principal_name, k->kvno, k->ccname == k->file_ccname ? "file" : "memory", why);
    }
    krb5_free_cred_contents(k->kctx, &creds);
out:
    if (opt != NULL)
        krb5_get_init_creds_opt_free(k->kctx, opt);
    if (kt != NULL)
        krb5_kt_close(k->kctx, kt);
    pthread_mutex_unlock(&k->lock);
    return rc;
}

const char *adb_krb_ccache_name(const adb_krb *k) { return k->ccname; }
const char *adb_krb_principal(const adb_krb *k) { return k->principal_name; }
const char *adb_krb_realm(const adb_krb *k) { return k->realm; }
const char *adb_krb_keytab(const adb_krb *k) { return k->keytab_path; }
time_t adb_krb_expiry(const adb_krb *k) { return k->endtime; }
int adb_krb_kvno(const adb_krb *k) { return k->kvno; }

adb_code adb_krb_use_on_this_thread(const adb_krb *k, adb_error *err)
{
    OM_uint32 minor;

    if (gss_krb5_ccache_name(&minor, k->ccname, NULL) != GSS_S_COMPLETE)
        return adb_error_set(err, ADB_E_KERBEROS, "cannot select credential cache %s for GSSAPI", k->ccname);
    return ADB_OK;
}
