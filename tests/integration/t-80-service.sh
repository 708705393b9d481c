# adbridged as a service an admin installs (issue 14): the unit file checked
# by systemd itself (verify, security score), make install, the sysusers.d and
# tmpfiles.d snippets applied by systemd's tools, the man pages rendered by
# man-db, the privilege drop seen in /proc, the sd_notify protocol on a real
# datagram socket, journald priority prefixes, a machine password rotation
# reaching the running daemon, clone detection and `adbridge key reset`, and
# docs/events.md against every event name in src/.
#
# No systemd runs as PID 1 here, so the unit is not started by systemd: the
# daemon is started as root with "user" in its configuration (the path that
# does without systemd), and systemd's checks run on the unit file offline.
. "$ADB_TOP_SRCDIR/tests/integration/broker.sh"

T80=$ADB_TEST_TMP/t80
mkdir -p "$T80"
# The daemon drops to adbridge: it must be able to reach its state directory.
chmod 711 "$ADB_TEST_TMP" "$T80"
B=$ADB_TOP_BUILDDIR
S=$ADB_TOP_SRCDIR
CLIENT="/usr/bin/python3 $S/tests/integration/amqp_client.py"
T80_PIDS=""

t80_cleanup() {
    local p
    for p in $T80_PIDS; do kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    T80_PIDS=""
    broker_stop
}
trap 't80_cleanup' EXIT

# A missing tool is a failure, never a skip.
for tool in systemd-analyze systemd-sysusers systemd-tmpfiles systemd-id128 man; do
    command -v "$tool" >/dev/null \
        || echo "not ok - $tool is installed (tests/install-deps installs systemd and man-db)"
done

wait_gone() { # PID [SECONDS]
    local i
    for i in $(seq 1 $(( ${2:-15} * 10 ))); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
    return 1
}
# The admin reads the service's keys as the service's user (they are its files).
as_adbridge() { setpriv --reuid=adbridge --regid=adbridge --init-groups "$@"; }
key_id_of() { as_adbridge adbridge --config "$1" key show --json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["key_id"])'; }
# "STATUS FIX" of diagnose's identity check for a configuration.
identity_check_of() {
    adbridge --config "$1" diagnose --json --skip-cloud --domain adb.test 2>/dev/null | /usr/bin/python3 -c '
import json, sys
c = [c for c in json.load(sys.stdin)["checks"] if c["id"] == "keytab.identity"][0]
print(c["status"], c["fix"] or "")'
}
status_field() { awk -v k="$2:" '$1 == k { $1 = ""; sub(/^ +/, ""); print }' "/proc/$1/status"; }

# ---- the unit file, as systemd reads it ----
unit=$B/dist/adbridged.service
check "adbridged.service was generated from dist/adbridged.service.in" test -s "$unit"
rm -rf "$T80/inst"
check "make install DESTDIR= installs" make -s -C "$B" install DESTDIR="$T80/inst"
prefix=$(sed -n 's/^prefix = //p' "$B/Makefile")
unitdir=$(sed -n 's/^systemdsystemunitdir = //p' "$B/Makefile")
sysusersdir=$(sed -n 's/^sysusersdir = //p' "$B/Makefile")
tmpfilesdir=$(sed -n 's/^tmpfilesdir = //p' "$B/Makefile")
for f in "$prefix/bin/adbridge" "$prefix/sbin/adbridged" "$unitdir/adbridged.service" \
    "$sysusersdir/adbridge.conf" "$tmpfilesdir/adbridge.conf" "$prefix/share/man/man8/adbridge.8" \
    "$prefix/share/man/man8/adbridged.8" "$prefix/share/man/man5/adbridge.json.5" \
    "$prefix/share/doc/adbridge/adbridge.json.example" "$prefix/share/doc/adbridge/events.md"; do
    check "installed: $f" test -s "$T80/inst$f"
