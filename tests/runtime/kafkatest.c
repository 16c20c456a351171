/*
 * kafkatest.c — the per-test fixture of the Kafka runtime suites (kafkatest.h).
 */
#include <check.h>
#include <stdio.h>

#include "kafkatest.h"
#include "rtutil.h"
#include "testutil.h"

void kt_setup(const char *tmp_prefix, rnk_mock **mock, rn_registry **reg)
{
    tu_tmp_setup(tmp_prefix);
    char why[512];
    *mock = rnk_mock_start(1, why, sizeof why);
    ck_assert_msg(*mock, "mock cluster: %s", why);
    *reg = rt_registry();
    unsigned refused = 0;
    FILE *warn = fopen("/dev/null", "w");
    ck_assert_int_eq(rn_registry_load_dir(*reg, rt_env_dir("RUNNEL_KAFKA_PLUGIN_DIR"), warn, &refused), 0);
    fclose(warn);
    ck_assert_uint_eq(refused, 0);
}

void kt_teardown(rnk_mock *mock, rn_registry *reg)
{
    rn_registry_destroy(reg);
    rnk_mock_stop(mock);
    tu_tmp_teardown();
}

void kt_topic(rnk_mock *mock, const char *name, int partitions)
{
    char why[512];
    ck_assert_msg(rnk_mock_create_topic(mock, name, partitions, why, sizeof why) == 0, "%s", why);
}
