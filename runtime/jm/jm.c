/*
 * jm.c — the job manager (jm.h): task managers, jobs and their attempts, scheduling, and the
 * REST API. One thread (the RPC loop's) runs all of it.
 *
 * A job's life: CREATED (waiting for enough free slots) -> RUNNING (an attempt deployed to its
 * task managers) -> FINISHED when every task manager of the attempt reported its tasks
 * finished; FAILED when one reported a failure or was lost, unless the job's restart strategy
 * allows another attempt: then RESTARTING (the other task managers are told to cancel, the
 * strategy's delay passes) and a new attempt is scheduled on the slots there are then.
 * CANCELLING -> CANCELLED after PATCH /jobs/{id}. Restarts begin from scratch: jobs with a
 * checkpoint block are refused for now (distributed checkpoints are the next step; `runnel run`
 * has them).
 *
 * Rates and back-pressure are sampled on each heartbeat tick from the counters task managers
 * send: rows per second per vertex, and the share of time its subtasks spent blocked sending.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "checkpoint_internal.h"
#include "jm.h"
#include "log.h"
#include "rest/http.h"
#include "rest/json.h"
#include "rn_config.h"
#include "rpc/rpc.h"
#include "runnel/runner.h"

/* How long a task's reported failure waits for a lost task manager to explain it (ms). */
#define FAIL_GRACE_MS 300

enum job_state { J_CREATED, J_RUNNING, J_RESTARTING, J_CANCELLING, J_FINISHED, J_FAILED, J_CANCELLED };
static const char *const state_names[] = {"CREATED",  "RUNNING", "RESTARTING", "CANCELLING",
                                          "FINISHED", "FAILED",  "CANCELLED"};
#define N_STATES ((int)(sizeof state_names / sizeof state_names[0]))

struct tmgr {
    struct tmgr *next;
    uint64_t serial;              /* attempts name task managers by it */
    char id[320], data_host[256];
    uint16_t data_port;
    uint32_t slots, used, pid;
    rn_rpc_conn *conn;            /* transport's; valid until on_close */
    int64_t last_heartbeat_ms, registered_ms;
};

/* One task manager's part of the current attempt. */
struct member {
    uint64_t tm;                  /* serial */
    uint32_t slots;
    int state;                    /* Runnel__Rpc__TaskState__State, or -1 not reported */
    uint64_t *rows_in, *rows_out, *out_wait_ms;   /* per node */
};

/* The checkpoint in flight of a job (one at a time). */
struct ck_pending {
    int64_t id;
    bool savepoint, stop, final;
    char dir[4096];
    int64_t start_ms;
    uint32_t acks;
    struct rn_ck_part *parts;
    size_t n_parts, cap_parts;
    double max_sync_ms;
    uint64_t written;
    uint32_t request;             /* the savepoint request it answers (0 none) */
};

/* A line of a job's checkpoint history (GET /jobs/{id}/checkpoints). */
#define CK_HISTORY 10
struct ck_record {
    int64_t id, time_ms;
    bool savepoint, ok;
    char path[4096], error[1024];
    double duration_ms, sync_ms;
    uint64_t bytes, written;
};

/* A savepoint asked for over REST (POST .../savepoints or .../stop). */
#define SP_REQUESTS 16
struct sp_request {
    uint32_t id;                  /* 0: free */
    bool stop, done, ok, triggered;
    char dir[4096];               /* "" = the job's default */
    char path[4096], error[1200];
};

struct job {
    struct job *next;
    struct rn_jm *jm;
    char id[33];
    char *name, *file;
    char *yaml;
    size_t yaml_len;
    struct rn_job *spec;
    uint32_t n_nodes, n_chains, *chain_of, *chain_par, slots_needed;
    enum job_state state;
    uint32_t attempt, restarts, failures;
    int64_t start_ms, end_ms, restart_at_ms, attempt_start_ms, failed_ms;
    /* a task manager reported a failure: the attempt fails at fail_at_ms with fail_error, unless
     * a lost task manager explains it first (its tasks' peers fail because of it) */
    int64_t fail_at_ms;
    char fail_error[1024];
    char error[1024];
    struct member *members;
    uint32_t n_members;
    /* checkpoints (jobs with a checkpoint block): the store is held while the job lives */
    struct rn_ck_store *store;
    FILE *log;                    /* the store's log lines */
    rn_rpc_timer *ck_timer;
    int64_t ck_last_id, ck_next_ms;
    struct ck_pending *ck;
    uint64_t ck_completed, ck_failed;
    struct ck_record history[CK_HISTORY];
    uint32_t n_history;
    struct sp_request requests[SP_REQUESTS];
    uint32_t next_request;
    char restore_from[4096];      /* the attempt starts from it (latest completed checkpoint) */
    char restored[4096];          /* what the submission named */
    bool stopping;                /* a stop-with-savepoint completed: the tasks end */
    bool final_triggered;
    /* sampled rates per node */
    uint64_t *prev_in, *prev_out, *prev_wait;
    double *rate_in, *rate_out, *bp;
    int64_t prev_ms;
};

