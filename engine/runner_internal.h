/*
 * runner_internal.h — the runner's execution graph (operator contexts, tasks, chains, edges),
 * shared by engine/runner.c (graph, task loop, routing, watermarks) and engine/runner_ckpt.c
 * (the checkpoint protocol: coordinator, barriers and alignment, snapshots, uploads, restore).
 */
#ifndef RN_RUNNER_INTERNAL_H
#define RN_RUNNER_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

#include "channel.h"
#include "checkpoint_internal.h"
#include "timers.h"
#include "runnel/runner.h"

struct task;

struct rn_op_ctx {
    struct task *task;
    uint32_t pos;                 /* in the chain */
    uint32_t node_index;
    const struct rn_job_node *node;
    const struct rn_operator_def *def;
    void *state;
    bool opened;
    _Atomic uint64_t rows_in, rows_out;
    int64_t watermark;
    char error[512];
    /* source watermark generation */
    int wm_column;
    int64_t max_ts;
    /* sources with splits (rn_op_emit_split): each split's own watermark */
    struct split *splits;
    uint32_t n_splits;
    /* keyed operators: rn_op_keys's scratch, the state backend the host owns, timers */
    struct op_keys *keys;
    rn_state_backend *kstate;
    struct rn_timers *timers;
    char state_dir[1024];
    /* checkpoints: SST files of this subtask already in the shared folder (uploader thread
     * only), the name prefix of the ones it adds; restore: the keyed-state snapshots to open
     * rn_op_state from (materialized), the operator-state reader */
    struct rn_ck_known known;
    char instance[40];
    char **restore_dirs;
    uint32_t n_restore_dirs;
    char **restore_tmp;           /* materialized copies to remove once opened */
    uint32_t n_restore_tmp;
    struct rn_snapshot_reader *reader;
    bool finished_on_restore;     /* its subtask had ended in the checkpoint restored from */
    /* operator counters */
    uint32_t n_metrics;
    char metric_names[RN_OP_MAX_METRICS][32];
    _Atomic uint64_t metrics[RN_OP_MAX_METRICS];
};

struct split {
    int64_t max_ts;               /* INT64_MIN until its first row */
    int64_t last_ms;              /* processing time of its last batch (or of its declaration) */
    bool finished;
};

struct op_keys {
    uint32_t n_inputs;
    rn_expr **expr;               /* key_by compiled per input, on first use */
    struct rn_column col;         /* the last evaluated key column */
    uint64_t *hashes;
    struct rn_state_key *keys, *group_keys;
    uint32_t *group, *first_row, *last_row;
    uint64_t *group_val;          /* 8-byte keys without nulls: each distinct key's value */
    int32_t *table;               /* open addressing over distinct keys: group, or -1 */
    uint32_t cap, table_cap, n_groups;
    uint8_t *bytes;
    size_t bytes_cap;
};

struct out_edge {
    uint32_t port;                /* the output of the task's last operator it carries: 0 main, k side */
    enum rn_partition part;
    uint32_t n_targets;
    struct rn_channel **targets;
    rn_expr *key;                 /* hash edges */
    uint32_t max_parallelism;
    uint32_t rr;
    uint64_t *hashes;             /* scratch, RN_BATCH_ROWS or more */
    uint32_t **sel, *sel_n, sel_cap;
    uint16_t *target_of;          /* hash edges: key group -> target subtask */
};

struct in_chan {
    struct rn_channel *ch;
    uint32_t port;
    int64_t watermark;
    bool eoi;
    bool idle;                    /* the producer said it has no data for now */
    bool barrier;                 /* delivered the barrier being aligned */
    bool blocked;                 /* exactly-once alignment: not read until the others deliver it */
};

