/* adbridge diagnose, the cloud link: one probe of the broker as the daemon
 * would reach it (proxy, TLS, SASL, AMQP open; link.h), run by the daemon's
 * binary (adb_link_probe_exec), and a fix for the stage that failed. */
#include "config.h"

#include "diag_internal.h"

#include <adbridge/clock.h>
#include <adbridge/json.h>
#include <adbridge/link.h>

#include <stdio.h>
#include <string.h>

static void stage_fix(const diag_run *R, const char *stage, char *fix, size_t size)
{
    const adb_broker_config *b = &R->cfg->broker;

    if (strcmp(stage, "config") == 0)
        snprintf(fix, size, "correct \"broker\" in %s (see the message)", R->cfg->path);
    else if (strcmp(stage, "resolve") == 0)
        snprintf(fix, size, "make the broker's (or proxy's) name resolvable from this host");
    else if (strcmp(stage, "tcp") == 0)
        snprintf(fix, size, "allow outbound TCP from this host to %s%s", b->proxy.host ? "the proxy " : b->url,
                 b->proxy.host ? b->proxy.host : "");
    else if (strcmp(stage, "proxy") == 0)
        snprintf(fix, size, "have the proxy %s allow CONNECT to the broker (and check its credentials file)",
                 b->proxy.host ? b->proxy.host : "");
    else if (strcmp(stage, "tls") == 0)
        snprintf(fix, size, "give the CA of the broker's certificate in broker.ca_file, and exempt the broker "
                 "from TLS inspection on the proxy");
    else if (strcmp(stage, "sasl") == 0)
        snprintf(fix, size, "check broker.username / password_file (or the client certificate) in %s", R->cfg->path);
    else if (strcmp(stage, "probe") == 0)
        snprintf(fix, size, "install adbridged beside adbridge (the check runs `adbridged --probe-broker`)");
    else
        snprintf(fix, size, "check the broker's AMQP 1.0 endpoint and virtual host (broker.virtual_host)");
}

void diag_cloud(diag_run *R)
{
    const adb_broker_config *b = &R->cfg->broker;
    adb_link_probe_result pr;
    adb_error e = { 0 };
    char fix[768], title[300];
    double t0 = adb_mono_ms_f();

    if (R->o->skip_cloud) {
        diag_emit(R, NULL, NULL, ADB_DIAG_SKIP, 0, NULL, NULL, "skipped (--skip-cloud)");
        return;
    }
    if (b->url == NULL) {
        diag_emit(R, NULL, NULL, ADB_DIAG_SKIP, 0, NULL, NULL, "no broker configured");
        return;
    }
    snprintf(title, sizeof title, "broker %s%s%s", b->url, b->proxy.host ? " via proxy " : "",
             b->proxy.host ? b->proxy.host : "");
    memset(&pr, 0, sizeof pr);
    adb_code c = adb_link_probe_exec(R->cfg->path, 3 * R->tmo, &pr, &e);
    json_t *det = json_pack("{s:o, s:o, s:o, s:o, s:s?, s:s, s:s, s:s}", "tcp_ms", adb_json_ms_or_null(pr.tcp_ms),
                            "proxy_ms", adb_json_ms_or_null(pr.proxy_ms), "tls_ms", adb_json_ms_or_null(pr.tls_ms),
                            "amqp_open_ms", adb_json_ms_or_null(pr.amqp_open_ms), "failed_stage", pr.failed_stage,
                            "tls_protocol", pr.tls_protocol, "sasl_mechanism", pr.sasl_mech,
                            "remote_container", pr.remote_container);
    if (c == ADB_OK) {
        diag_emit(R, NULL, title, ADB_DIAG_PASS, adb_mono_ms_f() - t0, det, NULL, "AMQP open %s%s%s%s",
                  pr.tls_protocol[0] ? "over " : "(no TLS)", pr.tls_protocol, pr.sasl_mech[0] ? ", SASL " : "",
                  pr.sasl_mech);
        return;
    }
    const char *stage = pr.failed_stage ? pr.failed_stage : pr.error.code == ADB_OK ? "probe" : "connect";
    stage_fix(R, stage, fix, sizeof fix);
    diag_emit(R, NULL, title, ADB_DIAG_FAIL, adb_mono_ms_f() - t0, det, fix, "%s failed: %s", stage,
              e.message[0] ? e.message : pr.error.message);
}
