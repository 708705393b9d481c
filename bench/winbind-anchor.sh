#!/usr/bin/env bash
# winbind as the anchor of `make bench`: a winbindd of our own against
# samba-testenv, the system's /etc untouched.  Its configuration and state live
# in $ADB_WB_DIR (default /var/tmp/adb-bench-winbind): a private smb.conf
# (realm ADB.TEST, workgroup ADB, security = ads, winbind expand groups = 10:
# deep enough for the nest chain, whose one user sits 8 groups down)
# and a computer account of its own, ADBBENCHWB, joined once with the
# Administrator's password and reused while `net ads testjoin` accepts it.
#
#   bench/winbind-anchor.sh N GROUP...
#
# For every GROUP, N cold samples: a fresh winbindd with its caches and idmap
# deleted (the join kept), started once `wbinfo -p` pings, then
# `wbinfo --group-info=ADB\GROUP` timed, then the daemon stopped.  Prints one
# line per group: "winbind GROUP n=N p50_ms=X members=M".
# Needs root and the testenv's variables (eval "$(samba-testenv/testenv env)").
# `bench/winbind-anchor.sh leave` removes the join and the directory.
set -euo pipefail
self=$(readlink -f "$0")
top=$(dirname "$(dirname "$self")")
testenv=$top/samba-testenv/testenv
dir=${ADB_WB_DIR:-/var/tmp/adb-bench-winbind}
conf=$dir/smb.conf
name=ADBBENCHWB
: "${ADB_TEST_ADMIN_PASSWORD:?run with the testenv variables}"

write_conf() {
    mkdir -p "$dir"/{private,lock,state,cache,run}
    chmod 700 "$dir" "$dir/private"
    cat >"$conf" <<EOF
[global]
    workgroup = ADB
    realm = ADB.TEST
    security = ads
    netbios name = $name
    kerberos method = secrets only
    disable netbios = yes
    winbind expand groups = 10
    winbind use default domain = no
    winbind offline logon = no
    idmap config * : backend = tdb
    idmap config * : range = 1000000-1999999
    private dir = $dir/private
    lock directory = $dir/lock
    state directory = $dir/state
    cache directory = $dir/cache
    pid directory = $dir/run
    ncalrpc dir = $dir/run/ncalrpc
    log file = $dir/winbindd.log
    log level = 0
EOF
}

# net reads the password from $PASSWD, never from its command line.
join() {
    if "$testenv" run -- net ads testjoin -s "$conf" >/dev/null 2>&1; then
        return 0
    fi
    PASSWD=$ADB_TEST_ADMIN_PASSWORD "$testenv" run -- net ads join -s "$conf" -U Administrator \
        --no-dns-updates >"$dir/join.log" 2>&1 || { cat "$dir/join.log" >&2; return 1; }
}

leave() {
    [ -f "$conf" ] || return 0
    PASSWD=$ADB_TEST_ADMIN_PASSWORD "$testenv" run -- net ads leave -s "$conf" -U Administrator \
        >/dev/null 2>&1 || true
    rm -rf "$dir"
}

# One cold sample, run inside `testenv run` (a private mount namespace):
# $dir/run is bind-mounted over /run/samba, where wbinfo looks for the
# socket, so the host's /run/samba is untouched too.  A fresh winbindd with
# every cache, idmap and lock database deleted (the join kept); once it
# answers the ping, `wbinfo --group-info` alone is timed; prints "µs members".
wb_pid=
# Stops winbindd's process group, then samba-dcerpcd and its rpcd_* workers,
# which winbindd starts on demand and which detach into a session of their
# own: they are found by the private configuration they were given.
stop_winbind() {
    kill -- -"$wb_pid" 2>/dev/null
    wait "$wb_pid" 2>/dev/null
    while kill -0 -- -"$wb_pid" 2>/dev/null; do sleep 0.05; done
    pkill -f -- "--configfile=$conf" 2>/dev/null
    for _ in $(seq 1 100); do pgrep -f -- "--configfile=$conf" >/dev/null || break; sleep 0.05; done
}
sample_inside() {
    local group=$1 out=$dir/group-info.txt t0 t1
    rm -rf "$dir"/lock/* "$dir"/state/* "$dir"/cache/* "$dir"/run/*
    mount --bind "$dir/run" /run/samba
    # Its own process group, so that stopping it stops its domain children too.
    setsid winbindd -F --no-process-group -s "$conf" </dev/null >>"$dir/winbindd.out" 2>&1 &
    wb_pid=$!
    trap stop_winbind EXIT
    for _ in $(seq 1 200); do
        wbinfo -p >/dev/null 2>&1 && break
        kill -0 "$wb_pid" 2>/dev/null || break
        sleep 0.05
    done
    wbinfo -p >/dev/null 2>&1 || { echo "winbind-anchor: winbindd does not answer (see $dir/winbindd.log)" >&2; return 1; }
    t0=$(date +%s%N)
    wbinfo --group-info="ADB\\$group" >"$out"
    t1=$(date +%s%N)
    # "ADB\g:x:gid:m1,m2,...": count the members.
    echo "$(((t1 - t0) / 1000)) $(awk -F: '{ print ($4 == "") ? 0 : split($4, m, ",") }' "$out")"
}

if [ "${1:-}" = --sample-inside ]; then
    sample_inside "$2"
    exit
fi
if [ "${1:-}" = leave ]; then
    leave
    exit 0
fi
n=${1:?usage: winbind-anchor.sh N GROUP... | leave}
shift
write_conf
join
for group in "$@"; do
    for ((i = 0; i < n; i++)); do
        "$testenv" run -- "$self" --sample-inside "$group"
    done | sort -n | awk -v g="$group" '{ v[NR] = $1; m = $2 } END {
        printf "winbind %s n=%d p50_ms=%.1f members=%d\n", g, NR, v[int(NR * 0.5 + 0.5)] / 1000, m }'
done