struct rn_jm {
    struct rn_jm_config cfg;
    char *savepoints_dir;
    rn_rpc_loop *loop;
    rn_rpc_server *rpc;
    rn_http_server *http;
    rn_rpc_timer *tick;
    rn_rpc_timer *restart;        /* one shot at the next restart that is due */
    rn_rpc_timer *grace;          /* one shot at the next reported failure that is due */
    struct tmgr *tms;
    uint64_t next_serial;
    struct job *jobs;             /* newest first */
    uint64_t submitted, tm_lost;
    bool closing;                 /* rn_jm_destroy began: connections closing say nothing */
    FILE *rpc_log;                /* the RPC's lines, as structured log lines */
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool ended(const struct job *j) { return j->state >= J_FINISHED; }

static struct tmgr *tm_by_serial(rn_jm *jm, uint64_t serial)
{
    for (struct tmgr *t = jm->tms; t; t = t->next)
        if (t->serial == serial) return t;
    return NULL;
}

static struct job *job_by_id(rn_jm *jm, const char *id)
{
    for (struct job *j = jm->jobs; j; j = j->next)
        if (!strcmp(j->id, id)) return j;
    return NULL;
}

/* ---- attempts ---- */

static void ck_attempt_over(struct job *j);
static void ck_arm(struct job *j);
static void ck_fire(void *arg);

static void members_free(struct job *j)
{
    for (uint32_t i = 0; i < j->n_members; i++) {
        free(j->members[i].rows_in);
        free(j->members[i].rows_out);
        free(j->members[i].out_wait_ms);
    }
    free(j->members);
    j->members = NULL;
    j->n_members = 0;
}

/* Node i's counters summed over the attempt's task managers. */
static void vertex_totals(const struct job *j, uint32_t i, uint64_t *in, uint64_t *out, uint64_t *wait)
{
    *in = *out = *wait = 0;
    for (uint32_t m = 0; m < j->n_members; m++) {
        *in += j->members[m].rows_in[i];
        *out += j->members[m].rows_out[i];
        *wait += j->members[m].out_wait_ms[i];
    }
}

/* Tells task manager connection c to stop attempt `attempt` of job job_id. */
static void send_cancel(rn_rpc_conn *c, const char *job_id, uint32_t attempt)
{
    Runnel__Rpc__CancelJob cj = RUNNEL__RPC__CANCEL_JOB__INIT;
    cj.job_id = (char *)job_id;
    cj.attempt = attempt;
    Runnel__Rpc__Envelope env = RUNNEL__RPC__ENVELOPE__INIT;
    env.msg_case = RUNNEL__RPC__ENVELOPE__MSG_CANCEL;
    env.cancel = &cj;
    struct rn_error err;
    if (c) rn_rpc_send(c, &env, &err);
}

/* Gives the attempt's slots back and tells its task managers to stop it. */
static void release_attempt(rn_jm *jm, struct job *j, bool cancel)
{
    for (uint32_t i = 0; i < j->n_members; i++) {
        struct member *m = &j->members[i];
        struct tmgr *t = tm_by_serial(jm, m->tm);
        if (!t) continue;
        t->used -= m->slots < t->used ? m->slots : t->used;
        if (!cancel || m->state == RUNNEL__RPC__TASK_STATE__STATE__FINISHED || m->state == RUNNEL__RPC__TASK_STATE__STATE__FAILED ||
            m->state == RUNNEL__RPC__TASK_STATE__STATE__CANCELLED)
            continue;
        send_cancel(t->conn, j->id, j->attempt);
    }
}

static void ck_pending_free(struct ck_pending *p)
{
    if (!p) return;
    for (size_t i = 0; i < p->n_parts; i++) rn__ck_part_clear(&p->parts[i]);
    free(p->parts);
    free(p);
}

static void job_free(struct job *j)
{
    if (!j) return;
    rn_rpc_timer_stop(j->ck_timer);
    ck_pending_free(j->ck);
    rn__ck_store_close(j->store);
    if (j->log) fclose(j->log);
    members_free(j);
    rn_job_free(j->spec);
    free(j->name);
    free(j->file);
    free(j->yaml);
    free(j->chain_of);
    free(j->chain_par);
    free(j->prev_in);
    free(j->prev_out);
    free(j->prev_wait);
    free(j->rate_in);
    free(j->rate_out);
    free(j->bp);
    free(j);
}

static void end_job(rn_jm *jm, struct job *j, enum job_state s)
{
    struct rn_log_ctx lc = {.job = j->id};
    j->state = s;
    j->end_ms = now_ms();
    ck_attempt_over(j);
    rn__ck_store_close(j->store);   /* another job of that name may use the directory now */
    j->store = NULL;
    rn_log(s == J_FAILED ? RN_LOG_WARN : RN_LOG_INFO, &lc, "job '%s' %s%s%s", j->name, state_names[s],
           j->error[0] ? ": " : "", j->error);
    /* keep the history bounded: drop the oldest ended jobs beyond it */
    uint32_t kept = 0;
    for (struct job **p = &jm->jobs; *p;) {
        struct job *x = *p;
        if (ended(x) && ++kept > (jm->cfg.history ? jm->cfg.history : 100)) {
            *p = x->next;
            job_free(x);
            continue;
        }
        p = &x->next;
    }
}

/* The attempt failed (why): another one after the restart strategy's delay (and once the old
 * attempt's tasks stopped everywhere: nothing of it writes any more), from the latest completed
 * checkpoint; or the end. */
static void attempt_failed(rn_jm *jm, struct job *j, const char *why)
{
    if (j->state != J_RUNNING) return;
    struct rn_log_ctx lc = {.job = j->id};
    snprintf(j->error, sizeof j->error, "%s", why);
    j->fail_at_ms = 0;
    ck_attempt_over(j);
    release_attempt(jm, j, true);
    j->failed_ms = now_ms();
    j->failures++;
    int64_t delay = rn_restart_delay(&j->spec->restart, j->failures);
    if (delay < 0) {
        end_job(jm, j, J_FAILED);   /* the members stay: their last counters */
        return;
    }
    rn_log(RN_LOG_WARN, &lc, "attempt %u failed (%s); restarting in %" PRId64 " ms%s%s", j->attempt, why, delay,
           j->restore_from[0] ? " from " : "", j->restore_from);
    j->state = J_RESTARTING;
    j->restart_at_ms = now_ms() + delay;
    rn_rpc_timer_reset(jm->restart, (uint32_t)(delay > 0 ? delay : 0));
}

/* Places and deploys a new attempt if there are enough free slots. */
static void try_schedule(rn_jm *jm, struct job *j)
{
    uint32_t free_slots = 0, n_tms = 0;
    for (struct tmgr *t = jm->tms; t; t = t->next)
        if (t->conn) free_slots += t->slots - t->used, n_tms++;
    if (free_slots < j->slots_needed) return;
    /* slot i -> task manager: take one slot at a time from the one with the most free */
    struct tmgr **slot_tm = calloc(j->slots_needed, sizeof *slot_tm);
    struct tmgr **peers = calloc(n_tms, sizeof *peers);
    uint32_t *taken = calloc(n_tms, sizeof *taken), n_peers = 0;
    struct tmgr **all = calloc(n_tms, sizeof *all);
    if (!slot_tm || !peers || !taken || !all) goto out;
    uint32_t k = 0;
    for (struct tmgr *t = jm->tms; t; t = t->next)
        if (t->conn) all[k++] = t;
    for (uint32_t s = 0; s < j->slots_needed; s++) {
        int best = -1;
        for (uint32_t i = 0; i < n_tms; i++) {
            uint32_t f = all[i]->slots - all[i]->used - taken[i];
            if (f && (best < 0 || f > all[best]->slots - all[best]->used - taken[best])) best = (int)i;
        }
        taken[best]++;
        slot_tm[s] = all[best];
    }
    for (uint32_t i = 0; i < n_tms; i++)
        if (taken[i]) peers[n_peers++] = all[i];
    members_free(j);
    j->members = calloc(n_peers, sizeof *j->members);
    if (!j->members) goto out;
    j->n_members = n_peers;
    j->attempt++;
    j->attempt_start_ms = now_ms();
    for (uint32_t p = 0; p < n_peers; p++) {
        struct member *m = &j->members[p];
        m->tm = peers[p]->serial;
        m->state = -1;
        for (uint32_t i = 0; i < n_tms; i++)
            if (all[i] == peers[p]) m->slots = taken[i];
        peers[p]->used += m->slots;
        m->rows_in = calloc(j->n_nodes ? j->n_nodes : 1, sizeof *m->rows_in);
        m->rows_out = calloc(j->n_nodes ? j->n_nodes : 1, sizeof *m->rows_out);
        m->out_wait_ms = calloc(j->n_nodes ? j->n_nodes : 1, sizeof *m->out_wait_ms);
    }
    /* the deployment, the same for every member but `self` */
    uint32_t n_tasks = 0;
    for (uint32_t c = 0; c < j->n_chains; c++) n_tasks += j->chain_par[c];
    Runnel__Rpc__Peer *pv = calloc(n_peers, sizeof *pv), **pp = calloc(n_peers, sizeof *pp);
    Runnel__Rpc__TaskPlacement *tv = calloc(n_tasks ? n_tasks : 1, sizeof *tv), **tp = calloc(n_tasks ? n_tasks : 1, sizeof *tp);
    if (pv && pp && tv && tp) {
        for (uint32_t p = 0; p < n_peers; p++) {
            runnel__rpc__peer__init(&pv[p]);
            pv[p].id = peers[p]->id;
            pv[p].data_host = peers[p]->data_host;
            pv[p].data_port = peers[p]->data_port;
            pp[p] = &pv[p];
        }
        uint32_t x = 0;
        for (uint32_t c = 0; c < j->n_chains; c++)
            for (uint32_t s = 0; s < j->chain_par[c]; s++, x++) {
                runnel__rpc__task_placement__init(&tv[x]);
                tv[x].chain = c;
                tv[x].subtask = s;
                for (uint32_t p = 0; p < n_peers; p++)
                    if (peers[p] == slot_tm[s]) tv[x].tm = p;
                tp[x] = &tv[x];
            }
        Runnel__Rpc__DeployJob d = RUNNEL__RPC__DEPLOY_JOB__INIT;
        d.job_id = j->id;
        d.attempt = j->attempt;
        d.job_name = j->name;
        d.job_yaml.data = (uint8_t *)j->yaml;
        d.job_yaml.len = j->yaml_len;
        d.job_file = j->file;
        d.restore = j->restore_from;
        d.n_peers = n_peers;
        d.peers = pp;
        d.n_tasks = n_tasks;
        d.tasks = tp;
        Runnel__Rpc__Envelope env = RUNNEL__RPC__ENVELOPE__INIT;
        env.msg_case = RUNNEL__RPC__ENVELOPE__MSG_DEPLOY;
        env.deploy = &d;
        for (uint32_t p = 0; p < n_peers; p++) {
            d.self = p;
            struct rn_error err;
            if (rn_rpc_send(peers[p]->conn, &env, &err))
                rn_log(RN_LOG_WARN, &(struct rn_log_ctx){.job = j->id, .peer = peers[p]->id}, "cannot deploy: %s", err.msg);
        }
    }
    free(pv);
    free(pp);
    free(tv);
    free(tp);
    j->state = J_RUNNING;
    j->prev_ms = 0;
    j->stopping = j->final_triggered = false;
    if (j->store) {
        j->ck_next_ms = now_ms() + j->spec->checkpoint.interval;
        ck_arm(j);
    }
    struct rn_log_ctx lc = {.job = j->id};
    rn_log(RN_LOG_INFO, &lc, "attempt %u of job '%s' deployed on %u task manager(s), %u slot(s)", j->attempt, j->name,
           n_peers, j->slots_needed);
out:
    free(slot_tm);
    free(peers);
    free(taken);
    free(all);
}

static void schedule_all(rn_jm *jm)
{
    /* oldest first: walk to the end, then back (the list is newest first) */
    size_t n = 0;
    for (struct job *j = jm->jobs; j; j = j->next) n++;
    struct job **v = calloc(n ? n : 1, sizeof *v);
    if (!v) return;
    size_t i = 0;
    for (struct job *j = jm->jobs; j; j = j->next) v[i++] = j;
    int64_t now = now_ms();
    while (i-- > 0) {
        struct job *j = v[i];
        if (j->state == J_RESTARTING) {
            bool stopped = true;
            for (uint32_t m = 0; m < j->n_members; m++)
                stopped &= j->members[m].state == RUNNEL__RPC__TASK_STATE__STATE__FINISHED ||
                           j->members[m].state == RUNNEL__RPC__TASK_STATE__STATE__FAILED ||
                           j->members[m].state == RUNNEL__RPC__TASK_STATE__STATE__CANCELLED || !tm_by_serial(jm, j->members[m].tm);
            if (now >= j->restart_at_ms && (stopped || now - j->failed_ms > 10000)) try_schedule(jm, j);
        } else if (j->state == J_CREATED) {
            try_schedule(jm, j);
        }
    }
    free(v);
}


/* ---- checkpoints: the coordinator (design.md section 9) ----
 * The job manager triggers checkpoint n at every task manager of the attempt, which trigger
 * their sources (and tasks that ended); each answers with its tasks' parts once they are
 * written (AckCheckpoint) or declines. With every part in, the metadata is written here
 * (engine/checkpoint.c, the same store `runnel run` uses) and the task managers are told to
 * commit. One checkpoint at a time; a savepoint asked for over REST goes next. Once every task
 * manager reports its tasks ENDED, the final checkpoint follows. */

static void send_members(rn_jm *jm, struct job *j, Runnel__Rpc__Envelope *env)
{
    for (uint32_t i = 0; i < j->n_members; i++) {
        struct tmgr *t = tm_by_serial(jm, j->members[i].tm);
        struct rn_error err;
        if (t && t->conn && rn_rpc_send(t->conn, env, &err))
            rn_log(RN_LOG_WARN, &(struct rn_log_ctx){.job = j->id, .peer = t->id}, "cannot send: %s", err.msg);
    }
}

static struct sp_request *request_of(struct job *j, uint32_t id)
{
    for (uint32_t i = 0; i < SP_REQUESTS && id; i++)
        if (j->requests[i].id == id) return &j->requests[i];
    return NULL;
}

static void ck_record(struct job *j, const struct ck_pending *p, bool ok, const char *error, uint64_t bytes)
{
    struct ck_record *r = &j->history[j->n_history++ % CK_HISTORY];
    memset(r, 0, sizeof *r);
    r->id = p->id;
    r->time_ms = now_ms();
    r->savepoint = p->savepoint;
    r->ok = ok;
    snprintf(r->path, sizeof r->path, "%s", ok ? p->dir : "");
    snprintf(r->error, sizeof r->error, "%s", error ? error : "");
    r->duration_ms = (double)(r->time_ms - p->start_ms);
    r->sync_ms = p->max_sync_ms;
    r->bytes = bytes;
    r->written = p->written;
    if (ok) j->ck_completed++;
    else j->ck_failed++;
    struct sp_request *q = request_of(j, p->request);
    if (q) {
        q->done = true;
        q->ok = ok;
        snprintf(q->path, sizeof q->path, "%s", ok ? p->dir : "");
        snprintf(q->error, sizeof q->error, "%s", error ? error : "");
    }
}

static int64_t ck_gap(const struct job *j)
{
    const struct rn_checkpoint_spec *c = &j->spec->checkpoint;
    return c->min_pause > c->interval ? c->min_pause : c->interval;
}

static void ck_arm(struct job *j);

/* Gives up the checkpoint in flight: its directory goes, the task managers are told (tell). A
 * failed final checkpoint fails the attempt. */
static void ck_abort(rn_jm *jm, struct job *j, const char *why, bool tell)
{
    struct ck_pending *p = j->ck;
    if (!p) return;
    j->ck = NULL;
    rn__ck_store_discard(j->store, p->dir);
    rn_log(RN_LOG_WARN, &(struct rn_log_ctx){.job = j->id}, "%s %" PRId64 " failed: %s",
           p->savepoint ? "savepoint" : "checkpoint", p->id, why);
    ck_record(j, p, false, why, 0);
    if (tell) {
        Runnel__Rpc__AbortCheckpoint a = RUNNEL__RPC__ABORT_CHECKPOINT__INIT;
        a.job_id = j->id;
        a.attempt = j->attempt;
        a.id = p->id;
        a.reason = (char *)why;
        Runnel__Rpc__Envelope env = RUNNEL__RPC__ENVELOPE__INIT;
        env.msg_case = RUNNEL__RPC__ENVELOPE__MSG_ABORT;
        env.abort = &a;
        send_members(jm, j, &env);
    }
    j->ck_next_ms = now_ms() + ck_gap(j);
    bool final = p->final;
    int64_t id = p->id;
    ck_pending_free(p);
    if (final) {
        char msg[1024];
        snprintf(msg, sizeof msg, "the final checkpoint %" PRId64 " failed: %.900s", id, why);
        j->final_triggered = false;
        attempt_failed(jm, j, msg);
    }
    ck_arm(j);
}

/* Triggers checkpoint (or savepoint) next at every task manager of the attempt. */
static int ck_trigger(rn_jm *jm, struct job *j, bool savepoint, const char *dir, bool stop, bool final, uint32_t request,
                      char *why, size_t why_len)
{
    struct ck_pending *p = calloc(1, sizeof *p);
    if (!p) {
        snprintf(why, why_len, "out of memory");
        return RN_ENOMEM;
    }
    p->id = ++j->ck_last_id;
    p->savepoint = savepoint;
    p->stop = stop;
    p->final = final;
    p->request = request;
    p->start_ms = now_ms();
    if (!savepoint) snprintf(p->dir, sizeof p->dir, "%s/chk-%" PRId64, rn__ck_store_dir(j->store), p->id);
    else if (dir && *dir) snprintf(p->dir, sizeof p->dir, "%s", dir);
    else if (j->spec->checkpoint.savepoint_dir)
        snprintf(p->dir, sizeof p->dir, "%s/savepoint-%" PRId64 "-%" PRId64, j->spec->checkpoint.savepoint_dir, p->id, p->start_ms);
    else snprintf(p->dir, sizeof p->dir, "%s/savepoints/savepoint-%" PRId64 "-%" PRId64, rn__ck_store_dir(j->store), p->id,
                  p->start_ms);
    struct stat st;
    if (savepoint && stat(p->dir, &st) == 0) {
        snprintf(why, why_len, "savepoint directory %.900s exists already", p->dir);
        free(p);
        return RN_EINVAL;
    }
    if (rn__mkdir_p(p->dir)) {
        snprintf(why, why_len, "cannot create %.900s: %s", p->dir, strerror(errno));
        free(p);
        return RN_EIO;
    }
    j->ck = p;
    Runnel__Rpc__TriggerCheckpoint t = RUNNEL__RPC__TRIGGER_CHECKPOINT__INIT;
    t.job_id = j->id;
    t.attempt = j->attempt;
    t.id = p->id;
    t.savepoint = savepoint;
    t.dir = p->dir;
    t.time_ms = p->start_ms;
    t.final = final;
    t.stop = stop;
    Runnel__Rpc__Envelope env = RUNNEL__RPC__ENVELOPE__INIT;
    env.msg_case = RUNNEL__RPC__ENVELOPE__MSG_TRIGGER;
    env.trigger = &t;
    send_members(jm, j, &env);
    ck_arm(j);
    return 0;
}

/* Every part is in: the metadata, retention, then the task managers commit. */
static void ck_complete(rn_jm *jm, struct job *j)
{
    struct ck_pending *p = j->ck;
    uint64_t bytes = rn__ck_parts_bytes(p->parts, p->n_parts);
    struct rn_error err;
    if (rn__ck_store_complete(j->store, j->spec, p->id, p->savepoint, p->final, p->dir, p->parts, p->n_parts, bytes, &err)) {
        ck_abort(jm, j, err.msg, true);
        return;
    }
    j->ck = NULL;
    ck_record(j, p, true, NULL, bytes);
    rn_log(RN_LOG_INFO, &(struct rn_log_ctx){.job = j->id},
           "%s %" PRId64 " completed in %" PRId64 " ms (sync pause max %.2f ms, %.1f MB written, %.1f MB in all): %s",
           p->savepoint ? "savepoint" : p->final ? "final checkpoint" : "checkpoint", p->id, now_ms() - p->start_ms,
           p->max_sync_ms, (double)p->written / 1e6, (double)bytes / 1e6, p->dir);
    if (!p->savepoint) {
        snprintf(j->restore_from, sizeof j->restore_from, "%s", p->dir);
        rn__ck_store_sweep(j->store);   /* one at a time: nothing else is uploading */
    }
    /* savepoints do not commit side effects, except the one a stop ends with */
    if (!p->savepoint || p->stop) {
        Runnel__Rpc__CompleteCheckpoint c = RUNNEL__RPC__COMPLETE_CHECKPOINT__INIT;
        c.job_id = j->id;
        c.attempt = j->attempt;
        c.id = p->id;
        Runnel__Rpc__Envelope env = RUNNEL__RPC__ENVELOPE__INIT;
        env.msg_case = RUNNEL__RPC__ENVELOPE__MSG_COMPLETE;
        env.complete = &c;
        send_members(jm, j, &env);
    }
    if (p->stop) j->stopping = true;
    j->ck_next_ms = now_ms() + ck_gap(j);
    ck_pending_free(p);
    ck_arm(j);
}

static void ck_on_ack(rn_jm *jm, struct tmgr *t, const Runnel__Rpc__AckCheckpoint *a)
{
    struct job *j = job_by_id(jm, a->job_id);
    if (!j || j->attempt != a->attempt || !j->ck || j->ck->id != a->id) return;   /* stale */
    struct ck_pending *p = j->ck;
    struct rn_ck_part *parts = NULL;
    size_t n = 0;
    struct rn_error err;
    if (rn__ck_parts_unpack(a->parts.data, a->parts.len, j->spec->max_parallelism, &parts, &n, &err)) {
        char why[1200];
        snprintf(why, sizeof why, "task manager %s: %s", t->id, err.msg);
        ck_abort(jm, j, why, true);
        return;
    }
    if (p->n_parts + n > p->cap_parts) {
        size_t cap = (p->n_parts + n) * 2;
        struct rn_ck_part *v = realloc(p->parts, cap * sizeof *v);
        if (!v) {
            for (size_t i = 0; i < n; i++) rn__ck_part_clear(&parts[i]);
            free(parts);
            ck_abort(jm, j, "out of memory", true);
            return;
        }
        p->parts = v;
        p->cap_parts = cap;
    }
    memcpy(p->parts + p->n_parts, parts, n * sizeof *parts);
    p->n_parts += n;
    free(parts);
    p->written += a->written;
    if (a->sync_pause_ms > p->max_sync_ms) p->max_sync_ms = a->sync_pause_ms;
    if (++p->acks == j->n_members) ck_complete(jm, j);
}

static void ck_on_decline(rn_jm *jm, struct tmgr *t, const Runnel__Rpc__DeclineCheckpoint *d)
{
    struct job *j = job_by_id(jm, d->job_id);
    if (!j || j->attempt != d->attempt || !j->ck || j->ck->id != d->id) return;
    char why[1200];
    snprintf(why, sizeof why, "declined by task manager %.320s: %.800s", t->id, d->reason);
    ck_abort(jm, j, why, true);
}

/* The job's checkpoint timer: triggers, timeouts, the final checkpoint. */
static void ck_fire(void *arg)
{
    struct job *j = arg;
    rn_jm *jm = j->jm;
    if (j->state != J_RUNNING || !j->store) return;
    int64_t now = now_ms();
    if (j->ck && !j->ck->final && now - j->ck->start_ms >= j->spec->checkpoint.timeout) {
        char why[128];
        snprintf(why, sizeof why, "not complete after %" PRId64 " ms (checkpoint timeout)", j->spec->checkpoint.timeout);
        ck_abort(jm, j, why, true);
    }
    bool deployed = true, all_ended = j->n_members > 0;
    for (uint32_t i = 0; i < j->n_members; i++) {
        deployed &= j->members[i].state >= 0;
        all_ended &= j->members[i].state == RUNNEL__RPC__TASK_STATE__STATE__ENDED;
    }
    char why[1200];
    if (all_ended && !j->final_triggered && j->state == J_RUNNING) {
        /* every task ended: the final checkpoint, in place of any in flight */
        if (j->ck && !j->ck->final) {
            struct ck_pending *p = j->ck;
            j->ck = NULL;
            rn__ck_store_discard(j->store, p->dir);
            ck_pending_free(p);
        }
        j->final_triggered = true;
        if (ck_trigger(jm, j, false, NULL, false, true, 0, why, sizeof why)) attempt_failed(jm, j, why);
        return;
    }
    if (!j->ck && deployed && !j->stopping && !j->final_triggered) {
        struct sp_request *q = NULL;
        for (uint32_t i = 0; i < SP_REQUESTS && !q; i++)
            if (j->requests[i].id && !j->requests[i].done && !j->requests[i].triggered) q = &j->requests[i];
        if (q) {
            q->triggered = true;
            if (ck_trigger(jm, j, true, q->dir, q->stop, false, q->id, why, sizeof why)) {
                q->done = true;
                snprintf(q->error, sizeof q->error, "%s", why);
            }
        } else if (now >= j->ck_next_ms &&
                   ck_trigger(jm, j, false, NULL, false, false, 0, why, sizeof why)) {
            j->ck_failed++;
            j->ck_next_ms = now + ck_gap(j);
            rn_log(RN_LOG_WARN, &(struct rn_log_ctx){.job = j->id}, "checkpoint failed: %s", why);
        }
    }
    ck_arm(j);
}

/* Re-arms the job's timer for what comes next. */
static void ck_arm(struct job *j)
{
    if (!j->ck_timer) return;
    int64_t now = now_ms(), at = j->ck ? j->ck->start_ms + j->spec->checkpoint.timeout : j->ck_next_ms;
    int64_t ms = at - now;
    if (ms > 100) ms = 100;   /* ENDED reports and savepoint requests are looked at often */
    if (ms < 1) ms = 1;
    rn_rpc_timer_reset(j->ck_timer, (uint32_t)ms);
}

/* The attempt is over: what is in flight will not complete. */
static void ck_attempt_over(struct job *j)
{
    if (!j->ck) return;
    struct ck_pending *p = j->ck;
    j->ck = NULL;
    rn__ck_store_discard(j->store, p->dir);
    ck_record(j, p, false, "the attempt ended before it completed", 0);
    ck_pending_free(p);
}

/* ---- task managers ---- */

static void tm_lost(rn_jm *jm, struct tmgr *t, const char *why)
{
    rn_log(RN_LOG_WARN, &(struct rn_log_ctx){.peer = t->id}, "task manager lost: %s", why);
    jm->tm_lost++;
    for (struct job *j = jm->jobs; j; j = j->next) {
        if (j->state != J_RUNNING && j->state != J_CANCELLING && j->state != J_RESTARTING) continue;
        for (uint32_t i = 0; i < j->n_members; i++) {
            if (j->members[i].tm != t->serial) continue;
            if (j->state != J_RUNNING) {
                j->members[i].state = RUNNEL__RPC__TASK_STATE__STATE__CANCELLED;
            } else {
                char msg[600];
                snprintf(msg, sizeof msg, "task manager %s lost: %s", t->id, why);
                attempt_failed(jm, j, msg);
            }
            break;
        }
    }
    for (struct tmgr **p = &jm->tms; *p; p = &(*p)->next)
        if (*p == t) {
            *p = t->next;
            break;
        }
    free(t);
}

static void on_register(rn_jm *jm, rn_rpc_conn *c, const Runnel__Rpc__RegisterTaskManager *r)
{
    Runnel__Rpc__RegisterAck ack = RUNNEL__RPC__REGISTER_ACK__INIT;
    Runnel__Rpc__Envelope env = RUNNEL__RPC__ENVELOPE__INIT;
    env.msg_case = RUNNEL__RPC__ENVELOPE__MSG_REGISTER_ACK;
    env.register_ack = &ack;
    struct rn_error err;
    if (rn_rpc_conn_user(c) || !*r->id || strlen(r->id) >= 320 || !*r->data_host || strlen(r->data_host) >= 256 ||
        r->data_port == 0 || r->data_port > 65535 || r->slots == 0 || r->slots > 4096) {
        ack.reason = "a registration with a bad id, address or slot count";
        rn_rpc_send(c, &env, &err);
        rn_rpc_close(c);
        return;
    }
    /* the same task manager again (a reconnect): the old entry's attempts are its own */
    for (struct tmgr *t = jm->tms; t; t = t->next)
        if (!strcmp(t->id, r->id)) {
            if (t->conn) rn_rpc_close(t->conn);
            tm_lost(jm, t, "registered again");
            break;
        }
    struct tmgr *t = calloc(1, sizeof *t);
    if (!t) {
        rn_rpc_close(c);
        return;
    }
    t->serial = ++jm->next_serial;
    snprintf(t->id, sizeof t->id, "%s", r->id);
    snprintf(t->data_host, sizeof t->data_host, "%s", r->data_host);
    t->data_port = (uint16_t)r->data_port;
    t->slots = r->slots;
    t->pid = r->pid;
    t->conn = c;
    t->last_heartbeat_ms = t->registered_ms = now_ms();
    t->next = jm->tms;
    jm->tms = t;
    rn_rpc_conn_set_user(c, t);
    ack.accepted = true;
    ack.heartbeat_ms = jm->cfg.heartbeat_ms;
    rn_rpc_send(c, &env, &err);
    rn_log(RN_LOG_INFO, &(struct rn_log_ctx){.peer = t->id}, "task manager registered: %u slots, data port %s:%u",
           t->slots, t->data_host, t->data_port);
    /* attempts it still runs that this job manager does not know (it restarted): cancel them */
    for (size_t i = 0; i < r->n_running; i++) {
        struct job *j = job_by_id(jm, r->running[i]->job_id);
        if (j && j->attempt == r->running[i]->attempt && j->state == J_RUNNING) continue;
        send_cancel(c, r->running[i]->job_id, r->running[i]->attempt);
    }
    schedule_all(jm);
}

static void on_task_state(rn_jm *jm, struct tmgr *t, const Runnel__Rpc__TaskState *ts)
{
    struct job *j = job_by_id(jm, ts->job_id);
    if (!j || j->attempt != ts->attempt ||
        (j->state != J_RUNNING && j->state != J_CANCELLING && j->state != J_RESTARTING))
        return;
    struct member *m = NULL;
    for (uint32_t i = 0; i < j->n_members; i++)
        if (j->members[i].tm == t->serial) m = &j->members[i];
    if (!m) return;
    for (uint32_t i = 0; i < j->n_nodes && i < ts->n_rows_in && m->rows_in; i++) m->rows_in[i] = ts->rows_in[i];
    for (uint32_t i = 0; i < j->n_nodes && i < ts->n_rows_out && m->rows_out; i++) m->rows_out[i] = ts->rows_out[i];
    for (uint32_t i = 0; i < j->n_nodes && i < ts->n_out_wait_ms && m->out_wait_ms; i++) m->out_wait_ms[i] = ts->out_wait_ms[i];
    /* a member whose tasks ended stays so (a late periodic report does not take it back) */
    if (!(m->state == RUNNEL__RPC__TASK_STATE__STATE__ENDED && ts->state == RUNNEL__RPC__TASK_STATE__STATE__RUNNING))
        m->state = (int)ts->state;
    if (j->state == J_RESTARTING) {
        schedule_all(jm);   /* the old attempt stopped there: the new one may go */
        return;
    }
    if (ts->state == RUNNEL__RPC__TASK_STATE__STATE__ENDED) return;   /* the final checkpoint follows */
    bool failed = ts->state == RUNNEL__RPC__TASK_STATE__STATE__FAILED ||
                  (ts->state == RUNNEL__RPC__TASK_STATE__STATE__CANCELLED && !j->stopping);
    if (failed && j->state == J_RUNNING) {
        /* a task's failure may be the echo of a lost task manager (its network channels broke):
         * wait a moment for the loss to be noticed, which then names the cause */
        if (!j->fail_at_ms) {
            snprintf(j->fail_error, sizeof j->fail_error, "%.1000s",
                     ts->state == RUNNEL__RPC__TASK_STATE__STATE__CANCELLED ? "tasks were cancelled on a task manager"
                     : *ts->error                                          ? ts->error
                                                                           : "a task failed");
            j->fail_at_ms = now_ms() + FAIL_GRACE_MS;
            rn_rpc_timer_reset(jm->grace, FAIL_GRACE_MS);
        }
        return;
    }
    bool all_done = true, cancelling = j->state == J_CANCELLING || j->stopping;
    for (uint32_t i = 0; i < j->n_members; i++) {
        int st = j->members[i].state;
        all_done &= st == RUNNEL__RPC__TASK_STATE__STATE__FINISHED ||
                    (cancelling && (st == RUNNEL__RPC__TASK_STATE__STATE__FAILED || st == RUNNEL__RPC__TASK_STATE__STATE__CANCELLED));
    }
    if (!all_done) return;
    release_attempt(jm, j, false);
    end_job(jm, j, cancelling ? J_CANCELLED : J_FINISHED);
    schedule_all(jm);
}

static void rpc_message(rn_rpc_conn *c, const Runnel__Rpc__Envelope *msg, void *ctx)
{
    rn_jm *jm = ctx;
    struct tmgr *t = rn_rpc_conn_user(c);
    if (jm->closing) return;
    if (msg->msg_case == RUNNEL__RPC__ENVELOPE__MSG_REGISTER) {
        on_register(jm, c, msg->register_);
        return;
    }
    if (!t) {
        rn_log(RN_LOG_WARN, &(struct rn_log_ctx){.peer = rn_rpc_peer(c)}, "message %d before registering: closing",
               (int)msg->msg_case);
        rn_rpc_close(c);
        return;
    }
    t->last_heartbeat_ms = now_ms();
    switch (msg->msg_case) {
    case RUNNEL__RPC__ENVELOPE__MSG_HEARTBEAT:
        break;
    case RUNNEL__RPC__ENVELOPE__MSG_TASK_STATE:
        on_task_state(jm, t, msg->task_state);
        break;
    case RUNNEL__RPC__ENVELOPE__MSG_ACK:
        ck_on_ack(jm, t, msg->ack);
        break;
    case RUNNEL__RPC__ENVELOPE__MSG_DECLINE:
        ck_on_decline(jm, t, msg->decline);
        break;
    default:
        rn_log(RN_LOG_WARN, &(struct rn_log_ctx){.peer = t->id}, "unexpected message %d", (int)msg->msg_case);
        break;
    }
}

static void rpc_close(rn_rpc_conn *c, const char *reason, void *ctx)
{
    rn_jm *jm = ctx;
    struct tmgr *t = rn_rpc_conn_user(c);
    if (!t) return;
    t->conn = NULL;
    if (jm->closing) return;   /* rn_jm_destroy frees it */
    tm_lost(jm, t, reason);
    schedule_all(jm);
}

static const struct rn_rpc_callbacks rpc_callbacks = {NULL, rpc_message, rpc_close};

static void restart_due(void *arg) { schedule_all(arg); }

/* Reported failures whose grace passed without a lost task manager to explain them. */
static void failures_due(void *arg)
{
    rn_jm *jm = arg;
    int64_t now = now_ms(), next = 0;
    for (struct job *j = jm->jobs; j; j = j->next) {
        if (!j->fail_at_ms || j->state != J_RUNNING) continue;
        if (now >= j->fail_at_ms) attempt_failed(jm, j, j->fail_error);
        else if (!next || j->fail_at_ms < next) next = j->fail_at_ms;
    }
    if (next) rn_rpc_timer_reset(jm->grace, (uint32_t)(next - now));
    schedule_all(jm);
}

/* Every heartbeat interval: lost task managers, due restarts, rates. */
static void tick(void *arg)
{
    rn_jm *jm = arg;
    int64_t now = now_ms();
    for (struct tmgr *t = jm->tms, *next; t; t = next) {
        next = t->next;
        if (now - t->last_heartbeat_ms > (int64_t)jm->cfg.heartbeat_timeout_ms) {
            char why[128];
            snprintf(why, sizeof why, "no heartbeat for %" PRId64 " ms", now - t->last_heartbeat_ms);
            rn_rpc_conn *c = t->conn;
            rn_rpc_conn_set_user(c, NULL);
            t->conn = NULL;
            tm_lost(jm, t, why);
            rn_rpc_close(c);
        }
    }
    for (struct job *j = jm->jobs; j; j = j->next) {
        if (j->state != J_RUNNING) continue;
        double dt = j->prev_ms ? (double)(now - j->prev_ms) / 1000.0 : 0;
        for (uint32_t i = 0; i < j->n_nodes; i++) {
            uint64_t in, out, wait;
            vertex_totals(j, i, &in, &out, &wait);
            if (dt > 0) {
                j->rate_in[i] = in >= j->prev_in[i] ? (double)(in - j->prev_in[i]) / dt : 0;
                j->rate_out[i] = out >= j->prev_out[i] ? (double)(out - j->prev_out[i]) / dt : 0;
                double share = wait >= j->prev_wait[i] ? (double)(wait - j->prev_wait[i]) / (dt * 1000.0) : 0;
                uint32_t p = j->spec->nodes[i].parallelism ? j->spec->nodes[i].parallelism : 1;
                share /= p;
                j->bp[i] = share > 1 ? 1 : share;
            }
            j->prev_in[i] = in;
            j->prev_out[i] = out;
            j->prev_wait[i] = wait;
        }
        j->prev_ms = now;
    }
    schedule_all(jm);
}

/* ---- REST ---- */

static void reply_builder(rn_http_req *req, int status, struct rn_json_builder *b)
{
    const char *text;
    size_t len;
    if (rn_json_finish(b, &text, &len)) rn_http_reply_error(req, 500, "out of memory");
    else rn_http_reply_json(req, status, text, len);
    rn_json_release(b);
}

static uint32_t count_tms(const rn_jm *jm, uint32_t *slots, uint32_t *free_slots)
{
    uint32_t n = 0;
    *slots = *free_slots = 0;
    for (const struct tmgr *t = jm->tms; t; t = t->next) {
        n++;
        *slots += t->slots;
        *free_slots += t->slots - t->used;
    }
    return n;
}

static void count_by_state(const rn_jm *jm, uint32_t by_state[N_STATES])
{
    memset(by_state, 0, N_STATES * sizeof *by_state);
    for (const struct job *j = jm->jobs; j; j = j->next) by_state[j->state]++;
}

static void get_overview(rn_http_req *req, void *arg)
{
    rn_jm *jm = arg;
    uint32_t slots, free_slots, n = count_tms(jm, &slots, &free_slots);
    uint32_t by_state[N_STATES];
    count_by_state(jm, by_state);
    struct rn_json_builder b;
    rn_json_init(&b);
    rn_json_obj_begin(&b);
    rn_json_kstr(&b, "version", RN_VERSION);
    rn_json_kuint(&b, "taskmanagers", n);
    rn_json_kuint(&b, "slots_total", slots);
    rn_json_kuint(&b, "slots_available", free_slots);
    rn_json_kuint(&b, "jobs_running", by_state[J_RUNNING] + by_state[J_RESTARTING] + by_state[J_CREATED] + by_state[J_CANCELLING]);
    rn_json_kuint(&b, "jobs_finished", by_state[J_FINISHED]);
    rn_json_kuint(&b, "jobs_cancelled", by_state[J_CANCELLED]);
    rn_json_kuint(&b, "jobs_failed", by_state[J_FAILED]);
    rn_json_obj_end(&b);
    reply_builder(req, 200, &b);
}

static int64_t duration_of(const struct job *j)
{
    return (j->end_ms > 0 ? j->end_ms : now_ms()) - j->start_ms;
}

static void get_jobs(rn_http_req *req, void *arg)
{
    rn_jm *jm = arg;
    struct rn_json_builder b;
    rn_json_init(&b);
    rn_json_obj_begin(&b);
    rn_json_karr_begin(&b, "jobs");
    for (const struct job *j = jm->jobs; j; j = j->next) {
        rn_json_obj_begin(&b);
        rn_json_kstr(&b, "id", j->id);
        rn_json_kstr(&b, "name", j->name);
        rn_json_kstr(&b, "state", state_names[j->state]);
        rn_json_kint(&b, "start_time", j->start_ms);
        rn_json_kint(&b, "end_time", j->end_ms > 0 ? j->end_ms : -1);
        rn_json_kint(&b, "duration", duration_of(j));
        rn_json_obj_end(&b);
    }
    rn_json_arr_end(&b);
    rn_json_obj_end(&b);
    reply_builder(req, 200, &b);
}

static void random_id(char out[33])
{
    unsigned char r[16];
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    ssize_t got = fd >= 0 ? read(fd, r, sizeof r) : -1;
    if (fd >= 0) close(fd);
    if (got != (ssize_t)sizeof r) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t x = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ (uint64_t)getpid() << 40;
        for (int i = 0; i < 16; i++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            r[i] = (unsigned char)(x >> 56);
        }
    }
    for (int i = 0; i < 16; i++) snprintf(out + 2 * i, 3, "%02x", r[i]);
}

