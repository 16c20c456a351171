/*
 * test_buffer.c — Check suite "buffer": reference-counted buffers from per-thread pools.
 *
 * Covers the contract of runnel/buffer.h: sizes and 64-byte alignment, reference counts,
 * steady-state reuse without malloc, frees from another thread (returned to the owner's pool),
 * trimming, and large sizes. Pool counters are per thread and may carry over from earlier
 * tests (CK_FORK=no), so every check on them compares before and after. The thread tests are
 * meant to run under ASan (and are worth running under TSan): "no crash" alone proves little.
 */
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "testutil.h"

#include "runnel/buffer.h"

static struct rn_pool_stats stats(void)
{
    struct rn_pool_stats st;
    memset(&st, 0xAB, sizeof st);
    rn_pool_stats(&st);
    return st;
}

/* ---- allocation ---- */

START_TEST(test_alloc_gives_at_least_size_aligned)
{
    size_t sizes[] = {1, 7, 63, 64, 65, 100, 127, 128, 129, 1000, 4095, 4096, 4097,
                      65535, 65536, 65537, 1u << 20, (1u << 20) + 1};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        rn_buf *b = rn_buf_alloc(sizes[i]);
        ck_assert_ptr_nonnull(b);
        ck_assert_uint_ge(rn_buf_cap(b), sizes[i]);
        ck_assert_ptr_nonnull(rn_buf_data(b));
        ck_assert_msg(((uintptr_t)rn_buf_data(b) & 63) == 0, "size %zu: data %p not 64-aligned",
                      sizes[i], rn_buf_data(b));
        /* The whole capacity is usable (ASan flags an overflow). */
        memset(rn_buf_data(b), 0x5A, rn_buf_cap(b));
        rn_buf_unref(b);
    }
}
END_TEST

START_TEST(test_alloc_aligned_while_many_live)
{
    enum { N = 300 };
    rn_buf *bufs[N];
    for (int i = 0; i < N; i++) {
        bufs[i] = rn_buf_alloc(1 + (size_t)i * 37);
        ck_assert_ptr_nonnull(bufs[i]);
        ck_assert_uint_eq((uintptr_t)rn_buf_data(bufs[i]) & 63, 0);
    }
    for (int i = 0; i < N; i++) rn_buf_unref(bufs[i]);
}
END_TEST

START_TEST(test_live_buffers_do_not_overlap)
{
    enum { N = 200 };
    rn_buf *bufs[N];
    for (int i = 0; i < N; i++) {
        bufs[i] = rn_buf_alloc(16 + (size_t)(i % 13) * 300);
        ck_assert_ptr_nonnull(bufs[i]);
        memset(rn_buf_data(bufs[i]), i & 0xFF, rn_buf_cap(bufs[i]));
    }
    for (int i = 0; i < N; i++) {
        const unsigned char *p = rn_buf_data(bufs[i]);
        for (size_t j = 0; j < rn_buf_cap(bufs[i]); j++)
            ck_assert_msg(p[j] == (unsigned char)(i & 0xFF), "buffer %d byte %zu overwritten", i, j);
    }
    for (int i = 0; i < N; i++) rn_buf_unref(bufs[i]);
}
END_TEST

START_TEST(test_alloc_counts_in_stats)
{
    struct rn_pool_stats before = stats();
    for (int i = 0; i < 10; i++) rn_buf_unref(rn_buf_alloc(256));
    struct rn_pool_stats after = stats();
    ck_assert_uint_eq(after.allocs - before.allocs, 10);
    ck_assert_uint_le(after.mallocs - before.mallocs, 10);
}
END_TEST

static void *fresh_thread_stats(void *arg)
{
    struct rn_pool_stats *out = arg;
    out[0] = stats();
    rn_buf *b = rn_buf_alloc(1000);
    out[1] = stats();
    rn_buf_unref(b);
    return NULL;
}

START_TEST(test_stats_are_per_thread)
{
    /* Allocate here first, so this thread's counters are not zero. */
    rn_buf_unref(rn_buf_alloc(1000));
    struct rn_pool_stats st[2];
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, fresh_thread_stats, st), 0);
    pthread_join(t, NULL);
    ck_assert_uint_eq(st[0].allocs, 0);
    ck_assert_uint_eq(st[0].mallocs, 0);
    ck_assert_uint_eq(st[0].cached_bytes, 0);
    ck_assert_uint_eq(st[1].allocs, 1);
    ck_assert_uint_eq(st[1].mallocs, 1);
}
END_TEST

