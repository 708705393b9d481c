/* Password checks end to end (see include/adbridge/auth.h). */
#include "config.h"

#include <adbridge/text.h>
#include <adbridge/auth.h>
#include <adbridge/dn.h>
#include <adbridge/locator.h>
#include <adbridge/netlogon.h>
#include <adbridge/restricted.h>

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define V(s) ADB_LOG_V(s)

enum {
    MAX_KDCS = 16,
    DEFAULT_WAIT_MS = 10000,   /* for checks in flight, when the request has no deadline */
    EARLY_PASSWORD_MAX = 512,  /* krb5 hands its prompter a 1,024-byte buffer; AD allows 256 characters */
};

struct adb_auth {
    adb_dir *dir;
    adb_keystore *ks;
    const adb_logger *log;
    bool allow_plaintext;
    bool allow_privileged;
    char **refuse_names;       /* auth.refuse_groups as configured */
    size_t n_refuse;
    adb_lockout_options lockout_opts;
    adb_pwcheck *pc;
    adb_lockout *lockout;
    pthread_mutex_t mu;        /* guards stats and refuse */
    adb_auth_stats stats;
    adb_sid *refuse;           /* refuse_names resolved (once, on first use) */
};

adb_code adb_auth_new(adb_dir *dir, adb_keystore *ks, const adb_config *cfg, const adb_logger *log, adb_auth **out,
                      adb_error *err)
{
    adb_auth *a = calloc(1, sizeof *a);
    adb_code rc;

    *out = NULL;
    if (a == NULL)
        return adb_error_set(err, ADB_E_NOMEM, "out of memory");
    a->dir = dir;
    a->ks = ks;
    a->log = log;
    a->allow_plaintext = cfg->auth.allow_plaintext_password;
    a->allow_privileged = cfg->auth.allow_privileged;
    a->refuse_names = cfg->auth.refuse_groups;
    a->n_refuse = cfg->auth.n_refuse_groups;
    a->lockout_opts.threshold = cfg->auth.lockout_threshold;
    a->lockout_opts.margin = cfg->auth.lockout_margin;
    a->lockout_opts.window_s = cfg->auth.lockout_window_s;
    pthread_mutex_init(&a->mu, NULL);
    if ((rc = adb_pwcheck_new(adb_dir_krb(dir), NULL, &a->pc, err)) != ADB_OK
        || (rc = adb_lockout_new(&a->lockout_opts, &a->lockout, err)) != ADB_OK) {
        adb_auth_free(a);
        return rc;
    }
    *out = a;
    return ADB_OK;
}

void adb_auth_free(adb_auth *a)
{
    if (a == NULL)
        return;
    adb_pwcheck_free(a->pc);
    adb_lockout_free(a->lockout);
    pthread_mutex_destroy(&a->mu);
    free(a->refuse);
    free(a);
}

adb_code adb_auth_set_clock(adb_auth *a, adb_clock clock, adb_error *err)
{
    adb_lockout *lo;
    adb_code rc;

    a->lockout_opts.clock = clock;
    if ((rc = adb_lockout_new(&a->lockout_opts, &lo, err)) != ADB_OK)
        return rc;
    adb_lockout_free(a->lockout);
    a->lockout = lo;
    return ADB_OK;
}

void adb_auth_result_clear(adb_auth_result *r)
{
    adb_object_unref(r->user);
    adb_object_list_clear(&r->groups);
    memset(r, 0, sizeof *r);
}

void adb_auth_stats_get(adb_auth *a, adb_auth_stats *out)
{
    pthread_mutex_lock(&a->mu);
    *out = a->stats;
    pthread_mutex_unlock(&a->mu);
    out->lockout_users = adb_lockout_size(a->lockout);
}

static void count(adb_auth *a, adb_auth_reason reason, adb_code rc)
{
    pthread_mutex_lock(&a->mu);
    a->stats.checks++;
    if (rc != ADB_OK)
        a->stats.errors++;
    else if (reason == ADB_AUTH_OK)
        a->stats.ok++;
    else if (reason == ADB_AUTH_LOCKED_BY_BRIDGE)
        a->stats.locked_by_bridge++;
    else if (reason == ADB_AUTH_ACCOUNT_RESTRICTED)
        a->stats.restricted++;
    else
        a->stats.failed++;
    pthread_mutex_unlock(&a->mu);
}

