/*
 * kafka_sink.c — `kafka_sink`: writes rows as messages to a Kafka topic through librdkafka,
 * the value encoded as json, csv or raw (kafka_common.h), the key from an optional expression
 * over the input columns (its text form; a null key: no key, librdkafka's partitioner spreads
 * those).
 *
 * Hot path: per batch the key expression is evaluated once (vectorised, cast to string when it
 * is not one), each row is encoded into one reusable buffer and handed to rd_kafka_producev
 * with RD_KAFKA_MSG_F_COPY (librdkafka copies it into its own batch); RD_KAFKA_RESP_ERR__QUEUE_FULL
 * is back-pressure: the task serves delivery reports (rd_kafka_poll, 10 ms) and tries again,
 * checking for cancellation. Delivery reports are served once per batch; the first failed one
 * is kept and fails the next callback, naming the topic and librdkafka's message. Every
 * producer is idempotent (no duplicates or reordering from librdkafka's own retries);
 * linger.ms is 5 unless the job's `properties:` set it.
 *
 * delivery: at_least_once — one producer per subtask; snapshot() and finish() flush it (every
 * message acknowledged within `timeout`, else the checkpoint / the job fails).
 *
 * delivery: exactly_once — Flink's two-phase commit over Kafka transactions. librdkafka has one
 * open transaction per producer, and a transaction pre-committed at checkpoint n stays open
 * until checkpoint n completes, so each subtask has a pool of POOL transactional producers,
 * ids "<prefix>-<subtask>-<k>" (k = 0 .. POOL-1): one open transaction plus those pre-committed
 * and waiting (as Flink's FlinkKafkaProducer does). open() creates the pool and runs
 * init_transactions on every id — which fences older producers of those ids and (on a real
 * broker) aborts what a failed attempt left open — then begins a transaction on slot 0.
 * snapshot(n) flushes the open transaction (every message acknowledged), records it as
 * pre-committed for n (the operator-state list "kafka_sink.pending", for the restore's log),
 * and begins a transaction on a free slot; an open transaction with no rows is simply kept.
 * checkpoint_complete(n) commits every pre-committed transaction of a checkpoint <= n.
 * close() aborts the open transaction (a failure, a cancel). Without checkpoints the open
 * transaction is committed in finish(). A restore at another parallelism also re-initialises
 * the pools of old subtasks j >= the new parallelism that map to this one (j % parallelism).
 *
 * Known limit: librdkafka cannot resume another producer's transaction (Flink's KafkaSink does,
 * through Java client internals), so a transaction pre-committed for checkpoint n whose commit
 * had not been sent when the process died is aborted by the restore's init_transactions on a
 * real broker: the rows of that checkpoint interval are lost. The window is between checkpoint
 * n's completion and the sink's commit. The restore logs every transaction the checkpoint
 * listed as pending.
 *
 * Assumes the host calls a subtask's callbacks on one thread (librdkafka's callbacks run inside
 * rd_kafka_poll / rd_kafka_flush on that thread, never concurrently with them).
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kafka_common.h"

#define POOL 4                /* transactional producers per subtask (exactly_once) */
#define TXN_ATTEMPTS 3        /* tries of a transactional call that fails with a retriable error */
#define PENDING_LIST "kafka_sink.pending"
#define PENDING_FIXED 17u     /* version u8, writer subtask u32, k u32, checkpoint i64; then the id */

static const struct rn_option options[] = {
    {"bootstrap_servers", RN_OPT_STRING, NULL, "host:port,... of the Kafka brokers"},
    {"topic", RN_OPT_STRING, NULL, "the topic written to"},
    {"key", RN_OPT_EXPR, "",
     "the message key: an expression over the input columns (strings as they are, other types as their text); null "
     "or absent: no key"},
    {"format", RN_OPT_STRING, "json", "json, csv or raw (the one string column's bytes)"},
    {"delimiter", RN_OPT_STRING, "','", "CSV field delimiter (one character)"},
    {"delivery", RN_OPT_STRING, "at_least_once",
     "at_least_once (flush at checkpoints) or exactly_once (a Kafka transaction per checkpoint)"},
    {"transactional_id_prefix", RN_OPT_STRING, "",
     "exactly_once: prefix of the transactional ids (default <job name>-<node id>); unique per job on a cluster"},
    {"transaction_timeout", RN_OPT_DURATION, "15min",
     "exactly_once: transaction.timeout.ms (at most the brokers' transaction.max.timeout.ms)"},
    {"timeout", RN_OPT_DURATION, "60s", "bound of each wait: a flush at a checkpoint or the end, a transactional call"},
    {"properties", RN_OPT_MAP, "", "librdkafka producer properties (name: value)"},
    {NULL, 0, NULL, NULL},
};

