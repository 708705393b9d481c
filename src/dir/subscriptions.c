/* Persisted "use for subscriptions" flags (see include/adbridge/subscriptions.h).
 *
 * State file: {"version": 1, "domains": {"adb.test": true, ...}} — every
 * flag, not only the changed ones, so the file alone says what is in use. */
#include "config.h"

#include <adbridge/text.h>
#include <adbridge/fileio.h>
#include <adbridge/subscriptions.h>

#include <ctype.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum { STATE_VERSION = 1, MAX_STATE_BYTES = 1 << 20, MAX_DOMAINS = 4096 };

struct adb_subscriptions {
    pthread_mutex_t mu;
    char *path;
    adb_subscription *v;
    size_t n, cap;
};

static adb_subscription *find(adb_subscriptions *s, const char *domain)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcasecmp(s->v[i].name, domain) == 0)
            return &s->v[i];
    return NULL;
}

static bool lower_copy(char *dst, size_t size, const char *src)
{
    return adb_ascii_case_copy(dst, size, src, false);
}

/* Sets or adds a flag (no persistence). */
static adb_code put(adb_subscriptions *s, const char *domain, bool enabled, bool persisted, adb_error *err)
{
    adb_subscription *d = find(s, domain);

    if (d == NULL) {
        if (s->n == s->cap) {
            size_t cap = s->cap ? s->cap * 2 : 8;
            adb_subscription *grown = realloc(s->v, cap * sizeof *grown);
            if (grown == NULL)
                return adb_error_set(err, ADB_E_NOMEM, "out of memory");
            s->v = grown;
            s->cap = cap;
        }
        d = &s->v[s->n];
        memset(d, 0, sizeof *d);
        if (!lower_copy(d->name, sizeof d->name, domain))
            return adb_error_set(err, ADB_E_INVALID_REQUEST, "domain name too long");
        s->n++;
    }
    d->enabled = enabled;
    d->persisted = persisted;
    return ADB_OK;
}

