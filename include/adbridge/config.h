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

#define ADB_DEFAULT_CONFIG_PATH "/etc/adbridge/adbridge.json"
#define ADB_DEFAULT_KEYTAB "/etc/krb5.keytab"
#define ADB_DEFAULT_STATE_DIR "/var/lib/adbridge"

typedef struct adb_domain_config {
    char *name;                  /* DNS domain name, lower case, no trailing dot */
    bool use_for_subscriptions;  /* initial value; the persisted flag wins later */
    char *site;                  /* pinned AD site, or NULL to learn it */
    char **dcs;                  /* pinned DC host names or addresses */
    size_t n_dcs;
} adb_domain_config;

typedef struct adb_config {
    char *path;                  /* where it was read from */
    char *state_dir;
    char *keytab;
    char *machine_principal;     /* NULL: taken from the keytab */
    char **dns_servers;          /* empty: the system's resolv.conf */
    size_t n_dns_servers;
    adb_log_level log_level;
    adb_domain_config *domains;
    size_t n_domains;
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
