# The cloud link against a real broker: RabbitMQ 3.10 + rabbitmq_amqp1_0 and
# tinyproxy, started here (tests/integration/broker.sh).  First the transport
# alone (test_link: an echo responder on adb_link, and adb_link_probe), then
# adbridged with the real dispatcher against the testenv's DCs.
#
# Broker facts these checks rely on (RabbitMQ, not Azure Service Bus):
# delivery_count is not raised on redelivery, first_acquirer is; no dynamic
# reply queues (fixed /queue/replies); a consumer's unsettled messages go back
# to the queue when its connection drops (kill -9), otherwise only after
# consumer_timeout (60 s here).
. "$ADB_TOP_SRCDIR/tests/integration/broker.sh"

T70=$ADB_TEST_TMP/t70
mkdir -p "$T70"
TL="$ADB_TOP_BUILDDIR/tests/integration/test_link"
CLIENT="/usr/bin/python3 $ADB_TOP_SRCDIR/tests/integration/amqp_client.py"
T70_PIDS=""

t70_cleanup() {
    local p
    for p in $T70_PIDS; do kill -KILL "$p" 2>/dev/null; kill -CONT "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    T70_PIDS=""
    proxy_stop plain; proxy_stop auth
    broker_stop
}

if ! broker_start "$T70/broker"; then
    echo "not ok - RabbitMQ with rabbitmq_amqp1_0 started (see the messages above; tests/install-deps installs it)"
    t70_cleanup
    return 0 2>/dev/null || exit 0
fi
echo "ok - RabbitMQ 3.10 with rabbitmq_amqp1_0 started on 127.0.0.1:$BROKER_PORT (TLS $BROKER_TLS_PORT)"
trap 't70_cleanup' EXIT

link_env() { # common LINK_* for the plain listener
    export LINK_URL=$BROKER_AMQP_URL LINK_USER=$BROKER_USER LINK_PASSWORD_FILE=$BROKER_PASSWORD_FILE LINK_MECHS=PLAIN
    unset LINK_CA LINK_PROXY_HOST LINK_PROXY_PORT LINK_PROXY_CRED LINK_DELAY_MS
    export LINK_WORKERS=2 LINK_RECONNECT_MAX_S=4
}

