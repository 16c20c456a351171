/*
 * cmd_checkpoint.c — the checkpoint commands: `runnel savepoint JOB.yaml` asks the `runnel run`
 * of that job for a savepoint (optionally stopping the job), `runnel checkpoints DIR` lists a
 * job's checkpoints and savepoints; and the run side of the savepoint request, which
 * `runnel run` polls.
 *
 * The request travels through the job's checkpoint directory (<dir>/<job>, which a run holds
 * locked with its pid in .lock): the CLI writes savepoint.request (atomically) and sends the run
 * SIGUSR1; the run takes the savepoint and answers in savepoint.<nonce>.result. Only someone who
 * may write that directory and signal that process can ask.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "runnel/checkpoint.h"
#include "runnel/runner.h"

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Writes text to path atomically (temporary name, rename). */
static int write_atomic(const char *path, const char *text)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) return -1;
    bool ok = fputs(text, f) >= 0;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path)) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

/* ---- the run side ---- */

void rn_cli_savepoint_poll(struct rn_cli_savepoint *sp, rn_runner *r, const struct rn_job *job, bool asked)
{
    char req[4200];
    if (asked && !sp->active) {
        /* a request: savepoint.request when the CLI wrote one, else a savepoint where the job says */
        snprintf(req, sizeof req, "%s/%s/savepoint.request", job->checkpoint.dir, job->name);
        memset(sp, 0, sizeof *sp);
        FILE *f = fopen(req, "r");
        char line[4200];
        while (f && fgets(line, sizeof line, f)) {
            line[strcspn(line, "\n")] = 0;
            if (!strncmp(line, "dir=", 4)) snprintf(sp->dir, sizeof sp->dir, "%.4000s", line + 4);
            else if (!strcmp(line, "stop=1")) sp->stop = true;
            else if (!strncmp(line, "nonce=", 6)) snprintf(sp->nonce, sizeof sp->nonce, "%.60s", line + 6);
        }
        if (f) {
            fclose(f);
            unlink(req);
        }
        for (char *c = sp->nonce; *c; c++)
            if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'z') || *c == '-')) *c = '_';
        sp->active = true;
        sp->id = 0;
        sp->asked_ms = now_ms();
    }
    if (!sp->active) return;
    struct rn_error err;
    char result[4400] = "";
    if (!sp->id) {
        int rc = rn_runner_trigger(r, true, sp->dir[0] ? sp->dir : NULL, sp->stop, &sp->id, &err);
        if (rc == RN_EAGAIN && now_ms() - sp->asked_ms < 60000) return;   /* a checkpoint is in flight: later */
        if (rc) snprintf(result, sizeof result, "error %s\n", err.msg);
        else fprintf(stderr, "runnel: savepoint %" PRId64 " triggered%s\n", sp->id, sp->stop ? " (the job stops after it)" : "");
    }
    if (!result[0]) {
        char path[1024];
        int rc = rn_runner_wait_checkpoint(r, sp->id, 0, path, sizeof path, &err);
        if (rc == RN_EAGAIN) return;
        if (rc) snprintf(result, sizeof result, "error savepoint %" PRId64 " failed: %s\n", sp->id, err.msg);
        else snprintf(result, sizeof result, "ok %s\n", path);
    }
    fprintf(stderr, "runnel: %s", result[0] == 'o' ? "savepoint written to " : "");
    fputs(result[0] == 'o' ? result + 3 : result + 6, stderr);
    if (sp->nonce[0]) {
        char out[4200];
        snprintf(out, sizeof out, "%s/%s/savepoint.%s.result", job->checkpoint.dir, job->name, sp->nonce);
        if (write_atomic(out, result)) fprintf(stderr, "runnel: cannot answer the savepoint request in %s: %s\n", out, strerror(errno));
    }
    sp->active = false;
}

/* ---- runnel savepoint ---- */

