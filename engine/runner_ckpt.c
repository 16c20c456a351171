/*
 * runner_ckpt.c — the checkpoint protocol of the runner (design.md section 9): the coordinator
 * thread that triggers checkpoint n at the sources every interval, the task side (a source
 * snapshots its chain and emits barrier n in order with its data; a task with inputs aligns
 * barrier n — runner.c — then snapshots and forwards it), the uploader thread that copies what
 * the synchronous part left locally into checkpoint storage while processing goes on and then
 * acknowledges, completion (metadata written atomically, then checkpoint_complete on every
 * task), timeouts and failures (a failed checkpoint is discarded; the job goes on), savepoints
 * (also stop-with-savepoint), the final checkpoint of a bounded job, and restore (keyed state
 * redistributed by key group, operator state by list, timers put back).
 *
 * Locking: ck->mu guards the coordinator's state (pending checkpoint, ids, results, the upload
 * queue). Task threads take it only briefly; nothing takes the runner's mutex while holding it
 * except rn__fail_job for a failed final checkpoint, which never takes ck->mu.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runner_internal.h"

#define N_RESULTS 16

struct upload_op {
    struct rn_op_ctx *ctx;
    char *local;                  /* a RocksDB snapshot to upload (NULL none) */
    bool keyed_in_place;          /* a memory snapshot written into the checkpoint already */
    bool cut;                     /* local is a RocksDB cut not written yet (rn_state_snapshot_poll) */
    bool opstate;                 /* an operator-state file written into the checkpoint */
};

struct upload {
    struct upload *next;
    struct task *t;
    int64_t id;
    bool savepoint;
    bool finished;                /* the task had ended when it took it */
    char *dir;                    /* the checkpoint's directory */
    double sync_ms;
    char error[600];              /* the synchronous part failed: decline */
    uint32_t n;
    struct upload_op ops[];
};

struct pending {
    int64_t id;
    bool savepoint, stop, final;
    bool acked;                   /* remote: this process's parts went to the coordinator */
    char *dir;
    int64_t start_ms;
    uint32_t acks;
    struct rn_ck_part *parts;
    size_t n_parts, cap_parts;
    double max_sync_ms;
    uint64_t written;
};

struct result {
    int64_t id;
    int rc;
    char msg[512];
    char path[1024];
};

struct ckpt {
    const struct rn_checkpoint_spec *spec;
    bool enabled;                 /* takes checkpoints (not only restores) */
    const struct rn_run_coordinator *remote;  /* coordinated by another process (no store here) */
    struct rn_ck_store *store;
    char *job_dir;                /* the job's checkpoint directory (the store's) */
    bool ended_told;              /* remote: every task here ended, and the coordinator knows */
    char *savepoint_root;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t coord, uploader;
    bool coord_on, uploader_on, quit;
    int64_t last_id;              /* ids handed out */
    struct pending *pend;         /* the checkpoint in flight (one at a time) */
    bool finishing;               /* every task ended: only the final checkpoint follows */
    uint32_t n_finished;          /* tasks that ended */
    int64_t final_id;
    _Atomic int64_t notify_id;    /* the latest completed checkpoint tasks are told about */
    int64_t stop_id;              /* a stop-with-savepoint completed: the job ends */
    int64_t stop_deadline_ms;
    int64_t next_trigger_ms;
    struct rn_checkpoint_stats stats;
    struct result results[N_RESULTS];
    uint32_t n_results;
    struct upload *qh, *qt;
    /* restore */
    bool restoring, commit_only, same_store;
    struct rn_ck_meta meta;
};

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static double mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static FILE *log_of(const struct rn_runner *r) { return r->opts.log ? r->opts.log : stderr; }

#define EACH_TASK(r, t)                                                     \
    for (uint32_t c_ = 0; c_ < (r)->n_chains; c_++)                         \
        for (uint32_t s_ = 0; s_ < (r)->chains[c_].parallelism; s_++)       \
            for (struct task *t = &(r)->chains[c_].tasks[s_]; t; t = NULL)

/* ---- the ABI's snapshot writer and reader ---- */

int64_t rn_snapshot_id(const struct rn_snapshot_writer *w) { return w->id; }
bool rn_snapshot_is_savepoint(const struct rn_snapshot_writer *w) { return w->savepoint; }
int rn_snapshot_append(struct rn_snapshot_writer *w, const char *list, const void *val, uint32_t len)
{
    return rn_opstate_append(w->os, list, val, len);
}
int rn_snapshot_append_union(struct rn_snapshot_writer *w, const char *list, const void *val, uint32_t len)
{
    return rn_opstate_append_union(w->os, list, val, len);
}
int64_t rn_restore_id(const struct rn_snapshot_reader *r) { return r->id; }
uint32_t rn_restore_old_parallelism(const struct rn_snapshot_reader *r) { return r->old_parallelism; }
int rn_restore_each(struct rn_snapshot_reader *r, const char *list, int (*fn)(const void *val, uint32_t len, void *user),
                    void *user)
{
    return r->os ? rn_opstate_each(r->os, list, fn, user) : 0;
}
bool rn_op_checkpointing(const struct rn_op_ctx *ctx) { return rn__ck_enabled(ctx->task->run); }

bool rn__ck_enabled(const struct rn_runner *r) { return r->ck && r->ck->enabled; }
bool rn__ck_exactly_once(const struct rn_runner *r)
{
    return r->ck && r->ck->spec->mode == RN_CHECKPOINT_EXACTLY_ONCE;
}
bool rn__ck_commit_only(const struct rn_runner *r) { return r->ck && r->ck->commit_only; }

/* ---- coordinator state (ck->mu held) ---- */

static void add_result(struct ckpt *ck, int64_t id, int rc, const char *msg, const char *path)
{
    struct result *res = &ck->results[ck->n_results++ % N_RESULTS];
    res->id = id;
    res->rc = rc;
    snprintf(res->msg, sizeof res->msg, "%s", msg ? msg : "");
    snprintf(res->path, sizeof res->path, "%s", path ? path : "");
    pthread_cond_broadcast(&ck->cv);
}

static void pending_free(struct pending *p)
{
    if (!p) return;
    for (size_t i = 0; i < p->n_parts; i++) rn__ck_part_clear(&p->parts[i]);
    free(p->parts);
    free(p->dir);
    free(p);
}

static int64_t trigger_gap(const struct ckpt *ck)
{
    return ck->spec->min_pause > ck->spec->interval ? ck->spec->min_pause : ck->spec->interval;
}

