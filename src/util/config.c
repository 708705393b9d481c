/* Strict decoder of the configuration file (see include/adbridge/config.h). */
#include "config.h"

#include <adbridge/text.h>
#include <adbridge/config.h>
#include <adbridge/fileio.h>
#include <adbridge/json.h>
#include <adbridge/keystore.h>
#include <adbridge/secmem.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum { MAX_CONFIG_BYTES = 1 << 20, MAX_LIST = 256 };

/* Refuses every key of obj that is not in allowed (NULL-terminated). */
static adb_code check_keys(json_t *obj, const char *path, const char *const *allowed,
                           adb_error *err)
{
    const char *key;
    json_t *value;

    json_object_foreach(obj, key, value) {
        bool known = false;
        (void)value;
        for (const char *const *a = allowed; *a != NULL && !known; a++)
            known = strcmp(*a, key) == 0;
        if (!known)
            return adb_error_set(err, ADB_E_CONFIG, "%s.%s: unknown field", path, key);
    }
    return ADB_OK;
}

static adb_code get_string(json_t *obj, const char *path, const char *key, bool required,
                           char **out, adb_error *err)
{
    json_t *v = json_object_get(obj, key);

    *out = NULL;
    if (v == NULL) {
        if (required)
            return adb_error_set(err, ADB_E_CONFIG, "%s.%s: required field is missing", path, key);
        return ADB_OK;
    }
    if (!json_is_string(v) || json_string_length(v) == 0)
        return adb_error_set(err, ADB_E_CONFIG, "%s.%s: must be a non-empty string", path, key);
    if (strlen(json_string_value(v)) != json_string_length(v))
        return adb_error_set(err, ADB_E_CONFIG, "%s.%s: must not contain NUL", path, key);
    *out = strdup(json_string_value(v));
    return *out != NULL ? ADB_OK : adb_error_set(err, ADB_E_NOMEM, "out of memory");
}

static adb_code get_path(json_t *obj, const char *path, const char *key, const char *fallback,
                         char **out, adb_error *err)
{
    adb_code rc = get_string(obj, path, key, false, out, err);

    if (rc != ADB_OK)
        return rc;
    if (*out == NULL && (*out = strdup(fallback)) == NULL)
        return adb_error_set(err, ADB_E_NOMEM, "out of memory");
    if ((*out)[0] != '/')
        return adb_error_set(err, ADB_E_CONFIG, "%s.%s: must be an absolute path, got '%s'",
                             path, key, *out);
    return ADB_OK;
}

static adb_code get_bool(json_t *obj, const char *path, const char *key, bool fallback, bool *out, adb_error *err)
{
    json_t *v = json_object_get(obj, key);

    *out = fallback;
    if (v == NULL)
        return ADB_OK;
    if (!json_is_boolean(v))
        return adb_error_set(err, ADB_E_CONFIG, "%s.%s: must be true or false", path, key);
    *out = json_is_true(v);
    return ADB_OK;
}

/* An integer in [min, max], or fallback when absent. */
static adb_code get_int(json_t *obj, const char *path, const char *key, long long min, long long max,
                        long long fallback, long long *out, adb_error *err)
{
    json_t *v = json_object_get(obj, key);

    *out = fallback;
    if (v == NULL)
        return ADB_OK;
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
        return adb_error_set(err, ADB_E_CONFIG, "%s.%s: must be an integer from %lld to %lld", path, key, min, max);
    *out = json_integer_value(v);
    return ADB_OK;
}

/* An optional sub-object: *out is NULL when absent; unknown keys refused. */
static adb_code get_object(json_t *obj, const char *path, const char *key, const char *const *allowed,
                           json_t **out, char *sub_path, size_t size, adb_error *err)
{
    *out = json_object_get(obj, key);
    snprintf(sub_path, size, "%s.%s", path, key);
    if (*out == NULL)
        return ADB_OK;
    if (!json_is_object(*out))
        return adb_error_set(err, ADB_E_CONFIG, "%s: must be an object", sub_path);
    return check_keys(*out, sub_path, allowed, err);
}

