/*
 * kafka_source.c — `kafka_source`: reads Kafka topics (a topic, a list, or a POSIX extended
 * regular expression over the cluster's topic names) into rows of a declared schema (json, csv
 * or raw message values, kafka_common.h), optionally with the message timestamp as an extra
 * column.
 *
 * Partitions are assigned by the engine, as Flink does, not by the consumer-group protocol:
 * partition p of topic t belongs to subtask (fnv1a32(t) + p) mod parallelism (uint32
 * arithmetic). The subtask assigns its partitions with rd_kafka_incremental_assign (no
 * subscription, no group membership; librdkafka still wants a group.id for that, which is
 * group_id or "runnel.<job>.<node>", and only group_id is ever committed to). Each owned
 * partition is a split (per-partition watermarks; an idle partition does not hold the watermark
 * back) with its own rn_builder, so a batch holds the rows of one partition.
 *
 * Offsets belong to checkpoints: snapshot() appends one element per owned partition to the union
 * list "kafka_source.offsets" {version 1, flags (finished, has stop), partition le32, next offset
 * le64, stop offset le64, topic bytes} (kafka_state.h: the codec, which checks every field of what
 * it reads, so that a corrupt checkpoint fails the restore naming what is wrong); every subtask of a restored job sees every element and
 * keeps those of its partitions under the rule above at the current parallelism (rescaling
 * works), seeking there; partitions of a topic the job no longer wants (topic, topics or
 * topic_pattern changed since the checkpoint) are skipped, each such topic logged once. A next offset below 0 is librdkafka's logical offset (-2 earliest) for a
 * partition nothing was read from yet. Partitions not in the checkpoint start at the earliest
 * offset. With group_id the offsets of a completed checkpoint are committed to the group
 * (asynchronously, for monitoring; never read back except by `start: group`).
 *
 * Bounded mode (stop_at: latest): at a fresh start the end offset of every partition
 * (ListOffsets latest: the last stable offset under read_committed) is the partition's stop
 * offset; a partition is finished when its next offset reaches it (partition EOF events carry the
 * real end, which control records of transactions may push past the last message); when every
 * owned partition finished, poll() ends the input. Discovery is off in bounded mode (Flink's
 * bounded KafkaSource does the same): the partitions are those of the start.
 *
 * Assumptions: every librdkafka callback runs on the subtask's thread (the main queues of the
 * consumer and of the dead-letter producer, logs included, are served by rd_kafka_poll in
 * poll()); the first poll() does the start-up (metadata and offset look-ups, bounded by
 * RNK_START_TIMEOUT_MS), because restore() comes after open(); later polls never block longer
 * than a metadata refresh for discovery (RNK_DISCOVERY_TIMEOUT_MS).
 */
#include <inttypes.h>
#include <regex.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kafka_common.h"
#include "kafka_state.h"

#define RNK_START_TIMEOUT_MS 10000      /* metadata and offset look-ups at the start */
#define RNK_DISCOVERY_TIMEOUT_MS 2000   /* a metadata refresh for discovery */
#define RNK_FLUSH_TIMEOUT_MS 30000      /* dead letters flushed in a checkpoint */
#define RNK_CLOSE_WAIT_MS 2000          /* pending commits and dead letters at close */
#define RNK_MSGS 4096                   /* messages taken from the queue at once */
#define RNK_POLL_MAX 65536              /* messages per poll() before going back to the task */
#define RNK_PENDING_COMMITS 8           /* snapshots kept for checkpoint_complete */
#define RNK_QUEUED_MIN "1000000"        /* queued.min.messages unless properties: set it */


static const struct rn_option options[] = {
    {"bootstrap_servers", RN_OPT_STRING, NULL, "host:port[,host:port...] of the Kafka brokers"},
    {"topic", RN_OPT_STRING, "", "the topic to read (or topics, or topic_pattern)"},
    {"topics", RN_OPT_LIST, "", "the topics to read"},
    {"topic_pattern", RN_OPT_STRING, "",
     "POSIX extended regular expression: every topic of the cluster whose name it matches (searched, anchor it "
     "with ^...$), new ones included; topics starting with '__' never match"},
    {"group_id", RN_OPT_STRING, "",
     "consumer group the offsets of completed checkpoints are committed to (monitoring), read by start: group"},
    {"start", RN_OPT_STRING, "earliest",
     "earliest | latest | group (the group's committed offsets, else earliest) | timestamp:<ms or ISO-8601>"},
    {"stop_at", RN_OPT_STRING, "none", "none (unbounded) or latest (the end offsets at the start: a bounded job)"},
    {"format", RN_OPT_STRING, "json", "json, csv (fields in schema order, no header) or raw (one string column)"},
    {"schema", RN_OPT_SCHEMA, NULL, "the columns of a message value: {name: type, ...}"},
    {"delimiter", RN_OPT_STRING, "','", "CSV field delimiter (one character)"},
    {"timestamp_column", RN_OPT_STRING, "",
     "when set, a timestamp column of this name after the schema's, holding the Kafka message timestamp"},
    {"on_error", RN_OPT_STRING, "fail",
     "a value that does not decode: fail (naming topic, partition, offset), skip (metric records_skipped) or "
     "dead_letter (to dead_letter_topic, metric records_dead_lettered)"},
    {"dead_letter_topic", RN_OPT_STRING, "", "the topic of on_error: dead_letter"},
    {"discovery_interval", RN_OPT_DURATION, "10s", "how often new partitions and topics are looked for (0: never)"},
    {"properties", RN_OPT_MAP, "", "librdkafka consumer properties (name: value)"},
    {NULL, 0, NULL, NULL},
};

/* ---- options ---- */

enum start_mode { START_EARLIEST, START_LATEST, START_GROUP, START_TIMESTAMP };
enum on_error { ON_FAIL, ON_SKIP, ON_DEAD_LETTER };

struct config {
    const char *bootstrap, *topic, *pattern, *group_id, *ts_column, *dlt;
    const rn_value *topics, *properties;
    enum start_mode start;
    int64_t start_ts;
    bool bounded;
    enum rnk_format fmt;
    char delim;
    enum on_error on_error;
    int64_t discovery_ms;
};

static bool present(const rn_value *o, const char *name) { return rn_opt_value(o, name) != NULL; }

static bool topic_name_ok(const char *t) { return rnk_topic_name_ok(t, strlen(t)); }

/* Reads the options into c; on a bad one returns the option's name (and *why), else NULL. The
 * job was validated by plan() when open() calls this. */
