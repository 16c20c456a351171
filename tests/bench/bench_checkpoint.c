/*
 * bench_checkpoint.c — checkpoint benchmark through the real runner (runnel/runner.h): a job
 * holding about 1 GB of keyed state in RocksDB, checkpointed on demand (rn_runner_trigger,
 * rn_runner_wait_checkpoint), figures from rn_runner_checkpoint_stats.
 *
 * The job: a source (bench_keys, defined here) that emits, when this program asks, either every
 * key 0..N-1 once (the load) or 1% of the keys spread over the key space (an update step), each
 * with a payload of P random (incompressible) bytes; and a keyed sink (bench_store) that puts each
 * row's payload into a value state of that key. Parallelism 2, RocksDB, checkpoints only when
 * triggered (interval 1 h). The program waits until the store has taken every row it asked for,
 * then triggers and waits, so each figure is a checkpoint of a known state with no rows in
 * flight:
 *   (a) the first checkpoint (every file new: a full upload), and savepoints (self-contained
 *       full copies), each: duration (trigger to metadata written), the longest synchronous
 *       pause of a task, and the bytes written;
 *   (b) incremental checkpoints after an update step rewrote 1% of the keys: bytes written (new
 *       files only) against the bytes of state the checkpoint refers to (shared files included).
 * Medians (and the maximum) over several of each. Figures, not a test: the machine is noisy.
 *
 *   build/tests/bench/bench_checkpoint [dir] [keys] [payload bytes] [savepoints] [steps]
 *       (defaults: $TMPDIR or /tmp, 1048576, 1000, 3, 5; tests/bench/checkpoint.sh runs 3 and 9.
 *       The state and checkpoints go into a new directory under dir, removed at the end.)
 */
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "builtin.h"
#include "runnel/job.h"
#include "runnel/operator.h"
#include "runnel/runner.h"

/* ---- what the program asks of the source, and what the store took ---- */

static uint64_t n_keys = 1u << 20;       /* a power of two: the update steps' permutation */
static uint32_t payload_len = 1000;
static _Atomic int64_t steps_asked;      /* -1: nothing yet; 0: the load; i > 0: update step i */
static _Atomic uint64_t rows_stored;

#define STEP_FRACTION 100                 /* an update step rewrites n_keys / 100 keys */
#define PERM_MULT 0x9e3779b97f4a7c15ull   /* odd: a bijection of 0..2^k-1 */

static uint64_t step_keys(void) { return n_keys / STEP_FRACTION; }

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* ---- bench_keys: the source ---- */

struct src {
    rn_builder *bb;
    uint8_t *payload;
    int64_t step;            /* the step being emitted, -1 none */
    uint64_t next, end;      /* positions of this subtask in the step: next, next + P, ... < end */
    uint32_t sub, par;
};

static int src_plan(struct rn_plan_ctx *ctx)
{
    rn_schema *s = rn_schema_create();
    if (!s) return RN_ENOMEM;
    rn_schema_add(s, "key", rn_type_of(RN_T_INT64), false);
    rn_schema_add(s, "payload", rn_type_of(RN_T_STRING), false);
    int rc = rn_plan_set_output(ctx, s);
    rn_schema_unref(s);
    return rc;
}

static int src_open(struct rn_op_ctx *ctx, void **state)
{
    struct src *s = calloc(1, sizeof *s);
    if (!s) return RN_ENOMEM;
    *state = s;
    s->bb = rn_builder_create(rn_op_output_schema(ctx), 1024);
    s->payload = malloc(payload_len + 8);
    s->step = -1;
    s->sub = rn_op_subtask(ctx);
    s->par = rn_op_parallelism(ctx);
    return s->bb && s->payload ? 0 : RN_ENOMEM;
}

static int src_poll(void *state, struct rn_op_ctx *ctx)
{
    struct src *s = state;
    if (rn_op_cancelled(ctx)) return RN_ECANCELED;
    if (s->next >= s->end) {
        int64_t asked = atomic_load(&steps_asked);
        if (asked <= s->step) return RN_EAGAIN;
        s->step++;
        /* the load covers positions 0..N-1, step i the positions [(i-1)K, iK) mod N */
        uint64_t first = s->step == 0 ? 0 : (uint64_t)(s->step - 1) * step_keys() % n_keys;
        uint64_t count = s->step == 0 ? n_keys : step_keys();
        s->next = first + s->sub;
        s->end = first + count;
    }
    int rc = 0;
    while (!rc && s->next < s->end && !rn_builder_full(s->bb)) {
        uint64_t pos = s->next % n_keys;
        /* the load writes key = position; a step writes a permutation of its positions, so its
         * keys are spread over the key space (and the RocksDB files) */
        uint64_t key = s->step == 0 ? pos : (pos * PERM_MULT) & (n_keys - 1);
        uint64_t x = mix64(key ^ ((uint64_t)s->step << 40));
        for (uint32_t i = 0; i < payload_len; i += 8) {
            x = mix64(x + 0x9e3779b97f4a7c15ull);
            memcpy(s->payload + i, &x, 8);
        }
        rc = rn_builder_i64(s->bb, 0, (int64_t)key);
        if (!rc) rc = rn_builder_str(s->bb, 1, (const char *)s->payload, payload_len);
        s->next += s->par;
    }
    if (rc) return rc;
    struct rn_error err;
    struct rn_batch *b = rn_builder_finish(s->bb, &err);
    if (!b) {
        rn_op_error(ctx, "%s", err.msg);
        return RN_ENOMEM;
    }
    return rn_op_emit(ctx, b);
}

