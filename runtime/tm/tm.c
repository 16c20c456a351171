/*
 * tm.c — the task manager (tm.h). State lives on the RPC loop's thread: the connection to the
 * job manager, and the attempts it runs. An attempt is a runner over the job file the job
 * manager sent, with a placement naming the tasks placed here and network channels to the
 * others (channel ids from the job id, the attempt and the channel's index, so both ends name a
 * channel alike). One watcher thread per attempt waits for its runner's end and hands the end
 * back to the loop, which reports it, destroys the runner (its threads are done by then) and
 * frees the slots.
 *
 * Assumes every process has the same operators (built-ins and the same plugins), so that the
 * job file plans to the same execution graph everywhere.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "net/net.h"
#include "rpc/rpc.h"
#include "runnel/runner.h"
#include "tm.h"

#define RECONNECT_MS 1000
#define NET_QUEUE_FACTOR 4   /* a network input queues this many times the channel capacity */

struct peer {
    char host[256];
    uint16_t port;
};

struct attempt {
    struct attempt *next;
    struct rn_tm *tm;
    char job_id[64];
    char task_name[64];
    uint32_t attempt;
    struct rn_job *job;
    rn_runner *runner;
    FILE *log;
    /* placement: task (chain, subtask) -> peer index, chain-major */
    uint32_t n_chains, *chain_base, *where, self;
    struct peer *peers;
    uint32_t n_peers;
    struct rn_run_placement placement;
    struct rn_run_coordinator coordinator;    /* jobs with checkpoints: the job manager's */
    pthread_t watcher;
    bool watching;
    bool ended;                   /* its end was reported */
    bool inputs_ended;            /* every task here ended its input (reported ENDED, not RUNNING) */
};

struct rn_tm {
    struct rn_tm_config cfg;
    char name[64], id[320], data_host[256];
    rn_net *net;
    rn_rpc_loop *loop;
    FILE *wire_log;               /* the data plane's and the RPC's lines, as structured log lines */
    rn_rpc_conn *jm;              /* our reference; NULL while disconnected */
    bool registered;
    rn_rpc_timer *heartbeat, *reconnect;
    uint32_t heartbeat_ms;
    struct attempt *attempts;
    _Atomic bool closing;
};

static struct rn_log_ctx ctx_of(const struct attempt *a)
{
    return (struct rn_log_ctx){.job = a ? a->job_id : NULL};
}

uint64_t rn_tm_channel_id(const char *job_id, uint32_t attempt, uint32_t index)
{
    uint32_t h = 2166136261u;   /* FNV-1a of the job id */
    for (const char *p = job_id; *p; p++) h = (h ^ (uint8_t)*p) * 16777619u;
    return ((uint64_t)(h & 0xffffffu) << 40) | ((uint64_t)(attempt & 0xffffu) << 24) | (index & 0xffffffu);
}

/* ---- messages to the job manager ---- */

static void send_jm(rn_tm *tm, Runnel__Rpc__Envelope *env)
{
    struct rn_error err;
    if (tm->jm && tm->registered && rn_rpc_send(tm->jm, env, &err))
        rn_log(RN_LOG_WARN, NULL, "cannot send to the job manager: %s", err.msg);
}

/* Tells the job manager the state of attempt `attempt` of job_id here, with n counters per node
 * (n 0: none). */
static void send_state(rn_tm *tm, const char *job_id, uint32_t attempt, Runnel__Rpc__TaskState__State state,
                       const char *error, uint32_t n, uint64_t *in, uint64_t *out, uint64_t *wait)
{
    Runnel__Rpc__TaskState ts = RUNNEL__RPC__TASK_STATE__INIT;
    ts.job_id = (char *)job_id;
    ts.attempt = attempt;
    ts.state = state;
    ts.error = (char *)(error ? error : "");
    ts.n_rows_in = ts.n_rows_out = ts.n_out_wait_ms = n;
    ts.rows_in = in;
    ts.rows_out = out;
    ts.out_wait_ms = wait;
    Runnel__Rpc__Envelope env = RUNNEL__RPC__ENVELOPE__INIT;
    env.msg_case = RUNNEL__RPC__ENVELOPE__MSG_TASK_STATE;
    env.task_state = &ts;
    send_jm(tm, &env);
}

