/*
 * file_sink.c — `file_sink`: writes rows as JSON lines or CSV into a directory, timestamps as
 * integer milliseconds. Rows are encoded into a buffer and written in large blocks. The
 * directory is created when missing. Two deliveries:
 *
 * at_least_once (the default): one file per subtask, part-<subtask>.jsonl / .csv, replaced on a
 * fresh start and flushed at the end of input. With checkpoints, each checkpoint flushes and
 * fsyncs it, and a restored run appends to it (so rows after the checkpoint may be there twice).
 *
 * exactly_once: a two-phase-commit sink. Rows go into hidden in-progress files,
 * .part-<subtask>-<epoch>-<n>.<ext>.inprogress, which readers of part-* never see; a file is
 * made only when rows arrive, and each has its own CSV header. snapshot() closes the current
 * one (flush, fsync; the directory fsynced) as pending for that checkpoint, and records every
 * pending file {writer subtask, checkpoint id, temporary name, final name} in the union list
 * "file_sink.pending"; checkpoint_complete(id) renames every pending file of a checkpoint <= id
 * to its final name part-<subtask>-<epoch>-<n>.<ext> and fsyncs the directory. `epoch` is the
 * id of the checkpoint the run was restored from (0 on a fresh start; ids start at 1 and only
 * grow), so the names of a run never meet those of the files its checkpoint covers (written by
 * runs restored from older ones), and a commit is idempotent: the rename is done when the
 * temporary file exists; when only the final one does, it was done already.
 * restore(): the restored checkpoint completed, so every pending file it lists is committed;
 * then every in-progress file not listed (written after it) is deleted. Each file belongs to
 * the subtask index in its name: new subtask r handles index r, and subtask 0 also every index
 * >= the new parallelism (old subtasks that no longer exist), so no file is handled twice and
 * none is forgotten, and no subtask writes before its own leftovers are gone. A fresh start
 * deletes the part and in-progress files of earlier runs the same way (the output is replaced,
 * as at_least_once replaces its file). Without a `checkpoint:` block the sink commits its one
 * file in finish(); with one, finish() leaves it to the final checkpoint that follows.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "builtin.h"
#include "textfmt.h"

#define FLUSH_BYTES (1u << 20)

static const struct rn_option options[] = {
    {"path", RN_OPT_STRING, NULL, "the output directory"},
    {"format", RN_OPT_STRING, "jsonl", "jsonl or csv"},
    {"delimiter", RN_OPT_STRING, "','", "CSV field delimiter (one character)"},
    {"delivery", RN_OPT_STRING, "at_least_once",
     "at_least_once (one part file per subtask, appended to after a restore) or exactly_once (files committed "
     "when a checkpoint completes; at the end without checkpoints)"},
    {NULL, 0, NULL, NULL},
};

/* A closed in-progress file waiting for its checkpoint to complete. */
struct pending {
    uint32_t writer;     /* the subtask index in its name */
    int64_t id;          /* the checkpoint it belongs to */
    char *tmp, *final;   /* names inside the directory */
};

struct state {
    char *dir;
    const char *ext;
    enum rn_text_format fmt;
    char delim;
    const rn_schema *schema;
    struct rn_text_buf buf;
    bool checkpointing;
    uint32_t subtask, parallelism;
    /* at_least_once */
    char *path;
    FILE *f;
    bool append;         /* restored: add to the file instead of replacing it */
    /* exactly_once */
    bool exactly_once;
    bool prepared;       /* the leftovers of earlier runs were dealt with */
    int64_t epoch;
    uint64_t next_n;     /* the number of the next file of this run */
    bool active;         /* the current file has rows (buffered or written) */
    FILE *cf;            /* the current file, once something was written to it */
    char *cur_tmp, *cur_final, *cur_tmp_path;
    struct pending *pend;
    size_t n_pend, cap_pend;
};

static int read_format(const rn_value *opts, enum rn_text_format *fmt, char *delim)
{
    const char *d = rn_opt_string(opts, "delimiter");
    *delim = d && d[0] ? d[0] : ',';
    if (d && strlen(d) != 1) return RN_EINVAL;
    return rn_text_format_parse(rn_opt_string(opts, "format"), fmt);
}