done
check_match "the installed unit starts the installed daemon" "^ExecStart=$prefix/sbin/adbridged " \
    grep '^ExecStart=' "$T80/inst$unitdir/adbridged.service"
# verify checks the command exists and runs man for Documentation=: point
# both at what was just installed.
sed "s|^ExecStart=$prefix/sbin/adbridged|ExecStart=$T80/inst$prefix/sbin/adbridged|" "$unit" >"$T80/adbridged.service"
check_eq "systemd-analyze verify: no complaint" "0:" \
    "$(out=$(MANPATH="$T80/inst$prefix/share/man" systemd-analyze verify "$T80/adbridged.service" 2>&1); echo "$?:$out")"
check_fail "... and verify does fail when the man pages are missing (the check is live)" "man adbridged\(8\)" \
    env MANPATH="$T80/nowhere" systemd-analyze verify "$T80/adbridged.service"
score=$(systemd-analyze security --offline=true "$T80/adbridged.service" 2>/dev/null \
    | sed -n 's/.*Overall exposure level for adbridged.service: \([0-9.]*\).*/\1/p')
echo "# systemd-analyze security --offline=true: exposure $score"
check "systemd-analyze security: exposure $score <= 1.5" awk -v s="$score" 'BEGIN { exit !(s != "" && s <= 1.5) }'
for k in Type=notify WatchdogSec= User=adbridge CapabilityBoundingSet= NoNewPrivileges=yes ProtectSystem=strict \
    StateDirectory=adbridge LoadCredential=keytab: ExecReload= "RestartPreventExitStatus=2 78"; do
    check "unit sets $k" grep -q "^$k" "$unit"
done

# ---- sysusers.d and tmpfiles.d, applied by systemd's own tools in a scratch root ----
mkdir -p "$T80/root/etc"
check "systemd-sysusers --root creates the adbridge account" systemd-sysusers --root="$T80/root" "$S/dist/sysusers.d/adbridge.conf"
check_match "... a system account with no login shell" '^adbridge:x:[0-9]{3}:[0-9]{3}:.*:/var/lib/adbridge:/usr/sbin/nologin$' \
    cat "$T80/root/etc/passwd"
check "systemd-tmpfiles --root creates the directories" systemd-tmpfiles --create --root="$T80/root" "$S/dist/tmpfiles.d/adbridge.conf"
check_eq "... /var/lib/adbridge: mode 0700, owned by adbridge" "700 adbridge" \
    "$(stat -c '%a %u' "$T80/root/var/lib/adbridge" | { read -r m u; echo "$m $(awk -F: -v u="$u" '$3 == u {print $1}' "$T80/root/etc/passwd")"; })"

# ---- man pages ----
for m in man8/adbridge.8 man8/adbridged.8 man5/adbridge.json.5; do
    page=$T80/inst$prefix/share/man/$m
    check_eq "man -l $m renders without a warning" "0:" \
        "$(out=$(MANWIDTH=80 LC_ALL=C.UTF-8 man --warnings -l "$page" 2>&1 >/dev/null); echo "$?:$out")"
done
check_match "adbridged(8) documents the credentials and signals" 'LoadCredential.*keytab' \
    env MANWIDTH=200 man -l "$T80/inst$prefix/share/man/man8/adbridged.8"

# ---- the account on this host (what the package's postinst does) ----
check "systemd-sysusers creates the adbridge account on this host" systemd-sysusers "$S/dist/sysusers.d/adbridge.conf"
uid=$(id -u adbridge 2>/dev/null); gid=$(id -g adbridge 2>/dev/null)

if ! broker_start "$T80/broker"; then
    echo "not ok - RabbitMQ with rabbitmq_amqp1_0 started (tests/install-deps installs it)"
    return 0 2>/dev/null || exit 0
fi

