# The directory layer (src/dir: topology, flags, lookups, group expansion,
# cache) against the testenv's DCs and seeded dataset, through the C API
# (test_directory) and the CLI.
run_tap "$ADB_TOP_BUILDDIR/tests/integration/test_directory"

# The CLI reads the testenv's configuration; commands that change a flag get
# a copy whose state_dir is private, so the shared state stays as it is.
cli_cfg=$ADB_TEST_TMP/cli-adbridge.json
mkdir -m 0700 -p "$ADB_TEST_TMP/cli-state"
sed -e "s|\"state_dir\": *\"[^\"]*\"|\"state_dir\": \"$ADB_TEST_TMP/cli-state\"|" "$ADBRIDGE_CONFIG" >"$cli_cfg"
adb() { adbridge --config "$cli_cfg" "$@"; }
exit_of() { local rc=0; "$@" >/dev/null 2>&1 || rc=$?; echo "$rc"; }

check_match "adbridge user by DOMAIN\\name" '^upn +alice@adb\.test$' adb user 'ADB\alice'
check_match "adbridge user --json by UPN is the wire shape" '"sam_account_name": "alice"' \
    adb user alice@adb.test --json
sid=$(adb user 'ADB\alice' --json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["object"]["sid"])')
check_match "adbridge user by SID" '^name +ADB\\alice$' adb user "$sid"
check_match "adbridge group shows type and scope" '^group scope +domain_local$' adb group 'ADB\grp.domlocal.sec'
check_match "adbridge user: locked-out user" '^locked out +yes$' adb user 'ADB\locked.user'
check_eq "adbridge user: exit 1 when not found" 1 "$(exit_of adb user 'ADB\no.such.user')"
check_eq "adbridge user: exit 2 on a malformed SID" 2 "$(exit_of adb user 'S-1-5-21-x')"
check_eq "adbridge user: exit 2 when ambiguous" 2 "$(exit_of adb user Administrator)"
check_fail "adbridge user: ambiguous lists the candidates" 'PARTNER\\Administrator' adb user Administrator
check_match "adbridge search: display name with specials" '^ADB\\smith\.john ' adb search 'Smith, John (' --users
check_eq "adbridge search: exit 1 for nothing found (hostile prefix)" 1 "$(exit_of adb search '*)(objectClass=*')"
check_match "adbridge groups-of: nested user in nest.L8" 'ADB\\nest\.L8 ' adb groups-of 'ADB\nested.user'
check_match "adbridge members: 5000 members of big.group, streamed" '^# 5000 members$' \
    adb members 'ADB\big.group' --limit 700
# --json prints the wire's result (schemas/reply.schema.json), here every
# page of the listing in one; validated below.
cli_json=$ADB_TEST_TMP/cli-json
mkdir -p "$cli_json"
adb members 'ADB\big.group' --limit 700 --json >"$cli_json/group.members-big.json"
check_eq "adbridge members --json: 5000 distinct members" 5000 "$(/usr/bin/python3 -c \
    'import json,sys; m=json.load(open(sys.argv[1]))["members"]; print(len({x["sid"] for x in m}))' \
    "$cli_json/group.members-big.json")"
check_match "adbridge members --transitive across the trust" 'PARTNER\\pia\.partner' \
    adb members 'ADB\partner.members' --transitive
# fields: members read with names only, the same members as whole objects.
adb members 'ADB\big.group' --limit 700 --fields sid,sam_account_name --json >"$cli_json/group.members-fields.json"
check_eq "adbridge members --fields sid,sam_account_name: the same 5000 members, those two fields only" \
    "5000 ['sam_account_name', 'sid'] True" "$(/usr/bin/python3 -c '
import json, sys
full = {m["sid"]: m["sam_account_name"] for m in json.load(open(sys.argv[1]))["members"]}
part = json.load(open(sys.argv[2]))["members"]
print(len(part), sorted({k for m in part for k in m}), {m["sid"]: m["sam_account_name"] for m in part} == full)' \
    "$cli_json/group.members-big.json" "$cli_json/group.members-fields.json")"
adb members 'ADB\nest.L1' --transitive --fields kind,sid,sam_account_name,dn --json \
    >"$cli_json/group.members-nest-fields.json"
check_eq "adbridge members --transitive --fields: nested.user, 8 groups down the nest chain" \
    "user nested.user" "$(/usr/bin/python3 -c '
import json, sys
m = json.load(open(sys.argv[1]))["members"]
print(" ".join(x["kind"] + " " + x["sam_account_name"] for x in m))' "$cli_json/group.members-nest-fields.json")"
adb members 'ADB\partner.members' --transitive --fields sid,sam_account_name,domain --json \
    >"$cli_json/group.members-fsp-fields.json"
check_eq "adbridge members --transitive --fields: foreign principals resolved in their forest" \
    "pat.partner partner.test pia.partner partner.test" "$(/usr/bin/python3 -c '
import json, sys
m = json.load(open(sys.argv[1]))["members"]
print(" ".join(x["sam_account_name"] + " " + x["domain"]["dns"] for x in m))' "$cli_json/group.members-fsp-fields.json")"
# From 1,000 members a direct listing streams, in DN order (schemas/README.md),
# whatever the fields: big.group whole and by names come in one order.
check_eq "adbridge members --fields: big.group in the same order as the whole listing" "True" \
    "$(/usr/bin/python3 -c '