static const char *read_config(const rn_value *o, struct config *c, const char **why)
{
    memset(c, 0, sizeof *c);
    *why = NULL;
    c->bootstrap = rn_opt_string(o, "bootstrap_servers");
    c->topic = rn_opt_string(o, "topic");
    c->topics = rn_opt_value(o, "topics");
    c->pattern = rn_opt_string(o, "topic_pattern");
    c->group_id = rn_opt_string(o, "group_id");
    c->ts_column = rn_opt_string(o, "timestamp_column");
    c->dlt = rn_opt_string(o, "dead_letter_topic");
    c->properties = rn_opt_value(o, "properties");
    c->discovery_ms = rn_opt_duration(o, "discovery_interval");
    const char *start = rn_opt_string(o, "start"), *stop = rn_opt_string(o, "stop_at"),
               *fmt = rn_opt_string(o, "format"), *delim = rn_opt_string(o, "delimiter"),
               *on_error = rn_opt_string(o, "on_error");
    if (!start) return *why = "start must be earliest, latest, group or timestamp:<ms>", "start";
    if (!strcmp(start, "earliest")) c->start = START_EARLIEST;
    else if (!strcmp(start, "latest")) c->start = START_LATEST;
    else if (!strcmp(start, "group")) c->start = START_GROUP;
    else if (!strncmp(start, "timestamp:", 10)) {
        const char *t = start + 10;
        while (*t == ' ') t++;
        c->start = START_TIMESTAMP;
        if (!*t || rn_timestamp_parse(t, strlen(t), &c->start_ts) || c->start_ts < 0)
            return *why = "start: timestamp:<ms> needs milliseconds since the epoch (or an ISO-8601 time) after the "
                          "colon",
                   "start";
    } else {
        return *why = "start must be earliest, latest, group or timestamp:<ms>", "start";
    }
    if (!stop || (strcmp(stop, "none") && strcmp(stop, "latest"))) return *why = "stop_at must be none or latest", "stop_at";
    c->bounded = !strcmp(stop, "latest");
    if (rnk_format_parse(fmt, &c->fmt)) return *why = "format must be json, csv or raw", "format";
    if (!delim || strlen(delim) != 1) return *why = "delimiter must be one character", "delimiter";
    c->delim = delim[0];
    if (!on_error) on_error = "";
    if (!strcmp(on_error, "fail")) c->on_error = ON_FAIL;
    else if (!strcmp(on_error, "skip")) c->on_error = ON_SKIP;
    else if (!strcmp(on_error, "dead_letter")) c->on_error = ON_DEAD_LETTER;
    else return *why = "on_error must be fail, skip or dead_letter", "on_error";
    if (c->discovery_ms < 0) return *why = "discovery_interval must not be negative", "discovery_interval";
    return NULL;
}

static int plan(struct rn_plan_ctx *ctx)
{
    const rn_value *o = rn_plan_options(ctx);
    int rc = rnk_plan_check_properties(ctx, o, "source");
    if (rc) return rc;
    struct config c;
    const char *why, *bad = read_config(o, &c, &why);
    if (bad) return rn_plan_error(ctx, rn_opt_value(o, bad), "%s", why);

    /* exactly one of topic, topics, topic_pattern */
    static const char *const which[] = {"topic", "topics", "topic_pattern"};
    const char *first = NULL;
    for (int i = 0; i < 3; i++) {
        if (!present(o, which[i])) continue;
        if (first)
            return rn_plan_error(ctx, rn_opt_value(o, which[i]), "give one of topic, topics and topic_pattern, not %s and %s",
                                 first, which[i]);
        first = which[i];
    }
    if (!first) return rn_plan_error(ctx, NULL, "kafka_source needs one of topic, topics or topic_pattern");
    if (c.topic && !topic_name_ok(c.topic))
        return rn_plan_error(ctx, rn_opt_value(o, "topic"), "'%s' is not a Kafka topic name ([a-zA-Z0-9._-], 1 to 249)",
                             c.topic);
    if (c.topics) {
        if (rn_value_len(c.topics) == 0) return rn_plan_error(ctx, c.topics, "topics is an empty list");
        for (size_t i = 0; i < rn_value_len(c.topics); i++) {
            const rn_value *t = rn_value_at(c.topics, i);
            const char *name = rn_value_kind(t) == RN_VALUE_SCALAR ? rn_value_text(t) : NULL;
            if (!name || !topic_name_ok(name))
                return rn_plan_error(ctx, t, "topics: item %zu is not a Kafka topic name ([a-zA-Z0-9._-], 1 to 249)",
                                     i + 1);
            for (size_t j = 0; j < i; j++)
                if (!strcmp(rn_value_text(rn_value_at(c.topics, j)), name))
                    return rn_plan_error(ctx, t, "topics: '%s' is listed twice", name);
        }
    }
    if (c.pattern) {
        struct rn_error rx_err;
        if (rn_regex_check(c.pattern, strlen(c.pattern), &rx_err))
            return rn_plan_error(ctx, rn_opt_value(o, "topic_pattern"), "topic_pattern: %s", rx_err.msg);
        regex_t re;
        int e = regcomp(&re, c.pattern, REG_EXTENDED | REG_NOSUB);
        if (e) {
            char msg[256];
            regerror(e, &re, msg, sizeof msg);
            return rn_plan_error(ctx, rn_opt_value(o, "topic_pattern"), "topic_pattern: %s", msg);
        }
        regfree(&re);
    }
    if (c.start == START_GROUP && !c.group_id)
        return rn_plan_error(ctx, rn_opt_value(o, "start"), "start: group reads the offsets of group_id: set group_id");
    if (c.group_id && !*c.group_id) return rn_plan_error(ctx, rn_opt_value(o, "group_id"), "group_id is empty");
    if (c.on_error == ON_DEAD_LETTER && !c.dlt)
        return rn_plan_error(ctx, rn_opt_value(o, "on_error"), "on_error: dead_letter needs dead_letter_topic");
    if (c.dlt && c.on_error != ON_DEAD_LETTER)
        return rn_plan_error(ctx, rn_opt_value(o, "dead_letter_topic"),
                             "dead_letter_topic is only used with on_error: dead_letter");
    if (c.dlt) {
        if (!topic_name_ok(c.dlt))
            return rn_plan_error(ctx, rn_opt_value(o, "dead_letter_topic"), "'%s' is not a Kafka topic name", c.dlt);
        bool loop = c.topic && !strcmp(c.topic, c.dlt);
        for (size_t i = 0; c.topics && i < rn_value_len(c.topics); i++)
            loop |= !strcmp(rn_value_text(rn_value_at(c.topics, i)), c.dlt);
        if (loop)
            return rn_plan_error(ctx, rn_opt_value(o, "dead_letter_topic"),
                                 "dead_letter_topic '%s' is a topic this source reads", c.dlt);
    }

    rn_schema *s = NULL;
    struct rn_error err;
    if (rn_value_schema(rn_opt_value(o, "schema"), &s, &err))
        return rn_plan_error(ctx, rn_opt_value(o, "schema"), "%s", err.msg);
    const char *fbad = rnk_format_check(c.fmt, s);
    if (fbad) {
        rn_schema_unref(s);
        return rn_plan_error(ctx, rn_opt_value(o, "schema"), "%s", fbad);
    }
    if (c.ts_column) {
        if (rn_schema_find(s, c.ts_column) >= 0) {
            rn_schema_unref(s);
            return rn_plan_error(ctx, rn_opt_value(o, "timestamp_column"), "the schema has a column '%s' already",
                                 c.ts_column);
        }
        if (rn_schema_add(s, c.ts_column, (struct rn_type){.id = RN_T_TIMESTAMP}, true)) {
            rn_schema_unref(s);
            return rn_plan_error(ctx, rn_opt_value(o, "timestamp_column"), "'%s' is not a column name", c.ts_column);
        }
    }
    rc = rn_plan_set_output(ctx, s);
    rn_schema_unref(s);
    return rc;
}

/* ---- state ---- */

/* An owned partition: a split. */
struct part {
    uint32_t topic;          /* index into topics */
    int32_t partition;
    int64_t next;            /* offset of the next message; < 0: librdkafka's logical offset */
    int64_t stop;            /* bounded mode: the end; -1 none */
    int64_t restored_at;     /* >= 0: seeked there on restore, the first message tells a reset */
    bool finished, assigned;
    rn_builder *bb;
};

struct topic {
    char *name;
    int32_t *idx;            /* partition -> index into parts, -1 not ours */
    int32_t n_idx;
    bool known, missing_logged;
    rd_kafka_topic_t *rkt;   /* held once a message of the topic came: messages match it by address */
};

/* A partition's position as a checkpoint recorded it. */
struct saved {
    char *topic;
    int32_t partition;
    int64_t next, stop;
    bool finished, has_stop;
};