# The daemon's configuration: the testenv's, with a broker, a state
# directory of its own owned by adbridge, and "user".
install -d -m 700 -o adbridge -g adbridge "$T80/state"
mkcfg() { # OUT [PYTHON...]
    local out=$1; shift
    /usr/bin/python3 - "$ADBRIDGE_CONFIG" "$out" "$@" <<EOF
import json, sys
c = json.load(open(sys.argv[1]))
c["state_dir"] = "$T80/state"
c["user"] = "adbridge"
c["broker"] = {"url": "$BROKER_AMQP_URL", "address": "/queue/requests", "username": "$BROKER_USER",
               "password_file": "$BROKER_PASSWORD_FILE", "sasl_mechanisms": "PLAIN", "workers": 2,
               "reconnect_max_s": 4}
for stmt in sys.argv[3:]:
    exec(stmt)
json.dump(c, open(sys.argv[2], "w"), indent=1)
EOF
}
mkcfg "$T80/adbridged.json"
check_match "adbridged --check-config as root with \"user\" checks as that user" 'is valid' \
    adbridged --check-config --config "$T80/adbridged.json"

# A datagram socket that plays systemd's side of sd_notify(3).
cat >"$T80/notify_listen.py" <<'EOF'
import os, socket, sys, time
path, log = sys.argv[1], open(sys.argv[2], "a", buffering=1)
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
os.chmod(path, 0o666)   # the daemon sends after dropping root
while True:
    for line in s.recv(4096).decode("utf-8", "replace").split("\n"):
        log.write("%.3f %s\n" % (time.time(), line))
EOF
install -d -m 755 "$T80/sock"
setsid /usr/bin/python3 "$T80/notify_listen.py" "$T80/sock/notify" "$T80/notify.log" </dev/null >/dev/null 2>&1 &
T80_PIDS="$T80_PIDS $!"
for i in $(seq 1 50); do [ -S "$T80/sock/notify" ] && break; sleep 0.1; done

# The daemon's stderr stands in for journald's stream: $JOURNAL_STREAM names it.
: >"$T80/d1.log"
js=$(stat -c '%d:%i' "$T80/d1.log")
NOTIFY_SOCKET="$T80/sock/notify" WATCHDOG_USEC=1000000 JOURNAL_STREAM=$js \
    setsid adbridged --config "$T80/adbridged.json" >"$T80/d1.out" 2>>"$T80/d1.log" </dev/null &
D1=$!
T80_PIDS="$T80_PIDS $D1"
check "adbridged (started as root) connects" wait_log "$T80/d1.log" 'event=link_connected'

# ---- least privilege, as the kernel sees it ----
check_eq "Uid (real, effective, saved, fs) is adbridge's" "$uid $uid $uid $uid" "$(status_field "$D1" Uid | xargs)"
check_eq "Gid is adbridge's" "$gid $gid $gid $gid" "$(status_field "$D1" Gid | xargs)"
check_eq "no supplementary group but adbridge's" "$gid" "$(status_field "$D1" Groups | xargs)"
for c in CapEff CapPrm CapInh CapAmb CapBnd; do
    check_eq "$c is empty" 0000000000000000 "$(status_field "$D1" "$c")"
done
check_eq "NoNewPrivs is set" 1 "$(status_field "$D1" NoNewPrivs)"
check_match "the log says so" 'event=privileges_dropped user=adbridge .*capabilities=none no_new_privs=1' cat "$T80/d1.log"
check_eq "state files are the service user's (made after the drop)" "adbridge adbridge adbridge" \
    "$(stat -c %U "$T80/state/instance-keys" "$T80/state/instance-identity" "$T80/state" | xargs)"
check_eq "its copies of the secret files: /run/adbridged/PID, 0700, files 0400, adbridge's" \
    "700 adbridge|400 adbridge keytab|400 adbridge broker-password|" \
    "$(stat -c '%a %U' "/run/adbridged/$D1" | tr '\n' '|'; for f in keytab broker-password; do stat -c "%a %U $f" "/run/adbridged/$D1/$f"; done | tr '\n' '|')"

