/*
 * memory.c — the memory keyed-state backend (`state: { backend: memory }`): every declared state
 * is a hash table in this process's memory, snapshots are one binary file per state. It
 * implements struct rn_backend_ops (state_internal.h) behind the API of runnel/state.h.
 *
 * Assumes: one thread per backend instance (no locking, as the header says); a little-endian
 * CPU (the inline key image below is built with word loads; checked at compile time). The key
 * group is part of an entry's identity, as the header says (the same key bytes in two key groups
 * are two entries), but not of its hash: the caller derives it from the key.
 *
 * Layout of one state
 *   entries   a dense array of fixed-size records, in chunks of about 2 MiB (so that growth
 *             never copies them, except the first chunk while it grows up to its full size),
 *             64-byte aligned, full chunks (and indexes from 2 MiB) 2 MiB-aligned and advised
 *             for transparent huge pages:
 *               [ 0..16)  key area: keys of up to 13 bytes inline (zero padded: an encoded int64
 *                         key is 9), the key group in bytes 13-14, the key length in byte 15;
 *                         longer keys as {pointer into the arena, u32 length, first byte, key
 *                         group} with 0x1F in byte 15. Bit 0x80 of byte 15 marks an entry removed
 *                         while the state was being iterated (see "Iteration"). A lookup compares
 *                         these 16 bytes and the namespace as three words.
 *               [16..24)  the namespace
 *               [24..  )  the value area: a fixed-size value inline (value_size rounded up to 8),
 *                         or {pointer, u32 length} of a variable value in the arena, or the
 *                         pointer to a list's or a map's block
 *               [.. +8)   the write time, only for states with a time-to-live
 *             So a value/reducing state of 8-byte values is 32 bytes per entry.
 *   index     open addressing with linear probing over u32 slots: 0 is empty, otherwise the
 *             low log2(capacity) bits hold entry number + 1 and the high bits are a tag (high
 *             hash bits), so that a probe dereferences an entry only when the tag matches. The
 *             hash of a key is rn_hash_bytes(key) combined with the namespace, recomputed from the
 *             entry when needed (growth, deletion), never stored. At most 3/4 full; it doubles,
 *             all at once (rehashing the dense entry array front to back), and a state with a
 *             time-to-live drops its expired entries first. At 1M 9-byte keys with 8-byte values
 *             that is 32 + 8.4 bytes per key (index at 2^21 slots).
 *   deletion  backward-shift deletion in the index (no tombstones), then the last entry moves
 *             into the hole (one more index slot rewritten) so that the entry array stays dense.
 *   batches   add_many / get_many hash each key PF_DIST keys ahead and prefetch its index slot,
 *             and half-way prefetch the entry that slot names: one probe per key, the memory
 *             latency of many keys overlapped. No allocation on the hot path except growth
 *             (index doubling, a new chunk).
 *   counts    entries() is the number of (key, namespace) entries of every kind (a list or a map
 *             is one); memory() what the tables, chunks and arena slabs hold from malloc.
 *   arena     one per backend, for long keys, variable values, lists and maps: power-of-two
 *             size classes from 16 bytes to 32 KiB carved from slabs (16 KiB doubling to 1 MiB)
 *             with a free list per class; larger blocks straight from malloc.
 *
 * Pointers handed out (get, get_many, list and map reads, iteration callbacks) point into these
 * structures. They stay valid until the next call that changes the same state: a put, add,
 * remove, list append or map put/remove (an insert may reallocate the first chunk or let a
 * growth drop expired entries; a removal moves the last entry), or a single get / list / map
 * read that drops an expired entry. Calls on other states never move them. This is at least
 * what the header promises ("until the next call on the same backend").
 *
 * Iteration (each, each_in_namespace, list_each, map_each) collects what it will visit first,
 * then calls the callback, which may call anything on the backend, including removing entries
 * of the state being iterated: while a state is iterated, removals only mark the entry (bit
 * 0x80) and the marked entries are really removed (index slot, moving the last entry) when the
 * outermost iteration of that state ends. Entries inserted during an iteration are not visited.
 *
 * TTL: processing time from the backend's clock; a value written at t is expired once
 * now - t >= ttl_ms. Values have one write time per entry; list elements and map user keys one
 * each (and the entry keeps the latest, so an expired entry has nothing live). Expired values
 * are never returned; they are dropped when a single-key read finds them (a list's expired
 * elements: when it is read or appended to), when iteration collects them and when the index
 * grows; get_many only skips them.
 *
 * Restore reads the snapshots' states into states that are not declared yet (no handle); each
 * becomes usable when the operator declares it again with the same kind, value size and TTL.
 * Snapshots include undeclared states, so they survive until declared.
 *
 * Snapshot files: "state-<id>.bin" per state, little-endian:
 *   "RNMEMST1" u32 version(1) u32 kind u32 value_size i64 ttl_ms u32 max_parallelism
 *   u32 kg_first u32 kg_last u32 name_len name u64 count, then count entries sorted by key group:
 *   u16 kg, u32 key_len, key, i64 ns, [i64 write time if ttl], then by kind
 *     value/reducing  fixed: value_size bytes | variable: u32 len, bytes
 *     list            u32 n, then n elements: [i64 time if ttl], value as above
 *     map             u32 n, then n of: u32 mkey_len, mkey, value as above, [i64 time if ttl]
 *   and u32 CRC32C of everything before it. The manifest's extra lines are
 *   "file <name> <state name>" per state, "files <n>" and "crc <hex>", the CRC32C of the whole
 *   manifest file before that line (head included), so that a truncated or altered manifest is
 *   caught too.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runnel/hash.h"
#include "state_internal.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "state/memory.c assumes a little-endian CPU"
#endif

/* ---- constants ---- */

#define KEY_INLINE_MAX 13u
#define KB_LONG 0x1Fu            /* byte 15 of the key area: a long key */
#define KB_DEAD 0x80u            /* byte 15: removed during an iteration */
#define OFF_NS 16u
#define OFF_VAL 24u
#define NONE UINT32_MAX
#define IDX_MIN_LOG 4u
#define IDX_MAX_LOG 31u
#define CHUNK_BYTES (2u * 1024u * 1024u)
#define HUGE_PAGE ((size_t)2 * 1024 * 1024)
#define FIRST_CHUNK_ENTRIES 8u
#define MAX_VALUE_SIZE (1u << 24)
#define PF_DIST 32u              /* batch forms: hash and prefetch the index this many keys ahead */
#define PF_RING 64u

#define ARENA_CLASSES 12u        /* 16 B .. 32 KiB */
#define ARENA_MAX ((size_t)16 << (ARENA_CLASSES - 1))
#define SLAB_FIRST (16u * 1024u)
#define SLAB_MAX (1024u * 1024u)

#define SNAP_MAGIC "RNMEMST1"
#define SNAP_VERSION 1u

enum vkind { V_FIXED, V_VAR, V_LIST, V_MAP };

/* ---- the arena ---- */

struct arena {
    void *freel[ARENA_CLASSES];
    uint8_t *bump;
    size_t left;
    void **slabs;
    size_t nslabs, slabs_cap;
    size_t next_slab;
    size_t slab_bytes, large_bytes;
};

static inline unsigned size_class(size_t n)
{
    return n <= 16 ? 0 : (unsigned)(64 - __builtin_clzll((unsigned long long)(n - 1))) - 4;
}

static void arena_put_free(struct arena *a, void *p, unsigned c)
{
    *(void **)p = a->freel[c];
    a->freel[c] = p;
}

/* A new slab; what is left of the current one is cut into free blocks. */
static int arena_new_slab(struct arena *a, size_t need)
{
    while (a->left >= 16) {
        unsigned c = size_class(a->left);
        if (((size_t)16 << c) > a->left) c--;
        if (c >= ARENA_CLASSES) c = ARENA_CLASSES - 1;
        arena_put_free(a, a->bump, c);
        a->bump += (size_t)16 << c;
        a->left -= (size_t)16 << c;
    }
    size_t sz = a->next_slab ? a->next_slab : SLAB_FIRST;
    if (sz < need) sz = need;
    if (a->nslabs == a->slabs_cap) {
        size_t nc = a->slabs_cap ? a->slabs_cap * 2 : 8;
        void **ns = realloc(a->slabs, nc * sizeof *ns);
        if (!ns) return RN_ENOMEM;
        a->slabs = ns;
        a->slabs_cap = nc;
    }
    uint8_t *p = malloc(sz);
    if (!p) return RN_ENOMEM;
    a->slabs[a->nslabs++] = p;
    a->slab_bytes += sz;
    a->bump = p;
    a->left = sz;
    a->next_slab = sz * 2 > SLAB_MAX ? SLAB_MAX : sz * 2;
    return 0;
}

/* A block of at least n bytes (n may be 0), 16-byte aligned; NULL when out of memory. */
static void *arena_alloc(struct arena *a, size_t n)
{
    if (n > ARENA_MAX) {
        void *p = malloc(n);
        if (p) a->large_bytes += n;
        return p;
    }
    unsigned c = size_class(n);
    void *p = a->freel[c];
    if (p) {
        a->freel[c] = *(void **)p;
        return p;
    }
    size_t sz = (size_t)16 << c;
    if (a->left < sz && arena_new_slab(a, sz)) return NULL;
    p = a->bump;
    a->bump += sz;
    a->left -= sz;
    return p;
}

/* Frees a block that was allocated with size n. */
static void arena_free(struct arena *a, void *p, size_t n)
{
    if (!p) return;
    if (n > ARENA_MAX) {
        free(p);
        a->large_bytes -= n;
        return;
    }
    arena_put_free(a, p, size_class(n));
}

/* Whether a block allocated for old bytes can hold new bytes in place. */
static inline bool arena_same(size_t old, size_t new_)
{
    return old <= ARENA_MAX && new_ <= ARENA_MAX && size_class(old) == size_class(new_);
}

/* Resizes a block (contents kept up to the smaller size); NULL when out of memory, p untouched. */
static void *arena_resize(struct arena *a, void *p, size_t old, size_t new_)
{
    if (!p) return arena_alloc(a, new_);
    if (arena_same(old, new_)) return p;
    if (old > ARENA_MAX && new_ > ARENA_MAX) {
        void *q = realloc(p, new_);
        if (q) a->large_bytes = a->large_bytes - old + new_;
        return q;
    }
    void *q = arena_alloc(a, new_);
    if (!q) return NULL;
    memcpy(q, p, old < new_ ? old : new_);
    arena_free(a, p, old);
    return q;
}

static void arena_destroy(struct arena *a)
{
    for (size_t i = 0; i < a->nslabs; i++) free(a->slabs[i]);
    free(a->slabs);
    memset(a, 0, sizeof *a);
}

/* ---- large tables ---- */

/* Memory for entry chunks and indexes: 64-byte aligned; from 2 MiB on, aligned to and advised
 * for transparent huge pages (random probes over hundreds of MiB otherwise miss the TLB on
 * nearly every access). Freed with free(). */
static void *table_alloc(size_t n)
{
    void *p = NULL;
    if (posix_memalign(&p, n >= HUGE_PAGE ? HUGE_PAGE : 64, n ? n : 64)) return NULL;
#ifdef MADV_HUGEPAGE
    if (n >= HUGE_PAGE) madvise(p, n & ~(HUGE_PAGE - 1), MADV_HUGEPAGE);
#endif
    return p;
}

/* ---- backend and state structs ---- */

struct mem_backend;

