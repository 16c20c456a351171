/*
 * rtutil.c — helpers shared by the runtime suites in tests/runtime (see rtutil.h): one copy of
 * the registry, job parsing, job running and line-list code that every suite needs.
 */
#include "rtutil.h"
#include "runnel/checkpoint.h"

#include <dirent.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builtin.h"

const char *const rt_backends[2] = {"memory", "rocksdb"};

/* ---- registry, jobs and runs ---- */

rn_registry *rt_registry(void)
{
    struct rn_error err;
    rn_registry *r = rn_registry_create();
    ck_assert(r != NULL);
    ck_assert_msg(rn_builtin_register(r, &err) == 0, "built-ins: %s", err.msg);
    return r;
}

const char *rt_env_dir(const char *name)
{
    const char *d = getenv(name);
    ck_assert_msg(d && *d, "%s is not set (run through meson test)", name);
    return d;
}

char *rt_errors_text(const struct rn_job_errors *errs)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    ck_assert(m);
    rn_job_errors_print(errs, m);
    fclose(m);
    return buf;
}

struct rn_job *rt_parse_ok(const rn_registry *reg, const char *text)
{
    struct rn_job_errors errs = {0};
    struct rn_job *job = NULL;
    int rc = rn_job_parse("test.yaml", text, strlen(text), reg, &job, &errs);
    if (rc || !job) {
        char *e = rt_errors_text(&errs);
        ck_abort_msg("the job does not validate (%s):\n%s\n--- job:\n%s", rn_strerror(rc), e, text);
    }
    ck_assert_uint_eq(errs.n, 0);
    rn_job_errors_free(&errs);
    return job;
}

void rt_expect_invalid(const rn_registry *reg, const char *text, const char *word)
{
    rn_registry *own = reg ? NULL : rt_registry();
    struct rn_job_errors errs = {0};
    struct rn_job *job = NULL;
    ck_assert_msg(rn_job_parse("test.yaml", text, strlen(text), reg ? reg : own, &job, &errs) != 0, "accepted: %s",
                  text);
    bool found = false;
    for (size_t i = 0; i < errs.n; i++) found |= strstr(errs.items[i].msg, word) != NULL && errs.items[i].line > 0;
    ck_assert_msg(found, "no positioned error with \"%s\" (first: %s)\n%s", word, errs.n ? errs.items[0].msg : "none",
                  text);
    rn_job_errors_free(&errs);
    if (own) rn_registry_destroy(own);
}

enum rn_run_state rt_run(const struct rn_job *job, char *why, size_t why_len, const char *node, const char *metric,
                         uint64_t *value)
{
    struct rn_error err;
    FILE *log = fopen("/dev/null", "w");
    ck_assert(log);
    struct rn_run_options o = {.log = log};
    rn_runner *r = rn_runner_create(job, &o, &err);
    ck_assert_msg(r, "%s", err.msg);
    ck_assert_msg(rn_runner_start(r, &err) == 0, "%s", err.msg);
    ck_assert_msg(rn_runner_wait(r, RT_RUN_WAIT_MS), "the job did not end");
    const char *w = NULL;
    enum rn_run_state s = rn_runner_state(r, &w);
    if (why) snprintf(why, why_len, "%s", w ? w : "");
    if (metric) {
        *value = 0;
        int at = rn_job_find(job, node);
        ck_assert_msg(at >= 0, "no node %s", node);
        const char *name;
        uint64_t v;
        for (uint32_t i = 0; rn_runner_node_metric(r, (uint32_t)at, i, &name, &v); i++)
            if (!strcmp(name, metric)) *value = v;
    }
    rn_runner_destroy(r);
    fclose(log);
    return s;
}

