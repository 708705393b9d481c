# Several connector hosts (samba-testenv `connector add`): each in its own
# namespace with its own machine account and keytab, reaching the DCs and
# the tests' broker; `connector cut` takes one connector off one forest
# while the other keeps it.
. "$ADB_TOP_SRCDIR/tests/integration/broker.sh"

TENV="$ADB_TOP_SRCDIR/samba-testenv/testenv"
T90=$ADB_TEST_TMP/t90
mkdir -p "$T90"
T90_CONNS="t90a t90b"

t90_cleanup() {
    local c
    for c in $T90_CONNS; do "$TENV" connector del "$c" >/dev/null 2>&1; done
    broker_stop
}
t90_cleanup   # what an interrupted earlier run left
trap 't90_cleanup' EXIT

on() { local c=$1; shift; "$TENV" run --on "$c" -- "$@"; }
pw() { printf '%s\n' 'Adb.User-Passw0rd'; }
auth_on() { pw | on "$1" adbridge auth --stdin "$2"; }
machine_of() { echo "CONN-$(echo "$1" | tr a-z A-Z)\$@ADB.TEST"; }
machine_re() { machine_of "$1" | sed 's/\$/\\$/'; }

for c in $T90_CONNS; do
    check_match "connector add $c: own namespace, address and machine account" "connector $c: 10\.231\.0\.1[0-9]{2} .*principal $(machine_re "$c")" \
        "$TENV" connector add "$c"
    check_eq "$c: its keytab is mode 600" 600 "$(stat -c %a "$ADB_TEST_STATE/connectors/$c/keytab" 2>&1)"
done
check_match "connector list shows both" 't90a .*10\.231\.0\.1[0-9]{2}.*
t90b ' "$TENV" connector list
a_ip=$(cat "$ADB_TEST_STATE/connectors/t90a/ip" 2>/dev/null); b_ip=$(cat "$ADB_TEST_STATE/connectors/t90b/ip" 2>/dev/null)
check "the two connectors have different addresses" test -n "$a_ip" -a "$a_ip" != "$b_ip"
check_match "run --on: commands run in the connector's namespace (its own address on eth0)" "inet $a_ip/16" \
    on t90a ip -4 -o addr show dev eth0
check_fail "run --on an unknown connector is refused" "no connector 'nosuch'" "$TENV" run --on nosuch -- true

for c in $T90_CONNS; do
    check_match "$c: kinit with its own keytab as $(machine_of "$c")" "Default principal: $(machine_re "$c")" \
        on "$c" env KRB5CCNAME="FILE:$T90/$c.ccache" bash -c "kinit -k -t \"\$1\" \"\$2\" && klist" _ \
        "$ADB_TEST_STATE/connectors/$c/keytab" "$(machine_of "$c")"
    check_match "$c: adbridge user ADB\\alice (its own configuration and keytab)" '^display name +Alice Anderson$' \
        on "$c" adbridge user 'ADB\alice'
    check_match "$c: adbridge auth alice (password check through its keytab)" '^result +ok$' auth_on "$c" alice
    check_match "$c: adbridge user PARTNER\\pat.partner (the other forest)" '^name +PARTNER\\pat\.partner$' \
        on "$c" adbridge user 'PARTNER\pat.partner'
done
check "each connector's CLI state is its own (machine ccache under its state dir)" \
    test -s "$ADB_TEST_STATE/connectors/t90a/adbridge/machine.ccache" -a -s "$ADB_TEST_STATE/connectors/t90b/adbridge/machine.ccache"

# ---- the tests' broker from the connectors' namespaces ----
if broker_start "$T90/broker"; then
    check_match "the broker listens on the bridge address" '^amqp://10\.231\.0\.1:[0-9]+$' echo "$BROKER_BRIDGE_URL"
    for c in $T90_CONNS; do
        check_match "$c: reaches the broker at $BROKER_BRIDGE_URL (AMQP open, SASL PLAIN)" 'probe code=ok .*sasl=PLAIN' \
            on "$c" env LINK_URL="$BROKER_BRIDGE_URL" LINK_USER="$BROKER_USER" LINK_PASSWORD_FILE="$BROKER_PASSWORD_FILE" \
            LINK_MECHS=PLAIN "$ADB_TOP_BUILDDIR/tests/integration/test_link" probe
    done
    broker_stop
else
    echo "not ok - RabbitMQ with rabbitmq_amqp1_0 started (see the messages above)"
fi

# ---- cut one connector from partner.test ----
check_match "connector cut t90a partner.test" 'cut now: partner\.test' "$TENV" connector cut t90a partner.test
check_match "connector list shows the cut" 't90a .*partner\.test' "$TENV" connector list
check_fail "t90a: PARTNER\\pat.partner fails with dc_unavailable while cut" 'dc_unavailable' \
    on t90a adbridge user 'PARTNER\pat.partner'
check_fail "t90a: a password check in partner.test fails with dc_unavailable while cut" '^result +dc_unavailable$' \
    auth_on t90a pat.partner@partner.test
check_match "t90a: adb.test still answers while partner.test is cut" '^display name +Alice Anderson$' \
    on t90a adbridge user 'ADB\alice'
check_match "t90b: PARTNER\\pat.partner still answers" '^name +PARTNER\\pat\.partner$' on t90b adbridge user 'PARTNER\pat.partner'
check_match "t90b: a password check in partner.test still works" '^result +ok$' auth_on t90b pat.partner@partner.test
check_match "connector cut t90b dc1: one DC of adb.test" 'cut now: dc1' "$TENV" connector cut t90b dc1
check_match "t90b: adb.test fails over to dc2 while dc1 is cut" '^display name +Bob Brown$' \
    on t90b adbridge user 'ADB\bob'
check_match "connector restore t90b dc1" 'cut now: \)$' "$TENV" connector restore t90b dc1
check_match "connector restore t90a partner.test" 'cut now: \)$' "$TENV" connector restore t90a partner.test
check_match "t90a: PARTNER\\pat.partner answers again after the restore" '^name +PARTNER\\pat\.partner$' \
    on t90a adbridge user 'PARTNER\pat.partner'
check_fail "cut with an unknown target is refused" 'usage: .*adb\.test\|partner\.test' "$TENV" connector cut t90a nosuch.test

# ---- del ----
for c in $T90_CONNS; do
    check_match "connector del $c" "connector $c removed" "$TENV" connector del "$c"
done
check "the connectors' namespaces and state are gone" \
    bash -c "! ip netns list | grep -q '^adbt-ct90' && ! ls '$ADB_TEST_STATE/connectors/t90a' 2>/dev/null"
check_fail "their machine accounts are gone" 'Unable to find computer "CONN-T90A\$"' \
    tenv_run samba-tool computer show CONN-T90A -H ldap://dc1.adb.test -U "Administrator%$ADB_TEST_ADMIN_PASSWORD"
