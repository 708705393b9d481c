/* The cloud link: AMQP 1.0 to the broker (qpid-proton's connection driver).
 *
 * The module owns its socket (direct TCP, or a tunnel through an HTTP
 * CONNECT proxy: proxy.h) and drives AMQP over it with pn_connection_driver,
 * keeping proton's own TLS (pn_ssl, CA verification and peer name check) and
 * SASL.  One thread, started by adb_link_start, owns the connection and every
 * proton object; other threads talk to it only through adb_link_complete
 * (which wakes it through an eventfd) and adb_link_stop.
 *
 * Requests: a receiver on broker->address with link credit up to `slots` +
 * broker->prefetch less the requests not yet ended (back-pressure: at most
 * `slots` requests at the workers; the prefetched ones, and any a broker
 * sends beyond the credit, wait in the link for a worker).  Each message
 * becomes a job handed to opts->submit on the link thread; a worker answers it with
 * adb_link_complete.  The reply goes to the message's reply_to with
 * correlation_id = the request's correlation id, else its message id, on a
 * session of its own per reply address (a refused reply address never ends
 * the request link), and never creates a broker object (RabbitMQ before 4.0:
 * "/queue/NAME" is sent to as "/amq/queue/NAME").  The request is accepted
 * (settled) only once the broker accepted the reply.
 *
 * Requests the bridge cannot answer are rejected (the broker's dead-letter
 * policy applies), never given back in a loop: no reply_to, not an AMQP
 * message, a reply the broker refused or that failed REPLY_ATTEMPTS (3)
 * times, and a request delivered more than broker->delivery_limit times
 * (counted from delivery_count, first_acquirer and the link's memory of
 * requests it gave back).  On shutdown, or when a worker does not answer,
 * the request is given back (modified, delivery-failed; released to
 * RabbitMQ before 4.0, which ends the session on modified); on connection
 * loss the broker does that by itself.  A request larger than the link takes whole (twice
 * max_message_bytes plus 64 KiB) keeps only its start: when its properties
 * are in it the worker gets it without a body (answered by size), else it
 * is rejected.
 *
 * Reconnects with exponential backoff and jitter up to
 * broker->reconnect_max_s; the state is readable at any time
 * (adb_link_state_get) for health and logs.  Never logs a message body. */
#ifndef ADBRIDGE_LINK_H
#define ADBRIDGE_LINK_H

#include <adbridge/config.h>
#include <adbridge/error.h>
#include <adbridge/log.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct adb_link adb_link;
typedef struct adb_link_job adb_link_job;

/* What a worker sees of one request.  body is a private copy (wiped when the
 * job ends: it may hold a plaintext password in test setups).  body is NULL
 * for a request too large to be taken whole: len is then its size in bytes
 * (more than broker->max_message_bytes: the dispatcher refuses it by size
 * without reading the body). */
typedef struct adb_link_request {
    const unsigned char *body;
    size_t len;
    bool redelivered;          /* deliveries > 1 */
    unsigned deliveries;       /* this delivery's number, as far as known (1: the first) */
    int64_t expiry_unix_ms;    /* absolute-expiry-time, or creation (else arrival) + ttl; 0: none */
    const char *message_id;    /* printable form for logs ("" when absent); never the body */
    const char *forest;        /* the forest whose address it came on (broker.forest_address); NULL: the common one */
} adb_link_request;

/* Whether a request that found no DC of its forest may be given back
 * (adb_link_complete with reply NULL) for another instance instead of
 * being answered dc_unavailable: it came on a forest's address (another
 * instance that can serve the forest takes it there; the instances that
 * cannot detach from it), it has deliveries left before
 * broker->delivery_limit (the last one answers, so a forest nobody reaches
 * still gets an answer), and at least ADB_LINK_REROUTE_MIN_MS before it
 * expires (0: no expiry).  Pure: the caller decides, the link only settles. */
enum { ADB_LINK_REROUTE_MIN_MS = 3000 };
bool adb_link_may_reroute(const adb_link_request *rq, unsigned delivery_limit, int64_t now_unix_ms);

