/*
 * test_exactly_once.c — Check suite "exactly_once": checkpoints and recovery of the `runnel`
 * binary as a real process.
 *
 * The acceptance test (in the spirit of Flink's DataStreamAllroundTestProgram): a job of a
 * per-key sequence source (datagen: key = seq % K, the key's own sequence number seq / K,
 * rate-limited), a sequence checker on keyed state (the example plugin seqcheck, whose alerts —
 * gaps, repeats — go to an exactly-once file sink), an event-time tumbling window with count
 * and sum per key into another exactly-once file sink, checkpoints every 100 ms. `runnel run`
 * is killed with SIGKILL at random moments (seeded: the seed is printed, RUNNEL_EO_SEED replays
 * it), at least 20 times once the run completed a checkpoint, and each time started again with
 * `--restore <checkpoint dir>/<job>` until a run finishes. Its committed output must equal a
 * failure-free run's and a direct computation in the test, the checker must have reported
 * nothing, and no in-progress file may be left.
 *
 * Beside it, the checkpoint commands: --restore of a missing or corrupt directory, `runnel
 * savepoint` (with and without --stop) against a running job and a restore from it, `runnel
 * checkpoints`, and the restart strategies (the test plugin fail_once fails once after a
 * checkpoint). Environment (tests/integration/meson.build): RUNNEL, RUNNEL_SAMPLE_PLUGIN_DIR
 * (seqcheck), RUNNEL_TEST_PLUGIN_DIR (fail_once). Every child is killed and reaped by the end of
 * its test; files live in a mkdtemp directory removed after each test.
 */
#include <dirent.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "child.h"
#include "testutil.h"

/* Each test's files are in a directory of its own (tu_tmp_setup), inside one directory per test
 * case made in the parent process: a failed assertion ends a test with _exit, past its teardown,
 * and the parent's teardown removes what it left. */
static char *case_dir;

static void case_setup(void) { case_dir = child_case_dir_make("runnel-eo"); }
static void case_teardown(void) { child_case_dir_remove(case_dir); }

static void setup(void) { tu_tmp_setup("test"); }
static void teardown(void) { tu_tmp_teardown(); }

static const char *env(const char *name)
{
    const char *v = getenv(name);
    ck_assert_msg(v && *v, "%s is not set (run through meson test)", name);
    return v;
}

static const char *const backends[] = {"rocksdb", "memory"};

/* ------------------------------------------------------------------------------------------ */
/* the jobs                                                                                   */
/* ------------------------------------------------------------------------------------------ */

/* A per-key sequence job: datagen rows (key = seq % keys, kseq = seq / keys, ts = seq ms), a
 * tumbling event-time window of window_ms with n = count(*) and total = sum(kseq) per key into
 * <root>/out (exactly once), checkpoints into <root>/ckpt, RocksDB working copies in
 * <root>/state. keys must be a multiple of the parallelism (2): every key then comes from one
 * datagen subtask, in order. */
struct seq_job {
    const char *name;
    const char *backend;
    int64_t rows, rate;          /* rate 0: as fast as possible */
    int keys;
    int64_t window_ms;
    int64_t interval_ms;         /* checkpoint interval */
    const char *restart;         /* the restart block's text */
    bool seqcheck;               /* the checker, with its alerts into <root>/alerts */
    const char *fail_marker;     /* fail_once before the window, with this marker file */
    const char *drop;            /* a filter before the checker: the rows where it is true go */
};

static char *seq_job_text(const struct seq_job *j, const char *root)
{
    char *gen = tu_fmt("  - id: gen\n"
                       "    type: datagen\n"
                       "    with:\n"
                       "      rows: %" PRId64 "\n"
                       "      rate_limit: %" PRId64 "\n"
                       "      fields: { key: \"seq %% %d\", kseq: \"seq / %d\", ts: \"to_timestamp(seq)\" }\n"
                       "    watermark: { column: ts, monotonous: true }\n",
                       j->rows, j->rate, j->keys, j->keys);
    const char *checked = "gen";
    char *drop = j->drop ? tu_fmt("  - { id: lossy, type: filter, input: gen, with: { where: \"NOT (%s)\" } }\n", j->drop)
                         : strdup("");
    if (j->drop) checked = "lossy";
    char *check = j->seqcheck ? tu_fmt("  - id: check\n"
                                       "    type: seqcheck\n"
                                       "    input: %s\n"
                                       "    key_by: key\n"
                                       "    with: { seq: kseq, first: 0, time: ts, silence: 1h }\n"
                                       "  - id: alerts\n"
                                       "    type: file_sink\n"
                                       "    input: check\n"
                                       "    with: { path: \"%s/alerts\", delivery: exactly_once }\n",
                                       checked, root)
                              : strdup("");
    /* flaky is chained after the rate-limited source: its failure must still be its own */
    char *flaky = j->fail_marker ? tu_fmt("  - id: flaky\n"
                                          "    type: fail_once\n"
                                          "    input: gen\n"
                                          "    with: { marker: \"%s\", after_checkpoints: 2 }\n",
                                          j->fail_marker)
                                 : strdup("");
    const char *windowed = j->fail_marker ? "flaky" : "gen";
    char *text = tu_fmt("name: %s\n"
                        "parallelism: 2\n"
                        "state: { backend: %s, dir: \"%s/state\" }\n"
                        "checkpoint: { interval: %" PRId64 "ms, dir: \"%s/ckpt\" }\n"
                        "restart: %s\n"
                        "operators:\n"
                        "%s%s%s%s"
                        "  - id: win\n"
                        "    type: window_aggregate\n"
                        "    input: %s\n"
                        "    key_by: key\n"
                        "    with:\n"
                        "      window: { type: tumbling, size: %" PRId64 "ms }\n"
                        "      aggregates: { n: \"count(*)\", total: \"sum(kseq)\" }\n"
                        "  - id: out\n"
                        "    type: file_sink\n"
                        "    input: win\n"
                        "    with: { path: \"%s/out\", delivery: exactly_once }\n",
                        j->name, j->backend, root, j->interval_ms ? j->interval_ms : 100, root,
                        j->restart ? j->restart : "{ strategy: none }", gen, drop, check, flaky, windowed,
                        j->window_ms, root);
    free(gen);
    free(drop);
    free(check);
    free(flaky);
    return text;
}