/* Gives up the checkpoint in flight: its files go, the job goes on (a final one fails the job:
 * it restarts from the latest completed checkpoint). quiet: not a failure worth a log line. */
static void abort_pending(struct rn_runner *r, const char *why, bool quiet)
{
    struct ckpt *ck = r->ck;
    struct pending *p = ck->pend;
    if (!p) return;
    ck->pend = NULL;
    if (ck->remote) {
        /* the coordinator removes its directory; a failure here is a decline */
        if (!quiet && !p->acked) ck->remote->ack(ck->remote->user, p->id, NULL, 0, 0, 0, why);
    } else {
        rn__ck_store_discard(ck->store, p->dir);
    }
    if (!quiet) {
        ck->stats.failed++;
        snprintf(ck->stats.last_error, sizeof ck->stats.last_error, "%s", why);
        fprintf(log_of(r), "runnel: %s %" PRId64 " failed: %s\n", p->savepoint ? "savepoint" : "checkpoint", p->id, why);
    }
    add_result(ck, p->id, RN_EIO, why, NULL);
    ck->next_trigger_ms = wall_ms() + trigger_gap(ck);
    bool final = p->final;
    int64_t id = p->id;
    pending_free(p);
    if (final) rn__fail_job(r, "the final checkpoint %" PRId64 " failed: %s", id, why);
}

static void ring_all(struct rn_runner *r)
{
    EACH_TASK(r, t) rn_mailbox_ring(&t->mb);
}

/* Begins checkpoint id in directory d (taken over): the pending state, and (unless final) the
 * trigger at every source and ended task here. */
static int begin_pending(struct rn_runner *r, int64_t id, char *d, bool savepoint, bool stop, bool final,
                         struct rn_error *err)
{
    struct ckpt *ck = r->ck;
    struct pending *p = calloc(1, sizeof *p);
    if (!p) {
        free(d);
        return rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory");
    }
    if (rn__mkdir_p(d)) {
        int e = errno;
        int rc = rn_error_set(err, RN_EIO, 0, 0, "cannot create %s: %s", d, strerror(e));
        free(d);
        free(p);
        return rc;
    }
    if (id > ck->last_id) ck->last_id = id;
    p->id = id;
    p->savepoint = savepoint;
    p->stop = stop;
    p->final = final;
    p->dir = d;
    p->start_ms = wall_ms();
    ck->pend = p;
    if (!final)
        EACH_TASK(r, t) if (t->local && (t->n_in == 0 || atomic_load(&t->finished))) {
            atomic_store(&t->trigger, id);
            rn_mailbox_ring(&t->mb);
        }
    return 0;
}

/* Starts the next checkpoint: its directory, then begin_pending. */
static int start_pending(struct rn_runner *r, bool savepoint, const char *dir, bool stop, bool final,
                         struct rn_error *err)
{
    struct ckpt *ck = r->ck;
    int64_t id = ck->last_id + 1;
    char *d = NULL;
    int n;
    if (!savepoint) n = asprintf(&d, "%s/chk-%" PRId64, ck->job_dir, id);
    else if (dir) n = asprintf(&d, "%s", dir);
    else n = asprintf(&d, "%s/savepoint-%" PRId64 "-%" PRId64, ck->savepoint_root, id, wall_ms());
    if (n < 0) return rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory");
    struct stat st;
    if (savepoint && !stat(d, &st)) {
        int rc = rn_error_set(err, RN_EINVAL, 0, 0, "savepoint directory %s exists already", d);
        free(d);
        return rc;
    }
    return begin_pending(r, id, d, savepoint, stop, final, err);
}

/* After checkpoint p completed (on the uploader thread, so nothing else uploads now): what each
 * operator subtask has in the shared folder is exactly what p refers to, and files that failed
 * checkpoints uploaded, which no retained checkpoint refers to, go. */
static void forget_unreferenced(struct rn_runner *r, const struct pending *p)
{
    EACH_TASK(r, t) for (uint32_t o = 0; o < t->n_ops && t->local; o++) {
        struct rn_op_ctx *ctx = &t->ops[o];
        rn__ck_known_free(&ctx->known);
        for (size_t i = 0; i < p->n_parts; i++) {
            const struct rn_ck_part *part = &p->parts[i];
            if (part->subtask != t->subtask || strcmp(part->node, ctx->node->id)) continue;
            for (size_t k = 0; k < part->n_shared; k++)
                if (rn__ck_known_add(&ctx->known, part->shared[k].name, part->shared[k].path, part->shared[k].size)) {
                    rn__ck_known_free(&ctx->known);   /* forgetting only costs a copy */
                    break;
                }
        }
    }
    if (r->ck->store) rn__ck_store_sweep(r->ck->store);
}

static void completed(struct rn_runner *r, uint64_t bytes);

/* Every task acknowledged: the metadata, then the tasks are told. */
static void complete_pending(struct rn_runner *r)
{
    struct ckpt *ck = r->ck;
    struct pending *p = ck->pend;
    uint64_t bytes = rn__ck_parts_bytes(p->parts, p->n_parts);
    struct rn_error err;
    if (rn__ck_store_complete(ck->store, r->job, p->id, p->savepoint, p->final, p->dir, p->parts, p->n_parts, bytes, &err)) {
        abort_pending(r, err.msg, false);
        return;
    }
    completed(r, bytes);
}

/* Checkpoint ck->pend is complete (its metadata written, here or by the coordinator): stats, the
 * shared files each subtask has, and the tasks are told. */
static void completed(struct rn_runner *r, uint64_t bytes)
{
    struct ckpt *ck = r->ck;
    struct pending *p = ck->pend;
    ck->pend = NULL;
    double ms = (double)(wall_ms() - p->start_ms);
    struct rn_checkpoint_stats *s = &ck->stats;
    s->completed++;
    s->last_id = p->id;
    snprintf(s->last_path, sizeof s->last_path, "%s", p->dir);
    s->last_duration_ms = ms;
    s->last_sync_pause_ms = p->max_sync_ms;
    s->last_bytes = p->written;
    s->last_full_bytes = bytes;
    fprintf(log_of(r),
            "runnel: %s %" PRId64 " completed in %.0f ms (sync pause max %.2f ms, %.1f MB written, %.1f MB in all): %s\n",
            p->savepoint ? "savepoint" : p->final ? "final checkpoint" : "checkpoint", p->id, ms, p->max_sync_ms,
            (double)p->written / 1e6, (double)bytes / 1e6, p->dir);
    add_result(ck, p->id, 0, NULL, p->dir);
    ck->next_trigger_ms = wall_ms() + trigger_gap(ck);
    if (!p->savepoint) forget_unreferenced(r, p);
    /* savepoints do not commit side effects, except the one a stop ends with */
    if (!p->savepoint || p->stop) {
        atomic_store(&ck->notify_id, p->id);
        if (p->stop) {
            atomic_store(&r->stopped, true);
            ck->stop_id = p->id;
            ck->stop_deadline_ms = wall_ms() + 5000;
        }
        ring_all(r);
    }
    pending_free(p);
}