/* Reports an attempt's state with its counters per node (those of the subtasks here). */
static void report(rn_tm *tm, struct attempt *a, Runnel__Rpc__TaskState__State state, const char *error)
{
    uint32_t n = a->job ? a->job->n_nodes : 0;
    uint64_t *in = calloc(n ? n : 1, sizeof *in), *out = calloc(n ? n : 1, sizeof *out), *wait = calloc(n ? n : 1, sizeof *wait);
    if (in && out && wait) {
        for (uint32_t i = 0; a->runner && i < n; i++) {
            rn_runner_node_stats(a->runner, i, &in[i], &out[i]);
            wait[i] = rn_runner_node_out_wait_ms(a->runner, i);
        }
        send_state(tm, a->job_id, a->attempt, state, error, n, in, out, wait);
    }
    free(in);
    free(out);
    free(wait);
}

/* ---- checkpoints: the runner's acknowledgements, sent from the loop thread ---- */

/* What a runner thread hands to the loop: an acknowledgement, a decline, or "every task here
 * ended" (kind). Copies, since the attempt may be gone when the loop runs it. */
struct posted {
    rn_tm *tm;
    enum { POST_ACK, POST_DECLINE, POST_ENDED } kind;
    char job_id[64];
    uint32_t attempt;
    int64_t id;
    uint64_t written;
    double sync_ms;
    char reason[512];
    size_t len;
    uint8_t parts[];
};

static void send_posted(void *arg)
{
    struct posted *m = arg;
    rn_tm *tm = m->tm;
    Runnel__Rpc__Envelope env = RUNNEL__RPC__ENVELOPE__INIT;
    Runnel__Rpc__AckCheckpoint ack = RUNNEL__RPC__ACK_CHECKPOINT__INIT;
    Runnel__Rpc__DeclineCheckpoint dec = RUNNEL__RPC__DECLINE_CHECKPOINT__INIT;
    if (m->kind == POST_ACK) {
        ack.job_id = m->job_id;
        ack.attempt = m->attempt;
        ack.id = m->id;
        ack.parts.data = m->parts;
        ack.parts.len = m->len;
        ack.sync_pause_ms = m->sync_ms;
        ack.written = m->written;
        env.msg_case = RUNNEL__RPC__ENVELOPE__MSG_ACK;
        env.ack = &ack;
        send_jm(tm, &env);
    } else if (m->kind == POST_DECLINE) {
        dec.job_id = m->job_id;
        dec.attempt = m->attempt;
        dec.id = m->id;
        dec.reason = m->reason;
        env.msg_case = RUNNEL__RPC__ENVELOPE__MSG_DECLINE;
        env.decline = &dec;
        send_jm(tm, &env);
    } else {
        struct attempt *a = NULL;
        for (struct attempt *x = tm->attempts; x; x = x->next)
            if (!strcmp(x->job_id, m->job_id) && x->attempt == m->attempt) a = x;
        if (a) {
            a->inputs_ended = true;
            report(tm, a, RUNNEL__RPC__TASK_STATE__STATE__ENDED, NULL);
        }
    }
    free(m);
}

static void post(struct attempt *a, int kind, int64_t id, const void *parts, size_t len, uint64_t written, double sync_ms,
                 const char *reason)
{
    struct posted *m = calloc(1, sizeof *m + len);
    if (!m) return;   /* the job manager times the checkpoint out */
    m->tm = a->tm;
    m->kind = kind;
    snprintf(m->job_id, sizeof m->job_id, "%s", a->job_id);
    m->attempt = a->attempt;
    m->id = id;
    m->written = written;
    m->sync_ms = sync_ms;
    snprintf(m->reason, sizeof m->reason, "%s", reason ? reason : "");
    if (len) memcpy(m->parts, parts, len);
    m->len = len;
    if (rn_rpc_loop_call(a->tm->loop, send_posted, m)) free(m);
}