/* The offsets of a snapshot, committed to group_id when its checkpoint completes. */
struct pending {
    int64_t id;
    rd_kafka_topic_partition_list_t *offsets;
};

struct state {
    struct rn_op_ctx *ctx;
    struct config cfg;
    regex_t re;
    bool have_re;
    rd_kafka_t *rk, *dlq;
    rd_kafka_queue_t *q;
    rd_kafka_message_t **msgs;
    rnk_decoder *dec;
    const rn_schema *out;
    uint32_t n_base, ts_col;     /* schema columns; the timestamp column (when configured) */
    char group[512];

    struct topic *topics;
    size_t n_topics;
    struct part *parts;
    size_t n_parts;
    uint32_t last_topic;         /* lookup cache */

    struct saved *saved;         /* restore(): this subtask's partitions of the checkpoint */
    size_t n_saved;
    bool restored, started, ended;
    bool ck_bounded;             /* the restored checkpoint came from a bounded run */
    int64_t next_discovery;

    struct pending pending[RNK_PENDING_COMMITS];
    int commits_in_flight;

    /* errors seen in librdkafka callbacks (on this thread) */
    char fatal[512];
    rd_kafka_resp_err_t last_err;
    char last_log[256];
    char dl_failed[512];

    _Atomic uint64_t *m_skipped, *m_dead;
};

static uint32_t fnv1a32(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++) {
        h ^= (uint8_t)*s;
        h *= 16777619u;
    }
    return h;
}

static bool mine(const struct state *s, const char *topic, int32_t partition)
{
    uint32_t par = rn_op_parallelism(s->ctx);
    return (fnv1a32(topic) + (uint32_t)partition) % par == rn_op_subtask(s->ctx);
}

static const char *part_topic(const struct state *s, const struct part *p) { return s->topics[p->topic].name; }

/* ---- librdkafka callbacks (served on the subtask's thread) ---- */

static bool err_is_fatal(rd_kafka_resp_err_t e)
{
    switch (e) {
    case RD_KAFKA_RESP_ERR__FATAL:
    case RD_KAFKA_RESP_ERR__AUTHENTICATION:
    case RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED:
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR__SSL:
    case RD_KAFKA_RESP_ERR__INVALID_ARG: return true;
    default: return false;
    }
}

static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    struct state *s = opaque;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char why[400];
        rd_kafka_resp_err_t e = rd_kafka_fatal_error(rk, why, sizeof why);
        if (!s->fatal[0]) snprintf(s->fatal, sizeof s->fatal, "fatal Kafka error: %s: %s", rd_kafka_err2name(e), why);
        return;
    }
    if (err_is_fatal(err)) {
        if (!s->fatal[0]) snprintf(s->fatal, sizeof s->fatal, "Kafka error %s: %s", rd_kafka_err2name(err), reason);
        return;
    }
    if (rk != s->rk) {   /* the dead-letter producer: its failures show in delivery reports */
        return;
    }
    if ((rd_kafka_resp_err_t)err == s->last_err) return;   /* logged once per change; librdkafka retries */
    s->last_err = err;
    rn_op_log(s->ctx, "kafka: %s (%s); librdkafka retries", reason, rd_kafka_err2name(err));
}

static void on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    struct state *s = rd_kafka_opaque(rk);
    if (!s || level > 3) return;   /* errors and worse; the rest is librdkafka's chatter */
    if (!strncmp(s->last_log, buf, sizeof s->last_log - 1)) return;
    snprintf(s->last_log, sizeof s->last_log, "%s", buf);
    rn_op_log(s->ctx, "librdkafka %s: %s", fac, buf);
}

static void on_commit(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *offsets, void *opaque)
{
    (void)rk;
    (void)offsets;
    struct state *s = opaque;
    if (s->commits_in_flight > 0) s->commits_in_flight--;
    if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET)
        rn_op_log(s->ctx, "committing offsets to group '%s' failed: %s (monitoring only; the checkpoint holds them)",
                  s->group, rd_kafka_err2str(err));
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    struct state *s = opaque;
    if (m->err && !s->dl_failed[0])
        snprintf(s->dl_failed, sizeof s->dl_failed, "a dead letter to topic '%s' was not delivered: %s",
                 s->cfg.dlt, rd_kafka_err2str(m->err));
}

/* ---- open ---- */

static int open_(struct rn_op_ctx *ctx, void **state)
{
    struct state *s = calloc(1, sizeof *s);
    if (!s) return RN_ENOMEM;
    *state = s;
    s->ctx = ctx;
    const rn_value *o = rn_op_options(ctx);
    const char *why;
    const char *bad = read_config(o, &s->cfg, &why);
    if (bad) {
        rn_op_error(ctx, "option %s: %s", bad, why);
        return RN_EINVAL;
    }
    if (s->cfg.pattern) {
        if (regcomp(&s->re, s->cfg.pattern, REG_EXTENDED | REG_NOSUB)) {
            rn_op_error(ctx, "topic_pattern does not compile");
            return RN_EINVAL;
        }
        s->have_re = true;
    }
    s->out = rn_op_output_schema(ctx);
    s->n_base = (uint32_t)rn_schema_len(s->out) - (s->cfg.ts_column ? 1u : 0u);
    s->ts_col = s->n_base;
    rn_schema *base = NULL;
    struct rn_error err;
    if (rn_value_schema(rn_opt_value(o, "schema"), &base, &err)) {
        rn_op_error(ctx, "schema: %s", err.msg);
        return RN_EINVAL;
    }
    s->dec = rnk_decoder_create(s->cfg.fmt, base, s->cfg.delim);
    rn_schema_unref(base);
    if (!s->dec || !(s->msgs = malloc(RNK_MSGS * sizeof *s->msgs))) return RN_ENOMEM;
    s->m_skipped = rn_op_metric(ctx, "records_skipped");
    s->m_dead = rn_op_metric(ctx, "records_dead_lettered");

    const char *job = rn_op_job_name(ctx);
    if (s->cfg.group_id) snprintf(s->group, sizeof s->group, "%s", s->cfg.group_id);
    else snprintf(s->group, sizeof s->group, "runnel.%s.%s", job && *job ? job : "job", rn_op_node_id(ctx));
    char client[600];
    snprintf(client, sizeof client, "runnel-%s-%s-%u", job && *job ? job : "job", rn_op_node_id(ctx), rn_op_subtask(ctx));
    const rn_value *props = s->cfg.properties;
    const char *fixed[32];
    size_t k = 0;
    fixed[k++] = "group.id", fixed[k++] = s->group;
    fixed[k++] = "enable.auto.commit", fixed[k++] = "false";
    fixed[k++] = "enable.auto.offset.store", fixed[k++] = "false";
    fixed[k++] = "enable.partition.eof", fixed[k++] = "true";
    fixed[k++] = "isolation.level", fixed[k++] = "read_committed";
    fixed[k++] = "log.queue", fixed[k++] = "true";
    if (!props || !rn_value_get(props, "auto.offset.reset")) fixed[k++] = "auto.offset.reset", fixed[k++] = "earliest";
    if (!props || !rn_value_get(props, "client.id")) fixed[k++] = "client.id", fixed[k++] = client;
    /* librdkafka 2.0 compares queued.min.messages with the length of the consumer queue that
     * every partition's queue forwards to (all partitions together), stops fetching when it is
     * reached and looks again only when the broker thread next wakes (up to a second later):
     * at its default (100000) a fast broker left the source idle two thirds of the time. The
     * bytes bound (queued.max.messages.kbytes, 64 MB by default) still caps the memory. */
    if (!props || !rn_value_get(props, "queued.min.messages")) fixed[k++] = "queued.min.messages", fixed[k++] = RNK_QUEUED_MIN;
    fixed[k] = NULL;
    char msg[512];
    rd_kafka_conf_t *conf = rnk_conf_build(s->cfg.bootstrap, props, fixed, msg, sizeof msg);
    if (!conf) {
        rn_op_error(ctx, "%s", msg);
        return RN_EINVAL;
    }
    rd_kafka_conf_set_opaque(conf, s);
    rd_kafka_conf_set_error_cb(conf, on_error);
    rd_kafka_conf_set_log_cb(conf, on_log);
    rd_kafka_conf_set_offset_commit_cb(conf, on_commit);
    if (!(s->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, msg, sizeof msg))) {
        rd_kafka_conf_destroy(conf);
        rn_op_error(ctx, "cannot create the Kafka consumer: %s", msg);
        return RN_EINVAL;
    }
    rd_kafka_set_log_queue(s->rk, NULL);
    if (!(s->q = rd_kafka_queue_get_consumer(s->rk))) {
        rn_op_error(ctx, "the Kafka consumer has no consumer queue (group.id)");
        return RN_EINVAL;
    }
    return 0;
}