/* Every task here acknowledged a checkpoint another process coordinates: the parts go there. */
static void remote_acked(struct rn_runner *r)
{
    struct ckpt *ck = r->ck;
    struct pending *p = ck->pend;
    uint8_t *buf = NULL;
    size_t len = 0;
    if (rn__ck_parts_pack(p->parts, p->n_parts, &buf, &len)) {
        abort_pending(r, "out of memory", false);
        return;
    }
    p->acked = true;
    ck->remote->ack(ck->remote->user, p->id, buf, len, p->written, p->max_sync_ms, NULL);
    free(buf);
}

/* An acknowledgement (or a decline, when error is set) from the uploader. */
static void ack(struct rn_runner *r, struct upload *up, struct rn_ck_part *parts, size_t n, uint64_t written,
                const char *error)
{
    struct ckpt *ck = r->ck;
    pthread_mutex_lock(&ck->mu);
    struct pending *p = ck->pend;
    if (!p || p->id != up->id) {
        /* a checkpoint given up while this task was writing: what it wrote goes too */
        if (!ck->remote) rn__ck_store_discard(ck->store, up->dir);
    } else if (error) {
        abort_pending(r, error, false);
    } else {
        if (p->n_parts + n > p->cap_parts) {
            size_t cap = (p->n_parts + n) * 2;
            struct rn_ck_part *v = realloc(p->parts, cap * sizeof *v);
            if (!v) {
                abort_pending(r, "out of memory", false);
                goto out;
            }
            p->parts = v;
            p->cap_parts = cap;
        }
        for (size_t i = 0; i < n; i++) {
            p->parts[p->n_parts++] = parts[i];
            memset(&parts[i], 0, sizeof parts[i]);
        }
        if (up->sync_ms > p->max_sync_ms) p->max_sync_ms = up->sync_ms;
        p->written += written;
        if (++p->acks == r->n_local) {
            if (ck->remote) remote_acked(r);
            else complete_pending(r);
        }
    }
out:
    pthread_mutex_unlock(&ck->mu);
    for (size_t i = 0; i < n; i++) rn__ck_part_clear(&parts[i]);
}

/* ---- threads ---- */

static void *coordinator_main(void *arg)
{
    struct rn_runner *r = arg;
    struct ckpt *ck = r->ck;
    pthread_mutex_lock(&ck->mu);
    while (!ck->quit) {
        int64_t now = wall_ms();
        struct pending *p = ck->pend;
        if (p && !p->final && !ck->remote && now - p->start_ms >= ck->spec->timeout) {
            char why[128];
            snprintf(why, sizeof why, "not complete after %" PRId64 " ms (checkpoint timeout)", ck->spec->timeout);
            abort_pending(r, why, false);
        }
        if (!ck->remote && !ck->pend && !ck->finishing && !ck->stop_id && now >= ck->next_trigger_ms &&
            atomic_load(&r->state) == RN_RUN_RUNNING) {
            struct rn_error err;
            if (start_pending(r, false, NULL, false, false, &err)) {
                ck->stats.failed++;
                snprintf(ck->stats.last_error, sizeof ck->stats.last_error, "%s", err.msg);
                fprintf(log_of(r), "runnel: checkpoint %" PRId64 " failed: %s\n", ck->last_id + 1, err.msg);
                ck->next_trigger_ms = now + trigger_gap(ck);
            }
        }
        if (ck->stop_id) {
            /* stop-with-savepoint: once every task delivered its completion (or after a grace
             * period), the job is cancelled */
            bool all = true;
            EACH_TASK(r, t) all &= atomic_load(&t->notified) >= ck->stop_id || !t->started;
            if (all || now >= ck->stop_deadline_ms) {
                ck->stop_id = 0;
                pthread_mutex_unlock(&ck->mu);
                rn_runner_cancel(r);
                pthread_mutex_lock(&ck->mu);
                continue;
            }
        }
        int64_t wake = now + 50;
        if (!ck->pend && ck->next_trigger_ms < wake) wake = ck->next_trigger_ms > now ? ck->next_trigger_ms : now + 1;
        struct timespec ts = {(time_t)(wake / 1000), (long)(wake % 1000) * 1000000};
        pthread_cond_timedwait(&ck->cv, &ck->mu, &ts);
    }
    pthread_mutex_unlock(&ck->mu);
    return NULL;
}

static void upload_free(struct upload *up, bool remove_local)
{
    for (uint32_t i = 0; i < up->n; i++) {
        if (remove_local && up->ops[i].local) rn__rm_rf(up->ops[i].local);
        free(up->ops[i].local);
    }
    free(up->dir);
    free(up);
}

/* The key groups of a subtask (as rn_op_state_config assigns them). */
static void kg_range(uint32_t s, uint32_t p, uint32_t maxp, uint32_t *first, uint32_t *last)
{
    *first = (uint32_t)(((uint64_t)s * maxp + p - 1) / p);
    *last = (uint32_t)(((uint64_t)(s + 1) * maxp + p - 1) / p) - 1;
}

