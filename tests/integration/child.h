/*
 * child.h — the `runnel` binary as a child process of an integration test, without blocking:
 * start it with pipes on stdout and stderr, read what it wrote so far while it runs (to act on
 * a line of its log), kill it, wait for it with a deadline. Every child still alive when the
 * test process ends is killed (and reaped on a normal exit; a failed assertion ends the test
 * process with _exit, and the kernel kills its children then: PR_SET_PDEATHSIG), so none
 * outlives its test.
 */
#ifndef RN_TEST_CHILD_H
#define RN_TEST_CHILD_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct child_text {
    char *buf;                 /* NUL-terminated, never NULL after child_start */
    size_t len, cap;
};

struct child {
    pid_t pid;
    int out_fd, err_fd;        /* -1 once at end of file */
    struct child_text out, err;
    bool exited;
    int status;                /* from waitpid, once exited */
    bool killed;               /* child_kill sent SIGKILL */
};

/* Starts the binary named by $RUNNEL with args (NULL-terminated): stdin /dev/null, default
 * signal dispositions, no RUNNEL_PLUGIN_DIR from the environment. Fails the test on error. */
void child_start(struct child *c, const char *const *args);
/* Reads what the child wrote, waiting up to ms for something; reaps it once it has ended and
 * its pipes are drained. Returns c->exited. */
bool child_pump(struct child *c, int ms);
/* Sends SIGKILL (when still running) and waits for the end. */
void child_kill(struct child *c);
/* Waits up to timeout_s for the end; past it kills the child and returns false. */
bool child_wait(struct child *c, double timeout_s);
/* Exit code, or -1 when it did not exit normally (a signal). */
int child_exit_code(const struct child *c);
void child_free(struct child *c);

/* Monotonic seconds. */
double child_now(void);

/* A directory for one test case, made in the parent process (a failed assertion ends a test
 * with _exit, past its teardown, and the parent's teardown removes what it left): makes
 * $TMPDIR/<prefix>-XXXXXX, points TMPDIR into it and returns it (the caller keeps it until
 * child_case_dir_remove, which removes it with everything in it and restores TMPDIR). */
char *child_case_dir_make(const char *prefix);
void child_case_dir_remove(char *dir);

/* Checkpoints (not savepoints, not the final one) that a runnel run's log (its stderr) says
 * completed: lines "runnel: checkpoint N completed ...". */
int child_completed_checkpoints(const char *log);

#endif
