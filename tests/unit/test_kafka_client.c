/*
 * test_kafka_client.c — Check suite "kafka_client": the small librdkafka client of
 * operators/kafka/kafka_client.h (mock cluster, producing, reading a topic back, partition
 * counts) against librdkafka's mock cluster on 127.0.0.1.
 *
 * Each test starts its own mock cluster and stops it; every call has a timeout.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#include "kafka_client.h"

#define TMO 10000

static rnk_mock *mock_ok(int brokers)
{
    char why[512] = "";
    rnk_mock *m = rnk_mock_start(brokers, why, sizeof why);
    ck_assert_msg(m != NULL, "rnk_mock_start: %s", why);
    return m;
}

static void topic_ok(rnk_mock *m, const char *topic, int partitions)
{
    char why[512] = "";
    ck_assert_msg(rnk_mock_create_topic(m, topic, partitions, why, sizeof why) == 0, "create %s: %s", topic, why);
}

START_TEST(test_mock_starts_two_brokers_and_creates_a_topic)
{
    rnk_mock *m = mock_ok(2);
    const char *b = rnk_mock_bootstrap(m);
    ck_assert_ptr_nonnull(b);
    ck_assert_ptr_nonnull(rnk_mock_cluster(m));
    /* two brokers, both on loopback */
    ck_assert_ptr_nonnull(strchr(b, ','));
    ck_assert_msg(strncmp(b, "127.0.0.1:", 10) == 0, "bootstrap %s", b);
    ck_assert_ptr_nonnull(strstr(strchr(b, ','), "127.0.0.1:"));
    topic_ok(m, "orders", 3);
    char why[512] = "";
    ck_assert_int_eq(rnk_partitions(b, "orders", TMO, why, sizeof why), 3);
    rnk_mock_stop(m);
}
END_TEST

START_TEST(test_mock_refuses_zero_brokers)
{
    char why[512] = "";
    ck_assert_ptr_null(rnk_mock_start(0, why, sizeof why));
    ck_assert_ptr_nonnull(strstr(why, "0 brokers"));
}
END_TEST

START_TEST(test_create_topic_refuses_zero_partitions)
{
    rnk_mock *m = mock_ok(1);
    char why[512] = "";
    ck_assert_int_eq(rnk_mock_create_topic(m, "t", 0, why, sizeof why), -1);
    ck_assert_msg(strstr(why, "t") && strstr(why, "0 partitions"), "%s", why);
    rnk_mock_stop(m);
}
END_TEST

START_TEST(test_produce_and_read_back_in_order_with_keys_and_timestamps)
{
    rnk_mock *m = mock_ok(2);
    topic_ok(m, "events", 1);
    enum { N = 500 };
    static char vbuf[N][32], kbuf[N][16];
    const char *values[N], *keys[N];
    int64_t ts[N];
    for (int i = 0; i < N; i++) {
        snprintf(vbuf[i], sizeof vbuf[i], "{\"n\":%d}", i);
        snprintf(kbuf[i], sizeof kbuf[i], "k%d", i % 7);
        values[i] = vbuf[i];
        keys[i] = kbuf[i];
        ts[i] = 1700000000000LL + i * 10;
    }
    char why[512] = "";
    ck_assert_msg(rnk_produce(rnk_mock_bootstrap(m), "events", -1, values, keys, ts, N, TMO, why, sizeof why) == 0,
                  "produce: %s", why);
    struct rnk_msgs got;
    ck_assert_msg(rnk_consume_all(rnk_mock_bootstrap(m), "events", false, TMO, &got, why, sizeof why) == 0,
                  "consume: %s", why);
    ck_assert_uint_eq(got.n, N);
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(got.v[i].partition, 0);
        ck_assert_int_eq(got.v[i].offset, i);
        ck_assert_str_eq(got.v[i].value, vbuf[i]);
        ck_assert_uint_eq(got.v[i].value_len, strlen(vbuf[i]));
        ck_assert_str_eq(got.v[i].key, kbuf[i]);
        ck_assert_int_eq(got.v[i].timestamp, ts[i]);
    }
    rnk_msgs_free(&got);
    ck_assert_uint_eq(got.n, 0);
    rnk_mock_stop(m);
}
END_TEST

START_TEST(test_read_back_orders_by_partition_then_offset)
{
    rnk_mock *m = mock_ok(3);
    topic_ok(m, "spread", 4);
    const char *b = rnk_mock_bootstrap(m);
    char why[512] = "";
    /* partition 3 first, then 1: the read is still partition 1, then 3 */
    const char *v3[] = {"c0", "c1"}, *v1[] = {"a0", "a1", "a2"};
    ck_assert_msg(rnk_produce(b, "spread", 3, v3, NULL, NULL, 2, TMO, why, sizeof why) == 0, "%s", why);
    ck_assert_msg(rnk_produce(b, "spread", 1, v1, NULL, NULL, 3, TMO, why, sizeof why) == 0, "%s", why);
    struct rnk_msgs got;
    ck_assert_msg(rnk_consume_all(b, "spread", true, TMO, &got, why, sizeof why) == 0, "%s", why);
    ck_assert_uint_eq(got.n, 5);
    const char *want[] = {"a0", "a1", "a2", "c0", "c1"};
    const int wantp[] = {1, 1, 1, 3, 3};
    for (int i = 0; i < 5; i++) {
        ck_assert_str_eq(got.v[i].value, want[i]);
        ck_assert_int_eq(got.v[i].partition, wantp[i]);
        ck_assert_ptr_null(got.v[i].key);
        ck_assert_int_gt(got.v[i].timestamp, 0); /* now, when none is given */
    }
    rnk_msgs_free(&got);
    rnk_mock_stop(m);
}
END_TEST

