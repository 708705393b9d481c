# adbridged on testenv connector hosts (samba-testenv `connector add`), for
# the tests of several instances.  Source after broker.sh and broker_start.
#
#   connector_daemon C DIR BROKER_EXTRA: adbridged --foreground in connector
#       C's namespace, with C's adbridge.json and a "broker" section for the
#       tests' broker on the bridge address ($BROKER_BRIDGE_URL, requests on
#       /queue/requests, 2 s reconnect cap) plus BROKER_EXTRA (JSON members,
#       e.g. '"workers": 4, "status_period_s": 2') and TOP_EXTRA (optional:
#       top-level members, e.g. '"auth": {...}'); configuration DIR/C.json,
#       stdout DIR/C.out, log DIR/C.log.  `connector del C` stops it.
connector_daemon() {
    local c=$1 dir=$2 extra=$3 top=${4:-}
    /usr/bin/python3 -c '
import json, os, sys
c = json.load(open(sys.argv[1]))
e = os.environ
c["broker"] = {"url": e["BROKER_BRIDGE_URL"], "address": "/queue/requests", "username": e["BROKER_USER"],
               "password_file": e["BROKER_PASSWORD_FILE"], "sasl_mechanisms": "PLAIN", "reconnect_max_s": 2}
c["broker"].update(json.loads(sys.argv[3]))
c.update(json.loads(sys.argv[4]))
json.dump(c, open(sys.argv[2], "w"), indent=1)' "$ADB_TEST_STATE/connectors/$c/adbridge.json" "$dir/$c.json" "{$extra}" "{$top}" \
        || return 1
    setsid "$ADB_TOP_SRCDIR/samba-testenv/testenv" run --on "$c" -- adbridged --config "$dir/$c.json" --foreground \
        >"$dir/$c.out" 2>"$dir/$c.log" </dev/null &
}

# connectors_cleanup C...: each connector's cuts undone and the connector
# deleted (which stops what runs in it), then the tests' broker stopped.
connectors_cleanup() {
    local c
    for c in "$@"; do
        "$ADB_TOP_SRCDIR/samba-testenv/testenv" connector restore "$c" partner.test >/dev/null 2>&1
        "$ADB_TOP_SRCDIR/samba-testenv/testenv" connector del "$c" >/dev/null 2>&1
    done
    broker_stop
}
