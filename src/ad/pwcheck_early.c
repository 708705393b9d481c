/* A password check begun before the caller has decided that it may run
 * (pwcheck.h adb_pwcheck_begin): krb5's set-up for it (a context, its
 * modules, the machine's TGT for the armor, the first request) runs on a
 * thread of its own while the caller reads the account and its lockout
 * state; the first message to a KDC waits at the gate (pwcheck_internal.h)
 * for adb_pwcheck_finish.  While it waits, the thread derives the user's
 * key under the salt it will most likely need (pwcheck_spec), which takes
 * the key derivation -- longer than a round trip -- out of the time after
 * the decision. */
#include "config.h"

#include "pwcheck_internal.h"

#include <adbridge/secmem.h>
#include <adbridge/text.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct adb_pwcheck_early {
    pwcheck_gate gate;
    adb_pwcheck *pc;
    char *user;
    adb_pwcheck_result result;
    adb_error err;
    adb_code rc;
    bool done;
    int refs;                   /* the caller's and the thread's */
};

krb5_error_code pwcheck_gate_prompter(krb5_context ctx, void *data, const char *name, const char *banner,
                                      int num_prompts, krb5_prompt prompts[])
{
    pwcheck_gate *g = data;
    krb5_prompt_type *types = krb5_get_prompt_types(ctx);
    size_t len = adb_secret_len(g->password);

    (void)name;
    (void)banner;
    for (int i = 0; i < num_prompts; i++) {
        /* Only the password; a question we cannot answer ends the check. */
        if (types == NULL || types[i] != KRB5_PROMPT_TYPE_PASSWORD || prompts[i].reply->length < len)
            return KRB5_LIBOS_CANTREADPWD;
        memcpy(prompts[i].reply->data, adb_secret_cdata(g->password), len);
        prompts[i].reply->length = (unsigned)len;
    }
    return 0;
}

/* ---- the key derived ahead (pwcheck_spec) ---- */

/* Salt text krb5's trace shows byte for byte: printable ASCII without a
 * backslash (its escape character). */
static bool salt_plain(const char *salt, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (salt[i] < 0x20 || salt[i] > 0x7e || salt[i] == '\\')
            return false;
    return true;
}

/* AD's salt for a user's key is the upper-case realm followed by the name
 * (MS-KILE 3.1.1.2; Samba takes the name from the UPN): guessed from user
 * as the check names it. */
static bool salt_guess(const char *user, const char *realm, char *salt, size_t size, char *user_realm, size_t rsize)
{
    const char *at = strrchr(user, '@');
    size_t n = at != NULL ? (size_t)(at - user) : strlen(user);
    int len;

    adb_ascii_case_copy(user_realm, rsize, at != NULL ? at + 1 : realm, true);
    len = snprintf(salt, size, "%s%.*s", user_realm, (int)n, user);
    return len > 0 && (size_t)len < size && salt_plain(salt, (size_t)len);
}

bool pwcheck_spec_begin(adb_pwcheck *pc, pwcheck_gate *g, krb5_context ctx, krb5_const_principal client,
                        const char *user, const char *realm)
{
    pwcheck_spec *s = &g->spec;
    char name[128], user_realm[256];

    memset(s, 0, sizeof *s);
    if (!salt_guess(user, realm, s->salt, sizeof s->salt, user_realm, sizeof user_realm)
        || (s->slot = pwcheck_spec_slot_take(pc)) < 0)
        return false;
    snprintf(name, sizeof name, "MEMORY:adbridge-pwcheck-%p-%d", (void *)pc, s->slot);
    if (krb5_kt_resolve(ctx, name, &s->kt) != 0) {
        pwcheck_spec_slot_give(pc, s->slot);
        memset(s, 0, sizeof *s);
        return false;
    }
    s->etype = ENCTYPE_AES256_CTS_HMAC_SHA1_96;   /* what AD's KDCs pick */
    /* After a referral krb5 asks for the key in the user's realm. */
    if (krb5_copy_principal(ctx, client, &s->names[s->n_names]) == 0)
        s->n_names++;
    if (strcmp(user_realm, realm) != 0 && krb5_copy_principal(ctx, client, &s->names[s->n_names]) == 0
        && krb5_set_principal_realm(ctx, s->names[s->n_names++], user_realm) != 0)
        krb5_free_principal(ctx, s->names[--s->n_names]);
    return true;
}

/* s->key from the password under s->etype and s->salt, with the enctype's
 * default parameters; length 0 when that fails (then it is never offered). */
