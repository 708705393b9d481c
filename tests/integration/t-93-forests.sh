# Reachability-aware consumption (src/link/link_forests.c, the probes and
# their hysteresis in src/adbridged/status.c): two adbridged on connector
# hosts of their own receive a forest's requests on its address
# (broker.forest_address "{address}.{forest}": /queue/requests.partner.test)
# only while they can serve that forest.  One is cut from partner.test: it
# detaches, the other answers every partner.test request; after the
# restore it attaches again.
. "$ADB_TOP_SRCDIR/tests/integration/broker.sh"
. "$ADB_TOP_SRCDIR/tests/integration/connectors.sh"

TENV="$ADB_TOP_SRCDIR/samba-testenv/testenv"
T93=$ADB_TEST_TMP/t93
mkdir -p "$T93"
T93_CONNS="t93a t93b"
PERIOD=2
CLIENT="/usr/bin/python3 $ADB_TOP_SRCDIR/tests/integration/amqp_client.py"
PQ=/queue/requests.partner.test

t93_cleanup() { connectors_cleanup $T93_CONNS; }
t93_cleanup
trap 't93_cleanup' EXIT

if ! broker_start "$T93/broker" || [ -z "$BROKER_BRIDGE_URL" ] || ! broker_declare_queue requests.partner.test \
   || ! broker_declare_queue requests.adb.test || ! broker_declare_queue status; then
    echo "not ok - RabbitMQ on the bridge address with the forests' queues (see the messages above)"
    return 0 2>/dev/null || exit 0
fi
echo "ok - RabbitMQ listens on $BROKER_BRIDGE_URL with queues requests.partner.test and requests.adb.test"

