#!/usr/bin/env bash
# SSSD as a bench anchor (issue 13: `adbridge groups-of` <= SSSD with an
# empty cache), run against samba-testenv without touching the host's SSSD
# set-up: sssd.conf, SSSD's databases, pipes and logs live in a private mount
# namespace over a temporary directory, and the connector's own keytab
# (CONNECTOR1$) is the host identity, as adbridge uses it.
#
#   sssd-anchor.sh env CMD ARGS...   private mounts, then CMD with
#                                     ADB_BENCH_SSSD=<this script> exported
#   sssd-anchor.sh cold              (inside `env`) a fresh sssd with empty
#                                     caches, online: its machine TGT and a
#                                     first lookup of another user done, so
#                                     the next lookup is the user's first
#   sssd-anchor.sh stop              (inside `env`) stops it
#
# Needs root, samba-testenv's variables (eval "$(testenv env)") and to run
# inside `testenv run` (its resolv.conf and krb5.conf).  Installs sssd-ad
# (and libnss-sss, for `getent -s sss`) when missing; their postinst scripts
# add "sss" to /etc/nsswitch.conf and PAM, which this script undoes: the
# bench machine keeps its own name service.
set -euo pipefail
self=$(readlink -f "$0")
tmp=${ADB_BENCH_SSSD_DIR:-/tmp/adb-bench-sssd}

install_sssd() {
    [ -x /usr/sbin/sssd ] && [ -e /usr/lib/x86_64-linux-gnu/libnss_sss.so.2 ] && return 0
    echo "sssd-anchor: installing sssd-ad and libnss-sss (apt-get)" >&2
    local nss; nss=$(mktemp)
    cp /etc/nsswitch.conf "$nss"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        sssd-ad sssd-tools libnss-sss >/dev/null
    cp "$nss" /etc/nsswitch.conf   # the host's name service stays as it was
    rm -f "$nss"
    if command -v pam-auth-update >/dev/null; then pam-auth-update --disable sss >/dev/null 2>&1 || true; fi
}

write_conf() {
    : "${ADB_TEST_KEYTAB:?run with the variables of testenv env}" "${ADB_TEST_MACHINE:?}"
    mkdir -p "$tmp/etc"
    cat >"$tmp/etc/sssd.conf" <<EOF
[sssd]
services = nss
domains = adb.test

[nss]
memcache_timeout = 0

[domain/adb.test]
id_provider = ad
access_provider = permit
auth_provider = none
ad_domain = adb.test
krb5_realm = ADB.TEST
ad_server = dc1.adb.test
ad_hostname = ${ADB_TEST_MACHINE,,}.adb.test
ldap_sasl_authid = ${ADB_TEST_MACHINE}\$@ADB.TEST
krb5_keytab = $ADB_TEST_KEYTAB
use_fully_qualified_names = True
cache_credentials = False
dyndns_update = False
ad_gpo_access_control = disabled
ldap_referrals = False
EOF
    chmod 600 "$tmp/etc/sssd.conf"
}

case ${1:-} in
env)
    shift
    [ "$(id -u)" = 0 ] || { echo "sssd-anchor: needs root" >&2; exit 2; }
    install_sssd
    rm -rf "$tmp"
    write_conf
    mkdir -p "$tmp/lib" "$tmp/log"
    export ADB_BENCH_SSSD=$self ADB_BENCH_SSSD_DIR=$tmp
    exec unshare --mount --propagation private -- bash -c '
        mount --bind "$1/etc" /etc/sssd && mount --bind "$1/lib" /var/lib/sss &&
        mount --bind "$1/log" /var/log/sssd && shift && exec "$@"' _ "$tmp" "$@"
    ;;
stop)
    pkill -x sssd 2>/dev/null || true
    for _ in $(seq 50); do pgrep -x sssd >/dev/null || exit 0; sleep 0.1; done
    pkill -9 -x sssd 2>/dev/null || true
    ;;
cold)
    [ -n "${ADB_BENCH_SSSD:-}" ] || { echo "sssd-anchor: 'cold' runs inside 'env'" >&2; exit 2; }
    "$self" stop
    rm -rf /var/lib/sss/* /var/log/sssd/*
    mkdir -p /var/lib/sss/db /var/lib/sss/pipes/private /var/lib/sss/mc /var/lib/sss/pubconf \
        /var/lib/sss/gpo_cache /var/lib/sss/keytabs
    chmod 700 /var/lib/sss/pipes/private
    /usr/sbin/sssd -D --logger=files
    # Online: the first lookup gets the machine TGT, the DC and the domain's
    # SID; it is of another user, so nested.user is still uncached.
    for _ in $(seq 100); do
        getent -s sss passwd alice@adb.test >/dev/null 2>&1 && exit 0
        sleep 0.1
    done
    echo "sssd-anchor: sssd did not answer for alice@adb.test within 10 s; its logs:" >&2
    tail -n 20 /var/log/sssd/*.log >&2 || true
    exit 1
    ;;
*)
    echo "usage: sssd-anchor.sh env CMD... | cold | stop" >&2
    exit 2
    ;;
esac
