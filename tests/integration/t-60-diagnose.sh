# adbridge diagnose (src/diag/, src/ad/portprobe.c, dctime.c,
# svcticket.c) against the testenv: the healthy env, then faults injected
# one at a time (DC1 stopped, a port dropped with nftables inside DC2's
# namespace, DC2 black-holed, wrong keytabs, clock skew with libfaketime, an
# unknown domain).  Every --json document is validated against
# schemas/diagnose.schema.json.  The faults disturb the shared testenv: they
# run holding /tmp/testenv.lock (taken here unless an ancestor `flock` holds
# it already) and are undone in an EXIT trap, also when a check fails.
testenv="$ADB_TOP_SRCDIR/samba-testenv/testenv"
schema="$ADB_TOP_SRCDIR/schemas/diagnose.schema.json"
faketime_lib=/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1
T=2            # --timeout (seconds) of the fault runs

lock_held_by_ancestor() {
    local p=$$ cmd
    while [ "${p:-1}" -gt 1 ]; do
        cmd=$(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null)
        case $cmd in *flock*testenv.lock*) return 0 ;; esac
        p=$(awk '{print $4}' "/proc/$p/stat" 2>/dev/null)
    done
    return 1
}
if ! lock_held_by_ancestor; then
    exec 9>/tmp/testenv.lock
    if ! flock -w 1800 9; then
        echo "not ok - t-60: could not take /tmp/testenv.lock within 30 minutes"
        return 0
    fi
fi
for dep in "$faketime_lib" /usr/sbin/nft /usr/bin/ktutil; do
    [ -e "$dep" ] || echo "not ok - t-60 needs $dep (tests/install-deps: libfaketime, nftables, krb5-user)"
done
/usr/bin/python3 -c 'import jsonschema' 2>/dev/null \
    || echo "not ok - t-60 needs python3-jsonschema for /usr/bin/python3"

nft_table=adbdiag
restore() {
    for ns in adbt-dc1 adbt-dc2; do
        ip netns exec "$ns" nft delete table inet "$nft_table" >/dev/null 2>&1
    done
    if ! "$testenv" status 2>/dev/null | grep -q '^dc1 *up'; then
        "$testenv" start-dc dc1 >/dev/null 2>&1
    fi
}
trap restore EXIT

# diag NAME ARGS...: `adbridge diagnose --json ARGS` into $ADB_TEST_TMP/NAME.json;
# its exit status in $ADB_TEST_TMP/NAME.rc and its wall time (s) in NAME.secs.
diag() {
    local name=$1 rc=0 t0 t1; shift
    t0=$(date +%s.%N)
    adbridge diagnose --json "$@" >"$ADB_TEST_TMP/$name.json" 2>"$ADB_TEST_TMP/$name.err" || rc=$?
    t1=$(date +%s.%N)
    echo "$rc" >"$ADB_TEST_TMP/$name.rc"
    /usr/bin/python3 -c 'import sys; print(float(sys.argv[2]) - float(sys.argv[1]))' "$t0" "$t1" >"$ADB_TEST_TMP/$name.secs"
}
# valid NAME: the document is valid against the schema.
valid() {
    check "$1: --json output is valid against schemas/diagnose.schema.json" /usr/bin/python3 -c '
import json, sys, jsonschema
schema = json.load(open(sys.argv[1])); doc = json.load(open(sys.argv[2]))
jsonschema.Draft202012Validator.check_schema(schema)
jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker()).validate(doc)' \
        "$schema" "$ADB_TEST_TMP/$1.json"
}
# q NAME EXPR: a Python expression over the document d; helpers:
#   r(id, dc=None, domain=None) → list of results; st(...) → their statuses joined.
q() {
    /usr/bin/python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
def r(id, dc=None, domain=None):
    return [c for c in d["checks"] if c["id"] == id and (dc is None or c["dc"] == dc)
            and (domain is None or c["domain"] == domain)]
def st(*a, **k): return " ".join(c["status"] for c in r(*a, **k))
print(eval(sys.argv[2]))' "$ADB_TEST_TMP/$1.json" "$2" 2>&1
}
rc_of() { cat "$ADB_TEST_TMP/$1.rc"; }

