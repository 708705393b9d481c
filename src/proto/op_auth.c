/* auth.password: its params, run and text, and its entry in the table of
 * operations (ops.h).  The password never reaches a log line, a message or
 * a reply: the decoder checks only its type and length, the run moves it
 * into wiped memory at once. */
#include "config.h"

#include "ops_internal.h"
#include "params.h"

#include <adbridge/optext.h>
#include <adbridge/secmem.h>

#include <stdint.h>
#include <string.h>

static adb_code params_auth(adb_param_dec *d, json_t *p)
{
    static const char *const allowed[] = { "user", "domain", "sealed", "password", "include_groups", NULL };
    json_t *sealed = json_object_get(p, "sealed"), *pw = json_object_get(p, "password"), *v;
    const char *key;
    char path[ADB_PROTO_PATH_MAX];
    adb_code rc;

    if ((rc = param_object(d, p, "$.params", allowed)) != ADB_OK
        || (rc = param_string(d, p, "$.params", "user", true, 1, ADB_PROTO_IDENT_MAX, PARAM_TEXT, &d->r->ident))
               != ADB_OK
        || (rc = param_string(d, p, "$.params", "domain", false, 1, 253, PARAM_DOMAIN, &d->r->domain)) != ADB_OK
        || (rc = param_bool(d, p, "$.params", "include_groups", &d->r->include_groups)) != ADB_OK)
        return rc;
    if ((sealed == NULL) == (pw == NULL))
        return param_bad(d, "$.params", "give exactly one of sealed (the password sealed to each instance key) "
                                        "and password");
    if (pw != NULL) {
        /* Never quoted in a message: only its type and length are checked. */
        if ((rc = param_string_value(d, pw, "$.params.password", 1, ADB_PROTO_PASSWORD_MAX, PARAM_ANY,
                                     &d->r->password)) != ADB_OK)
            return rc;
        d->r->password_len = json_string_length(pw);
        return ADB_OK;
    }
    if (!json_is_object(sealed) || json_object_size(sealed) < 1 || json_object_size(sealed) > ADB_PROTO_SEALED_MAX)
        return param_bad(d, "$.params.sealed", "must be an object of 1 to %d key id -> sealed copy members",
                         ADB_PROTO_SEALED_MAX);
    json_object_foreach(sealed, key, v) {
        adb_sealed_copy *c = &d->r->sealed[d->r->n_sealed];
        param_join(path, sizeof path, "$.params.sealed", key);
        if (!param_str_ok(key, strlen(key), PARAM_KEY_ID))
            return param_bad(d, path, "the member name must be a key id (22 characters of base64url; see health)");
        if ((rc = param_string_value(d, v, path, 4, ADB_PROTO_SEALED_B64_MAX, PARAM_BASE64, &c->sealed_b64))
            != ADB_OK)
            return rc;
        c->key_id = key;
        d->r->n_sealed++;
    }
    return ADB_OK;
}

static json_t *result_json(const adb_auth_result *res, bool include_groups)
{
    json_t *j = json_pack("{s:s,s:o}", "result", adb_auth_reason_name(res->reason), "key_id",
                          res->key_id[0] != '\0' ? json_string(res->key_id) : json_null());

    if (j == NULL)
        return NULL;
    if (res->reason == ADB_AUTH_LOCKED_BY_BRIDGE)
        json_object_set_new(j, "retry_at", adb_proto_time(res->retry_at > 0 ? res->retry_at : time(NULL)));
    if (res->user != NULL)
        json_object_set_new(j, "user", adb_object_to_json(res->user));
    if (res->reason == ADB_AUTH_OK && include_groups)
        json_object_set_new(j, "groups", adb_object_list_to_json(&res->groups));
    if (res->kerberos.realm[0] != '\0')
        json_object_set_new(j, "realm", json_string(res->kerberos.realm));
    if (res->kerberos.kdc[0] != '\0')
        json_object_set_new(j, "kdc", json_string(res->kerberos.kdc));
    if (res->detail[0] != '\0') {
        json_t *d = json_string(res->detail);
        if (d != NULL)
            json_object_set_new(j, "detail", d);
    }
    return j;
}

