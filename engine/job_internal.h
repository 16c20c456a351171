/*
 * job_internal.h — what the job validator's files share (job.c, job_pb.c): the validator's
 * state and its error reporting.
 */
#ifndef RN_JOB_INTERNAL_H
#define RN_JOB_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>

#include "runnel/job.h"

struct validator {
    const char *file;
    struct rn_job_errors *errs;
    bool failed;
    int node_line, node_col;   /* the node being read, for errors about absent fields */
    struct rn_job *job;        /* the job being validated */
};

void rn__job_error_v(struct validator *v, const char *node, int line, int col, const char *fmt, va_list ap);
void rn__job_error(struct validator *v, const char *node, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* Validates a value tree (taken over) into a job. */
int rn__job_from_value(const char *file, rn_value *root, const rn_registry *reg, struct rn_job **out,
                       struct rn_job_errors *errs);
/* Compiles the expression scalar at against s; errors point into the expression in the file. */
int rn__compile_at(struct validator *v, const char *node, const rn_value *at, const char *what,
                   const rn_schema *s, rn_expr **out);
/* Maps a position inside an expression scalar to its position in the job file. */
void rn__expr_error_position(const rn_value *at, const struct rn_error *err, int *line, int *col);

#endif