# ---- healthy env ----
diag healthy --skip-cloud
valid healthy
# partner.test has a single DC (pdc): "one DC reachable" is inherent, so exit 1.
check_eq "healthy: exit 1 (warnings only)" 1 "$(rc_of healthy)"
check_eq "healthy: no failure" 0 "$(q healthy 'd["summary"]["fail"]')"
check_eq "healthy: the only warning is partner.test's single DC" "domain.dcs partner.test" \
    "$(q healthy '" ".join(c["id"]+" "+c["domain"] for c in d["checks"] if c["status"]=="warn")')"
check_eq "healthy: all ten checks ran" "1 2 3 4 5 6 7 8 9 10" \
    "$(q healthy '" ".join(str(k) for k in sorted({c["check"] for c in d["checks"]}))')"
check_eq "healthy: CLDAP, ports, clock, ticket and sealed bind pass on all 3 DCs" "3 3 3 3 3" \
    "$(q healthy '" ".join(str(st(i).split().count("pass")) for i in ("cldap","ports","clock","kerberos.service","ldap"))')"
check_eq "healthy: 12 ports probed per DC (9 TCP, UDP 53 88 389), all open" "12 12 12" \
    "$(q healthy '" ".join(str(sum(p["state"]=="open" for p in c["details"]["ports"])) for c in r("ports"))')"
check_match "healthy: sealed bind shows its SSF" '^(256|128|56)' q healthy 'r("ldap")[0]["details"]["ssf"]'
check_eq "healthy: keytab kvno matches msDS-KeyVersionNumber" pass "$(q healthy 'st("keytab.kvno")')"
check_eq "healthy: both domains marked used for subscriptions" "True True" \
    "$(q healthy '" ".join(str(c["details"]["use_for_subscriptions"]) for c in r("topology.domain"))')"
check_eq "healthy: cloud link skipped with --skip-cloud" skip "$(q healthy 'st("cloud")')"
diag one_domain --domain adb.test
valid one_domain
check_eq "--domain adb.test: exit 0, all pass" 0 "$(rc_of one_domain)"
check_eq "--domain adb.test: no partner.test DC probed" 0 "$(q one_domain 'len(r("cldap", domain="partner.test"))')"
check_eq "no broker in the testenv config: cloud check says so" "no broker configured" \
    "$(q one_domain 'r("cloud")[0]["message"]')"
diag one_dc --dc dc2.adb.test --skip-cloud
valid one_dc
check_eq "--dc dc2.adb.test: only DC2 probed" dc2.adb.test "$(q one_dc '" ".join(c["dc"] for c in r("ports"))')"
out=$(adbridge diagnose --skip-cloud --domain adb.test 2>&1)
check_match "terminal output: grouped by forest/domain, with a summary line" \
    'forest adb.test / domain adb.test' printf '%s\n' "$out"
check_match "terminal output: summary line at the end" 'Summary: [0-9]+ passed, 0 warning' \
    bash -c 'printf "%s\n" "$1" | tail -1' _ "$out"
check "terminal output: no colour when stdout is not a terminal" bash -c '! printf "%s" "$1" | grep -q $'"'"'\033'"'"'' _ "$out"
check "no secret in the output (no password, no key material field)" bash -c \
    '! grep -qF "$ADB_TEST_ADMIN_PASSWORD" "$1"/healthy.json && ! grep -qiE "\"(password|key|keyblock)\":" "$1"/healthy.json' \
    _ "$ADB_TEST_TMP"

# ---- DC1 stopped ----
"$testenv" stop-dc dc1 >/dev/null 2>&1
diag dc1_down --skip-cloud --timeout "$T"
"$testenv" start-dc dc1 >/dev/null 2>&1
valid dc1_down
check_eq "DC1 stopped: exit 2" 2 "$(rc_of dc1_down)"
check_eq "DC1 stopped: its CLDAP ping and ports fail" "fail fail" \
    "$(q dc1_down 'st("cldap", dc="dc1.adb.test") + " " + st("ports", dc="dc1.adb.test")')"
check_match "DC1 stopped: the ports fix names the DC" 'dc1.adb.test|10\.231\.1\.11' \
    q dc1_down 'r("ports", dc="dc1.adb.test")[0]["fix"]'
check_match "DC1 stopped: CLDAP fix says open UDP 389 to it" 'UDP 389 .*10\.231\.1\.11' \
    q dc1_down 'r("cldap", dc="dc1.adb.test")[0]["fix"]'
check_eq "DC1 stopped: its clock and bind are skipped, not timed out" "skip skip" \
    "$(q dc1_down 'st("clock", dc="dc1.adb.test") + " " + st("ldap", dc="dc1.adb.test")')"