/* Called on the link thread for each request; must not block (queue the job
 * to a worker).  Every job must end in exactly one adb_link_complete. */
typedef void (*adb_link_submit_fn)(void *arg, adb_link_job *job);

typedef struct adb_link_options {
    const adb_broker_config *broker;   /* required; must outlive the link */
    const adb_logger *log;             /* may be NULL */
    unsigned slots;                    /* max unsettled requests; 0: broker->workers (0: 4) */
    adb_link_submit_fn submit;         /* required */
    void *submit_arg;
    const char *container_id;          /* NULL: "adbridged-<hostname>-<pid>" */
} adb_link_options;

/* Checks the configuration and reads the password file (refused unless it is
 * a regular file with no permission for group or others): config_invalid
 * with the field or file and the fix.  Does not connect. */
adb_code adb_link_new(const adb_link_options *opts, adb_link **out, adb_error *err);

/* Starts the link thread (connect, serve, reconnect until stopped). */
adb_code adb_link_start(adb_link *l, adb_error *err);

/* Thread-safe.  The job's request, valid until adb_link_complete. */
const adb_link_request *adb_link_job_request(const adb_link_job *job);

/* Thread-safe; a worker calls it once, before it runs the job.  False when
 * the link no longer wants it run (stopping, its connection ended, or its
 * forest went to another instance): the worker then completes it with
 * reply NULL, and the link settles it untouched.  Workers may hold one job
 * queued behind the one they run (broker.prefetch), hence the question. */
bool adb_link_job_start(adb_link_job *job);

/* Thread-safe; ends the job.  reply (copied) is sent to the request's
 * reply_to; reply NULL means "not answered": the request is given back to
 * the broker (as on shutdown) for another instance.  A reply for
 * a request whose connection is gone is dropped (the broker redelivers the
 * request). */
void adb_link_complete(adb_link *l, adb_link_job *job, const void *reply, size_t len);

/* Stops taking work (drains the credit), waits up to grace_ms for the jobs in
 * flight to be answered and settled, gives the rest back to the broker,
 * closes the connection and joins the thread.  Idempotent. */
void adb_link_stop(adb_link *l, int grace_ms);

/* Stops if needed, then frees.  NULL is fine. */
void adb_link_free(adb_link *l);

typedef enum adb_link_status {
    ADB_LINK_IDLE = 0,         /* not started, or stopped */
    ADB_LINK_CONNECTING,       /* TCP / proxy / TLS / SASL / AMQP open under way */
    ADB_LINK_CONNECTED,        /* receiver attached, serving */
    ADB_LINK_BACKOFF,          /* waiting before the next attempt */
    ADB_LINK_STOPPING,         /* draining after adb_link_stop */
} adb_link_status;

/* "idle", "connecting", "connected", "backoff", "stopping". */
const char *adb_link_status_name(adb_link_status s);

typedef struct adb_link_state {
    adb_link_status status;
    int64_t since_unix_ms;     /* when status last changed */
    adb_code last_code;        /* ADB_OK when no error yet */
    char last_error[ADB_ERROR_MESSAGE_MAX];
    unsigned slots;
    unsigned in_flight;        /* unsettled requests */
    uint64_t connects;         /* successful AMQP opens */
    uint64_t failures;         /* failed attempts and lost connections */
    uint64_t received;         /* requests taken */
    uint64_t redelivered;      /* of which were redeliveries */
    uint64_t replied;          /* requests accepted after their reply settled */
    uint64_t released;         /* requests given back to the broker */
    uint64_t rejected;         /* requests rejected (dead-lettered where the queue says so) */
    uint64_t dropped;          /* replies dropped: their connection was gone */
    uint64_t delivery_limited; /* of the rejected: over broker->delivery_limit, not run */
    uint64_t oversize;         /* taken without their body (too large), answered by size */
    uint64_t reply_retries;    /* replies sent again after a failed attempt */
    uint64_t overdelivered;    /* transfers the broker sent beyond the credit */
    uint64_t announced;        /* status announcements sent (adb_link_announce) */
    int64_t heartbeat_mono_ms; /* adb_mono_ms() of the link thread's last turn (at least one a second
                                * while it runs, ADB_LINK_STALL_MS at most while it connects): an old
                                * value means the thread is stuck; 0 before it started */
} adb_link_state;

