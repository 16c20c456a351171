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
 * pre-committed for n (the operator-state list "kafka_sink.pending", for the restore),
 * and begins a transaction on a free slot; an open transaction with no rows is simply kept.
 * checkpoint_complete(n) commits every pre-committed transaction of a checkpoint <= n.
 * close() aborts the open transaction (a failure, a cancel). Without checkpoints the open
 * transaction is committed in finish(): nothing is visible before the end of input (open() logs
 * a warning saying so; on an unbounded input the brokers abort it after transaction_timeout). A restore at another parallelism also re-initialises
 * the pools of old subtasks j >= the new parallelism that map to this one (j % parallelism).
 *
 * A commit lost in a crash (replay: true, the default, with checkpoints): librdkafka cannot resume
 * another producer's transaction (Flink's KafkaSink does, through Java client internals), so a
 * transaction pre-committed for checkpoint n whose commit was not sent before the process died
 * is aborted by the restore's init_transactions. To write its rows anyway:
 *  - commit marker: right before committing the transaction of checkpoint n, the sink adds to it
 *    (send_offsets_to_transaction) offset n of (topic, partition 0) for consumer group
 *    "<transactional id>", with the run nonce as the offset's metadata ("runnel-run:<16 hex>");
 *    the brokers store it if and only if the transaction commits. (Sent at the commit rather than
 *    at the snapshot: the same guarantee without two more round trips in the snapshot's pause.)
 *  - run nonce: markers are consumer-group offsets and outlive a run, while checkpoint ids
 *    restart at 1 when the job starts afresh (a new or wiped checkpoint directory) with the same
 *    transactional ids; an older run's larger marker must not pass for a commit of this run. So
 *    a fresh start draws a random non-zero 64-bit nonce (getrandom), recorded in every checkpoint
 *    (union list "kafka_sink.run": version 1, writer subtask u32, nonce u64) and in each pending
 *    entry (version 3); a restore adopts the nonce its subtask had, so a restored run goes on
 *    with the same identity.
 *  - replay records: while a transaction is open its messages (key, value, timestamp; partition
 *    by the partitioner again) are appended to one growable arena of its slot (REC_HDR + bytes,
 *    no allocation per message, at most REPLAY_MAX per transaction, else the job fails saying
 *    to shorten the interval or set replay: false). snapshot(n) writes every pre-committed
 *    transaction's messages into the checkpoint (union list "kafka_sink.replay", elements of
 *    up to REPLAY_CHUNK bytes tagged with writer subtask, slot, checkpoint, sequence number and
 *    transactional id) with its entry in the union list "kafka_sink.pending" (rows, elements);
 *    the commit empties the arena.
 *  - restore: after every id is initialised (init_transactions settles a commit in flight and
 *    aborts what was open, so the marker read next is final), for each pending entry of this
 *    subtask (old subtask j: j mod parallelism), oldest checkpoint first, a short-lived
 *    consumer of group "<id>" reads the marker (rd_kafka_committed, read_committed, `timeout`;
 *    an error fails the restore rather than guess). Committed, nothing to do, only when the
 *    marker's metadata names the entry's run nonce and its offset >= n (entries of version 1-2,
 *    from before nonces: a marker without metadata). A marker of another run, or none: not
 *    committed. Then its messages are produced again into the open transaction, the marker for
 *    (<id>, n, the entry's nonce) added, and that transaction committed before anything new is
 *    written; logged, metric transactions_replayed. Every field of a restored element is
 *    checked: a corrupt one fails the restore (RN_ECORRUPT) naming the list, the element and
 *    what is wrong.
 * The mock of librdkafka 2.0.2 accepts the marker (AddOffsetsToTxn, TxnOffsetCommit) but does
 * not store it for OffsetFetch: there every pending transaction is replayed, the committed
 * ones too (duplicates on the mock only); the "committed: nothing to replay" branch is not
 * verifiable there. replay: false keeps no messages (the window above stays).
 *
 * TEST-ONLY hook: the environment variable RUNNEL_KAFKA_SINK_TEST_SKIP_COMMIT=1, read in open()
 * (never an option: no job file can set it), makes checkpoint_complete fail the task without
 * committing, as a crash between a checkpoint's completion and the commit.
 *
 * Assumes the host calls a subtask's callbacks on one thread (librdkafka's callbacks run inside
 * rd_kafka_poll / rd_kafka_flush on that thread, never concurrently with them).
 */
#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "kafka_common.h"

