/*
 * file_sink.c — `file_sink`: writes rows as JSON lines or CSV into a directory, one file per
 * subtask (part-<subtask>.jsonl / .csv), timestamps as integer milliseconds. Rows are encoded
 * into a buffer and written in large blocks; the file is flushed at the end of input. The
 * directory is created when missing; existing part files are replaced.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "builtin.h"
#include "textfmt.h"

#define FLUSH_BYTES (1u << 20)

static const struct rn_option options[] = {
    {"path", RN_OPT_STRING, NULL, "the output directory"},
    {"format", RN_OPT_STRING, "jsonl", "jsonl or csv"},
    {"delimiter", RN_OPT_STRING, "','", "CSV field delimiter (one character)"},
    {NULL, 0, NULL, NULL},
};

struct state {
    FILE *f;
    char *path;
    enum rn_text_format fmt;
    char delim;
    struct rn_text_buf buf;
};

static int read_format(const rn_value *opts, enum rn_text_format *fmt, char *delim)
{
    const char *d = rn_opt_string(opts, "delimiter");
    *delim = d && d[0] ? d[0] : ',';
    if (d && strlen(d) != 1) return RN_EINVAL;
    return rn_text_format_parse(rn_opt_string(opts, "format"), fmt);
}

static int plan(struct rn_plan_ctx *ctx)
{
    enum rn_text_format fmt;
    char delim;
    const rn_value *o = rn_plan_options(ctx);
    if (rn_text_format_parse(rn_opt_string(o, "format"), &fmt))
        return rn_plan_error(ctx, rn_opt_value(o, "format"), "format must be jsonl or csv");
    if (read_format(o, &fmt, &delim)) return rn_plan_error(ctx, rn_opt_value(o, "delimiter"), "delimiter must be one character");
    const char *path = rn_opt_string(o, "path");
    if (!path || !*path) return rn_plan_error(ctx, rn_opt_value(o, "path"), "path must name a directory");
    return 0;
}

static int mkdirs(const char *path)
{
    char tmp[4096];
    size_t n = strlen(path);
    if (n >= sizeof tmp) return ENAMETOOLONG;
    memcpy(tmp, path, n + 1);
    for (char *p = tmp + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            if (mkdir(tmp, 0777) && errno != EEXIST) return errno;
            *p = '/';
        }
    if (mkdir(tmp, 0777) && errno != EEXIST) return errno;
    return 0;
}

static int open_(struct rn_op_ctx *ctx, void **state)
{
    struct state *s = calloc(1, sizeof *s);
    if (!s) return RN_ENOMEM;
    *state = s;
    const rn_value *o = rn_op_options(ctx);
    read_format(o, &s->fmt, &s->delim);
    const char *dir = rn_opt_string(o, "path");
    int e = mkdirs(dir);
    if (e) {
        rn_op_error(ctx, "cannot create directory '%s': %s", dir, strerror(e));
        return RN_EIO;
    }
    size_t len = strlen(dir) + 32;
    if (!(s->path = malloc(len))) return RN_ENOMEM;
    snprintf(s->path, len, "%s/part-%u.%s", dir, rn_op_subtask(ctx), s->fmt == RN_FMT_CSV ? "csv" : "jsonl");
    if (!(s->f = fopen(s->path, "wb"))) {
        rn_op_error(ctx, "cannot create '%s': %s", s->path, strerror(errno));
        return RN_EIO;
    }
    if (rn_text_encode_header(s->fmt, s->delim, rn_op_input_schema(ctx, 0), &s->buf)) return RN_ENOMEM;
    return 0;
}

static int flush(struct state *s, struct rn_op_ctx *ctx)
{
    if (s->buf.len && fwrite(s->buf.data, 1, s->buf.len, s->f) != s->buf.len) {
        rn_op_error(ctx, "cannot write '%s': %s", s->path, strerror(errno));
        return RN_EIO;
    }
    s->buf.len = 0;
    return 0;
}

static int process(void *state, struct rn_op_ctx *ctx, uint32_t input, const struct rn_batch *b)
{
    (void)input;
    struct state *s = state;
    for (uint32_t i = 0; i < b->n_rows; i++)
        if (rn_text_encode_row(s->fmt, s->delim, b, i, &s->buf)) return RN_ENOMEM;
    return s->buf.len >= FLUSH_BYTES ? flush(s, ctx) : 0;
}

static int finish(void *state, struct rn_op_ctx *ctx)
{
    struct state *s = state;
    int rc = flush(s, ctx);
    if (!rc && fflush(s->f)) {
        rn_op_error(ctx, "cannot write '%s': %s", s->path, strerror(errno));
        rc = RN_EIO;
    }
    return rc;
}

static void close_(void *state, struct rn_op_ctx *ctx)
{
    (void)ctx;
    struct state *s = state;
    if (!s) return;
    if (s->f) fclose(s->f);
    rn_text_buf_free(&s->buf);
    free(s->path);
    free(s);
}

const struct rn_operator_def rn_op_file_sink = {
    .abi_version = RN_OPERATOR_ABI, .struct_size = sizeof(struct rn_operator_def),
    .name = "file_sink", .description = "writes rows as JSON lines or CSV, one file per subtask",
    .options = options, .n_inputs_min = 1, .n_inputs_max = 1, .flags = RN_OP_SINK,
    .plan = plan, .open = open_, .process = process, .finish = finish, .close = close_,
};
