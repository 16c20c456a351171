/*
 * cmd_job.c — the job commands: `runnel run job.yaml` (validate, run on this machine's threads,
 * stop cleanly on Ctrl-C), `runnel validate job.yaml` (every error with file, line, column and
 * operator id; --explain shows the plan) and `runnel operators [NAME]`.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "runnel/aggregate.h"
#include "runnel/checkpoint.h"
#include "runnel/runner.h"
#include "runnel/window_fn.h"

static volatile sig_atomic_t stop_signal, savepoint_signal;

static void on_signal(int sig) { stop_signal = sig; }
static void on_savepoint_signal(int sig) { savepoint_signal = sig; }

static struct rn_job *load(const char *path, rn_registry *reg)
{
    struct rn_job_errors errs = {0};
    struct rn_job *job = NULL;
    if (rn_job_load(path, reg, &job, &errs)) {
        rn_job_errors_print(&errs, stderr);
        if (errs.n > 1) fprintf(stderr, "%zu errors\n", errs.n);
    }
    rn_job_errors_free(&errs);
    return job;
}

static void print_summary(const struct rn_job *job, rn_runner *r, FILE *f)
{
    double secs = rn_runner_elapsed(r);
    fprintf(f, "job '%s': %u tasks, %.3f s\n", job->name, rn_runner_n_tasks(r), secs);
    for (uint32_t i = 0; i < job->n_nodes; i++) {
        uint64_t in, out;
        rn_runner_node_stats(r, i, &in, &out);
        const struct rn_job_node *n = &job->nodes[i];
        fprintf(f, "  %-20s %-16s x%-3u", n->id, n->def->name, n->parallelism);
        if (n->n_inputs) fprintf(f, " in %12llu", (unsigned long long)in);
        else fprintf(f, "    %12s", "");
        if (!(n->def->flags & RN_OP_SINK)) fprintf(f, "  out %12llu", (unsigned long long)out);
        uint64_t rows = n->n_inputs ? in : out;
        if (secs > 0 && rows) fprintf(f, "  (%.2f M rows/s)", (double)rows / secs / 1e6);
        const char *name;
        uint64_t value;
        for (uint32_t m = 0; rn_runner_node_metric(r, i, m, &name, &value); m++)
            fprintf(f, "  %s=%llu", name, (unsigned long long)value);
        fprintf(f, "\n");
    }
    struct rn_checkpoint_stats st;
    rn_runner_checkpoint_stats(r, &st);
    if (job->checkpoint.enabled) {
        fprintf(f, "  checkpoints: %llu completed, %llu failed", (unsigned long long)st.completed,
                (unsigned long long)st.failed);
        if (st.last_id >= 0)
            fprintf(f, "; latest %lld in %.0f ms (sync pause %.2f ms, %.1f MB written): %s", (long long)st.last_id,
                    st.last_duration_ms, st.last_sync_pause_ms, (double)st.last_bytes / 1e6, st.last_path);
        if (st.failed && st.last_error[0]) fprintf(f, "; last failure: %s", st.last_error);
        fprintf(f, "\n");
    }
    if (st.restored_id >= 0) fprintf(f, "  restored from checkpoint %lld\n", (long long)st.restored_id);
}

/* One attempt of a run: until the job ends, or Ctrl-C, serving savepoint requests. */
static enum rn_run_state run_once(const struct rn_job *job, const struct rn_run_options *ro, bool quiet, const char *path,
                                  char *why, size_t why_len, struct rn_checkpoint_stats *stats)
{
    struct rn_error err;
    why[0] = 0;
    rn_runner *r = rn_runner_create(job, ro, &err);
    if (!r) {
        snprintf(why, why_len, "%s: %s", path, err.msg);
        return RN_RUN_CREATED;
    }
    enum rn_run_state st = RN_RUN_CREATED;
    if (rn_runner_start(r, &err)) {
        snprintf(why, why_len, "%s", err.msg);
    } else {
        bool asked = false;
        struct rn_cli_savepoint sp = {0};
        while (!rn_runner_wait(r, 100)) {
            if (stop_signal && !asked) {
                fprintf(stderr, "runnel: %s received, stopping the job\n", stop_signal == SIGINT ? "SIGINT" : "SIGTERM");
                rn_runner_cancel(r);
                asked = true;
            }
            bool sp_asked = savepoint_signal;
            savepoint_signal = 0;
            if (sp_asked || sp.active) rn_cli_savepoint_poll(&sp, r, job, sp_asked);
        }
        /* a stop-with-savepoint ends the job at once: answer its request */
        if (sp.active) rn_cli_savepoint_poll(&sp, r, job, false);
        const char *msg;
        st = rn_runner_state(r, &msg);
        if (st == RN_RUN_FAILED) snprintf(why, why_len, "%s", msg ? msg : "unknown error");
        if (!quiet) print_summary(job, r, stderr);
    }
    rn_runner_checkpoint_stats(r, stats);
    rn_runner_destroy(r);
    return st;
}

