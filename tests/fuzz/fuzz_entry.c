/* Fuzzes the decoders of LDAP entries a DC sends: objects (adb_object_decode
 * and its JSON), rootDSE, crossRef and trustedDomain.  The input is a
 * sequence of records [attribute index][value length][value]; the index
 * picks a name from the attributes these decoders read.  Invariant: no
 * crash, no leak; an accepted object renders as valid JSON. */
#include "config.h"

#include <adbridge/object.h>
#include <adbridge/topology.h>

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do { if (!(cond)) abort(); } while (0)

static char names[][40] = {
    "objectClass", "objectSid", "objectGUID", "sAMAccountName", "userPrincipalName", "displayName",
    "givenName", "sn", "mail", "userAccountControl", "msDS-User-Account-Control-Computed", "pwdLastSet",
    "accountExpires", "primaryGroupID", "groupType", "defaultNamingContext", "configurationNamingContext",
    "rootDomainNamingContext", "dnsHostName", "domainFunctionality", "forestFunctionality", "currentTime",
    "nETBIOSName", "dnsRoot", "nCName", "systemFlags", "trustPartner", "flatName", "trustDirection",
    "trustType", "trustAttributes", "securityIdentifier", "member;range=0-1499",
};
enum { N_NAMES = sizeof names / sizeof names[0], MAX_VALUES = 8 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    adb_ldap_attr attrs[N_NAMES];
    struct berval values[N_NAMES][MAX_VALUES], *ptrs[N_NAMES][MAX_VALUES + 1];
    size_t counts[N_NAMES] = { 0 };
    adb_ldap_entry e = { .dn = (char *)"CN=x,OU=y,DC=adb,DC=test", .attrs = attrs };
    adb_object_origin origin = { NULL, "ADB", "adb.test" };
    adb_object *o;
    /* One copy of the input, exactly sized: the values point into it. */
    uint8_t *buf = malloc(size + 1);

    if (buf == NULL || size == 0) {
        free(buf);
        return 0;
    }
    memcpy(buf, data, size);
    for (size_t i = 0; i + 2 <= size;) {
        size_t a = data[i] % N_NAMES, len = data[i + 1];
        i += 2;
        if (len > size - i)
            len = size - i;
        if (counts[a] < MAX_VALUES) {
            values[a][counts[a]].bv_val = (char *)buf + i;
            values[a][counts[a]].bv_len = len;
            counts[a]++;
        }
        i += len;
    }
    for (size_t a = 0; a < N_NAMES; a++) {
        if (counts[a] == 0)
            continue;
        for (size_t v = 0; v < counts[a]; v++)
            ptrs[a][v] = &values[a][v];
        ptrs[a][counts[a]] = NULL;
        attrs[e.n_attrs].name = names[a];
        attrs[e.n_attrs].values = ptrs[a];
        e.n_attrs++;
    }

    if (adb_object_decode(&e, data[0] & 1 ? &origin : NULL, 1700000000, &o, NULL) == ADB_OK) {
        json_t *j = adb_object_to_json(o);
        char *text = json_dumps(j, 0);
        CHECK(text != NULL);
        CHECK(adb_object_sort_key(o)[0] != '\0');
        free(text);
        json_decref(j);
        adb_object_unref(o);
    }
    adb_rootdse r;
    adb_rootdse_decode(&e, &r, NULL);
    adb_topo_domain d;
    bool is_domain = false;
    if (adb_crossref_decode(&e, &d, &is_domain, NULL) == ADB_OK && is_domain)
        adb_topo_domain_clear(&d);
    adb_topo_trust t;
    if (adb_trust_decode(&e, "adb.test", &t, NULL) == ADB_OK)
        adb_topo_trust_clear(&t);
    free(buf);
    return 0;
}
