/*
 * kafka_client.c — the small librdkafka client of kafka_client.h: a mock cluster (rdkafka_mock)
 * on a dedicated rd_kafka_t, bounded producing with delivery reports, reading a topic back up
 * to the end it had when the call began, and partition counts from metadata.
 *
 * Assumes librdkafka 2.0.x: the mock's brokers listen on 127.0.0.1 with ephemeral ports (its API
 * has no way to choose them), topics are created with rd_kafka_mock_topic_create (the mock has
 * no CreateTopics), and a read_committed consumer's partition EOF is at the last stable offset.
 * Asking about a topic never creates it (metadata of all topics is read: the mock ignores
 * allow.auto.create.topics); a topic that does not exist is an error naming it, checked before
 * producing to it or reading it. The mock
 * reports a last stable offset equal to the high watermark and does not hide aborted
 * transactions, so read_committed reads there see what read_uncommitted sees. Reading uses the
 * legacy per-partition consumer (no group.id, nothing committed). For tools and tests: the
 * messages read back are copied one allocation per key and value.
 */
#include "kafka_client.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct rnk_mock {
    rd_kafka_t *rk;                 /* the handle the cluster lives on (a producer that never produces) */
    rd_kafka_mock_cluster_t *mc;
    char *bootstrap;
};