import json, sys
sids = lambda f: [m["sid"] for m in json.load(open(f))["members"]]
print(sids(sys.argv[1]) == sids(sys.argv[2]))' "$cli_json/group.members-big.json" "$cli_json/group.members-fields.json")"
# Domain Users holds its accounts through primaryGroupID, not member values:
# 5,000 and more, streamed like big.group, in pages of 700 across both sources.
adb members 'ADB\Domain Users' --limit 700 --fields sam_account_name,kind,dn --json \
    >"$cli_json/group.members-primary-fields.json"
check_eq "adbridge members --fields: the accounts whose primary group it is (alice, 5000 bulk users)" \
    "True 5000" "$(/usr/bin/python3 -c '
import json, sys
names = {m["sam_account_name"] for m in json.load(open(sys.argv[1]))["members"]}
print("alice" in names, len([n for n in names if n.startswith("bulk.")]))' "$cli_json/group.members-primary-fields.json")"
check_eq "adbridge members: a streamed listing comes in DN order (ASCII case-insensitive), each once" "True" \
    "$(/usr/bin/python3 -c '
import json, sys
dns = [m["dn"].encode().lower() for m in json.load(open(sys.argv[1]))["members"]]
print(len(dns) > 5000 and all(a < b for a, b in zip(dns, dns[1:])))' "$cli_json/group.members-primary-fields.json")"
check_eq "adbridge members --fields with an unknown field: invalid_request, exit 2" 2 \
    "$(exit_of adb members 'ADB\big.group' --fields sid,name)"
check_fail "adbridge members --fields with an unknown field names it" 'invalid_request: \$\.params\.fields\[1\]: must be one of the object.s fields' \
    adb members 'ADB\big.group' --fields sid,name
check_match "adbridge domains lists the forest trust" 'partner\.test +PARTNER +bidirectional +forest' adb domains
check_match "adbridge domain disable persists" 'disabled' adb domain disable partner.test
check_match "adbridge domains shows it disabled, not contacted" 'partner\.test .*disabled +not contacted' adb domains
check_eq "adbridge user in a disabled domain: exit 2" 2 "$(exit_of adb user 'PARTNER\pat.partner')"
check_match "adbridge domain enable persists" 'enabled' adb domain enable PARTNER
check_match "adbridge user in the re-enabled domain" '^name +PARTNER\\pat\.partner$' adb user 'PARTNER\pat.partner'

# ---- the CLI's --json is the wire's result: each validated by
# tests/conformance/validate.py against reply.schema.json's result of its op ----
adb user alice@adb.test --json >"$cli_json/user.get.json"
adb group 'ADB\grp.domlocal.sec' --json >"$cli_json/group.get.json"
adb search 'Smith, John (' --users --json >"$cli_json/search.json"
adb search bulk --limit 3 --json >"$cli_json/search-page.json"
adb groups-of 'ADB\nested.user' --json >"$cli_json/user.groups.json"
adb members 'ADB\partner.members' --transitive --json >"$cli_json/group.members-transitive.json"
adb domains --json >"$cli_json/topology.get.json"
adb domain enable partner.test --json >"$cli_json/domains.configure.json" 2>>"$ADB_TEST_TMP/cli-json.log"
# badpw.user never locks out: the CLI's auth path with a wrong password.
printf '%s\n' 'Wrong-Passw0rd-CLI' | adb auth --stdin badpw.user --json >"$cli_json/auth.password.json" \
    2>>"$ADB_TEST_TMP/cli-json.log"
check_eq "adbridge auth --json: a wrong password is invalid_credentials, exit 1" "invalid_credentials 1" \
    "$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["result"])' \
        "$cli_json/auth.password.json") $(printf '%s\n' 'Wrong-Passw0rd-CLI' | exit_of adb auth --stdin badpw.user)"
check_match "adbridge search --json: a page carries its next_cursor" '"next_cursor": "[A-Za-z0-9_-]+"' \
    cat "$cli_json/search-page.json"
for f in "$cli_json"/*.json; do
    op=$(basename "$f" .json); op=${op%%-*}
    check "adbridge --json for $(basename "$f" .json) is the result of $op by schemas/reply.schema.json" \
        env ADB_TOP_SRCDIR="$ADB_TOP_SRCDIR" /usr/bin/python3 "$ADB_TOP_SRCDIR/tests/conformance/validate.py" \
        --expect-valid --result-of "$op" reply "$f"
done
check_eq "the CLI's --json was checked for every op it runs" \
    "auth.password domains.configure group.get group.members search topology.get user.get user.groups" \
    "$(ls "$cli_json" | sed 's/\.json$//; s/-.*//' | sort -u | xargs)"
# An error with --json: the wire's error object on stdout, the line on stderr.
check_match "adbridge user --json when ambiguous prints the wire's error with its candidates" \
    '^ambiguous 2$' bash -c "adbridge --config '$cli_cfg' user Administrator --json 2>/dev/null \
        | /usr/bin/python3 -c 'import json,sys; e=json.load(sys.stdin); print(e[\"code\"], len(e[\"candidates\"]))'"