struct mstate {
    struct rn_state head;
    struct mem_backend *mb;
    bool declared;               /* false: restored, waiting for rn_state_declare */
    uint8_t vk;                  /* enum vkind */
    uint32_t vsize;              /* desc.value_size */
    uint32_t stride, toff;       /* entry size; offset of the write time (0: no TTL) */
    int64_t ttl;
    uint32_t lstride;            /* list element stride (fixed-size lists) */
    /* index */
    uint32_t *idx;
    uint32_t imask, ilog, grow_at;
    /* entries */
    uint8_t **chunks;
    uint32_t nchunks, chunks_cap, cshift, cmask, cap0;
    uint32_t n, ndead;
    int iter;                    /* depth of iterations running over this state */
    size_t bytes;                /* index, chunks, chunk table */
};

struct mem_backend {
    struct rn_state_backend head;
    struct mstate **states;
    uint32_t nstates, states_cap;
    struct arena arena;
};

/* A list's block: header then elements (fixed: lstride bytes each; variable: u32 length, u32
 * padding, bytes padded to 8, so that every element is 8-byte aligned). */
struct mlist {
    uint32_t count, used, cap, pad_;
    uint8_t data[];
};

/* A map's block: a small open-addressing table of user keys. Each used slot owns a data block
 * [user key padded to 8][value]. */
struct mslot {
    uint32_t h, mlen, vlen, used;
    uint8_t *data;
    int64_t t;
};
struct mmap {
    uint32_t n, cap, mod, pad_;  /* mod changes whenever slots move or data blocks are replaced */
    struct mslot slot[];
};

/* The current time and the write times that count as expired (t <= lim). */
struct tnow {
    int64_t now, lim;
};

static inline struct tnow tnow_of(const struct mstate *s)
{
    struct tnow t = {0, INT64_MIN};
    if (s->ttl) {
        t.now = s->head.backend->clock();
        if (__builtin_sub_overflow(t.now, s->ttl, &t.lim)) t.lim = INT64_MIN;
    }
    return t;
}

static inline size_t round8(size_t n) { return (n + 7) & ~(size_t)7; }

/* ---- entries ---- */

static inline uint8_t *ent(const struct mstate *s, uint32_t i)
{
    return s->chunks[i >> s->cshift] + (size_t)(i & s->cmask) * s->stride;
}

static inline uint16_t ent_kg(const uint8_t *e) { return (uint16_t)(e[13] | e[14] << 8); }

static inline bool ent_dead(const uint8_t *e) { return e[15] & KB_DEAD; }

static inline int64_t ent_ns(const uint8_t *e)
{
    int64_t ns;
    memcpy(&ns, e + OFF_NS, 8);
    return ns;
}

static inline void *ent_ptr(const uint8_t *e)
{
    void *p;
    memcpy(&p, e + OFF_VAL, sizeof p);
    return p;
}

static inline void ent_set_ptr(uint8_t *e, const void *p) { memcpy(e + OFF_VAL, &p, sizeof p); }

static inline uint32_t ent_vlen(const uint8_t *e)
{
    uint32_t l;
    memcpy(&l, e + OFF_VAL + 8, 4);
    return l;
}

static inline void ent_set_vlen(uint8_t *e, uint32_t l) { memcpy(e + OFF_VAL + 8, &l, 4); }

static inline int64_t ent_time(const struct mstate *s, const uint8_t *e)
{
    int64_t t;
    memcpy(&t, e + s->toff, 8);
    return t;
}

static inline void ent_set_time(const struct mstate *s, uint8_t *e, int64_t t)
{
    if (s->ttl) memcpy(e + s->toff, &t, 8);
}

static inline bool ent_expired(const struct mstate *s, const uint8_t *e, const struct tnow *tn)
{
    return s->ttl && ent_time(s, e) <= tn->lim;
}

/* The key bytes and length of an entry. */
static inline const uint8_t *ent_key(const uint8_t *e, uint32_t *len)
{
    unsigned kb = e[15] & ~KB_DEAD;
    if (kb == KB_LONG) {
        const uint8_t *p;
        memcpy(&p, e, sizeof p);
        memcpy(len, e + 8, 4);
        return p;
    }
    *len = kb;
    return e;
}

static inline uint64_t key_hash(const void *k, uint32_t len, int64_t ns)
{
    return rn_hash_combine(rn_hash_bytes(k, len), (uint64_t)ns);
}

static uint64_t ent_hash(const struct mstate *s, uint32_t i)
{
    const uint8_t *e = ent(s, i);
    uint32_t len;
    const uint8_t *k = ent_key(e, &len);
    return key_hash(k, len, ent_ns(e));
}

/* What a lookup compares an entry's first 24 bytes with: the key area image (key, key group,
 * length byte) and the namespace. */
struct probe {
    uint64_t w0, w1;
    int64_t ns;
    const uint8_t *key;
    uint32_t len;
};

/* The 16-byte key area image of a key: short keys by a few (possibly overlapping) word loads
 * instead of a variable-length copy. */
static inline void probe_init(struct probe *p, const struct rn_state_key *k, int64_t ns)
{
    const uint8_t *d = k->data;
    uint32_t len = k->len;
    uint64_t a = 0, b = 0;
    p->ns = ns;
    p->key = d;
    p->len = len;
    if (len > KEY_INLINE_MAX) {
        p->w0 = 0;
        p->w1 = (uint64_t)len | ((uint64_t)d[0] << 32) | ((uint64_t)k->key_group << 40) | ((uint64_t)KB_LONG << 56);
        return;
    }
    if (len >= 8) {
        uint64_t t;
        memcpy(&a, d, 8);
        memcpy(&t, d + len - 8, 8);
        b = len > 8 ? t >> (8 * (16 - len)) : 0;
    } else if (len >= 4) {
        uint32_t x, y;
        memcpy(&x, d, 4);
        memcpy(&y, d + len - 4, 4);
        a = x | ((uint64_t)y << (8 * (len - 4)));
    } else if (len) {
        a = d[0] | ((uint64_t)d[len / 2] << (8 * (len / 2))) | ((uint64_t)d[len - 1] << (8 * (len - 1)));
    }
    p->w0 = a;
    p->w1 = b | ((uint64_t)k->key_group << 40) | ((uint64_t)len << 56);
}

static inline bool probe_match(const uint8_t *e, const struct probe *p)
{
    uint64_t w;
    int64_t ns;
    memcpy(&w, e + 8, 8);
    if (w != p->w1) return false;
    memcpy(&ns, e + OFF_NS, 8);
    if (ns != p->ns) return false;
    if (p->len <= KEY_INLINE_MAX) {
        memcpy(&w, e, 8);
        return w == p->w0;
    }
    const uint8_t *kp;
    memcpy(&kp, e, sizeof kp);
    return memcmp(kp, p->key, p->len) == 0;
}

/* ---- the index ---- */

static inline uint32_t idx_tag(const struct mstate *s, uint64_t h) { return (uint32_t)(h >> 32) & ~s->imask; }

/* The entry of (probe) or NONE; *pos gets its slot, or the empty slot where it would go. */
static inline uint32_t idx_find(const struct mstate *s, uint64_t h, const struct probe *p, uint32_t *pos)
{
    uint32_t mask = s->imask, want = idx_tag(s, h), at = (uint32_t)h & mask;
    for (;;) {
        uint32_t v = s->idx[at];
        if (!v) break;
        if ((v & ~mask) == want) {
            uint32_t i = (v & mask) - 1;
            if (probe_match(ent(s, i), p)) {
                *pos = at;
                return i;
            }
        }
        at = (at + 1) & mask;
    }
    *pos = at;
    return NONE;
}

static inline uint32_t idx_empty(const struct mstate *s, uint64_t h)
{
    uint32_t at = (uint32_t)h & s->imask;
    while (s->idx[at]) at = (at + 1) & s->imask;
    return at;
}

/* The slot that holds entry i. */
static uint32_t idx_pos_of(const struct mstate *s, uint32_t i)
{
    uint32_t at = (uint32_t)ent_hash(s, i) & s->imask;
    while ((s->idx[at] & s->imask) != i + 1) at = (at + 1) & s->imask;
    return at;
}

/* Backward-shift deletion of slot pos: later slots of the cluster that may move closer to their
 * home slot do. */
static void idx_erase(struct mstate *s, uint32_t pos)
{
    uint32_t mask = s->imask, hole = pos, j = pos;
    for (;;) {
        j = (j + 1) & mask;
        uint32_t v = s->idx[j];
        if (!v) break;
        uint32_t home = (uint32_t)ent_hash(s, (v & mask) - 1) & mask;
        if (((j - home) & mask) >= ((j - hole) & mask)) {
            s->idx[hole] = v;
            hole = j;
        }
    }
    s->idx[hole] = 0;
}

/* Fills an empty index of capacity 2^log with the entries. */
static void idx_fill(struct mstate *s, uint32_t *idx, uint32_t log)
{
    s->idx = idx;
    s->ilog = log;
    s->imask = (1u << log) - 1;
    s->grow_at = (uint32_t)(((uint64_t)3 << log) / 4);
    /* entries are read in order; the slots they land on are prefetched PF_DIST entries ahead */
    uint64_t ring[PF_RING];
    for (uint32_t i = 0; i < s->n + PF_DIST; i++) {
        if (i < s->n) {
            ring[i % PF_RING] = ent_hash(s, i);
            __builtin_prefetch(&s->idx[(uint32_t)ring[i % PF_RING] & s->imask], 1);
        }
        if (i >= PF_DIST) {
            uint32_t j = i - PF_DIST;
            uint64_t h = ring[j % PF_RING];
            s->idx[idx_empty(s, h)] = idx_tag(s, h) | (j + 1);
        }
    }
}

static void free_blobs(struct mstate *s, uint8_t *e);

/* Drops every expired entry by compacting the entry array; the index must be rebuilt after. */
static void drop_expired_all(struct mstate *s)
{
    struct tnow tn = tnow_of(s);
    uint32_t i = 0;
    while (i < s->n) {
        uint8_t *e = ent(s, i);
        if (!ent_expired(s, e, &tn)) {
            i++;
            continue;
        }
        free_blobs(s, e);
        uint32_t last = s->n - 1;
        if (i != last) {
            memcpy(e, ent(s, last), s->stride);
        }
        s->n--;
    }
}

/* Makes room for one more entry in the index (doubling it), dropping expired entries first. */
static int idx_grow(struct mstate *s)
{
    if (s->ttl && s->iter == 0) drop_expired_all(s);
    uint32_t log = s->ilog;
    while ((uint64_t)s->n + 1 > (((uint64_t)3 << log) / 4)) log++;
    if (log > IDX_MAX_LOG) log = IDX_MAX_LOG + 1;
    uint32_t *old = s->idx;
    size_t old_bytes = ((size_t)1 << s->ilog) * 4;
    uint32_t *nidx = log <= IDX_MAX_LOG ? table_alloc(((size_t)1 << log) * 4) : NULL;
    if (!nidx) {
        /* keep the old size (the drop above may have moved entries: rebuild it) */
        memset(old, 0, old_bytes);
        idx_fill(s, old, s->ilog);
        return (uint64_t)s->n + 1 > s->grow_at ? RN_ENOMEM : 0;
    }
    free(old);
    memset(nidx, 0, ((size_t)1 << log) * 4);
    s->bytes = s->bytes - old_bytes + ((size_t)1 << log) * 4;
    idx_fill(s, nidx, log);
    return 0;
}

