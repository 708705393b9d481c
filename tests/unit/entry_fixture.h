/* Hand-built LDAP entries for unit tests (no server): what adb_ldap_search
 * would return, built value by value.  Include after <cmocka.h>. */
#ifndef ADBRIDGE_TEST_ENTRY_FIXTURE_H
#define ADBRIDGE_TEST_ENTRY_FIXTURE_H

#include <adbridge/ldap_conn.h>

#include <stdlib.h>
#include <string.h>

typedef struct built {
    adb_ldap_entry e;
    adb_ldap_attr attrs[24];
} built;

static inline built *entry_new(const char *dn)
{
    built *b = calloc(1, sizeof *b);
    b->e.dn = strdup(dn);
    b->e.attrs = b->attrs;
    return b;
}

static inline void add_bin(built *b, const char *name, const void *data, size_t len)
{
    adb_ldap_attr *a = NULL;
    size_t n = 0;

    for (size_t i = 0; i < b->e.n_attrs; i++)
        if (strcmp(b->attrs[i].name, name) == 0)
            a = &b->attrs[i];
    if (a == NULL) {
        a = &b->attrs[b->e.n_attrs++];
        a->name = strdup(name);
        a->values = calloc(8, sizeof *a->values);
    }
    while (a->values[n] != NULL)
        n++;
    a->values[n] = calloc(1, sizeof **a->values);
    a->values[n]->bv_val = malloc(len + 1);
    memcpy(a->values[n]->bv_val, data, len);
    a->values[n]->bv_len = len;
}

static inline void add(built *b, const char *name, const char *value)
{
    add_bin(b, name, value, strlen(value));
}

static inline struct berval *first_value(built *b, const char *name)
{
    for (size_t i = 0; i < b->e.n_attrs; i++)
        if (strcmp(b->attrs[i].name, name) == 0)
            return b->attrs[i].values[0];
    fail_msg("no attribute %s", name);
    abort();
}

static inline void entry_free(built *b)
{
    for (size_t i = 0; i < b->e.n_attrs; i++) {
        for (size_t k = 0; b->attrs[i].values[k] != NULL; k++) {
            free(b->attrs[i].values[k]->bv_val);
            free(b->attrs[i].values[k]);
        }
        free(b->attrs[i].values);
        free(b->attrs[i].name);
    }
    free(b->e.dn);
    free(b);
}

#endif