/* ---- topics and partitions ---- */

static int topic_find(struct state *s, const char *name)
{
    for (size_t i = 0; i < s->n_topics; i++)
        if (!strcmp(s->topics[i].name, name)) return (int)i;
    return -1;
}

static int topic_get(struct state *s, const char *name)
{
    int i = topic_find(s, name);
    if (i >= 0) return i;
    struct topic *t = realloc(s->topics, (s->n_topics + 1) * sizeof *t);
    if (!t) return RN_ENOMEM;
    s->topics = t;
    t = &s->topics[s->n_topics];
    memset(t, 0, sizeof *t);
    if (!(t->name = strdup(name))) return RN_ENOMEM;
    return (int)s->n_topics++;
}

/* The part of (topic index, partition), or NULL. */
static struct part *part_of(struct state *s, uint32_t ti, int32_t partition)
{
    struct topic *t = &s->topics[ti];
    if (partition < 0 || partition >= t->n_idx || t->idx[partition] < 0) return NULL;
    return &s->parts[t->idx[partition]];
}

/* Adds an owned partition (not assigned yet); NULL when out of memory or past the split limit. */
static struct part *part_add(struct state *s, uint32_t ti, int32_t partition, int64_t next)
{
    if (s->n_parts >= RN_OP_MAX_SPLITS) {
        rn_op_error(s->ctx, "a kafka_source subtask reads at most %u partitions: raise the parallelism", RN_OP_MAX_SPLITS);
        return NULL;
    }
    struct topic *t = &s->topics[ti];
    if (partition >= t->n_idx) {
        int32_t n = partition + 1;
        int32_t *idx = realloc(t->idx, (size_t)n * sizeof *idx);
        if (!idx) return NULL;
        for (int32_t i = t->n_idx; i < n; i++) idx[i] = -1;
        t->idx = idx;
        t->n_idx = n;
    }
    struct part *p = realloc(s->parts, (s->n_parts + 1) * sizeof *p);
    if (!p) return NULL;
    s->parts = p;
    p = &s->parts[s->n_parts];
    *p = (struct part){.topic = ti, .partition = partition, .next = next, .stop = -1, .restored_at = -1};
    if (!(p->bb = rn_builder_create(s->out, 0))) return NULL;
    t->idx[partition] = (int32_t)s->n_parts++;
    return p;
}

static bool topic_wanted(const struct state *s, const char *name)
{
    if (s->cfg.topic) return !strcmp(name, s->cfg.topic);
    if (s->cfg.topics) {
        for (size_t i = 0; i < rn_value_len(s->cfg.topics); i++)
            if (!strcmp(rn_value_text(rn_value_at(s->cfg.topics, i)), name)) return true;
        return false;
    }
    if (!strncmp(name, "__", 2)) return false;
    if (s->cfg.dlt && !strcmp(name, s->cfg.dlt)) return false;
    return regexec(&s->re, name, 0, NULL, 0) == 0;
}

/* Reads the cluster's metadata and adds every partition of a wanted topic that belongs to this
 * subtask and is not known yet, starting at `next`. Returns the number added through *added.
 * fail_missing: a named topic that does not exist fails; need_md: so does metadata that cannot be
 * read (else it is logged and the next discovery tries again). */
static int discover(struct state *s, int timeout_ms, int64_t next, size_t *added, bool fail_missing, bool need_md)
{
    struct rn_op_ctx *ctx = s->ctx;
    const struct rd_kafka_metadata *md = NULL;
    *added = 0;
    rd_kafka_resp_err_t e = rd_kafka_metadata(s->rk, 1, NULL, &md, timeout_ms);
    if (e) {
        if (fail_missing || need_md) {
            rn_op_error(ctx, "cannot read the cluster's metadata from %s within %d ms: %s", s->cfg.bootstrap,
                        timeout_ms, rd_kafka_err2str(e));
            return RN_EIO;
        }
        rn_op_log(ctx, "partition discovery: cannot read the cluster's metadata: %s", rd_kafka_err2str(e));
        return 0;
    }
    int rc = 0;
    for (int i = 0; i < md->topic_cnt && rc == 0; i++) {
        const struct rd_kafka_metadata_topic *mt = &md->topics[i];
        if (mt->err || !topic_wanted(s, mt->topic)) continue;
        int ti = topic_get(s, mt->topic);
        if (ti < 0) {
            rc = ti;
            break;
        }
        s->topics[ti].known = true;
        for (int j = 0; j < mt->partition_cnt; j++) {
            int32_t p = mt->partitions[j].id;
            if (!mine(s, mt->topic, p) || part_of(s, (uint32_t)ti, p)) continue;
            if (!part_add(s, (uint32_t)ti, p, next)) {
                rc = s->n_parts >= RN_OP_MAX_SPLITS ? RN_ERANGE : RN_ENOMEM;
                break;
            }
            (*added)++;
        }
    }
    rd_kafka_metadata_destroy(md);
    if (rc) return rc;
    /* named topics that the cluster does not have (yet) */
    size_t n_named = s->cfg.topic ? 1 : s->cfg.topics ? rn_value_len(s->cfg.topics) : 0;
    for (size_t i = 0; i < n_named; i++) {
        const char *name = s->cfg.topic ? s->cfg.topic : rn_value_text(rn_value_at(s->cfg.topics, i));
        int ti = topic_find(s, name);
        if (ti >= 0 && s->topics[ti].known) continue;
        if (fail_missing) {
            rn_op_error(ctx, "topic '%s' does not exist on %s", name, s->cfg.bootstrap);
            return RN_ENOTFOUND;
        }
        if (ti < 0 && (ti = topic_get(s, name)) < 0) return ti;
        if (!s->topics[ti].missing_logged)
            rn_op_log(ctx, "topic '%s' does not exist (yet); looking for it every %lld ms", name,
                      (long long)s->cfg.discovery_ms);
        s->topics[ti].missing_logged = true;
    }
    return 0;
}