# ---- serving, unprivileged ----
/usr/bin/python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); r.pop("deadline",None); r["id"]="@CID@"; print(json.dumps(r))' \
    "$S/schemas/examples/valid/request-health.json" >"$T80/health.json"
/usr/bin/python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); r["id"]="@CID@"; print(json.dumps(r))' \
    "$S/schemas/examples/valid/request-user.get.json" >"$T80/user.json"
check_match "health answered by the unprivileged daemon" 'replies=1 unique=1' \
    $CLIENT roundtrip --n 1 --prefix h1 --body-file "$T80/health.json" --out "$T80/h1.jsonl"
check_match "user.get answered (Kerberos and sealed LDAP as adbridge, keytab from its copy)" 'replies=1 unique=1' \
    $CLIENT roundtrip --n 1 --prefix u1 --body-file "$T80/user.json" --out "$T80/u1.jsonl"
check_match "... with alice's entry" '\\"sam_account_name\\":\\"alice\\"' cat "$T80/u1.jsonl"

# ---- sd_notify over a real socket ----
check "READY=1 was sent" wait_log "$T80/notify.log" ' READY=1$'
check_match "STATUS= carries the link state" ' STATUS=link connected to amqp://' cat "$T80/notify.log"
check_eq "READY=1 came after the first link attempt (link_connected logged before it)" ok "$(
    r=$(awk '/ READY=1$/ {print $1; exit}' "$T80/notify.log")
    c=$(grep -m1 'event=link_connected' "$T80/d1.log" | sed -E 's/^(<[0-9]>)?ts=([^ ]+).*/\2/')
    /usr/bin/python3 -c 'import sys,datetime; r=float(sys.argv[1]); c=datetime.datetime.strptime(sys.argv[2], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc).timestamp(); print("ok" if c <= r + 0.001 else "READY before connect")' "$r" "$c")"
sleep 2
check "WATCHDOG=1 pings keep coming (WATCHDOG_USEC=1s: at least 3 in the run so far)" \
    test "$(grep -c ' WATCHDOG=1$' "$T80/notify.log")" -ge 3
kill -STOP "$D1"
n0=$(grep -c ' WATCHDOG=1$' "$T80/notify.log"); sleep 1.5; n1=$(grep -c ' WATCHDOG=1$' "$T80/notify.log")
check_eq "a stalled daemon sends no WATCHDOG=1 (what makes systemd restart it)" "$n0" "$n1"
kill -CONT "$D1"
check_match "journald priorities: info lines start with <6>" '^<6>ts=.* level=info event=started ' cat "$T80/d1.log"

# ---- the watchdog reads the link thread's heartbeat: it keeps turning while
# it backs off from a broker that is gone (no false stall past 20 s) ----
broker_stop_beam
sleep 23
n0=$(grep -c ' WATCHDOG=1$' "$T80/notify.log"); sleep 2; n1=$(grep -c ' WATCHDOG=1$' "$T80/notify.log")
check "broker gone for 23 s: WATCHDOG=1 still comes (the link thread beats while it backs off)" test "$n1" -gt "$n0"
check "... and no link_stalled was logged" bash -c "! grep -q 'event=link_stalled' '$T80/d1.log'"
broker_launch && broker_declare_queue requests && broker_declare_queue replies
check "the daemon reconnects when the broker is back" \
    bash -c "for i in \$(seq 1 200); do [ \$(grep -c event=link_connected '$T80/d1.log') -ge 2 ] && exit 0; sleep 0.1; done; exit 1"