static void why_set(char *why, size_t why_len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void why_set(char *why, size_t why_len, const char *fmt, ...)
{
    if (!why || why_len == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, why_len, fmt, ap);
    va_end(ap);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Milliseconds left before deadline (0 when past it). */
static int left_ms(int64_t deadline)
{
    int64_t l = deadline - now_ms();
    return l <= 0 ? 0 : l > 0x7fffffff ? 0x7fffffff : (int)l;
}

/* Sets name=value on conf; -1 with why naming the property. */
static int conf_set(rd_kafka_conf_t *conf, const char *name, const char *value, char *why, size_t why_len)
{
    char err[256];
    if (rd_kafka_conf_set(conf, name, value, err, sizeof err) != RD_KAFKA_CONF_OK) {
        why_set(why, why_len, "librdkafka property %s=%s: %s", name, value, err);
        return -1;
    }
    return 0;
}

static bool str_empty(const char *s) { return !s || !*s; }

/* ---- mock cluster ---- */

rnk_mock *rnk_mock_start(int brokers, char *why, size_t why_len)
{
    char err[512];
    if (brokers < 1 || brokers > 64) {
        why_set(why, why_len, "mock cluster: %d brokers (1 to 64)", brokers);
        return NULL;
    }
    rnk_mock *m = calloc(1, sizeof *m);
    if (!m) {
        why_set(why, why_len, "mock cluster: out of memory");
        return NULL;
    }
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    /* The handle has no bootstrap servers of its own: quiet its notice about that and the
     * mock's informational lines; errors still go to stderr. */
    if (conf_set(conf, "log_level", "3", why, why_len) < 0)
        goto fail_conf;
    m->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!m->rk) {
        why_set(why, why_len, "mock cluster: cannot create its librdkafka handle: %s", err);
        goto fail_conf;
    }
    conf = NULL; /* owned by rk */
    m->mc = rd_kafka_mock_cluster_new(m->rk, brokers);
    if (!m->mc) {
        why_set(why, why_len, "mock cluster of %d brokers: cannot start (listening sockets on 127.0.0.1?)", brokers);
        goto fail_rk;
    }
    const char *b = rd_kafka_mock_cluster_bootstraps(m->mc);
    m->bootstrap = b ? strdup(b) : NULL;
    if (!m->bootstrap) {
        why_set(why, why_len, "mock cluster: no bootstrap servers");
        goto fail_mc;
    }
    return m;

fail_mc:
    rd_kafka_mock_cluster_destroy(m->mc);
fail_rk:
    rd_kafka_destroy(m->rk);
fail_conf:
    if (conf)
        rd_kafka_conf_destroy(conf);
    free(m);
    return NULL;
}

const char *rnk_mock_bootstrap(const rnk_mock *m) { return m ? m->bootstrap : NULL; }

rd_kafka_mock_cluster_t *rnk_mock_cluster(rnk_mock *m) { return m ? m->mc : NULL; }

int rnk_mock_create_topic(rnk_mock *m, const char *topic, int partitions, char *why, size_t why_len)
{
    if (!m || str_empty(topic)) {
        why_set(why, why_len, "create topic: no %s", m ? "topic name" : "mock cluster");
        return -1;
    }
    if (partitions < 1 || partitions > 10000) {
        why_set(why, why_len, "create topic %s: %d partitions (1 to 10000)", topic, partitions);
        return -1;
    }
    rd_kafka_resp_err_t e = rd_kafka_mock_topic_create(m->mc, topic, partitions, 1);
    if (e) {
        why_set(why, why_len, "create topic %s with %d partitions on %s: %s", topic, partitions, m->bootstrap,
                rd_kafka_err2str(e));
        return -1;
    }
    return 0;
}

void rnk_mock_stop(rnk_mock *m)
{
    if (!m)
        return;
    rd_kafka_mock_cluster_destroy(m->mc);
    rd_kafka_destroy(m->rk);
    free(m->bootstrap);
    free(m);
}

/* ---- metadata ---- */

/* A client of type `type` for bootstrap; NULL with why. */
static rd_kafka_t *client_new(rd_kafka_type_t type, const char *bootstrap, rd_kafka_conf_t *conf, char *why,
                              size_t why_len)
{
    char err[512];
    if (conf_set(conf, "bootstrap.servers", bootstrap, why, why_len) < 0) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_t *rk = rd_kafka_new(type, conf, err, sizeof err);
    if (!rk) {
        why_set(why, why_len, "cannot create a Kafka client for %s: %s", bootstrap, err);
        rd_kafka_conf_destroy(conf);
    }
    return rk;
}

/* The partition count of topic through rk, or -1 with why. Asks for every topic's metadata:
 * a request naming the topic would make the mock (and brokers with auto.create.topics.enable)
 * create it, whatever allow.auto.create.topics says. */
static int topic_partitions(rd_kafka_t *rk, const char *bootstrap, const char *topic, int timeout_ms, char *why,
                            size_t why_len)
{
    const struct rd_kafka_metadata *md = NULL;
    int n = -1;
    int64_t deadline = now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    /* A topic just created may briefly have no leaders: ask again until the deadline. */
    for (;;) {
        rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 1, NULL, &md, left_ms(deadline) > 0 ? left_ms(deadline) : 1);
        if (e) {
            why_set(why, why_len, "metadata of topic %s from %s: %s", topic, bootstrap, rd_kafka_err2str(e));
            md = NULL;
            break;
        }
        const struct rd_kafka_metadata_topic *t = NULL;
        for (int i = 0; i < md->topic_cnt && !t; i++)
            if (md->topics[i].topic && strcmp(md->topics[i].topic, topic) == 0)
                t = &md->topics[i];
        e = t ? t->err : RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART;
        if (e == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
            why_set(why, why_len, "topic %s does not exist on %s", topic, bootstrap);
            break;
        }
        if (!e) {
            n = t->partition_cnt;
            break;
        }
        if (e != RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE || left_ms(deadline) == 0) {
            why_set(why, why_len, "metadata of topic %s from %s: %s", topic, bootstrap, rd_kafka_err2str(e));
            break;
        }
        rd_kafka_metadata_destroy(md);
        md = NULL;
        struct timespec ts = {0, 20 * 1000000};
        nanosleep(&ts, NULL);
    }
    if (md)
        rd_kafka_metadata_destroy(md);
    if (n == 0) {
        why_set(why, why_len, "topic %s on %s has no partitions", topic, bootstrap);
        n = -1;
    }
    return n;
}

int rnk_partitions(const char *bootstrap, const char *topic, int timeout_ms, char *why, size_t why_len)
{
    if (str_empty(bootstrap) || str_empty(topic)) {
        why_set(why, why_len, "partitions: no %s", str_empty(bootstrap) ? "bootstrap servers" : "topic");
        return -1;
    }
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_t *rk = client_new(RD_KAFKA_PRODUCER, bootstrap, conf, why, why_len);
    if (!rk)
        return -1;
    int n = topic_partitions(rk, bootstrap, topic, timeout_ms, why, why_len);
    rd_kafka_destroy(rk);
    return n;
}

/* ---- producing ---- */

