/*
 * runnel/checkpoint.h — checkpoint and savepoint directories as users see them: reading a
 * checkpoint's metadata, resolving what `runnel run --restore PATH` names, listing a job's
 * checkpoints. The protocol itself (barriers, snapshots, commits) is the runner's
 * (runnel/runner.h); the layout is in docs/architecture.md "Checkpoints":
 *
 *     <dir>/<job>/chk-<n>/_metadata        a completed checkpoint (written last, atomically)
 *     <dir>/<job>/chk-<n>/<node>-<s>/...   what operator subtask s wrote for it
 *     <dir>/<job>/shared/...               RocksDB files that several checkpoints refer to
 *     <dir>/<job>/savepoints/savepoint-<n>-<time>/   savepoints: self-contained, never deleted
 */
#ifndef RUNNEL_CHECKPOINT_H
#define RUNNEL_CHECKPOINT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "runnel/error.h"

#ifdef __cplusplus
extern "C" {
#endif

struct rn_checkpoint_info {
    int64_t id;
    bool savepoint;
    bool finished;               /* the final checkpoint of a job that ended */
    int64_t time_ms;             /* when it completed */
    char job_name[256];
    uint32_t n_states;           /* operator subtask states in it */
    uint64_t bytes;              /* bytes of state it refers to */
};

/* Reads and checks the checkpoint or savepoint in dir: its metadata (framing, checksum,
 * decoding) and that every file it refers to is there with its size. RN_ENOTFOUND when dir has
 * no _metadata (an incomplete checkpoint), RN_ECORRUPT naming the bad or missing file. */
int rn_checkpoint_read_info(const char *dir, struct rn_checkpoint_info *out, struct rn_error *err);

/* What `--restore PATH` names: a checkpoint or savepoint directory (it must be valid), or a
 * job's checkpoint directory (<dir>/<job>: its latest valid checkpoint, skipping — and saying so
 * on log — the ones that are incomplete or corrupt). The chosen directory goes to out. */
int rn_checkpoint_resolve(const char *path, char *out, size_t out_len, FILE *log, struct rn_error *err);

/* Prints one line per checkpoint and savepoint under a job's checkpoint directory (id, state,
 * time, size, path), newest last; returns how many are valid. */
int rn_checkpoint_list(const char *job_dir, FILE *out, struct rn_error *err);

#ifdef __cplusplus
}
#endif
#endif