static void spec_derive(pwcheck_gate *g, krb5_context ctx)
{
    pwcheck_spec *s = &g->spec;
    krb5_data pw = { .data = (char *)adb_secret_data(g->password), .length = (unsigned)adb_secret_len(g->password) };
    krb5_data salt = { .data = s->salt, .length = (unsigned)strlen(s->salt) };

    krb5_free_keyblock_contents(ctx, &s->key);   /* wipes an earlier one */
    if (krb5_c_string_to_key(ctx, s->etype, &pw, &salt, &s->key) != 0)
        memset(&s->key, 0, sizeof s->key);
}

/* Offers key under every name (offer) or takes it back. */
static void spec_offer(pwcheck_spec *s, krb5_context ctx, const krb5_keyblock *key, bool offer)
{
    for (int i = 0; i < s->n_names; i++) {
        krb5_keytab_entry e = { .principal = s->names[i], .vno = 0, .key = *key };
        if (offer)
            (void)krb5_kt_add_entry(ctx, s->kt, &e);
        else
            (void)krb5_kt_remove_entry(ctx, s->kt, &e);
    }
    s->offered = offer;
}

krb5_error_code pwcheck_spec_attach(pwcheck_gate *g, krb5_context ctx, krb5_init_creds_context icc)
{
    pwcheck_spec *s = &g->spec;
    unsigned char zero[32] = { 0 };
    krb5_keyblock stand_in = { .enctype = s->etype, .length = sizeof zero, .contents = zero };
    krb5_error_code code;

    /* krb5 refuses a keytab without the client's key, and orders the
     * request's enctypes by it: a stand-in of AD's enctype, taken out
     * before anything is sent, so it can never be used. */
    spec_offer(s, ctx, &stand_in, true);
    code = krb5_init_creds_set_keytab(ctx, icc, s->kt);
    spec_offer(s, ctx, &stand_in, false);
    return code;
}

bool pwcheck_etype_info_parse(const char *info, krb5_enctype *etype, char *salt, size_t size)
{
    static const char *const default_params[] = { "\", params \"\"", "\", params \"\\x00\\x00\\x10\\x00\"" };
    size_t n = strcspn(info, "\r\n"), tail = 0;
    const char *p, *q;
    char name[64];

    if (strncmp(info, "etype ", 6) != 0 || (q = strstr(info + 6, ", salt \"")) == NULL
        || (size_t)(q - info - 6) >= sizeof name)
        return false;
    snprintf(name, sizeof name, "%.*s", (int)(q - info - 6), info + 6);
    if (krb5_string_to_enctype(name, etype) != 0)
        return false;
    p = q + strlen(", salt \"");
    for (int i = 0; i < 2 && tail == 0; i++) {
        size_t t = strlen(default_params[i]);
        /* 4,096 iterations is AES-SHA1's default (RFC 3962), no other's */
        if (n >= t && (size_t)(p - info) <= n - t && memcmp(info + n - t, default_params[i], t) == 0
            && (i == 0 || *etype == ENCTYPE_AES256_CTS_HMAC_SHA1_96 || *etype == ENCTYPE_AES128_CTS_HMAC_SHA1_96))
            tail = t;
    }
    if (tail == 0 || (size_t)(info + n - tail - p) >= size || !salt_plain(p, (size_t)(info + n - tail - p)))
        return false;
    snprintf(salt, size, "%.*s", (int)(info + n - tail - p), p);
    return true;
}

/* krb5 has picked the enctype, salt and parameters of the user's key
 * (just before it asks the keytab): the key offered is the one derived
 * from the password under exactly those -- ahead when the guess was right,
 * now when it was not -- or none. */
void pwcheck_spec_etype_info(krb5_context ctx, const char *info, void *arg)
{
    pwcheck_gate *g = arg;
    pwcheck_spec *s = &g->spec;
    krb5_enctype etype;
    char salt[sizeof s->salt];
    bool usable;

    if (s->kt == NULL)
        return;
    usable = pwcheck_etype_info_parse(info, &etype, salt, sizeof salt);
    if (s->offered)
        spec_offer(s, ctx, &s->key, false);
    if (usable && (s->key.length == 0 || etype != s->etype || strcmp(salt, s->salt) != 0)) {
        s->etype = etype;
        memcpy(s->salt, salt, sizeof salt);
        spec_derive(g, ctx);
        s->ahead = false;
    }
    if (usable && s->key.length > 0)
        spec_offer(s, ctx, &s->key, true);
}

