/* Fuzzes the decoders of the CLI's state caches (statecache.h): the
 * envelope, the topology and the located DC lists.  The input is a whole
 * cache file; its scope must be "fuzz" and its times around 1800000000 for
 * the inner decoders to be reached (the seed corpus has both kinds).
 * Invariant: no crash, no leak; what is accepted encodes again and decodes
 * to the same counts. */
#include "config.h"

#include <adbridge/statecache.h>

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do { if (!(cond)) abort(); } while (0)

static const time_t NOW = 1800000000;

static void topology(json_t *d)
{
    adb_topology *t = NULL, *u = NULL;
    json_t *again;

    if (adb_topology_cache_from_json(d, "adb.test", &t, NULL) != ADB_OK) {
        CHECK(t == NULL);
        return;
    }
    again = adb_topology_cache_to_json(t);
    CHECK(again != NULL);
    CHECK(adb_topology_cache_from_json(again, "adb.test", &u, NULL) == ADB_OK);
    CHECK(u->n_forests == t->n_forests && u->n_domains == t->n_domains && u->n_trusts == t->n_trusts);
    for (size_t i = 0; i < t->n_domains; i++)
        CHECK(adb_topology_domain(t, t->domains[i].dns) != NULL);
    json_decref(again);
    adb_topology_unref(u);
    adb_topology_unref(t);
}

static void dcs(json_t *d)
{
    json_t *entries = json_object_get(d, "entries"), *j;
    size_t i;

    json_array_foreach(entries, i, j) {
        adb_dc_cache_entry e, back;
        json_t *again;
        if (adb_dc_cache_entry_from_json(j, &e, NULL) != ADB_OK) {
            CHECK(e.list.dcs == NULL);
            continue;
        }
        CHECK(e.list.n > 0);
        again = adb_dc_cache_entry_to_json(&e);
        CHECK(again != NULL);
        CHECK(adb_dc_cache_entry_from_json(again, &back, NULL) == ADB_OK && back.list.n == e.list.n);
        adb_dc_list_free(&back.list);
        adb_dc_list_free(&e.list);
        json_decref(again);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const kinds[] = { "topology", "dcs" };

    for (size_t k = 0; k < 2; k++) {
        json_t *d = NULL;
        if (adb_statecache_decode((const char *)data, size, kinds[k], "fuzz", NOW, &d, NULL, NULL, NULL) != ADB_OK) {
            CHECK(d == NULL);
            continue;
        }
        if (k == 0)
            topology(d);
        else
            dcs(d);
        json_decref(d);
    }
    return 0;
}