# start_echo NAME [VAR=VALUE...]: a test_link responder in the background.
start_echo() {
    local name=$1; shift
    env "$@" setsid "$TL" serve > "$T70/$name.out" 2> "$T70/$name.log" < /dev/null &
    eval "PID_$name=$!"
    T70_PIDS="$T70_PIDS $!"
}
unacked() { broker_queue_depth requests | awk '{print $2}'; }
wait_unacked() { # N SECONDS
    local i
    for i in $(seq 1 $(( $2 * 10 ))); do [ "$(unacked)" = "$1" ] && return 0; sleep 0.1; done
    echo "unacked stayed $(unacked), wanted $1"; return 1
}
distinct_pids() { /usr/bin/python3 -c '
import json,sys
print(len({json.loads(json.loads(l)["body"])["pid"] for l in open(sys.argv[1])}))' "$1"; }

link_env

# ---- probe and configuration checks ----
check_match "probe: amqp:// with SASL PLAIN opens and closes" 'probe code=ok .*sasl=PLAIN' "$TL" probe
cp "$BROKER_PASSWORD_FILE" "$T70/pw-0644"; chmod 644 "$T70/pw-0644"
check_fail "a broker password file readable by others is refused with the fix" 'mode 0644.*chmod 600' \
    env LINK_PASSWORD_FILE="$T70/pw-0644" "$TL" new
echo wrong-password > "$T70/pw-wrong"; chmod 600 "$T70/pw-wrong"
check_fail "a wrong broker password: probe fails at stage sasl" '\(sasl\): amqp:unauthorized-access' \
    env LINK_PASSWORD_FILE="$T70/pw-wrong" "$TL" probe

# ---- request/reply, correlation ----
start_echo a
check "echo responder a connects" wait_log "$T70/a.log" 'event=link_connected'
check_match "20 requests answered on reply_to, each correlation id once" 'replies=20 unique=20 duplicates=0 uncorrelated=0' \
    $CLIENT roundtrip --n 20 --prefix rt --out "$T70/rt.jsonl"

# ---- competing consumers ----
start_echo b LINK_DELAY_MS=50
check "echo responder b connects" wait_log "$T70/b.log" 'event=link_connected'
export LINK_DELAY_MS=
stop_pid "$PID_a"; start_echo a LINK_DELAY_MS=50
check "echo responder a reconnects" wait_log "$T70/a.log" 'event=link_connected'
check_match "40 requests over two instances all answered once" 'replies=40 unique=40 duplicates=0' \
    $CLIENT roundtrip --n 40 --prefix cc --out "$T70/cc.jsonl"
check_eq "both instances took work" 2 "$(distinct_pids "$T70/cc.jsonl")"
stop_pid "$PID_a"; stop_pid "$PID_b"

# ---- credit = free worker slots ----
start_echo c LINK_WORKERS=1 LINK_DELAY_MS=400
check "responder c (1 worker) connects" wait_log "$T70/c.log" 'event=link_connected'
$CLIENT send --n 6 --prefix cr
max=0
for i in $(seq 1 20); do u=$(unacked); [ -n "$u" ] && [ "$u" -gt "$max" ] && max=$u; sleep 0.1; done
check_eq "with 1 worker at most 1 unsettled delivery outstanding (sampled 20x)" 1 "$max"
check_match "all 6 answered" 'replies=6 unique=6 duplicates=0' $CLIENT collect --n 6 --prefix cr
stop_pid "$PID_c"

# ---- kill -9 while holding a request: redelivered to the other instance ----
start_echo d LINK_WORKERS=1
check "responder d connects" wait_log "$T70/d.log" 'event=link_connected'
kill -STOP "$PID_d"   # d has credit, takes the request, cannot answer
$CLIENT send --n 1 --prefix k9
check "the stopped instance holds the request unsettled" wait_unacked 1 10
start_echo e
check "responder e connects" wait_log "$T70/e.log" 'event=link_connected'
kill -KILL "$PID_d"; kill -CONT "$PID_d" 2>/dev/null; wait "$PID_d" 2>/dev/null
check_match "after kill -9 the request is answered exactly once (by e)" 'replies=1 unique=1 duplicates=0' \
    $CLIENT collect --n 1 --prefix k9 --linger 2 --out "$T70/k9.jsonl"
check_eq "e saw it as redelivered (first_acquirer false; RabbitMQ keeps delivery_count 0)" True \
    "$(reply_field "$T70/k9.jsonl" k9-0 'r["redelivered"]')"

# ---- AMQP expiry passed to the handler ----
check_match "a request with a past absolute-expiry-time is answered" 'replies=1 unique=1' \
    $CLIENT roundtrip --n 1 --prefix ex --expired --out "$T70/ex.jsonl"
check_eq "the handler saw it expired" True "$(reply_field "$T70/ex.jsonl" ex-0 'r["expired"]')"

# ---- broker restart: reconnect with backoff, serve again ----
broker_restart
check "after the broker restarts, e backs off and reconnects" wait_log "$T70/e.log" 'event=link_backoff' 5
check "e connected again" bash -c "for i in \$(seq 1 300); do [ \$(grep -c event=link_connected '$T70/e.log') -ge 2 ] && exit 0; sleep 0.1; done; exit 1"
check_match "requests are served after the restart" 'replies=5 unique=5 duplicates=0' \
    $CLIENT roundtrip --n 5 --prefix rs
stop_pid "$PID_e"

# ---- prefetch: a request queued behind a busy worker goes back unrun on shutdown ----
start_echo g LINK_WORKERS=1 LINK_PREFETCH=1 LINK_DELAY_MS=1500
check "responder g (1 worker, prefetch 1) connects" wait_log "$T70/g.log" 'event=link_connected'
$CLIENT send --n 2 --prefix qw
check "g holds both: one at its worker, one queued behind it" wait_unacked 2 10
stop_pid "$PID_g"
check_eq "g ran one of them" 1 "$(grep -c '^job message_id=' "$T70/g.out")"
check_match "g answered the one it ran and released the other untouched" 'final replied=1 released=1 dropped=0' \
    cat "$T70/g.out"
start_echo h
check "responder h connects" wait_log "$T70/h.log" 'event=link_connected'
check_match "both answered exactly once (the released one by h, not seen as a failed delivery)" \
    'replies=2 unique=2 duplicates=0' $CLIENT collect --n 2 --prefix qw --out "$T70/qw.jsonl"
stop_pid "$PID_h"

# ---- amqps: CA verification ----
check_match "probe amqps:// with the right CA: TLS verified" 'probe code=ok .*tls=TLSv1' \
    env LINK_URL="$BROKER_AMQPS_URL" LINK_CA="$BROKER_CA" "$TL" probe
check_fail "probe amqps:// with a wrong CA fails at stage tls, naming the cause" '\(tls\): .*certificate verify failed' \
    env LINK_URL="$BROKER_AMQPS_URL" LINK_CA="$BROKER_WRONG_CA" "$TL" probe
check_fail "probe amqps:// by a name the certificate lacks (127.0.0.1) fails at tls" 'stage=tls' \
    env LINK_URL="amqps://127.0.0.1:$BROKER_TLS_PORT" LINK_CA="$BROKER_CA" "$TL" probe
start_echo f LINK_URL="$BROKER_AMQPS_URL" LINK_CA="$BROKER_CA"
check "responder f connects over TLS" wait_log "$T70/f.log" 'event=link_connected.*tls=yes'
check_match "requests answered over amqps" 'replies=3 unique=3' $CLIENT roundtrip --n 3 --prefix tls
stop_pid "$PID_f"
start_echo g LINK_URL="$BROKER_AMQPS_URL" LINK_CA="$BROKER_WRONG_CA"
check "with a wrong CA the log says why, and no connection is made" \
    wait_log "$T70/g.log" 'event=link_lost.*certificate verify failed.*ca_file'
check "the wrong-CA instance never connected" bash -c "! grep -q event=link_connected '$T70/g.log'"
stop_pid "$PID_g"

# ---- through tinyproxy (CONNECT), with and without Basic auth ----
if proxy_start "$T70" plain && proxy_start "$T70" auth "proxyuser:proxy-secret"; then
    check_match "probe through the proxy: tcp, proxy and amqp stages timed" 'probe code=ok .*proxy_ms=[0-9]' \
        env LINK_PROXY_HOST=127.0.0.1 LINK_PROXY_PORT="$PROXY_PORT_plain" "$TL" probe
    check_match "probe amqps:// through the proxy (TLS end to end)" 'probe code=ok .*tls=TLSv1' \
        env LINK_URL="$BROKER_AMQPS_URL" LINK_CA="$BROKER_CA" LINK_PROXY_HOST=127.0.0.1 \
        LINK_PROXY_PORT="$PROXY_PORT_plain" "$TL" probe
    check_fail "a proxy that wants credentials: probe fails with its 407 and the fix" '407 Proxy Authentication Required.*credentials_file' \
        env LINK_PROXY_HOST=127.0.0.1 LINK_PROXY_PORT="$PROXY_PORT_auth" "$TL" probe
    (umask 077; echo "proxyuser:proxy-secret" > "$T70/proxy-cred")
    check_match "probe through the authenticating proxy with Basic credentials" 'probe code=ok' \
        env LINK_PROXY_HOST=127.0.0.1 LINK_PROXY_PORT="$PROXY_PORT_auth" LINK_PROXY_CRED="$T70/proxy-cred" "$TL" probe
    start_echo h LINK_PROXY_HOST=127.0.0.1 LINK_PROXY_PORT="$PROXY_PORT_auth" LINK_PROXY_CRED="$T70/proxy-cred"
    check "responder h connects through the proxy" wait_log "$T70/h.log" 'event=link_connected.*proxy=127.0.0.1'
    check_match "requests answered through the proxy" 'replies=5 unique=5' $CLIENT roundtrip --n 5 --prefix px
    check "the proxy logged the CONNECT" grep -q "CONNECT" "$T70/proxy-auth/tinyproxy.log"
    stop_pid "$PID_h"
else
    echo "not ok - tinyproxy started"
fi

# ---- SIGTERM drains: in-flight work answered before exit ----
start_echo i LINK_WORKERS=2 LINK_DELAY_MS=1500
check "responder i connects" wait_log "$T70/i.log" 'event=link_connected'
$CLIENT send --n 2 --prefix dr
wait_unacked 2 10 >/dev/null
stop_pid "$PID_i"
check_match "SIGTERM: both in-flight requests answered before exit" 'replies=2 unique=2' \
    $CLIENT collect --n 2 --prefix dr --timeout 10
check "SIGTERM: test_link i reported its drain" grep -q "final replied=2" "$T70/i.out"

# ---- adbridged with the real dispatcher ----
broker_purge requests; broker_purge replies
/usr/bin/python3 - "$ADBRIDGE_CONFIG" "$T70/adbridged.json" <<EOF
import json, sys
c = json.load(open(sys.argv[1]))
c["state_dir"] = "$T70/state"
c.setdefault("auth", {})["allow_plaintext_password"] = True
c["broker"] = {"url": "$BROKER_AMQP_URL", "address": "/queue/requests", "username": "$BROKER_USER",
               "password_file": "$BROKER_PASSWORD_FILE", "sasl_mechanisms": "PLAIN", "workers": 2,
               "reconnect_max_s": 4}
json.dump(c, open(sys.argv[2], "w"), indent=1)
EOF
check "adbridged --check-config accepts the broker section" adbridged --check-config --config "$T70/adbridged.json"

# adbridge diagnose's cloud check (10) against this broker: it passes, and a
# broker that refuses the password fails at the sasl stage with a fix.
cloud_check() { # CONFIG -> "status|fix" of the cloud check
    adbridge --config "$1" diagnose --json --domain adb.test 2>/dev/null \
        | /usr/bin/python3 -c 'import json,sys; c=[c for c in json.load(sys.stdin)["checks"] if c["id"]=="cloud"][0]
print(c["status"] + "|" + (c.get("fix") or ""))'
}
check_match "diagnose: the cloud link check passes against the broker" '^pass\|' cloud_check "$T70/adbridged.json"
printf 'not-the-password' >"$T70/wrong.pw"; chmod 600 "$T70/wrong.pw"
sed "s|$BROKER_PASSWORD_FILE|$T70/wrong.pw|" "$T70/adbridged.json" >"$T70/adbridged-wrongpw.json"
check_match "diagnose: a wrong broker password fails the cloud check with a fix" '^fail\|.+' \
    cloud_check "$T70/adbridged-wrongpw.json"
start_daemon() { # NAME
    setsid adbridged --config "$T70/adbridged.json" --foreground > "$T70/$1.out" 2> "$T70/$1.log" < /dev/null &
    eval "PID_$1=$!"
    T70_PIDS="$T70_PIDS $!"
}
start_daemon d1
check "adbridged d1 starts and connects" wait_log "$T70/d1.log" 'event=link_connected'
mkdir -p "$T70/replies"
/usr/bin/python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); r.pop("deadline",None); r["id"]="@CID@"; print(json.dumps(r))' \
    "$ADB_TOP_SRCDIR/schemas/examples/valid/request-health.json" > "$T70/health.json"
