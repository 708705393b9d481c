/* Password verification with Kerberos (see include/adbridge/pwcheck.h):
 * the configuration overlay, the checker and its krb5 contexts, and one
 * check -- the AS exchange and the verification with the host keytab.
 * Why a check failed is worked out in pwcheck_reason.c (from the KDC) and
 * pwcheck_account.c (from the directory). */
#include "config.h"

#include "pwcheck_internal.h"

#include <adbridge/clock.h>
#include <adbridge/krbtrace.h>

#include <errno.h>
#include <krb5/krb5.h>
#include <profile.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum {
    IDLE_CONTEXTS = 8,        /* krb5 contexts kept for reuse */
    TICKET_LIFETIME_S = 300,  /* the TGT is thrown away at once */
    MAX_OVERRIDES = 34,       /* kdc_timesync, the preauth modules, explicit KDCs of 32 realms */
    SPEC_SLOTS = 2,           /* early checks deriving their key ahead at once (pwcheck_early.c) */
    /* ... and how many a second: a key derived ahead is wasted when the
     * check is refused (an unknown user, a lockout), so a flood of those
     * costs at most 20 x ~5 ms of CPU a second, after a burst of 10. */
    SPEC_PER_S = 20,
    SPEC_BURST = 10,
};

/* ---- the configuration overlay (a profile vtable) ----
 *
 * MIT reads every setting through the context's profile.  The overlay
 * answers a few names itself and passes every other lookup to a private
 * copy of the krb5.conf profile. */

typedef struct override {
    char *names[4];         /* section, subsection/tag, tag, NULL */
    char **values;          /* NULL-terminated */
} override;

typedef struct overlay_shared {
    pthread_mutex_t lock;   /* the overrides, and krb5_get_profile(source) */
    krb5_context source;    /* the context whose profile is krb5.conf */
    override ov[MAX_OVERRIDES];
    size_t n_ov;
} overlay_shared;

typedef struct overlay {
    overlay_shared *shared;
    profile_t base;
} overlay;

static bool names_equal(char *const *a, const char *const *b)
{
    size_t i = 0;

    for (; a[i] != NULL && b[i] != NULL; i++)
        if (strcmp(a[i], b[i]) != 0)   /* profile names are case-sensitive */
            return false;
    return a[i] == NULL && b[i] == NULL;
}

static char **copy_list(const char *const *values)
{
    size_t n = 0;
    char **out;

    while (values[n] != NULL)
        n++;
    if ((out = calloc(n + 1, sizeof *out)) == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if ((out[i] = strdup(values[i])) == NULL) {
            profile_free_list(out);
            return NULL;
        }
    }
    return out;
}

static long ov_get_values(void *cbdata, const char *const *names, char ***ret_values)
{
    const overlay *o = cbdata;
    overlay_shared *sh = o->shared;

    pthread_mutex_lock(&sh->lock);
    for (size_t i = 0; i < sh->n_ov; i++) {
        if (names_equal(sh->ov[i].names, names)) {
            *ret_values = copy_list((const char *const *)sh->ov[i].values);
            pthread_mutex_unlock(&sh->lock);
            return *ret_values != NULL ? 0 : ENOMEM;
        }
    }
    pthread_mutex_unlock(&sh->lock);
    return profile_get_values(o->base, names, ret_values);
}

static void ov_free_values(void *cbdata, char **values)
{
    (void)cbdata;
    profile_free_list(values);   /* both kinds are malloc'd lists */
}

static void ov_cleanup(void *cbdata)
{
    overlay *o = cbdata;

    profile_release(o->base);
    free(o);
}

/* krb5_init_context_profile copies the profile: each context gets its own
 * copy of the krb5.conf profile, as with krb5_init_context. */
static long ov_copy(void *cbdata, void **ret_cbdata)
{
    const overlay *o = cbdata;
    overlay_shared *sh = o->shared;
    overlay *c = calloc(1, sizeof *c);
    long rc;

    if (c == NULL)
        return ENOMEM;
    c->shared = sh;
    pthread_mutex_lock(&sh->lock);
    rc = krb5_get_profile(sh->source, &c->base);
    pthread_mutex_unlock(&sh->lock);
    if (rc != 0) {
        free(c);
        return rc;
    }
    *ret_cbdata = c;
    return 0;
}