# ---- machine password rotation reaches the running daemon ----
before=$(grep -c 'event=keytab_reloaded' "$T80/d1.log")
check "testenv rotate-machine-password (adcli update)" "$S/samba-testenv/testenv" rotate-machine-password
newkvno=$(klist -k "$ADB_TEST_KEYTAB" | awk 'NR > 3 {print $1}' | sort -n | tail -1)
kill -HUP "$D1"
check "SIGHUP: RELOADING=1 then READY=1" wait_log "$T80/notify.log" ' RELOADING=1$'
check "the daemon read the rotated keytab through the descriptor it kept from root, and got a TGT with kvno $newkvno" \
    wait_log "$T80/d1.log" "event=keytab_reloaded changed=yes kvno=$newkvno "
check_match "user.get answered after the rotation" 'replies=1 unique=1' \
    $CLIENT roundtrip --n 1 --prefix u2 --body-file "$T80/user.json"
kill -HUP "$D1"
check "a second SIGHUP with nothing new: changed=no" wait_log "$T80/d1.log" 'event=keytab_reloaded changed=no'
kill -TERM "$D1"
check "SIGTERM: STOPPING=1" wait_log "$T80/notify.log" ' STOPPING=1$'
wait_gone "$D1"; wait "$D1" 2>/dev/null
check "stopped cleanly" grep -q 'event=stopped code=ok' "$T80/d1.log"
check "its secret copies are gone with it" test ! -e "/run/adbridged/$D1"
check "nothing secret reached the log" bash -c "! grep -qF -- \"\$(cat '$BROKER_PASSWORD_FILE')\" '$T80/d1.log'"

# ---- a keytab replaced by another file (not rewritten in place) ----
install -m 600 "$ADB_TEST_KEYTAB" "$T80/krb5.keytab"
mkcfg "$T80/replaced.json" "c['keytab'] = '$T80/krb5.keytab'"
setsid adbridged --config "$T80/replaced.json" >/dev/null 2>"$T80/d2.log" </dev/null &
D2=$!; T80_PIDS="$T80_PIDS $D2"
check "daemon on a keytab copy connects" wait_log "$T80/d2.log" 'event=link_connected'
cp "$ADB_TEST_KEYTAB" "$T80/krb5.keytab.new" && chmod 600 "$T80/krb5.keytab.new" && mv "$T80/krb5.keytab.new" "$T80/krb5.keytab"
kill -HUP "$D2"
check "a keytab replaced by rename: the reload says it needs a restart" \
    wait_log "$T80/d2.log" 'event=keytab_reload_failed .*replaced by another file.*restart adbridged'
kill -TERM "$D2"; wait_gone "$D2"; wait "$D2" 2>/dev/null

# ---- systemd's credentials, as the unit passes them ----
# What systemd does for LoadCredential=: private copies, owned by the
# service's user, mode 0400, in $CREDENTIALS_DIRECTORY.  The configuration
# keeps the real paths; the daemon must read the copies.
install -d -m 700 -o adbridge -g adbridge "$T80/creds"
install -m 400 -o adbridge -g adbridge "$T80/krb5.keytab" "$T80/creds/keytab"
install -m 400 -o adbridge -g adbridge "$BROKER_PASSWORD_FILE" "$T80/creds/broker-password"
install -m 400 -o adbridge -g adbridge "$BROKER_PASSWORD_FILE" "$T80/creds/proxy-credentials"
install -m 600 "$T80/krb5.keytab" "$T80/systemd-src.keytab"
mkcfg "$T80/creds.json" "c['keytab'] = '$T80/systemd-src.keytab'"
CREDENTIALS_DIRECTORY=$T80/creds setsid adbridged --config "$T80/creds.json" >/dev/null 2>"$T80/d5.log" </dev/null &
D5=$!; T80_PIDS="$T80_PIDS $D5"
check "with \$CREDENTIALS_DIRECTORY the daemon connects" wait_log "$T80/d5.log" 'event=link_connected'
check_match "... reading the keytab from the credential" "event=credential_used credential=keytab field=\\\$.keytab configured=$T80/systemd-src.keytab copy=systemd" cat "$T80/d5.log"
check_match "... and the broker password too" 'event=credential_used credential=broker-password .*copy=systemd' cat "$T80/d5.log"
check_match "a credential for a field that is not set is reported and ignored" 'level=warn event=credential_unused credential=proxy-credentials' cat "$T80/d5.log"
check "no copies of its own under systemd" test ! -e "/run/adbridged/$D5"
# A rotation while the service runs: systemd's copy does not change.
cat "$ADB_TEST_KEYTAB" >"$T80/systemd-src.keytab"; printf '\0' >>"$T80/systemd-src.keytab"
kill -HUP "$D5"
check "SIGHUP after the keytab changed: the log says a restart delivers it" \
    wait_log "$T80/d5.log" 'event=keytab_reload_failed .*changed since the service started.*systemctl restart adbridged'
