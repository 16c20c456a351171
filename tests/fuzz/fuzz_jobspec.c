/*
 * fuzz_jobspec.c — libFuzzer target for job files: the input is YAML text that goes through the
 * whole validator (YAML loading, job layout, every built-in operator's plan(), expressions in
 * options, key_by, watermarks, cycle detection). A valid job is also packed into the job graph
 * message, unpacked and validated again. Nothing may crash, leak or hang; an invalid job must
 * come back with at least one error that has a message.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builtin.h"
#include "runnel/job.h"

static rn_registry *reg;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!reg) {
        struct rn_error err;
        reg = rn_registry_create();
        if (!reg || rn_builtin_register(reg, &err)) abort();
    }
    struct rn_job_errors errs = {0};
    struct rn_job *job = NULL;
    int rc = rn_job_parse("fuzz.yaml", (const char *)data, size, reg, &job, &errs);
    if (rc == 0) {
        if (!job || errs.n) abort();
        uint8_t *packed = NULL;
        size_t len = 0;
        if (rn_job_pack(job, &packed, &len) == 0) {
            struct rn_job *again = NULL;
            struct rn_job_errors errs2 = {0};
            if (rn_job_unpack(packed, len, reg, &again, &errs2) != 0) {
                rn_job_errors_print(&errs2, stderr);
                abort();   /* a valid job must survive its own wire form */
            }
            if (again->n_nodes != job->n_nodes) abort();
            rn_job_free(again);
            rn_job_errors_free(&errs2);
            free(packed);
        }
        rn_job_free(job);
    } else {
        if (job || errs.n == 0) abort();
        for (size_t i = 0; i < errs.n; i++)
            if (!errs.items[i].msg || !errs.items[i].msg[0]) abort();
    }
    rn_job_errors_free(&errs);
    return 0;
}