/* ---- reference counts ---- */

START_TEST(test_ref_unref_counts)
{
    rn_buf *b = rn_buf_alloc(128);
    ck_assert_uint_eq(rn_buf_refs(b), 1);
    ck_assert_ptr_eq(rn_buf_ref(b), b);
    ck_assert_uint_eq(rn_buf_refs(b), 2);
    rn_buf_ref(b);
    ck_assert_uint_eq(rn_buf_refs(b), 3);
    rn_buf_unref(b);
    ck_assert_uint_eq(rn_buf_refs(b), 2);
    rn_buf_unref(b);
    ck_assert_uint_eq(rn_buf_refs(b), 1);
    /* Data stays usable while a reference is held. */
    memset(rn_buf_data(b), 1, rn_buf_cap(b));
    rn_buf_unref(b);
}
END_TEST

START_TEST(test_unref_null_is_ignored)
{
    rn_buf_unref(NULL);
}
END_TEST

struct ref_race {
    rn_buf *b;
    int iters;
};

static void *ref_unref_loop(void *arg)
{
    struct ref_race *r = arg;
    for (int i = 0; i < r->iters; i++) {
        rn_buf_ref(r->b);
        rn_buf_unref(r->b);
    }
    return NULL;
}

START_TEST(test_refs_are_atomic_across_threads)
{
    enum { T = 8 };
    struct ref_race r = {rn_buf_alloc(64), 100000};
    pthread_t th[T];
    for (int i = 0; i < T; i++) ck_assert_int_eq(pthread_create(&th[i], NULL, ref_unref_loop, &r), 0);
    for (int i = 0; i < T; i++) pthread_join(th[i], NULL);
    ck_assert_uint_eq(rn_buf_refs(r.b), 1);
    rn_buf_unref(r.b);
}
END_TEST

/* ---- steady-state reuse ---- */

START_TEST(test_steady_state_reuses_without_malloc)
{
    size_t sizes[] = {1, 100, 1000, 4096, 5000, 65536, 1u << 20};
    enum { NS = sizeof sizes / sizeof sizes[0] };
    rn_buf *live[NS];
    /* Warm-up: the pool learns these sizes. */
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < NS; i++) live[i] = rn_buf_alloc(sizes[i]);
        for (int i = 0; i < NS; i++) rn_buf_unref(live[i]);
    }
    struct rn_pool_stats before = stats();
    for (int round = 0; round < 1000; round++) {
        for (int i = 0; i < NS; i++) {
            live[i] = rn_buf_alloc(sizes[i]);
            ck_assert_ptr_nonnull(live[i]);
        }
        /* Free in a different order each round. */
        for (int i = 0; i < NS; i++) rn_buf_unref(live[(i + round) % NS]);
    }
    struct rn_pool_stats after = stats();
    ck_assert_uint_eq(after.allocs - before.allocs, 1000 * NS);
    ck_assert_msg(after.mallocs == before.mallocs, "steady state called malloc %llu times",
                  (unsigned long long)(after.mallocs - before.mallocs));
}
END_TEST

START_TEST(test_alloc_free_loop_reuses_without_malloc)
{
    rn_buf_unref(rn_buf_alloc(3000));
    struct rn_pool_stats before = stats();
    for (int i = 0; i < 10000; i++) rn_buf_unref(rn_buf_alloc(3000));
    struct rn_pool_stats after = stats();
    ck_assert_uint_eq(after.mallocs, before.mallocs);
}
END_TEST

START_TEST(test_freed_buffer_is_cached)
{
    rn_buf *b = rn_buf_alloc(4096);
    size_t cap = rn_buf_cap(b);
    struct rn_pool_stats before = stats();
    rn_buf_unref(b);
    struct rn_pool_stats after = stats();
    ck_assert_uint_ge(after.cached_bytes, before.cached_bytes + cap);
}
END_TEST

/* ---- frees from other threads ---- */

enum { XT_THREADS = 4, XT_PER_THREAD = 5000 };

