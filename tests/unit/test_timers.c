/*
 * test_timers.c — the timer service of keyed operators (engine/timers.c): one timer per
 * (key, ns, time) however often it is registered, deletion, firing in time order, state kept in
 * step (a fired or deleted timer leaves no entry behind), and many timers through the index's
 * growth and tombstones.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "runnel/hash.h"
#include "runnel/state.h"
#include "testutil.h"
#include "timers.h"

struct fired {
    uint32_t n;
    int64_t time[20000], ns[20000];
    int64_t key[20000];
    struct rn_timers *t;          /* for timers that register timers */
};

static rn_state_backend *backend(void)
{
    struct rn_state_config c = {.kind = RN_STATE_MEMORY, .max_parallelism = 128, .kg_first = 0, .kg_last = 127};
    struct rn_error err = {0};
    rn_state_backend *b = NULL;
    ck_assert_msg(rn_state_backend_open(&c, &b, &err) == 0, "%s", err.msg);
    return b;
}

/* An int64 key as rn_state_key_encode writes it (tag 1, then the 8 bytes). */
struct key {
    uint8_t bytes[9];
    struct rn_state_key k;
};

static struct rn_state_key *key_of(struct key *k, int64_t v)
{
    k->bytes[0] = 1;
    memcpy(k->bytes + 1, &v, 8);
    k->k = (struct rn_state_key){k->bytes, 9, (uint16_t)rn_key_group(rn_hash_i64(v), 128)};
    return &k->k;
}

static int record(const struct rn_timer *t, void *user)
{
    struct fired *f = user;
    int64_t v;
    memcpy(&v, (const uint8_t *)t->key.data + 1, 8);
    f->time[f->n] = t->time;
    f->ns[f->n] = t->ns;
    f->key[f->n++] = v;
    return 0;
}

static struct rn_timers *timers(rn_state_backend *b)
{
    struct rn_timers *t = NULL;
    struct rn_error err = {0};
    ck_assert_msg(rn__timers_create(b, &t, &err) == 0, "%s", err.msg);
    return t;
}

START_TEST(a_timer_registered_twice_fires_once)
{
    rn_state_backend *b = backend();
    struct rn_timers *t = timers(b);
    struct key k;
    for (int i = 0; i < 5; i++) ck_assert_int_eq(rn__timers_register(t, RN_TIMER_EVENT, key_of(&k, 7), 3, 100), 0);
    ck_assert_int_eq(rn__timers_next(t, RN_TIMER_EVENT), 100);
    ck_assert_int_eq(rn__timers_next(t, RN_TIMER_PROCESSING), INT64_MAX);
    struct fired *f = calloc(1, sizeof *f);
    ck_assert_int_eq(rn__timers_fire(t, RN_TIMER_EVENT, 99, record, f), 0);
    ck_assert_uint_eq(f->n, 0);
    ck_assert_int_eq(rn__timers_fire(t, RN_TIMER_EVENT, 100, record, f), 0);
    ck_assert_uint_eq(f->n, 1);
    ck_assert_int_eq(f->key[0], 7);
    ck_assert_int_eq(f->ns[0], 3);
    ck_assert_int_eq(f->time[0], 100);
    ck_assert_int_eq(rn__timers_next(t, RN_TIMER_EVENT), INT64_MAX);
    ck_assert_uint_eq(rn_state_backend_entries(b), 0);   /* fired: gone from state too */
    free(f);
    rn__timers_destroy(t);
    rn_state_backend_close(b);
}
END_TEST

START_TEST(a_deleted_timer_does_not_fire_until_registered_again)
{
    rn_state_backend *b = backend();
    struct rn_timers *t = timers(b);
    struct key k;
    ck_assert_int_eq(rn__timers_register(t, RN_TIMER_EVENT, key_of(&k, 1), 0, 50), 0);
    ck_assert_int_eq(rn__timers_register(t, RN_TIMER_EVENT, key_of(&k, 2), 0, 60), 0);
    ck_assert_int_eq(rn__timers_delete(t, RN_TIMER_EVENT, key_of(&k, 1), 0, 50), 0);
    ck_assert_int_eq(rn__timers_delete(t, RN_TIMER_EVENT, key_of(&k, 9), 0, 50), 0);   /* never registered */
    ck_assert_uint_eq(rn_state_backend_entries(b), 1);
    struct fired *f = calloc(1, sizeof *f);
    ck_assert_int_eq(rn__timers_fire(t, RN_TIMER_EVENT, 1000, record, f), 0);
    ck_assert_uint_eq(f->n, 1);
    ck_assert_int_eq(f->key[0], 2);
    /* delete, then register again before it is due: it fires once */
    ck_assert_int_eq(rn__timers_register(t, RN_TIMER_EVENT, key_of(&k, 3), 0, 2000), 0);
    ck_assert_int_eq(rn__timers_delete(t, RN_TIMER_EVENT, key_of(&k, 3), 0, 2000), 0);
    ck_assert_int_eq(rn__timers_register(t, RN_TIMER_EVENT, key_of(&k, 3), 0, 2000), 0);
    ck_assert_int_eq(rn__timers_register(t, RN_TIMER_EVENT, key_of(&k, 3), 0, 2000), 0);
    ck_assert_uint_eq(rn_state_backend_entries(b), 1);
    f->n = 0;
    ck_assert_int_eq(rn__timers_fire(t, RN_TIMER_EVENT, 3000, record, f), 0);
    ck_assert_uint_eq(f->n, 1);
    ck_assert_int_eq(f->key[0], 3);
    ck_assert_uint_eq(rn_state_backend_entries(b), 0);
    free(f);
    rn__timers_destroy(t);
    rn_state_backend_close(b);
}
END_TEST

