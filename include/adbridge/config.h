/* The adbridge configuration file (JSON; schemas/config.schema.json).
 *
 * Decoding is strict: unknown fields, wrong types and bad values are refused
 * with the JSON path of the offending field ("$.domains[1].name: ..."). */
#ifndef ADBRIDGE_CONFIG_H
#define ADBRIDGE_CONFIG_H

#include <adbridge/error.h>
#include <adbridge/log.h>

#include <stdbool.h>
#include <stddef.h>

/* configure's --sysconfdir and --localstatedir (Makefile.am passes them):
 * /etc and /var for a package, /usr/local/etc and /usr/local/var by default. */
#ifndef ADB_SYSCONFDIR
#define ADB_SYSCONFDIR "/etc"
#endif
#ifndef ADB_LOCALSTATEDIR
#define ADB_LOCALSTATEDIR "/var"
#endif
#define ADB_DEFAULT_CONFIG_PATH ADB_SYSCONFDIR "/adbridge/adbridge.json"
#define ADB_DEFAULT_KEYTAB "/etc/krb5.keytab"   /* MIT Kerberos' default, wherever adbridge is installed */
#define ADB_DEFAULT_STATE_DIR ADB_LOCALSTATEDIR "/lib/adbridge"

typedef struct adb_domain_config {
    char *name;                  /* DNS domain name, lower case, no trailing dot */
    bool use_for_subscriptions;  /* initial value; the persisted flag wins later */
    char *site;                  /* pinned AD site, or NULL to learn it */
    char **dcs;                  /* pinned DC host names or addresses */
    size_t n_dcs;
} adb_domain_config;

/* How LDAP connections are protected ("ldap" object). */
typedef enum adb_ldap_tls {
    ADB_LDAP_TLS_OFF = 0,        /* plain 389, SASL GSSAPI sign+seal (default) */
    ADB_LDAP_TLS_STARTTLS,       /* 389 + StartTLS, then SASL */
    ADB_LDAP_TLS_LDAPS,          /* 636, TLS from the first byte, then SASL */
} adb_ldap_tls;

typedef struct adb_ldap_config {
    adb_ldap_tls tls;
    char *ca_file;               /* CA bundle for starttls/ldaps; NULL: system CAs */
} adb_ldap_config;

/* Password checks ("auth" object). */
typedef struct adb_auth_config {
    unsigned lockout_threshold;  /* bridge's smart-lockout threshold; 0: derived from AD's (lockout.h) */
    long lockout_window_s;       /* when AD's window is unknown; 0: 1800 */
    unsigned lockout_margin;     /* refuse when AD's badPwdCount >= threshold - margin; default 2 */
    bool allow_plaintext_password; /* accept "password" in auth requests (local test setups only) */
    bool allow_privileged;       /* check privileged accounts' passwords too (default: refused) */
    char **refuse_groups;        /* more groups (SID or name) whose members are never checked */
    size_t n_refuse_groups;
    long key_grace_s;            /* grace of an old key after rotation; default ADB_KEYSTORE_DEFAULT_GRACE_S */
} adb_auth_config;

/* The search index (schemas/README.md, search): each domain's users' and
 * groups' names kept in memory and refreshed, so that a prefix is answered
 * without a DC scanning every account (Samba has no index for a prefix). */
typedef enum adb_search_index {
    ADB_SEARCH_INDEX_OFF = 0,    /* search always asks the DCs */
    ADB_SEARCH_INDEX_ON,         /* index every domain search uses */
    ADB_SEARCH_INDEX_AUTO,       /* index a domain once a DC's scan of it took 300 ms or more */
} adb_search_index;

/* The directory's cache ("cache" object). */
typedef struct adb_cache_config {
    int object_ttl_s;            /* users, groups, other objects; default 300 */
    int membership_ttl_s;        /* groups-of and member lists; default 120 */
    int negative_ttl_s;          /* "not found"; default 60 */
    int stale_max_age_s;         /* lookups answered from the cache while no DC answers, at most this old; 0: never; default 3600 */
    adb_search_index search_index;   /* the daemon's; default auto */
    int search_index_refresh_s;  /* default 60 */
} adb_cache_config;

/* HTTP CONNECT proxy for the cloud link ("broker.proxy"). */
typedef struct adb_proxy_config {
    char *host;                  /* NULL: no proxy */
    unsigned port;
    char *credentials_file;      /* "user:password", mode 0600; NULL: no Proxy-Authorization */
} adb_proxy_config;

/* The cloud link ("broker" object; absent: the daemon has no link). */
typedef struct adb_broker_config {
    char *url;                   /* amqp://host[:port] or amqps://host[:port]; NULL: not configured */
    char *address;               /* request queue / address; default "adbridge.requests" */
    char *sasl_mechanisms;       /* space-separated, e.g. "PLAIN"; NULL: proton's default choice */
    char *username;              /* for PLAIN */
    char *password_file;         /* the broker password, mode 0600 */
    char *ca_file;               /* amqps: CA bundle to verify the broker; NULL: system CAs */
    char *cert_file, *key_file;  /* amqps client certificate (SASL EXTERNAL) */
    char *virtual_host;          /* AMQP open hostname; NULL: the URL's host */
    adb_proxy_config proxy;
    size_t max_message_bytes;    /* bigger requests are refused; default 65536 */
    size_t max_reply_bytes;      /* list pages are cut to fit; default 262144 (Azure Service Bus standard) */
    unsigned workers;            /* concurrent requests; default 4 */
    unsigned prefetch;           /* requests taken ahead of a free worker; default: 2 x workers */
    unsigned reconnect_max_s;    /* backoff cap; default 60 */
    unsigned delivery_limit;     /* a request delivered more often is rejected unrun; default 5 */
    char *status_address;        /* where the status announcements go; default "adbridge.status" */
    unsigned status_period_s;    /* announce at least this often (TTL: twice this); 0: never; default 30 */
    char *forest_address;        /* "{address}/{forest}"-style template of per-forest request addresses; NULL: none */
} adb_broker_config;

typedef struct adb_config {
    char *path;                  /* where it was read from */
    char *user;                  /* adbridged started as root drops to this account; NULL: stays root (warned) */
    char *state_dir;
    char *keytab;
    char *machine_principal;     /* NULL: taken from the keytab */
    char **dns_servers;          /* empty: the system's resolv.conf */
    size_t n_dns_servers;
    adb_log_level log_level;
    adb_domain_config *domains;
    size_t n_domains;
    adb_ldap_config ldap;
    adb_auth_config auth;
    adb_cache_config cache;
    adb_broker_config broker;
    /* Not read from the file: set by the front end (adb_ctx_new_with).  True
     * for the CLI: the machine's tickets, the topology and the located DCs
     * are kept in state_dir between runs (statecache.h).  False for the
     * daemon, which keeps them in memory. */
    bool persist_caches;
} adb_config;

/* --config value, else $ADBRIDGE_CONFIG, else ADB_DEFAULT_CONFIG_PATH. */
const char *adb_config_path(const char *explicit_path);

adb_code adb_config_load(const char *path, adb_config **out, adb_error *err);

/* Parses text (not NUL-terminated necessarily); origin names it in errors. */
adb_code adb_config_parse(const char *text, size_t len, const char *origin,
                          adb_config **out, adb_error *err);

void adb_config_free(adb_config *cfg);

/* Case-insensitive lookup by DNS name; NULL when absent. */
const adb_domain_config *adb_config_domain(const adb_config *cfg, const char *name);

/* True for a syntactically valid DNS domain name (RFC 1123 labels). */
bool adb_dns_name_valid(const char *name);

#endif
