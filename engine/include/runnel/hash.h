/*
 * runnel/hash.h — the engine's one hash function family.
 *
 * Key groups (hash(key) % max_parallelism), hash partitioning and the expression function
 * hash() all use these, so a key lands in the same key group whichever way it was hashed.
 * The functions are fixed forever: key groups are stored in checkpoints, and changing a hash
 * would scatter restored state over the wrong subtasks.
 */
#ifndef RUNNEL_HASH_H
#define RUNNEL_HASH_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A 64-bit finaliser (a bijection): mixes every input bit into every output bit. */
static inline uint64_t rn_hash_mix64(uint64_t x)
{
    x ^= x >> 32;
    x *= 0xd6e8feb86659fd93ull;
    x ^= x >> 32;
    x *= 0xd6e8feb86659fd93ull;
    x ^= x >> 32;
    return x;
}

static inline uint64_t rn_hash_i64(int64_t v) { return rn_hash_mix64((uint64_t)v ^ 0x9e3779b97f4a7c15ull); }
/* Hash of len bytes; equal byte strings hash equally whatever their alignment. */
uint64_t rn_hash_bytes(const void *p, size_t len);
/* Combines the hash of the next key column into h (for composite keys). */
static inline uint64_t rn_hash_combine(uint64_t h, uint64_t next) { return rn_hash_mix64(h * 31 + next); }
/* Hash of the SQL NULL (so that null keys form one group). */
#define RN_HASH_NULL 0x5bd1e9955bd1e995ull

/* Key groups: key_group = hash % max_parallelism; the subtask that owns a key group. */
static inline uint32_t rn_key_group(uint64_t hash, uint32_t max_parallelism)
{
    return (uint32_t)(hash % max_parallelism);
}
static inline uint32_t rn_key_group_subtask(uint32_t key_group, uint32_t max_parallelism, uint32_t parallelism)
{
    return (uint32_t)((uint64_t)key_group * parallelism / max_parallelism);
}

struct rn_column;
/* Hashes rows 0..n-1 of a column into out[] (nulls hash to RN_HASH_NULL; doubles -0.0 and 0.0
 * alike, every NaN alike); with combine, mixes each into the existing out[i] (composite keys). */
void rn_hash_column(const struct rn_column *c, uint32_t n, uint64_t *out, int combine);

/* CRC32C (Castagnoli) of len bytes, continuing from crc (0 to start). Hardware when the CPU
 * has SSE4.2, else a table. */
uint32_t rn_crc32c(uint32_t crc, const void *p, size_t len);

#ifdef __cplusplus
}
#endif
#endif
