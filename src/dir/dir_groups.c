/* A user's groups: adb_dir_groups_of (see include/adbridge/directory.h).
 *
 * tokenGroups gives the transitive closure within the user's forest,
 * primary group included, in one read; its SIDs are resolved in batches.
 * Groups of other forests that hold the user or one of its groups through
 * foreign security principals are found through each enabled domain's FSPs
 * (read whole and cached, dir_fsp.c), then the groups that contain those,
 * until nothing new turns up.  The answer is cached whole. */
#include "config.h"

#include "dir_internal.h"

#include <adbridge/filter.h>
#include <adbridge/strmap.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* SIDs, each once. */
typedef struct sid_collect {
    adb_sid *v;
    size_t n, cap;
} sid_collect;

static void sids_reset(void *arg)
{
    sid_collect *s = arg;

    free(s->v);
    memset(s, 0, sizeof *s);
}

static adb_code sids_add(sid_collect *s, const adb_sid *sid, adb_error *err)
{
    for (size_t i = 0; i < s->n; i++)
        if (adb_sid_equal(&s->v[i], sid))
            return ADB_OK;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 32;
        adb_sid *grown = realloc(s->v, cap * sizeof *grown);
        if (grown == NULL)
            return adb_error_set(err, ADB_E_NOMEM, "out of memory");
        s->v = grown;
        s->cap = cap;
    }
    s->v[s->n++] = *sid;
    return ADB_OK;
}

static adb_code on_token_groups(const adb_ldap_entry *e, void *arg, adb_error *err)
{
    struct berval **v = adb_ldap_entry_values(e, "tokenGroups");
    adb_code rc = ADB_OK;

    for (size_t i = 0; rc == ADB_OK && v != NULL && v[i] != NULL; i++) {
        adb_sid sid;
        if ((rc = adb_sid_decode(v[i]->bv_val, v[i]->bv_len, &sid, err)) == ADB_OK)
            rc = sids_add(arg, &sid, err);
    }
    return rc;
}

/* Groups of domain td that contain any of dns, directly or through other
 * groups of td (breadth first, one OR search per batch and level). */
static adb_code groups_containing(adb_dir *d, const adb_topo_domain *td, const dir_items *dns, adb_object_list *out,
                                  adb_error *err)
{
    adb_strmap seen = { 0 };
    dir_items frontier = { 0 };
    adb_code rc = ADB_OK;

    for (size_t i = 0; rc == ADB_OK && i < dns->n; i++)
        rc = dir_items_add(&frontier, strdup(dns->v[i]), err);
    while (rc == ADB_OK && frontier.n > 0) {
        dir_items terms = { 0 }, next = { 0 };
        adb_object_list found = { 0 };
        for (size_t i = 0; rc == ADB_OK && i < frontier.n; i++) {
            char *item = NULL;
            if ((rc = adb_filter_build(&item, err, "(member=%v)", frontier.v[i])) == ADB_OK)
                rc = dir_items_add(&terms, item, err);
        }
        if (rc == ADB_OK)
            rc = dir_search_batches(d, td, &terms, "(objectClass=group)", &found, err);
        for (size_t i = 0; rc == ADB_OK && i < found.n; i++) {
            char key[DIR_KEY_MAX];
            int added;
            dir_member_key(key, sizeof key, found.items[i]);
            if ((added = adb_strmap_put(&seen, key, NULL)) < 0)
                rc = adb_error_set(err, ADB_E_NOMEM, "out of memory");
            else if (added > 0 && (rc = adb_object_list_add(out, found.items[i], err)) == ADB_OK)
                rc = dir_items_add(&next, strdup(found.items[i]->dn), err);
        }
        adb_object_list_clear(&found);
        dir_items_clear(&terms);
        dir_items_clear(&frontier);
        frontier = next;
    }
    dir_items_clear(&frontier);
    adb_strmap_clear(&seen);
    return rc;
}

static const char *forest_of_sid(const adb_topology *t, const adb_sid *sid)
{
    const adb_topo_domain *td = adb_topology_domain_of_sid(t, sid);
    return td != NULL ? td->forest : NULL;
}

/* Groups of other forests that hold any of sids through foreign security
 * principals (each domain's FSPs by SID: dir_fsp.c), repeated until nothing
 * new turns up (a partner group can hold one of ours, which can hold ...). */
