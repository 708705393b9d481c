#!/usr/bin/python3
"""seed.py -- the dataset of adbridge's Samba AD test environment.

Writes the test objects straight into a provisioned DC's sam.ldb while no samba
runs ("offline"), through Samba's own module stack (samba.samdb.SamDB with the
system session), so every object gets the SIDs, GUIDs, backlinks and
replication metadata that a DC would give it; DC2 then receives it all when it
joins. A forest's dataset is one transaction: a failure leaves the database as
it was, and a second run finds the marker and does nothing. The opt-in large
set (--large: 100,000 users in partner.test) has a marker of its own and
commits every LARGE_CHUNK users, its marker last.

  /usr/bin/python3 seed.py offline --forest partner --smbconf PDC_SMB_CONF
  /usr/bin/python3 seed.py offline --forest adb --smbconf DC1_SMB_CONF \
      --partner-smbconf PDC_SMB_CONF
  /usr/bin/python3 seed.py offline --forest partner --large --smbconf PDC_SMB_CONF

The partner forest must be seeded first: the adb dataset refers to its users'
SIDs (foreign security principals); `seed.py sids --smbconf PDC_SMB_CONF`
prints them. Run with /usr/bin/python3 (the samba bindings). See
samba-testenv/README.md (Dataset) for what the objects are for.
"""

import argparse
import os
import subprocess
import sys
import time

import ldb
from samba import dsdb
from samba.auth import system_session
from samba.dcerpc import security
from samba.ndr import ndr_pack, ndr_unpack
from samba.param import LoadParm
from samba.samdb import SamDB

DATASET_VERSION = 1
LARGE_VERSION = 1                        # the opt-in large set (--large); its own marker
USER_PASSWORD = 'Adb.User-Passw0rd'
BULK_USERS = 5000
LARGE_USERS = 100000
LARGE_CHUNK = 5000                       # users per transaction in the large set

# userAccountControl bits
UF_ACCOUNTDISABLE = 0x2
UF_NORMAL_ACCOUNT = 0x200
UF_WORKSTATION_TRUST_ACCOUNT = 0x1000
UF_DONT_EXPIRE_PASSWD = 0x10000

# groupType values: scope | security bit
GT_GLOBAL, GT_DOMAIN_LOCAL, GT_UNIVERSAL = 0x2, 0x4, 0x8
GT_SECURITY = -0x80000000

# Lets us store a given NT hash and any pwdLastSet (the password_hash module
# otherwise derives both itself and allows pwdLastSet only 0 or -1).
BYPASS_PASSWORD_HASH = 'local_oid:%s:0' % dsdb.DSDB_CONTROL_BYPASS_PASSWORD_HASH_OID

NT_EPOCH_OFFSET = 11644473600           # seconds from 1601-01-01 to 1970-01-01
TICKS = 10 ** 7                          # 100 ns units per second
MINUTE, DAY = 60 * TICKS, 86400 * TICKS


def nt_time(unix_seconds):
    return int((unix_seconds + NT_EPOCH_OFFSET) * TICKS)


def utf16_password(password):
    """unicodePwd's wire form: the quoted password in UTF-16LE."""
    return ('"%s"' % password).encode('utf-16-le')


class Fail(Exception):
    """An error the admin can act on; printed without a traceback."""


def open_samdb(smbconf, check_running=True):
    if not os.path.isfile(smbconf):
        raise Fail('no smb.conf at %s' % smbconf)
    lp = LoadParm()
    lp.load(smbconf)
    if check_running:
        refuse_if_running(lp, smbconf)
    url = lp.samdb_url()
    if not os.path.exists(url.split('://', 1)[-1]):
        raise Fail('%s: no sam.ldb at %s (is the DC provisioned?)' % (smbconf, url))
    try:
        # batch_mode: no sub-transaction per operation (any failure cancels
        # the whole transaction anyway); without it every add copies the
        # growing index lists and 5,000 users take 30 s instead of a few.
        return SamDB(url=url, session_info=system_session(), lp=lp, options=['batch_mode:1'])
    except ldb.LdbError as e:
        raise Fail('cannot open %s: %s' % (url, e.args[-1]))


