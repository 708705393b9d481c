# Start-up checks (issue 12 section 5): adbridged --check-config runs the
# daemon's own start-up checks, without the network, so it refuses what the
# daemon refuses: a secret file others can read, a FIFO where a secret file
# should be (it used to hang the daemon at start, deaf to SIGTERM), a keytab
# others can read, a state directory others can write.  adbridge diagnose
# shows the same keytab and state directory findings with their fix.
t47=$ADB_TEST_TMP/t47
mkdir -m 700 -p "$t47"
cp "$ADB_TEST_KEYTAB" "$t47/keytab"
chmod 600 "$t47/keytab"
printf 'not-a-real-password\n' >"$t47/pw"
chmod 600 "$t47/pw"
mkfifo -m 600 "$t47/pw.fifo"
mkdir -m 700 "$t47/state"
# mkcfg NAME PYTHON: a copy of the testenv's configuration with a broker
# (never dialled here) and the change PYTHON makes to c.
mkcfg() {
    /usr/bin/python3 - "$ADBRIDGE_CONFIG" "$t47/$1.json" "$2" <<EOF2
import json, sys
c = json.load(open(sys.argv[1]))
c["state_dir"] = "$t47/state"
c["keytab"] = "$t47/keytab"
c["broker"] = {"url": "amqp://127.0.0.1:9", "address": "/queue/requests", "username": "u",
               "password_file": "$t47/pw", "sasl_mechanisms": "PLAIN"}
exec(sys.argv[3])
json.dump(c, open(sys.argv[2], "w"))
EOF2
}
diag_keytab() { # CONFIG -> "status fix" of diagnose's config.keytab
    adbridge --config "$1" diagnose --json --skip-cloud --domain adb.test 2>/dev/null | /usr/bin/python3 -c '
import json, sys
c = [c for c in json.load(sys.stdin)["checks"] if c["id"] == "config.keytab"][0]
print(c["status"], c.get("fix") or "")'
}
mkcfg good ""
mkcfg fifo 'c["broker"]["password_file"] += ".fifo"'
check_match "--check-config: a sound configuration is valid" 'is valid' adbridged --check-config --config "$t47/good.json"

chmod 644 "$t47/pw"
check_fail "--check-config: a broker password file others can read is refused, with the fix" \
    'password_file.*mode 0644.*chmod 600' adbridged --check-config --config "$t47/good.json"
chmod 600 "$t47/pw"

check_fail "--check-config: a FIFO as the password file is refused at once" 'FIFO' \
    timeout 10 adbridged --check-config --config "$t47/fifo.json"
rc=0; out=$(timeout 10 adbridged --foreground --config "$t47/fifo.json" 2>&1) || rc=$?
check_eq "adbridged: a FIFO as the password file stops the start at once (exit 78 EX_CONFIG, not a hang: 124)" 78 "$rc"
check_match "adbridged: ... and says why in its log" 'startup_failed step=secret_file.*FIFO' echo "$out"

chmod 644 "$t47/keytab"
check_fail "--check-config: a keytab others can read is refused, with the fix" 'keytab.*mode 0644.*chmod 600' \
    adbridged --check-config --config "$t47/good.json"
check_match "diagnose: the same keytab fails config.keytab with the fix" \
    "^fail chmod 600 $t47/keytab" diag_keytab "$t47/good.json"
chmod 640 "$t47/keytab"
check_match "--check-config: a keytab its group can read is accepted, with a warning" \
    'keytab: warning: .*group.*Fix: chmod 600' adbridged --check-config --config "$t47/good.json"
chmod 600 "$t47/keytab"

chmod 777 "$t47/state"
check_fail "--check-config: a state directory everyone can write is refused, with the fix" \
    'state_dir.*mode 0777.*chmod 700' adbridged --check-config --config "$t47/good.json"
chmod 700 "$t47/state"
check_match "--check-config: valid again once fixed" 'is valid' adbridged --check-config --config "$t47/good.json"
