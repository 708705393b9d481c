/* String-keyed hash map (see include/adbridge/strmap.h). */
#include "config.h"

#include <adbridge/strmap.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { FIRST_CAP = 64 };

/* FNV-1a, 64 bits. */
static uint64_t str_hash(const char *s)
{
    uint64_t h = UINT64_C(0xcbf29ce484222325);

    for (; *s != '\0'; s++) {
        h ^= (unsigned char)*s;
        h *= UINT64_C(0x100000001b3);
    }
    return h;
}

/* The slot for key in slots[cap]: where it is, or the free slot where it goes. */
static adb_strmap_slot *probe(adb_strmap_slot *slots, size_t cap, const char *key)
{
    size_t i = str_hash(key) & (cap - 1);

    while (slots[i].key != NULL && strcmp(slots[i].key, key) != 0)
        i = (i + 1) & (cap - 1);
    return &slots[i];
}

adb_strmap_slot *adb_strmap_find(const adb_strmap *m, const char *key)
{
    adb_strmap_slot *s;

    if (m->cap == 0)
        return NULL;
    s = probe(m->slots, m->cap, key);
    return s->key != NULL ? s : NULL;
}

/* Doubles the table (moving the keys, not copying them). */
static int grow(adb_strmap *m)
{
    size_t cap = m->cap ? m->cap * 2 : FIRST_CAP;
    adb_strmap_slot *slots = calloc(cap, sizeof *slots);

    if (slots == NULL)
        return -1;
    for (size_t k = 0; k < m->cap; k++)
        if (m->slots[k].key != NULL)
            *probe(slots, cap, m->slots[k].key) = m->slots[k];
    free(m->slots);
    m->slots = slots;
    m->cap = cap;
    return 0;
}

int adb_strmap_put(adb_strmap *m, const char *key, void *value)
{
    adb_strmap_slot *s;

    if (adb_strmap_find(m, key) != NULL)
        return 0;
    /* At most half full keeps the probes short. */
    if ((m->n + 1) * 2 > m->cap && grow(m) < 0)
        return -1;
    s = probe(m->slots, m->cap, key);
    if ((s->key = strdup(key)) == NULL)
        return -1;
    s->value = value;
    m->n++;
    return 1;
}

void adb_strmap_clear(adb_strmap *m)
{
    for (size_t i = 0; i < m->cap; i++)
        free(m->slots[i].key);
    free(m->slots);
    memset(m, 0, sizeof *m);
}