struct rt_ckrun rt_ckrun_start(const struct rn_job *job, const char *restore)
{
    char *path = tu_tmp_path("job.log");
    struct rt_ckrun run = {.log = fopen(path, "a")};
    ck_assert_msg(run.log, "cannot open %s", path);
    free(path);
    setvbuf(run.log, NULL, _IOLBF, 0);
    struct rn_error err;
    struct rn_run_options o = {.log = run.log, .restore = restore};
    run.r = rn_runner_create(job, &o, &err);
    ck_assert_msg(run.r, "%s%s%s", restore ? "restoring from " : "", restore ? restore : "", err.msg);
    ck_assert_msg(rn_runner_start(run.r, &err) == 0, "%s", err.msg);
    return run;
}

void rt_ckrun_end(struct rt_ckrun *run)
{
    rn_runner_destroy(run->r);
    fclose(run->log);
}

char *rt_ckrun_crash(struct rt_ckrun *run)
{
    rn_runner_cancel(run->r);
    ck_assert_msg(rn_runner_wait(run->r, RT_RUN_WAIT_MS), "the job did not stop");
    struct rn_checkpoint_stats st;
    rn_runner_checkpoint_stats(run->r, &st);
    ck_assert_msg(st.last_id >= 1 && st.last_path[0], "no completed checkpoint");
    char *path = strdup(st.last_path);
    rt_ckrun_end(run);
    return path;
}

void rt_wait_checkpoints(struct rt_ckrun *run, uint64_t n)
{
    for (int waited = 0;; waited += 5) {
        struct rn_checkpoint_stats st;
        rn_runner_checkpoint_stats(run->r, &st);
        if (st.completed >= n) return;
        if (rn_runner_wait(run->r, 5)) {
            const char *why = NULL;
            rn_runner_state(run->r, &why);
            ck_abort_msg("the job ended after %llu checkpoints, before %llu (%s): make its source slower",
                         (unsigned long long)st.completed, (unsigned long long)n, why ? why : "no error");
        }
        CHECK_MSG(waited < RT_RUN_WAIT_MS, "no %llu checkpoints within %d ms", (unsigned long long)n, RT_RUN_WAIT_MS);
    }
}

char *rt_slower_sources(const char *text, int factor)
{
    static const char key[] = "rate_limit: ";
    size_t cap = strlen(text) + 1, n = 0;
    char *o = malloc(cap);
    ck_assert(o);
    for (const char *p = text;;) {
        const char *m = strstr(p, key);
        size_t len = m ? (size_t)(m - p) + sizeof key - 1 : strlen(p);
        memcpy(o + n, p, len);
        n += len;
        if (!m) break;
        p = m + sizeof key - 1;
        char *end;
        long long rate = strtoll(p, &end, 10);
        if (end == p) continue;
        char num[32];
        int w = snprintf(num, sizeof num, "%lld", rate <= 0 ? rate : rate / factor > 0 ? rate / factor : 1);
        memcpy(o + n, num, (size_t)w); /* never longer than the number it replaces */
        n += (size_t)w;
        p = end;
    }
    o[n] = 0;
    return o;
}

void rt_run_crash_restore(const rn_registry *reg, const char *text, const char *restore_text, uint32_t checkpoints)
{
    rn_registry *own = reg ? NULL : rt_registry();
    if (!reg) reg = own;
    char *slow = rt_slower_sources(text, RT_CRASH_RUN_SLOWER);
    struct rn_job *job = rt_parse_ok(reg, slow);
    free(slow);
    CHECK_MSG(job->checkpoint.enabled, "rt_run_crash_restore needs a job with a checkpoint block");
    struct rt_ckrun run = rt_ckrun_start(job, NULL);
    rt_wait_checkpoints(&run, checkpoints);
    rn_runner_cancel(run.r);
    rt_ckrun_end(&run);
    char jobdir[4096], from[4096];
    struct rn_error err;
    snprintf(jobdir, sizeof jobdir, "%s/%s", job->checkpoint.dir, job->name);
    rn_job_free(job);
    ck_assert_msg(!rn_checkpoint_resolve(jobdir, from, sizeof from, NULL, &err), "%s", err.msg);
    struct rn_job *again = rt_parse_ok(reg, restore_text ? restore_text : text);
    run = rt_ckrun_start(again, from);
    ck_assert_msg(rn_runner_wait(run.r, RT_RUN_WAIT_MS), "the restored job did not end");
    const char *why = NULL;
    enum rn_run_state s = rn_runner_state(run.r, &why);
    CHECK_MSG(s == RN_RUN_FINISHED, "the restored job did not finish: %s", why ? why : "");
    rt_ckrun_end(&run);
    rn_job_free(again);
    rn_registry_destroy(own);
}