/* Assigns parts[from ..) that are not finished, at their next offsets. */
static int assign_from(struct state *s, size_t from)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)(s->n_parts - from) + 1);
    if (!l) return RN_ENOMEM;
    for (size_t i = from; i < s->n_parts; i++) {
        struct part *p = &s->parts[i];
        if (p->finished || p->assigned) continue;
        rd_kafka_topic_partition_list_add(l, part_topic(s, p), p->partition)->offset = p->next;
        p->assigned = true;
    }
    int rc = 0;
    if (l->cnt) {
        rd_kafka_error_t *e = rd_kafka_incremental_assign(s->rk, l);
        if (e) {
            /* the first few of them, "topic[partition]" */
            char which[256];
            size_t at = 0;
            which[0] = 0;
            for (int i = 0; i < l->cnt && i < 4 && at < sizeof which; i++) {
                int w = snprintf(which + at, sizeof which - at, "%s'%s' partition %d", i ? ", " : "", l->elems[i].topic,
                                 (int)l->elems[i].partition);
                if (w < 0) break;
                at += (size_t)w;
            }
            rn_op_error(s->ctx, "cannot assign %d partitions (%s%s): %s", l->cnt, which, l->cnt > 4 ? ", ..." : "",
                        rd_kafka_error_string(e));
            rd_kafka_error_destroy(e);
            rc = RN_EIO;
        }
    }
    rd_kafka_topic_partition_list_destroy(l);
    return rc;
}

/* ListOffsets for parts[from ..) with `query` (a timestamp, or -1 latest / -2 earliest) for
 * those whose next offset is the logical `which` (which 0: every unfinished one); the result
 * goes into next (or stop when to_stop). A partition with no offset at or after a timestamp
 * gets the latest. With to_stop, only partitions without a stop offset are looked up. */
static int list_offsets(struct state *s, size_t from, int64_t which, int64_t query, bool to_stop)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)(s->n_parts - from) + 1);
    if (!l) return RN_ENOMEM;
    for (size_t i = from; i < s->n_parts; i++) {
        struct part *p = &s->parts[i];
        if (p->finished || (which && p->next != which) || (to_stop && p->stop >= 0)) continue;
        rd_kafka_topic_partition_t *tp = rd_kafka_topic_partition_list_add(l, part_topic(s, p), p->partition);
        tp->offset = query;
        tp->opaque = p;   /* only within this call: parts does not move here */
    }
    int rc = 0;
    if (l->cnt) {
        rd_kafka_resp_err_t e = rd_kafka_offsets_for_times(s->rk, l, RNK_START_TIMEOUT_MS);
        if (e) {
            rn_op_error(s->ctx, "cannot look up the %s offsets of %d partitions: %s",
                        query == -1 ? "latest" : query == -2 ? "earliest" : "timestamp", l->cnt, rd_kafka_err2str(e));
            rc = RN_EIO;
        }
        for (int i = 0; i < l->cnt && !rc; i++) {
            rd_kafka_topic_partition_t *tp = &l->elems[i];
            struct part *p = tp->opaque;
            if (tp->err) {
                rn_op_error(s->ctx, "topic '%s' partition %d: cannot look up its offset: %s", tp->topic, tp->partition,
                            rd_kafka_err2str(tp->err));
                rc = RN_EIO;
            } else if (to_stop) {
                p->stop = tp->offset < 0 ? 0 : tp->offset;
            } else {
                p->next = tp->offset >= 0 ? tp->offset : RD_KAFKA_OFFSET_END;
            }
        }
    }
    rd_kafka_topic_partition_list_destroy(l);
    return rc;
}

/* start: group: the committed offsets of group_id; none: earliest. */
static int group_offsets(struct state *s)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)s->n_parts + 1);
    if (!l) return RN_ENOMEM;
    for (size_t i = 0; i < s->n_parts; i++)
        rd_kafka_topic_partition_list_add(l, part_topic(s, &s->parts[i]), s->parts[i].partition)->opaque = &s->parts[i];
    int rc = 0;
    if (l->cnt) {
        rd_kafka_resp_err_t e = rd_kafka_committed(s->rk, l, RNK_START_TIMEOUT_MS);
        if (e) {
            rn_op_error(s->ctx, "cannot read the committed offsets of group '%s': %s", s->group, rd_kafka_err2str(e));
            rc = RN_EIO;
        }
        for (int i = 0; i < l->cnt && !rc; i++) {
            struct part *p = l->elems[i].opaque;
            p->next = l->elems[i].offset >= 0 ? l->elems[i].offset : RD_KAFKA_OFFSET_BEGINNING;
        }
    }
    rd_kafka_topic_partition_list_destroy(l);
    return rc;
}

static int finish_part(struct state *s, struct part *p);

/* The first poll: which partitions, from where, up to where; then assign them. */
static int start(struct state *s)
{
    struct rn_op_ctx *ctx = s->ctx;
    size_t added;
    int rc;
    if (s->restored) {
        for (size_t i = 0; i < s->n_saved; i++) {
            struct saved *v = &s->saved[i];
            if (!topic_wanted(s, v->topic)) {
                /* the job no longer reads this topic (topic, topics or topic_pattern changed):
                 * its checkpointed partitions are dropped, logged once per topic */
                bool seen = false;
                for (size_t j = 0; j < i && !seen; j++) seen = !strcmp(s->saved[j].topic, v->topic);
                if (!seen)
                    rn_op_log(ctx, "restore: topic '%s' of the checkpoint is not read any more (not named by topic, "
                                   "topics or topic_pattern): its checkpointed offsets are skipped",
                              v->topic);
                continue;
            }
            int ti = topic_get(s, v->topic);
            if (ti < 0) return ti;
            if (part_of(s, (uint32_t)ti, v->partition)) continue;   /* listed twice: the first wins */
            struct part *p = part_add(s, (uint32_t)ti, v->partition, v->next);
            if (!p) return s->n_parts >= RN_OP_MAX_SPLITS ? RN_ERANGE : RN_ENOMEM;
            if (s->cfg.bounded) {   /* an unbounded job restored from a bounded one reads on */
                p->stop = v->has_stop ? v->stop : -1;
                p->finished = v->finished;
            }
            p->restored_at = v->next >= 0 ? v->next : -1;
        }
        /* the partitions of a bounded run are those of its start; an unbounded checkpoint
         * restored into a bounded job also reads the partitions that appeared since, from the
         * earliest offset, and stops at the end offsets of now where the checkpoint has none */
        if ((!s->cfg.bounded || !s->ck_bounded) &&
            (rc = discover(s, RNK_START_TIMEOUT_MS, RD_KAFKA_OFFSET_BEGINNING, &added, false, false)))
            return rc;
        if (s->cfg.bounded && !s->ck_bounded) {
            if ((rc = list_offsets(s, 0, RD_KAFKA_OFFSET_BEGINNING, RD_KAFKA_OFFSET_BEGINNING, false)) ||
                (rc = list_offsets(s, 0, 0, RD_KAFKA_OFFSET_END, true)))
                return rc;
        }
    } else {
        /* without the metadata now, the partitions would be found by a later discovery and read
         * from the earliest offset: only right for start: earliest */
        if ((rc = discover(s, RNK_START_TIMEOUT_MS, RD_KAFKA_OFFSET_BEGINNING, &added, s->cfg.bounded,
                           s->cfg.bounded || s->cfg.start != START_EARLIEST)))
            return rc;
        switch (s->cfg.start) {
        case START_EARLIEST:
            /* logical earliest is the same offset after a restore; bounded mode needs real ones */
            if (s->cfg.bounded) rc = list_offsets(s, 0, 0, RD_KAFKA_OFFSET_BEGINNING, false);
            break;
        case START_LATEST: rc = list_offsets(s, 0, 0, RD_KAFKA_OFFSET_END, false); break;
        case START_TIMESTAMP:
            rc = list_offsets(s, 0, 0, s->cfg.start_ts, false);
            if (!rc) rc = list_offsets(s, 0, RD_KAFKA_OFFSET_END, RD_KAFKA_OFFSET_END, false);
            break;
        case START_GROUP:
            rc = group_offsets(s);
            if (!rc && s->cfg.bounded) rc = list_offsets(s, 0, RD_KAFKA_OFFSET_BEGINNING, RD_KAFKA_OFFSET_BEGINNING, false);
            break;
        }
        if (!rc && s->cfg.bounded) rc = list_offsets(s, 0, 0, RD_KAFKA_OFFSET_END, true);
        if (rc) return rc;
    }
    if (s->n_parts && (rc = rn_op_declare_splits(ctx, (uint32_t)s->n_parts))) return rc;
    /* bounded partitions already at their end (empty ones, restored finished ones) */
    for (size_t i = 0; i < s->n_parts; i++) {
        struct part *p = &s->parts[i];
        if (p->finished) {
            if ((rc = rn_op_split_finished(ctx, (uint32_t)i))) return rc;
        } else if (p->stop >= 0 && p->next >= p->stop) {
            if ((rc = finish_part(s, p))) return rc;
        }
    }
    if ((rc = assign_from(s, 0))) return rc;
    rn_op_log(ctx, "reading %zu partitions%s", s->n_parts, s->cfg.bounded ? " up to their offsets at the start" : "");
    s->next_discovery = rn_op_processing_time(ctx) + s->cfg.discovery_ms;
    s->started = true;
    return 0;
}

