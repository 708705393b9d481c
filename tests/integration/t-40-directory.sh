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
sid=$(adb user 'ADB\alice' --json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["sid"])')
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
check_eq "adbridge members --json: 5000 distinct members" 5000 "$(adb members 'ADB\big.group' --json \
    | /usr/bin/python3 -c 'import json,sys; m=json.load(sys.stdin)["members"]; print(len({x["sid"] for x in m}))')"
check_match "adbridge members --transitive across the trust" 'PARTNER\\pia\.partner' \
    adb members 'ADB\partner.members' --transitive
check_match "adbridge domains lists the forest trust" 'partner\.test +PARTNER +bidirectional +forest' adb domains
check_match "adbridge domain disable persists" 'disabled' adb domain disable partner.test
check_match "adbridge domains shows it disabled, not contacted" 'partner\.test .*disabled +not contacted' adb domains
check_eq "adbridge user in a disabled domain: exit 2" 2 "$(exit_of adb user 'PARTNER\pat.partner')"
check_match "adbridge domain enable persists" 'enabled' adb domain enable PARTNER
check_match "adbridge user in the re-enabled domain" '^name +PARTNER\\pat\.partner$' adb user 'PARTNER\pat.partner'
