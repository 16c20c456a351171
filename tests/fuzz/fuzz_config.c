/*
 * fuzz_config.c — libFuzzer target for the configuration file parser of runnel's processes
 * (runtime/config.c through rn_config_load_text): what `--config conf.yaml` reads, written by
 * a person or a template and possibly broken in any way.
 *
 * Any input must be accepted or refused with an error that says why, naming the file; never a
 * crash, a leak, a hang or a read outside the input. After an accepted input the config must
 * still describe itself and pass or fail its cross-key check cleanly. The first line is also
 * tried as a `-D key=value` flag and as the value of an environment variable, so the value
 * parsers of every type see arbitrary text. Seeds: tests/fuzz/corpus/config/.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static FILE *devnull;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!devnull && !(devnull = fopen("/dev/null", "w"))) abort();
    rn_config *c = rn_config_create();
    if (!c) abort();
    struct rn_error err;
    rn_error_clear(&err);
    int rc = rn_config_load_text(c, (const char *)data, size, "fuzz.yaml", &err);
    if (rc && strncmp(err.msg, "fuzz.yaml", 9)) abort();   /* every refusal names the file */
    if (!rc) {
        rn_config_describe(c, devnull);
        rn_config_check(c, &err);
    }

    /* the first line (up to 300 bytes, without NULs) as a flag and as variables */
    char line[320];
    size_t n = 0;
    while (n < size && n < 300 && data[n] != '\n' && data[n] != 0) n++;
    memcpy(line, "-D", 2);
    memcpy(line + 2, data, n);
    line[n + 2] = 0;
    char *argv[] = {"fuzz", line, NULL};
    int i = 1;
    rn_error_clear(&err);
    rc = rn_config_arg(c, 2, argv, &i, &err);
    if (rc < 0 && !err.msg[0]) abort();
    const char *eq = memchr(data, '=', n);
    if (eq) {
        char var[340];
        const char *names[] = {"RUNNEL_REST_PORT", "RUNNEL_HEARTBEAT_TIMEOUT", "RUNNEL_REST_MAX_BODY",
                               "RUNNEL_JOBMANAGER_ADDRESS", "RUNNEL_LOG_FORMAT"};
        for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
            snprintf(var, sizeof var, "%s=%.*s", names[k], (int)(n - (size_t)(eq + 1 - (const char *)data)), eq + 1);
            char *env[] = {var, NULL};
            rn_error_clear(&err);
            if (rn_config_load_env(c, env, &err) < 0 && strncmp(err.msg, names[k], strlen(names[k]))) abort();
        }
    }
    rn_config_describe(c, devnull);
    rn_config_destroy(c);
    return 0;
}
