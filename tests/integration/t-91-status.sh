# Status announcements (src/adbridged/status.c, src/link/link_status.c,
# schemas/status.schema.json) and the cloud side's table of forests x
# instances (tools/adbridge-cloud status): two adbridged, each on a
# connector host of its own (testenv connector add), announce to
# /queue/status of the tests' RabbitMQ; one is cut from partner.test.
. "$ADB_TOP_SRCDIR/tests/integration/broker.sh"
. "$ADB_TOP_SRCDIR/tests/integration/connectors.sh"

TENV="$ADB_TOP_SRCDIR/samba-testenv/testenv"
T91=$ADB_TEST_TMP/t91
mkdir -p "$T91"
T91_CONNS="t91a t91b"
PERIOD=2
CLOUD="/usr/bin/python3 $ADB_TOP_SRCDIR/tools/adbridge-cloud"
VALIDATE="/usr/bin/python3 $ADB_TOP_SRCDIR/tests/conformance/validate.py"

t91_cleanup() { connectors_cleanup $T91_CONNS; }
t91_cleanup
trap 't91_cleanup' EXIT

if ! broker_start "$T91/broker" || [ -z "$BROKER_BRIDGE_URL" ] || ! broker_declare_queue status; then
    echo "not ok - RabbitMQ on the bridge address with a status queue (see the messages above)"
    return 0 2>/dev/null || exit 0
fi
echo "ok - RabbitMQ listens on $BROKER_BRIDGE_URL, queue status declared"
cloud() { $CLOUD --url "$BROKER_AMQP_URL" --user "$BROKER_USER" --password-file "$BROKER_PASSWORD_FILE" \
    status --status-address /queue/status "$@"; }

start_on() { connector_daemon "$1" "$T91" '"workers": 2, "status_address": "/queue/status", "status_period_s": '"$PERIOD"; }
# stop_on C: SIGTERM to the daemon in C's namespace, and wait for it.
stop_on() {
    local ns="adbt-c$1" p i
    for p in $(ip netns pids "$ns" 2>/dev/null); do kill -TERM "$p"; done
    for i in $(seq 1 100); do [ -z "$(ip netns pids "$ns" 2>/dev/null)" ] && return 0; sleep 0.1; done
    return 1
}
reach_of() { # FOREST: instances reaching it, as the cloud tool counts them
    cloud --wait "$((PERIOD + 1))" --json 2>/dev/null | /usr/bin/python3 -c \
        'import json,sys; print(json.load(sys.stdin)["reachable_by"].get(sys.argv[1], 0))' "$1"
}
wait_reach() { # FOREST N SECONDS
    local i r
    for i in $(seq 1 "$3"); do r=$(reach_of "$1"); [ "$r" = "$2" ] && return 0; done
    echo "$1 reachable by ${r:-?}, wanted $2"; return 1
}

for c in $T91_CONNS; do
    check_match "connector add $c" "connector $c: " "$TENV" connector add "$c"
    start_on "$c"
done
for c in $T91_CONNS; do
    check "$c: adbridged connects from its namespace to $BROKER_BRIDGE_URL" wait_log "$T91/$c.log" 'event=link_connected' 30
    check "$c: it announces its status when connected" wait_log "$T91/$c.log" 'event=status_announced reason=connected' 30
done

# ---- what is announced ----
check_match "adbridge-cloud status reads both instances" '"instances"' cloud --wait "$((PERIOD + 1))" --json
cloud --wait "$((PERIOD + 1))" --json >"$T91/status.json" 2>&1
/usr/bin/python3 - "$T91/status.json" "$T91" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
for i, s in enumerate(d["instances"]):
    open("%s/announcement-%d.json" % (sys.argv[2], i), "w").write(json.dumps(s))
EOF
check_eq "two instances announce" 2 "$(ls "$T91"/announcement-*.json 2>/dev/null | wc -l)"
check "every announcement validates against status.schema.json" $VALIDATE --expect-valid status "$T91"/announcement-*.json
check_match "an announcement names its principal, site Tokyo, both forests reachable with their DCs" \
    'CONN-T91A\$@ADB\.TEST.*"site": "Tokyo"' tr -d '\n' <"$T91/status.json"
