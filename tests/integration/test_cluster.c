/*
 * test_cluster.c — Check suite "cluster": the distributed runtime as real processes. A job
 * manager (`runnel jobmanager`), task managers (`runnel taskmanager`) and `runnel minicluster`
 * are started as children of the test on 127.0.0.1 with port 0 everywhere (the ports are read
 * from each process's ready line on stdout), and driven over the REST API with the runtime
 * library's HTTP client and JSON parser.
 *
 * What is checked: a job over three task managers (every keyed exchange crosses processes), and
 * one over two task managers with chains of different parallelism, write exactly what `runnel
 * run` of the same job writes; the finished job's counters per vertex; kill -9 of a task manager
 * fails the running job (no checkpoints: no restart), and the others go on; cancel; kill -9 of the job manager and a
 * new one on the same RPC port that the task managers register with again; a job waiting for
 * slots; bad input on the RPC port and the REST API (garbage frames, YAML errors, the token,
 * hostile paths, a checkpoint directory a job manager cannot use); back-pressure across
 * processes keeps the task managers' memory bounded (the test plugin slow_sink); the
 * minicluster's life cycle and flags. With checkpoints: kill -9 of a task manager three times
 * under a job, each time restored from the latest checkpoint on the others, commits exactly the
 * failure-free output; stop with a savepoint and a resubmission restored from it the same;
 * savepoint targets and restores outside savepoints.dir are refused.
 *
 * Assumes: RUNNEL (the binary) and RUNNEL_TEST_PLUGIN_DIR (the build folder of
 * tests/integration/plugins: slow_sink) in the environment (tests/integration/meson.build), a
 * Linux /proc (VmHWM, parent pids), and the default heartbeat settings (1 s, timeout 5 s).
 * Children die with the test (child.h); the minicluster's own children are recorded in the
 * test case's directory and killed by the parent's teardown if a test ends early. No timing is
 * asserted, but every wait has a deadline.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "child.h"
#include "rest/client.h"
#include "rest/json.h"
#include "testutil.h"

#define HTTP_TIMEOUT_MS 10000
#define READY_S 20.0            /* a process prints its ready line within this */
#define JOB_S 60.0              /* a bounded test job ends within this */
#define FAIL_S 20.0             /* a lost task manager fails its job within this (timeout 5 s) */

/* ------------------------------------------------------------------------------------------ */
/* fixtures                                                                                   */
/* ------------------------------------------------------------------------------------------ */

/* One directory per test case made in the parent (a failed assertion ends a test with _exit,
 * past its teardown): TMPDIR points into it, and `pids` in it lists processes that are not our
 * children (the minicluster's), which the parent's teardown kills. */
static char *case_dir;

static void case_setup(void) { case_dir = child_case_dir_make("runnel-cluster"); }

/* Kills what `pids` lists, if it is still a runnel process (its pid was not reused). */
static void kill_noted(void)
{
    char *path = tu_fmt("%s/pids", case_dir);
    FILE *f = fopen(path, "r");
    free(path);
    if (!f) return;
    long pid;
    while (fscanf(f, "%ld", &pid) == 1) {
        char exe[64], target[4096];
        snprintf(exe, sizeof exe, "/proc/%ld/exe", pid);
        ssize_t n = readlink(exe, target, sizeof target - 1);
        if (n <= 0) continue;
        target[n] = 0;
        if (strstr(target, "runnel")) kill((pid_t)pid, SIGKILL);
    }
    fclose(f);
}

static void case_teardown(void)
{
    kill_noted();
    child_case_dir_remove(case_dir);
}

struct jm {
    struct child c;
    uint16_t rpc, rest;
};

struct tm {
    struct child c;
    uint16_t data;
};

/* The processes live in static storage (the checked teardown, which frees them, runs after the
 * test function's stack is gone). */
static struct jm jm_pool[4];
static struct tm tm_pool[8];
static size_t n_jm, n_tm;

static struct jm *new_jm(void)
{
    ck_assert(n_jm < sizeof jm_pool / sizeof jm_pool[0]);
    return &jm_pool[n_jm++];
}

static struct tm *new_tm(void)
{
    ck_assert(n_tm < sizeof tm_pool / sizeof tm_pool[0]);
    return &tm_pool[n_tm++];
}

/* The processes of the running test, pumped while it waits (their logs go to pipes: unread,
 * a full pipe would block them). */
#define MAX_PROCS 12
static struct child *procs[MAX_PROCS];

static void setup(void)
{
    tu_tmp_setup("test");
    memset(procs, 0, sizeof procs);
    n_jm = n_tm = 0;
}


static void teardown(void)
{
    for (int i = 0; i < MAX_PROCS; i++)
        if (procs[i]) child_free(procs[i]);
    memset(procs, 0, sizeof procs);
    tu_tmp_teardown();
}

static const char *env(const char *name)
{
    const char *v = getenv(name);
    ck_assert_msg(v && *v, "%s is not set (run through meson test)", name);
    return v;
}

static void note_pid(pid_t pid)
{
    char *path = tu_fmt("%s/pids", case_dir);
    FILE *f = fopen(path, "a");
    ck_assert_msg(f, "cannot write %s", path);
    fprintf(f, "%ld\n", (long)pid);
    fclose(f);
    free(path);
}

/* ------------------------------------------------------------------------------------------ */
/* processes                                                                                  */
/* ------------------------------------------------------------------------------------------ */

static void watch(struct child *c)
{
    for (int i = 0; i < MAX_PROCS; i++)
        if (!procs[i]) {
            procs[i] = c;
            return;
        }
    ck_abort_msg("more than %d processes", MAX_PROCS);
}

/* Sleeps about ms, reading what the processes write meanwhile. */
static void nap(int ms)
{
    double end = child_now() + ms / 1000.0;
    do {
        for (int i = 0; i < MAX_PROCS; i++)
            if (procs[i] && !procs[i]->exited) child_pump(procs[i], 0);
        usleep(10000);
    } while (child_now() < end);
}

/* The last 2000 bytes of a text, for messages. */
static const char *tail(const struct child_text *t)
{
    return t->len > 2000 ? t->buf + t->len - 2000 : t->buf;
}

/* The complete stdout line of c that starts with prefix, waiting up to timeout_s; fails the
 * test (with c's stderr) when c ends first or the time runs out. */
static const char *wait_line(struct child *c, const char *prefix, double timeout_s)
{
    double deadline = child_now() + timeout_s;
    size_t plen = strlen(prefix);
    for (;;) {
        for (const char *p = c->out.buf; p && *p;) {
            const char *nl = strchr(p, '\n');
            if (!nl) break;
            if (!strncmp(p, prefix, plen)) return p;
            p = nl + 1;
        }
        ck_assert_msg(!c->exited, "the process ended (status %d) before printing '%s'; stderr:\n%s", c->status, prefix,
                      tail(&c->err));
        ck_assert_msg(child_now() < deadline, "no '%s' line within %.0f s; stdout:\n%s\nstderr:\n%s", prefix, timeout_s,
                      c->out.buf, tail(&c->err));
        nap(20);
    }
}

/* Waits until c's stderr holds needle. */
static void wait_stderr(struct child *c, const char *needle, double timeout_s)
{
    double deadline = child_now() + timeout_s;
    while (!strstr(c->err.buf, needle)) {
        ck_assert_msg(child_now() < deadline, "no '%s' in the log within %.0f s; stderr:\n%s", needle, timeout_s,
                      tail(&c->err));
        nap(20);
    }
}


static void parse_jm_ready(const char *line, struct jm *j)
{
    unsigned rpc = 0, rest = 0;
    ck_assert_msg(sscanf(line, "jobmanager ready: rpc=127.0.0.1:%u rest=http://127.0.0.1:%u", &rpc, &rest) == 2 &&
                      rpc > 0 && rpc < 65536 && rest > 0 && rest < 65536,
                  "unexpected ready line: %.200s", line);
    j->rpc = (uint16_t)rpc;
    j->rest = (uint16_t)rest;
}

/* Starts a job manager with the given extra arguments (NULL-terminated; NULL none) and the
 * test plugins; rpc_port 0 for any. Returns the exit code when it ended before its ready line
 * (the port was taken), else 0 with its ports in j. */