struct xt_queue {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    rn_buf *items[XT_THREADS * XT_PER_THREAD];
    int head, tail, producers_left;
};

static void *xt_producer(void *arg)
{
    struct xt_queue *q = arg;
    for (int i = 0; i < XT_PER_THREAD; i++) {
        rn_buf *b = rn_buf_alloc(64 + (size_t)(i % 7) * 1000);
        memset(rn_buf_data(b), 0x11, rn_buf_cap(b));
        pthread_mutex_lock(&q->mu);
        q->items[q->tail++] = b;
        pthread_cond_signal(&q->cv);
        pthread_mutex_unlock(&q->mu);
        /* Drop some that the consumer has not freed yet: mixes local and remote frees. */
        if (i % 3 == 0) rn_buf_unref(rn_buf_alloc(64));
    }
    pthread_mutex_lock(&q->mu);
    q->producers_left--;
    pthread_cond_signal(&q->cv);
    pthread_mutex_unlock(&q->mu);
    return NULL;
}

static void *xt_consumer(void *arg)
{
    struct xt_queue *q = arg;
    for (;;) {
        pthread_mutex_lock(&q->mu);
        while (q->head == q->tail && q->producers_left > 0) pthread_cond_wait(&q->cv, &q->mu);
        if (q->head == q->tail && q->producers_left == 0) {
            pthread_mutex_unlock(&q->mu);
            return NULL;
        }
        rn_buf *b = q->items[q->head++];
        pthread_mutex_unlock(&q->mu);
        const unsigned char *p = rn_buf_data(b);
        if (p[0] != 0x11 || p[rn_buf_cap(b) - 1] != 0x11) return (void *)1;
        rn_buf_unref(b);
    }
}

START_TEST(test_free_on_other_thread_is_safe)
{
    static struct xt_queue q;
    memset(&q, 0, sizeof q);
    pthread_mutex_init(&q.mu, NULL);
    pthread_cond_init(&q.cv, NULL);
    q.producers_left = XT_THREADS;
    pthread_t prod[XT_THREADS], cons;
    ck_assert_int_eq(pthread_create(&cons, NULL, xt_consumer, &q), 0);
    for (int i = 0; i < XT_THREADS; i++)
        ck_assert_int_eq(pthread_create(&prod[i], NULL, xt_producer, &q), 0);
    for (int i = 0; i < XT_THREADS; i++) pthread_join(prod[i], NULL);
    void *res;
    pthread_join(cons, &res);
    ck_assert_ptr_null(res);
    ck_assert_int_eq(q.head, XT_THREADS * XT_PER_THREAD);
    pthread_cond_destroy(&q.cv);
    pthread_mutex_destroy(&q.mu);
}
END_TEST

/* A producer allocates a round of buffers, the main thread frees them all, repeat: the frees
 * return the buffers to the producer's pool, so after warm-up its mallocs stop growing. */
enum { RT_ROUNDS = 200, RT_WARM = 5, RT_K = 32 };

struct round_trip {
    pthread_barrier_t allocated, freed;
    rn_buf *bufs[RT_K];
    struct rn_pool_stats warm, end;
};

static void *rt_producer(void *arg)
{
    struct round_trip *rt = arg;
    for (int r = 0; r < RT_ROUNDS; r++) {
        if (r == RT_WARM) rt->warm = stats();
        for (int i = 0; i < RT_K; i++) rt->bufs[i] = rn_buf_alloc(4096 + (size_t)(i % 4) * 4096);
        pthread_barrier_wait(&rt->allocated);
        pthread_barrier_wait(&rt->freed);
    }
    rt->end = stats();
    return NULL;
}