/* The asynchronous part of one task's snapshot. */
static void upload_one(struct rn_runner *r, struct upload *up)
{
    struct ckpt *ck = r->ck;
    struct rn_ck_part *parts = calloc(up->n ? up->n : 1, sizeof *parts);
    size_t n = 0;
    uint64_t written = 0;
    struct rn_error err = {0};
    int rc = parts ? 0 : rn_error_set(&err, RN_ENOMEM, 0, 0, "out of memory");
    for (uint32_t i = 0; !rc && !up->error[0] && i < up->n; i++) {
        struct upload_op *o = &up->ops[i];
        /* an ended task records even its stateless operators: a restore must not run them */
        if (!o->local && !o->keyed_in_place && !o->opstate && !up->finished) continue;
        struct rn_op_ctx *ctx = o->ctx;
        struct rn_ck_part *part = &parts[n++];
        char rel[600];
        snprintf(rel, sizeof rel, "%s-%u", ctx->node->id, up->t->subtask);
        part->node = strdup(ctx->node->id);
        part->finished = up->finished;
        part->subtask = up->t->subtask;
        part->parallelism = up->t->parallelism;
        kg_range(up->t->subtask, up->t->parallelism, r->job->max_parallelism, &part->kg_first, &part->kg_last);
        if (!part->node) rc = rn_error_set(&err, RN_ENOMEM, 0, 0, "out of memory");
        char krel[700];
        snprintf(krel, sizeof krel, "%s/keyed", rel);
        if (!rc && o->local) {
            rc = rn__ck_upload_keyed(ck->job_dir, up->dir, krel, o->local, ctx->instance,
                                     up->savepoint ? NULL : &ctx->known, part, &written, &err);
            free(o->local);
            o->local = NULL;
        } else if (!rc && o->keyed_in_place) {
            rc = rn__ck_part_add_tree(part, up->dir, krel, &err);
            for (size_t k = 0; !rc && k < part->n_files; k++) written += part->files[k].size;
            if (!rc && !(part->keyed = strdup(krel))) rc = rn_error_set(&err, RN_ENOMEM, 0, 0, "out of memory");
        }
        if (!rc && o->opstate) {
            char orel[700];
            snprintf(orel, sizeof orel, "%s/opstate", rel);
            rc = rn__ck_part_add_file(part, up->dir, orel, &err);
            if (!rc) written += part->files[part->n_files - 1].size;
            if (!rc && !(part->opstate = strdup(orel))) rc = rn_error_set(&err, RN_ENOMEM, 0, 0, "out of memory");
        }
    }
    char why[700] = "";
    if (up->error[0]) snprintf(why, sizeof why, "%s", up->error);
    else if (rc)
        snprintf(why, sizeof why, "task %u of %u ('%s'...): %s", up->t->subtask + 1, up->t->parallelism,
                 up->t->ops[0].node->id, err.msg);
    ack(r, up, parts, n, written, why[0] ? why : NULL);
    free(parts);
}

static void *uploader_main(void *arg)
{
    struct rn_runner *r = arg;
    struct ckpt *ck = r->ck;
    pthread_mutex_lock(&ck->mu);
    for (;;) {
        while (!ck->quit && !ck->qh) pthread_cond_wait(&ck->cv, &ck->mu);
        if (ck->quit) break;
        struct upload *up = ck->qh;
        ck->qh = up->next;
        if (!ck->qh) ck->qt = NULL;
        pthread_mutex_unlock(&ck->mu);
        upload_one(r, up);
        upload_free(up, true);
        pthread_mutex_lock(&ck->mu);
    }
    pthread_mutex_unlock(&ck->mu);
    return NULL;
}

/* ---- the task side ---- */

static int deliver_completion(struct task *t, int64_t id)
{
    atomic_store(&t->notified, id);
    for (uint32_t p = 0; p < t->n_ops; p++) {
        struct rn_op_ctx *ctx = &t->ops[p];
        if (!ctx->def->checkpoint_complete) continue;
        int rc = rn__op_failed(t, p, ctx->def->checkpoint_complete(ctx->state, ctx, id));
        if (rc) return rc;
    }
    return 0;
}

static void enqueue(struct ckpt *ck, struct upload *up)
{
    pthread_mutex_lock(&ck->mu);
    if (ck->quit) {
        pthread_mutex_unlock(&ck->mu);
        upload_free(up, true);
        return;
    }
    if (ck->qt) ck->qt->next = up;
    else ck->qh = up;
    ck->qt = up;
    pthread_cond_broadcast(&ck->cv);
    pthread_mutex_unlock(&ck->mu);
}

/* Writes the RocksDB cuts of the held snapshot whose memtables are flushed (all of them when
 * wait), on the task's thread; once none is left the snapshot goes to the uploader. The time
 * the writing takes counts as synchronous pause. */
static int release_held(struct task *t, bool wait)
{
    struct upload *up = t->held;
    if (!up) return 0;
    bool left = false;
    for (uint32_t i = 0; i < up->n; i++) {
        struct upload_op *o = &up->ops[i];
        if (!o->cut) continue;
        double t0 = mono_ms();
        struct rn_error err;
        int rc = rn_state_snapshot_poll(o->ctx->kstate, wait, &err);
        if (rc == 1) {
            left = true;
            continue;
        }
        up->sync_ms += mono_ms() - t0;
        o->cut = false;
        if (rc && !up->error[0])
            snprintf(up->error, sizeof up->error, "keyed state of '%s' (subtask %u of %u): %s", o->ctx->node->id,
                     t->subtask + 1, t->parallelism, err.msg);
    }
    if (left) {
        t->held_check_ms = mono_ms() + 0.5;
        return 0;
    }
    t->held = NULL;
    enqueue(t->run->ck, up);
    return 0;
}

int64_t rn__ck_wait_deadline(const struct task *t, int64_t deadline)
{
    if (!t->held) return deadline;
    int64_t soon = wall_ms() + 1;
    return soon < deadline ? soon : deadline;
}

void rn__ck_task_end(struct task *t)
{
    struct upload *up = t->held;
    if (!up) return;
    /* never close a backend with a cut pending: finish it (its checkpoint will not complete) */
    for (uint32_t i = 0; i < up->n; i++) {
        struct rn_error err;
        if (up->ops[i].cut && up->ops[i].ctx->kstate) rn_state_snapshot_poll(up->ops[i].ctx->kstate, true, &err);
    }
    t->held = NULL;
    upload_free(up, true);
}

/* Snapshots every operator of the task's chain for checkpoint id (the synchronous part),
 * forwards the barrier (unless final) and queues the asynchronous part. */
