/* The lookups: user.get, group.get, search, user.groups, group.members and
 * cache.invalidate — each operation's params, run and text, and its entry
 * in the table of operations (ops.h). */
#include "config.h"

#include "ops_internal.h"
#include "params.h"

#include <adbridge/optext.h>

#include <stdio.h>
#include <string.h>

/* ---- params ---- */

static adb_code params_ident(adb_param_dec *d, json_t *p, const char *idkey)
{
    const char *const allowed[] = { idkey, "domain", NULL };
    adb_code rc;

    if ((rc = param_object(d, p, "$.params", allowed)) != ADB_OK
        || (rc = param_string(d, p, "$.params", idkey, true, 1, ADB_PROTO_IDENT_MAX, PARAM_TEXT, &d->r->ident))
               != ADB_OK)
        return rc;
    return param_string(d, p, "$.params", "domain", false, 1, 253, PARAM_DOMAIN, &d->r->domain);
}

static adb_code params_id(adb_param_dec *d, json_t *p)
{
    return params_ident(d, p, "id");
}

static adb_code params_user(adb_param_dec *d, json_t *p)
{
    return params_ident(d, p, "user");
}

/* An optional array of 1..max names at params.<key>, each once, into bits
 * (bit_of: 0 for a name it does not know; what: the names, for errors). */
static adb_code param_bits(adb_param_dec *d, json_t *p, const char *key, size_t max, unsigned (*bit_of)(const char *),
                           const char *what, unsigned *out)
{
    json_t *list = json_object_get(p, key), *v;
    char path[ADB_PROTO_PATH_MAX], at[ADB_PROTO_PATH_MAX];
    size_t i;

    if (list == NULL)
        return ADB_OK;
    snprintf(at, sizeof at, "$.params.%s", key);
    if (!json_is_array(list) || json_array_size(list) < 1 || json_array_size(list) > max)
        return param_bad(d, at, "must be an array of 1 to %zu of %s", max, what);
    json_array_foreach(list, i, v) {
        const char *name = json_string_value(v);
        unsigned bit = name != NULL && strlen(name) == json_string_length(v) ? bit_of(name) : 0;
        param_index(path, sizeof path, at, i);
        if (bit == 0)
            return param_bad(d, path, "must be one of %s", what);
        if (*out & bit)
            return param_bad(d, path, "is listed twice");
        *out |= bit;
    }
    return ADB_OK;
}

static unsigned kind_bit(const char *name)
{
    return strcmp(name, "user") == 0 ? ADB_KINDS_USER : strcmp(name, "group") == 0 ? ADB_KINDS_GROUP : 0;
}

static adb_code params_search(adb_param_dec *d, json_t *p)
{
    static const char *const allowed[] = { "prefix", "kinds", "limit", "cursor", NULL };
    adb_code rc;

    if ((rc = param_object(d, p, "$.params", allowed)) != ADB_OK
        || (rc = param_string(d, p, "$.params", "prefix", true, 1, ADB_PROTO_PREFIX_MAX, PARAM_TEXT, &d->r->prefix))
               != ADB_OK
        || (rc = param_limit(d, p, "$.params", 1000, &d->r->limit)) != ADB_OK
        || (rc = param_string(d, p, "$.params", "cursor", false, 1, 1099, PARAM_CURSOR, &d->r->cursor)) != ADB_OK)
        return rc;
    return param_bits(d, p, "kinds", 2, kind_bit, "\"user\", \"group\"", &d->r->kinds);
}