static void ck_ack(void *user, int64_t id, const void *parts, size_t len, uint64_t written, double sync_ms,
                   const char *error)
{
    post(user, error ? POST_DECLINE : POST_ACK, id, parts, error ? 0 : len, written, sync_ms, error);
}

static void ck_ended(void *user) { post(user, POST_ENDED, 0, NULL, 0, 0, 0, NULL); }

/* Operator log lines, with the job and the task on the line. */
static void op_log(void *user, const char *task, const char *msg)
{
    const struct attempt *a = user;
    rn_log(RN_LOG_INFO, &(struct rn_log_ctx){.job = a->job_id, .task = task}, "%s", msg);
}

/* ---- attempts ---- */

static bool place_local(void *user, uint32_t chain, uint32_t subtask)
{
    struct attempt *a = user;
    return chain < a->n_chains && a->where[a->chain_base[chain] + subtask] == a->self;
}

static struct rn_channel *place_out(void *user, uint32_t index, uint32_t chain, uint32_t subtask, struct rn_error *err)
{
    struct attempt *a = user;
    const struct peer *p = &a->peers[a->where[a->chain_base[chain] + subtask]];
    return rn_net_output(a->tm->net, p->host, p->port, rn_tm_channel_id(a->job_id, a->attempt, index), err);
}

static struct rn_channel *place_in(void *user, uint32_t index, const rn_schema *schema, uint32_t capacity,
                                   struct rn_mailbox *consumer, struct rn_error *err)
{
    struct attempt *a = user;
    /* more slots than an in-process ring: credits take a round trip between processes, and a
     * sender waiting for one idles (still bounded: capacity elements per channel) */
    return rn_net_input(a->tm->net, rn_tm_channel_id(a->job_id, a->attempt, index), schema, capacity * NET_QUEUE_FACTOR,
                        consumer, err);
}

static void attempt_free(struct attempt *a)
{
    if (!a) return;
    rn_runner_destroy(a->runner);
    rn_job_free(a->job);
    if (a->log) fclose(a->log);
    free(a->chain_base);
    free(a->where);
    free(a->peers);
    free(a);
}

static void unlink_attempt(rn_tm *tm, struct attempt *a)
{
    for (struct attempt **p = &tm->attempts; *p; p = &(*p)->next)
        if (*p == a) {
            *p = a->next;
            return;
        }
}

/* On the loop: the attempt's runner ended. */
static void attempt_ended(void *arg)
{
    struct attempt *a = arg;
    rn_tm *tm = a->tm;
    if (a->watching) pthread_join(a->watcher, NULL);
    a->watching = false;
    const char *why = NULL;
    enum rn_run_state s = rn_runner_state(a->runner, &why);
    Runnel__Rpc__TaskState__State st = s == RN_RUN_FINISHED ? RUNNEL__RPC__TASK_STATE__STATE__FINISHED
                                       : s == RN_RUN_FAILED  ? RUNNEL__RPC__TASK_STATE__STATE__FAILED
                                                             : RUNNEL__RPC__TASK_STATE__STATE__CANCELLED;
    struct rn_log_ctx lc = ctx_of(a);
    rn_log(s == RN_RUN_FAILED ? RN_LOG_WARN : RN_LOG_INFO, &lc, "attempt %u %s%s%s", a->attempt,
           s == RN_RUN_FINISHED ? "finished" : s == RN_RUN_FAILED ? "failed" : "cancelled", why ? ": " : "",
           why ? why : "");
    report(tm, a, st, why);
    unlink_attempt(tm, a);
    attempt_free(a);
}

static void *watch(void *arg)
{
    struct attempt *a = arg;
    rn_runner_wait(a->runner, -1);
    if (rn_rpc_loop_call(a->tm->loop, attempt_ended, a) != 0) {
        /* the loop is going away: rn_tm_destroy frees what is left */
    }
    return NULL;
}

static struct attempt *find_attempt(rn_tm *tm, const char *job_id, uint32_t attempt)
{
    for (struct attempt *a = tm->attempts; a; a = a->next)
        if (!strcmp(a->job_id, job_id) && a->attempt == attempt) return a;
    return NULL;
}

