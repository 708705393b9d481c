/* The text renderers of the table of operations (ops.h, optext.h) print
 * nothing of a result but through put, the CLI's escaper: every valid
 * result example of schemas/examples, each of its strings made hostile
 * (terminal escapes, DEL, C1), rendered with a put that marks what it was
 * given, leaves no control byte in the text.  Also the exit status rules
 * (negative) on those results. */
#include "config.h"

#include <adbridge/ops.h>
#include <adbridge/optext.h>

#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#define HOSTILE "\x1b]0;pwned\x07\x1b[2J\xc2\x9b" "31m\x7f"

static void poison(json_t *j);

/* A string: a new one with HOSTILE in front.  Anything else: poisoned in
 * place, and NULL. */
static json_t *poisoned(json_t *v)
{
    char buf[4096];

    if (!json_is_string(v)) {
        poison(v);
        return NULL;
    }
    snprintf(buf, sizeof buf, HOSTILE "%s", json_string_value(v));
    return json_string(buf);
}

/* Every string of j (members and items, at any depth) gets HOSTILE in front. */
static void poison(json_t *j)
{
    const char *key;
    json_t *v, *s;
    size_t i;

    if (json_is_object(j)) {
        json_object_foreach(j, key, v)
            if ((s = poisoned(v)) != NULL)
                json_object_set_new(j, key, s);
    } else if (json_is_array(j)) {
        json_array_foreach(j, i, v)
            if ((s = poisoned(v)) != NULL)
                json_array_set_new(j, i, s);
    }
}

/* An escaper of the CLI's kind: control bytes and C1 as '?'. */
static void marking_put(FILE *f, const char *s, int width)
{
    int columns = 0;

    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++, columns++) {
        if (*p == 0xc2 && p[1] >= 0x80 && p[1] < 0xa0) {
            fputc('?', f);
            p++;
        } else {
            fputc(*p < 0x20 || *p == 0x7f ? '?' : *p, f);
        }
    }
    for (; columns < width; columns++)
        fputc(' ', f);
}

static json_t *load(const char *dir, const char *name)
{
    char path[1024];
    json_t *j;

    snprintf(path, sizeof path, "%s/%s", dir, name);
    if ((j = json_load_file(path, 0, NULL)) == NULL)
        fail_msg("cannot read %s", path);
    return j;
}

/* The params of the first valid request example of op (or {}). */
static json_t *params_of(const char *dir, const char *op)
{
    char prefix[128];
    struct dirent *e;
    DIR *d = opendir(dir);
    json_t *params = NULL;

    snprintf(prefix, sizeof prefix, "request-%s", op);
    while (params == NULL && d != NULL && (e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0) {
            json_t *req = load(dir, e->d_name);
            params = json_incref(json_object_get(req, "params"));
            json_decref(req);
        }
    }
    if (d != NULL)
        closedir(d);
    return params != NULL ? params : json_object();
}

static void test_renderers_escape(void **state)
{
    const char *top = getenv("ADB_TOP_SRCDIR");
    char dir[1024];
    struct dirent *e;
    DIR *d;
    int rendered = 0;

    (void)state;
    snprintf(dir, sizeof dir, "%s/schemas/examples/valid", top != NULL ? top : ".");
    assert_non_null(d = opendir(dir));
    while ((e = readdir(d)) != NULL) {
        json_t *reply, *result, *params;
        const adb_op_def *def;
        adb_text_page page = { .first = true, .last = true };
        char *text = NULL;
        size_t len = 0;
        FILE *out;

        if (strncmp(e->d_name, "reply-", 6) != 0)
            continue;
        reply = load(dir, e->d_name);
        result = json_object_get(reply, "result");
        def = adb_op_def_of(adb_op_from_name(json_string_value(json_object_get(reply, "op"))));
        if (result == NULL || def == NULL || def->cli == NULL) {
            json_decref(reply);
            continue;
        }
        params = params_of(dir, def->name);
        poison(result);
        poison(params);
        assert_non_null(out = open_memstream(&text, &len));
        def->cli->render(params, result, &page, out, marking_put);
        fclose(out);
        for (size_t i = 0; i < len; i++)
            if (((unsigned char)text[i] < 0x20 && text[i] != '\n') || text[i] == 0x7f
                || ((unsigned char)text[i] == 0xc2 && (unsigned char)text[i + 1] >= 0x80
                    && (unsigned char)text[i + 1] < 0xa0))
                fail_msg("%s: the text of %s holds a raw control byte at %zu: %.60s", e->d_name, def->name, i,
                         text + (i > 20 ? i - 20 : 0));
        assert_true(len > 0);
        rendered++;
        free(text);
        json_decref(params);
        json_decref(reply);
    }
    closedir(d);
    assert_true(rendered >= 8);   /* a result of every op the CLI runs */
}

static json_t *parse(const char *text)
{
    json_t *j = json_loads(text, 0, NULL);
    assert_non_null(j);
    return j;
}

/* Exit status 1 for an empty search and for a password that is not right. */
static void test_negative(void **state)
{
    const adb_op_cli *search = adb_ops[ADB_OP_SEARCH]->cli, *auth = adb_ops[ADB_OP_AUTH_PASSWORD]->cli;
    json_t *empty = parse("{\"items\":[],\"next_cursor\":null}"), *one = parse("{\"items\":[{}],\"next_cursor\":null}"),
           *ok = parse("{\"result\":\"ok\",\"key_id\":null}"),
           *wrong = parse("{\"result\":\"invalid_credentials\",\"key_id\":null}");

    (void)state;
    assert_true(search->negative(empty));
    assert_false(search->negative(one));
    assert_false(auth->negative(ok));
    assert_true(auth->negative(wrong));
    assert_null(adb_ops[ADB_OP_USER_GET]->cli->negative);   /* not found is an error reply, exit 1 */
    json_decref(empty);
    json_decref(one);
    json_decref(ok);
    json_decref(wrong);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_renderers_escape),
        cmocka_unit_test(test_negative),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