/* Sleeps ms, or less when a stop signal comes. */
static void pause_ms(int64_t ms)
{
    for (int64_t slept = 0; slept < ms && !stop_signal; slept += 20) usleep(20000);
}

int rn_cli_run(int argc, char **argv)
{
    const char *plugin_dir = rn_cli_take_plugin_dir(&argc, argv);
    static const struct option opts[] = {
        {"quiet", no_argument, NULL, 'q'}, {"channel-capacity", required_argument, NULL, 'c'},
        {"restore", required_argument, NULL, 'r'}, {"help", no_argument, NULL, 'h'}, {0, 0, 0, 0},
    };
    bool quiet = false;
    const char *restore = NULL;
    struct rn_run_options ro = {0};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "q", opts, NULL)) != -1) {
        if (c == 'q') quiet = true;
        else if (c == 'c') ro.channel_capacity = (uint32_t)strtoul(optarg, NULL, 10);
        else if (c == 'r') restore = optarg;
        else {
            fprintf(c == 'h' ? stdout : stderr,
                    "usage: runnel run JOB.yaml [--restore DIR] [--plugin-dir DIR] [--quiet] [--channel-capacity N]\n"
                    "Runs the job on this machine (one thread per task) until its sources end, or Ctrl-C.\n"
                    "--restore DIR starts from a checkpoint or savepoint directory, or from the latest usable\n"
                    "checkpoint of a job's checkpoint directory (<checkpoint dir>/<job name>).\n");
            return c == 'h' ? 0 : 2;
        }
    }
    if (optind + 1 != argc) {
        fprintf(stderr, "usage: runnel run JOB.yaml [--restore DIR] [--plugin-dir DIR] [--quiet]\n");
        return 2;
    }
    rn_registry *reg = rn_cli_registry(plugin_dir);
    if (!reg) return 2;
    struct rn_job *job = load(argv[optind], reg);
    if (!job) {
        rn_registry_destroy(reg);
        return 2;
    }
    int rc = 1;
    char from[4096] = "", jobdir[4096] = "";
    struct rn_error err;
    if (restore && rn_checkpoint_resolve(restore, from, sizeof from, stderr, &err)) {
        fprintf(stderr, "runnel: --restore %s: %s\n", restore, err.msg);
        rc = 2;
        goto out;
    }
    if (job->checkpoint.enabled) snprintf(jobdir, sizeof jobdir, "%s/%s", job->checkpoint.dir, job->name);
    struct sigaction sa = {0}, old_int, old_term, old_usr1;
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    sa.sa_handler = on_savepoint_signal;
    sigaction(SIGUSR1, &sa, &old_usr1);
    signal(SIGPIPE, SIG_IGN);
    uint32_t failures = 0;
    struct timespec began;
    clock_gettime(CLOCK_MONOTONIC, &began);
    for (;;) {
        ro.restore = from[0] ? from : NULL;
        if (ro.restore) fprintf(stderr, "runnel: job '%s' restoring from %s\n", job->name, ro.restore);
        char why[1200];
        struct rn_checkpoint_stats stats;
        enum rn_run_state st = run_once(job, &ro, quiet, argv[optind], why, sizeof why, &stats);
        if (st == RN_RUN_FINISHED) {
            rc = 0;
            struct rn_checkpoint_info info;
            struct rn_error ierr;
            if (ro.restore && !rn_checkpoint_read_info(ro.restore, &info, &ierr) && info.finished)
                fprintf(stderr, "runnel: job '%s' had finished at checkpoint %lld: its output is committed, nothing to run\n",
                        job->name, (long long)info.id);
            break;
        }
        if (st == RN_RUN_CANCELLED) {
            rc = stop_signal ? 128 + stop_signal : 0;
            fprintf(stderr, "runnel: job '%s' %s\n", job->name, stop_signal ? "cancelled" : "stopped with a savepoint");
            break;
        }
        if (st == RN_RUN_CREATED) {   /* it never ran: a restore or storage problem */
            fprintf(stderr, "runnel: %s\n", why);
            rc = 2;
            break;
        }
        fprintf(stderr, "runnel: job '%s' failed: %s\n", job->name, why);
        /* a run long enough without failure starts the exponential backoff over */
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (job->restart.kind == RN_RESTART_EXPONENTIAL_DELAY &&
            (int64_t)(now.tv_sec - began.tv_sec) * 1000 >= job->restart.reset_after)
            failures = 0;
        int64_t delay = rn_restart_delay(&job->restart, ++failures);
        if (delay < 0 || stop_signal) {
            if (job->restart.kind != RN_RESTART_NONE)
                fprintf(stderr, "runnel: restart strategy exhausted after %u restarts\n", failures - 1);
            break;
        }
        /* the latest completed checkpoint (of any attempt), else the one restored from */
        char latest[4096];
        struct rn_error rerr;
        if (jobdir[0] && !rn_checkpoint_resolve(jobdir, latest, sizeof latest, NULL, &rerr)) snprintf(from, sizeof from, "%s", latest);
        char of[32] = "";
        if (job->restart.attempts) snprintf(of, sizeof of, " of %u", job->restart.attempts);
        fprintf(stderr, "runnel: restarting job '%s' in %lld ms (restart %u%s) from %s\n", job->name, (long long)delay, failures,
                of, from[0] ? from : "the beginning (no checkpoint completed yet)");
        pause_ms(delay);
        if (stop_signal) break;
        clock_gettime(CLOCK_MONOTONIC, &began);
    }
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    sigaction(SIGUSR1, &old_usr1, NULL);
out:
    rn_job_free(job);
    rn_registry_destroy(reg);
    return rc;
}