/* ---- reading ---- */

static int emit_part(struct state *s, struct part *p)
{
    if (!rn_builder_rows(p->bb)) return 0;
    struct rn_error err;
    struct rn_batch *b = rn_builder_finish(p->bb, &err);
    if (!b) {
        rn_op_error(s->ctx, "topic '%s' partition %d: %s", part_topic(s, p), p->partition, err.msg);
        return RN_ENOMEM;
    }
    return rn_op_emit_split(s->ctx, (uint32_t)(p - s->parts), b);
}

/* Bounded mode: the partition reached its stop offset. Its rows go out before the split ends
 * (so that the watermark does not pass them). */
static int finish_part(struct state *s, struct part *p)
{
    if (p->finished && !p->assigned) return 0;
    int rc = emit_part(s, p);
    if (rc) return rc;
    if (!p->finished) {
        p->finished = true;
        if ((rc = rn_op_split_finished(s->ctx, (uint32_t)(p - s->parts)))) return rc;
    }
    if (p->assigned) {
        p->assigned = false;
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
        if (!l) return RN_ENOMEM;
        rd_kafka_topic_partition_list_add(l, part_topic(s, p), p->partition);
        rd_kafka_error_t *e = rd_kafka_incremental_unassign(s->rk, l);
        rd_kafka_topic_partition_list_destroy(l);
        if (e) rd_kafka_error_destroy(e);   /* harmless: messages past the stop are dropped */
    }
    return 0;
}

static bool all_finished(const struct state *s)
{
    for (size_t i = 0; i < s->n_parts; i++)
        if (!s->parts[i].finished) return false;
    return true;
}

static struct part *lookup(struct state *s, const rd_kafka_message_t *m)
{
    if (!m->rkt) return NULL;
    uint32_t ti = s->last_topic;
    if (ti >= s->n_topics || s->topics[ti].rkt != m->rkt) {
        /* by the handle's address (a held handle cannot become another topic's), else by name */
        for (ti = 0; ti < s->n_topics && s->topics[ti].rkt != m->rkt; ti++) continue;
        if (ti == s->n_topics) {
            int i = topic_find(s, rd_kafka_topic_name(m->rkt));
            if (i < 0) return NULL;
            ti = (uint32_t)i;
            /* the existing handle of the topic, kept until close (NULL: names every time) */
            if (!s->topics[ti].rkt) s->topics[ti].rkt = rd_kafka_topic_new(s->rk, s->topics[ti].name, NULL);
        }
        s->last_topic = ti;
    }
    return part_of(s, ti, m->partition);
}

/* Produces a record that did not decode to the dead-letter topic. */
static int dead_letter(struct state *s, const struct part *p, const rd_kafka_message_t *m, const char *why)
{
    struct rn_op_ctx *ctx = s->ctx;
    char msg[512];
    if (!s->dlq) {
        const char *fixed[] = {"log.queue", "true", NULL};
        rd_kafka_conf_t *conf = rnk_conf_build(s->cfg.bootstrap, NULL, fixed, msg, sizeof msg);
        if (!conf) {
            rn_op_error(ctx, "dead-letter producer: %s", msg);
            return RN_EINVAL;
        }
        /* the security settings of `properties:` apply to the producer too; consumer-only ones
         * are ignored by librdkafka */
        for (size_t i = 0; s->cfg.properties && i < rn_value_len(s->cfg.properties); i++) {
            const char *v = rn_value_text(rn_value_at(s->cfg.properties, i));
            const char *k = rn_value_key(s->cfg.properties, i);
            if (!strncmp(k, "security.", 9) || !strncmp(k, "sasl.", 5) || !strncmp(k, "ssl.", 4) ||
                !strcmp(k, "client.dns.lookup"))
                rd_kafka_conf_set(conf, k, v ? v : "", msg, sizeof msg);
        }
        rd_kafka_conf_set_opaque(conf, s);
        rd_kafka_conf_set_error_cb(conf, on_error);
        rd_kafka_conf_set_log_cb(conf, on_log);
        rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
        if (!(s->dlq = rd_kafka_new(RD_KAFKA_PRODUCER, conf, msg, sizeof msg))) {
            rd_kafka_conf_destroy(conf);
            rn_op_error(ctx, "cannot create the dead-letter producer: %s", msg);
            return RN_EINVAL;
        }
        rd_kafka_set_log_queue(s->dlq, NULL);
    }
    char part_txt[16], off_txt[24];
    snprintf(part_txt, sizeof part_txt, "%" PRId32, p->partition);
    snprintf(off_txt, sizeof off_txt, "%" PRId64, m->offset);
    const char *topic = part_topic(s, p);
    for (int waited = 0;; waited += 100) {
        rd_kafka_resp_err_t e = rd_kafka_producev(
            s->dlq, RD_KAFKA_V_TOPIC(s->cfg.dlt), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_KEY(m->key, m->key_len), RD_KAFKA_V_VALUE(m->payload, m->len),
            RD_KAFKA_V_HEADER("runnel.error", why, (ssize_t)strlen(why)),
            RD_KAFKA_V_HEADER("runnel.topic", topic, (ssize_t)strlen(topic)),
            RD_KAFKA_V_HEADER("runnel.partition", part_txt, (ssize_t)strlen(part_txt)),
            RD_KAFKA_V_HEADER("runnel.offset", off_txt, (ssize_t)strlen(off_txt)), RD_KAFKA_V_END);
        if (!e) break;
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL || waited >= RNK_FLUSH_TIMEOUT_MS || rn_op_cancelled(ctx)) {
            rn_op_error(ctx, "topic '%s' partition %d offset %" PRId64 ": cannot write it to dead_letter_topic '%s': %s",
                        topic, p->partition, m->offset, s->cfg.dlt, rd_kafka_err2str(e));
            return RN_EIO;
        }
        rd_kafka_poll(s->dlq, 100);
    }
    if (s->m_dead) atomic_fetch_add(s->m_dead, 1);
    return 0;
}