/* An optional absolute path (no fallback). */
static adb_code get_opt_path(json_t *obj, const char *path, const char *key, char **out, adb_error *err)
{
    adb_code rc = get_string(obj, path, key, false, out, err);

    if (rc == ADB_OK && *out != NULL && (*out)[0] != '/')
        return adb_error_set(err, ADB_E_CONFIG, "%s.%s: must be an absolute path, got '%s'", path, key, *out);
    return rc;
}

/* A list of non-empty strings, each accepted by valid(). */
static adb_code get_string_list(json_t *obj, const char *path, const char *key,
                                bool (*valid)(const char *), const char *what,
                                char ***out, size_t *n_out, adb_error *err)
{
    json_t *arr = json_object_get(obj, key);
    size_t i;
    json_t *v;

    *out = NULL;
    *n_out = 0;
    if (arr == NULL)
        return ADB_OK;
    if (!json_is_array(arr) || json_array_size(arr) > MAX_LIST)
        return adb_error_set(err, ADB_E_CONFIG, "%s.%s: must be an array of at most %d %s",
                             path, key, MAX_LIST, what);
    *out = calloc(json_array_size(arr) + 1, sizeof **out);
    if (*out == NULL)
        return adb_error_set(err, ADB_E_NOMEM, "out of memory");
    json_array_foreach(arr, i, v) {
        const char *s = json_string_value(v);
        if (s == NULL || strlen(s) != json_string_length(v) || !valid(s))
            return adb_error_set(err, ADB_E_CONFIG, "%s.%s[%zu]: not a valid %s", path, key, i, what);
        if (((*out)[i] = strdup(s)) == NULL)
            return adb_error_set(err, ADB_E_NOMEM, "out of memory");
        *n_out = i + 1;
    }
    return ADB_OK;
}

bool adb_dns_name_valid(const char *name)
{
    size_t len = strlen(name), label = 0;

    if (len == 0 || len > 253 || name[0] == '.' || name[len - 1] == '.')
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c == '.') {
            if (label == 0 || name[i - 1] == '-')
                return false;
            label = 0;
        } else if (isalnum(c) || c == '_' || (c == '-' && label > 0)) {
            if (++label > 63)
                return false;
        } else {
            return false;
        }
    }
    return name[len - 1] != '-';
}

static bool ip_address_valid(const char *s)
{
    unsigned char buf[16];
    return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

static bool host_valid(const char *s)
{
    return ip_address_valid(s) || adb_dns_name_valid(s);
}

static bool site_valid(const char *s)
{
    /* AD site names are RDN values: printable, no DNS-breaking dots or spaces. */
    return adb_dns_name_valid(s) && strchr(s, '.') == NULL;
}

/* A system account name (what useradd and systemd-sysusers accept), not root. */
static bool user_name_valid(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > 32 || strcmp(s, "root") == 0 || !(islower((unsigned char)s[0]) || s[0] == '_'))
        return false;
    return strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_-") == n;
}