/* Room in the chunks for entry number s->n. */
static int ensure_room(struct mstate *s)
{
    uint32_t i = s->n, c = i >> s->cshift, full = s->cmask + 1;
    if (c < s->nchunks && (c > 0 || i < s->cap0)) return 0;
    if (c == 0 && s->nchunks == 1) {
        /* grow the first chunk */
        uint32_t ncap = s->cap0 * 2 > full ? full : s->cap0 * 2;
        void *e = NULL;
        if (!(e = table_alloc((size_t)ncap * s->stride))) return RN_ENOMEM;
        memcpy(e, s->chunks[0], (size_t)s->cap0 * s->stride);
        free(s->chunks[0]);
        s->chunks[0] = e;
        s->bytes += (size_t)(ncap - s->cap0) * s->stride;
        s->cap0 = ncap;
        return 0;
    }
    /* a new chunk (c == nchunks) */
    if (s->nchunks == s->chunks_cap) {
        uint32_t nc = s->chunks_cap ? s->chunks_cap * 2 : 4;
        uint8_t **ch = realloc(s->chunks, nc * sizeof *ch);
        if (!ch) return RN_ENOMEM;
        s->bytes += (size_t)(nc - s->chunks_cap) * sizeof *ch;
        s->chunks = ch;
        s->chunks_cap = nc;
    }
    uint32_t cap = c == 0 ? (FIRST_CHUNK_ENTRIES < full ? FIRST_CHUNK_ENTRIES : full) : full;
    void *e = NULL;
    if (!(e = table_alloc((size_t)cap * s->stride))) return RN_ENOMEM;
    s->chunks[c] = e;
    s->nchunks++;
    s->bytes += (size_t)cap * s->stride;
    if (c == 0) s->cap0 = cap;
    return 0;
}

/* Inserts a fresh entry for (probe) at empty slot pos (as idx_find left it): key area,
 * namespace, key group; value area and time zeroed. */
static int entry_insert(struct mstate *s, uint64_t h, const struct probe *p, uint16_t kg, uint32_t pos, uint32_t *out)
{
    if (kg >= s->head.backend->cfg.max_parallelism) return RN_EINVAL;   /* (the image holds kg already) */
    if (s->n + 1 > s->grow_at) {
        int rc = idx_grow(s);
        if (rc) return rc;
        pos = idx_empty(s, h);
    }
    int rc = ensure_room(s);
    if (rc) return rc;
    uint32_t i = s->n;
    uint8_t *e = ent(s, i);
    memcpy(e + 8, &p->w1, 8);
    if (p->len > KEY_INLINE_MAX) {
        void *kb = arena_alloc(&s->mb->arena, p->len);
        if (!kb) return RN_ENOMEM;
        memcpy(kb, p->key, p->len);
        memcpy(e, &kb, sizeof kb);
    } else {
        memcpy(e, &p->w0, 8);
    }
    memcpy(e + OFF_NS, &p->ns, 8);
    memset(e + OFF_VAL, 0, s->stride - OFF_VAL);
    s->idx[pos] = idx_tag(s, h) | (i + 1);
    s->n++;
    *out = i;
    return 0;
}

/* ---- lists and maps ---- */

static inline size_t list_block(uint32_t cap) { return sizeof(struct mlist) + cap; }
static inline size_t map_block(uint32_t cap) { return sizeof(struct mmap) + (size_t)cap * sizeof(struct mslot); }
static inline size_t mdata_size(uint32_t mlen, uint32_t vlen)
{
    size_t n = round8(mlen) + vlen;
    return n ? n : 8;
}

static void map_free(struct arena *a, struct mmap *m)
{
    if (!m) return;
    for (uint32_t j = 0; j < m->cap; j++)
        if (m->slot[j].used) arena_free(a, m->slot[j].data, mdata_size(m->slot[j].mlen, m->slot[j].vlen));
    arena_free(a, m, map_block(m->cap));
}

/* Frees what an entry owns in the arena and clears its value area (the key stays). */
static void free_value(struct mstate *s, uint8_t *e)
{
    struct arena *a = &s->mb->arena;
    switch (s->vk) {
    case V_VAR: arena_free(a, ent_ptr(e), ent_vlen(e)); break;
    case V_LIST: {
        struct mlist *l = ent_ptr(e);
        if (l) arena_free(a, l, list_block(l->cap));
        break;
    }
    case V_MAP: map_free(a, ent_ptr(e)); break;
    default: break;
    }
    memset(e + OFF_VAL, 0, s->stride - OFF_VAL);
}

static void free_blobs(struct mstate *s, uint8_t *e)
{
    if ((e[15] & ~KB_DEAD) == KB_LONG) {
        uint32_t len;
        const uint8_t *k = ent_key(e, &len);
        arena_free(&s->mb->arena, (void *)k, len);
    }
    free_value(s, e);
}

/* ---- removal ---- */

/* Removes entry i whose index slot is pos (NONE: look it up). */
static void real_delete(struct mstate *s, uint32_t i, uint32_t pos)
{
    if (pos == NONE) pos = idx_pos_of(s, i);
    free_blobs(s, ent(s, i));
    idx_erase(s, pos);
    uint32_t last = s->n - 1;
    if (i != last) {
        uint32_t lp = idx_pos_of(s, last);
        s->idx[lp] = (s->idx[lp] & ~s->imask) | (i + 1);
        memcpy(ent(s, i), ent(s, last), s->stride);
    }
    s->n--;
}

/* Removes entry i now, or marks it when the state is being iterated. */
static void del_entry(struct mstate *s, uint32_t i, uint32_t pos)
{
    if (s->iter) {
        uint8_t *e = ent(s, i);
        if (!ent_dead(e)) {
            e[15] |= KB_DEAD;
            s->ndead++;
        }
        return;
    }
    real_delete(s, i, pos);
}

static void iter_begin(struct mstate *s) { s->iter++; }

/* Ends an iteration; the outermost one removes the entries marked meanwhile (from the top, so
 * that the last entry moved into a hole is always a live one). */
static void iter_end(struct mstate *s)
{
    if (--s->iter > 0 || !s->ndead) return;
    for (uint32_t i = s->n; i-- > 0 && s->ndead;) {
        if (ent_dead(ent(s, i))) {
            real_delete(s, i, NONE);
            s->ndead--;
        }
    }
    s->ndead = 0;
}

/* ---- lookups shared by the operations ---- */

/* The live entry of (k, ns) or NONE; an expired one is dropped. */
static uint32_t lookup(struct mstate *s, const struct rn_state_key *k, int64_t ns, const struct tnow *tn)
{
    struct probe p;
    probe_init(&p, k, ns);
    uint32_t pos, i = idx_find(s, key_hash(k->data, k->len, ns), &p, &pos);
    if (i != NONE && ent_expired(s, ent(s, i), tn)) {
        del_entry(s, i, pos);
        return NONE;
    }
    return i;
}

/* The entry of (k, ns), inserted when absent; an expired one is emptied and counts as new. */
static int upsert(struct mstate *s, const struct rn_state_key *k, int64_t ns, const struct tnow *tn, uint32_t *out,
                  bool *created)
{
    struct probe p;
    probe_init(&p, k, ns);
    uint64_t h = key_hash(k->data, k->len, ns);
    uint32_t pos, i = idx_find(s, h, &p, &pos);
    if (i != NONE) {
        uint8_t *e = ent(s, i);
        *created = ent_expired(s, e, tn);
        if (*created) free_value(s, e);
        *out = i;
        return 0;
    }
    *created = true;
    return entry_insert(s, h, &p, k->key_group, pos, out);
}

/* ---- backend ---- */

static struct mstate *find_state(struct mem_backend *mb, const char *name)
{
    for (uint32_t i = 0; i < mb->nstates; i++)
        if (!strcmp(mb->states[i]->head.desc.name, name)) return mb->states[i];
    return NULL;
}

static void state_free(struct mstate *s)
{
    if (!s) return;
    for (uint32_t c = 0; c < s->nchunks; c++) {
        free(s->chunks[c]);
    }
    free(s->chunks);
    free(s->idx);
    free((char *)s->head.desc.name);
    free(s);
}

/* A new, empty state of desc d (name copied, combine taken as given). */
static int state_new(struct mem_backend *mb, const struct rn_state_desc *d, struct mstate **out)
{
    if (mb->nstates == mb->states_cap) {
        uint32_t nc = mb->states_cap ? mb->states_cap * 2 : 8;
        struct mstate **ns = realloc(mb->states, nc * sizeof *ns);
        if (!ns) return RN_ENOMEM;
        mb->states = ns;
        mb->states_cap = nc;
    }
    struct mstate *s = calloc(1, sizeof *s);
    if (!s) return RN_ENOMEM;
    s->head.backend = &mb->head;
    s->head.desc = *d;
    s->head.desc.name = strdup(d->name);
    s->head.id = mb->nstates;
    s->mb = mb;
    s->vsize = d->value_size;
    s->ttl = d->ttl_ms;
    uint32_t varea;
    switch (d->kind) {
    case RN_STATE_LIST: s->vk = V_LIST; varea = 8; break;
    case RN_STATE_MAP: s->vk = V_MAP; varea = 8; break;
    default:
        s->vk = d->value_size ? V_FIXED : V_VAR;
        varea = d->value_size ? (uint32_t)round8(d->value_size) : 16;
        break;
    }
    if (s->vk == V_LIST && d->value_size) {
        uint32_t v = d->value_size;
        s->lstride = v >= 8 ? (uint32_t)round8(v) : v <= 1 ? 1 : v <= 2 ? 2 : v <= 4 ? 4 : 8;
    }
    s->stride = OFF_VAL + varea + (s->ttl ? 8 : 0);
    s->toff = s->ttl ? OFF_VAL + varea : 0;
    uint32_t per = CHUNK_BYTES / s->stride, shift = 0;
    while (shift < 20 && (2u << shift) <= per) shift++;
    s->cshift = shift;
    s->cmask = (1u << shift) - 1;
    s->idx = calloc((size_t)1 << IDX_MIN_LOG, 4);
    if (!s->idx || !s->head.desc.name) {
        state_free(s);
        return RN_ENOMEM;
    }
    s->ilog = IDX_MIN_LOG;
    s->imask = (1u << IDX_MIN_LOG) - 1;
    s->grow_at = (3u << IDX_MIN_LOG) / 4;
    s->bytes = ((size_t)1 << IDX_MIN_LOG) * 4;
    mb->states[mb->nstates++] = s;
    *out = s;
    return 0;
}

static int mem_open(const struct rn_state_config *cfg, rn_state_backend **out, struct rn_error *err)
{
    *out = NULL;
    struct mem_backend *mb = calloc(1, sizeof *mb);
    if (!mb) return rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory");
    int rc = rn__state_init_head(&mb->head, &rn_memory_backend_ops, cfg, err);
    if (rc) {
        free(mb);
        return rc;
    }
    *out = &mb->head;
    return 0;
}

static void mem_close(rn_state_backend *b)
{
    struct mem_backend *mb = (struct mem_backend *)b;
    for (uint32_t i = 0; i < mb->nstates; i++) {
        struct mstate *s = mb->states[i];
        /* blocks over the arena's largest class come from malloc: free them one by one */
        for (uint32_t j = 0; mb->arena.large_bytes && j < s->n; j++) free_blobs(s, ent(s, j));
        state_free(s);
    }
    free(mb->states);
    arena_destroy(&mb->arena);
    rn__state_free_head(&mb->head);
    free(mb);
}

