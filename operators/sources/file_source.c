/*
 * file_source.c — `file_source`: reads JSON lines or CSV files into batches of a declared
 * schema. `path` is a file, a directory (its regular files, sorted) or a glob; files are split
 * over the subtasks (file i goes to subtask i mod parallelism). A malformed line fails the job
 * with the file name, line number and what was wrong; with `on_error: skip` it is counted,
 * skipped and reported at the end.
 */
#include <dirent.h>
#include <stdatomic.h>
#include <errno.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "builtin.h"
#include "textfmt.h"

static const struct rn_option options[] = {
    {"path", RN_OPT_STRING, NULL, "a file, a directory of files, or a glob such as data/*.csv"},
    {"format", RN_OPT_STRING, NULL, "jsonl or csv"},
    {"schema", RN_OPT_SCHEMA, NULL, "the columns: {name: type, ...}"},
    {"on_error", RN_OPT_STRING, "fail", "fail (the job fails naming file and line) or skip (count and skip)"},
    {"delimiter", RN_OPT_STRING, "','", "CSV field delimiter (one character)"},
    {NULL, 0, NULL, NULL},
};

struct files {
    size_t n;
    char **paths;
};

static void files_free(struct files *f)
{
    for (size_t i = 0; i < f->n; i++) free(f->paths[i]);
    free(f->paths);
    f->n = 0;
    f->paths = NULL;
}

static int add_file(struct files *f, const char *path)
{
    char **p = realloc(f->paths, (f->n + 1) * sizeof *p);
    if (!p) return RN_ENOMEM;
    f->paths = p;
    if (!(f->paths[f->n] = strdup(path))) return RN_ENOMEM;
    f->n++;
    return 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Expands path (file, directory or glob) into a sorted list of regular files. */
static int list_files(const char *path, struct files *out, char *why, size_t why_len)
{
    struct stat st;
    memset(out, 0, sizeof *out);
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (!d) return snprintf(why, why_len, "cannot read directory '%s': %s", path, strerror(errno)), RN_EIO;
        struct dirent *e;
        while ((e = readdir(d))) {
            if (e->d_name[0] == '.') continue;
            char full[4096];
            snprintf(full, sizeof full, "%s/%s", path, e->d_name);
            if (stat(full, &st) == 0 && S_ISREG(st.st_mode) && add_file(out, full)) {
                closedir(d);
                return RN_ENOMEM;
            }
        }
        closedir(d);
    } else if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
        if (add_file(out, path)) return RN_ENOMEM;
    } else {
        glob_t g;
        int rc = glob(path, 0, NULL, &g);
        if (rc == 0)
            for (size_t i = 0; i < g.gl_pathc; i++)
                if (stat(g.gl_pathv[i], &st) == 0 && S_ISREG(st.st_mode) && add_file(out, g.gl_pathv[i])) {
                    globfree(&g);
                    return RN_ENOMEM;
                }
        if (rc == 0) globfree(&g);
    }
    if (out->n == 0) {
        snprintf(why, why_len, "no file matches '%s'", path);
        return RN_EIO;
    }
    qsort(out->paths, out->n, sizeof *out->paths, cmp_str);
    return 0;
}

static int read_options(const rn_value *o, enum rn_text_format *fmt, char *delim, bool *skip)
{
    const char *d = rn_opt_string(o, "delimiter"), *e = rn_opt_string(o, "on_error");
    *delim = d && d[0] ? d[0] : ',';
    *skip = e && !strcmp(e, "skip");
    if (rn_text_format_parse(rn_opt_string(o, "format"), fmt)) return 1;
    if (!d || strlen(d) != 1) return 2;
    if (!e || (strcmp(e, "skip") && strcmp(e, "fail"))) return 3;
    return 0;
}

static int plan(struct rn_plan_ctx *ctx)
{
    const rn_value *o = rn_plan_options(ctx);
    enum rn_text_format fmt;
    char delim;
    bool skip;
    switch (read_options(o, &fmt, &delim, &skip)) {
    case 1: return rn_plan_error(ctx, rn_opt_value(o, "format"), "format must be jsonl or csv");
    case 2: return rn_plan_error(ctx, rn_opt_value(o, "delimiter"), "delimiter must be one character");
    case 3: return rn_plan_error(ctx, rn_opt_value(o, "on_error"), "on_error must be fail or skip");
    }
    rn_schema *s;
    struct rn_error err;
    if (rn_value_schema(rn_opt_value(o, "schema"), &s, &err)) return rn_plan_error(ctx, rn_opt_value(o, "schema"), "%s", err.msg);
    rn_plan_set_output(ctx, s);
    rn_schema_unref(s);
    return 0;
}

struct state {
    struct files files;
    size_t next_file;            /* index into files of this subtask's next file */
    FILE *f;
    const char *path;
    uint64_t line_no, skipped;
    char *line;
    size_t line_cap;
    rn_text_decoder *dec;
    rn_builder *bb;
    bool skip;
    enum rn_text_format fmt;
    _Atomic uint64_t *skipped_metric;
};