kill -TERM "$D5"; wait_gone "$D5"; wait "$D5" 2>/dev/null

# ---- clone detection ----
appid=$(sed -n 's/.*ADB_IDENTITY_APP_ID "\([0-9a-f]*\)".*/\1/p' "$S/include/adbridge/identity.h")
check_eq "the recorded machine is systemd's app-specific id of /etc/machine-id" \
    "$(systemd-id128 machine-id --app-specific="$appid" 2>/dev/null)" "$(sed -n 's/^machine //p' "$T80/state/instance-identity")"
check_match "the recorded principal is the keytab's" "^principal ${ADB_TEST_MACHINE}\\\$@$ADB_TEST_REALM\$" \
    cat "$T80/state/instance-identity"
check_match "diagnose: the identity check passes" '^pass $' identity_check_of "$T80/adbridged.json"
check_fail "key reset on a machine that is not a clone wants --force" 'nothing to reset.*--force' \
    adbridge --config "$T80/adbridged.json" key reset
key0=$(key_id_of "$T80/adbridged.json")
# A clone: the same state directory, another machine id.
cp "$T80/state/instance-identity" "$T80/identity.orig"
sed -i 's/^machine .*/machine 0123456789abcdef0123456789abcdef/' "$T80/state/instance-identity"
: >"$T80/d3.log"
rc=0; JOURNAL_STREAM=$(stat -c '%d:%i' "$T80/d3.log") timeout 30 adbridged --config "$T80/adbridged.json" \
    >/dev/null 2>>"$T80/d3.log" </dev/null || rc=$?
check_eq "a clone refuses to serve: exit 78 (EX_CONFIG, the unit does not restart it)" 78 "$rc"
check_match "... saying why and the fix" 'looks like a clone.*Fix: adbridge key reset' cat "$T80/d3.log"
check_match "... at journald priority err (<3>)" '^<3>ts=.* event=clone_detected reason=machine_id' cat "$T80/d3.log"
check "... before touching the network (no link attempt)" bash -c "! grep -q 'event=link_' '$T80/d3.log'"
check_match "diagnose fails the identity check, with the fix" '^fail adbridge key reset' identity_check_of "$T80/adbridged.json"
# Another machine account (the host joined again under another name).
cp "$T80/identity.orig" "$T80/state/instance-identity"
sed -i 's/^principal .*/principal OTHERHOST$@ADB.TEST/' "$T80/state/instance-identity"
check_fail "keys bound to another machine account: refused" 'belong to machine account OTHERHOST\$@ADB.TEST.*adbridge key reset' \
    timeout 30 adbridged --config "$T80/adbridged.json"
sed -i 's/^machine .*/machine 0123456789abcdef0123456789abcdef/' "$T80/state/instance-identity"
check_match "adbridge key reset (as root) makes a new key pair bound here" 'bound to +this machine' \
    adbridge --config "$T80/adbridged.json" key reset
key1=$(key_id_of "$T80/adbridged.json")
check "... with a new key id" test -n "$key1" -a "$key1" != "$key0"
check_eq "... and no old key left (a clone's copy of the original key is unusable)" 0 \
    "$(as_adbridge adbridge --config "$T80/adbridged.json" key show --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["old_keys"]))')"