START_TEST(test_same_key_goes_to_one_partition)
{
    rnk_mock *m = mock_ok(1);
    topic_ok(m, "keyed", 4);
    const char *values[40], *keys[40];
    for (int i = 0; i < 40; i++) {
        values[i] = "v";
        keys[i] = (i % 2) ? "odd" : "even";
    }
    char why[512] = "";
    ck_assert_msg(rnk_produce(rnk_mock_bootstrap(m), "keyed", -1, values, keys, NULL, 40, TMO, why, sizeof why) == 0,
                  "%s", why);
    struct rnk_msgs got;
    ck_assert_msg(rnk_consume_all(rnk_mock_bootstrap(m), "keyed", false, TMO, &got, why, sizeof why) == 0, "%s", why);
    ck_assert_uint_eq(got.n, 40);
    int part_of[2] = {-1, -1};
    for (size_t i = 0; i < got.n; i++) {
        int k = strcmp(got.v[i].key, "odd") == 0;
        if (part_of[k] < 0)
            part_of[k] = got.v[i].partition;
        ck_assert_int_eq(got.v[i].partition, part_of[k]);
    }
    rnk_msgs_free(&got);
    rnk_mock_stop(m);
}
END_TEST

START_TEST(test_null_value_is_a_tombstone)
{
    rnk_mock *m = mock_ok(1);
    topic_ok(m, "compact", 1);
    const char *values[] = {"x", NULL}, *keys[] = {"k", "k"};
    char why[512] = "";
    ck_assert_msg(rnk_produce(rnk_mock_bootstrap(m), "compact", 0, values, keys, NULL, 2, TMO, why, sizeof why) == 0,
                  "%s", why);
    struct rnk_msgs got;
    ck_assert_msg(rnk_consume_all(rnk_mock_bootstrap(m), "compact", false, TMO, &got, why, sizeof why) == 0, "%s",
                  why);
    ck_assert_uint_eq(got.n, 2);
    ck_assert_str_eq(got.v[0].value, "x");
    ck_assert_ptr_null(got.v[1].value);
    ck_assert_str_eq(got.v[1].key, "k");
    rnk_msgs_free(&got);
    rnk_mock_stop(m);
}
END_TEST

START_TEST(test_read_of_empty_topic_returns_nothing)
{
    rnk_mock *m = mock_ok(2);
    topic_ok(m, "empty", 3);
    char why[512] = "";
    struct rnk_msgs got;
    ck_assert_msg(rnk_consume_all(rnk_mock_bootstrap(m), "empty", true, TMO, &got, why, sizeof why) == 0, "%s", why);
    ck_assert_uint_eq(got.n, 0);
    rnk_msgs_free(&got);
    rnk_mock_stop(m);
}
END_TEST

START_TEST(test_read_of_missing_topic_fails_naming_it)
{
    rnk_mock *m = mock_ok(1);
    char why[512] = "";
    struct rnk_msgs got;
    ck_assert_int_eq(rnk_consume_all(rnk_mock_bootstrap(m), "nosuch", false, TMO, &got, why, sizeof why), -1);
    ck_assert_msg(strstr(why, "nosuch") && strstr(why, "does not exist"), "%s", why);
    ck_assert_uint_eq(got.n, 0);
    ck_assert_ptr_null(got.v);
    /* and it was not created by asking */
    ck_assert_int_eq(rnk_partitions(rnk_mock_bootstrap(m), "nosuch", TMO, why, sizeof why), -1);
    rnk_mock_stop(m);
}
END_TEST

START_TEST(test_produce_to_missing_topic_fails_naming_it)
{
    rnk_mock *m = mock_ok(1);
    const char *values[] = {"x"};
    char why[512] = "";
    ck_assert_int_eq(rnk_produce(rnk_mock_bootstrap(m), "nosuch", -1, values, NULL, NULL, 1, TMO, why, sizeof why), -1);
    ck_assert_msg(strstr(why, "nosuch") && strstr(why, "does not exist"), "%s", why);
    rnk_mock_stop(m);
}
END_TEST

START_TEST(test_produce_to_missing_partition_fails_naming_it)
{
    rnk_mock *m = mock_ok(1);
    topic_ok(m, "two", 2);
    const char *values[] = {"x"};
    char why[512] = "";
    ck_assert_int_eq(rnk_produce(rnk_mock_bootstrap(m), "two", 5, values, NULL, NULL, 1, TMO, why, sizeof why), -1);
    ck_assert_msg(strstr(why, "two") && strstr(why, "partition 5"), "%s", why);
    rnk_mock_stop(m);
}
END_TEST