check_match "health through adbridged answered on reply_to" 'replies=1 unique=1' \
    $CLIENT roundtrip --n 1 --prefix hl --body-file "$T70/health.json" --out "$T70/health.jsonl"
reply_field "$T70/health.jsonl" hl-0 'json.dumps(r)' > "$T70/replies/health.json"
check_eq "health reports the link connected" connected \
    "$(reply_field "$T70/health.jsonl" hl-0 'r["result"]["link"]["state"]')"
check "the health reply is valid by schemas/reply.schema.json" \
    env ADB_TOP_SRCDIR="$ADB_TOP_SRCDIR" /usr/bin/python3 "$ADB_TOP_SRCDIR/tests/conformance/validate.py" \
    --expect-valid reply "$T70/replies/health.json"
check_match "a request past its AMQP expiry is answered" 'replies=1 unique=1' \
    $CLIENT roundtrip --n 1 --prefix hx --expired --body-file "$T70/health.json" --out "$T70/hx.jsonl"
check_eq "... with timeout, not run" timeout "$(reply_field "$T70/hx.jsonl" hx-0 'r["error"]["code"]')"

# A redelivered auth.password is not run again: kill -9 the daemon that holds it.
/usr/bin/python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); r["id"]="@CID@"; print(json.dumps(r))' \
    "$ADB_TOP_SRCDIR/schemas/examples/valid/request-auth.password-plaintext.json" > "$T70/auth.json"