check_eq "... files still the service user's" "adbridge adbridge" \
    "$(stat -c %U "$T80/state/instance-keys" "$T80/state/instance-identity" | xargs)"
setsid adbridged --config "$T80/adbridged.json" >/dev/null 2>"$T80/d4.log" </dev/null &
D4=$!; T80_PIDS="$T80_PIDS $D4"
check "after key reset the daemon serves again" wait_log "$T80/d4.log" "event=started .*key_id=$key1"
kill -TERM "$D4"; wait_gone "$D4"; wait "$D4" 2>/dev/null

# ---- files the daemon reads later must be readable after the drop ----
install -d -m 700 "$T80/rootonly"
cp "$ADB_TEST_DC_CA" "$T80/rootonly/ca.pem"
mkcfg "$T80/unreadable.json" "c['ldap'] = {'tls': 'ldaps', 'ca_file': '$T80/rootonly/ca.pem'}"
check_fail "a CA file the service user cannot read is refused at start, with the user and the fix" \
    'ldap.ca_file: .*not readable by user adbridge.*make it readable' timeout 30 adbridged --config "$T80/unreadable.json"
install -d -m 700 "$T80/rootstate"
mkcfg "$T80/nouser.json" "del c['user']" "c['state_dir'] = '$T80/rootstate'"
check_match "started as root without \"user\": it warns that it keeps root" 'event=running_as_root' \
    adbridged --check-config --config "$T80/nouser.json"
mkcfg "$T80/baduser.json" "c['user'] = 'no-such-account'"
check_fail "an account that does not exist: refused with how to create it" "no account named 'no-such-account'.*systemd-sysusers" \
    adbridged --check-config --config "$T80/baduser.json"

# ---- documentation that cannot rot ----
check_match "docs/events.md lists every adb_log event of src/" '^events=[0-9]{2,} missing=0$' \
    /usr/bin/python3 "$S/tests/events_doc.py" "$S/src" "$S/docs/events.md"
grep -v '^| `clone_detected`' "$S/docs/events.md" >"$T80/events-minus-one.md"
check_fail "... and the check catches an event missing from it" 'missing: clone_detected' \
    /usr/bin/python3 "$S/tests/events_doc.py" "$S/src" "$T80/events-minus-one.md"
check_eq "adbridge.json(5) documents every field of schemas/config.schema.json" "" "$(/usr/bin/python3 - \
    "$S/schemas/config.schema.json" "$S/man/adbridge.json.5.scd" <<'EOF'
import json, sys
schema, page = json.load(open(sys.argv[1])), open(sys.argv[2]).read()
def fields(props):
    for name, p in props.items():
        yield name
        yield from fields(p.get("properties", {}))
        yield from fields(p.get("items", {}).get("properties", {}))
print(" ".join(sorted({f for f in fields(schema["properties"]) if "*%s*" % f not in page})))
EOF
)"
check_eq "adbridge(8) documents every command of adbridge --help" "" \
    "$(adbridge --help | awk '/^Commands:/ {on = 1; next} /^$/ {on = 0} on {print $1}' \
       | while read -r c; do grep -qE "^\*$c( |\*)" "$S/man/adbridge.8.scd" || printf '%s ' "$c"; done)"
check_eq "adbridged(8) documents every option of adbridged --help" "" \
    "$(adbridged --help | grep -oE -- '--[a-z-]+' | sort -u \
       | while read -r o; do grep -qF -- "*$o*" "$S/man/adbridged.8.scd" || printf '%s ' "$o"; done)"
check_match "the example configuration (dist/adbridge.json.example) loads" 'example\.com +enabled' \
    adbridge --config "$S/dist/adbridge.json.example" config

t80_cleanup
trap - EXIT
