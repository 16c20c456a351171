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

struct rn_run_options {
    uint32_t channel_capacity;   /* elements per channel; 0 = 8 */
    FILE *log;                   /* operator logs and the summary; NULL = stderr */
};

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
/* Final state, and for RN_RUN_FAILED the message naming operator and subtask. */
enum rn_run_state rn_runner_state(const rn_runner *r, const char **error);
/* Rows in and out of a node, summed over its subtasks; seconds since start. */
void rn_runner_node_stats(const rn_runner *r, uint32_t node, uint64_t *rows_in, uint64_t *rows_out);
double rn_runner_elapsed(const rn_runner *r);
/* Operator counters (rn_op_metric) of a node summed over its subtasks: the i-th name and value;
 * false past the last. */
bool rn_runner_node_metric(const rn_runner *r, uint32_t node, uint32_t i, const char **name, uint64_t *value);
/* Number of tasks (threads) and of channels in the execution graph. */
uint32_t rn_runner_n_tasks(const rn_runner *r);
uint32_t rn_runner_n_channels(const rn_runner *r);
/* Joins the threads (cancelling first if still running) and frees everything. */
void rn_runner_destroy(rn_runner *r);

#ifdef __cplusplus
}
#endif
#endif
