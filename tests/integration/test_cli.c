/*
 * test_cli.c — Check suite "cli": the `runnel` binary as a real process. Exit codes (0 ok, 1 the
 * job failed, 2 invalid job or usage, 128 + signal when SIGINT/SIGTERM cancelled a run), what it
 * prints (file:line:col of validation errors, the failing operator's id, "cancelled"), the files
 * a run writes, `runnel operators`, and plugin directories.
 *
 * Every child runs with pipes on stdout and stderr and a bounded wait: past its deadline it is
 * killed (SIGKILL) and reaped, and the test fails. Job files and outputs live in a mkdtemp
 * directory removed after each test. Environment (tests/integration/meson.build): RUNNEL (the
 * binary), RUNNEL_SOURCE_ROOT (for jobs/), RUNNEL_SAMPLE_PLUGIN_DIR (the example plugins).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

/* ------------------------------------------------------------------------------------------ */
/* temporary directory, strings                                                               */
/* ------------------------------------------------------------------------------------------ */

static void setup(void) { tu_tmp_setup("runnel-cli"); }
static void teardown(void) { tu_tmp_teardown(); }

#define fmt tu_fmt
#define tmp_path tu_tmp_path
#define write_file tu_write_file
#define slurp tu_slurp

static const char *env(const char *name)
{
    const char *v = getenv(name);
    ck_assert_msg(v && *v, "%s is not set (run through meson test)", name);
    return v;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ------------------------------------------------------------------------------------------ */
/* running the binary                                                                         */
/* ------------------------------------------------------------------------------------------ */

struct proc {
    int status;            /* from waitpid */
    bool timed_out;        /* killed at the deadline */
    char *out, *err;       /* everything it wrote */
    double signal_to_exit; /* seconds from the signal to the exit (when a signal was sent) */
};

static void proc_free(struct proc *p)
{
    free(p->out);
    free(p->err);
}

struct sink {
    char *buf;
    size_t len, cap;
};

static void sink_read(struct sink *s, int *fd)
{
    if (s->len + 4096 + 1 > s->cap) {
        s->cap = s->cap ? s->cap * 2 : 8192;
        s->buf = realloc(s->buf, s->cap);
        ck_assert(s->buf);
    }
    ssize_t n = read(*fd, s->buf + s->len, s->cap - s->len - 1);
    if (n > 0) {
        s->len += (size_t)n;
    } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
        close(*fd);
        *fd = -1;
    }
}

/* True once the process has at least `threads` threads (the job's tasks started: by then
 * `runnel run` has installed its signal handlers). */
static bool has_threads(pid_t pid, int threads)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) return false;
    int n = 0;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "Threads:", 8)) n = atoi(line + 8);
    fclose(f);
    return n >= threads;
}

/* Runs $RUNNEL with args (NULL-terminated) and waits at most timeout_s. With sig != 0, sends
 * sig once the job's threads run (or after 3 s), then allows timeout_s more. */
static struct proc run_sig(double timeout_s, int sig, const char *const *args)
{
    const char *bin = env("RUNNEL");
    const char *argv[64];
    int argc = 0;
    argv[argc++] = bin;
    for (const char *const *a = args; *a && argc < 63; a++) argv[argc++] = *a;
    argv[argc] = NULL;

    int out_p[2], err_p[2];
    ck_assert_int_eq(pipe2(out_p, O_CLOEXEC), 0);
    ck_assert_int_eq(pipe2(err_p, O_CLOEXEC), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        /* the child: a clean signal state, stdout/stderr into the pipes, no plugin dir from the
         * environment (tests say which plugins they want) */
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        signal(SIGPIPE, SIG_DFL);
        dup2(out_p[1], 1);
        dup2(err_p[1], 2);
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0) dup2(devnull, 0);
        unsetenv("RUNNEL_PLUGIN_DIR");
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    close(out_p[1]);
    close(err_p[1]);
    struct sink so = {0}, se = {0};
    int fds[2] = {out_p[0], err_p[0]};
    struct proc p = {0};
    double start = now_s(), deadline = start + timeout_s, sent_at = 0;
    bool sent = false, exited = false;
    while (!exited) {
        double now = now_s();
        /* the signal goes once the job's threads run and had a moment to move rows */
        if (sig && !sent && ((now - start > 0.3 && has_threads(pid, 2)) || now - start > 3.0)) {
            kill(pid, sig);
            sent = true;
            sent_at = now_s();
            deadline = sent_at + timeout_s;
        }
        if (now > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &p.status, 0);
            p.timed_out = true;
            break;
        }
        struct pollfd pf[2];
        nfds_t n = 0;
        for (int i = 0; i < 2; i++)
            if (fds[i] >= 0) pf[n++] = (struct pollfd){.fd = fds[i], .events = POLLIN};
        if (n) {
            poll(pf, n, 20);
            for (nfds_t k = 0; k < n; k++)
                if (pf[k].revents) sink_read(pf[k].fd == out_p[0] ? &so : &se, pf[k].fd == out_p[0] ? &fds[0] : &fds[1]);
        }
        if (fds[0] < 0 && fds[1] < 0) {
            pid_t w = waitpid(pid, &p.status, WNOHANG);
            if (w == pid) exited = true;
            else if (!n) usleep(10000);
            else usleep(1000);
        }
    }
    if (exited && sent) p.signal_to_exit = now_s() - sent_at;
    for (int i = 0; i < 2; i++)
        if (fds[i] >= 0) close(fds[i]);
    p.out = so.buf ? so.buf : strdup("");
    p.err = se.buf ? se.buf : strdup("");
    if (so.buf) so.buf[so.len] = 0;
    if (se.buf) se.buf[se.len] = 0;
    return p;
}