def refuse_if_running(lp, smbconf):
    """Offline means offline: a running samba would not see our writes coherently."""
    pidfile = os.path.join(lp.get('pid directory') or '', 'samba.pid')
    try:
        with open(pidfile) as f:
            pid = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return
    try:
        with open('/proc/%d/cmdline' % pid, 'rb') as f:
            alive = b'samba' in f.read()
    except OSError:
        alive = False                             # a stale pid file
    if alive:
        raise Fail('samba of %s is running (pid %d, %s); stop it before seeding offline'
                   % (smbconf, pid, pidfile))


class Seeder:
    def __init__(self, samdb, domain, ou_name, what='test dataset', version=DATASET_VERSION):
        self.db = samdb
        self.domain = domain                      # DNS name, for UPN and mail
        self.base = samdb.domain_dn()
        self.top = self.dn('OU=%s,%s' % (ou_name, self.base))
        self.label = 'adbridge %s v%d (samba-testenv/seed.py)' % (what, version)
        self.counts = {}
        self.by_sam = {}                          # sAMAccountName -> ldb.Dn
        self.domain_sid = str(samdb.get_domain_sid())

    def dn(self, text):
        return ldb.Dn(self.db, text)

    def child(self, parent, rdn_value, attr='CN'):
        """parent + one RDN whose value may hold any DN special character."""
        d = self.dn('%s=x,%s' % (attr, parent))
        d.set_component(0, attr, rdn_value)
        return d

    def count(self, kind):
        self.counts[kind] = self.counts.get(kind, 0) + 1

    def marker(self):
        return self.label

    def already_seeded(self):
        """True when our OU exists and carries this version's marker."""
        try:
            res = self.db.search(base=self.top, scope=ldb.SCOPE_BASE, attrs=['description'])
        except ldb.LdbError as e:
            if e.args[0] == ldb.ERR_NO_SUCH_OBJECT:
                return False
            raise
        desc = [str(v) for v in res[0].get('description', [])]
        if self.marker() in desc:
            return True
        raise Fail('%s exists but is not marked "%s" (found %r): an earlier run stopped part-way, '
                   'or the dataset differs from this seed.py; re-provision the DC'
                   % (self.top, self.marker(), desc))

    def add(self, msg, controls=None, kind=None):
        try:
            self.db.add(msg, controls=controls or [])
        except ldb.LdbError as e:
            raise Fail('adding %s failed: %s' % (msg['dn'], e.args[-1]))
        if kind:
            self.count(kind)

    def modify(self, dn, attrs, controls=None, flag=ldb.FLAG_MOD_REPLACE):
        m = ldb.Message(dn)
        for name, values in attrs.items():
            m[name] = ldb.MessageElement(values, flag, name)
        try:
            self.db.modify(m, controls=controls or [])
        except ldb.LdbError as e:
            raise Fail('modifying %s (%s) failed: %s' % (dn, ', '.join(attrs), e.args[-1]))

    def ou(self, parent, name, description=None):
        d = self.child(parent, name, 'OU')
        msg = {'dn': d, 'objectClass': 'organizationalUnit'}
        if description:
            msg['description'] = description
        self.add(msg, kind='organizational units')
        return d

    def user(self, parent, sam, cn=None, given=None, sn=None, display=None, password=True,
             uac=UF_NORMAL_ACCOUNT, extra=None, rid=None):
        """A user. password=True: the real test password (slow: key derivation);
        False: enabled, with a random NT hash nobody knows (fast, no logon possible).
        rid: a RID from reserve_rids() (else samldb allocates one)."""
        d = self.child(parent, cn or sam)
        msg = {
            'dn': d,
            'objectClass': 'user',
            'sAMAccountName': sam,
            'userPrincipalName': '%s@%s' % (sam, self.domain),
            'mail': '%s@%s' % (sam, self.domain),
            'userAccountControl': str(uac),
        }
        for attr, value in (('givenName', given), ('sn', sn), ('displayName', display)):
            if value:
                msg[attr] = value
        msg.update(extra or {})
        if rid is not None:
            msg['objectSid'] = ndr_pack(security.dom_sid('%s-%d' % (self.domain_sid, rid)))
        controls = []
        if password:
            msg['unicodePwd'] = utf16_password(USER_PASSWORD)
        else:
            msg['unicodePwd'] = os.urandom(16)
            msg['pwdLastSet'] = str(self.now)
            controls = [BYPASS_PASSWORD_HASH]
        self.add(msg, controls, kind='users with password' if password else 'users without usable password')
        self.by_sam[sam] = d
        return d

    def reserve_rids(self, n):
        """Take n RIDs from the domain's pool, as the RID master hands out a
        DC's pool: nobody else will ever get them. Giving objects their SID
        spares samldb a RID Set update per object (half the time of an add)."""
        mgr = self.dn('CN=RID Manager$,CN=System,%s' % self.base)
        res = self.db.search(base=mgr, scope=ldb.SCOPE_BASE, attrs=['rIDAvailablePool'])
        pool = int(res[0]['rIDAvailablePool'][0])
        first, last = pool & 0xffffffff, pool >> 32
        if first + n > last:
            raise Fail('the RID pool of %s has no %d RIDs left (%d-%d)' % (self.domain, n, first, last))
        self.modify(mgr, {'rIDAvailablePool': str((last << 32) | (first + n))})
        return first

    def group(self, parent, sam, group_type, members=(), cn=None, description=None):
        d = self.child(parent, cn or sam)
        msg = {'dn': d, 'objectClass': 'group', 'sAMAccountName': sam,
               'groupType': str(group_type)}
        if members:
            msg['member'] = [str(m) for m in members]
        if description:
            msg['description'] = description
        self.add(msg, kind='groups')
        self.by_sam[sam] = d
        return d

    def checkpoint(self):
        """Commit what is there and go on in a new transaction. Samba's
        index cache grows with every add of one transaction (1.6x the time
        for 30,000 users in one); a run that stops between checkpoints
        leaves the top OU without its marker, which the next run reports."""
        self.db.transaction_commit()
        self.db.transaction_start()

    def add_members(self, group, members):
        self.modify(group, {'member': [str(m) for m in members]}, flag=ldb.FLAG_MOD_ADD)

    def run(self, fill):
        self.now = nt_time(time.time())
        self.db.transaction_start()
        try:
            if self.already_seeded():
                self.db.transaction_cancel()
                return False
            # The marker last: a top OU without it is a run that did not finish.
            top = self.ou(self.base, self.top.get_rdn_value())
            fill(self, top)
            self.modify(top, {'description': self.marker()})
            self.db.transaction_commit()
        except BaseException:
            self.db.transaction_cancel()
            raise
        return True


