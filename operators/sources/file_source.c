/*
 * file_source.c — `file_source`: reads JSON lines or CSV files into batches of a declared
 * schema. `path` is a file, a directory (its regular files, sorted) or a glob; files are split
 * over the subtasks (file i, in path order, goes to subtask i mod parallelism). A malformed line
 * fails the job with the file name, line number and what was wrong; with `on_error: skip` it is
 * counted, skipped and reported at the end.
 *
 * Checkpoints: a subtask records, per file it owns, the byte offset of the next unread line (a
 * whole line: a checkpoint falls between two batches, and a batch holds whole lines), its line
 * number, and whether the file is done, as elements of the union list "file_source.files".
 * Every restored subtask sees them all, lists `path` again, and deals the union of both out as
 * on a fresh start (file i in path order to subtask i mod parallelism, whatever the parallelism
 * was): done files are skipped, a started one is reopened (its CSV header read again) at its
 * offset, and a file that appeared since is read from its start. A recorded unfinished file
 * that is gone or shorter than its offset fails the restore rather than lose its rows.
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
    if (out->n) qsort(out->paths, out->n, sizeof *out->paths, cmp_str);
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

/* A file and how far it has been read. */
struct file {
    char *path;
    uint64_t offset;             /* of the next unread line; 0: not started */
    uint64_t line_no;            /* lines read (header included) */
    bool done;
};

struct state {
    struct files files;          /* what `path` lists at open() */
    struct file *all;            /* every file known, in path order */
    size_t n_all;
    size_t *mine, n_mine, k;     /* this subtask's files (indexes into all) and the current one */
    FILE *f;                     /* open: all[mine[k]] */
    struct file *cur;
    uint64_t skipped;
    char *line;
    size_t line_cap;
    rn_text_decoder *dec;
    rn_builder *bb;
    bool skip;
    enum rn_text_format fmt;
    _Atomic uint64_t *skipped_metric;
};

static void all_free(struct state *s)
{
    for (size_t i = 0; i < s->n_all; i++) free(s->all[i].path);
    free(s->all);
    free(s->mine);
    s->all = NULL;
    s->mine = NULL;
    s->n_all = s->n_mine = s->k = 0;
}

static int cmp_file(const void *a, const void *b)
{
    return strcmp(((const struct file *)a)->path, ((const struct file *)b)->path);
}

/* Sorts all by path and takes file i for subtask i mod parallelism. */
static int deal(struct state *s, struct rn_op_ctx *ctx)
{
    if (s->n_all) qsort(s->all, s->n_all, sizeof *s->all, cmp_file);
    uint32_t p = rn_op_parallelism(ctx), r = rn_op_subtask(ctx);
    free(s->mine);
    s->n_mine = s->k = 0;
    if (!(s->mine = malloc((s->n_all / p + 1) * sizeof *s->mine))) return RN_ENOMEM;
    for (size_t i = r; i < s->n_all; i += p) s->mine[s->n_mine++] = i;
    return 0;
}

/* Appends a file to all (path is copied). */
static struct file *all_add(struct state *s, const char *path, size_t len)
{
    struct file *q = realloc(s->all, (s->n_all + 1) * sizeof *q);
    if (!q) return NULL;
    s->all = q;
    struct file *f = &s->all[s->n_all];
    *f = (struct file){0};
    if (!(f->path = strndup(path, len))) return NULL;
    s->n_all++;
    return f;
}

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
    for (size_t i = 0; i < s->files.n; i++)
        if (!all_add(s, s->files.paths[i], strlen(s->files.paths[i]))) return RN_ENOMEM;
    if ((rc = deal(s, ctx))) return rc;
    s->skipped_metric = rn_op_metric(ctx, "skipped_lines");
    s->dec = rn_text_decoder_create(s->fmt, rn_op_output_schema(ctx), delim);
    s->bb = rn_builder_create(rn_op_output_schema(ctx), 0);
    return s->dec && s->bb ? 0 : RN_ENOMEM;
}

