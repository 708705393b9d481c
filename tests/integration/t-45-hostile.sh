# Directory data is hostile (issue 12 section 4): a user whose displayName
# and givenName hold terminal escape sequences (retitle: ESC ] 0 ; ... BEL,
# clear: ESC [ 2 J, an 8-bit CSI as the code point U+009B, DEL) must not
# reach the admin's terminal raw through adbridge user / search: text mode
# shows them escaped (\x1b, \u009b), --json keeps the exact value, escaped
# by JSON.  The user is created here (samba-tool and ldbmodify as
# Administrator, on dc1) and deleted at the end; the bridge itself never writes.
admin=(-H ldap://dc1.adb.test -U "Administrator%$ADB_TEST_ADMIN_PASSWORD")
hostile="adbt.hostile.$$"
t45=$ADB_TEST_TMP/t45
mkdir -p "$t45"
t45_cleanup() { tenv_run samba-tool user delete "$hostile" "${admin[@]}" >/dev/null 2>&1; }
trap t45_cleanup EXIT

# ESC ] 0 ; pwned BEL  Evil  ESC [ 2 J  U+009B 3 1 m  DEL
display=$'Eve\e]0;pwned\aEvil\e[2J\xc2\x9b31m\x7f'
given=$'Mallory\e[5m'
check "create $hostile (samba-tool, as Administrator)" \
    tenv_run samba-tool user create "$hostile" 'Adb.User-Passw0rd' "${admin[@]}"
cat >"$t45/hostile.ldif" <<LDIF
dn: CN=$hostile,CN=Users,DC=adb,DC=test
changetype: modify
replace: displayName
displayName:: $(printf '%s' "$display" | base64 -w0)
-
replace: givenName
givenName:: $(printf '%s' "$given" | base64 -w0)
-
LDIF
check "give it a displayName and givenName with terminal escapes (ldbmodify)" \
    tenv_run ldbmodify "${admin[@]}" "$t45/hostile.ldif"

# The CLI may ask either DC: replicate to dc2 now rather than at its next run.
check "replicate the user to dc2" tenv_run samba-tool drs replicate dc2.adb.test dc1.adb.test DC=adb,DC=test \
    -U "Administrator%$ADB_TEST_ADMIN_PASSWORD"
seen_json() {
    adbridge user "ADB\\$hostile" --json 2>/dev/null | /usr/bin/python3 -c '
import json, sys
sys.exit(0 if json.load(sys.stdin)["object"].get("display_name") == "Eve\x1b]0;pwned\x07Evil\x1b[2J\u009b31m\x7f" else 1)'
}
waited() { for _ in $(seq 40); do "$@" && return 0; sleep 1; done; return 1; }
check "adbridge user --json: the exact displayName, escaped by JSON only" waited seen_json
check_match "adbridge user --json: ESC as \\u001b (jansson writes \\u001B)" '\\u001[bB]\]0;pwned\\u0007' \
    adbridge user "ADB\\$hostile" --json

# no_raw FILE: no C0 control but newline, no DEL, no C1 (U+0080..U+009F as
# UTF-8), no byte that is not UTF-8.
no_raw() {
    /usr/bin/python3 - "$1" <<'PY'
import re, sys
data = open(sys.argv[1], "rb").read()
bad = re.search(rb"[\x00-\x09\x0b-\x1f\x7f]|\xc2[\x80-\x9f]", data)
try:
    data.decode("utf-8")
except UnicodeDecodeError as e:
    sys.exit("not UTF-8 at byte %d" % e.start)
if bad:
    sys.exit("raw control byte %r at %d: %r" % (bad.group(), bad.start(), data[max(0, bad.start() - 20):bad.start() + 20]))
PY
}
run_to() { # NAME CMD...: stdout and stderr into $t45/NAME.out / .err, exit status echoed
    local name=$1 rc=0; shift
    "$@" >"$t45/$name.out" 2>"$t45/$name.err" || rc=$?
    echo "$rc"
}

check_eq "adbridge user: exit 0" 0 "$(run_to user adbridge user "ADB\\$hostile")"
check "adbridge user: no raw control byte on stdout" no_raw "$t45/user.out"
check "adbridge user: none on stderr" no_raw "$t45/user.err"
check "adbridge user: ESC shown as \\x1b, BEL as \\x07" \
    grep -qF 'Eve\x1b]0;pwned\x07Evil\x1b[2J\u009b31m\x7f' "$t45/user.out"
check_match "adbridge user: the display name row" '^display name +Eve\\x1b' cat "$t45/user.out"
check "adbridge user: the given name too" grep -qF 'Mallory\x1b[5m' "$t45/user.out"

check_eq "adbridge search: exit 0" 0 "$(run_to search adbridge search "$hostile" --users)"
check "adbridge search: no raw control byte on stdout" no_raw "$t45/search.out"
check "adbridge search: none on stderr" no_raw "$t45/search.err"
check "adbridge search: the row names the user" grep -qF "ADB\\$hostile" "$t45/search.out"
check "adbridge search: ESC shown as \\x1b" grep -qF 'Eve\x1b]0;pwned\x07' "$t45/search.out"

check "delete $hostile" tenv_run samba-tool user delete "$hostile" "${admin[@]}"
trap - EXIT
