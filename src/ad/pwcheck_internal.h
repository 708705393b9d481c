/* Between pwcheck.c (one check) and pwcheck_early.c (a check begun before
 * the caller has decided that it may run). */
#ifndef ADB_PWCHECK_INTERNAL_H
#define ADB_PWCHECK_INTERNAL_H

#include <adbridge/pwcheck.h>

#include <krb5/krb5.h>
#include <pthread.h>
#include <stdbool.h>

/* Holds back what krb5 derives from the password until the caller decides.
 * krb5 asks gate_prompter for the password only when it needs the key (after
 * the KDC's first answer named the salt); from then on every message is
 * held by gate_send_hook until the decision: sent on go, never on cancel. */
typedef struct pwcheck_gate {
    pthread_mutex_t lock;
    pthread_cond_t decided;
    enum { GATE_PENDING, GATE_GO, GATE_CANCEL } state;
    bool released;              /* krb5 has the password: its messages carry proof of it */
    const adb_secret *password;
} pwcheck_gate;

krb5_error_code pwcheck_gate_prompter(krb5_context ctx, void *data, const char *name, const char *banner,
                                      int num_prompts, krb5_prompt prompts[]);
krb5_error_code pwcheck_gate_send_hook(krb5_context ctx, void *data, const krb5_data *realm,
                                       const krb5_data *message, krb5_data **new_message_out,
                                       krb5_data **new_reply_out);

/* adb_pwcheck_password, with the password behind gate when gate is not NULL. */
adb_code pwcheck_run(adb_pwcheck *pc, const char *user, const adb_secret *password, pwcheck_gate *gate,
                     adb_pwcheck_result *out, adb_error *err);

/* Early checks still running hold the checker: adb_pwcheck_free waits. */
void pwcheck_hold(adb_pwcheck *pc);
void pwcheck_release(adb_pwcheck *pc);

#endif