/* A file name for messages: the basename the client gave, printable, else "job.yaml". */
static void job_file_name(const char *given, char *out, size_t len)
{
    const char *base = given ? strrchr(given, '/') : NULL;
    base = base ? base + 1 : given;
    bool ok = base && *base && strlen(base) < 200;
    for (const char *p = base; ok && *p; p++) ok = (unsigned char)*p > 32 && *p != '"' && *p != '\\' && (unsigned char)*p < 127;
    snprintf(out, len, "%s", ok ? base : "job.yaml");
}

/* A restore directory named by a request: inside checkpoints.dir or savepoints.dir (whichever
 * holds it), then the newest usable checkpoint there (rn_checkpoint_resolve). 0, or replied. */
static int resolve_restore(rn_jm *jm, const char *given, char *out, size_t len, rn_http_req *req)
{
    const char *bases[2] = {jm->cfg.checkpoints_dir, jm->cfg.savepoints_dir};
    char safe[4096], why[600] = "no checkpoints.dir or savepoints.dir is configured for restores";
    bool found = false;
    for (int i = 0; i < 2 && !found; i++) {
        if (!bases[i] || !*bases[i]) continue;
        struct rn_error err;
        if (rn_http_safe_path(bases[i], given, safe, sizeof safe, &err) == 0) found = true;
        else snprintf(why, sizeof why, "%s", err.msg);
    }
    if (!found) {
        rn_http_reply_error(req, 400, "restore %s refused: %s", given, why);
        return RN_EINVAL;
    }
    struct rn_error err;
    if (rn_checkpoint_resolve(safe, out, len, NULL, &err)) {
        rn_http_reply_error(req, 400, "%s", err.msg);
        return RN_EINVAL;
    }
    return 0;
}