/* Makes <tmp>/<rel> with the job file in it; returns the job file's path, root in *root. */
static char *seq_job_write(const struct seq_job *j, const char *rel, char **root)
{
    *root = tu_tmp_path(rel);
    ck_assert_int_eq(mkdir(*root, 0755), 0);
    char *path = tu_fmt("%s/job.yaml", *root);
    char *text = seq_job_text(j, *root);
    tu_write_file(path, text);
    free(text);
    return path;
}

static int cmp_lines(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Lines joined with '\n' after sorting (the lines array is sorted in place). */
static char *join_sorted(char **lines, size_t n)
{
    if (n) qsort(lines, n, sizeof *lines, cmp_lines);
    size_t len = 1;
    for (size_t i = 0; i < n; i++) len += strlen(lines[i]) + 1;
    char *s = malloc(len), *p = s;
    ck_assert(s);
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(lines[i]);
        memcpy(p, lines[i], l);
        p += l;
        *p++ = '\n';
    }
    *p = 0;
    return s;
}

/* The window rows the seq job must produce, computed directly, as the sink writes them (JSON
 * lines, timestamps in ms), sorted. */
static char *seq_job_expected(const struct seq_job *j)
{
    int64_t windows = (j->rows + j->window_ms - 1) / j->window_ms;
    size_t cells = (size_t)windows * (size_t)j->keys;
    int64_t *count = calloc(cells, sizeof *count), *sum = calloc(cells, sizeof *sum);
    ck_assert(count && sum);
    for (int64_t seq = 0; seq < j->rows; seq++) {
        size_t c = (size_t)(seq / j->window_ms) * (size_t)j->keys + (size_t)(seq % j->keys);
        count[c]++;
        sum[c] += seq / j->keys;
    }
    char **lines = malloc(cells * sizeof *lines);
    ck_assert(lines);
    size_t n = 0;
    for (size_t c = 0; c < cells; c++) {
        if (!count[c]) continue;
        int64_t w = (int64_t)(c / (size_t)j->keys), start = w * j->window_ms;
        lines[n++] = tu_fmt("{\"key\":%d,\"window_start\":%" PRId64 ",\"window_end\":%" PRId64 ",\"n\":%" PRId64
                            ",\"total\":%" PRId64 "}",
                            (int)(c % (size_t)j->keys), start, start + j->window_ms, count[c], sum[c]);
    }
    char *s = join_sorted(lines, n);
    for (size_t i = 0; i < n; i++) free(lines[i]);
    free(lines);
    free(count);
    free(sum);
    return s;
}

/* What an exactly-once sink committed in dir: the lines of its part-* files, sorted; in
 * *leftover the number of other files (in-progress files, anything else). A missing dir holds
 * nothing. */
static char *committed(const char *dir, int *leftover)
{
    *leftover = 0;
    DIR *d = opendir(dir);
    char **lines = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        if (strncmp(e->d_name, "part-", 5)) {
            (*leftover)++;
            continue;
        }
        char *path = tu_fmt("%s/%s", dir, e->d_name);
        char *text = tu_slurp(path);
        ck_assert_msg(text, "cannot read %s", path);
        for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
            if (n == cap) {
                cap = cap ? cap * 2 : 1024;
                lines = realloc(lines, cap * sizeof *lines);
                ck_assert(lines);
            }
            lines[n++] = strdup(line);
        }
        free(text);
        free(path);
    }
    if (d) closedir(d);
    char *s = join_sorted(lines, n);
    for (size_t i = 0; i < n; i++) free(lines[i]);
    free(lines);
    return s;
}

/* The names in dir other than part-* (for messages). */
static char *leftover_names(const char *dir)
{
    char *s = strdup("");
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") || !strncmp(e->d_name, "part-", 5)) continue;
        char *t = tu_fmt("%s %s", s, e->d_name);
        free(s);
        s = t;
    }
    if (d) closedir(d);
    return s;
}

