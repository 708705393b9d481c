/* adbridged's life as a service (see lifecycle.h). */
#include "config.h"

#include "lifecycle.h"
#include "privdrop.h"
#include "secrets.h"

#include <adbridge/clock.h>
#include <adbridge/identity.h>

#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

adb_code adbd_identity_check(const adb_config *cfg, const char *principal, bool record, const adb_logger *log,
                             adb_error *err)
{
    adb_identity_state st;
    adb_identity rec;
    adb_code rc;

    if ((rc = adb_identity_check(cfg->state_dir, principal, &st, &rec, err)) != ADB_OK)
        return rc;
    if (st == ADB_IDENTITY_UNBOUND) {
        if (!record)
            return ADB_OK;
        if ((rc = adb_identity_bind(cfg->state_dir, principal, err)) != ADB_OK)
            return rc;
        adb_log(log, ADB_LOG_INFO, "identity_bound", "principal=%s state_dir=%s", principal, cfg->state_dir);
        return ADB_OK;
    }
    if ((rc = adb_identity_explain(cfg->state_dir, st, &rec, principal, err)) != ADB_OK) {
        adb_log(log, ADB_LOG_ERROR, "clone_detected", "reason=%s recorded_principal=%s principal=%s fix=\"adbridge "
                "key reset\"", st == ADB_IDENTITY_OTHER_MACHINE ? "machine_id" : "principal", rec.principal,
                principal);
        return rc;
    }
    return ADB_OK;
}

adb_code adbd_secure_start(adb_config *cfg, const adb_logger *log, adbd_secrets **secrets, adb_error *err)
{
    adbd_account acct;
    adb_code rc;

    *secrets = NULL;
    if (geteuid() == 0 && cfg->user != NULL) {
        if ((rc = adbd_account_lookup(cfg->user, &acct, err)) != ADB_OK
            || (rc = adbd_secrets_open(cfg, &acct, log, secrets, err)) != ADB_OK
            || (rc = adbd_privdrop(&acct, err)) != ADB_OK)
            return rc;
        adb_log(log, ADB_LOG_INFO, "privileges_dropped", "user=%s uid=%u gid=%u capabilities=none no_new_privs=1",
                acct.name, (unsigned)acct.uid, (unsigned)acct.gid);
    } else if (geteuid() == 0) {
        if ((rc = adbd_secrets_open(cfg, NULL, log, secrets, err)) != ADB_OK)
            return rc;
        adb_log(log, ADB_LOG_WARN, "running_as_root", "msg=\"no $.user in the configuration: the daemon keeps root "
                "and every capability\" fix=\"set \\\"user\\\": \\\"adbridge\\\", or run adbridged.service\"");
    } else {
        struct passwd *pw = getpwuid(geteuid());
        const char *me = pw != NULL ? pw->pw_name : "?";
        if ((rc = adbd_secrets_open(cfg, NULL, log, secrets, err)) != ADB_OK
            || (rc = adbd_privdrop_unprivileged(err)) != ADB_OK)
            return rc;
        if (cfg->user != NULL && strcmp(cfg->user, me) != 0)
            adb_log(log, ADB_LOG_WARN, "user_mismatch", "user=%s configured=%s msg=\"started without root as "
                    "another account than $.user: running as it\"", me, cfg->user);
        adb_log(log, ADB_LOG_INFO, "running_unprivileged", "user=%s uid=%u capabilities=none no_new_privs=1", me,
                (unsigned)geteuid());
    }
    return adbd_secrets_check_readable(cfg, err);
}

