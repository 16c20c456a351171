/*
 * runnel/buffer.h — reference-counted memory buffers from per-thread pools.
 *
 * Every column array, string arena and batch header lives in an rn_buf. Buffers come from the
 * calling thread's pool, sorted in power-of-two size classes; freeing one returns it to the pool
 * of the thread that allocated it (directly when on that thread, through a lock-free return
 * stack otherwise), so a pipeline in steady state reuses the same memory and calls malloc for
 * nothing. Reference counts are atomic: a buffer may be read by several threads, but it is
 * written only by its creator before it is shared.
 */
#ifndef RUNNEL_BUFFER_H
#define RUNNEL_BUFFER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rn_buf rn_buf;

/* Allocates a buffer of at least size bytes (64-byte aligned data) with one reference, from the
 * calling thread's pool. Returns NULL when out of memory. Contents are not initialised. */
rn_buf *rn_buf_alloc(size_t size);

/* The buffer's data and usable capacity (>= the size asked for). */
void *rn_buf_data(const rn_buf *b);
size_t rn_buf_cap(const rn_buf *b);

/* Takes another reference; returns b. */
rn_buf *rn_buf_ref(rn_buf *b);
/* Drops a reference; the last one returns the buffer to its pool. NULL is ignored. */
void rn_buf_unref(rn_buf *b);
/* Current reference count (for tests and assertions; racy by nature when shared). */
uint32_t rn_buf_refs(const rn_buf *b);

/* Counters of the calling thread's pool, for tests and benchmarks. */
struct rn_pool_stats {
    uint64_t allocs;       /* rn_buf_alloc calls */
    uint64_t mallocs;      /* of which went to malloc because no cached buffer fitted */
    uint64_t cached_bytes; /* bytes held in this thread's free lists now */
};
void rn_pool_stats(struct rn_pool_stats *out);

/* Frees every cached buffer of the calling thread's pool (buffers still referenced are not
 * affected). Threads call it when idle for long; thread exit does it automatically. */
void rn_pool_trim(void);

#ifdef __cplusplus
}
#endif
#endif