struct produce_state {
    size_t acked, failed;
    rd_kafka_resp_err_t first_err;
    int32_t first_partition;
    char first_errstr[256];
};

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    (void)rk;
    struct produce_state *st = opaque;
    if (!msg->err) {
        st->acked++;
        return;
    }
    if (st->failed++ == 0) {
        st->first_err = msg->err;
        st->first_partition = msg->partition;
        snprintf(st->first_errstr, sizeof st->first_errstr, "%s", rd_kafka_message_errstr(msg));
    }
}

int rnk_produce(const char *bootstrap, const char *topic, int32_t partition, const char *const *values,
                const char *const *keys, const int64_t *timestamps, size_t n, int timeout_ms, char *why, size_t why_len)
{
    if (str_empty(bootstrap) || str_empty(topic)) {
        why_set(why, why_len, "produce: no %s", str_empty(bootstrap) ? "bootstrap servers" : "topic");
        return -1;
    }
    if (n > 0 && !values) {
        why_set(why, why_len, "produce to %s: no values", topic);
        return -1;
    }
    if (timeout_ms < 1)
        timeout_ms = 1;
    int64_t deadline = now_ms() + timeout_ms;
    struct produce_state st = {0};
    char tmo[32];
    snprintf(tmo, sizeof tmo, "%d", timeout_ms);

    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set_opaque(conf, &st);
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    if (conf_set(conf, "message.timeout.ms", tmo, why, why_len) < 0 ||
        conf_set(conf, "linger.ms", "5", why, why_len) < 0 ||
        conf_set(conf, "batch.num.messages", "10000", why, why_len) < 0 ||
        conf_set(conf, "queue.buffering.max.messages", "500000", why, why_len) < 0) {
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    rd_kafka_t *rk = client_new(RD_KAFKA_PRODUCER, bootstrap, conf, why, why_len);
    if (!rk)
        return -1;
    int rc = -1;
    rd_kafka_topic_t *rkt = NULL;
    int parts = topic_partitions(rk, bootstrap, topic, left_ms(deadline), why, why_len);
    if (parts < 0)
        goto out_rk;
    if (partition < -1 || partition >= parts) {
        why_set(why, why_len, "produce to %s on %s: partition %d (the topic has %d)", topic, bootstrap,
                (int)partition, parts);
        goto out_rk;
    }
    rkt = rd_kafka_topic_new(rk, topic, NULL);
    if (!rkt) {
        why_set(why, why_len, "produce to %s on %s: %s", topic, bootstrap, rd_kafka_err2str(rd_kafka_last_error()));
        goto out_rk;
    }
    for (size_t i = 0; i < n; i++) {
        const char *v = values[i];
        const char *k = keys ? keys[i] : NULL;
        for (;;) {
            rd_kafka_resp_err_t e = rd_kafka_producev(
                rk, RD_KAFKA_V_RKT(rkt), RD_KAFKA_V_PARTITION(partition < 0 ? RD_KAFKA_PARTITION_UA : partition),
                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_VALUE((void *)v, v ? strlen(v) : 0),
                RD_KAFKA_V_KEY((void *)k, k ? strlen(k) : 0), RD_KAFKA_V_TIMESTAMP(timestamps ? timestamps[i] : 0),
                RD_KAFKA_V_END);
            if (!e)
                break;
            if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                why_set(why, why_len, "produce message %zu to %s on %s: %s", i, topic, bootstrap, rd_kafka_err2str(e));
                goto out_purge;
            }
            if (left_ms(deadline) == 0) {
                why_set(why, why_len, "produce to %s on %s: timed out after %d ms with %zu of %zu messages acknowledged",
                        topic, bootstrap, timeout_ms, st.acked, n);
                goto out_purge;
            }
            rd_kafka_poll(rk, 10);
        }
        if ((i & 1023) == 1023)
            rd_kafka_poll(rk, 0);
        if (st.failed)
            break;
    }
    while (!st.failed && st.acked < n) {
        int l = left_ms(deadline);
        if (l == 0)
            break;
        rd_kafka_flush(rk, l < 100 ? l : 100);
        rd_kafka_poll(rk, 0);
    }
    if (st.failed) {
        why_set(why, why_len, "produce to %s on %s: partition %d: %s (%zu of %zu messages failed or were not sent)",
                topic, bootstrap, (int)st.first_partition, st.first_errstr, n - st.acked, n);
        goto out_purge;
    }
    if (st.acked < n) {
        why_set(why, why_len, "produce to %s on %s: timed out after %d ms with %zu of %zu messages acknowledged",
                topic, bootstrap, timeout_ms, st.acked, n);
        goto out_purge;
    }
    rc = 0;
    goto out_rkt;

out_purge:
    /* Nothing left queued or in flight, so that destroying the handle does not wait. */
    rd_kafka_purge(rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_poll(rk, 0);
out_rkt:
    if (rkt)
        rd_kafka_topic_destroy(rkt);
out_rk:
    rd_kafka_destroy(rk);
    return rc;
}

/* ---- consuming ---- */

void rnk_msgs_free(struct rnk_msgs *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n; i++) {
        free(m->v[i].key);
        free(m->v[i].value);
    }
    free(m->v);
    m->v = NULL;
    m->n = m->cap = 0;
}