void adbd_reload_keytab(adbd_secrets *s, adb_krb *krb, const adb_logger *log)
{
    adb_error err = { 0 };
    bool changed = false;

    if (adbd_secrets_reload_keytab(s, log, &changed, &err) != ADB_OK) {
        adb_log(log, ADB_LOG_ERROR, "keytab_reload_failed", "code=%s error=\"%s\" msg=\"keeping the keytab read "
                "before\"", adb_code_name(err.code), err.message);
        return;
    }
    if (!changed) {
        adb_log(log, ADB_LOG_INFO, "keytab_reloaded", "changed=no kvno=%d", adb_krb_kvno(krb));
        return;
    }
    /* A TGT with the new key now, not at the next refresh. */
    if (adb_krb_refresh(krb, true, &err) != ADB_OK)
        adb_log(log, ADB_LOG_ERROR, "keytab_reload_failed", "code=%s error=\"%s\" msg=\"the new keytab was "
                "read but no ticket could be had with it\"", adb_code_name(err.code), err.message);
    else
        adb_log(log, ADB_LOG_INFO, "keytab_reloaded", "changed=yes kvno=%d principal=%s", adb_krb_kvno(krb),
                adb_krb_principal(krb));
}

void adbd_link_status_text(adb_link *link, const adb_broker_config *b, char *buf, size_t size)
{
    adb_link_state st;

    adb_link_state_get(link, &st);
    if (st.status == ADB_LINK_CONNECTED)
        snprintf(buf, size, "link connected to %s (%s), %u of %u requests in flight", b->url,
                 b->address != NULL ? b->address : "adbridge.requests", st.in_flight, st.slots);
    else if (st.last_code != ADB_OK)
        snprintf(buf, size, "link %s to %s; last error: %.160s", adb_link_status_name(st.status), b->url,
                 st.last_error);
    else
        snprintf(buf, size, "link %s to %s", adb_link_status_name(st.status), b->url);
}

/* sigtimedwait for at most ms; 0 on timeout. */
static int wait_ms(const sigset_t *sigs, int64_t ms)
{
    struct timespec ts = { .tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000L };
    int sig;

    do
        sig = sigtimedwait(sigs, NULL, &ts);
    while (sig < 0 && errno == EINTR);
    return sig < 0 ? 0 : sig;
}

int adbd_wait_first_attempt(adb_link *link, const sigset_t *sigs, adbd_notify *n, int timeout_ms)
{
    int64_t end = adb_mono_ms() + timeout_ms;

    while (adb_mono_ms() < end) {
        adb_link_state st;
        int sig;

        adb_link_state_get(link, &st);
        if (st.status == ADB_LINK_CONNECTED || st.status == ADB_LINK_BACKOFF || st.failures > 0)
            return 0;
        adbd_notify_watchdog(n);
        if ((sig = wait_ms(sigs, 100)) == SIGHUP) {
            /* Keep it for the main loop: nothing is loaded twice. */
            raise(SIGHUP);
            return 0;
        }
        if (sig != 0)
            return sig;
    }
    return 0;
}

int adbd_wait_signal(adb_link *link, const adb_broker_config *b, const sigset_t *sigs, adbd_notify *n,
                     const adb_logger *log)
{
    int64_t tick = 1000;

    if (n->watchdog_usec != 0 && (int64_t)(n->watchdog_usec / 2000) < tick)
        tick = (int64_t)(n->watchdog_usec / 2000) > 0 ? (int64_t)(n->watchdog_usec / 2000) : 1;
    for (bool stalled = false;;) {
        char status[256];
        adb_link_state st;
        int sig;

        /* The snapshot takes the link's lock: no ping when that blocks,
         * and none when the link thread has stopped turning. */
        adbd_link_status_text(link, b, status, sizeof status);
        adbd_notify_status(n, status);
        adb_link_state_get(link, &st);
        if (st.heartbeat_mono_ms == 0 || adb_mono_ms() - st.heartbeat_mono_ms <= ADB_LINK_STALL_MS) {
            adbd_notify_watchdog(n);
            stalled = false;
        } else if (!stalled) {
            stalled = true;
            adb_log(log, ADB_LOG_ERROR, "link_stalled", "since_ms=%lld msg=\"the link thread has not "
                    "turned; watchdog pings stop so that systemd restarts the service\"",
                    (long long)(adb_mono_ms() - st.heartbeat_mono_ms));
        }
        if ((sig = wait_ms(sigs, tick)) != 0)
            return sig;
    }
}