static int try_start_jm(struct jm *j, uint16_t rpc_port, const char *const *extra)
{
    char port[16];
    snprintf(port, sizeof port, "%u", rpc_port);
    const char *args[32] = {"jobmanager", "--rpc-port", port, "--rest-port", "0", "--plugin-dir",
                            env("RUNNEL_TEST_PLUGIN_DIR")};
    int n = 7;
    for (int i = 0; extra && extra[i]; i++) args[n++] = extra[i];
    args[n] = NULL;
    memset(j, 0, sizeof *j);
    child_start(&j->c, args);
    double deadline = child_now() + READY_S;
    for (;;) {
        const char *line = strstr(j->c.out.buf, "jobmanager ready:");
        if (line && strchr(line, '\n')) break;
        if (j->c.exited) return child_exit_code(&j->c) ? child_exit_code(&j->c) : -1;
        ck_assert_msg(child_now() < deadline, "the job manager printed no ready line; stderr:\n%s", tail(&j->c.err));
        child_pump(&j->c, 20);
    }
    parse_jm_ready(strstr(j->c.out.buf, "jobmanager ready:"), j);
    watch(&j->c);
    return 0;
}

static struct jm *start_jm(const char *const *extra)
{
    struct jm *j = new_jm();
    int rc = try_start_jm(j, 0, extra);
    ck_assert_msg(rc == 0, "the job manager ended with %d; stderr:\n%s", rc, tail(&j->c.err));
    return j;
}

static struct tm *start_tm(const struct jm *j, int slots)
{
    struct tm *t = new_tm();
    char addr[32], s[16];
    snprintf(addr, sizeof addr, "127.0.0.1:%u", j->rpc);
    snprintf(s, sizeof s, "%d", slots);
    const char *args[] = {"taskmanager", "--jobmanager", addr,    "--slots", s, "--plugin-dir",
                          env("RUNNEL_TEST_PLUGIN_DIR"), NULL};
    memset(t, 0, sizeof *t);
    child_start(&t->c, args);
    watch(&t->c);
    const char *line = wait_line(&t->c, "taskmanager ready:", READY_S);
    unsigned data = 0;
    ck_assert_msg(sscanf(line, "taskmanager ready: data=127.0.0.1:%u", &data) == 1 && data > 0 && data < 65536,
                  "unexpected ready line: %.200s", line);
    t->data = (uint16_t)data;
    return t;
}

/* ------------------------------------------------------------------------------------------ */
/* REST                                                                                       */
/* ------------------------------------------------------------------------------------------ */

/* One request; the body of the answer (caller frees), its status in *status. */
static char *http(uint16_t port, const char *method, const char *path, const char *token, const char *body,
                  int *status)
{
    struct rn_error err = {0};
    char *resp = NULL;
    size_t len = 0;
    int rc = rn_http_request("127.0.0.1", port, method, path, token, body, body ? strlen(body) : 0,
                             body ? "application/yaml" : NULL, HTTP_TIMEOUT_MS, status, &resp, &len, &err);
    if (rc) {
        /* say what became of the job manager behind that port */
        for (size_t i = 0; i < n_jm; i++)
            if (jm_pool[i].rest == port && jm_pool[i].c.out.buf) {
                struct child *c = &jm_pool[i].c;
                for (int k = 0; k < 20 && !c->exited; k++) child_pump(c, 50);
                ck_abort_msg("%s %s: %s; the job manager %s (status %d); its log:\n%s", method, path, err.msg,
                             c->exited ? "has ended" : "runs", c->status, tail(&c->err));
            }
        ck_abort_msg("%s %s: %s", method, path, err.msg);
    }
    return resp;
}

static rn_json_doc *parse(const char *text, const char *what)
{
    rn_json_doc *d = NULL;
    struct rn_error err = {0};
    ck_assert_msg(rn_json_parse(text, strlen(text), NULL, &d, &err) == 0, "%s: not JSON (%s): %.300s", what, err.msg,
                  text);
    return d;
}

/* GET path, which must answer 200 with JSON. */
static rn_json_doc *get_json(const struct jm *j, const char *path)
{
    int status = 0;
    char *body = http(j->rest, "GET", path, NULL, NULL, &status);
    ck_assert_msg(status == 200, "GET %s: %d %.300s", path, status, body);
    rn_json_doc *d = parse(body, path);
    free(body);
    return d;
}

static uint64_t juint(const rn_json *v, const char *key)
{
    uint64_t x = 0;
    ck_assert_msg(rn_json_as_uint(rn_json_get(v, key), &x) == 0, "'%s' is not an unsigned integer", key);
    return x;
}

static double jdouble(const rn_json *v, const char *key)
{
    double x = 0;
    ck_assert_msg(rn_json_as_double(rn_json_get(v, key), &x) == 0, "'%s' is not a number", key);
    return x;
}

/* Submits a job file; returns its id (caller frees). */
static char *submit(const struct jm *j, const char *yaml)
{
    int status = 0;
    char *body = http(j->rest, "POST", "/jobs?file=job.yaml", NULL, yaml, &status);
    ck_assert_msg(status == 202, "POST /jobs: %d %.500s", status, body);
    rn_json_doc *d = parse(body, "POST /jobs");
    const char *id = rn_json_get_str(rn_json_root(d), "id");
    ck_assert_msg(id && strlen(id) == 32, "POST /jobs: no id in %.300s", body);
    char *out = strdup(id);
    rn_json_doc_free(d);
    free(body);
    return out;
}

static rn_json_doc *get_job(const struct jm *j, const char *id)
{
    char *path = tu_fmt("/jobs/%s", id);
    rn_json_doc *d = get_json(j, path);
    free(path);
    return d;
}

static bool final_state(const char *s)
{
    return !strcmp(s, "FINISHED") || !strcmp(s, "FAILED") || !strcmp(s, "CANCELLED");
}

/* Polls GET /jobs/{id} until the job is in state want; fails when it reaches another final
 * state or timeout_s passes. Returns the last answer (caller frees). */
static rn_json_doc *wait_job(const struct jm *j, const char *id, const char *want, double timeout_s)
{
    double deadline = child_now() + timeout_s;
    for (;;) {
        rn_json_doc *d = get_job(j, id);
        const rn_json *r = rn_json_root(d);
        const char *state = rn_json_get_str(r, "state");
        ck_assert_msg(state, "GET /jobs/%s has no state", id);
        if (!strcmp(state, want)) return d;
        const char *error = rn_json_get_str(r, "error");
        ck_assert_msg(!final_state(state), "job %s is %s (error: %s), not %s; job manager log:\n%s", id, state,
                      error ? error : "none", want, tail(&j->c.err));
        ck_assert_msg(child_now() < deadline, "job %s still %s after %.0f s, not %s; job manager log:\n%s", id, state,
                      timeout_s, want, tail(&j->c.err));
        rn_json_doc_free(d);
        nap(100);
    }
}

static const rn_json *vertex(const rn_json *job, const char *id)
{
    const rn_json *vs = rn_json_get(job, "vertices");
    for (size_t i = 0; i < rn_json_count(vs); i++) {
        const char *vid = rn_json_get_str(rn_json_at(vs, i), "id");
        if (vid && !strcmp(vid, id)) return rn_json_at(vs, i);
    }
    ck_abort_msg("no vertex %s", id);
    return NULL;
}

/* Waits until the job's vertex has taken in at least rows (its inputs flow). */
static void wait_rows_in(const struct jm *j, const char *id, const char *v, uint64_t rows, double timeout_s)
{
    double deadline = child_now() + timeout_s;
    for (;;) {
        rn_json_doc *d = get_job(j, id);
        uint64_t in = juint(vertex(rn_json_root(d), v), "rows_in");
        const char *state = rn_json_get_str(rn_json_root(d), "state");
        ck_assert_msg(state && !strcmp(state, "RUNNING"), "job %s is %s", id, state ? state : "?");
        rn_json_doc_free(d);
        if (in >= rows) return;
        ck_assert_msg(child_now() < deadline, "vertex %s took %" PRIu64 " rows in %.0f s, not %" PRIu64, v, in,
                      timeout_s, rows);
        nap(100);
    }
}

/* Polls /taskmanagers until it lists n task managers; returns the answer. */
static rn_json_doc *wait_tms(const struct jm *j, size_t n, double timeout_s)
{
    double deadline = child_now() + timeout_s;
    for (;;) {
        rn_json_doc *d = get_json(j, "/taskmanagers");
        size_t have = rn_json_count(rn_json_get(rn_json_root(d), "taskmanagers"));
        if (have == n) return d;
        ck_assert_msg(child_now() < deadline, "%zu task managers registered after %.0f s, not %zu; job manager log:\n%s",
                      have, timeout_s, n, tail(&j->c.err));
        rn_json_doc_free(d);
        nap(100);
    }
}

/* Starts n task managers of `slots` slots and waits until all registered. */
static void start_tms(const struct jm *j, int n, int slots)
{
    for (int i = 0; i < n; i++) start_tm(j, slots);
    rn_json_doc_free(wait_tms(j, (size_t)n, READY_S));
}

/* ------------------------------------------------------------------------------------------ */
/* jobs and their output                                                                      */
/* ------------------------------------------------------------------------------------------ */