kill -STOP "$PID_d1"
$CLIENT send --n 1 --prefix au --body-file "$T70/auth.json"
check "the stopped daemon holds the auth request" wait_unacked 1 10
start_daemon d2
check "adbridged d2 starts and connects" wait_log "$T70/d2.log" 'event=link_connected'
kill -KILL "$PID_d1"; kill -CONT "$PID_d1" 2>/dev/null; wait "$PID_d1" 2>/dev/null
check_match "the auth request is answered once, by d2" 'replies=1 unique=1 duplicates=0' \
    $CLIENT collect --n 1 --prefix au --linger 2 --out "$T70/au.jsonl"
check_eq "a redelivered auth.password is answered retry" retry "$(reply_field "$T70/au.jsonl" au-0 'r["error"]["code"]')"
check "no message body reached adbridged's log" bash -c "! grep -q 'Passw0rd' '$T70/d2.log' '$T70/d1.log'"
stop_pid "$PID_d2"
check "adbridged stops cleanly on SIGTERM" grep -q 'event=stopped code=ok' "$T70/d2.log"

# ---- stale answers while no DC of a domain answers (cache.stale_max_age_s) ----
# Objects live 1 s in the cache here; with every LDAP and Kerberos port of
# adb.test's DCs closed, a lookup read before is answered from the cache,
# marked stale with its age; one never read, and a password check, are not.
stale_config() { # STALE_MAX_AGE_S OUT
    /usr/bin/python3 -c 'import json,sys; c=json.load(open(sys.argv[1]))
c["cache"]={"object_ttl_s": 1, "stale_max_age_s": int(sys.argv[2])}; json.dump(c, open(sys.argv[3], "w"))' \
        "$T70/adbridged.json" "$1" "$2"
}
ask() { # PREFIX OP PARAMS-JSON: one request through the broker, its reply in $T70/PREFIX.jsonl
    printf '{"v":1,"id":"@CID@","op":"%s","params":%s}\n' "$2" "$3" > "$T70/$1.json"
    $CLIENT roundtrip --n 1 --prefix "$1" --body-file "$T70/$1.json" --out "$T70/$1.jsonl" >/dev/null
}
field() { reply_field "$T70/$1.jsonl" "$1-0" "$2"; }
ADB_PORTS="{ 88, 389, 636, 3268, 3269 }"
stale_config 3600 "$T70/stale.json"
stale_config 0 "$T70/nostale.json"
setsid adbridged --config "$T70/stale.json" --foreground > "$T70/d3.out" 2> "$T70/d3.log" < /dev/null &
PID_d3=$!; T70_PIDS="$T70_PIDS $!"
check "adbridged d3 (stale answers on) starts" wait_log "$T70/d3.log" 'event=link_connected'
ask sa user.get '{"id":"ADB\\alice"}'
check_eq "a fresh lookup carries no stale mark" "alice False" "$(field sa '"%s %s" % (r["result"]["object"]["sam_account_name"], "stale" in r["result"])')"
dc_ports_down t70stale "$ADB_PORTS" adbt-dc1 adbt-dc2
sleep 2   # past the object TTL
ask sb user.get '{"id":"ADB\\alice"}'
check_eq "with adb.test's DCs unreachable, alice comes from the cache, marked stale" "alice True" \
    "$(field sb '"%s %s" % (r["result"]["object"]["sam_account_name"], r["result"].get("stale"))')"