static int mem_declare(rn_state_backend *b, const struct rn_state_desc *d, rn_state **out, struct rn_error *err)
{
    struct mem_backend *mb = (struct mem_backend *)b;
    struct mstate *prev = d->name ? find_state(mb, d->name) : NULL;
    int rc = rn__state_check_desc(d, prev ? &prev->head : NULL, err);
    if (rc) return rc;
    if (d->value_size > MAX_VALUE_SIZE)
        return rn_error_set(err, RN_ERANGE, 0, 0, "state '%s': value size %u is over the limit of %u bytes", d->name,
                            d->value_size, MAX_VALUE_SIZE);
    if (!prev && (rc = state_new(mb, d, &prev))) return rn_error_set(err, rc, 0, 0, "out of memory");
    prev->head.desc.combine = d->combine;
    prev->head.desc.combine_user = d->combine_user;
    prev->declared = true;
    *out = &prev->head;
    return 0;
}

/* ---- value and reducing ---- */

static int mem_get(rn_state *st, const struct rn_state_key *k, int64_t ns, const void **val, uint32_t *len)
{
    struct mstate *s = (struct mstate *)st;
    *val = NULL;
    *len = 0;
    if (s->vk != V_FIXED && s->vk != V_VAR) return RN_EINVAL;
    struct tnow tn = tnow_of(s);
    uint32_t i = lookup(s, k, ns, &tn);
    if (i == NONE) return 0;
    uint8_t *e = ent(s, i);
    if (s->vk == V_FIXED) {
        *val = e + OFF_VAL;
        *len = s->vsize;
    } else {
        *len = ent_vlen(e);
        *val = *len ? ent_ptr(e) : (const void *)(e + OFF_VAL);
    }
    return 0;
}

/* Stores a variable-length value into entry e (val may point into its current value). */
static int set_var(struct mstate *s, uint8_t *e, const void *val, uint32_t len)
{
    struct arena *a = &s->mb->arena;
    void *old = ent_ptr(e);
    uint32_t olen = ent_vlen(e);
    if (old && len && arena_same(olen, len)) {
        memmove(old, val, len);
    } else {
        void *nb = NULL;
        if (len) {
            if (!(nb = arena_alloc(a, len))) return RN_ENOMEM;
            memcpy(nb, val, len);
        }
        arena_free(a, old, olen);
        ent_set_ptr(e, nb);
    }
    ent_set_vlen(e, len);
    return 0;
}

static int mem_put(rn_state *st, const struct rn_state_key *k, int64_t ns, const void *val, uint32_t len)
{
    struct mstate *s = (struct mstate *)st;
    if (s->vk != V_FIXED && s->vk != V_VAR) return RN_EINVAL;
    struct tnow tn = tnow_of(s);
    uint32_t i;
    bool created;
    int rc = upsert(s, k, ns, &tn, &i, &created);
    if (rc) return rc;
    uint8_t *e = ent(s, i);
    if (s->vk == V_FIXED) {
        memmove(e + OFF_VAL, val, s->vsize);
    } else if ((rc = set_var(s, e, val, len))) {
        if (created) del_entry(s, i, NONE);
        return rc;
    }
    ent_set_time(s, e, tn.now);
    return 0;
}

static int mem_remove(rn_state *st, const struct rn_state_key *k, int64_t ns)
{
    struct mstate *s = (struct mstate *)st;
    struct probe p;
    probe_init(&p, k, ns);
    uint32_t pos, i = idx_find(s, key_hash(k->data, k->len, ns), &p, &pos);
    if (i != NONE) del_entry(s, i, pos);
    return 0;
}

/* One fold: the hot path of the aggregations (one index probe, the combine in place). */
static inline int add_one(struct mstate *s, const struct rn_state_key *k, int64_t ns, uint64_t h, const void *val,
                          const struct tnow *tn)
{
    struct probe p;
    probe_init(&p, k, ns);
    uint32_t pos, i = idx_find(s, h, &p, &pos);
    uint8_t *e;
    if (i != NONE) {
        e = ent(s, i);
        if (!s->ttl) {
            s->head.desc.combine(e + OFF_VAL, val, s->head.desc.combine_user);
            return 0;
        }
        if (ent_expired(s, e, tn)) memcpy(e + OFF_VAL, val, s->vsize);
        else s->head.desc.combine(e + OFF_VAL, val, s->head.desc.combine_user);
        ent_set_time(s, e, tn->now);
        return 0;
    }
    int rc = entry_insert(s, h, &p, k->key_group, pos, &i);
    if (rc) return rc;
    e = ent(s, i);
    memcpy(e + OFF_VAL, val, s->vsize);
    ent_set_time(s, e, tn->now);
    return 0;
}

static int mem_add(rn_state *st, const struct rn_state_key *k, int64_t ns, const void *val)
{
    struct mstate *s = (struct mstate *)st;
    if (s->vk != V_FIXED || !s->head.desc.combine) return RN_EINVAL;
    struct tnow tn = tnow_of(s);
    return add_one(s, k, ns, key_hash(k->data, k->len, ns), val, &tn);
}

/* The batch forms hash PF_DIST keys ahead and prefetch their home index slot; PF_DIST/2 keys
 * ahead the slot is in cache and the entry it names is prefetched. */
static inline void batch_prefetch(const struct mstate *s, const struct rn_state_key *keys, const int64_t *ns,
                                  uint32_t n, uint32_t i, uint64_t *ring)
{
    uint32_t j = i + PF_DIST;
    if (j < n) {
        uint64_t h = key_hash(keys[j].data, keys[j].len, ns ? ns[j] : 0);
        ring[j % PF_RING] = h;
        __builtin_prefetch(&s->idx[(uint32_t)h & s->imask]);
    }
    j = i + PF_DIST / 2;
    if (j < n) {
        uint32_t v = s->idx[(uint32_t)ring[j % PF_RING] & s->imask];
        if (v) __builtin_prefetch(ent(s, (v & s->imask) - 1) + 8);
    }
}

static inline void batch_start(const struct mstate *s, const struct rn_state_key *keys, const int64_t *ns, uint32_t n,
                               uint64_t *ring)
{
    for (uint32_t j = 0; j < n && j < PF_DIST; j++) {
        ring[j] = key_hash(keys[j].data, keys[j].len, ns ? ns[j] : 0);
        __builtin_prefetch(&s->idx[(uint32_t)ring[j] & s->imask]);
    }
}

static int mem_add_many(rn_state *st, const struct rn_state_key *keys, const int64_t *ns, uint32_t n, const void *vals)
{
    struct mstate *s = (struct mstate *)st;
    if (s->vk != V_FIXED || !s->head.desc.combine) return RN_EINVAL;
    struct tnow tn = tnow_of(s);
    const uint8_t *v = vals;
    uint64_t ring[PF_RING];
    batch_start(s, keys, ns, n, ring);
    for (uint32_t i = 0; i < n; i++) {
        batch_prefetch(s, keys, ns, n, i, ring);
        int rc = add_one(s, &keys[i], ns ? ns[i] : 0, ring[i % PF_RING], v + (size_t)i * s->vsize, &tn);
        if (rc) return rc;
    }
    return 0;
}

static int mem_get_many(rn_state *st, const struct rn_state_key *keys, const int64_t *ns, uint32_t n, const void **vals,
                        uint32_t *lens)
{
    struct mstate *s = (struct mstate *)st;
    for (uint32_t i = 0; i < n; i++) {
        vals[i] = NULL;
        lens[i] = 0;
    }
    if (s->vk != V_FIXED && s->vk != V_VAR) return RN_EINVAL;
    struct tnow tn = tnow_of(s);
    uint64_t ring[PF_RING];
    batch_start(s, keys, ns, n, ring);
    for (uint32_t i = 0; i < n; i++) {
        batch_prefetch(s, keys, ns, n, i, ring);
        struct probe p;
        probe_init(&p, &keys[i], ns ? ns[i] : 0);
        uint32_t pos, j = idx_find(s, ring[i % PF_RING], &p, &pos);
        if (j == NONE) continue;
        uint8_t *e = ent(s, j);
        if (ent_expired(s, e, &tn)) continue;   /* not dropped: earlier pointers must stay put */
        if (s->vk == V_FIXED) {
            vals[i] = e + OFF_VAL;
            lens[i] = s->vsize;
        } else {
            lens[i] = ent_vlen(e);
            vals[i] = lens[i] ? ent_ptr(e) : (const void *)(e + OFF_VAL);
        }
    }
    return 0;
}

/* ---- list ---- */

/* Element layout: [u32 length, u32 padding] when variable-sized, [i64 write time] when the
 * state has a TTL, then the value (fixed-size without TTL: lstride bytes; else padded to 8). */
static inline uint32_t list_elem_size(const struct mstate *s, uint32_t len)
{
    if (s->vsize) return s->ttl ? 8 + (uint32_t)round8(s->vsize) : s->lstride;
    return 8 + (s->ttl ? 8 : 0) + (uint32_t)round8(len);
}

struct lelem {
    const uint8_t *val;
    uint32_t len, size;
    int64_t t;
};

static inline void list_read(const struct mstate *s, const uint8_t *at, struct lelem *x)
{
    uint32_t o = 0;
    x->len = s->vsize;
    x->t = 0;
    if (!s->vsize) {
        memcpy(&x->len, at, 4);
        o = 8;
    }
    if (s->ttl) {
        memcpy(&x->t, at + o, 8);
        o += 8;
    }
    x->val = at + o;
    x->size = list_elem_size(s, x->len);
}

/* Appends one element (written at time t) to the list of entry e. */
static int list_push(struct mstate *s, uint8_t *e, const void *val, uint32_t len, int64_t t)
{
    struct arena *a = &s->mb->arena;
    struct mlist *l = ent_ptr(e);
    uint64_t need = (uint64_t)(l ? l->used : 0) + list_elem_size(s, len);
    if (need > UINT32_MAX - 64) return RN_ERANGE;
    if (!l || need > l->cap) {
        uint64_t ncap = l ? l->cap : 0;
        if (ncap < 48) ncap = 48;
        while (ncap < need) ncap = ncap * 2 + 16;   /* blocks of 2^k bytes: header + cap */
        if (ncap > UINT32_MAX - 64) ncap = need;
        const uint8_t *src = val;
        size_t inside = SIZE_MAX;
        if (l && src >= l->data && src < l->data + l->used) inside = (size_t)(src - l->data);
        struct mlist *nl = arena_resize(a, l, l ? list_block(l->cap) : 0, list_block((uint32_t)ncap));
        if (!nl) return RN_ENOMEM;
        if (!l) nl->count = nl->used = 0;
        nl->cap = (uint32_t)ncap;
        if (inside != SIZE_MAX) val = nl->data + inside;
        l = nl;
        ent_set_ptr(e, l);
    }
    uint8_t *at = l->data + l->used;
    uint32_t size = list_elem_size(s, len);
    memset(at, 0, size);
    if (!s->vsize) {
        memcpy(at, &len, 4);
        at += 8;
    }
    if (s->ttl) {
        memcpy(at, &t, 8);
        at += 8;
    }
    if (len) memcpy(at, val, len);
    l->used += size;
    l->count++;
    return 0;
}

/* Drops the expired elements at the front of entry i's list (appends come in clock order, so
 * the expired ones are a prefix; with a clock that went back, visits still skip any expired
 * element). Not while the state is iterated (a visit holds offsets into the list). Returns
 * false when that emptied the list, which removed the entry. */