/* Reads the next line into s->line without its line ending; its length, or -1 at the end. */
static ssize_t read_line(struct state *s)
{
    ssize_t n = getline(&s->line, &s->line_cap, s->f);
    while (n > 0 && (s->line[n - 1] == '\n' || s->line[n - 1] == '\r')) n--;
    return n;
}

/* Opens this subtask's next unfinished file, reads its CSV header and, when it was started
 * before a restore, goes to its recorded offset; RN_EEND when there is none left. */
static int next_file(struct state *s, struct rn_op_ctx *ctx)
{
    while (s->k < s->n_mine && s->all[s->mine[s->k]].done) s->k++;
    if (s->k >= s->n_mine) return RN_EEND;
    struct file *fi = s->cur = &s->all[s->mine[s->k]];
    struct rn_error err;
    if (!(s->f = fopen(fi->path, "rb"))) {
        rn_op_error(ctx, "cannot open '%s': %s", fi->path, strerror(errno));
        return RN_EIO;
    }
    if (s->fmt == RN_FMT_CSV) {   /* each CSV file starts with its header */
        ssize_t n = read_line(s);
        if (n <= 0) {   /* an empty file */
            if (ferror(s->f)) {
                rn_op_error(ctx, "cannot read '%s': %s", fi->path, strerror(errno));
                return RN_EIO;
            }
            fclose(s->f);
            s->f = NULL;
            fi->done = true;
            return 0;
        }
        if (rn_text_decoder_header(s->dec, s->line, (size_t)n, &err)) {
            rn_op_error(ctx, "%s:1: %s", fi->path, err.msg);
            return RN_EINVAL;
        }
        if (!fi->offset) fi->line_no = 1;
    }
    if (fi->offset) {   /* restored: go on after the last line the checkpoint covers */
        struct stat st;
        if (fstat(fileno(s->f), &st) || (uint64_t)st.st_size < fi->offset || fseeko(s->f, (off_t)fi->offset, SEEK_SET)) {
            rn_op_error(ctx, "'%s' is shorter than the position the checkpoint recorded (byte %llu): it changed since",
                        fi->path, (unsigned long long)fi->offset);
            return RN_EIO;
        }
    }
    return 0;
}

/* Closes the current file at its end. */
static void file_done(struct state *s)
{
    fclose(s->f);
    s->f = NULL;
    s->cur->done = true;
    s->k++;
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
            if (!s->f) continue;   /* it was empty */
        }
        ssize_t n = read_line(s);
        if (n < 0) {
            if (ferror(s->f)) {
                rn_op_error(ctx, "cannot read '%s': %s", s->cur->path, strerror(errno));
                return RN_EIO;
            }
            file_done(s);
            continue;
        }
        s->cur->line_no++;
        int rc = rn_text_decode_line(s->dec, s->line, (size_t)n, s->bb, &err);
        if (rc == RN_EEND) continue;
        if (rc == RN_ENOMEM) return rc;
        if (rc) {
            if (s->skip) {
                s->skipped++;
                if (s->skipped_metric) atomic_fetch_add(s->skipped_metric, 1);
                continue;
            }
            rn_op_error(ctx, "%s:%llu:%d: %s", s->cur->path, (unsigned long long)s->cur->line_no, err.column, err.msg);
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
    if (!s->f && s->k >= s->n_mine) {
        if (s->skipped) rn_op_log(ctx, "skipped %llu malformed lines", (unsigned long long)s->skipped);
        return RN_EEND;
    }
    return 0;
}

/* ---- checkpoints: per file {version 1, done u8, offset u64, line u64, path bytes} ---- */

#define FILES_LIST "file_source.files"
#define FILE_ELEM_FIXED 18u