static int deploy(rn_tm *tm, const Runnel__Rpc__DeployJob *d, char *why, size_t why_len)
{
    if (strlen(d->job_id) >= 64 || !*d->job_id) {
        snprintf(why, why_len, "a deployment with a bad job id");
        return RN_EINVAL;
    }
    if (find_attempt(tm, d->job_id, d->attempt)) {
        snprintf(why, why_len, "attempt %u of job %s is deployed here already", d->attempt, d->job_id);
        return RN_EINVAL;
    }
    struct attempt *a = calloc(1, sizeof *a);
    if (!a) goto oom;
    a->tm = tm;
    snprintf(a->job_id, sizeof a->job_id, "%s", d->job_id);
    a->attempt = d->attempt;
    a->self = d->self;
    struct rn_job_errors errs = {0};
    if (rn_job_parse(*d->job_file ? d->job_file : "job.yaml", (const char *)d->job_yaml.data, d->job_yaml.len,
                     tm->cfg.registry, &a->job, &errs)) {
        snprintf(why, why_len, "the job does not validate here: %s", errs.n ? errs.items[0].msg : "?");
        rn_job_errors_free(&errs);
        attempt_free(a);
        return RN_EINVAL;
    }
    /* the placement: every task of the execution graph, and the peers */
    uint32_t n = a->job->n_nodes;
    uint32_t *chain_of = calloc(n ? n : 1, sizeof *chain_of), *par = calloc(n ? n : 1, sizeof *par);
    a->chain_base = calloc(n ? n : 1, sizeof *a->chain_base);
    if (!chain_of || !par || !a->chain_base) {
        free(chain_of);
        free(par);
        goto oom_a;
    }
    a->n_chains = rn_runner_plan(a->job, chain_of, par);
    uint32_t total = 0;
    for (uint32_t c = 0; c < a->n_chains; c++) {
        a->chain_base[c] = total;
        total += par[c];
    }
    a->where = malloc((total ? total : 1) * sizeof *a->where);
    a->n_peers = (uint32_t)d->n_peers;
    a->peers = calloc(a->n_peers ? a->n_peers : 1, sizeof *a->peers);
    if (!a->where || !a->peers) {
        free(chain_of);
        free(par);
        goto oom_a;
    }
    for (uint32_t i = 0; i < total; i++) a->where[i] = UINT32_MAX;
    int bad = 0;
    for (size_t i = 0; i < d->n_tasks; i++) {
        const Runnel__Rpc__TaskPlacement *tp = d->tasks[i];
        if (tp->chain >= a->n_chains || tp->subtask >= par[tp->chain] || tp->tm >= a->n_peers) bad = 1;
        else a->where[a->chain_base[tp->chain] + tp->subtask] = tp->tm;
    }
    for (uint32_t i = 0; i < total; i++) bad |= a->where[i] == UINT32_MAX;
    free(chain_of);
    free(par);
    for (uint32_t i = 0; i < a->n_peers; i++) {
        snprintf(a->peers[i].host, sizeof a->peers[i].host, "%s", d->peers[i]->data_host);
        a->peers[i].port = (uint16_t)d->peers[i]->data_port;
        bad |= d->peers[i]->data_port == 0 || d->peers[i]->data_port > 65535;
    }
    if (bad || a->self >= a->n_peers) {
        snprintf(why, why_len, "the deployment's placement does not match the job's execution graph here");
        attempt_free(a);
        return RN_EINVAL;
    }
    a->placement = (struct rn_run_placement){.user = a, .local = place_local, .out = place_out, .in = place_in};
    struct rn_log_ctx lc = ctx_of(a);
    a->log = rn_log_stream(RN_LOG_INFO, &lc);
    a->coordinator = (struct rn_run_coordinator){.user = a, .ack = ck_ack, .ended = ck_ended};
    struct rn_run_options o = {.log = a->log, .placement = &a->placement, .restore = *d->restore ? d->restore : NULL,
                               .coordinator = a->job->checkpoint.enabled ? &a->coordinator : NULL,
                               .op_log = op_log, .op_log_user = a};
    struct rn_error err;
    a->runner = rn_runner_create(a->job, &o, &err);
    if (!a->runner || rn_runner_start(a->runner, &err)) {
        snprintf(why, why_len, "%s", err.msg);
        attempt_free(a);
        return RN_EINVAL;
    }
    a->next = tm->attempts;
    tm->attempts = a;
    if (pthread_create(&a->watcher, NULL, watch, a) == 0) {
        a->watching = true;
    } else {
        /* without a watcher the end would go unnoticed: stop it now */
        rn_runner_cancel(a->runner);
        rn_runner_wait(a->runner, -1);
        attempt_ended(a);
        snprintf(why, why_len, "cannot start a thread");
        return RN_ENOMEM;
    }
    rn_log(RN_LOG_INFO, &lc, "attempt %u of job '%s' deployed: %u of its %u tasks here", a->attempt, a->job->name,
           rn_runner_n_local_tasks(a->runner), rn_runner_n_tasks(a->runner));
    report(tm, a, RUNNEL__RPC__TASK_STATE__STATE__RUNNING, NULL);
    return 0;
oom_a:
    attempt_free(a);
oom:
    snprintf(why, why_len, "out of memory");
    return RN_ENOMEM;
}