static adb_code parse_domain(json_t *obj, const char *path, adb_domain_config *d, adb_error *err)
{
    static const char *const keys[] = { "name", "use_for_subscriptions", "site", "dcs", NULL };
    json_t *flag;
    adb_code rc;

    if (!json_is_object(obj))
        return adb_error_set(err, ADB_E_CONFIG, "%s: must be an object", path);
    if ((rc = check_keys(obj, path, keys, err)) != ADB_OK)
        return rc;
    if ((rc = get_string(obj, path, "name", true, &d->name, err)) != ADB_OK)
        return rc;
    if (!adb_dns_name_valid(d->name))
        return adb_error_set(err, ADB_E_CONFIG, "%s.name: '%s' is not a DNS domain name", path, d->name);
    adb_ascii_lower_in_place(d->name);
    flag = json_object_get(obj, "use_for_subscriptions");
    if (flag != NULL && !json_is_boolean(flag))
        return adb_error_set(err, ADB_E_CONFIG, "%s.use_for_subscriptions: must be true or false", path);
    d->use_for_subscriptions = flag != NULL && json_is_true(flag);
    if ((rc = get_string(obj, path, "site", false, &d->site, err)) != ADB_OK)
        return rc;
    if (d->site != NULL && !site_valid(d->site))
        return adb_error_set(err, ADB_E_CONFIG, "%s.site: '%s' is not a valid site name", path, d->site);
    return get_string_list(obj, path, "dcs", host_valid, "host name or IP address",
                           &d->dcs, &d->n_dcs, err);
}

static adb_code parse_ldap(json_t *root, adb_ldap_config *l, adb_error *err)
{
    static const char *const keys[] = { "tls", "ca_file", NULL };
    char path[32], *tls = NULL;
    json_t *obj;
    adb_code rc;

    l->tls = ADB_LDAP_TLS_OFF;
    if ((rc = get_object(root, "$", "ldap", keys, &obj, path, sizeof path, err)) != ADB_OK || obj == NULL)
        return rc;
    if ((rc = get_string(obj, path, "tls", false, &tls, err)) != ADB_OK
        || (rc = get_opt_path(obj, path, "ca_file", &l->ca_file, err)) != ADB_OK) {
        free(tls);
        return rc;
    }
    if (tls == NULL || strcmp(tls, "off") == 0)
        l->tls = ADB_LDAP_TLS_OFF;
    else if (strcmp(tls, "starttls") == 0)
        l->tls = ADB_LDAP_TLS_STARTTLS;
    else if (strcmp(tls, "ldaps") == 0)
        l->tls = ADB_LDAP_TLS_LDAPS;
    else
        rc = adb_error_set(err, ADB_E_CONFIG, "%s.tls: '%s' is not one of off, starttls, ldaps", path, tls);
    free(tls);
    return rc;
}

/* A group named by SID, DOMAIN\\name, name@domain or a bare name; the
 * directory resolves it at check time. */
static bool group_name_valid(const char *s)
{
    size_t n = strlen(s);
    return n > 0 && n <= 256 && strspn(s, " ") == 0;
}

static adb_code parse_auth(json_t *root, adb_auth_config *a, adb_error *err)
{
    static const char *const keys[] = { "lockout_threshold", "lockout_window_s", "lockout_margin",
                                        "allow_plaintext_password", "allow_privileged", "refuse_groups",
                                        "key_grace_s", NULL };
    long long threshold, window, grace, margin;
    char path[32];
    json_t *obj;
    adb_code rc;

    if ((rc = get_object(root, "$", "auth", keys, &obj, path, sizeof path, err)) != ADB_OK)
        return rc;
    if (obj == NULL)
        obj = json_object();   /* defaults; a borrowed empty object would leak, so it is freed below */
    else
        json_incref(obj);
    if ((rc = get_int(obj, path, "lockout_threshold", 0, 1000, 0, &threshold, err)) == ADB_OK
        && (rc = get_int(obj, path, "lockout_window_s", 0, 7L * 24 * 3600, 0, &window, err)) == ADB_OK
        && (rc = get_int(obj, path, "key_grace_s", 0, 90L * 24 * 3600, ADB_KEYSTORE_DEFAULT_GRACE_S, &grace, err))
               == ADB_OK
        && (rc = get_int(obj, path, "lockout_margin", 1, 100, 2, &margin, err)) == ADB_OK
        && (rc = get_bool(obj, path, "allow_plaintext_password", false, &a->allow_plaintext_password, err))
               == ADB_OK
        && (rc = get_bool(obj, path, "allow_privileged", false, &a->allow_privileged, err)) == ADB_OK
        && (rc = get_string_list(obj, path, "refuse_groups", group_name_valid, "group SID or name",
                                 &a->refuse_groups, &a->n_refuse_groups, err)) == ADB_OK) {
        a->lockout_threshold = (unsigned)threshold;
        a->lockout_margin = (unsigned)margin;
        a->lockout_window_s = (long)window;
        a->key_grace_s = (long)grace;
    }
    json_decref(obj);
    return rc;
}