static adb_code params_members(adb_param_dec *d, json_t *p)
{
    static const char *const allowed[] = { "group", "domain", "transitive", "limit", "cursor", "fields", NULL };
    adb_code rc;

    if ((rc = param_object(d, p, "$.params", allowed)) != ADB_OK
        || (rc = param_string(d, p, "$.params", "group", true, 1, ADB_PROTO_IDENT_MAX, PARAM_TEXT, &d->r->ident))
               != ADB_OK
        || (rc = param_string(d, p, "$.params", "domain", false, 1, 253, PARAM_DOMAIN, &d->r->domain)) != ADB_OK
        || (rc = param_bool(d, p, "$.params", "transitive", &d->r->transitive)) != ADB_OK
        || (rc = param_limit(d, p, "$.params", 10000, &d->r->limit)) != ADB_OK)
        return rc;
    if ((rc = param_string(d, p, "$.params", "cursor", false, 1, 1099, PARAM_CURSOR, &d->r->cursor)) != ADB_OK)
        return rc;
    /* The members' fields to return: keys of the object shape. */
    return param_bits(d, p, "fields", 14, adb_object_field,
                      "the object's fields (kind, sid, guid, dn, sam_account_name, upn, display_name, given_name, "
                      "surname, mail, domain, forest, account, group)", &d->r->fields);
}

static adb_code params_invalidate(adb_param_dec *d, json_t *p)
{
    static const char *const allowed[] = { "id", NULL };
    adb_code rc;

    if ((rc = param_only(d, p, "$.params", allowed)) != ADB_OK)
        return rc;
    return param_string(d, p, "$.params", "id", false, 1, ADB_PROTO_IDENT_MAX, PARAM_TEXT, &d->r->ident);
}

/* The CLI's --fields a,b,c -> "fields": ["a", "b", "c"] (checked by params_members). */
static adb_code reshape_members(json_t *params, adb_error *err)
{
    const char *text = json_string_value(json_object_get(params, "fields"));
    json_t *list;

    if (text == NULL)
        return ADB_OK;
    if ((list = json_array()) == NULL)
        return adb_error_set(err, ADB_E_NOMEM, "out of memory");
    for (const char *p = text;; p++) {
        size_t n = strcspn(p, ",");
        json_array_append_new(list, json_stringn(p, n));
        p += n;
        if (*p == '\0')
            break;
    }
    json_object_set_new(params, "fields", list);
    return ADB_OK;
}

/* ---- runs ---- */

static adb_code get(adb_service *s, const adb_request *r, unsigned kinds, adb_op_outcome *o, adb_error *err)
{
    adb_object *obj = NULL;
    adb_object_list cand = { 0 };
    adb_dir_freshness fresh = { 0 };
    adb_code rc = s->backend.get(s->backend.arg, r->ident, r->domain, kinds, &obj, &cand, &fresh, err);

    if (rc == ADB_OK && fresh.stale)   /* no DC answered: the cache's copy, with its age */
        o->result = json_pack("{s:o,s:b,s:I}", "object", adb_object_to_json(obj), "stale", 1, "stale_age_s",
                              (json_int_t)fresh.age_s);
    else if (rc == ADB_OK)
        o->result = json_pack("{s:o}", "object", adb_object_to_json(obj));
    else if (rc == ADB_E_AMBIGUOUS && cand.n > 0)
        o->candidates = adb_object_list_to_json(&cand);
    adb_object_unref(obj);
    adb_object_list_clear(&cand);
    return rc;
}

static adb_code run_user_get(adb_service *s, const adb_request *r, adb_op_outcome *o, adb_error *err)
{
    return get(s, r, ADB_KINDS_USER | ADB_KINDS_COMPUTER, o, err);
}

static adb_code run_group_get(adb_service *s, const adb_request *r, adb_op_outcome *o, adb_error *err)
{
    return get(s, r, ADB_KINDS_GROUP, o, err);
}

static adb_code run_search(adb_service *s, const adb_request *r, adb_op_outcome *o, adb_error *err)
{
    adb_dir_search_request q = { .prefix = r->prefix, .kinds = r->kinds, .limit = r->limit, .cursor = r->cursor };
    adb_dir_page page;
    adb_code rc = s->backend.search(s->backend.arg, &q, &page, err);

    if (rc != ADB_OK)
        return rc;
    o->result = json_pack("{s:o,s:o}", "items", adb_object_list_to_json(&page.items), "next_cursor",
                          op_cursor_json(page.next_cursor));
    adb_dir_page_clear(&page);
    return ADB_OK;
}