check_match "... with her age in seconds" '^[1-9][0-9]*$' field sb 'r["result"]["stale_age_s"]'
reply_field "$T70/sb.jsonl" sb-0 'json.dumps(r)' > "$T70/replies/stale.json"
check "the stale reply is valid by schemas/reply.schema.json" \
    env ADB_TOP_SRCDIR="$ADB_TOP_SRCDIR" /usr/bin/python3 "$ADB_TOP_SRCDIR/tests/conformance/validate.py" \
    --expect-valid reply "$T70/replies/stale.json"
check "the daemon logged the stale answer" grep -q 'event=stale_answer id=ADB\\alice .*age_s=' "$T70/d3.log"
ask sc user.get '{"id":"ADB\\nested.user"}'
check_eq "a user never read is dc_unavailable, not stale" dc_unavailable "$(field sc 'r["error"]["code"]')"
ask sd auth.password '{"user":"alice","domain":"adb.test","password":"Adb.User-Passw0rd"}'
check_eq "a password check never uses the cache" dc_unavailable \
    "$(field sd 'r["error"]["code"] if "error" in r else r["result"]["result"]')"
dc_ports_up t70stale adbt-dc1 adbt-dc2
fresh_again() { # the DCs answer again (the locator re-probes a down DC within its backoff)
    local i
    for i in $(seq 1 30); do
        ask se user.get '{"id":"ADB\\alice"}'
        [ "$(field se '"stale" in r.get("result", {"stale": 1})')" = False ] && return 0
        sleep 1
    done
    return 1
}
check "with the DCs back, alice is answered fresh again" fresh_again
stop_pid "$PID_d3"
setsid adbridged --config "$T70/nostale.json" --foreground > "$T70/d4.out" 2> "$T70/d4.log" < /dev/null &
PID_d4=$!; T70_PIDS="$T70_PIDS $!"
check "adbridged d4 (cache.stale_max_age_s 0) starts" wait_log "$T70/d4.log" 'event=link_connected'
ask sf user.get '{"id":"ADB\\alice"}'
dc_ports_down t70stale "$ADB_PORTS" adbt-dc1 adbt-dc2
sleep 2
ask sg user.get '{"id":"ADB\\alice"}'
dc_ports_up t70stale adbt-dc1 adbt-dc2
check_eq "with stale answers off, the same lookup is dc_unavailable" "alice dc_unavailable" \
    "$(field sf 'r["result"]["object"]["sam_account_name"]') $(field sg 'r["error"]["code"]')"
stop_pid "$PID_d4"

t70_cleanup
trap - EXIT