static void post_jobs(rn_http_req *req, void *arg)
{
    rn_jm *jm = arg;
    size_t len;
    const char *body = rn_http_body(req, &len);
    char file[256];
    job_file_name(rn_http_query(req, "file"), file, sizeof file);
    /* a restore names a directory: it must be inside the configured checkpoint or savepoint
     * directory (no request reaches other paths) */
    const char *restore = rn_http_query(req, "restore");
    char from[4096] = "";
    if (restore && resolve_restore(jm, restore, from, sizeof from, req)) return;
    struct rn_job *spec = NULL;
    struct rn_job_errors errs = {0};
    if (len == 0 || rn_job_parse(file, body, len, jm->cfg.registry, &spec, &errs)) {
        struct rn_json_builder b;
        rn_json_init(&b);
        rn_json_obj_begin(&b);
        rn_json_karr_begin(&b, "errors");
        if (len == 0) {
            rn_json_obj_begin(&b);
            rn_json_kstr(&b, "file", file);
            rn_json_kint(&b, "line", 0);
            rn_json_kint(&b, "column", 0);
            rn_json_kstr(&b, "message", "the request has no job file in its body");
            rn_json_obj_end(&b);
        }
        for (size_t i = 0; i < errs.n; i++) {
            rn_json_obj_begin(&b);
            rn_json_kstr(&b, "file", errs.items[i].file ? errs.items[i].file : file);
            rn_json_kint(&b, "line", errs.items[i].line);
            rn_json_kint(&b, "column", errs.items[i].column);
            if (errs.items[i].node) rn_json_kstr(&b, "operator", errs.items[i].node);
            rn_json_kstr(&b, "message", errs.items[i].msg);
            rn_json_obj_end(&b);
        }
        rn_json_arr_end(&b);
        rn_json_obj_end(&b);
        rn_job_errors_free(&errs);
        reply_builder(req, 400, &b);
        return;
    }
    if (spec->checkpoint.enabled && (!spec->checkpoint.dir || spec->checkpoint.dir[0] != '/')) {
        rn_job_free(spec);
        rn_http_reply_error(req, 400,
                            "%s: checkpoint dir must be an absolute path (or file:///...) on a job manager: every "
                            "process must reach the same storage",
                            file);
        return;
    }
    if (from[0] && !spec->checkpoint.enabled) {
        rn_job_free(spec);
        rn_http_reply_error(req, 400, "%s: a restore needs a job with a checkpoint block", file);
        return;
    }
    struct rn_ck_store *store = NULL;
    char id[33];
    random_id(id);
    FILE *log = NULL;   /* the store's lines (retention), with the job on them */
    if (spec->checkpoint.enabled) {
        struct rn_error err;
        log = rn_log_stream(RN_LOG_INFO, &(struct rn_log_ctx){.job = id});
        if (rn__ck_store_open(spec->checkpoint.dir, spec->name, spec->checkpoint.retain, log ? log : stderr, &store, &err)) {
            if (log) fclose(log);
            rn_job_free(spec);
            rn_http_reply_error(req, 409, "%s: %s", file, err.msg);
            return;
        }
        if (from[0]) {
            struct rn_checkpoint_info info;
            if (rn_checkpoint_read_info(from, &info, &err)) {
                rn__ck_store_close(store);
                if (log) fclose(log);
                rn_job_free(spec);
                rn_http_reply_error(req, 400, "%s", err.msg);
                return;
            }
        }
    }
    struct job *j = calloc(1, sizeof *j);
    uint32_t n = spec->n_nodes ? spec->n_nodes : 1;
    if (!j || !(j->name = strdup(spec->name)) || !(j->file = strdup(file)) || !(j->yaml = malloc(len)) ||
        !(j->chain_of = calloc(n, sizeof *j->chain_of)) || !(j->chain_par = calloc(n, sizeof *j->chain_par)) ||
        !(j->prev_in = calloc(n, 8)) || !(j->prev_out = calloc(n, 8)) || !(j->prev_wait = calloc(n, 8)) ||
        !(j->rate_in = calloc(n, sizeof(double))) || !(j->rate_out = calloc(n, sizeof(double))) ||
        !(j->bp = calloc(n, sizeof(double)))) {
        job_free(j);
        rn_job_free(spec);
        rn__ck_store_close(store);
        if (log) fclose(log);
        rn_http_reply_error(req, 500, "out of memory");
        return;
    }
    j->jm = jm;
    j->store = store;
    j->log = log;
    memcpy(j->id, id, sizeof id);
    snprintf(j->restore_from, sizeof j->restore_from, "%s", from);
    snprintf(j->restored, sizeof j->restored, "%s", from);
    if (store) {
        j->ck_last_id = rn__ck_store_max_id(store);
        struct rn_checkpoint_info info;
        struct rn_error err;
        if (from[0] && !rn_checkpoint_read_info(from, &info, &err) && info.id > j->ck_last_id) j->ck_last_id = info.id;
        j->ck_timer = rn_rpc_timer_start(jm->loop, 1000, false, ck_fire, j, &err);
    }
    memcpy(j->yaml, body, len);
    j->yaml_len = len;
    j->spec = spec;
    j->n_nodes = spec->n_nodes;
    j->n_chains = rn_runner_plan(spec, j->chain_of, j->chain_par);
    for (uint32_t c = 0; c < j->n_chains; c++)
        if (j->chain_par[c] > j->slots_needed) j->slots_needed = j->chain_par[c];
    j->state = J_CREATED;
    j->start_ms = now_ms();
    j->next = jm->jobs;
    jm->jobs = j;
    jm->submitted++;
    rn_log(RN_LOG_INFO, &(struct rn_log_ctx){.job = j->id}, "job '%s' submitted (%s): %u chain(s), %u slot(s)", j->name,
           file, j->n_chains, j->slots_needed);
    try_schedule(jm, j);
    struct rn_json_builder b;
    rn_json_init(&b);
    rn_json_obj_begin(&b);
    rn_json_kstr(&b, "id", j->id);
    rn_json_obj_end(&b);
    reply_builder(req, 202, &b);
}

