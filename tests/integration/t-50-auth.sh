# Password checks (src/ad/pwcheck*.c, src/dir/auth.c, lockout.c, src/util/keystore.c)
# against the testenv's KDCs and seeded accounts, through the C API
# (test_auth) and the CLI (adbridge auth, adbridge key), and a marker
# password that must appear in no output or log of the run.
admin=(-H ldap://dc1.adb.test -U "Administrator%$ADB_TEST_ADMIN_PASSWORD")

# A throw-away user under the domain's lockout policy (threshold 5) for the
# smart lockout test: the seeded users stay untouched.  The test writes to AD
# through samba-tool as Administrator; the bridge itself never writes.
export ADB_TEST_LOCKOUT_USER="adbt.lock.$$"
tenv_run samba-tool user create "$ADB_TEST_LOCKOUT_USER" 'Adb.User-Passw0rd' "${admin[@]}" >/dev/null 2>&1 \
    || echo "# could not create $ADB_TEST_LOCKOUT_USER"
trap 'tenv_run samba-tool user delete "$ADB_TEST_LOCKOUT_USER" "${admin[@]}" >/dev/null 2>&1' EXIT

# A keytab with the host principal at the real kvno but a key the KDC does
# not have: what verifying a spoofed KDC's answer looks like.
export ADB_TEST_WRONG_HOST_KEYTAB=$ADB_TEST_TMP/wrong-host.keytab
# (the highest kvno: after a rotation adcli lists the new keys first)
host_kvno=$(klist -k "$ADB_TEST_KEYTAB" | awk '$2 ~ /^host\/connector1\.adb\.test@/ && $1 + 0 > k { k = $1 + 0 } END { print k }')
printf 'addent -password -p %s -k %s -e aes256-cts-hmac-sha1-96\nnot-the-host-key\naddent -password -p %s -k %s -e aes256-cts-hmac-sha1-96\nnot-the-host-key\nwkt %s\n' \
    "host/connector1.adb.test@$ADB_TEST_REALM" "${host_kvno:-1}" "${ADB_TEST_MACHINE}\$@$ADB_TEST_REALM" "${host_kvno:-1}" \
    "$ADB_TEST_WRONG_HOST_KEYTAB" | ktutil >/dev/null 2>&1

run_tap "$ADB_TOP_BUILDDIR/tests/integration/test_auth"
# clock_skew: the same program with the clock ten minutes ahead (libfaketime);
# AddressSanitizer builds must accept the preloaded library.
faketime_lib=/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1
if [ -e "$faketime_lib" ]; then
    run_tap env LD_PRELOAD="$faketime_lib" FAKETIME=+10m ASAN_OPTIONS=verify_asan_link_order=0 \
        "$ADB_TOP_BUILDDIR/tests/integration/test_auth"
else
    echo "not ok - clock skew: $faketime_lib missing (apt-get install libfaketime)"
fi

# ---- the CLI, with a private state dir ----
cli_cfg=$ADB_TEST_TMP/auth-adbridge.json
state=$ADB_TEST_TMP/auth-state
sed -e "s|\"state_dir\": *\"[^\"]*\"|\"state_dir\": \"$state\"|" "$ADBRIDGE_CONFIG" >"$cli_cfg"
cli_log=$ADB_TEST_TMP/auth-cli.out   # everything the CLI prints, for the marker check
: >"$cli_log"
adb() { adbridge --config "$cli_cfg" "$@" 2>&1 | tee -a "$cli_log"; return "${PIPESTATUS[0]}"; }
exit_of() { local rc=0; "$@" >/dev/null 2>&1 || rc=$?; echo "$rc"; }
pw() { printf '%s\n' "$1"; }

check_match "adbridge key show creates the key pair" '^key id +[A-Za-z0-9_-]{22}$' adb key show
check_eq "key file is mode 600" 600 "$(stat -c %a "$state/instance-keys")"
key_id=$(adb key show --json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["key_id"])')
check_match "adbridge key rotate keeps the old key for the grace period" "^old keys +$key_id " \
    adb key rotate --grace 600
check_match "adbridge key show --json lists the old key and its expiry" '"expires": "[0-9T:-]+Z"' adb key show --json
chmod 640 "$state/instance-keys"
check_fail "a key file others can read is refused" 'chmod 600' adb key show
chmod 600 "$state/instance-keys"

auth() { local user=$1 password=$2; shift 2; pw "$password" | adb auth --stdin "$user" "$@"; }
# reason USER PASSWORD [ARGS]: a check that gave a result (exit 0 ok, 1 another reason; 2 is an error).
reason() { local rc=0; auth "$@" || rc=$?; [ "$rc" -le 1 ]; }
check_match "adbridge auth: right password (UPN)" '^result +ok$' auth alice@adb.test 'Adb.User-Passw0rd'
check_match "adbridge auth: right password (sAMAccountName)" '^principal +alice@ADB\.TEST$' auth alice 'Adb.User-Passw0rd'
check_match "adbridge auth: cross-forest UPN" '^principal +pat\.partner@PARTNER\.TEST$' \
    auth pat.partner@partner.test 'Adb.User-Passw0rd'
check_eq "adbridge auth: exit 1 for a wrong password" 1 "$(exit_of auth badpw.user 'Wrong-Passw0rd-1')"
check_match "adbridge auth: wrong password" '^result +invalid_credentials$' reason badpw.user 'Wrong-Passw0rd-1'
check_match "adbridge auth: unknown user" '^result +unknown_user$' reason nosuch.user@adb.test 'Adb.User-Passw0rd'
check_match "adbridge auth --json: locked account told apart through LDAP" '"result": "account_locked"' \
    reason locked.user@adb.test 'Adb.User-Passw0rd' --json
check_match "adbridge auth: disabled account" '^result +account_disabled$' reason disabled.user 'Adb.User-Passw0rd'
check_match "adbridge auth: expired account" '^result +account_expired$' reason expired.user 'Adb.User-Passw0rd'
check_match "adbridge auth: must change password" '^result +password_must_change$' \
    reason mustchange.user 'Adb.User-Passw0rd'
check_match "adbridge auth: expired password" '^result +password_expired$' reason pwexpired.user 'Adb.User-Passw0rd'
# dead CMD...: CMD while the KDCs of ADB.TEST refuse every connection (port
# 88 rejected inside both DCs' namespaces; LDAP still answers, so the user is
# found and only the Kerberos exchange fails).
kdcs_down() { dc_ports_down adbt_auth_dead_kdc 88 adbt-dc1 adbt-dc2; }
kdcs_up() { dc_ports_up adbt_auth_dead_kdc adbt-dc1 adbt-dc2; }
dead() { local rc=0; kdcs_down; "$@" || rc=$?; kdcs_up; return "$rc"; }
trap 'kdcs_up; tenv_run samba-tool user delete "$ADB_TEST_LOCKOUT_USER" "${admin[@]}" >/dev/null 2>&1' EXIT
check_match "adbridge auth: unreachable KDC is dc_unavailable" '^result +dc_unavailable$' \
    dead reason alice 'Adb.User-Passw0rd'
unknown_out=$(reason nosuch.user 'Adb.User-Passw0rd')
check_match "adbridge auth: the user is looked up first" '^detail +no object named' echo "$unknown_out"
check_eq "... and no KDC is asked for an unknown user" 0 "$(grep -c '^kdc ' <<<"$unknown_out")"
check_match "adbridge auth --groups: the user's groups on success" '^groups +CN=' \
    auth alice 'Adb.User-Passw0rd' --groups
check_match "adbridge auth --domain qualifies a bare name" '^principal +pat\.partner@PARTNER\.TEST$' \
    auth pat.partner 'Adb.User-Passw0rd' --domain partner.test
check_match "adbridge auth: a domain the bridge does not know names the known ones" \
    "^detail +unknown domain 'not-configured.test' \\(known: adb.test" \
    reason alice 'Adb.User-Passw0rd' --domain not-configured.test
check_fail "adbridge auth without a terminal asks for --stdin" '--stdin' \
    setsid -w adbridge --config "$cli_cfg" auth alice </dev/null

# ---- the marker password: in no output and no log of the run ----
marker="Marker-$$-$RANDOM-Pw"
marker_out=$(auth badpw.user "$marker" --json; auth nosuch.user@adb.test "$marker"; dead auth alice "$marker")
check_match "the marker password was checked (wrong, unknown user, no KDC)" \
    'invalid_credentials.*unknown_user.*dc_unavailable' tr '\n' ' ' <<<"$marker_out"
leaks=$(grep -rlF -- "$marker" "$ADB_TEST_TMP" "$ADB_TEST_STATE/logs" 2>/dev/null | xargs)
check_eq "the marker password appears in no output or log" "" "$leaks"
check_eq "... nor in what the CLI printed" 0 "$(grep -cF -- "$marker" <<<"$marker_out")"
