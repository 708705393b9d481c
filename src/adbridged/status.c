/* Status announcements (status.h). */
#include "config.h"

#include "status.h"

#include <adbridge/clock.h>
#include <adbridge/krb.h>
#include <adbridge/ldap_conn.h>
#include <adbridge/locator.h>
#include <adbridge/pool.h>
#include <adbridge/proto.h>

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

enum {
    TICK_MS = 1000,        /* how often health's data is looked at for a change */
    HYSTERESIS = 2,        /* probes in a row that must agree before a forest is lost or served again */
    MAX_SERVED = 16,       /* forests tracked for broker.forest_address */
};

/* Whether the instance serves a forest (broker.forest_address), with hysteresis. */
typedef struct served {
    char forest[256];
    bool on;
    unsigned streak;       /* probes in a row that disagreed with on */
} served;

/* What the last probe of one configured domain found. */
typedef struct probe {
    char forest[256];      /* DnsForestName from the ping; "" until one answered */
    char site[64];         /* ClientSiteName from the ping */
    adb_code code;         /* ADB_OK: a DC answered */
} probe;

struct adbd_status {
    const adb_config *cfg;
    adb_service *svc;
    adb_dir *dir;
    adb_link *link;
    unsigned workers;
    const adb_logger *log;
    probe *probes;         /* one per cfg->domains[i] */
    served served[MAX_SERVED];
    size_t n_served;
    pthread_t thread;
    pthread_mutex_t mu;    /* stop */
    pthread_cond_t cv;
    bool stop;
    bool started;
};

/* A read of a DC's root entry through the pool: on a connection the
 * machine account bound (the pool connects and binds again when the one it
 * kept has died), so the forest is served only where requests can be. */
static adb_code read_root(adb_ldap_conn *c, void *arg, adb_error *err)
{
    static const char *const attrs[] = { "currentTime", NULL };
    adb_ldap_entry *e = NULL;
    adb_code rc = adb_ldap_read(c, "", NULL, attrs, &e, err);

    (void)arg;
    adb_ldap_entry_free(e);
    return rc;
}

/* The locator's DNS query and pings of each domain marked for use (a DC
 * that answers is up in health's data, one that does not is down), then a
 * read on a bound connection to one of its DCs. */
static void probe_domains(adbd_status *s)
{
    adb_locator *loc = adb_dir_locator(s->dir);

    for (size_t i = 0; i < s->cfg->n_domains; i++) {
        adb_dc_list list;
        adb_error err = { 0 };
        probe *p = &s->probes[i];
        memset(&list, 0, sizeof list);
        p->code = adb_locator_get(loc, s->cfg->domains[i].name, ADB_LOCATE_FORCE, NULL, &list, &err);
        if (p->code == ADB_OK) {
            snprintf(p->forest, sizeof p->forest, "%s", list.forest);
            snprintf(p->site, sizeof p->site, "%s", list.client_site);
            p->code = adb_pool_run(adb_dir_pool(s->dir), s->cfg->domains[i].name, ADB_POOL_DC, read_root, NULL, &err);
            if (p->code != ADB_OK)
                adb_log(s->log, ADB_LOG_DEBUG, "forest_probe", "domain=%s stage=ldap code=%s",
                        s->cfg->domains[i].name, adb_code_name(p->code));
        }
        adb_dc_list_free(&list);
    }
}

/* The forest of configured domain i, lower case: from its last good ping, else its own name. */
static void forest_name(const adbd_status *s, size_t i, char *buf, size_t size)
{
    snprintf(buf, size, "%s", s->probes[i].forest[0] != '\0' ? s->probes[i].forest : s->cfg->domains[i].name);
    for (char *c = buf; *c != '\0'; c++)
        if (*c >= 'A' && *c <= 'Z')
            *c = (char)(*c - 'A' + 'a');
}

/* After a probe: a forest is served while one of its domains answers; it
 * is lost after HYSTERESIS failed probes in a row, and served again after
 * HYSTERESIS good ones (at start, at once).  The link gets the new list
 * when it changed. */