static size_t count_lines(const char *s)
{
    size_t n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

/* First line that differs between two sorted texts, for messages. */
static char *first_difference(const char *got, const char *want)
{
    size_t i = 0;
    while (got[i] && got[i] == want[i]) i++;
    while (i > 0 && got[i - 1] != '\n') i--;
    const char *g = got + i, *w = want + i;
    int gl = (int)strcspn(g, "\n"), wl = (int)strcspn(w, "\n");
    return tu_fmt("at line %zu: got '%.*s', want '%.*s' (%zu lines, want %zu)", count_lines(got) - count_lines(g) + 1, gl,
                  g, wl, w, count_lines(got), count_lines(want));
}

/* Asserts that the sink in dir committed exactly want and left no other file. */
static void expect_committed(const char *what, const char *dir, const char *want, const char *context)
{
    int leftover;
    char *got = committed(dir, &leftover);
    if (strcmp(got, want)) {
        char *diff = first_difference(got, want);
        ck_abort_msg("%s: %s: the committed output of %s differs from the expected: %s", context, what, dir, diff);
    }
    if (leftover) {
        char *names = leftover_names(dir);
        ck_abort_msg("%s: %s: %d files beside the committed part files in %s:%s", context, what, leftover, dir, names);
    }
    free(got);
}

/* ------------------------------------------------------------------------------------------ */
/* running                                                                                    */
/* ------------------------------------------------------------------------------------------ */

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

/* Runs runnel with args to the end (at most timeout_s) into c. */
static void run_to_end(struct child *c, double timeout_s, const char *const *args)
{
    child_start(c, args);
    bool ended = child_wait(c, timeout_s);
    ck_assert_msg(ended, "runnel %s %s did not end within %.0f s\nstderr:\n%s", args[0], args[1] ? args[1] : "",
                  timeout_s, c->err.buf);
}

static void expect_exit(const struct child *c, int code, const char *what)
{
    ck_assert_msg(child_exit_code(c) == code, "%s: exit status %d (status word %d), expected %d\nstdout:\n%s\nstderr:\n%s",
                  what, child_exit_code(c), c->status, code, c->out.buf, c->err.buf);
}

static void expect_contains(const char *what, const char *hay, const char *needle)
{
    ck_assert_msg(strstr(hay, needle), "expected \"%s\" in %s:\n%s", needle, what, hay);
}

/* Waits until the running child logged its first completed checkpoint (at most timeout_s). */
static void wait_first_checkpoint(struct child *c, double timeout_s)
{
    double deadline = child_now() + timeout_s;
    while (!child_completed_checkpoints(c->err.buf)) {
        ck_assert_msg(!child_pump(c, 20), "the run ended (status word %d) before its first checkpoint\nstderr:\n%s",
                      c->status, c->err.buf);
        ck_assert_msg(child_now() < deadline, "no checkpoint completed within %.0f s\nstderr:\n%s", timeout_s, c->err.buf);
    }
}

/* The rows a node emitted, from the run's summary ("  gen   datagen  x2   out  N"), -1 when
 * the summary has no such line. */
static int64_t summary_rows_out(const char *log, const char *node)
{
    char *head = tu_fmt("\n  %s ", node);
    const char *p = strstr(log, head);
    free(head);
    if (!p) return -1;
    const char *eol = strchr(p + 1, '\n'), *out = strstr(p, " out ");
    if (!out || (eol && out > eol)) return -1;
    return strtoll(out + 5, NULL, 10);
}

/* splitmix64: the kill schedule's random numbers, replayable from the seed */
static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double rng_unit(uint64_t *s) { return (double)(rng_next(s) >> 11) * 0x1.0p-53; }

/* ------------------------------------------------------------------------------------------ */
/* the acceptance test: kill -9 and restore, until the job finishes                          */
/* ------------------------------------------------------------------------------------------ */

struct kill_plan {
    const char *backend;
    int kills;                   /* kills of runs that had completed a checkpoint */
    int64_t rows;                /* at 10,000 rows/s */
};

static const struct kill_plan kill_plans[] = {
    {"rocksdb", 20, 120000},
    {"memory", 8, 60000},
};

START_TEST(exactly_once_output_survives_repeated_kill_9)
{
    const struct kill_plan *kp = &kill_plans[_i];
    uint64_t seed;
    const char *given = getenv("RUNNEL_EO_SEED");
    if (given && *given) seed = strtoull(given, NULL, 10);
    else seed = (uint64_t)time(NULL) * 1000003u ^ (uint64_t)getpid();
    char *ctx = tu_fmt("%s backend, seed %" PRIu64 " (replay: RUNNEL_EO_SEED=%" PRIu64 ")", kp->backend, seed, seed);
    fprintf(stderr, "exactly_once: %s\n", ctx);
    uint64_t rng = seed;

    struct seq_job j = {.name = "exactly_once", .backend = kp->backend, .rows = kp->rows, .rate = 10000, .keys = 64,
                        .window_ms = 1000, .seqcheck = true};
    char *root, *ref_root;
    char *job = seq_job_write(&j, "killed", &root), *ref_job = seq_job_write(&j, "reference", &ref_root);
    const char *plugins = env("RUNNEL_SAMPLE_PLUGIN_DIR");
    char *jobdir = tu_fmt("%s/ckpt/exactly_once", root);

    /* the failure-free run goes on beside the killed ones */
    struct child ref;
    child_start(&ref, ARGS("run", ref_job, "--plugin-dir", plugins, "-q"));

    int kills = 0, kills_after_checkpoint = 0, early_kills = 0, runs = 0, restores = 0;
    int64_t restored_ids[256];
    int n_restored_ids = 0;
    struct child run = {0};
    char *last_err = strdup("");
    for (;;) {
        bool last = kills_after_checkpoint >= kp->kills;
        /* a run started after a kill restores the latest checkpoint; the first run of all is
         * only killed after a checkpoint completed, so there is always one */
        if (runs == 0) child_start(&run, ARGS("run", job, "--plugin-dir", plugins, "-q"));
        else child_start(&run, ARGS("run", job, "--plugin-dir", plugins, "-q", "--restore", jobdir));
        runs++;
        /* the kill: one run in five (not the first) at a random moment of its first 300 ms,
         * whatever it has done; the others at a random moment of the 400 ms after their first
         * completed checkpoint */
        bool early = runs > 1 && rng_unit(&rng) < 0.2;
        double delay = early ? 0.3 * rng_unit(&rng) : 0.4 * rng_unit(&rng);
        double started = child_now(), armed = early ? started : -1, deadline = started + 60;
        bool killed = false;
        while (!child_pump(&run, 5)) {
            child_pump(&ref, 0);
            double now = child_now();
            ck_assert_msg(now < deadline, "%s: run %d did not end within 60 s\nstderr:\n%s", ctx, runs, run.err.buf);
            if (last) continue;
            if (armed < 0 && child_completed_checkpoints(run.err.buf)) armed = now;
            if (armed >= 0 && now - armed >= delay) {
                /* what the run had done when it was killed */
                bool had_checkpoint = child_completed_checkpoints(run.err.buf) > 0;
                bool finishing = strstr(run.err.buf, "final checkpoint") != NULL;
                child_kill(&run);
                killed = true;
                kills++;
                if (had_checkpoint && !finishing) kills_after_checkpoint++;
                else early_kills++;
                break;
            }
        }
        const char *rs = strstr(run.err.buf, "restoring from ");
        if (rs) {
            restores++;
            const char *chk = strstr(rs, "/chk-");
            int64_t id = chk ? strtoll(chk + 5, NULL, 10) : -1;
            bool seen = false;
            for (int i = 0; i < n_restored_ids; i++) seen |= restored_ids[i] == id;
            if (!seen && n_restored_ids < 256) restored_ids[n_restored_ids++] = id;
        }
        free(last_err);
        last_err = strdup(run.err.buf);
        if (!killed) {
            /* it ended on its own: only the last run may, and only successfully */
            ck_assert_msg(child_exit_code(&run) == 0, "%s: run %d (after %d kills) exited with status word %d\nstderr:\n%s",
                          ctx, runs, kills, run.status, run.err.buf);
            ck_assert_msg(last, "%s: the job finished after only %d kills after a checkpoint (of %d wanted): make it longer",
                          ctx, kills_after_checkpoint, kp->kills);
            child_free(&run);
            break;
        }
        ck_assert_msg(WIFSIGNALED(run.status) && WTERMSIG(run.status) == SIGKILL,
                      "%s: run %d was to be killed but ended with status word %d\nstderr:\n%s", ctx, runs, run.status,
                      run.err.buf);
        child_free(&run);
    }
    fprintf(stderr,
            "exactly_once: %s: %d runs, %d kills (%d after a completed checkpoint, %d before one), %d restores from %d "
            "distinct checkpoints\n",
            ctx, runs, kills, kills_after_checkpoint, early_kills, restores, n_restored_ids);
    ck_assert_int_ge(kills_after_checkpoint, kp->kills);
    /* (a run killed in its first milliseconds may not have said what it restored) */
    ck_assert_msg(strstr(last_err, "restoring from "), "%s: the last run did not restore:\n%s", ctx, last_err);

    bool ref_ended = child_wait(&ref, 60);
    ck_assert_msg(ref_ended && child_exit_code(&ref) == 0, "%s: the failure-free run ended with status word %d\nstderr:\n%s",
                  ctx, ref.status, ref.err.buf);

    /* the checker saw every key's sequence whole, once, in both */
    char *alerts = tu_fmt("%s/alerts", root), *ref_alerts = tu_fmt("%s/alerts", ref_root);
    expect_committed("sequence checker alerts (gaps, repeats) after the kills", alerts, "", ctx);
    expect_committed("sequence checker alerts (gaps, repeats) without failures", ref_alerts, "", ctx);
    /* the windows: the killed runs' output is the failure-free run's, which is the direct
     * computation's */
    char *want = seq_job_expected(&j);
    char *out = tu_fmt("%s/out", root), *ref_out = tu_fmt("%s/out", ref_root);
    int leftover;
    char *ref_got = committed(ref_out, &leftover), *got = committed(out, &leftover);
    if (strcmp(got, ref_got)) {
        char *diff = first_difference(got, ref_got);
        ck_abort_msg("%s: the output after the kills differs from the failure-free run's: %s\nlast run's stderr:\n%s", ctx,
                     diff, last_err);
    }
    expect_committed("windows without failures", ref_out, want, ctx);
    expect_committed("windows after the kills", out, want, ctx);
    free(got);
    free(ref_got);
    free(want);
    free(out);
    free(ref_out);
    free(alerts);
    free(ref_alerts);
    free(last_err);
    child_free(&ref);
    free(jobdir);
    free(job);
    free(ref_job);
    free(root);
    free(ref_root);
    free(ctx);
}
END_TEST

/* The zero-alert check above can fail: a job that loses rows gets its gaps reported, through
 * the same exactly-once sink. */
START_TEST(sequence_checker_reports_lost_rows_through_the_exactly_once_sink)
{
    /* key 40's kseq 15 (seq 1000) and key 5's kseq 0 (seq 5: its first row) are lost */
    struct seq_job j = {.name = "lossy", .backend = backends[_i], .rows = 5000, .keys = 64, .window_ms = 1000,
                        .seqcheck = true, .drop = "(key = 5 AND kseq = 0) OR (key = 40 AND kseq = 15)"};
    char *root;
    char *job = seq_job_write(&j, "lossy", &root);
    struct child c;
    run_to_end(&c, 60, ARGS("run", job, "--plugin-dir", env("RUNNEL_SAMPLE_PLUGIN_DIR"), "-q"));
    expect_exit(&c, 0, "runnel run");
    char *alerts = tu_fmt("%s/alerts", root);
    expect_committed("alerts", alerts,
                     "{\"key\":40,\"alert\":\"gap\",\"expected\":15,\"got\":16,\"at\":null}\n"
                     "{\"key\":5,\"alert\":\"gap\",\"expected\":0,\"got\":1,\"at\":null}\n",
                     backends[_i]);
    child_free(&c);
    free(alerts);
    free(job);
    free(root);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* --restore, savepoints, checkpoints                                                         */
/* ------------------------------------------------------------------------------------------ */

/* A short job run to its end: returns its job file; its checkpoint directory <root>/ckpt/<name>. */
static char *finished_job(const char *name, char **root)
{
    struct seq_job j = {.name = name, .backend = "rocksdb", .rows = 5000, .rate = 5000, .keys = 16, .window_ms = 100};
    char *job = seq_job_write(&j, name, root);
    struct child c;
    run_to_end(&c, 60, ARGS("run", job, "-q"));
    expect_exit(&c, 0, "runnel run");
    ck_assert_msg(child_completed_checkpoints(c.err.buf) >= 2, "fewer than 2 checkpoints:\n%s", c.err.buf);
    child_free(&c);
    return job;
}

/* The highest chk-<n> under jobdir below `below` (INT64_MAX: the highest of all). */
static int64_t latest_chk(const char *jobdir, int64_t below)
{
    DIR *d = opendir(jobdir);
    ck_assert_msg(d, "cannot read %s", jobdir);
    int64_t best = -1;
    struct dirent *e;
    while ((e = readdir(d))) {
        int64_t id = strncmp(e->d_name, "chk-", 4) ? -1 : atoll(e->d_name + 4);
        if (id > best && id < below) best = id;
    }
    closedir(d);
    ck_assert_msg(best >= 0, "no chk-* below %" PRId64 " in %s", below, jobdir);
    return best;
}

/* Flips one byte in the middle of a file. */
static void flip_byte(const char *path)
{
    FILE *f = fopen(path, "r+b");
    ck_assert_msg(f, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    ck_assert_int_gt(size, 20);
    fseek(f, size / 2, SEEK_SET);
    int b = fgetc(f);
    fseek(f, size / 2, SEEK_SET);
    fputc(b ^ 0x5a, f);
    fclose(f);
}

START_TEST(restore_from_a_missing_or_corrupt_directory_exits_2)
{
    char *root;
    char *job = finished_job("restore_errors", &root);
    char *jobdir = tu_fmt("%s/ckpt/restore_errors", root);

    /* missing */
    char *missing = tu_fmt("%s/no-such-checkpoint", root);
    struct child c;
    run_to_end(&c, 30, ARGS("run", job, "--restore", missing));
    expect_exit(&c, 2, "--restore of a missing directory");
    char *said = tu_fmt("--restore %s: %s: no such checkpoint or savepoint directory", missing, missing);
    expect_contains("stderr", c.err.buf, said);
    free(said);
    child_free(&c);

    /* a directory that is no checkpoint and holds none */
    char *empty = tu_fmt("%s/empty", root);
    ck_assert_int_eq(mkdir(empty, 0755), 0);
    run_to_end(&c, 30, ARGS("run", job, "--restore", empty));
    expect_exit(&c, 2, "--restore of an empty directory");
    expect_contains("stderr", c.err.buf, "has no usable checkpoint");
    child_free(&c);

    /* a checkpoint whose metadata is damaged */
    int64_t id = latest_chk(jobdir, INT64_MAX);
    char *chk = tu_fmt("%s/chk-%" PRId64, jobdir, id), *meta = tu_fmt("%s/_metadata", chk);
    flip_byte(meta);
    run_to_end(&c, 30, ARGS("run", job, "--restore", chk));
    expect_exit(&c, 2, "--restore of a checkpoint with damaged metadata");
    said = tu_fmt("checkpoint %s is corrupt", chk);
    expect_contains("stderr", c.err.buf, said);
    expect_contains("stderr", c.err.buf, "checksum");
    free(said);
    child_free(&c);

    /* the job's directory: the damaged checkpoint is skipped (and named), an older one used */
    run_to_end(&c, 60, ARGS("run", job, "--restore", jobdir, "-q"));
    expect_exit(&c, 0, "--restore of the job's directory with one damaged checkpoint");
    said = tu_fmt("skipping checkpoint %s", chk);
    expect_contains("stderr", c.err.buf, said);
    free(said);
    expect_contains("stderr", c.err.buf, "restoring from");
    child_free(&c);

    /* every checkpoint of the job's directory damaged: nothing usable */
    DIR *d = opendir(jobdir);
    struct dirent *e;
    while ((e = readdir(d)))
        if (!strncmp(e->d_name, "chk-", 4)) {
            char *m = tu_fmt("%s/%s/_metadata", jobdir, e->d_name);
            if (!access(m, F_OK)) {
                /* an empty metadata file: truncated */
                FILE *f = fopen(m, "w");
                ck_assert(f);
                fclose(f);
            }
            free(m);
        }
    closedir(d);
    run_to_end(&c, 30, ARGS("run", job, "--restore", jobdir));
    expect_exit(&c, 2, "--restore of a job directory whose checkpoints are all damaged");
    said = tu_fmt("--restore %s: %s has no usable checkpoint", jobdir, jobdir);
    expect_contains("stderr", c.err.buf, said);
    expect_contains("stderr", c.err.buf, "truncated");
    free(said);
    child_free(&c);

    free(chk);
    free(meta);
    free(empty);
    free(missing);
    free(jobdir);
    free(job);
    free(root);
}
END_TEST

/* A rate-limited job for the savepoint tests: 4 s of rows, a checkpoint a second. A checkpoint
 * completed after a savepoint commits output that a restore from the savepoint writes again
 * (restoring from an older checkpoint than the latest replays, as in Flink): the test that kills
 * the run after a savepoint takes it right after a checkpoint and kills right after it, well
 * before the next checkpoint (a second after the savepoint). */
static const struct seq_job savepoint_job = {.name = "sp", .backend = "rocksdb", .rows = 20000, .rate = 5000, .keys = 16,
                                             .window_ms = 100, .interval_ms = 1000};

/* The one line `runnel savepoint` printed: the savepoint's directory (a new string). */
static char *savepoint_path(const struct child *c)
{
    size_t n = strcspn(c->out.buf, "\n");
    ck_assert_msg(n > 0 && c->out.buf[n] == '\n' && c->out.buf[n + 1] == 0, "expected one line on stdout, got:\n%s",
                  c->out.buf);
    char *p = strndup(c->out.buf, n);
    char *meta = tu_fmt("%s/_metadata", p);
    ck_assert_msg(!access(meta, F_OK), "%s is not there", meta);
    free(meta);
    return p;
}

START_TEST(savepoint_of_a_running_job_restores_and_is_listed)
{
    char *root;
    char *job = seq_job_write(&savepoint_job, "sp", &root);
    struct child run, sp, restored;
    child_start(&run, ARGS("run", job));
    wait_first_checkpoint(&run, 30);
    run_to_end(&sp, 60, ARGS("savepoint", job));
    expect_exit(&sp, 0, "runnel savepoint");
    char *path = savepoint_path(&sp);
    char *under = tu_fmt("%s/ckpt/sp/savepoints/savepoint-", root);
    ck_assert_msg(!strncmp(path, under, strlen(under)), "the savepoint went to %s, not under %s", path, under);
    /* the run goes on after it; then it fails hard, before its next checkpoint */
    ck_assert_msg(!child_pump(&run, 0), "the run ended after the savepoint:\n%s", run.err.buf);
    child_kill(&run);
    const char *written = strstr(run.err.buf, "savepoint written to");
    ck_assert_msg(written, "the run did not say it wrote the savepoint:\n%s", run.err.buf);
    ck_assert_msg(!child_completed_checkpoints(written),
                  "a checkpoint completed between the savepoint and the kill (the machine was too slow for this "
                  "test):\n%s",
                  run.err.buf);

    /* a restore from the savepoint resumes: the rows before it are not generated again, and the
     * output is whole and once */
    run_to_end(&restored, 60, ARGS("run", job, "--restore", path));
    expect_exit(&restored, 0, "runnel run --restore SAVEPOINT");
    char *said = tu_fmt("restoring from %s", path);
    expect_contains("stderr", restored.err.buf, said);
    int64_t generated = summary_rows_out(restored.err.buf, "gen");
    ck_assert_msg(generated >= 0 && generated < savepoint_job.rows,
                  "the restored run generated %" PRId64 " rows of %" PRId64 ": it did not resume\n%s", generated,
                  savepoint_job.rows, restored.err.buf);
    char *want = seq_job_expected(&savepoint_job), *out = tu_fmt("%s/out", root);
    expect_committed("windows", out, want, "savepoint and restore");

    /* `runnel checkpoints` lists the job's checkpoints, the savepoint among them */
    struct child list;
    char *jobdir = tu_fmt("%s/ckpt/sp", root);
    run_to_end(&list, 30, ARGS("checkpoints", jobdir));
    expect_exit(&list, 0, "runnel checkpoints");
    expect_contains("runnel checkpoints", list.out.buf, " savepoint  ");
    expect_contains("runnel checkpoints", list.out.buf, path);
    expect_contains("runnel checkpoints", list.out.buf, " finished ");   /* the restored run's final one */
    child_free(&list);
    free(jobdir);
    free(want);
    free(out);
    free(said);
    free(under);
    free(path);
    child_free(&run);
    child_free(&sp);
    child_free(&restored);
    free(job);
    free(root);
}
END_TEST

START_TEST(savepoint_stop_ends_the_run_and_a_restore_finishes)
{
    char *root;
    char *job = seq_job_write(&savepoint_job, "sp", &root);
    struct child run, sp, restored;
    child_start(&run, ARGS("run", job));
    wait_first_checkpoint(&run, 30);
    /* the savepoint goes where --dir says; what `runnel savepoint` prints is the next test's */
    char *dir = tu_fmt("%s/my-savepoint", root);
    child_start(&sp, ARGS("savepoint", job, "--stop", "--dir", dir, "--timeout", "30"));
    /* the run ends by itself, successfully, and what it committed is a part of the output */
    double deadline = child_now() + 30;
    while (!child_pump(&run, 20)) {
        child_pump(&sp, 0);
        ck_assert_msg(child_now() < deadline, "the run did not end after savepoint --stop\nstderr:\n%s", run.err.buf);
    }
    expect_exit(&run, 0, "runnel run stopped with a savepoint");
    expect_contains("the run's stderr", run.err.buf, "stopped with a savepoint");
    char *meta = tu_fmt("%s/_metadata", dir);
    ck_assert_msg(!access(meta, F_OK), "%s is not there", meta);
    int leftover;
    char *out = tu_fmt("%s/out", root), *want = seq_job_expected(&savepoint_job), *part = committed(out, &leftover);
    ck_assert_msg(leftover == 0, "%d files beside the committed ones after the stop", leftover);
    ck_assert_msg(strcmp(part, want), "the stopped run committed everything: it was not stopped early");
    for (char *line = strtok(part, "\n"); line; line = strtok(NULL, "\n")) {
        char *l = tu_fmt("%s\n", line);
        ck_assert_msg(strstr(want, l), "committed before the stop but not expected: %s", line);
        free(l);
    }

    /* a restore from it finishes the job: the output is whole and once */
    run_to_end(&restored, 60, ARGS("run", job, "--restore", dir, "-q"));
    expect_exit(&restored, 0, "runnel run --restore SAVEPOINT");
    expect_committed("windows", out, want, "savepoint --stop and restore");
    free(part);
    free(want);
    free(out);
    free(meta);
    free(dir);
    child_free(&run);
    child_free(&sp);
    child_free(&restored);
    free(job);
    free(root);
}
END_TEST

START_TEST(savepoint_stop_prints_the_savepoint_directory)
{
    char *root;
    char *job = seq_job_write(&savepoint_job, "sp", &root);
    struct child run, sp;
    child_start(&run, ARGS("run", job));
    wait_first_checkpoint(&run, 30);
    char *dir = tu_fmt("%s/my-savepoint", root);
    run_to_end(&sp, 60, ARGS("savepoint", job, "--stop", "--dir", dir, "--timeout", "20"));
    bool ended = child_wait(&run, 30);
    ck_assert_msg(ended, "the run did not end after savepoint --stop\nstderr:\n%s", run.err.buf);
    char *why = tu_fmt("runnel savepoint --stop (the run's stderr:\n%s)", run.err.buf);
    expect_exit(&sp, 0, why);
    char *path = savepoint_path(&sp);
    ck_assert_str_eq(path, dir);
    free(why);
    free(path);
    free(dir);
    child_free(&run);
    child_free(&sp);
    free(job);
    free(root);
}
END_TEST

START_TEST(savepoint_without_a_running_job_exits_1)
{
    char *root;
    char *job = seq_job_write(&savepoint_job, "sp", &root);
    struct child sp;
    run_to_end(&sp, 30, ARGS("savepoint", job));
    expect_exit(&sp, 1, "runnel savepoint with no run");
    expect_contains("stderr", sp.err.buf, "no `runnel run` of job 'sp' is running");
    child_free(&sp);
    free(job);
    free(root);
}
END_TEST

START_TEST(checkpoints_lists_valid_and_damaged_checkpoints)
{
    char *root;
    char *job = finished_job("listed", &root);
    char *jobdir = tu_fmt("%s/ckpt/listed", root);
    int64_t id = latest_chk(jobdir, INT64_MAX);
    struct child c;
    run_to_end(&c, 30, ARGS("checkpoints", jobdir));
    expect_exit(&c, 0, "runnel checkpoints");
    /* retain 3: the final checkpoint and two before it, newest last */
    ck_assert_msg(count_lines(c.out.buf) == 3, "expected 3 lines:\n%s", c.out.buf);
    char *final = tu_fmt("%-8" PRId64 " finished", id), *path = tu_fmt("%s/chk-%" PRId64 "\n", jobdir, id);
    expect_contains("runnel checkpoints", c.out.buf, final);
    ck_assert_msg(strlen(c.out.buf) > strlen(path) && !strcmp(c.out.buf + strlen(c.out.buf) - strlen(path), path),
                  "the newest is not last:\n%s", c.out.buf);
    child_free(&c);

    /* a damaged one is listed as such */
    char *meta = tu_fmt("%s/chk-%" PRId64 "/_metadata", jobdir, latest_chk(jobdir, id));
    flip_byte(meta);
    run_to_end(&c, 30, ARGS("checkpoints", jobdir));
    expect_exit(&c, 0, "runnel checkpoints with a damaged checkpoint");
    ck_assert_msg(count_lines(c.out.buf) == 3, "expected 3 lines:\n%s", c.out.buf);
    expect_contains("runnel checkpoints", c.out.buf, "corrupt");
    child_free(&c);

    /* nothing usable: 1; no such directory: 2 */
    char *empty = tu_fmt("%s/empty", root), *missing = tu_fmt("%s/missing", root);
    ck_assert_int_eq(mkdir(empty, 0755), 0);
    run_to_end(&c, 30, ARGS("checkpoints", empty));
    expect_exit(&c, 1, "runnel checkpoints of an empty directory");
    expect_contains("stderr", c.err.buf, "holds no usable checkpoint");
    child_free(&c);
    run_to_end(&c, 30, ARGS("checkpoints", missing));
    expect_exit(&c, 2, "runnel checkpoints of a missing directory");
    expect_contains("stderr", c.err.buf, missing);
    child_free(&c);
    free(empty);
    free(missing);
    free(meta);
    free(final);
    free(path);
    free(jobdir);
    free(job);
    free(root);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* restart strategies                                                                         */
/* ------------------------------------------------------------------------------------------ */

START_TEST(restart_fixed_delay_resumes_from_the_latest_checkpoint)
{
    char *marker = tu_tmp_path("failed-once");
    struct seq_job j = {.name = "flaky", .backend = backends[_i], .rows = 20000, .rate = 5000, .keys = 16,
                        .window_ms = 100, .restart = "{ strategy: fixed-delay, attempts: 2, delay: 100ms }",
                        .fail_marker = marker};
    char *root;
    char *job = seq_job_write(&j, "flaky", &root);
    struct child c;
    run_to_end(&c, 60, ARGS("run", job, "--plugin-dir", env("RUNNEL_TEST_PLUGIN_DIR")));
    expect_exit(&c, 0, "a job whose operator fails once, with restarts");
    ck_assert_msg(!access(marker, F_OK), "the operator never failed: %s is missing", marker);
    expect_contains("stderr", c.err.buf, "operator 'flaky'");
    expect_contains("stderr", c.err.buf, "failing once on purpose");
    char *from = tu_fmt("(restart 1 of 2) from %s/ckpt/flaky/chk-", root);
    expect_contains("stderr", c.err.buf, from);
    ck_assert_msg(!strstr(c.err.buf, "restart 2 of 2"), "restarted twice:\n%s", c.err.buf);
    char *want = seq_job_expected(&j), *out = tu_fmt("%s/out", root);
    expect_committed("windows", out, want, backends[_i]);
    free(want);
    free(out);
    free(from);
    child_free(&c);
    free(job);
    free(root);
    free(marker);
}
END_TEST

START_TEST(restart_strategy_none_fails_with_exit_1)
{
    char *marker = tu_tmp_path("failed-once");
    struct seq_job j = {.name = "flaky", .backend = "rocksdb", .rows = 20000, .rate = 5000, .keys = 16, .window_ms = 100,
                        .restart = "{ strategy: none }", .fail_marker = marker};
    char *root;
    char *job = seq_job_write(&j, "flaky", &root);
    struct child c;
    run_to_end(&c, 60, ARGS("run", job, "--plugin-dir", env("RUNNEL_TEST_PLUGIN_DIR")));
    expect_exit(&c, 1, "a job whose operator fails once, without restarts");
    expect_contains("stderr", c.err.buf, "job 'flaky' failed");
    expect_contains("stderr", c.err.buf, "operator 'flaky'");
    ck_assert_msg(!strstr(c.err.buf, "restarting"), "it restarted:\n%s", c.err.buf);
    child_free(&c);
    free(job);
    free(root);
    free(marker);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("exactly_once");
    TCase *kill = tcase_create("kill_9");
    tcase_add_unchecked_fixture(kill, case_setup, case_teardown);
    tcase_add_checked_fixture(kill, setup, teardown);
    tcase_set_timeout(kill, 180);
    tcase_add_loop_test(kill, exactly_once_output_survives_repeated_kill_9, 0, 2);
    tcase_add_loop_test(kill, sequence_checker_reports_lost_rows_through_the_exactly_once_sink, 0, 2);
    suite_add_tcase(s, kill);
    TCase *cli = tcase_create("checkpoint_commands");
    tcase_add_unchecked_fixture(cli, case_setup, case_teardown);
    tcase_add_checked_fixture(cli, setup, teardown);
    tcase_set_timeout(cli, 120);
    tcase_add_test(cli, restore_from_a_missing_or_corrupt_directory_exits_2);
    tcase_add_test(cli, savepoint_of_a_running_job_restores_and_is_listed);
    tcase_add_test(cli, savepoint_stop_ends_the_run_and_a_restore_finishes);
    tcase_add_test(cli, savepoint_stop_prints_the_savepoint_directory);
    tcase_add_test(cli, savepoint_without_a_running_job_exits_1);
    tcase_add_test(cli, checkpoints_lists_valid_and_damaged_checkpoints);
    tcase_add_loop_test(cli, restart_fixed_delay_resumes_from_the_latest_checkpoint, 0, 2);
    tcase_add_test(cli, restart_strategy_none_fails_with_exit_1);
    suite_add_tcase(s, cli);
    return s;
}

TU_MAIN(make_suite)
