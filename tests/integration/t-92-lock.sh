# Broker lock awareness (src/link/link_requests.c, link.c): a request whose
# message annotations carry x-opt-locked-until (Azure Service Bus's
# peek-lock end, an AMQP timestamp) is not run once the lock is gone, and
# its reply is never sent after the lock is gone.  Through RabbitMQ, which
# passes the annotation on untouched; adbridged runs on a connector host
# (testenv connector add) so that cutting that host from adb.test makes a
# lookup outlast its lock.
. "$ADB_TOP_SRCDIR/tests/integration/broker.sh"
. "$ADB_TOP_SRCDIR/tests/integration/connectors.sh"

TENV="$ADB_TOP_SRCDIR/samba-testenv/testenv"
T92=$ADB_TEST_TMP/t92
mkdir -p "$T92"
CLIENT="/usr/bin/python3 $ADB_TOP_SRCDIR/tests/integration/amqp_client.py"

t92_cleanup() {
    "$TENV" connector restore t92 adb.test >/dev/null 2>&1
    "$TENV" connector del t92 >/dev/null 2>&1   # stops the daemon in it
    broker_stop
}
t92_cleanup
trap 't92_cleanup' EXIT

if ! broker_start "$T92/broker" || [ -z "$BROKER_BRIDGE_URL" ]; then
    echo "not ok - RabbitMQ on the bridge address (see the messages above)"
    return 0 2>/dev/null || exit 0
fi
echo "ok - RabbitMQ listens on $BROKER_BRIDGE_URL"
check_match "connector add t92" "connector t92: " "$TENV" connector add t92
connector_daemon t92 "$T92" '"workers": 2, "status_period_s": 0'
check "adbridged on t92 connects" wait_log "$T92/t92.log" 'event=link_connected' 30

echo '{"v": 1, "id": "@CID@", "op": "health", "params": {}}' >"$T92/health.json"
echo '{"v": 1, "id": "@CID@", "op": "user.get", "params": {"id": "ADB\\alice"}}' >"$T92/alice.json"
drops() { grep -c 'event=reply_dropped reason=lock_expired' "$T92/t92.log"; }
wait_drops() { # N SECONDS
    local i
    for i in $(seq 1 $(( $2 * 10 ))); do [ "$(drops)" -ge "$1" ] && return 0; sleep 0.1; done
    echo "reply_dropped lock_expired: $(drops), wanted $1"; return 1
}
wait_empty() { # the requests queue: nothing ready, nothing unacknowledged
    local i
    for i in $(seq 1 "$1"); do [ "$(broker_queue_depth requests)" = "0 0" ] && return 0; sleep 1; done
    echo "requests queue: $(broker_queue_depth requests)"; return 1
}

# ---- a lock far ahead changes nothing ----
check_match "a request locked for 60 s more is answered" 'replies=1 unique=1' \
    $CLIENT roundtrip --n 1 --prefix far --body-file "$T92/health.json" --locked-until 60000 --out "$T92/far.jsonl"
check_eq "... with its result" True "$(reply_field "$T92/far.jsonl" far-0 '"result" in r')"

# ---- a lock already gone: not run, and no reply ----
n0=$(drops)
$CLIENT send --n 1 --prefix gone --body-file "$T92/alice.json" --locked-until -5000
check "a request whose lock ended 5 s ago gets its reply dropped" wait_drops $((n0 + 1)) 10
check "the dispatcher refused to run it (its expiry is the lock's end)" \
    grep -q 'code=timeout' "$T92/t92.log"
check "it is rejected at broker.delivery_limit, not looped for ever" wait_log "$T92/t92.log" 'event=request_rejected reason=delivery_limit' 20
check "the requests queue is empty again" wait_empty 10
check_fail "no reply was sent for it" 'replies=0' $CLIENT collect --n 1 --prefix gone --timeout 2

# ---- the lock ends while the request runs: the late reply is not sent ----
check_match "connector cut t92 adb.test (lookups there now take seconds)" 'cut now: adb\.test' "$TENV" connector cut t92 adb.test
n0=$(drops)
$CLIENT send --n 1 --prefix late --body-file "$T92/alice.json" --locked-until 2500
# (a lookup with adb.test cut fails after ~32 s: the KDC and LDAP timeouts)
check "the reply that would come after the lock is dropped" wait_drops $((n0 + 1)) 75
check_match "the log says how late it was" 'event=reply_dropped reason=lock_expired message_id=m-late-0 late_ms=[0-9]+' \
    grep 'message_id=m-late-0' "$T92/t92.log"
check "the requests queue is empty again" wait_empty 60
check_fail "no reply was sent for it" 'replies=0' $CLIENT collect --n 1 --prefix late --timeout 2
# Control: the same slow request under a lock that lasts is answered.
check_match "the same slow request locked for 60 s is answered (dc_unavailable)" 'replies=1 unique=1' \
    $CLIENT roundtrip --n 1 --prefix slow --body-file "$T92/alice.json" --locked-until 60000 --timeout 60 --out "$T92/slow.jsonl"
check_eq "... with dc_unavailable: the cut is what made it slow" dc_unavailable \
    "$(reply_field "$T92/slow.jsonl" slow-0 'r["error"]["code"]')"
check_match "connector restore t92 adb.test" 'cut now: \)' "$TENV" connector restore t92 adb.test
check_match "after the restore it is answered again" 'replies=1 unique=1' \
    $CLIENT roundtrip --n 1 --prefix back --body-file "$T92/alice.json" --locked-until 60000 --out "$T92/back.jsonl"