static adb_code parse_cache(json_t *root, adb_cache_config *c, adb_error *err)
{
    static const char *const keys[] = { "object_ttl_s", "membership_ttl_s", "negative_ttl_s", "stale_max_age_s",
                                        "search_index", "search_index_refresh_s", NULL };
    long long object, membership, negative, stale, refresh;
    char path[32], *index = NULL;
    json_t *obj;
    adb_code rc;

    if ((rc = get_object(root, "$", "cache", keys, &obj, path, sizeof path, err)) != ADB_OK)
        return rc;
    if (obj == NULL)
        obj = json_object();   /* defaults */
    else
        json_incref(obj);
    if ((rc = get_int(obj, path, "object_ttl_s", 1, 86400, 300, &object, err)) == ADB_OK
        && (rc = get_int(obj, path, "membership_ttl_s", 1, 86400, 120, &membership, err)) == ADB_OK
        && (rc = get_int(obj, path, "negative_ttl_s", 1, 86400, 60, &negative, err)) == ADB_OK
        && (rc = get_int(obj, path, "stale_max_age_s", 0, 7L * 24 * 3600, 3600, &stale, err)) == ADB_OK
        && (rc = get_int(obj, path, "search_index_refresh_s", 5, 3600, 60, &refresh, err)) == ADB_OK
        && (rc = get_string(obj, path, "search_index", false, &index, err)) == ADB_OK) {
        c->object_ttl_s = (int)object;
        c->membership_ttl_s = (int)membership;
        c->negative_ttl_s = (int)negative;
        c->stale_max_age_s = (int)stale;
        c->search_index_refresh_s = (int)refresh;
        if (index == NULL || strcmp(index, "auto") == 0)
            c->search_index = ADB_SEARCH_INDEX_AUTO;
        else if (strcmp(index, "on") == 0)
            c->search_index = ADB_SEARCH_INDEX_ON;
        else if (strcmp(index, "off") == 0)
            c->search_index = ADB_SEARCH_INDEX_OFF;
        else
            rc = adb_error_set(err, ADB_E_CONFIG, "%s.search_index: '%s' is not one of off, on, auto", path, index);
    }
    free(index);
    json_decref(obj);
    return rc;
}

/* amqp://host[:port] or amqps://host[:port]: no credentials (they come from
 * files), no path. */
static adb_code check_broker_url(const char *path, const char *url, adb_error *err)
{
    const char *host = strncmp(url, "amqps://", 8) == 0 ? url + 8 : strncmp(url, "amqp://", 7) == 0 ? url + 7 : NULL;
    char name[256];
    size_t len;

    if (host == NULL)
        return adb_error_set(err, ADB_E_CONFIG, "%s.url: '%s' must start with amqp:// or amqps://", path, url);
    if (strchr(host, '@') != NULL)
        return adb_error_set(err, ADB_E_CONFIG, "%s.url: must not carry credentials: put the user in "
                             "broker.username and the password in broker.password_file", path);
    len = strcspn(host, ":/");
    if (len == 0 || len >= sizeof name)
        return adb_error_set(err, ADB_E_CONFIG, "%s.url: '%s' has no valid host", path, url);
    memcpy(name, host, len);
    name[len] = '\0';
    if (!host_valid(name))
        return adb_error_set(err, ADB_E_CONFIG, "%s.url: '%s' is not a host name or IP address", path, name);
    host += len;
    if (*host == ':') {
        char *end;
        long port = strtol(host + 1, &end, 10);
        if (end == host + 1 || *end != '\0' || port < 1 || port > 65535)
            return adb_error_set(err, ADB_E_CONFIG, "%s.url: '%s' has an invalid port", path, url);
    } else if (*host != '\0') {
        return adb_error_set(err, ADB_E_CONFIG, "%s.url: '%s' must be scheme://host[:port] (the queue goes in "
                             "broker.address)", path, url);
    }
    return ADB_OK;
}

