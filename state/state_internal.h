/*
 * state_internal.h — what the keyed-state backends implement (state/memory.c, state/rocksdb.c)
 * behind the public API of runnel/state.h, which state/state.c dispatches. Each backend embeds
 * struct rn_state_backend / struct rn_state at the start of its own structs.
 */
#ifndef RN_STATE_INTERNAL_H
#define RN_STATE_INTERNAL_H

#include "runnel/state.h"

struct rn_backend_ops {
    const char *name;   /* "memory", "rocksdb": also written into snapshots */
    int (*open)(const struct rn_state_config *cfg, rn_state_backend **out, struct rn_error *err);
    int (*restore)(const struct rn_state_config *cfg, const char *const *dirs, size_t n_dirs, rn_state_backend **out,
                   struct rn_error *err);
    void (*close)(rn_state_backend *b);
    int (*declare)(rn_state_backend *b, const struct rn_state_desc *d, rn_state **out, struct rn_error *err);
    int (*get)(rn_state *s, const struct rn_state_key *k, int64_t ns, const void **val, uint32_t *len);
    int (*put)(rn_state *s, const struct rn_state_key *k, int64_t ns, const void *val, uint32_t len);
    int (*remove)(rn_state *s, const struct rn_state_key *k, int64_t ns);
    int (*add)(rn_state *s, const struct rn_state_key *k, int64_t ns, const void *val);
    int (*get_many)(rn_state *s, const struct rn_state_key *keys, const int64_t *ns, uint32_t n, const void **vals,
                    uint32_t *lens);
    int (*add_many)(rn_state *s, const struct rn_state_key *keys, const int64_t *ns, uint32_t n, const void *vals);
    int (*list_append)(rn_state *s, const struct rn_state_key *k, int64_t ns, const void *val, uint32_t len);
    int (*list_each)(rn_state *s, const struct rn_state_key *k, int64_t ns,
                     int (*fn)(const void *val, uint32_t len, void *user), void *user);
    int (*map_put)(rn_state *s, const struct rn_state_key *k, int64_t ns, const void *mkey, uint32_t mlen,
                   const void *val, uint32_t len);
    int (*map_get)(rn_state *s, const struct rn_state_key *k, int64_t ns, const void *mkey, uint32_t mlen,
                   const void **val, uint32_t *len);
    int (*map_remove)(rn_state *s, const struct rn_state_key *k, int64_t ns, const void *mkey, uint32_t mlen);
    int (*map_each)(rn_state *s, const struct rn_state_key *k, int64_t ns,
                    int (*fn)(const void *mkey, uint32_t mlen, const void *val, uint32_t len, void *user), void *user);
    int (*each)(rn_state *s, uint32_t kg_first, uint32_t kg_last, int (*fn)(const struct rn_state_entry *e, void *user),
                void *user);
    int (*each_in_namespace)(rn_state *s, int64_t ns, int (*fn)(const struct rn_state_entry *e, void *user), void *user);
    int (*snapshot)(rn_state_backend *b, const char *dir, struct rn_error *err);
    /* two-step snapshots (NULL: snapshot_begin is snapshot, and poll has nothing to do) */
    int (*snapshot_begin)(rn_state_backend *b, const char *dir, struct rn_error *err);
    int (*snapshot_poll)(rn_state_backend *b, bool wait, struct rn_error *err);
    uint64_t (*entries)(const rn_state_backend *b);
    uint64_t (*memory)(const rn_state_backend *b);
};

/* The common head of every backend instance. */
struct rn_state_backend {
    const struct rn_backend_ops *ops;
    struct rn_state_config cfg;   /* cfg.dir is a private copy (or NULL) */
    int64_t (*clock)(void);       /* never NULL */
};

/* The common head of every declared state. */
struct rn_state {
    rn_state_backend *backend;
    struct rn_state_desc desc;    /* desc.name is a private copy */
    uint32_t id;                  /* 0, 1, ... in declaration order within the backend */
};

extern const struct rn_backend_ops rn_memory_backend_ops, rn_rocksdb_backend_ops;

/* Checks a config (and that a key group range fits max_parallelism); fills b's head. */
int rn__state_init_head(rn_state_backend *b, const struct rn_backend_ops *ops, const struct rn_state_config *cfg,
                        struct rn_error *err);
void rn__state_free_head(rn_state_backend *b);
/* Checks a declaration against the state kinds' rules, and against an earlier declaration of
 * the same name (prev may be NULL). */
int rn__state_check_desc(const struct rn_state_desc *d, const struct rn_state *prev, struct rn_error *err);

/* The snapshot manifest every backend writes into its snapshot directory: a text file
 * "RUNNEL-STATE" with "backend <name>\nmax_parallelism <n>\nkey_groups <first> <last>\n" then
 * backend-specific lines, written atomically (temp file, fsync, rename). */
int rn__state_write_manifest(const char *dir, const char *backend, const struct rn_state_config *cfg,
                             const char *extra, struct rn_error *err);
/* Reads a manifest: checks backend name and max_parallelism, returns the key-group range and the
 * extra lines (malloc'd; the caller frees). */
int rn__state_read_manifest(const char *dir, const char *backend, uint32_t max_parallelism, uint32_t *kg_first,
                            uint32_t *kg_last, char **extra, struct rn_error *err);

#endif