static char *copy_bytes(const void *p, size_t len)
{
    char *s = malloc(len + 1);
    if (s) {
        if (len)
            memcpy(s, p, len);
        s[len] = '\0';
    }
    return s;
}

/* Appends a copy of msg; -1 when out of memory. */
static int msgs_push(struct rnk_msgs *out, const rd_kafka_message_t *msg)
{
    if (out->n == out->cap) {
        size_t cap = out->cap ? out->cap * 2 : 1024;
        struct rnk_msg *v = realloc(out->v, cap * sizeof *v);
        if (!v)
            return -1;
        out->v = v;
        out->cap = cap;
    }
    struct rnk_msg *m = &out->v[out->n];
    memset(m, 0, sizeof *m);
    if (msg->key) {
        m->key = copy_bytes(msg->key, msg->key_len);
        m->key_len = msg->key_len;
        if (!m->key)
            return -1;
    }
    if (msg->payload) {
        m->value = copy_bytes(msg->payload, msg->len);
        m->value_len = msg->len;
        if (!m->value) {
            free(m->key);
            return -1;
        }
    }
    m->partition = msg->partition;
    m->offset = msg->offset;
    rd_kafka_timestamp_type_t tt;
    m->timestamp = rd_kafka_message_timestamp(msg, &tt);
    out->n++;
    return 0;
}