static int read_delivery(const rn_value *opts, bool *exactly_once)
{
    const char *d = rn_opt_string(opts, "delivery");
    if (d && !strcmp(d, "exactly_once")) return *exactly_once = true, 0;
    if (d && !strcmp(d, "at_least_once")) return *exactly_once = false, 0;
    return RN_EINVAL;
}

static int plan(struct rn_plan_ctx *ctx)
{
    enum rn_text_format fmt;
    char delim;
    bool eo;
    const rn_value *o = rn_plan_options(ctx);
    if (rn_text_format_parse(rn_opt_string(o, "format"), &fmt))
        return rn_plan_error(ctx, rn_opt_value(o, "format"), "format must be jsonl or csv");
    if (read_format(o, &fmt, &delim)) return rn_plan_error(ctx, rn_opt_value(o, "delimiter"), "delimiter must be one character");
    if (read_delivery(o, &eo))
        return rn_plan_error(ctx, rn_opt_value(o, "delivery"), "delivery must be at_least_once or exactly_once");
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

/* A malloc'ed printf (NULL when out of memory). */
static char *fmt_alloc(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt_alloc(const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    int n = vsnprintf(NULL, 0, f, ap);
    va_end(ap);
    char *s = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (!s) return NULL;
    va_start(ap, f);
    vsnprintf(s, (size_t)n + 1, f, ap);
    va_end(ap);
    return s;
}

/* Makes what the directory holds durable (new names, renames). */
static int sync_dir(struct state *s, struct rn_op_ctx *ctx)
{
    int fd = open(s->dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0 || fsync(fd)) {
        rn_op_error(ctx, "cannot sync directory '%s': %s", s->dir, strerror(errno));
        if (fd >= 0) close(fd);
        return RN_EIO;
    }
    close(fd);
    return 0;
}

/* Writes the buffer to f (named path for messages). */
static int write_buf(struct state *s, struct rn_op_ctx *ctx, FILE *f, const char *path)
{
    if (s->buf.len && fwrite(s->buf.data, 1, s->buf.len, f) != s->buf.len) {
        rn_op_error(ctx, "cannot write '%s': %s", path, strerror(errno));
        return RN_EIO;
    }
    s->buf.len = 0;
    return 0;
}

/* fflush and fsync of f. */
static int sync_file(struct rn_op_ctx *ctx, FILE *f, const char *path)
{
    if (fflush(f) || fsync(fileno(f))) {
        rn_op_error(ctx, "cannot write '%s': %s", path, strerror(errno));
        return RN_EIO;
    }
    return 0;
}

/* ---- at_least_once: part-<subtask>.<ext> ---- */

/* Opens the part file on first use: replaced on a fresh start, appended to after a restore
 * (with a CSV header only when it is new or empty). */
static int alo_open(struct state *s, struct rn_op_ctx *ctx)
{
    if (s->f) return 0;
    if (!(s->f = fopen(s->path, s->append ? "ab" : "wb"))) {
        rn_op_error(ctx, "cannot create '%s': %s", s->path, strerror(errno));
        return RN_EIO;
    }
    if (s->append && ftello(s->f) > 0) return 0;
    return rn_text_encode_header(s->fmt, s->delim, s->schema, &s->buf) ? RN_ENOMEM : 0;
}

/* ---- exactly_once: names, leftovers, commits ---- */

/* Parses [.]part-<k>-<epoch>-<n>.<csv|jsonl>[.inprogress] (in-progress names start with '.'
 * and end with .inprogress, final ones neither). */
static bool parse_name(const char *name, uint32_t *k, bool *inprogress)
{
    *inprogress = name[0] == '.';
    const char *p = name + *inprogress;
    if (strncmp(p, "part-", 5)) return false;
    p += 5;
    char *end;
    unsigned long long v[3];
    for (int i = 0; i < 3; i++) {
        if (*p < '0' || *p > '9') return false;
        errno = 0;
        v[i] = strtoull(p, &end, 10);
        if (errno) return false;
        p = end;
        if (*p++ != (i < 2 ? '-' : '.')) return false;
    }
    if (v[0] > UINT32_MAX) return false;
    *k = (uint32_t)v[0];
    size_t len = strlen(p);
    const char *tail = *inprogress ? ".inprogress" : "";
    size_t tl = strlen(tail);
    if (len < tl || strcmp(p + len - tl, tail)) return false;
    len -= tl;
    return (len == 3 && !strncmp(p, "csv", 3)) || (len == 5 && !strncmp(p, "jsonl", 5));
}

/* Whether this subtask deals with the files of writer k: its own, and subtask 0 those of
 * indexes that no subtask of this run has. */
static bool handles(const struct state *s, uint32_t k)
{
    return k == s->subtask || (s->subtask == 0 && k >= s->parallelism);
}

/* Renames tmp to final in the directory; fine when that was done already. */
static int commit_file(struct state *s, struct rn_op_ctx *ctx, const struct pending *p)
{
    char *from = fmt_alloc("%s/%s", s->dir, p->tmp), *to = fmt_alloc("%s/%s", s->dir, p->final);
    int rc = 0;
    if (!from || !to) {
        rc = RN_ENOMEM;
    } else if (rename(from, to)) {
        int e = errno;
        struct stat st;
        if (e == ENOENT && stat(to, &st) == 0) {
            rc = 0;   /* committed before a restart */
        } else if (e == ENOENT) {
            rn_op_error(ctx, "cannot commit '%s' of checkpoint %lld: neither it nor '%s' exists", from, (long long)p->id, to);
            rc = RN_EIO;
        } else {
            rn_op_error(ctx, "cannot rename '%s' to '%s': %s", from, to, strerror(e));
            rc = RN_EIO;
        }
    }
    free(from);
    free(to);
    return rc;
}

static void pending_free(struct pending *p)
{
    free(p->tmp);
    free(p->final);
}

/* Deletes the files of writers this subtask handles that keep (when set) does not name:
 * in-progress ones, and with final also committed ones (a fresh start). */
static int remove_leftovers(struct state *s, struct rn_op_ctx *ctx, bool final, const struct pending *keep, size_t n_keep)
{
    DIR *d = opendir(s->dir);
    if (!d) {
        rn_op_error(ctx, "cannot read directory '%s': %s", s->dir, strerror(errno));
        return RN_EIO;
    }
    int rc = 0;
    bool removed = false;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d))) {
        uint32_t k;
        bool inprogress;
        if (!parse_name(e->d_name, &k, &inprogress) || !handles(s, k) || (!inprogress && !final)) continue;
        bool listed = false;
        for (size_t i = 0; i < n_keep && !listed; i++) listed = !strcmp(keep[i].tmp, e->d_name);
        if (listed) continue;
        char *path = fmt_alloc("%s/%s", s->dir, e->d_name);
        if (!path) {
            rc = RN_ENOMEM;
        } else if (unlink(path) && errno != ENOENT) {
            rn_op_error(ctx, "cannot delete '%s': %s", path, strerror(errno));
            rc = RN_EIO;
        }
        removed = true;
        free(path);
    }
    closedir(d);
    return rc == 0 && removed ? sync_dir(s, ctx) : rc;
}

