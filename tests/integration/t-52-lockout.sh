# Lockout protection that holds across instances, restarts and typos made
# elsewhere (issue 12 §1), and accounts whose passwords are never tested
# (§2), against the testenv's KDCs and a real RabbitMQ.
#
# Each run creates its own users under the domain's lockout policy (the
# threshold is read from AD, not assumed) and deletes them at the end; the
# seeded users stay untouched.  krbtgt is only ever sent a password while
# port 88 is closed inside every DC, so a regression cannot lock it.
. "$ADB_TOP_SRCDIR/tests/integration/broker.sh"

T52=$ADB_TEST_TMP/t52
mkdir -p "$T52"
CLIENT="/usr/bin/python3 $ADB_TOP_SRCDIR/tests/integration/amqp_client.py"
admin=(-H ldap://dc1.adb.test -U "Administrator%$ADB_TEST_ADMIN_PASSWORD")
PW='Adb.User-Passw0rd'
U1="adbt.ha.$$" U2="adbt.typo.$$"
T52_PIDS=""
kdc_table=adbt_t52_dead_kdc

kdcs_up() { dc_ports_up $kdc_table adbt-dc1 adbt-dc2 adbt-pdc; }
kdcs_down() { dc_ports_down $kdc_table 88 adbt-dc1 adbt-dc2 adbt-pdc; }
t52_cleanup() {
    local p
    for p in $T52_PIDS; do kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    T52_PIDS=""
    kdcs_up
    tenv_run samba-tool user delete "$U1" "${admin[@]}" >/dev/null 2>&1
    tenv_run samba-tool user delete "$U2" "${admin[@]}" >/dev/null 2>&1
    broker_stop
}
trap 't52_cleanup' EXIT

for u in "$U1" "$U2"; do
    check "test user $u created (samba-tool as Administrator; the bridge never writes)" \
        tenv_run samba-tool user create "$u" "$PW" "${admin[@]}"
done
# attr USER ATTR: one attribute of USER as the PDC emulator (DC1) has it.
attr() {
    machine_kinit >/dev/null 2>&1
    local v
    v=$(machine_ldapsearch dc1.adb.test -b "$(basedn)" "(sAMAccountName=$1)" "$2" | sed -n "s/^$2: //p")
    echo "${v:-0}"   # AD leaves these unset until first used
}
basedn() { echo "DC=${ADB_TEST_DOMAIN//./,DC=}"; }
threshold=$(machine_kinit >/dev/null 2>&1; machine_ldapsearch dc1.adb.test -s base -b "$(basedn)" lockoutThreshold \
    | sed -n 's/^lockoutThreshold: //p')
margin=2
limit=$((threshold - margin))
check_match "AD's lockoutThreshold read from the domain ($threshold)" '^[3-9]$|^[1-9][0-9]+$' echo "$threshold"

# ---- the CLI's configuration switches for privileged accounts ----
cfg=$T52/cli.json
/usr/bin/python3 - "$ADBRIDGE_CONFIG" "$cfg" "$T52/cli-state" <<'EOF'
import json, sys
c = json.load(open(sys.argv[1])); c["state_dir"] = sys.argv[3]
json.dump(c, open(sys.argv[2], "w"))
EOF
mkdir -p -m 700 "$T52/cli-state"
cli_auth() { printf '%s\n' "$2" | adbridge --config "${CFG:-$cfg}" auth --stdin "$1" 2>&1; }
cli_restricted() { # USER PASSWORD REGEX: account_restricted with REGEX in the detail, no KDC named
    local out
    out=$(cli_auth "$1" "$2")
    printf '%s\n' "$out"
    grep -Eq '^result +account_restricted$' <<<"$out" && grep -Eq -- "$3" <<<"$out" && ! grep -Eq '^kdc ' <<<"$out"
}
/usr/bin/python3 - "$cfg" "$T52/cli-allow.json" "$T52/cli-refuse.json" <<'EOF'
import json, sys
c = json.load(open(sys.argv[1]))
c["auth"] = {"allow_privileged": True}; json.dump(c, open(sys.argv[2], "w"))
c["auth"] = {"refuse_groups": ["ADB\\nest.L1"]}; json.dump(c, open(sys.argv[3], "w"))
EOF
with_cfg() { local CFG=$1; shift; "$@"; }
check_match "auth.allow_privileged: ADB\\Administrator's right password is checked (ok)" '^result +ok$' \
    with_cfg "$T52/cli-allow.json" cli_auth 'ADB\Administrator' "$ADB_TEST_ADMIN_PASSWORD"
check "auth.refuse_groups [ADB\\nest.L1]: nested.user (a member through 8 levels) is account_restricted" \
    with_cfg "$T52/cli-refuse.json" cli_restricted nested.user "$PW" 'auth.refuse_groups'
check_match "auth.refuse_groups: alice (not a member) is still checked" '^result +ok$' \
    with_cfg "$T52/cli-refuse.json" cli_auth alice "$PW"

# ---- typos at the KDC count: two kinit typos, then the bridge ----
for i in 1 2; do
    printf 'Typo-%d\n' "$i" | KRB5CCNAME=MEMORY: tenv_run kinit "$U2@$ADB_TEST_REALM" >/dev/null 2>&1
done
check_eq "two typos at the KDC: badPwdCount 2 on the PDC" 2 "$(attr "$U2" badPwdCount)"
typo_results=""
for i in 1 2 3 4 5; do
    typo_results+="$(cli_auth "$U2" "Wrong-CLI-$i" | sed -n 's/^result *//p') "
done
echo "# after 2 kinit typos, 5 wrong passwords through the CLI: $typo_results"
check_eq "after the typos only $((limit - 2)) more reach AD, the rest locked_by_bridge" \
    "$(printf 'invalid_credentials %.0s' $(seq 1 $((limit - 2))))$(printf 'locked_by_bridge %.0s' $(seq 1 $((5 - limit + 2))))" \
    "$typo_results"
check_eq "badPwdCount stopped at threshold - margin ($limit)" "$limit" "$(attr "$U2" badPwdCount)"
check_eq "the account is not locked (lockoutTime 0)" 0 "$(attr "$U2" lockoutTime)"
check_match "a refusal says where the count came from and when checks resume" \
    "^detail +AD counts $limit failed logon\\(s\\).*AD locks the account at $threshold.*resume at [0-9T:-]+Z" \
    bash -c "printf '%s\n' '$PW' | adbridge --config '$cfg' auth --stdin '$U2'; true"

# ---- the PDC emulator unreachable: the closest DC, said in the log ----
dc_ports_down adbt_t52_no_ldap '{ 389, 636, 3268 }' adbt-dc1
pdc_out=$(cli_auth alice "$PW")
dc_ports_up adbt_t52_no_ldap adbt-dc1
check_match "DC1 (the PDC emulator) refusing LDAP: the check still runs (ok)" '^result +ok$' echo "$pdc_out"
check_match "... and the log says the count was read on another DC" 'event=pdc_unreachable domain=adb.test fallback=dc2' \
    echo "$pdc_out"

# ---- two daemons on one queue, restarted in between ----
if ! broker_start "$T52/broker"; then
    echo "not ok - RabbitMQ with rabbitmq_amqp1_0 started (tests/install-deps installs it)"
    exit 0
fi
/usr/bin/python3 - "$ADBRIDGE_CONFIG" "$T52" <<EOF
import json, sys
c = json.load(open(sys.argv[1]))
c.setdefault("auth", {})["allow_plaintext_password"] = True
c["broker"] = {"url": "$BROKER_AMQP_URL", "address": "/queue/requests", "username": "$BROKER_USER",
               "password_file": "$BROKER_PASSWORD_FILE", "sasl_mechanisms": "PLAIN", "workers": 4,
               "reconnect_max_s": 4}
for n in ("a", "b"):
    c["state_dir"] = sys.argv[2] + "/state-" + n
    json.dump(c, open(sys.argv[2] + "/daemon-" + n + ".json", "w"))
EOF
mkdir -p -m 700 "$T52/state-a" "$T52/state-b"
start_daemon() { # NAME
    setsid adbridged --config "$T52/daemon-$1.json" --foreground >>"$T52/$1.log" 2>&1 </dev/null &
    eval "PID_$1=$!"
    T52_PIDS="$T52_PIDS $!"
}
wait_connected() { # NAME COUNT
    local i
    for i in $(seq 1 200); do [ "$(grep -c event=link_connected "$T52/$1.log")" -ge "$2" ] && return 0; sleep 0.1; done
    tail -5 "$T52/$1.log"; return 1
}
request() { # USER PASSWORD: an auth.password request with id @CID@
    /usr/bin/python3 -c 'import json,sys; print(json.dumps({"v": 1, "id": "@CID@", "op": "auth.password",
        "params": {"user": sys.argv[1], "domain": "adb.test", "password": sys.argv[2]}}))' "$1" "$2"
}
results() { # FILE -> "reason count" lines
    /usr/bin/python3 -c '
import collections, json, sys
c = collections.Counter()
for l in open(sys.argv[1]):
    r = json.loads(json.loads(l)["body"])
    c[r["result"]["result"] if "result" in r else "error:" + r["error"]["code"]] += 1
print(" ".join("%s=%d" % kv for kv in sorted(c.items())))' "$1"; }
count_of() { grep -o "$1=[0-9]*" <<<"$2" | cut -d= -f2 | grep . || echo 0; }

start_daemon a; start_daemon b
check "daemons a and b connect to the broker" bash -c "$(declare -f wait_connected); T52=$T52; wait_connected a 1 && wait_connected b 1"

# ---- accounts never tested: through daemon a, with port 88 closed ----
# The daemon holds its machine tickets and LDAP connections (warmed here), so
# closing port 88 inside every DC leaves LDAP working and proves that the
# answer came without a KDC.
op() { # OP USER [PASSWORD]
    /usr/bin/python3 -c 'import json,sys
p = {"user": sys.argv[2], "password": sys.argv[3]} if sys.argv[1] == "auth.password" else {"id": sys.argv[2]}
print(json.dumps({"v": 1, "id": "@CID@", "op": sys.argv[1], "params": p}))' "$@"; }
reply_of() { # PREFIX OP USER [PASSWORD] -> the reply's result object as JSON
    op "$2" "$3" "${4:-}" >"$T52/$1.json"
    $CLIENT roundtrip --n 1 --prefix "$1" --body-file "$T52/$1.json" --out "$T52/$1.jsonl" --timeout 30 >/dev/null
    /usr/bin/python3 -c 'import json,sys; print(json.dumps(json.loads(json.loads(open(sys.argv[1]).readline())["body"]).get("result")))' \
        "$T52/$1.jsonl" 2>/dev/null
}
tenv_run samba-tool group addmembers "Domain Admins" "$U2" "${admin[@]}" >/dev/null 2>&1
kill -TERM "$PID_b"; wait "$PID_b" 2>/dev/null   # every request to a
for u in 'ADB\krbtgt' 'PARTNER\krbtgt' 'ADB\PARTNER$' 'ADB\Administrator' "ADB\\$U2"; do
    reply_of warm-$RANDOM user.get "$u" >/dev/null
done
reply_of warm-auth auth.password alice "$PW" >/dev/null   # opens the PDC connection
kdcs_down
for spec in 'krbtgt|ADB\krbtgt|never tests' 'pkrbtgt|PARTNER\krbtgt|never tests' 'trust|ADB\PARTNER$|trust account' \
            'rid500|ADB\Administrator|RID 500' "da|ADB\\$U2|member of Domain Admins"; do
    IFS='|' read -r tag user why <<<"$spec"
    r=$(reply_of "r-$tag" auth.password "$user" 'Not-Their-Passw0rd')
    check_match "$user: account_restricted without a KDC (port 88 closed): $why" \
        "\"result\": \"account_restricted\".*\"detail\": \"[^\"]*$why" echo "$r"
done
kdcs_up
start_daemon b
check "daemon b restarted and reconnected" bash -c "$(declare -f wait_connected); T52=$T52; wait_connected b 2"
tenv_run samba-tool group removemembers "Domain Admins" "$U2" "${admin[@]}" >/dev/null 2>&1
check_eq "krbtgt's badPwdCount stays 0 (ADB)" 0 "$(attr krbtgt badPwdCount)"
check "the daemon logged each refusal (event=auth_restricted)" test "$(grep -c event=auth_restricted "$T52/a.log")" -ge 5

# Distinct wrong passwords ("Wrong-<correlation id>"): none is a repeat.
request "$U1" 'Wrong-@CID@' >"$T52/wrong.json"
$CLIENT roundtrip --n 25 --prefix ha1 --body-file "$T52/wrong.json" --out "$T52/ha1.jsonl" --timeout 60 >/dev/null
kill -TERM "$PID_a"; wait "$PID_a" 2>/dev/null
start_daemon a
check "daemon a restarted and reconnected" bash -c "$(declare -f wait_connected); T52=$T52; wait_connected a 2"
$CLIENT roundtrip --n 25 --prefix ha2 --body-file "$T52/wrong.json" --out "$T52/ha2.jsonl" --timeout 60 >/dev/null
cat "$T52/ha1.jsonl" "$T52/ha2.jsonl" >"$T52/ha.jsonl"
ha=$(results "$T52/ha.jsonl")
bad=$(attr "$U1" badPwdCount)
echo "# two daemons + restart, 50 distinct wrong passwords: $ha; badPwdCount $bad (threshold $threshold)"
check_eq "all 50 answered" 50 "$(( $(count_of invalid_credentials "$ha") + $(count_of locked_by_bridge "$ha") ))"
# Each instance reads AD's count before each check and has one check per
# user in flight, so two instances overshoot threshold - margin by at most 1.
reached=$(count_of invalid_credentials "$ha")
check "threshold - margin ($limit) to $((limit + 1)) reached AD (two instances), got $reached"     test "$reached" -ge "$limit" -a "$reached" -le $((limit + 1))
check_eq "AD's count is what reached it" "$reached" "$bad"
check "AD's badPwdCount stays below the threshold" test "$bad" -lt "$threshold"
check_eq "the account was never locked (lockoutTime 0)" 0 "$(attr "$U1" lockoutTime)"
check "both daemons answered some" bash -c "grep -q 'event=auth user=$U1' '$T52/a.log' && grep -q 'event=auth user=$U1' '$T52/b.log'"

# ---- the right password while the count allows it; checks at once ----
printf '%s\n' "$PW" | KRB5CCNAME=MEMORY: tenv_run kinit "$U1@$ADB_TEST_REALM" >/dev/null 2>&1   # resets badPwdCount
check_eq "a right logon at the KDC reset badPwdCount" 0 "$(attr "$U1" badPwdCount)"
request "$U1" "$PW" >"$T52/right.json"
$CLIENT roundtrip --n 40 --prefix ok --body-file "$T52/right.json" --out "$T52/ok.jsonl" --timeout 90 >/dev/null
ok=$(results "$T52/ok.jsonl")
echo "# 40 right passwords at once over two daemons (8 workers): $ok"
check_eq "every right password answered ok, none refused" "ok=40" "$ok"

# ---- one wrong password sent 20 times reaches AD once ----
request "$U1" 'Stale-Saved-Passw0rd' >"$T52/stale.json"
kill -TERM "$PID_b"; wait "$PID_b" 2>/dev/null   # one instance: the memory is per process
$CLIENT roundtrip --n 20 --prefix st --body-file "$T52/stale.json" --out "$T52/st.jsonl" --timeout 60 >/dev/null
st=$(results "$T52/st.jsonl")
echo "# one wrong password 20 times through one daemon: $st; badPwdCount $(attr "$U1" badPwdCount)"
check_eq "all 20 answered invalid_credentials" "invalid_credentials=20" "$st"
check_eq "... and AD counted it once" 1 "$(attr "$U1" badPwdCount)"
check "no password reached a daemon's log" bash -c "! grep -Eq 'Wrong-ha|Stale-Saved|$PW' '$T52/a.log' '$T52/b.log'"
kill -TERM "$PID_a"; wait "$PID_a" 2>/dev/null

t52_cleanup
trap - EXIT