# ---------------------------------------------------------------------------
# forest partner.test

def fill_partner(s, top):
    users, groups = s.ou(top, 'Users'), s.ou(top, 'Groups')
    pat = s.user(users, 'pat.partner', 'Pat Partner', 'Pat', 'Partner', 'Pat Partner',
                 extra={'department': 'Partner Relations', 'title': 'Liaison'})
    pia = s.user(users, 'pia.partner', 'Pia Partner', 'Pia', 'Partner', 'Pia Partner',
                 extra={'department': 'Partner Relations', 'title': 'Engineer'})
    s.group(groups, 'partner.staff', GT_GLOBAL | GT_SECURITY, [pat, pia],
            description='partner forest staff; an FSP member of ADB partner.members')


def fill_large(s, top):
    """The opt-in scale set (testenv up --large): LARGE_USERS users and one
    group of all of them, in the partner forest, whose single DC has no
    replica partner that would have to receive them."""
    users, groups = s.ou(top, 'Users'), s.ou(top, 'Groups')
    rid0 = s.reserve_rids(LARGE_USERS)
    dns = []
    for i in range(1, LARGE_USERS + 1):
        dns.append(s.user(users, 'large.%06d' % i, None, 'Large', '%06d' % i, 'Large User %06d' % i,
                          password=False, rid=rid0 + i - 1))
        if i % LARGE_CHUNK == 0:
            s.checkpoint()
    s.group(groups, 'large.group', GT_GLOBAL | GT_SECURITY, dns,
            description='large.000001 .. large.%06d' % LARGE_USERS)
    res = s.db.search(base=s.by_sam['large.group'], scope=ldb.SCOPE_BASE, attrs=['member'])
    if len(res[0]['member']) != LARGE_USERS:
        raise Fail('self-check: large.group has %d members, expected %d'
                   % (len(res[0]['member']), LARGE_USERS))


# ---------------------------------------------------------------------------
# forest adb.test