/* Step 1: the password, from this instance's sealed copy or (only where
 * allowed) in plaintext.  *owned is set when the secret is ours to free. */
static adb_code credential(adb_auth *a, const adb_auth_request *req, const adb_secret **pw, adb_secret **owned,
                           adb_auth_result *out, adb_error *err)
{
    *owned = NULL;
    if (req->password != NULL && req->n_sealed > 0)
        return adb_error_set(err, ADB_E_INVALID_REQUEST, "give either a sealed password or a plaintext one, not both");
    if (req->password != NULL) {
        if (req->plaintext_from_wire && !a->allow_plaintext)
            return adb_error_set(err, ADB_E_INVALID_REQUEST,
                                 "a plaintext password is refused: seal it to this instance's public key (see the "
                                 "health operation), or set auth.allow_plaintext_password for a local test setup");
        *pw = req->password;
        return ADB_OK;
    }
    if (req->n_sealed == 0)
        return adb_error_set(err, ADB_E_INVALID_REQUEST, "no password: the request needs a sealed copy for this "
                             "instance");
    if (a->ks == NULL)
        return adb_error_set(err, ADB_E_KEY_UNKNOWN, "this process has no instance key to open sealed passwords");
    adb_code rc = adb_keystore_open_request(a->ks, req->sealed, req->n_sealed, owned, out->key_id, err);
    *pw = *owned;
    return rc;
}

/* What is read about the user through the pool (one operation each). */
typedef struct user_read {
    const char *dn, *domain_dn;
    adb_lockout_ad_policy policy;
    adb_lockout_ad_state ad;        /* badPwdCount & co., from the PDC emulator */
    adb_account_facts facts;        /* what decides whether it may be checked at all */
    char dc[256];                   /* where it was read */
    adb_account_state state;
} user_read;

/* One base read of the user on the PDC emulator (its count is the one AD
 * locks by), then the policy that applies to it. */
static adb_code read_account(adb_ldap_conn *c, void *arg, adb_error *err)
{
    enum { N = 16 };
    const char *attrs[N];
    user_read *r = arg;
    adb_ldap_entry *e = NULL;
    size_t n = 0;
    adb_code rc;

    for (const char *const *p = adb_lockout_state_attrs; *p != NULL; p++)
        attrs[n++] = *p;
    for (const char *const *p = adb_account_facts_attrs; *p != NULL && n < N - 2; p++)
        attrs[n++] = *p;
    attrs[n++] = "msDS-ResultantPSO";
    attrs[n] = NULL;
    adb_account_facts_clear(&r->facts);
    snprintf(r->dc, sizeof r->dc, "%s", adb_ldap_host(c));
    if ((rc = adb_ldap_read(c, r->dn, NULL, attrs, &e, err)) != ADB_OK)
        return rc;
    adb_lockout_state_from_entry(e, &r->ad);
    if ((rc = adb_account_facts_from_entry(e, &r->facts, err)) == ADB_OK
        && adb_lockout_read_policy_of(c, r->domain_dn, e, &r->policy, NULL) != ADB_OK)
        r->policy.known = false;   /* the conservative path: one check per window */
    adb_ldap_entry_free(e);
    return rc;
}

static adb_code read_state(adb_ldap_conn *c, void *arg, adb_error *err)
{
    user_read *r = arg;
    return adb_account_state_read(c, NULL, r->dn, &r->state, NULL, err);
}

/* Points the checker at the KDCs of domain's realm: the DCs the locator
 * found for it (closest site first, healthy first) whose ping says they run
 * a KDC.  When the locator has none, krb5's own lookup stays in place. */