static bool sasl_mechanisms_valid(const char *s)
{
    char buf[128];

    if (strlen(s) >= sizeof buf)
        return false;
    strcpy(buf, s);
    for (char *save = NULL, *m = strtok_r(buf, " ", &save); m != NULL; m = strtok_r(NULL, " ", &save))
        if (strcmp(m, "PLAIN") != 0 && strcmp(m, "EXTERNAL") != 0 && strcmp(m, "ANONYMOUS") != 0)
            return false;
    return strspn(s, " ") != strlen(s);
}

static adb_code parse_proxy(json_t *broker, const char *bpath, adb_proxy_config *p, adb_error *err)
{
    static const char *const keys[] = { "host", "port", "credentials_file", NULL };
    long long port;
    char path[48];
    json_t *obj;
    adb_code rc;

    if ((rc = get_object(broker, bpath, "proxy", keys, &obj, path, sizeof path, err)) != ADB_OK || obj == NULL)
        return rc;
    if ((rc = get_string(obj, path, "host", true, &p->host, err)) != ADB_OK
        || (rc = get_int(obj, path, "port", 1, 65535, 0, &port, err)) != ADB_OK
        || (rc = get_opt_path(obj, path, "credentials_file", &p->credentials_file, err)) != ADB_OK)
        return rc;
    if (!host_valid(p->host))
        return adb_error_set(err, ADB_E_CONFIG, "%s.host: '%s' is not a host name or IP address", path, p->host);
    if (port == 0)
        return adb_error_set(err, ADB_E_CONFIG, "%s.port: required field is missing", path);
    p->port = (unsigned)port;
    return ADB_OK;
}

