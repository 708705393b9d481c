/* The cloud link: AMQP 1.0 over a socket this module owns (link.h).
 *
 * One thread (run) owns the socket, the pn_connection_driver and every
 * proton object.  Workers hand finished jobs back through a mutex-protected
 * list and an eventfd; adb_link_stop sets a flag and writes the same eventfd.
 *
 * Credit: the receiver is granted slots - outstanding, where outstanding
 * counts every job not yet ended (at a worker, or its reply waiting for the
 * broker's settlement), so a busy bridge takes no more than it can do, and a
 * job orphaned by a lost connection still holds its worker slot until the
 * worker is done with it.  A peer that sends more than that anyway does not
 * get more workers: the extra requests wait in the link (update_credit,
 * take_request).
 *
 * Replies go out on sessions of their own, one per reply address, so a
 * reply the broker refuses never ends the request link; a request whose
 * reply cannot be delivered is rejected after REPLY_ATTEMPTS, and one
 * delivered more than broker.delivery_limit times is rejected unrun -- the
 * broker's dead-letter policy takes it from there. */
#include "config.h"

#include <adbridge/clock.h>
#include <adbridge/fileio.h>
#include <adbridge/link.h>
#include <adbridge/proxy.h>
#include <adbridge/secmem.h>

#include <proton/codec.h>
#include <proton/condition.h>
#include <proton/connection.h>
#include <proton/connection_driver.h>
#include <proton/delivery.h>
#include <proton/disposition.h>
#include <proton/event.h>
#include <proton/link.h>
#include <proton/message.h>
#include <proton/sasl.h>
#include <proton/session.h>
#include <proton/ssl.h>
#include <proton/terminus.h>
#include <proton/transport.h>

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum {
    CONNECT_TIMEOUT_MS = 15000,    /* TCP + proxy + TLS + SASL + open */
    CLOSE_TIMEOUT_MS = 2000,       /* waiting for the broker's close */
    IDLE_TIMEOUT_MS = 30000,       /* AMQP heartbeats: a dead peer is noticed within this */
    BACKOFF_BASE_MS = 500,
    MAX_SENDERS = 32,              /* cached reply senders (one per reply_to address, each on its own session) */
    MSGID_TEXT_MAX = 128,
    MAX_FRAME = 65536,             /* our max-frame-size */
    ADDRESS_MAX = 512,             /* longest reply_to taken */
    REPLY_ATTEMPTS = 3,            /* sends of one reply before its request is rejected */
    REPLY_SETTLE_MS = 30000,       /* a reply the broker has not settled by then counts as failed */
    SEEN_MAX = 1024,               /* requests given back, remembered for broker.delivery_limit */
    HOLD_FACTOR = 8,               /* requests sent beyond the credit: up to this many times slots wait */
};

/* ---- URL ---- */

typedef struct url {
    bool tls;
    char host[256];
    unsigned port;
} url;

static adb_code parse_url(const char *s, url *u, adb_error *err)
{
    const char *p, *hend, *colon;
    size_t hlen;

    memset(u, 0, sizeof *u);
    if (s == NULL || s[0] == '\0')
        return adb_error_set(err, ADB_E_CONFIG, "$.broker.url: not set (amqp://host[:port] or amqps://host[:port])");
    if (strncmp(s, "amqps://", 8) == 0) {
        u->tls = true;
        p = s + 8;
    } else if (strncmp(s, "amqp://", 7) == 0) {
        p = s + 7;
    } else {
        return adb_error_set(err, ADB_E_CONFIG, "$.broker.url: \"%s\" must start with amqp:// or amqps://", s);
    }
    if (strpbrk(p, "@") != NULL)
        return adb_error_set(err, ADB_E_CONFIG, "$.broker.url: credentials do not belong in the URL; use "
                             "$.broker.username and $.broker.password_file (mode 0600)");
    hend = p + strcspn(p, "/?#");
    if (*p == '[') { /* [v6]:port */
        const char *rb = memchr(p, ']', (size_t)(hend - p));
        if (rb == NULL)
            return adb_error_set(err, ADB_E_CONFIG, "$.broker.url: unbalanced [ in \"%s\"", s);
        hlen = (size_t)(rb - p - 1);
        if (hlen == 0 || hlen >= sizeof u->host)
            return adb_error_set(err, ADB_E_CONFIG, "$.broker.url: bad host in \"%s\"", s);
        memcpy(u->host, p + 1, hlen);
        colon = rb + 1 < hend && rb[1] == ':' ? rb + 1 : NULL;
    } else {
        colon = memchr(p, ':', (size_t)(hend - p));
        hlen = (size_t)((colon != NULL ? colon : hend) - p);
        if (hlen == 0 || hlen >= sizeof u->host)
            return adb_error_set(err, ADB_E_CONFIG, "$.broker.url: bad host in \"%s\"", s);
        memcpy(u->host, p, hlen);
    }
    u->port = u->tls ? 5671 : 5672;
    if (colon != NULL) {
        char *end;
        unsigned long v = strtoul(colon + 1, &end, 10);
        if (end == colon + 1 || end != hend || v == 0 || v > 65535)
            return adb_error_set(err, ADB_E_CONFIG, "$.broker.url: bad port in \"%s\"", s);
        u->port = (unsigned)v;
    }
    return ADB_OK;
}

/* snprintf that may truncate on purpose (messages are bounded). */
static void fmt(char *buf, size_t size, const char *f, ...) __attribute__((format(printf, 3, 4)));
static void fmt(char *buf, size_t size, const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    vsnprintf(buf, size, f, ap);
    va_end(ap);
}

/* "name: description" of a proton condition, or "" when unset. */
static void cond_text(pn_condition_t *c, char *buf, size_t size)
{
    const char *name, *desc;

    buf[0] = '\0';
    if (c == NULL || !pn_condition_is_set(c))
        return;
    name = pn_condition_get_name(c);
    desc = pn_condition_get_description(c);
    snprintf(buf, size, "%s%s%s", name != NULL ? name : "error", desc != NULL ? ": " : "", desc != NULL ? desc : "");
}

/* ---- one AMQP connection over an owned socket (shared with the probe) ---- */

typedef struct conn {
    int fd;
    pn_connection_driver_t driver;
    bool driver_ok;
    pn_ssl_t *ssl;                /* NULL for amqp:// */
    bool tls_done;
    char error[ADB_ERROR_MESSAGE_MAX];
} conn;

/* Builds connection + transport with TLS and SASL as configured and binds
 * them to the driver.  pw may be NULL. */
static adb_code conn_setup(conn *c, const adb_broker_config *b, const url *u, const adb_secret *pw,
                           const char *container_id, adb_error *err)
{
    pn_connection_t *pc = pn_connection();
    pn_transport_t *t = pn_transport();
    pn_sasl_t *sasl;

    if (pc == NULL || t == NULL) {
        if (pc != NULL)
            pn_connection_free(pc);
        if (t != NULL)
            pn_transport_free(t);
        return adb_error_set(err, ADB_E_NOMEM, "out of memory");
    }
    pn_connection_set_container(pc, container_id);
    pn_connection_set_hostname(pc, b->virtual_host != NULL ? b->virtual_host : u->host);
    if (b->username != NULL)
        pn_connection_set_user(pc, b->username);
    if (pw != NULL)
        pn_connection_set_password(pc, adb_secret_str(pw)); /* proton zeroes its copy after use */
    if (u->tls) {
        pn_ssl_domain_t *dom = pn_ssl_domain(PN_SSL_MODE_CLIENT);
        int r = 0;
        if (dom == NULL) {
            pn_connection_free(pc);
            pn_transport_free(t);
            return adb_error_set(err, ADB_E_INTERNAL, "proton was built without TLS support");
        }
        if (b->ca_file != NULL)
            r = pn_ssl_domain_set_trusted_ca_db(dom, b->ca_file);
        if (r == 0)
            r = pn_ssl_domain_set_peer_authentication(dom, PN_SSL_VERIFY_PEER_NAME, NULL);
        if (r == 0 && b->cert_file != NULL)
            r = pn_ssl_domain_set_credentials(dom, b->cert_file, b->key_file != NULL ? b->key_file : b->cert_file,
                                              NULL);
        if (r == 0) {
            c->ssl = pn_ssl(t);
            r = c->ssl == NULL ? -1 : pn_ssl_init(c->ssl, dom, NULL);
        }
        if (r == 0)
            r = pn_ssl_set_peer_hostname(c->ssl, u->host);
        pn_ssl_domain_free(dom);
        if (r != 0) {
            pn_connection_free(pc);
            pn_transport_free(t);
            return adb_error_set(err, ADB_E_CONFIG,
                                 "cannot set up TLS for %s: check $.broker.ca_file (%s)%s%s (readable PEM files?)",
                                 u->host, b->ca_file != NULL ? b->ca_file : "system CAs",
                                 b->cert_file != NULL ? " and $.broker.cert_file/key_file " : "",
                                 b->cert_file != NULL ? b->cert_file : "");
        }
    }
    sasl = pn_sasl(t);
    if (b->sasl_mechanisms != NULL)
        pn_sasl_allowed_mechs(sasl, b->sasl_mechanisms);
    /* amqp:// was the admin's choice; PLAIN then goes unencrypted (proton refuses by default). */
    if (!u->tls)
        pn_sasl_set_allow_insecure_mechs(sasl, true);
    pn_transport_set_idle_timeout(t, IDLE_TIMEOUT_MS);
    /* Bounded frames: without a limit a broker may send a 10 MB message as
     * one frame, which proton would hold whole (twice) before we see a byte. */
    pn_transport_set_max_frame(t, MAX_FRAME);
    if (pn_connection_driver_init(&c->driver, pc, t) != 0) {
        return adb_error_set(err, ADB_E_NOMEM, "cannot start the AMQP connection driver");
    }
    c->driver_ok = true;
    return ADB_OK;
}