static long ov_iterator_create(void *cbdata, const char *const *names, int flags, void **ret_iter)
{
    return profile_iterator_create(((overlay *)cbdata)->base, names, flags, ret_iter);
}

static long ov_iterator(void *cbdata, void *iter, char **ret_name, char **ret_value)
{
    (void)cbdata;
    return profile_iterator(&iter, ret_name, ret_value);
}

static void ov_iterator_free(void *cbdata, void *iter)
{
    (void)cbdata;
    profile_iterator_free(&iter);
}

static void ov_free_string(void *cbdata, char *s)
{
    (void)cbdata;
    profile_release_string(s);
}

static struct profile_vtable overlay_vtable = {
    .minor_ver = 1,
    .get_values = ov_get_values,
    .free_values = ov_free_values,
    .cleanup = ov_cleanup,
    .copy = ov_copy,
    .iterator_create = ov_iterator_create,
    .iterator = ov_iterator,
    .iterator_free = ov_iterator_free,
    .free_string = ov_free_string,
};

/* ---- the checker ---- */

struct adb_pwcheck {
    pthread_mutex_t lock;
    overlay_shared shared;
    profile_t profile;          /* the overlay; copied into every context */
    adb_krb *machine;           /* its TGT armors the AS exchange (FAST) */
    char *keytab;
    char *realm;
    char *verify_name;
    bool unarmored;             /* options.unarmored */
    krb5_context idle[IDLE_CONTEXTS];
    int n_idle;
    unsigned early;             /* early checks running (pwcheck_early.c) */
    unsigned spec_slots;        /* bit i: slot i taken */
    double spec_tokens;         /* derivations ahead allowed now (SPEC_PER_S, SPEC_BURST) */
    int64_t spec_refill_ms;     /* adb_mono_ms of the last refill */
    pthread_cond_t early_ended;
};

static adb_code krb_error(krb5_context ctx, krb5_error_code code, adb_error *err, adb_code ec, const char *what)
{
    const char *msg = krb5_get_error_message(ctx, code);
    adb_error_set(err, ec, "%s: %s", what, msg);
    krb5_free_error_message(ctx, msg);
    return ec;
}

/* host/FQDN@REALM of the keytab, the key a genuine KDC of REALM shares with
 * this host; NULL when there is none. */
static char *find_host_principal(krb5_context ctx, const char *keytab, const char *realm)
{
    krb5_keytab kt;
    krb5_kt_cursor cur;
    krb5_keytab_entry e;
    char *found = NULL;

    if (krb5_kt_resolve(ctx, keytab, &kt) != 0)
        return NULL;
    if (krb5_kt_start_seq_get(ctx, kt, &cur) == 0) {
        while (found == NULL && krb5_kt_next_entry(ctx, kt, &e, &cur) == 0) {
            const krb5_data *svc = krb5_princ_component(ctx, e.principal, 0);
            const krb5_data *host = krb5_princ_component(ctx, e.principal, 1);
            const krb5_data *r = krb5_princ_realm(ctx, e.principal);
            char *name;
            if (krb5_princ_size(ctx, e.principal) == 2 && svc->length == 4 && strncasecmp(svc->data, "host", 4) == 0
                && memchr(host->data, '.', host->length) != NULL && r->length == strlen(realm)
                && strncmp(r->data, realm, r->length) == 0 && krb5_unparse_name(ctx, e.principal, &name) == 0) {
                found = strdup(name);
                krb5_free_unparsed_name(ctx, name);
            }
            krb5_free_keytab_entry_contents(ctx, &e);
        }
        krb5_kt_end_seq_get(ctx, kt, &cur);
    }
    krb5_kt_close(ctx, kt);
    return found;
}

/* The keytab must hold a key for the verification principal, or every
 * check would fail: say so at start, not at the first check. */