static struct job *job_of(rn_jm *jm, rn_http_req *req)
{
    struct job *j = job_by_id(jm, rn_http_param(req, "id"));
    if (!j) rn_http_reply_error(req, 404, "no job %s", rn_http_param(req, "id"));
    return j;
}

static void get_job(rn_http_req *req, void *arg)
{
    rn_jm *jm = arg;
    struct job *j = job_of(jm, req);
    if (!j) return;
    struct rn_json_builder b;
    rn_json_init(&b);
    rn_json_obj_begin(&b);
    rn_json_kstr(&b, "id", j->id);
    rn_json_kstr(&b, "name", j->name);
    rn_json_kstr(&b, "file", j->file);
    rn_json_kstr(&b, "state", state_names[j->state]);
    rn_json_kuint(&b, "attempt", j->attempt);
    rn_json_kuint(&b, "restarts", j->attempt > 1 ? j->attempt - 1 : 0);
    rn_json_kint(&b, "start_time", j->start_ms);
    rn_json_kint(&b, "end_time", j->end_ms > 0 ? j->end_ms : -1);
    rn_json_kint(&b, "duration", duration_of(j));
    if (j->error[0]) rn_json_kstr(&b, "error", j->error);
    else rn_json_knull(&b, "error");
    rn_json_kuint(&b, "slots", j->slots_needed);
    rn_json_karr_begin(&b, "taskmanagers");
    for (uint32_t m = 0; m < j->n_members; m++) {
        struct tmgr *t = tm_by_serial(jm, j->members[m].tm);
        rn_json_str(&b, t ? t->id : "(lost)");
    }
    rn_json_arr_end(&b);
    rn_json_karr_begin(&b, "vertices");
    for (uint32_t i = 0; i < j->n_nodes; i++) {
        const struct rn_job_node *nd = &j->spec->nodes[i];
        uint64_t in, out, wait;
        vertex_totals(j, i, &in, &out, &wait);
        rn_json_obj_begin(&b);
        rn_json_kstr(&b, "id", nd->id);
        rn_json_kstr(&b, "type", nd->def ? nd->def->name : "?");
        rn_json_kuint(&b, "parallelism", nd->parallelism);
        rn_json_kuint(&b, "chain", j->chain_of[i]);
        rn_json_kuint(&b, "rows_in", in);
        rn_json_kuint(&b, "rows_out", out);
        bool live = j->state == J_RUNNING;
        rn_json_kdouble(&b, "rows_in_per_s", live ? j->rate_in[i] : 0);
        rn_json_kdouble(&b, "rows_out_per_s", live ? j->rate_out[i] : 0);
        rn_json_kdouble(&b, "backpressured", live ? j->bp[i] : 0);
        rn_json_obj_end(&b);
    }
    rn_json_arr_end(&b);
    rn_json_obj_end(&b);
    reply_builder(req, 200, &b);
}