/* datagen (key = seq % 97, ts = seq ms, v = seq % 13; rows 0: unbounded, rate 0: unpaced) ->
 * key_by key -> window_aggregate (event-time tumbling 1 s, count and sum) -> file_sink csv in
 * out_dir (NULL: blackhole). pars: the parallelism of gen, win, out (0: the job's). The output
 * does not depend on parallelism or placement: each datagen subtask's rows come in event-time
 * order, so with monotonous watermarks no row is late. */
static char *window_job(const char *name, int par, long rows, long rate, const int pars[3], const char *out_dir)
{
    char p[3][32];
    for (int i = 0; i < 3; i++)
        snprintf(p[i], sizeof p[i], pars && pars[i] ? "    parallelism: %d\n" : "", pars ? pars[i] : 0);
    char *sink = out_dir ? tu_fmt("    type: file_sink\n    with: { path: \"%s\", format: csv }\n", out_dir)
                         : strdup("    type: blackhole\n    with: { quiet: true }\n");
    char *text = tu_fmt("name: %s\n"
                        "parallelism: %d\n"
                        "operators:\n"
                        "  - id: gen\n"
                        "    type: datagen\n"
                        "%s"
                        "    with:\n"
                        "      rows: %ld\n"
                        "      rate_limit: %ld\n"
                        "      fields: { key: \"seq %% 97\", ts: \"to_timestamp(seq)\", v: \"seq %% 13\" }\n"
                        "    watermark: { column: ts, monotonous: true }\n"
                        "  - id: win\n"
                        "    type: window_aggregate\n"
                        "    input: gen\n"
                        "    key_by: key\n"
                        "%s"
                        "    with:\n"
                        "      window: { type: tumbling, size: 1000ms }\n"
                        "      aggregates: { n: \"count(*)\", total: \"sum(v)\" }\n"
                        "  - id: out\n"
                        "    input: win\n"
                        "%s%s",
                        name, par, p[0], rows, rate, p[1], p[2], sink);
    free(sink);
    return text;
}

static int cmp_lines(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The data lines of every part-* file in dir, sorted and joined with '\n'; each file's first
 * line (the CSV header) must equal the others', and is returned in *header; *n the line count. */
static char *read_parts(const char *dir, char **header, size_t *n)
{
    DIR *d = opendir(dir);
    ck_assert_msg(d, "no output directory %s", dir);
    size_t cap = 1024, count = 0, files = 0;
    char **lines = malloc(cap * sizeof *lines);
    char **texts = NULL;
    ck_assert(lines);
    *header = NULL;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, "part-", 5)) continue;
        char *path = tu_fmt("%s/%s", dir, e->d_name);
        char *text = tu_slurp(path);
        ck_assert_msg(text, "cannot read %s", path);
        free(path);
        texts = realloc(texts, (files + 1) * sizeof *texts);
        ck_assert(texts);
        texts[files++] = text;
        char *save = NULL;
        bool first = true;
        for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
            if (first) {
                if (!*header) *header = strdup(l);
                else ck_assert_str_eq(*header, l);
                first = false;
                continue;
            }
            if (count == cap) {
                cap *= 2;
                lines = realloc(lines, cap * sizeof *lines);
                ck_assert(lines);
            }
            lines[count++] = l;
        }
    }
    closedir(d);
    ck_assert_msg(files > 0, "no part files in %s", dir);
    if (count) qsort(lines, count, sizeof *lines, cmp_lines);
    size_t len = 1;
    for (size_t i = 0; i < count; i++) len += strlen(lines[i]) + 1;
    char *s = malloc(len), *p = s;
    ck_assert(s);
    for (size_t i = 0; i < count; i++) {
        size_t l = strlen(lines[i]);
        memcpy(p, lines[i], l);
        p += l;
        *p++ = '\n';
    }
    *p = 0;
    for (size_t i = 0; i < files; i++) free(texts[i]);
    free(texts);
    free(lines);
    *n = count;
    if (!*header) *header = strdup("");
    return s;
}

/* Runs job_text with `runnel run` (out_dir inside it) and returns the sorted lines it wrote. */
static char *run_locally(const char *job_text, const char *out_dir, char **header, size_t *n)
{
    char *path = tu_tmp_path("local.yaml");
    tu_write_file(path, job_text);
    struct child c;
    const char *args[] = {"run", path, NULL};
    child_start(&c, args);
    ck_assert_msg(child_wait(&c, JOB_S), "runnel run did not end within %.0f s", JOB_S);
    ck_assert_msg(child_exit_code(&c) == 0, "runnel run exited %d:\n%s", child_exit_code(&c), tail(&c.err));
    child_free(&c);
    free(path);
    return read_parts(out_dir, header, n);
}

/* Runs the window job on the cluster j (parallelism par, pars per node) and with `runnel run`,
 * and checks that both wrote the same lines (97 keys x 300 windows of 300,000 rows). */
static void same_output_as_run(const struct jm *j, int par, const int pars[3])
{
    char *cl_dir = tu_tmp_path("cluster-out"), *lo_dir = tu_tmp_path("local-out");
    char *cl_job = window_job("win-cluster", par, 300000, 0, pars, cl_dir);
    char *lo_job = window_job("win-local", par, 300000, 0, pars, lo_dir);
    char *id = submit(j, cl_job);
    rn_json_doc *d = wait_job(j, id, "FINISHED", JOB_S);
    rn_json_doc_free(d);
    char *cl_header, *lo_header;
    size_t cl_n, lo_n;
    char *cl = read_parts(cl_dir, &cl_header, &cl_n);
    char *lo = run_locally(lo_job, lo_dir, &lo_header, &lo_n);
    ck_assert_str_eq(cl_header, "key,window_start,window_end,n,total");
    ck_assert_str_eq(cl_header, lo_header);
    ck_assert_uint_eq(lo_n, 97 * 300);
    ck_assert_uint_eq(cl_n, lo_n);
    ck_assert_msg(!strcmp(cl, lo), "the cluster's output differs from runnel run's");
    free(cl);
    free(lo);
    free(cl_header);
    free(lo_header);
    free(id);
    free(cl_job);
    free(lo_job);
    free(cl_dir);
    free(lo_dir);
}

/* ------------------------------------------------------------------------------------------ */
/* 1, 2: results                                                                              */
/* ------------------------------------------------------------------------------------------ */

START_TEST(job_over_three_task_managers_writes_what_runnel_run_writes)
{
    struct jm *jm = start_jm(NULL);
    start_tms(jm, 3, 1);
    same_output_as_run(jm, 3, NULL);
}
END_TEST

START_TEST(chains_of_different_parallelism_over_two_task_managers_write_what_runnel_run_writes)
{
    struct jm *jm = start_jm(NULL);
    start_tms(jm, 2, 2);
    /* gen at 2, the window at 4 (all four slots), the sink at 1 */
    const int pars[3] = {2, 4, 1};
    same_output_as_run(jm, 2, pars);
}
END_TEST