static bool list_trim(struct mstate *s, uint32_t i, const struct tnow *tn)
{
    uint8_t *e = ent(s, i);
    struct mlist *l = ent_ptr(e);
    if (!s->ttl || s->iter || !l) return true;
    uint32_t off = 0, k = 0;
    while (off < l->used) {
        struct lelem x;
        list_read(s, l->data + off, &x);
        if (x.t > tn->lim) break;
        off += x.size;
        k++;
    }
    if (!off) return true;
    if (off >= l->used) {
        del_entry(s, i, NONE);
        return false;
    }
    memmove(l->data, l->data + off, l->used - off);
    l->used -= off;
    l->count -= k;
    return true;
}

static int mem_list_append(rn_state *st, const struct rn_state_key *k, int64_t ns, const void *val, uint32_t len)
{
    struct mstate *s = (struct mstate *)st;
    if (s->vk != V_LIST) return RN_EINVAL;
    struct tnow tn = tnow_of(s);
    uint32_t i;
    bool created;
    int rc = upsert(s, k, ns, &tn, &i, &created);
    if (rc) return rc;
    if (!created && !list_trim(s, i, &tn)) return mem_list_append(st, k, ns, val, len);
    uint8_t *e = ent(s, i);
    if ((rc = list_push(s, e, val, len, tn.now))) {
        if (created) del_entry(s, i, NONE);
        return rc;
    }
    ent_set_time(s, e, tn.now);
    return 0;
}

/* ---- map ---- */

static inline uint32_t mkey_hash(const void *k, uint32_t len) { return (uint32_t)rn_hash_bytes(k, len); }

static uint32_t map_find(const struct mmap *m, uint32_t h, const void *k, uint32_t len)
{
    uint32_t mask = m->cap - 1;
    for (uint32_t j = h & mask;; j = (j + 1) & mask) {
        const struct mslot *sl = &m->slot[j];
        if (!sl->used) return NONE;
        if (sl->h == h && sl->mlen == len && !memcmp(sl->data, k, len)) return j;
    }
}

static void map_place(struct mmap *m, const struct mslot *sl)
{
    uint32_t mask = m->cap - 1, j = sl->h & mask;
    while (m->slot[j].used) j = (j + 1) & mask;
    m->slot[j] = *sl;
}

static void map_erase(struct arena *a, struct mmap *m, uint32_t pos)
{
    struct mslot *sl = &m->slot[pos];
    arena_free(a, sl->data, mdata_size(sl->mlen, sl->vlen));
    uint32_t mask = m->cap - 1, hole = pos, j = pos;
    for (;;) {
        j = (j + 1) & mask;
        if (!m->slot[j].used) break;
        uint32_t home = m->slot[j].h & mask;
        if (((j - home) & mask) >= ((j - hole) & mask)) {
            m->slot[hole] = m->slot[j];
            hole = j;
        }
    }
    memset(&m->slot[hole], 0, sizeof m->slot[hole]);
    m->n--;
    m->mod++;
}

/* A map with room for one more user key (expired ones are dropped when it grows). */
static struct mmap *map_room(struct mstate *s, uint8_t *e, const struct tnow *tn)
{
    struct arena *a = &s->mb->arena;
    struct mmap *m = ent_ptr(e);
    if (m && (m->n + 1) * 4 <= m->cap * 3) return m;
    uint32_t cap = m ? m->cap * 2 : 4;
    struct mmap *nm = arena_alloc(a, map_block(cap));
    if (!nm) return NULL;
    memset(nm, 0, map_block(cap));
    nm->cap = cap;
    if (m) {
        nm->mod = m->mod + 1;
        for (uint32_t j = 0; j < m->cap; j++) {
            struct mslot *sl = &m->slot[j];
            if (!sl->used) continue;
            if (s->ttl && sl->t <= tn->lim) {
                arena_free(a, sl->data, mdata_size(sl->mlen, sl->vlen));
                continue;
            }
            map_place(nm, sl);
            nm->n++;
        }
        arena_free(a, m, map_block(m->cap));
    }
    ent_set_ptr(e, nm);
    return nm;
}

static int mem_map_put(rn_state *st, const struct rn_state_key *k, int64_t ns, const void *mkey, uint32_t mlen,
                       const void *val, uint32_t len)
{
    struct mstate *s = (struct mstate *)st;
    if (s->vk != V_MAP) return RN_EINVAL;
    struct arena *a = &s->mb->arena;
    struct tnow tn = tnow_of(s);
    uint32_t i;
    bool created;
    int rc = upsert(s, k, ns, &tn, &i, &created);
    if (rc) return rc;
    uint8_t *e = ent(s, i);
    uint32_t h = mkey_hash(mkey, mlen);
    struct mmap *m = ent_ptr(e);
    uint32_t j = m ? map_find(m, h, mkey, mlen) : NONE;
    if (j != NONE) {
        struct mslot *sl = &m->slot[j];
        size_t old = mdata_size(sl->mlen, sl->vlen), nsz = mdata_size(mlen, len);
        if (arena_same(old, nsz)) {
            memmove(sl->data + round8(mlen), val, len);
        } else {
            uint8_t *nb = arena_alloc(a, nsz);
            if (!nb) return RN_ENOMEM;
            memcpy(nb, mkey, mlen);
            if (len) memcpy(nb + round8(mlen), val, len);
            arena_free(a, sl->data, old);
            sl->data = nb;
            m->mod++;
        }
        sl->vlen = len;
        sl->t = tn.now;
    } else {
        /* copy first: mkey or val may point into a block that growing the map frees */
        uint8_t *nb = arena_alloc(a, mdata_size(mlen, len));
        if (!nb) goto fail;
        if (mlen) memcpy(nb, mkey, mlen);
        if (len) memcpy(nb + round8(mlen), val, len);
        if (!(m = map_room(s, e, &tn))) {
            arena_free(a, nb, mdata_size(mlen, len));
            goto fail;
        }
        struct mslot sl = {.h = h, .mlen = mlen, .vlen = len, .used = 1, .data = nb, .t = tn.now};
        map_place(m, &sl);
        m->n++;
        m->mod++;
    }
    ent_set_time(s, e, tn.now);
    return 0;
fail:
    if (created && !ent_ptr(e)) del_entry(s, i, NONE);
    return RN_ENOMEM;
}

/* The live slot of user key mkey in the map of (k, ns), or NONE. */
static uint32_t map_lookup(struct mstate *s, const struct rn_state_key *k, int64_t ns, const void *mkey, uint32_t mlen,
                           const struct tnow *tn, uint32_t *ei)
{
    uint32_t i = lookup(s, k, ns, tn);
    if (i == NONE) return NONE;
    struct mmap *m = ent_ptr(ent(s, i));
    if (!m) return NONE;
    uint32_t j = map_find(m, mkey_hash(mkey, mlen), mkey, mlen);
    if (j == NONE || (s->ttl && m->slot[j].t <= tn->lim)) return NONE;
    *ei = i;
    return j;
}

static int mem_map_get(rn_state *st, const struct rn_state_key *k, int64_t ns, const void *mkey, uint32_t mlen,
                       const void **val, uint32_t *len)
{
    struct mstate *s = (struct mstate *)st;
    *val = NULL;
    *len = 0;
    if (s->vk != V_MAP) return RN_EINVAL;
    struct tnow tn = tnow_of(s);
    uint32_t i, j = map_lookup(s, k, ns, mkey, mlen, &tn, &i);
    if (j == NONE) return 0;
    struct mslot *sl = &((struct mmap *)ent_ptr(ent(s, i)))->slot[j];
    *val = sl->data + round8(sl->mlen);
    *len = sl->vlen;
    return 0;
}

static int mem_map_remove(rn_state *st, const struct rn_state_key *k, int64_t ns, const void *mkey, uint32_t mlen)
{
    struct mstate *s = (struct mstate *)st;
    if (s->vk != V_MAP) return RN_EINVAL;
    struct tnow tn = tnow_of(s);
    uint32_t i, j = map_lookup(s, k, ns, mkey, mlen, &tn, &i);
    if (j == NONE) return 0;
    struct mmap *m = ent_ptr(ent(s, i));
    map_erase(&s->mb->arena, m, j);
    if (!m->n) del_entry(s, i, NONE);
    return 0;
}

/* ---- iteration ---- */

typedef int (*entry_fn)(const struct rn_state_entry *e, void *user);

static void fill_entry(const struct mstate *s, uint32_t i, struct rn_state_entry *out)
{
    const uint8_t *e = ent(s, i);
    memset(out, 0, sizeof *out);
    out->key_group = ent_kg(e);
    out->key = ent_key(e, &out->key_len);
    out->ns = ent_ns(e);
}

static int visit_list(struct mstate *s, uint32_t i, const struct tnow *tn, entry_fn fn, void *user)
{
    struct mlist *l = ent_ptr(ent(s, i));
    uint32_t count = l ? l->count : 0, off = 0;
    for (uint32_t k = 0; k < count; k++) {
        /* re-read everything after each call: fn may have appended (moving the block) or removed */
        const uint8_t *e = ent(s, i);
        if (ent_dead(e) || !(l = ent_ptr(e)) || off >= l->used) break;
        struct lelem el;
        list_read(s, l->data + off, &el);
        off += el.size;
        if (s->ttl && el.t <= tn->lim) continue;
        struct rn_state_entry x;
        fill_entry(s, i, &x);
        x.val = el.val;
        x.len = el.len;
        int rc = fn(&x, user);
        if (rc) return rc;
    }
    return 0;
}

static int mkey_cmp(const void *ka, uint32_t la, const void *kb, uint32_t lb)
{
    int c = memcmp(ka, kb, la < lb ? la : lb);
    return c ? c : (la > lb) - (la < lb);
}

static int map_order_cmp(const void *a, const void *b, void *ctx)
{
    const struct mmap *m = ctx;
    const struct mslot *x = &m->slot[*(const uint32_t *)a], *y = &m->slot[*(const uint32_t *)b];
    return mkey_cmp(x->data, x->mlen, y->data, y->mlen);
}

/* Visits the live user keys of entry i's map in byte order. When fn changes the map's layout,
 * the visit goes on with the user keys after the last one visited. */
static int visit_map(struct mstate *s, uint32_t i, const struct tnow *tn, entry_fn fn, void *user)
{
    uint32_t *order = NULL, ocap = 0;
    uint8_t *last = NULL;
    uint32_t last_len = 0, last_cap = 0;
    bool have_last = false;
    int rc = 0;
restart:;
    const uint8_t *e = ent(s, i);
    struct mmap *m = ent_dead(e) ? NULL : ent_ptr(e);
    if (!m) goto out;
    if (ocap < m->n) {
        uint32_t *no = realloc(order, (size_t)m->n * sizeof *no);
        if (!no) {
            rc = RN_ENOMEM;
            goto out;
        }
        order = no;
        ocap = m->n;
    }
    uint32_t cnt = 0;
    for (uint32_t j = 0; j < m->cap; j++) {
        const struct mslot *sl = &m->slot[j];
        if (!sl->used || (s->ttl && sl->t <= tn->lim)) continue;
        if (have_last && mkey_cmp(sl->data, sl->mlen, last, last_len) <= 0) continue;
        order[cnt++] = j;
    }
    qsort_r(order, cnt, sizeof *order, map_order_cmp, m);
    uint32_t mod = m->mod;
    for (uint32_t k = 0; k < cnt; k++) {
        struct mslot *sl = &m->slot[order[k]];
        if (last_cap < sl->mlen) {
            uint8_t *nl = realloc(last, sl->mlen);
            if (!nl) {
                rc = RN_ENOMEM;
                goto out;
            }
            last = nl;
            last_cap = sl->mlen;
        }
        if (sl->mlen) memcpy(last, sl->data, sl->mlen);
        last_len = sl->mlen;
        have_last = true;
        struct rn_state_entry x;
        fill_entry(s, i, &x);
        x.mkey = sl->data;
        x.mkey_len = sl->mlen;
        x.val = sl->data + round8(sl->mlen);
        x.len = sl->vlen;
        if ((rc = fn(&x, user))) goto out;
        e = ent(s, i);
        if (ent_dead(e) || ent_ptr(e) != m || m->mod != mod) goto restart;
    }
out:
    free(order);
    free(last);
    return rc;
}