static void use_locator_kdcs(adb_auth *a, const char *domain)
{
    char addrs[MAX_KDCS][80], realm[256];
    const char *kdcs[MAX_KDCS + 1];
    adb_dc_list list = { 0 };
    adb_error err = { 0 };
    size_t n = 0;

    if (adb_locator_get(adb_dir_locator(a->dir), domain, ADB_LOCATE_DEFAULT, NULL, &list, &err) != ADB_OK) {
        adb_log(a->log, ADB_LOG_DEBUG, "auth_kdcs", "domain=%s code=%s", V(domain), adb_code_name(err.code));
        return;
    }
    adb_ascii_case_copy(realm, sizeof realm, domain, true);   /* AD: the realm is the domain, upper-case */
    /* The PDC emulator first: its badPwdCount is the one read before the
     * check (and AD DCs forward failures to it), so every instance sees
     * the failures of every other. */
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < list.n && n < MAX_KDCS; i++) {
            const adb_dc *dc = &list.dcs[i];
            if (dc->address[0] == '\0' || (dc->state != ADB_DC_UNTRIED && !(dc->flags & ADB_DS_KDC))
                || (pass == 0) != ((dc->flags & ADB_DS_PDC) != 0))
                continue;
            snprintf(addrs[n], sizeof addrs[n], strchr(dc->address, ':') ? "[%s]:88" : "%s:88", dc->address);
            kdcs[n] = addrs[n];
            n++;
        }
    kdcs[n] = NULL;
    if (n > 0 && adb_pwcheck_set_kdcs(a->pc, realm, kdcs, &err) != ADB_OK)
        adb_log(a->log, ADB_LOG_WARN, "auth_kdcs", "domain=%s code=%s msg=%s", V(domain), adb_code_name(err.code),
                V(err.message));
    adb_dc_list_free(&list);
}

/* The name the KDC is asked for: the UPN, else the implicit UPN
 * sAMAccountName@domain; both go as enterprise principals, so the KDC of
 * the machine's realm refers the client to the user's realm. */
static void principal_of(const adb_object *u, char *out, size_t size)
{
    if (u->upn != NULL && u->upn[0] != '\0')
        snprintf(out, size, "%s", u->upn);
    else
        snprintf(out, size, "%s@%s", u->sam_account_name != NULL ? u->sam_account_name : "", u->domain_dns);
}

static void set_detail(adb_auth_result *out, const adb_error *e)
{
    snprintf(out->detail, sizeof out->detail, "%s", e->message);
}

/* A directory read before the KDC: no DC answering is an answer
 * (dc_unavailable), and so is not_found when not_found_reason is given;
 * other failures are errors.  ADB_OK with out->reason set: stop here. */
static adb_code lookup_outcome(adb_code rc, const adb_error *e, adb_auth_reason not_found_reason,
                               adb_auth_result *out, adb_error *err)
{
    if (rc == ADB_OK)
        return ADB_OK;
    if (rc == ADB_E_DC_UNAVAILABLE || rc == ADB_E_TIMEOUT
        || (rc == ADB_E_NOT_FOUND && not_found_reason != ADB_AUTH_NONE)) {
        out->reason = rc == ADB_E_NOT_FOUND ? not_found_reason : ADB_AUTH_DC_UNAVAILABLE;
        set_detail(out, e);
        return ADB_OK;
    }
    if (err != NULL)
        *err = *e;
    return rc;
}

/* auth.refuse_groups as SIDs, resolved through the directory on first use
 * (a name the directory cannot resolve fails the check closed). */
static adb_code refuse_sids(adb_auth *a, const adb_sid **out, adb_error *err)
{
    adb_sid *sids;
    adb_code rc = ADB_OK;

    pthread_mutex_lock(&a->mu);
    *out = a->refuse;
    pthread_mutex_unlock(&a->mu);
    if (*out != NULL || a->n_refuse == 0)
        return ADB_OK;
    if ((sids = calloc(a->n_refuse, sizeof *sids)) == NULL)
        return adb_error_set(err, ADB_E_NOMEM, "out of memory");
    for (size_t i = 0; i < a->n_refuse && rc == ADB_OK; i++) {
        const char *name = a->refuse_names[i];
        adb_object *g = NULL;
        if (adb_sid_parse(name, strlen(name), &sids[i], NULL) == ADB_OK)
            continue;
        rc = adb_dir_get(a->dir, name, NULL, ADB_KINDS_GROUP, &g, NULL, err);
        if (rc == ADB_OK && g->has_sid)
            sids[i] = g->sid;
        else if (rc == ADB_OK)
            rc = adb_error_set(err, ADB_E_PROTOCOL, "group %s has no SID", name);
        else
            adb_error_prefix(err, "auth.refuse_groups[%zu] (%s)", i, name);
        adb_object_unref(g);
    }
    if (rc != ADB_OK) {
        free(sids);
        return rc;
    }
    pthread_mutex_lock(&a->mu);
    if (a->refuse == NULL)
        a->refuse = sids;
    else
        free(sids);
    *out = a->refuse;
    pthread_mutex_unlock(&a->mu);
    return ADB_OK;
}

