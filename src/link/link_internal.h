/* What the files of the cloud link share (private to src/link; the public
 * API is include/adbridge/link.h).  The link's state belongs to its thread,
 * except what struct adb_link marks as under its lock; link_conn.c also
 * serves adb_link_probe, on the caller's thread.
 *
 *   link.c           lifecycle, the link thread's loop and proton events, state
 *   link_conn.c      the broker URL; one AMQP connection over a socket of its
 *                    own (TLS, SASL, I/O with the connection driver); the probe
 *   link_requests.c  incoming transfers to jobs: bodies, oversize, delivery
 *                    counting, credit, settling requests
 *   link_replies.c   reply senders per address, retries, settling a request
 *                    once the broker settled its reply
 *   link_status.c    status announcements handed in by adb_link_announce */
#ifndef ADBRIDGE_LINK_INTERNAL_H
#define ADBRIDGE_LINK_INTERNAL_H

#include <adbridge/config.h>
#include <adbridge/error.h>
#include <adbridge/link.h>
#include <adbridge/secmem.h>

#include <proton/condition.h>
#include <proton/connection_driver.h>
#include <proton/delivery.h>
#include <proton/link.h>
#include <proton/message.h>
#include <proton/session.h>
#include <proton/ssl.h>

#include <pthread.h>
#include <sodium.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
    MAX_SENDERS = 32,              /* cached reply senders (one per reply_to address, each on its own session) */
    MSGID_TEXT_MAX = 128,
    ADDRESS_MAX = 512,             /* longest reply_to taken */
    SEEN_MAX = 1024,               /* requests given back, remembered for broker.delivery_limit */
    MAX_FORESTS = 16,              /* per-forest receivers (link_forests.c) */
    FOREST_NAME_MAX = 256,
    LOCK_MARGIN_MS = 1000,         /* a broker's lock counts as gone this early: time for the reply and the
                                    * settlement to reach it, and for clocks that differ a little */
};

typedef struct link_url {
    bool tls;
    char host[256];
    unsigned port;
} link_url;

/* One AMQP connection over an owned socket (the link's, or the probe's). */
typedef struct link_conn {
    int fd;
    pn_connection_driver_t driver;
    bool driver_ok;
    pn_ssl_t *ssl;                /* NULL for amqp:// */
    bool tls_done;
} link_conn;

/* A job handed to the workers: queued, started by a worker
 * (adb_link_job_start), or recalled by the link before any worker started
 * it (link_recall_at_work) -- one compare-and-swap decides between the two. */
enum { RUN_QUEUED = 0, RUN_STARTED, RUN_RECALLED };

/* Why a job was recalled, i.e. how it is settled unrun. */
typedef enum job_recall {
    RECALL_RELEASE = 0,            /* stopping, or its connection ended: released untouched (or redelivered) */
    RECALL_HAND_BACK,              /* its forest is served by another instance now */
} job_recall;

typedef enum job_state {
    JOB_WAITING,                   /* taken, waiting for a free worker (the peer sent more than the credit) */
    JOB_AT_WORKER,
    JOB_AWAIT_SETTLE,              /* reply sent, the broker's outcome pending */
    JOB_REPLY_RETRY,               /* its reply link went away: the reply is sent again */
} job_state;

struct adb_link_job {
    adb_link_request req;          /* workers read this */
    unsigned char *body;           /* sodium_malloc'd: wiped when freed; NULL for an oversize request */
    size_t body_len;
    bool body_is_string;
    char msgid[MSGID_TEXT_MAX];
    char forest[FOREST_NAME_MAX];  /* req.forest's text */
    uint64_t seen_key;             /* of the message id (0: none), for the delivery limit */
    int64_t lock_until_ms;         /* x-opt-locked-until less LOCK_MARGIN_MS (Unix ms); 0: no lock */
    int run;                       /* RUN_*: __atomic, the link thread and the job's worker */
    /* link thread only: */
    job_recall recall;             /* when run is RUN_RECALLED */
    uint64_t gen;                  /* connection generation it arrived on */
    job_state state;
    pn_delivery_t *dlv;            /* the request */
    pn_link_t *rcv;                /* the receiver it came on */
    pn_message_t *msg;             /* the request's header and properties (never its body) */
    pn_link_t *sender;             /* reply link, once sent */
    pn_delivery_t *reply_dlv;      /* the reply, until the broker settles it */
    unsigned reply_attempts;
    int64_t reply_sent_ms;
    adb_link_job *prev, *next;     /* live list */
    adb_link_job *wait_next;       /* waiting list */
    /* handed back by adb_link_complete (under lock): */
    unsigned char *reply;
    size_t reply_len;
    bool answered;
    adb_link_job *done_next;
};