static int snapshot_task(struct task *t, int64_t id, bool forward)
{
    struct rn_runner *r = t->run;
    struct ckpt *ck = r->ck;
    release_held(t, true);   /* one snapshot at a time per backend */
    pthread_mutex_lock(&ck->mu);
    struct pending *p = ck->pend;
    bool live = p && p->id == id;
    bool savepoint = live && p->savepoint;
    char *dir = live ? strdup(p->dir) : NULL;
    pthread_mutex_unlock(&ck->mu);
    if (!live || !dir) {   /* given up meanwhile: only keep the barrier moving */
        free(dir);
        return forward ? rn__broadcast_el(t, RN_EL_BARRIER, id) : 0;
    }
    double t0 = mono_ms();
    struct upload *up = calloc(1, sizeof *up + t->n_ops * sizeof up->ops[0]);
    if (!up) {
        free(dir);
        return RN_ENOMEM;
    }
    up->t = t;
    up->id = id;
    up->savepoint = savepoint;
    up->dir = dir;
    up->n = t->n_ops;
    up->finished = atomic_load(&t->finished);
    for (uint32_t i = 0; i < t->n_ops && !up->error[0]; i++) {
        struct rn_op_ctx *ctx = &t->ops[i];
        struct upload_op *o = &up->ops[i];
        o->ctx = ctx;
        char rel[4096];
        snprintf(rel, sizeof rel, "%s/%s-%u", dir, ctx->node->id, t->subtask);
        struct rn_snapshot_writer w = {NULL, id, savepoint};
        struct rn_error err;
        if (ctx->def->snapshot) {
            if (!(w.os = rn_opstate_create())) {
                snprintf(up->error, sizeof up->error, "out of memory");
                break;
            }
            ctx->error[0] = 0;
            int rc = ctx->def->snapshot(ctx->state, ctx, &w);
            if (rc) {
                snprintf(up->error, sizeof up->error, "operator '%s' (%s, subtask %u of %u) could not snapshot: %s",
                         ctx->node->id, ctx->def->name, t->subtask + 1, t->parallelism,
                         ctx->error[0] ? ctx->error : rn_strerror(rc));
                rn_opstate_destroy(w.os);
                break;
            }
        }
        if (ctx->kstate) {
            int rc;
            if (rn_state_backend_kind(ctx->kstate) == RN_STATE_ROCKSDB) {
                /* a RocksDB checkpoint beside the working copy: hard links, no copy */
                if (asprintf(&o->local, "%s.snap-%" PRId64, ctx->state_dir, id) < 0) o->local = NULL;
                if (o->local) rn__rm_rf(o->local);
                /* only a cut here; written once its memtables are flushed (release_held) */
                rc = o->local ? rn_state_snapshot_begin(ctx->kstate, o->local, &err)
                              : rn_error_set(&err, RN_ENOMEM, 0, 0, "out of memory");
                if (rc) {
                    free(o->local);
                    o->local = NULL;
                }
                o->cut = rc == 0;
            } else {
                char keyed[4200];
                snprintf(keyed, sizeof keyed, "%s/keyed", rel);
                rc = rn__mkdir_p(rel) ? rn_error_set(&err, RN_EIO, 0, 0, "cannot create %s: %s", rel, strerror(errno))
                                      : rn_state_snapshot(ctx->kstate, keyed, &err);
                o->keyed_in_place = rc == 0;
            }
            if (rc) {
                snprintf(up->error, sizeof up->error, "keyed state of '%s' (subtask %u of %u): %s", ctx->node->id,
                         t->subtask + 1, t->parallelism, err.msg);
                rn_opstate_destroy(w.os);
                break;
            }
        }
        if (w.os) {
            char path[4200];
            snprintf(path, sizeof path, "%s/opstate", rel);
            int rc = rn__mkdir_p(rel) ? rn_error_set(&err, RN_EIO, 0, 0, "cannot create %s: %s", rel, strerror(errno))
                                      : rn_opstate_snapshot(w.os, path, &err);
            rn_opstate_destroy(w.os);
            if (rc) {
                snprintf(up->error, sizeof up->error, "operator state of '%s' (subtask %u of %u): %s", ctx->node->id,
                         t->subtask + 1, t->parallelism, err.msg);
                break;
            }
            o->opstate = true;
        }
    }
    up->sync_ms = mono_ms() - t0;
    int rc = forward ? rn__broadcast_el(t, RN_EL_BARRIER, id) : 0;
    t->held = up;
    t->held_check_ms = mono_ms() + 1;
    /* the final checkpoint waits here: the task has nothing else to do */
    int hrc = release_held(t, !forward);
    return rc ? rc : hrc;
}

int rn__ck_barrier(struct task *t, int64_t id) { return snapshot_task(t, id, true); }

int rn__ck_poll(struct task *t)
{
    struct ckpt *ck = t->run->ck;
    if (t->held && mono_ms() >= t->held_check_ms) release_held(t, false);
    int64_t n = atomic_load(&ck->notify_id);
    if (n > atomic_load(&t->notified)) {
        int rc = deliver_completion(t, n);
        if (rc) return rc;
        pthread_mutex_lock(&ck->mu);
        bool stop = ck->stop_id && n >= ck->stop_id;
        pthread_mutex_unlock(&ck->mu);
        if (stop) return RN_ECANCELED;   /* stopped with a savepoint */
    }
    /* sources, and tasks that ended (no barrier reaches them any more), are triggered directly */
    if (t->n_in == 0 || atomic_load(&t->finished)) {
        int64_t id = atomic_exchange(&t->trigger, 0);
        if (id > t->done_id) {
            t->done_id = id;
            return snapshot_task(t, id, !atomic_load(&t->finished));
        }
    }
    return 0;
}

int rn__ck_final(struct task *t)
{
    struct rn_runner *r = t->run;
    struct ckpt *ck = r->ck;
    pthread_mutex_lock(&ck->mu);
    atomic_store(&t->finished, true);
    /* checkpoints go on while other tasks run (an ended task snapshots its final state when
     * triggered); once every task ended, the one in flight gives way to the final one */
    if (++ck->n_finished == r->n_local && ck->remote) {
        /* the coordinator starts the final checkpoint once every process's tasks ended */
        if (!ck->ended_told) ck->remote->ended(ck->remote->user);
        ck->ended_told = true;
    } else if (ck->n_finished == r->n_local && !ck->finishing) {
        ck->finishing = true;
        if (ck->pend) abort_pending(r, "every task ended before it completed", true);
        struct rn_error err;
        if (start_pending(r, false, NULL, false, true, &err)) {
            pthread_mutex_unlock(&ck->mu);
            rn__fail_job(r, "cannot start the final checkpoint: %s", err.msg);
            return RN_ECANCELED;
        }
        ck->final_id = ck->last_id;
        ring_all(r);
    }
    pthread_mutex_unlock(&ck->mu);
    bool snapped = false;
    for (;;) {
        if (atomic_load(&r->cancelled)) return RN_ECANCELED;
        uint64_t seq = rn_mailbox_seq(&t->mb);
        int rc = rn__ck_poll(t);
        if (rc) return rc;
        pthread_mutex_lock(&ck->mu);
        int64_t id = ck->finishing ? ck->final_id : 0;
        pthread_mutex_unlock(&ck->mu);
        if (id && !snapped) {
            snapped = true;
            t->done_id = id;
            if ((rc = snapshot_task(t, id, false))) return rc;
        }
        /* sinks commit only once every task's final state is durable */
        if (id && atomic_load(&ck->notify_id) >= id) return deliver_completion(t, atomic_load(&ck->notify_id));
        rn_mailbox_wait_until(&t->mb, seq, rn__ck_wait_deadline(t, wall_ms() + 100));
    }
}