check_match "adb.test through dc1 (site Tokyo), partner.test through pdc" \
    '"forest": "adb.test", "reachable": true, "domains": \[\{"domain": "adb.test", "reachable": true, "dcs": \[[^]]*"dc1.adb.test"' \
    cat "$T91"/announcement-0.json
/usr/bin/python3 - "$BROKER_AMQP_URL" "$BROKER_USER" "$BROKER_PASSWORD_FILE" >"$T91/ttl.out" 2>&1 <<'EOF'
import sys
from proton.utils import BlockingConnection
c = BlockingConnection(sys.argv[1], user=sys.argv[2], password=open(sys.argv[3]).read().strip(), allowed_mechs="PLAIN", timeout=10)
m = c.create_receiver("/queue/status", credit=1).receive(timeout=10)
print("ttl=%g subject=%s content_type=%s durable=%s" % (m.ttl, m.subject, m.content_type, m.durable))
c.close()
EOF
check_match "the message's header ttl is twice the period ($((2 * PERIOD)) s), subject adbridge.status" \
    "^ttl=$((2 * PERIOD)) subject=adbridge.status content_type=application/json" cat "$T91/ttl.out"
cloud --wait "$((PERIOD + 1))" >"$T91/table-both.txt" 2>&1; rc=$?
check_eq "the table: every forest reachable by two instances, exit 0" 0 "$rc"
check_match "the table has a row per forest and a column per instance" '^partner\.test +yes \(pdc\.partner\.test\) +yes \(pdc\.partner\.test\) +2$' \
    cat "$T91/table-both.txt"
sed 's/^/# /' "$T91/table-both.txt"

# ---- a cut changes the status at once (the next probe), a restore too ----
changes() { grep -c 'event=status_announced reason=change' "$T91/t91a.log"; }
wait_changes() { # N SECONDS: t91a has announced N changes
    local i
    for i in $(seq 1 $(( $2 * 10 ))); do [ "$(changes)" -ge "$1" ] && return 0; sleep 0.1; done
    echo "t91a announced $(changes) changes, wanted $1"; return 1
}
since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}'; }
n0=$(changes) t0=$(date +%s.%N)
check_match "connector cut t91a partner.test" 'cut now: partner\.test' "$TENV" connector cut t91a partner.test
check "t91a announces the change" wait_changes $((n0 + 1)) $((PERIOD * 5))
echo "# cut -> t91a announced the change: $(since "$t0") s (it probes every period, $PERIOD s)"
check "partner.test is reachable by 1 instance after the cut" wait_reach partner.test 1 5
echo "# cut -> the cloud tool counts partner.test reachable by 1: $(since "$t0") s"
cloud --wait "$((PERIOD + 1))" >"$T91/table-cut.txt" 2>&1; rc=$?
check_eq "the table's exit status is 1 while a forest has fewer than two" 1 "$rc"
check_match "it warns about partner.test" '^WARNING: forest partner\.test is reachable by 1 instance \(fewer than two\)$' \
    cat "$T91/table-cut.txt"
check_match "the cut instance shows why" '^partner\.test .*no \(dc_unavailable\)' cat "$T91/table-cut.txt"
sed 's/^/# /' "$T91/table-cut.txt"
check "adb.test stays reachable by both" wait_reach adb.test 2 3
n0=$(changes) t0=$(date +%s.%N)
check_match "connector restore t91a partner.test" 'cut now: \)' "$TENV" connector restore t91a partner.test
check "t91a announces the recovery" wait_changes $((n0 + 1)) $((PERIOD * 5))
echo "# restore -> t91a announced the change: $(since "$t0") s"
check "partner.test is reachable by 2 again after the restore" wait_reach partner.test 2 $((PERIOD * 3))

# ---- an instance that stops is gone once its announcements expire ----
check "t91b stops on SIGTERM" stop_on t91b
sleep $((2 * PERIOD + 1))
check "after its TTL only one instance is left" wait_reach adb.test 1 3
check "t91a stops on SIGTERM" stop_on t91a
check "no announcement failed to go out" bash -c "! grep -h 'event=status_failed' '$T91/t91a.log' '$T91/t91b.log'"