/* A consumer error delivered as a message. */
static int consumer_error(struct state *s, const rd_kafka_message_t *m)
{
    struct rn_op_ctx *ctx = s->ctx;
    char where[400] = "";
    if (m->rkt) snprintf(where, sizeof where, "topic '%s' partition %d: ", rd_kafka_topic_name(m->rkt), m->partition);
    rd_kafka_resp_err_t e = m->err;
    if (e == RD_KAFKA_RESP_ERR__FATAL) {
        char why[400];
        rd_kafka_fatal_error(s->rk, why, sizeof why);
        rn_op_error(ctx, "%sfatal Kafka error: %s", where, why);
        return RN_EIO;
    }
    bool gone = e == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART || e == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC ||
                e == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION;
    if (err_is_fatal(e) || (gone && s->cfg.bounded)) {
        rn_op_error(ctx, "%s%s (%s)", where, rd_kafka_message_errstr(m), rd_kafka_err2name(e));
        return RN_EIO;
    }
    if (e == RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE || e == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET) {
        rn_op_log(ctx, "%s%s: the offset is out of range (auto.offset.reset applies)", where, rd_kafka_message_errstr(m));
        return 0;
    }
    if (e == s->last_err) return 0;
    s->last_err = e;
    rn_op_log(ctx, "%s%s (%s); librdkafka retries", where, rd_kafka_message_errstr(m), rd_kafka_err2name(e));
    return 0;
}

/* One message from the consumer queue (the caller destroys it). */
static int handle(struct state *s, rd_kafka_message_t *m, bool *rows)
{
    struct rn_op_ctx *ctx = s->ctx;
    if (m->err) {
        if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) return consumer_error(s, m);
        struct part *p = lookup(s, m);
        if (!p || p->finished) return 0;
        if (m->offset >= 0) p->next = m->offset;
        if (p->stop >= 0 && p->next >= p->stop) return finish_part(s, p);
        return 0;
    }
    struct part *p = lookup(s, m);
    if (!p || p->finished) return 0;   /* not ours (any more) */
    if (p->stop >= 0 && m->offset >= p->stop) return finish_part(s, p);
    s->last_err = 0;
    if (p->restored_at >= 0) {
        if (m->offset < p->restored_at)
            rn_op_log(ctx, "topic '%s' partition %d: the checkpoint's offset %" PRId64
                           " is gone (out of range); auto.offset.reset went to %" PRId64,
                      part_topic(s, p), p->partition, p->restored_at, m->offset);
        p->restored_at = -1;
    }
    int rc;
    if (rn_builder_full(p->bb) && (rc = emit_part(s, p))) return rc;
    struct rn_error err = {0};
    rc = rnk_decode(s->dec, m->payload, m->len, p->bb, &err);
    if (rc == 0) {
        if (s->cfg.ts_column) {
            int64_t ts = rd_kafka_message_timestamp(m, NULL);
            rc = ts < 0 ? rn_builder_null(p->bb, s->ts_col) : rn_builder_ts(p->bb, s->ts_col, ts);
            if (rc) {
                rn_op_error(ctx, "topic '%s' partition %d offset %" PRId64 ": cannot append the timestamp: %s",
                            part_topic(s, p), p->partition, m->offset, rn_strerror(rc));
                return rc;
            }
        }
        *rows = true;
    } else if (rc == RN_ENOMEM) {
        rn_op_error(ctx, "out of memory decoding topic '%s' partition %d", part_topic(s, p), p->partition);
        return rc;
    } else {
        char why[sizeof err.msg + 32];
        if (err.column > 0) snprintf(why, sizeof why, "%s (byte %d)", err.msg, err.column);
        else snprintf(why, sizeof why, "%s", err.msg[0] ? err.msg : rn_strerror(rc));
        switch (s->cfg.on_error) {
        case ON_FAIL:
            rn_op_error(ctx, "topic '%s' partition %d offset %" PRId64 ": %s", part_topic(s, p), p->partition, m->offset,
                        why);
            return RN_EINVAL;
        case ON_SKIP:
            if (s->m_skipped) atomic_fetch_add(s->m_skipped, 1);
            break;
        case ON_DEAD_LETTER:
            if ((rc = dead_letter(s, p, m, why))) return rc;
            break;
        }
    }
    p->next = m->offset + 1;
    if (p->stop >= 0 && p->next >= p->stop) return finish_part(s, p);
    return 0;
}

static int flush_dead_letters(struct state *s, int timeout_ms)
{
    if (!s->dlq) return 0;
    rd_kafka_resp_err_t e = rd_kafka_flush(s->dlq, timeout_ms);
    if (e) {
        rn_op_error(s->ctx, "dead letters to topic '%s' not delivered within %d ms: %s", s->cfg.dlt, timeout_ms,
                    rd_kafka_err2str(e));
        return RN_EIO;
    }
    if (s->dl_failed[0]) {
        rn_op_error(s->ctx, "%s", s->dl_failed);
        return RN_EIO;
    }
    return 0;
}

static int end_input(struct state *s)
{
    int rc = flush_dead_letters(s, RNK_FLUSH_TIMEOUT_MS);
    if (rc) return rc;
    s->ended = true;
    return RN_EEND;
}

static int poll_(void *state, struct rn_op_ctx *ctx)
{
    struct state *s = state;
    int rc;
    if (rn_op_cancelled(ctx)) return RN_ECANCELED;
    if (s->ended) return RN_EEND;
    if (!s->started && (rc = start(s))) return rc;
    rd_kafka_poll(s->rk, 0);   /* errors, logs, commit results */
    if (s->dlq) rd_kafka_poll(s->dlq, 0);
    if (s->fatal[0]) {
        rn_op_error(ctx, "%s", s->fatal);
        return RN_EIO;
    }
    if (s->dl_failed[0]) {
        rn_op_error(ctx, "%s", s->dl_failed);
        return RN_EIO;
    }
    if (s->cfg.bounded) {
        if (all_finished(s)) return end_input(s);
    } else if (s->cfg.discovery_ms > 0 && rn_op_processing_time(ctx) >= s->next_discovery) {
        size_t before = s->n_parts, added;
        if ((rc = discover(s, RNK_DISCOVERY_TIMEOUT_MS, RD_KAFKA_OFFSET_BEGINNING, &added, false, false))) return rc;
        if (added) {
            for (size_t i = before; i < s->n_parts; i++)
                rn_op_log(ctx, "new partition: topic '%s' partition %d (from the earliest offset)",
                          part_topic(s, &s->parts[i]), s->parts[i].partition);
            if ((rc = rn_op_declare_splits(ctx, (uint32_t)s->n_parts)) || (rc = assign_from(s, before))) return rc;
        }
        s->next_discovery = rn_op_processing_time(ctx) + s->cfg.discovery_ms;
    }
    bool rows = false;
    for (size_t total = 0; total < RNK_POLL_MAX;) {
        ssize_t n = rd_kafka_consume_batch_queue(s->q, 0, s->msgs, RNK_MSGS);
        if (n < 0) {
            rn_op_error(ctx, "reading the consumer queue: %s", rd_kafka_err2str(rd_kafka_last_error()));
            return RN_EIO;
        }
        rc = 0;
        for (ssize_t i = 0; i < n; i++) {
            if (!rc) rc = handle(s, s->msgs[i], &rows);
            rd_kafka_message_destroy(s->msgs[i]);
        }
        if (rc) return rc;
        total += (size_t)n;
        if (n < RNK_MSGS || rn_op_cancelled(ctx)) break;
    }
    for (size_t i = 0; i < s->n_parts; i++)
        if ((rc = emit_part(s, &s->parts[i]))) return rc;
    if (s->cfg.bounded && all_finished(s)) return end_input(s);
    return rows ? 0 : RN_EAGAIN;
}

/* ---- checkpoints ---- */

static void pending_free(struct pending *p)
{
    if (p->offsets) rd_kafka_topic_partition_list_destroy(p->offsets);
    p->offsets = NULL;
    p->id = 0;
}

