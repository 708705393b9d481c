/* Dropping root for good (see privdrop.h). */
#include "config.h"

#include "privdrop.h"

#include <cap-ng.h>
#include <dirent.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

adb_code adbd_account_lookup(const char *user, adbd_account *out, adb_error *err)
{
    struct passwd pw, *res = NULL;
    char buf[4096];
    int r;

    memset(out, 0, sizeof *out);
    r = getpwnam_r(user, &pw, buf, sizeof buf, &res);
    if (r != 0 || res == NULL)
        return adb_error_set(err, ADB_E_CONFIG,
                             "$.user: no account named '%s'%s%s. Create it: systemd-sysusers (the package installs "
                             "/usr/lib/sysusers.d/adbridge.conf), or useradd --system --user-group --home-dir "
                             "/var/lib/adbridge --shell /usr/sbin/nologin %s",
                             user, r != 0 ? ": " : "", r != 0 ? strerror(r) : "", user);
    if (pw.pw_uid == 0 || pw.pw_gid == 0)
        return adb_error_set(err, ADB_E_CONFIG, "$.user: account '%s' has uid %u gid %u: the daemon must not run "
                             "as root or in group root; use a dedicated account (adbridge)",
                             user, (unsigned)pw.pw_uid, (unsigned)pw.pw_gid);
    out->uid = pw.pw_uid;
    out->gid = pw.pw_gid;
    snprintf(out->name, sizeof out->name, "%s", pw.pw_name);
    return ADB_OK;
}

/* Threads in this process (entries of /proc/self/task); -1 when unknown. */
static int thread_count(void)
{
    DIR *d = opendir("/proc/self/task");
    struct dirent *e;
    int n = 0;

    if (d == NULL)
        return -1;
    while ((e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

adb_code adbd_privdrop(const adbd_account *acct, adb_error *err)
{
    int threads = thread_count(), r;

    if (threads != 1)
        return adb_error_set(err, ADB_E_INTERNAL, "privilege drop: the process has %d threads; capabilities are "
                             "per thread, so the drop must come before any thread starts", threads);
    /* setgroups(user's groups), setresgid, setresuid; then apply an empty
     * capability state and clear the bounding and ambient sets. */
    capng_clear(CAPNG_SELECT_ALL);
    r = capng_change_id((int)acct->uid, (int)acct->gid, CAPNG_INIT_SUPP_GRP | CAPNG_CLEAR_BOUNDING | CAPNG_CLEAR_AMBIENT);
    if (r != 0)
        return adb_error_set(err, ADB_E_INTERNAL, "privilege drop to %s (uid %u gid %u): capng_change_id failed "
                             "(%d: %s)", acct->name, (unsigned)acct->uid, (unsigned)acct->gid, r,
                             r == -4 ? "initgroups" : r == -5 ? "setresgid" : r == -7 ? "setresuid"
                             : r == -3 || r == -8 || r == -9 ? "capability change" : r == -6 ? "clear bounding set"
                             : "see capng_change_id(3)");
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return adb_error_set(err, ADB_E_INTERNAL, "prctl(PR_SET_NO_NEW_PRIVS): %s", strerror(errno));
    return adbd_privdrop_verify(true, err);
}

adb_code adbd_privdrop_verify(bool bounding, adb_error *err)
{
    uid_t ru, eu, su;
    gid_t rg, eg, sg;
    gid_t groups[256];
    int n;

    if (getresuid(&ru, &eu, &su) != 0 || getresgid(&rg, &eg, &sg) != 0)
        return adb_error_set(err, ADB_E_INTERNAL, "getresuid/getresgid: %s", strerror(errno));
    if (ru == 0 || eu == 0 || su == 0 || rg == 0 || eg == 0 || sg == 0)
        return adb_error_set(err, ADB_E_INTERNAL, "still root: uid %u/%u/%u gid %u/%u/%u", (unsigned)ru,
                             (unsigned)eu, (unsigned)su, (unsigned)rg, (unsigned)eg, (unsigned)sg);
    if ((n = getgroups((int)(sizeof groups / sizeof groups[0]), groups)) < 0)
        return adb_error_set(err, ADB_E_INTERNAL, "getgroups: %s", strerror(errno));
    for (int i = 0; i < n; i++)
        if (groups[i] == 0)
            return adb_error_set(err, ADB_E_INTERNAL, "still in supplementary group root (gid 0)");
    /* The proof: asking for root back must fail. */
    if (setuid(0) == 0 || seteuid(0) == 0 || setgid(0) == 0)
        return adb_error_set(err, ADB_E_INTERNAL, "the process could become root again");
    capng_clear(CAPNG_SELECT_ALL);
    if (capng_get_caps_process() != 0)
        return adb_error_set(err, ADB_E_INTERNAL, "cannot read the process capabilities: %s", strerror(errno));
    if (capng_have_capabilities(CAPNG_SELECT_CAPS) != CAPNG_NONE)
        return adb_error_set(err, ADB_E_INTERNAL, "capabilities remain in the effective/permitted/inheritable sets");
    if (capng_have_capabilities(CAPNG_SELECT_AMBIENT) != CAPNG_NONE)
        return adb_error_set(err, ADB_E_INTERNAL, "capabilities remain in the ambient set");
    if (bounding && capng_have_capabilities(CAPNG_SELECT_BOUNDS) != CAPNG_NONE)
        return adb_error_set(err, ADB_E_INTERNAL, "capabilities remain in the bounding set");
    if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1)
        return adb_error_set(err, ADB_E_INTERNAL, "PR_SET_NO_NEW_PRIVS is not set");
    return ADB_OK;
}

adb_code adbd_privdrop_unprivileged(adb_error *err)
{
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return adb_error_set(err, ADB_E_INTERNAL, "prctl(PR_SET_NO_NEW_PRIVS): %s", strerror(errno));
    return adbd_privdrop_verify(false, err);
}
