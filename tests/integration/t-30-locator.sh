# DC locator (src/ad/dns.c, src/ad/cldap.c, src/ad/netlogon.c, src/dir/locator.c)
# through `adbridge locate` and tests/integration/test_locator, against the
# testenv's DNS and DCs: sites, GC, forest 2, client-site changes, failover and
# recovery, refused domains; pings in batches past dead DCs, a lost ping sent
# again, DCs that drop pings, IPv6, one refresh for many callers, and the
# pool's return to a DC that is back.
testenv="$ADB_TOP_SRCDIR/samba-testenv/testenv"

# jfield JSON EXPR: evaluates a Python expression over the parsed document d.
jfield() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))' "$2" <<<"$1"; }
locate() { adbridge locate "$@" --json 2>"$ADB_TEST_TMP/locate.err"; }

out=$(locate adb.test)
check_eq "adb.test: both DCs found" "dc1.adb.test dc2.adb.test" "$(jfield "$out" '" ".join(sorted(x["host"] for x in d["dcs"]))')"
# DC2's site is known only when its ping answered before DC1's ended the round.
check_match "adb.test: DC1 is in site Tokyo, DC2 in Osaka (or not yet known)" '^Tokyo (Osaka)?$' \
    jfield "$out" '" ".join(next(x["site"] for x in d["dcs"] if x["host"]==h) for h in ("dc1.adb.test","dc2.adb.test"))'
check_eq "adb.test: the client (10.231.0.1) is in site Tokyo" Tokyo "$(jfield "$out" 'd["client_site"]')"
check_eq "adb.test: DC1 (same site) comes first" dc1.adb.test "$(jfield "$out" 'd["dcs"][0]["host"]')"
# The first good answer ends the pings (MS-DISO): DC1 answered; DC2, pinged
# in the same batch, answered too or was cut short, but is not down.
check_eq "adb.test: DC1 answered the ping, DC2 is not down" "up True" \
    "$(jfield "$out" 'd["dcs"][0]["state"]+" "+str(d["dcs"][1]["state"]!="down")')"
check_match "adb.test: DC1 has the PDC and CLOSEST flags" 'PDC.*CLOSEST' jfield "$out" 'd["dcs"][0]["flags"]'
check_eq "adb.test: forest learnt from the ping" adb.test "$(jfield "$out" 'd["forest"]')"

out=$(locate adb.test --gc)
check_eq "GC: both global catalogs, on port 3268" "3268 3268" "$(jfield "$out" '" ".join(str(x["port"]) for x in d["dcs"])')"
out=$(locate partner.test)
check_eq "forest 2: pdc.partner.test found" pdc.partner.test "$(jfield "$out" 'd["dcs"][0]["host"]')"
out=$(locate adb.test --site Osaka)
check_eq "--site Osaka prefers DC2" dc2.adb.test "$(jfield "$out" 'd["dcs"][0]["host"]')"

# The subnet of the connector decides its site: move it, the DCs say so.
if "$testenv" client-site Osaka >/dev/null 2>&1; then
    out=$(locate adb.test)
    check_eq "client subnet in Osaka: client site learnt from the ping" Osaka "$(jfield "$out" 'd["client_site"]')"
    check_eq "client subnet in Osaka: DC2 comes first" dc2.adb.test "$(jfield "$out" 'd["dcs"][0]["host"]')"
else
    echo "not ok - testenv client-site Osaka failed"
fi
"$testenv" client-site Tokyo >/dev/null 2>&1
check_eq "client subnet back in Tokyo: DC1 first again" dc1.adb.test "$(jfield "$(locate adb.test)" 'd["dcs"][0]["host"]')"