/* Before the first rows of a fresh start: the output of earlier runs goes. */
static int prepare(struct state *s, struct rn_op_ctx *ctx)
{
    if (s->prepared) return 0;
    s->prepared = true;
    return remove_leftovers(s, ctx, true, NULL, 0);
}

/* Starts a new in-progress file (its name; opened when first written to). */
static int eo_start(struct state *s)
{
    free(s->cur_tmp);
    free(s->cur_final);
    free(s->cur_tmp_path);
    s->cur_final = fmt_alloc("part-%u-%lld-%llu.%s", s->subtask, (long long)s->epoch, (unsigned long long)s->next_n, s->ext);
    s->cur_tmp = s->cur_final ? fmt_alloc(".%s.inprogress", s->cur_final) : NULL;
    s->cur_tmp_path = s->cur_tmp ? fmt_alloc("%s/%s", s->dir, s->cur_tmp) : NULL;
    if (!s->cur_tmp_path) return RN_ENOMEM;
    s->next_n++;
    s->active = true;
    return rn_text_encode_header(s->fmt, s->delim, s->schema, &s->buf) ? RN_ENOMEM : 0;
}

/* Writes the buffer to the current in-progress file, creating it on first use. */
static int eo_write(struct state *s, struct rn_op_ctx *ctx)
{
    if (!s->cf && !(s->cf = fopen(s->cur_tmp_path, "wb"))) {
        rn_op_error(ctx, "cannot create '%s': %s", s->cur_tmp_path, strerror(errno));
        return RN_EIO;
    }
    return write_buf(s, ctx, s->cf, s->cur_tmp_path);
}