static adb_code run_user_groups(adb_service *s, const adb_request *r, adb_op_outcome *o, adb_error *err)
{
    adb_object *user = NULL;
    adb_object_list groups = { 0 };
    adb_code rc = s->backend.groups_of(s->backend.arg, r->ident, r->domain, &user, &groups, err);

    if (rc == ADB_OK && user == NULL)
        rc = adb_error_set(err, ADB_E_INTERNAL, "the directory returned groups without their user");
    if (rc == ADB_OK)
        o->result = json_pack("{s:o,s:o}", "user", adb_object_to_json(user), "groups",
                              adb_object_list_to_json(&groups));
    adb_object_unref(user);
    adb_object_list_clear(&groups);
    return rc;
}

static adb_code run_group_members(adb_service *s, const adb_request *r, adb_op_outcome *o, adb_error *err)
{
    adb_dir_members_request q = { .group = r->ident, .domain = r->domain, .transitive = r->transitive,
                                  .limit = r->limit, .cursor = r->cursor, .fields = r->fields };
    adb_object *group = NULL;
    adb_dir_page page;
    adb_code rc = s->backend.members(s->backend.arg, &q, &group, &page, err);

    if (rc != ADB_OK)
        return rc;
    if (group == NULL) {
        adb_dir_page_clear(&page);
        return adb_error_set(err, ADB_E_INTERNAL, "the directory returned members without their group");
    }
    o->result = json_pack("{s:o,s:o,s:o}", "group", adb_object_to_json(group), "members",
                          adb_object_list_to_json_fields(&page.items, r->fields), "next_cursor",
                          op_cursor_json(page.next_cursor));
    adb_object_unref(group);
    adb_dir_page_clear(&page);
    return ADB_OK;
}

static adb_code run_cache_invalidate(adb_service *s, const adb_request *r, adb_op_outcome *o, adb_error *err)
{
    s->backend.invalidate(s->backend.arg, r->ident);
    o->result = json_pack("{s:b}", "all", r->ident == NULL);
    return o->result != NULL ? ADB_OK : adb_error_set(err, ADB_E_NOMEM, "out of memory");
}

/* ---- text ---- */

static void render_object(const json_t *params, const json_t *result, const adb_text_page *page, FILE *out,
                          adb_text_put_fn put)
{
    (void)params;
    (void)page;
    if (json_is_true(json_object_get(result, "stale")))
        fprintf(out, "# stale: no DC of its domain answered; as read %" JSON_INTEGER_FORMAT " s ago\n",
                json_integer_value(json_object_get(result, "stale_age_s")));
    adb_text_object(out, put, json_object_get(result, "object"));
}

static void render_items(const json_t *params, const json_t *result, const adb_text_page *page, FILE *out,
                         adb_text_put_fn put)
{
    (void)params;
    (void)page;
    adb_text_objects(out, put, json_object_get(result, "items"));
}

static void render_groups(const json_t *params, const json_t *result, const adb_text_page *page, FILE *out,
                          adb_text_put_fn put)
{
    char who[600];

    (void)params;
    (void)page;
    fputs("# ", out);
    put(out, adb_text_display(json_object_get(result, "user"), who, sizeof who), 0);
    fprintf(out, " is in %zu groups\n", json_array_size(json_object_get(result, "groups")));
    adb_text_objects(out, put, json_object_get(result, "groups"));
}

/* A page at a time, as the CLI follows the cursor: the heading with the
 * first, the count with the last. */