static adb_code foreign_groups(adb_dir *d, const adb_topology *t, sid_collect *sids, adb_strmap *have,
                               adb_object_list *out, adb_error *err)
{
    adb_strmap checked = { 0 };
    bool grew = true;
    adb_code rc = ADB_OK;

    while (rc == ADB_OK && grew) {
        grew = false;
        for (size_t i = 0; rc == ADB_OK && i < t->n_domains; i++) {
            const adb_topo_domain *td = &t->domains[i];
            dir_items fsps = { 0 };
            sid_collect want = { 0 };
            adb_object_list groups = { 0 };
            if (!dir_usable(d, td))
                continue;
            for (size_t s = 0; rc == ADB_OK && s < sids->n; s++) {
                const char *forest = forest_of_sid(t, &sids->v[s]);
                char key[DIR_KEY_MAX], text[ADB_SID_STRING_MAX];
                if (dir_sid_is_builtin(&sids->v[s])
                    || (forest != NULL && td->forest != NULL && strcasecmp(forest, td->forest) == 0))
                    continue;   /* same forest: tokenGroups covered it */
                adb_sid_format(&sids->v[s], text, sizeof text, NULL);
                snprintf(key, sizeof key, "%s|%s", td->dns, text);
                if (adb_strmap_put(&checked, key, NULL) > 0)
                    rc = sids_add(&want, &sids->v[s], err);
            }
            if (rc == ADB_OK)
                rc = dir_fsp_find(d, td, want.v, want.n, &fsps, err);
            sids_reset(&want);
            if (rc == ADB_OK && fsps.n > 0)
                rc = groups_containing(d, td, &fsps, &groups, err);
            for (size_t g = 0; rc == ADB_OK && g < groups.n; g++) {
                char key[DIR_KEY_MAX];
                dir_member_key(key, sizeof key, groups.items[g]);
                if (adb_strmap_put(have, key, NULL) > 0) {
                    if ((rc = adb_object_list_add(out, groups.items[g], err)) == ADB_OK && groups.items[g]->has_sid)
                        rc = sids_add(sids, &groups.items[g]->sid, err);
                    grew = true;
                }
            }
            adb_object_list_clear(&groups);
            dir_items_clear(&fsps);
        }
    }
    adb_strmap_clear(&checked);
    return rc;
}

/* One half of groups-of's second step (dir_parallel). */
typedef struct groups_job {
    adb_dir *d;
    const adb_topology *t;
    const adb_topo_domain *ud;
    bool foreign;                /* false: resolve sids in the user's forest */
    sid_collect *sids;
    sid_collect own_sids;        /* foreign: its copy, which it extends */
    adb_object_list found;
    adb_error err;
    adb_code rc;
} groups_job;

static void *groups_run(void *arg)
{
    groups_job *j = arg;
    adb_strmap have = { 0 };

    if (j->foreign)
        j->rc = foreign_groups(j->d, j->t, j->sids, &have, &j->found, &j->err);
    else
        j->rc = dir_resolve_sids(j->d, j->t, j->sids->v, j->sids->n, j->ud, &j->found, &j->err);
    adb_strmap_clear(&have);
    return NULL;
}

static adb_code sids_copy(sid_collect *to, const sid_collect *from, adb_error *err)
{
    adb_code rc = ADB_OK;

    for (size_t i = 0; rc == ADB_OK && i < from->n; i++)
        rc = sids_add(to, &from->v[i], err);
    return rc;
}

