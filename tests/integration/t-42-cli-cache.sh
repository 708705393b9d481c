# What the CLI keeps in its state directory between runs (statecache.h,
# krb.h): the machine ccache (created 0600, reused by the next run with no
# KDC request at all, rebuilt when the keytab changes or the file is
# unusable), the topology and the located DCs (a corrupt, foreign or
# unsafe file is ignored with a debug line and rewritten; a DC from the
# cache that fails falls back to a fresh locate), and a lookup of
# DOMAIN\name that binds only that domain.
#
# A private configuration: its own state directory and its own copy of the
# keytab (replaced below), log_level debug; the shared ones stay as they are.
t42=$ADB_TEST_TMP/t42
mkdir -p "$t42"
mkdir -m 0700 "$t42/state"
state=$t42/state
cp "$ADB_TEST_KEYTAB" "$t42/krb5.keytab"
chmod 600 "$t42/krb5.keytab"
/usr/bin/python3 - "$ADBRIDGE_CONFIG" "$t42/adbridge.json" "$state" "$t42/krb5.keytab" <<'EOF'
import json, sys
c = json.load(open(sys.argv[1]))
c["state_dir"], c["keytab"], c["log_level"] = sys.argv[3], sys.argv[4], "debug"
json.dump(c, open(sys.argv[2], "w"))
EOF

# run NAME ARGS...: runs the CLI; its stdout in $t42/NAME.out, its log (and
# MIT's trace of the KDC requests GSSAPI makes) in $t42/NAME.log.
run() {
    local name=$1 rc=0; shift
    KRB5_TRACE="$t42/$name.trace" adbridge --config "$t42/adbridge.json" "$@" >"$t42/$name.out" 2>"$t42/$name.log" || rc=$?
    cat "$t42/$name.trace" >>"$t42/$name.log" 2>/dev/null
    return "$rc"
}
count() { grep -c -- "$1" "$t42/$2.log"; }
mode_of() { stat -c %a "$1"; }
json_of() { /usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$@" 2>&1; }

# ---- first run: a machine login, DCs located, topology read, all written ----
check "first run: adbridge user ADB\\alice" run first user 'ADB\alice'
check_eq "first run: one machine login, into the file ccache" 1 "$(count 'event=machine_login .*ccache=file reason=none' first)"
check_eq "machine.ccache is mode 600" 600 "$(mode_of "$state/machine.ccache")"
check_eq "topology.cache is mode 600" 600 "$(mode_of "$state/topology.cache")"
check_eq "dcs.cache is mode 600" 600 "$(mode_of "$state/dcs.cache")"
check_eq "the state directory is still 700" 700 "$(mode_of "$state")"
check_match "the ccache holds the machine TGT" "krbtgt/$ADB_TEST_REALM@$ADB_TEST_REALM" \
    klist -c "FILE:$state/machine.ccache"
check_match "the ccache records the keytab it was made from" 'adbridge-keytab = v1,kvno=[0-9]+,size=[0-9]+,mtime=' \
    klist -C -c "FILE:$state/machine.ccache"
check_eq "topology.cache is the topology, for this joined domain" "adbridge-topology-cache adb.test" \
    "$(json_of "$state/topology.cache" 'd["format"] + " " + d["data"]["joined"]')"

# ---- second run: nothing asked of a KDC, DNS or CLDAP; one domain bound ----
check "second run: adbridge user ADB\\alice" run second user 'ADB\alice'
check_match "second run: the same answer" '^upn +alice@adb\.test$' cat "$t42/second.out"
check_eq "second run: no machine login (the TGT is reused)" 0 "$(count 'event=machine_login' second)"
check_eq "second run: the ccache is reused" 1 "$(count 'event=machine_ccache_reused' second)"
check_eq "second run: no request to any KDC (TGT and service ticket from the ccache)" 0 \
    "$(count 'Sending request' second)"
check_eq "second run: no DC located (DNS SRV, CLDAP) — they come from dcs.cache" 0 "$(count 'event=located' second)"
check_eq "second run: the topology is not read again" 0 "$(count 'event=topology_read' second)"
check_eq "ADB\\alice binds adb.test only, not the other forest" "adb.test" \
    "$(grep -o 'event=ldap_connect domain=[^ ]*' "$t42/second.log" | cut -d= -f3 | sort -u | xargs)"

# ---- the keytab changes: a new login, then reuse again ----
cp -p "$t42/krb5.keytab" "$t42/krb5.keytab.new"
touch -d '-2 minutes' "$t42/krb5.keytab.new"
mv "$t42/krb5.keytab.new" "$t42/krb5.keytab"
check "after a keytab replacement: adbridge user" run rotated user 'ADB\alice'
check_eq "a replaced keytab (new inode and mtime) makes a new machine login" 1 \
    "$(count 'event=machine_login .*reason=keytab_changed' rotated)"
touch "$t42/krb5.keytab"
check "after a keytab touch: adbridge user" run touched user 'ADB\alice'
check_eq "a keytab with a new mtime makes a new machine login" 1 \
    "$(count 'event=machine_login .*reason=keytab_changed' touched)"
check "then: adbridge user" run after user 'ADB\alice'
check_eq "then the new ccache is reused" "0 1" \
    "$(count 'event=machine_login' after) $(count 'event=machine_ccache_reused' after)"

# ---- an unusable ccache is never used, and replaced ----
chmod 644 "$state/machine.ccache"
check "a ccache others can read: adbridge user" run unsafe user 'ADB\alice'
check_eq "a ccache others can read is not used (new login)" 1 "$(count 'event=machine_login .*reason=unsafe' unsafe)"
check_eq "and is replaced by a 600 one" 600 "$(mode_of "$state/machine.ccache")"
printf 'garbage, not a ccache' >"$state/machine.ccache"
check "a corrupt ccache: adbridge user" run badcc user 'ADB\alice'
check_eq "a corrupt ccache makes a new login" 1 "$(count 'event=machine_login .*reason=unreadable' badcc)"
check_match "and is rewritten" "krbtgt/$ADB_TEST_REALM@$ADB_TEST_REALM" klist -c "FILE:$state/machine.ccache"

# ---- corrupt, foreign and unsafe cache files are ignored and rewritten ----
printf '{"format": "adbridge-topology-cache", "version": 1, "scope": ' >"$state/topology.cache"
check "a corrupt topology.cache: adbridge user" run badtopo user 'ADB\alice'
check_eq "a corrupt topology.cache is ignored, said at debug" 1 \
    "$(count 'event=state_cache_ignored file=[^ ]*topology.cache code=protocol_error reason="not JSON' badtopo)"
check_eq "the topology is read again" 1 "$(count 'event=topology_read' badtopo)"
check_eq "and topology.cache is rewritten" "adbridge-topology-cache" "$(json_of "$state/topology.cache" 'd["format"]')"

/usr/bin/python3 - "$state/topology.cache" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1])); d["scope"] = d["scope"].replace("adb.test:1", "adb.test:0")
json.dump(d, open(sys.argv[1], "w"))
EOF
check "a topology.cache of another configuration: adbridge user" run foreign user 'ADB\alice'
check_eq "a topology.cache written for other flags is ignored" 1 \
    "$(count 'event=state_cache_ignored file=[^ ]*topology.cache .*another configuration' foreign)"
