/*
 * runnel/state.h — keyed state: what operators remember per key, in a backend chosen per job
 * (`state: { backend: memory | rocksdb, dir: ... }`): hash tables in memory, or RocksDB.
 *
 * One backend instance belongs to one operator subtask and is used by that subtask's thread
 * only (no locking). It owns a range of key groups [kg_first, kg_last]: every entry is stored
 * under (key group, key, namespace), the key group being rn_key_group(hash(key)) of the key
 * columns, so that a range of key groups is a contiguous range of entries — what snapshots,
 * restores at another parallelism and (later) rescaling work by.
 *
 * Keys are byte strings (the operator encodes its key columns: rn_state_key_encode), namespaces
 * are int64 (a window's end, or 0 when there is none). Values are byte strings too; the state
 * kinds give them structure:
 *   value        one value per (key, namespace)
 *   reducing     like value, but add() folds the new value into the old with a combine function
 *                (count, sum, min, max: the aggregate operator's accumulators). Flink's
 *                aggregating state is this over accumulators: the operator turns its inputs into
 *                an accumulator (pre-combining a batch per key) and the state combines
 *                accumulators.
 *   list         an append-only list of values per (key, namespace)
 *   map          a map of user keys to values per (key, namespace)
 * A state may have a time-to-live (processing time, from the backend's clock): a value not
 * written for ttl ms is never returned again (and is dropped lazily).
 *
 * Pointers returned by reads stay valid until the next call on the same backend.
 *
 * Performance contract: the hot path is per distinct key per batch, not per row — operators
 * pre-combine a batch's rows by key first, then touch state once per key (rn_state_add_many).
 */
#ifndef RUNNEL_STATE_H
#define RUNNEL_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runnel/batch.h"
#include "runnel/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rn_state_backend rn_state_backend;
typedef struct rn_state rn_state;

enum rn_state_backend_kind { RN_STATE_MEMORY, RN_STATE_ROCKSDB };

struct rn_state_config {
    enum rn_state_backend_kind kind;
    const char *dir;             /* rocksdb: the working directory of this instance (created;
                                  * must be empty or absent); memory: unused */
    uint32_t max_parallelism;    /* number of key groups, 1 .. 32768 */
    uint32_t kg_first, kg_last;  /* the key groups this instance owns (inclusive) */
    int64_t (*clock)(void);      /* processing time in ms for TTL; NULL = the real clock */
};

/* Opens a backend. RN_EINVAL/RN_EIO with err on a bad config or an unusable directory. */
int rn_state_backend_open(const struct rn_state_config *cfg, rn_state_backend **out, struct rn_error *err);
/* Which backend it is. */
enum rn_state_backend_kind rn_state_backend_kind(const rn_state_backend *b);
/* Closes it and frees everything (the rocksdb working directory is deleted). */
void rn_state_backend_close(rn_state_backend *b);

enum rn_state_kind { RN_STATE_VALUE, RN_STATE_REDUCING, RN_STATE_LIST, RN_STATE_MAP };

/* acc = combine(acc, in): both of the state's fixed value size. */
typedef void (*rn_state_combine_fn)(void *acc, const void *in, void *user);

struct rn_state_desc {
    const char *name;            /* unique within the backend */
    enum rn_state_kind kind;
    uint32_t value_size;         /* fixed size of each value in bytes; 0 = variable (value, list, map only) */
    int64_t ttl_ms;              /* 0 = no time-to-live */
    rn_state_combine_fn combine; /* reducing: required */
    void *combine_user;
};

/* Declares a state (or finds the one already declared under that name with the same desc:
 * operators declare their states in open(), also after a restore). */
int rn_state_declare(rn_state_backend *b, const struct rn_state_desc *d, rn_state **out, struct rn_error *err);

/* A key: its bytes and its key group (which the caller computes once per row). */
struct rn_state_key {
    const void *data;
    uint32_t len;
    uint16_t key_group;
};

/* Encodes row i of the key columns (the key_by expression's column(s)) into buf[0..cap) and
 * returns the length (larger than cap: buf too small, nothing usable written). Equal key
 * values give equal bytes; nulls encode distinctly. */