START_TEST(test_produce_to_unreachable_broker_times_out_naming_it)
{
    const char *values[] = {"x"};
    char why[512] = "";
    /* port 1 on loopback: nothing listens there */
    ck_assert_int_eq(rnk_produce("127.0.0.1:1", "t", -1, values, NULL, NULL, 1, 1500, why, sizeof why), -1);
    ck_assert_msg(strstr(why, "127.0.0.1:1"), "%s", why);
}
END_TEST

START_TEST(test_partitions_counts_each_topic)
{
    rnk_mock *m = mock_ok(2);
    topic_ok(m, "one", 1);
    topic_ok(m, "eight", 8);
    char why[512] = "";
    ck_assert_int_eq(rnk_partitions(rnk_mock_bootstrap(m), "one", TMO, why, sizeof why), 1);
    ck_assert_int_eq(rnk_partitions(rnk_mock_bootstrap(m), "eight", TMO, why, sizeof why), 8);
    ck_assert_int_eq(rnk_partitions(rnk_mock_bootstrap(m), "none", TMO, why, sizeof why), -1);
    ck_assert_msg(strstr(why, "none") && strstr(why, "does not exist"), "%s", why);
    rnk_mock_stop(m);
}
END_TEST

/* The mock's last stable offset is its high watermark (an open transaction is not kept from
 * read_committed readers there), so only a committed transaction is checked. */
START_TEST(test_read_committed_sees_a_committed_transaction)
{
    rnk_mock *m = mock_ok(1);
    topic_ok(m, "tx", 1);
    const char *b = rnk_mock_bootstrap(m);
    const char *before[] = {"plain"};
    char why[512] = "", err[512];
    ck_assert_msg(rnk_produce(b, "tx", 0, before, NULL, NULL, 1, TMO, why, sizeof why) == 0, "%s", why);

    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    ck_assert_int_eq(rd_kafka_conf_set(conf, "bootstrap.servers", b, err, sizeof err), RD_KAFKA_CONF_OK);
    ck_assert_int_eq(rd_kafka_conf_set(conf, "transactional.id", "test-tx", err, sizeof err), RD_KAFKA_CONF_OK);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    ck_assert_msg(rk != NULL, "%s", err);
    rd_kafka_error_t *e = rd_kafka_init_transactions(rk, TMO);
    ck_assert_msg(e == NULL, "init_transactions: %s", e ? rd_kafka_error_string(e) : "");
    ck_assert_ptr_null(rd_kafka_begin_transaction(rk));
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(rd_kafka_producev(rk, RD_KAFKA_V_TOPIC("tx"), RD_KAFKA_V_PARTITION(0),
                                           RD_KAFKA_V_VALUE("in-tx", 5), RD_KAFKA_V_END),
                         0);
    e = rd_kafka_commit_transaction(rk, TMO);
    ck_assert_msg(e == NULL, "commit: %s", e ? rd_kafka_error_string(e) : "");

    struct rnk_msgs got;
    ck_assert_msg(rnk_consume_all(b, "tx", true, TMO, &got, why, sizeof why) == 0, "%s", why);
    ck_assert_uint_eq(got.n, 4); /* the commit marker (offset 4) is not a message */
    ck_assert_str_eq(got.v[0].value, "plain");
    for (int i = 1; i < 4; i++) {
        ck_assert_str_eq(got.v[i].value, "in-tx");
        ck_assert_int_eq(got.v[i].offset, i);
    }
    rnk_msgs_free(&got);
    rd_kafka_destroy(rk);
    rnk_mock_stop(m);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("kafka_client");
    TCase *tc = tcase_create("mock");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_mock_starts_two_brokers_and_creates_a_topic);
    tcase_add_test(tc, test_mock_refuses_zero_brokers);
    tcase_add_test(tc, test_create_topic_refuses_zero_partitions);
    suite_add_tcase(s, tc);

    tc = tcase_create("produce_consume");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_produce_and_read_back_in_order_with_keys_and_timestamps);
    tcase_add_test(tc, test_read_back_orders_by_partition_then_offset);
    tcase_add_test(tc, test_same_key_goes_to_one_partition);
    tcase_add_test(tc, test_null_value_is_a_tombstone);
    tcase_add_test(tc, test_read_of_empty_topic_returns_nothing);
    tcase_add_test(tc, test_read_of_missing_topic_fails_naming_it);
    tcase_add_test(tc, test_produce_to_missing_topic_fails_naming_it);
    tcase_add_test(tc, test_produce_to_missing_partition_fails_naming_it);
    tcase_add_test(tc, test_produce_to_unreachable_broker_times_out_naming_it);
    tcase_add_test(tc, test_read_committed_sees_a_committed_transaction);
    suite_add_tcase(s, tc);

    tc = tcase_create("partitions");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_partitions_counts_each_topic);
    suite_add_tcase(s, tc);
    return s;
}

TU_MAIN(make_suite)