/* A reply sender, on a session of its own: RabbitMQ ends the whole session
 * when an attach fails (an exchange that does not exist), and that must not
 * take the request link or the other replies with it. */
typedef struct sender_entry {
    pn_session_t *ssn;
    pn_link_t *link;
    char *address;                 /* the reply_to it serves */
    uint64_t last_use;
} sender_entry;

/* A receiver on one forest's address (link_forests.c). */
typedef struct forest_rcv {
    char forest[FOREST_NAME_MAX];  /* "": a free slot */
    pn_session_t *ssn;             /* of its own: a refused attach ends only it */
    pn_link_t *link;
    bool wanted;                   /* in the last adb_link_set_forests */
    bool attached;                 /* the broker attached it */
    bool detaching;                /* no more credit; closed when no worker holds one of its requests */
    int64_t retry_ms;              /* refused: attached again after this (adb_mono_ms) */
} forest_rcv;

/* A request this process gave back (or lost with its connection): when it
 * comes back, its deliveries go on counting from here. */
typedef struct seen_entry {
    uint64_t key;                  /* 0: free */
    unsigned deliveries;
} seen_entry;

struct adb_link {
    const adb_broker_config *b;
    const adb_logger *log;
    link_url u;
    adb_secret *password;
    unsigned slots;                /* workers: jobs handed to submit at once */
    unsigned window;               /* slots + broker.prefetch: the most outstanding jobs credit allows */
    unsigned delivery_limit;
    adb_link_submit_fn submit;
    void *submit_arg;
    char container_id[128];
    size_t max_bytes;              /* taken in whole up to this; beyond, only the start is kept */

    pthread_t thread;
    bool started;
    int wake_fd;

    pthread_mutex_t lock;          /* state, stop flag, done list */
    adb_link_state st;
    bool stop_requested;
    int grace_ms;
    adb_link_job *done_head, *done_tail;
    char forests_wanted[MAX_FORESTS][FOREST_NAME_MAX];   /* adb_link_set_forests */
    size_t n_forests_wanted;
    bool forests_changed;
    char *status_doc;              /* the announcement to send next (adb_link_announce), or NULL */
    size_t status_len;
    unsigned status_ttl_ms;

    /* link thread only: */
    uint64_t gen;
    unsigned outstanding;          /* jobs not ended: waiting, at a worker, reply pending */
    unsigned at_work;              /* handed to submit, not yet completed */
    adb_link_job *live;
    adb_link_job *wait_head, *wait_tail;
    unsigned waiting;
    link_conn c;
    pn_session_t *req_ssn;
    pn_link_t *receiver;
    sender_entry senders[MAX_SENDERS];
    forest_rcv forests[MAX_FORESTS];
    size_t credit_turn;            /* which receiver gets the odd credit first */
    bool forests_known;            /* adb_link_set_forests was heard (with forest_address: no credit before) */
    size_t forest_shares;          /* most forests ever served: each keeps a share of the credit */
    uint64_t use_clock, tag_seq;
    bool serving;
    bool stopping;
    bool err_recorded;             /* this attempt's failure is already counted */
    bool overdelivery_logged;      /* once per connection */
    bool rabbit_v1;                /* the peer is RabbitMQ before 4.0 (reply_target) */
    char peer[80];                 /* "product/version" from the broker's open, or "" */
    int64_t grace_deadline;
    unsigned char seen_salt[crypto_generichash_KEYBYTES];
    seen_entry seen[SEEN_MAX];
    size_t seen_used;              /* entries with a key */
    size_t seen_next;
};

/* Counts one event in the state health reads. */
#define COUNT(l, field)                                                                                                \
    do {                                                                                                               \
        pthread_mutex_lock(&(l)->lock);                                                                                \
        (l)->st.field++;                                                                                               \
        (l)->st.in_flight = (l)->outstanding;                                                                          \
        pthread_mutex_unlock(&(l)->lock);                                                                              \
    } while (0)

/* ---- link.c ---- */

/* Wakes the link thread (thread-safe). */
void link_wake(adb_link *l);

/* ---- link_conn.c ---- */

