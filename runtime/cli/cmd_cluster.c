/*
 * cmd_cluster.c — the cluster processes: `runnel jobmanager`, `runnel taskmanager` and
 * `runnel minicluster` (a job manager and N task manager processes of this binary, stopped
 * together). Each takes the configuration of runtime/config.h (a --config file, RUNNEL_*
 * variables, flags) plus the short flags the issue names (--rpc-port, --rest-port,
 * --jobmanager, --slots, --data-port, --taskmanagers), logs structured lines to stderr, prints
 * one "ready" line on stdout once it listens (scripts and the minicluster read the ports from
 * it), and runs until SIGINT or SIGTERM. The minicluster's processes get SIGTERM when it ends,
 * however it ends (PR_SET_PDEATHSIG).
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "config.h"
#include "jm/jm.h"
#include "log.h"
#include "tm/tm.h"

/* Short flags -> configuration keys. */
struct alias {
    const char *flag, *key;
};
static const struct alias aliases[] = {
    {"--rpc-port", "jobmanager.rpc.port"}, {"--rest-port", "rest.port"},
    {"--jobmanager", "jobmanager.address"}, {"--slots", "taskmanager.slots"},
    {"--data-port", "taskmanager.data.port"}, {"--plugin-dir", "plugins.dir"},
};

/* Loads the configuration from argv (aliases first, as flags); extra: the caller's own flag
 * with a value (NULL none), its value goes to *extra_val. 0, or 2 after printing why. */
static int load_config(rn_config *c, int argc, char **argv, const char *extra, const char **extra_val,
                       const char *usage)
{
    struct rn_error err;
    char **rest = calloc((size_t)argc + 1, sizeof *rest);
    if (!rest) return 2;
    int n = 0;
    rest[n++] = argv[0];
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("%s", usage);
            free(rest);
            return 1;
        }
        const char *a = argv[i], *eq = strchr(a, '=');
        size_t alen = eq ? (size_t)(eq - a) : strlen(a);
        bool done = false;
        for (size_t k = 0; k < sizeof aliases / sizeof aliases[0] && !done; k++) {
            if (strlen(aliases[k].flag) != alen || strncmp(a, aliases[k].flag, alen)) continue;
            const char *v = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
            if (!v) {
                fprintf(stderr, "runnel %s: %s needs a value\n", argv[0], aliases[k].flag);
                free(rest);
                return 2;
            }
            char origin[64];
            snprintf(origin, sizeof origin, "flag %s", aliases[k].flag);
            if (rn_config_set(c, RN_CONFIG_FLAG, aliases[k].key, v, origin, &err)) {
                fprintf(stderr, "runnel %s: %s\n", argv[0], err.msg);
                free(rest);
                return 2;
            }
            done = true;
        }
        if (!done && extra && alen == strlen(extra) && !strncmp(a, extra, alen)) {
            const char *v = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
            if (!v) {
                fprintf(stderr, "runnel %s: %s needs a value\n", argv[0], extra);
                free(rest);
                return 2;
            }
            *extra_val = v;
            done = true;
        }
        if (!done) rest[n++] = argv[i];
    }
    rest[n] = NULL;
    int rc = rn_config_load_args(c, &n, rest, &err);
    if (rc == 0 && n > 1) {
        const char *hint = rn_config_flag_suggestion(c, rest[1]);
        fprintf(stderr, "runnel %s: unknown option '%s'%s%s%s\n%s", argv[0], rest[1], hint ? " (did you mean --" : "",
                hint ? hint : "", hint ? "?)" : "", usage);
        free(rest);
        return 2;
    }
    free(rest);
    if (rc) {
        fprintf(stderr, "runnel %s: %s\n", argv[0], err.msg);
        return 2;
    }
    if (rn_config_print_requested(c)) {
        rn_config_describe(c, stdout);
        return 1;
    }
    return 0;
}

/* Blocks SIGINT and SIGTERM in every thread (call before creating any), to sigwait for them. */
static void block_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, set, NULL);
    signal(SIGPIPE, SIG_IGN);
}