/* Moves bytes between the socket and the driver; waits at most wait_ms for
 * the socket or wake_fd (-1: none).  Returns true when wake_fd fired. */
static bool conn_io(conn *c, int wake_fd, int wait_ms)
{
    pn_connection_driver_t *d = &c->driver;
    struct pollfd pfd[2];
    pn_rwbytes_t rb;
    pn_bytes_t wb;
    int64_t now, next_tick;
    bool woke = false;

    /* Write what is pending before sleeping. */
    for (wb = pn_connection_driver_write_buffer(d); wb.size > 0; wb = pn_connection_driver_write_buffer(d)) {
        ssize_t n = send(c->fd, wb.start, wb.size, MSG_NOSIGNAL);
        if (n > 0) {
            pn_connection_driver_write_done(d, (size_t)n);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        pn_connection_driver_errorf(d, "adbridge:io", "send failed: %s", strerror(errno));
        pn_connection_driver_write_close(d);
        return false;
    }
    if (pn_connection_driver_has_event(d) || pn_connection_driver_finished(d))
        return false;
    now = adb_mono_ms();
    next_tick = pn_transport_tick(d->transport, now);
    if (next_tick > 0 && next_tick - now < wait_ms)
        wait_ms = next_tick - now < 0 ? 0 : (int)(next_tick - now);
    rb = pn_connection_driver_read_buffer(d);
    wb = pn_connection_driver_write_buffer(d);
    pfd[0] = (struct pollfd){ .fd = c->fd, .events = (short)((rb.size > 0 ? POLLIN : 0) | (wb.size > 0 ? POLLOUT : 0)) };
    pfd[1] = (struct pollfd){ .fd = wake_fd, .events = POLLIN };
    if (poll(pfd, wake_fd >= 0 ? 2 : 1, wait_ms) < 0 && errno != EINTR) {
        pn_connection_driver_errorf(d, "adbridge:io", "poll failed: %s", strerror(errno));
        pn_connection_driver_close(d);
        return false;
    }
    if (wake_fd >= 0 && (pfd[1].revents & POLLIN)) {
        uint64_t v;
        if (read(wake_fd, &v, sizeof v) < 0) { /* EAGAIN: nothing to reset */ }
        woke = true;
    }
    if (pfd[0].revents & (POLLIN | POLLHUP | POLLERR)) {
        rb = pn_connection_driver_read_buffer(d);
        if (rb.size > 0) {
            ssize_t n = recv(c->fd, rb.start, rb.size, 0);
            if (n > 0) {
                pn_connection_driver_read_done(d, (size_t)n);
#ifdef TCP_QUICKACK
                /* Linux leaves quick-ACK mode on its own: re-arm it after every
                 * read, or a proxy hop waits out the ~40 ms delayed ACK. */
                setsockopt(c->fd, IPPROTO_TCP, TCP_QUICKACK, &(int){ 1 }, sizeof(int));
#endif
            } else if (n == 0) {
                pn_connection_driver_read_close(d);
            } else if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK) {
                pn_connection_driver_errorf(d, "adbridge:io", "receive failed: %s", strerror(errno));
                pn_connection_driver_close(d);
            }
        }
    }
    if (pfd[0].revents & POLLOUT) {
        for (wb = pn_connection_driver_write_buffer(d); wb.size > 0; wb = pn_connection_driver_write_buffer(d)) {
            ssize_t n = send(c->fd, wb.start, wb.size, MSG_NOSIGNAL);
            if (n > 0)
                pn_connection_driver_write_done(d, (size_t)n);
            else if (n < 0 && errno == EINTR)
                continue;
            else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                break;
            else {
                pn_connection_driver_errorf(d, "adbridge:io", "send failed: %s", strerror(errno));
                pn_connection_driver_write_close(d);
                break;
            }
        }
    }
    pn_transport_tick(d->transport, adb_mono_ms());
    if (c->ssl != NULL && !c->tls_done) {
        char tmp[8];
        c->tls_done = pn_ssl_get_cipher_name(c->ssl, tmp, sizeof tmp) || pn_ssl_get_protocol_name(c->ssl, tmp, sizeof tmp);
    }
    return woke;
}

/* The connection's error: the transport's condition, else the broker's. */
static void conn_error_text(conn *c, char *buf, size_t size)
{
    char t[ADB_ERROR_MESSAGE_MAX];

    cond_text(pn_transport_condition(c->driver.transport), t, sizeof t);
    if (t[0] == '\0')
        cond_text(pn_connection_remote_condition(c->driver.connection), t, sizeof t);
    if (t[0] == '\0')
        snprintf(t, sizeof t, "connection closed");
    snprintf(buf, size, "%s", t);
}

static void conn_destroy(conn *c)
{
    if (c->driver_ok)
        pn_connection_driver_destroy(&c->driver);
    c->driver_ok = false;
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}

/* A hint an admin can act on, from what went wrong. */
static const char *error_hint(const char *text, bool tls)
{
    if (strstr(text, "unauthorized-access") != NULL || strstr(text, "Authentication failed") != NULL)
        return " (check $.broker.username, the password file and $.broker.sasl_mechanisms)";
    if (tls && (strstr(text, "certificate verify failed") != NULL || strstr(text, "SSL") != NULL))
        return " (TLS: is $.broker.ca_file the CA that signed the broker's certificate, and does the certificate "
               "name the host of $.broker.url?)";
    return "";
}

/* ---- the link ---- */

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
    uint64_t seen_key;             /* of the message id (0: none), for the delivery limit */
    /* link thread only: */
    uint64_t gen;                  /* connection generation it arrived on */
    job_state state;
    pn_delivery_t *dlv;            /* the request */
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

/* Per-delivery read buffer while transfers arrive. */
typedef struct inbuf {
    unsigned char *data;           /* sodium_malloc'd: wiped when freed */
    size_t len, cap;
    size_t dropped;                /* bytes past max_bytes, read and dropped */
    bool oversize;
} inbuf;

/* A request this process gave back (or lost with its connection): when it
 * comes back, its deliveries go on counting from here. */
typedef struct seen_entry {
    uint64_t key;                  /* 0: free */
    unsigned deliveries;
} seen_entry;

struct adb_link {
    const adb_broker_config *b;
    const adb_logger *log;
    url u;
    adb_secret *password;
    unsigned slots;
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

    /* link thread only: */
    uint64_t gen;
    unsigned outstanding;          /* jobs not ended: waiting, at a worker, reply pending */
    unsigned at_work;              /* handed to submit, not yet completed */
    adb_link_job *live;
    adb_link_job *wait_head, *wait_tail;
    unsigned waiting;
    conn c;
    pn_session_t *req_ssn;
    pn_link_t *receiver;
    sender_entry senders[MAX_SENDERS];
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
    size_t seen_next;
};

const char *adb_link_status_name(adb_link_status s)
{
    switch (s) {
    case ADB_LINK_IDLE: return "idle";
    case ADB_LINK_CONNECTING: return "connecting";
    case ADB_LINK_CONNECTED: return "connected";
    case ADB_LINK_BACKOFF: return "backoff";
    case ADB_LINK_STOPPING: return "stopping";
    }
    return "idle";
}

static void set_status(adb_link *l, adb_link_status s)
{
    pthread_mutex_lock(&l->lock);
    if (l->st.status != s) {
        l->st.status = s;
        l->st.since_unix_ms = adb_wall_ms();
    }
    l->st.in_flight = l->outstanding;
    pthread_mutex_unlock(&l->lock);
}

static void set_error(adb_link *l, adb_code code, const char *text)
{
    pthread_mutex_lock(&l->lock);
    l->st.last_code = code;
    snprintf(l->st.last_error, sizeof l->st.last_error, "%s", text);
    l->st.failures++;
    pthread_mutex_unlock(&l->lock);
    l->err_recorded = true;
}

#define COUNT(l, field)                                                                                                \
    do {                                                                                                               \
        pthread_mutex_lock(&(l)->lock);                                                                                \
        (l)->st.field++;                                                                                               \
        (l)->st.in_flight = (l)->outstanding;                                                                          \
        pthread_mutex_unlock(&(l)->lock);                                                                              \
    } while (0)

static bool stop_flag(adb_link *l)
{
    bool s;
    pthread_mutex_lock(&l->lock);
    s = l->stop_requested;
    pthread_mutex_unlock(&l->lock);
    return s;
}