/* A link thread whose heartbeat is older than this is stuck (longer than
 * its connect timeout): the daemon stops its watchdog pings so that
 * systemd restarts it. */
enum { ADB_LINK_STALL_MS = 20000 };

/* Thread-safe snapshot. */
void adb_link_state_get(adb_link *l, adb_link_state *out);

/* Thread-safe.  The forests this instance can serve now: while one is in
 * the list, a receiver on its address (broker->forest_address with
 * {address} and {forest} filled in) takes requests beside broker->address;
 * when it leaves the list, its receiver gets no more credit, the requests
 * it holds that no worker took are handed back unrun, and it detaches once
 * no worker holds one of its requests.  Ignored without
 * broker->forest_address.  At most 16 forests. */
void adb_link_set_forests(adb_link *l, const char *const *forests, size_t n);

/* The AMQP container id of the link (options.container_id or its default). */
const char *adb_link_container_id(const adb_link *l);

/* Thread-safe.  Sends doc (a JSON text, copied) to broker->status_address
 * as soon as the link serves, with an AMQP ttl of ttl_ms (0: none),
 * pre-settled (a lost announcement is replaced by the next one).  A doc
 * not yet sent is replaced by a newer one.  What to announce and when is
 * the caller's (the daemon's status thread); this only carries it. */
void adb_link_announce(adb_link *l, const char *doc, size_t len, unsigned ttl_ms);

/* ---- one-shot connectivity probe (adbridge diagnose) ---- */

typedef struct adb_link_probe_result {
    /* Milliseconds each stage took; -1 when not reached.  tcp: to the first
     * hop (the proxy when configured); proxy: the CONNECT exchange; tls:
     * the handshake (-1 for amqp://); amqp_open: SASL and the AMQP open. */
    double tcp_ms, proxy_ms, tls_ms, amqp_open_ms;
    double close_ms;
    /* NULL on success, else "config", "resolve", "tcp", "proxy", "tls",
     * "sasl", "amqp_open" or "close". */
    const char *failed_stage;
    adb_error error;           /* code ADB_OK on success; same as *err */
    char tls_protocol[32];     /* e.g. "TLSv1.3" when TLS was negotiated */
    char tls_cipher[64];
    char sasl_mech[32];        /* mechanism used, when SASL completed */
    char remote_container[128];/* the broker's container id, from its open */
} adb_link_probe_result;

/* A result before any stage: zeroed, every time -1 (not reached). */
void adb_link_probe_result_reset(adb_link_probe_result *r);

/* Connects as the daemon would (through the proxy if configured), verifies
 * TLS, authenticates, opens and closes an AMQP connection, within
 * timeout_ms in total.  No link is attached, nothing is sent or received.
 * Returns ADB_OK or the error of the failed stage (timeout, io_error,
 * protocol_error, config_invalid, dns_failure). */
adb_code adb_link_probe(const adb_broker_config *b, int timeout_ms, adb_link_probe_result *out, adb_error *err);

/* adb_link_probe run by the daemon's binary (`adbridged --config
 * config_path --probe-broker`), so that a caller need not link the AMQP
 * stack (the CLI's diagnose): the same result, or io_error / internal_error
 * when the binary cannot be run or printed no result.  The binary is the
 * adbridged beside this executable, else the installed one. */
adb_code adb_link_probe_exec(const char *config_path, int timeout_ms, adb_link_probe_result *out, adb_error *err);

/* The probe's outcome as the one-line JSON object adbridged --probe-broker
 * prints (malloc'd; NULL without memory). */
char *adb_link_probe_result_json(adb_code rc, const adb_link_probe_result *r);

#endif