static int msg_cmp(const void *a, const void *b)
{
    const struct rnk_msg *x = a, *y = b;
    if (x->partition != y->partition)
        return x->partition < y->partition ? -1 : 1;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* Errors a partition's fetching reports while a broker is away; reading goes on until the deadline. */
static bool transient(rd_kafka_resp_err_t e)
{
    return e == RD_KAFKA_RESP_ERR__TRANSPORT || e == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN ||
           e == RD_KAFKA_RESP_ERR__TIMED_OUT || e == RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION ||
           e == RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE || e == RD_KAFKA_RESP_ERR__RESOLVE ||
           e == RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT || e == RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION;
}

struct part_read {
    int64_t end;   /* the end when the call began (exclusive) */
    int64_t next;  /* offset after the last message read */
    bool started, done;
};

int rnk_consume_all(const char *bootstrap, const char *topic, bool read_committed, int timeout_ms,
                    struct rnk_msgs *out, char *why, size_t why_len)
{
    if (!out) {
        why_set(why, why_len, "consume: no output");
        return -1;
    }
    memset(out, 0, sizeof *out);
    if (str_empty(bootstrap) || str_empty(topic)) {
        why_set(why, why_len, "consume: no %s", str_empty(bootstrap) ? "bootstrap servers" : "topic");
        return -1;
    }
    if (timeout_ms < 1)
        timeout_ms = 1;
    int64_t deadline = now_ms() + timeout_ms;

    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (conf_set(conf, "enable.partition.eof", "true", why, why_len) < 0 ||
        conf_set(conf, "isolation.level", read_committed ? "read_committed" : "read_uncommitted", why, why_len) < 0 ||
        conf_set(conf, "enable.auto.commit", "false", why, why_len) < 0 ||
        conf_set(conf, "enable.auto.offset.store", "false", why, why_len) < 0 ||
        conf_set(conf, "fetch.wait.max.ms", "50", why, why_len) < 0) {
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    rd_kafka_t *rk = client_new(RD_KAFKA_CONSUMER, bootstrap, conf, why, why_len);
    if (!rk)
        return -1;
    int rc = -1;
    struct part_read *pr = NULL;
    rd_kafka_topic_t *rkt = NULL;
    rd_kafka_queue_t *q = NULL;
    rd_kafka_message_t *batch[1024];
    char last_err[256] = "";

    int parts = topic_partitions(rk, bootstrap, topic, left_ms(deadline), why, why_len);
    if (parts < 0)
        goto out_rk;
    pr = calloc((size_t)parts, sizeof *pr);
    rkt = rd_kafka_topic_new(rk, topic, NULL);
    q = rd_kafka_queue_new(rk);
    if (!pr || !rkt || !q) {
        why_set(why, why_len, "read topic %s from %s: out of memory", topic, bootstrap);
        goto out;
    }
    /* The end of each partition now; partitions with nothing in them are done. */
    int remaining = 0;
    for (int p = 0; p < parts; p++) {
        int64_t lo = 0, hi = 0;
        rd_kafka_resp_err_t e;
        for (;;) {
            e = rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi, left_ms(deadline) > 0 ? left_ms(deadline) : 1);
            if (!e || !transient(e) || left_ms(deadline) == 0)
                break;
            struct timespec ts = {0, 50 * 1000000};
            nanosleep(&ts, NULL);
        }
        if (e) {
            why_set(why, why_len, "read topic %s from %s: end offsets of partition %d: %s", topic, bootstrap, p,
                    rd_kafka_err2str(e));
            goto out;
        }
        pr[p].end = hi;
        pr[p].next = lo;
        if (hi <= lo) {
            pr[p].done = true;
            continue;
        }
        if (rd_kafka_consume_start_queue(rkt, p, RD_KAFKA_OFFSET_BEGINNING, q) < 0) {
            why_set(why, why_len, "read topic %s from %s: partition %d: %s", topic, bootstrap, p,
                    rd_kafka_err2str(rd_kafka_last_error()));
            goto out;
        }
        pr[p].started = true;
        remaining++;
    }
    while (remaining > 0) {
        int l = left_ms(deadline);
        if (l == 0) {
            int p = 0;
            while (p < parts && pr[p].done)
                p++;
            why_set(why, why_len,
                    "read topic %s from %s: timed out after %d ms at partition %d offset %lld of %lld%s%s", topic,
                    bootstrap, timeout_ms, p, (long long)pr[p].next, (long long)pr[p].end, *last_err ? ": " : "",
                    last_err);
            goto out;
        }
        ssize_t got = rd_kafka_consume_batch_queue(q, l < 100 ? l : 100, batch, sizeof batch / sizeof batch[0]);
        if (got < 0) {
            why_set(why, why_len, "read topic %s from %s: %s", topic, bootstrap,
                    rd_kafka_err2str(rd_kafka_last_error()));
            goto out;
        }
        int failed = 0;
        for (ssize_t i = 0; i < got; i++) {
            rd_kafka_message_t *msg = batch[i];
            int32_t p = msg->partition;
            if (!failed && p >= 0 && p < parts && !pr[p].done) {
                if (msg->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                    pr[p].done = true;
                    remaining--;
                } else if (msg->err && transient(msg->err)) {
                    snprintf(last_err, sizeof last_err, "%s", rd_kafka_message_errstr(msg));
                } else if (msg->err) {
                    why_set(why, why_len, "read topic %s from %s: partition %d: %s", topic, bootstrap, (int)p,
                            rd_kafka_message_errstr(msg));
                    failed = 1;
                } else if (msg->offset < pr[p].end) {
                    if (msgs_push(out, msg) < 0) {
                        why_set(why, why_len, "read topic %s from %s: out of memory after %zu messages", topic,
                                bootstrap, out->n);
                        failed = 1;
                    } else {
                        pr[p].next = msg->offset + 1;
                        if (pr[p].next >= pr[p].end) {
                            pr[p].done = true;
                            remaining--;
                        }
                    }
                }
            }
            rd_kafka_message_destroy(msg);
        }
        if (failed)
            goto out;
    }
    if (out->n)
        qsort(out->v, out->n, sizeof *out->v, msg_cmp);
    rc = 0;

out:
    if (pr && rkt)
        for (int p = 0; p < parts; p++)
            if (pr[p].started)
                rd_kafka_consume_stop(rkt, p);
    if (q)
        rd_kafka_queue_destroy(q);
    if (rkt)
        rd_kafka_topic_destroy(rkt);
    free(pr);
out_rk:
    rd_kafka_destroy(rk);
    if (rc < 0)
        rnk_msgs_free(out);
    return rc;
}
