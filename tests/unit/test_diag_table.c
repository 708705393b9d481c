/* The table of diagnose checks (src/diag/diagnose.c) and
 * schemas/diagnose.schema.json list the same result ids and the same groups:
 * a check added to one and not the other fails here, not in front of an
 * admin whose --json output stops validating. */
#include "config.h"

#include <adbridge/diagnose.h>

#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

static json_t *schema;

static int load_schema(void **state)
{
    const char *top = getenv("ADB_TOP_SRCDIR");
    char path[4096];
    json_error_t jerr;

    (void)state;
    snprintf(path, sizeof path, "%s/schemas/diagnose.schema.json", top != NULL ? top : ".");
    schema = json_load_file(path, 0, &jerr);
    if (schema == NULL)
        fprintf(stderr, "cannot read %s (run through make check): %s\n", path, jerr.text);
    return schema != NULL ? 0 : -1;
}

static int free_schema(void **state)
{
    (void)state;
    json_decref(schema);
    return 0;
}

/* $defs.result.properties.NAME */
static json_t *result_property(const char *name)
{
    json_t *p = json_object_get(json_object_get(json_object_get(json_object_get(schema, "$defs"), "result"),
                                                "properties"), name);
    assert_non_null(p);
    return p;
}

static bool in_enum(const json_t *list, const char *s)
{
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v)
        if (json_is_string(v) && strcmp(json_string_value(v), s) == 0)
            return true;
    return false;
}

static void test_ids_match_the_schema(void **state)
{
    json_t *ids = json_object_get(result_property("id"), "enum");
    size_t n = adb_diag_check_count(), i;
    json_t *v;

    (void)state;
    assert_true(json_is_array(ids));
    for (i = 0; i < n; i++) {
        const adb_diag_check_info *c = adb_diag_check_at(i);
        if (!in_enum(ids, c->id))
            fail_msg("check %s of the table is missing from the schema's id enum", c->id);
        for (size_t j = 0; j < i; j++)
            if (strcmp(adb_diag_check_at(j)->id, c->id) == 0)
                fail_msg("check %s is twice in the table", c->id);
    }
    json_array_foreach(ids, i, v) {
        bool found = false;
        for (size_t k = 0; k < n && !found; k++)
            found = strcmp(adb_diag_check_at(k)->id, json_string_value(v)) == 0;
        if (!found)
            fail_msg("id %s of the schema is not a check of the table", json_string_value(v));
    }
    assert_int_equal(json_array_size(ids), n);
    assert_null(adb_diag_check_at(n));
}

static void test_groups_match_the_schema(void **state)
{
    json_t *groups = json_object_get(result_property("group"), "enum");
    json_t *check = result_property("check");
    const char *described = json_string_value(json_object_get(check, "description"));
    char expect[512] = "";
    size_t o = 0;
    int g;

    (void)state;
    assert_true(json_is_array(groups));
    for (g = ADB_DIAG_CONFIG; adb_diag_group_name(g) != NULL; g++) {
        const char *name = json_string_value(json_array_get(groups, (size_t)(g - ADB_DIAG_CONFIG)));
        assert_non_null(name);
        assert_string_equal(name, adb_diag_group_name(g));
        o += (size_t)snprintf(expect + o, sizeof expect - o, "%s%d %s", o ? ", " : "", g, name);
    }
    assert_int_equal(g - ADB_DIAG_CONFIG, json_array_size(groups));
    assert_int_equal(json_integer_value(json_object_get(check, "minimum")), ADB_DIAG_CONFIG);
    assert_int_equal(json_integer_value(json_object_get(check, "maximum")), g - 1);
    assert_non_null(described);
    assert_string_equal(described, expect);       /* "1 config, 2 keytab, ..." */
    assert_null(adb_diag_group_name(0));
    assert_null(adb_diag_group_name(g));
}

/* Every check is in a group, every group has a check, every check a title. */
static void test_every_group_has_checks(void **state)
{
    size_t per_group[ADB_DIAG_CLOUD + 1] = { 0 };

    (void)state;
    for (size_t i = 0; i < adb_diag_check_count(); i++) {
        const adb_diag_check_info *c = adb_diag_check_at(i);
        assert_non_null(adb_diag_group_name(c->group));
        assert_non_null(c->title);
        assert_true(c->title[0] != '\0');
        per_group[c->group]++;
    }
    for (int g = ADB_DIAG_CONFIG; g <= ADB_DIAG_CLOUD; g++)
        if (per_group[g] == 0)
            fail_msg("group %s has no check", adb_diag_group_name(g));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ids_match_the_schema),
        cmocka_unit_test(test_groups_match_the_schema),
        cmocka_unit_test(test_every_group_has_checks),
    };
    return cmocka_run_group_tests(tests, load_schema, free_schema);
}