adb_code adb_link_new(const adb_link_options *o, adb_link **out, adb_error *err)
{
    adb_link *l;
    adb_code rc;
    char host[64];

    *out = NULL;
    if (o == NULL || o->broker == NULL || o->submit == NULL)
        return adb_error_set(err, ADB_E_INTERNAL, "adb_link_new: broker and submit are required");
    if (adb_secmem_init(err) != ADB_OK)
        return err != NULL ? err->code : ADB_E_INTERNAL;
    if ((l = calloc(1, sizeof *l)) == NULL)
        return adb_error_set(err, ADB_E_NOMEM, "out of memory");
    l->b = o->broker;
    l->log = o->log;
    l->submit = o->submit;
    l->submit_arg = o->submit_arg;
    l->wake_fd = -1;
    l->c.fd = -1;
    pthread_mutex_init(&l->lock, NULL);
    if ((rc = parse_url(l->b->url, &l->u, err)) != ADB_OK)
        goto fail;
    if (l->b->address == NULL || l->b->address[0] == '\0') {
        rc = adb_error_set(err, ADB_E_CONFIG, "$.broker.address: not set (the request queue)");
        goto fail;
    }
    if (l->b->cert_file != NULL && !l->u.tls) {
        rc = adb_error_set(err, ADB_E_CONFIG, "$.broker.cert_file is set but $.broker.url is not amqps://");
        goto fail;
    }
    if (l->b->password_file != NULL) {
        if ((rc = adb_secret_file_read(l->b->password_file, "broker password", ADB_SECRET_LINE_MAX, ADB_SECRET_FILE_LINE, &l->password, NULL, err)) != ADB_OK) {
            adb_error_prefix(err, "$.broker.password_file");
            goto fail;
        }
        if (adb_secret_has_nul(l->password)) {
            rc = adb_error_set(err, ADB_E_CONFIG, "$.broker.password_file: %s holds a NUL byte",
                               l->b->password_file);
            goto fail;
        }
        if (l->b->username == NULL) {
            rc = adb_error_set(err, ADB_E_CONFIG, "$.broker.password_file is set but $.broker.username is not");
            goto fail;
        }
    }
    l->slots = o->slots != 0 ? o->slots : l->b->workers != 0 ? l->b->workers : 4;
    l->delivery_limit = l->b->delivery_limit != 0 ? l->b->delivery_limit : 5;
    /* Room for a JSON text of max_message_bytes in any AMQP dress; bigger
     * ones are not kept whole (on_incoming), the dispatcher refuses them by size. */
    l->max_bytes = (l->b->max_message_bytes != 0 ? l->b->max_message_bytes : 65536) * 2 + 65536;
    randombytes_buf(l->seen_salt, sizeof l->seen_salt);
    if (o->container_id != NULL) {
        snprintf(l->container_id, sizeof l->container_id, "%s", o->container_id);
    } else {
        if (gethostname(host, sizeof host) != 0)
            snprintf(host, sizeof host, "unknown");
        host[sizeof host - 1] = '\0';
        snprintf(l->container_id, sizeof l->container_id, "adbridged-%s-%ld", host, (long)getpid());
    }
    if ((l->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0) {
        rc = adb_error_set(err, ADB_E_IO, "eventfd: %s", strerror(errno));
        goto fail;
    }
    l->st.slots = l->slots;
    l->st.since_unix_ms = adb_wall_ms();
    *out = l;
    return ADB_OK;
fail:
    adb_link_free(l);
    return rc;
}

const adb_link_request *adb_link_job_request(const adb_link_job *job)
{
    return &job->req;
}

static void wake(adb_link *l)
{
    uint64_t one = 1;
    if (write(l->wake_fd, &one, sizeof one) < 0) { /* counter full: already awake */ }
}

void adb_link_complete(adb_link *l, adb_link_job *job, const void *reply, size_t len)
{
    unsigned char *copy = NULL;

    if (reply != NULL && (copy = malloc(len > 0 ? len : 1)) != NULL)
        memcpy(copy, reply, len);
    pthread_mutex_lock(&l->lock);
    job->reply = copy;
    job->reply_len = copy != NULL ? len : 0;
    job->answered = copy != NULL;
    job->done_next = NULL;
    if (l->done_tail != NULL)
        l->done_tail->done_next = job;
    else
        l->done_head = job;
    l->done_tail = job;
    pthread_mutex_unlock(&l->lock);
    wake(l);
}

static void job_free(adb_link_job *j)
{
    if (j == NULL)
        return;
    if (j->body != NULL)
        sodium_free(j->body);
    free(j->reply);
    if (j->msg != NULL)
        pn_message_free(j->msg);
    free(j);
}

static void live_add(adb_link *l, adb_link_job *j)
{
    j->prev = NULL;
    j->next = l->live;
    if (l->live != NULL)
        l->live->prev = j;
    l->live = j;
    l->outstanding++;
}

/* Forgets the reply delivery (settled locally: no outcome is awaited any more). */
static void reply_detach(adb_link_job *j)
{
    if (j->reply_dlv == NULL)
        return;
    pn_delivery_set_context(j->reply_dlv, NULL);
    pn_delivery_settle(j->reply_dlv);
    j->reply_dlv = NULL;
}

/* Ends a job the link thread holds (no worker has it). */
static void job_end(adb_link *l, adb_link_job *j)
{
    if (j->prev != NULL)
        j->prev->next = j->next;
    else if (l->live == j)
        l->live = j->next;
    if (j->next != NULL)
        j->next->prev = j->prev;
    l->outstanding--;
    reply_detach(j);
    job_free(j);
}

/* ---- delivery counting (broker.delivery_limit) ---- */

/* A keyed hash of the message id with its type (never 0); 0 without an id. */
static uint64_t seen_key_of(const adb_link *l, pn_msgid_t id)
{
    crypto_generichash_state st;
    unsigned char type = (unsigned char)id.type, out[crypto_generichash_BYTES_MIN];
    uint64_t k;

    if (id.type == PN_NULL)
        return 0;
    crypto_generichash_init(&st, l->seen_salt, sizeof l->seen_salt, sizeof out);
    crypto_generichash_update(&st, &type, 1);
    switch (id.type) {
    case PN_ULONG: {
        uint64_t v = id.u.as_ulong;
        crypto_generichash_update(&st, (const unsigned char *)&v, sizeof v);
        break;
    }
    case PN_UUID:
        crypto_generichash_update(&st, (const unsigned char *)id.u.as_uuid.bytes, sizeof id.u.as_uuid.bytes);
        break;
    case PN_BINARY:
    case PN_STRING:
    case PN_SYMBOL:
        crypto_generichash_update(&st, (const unsigned char *)id.u.as_bytes.start, id.u.as_bytes.size);
        break;
    default:
        return 0;
    }
    crypto_generichash_final(&st, out, sizeof out);
    memcpy(&k, out, sizeof k);
    return k != 0 ? k : 1;
}

static seen_entry *seen_find(adb_link *l, uint64_t key)
{
    if (key == 0)
        return NULL;
    for (size_t i = 0; i < SEEN_MAX; i++)
        if (l->seen[i].key == key)
            return &l->seen[i];
    return NULL;
}

/* Remembers (or updates) a request that may come back; the oldest entry
 * makes room when the table is full. */
static void seen_put(adb_link *l, const adb_link_job *j)
{
    seen_entry *e = seen_find(l, j->seen_key);

    if (j->seen_key == 0)
        return;
    if (e == NULL) {
        e = &l->seen[l->seen_next];
        l->seen_next = (l->seen_next + 1) % SEEN_MAX;
        e->key = j->seen_key;
    }
    e->deliveries = j->req.deliveries;
}

/* A request settled for good (accepted or rejected) does not come back. */
static void seen_drop(adb_link *l, const adb_link_job *j)
{
    seen_entry *e = seen_find(l, j->seen_key);
    if (e != NULL)
        e->key = 0;
}

/* ---- settling requests ---- */

/* Gives a request back to the broker untouched (it never reached a worker). */
static void release(adb_link *l, pn_delivery_t *d)
{
    pn_delivery_update(d, PN_RELEASED);
    pn_delivery_settle(d);
    COUNT(l, released);
}

/* Gives a request that ran back to the broker for another instance:
 * modified with delivery-failed, so brokers that count deliveries count
 * this one -- released for RabbitMQ before 4.0, which ends the whole session
 * on a modified outcome ("Unrecognised state").  We count it too, should it
 * come back here. */
static void give_back(adb_link *l, adb_link_job *j)
{
    seen_put(l, j);
    if (l->rabbit_v1) {
        pn_delivery_update(j->dlv, PN_RELEASED);
    } else {
        pn_disposition_set_failed(pn_delivery_local(j->dlv), true);
        pn_delivery_update(j->dlv, PN_MODIFIED);
    }
    pn_delivery_settle(j->dlv);
    COUNT(l, released);
}

/* Settles a request rejected: the broker's dead-letter policy applies.  The
 * condition goes to the broker: an address or a count, never the body. */
static void reject(adb_link *l, pn_delivery_t *d, const char *condition, const char *description)
{
    pn_condition_t *c = pn_disposition_condition(pn_delivery_local(d));

    pn_condition_set_name(c, condition);
    if (description != NULL)
        pn_condition_set_description(c, description);
    pn_delivery_update(d, PN_REJECTED);
    pn_delivery_settle(d);
    COUNT(l, rejected);
}

/* Grants credit up to the free slots (none while stopping).  proton keeps
 * the credit as a signed count that a peer sending more than it was given
 * drives below zero; adding to it then would put a negative link-credit on
 * the wire, which the peer reads as an unsigned 4294967295 -- unlimited.  So
 * a negative credit is first brought back to zero (a flow of link-credit 0:
 * "stop"), and the credit never exceeds slots - outstanding. */
static void update_credit(adb_link *l)
{
    int have, want;

    if (l->receiver == NULL || !l->serving)
        return;
    have = pn_link_remote_credit(l->receiver);
    if (have < 0) {
        pn_link_flow(l->receiver, -have);
        have = 0;
    }
    if (l->stopping)
        return;
    want = (int)l->slots - (int)l->outstanding - pn_link_queued(l->receiver);
    if (want > have)
        pn_link_flow(l->receiver, want - have);
}

/* Hands waiting jobs to free workers. */
static void feed_workers(adb_link *l)
{
    while (l->wait_head != NULL && l->at_work < l->slots && l->serving && !l->stopping) {
        adb_link_job *j = l->wait_head;
        l->wait_head = j->wait_next;
        if (l->wait_head == NULL)
            l->wait_tail = NULL;
        l->waiting--;
        j->wait_next = NULL;
        j->state = JOB_AT_WORKER;
        l->at_work++;
        l->submit(l->submit_arg, j);
    }
}

/* Gives back the jobs no worker took yet (stopping, or the connection ended). */
static void release_waiting(adb_link *l)
{
    adb_link_job *j, *next;

    for (j = l->wait_head; j != NULL; j = next) {
        next = j->wait_next;
        if (j->dlv != NULL && l->serving)
            release(l, j->dlv);
        j->dlv = NULL;
        job_end(l, j);
    }
    l->wait_head = l->wait_tail = NULL;
    l->waiting = 0;
}

/* The message id for logs: a string as it is, a number in decimal, a UUID
 * in its usual form, binary in hex; cut to fit.  (Not pn_message_id: that
 * deprecated call moves the id and leaves pn_message_get_id's copy dangling.) */
static void msgid_text(pn_message_t *m, char *buf, size_t size)
{
    pn_msgid_t id = pn_message_get_id(m);
    const unsigned char *u = (const unsigned char *)id.u.as_uuid.bytes;

    buf[0] = '\0';
    switch (id.type) {
    case PN_STRING:
        fmt(buf, size, "%.*s", (int)(id.u.as_bytes.size < size ? id.u.as_bytes.size : size - 1), id.u.as_bytes.start);
        break;
    case PN_ULONG:
        fmt(buf, size, "%llu", (unsigned long long)id.u.as_ulong);
        break;
    case PN_UUID:
        fmt(buf, size, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0], u[1], u[2], u[3],
            u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15]);
        break;
    case PN_BINARY:
        if (size > 3) {
            size_t n = id.u.as_bytes.size < (size - 3) / 2 ? id.u.as_bytes.size : (size - 3) / 2;
            memcpy(buf, "0x", 2);
            sodium_bin2hex(buf + 2, size - 2, (const unsigned char *)id.u.as_bytes.start, n);
        }
        break;
    default:
        break;
    }
}