static void wall_text(time_t t, char buf[ADB_RFC3339_SIZE])
{
    if (t <= 0 || !adb_rfc3339(t, buf))
        snprintf(buf, ADB_RFC3339_SIZE, "(unknown)");
}

/* The detail of a refusal by the bridge's lockout: the truth about why. */
static void lockout_detail(const adb_lockout_decision *d, const adb_lockout_ad_policy *p, long window,
                           adb_auth_result *out)
{
    char when[ADB_RFC3339_SIZE];

    wall_text(out->retry_at, when);   /* set by the caller, never 0 */
    if (d->verdict == ADB_LOCKOUT_BUSY)
        snprintf(out->detail, sizeof out->detail, "%u checks of this user's password were in flight and none ended "
                 "before the request's deadline; nothing was sent to a KDC", d->in_flight);
    else if (p->pso_unreadable)
        snprintf(out->detail, sizeof out->detail, "the machine account cannot read the password settings object "
                 "that sets this user's lockout policy, so the bridge allows %u failed check(s) per %ld-minute "
                 "window; grant it read access to CN=Password Settings Container for the precise policy. Checks "
                 "resume at %s", d->limit, window / 60, when);
    else if (!p->known)
        snprintf(out->detail, sizeof out->detail, "the lockout policy that applies to this user could not be read, "
                 "so the bridge allows %u failed check(s) per %ld-minute window. Checks resume at %s", d->limit,
                 window / 60, when);
    else if (d->limit == 0)
        snprintf(out->detail, sizeof out->detail, "AD locks this account after %u failed logons and the bridge "
                 "keeps a margin of %u below that, so no check is safe; lower auth.lockout_margin to allow checks",
                 p->threshold, d->margin);
    else
        snprintf(out->detail, sizeof out->detail, "%s %u failed logon(s) in the current %ld-minute window; AD locks "
                 "the account at %u, and the bridge stops at %u so that one more failure cannot lock it. Checks "
                 "resume at %s", d->failures_from_ad ? "AD counts" : "this bridge counted", d->failures, window / 60,
                 p->threshold, d->limit, when);
}

/* An early check (adb_pwcheck_begin) under the name adb_dir_principal_guess
 * gives, against that domain's KDCs; NULL when there is no guess. */
static adb_pwcheck_early *begin_early(adb_auth *a, const adb_auth_request *req, const adb_secret *pw, char *guess,
                                      size_t gsize, char *domain, size_t dsize)
{
    adb_pwcheck_early *early = NULL;

    if (adb_secret_len(pw) > EARLY_PASSWORD_MAX
        || !adb_dir_principal_guess(a->dir, req->user, req->domain, guess, gsize, domain, dsize))
        return NULL;
    use_locator_kdcs(a, domain);
    if (adb_pwcheck_begin(a->pc, guess, pw, &early, NULL) != ADB_OK)
        return NULL;
    return early;
}

