/* What the dispatcher runs operations on: the directory and the password
 * checker behind function pointers.
 *
 * The dispatcher (dispatch.h) calls nothing of directory.h or auth.h
 * directly, so its rules — decoding, deadlines, redelivery, pages cut to
 * the reply limit, every error code — are tested over a fake backend with
 * no DC (tests/unit/test_dispatch.c).  adb_backend_init builds the real
 * one from an adb_dir and an adb_auth; the functions have their semantics
 * (directory.h, auth.h, locator.h), each getting `arg` (or `auth_arg`). */
#ifndef ADBRIDGE_BACKEND_H
#define ADBRIDGE_BACKEND_H

#include <adbridge/auth.h>
#include <adbridge/directory.h>
#include <adbridge/error.h>
#include <adbridge/locator.h>
#include <adbridge/object.h>
#include <adbridge/subscriptions.h>

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct adb_backend {
    void *arg;                          /* given to the directory functions */
    /* adb_dir_get_or_stale: fresh says whether the answer came from the
     * cache because no DC answered (user.get / group.get say so). */
    adb_code (*get)(void *arg, const char *id, const char *domain, unsigned kinds, adb_object **out,
                    adb_object_list *candidates, adb_dir_freshness *fresh, adb_error *err);
    adb_code (*search)(void *arg, const adb_dir_search_request *req, adb_dir_page *out, adb_error *err);
    adb_code (*groups_of)(void *arg, const char *user, const char *domain, adb_object **user_out,
                          adb_object_list *out, adb_error *err);
    adb_code (*members)(void *arg, const adb_dir_members_request *req, adb_object **group_out, adb_dir_page *out,
                        adb_error *err);
    /* topology.get's result: the topology as JSON with each domain's flag
     * (adb_topology_to_json). */
    adb_code (*topology)(void *arg, bool refresh, json_t **out, adb_error *err);
    adb_code (*set_enabled)(void *arg, const char *domain, bool enabled, adb_error *err);
    /* Every flag (adb_subscriptions_list). */
    adb_code (*flags)(void *arg, adb_subscription **out, size_t *n, adb_error *err);
    void (*invalidate)(void *arg, const char *id);
    void (*dir_stats)(void *arg, adb_dir_stats *out);
    /* The locator's DC health (adb_locator_health); NULL: none to tell. */
    size_t (*dc_health)(void *arg, adb_dc_health *rows, size_t cap);

    void *auth_arg;                     /* given to the password checker's functions */
    /* NULL: no password checker (auth.password answers internal_error,
     * health's auth is null). */
    adb_code (*auth_check)(void *auth_arg, const adb_auth_request *req, adb_auth_result *out, adb_error *err);
    void (*auth_stats)(void *auth_arg, adb_auth_stats *out);
} adb_backend;

/* The real backend: dir (required) and auth (NULL: no password checker),
 * which must outlive it. */
void adb_backend_init(adb_backend *out, adb_dir *dir, adb_auth *auth);

#endif
