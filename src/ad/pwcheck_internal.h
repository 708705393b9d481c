/* Between pwcheck.c (one check) and pwcheck_early.c (a check begun before
 * the caller has decided that it may run). */
#ifndef ADB_PWCHECK_INTERNAL_H
#define ADB_PWCHECK_INTERNAL_H

#include <adbridge/pwcheck.h>

#include <krb5/krb5.h>
#include <pthread.h>
#include <stdbool.h>

/* The user's key, derived while the gate is pending (pwcheck_early.c)
 * under the enctype and salt AD most likely uses (aes256, REALM + name).
 * krb5 finds it in a MEMORY keytab, which holds a key only once krb5 has
 * picked the enctype, salt and parameters from the KDC's etype info (read
 * from its trace), and then the one derived under exactly those -- what
 * krb5 itself would derive from the password; the guess only saves the
 * time.  Where the trace cannot be read exactly, krb5 finds no key,
 * nothing derived has been sent (!used), and the check runs again with the
 * password. */
typedef struct pwcheck_spec {
    krb5_keytab kt;              /* NULL: not speculating */
    int slot;                    /* of the checker's few keytabs (MIT cannot destroy one) */
    krb5_principal names[2];     /* the client in the machine's realm and in the guessed one */
    int n_names;
    krb5_enctype etype;          /* and salt: those of key */
    char salt[300];
    krb5_keyblock key;           /* length 0 until derived */
    bool offered;                /* the keytab holds the key */
    bool used;                   /* a message went to a KDC while it did */
    bool ahead;                  /* key was derived before the decision */
} pwcheck_spec;

/* Holds back every message to a KDC until the caller decides: sent on go,
 * never on cancel (unknown users and refused checks reach no KDC).  krb5
 * gets the password from gate_prompter when it needs the key, or the key
 * from spec.kt. */
typedef struct pwcheck_gate {
    pthread_mutex_t lock;
    pthread_cond_t decided;
    enum { GATE_PENDING, GATE_GO, GATE_CANCEL } state;
    adb_secret *password;        /* the early check's own copy */
    pwcheck_spec spec;           /* touched by the check's own thread only */
} pwcheck_gate;

/* Sets up g->spec for client (as parsed from user; realm: the machine's)
 * when one of pc's keytab slots is free; false: the check runs with the
 * password alone. */
bool pwcheck_spec_begin(adb_pwcheck *pc, pwcheck_gate *g, krb5_context ctx, krb5_const_principal client,
                        const char *user, const char *realm);
/* krb5_init_creds_set_keytab with g->spec's keytab, which stays empty
 * until the KDC's etype info matches. */
krb5_error_code pwcheck_spec_attach(pwcheck_gate *g, krb5_context ctx, krb5_init_creds_context icc);
/* The enctype and salt of the KDC's etype info as krb5's trace shows it
 * ("etype aes256-cts, salt \"ADB.TESTalice\", params \"\\x00\\x00\\x10\\x00\""),
 * when the salt is shown byte for byte and the parameters are the
 * enctype's defaults (the only ones the key is derived with); else false. */
bool pwcheck_etype_info_parse(const char *info, krb5_enctype *etype, char *salt, size_t size);
/* The adb_krb_trace etype_info callback; arg is the gate. */
void pwcheck_spec_etype_info(krb5_context ctx, const char *info, void *arg);
/* Takes the key out of the keytab, wipes it and frees the slot. */
void pwcheck_spec_end(adb_pwcheck *pc, pwcheck_gate *g, krb5_context ctx);

/* A slot for a speculating check (a CPU cost for a check that may yet be
 * refused, so two at a time and twenty a second): its number, or -1 when
 * none is free now. */
int pwcheck_spec_slot_take(adb_pwcheck *pc);
void pwcheck_spec_slot_give(adb_pwcheck *pc, int slot);

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