/* Logs what the configuration noticed (near-miss RUNNEL_* variables). */
static void log_warnings(const rn_config *c)
{
    const char *w;
    for (size_t i = 0; (w = rn_config_warning(c, i)); i++) rn_log(RN_LOG_WARN, NULL, "%s", w);
}

static rn_registry *registry_of(const rn_config *c)
{
    log_warnings(c);
    const char *dir = rn_config_str(c, "plugins.dir");
    return rn_cli_registry(dir && *dir ? dir : NULL);
}

static const char jm_usage[] =
    "usage: runnel jobmanager [--rpc-port P] [--rest-port P] [--config conf.yaml] [-D key=value]...\n"
    "Accepts jobs over its REST API and runs them on the task managers that register with it.\n"
    "Every configuration key (docs/operations.md) can be given as --<key-with-dashes> VALUE.\n";

int rn_cli_jobmanager(int argc, char **argv)
{
    rn_config *c = rn_config_create();
    if (!c) return 1;
    int rc = load_config(c, argc, argv, NULL, NULL, jm_usage);
    if (rc) {
        rn_config_destroy(c);
        return rc == 1 ? 0 : rc;
    }
    sigset_t set;
    block_signals(&set);
    rn_log_init_config("jobmanager", c, stderr);
    rn_registry *reg = registry_of(c);
    if (!reg) {
        rn_config_destroy(c);
        return 2;
    }
    struct rn_jm_config jc = {
        .rpc_bind = rn_config_str(c, "jobmanager.rpc.bind"),
        .rpc_port = (uint16_t)rn_config_int(c, "jobmanager.rpc.port"),
        .rest_bind = rn_config_str(c, "rest.bind"),
        .rest_port = (uint16_t)rn_config_int(c, "rest.port"),
        .rest_token = rn_config_str(c, "rest.token"),
        .rest_max_body = (size_t)rn_config_size(c, "rest.max-body"),
        .heartbeat_ms = (uint32_t)rn_config_duration_ms(c, "heartbeat.interval"),
        .heartbeat_timeout_ms = (uint32_t)rn_config_duration_ms(c, "heartbeat.timeout"),
        .history = (uint32_t)rn_config_int(c, "jobs.history"),
        .savepoints_dir = rn_config_str(c, "savepoints.dir"),
        .checkpoints_dir = rn_config_str(c, "checkpoints.dir"),
        .registry = reg,
    };
    struct rn_error err;
    rn_jm *jm = rn_jm_create(&jc, &err);
    if (!jm) {
        rn_log(RN_LOG_ERROR, NULL, "cannot start: %s", err.msg);
        rn_registry_destroy(reg);
        rn_config_destroy(c);
        return 1;
    }
    printf("jobmanager ready: rpc=%s:%u rest=http://%s:%u\n", jc.rpc_bind, rn_jm_rpc_port(jm), jc.rest_bind,
           rn_jm_rest_port(jm));
    fflush(stdout);
    int sig = 0;
    sigwait(&set, &sig);
    rn_log(RN_LOG_INFO, NULL, "stopping (signal %d)", sig);
    rn_jm_destroy(jm);
    rn_registry_destroy(reg);
    rn_config_destroy(c);
    return 0;
}

static const char tm_usage[] =
    "usage: runnel taskmanager [--jobmanager host:port] [--slots N] [--data-port P] [--config conf.yaml] [-D key=value]...\n"
    "Registers its slots with the job manager and runs the tasks it is given.\n";