enum slot_state { SLOT_FREE, SLOT_OPEN, SLOT_PRECOMMITTED };

struct state;

/* One producer: the only one (at_least_once) or one transactional id of the pool. */
struct slot {
    struct state *s;
    rd_kafka_t *rk;
    rd_kafka_topic_t *rkt;
    char *txn_id;             /* NULL for at_least_once */
    enum slot_state st;
    int64_t ckpt;             /* PRECOMMITTED: the checkpoint it belongs to */
    uint64_t rows;            /* produced into its open transaction */
};

struct state {
    struct rn_op_ctx *ctx;
    const rn_value *properties;
    const char *bootstrap;
    char *topic;
    enum rnk_format fmt;
    char delim;
    bool exactly_once, checkpointing;
    int timeout_ms;
    char txn_timeout[24];
    bool user_linger;
    char *prefix;
    uint32_t subtask;
    rn_expr *key;             /* string-typed; NULL: no key */
    struct rn_text_buf buf;
    struct slot slots[POOL];  /* at_least_once: slots[0] */
    int cur;                  /* the slot written to */
    bool failed;              /* a delivery report failed: failure[] says how */
    char failure[640];
    bool closing;             /* close(): purged messages are no failure */
    _Atomic uint64_t *m_written, *m_committed, *m_aborted, *m_inits;
};

/* ---- options ---- */

static int read_delim(const rn_value *o, char *delim)
{
    const char *d = rn_opt_string(o, "delimiter");
    *delim = d && d[0] ? d[0] : ',';
    return d && strlen(d) != 1 ? RN_EINVAL : 0;
}

static int read_delivery(const rn_value *o, bool *exactly_once)
{
    const char *d = rn_opt_string(o, "delivery");
    if (d && !strcmp(d, "exactly_once")) return *exactly_once = true, 0;
    if (d && !strcmp(d, "at_least_once")) return *exactly_once = false, 0;
    return RN_EINVAL;
}

/* The key option's text, NULL when it is not set. */
static const char *key_text(const rn_value *o)
{
    const rn_value *v = rn_opt_value(o, "key");
    if (!v || rn_value_kind(v) != RN_VALUE_SCALAR) return NULL;
    const char *t = rn_value_text(v);
    return t && *t ? t : NULL;
}

static int plan(struct rn_plan_ctx *ctx)
{
    const rn_value *o = rn_plan_options(ctx);
    const rn_schema *in = rn_plan_input_schema(ctx, 0);
    int rc = rnk_plan_check_properties(ctx, o, "sink");
    if (rc) return rc;
    const rn_value *p = rn_opt_value(o, "properties");
    if (p && rn_value_kind(p) == RN_VALUE_MAP && rn_value_get(p, "transaction.timeout.ms"))
        return rn_plan_error(ctx, rn_value_get(p, "transaction.timeout.ms"),
                             "property 'transaction.timeout.ms' is set by the option transaction_timeout");
    const char *topic = rn_opt_string(o, "topic");
    if (!topic || !*topic) return rn_plan_error(ctx, rn_opt_value(o, "topic"), "topic is empty");
    enum rnk_format fmt;
    if (rnk_format_parse(rn_opt_string(o, "format"), &fmt))
        return rn_plan_error(ctx, rn_opt_value(o, "format"), "format must be json, csv or raw");
    const char *why = rnk_format_check(fmt, in);
    if (why) return rn_plan_error(ctx, rn_opt_value(o, "format"), "%s", why);
    char delim;
    if (read_delim(o, &delim)) return rn_plan_error(ctx, rn_opt_value(o, "delimiter"), "delimiter must be one character");
    bool eo;
    if (read_delivery(o, &eo))
        return rn_plan_error(ctx, rn_opt_value(o, "delivery"), "delivery must be at_least_once or exactly_once");
    int64_t tt = rn_opt_duration(o, "transaction_timeout");
    if (tt < 1000 || tt > INT32_MAX)
        return rn_plan_error(ctx, rn_opt_value(o, "transaction_timeout"),
                             "transaction_timeout must be from 1s to 2147483647ms");
    int64_t to = rn_opt_duration(o, "timeout");
    if (to < 1 || to > INT32_MAX)
        return rn_plan_error(ctx, rn_opt_value(o, "timeout"), "timeout must be from 1ms to 2147483647ms");
    if (key_text(o)) {
        rn_expr *e = NULL;
        if ((rc = rn_plan_compile(ctx, "key", in, &e))) return rc;
        struct rn_type t = rn_expr_type(e);
        rn_expr_destroy(e);
        if (t.id == RN_T_VECTOR)
            return rn_plan_error(ctx, rn_opt_value(o, "key"), "key must be a scalar (a vector has no text form)");
    }
    return 0;
}