static int visit_entry(struct mstate *s, uint32_t i, const struct tnow *tn, entry_fn fn, void *user)
{
    struct rn_state_entry x;
    switch (s->vk) {
    case V_LIST: return visit_list(s, i, tn, fn, user);
    case V_MAP: return visit_map(s, i, tn, fn, user);
    case V_FIXED:
        fill_entry(s, i, &x);
        x.val = ent(s, i) + OFF_VAL;
        x.len = s->vsize;
        return fn(&x, user);
    default:
        fill_entry(s, i, &x);
        x.len = ent_vlen(ent(s, i));
        x.val = x.len ? ent_ptr(ent(s, i)) : (const void *)(ent(s, i) + OFF_VAL);
        return fn(&x, user);
    }
}

static int entry_order_cmp(const void *a, const void *b, void *ctx)
{
    const struct mstate *s = ctx;
    uint32_t i = *(const uint32_t *)a, j = *(const uint32_t *)b;
    const uint8_t *ea = ent(s, i), *eb = ent(s, j);
    uint16_t ka = ent_kg(ea), kb = ent_kg(eb);
    if (ka != kb) return ka < kb ? -1 : 1;
    uint32_t la, lb;
    const uint8_t *pa = ent_key(ea, &la), *pb = ent_key(eb, &lb);
    int c = mkey_cmp(pa, la, pb, lb);
    if (c) return c;
    int64_t na = ent_ns(ea), nb = ent_ns(eb);
    return (na > nb) - (na < nb);
}

/* The live entries of s with a key group in [lo, hi] (and namespace ns when by_ns), sorted by
 * key group (counting sort), then, when full, by key bytes and namespace. Expired entries found
 * are dropped (marked: the caller iterates). */
static int collect(struct mstate *s, uint32_t lo, uint32_t hi, bool by_ns, int64_t ns, const struct tnow *tn, bool full,
                   uint32_t **out, uint32_t *cnt)
{
    uint32_t mp = s->head.backend->cfg.max_parallelism;
    *out = NULL;
    *cnt = 0;
    if (hi >= mp) hi = mp - 1;
    if (lo > hi || !s->n) return 0;
    uint32_t nb = hi - lo + 1, n = 0;
    uint32_t *start = calloc((size_t)nb + 1, sizeof *start);
    if (!start) return RN_ENOMEM;
    for (uint32_t i = 0; i < s->n; i++) {
        uint8_t *e = ent(s, i);
        uint32_t kg = ent_kg(e);
        if (ent_dead(e) || kg < lo || kg > hi || (by_ns && ent_ns(e) != ns)) continue;
        if (ent_expired(s, e, tn)) {
            del_entry(s, i, NONE);
            continue;
        }
        start[kg - lo + 1]++;
        n++;
    }
    uint32_t *order = malloc((size_t)(n ? n : 1) * sizeof *order);
    if (!order) {
        free(start);
        return RN_ENOMEM;
    }
    for (uint32_t b = 0; b < nb; b++) start[b + 1] += start[b];
    for (uint32_t i = 0; i < s->n; i++) {
        const uint8_t *e = ent(s, i);
        uint32_t kg = ent_kg(e);
        if (ent_dead(e) || kg < lo || kg > hi || (by_ns && ent_ns(e) != ns)) continue;
        order[start[kg - lo]++] = i;
    }
    if (full) {
        /* start[b] is now the end of bucket b */
        for (uint32_t b = 0, from = 0; b < nb; from = start[b], b++)
            if (start[b] - from > 1) qsort_r(order + from, start[b] - from, sizeof *order, entry_order_cmp, s);
    }
    free(start);
    *out = order;
    *cnt = n;
    return 0;
}

static int iterate(struct mstate *s, uint32_t lo, uint32_t hi, bool by_ns, int64_t ns, entry_fn fn, void *user)
{
    struct tnow tn = tnow_of(s);
    iter_begin(s);
    uint32_t *order, cnt;
    int rc = collect(s, lo, hi, by_ns, ns, &tn, true, &order, &cnt);
    for (uint32_t k = 0; !rc && k < cnt; k++)
        if (!ent_dead(ent(s, order[k]))) rc = visit_entry(s, order[k], &tn, fn, user);
    free(order);
    iter_end(s);
    return rc;
}

static int mem_each(rn_state *st, uint32_t kg_first, uint32_t kg_last, entry_fn fn, void *user)
{
    return iterate((struct mstate *)st, kg_first, kg_last, false, 0, fn, user);
}

static int mem_each_in_namespace(rn_state *st, int64_t ns, entry_fn fn, void *user)
{
    return iterate((struct mstate *)st, 0, UINT32_MAX, true, ns, fn, user);
}

/* list_each and map_each through the entry visitors */
struct list_cb {
    int (*fn)(const void *val, uint32_t len, void *user);
    void *user;
};
static int list_cb_call(const struct rn_state_entry *e, void *u)
{
    struct list_cb *c = u;
    return c->fn(e->val, e->len, c->user);
}

struct map_cb {
    int (*fn)(const void *mkey, uint32_t mlen, const void *val, uint32_t len, void *user);
    void *user;
};
static int map_cb_call(const struct rn_state_entry *e, void *u)
{
    struct map_cb *c = u;
    return c->fn(e->mkey, e->mkey_len, e->val, e->len, c->user);
}

static int mem_list_each(rn_state *st, const struct rn_state_key *k, int64_t ns,
                         int (*fn)(const void *val, uint32_t len, void *user), void *user)
{
    struct mstate *s = (struct mstate *)st;
    if (s->vk != V_LIST) return RN_EINVAL;
    struct tnow tn = tnow_of(s);
    uint32_t i = lookup(s, k, ns, &tn);
    if (i == NONE || !list_trim(s, i, &tn)) return 0;
    struct list_cb c = {fn, user};
    iter_begin(s);
    int rc = visit_list(s, i, &tn, list_cb_call, &c);
    iter_end(s);
    return rc;
}

static int mem_map_each(rn_state *st, const struct rn_state_key *k, int64_t ns,
                        int (*fn)(const void *mkey, uint32_t mlen, const void *val, uint32_t len, void *user), void *user)
{
    struct mstate *s = (struct mstate *)st;
    if (s->vk != V_MAP) return RN_EINVAL;
    struct tnow tn = tnow_of(s);
    uint32_t i = lookup(s, k, ns, &tn);
    if (i == NONE) return 0;
    struct map_cb c = {fn, user};
    iter_begin(s);
    int rc = visit_map(s, i, &tn, map_cb_call, &c);
    iter_end(s);
    return rc;
}

/* ---- accounting ---- */

static uint64_t mem_entries(const rn_state_backend *b)
{
    const struct mem_backend *mb = (const struct mem_backend *)b;
    uint64_t n = 0;
    for (uint32_t i = 0; i < mb->nstates; i++) n += mb->states[i]->n - mb->states[i]->ndead;
    return n;
}

static uint64_t mem_memory(const rn_state_backend *b)
{
    const struct mem_backend *mb = (const struct mem_backend *)b;
    uint64_t n = sizeof *mb + (uint64_t)mb->states_cap * sizeof *mb->states + mb->arena.slab_bytes +
                 mb->arena.large_bytes + mb->arena.slabs_cap * sizeof(void *);
    for (uint32_t i = 0; i < mb->nstates; i++) {
        const struct mstate *s = mb->states[i];
        n += sizeof *s + strlen(s->head.desc.name) + 1 + s->bytes;
    }
    return n;
}

/* ---- snapshot files: writing ---- */

struct wr {
    int fd;
    uint8_t *buf;
    size_t len, cap;
    uint32_t crc;
    int sys_errno;
};

static void wr_flush(struct wr *w)
{
    w->crc = rn_crc32c(w->crc, w->buf, w->len);
    size_t off = 0;
    while (!w->sys_errno && off < w->len) {
        ssize_t k = write(w->fd, w->buf + off, w->len - off);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) w->sys_errno = k < 0 ? errno : EIO;
        else off += (size_t)k;
    }
    w->len = 0;
}

static void wr_bytes(struct wr *w, const void *p, size_t n)
{
    const uint8_t *s = p;
    while (n) {
        if (w->len == w->cap) wr_flush(w);
        size_t k = w->cap - w->len < n ? w->cap - w->len : n;
        memcpy(w->buf + w->len, s, k);
        w->len += k;
        s += k;
        n -= k;
    }
}

static void wr_u16(struct wr *w, uint16_t v) { wr_bytes(w, (uint8_t[]){(uint8_t)v, (uint8_t)(v >> 8)}, 2); }
static void wr_u32(struct wr *w, uint32_t v)
{
    uint8_t b[4];
    for (int k = 0; k < 4; k++) b[k] = (uint8_t)(v >> (8 * k));
    wr_bytes(w, b, 4);
}
static void wr_u64(struct wr *w, uint64_t v)
{
    uint8_t b[8];
    for (int k = 0; k < 8; k++) b[k] = (uint8_t)(v >> (8 * k));
    wr_bytes(w, b, 8);
}

/* The live user keys of a map, or elements of a list, that a snapshot writes. */
static uint32_t map_live(const struct mstate *s, const struct mmap *m, const struct tnow *tn)
{
    uint32_t n = 0;
    for (uint32_t j = 0; m && j < m->cap; j++)
        if (m->slot[j].used && !(s->ttl && m->slot[j].t <= tn->lim)) n++;
    return n;
}

static uint32_t list_live(const struct mstate *s, const struct mlist *l, const struct tnow *tn)
{
    if (!l || !s->ttl) return l ? l->count : 0;
    uint32_t n = 0;
    for (uint32_t off = 0; off < l->used;) {
        struct lelem x;
        list_read(s, l->data + off, &x);
        off += x.size;
        n += x.t > tn->lim;
    }
    return n;
}

static void write_entry(struct wr *w, const struct mstate *s, uint32_t i, const struct tnow *tn)
{
    const uint8_t *e = ent(s, i);
    uint32_t klen;
    const uint8_t *key = ent_key(e, &klen);
    wr_u16(w, ent_kg(e));
    wr_u32(w, klen);
    wr_bytes(w, key, klen);
    wr_u64(w, (uint64_t)ent_ns(e));
    if (s->ttl) wr_u64(w, (uint64_t)ent_time(s, e));
    switch (s->vk) {
    case V_FIXED: wr_bytes(w, e + OFF_VAL, s->vsize); break;
    case V_VAR:
        wr_u32(w, ent_vlen(e));
        wr_bytes(w, ent_ptr(e), ent_vlen(e));
        break;
    case V_LIST: {
        const struct mlist *l = ent_ptr(e);
        wr_u32(w, list_live(s, l, tn));
        for (uint32_t off = 0; l && off < l->used;) {
            struct lelem x;
            list_read(s, l->data + off, &x);
            off += x.size;
            if (s->ttl && x.t <= tn->lim) continue;
            if (s->ttl) wr_u64(w, (uint64_t)x.t);
            if (!s->vsize) wr_u32(w, x.len);
            wr_bytes(w, x.val, x.len);
        }
        break;
    }
    case V_MAP: {
        const struct mmap *m = ent_ptr(e);
        wr_u32(w, map_live(s, m, tn));
        for (uint32_t j = 0; m && j < m->cap; j++) {
            const struct mslot *sl = &m->slot[j];
            if (!sl->used || (s->ttl && sl->t <= tn->lim)) continue;
            wr_u32(w, sl->mlen);
            wr_bytes(w, sl->data, sl->mlen);
            if (!s->vsize) wr_u32(w, sl->vlen);
            wr_bytes(w, sl->data + round8(sl->mlen), sl->vlen);
            if (s->ttl) wr_u64(w, (uint64_t)sl->t);
        }
        break;
    }
    }
}