def set_domain_policy(s):
    # Lockout after 5 bad passwords within 30 min, for 120 min; passwords live 42 days.
    s.modify(s.dn(s.base), {
        'lockoutThreshold': '5',
        'lockOutObservationWindow': str(-30 * MINUTE),
        'lockoutDuration': str(-120 * MINUTE),
        'maxPwdAge': str(-42 * DAY),
    })


def pso(s, name, precedence, lockout_threshold, lockout_duration, applies_to):
    """A fine-grained password policy (msDS-PasswordSettings) for some users;
    everything but the lockout settings as in the domain policy."""
    d = s.dn('CN=%s,CN=Password Settings Container,CN=System,%s' % (name, s.base))
    s.add({
        'dn': d,
        'objectClass': 'msDS-PasswordSettings',
        'msDS-PasswordSettingsPrecedence': str(precedence),
        'msDS-PasswordReversibleEncryptionEnabled': 'FALSE',
        'msDS-PasswordHistoryLength': '24',
        'msDS-PasswordComplexityEnabled': 'TRUE',
        'msDS-MinimumPasswordLength': '7',
        'msDS-MinimumPasswordAge': '0',
        'msDS-MaximumPasswordAge': str(-42 * DAY),
        'msDS-LockoutThreshold': str(lockout_threshold),
        'msDS-LockoutObservationWindow': str(-30 * MINUTE),
        'msDS-LockoutDuration': str(lockout_duration),
        'msDS-PSOAppliesTo': [str(a) for a in applies_to],
    }, kind='password settings objects')