static int64_t expiry_of(pn_message_t *m)
{
    int64_t abs_exp = (int64_t)pn_message_get_expiry_time(m);
    int64_t ttl = (int64_t)pn_message_get_ttl(m);
    int64_t created = (int64_t)pn_message_get_creation_time(m);
    int64_t exp = abs_exp > 0 ? abs_exp : 0;

    if (ttl > 0) {
        int64_t t = (created > 0 ? created : adb_wall_ms()) + ttl;
        if (exp == 0 || t < exp)
            exp = t;
    }
    return exp;
}

static void log_field(char *buf, size_t size, const char *v)
{
    adb_log_value(buf, size, v != NULL ? v : "");
}

/* ---- the sections of a request (untrusted bytes; proton's decoder reads them) ---- */

enum {
    SEC_HEADER = 0x70, SEC_DELIVERY_ANNOTATIONS, SEC_MESSAGE_ANNOTATIONS, SEC_PROPERTIES,
    SEC_APPLICATION_PROPERTIES, SEC_DATA, SEC_AMQP_SEQUENCE, SEC_AMQP_VALUE, SEC_FOOTER,
};

/* The section code of the described value at p, from its numeric or
 * symbolic descriptor, and in *desc_len the bytes of constructor and
 * descriptor; -1 when p does not start a section. */
static int section_code(pn_data_t *scratch, const unsigned char *p, size_t len, size_t *desc_len)
{
    static const char *const names[] = {
        "amqp:header:list", "amqp:delivery-annotations:map", "amqp:message-annotations:map",
        "amqp:properties:list", "amqp:application-properties:map", "amqp:data:binary",
        "amqp:amqp-sequence:list", "amqp:amqp-value:*", "amqp:footer:map",
    };
    ssize_t n;

    if (len < 2 || p[0] != 0x00) /* 0x00: a described value follows */
        return -1;
    pn_data_clear(scratch);
    if ((n = pn_data_decode(scratch, (const char *)p + 1, len - 1)) <= 0)
        return -1;
    *desc_len = 1 + (size_t)n;
    pn_data_rewind(scratch);
    if (!pn_data_next(scratch))
        return -1;
    if (pn_data_type(scratch) == PN_ULONG) {
        uint64_t c = pn_data_get_ulong(scratch);
        return c >= SEC_HEADER && c <= SEC_FOOTER ? (int)c : -1;
    }
    if (pn_data_type(scratch) == PN_SYMBOL) {
        pn_bytes_t s = pn_data_get_symbol(scratch);
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
            if (strlen(names[i]) == s.size && memcmp(names[i], s.start, s.size) == 0)
                return SEC_HEADER + (int)i;
    }
    return -1;
}

/* Where the body starts: *body_at is the offset of the first section that is
 * not header, annotations or properties (len when there is none).  The
 * sections before it are only measured, the body is not read.  False when
 * they do not decode: malformed, or cut short (an oversize message's kept
 * start that ends before its properties do). */
static bool find_body(pn_data_t *scratch, const unsigned char *p, size_t len, size_t *body_at)
{
    size_t off = 0, dl;

    while (off < len) {
        int code = section_code(scratch, p + off, len - off, &dl);
        ssize_t n;
        if (code < 0)
            return false;
        if (code >= SEC_DATA)
            break;
        pn_data_clear(scratch);
        if ((n = pn_data_decode(scratch, (const char *)p + off, len - off)) <= 0)
            return false;
        off += (size_t)n;
    }
    *body_at = off;
    return true;
}

/* Copies the body -- one data section, or one amqp-value string, then at
 * most a footer -- into wiped memory.  proton's decoded copy is wiped too,
 * and nothing else is decoded: another kind of body (which could hold a
 * password in some other shape) is never copied.  1: taken; 0: no such
 * body (the dispatcher answers the empty body invalid_request); -1: out of
 * memory. */
static int take_body(pn_data_t *scratch, const unsigned char *p, size_t len, adb_link_job *j)
{
    pn_data_t *sec;
    pn_bytes_t bb;
    size_t dl, dl2;
    ssize_t n;
    int code = section_code(scratch, p, len, &dl), rc = 0;
    unsigned char ctor;

    if (code != SEC_DATA && code != SEC_AMQP_VALUE)
        return 0;
    if (dl >= len)
        return 0;
    ctor = p[dl]; /* the value's constructor: vbin8/vbin32 for data, str8/str32 for a string */
    if (code == SEC_DATA ? ctor != 0xa0 && ctor != 0xb0 : ctor != 0xa1 && ctor != 0xb1)
        return 0;
    if ((sec = pn_data(4)) == NULL)
        return -1;
    if ((n = pn_data_decode(sec, (const char *)p, len)) > 0
        && ((size_t)n == len || section_code(scratch, p + n, len - (size_t)n, &dl2) == SEC_FOOTER)) {
        pn_data_rewind(sec);
        pn_data_next(sec);
        pn_data_enter(sec);
        pn_data_next(sec);
        pn_data_next(sec);
        bb = pn_data_type(sec) == PN_BINARY ? pn_data_get_binary(sec)
             : pn_data_type(sec) == PN_STRING ? pn_data_get_string(sec) : pn_bytes(0, NULL);
        if (bb.start != NULL) {
            rc = (j->body = sodium_malloc(bb.size > 0 ? bb.size : 1)) != NULL ? 1 : -1;
            if (rc == 1) {
                memcpy(j->body, bb.start, bb.size);
                j->body_len = bb.size;
                j->body_is_string = pn_data_type(sec) == PN_STRING;
            }
            /* proton's copy lives in the data object's own buffer, allocated
             * once for this one value: wipe it before it is freed. */
            adb_wipe((void *)(uintptr_t)bb.start, bb.size);
        }
    }
    pn_data_free(sec);
    return rc;
}

/* Hands a job to a worker, or queues it when the peer sent more than the
 * credit and every worker is busy. */
static void enqueue(adb_link *l, adb_link_job *j)
{
    j->state = JOB_WAITING;
    j->wait_next = NULL;
    if (l->wait_tail != NULL)
        l->wait_tail->wait_next = j;
    else
        l->wait_head = j;
    l->wait_tail = j;
    l->waiting++;
    feed_workers(l);
}

