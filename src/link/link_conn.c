/* The cloud link's connection (link_internal.h): the broker URL, one AMQP
 * connection over a socket of its own -- TLS and SASL as configured, bytes
 * moved between the socket and proton's connection driver -- errors in
 * words an admin can act on, and the one-shot probe of adbridge diagnose. */
#include "config.h"

#include "link_internal.h"

#include <adbridge/clock.h>
#include <adbridge/fileio.h>
#include <adbridge/log.h>
#include <adbridge/proxy.h>

#include <proton/connection.h>
#include <proton/event.h>
#include <proton/sasl.h>
#include <proton/transport.h>

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

enum {
    IDLE_TIMEOUT_MS = 30000,       /* AMQP heartbeats: a dead peer is noticed within this */
    MAX_FRAME = 65536,             /* our max-frame-size */
};

/* ---- URL ---- */

adb_code link_parse_url(const char *s, link_url *u, adb_error *err)
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
void link_fmt(char *buf, size_t size, const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    vsnprintf(buf, size, f, ap);
    va_end(ap);
}

/* "name: description" of a proton condition, or "" when unset. */
void link_cond_text(pn_condition_t *c, char *buf, size_t size)
{
    const char *name, *desc;

    buf[0] = '\0';
    if (c == NULL || !pn_condition_is_set(c))
        return;
    name = pn_condition_get_name(c);
    desc = pn_condition_get_description(c);
    snprintf(buf, size, "%s%s%s", name != NULL ? name : "error", desc != NULL ? ": " : "", desc != NULL ? desc : "");
}

/* v as one log field value (adb_log_value); NULL as "". */
void link_log_field(char *buf, size_t size, const char *v)
{
    adb_log_value(buf, size, v != NULL ? v : "");
}

/* ---- one AMQP connection over an owned socket (shared with the probe) ---- */

/* Builds connection + transport with TLS and SASL as configured and binds
 * them to the driver.  pw may be NULL. */
adb_code link_conn_setup(link_conn *c, const adb_broker_config *b, const link_url *u, const adb_secret *pw,
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
bool link_conn_io(link_conn *c, int wake_fd, int wait_ms)
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
void link_conn_error_text(link_conn *c, char *buf, size_t size)
{
    char t[ADB_ERROR_MESSAGE_MAX];

    link_cond_text(pn_transport_condition(c->driver.transport), t, sizeof t);
    if (t[0] == '\0')
        link_cond_text(pn_connection_remote_condition(c->driver.connection), t, sizeof t);
    if (t[0] == '\0')
        snprintf(t, sizeof t, "connection closed");
    snprintf(buf, size, "%s", t);
}

void link_conn_destroy(link_conn *c)
{
    if (c->driver_ok)
        pn_connection_driver_destroy(&c->driver);
    c->driver_ok = false;
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}

/* A hint an admin can act on, from what went wrong. */
const char *link_error_hint(const char *text, bool tls)
{
    if (strstr(text, "unauthorized-access") != NULL || strstr(text, "Authentication failed") != NULL)
        return " (check $.broker.username, the password file and $.broker.sasl_mechanisms)";
    if (tls && (strstr(text, "certificate verify failed") != NULL || strstr(text, "SSL") != NULL))
        return " (TLS: is $.broker.ca_file the CA that signed the broker's certificate, and does the certificate "
               "name the host of $.broker.url?)";
    return "";
}

/* ---- probe ---- */

adb_code adb_link_probe(const adb_broker_config *b, int timeout_ms, adb_link_probe_result *out, adb_error *err)
{
    adb_link_probe_result r;
    adb_secret *pw = NULL;
    adb_dial_times dt;
    const char *stage = NULL;
    link_conn c;
    link_url u;
    int64_t deadline = adb_mono_ms() + (timeout_ms > 0 ? timeout_ms : 10000);
    double t_amqp = 0, t_close = 0;
    bool opened = false, closing = false;
    adb_code rc;
    char text[ADB_ERROR_MESSAGE_MAX];

    adb_link_probe_result_reset(&r);
    memset(&c, 0, sizeof c);
    c.fd = -1;
    if ((rc = link_parse_url(b->url, &u, &r.error)) != ADB_OK) {
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
    if ((rc = link_conn_setup(&c, b, &u, pw, "adbridge-diagnose", &r.error)) != ADB_OK) {
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
        link_conn_io(&c, -1, (int)(deadline - now < 200 ? deadline - now : 200));
    }
    {
        const char *mech = pn_sasl_get_mech(pn_sasl(c.driver.transport));
        if (mech != NULL)
            snprintf(r.sasl_mech, sizeof r.sasl_mech, "%s", mech);
    }
    if (opened) {
        r.close_ms = adb_mono_ms_f() - t_close;
        link_cond_text(pn_connection_remote_condition(c.driver.connection), text, sizeof text);
        if (text[0] != '\0') {
            rc = adb_error_set(&r.error, ADB_E_PROTOCOL, "%s:%u: the broker closed with an error: %s", u.host, u.port,
                               text);
            r.failed_stage = "close";
        }
        goto out;
    }
    link_conn_error_text(&c, text, sizeof text);
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
                       "%s:%u (%s): %.300s%s", u.host, u.port, r.failed_stage, text, link_error_hint(text, u.tls));
out:
    adb_secret_free(pw);
    link_conn_destroy(&c);
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