static void update_served(adbd_status *s)
{
    char names[MAX_SERVED][256];
    bool ok[MAX_SERVED] = { false };
    const char *list[MAX_SERVED];
    size_t nf = 0, n = 0;
    bool changed = false;

    /* Each forest once: served while one of its domains answered. */
    for (size_t i = 0; i < s->cfg->n_domains; i++) {
        char f[256];
        size_t k;
        forest_name(s, i, f, sizeof f);
        for (k = 0; k < nf && strcmp(names[k], f) != 0; k++)
            ;
        if (k == nf) {
            if (nf == MAX_SERVED)
                continue;
            snprintf(names[nf++], sizeof names[0], "%s", f);
        }
        ok[k] = ok[k] || s->probes[i].code == ADB_OK;
    }
    for (size_t k = 0; k < nf; k++) {
        served *sv = NULL;
        for (size_t m = 0; m < s->n_served; m++)
            if (strcmp(s->served[m].forest, names[k]) == 0)
                sv = &s->served[m];
        if (sv == NULL && s->n_served < MAX_SERVED) {
            sv = &s->served[s->n_served++];
            snprintf(sv->forest, sizeof sv->forest, "%s", names[k]);
            sv->on = ok[k];
            changed = true;
        } else if (sv != NULL && ok[k] != sv->on && ++sv->streak >= HYSTERESIS) {
            sv->on = ok[k];
            sv->streak = 0;
            changed = true;
            adb_log(s->log, ADB_LOG_INFO, "forest_serving", "forest=%s serving=%s", sv->forest, ok[k] ? "yes" : "no");
        } else if (sv != NULL && ok[k] == sv->on) {
            sv->streak = 0;
        }
    }
    for (size_t m = 0; m < s->n_served; m++)
        if (s->served[m].on)
            list[n++] = s->served[m].forest;
    if (changed && s->cfg->broker.forest_address != NULL)
        adb_link_set_forests(s->link, list, n);
}

/* health's result, in process (no network I/O). */
static json_t *health_result(adbd_status *s)
{
    json_t *req = json_pack("{s:i,s:s,s:s,s:{}}", "v", ADB_PROTO_VERSION, "id", "status", "op", "health", "params");
    json_t *reply = req != NULL ? adb_dispatch_local(s->svc, req) : NULL;
    json_t *result = json_incref(json_object_get(reply, "result"));

    json_decref(req);
    json_decref(reply);
    return result;
}

static const probe *probe_of(const adbd_status *s, const char *domain)
{
    for (size_t i = 0; i < s->cfg->n_domains; i++)
        if (strcasecmp(s->cfg->domains[i].name, domain) == 0)
            return &s->probes[i];
    return NULL;
}

/* {"domain", "reachable", "dcs", "error"} of one of health's domains, added
 * to its forest in forests. */
static void add_domain(const adbd_status *s, json_t *forests, const json_t *hd)
{
    const char *name = json_string_value(json_object_get(hd, "domain"));
    const probe *p = name != NULL ? probe_of(s, name) : NULL;
    const char *forest = p != NULL && p->forest[0] != '\0' ? p->forest : name;
    json_t *dcs = json_array(), *dc, *f = NULL, *item, *up = json_string("up");
    size_t i;

    if (name == NULL || dcs == NULL || !json_is_true(json_object_get(hd, "use_for_subscriptions"))) {
        json_decref(dcs);
        json_decref(up);
        return;
    }
    json_array_foreach(json_object_get(hd, "dcs"), i, dc)
        if (json_equal(json_object_get(dc, "state"), up))
            json_array_append(dcs, json_object_get(dc, "host"));
    json_decref(up);
    json_array_foreach(forests, i, item)
        if (strcasecmp(json_string_value(json_object_get(item, "forest")), forest) == 0)
            f = item;
    if (f == NULL) {
        f = json_pack("{s:s,s:b,s:[]}", "forest", forest, "reachable", 0, "domains");
        json_array_append_new(forests, f);
    }
    if (json_array_size(dcs) > 0)
        json_object_set_new(f, "reachable", json_true());
    json_array_append_new(json_object_get(f, "domains"),
                          json_pack("{s:s,s:b,s:o,s:o}", "domain", name, "reachable", json_array_size(dcs) > 0, "dcs",
                                    dcs, "error", p != NULL && p->code != ADB_OK ? json_string(adb_code_name(p->code))
                                                                                 : json_null()));
}

/* The parts of the status whose change is announced at once: all but the
 * load and the time. */
