# The Samba test environment is real: DNS, Kerberos, LDAP and the seeded
# dataset answer to ordinary clients (dig, kinit, ldapsearch).
base="DC=adb,DC=test"
dns=$ADB_TEST_DNS

# --- DNS: SRV records of both DCs, both sites, the GC, Kerberos, forest 2
srv() { dig +short +time=2 +tries=1 @"$dns" SRV "$1"; }
check_match "SRV _ldap._tcp.dc._msdcs.adb.test lists dc1" 'dc1\.adb\.test' srv _ldap._tcp.dc._msdcs.adb.test
check_match "SRV _ldap._tcp.dc._msdcs.adb.test lists dc2" 'dc2\.adb\.test' srv _ldap._tcp.dc._msdcs.adb.test
check_match "SRV site Tokyo lists dc1" 'dc1\.adb\.test' srv _ldap._tcp.Tokyo._sites.dc._msdcs.adb.test
check_fail "SRV site Tokyo does not list dc2" '^$' sh -c "dig +short @$dns SRV _ldap._tcp.Tokyo._sites.dc._msdcs.adb.test | grep dc2"
check_match "SRV site Osaka lists dc2" 'dc2\.adb\.test' srv _ldap._tcp.Osaka._sites.dc._msdcs.adb.test
check_match "SRV _gc._tcp.adb.test lists a GC" 'dc[12]\.adb\.test' srv _gc._tcp.adb.test
check_match "SRV _kerberos._tcp.adb.test lists a KDC" 'dc[12]\.adb\.test' srv _kerberos._tcp.adb.test
check_match "SRV _ldap._tcp.dc._msdcs.partner.test lists pdc" 'pdc\.partner\.test' srv _ldap._tcp.dc._msdcs.partner.test
check_match "dc2.adb.test resolves to ADB_TEST_DC2" "^$ADB_TEST_DC2\$" dig +short @"$dns" A dc2.adb.test
check_match "unknown domain is NXDOMAIN" 'status: NXDOMAIN' dig @"$dns" SRV _ldap._tcp.dc._msdcs.nosuch.test

# --- Kerberos and LDAP as the connector's machine account
check "kinit -k with the connector keytab" machine_kinit
check_match "machine TGT in the private cache" "krbtgt/$ADB_TEST_REALM@$ADB_TEST_REALM" klist
check_match "GSSAPI bind is sealed (SSF >= 56)" 'SASL SSF: (5[6-9]|[6-9][0-9]|[1-9][0-9]{2,})' \
    tenv_run ldapsearch -N -Y GSSAPI -H ldap://dc1.adb.test -s base -b "" dnsHostName
check_match "machine account finds seeded user alice on dc1" '^sAMAccountName: alice$' \
    machine_ldapsearch dc1.adb.test -b "$base" '(sAMAccountName=alice)' sAMAccountName
check_match "machine account finds alice on dc2 (replicated)" '^sAMAccountName: alice$' \
    machine_ldapsearch dc2.adb.test -b "$base" '(sAMAccountName=alice)' sAMAccountName

# --- the hard cases of the dataset
big_dn=$(machine_ldapsearch dc1.adb.test -b "$base" '(sAMAccountName=big.group)' dn | sed -n 's/^dn: //p')
n_big=$(machine_ldapsearch dc1.adb.test -E pr=1000/noprompt -b "$base" "(memberOf=$big_dn)" dn | grep -c '^dn:')
check "big.group has at least 5000 members (has $n_big)" test "$n_big" -ge 5000
nested_dn=$(machine_ldapsearch dc1.adb.test -b "$base" '(sAMAccountName=nested.user)' dn | sed -n 's/^dn: //p')
n_nest=$(machine_ldapsearch dc1.adb.test -b "$base" \
    "(&(objectClass=group)(sAMAccountName=nest.L*)(member:1.2.840.113556.1.4.1941:=$nested_dn))" dn | grep -c '^dn:')
check_eq "nested.user is transitively in nest.L1..L8 (IN_CHAIN)" 8 "$n_nest"
check_match "nest.L1 is the top of the chain" 'nest\.L1' machine_ldapsearch dc1.adb.test -b "$base" \
    "(&(sAMAccountName=nest.L1)(member:1.2.840.113556.1.4.1941:=$nested_dn))" sAMAccountName
n_cycle=$(machine_ldapsearch dc1.adb.test -b "$base" '(&(objectClass=group)(sAMAccountName=cycle.*))' dn | grep -c '^dn:')
check_eq "the nesting cycle has three groups" 3 "$n_cycle"
check_match "a name with every DN special character exists" 'Smith, John' \
    machine_ldapsearch dc1.adb.test -b "$base" '(displayName=Smith, John*)' displayName
check_match "Japanese display name round-trips" 'displayName:: ' \
    machine_ldapsearch dc1.adb.test -b "$base" '(displayName=山田 太郎)' displayName

# --- account states, seen by a real Kerberos client (kinit reads the password from stdin)
user_kinit() {
    local user=$1 pw=$2
    KRB5CCNAME="FILE:$ADB_TEST_TMP/user.ccache" tenv_run kinit "$user@$ADB_TEST_REALM" <<<"$pw"
}
pw='Adb.User-Passw0rd'
check "kinit alice with the right password" user_kinit alice "$pw"
# badpw.user never locks out (its own password policy): safe to fail often.
check_fail "kinit badpw.user with a wrong password: password incorrect" 'Password incorrect|Preauthentication failed' user_kinit badpw.user wrong-password
revoked="credentials have been revoked"
check_fail "kinit disabled.user: credentials revoked" "$revoked" user_kinit disabled.user "$pw"
check_fail "kinit locked.user: credentials revoked" "$revoked" user_kinit locked.user "$pw"
check_fail "kinit expired.user: credentials revoked" "$revoked" user_kinit expired.user "$pw"
# kinit says "Password expired.  You must change it now." and then cannot read a new one.
check_fail "kinit mustchange.user: password expired" 'Password expired' user_kinit mustchange.user "$pw"
check_fail "kinit pwexpired.user (older than maxPwdAge): password expired" 'Password expired' user_kinit pwexpired.user "$pw"

# --- the two-way forest trust, as the connector sees it
check_match "dc2 holds a two-way forest trust to partner.test" 'trustDirection: 3' \
    machine_ldapsearch dc2.adb.test -b "CN=System,$base" \
    '(&(objectClass=trustedDomain)(trustPartner=partner.test)(trustType=2)(trustAttributes:1.2.840.113556.1.4.803:=8))' trustDirection
check_match "the machine account reads forest 2 through the trust (cross-realm ticket)" '^dn: DC=partner,DC=test' \
    machine_ldapsearch pdc.partner.test -b DC=partner,DC=test -s base dn
check_match "pdc holds the matching two-way forest trust to adb.test" 'trustDirection: 3' \
    machine_ldapsearch pdc.partner.test -b CN=System,DC=partner,DC=test \
    '(&(objectClass=trustedDomain)(trustPartner=adb.test)(trustType=2)(trustAttributes:1.2.840.113556.1.4.803:=8))' trustDirection
check_match "the cross-realm TGT came from ADB.TEST" "krbtgt/PARTNER.TEST@$ADB_TEST_REALM" klist