int rn_cli_validate(int argc, char **argv)
{
    const char *plugin_dir = rn_cli_take_plugin_dir(&argc, argv);
    bool explain = false;
    int files = 0, bad = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--explain")) explain = true;
        else if (!strcmp(argv[i], "--help")) {
            printf("usage: runnel validate JOB.yaml... [--explain] [--plugin-dir DIR]\n"
                   "Checks job files without running them; --explain prints each operator's output and the tasks.\n");
            return 0;
        }
    }
    rn_registry *reg = rn_cli_registry(plugin_dir);
    if (!reg) return 2;
    for (int i = 1; i < argc; i++) {
        if (argv[i][0] == '-') continue;
        files++;
        struct rn_job *job = load(argv[i], reg);
        if (!job) {
            bad++;
            continue;
        }
        struct rn_error err;
        rn_runner *r = rn_runner_create(job, NULL, &err);
        if (!r) {
            fprintf(stderr, "%s: %s\n", argv[i], err.msg);
            bad++;
        } else {
            printf("%s: ok (job '%s', %u operators, %u tasks, %u channels)\n", argv[i], job->name, job->n_nodes,
                   rn_runner_n_tasks(r), rn_runner_n_channels(r));
        }
        for (uint32_t n = 0; explain && r && n < job->n_nodes; n++) {
            const struct rn_job_node *node = &job->nodes[n];
            char cols[1024];
            printf("  %s: %s x%u", node->id, node->def->name, node->parallelism);
            for (uint32_t k = 0; k < node->n_inputs; k++) {
                const struct rn_job_node *in = &job->nodes[node->inputs[k]];
                printf("%s%s", k ? ", " : " <- ", node->input_ports[k] ? in->side[node->input_ports[k] - 1].id : in->id);
                if (node->input_key_by && !node->key_by) printf(" (key_by %s)", node->input_key_by[k]);
            }
            if (node->key_by) printf(" (key_by %s)", node->key_by);
            printf("\n    %s\n", node->output ? rn_schema_describe(node->output, cols, sizeof cols) : "(sink)");
            for (uint32_t k = 0; k < node->n_side; k++)
                printf("    side output %s (%s): %s\n", node->side[k].id, node->side[k].option,
                       node->side[k].schema ? rn_schema_describe(node->side[k].schema, cols, sizeof cols) : "(no schema)");
        }
        rn_runner_destroy(r);
        rn_job_free(job);
    }
    rn_registry_destroy(reg);
    if (!files) {
        fprintf(stderr, "usage: runnel validate JOB.yaml...\n");
        return 2;
    }
    return bad ? 2 : 0;
}