def fill_adb(partner_sids):
    def fill(s, top):
        set_domain_policy(s)
        users = s.ou(top, 'Users')
        groups = s.ou(top, 'Groups')
        bulk = s.ou(top, 'Bulk', 'bulk.00001 .. bulk.%05d, members of big.group' % BULK_USERS)
        contacts = s.ou(top, 'Contacts')
        computers = s.ou(top, 'Computers')
        u = s.user

        # ordinary people with an org chart (manager / directReports)
        carol = u(users, 'carol', 'Carol Chen', 'Carol', 'Chen', 'Carol Chen',
                  extra={'department': 'Engineering', 'title': 'Director of Engineering',
                         'telephoneNumber': '+81 3 5555 0103', 'physicalDeliveryOfficeName': 'Tokyo',
                         'company': 'ADB Test', 'employeeID': '1003'})
        alice = u(users, 'alice', 'Alice Anderson', 'Alice', 'Anderson', 'Alice Anderson',
                  extra={'department': 'Engineering', 'title': 'Senior Engineer', 'manager': str(carol),
                         'telephoneNumber': '+81 3 5555 0101', 'physicalDeliveryOfficeName': 'Tokyo',
                         'company': 'ADB Test', 'employeeID': '1001',
                         'description': 'member of many groups'})
        bob = u(users, 'bob', 'Bob Brown', 'Bob', 'Brown', 'Bob Brown',
                extra={'department': 'Engineering', 'title': 'Engineer', 'manager': str(carol),
                       'telephoneNumber': '+81 6 5555 0102', 'physicalDeliveryOfficeName': 'Osaka',
                       'company': 'ADB Test', 'employeeID': '1002'})
        dave = u(users, 'dave', 'Dave Davis', 'Dave', 'Davis', 'Dave Davis',
                 extra={'department': 'Sales', 'title': 'Account Manager', 'manager': str(alice),
                        'telephoneNumber': '+81 6 5555 0104', 'physicalDeliveryOfficeName': 'Osaka',
                        'company': 'ADB Test', 'employeeID': '1004'})

        # account states, as the KDC reports them to kinit
        def state_user(sam, given, sn, **kw):
            return u(users, sam, '%s %s' % (given, sn), given, sn, '%s %s' % (given, sn), **kw)
        state_user('disabled.user', 'Disabled', 'User', uac=UF_NORMAL_ACCOUNT | UF_ACCOUNTDISABLE)
        locked = state_user('locked.user', 'Locked', 'User',
                            extra={'description': 'locked out until an administrator unlocks it '
                                                  '(PSO AdbTest Locked Until Unlocked)'})
        mustchange = state_user('mustchange.user', 'Mustchange', 'User')
        state_user('expired.user', 'Expired', 'User',
                   extra={'accountExpires': str(nt_time(time.time() - 30 * 86400))})
        pwexpired = state_user('pwexpired.user', 'Pwexpired', 'User')
        noexpire = state_user('noexpire.user', 'Noexpire', 'User',
                              uac=UF_NORMAL_ACCOUNT | UF_DONT_EXPIRE_PASSWD)
        badpw = state_user('badpw.user', 'Badpw', 'User',
                           extra={'description': 'never locks out (PSO AdbTest No Lockout): '
                                                 'for wrong-password tests'})
        # testenv locks it out once the DC runs, with real wrong passwords at
        # the KDC (step seed-online). Its own policy's lockout duration 0
        # means "until an administrator unlocks it" (Samba, like AD), so it
        # stays locked however long the environment runs; the domain's
        # 120 min would unlock it 2 h after `testenv up`.
        pso(s, 'AdbTest Locked Until Unlocked', 10, 5, 0, [locked])
        # No lockout at all: wrong-password tests may run as often as they like.
        pso(s, 'AdbTest No Lockout', 20, 0, -120 * MINUTE, [badpw])
        s.modify(mustchange, {'pwdLastSet': '0'})
        sixty_days_ago = str(s.now - 60 * DAY)    # older than maxPwdAge (42 days)
        s.modify(pwexpired, {'pwdLastSet': sixty_days_ago}, [BYPASS_PASSWORD_HASH])
        s.modify(noexpire, {'pwdLastSet': sixty_days_ago}, [BYPASS_PASSWORD_HASH])

        # names that need escaping (DN specials, filter specials, non-ASCII)
        smith = u(users, 'smith.john', 'Smith, John (Sales) *VIP*', 'John', 'Smith',
                  'Smith, John (Sales) *VIP*', extra={'department': 'Sales (EMEA), *key* accounts'})
        obrien = u(users, 'obrien.pat', 'O"Brien; Pat <Ops> #1 + Co = A\\B', 'Pat', 'O"Brien',
                   'O"Brien; Pat <Ops> #1 + Co = A\\B', extra={'department': 'Ops'})
        lead = u(users, 'lead.space', ' #Lead Space ', 'Lead', 'Space', ' #Lead Space ',
                 extra={'description': 'CN with a leading space, a leading # and a trailing space'})
        yamada = u(users, 'yamada.taro', '山田 太郎', '太郎', '山田', '山田 太郎',
                   extra={'department': '営業部', 'title': '課長'})
        jose = u(users, 'jose.muller', 'José Müller', 'José', 'Müller', 'José Müller',
                 extra={'department': 'Forschung & Entwicklung'})

        nested = u(users, 'nested.user', 'Nested User', 'Nested', 'User', 'Nested User')
        cycle_user = u(users, 'cycle.user', 'Cycle User', 'Cycle', 'User', 'Cycle User')

        # all six type x scope combinations
        g = s.group
        sec, dist = GT_SECURITY, 0
        gsec = g(groups, 'grp.global.sec', GT_GLOBAL | sec, [alice, bob])
        g(groups, 'grp.domlocal.sec', GT_DOMAIN_LOCAL | sec, [alice, carol, gsec])
        g(groups, 'grp.universal.sec', GT_UNIVERSAL | sec, [alice, dave, gsec])
        g(groups, 'grp.global.dist', GT_GLOBAL | dist, [bob, carol])
        g(groups, 'grp.domlocal.dist', GT_DOMAIN_LOCAL | dist, [alice, dave])
        g(groups, 'grp.universal.dist', GT_UNIVERSAL | dist, [carol, dave, smith])
        g(groups, 'sales.emea', GT_GLOBAL | sec, [smith, obrien, lead, yamada, jose],
          cn='Sales, EMEA (All) #1', description='group DN and member DNs that need escaping')

        # nest.L1 > nest.L2 > ... > nest.L8 > nested.user
        below = nested
        for level in range(8, 0, -1):
            below = g(groups, 'nest.L%d' % level, GT_GLOBAL | sec, [below])

        # cycle.A > cycle.B > cycle.C > cycle.A, cycle.user in cycle.C
        c = g(groups, 'cycle.C', GT_GLOBAL | sec, [cycle_user])
        b = g(groups, 'cycle.B', GT_GLOBAL | sec, [c])
        a = g(groups, 'cycle.A', GT_GLOBAL | sec, [b])
        s.add_members(c, [a])

        # big.group: more members than MaxValRange (1500)
        rid0 = s.reserve_rids(BULK_USERS)
        bulk_dns = [u(bulk, 'bulk.%05d' % i, None, 'Bulk', '%05d' % i, 'Bulk User %05d' % i,
                      password=False, rid=rid0 + i - 1) for i in range(1, BULK_USERS + 1)]
        g(groups, 'big.group', GT_GLOBAL | sec, bulk_dns,
          description='%d members, more than MaxValRange (1500)' % BULK_USERS)

        # Foreign security principals of partner.test in a domain-local group.
        # A member given as <SID=...> that is no object here makes Samba create
        # CN=<SID>,CN=ForeignSecurityPrincipals itself, as AD does. (Adding
        # the FSP object directly is refused, "foreignSecurityPrincipal object
        # not allowed", unless with the as_system or provision control.)
        g(groups, 'partner.members', GT_DOMAIN_LOCAL | sec,
          ['<SID=%s>' % sid for _, sid in partner_sids],
          description='members from forest partner.test: pat.partner, pia.partner, partner.staff')
        for name, sid in partner_sids:
            fsp = s.dn('CN=%s,CN=ForeignSecurityPrincipals,%s' % (sid, s.base))
            s.modify(fsp, {'description': 'partner.test %s' % name})
            s.count('foreign security principals')

        # objects that are not users
        s.add({'dn': s.child(contacts, 'Ext Contact (Vendor)'), 'objectClass': 'contact',
               'givenName': 'Ext', 'sn': 'Contact', 'displayName': 'Ext Contact (Vendor)',
               'mail': 'ext.contact@vendor.example'}, kind='contacts')
        s.add({'dn': s.child(computers, 'WKS-01'), 'objectClass': 'computer',
               'sAMAccountName': 'WKS-01$', 'userAccountControl': str(UF_WORKSTATION_TRUST_ACCOUNT),
               'dNSHostName': 'wks-01.%s' % s.domain, 'unicodePwd': os.urandom(16),
               'pwdLastSet': str(s.now), 'operatingSystem': 'Debian GNU/Linux'},
              [BYPASS_PASSWORD_HASH], kind='computers')
        verify_adb(s, nested, cycle_user)
    return fill


