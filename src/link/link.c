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
 * worker is done with it. */
#include "config.h"

#include <adbridge/clock.h>
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
    MAX_SENDERS = 32,              /* cached reply senders (one per reply_to address) */
    MSGID_TEXT_MAX = 128,
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

typedef enum job_state { JOB_AT_WORKER, JOB_AWAIT_SETTLE } job_state;

struct adb_link_job {
    adb_link_request req;          /* workers read this */
    unsigned char *body;           /* sodium_malloc'd: wiped when freed */
    size_t body_len;
    bool body_is_string;
    char msgid[MSGID_TEXT_MAX];
    /* link thread only: */
    uint64_t gen;                  /* connection generation it arrived on */
    job_state state;
    pn_delivery_t *dlv;            /* the request */
    pn_message_t *msg;             /* decoded request (reply_to, ids) */
    pn_link_t *sender;             /* reply link, once sent */
    adb_link_job *prev, *next;     /* live list */
    /* handed back by adb_link_complete (under done_lock): */
    unsigned char *reply;
    size_t reply_len;
    bool answered;
    adb_link_job *done_next;
};

typedef struct sender_entry {
    pn_link_t *link;
    char *address;
    uint64_t last_use;
} sender_entry;

/* Per-delivery read buffer while transfers arrive. */
typedef struct inbuf {
    unsigned char *data;
    size_t len, cap;
    bool oversize;
} inbuf;