static void src_close(void *state, struct rn_op_ctx *ctx)
{
    (void)ctx;
    struct src *s = state;
    if (!s) return;
    rn_builder_destroy(s->bb);
    free(s->payload);
    free(s);
}

static const struct rn_option no_options[] = {{NULL, 0, NULL, NULL}};

static const struct rn_operator_def bench_keys = {
    .abi_version = RN_OPERATOR_ABI,
    .struct_size = sizeof(struct rn_operator_def),
    .name = "bench_keys",
    .description = "keys and random payloads, as bench_checkpoint asks",
    .options = no_options,
    .plan = src_plan,
    .open = src_open,
    .poll = src_poll,
    .close = src_close,
};

/* ---- bench_store: the keyed sink ---- */

static int store_plan(struct rn_plan_ctx *ctx)
{
    (void)ctx;
    return 0;
}

static int store_open(struct rn_op_ctx *ctx, void **state)
{
    struct rn_state_desc d = {"bench.payload", RN_STATE_VALUE, 0, 0, NULL, NULL};
    rn_state *st = NULL;
    int rc = rn_op_state_declare(ctx, &d, &st);
    *state = st;
    return rc;
}

static int store_process(void *state, struct rn_op_ctx *ctx, uint32_t input, const struct rn_batch *b)
{
    (void)input;
    struct rn_op_keys keys;
    int rc = rn_op_keys(ctx, 0, b, &keys);
    for (uint32_t r = 0; r < b->n_rows && !rc; r++) {
        struct rn_str p = rn_col_str(&b->cols[1], r);
        rc = rn_state_put(state, &keys.keys[r], 0, p.ptr, p.len);
    }
    if (!rc) atomic_fetch_add(&rows_stored, b->n_rows);
    return rc;
}

static void store_close(void *state, struct rn_op_ctx *ctx)
{
    (void)state;
    (void)ctx;
}

static const struct rn_operator_def bench_store = {
    .abi_version = RN_OPERATOR_ABI,
    .struct_size = sizeof(struct rn_operator_def),
    .name = "bench_store",
    .description = "puts each row's payload into its key's value state",
    .options = no_options,
    .n_inputs_min = 1,
    .n_inputs_max = 1,
    .flags = RN_OP_KEYED | RN_OP_SINK,
    .plan = store_plan,
    .open = store_open,
    .process = store_process,
    .close = store_close,
};

/* ---- the program ---- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void die(const char *what, const char *msg)
{
    fprintf(stderr, "bench_checkpoint: %s: %s\n", what, msg);
    exit(1);
}

/* Waits until the store took `rows` rows in all. */
static void wait_stored(rn_runner *r, uint64_t rows)
{
    while (atomic_load(&rows_stored) < rows) {
        if (rn_runner_wait(r, 20)) {
            const char *why;
            rn_runner_state(r, &why);
            die("the job ended early", why ? why : "(no error)");
        }
    }
}

struct figure {
    double duration_ms, sync_ms;
    uint64_t written, full;
};

