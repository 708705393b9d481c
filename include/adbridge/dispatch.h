/* The dispatcher: one request in, one reply out.
 *
 * adb_dispatch decodes a body (proto.h), refuses what must not run, runs the
 * operation by its entry in the table of operations (ops.h) on the backend
 * (backend.h: the directory and the password checker), and encodes the
 * reply.  It is what every worker thread of the daemon calls; the admin CLI
 * calls adb_dispatch_local with a request it built, so both answer the same
 * question with the same result.  No transport here.
 *
 * Rules applied before an operation runs:
 *   - a request past its deadline, or past the message's AMQP absolute
 *     expiry, is answered `timeout` and not run;
 *   - a redelivered request of an operation that runs at most once
 *     (auth.password: a second check could count a wrong password twice
 *     against AD's lockout and replays a credential) is answered `retry`
 *     and not run: the cloud sends a fresh request.  Lookups are idempotent
 *     and run again.
 * A paged result (search, group.members) whose reply would exceed
 * broker.max_reply_bytes is asked again with a smaller limit: a shorter page
 * whose next_cursor carries on.
 *
 * One log line per request (event=request: id, op, code, duration); never a
 * password, a sealed copy or a message body.
 *
 * Thread-safe: adb_dispatch runs concurrently on worker threads. */
#ifndef ADBRIDGE_DISPATCH_H
#define ADBRIDGE_DISPATCH_H

#include <adbridge/auth.h>
#include <adbridge/backend.h>
#include <adbridge/config.h>
#include <adbridge/directory.h>
#include <adbridge/error.h>
#include <adbridge/keystore.h>
#include <adbridge/log.h>

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct adb_delivery {
    bool redelivered;          /* first_acquirer false or delivery_count > 0 */
    int64_t expiry_unix_ms;    /* AMQP absolute expiry or 0 */
    bool *unavailable;         /* out, may be NULL: set true when the reply is a lookup's dc_unavailable (no DC
                                * answered; nothing ran that must not run twice), which another instance may
                                * answer better; password checks never set it (a second check could count twice) */
} adb_delivery;

typedef struct adb_service adb_service;

/* Fills the "link" member of health (schemas/reply.schema.json $defs/link).
 * out arrives as {"state": "none"}; set "state" to "connecting",
 * "connected" or "disconnected" and any of the optional members the schema
 * lists ("broker" without credentials, "address", "proxy", "since",
 * "reconnects", "in_flight", "workers", "last_error") — nothing else.
 * Called on a worker thread: take your own lock. */
typedef void (*adb_link_state_fn)(void *arg, json_t *out);

typedef struct adb_service_options {
    adb_dir *dir;                  /* required, unless backend is given */
    adb_auth *auth;                /* NULL: auth.password answers internal_error */
    const adb_backend *backend;    /* instead of dir and auth (tests' fakes); copied */
    adb_keystore *keystore;        /* NULL: health lists no keys */
    const adb_config *config;      /* required: broker.max_message_bytes */
    const adb_logger *log;         /* may be NULL */
    adb_link_state_fn link_state;  /* may be NULL: health says {"state": "none"} */
    void *link_arg;
} adb_service_options;

/* Everything in opts must outlive the service.  invalid_request when both
 * dir and backend or config are missing, out_of_memory. */
adb_code adb_service_new(const adb_service_options *opts, adb_service **out, adb_error *err);
void adb_service_free(adb_service *svc);

/* Decodes one request body, runs it, returns the reply body (malloc'd JSON
 * text, always set, even for undecodable input: then id is null).  Never
 * fails otherwise; *reply is NULL (and *reply_len 0) only when memory ran
 * out.  dlv may be NULL (not redelivered, no expiry).  A plaintext password
 * in body is not wiped here (the caller owns body): wipe the buffer. */
void adb_dispatch(adb_service *svc, const void *body, size_t len, const adb_delivery *dlv, char **reply,
                  size_t *reply_len);

/* In process, for the host's admin (the CLI): request is a request object
 * as the wire carries it, built by the caller, decoded and refused by the
 * same rules.  It runs as asked from this host: a plaintext password is the
 * admin's (allowed whatever auth.allow_plaintext_password says), pages are
 * not cut (no broker in between), never redelivered, no expiry; its log
 * line is at debug level.  A plaintext password in request is wiped.
 * Returns the reply object ({"v", "id", "op", "result"} or {..., "error"});
 * NULL only when memory ran out. */
json_t *adb_dispatch_local(adb_service *svc, json_t *request);

#endif