adb_code adb_auth_check(adb_auth *a, const adb_auth_request *req, adb_auth_result *out, adb_error *err)
{
    const adb_secret *pw = NULL;
    adb_secret *owned = NULL;
    adb_error e = { 0 };
    char principal[ADB_PWCHECK_USER_MAX], sid[ADB_SID_STRING_MAX], domain_dn[1024];
    unsigned char tag[ADB_LOCKOUT_TAG_BYTES];
    user_read ur = { 0 };
    adb_lockout_check lq = { 0 };
    adb_lockout_decision ld;
    adb_restrict_policy rp = { .allow_privileged = a->allow_privileged };
    adb_pwcheck_early *early = NULL;
    char guess[ADB_PWCHECK_USER_MAX], guess_domain[256];
    bool reserved = false;
    adb_code rc;

    memset(out, 0, sizeof *out);
    if (req->user == NULL || req->user[0] == '\0') {
        rc = adb_error_set(err, ADB_E_INVALID_REQUEST, "no user given");
        goto done;
    }
    /* 1. The credential: nothing touches AD for a request not meant for us. */
    if ((rc = credential(a, req, &pw, &owned, out, err)) != ADB_OK)
        goto done;

    /* krb5's set-up for the check, under the name the user most likely
     * has, overlaps steps 2-5; nothing reaches a KDC before step 6 lets it
     * go (pwcheck.h), so unknown users and refused checks still reach none. */
    early = begin_early(a, req, pw, guess, sizeof guess, guess_domain, sizeof guess_domain);

    /* 2. The user.  Not found: unknown_user, no KDC asked. */
    rc = adb_dir_get(a->dir, req->user, req->domain, ADB_KINDS_USER, &out->user, NULL, &e);
    if ((rc = lookup_outcome(rc, &e, ADB_AUTH_UNKNOWN_USER, out, err)) != ADB_OK || out->reason != ADB_AUTH_NONE)
        goto done;
    if (!out->user->has_sid || adb_sid_format(&out->user->sid, sid, sizeof sid, &e) != ADB_OK
        || adb_dn_from_domain(out->user->domain_dns, domain_dn, sizeof domain_dn, &e) != ADB_OK) {
        rc = adb_error_set(err, ADB_E_PROTOCOL, "the directory entry of %s has no usable SID or DN", req->user);
        goto done;
    }

    /* 3. The account as its PDC emulator sees it now: what it is (some
     *    accounts are never checked), AD's failed-logon count, and the
     *    lockout policy (domain or PSO) that applies to it. */
    ur.dn = out->user->dn;
    ur.domain_dn = domain_dn;
    rc = adb_pool_run(adb_dir_pool(a->dir), out->user->domain_dns, ADB_POOL_PDC, read_account, &ur, &e);
    if ((rc = lookup_outcome(rc, &e, ADB_AUTH_NONE, out, err)) != ADB_OK || out->reason != ADB_AUTH_NONE)
        goto done;
    if (!ur.policy.known)
        adb_log(a->log, ADB_LOG_WARN, "auth_policy_unknown", "domain=%s dc=%s pso_unreadable=%s",
                V(out->user->domain_dns), V(ur.dc), ur.policy.pso_unreadable ? "yes" : "no");

    /* 4. Accounts whose passwords the cloud must never test. */
    if ((rc = refuse_sids(a, &rp.refuse, err)) != ADB_OK)
        goto done;
    rp.n_refuse = rp.refuse != NULL ? a->n_refuse : 0;
    if (adb_account_restricted(&ur.facts, &rp, out->detail, sizeof out->detail)) {
        out->reason = ADB_AUTH_ACCOUNT_RESTRICTED;
        adb_log(a->log, ADB_LOG_WARN, "auth_restricted", "user=%s sid=%s why=%s", V(req->user), sid,
                V(out->detail));
        goto done;
    }

    /* 5. Lockout: AD's count (shared by every instance), then this
     *    process's, then the wrong passwords it already saw. */
    adb_lockout_tag(a->lockout, sid, adb_secret_cdata(pw), adb_secret_len(pw), tag);
    lq.user = sid;
    lq.policy = &ur.policy;
    lq.ad = &ur.ad;
    lq.tag = tag;
    lq.wait_until_ms = adb_mono_ms() + (req->deadline_ms > 0 ? req->deadline_ms - adb_wall_ms() : DEFAULT_WAIT_MS);
    if (adb_lockout_begin(a->lockout, &lq, &ld) == ADB_LOCKOUT_RECHECK) {
        /* Another check of this user just ended: AD's count moved. */
        if (adb_pool_run(adb_dir_pool(a->dir), out->user->domain_dns, ADB_POOL_PDC, read_account, &ur, &e)
            != ADB_OK)
            ur.ad.known = false;   /* our own count (with the check that ended) still holds */
        adb_lockout_recheck(a->lockout, &lq, &ld);
    }
    switch (ld.verdict) {
    case ADB_LOCKOUT_GO:
        reserved = true;
        break;
    case ADB_LOCKOUT_REPEATED:
        out->reason = ADB_AUTH_INVALID_CREDENTIALS;
        snprintf(out->detail, sizeof out->detail, "the same wrong password was refused by a KDC within the current "
                 "window; it was not sent again, so it did not count against the account twice");
        goto done;
    case ADB_LOCKOUT_LOCKED_IN_AD: {
        char when[ADB_RFC3339_SIZE];
        wall_text(ld.retry_at, when);
        out->reason = ADB_AUTH_ACCOUNT_LOCKED;
        snprintf(out->detail, sizeof out->detail, "AD has locked this account out (read on %s); it unlocks %s%s",
                 ur.dc, ld.retry_at > 0 ? "at " : "", ld.retry_at > 0 ? when : "when an admin unlocks it");
        goto done;
    }
    default: {
        long window = adb_lockout_window(a->lockout, &ur.policy);
        out->reason = ADB_AUTH_LOCKED_BY_BRIDGE;
        out->retry_at = ld.retry_at > 0 ? ld.retry_at : time(NULL) + window;
        lockout_detail(&ld, &ur.policy, window, out);
        adb_log(a->log, ADB_LOG_WARN, "auth_locked_by_bridge", "user=%s sid=%s failures=%u from=%s limit=%u "
                "in_flight=%u dc=%s", V(req->user), sid, ld.failures, ld.failures_from_ad ? "ad" : "bridge", ld.limit,
                ld.in_flight, V(ur.dc));
        goto done;
    }
    }

    /* 6. The Kerberos exchange, verified with the host keytab (or the
     *    early one, when the account has the name it was begun with). */
    principal_of(out->user, principal, sizeof principal);
    if (early != NULL && strcasecmp(principal, guess) == 0 && strcasecmp(out->user->domain_dns, guess_domain) == 0) {
        rc = adb_pwcheck_finish(early, true, &out->kerberos, &e);
        early = NULL;
    } else {
        adb_pwcheck_finish(early, false, NULL, NULL);
        early = NULL;
        use_locator_kdcs(a, out->user->domain_dns);
        rc = adb_pwcheck_password(a->pc, principal, pw, &out->kerberos, &e);
    }
    adb_secret_free(owned);   /* the KDC has answered: wipe it now */
    owned = NULL;
    pw = NULL;
    if (rc != ADB_OK) {
        if (err != NULL)
            *err = e;
        goto done;
    }
    out->reason = out->kerberos.reason;
    if (e.message[0] != '\0')
        set_detail(out, &e);

    /* 7. Where the KDC did not say why, the account's state tells. */
    if (out->kerberos.needs_account_state) {
        if (adb_pool_run(adb_dir_pool(a->dir), out->user->domain_dns, ADB_POOL_DC, read_state, &ur, &e) == ADB_OK) {
            adb_pwcheck_resolve(&out->kerberos, &ur.state, time(NULL));
            out->reason = out->kerberos.reason;
        } else {
            snprintf(out->detail, sizeof out->detail, "the KDC refused the account and its state could not be read "
                     "(%s: %.400s)", adb_code_name(e.code), e.message);
        }
    }

    /* 8. The user's groups, when asked. */
    if (out->reason == ADB_AUTH_OK && req->include_groups) {
        rc = adb_dir_groups_of(a->dir, out->user->dn, NULL, NULL, &out->groups, err);
        if (rc != ADB_OK)
            goto done;
    }
    rc = ADB_OK;
done:
    adb_pwcheck_finish(early, false, NULL, NULL);   /* refused before step 6: it proves nothing */
    if (reserved)
        adb_lockout_end(a->lockout, &lq, rc == ADB_OK ? adb_lockout_outcome_of(out->reason) : ADB_LOCKOUT_NEUTRAL);
    adb_wipe(tag, sizeof tag);
    adb_account_facts_clear(&ur.facts);
    adb_secret_free(owned);
    count(a, out->reason, rc);
    adb_log(a->log, rc == ADB_OK ? ADB_LOG_INFO : ADB_LOG_WARN, "auth", "user=%s result=%s code=%s kdc=%s kdc_proof=%s key=%s",
            V(req->user != NULL ? req->user : ""), adb_auth_reason_name(out->reason), adb_code_name(rc),
            out->kerberos.kdc[0] != '\0' ? out->kerberos.kdc : "-",
            out->reason != ADB_AUTH_OK ? "-" : out->kerberos.armored ? "fast" : "service_ticket",
            out->key_id[0] != '\0' ? out->key_id : "-");
    if (rc != ADB_OK) {
        adb_object_unref(out->user);
        adb_object_list_clear(&out->groups);
        out->user = NULL;
        out->reason = ADB_AUTH_NONE;
    }
    return rc;
}