static adb_code parse_broker(json_t *root, adb_broker_config *b, adb_error *err)
{
    static const char *const keys[] = { "url", "address", "sasl_mechanisms", "username", "password_file",
                                        "ca_file", "cert_file", "key_file", "virtual_host", "proxy",
                                        "max_message_bytes", "max_reply_bytes", "workers", "prefetch", "reconnect_max_s",
                                        "delivery_limit", "status_address", "status_period_s", "forest_address", NULL };
    long long max_bytes, max_reply, workers, prefetch, reconnect, delivery_limit, status_period;
    char path[32];
    json_t *obj;
    adb_code rc;

    b->max_message_bytes = 65536;
    b->max_reply_bytes = 262144;
    b->workers = 4;
    b->prefetch = 8;
    b->reconnect_max_s = 60;
    b->delivery_limit = 5;
    b->status_period_s = 30;
    if ((rc = get_object(root, "$", "broker", keys, &obj, path, sizeof path, err)) != ADB_OK || obj == NULL)
        return rc;
    if ((rc = get_string(obj, path, "url", true, &b->url, err)) != ADB_OK
        || (rc = check_broker_url(path, b->url, err)) != ADB_OK
        || (rc = get_string(obj, path, "address", false, &b->address, err)) != ADB_OK
        || (rc = get_string(obj, path, "sasl_mechanisms", false, &b->sasl_mechanisms, err)) != ADB_OK
        || (rc = get_string(obj, path, "username", false, &b->username, err)) != ADB_OK
        || (rc = get_opt_path(obj, path, "password_file", &b->password_file, err)) != ADB_OK
        || (rc = get_opt_path(obj, path, "ca_file", &b->ca_file, err)) != ADB_OK
        || (rc = get_opt_path(obj, path, "cert_file", &b->cert_file, err)) != ADB_OK
        || (rc = get_opt_path(obj, path, "key_file", &b->key_file, err)) != ADB_OK
        || (rc = get_string(obj, path, "virtual_host", false, &b->virtual_host, err)) != ADB_OK
        || (rc = parse_proxy(obj, path, &b->proxy, err)) != ADB_OK
        || (rc = get_int(obj, path, "max_message_bytes", 1024, 16L << 20, 65536, &max_bytes, err)) != ADB_OK
        || (rc = get_int(obj, path, "max_reply_bytes", 16384, 256L << 20, 262144, &max_reply, err)) != ADB_OK
        || (rc = get_int(obj, path, "workers", 1, 256, 4, &workers, err)) != ADB_OK
        || (rc = get_int(obj, path, "prefetch", 0, 1024, 2 * workers, &prefetch, err)) != ADB_OK
        || (rc = get_int(obj, path, "reconnect_max_s", 1, 3600, 60, &reconnect, err)) != ADB_OK
        || (rc = get_int(obj, path, "delivery_limit", 1, 1000, 5, &delivery_limit, err)) != ADB_OK
        || (rc = get_string(obj, path, "status_address", false, &b->status_address, err)) != ADB_OK
        || (rc = get_int(obj, path, "status_period_s", 0, 3600, 30, &status_period, err)) != ADB_OK
        || (rc = get_string(obj, path, "forest_address", false, &b->forest_address, err)) != ADB_OK)
        return rc;
    if (b->forest_address != NULL && strstr(b->forest_address, "{forest}") == NULL)
        return adb_error_set(err, ADB_E_CONFIG, "%s.forest_address: '%s' must contain {forest} (e.g. "
                             "\"{address}/{forest}\")", path, b->forest_address);
    if (b->forest_address != NULL && status_period == 0)
        return adb_error_set(err, ADB_E_CONFIG, "%s.forest_address needs status_period_s above 0: the probes "
                             "behind the status decide which forests are served", path);
    b->max_message_bytes = (size_t)max_bytes;
    b->max_reply_bytes = (size_t)max_reply;
    b->workers = (unsigned)workers;
    b->prefetch = (unsigned)prefetch;
    b->reconnect_max_s = (unsigned)reconnect;
    b->delivery_limit = (unsigned)delivery_limit;
    b->status_period_s = (unsigned)status_period;
    if ((b->address == NULL && (b->address = strdup("adbridge.requests")) == NULL)
        || (b->status_address == NULL && (b->status_address = strdup("adbridge.status")) == NULL))
        return adb_error_set(err, ADB_E_NOMEM, "out of memory");
    if (b->sasl_mechanisms != NULL && !sasl_mechanisms_valid(b->sasl_mechanisms))
        return adb_error_set(err, ADB_E_CONFIG, "%s.sasl_mechanisms: '%s' must be a space-separated list of "
                             "PLAIN, EXTERNAL, ANONYMOUS", path, b->sasl_mechanisms);
    if ((b->username == NULL) != (b->password_file == NULL))
        return adb_error_set(err, ADB_E_CONFIG, "%s: username and password_file go together (SASL PLAIN)", path);
    if ((b->cert_file == NULL) != (b->key_file == NULL))
        return adb_error_set(err, ADB_E_CONFIG, "%s: cert_file and key_file go together (client certificate)",
                             path);
    if (strncmp(b->url, "amqps://", 8) != 0 && (b->ca_file != NULL || b->cert_file != NULL))
        return adb_error_set(err, ADB_E_CONFIG, "%s: ca_file and cert_file need an amqps:// url", path);
    return ADB_OK;
}