/* ---- librdkafka callbacks (run inside rd_kafka_poll / flush / transactional calls) ---- */

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    struct slot *sl = opaque;
    struct state *s = sl->s;
    if (!m->err) {
        if (s->m_written) atomic_fetch_add_explicit(s->m_written, 1, memory_order_relaxed);
        return;
    }
    if (s->failed || s->closing) return;
    s->failed = true;
    char fatal[256] = "";
    if (m->err == RD_KAFKA_RESP_ERR__FATAL) rd_kafka_fatal_error(sl->rk, fatal, sizeof fatal);
    char part[32] = "";
    if (m->partition >= 0) snprintf(part, sizeof part, " (partition %d)", (int)m->partition);
    snprintf(s->failure, sizeof s->failure, "delivery to topic '%s'%s failed%s%s%s: %s%s%s", s->topic, part, sl->txn_id ? " in transactional id '" : "", sl->txn_id ? sl->txn_id : "",
             sl->txn_id ? "'" : "", rd_kafka_err2str(m->err), fatal[0] ? ": " : "", fatal);
}

/* Fatal errors also fail the next callback; the others (a broker down, ...) librdkafka retries
 * until message.timeout.ms, after which the messages' delivery reports fail. */
static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    struct slot *sl = opaque;
    struct state *s = sl->s;
    if (err != RD_KAFKA_RESP_ERR__FATAL || s->failed || s->closing) return;
    char fatal[256];
    rd_kafka_fatal_error(rk, fatal, sizeof fatal);
    s->failed = true;
    snprintf(s->failure, sizeof s->failure, "producer for topic '%s'%s%s%s failed: %s (%s)", s->topic,
             sl->txn_id ? " with transactional id '" : "", sl->txn_id ? sl->txn_id : "", sl->txn_id ? "'" : "", fatal,
             reason);
}

/* librdkafka's log lines go through the main queue (log.queue) and so reach the job's log on
 * the task's thread. */
static void on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    struct slot *sl = rd_kafka_opaque(rk);
    if (sl && sl->s->ctx && level <= 4) rn_op_log(sl->s->ctx, "librdkafka %s: %s", fac, buf);
}

/* The first delivery failure, as this callback's error. */
static int check_failed(struct state *s)
{
    if (!s->failed) return 0;
    rn_op_error(s->ctx, "%s", s->failure);
    return RN_EIO;
}

/* ---- producers ---- */