static adb_code run_auth(adb_service *s, const adb_request *r, adb_op_outcome *o, adb_error *err)
{
    adb_auth_request q = { .user = r->ident, .domain = r->domain, .sealed = r->sealed, .n_sealed = r->n_sealed,
                           .include_groups = r->include_groups, .deadline_ms = r->deadline_ms };
    adb_auth_result res = { 0 };
    adb_secret *pw = NULL;
    adb_code rc;

    if (s->backend.auth_check == NULL)
        return adb_error_set(err, ADB_E_INTERNAL, "this bridge was started without a password checker");
    if (r->password != NULL) {
        rc = adb_secret_from(r->password, r->password_len, &pw, err);
        adb_wipe((char *)(uintptr_t)r->password, r->password_len);   /* the tree's copy: ours from here on */
        if (rc != ADB_OK)
            return rc;
        q.password = pw;
        /* The host's admin typed it (adbridge auth); on the wire it is
         * refused unless auth.allow_plaintext_password. */
        q.plaintext_from_wire = !r->local;
    }
    rc = s->backend.auth_check(s->backend.auth_arg, &q, &res, err);
    adb_secret_free(pw);
    if (rc == ADB_OK && (o->result = result_json(&res, r->include_groups)) == NULL)
        rc = adb_error_set(err, ADB_E_NOMEM, "out of memory");
    adb_auth_result_clear(&res);
    return rc;
}

static bool not_ok(const json_t *result)
{
    const char *reason = adb_text_member(result, "result");

    return reason == NULL || strcmp(reason, "ok") != 0;
}

static void row(FILE *out, adb_text_put_fn put, const char *label, const char *value)
{
    if (value != NULL)
        adb_text_field(out, put, 10, label, value);
}

static void render_auth(const json_t *params, const json_t *result, const adb_text_page *page, FILE *out,
                        adb_text_put_fn put)
{
    const json_t *user = json_object_get(result, "user");
    const char *sam = adb_text_member(user, "sam_account_name"), *realm = adb_text_member(result, "realm");
    char principal[600];
    size_t i;
    json_t *g;

    (void)page;
    adb_text_field(out, put, 10, "result", adb_text_member(result, "result"));
    adb_text_field(out, put, 10, "user", adb_text_member(params, "user"));
    row(out, put, "dn", adb_text_member(user, "dn"));
    /* On ok the KDC names the client by its canonical principal, which AD
     * makes sAMAccountName@REALM. */
    if (!not_ok(result) && sam != NULL && realm != NULL) {
        snprintf(principal, sizeof principal, "%s@%s", sam, realm);
        row(out, put, "principal", principal);
    }
    row(out, put, "realm", realm);
    row(out, put, "kdc", adb_text_member(result, "kdc"));
    row(out, put, "retry at", adb_text_member(result, "retry_at"));
    row(out, put, "detail", adb_text_member(result, "detail"));
    json_array_foreach(json_object_get(result, "groups"), i, g)
        adb_text_field(out, put, 10, i == 0 ? "groups" : "", adb_text_member(g, "dn"));
}

const adb_op_def adb_op_auth_password = {
    .name = "auth.password",
    .params = params_auth,
    .run = run_auth,
    .once = true,
    .cli = &(const adb_op_cli){
        .command = "auth",
        .usage = "USER [--domain D] [--groups] [--stdin] [--json]: check a password (from the terminal, or a line "
                 "of stdin)",
        .args = { { ADB_CLI_OPERAND, "USER", "user", NULL }, { ADB_CLI_STRING, "domain", "domain", NULL },
                  { ADB_CLI_TRUE, "groups", "include_groups", NULL } },
        .password_for = "user",
        .negative = not_ok,
        .render = render_auth,
    },
};
