/*
 * stddev.c — an example aggregate-function plugin (runnel/aggregate.h): `stddev(x)`, the sample
 * standard deviation of an int64 or double column (NULL with fewer than two values), and
 * `variance(x)`, its square. Usable in `aggregate` and `window_aggregate`:
 *
 *     aggregates: { spread: "stddev(price)" }
 *
 * The accumulator is {count, mean, m2} (Welford's running variance); two accumulators merge
 * with Chan et al.'s formula, which is what lets runnel pre-combine a batch per key, combine the
 * panes of a sliding window and merge sessions. It shows the whole surface: plan() checks the
 * argument type, add() folds a batch column into many accumulators in one call, merge(),
 * result(), and the one exported symbol.
 *
 * Build: meson builds it into build/jobs/examples/plugins/; by hand:
 *   cc -shared -fPIC -I engine/include -o stddev.so jobs/examples/plugins/stddev.c -lm
 * Use: runnel run job.yaml --plugin-dir build/jobs/examples/plugins
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "runnel/aggregate.h"

struct acc {
    double n, mean, m2;
};

static int plan(struct rn_type arg, struct rn_type *result, uint32_t *acc_size, char *msg, size_t msg_len)
{
    if (arg.id != RN_T_INT64 && arg.id != RN_T_DOUBLE) {
        snprintf(msg, msg_len, "takes int64 or double");
        return 1;
    }
    *result = rn_type_of(RN_T_DOUBLE);
    *acc_size = sizeof(struct acc);
    return 0;
}

static void add(void *accs, size_t stride, const uint32_t *slot, const struct rn_column *arg, uint32_t n)
{
    bool dbl = arg->type.id == RN_T_DOUBLE;
    for (uint32_t i = 0; i < n; i++) {
        if (rn_column_is_null(arg, i)) continue;
        double x = dbl ? rn_col_f64(arg, i) : (double)rn_col_i64(arg, i);
        struct acc *a = (struct acc *)((char *)accs + (size_t)slot[i] * stride);
        a->n += 1;
        double d = x - a->mean;
        a->mean += d / a->n;
        a->m2 += d * (x - a->mean);
    }
}

static void merge(void *accp, const void *laterp)
{
    struct acc *a = accp;
    const struct acc *b = laterp;
    if (b->n == 0) return;
    if (a->n == 0) {
        *a = *b;
        return;
    }
    double n = a->n + b->n, d = b->mean - a->mean;
    a->mean += d * b->n / n;
    a->m2 += b->m2 + d * d * a->n * b->n / n;
    a->n = n;
}

static bool result_stddev(const void *accp, void *out)
{
    const struct acc *a = accp;
    if (a->n < 2) return false;
    double v = sqrt(a->m2 / (a->n - 1));
    memcpy(out, &v, sizeof v);
    return true;
}

static bool result_variance(const void *accp, void *out)
{
    const struct acc *a = accp;
    if (a->n < 2) return false;
    double v = a->m2 / (a->n - 1);
    memcpy(out, &v, sizeof v);
    return true;
}

static const struct rn_aggregate_def stddev_def = {
    .abi_version = RN_AGGREGATE_ABI, .struct_size = sizeof(struct rn_aggregate_def),
    .name = "stddev", .description = "sample standard deviation (NULL with fewer than two values)",
    .plan = plan, .add = add, .merge = merge, .result = result_stddev,
};

static const struct rn_aggregate_def variance_def = {
    .abi_version = RN_AGGREGATE_ABI, .struct_size = sizeof(struct rn_aggregate_def),
    .name = "variance", .description = "sample variance (NULL with fewer than two values)",
    .plan = plan, .add = add, .merge = merge, .result = result_variance,
};

const struct rn_aggregate_def *const *rn_plugin_aggregates(void)
{
    static const struct rn_aggregate_def *const defs[] = {&stddev_def, &variance_def, NULL};
    return defs;
}