start_on() {
    connector_daemon "$1" "$T93" '"workers": 4, "status_address": "/queue/status", "status_period_s": '"$PERIOD"', "forest_address": "{address}.{forest}"'
}
count() { grep -c -- "$2" "$T93/$1.log"; }   # C REGEX
wait_count() { # C REGEX N SECONDS
    local i
    for i in $(seq 1 $(( $4 * 10 ))); do [ "$(count "$1" "$2")" -ge "$3" ] && return 0; sleep 0.1; done
    echo "$1: $(count "$1" "$2") lines /$2/, wanted $3"; return 1
}
since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}'; }
echo '{"v": 1, "id": "@CID@", "op": "user.get", "params": {"id": "PARTNER\\pat.partner"}}' >"$T93/pat.json"
codes() { /usr/bin/python3 -c '
import collections, json, sys
c = collections.Counter()
for l in open(sys.argv[1]):
    r = json.loads(json.loads(l)["body"])
    c["ok" if "result" in r else r["error"]["code"]] += 1
print(" ".join("%s=%d" % kv for kv in sorted(c.items())))' "$1"; }

# Connector add checks run in t-90; here they only have to work.
for c in $T93_CONNS; do
    check_match "connector add $c" "connector $c: " "$TENV" connector add "$c"
    start_on "$c"
done
for c in $T93_CONNS; do
    check "$c: attaches to partner.test's address" wait_count "$c" 'event=link_forest_attached forest=partner\.test address=/queue/requests\.partner\.test' 1 30
    check "$c: attaches to adb.test's address" wait_count "$c" 'event=link_forest_attached forest=adb\.test' 1 5
done
check_match "20 partner.test requests on its address: all answered" 'replies=20 unique=20 duplicates=0' \
    $CLIENT roundtrip --n 20 --prefix pa --address "$PQ" --body-file "$T93/pat.json" --out "$T93/pa.jsonl"
check_eq "... each with its result" "ok=20" "$(codes "$T93/pa.jsonl")"
check_match "the common address still serves" 'replies=1 unique=1' \
    $CLIENT roundtrip --n 1 --prefix common --body-file "$T93/pat.json"

# ---- cut t93a from partner.test: it detaches, t93b takes everything ----
t0=$(date +%s.%N)
check_match "connector cut t93a partner.test" 'cut now: partner\.test' "$TENV" connector cut t93a partner.test
check "t93a decides it no longer serves partner.test (two failed probes)" \
    wait_count t93a 'event=forest_serving forest=partner\.test serving=no' 1 $((PERIOD * 5))
check "t93a detaches from partner.test's address" wait_count t93a 'event=link_forest_detached forest=partner\.test' 1 30
echo "# cut -> t93a detached from partner.test: $(since "$t0") s (probes every $PERIOD s, 2 in a row)"
check "t93a keeps adb.test's address" bash -c "! grep -q 'link_forest_detach.*forest=adb\\.test' '$T93/t93a.log'"
check_match "20 partner.test requests while t93a is cut: all answered" 'replies=20 unique=20 duplicates=0' \
    $CLIENT roundtrip --n 20 --prefix pb --address "$PQ" --body-file "$T93/pat.json" --out "$T93/pb.jsonl"
check_eq "... none dc_unavailable" "ok=20" "$(codes "$T93/pb.jsonl")"
check_eq "t93a ran none of them" 0 "$(count t93a 'event=request id=pb-')"
check_eq "t93b ran all 20" 20 "$(count t93b 'event=request id=pb-[0-9]* op=user.get code=ok')"

# ---- restore: t93a serves partner.test again ----
n0=$(count t93a 'event=link_forest_attached forest=partner\.test') t0=$(date +%s.%N)
check_match "connector restore t93a partner.test" 'cut now: \)' "$TENV" connector restore t93a partner.test
check "t93a attaches to partner.test's address again (two good probes)" \
    wait_count t93a 'event=link_forest_attached forest=partner\.test' $((n0 + 1)) $((PERIOD * 6))
echo "# restore -> t93a attached again: $(since "$t0") s"
check_match "20 partner.test requests after the restore: all answered" 'replies=20 unique=20 duplicates=0' \
    $CLIENT roundtrip --n 20 --prefix pc --address "$PQ" --body-file "$T93/pat.json" --out "$T93/pc.jsonl"
check_eq "... each with its result" "ok=20" "$(codes "$T93/pc.jsonl")"
echo "# after the restore: t93a ran $(count t93a 'event=request id=pc-'), t93b $(count t93b 'event=request id=pc-') of 20"
# ---- a DC that answers pings but not LDAP: the forest is not served ----
# (the probe reads a DC's root entry on a connection the machine account
# bound, status.c; only LDAP to partner.test's DC is refused here)
NS93=$("$TENV" connector list | awk '$1 == "t93a" {print $3}')
ldap_block() { ip netns exec "$NS93" nft "$@"; }
n0=$(count t93a 'event=forest_serving forest=partner\.test serving=no')
check "t93a: LDAP to partner.test's DC refused (nft in its namespace; pings still answer)" bash -c "
    ip netns exec '$NS93' nft add table inet t93ldap &&
    ip netns exec '$NS93' nft add chain inet t93ldap out '{ type filter hook output priority 0; }' &&
    ip netns exec '$NS93' nft add rule inet t93ldap out ip daddr '$ADB_TEST_PARTNER_DC' tcp dport '{ 389, 636, 3268, 3269 }' reject with tcp reset"
trap 'ip netns exec "$NS93" nft delete table inet t93ldap 2>/dev/null; t93_cleanup' EXIT
check "t93a no longer serves partner.test: its DC answers pings, not LDAP" \
    wait_count t93a 'event=forest_serving forest=partner\.test serving=no' $((n0 + 1)) $((PERIOD * 6))
check_match "... and it still pings it (the locator finds the DC)" 'pdc\.partner\.test' \
    "$TENV" run --on t93a -- adbridge locate partner.test
n0=$(count t93a 'event=link_forest_attached forest=partner\.test')
ldap_block delete table inet t93ldap
trap 't93_cleanup' EXIT
check "t93a serves partner.test again once LDAP answers" \
    wait_count t93a 'event=link_forest_attached forest=partner\.test' $((n0 + 1)) $((PERIOD * 6))

check "no forest address was refused, no credit warning" \
    bash -c "! grep -hE 'event=link_forest_(refused|credit)' '$T93/t93a.log' '$T93/t93b.log'"