static json_t *stable_part(adbd_status *s, const json_t *health)
{
    json_t *keys = json_array(), *forests = json_array(), *item, *site = json_null();
    const char *principal = adb_krb_principal(adb_dir_krb(s->dir));
    char host[256];
    size_t i;

    json_array_foreach(json_object_get(health, "keys"), i, item)
        json_array_append(keys, json_object_get(item, "key_id"));
    json_array_foreach(json_object_get(health, "domains"), i, item)
        add_domain(s, forests, item);
    for (i = 0; i < s->cfg->n_domains && json_is_null(site); i++)
        if (s->probes[i].code == ADB_OK && s->probes[i].site[0] != '\0')
            site = json_string(s->probes[i].site);
    if (gethostname(host, sizeof host) != 0)
        snprintf(host, sizeof host, "unknown");
    host[sizeof host - 1] = '\0';
    return json_pack("{s:i,s:s,s:s,s:s,s:s,s:s?,s:{s:O,s:O},s:o,s:o,s:o,s:i,s:i}",
                     "v", ADB_PROTO_VERSION, "type", "status", "instance", adb_link_container_id(s->link),
                     "host", host, "principal", principal != NULL ? principal : "-",
                     "version", json_string_value(json_object_get(json_object_get(health, "bridge"), "version")),
                     "protocol", "versions", json_object_get(json_object_get(health, "protocol"), "versions"),
                     "level", json_object_get(json_object_get(health, "protocol"), "level"),
                     "site", site, "key_ids", keys, "forests", forests, "workers", (int)s->workers,
                     "period_s", (int)s->cfg->broker.status_period_s);
}

static void announce(adbd_status *s, json_t *doc, unsigned busy, const char *why)
{
    char *text;

    json_object_set_new(doc, "workers_busy", json_integer(busy));
    json_object_set_new(doc, "sent", adb_proto_time(adb_wall_ms() / 1000));
    if ((text = json_dumps(doc, JSON_COMPACT)) == NULL)
        return;
    adb_link_announce(s->link, text, strlen(text), s->cfg->broker.status_period_s * 2000u);
    adb_log(s->log, strcmp(why, "period") == 0 ? ADB_LOG_DEBUG : ADB_LOG_INFO, "status_announced",
            "reason=%s bytes=%zu", why, strlen(text));
    free(text);
}

static bool wait_stop(adbd_status *s, int ms)
{
    struct timespec ts;
    bool stop;

    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&s->mu);
    if (!s->stop)
        pthread_cond_timedwait(&s->cv, &s->mu, &ts);
    stop = s->stop;
    pthread_mutex_unlock(&s->mu);
    return stop;
}

static void *run(void *arg)
{
    adbd_status *s = arg;
    int64_t period_ms = (int64_t)s->cfg->broker.status_period_s * 1000, next_probe = 0, last_sent = 0;
    uint64_t last_connects = 0;
    char *last = NULL;

    do {
        adb_link_state st;
        json_t *health, *doc;
        char *key;
        int64_t now = adb_mono_ms();
        if (now >= next_probe) {
            probe_domains(s);
            update_served(s);
            next_probe = adb_mono_ms() + period_ms;
        }
        adb_link_state_get(s->link, &st);
        if ((health = health_result(s)) == NULL)
            continue;
        doc = stable_part(s, health);
        json_decref(health);
        key = doc != NULL ? json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
        if (key != NULL && st.status == ADB_LINK_CONNECTED) {
            const char *why = st.connects != last_connects ? "connected"
                              : last == NULL || strcmp(key, last) != 0 ? "change"
                              : now - last_sent >= period_ms ? "period" : NULL;
            if (why != NULL) {
                announce(s, doc, st.in_flight, why);
                last_sent = now;
                last_connects = st.connects;
                free(last);
                last = key;
                key = NULL;
            }
        }
        free(key);
        json_decref(doc);
    } while (!wait_stop(s, TICK_MS));
    free(last);
    return NULL;
}

adb_code adbd_status_start(const adb_config *cfg, adb_service *svc, adb_dir *dir, adb_link *link, unsigned workers,
                           const adb_logger *log, adbd_status **out, adb_error *err)
{
    adbd_status *s;
    int r;

    *out = NULL;
    if (cfg->broker.status_period_s == 0 || link == NULL)
        return ADB_OK;
    if ((s = calloc(1, sizeof *s)) == NULL || (s->probes = calloc(cfg->n_domains + 1, sizeof *s->probes)) == NULL) {
        free(s);
        return adb_error_set(err, ADB_E_NOMEM, "out of memory");
    }
    *s = (adbd_status){ .cfg = cfg, .svc = svc, .dir = dir, .link = link, .workers = workers, .log = log,
                        .probes = s->probes };
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    if ((r = pthread_create(&s->thread, NULL, run, s)) == 0)
        s->started = true;
    else {
        adbd_status_stop(s);
        return adb_error_set(err, ADB_E_INTERNAL, "cannot start the status thread: %s", strerror(r));
    }
    *out = s;
    return ADB_OK;
}

void adbd_status_stop(adbd_status *s)
{
    if (s == NULL)
        return;
    pthread_mutex_lock(&s->mu);
    s->stop = true;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    if (s->started)
        pthread_join(s->thread, NULL);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s->probes);
    free(s);
}