# Failover: DC1 stopped answers nothing (its port is closed); DC2 is chosen,
# DC1 listed as down. Started again, it is back first.
"$testenv" stop-dc dc1 >/dev/null
out=$(locate adb.test)
check_eq "DC1 stopped: DC2 first" dc2.adb.test "$(jfield "$out" 'd["dcs"][0]["host"]')"
check_eq "DC1 stopped: DC1 listed as down" down "$(jfield "$out" 'next(x["state"] for x in d["dcs"] if x["host"]=="dc1.adb.test")')"
check_match "DC1 stopped: the failed ping is logged with the DC's address" 'ping_failed.*10\.231\.1\.11' cat "$ADB_TEST_TMP/locate.err"
"$testenv" start-dc dc1 >/dev/null
out=$(locate adb.test)
check_eq "DC1 started again: back in rotation, first" "dc1.adb.test up" "$(jfield "$out" 'd["dcs"][0]["host"]+" "+d["dcs"][0]["state"]')"

# Configurations that must be refused or fail clearly.
cfg() {   # cfg FILE PYTHON-EXPR-ON-c: a copy of the testenv's configuration, changed
    python3 -c 'import json,sys; c=json.load(open(sys.argv[1])); exec(sys.argv[3]); json.dump(c, open(sys.argv[2],"w"))' \
        "$ADBRIDGE_CONFIG" "$1" "$2"
}
cfg "$ADB_TEST_TMP/disabled.json" 'c["domains"][1]["use_for_subscriptions"]=False'
check_fail "a domain not marked for subscriptions is refused (domain_not_enabled)" 'domain_not_enabled: domain partner.test' \
    adbridge --config "$ADB_TEST_TMP/disabled.json" locate partner.test
check_fail "a domain not in the configuration is refused" 'domain_not_enabled: domain other.test is not in the configuration' \
    adbridge locate other.test
cfg "$ADB_TEST_TMP/nx.json" 'c["domains"].append({"name":"nosuch.test","use_for_subscriptions":True})'
check_fail "NXDOMAIN names the query and the server" 'not_found: DNS SRV _ldap._tcp.dc._msdcs.nosuch.test: no such name \(NXDOMAIN\) from 10\.231\.0\.53' \
    adbridge --config "$ADB_TEST_TMP/nx.json" locate nosuch.test
cfg "$ADB_TEST_TMP/deaddns.json" 'c["dns_servers"]=["10.231.0.99"]'
check_fail "a DNS server that does not answer: timeout naming the server, no hang" "timeout: DNS SRV _ldap._tcp.dc._msdcs.adb.test: no answer from 10.231.0.99" \
    timeout 20 adbridge --config "$ADB_TEST_TMP/deaddns.json" locate adb.test
cfg "$ADB_TEST_TMP/pinned.json" 'c["domains"][0]["dcs"]=["dc2.adb.test"]'
out=$(adbridge --config "$ADB_TEST_TMP/pinned.json" locate adb.test --json 2>/dev/null)
check_eq "a pinned DC list is used instead of DNS, and pinged" "dc2.adb.test up Osaka" \
    "$(jfield "$out" '" ".join(str(x[k]) for x in d["dcs"] for k in ("host","state","site"))')"

# ---- MS-DISO batches, lost pings, IPv6, one refresh, return to a recovered DC ----
# Faults below are nft tables in a DC's namespace and DNS records on the DCs;
# the EXIT trap removes every one of them, also when a check fails.
tl="$ADB_TOP_BUILDDIR/tests/integration/test_locator"
admin=(-U "Administrator%$ADB_TEST_ADMIN_PASSWORD")
dead=(10.231.9.1 10.231.9.2 10.231.9.3 10.231.9.4 10.231.9.5)   # in the subnet, nothing there
dns_dead() {   # dns_dead add|delete: SRV records of 3 DCs that do not exist, on DC1, replicated to DC2
    local i
    for i in 1 2 3; do
        tenv_run samba-tool dns "$1" dc1.adb.test _msdcs.adb.test _ldap._tcp.dc SRV "dead$i.adb.test 389 0 100" "${admin[@]}"
        tenv_run samba-tool dns "$1" dc1.adb.test adb.test "dead$i" A "${dead[$i]}" "${admin[@]}"
    done >/dev/null 2>&1
    for p in DC=DomainDnsZones,DC=adb,DC=test DC=ForestDnsZones,DC=adb,DC=test; do
        tenv_run samba-tool drs replicate dc2.adb.test dc1.adb.test "$p" "${admin[@]}" >/dev/null 2>&1
    done
}
wpid=
t30_cleanup() {
    [ -n "$wpid" ] && stop_pid "$wpid"
    dc_ports_up adbt_t30 adbt-dc1
    for ns in adbt-dc1 adbt-dc2; do ip netns exec "$ns" nft delete table inet adbt_t30_drop 2>/dev/null; done
    dns_dead delete
}
trap t30_cleanup EXIT
nft_drop() {   # nft_drop NS RULE: a table that drops what RULE matches, until t30_cleanup
    ip netns exec "$1" nft -f - <<NFT
table inet adbt_t30_drop {
    chain input { type filter hook input priority 0; $2 drop; }
}
NFT
}
undrop() { ip netns exec "$1" nft delete table inet adbt_t30_drop; }