static void patch_job(rn_http_req *req, void *arg)
{
    rn_jm *jm = arg;
    struct job *j = job_of(jm, req);
    if (!j) return;
    const char *mode = rn_http_query(req, "mode");
    if (mode && strcmp(mode, "cancel")) {
        rn_http_reply_error(req, 400, "mode must be cancel");
        return;
    }
    if (ended(j)) {
        rn_http_reply_error(req, 409, "job %s has ended (%s)", j->id, state_names[j->state]);
        return;
    }
    rn_log(RN_LOG_INFO, &(struct rn_log_ctx){.job = j->id}, "cancelling job '%s'", j->name);
    if (j->state == J_RUNNING) {
        j->state = J_CANCELLING;
        release_attempt(jm, j, true);
        /* the slots are free now; the members report CANCELLED (or are lost) */
        for (uint32_t m = 0; m < j->n_members; m++) j->members[m].slots = 0;
        bool pending = false;
        for (uint32_t m = 0; m < j->n_members; m++)
            pending |= j->members[m].state < RUNNEL__RPC__TASK_STATE__STATE__FINISHED && tm_by_serial(jm, j->members[m].tm);
        if (!pending) end_job(jm, j, J_CANCELLED);
    } else if (j->state != J_CANCELLING) {
        end_job(jm, j, J_CANCELLED);
    }
    rn_http_reply_json(req, 202, "{}", 2);
    schedule_all(jm);
}