static int write_state_file(struct mstate *s, const char *path, struct rn_error *err)
{
    const struct rn_state_config *cfg = &s->head.backend->cfg;
    struct tnow tn = tnow_of(s);
    uint32_t *order = NULL, cnt = 0;
    iter_begin(s);   /* collect() may mark expired entries */
    int rc = collect(s, 0, UINT32_MAX, false, 0, &tn, false, &order, &cnt);
    if (rc) {
        iter_end(s);
        return rn_error_set(err, rc, 0, 0, "snapshot of state '%s': out of memory", s->head.desc.name);
    }
    struct wr w = {.fd = -1, .cap = 256 * 1024};
    w.buf = malloc(w.cap);
    if (!w.buf) {
        rc = rn_error_set(err, RN_ENOMEM, 0, 0, "snapshot of state '%s': out of memory", s->head.desc.name);
        goto out;
    }
    w.fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0666);
    if (w.fd < 0) {
        rc = rn_error_set(err, RN_EIO, 0, 0, "cannot create %s: %s", path, strerror(errno));
        if (err) err->sys_errno = errno;
        goto out;
    }
    /* lists and maps whose elements all expired are left out */
    uint32_t live = cnt;
    for (uint32_t k = 0; k < cnt && (s->vk == V_MAP || s->vk == V_LIST); k++) {
        const void *p = ent_ptr(ent(s, order[k]));
        if (!(s->vk == V_MAP ? map_live(s, p, &tn) : list_live(s, p, &tn))) {
            order[k] = NONE;
            live--;
        }
    }
    size_t nlen = strlen(s->head.desc.name);
    wr_bytes(&w, SNAP_MAGIC, 8);
    wr_u32(&w, SNAP_VERSION);
    wr_u32(&w, (uint32_t)s->head.desc.kind);
    wr_u32(&w, s->vsize);
    wr_u64(&w, (uint64_t)s->ttl);
    wr_u32(&w, cfg->max_parallelism);
    wr_u32(&w, cfg->kg_first);
    wr_u32(&w, cfg->kg_last);
    wr_u32(&w, (uint32_t)nlen);
    wr_bytes(&w, s->head.desc.name, nlen);
    wr_u64(&w, live);
    /* entries in key-group order are all over memory: fetch a few ahead */
    for (uint32_t k = 0; k < cnt; k++) {
        if (k + 16 < cnt && order[k + 16] != NONE) __builtin_prefetch(ent(s, order[k + 16]));
        if (order[k] != NONE) write_entry(&w, s, order[k], &tn);
    }
    wr_flush(&w);
    uint32_t crc = w.crc;
    wr_u32(&w, crc);
    wr_flush(&w);
    if (!w.sys_errno && fsync(w.fd)) w.sys_errno = errno;
    if (close(w.fd) && !w.sys_errno) w.sys_errno = errno;
    w.fd = -1;
    if (w.sys_errno) {
        rc = rn_error_set(err, RN_EIO, 0, 0, "cannot write %s: %s", path, strerror(w.sys_errno));
        if (err) err->sys_errno = w.sys_errno;
    }
out:
    if (w.fd >= 0) close(w.fd);
    free(w.buf);
    free(order);
    iter_end(s);
    return rc;
}

/* mkdir -p of dir's parents, then dir itself, which must not exist. */
static int make_snapshot_dir(const char *dir, struct rn_error *err)
{
    size_t n = strlen(dir);
    char *p = malloc(n + 1);
    if (!p) return rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory");
    memcpy(p, dir, n + 1);
    for (size_t k = 1; k < n; k++) {
        if (p[k] != '/') continue;
        p[k] = 0;
        if (mkdir(p, 0777) && errno != EEXIST) {
            int e = errno;
            rn_error_set(err, RN_EIO, 0, 0, "cannot create %s: %s", p, strerror(e));
            if (err) err->sys_errno = e;
            free(p);
            return RN_EIO;
        }
        p[k] = '/';
    }
    free(p);
    if (mkdir(dir, 0777)) {
        int e = errno;
        rn_error_set(err, RN_EIO, 0, 0, "cannot create snapshot directory %s: %s", dir,
                     e == EEXIST ? "it already exists" : strerror(e));
        if (err) err->sys_errno = e;
        return RN_EIO;
    }
    return 0;
}

/* A growable string for the manifest lines. */
struct sbuf {
    char *p;
    size_t len, cap;
    bool oom;
};

static void sb_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (k < 0) {
            b->oom = true;
            return;
        }
        if (b->p && b->len + (size_t)k < b->cap) {
            b->len += (size_t)k;
            return;
        }
        size_t nc = (b->cap ? b->cap * 2 : 256) + (size_t)k;
        char *np = realloc(b->p, nc);
        if (!np) {
            b->oom = true;
            return;
        }
        b->p = np;
        b->cap = nc;
    }
}

/* The CRC32C of the manifest text before its "crc" line: the head that rn__state_write_manifest
 * writes (its format is fixed in state_internal.h), then the lines. */
static uint32_t manifest_crc(const struct rn_state_config *cfg, const char *lines, size_t len)
{
    char head[160];
    int k = snprintf(head, sizeof head, "backend memory\nmax_parallelism %u\nkey_groups %u %u", cfg->max_parallelism,
                     cfg->kg_first, cfg->kg_last);
    return rn_crc32c(rn_crc32c(0, head, (size_t)k), lines, len);
}

static int mem_snapshot(rn_state_backend *b, const char *dir, struct rn_error *err)
{
    struct mem_backend *mb = (struct mem_backend *)b;
    int rc = make_snapshot_dir(dir, err);
    if (rc) return rc;
    struct sbuf x = {0};
    char path[4096];
    uint32_t written = 0;
    sb_printf(&x, "\n");   /* the head's last newline, covered by the CRC */
    for (uint32_t i = 0; i < mb->nstates && !rc; i++) {
        struct mstate *s = mb->states[i];
        char fname[32];
        snprintf(fname, sizeof fname, "state-%u.bin", s->head.id);
        if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, fname) >= sizeof path) {
            rc = rn_error_set(err, RN_EINVAL, 0, 0, "snapshot directory name too long: %s", dir);
            break;
        }
        if ((rc = write_state_file(s, path, err))) {
            unlink(path);
            break;
        }
        written = i + 1;
        /* the state's name, readable (the file's header has it exactly) */
        sb_printf(&x, "file %s ", fname);
        for (const char *c = s->head.desc.name; *c; c++) sb_printf(&x, "%c", (unsigned char)*c < 32 ? '?' : *c);
        sb_printf(&x, "\n");
    }
    if (!rc) {
        sb_printf(&x, "files %u\n", mb->nstates);
        if (!x.oom) sb_printf(&x, "crc %08x\n", manifest_crc(&b->cfg, x.p, x.len));
        if (x.oom) rc = rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory");
        /* the head writes its own last newline: pass the lines without it */
        else rc = rn__state_write_manifest(dir, "memory", &b->cfg, x.p + 1, err);
    }
    free(x.p);
    if (rc) {
        for (uint32_t i = 0; i < written; i++) {
            snprintf(path, sizeof path, "%s/state-%u.bin", dir, mb->states[i]->head.id);
            unlink(path);
        }
        rmdir(dir);
    }
    return rc;
}

/* ---- snapshot files: reading ---- */

struct rd {
    const uint8_t *p, *end;
};

static bool rd_take(struct rd *r, size_t n, const uint8_t **out)
{
    if ((size_t)(r->end - r->p) < n) return false;
    *out = r->p;
    r->p += n;
    return true;
}
static bool rd_u16(struct rd *r, uint16_t *v)
{
    const uint8_t *b;
    if (!rd_take(r, 2, &b)) return false;
    *v = (uint16_t)(b[0] | b[1] << 8);
    return true;
}
static bool rd_u32(struct rd *r, uint32_t *v)
{
    const uint8_t *b;
    if (!rd_take(r, 4, &b)) return false;
    *v = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    return true;
}
static bool rd_u64(struct rd *r, uint64_t *v)
{
    uint32_t lo, hi;
    if (!rd_u32(r, &lo) || !rd_u32(r, &hi)) return false;
    *v = (uint64_t)hi << 32 | lo;
    return true;
}

/* Reads a whole file into memory. */
static int slurp(const char *path, uint8_t **out, size_t *size, struct rn_error *err)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        int e = errno;
        if (e == ENOENT) return rn_error_set(err, RN_ECORRUPT, 0, 0, "state snapshot file %s is missing", path);
        rn_error_set(err, RN_EIO, 0, 0, "cannot read %s: %s", path, strerror(e));
        if (err) err->sys_errno = e;
        return RN_EIO;
    }
    struct stat st;
    uint8_t *buf = NULL;
    size_t got = 0;
    int e = 0;
    if (fstat(fd, &st)) e = errno;
    else if (st.st_size < 0 || (uint64_t)st.st_size > SIZE_MAX / 2) e = EFBIG;
    else if (!(buf = malloc((size_t)st.st_size ? (size_t)st.st_size : 1))) e = ENOMEM;
    while (!e && got < (size_t)st.st_size) {
        ssize_t k = read(fd, buf + got, (size_t)st.st_size - got);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) e = errno;
        else if (k == 0) break;   /* shrank meanwhile: the checks below see the short size */
        else got += (size_t)k;
    }
    close(fd);
    if (e) {
        free(buf);
        if (e == ENOMEM) return rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory reading %s", path);
        rn_error_set(err, RN_EIO, 0, 0, "cannot read %s: %s", path, strerror(e));
        if (err) err->sys_errno = e;
        return RN_EIO;
    }
    *out = buf;
    *size = got;
    return 0;
}

/* Reads one value in the file's form (fixed: value_size bytes; variable: u32 length first). */
static bool rd_value(struct rd *r, uint32_t vsize, const uint8_t **v, uint32_t *len)
{
    *len = vsize;
    if (!vsize && !rd_u32(r, len)) return false;
    return rd_take(r, *len, v);
}

/* Applies one file entry to s (replacing what s holds for (key, ns)); r is positioned after
 * the key, namespace and write time. With keep false, only reads past the value. */