int rn_cli_taskmanager(int argc, char **argv)
{
    rn_config *c = rn_config_create();
    if (!c) return 1;
    const char *name = NULL;
    int rc = load_config(c, argc, argv, "--name", &name, tm_usage);
    if (rc) {
        rn_config_destroy(c);
        return rc == 1 ? 0 : rc;
    }
    sigset_t set;
    block_signals(&set);
    char proc[96];
    snprintf(proc, sizeof proc, "taskmanager%s%s", name ? " " : "", name ? name : "");
    rn_log_init_config(proc, c, stderr);
    rn_registry *reg = registry_of(c);
    if (!reg) {
        rn_config_destroy(c);
        return 2;
    }
    struct rn_tm_config tc = {
        .jm_host = rn_config_host(c, "jobmanager.address"),
        .jm_port = (uint16_t)rn_config_port(c, "jobmanager.address"),
        .slots = (uint32_t)rn_config_int(c, "taskmanager.slots"),
        .data_bind = rn_config_str(c, "taskmanager.data.bind"),
        .data_port = (uint16_t)rn_config_int(c, "taskmanager.data.port"),
        .data_host = rn_config_str(c, "taskmanager.data.host"),
        .heartbeat_ms = (uint32_t)rn_config_duration_ms(c, "heartbeat.interval"),
        .name = name,
        .registry = reg,
    };
    struct rn_error err;
    rn_tm *tm = rn_tm_create(&tc, &err);
    if (!tm) {
        rn_log(RN_LOG_ERROR, NULL, "cannot start: %s", err.msg);
        rn_registry_destroy(reg);
        rn_config_destroy(c);
        return 1;
    }
    printf("taskmanager ready: data=%s:%u jobmanager=%s:%u\n", tc.data_bind, rn_tm_data_port(tm), tc.jm_host, tc.jm_port);
    fflush(stdout);
    int sig = 0;
    sigwait(&set, &sig);
    rn_log(RN_LOG_INFO, NULL, "stopping (signal %d)", sig);
    rn_tm_destroy(tm);
    rn_registry_destroy(reg);
    rn_config_destroy(c);
    return 0;
}

/* ---- minicluster ---- */

static const char mc_usage[] =
    "usage: runnel minicluster [--taskmanagers N] [--slots M] [--rpc-port P] [--rest-port P] [--config conf.yaml] ...\n"
    "Starts a job manager and N task manager processes on this machine (127.0.0.1); Ctrl-C stops them all.\n";

/* Starts `runnel <args>` with its stdout on a pipe (*out_fd) when out_fd is given. */
static pid_t spawn(char **args, int *out_fd)
{
    int fds[2] = {-1, -1};
    if (out_fd && pipe(fds)) return -1;
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        /* the processes go when the minicluster goes, even by kill -9 */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent) _exit(1);
        sigset_t none;
        sigemptyset(&none);
        pthread_sigmask(SIG_SETMASK, &none, NULL);
        if (out_fd) {
            dup2(fds[1], 1);
            close(fds[0]);
            close(fds[1]);
        }
        execv("/proc/self/exe", args);
        _exit(127);
    }
    if (out_fd) {
        close(fds[1]);
        if (pid < 0) close(fds[0]);
        else *out_fd = fds[0];
    }
    return pid;
}

/* Reads the child's "ready" line (up to timeout_ms); copies it to our stdout. */
static int read_ready(int fd, char *line, size_t len, int timeout_ms)
{
    size_t n = 0;
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    while (n + 1 < len) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        int left = timeout_ms - (int)((now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000);
        struct pollfd p = {fd, POLLIN, 0};
        if (left <= 0 || poll(&p, 1, left) <= 0) return -1;
        ssize_t got = read(fd, line + n, 1);
        if (got <= 0) return -1;
        if (line[n] == '\n') break;
        n++;
    }
    line[n] = 0;
    return 0;
}

