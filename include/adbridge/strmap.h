/* A hash map from C strings to pointers, for the sets and indexes one
 * operation builds and drops (members seen, DNs to resolve, SIDs found).
 *
 * Open addressing with linear probing (FNV-1a), grown at half full.  Keys
 * are copied; values are borrowed and never freed by the map.  Entries are
 * added, never removed: a map lives for one operation.  Not thread-safe (one
 * map, one thread).  A zeroed adb_strmap is an empty map. */
#ifndef ADBRIDGE_STRMAP_H
#define ADBRIDGE_STRMAP_H

#include <stddef.h>

typedef struct adb_strmap_slot {
    char *key;       /* NULL: free slot */
    void *value;
} adb_strmap_slot;

typedef struct adb_strmap {
    adb_strmap_slot *slots;
    size_t n, cap;   /* cap is 0 or a power of two */
} adb_strmap;

/* The slot holding key, or NULL.  Its value may be changed in place. */
adb_strmap_slot *adb_strmap_find(const adb_strmap *m, const char *key);

/* Adds key (copied) with value unless key is present, which keeps its value.
 * 1: added, 0: present already, -1: out of memory (the map is unchanged). */
int adb_strmap_put(adb_strmap *m, const char *key, void *value);

/* Frees the keys and the slots; the map is empty again. */
void adb_strmap_clear(adb_strmap *m);

#endif
