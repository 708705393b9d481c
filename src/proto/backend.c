/* The real backend (see include/adbridge/backend.h): adb_dir and adb_auth
 * behind the dispatcher's function pointers. */
#include "config.h"

#include <adbridge/backend.h>

static adb_code dir_get(void *arg, const char *id, const char *domain, unsigned kinds, adb_object **out,
                        adb_object_list *candidates, adb_dir_freshness *fresh, adb_error *err)
{
    return adb_dir_get_or_stale(arg, id, domain, kinds, out, candidates, fresh, err);
}

static adb_code dir_search(void *arg, const adb_dir_search_request *req, adb_dir_page *out, adb_error *err)
{
    return adb_dir_search(arg, req, out, err);
}

static adb_code dir_groups_of(void *arg, const char *user, const char *domain, adb_object **user_out,
                              adb_object_list *out, adb_error *err)
{
    return adb_dir_groups_of(arg, user, domain, user_out, out, err);
}

static adb_code dir_members(void *arg, const adb_dir_members_request *req, adb_object **group_out, adb_dir_page *out,
                            adb_error *err)
{
    return adb_dir_members(arg, req, group_out, out, err);
}

static adb_code dir_topology(void *arg, bool refresh, json_t **out, adb_error *err)
{
    adb_topology *t = NULL;
    adb_code rc = adb_dir_topology(arg, refresh, &t, err);

    *out = NULL;
    if (rc != ADB_OK)
        return rc;
    *out = adb_topology_to_json(t, adb_dir_subscriptions(arg));
    adb_topology_unref(t);
    return *out != NULL ? ADB_OK : adb_error_set(err, ADB_E_NOMEM, "out of memory");
}

static adb_code dir_set_enabled(void *arg, const char *domain, bool enabled, adb_error *err)
{
    return adb_dir_set_enabled(arg, domain, enabled, err);
}

static adb_code dir_flags(void *arg, adb_subscription **out, size_t *n, adb_error *err)
{
    return adb_subscriptions_list(adb_dir_subscriptions(arg), out, n, err);
}

static void dir_invalidate(void *arg, const char *id)
{
    adb_dir_invalidate(arg, id);
}

static void dir_stats(void *arg, adb_dir_stats *out)
{
    adb_dir_stats_get(arg, out);
}

static size_t dir_dc_health(void *arg, adb_dc_health *rows, size_t cap)
{
    adb_locator *loc = adb_dir_locator(arg);

    return loc != NULL ? adb_locator_health(loc, rows, cap) : 0;
}

static adb_code auth_check(void *auth_arg, const adb_auth_request *req, adb_auth_result *out, adb_error *err)
{
    return adb_auth_check(auth_arg, req, out, err);
}

static void auth_stats(void *auth_arg, adb_auth_stats *out)
{
    adb_auth_stats_get(auth_arg, out);
}

void adb_backend_init(adb_backend *out, adb_dir *dir, adb_auth *auth)
{
    *out = (adb_backend){
        .arg = dir,
        .get = dir_get,
        .search = dir_search,
        .groups_of = dir_groups_of,
        .members = dir_members,
        .topology = dir_topology,
        .set_enabled = dir_set_enabled,
        .flags = dir_flags,
        .invalidate = dir_invalidate,
        .dir_stats = dir_stats,
        .dc_health = dir_dc_health,
        .auth_arg = auth,
        .auth_check = auth != NULL ? auth_check : NULL,
        .auth_stats = auth != NULL ? auth_stats : NULL,
    };
}