int rn_cli_savepoint(int argc, char **argv)
{
    const char *plugin_dir = rn_cli_take_plugin_dir(&argc, argv);
    static const struct option opts[] = {
        {"dir", required_argument, NULL, 'd'}, {"stop", no_argument, NULL, 's'},
        {"timeout", required_argument, NULL, 't'}, {"help", no_argument, NULL, 'h'}, {0, 0, 0, 0},
    };
    const char *dir = NULL;
    bool stop = false;
    long timeout_s = 120;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'd') dir = optarg;
        else if (c == 's') stop = true;
        else if (c == 't') timeout_s = strtol(optarg, NULL, 10);
        else {
            fprintf(c == 'h' ? stdout : stderr,
                    "usage: runnel savepoint JOB.yaml [--dir DIR] [--stop] [--timeout SECONDS] [--plugin-dir DIR]\n"
                    "Asks the `runnel run` of JOB.yaml (found through its checkpoint directory) for a savepoint into DIR\n"
                    "(default: the job's savepoint_dir); --stop ends the job once it is written. Prints its directory.\n");
            return c == 'h' ? 0 : 2;
        }
    }
    if (optind + 1 != argc || timeout_s <= 0) {
        fprintf(stderr, "usage: runnel savepoint JOB.yaml [--dir DIR] [--stop] [--timeout SECONDS]\n");
        return 2;
    }
    rn_registry *reg = rn_cli_registry(plugin_dir);
    if (!reg) return 2;
    struct rn_job_errors errs = {0};
    struct rn_job *job = NULL;
    int rc = 2;
    if (rn_job_load(argv[optind], reg, &job, &errs)) {
        rn_job_errors_print(&errs, stderr);
        goto out;
    }
    if (!job->checkpoint.enabled) {
        fprintf(stderr, "runnel: %s: job '%s' has no checkpoint block, so it takes no savepoints\n", argv[optind], job->name);
        goto out;
    }
    char jd[4096], lock[4200], req[4200], res[4300], nonce[64], text[4400];
    snprintf(jd, sizeof jd, "%s/%s", job->checkpoint.dir, job->name);
    snprintf(lock, sizeof lock, "%s/.lock", jd);
    int fd = open(lock, O_RDONLY | O_CLOEXEC);
    if (fd >= 0 && !flock(fd, LOCK_SH | LOCK_NB)) {   /* nobody holds it: no run */
        close(fd);
        fd = -1;
        errno = ESRCH;
    }
    char pidtext[32] = "";
    if (fd >= 0) {
        ssize_t n = pread(fd, pidtext, sizeof pidtext - 1, 0);
        pidtext[n > 0 ? n : 0] = 0;
        close(fd);
    }
    long pid = strtol(pidtext, NULL, 10);
    if (pid <= 0) {
        fprintf(stderr, "runnel: no `runnel run` of job '%s' is running (%s is not held)\n", job->name, lock);
        rc = 1;
        goto out;
    }
    if (dir && dir[0] != '/') {
        char cwd[2048];
        if (!getcwd(cwd, sizeof cwd)) cwd[0] = 0;
        static char abs_dir[4200];
        snprintf(abs_dir, sizeof abs_dir, "%s/%s", cwd, dir);
        dir = abs_dir;
    }
    snprintf(nonce, sizeof nonce, "%d-%" PRId64, (int)getpid(), now_ms());
    snprintf(req, sizeof req, "%s/savepoint.request", jd);
    snprintf(res, sizeof res, "%s/savepoint.%s.result", jd, nonce);
    snprintf(text, sizeof text, "nonce=%s\nstop=%d\n%s%s%s", nonce, stop, dir ? "dir=" : "", dir ? dir : "", dir ? "\n" : "");
    if (write_atomic(req, text)) {
        fprintf(stderr, "runnel: cannot write %s: %s\n", req, strerror(errno));
        rc = 1;
        goto out;
    }
    if (kill((pid_t)pid, SIGUSR1)) {
        fprintf(stderr, "runnel: cannot signal the run (pid %ld): %s\n", pid, strerror(errno));
        unlink(req);
        rc = 1;
        goto out;
    }
    rc = 1;
    for (int64_t deadline = now_ms() + timeout_s * 1000; now_ms() < deadline; usleep(20000)) {
        FILE *f = fopen(res, "r");
        if (!f) {
            /* the run ended without answering (it held the lock until then) */
            int lfd = open(lock, O_RDONLY | O_CLOEXEC);
            bool gone = lfd >= 0 && !flock(lfd, LOCK_SH | LOCK_NB);
            if (lfd >= 0) close(lfd);
            if (gone && access(res, F_OK)) {
                fprintf(stderr, "runnel: the run (pid %ld) ended without answering\n", pid);
                unlink(req);
                goto out;
            }
            continue;
        }
        char line[4400] = "";
        if (!fgets(line, sizeof line, f)) line[0] = 0;
        fclose(f);
        unlink(res);
        line[strcspn(line, "\n")] = 0;
        if (!strncmp(line, "ok ", 3)) {
            printf("%s\n", line + 3);
            rc = 0;
        } else {
            fprintf(stderr, "runnel: %s\n", strncmp(line, "error ", 6) ? line : line + 6);
        }
        goto out;
    }
    fprintf(stderr, "runnel: no answer from the run (pid %ld) within %ld s\n", pid, timeout_s);
out:
    rn_job_errors_free(&errs);
    rn_job_free(job);
    rn_registry_destroy(reg);
    return rc;
}

/* ---- runnel checkpoints ---- */

int rn_cli_checkpoints(int argc, char **argv)
{
    if (argc != 2 || argv[1][0] == '-') {
        fprintf(argc == 2 && !strcmp(argv[1], "--help") ? stdout : stderr,
                "usage: runnel checkpoints DIR\n"
                "Lists the checkpoints and savepoints of a job's checkpoint directory (<checkpoint dir>/<job name>),\n"
                "checking each: id, kind, time (UTC), size and directory.\n");
        return argc == 2 && !strcmp(argv[1], "--help") ? 0 : 2;
    }
    struct rn_error err;
    int n = rn_checkpoint_list(argv[1], stdout, &err);
    if (n < 0) {
        fprintf(stderr, "runnel: %s\n", err.msg);
        return 2;
    }
    if (n == 0) fprintf(stderr, "runnel: %s holds no usable checkpoint\n", argv[1]);
    return n ? 0 : 1;
}