/* ---- restore ---- */

static int cmp_part_subtask(const void *a, const void *b)
{
    const struct rn_ck_part *x = *(const struct rn_ck_part *const *)a, *y = *(const struct rn_ck_part *const *)b;
    return x->subtask < y->subtask ? -1 : x->subtask > y->subtask;
}

static int push_str(char ***v, uint32_t *n, const char *s)
{
    char **nv = realloc(*v, (*n + 1) * sizeof *nv);
    if (!nv) return RN_ENOMEM;
    *v = nv;
    if (!(nv[*n] = strdup(s))) return RN_ENOMEM;
    (*n)++;
    return 0;
}

int rn__ck_prepare_restore(struct rn_op_ctx *ctx)
{
    struct task *t = ctx->task;
    struct ckpt *ck = t->run->ck;
    if (!ck->restoring) return 0;
    const struct rn_ck_meta *m = &ck->meta;
    const struct rn_ck_part **mine = calloc(m->n_parts ? m->n_parts : 1, sizeof *mine);
    if (!mine) return RN_ENOMEM;
    size_t n = 0;
    for (size_t i = 0; i < m->n_parts; i++)
        if (!strcmp(m->parts[i].node, ctx->node->id)) mine[n++] = &m->parts[i];
    qsort(mine, n, sizeof *mine, cmp_part_subtask);
    struct rn_state_config cfg;
    char wd[1024];
    int rc = 0;
    if (n && (rc = rn_op_state_config(ctx, &cfg, wd, sizeof wd))) goto out;
    /* ended in the checkpoint: every old subtask of the operator had, or (same parallelism) this
     * very subtask had; then it is not run again, only restored for later checkpoints */
    bool all_ended = n > 0, mine_ended = false;
    for (size_t i = 0; i < n; i++) {
        all_ended &= mine[i]->finished;
        if (mine[i]->parallelism == t->parallelism && mine[i]->subtask == t->subtask) mine_ended = mine[i]->finished;
    }
    ctx->finished_on_restore = all_ended || mine_ended;
    /* keyed state: the old subtasks whose key groups overlap this one's */
    uint32_t n_keyed = 0;
    const struct rn_ck_part *only = NULL;
    for (size_t i = 0; i < n && !rc; i++) {
        const struct rn_ck_part *p = mine[i];
        if (!p->keyed || p->kg_last < cfg.kg_first || p->kg_first > cfg.kg_last) continue;
        char tmp[1100], dir[4096];
        snprintf(tmp, sizeof tmp, "%s.restore-%u", wd, p->subtask);
        bool made;
        struct rn_error err;
        if ((rc = rn__ck_materialize(m, p, tmp, dir, sizeof dir, &made, &err))) {
            rn_op_error(ctx, "restoring from %s: %s", m->dir, err.msg);
            if (made) rn__rm_rf(tmp);
            break;
        }
        if ((rc = push_str(&ctx->restore_dirs, &ctx->n_restore_dirs, dir))) break;
        if (made && (rc = push_str(&ctx->restore_tmp, &ctx->n_restore_tmp, tmp))) break;
        n_keyed++;
        only = p;
    }
    /* restored whole (same key groups, one snapshot), the backend's SST files are the ones in
     * the shared folder: the next checkpoint does not copy them again */
    if (!rc && ck->same_store && n_keyed == 1 && only->kg_first == cfg.kg_first && only->kg_last == cfg.kg_last)
        for (size_t k = 0; !rc && k < only->n_shared; k++)
            rc = rn__ck_known_add(&ctx->known, only->shared[k].name, only->shared[k].path, only->shared[k].size);
    /* operator state: every old subtask's lists, redistributed */
    char **paths = NULL;
    uint32_t n_paths = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        if (!mine[i]->opstate) continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", m->dir, mine[i]->opstate);
        rc = push_str(&paths, &n_paths, path);
    }
    if (!rc) {
        ctx->reader = calloc(1, sizeof *ctx->reader);
        if (!ctx->reader) rc = RN_ENOMEM;
        else {
            ctx->reader->id = m->id;
            ctx->reader->old_parallelism = n ? mine[0]->parallelism : 0;
        }
    }
    if (!rc && n_paths) {
        struct rn_error err;
        if ((rc = rn_opstate_restore((const char *const *)paths, n_paths, t->subtask, t->parallelism, &ctx->reader->os, &err)))
            rn_op_error(ctx, "restoring from %s: %s", m->dir, err.msg);
    }
    for (uint32_t i = 0; i < n_paths; i++) free(paths[i]);
    free(paths);
out:
    free(mine);
    if (rc == RN_ENOMEM) rn_op_error(ctx, "restoring: out of memory");
    return rc;
}

bool rn__ck_finished_on_restore(const struct task *t)
{
    if (!t->run->ck || !t->run->ck->restoring) return false;
    for (uint32_t p = 0; p < t->n_ops; p++)
        if (!t->ops[p].finished_on_restore) return false;
    return true;
}

int rn__ck_after_open(struct rn_op_ctx *ctx)
{
    struct ckpt *ck = ctx->task->run->ck;
    if (!ck->restoring) return 0;
    if (ctx->n_restore_dirs) {
        rn_state_backend *b = rn_op_state(ctx);   /* opened from the snapshots */
        if (!b) return RN_EINVAL;
        struct rn_error err;
        if (!ctx->timers && rn__timers_create(b, &ctx->timers, &err)) {
            rn_op_error(ctx, "timers: %s", err.msg);
            return RN_EINVAL;
        }
        struct rn_state_config cfg;
        char wd[1024];
        int rc = rn_op_state_config(ctx, &cfg, wd, sizeof wd);
        uint64_t n_timers = 0;
        if (!rc && (rc = rn__timers_load(ctx->timers, cfg.kg_first, cfg.kg_last, &n_timers)))
            rn_op_error(ctx, "restoring timers: %s", rn_strerror(rc));
        if (rc) return rc;
    }
    if (ctx->def->restore) {
        ctx->error[0] = 0;
        return ctx->def->restore(ctx->state, ctx, ctx->reader);
    }
    return 0;
}

