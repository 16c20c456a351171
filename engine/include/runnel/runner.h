/*
 * runnel/runner.h — runs a planned job on threads of this process: the engine under
 * `runnel run` (the embedded mini-cluster) and under the runtime tests.
 *
 * The job is expanded into an execution graph: each node into `parallelism` subtasks; nodes
 * joined by a forward edge of equal parallelism, where the upstream node has no other consumer,
 * are chained into one task (a chain runs on one thread, batches passed by function call);
 * other edges become bounded channels partitioned by key group (key_by), round robin
 * (rebalance), to all (broadcast) or subtask to subtask (forward). Each task is one thread with
 * a mailbox loop. A full channel blocks its producer, so memory stays bounded.
 */
#ifndef RUNNEL_RUNNER_H
#define RUNNEL_RUNNER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "runnel/job.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rn_runner rn_runner;

struct rn_channel;
struct rn_mailbox;

/* Distributed execution (runtime/tm.c): which tasks of the execution graph run in this process,
 * and the network channels to and from the tasks that run elsewhere. Every process builds the
 * same graph from the same job, so a task is named by (chain, subtask) and a channel by its
 * index, both the same everywhere (rn_runner_plan gives the chains). */
struct rn_run_placement {
    void *user;
    /* Whether task (chain, subtask) runs here. */
    bool (*local)(void *user, uint32_t chain, uint32_t subtask);
    /* The sending end of channel `index` from a task here to consumer task (chain, subtask)
     * elsewhere; NULL with err on failure. The runner destroys it (its ops). */
    struct rn_channel *(*out)(void *user, uint32_t index, uint32_t chain, uint32_t subtask, struct rn_error *err);
    /* The receiving end of channel `index` from a producer elsewhere to a task here: elements
     * of schema, capacity queued, announced on consumer. */
    struct rn_channel *(*in)(void *user, uint32_t index, const rn_schema *schema, uint32_t capacity,
                             struct rn_mailbox *consumer, struct rn_error *err);
};

/* Checkpoints coordinated by another process (the job manager; runtime/tm.c): the runner
 * takes no checkpoint on its own; rn_runner_remote_trigger starts one on this process's tasks,
 * ack reports their parts, and rn_runner_remote_complete / _abort end it. Callbacks run on the
 * runner's threads and must not call back into the runner. */
struct rn_run_coordinator {
    void *user;
    /* This process's tasks wrote their parts of checkpoint id: parts is a packed
     * runnel.CheckpointMetadata holding only them (runtime/proto/checkpoint.proto), written the
     * bytes they wrote, sync_ms their longest synchronous pause. error set: they could not
     * (a decline); parts NULL then. */
    void (*ack)(void *user, int64_t id, const void *parts, size_t len, uint64_t written, double sync_ms,
                const char *error);
    /* Every task here ended its input: they wait for the job's final checkpoint. */
    void (*ended)(void *user);
};

struct rn_run_options {
    uint32_t channel_capacity;   /* elements per channel; 0 = 8 */
    FILE *log;                   /* operator logs and the summary; NULL = stderr */
    /* A checkpoint or savepoint directory (one holding _metadata; rn_checkpoint_resolve turns
     * what a user names into one) to start from; NULL: a fresh start. */
    const char *restore;
    /* NULL: every task runs here (runnel run). Otherwise only the local ones. */
    const struct rn_run_placement *placement;
    /* NULL: a job's checkpoints are coordinated here. Set (with placement): by the caller. */
    const struct rn_run_coordinator *coordinator;
    /* Operator log lines (rn_op_log) go here instead of `log` when set, with the task they come
     * from ("window/2": node id and subtask from 1), e.g. into a structured log. Called on
     * task threads. */
    void (*op_log)(void *user, const char *task, const char *msg);
    void *op_log_user;
};

/* The execution graph's chains: the number of chains, and per node its chain (chain_of, n_nodes
 * entries) and per chain its parallelism (chain_parallelism, n_nodes entries at most). The same
 * as rn_runner_create builds. */
uint32_t rn_runner_plan(const struct rn_job *job, uint32_t *chain_of, uint32_t *chain_parallelism);

enum rn_run_state { RN_RUN_CREATED, RN_RUN_RUNNING, RN_RUN_FINISHED, RN_RUN_FAILED, RN_RUN_CANCELLED };