static int restore_value(struct mstate *s, struct rd *r, bool keep, const struct rn_state_key *k, int64_t ns, int64_t t)
{
    const uint8_t *v;
    uint32_t len;
    uint32_t i = NONE;
    uint8_t *e = NULL;
    struct tnow never = {t, INT64_MIN};
    int rc = 0;
    if (keep) {
        bool created;
        if ((rc = upsert(s, k, ns, &never, &i, &created))) return rc;
        e = ent(s, i);
        free_value(s, e);
        ent_set_time(s, e, t);
    }
    switch (s->vk) {
    case V_FIXED:
    case V_VAR:
        if (!rd_value(r, s->vsize, &v, &len)) return RN_ECORRUPT;
        if (!keep) return 0;
        if (s->vk == V_FIXED) memcpy(e + OFF_VAL, v, s->vsize);
        else rc = set_var(s, e, v, len);
        break;
    case V_LIST: {
        uint32_t n;
        if (!rd_u32(r, &n)) return RN_ECORRUPT;
        for (uint32_t j = 0; j < n && !rc; j++) {
            uint64_t lt = (uint64_t)t;
            if ((s->ttl && !rd_u64(r, &lt)) || !rd_value(r, s->vsize, &v, &len)) return RN_ECORRUPT;
            if (keep) rc = list_push(s, ent(s, i), v, len, (int64_t)lt);
        }
        break;
    }
    case V_MAP: {
        uint32_t n;
        if (!rd_u32(r, &n)) return RN_ECORRUPT;
        for (uint32_t j = 0; j < n; j++) {
            const uint8_t *mk;
            uint32_t mlen;
            uint64_t mt = (uint64_t)t;
            if (!rd_u32(r, &mlen) || !rd_take(r, mlen, &mk) || !rd_value(r, s->vsize, &v, &len) ||
                (s->ttl && !rd_u64(r, &mt)))
                return RN_ECORRUPT;
            if (!keep) continue;
            e = ent(s, i);
            struct mmap *m = ent_ptr(e);
            uint32_t h = mkey_hash(mk, mlen);
            if (m && map_find(m, h, mk, mlen) != NONE) return RN_ECORRUPT;   /* a user key twice */
            uint8_t *nb = arena_alloc(&s->mb->arena, mdata_size(mlen, len));
            if (!nb) return RN_ENOMEM;
            if (mlen) memcpy(nb, mk, mlen);
            if (len) memcpy(nb + round8(mlen), v, len);
            if (!(m = map_room(s, e, &never))) {
                arena_free(&s->mb->arena, nb, mdata_size(mlen, len));
                return RN_ENOMEM;
            }
            struct mslot sl = {.h = h, .mlen = mlen, .vlen = len, .used = 1, .data = nb, .t = (int64_t)mt};
            map_place(m, &sl);
            m->n++;
        }
        break;
    }
    }
    /* a list or map without elements is no entry */
    if (!rc && keep && (s->vk == V_LIST || s->vk == V_MAP) && !ent_ptr(ent(s, i))) del_entry(s, i, NONE);
    return rc;
}

static int restore_file(struct mem_backend *mb, const char *path, uint32_t snap_first, uint32_t snap_last,
                        struct rn_error *err)
{
    const struct rn_state_config *cfg = &mb->head.cfg;
    uint8_t *buf = NULL;
    size_t size = 0;
    int rc = slurp(path, &buf, &size, err);
    if (rc) return rc;
    const char *why = NULL;
    struct rd r = {buf, buf + size};
    const uint8_t *magic, *name;
    uint32_t version, kind, vsize, mp, kf, kl, nlen;
    uint64_t ttl, count;
    char *sname = NULL;
    if (size < 12) {
        why = "truncated";
        goto corrupt;
    }
    uint32_t crc = (uint32_t)buf[size - 4] | (uint32_t)buf[size - 3] << 8 | (uint32_t)buf[size - 2] << 16 |
                   (uint32_t)buf[size - 1] << 24;
    if (memcmp(buf, SNAP_MAGIC, 8)) {
        why = "not a memory state snapshot file (bad magic)";
        goto corrupt;
    }
    if (rn_crc32c(0, buf, size - 4) != crc) {
        why = "truncated or corrupt (checksum mismatch)";
        goto corrupt;
    }
    r.end = buf + size - 4;
    rd_take(&r, 8, &magic);
    if (!rd_u32(&r, &version) || !rd_u32(&r, &kind) || !rd_u32(&r, &vsize) || !rd_u64(&r, &ttl) || !rd_u32(&r, &mp) ||
        !rd_u32(&r, &kf) || !rd_u32(&r, &kl) || !rd_u32(&r, &nlen) || !rd_take(&r, nlen, &name) || !rd_u64(&r, &count)) {
        why = "truncated header";
        goto corrupt;
    }
    if (version != SNAP_VERSION) {
        why = "unknown version";
        goto corrupt;
    }
    if (kind > RN_STATE_MAP || (kind == RN_STATE_REDUCING && !vsize) || vsize > MAX_VALUE_SIZE || (int64_t)ttl < 0 ||
        !nlen || memchr(name, 0, nlen) || mp != cfg->max_parallelism || kf != snap_first || kl != snap_last) {
        why = "header does not match the manifest or is invalid";
        goto corrupt;
    }
    if (!(sname = malloc(nlen + 1))) {
        rc = rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory reading %s", path);
        goto out;
    }
    memcpy(sname, name, nlen);
    sname[nlen] = 0;
    struct mstate *s = find_state(mb, sname);
    if (s && (s->head.desc.kind != (enum rn_state_kind)kind || s->vsize != vsize || s->ttl != (int64_t)ttl)) {
        rc = rn_error_set(err, RN_ECORRUPT, 0, 0, "%s: state '%s' differs from the one of another snapshot", path, sname);
        goto out;
    }
    if (!s) {
        struct rn_state_desc d = {.name = sname, .kind = (enum rn_state_kind)kind, .value_size = vsize,
                                  .ttl_ms = (int64_t)ttl};
        if ((rc = state_new(mb, &d, &s))) {
            rc = rn_error_set(err, rc, 0, 0, "out of memory reading %s", path);
            goto out;
        }
    }
    uint32_t prev_kg = 0;
    for (uint64_t c = 0; c < count; c++) {
        uint16_t kg;
        uint32_t klen;
        const uint8_t *key;
        uint64_t ns, t = 0;
        if (!rd_u16(&r, &kg) || !rd_u32(&r, &klen) || !rd_take(&r, klen, &key) || !rd_u64(&r, &ns) ||
            (s->ttl && !rd_u64(&r, &t))) {
            why = "truncated entry";
            goto corrupt;
        }
        if (kg < kf || kg > kl || kg < prev_kg) {
            why = "entry outside the snapshot's key groups or out of order";
            goto corrupt;
        }
        prev_kg = kg;
        struct rn_state_key k = {key, klen, kg};
        bool keep = kg >= cfg->kg_first && kg <= cfg->kg_last;
        rc = restore_value(s, &r, keep, &k, (int64_t)ns, (int64_t)t);
        if (rc == RN_ECORRUPT) {
            why = "truncated or invalid entry";
            goto corrupt;
        }
        if (rc) {
            rc = rn_error_set(err, rc, 0, 0, "restoring %s: out of memory", path);
            goto out;
        }
    }
    if (r.p != r.end) {
        why = "trailing bytes after the entries";
        goto corrupt;
    }
    rc = 0;
    goto out;
corrupt:
    rc = rn_error_set(err, RN_ECORRUPT, 0, 0, "state snapshot file %s is corrupt: %s", path, why);
out:
    free(sname);
    free(buf);
    return rc;
}

/* Checks a manifest's extra lines (CRC, file count) and restores every file they list. */
static int restore_dir(struct mem_backend *mb, const char *dir, struct rn_error *err)
{
    uint32_t kf, kl;
    char *extra = NULL;
    int rc = rn__state_read_manifest(dir, "memory", mb->head.cfg.max_parallelism, &kf, &kl, &extra, err);
    if (rc) return rc;
    char mpath[4096];
    snprintf(mpath, sizeof mpath, "%s/RUNNEL-STATE", dir);
    /* the CRC line ends the manifest: "crc XXXXXXXX\n", over the file's bytes before it */
    const char *crc_line = NULL;
    size_t len = strlen(extra);
    if (len >= 13 && extra[len - 1] == '\n' && !strncmp(extra + len - 13, "crc ", 4) &&
        (len == 13 || extra[len - 14] == '\n'))
        crc_line = extra + len - 13;
    uint8_t *raw = NULL;
    size_t rlen = 0;
    unsigned want = 0;
    char tail;
    if ((rc = slurp(mpath, &raw, &rlen, err))) {
        free(extra);
        return rc;
    }
    bool ok = crc_line && rlen >= 13 && sscanf(crc_line, "crc %8x%c", &want, &tail) == 2 && tail == '\n' &&
              !memcmp(raw + rlen - 13, crc_line, 13) && rn_crc32c(0, raw, rlen - 13) == want;
    free(raw);
    if (!ok) {
        free(extra);
        return rn_error_set(err, RN_ECORRUPT, 0, 0, "state snapshot %s is truncated or corrupt (manifest checksum)",
                            mpath);
    }
    /* lines: "file <name> <state name>" ..., "files <n>" */
    uint32_t nfiles = 0, declared = UINT32_MAX;
    char path[4096];
    for (char *line = extra; !rc && line < crc_line;) {
        char *nl = strchr(line, '\n');
        *nl = 0;
        char fname[256];
        unsigned n;
        if (!*line) {
            /* the head's newline */
        } else if (sscanf(line, "file %255s", fname) == 1 && !strncmp(line, "file ", 5)) {
            bool safe = fname[0] != '.';
            for (const char *c = fname; *c; c++)
                safe = safe && ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
                                *c == '.' || *c == '-' || *c == '_');
            if (!safe || (size_t)snprintf(path, sizeof path, "%s/%s", dir, fname) >= sizeof path)
                rc = rn_error_set(err, RN_ECORRUPT, 0, 0, "state snapshot %s names a bad file", mpath);
            else rc = restore_file(mb, path, kf, kl, err);
            nfiles++;
        } else if (sscanf(line, "files %u", &n) == 1 && !strncmp(line, "files ", 6) && declared == UINT32_MAX) {
            declared = n;
        } else {
            rc = rn_error_set(err, RN_ECORRUPT, 0, 0, "state snapshot %s has an unknown line", mpath);
        }
        line = nl + 1;
    }
    if (!rc && declared != nfiles)
        rc = rn_error_set(err, RN_ECORRUPT, 0, 0, "state snapshot %s is truncated (%u of %u files listed)", mpath,
                          nfiles, declared);
    free(extra);
    return rc;
}

static int mem_restore(const struct rn_state_config *cfg, const char *const *dirs, size_t n_dirs, rn_state_backend **out,
                       struct rn_error *err)
{
    rn_state_backend *b;
    int rc = mem_open(cfg, &b, err);
    if (rc) return rc;
    for (size_t d = 0; d < n_dirs; d++) {
        if ((rc = restore_dir((struct mem_backend *)b, dirs[d], err))) {
            mem_close(b);
            return rc;
        }
    }
    *out = b;
    return 0;
}

const struct rn_backend_ops rn_memory_backend_ops = {
    .name = "memory",
    .open = mem_open,
    .restore = mem_restore,
    .close = mem_close,
    .declare = mem_declare,
    .get = mem_get,
    .put = mem_put,
    .remove = mem_remove,
    .add = mem_add,
    .get_many = mem_get_many,
    .add_many = mem_add_many,
    .list_append = mem_list_append,
    .list_each = mem_list_each,
    .map_put = mem_map_put,
    .map_get = mem_map_get,
    .map_remove = mem_map_remove,
    .map_each = mem_map_each,
    .each = mem_each,
    .each_in_namespace = mem_each_in_namespace,
    .snapshot = mem_snapshot,
    .entries = mem_entries,
    .memory = mem_memory,
};