struct task {
    struct rn_runner *run;
    uint32_t chain, subtask, parallelism;
    uint32_t n_ops;
    struct rn_op_ctx *ops;
    uint32_t n_in, n_eoi;
    struct in_chan *ins;
    uint32_t n_out;
    struct out_edge *outs;
    struct rn_mailbox mb;
    pthread_t thread;
    bool started;
    bool local;                   /* runs in this process (always, unless placement says otherwise) */
    _Atomic uint64_t out_wait_ns; /* time spent sending (blocked on full channels: back-pressure) */
    char send_error[256];         /* why a network output broke (its peer), for the failure message */
    int64_t watermark;
    int failed_pos;               /* the operator whose callback failed first, or -1 */
    /* sources with a watermark idle_timeout */
    int64_t last_data_ms;         /* processing time of the last batch emitted */
    bool idle;                    /* RN_EL_IDLE sent, no batch since */
    /* checkpoints */
    _Atomic int64_t trigger;      /* sources: checkpoint to take at the next poll (0 none) */
    int64_t align_id;             /* the barrier being aligned (0 none) */
    int64_t done_id;              /* the latest barrier snapshotted (or given up) */
    _Atomic int64_t notified;     /* the latest checkpoint_complete delivered */
    struct upload *held;          /* a snapshot whose RocksDB cuts are not written yet */
    _Atomic bool finished;        /* its input ended: it only takes part in checkpoints now */
    double held_check_ms;         /* when to look at them next */
};

struct chain {
    uint32_t n_nodes;
    uint32_t *nodes;              /* node indexes, upstream first */
    uint32_t parallelism;
    struct task *tasks;
};

struct rn_runner {
    const struct rn_job *job;
    struct rn_run_options opts;
    uint32_t n_chains;
    struct chain *chains;
    uint32_t *chain_of, *pos_of; /* per node */
    uint32_t n_channels, cap_channels;
    struct rn_channel **channels;  /* every channel this process holds an end of */
    uint32_t n_edges;             /* channels of the whole graph (numbering network channels) */
    uint32_t n_local;             /* tasks run here: those that take part in checkpoints here */
    _Atomic bool cancelled;
    _Atomic bool stopped;         /* a stop-with-savepoint completed: the job ends as cancelled */
    _Atomic int state;
    pthread_mutex_t mu;           /* guards error, done, state changes */
    pthread_cond_t done_cv;
    uint32_t running;             /* tasks not finished */
    char error[1024];
    pthread_mutex_t stdout_mu;
    struct timespec start, end;
    bool ended;
    char state_subdir[128];       /* runnel-<pid>-<n>: this run's keyed-state working copies */
    struct ckpt *ck;              /* checkpoints and restore (runner_ckpt.c); NULL when neither */
};

struct rn_snapshot_writer {
    rn_opstate *os;
    int64_t id;
    bool savepoint;
};

struct rn_snapshot_reader {
    rn_opstate *os;
    int64_t id;
    uint32_t old_parallelism;
};

/* runner.c, for runner_ckpt.c */
int rn__broadcast_el(struct task *t, enum rn_el_kind kind, int64_t value);
void rn__fail_job(struct rn_runner *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int rn__op_failed(struct task *t, uint32_t pos, int rc);

/* runner_ckpt.c, for runner.c */
int rn__ck_create(struct rn_runner *r, struct rn_error *err);      /* in rn_runner_create */
int rn__ck_start(struct rn_runner *r, struct rn_error *err);       /* in rn_runner_start */
void rn__ck_stop(struct rn_runner *r);                             /* joins its threads */
void rn__ck_destroy(struct rn_runner *r);
bool rn__ck_enabled(const struct rn_runner *r);
bool rn__ck_exactly_once(const struct rn_runner *r);
/* The run only commits what a finished job's final checkpoint left (restored from one). */
bool rn__ck_commit_only(const struct rn_runner *r);
/* Task loop hooks: a source's pending trigger and the latest completion to deliver. */
int rn__ck_poll(struct task *t);
/* A barrier's inputs are all in (or ended): snapshot the chain, forward the barrier. */
int rn__ck_barrier(struct task *t, int64_t id);
/* The task loop's wait deadline (CLOCK_REALTIME ms): sooner while a snapshot is held. */
int64_t rn__ck_wait_deadline(const struct task *t, int64_t deadline);
/* Before the task closes its operators: drops a held snapshot. */
void rn__ck_task_end(struct task *t);
/* A task restored from a checkpoint in which it had ended: it is not run again. */
bool rn__ck_finished_on_restore(const struct task *t);
/* After end of input (or restored ended): the task takes part in checkpoints until every task
 * has ended, then in the final one, waits for it and delivers its completion. */
int rn__ck_final(struct task *t);
/* Before open(): where the operator's keyed state comes from; after open(): timers back and
 * restore() called. */
int rn__ck_prepare_restore(struct rn_op_ctx *ctx);
int rn__ck_after_open(struct rn_op_ctx *ctx);
void rn__ck_op_cleanup(struct rn_op_ctx *ctx);

#endif
