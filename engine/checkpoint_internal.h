/*
 * checkpoint_internal.h — checkpoint storage for the runner (engine/checkpoint.c): one job's
 * checkpoint directory with its retained checkpoints and the reference counts of the shared
 * RocksDB files, writing a checkpoint's metadata, uploading a RocksDB snapshot incrementally,
 * reading a checkpoint back for a restore.
 */
#ifndef RN_CHECKPOINT_INTERNAL_H
#define RN_CHECKPOINT_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "runnel/checkpoint.h"
#include "runnel/job.h"

/* A file of a RocksDB snapshot in the shared folder. */
struct rn_ck_shared {
    char *name;                  /* inside the snapshot: db/<name> */
    char *path;                  /* relative to the job's checkpoint directory */
    uint64_t size;
};

/* A file in the checkpoint's own directory. */
struct rn_ck_file {
    char *path;                  /* relative to the checkpoint directory */
    uint64_t size;
};

/* One operator subtask's part of a checkpoint. */
struct rn_ck_part {
    char *node;
    uint32_t subtask, parallelism, kg_first, kg_last;
    char *keyed;                 /* keyed-state snapshot directory, relative; NULL: none */
    char *opstate;               /* operator-state file, relative; NULL: none */
    struct rn_ck_shared *shared;
    size_t n_shared;
    struct rn_ck_file *files;
    size_t n_files;
    bool finished;               /* the subtask had ended: a restore does not run it again */
};
void rn__ck_part_clear(struct rn_ck_part *p);
/* The bytes of state the parts refer to (private and shared files). */
uint64_t rn__ck_parts_bytes(const struct rn_ck_part *parts, size_t n);
/* Parts as a packed runnel.CheckpointMetadata holding only them (a task manager's
 * acknowledgement to the job manager); *out is the caller's. 0 or RN_ENOMEM. */
int rn__ck_parts_pack(const struct rn_ck_part *parts, size_t n, uint8_t **out, size_t *len);
/* Back, every part checked as in a metadata file (RN_ECORRUPT, err says what); *out (n parts)
 * is the caller's: rn__ck_part_clear each, free the array. */
int rn__ck_parts_unpack(const uint8_t *buf, size_t len, uint32_t max_parallelism, struct rn_ck_part **out, size_t *n,
                        struct rn_error *err);

/* A checkpoint read back. */
struct rn_ck_meta {
    int64_t id;
    bool savepoint, finished;
    int64_t time_ms;
    char *job_name;
    uint32_t max_parallelism;
    uint64_t bytes;
    char *dir;                   /* the checkpoint's directory */
    char *job_dir;               /* for shared paths: the directory they are relative to */
    struct rn_ck_part *parts;
    size_t n_parts;
};
void rn__ck_meta_free(struct rn_ck_meta *m);
/* Reads dir/_metadata and checks every file it names (existence and size). */
int rn__ck_meta_read(const char *dir, struct rn_ck_meta *out, struct rn_error *err);

/* A job's checkpoint directory while a run uses it (locked against a second run). */
struct rn_ck_store;
/* Opens (creating) root/<job name>: takes its lock, removes incomplete checkpoints and shared
 * files no retained checkpoint refers to, loads the reference counts. */
int rn__ck_store_open(const char *root, const char *job_name, uint32_t retain, FILE *log, struct rn_ck_store **out,
                      struct rn_error *err);
void rn__ck_store_close(struct rn_ck_store *s);
const char *rn__ck_store_dir(const struct rn_ck_store *s);
/* The highest checkpoint id found there (0 when none). */
int64_t rn__ck_store_max_id(const struct rn_ck_store *s);
/* Writes the metadata of a checkpoint whose parts are all in dir (atomically), then — for a
 * checkpoint, not a savepoint — retains it, counts its shared files and discards the oldest
 * checkpoints beyond `retain` (their directories, and shared files no longer referred to). */
int rn__ck_store_complete(struct rn_ck_store *s, const struct rn_job *job, int64_t id, bool savepoint, bool finished,
                          const char *dir, const struct rn_ck_part *parts, size_t n_parts, uint64_t bytes,
                          struct rn_error *err);
/* Removes the directory of a checkpoint that failed. */
void rn__ck_store_discard(struct rn_ck_store *s, const char *dir);
/* Deletes the shared files no retained checkpoint refers to (nothing may be uploading). */
void rn__ck_store_sweep(struct rn_ck_store *s);

/* Files a RocksDB subtask already has in the shared folder (its earlier checkpoints'), by
 * name: what an incremental checkpoint does not copy again. */
struct rn_ck_known {
    size_t n, cap;
    struct rn_ck_shared *v;
};
void rn__ck_known_free(struct rn_ck_known *k);
int rn__ck_known_add(struct rn_ck_known *k, const char *name, const char *path, uint64_t size);

/* Moves a local keyed-state snapshot (rn_state_snapshot's directory) into the checkpoint at
 * ck_dir/rel: memory snapshots and small files are copied; SST files go to the shared folder
 * (checkpoints; known = files already there, updated) or into the checkpoint itself
 * (savepoints, known NULL). Fills the part's keyed, shared and files; *written = bytes
 * copied. The local snapshot is removed. */
int rn__ck_upload_keyed(const char *job_dir, const char *ck_dir, const char *rel, const char *local,
                        const char *instance, struct rn_ck_known *known, struct rn_ck_part *part, uint64_t *written,
                        struct rn_error *err);
/* Records a file written straight into the checkpoint (operator state) with its size. */
int rn__ck_part_add_file(struct rn_ck_part *part, const char *ck_dir, const char *rel, struct rn_error *err);
/* The same for every file under ck_dir/rel (a memory backend's snapshot written in place). */
int rn__ck_part_add_tree(struct rn_ck_part *part, const char *ck_dir, const char *rel, struct rn_error *err);

/* Builds a directory rn_state_backend_restore can read for one part: the part's own keyed
 * directory when it has no shared files, else tmp (created) with links to (or copies of) its
 * private and shared files. *made tells whether tmp was made (remove it with rn__rm_rf). */
int rn__ck_materialize(const struct rn_ck_meta *m, const struct rn_ck_part *part, const char *tmp, char *out,
                       size_t out_len, bool *made, struct rn_error *err);

/* Small file helpers shared with the runner. */
int rn__mkdir_p(const char *dir);
void rn__rm_rf(const char *path);

#endif
