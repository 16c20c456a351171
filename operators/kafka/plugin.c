/*
 * plugin.c — the entry point of runnel_kafka.so: the Kafka operators, kafka_source and
 * kafka_sink, registered through the operator ABI like any plugin.
 */
#include <stddef.h>

#include "kafka_common.h"

const struct rn_operator_def *const *rn_plugin_entries(void)
{
    static const struct rn_operator_def *const defs[] = {&rnk_source_def, &rnk_sink_def, NULL};
    return defs;
}
