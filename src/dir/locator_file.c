/* DC locator: the lists kept between processes (adb_locator_persist,
 * include/adbridge/locator.h). */
#include "config.h"

#include <adbridge/clock.h>
#include <adbridge/statecache.h>

#include "locator_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { MAX_FILE_ENTRIES = 512 };

adb_code adb_locator_persist(adb_locator *loc, const char *path, adb_error *err)
{
    char *scope = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&scope, &len);

    if (f == NULL)
        return adb_error_set(err, ADB_E_NOMEM, "out of memory");
    /* What a list depends on: the DNS servers asked, each domain's pinned site and DCs. */
    fprintf(f, "v1 dns=");
    for (size_t i = 0; i < loc->cfg->n_dns_servers; i++)
        fprintf(f, "%s,", loc->cfg->dns_servers[i]);
    for (size_t i = 0; i < loc->n; i++) {
        const adb_domain_config *c = loc->doms[i].cfg;
        fprintf(f, " domain=%s site=%s dcs=", c->name, c->site != NULL ? c->site : "");
        for (size_t k = 0; k < c->n_dcs; k++)
            fprintf(f, "%s,", c->dcs[k]);
    }
    free(loc->file);
    free(loc->scope);
    loc->file = loc->scope = NULL;
    if (fclose(f) != 0 || scope == NULL || (loc->file = strdup(path)) == NULL) {
        free(scope);
        return adb_error_set(err, ADB_E_NOMEM, "out of memory");
    }
    loc->scope = scope;
    return ADB_OK;
}

/* Installs, once, the lists an earlier process left in the file where this
 * one has none.  A file that is not right in every part is ignored whole
 * (a debug line says why): the locator then starts from DNS. */
void locator_read_file(adb_locator *loc)
{
    adb_dc_cache_entry *v = NULL;
    json_t *data = NULL, *entries, *j;
    adb_error e = { 0 };
    time_t now = time(NULL);
    size_t n = 0, i;
    adb_code rc;

    if ((rc = adb_statecache_read(loc->file, "dcs", loc->scope, now, &data, NULL, NULL, &e)) != ADB_OK) {
        if (rc != ADB_E_NOT_FOUND)
            adb_statecache_log_ignored(loc->log, loc->file, &e);
        return;
    }
    entries = json_object_get(data, "entries");
    if (json_object_size(data) != 1 || !json_is_array(entries) || json_array_size(entries) > MAX_FILE_ENTRIES) {
        adb_error_set(&e, ADB_E_PROTOCOL, "DC cache: expected {\"entries\": [...]}");
        goto ignored;
    }
    if ((v = calloc(json_array_size(entries) + 1, sizeof *v)) == NULL)
        goto out;
    json_array_foreach(entries, i, j) {
        if (adb_dc_cache_entry_from_json(j, &v[i], &e) != ADB_OK)
            goto ignored;
        n++;
    }
    pthread_mutex_lock(&loc->mu);
    int64_t mono = adb_mono_ms();
    for (i = 0; i < n; i++) {
        dom *d = locator_find(loc, v[i].list.domain);
        int k = v[i].gc ? 1 : 0;
        if (d == NULL || v[i].expires <= now || (d->cache[k].dcs != NULL && d->expires[k] > mono))
            continue;
        adb_dc_list_free(&d->cache[k]);
        d->cache[k] = v[i].list;
        d->cache[k].from_cache = true;
        d->expires[k] = mono + (int64_t)(v[i].expires - now) * 1000;
        memset(&v[i].list, 0, sizeof v[i].list);   /* moved */
    }
    locator_changed(loc);
    pthread_mutex_unlock(&loc->mu);
    goto out;
ignored:
    adb_statecache_log_ignored(loc->log, loc->file, &e);
out:
    for (i = 0; v != NULL && i < n; i++)
        adb_dc_list_free(&v[i].list);
    free(v);
    json_decref(data);
}

/* Writes every list this process holds that has time left (fresh ones and
 * remembered ones), for the next process. */
void locator_write_file(adb_locator *loc)
{
    json_t *entries = json_array();
    adb_error e = { 0 };
    time_t now = time(NULL), latest = now + 1;
    bool ok = entries != NULL;

    pthread_mutex_lock(&loc->mu);
    int64_t mono = adb_mono_ms();
    for (size_t i = 0; ok && i < loc->n; i++)
        for (int k = 0; k < 2; k++) {
            const dom *d = &loc->doms[i];
            adb_dc_cache_entry ce = { .gc = k == 1, .list = d->cache[k] };
            if (d->cache[k].dcs == NULL || d->cache[k].n == 0 || d->expires[k] <= mono + 1000)
                continue;
            ce.expires = now + (time_t)((d->expires[k] - mono) / 1000);
            if (ce.expires > now + ADB_STATECACHE_MAX_TTL_S)
                ce.expires = now + ADB_STATECACHE_MAX_TTL_S;
            if (ce.expires > latest)
                latest = ce.expires;
            ok &= json_array_append_new(entries, adb_dc_cache_entry_to_json(&ce)) == 0;
        }
    pthread_mutex_unlock(&loc->mu);
    if (!ok) {
        json_decref(entries);
        return;
    }
    if (adb_statecache_write(loc->file, "dcs", loc->scope, now, latest, json_pack("{s:o}", "entries", entries), &e)
        != ADB_OK)
        adb_log(loc->log, ADB_LOG_DEBUG, "state_cache_unwritten", "file=%s error=%s", V(loc->file), V(e.message));
}
