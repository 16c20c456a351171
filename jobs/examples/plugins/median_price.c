/*
 * median_price.c — an example window-function plugin: `median_price` outputs, per window of a
 * key, the median of a numeric column over the window's rows (something an aggregate that sees
 * one row at a time cannot do cheaply) and how many values it was taken over.
 *
 * It shows the whole window-function surface (runnel/window_fn.h): the option table, plan()
 * checking its options against the input schema and declaring the output columns, per-subtask
 * state from open(), process() getting all the rows of one window as one batch and returning
 * its output rows, and the one exported symbol, rn_plugin_window_fns (this plugin has no
 * operator entry point: window functions alone are a valid plugin).
 *
 * Build: meson builds it into build/jobs/examples/plugins/; by hand:
 *   cc -shared -fPIC -I engine/include -o median_price.so jobs/examples/plugins/median_price.c
 * Use: a window_process node with `function: median_price` (docs/job-spec.md), run with
 * --plugin-dir build/jobs/examples/plugins.
 */
#include <stdlib.h>
#include <string.h>

#include "runnel/window_fn.h"

static const struct rn_option options[] = {
    {"column", RN_OPT_STRING, "price", "the int64 or double column whose median is taken (nulls are skipped)"},
    {NULL, 0, NULL, NULL},
};

/* The column named by the `column` option; -1 with err when it is missing or not numeric. */
static int find_column(const struct rn_window_fn_setup *setup, struct rn_error *err)
{
    const rn_value *v = rn_opt_value(setup->options, "column");
    const char *name = rn_value_text(v);
    int at = name ? rn_schema_find(setup->input, name) : -1;
    if (at < 0) {
        rn_error_set(err, RN_EINVAL, rn_value_line(v), rn_value_column(v), "no column '%s' in the input", name ? name : "");
        return -1;
    }
    enum rn_type_id t = rn_schema_field(setup->input, (size_t)at)->type.id;
    if (t != RN_T_INT64 && t != RN_T_DOUBLE) {
        rn_error_set(err, RN_EINVAL, rn_value_line(v), rn_value_column(v), "column '%s' is not int64 or double", name);
        return -1;
    }
    return at;
}

static int plan(const struct rn_window_fn_setup *setup, rn_schema **output, struct rn_error *err)
{
    if (find_column(setup, err) < 0) return RN_EINVAL;
    rn_schema *s = rn_schema_create();
    if (!s) return RN_ENOMEM;
    if (rn_schema_add(s, "median", rn_type_of(RN_T_DOUBLE), true) ||
        rn_schema_add(s, "values", rn_type_of(RN_T_INT64), false)) {
        rn_schema_unref(s);
        return rn_error_set(err, RN_EINVAL, 0, 0, "cannot build the output schema");
    }
    *output = s;
    return 0;
}

struct state {
    int column;
    const rn_schema *output;
    double *values;      /* scratch, grown to the largest window seen */
    uint32_t cap;
};

static int open_(const struct rn_window_fn_setup *setup, void **statep, struct rn_error *err)
{
    struct state *s = calloc(1, sizeof *s);
    if (!s) return RN_ENOMEM;
    *statep = s;
    if ((s->column = find_column(setup, err)) < 0) return RN_EINVAL;
    s->output = rn_schema_ref(setup->output);
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int process(void *state, const struct rn_window_call *w, const struct rn_batch *rows, struct rn_batch **out,
                   struct rn_error *err)
{
    (void)w;
    struct state *s = state;
    const struct rn_column *c = &rows->cols[s->column];
    if (rows->n_rows > s->cap) {
        double *v = realloc(s->values, rows->n_rows * sizeof *v);
        if (!v) return rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory");
        s->values = v;
        s->cap = rows->n_rows;
    }
    uint32_t n = 0;
    for (uint32_t r = 0; r < rows->n_rows; r++) {
        if (rn_column_is_null(c, r)) continue;
        s->values[n++] = c->type.id == RN_T_DOUBLE ? rn_col_f64(c, r) : (double)rn_col_i64(c, r);
    }
    qsort(s->values, n, sizeof *s->values, cmp_double);
    struct rn_batch *b = rn_batch_new(s->output, 1);
    if (!b) return rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory");
    if (n == 0) rn_batch_set_null(b, 0, 0);
    else ((double *)b->cols[0].values)[0] = n % 2 ? s->values[n / 2] : (s->values[n / 2 - 1] + s->values[n / 2]) / 2;
    ((int64_t *)b->cols[1].values)[0] = n;
    b->n_rows = 1;
    *out = b;
    return 0;
}

static void close_(void *state)
{
    struct state *s = state;
    if (!s) return;
    rn_schema_unref(s->output);
    free(s->values);
    free(s);
}

static const struct rn_window_fn_def median_price = {
    .abi_version = RN_WINDOW_FN_ABI,
    .struct_size = sizeof(struct rn_window_fn_def),
    .name = "median_price",
    .description = "the median of a numeric column over each window's rows (example window-function plugin)",
    .options = options,
    .plan = plan,
    .open = open_,
    .process = process,
    .close = close_,
};

static const struct rn_window_fn_def *const all[] = {&median_price, NULL};

const struct rn_window_fn_def *const *rn_plugin_window_fns(void) { return all; }