static adb_code check_keytab(krb5_context ctx, const char *keytab, const char *name, adb_error *err)
{
    krb5_principal p = NULL;
    krb5_keytab kt = NULL;
    krb5_keytab_entry e;
    krb5_error_code code;

    if ((code = krb5_parse_name(ctx, name, &p)) != 0)
        return krb_error(ctx, code, err, ADB_E_CONFIG, name);
    if ((code = krb5_kt_resolve(ctx, keytab, &kt)) == 0
        && (code = krb5_kt_get_entry(ctx, kt, p, 0, 0, &e)) == 0)
        krb5_free_keytab_entry_contents(ctx, &e);
    if (kt != NULL)
        krb5_kt_close(ctx, kt);
    krb5_free_principal(ctx, p);
    if (code != 0)
        return adb_error_set(err, ADB_E_KEYTAB, "keytab %s has no key for %s, which verifies the KDC's answers to "
                             "password checks: re-join the host (adcli join) or set the verification principal",
                             keytab, name);
    return ADB_OK;
}

static void override_free(override *o)
{
    for (size_t i = 0; i < 3; i++)
        free(o->names[i]);
    profile_free_list(o->values);
    memset(o, 0, sizeof *o);
}

/* Sets (values not NULL) or removes the override for s1/s2/s3. */
static adb_code set_override(overlay_shared *sh, const char *s1, const char *s2, const char *s3,
                             const char *const *values, adb_error *err)
{
    const char *const names[] = { s1, s2, s3, NULL };
    override o;
    size_t i;

    memset(&o, 0, sizeof o);
    if (values != NULL && values[0] != NULL
        && ((o.names[0] = strdup(s1)) == NULL || (o.names[1] = strdup(s2)) == NULL
            || (s3 != NULL && (o.names[2] = strdup(s3)) == NULL) || (o.values = copy_list(values)) == NULL)) {
        override_free(&o);
        return adb_error_set(err, ADB_E_NOMEM, "out of memory");
    }
    pthread_mutex_lock(&sh->lock);
    for (i = 0; i < sh->n_ov && !names_equal(sh->ov[i].names, names); i++)
        ;
    if (i < sh->n_ov) {   /* replace or remove */
        override_free(&sh->ov[i]);
        if (o.values != NULL)
            sh->ov[i] = o;
        else
            sh->ov[i] = sh->ov[--sh->n_ov];
    } else if (o.values != NULL && sh->n_ov < MAX_OVERRIDES) {
        sh->ov[sh->n_ov++] = o;
    } else if (o.values != NULL) {
        pthread_mutex_unlock(&sh->lock);
        override_free(&o);
        return adb_error_set(err, ADB_E_INVALID_REQUEST, "explicit KDCs for more than %d realms", MAX_OVERRIDES - 1);
    }
    pthread_mutex_unlock(&sh->lock);
    return ADB_OK;
}

