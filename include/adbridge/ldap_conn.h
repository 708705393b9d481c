/* One LDAP connection to one domain controller, bound as the machine account
 * with SASL GSSAPI and a security layer (signing and sealing), and the read
 * operations the upper layers use: paged search and range retrieval.
 *
 * Read-only by construction: this module exposes bind and search, nothing
 * that writes.  Referrals are never chased (cross-domain work goes through
 * the locator).  Every network wait has a timeout. */
#ifndef ADBRIDGE_LDAP_CONN_H
#define ADBRIDGE_LDAP_CONN_H

#include <adbridge/error.h>
#include <adbridge/krb.h>

#include <lber.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct adb_ldap_conn adb_ldap_conn;

typedef struct adb_ldap_target {
    const char *host;     /* DNS name of the DC: the GSSAPI service is ldap/<host> */
    const char *address;  /* IP address to connect to; NULL: resolve host */
    int port;             /* 389 (LDAP), 3268 (GC); 0 = 389 */
} adb_ldap_target;

typedef struct adb_ldap_options {
    int connect_timeout_ms;  /* 0: 3000 */
    int op_timeout_ms;       /* 0: 10000 */
    unsigned min_ssf;        /* 0: 56; connections below are refused */
} adb_ldap_options;

enum { ADB_LDAP_SCOPE_BASE = 0, ADB_LDAP_SCOPE_ONE = 1, ADB_LDAP_SCOPE_SUBTREE = 2 };

/* Connects and binds.  The caller has refreshed creds (adb_krb_refresh). */
adb_code adb_ldap_connect(const adb_ldap_target *target, const adb_krb *creds,
                          const adb_ldap_options *opts, adb_ldap_conn **out, adb_error *err);

void adb_ldap_close(adb_ldap_conn *c);

/* Negotiated SASL security strength factor (56+ means sealed). */
unsigned adb_ldap_ssf(const adb_ldap_conn *c);
const char *adb_ldap_host(const adb_ldap_conn *c);

/* True once the connection failed at the transport level (server down,
 * timeout): the pool drops it and the locator marks the DC down. */
bool adb_ldap_broken(const adb_ldap_conn *c);

/* ---- entries ---- */
typedef struct adb_ldap_attr {
    char *name;               /* as returned, e.g. "member;range=0-1499" */
    struct berval **values;   /* NULL-terminated */
} adb_ldap_attr;

typedef struct adb_ldap_entry {
    char *dn;
    adb_ldap_attr *attrs;
    size_t n_attrs;
} adb_ldap_entry;

void adb_ldap_entry_free(adb_ldap_entry *e);

/* Values of attr (case-insensitive; "member" also matches "member;range=..."),
 * NULL-terminated, or NULL when absent. */
struct berval **adb_ldap_entry_values(const adb_ldap_entry *e, const char *attr);

/* First value as a NUL-terminated string copy into buf; NULL when absent,
 * empty, too long, or containing NUL. */
const char *adb_ldap_entry_str(const adb_ldap_entry *e, const char *attr, char *buf, size_t size);

/* First value as a signed decimal 64-bit integer (AD's Integer and
 * Large-Integer syntaxes: userAccountControl, pwdLastSet, ...); false when
 * absent, empty or not such a number. */
bool adb_ldap_entry_int64(const adb_ldap_entry *e, const char *attr, int64_t *out);

/* ---- paged search (RFC 2696), streamed page by page ---- */
typedef struct adb_ldap_search adb_ldap_search;

/* attrs: NULL-terminated, NULL for all.  page_size 0: 500.  The filter must
 * have been built with the escaping functions of filter.h. */
adb_code adb_ldap_search_begin(adb_ldap_conn *c, const char *base, int scope, const char *filter,
                               const char *const *attrs, int page_size,
                               adb_ldap_search **out, adb_error *err);

/* Next entry (caller frees with adb_ldap_entry_free), or *out = NULL at the
 * end.  Fetches the next page from the server when the current one is used up. */
adb_code adb_ldap_search_next(adb_ldap_search *s, adb_ldap_entry **out, adb_error *err);

void adb_ldap_search_end(adb_ldap_search *s);

/* Reads one object (scope base); not_found when it does not exist. */
adb_code adb_ldap_read(adb_ldap_conn *c, const char *dn, const char *filter,
                       const char *const *attrs, adb_ldap_entry **out, adb_error *err);

/* Values asked for per round trip of range retrieval (AD's MaxValRange). */
#define ADB_LDAP_RANGE_STEP 1500

/* Range retrieval of a multi-valued attribute beyond the DC's per-read limit
 * (MaxValRange, 1500 on AD): reads attr;range=lo-(lo+STEP-1) until the server
 * answers a range ending in "*".
 * Calls fn for every value once; fn returns false to stop early. */
adb_code adb_ldap_read_all_values(adb_ldap_conn *c, const char *dn, const char *attr,
                                  bool (*fn)(const struct berval *value, void *arg), void *arg,
                                  adb_error *err);

#endif
