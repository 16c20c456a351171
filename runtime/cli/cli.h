/*
 * cli.h — what the `runnel` subcommands share: the command table entry and error printing.
 * Exit codes: 0 success, 1 a failure while running, 2 bad usage or invalid input.
 */
#ifndef RN_CLI_H
#define RN_CLI_H

#include <stdint.h>

#include "runnel/batch.h"
#include "runnel/error.h"
#include "runnel/job.h"

struct rn_cli_command {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv);   /* argv[0] is the subcommand name */
};

int rn_cli_eval(int argc, char **argv);
int rn_cli_run(int argc, char **argv);
int rn_cli_validate(int argc, char **argv);
int rn_cli_operators(int argc, char **argv);
int rn_cli_savepoint(int argc, char **argv);
int rn_cli_checkpoints(int argc, char **argv);
/* cmd_remote.c: the verbs that talk to a job manager's REST API; savepoint_dispatch picks the
 * local form (rn_cli_savepoint: JOB.yaml, --dir) or the remote one (JOB_ID) */
int rn_cli_submit(int argc, char **argv);
int rn_cli_list(int argc, char **argv);
int rn_cli_status(int argc, char **argv);
int rn_cli_cancel(int argc, char **argv);
int rn_cli_stop(int argc, char **argv);
int rn_cli_savepoint_dispatch(int argc, char **argv);
/* cmd_cluster.c: the cluster processes */
int rn_cli_jobmanager(int argc, char **argv);
int rn_cli_taskmanager(int argc, char **argv);
int rn_cli_minicluster(int argc, char **argv);

/* `runnel run`'s side of `runnel savepoint` (cmd_checkpoint.c): asked = SIGUSR1 arrived; called
 * every loop turn until the request is answered. */
struct rn_runner;
struct rn_cli_savepoint {
    bool active, stop;
    int64_t id, asked_ms;
    char dir[4096];
    char nonce[64];
};
void rn_cli_savepoint_poll(struct rn_cli_savepoint *sp, struct rn_runner *r, const struct rn_job *job, bool asked);

/* The registry: built-in operators and the plugin directory's plugins; NULL after printing why. */
rn_registry *rn_cli_registry(const char *plugin_dir);
/* Takes --plugin-dir DIR out of argv (anywhere); returns DIR or NULL. */
const char *rn_cli_take_plugin_dir(int *argc, char **argv);

/* Prints "runnel: <what>: line:col: message", then the source line and a caret under the
 * column when the error has a position. */
void rn_cli_print_error(const char *what, const char *source, const struct rn_error *err);

/* The demo table that `runnel eval` reads: synthetic auction bids, generated in batches. */
const rn_schema *rn_demo_bids_schema(void);
/* Fills b (of rn_demo_bids_schema, capacity >= n) with bids first .. first + n - 1. */
int rn_demo_bids_fill(struct rn_batch *b, uint64_t first, uint32_t n);

#endif