/* ---- the connection to the job manager ---- */

static void connect_jm(void *arg);

static void send_register(rn_tm *tm)
{
    Runnel__Rpc__RegisterTaskManager reg = RUNNEL__RPC__REGISTER_TASK_MANAGER__INIT;
    reg.id = tm->id;
    reg.slots = tm->cfg.slots;
    reg.data_host = tm->data_host;
    reg.data_port = rn_net_port(tm->net);
    reg.pid = (uint32_t)getpid();
    size_t n = 0;
    for (struct attempt *a = tm->attempts; a; a = a->next) n++;
    Runnel__Rpc__RunningAttempt *ra = calloc(n ? n : 1, sizeof *ra);
    Runnel__Rpc__RunningAttempt **rp = calloc(n ? n : 1, sizeof *rp);
    if (ra && rp) {
        size_t i = 0;
        for (struct attempt *a = tm->attempts; a; a = a->next, i++) {
            runnel__rpc__running_attempt__init(&ra[i]);
            ra[i].job_id = a->job_id;
            ra[i].attempt = a->attempt;
            rp[i] = &ra[i];
        }
        reg.n_running = n;
        reg.running = rp;
    }
    Runnel__Rpc__Envelope env = RUNNEL__RPC__ENVELOPE__INIT;
    env.msg_case = RUNNEL__RPC__ENVELOPE__MSG_REGISTER;
    env.register_ = &reg;
    struct rn_error err;
    if (rn_rpc_send(tm->jm, &env, &err)) rn_log(RN_LOG_WARN, NULL, "cannot register: %s", err.msg);
    free(ra);
    free(rp);
}

static void on_open(rn_rpc_conn *c, void *ctx)
{
    rn_tm *tm = ctx;
    if (c != tm->jm) return;
    rn_log(RN_LOG_INFO, NULL, "connected to the job manager at %s", rn_rpc_peer(c));
    send_register(tm);
}

static void on_heartbeat(void *arg)
{
    rn_tm *tm = arg;
    Runnel__Rpc__Heartbeat hb = RUNNEL__RPC__HEARTBEAT__INIT;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    hb.time_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    Runnel__Rpc__Envelope env = RUNNEL__RPC__ENVELOPE__INIT;
    env.msg_case = RUNNEL__RPC__ENVELOPE__MSG_HEARTBEAT;
    env.heartbeat = &hb;
    send_jm(tm, &env);
    /* counters of the running attempts ride along */
    for (struct attempt *a = tm->attempts; a; a = a->next)
        report(tm, a, a->inputs_ended ? RUNNEL__RPC__TASK_STATE__STATE__ENDED : RUNNEL__RPC__TASK_STATE__STATE__RUNNING, NULL);
}