/* Closes the current file, durable, as pending for checkpoint id; *closed says whether there
 * was one (no rows since the last checkpoint: none). */
static int eo_close(struct state *s, struct rn_op_ctx *ctx, int64_t id, bool *closed)
{
    *closed = false;
    if (!s->active) return 0;
    int rc = eo_write(s, ctx);
    if (!rc) rc = sync_file(ctx, s->cf, s->cur_tmp_path);
    if (s->cf && fclose(s->cf) && !rc) {
        rn_op_error(ctx, "cannot write '%s': %s", s->cur_tmp_path, strerror(errno));
        rc = RN_EIO;
    }
    s->cf = NULL;
    s->active = false;
    if (rc) return rc;
    if (s->n_pend == s->cap_pend) {
        size_t cap = s->cap_pend ? 2 * s->cap_pend : 4;
        struct pending *q = realloc(s->pend, cap * sizeof *q);
        if (!q) return RN_ENOMEM;
        s->pend = q;
        s->cap_pend = cap;
    }
    s->pend[s->n_pend++] = (struct pending){.writer = s->subtask, .id = id, .tmp = s->cur_tmp, .final = s->cur_final};
    s->cur_tmp = s->cur_final = NULL;
    *closed = true;
    return 0;
}

/* Commits every pending file of a checkpoint <= id. */
static int eo_commit(struct state *s, struct rn_op_ctx *ctx, int64_t id)
{
    size_t kept = 0;
    bool any = false;
    int rc = 0;
    for (size_t i = 0; i < s->n_pend; i++) {
        if (rc == 0 && s->pend[i].id <= id) {
            if ((rc = commit_file(s, ctx, &s->pend[i])) == 0) {
                any = true;
                pending_free(&s->pend[i]);
                continue;
            }
        }
        s->pend[kept++] = s->pend[i];
    }
    s->n_pend = kept;
    return rc == 0 && any ? sync_dir(s, ctx) : rc;
}

/* ---- callbacks ---- */

static int open_(struct rn_op_ctx *ctx, void **state)
{
    struct state *s = calloc(1, sizeof *s);
    if (!s) return RN_ENOMEM;
    *state = s;
    const rn_value *o = rn_op_options(ctx);
    read_format(o, &s->fmt, &s->delim);
    read_delivery(o, &s->exactly_once);
    s->ext = s->fmt == RN_FMT_CSV ? "csv" : "jsonl";
    s->schema = rn_op_input_schema(ctx, 0);
    s->checkpointing = rn_op_checkpointing(ctx);
    s->subtask = rn_op_subtask(ctx);
    s->parallelism = rn_op_parallelism(ctx);
    if (!(s->dir = strdup(rn_opt_string(o, "path")))) return RN_ENOMEM;
    int e = mkdirs(s->dir);
    if (e) {
        rn_op_error(ctx, "cannot create directory '%s': %s", s->dir, strerror(e));
        return RN_EIO;
    }
    if (s->exactly_once) {
        if (access(s->dir, W_OK)) {
            rn_op_error(ctx, "cannot write into directory '%s': %s", s->dir, strerror(errno));
            return RN_EIO;
        }
        return 0;
    }
    if (!(s->path = fmt_alloc("%s/part-%u.%s", s->dir, s->subtask, s->ext))) return RN_ENOMEM;
    /* without checkpoints there is no restore: the file is replaced now, as it always was */
    return s->checkpointing ? 0 : alo_open(s, ctx);
}