void pwcheck_spec_end(adb_pwcheck *pc, pwcheck_gate *g, krb5_context ctx)
{
    pwcheck_spec *s = &g->spec;

    if (s->kt == NULL)
        return;
    if (s->offered)
        spec_offer(s, ctx, &s->key, false);
    (void)krb5_kt_close(ctx, s->kt);
    krb5_free_keyblock_contents(ctx, &s->key);   /* wipes it */
    for (int i = 0; i < s->n_names; i++)
        krb5_free_principal(ctx, s->names[i]);
    pwcheck_spec_slot_give(pc, s->slot);
    memset(s, 0, sizeof *s);
}

/* ---- the gate ---- */

krb5_error_code pwcheck_gate_send_hook(krb5_context ctx, void *data, const krb5_data *realm,
                                       const krb5_data *message, krb5_data **new_message_out,
                                       krb5_data **new_reply_out)
{
    pwcheck_gate *g = data;
    krb5_error_code code = 0;

    (void)realm;
    (void)message;
    (void)new_message_out;
    (void)new_reply_out;
    pthread_mutex_lock(&g->lock);
    if (g->state == GATE_PENDING && g->spec.kt != NULL && g->spec.key.length == 0) {
        pthread_mutex_unlock(&g->lock);
        spec_derive(g, ctx);   /* while the caller still reads */
        g->spec.ahead = true;
        pthread_mutex_lock(&g->lock);
    }
    while (g->state == GATE_PENDING)
        pthread_cond_wait(&g->decided, &g->lock);
    if (g->state == GATE_CANCEL)
        code = KRB5_LIBOS_PWDINTR;   /* never sent */
    else if (g->spec.offered)
        g->spec.used = true;
    pthread_mutex_unlock(&g->lock);
    return code;
}

static void early_unref(adb_pwcheck_early *e)
{
    adb_pwcheck *pc = e->pc;
    bool last;

    pthread_mutex_lock(&e->gate.lock);
    last = --e->refs == 0;
    pthread_mutex_unlock(&e->gate.lock);
    if (!last)
        return;
    adb_secret_free(e->gate.password);
    free(e->user);
    pthread_cond_destroy(&e->gate.decided);
    pthread_mutex_destroy(&e->gate.lock);
    free(e);
    pwcheck_release(pc);
}

static void *early_run(void *arg)
{
    adb_pwcheck_early *e = arg;

    e->rc = pwcheck_run(e->pc, e->user, e->gate.password, &e->gate, &e->result, &e->err);
    pthread_mutex_lock(&e->gate.lock);
    e->done = true;
    pthread_cond_broadcast(&e->gate.decided);
    pthread_mutex_unlock(&e->gate.lock);
    early_unref(e);
    return NULL;
}

adb_code adb_pwcheck_begin(adb_pwcheck *pc, const char *user, const adb_secret *password, adb_pwcheck_early **out,
                           adb_error *err)
{
    adb_pwcheck_early *e = calloc(1, sizeof *e);
    pthread_attr_t attr;
    pthread_t th;
    adb_code rc;

    *out = NULL;
    if (e == NULL || (e->user = strdup(user)) == NULL) {
        free(e);
        return adb_error_set(err, ADB_E_NOMEM, "out of memory");
    }
    if ((rc = adb_secret_from(adb_secret_cdata(password), adb_secret_len(password), &e->gate.password, err))
        != ADB_OK) {
        free(e->user);
        free(e);
        return rc;
    }
    pthread_mutex_init(&e->gate.lock, NULL);
    pthread_cond_init(&e->gate.decided, NULL);
    e->gate.state = GATE_PENDING;
    e->pc = pc;
    e->refs = 2;
    pwcheck_hold(pc);
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&th, &attr, early_run, e) != 0) {
        pthread_attr_destroy(&attr);
        e->refs = 1;
        early_unref(e);
        return adb_error_set(err, ADB_E_NOMEM, "cannot start a thread for the password check");
    }
    pthread_attr_destroy(&attr);
    *out = e;
    return ADB_OK;
}

adb_code adb_pwcheck_finish(adb_pwcheck_early *e, bool go, adb_pwcheck_result *out, adb_error *err)
{
    adb_code rc = ADB_OK;

    if (e == NULL)
        return ADB_OK;
    pthread_mutex_lock(&e->gate.lock);
    e->gate.state = go ? GATE_GO : GATE_CANCEL;
    pthread_cond_broadcast(&e->gate.decided);
    while (go && !e->done)
        pthread_cond_wait(&e->gate.decided, &e->gate.lock);
    pthread_mutex_unlock(&e->gate.lock);
    if (go) {
        *out = e->result;
        if (err != NULL)
            *err = e->err;
        rc = e->rc;
    }
    early_unref(e);
    return rc;
}