void rn__ck_op_cleanup(struct rn_op_ctx *ctx)
{
    for (uint32_t i = 0; i < ctx->n_restore_dirs; i++) free(ctx->restore_dirs[i]);
    free(ctx->restore_dirs);
    ctx->restore_dirs = NULL;
    ctx->n_restore_dirs = 0;
    for (uint32_t i = 0; i < ctx->n_restore_tmp; i++) {
        rn__rm_rf(ctx->restore_tmp[i]);
        free(ctx->restore_tmp[i]);
    }
    free(ctx->restore_tmp);
    ctx->restore_tmp = NULL;
    ctx->n_restore_tmp = 0;
    if (ctx->reader) rn_opstate_destroy(ctx->reader->os);
    free(ctx->reader);
    ctx->reader = NULL;
}

/* ---- life cycle ---- */

static void random_hex(char *out, size_t len)
{
    uint64_t x = 0;
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0 || read(fd, &x, sizeof x) != (ssize_t)sizeof x) x = (uint64_t)wall_ms() * 0x9e3779b97f4a7c15ull ^ (uint64_t)getpid();
    if (fd >= 0) close(fd);
    snprintf(out, len, "%016" PRIx64, x);
}

static bool same_dir(const char *a, const char *b)
{
    char ra[4096], rb[4096];
    return realpath(a, ra) && realpath(b, rb) && !strcmp(ra, rb);
}

int rn__ck_create(struct rn_runner *r, struct rn_error *err)
{
    const struct rn_job *job = r->job;
    if (!job->checkpoint.enabled && !r->opts.restore) return 0;
    struct ckpt *ck = calloc(1, sizeof *ck);
    if (!ck) return rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory");
    r->ck = ck;
    pthread_mutex_init(&ck->mu, NULL);
    pthread_cond_init(&ck->cv, NULL);
    ck->spec = &job->checkpoint;
    ck->stats.last_id = -1;
    ck->stats.restored_id = -1;
    if (r->opts.restore) {
        int rc = rn__ck_meta_read(r->opts.restore, &ck->meta, err);
        if (rc) return rc;
        ck->restoring = true;
        ck->commit_only = ck->meta.finished;
        ck->stats.restored_id = ck->meta.id;
        if (ck->meta.max_parallelism != job->max_parallelism)
            return rn_error_set(err, RN_EINVAL, 0, 0,
                                "checkpoint %s was taken with max_parallelism %u, the job has %u (key groups cannot be "
                                "mapped: keep max_parallelism when changing parallelism)",
                                r->opts.restore, ck->meta.max_parallelism, job->max_parallelism);
        for (size_t i = 0; i < ck->meta.n_parts; i++) {
            const struct rn_ck_part *p = &ck->meta.parts[i];
            if (rn_job_find(job, p->node) < 0)
                return rn_error_set(err, RN_EINVAL, 0, 0,
                                    "checkpoint %s holds state of operator '%s', which job '%s' does not have (operator "
                                    "ids name state: keep them when changing a job)",
                                    r->opts.restore, p->node, job->name);
        }
    }
    ck->enabled = job->checkpoint.enabled && !ck->commit_only;
    ck->remote = r->opts.coordinator;
    if (ck->enabled && ck->remote) {
        /* the coordinator holds the store: here only its directory, for the shared files */
        if (asprintf(&ck->job_dir, "%s/%s", job->checkpoint.dir, job->name) < 0) ck->job_dir = NULL;
        if (job->checkpoint.savepoint_dir) ck->savepoint_root = strdup(job->checkpoint.savepoint_dir);
        else if (ck->job_dir && asprintf(&ck->savepoint_root, "%s/savepoints", ck->job_dir) < 0) ck->savepoint_root = NULL;
        if (!ck->job_dir || !ck->savepoint_root) return rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory");
        if (rn__mkdir_p(ck->job_dir))
            return rn_error_set(err, RN_EIO, 0, 0, "cannot create %s: %s", ck->job_dir, strerror(errno));
        ck->same_store = ck->restoring && same_dir(ck->meta.job_dir, ck->job_dir);
    } else if (ck->enabled) {
        int rc = rn__ck_store_open(job->checkpoint.dir, job->name, job->checkpoint.retain, log_of(r), &ck->store, err);
        if (rc) return rc;
        ck->last_id = rn__ck_store_max_id(ck->store);
        if (!(ck->job_dir = strdup(rn__ck_store_dir(ck->store)))) return rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory");
        if (ck->restoring && ck->meta.id > ck->last_id) ck->last_id = ck->meta.id;
        if (job->checkpoint.savepoint_dir) ck->savepoint_root = strdup(job->checkpoint.savepoint_dir);
        else if (asprintf(&ck->savepoint_root, "%s/savepoints", rn__ck_store_dir(ck->store)) < 0) ck->savepoint_root = NULL;
        if (!ck->savepoint_root) return rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory");
        ck->same_store = ck->restoring && same_dir(ck->meta.job_dir, rn__ck_store_dir(ck->store));
    }
    EACH_TASK(r, t) for (uint32_t p = 0; p < t->n_ops; p++) {
        char hex[24];
        random_hex(hex, sizeof hex);
        snprintf(t->ops[p].instance, sizeof t->ops[p].instance, "%s", hex);
    }
    return 0;
}

int rn__ck_start(struct rn_runner *r, struct rn_error *err)
{
    struct ckpt *ck = r->ck;
    if (!ck->enabled) return 0;
    ck->next_trigger_ms = wall_ms() + ck->spec->interval;
    if (pthread_create(&ck->uploader, NULL, uploader_main, r)) return rn_error_set(err, RN_ENOMEM, 0, 0, "cannot start a thread");
    ck->uploader_on = true;
    if (pthread_create(&ck->coord, NULL, coordinator_main, r)) return rn_error_set(err, RN_ENOMEM, 0, 0, "cannot start a thread");
    ck->coord_on = true;
    return 0;
}

void rn__ck_stop(struct rn_runner *r)
{
    struct ckpt *ck = r->ck;
    pthread_mutex_lock(&ck->mu);
    ck->quit = true;
    pthread_cond_broadcast(&ck->cv);
    pthread_mutex_unlock(&ck->mu);
    if (ck->coord_on) pthread_join(ck->coord, NULL);
    if (ck->uploader_on) pthread_join(ck->uploader, NULL);
    ck->coord_on = ck->uploader_on = false;
    /* what was still queued or in flight will never complete */
    while (ck->qh) {
        struct upload *up = ck->qh;
        ck->qh = up->next;
        upload_free(up, true);
    }
    ck->qt = NULL;
    if (ck->pend) {
        if (!ck->remote) rn__ck_store_discard(ck->store, ck->pend->dir);
        add_result(ck, ck->pend->id, RN_ECANCELED, "the job ended before it completed", NULL);
        pending_free(ck->pend);
        ck->pend = NULL;
    }
    EACH_TASK(r, t) for (uint32_t p = 0; p < t->n_ops; p++) rn__ck_known_free(&t->ops[p].known);
}

