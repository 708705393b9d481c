/* Between pwcheck.c (one check) and pwcheck_early.c (a check begun before
 * the caller has decided that it may run). */
#ifndef ADB_PWCHECK_INTERNAL_H
#define ADB_PWCHECK_INTERNAL_H

#include <adbridge/pwcheck.h>

#include <krb5/krb5.h>
#include <pthread.h>
#include <stdbool.h>

/* Holds back every message to a KDC until the caller decides: sent on go,
 * never on cancel (unknown users and refused checks reach no KDC).  krb5
 * gets the password from gate_prompter when it needs the key. */
typedef struct pwcheck_gate {
    pthread_mutex_t lock;
    pthread_cond_t decided;
    enum { GATE_PENDING, GATE_GO, GATE_CANCEL } state;
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