/* A complete request delivery: split, check, hand to a worker. */
static void take_request(adb_link *l, pn_delivery_t *d, inbuf *ib)
{
    pn_data_t *scratch = NULL;
    pn_message_t *m = NULL;
    adb_link_job *j = NULL;
    seen_entry *seen;
    const char *reply_to;
    size_t body_at = 0;
    uint32_t dc;
    int got;
    char idq[2 * MSGID_TEXT_MAX], desc[160];

    if (l->stopping) {
        release(l, d);
        return;
    }
    if (l->outstanding >= l->slots) {
        /* More than the credit: the peer ignores it.  Held for a worker (up
         * to HOLD_FACTOR rounds of slots; past that given back untouched):
         * released at once, such requests stayed unacknowledged on RabbitMQ
         * 3.10 in our over-delivery test instead of coming back. */
        COUNT(l, overdelivered);
        if (!l->overdelivery_logged)
            adb_log(l->log, ADB_LOG_WARN, "broker_overdelivered", "slots=%u in_flight=%u msg=\"the broker sent more "
                    "requests than the link credit allowed; the extra ones wait for a worker\"", l->slots,
                    l->outstanding);
        l->overdelivery_logged = true;
        if (l->waiting >= HOLD_FACTOR * l->slots) {
            release(l, d);
            return;
        }
    }
    if ((scratch = pn_data(4)) == NULL || (m = pn_message()) == NULL || (j = calloc(1, sizeof *j)) == NULL)
        goto nomem;
    if (!find_body(scratch, ib->data, ib->len, &body_at)
        || (body_at > 0 && pn_message_decode(m, (const char *)ib->data, body_at) != 0)) {
        if (ib->oversize) {
            adb_log(l->log, ADB_LOG_WARN, "request_rejected", "reason=oversize bytes=%zu limit=%zu msg=\"its properties "
                    "do not fit in the first %zu bytes: no reply address to answer\"", ib->len + ib->dropped,
                    l->max_bytes, l->max_bytes);
            reject(l, d, "amqp:link:message-size-exceeded", "too large, and its properties could not be read");
        } else {
            adb_log(l->log, ADB_LOG_WARN, "request_rejected", "reason=undecodable_amqp_message bytes=%zu", ib->len);
            reject(l, d, "amqp:decode-error", "not an AMQP message");
        }
        goto out;
    }
    j->msg = m;
    m = NULL;
    msgid_text(j->msg, j->msgid, sizeof j->msgid);
    log_field(idq, sizeof idq, j->msgid);
    reply_to = pn_message_get_reply_to(j->msg);
    if (reply_to == NULL || reply_to[0] == '\0' || strlen(reply_to) > ADDRESS_MAX) {
        adb_log(l->log, ADB_LOG_WARN, "request_rejected", "reason=%s message_id=%s",
                reply_to == NULL || reply_to[0] == '\0' ? "no_reply_to" : "reply_to_too_long", idq);
        reject(l, d, "amqp:invalid-field", reply_to == NULL || reply_to[0] == '\0' ? "no reply-to: nowhere to answer"
               : "reply-to longer than 512 bytes");
        goto out;
    }
    if (ib->oversize) {
        /* Answered by size (invalid_request): the worker gets no body, only its length. */
        j->req.len = ib->len + ib->dropped;
        adb_log(l->log, ADB_LOG_WARN, "request_oversize", "message_id=%s bytes=%zu kept=%zu", idq, j->req.len,
                ib->len);
        COUNT(l, oversize);
    } else {
        if ((got = take_body(scratch, ib->data + body_at, ib->len - body_at, j)) < 0)
            goto nomem;
        if (got == 0) {
            adb_log(l->log, ADB_LOG_WARN, "request_body_type", "message_id=%s msg=\"body is neither one data section "
                    "nor one amqp-value string\"", idq);
            if ((j->body = sodium_malloc(1)) == NULL)
                goto nomem;
        }
        j->req.body = j->body;
        j->req.len = j->body_len;
    }
    /* How many times this request was delivered, as far as anyone says:
     * delivery_count where the broker raises it, first_acquirer false (at
     * least twice: RabbitMQ 3.10 only sets that), and our own count of the
     * times we gave it back. */
    dc = pn_message_get_delivery_count(j->msg);
    j->req.deliveries = dc < UINT32_MAX ? dc + 1 : UINT32_MAX;
    if (!pn_message_is_first_acquirer(j->msg) && j->req.deliveries < 2)
        j->req.deliveries = 2;
    j->seen_key = seen_key_of(l, pn_message_get_id(j->msg));
    if ((seen = seen_find(l, j->seen_key)) != NULL && seen->deliveries >= j->req.deliveries)
        j->req.deliveries = seen->deliveries + 1;
    j->req.redelivered = j->req.deliveries > 1;
    if (j->req.deliveries > l->delivery_limit) {
        adb_log(l->log, ADB_LOG_WARN, "request_rejected", "reason=delivery_limit message_id=%s deliveries=%u limit=%u "
                "msg=\"not run again; dead-lettered where the queue has a dead-letter policy\"", idq,
                j->req.deliveries, l->delivery_limit);
        fmt(desc, sizeof desc, "delivered %u times; broker.delivery_limit is %u", j->req.deliveries,
            l->delivery_limit);
        reject(l, d, "adbridge:delivery-limit", desc);
        COUNT(l, delivery_limited);
        seen_drop(l, j);
        goto out;
    }
    j->req.expiry_unix_ms = expiry_of(j->msg);
    j->req.message_id = j->msgid;
    j->gen = l->gen;
    j->dlv = d;
    live_add(l, j);
    COUNT(l, received);
    if (j->req.redelivered)
        COUNT(l, redelivered);
    enqueue(l, j);
    pn_data_free(scratch);
    return;
nomem:
    adb_log(l->log, ADB_LOG_ERROR, "request_released", "reason=out_of_memory");
    release(l, d);
out:
    job_free(j);
    if (m != NULL)
        pn_message_free(m);
    if (scratch != NULL)
        pn_data_free(scratch);
}

static void inbuf_free(inbuf *ib)
{
    if (ib->data != NULL)
        sodium_free(ib->data); /* wipes */
    free(ib);
}

/* Room for need (<= max) bytes; grows by doubling up to max. */
static bool inbuf_reserve(inbuf *ib, size_t need, size_t max)
{
    size_t ncap;
    unsigned char *nd;

    if (need <= ib->cap)
        return true;
    ncap = ib->cap * 2 < max ? ib->cap * 2 : max;
    if (ncap < need)
        ncap = need;
    if ((nd = sodium_malloc(ncap)) == NULL)
        return false;
    if (ib->data != NULL) {
        memcpy(nd, ib->data, ib->len);
        sodium_free(ib->data);
    }
    ib->data = nd;
    ib->cap = ncap;
    return true;
}

static void on_incoming(adb_link *l, pn_delivery_t *d)
{
    inbuf *ib = pn_delivery_get_context(d);
    pn_link_t *lk = pn_delivery_link(d);

    if (!pn_delivery_readable(d))
        return;
    if (ib == NULL) {
        if ((ib = calloc(1, sizeof *ib)) == NULL)
            return; /* retried on the next transfer event */
        pn_delivery_set_context(d, ib);
    }
    for (;;) {
        size_t pending = pn_delivery_pending(d), room = l->max_bytes - ib->len;
        ssize_t n;
        if (pending == 0)
            break;
        if (room > 0) {
            size_t want = pending < room ? pending : room;
            if (!inbuf_reserve(ib, ib->len + want, l->max_bytes))
                return;
            n = pn_link_recv(lk, (char *)ib->data + ib->len, want);
            if (n > 0)
                ib->len += (size_t)n;
        } else {
            /* Too large to take whole: the start (header and properties
             * come before the body) is kept, the rest read and dropped. */
            char scratch[4096];
            ib->oversize = true;
            n = pn_link_recv(lk, scratch, sizeof scratch);
            if (n > 0)
                ib->dropped += (size_t)n;
            adb_wipe(scratch, sizeof scratch);
        }
        if (n <= 0)
            break;
    }
    if (pn_delivery_partial(d) && !pn_delivery_aborted(d))
        return;
    pn_delivery_set_context(d, NULL);
    if (pn_delivery_aborted(d))
        pn_delivery_settle(d);
    else
        take_request(l, d, ib);
    pn_link_advance(lk);
    inbuf_free(ib);
}

/* ---- replies ---- */

/* Product and version from the broker's open properties.  RabbitMQ before
 * 4.0 declares the queue named by a "/queue/NAME" (or bare "NAME") target
 * when a sender attaches (reply_target). */
static void read_peer(adb_link *l, pn_connection_t *c)
{
    pn_data_t *p = pn_connection_remote_properties(c);
    char product[32] = "", version[32] = "";

    l->rabbit_v1 = false;
    l->peer[0] = '\0';
    if (p == NULL)
        return;
    pn_data_rewind(p);
    if (!pn_data_next(p) || pn_data_type(p) != PN_MAP)
        return;
    pn_data_enter(p);
    while (pn_data_next(p)) {
        pn_bytes_t k = pn_data_type(p) == PN_SYMBOL ? pn_data_get_symbol(p)
                       : pn_data_type(p) == PN_STRING ? pn_data_get_string(p) : pn_bytes(0, NULL);
        char *dst = NULL;
        if (!pn_data_next(p))
            break;
        if (k.size == 7 && memcmp(k.start, "product", 7) == 0)
            dst = product;
        else if (k.size == 7 && memcmp(k.start, "version", 7) == 0)
            dst = version;
        if (dst != NULL && (pn_data_type(p) == PN_STRING || pn_data_type(p) == PN_SYMBOL)) {
            pn_bytes_t v = pn_data_type(p) == PN_STRING ? pn_data_get_string(p) : pn_data_get_symbol(p);
            fmt(dst, sizeof product, "%.*s", (int)(v.size < sizeof product ? v.size : sizeof product - 1), v.start);
        }
    }
    pn_data_exit(p);
    if (product[0] != '\0') {
        char pv[80];
        fmt(pv, sizeof pv, "%s/%s", product, version[0] != '\0' ? version : "?");
        log_field(l->peer, sizeof l->peer, pv);
    }
    l->rabbit_v1 = strcmp(product, "RabbitMQ") == 0 && (version[0] == '\0' || atoi(version) < 4);
}

/* The target a reply to reply_to is sent to.  Replies must never create
 * broker objects: RabbitMQ before 4.0 declares (creates, with the bridge's
 * credentials) the queue of a "/queue/NAME" or bare "NAME" target on attach,
 * while "/amq/queue/NAME" addresses the same queue without declaring it
 * (a reply to a queue that does not exist is then dropped by the broker).
 * Other brokers do not create nodes on attach: the address is kept. */
static void reply_target(const adb_link *l, const char *reply_to, char *buf, size_t size)
{
    if (l->rabbit_v1 && strncmp(reply_to, "/queue/", 7) == 0 && reply_to[7] != '\0')
        fmt(buf, size, "/amq/queue/%s", reply_to + 7);
    else if (l->rabbit_v1 && reply_to[0] != '/')
        fmt(buf, size, "/amq/queue/%s", reply_to);
    else
        fmt(buf, size, "%s", reply_to);
}

/* Closes a reply sender and its session and frees them. */
static void sender_drop(sender_entry *s)
{
    if (s->link != NULL && !(pn_link_state(s->link) & PN_LOCAL_CLOSED))
        pn_link_close(s->link);
    if (s->ssn != NULL) {
        if (!(pn_session_state(s->ssn) & PN_LOCAL_CLOSED))
            pn_session_close(s->ssn);
        pn_session_free(s->ssn); /* proton keeps it until the end is on the wire */
    }
    free(s->address);
    memset(s, 0, sizeof *s);
}

