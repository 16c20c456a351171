/*
 * kafkatest.h — what the Kafka runtime suites (test_kafka_source.c, test_kafka_sink.c) start for
 * every test: a mock cluster of one broker (kafka_client.h) and a registry of the built-in
 * operators plus the plugins of $RUNNEL_KAFKA_PLUGIN_DIR (runnel_kafka.so); and topics on it.
 */
#ifndef RN_KAFKATEST_H
#define RN_KAFKATEST_H

#include "kafka_client.h"
#include "runnel/job.h"

/* Makes the test's temporary directory (tu_tmp_setup(tmp_prefix)), starts the mock cluster and
 * loads the plugin directory; fails the test when any of it fails. */
void kt_setup(const char *tmp_prefix, rnk_mock **mock, rn_registry **reg);
/* Undoes kt_setup. */
void kt_teardown(rnk_mock *mock, rn_registry *reg);
/* Creates topic with `partitions` partitions on the mock; fails the test when it cannot. */
void kt_topic(rnk_mock *mock, const char *name, int partitions);

#endif