static int process(void *state, struct rn_op_ctx *ctx, uint32_t input, const struct rn_batch *b)
{
    (void)input;
    struct state *s = state;
    int rc;
    if (b->n_rows == 0) return 0;
    if (s->exactly_once) {
        if ((rc = prepare(s, ctx))) return rc;
        if (!s->active && (rc = eo_start(s))) return rc;
    } else if ((rc = alo_open(s, ctx))) {
        return rc;
    }
    for (uint32_t i = 0; i < b->n_rows; i++)
        if (rn_text_encode_row(s->fmt, s->delim, b, i, &s->buf)) return RN_ENOMEM;
    if (s->buf.len < FLUSH_BYTES) return 0;
    return s->exactly_once ? eo_write(s, ctx) : write_buf(s, ctx, s->f, s->path);
}

static int finish(void *state, struct rn_op_ctx *ctx)
{
    struct state *s = state;
    int rc;
    if (!s->exactly_once) {
        if ((rc = alo_open(s, ctx)) || (rc = write_buf(s, ctx, s->f, s->path))) return rc;
        if (fflush(s->f)) {
            rn_op_error(ctx, "cannot write '%s': %s", s->path, strerror(errno));
            return RN_EIO;
        }
        return 0;
    }
    if ((rc = prepare(s, ctx))) return rc;
    if (s->checkpointing) return 0;   /* the final checkpoint commits */
    bool closed;
    if ((rc = eo_close(s, ctx, 0, &closed))) return rc;
    return eo_commit(s, ctx, INT64_MAX);
}

/* ---- checkpoints ---- */

#define PENDING_LIST "file_sink.pending"
#define PENDING_FIXED 15u   /* version 1, writer u32, checkpoint i64, tmp name length u16 */

static int snapshot(void *state, struct rn_op_ctx *ctx, struct rn_snapshot_writer *w)
{
    struct state *s = state;
    int rc;
    if (!s->exactly_once) {
        if ((rc = alo_open(s, ctx)) || (rc = write_buf(s, ctx, s->f, s->path))) return rc;
        return sync_file(ctx, s->f, s->path);
    }
    bool closed;
    if ((rc = prepare(s, ctx)) || (rc = eo_close(s, ctx, rn_snapshot_id(w), &closed))) return rc;
    if (closed && (rc = sync_dir(s, ctx))) return rc;   /* its name must survive a crash */
    uint8_t *e = NULL;
    size_t cap = 0;
    for (size_t i = 0; i < s->n_pend && rc == 0; i++) {
        const struct pending *p = &s->pend[i];
        size_t lt = strlen(p->tmp), lf = strlen(p->final), need = PENDING_FIXED + lt + lf;
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
        rn_put_le32(e + 1, p->writer);
        rn_put_le64(e + 5, (uint64_t)p->id);
        e[13] = (uint8_t)lt;
        e[14] = (uint8_t)(lt >> 8);
        memcpy(e + PENDING_FIXED, p->tmp, lt);
        memcpy(e + PENDING_FIXED + lt, p->final, lf);
        rc = rn_snapshot_append_union(w, PENDING_LIST, e, (uint32_t)need);
        if (rc) rn_op_error(ctx, "cannot record the pending files in the checkpoint: %s", rn_strerror(rc));
    }
    free(e);
    return rc;
}

static int checkpoint_complete(void *state, struct rn_op_ctx *ctx, int64_t id)
{
    struct state *s = state;
    return s->exactly_once ? eo_commit(s, ctx, id) : 0;
}

struct restoring {
    struct pending *v;
    size_t n, cap;
    bool bad;
};