START_TEST(test_free_on_other_thread_returns_to_owner_pool)
{
    static struct round_trip rt;
    memset(&rt, 0, sizeof rt);
    pthread_barrier_init(&rt.allocated, NULL, 2);
    pthread_barrier_init(&rt.freed, NULL, 2);
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, rt_producer, &rt), 0);
    for (int r = 0; r < RT_ROUNDS; r++) {
        pthread_barrier_wait(&rt.allocated);
        for (int i = 0; i < RT_K; i++) rn_buf_unref(rt.bufs[i]);
        pthread_barrier_wait(&rt.freed);
    }
    pthread_join(t, NULL);
    pthread_barrier_destroy(&rt.allocated);
    pthread_barrier_destroy(&rt.freed);
    ck_assert_uint_eq(rt.end.allocs - rt.warm.allocs, (RT_ROUNDS - RT_WARM) * RT_K);
    ck_assert_msg(rt.end.mallocs == rt.warm.mallocs,
                  "owner thread called malloc %llu times after warm-up: remote frees were not "
                  "returned to its pool",
                  (unsigned long long)(rt.end.mallocs - rt.warm.mallocs));
}
END_TEST

static void *alloc_and_exit(void *arg)
{
    rn_buf **out = arg;
    for (int i = 0; i < 100; i++) {
        out[i] = rn_buf_alloc(100 + (size_t)i * 50);
        memset(rn_buf_data(out[i]), i, rn_buf_cap(out[i]));
    }
    /* Some cached buffers too, which thread exit trims. */
    rn_buf_unref(rn_buf_alloc(5000));
    return NULL;
}

START_TEST(test_free_after_owner_thread_exit)
{
    rn_buf *bufs[100];
    for (int round = 0; round < 20; round++) {
        pthread_t t;
        ck_assert_int_eq(pthread_create(&t, NULL, alloc_and_exit, bufs), 0);
        pthread_join(t, NULL);
        for (int i = 0; i < 100; i++) {
            const unsigned char *p = rn_buf_data(bufs[i]);
            ck_assert_uint_eq(p[0], (unsigned char)i);
            ck_assert_uint_eq(p[rn_buf_cap(bufs[i]) - 1], (unsigned char)i);
            rn_buf_unref(bufs[i]);
        }
    }
}
END_TEST

/* Two threads each allocating and handing every buffer to the other to free, at once. */
enum { PP_N = 20000, PP_RING = 256 };

struct pp_ring {
    _Atomic unsigned head, tail;
    rn_buf *slot[PP_RING];
};

struct pp_side {
    struct pp_ring *out, *in;
    int sent, received;
};

static void *ping_pong(void *arg)
{
    struct pp_side *s = arg;
    while (s->sent < PP_N || s->received < PP_N) {
        if (s->sent < PP_N) {
            unsigned tail = atomic_load(&s->out->tail);
            if (tail - atomic_load(&s->out->head) < PP_RING) {
                rn_buf *b = rn_buf_alloc(32 + (size_t)(s->sent % 9) * 700);
                *(int *)rn_buf_data(b) = s->sent;
                s->out->slot[tail % PP_RING] = b;
                atomic_store(&s->out->tail, tail + 1);
                s->sent++;
            }
        }
        unsigned head = atomic_load(&s->in->head);
        if (head != atomic_load(&s->in->tail)) {
            rn_buf *b = s->in->slot[head % PP_RING];
            atomic_store(&s->in->head, head + 1);
            if (*(int *)rn_buf_data(b) != s->received) return (void *)1;
            rn_buf_unref(b);
            s->received++;
        }
    }
    return NULL;
}

START_TEST(test_cross_thread_ping_pong)
{
    static struct pp_ring ab, ba;
    memset(&ab, 0, sizeof ab);
    memset(&ba, 0, sizeof ba);
    struct pp_side a = {&ab, &ba, 0, 0}, b = {&ba, &ab, 0, 0};
    pthread_t ta, tb;
    ck_assert_int_eq(pthread_create(&ta, NULL, ping_pong, &a), 0);
    ck_assert_int_eq(pthread_create(&tb, NULL, ping_pong, &b), 0);
    void *ra, *rb;
    pthread_join(ta, &ra);
    pthread_join(tb, &rb);
    ck_assert_ptr_null(ra);
    ck_assert_ptr_null(rb);
    ck_assert_int_eq(a.received, PP_N);
    ck_assert_int_eq(b.received, PP_N);
}
END_TEST

/* ---- trim ---- */

