# Requests that cannot be answered must not take the link down (issue 12,
# section 3), against a real broker: RabbitMQ 3.10 + rabbitmq_amqp1_0 started
# here (broker.sh), with a dead-letter policy on the request queue so every
# rejection is counted where the cloud would see it.
#
#   - a reply address naming an exchange that does not exist: RabbitMQ ends
#     the reply's session; the request link stays up, the request runs once
#     and is rejected (dead-lettered) after the reply's attempts;
#   - replies to queues that do not exist create no queue;
#   - a 10 MB request is answered invalid_request without being buffered;
#   - one such poison request in a stream of 1,000 good ones;
#   - broker.delivery_limit: a request given back again and again is
#     rejected unrun after 5 runs;
#   - a broker that sends more than the credit (a relay adds to every credit
#     the link grants): the link never grants more than its free workers and
#     never a negative (wrapped) credit; the extra requests wait for a worker.
. "$ADB_TOP_SRCDIR/tests/integration/broker.sh"

T72=$ADB_TEST_TMP/t72
mkdir -p "$T72"
TL="$ADB_TOP_BUILDDIR/tests/integration/test_link"
CLIENT="/usr/bin/python3 $ADB_TOP_SRCDIR/tests/integration/amqp_client.py"
T72_PIDS=""

t72_cleanup() {
    local p
    for p in $T72_PIDS; do kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    T72_PIDS=""
    broker_stop
}

if ! broker_start "$T72/broker"; then
    echo "not ok - RabbitMQ with rabbitmq_amqp1_0 started (see the messages above; tests/install-deps installs it)"
    t72_cleanup
    return 0 2>/dev/null || exit 0
fi
echo "ok - RabbitMQ 3.10 with rabbitmq_amqp1_0 started on 127.0.0.1:$BROKER_PORT"
trap 't72_cleanup' EXIT
check "rejected requests are dead-lettered into requests.dead (policy)" broker_dead_letter requests requests.dead

count() { grep -cE -- "$2" "$1"; } # FILE REGEX: matching lines
dead() { broker_queue_depth requests.dead | awk '{print $1}'; }
wait_depth() { # QUEUE "READY UNACKED" SECONDS
    local i
    for i in $(seq 1 $(( $3 * 10 ))); do [ "$(broker_queue_depth "$1")" = "$2" ] && return 0; sleep 0.1; done
    echo "$1 stayed at '$(broker_queue_depth "$1")', wanted '$2'"; return 1
}
vm_hwm_kb() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }

# ---- adbridged with the real dispatcher ----
/usr/bin/python3 - "$ADBRIDGE_CONFIG" "$T72/adbridged.json" <<EOF
import json, sys
c = json.load(open(sys.argv[1]))
c["state_dir"] = "$T72/state"
c["broker"] = {"url": "$BROKER_AMQP_URL", "address": "/queue/requests", "username": "$BROKER_USER",
               "password_file": "$BROKER_PASSWORD_FILE", "sasl_mechanisms": "PLAIN", "workers": 4,
               "reconnect_max_s": 4}
json.dump(c, open(sys.argv[2], "w"), indent=1)
EOF
/usr/bin/python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); r.pop("deadline",None); r["id"]="@CID@"; print(json.dumps(r))' \
    "$ADB_TOP_SRCDIR/schemas/examples/valid/request-health.json" > "$T72/health.json"
setsid adbridged --config "$T72/adbridged.json" --foreground > "$T72/d.out" 2> "$T72/d.log" < /dev/null &
PID_d=$!
T72_PIDS="$T72_PIDS $PID_d"
check "adbridged starts and connects (delivery_limit 5 by default)" wait_log "$T72/d.log" 'event=link_connected.*delivery_limit=5 peer=RabbitMQ/3\.10'

# A reply address naming an exchange the broker does not have.
$CLIENT send --n 1 --prefix mx --body-file "$T72/health.json" --reply-to /exchange/nosuch/k
check "missing exchange: the request is rejected (dead-lettered) once" wait_depth requests.dead "1 0" 20
check "missing exchange: the requests queue is empty again" wait_depth requests "0 0" 10
check_eq "missing exchange: the request ran once" 1 "$(count "$T72/d.log" 'event=request id=mx-0 ')"
check_eq "missing exchange: RabbitMQ ended the reply session 3 times (one per attempt)" 3 \
    "$(count "$T72/d.log" 'event=reply_session_ended reply_to=/exchange/nosuch/k')"
check "missing exchange: rejected as reply_undeliverable after 3 attempts" \
    grep -q 'event=request_rejected reason=reply_undeliverable message_id=m-mx-0 reply_to=/exchange/nosuch/k attempts=3' "$T72/d.log"
check_match "after it, requests are answered on the same link" 'replies=5 unique=5 duplicates=0' \
    $CLIENT roundtrip --n 5 --prefix ok1 --body-file "$T72/health.json"

# Replies to queues that do not exist (and a bare name, which RabbitMQ 3.10
# would also declare): accepted by the broker, dropped, nothing created.
queues_before=$(broker_queue_names | xargs)
for i in 1 2 3 4 5; do
    $CLIENT send --n 1 --prefix mq$i --body-file "$T72/health.json" --reply-to "/queue/nosuch-$i"