check_eq "and rewritten for this one" 0 "$(grep -c 'adb.test:0' "$state/topology.cache")"

printf '\x00\x01 not json at all' >"$state/dcs.cache"
check "a corrupt dcs.cache: adbridge user" run baddcs user 'ADB\alice'
check_eq "a corrupt dcs.cache is ignored, said at debug" 1 \
    "$(count 'event=state_cache_ignored file=[^ ]*dcs.cache' baddcs)"
check_eq "the DCs are located again" 1 "$(count 'event=located domain=adb.test' baddcs)"
check_eq "and dcs.cache is rewritten" "adbridge-dcs-cache" "$(json_of "$state/dcs.cache" 'd["format"]')"

chmod 644 "$state/topology.cache"
check "a topology.cache others can read: adbridge user" run unsafetopo user 'ADB\alice'
check_eq "a topology.cache others can read is ignored" 1 \
    "$(count 'event=state_cache_ignored file=[^ ]*topology.cache .*group or others' unsafetopo)"
check_eq "and replaced by a 600 one" 600 "$(mode_of "$state/topology.cache")"

# ---- a DC from the cache that fails: a fresh locate, and the answer ----
/usr/bin/python3 - "$state/dcs.cache" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
for e in d["data"]["entries"]:
    if e["domain"] == "adb.test" and not e["gc"]:
        e["dcs"] = [dict(e["dcs"][0], address="127.0.0.1")]   # nothing listens there on 389
json.dump(d, open(sys.argv[1], "w"))
EOF
check "a cached DC that refuses: adbridge user" run stale user 'ADB\alice'
check_match "a cached DC that refuses: the answer still comes" '^upn +alice@adb\.test$' cat "$t42/stale.out"
check_eq "the cached DC failed over" 1 "$(count 'event=dc_failover domain=adb.test' stale)"
check_eq "and the DCs were located afresh" 1 "$(count 'event=located domain=adb.test' stale)"
check_eq "dcs.cache holds the real addresses again" 0 "$(grep -c '127\.0\.0\.1' "$state/dcs.cache")"

# ---- a state directory others can enter: nothing is kept, the CLI works ----
mkdir -m 0755 "$t42/open"
sed -e "s|\"$state\"|\"$t42/open\"|" "$t42/adbridge.json" >"$t42/open.json"
rc=0; adbridge --config "$t42/open.json" user 'ADB\alice' >"$t42/open.out" 2>"$t42/open.log" || rc=$?
check_eq "a state dir of mode 755: the lookup works" 0 "$rc"
check_eq "and it says at debug why nothing is kept" 1 "$(count 'event=state_cache_off .*mode 0755' open)"
check_eq "and writes no cache there" "" "$(ls "$t42/open")"