static int snapshot(void *state, struct rn_op_ctx *ctx, struct rn_snapshot_writer *w)
{
    struct state *s = state;
    if (s->f) {   /* every line read so far went out in an earlier batch */
        off_t at = ftello(s->f);
        if (at < 0) {
            rn_op_error(ctx, "cannot tell the position in '%s': %s", s->cur->path, strerror(errno));
            return RN_EIO;
        }
        s->cur->offset = (uint64_t)at;
    }
    uint8_t *e = NULL;
    size_t cap = 0;
    int rc = 0;
    for (size_t i = 0; i < s->n_mine && rc == 0; i++) {
        const struct file *fi = &s->all[s->mine[i]];
        size_t len = strlen(fi->path), need = FILE_ELEM_FIXED + len;
        if (need > cap) {
            uint8_t *q = realloc(e, need);
            if (!q) {
                rc = RN_ENOMEM;
                break;
            }
            e = q;
            cap = need;
        }
        e[0] = 1;
        e[1] = fi->done;
        rn_put_le64(e + 2, fi->offset);
        rn_put_le64(e + 10, fi->line_no);
        memcpy(e + FILE_ELEM_FIXED, fi->path, len);
        rc = rn_snapshot_append_union(w, FILES_LIST, e, (uint32_t)need);
    }
    free(e);
    if (rc) rn_op_error(ctx, "cannot record the file positions in the checkpoint: %s", rn_strerror(rc));
    return rc;
}

struct restoring {
    struct state *s;
    size_t n_listed;             /* all[0 .. n_listed) is the listing, sorted */
    bool bad;
};

static int restore_one(const void *val, uint32_t len, void *user)
{
    struct restoring *r = user;
    const uint8_t *p = val;
    if (len <= FILE_ELEM_FIXED || p[0] != 1 || p[1] > 1) return r->bad = true, RN_EINVAL;
    const char *path = (const char *)p + FILE_ELEM_FIXED;
    size_t plen = len - FILE_ELEM_FIXED;
    if (memchr(path, 0, plen)) return r->bad = true, RN_EINVAL;
    struct file *f = NULL;
    /* a listed file: binary search of the sorted listing */
    size_t lo = 0, hi = r->n_listed;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const char *m = r->s->all[mid].path;
        int c = strncmp(m, path, plen);
        if (c == 0 && m[plen]) c = 1;
        if (c == 0) {
            f = &r->s->all[mid];
            break;
        }
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    if (!f) {   /* no longer listed (or a repeat of one added below) */
        for (size_t i = r->n_listed; i < r->s->n_all && !f; i++)
            if (!strncmp(r->s->all[i].path, path, plen) && !r->s->all[i].path[plen]) f = &r->s->all[i];
        if (!f && !(f = all_add(r->s, path, plen))) return RN_ENOMEM;
    }
    f->done = p[1];
    f->offset = rn_get_le64(p + 2);
    f->line_no = rn_get_le64(p + 10);
    return 0;
}

static int restore(void *state, struct rn_op_ctx *ctx, struct rn_snapshot_reader *r)
{
    struct state *s = state;
    if (s->n_all) qsort(s->all, s->n_all, sizeof *s->all, cmp_file);
    struct restoring st = {s, s->n_all, false};
    int rc = rn_restore_each(r, FILES_LIST, restore_one, &st);
    if (rc) {
        if (st.bad) rn_op_error(ctx, "checkpoint %lld: an element of list '%s' is not one file_source wrote",
                                (long long)rn_restore_id(r), FILES_LIST);
        else rn_op_error(ctx, "cannot read the file positions of checkpoint %lld: %s", (long long)rn_restore_id(r),
                         rn_strerror(rc));
        return rc;
    }
    return deal(s, ctx);
}

static void close_(void *state, struct rn_op_ctx *ctx)
{
    (void)ctx;
    struct state *s = state;
    if (!s) return;
    if (s->f) fclose(s->f);
    files_free(&s->files);
    all_free(s);
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
    .snapshot = snapshot, .restore = restore,
};