#define POOL 4                /* transactional producers per subtask (exactly_once) */
#define TXN_ATTEMPTS 3        /* tries of a transactional call that fails with a retriable error */
#define PENDING_LIST "kafka_sink.pending"
#define PENDING_FIXED 17u     /* v1: version u8, writer subtask u32, k u32, checkpoint i64; then the id */
#define PENDING_FIXED2 30u    /* v2: v1's fields, rows u64, chunks u32, replay u8; then the id */
#define PENDING_FIXED3 38u    /* v3: v2's fields, run nonce u64; then the id */
#define RUN_LIST "kafka_sink.run"
#define RUN_LEN 13u           /* version u8 (1), writer subtask u32, run nonce u64 */
#define MARKER_META_LEN 27u   /* "runnel-run:" and 16 hex digits */
#define REPLAY_LIST "kafka_sink.replay"
#define REPLAY_FIXED 23u      /* version u8, writer u32, k u32, checkpoint i64, seq u32, id length u16; id, records */
#define REPLAY_CHUNK (4u << 20)   /* bytes of records per element (a larger record: an element of its own) */
#define REPLAY_MAX ((size_t)512 << 20)   /* bytes of records one transaction may hold for replay */
#define REC_HDR 16u           /* a record: key length u32, value length u32 (NONE: absent), timestamp i64 */
#define NONE UINT32_MAX
#define MAX_PENDING 4096u     /* pending entries a restore accepts */
#define SKIP_COMMIT_ENV "RUNNEL_KAFKA_SINK_TEST_SKIP_COMMIT"

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
    {"replay", RN_OPT_BOOL, "true",
     "exactly_once: keep each transaction's messages until its commit and write them into the checkpoints, so that "
     "a restore can write again a transaction whose commit was lost"},
    {"properties", RN_OPT_MAP, "", "librdkafka producer properties (name: value)"},
    {NULL, 0, NULL, NULL},
};

enum slot_state { SLOT_FREE, SLOT_OPEN, SLOT_PRECOMMITTED };

/* The messages of a transaction, appended one after the other (REC_HDR, key, value). */
struct arena {
    uint8_t *p;
    size_t len, cap;
};

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
    struct arena replay;      /* exactly_once with replay: that transaction's messages */
};

struct state {
    struct rn_op_ctx *ctx;
    const rn_value *properties;
    const char *bootstrap;
    char *topic;
    enum rnk_format fmt;
    char delim;
    bool exactly_once, checkpointing;
    bool replay;              /* exactly_once, replay: true and checkpointing: messages kept in slots' arenas */
    bool test_skip_commit;    /* SKIP_COMMIT_ENV (tests only): checkpoint_complete fails without committing */
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
    const char *mk_group;     /* TXN_MARKER's group, offset and run nonce */
    int64_t mk_ckpt;
    uint64_t mk_nonce;
    uint64_t nonce;           /* exactly_once with replay: this run's identity (never 0), see run_nonce */
    _Atomic uint64_t *m_written, *m_committed, *m_aborted, *m_inits, *m_replayed;
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
    free(sl->replay.p);
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

enum txn_op { TXN_INIT, TXN_BEGIN, TXN_COMMIT, TXN_ABORT, TXN_MARKER };
static const char *const txn_names[] = {"init_transactions", "begin_transaction", "commit_transaction",
                                        "abort_transaction", "send_offsets_to_transaction (the commit marker)"};

/* The commit marker of the transaction open on rk: offset `ckpt` of (topic, partition 0) for
 * consumer group `group` (the transactional id the transaction was written under), which the
 * brokers store when, and only if, the transaction commits. */
static int marker_meta(uint64_t nonce, char *out, size_t len)
{
    int n = snprintf(out, len, "runnel-run:%016" PRIx64, nonce);
    return n == (int)MARKER_META_LEN ? 0 : RN_ERANGE;
}

static rd_kafka_error_t *send_marker(rd_kafka_t *rk, const char *topic, const char *group, int64_t ckpt,
                                     uint64_t nonce, int timeout_ms)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_consumer_group_metadata_t *g = rd_kafka_consumer_group_metadata_new(group);
    rd_kafka_error_t *e = NULL;
    if (!l || !g) {
        e = rd_kafka_error_new(RD_KAFKA_RESP_ERR__FAIL, "out of memory");
    } else {
        rd_kafka_topic_partition_t *tp = rd_kafka_topic_partition_list_add(l, topic, 0);
        tp->offset = ckpt;
        /* the run's identity as the offset's metadata (TxnOffsetCommit carries it; the list
         * frees it); nonce 0: a transaction of a checkpoint written before nonces, no metadata */
        char meta[MARKER_META_LEN + 1];
        if (nonce && !marker_meta(nonce, meta, sizeof meta) && (tp->metadata = malloc(MARKER_META_LEN))) {
            memcpy(tp->metadata, meta, MARKER_META_LEN);
            tp->metadata_size = MARKER_META_LEN;
        }
        if (nonce && !tp->metadata) e = rd_kafka_error_new(RD_KAFKA_RESP_ERR__FAIL, "out of memory");
        else e = rd_kafka_send_offsets_to_transaction(rk, l, g, timeout_ms);
    }
    if (g) rd_kafka_consumer_group_metadata_destroy(g);
    if (l) rd_kafka_topic_partition_list_destroy(l);
    return e;
}