check_eq "DC1 stopped: DC2 still passes" "pass pass" \
    "$(q dc1_down 'st("ports", dc="dc2.adb.test") + " " + st("ldap", dc="dc2.adb.test")')"
check_match "DC1 stopped: adb.test warns one DC reachable" '^warn one DC reachable \(dc2.adb.test\)' \
    q dc1_down 'st("domain.dcs", domain="adb.test") + " " + r("domain.dcs", domain="adb.test")[0]["message"]'

# ---- one port dropped inside DC2's namespace ----
# nft_in NS RULES...: a table of ours with an input chain holding RULES (one per line).
nft_in() {
    local ns=$1; shift
    printf 'table inet %s {\n  chain input {\n    type filter hook input priority 0; policy accept;\n%s\n  }\n}\n' \
        "$nft_table" "$(printf '    %s\n' "$@")" | ip netns exec "$ns" nft -f -
}
check "nftables: drop TCP 636 inside adbt-dc2" nft_in adbt-dc2 'tcp dport 636 drop'
diag port_blocked --skip-cloud --timeout "$T" --domain adb.test
ip netns exec adbt-dc2 nft delete table inet "$nft_table"
valid port_blocked
check_eq "TCP 636 dropped on DC2: exit 2" 2 "$(rc_of port_blocked)"
check_eq "TCP 636 dropped on DC2: that port fails (timeout), the 11 others pass" "tcp 636 timeout fail; 11 open" \
    "$(q port_blocked '"; ".join([" ".join([p["protocol"],str(p["port"]),p["state"],p["status"]]) for p in r("ports", dc="dc2.adb.test")[0]["details"]["ports"] if p["status"]!="pass"] + [str(sum(p["state"]=="open" for p in r("ports", dc="dc2.adb.test")[0]["details"]["ports"]))+" open"])')"
check_match "TCP 636 dropped on DC2: fix says open TCP 636 to 10.231.2.12" '^open TCP 636 from this host to 10\.231\.2\.12' \
    q port_blocked 'r("ports", dc="dc2.adb.test")[0]["fix"]'
check_eq "TCP 636 dropped on DC2: DC1's ports pass" pass "$(q port_blocked 'st("ports", dc="dc1.adb.test")')"

# ---- DC2 black-holed (drops everything): a dead DC costs one timeout ----
check "nftables: drop everything arriving in adbt-dc2" nft_in adbt-dc2 'drop'
diag dc2_dead --skip-cloud --timeout "$T"
ip netns exec adbt-dc2 nft delete table inet "$nft_table"
valid dc2_dead
check_eq "DC2 black-holed: exit 2, its ports time out" "2 timeout" \
    "$(rc_of dc2_dead) $(q dc2_dead 'r("ports", dc="dc2.adb.test")[0]["details"]["ports"][3]["state"]')"
# Generous bound from --timeout: DNS + one parallel probe round per domain, the
# topology read, Kerberos' own retries; far below the minutes of serial timeouts.
check "DC2 black-holed: total runtime under 12 x --timeout ($(cat "$ADB_TEST_TMP/dc2_dead.secs") s)" \
    /usr/bin/python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) < 12 * float(sys.argv[2]) else 1)' \
    "$(cat "$ADB_TEST_TMP/dc2_dead.secs")" "$T"

# ---- wrong keytabs (temporary configurations) ----
mkcfg() {   # mkcfg NAME PYTHON-STATEMENTS-ON-c: a copy of the testenv config
    mkdir -p "$ADB_TEST_TMP/$1.state" && chmod 700 "$ADB_TEST_TMP/$1.state"
    /usr/bin/python3 -c '
import json, sys
c = json.load(open(sys.argv[1])); c["state_dir"] = sys.argv[3]
exec(sys.argv[4])
json.dump(c, open(sys.argv[2], "w"))' "$ADBRIDGE_CONFIG" "$ADB_TEST_TMP/$1.cfg.json" "$ADB_TEST_TMP/$1.state" "$2"
}
kvno=$(q healthy 'r("keytab")[0]["details"]["kvno"]')
rm -f "$ADB_TEST_TMP/wrongkey.keytab" "$ADB_TEST_TMP/otherprinc.keytab"
printf 'addent -password -p %s -k %s -e aes256-cts-hmac-sha1-96\nNot-The-Machine-Passw0rd\nwkt %s\n' \
    "${ADB_TEST_MACHINE}\$@$ADB_TEST_REALM" "$kvno" "$ADB_TEST_TMP/wrongkey.keytab" | ktutil >/dev/null 2>&1