static void on_message(rn_rpc_conn *c, const Runnel__Rpc__Envelope *msg, void *ctx)
{
    rn_tm *tm = ctx;
    char why[1024];
    switch (msg->msg_case) {
    case RUNNEL__RPC__ENVELOPE__MSG_REGISTER_ACK:
        if (!msg->register_ack->accepted) {
            rn_log(RN_LOG_ERROR, NULL, "the job manager refused this task manager: %s", msg->register_ack->reason);
            rn_rpc_close(c);
            return;
        }
        tm->registered = true;
        if (msg->register_ack->heartbeat_ms >= 10 && msg->register_ack->heartbeat_ms != tm->heartbeat_ms) {
            tm->heartbeat_ms = msg->register_ack->heartbeat_ms;
            rn_rpc_timer_reset(tm->heartbeat, tm->heartbeat_ms);
        }
        rn_log(RN_LOG_INFO, NULL, "registered %u slots with the job manager", tm->cfg.slots);
        break;
    case RUNNEL__RPC__ENVELOPE__MSG_DEPLOY:
        if (!tm->registered) break;
        if (deploy(tm, msg->deploy, why, sizeof why)) {
            struct rn_log_ctx lc = {.job = msg->deploy->job_id};
            rn_log(RN_LOG_WARN, &lc, "cannot run attempt %u: %s", msg->deploy->attempt, why);
            send_state(tm, msg->deploy->job_id, msg->deploy->attempt, RUNNEL__RPC__TASK_STATE__STATE__FAILED, why, 0, NULL,
                       NULL, NULL);
        }
        break;
    case RUNNEL__RPC__ENVELOPE__MSG_CANCEL: {
        struct attempt *a = find_attempt(tm, msg->cancel->job_id, msg->cancel->attempt);
        if (a) rn_runner_cancel(a->runner);
        break;
    }
    case RUNNEL__RPC__ENVELOPE__MSG_TRIGGER: {
        const Runnel__Rpc__TriggerCheckpoint *t = msg->trigger;
        struct attempt *a = find_attempt(tm, t->job_id, t->attempt);
        struct rn_error err;
        if (a && rn_runner_remote_trigger(a->runner, t->id, t->savepoint, t->stop, t->final, t->dir, &err))
            post(a, POST_DECLINE, t->id, NULL, 0, 0, 0, err.msg);
        break;
    }
    case RUNNEL__RPC__ENVELOPE__MSG_COMPLETE: {
        struct attempt *a = find_attempt(tm, msg->complete->job_id, msg->complete->attempt);
        if (a) rn_runner_remote_complete(a->runner, msg->complete->id);
        break;
    }
    case RUNNEL__RPC__ENVELOPE__MSG_ABORT: {
        struct attempt *a = find_attempt(tm, msg->abort->job_id, msg->abort->attempt);
        if (a) rn_runner_remote_abort(a->runner, msg->abort->id, msg->abort->reason);
        break;
    }
    case RUNNEL__RPC__ENVELOPE__MSG_HEARTBEAT:
        break;
    default:
        rn_log(RN_LOG_WARN, NULL, "unexpected message %d from the job manager", (int)msg->msg_case);
        break;
    }
}

static void on_close(rn_rpc_conn *c, const char *reason, void *ctx)
{
    rn_tm *tm = ctx;
    if (c != tm->jm) return;
    if (tm->registered) rn_log(RN_LOG_WARN, NULL, "lost the job manager: %s", reason);
    tm->registered = false;
    rn_rpc_conn_unref(tm->jm);
    tm->jm = NULL;
    if (!atomic_load(&tm->closing)) rn_rpc_timer_reset(tm->reconnect, RECONNECT_MS);
}

static const struct rn_rpc_callbacks jm_callbacks = {on_open, on_message, on_close};

static void connect_jm(void *arg)
{
    rn_tm *tm = arg;
    if (tm->jm || atomic_load(&tm->closing)) return;
    struct rn_error err;
    tm->jm = rn_rpc_connect(tm->loop, tm->cfg.jm_host, tm->cfg.jm_port, &jm_callbacks, tm, &err);
    if (!tm->jm) {
        rn_log(RN_LOG_WARN, NULL, "cannot reach the job manager at %s:%u: %s", tm->cfg.jm_host, tm->cfg.jm_port, err.msg);
        rn_rpc_timer_reset(tm->reconnect, RECONNECT_MS);
    }
}

