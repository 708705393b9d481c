# search (the people picker) against the testenv's DCs, through the CLI:
# which objects a prefix finds (schemas/README.md, search), in which order,
# across pages, and that the prefix never acts as filter syntax.
cli_cfg=$ADB_TEST_TMP/search-adbridge.json
mkdir -m 0700 -p "$ADB_TEST_TMP/search-state"
sed -e "s|\"state_dir\": *\"[^\"]*\"|\"state_dir\": \"$ADB_TEST_TMP/search-state\"|" "$ADBRIDGE_CONFIG" >"$cli_cfg"
adb() { adbridge --config "$cli_cfg" "$@"; }
exit_of() { local rc=0; "$@" >/dev/null 2>&1 || rc=$?; echo "$rc"; }
# names PREFIX ARGS...: NETBIOS\sam of one page, space-separated, in page order.
names() {
    adb search "$@" --json | /usr/bin/python3 -c '
import json, sys
print(" ".join("%s\\%s" % (i["domain"]["netbios"], i["sam_account_name"]) for i in json.load(sys.stdin)["items"]))'
}
# all_pages PREFIX LIMIT: every page, following next_cursor; one name a line.
all_pages() {
    local cursor='' page
    while :; do
        page=$(adb search "$1" --limit "$2" ${cursor:+--cursor "$cursor"} --json) || return 1
        /usr/bin/python3 -c 'import json,sys; [print(i["sam_account_name"]) for i in json.load(sys.stdin)["items"]]' <<<"$page"
        cursor=$(/usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["next_cursor"] or "")' <<<"$page")
        [ -n "$cursor" ] || return 0
    done
}
bulk() { local i out=''; for i; do out+=" ADB\\bulk.$i"; done; echo "${out# }"; }

check_eq "search: account name prefix, ordered" "$(bulk 01000 01001 01002 01003 01004 01005 01006 01007 01008 01009)" \
    "$(names bulk.0100 --users)"
check_eq "search: display name prefix" "$(bulk 02000 02001 02002 02003 02004 02005 02006 02007 02008 02009)" \
    "$(names 'Bulk User 0200')"
check_eq "search: mail / UPN prefix" 'ADB\bulk.00042' "$(names bulk.00042@adb)"
check_eq "search: groups only" 'ADB\grp.domlocal.dist ADB\grp.domlocal.sec ADB\grp.global.dist ADB\grp.global.sec ADB\grp.universal.dist ADB\grp.universal.sec' \
    "$(names grp. --groups)"
check_eq "search: a group is not a user" 1 "$(exit_of adb search grp. --users)"
check_eq "search: a contact is not a user (displayName Ext Contact)" 1 "$(exit_of adb search 'Ext Contact')"
check_eq "search: a computer is not a user (WKS-01\$)" 1 "$(exit_of adb search WKS-01)"
check_eq "search: both kinds, every domain, by name then domain" \
    'ADB\partner.members PARTNER\partner.staff PARTNER\pat.partner' "$(names pa --limit 3)"
check_eq "search: non-ASCII display name" 'ADB\yamada.taro' "$(names '山田')"
check_eq "search: DN and filter specials in the prefix are text" 'ADB\obrien.pat' \
    "$(names 'O"Brien; Pat <Ops> #1 + Co = A\B')"
check_eq "search: '*' is a character, not a wildcard" 1 "$(exit_of adb search '*')"
check_eq "search: '\\2a' is text, not an escape" 1 "$(exit_of adb search '\2a')"
seq_expected=$(printf 'bulk.%05d\n' $(seq 1 9))
check_eq "search: pages of 4 follow in order, none lost or repeated" "$seq_expected" "$(all_pages bulk.0000 4)"