static adb_code parse_root(json_t *root, adb_config *cfg, adb_error *err)
{
    static const char *const keys[] = { "state_dir", "keytab", "machine_principal", "dns_servers",
                                        "log_level", "domains", "ldap", "auth", "cache", "broker", "user", NULL };
    char *level = NULL;
    json_t *domains, *d;
    size_t i;
    adb_code rc;

    if (!json_is_object(root))
        return adb_error_set(err, ADB_E_CONFIG, "$: the configuration must be a JSON object");
    if ((rc = check_keys(root, "$", keys, err)) != ADB_OK
        || (rc = get_path(root, "$", "state_dir", ADB_DEFAULT_STATE_DIR, &cfg->state_dir, err)) != ADB_OK
        || (rc = get_path(root, "$", "keytab", ADB_DEFAULT_KEYTAB, &cfg->keytab, err)) != ADB_OK
        || (rc = get_string(root, "$", "machine_principal", false, &cfg->machine_principal, err)) != ADB_OK
        || (rc = get_string_list(root, "$", "dns_servers", ip_address_valid, "IP address",
                                 &cfg->dns_servers, &cfg->n_dns_servers, err)) != ADB_OK
        || (rc = get_string(root, "$", "log_level", false, &level, err)) != ADB_OK
        || (rc = get_string(root, "$", "user", false, &cfg->user, err)) != ADB_OK)
        return rc;
    if (cfg->user != NULL && !user_name_valid(cfg->user))
        return adb_error_set(err, ADB_E_CONFIG, "$.user: '%s' is not a system user name (e.g. \"adbridge\"; "
                             "not root)", cfg->user);
    if (cfg->machine_principal != NULL && strchr(cfg->machine_principal, '@') == NULL)
        return adb_error_set(err, ADB_E_CONFIG,
                             "$.machine_principal: '%s' must be NAME$@REALM", cfg->machine_principal);
    cfg->log_level = ADB_LOG_INFO;
    if (level != NULL && !adb_log_level_parse(level, &cfg->log_level)) {
        rc = adb_error_set(err, ADB_E_CONFIG,
                           "$.log_level: '%s' is not one of error, warn, info, debug", level);
        free(level);
        return rc;
    }
    free(level);
    if ((rc = parse_ldap(root, &cfg->ldap, err)) != ADB_OK || (rc = parse_auth(root, &cfg->auth, err)) != ADB_OK
        || (rc = parse_cache(root, &cfg->cache, err)) != ADB_OK || (rc = parse_broker(root, &cfg->broker, err)) != ADB_OK)
        return rc;

    domains = json_object_get(root, "domains");
    if (!json_is_array(domains) || json_array_size(domains) == 0 || json_array_size(domains) > MAX_LIST)
        return adb_error_set(err, ADB_E_CONFIG,
                             "$.domains: required, an array of 1 to %d domain objects", MAX_LIST);
    cfg->domains = calloc(json_array_size(domains), sizeof *cfg->domains);
    if (cfg->domains == NULL)
        return adb_error_set(err, ADB_E_NOMEM, "out of memory");
    json_array_foreach(domains, i, d) {
        char path[48];
        snprintf(path, sizeof path, "$.domains[%zu]", i);
        cfg->n_domains = i + 1;
        if ((rc = parse_domain(d, path, &cfg->domains[i], err)) != ADB_OK)
            return rc;
        for (size_t j = 0; j < i; j++)
            if (strcmp(cfg->domains[j].name, cfg->domains[i].name) == 0)
                return adb_error_set(err, ADB_E_CONFIG, "%s.name: '%s' is listed twice", path,
                                     cfg->domains[i].name);
    }
    return ADB_OK;
}