static adb_code corrupt(const char *path, adb_error *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static adb_code corrupt(const char *path, adb_error *err, const char *fmt, ...)
{
    char what[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return adb_error_set(err, ADB_E_CONFIG,
                         "state file %s is corrupt: %s; fix it, or remove it to fall back to the "
                         "use_for_subscriptions values of the configuration", path, what);
}

static adb_code load(adb_subscriptions *s, adb_error *err)
{
    char *text = NULL;
    size_t len = 0;
    json_error_t jerr;
    json_t *root, *domains, *value;
    const char *key;
    adb_code rc = adb_file_read(s->path, MAX_STATE_BYTES, &text, &len, err);

    if (rc == ADB_E_NOT_FOUND) {
        adb_error_clear(err);
        return ADB_OK;   /* nothing changed since the configuration */
    }
    if (rc != ADB_OK)
        return rc;
    root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    free(text);
    if (root == NULL)
        return corrupt(s->path, err, "not JSON (%s)", jerr.text);
    if (!json_is_object(root) || json_object_size(root) != 2
        || !json_is_integer(json_object_get(root, "version"))
        || !json_is_object(domains = json_object_get(root, "domains"))) {
        json_decref(root);
        return corrupt(s->path, err, "%s", "expected exactly {\"version\": 1, \"domains\": {...}}");
    }
    if (json_integer_value(json_object_get(root, "version")) != STATE_VERSION) {
        json_decref(root);
        return corrupt(s->path, err, "%s", "unknown version (written by a newer adbridge?)");
    }
    if (json_object_size(domains) > MAX_DOMAINS) {
        json_decref(root);
        return corrupt(s->path, err, "%s", "too many domains");
    }
    json_object_foreach(domains, key, value) {
        if (!adb_dns_name_valid(key) || !json_is_boolean(value)) {
            rc = corrupt(s->path, err, "entry '%.100s' is not a DNS name mapped to true or false", key);
            break;
        }
        if ((rc = put(s, key, json_is_true(value), true, err)) != ADB_OK)
            break;
    }
    json_decref(root);
    return rc;
}

adb_code adb_subscriptions_open(const adb_config *cfg, adb_subscriptions **out, adb_error *err)
{
    adb_subscriptions *s = calloc(1, sizeof *s);
    size_t n;
    adb_code rc = ADB_OK;

    *out = NULL;
    if (s == NULL)
        return adb_error_set(err, ADB_E_NOMEM, "out of memory");
    pthread_mutex_init(&s->mu, NULL);
    n = strlen(cfg->state_dir) + sizeof "/" ADB_SUBSCRIPTIONS_FILE;
    if ((s->path = malloc(n)) == NULL) {
        adb_subscriptions_free(s);
        return adb_error_set(err, ADB_E_NOMEM, "out of memory");
    }
    snprintf(s->path, n, "%s/%s", cfg->state_dir, ADB_SUBSCRIPTIONS_FILE);
    for (size_t i = 0; i < cfg->n_domains && rc == ADB_OK; i++)
        rc = put(s, cfg->domains[i].name, cfg->domains[i].use_for_subscriptions, false, err);
    if (rc == ADB_OK)
        rc = load(s, err);
    if (rc != ADB_OK) {
        adb_subscriptions_free(s);
        return rc;
    }
    *out = s;
    return ADB_OK;
}

void adb_subscriptions_free(adb_subscriptions *s)
{
    if (s == NULL)
        return;
    free(s->v);
    free(s->path);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

const char *adb_subscriptions_path(const adb_subscriptions *s)
{
    return s->path;
}

bool adb_subscriptions_enabled(adb_subscriptions *s, const char *domain)
{
    adb_subscription *d;
    bool on;

    pthread_mutex_lock(&s->mu);
    d = domain != NULL ? find(s, domain) : NULL;
    on = d != NULL && d->enabled;
    pthread_mutex_unlock(&s->mu);
    return on;
}

bool adb_subscriptions_known(adb_subscriptions *s, const char *domain)
{
    bool known;

    pthread_mutex_lock(&s->mu);
    known = domain != NULL && find(s, domain) != NULL;
    pthread_mutex_unlock(&s->mu);
    return known;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(((const adb_subscription *)a)->name, ((const adb_subscription *)b)->name);
}

/* The state file as it would be with domain set to enabled. */
static char *render(adb_subscriptions *s, const char *domain, bool enabled)
{
    json_t *root = json_object(), *domains = json_object();
    char name[256];
    char *text;

    lower_copy(name, sizeof name, domain);
    json_object_set_new(root, "version", json_integer(STATE_VERSION));
    for (size_t i = 0; i < s->n; i++)
        json_object_set_new(domains, s->v[i].name, json_boolean(s->v[i].enabled));
    json_object_set_new(domains, name, json_boolean(enabled));
    json_object_set_new(root, "domains", domains);
    text = json_dumps(root, JSON_INDENT(2) | JSON_SORT_KEYS);
    json_decref(root);
    return text;
}

adb_code adb_subscriptions_set(adb_subscriptions *s, const char *domain, bool enabled, adb_error *err)
{
    char *text;
    adb_code rc;

    if (domain == NULL || strlen(domain) >= sizeof s->v[0].name || !adb_dns_name_valid(domain))
        return adb_error_set(err, ADB_E_INVALID_REQUEST, "'%.200s' is not a DNS domain name",
                             domain != NULL ? domain : "");
    pthread_mutex_lock(&s->mu);
    if ((text = render(s, domain, enabled)) == NULL) {
        pthread_mutex_unlock(&s->mu);
        return adb_error_set(err, ADB_E_NOMEM, "out of memory");
    }
    rc = adb_file_write_atomic(s->path, text, strlen(text), 0600, err);
    free(text);
    if (rc == ADB_OK) {
        rc = put(s, domain, enabled, true, err);
        for (size_t i = 0; rc == ADB_OK && i < s->n; i++)
            s->v[i].persisted = true;   /* the file now holds every flag */
    } else {
        adb_error_prefix(err, "the use-for-subscriptions flag of %s was not changed", domain);
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

adb_code adb_subscriptions_list(adb_subscriptions *s, adb_subscription **out, size_t *n, adb_error *err)
{
    pthread_mutex_lock(&s->mu);
    *n = s->n;
    *out = malloc((s->n ? s->n : 1) * sizeof **out);
    if (*out != NULL && s->n > 0)
        memcpy(*out, s->v, s->n * sizeof **out);
    pthread_mutex_unlock(&s->mu);
    if (*out == NULL) {
        *n = 0;
        return adb_error_set(err, ADB_E_NOMEM, "out of memory");
    }
    qsort(*out, *n, sizeof **out, cmp_name);
    return ADB_OK;
}
