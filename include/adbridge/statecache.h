/* What the CLI keeps in its state directory between runs, so that a new
 * process does not start from nothing: the topology (directory.h) and the
 * DCs the locator found (locator.h).  The machine's tickets are the third
 * file there, written by krb.h (adb_krb_options.ccache_file).
 *
 * Every file is a hint, never trusted blindly.  It is written atomically
 * (mode 0600, renamed into place) and read defensively: a file that is not
 * a regular file of this user closed to group and others, that is larger
 * than its bound, that is not the JSON written here (format, version, and
 * every field checked as a decoder of network data checks it), that was
 * written for another configuration (its scope), or whose time is up, is
 * ignored — with a debug line saying why — and replaced by the next fresh
 * read.  A DC from the cache that fails falls back to a fresh locate.
 *
 * The daemon keeps all of this in memory and does not use these files. */
#ifndef ADBRIDGE_STATECACHE_H
#define ADBRIDGE_STATECACHE_H

#include <adbridge/error.h>
#include <adbridge/locator.h>
#include <adbridge/log.h>
#include <adbridge/topology.h>

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

/* File names in the state directory. */
#define ADB_STATECACHE_CCACHE "machine.ccache"
#define ADB_STATECACHE_TOPOLOGY "topology.cache"
#define ADB_STATECACHE_DCS "dcs.cache"

enum {
    ADB_STATECACHE_MAX_BYTES = 1 << 20,    /* larger files are ignored */
    ADB_STATECACHE_MAX_TTL_S = 86400,      /* a file claiming longer is ignored */
    ADB_STATECACHE_SCOPE_MAX = 16384,
};

/* True when dir may hold the caches: a directory closed to group and
 * others (0700) owned by this user (or by anyone when running as root).
 * Else false, with why set. */
bool adb_statecache_dir_ok(const char *dir, char *why, size_t size);

/* ---- the envelope shared by the cache files ----
 *
 *   {"format": "adbridge-KIND-cache", "version": 1, "scope": "...",
 *    "written": UNIX, "expires": UNIX, "data": {...}}
 *
 * scope says what the content depends on (the machine account, the domains
 * and their flags, DNS servers...): a file of another scope is foreign. */

/* The envelope's text (malloc'd); takes data over.  NULL when out of memory. */
char *adb_statecache_encode(const char *kind, const char *scope, time_t written, time_t expires, json_t *data);

/* Checks the envelope of text and returns its data (a new reference) when
 * it is kind's, version 1, of scope, written no later than now (+ 5 min of
 * clock slack), at most ADB_STATECACHE_MAX_TTL_S long, and not expired at
 * now.  written and expires (may be NULL) get its times.  ADB_E_PROTOCOL
 * with the reason otherwise. */
adb_code adb_statecache_decode(const char *text, size_t len, const char *kind, const char *scope, time_t now,
                               json_t **data, time_t *written, time_t *expires, adb_error *err);

/* Reads path (checked as above) and decodes it.  ADB_E_NOT_FOUND when there
 * is no file; ADB_E_PROTOCOL (or io_error) with the reason otherwise. */
adb_code adb_statecache_read(const char *path, const char *kind, const char *scope, time_t now, json_t **data,
                             time_t *written, time_t *expires, adb_error *err);

/* Encodes and writes path atomically, mode 0600; takes data over. */
adb_code adb_statecache_write(const char *path, const char *kind, const char *scope, time_t written,
                              time_t expires, json_t *data, adb_error *err);

/* One debug line (event=state_cache_ignored) for a file that was not used. */
void adb_statecache_log_ignored(const adb_logger *log, const char *path, const adb_error *why);

/* ---- the topology ---- */

/* Everything of t, for the cache (not the wire shape of topology.h). */
json_t *adb_topology_cache_to_json(const adb_topology *t);

/* A topology from what adb_topology_cache_to_json wrote, every field
 * checked (DNS names, DNs, SIDs, levels, bounded counts and lengths, no
 * unknown member); joined must be its joined domain.  ADB_E_PROTOCOL. */
adb_code adb_topology_cache_from_json(json_t *j, const char *joined, adb_topology **out, adb_error *err);

/* ---- located DCs ---- */

/* One located list: list.domain's DCs (gc false) or its forest's global
 * catalogs (gc true), good until expires (wall clock). */
typedef struct adb_dc_cache_entry {
    bool gc;
    time_t expires;
    adb_dc_list list;
} adb_dc_cache_entry;

json_t *adb_dc_cache_entry_to_json(const adb_dc_cache_entry *e);

/* Every field checked (names, numeric addresses, ports, bounded counts);
 * out->list.dcs is malloc'd (adb_dc_list_free).  ADB_E_PROTOCOL. */
adb_code adb_dc_cache_entry_from_json(json_t *j, adb_dc_cache_entry *out, adb_error *err);

#endif