static pn_link_t *reply_sender(adb_link *l, const char *address)
{
    sender_entry *slot = NULL;
    char name[64], target[ADDRESS_MAX + 16];
    size_t i;

    for (i = 0; i < MAX_SENDERS; i++)
        if (l->senders[i].link != NULL && strcmp(l->senders[i].address, address) == 0) {
            l->senders[i].last_use = ++l->use_clock;
            return l->senders[i].link;
        }
    for (i = 0; i < MAX_SENDERS; i++)
        if (l->senders[i].link == NULL) {
            slot = &l->senders[i];
            break;
        }
    if (slot == NULL) { /* evict the least recently used idle sender */
        for (i = 0; i < MAX_SENDERS; i++)
            if (pn_link_unsettled(l->senders[i].link) == 0 && (slot == NULL || l->senders[i].last_use < slot->last_use))
                slot = &l->senders[i];
        if (slot == NULL)
            return NULL;
        sender_drop(slot);
    }
    if ((slot->address = strdup(address)) == NULL || (slot->ssn = pn_session(l->c.driver.connection)) == NULL) {
        sender_drop(slot);
        return NULL;
    }
    pn_session_open(slot->ssn);
    snprintf(name, sizeof name, "adbridge-reply-%llu", (unsigned long long)++l->tag_seq);
    slot->link = pn_sender(slot->ssn, name);
    reply_target(l, address, target, sizeof target);
    pn_terminus_set_address(pn_link_target(slot->link), target);
    pn_link_set_snd_settle_mode(slot->link, PN_SND_UNSETTLED);
    pn_link_open(slot->link);
    slot->last_use = ++l->use_clock;
    return slot->link;
}

static sender_entry *sender_of(adb_link *l, pn_link_t *lk, pn_session_t *ssn)
{
    for (size_t i = 0; i < MAX_SENDERS; i++)
        if (l->senders[i].link != NULL && (l->senders[i].link == lk || l->senders[i].ssn == ssn))
            return &l->senders[i];
    return NULL;
}

static void reply_retry(adb_link *l, adb_link_job *j, const char *why, bool final);

/* Sends a worker's reply; the request is settled when the broker settles it. */
static void send_reply(adb_link *l, adb_link_job *j)
{
    pn_message_t *r = pn_message();
    pn_msgid_t cid;
    pn_rwbytes_t buf = { 0, NULL };
    pn_link_t *snd;
    pn_delivery_t *rd;
    ssize_t n;
    char tag[24];
    char idq[2 * MSGID_TEXT_MAX];

    j->reply_attempts++;
    if (r == NULL || (snd = reply_sender(l, pn_message_get_reply_to(j->msg))) == NULL)
        goto fail;
    pn_message_set_address(r, pn_message_get_reply_to(j->msg));
    cid = pn_message_get_correlation_id(j->msg);
    if (cid.type == PN_NULL)
        cid = pn_message_get_id(j->msg);
    pn_message_set_correlation_id(r, cid);
    pn_message_set_content_type(r, "application/json");
    pn_message_set_durable(r, pn_message_is_durable(j->msg));
    if (j->body_is_string)
        pn_data_put_string(pn_message_body(r), pn_bytes(j->reply_len, (const char *)j->reply));
    else
        pn_data_put_binary(pn_message_body(r), pn_bytes(j->reply_len, (const char *)j->reply));
    if ((n = pn_message_encode2(r, &buf)) < 0)
        goto fail;
    snprintf(tag, sizeof tag, "%llu", (unsigned long long)++l->tag_seq);
    rd = pn_delivery(snd, pn_dtag(tag, strlen(tag)));
    pn_delivery_set_context(rd, j);
    pn_link_send(snd, buf.start, (size_t)n);
    pn_link_advance(snd);
    j->sender = snd;
    j->reply_dlv = rd;
    j->reply_sent_ms = adb_mono_ms();
    j->state = JOB_AWAIT_SETTLE;
    free(buf.start);
    pn_message_free(r);
    return;
fail:
    free(buf.start);
    if (r != NULL)
        pn_message_free(r);
    /* Out of memory, or every reply sender busy: another instance may do better. */
    log_field(idq, sizeof idq, j->msgid);
    adb_log(l->log, ADB_LOG_ERROR, "reply_failed", "message_id=%s reason=cannot_build_reply", idq);
    give_back(l, j);
    job_end(l, j);
}

/* A reply did not get through (its link or session ended, it was released,
 * or no outcome came in time): sent again up to REPLY_ATTEMPTS times, then
 * -- or at once when final (the broker rejected it) -- its request is
 * rejected; never given back, which would run it again and fail the same way. */
static void reply_retry(adb_link *l, adb_link_job *j, const char *why, bool final)
{
    char idq[2 * MSGID_TEXT_MAX], toq[2 * ADDRESS_MAX], whyq[ADB_ERROR_MESSAGE_MAX + 8], desc[ADB_ERROR_MESSAGE_MAX];

    log_field(idq, sizeof idq, j->msgid);
    log_field(toq, sizeof toq, pn_message_get_reply_to(j->msg));
    log_field(whyq, sizeof whyq, why);
    j->sender = NULL;
    if (!final && j->reply_attempts < REPLY_ATTEMPTS) {
        adb_log(l->log, ADB_LOG_WARN, "reply_retry", "message_id=%s reply_to=%s attempt=%u error=%s", idq, toq,
                j->reply_attempts + 1, whyq);
        COUNT(l, reply_retries);
        send_reply(l, j);
        return;
    }
    adb_log(l->log, ADB_LOG_WARN, "request_rejected", "reason=reply_undeliverable message_id=%s reply_to=%s "
            "attempts=%u error=%s", idq, toq, j->reply_attempts, whyq);
    fmt(desc, sizeof desc, "the reply to %.200s could not be delivered in %u attempts: %.200s",
        pn_message_get_reply_to(j->msg), j->reply_attempts, why);
    reject(l, j->dlv, "adbridge:reply-undeliverable", desc);
    seen_drop(l, j);
    job_end(l, j);
}

/* A reply sender is gone (detached, its session ended, or stuck): its
 * replies in flight are sent again on a new one, or their requests rejected. */
static void sender_failed(adb_link *l, sender_entry *s, const char *why)
{
    adb_link_job *j, *next;
    pn_link_t *lk = s->link;

    for (j = l->live; j != NULL; j = j->next)
        if (j->state == JOB_AWAIT_SETTLE && j->sender == lk) {
            reply_detach(j);
            j->state = JOB_REPLY_RETRY;
        }
    sender_drop(s);
    for (j = l->live; j != NULL; j = next) {
        next = j->next;
        if (j->state == JOB_REPLY_RETRY)
            reply_retry(l, j, why, false);
    }
}

/* The broker settled a reply: settle its request accordingly. */
static void on_reply_settled(adb_link *l, pn_delivery_t *rd)
{
    adb_link_job *j = pn_delivery_get_context(rd);
    uint64_t state = pn_delivery_remote_state(rd);
    char c[256];

    if (j == NULL)
        return;
    cond_text(pn_disposition_condition(pn_delivery_remote(rd)), c, sizeof c);
    reply_detach(j);
    if (state == PN_ACCEPTED || state == 0) {
        pn_delivery_update(j->dlv, PN_ACCEPTED);
        pn_delivery_settle(j->dlv);
        COUNT(l, replied);
        seen_drop(l, j);
        job_end(l, j);
    } else if (state == PN_REJECTED) {
        /* The broker refuses this reply for good: sending it again cannot help. */
        char why[300];
        fmt(why, sizeof why, "the broker rejected the reply: %s", c[0] != '\0' ? c : "no reason given");
        reply_retry(l, j, why, true);
    } else {
        char why[64];
        fmt(why, sizeof why, "the broker did not take the reply (outcome %s)",
            state == PN_RELEASED ? "released" : state == PN_MODIFIED ? "modified" : "unknown");
        reply_retry(l, j, why, false);
    }
}

/* Replies the broker has not settled in REPLY_SETTLE_MS: their sender is
 * treated as failed, so a silent broker cannot hold a worker slot forever. */
static void check_reply_timeouts(adb_link *l, int64_t now)
{
    adb_link_job *j;
    char why[96];

again:
    for (j = l->live; j != NULL; j = j->next)
        if (j->state == JOB_AWAIT_SETTLE && now - j->reply_sent_ms > REPLY_SETTLE_MS) {
            sender_entry *s = sender_of(l, j->sender, NULL);
            fmt(why, sizeof why, "no outcome from the broker within %d ms", REPLY_SETTLE_MS);
            if (s != NULL) {
                sender_failed(l, s, why);
            } else {
                reply_detach(j);
                reply_retry(l, j, why, false);
            }
            goto again; /* the list changed */
        }
}

/* Jobs handed back by workers. */
static void drain_done(adb_link *l)
{
    adb_link_job *j, *next;

    pthread_mutex_lock(&l->lock);
    j = l->done_head;
    l->done_head = l->done_tail = NULL;
    pthread_mutex_unlock(&l->lock);
    for (; j != NULL; j = next) {
        next = j->done_next;
        l->at_work--;
        if (j->gen != l->gen || !l->serving || j->dlv == NULL) {
            /* Its connection is gone: the broker redelivers the request. */
            l->outstanding--;
            COUNT(l, dropped);
            job_free(j);
        } else if (!j->answered) {
            give_back(l, j);
            job_end(l, j);
        } else {
            send_reply(l, j);
        }
    }
    feed_workers(l);
}

/* Gives back every request of this connection that is not settled yet. */
static void release_all(adb_link *l)
{
    adb_link_job *j, *next;

    release_waiting(l);
    for (j = l->live; j != NULL; j = next) {
        next = j->next;
        if (j->dlv != NULL && l->serving)
            give_back(l, j);
        else if (j->dlv != NULL)
            seen_put(l, j); /* the connection is gone: the broker gives it back by itself */
        j->dlv = NULL;
        if (j->state != JOB_AT_WORKER) {
            job_end(l, j);
        } else {
            /* Still at its worker: it stays outstanding (holding a slot) until
             * adb_link_complete hands it back; unlinked, marked stale. */
            if (j->prev != NULL)
                j->prev->next = j->next;
            else
                l->live = j->next;
            if (j->next != NULL)
                j->next->prev = j->prev;
            j->prev = j->next = NULL;
            j->gen = 0;
        }
    }
    l->live = NULL;
}