/* Builds the execution graph of job (which must outlive the runner). NULL with err when the
 * graph cannot be built (a key_by that does not compile for its producer, no memory). */
rn_runner *rn_runner_create(const struct rn_job *job, const struct rn_run_options *opts, struct rn_error *err);
/* Starts every task's thread. */
int rn_runner_start(rn_runner *r, struct rn_error *err);
/* Waits up to timeout_ms (< 0: forever) for the job to end; true when it has. */
bool rn_runner_wait(rn_runner *r, int timeout_ms);
/* Asks the job to stop (thread-safe; sources stop, blocked tasks wake up). */
void rn_runner_cancel(rn_runner *r);
/* Final state, and for RN_RUN_FAILED the message naming operator and subtask. A job stopped by
 * a stop-with-savepoint (rn_runner_trigger with stop) ends RN_RUN_CANCELLED. */
enum rn_run_state rn_runner_state(const rn_runner *r, const char **error);
/* Rows in and out of a node, summed over its subtasks; seconds since start. */
void rn_runner_node_stats(const rn_runner *r, uint32_t node, uint64_t *rows_in, uint64_t *rows_out);
double rn_runner_elapsed(const rn_runner *r);
/* Milliseconds the node's subtasks here spent sending to their consumers, summed (time blocked
 * on full channels: its back-pressure; per second of wall time, the back-pressured ratio). */
uint64_t rn_runner_node_out_wait_ms(const rn_runner *r, uint32_t node);
/* Operator counters (rn_op_metric) of a node summed over its subtasks: the i-th name and value;
 * false past the last. */
bool rn_runner_node_metric(const rn_runner *r, uint32_t node, uint32_t i, const char **name, uint64_t *value);
/* Number of tasks (threads) and of channels in the execution graph. */
uint32_t rn_runner_n_tasks(const rn_runner *r);
/* Those of them that run in this process (all of them unless a placement says otherwise). */
uint32_t rn_runner_n_local_tasks(const rn_runner *r);
uint32_t rn_runner_n_channels(const rn_runner *r);
/* ---- checkpoints (jobs with a `checkpoint:` block; runnel/checkpoint.h for storage) ---- */

struct rn_checkpoint_stats {
    uint64_t completed, failed;      /* since start (savepoints included) */
    int64_t last_id;                 /* the latest completed, -1 none */
    char last_path[1024];            /* its directory */
    double last_duration_ms;         /* trigger to metadata written */
    double last_sync_pause_ms;       /* the longest synchronous part of a task in it */
    uint64_t last_bytes;             /* bytes it wrote (incremental: new files only) */
    uint64_t last_full_bytes;        /* bytes of state it refers to (shared files included) */
    int64_t restored_id;             /* the checkpoint this run started from, -1 none */
    char last_error[512];            /* why the latest failed one failed */
};
void rn_runner_checkpoint_stats(rn_runner *r, struct rn_checkpoint_stats *out);
/* Triggers a checkpoint now (savepoint: into dir, NULL = the job's savepoint directory; stop:
 * the job is cancelled once the savepoint completed, and its sinks commit what it covers).
 * Returns its id in *id; RN_EAGAIN while another one is in flight (try again), RN_EINVAL when
 * the job has no checkpoint block or has begun to finish. */
int rn_runner_trigger(rn_runner *r, bool savepoint, const char *dir, bool stop, int64_t *id, struct rn_error *err);
/* Waits up to timeout_ms for checkpoint id to complete (0, its directory in path) or fail (err
 * says why). */
int rn_runner_wait_checkpoint(rn_runner *r, int64_t id, int timeout_ms, char *path, size_t path_len, struct rn_error *err);

/* With a coordinator: starts checkpoint id (savepoint, stop, final: as rn_runner_trigger and the
 * final checkpoint) writing into dir. A checkpoint still in flight here is given up. */
int rn_runner_remote_trigger(rn_runner *r, int64_t id, bool savepoint, bool stop, bool final, const char *dir,
                             struct rn_error *err);
/* Checkpoint id completed (its metadata is written): the tasks commit. */
void rn_runner_remote_complete(rn_runner *r, int64_t id);
/* Checkpoint id was given up. */
void rn_runner_remote_abort(rn_runner *r, int64_t id, const char *why);

/* Joins the threads (cancelling first if still running) and frees everything. */
void rn_runner_destroy(rn_runner *r);

#ifdef __cplusplus
}
#endif
#endif