/* ---- life cycle ---- */

rn_tm *rn_tm_create(const struct rn_tm_config *cfg, struct rn_error *err)
{
    rn_tm *tm = calloc(1, sizeof *tm);
    if (!tm) {
        rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory");
        return NULL;
    }
    tm->cfg = *cfg;
    tm->heartbeat_ms = cfg->heartbeat_ms ? cfg->heartbeat_ms : 1000;
    const char *bind = cfg->data_bind && *cfg->data_bind ? cfg->data_bind : "127.0.0.1";
    tm->wire_log = rn_log_stream(RN_LOG_WARN, NULL);
    tm->net = rn_net_create(bind, cfg->data_port, tm->wire_log, err);
    if (!tm->net) goto fail;
    snprintf(tm->data_host, sizeof tm->data_host, "%s", cfg->data_host && *cfg->data_host ? cfg->data_host : bind);
    if (cfg->name && *cfg->name) snprintf(tm->name, sizeof tm->name, "%s", cfg->name);
    else snprintf(tm->name, sizeof tm->name, "tm-%u", rn_net_port(tm->net));
    snprintf(tm->id, sizeof tm->id, "%s:%u/%d", tm->data_host, rn_net_port(tm->net), (int)getpid());
    tm->loop = rn_rpc_loop_create(tm->wire_log, err);
    if (!tm->loop) goto fail;
    tm->reconnect = rn_rpc_timer_start(tm->loop, 0, false, connect_jm, tm, err);
    if (!tm->reconnect) goto fail;
    tm->heartbeat = rn_rpc_timer_start(tm->loop, tm->heartbeat_ms, true, on_heartbeat, tm, err);
    if (!tm->heartbeat) goto fail;
    rn_log(RN_LOG_INFO, NULL, "task manager %s: %u slots, data port %s:%u, job manager %s:%u", tm->name, cfg->slots,
           tm->data_host, rn_net_port(tm->net), cfg->jm_host, cfg->jm_port);
    return tm;
fail:
    rn_tm_destroy(tm);
    return NULL;
}

uint16_t rn_tm_data_port(const rn_tm *tm) { return rn_net_port(tm->net); }

static void cancel_all(void *arg)
{
    rn_tm *tm = arg;
    for (struct attempt *a = tm->attempts; a; a = a->next) rn_runner_cancel(a->runner);
    if (tm->jm) rn_rpc_close(tm->jm);
}

static void count_attempts(void *arg)
{
    void **p = arg;
    rn_tm *tm = p[0];
    size_t n = 0;
    for (struct attempt *a = tm->attempts; a; a = a->next) n++;
    *(size_t *)p[1] = n;
}

void rn_tm_destroy(rn_tm *tm)
{
    if (!tm) return;
    atomic_store(&tm->closing, true);
    if (tm->loop) {
        rn_rpc_loop_call_wait(tm->loop, cancel_all, tm);
        /* the watchers hand each end to the loop; wait for them (bounded: cancelled runners end) */
        for (int i = 0; i < 3000; i++) {
            size_t n = 0;
            void *args[2] = {tm, &n};
            if (rn_rpc_loop_call_wait(tm->loop, count_attempts, args) || n == 0) break;
            usleep(10000);
        }
        rn_rpc_timer_stop(tm->heartbeat);
        rn_rpc_timer_stop(tm->reconnect);
        rn_rpc_loop_destroy(tm->loop);
    }
    while (tm->attempts) {
        struct attempt *a = tm->attempts;
        tm->attempts = a->next;
        if (a->watching) pthread_join(a->watcher, NULL);
        attempt_free(a);
    }
    if (tm->jm) rn_rpc_conn_unref(tm->jm);
    rn_net_destroy(tm->net);
    if (tm->wire_log) fclose(tm->wire_log);
    free(tm);
}