/* Handles one proton event. */
static void handle_event(adb_link *l, pn_event_t *e)
{
    pn_link_t *lk;
    sender_entry *s;
    char text[ADB_ERROR_MESSAGE_MAX];
    char addrq[2 * ADDRESS_MAX];

    switch (pn_event_type(e)) {
    case PN_CONNECTION_REMOTE_OPEN:
        read_peer(l, pn_event_connection(e));
        break;
    case PN_LINK_REMOTE_OPEN:
        lk = pn_event_link(e);
        if (lk == l->receiver) {
            if (pn_terminus_get_address(pn_link_remote_source(lk)) == NULL) {
                /* The broker refuses the source; its detach follows with the reason. */
                break;
            }
            l->serving = true;
            pthread_mutex_lock(&l->lock);
            l->st.connects++;
            pthread_mutex_unlock(&l->lock);
            set_status(l, ADB_LINK_CONNECTED);
            log_field(addrq, sizeof addrq, l->b->address);
            adb_log(l->log, ADB_LOG_INFO, "link_connected", "broker=%s:%u tls=%s proxy=%s address=%s slots=%u "
                    "delivery_limit=%u peer=%s", l->u.host, l->u.port, l->u.tls ? "yes" : "no",
                    l->b->proxy.host != NULL ? l->b->proxy.host : "none", addrq, l->slots, l->delivery_limit,
                    l->peer[0] != '\0' ? l->peer : "-");
        }
        break;
    case PN_LINK_REMOTE_CLOSE:
    case PN_LINK_REMOTE_DETACH:
        lk = pn_event_link(e);
        cond_text(pn_link_remote_condition(lk), text, sizeof text);
        if (lk == l->receiver) {
            char msg[ADB_ERROR_MESSAGE_MAX];
            log_field(addrq, sizeof addrq, l->b->address);
            fmt(msg, sizeof msg, "the broker closed the request link on %s: %s", l->b->address,
                     text[0] != '\0' ? text : "no reason given");
            adb_log(l->log, ADB_LOG_ERROR, "link_error", "address=%s error=\"%s\"", addrq, text);
            set_error(l, ADB_E_PROTOCOL, msg);
            pn_link_close(lk);
            pn_connection_close(l->c.driver.connection);
        } else if ((s = sender_of(l, lk, NULL)) != NULL) {
            log_field(addrq, sizeof addrq, s->address);
            adb_log(l->log, ADB_LOG_WARN, "reply_link_closed", "reply_to=%s error=\"%s\"", addrq, text);
            sender_failed(l, s, text[0] != '\0' ? text : "the broker detached the reply link");
        }
        break;
    case PN_DELIVERY: {
        pn_delivery_t *d = pn_event_delivery(e);
        lk = pn_delivery_link(d);
        if (pn_link_is_receiver(lk))
            on_incoming(l, d);
        else if (pn_delivery_updated(d) && (pn_delivery_remote_state(d) != 0 || pn_delivery_settled(d)))
            on_reply_settled(l, d);
        break;
    }
    case PN_SESSION_REMOTE_CLOSE: {
        pn_session_t *ssn = pn_event_session(e);
        cond_text(pn_session_remote_condition(ssn), text, sizeof text);
        if (ssn == l->req_ssn) {
            /* The request session: nothing works without it. */
            char msg[ADB_ERROR_MESSAGE_MAX];
            fmt(msg, sizeof msg, "the broker ended the session (request address %s): %s", l->b->address,
                text[0] != '\0' ? text : "no reason given");
            adb_log(l->log, ADB_LOG_ERROR, "link_error", "error=\"%s\"", msg);
            if (!l->stopping)
                set_error(l, ADB_E_PROTOCOL, msg);
            pn_session_close(ssn);
            pn_connection_close(l->c.driver.connection);
        } else if ((s = sender_of(l, NULL, ssn)) != NULL) {
            /* A reply session (RabbitMQ ends it when the reply address does
             * not exist): only that reply is concerned. */
            log_field(addrq, sizeof addrq, s->address);
            adb_log(l->log, ADB_LOG_WARN, "reply_session_ended", "reply_to=%s error=\"%s\"", addrq, text);
            sender_failed(l, s, text[0] != '\0' ? text : "the broker ended the reply session");
        }
        break;
    }
    case PN_CONNECTION_REMOTE_CLOSE:
        cond_text(pn_connection_remote_condition(pn_event_connection(e)), text, sizeof text);
        if (!l->stopping) {
            char msg[ADB_ERROR_MESSAGE_MAX];
            fmt(msg, sizeof msg, "the broker closed the connection: %s", text[0] ? text : "no reason given");
            set_error(l, ADB_E_IO, msg);
        }
        pn_connection_close(pn_event_connection(e));
        break;
    default:
        break;
    }
}

/* One connection from dial to close.  Returns when it is over. */
static void serve_once(adb_link *l)
{
    adb_error err = { 0 };
    const char *stage = NULL;
    int64_t open_deadline;
    bool close_sent = false;
    int64_t close_deadline = 0;

    memset(&l->c, 0, sizeof l->c);
    l->c.fd = -1;
    l->serving = false;
    l->receiver = NULL;
    l->req_ssn = NULL;
    l->err_recorded = false;
    l->overdelivery_logged = false;
    l->rabbit_v1 = false;
    l->peer[0] = '\0';
    l->gen++;
    set_status(l, ADB_LINK_CONNECTING);
    open_deadline = adb_mono_ms() + CONNECT_TIMEOUT_MS;
    if (adb_dial(&l->b->proxy, l->u.host, l->u.port, open_deadline, &l->c.fd, NULL, &stage, &err) != ADB_OK ||
        conn_setup(&l->c, l->b, &l->u, l->password, l->container_id, &err) != ADB_OK) {
        adb_log(l->log, ADB_LOG_ERROR, "link_error", "stage=%s code=%s error=\"%s\"", stage != NULL ? stage : "setup",
                adb_code_name(err.code), err.message);
        set_error(l, err.code, err.message);
        conn_destroy(&l->c);
        return;
    }
    pn_connection_open(l->c.driver.connection);
    l->req_ssn = pn_session(l->c.driver.connection);
    pn_session_open(l->req_ssn);
    l->receiver = pn_receiver(l->req_ssn, "adbridge-requests");
    pn_terminus_set_address(pn_link_source(l->receiver), l->b->address);
    pn_link_set_snd_settle_mode(l->receiver, PN_SND_UNSETTLED);
    pn_link_set_rcv_settle_mode(l->receiver, PN_RCV_FIRST);
    /* No max-message-size: a broker that honours it would never hand us an
     * oversize request, which then could not be answered invalid_request. */
    pn_link_open(l->receiver);

    for (;;) {
        pn_event_t *e;
        int64_t now;
        int wait;

        while ((e = pn_connection_driver_next_event(&l->c.driver)) != NULL)
            handle_event(l, e);
        if (pn_connection_driver_finished(&l->c.driver))
            break;
        drain_done(l);
        now = adb_mono_ms();
        if (l->serving)
            check_reply_timeouts(l, now);
        if (!l->serving && !close_sent && now >= open_deadline) {
            char msg[ADB_ERROR_MESSAGE_MAX];
            if (pn_connection_state(l->c.driver.connection) & PN_REMOTE_ACTIVE)
                fmt(msg, sizeof msg, "%s:%u did not attach the request link on %s within %d ms", l->u.host,
                    l->u.port, l->b->address, CONNECT_TIMEOUT_MS);
            else
                fmt(msg, sizeof msg, "no AMQP open from %s:%u within %d ms%s", l->u.host, l->u.port,
                    CONNECT_TIMEOUT_MS, l->u.tls && !l->c.tls_done ? " (TLS handshake did not finish)" : "");
            set_error(l, ADB_E_TIMEOUT, msg);
            adb_log(l->log, ADB_LOG_ERROR, "link_error", "stage=amqp_open code=timeout error=\"%s\"", msg);
            break;
        }
        if (!l->stopping && stop_flag(l)) {
            l->stopping = true;
            pthread_mutex_lock(&l->lock);
            l->grace_deadline = now + l->grace_ms;
            pthread_mutex_unlock(&l->lock);
            set_status(l, ADB_LINK_STOPPING);
            adb_log(l->log, ADB_LOG_INFO, "link_stopping", "in_flight=%u grace_ms=%d", l->outstanding, l->grace_ms);
            /* Take no more work: the credit is no longer replenished.  Not
             * pn_link_drain: RabbitMQ 3.10 ends the session on a drain
             * (function_clause in rabbit_classic_queue send_drained), which
             * would lose the requests in flight.  What still arrives on
             * credit already granted is released untouched (take_request),
             * as are the requests no worker took yet. */
            release_waiting(l);
            if (!l->serving)
                l->grace_deadline = now;
        }
        if (l->stopping && !close_sent && (l->outstanding == 0 || now >= l->grace_deadline)) {
            if (l->outstanding > 0)
                adb_log(l->log, ADB_LOG_WARN, "link_release", "msg=\"grace period over\" released=%u", l->outstanding);
            release_all(l);
            pn_connection_close(l->c.driver.connection);
            close_sent = true;
            close_deadline = now + CLOSE_TIMEOUT_MS;
        }
        if (close_sent && now >= close_deadline)
            break;
        update_credit(l);
        set_status(l, l->stopping ? ADB_LINK_STOPPING : l->serving ? ADB_LINK_CONNECTED : ADB_LINK_CONNECTING);
        wait = 1000;
        if (!l->serving && open_deadline - now < wait)
            wait = (int)(open_deadline - now);
        if (l->stopping && !close_sent && l->grace_deadline - now < wait)
            wait = (int)(l->grace_deadline - now);
        if (close_sent && close_deadline - now < wait)
            wait = (int)(close_deadline - now);
        conn_io(&l->c, l->wake_fd, wait < 0 ? 0 : wait);
    }
    if (!l->stopping || !close_sent) {
        char text[ADB_ERROR_MESSAGE_MAX];
        conn_error_text(&l->c, text, sizeof text);
        if (!l->stopping) {
            char msg[ADB_ERROR_MESSAGE_MAX];
            fmt(msg, sizeof msg, "%s:%u: %.400s%s", l->u.host, l->u.port, text, error_hint(text, l->u.tls));
            adb_log(l->log, ADB_LOG_ERROR, "link_lost", "broker=%s:%u error=\"%s\" in_flight=%u", l->u.host,
                    l->u.port, msg, l->outstanding);
            if (!l->err_recorded)
                set_error(l, ADB_E_IO, msg);
        }
    }
    /* Whatever is unsettled now, the broker gives to another consumer. */
    l->serving = false;
    release_all(l);
    for (size_t i = 0; i < MAX_SENDERS; i++) {
        free(l->senders[i].address);
        memset(&l->senders[i], 0, sizeof l->senders[i]); /* freed with the connection */
    }
    l->receiver = NULL;
    l->req_ssn = NULL;
    conn_destroy(&l->c);
}