static int snapshot(void *state, struct rn_op_ctx *ctx, struct rn_snapshot_writer *w)
{
    struct state *s = state;
    int rc = flush_dead_letters(s, RNK_FLUSH_TIMEOUT_MS);
    if (rc) return rc;
    /* a checkpoint before the first poll: decide the partitions and offsets now, so that the
     * checkpoint holds them (not an empty list that a restore would read as "none yet") */
    if (!s->started && (rc = start(s))) return rc;
    uint8_t e[RNK_ELEM_MAX];
    struct rn_error err = {0};
    rd_kafka_topic_partition_list_t *commit = NULL;
    if (s->cfg.group_id && s->n_parts) commit = rd_kafka_topic_partition_list_new((int)s->n_parts);
    for (size_t i = 0; i < s->n_parts && rc == 0; i++) {
        const struct part *p = &s->parts[i];
        const char *topic = part_topic(s, p);
        struct rnk_offsets_elem v = {.partition = p->partition, .next = p->next, .stop = p->stop >= 0 ? p->stop : -1,
                                     .has_stop = p->stop >= 0, .finished = p->finished && p->stop >= 0};
        size_t len;
        snprintf(v.topic, sizeof v.topic, "%s", topic);
        if ((rc = rnk_offsets_elem_encode(&v, e, sizeof e, &len, &err))) break;
        if ((rc = rn_snapshot_append_union(w, RNK_OFFSETS_LIST, e, (uint32_t)len)))
            snprintf(err.msg, sizeof err.msg, "%s", rn_strerror(rc));
        if (commit && p->next >= 0) rd_kafka_topic_partition_list_add(commit, topic, p->partition)->offset = p->next;
    }
    if (rc) {
        if (commit) rd_kafka_topic_partition_list_destroy(commit);
        rn_op_error(ctx, "cannot record the partition offsets in the checkpoint: %s", err.msg);
        return rc;
    }
    if (commit && commit->cnt && !rn_snapshot_is_savepoint(w)) {
        /* kept for checkpoint_complete; the oldest goes when there is no room */
        int slot = 0;
        for (int i = 0; i < RNK_PENDING_COMMITS; i++) {
            if (!s->pending[i].offsets) {
                slot = i;
                break;
            }
            if (s->pending[i].id < s->pending[slot].id) slot = i;
        }
        pending_free(&s->pending[slot]);
        s->pending[slot] = (struct pending){rn_snapshot_id(w), commit};
        commit = NULL;
    }
    if (commit) rd_kafka_topic_partition_list_destroy(commit);
    return 0;
}

static int checkpoint_complete(void *state, struct rn_op_ctx *ctx, int64_t id)
{
    (void)ctx;
    struct state *s = state;
    int best = -1;
    for (int i = 0; i < RNK_PENDING_COMMITS; i++)
        if (s->pending[i].offsets && s->pending[i].id <= id && (best < 0 || s->pending[i].id > s->pending[best].id))
            best = i;
    if (best < 0) return 0;
    rd_kafka_resp_err_t e = rd_kafka_commit(s->rk, s->pending[best].offsets, 1);
    if (e) rn_op_log(ctx, "committing the offsets of checkpoint %lld to group '%s': %s (monitoring only)", (long long)id,
                     s->group, rd_kafka_err2str(e));
    else s->commits_in_flight++;
    for (int i = 0; i < RNK_PENDING_COMMITS; i++)
        if (s->pending[i].offsets && s->pending[i].id <= id) pending_free(&s->pending[i]);
    return 0;
}

struct restoring {
    struct state *s;
    uint32_t n;              /* elements seen */
    struct rn_error err;     /* a corrupt one: what is wrong */
};

static int restore_one(const void *val, uint32_t len, void *user)
{
    struct restoring *r = user;
    struct state *s = r->s;
    struct rnk_offsets_elem e;
    r->n++;
    int rc = rnk_offsets_elem_decode(val, len, &e, &r->err);
    if (rc) return rc;
    if (e.has_stop) s->ck_bounded = true;
    if (!mine(s, e.topic, e.partition)) return 0;
    struct saved *v = realloc(s->saved, (s->n_saved + 1) * sizeof *v);
    if (!v) return RN_ENOMEM;
    s->saved = v;
    v = &s->saved[s->n_saved];
    *v = (struct saved){.partition = e.partition, .next = e.next, .stop = e.stop, .finished = e.finished,
                        .has_stop = e.has_stop};
    if (!(v->topic = strdup(e.topic))) return RN_ENOMEM;
    s->n_saved++;
    return 0;
}

static int restore(void *state, struct rn_op_ctx *ctx, struct rn_snapshot_reader *r)
{
    struct state *s = state;
    struct restoring st = {.s = s};
    int rc = rn_restore_each(r, RNK_OFFSETS_LIST, restore_one, &st);
    if (rc) {
        if (rc == RN_ECORRUPT)
            rn_op_error(ctx, "checkpoint %lld: element %u of list '%s' is corrupt: %s", (long long)rn_restore_id(r),
                        st.n, RNK_OFFSETS_LIST, st.err.msg);
        else
            rn_op_error(ctx, "cannot read the partition offsets of checkpoint %lld: %s", (long long)rn_restore_id(r),
                        rn_strerror(rc));
        return rc;
    }
    s->restored = true;
    return 0;
}

/* ---- close ---- */

static void close_(void *state, struct rn_op_ctx *ctx)
{
    (void)ctx;
    struct state *s = state;
    if (!s) return;
    if (s->dlq) {
        if (rd_kafka_flush(s->dlq, RNK_CLOSE_WAIT_MS))
            rn_op_log(ctx, "closing: dead letters to topic '%s' still undelivered after %d ms", s->cfg.dlt,
                      RNK_CLOSE_WAIT_MS);
        rd_kafka_destroy(s->dlq);
    }
    if (s->rk) {
        /* let asynchronous commits finish (bounded) */
        for (int waited = 0; s->commits_in_flight > 0 && waited < RNK_CLOSE_WAIT_MS; waited += 10) {
            rd_kafka_poll(s->rk, 10);
            if (s->q && s->msgs) {
                ssize_t n = rd_kafka_consume_batch_queue(s->q, 0, s->msgs, RNK_MSGS);
                for (ssize_t i = 0; i < n; i++) rd_kafka_message_destroy(s->msgs[i]);
            }
        }
        rd_kafka_consumer_close(s->rk);
        if (s->q) rd_kafka_queue_destroy(s->q);
        for (size_t i = 0; i < s->n_topics; i++)
            if (s->topics[i].rkt) rd_kafka_topic_destroy(s->topics[i].rkt);
        rd_kafka_destroy_flags(s->rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
    } else if (s->q) {
        rd_kafka_queue_destroy(s->q);
    }
    for (int i = 0; i < RNK_PENDING_COMMITS; i++) pending_free(&s->pending[i]);
    for (size_t i = 0; i < s->n_parts; i++) rn_builder_destroy(s->parts[i].bb);
    free(s->parts);
    for (size_t i = 0; i < s->n_topics; i++) {
        free(s->topics[i].name);
        free(s->topics[i].idx);
    }
    free(s->topics);
    for (size_t i = 0; i < s->n_saved; i++) free(s->saved[i].topic);
    free(s->saved);
    if (s->have_re) regfree(&s->re);
    rnk_decoder_destroy(s->dec);
    free(s->msgs);
    free(s);
}

const struct rn_operator_def rnk_source_def = {
    .abi_version = RN_OPERATOR_ABI, .struct_size = sizeof(struct rn_operator_def),
    .name = "kafka_source",
    .description = "reads Kafka topics (partitions assigned by the engine, offsets in checkpoints) into rows",
    .options = options, .n_inputs_min = 0, .n_inputs_max = 0,
    .plan = plan, .open = open_, .poll = poll_, .close = close_,
    .snapshot = snapshot, .restore = restore, .checkpoint_complete = checkpoint_complete,
};
