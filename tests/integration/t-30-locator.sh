# DC locator (src/ad/dns.c, src/ad/cldap.c, src/ad/netlogon.c, src/dir/locator.c)
# through `adbridge locate`, against the testenv's DNS and DCs: sites, GC,
# forest 2, client-site changes, failover and recovery, refused domains.
testenv="$ADB_TOP_SRCDIR/samba-testenv/testenv"

# jfield JSON EXPR: evaluates a Python expression over the parsed document d.
jfield() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))' "$2" <<<"$1"; }
locate() { adbridge locate "$@" --json 2>"$ADB_TEST_TMP/locate.err"; }

out=$(locate adb.test)
check_eq "adb.test: both DCs found" "dc1.adb.test dc2.adb.test" "$(jfield "$out" '" ".join(sorted(x["host"] for x in d["dcs"]))')"
check_eq "adb.test: DC1 is in site Tokyo, DC2 in Osaka" "Tokyo Osaka" \
    "$(jfield "$out" '" ".join(next(x["site"] for x in d["dcs"] if x["host"]==h) for h in ("dc1.adb.test","dc2.adb.test"))')"
check_eq "adb.test: the client (10.231.0.1) is in site Tokyo" Tokyo "$(jfield "$out" 'd["client_site"]')"
check_eq "adb.test: DC1 (same site) comes first" dc1.adb.test "$(jfield "$out" 'd["dcs"][0]["host"]')"
check_eq "adb.test: both DCs answered the ping" "up up" "$(jfield "$out" '" ".join(x["state"] for x in d["dcs"])')"
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