int rn_cli_minicluster(int argc, char **argv)
{
    rn_config *c = rn_config_create();
    if (!c) return 1;
    const char *ntm = NULL;
    int rc = load_config(c, argc, argv, "--taskmanagers", &ntm, mc_usage);
    if (rc) {
        rn_config_destroy(c);
        return rc == 1 ? 0 : rc;
    }
    char *end = NULL;
    long n = ntm ? strtol(ntm, &end, 10) : 2;
    if (ntm && (*end || n < 1 || n > 64)) {
        fprintf(stderr, "runnel minicluster: --taskmanagers must be from 1 to 64\n");
        rn_config_destroy(c);
        return 2;
    }
    sigset_t set;
    block_signals(&set);
    rn_log_init_config("minicluster", c, stderr);
    /* the children read the same configuration: the same environment, and every flag given here
     * but --taskmanagers; a task manager also gets the job manager's RPC address (from its ready
     * line, since the port may be 0 = any) and its name */
    char **jm_args = calloc((size_t)argc + 8, sizeof *jm_args), **tm_args = calloc((size_t)argc + 8, sizeof *tm_args);
    pid_t *pids = calloc((size_t)n + 1, sizeof *pids);
    if (!jm_args || !tm_args || !pids) {
        free(jm_args);
        free(tm_args);
        free(pids);
        rn_config_destroy(c);
        return 1;
    }
    int k = 0, base;
    jm_args[k++] = "runnel";
    jm_args[k++] = "jobmanager";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--taskmanagers")) {
            i++;
            continue;
        }
        if (!strncmp(argv[i], "--taskmanagers=", 15)) continue;
        jm_args[k++] = argv[i];
    }
    jm_args[k] = NULL;
    memcpy(tm_args, jm_args, (size_t)k * sizeof *tm_args);
    tm_args[1] = "taskmanager";
    base = k;
    int fd = -1;
    pids[0] = spawn(jm_args, &fd);
    char line[512], host[256] = "127.0.0.1", rest_host[256] = "127.0.0.1";
    unsigned port = 0, rest_port = 0;
    if (pids[0] < 0 || read_ready(fd, line, sizeof line, 15000) ||
        sscanf(line, "jobmanager ready: rpc=%255[^:]:%u rest=http://%255[^:]:%u", host, &port, rest_host, &rest_port) != 4) {
        rn_log(RN_LOG_ERROR, NULL, "the job manager did not start");
        rc = 1;
        goto stop;
    }
    printf("%s\n", line);
    char jm_addr[300];
    snprintf(jm_addr, sizeof jm_addr, "%s:%u", host, port);
    for (long i = 1; i <= n; i++) {
        char name[16];
        snprintf(name, sizeof name, "tm-%ld", i);
        k = base;
        tm_args[k++] = "--jobmanager";
        tm_args[k++] = jm_addr;
        tm_args[k++] = "--name";
        tm_args[k++] = name;
        tm_args[k] = NULL;
        int tfd = -1;
        pids[i] = spawn(tm_args, &tfd);
        if (pids[i] < 0 || read_ready(tfd, line, sizeof line, 15000)) {
            rn_log(RN_LOG_ERROR, NULL, "task manager %s did not start", name);
            if (tfd >= 0) close(tfd);
            rc = 1;
            goto stop;
        }
        printf("%s %s\n", name, line);
        close(tfd);
    }
    printf("minicluster ready: %ld task manager(s); submit with `runnel submit --jobmanager %s:%u JOB.yaml`\n", n,
           rest_host, rest_port);
    fflush(stdout);
    /* until a signal, or a child ends on its own */
    for (;;) {
        struct timespec ts = {0, 200000000};
        int sig = sigtimedwait(&set, NULL, &ts);
        if (sig > 0) break;
        int status;
        pid_t gone = waitpid(-1, &status, WNOHANG);
        if (gone > 0) {
            for (long i = 0; i <= n; i++)
                if (pids[i] == gone) pids[i] = 0;
            rn_log(RN_LOG_WARN, NULL, "process %d ended (%s %d); the others go on", (int)gone,
                   WIFSIGNALED(status) ? "signal" : "exit", WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
        }
    }
stop:
    if (fd >= 0) close(fd);
    /* task managers first, then the job manager; SIGKILL what is still there after 10 s */
    for (long i = n; i >= 0; i--)
        if (pids[i] > 0) kill(pids[i], SIGTERM);
    for (int waited = 0; waited < 100; waited++) {
        bool any = false;
        for (long i = 0; i <= n; i++) {
            if (pids[i] <= 0) continue;
            if (waitpid(pids[i], NULL, WNOHANG) == pids[i]) pids[i] = 0;
            else any = true;
        }
        if (!any) break;
        usleep(100000);
    }
    for (long i = 0; i <= n; i++)
        if (pids[i] > 0) {
            kill(pids[i], SIGKILL);
            waitpid(pids[i], NULL, 0);
        }
    free(pids);
    free(jm_args);
    free(tm_args);
    rn_config_destroy(c);
    return rc;
}