uint64_t rt_run_ok(const struct rn_job *job, const char *node, const char *metric)
{
    char why[1024];
    uint64_t value = 0;
    ck_assert_msg(rt_run(job, why, sizeof why, node, metric, &value) == RN_RUN_FINISHED, "the job did not finish: %s",
                  why);
    return value;
}

void rt_run_text_ok(const rn_registry *reg, const char *text)
{
    rn_registry *own = reg ? NULL : rt_registry();
    struct rn_job *job = rt_parse_ok(reg ? reg : own, text);
    char why[1024];
    ck_assert_msg(rt_run(job, why, sizeof why, NULL, NULL, NULL) == RN_RUN_FINISHED, "the job did not finish: %s\n%s",
                  why, text);
    rn_job_free(job);
    if (own) rn_registry_destroy(own);
}

/* ---- lists of lines ---- */

void rt_lines_push(struct rt_lines *l, char *owned)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->v = realloc(l->v, l->cap * sizeof *l->v);
        ck_assert(l->v);
    }
    l->v[l->n++] = owned;
}

void rt_lines_addf(struct rt_lines *l, const char *f, ...)
{
    va_list ap;
    char *s = NULL;
    va_start(ap, f);
    int n = vasprintf(&s, f, ap);
    va_end(ap);
    ck_assert(n >= 0 && s);
    rt_lines_push(l, s);
}

void rt_lines_append(struct rt_lines *dst, const struct rt_lines *src)
{
    for (size_t i = 0; i < src->n; i++) rt_lines_push(dst, strdup(src->v[i]));
}

int rt_cmp_line(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

void rt_lines_sort(struct rt_lines *l)
{
    if (l->n) qsort(l->v, l->n, sizeof *l->v, rt_cmp_line);
}

void rt_lines_free(struct rt_lines *l)
{
    for (size_t i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

void rt_lines_expect(const struct rt_lines *got, const struct rt_lines *want, const char *what)
{
    size_t n = got->n < want->n ? got->n : want->n;
    for (size_t i = 0; i < n; i++)
        CHECK_MSG(!strcmp(got->v[i], want->v[i]), "%s: line %zu of %zu:\n got  %s\n want %s", what, i + 1, want->n,
                  got->v[i], want->v[i]);
    CHECK_MSG(got->n == want->n, "%s: %zu lines, want %zu (first missing or extra: %s)", what, got->n, want->n,
              got->n > want->n ? got->v[n] : want->v[n]);
}

void rt_lines_expect_sorted(struct rt_lines *got, struct rt_lines *want, const char *what)
{
    rt_lines_sort(got);
    rt_lines_sort(want);
    rt_lines_expect(got, want, what);
}

struct rt_lines rt_read_csv_parts(const char *dir)
{
    struct rt_lines l = {0};
    DIR *d = opendir(dir);
    ck_assert_msg(d, "no output directory %s", dir);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, "part-", 5)) continue;
        char *path = tu_fmt("%s/%s", dir, e->d_name), *text = tu_slurp(path);
        ck_assert_msg(text, "cannot read %s", path);
        bool header = true;
        for (char *save = NULL, *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
            if (!header) rt_lines_push(&l, strdup(line));
            header = false;
        }
        free(text);
        free(path);
    }
    closedir(d);
    rt_lines_sort(&l);
    return l;
}