/* Creates a producer for slot sl with transactional id txn_id (NULL: at_least_once). */
static int slot_create(struct state *s, struct slot *sl, const char *txn_id)
{
    memset(sl, 0, sizeof *sl);
    sl->s = s;
    if (txn_id && !(sl->txn_id = strdup(txn_id))) return RN_ENOMEM;
    const char *fixed[16];
    int n = 0;
    fixed[n++] = "enable.idempotence", fixed[n++] = "true";
    fixed[n++] = "log.queue", fixed[n++] = "true";
    if (!s->user_linger) fixed[n++] = "linger.ms", fixed[n++] = "5";
    if (txn_id) {
        fixed[n++] = "transactional.id", fixed[n++] = txn_id;
        fixed[n++] = "transaction.timeout.ms", fixed[n++] = s->txn_timeout;
    }
    fixed[n] = NULL;
    char why[512];
    rd_kafka_conf_t *c = rnk_conf_build(s->bootstrap, s->properties, fixed, why, sizeof why);
    if (!c) {
        rn_op_error(s->ctx, "producer for topic '%s': %s", s->topic, why);
        return RN_EINVAL;
    }
    rd_kafka_conf_set_opaque(c, sl);
    rd_kafka_conf_set_dr_msg_cb(c, on_delivery);
    rd_kafka_conf_set_error_cb(c, on_error);
    rd_kafka_conf_set_log_cb(c, on_log);
    if (!(sl->rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, why, sizeof why))) {
        rd_kafka_conf_destroy(c);
        rn_op_error(s->ctx, "cannot create a producer for topic '%s'%s%s%s: %s", s->topic,
                    txn_id ? " (transactional id '" : "", txn_id ? txn_id : "", txn_id ? "')" : "", why);
        return RN_EINVAL;
    }
    rd_kafka_set_log_queue(sl->rk, NULL);   /* to the main queue, served by rd_kafka_poll */
    if (!(sl->rkt = rd_kafka_topic_new(sl->rk, s->topic, NULL))) {
        rn_op_error(s->ctx, "topic '%s': %s", s->topic, rd_kafka_err2str(rd_kafka_last_error()));
        return RN_EINVAL;
    }
    return 0;
}

static void slot_destroy(struct slot *sl)
{
    if (sl->rkt) rd_kafka_topic_destroy(sl->rkt);
    if (sl->rk) {
        /* what is still queued (a failure, a cancel) is dropped rather than waited for */
        rd_kafka_purge(sl->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT | RD_KAFKA_PURGE_F_NON_BLOCKING);
        rd_kafka_poll(sl->rk, 0);
        rd_kafka_destroy(sl->rk);
    }
    free(sl->txn_id);
    memset(sl, 0, sizeof *sl);
}

/* Waits until every message of sl is acknowledged (timeout_ms at most); what: "checkpoint 3",
 * "the end of input". */
static int slot_flush(struct state *s, struct slot *sl, const char *what)
{
    rd_kafka_resp_err_t err = rd_kafka_flush(sl->rk, s->timeout_ms);
    int rc = check_failed(s);
    if (rc) return rc;
    if (err) {
        rn_op_error(s->ctx, "%s: %d messages to topic '%s'%s%s%s not acknowledged within %d ms (%s)", what,
                    rd_kafka_outq_len(sl->rk), s->topic, sl->txn_id ? " in transactional id '" : "",
                    sl->txn_id ? sl->txn_id : "", sl->txn_id ? "'" : "", s->timeout_ms, rd_kafka_err2str(err));
        return RN_EIO;
    }
    return 0;
}

/* ---- transactions ---- */

enum txn_op { TXN_INIT, TXN_BEGIN, TXN_COMMIT, TXN_ABORT };
static const char *const txn_names[] = {"init_transactions", "begin_transaction", "commit_transaction",
                                        "abort_transaction"};

static rd_kafka_error_t *txn_call(rd_kafka_t *rk, enum txn_op op, int timeout_ms)
{
    switch (op) {
    case TXN_INIT: return rd_kafka_init_transactions(rk, timeout_ms);
    case TXN_BEGIN: return rd_kafka_begin_transaction(rk);
    case TXN_COMMIT: return rd_kafka_commit_transaction(rk, timeout_ms);
    case TXN_ABORT: return rd_kafka_abort_transaction(rk, timeout_ms);
    }
    return NULL;
}

