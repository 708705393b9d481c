# Helpers for integration tests (sourced).  Tests print TAP lines without
# numbers ("ok - ...", "not ok - ..."); run.test counts them and prints the plan.
# Failing checks show the command's last output lines as TAP comments.

# check DESC CMD...: passes when CMD exits 0.
check() {
    local desc=$1 out; shift
    if out=$("$@" 2>&1); then
        echo "ok - $desc"
    else
        echo "not ok - $desc"
        printf '%s\n' "$out" | tail -15 | sed 's/^/#   /'
    fi
}

# check_match DESC REGEX CMD...: CMD exits 0 and its output matches REGEX (grep -E).
check_match() {
    local desc=$1 re=$2 out rc=0; shift 2
    out=$("$@" 2>&1) || rc=$?
    if [ "$rc" = 0 ] && grep -Eq -- "$re" <<<"$out"; then
        echo "ok - $desc"
    else
        echo "not ok - $desc (exit $rc, wanted /$re/)"
        printf '%s\n' "$out" | tail -15 | sed 's/^/#   /'
    fi
}

# check_fail DESC REGEX CMD...: CMD exits non-zero and its output matches REGEX.
check_fail() {
    local desc=$1 re=$2 out rc=0; shift 2
    out=$("$@" 2>&1) || rc=$?
    if [ "$rc" != 0 ] && grep -Eq -- "$re" <<<"$out"; then
        echo "ok - $desc"
    else
        echo "not ok - $desc (exit $rc, wanted failure matching /$re/)"
        printf '%s\n' "$out" | tail -15 | sed 's/^/#   /'
    fi
}

# check_eq DESC EXPECTED ACTUAL
check_eq() {
    if [ "$2" = "$3" ]; then
        echo "ok - $1"
    else
        echo "not ok - $1"
        echo "#   expected: $2"
        echo "#   actual:   $3"
    fi
}

# In the testenv's view of names (its hosts/resolv.conf, its krb5.conf).
tenv_run() {
    "$ADB_TOP_SRCDIR/samba-testenv/testenv" run -- "$@"
}

# A private credential cache for the tests' own Kerberos clients (removed by
# run.test); exported here, not in machine_kinit: checks run in subshells.
export KRB5CCNAME="FILE:$ADB_TEST_TMP/machine.ccache"

machine_kinit() {
    tenv_run kinit -k -t "$ADB_TEST_KEYTAB" "${ADB_TEST_MACHINE}\$@$ADB_TEST_REALM"
}

# ldapsearch as the connector's machine account (GSSAPI, sign+seal).
machine_ldapsearch() {
    local host=$1; shift
    tenv_run ldapsearch -LLL -N -Q -Y GSSAPI -O minssf=56 -H "ldap://$host" "$@"
}

# run_tap CMD...: runs a TAP-speaking program (cmocka with CMOCKA_MESSAGE_OUTPUT=TAP),
# drops its plan and test numbers (run.test numbers the whole stream), and
# reports a crash or a non-zero exit as a failure of its own.
run_tap() {
    local rc=0
    CMOCKA_MESSAGE_OUTPUT=TAP "$@" >"$ADB_TEST_TMP/tap.out" 2>&1 || rc=$?
    sed -E -e '/^1\.\.[0-9]+/d' -e 's/^(ok|not ok) [0-9]+/\1/' -e '/^(ok|not ok|#)/!s/^/# /' "$ADB_TEST_TMP/tap.out"
    [ "$rc" = 0 ] || echo "not ok - $(basename "$1") exited with status $rc"
}

# dc_ports_down TABLE PORTS NS...: every DC namespace NS rejects PORTS (an nft
# set, e.g. "88" or "{ 389, 636, 3268 }") over TCP and UDP until
# dc_ports_up TABLE NS... deletes the table again.
dc_ports_down() {
    local table=$1 ports=$2 ns; shift 2
    for ns in "$@"; do
        ip netns exec "$ns" nft -f - <<NFT
table inet $table {
    chain input { type filter hook input priority 0; tcp dport $ports reject with tcp reset; udp dport $ports reject; }
}
NFT
    done
}
dc_ports_up() {
    local table=$1 ns; shift
    for ns in "$@"; do ip netns exec "$ns" nft delete table inet "$table" 2>/dev/null || true; done
}

# wait_log FILE REGEX [SECONDS]: waits (default 20 s) until FILE matches REGEX.
wait_log() {
    local i
    for i in $(seq 1 $(( ${3:-20} * 10 ))); do grep -Eq -- "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
    echo "timed out waiting for /$2/ in $1"; tail -5 "$1"; return 1
}

# stop_pid PID: SIGTERM, and wait for it.
stop_pid() { kill -TERM "$1" 2>/dev/null; wait "$1" 2>/dev/null; }

# reply_field FILE CID EXPR: EXPR (python, r = the reply's JSON) of the
# reply with correlation id CID in FILE (amqp_client.py --out lines).
reply_field() {
    /usr/bin/python3 -c '
import json,sys
for l in open(sys.argv[1]):
    x = json.loads(l)
    if x["cid"] == sys.argv[2]:
        r = json.loads(x["body"]); print(eval(sys.argv[3])); break' "$@"; }