static void render_members(const json_t *params, const json_t *result, const adb_text_page *page, FILE *out,
                           adb_text_put_fn put)
{
    const json_t *members = json_object_get(result, "members");
    size_t i;
    json_t *m;
    char who[600];

    if (page->first) {
        fprintf(out, "# %s members of ", json_is_true(json_object_get(params, "transitive")) ? "transitive" : "direct");
        put(out, adb_text_display(json_object_get(result, "group"), who, sizeof who), 0);
        fputc('\n', out);
        adb_text_rows_header(out);
    }
    json_array_foreach(members, i, m)
        adb_text_row(out, put, m);
    if (page->last)
        fprintf(out, "# %zu members\n", page->before + json_array_size(members));
}

static bool no_items(const json_t *result)
{
    return json_array_size(json_object_get(result, "items")) == 0;
}

/* ---- the entries ---- */

const adb_op_def adb_op_user_get = {
    .name = "user.get",
    .params = params_id,
    .run = run_user_get,
    .cli = &(const adb_op_cli){
        .command = "user",
        .usage = "ID [--domain D] [--json]: a user by DOMAIN\\name, UPN, SID, GUID, DN or name",
        .args = { { ADB_CLI_OPERAND, "ID", "id", NULL }, { ADB_CLI_STRING, "domain", "domain", NULL } },
        .render = render_object,
    },
};

const adb_op_def adb_op_group_get = {
    .name = "group.get",
    .params = params_id,
    .run = run_group_get,
    .cli = &(const adb_op_cli){
        .command = "group",
        .usage = "ID [--domain D] [--json]: a group, by any identifier",
        .args = { { ADB_CLI_OPERAND, "ID", "id", NULL }, { ADB_CLI_STRING, "domain", "domain", NULL } },
        .render = render_object,
    },
};

const adb_op_def adb_op_search = {
    .name = "search",
    .params = params_search,
    .run = run_search,
    .list = "items",
    .default_limit = ADB_SEARCH_DEFAULT_LIMIT,
    .cli = &(const adb_op_cli){
        .command = "search",
        .usage = "PREFIX [--users|--groups] [--limit N] [--cursor C] [--json]: people picker",
        .args = { { ADB_CLI_OPERAND, "PREFIX", "prefix", NULL }, { ADB_CLI_ADD, "users", "kinds", "user" },
                  { ADB_CLI_ADD, "groups", "kinds", "group" }, { ADB_CLI_NUMBER, "limit", "limit", NULL },
                  { ADB_CLI_STRING, "cursor", "cursor", NULL } },
        .negative = no_items,
        .render = render_items,
    },
};

const adb_op_def adb_op_user_groups = {
    .name = "user.groups",
    .params = params_user,
    .run = run_user_groups,
    .cli = &(const adb_op_cli){
        .command = "groups-of",
        .usage = "USER [--domain D] [--json]: every group the user is in, transitively",
        .args = { { ADB_CLI_OPERAND, "USER", "user", NULL }, { ADB_CLI_STRING, "domain", "domain", NULL } },
        .render = render_groups,
    },
};

const adb_op_def adb_op_group_members = {
    .name = "group.members",
    .params = params_members,
    .run = run_group_members,
    .list = "members",
    .default_limit = ADB_MEMBERS_DEFAULT_LIMIT,
    .cli = &(const adb_op_cli){
        .command = "members",
        .usage = "GROUP [--transitive] [--limit PAGE] [--domain D] [--fields F,F...] [--json]: a group's members, "
                 "every page (--fields: only those fields of each, e.g. sid,sam_account_name)",
        .args = { { ADB_CLI_OPERAND, "GROUP", "group", NULL }, { ADB_CLI_TRUE, "transitive", "transitive", NULL },
                  { ADB_CLI_NUMBER, "limit", "limit", NULL }, { ADB_CLI_STRING, "domain", "domain", NULL },
                  { ADB_CLI_STRING, "fields", "fields", NULL } },
        .reshape = reshape_members,
        .all_pages = true,
        .render = render_members,
    },
};

/* Not a CLI command: the CLI's directory lives as long as one command. */
const adb_op_def adb_op_cache_invalidate = {
    .name = "cache.invalidate",
    .params = params_invalidate,
    .run = run_cache_invalidate,
};