START_TEST(many_timers_fire_in_time_order_exactly_once)
{
    enum { N = 10000 };
    rn_state_backend *b = backend();
    struct rn_timers *t = timers(b);
    struct key k;
    /* each (key, time) registered three times, in a scrambled order; every third one deleted */
    for (int round = 0; round < 3; round++)
        for (int64_t i = 0; i < N; i++) {
            int64_t j = (i * 7919) % N;
            ck_assert_int_eq(rn__timers_register(t, RN_TIMER_PROCESSING, key_of(&k, j % 100), j, 1000 + j), 0);
        }
    for (int64_t j = 0; j < N; j += 3) ck_assert_int_eq(rn__timers_delete(t, RN_TIMER_PROCESSING, key_of(&k, j % 100), j, 1000 + j), 0);
    struct fired *f = calloc(1, sizeof *f);
    /* in two steps: the first half, then the rest */
    ck_assert_int_eq(rn__timers_fire(t, RN_TIMER_PROCESSING, 1000 + N / 2, record, f), 0);
    ck_assert_int_eq(rn__timers_fire(t, RN_TIMER_PROCESSING, INT64_MAX, record, f), 0);
    uint32_t want = 0;
    for (int64_t j = 0; j < N; j++) {
        if (j % 3 == 0) continue;
        ck_assert_uint_lt(want, f->n);
        ck_assert_int_eq(f->time[want], 1000 + j);
        ck_assert_int_eq(f->ns[want], j);
        ck_assert_int_eq(f->key[want], j % 100);
        want++;
    }
    ck_assert_uint_eq(f->n, want);
    ck_assert_uint_eq(rn_state_backend_entries(b), 0);
    free(f);
    rn__timers_destroy(t);
    rn_state_backend_close(b);
}
END_TEST

/* A timer that registers the next one until time 10. */
static int chain(const struct rn_timer *timer, void *user)
{
    struct fired *f = user;
    record(timer, f);
    if (timer->time < 10) return rn__timers_register(f->t, RN_TIMER_EVENT, &timer->key, timer->ns, timer->time + 1);
    return 0;
}

START_TEST(timers_registered_while_firing_fire_in_the_same_pass)
{
    rn_state_backend *b = backend();
    struct rn_timers *t = timers(b);
    struct key k;
    ck_assert_int_eq(rn__timers_register(t, RN_TIMER_EVENT, key_of(&k, 5), 0, 1), 0);
    struct fired *f = calloc(1, sizeof *f);
    f->t = t;
    ck_assert_int_eq(rn__timers_fire(t, RN_TIMER_EVENT, 100, chain, f), 0);
    ck_assert_uint_eq(f->n, 10);
    for (uint32_t i = 0; i < 10; i++) ck_assert_int_eq(f->time[i], (int64_t)i + 1);
    free(f);
    rn__timers_destroy(t);
    rn_state_backend_close(b);
}
END_TEST

/* A timer left registered is freed with the service (ASan would report a leak). */
START_TEST(destroy_frees_pending_timers)
{
    rn_state_backend *b = backend();
    struct rn_timers *t = timers(b);
    struct key k;
    for (int64_t i = 0; i < 300; i++) ck_assert_int_eq(rn__timers_register(t, RN_TIMER_EVENT, key_of(&k, i), 0, i), 0);
    ck_assert_int_eq(rn__timers_next(t, RN_TIMER_EVENT), 0);
    rn__timers_destroy(t);
    rn_state_backend_close(b);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("timers");
    TCase *tc = tcase_create("timers");
    tcase_add_test(tc, a_timer_registered_twice_fires_once);
    tcase_add_test(tc, a_deleted_timer_does_not_fire_until_registered_again);
    tcase_add_test(tc, many_timers_fire_in_time_order_exactly_once);
    tcase_add_test(tc, timers_registered_while_firing_fire_in_the_same_pass);
    tcase_add_test(tc, destroy_frees_pending_timers);
    suite_add_tcase(s, tc);
    return s;
}

TU_MAIN(suite)
