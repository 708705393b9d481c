/* LDAP search entries (ldap_conn.h): decoded from a result message in one
 * pass, kept in one allocation, and read by attribute name.
 *
 * ldap_first_attribute + ldap_get_values_len cost a copy of every name and
 * value and, for each attribute, a scan of the message from its start: a
 * user read whole made about 200 allocations and re-read its BER 30 times.
 * ldap_get_attribute_ber walks the message once with the values in place;
 * they are then copied, NUL-terminated, into a single block that also holds
 * the entry, its attribute table and the value arrays. */
#include "config.h"

#include "ldap_entry.h"

#include <adbridge/text.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* One attribute while the message is walked: its values are in place. */
typedef struct walked {
    struct berval name;
    BerVarray vals;       /* from ber_scanf "M": the array is ours to free, the bytes the message's */
    size_t n;
} walked;

static void walked_free(walked *w, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ber_memfree(w[i].vals);
    free(w);
}

/* Copies len bytes and a NUL to *at, advancing it. */
static char *put(char **at, const char *p, size_t len)
{
    char *s = *at;

    memcpy(s, p, len);
    s[len] = '\0';
    *at += len + 1;
    return s;
}

adb_code ldap_entry_decode(LDAP *ld, LDAPMessage *msg, adb_ldap_entry **out, adb_error *err)
{
    BerElement *ber = NULL;
    struct berval dn, name;
    BerVarray vals = NULL;
    walked *w = NULL;
    size_t n = 0, cap = 0, n_values = 0, bytes, size;
    adb_ldap_entry *e;
    adb_ldap_attr *attrs;
    struct berval **ptrs, *bvs;
    char *text;
    int rc;

    *out = NULL;
    if (ldap_get_dn_ber(ld, msg, &ber, &dn) != LDAP_SUCCESS || dn.bv_val == NULL) {
        ber_free(ber, 0);
        return adb_error_set(err, ADB_E_PROTOCOL, "search entry without a DN");
    }
    bytes = dn.bv_len + 1;
    while ((rc = ldap_get_attribute_ber(ld, msg, ber, &name, &vals)) == LDAP_SUCCESS && name.bv_val != NULL) {
        if (n == cap) {
            walked *grown = realloc(w, (cap = cap ? cap * 2 : 32) * sizeof *grown);
            if (grown == NULL) {
                ber_memfree(vals);
                rc = LDAP_NO_MEMORY;
                break;
            }
            w = grown;
        }
        w[n] = (walked){ .name = name, .vals = vals };
        bytes += name.bv_len + 1;
        for (; vals != NULL && vals[w[n].n].bv_val != NULL; w[n].n++)
            bytes += vals[w[n].n].bv_len + 1;
        n_values += w[n].n;
        n++;
        vals = NULL;
    }
    if (rc != LDAP_SUCCESS) {
        walked_free(w, n);
        ber_free(ber, 0);
        return rc == LDAP_NO_MEMORY ? adb_error_set(err, ADB_E_NOMEM, "out of memory")
                                    : adb_error_set(err, ADB_E_PROTOCOL, "undecodable search entry '%.*s'",
                                                    (int)(dn.bv_len < 200 ? dn.bv_len : 200), dn.bv_val);
    }
    /* entry | attributes | value pointer arrays (each NULL-ended) | values | text */
    size = sizeof *e + n * sizeof *attrs + (n_values + n) * sizeof *ptrs + n_values * sizeof *bvs + bytes;
    if ((e = malloc(size)) == NULL) {
        walked_free(w, n);
        ber_free(ber, 0);
        return adb_error_set(err, ADB_E_NOMEM, "out of memory");
    }
    attrs = (adb_ldap_attr *)(e + 1);
    ptrs = (struct berval **)(attrs + n);
    bvs = (struct berval *)(ptrs + n_values + n);
    text = (char *)(bvs + n_values);
    e->dn = put(&text, dn.bv_val, dn.bv_len);
    e->attrs = attrs;
    e->n_attrs = n;
    for (size_t i = 0; i < n; i++) {
        attrs[i].name = put(&text, w[i].name.bv_val, w[i].name.bv_len);
        /* No values: NULL, as ldap_get_values_len gave. */
        attrs[i].values = w[i].n > 0 ? ptrs : NULL;
        for (size_t k = 0; k < w[i].n; k++) {
            bvs->bv_len = w[i].vals[k].bv_len;
            bvs->bv_val = put(&text, w[i].vals[k].bv_val, w[i].vals[k].bv_len);
            *ptrs++ = bvs++;
        }
        if (w[i].n > 0)
            *ptrs++ = NULL;
    }
    walked_free(w, n);
    ber_free(ber, 0);
    *out = e;
    return ADB_OK;
}

void adb_ldap_entry_free(adb_ldap_entry *e)
{
    free(e);   /* one block (ldap_entry_decode) */
}

const adb_ldap_attr *adb_ldap_entry_attr(const adb_ldap_entry *e, const char *attr)
{
    size_t n = strlen(attr);

    for (size_t i = 0; e != NULL && i < e->n_attrs; i++) {
        const char *have = e->attrs[i].name;
        if (strncasecmp(have, attr, n) == 0 && (have[n] == '\0' || have[n] == ';'))
            return &e->attrs[i];
    }
    return NULL;
}

struct berval **adb_ldap_entry_values(const adb_ldap_entry *e, const char *attr)
{
    const adb_ldap_attr *a = adb_ldap_entry_attr(e, attr);

    return a != NULL ? a->values : NULL;
}

const char *adb_ldap_entry_str(const adb_ldap_entry *e, const char *attr, char *buf, size_t size)
{
    struct berval **v = adb_ldap_entry_values(e, attr);

    if (v == NULL || v[0] == NULL || v[0]->bv_len == 0 || v[0]->bv_len >= size
        || memchr(v[0]->bv_val, '\0', v[0]->bv_len) != NULL)
        return NULL;
    memcpy(buf, v[0]->bv_val, v[0]->bv_len);
    buf[v[0]->bv_len] = '\0';
    return buf;
}

bool adb_ldap_entry_int64(const adb_ldap_entry *e, const char *attr, int64_t *out)
{
    char buf[32];

    return adb_ldap_entry_str(e, attr, buf, sizeof buf) != NULL && adb_ascii_int64(buf, INT64_MIN, INT64_MAX, out);
}