static void ck_record_json(struct rn_json_builder *b, const struct ck_record *r)
{
    rn_json_obj_begin(b);
    rn_json_kint(b, "id", r->id);
    rn_json_kstr(b, "kind", r->savepoint ? "savepoint" : "checkpoint");
    rn_json_kstr(b, "status", r->ok ? "COMPLETED" : "FAILED");
    rn_json_kint(b, "time", r->time_ms);
    rn_json_kdouble(b, "duration_ms", r->duration_ms);
    if (r->ok) {
        rn_json_kstr(b, "path", r->path);
        rn_json_kdouble(b, "sync_pause_ms", r->sync_ms);
        rn_json_kuint(b, "size", r->bytes);
        rn_json_kuint(b, "written", r->written);
    } else {
        rn_json_kstr(b, "error", r->error);
    }
    rn_json_obj_end(b);
}

static void get_checkpoints(rn_http_req *req, void *arg)
{
    rn_jm *jm = arg;
    struct job *j = job_of(jm, req);
    if (!j) return;
    struct rn_json_builder b;
    rn_json_init(&b);
    rn_json_obj_begin(&b);
    rn_json_kbool(&b, "enabled", j->spec->checkpoint.enabled);
    rn_json_kobj_begin(&b, "counts");
    rn_json_kuint(&b, "completed", j->ck_completed);
    rn_json_kuint(&b, "failed", j->ck_failed);
    rn_json_kuint(&b, "in_progress", j->ck ? 1 : 0);
    rn_json_obj_end(&b);
    const struct ck_record *latest = NULL;
    uint32_t n = j->n_history < CK_HISTORY ? j->n_history : CK_HISTORY;
    for (uint32_t i = 0; i < n && !latest; i++) {
        const struct ck_record *r = &j->history[(j->n_history - 1 - i) % CK_HISTORY];
        if (r->ok) latest = r;
    }
    rn_json_key(&b, "latest");
    if (latest) ck_record_json(&b, latest);
    else rn_json_null(&b);
    if (j->ck) {
        rn_json_kobj_begin(&b, "in_flight");
        rn_json_kint(&b, "id", j->ck->id);
        rn_json_kstr(&b, "kind", j->ck->savepoint ? "savepoint" : j->ck->final ? "final checkpoint" : "checkpoint");
        rn_json_kuint(&b, "acknowledged", j->ck->acks);
        rn_json_kuint(&b, "taskmanagers", j->n_members);
        rn_json_obj_end(&b);
    }
    rn_json_karr_begin(&b, "history");   /* newest first */
    for (uint32_t i = 0; i < n; i++) ck_record_json(&b, &j->history[(j->n_history - 1 - i) % CK_HISTORY]);
    rn_json_arr_end(&b);
    if (j->restored[0]) rn_json_kstr(&b, "restored", j->restored);
    else rn_json_knull(&b, "restored");
    rn_json_obj_end(&b);
    reply_builder(req, 200, &b);
}

/* POST /jobs/{id}/savepoints and /stop: {"target_directory": DIR} (optional; inside
 * savepoints.dir). The savepoint goes after the checkpoint in flight; 202 with a request id to
 * poll. */
static void request_savepoint(rn_jm *jm, rn_http_req *req, bool stop)
{
    struct job *j = job_of(jm, req);
    if (!j) return;
    if (!j->spec->checkpoint.enabled) {
        rn_http_reply_error(req, 409, "job %s takes no checkpoints (it has no checkpoint block), so no savepoints", j->id);
        return;
    }
    if (j->state != J_RUNNING || j->stopping || j->final_triggered) {
        rn_http_reply_error(req, 409, "job %s is %s", j->id, j->stopping || j->final_triggered ? "finishing" : state_names[j->state]);
        return;
    }
    size_t len;
    const char *body = rn_http_body(req, &len);
    char dir[4096] = "";
    if (len) {
        rn_json_doc *doc = NULL;
        struct rn_error err;
        if (rn_json_parse(body, len, NULL, &doc, &err)) {
            rn_http_reply_error(req, 400, "the body is not JSON: %s", err.msg);
            return;
        }
        const rn_json *root = rn_json_root(doc);
        const rn_json *t = rn_json_get(root, "target_directory");
        const char *target = t && !rn_json_is_null(t) ? rn_json_as_str(t, NULL) : NULL;
        if (rn_json_type_of(root) != RN_JSON_OBJECT || (t && !rn_json_is_null(t) && !target)) {
            rn_json_doc_free(doc);
            rn_http_reply_error(req, 400, "the body must be {\"target_directory\": \"...\"}");
            return;
        }
        int rc = 0;
        if (target && (!jm->cfg.savepoints_dir || !*jm->cfg.savepoints_dir)) {
            rn_http_reply_error(req, 400, "a target directory needs savepoints.dir configured on the job manager");
            rc = RN_EINVAL;
        } else if (target && rn_http_safe_path(jm->cfg.savepoints_dir, target, dir, sizeof dir, &err)) {
            rn_http_reply_error(req, 400, "target directory %s refused: %s", target, err.msg);
            rc = RN_EINVAL;
        }
        rn_json_doc_free(doc);
        if (rc) return;
    }
    uint32_t id = ++j->next_request;
    struct sp_request *q = &j->requests[id % SP_REQUESTS];
    memset(q, 0, sizeof *q);
    q->id = id;
    q->stop = stop;
    snprintf(q->dir, sizeof q->dir, "%s", dir);
    if (j->ck_timer) rn_rpc_timer_reset(j->ck_timer, 1);
    char body_out[64];
    int n = snprintf(body_out, sizeof body_out, "{\"request\":\"%x\"}", id);
    rn_http_reply_json(req, 202, body_out, (size_t)n);
}

static void post_savepoint(rn_http_req *req, void *arg) { request_savepoint(arg, req, false); }
static void post_stop(rn_http_req *req, void *arg) { request_savepoint(arg, req, true); }

static void get_savepoint(rn_http_req *req, void *arg)
{
    rn_jm *jm = arg;
    struct job *j = job_of(jm, req);
    if (!j) return;
    unsigned long id = strtoul(rn_http_param(req, "request"), NULL, 16);
    struct sp_request *q = id && id <= UINT32_MAX ? request_of(j, (uint32_t)id) : NULL;
    if (!q) {
        rn_http_reply_error(req, 404, "no savepoint request %s for job %s", rn_http_param(req, "request"), j->id);
        return;
    }
    struct rn_json_builder b;
    rn_json_init(&b);
    rn_json_obj_begin(&b);
    rn_json_kstr(&b, "status", !q->done ? "IN_PROGRESS" : q->ok ? "COMPLETED" : "FAILED");
    if (q->done && q->ok) rn_json_kstr(&b, "path", q->path);
    if (q->done && !q->ok) rn_json_kstr(&b, "error", q->error);
    rn_json_kbool(&b, "stop", q->stop);
    rn_json_obj_end(&b);
    reply_builder(req, 200, &b);
}

static void get_taskmanagers(rn_http_req *req, void *arg)
{
    rn_jm *jm = arg;
    int64_t now = now_ms();
    struct rn_json_builder b;
    rn_json_init(&b);
    rn_json_obj_begin(&b);
    rn_json_karr_begin(&b, "taskmanagers");
    for (const struct tmgr *t = jm->tms; t; t = t->next) {
        rn_json_obj_begin(&b);
        rn_json_kstr(&b, "id", t->id);
        rn_json_kstr(&b, "address", t->conn ? rn_rpc_peer(t->conn) : "");
        rn_json_kstr(&b, "data_host", t->data_host);
        rn_json_kuint(&b, "data_port", t->data_port);
        rn_json_kuint(&b, "slots", t->slots);
        rn_json_kuint(&b, "slots_free", t->slots - t->used);
        rn_json_kuint(&b, "pid", t->pid);
        rn_json_kint(&b, "last_heartbeat_ms_ago", now - t->last_heartbeat_ms);
        rn_json_kint(&b, "registered_time", t->registered_ms);
        rn_json_obj_end(&b);
    }
    rn_json_arr_end(&b);
    rn_json_obj_end(&b);
    reply_builder(req, 200, &b);
}