adb_code link_parse_url(const char *s, link_url *u, adb_error *err);
/* snprintf that may cut: every message has a bound. */
void link_fmt(char *buf, size_t size, const char *f, ...) __attribute__((format(printf, 3, 4)));
void link_cond_text(pn_condition_t *c, char *buf, size_t size);
void link_log_field(char *buf, size_t size, const char *v);
adb_code link_conn_setup(link_conn *c, const adb_broker_config *b, const link_url *u, const adb_secret *pw,
                         const char *container_id, adb_error *err);
/* One round of socket I/O, waiting at most wait_ms; true when wake_fd fired. */
bool link_conn_io(link_conn *c, int wake_fd, int wait_ms);
void link_conn_error_text(link_conn *c, char *buf, size_t size);
void link_conn_destroy(link_conn *c);
const char *link_error_hint(const char *text, bool tls);

/* ---- link_requests.c ---- */

/* A transfer on the request link; a complete request becomes a job. */
void link_on_incoming(adb_link *l, pn_delivery_t *d);
int link_free_window(const adb_link *l);
void link_recall_at_work(adb_link *l, const pn_link_t *rcv, job_recall why);
void link_settle_unanswered(adb_link *l, adb_link_job *j);
void link_update_credit(adb_link *l);
void link_feed_workers(adb_link *l);
/* Settling a request without a reply: given back to run elsewhere, or
 * rejected for good (dead-lettered). */
void link_give_back(adb_link *l, adb_link_job *j);
void link_reject(adb_link *l, pn_delivery_t *d, const char *condition, const char *description);
void link_seen_drop(adb_link *l, const adb_link_job *j);
void link_release_waiting(adb_link *l);
void link_release_all(adb_link *l);
void link_job_end(adb_link *l, adb_link_job *j);
void link_job_free(adb_link_job *j);
/* The x-opt-locked-until message annotation (Azure Service Bus: the end of
 * the peek-lock on the message, an AMQP timestamp) in a message's
 * annotations, as Unix ms; 0 when absent, not a timestamp or not positive. */
int64_t link_locked_until(pn_data_t *annotations);
/* True when j came with a broker lock that is (about to be) gone: its reply
 * would arrive after the broker handed the request to another receiver. */
bool link_lock_expired(const adb_link_job *j);

/* ---- link_replies.c ---- */

/* The sender to address (a session of its own, cached per address); NULL
 * when out of memory or every cached sender has deliveries unsettled. */
pn_link_t *link_sender_to(adb_link *l, const char *address);
/* Closes a link on a session of its own, and the session, and frees them. */
void link_close_with_session(pn_link_t *lk, pn_session_t *ssn);
void link_send_reply(adb_link *l, adb_link_job *j);
void link_on_reply_settled(adb_link *l, pn_delivery_t *rd);
void link_check_reply_timeouts(adb_link *l, int64_t now);
sender_entry *link_sender_of(adb_link *l, pn_link_t *lk, pn_session_t *ssn);
void link_sender_failed(adb_link *l, sender_entry *s, const char *why);
void link_senders_forget(adb_link *l);
void link_reply_detach(adb_link_job *j);

/* ---- link_forests.c ---- */

void link_forest_address(const adb_link *l, const char *forest, char *buf, size_t size);
forest_rcv *link_forest_of(adb_link *l, pn_link_t *lk, pn_session_t *ssn);
/* Attaches and detaches forest receivers as adb_link_set_forests says (link thread, serving). */
void link_forests_sync(adb_link *l);
bool link_forest_detaching(adb_link *l, pn_link_t *lk);
void link_forest_opened(adb_link *l, forest_rcv *f);
void link_forest_failed(adb_link *l, forest_rcv *f, const char *why);
/* The connection is gone: the receivers with it (attached again on the next). */
void link_forests_forget(adb_link *l);
/* The receivers credit goes to (the common one first); their number; in
 * *shares how many parts the free slots are cut into (receivers that come
 * back later keep theirs: credit given cannot be taken back). */
size_t link_credit_receivers(adb_link *l, pn_link_t **out, size_t cap, size_t *shares);
/* Credit still granted on detaching forest receivers. */
int link_forests_idle_credit(adb_link *l);
/* Gives a request back unrun: modified, undeliverable here (released for RabbitMQ before 4.0). */
void link_hand_back(adb_link *l, pn_delivery_t *d);

/* ---- link_status.c ---- */

/* Sends the pending announcement, if any, while serving. */
void link_send_status(adb_link *l);

#endif