uint32_t rn_state_key_encode(const struct rn_column *cols, uint32_t n_cols, uint32_t i, void *buf, uint32_t cap);
/* The value of a one-column key (rn_state_key_encode of a column of type t, as a timer or a
 * state enumeration hands it back): null, or the value (strings as a view into the key's
 * bytes). RN_ECORRUPT when the bytes are not such a key. */
struct rn_key_value {
    bool null;
    union { int64_t i; double d; bool b; } v;   /* int64 and timestamp: i */
    struct rn_str s;
};
int rn_state_key_decode(const struct rn_state_key *k, struct rn_type t, struct rn_key_value *out);

/* ---- value and reducing ---- */

/* *val and *len get the value, or *val = NULL when absent (or expired). */
int rn_state_get(rn_state *s, const struct rn_state_key *k, int64_t ns, const void **val, uint32_t *len);
int rn_state_put(rn_state *s, const struct rn_state_key *k, int64_t ns, const void *val, uint32_t len);
int rn_state_remove(rn_state *s, const struct rn_state_key *k, int64_t ns);
/* Reducing states: folds val into the stored value with the combine function (or stores it when
 * absent). */
int rn_state_add(rn_state *s, const struct rn_state_key *k, int64_t ns, const void *val);
/* The batch forms: n keys (one namespace each), for what was pre-combined per batch. get_many
 * fills vals[i] (NULL when absent) and lens[i]; pointers stay valid until the next call. */
int rn_state_get_many(rn_state *s, const struct rn_state_key *keys, const int64_t *ns, uint32_t n,
                      const void **vals, uint32_t *lens);
int rn_state_add_many(rn_state *s, const struct rn_state_key *keys, const int64_t *ns, uint32_t n, const void *vals);

/* ---- list ---- */

int rn_state_list_append(rn_state *s, const struct rn_state_key *k, int64_t ns, const void *val, uint32_t len);
/* Calls fn for each element in append order; fn returning non-zero stops (and is returned). */
int rn_state_list_each(rn_state *s, const struct rn_state_key *k, int64_t ns,
                       int (*fn)(const void *val, uint32_t len, void *user), void *user);
/* (rn_state_remove clears a list or a whole map.) */

/* ---- map ---- */

int rn_state_map_put(rn_state *s, const struct rn_state_key *k, int64_t ns, const void *mkey, uint32_t mlen,
                     const void *val, uint32_t len);
int rn_state_map_get(rn_state *s, const struct rn_state_key *k, int64_t ns, const void *mkey, uint32_t mlen,
                     const void **val, uint32_t *len);
int rn_state_map_remove(rn_state *s, const struct rn_state_key *k, int64_t ns, const void *mkey, uint32_t mlen);
/* Calls fn for each entry in user-key byte order. */
int rn_state_map_each(rn_state *s, const struct rn_state_key *k, int64_t ns,
                      int (*fn)(const void *mkey, uint32_t mlen, const void *val, uint32_t len, void *user), void *user);

/* ---- whole-state iteration (key-group enumeration) ---- */

/* One stored entry as seen by iteration: for lists, one element per call; for maps, one
 * (user key, value) per call (mkey NULL for the other kinds). */
struct rn_state_entry {
    uint16_t key_group;
    const void *key;
    uint32_t key_len;
    int64_t ns;
    const void *mkey;
    uint32_t mkey_len;
    const void *val;
    uint32_t len;
};
/* Visits every live entry of state s in key groups [kg_first, kg_last], in key-group order. */
int rn_state_each(rn_state *s, uint32_t kg_first, uint32_t kg_last,
                  int (*fn)(const struct rn_state_entry *e, void *user), void *user);
/* Visits the (key, namespace) pairs of s holding a value in namespace ns (windows: every key of
 * a window). */
int rn_state_each_in_namespace(rn_state *s, int64_t ns, int (*fn)(const struct rn_state_entry *e, void *user),
                               void *user);

/* ---- snapshots ---- */