START_TEST(finished_job_reports_rows_per_vertex)
{
    struct jm *jm = start_jm(NULL);
    start_tms(jm, 3, 1);
    char *dir = tu_tmp_path("out");
    char *job = window_job("counted", 3, 300000, 0, NULL, dir);
    char *id = submit(jm, job);
    rn_json_doc *d = wait_job(jm, id, "FINISHED", JOB_S);
    char *header;
    size_t lines;
    char *out = read_parts(dir, &header, &lines);
    const rn_json *r = rn_json_root(d);
    ck_assert_str_eq(rn_json_get_str(r, "state"), "FINISHED");
    ck_assert_uint_eq(juint(r, "attempt"), 1);
    ck_assert_uint_eq(rn_json_count(rn_json_get(r, "vertices")), 3);
    ck_assert_uint_eq(rn_json_count(rn_json_get(r, "taskmanagers")), 3);
    const rn_json *gen = vertex(r, "gen"), *win = vertex(r, "win"), *sink = vertex(r, "out");
    ck_assert_str_eq(rn_json_get_str(gen, "type"), "datagen");
    ck_assert_uint_eq(juint(gen, "parallelism"), 3);
    ck_assert_uint_eq(juint(gen, "rows_out"), 300000);
    ck_assert_uint_eq(juint(win, "rows_in"), 300000);
    ck_assert_uint_eq(juint(win, "rows_out"), lines);
    ck_assert_uint_eq(juint(sink, "rows_in"), lines);
    ck_assert_uint_eq(lines, 97 * 300);
    free(out);
    free(header);
    rn_json_doc_free(d);
    free(id);
    free(job);
    free(dir);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* 3 - 6: failures, cancel, waiting for slots                                                 */
/* ------------------------------------------------------------------------------------------ */

/* The id of the task manager with this pid in /taskmanagers (caller frees). */
static char *tm_id_of(const struct jm *j, pid_t pid)
{
    rn_json_doc *d = get_json(j, "/taskmanagers");
    const rn_json *tms = rn_json_get(rn_json_root(d), "taskmanagers");
    char *id = NULL;
    for (size_t i = 0; i < rn_json_count(tms); i++)
        if (juint(rn_json_at(tms, i), "pid") == (uint64_t)pid) id = strdup(rn_json_get_str(rn_json_at(tms, i), "id"));
    rn_json_doc_free(d);
    ck_assert_msg(id, "no task manager with pid %d", (int)pid);
    return id;
}

/* Three task managers run a long job (each keyed exchange crossing processes); one is killed
 * with SIGKILL: the job ends FAILED (it takes no checkpoints, so it is not restarted) with an
 * error; returns that error (caller frees), the killed one's id in *victim. */
static char *kill_a_task_manager_under_a_job(struct jm **jm_out, struct tm *tm[3], char **victim)
{
    struct jm *jm = start_jm(NULL);
    for (int i = 0; i < 3; i++) tm[i] = start_tm(jm, 1);
    rn_json_doc_free(wait_tms(jm, 3, READY_S));
    *victim = tm_id_of(jm, tm[1]->c.pid);
    char *job = window_job("long", 3, 0, 30000, NULL, NULL);
    char *id = submit(jm, job);
    rn_json_doc_free(wait_job(jm, id, "RUNNING", READY_S));
    wait_rows_in(jm, id, "win", 10000, JOB_S);   /* every channel is open and carries rows */
    child_kill(&tm[1]->c);
    double killed = child_now();
    rn_json_doc *d = wait_job(jm, id, "FAILED", FAIL_S);
    const char *error = rn_json_get_str(rn_json_root(d), "error");
    ck_assert_msg(error && *error, "the failed job has no error");
    printf("job failed %.2f s after the kill: %s\n", child_now() - killed, error);
    char *out = strdup(error);
    rn_json_doc_free(d);
    free(id);
    free(job);
    *jm_out = jm;
    return out;
}

START_TEST(kill_9_of_a_task_manager_fails_its_job_and_the_others_run_the_next)
{
    struct jm *jm;
    struct tm *tm[3];
    char *victim;
    char *error = kill_a_task_manager_under_a_job(&jm, tm, &victim);
    /* the lost one is gone from the registry, the others stay */
    rn_json_doc *d = wait_tms(jm, 2, FAIL_S);
    const rn_json *tms = rn_json_get(rn_json_root(d), "taskmanagers");
    for (size_t i = 0; i < rn_json_count(tms); i++) {
        uint64_t pid = juint(rn_json_at(tms, i), "pid");
        ck_assert_msg(pid == (uint64_t)tm[0]->c.pid || pid == (uint64_t)tm[2]->c.pid, "task manager pid %" PRIu64
                      " listed", pid);
    }
    rn_json_doc_free(d);
    /* a new job runs on the two slots left */
    char *dir = tu_tmp_path("after");
    char *job2 = window_job("after", 2, 100000, 0, NULL, dir);
    char *id2 = submit(jm, job2);
    d = wait_job(jm, id2, "FINISHED", JOB_S);
    ck_assert_uint_eq(juint(vertex(rn_json_root(d), "gen"), "rows_out"), 100000);
    rn_json_doc_free(d);
    free(id2);
    free(job2);
    free(dir);
    free(error);
    free(victim);
}
END_TEST

/* The job's error names the lost task manager ("task manager <id> lost: closed by the peer"),
 * also when a surviving task manager's report of its own failed task (its channels to the lost
 * one broke) reaches the job manager first: the job manager waits a moment for a loss that
 * explains a reported failure. */
START_TEST(kill_9_of_a_task_manager_fails_its_job_naming_it)
{
    struct jm *jm;
    struct tm *tm[3];
    char *victim;
    char *error = kill_a_task_manager_under_a_job(&jm, tm, &victim);
    ck_assert_msg(strstr(error, victim), "the error does not name task manager %s: %s", victim, error);
    free(error);
    free(victim);
}
END_TEST

START_TEST(cancel_ends_a_running_job_and_frees_its_slots)
{
    struct jm *jm = start_jm(NULL);
    start_tms(jm, 2, 1);
    char *job = window_job("cancelled", 2, 0, 20000, NULL, NULL);
    char *id = submit(jm, job);
    rn_json_doc_free(wait_job(jm, id, "RUNNING", READY_S));
    wait_rows_in(jm, id, "win", 5000, JOB_S);
    rn_json_doc *o = get_json(jm, "/overview");
    ck_assert_uint_eq(juint(rn_json_root(o), "slots_total"), 2);
    ck_assert_uint_eq(juint(rn_json_root(o), "slots_available"), 0);
    rn_json_doc_free(o);
    char *path = tu_fmt("/jobs/%s", id);
    int status = 0;
    char *body = http(jm->rest, "PATCH", path, NULL, NULL, &status);
    ck_assert_msg(status == 202, "PATCH %s: %d %s", path, status, body);
    free(body);
    rn_json_doc_free(wait_job(jm, id, "CANCELLED", JOB_S));
    /* slots come back (at once, or when the task managers report) */
    double deadline = child_now() + JOB_S;
    for (;;) {
        o = get_json(jm, "/overview");
        uint64_t total = juint(rn_json_root(o), "slots_total"), avail = juint(rn_json_root(o), "slots_available");
        rn_json_doc_free(o);
        if (total == 2 && avail == total) break;
        ck_assert_msg(child_now() < deadline, "slots_available %" PRIu64 " of %" PRIu64 " after the cancel", avail,
                      total);
        nap(100);
    }
    /* an ended job cannot be cancelled again */
    body = http(jm->rest, "PATCH", path, NULL, NULL, &status);
    ck_assert_msg(status == 409, "PATCH of a cancelled job: %d %s", status, body);
    free(body);
    free(path);
    free(id);
    free(job);
}
END_TEST

START_TEST(task_managers_register_with_a_new_job_manager_after_kill_9)
{
    struct jm *jm, *jm2;
    struct tm *tm[2];
    jm = start_jm(NULL);
    for (int i = 0; i < 2; i++) tm[i] = start_tm(jm, 1);
    rn_json_doc_free(wait_tms(jm, 2, READY_S));
    uint16_t port = jm->rpc;
    child_kill(&jm->c);
    /* the same RPC port again: retried while it is briefly unavailable */
    double deadline = child_now() + 10;
    int rc;
    jm2 = new_jm();
    while ((rc = try_start_jm(jm2, port, NULL)) != 0) {
        ck_assert_msg(child_now() < deadline, "no job manager could take RPC port %u again: exit %d\n%s", port, rc,
                      tail(&jm2->c.err));
        child_free(&jm2->c);
        nap(200);
    }
    ck_assert_uint_eq(jm2->rpc, port);
    rn_json_doc *d = wait_tms(jm2, 2, READY_S);
    const rn_json *tms = rn_json_get(rn_json_root(d), "taskmanagers");
    bool seen[2] = {false, false};
    for (size_t i = 0; i < rn_json_count(tms); i++)
        for (int k = 0; k < 2; k++) seen[k] |= juint(rn_json_at(tms, i), "pid") == (uint64_t)tm[k]->c.pid;
    ck_assert(seen[0] && seen[1]);
    rn_json_doc_free(d);
    char *dir = tu_tmp_path("out");
    char *job = window_job("again", 2, 100000, 0, NULL, dir);
    char *id = submit(jm2, job);
    d = wait_job(jm2, id, "FINISHED", JOB_S);
    ck_assert_uint_eq(juint(vertex(rn_json_root(d), "gen"), "rows_out"), 100000);
    rn_json_doc_free(d);
    free(id);
    free(job);
    free(dir);
}
END_TEST

START_TEST(job_needing_more_slots_waits_until_a_task_manager_registers)
{
    struct jm *jm = start_jm(NULL);
    start_tms(jm, 2, 1);
    char *dir = tu_tmp_path("out");
    char *job = window_job("waiting", 3, 100000, 0, NULL, dir);
    char *id = submit(jm, job);
    /* through a few scheduling ticks (one a heartbeat interval, 1 s) it stays CREATED */
    for (int i = 0; i < 25; i++) {
        rn_json_doc *d = get_job(jm, id);
        ck_assert_str_eq(rn_json_get_str(rn_json_root(d), "state"), "CREATED");
        ck_assert_uint_eq(juint(rn_json_root(d), "attempt"), 0);
        rn_json_doc_free(d);
        nap(100);
    }
    start_tm(jm, 1);
    rn_json_doc *d = wait_job(jm, id, "FINISHED", JOB_S);
    ck_assert_uint_eq(juint(rn_json_root(d), "attempt"), 1);
    ck_assert_uint_eq(rn_json_count(rn_json_get(rn_json_root(d), "taskmanagers")), 3);
    ck_assert_uint_eq(juint(vertex(rn_json_root(d), "gen"), "rows_out"), 100000);
    rn_json_doc_free(d);
    free(id);
    free(job);
    free(dir);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* 7: bad input                                                                               */
/* ------------------------------------------------------------------------------------------ */

/* Connects to 127.0.0.1:port, writes bytes, and waits (bounded) for the server to close. */
static void send_raw(uint16_t port, const void *bytes, size_t len)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_msg(connect(fd, (struct sockaddr *)&a, sizeof a) == 0, "connect to %u: %s", port, strerror(errno));
    ck_assert_int_eq(send(fd, bytes, len, MSG_NOSIGNAL), (ssize_t)len);
    char buf[256];
    ssize_t n;
    while ((n = recv(fd, buf, sizeof buf, 0)) > 0) {
    }
    close(fd);
}

static void overview_answers(const struct jm *j)
{
    rn_json_doc *d = get_json(j, "/overview");
    ck_assert_msg(rn_json_get(rn_json_root(d), "slots_total"), "no slots_total in /overview");
    rn_json_doc_free(d);
}

START_TEST(garbage_on_the_rpc_port_closes_the_connection_and_the_job_manager_stays_up)
{
    struct jm *jm;
    jm = start_jm(NULL);
    /* a frame whose body is not an Envelope */
    const uint8_t junk[] = {0, 0, 0, 8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    send_raw(jm->rpc, junk, sizeof junk);
    wait_stderr(&jm->c, "rpc: closing connection", READY_S);
    overview_answers(jm);
    /* a length prefix of 4 GiB - 1: refused before any body is read */
    const uint8_t huge[] = {0xff, 0xff, 0xff, 0xff, 1, 2, 3};
    send_raw(jm->rpc, huge, sizeof huge);
    wait_stderr(&jm->c, "4294967295", READY_S);
    /* text: an HTTP request on the RPC port */
    const char http_req[] = "GET /overview HTTP/1.1\r\nHost: x\r\n\r\n";
    send_raw(jm->rpc, http_req, sizeof http_req - 1);
    overview_answers(jm);
    ck_assert(!jm->c.exited);
    /* a task manager still registers */
    start_tm(jm, 1);
    rn_json_doc_free(wait_tms(jm, 1, READY_S));
}
END_TEST

/* POSTs yaml; expects 400 whose first error has line >= min_line and a column; returns its
 * message (caller frees). */
static char *post_error(const struct jm *j, const char *yaml, int min_line)
{
    int status = 0;
    char *body = http(j->rest, "POST", "/jobs?file=bad.yaml", NULL, yaml, &status);
    ck_assert_msg(status == 400, "POST of a bad job: %d %.500s", status, body);
    rn_json_doc *d = parse(body, "POST /jobs");
    const rn_json *e = rn_json_at(rn_json_get(rn_json_root(d), "errors"), 0);
    ck_assert_msg(e, "no errors in %.500s", body);
    int64_t line = 0, column = 0;
    ck_assert_int_eq(rn_json_as_int(rn_json_get(e, "line"), &line), 0);
    ck_assert_int_eq(rn_json_as_int(rn_json_get(e, "column"), &column), 0);
    ck_assert_msg(line >= min_line && line > 0, "error line %" PRId64 " in %.500s", line, body);
    ck_assert_msg(column > 0, "error column %" PRId64 " in %.500s", column, body);
    ck_assert_str_eq(rn_json_get_str(e, "file"), "bad.yaml");
    const char *msg = rn_json_get_str(e, "message");
    ck_assert_msg(msg && *msg, "no message in %.500s", body);
    char *out = strdup(msg);
    rn_json_doc_free(d);
    free(body);
    return out;
}

START_TEST(job_with_errors_is_refused_with_line_and_column)
{
    struct jm *jm;
    jm = start_jm(NULL);
    /* an unknown operator type on line 5 */
    char *msg = post_error(jm,
                           "name: bad\n"
                           "operators:\n"
                           "  - id: gen\n"
                           "    with: { rows: 10, fields: { a: \"seq\" } }\n"
                           "    type: no_such_operator\n",
                           5);
    ck_assert_msg(strstr(msg, "no_such_operator"), "message: %s", msg);
    free(msg);
    /* invalid YAML: an unclosed flow sequence */
    msg = post_error(jm, "name: bad\noperators: [ { id: gen, type: datagen\n", 1);
    free(msg);
    /* an empty body */
    int status = 0;
    char *body = http(jm->rest, "POST", "/jobs", NULL, NULL, &status);
    ck_assert_msg(status == 400, "POST without a body: %d %s", status, body);
    free(body);
    rn_json_doc *d = get_json(jm, "/jobs");
    ck_assert_uint_eq(rn_json_count(rn_json_get(rn_json_root(d), "jobs")), 0);
    rn_json_doc_free(d);
}
END_TEST

START_TEST(rest_token_is_required_when_configured)
{
    struct jm *jm;
    const char *extra[] = {"--rest-token", "s3cret", NULL};
    jm = start_jm(extra);
    int status = 0;
    char *body = http(jm->rest, "GET", "/overview", NULL, NULL, &status);
    ck_assert_msg(status == 401, "without the token: %d %s", status, body);
    rn_json_doc_free(parse(body, "401"));
    free(body);
    body = http(jm->rest, "GET", "/overview", "wrong", NULL, &status);
    ck_assert_msg(status == 401, "with another token: %d %s", status, body);
    free(body);
    body = http(jm->rest, "POST", "/jobs", NULL, "name: x\n", &status);
    ck_assert_msg(status == 401, "POST without the token: %d %s", status, body);
    free(body);
    body = http(jm->rest, "GET", "/overview", "s3cret", NULL, &status);
    ck_assert_msg(status == 200, "with the token: %d %s", status, body);
    rn_json_doc_free(parse(body, "200"));
    free(body);
    /* -D rest.token=... works the same */
    struct jm *jm2;
    const char *extra2[] = {"-D", "rest.token=other", NULL};
    jm2 = start_jm(extra2);
    body = http(jm2->rest, "GET", "/taskmanagers", NULL, NULL, &status);
    ck_assert_msg(status == 401, "without the token: %d %s", status, body);
    free(body);
    body = http(jm2->rest, "GET", "/taskmanagers", "other", NULL, &status);
    ck_assert_msg(status == 200, "with the token: %d %s", status, body);
    free(body);
}
END_TEST

START_TEST(hostile_paths_get_4xx_json)
{
    struct jm *jm;
    jm = start_jm(NULL);
    const char *paths[] = {
        "/jobs/..%2F..%2Fetc%2Fpasswd",
        "/jobs/../../etc/passwd",
        "/jobs/0123456789abcdef0123456789abcdef0",   /* 33 hex digits */
        "/jobs/0123456789abcdef0123456789abcdef",    /* 32: well formed, unknown */
        "/jobs/0123456789ABCDEF0123456789ABCDEF",
        "/jobs/%00",
        "/jobs/%zz",
        "/jobs?x=%zz",
        "/nothing/here",
        "/jobs/0123456789abcdef0123456789abcdef/../../overview",
    };
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        int status = 0;
        char *body = http(jm->rest, "GET", paths[i], NULL, NULL, &status);
        ck_assert_msg(status >= 400 && status < 500, "GET %s: %d %s", paths[i], status, body);
        rn_json_doc *d = parse(body, paths[i]);
        ck_assert_msg(rn_json_get_str(rn_json_root(d), "error"), "GET %s: no error in %s", paths[i], body);
        rn_json_doc_free(d);
        free(body);
    }
    int status = 0;
    char *body = http(jm->rest, "PATCH", "/jobs/0123456789abcdef0123456789abcdef0", NULL, NULL, &status);
    ck_assert_msg(status >= 400 && status < 500, "PATCH of a 33-digit id: %d %s", status, body);
    free(body);
    overview_answers(jm);
    ck_assert(!jm->c.exited);
}
END_TEST

/* A job manager cannot take a checkpoint directory relative to wherever it runs (its task
 * managers write there too): refused, naming the limitation. */
START_TEST(job_with_a_relative_checkpoint_dir_is_refused)
{
    struct jm *jm = start_jm(NULL);
    const char *yaml = "name: checkpointed\n"
                       "checkpoint: { interval: 1s, dir: \"relative/ckpt\" }\n"
                       "operators:\n"
                       "  - { id: gen, type: datagen, with: { rows: 10, fields: { a: \"seq\" } } }\n"
                       "  - { id: out, type: blackhole, input: gen }\n";
    int status = 0;
    char *body = http(jm->rest, "POST", "/jobs?file=ck.yaml", NULL, yaml, &status);
    ck_assert_msg(status == 400, "POST of a job with a relative checkpoint dir: %d %s", status, body);
    rn_json_doc *d = parse(body, "POST /jobs");
    const char *error = rn_json_get_str(rn_json_root(d), "error");
    ck_assert_msg(error && strstr(error, "checkpoint"), "the answer does not name the limitation: %s", body);
    rn_json_doc_free(d);
    free(body);
    d = get_json(jm, "/jobs");
    ck_assert_uint_eq(rn_json_count(rn_json_get(rn_json_root(d), "jobs")), 0);
    rn_json_doc_free(d);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* 8: back-pressure                                                                           */
/* ------------------------------------------------------------------------------------------ */

/* VmHWM of pid in kB (the peak resident set). */
static long vm_hwm_kb(pid_t pid)
{
    char *path = tu_fmt("/proc/%d/status", (int)pid);
    char *text = tu_slurp(path);
    ck_assert_msg(text, "cannot read %s", path);
    const char *p = strstr(text, "VmHWM:");
    ck_assert_msg(p, "no VmHWM in %s", path);
    long kb = strtol(p + 6, NULL, 10);
    free(text);
    free(path);
    return kb;
}

/* The bound on each task manager's peak RSS. What the job may hold: per channel (four: each of
 * two source subtasks to each of two sinks) at most 8 queued batches (the runner's channel
 * capacity, granted as credits) of up to RN_BATCH_ROWS rows of three 8-byte columns and a
 * 32-character string (~60 bytes a row on the wire: a few hundred KB a batch), plus socket
 * buffers: a few MB over a process of some tens of MB (the binary with RocksDB linked in,
 * thread stacks; measured: ~18 MB, ~42 MB under ASan). Without back-pressure a free datagen
 * sends tens of millions of rows per second between two task managers (tests/bench/cluster.sh:
 * ~38 M rows/s of 24-byte rows on two cores), so a queue without bound would pass 300 MB in
 * well under a second of the 4+ s this test lets the job run, and reach GBs. */
#define HWM_BOUND_KB (300L * 1024)

START_TEST(back_pressure_across_processes_keeps_memory_bounded)
{
    struct jm *jm;
    struct tm *tm[2];
    jm = start_jm(NULL);
    for (int i = 0; i < 2; i++) tm[i] = start_tm(jm, 1);
    rn_json_doc_free(wait_tms(jm, 2, READY_S));
    const char *job = "name: backpressure\n"
                      "parallelism: 2\n"
                      "operators:\n"
                      "  - id: gen\n"
                      "    type: datagen\n"
                      "    with:\n"
                      "      rows: 0\n"
                      "      fields:\n"
                      "        a: \"seq\"\n"
                      "        b: \"seq * 7\"\n"
                      "        c: \"seq % 1000\"\n"
                      "        s: { type: string, length: 32 }\n"
                      "  - id: slow\n"
                      "    type: slow_sink\n"
                      "    input: gen\n"
                      "    partition: rebalance\n"
                      "    with: { sleep_ms: 50 }\n";
    char *id = submit(jm, job);
    rn_json_doc_free(wait_job(jm, id, "RUNNING", READY_S));
    wait_rows_in(jm, id, "slow", 1, JOB_S);
    nap(3000);
    /* the source spends most of its time blocked sending (sampled each heartbeat) */
    double deadline = child_now() + 20, bp = 0;
    for (;;) {
        rn_json_doc *d = get_job(jm, id);
        const rn_json *r = rn_json_root(d);
        ck_assert_str_eq(rn_json_get_str(r, "state"), "RUNNING");
        bp = jdouble(vertex(r, "gen"), "backpressured");
        uint64_t made = juint(vertex(r, "gen"), "rows_out"), taken = juint(vertex(r, "slow"), "rows_in");
        rn_json_doc_free(d);
        if (bp > 0.5) {
            printf("source back-pressured %.2f; rows made %" PRIu64 ", taken by the sinks %" PRIu64 "\n", bp, made, taken);
            break;
        }
        ck_assert_msg(child_now() < deadline, "the source is back-pressured %.2f of the time, not above 0.5", bp);
        nap(250);
    }
    for (int i = 0; i < 2; i++) {
        long kb = vm_hwm_kb(tm[i]->c.pid);
        printf("task manager %d: VmHWM %ld kB\n", i, kb);
        ck_assert_msg(kb < HWM_BOUND_KB, "task manager %d peaked at %ld kB (bound %ld kB)", i, kb, HWM_BOUND_KB);
    }
    char *path = tu_fmt("/jobs/%s", id);
    int status = 0;
    char *body = http(jm->rest, "PATCH", path, NULL, NULL, &status);
    ck_assert_msg(status == 202, "PATCH %s: %d %s", path, status, body);
    free(body);
    rn_json_doc_free(wait_job(jm, id, "CANCELLED", JOB_S));
    free(path);
    free(id);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* 9: the minicluster                                                                         */
/* ------------------------------------------------------------------------------------------ */

/* The pids whose parent is ppid (from /proc/<pid>/stat). */
static size_t children_of(pid_t ppid, pid_t *out, size_t max)
{
    DIR *d = opendir("/proc");
    ck_assert(d);
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < max) {
        char *end;
        long pid = strtol(e->d_name, &end, 10);
        if (*end || pid <= 0) continue;
        char path[64], buf[512];
        snprintf(path, sizeof path, "/proc/%ld/stat", pid);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        size_t len = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[len] = 0;
        const char *rp = strrchr(buf, ')');
        char state;
        long parent;
        if (rp && sscanf(rp + 1, " %c %ld", &state, &parent) == 2 && parent == ppid) out[n++] = (pid_t)pid;
    }
    closedir(d);
    return n;
}

static bool alive(pid_t pid) { return kill(pid, 0) == 0 || errno != ESRCH; }

START_TEST(minicluster_runs_a_job_and_sigint_stops_all_its_processes)
{
    static struct child mc;   /* watched: the teardown frees it */
    const char *args[] = {"minicluster", "--taskmanagers", "2", "--rpc-port", "0", "--rest-port", "0", NULL};
    child_start(&mc, args);
    watch(&mc);
    wait_line(&mc, "minicluster ready:", READY_S);
    struct jm *jm = new_jm();   /* its ports only: the process is the minicluster's */
    parse_jm_ready(wait_line(&mc, "jobmanager ready:", 1), jm);
    ck_assert_msg(strstr(mc.out.buf, "tm-1 taskmanager ready:") && strstr(mc.out.buf, "tm-2 taskmanager ready:"),
                  "stdout:\n%s", mc.out.buf);
    pid_t kids[8];
    size_t n_kids = children_of(mc.pid, kids, 8);
    for (size_t i = 0; i < n_kids; i++) note_pid(kids[i]);
    ck_assert_msg(n_kids == 3, "the minicluster has %zu child processes, not 3", n_kids);
    rn_json_doc *d = wait_tms(jm, 2, READY_S);
    const rn_json *tms = rn_json_get(rn_json_root(d), "taskmanagers");
    pid_t tm_pids[2];
    for (size_t i = 0; i < 2; i++) {
        tm_pids[i] = (pid_t)juint(rn_json_at(tms, i), "pid");
        bool mine = false;
        for (size_t k = 0; k < n_kids; k++) mine |= kids[k] == tm_pids[i];
        ck_assert_msg(mine, "task manager pid %d is not the minicluster's child", (int)tm_pids[i]);
    }
    rn_json_doc_free(d);
    d = get_json(jm, "/overview");
    ck_assert_uint_eq(juint(rn_json_root(d), "taskmanagers"), 2);
    rn_json_doc_free(d);
    char *dir = tu_tmp_path("out");
    char *job = window_job("mini", 2, 100000, 0, NULL, dir);
    char *id = submit(jm, job);
    d = wait_job(jm, id, "FINISHED", JOB_S);
    ck_assert_uint_eq(juint(vertex(rn_json_root(d), "gen"), "rows_out"), 100000);
    rn_json_doc_free(d);
    kill(mc.pid, SIGINT);
    ck_assert_msg(child_wait(&mc, 20), "the minicluster did not end within 20 s of SIGINT");
    ck_assert_msg(child_exit_code(&mc) == 0, "the minicluster exited %d:\n%s", child_exit_code(&mc), tail(&mc.err));
    for (size_t i = 0; i < n_kids; i++)
        ck_assert_msg(!alive(kids[i]), "process %d of the minicluster is still there", (int)kids[i]);
    for (size_t i = 0; i < 2; i++) ck_assert_msg(!alive(tm_pids[i]), "task manager %d is still there", (int)tm_pids[i]);
    free(id);
    free(job);
    free(dir);
}
END_TEST

/* The minicluster passes its flags (here --plugin-dir) on to its processes, and its ready line
 * names the REST port the job manager took (the configured one is 0). */
START_TEST(minicluster_passes_its_flags_on_and_prints_its_rest_port)
{
    static struct child mc;
    const char *args[] = {"minicluster",  "--taskmanagers", "1", "--rpc-port", "0", "--rest-port", "0", "--plugin-dir",
                          env("RUNNEL_TEST_PLUGIN_DIR"), NULL};
    child_start(&mc, args);
    watch(&mc);
    const char *ready = wait_line(&mc, "minicluster ready:", READY_S);
    struct jm *jm = new_jm();
    parse_jm_ready(wait_line(&mc, "jobmanager ready:", 1), jm);
    pid_t kids[8];
    size_t n_kids = children_of(mc.pid, kids, 8);
    for (size_t i = 0; i < n_kids; i++) note_pid(kids[i]);
    char *port = tu_fmt("127.0.0.1:%u ", jm->rest);
    ck_assert_msg(strstr(ready, port), "the ready line does not name REST port %u: %.200s", jm->rest, ready);
    free(port);
    rn_json_doc_free(wait_tms(jm, 1, READY_S));
    char *id = submit(jm, "name: plugin\n"
                          "operators:\n"
                          "  - { id: gen, type: datagen, with: { rows: 100, fields: { a: \"seq\" } } }\n"
                          "  - { id: out, type: slow_sink, input: gen, with: { sleep_ms: 1 } }\n");
    rn_json_doc_free(wait_job(jm, id, "FINISHED", JOB_S));
    free(id);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* checkpoints across processes: recovery and savepoints                                      */
/* ------------------------------------------------------------------------------------------ */

/* A job with checkpoints every 100 ms: rate-limited datagen (rows, 20,000 rows/s) -> key_by ->
 * event-time tumbling window -> file_sink with delivery exactly_once into out_dir; restarts at
 * once (fixed delay 0 ms). Its output does not depend on where or how often it restarted. */
static char *ck_job(const char *name, long rows, const char *out_dir, const char *ck_dir)
{
    return tu_fmt("name: %s\n"
                  "parallelism: 2\n"
                  "checkpoint: { interval: 100ms, dir: \"%s\" }\n"
                  "restart: { strategy: fixed-delay, attempts: 20, delay: 0ms }\n"
                  "operators:\n"
                  "  - id: gen\n"
                  "    type: datagen\n"
                  "    with:\n"
                  "      rows: %ld\n"
                  "      rate_limit: 20000\n"
                  "      fields: { key: \"seq %% 97\", ts: \"to_timestamp(seq * 10)\", v: \"seq %% 13\" }\n"
                  "    watermark: { column: ts, max_out_of_orderness: 0ms }\n"
                  "  - id: win\n"
                  "    type: window_aggregate\n"
                  "    input: gen\n"
                  "    key_by: key\n"
                  "    with:\n"
                  "      window: { type: tumbling, size: 1000ms }\n"
                  "      aggregates: { n: \"count(*)\", total: \"sum(v)\" }\n"
                  "  - id: out\n"
                  "    type: file_sink\n"
                  "    input: win\n"
                  "    with: { path: \"%s\", format: csv, delivery: exactly_once }\n",
                  name, ck_dir, rows, out_dir);
}

/* Completed checkpoints of job id so far. */
static uint64_t checkpoints_completed(const struct jm *j, const char *id)
{
    char *path = tu_fmt("/jobs/%s/checkpoints", id);
    rn_json_doc *d = get_json(j, path);
    uint64_t n = juint(rn_json_get(rn_json_root(d), "counts"), "completed");
    rn_json_doc_free(d);
    free(path);
    return n;
}

/* Waits until job id runs attempt `attempt` and completed a checkpoint beyond `after`. */
static void wait_attempt_checkpointed(const struct jm *j, const char *id, uint64_t attempt, uint64_t after)
{
    double deadline = child_now() + JOB_S;
    for (;;) {
        rn_json_doc *d = get_job(j, id);
        const char *state = rn_json_get_str(rn_json_root(d), "state");
        uint64_t a = juint(rn_json_root(d), "attempt");
        ck_assert_msg(state && !final_state(state), "job %s is %s during its attempt %" PRIu64 "; job manager log:\n%s", id,
                      state ? state : "?", attempt, tail(&j->c.err));
        bool running = !strcmp(state, "RUNNING") && a == attempt;
        rn_json_doc_free(d);
        if (running && checkpoints_completed(j, id) > after) return;
        ck_assert_msg(child_now() < deadline, "attempt %" PRIu64 " of job %s took no checkpoint in %.0f s; log:\n%s",
                      attempt, id, JOB_S, tail(&j->c.err));
        nap(50);
    }
}

/* Names in dir that start with '.' (in-progress files the exactly-once sink left). */
static size_t hidden_files(const char *dir)
{
    DIR *d = opendir(dir);
    ck_assert_msg(d, "no output directory %s", dir);
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] == '.' && strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    return n;
}

/* The task manager pid in a task manager id "host:port/pid". */
static pid_t pid_of_tm_id(const char *id)
{
    const char *slash = id ? strrchr(id, '/') : NULL;
    ck_assert_msg(slash, "task manager id without a pid: %s", id ? id : "(none)");
    return (pid_t)atoi(slash + 1);
}

/* A job with checkpoints over 3 task managers loses one of its task managers to kill -9 three
 * times (a fresh one registers after each): every time a new attempt is restored from the
 * latest checkpoint on the others, and the committed output equals a failure-free `runnel
 * run` of the same job, with nothing left in progress. */
START_TEST(kill_9_of_task_managers_with_checkpoints_recovers_exactly_once)
{
    struct jm *jm = start_jm(NULL);
    start_tms(jm, 3, 1);
    char *out = tu_tmp_path("eo-out"), *ck = tu_tmp_path("eo-ck");
    char *ref_out = tu_tmp_path("eo-ref"), *ref_ck = tu_tmp_path("eo-ref-ck");
    char *job = ck_job("eo-cluster", 120000, out, ck), *ref = ck_job("eo-cluster", 120000, ref_out, ref_ck);
    char *id = submit(jm, job);
    uint64_t done = 0;
    for (uint64_t kill_no = 1; kill_no <= 3; kill_no++) {
        wait_attempt_checkpointed(jm, id, kill_no, done);
        rn_json_doc *d = get_job(jm, id);
        const rn_json *tms = rn_json_get(rn_json_root(d), "taskmanagers");
        ck_assert_uint_eq(rn_json_count(tms), 2);
        pid_t victim = pid_of_tm_id(rn_json_as_str(rn_json_at(tms, kill_no % 2), NULL));
        rn_json_doc_free(d);
        done = checkpoints_completed(jm, id);
        ck_assert_msg(kill(victim, SIGKILL) == 0, "cannot kill task manager %d", (int)victim);
        start_tm(jm, 1);
    }
    wait_attempt_checkpointed(jm, id, 4, done);
    rn_json_doc *d = wait_job(jm, id, "FINISHED", JOB_S);
    ck_assert_uint_eq(juint(rn_json_root(d), "restarts"), 3);
    rn_json_doc_free(d);
    char *header, *ref_header;
    size_t n, ref_n;
    char *got = read_parts(out, &header, &n);
    char *want = run_locally(ref, ref_out, &ref_header, &ref_n);
    ck_assert_uint_eq(ref_n, 97 * 1200);
    ck_assert_uint_eq(n, ref_n);
    ck_assert_msg(!strcmp(got, want), "the output after three kills differs from a failure-free run's");
    ck_assert_uint_eq(hidden_files(out), 0);
    free(got);
    free(want);
    free(header);
    free(ref_header);
    free(id);
    free(job);
    free(ref);
    free(out);
    free(ck);
    free(ref_out);
    free(ref_ck);
}
END_TEST

/* POST a savepoint request (stop or not) with body; returns the HTTP status and the request id
 * (caller frees) in *request when accepted. */
static int request_savepoint(const struct jm *j, const char *id, bool stop, const char *body, char **request)
{
    char *path = tu_fmt("/jobs/%s/%s", id, stop ? "stop" : "savepoints");
    int status = 0;
    char *answer = http(j->rest, "POST", path, NULL, body, &status);
    *request = NULL;
    if (status == 202) {
        rn_json_doc *d = parse(answer, path);
        const char *r = rn_json_get_str(rn_json_root(d), "request");
        ck_assert_msg(r && *r, "%s: no request in %s", path, answer);
        *request = strdup(r);
        rn_json_doc_free(d);
    }
    free(answer);
    free(path);
    return status;
}

/* Polls a savepoint request until it completed; returns its path (caller frees). */
static char *wait_savepoint(const struct jm *j, const char *id, const char *request)
{
    char *path = tu_fmt("/jobs/%s/savepoints/%s", id, request);
    double deadline = child_now() + JOB_S;
    for (;;) {
        rn_json_doc *d = get_json(j, path);
        const char *status = rn_json_get_str(rn_json_root(d), "status");
        ck_assert_msg(status && strcmp(status, "FAILED"), "savepoint %s: %s (%s)", request, status ? status : "?",
                      rn_json_get_str(rn_json_root(d), "error"));
        if (!strcmp(status, "COMPLETED")) {
            char *p = strdup(rn_json_get_str(rn_json_root(d), "path"));
            rn_json_doc_free(d);
            free(path);
            return p;
        }
        rn_json_doc_free(d);
        ck_assert_msg(child_now() < deadline, "savepoint %s not complete after %.0f s", request, JOB_S);
        nap(50);
    }
}

/* A job stopped with a savepoint into a directory inside savepoints.dir ends CANCELLED; the same
 * job submitted with restore= that savepoint goes on from it, and the two runs together commit
 * exactly what a failure-free `runnel run` writes. */
START_TEST(stop_with_a_savepoint_and_resume_continues_exactly_once)
{
    char *sp = tu_tmp_path("savepoints");
    ck_assert(mkdir(sp, 0777) == 0);
    char *opt = tu_fmt("savepoints.dir=%s", sp);
    const char *extra[] = {"-D", opt, NULL};
    struct jm *jm = start_jm(extra);
    start_tms(jm, 2, 1);
    char *out = tu_tmp_path("sp-out"), *ck = tu_tmp_path("sp-ck");
    char *ref_out = tu_tmp_path("sp-ref"), *ref_ck = tu_tmp_path("sp-ref-ck");
    char *job = ck_job("stopped", 60000, out, ck), *ref = ck_job("stopped", 60000, ref_out, ref_ck);
    char *id = submit(jm, job);
    wait_attempt_checkpointed(jm, id, 1, 1);
    char *request;
    ck_assert_int_eq(request_savepoint(jm, id, true, "{\"target_directory\": \"first\"}", &request), 202);
    char *taken = wait_savepoint(jm, id, request);
    char *expected = tu_fmt("%s/first", sp);
    ck_assert_str_eq(taken, expected);
    rn_json_doc_free(wait_job(jm, id, "CANCELLED", JOB_S));
    /* resumed from it (a relative restore resolves inside savepoints.dir) */
    int status = 0;
    char *body = http(jm->rest, "POST", "/jobs?file=job.yaml&restore=first", NULL, job, &status);
    ck_assert_msg(status == 202, "POST /jobs with restore: %d %s", status, body);
    rn_json_doc *d = parse(body, "POST /jobs");
    char *id2 = strdup(rn_json_get_str(rn_json_root(d), "id"));
    rn_json_doc_free(d);
    free(body);
    rn_json_doc_free(wait_job(jm, id2, "FINISHED", JOB_S));
    char *header, *ref_header;
    size_t n, ref_n;
    char *got = read_parts(out, &header, &n);
    char *want = run_locally(ref, ref_out, &ref_header, &ref_n);
    ck_assert_uint_eq(ref_n, 97 * 600);
    ck_assert_uint_eq(n, ref_n);
    ck_assert_msg(!strcmp(got, want), "stopped and resumed output differs from a failure-free run's");
    free(got);
    free(want);
    free(header);
    free(ref_header);
    free(taken);
    free(expected);
    free(request);
    free(id);
    free(id2);
    free(job);
    free(ref);
    free(out);
    free(ck);
    free(ref_out);
    free(ref_ck);
    free(opt);
    free(sp);
}
END_TEST

/* Directories named by requests stay inside theirs: a savepoint target or a restore outside
 * savepoints.dir is refused (400) and nothing is written there; a savepoint of a job without
 * checkpoints is refused (409). */
START_TEST(savepoint_and_restore_paths_outside_their_directories_are_refused)
{
    char *sp = tu_tmp_path("savepoints");
    ck_assert(mkdir(sp, 0777) == 0);
    char *opt = tu_fmt("savepoints.dir=%s", sp);
    const char *extra[] = {"-D", opt, NULL};
    struct jm *jm = start_jm(extra);
    start_tms(jm, 2, 2);
    char *out = tu_tmp_path("p-out"), *ck = tu_tmp_path("p-ck"), *outside = tu_tmp_path("outside");
    char *job = ck_job("paths", 0, out, ck);
    char *id = submit(jm, job);
    wait_attempt_checkpointed(jm, id, 1, 0);
    char *request;
    const char *bodies[] = {"{\"target_directory\": \"../outside\"}", "{\"target_directory\": \"/etc\"}",
                            "{\"target_directory\": 7}", "not json"};
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        ck_assert_msg(request_savepoint(jm, id, false, bodies[i], &request) == 400, "accepted %s", bodies[i]);
        free(request);
    }
    struct stat st;
    ck_assert_msg(stat(outside, &st) != 0, "%s was created", outside);
    const char *restores[] = {"/etc", "../outside", "/tmp"};
    for (size_t i = 0; i < sizeof restores / sizeof restores[0]; i++) {
        char *path = tu_fmt("/jobs?file=job.yaml&restore=%s", restores[i]);
        int status = 0;
        char *body = http(jm->rest, "POST", path, NULL, job, &status);
        ck_assert_msg(status == 400, "restore=%s: %d %s", restores[i], status, body);
        free(body);
        free(path);
    }
    char *plain = window_job("plain", 2, 0, 1000, NULL, NULL);
    char *id2 = submit(jm, plain);
    rn_json_doc_free(wait_job(jm, id2, "RUNNING", READY_S));
    ck_assert_int_eq(request_savepoint(jm, id2, false, NULL, &request), 409);
    free(request);
    free(plain);
    free(id2);
    free(id);
    free(job);
    free(out);
    free(ck);
    free(outside);
    free(opt);
    free(sp);
}
END_TEST

static Suite *cluster_suite(void)
{
    Suite *s = suite_create("cluster");
    TCase *results = tcase_create("results");
    tcase_add_unchecked_fixture(results, case_setup, case_teardown);
    tcase_add_checked_fixture(results, setup, teardown);
    tcase_set_timeout(results, 120);
    tcase_add_test(results, job_over_three_task_managers_writes_what_runnel_run_writes);
    tcase_add_test(results, chains_of_different_parallelism_over_two_task_managers_write_what_runnel_run_writes);
    tcase_add_test(results, finished_job_reports_rows_per_vertex);
    suite_add_tcase(s, results);
    TCase *life = tcase_create("life_cycle");
    tcase_add_unchecked_fixture(life, case_setup, case_teardown);
    tcase_add_checked_fixture(life, setup, teardown);
    tcase_set_timeout(life, 120);
    tcase_add_test(life, kill_9_of_a_task_manager_fails_its_job_and_the_others_run_the_next);
    tcase_add_test(life, kill_9_of_a_task_manager_fails_its_job_naming_it);
    tcase_add_test(life, cancel_ends_a_running_job_and_frees_its_slots);
    tcase_add_test(life, task_managers_register_with_a_new_job_manager_after_kill_9);
    tcase_add_test(life, job_needing_more_slots_waits_until_a_task_manager_registers);
    tcase_add_test(life, back_pressure_across_processes_keeps_memory_bounded);
    tcase_add_test(life, minicluster_runs_a_job_and_sigint_stops_all_its_processes);
    tcase_add_test(life, minicluster_passes_its_flags_on_and_prints_its_rest_port);
    suite_add_tcase(s, life);
    TCase *ckpt = tcase_create("checkpoints");
    tcase_add_unchecked_fixture(ckpt, case_setup, case_teardown);
    tcase_add_checked_fixture(ckpt, setup, teardown);
    tcase_set_timeout(ckpt, 180);
    tcase_add_test(ckpt, kill_9_of_task_managers_with_checkpoints_recovers_exactly_once);
    tcase_add_test(ckpt, stop_with_a_savepoint_and_resume_continues_exactly_once);
    tcase_add_test(ckpt, savepoint_and_restore_paths_outside_their_directories_are_refused);
    suite_add_tcase(s, ckpt);
    TCase *bad = tcase_create("bad_input");
    tcase_add_unchecked_fixture(bad, case_setup, case_teardown);
    tcase_add_checked_fixture(bad, setup, teardown);
    tcase_set_timeout(bad, 60);
    tcase_add_test(bad, garbage_on_the_rpc_port_closes_the_connection_and_the_job_manager_stays_up);
    tcase_add_test(bad, job_with_errors_is_refused_with_line_and_column);
    tcase_add_test(bad, rest_token_is_required_when_configured);
    tcase_add_test(bad, hostile_paths_get_4xx_json);
    tcase_add_test(bad, job_with_a_relative_checkpoint_dir_is_refused);
    suite_add_tcase(s, bad);
    return s;
}

TU_MAIN(cluster_suite)
