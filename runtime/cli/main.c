/*
 * main.c — the `runnel` command line tool: dispatches to a subcommand from the table below.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "rn_config.h"

static int cmd_version(int argc, char **argv);
static int cmd_help(int argc, char **argv);

static const struct rn_cli_command commands[] = {
    {"run", "run a job file on this machine", rn_cli_run},
    {"validate", "check job files without running them", rn_cli_validate},
    {"savepoint", "take a savepoint of a running job (and stop it)", rn_cli_savepoint},
    {"checkpoints", "list a job's checkpoints and savepoints", rn_cli_checkpoints},
    {"operators", "list the operators, or describe one", rn_cli_operators},
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

static int cmd_help(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    printf("usage: runnel <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < N_COMMANDS; i++) printf("  %-10s %s\n", commands[i].name, commands[i].summary);
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
