/* The broker lock annotation (src/link/link_requests.c: link_locked_until,
 * link_lock_expired): Azure Service Bus's x-opt-locked-until, an AMQP
 * timestamp in the message annotations, read from a message that went
 * through proton's encoder and decoder as the link reads it. */
#include "config.h"

#include "../../src/link/link_internal.h"

#include <adbridge/clock.h>

#include <proton/codec.h>
#include <proton/message.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

enum { T = 1900000000123 }; /* 2030-03-17, in ms */

/* One annotation entry: its key (a symbol unless as_string) and its value
 * (a timestamp, a long or a string). */
typedef struct entry {
    const char *key;
    bool as_string;
    enum { TS, LONG, STR } type;
    int64_t v;
} entry;

/* Annotations through the wire: the entries into a message's annotations,
 * encoded, decoded into another message: link_locked_until of that one. */
static int64_t through_wire(const entry *e, size_t n)
{
    pn_message_t *m = pn_message(), *back = pn_message();
    pn_data_t *a = pn_message_annotations(m);
    pn_rwbytes_t buf = { 0, NULL };
    ssize_t len;
    int64_t v;

    pn_data_put_map(a);
    pn_data_enter(a);
    for (size_t i = 0; i < n; i++) {
        pn_bytes_t k = pn_bytes(strlen(e[i].key), e[i].key);
        if (e[i].as_string)
            pn_data_put_string(a, k);
        else
            pn_data_put_symbol(a, k);
        if (e[i].type == TS)
            pn_data_put_timestamp(a, e[i].v);
        else if (e[i].type == LONG)
            pn_data_put_long(a, e[i].v);
        else
            pn_data_put_string(a, pn_bytes(13, "1900000000123"));
    }
    pn_data_exit(a);
    pn_data_put_string(pn_message_body(m), pn_bytes(2, "{}"));
    len = pn_message_encode2(m, &buf);
    assert_true(len > 0);
    assert_int_equal(pn_message_decode(back, buf.start, (size_t)len), 0);
    v = link_locked_until(pn_message_annotations(back));
    free(buf.start);
    pn_message_free(m);
    pn_message_free(back);
    return v;
}

#define LOCK "x-opt-locked-until"

static void test_lock_read(void **state)
{
    const entry alone[] = { { LOCK, false, TS, T } };
    const entry after_others[] = {
        { "x-opt-enqueued-time", false, TS, T - 5000 }, { "x-opt-sequence-number", false, LONG, 42 }, { LOCK, false, TS, T },
    };

    (void)state;
    assert_int_equal(through_wire(alone, 1), T);
    assert_int_equal(through_wire(after_others, 3), T);
}

static void test_lock_absent_or_malformed(void **state)
{
    const entry cases[] = {
        { "x-opt-enqueued-time", false, TS, T },   /* another annotation only */
        { LOCK, false, LONG, T },                  /* only the timestamp type counts */
        { LOCK, false, STR, 0 },
        { LOCK, true, TS, T },                     /* annotation keys are symbols */
        { "x-opt-locked-unti", false, TS, T },
        { LOCK, false, TS, -1 },
        { LOCK, false, TS, 0 },
    };

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_int_equal(through_wire(&cases[i], 1), 0);
}

static void test_lock_no_map(void **state)
{
    pn_data_t *d = pn_data(4);
    pn_message_t *m = pn_message();

    (void)state;
    assert_int_equal(link_locked_until(NULL), 0);
    assert_int_equal(link_locked_until(d), 0);              /* empty */
    pn_data_put_list(d);                                    /* not a map */
    assert_int_equal(link_locked_until(d), 0);
    assert_int_equal(link_locked_until(pn_message_annotations(m)), 0); /* a message without annotations */
    pn_data_free(d);
    pn_message_free(m);
}

static void test_lock_expired(void **state)
{
    adb_link_job j;

    (void)state;
    memset(&j, 0, sizeof j);
    assert_false(link_lock_expired(&j));                    /* no lock */
    j.lock_until_ms = adb_wall_ms() + 60000;
    assert_false(link_lock_expired(&j));
    j.lock_until_ms = adb_wall_ms() - 1;
    assert_true(link_lock_expired(&j));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lock_read),
        cmocka_unit_test(test_lock_absent_or_malformed),
        cmocka_unit_test(test_lock_no_map),
        cmocka_unit_test(test_lock_expired),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
