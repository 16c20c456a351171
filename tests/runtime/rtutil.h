/*
 * rtutil.h — helpers shared by the runtime suites in tests/runtime (keyed, window, join, topn,
 * nexmark, runtime): the registry of built-in operators, parsing a job text that must validate,
 * running a job to its end, refused jobs, and lists of output lines (CSV parts written by
 * file_sink read back, expected lines built in the test, compared with the first difference
 * named). Generic helpers (temporary directories, tu_fmt, tu_slurp) are in tests/unit/testutil.h.
 */
#ifndef RN_RTUTIL_H
#define RN_RTUTIL_H

#include <check.h>
#include <stddef.h>
#include <stdint.h>

#include "runnel/job.h"
#include "runnel/runner.h"
#include "testutil.h"

/* Assertions that call into Check only when they fail (Check records every passing ck_assert,
 * which is slow inside loops over thousands of rows). */
#define CHECK(cond) do { if (!(cond)) ck_abort_msg("Assertion '%s' failed", #cond); } while (0)
#define CHECK_MSG(cond, ...) do { if (!(cond)) ck_abort_msg(__VA_ARGS__); } while (0)

/* The two state backends, for loop tests over _i. */
extern const char *const rt_backends[2];

/* How long rt_run waits for a job to end before failing the test. */
#define RT_RUN_WAIT_MS 100000

/* ---- registry, jobs and runs ---- */

/* A registry with the built-in operators (the caller destroys it). */
rn_registry *rt_registry(void);
/* An environment variable naming a directory; fails the test when it is not set. */
const char *rt_env_dir(const char *name);
/* The errors as rn_job_errors_print writes them (the caller frees). */
char *rt_errors_text(const struct rn_job_errors *errs);
/* Parses and validates text; fails the test with the errors and the text when it does not. */
struct rn_job *rt_parse_ok(const rn_registry *reg, const char *text);
/* Expects text to be refused with an error that holds `word` and has a position. reg NULL: the
 * built-in operators. */
void rt_expect_invalid(const rn_registry *reg, const char *text, const char *word);
/* Runs job to its end (its log discarded); a job that does not end within RT_RUN_WAIT_MS fails
 * the test. Returns the final state and, when why is set, the failure text. When metric is set,
 * *value is the counter `metric` of node `node` (which must exist), 0 when it never counted. */
enum rn_run_state rt_run(const struct rn_job *job, char *why, size_t why_len, const char *node, const char *metric,
                         uint64_t *value);
/* rt_run that must end finished; returns the metric (0 when metric is NULL). */
uint64_t rt_run_ok(const struct rn_job *job, const char *node, const char *metric);
/* Parses text with reg (NULL: the built-in operators) and runs it; it must finish. */
void rt_run_text_ok(const rn_registry *reg, const char *text);

/* A job running with checkpoints, its log in the test's temporary directory (job.log, line
 * buffered, appended to by every run of the test). */
struct rt_ckrun {
    rn_runner *r;
    FILE *log;
};
/* Starts job, fresh (restore NULL) or from a checkpoint or savepoint directory. */
struct rt_ckrun rt_ckrun_start(const struct rn_job *job, const char *restore);
void rt_ckrun_end(struct rt_ckrun *run);
/* Cancels the run as a crash would end it (sinks commit nothing more), ends it, and returns its
 * latest completed checkpoint's directory (the caller frees); fails the test when there is none. */
char *rt_ckrun_crash(struct rt_ckrun *run);
/* Waits until n checkpoints completed in this run; fails the test when the job ends first
 * (make its source slower) or they take longer than RT_RUN_WAIT_MS. */
void rt_wait_checkpoints(struct rt_ckrun *run, uint64_t n);

/* A copy of a job's text with every `rate_limit: N` (N > 0) made N / factor (at least 1). */
char *rt_slower_sources(const char *text, int factor);

/* How much slower the crashed run of rt_run_crash_restore paces its sources than the text says:
 * its checkpoints then complete long before its sources end, even on a loaded machine under
 * ASan, while the restored run (and a failure-free run to compare with) keep the text's pace. */
#define RT_CRASH_RUN_SLOWER 4

/* Crash and restore: parses and runs text (a job with a checkpoint block) with its sources
 * RT_CRASH_RUN_SLOWER times slower until `checkpoints` checkpoints completed, cancels it (like
 * a crash: sinks commit nothing more), then parses and runs restore_text (NULL: text; another
 * parallelism: a rescale) at its own pace, restored from the latest usable checkpoint in the
 * job's checkpoint directory, to its end. Fails the test when the first run ends before that
 * many checkpoints completed (make its source slower: rate_limit) or the second does not
 * finish. reg NULL: the built-in operators. */
void rt_run_crash_restore(const rn_registry *reg, const char *text, const char *restore_text, uint32_t checkpoints);

/* ---- lists of lines ---- */

struct rt_lines {
    size_t n, cap;
    char **v;
};

/* Appends a line the list takes ownership of; a printf-formatted one; copies of src's lines. */
void rt_lines_push(struct rt_lines *l, char *owned);
void rt_lines_addf(struct rt_lines *l, const char *f, ...) __attribute__((format(printf, 2, 3)));
void rt_lines_append(struct rt_lines *dst, const struct rt_lines *src);
/* strcmp order of two lines given by address (qsort, bsearch); rt_lines_sort sorts by it. */
int rt_cmp_line(const void *a, const void *b);
void rt_lines_sort(struct rt_lines *l);
void rt_lines_free(struct rt_lines *l);
/* Fails naming the first difference unless got and want hold the same lines in the same order. */
void rt_lines_expect(const struct rt_lines *got, const struct rt_lines *want, const char *what);
/* The same after sorting both (the same lines, repeats included, in any order). */
void rt_lines_expect_sorted(struct rt_lines *got, struct rt_lines *want, const char *what);

/* The rows of every part-* file that file_sink wrote in dir (each file's header line dropped),
 * sorted; a missing directory fails the test. */
struct rt_lines rt_read_csv_parts(const char *dir);

#endif