static void *run(void *arg)
{
    adb_link *l = arg;
    unsigned attempt = 0;
    uint64_t connects_before;

    while (!stop_flag(l)) {
        int64_t delay, until;
        pthread_mutex_lock(&l->lock);
        connects_before = l->st.connects;
        pthread_mutex_unlock(&l->lock);
        serve_once(l);
        if (l->stopping || stop_flag(l))
            break;
        pthread_mutex_lock(&l->lock);
        if (l->st.connects != connects_before)
            attempt = 0; /* it worked for a while: start the backoff again from the bottom */
        pthread_mutex_unlock(&l->lock);
        /* Exponential backoff with jitter: instances that lost the broker
         * together do not come back in step. */
        delay = (int64_t)BACKOFF_BASE_MS << (attempt < 16 ? attempt : 16);
        if (delay > (int64_t)(l->b->reconnect_max_s != 0 ? l->b->reconnect_max_s : 60) * 1000)
            delay = (int64_t)(l->b->reconnect_max_s != 0 ? l->b->reconnect_max_s : 60) * 1000;
        delay = delay / 2 + (int64_t)randombytes_uniform((uint32_t)(delay / 2 + 1));
        attempt++;
        set_status(l, ADB_LINK_BACKOFF);
        adb_log(l->log, ADB_LOG_INFO, "link_backoff", "retry_in_ms=%lld attempt=%u", (long long)delay, attempt);
        until = adb_mono_ms() + delay;
        while (!stop_flag(l)) {
            int64_t left = until - adb_mono_ms();
            struct pollfd pfd = { .fd = l->wake_fd, .events = POLLIN };
            if (left <= 0)
                break;
            if (poll(&pfd, 1, (int)left) > 0) {
                uint64_t v;
                if (read(l->wake_fd, &v, sizeof v) < 0) { /* spurious */ }
                drain_done(l); /* orphaned jobs finishing: drop their replies */
            }
        }
    }
    drain_done(l);
    set_status(l, ADB_LINK_IDLE);
    adb_log(l->log, ADB_LOG_INFO, "link_stopped", "in_flight=%u", l->outstanding);
    return NULL;
}

adb_code adb_link_start(adb_link *l, adb_error *err)
{
    int r;

    if (l->started)
        return ADB_OK;
    if ((r = pthread_create(&l->thread, NULL, run, l)) != 0)
        return adb_error_set(err, ADB_E_INTERNAL, "cannot start the link thread: %s", strerror(r));
    l->started = true;
    return ADB_OK;
}

void adb_link_stop(adb_link *l, int grace_ms)
{
    if (l == NULL || !l->started)
        return;
    pthread_mutex_lock(&l->lock);
    l->stop_requested = true;
    l->grace_ms = grace_ms < 0 ? 0 : grace_ms;
    pthread_mutex_unlock(&l->lock);
    wake(l);
    pthread_join(l->thread, NULL);
    l->started = false;
}

void adb_link_free(adb_link *l)
{
    adb_link_job *j, *next;

    if (l == NULL)
        return;
    adb_link_stop(l, 0);
    for (j = l->done_head; j != NULL; j = next) {
        next = j->done_next;
        job_free(j);
    }
    adb_secret_free(l->password);
    if (l->wake_fd >= 0)
        close(l->wake_fd);
    pthread_mutex_destroy(&l->lock);
    free(l);
}

void adb_link_state_get(adb_link *l, adb_link_state *out)
{
    pthread_mutex_lock(&l->lock);
    *out = l->st;
    pthread_mutex_unlock(&l->lock);
}

/* ---- probe ---- */

adb_code adb_link_probe(const adb_broker_config *b, int timeout_ms, adb_link_probe_result *out, adb_error *err)
{
    adb_link_probe_result r;
    adb_secret *pw = NULL;
    adb_dial_times dt;
    const char *stage = NULL;
    conn c;
    url u;
    int64_t deadline = adb_mono_ms() + (timeout_ms > 0 ? timeout_ms : 10000);
    double t_amqp = 0, t_close = 0;
    bool opened = false, closing = false;
    adb_code rc;
    char text[ADB_ERROR_MESSAGE_MAX];

    memset(&r, 0, sizeof r);
    r.tcp_ms = r.proxy_ms = r.tls_ms = r.amqp_open_ms = r.close_ms = -1;
    memset(&c, 0, sizeof c);
    c.fd = -1;
    if ((rc = parse_url(b->url, &u, &r.error)) != ADB_OK) {
        r.failed_stage = "config";
        goto out;
    }
    if (b->password_file != NULL &&
        (rc = adb_secret_file_read(b->password_file, "broker password", ADB_SECRET_LINE_MAX, ADB_SECRET_FILE_LINE, &pw, NULL, &r.error)) != ADB_OK) {
        adb_error_prefix(&r.error, "$.broker.password_file");
        r.failed_stage = "config";
        goto out;
    }
    rc = adb_dial(&b->proxy, u.host, u.port, deadline, &c.fd, &dt, &stage, &r.error);
    r.tcp_ms = dt.tcp_ms;
    r.proxy_ms = dt.proxy_ms;
    if (rc != ADB_OK) {
        r.failed_stage = stage;
        goto out;
    }
    if ((rc = conn_setup(&c, b, &u, pw, "adbridge-diagnose", &r.error)) != ADB_OK) {
        r.failed_stage = "config";
        goto out;
    }
    adb_secret_free(pw);
    pw = NULL;
    t_amqp = adb_mono_ms_f();
    pn_connection_open(c.driver.connection);
    for (;;) {
        pn_event_t *e;
        int64_t now = adb_mono_ms();
        while ((e = pn_connection_driver_next_event(&c.driver)) != NULL) {
            if (pn_event_type(e) == PN_CONNECTION_REMOTE_OPEN && !opened) {
                const char *rc_id = pn_connection_remote_container(c.driver.connection);
                opened = true;
                r.amqp_open_ms = adb_mono_ms_f() - t_amqp;
                if (rc_id != NULL)
                    snprintf(r.remote_container, sizeof r.remote_container, "%s", rc_id);
                t_close = adb_mono_ms_f();
                pn_connection_close(c.driver.connection);
                closing = true;
            }
        }
        if (u.tls && c.tls_done && r.tls_ms < 0) {
            r.tls_ms = adb_mono_ms_f() - t_amqp;
            pn_ssl_get_protocol_name(c.ssl, r.tls_protocol, sizeof r.tls_protocol);
            pn_ssl_get_cipher_name(c.ssl, r.tls_cipher, sizeof r.tls_cipher);
        }
        if (pn_connection_driver_finished(&c.driver))
            break;
        if (now >= deadline) {
            rc = adb_error_set(&r.error, ADB_E_TIMEOUT, "%s:%u: no %s within %d ms", u.host, u.port,
                               closing ? "close from the broker" : u.tls && !c.tls_done ? "TLS handshake" : "AMQP open",
                               timeout_ms);
            r.failed_stage = closing ? "close" : u.tls && !c.tls_done ? "tls" : "amqp_open";
            goto out;
        }
        conn_io(&c, -1, (int)(deadline - now < 200 ? deadline - now : 200));
    }
    {
        const char *mech = pn_sasl_get_mech(pn_sasl(c.driver.transport));
        if (mech != NULL)
            snprintf(r.sasl_mech, sizeof r.sasl_mech, "%s", mech);
    }
    if (opened) {
        r.close_ms = adb_mono_ms_f() - t_close;
        cond_text(pn_connection_remote_condition(c.driver.connection), text, sizeof text);
        if (text[0] != '\0') {
            rc = adb_error_set(&r.error, ADB_E_PROTOCOL, "%s:%u: the broker closed with an error: %s", u.host, u.port,
                               text);
            r.failed_stage = "close";
        }
        goto out;
    }
    conn_error_text(&c, text, sizeof text);
    {
        pn_sasl_outcome_t so = pn_sasl_outcome(pn_sasl(c.driver.transport));
        /* The cipher is known after the server's hello, before the
         * certificate is verified: a verification failure is still "tls". */
        if (u.tls && strstr(text, "SSL") != NULL) {
            r.tls_ms = -1;
            c.tls_done = false;
            r.tls_protocol[0] = r.tls_cipher[0] = '\0';
        }
        if (u.tls && !c.tls_done)
            r.failed_stage = "tls";
        else if ((so != PN_SASL_NONE && so != PN_SASL_OK) || strstr(text, "unauthorized-access") != NULL)
            r.failed_stage = "sasl";
        else
            r.failed_stage = "amqp_open";
    }
    rc = adb_error_set(&r.error, strcmp(r.failed_stage, "sasl") == 0 ? ADB_E_CONFIG : ADB_E_PROTOCOL,
                       "%s:%u (%s): %.300s%s", u.host, u.port, r.failed_stage, text, error_hint(text, u.tls));
out:
    adb_secret_free(pw);
    conn_destroy(&c);
    if (rc == ADB_OK) {
        r.failed_stage = NULL;
        r.error.code = ADB_OK;
        r.error.message[0] = '\0';
    } else if (err != NULL) {
        *err = r.error;
    }
    if (out != NULL)
        *out = r;
    return rc;
}