done
$CLIENT send --n 1 --prefix mqb --body-file "$T72/health.json" --reply-to nosuch-bare
check "missing queues: all 6 requests settled" wait_depth requests "0 0" 20
check_eq "missing queues: no queue was created by the replies" "$queues_before" "$(broker_queue_names | xargs)"
check_eq "missing queues: nothing dead-lettered (the broker accepted the replies)" 1 "$(dead)"

# A 10 MB request: answered invalid_request, not buffered.
hwm_before=$(vm_hwm_kb "$PID_d")
check_match "a 10 MB request is answered" 'replies=1 unique=1 duplicates=0' \
    $CLIENT roundtrip --n 1 --prefix big --body-bytes 10485760 --timeout 60 --out "$T72/big.jsonl"
hwm_after=$(vm_hwm_kb "$PID_d")
check_eq "... with invalid_request" invalid_request "$(reply_field "$T72/big.jsonl" big-0 'r["error"]["code"]')"
check_eq "... and id null (the id is in the body, which was not read)" None "$(reply_field "$T72/big.jsonl" big-0 'r["id"]')"
reply_field "$T72/big.jsonl" big-0 'json.dumps(r)' > "$T72/big-reply.json"
check "the oversize reply is valid by schemas/reply.schema.json" \
    env ADB_TOP_SRCDIR="$ADB_TOP_SRCDIR" /usr/bin/python3 "$ADB_TOP_SRCDIR/tests/conformance/validate.py" \
    --expect-valid reply "$T72/big-reply.json"
check "the daemon logged it oversize, keeping no more than the start" \
    grep -qE 'event=request_oversize message_id=m-big-0 bytes=10485[0-9]{3} kept=[0-9]{1,6}$' "$T72/d.log"
echo "# adbridged VmHWM around the 10 MB request: ${hwm_before} kB -> ${hwm_after} kB"
check "the daemon's peak memory grew by less than 4 MB (not the 10 MB body)" test $(( hwm_after - hwm_before )) -lt 4096

# A body that is not a JSON text (an AMQP map): not copied, answered invalid_request.
check_match "an AMQP map body is answered" 'replies=1 unique=1 duplicates=0' \
    $CLIENT roundtrip --n 1 --prefix map --amqp-map --out "$T72/map.jsonl"
check_eq "... with invalid_request" invalid_request "$(reply_field "$T72/map.jsonl" map-0 'r["error"]["code"]')"

# One poison request (missing exchange) in a stream of 1,000 good ones.
check_match "poison stream: every one of 1,000 good requests answered exactly once" \
    'replies=1000 unique=1000 duplicates=0 uncorrelated=0' \
    $CLIENT roundtrip --n 1000 --prefix ps --body-file "$T72/health.json" --poison-at 500 \
    --poison-reply-to /exchange/nosuch/k --timeout 180 --out "$T72/ps.jsonl"
check "poison stream: the poison request is rejected (dead-lettered) once" wait_depth requests.dead "2 0" 20
check_eq "poison stream: the poison request ran once" 1 "$(count "$T72/d.log" 'event=request id=ps-poison ')"
check "poison stream: the requests queue is empty" wait_depth requests "0 0" 10
echo "# poison stream: good replies $(wc -l < "$T72/ps.jsonl"), dead-lettered $(( $(dead) - 1 )), runs of the poison $(count "$T72/d.log" 'event=request id=ps-poison '), link_lost $(count "$T72/d.log" 'event=link_lost')"
check_eq "the link stayed up throughout: link_lost in the daemon log" 0 "$(count "$T72/d.log" 'event=link_lost')"
check_eq "... and the request link attached once" 1 "$(count "$T72/d.log" 'event=link_connected')"
stop_pid "$PID_d"
check "adbridged stops cleanly" grep -q 'event=stopped code=ok' "$T72/d.log"

# ---- the link alone (test_link's echo responder) ----
export LINK_URL=$BROKER_AMQP_URL LINK_USER=$BROKER_USER LINK_PASSWORD_FILE=$BROKER_PASSWORD_FILE LINK_MECHS=PLAIN
start_echo() { # NAME [VAR=VALUE...]
    local name=$1; shift
    env "$@" setsid "$TL" serve > "$T72/$name.out" 2> "$T72/$name.log" < /dev/null &
    eval "PID_$name=$!"
    T72_PIDS="$T72_PIDS $!"
}
state_of() { # NAME: the state line test_link prints on SIGUSR1
    local pid n
    eval "pid=\$PID_$1"
    n=$(grep -c '^state ' "$T72/$1.out")
    kill -USR1 "$pid"
    for i in $(seq 1 50); do [ "$(grep -c '^state ' "$T72/$1.out")" -gt "$n" ] && break; sleep 0.1; done
    grep '^state ' "$T72/$1.out" | tail -1
}
field() { sed -nE "s/.* $1=([0-9]+).*/\\1/p" <<<"$2"; } # NAME LINE