adb_code adb_pwcheck_new(adb_krb *machine, const adb_pwcheck_options *opts, adb_pwcheck **out,
                         adb_error *err)
{
    static const char *const no_timesync[] = { "0", NULL };   /* read as an integer */
    /* Smartcards and SPAKE never check an AD password; not loading their
     * modules (pkinit pulls in OpenSSL) saves each CLI check about 2 ms. */
    static const char *const unused_preauth[] = { "pkinit", "spake", NULL };
    adb_pwcheck *pc;
    overlay *root;
    krb5_error_code code;
    adb_code rc;

    *out = NULL;
    if ((pc = calloc(1, sizeof *pc)) == NULL)
        return adb_error_set(err, ADB_E_NOMEM, "out of memory");
    pthread_mutex_init(&pc->lock, NULL);
    pthread_cond_init(&pc->early_ended, NULL);
    pthread_mutex_init(&pc->shared.lock, NULL);
    if ((code = krb5_init_context(&pc->shared.source)) != 0) {
        pc->shared.source = NULL;
        rc = adb_error_set(err, ADB_E_KERBEROS, "cannot initialise Kerberos (krb5.conf or KRB5_CONFIG "
                           "unreadable?): error %ld", (long)code);
        goto fail;
    }
    pc->machine = machine;
    pc->unarmored = opts != NULL && opts->unarmored;
    pc->keytab = strdup(adb_krb_keytab(machine));
    pc->realm = strdup(opts != NULL && opts->realm != NULL ? opts->realm : adb_krb_realm(machine));
    if (pc->keytab == NULL || pc->realm == NULL) {
        rc = adb_error_set(err, ADB_E_NOMEM, "out of memory");
        goto fail;
    }
    if (opts != NULL && opts->verify_principal != NULL)
        pc->verify_name = strdup(opts->verify_principal);
    else if ((pc->verify_name = find_host_principal(pc->shared.source, pc->keytab, adb_krb_realm(machine))) == NULL)
        pc->verify_name = strdup(adb_krb_principal(machine));
    if (pc->verify_name == NULL) {
        rc = adb_error_set(err, ADB_E_NOMEM, "out of memory");
        goto fail;
    }
    if ((rc = check_keytab(pc->shared.source, pc->keytab, pc->verify_name, err)) != ADB_OK)
        goto fail;
    /* Report a skewed clock instead of adopting the (unverified) KDC's time. */
    if ((rc = set_override(&pc->shared, "libdefaults", "kdc_timesync", NULL, no_timesync, err)) != ADB_OK
        || (rc = set_override(&pc->shared, "plugins", "clpreauth", "disable", unused_preauth, err)) != ADB_OK
        || (opts != NULL && (rc = adb_pwcheck_set_kdcs(pc, pc->realm, opts->kdcs, err)) != ADB_OK))
        goto fail;
    if ((root = calloc(1, sizeof *root)) == NULL) {
        rc = adb_error_set(err, ADB_E_NOMEM, "out of memory");
        goto fail;
    }
    root->shared = &pc->shared;
    if ((code = krb5_get_profile(pc->shared.source, &root->base)) != 0) {
        free(root);
        rc = krb_error(pc->shared.source, code, err, ADB_E_KERBEROS, "cannot read the Kerberos configuration");
        goto fail;
    }
    if ((code = profile_init_vtable(&overlay_vtable, root, &pc->profile)) != 0) {
        ov_cleanup(root);
        rc = adb_error_set(err, ADB_E_KERBEROS, "cannot set up the Kerberos configuration overlay: error %ld",
                           (long)code);
        goto fail;
    }
    *out = pc;
    return ADB_OK;
fail:
    adb_pwcheck_free(pc);
    return rc;
}

void adb_pwcheck_free(adb_pwcheck *pc)
{
    if (pc == NULL)
        return;
    pthread_mutex_lock(&pc->lock);
    while (pc->early > 0)   /* a cancelled early check may still wait for a KDC */
        pthread_cond_wait(&pc->early_ended, &pc->lock);
    pthread_mutex_unlock(&pc->lock);
    for (int i = 0; i < pc->n_idle; i++)
        krb5_free_context(pc->idle[i]);
    if (pc->profile != NULL)
        profile_release(pc->profile);
    for (size_t i = 0; i < pc->shared.n_ov; i++)
        override_free(&pc->shared.ov[i]);
    if (pc->shared.source != NULL)
        krb5_free_context(pc->shared.source);
    pthread_mutex_destroy(&pc->shared.lock);
    pthread_mutex_destroy(&pc->lock);
    pthread_cond_destroy(&pc->early_ended);
    free(pc->keytab);
    free(pc->realm);
    free(pc->verify_name);
    free(pc);
}

adb_code adb_pwcheck_set_kdcs(adb_pwcheck *pc, const char *realm, const char *const *kdcs, adb_error *err)
{
    for (size_t i = 0; kdcs != NULL && kdcs[i] != NULL; i++)
        if (kdcs[i][0] == '\0' || strlen(kdcs[i]) > 300 || strpbrk(kdcs[i], " \t\r\n") != NULL)
            return adb_error_set(err, ADB_E_INVALID_REQUEST, "'%.300s' is not a KDC address (host or host:port)",
                                 kdcs[i]);
    if (realm == NULL || realm[0] == '\0')
        return adb_error_set(err, ADB_E_INVALID_REQUEST, "a realm is required for explicit KDCs");
    return set_override(&pc->shared, "realms", realm, "kdc", kdcs, err);
}

const char *adb_pwcheck_verify_principal(const adb_pwcheck *pc)
{
    return pc->verify_name;
}

static krb5_error_code context_get(adb_pwcheck *pc, krb5_context *out)
{
    krb5_error_code code = 0;

    pthread_mutex_lock(&pc->lock);
    if (pc->n_idle > 0)
        *out = pc->idle[--pc->n_idle];
    else
        code = krb5_init_context_profile(pc->profile, 0, out);
    pthread_mutex_unlock(&pc->lock);
    return code;
}