/* Writes a snapshot of every state into the directory dir (created; must not exist):
 * memory: one file per state and key group range written; rocksdb: a RocksDB checkpoint (hard
 * links where the filesystem allows) plus a manifest listing its SST files, so that checkpoints
 * can copy only the files a previous checkpoint does not already hold. The snapshot is
 * self-contained and survives the backend. */
int rn_state_snapshot(rn_state_backend *b, const char *dir, struct rn_error *err);
/* The same in two steps, so that the writing thread pauses for microseconds instead of a
 * memtable flush (RocksDB; the memory backend writes its whole snapshot in _begin):
 * rn_state_snapshot_begin cuts the state — the snapshot will hold exactly the writes before the
 * call — and rn_state_snapshot_poll, on the same thread, returns 1 while the cut is not yet in
 * SST files (wait false), else writes the snapshot into dir (a RocksDB checkpoint of hard links,
 * no flush) and returns 0 or the error. Writes go on in between; one that would make RocksDB
 * flush past the cut first finishes the snapshot (waiting for the cut's flush). Poll to the end
 * before the next begin and before closing the backend. */
int rn_state_snapshot_begin(rn_state_backend *b, const char *dir, struct rn_error *err);
int rn_state_snapshot_poll(rn_state_backend *b, bool wait, struct rn_error *err);
/* The SST files of a rocksdb snapshot (names relative to dir); 0 for memory snapshots. */
int rn_state_snapshot_files(const char *dir, char ***names, size_t *n, struct rn_error *err);

/* Opens a backend from one or more snapshots (of the same job, possibly of other key-group
 * ranges, e.g. after a parallelism change), keeping only the entries whose key group is in
 * cfg's range. The states reappear as they are declared again. A snapshot that is missing,
 * truncated or corrupt is RN_ECORRUPT (or RN_EIO) with err naming the file; never a crash. */
int rn_state_backend_restore(const struct rn_state_config *cfg, const char *const *dirs, size_t n_dirs,
                             rn_state_backend **out, struct rn_error *err);

/* Entries currently stored (all states; expired ones included until dropped), and bytes of
 * memory the memory backend uses (0 for rocksdb): for tests and benchmarks. */
uint64_t rn_state_backend_entries(const rn_state_backend *b);
uint64_t rn_state_backend_memory(const rn_state_backend *b);

/* ---- operator (non-keyed) state ----
 *
 * What a subtask remembers that is not per key: named lists of byte values (a source's
 * positions, a sink's pending files). On restore at another parallelism the lists are
 * redistributed: element i of a list, counted over the snapshots of all old subtasks in subtask
 * order, goes to new subtask i mod parallelism (Flink's even-split redistribution); every
 * element of a union list goes to every new subtask (Flink's union redistribution). */

typedef struct rn_opstate rn_opstate;

rn_opstate *rn_opstate_create(void);
void rn_opstate_destroy(rn_opstate *s);
int rn_opstate_append(rn_opstate *s, const char *list, const void *val, uint32_t len);
/* Appends to a union list: on restore every subtask gets all elements of every old subtask.
 * RN_EINVAL when list holds elements of the other kind. */
int rn_opstate_append_union(rn_opstate *s, const char *list, const void *val, uint32_t len);
/* Empties a list (appending starts it again). */
int rn_opstate_clear(rn_opstate *s, const char *list);
/* Calls fn for each element of list in order (none when the list does not exist). */
int rn_opstate_each(const rn_opstate *s, const char *list, int (*fn)(const void *val, uint32_t len, void *user),
                    void *user);
/* Writes every list into one file (atomically: temp file, fsync, rename), with a CRC32C. */
int rn_opstate_snapshot(const rn_opstate *s, const char *path, struct rn_error *err);
/* Builds subtask `index` of `parallelism` from the snapshot files of all old subtasks (in their
 * subtask order). A missing, truncated or corrupt file is RN_ECORRUPT/RN_EIO naming it. */
int rn_opstate_restore(const char *const *paths, size_t n_paths, uint32_t index, uint32_t parallelism,
                       rn_opstate **out, struct rn_error *err);

#ifdef __cplusplus
}
#endif
#endif
