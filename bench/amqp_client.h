/* The benchmarks' AMQP 1.0 request/reply client (qpid-proton proactor),
 * shared by bench_link and bench_load: n requests, at most `window` in
 * flight, each reply timed by its correlation id.  Replies come back on the
 * fixed queue /queue/replies (RabbitMQ 3.10 refuses dynamic reply queues).
 * Every failure ends the program with status 2: a figure from a broken run
 * would mislead. */
#ifndef ADBRIDGE_BENCH_AMQP_CLIENT_H
#define ADBRIDGE_BENCH_AMQP_CLIENT_H

#include "stats.h"

#include <proton/condition.h>
#include <proton/connection.h>
#include <proton/delivery.h>
#include <proton/link.h>
#include <proton/message.h>
#include <proton/proactor.h>

#include <stddef.h>

#define AMQP_REPLY_ADDR "/queue/replies"

/* The broker bench/run started (tests/integration/broker.sh exports
 * BROKER_AMQP_URL, BROKER_USER, BROKER_PASSWORD_FILE). */
typedef struct amqp_broker {
    const char *prog; /* prefixes every error message */
    const char *addr; /* host:port */
    const char *user;
    char pw[256];
} amqp_broker;

void amqp_broker_init(amqp_broker *b, const char *prog);

/* A new connection (SASL PLAIN) on proactor p, opened and connecting. */
pn_connection_t *amqp_connect(const amqp_broker *b, pn_proactor_t *p, const char *container);

/* Exits with where and the condition's text when cond is set. */
void amqp_check_cond(const amqp_broker *b, pn_condition_t *cond, const char *where);

/* The whole incoming message of the readable, complete delivery d, decoded
 * (buf/cap: a receive buffer kept between calls). */
pn_message_t *amqp_recv_message(const amqp_broker *b, pn_link_t *l, pn_delivery_t *d, char **buf, size_t *cap);

/* One closed-loop run; what differs between the benchmarks is here. */
typedef struct amqp_run {
    const char *name;   /* container NAME-client, links NAME-requests and NAME-replies */
    const char *target; /* where the requests go */
    const char *prefix; /* correlation ids PREFIX-0, PREFIX-1, ...: a previous run's late replies are told apart */
    int n, window;
    /* Writes request i (its JSON "id" is cid) into out; returns its length. */
    int (*body)(const void *arg, char *out, size_t size, const char *cid, int i);
    /* Optional: just before the first send and at the last reply (CPU probes). */
    void (*started)(const void *arg);
    void (*finished)(const void *arg);
    const void *arg;
} amqp_run;

/* Runs r: each reply's latency into lat; an error reply ends the program.
 * Returns the seconds from the first send to the last reply. */
double amqp_client_run(const amqp_broker *b, const amqp_run *r, bench_samples *lat);

#endif