void pwcheck_hold(adb_pwcheck *pc)
{
    pthread_mutex_lock(&pc->lock);
    pc->early++;
    pthread_mutex_unlock(&pc->lock);
}

void pwcheck_release(adb_pwcheck *pc)
{
    pthread_mutex_lock(&pc->lock);
    if (--pc->early == 0)
        pthread_cond_broadcast(&pc->early_ended);
    pthread_mutex_unlock(&pc->lock);
}

int pwcheck_spec_slot_take(adb_pwcheck *pc)
{
    int64_t now = adb_mono_ms();
    int slot = -1;

    pthread_mutex_lock(&pc->lock);
    pc->spec_tokens += (double)(now - pc->spec_refill_ms) * SPEC_PER_S / 1000.0;
    if (pc->spec_tokens > SPEC_BURST || pc->spec_refill_ms == 0)
        pc->spec_tokens = SPEC_BURST;
    pc->spec_refill_ms = now;
    for (int i = 0; i < SPEC_SLOTS && slot < 0 && pc->spec_tokens >= 1.0; i++)
        if (!(pc->spec_slots & (1u << i))) {
            pc->spec_slots |= 1u << i;
            pc->spec_tokens -= 1.0;
            slot = i;
        }
    pthread_mutex_unlock(&pc->lock);
    return slot;
}

void pwcheck_spec_slot_give(adb_pwcheck *pc, int slot)
{
    pthread_mutex_lock(&pc->lock);
    pc->spec_slots &= ~(1u << slot);
    pthread_mutex_unlock(&pc->lock);
}

static void context_put(adb_pwcheck *pc, krb5_context ctx)
{
    krb5_set_trace_callback(ctx, NULL, NULL);
    krb5_set_kdc_send_hook(ctx, NULL, NULL);
    pthread_mutex_lock(&pc->lock);
    if (pc->n_idle < IDLE_CONTEXTS) {
        pc->idle[pc->n_idle++] = ctx;
        ctx = NULL;
    }
    pthread_mutex_unlock(&pc->lock);
    if (ctx != NULL)
        krb5_free_context(ctx);
}

/* ---- one check ---- */