# The first batch (5 DCs, 400 ms) is dead: the second batch's DC answers.
cfg "$ADB_TEST_TMP/deadfirst.json" "c[\"domains\"][0][\"dcs\"]=$(printf '"%s",' "${dead[@]}" | sed 's/^/[/')\"dc1.adb.test\"]"
out=$(adbridge --config "$ADB_TEST_TMP/deadfirst.json" locate adb.test --json 2>"$ADB_TEST_TMP/locate.err")
check_eq "5 dead DCs, then DC1: located in the second batch, DC1 first and up" "dc1.adb.test up" \
    "$(jfield "$out" 'd["dcs"][0]["host"]+" "+d["dcs"][0]["state"]')"
check_eq "5 dead DCs: each listed down" "down down down down down" \
    "$(jfield "$out" '" ".join(x["state"] for x in d["dcs"] if x["host"].startswith("10.231.9."))')"
check_eq "5 dead DCs: each timed out (logged)" 5 "$(grep -c 'ping_failed.*10\.231\.9\..*no answer within the ping timeout' "$ADB_TEST_TMP/locate.err")"

# Many DCs in DNS, some dead: the answer comes from a live one; the dead are never up.
dns_dead add
out=$(locate adb.test)
check_eq "DNS lists 5 DCs, 3 of them dead: all 5 listed" 5 "$(jfield "$out" 'len(d["dcs"])')"
check_eq "3 dead DCs in DNS: DC1 first and up, no dead DC up" "dc1.adb.test up 0" \
    "$(jfield "$out" 'd["dcs"][0]["host"]+" "+d["dcs"][0]["state"]+" "+str(sum(x["state"]=="up" for x in d["dcs"] if x["host"].startswith("dead")))')"
dns_dead delete

# A DC that drops pings (udp/389): the other one is chosen, the silent one down.
nft_drop adbt-dc1 "udp dport 389"
out=$(locate adb.test)
check_eq "DC1 drops pings: DC2 first" dc2.adb.test "$(jfield "$out" 'd["dcs"][0]["host"]')"
check_eq "DC1 drops pings: DC1 listed as down" down "$(jfield "$out" 'next(x["state"] for x in d["dcs"] if x["host"]=="dc1.adb.test")')"
check_match "DC1 drops pings: its ping timed out (logged)" 'ping_failed.*dc1.*no answer within the ping timeout' cat "$ADB_TEST_TMP/locate.err"
undrop adbt-dc1

# Every other ping datagram to DC1 is lost (the first copy of each ping):
# each locate succeeds through its re-sent copy.
cfg "$ADB_TEST_TMP/dc1only.json" 'c["domains"][0]["dcs"]=["dc1.adb.test"]'
nft_drop adbt-dc1 "ip saddr $ADB_TEST_CLIENT_IP udp dport 389 numgen inc mod 2 == 0"
ok=0
for i in 1 2 3 4 5 6; do
    out=$(adbridge --config "$ADB_TEST_TMP/dc1only.json" locate adb.test --json 2>/dev/null) \
        && [ "$(jfield "$out" 'd["dcs"][0]["state"]')" = up ] && ok=$((ok + 1))