struct adb_link {
    const adb_broker_config *b;
    const adb_logger *log;
    url u;
    adb_secret *password;
    unsigned slots;
    adb_link_submit_fn submit;
    void *submit_arg;
    char container_id[128];
    size_t max_bytes;              /* transport's hard cap per message */

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
    unsigned outstanding;
    adb_link_job *live;
    conn c;
    pn_link_t *receiver;
    sender_entry senders[MAX_SENDERS];
    uint64_t use_clock, tag_seq;
    bool serving;
    bool stopping;
    bool err_recorded;             /* this attempt's failure is already counted */
    int64_t grace_deadline;
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
        if ((rc = adb_secret_file_load(l->b->password_file, "broker password", &l->password, err)) != ADB_OK) {
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
    l->max_bytes = (l->b->max_message_bytes != 0 ? l->b->max_message_bytes : 65536) * 2 + 65536;
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

/* Ends a job the link thread holds (its worker is done with it). */
static void job_end(adb_link *l, adb_link_job *j)
{
    if (j->prev != NULL)
        j->prev->next = j->next;
    else if (l->live == j)
        l->live = j->next;
    if (j->next != NULL)
        j->next->prev = j->prev;
    l->outstanding--;
    job_free(j);
}

/* Gives a request back to the broker for another instance: modified with
 * delivery-failed, so brokers that count deliveries count this one. */
static void give_back(pn_delivery_t *d, bool started)
{
    if (started) {
        pn_disposition_set_failed(pn_delivery_local(d), true);
        pn_delivery_update(d, PN_MODIFIED);
    } else {
        pn_delivery_update(d, PN_RELEASED);
    }
    pn_delivery_settle(d);
}

/* Grants credit up to the free slots (none while stopping). */
static void update_credit(adb_link *l)
{
    int want, have;

    if (l->receiver == NULL || !l->serving || l->stopping)
        return;
    want = (int)l->slots - (int)l->outstanding - pn_link_queued(l->receiver);
    have = pn_link_credit(l->receiver);
    if (want > have)
        pn_link_flow(l->receiver, want - have);
}

static void msgid_text(pn_data_t *id, char *buf, size_t size)
{
    size_t n = size - 1;

    buf[0] = '\0';
    if (id == NULL || pn_data_size(id) == 0)
        return;
    pn_data_rewind(id);
    if (pn_data_format(id, buf, &n) != 0)
        n = 0;
    buf[n < size ? n : size - 1] = '\0';
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

/* A complete request delivery: decode, check, hand to a worker. */
static void take_request(adb_link *l, pn_delivery_t *d, inbuf *ib)
{
    pn_message_t *m = NULL;
    adb_link_job *j = NULL;
    pn_data_t *body;
    char idq[2 * MSGID_TEXT_MAX];

    if (l->stopping) {
        give_back(d, false);
        COUNT(l, released);
        return;
    }
    if (ib->oversize) {
        adb_log(l->log, ADB_LOG_WARN, "request_rejected", "reason=oversize limit=%zu", l->max_bytes);
        pn_condition_set_name(pn_disposition_condition(pn_delivery_local(d)), "amqp:link:message-size-exceeded");
        pn_delivery_update(d, PN_REJECTED);
        pn_delivery_settle(d);
        COUNT(l, rejected);
        return;
    }
    if ((m = pn_message()) == NULL || pn_message_decode(m, (const char *)ib->data, ib->len) != 0) {
        adb_log(l->log, ADB_LOG_WARN, "request_rejected", "reason=undecodable_amqp_message bytes=%zu", ib->len);
        pn_delivery_update(d, PN_REJECTED);
        pn_delivery_settle(d);
        COUNT(l, rejected);
        if (m != NULL)
            pn_message_free(m);
        return;
    }
    if ((j = calloc(1, sizeof *j)) == NULL)
        goto nomem;
    j->msg = m;
    msgid_text(pn_message_id(m), j->msgid, sizeof j->msgid);
    if (pn_message_get_reply_to(m) == NULL || pn_message_get_reply_to(m)[0] == '\0') {
        log_field(idq, sizeof idq, j->msgid);
        adb_log(l->log, ADB_LOG_WARN, "request_rejected", "reason=no_reply_to message_id=%s", idq);
        pn_delivery_update(d, PN_REJECTED);
        pn_delivery_settle(d);
        COUNT(l, rejected);
        job_free(j);
        return;
    }
    body = pn_message_body(m);
    pn_data_rewind(body);
    if (pn_data_next(body) && (pn_data_type(body) == PN_BINARY || pn_data_type(body) == PN_STRING)) {
        pn_bytes_t bb = pn_data_type(body) == PN_BINARY ? pn_data_get_binary(body) : pn_data_get_string(body);
        j->body_is_string = pn_data_type(body) == PN_STRING;
        j->body_len = bb.size;
        if ((j->body = sodium_malloc(bb.size > 0 ? bb.size : 1)) == NULL)
            goto nomem;
        memcpy(j->body, bb.start, bb.size);
    } else {
        /* Not a JSON text (an AMQP map, a sequence...): the dispatcher answers an empty body invalid_request. */
        log_field(idq, sizeof idq, j->msgid);
        adb_log(l->log, ADB_LOG_WARN, "request_body_type", "message_id=%s msg=\"body is neither a data section nor "
                "an amqp-value string\"", idq);
        if ((j->body = sodium_malloc(1)) == NULL)
            goto nomem;
        j->body_len = 0;
    }
    /* The decoded message's body copy may hold a plaintext password: clear it now. */
    pn_data_clear(body);
    if (ib->data != NULL)
        adb_wipe(ib->data, ib->len);
    j->req.body = j->body;
    j->req.len = j->body_len;
    /* first_acquirer false or delivery_count > 0: brokers differ in which
     * they set (RabbitMQ 3.10 never raises delivery_count on redelivery). */
    j->req.redelivered = !pn_message_is_first_acquirer(m) || pn_message_get_delivery_count(m) > 0;
    j->req.expiry_unix_ms = expiry_of(m);
    j->req.message_id = j->msgid;
    j->gen = l->gen;
    j->dlv = d;
    j->state = JOB_AT_WORKER;
    live_add(l, j);
    COUNT(l, received);
    if (j->req.redelivered)
        COUNT(l, redelivered);
    l->submit(l->submit_arg, j);
    return;
nomem:
    adb_log(l->log, ADB_LOG_ERROR, "request_released", "reason=out_of_memory");
    give_back(d, false);
    COUNT(l, released);
    if (j != NULL) {
        j->msg = NULL;
        job_free(j);
    }
    pn_message_free(m);
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
        size_t pending = pn_delivery_pending(d);
        ssize_t n;
        if (pending == 0)
            break;
        if (!ib->oversize && ib->len + pending > l->max_bytes) {
            ib->oversize = true;
            if (ib->data != NULL)
                adb_wipe(ib->data, ib->len);
        }
        if (ib->oversize) {
            char scratch[4096];
            n = pn_link_recv(lk, scratch, sizeof scratch);
            adb_wipe(scratch, sizeof scratch);
        } else {
            if (ib->len + pending > ib->cap) {
                size_t ncap = ib->len + pending;
                unsigned char *nd = sodium_malloc(ncap);
                if (nd == NULL)
                    return;
                if (ib->data != NULL) {
                    memcpy(nd, ib->data, ib->len);
                    sodium_free(ib->data);
                }
                ib->data = nd;
                ib->cap = ncap;
            }
            n = pn_link_recv(lk, (char *)ib->data + ib->len, ib->cap - ib->len);
            if (n > 0)
                ib->len += (size_t)n;
        }
        if (n <= 0)
            break;
    }
    if (pn_delivery_partial(d) && !pn_delivery_aborted(d))
        return;
    pn_delivery_set_context(d, NULL);
    if (pn_delivery_aborted(d)) {
        pn_delivery_settle(d);
    } else {
        take_request(l, d, ib);
    }
    pn_link_advance(lk);
    if (ib->data != NULL)
        sodium_free(ib->data);
    free(ib);
}

static pn_link_t *reply_sender(adb_link *l, const char *address)
{
    pn_session_t *ssn = pn_link_session(l->receiver);
    sender_entry *slot = NULL;
    char name[64];
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
        pn_link_close(slot->link);
        free(slot->address);
        slot->link = NULL;
    }
    if ((slot->address = strdup(address)) == NULL)
        return NULL;
    snprintf(name, sizeof name, "adbridge-reply-%llu", (unsigned long long)++l->tag_seq);
    slot->link = pn_sender(ssn, name);
    pn_terminus_set_address(pn_link_target(slot->link), address);
    pn_link_set_snd_settle_mode(slot->link, PN_SND_UNSETTLED);
    pn_link_open(slot->link);
    slot->last_use = ++l->use_clock;
    return slot->link;
}

static void forget_sender(adb_link *l, pn_link_t *lk)
{
    for (size_t i = 0; i < MAX_SENDERS; i++)
        if (l->senders[i].link == lk) {
            free(l->senders[i].address);
            l->senders[i].address = NULL;
            l->senders[i].link = NULL;
        }
}

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