static int open_(struct rn_op_ctx *ctx, void **state)
{
    struct state *s = calloc(1, sizeof *s);
    if (!s) return RN_ENOMEM;
    *state = s;
    const rn_value *o = rn_op_options(ctx);
    char delim, why[512];
    read_options(o, &s->fmt, &delim, &s->skip);
    int rc = list_files(rn_opt_string(o, "path"), &s->files, why, sizeof why);
    if (rc) {
        rn_op_error(ctx, "%s", rc == RN_ENOMEM ? "out of memory" : why);
        return rc;
    }
    s->next_file = rn_op_subtask(ctx);
    s->skipped_metric = rn_op_metric(ctx, "skipped_lines");
    s->dec = rn_text_decoder_create(s->fmt, rn_op_output_schema(ctx), delim);
    s->bb = rn_builder_create(rn_op_output_schema(ctx), 0);
    return s->dec && s->bb ? 0 : RN_ENOMEM;
}

/* Opens this subtask's next file and reads its CSV header; RN_EEND when there is none left. */
static int next_file(struct state *s, struct rn_op_ctx *ctx)
{
    if (s->next_file >= s->files.n) return RN_EEND;
    s->path = s->files.paths[s->next_file];
    s->next_file += rn_op_parallelism(ctx);
    s->line_no = 0;
    if (!(s->f = fopen(s->path, "rb"))) {
        rn_op_error(ctx, "cannot open '%s': %s", s->path, strerror(errno));
        return RN_EIO;
    }
    return 0;
}

static int poll_(void *state, struct rn_op_ctx *ctx)
{
    struct state *s = state;
    struct rn_error err;
    while (!rn_builder_full(s->bb)) {
        if (!s->f) {
            int rc = next_file(s, ctx);
            if (rc == RN_EEND) break;
            if (rc) return rc;
            if (s->fmt == RN_FMT_CSV) {   /* each CSV file starts with its header */
                ssize_t n = getline(&s->line, &s->line_cap, s->f);
                s->line_no = 1;
                while (n > 0 && (s->line[n - 1] == '\n' || s->line[n - 1] == '\r')) n--;
                if (n <= 0) {
                    fclose(s->f);
                    s->f = NULL;
                    continue;   /* an empty file */
                }
                if (rn_text_decoder_header(s->dec, s->line, (size_t)n, &err)) {
                    rn_op_error(ctx, "%s:1: %s", s->path, err.msg);
                    return RN_EINVAL;
                }
            }
        }
        ssize_t n = getline(&s->line, &s->line_cap, s->f);
        if (n < 0) {
            if (ferror(s->f)) {
                rn_op_error(ctx, "cannot read '%s': %s", s->path, strerror(errno));
                return RN_EIO;
            }
            fclose(s->f);
            s->f = NULL;
            continue;
        }
        s->line_no++;
        while (n > 0 && (s->line[n - 1] == '\n' || s->line[n - 1] == '\r')) n--;
        int rc = rn_text_decode_line(s->dec, s->line, (size_t)n, s->bb, &err);
        if (rc == RN_EEND) continue;
        if (rc == RN_ENOMEM) return rc;
        if (rc) {
            if (s->skip) {
                s->skipped++;
                if (s->skipped_metric) atomic_fetch_add(s->skipped_metric, 1);
                continue;
            }
            rn_op_error(ctx, "%s:%llu:%d: %s", s->path, (unsigned long long)s->line_no, err.column, err.msg);
            return RN_EINVAL;
        }
    }
    uint32_t rows = rn_builder_rows(s->bb);
    if (rows) {
        struct rn_batch *b = rn_builder_finish(s->bb, &err);
        if (!b) return RN_ENOMEM;
        int rc = rn_op_emit(ctx, b);
        if (rc) return rc;
    }
    if (!s->f && s->next_file >= s->files.n) {
        if (s->skipped) rn_op_log(ctx, "skipped %llu malformed lines", (unsigned long long)s->skipped);
        return RN_EEND;
    }
    return 0;
}

static void close_(void *state, struct rn_op_ctx *ctx)
{
    (void)ctx;
    struct state *s = state;
    if (!s) return;
    if (s->f) fclose(s->f);
    files_free(&s->files);
    free(s->line);
    rn_text_decoder_destroy(s->dec);
    rn_builder_destroy(s->bb);
    free(s);
}

const struct rn_operator_def rn_op_file_source = {
    .abi_version = RN_OPERATOR_ABI, .struct_size = sizeof(struct rn_operator_def),
    .name = "file_source", .description = "reads JSON lines or CSV files into rows of a declared schema",
    .options = options, .n_inputs_min = 0, .n_inputs_max = 0,
    .plan = plan, .open = open_, .poll = poll_, .close = close_,
};