static void count(_Atomic uint64_t *m)
{
    if (m) atomic_fetch_add_explicit(m, 1, memory_order_relaxed);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Runs op on rk (transactional id id), `timeout` in all: retriable errors are tried again while
 * time is left (TXN_ATTEMPTS tries at most), an abortable one aborts the transaction; any error
 * that remains fails, naming the id and librdkafka's message. */
static int txn_do(struct state *s, rd_kafka_t *rk, const char *id, enum txn_op op)
{
    int64_t deadline = now_ms() + s->timeout_ms;
    for (int attempt = 1;; attempt++) {
        int64_t left = deadline - now_ms();
        rd_kafka_error_t *e = txn_call(rk, op, left > 0 ? (int)left : 1);
        if (!e) {
            if (op == TXN_INIT) count(s->m_inits);
            return 0;
        }
        bool fatal = rd_kafka_error_is_fatal(e), abortable = rd_kafka_error_txn_requires_abort(e);
        if (!fatal && !abortable && rd_kafka_error_is_retriable(e) && attempt < TXN_ATTEMPTS &&
            deadline - now_ms() > 100) {
            rd_kafka_error_destroy(e);
            rd_kafka_poll(rk, 100);
            continue;
        }
        const char *what = fatal ? " (fatal)" : abortable ? " (the transaction is aborted)" : "";
        if (s->failed && op != TXN_INIT)
            rn_op_error(s->ctx, "%s; then %s of transactional id '%s' failed%s: %s", s->failure, txn_names[op], id, what,
                        rd_kafka_error_string(e));
        else
            rn_op_error(s->ctx, "%s of transactional id '%s' (topic '%s', timeout %d ms) failed%s: %s", txn_names[op],
                        id, s->topic, s->timeout_ms, what, rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
        if (abortable && !fatal && op != TXN_ABORT) {
            rd_kafka_error_t *a = rd_kafka_abort_transaction(rk, s->timeout_ms);
            if (!a) count(s->m_aborted);
            else rd_kafka_error_destroy(a);
        }
        return RN_EIO;
    }
}

/* Begins a transaction on slot k, which becomes the one written to. */
static int slot_begin(struct state *s, int k)
{
    struct slot *sl = &s->slots[k];
    int rc = txn_do(s, sl->rk, sl->txn_id, TXN_BEGIN);
    if (rc) return rc;
    sl->st = SLOT_OPEN;
    sl->rows = 0;
    s->cur = k;
    return 0;
}

static int slot_commit(struct state *s, struct slot *sl)
{
    int rc = txn_do(s, sl->rk, sl->txn_id, TXN_COMMIT);
    sl->st = SLOT_FREE;   /* committed, or aborted by txn_do: the task fails then */
    if (rc) return rc;
    count(s->m_committed);
    return 0;
}

/* The transactional id k of subtask j. */
static int txn_id_of(const struct state *s, uint32_t j, int k, char *out, size_t len)
{
    int n = snprintf(out, len, "%s-%u-%d", s->prefix, j, k);
    return n < 0 || (size_t)n >= len ? RN_ERANGE : 0;
}

/* init_transactions on every id of old subtask j's pool with a short-lived producer each:
 * fences what is left of it and aborts its open transactions. */
static int fence_pool(struct state *s, uint32_t j)
{
    for (int k = 0; k < POOL; k++) {
        char id[512];
        struct slot tmp;
        int rc = txn_id_of(s, j, k, id, sizeof id);
        if (!rc) rc = slot_create(s, &tmp, id);
        if (!rc) rc = txn_do(s, tmp.rk, id, TXN_INIT);
        slot_destroy(&tmp);
        if (rc) return rc;
    }
    return 0;
}

/* ---- callbacks ---- */

static int open_(struct rn_op_ctx *ctx, void **state)
{
    struct state *s = calloc(1, sizeof *s);
    if (!s) return RN_ENOMEM;
    *state = s;
    s->ctx = ctx;
    const rn_value *o = rn_op_options(ctx);
    rnk_format_parse(rn_opt_string(o, "format"), &s->fmt);
    read_delim(o, &s->delim);
    read_delivery(o, &s->exactly_once);
    s->checkpointing = rn_op_checkpointing(ctx);
    s->subtask = rn_op_subtask(ctx);
    s->timeout_ms = (int)rn_opt_duration(o, "timeout");
    snprintf(s->txn_timeout, sizeof s->txn_timeout, "%lld", (long long)rn_opt_duration(o, "transaction_timeout"));
    s->bootstrap = rn_opt_string(o, "bootstrap_servers");
    const rn_value *p = rn_opt_value(o, "properties");
    s->properties = p && rn_value_kind(p) == RN_VALUE_MAP ? p : NULL;
    s->user_linger = s->properties && rn_value_get(s->properties, "linger.ms");
    s->m_written = rn_op_metric(ctx, "records_written");
    if (!(s->topic = strdup(rn_opt_string(o, "topic")))) return RN_ENOMEM;
    const char *ks = key_text(o);
    if (ks) {
        int rc = rn_op_compile(ctx, "key", rn_op_input_schema(ctx, 0), &s->key);
        if (rc) return rc;
        if (rn_expr_type(s->key).id != RN_T_STRING) {
            /* other types as their text form: the engine's CAST to string */
            size_t n = strlen(ks) + 32;
            char *src = malloc(n);
            if (!src) return RN_ENOMEM;
            snprintf(src, n, "CAST((%s) AS string)", ks);
            rn_expr_destroy(s->key);
            s->key = NULL;
            struct rn_error err;
            rc = rn_expr_compile(src, rn_op_input_schema(ctx, 0), &s->key, &err);
            free(src);
            if (rc) {
                rn_op_error(ctx, "option 'key': %s", err.msg);
                return rc;
            }
        }
    }
    if (!s->exactly_once) return slot_create(s, &s->slots[0], NULL);

    s->m_committed = rn_op_metric(ctx, "transactions_committed");
    s->m_aborted = rn_op_metric(ctx, "transactions_aborted");
    s->m_inits = rn_op_metric(ctx, "transactional_ids_initialised");
    const char *pre = rn_opt_string(o, "transactional_id_prefix");
    if (pre && *pre) {
        s->prefix = strdup(pre);
    } else {
        const char *job = rn_op_job_name(ctx);
        size_t n = strlen(job) + strlen(rn_op_node_id(ctx)) + 16;
        if ((s->prefix = malloc(n))) snprintf(s->prefix, n, "%s-%s", *job ? job : "runnel", rn_op_node_id(ctx));
    }
    if (!s->prefix) return RN_ENOMEM;
    /* fresh start or restore: every id of the pool is initialised before anything is written */
    for (int k = 0; k < POOL; k++) {
        char id[512];
        int rc = txn_id_of(s, s->subtask, k, id, sizeof id);
        if (rc) {
            rn_op_error(ctx, "transactional_id_prefix is too long");
            return rc;
        }
        if ((rc = slot_create(s, &s->slots[k], id)) || (rc = txn_do(s, s->slots[k].rk, id, TXN_INIT))) return rc;
    }
    return slot_begin(s, 0);
}

static int process(void *state, struct rn_op_ctx *ctx, uint32_t input, const struct rn_batch *b)
{
    (void)input;
    struct state *s = state;
    s->ctx = ctx;
    int rc = check_failed(s);
    if (rc || b->n_rows == 0) return rc;
    struct slot *sl = &s->slots[s->cur];
    if (s->exactly_once && sl->st != SLOT_OPEN) {
        rn_op_error(ctx, "no open transaction to write into (transactional id '%s')", sl->txn_id);
        return RN_EINVAL;
    }
    struct rn_column keys;
    bool have_keys = false;
    if (s->key) {
        struct rn_error err;
        if ((rc = rn_expr_eval(s->key, b, &keys, &err))) {
            rn_op_error(ctx, "key: %s", err.msg);
            return rc;
        }
        have_keys = true;
    }
    /* one CreateTime per batch: librdkafka would read the clock per message */
    int64_t now = rn_op_processing_time(ctx);
    for (uint32_t i = 0; i < b->n_rows && rc == 0; i++) {
        s->buf.len = 0;
        if ((rc = rnk_encode(s->fmt, s->delim, b, i, &s->buf))) {
            rn_op_error(ctx, "cannot encode a row: %s", rn_strerror(rc));
            break;
        }
        /* raw: a null value is a tombstone (no value); an empty string an empty value */
        const void *val = s->buf.len ? s->buf.data : "";
        if (s->fmt == RNK_RAW && rn_column_is_null(&b->cols[0], i)) val = NULL;
        const void *k = NULL;
        size_t klen = 0;
        if (have_keys && !rn_column_is_null(&keys, i)) {
            struct rn_str ks = rn_col_str(&keys, i);
            k = ks.len ? ks.ptr : "";
            klen = ks.len;
        }
        for (;;) {
            rd_kafka_resp_err_t err = rd_kafka_producev(sl->rk, RD_KAFKA_V_RKT(sl->rkt),
                                                        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                                        RD_KAFKA_V_VALUE((void *)val, val ? s->buf.len : 0),
                                                        RD_KAFKA_V_KEY(k, klen), RD_KAFKA_V_TIMESTAMP(now),
                                                        RD_KAFKA_V_END);
            if (!err) break;
            if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                rn_op_error(ctx, "cannot produce to topic '%s'%s%s%s: %s", s->topic,
                            sl->txn_id ? " in transactional id '" : "", sl->txn_id ? sl->txn_id : "",
                            sl->txn_id ? "'" : "", rd_kafka_err2str(err));
                rc = RN_EIO;
                break;
            }
            /* back-pressure: librdkafka's queue is full until deliveries free it (or time out,
             * message.timeout.ms, which fails them) */
            rd_kafka_poll(sl->rk, 10);
            if ((rc = check_failed(s))) break;
            if (rn_op_cancelled(ctx)) {
                rc = RN_ECANCELED;
                break;
            }
        }
        if (rc == 0) sl->rows++;
    }
    if (have_keys) rn_column_release(&keys);
    if (rc) return rc;
    rd_kafka_poll(sl->rk, 0);
    return check_failed(s);
}

static int finish(void *state, struct rn_op_ctx *ctx)
{
    struct state *s = state;
    s->ctx = ctx;
    int rc = check_failed(s);
    if (rc) return rc;
    if (!s->exactly_once) return slot_flush(s, &s->slots[0], "the end of input");
    if (s->checkpointing) return 0;   /* the final checkpoint commits */
    struct slot *sl = &s->slots[s->cur];
    if (sl->st != SLOT_OPEN) return 0;
    if ((rc = slot_flush(s, sl, "the end of input"))) return rc;
    return slot_commit(s, sl);
}

/* ---- checkpoints ---- */

static int append_pending(struct state *s, struct rn_snapshot_writer *w, const struct slot *sl, int k)
{
    uint8_t e[PENDING_FIXED + 512];
    size_t lid = strlen(sl->txn_id);
    if (lid > 512) lid = 512;
    e[0] = 1;
    rn_put_le32(e + 1, s->subtask);
    rn_put_le32(e + 5, (uint32_t)k);
    rn_put_le64(e + 9, (uint64_t)sl->ckpt);
    memcpy(e + PENDING_FIXED, sl->txn_id, lid);
    int rc = rn_snapshot_append(w, PENDING_LIST, e, (uint32_t)(PENDING_FIXED + lid));
    if (rc) rn_op_error(s->ctx, "cannot record the pending transactions in the checkpoint: %s", rn_strerror(rc));
    return rc;
}

static int snapshot(void *state, struct rn_op_ctx *ctx, struct rn_snapshot_writer *w)
{
    struct state *s = state;
    s->ctx = ctx;
    int64_t id = rn_snapshot_id(w);
    char what[64];
    snprintf(what, sizeof what, "checkpoint %lld", (long long)id);
    int rc = check_failed(s);
    if (rc) return rc;
    if (!s->exactly_once) return slot_flush(s, &s->slots[0], what);
    for (int k = 0; k < POOL; k++)
        if (k != s->cur && s->slots[k].rk) rd_kafka_poll(s->slots[k].rk, 0);   /* their logs */
    struct slot *sl = &s->slots[s->cur];
    if (sl->st == SLOT_OPEN && sl->rows > 0) {
        if ((rc = slot_flush(s, sl, what))) return rc;
        sl->st = SLOT_PRECOMMITTED;
        sl->ckpt = id;
        int next = -1;
        for (int i = 1; i <= POOL && next < 0; i++)
            if (s->slots[(s->cur + i) % POOL].st == SLOT_FREE) next = (s->cur + i) % POOL;
        if (next < 0) {
            rn_op_error(ctx,
                        "checkpoint %lld: all %d transactional ids of this subtask ('%s-%u-*') hold transactions "
                        "waiting for their checkpoints to complete: checkpoints are not completing",
                        (long long)id, POOL, s->prefix, s->subtask);
            return RN_EIO;
        }
        if ((rc = slot_begin(s, next))) return rc;
    }
    for (int k = 0; k < POOL && rc == 0; k++)
        if (s->slots[k].st == SLOT_PRECOMMITTED) rc = append_pending(s, w, &s->slots[k], k);
    return rc;
}

static int checkpoint_complete(void *state, struct rn_op_ctx *ctx, int64_t id)
{
    struct state *s = state;
    s->ctx = ctx;
    if (!s->exactly_once) return 0;
    /* oldest first: one checkpoint's completion covers the earlier ones */
    for (;;) {
        struct slot *best = NULL;
        for (int k = 0; k < POOL; k++) {
            struct slot *sl = &s->slots[k];
            if (sl->st == SLOT_PRECOMMITTED && sl->ckpt <= id && (!best || sl->ckpt < best->ckpt)) best = sl;
        }
        if (!best) return 0;
        int rc = slot_commit(s, best);
        if (rc) return rc;
    }
}

struct restoring {
    struct state *s;
    int64_t from;
    bool bad;
};

static int restore_one(const void *val, uint32_t len, void *user)
{
    struct restoring *r = user;
    const uint8_t *p = val;
    if (len < PENDING_FIXED || p[0] != 1) return r->bad = true, RN_ECORRUPT;
    uint32_t writer = rn_get_le32(p + 1), k = rn_get_le32(p + 5);
    int64_t ck = (int64_t)rn_get_le64(p + 9);
    rn_op_log(r->s->ctx,
              "checkpoint %lld lists transaction '%.*s' (subtask %u, slot %u) pre-committed for checkpoint %lld: it "
              "was committed only if the failed run got to it after the checkpoint completed; otherwise "
              "re-initialising its transactional id aborted it (librdkafka cannot resume another producer's "
              "transaction)",
              (long long)r->from, (int)(len - PENDING_FIXED), (const char *)p + PENDING_FIXED, writer, k,
              (long long)ck);
    return 0;
}

static int restore(void *state, struct rn_op_ctx *ctx, struct rn_snapshot_reader *r)
{
    struct state *s = state;
    s->ctx = ctx;
    if (!s->exactly_once) return 0;
    struct restoring got = {.s = s, .from = rn_restore_id(r)};
    int rc = rn_restore_each(r, PENDING_LIST, restore_one, &got);
    if (rc) {
        if (got.bad) rn_op_error(ctx, "checkpoint %lld: an element of list '%s' is not one kafka_sink wrote",
                                 (long long)got.from, PENDING_LIST);
        else rn_op_error(ctx, "cannot read the pending transactions of checkpoint %lld: %s", (long long)got.from,
                         rn_strerror(rc));
        return rc;
    }
    /* this subtask's own pool was initialised by open(); the pools of old subtasks that no
     * longer exist go to the subtask they map to */
    uint32_t par = rn_op_parallelism(ctx), old = rn_restore_old_parallelism(r);
    for (uint32_t j = par; j < old && rc == 0; j++)
        if (j % par == s->subtask) rc = fence_pool(s, j);
    return rc;
}

static void close_(void *state, struct rn_op_ctx *ctx)
{
    struct state *s = state;
    if (!s) return;
    s->ctx = ctx;
    for (int k = 0; k < POOL; k++) {
        struct slot *sl = &s->slots[k];
        if (!sl->rk) continue;
        if (sl->txn_id && sl->st == SLOT_OPEN && sl->rows > 0) {
            /* a failure or a cancel: the rows since the last checkpoint are written again
             * (abort_transaction purges what is still queued) */
            s->closing = true;
            rd_kafka_error_t *e = rd_kafka_abort_transaction(sl->rk, s->timeout_ms);
            if (e) {
                rn_op_log(ctx, "abort_transaction of transactional id '%s' failed: %s (the next init_transactions or "
                               "the transaction timeout aborts it)", sl->txn_id, rd_kafka_error_string(e));
                rd_kafka_error_destroy(e);
            } else {
                count(s->m_aborted);
            }
        }
        /* pre-committed transactions stay as they are: a restore deals with them */
        s->closing = true;
        slot_destroy(sl);
    }
    rn_expr_destroy(s->key);
    rn_text_buf_free(&s->buf);
    free(s->prefix);
    free(s->topic);
    free(s);
}

const struct rn_operator_def rnk_sink_def = {
    .abi_version = RN_OPERATOR_ABI, .struct_size = sizeof(struct rn_operator_def),
    .name = "kafka_sink", .description = "writes rows as messages to a Kafka topic (json, csv or raw), at least once "
                                         "or exactly once with a transaction per checkpoint",
    .options = options, .n_inputs_min = 1, .n_inputs_max = 1, .flags = RN_OP_SINK,
    .plan = plan, .open = open_, .process = process, .finish = finish, .close = close_,
    .snapshot = snapshot, .restore = restore, .checkpoint_complete = checkpoint_complete,
};