START_TEST(test_trim_empties_cache)
{
    rn_buf *bufs[20];
    for (int i = 0; i < 20; i++) bufs[i] = rn_buf_alloc(100 + (size_t)i * 1000);
    for (int i = 0; i < 20; i++) rn_buf_unref(bufs[i]);
    ck_assert_uint_gt(stats().cached_bytes, 0);
    rn_pool_trim();
    ck_assert_uint_eq(stats().cached_bytes, 0);
    /* The pool still works after a trim. */
    rn_buf *b = rn_buf_alloc(1000);
    ck_assert_ptr_nonnull(b);
    rn_buf_unref(b);
}
END_TEST

START_TEST(test_trim_keeps_referenced_buffers)
{
    rn_buf *keep = rn_buf_alloc(8192);
    memset(rn_buf_data(keep), 0x77, rn_buf_cap(keep));
    rn_buf *extra = rn_buf_ref(keep);
    rn_buf_unref(rn_buf_alloc(8192));
    rn_pool_trim();
    ck_assert_uint_eq(stats().cached_bytes, 0);
    ck_assert_uint_eq(rn_buf_refs(keep), 2);
    const unsigned char *p = rn_buf_data(keep);
    for (size_t i = 0; i < rn_buf_cap(keep); i++) ck_assert_uint_eq(p[i], 0x77);
    rn_buf_unref(extra);
    rn_buf_unref(keep);
}
END_TEST

/* ---- large sizes ---- */

START_TEST(test_large_alloc_64mib)
{
    size_t size = (size_t)64 << 20;
    for (int round = 0; round < 3; round++) {
        rn_buf *b = rn_buf_alloc(size);
        ck_assert_ptr_nonnull(b);
        ck_assert_uint_ge(rn_buf_cap(b), size);
        ck_assert_uint_eq((uintptr_t)rn_buf_data(b) & 63, 0);
        unsigned char *p = rn_buf_data(b);
        memset(p, 0xC3, size);
        ck_assert_uint_eq(p[0], 0xC3);
        ck_assert_uint_eq(p[size - 1], 0xC3);
        rn_buf_unref(b);
    }
    rn_pool_trim();
    ck_assert_uint_eq(stats().cached_bytes, 0);
}
END_TEST

START_TEST(test_large_alloc_not_power_of_two)
{
    size_t size = ((size_t)64 << 20) + 12345;
    rn_buf *b = rn_buf_alloc(size);
    ck_assert_ptr_nonnull(b);
    ck_assert_uint_ge(rn_buf_cap(b), size);
    memset(rn_buf_data(b), 1, rn_buf_cap(b));
    rn_buf_unref(b);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("buffer");

    TCase *tc = tcase_create("alloc");
    tcase_add_test(tc, test_alloc_gives_at_least_size_aligned);
    tcase_add_test(tc, test_alloc_aligned_while_many_live);
    tcase_add_test(tc, test_live_buffers_do_not_overlap);
    tcase_add_test(tc, test_alloc_counts_in_stats);
    tcase_add_test(tc, test_stats_are_per_thread);
    suite_add_tcase(s, tc);

    tc = tcase_create("refcount");
    tcase_add_test(tc, test_ref_unref_counts);
    tcase_add_test(tc, test_unref_null_is_ignored);
    tcase_add_test(tc, test_refs_are_atomic_across_threads);
    suite_add_tcase(s, tc);

    tc = tcase_create("reuse");
    tcase_add_test(tc, test_steady_state_reuses_without_malloc);
    tcase_add_test(tc, test_alloc_free_loop_reuses_without_malloc);
    tcase_add_test(tc, test_freed_buffer_is_cached);
    suite_add_tcase(s, tc);

    tc = tcase_create("cross_thread");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_free_on_other_thread_is_safe);
    tcase_add_test(tc, test_free_on_other_thread_returns_to_owner_pool);
    tcase_add_test(tc, test_free_after_owner_thread_exit);
    tcase_add_test(tc, test_cross_thread_ping_pong);
    suite_add_tcase(s, tc);

    tc = tcase_create("trim");
    tcase_add_test(tc, test_trim_empties_cache);
    tcase_add_test(tc, test_trim_keeps_referenced_buffers);
    suite_add_tcase(s, tc);

    tc = tcase_create("large");
    tcase_add_test(tc, test_large_alloc_64mib);
    tcase_add_test(tc, test_large_alloc_not_power_of_two);
    suite_add_tcase(s, tc);

    return s;
}

TU_MAIN(make_suite)