    log_field(idq, sizeof idq, j->msgid);
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
    j->state = JOB_AWAIT_SETTLE;
    free(buf.start);
    pn_message_free(r);
    return;
fail:
    free(buf.start);
    if (r != NULL)
        pn_message_free(r);
    adb_log(l->log, ADB_LOG_ERROR, "reply_failed", "message_id=%s reason=cannot_build_reply", idq);
    give_back(j->dlv, true);
    COUNT(l, released);
    job_end(l, j);
}

/* The broker settled a reply: settle its request accordingly. */
static void on_reply_settled(adb_link *l, pn_delivery_t *rd)
{
    adb_link_job *j = pn_delivery_get_context(rd);
    uint64_t state = pn_delivery_remote_state(rd);
    char idq[2 * MSGID_TEXT_MAX];

    if (j == NULL)
        return;
    pn_delivery_set_context(rd, NULL);
    pn_delivery_settle(rd);
    log_field(idq, sizeof idq, j->msgid);
    if (state == PN_ACCEPTED || state == 0) {
        pn_delivery_update(j->dlv, PN_ACCEPTED);
        pn_delivery_settle(j->dlv);
        COUNT(l, replied);
    } else if (state == PN_REJECTED) {
        /* The reply address refuses it: redelivering the request cannot help. */
        char c[256];
        cond_text(pn_disposition_condition(pn_delivery_remote(rd)), c, sizeof c);
        adb_log(l->log, ADB_LOG_WARN, "reply_rejected", "message_id=%s broker_said=\"%s\"", idq, c);
        pn_delivery_update(j->dlv, PN_REJECTED);
        pn_delivery_settle(j->dlv);
        COUNT(l, rejected);
    } else {
        adb_log(l->log, ADB_LOG_WARN, "reply_not_taken", "message_id=%s outcome=%llu", idq, (unsigned long long)state);
        give_back(j->dlv, true);
        COUNT(l, released);
    }
    job_end(l, j);
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
        if (j->gen != l->gen || !l->serving || j->dlv == NULL) {
            /* Its connection is gone: the broker redelivers the request. */
            l->outstanding--;
            COUNT(l, dropped);
            job_free(j);
        } else if (!j->answered) {
            give_back(j->dlv, true);
            COUNT(l, released);
            job_end(l, j);
        } else {
            send_reply(l, j);
        }
    }
}