#define RUNNEL(timeout, ...) run_sig((timeout), 0, (const char *const[]){__VA_ARGS__, NULL})

/* Asserts a normal exit with code, showing the output otherwise. */
static void expect_exit(const struct proc *p, int code)
{
    ck_assert_msg(!p->timed_out, "runnel did not finish in time\nstdout:\n%s\nstderr:\n%s", p->out, p->err);
    ck_assert_msg(WIFEXITED(p->status), "runnel ended by signal %d\nstderr:\n%s", WTERMSIG(p->status), p->err);
    ck_assert_msg(WEXITSTATUS(p->status) == code, "exit status %d, expected %d\nstdout:\n%s\nstderr:\n%s",
                  WEXITSTATUS(p->status), code, p->out, p->err);
}

static void expect_contains(const char *what, const char *hay, const char *needle)
{
    ck_assert_msg(hay && strstr(hay, needle), "expected \"%s\" in %s:\n%s", needle, what, hay ? hay : "(null)");
}

/* A line of text starting with word followed by a space. */
static bool has_line_starting(const char *text, const char *word)
{
    size_t n = strlen(word);
    for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (!strncmp(p, word, n) && (p[n] == ' ' || p[n] == '\n' || p[n] == 0)) return true;
    return false;
}

/* ------------------------------------------------------------------------------------------ */
/* validate                                                                                   */
/* ------------------------------------------------------------------------------------------ */

START_TEST(validate_broken_job_exits_2_with_file_line_column)
{
    char *job = tmp_path("broken.yaml");
    write_file(job, "name: broken\n"
                    "operators:\n"
                    "  - id: src\n"
                    "    type: nexmrak\n"          /* 4:11 */
                    "  - id: out\n"
                    "    type: blackhole\n"
                    "    input: src\n"
                    "    with: { quiet: maybe }\n"); /* 8:20 */
    struct proc p = RUNNEL(30, "validate", job);
    expect_exit(&p, 2);
    char *pos1 = fmt("%s:4:11: operator 'src':", job), *pos2 = fmt("%s:8:20: operator 'out':", job);
    expect_contains("stderr", p.err, pos1);
    expect_contains("stderr", p.err, "did you mean 'nexmark'");
    expect_contains("stderr", p.err, pos2);
    free(pos1);
    free(pos2);
    proc_free(&p);
    free(job);
}
END_TEST

START_TEST(validate_repo_jobs_exit_0)
{
    const char *root = env("RUNNEL_SOURCE_ROOT");
    const char *jobs[] = {"jobs/nexmark/q0.yaml", "jobs/nexmark/q1.yaml", "jobs/nexmark/q2.yaml", "jobs/demo.yaml",
                          "jobs/examples/expensive_bids.yaml"};
    for (size_t i = 0; i < sizeof jobs / sizeof jobs[0]; i++) {
        char *path = fmt("%s/%s", root, jobs[i]);
        struct proc p = RUNNEL(30, "validate", path);
        expect_exit(&p, 0);
        expect_contains("stdout", p.out, "ok");
        proc_free(&p);
        free(path);
    }
}
END_TEST

/* `runnel validate` of every .yaml file in dir (relative to the source root) exits 0; returns
 * how many there were. plugin_dir NULL: runnel's default (build/runtime/plugins, the Kafka
 * plugin). */