static bool user_valid(const char *user, adb_error *err)
{
    size_t len = user != NULL ? strlen(user) : 0;
    const char *at = user != NULL ? strrchr(user, '@') : NULL;

    if (len == 0 || len > ADB_PWCHECK_USER_MAX)
        return adb_error_set(err, ADB_E_INVALID_REQUEST, "a user name of 1 to %d bytes is required",
                             ADB_PWCHECK_USER_MAX) == ADB_OK;
    for (const char *p = user; *p != '\0'; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return adb_error_set(err, ADB_E_INVALID_REQUEST, "the user name contains a control character") == ADB_OK;
    if (strchr(user, '\\') != NULL)
        return adb_error_set(err, ADB_E_INVALID_REQUEST, "DOMAIN\\name must be resolved by a directory lookup "
                             "first; give a UPN (name@suffix) or a sAMAccountName") == ADB_OK;
    if (at == user || (at != NULL && at[1] == '\0') || (at == NULL && strchr(user, '/') != NULL))
        return adb_error_set(err, ADB_E_INVALID_REQUEST, "'%s' is neither a UPN (name@suffix) nor a "
                             "sAMAccountName", user) == ADB_OK;
    return true;
}

/* UPN: enterprise principal, so the KDC looks the account up by UPN (or
 * implicit UPN) and refers us to its realm; bare name: name@REALM. */
static krb5_error_code parse_client(krb5_context ctx, const char *user, const char *realm, krb5_principal *out)
{
    krb5_error_code code;

    if (strchr(user, '@') != NULL)
        code = krb5_parse_name_flags(ctx, user, KRB5_PRINCIPAL_PARSE_ENTERPRISE, out);
    else
        code = krb5_parse_name_flags(ctx, user, KRB5_PRINCIPAL_PARSE_NO_REALM, out);
    if (code == 0 && (code = krb5_set_principal_realm(ctx, *out, realm)) != 0) {
        krb5_free_principal(ctx, *out);
        *out = NULL;
    }
    return code;
}

/* krb5_verify_init_creds: fails closed.  Returns ADB_OK when verified;
 * dc_unavailable sets the reason (the verification ticket could not be
 * fetched); anything else is an error. */
static adb_code verify(adb_pwcheck *pc, krb5_context ctx, krb5_creds *creds, const adb_krb_trace *t,
                       adb_pwcheck_result *out, adb_error *err)
{
    krb5_verify_init_creds_opt vopt;
    krb5_principal server = NULL;
    krb5_keytab kt = NULL;
    krb5_error_code code;
    char what[600], tried[300];

    krb5_verify_init_creds_opt_init(&vopt);
    krb5_verify_init_creds_opt_set_ap_req_nofail(&vopt, TRUE);
    if ((code = krb5_parse_name(ctx, pc->verify_name, &server)) == 0
        && (code = krb5_kt_resolve(ctx, pc->keytab, &kt)) == 0)
        code = krb5_verify_init_creds(ctx, creds, server, kt, NULL, &vopt);
    if (kt != NULL)
        krb5_kt_close(ctx, kt);
    krb5_free_principal(ctx, server);
    out->krb5_code = code;
    switch (code) {
    case 0:
        return ADB_OK;
    case KRB5_KDC_UNREACH:
    case KRB5_REALM_CANT_RESOLVE:
        out->reason = ADB_AUTH_DC_UNAVAILABLE;
        adb_krb_trace_tried(t, "none found in krb5.conf or DNS", tried, sizeof tried);
        return adb_error_set(err, ADB_E_DC_UNAVAILABLE, "the password was accepted but no KDC could be reached to "
                             "verify the answer against %s (tried: %s)", pc->verify_name, tried);
    case KRB5_KT_NOTFOUND:
    case KRB5_KT_KVNONOTFOUND:
    case ENOENT:
        return krb_error(ctx, code, err, ADB_E_KEYTAB, pc->keytab);
    default:
        /* Most likely: the service ticket does not decrypt with the keytab
         * key (a KDC that does not know it, or an out-of-date keytab). */
        snprintf(what, sizeof what, "the KDC's answer could not be verified with the key of %s in %s, so the "
                 "password is not accepted (a KDC that is not genuine, or the keytab is out of date: adcli update)",
                 pc->verify_name, pc->keytab);
        return krb_error(ctx, code, err, ADB_E_KERBEROS, what);
    }
}

static void realm_of(krb5_context ctx, krb5_const_principal p, char *buf, size_t size)
{
    const krb5_data *r = krb5_princ_realm(ctx, p);

    (void)ctx;
    snprintf(buf, size, "%.*s", (int)r->length, r->data);
}

/* One AS exchange for client.  Armored (FAST, RFC 6113) with the machine's
 * TGT when `armor`: the reply is then encrypted under a key only a KDC that
 * holds the krbtgt key can derive, so it is genuine without a verification
 * ticket (a spoofed KDC cannot make a wrong password pass), and the KDC's
 * errors are authenticated too.  Returns the krb5 code. */
static krb5_error_code as_exchange(adb_pwcheck *pc, krb5_context ctx, krb5_principal client,
                                   const adb_secret *password, pwcheck_gate *gate, bool armor,
                                   krb5_init_creds_context *icc)
{
    krb5_get_init_creds_opt *opt = NULL;
    krb5_error_code code;

    *icc = NULL;
    if ((code = krb5_get_init_creds_opt_alloc(ctx, &opt)) != 0)
        return code;
    krb5_get_init_creds_opt_set_canonicalize(opt, 1);
    krb5_get_init_creds_opt_set_forwardable(opt, 0);
    krb5_get_init_creds_opt_set_proxiable(opt, 0);
    krb5_get_init_creds_opt_set_renew_life(opt, 0);
    krb5_get_init_creds_opt_set_tkt_life(opt, TICKET_LIFETIME_S);
    krb5_get_init_creds_opt_set_change_password_prompt(opt, 0);
    if (armor
        && ((code = krb5_get_init_creds_opt_set_fast_ccache_name(ctx, opt, adb_krb_ccache_name(pc->machine))) != 0
            || (code = krb5_get_init_creds_opt_set_fast_flags(ctx, opt, KRB5_FAST_REQUIRED)) != 0))
        goto out;
    /* The step API: no second try against a "primary" KDC (which would
     * make AD count one wrong password twice), no ccache.  Behind a gate,
     * krb5 gets the key derived ahead (pwcheck_spec), or the password from
     * the gate's prompter when it needs it. */
    if (gate != NULL && gate->spec.kt != NULL) {
        if ((code = krb5_init_creds_init(ctx, client, NULL, NULL, 0, opt, icc)) == 0)
            code = pwcheck_spec_attach(gate, ctx, *icc);
    } else if (gate != NULL)
        code = krb5_init_creds_init(ctx, client, pwcheck_gate_prompter, gate, 0, opt, icc);
    else if ((code = krb5_init_creds_init(ctx, client, NULL, NULL, 0, opt, icc)) == 0)
        code = krb5_init_creds_set_password(ctx, *icc, adb_secret_str(password));
    if (code == 0)
        code = krb5_init_creds_get(ctx, *icc);
out:
    krb5_get_init_creds_opt_free(ctx, opt);
    return code;
}

/* An error a KDC sent (as opposed to one of krb5's own). */
static bool kdc_said(krb5_error_code code)
{
    return code >= ERROR_TABLE_BASE_krb5 && code < ERROR_TABLE_BASE_krb5 + 128;
}

/* An armored exchange that failed before the KDC judged the password: no
 * armor ticket (machine TGT expired, cross-realm TGT refused) or a KDC
 * without FAST (its PREAUTH_REQUIRED comes back unarmored and MIT stops
 * there).  Then the check runs again unarmored, with a verification ticket. */
static bool armor_failed(krb5_error_code code, adb_auth_reason reason)
{
    return reason == ADB_AUTH_NONE || code == KRB5KDC_ERR_PREAUTH_REQUIRED;
}

adb_code adb_pwcheck_password(adb_pwcheck *pc, const char *user, const adb_secret *password,
                              adb_pwcheck_result *out, adb_error *err)
{
    return pwcheck_run(pc, user, password, NULL, out, err);
}

adb_code pwcheck_run(adb_pwcheck *pc, const char *user, const adb_secret *password, pwcheck_gate *gate,
                     adb_pwcheck_result *out, adb_error *err)
{
    krb5_context ctx = NULL;
    krb5_principal client = NULL;
    krb5_init_creds_context icc = NULL;
    krb5_creds creds;
    krb5_error *kerr = NULL;
    krb5_error_code code;
    adb_krb_trace trace;
    adb_code rc = ADB_OK;
    char *name = NULL;
    bool armored = !pc->unarmored, needs = false;

    memset(out, 0, sizeof *out);
    memset(&creds, 0, sizeof creds);
    memset(&trace, 0, sizeof trace);
    adb_error_clear(err);   /* an outcome may come with a message (dc_unavailable) */
    if (!user_valid(user, err))
        return ADB_E_INVALID_REQUEST;
    if (password == NULL || adb_secret_len(password) == 0 || adb_secret_has_nul(password)
        || adb_secret_len(password) > ADB_PWCHECK_PASSWORD_MAX)
        return adb_error_set(err, ADB_E_INVALID_REQUEST, "a password of 1 to %d bytes without NUL is required",
                             ADB_PWCHECK_PASSWORD_MAX);
    if ((code = context_get(pc, &ctx)) != 0)
        return adb_error_set(err, ADB_E_KERBEROS, "cannot initialise a Kerberos context: error %ld", (long)code);
    krb5_set_trace_callback(ctx, adb_krb_trace_cb, &trace);
    if (gate != NULL)
        krb5_set_kdc_send_hook(ctx, pwcheck_gate_send_hook, gate);
    if ((code = parse_client(ctx, user, pc->realm, &client)) != 0) {
        rc = krb_error(ctx, code, err, ADB_E_INVALID_REQUEST, "user name");
        goto out;
    }
    /* A machine TGT to armor with (renewed here when it is about to end);
     * without one the exchange below falls back to unarmored. */
    if (!pc->unarmored)
        (void)adb_krb_refresh(pc->machine, false, NULL);
    if (gate != NULL && pwcheck_spec_begin(pc, gate, ctx, client, user, pc->realm)) {
        trace.etype_info = pwcheck_spec_etype_info;
        trace.etype_info_arg = gate;
    }
    code = as_exchange(pc, ctx, client, password, gate, !pc->unarmored, &icc);
    if (code != 0 && code != KRB5_LIBOS_PWDINTR && gate != NULL && gate->spec.kt != NULL && !gate->spec.used
        && !kdc_said(code)) {
        /* krb5 wanted another key than the one derived ahead, and stopped
         * before sending anything derived: again, with the password. */
        krb5_init_creds_free(ctx, icc);
        icc = NULL;
        pwcheck_spec_end(pc, gate, ctx);
        memset(&trace, 0, sizeof trace);
        code = as_exchange(pc, ctx, client, password, gate, !pc->unarmored, &icc);
    }
    if (code != 0 && code != KRB5_LIBOS_PWDINTR && !pc->unarmored
        && armor_failed(code, adb_pwcheck_reason(code, 0, &needs))) {   /* not after a cancel */
        krb5_init_creds_free(ctx, icc);   /* wipes krb5's copy of the password */
        icc = NULL;
        if (gate != NULL)
            pwcheck_spec_end(pc, gate, ctx);   /* the retry asks for the password */
        memset(&trace, 0, sizeof trace);
        armored = false;
        code = as_exchange(pc, ctx, client, password, gate, false, &icc);
    }
    out->krb5_code = code;
    snprintf(out->kdc, sizeof out->kdc, "%s", trace.answered);
    if (code != 0) {
        if (icc != NULL && krb5_init_creds_get_error(ctx, icc, &kerr) == 0 && kerr != NULL) {
            adb_pwcheck_edata_ntstatus(kerr->e_data.data, kerr->e_data.length, &out->ntstatus);
            if (kerr->client != NULL)
                realm_of(ctx, kerr->client, out->realm, sizeof out->realm);
        }
        out->reason = adb_pwcheck_reason(code, out->ntstatus, &needs);
        out->needs_account_state = needs;
        if (out->reason == ADB_AUTH_NONE)
            rc = krb_error(ctx, code, err, ADB_E_KERBEROS, "password check");
        else if (out->reason == ADB_AUTH_DC_UNAVAILABLE) {
            char tried[300];
            adb_krb_trace_tried(&trace, "none found in krb5.conf or DNS", tried, sizeof tried);
            if (trace.realm[0] != '\0')   /* the realm that could not be reached */
                snprintf(out->realm, sizeof out->realm, "%s", trace.realm);
            adb_error_set(err, ADB_E_DC_UNAVAILABLE, "cannot reach a KDC for realm %s (tried: %s)",
                          out->realm[0] != '\0' ? out->realm : pc->realm, tried);
        }
        goto out;
    }
    if ((code = krb5_init_creds_get_creds(ctx, icc, &creds)) != 0) {
        rc = krb_error(ctx, code, err, ADB_E_KERBEROS, "password check");
        goto out;
    }
    realm_of(ctx, creds.client, out->realm, sizeof out->realm);
    if (!armored && (rc = verify(pc, ctx, &creds, &trace, out, err)) != ADB_OK) {
        if (out->reason == ADB_AUTH_DC_UNAVAILABLE)
            rc = ADB_OK;   /* an outcome, with the message in err */
        goto out;
    }
    out->armored = armored;
    if (krb5_unparse_name(ctx, creds.client, &name) == 0)
        snprintf(out->principal, sizeof out->principal, "%s", name);
    out->reason = ADB_AUTH_OK;
out:
    if (rc != ADB_OK)
        out->reason = ADB_AUTH_NONE;
    krb5_free_unparsed_name(ctx, name);
    krb5_free_error(ctx, kerr);
    krb5_free_cred_contents(ctx, &creds);
    krb5_init_creds_free(ctx, icc);   /* wipes krb5's copy of the password */
    if (gate != NULL) {
        out->key_ahead = gate->spec.used && gate->spec.ahead;
        pwcheck_spec_end(pc, gate, ctx);
    }
    krb5_free_principal(ctx, client);
    context_put(pc, ctx);
    return rc;
}