/* Gives back every request of this connection that is not settled yet. */
static void release_all(adb_link *l)
{
    adb_link_job *j, *next;

    for (j = l->live; j != NULL; j = next) {
        next = j->next;
        if (j->dlv != NULL && l->serving) {
            give_back(j->dlv, true);
            COUNT(l, released);
        }
        j->dlv = NULL;
        if (j->state == JOB_AWAIT_SETTLE) {
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

/* Handles one proton event; returns false when the connection should close
 * with an error (already recorded). */
static void handle_event(adb_link *l, pn_event_t *e)
{
    pn_link_t *lk;
    char text[ADB_ERROR_MESSAGE_MAX];
    char addrq[300];

    switch (pn_event_type(e)) {
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
            adb_log(l->log, ADB_LOG_INFO, "link_connected", "broker=%s:%u tls=%s proxy=%s address=%s slots=%u",
                    l->u.host, l->u.port, l->u.tls ? "yes" : "no",
                    l->b->proxy.host != NULL ? l->b->proxy.host : "none", addrq, l->slots);
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
        } else {
            adb_link_job *j, *next;
            /* A reply link went away: its unsettled replies are lost, their
             * requests go back to the broker. */
            for (j = l->live; j != NULL; j = next) {
                next = j->next;
                if (j->state == JOB_AWAIT_SETTLE && j->sender == lk) {
                    give_back(j->dlv, true);
                    COUNT(l, released);
                    job_end(l, j);
                }
            }
            adb_log(l->log, ADB_LOG_WARN, "reply_link_closed", "error=\"%s\"", text);
            forget_sender(l, lk);
            pn_link_close(lk);
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
        /* RabbitMQ ends the whole session when an attach fails (e.g. a queue
         * declared with other arguments): nothing works without it. */
        char msg[ADB_ERROR_MESSAGE_MAX];
        cond_text(pn_session_remote_condition(pn_event_session(e)), text, sizeof text);
        fmt(msg, sizeof msg, "the broker ended the session (request address %s): %s", l->b->address,
            text[0] != '\0' ? text : "no reason given");
        adb_log(l->log, ADB_LOG_ERROR, "link_error", "error=\"%s\"", msg);
        if (!l->stopping)
            set_error(l, ADB_E_PROTOCOL, msg);
        pn_session_close(pn_event_session(e));
        pn_connection_close(l->c.driver.connection);
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
    pn_session_t *ssn;
    bool close_sent = false;
    int64_t close_deadline = 0;

    memset(&l->c, 0, sizeof l->c);
    l->c.fd = -1;
    l->serving = false;
    l->receiver = NULL;
    l->err_recorded = false;
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
    ssn = pn_session(l->c.driver.connection);
    pn_session_open(ssn);
    l->receiver = pn_receiver(ssn, "adbridge-requests");
    pn_terminus_set_address(pn_link_source(l->receiver), l->b->address);
    pn_link_set_snd_settle_mode(l->receiver, PN_SND_UNSETTLED);
    pn_link_set_rcv_settle_mode(l->receiver, PN_RCV_FIRST);
    pn_link_set_max_message_size(l->receiver, l->max_bytes);
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
             * credit already granted is released untouched (take_request). */
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
        l->senders[i].address = NULL;
        l->senders[i].link = NULL;
    }
    l->receiver = NULL;
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
        (rc = adb_secret_file_load(b->password_file, "broker password", &pw, &r.error)) != ADB_OK) {
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