static rd_kafka_error_t *txn_call(struct state *s, rd_kafka_t *rk, enum txn_op op, int timeout_ms)
{
    switch (op) {
    case TXN_INIT: return rd_kafka_init_transactions(rk, timeout_ms);
    case TXN_BEGIN: return rd_kafka_begin_transaction(rk);
    case TXN_COMMIT: return rd_kafka_commit_transaction(rk, timeout_ms);
    case TXN_ABORT: return rd_kafka_abort_transaction(rk, timeout_ms);
    case TXN_MARKER: return send_marker(rk, s->topic, s->mk_group, s->mk_ckpt, s->mk_nonce, timeout_ms);
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
        rd_kafka_error_t *e = txn_call(s, rk, op, left > 0 ? (int)left : 1);
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
    sl->replay.len = 0;
    s->cur = k;
    return 0;
}

/* Commits slot sl's transaction; with replay, its commit marker (offset sl->ckpt for group
 * sl->txn_id) goes into it first. */
static int slot_commit(struct state *s, struct slot *sl)
{
    int rc = 0;
    if (s->replay) {
        s->mk_group = sl->txn_id;
        s->mk_ckpt = sl->ckpt;
        s->mk_nonce = s->nonce;
        rc = txn_do(s, sl->rk, sl->txn_id, TXN_MARKER);
    }
    if (!rc) rc = txn_do(s, sl->rk, sl->txn_id, TXN_COMMIT);
    sl->st = SLOT_FREE;   /* committed, or aborted by txn_do: the task fails then */
    sl->replay.len = 0;
    if (rc) return rc;
    count(s->m_committed);
    return 0;
}

/* ---- replay records ---- */

/* Appends a message (key/value NULL: absent) to a; RN_ERANGE past REPLAY_MAX. */
static int arena_add(struct arena *a, const void *key, size_t klen, const void *val, size_t vlen, int64_t ts)
{
    size_t need = REC_HDR + (key ? klen : 0) + (val ? vlen : 0);
    if (klen >= NONE || vlen >= NONE || a->len + need > REPLAY_MAX) return RN_ERANGE;
    if (a->len + need > a->cap) {
        size_t cap = a->cap ? a->cap : 1u << 16;
        while (cap < a->len + need) cap *= 2;
        if (cap > REPLAY_MAX) cap = REPLAY_MAX;
        uint8_t *p = realloc(a->p, cap);
        if (!p) return RN_ENOMEM;
        a->p = p;
        a->cap = cap;
    }
    uint8_t *o = a->p + a->len;
    rn_put_le32(o, key ? (uint32_t)klen : NONE);
    rn_put_le32(o + 4, val ? (uint32_t)vlen : NONE);
    rn_put_le64(o + 8, (uint64_t)ts);
    o += REC_HDR;
    if (key && klen) memcpy(o, key, klen), o += klen;
    if (val && vlen) memcpy(o, val, vlen);
    a->len += need;
    return 0;
}

/* The size of the record at p (n bytes left), 0 when it does not fit. */
static size_t rec_size(const uint8_t *p, size_t n)
{
    if (n < REC_HDR) return 0;
    uint32_t kl = rn_get_le32(p), vl = rn_get_le32(p + 4);
    uint64_t sz = REC_HDR + (uint64_t)(kl == NONE ? 0 : kl) + (vl == NONE ? 0 : vl);
    return sz <= n ? (size_t)sz : 0;
}

/* Produces one message into sl's producer: RD_KAFKA_RESP_ERR__QUEUE_FULL is back-pressure
 * (deliveries served, cancellation checked). */
static int produce_one(struct state *s, struct slot *sl, const void *key, size_t klen, const void *val, size_t vlen,
                       int64_t ts)
{
    for (;;) {
        rd_kafka_resp_err_t err = rd_kafka_producev(sl->rk, RD_KAFKA_V_RKT(sl->rkt),
                                                    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                                    RD_KAFKA_V_VALUE((void *)val, val ? vlen : 0),
                                                    RD_KAFKA_V_KEY(key, klen), RD_KAFKA_V_TIMESTAMP(ts),
                                                    RD_KAFKA_V_END);
        if (!err) return 0;
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            rn_op_error(s->ctx, "cannot produce to topic '%s'%s%s%s: %s", s->topic,
                        sl->txn_id ? " in transactional id '" : "", sl->txn_id ? sl->txn_id : "",
                        sl->txn_id ? "'" : "", rd_kafka_err2str(err));
            return RN_EIO;
        }
        /* back-pressure: librdkafka's queue is full until deliveries free it (or time out,
         * message.timeout.ms, which fails them) */
        rd_kafka_poll(sl->rk, 10);
        int rc = check_failed(s);
        if (rc) return rc;
        if (rn_op_cancelled(s->ctx)) return RN_ECANCELED;
    }
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

/* A random non-zero 64-bit run nonce (0 or a negative errno). */
static int run_nonce(uint64_t *out)
{
    for (int tries = 0; tries < 8; tries++) {
        uint64_t v = 0;
        ssize_t n = getrandom(&v, sizeof v, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return -errno;
        if (n != (ssize_t)sizeof v || v == 0) continue;
        *out = v;
        return 0;
    }
    return -EAGAIN;
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

    if (!s->checkpointing)
        /* one transaction for the whole run, committed by finish(): on an unbounded input nothing
         * ever becomes visible, and the brokers abort it after transaction_timeout */
        rn_op_log(ctx,
                  "warning: delivery: exactly_once without a checkpoint: block: the rows written to topic '%s' become "
                  "visible to read_committed consumers only at the end of input (one transaction for the whole run, "
                  "aborted by the brokers if it stays open longer than transaction_timeout); add a checkpoint: block "
                  "for a commit per checkpoint",
                  s->topic);
    s->replay = s->checkpointing && rn_opt_bool(o, "replay");
    if (s->replay) {
        /* a fresh run's identity; restore() replaces it with the one the checkpoint carries */
        int rc = run_nonce(&s->nonce);
        if (rc) {
            rn_op_error(ctx, "cannot draw the run nonce of the commit markers (getrandom): %s", strerror(-rc));
            return RN_EIO;
        }
    }
    /* tests only (see the opening comment): never an option, so no job file can set it */
    const char *skip = getenv(SKIP_COMMIT_ENV);
    s->test_skip_commit = skip && !strcmp(skip, "1");
    s->m_committed = rn_op_metric(ctx, "transactions_committed");
    s->m_replayed = rn_op_metric(ctx, "transactions_replayed");
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
            rn_op_error(ctx, "topic '%s': the key expression failed: %s", s->topic, err.msg);
            return rc;
        }
        have_keys = true;
    }
    /* one CreateTime per batch: librdkafka would read the clock per message */
    int64_t now = rn_op_processing_time(ctx);
    for (uint32_t i = 0; i < b->n_rows && rc == 0; i++) {
        s->buf.len = 0;
        if ((rc = rnk_encode(s->fmt, s->delim, b, i, &s->buf))) {
            rn_op_error(ctx, "topic '%s': cannot encode a row as %s: %s", s->topic,
                        s->fmt == RNK_JSON ? "json" : s->fmt == RNK_CSV ? "csv" : "raw", rn_strerror(rc));
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
        if ((rc = produce_one(s, sl, k, klen, val, s->buf.len, now))) break;
        if (s->replay && (rc = arena_add(&sl->replay, k, klen, val, s->buf.len, now))) {
            if (rc == RN_ERANGE)
                rn_op_error(ctx, "the transaction of transactional id '%s' holds more than %zu MiB of messages to keep "
                                 "for replay: shorten the checkpoint interval or set replay: false",
                            sl->txn_id, REPLAY_MAX >> 20);
            else rn_op_error(ctx, "cannot keep a message for replay: %s", rn_strerror(rc));
            break;
        }
        sl->rows++;
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

/* Records pre-committed slot k in the checkpoint: an element of the union list PENDING_LIST and,
 * with replay, its messages as elements of the union list REPLAY_LIST (REPLAY_CHUNK bytes of
 * whole records each). Union lists: after a rescale the subtask that resolves the entry (old
 * subtask j goes to j mod the new parallelism) sees all of them. */
static int append_pending(struct state *s, struct rn_snapshot_writer *w, const struct slot *sl, int k)
{
    size_t lid = strlen(sl->txn_id);   /* < 512: txn_id_of */
    const struct arena *a = &sl->replay;
    uint32_t chunks = 0;
    int rc = 0;
    uint8_t *e = NULL;
    if (s->replay) {
        size_t cap = REPLAY_FIXED + lid + REPLAY_CHUNK;
        e = malloc(cap);
        if (!e) return RN_ENOMEM;
        size_t at = 0;
        while (at < a->len && rc == 0) {
            /* whole records up to REPLAY_CHUNK bytes (at least one) */
            size_t end = at;
            for (;;) {
                size_t r = rec_size(a->p + end, a->len - end);
                if (!r) break;
                if (end > at && end + r - at > REPLAY_CHUNK) break;
                end += r;
            }
            if (end == at) {
                rc = RN_ECORRUPT;   /* cannot happen: arena_add wrote whole records */
                break;
            }
            size_t n = REPLAY_FIXED + lid + (end - at);
            if (n > cap) {
                uint8_t *b = realloc(e, n);
                if (!b) {
                    rc = RN_ENOMEM;
                    break;
                }
                e = b, cap = n;
            }
            e[0] = 1;
            rn_put_le32(e + 1, s->subtask);
            rn_put_le32(e + 5, (uint32_t)k);
            rn_put_le64(e + 9, (uint64_t)sl->ckpt);
            rn_put_le32(e + 17, chunks);
            e[21] = (uint8_t)lid, e[22] = (uint8_t)(lid >> 8);
            memcpy(e + REPLAY_FIXED, sl->txn_id, lid);
            memcpy(e + REPLAY_FIXED + lid, a->p + at, end - at);
            rc = rn_snapshot_append_union(w, REPLAY_LIST, e, (uint32_t)n);
            chunks++;
            at = end;
        }
    }
    if (rc == 0) {
        uint8_t *p = realloc(e, PENDING_FIXED3 + lid);
        if (!p) rc = RN_ENOMEM;
        else e = p;
    }
    if (rc == 0) {
        e[0] = 3;
        rn_put_le32(e + 1, s->subtask);
        rn_put_le32(e + 5, (uint32_t)k);
        rn_put_le64(e + 9, (uint64_t)sl->ckpt);
        rn_put_le64(e + 17, sl->rows);
        rn_put_le32(e + 25, chunks);
        e[29] = s->replay;
        rn_put_le64(e + 30, s->replay ? s->nonce : 0);
        memcpy(e + PENDING_FIXED3, sl->txn_id, lid);
        rc = rn_snapshot_append_union(w, PENDING_LIST, e, (uint32_t)(PENDING_FIXED3 + lid));
    }
    free(e);
    if (rc) rn_op_error(s->ctx, "cannot record the pending transaction of '%s' in the checkpoint: %s", sl->txn_id,
                        rn_strerror(rc));
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
    if (rc == 0 && s->replay) {
        /* the run's identity, carried across restores (a pending entry also holds it) */
        uint8_t e[RUN_LEN];
        e[0] = 1;
        rn_put_le32(e + 1, s->subtask);
        rn_put_le64(e + 5, s->nonce);
        if ((rc = rn_snapshot_append_union(w, RUN_LIST, e, RUN_LEN)))
            rn_op_error(ctx, "checkpoint %lld: cannot record the run nonce: %s", (long long)id, rn_strerror(rc));
    }
    return rc;
}

static int checkpoint_complete(void *state, struct rn_op_ctx *ctx, int64_t id)
{
    struct state *s = state;
    s->ctx = ctx;
    if (!s->exactly_once) return 0;
    if (s->test_skip_commit) {
        for (int k = 0; k < POOL; k++)
            if (s->slots[k].st == SLOT_PRECOMMITTED && s->slots[k].ckpt <= id) {
                rn_op_error(ctx, "%s=1: checkpoint %lld completed, the commit of transactional id '%s' is skipped "
                                 "and the task fails (a crash before the commit, for tests)",
                            SKIP_COMMIT_ENV, (long long)id, s->slots[k].txn_id);
                return RN_EIO;
            }
    }
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

/* A pending transaction listed by the restored checkpoint, owned by this subtask. */
struct pending {
    uint32_t version, writer, k, chunks;
    int64_t ckpt;
    uint64_t rows;
    uint64_t nonce;           /* the run that wrote it (v3 with replay); 0: before nonces */
    bool replay;
    char id[512];
};

struct restoring {
    struct state *s;
    int64_t from;
    uint32_t par, old_par;
    uint32_t seen;            /* elements of the list being read */
    bool bad;
    char why[256];            /* bad: what is wrong with element `seen` */
    bool have_nonce;          /* RUN_LIST named this subtask's run */
    uint64_t nonce;
    struct pending *v;
    size_t n, cap;
    /* replaying v[at] */
    const struct pending *want;
    uint32_t next_chunk;
    uint64_t rows;
    int rc;
};

/* Marks the element being read corrupt, saying why; returns RN_ECORRUPT. */
static int corrupt(struct restoring *r, const char *f, ...) __attribute__((format(printf, 2, 3)));
static int corrupt(struct restoring *r, const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    vsnprintf(r->why, sizeof r->why, f, ap);
    va_end(ap);
    r->bad = true;
    return RN_ECORRUPT;
}

/* An element of PENDING_LIST: every field is checked (for every subtask's elements), then this
 * subtask's are kept. */
static int restore_one(const void *val, uint32_t len, void *user)
{
    struct restoring *r = user;
    const uint8_t *p = val;
    r->seen++;
    if (len < 1) return corrupt(r, "empty");
    size_t fixed = p[0] == 1 ? PENDING_FIXED : p[0] == 2 ? PENDING_FIXED2 : p[0] == 3 ? PENDING_FIXED3 : 0;
    if (!fixed) return corrupt(r, "unknown version %u (1 to 3)", p[0]);
    if (len < fixed)
        return corrupt(r, "%u bytes, fewer than the %zu fixed bytes of version %u", len, fixed, p[0]);
    size_t lid = len - fixed;
    if (lid == 0 || lid >= sizeof r->v->id)
        return corrupt(r, "a transactional id of %zu bytes (1 to %zu)", lid, sizeof r->v->id - 1);
    if (memchr(p + fixed, 0, lid)) return corrupt(r, "a transactional id holding a NUL byte");
    uint32_t writer = rn_get_le32(p + 1), k = rn_get_le32(p + 5);
    int64_t ckpt = (int64_t)rn_get_le64(p + 9);
    if (writer >= r->old_par)
        return corrupt(r, "writer subtask %u, but the operator had parallelism %u", writer, r->old_par);
    if (k >= POOL) return corrupt(r, "slot %u (0 to %d)", k, POOL - 1);
    if (ckpt < 1 || ckpt > r->from) return corrupt(r, "checkpoint %lld (1 to %lld)", (long long)ckpt, (long long)r->from);
    uint64_t rows = 0, nonce = 0;
    uint32_t chunks = 0;
    bool replay = false;
    if (p[0] >= 2) {
        rows = rn_get_le64(p + 17);
        chunks = rn_get_le32(p + 25);
        if (p[29] > 1) return corrupt(r, "replay flag %u (0 or 1)", p[29]);
        replay = p[29];
        if (rows == 0) return corrupt(r, "a pre-committed transaction of no rows");
        if (!replay && chunks) return corrupt(r, "%u elements of messages without replay", chunks);
        if (replay && (chunks == 0 || chunks > rows))
            return corrupt(r, "%u elements of messages for %llu rows", chunks, (unsigned long long)rows);
    }
    if (p[0] >= 3) {
        nonce = rn_get_le64(p + 30);
        if (replay && !nonce) return corrupt(r, "no run nonce (0) with replay");
        if (!replay && nonce) return corrupt(r, "a run nonce without replay");
    }
    if (writer % r->par != r->s->subtask) return 0;   /* another subtask's */
    if (r->n >= MAX_PENDING) return corrupt(r, "more than %u pending transactions for subtask %u", MAX_PENDING,
                                            r->s->subtask);
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 8;
        struct pending *v = realloc(r->v, cap * sizeof *v);
        if (!v) return RN_ENOMEM;
        r->v = v;
        r->cap = cap;
    }
    struct pending *e = &r->v[r->n++];
    memset(e, 0, sizeof *e);
    e->version = p[0];
    e->writer = writer;
    e->k = rn_get_le32(p + 5);
    e->ckpt = ckpt;
    e->rows = rows;
    e->chunks = chunks;
    e->replay = replay;
    e->nonce = nonce;
    memcpy(e->id, p + fixed, lid);
    return 0;
}

/* An element of RUN_LIST: the run nonce of a subtask; this subtask's is adopted. */
static int run_one(const void *val, uint32_t len, void *user)
{
    struct restoring *r = user;
    const uint8_t *p = val;
    r->seen++;
    if (len != RUN_LEN) return corrupt(r, "%u bytes, not %u", len, RUN_LEN);
    if (p[0] != 1) return corrupt(r, "unknown version %u (1)", p[0]);
    uint32_t writer = rn_get_le32(p + 1);
    uint64_t nonce = rn_get_le64(p + 5);
    if (writer >= r->old_par)
        return corrupt(r, "writer subtask %u, but the operator had parallelism %u", writer, r->old_par);
    if (!nonce) return corrupt(r, "run nonce 0");
    if (writer != r->s->subtask) return 0;
    if (r->have_nonce && r->nonce != nonce) return corrupt(r, "a second run nonce for subtask %u", writer);
    r->have_nonce = true;
    r->nonce = nonce;
    return 0;
}

/* The offset of the commit marker of transactional id `id` (what its last committed
 * transaction recorded): *out, or -1 when none; *same_run: its metadata names run `nonce` (0:
 * none, a marker of a checkpoint from before nonces). A short-lived consumer of group `id` that
 * joins nothing (rd_kafka_committed is an OffsetFetch), read_committed so that the brokers answer
 * with settled transactional offsets only. */
static int marker_of(struct state *s, const char *id, uint64_t nonce, int64_t *out, bool *same_run)
{
    const char *fixed[] = {"group.id", id, "enable.auto.commit", "false", "isolation.level", "read_committed",
                           "log.queue", "true", NULL};
    char why[512];
    struct slot tmp = {.s = s};
    rd_kafka_conf_t *c = rnk_conf_build(s->bootstrap, s->properties, fixed, why, sizeof why);
    if (!c) {
        rn_op_error(s->ctx, "consumer for the commit marker of '%s': %s", id, why);
        return RN_EINVAL;
    }
    rd_kafka_conf_set_opaque(c, &tmp);
    rd_kafka_conf_set_log_cb(c, on_log);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, why, sizeof why);
    if (!rk) {
        rd_kafka_conf_destroy(c);
        rn_op_error(s->ctx, "cannot create a consumer to read the commit marker of '%s': %s", id, why);
        return RN_EINVAL;
    }
    rd_kafka_set_log_queue(rk, NULL);
    int rc = 0;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    if (!l) {
        rc = RN_ENOMEM;
        goto out;
    }
    rd_kafka_topic_partition_list_add(l, s->topic, 0);
    rd_kafka_resp_err_t err = rd_kafka_committed(rk, l, s->timeout_ms);
    if (!err) err = l->elems[0].err;
    if (err) {
        rn_op_error(s->ctx, "cannot read the commit marker of transactional id '%s' (group '%s', topic '%s' partition "
                            "0) within %d ms: %s",
                    id, id, s->topic, s->timeout_ms, rd_kafka_err2str(err));
        rc = RN_EIO;
        goto out;
    }
    *out = l->elems[0].offset >= 0 ? l->elems[0].offset : -1;
    const rd_kafka_topic_partition_t *tp = &l->elems[0];
    if (!nonce) {
        *same_run = tp->metadata_size == 0;
    } else {
        char meta[MARKER_META_LEN + 1];
        *same_run = !marker_meta(nonce, meta, sizeof meta) && tp->metadata && tp->metadata_size == MARKER_META_LEN &&
                    !memcmp(tp->metadata, meta, MARKER_META_LEN);
    }
out:
    if (l) rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_poll(rk, 0);   /* its logs */
    rd_kafka_destroy(rk);
    return rc;
}

/* Produces the records of one replay element of r->want into the open transaction. */
static int replay_one(const void *val, uint32_t len, void *user)
{
    struct restoring *r = user;
    struct state *s = r->s;
    const uint8_t *p = val;
    if (len < REPLAY_FIXED || p[0] != 1) return r->bad = true, RN_ECORRUPT;
    size_t lid = (size_t)p[21] | (size_t)p[22] << 8;
    if (len < REPLAY_FIXED + lid) return r->bad = true, RN_ECORRUPT;
    const struct pending *w = r->want;
    if (rn_get_le32(p + 1) != w->writer || rn_get_le32(p + 5) != w->k || (int64_t)rn_get_le64(p + 9) != w->ckpt ||
        lid != strlen(w->id) || memcmp(p + REPLAY_FIXED, w->id, lid))
        return 0;   /* another transaction's */
    if (rn_get_le32(p + 17) != r->next_chunk) return r->bad = true, RN_ECORRUPT;
    r->next_chunk++;
    struct slot *sl = &s->slots[s->cur];
    const uint8_t *q = p + REPLAY_FIXED + lid, *end = p + len;
    while (q < end) {
        size_t n = rec_size(q, (size_t)(end - q));
        if (!n) return r->bad = true, RN_ECORRUPT;
        uint32_t kl = rn_get_le32(q), vl = rn_get_le32(q + 4);
        const uint8_t *k = q + REC_HDR, *v = k + (kl == NONE ? 0 : kl);
        int rc = produce_one(s, sl, kl == NONE ? NULL : (kl ? (const void *)k : ""), kl == NONE ? 0 : kl,
                             vl == NONE ? NULL : (vl ? (const void *)v : ""), vl == NONE ? 0 : vl,
                             (int64_t)rn_get_le64(q + 8));
        if (rc) return r->rc = rc;
        r->rows++;
        sl->rows++;   /* close() aborts it if the restore fails */
        q += n;
    }
    rd_kafka_poll(sl->rk, 0);
    return check_failed(s) ? (r->rc = RN_EIO) : 0;
}

/* Resolves pending transaction e: its commit marker says whether it committed; if not, its
 * records go again into a transaction of their own (with e's marker), committed before
 * anything new is written. */
static int resolve(struct state *s, struct rn_snapshot_reader *rd, struct restoring *r, const struct pending *e)
{
    if (e->version < 2 || !e->replay) {
        rn_op_log(s->ctx,
                  "checkpoint %lld lists transaction '%s' (subtask %u, slot %u) pre-committed for checkpoint %lld "
                  "without its messages (replay: false): it was committed only if the failed run got to it after the "
                  "checkpoint completed; otherwise re-initialising its transactional id aborted it",
                  (long long)r->from, e->id, e->writer, e->k, (long long)e->ckpt);
        return 0;
    }
    /* committed only when the marker is this run's (checkpoint ids restart at 1 when a job starts
     * afresh, so another run's marker may be larger) and at or past e's checkpoint. The mock of
     * librdkafka 2.0.2 does not store markers at all: there only the replay branch runs. */
    int64_t marker = -1;
    bool same_run = false;
    int rc = marker_of(s, e->id, e->nonce, &marker, &same_run);
    if (rc) return rc;
    if (same_run && marker >= e->ckpt) {
        rn_op_log(s->ctx,
                  "checkpoint %lld lists transaction '%s' pre-committed for checkpoint %lld: committed (its marker "
                  "says checkpoint %lld of the same run), nothing to replay",
                  (long long)r->from, e->id, (long long)e->ckpt, (long long)marker);
        return 0;
    }
    struct slot *sl = &s->slots[s->cur];
    r->want = e;
    r->next_chunk = 0;
    r->rows = 0;
    r->rc = 0;
    rc = rn_restore_each(rd, REPLAY_LIST, replay_one, r);
    if (rc) {
        if (r->rc) return r->rc;   /* reported */
        if (r->bad) rn_op_error(s->ctx, "checkpoint %lld: an element of list '%s' is not one kafka_sink wrote",
                                (long long)r->from, REPLAY_LIST);
        else rn_op_error(s->ctx, "cannot read the messages of checkpoint %lld: %s", (long long)r->from,
                         rn_strerror(rc));
        return rc;
    }
    if (r->next_chunk != e->chunks || r->rows != e->rows) {
        rn_op_error(s->ctx,
                    "checkpoint %lld holds %llu of the %llu messages (%u of %u elements) of transaction '%s' "
                    "(checkpoint %lld): the checkpoint is incomplete",
                    (long long)r->from, (unsigned long long)r->rows, (unsigned long long)e->rows, r->next_chunk,
                    e->chunks, e->id, (long long)e->ckpt);
        return RN_ECORRUPT;
    }
    char what[600];
    snprintf(what, sizeof what, "the replay of transaction '%s' (checkpoint %lld)", e->id, (long long)e->ckpt);
    s->mk_group = e->id;
    s->mk_ckpt = e->ckpt;
    s->mk_nonce = e->nonce;   /* the marker of e's run: a restore from this checkpoint again finds it */
    if ((rc = slot_flush(s, sl, what)) || (rc = txn_do(s, sl->rk, sl->txn_id, TXN_MARKER)) ||
        (rc = txn_do(s, sl->rk, sl->txn_id, TXN_COMMIT))) {
        sl->st = SLOT_FREE;
        return rc;
    }
    count(s->m_replayed);
    rn_op_log(s->ctx,
              "checkpoint %lld lists transaction '%s' pre-committed for checkpoint %lld and its commit marker says "
              "%s: replayed its %llu messages to topic '%s' in a transaction of '%s', committed",
              (long long)r->from, e->id, (long long)e->ckpt,
              marker < 0 ? "none" : !same_run ? "another run's" : "an earlier checkpoint",
              (unsigned long long)r->rows, s->topic, sl->txn_id);
    return slot_begin(s, s->cur);
}

static int by_ckpt(const void *a, const void *b)
{
    const struct pending *x = a, *y = b;
    if (x->ckpt != y->ckpt) return x->ckpt < y->ckpt ? -1 : 1;
    return x->writer != y->writer ? (x->writer < y->writer ? -1 : 1) : (x->k > y->k) - (x->k < y->k);
}

static int restore(void *state, struct rn_op_ctx *ctx, struct rn_snapshot_reader *rd)
{
    struct state *s = state;
    s->ctx = ctx;
    if (!s->exactly_once) return 0;
    struct restoring got = {.s = s, .from = rn_restore_id(rd), .par = rn_op_parallelism(ctx),
                            .old_par = rn_restore_old_parallelism(rd)};
    const char *list = RUN_LIST;
    int rc = rn_restore_each(rd, RUN_LIST, run_one, &got);
    if (!rc) {
        list = PENDING_LIST;
        got.seen = 0;
        rc = rn_restore_each(rd, PENDING_LIST, restore_one, &got);
    }
    if (rc) {
        if (got.bad) rn_op_error(ctx, "checkpoint %lld: element %u of list '%s' is corrupt: %s", (long long)got.from,
                                 got.seen, list, got.why);
        else rn_op_error(ctx, "cannot read list '%s' of checkpoint %lld: %s", list, (long long)got.from,
                         rn_strerror(rc));
        goto out;
    }
    /* the run goes on: its markers keep the checkpoint's run nonce (a subtask the checkpoint did
     * not have keeps the fresh one open() drew) */
    if (got.have_nonce && s->replay) s->nonce = got.nonce;
    /* this subtask's own pool was initialised by open(); the pools of old subtasks that no
     * longer exist go to the subtask they map to */
    uint32_t old = got.old_par;
    for (uint32_t j = got.par; j < old && rc == 0; j++)
        if (j % got.par == s->subtask) rc = fence_pool(s, j);
    /* every id is initialised now: a commit in flight has settled, what was open is aborted, so
     * the markers read next are final */
    if (got.n > 1) qsort(got.v, got.n, sizeof *got.v, by_ckpt);   /* oldest first: the output's order */
    for (size_t i = 0; i < got.n && rc == 0; i++) rc = resolve(s, rd, &got, &got.v[i]);
out:
    free(got.v);
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
