/*
 * main.c — the `runnel` command line tool: dispatches to a subcommand from the table below.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "rn_config.h"

static int cmd_version(int argc, char **argv);
static int cmd_help(int argc, char **argv);
static int cmd_kafka(int argc, char **argv);

static const struct rn_cli_command commands[] = {
    {"run", "run a job file on this machine", rn_cli_run},
    {"validate", "check job files without running them", rn_cli_validate},
    {"submit", "submit a job file to a job manager", rn_cli_submit},
    {"list", "list a job manager's jobs", rn_cli_list},
    {"status", "show a job on a job manager: state, vertices, rates", rn_cli_status},
    {"cancel", "cancel a job on a job manager", rn_cli_cancel},
    {"savepoint", "take a savepoint of a job (JOB_ID on a job manager, or JOB.yaml of a local run)", rn_cli_savepoint_dispatch},
    {"stop", "stop a job on a job manager with a savepoint", rn_cli_stop},
    {"checkpoints", "list a job's checkpoints and savepoints", rn_cli_checkpoints},
    {"jobmanager", "run a job manager (REST API, scheduling, task manager registry)", rn_cli_jobmanager},
    {"taskmanager", "run a task manager that registers its slots with a job manager", rn_cli_taskmanager},
    {"minicluster", "run a job manager and N task managers on this machine", rn_cli_minicluster},
    {"operators", "list the operators, or describe one", rn_cli_operators},
    {"kafka", "a Kafka mock cluster, producer and reader (runs runnel-kafka)", cmd_kafka},
    {"eval", "evaluate a filter and projections over generated bid rows", rn_cli_eval},
    {"version", "print the version and build options", cmd_version},
    {"help", "list the commands", cmd_help},
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

static int cmd_version(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    printf("runnel %s (cuda: %s)\n", RN_VERSION, RN_HAVE_CUDA ? "built" : "not built");
    return 0;
}

/* `runnel kafka ...` runs runnel-kafka from runnel's own directory (a separate binary, so that
 * runnel never links librdkafka) with the remaining arguments. */
static int cmd_kafka(int argc, char **argv)
{
    (void)argc;
    char path[4096];
    ssize_t n = readlink("/proc/self/exe", path, sizeof path - 16);
    if (n <= 0) {
        fprintf(stderr, "runnel kafka: cannot find runnel's own path: %s\n", strerror(errno));
        return 1;
    }
    path[n] = '\0';
    char *slash = strrchr(path, '/');
    strcpy(slash ? slash + 1 : path, "runnel-kafka");
    argv[0] = path;
    execv(path, argv);
    fprintf(stderr, "runnel kafka: cannot run %s: %s (it is built and installed next to runnel)\n", path,
            strerror(errno));
    return 1;
}

static int cmd_help(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    printf("usage: runnel <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < N_COMMANDS; i++) printf("  %-12s %s\n", commands[i].name, commands[i].summary);
    printf("\n`runnel <command> --help` describes a command.\n");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        cmd_help(0, NULL);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) return cmd_help(0, NULL);
    if (!strcmp(argv[1], "--version")) return cmd_version(0, NULL);
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "runnel: unknown command '%s' (try `runnel help`)\n", argv[1]);
    return 2;
}