adb_code adb_config_parse(const char *text, size_t len, const char *origin,
                          adb_config **out, adb_error *err)
{
    json_error_t jerr;
    json_t *root;
    adb_config *cfg;
    adb_code rc;

    *out = NULL;
    if (len > MAX_CONFIG_BYTES)
        return adb_error_set(err, ADB_E_CONFIG, "%s: larger than %d bytes", origin, MAX_CONFIG_BYTES);
    root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        /* Not jansson's text: it quotes the file, which is the secret when
         * the path points at a secret file by mistake. */
        rc = adb_error_set(err, ADB_E_CONFIG, "%s: line %d column %d: %s", origin, jerr.line, jerr.column,
                           adb_json_error_kind(&jerr));
        adb_wipe(&jerr, sizeof jerr);
        return rc;
    }
    cfg = calloc(1, sizeof *cfg);
    if (cfg == NULL || (cfg->path = strdup(origin)) == NULL) {
        json_decref(root);
        adb_config_free(cfg);
        return adb_error_set(err, ADB_E_NOMEM, "out of memory");
    }
    rc = parse_root(root, cfg, err);
    json_decref(root);
    if (rc != ADB_OK) {
        adb_error_prefix(err, "%s", origin);
        adb_config_free(cfg);
        return rc;
    }
    *out = cfg;
    return ADB_OK;
}

adb_code adb_config_load(const char *path, adb_config **out, adb_error *err)
{
    char *buf;
    size_t len;
    adb_code rc;

    *out = NULL;
    rc = adb_file_read(path, MAX_CONFIG_BYTES, &buf, &len, err);
    if (rc == ADB_E_NOT_FOUND)
        return adb_error_set(err, ADB_E_CONFIG, "cannot open configuration %s: no such file "
                             "(pass --config FILE or set ADBRIDGE_CONFIG)", path);
    if (rc != ADB_OK) {
        adb_error_prefix(err, "configuration");
        if (err != NULL)
            err->code = ADB_E_CONFIG;
        return ADB_E_CONFIG;
    }
    rc = adb_config_parse(buf, len, path, out, err);
    adb_wipe(buf, len);   /* it may be a secret file named by mistake */
    free(buf);
    return rc;
}

static void free_list(char **list, size_t n)
{
    for (size_t i = 0; list != NULL && i < n; i++)
        free(list[i]);
    free(list);
}

void adb_config_free(adb_config *cfg)
{
    if (cfg == NULL)
        return;
    for (size_t i = 0; i < cfg->n_domains; i++) {
        free(cfg->domains[i].name);
        free(cfg->domains[i].site);
        free_list(cfg->domains[i].dcs, cfg->domains[i].n_dcs);
    }
    free(cfg->domains);
    free_list(cfg->dns_servers, cfg->n_dns_servers);
    free_list(cfg->auth.refuse_groups, cfg->auth.n_refuse_groups);
    free(cfg->path);
    free(cfg->user);
    free(cfg->state_dir);
    free(cfg->keytab);
    free(cfg->machine_principal);
    free(cfg->ldap.ca_file);
    free(cfg->broker.url);
    free(cfg->broker.address);
    free(cfg->broker.status_address);
    free(cfg->broker.forest_address);
    free(cfg->broker.sasl_mechanisms);
    free(cfg->broker.username);
    free(cfg->broker.password_file);
    free(cfg->broker.ca_file);
    free(cfg->broker.cert_file);
    free(cfg->broker.key_file);
    free(cfg->broker.virtual_host);
    free(cfg->broker.proxy.host);
    free(cfg->broker.proxy.credentials_file);
    free(cfg);
}

const char *adb_config_path(const char *explicit_path)
{
    const char *env = getenv("ADBRIDGE_CONFIG");

    if (explicit_path != NULL)
        return explicit_path;
    if (env != NULL && env[0] != '\0')
        return env;
    return ADB_DEFAULT_CONFIG_PATH;
}

const adb_domain_config *adb_config_domain(const adb_config *cfg, const char *name)
{
    for (size_t i = 0; cfg != NULL && i < cfg->n_domains; i++)
        if (strcasecmp(cfg->domains[i].name, name) == 0)
            return &cfg->domains[i];
    return NULL;
}