static int validate_dir_with(const char *rel, const char *plugin_dir)
{
    char *dir = fmt("%s/%s", env("RUNNEL_SOURCE_ROOT"), rel);
    DIR *d = opendir(dir);
    ck_assert_msg(d != NULL, "cannot read %s", dir);
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len < 6 || strcmp(e->d_name + len - 5, ".yaml")) continue;
        char *path = fmt("%s/%s", dir, e->d_name);
        struct proc p = plugin_dir ? RUNNEL(30, "validate", path, "--plugin-dir", plugin_dir)
                                   : RUNNEL(30, "validate", path);
        ck_assert_msg(p.status == 0, "runnel validate %s exited %d:\n%s", path, p.status, p.err);
        proc_free(&p);
        free(path);
        n++;
    }
    closedir(d);
    free(dir);
    return n;
}

static int validate_dir(const char *rel) { return validate_dir_with(rel, env("RUNNEL_SAMPLE_PLUGIN_DIR")); }

START_TEST(validate_every_kafka_job_with_the_default_plugins)
{
    /* kafka_source and kafka_sink come from build/runtime/plugins/runnel_kafka.so */
    ck_assert_int_ge(validate_dir_with("jobs/kafka", NULL), 2);
}
END_TEST

START_TEST(validate_every_example_job_with_the_plugin_dir)
{
    /* sampled_bids needs the example plugin */
    ck_assert_int_ge(validate_dir("jobs/examples"), 2);
}
END_TEST

START_TEST(validate_every_nexmark_and_bench_job)
{
    ck_assert_int_ge(validate_dir("jobs/nexmark"), 9);
    ck_assert_int_ge(validate_dir("jobs/bench"), 1);
}
END_TEST

