/* One LDAP connection to one domain controller, bound as the machine account
 * with SASL GSSAPI and a security layer (signing and sealing), and the read
 * operations the upper layers use: paged search and range retrieval.
 *
 * Optionally inside TLS (LDAPS or StartTLS), the DC's certificate verified
 * against a CA file and the DC's DNS name.  AD forbids a SASL layer inside
 * TLS (MS-ADTS 5.1.2.1), so there GSSAPI authenticates only and TLS protects
 * the data; the DC must allow that (Windows does; Samba needs "ldap server
 * require strong auth = allow_sasl_over_tls", its default refuses).
 *
 * Read-only by construction: this module exposes bind and search, nothing
 * that writes.  Referrals are never chased (cross-domain work goes through
 * the locator).  Every network wait has a timeout. */
#ifndef ADBRIDGE_LDAP_CONN_H
#define ADBRIDGE_LDAP_CONN_H

#include <adbridge/config.h>
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
    int port;             /* 389 (LDAP), 3268 (GC); 0 = 389.  With LDAPS their
                             TLS twins are used instead (636, 3269); any other
                             port is taken as the LDAPS port itself */
} adb_ldap_target;

typedef struct adb_ldap_options {
    int connect_timeout_ms;  /* 0: 3000 */
    int op_timeout_ms;       /* 0: 10000 */
    unsigned min_ssf;        /* 0: 56; the effective protection (SASL layer,
                                or TLS) must reach it, else the connection is refused */
    adb_ldap_tls tls;        /* off (default), starttls, ldaps */
    const char *ca_file;     /* PEM CA bundle for TLS; NULL: libldap's default
                                (ldap.conf TLS_CACERT, else the system's CAs) */
} adb_ldap_options;

enum { ADB_LDAP_SCOPE_BASE = 0, ADB_LDAP_SCOPE_ONE = 1, ADB_LDAP_SCOPE_SUBTREE = 2 };

/* Connects and binds.  The caller has refreshed creds (adb_krb_refresh). */
adb_code adb_ldap_connect(const adb_ldap_target *target, const adb_krb *creds,
                          const adb_ldap_options *opts, adb_ldap_conn **out, adb_error *err);

void adb_ldap_close(adb_ldap_conn *c);

/* Security strength of the connection: the SASL layer's (56+ means
 * sealed), or inside TLS the TLS cipher's. */
unsigned adb_ldap_ssf(const adb_ldap_conn *c);

/* How the connection is protected, for logs and diagnose, e.g.
 * "GSSAPI sign+seal (SSF 256)" or "TLS1.3 AES-256-GCM (SSF 256) + GSSAPI
 * (no SASL layer), StartTLS". */
const char *adb_ldap_protection(const adb_ldap_conn *c);
const char *adb_ldap_host(const adb_ldap_conn *c);

/* True once the connection failed at the transport level (server down,
 * timeout): the pool drops it and the locator marks the DC down. */
bool adb_ldap_broken(const adb_ldap_conn *c);

/* ---- entries (ldap_entry.c): each one block, values NUL-terminated copies ---- */
typedef struct adb_ldap_attr {
    char *name;               /* as returned, e.g. "member;range=0-1499" */
    struct berval **values;   /* NULL-terminated; NULL when the attribute came without values */
} adb_ldap_attr;

typedef struct adb_ldap_entry {
    char *dn;
    adb_ldap_attr *attrs;
    size_t n_attrs;
} adb_ldap_entry;

void adb_ldap_entry_free(adb_ldap_entry *e);

/* The attribute attr (case-insensitive; "member" also matches
 * "member;range=..."), or NULL when absent. */
const adb_ldap_attr *adb_ldap_entry_attr(const adb_ldap_entry *e, const char *attr);

/* Values of attr (as adb_ldap_entry_attr), NULL-terminated, or NULL when absent. */
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

/* attrs: NULL-terminated, NULL for all.  page_size 0: 500.  page_size -1:
 * one request without the paged-results control, as long as the server
 * allows it (Samba answers it at a third of the CPU of a paged search: it
 * reads every entry of a paged result twice); when the server's size limit
 * cuts the answer short (AD's MaxPageSize, 1000), the same search is asked
 * again paged, before any entry is handed out.  The filter must have been
 * built with the escaping functions of filter.h. */
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
