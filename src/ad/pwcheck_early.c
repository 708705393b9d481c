/* A password check begun before the caller has decided that it may run
 * (pwcheck.h adb_pwcheck_begin): krb5's set-up for it (a context, its
 * modules, the machine's TGT for the armor, the first request) runs on a
 * thread of its own while the caller reads the account and its lockout
 * state; the first message to a KDC waits at the gate (pwcheck_internal.h)
 * for adb_pwcheck_finish. */
#include "config.h"

#include "pwcheck_internal.h"

#include <adbridge/secmem.h>

#include <stdlib.h>
#include <string.h>

struct adb_pwcheck_early {
    pwcheck_gate gate;
    adb_pwcheck *pc;
    char *user;
    adb_secret *password;       /* the thread's own copy */
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

krb5_error_code pwcheck_gate_send_hook(krb5_context ctx, void *data, const krb5_data *realm,
                                       const krb5_data *message, krb5_data **new_message_out,
                                       krb5_data **new_reply_out)
{
    pwcheck_gate *g = data;
    krb5_error_code code = 0;

    (void)ctx;
    (void)realm;
    (void)message;
    (void)new_message_out;
    (void)new_reply_out;
    pthread_mutex_lock(&g->lock);
    while (g->state == GATE_PENDING)
        pthread_cond_wait(&g->decided, &g->lock);
    if (g->state == GATE_CANCEL)
        code = KRB5_LIBOS_PWDINTR;   /* never sent */
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
    adb_secret_free(e->password);
    free(e->user);
    pthread_cond_destroy(&e->gate.decided);
    pthread_mutex_destroy(&e->gate.lock);
    free(e);
    pwcheck_release(pc);
}

static void *early_run(void *arg)
{
    adb_pwcheck_early *e = arg;

    e->rc = pwcheck_run(e->pc, e->user, e->password, &e->gate, &e->result, &e->err);
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
    if ((rc = adb_secret_from(adb_secret_cdata(password), adb_secret_len(password), &e->password, err)) != ADB_OK) {
        free(e->user);
        free(e);
        return rc;
    }
    pthread_mutex_init(&e->gate.lock, NULL);
    pthread_cond_init(&e->gate.decided, NULL);
    e->gate.state = GATE_PENDING;
    e->gate.password = e->password;
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