int rn_cli_operators(int argc, char **argv)
{
    const char *plugin_dir = rn_cli_take_plugin_dir(&argc, argv);
    rn_registry *reg = rn_cli_registry(plugin_dir);
    if (!reg) return 2;
    int rc = 0;
    if (argc > 1) {
        for (int i = 1; i < argc; i++) {
            const struct rn_operator_def *d = rn_registry_find(reg, argv[i]);
            if (!d) {
                const char *near = rn_registry_closest(reg, argv[i]);
                fprintf(stderr, "runnel: no operator '%s'%s%s%s\n", argv[i], near ? " (did you mean '" : "",
                        near ? near : "", near ? "'?)" : "");
                rc = 2;
                continue;
            }
            rn_operator_describe(d, stdout);
        }
    } else {
        for (size_t i = 0; i < rn_registry_len(reg); i++) {
            const struct rn_operator_def *d = rn_registry_at(reg, i);
            const char *origin = rn_registry_origin(reg, i);
            printf("%-16s %s%s%s%s\n", d->name, d->description ? d->description : "", strcmp(origin, "built-in") ? " [" : "",
                   strcmp(origin, "built-in") ? origin : "", strcmp(origin, "built-in") ? "]" : "");
        }
        /* what plugins add beside operators */
        for (size_t i = 0; i < rn_registry_aggregate_len(reg); i++) {
            const struct rn_aggregate_def *d = rn_registry_aggregate_at(reg, i);
            if (i == 0) printf("\naggregate functions from plugins (window_aggregate, aggregate):\n");
            printf("%-16s %s [%s]\n", d->name, d->description ? d->description : "", rn_registry_aggregate_origin(reg, i));
        }
        for (size_t i = 0; i < rn_registry_window_fn_len(reg); i++) {
            const struct rn_window_fn_def *d = rn_registry_window_fn_at(reg, i);
            if (i == 0) printf("\nwindow functions (window_process):\n");
            printf("%-16s %s [%s]\n", d->name, d->description ? d->description : "", rn_registry_window_fn_origin(reg, i));
        }
        printf("\n`runnel operators NAME` shows an operator's options.\n");
    }
    rn_registry_destroy(reg);
    return rc;
}
