/* The benchmarks' AMQP 1.0 request/reply client: see amqp_client.h. */
#include "config.h"

#include "amqp_client.h"

#include <jansson.h>
#include <proton/event.h>
#include <proton/sasl.h>
#include <proton/session.h>
#include <proton/transport.h>

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

__attribute__((format(printf, 2, 3), noreturn)) static void fail(const amqp_broker *b, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fprintf(stderr, "%s: ", b->prog);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

static const char *env(const amqp_broker *b, const char *name)
{
    const char *v = getenv(name);
    if (v == NULL || *v == '\0')
        fail(b, "%s is not set (run through bench/run, which starts the broker)", name);
    return v;
}

void amqp_broker_init(amqp_broker *b, const char *prog)
{
    const char *url, *pwfile;
    FILE *f;

    b->prog = prog;
    url = env(b, "BROKER_AMQP_URL");
    pwfile = env(b, "BROKER_PASSWORD_FILE");
    if ((f = fopen(pwfile, "r")) == NULL || fgets(b->pw, sizeof b->pw, f) == NULL)
        fail(b, "cannot read BROKER_PASSWORD_FILE %s", pwfile);
    fclose(f);
    b->pw[strcspn(b->pw, "\r\n")] = '\0';
    if (strncmp(url, "amqp://", 7) != 0)
        fail(b, "BROKER_AMQP_URL must be amqp://host:port, not %s", url);
    b->addr = url + 7;
    b->user = env(b, "BROKER_USER");
}

pn_connection_t *amqp_connect(const amqp_broker *b, pn_proactor_t *p, const char *container)
{
    pn_connection_t *conn = pn_connection();
    pn_transport_t *t = pn_transport();
    pn_sasl_t *sasl = pn_sasl(t);

    pn_connection_set_container(conn, container);
    pn_connection_set_user(conn, b->user);
    pn_connection_set_password(conn, b->pw);
    pn_sasl_allowed_mechs(sasl, "PLAIN");
    pn_sasl_set_allow_insecure_mechs(sasl, true); /* the test broker listens in plain text on loopback */
    pn_connection_open(conn);
    pn_proactor_connect2(p, conn, t, b->addr);
    return conn;
}

void amqp_check_cond(const amqp_broker *b, pn_condition_t *cond, const char *where)
{
    if (pn_condition_is_set(cond))
        fail(b, "%s: %s: %s", where, pn_condition_get_name(cond), pn_condition_get_description(cond));
}

pn_message_t *amqp_recv_message(const amqp_broker *b, pn_link_t *l, pn_delivery_t *d, char **buf, size_t *cap)
{
    size_t n = pn_delivery_pending(d);
    pn_message_t *m;

    if (n > *cap) {
        *cap = n;
        if ((*buf = realloc(*buf, n)) == NULL)
            abort();
    }
    if (pn_link_recv(l, *buf, n) != (ssize_t)n)
        fail(b, "%s", "pn_link_recv: short read");
    m = pn_message();
    if (pn_message_decode(m, *buf, n) != 0)
        fail(b, "%s", "an undecodable message");
    return m;
}

/* ---- one run ---- */

typedef struct client {
    const amqp_broker *b;
    const amqp_run *r;
    int sent, done, in_flight;
    double *sent_us, t_first, t_last, t_progress;
    bench_samples *lat;
    pn_link_t *snd, *rcv;
    bool snd_open, rcv_open, closing;
    pn_rwbytes_t buf;
    char *rbuf;
    size_t rcap;
} client;

/* Fills the window, once both links are attached. */
static void client_send(client *c)
{
    const amqp_run *r = c->r;

    if (!c->snd_open || !c->rcv_open || c->closing)
        return;
    while (c->sent < r->n && c->in_flight < r->window && pn_link_credit(c->snd) > 0) {
        char cid[64], body[512];
        pn_message_t *m = pn_message();
        int cl = snprintf(cid, sizeof cid, "%s-%d", r->prefix, c->sent);
        int bl = r->body(r->arg, body, sizeof body, cid, c->sent);
        pn_atom_t id = { .type = PN_STRING, .u.as_bytes = pn_bytes((size_t)cl, cid) };

        if (bl < 0 || (size_t)bl >= sizeof body)
            fail(c->b, "%s: request %d does not fit in %zu bytes", r->prefix, c->sent, sizeof body);
        pn_message_set_reply_to(m, AMQP_REPLY_ADDR);
        pn_message_set_correlation_id(m, id);
        pn_message_set_id(m, id);
        pn_data_put_string(pn_message_body(m), pn_bytes((size_t)bl, body));
        if (c->sent == 0) {
            if (r->started != NULL)
                r->started(r->arg);
            c->t_first = bench_now_us();
        }
        c->sent_us[c->sent++] = bench_now_us();
        pn_delivery(c->snd, pn_dtag(cid, (size_t)cl));
        if (pn_message_send(m, c->snd, &c->buf) < 0)
            fail(c->b, "%s", "pn_message_send failed");
        pn_message_free(m);
        c->in_flight++;
    }
}

/* The index in PREFIX-i, or -1 for a stray (another run's late reply). */
static int reply_index(const client *c, pn_atom_t cid)
{
    const char *prefix = c->r->prefix;
    size_t plen = strlen(prefix);
    char num[64];

    if (cid.type != PN_STRING || cid.u.as_bytes.size <= plen + 1 || cid.u.as_bytes.size >= sizeof num
        || memcmp(cid.u.as_bytes.start, prefix, plen) != 0 || cid.u.as_bytes.start[plen] != '-')
        return -1;
    memcpy(num, cid.u.as_bytes.start + plen + 1, cid.u.as_bytes.size - plen - 1);
    num[cid.u.as_bytes.size - plen - 1] = '\0';
    return atoi(num);
}

/* A reply: its latency from its send time; an error reply ends the program. */
static void client_reply(client *c, pn_delivery_t *d)
{
    pn_message_t *m = amqp_recv_message(c->b, c->rcv, d, &c->rbuf, &c->rcap);
    int i = reply_index(c, pn_message_get_correlation_id(m));
    double now = bench_now_us();

    if (i >= 0) {
        pn_data_t *body = pn_message_body(m);
        pn_data_rewind(body);
        if (!pn_data_next(body) || (pn_data_type(body) != PN_STRING && pn_data_type(body) != PN_BINARY))
            fail(c->b, "%s", "a reply without a string or binary body");
        pn_bytes_t t = pn_data_type(body) == PN_STRING ? pn_data_get_string(body) : pn_data_get_binary(body);
        json_t *o = json_loadb(t.start, t.size, 0, NULL);
        /* A figure for an error reply would time the wrong thing. */
        if (o == NULL || json_object_get(o, "error") != NULL)
            fail(c->b, "bad reply: %.*s", (int)(t.size > 400 ? 400 : t.size), t.start);
        json_decref(o);
        if (i < c->sent) {
            bench_add(c->lat, now - c->sent_us[i]);
            c->done++;
            c->in_flight--;
            c->t_last = c->t_progress = now;
            if (c->done == c->r->n && c->r->finished != NULL)
                c->r->finished(c->r->arg);
        }
    }
    pn_message_free(m);
    pn_delivery_update(d, PN_ACCEPTED);
    pn_delivery_settle(d);
    pn_link_flow(c->rcv, 1);
}

/* One event of the run's connection; false once it is over. */
static bool client_event(client *c, pn_proactor_t *p, pn_connection_t *conn, pn_event_t *e)
{
    switch (pn_event_type(e)) {
    case PN_LINK_REMOTE_OPEN:
        if (pn_event_link(e) == c->snd)
            c->snd_open = true;
        else
            c->rcv_open = true;
        client_send(c);
        break;
    case PN_LINK_FLOW:
        client_send(c);
        break;
    case PN_DELIVERY: {
        pn_delivery_t *d = pn_event_delivery(e);
        if (pn_delivery_link(d) == c->snd) {
            if (pn_delivery_remote_state(d) != 0)
                pn_delivery_settle(d);
        } else if (pn_delivery_readable(d) && !pn_delivery_partial(d)) {
            client_reply(c, d);
            if (c->done == c->r->n && !c->closing) {
                c->closing = true;
                pn_connection_close(conn);
            } else {
                client_send(c);
            }
        }
        break;
    }
    case PN_PROACTOR_TIMEOUT:
        if (bench_now_us() - c->t_progress > 60e6)
            fail(c->b, "%s: no progress in 60 s (%d of %d replies; attached: %d %d)", c->r->prefix, c->done,
                 c->r->n, c->snd_open, c->rcv_open);
        pn_proactor_set_timeout(p, 1000);
        break;
    case PN_LINK_REMOTE_CLOSE:
        amqp_check_cond(c->b, pn_link_remote_condition(pn_event_link(e)), "client link");
        break;
    case PN_CONNECTION_REMOTE_CLOSE:
        amqp_check_cond(c->b, pn_connection_remote_condition(pn_event_connection(e)), "client connection");
        break;
    case PN_TRANSPORT_CLOSED:
        if (!c->closing) {
            amqp_check_cond(c->b, pn_transport_condition(pn_event_transport(e)), "client transport");
            fail(c->b, "%s", "the client's connection closed early");
        }
        return false; /* not INACTIVE: the progress timer keeps the proactor active */
    default:
        break;
    }
    return true;
}

double amqp_client_run(const amqp_broker *b, const amqp_run *r, bench_samples *lat)
{
    client c = { .b = b, .r = r, .lat = lat };
    char name[128];
    pn_proactor_t *p = pn_proactor();
    pn_connection_t *conn;
    pn_session_t *ss;

    snprintf(name, sizeof name, "%s-client", r->name);
    conn = amqp_connect(b, p, name);
    ss = pn_session(conn);
    if ((c.sent_us = calloc((size_t)r->n, sizeof *c.sent_us)) == NULL)
        abort();
    pn_session_open(ss);
    snprintf(name, sizeof name, "%s-requests", r->name);
    c.snd = pn_sender(ss, name);
    pn_terminus_set_address(pn_link_target(c.snd), r->target);
    pn_link_open(c.snd);
    snprintf(name, sizeof name, "%s-replies", r->name);
    c.rcv = pn_receiver(ss, name);
    pn_terminus_set_address(pn_link_source(c.rcv), AMQP_REPLY_ADDR);
    pn_link_open(c.rcv);
    pn_link_flow(c.rcv, r->window + 16);
    c.t_progress = bench_now_us();
    pn_proactor_set_timeout(p, 1000);
    for (bool running = true; running;) {
        pn_event_batch_t *batch = pn_proactor_wait(p);
        pn_event_t *e;
        while ((e = pn_event_batch_next(batch)) != NULL)
            if (!client_event(&c, p, conn, e))
                running = false;
        pn_proactor_done(p, batch);
    }
    pn_proactor_free(p);
    free(c.sent_us);
    free(c.buf.start);
    free(c.rbuf);
    return (c.t_last - c.t_first) / 1e6;
}