done
check_eq "half the ping datagrams to DC1 lost: 6 of 6 located (the ping is sent again)" 6 "$ok"
undrop adbt-dc1

# IPv6: DC2 is dual-stack (testenv ipv6, a step of `up`; applied here when missing).
"$testenv" ipv6 >"$ADB_TEST_TMP/ipv6.log" 2>&1 || cat "$ADB_TEST_TMP/ipv6.log" | sed 's/^/# /'
cfg "$ADB_TEST_TMP/dc2only.json" 'c["domains"][0]["dcs"]=["dc2.adb.test"]'
nft_drop adbt-dc2 "ip daddr $ADB_TEST_DC2 udp dport 389"
out=$(adbridge --config "$ADB_TEST_TMP/dc2only.json" locate adb.test --json 2>/dev/null)
check_eq "DC2's IPv4 pings dropped: found over IPv6 (its AAAA record)" "dc2.adb.test up fd00:231::12" \
    "$(jfield "$out" 'd["dcs"][0]["host"]+" "+d["dcs"][0]["state"]+" "+d["dcs"][0]["address"]')"
check_match "DC2 over IPv6: a sealed LDAP read through the pool" 'host=dc2\.adb\.test code=ok .*address=fd00:231::12$' \
    env ADBRIDGE_CONFIG="$ADB_TEST_TMP/dc2only.json" "$tl" read
out=$(locate adb.test --site Osaka)
check_eq "DNS: DC2 found over IPv6 among all DCs (--site Osaka)" "dc2.adb.test fd00:231::12" \
    "$(jfield "$out" 'd["dcs"][0]["host"]+" "+d["dcs"][0]["address"]')"
undrop adbt-dc2

# 50 callers at once on a stale entry: one refresh.
run_tap "$tl" concurrent

# Return to a recovered DC: reads move to DC2 while DC1's LDAP/CLDAP port is
# closed, and come back to DC1 (the site's DC) once it answers again, within
# the longest backoff (60 s) plus a read; health says up again.
"$tl" watch >"$ADB_TEST_TMP/watch.log" 2>&1 &
wpid=$!
after() {   # after LINE REGEX SECONDS: a line past LINE of watch.log matches REGEX
    local i
    for i in $(seq 1 $(($3 * 5))); do
        tail -n +"$(($1 + 1))" "$ADB_TEST_TMP/watch.log" | grep -Eq -- "$2" && return 0
        sleep 0.2
    done
    echo "no line matching /$2/ within $3 s"; tail -3 "$ADB_TEST_TMP/watch.log"; return 1
}
check "pool reads from DC1 (the client's site) at first" after 0 'host=dc1\.adb\.test code=ok' 20
dc_ports_down adbt_t30 '{ 389 }' adbt-dc1
mark=$(wc -l <"$ADB_TEST_TMP/watch.log")
check "DC1's port 389 closed: reads move to DC2, health says DC1 down" \
    after "$mark" 'host=dc2\.adb\.test code=ok .*dc1\.adb\.test=down' 20
sleep 12                 # long enough for a re-probe to fail: DC1's backoff grows to 10 s
check_match "DC1 still closed: it was re-probed and failed again" 'dc1\.adb\.test=down/[2-9]' tail -1 "$ADB_TEST_TMP/watch.log"
dc_ports_up adbt_t30 adbt-dc1
mark=$(wc -l <"$ADB_TEST_TMP/watch.log") t0=$SECONDS
check "DC1 answers again: reads return to DC1 and health says up (within 65 s)" \
    after "$mark" 'host=dc1\.adb\.test code=ok .*dc1\.adb\.test=up/0' 65
echo "# DC1 served again $((SECONDS - t0)) s after its port reopened"
stop_pid "$wpid"
wpid=
t30_cleanup
trap - EXIT