def verify_adb(s, nested, cycle_user):
    """Read back what the tests rely on, before the transaction commits."""
    def count(expression, base=None):
        return len(s.db.search(base=base or s.top, scope=ldb.SCOPE_SUBTREE,
                               expression=expression, attrs=['dn']))

    def expect(what, got, want):
        if got != want:
            raise Fail('self-check: %s is %r, expected %r' % (what, got, want))

    person = 'CN=Person,%s' % s.db.get_schema_basedn()
    res = s.db.search(base=nested, scope=ldb.SCOPE_BASE, attrs=['objectCategory'])
    expect('objectCategory of nested.user', str(res[0]['objectCategory'][0]), person)
    res = s.db.search(base=s.by_sam['big.group'], scope=ldb.SCOPE_BASE, attrs=['member'])
    expect('number of members of big.group', len(res[0]['member']), BULK_USERS)
    expect('users in OU=Bulk', count('(objectCategory=%s)' % person, s.dn('OU=Bulk,%s' % s.top)),
           BULK_USERS)
    in_chain = '(&(objectClass=group)(sAMAccountName=%s)(member:1.2.840.113556.1.4.1941:=%s))'
    expect('nest.L* groups of nested.user (IN_CHAIN)', count(in_chain % ('nest.L*', nested)), 8)
    expect('cycle.* groups of cycle.user (IN_CHAIN)', count(in_chain % ('cycle.*', cycle_user)), 3)
    expect('FSP members of partner.members',
           len(s.db.search(base=s.by_sam['partner.members'], scope=ldb.SCOPE_BASE,
                           attrs=['member'])[0]['member']), 3)


def partner_principals(smbconf):
    """(name, SID) of the partner objects that become FSPs in adb.test, and
    the partner domain SID. Read in a child process: samba keeps the first
    schema it loads for the whole process, so opening the partner's sam.ldb
    here would make adb's objects point into the partner's schema."""
    cmd = [sys.executable, os.path.abspath(__file__), 'sids', '--smbconf', smbconf]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120)
    if proc.returncode != 0:
        raise Fail('reading the partner SIDs failed: %s'
                   % (proc.stderr.strip() or 'exit %d' % proc.returncode))
    pairs = [line.split() for line in proc.stdout.splitlines() if line.strip()]
    sids = dict(pairs)
    return [(name, sids[name]) for name in PARTNER_PRINCIPALS], sids['domain']