printf 'addent -password -p %s -k 2 -e aes256-cts-hmac-sha1-96\nWhatever-Passw0rd\nwkt %s\n' \
    "OTHERHOST\$@$ADB_TEST_REALM" "$ADB_TEST_TMP/otherprinc.keytab" | ktutil >/dev/null 2>&1
chmod 600 "$ADB_TEST_TMP"/*.keytab 2>/dev/null
mkcfg wrongkey "c['keytab'] = '$ADB_TEST_TMP/wrongkey.keytab'"
ADBRIDGE_CONFIG="$ADB_TEST_TMP/wrongkey.cfg.json" diag wrongkey --skip-cloud --timeout "$T" --domain adb.test
valid wrongkey
check_eq "wrong key in the keytab: exit 2, TGT fails" "2 fail" "$(rc_of wrongkey) $(q wrongkey 'st("kerberos.tgt")')"
check_match "wrong key in the keytab: fix says re-join / adcli update" 'adcli join.*adcli update' \
    q wrongkey 'r("kerberos.tgt")[0]["fix"]'
check_eq "wrong key in the keytab: binds skipped (no TGT)" "skip skip" "$(q wrongkey 'st("ldap")')"
mkcfg otherprinc "c['keytab'] = '$ADB_TEST_TMP/otherprinc.keytab'"
ADBRIDGE_CONFIG="$ADB_TEST_TMP/otherprinc.cfg.json" diag otherprinc --skip-cloud --timeout "$T" --domain adb.test
valid otherprinc
check_eq "keytab of another principal: exit 2, keytab fails" "2 fail" "$(rc_of otherprinc) $(q otherprinc 'st("keytab")')"
check_match "keytab of another principal: the message names the machine principal" "${ADB_TEST_MACHINE}" \
    q otherprinc 'r("keytab")[0]["message"]'
check_match "keytab of another principal: fix says adcli join" 'adcli join' q otherprinc 'r("keytab")[0]["fix"]'

# ---- clock skew: this process 10 minutes ahead ----
FAKETIME="+10m" LD_PRELOAD="$faketime_lib" diag skew --skip-cloud --timeout "$T" --domain adb.test
valid skew
check_eq "clock +10 min: exit 2, skew fails on both DCs" "2 fail fail" "$(rc_of skew) $(q skew 'st("clock")')"
check_match "clock +10 min: the skew is about 600 s" '^(59[0-9]|60[0-9]|610)$' q skew 'r("clock")[0]["details"]["skew_s"]'
check_match "clock +10 min: fix says sync with NTP and what the DC says" 'NTP.*chronyc makestep.*the DC says' \
    q skew 'r("clock")[0]["fix"]'
# MIT krb5 adjusts its own offset from the KDC's answer (kdc_timesync, on by
# default), so this process may still get tickets: the skew check is what shows
# the problem.  When Kerberos does fail, its fix must be the NTP one too.
check_match "clock +10 min: TGT passes (MIT kdc_timesync) or fails with the NTP fix" '^(pass None|fail .*NTP.*)$' \
    q skew 'st("kerberos.tgt") + " " + str(r("kerberos.tgt")[0]["fix"])'

# ---- a domain that does not exist ----
mkcfg nosuch "c['domains'].append({'name': 'nosuch.adb-test.invalid', 'use_for_subscriptions': True})"
ADBRIDGE_CONFIG="$ADB_TEST_TMP/nosuch.cfg.json" diag nosuch --skip-cloud --timeout "$T" --domain nosuch.adb-test.invalid
valid nosuch
check_eq "unknown domain: exit 2, its DNS check fails" "2 fail" \
    "$(rc_of nosuch) $(q nosuch 'st("dns.srv", domain="nosuch.adb-test.invalid")')"
check_match "unknown domain: the message names the query" '_ldap\._tcp\.nosuch\.adb-test\.invalid' \
    q nosuch 'r("dns.srv", domain="nosuch.adb-test.invalid")[0]["message"]'
check_match "unknown domain: the fix names the configuration" 'nosuch.cfg.json' \
    q nosuch 'r("dns.srv", domain="nosuch.adb-test.invalid")[0]["fix"]'

restore
trap - EXIT