void rn__ck_destroy(struct rn_runner *r)
{
    struct ckpt *ck = r->ck;
    if (!ck) return;
    if (ck->coord_on || ck->uploader_on) rn__ck_stop(r);
    rn__ck_store_close(ck->store);
    if (ck->restoring) rn__ck_meta_free(&ck->meta);
    free(ck->savepoint_root);
    free(ck->job_dir);
    pthread_mutex_destroy(&ck->mu);
    pthread_cond_destroy(&ck->cv);
    free(ck);
    r->ck = NULL;
}

/* ---- the API ---- */

void rn_runner_checkpoint_stats(rn_runner *r, struct rn_checkpoint_stats *out)
{
    memset(out, 0, sizeof *out);
    out->last_id = out->restored_id = -1;
    if (!r->ck) return;
    pthread_mutex_lock(&r->ck->mu);
    *out = r->ck->stats;
    pthread_mutex_unlock(&r->ck->mu);
}

int rn_runner_trigger(rn_runner *r, bool savepoint, const char *dir, bool stop, int64_t *id, struct rn_error *err)
{
    struct ckpt *ck = r->ck;
    if (!ck || !ck->enabled)
        return rn_error_set(err, RN_EINVAL, 0, 0, "job '%s' takes no checkpoints (it has no checkpoint block)", r->job->name);
    if (stop && !savepoint) return rn_error_set(err, RN_EINVAL, 0, 0, "only a savepoint can stop a job");
    int rc;
    pthread_mutex_lock(&ck->mu);
    if (atomic_load(&r->state) != RN_RUN_RUNNING || ck->quit)
        rc = rn_error_set(err, RN_EINVAL, 0, 0, "job '%s' is not running", r->job->name);
    else if (ck->finishing || ck->stop_id)
        rc = rn_error_set(err, RN_EINVAL, 0, 0, "job '%s' is finishing: no more checkpoints", r->job->name);
    else if (ck->pend)
        rc = rn_error_set(err, RN_EAGAIN, 0, 0, "checkpoint %" PRId64 " is in flight", ck->pend->id);
    else if (!(rc = start_pending(r, savepoint, dir, stop, false, err)))
        *id = ck->last_id;
    pthread_mutex_unlock(&ck->mu);
    return rc;
}

int rn_runner_wait_checkpoint(rn_runner *r, int64_t id, int timeout_ms, char *path, size_t path_len, struct rn_error *err)
{
    struct ckpt *ck = r->ck;
    if (!ck) return rn_error_set(err, RN_EINVAL, 0, 0, "job '%s' takes no checkpoints", r->job->name);
    int64_t deadline = wall_ms() + (timeout_ms < 0 ? (int64_t)1 << 40 : timeout_ms);
    pthread_mutex_lock(&ck->mu);
    int rc = RN_EAGAIN;
    for (;;) {
        for (uint32_t i = 0; i < N_RESULTS && i < ck->n_results; i++) {
            const struct result *res = &ck->results[i];
            if (res->id != id) continue;
            rc = res->rc;
            if (rc) rn_error_set(err, rc, 0, 0, "%s", res->msg);
            else if (path) snprintf(path, path_len, "%s", res->path);
            break;
        }
        if (rc != RN_EAGAIN) break;
        if (wall_ms() >= deadline) {
            rn_error_set(err, RN_EAGAIN, 0, 0, "checkpoint %" PRId64 " did not complete in time", id);
            break;
        }
        if (!ck->pend || ck->pend->id != id) {
            if (ck->quit || atomic_load(&r->state) != RN_RUN_RUNNING) {
                rc = rn_error_set(err, RN_ECANCELED, 0, 0, "the job ended before checkpoint %" PRId64 " completed", id);
                break;
            }
        }
        int64_t wake = wall_ms() + 50;
        struct timespec ts = {(time_t)(wake / 1000), (long)(wake % 1000) * 1000000};
        pthread_cond_timedwait(&ck->cv, &ck->mu, &ts);
    }
    pthread_mutex_unlock(&ck->mu);
    return rc;
}

/* ---- checkpoints another process coordinates ---- */

int rn_runner_remote_trigger(rn_runner *r, int64_t id, bool savepoint, bool stop, bool final, const char *dir,
                             struct rn_error *err)
{
    struct ckpt *ck = r->ck;
    if (!ck || !ck->enabled || !ck->remote)
        return rn_error_set(err, RN_EINVAL, 0, 0, "job '%s' takes no remotely coordinated checkpoints", r->job->name);
    char *d = strdup(dir);
    if (!d) return rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory");
    pthread_mutex_lock(&ck->mu);
    /* one at a time: a newer one means the coordinator gave the older one up */
    if (ck->pend) abort_pending(r, "a newer checkpoint was triggered", true);
    int rc = begin_pending(r, id, d, savepoint, stop, final, err);
    if (rc == 0 && final) {
        ck->finishing = true;
        ck->final_id = id;
    }
    pthread_mutex_unlock(&ck->mu);
    if (rc == 0) ring_all(r);
    return rc;
}

void rn_runner_remote_complete(rn_runner *r, int64_t id)
{
    struct ckpt *ck = r->ck;
    if (!ck || !ck->remote) return;
    pthread_mutex_lock(&ck->mu);
    struct pending *p = ck->pend;
    if (p && p->id == id && p->acked) {
        uint64_t bytes = rn__ck_parts_bytes(p->parts, p->n_parts);
        completed(r, bytes);
    }
    pthread_mutex_unlock(&ck->mu);
}

void rn_runner_remote_abort(rn_runner *r, int64_t id, const char *why)
{
    struct ckpt *ck = r->ck;
    if (!ck || !ck->remote) return;
    pthread_mutex_lock(&ck->mu);
    if (ck->pend && ck->pend->id == id) {
        ck->pend->acked = true;   /* the coordinator knows: no decline back */
        abort_pending(r, why, false);
    }
    pthread_mutex_unlock(&ck->mu);
}