static void get_metrics(rn_http_req *req, void *arg)
{
    rn_jm *jm = arg;
    uint32_t slots, free_slots, n = count_tms(jm, &slots, &free_slots);
    uint32_t by_state[N_STATES];
    count_by_state(jm, by_state);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) {
        rn_http_reply_error(req, 500, "out of memory");
        return;
    }
    fprintf(f, "# HELP runnel_taskmanagers Task managers registered.\n# TYPE runnel_taskmanagers gauge\n"
               "runnel_taskmanagers %u\n", n);
    fprintf(f, "# HELP runnel_slots Task slots, by whether they are free.\n# TYPE runnel_slots gauge\n"
               "runnel_slots{state=\"total\"} %u\nrunnel_slots{state=\"free\"} %u\n", slots, free_slots);
    fprintf(f, "# HELP runnel_jobs Jobs known, by state.\n# TYPE runnel_jobs gauge\n");
    for (int s = 0; s < N_STATES; s++) fprintf(f, "runnel_jobs{state=\"%s\"} %u\n", state_names[s], by_state[s]);
    fprintf(f, "# HELP runnel_jobs_submitted_total Jobs submitted.\n# TYPE runnel_jobs_submitted_total counter\n"
               "runnel_jobs_submitted_total %" PRIu64 "\n", jm->submitted);
    fprintf(f, "# HELP runnel_taskmanagers_lost_total Task managers lost.\n# TYPE runnel_taskmanagers_lost_total counter\n"
               "runnel_taskmanagers_lost_total %" PRIu64 "\n", jm->tm_lost);
    fprintf(f, "# HELP runnel_job_restarts Restarts of a job.\n# TYPE runnel_job_restarts gauge\n");
    for (const struct job *j = jm->jobs; j; j = j->next)
        if (!ended(j)) fprintf(f, "runnel_job_restarts{job=\"%s\"} %u\n", j->id, j->attempt > 1 ? j->attempt - 1 : 0);
    static const char *const names[] = {"rows_in", "rows_out"};
    for (int k = 0; k < 2; k++) {
        fprintf(f, "# HELP runnel_vertex_%s_total Rows %s a vertex, over its subtasks.\n# TYPE runnel_vertex_%s_total counter\n",
                names[k], k ? "out of" : "into", names[k]);
        for (const struct job *j = jm->jobs; j; j = j->next) {
            if (j->state != J_RUNNING) continue;
            for (uint32_t i = 0; i < j->n_nodes; i++) {
                uint64_t in, out, wait;
                vertex_totals(j, i, &in, &out, &wait);
                uint64_t v = k ? out : in;
                /* node ids are [A-Za-z0-9_-] (job-spec), safe in a label */
                fprintf(f, "runnel_vertex_%s_total{job=\"%s\",vertex=\"%s\"} %" PRIu64 "\n", names[k], j->id,
                        j->spec->nodes[i].id, v);
            }
        }
    }
    fprintf(f, "# HELP runnel_vertex_backpressured Share of the last interval a vertex's subtasks were blocked sending.\n"
               "# TYPE runnel_vertex_backpressured gauge\n");
    for (const struct job *j = jm->jobs; j; j = j->next)
        if (j->state == J_RUNNING)
            for (uint32_t i = 0; i < j->n_nodes; i++)
                fprintf(f, "runnel_vertex_backpressured{job=\"%s\",vertex=\"%s\"} %.3f\n", j->id, j->spec->nodes[i].id, j->bp[i]);
    fclose(f);
    rn_http_reply_text(req, 200, "text/plain; version=0.0.4; charset=utf-8", buf);
    free(buf);
}

struct route {
    const char *method, *pattern;
    rn_http_handler fn;
};

static const struct route routes[] = {
    {"GET", "/overview", get_overview},
    {"GET", "/jobs", get_jobs},
    {"POST", "/jobs", post_jobs},
    {"GET", "/jobs/{id:" RN_HTTP_HEX32 "}", get_job},
    {"PATCH", "/jobs/{id:" RN_HTTP_HEX32 "}", patch_job},
    {"GET", "/jobs/{id:" RN_HTTP_HEX32 "}/checkpoints", get_checkpoints},
    {"POST", "/jobs/{id:" RN_HTTP_HEX32 "}/savepoints", post_savepoint},
    {"GET", "/jobs/{id:" RN_HTTP_HEX32 "}/savepoints/{request:" RN_HTTP_HEX1_32 "}", get_savepoint},
    {"POST", "/jobs/{id:" RN_HTTP_HEX32 "}/stop", post_stop},
    {"GET", "/taskmanagers", get_taskmanagers},
    {"GET", "/metrics", get_metrics},
};

/* ---- life cycle ---- */

struct setup {
    rn_jm *jm;
    struct rn_error *err;
    int rc;
};

/* On the loop thread: the REST server (evhttp on the loop's event_base) and its routes. */
static void setup_http(void *arg)
{
    struct setup *s = arg;
    rn_jm *jm = s->jm;
    struct rn_http_config hc = {.host = jm->cfg.rest_bind, .port = jm->cfg.rest_port, .token = jm->cfg.rest_token,
                                .max_body = jm->cfg.rest_max_body};
    jm->http = rn_http_server_create(rn_rpc_loop_base(jm->loop), &hc, s->err);
    if (!jm->http) {
        s->rc = s->err->code ? s->err->code : RN_EIO;
        return;
    }
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
        if ((s->rc = rn_http_route(jm->http, routes[i].method, routes[i].pattern, routes[i].fn, jm, s->err))) return;
}

static void teardown(void *arg)
{
    rn_jm *jm = arg;
    jm->closing = true;
    rn_http_server_destroy(jm->http);
    jm->http = NULL;
    for (struct job *j = jm->jobs; j; j = j->next) {
        if (j->state == J_RUNNING) release_attempt(jm, j, true);
        /* timers belong to the loop, which goes next */
        rn_rpc_timer_stop(j->ck_timer);
        j->ck_timer = NULL;
    }
}

rn_jm *rn_jm_create(const struct rn_jm_config *cfg, struct rn_error *err)
{
    rn_jm *jm = calloc(1, sizeof *jm);
    if (!jm) {
        rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory");
        return NULL;
    }
    jm->cfg = *cfg;
    if (!jm->cfg.heartbeat_ms) jm->cfg.heartbeat_ms = 1000;
    if (!jm->cfg.heartbeat_timeout_ms) jm->cfg.heartbeat_timeout_ms = 5000;
    jm->rpc_log = rn_log_stream(RN_LOG_WARN, NULL);
    jm->loop = rn_rpc_loop_create(jm->rpc_log, err);
    if (!jm->loop) goto fail;
    jm->rpc = rn_rpc_server_create(jm->loop, cfg->rpc_bind, cfg->rpc_port, &rpc_callbacks, jm, err);
    if (!jm->rpc) goto fail;
    struct setup s = {jm, err, 0};
    if (rn_rpc_loop_call_wait(jm->loop, setup_http, &s) || s.rc) goto fail;
    jm->tick = rn_rpc_timer_start(jm->loop, jm->cfg.heartbeat_ms, true, tick, jm, err);
    if (!jm->tick) goto fail;
    jm->restart = rn_rpc_timer_start(jm->loop, 3600000, false, restart_due, jm, err);
    if (!jm->restart) goto fail;
    jm->grace = rn_rpc_timer_start(jm->loop, 3600000, false, failures_due, jm, err);
    if (!jm->grace) goto fail;
    rn_log(RN_LOG_INFO, NULL, "job manager: RPC on %s:%u, REST on http://%s:%u%s", cfg->rpc_bind ? cfg->rpc_bind : "127.0.0.1",
           rn_rpc_server_port(jm->rpc), cfg->rest_bind ? cfg->rest_bind : "127.0.0.1", rn_http_server_port(jm->http),
           cfg->rest_token && *cfg->rest_token ? " (token required)" : "");
    return jm;
fail:
    rn_jm_destroy(jm);
    return NULL;
}

uint16_t rn_jm_rpc_port(const rn_jm *jm) { return rn_rpc_server_port(jm->rpc); }
uint16_t rn_jm_rest_port(const rn_jm *jm) { return rn_http_server_port(jm->http); }

void rn_jm_destroy(rn_jm *jm)
{
    if (!jm) return;
    if (jm->loop) {
        rn_rpc_timer_stop(jm->tick);
        rn_rpc_timer_stop(jm->restart);
        rn_rpc_timer_stop(jm->grace);
        rn_rpc_loop_call_wait(jm->loop, teardown, jm);
        rn_rpc_server_destroy(jm->rpc);
        rn_rpc_loop_destroy(jm->loop);
    }
    if (jm->rpc_log) fclose(jm->rpc_log);
    while (jm->tms) {
        struct tmgr *t = jm->tms;
        jm->tms = t->next;
        free(t);
    }
    while (jm->jobs) {
        struct job *j = jm->jobs;
        jm->jobs = j->next;
        job_free(j);
    }
    free(jm);
}