# broker.delivery_limit (default 5): a request never answered is given back
# each time; the 6th delivery is rejected without running.
start_echo dl LINK_WORKERS=2
check "echo responder dl connects" wait_log "$T72/dl.log" 'event=link_connected'
$CLIENT send --n 1 --prefix gb --body '{"x": "@GIVEBACK@"}'
check "delivery limit: the request is rejected (dead-lettered)" wait_depth requests.dead "3 0" 30
check_eq "delivery limit: it ran 5 times" 5 "$(count "$T72/dl.out" '^job message_id=m-gb-0 ')"
check "delivery limit: the 6th delivery was rejected unrun" \
    grep -q 'event=request_rejected reason=delivery_limit message_id=m-gb-0 deliveries=6 limit=5' "$T72/dl.log"
st=$(state_of dl)
check_eq "delivery limit: counted once" 1 "$(field delivery_limited "$st")"
stop_pid "$PID_dl"

# overdeliver NAME EXTRA LABEL: a relay adds EXTRA to every non-zero credit
# the link grants, so RabbitMQ sends up to EXTRA more requests than asked
# for, to a 2-worker responder; 40 requests through it.
overdeliver() {
    local name=$1 extra=$2 label=$3 st
    $CLIENT inflate-credit --to "127.0.0.1:$BROKER_PORT" --extra "$extra" --port-file "$T72/$name-relay.port" \
        --stats-file "$T72/$name-relay.stats" > "$T72/$name-relay.out" 2>&1 &
    T72_PIDS="$T72_PIDS $!"
    check "credit relay (+$extra) listening" wait_log "$T72/$name-relay.port" '^[0-9]+$' 10
    start_echo "$name" LINK_URL="amqp://127.0.0.1:$(cat "$T72/$name-relay.port")" LINK_WORKERS=2 LINK_DELAY_MS=100
    check "echo responder $name connects through the relay" wait_log "$T72/$name.log" 'event=link_connected'
    check_match "$label: 40 requests answered exactly once" 'replies=40 unique=40 duplicates=0 uncorrelated=0' \
        $CLIENT roundtrip --n 40 --prefix "$name" --timeout 60
    st=$(state_of "$name")
    echo "# $label: $st"
    echo "# $label, relay (credit as the link sent it): $(cat "$T72/$name-relay.stats")"
    check "$label: the broker did send more than the credit" test "$(field overdelivered "$st")" -gt 0
    check "$label: the link logged it" grep -q 'event=broker_overdelivered' "$T72/$name.log"
    check "$label: never more jobs at the workers than workers (max_busy <= 2)" test "$(field max_busy "$st")" -le 2
    check_match "$label: the link never granted more than 2, nor a negative (wrapped) credit" \
        'max_credit=[0-2] negative=0' cat "$T72/$name-relay.stats"
    check_eq "$label: the extra requests waited, none given back (released)" 0 "$(field released "$st")"
    check_eq "$label: ... and none seen as redelivered" 0 "$(field redelivered "$st")"
    stop_pid "$(eval "echo \$PID_$name")"
}
overdeliver od 2 "over-delivery"
# Far over the credit (+6 with 2 workers): every extra request waits for a
# worker too (up to 8 rounds of slots are held), none is given back.
overdeliver of 6 "far over the credit"

# broker.prefetch: 2 workers and 2 requests ahead.  Through a relay that
# adds nothing: the credit it saw reached 4 and never more, the workers
# never held more than 2, and nothing was given back.  (RabbitMQ before 4.0
# now and then sends one transfer more than granted while a flow crosses
# deliveries in flight, rabbitmq-server#2597: those wait like the others.)
$CLIENT inflate-credit --to "127.0.0.1:$BROKER_PORT" --extra 0 --port-file "$T72/pf-relay.port" \
    --stats-file "$T72/pf-relay.stats" > "$T72/pf-relay.out" 2>&1 &
T72_PIDS="$T72_PIDS $!"
check "credit relay (+0) listening" wait_log "$T72/pf-relay.port" '^[0-9]+$' 10
start_echo pf LINK_URL="amqp://127.0.0.1:$(cat "$T72/pf-relay.port")" LINK_WORKERS=2 LINK_PREFETCH=2 LINK_DELAY_MS=100
check "echo responder pf (2 workers, prefetch 2) connects through the relay" wait_log "$T72/pf.log" 'event=link_connected'
check_match "prefetch: 40 requests answered exactly once" 'replies=40 unique=40 duplicates=0 uncorrelated=0' \
    $CLIENT roundtrip --n 40 --prefix pf --timeout 60
st=$(state_of pf)
echo "# prefetch: $st; relay: $(cat "$T72/pf-relay.stats")"
check_match "prefetch: the link granted up to workers + prefetch (4), never more, never negative" \
    'max_credit=4 negative=0' cat "$T72/pf-relay.stats"
check "prefetch: never more jobs at the workers than workers (max_busy <= 2)" test "$(field max_busy "$st")" -le 2
check_eq "prefetch: nothing given back" 0 "$(field released "$st")"
stop_pid "$PID_pf"

t72_cleanup
trap - EXIT
