/*
 * child.c — child processes of the integration tests (child.h).
 */
#include "child.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* pids of the children started and not yet reaped, for the exit handler (a normal exit; when
 * Check ends a failed test with _exit, PR_SET_PDEATHSIG kills them) */
#define MAX_LIVE 16
static pid_t live[MAX_LIVE];
static bool handler_installed;

static void kill_live_children(void)
{
    for (int i = 0; i < MAX_LIVE; i++)
        if (live[i] > 0) {
            kill(live[i], SIGKILL);
            waitpid(live[i], NULL, 0);
            live[i] = 0;
        }
}

static void track(pid_t pid, bool add)
{
    for (int i = 0; i < MAX_LIVE; i++)
        if (add ? live[i] == 0 : live[i] == pid) {
            live[i] = add ? pid : 0;
            return;
        }
    ck_assert_msg(!add, "more than %d live children", MAX_LIVE);
}

double child_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void child_start(struct child *c, const char *const *args)
{
    if (!handler_installed) {
        atexit(kill_live_children);
        handler_installed = true;
    }
    const char *bin = getenv("RUNNEL");
    ck_assert_msg(bin && *bin, "RUNNEL is not set (run through meson test)");
    const char *argv[64];
    int argc = 0;
    argv[argc++] = bin;
    for (const char *const *a = args; *a; a++) {
        ck_assert_msg(argc < 63, "too many arguments");
        argv[argc++] = *a;
    }
    argv[argc] = NULL;

    memset(c, 0, sizeof *c);
    int out_p[2], err_p[2];
    ck_assert_int_eq(pipe2(out_p, O_CLOEXEC), 0);
    ck_assert_int_eq(pipe2(err_p, O_CLOEXEC), 0);
    pid_t parent = getpid();
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        /* dies with the test process: a failed assertion ends it with _exit, past any handler */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) || getppid() != parent) _exit(127);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        signal(SIGPIPE, SIG_DFL);
        signal(SIGUSR1, SIG_DFL);
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
    c->pid = pid;
    c->out_fd = out_p[0];
    c->err_fd = err_p[0];
    track(pid, true);
    for (int i = 0; i < 2; i++) {
        struct child_text *t = i ? &c->err : &c->out;
        t->cap = 8192;
        t->buf = malloc(t->cap);
        ck_assert(t->buf);
        t->buf[0] = 0;
    }
}

static void read_into(struct child_text *t, int *fd)
{
    if (t->len + 4096 + 1 > t->cap) {
        t->cap *= 2;
        t->buf = realloc(t->buf, t->cap);
        ck_assert(t->buf);
    }
    ssize_t n = read(*fd, t->buf + t->len, t->cap - t->len - 1);
    if (n > 0) {
        t->len += (size_t)n;
        t->buf[t->len] = 0;
    } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
        close(*fd);
        *fd = -1;
    }
}

bool child_pump(struct child *c, int ms)
{
    if (c->exited) return true;
    struct pollfd pf[2];
    nfds_t n = 0;
    if (c->out_fd >= 0) pf[n++] = (struct pollfd){.fd = c->out_fd, .events = POLLIN};
    if (c->err_fd >= 0) pf[n++] = (struct pollfd){.fd = c->err_fd, .events = POLLIN};
    if (n) {
        if (poll(pf, n, ms) > 0)
            for (nfds_t k = 0; k < n; k++)
                if (pf[k].revents) {
                    bool is_out = pf[k].fd == c->out_fd;
                    read_into(is_out ? &c->out : &c->err, is_out ? &c->out_fd : &c->err_fd);
                }
    } else if (ms > 0) {
        usleep((useconds_t)ms * 1000);
    }
    /* runnel forks nothing: both pipes at end of file means it has ended */
    if (c->out_fd < 0 && c->err_fd < 0 && waitpid(c->pid, &c->status, 0) == c->pid) {
        c->exited = true;
        track(c->pid, false);
    }
    return c->exited;
}

void child_kill(struct child *c)
{
    if (c->exited) return;
    kill(c->pid, SIGKILL);
    c->killed = true;
    while (!child_pump(c, 50)) {
    }
}

bool child_wait(struct child *c, double timeout_s)
{
    double deadline = child_now() + timeout_s;
    while (!child_pump(c, 50))
        if (child_now() > deadline) {
            child_kill(c);
            return false;
        }
    return true;
}

int child_exit_code(const struct child *c)
{
    return c->exited && WIFEXITED(c->status) ? WEXITSTATUS(c->status) : -1;
}

void child_free(struct child *c)
{
    if (!c->out.buf) return;   /* never started */
    if (!c->exited) child_kill(c);
    if (c->out_fd >= 0) close(c->out_fd);
    if (c->err_fd >= 0) close(c->err_fd);
    free(c->out.buf);
    free(c->err.buf);
    memset(c, 0, sizeof *c);
    c->out_fd = c->err_fd = -1;
}

/* ---- a directory per test case ---- */

static char *saved_tmpdir;
static bool had_tmpdir;

char *child_case_dir_make(const char *prefix)
{
    const char *t = getenv("TMPDIR");
    had_tmpdir = t != NULL;
    saved_tmpdir = t ? strdup(t) : NULL;
    char *dir = NULL;
    if (asprintf(&dir, "%s/%s-XXXXXX", t && *t ? t : "/tmp", prefix) < 0) dir = NULL;
    ck_assert_msg(dir && mkdtemp(dir), "cannot make a directory for the test case under %s", t && *t ? t : "/tmp");
    setenv("TMPDIR", dir, 1);
    return dir;
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void child_case_dir_remove(char *dir)
{
    if (dir) nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free(dir);
    if (had_tmpdir && saved_tmpdir) setenv("TMPDIR", saved_tmpdir, 1);
    else unsetenv("TMPDIR");
    free(saved_tmpdir);
    saved_tmpdir = NULL;
}

int child_completed_checkpoints(const char *log)
{
    int n = 0;
    for (const char *p = log; (p = strstr(p, "runnel: checkpoint ")); p++) {
        const char *q = p + strlen("runnel: checkpoint ");
        while (*q >= '0' && *q <= '9') q++;
        if (!strncmp(q, " completed", 10)) n++;
    }
    return n;
}