static int restore_one(const void *val, uint32_t len, void *user)
{
    struct restoring *r = user;
    const uint8_t *p = val;
    if (len < PENDING_FIXED || p[0] != 1) return r->bad = true, RN_EINVAL;
    struct pending q = {0};
    uint64_t id = 0;
    q.writer = rn_get_le32(p + 1);
    id = rn_get_le64(p + 5);
    q.id = (int64_t)id;
    size_t lt = (size_t)p[13] | (size_t)p[14] << 8;
    if (lt == 0 || PENDING_FIXED + lt >= len) return r->bad = true, RN_EINVAL;
    const char *tmp = (const char *)p + PENDING_FIXED, *final = tmp + lt;
    size_t lf = len - PENDING_FIXED - lt;
    if (memchr(tmp, 0, lt) || memchr(final, 0, lf) || memchr(tmp, '/', lt) || memchr(final, '/', lf))
        return r->bad = true, RN_EINVAL;
    if (r->n == r->cap) {
        size_t cap = r->cap ? 2 * r->cap : 8;
        struct pending *v = realloc(r->v, cap * sizeof *v);
        if (!v) return RN_ENOMEM;
        r->v = v;
        r->cap = cap;
    }
    if (!(q.tmp = strndup(tmp, lt)) || !(q.final = strndup(final, lf))) {
        pending_free(&q);
        return RN_ENOMEM;
    }
    r->v[r->n++] = q;
    return 0;
}

static int restore(void *state, struct rn_op_ctx *ctx, struct rn_snapshot_reader *r)
{
    struct state *s = state;
    if (!s->exactly_once) {
        s->append = true;
        return 0;
    }
    s->prepared = true;
    s->epoch = rn_restore_id(r);
    struct restoring got = {0};
    int rc = rn_restore_each(r, PENDING_LIST, restore_one, &got);
    if (rc) {
        if (got.bad) rn_op_error(ctx, "checkpoint %lld: an element of list '%s' is not one file_sink wrote",
                                 (long long)rn_restore_id(r), PENDING_LIST);
        else rn_op_error(ctx, "cannot read the pending files of checkpoint %lld: %s", (long long)rn_restore_id(r),
                         rn_strerror(rc));
    }
    /* the checkpoint completed: what it lists is committed (by the subtask that handles its
     * writer), then what it does not list goes */
    bool any = false;
    for (size_t i = 0; rc == 0 && i < got.n; i++)
        if (handles(s, got.v[i].writer)) {
            rc = commit_file(s, ctx, &got.v[i]);
            any = true;
        }
    if (rc == 0 && any) rc = sync_dir(s, ctx);
    if (rc == 0) rc = remove_leftovers(s, ctx, false, got.v, got.n);
    for (size_t i = 0; i < got.n; i++) pending_free(&got.v[i]);
    free(got.v);
    return rc;
}

static void close_(void *state, struct rn_op_ctx *ctx)
{
    (void)ctx;
    struct state *s = state;
    if (!s) return;
    if (s->f) fclose(s->f);
    if (s->cf) fclose(s->cf);   /* an uncommitted in-progress file stays for a restore to delete */
    for (size_t i = 0; i < s->n_pend; i++) pending_free(&s->pend[i]);
    free(s->pend);
    free(s->cur_tmp);
    free(s->cur_final);
    free(s->cur_tmp_path);
    rn_text_buf_free(&s->buf);
    free(s->path);
    free(s->dir);
    free(s);
}

const struct rn_operator_def rn_op_file_sink = {
    .abi_version = RN_OPERATOR_ABI, .struct_size = sizeof(struct rn_operator_def),
    .name = "file_sink", .description = "writes rows as JSON lines or CSV, one file per subtask (at least once) or "
                                        "committed with checkpoints (exactly once)",
    .options = options, .n_inputs_min = 1, .n_inputs_max = 1, .flags = RN_OP_SINK,
    .plan = plan, .open = open_, .process = process, .finish = finish, .close = close_,
    .snapshot = snapshot, .restore = restore, .checkpoint_complete = checkpoint_complete,
};