/* Triggers a checkpoint (or a savepoint) and waits for it; its figures. */
static struct figure checkpoint(rn_runner *r, bool savepoint)
{
    struct rn_error err;
    int64_t id;
    int rc;
    while ((rc = rn_runner_trigger(r, savepoint, NULL, false, &id, &err)) == RN_EAGAIN) usleep(10000);
    if (rc) die("trigger", err.msg);
    char path[1024];
    if (rn_runner_wait_checkpoint(r, id, 600000, path, sizeof path, &err)) die("checkpoint", err.msg);
    struct rn_checkpoint_stats st;
    rn_runner_checkpoint_stats(r, &st);
    if (st.last_id != id) die("checkpoint", "the stats are not of the checkpoint waited for");
    return (struct figure){st.last_duration_ms, st.last_sync_pause_ms, st.last_bytes, st.last_full_bytes};
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median and maximum of field `f` (0 duration, 1 sync, 2 written, 3 full) over n figures. */
static void stat_of(const struct figure *fs, int n, int f, double *median, double *max)
{
    double v[64];
    for (int i = 0; i < n; i++)
        v[i] = f == 0 ? fs[i].duration_ms : f == 1 ? fs[i].sync_ms : f == 2 ? (double)fs[i].written : (double)fs[i].full;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    *median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
    *max = v[n - 1];
}

static void print_row(const char *what, const struct figure *fs, int n)
{
    double d, dmax, s, smax, w, wmax, f, fmax;
    stat_of(fs, n, 0, &d, &dmax);
    stat_of(fs, n, 1, &s, &smax);
    stat_of(fs, n, 2, &w, &wmax);
    stat_of(fs, n, 3, &f, &fmax);
    printf("%-26s %3d %10.0f %8.0f %10.1f %8.1f %11.1f %9.1f %10.1f\n", what, n, d, dmax, s, smax, w / 1e6, wmax / 1e6,
           f / 1e6);
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

int main(int argc, char **argv)
{
    const char *base = argc > 1 ? argv[1] : getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    if (argc > 2) n_keys = strtoull(argv[2], NULL, 10);
    if (argc > 3) payload_len = (uint32_t)strtoul(argv[3], NULL, 10);
    int n_savepoints = argc > 4 ? atoi(argv[4]) : 3, n_steps = argc > 5 ? atoi(argv[5]) : 5;
    if (n_keys < 1024 || (n_keys & (n_keys - 1)) || payload_len < 8 || payload_len % 8 || n_savepoints < 1 ||
        n_savepoints > 64 || n_steps < 1 || n_steps > 64) {
        fprintf(stderr, "usage: bench_checkpoint [dir] [keys: a power of two >= 1024] [payload bytes: a multiple of 8] "
                        "[savepoints 1-64] [steps 1-64]\n");
        return 2;
    }
    atomic_store(&steps_asked, -1);
    char *dir = NULL;
    if (asprintf(&dir, "%s/runnel-ckbench-XXXXXX", base) < 0 || !mkdtemp(dir)) die(base, strerror(errno));

    rn_registry *reg = rn_registry_create();
    struct rn_error err;
    if (!reg || rn_builtin_register(reg, &err) || rn_registry_add(reg, &bench_keys, &err) ||
        rn_registry_add(reg, &bench_store, &err))
        die("registry", err.msg);
    char *text = NULL;
    if (asprintf(&text,
                 "name: ckbench\n"
                 "parallelism: 2\n"
                 "state: { backend: rocksdb, dir: \"%s/state\" }\n"
                 "checkpoint: { interval: 1h, dir: \"%s/ckpt\", retain: 2, timeout: 10m }\n"
                 "restart: { strategy: none }\n"
                 "operators:\n"
                 "  - { id: src, type: bench_keys }\n"
                 "  - { id: store, type: bench_store, input: src, key_by: key }\n",
                 dir, dir) < 0)
        die("job", "out of memory");
    struct rn_job_errors errs = {0};
    struct rn_job *job = NULL;
    if (rn_job_parse("ckbench.yaml", text, strlen(text), reg, &job, &errs)) {
        rn_job_errors_print(&errs, stderr);
        die("job", "does not validate");
    }
    FILE *log = fopen("/dev/null", "w");   /* the runner's per-checkpoint lines */
    struct rn_run_options ro = {.log = log};
    rn_runner *r = rn_runner_create(job, &ro, &err);
    if (!r || rn_runner_start(r, &err)) die("runner", err.msg);

    double state_gb = (double)n_keys * payload_len / 1e9;
    printf("bench_checkpoint: %" PRIu64 " keys x %u B random payload = %.2f GB of values in RocksDB, parallelism 2, "
           "state and checkpoints under %s\n",
           n_keys, payload_len, state_gb, base);
    double t0 = now_s();
    atomic_store(&steps_asked, 0);
    wait_stored(r, n_keys);
    double load_s = now_s() - t0;
    printf("load: %.1f s (%.0f MB/s of values)\n\n", load_s, (double)n_keys * payload_len / 1e6 / load_s);

    struct figure first = checkpoint(r, false), sps[64], steps[64];
    for (int i = 0; i < n_savepoints; i++) sps[i] = checkpoint(r, true);
    uint64_t rows = n_keys;
    for (int i = 0; i < n_steps; i++) {
        atomic_store(&steps_asked, i + 1);
        rows += step_keys();
        wait_stored(r, rows);
        steps[i] = checkpoint(r, false);
    }

    printf("%-26s %3s %10s %8s %10s %8s %11s %9s %10s\n", "", "n", "duration", "max", "sync pause", "max", "written MB",
           "max", "state MB");
    printf("%-26s %3s %10s %8s %10s %8s %11s %9s %10s\n", "", "", "ms median", "ms", "ms median", "ms", "median", "",
           "median");
    print_row("first checkpoint (full)", &first, 1);
    print_row("savepoint (full copy)", sps, n_savepoints);
    char what[64];
    snprintf(what, sizeof what, "checkpoint after 1%% keys");
    print_row(what, steps, n_steps);
    double w, wmax, f, fmax;
    stat_of(steps, n_steps, 2, &w, &wmax);
    stat_of(steps, n_steps, 3, &f, &fmax);
    printf("\nincremental checkpoint after 1%% of the keys changed: %.1f MB written of %.1f MB of state (%.2f%%; "
           "max %.1f MB)\n",
           w / 1e6, f / 1e6, f > 0 ? 100.0 * w / f : 0.0, wmax / 1e6);

    rn_runner_cancel(r);
    rn_runner_wait(r, -1);
    rn_runner_destroy(r);
    rn_job_free(job);
    rn_job_errors_free(&errs);
    rn_registry_destroy(reg);
    fclose(log);
    free(text);
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free(dir);
    return 0;
}