adb_code adb_dir_groups_of(adb_dir *d, const char *user, const char *domain, adb_object **user_out,
                           adb_object_list *out, adb_error *err)
{
    adb_object *u = NULL;
    adb_topology *t = NULL;
    const adb_topo_domain *ud;
    sid_collect sids = { 0 };
    dir_shared_list *sl = NULL;
    adb_strmap have = { 0 };
    char key[DIR_KEY_MAX];
    void *value;
    adb_code rc;
    static const char *const token_attrs[] = { "tokenGroups", NULL };

    if (user_out != NULL)
        *user_out = NULL;
    if ((rc = dir_get_kind(d, user, domain, ADB_KINDS_USER | ADB_KINDS_COMPUTER, &u, NULL, err)) != ADB_OK)
        return rc;
    dir_key_membership(key, sizeof key, "groups-of:", u);
    if (adb_cache_get(d->cache, key, &value) == ADB_CACHE_HIT) {
        sl = value;
        goto answer;
    }
    if ((sl = dir_shared_list_new(err)) == NULL) {
        rc = ADB_E_NOMEM;
        goto done;
    }
    if ((rc = adb_dir_topology(d, false, &t, err)) != ADB_OK)
        goto done;
    if ((ud = adb_topology_domain(t, u->domain_dns)) == NULL) {
        rc = adb_error_set(err, ADB_E_NOT_FOUND, "the domain of %s is not in the topology", u->dn);
        goto done;
    }
    if ((rc = dir_check_usable(d, ud, err)) != ADB_OK)
        goto done;
    /* tokenGroups: the transitive closure, primary group included, in one base read. */
    {
        dir_search_op op = { u->dn, ADB_LDAP_SCOPE_BASE, "(objectClass=*)", token_attrs, on_token_groups, sids_reset,
                             &sids };
        if ((rc = dir_run_scan(d, ud->dns, ADB_POOL_DC, &op, err)) != ADB_OK) {
            adb_error_prefix(err, "reading tokenGroups of %s", u->dn);
            goto done;
        }
    }
    if (u->primary_group_rid != 0 && u->has_sid) {
        adb_sid dom, primary;
        if (adb_sid_split(&u->sid, &dom, NULL, NULL) == ADB_OK
            && adb_sid_compose(&dom, u->primary_group_rid, &primary, NULL) == ADB_OK
            && (rc = sids_add(&sids, &primary, err)) != ADB_OK)
            goto done;
    }
    /* The groups' names in the user's forest, and the groups of other
     * forests (through foreign security principals), at once.  The first
     * is the longer read: it runs on this thread (dir_parallel's last job),
     * so it does not wait for a new thread to be scheduled. */
    {
        enum { FOREIGN, OWN };
        groups_job jobs[2] = { [OWN] = { .d = d, .t = t, .ud = ud, .sids = &sids },
                               [FOREIGN] = { .d = d, .t = t, .ud = ud, .foreign = true } };
        if ((rc = sids_copy(&jobs[FOREIGN].own_sids, &sids, err)) != ADB_OK
            || (u->has_sid && (rc = sids_add(&jobs[FOREIGN].own_sids, &u->sid, err)) != ADB_OK)) {
            sids_reset(&jobs[FOREIGN].own_sids);
            goto done;
        }
        jobs[FOREIGN].sids = &jobs[FOREIGN].own_sids;
        dir_parallel(jobs, 2, sizeof jobs[0], groups_run);
        for (size_t k = 0; k < 2; k++) {
            size_t j = k == 0 ? OWN : FOREIGN;   /* the user's forest first */
            if (rc == ADB_OK && jobs[j].rc != ADB_OK) {
                rc = jobs[j].rc;
                if (err != NULL)
                    *err = jobs[j].err;
            }
            for (size_t i = 0; rc == ADB_OK && i < jobs[j].found.n; i++) {
                int added;
                dir_member_key(key, sizeof key, jobs[j].found.items[i]);
                if ((added = adb_strmap_put(&have, key, NULL)) < 0)
                    rc = adb_error_set(err, ADB_E_NOMEM, "out of memory");
                else if (added > 0)
                    rc = adb_object_list_add(&sl->list, jobs[j].found.items[i], err);
            }
            adb_object_list_clear(&jobs[j].found);
        }
        sids_reset(&jobs[FOREIGN].own_sids);
        if (rc != ADB_OK)
            goto done;
    }
    adb_object_list_sort(&sl->list);
    dir_key_membership(key, sizeof key, "groups-of:", u);
    dir_cache_list(d, key, ADB_CACHE_GROUPS_OF, sl);
answer:
    for (size_t i = 0; rc == ADB_OK && i < sl->list.n; i++)
        rc = adb_object_list_add(out, sl->list.items[i], err);
done:
    if (rc == ADB_OK && user_out != NULL)
        *user_out = adb_object_ref(u);
    dir_list_release(sl);
    sids_reset(&sids);
    adb_strmap_clear(&have);
    adb_topology_unref(t);
    adb_object_unref(u);
    return rc;
}