PARTNER_PRINCIPALS = ('pat.partner', 'pia.partner', 'partner.staff')


def print_sids(args):
    """seed.py sids --smbconf PDC_SMB_CONF: "name SID" of the partner principals."""
    db = open_samdb(args.smbconf, check_running=False)
    print('domain %s' % db.get_domain_sid())
    for sam in PARTNER_PRINCIPALS:
        res = db.search(base=db.domain_dn(), scope=ldb.SCOPE_SUBTREE,
                        expression='(sAMAccountName=%s)' % ldb.binary_encode(sam), attrs=['objectSid'])
        if len(res) != 1:
            raise Fail('%s not found in the database of %s: seed the partner forest first '
                       '(seed.py offline --forest partner --smbconf %s)' % (sam, args.smbconf, args.smbconf))
        print('%s %s' % (sam, ndr_unpack(security.dom_sid, res[0]['objectSid'][0])))


FORESTS = {
    # forest: (DNS domain, top OU)
    'adb': ('adb.test', 'AdbTest'),
    'partner': ('partner.test', 'PartnerTest'),
}
LARGE_OU = 'AdbLarge'


def offline(args):
    t0 = time.time()
    domain, ou = FORESTS[args.forest]
    if args.large and args.forest != 'partner':
        raise Fail('--large goes into the partner forest (one DC: nothing replicates it)')
    if args.forest == 'adb':
        if not args.partner_smbconf:
            raise Fail('--forest adb needs --partner-smbconf (the partner DC\'s smb.conf, for its SIDs)')
        partner_sids, partner_domain_sid = partner_principals(args.partner_smbconf)
        if args.partner_sid and args.partner_sid != partner_domain_sid:
            raise Fail('--partner-sid %s differs from the domain SID %s in %s'
                       % (args.partner_sid, partner_domain_sid, args.partner_smbconf))
        fill = fill_adb(partner_sids)
    else:
        fill = fill_partner
    db = open_samdb(args.smbconf)
    got = db.domain_dns_name().lower()
    if got != domain:
        raise Fail('%s is the DC of %s, not of %s (--forest %s)' % (args.smbconf, got, domain, args.forest))
    if args.large:
        s = Seeder(db, domain, LARGE_OU, 'large dataset', LARGE_VERSION)
        fill = fill_large
    else:
        s = Seeder(db, domain, ou)
    if not s.run(fill):
        print('seed: %s: already seeded (%s); nothing to do (%.1f s)' % (domain, s.top, time.time() - t0))
        return
    total = sum(s.counts.values())
    detail = ', '.join('%d %s' % (n, k) for k, n in sorted(s.counts.items()))
    print('seed: %s: %d objects (%s) in %.1f s' % (domain, total, detail, time.time() - t0))


def main():
    p = argparse.ArgumentParser(description='Seed the adbridge test dataset into a stopped DC.')
    sub = p.add_subparsers(dest='mode', required=True)
    o = sub.add_parser('offline', help='write into sam.ldb while samba is not running')
    o.add_argument('--forest', choices=sorted(FORESTS), required=True)
    o.add_argument('--smbconf', required=True, help='smb.conf of the DC to seed')
    o.add_argument('--partner-smbconf', help='smb.conf of the partner DC (adb only; seeded first)')
    o.add_argument('--partner-sid', help='optional: the partner domain SID, checked against the partner DB')
    o.add_argument('--large', action='store_true',
                   help='seed only the large set (%d users, one group of them; partner only)' % LARGE_USERS)
    i = sub.add_parser('sids', help='print the SIDs of the partner principals (read only)')
    i.add_argument('--smbconf', required=True, help='smb.conf of the partner DC')
    args = p.parse_args()
    try:
        if args.mode == 'offline':
            offline(args)
        else:
            print_sids(args)
    except Fail as e:
        print('seed: error: %s' % e, file=sys.stderr)
        sys.exit(1)


if __name__ == '__main__':
    main()