START_TEST(validate_plugin_job_without_the_plugin_exits_2)
{
    char *path = fmt("%s/jobs/examples/sampled_bids.yaml", env("RUNNEL_SOURCE_ROOT"));
    struct proc p = RUNNEL(30, "validate", path);
    expect_exit(&p, 2);
    expect_contains("stderr", p.err, "'sample'");
    proc_free(&p);
    free(path);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* run                                                                                        */
/* ------------------------------------------------------------------------------------------ */

START_TEST(run_small_job_writes_the_expected_files)
{
    char *job = tmp_path("small.yaml"), *out = tmp_path("out");
    char *text = fmt("name: small\n"
                     "parallelism: 2\n"
                     "operators:\n"
                     "  - id: gen\n"
                     "    type: datagen\n"
                     "    with: { rows: 50, fields: { id: seq, sq: \"seq * seq\", tag: \"concat('t', seq %% 3)\" } }\n"
                     "  - id: odd\n"
                     "    type: filter\n"
                     "    input: gen\n"
                     "    with: { where: \"id %% 2 = 1 OR id < 4\" }\n"
                     "  - id: out\n"
                     "    type: file_sink\n"
                     "    input: odd\n"
                     "    with: { path: \"%s\", format: csv }\n",
                     out);
    write_file(job, text);
    struct proc p = RUNNEL(60, "run", job);
    expect_exit(&p, 0);
    /* datagen subtask r makes seq r, r + 2, ...; the chain keeps each subtask's rows in order */
    for (int part = 0; part < 2; part++) {
        char want[4096] = "id,sq,tag\n";
        for (int s = part; s < 50; s += 2)
            if (s % 2 == 1 || s < 4) {
                size_t l = strlen(want);
                snprintf(want + l, sizeof want - l, "%d,%d,t%d\n", s, s * s, s % 3);
            }
        char *path = fmt("%s/part-%d.csv", out, part);
        char *got = slurp(path);
        ck_assert_msg(got != NULL, "missing %s", path);
        ck_assert_str_eq(got, want);
        free(got);
        free(path);
    }
    /* the summary names the job */
    expect_contains("stderr", p.err, "small");
    proc_free(&p);
    free(text);
    free(job);
    free(out);
}
END_TEST

START_TEST(run_failing_job_exits_1_naming_the_operator)
{
    char *job = tmp_path("fail.yaml"), *in = tmp_path("in.jsonl"), *out = tmp_path("out");
    write_file(in, "{\"id\": 1}\n{\"id\": 2}\n{\"id\": \"not a number\"}\n");
    char *text = fmt("name: failing\n"
                     "operators:\n"
                     "  - id: reader\n"
                     "    type: file_source\n"
                     "    with: { path: \"%s\", format: jsonl, schema: { id: int64 } }\n"
                     "  - id: out\n"
                     "    type: file_sink\n"
                     "    input: reader\n"
                     "    with: { path: \"%s\" }\n",
                     in, out);
    write_file(job, text);
    struct proc p = RUNNEL(60, "run", job);
    expect_exit(&p, 1);
    expect_contains("stderr", p.err, "operator 'reader'");
    char *where = fmt("%s:3", in);
    expect_contains("stderr", p.err, where);
    free(where);
    proc_free(&p);
    free(text);
    free(job);
    free(in);
    free(out);
}
END_TEST

START_TEST(run_invalid_job_exits_2)
{
    char *job = tmp_path("bad.yaml");
    write_file(job, "operators:\n  - { id: a, type: nexmark, with: { events: -5 } }\n");
    struct proc p = RUNNEL(30, "run", job);
    expect_exit(&p, 2);
    char *pos = fmt("%s:2:", job);
    expect_contains("stderr", p.err, pos);
    free(pos);
    proc_free(&p);
    struct proc q = RUNNEL(30, "run", "/nonexistent/job.yaml");
    expect_exit(&q, 2);
    proc_free(&q);
    struct proc u = RUNNEL(30, "run");   /* no job file: usage */
    expect_exit(&u, 2);
    proc_free(&u);
    free(job);
}
END_TEST

START_TEST(run_with_the_plugin_dir_runs_a_plugin_job)
{
    char *job = tmp_path("sampled.yaml"), *out = tmp_path("out");
    char *text = fmt("operators:\n"
                     "  - { id: gen, type: datagen, with: { rows: 100, fields: { seq: seq } } }\n"
                     "  - { id: s, type: sample, input: gen, with: { every: 10 } }\n"
                     "  - { id: out, type: file_sink, input: s, with: { path: \"%s\" } }\n",
                     out);
    write_file(job, text);
    struct proc p = RUNNEL(60, "run", job, "--plugin-dir", env("RUNNEL_SAMPLE_PLUGIN_DIR"));
    expect_exit(&p, 0);
    char *path = fmt("%s/part-0.jsonl", out);
    char *got = slurp(path);
    ck_assert_msg(got != NULL, "missing %s", path);
    char want[512] = "";
    for (int s = 0; s < 100; s += 10) {
        size_t l = strlen(want);
        snprintf(want + l, sizeof want - l, "{\"seq\":%d}\n", s);
    }
    ck_assert_str_eq(got, want);
    free(got);
    free(path);
    proc_free(&p);
    free(text);
    free(job);
    free(out);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* signals                                                                                    */
/* ------------------------------------------------------------------------------------------ */

static void expect_cancel_by(int sig)
{
    char *job = tmp_path("forever.yaml");
    write_file(job, "name: forever\n"
                    "parallelism: 2\n"
                    "operators:\n"
                    "  - { id: bids, type: nexmark, with: { events: 0 } }\n"
                    "  - { id: f, type: filter, input: bids, with: { where: \"price > 10\" } }\n"
                    "  - { id: out, type: blackhole, input: f, key_by: auction }\n");
    struct proc p = run_sig(5.0, sig, (const char *const[]){"run", job, NULL});
    ck_assert_msg(!p.timed_out, "runnel did not exit within 5 s of signal %d\nstderr:\n%s", sig, p.err);
    ck_assert_msg(WIFEXITED(p.status), "runnel was killed by signal %d instead of stopping the job\nstderr:\n%s",
                  WIFSIGNALED(p.status) ? WTERMSIG(p.status) : 0, p.err);
    ck_assert_msg(WEXITSTATUS(p.status) == 128 + sig, "exit status %d, expected %d\nstderr:\n%s", WEXITSTATUS(p.status),
                  128 + sig, p.err);
    ck_assert_msg(p.signal_to_exit < 5.0, "took %.2f s after the signal", p.signal_to_exit);
    expect_contains("stderr", p.err, "cancelled");
    proc_free(&p);
    free(job);
}

START_TEST(sigint_cancels_a_running_job_with_status_130)
{
    expect_cancel_by(SIGINT);
}
END_TEST

START_TEST(sigterm_cancels_a_running_job_with_status_143)
{
    expect_cancel_by(SIGTERM);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* operators, plugin directories, usage                                                       */
/* ------------------------------------------------------------------------------------------ */

START_TEST(operators_lists_the_builtins)
{
    struct proc p = RUNNEL(30, "operators");
    expect_exit(&p, 0);
    const char *builtins[] = {"nexmark", "datagen", "file_source", "filter", "select", "union", "print", "file_sink",
                              "blackhole"};
    for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++)
        ck_assert_msg(has_line_starting(p.out, builtins[i]), "'%s' is not listed:\n%s", builtins[i], p.out);
    proc_free(&p);
}
END_TEST

START_TEST(operators_with_plugin_dir_lists_the_plugin)
{
    struct proc p = RUNNEL(30, "operators", "--plugin-dir", env("RUNNEL_SAMPLE_PLUGIN_DIR"));
    expect_exit(&p, 0);
    ck_assert_msg(has_line_starting(p.out, "sample"), "'sample' is not listed:\n%s", p.out);
    expect_contains("stdout", p.out, "sample.so");   /* where it came from */
    proc_free(&p);
}
END_TEST

START_TEST(operators_filter_shows_its_options)
{
    struct proc p = RUNNEL(30, "operators", "filter");
    expect_exit(&p, 0);
    expect_contains("stdout", p.out, "filter");
    expect_contains("stdout", p.out, "where");
    expect_contains("stdout", p.out, "expression");
    expect_contains("stdout", p.out, "required");
    proc_free(&p);
    struct proc q = RUNNEL(30, "operators", "file_sink");
    expect_exit(&q, 0);
    expect_contains("stdout", q.out, "path");
    expect_contains("stdout", q.out, "format");
    expect_contains("stdout", q.out, "jsonl");   /* the default */
    proc_free(&q);
}
END_TEST

START_TEST(operators_unknown_name_exits_2_with_a_suggestion)
{
    struct proc p = RUNNEL(30, "operators", "fitler");
    expect_exit(&p, 2);
    expect_contains("stderr", p.err, "fitler");
    expect_contains("stderr", p.err, "did you mean 'filter'");
    proc_free(&p);
    struct proc q = RUNNEL(30, "operators", "nosuch");
    expect_exit(&q, 2);
    expect_contains("stderr", q.err, "nosuch");
    proc_free(&q);
}
END_TEST

START_TEST(missing_plugin_dir_exits_2)
{
    char *q0 = fmt("%s/jobs/nexmark/q0.yaml", env("RUNNEL_SOURCE_ROOT"));
    char *missing = tmp_path("no-such-dir");
    struct proc a = RUNNEL(30, "run", q0, "--plugin-dir", missing);
    expect_exit(&a, 2);
    expect_contains("stderr", a.err, missing);
    struct proc b = RUNNEL(30, "validate", q0, "--plugin-dir", missing);
    expect_exit(&b, 2);
    struct proc c = RUNNEL(30, "operators", "--plugin-dir", missing);
    expect_exit(&c, 2);
    proc_free(&a);
    proc_free(&b);
    proc_free(&c);
    free(missing);
    free(q0);
}
END_TEST

START_TEST(unknown_command_exits_2)
{
    struct proc p = RUNNEL(30, "frobnicate");
    expect_exit(&p, 2);
    expect_contains("stderr", p.err, "frobnicate");
    proc_free(&p);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("cli");
    TCase *tc = tcase_create("cli");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, validate_broken_job_exits_2_with_file_line_column);
    tcase_add_test(tc, validate_repo_jobs_exit_0);
    tcase_add_test(tc, validate_every_example_job_with_the_plugin_dir);
    tcase_add_test(tc, validate_every_nexmark_and_bench_job);
    tcase_add_test(tc, validate_every_kafka_job_with_the_default_plugins);
    tcase_add_test(tc, validate_plugin_job_without_the_plugin_exits_2);
    tcase_add_test(tc, run_small_job_writes_the_expected_files);
    tcase_add_test(tc, run_failing_job_exits_1_naming_the_operator);
    tcase_add_test(tc, run_invalid_job_exits_2);
    tcase_add_test(tc, run_with_the_plugin_dir_runs_a_plugin_job);
    tcase_add_test(tc, sigint_cancels_a_running_job_with_status_130);
    tcase_add_test(tc, sigterm_cancels_a_running_job_with_status_143);
    tcase_add_test(tc, operators_lists_the_builtins);
    tcase_add_test(tc, operators_with_plugin_dir_lists_the_plugin);
    tcase_add_test(tc, operators_filter_shows_its_options);
    tcase_add_test(tc, operators_unknown_name_exits_2_with_a_suggestion);
    tcase_add_test(tc, missing_plugin_dir_exits_2);
    tcase_add_test(tc, unknown_command_exits_2);
    suite_add_tcase(s, tc);
    return s;
}

TU_MAIN(make_suite)
