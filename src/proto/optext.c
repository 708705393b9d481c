/* Results as text for a person (see include/adbridge/optext.h). */
#include "config.h"

#include <adbridge/optext.h>

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

enum { FIELD_WIDTH = 22 };

const char *adb_text_member(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

void adb_text_field(FILE *out, adb_text_put_fn put, int width, const char *label, const char *value)
{
    fprintf(out, "%-*s ", width, label);
    put(out, value != NULL ? value : "-", 0);
    fputc('\n', out);
}

const char *adb_text_display(const json_t *object, char *buf, size_t size)
{
    const json_t *dom = json_object_get(object, "domain");
    const char *domain = adb_text_member(dom, "netbios") != NULL ? adb_text_member(dom, "netbios")
                                                                 : adb_text_member(dom, "dns");
    const char *name = adb_text_member(object, "sam_account_name") != NULL
                           ? adb_text_member(object, "sam_account_name") : adb_text_member(object, "sid");

    if (name != NULL)
        snprintf(buf, size, "%s%s%s", domain != NULL ? domain : "", domain != NULL ? "\\" : "", name);
    else
        snprintf(buf, size, "%s", adb_text_member(object, "dn") != NULL ? adb_text_member(object, "dn") : "?");
    return buf;
}

/* true, false or null (not asked) as yes, no, unknown. */
static const char *yes_no(const json_t *v)
{
    return json_is_true(v) ? "yes" : json_is_false(v) ? "no" : "unknown";
}

/* "2024-05-01T12:00:00Z" as "2024-05-01 12:00:00 UTC"; null: "never". */
static const char *when(const json_t *v, char *buf, size_t size)
{
    const char *t = json_string_value(v);

    if (t == NULL)
        return "never";
    if (strlen(t) == 20 && t[10] == 'T' && t[19] == 'Z')
        snprintf(buf, size, "%.10s %.8s UTC", t, t + 11);
    else
        snprintf(buf, size, "%s", t);
    return buf;
}

void adb_text_object(FILE *out, adb_text_put_fn put, const json_t *o)
{
    const json_t *dom = json_object_get(o, "domain"), *acct = json_object_get(o, "account"),
                 *grp = json_object_get(o, "group");
    const char *dns = adb_text_member(dom, "dns"), *netbios = adb_text_member(dom, "netbios"),
               *forest = adb_text_member(o, "forest");
    char who[600], expires[40];

    adb_text_field(out, put, FIELD_WIDTH, "name", adb_text_display(o, who, sizeof who));
    adb_text_field(out, put, FIELD_WIDTH, "kind", adb_text_member(o, "kind"));
    adb_text_field(out, put, FIELD_WIDTH, "display name", adb_text_member(o, "display_name"));
    adb_text_field(out, put, FIELD_WIDTH, "upn", adb_text_member(o, "upn"));
    adb_text_field(out, put, FIELD_WIDTH, "mail", adb_text_member(o, "mail"));
    adb_text_field(out, put, FIELD_WIDTH, "given name", adb_text_member(o, "given_name"));
    adb_text_field(out, put, FIELD_WIDTH, "surname", adb_text_member(o, "surname"));
    fprintf(out, "%-*s ", FIELD_WIDTH, "domain");
    put(out, dns != NULL ? dns : "-", 0);
    fputs(" (", out);
    put(out, netbios != NULL ? netbios : "-", 0);
    fputs("), forest ", out);
    put(out, forest != NULL ? forest : "-", 0);
    fputc('\n', out);
    adb_text_field(out, put, FIELD_WIDTH, "sid", adb_text_member(o, "sid"));
    adb_text_field(out, put, FIELD_WIDTH, "guid", adb_text_member(o, "guid"));
    adb_text_field(out, put, FIELD_WIDTH, "dn", adb_text_member(o, "dn"));
    if (json_is_object(acct)) {
        fprintf(out, "%-*s %s\n", FIELD_WIDTH, "enabled", yes_no(json_object_get(acct, "enabled")));
        fprintf(out, "%-*s %s\n", FIELD_WIDTH, "locked out", yes_no(json_object_get(acct, "locked")));
        fprintf(out, "%-*s %s\n", FIELD_WIDTH, "password expired", yes_no(json_object_get(acct, "password_expired")));
        fprintf(out, "%-*s %s\n", FIELD_WIDTH, "must change password",
                yes_no(json_object_get(acct, "must_change_password")));
        fprintf(out, "%-*s ", FIELD_WIDTH, "account expires");
        put(out, when(json_object_get(acct, "account_expires"), expires, sizeof expires), 0);
        fprintf(out, "%s\n", json_is_true(json_object_get(acct, "account_expired")) ? " (expired)" : "");
    }
    if (json_is_object(grp)) {
        adb_text_field(out, put, FIELD_WIDTH, "group type", adb_text_member(grp, "type"));
        adb_text_field(out, put, FIELD_WIDTH, "group scope", adb_text_member(grp, "scope"));
    }
}

void adb_text_rows_header(FILE *out)
{
    fprintf(out, "%-36s %-9s %-30s %s\n", "NAME", "KIND", "DISPLAY NAME", "DETAIL");
}

void adb_text_row(FILE *out, adb_text_put_fn put, const json_t *o)
{
    const json_t *grp = json_object_get(o, "group");
    const char *upn = adb_text_member(o, "upn"), *kind = adb_text_member(o, "kind"),
               *display = adb_text_member(o, "display_name");
    char who[600], detail[1200];

    if (json_is_object(grp))
        snprintf(detail, sizeof detail, "%s %s", adb_text_member(grp, "type") != NULL ? adb_text_member(grp, "type") : "-",
                 adb_text_member(grp, "scope") != NULL ? adb_text_member(grp, "scope") : "-");
    else if (upn != NULL)
        snprintf(detail, sizeof detail, "%s%s", upn,
                 kind != NULL && strcmp(kind, "user") == 0
                         && json_is_false(json_object_get(json_object_get(o, "account"), "enabled"))
                     ? " (disabled)" : "");
    else
        snprintf(detail, sizeof detail, "%s",
                 adb_text_member(o, "dn") != NULL    ? adb_text_member(o, "dn")
                 : adb_text_member(o, "sid") != NULL ? adb_text_member(o, "sid")
                                                     : "-");
    put(out, adb_text_display(o, who, sizeof who), 36);
    fputc(' ', out);
    put(out, kind != NULL ? kind : "-", 9);
    fputc(' ', out);
    put(out, display != NULL ? display : "-", 30);
    fputc(' ', out);
    put(out, detail, 0);
    fputc('\n', out);
}

void adb_text_objects(FILE *out, adb_text_put_fn put, const json_t *list)
{
    size_t i;
    json_t *o;

    adb_text_rows_header(out);
    json_array_foreach(list, i, o)
        adb_text_row(out, put, o);
}
