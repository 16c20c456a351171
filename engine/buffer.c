/*
 * buffer.c — reference-counted buffers from per-thread pools (see runnel/buffer.h).
 *
 * Each thread owns a pool: one free list per power-of-two size class (64 B .. 64 MiB) and a
 * lock-free return stack. A buffer remembers its pool. Freed on the owning thread it goes back
 * to the free list; freed on another thread it is pushed onto the owner's return stack (a
 * Treiber stack that only the owner pops, all at once, so there is no ABA problem), which the
 * owner drains when a free list runs dry. So producer/consumer pipelines across threads recycle
 * memory instead of moving it from one thread's malloc arena into another's.
 *
 * Lifetime: pool->refs counts the owner thread (1) plus every buffer handed out and not yet
 * returned. The owner drops its 1 at thread exit; whoever brings refs to 0 frees the pool and
 * everything cached in it. Buffers above the largest class bypass the pools.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "runnel/buffer.h"

#define MIN_SHIFT 6                      /* 64 B */
#define N_CLASSES 21                     /* 64 B << 20 = 64 MiB */
#define BIG_CLASS 0xffffffffu
#define HDR 64                           /* header size; keeps data 64-byte aligned */
#define CACHE_LIMIT (256u << 20)         /* bytes a pool keeps cached at most */

struct pool;

struct rn_buf {
    _Atomic uint32_t refs;
    uint32_t cls;
    size_t cap;
    struct pool *pool;
    struct rn_buf *next;
};
_Static_assert(sizeof(struct rn_buf) <= HDR, "buffer header must fit in HDR bytes");

struct pool {
    _Atomic uint64_t refs;
    _Atomic(struct rn_buf *) returned;
    struct rn_buf *free_list[N_CLASSES];
    size_t cached_bytes;
    uint64_t allocs, mallocs;
};

static __thread struct pool *tl_pool;
static pthread_key_t pool_key;
static pthread_once_t pool_key_once = PTHREAD_ONCE_INIT;

static inline void *data_of(const struct rn_buf *b) { return (char *)b + HDR; }

static void free_cached(struct pool *p)
{
    for (int c = 0; c < N_CLASSES; c++) {
        struct rn_buf *b = p->free_list[c];
        while (b) {
            struct rn_buf *next = b->next;
            free(b);
            b = next;
        }
        p->free_list[c] = NULL;
    }
    p->cached_bytes = 0;
    struct rn_buf *r = atomic_exchange_explicit(&p->returned, NULL, memory_order_acquire);
    while (r) {
        struct rn_buf *next = r->next;
        free(r);
        r = next;
    }
}

static void pool_destroy(struct pool *p)
{
    free_cached(p);
    free(p);
}

static void pool_release(struct pool *p, uint64_t n)
{
    if (atomic_fetch_sub_explicit(&p->refs, n, memory_order_acq_rel) == n) pool_destroy(p);
}

static void thread_exit(void *arg)
{
    struct pool *p = arg;
    tl_pool = NULL;
    free_cached(p);
    pool_release(p, 1);
}

static void make_key(void) { pthread_key_create(&pool_key, thread_exit); }

static struct pool *my_pool(void)
{
    if (__builtin_expect(tl_pool != NULL, 1)) return tl_pool;
    pthread_once(&pool_key_once, make_key);
    struct pool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    atomic_init(&p->refs, 1);
    tl_pool = p;
    pthread_setspecific(pool_key, p);
    return p;
}

/* Moves everything other threads returned into the free lists (the owner only). */
static void drain_returned(struct pool *p)
{
    struct rn_buf *r = atomic_exchange_explicit(&p->returned, NULL, memory_order_acquire);
    while (r) {
        struct rn_buf *next = r->next;
        size_t bytes = HDR + r->cap;
        if (p->cached_bytes + bytes <= CACHE_LIMIT) {
            r->next = p->free_list[r->cls];
            p->free_list[r->cls] = r;
            p->cached_bytes += bytes;
        } else {
            free(r);
        }
        r = next;
    }
}

rn_buf *rn_buf_alloc(size_t size)
{
    unsigned cls = 0;
    if (size > ((size_t)1 << MIN_SHIFT))
        cls = (unsigned)(64 - __builtin_clzll((unsigned long long)size - 1)) - MIN_SHIFT;
    struct rn_buf *b;
    if (cls >= N_CLASSES) {
        if (size > SIZE_MAX - HDR) return NULL;
        b = aligned_alloc(64, (HDR + size + 63) & ~(size_t)63);
        if (!b) return NULL;
        b->cls = BIG_CLASS;
        b->cap = size;
        b->pool = NULL;
        atomic_init(&b->refs, 1);
        return b;
    }
    struct pool *p = my_pool();
    if (!p) return NULL;
    p->allocs++;
    b = p->free_list[cls];
    if (!b && atomic_load_explicit(&p->returned, memory_order_relaxed)) {
        drain_returned(p);
        b = p->free_list[cls];
    }
    size_t cap = (size_t)1 << (cls + MIN_SHIFT);
    if (b) {
        p->free_list[cls] = b->next;
        p->cached_bytes -= HDR + cap;
    } else {
        b = aligned_alloc(64, HDR + cap);
        if (!b) return NULL;
        p->mallocs++;
        b->cls = cls;
        b->cap = cap;
        b->pool = p;
    }
    atomic_init(&b->refs, 1);
    atomic_fetch_add_explicit(&p->refs, 1, memory_order_relaxed);
    return b;
}

void *rn_buf_data(const rn_buf *b) { return data_of(b); }
size_t rn_buf_cap(const rn_buf *b) { return b->cap; }
uint32_t rn_buf_refs(const rn_buf *b) { return atomic_load_explicit(&b->refs, memory_order_relaxed); }

rn_buf *rn_buf_ref(rn_buf *b)
{
    atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
    return b;
}

void rn_buf_unref(rn_buf *b)
{
    if (!b || atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) != 1) return;
    if (b->cls == BIG_CLASS) {
        free(b);
        return;
    }
    struct pool *p = b->pool;
    if (p == tl_pool) {
        size_t bytes = HDR + b->cap;
        if (p->cached_bytes + bytes <= CACHE_LIMIT) {
            b->next = p->free_list[b->cls];
            p->free_list[b->cls] = b;
            p->cached_bytes += bytes;
        } else {
            free(b);
        }
        atomic_fetch_sub_explicit(&p->refs, 1, memory_order_relaxed);
        return;
    }
    struct rn_buf *head = atomic_load_explicit(&p->returned, memory_order_relaxed);
    do {
        b->next = head;
    } while (!atomic_compare_exchange_weak_explicit(&p->returned, &head, b, memory_order_release,
                                                    memory_order_relaxed));
    pool_release(p, 1);
}

void rn_pool_stats(struct rn_pool_stats *out)
{
    struct pool *p = my_pool();
    memset(out, 0, sizeof *out);
    if (!p) return;
    out->allocs = p->allocs;
    out->mallocs = p->mallocs;
    out->cached_bytes = p->cached_bytes;
}

void rn_pool_trim(void)
{
    if (tl_pool) free_cached(tl_pool);
}
