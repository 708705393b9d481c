# Machine-account Kerberos and sealed LDAP (src/ad/krb.c, src/ad/ldap_conn.c)
# against the testenv's DCs, including the failures an admin must be told
# apart: wrong key, unknown account, unreachable KDC, missing keytab.
pw_keytab() {   # pw_keytab FILE PRINCIPAL: a keytab whose key the KDC will not accept
    printf 'addent -password -p %s -k 7 -e aes256-cts-hmac-sha1-96\nnot-the-password\nwkt %s\n' "$2" "$1" \
        | ktutil >/dev/null 2>&1
}
export ADB_TEST_WRONG_KEYTAB=$ADB_TEST_TMP/wrong.keytab ADB_TEST_GHOST_KEYTAB=$ADB_TEST_TMP/ghost.keytab
pw_keytab "$ADB_TEST_WRONG_KEYTAB" "${ADB_TEST_MACHINE}\$@$ADB_TEST_REALM"
pw_keytab "$ADB_TEST_GHOST_KEYTAB" "GHOST\$@$ADB_TEST_REALM"
# A krb5.conf whose KDC for the realm refuses connections at once.
export ADB_TEST_DEAD_KRB5_CONFIG=$ADB_TEST_TMP/dead-krb5.conf
printf '[libdefaults]\n default_realm = %s\n dns_lookup_kdc = false\n udp_preference_limit = 0\n[realms]\n %s = {\n  kdc = 127.0.0.1:1\n }\n' \
    "$ADB_TEST_REALM" "$ADB_TEST_REALM" >"$ADB_TEST_DEAD_KRB5_CONFIG"

# Rotates the connector's machine password (new kvno in the keytab); DC2 gets
# the new keys by replication right away, so later tests may use either KDC.
export ADB_TEST_ROTATE_CMD="'$ADB_TOP_SRCDIR/samba-testenv/testenv' rotate-machine-password >/dev/null"

# TLS: the DCs' CA bundle comes from the testenv; a CA that did not issue
# them (a fresh self-signed one) and a readable file with no certificate.
# Missing pieces are failures (test_ldap then fails on them too), not skips.
export ADB_TEST_WRONG_CA=$ADB_TEST_TMP/wrong-ca.pem ADB_TEST_NOT_A_CA=$ADB_TEST_TMP/not-a-ca.pem
[ -s "${ADB_TEST_DC_CA:-}" ] \
    || echo "not ok - ADB_TEST_DC_CA ('${ADB_TEST_DC_CA:-}') is not a file: rebuild the testenv (testenv down; testenv up)"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$ADB_TEST_NOT_A_CA" -out "$ADB_TEST_WRONG_CA" \
    -days 2 -subj "/CN=Not the AD root CA" >/dev/null 2>&1 \
    || echo "not ok - openssl cannot make the wrong CA for the TLS tests (apt-get install openssl)"

run_tap "$ADB_TOP_BUILDDIR/tests/integration/test_ldap"
