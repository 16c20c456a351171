/*
 * checkpoint.c — checkpoint storage (checkpoint_internal.h, runnel/checkpoint.h): the layout of
 * a job's checkpoint directory, the framed protobuf metadata written last and atomically, the
 * incremental upload of RocksDB snapshots into a shared folder with reference counts, the
 * retention of the last N checkpoints, and reading a checkpoint back (every file it names
 * checked) for a restore.
 *
 * Metadata file: "RNCK", u32 version, u32 length, a runnel.CheckpointMetadata message, the
 * CRC32C of everything before it; integers little-endian.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "checkpoint.pb-c.h"
#include "checkpoint_internal.h"
#include "runnel/hash.h"
#include "runnel/state.h"

#define META_MAGIC 0x4b434e52u   /* "RNCK" */
#define META_VERSION 1u
#define META_NAME "_metadata"
#define META_MAX (256u << 20)

/* ---- files ---- */

int rn__mkdir_p(const char *dir)
{
    char p[4096];
    if (snprintf(p, sizeof p, "%s", dir) >= (int)sizeof p) return errno = ENAMETOOLONG, -1;
    for (char *q = p + 1; *q; q++)
        if (*q == '/') {
            *q = 0;
            if (mkdir(p, 0777) && errno != EEXIST) return -1;
            *q = '/';
        }
    return mkdir(p, 0777) && errno != EEXIST ? -1 : 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (flag == FTW_DP) rmdir(path);
    else unlink(path);
    return 0;
}

void rn__rm_rf(const char *path)
{
    if (path && *path) nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

static int io_error(struct rn_error *err, int e, const char *fmt, const char *a, const char *b)
{
    rn_error_set(err, RN_EIO, 0, 0, fmt, a, b, strerror(e));
    if (err) err->sys_errno = e;
    return RN_EIO;
}

/* Copies src to dst (created or truncated) and fsyncs it; *bytes = its size. */
static int copy_file(const char *src, const char *dst, uint64_t *bytes, struct rn_error *err)
{
    int in = open(src, O_RDONLY);
    if (in < 0) return io_error(err, errno, "cannot read %s%s: %s", src, "");
    int out = open(dst, O_WRONLY | O_CREAT | O_TRUNC, 0666);
    if (out < 0) {
        int e = errno;
        close(in);
        return io_error(err, e, "cannot create %s%s: %s", dst, "");
    }
    static __thread char buf[1 << 16];
    uint64_t total = 0;
    int rc = 0;
    for (;;) {
        ssize_t n = read(in, buf, sizeof buf);
        if (n == 0) break;
        if (n < 0) {
            if (errno == EINTR) continue;
            rc = io_error(err, errno, "cannot read %s%s: %s", src, "");
            break;
        }
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(out, buf + off, (size_t)(n - off));
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) {
                rc = io_error(err, w < 0 ? errno : ENOSPC, "cannot write %s%s: %s", dst, "");
                break;
            }
            off += w;
        }
        if (rc) break;
        total += (uint64_t)n;
    }
    if (!rc && fsync(out)) rc = io_error(err, errno, "cannot write %s%s: %s", dst, "");
    close(in);
    if (close(out) && !rc) rc = io_error(err, errno, "cannot write %s%s: %s", dst, "");
    if (rc) unlink(dst);
    else if (bytes) *bytes = total;
    return rc;
}

/* A hard link where the filesystem allows (same device), else a copy. */
static int link_or_copy(const char *src, const char *dst, struct rn_error *err)
{
    if (!link(src, dst)) return 0;
    if (errno == EEXIST) {
        unlink(dst);
        if (!link(src, dst)) return 0;
    }
    return copy_file(src, dst, NULL, err);
}

static char *path_join(const char *a, const char *b)
{
    char *p;
    return asprintf(&p, "%s/%s", a, b) < 0 ? NULL : p;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A relative path from metadata must stay inside its directory. */
static bool safe_rel(const char *p)
{
    return p && *p && *p != '/' && !strstr(p, "..") && !strchr(p, '\n');
}

/* ---- parts and metadata ---- */

void rn__ck_part_clear(struct rn_ck_part *p)
{
    free(p->node);
    free(p->keyed);
    free(p->opstate);
    for (size_t i = 0; i < p->n_shared; i++) free(p->shared[i].name), free(p->shared[i].path);
    free(p->shared);
    for (size_t i = 0; i < p->n_files; i++) free(p->files[i].path);
    free(p->files);
    memset(p, 0, sizeof *p);
}

void rn__ck_meta_free(struct rn_ck_meta *m)
{
    for (size_t i = 0; i < m->n_parts; i++) rn__ck_part_clear(&m->parts[i]);
    free(m->parts);
    free(m->job_name);
    free(m->dir);
    free(m->job_dir);
    memset(m, 0, sizeof *m);
}

static int add_file(struct rn_ck_part *part, const char *rel, uint64_t size)
{
    struct rn_ck_file *f = realloc(part->files, (part->n_files + 1) * sizeof *f);
    if (!f) return RN_ENOMEM;
    part->files = f;
    if (!(f[part->n_files].path = strdup(rel))) return RN_ENOMEM;
    f[part->n_files++].size = size;
    return 0;
}

int rn__ck_part_add_file(struct rn_ck_part *part, const char *ck_dir, const char *rel, struct rn_error *err)
{
    char *p = path_join(ck_dir, rel);
    struct stat st;
    if (!p) return rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory");
    int rc = stat(p, &st) ? io_error(err, errno, "cannot stat %s%s: %s", p, "") : 0;
    free(p);
    if (!rc && add_file(part, rel, (uint64_t)st.st_size)) rc = rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory");
    return rc;
}

static int add_shared(struct rn_ck_part *part, const char *name, const char *path, uint64_t size)
{
    struct rn_ck_shared *s = realloc(part->shared, (part->n_shared + 1) * sizeof *s);
    if (!s) return RN_ENOMEM;
    part->shared = s;
    s[part->n_shared] = (struct rn_ck_shared){strdup(name), strdup(path), size};
    if (!s[part->n_shared].name || !s[part->n_shared].path) {
        free(s[part->n_shared].name);
        free(s[part->n_shared].path);
        return RN_ENOMEM;
    }
    part->n_shared++;
    return 0;
}

/* Parts as protobuf SubtaskStates pointing into them (nothing copied). */
struct pb_parts {
    Runnel__SubtaskState *st, **stp;
    Runnel__SharedFile *sh, **shp;
    Runnel__PrivateFile *pf, **pfp;
};

static void pb_parts_free(struct pb_parts *o)
{
    free(o->st);
    free(o->stp);
    free(o->sh);
    free(o->shp);
    free(o->pf);
    free(o->pfp);
    memset(o, 0, sizeof *o);
}

static int pb_parts_build(const struct rn_ck_part *parts, size_t n_parts, struct pb_parts *o)
{
    memset(o, 0, sizeof *o);
    size_t n_sh = 0, n_f = 0;
    for (size_t i = 0; i < n_parts; i++) n_sh += parts[i].n_shared, n_f += parts[i].n_files;
    o->st = calloc(n_parts ? n_parts : 1, sizeof *o->st);
    o->stp = calloc(n_parts ? n_parts : 1, sizeof *o->stp);
    o->sh = calloc(n_sh ? n_sh : 1, sizeof *o->sh);
    o->shp = calloc(n_sh ? n_sh : 1, sizeof *o->shp);
    o->pf = calloc(n_f ? n_f : 1, sizeof *o->pf);
    o->pfp = calloc(n_f ? n_f : 1, sizeof *o->pfp);
    if (!o->st || !o->stp || !o->sh || !o->shp || !o->pf || !o->pfp) {
        pb_parts_free(o);
        return RN_ENOMEM;
    }
    size_t ks = 0, kf = 0;
    for (size_t i = 0; i < n_parts; i++) {
        const struct rn_ck_part *p = &parts[i];
        Runnel__SubtaskState *st = &o->st[i];
        runnel__subtask_state__init(st);
        o->stp[i] = st;
        st->node = p->node;
        st->subtask = p->subtask;
        st->parallelism = p->parallelism;
        st->kg_first = p->kg_first;
        st->kg_last = p->kg_last;
        st->keyed = p->keyed ? p->keyed : "";
        st->opstate = p->opstate ? p->opstate : "";
        st->finished = p->finished;
        st->shared = &o->shp[ks];
        st->n_shared = p->n_shared;
        for (size_t k = 0; k < p->n_shared; k++, ks++) {
            runnel__shared_file__init(&o->sh[ks]);
            o->sh[ks].name = p->shared[k].name;
            o->sh[ks].path = p->shared[k].path;
            o->sh[ks].size = p->shared[k].size;
            o->shp[ks] = &o->sh[ks];
        }
        st->files = &o->pfp[kf];
        st->n_files = p->n_files;
        for (size_t k = 0; k < p->n_files; k++, kf++) {
            runnel__private_file__init(&o->pf[kf]);
            o->pf[kf].path = p->files[k].path;
            o->pf[kf].size = p->files[k].size;
            o->pfp[kf] = &o->pf[kf];
        }
    }
    return 0;
}

static int write_meta(const char *dir, const struct rn_job *job, int64_t id, bool savepoint, bool finished,
                      const struct rn_ck_part *parts, size_t n_parts, uint64_t bytes, struct rn_error *err)
{
    Runnel__CheckpointMetadata m;
    runnel__checkpoint_metadata__init(&m);
    m.version = META_VERSION;
    m.id = id;
    m.savepoint = savepoint;
    m.finished = finished;
    m.job_name = job->name;
    m.time_ms = now_ms();
    m.max_parallelism = job->max_parallelism;
    m.bytes = bytes;
    uint8_t *jobbuf = NULL;
    size_t joblen = 0;
    if (!rn_job_pack(job, &jobbuf, &joblen)) m.job = runnel__job_graph__unpack(NULL, joblen, jobbuf);
    free(jobbuf);
    struct pb_parts pb;
    uint8_t *buf = NULL;
    int rc = 0;
    if (pb_parts_build(parts, n_parts, &pb)) {
        rc = rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory");
        goto out;
    }
    m.states = pb.stp;
    m.n_states = n_parts;
    size_t len = runnel__checkpoint_metadata__get_packed_size(&m);
    if (len > META_MAX || !(buf = malloc(len + 16))) {
        rc = rn_error_set(err, RN_ENOMEM, 0, 0, "checkpoint metadata of %zu bytes: out of memory", len);
        goto out;
    }
    uint32_t hdr[3] = {META_MAGIC, META_VERSION, (uint32_t)len};
    memcpy(buf, hdr, 12);
    runnel__checkpoint_metadata__pack(&m, buf + 12);
    uint32_t crc = rn_crc32c(0, buf, len + 12);
    memcpy(buf + 12 + len, &crc, 4);
    char tmp[4096], final[4096];
    snprintf(tmp, sizeof tmp, "%s/%s.tmp", dir, META_NAME);
    snprintf(final, sizeof final, "%s/%s", dir, META_NAME);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0666);
    if (fd < 0) {
        rc = io_error(err, errno, "cannot write checkpoint metadata %s%s: %s", tmp, "");
        goto out;
    }
    bool ok = write(fd, buf, len + 16) == (ssize_t)(len + 16);
    int e = ok ? 0 : errno ? errno : ENOSPC;
    if (ok && fsync(fd)) ok = false, e = errno;
    if (close(fd) && ok) ok = false, e = errno;
    if (!ok || rename(tmp, final)) {
        if (ok) e = errno;
        unlink(tmp);
        rc = io_error(err, e, "cannot write checkpoint metadata %s%s: %s", final, "");
        goto out;
    }
    fsync_dir(dir);
out:
    if (m.job) runnel__job_graph__free_unpacked(m.job, NULL);
    free(buf);
    pb_parts_free(&pb);
    return rc;
}

static int corrupt(struct rn_error *err, const char *dir, const char *what)
{
    return rn_error_set(err, RN_ECORRUPT, 0, 0, "checkpoint %s is corrupt: %s", dir, what);
}

/* One operator subtask's state from its protobuf, checked: 0, RN_ECORRUPT (an impossible
 * subtask or key-group range, a path that leaves the checkpoint), RN_ENOMEM. p is filled as far
 * as it got (rn__ck_part_clear frees it). */
static int part_from_pb(const Runnel__SubtaskState *s, uint32_t max_parallelism, struct rn_ck_part *p)
{
    if (!s->node || !*s->node || s->parallelism == 0 || s->subtask >= s->parallelism || s->kg_first > s->kg_last ||
        s->kg_last >= max_parallelism)
        return RN_ECORRUPT;
    p->node = strdup(s->node);
    p->subtask = s->subtask;
    p->parallelism = s->parallelism;
    p->kg_first = s->kg_first;
    p->kg_last = s->kg_last;
    p->finished = s->finished;
    int rc = p->node ? 0 : RN_ENOMEM;
    if (!rc && s->keyed && *s->keyed) rc = safe_rel(s->keyed) ? ((p->keyed = strdup(s->keyed)) ? 0 : RN_ENOMEM) : RN_ECORRUPT;
    if (!rc && s->opstate && *s->opstate)
        rc = safe_rel(s->opstate) ? ((p->opstate = strdup(s->opstate)) ? 0 : RN_ENOMEM) : RN_ECORRUPT;
    for (size_t k = 0; !rc && k < s->n_shared; k++) {
        const Runnel__SharedFile *f = s->shared[k];
        if (!f->name || !f->path || !safe_rel(f->name) || strchr(f->name, '/') || !safe_rel(f->path)) rc = RN_ECORRUPT;
        else rc = add_shared(p, f->name, f->path, f->size);
    }
    for (size_t k = 0; !rc && k < s->n_files; k++) {
        if (!s->files[k]->path || !safe_rel(s->files[k]->path)) rc = RN_ECORRUPT;
        else rc = add_file(p, s->files[k]->path, s->files[k]->size);
    }
    return rc;
}

uint64_t rn__ck_parts_bytes(const struct rn_ck_part *parts, size_t n)
{
    uint64_t bytes = 0;
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < parts[i].n_files; k++) bytes += parts[i].files[k].size;
        for (size_t k = 0; k < parts[i].n_shared; k++) bytes += parts[i].shared[k].size;
    }
    return bytes;
}

int rn__ck_parts_pack(const struct rn_ck_part *parts, size_t n, uint8_t **out, size_t *len)
{
    struct pb_parts pb;
    if (pb_parts_build(parts, n, &pb)) return RN_ENOMEM;
    Runnel__CheckpointMetadata m;
    runnel__checkpoint_metadata__init(&m);
    m.version = META_VERSION;
    m.states = pb.stp;
    m.n_states = n;
    *len = runnel__checkpoint_metadata__get_packed_size(&m);
    *out = malloc(*len ? *len : 1);
    if (*out) runnel__checkpoint_metadata__pack(&m, *out);
    pb_parts_free(&pb);
    return *out ? 0 : RN_ENOMEM;
}

int rn__ck_parts_unpack(const uint8_t *buf, size_t len, uint32_t max_parallelism, struct rn_ck_part **out, size_t *n,
                        struct rn_error *err)
{
    *out = NULL;
    *n = 0;
    if (len > META_MAX) return rn_error_set(err, RN_ECORRUPT, 0, 0, "checkpoint parts of %zu bytes: too large", len);
    Runnel__CheckpointMetadata *m = runnel__checkpoint_metadata__unpack(NULL, len, buf);
    if (!m) return rn_error_set(err, RN_ECORRUPT, 0, 0, "checkpoint parts that do not decode");
    int rc = 0;
    struct rn_ck_part *parts = calloc(m->n_states ? m->n_states : 1, sizeof *parts);
    size_t k = 0;
    if (!parts) rc = rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory");
    for (size_t i = 0; !rc && i < m->n_states; i++) {
        rc = part_from_pb(m->states[i], max_parallelism, &parts[k++]);
        if (rc == RN_ECORRUPT)
            rn_error_set(err, rc, 0, 0, "checkpoint parts with an impossible subtask, key-group range or path");
        else if (rc) rn_error_set(err, rc, 0, 0, "out of memory");
    }
    runnel__checkpoint_metadata__free_unpacked(m, NULL);
    if (rc) {
        for (size_t i = 0; i < k; i++) rn__ck_part_clear(&parts[i]);
        free(parts);
        return rc;
    }
    *out = parts;
    *n = k;
    return 0;
}

/* Decodes dir/_metadata into out (files not checked). */
static int meta_decode(const char *dir, struct rn_ck_meta *out, struct rn_error *err)
{
    memset(out, 0, sizeof *out);
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, META_NAME);
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        int e = errno;
        if (e == ENOENT)
            return rn_error_set(err, RN_ENOTFOUND, 0, 0, "%s has no %s: not a checkpoint or savepoint, or an incomplete one",
                                dir, META_NAME);
        return io_error(err, e, "cannot read %s%s: %s", path, "");
    }
    struct stat st;
    if (fstat(fd, &st) || st.st_size < 16 || (uint64_t)st.st_size > META_MAX + 16u) {
        close(fd);
        return corrupt(err, dir, "its metadata is truncated or of an impossible size");
    }
    size_t size = (size_t)st.st_size;
    uint8_t *buf = malloc(size);
    ssize_t got = buf ? read(fd, buf, size) : -1;
    close(fd);
    if (!buf || got != (ssize_t)size) {
        free(buf);
        return buf ? corrupt(err, dir, "short read of its metadata") : rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory");
    }
    uint32_t hdr[3], crc;
    memcpy(hdr, buf, 12);
    memcpy(&crc, buf + size - 4, 4);
    int rc = 0;
    Runnel__CheckpointMetadata *m = NULL;
    if (hdr[0] != META_MAGIC) rc = corrupt(err, dir, "its metadata does not start with the checkpoint magic");
    else if (hdr[1] != META_VERSION) rc = corrupt(err, dir, "its metadata is of an unknown version");
    else if ((size_t)hdr[2] + 16 != size) rc = corrupt(err, dir, "its metadata is truncated (length does not match)");
    else if (rn_crc32c(0, buf, size - 4) != crc) rc = corrupt(err, dir, "its metadata fails its checksum");
    else if (!(m = runnel__checkpoint_metadata__unpack(NULL, hdr[2], buf + 12))) rc = corrupt(err, dir, "its metadata does not decode");
    free(buf);
    if (rc) return rc;
    out->id = m->id;
    out->savepoint = m->savepoint;
    out->finished = m->finished;
    out->time_ms = m->time_ms;
    out->max_parallelism = m->max_parallelism;
    out->bytes = m->bytes;
    out->job_name = strdup(m->job_name ? m->job_name : "");
    out->dir = strdup(dir);
    /* shared paths are relative to the job's directory: the checkpoint's parent */
    char *jd = strdup(dir);
    if (jd) {
        size_t n = strlen(jd);
        while (n > 1 && jd[n - 1] == '/') jd[--n] = 0;
        char *slash = strrchr(jd, '/');
        if (slash && slash != jd) *slash = 0;
        else if (slash) slash[1] = 0;
        else strcpy(jd, ".");
    }
    out->job_dir = jd;
    out->parts = calloc(m->n_states ? m->n_states : 1, sizeof *out->parts);
    if (!out->job_name || !out->dir || !jd || !out->parts) rc = rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory");
    for (size_t i = 0; !rc && i < m->n_states; i++) {
        rc = part_from_pb(m->states[i], out->max_parallelism, &out->parts[out->n_parts++]);
        if (rc == RN_ECORRUPT) corrupt(err, dir, "an operator state has an impossible subtask or key-group range, or a "
                                                 "file path in its metadata leaves the checkpoint directory");
        else if (rc == RN_ENOMEM) rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory");
    }
    runnel__checkpoint_metadata__free_unpacked(m, NULL);
    if (rc) rn__ck_meta_free(out);
    return rc;
}

static int check_size(const char *base, const char *rel, uint64_t size, const char *dir, struct rn_error *err)
{
    char *p = path_join(base, rel);
    if (!p) return rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory");
    struct stat st;
    int rc = 0;
    if (stat(p, &st) || !S_ISREG(st.st_mode))
        rc = rn_error_set(err, RN_ECORRUPT, 0, 0, "checkpoint %s is incomplete: %s is missing", dir, p);
    else if ((uint64_t)st.st_size != size)
        rc = rn_error_set(err, RN_ECORRUPT, 0, 0, "checkpoint %s is corrupt: %s has %lld bytes, its metadata says %" PRIu64,
                          dir, p, (long long)st.st_size, size);
    free(p);
    return rc;
}

int rn__ck_meta_read(const char *dir, struct rn_ck_meta *out, struct rn_error *err)
{
    int rc = meta_decode(dir, out, err);
    if (rc) return rc;
    for (size_t i = 0; !rc && i < out->n_parts; i++) {
        const struct rn_ck_part *p = &out->parts[i];
        for (size_t k = 0; !rc && k < p->n_files; k++) rc = check_size(dir, p->files[k].path, p->files[k].size, dir, err);
        for (size_t k = 0; !rc && k < p->n_shared; k++)
            rc = check_size(out->job_dir, p->shared[k].path, p->shared[k].size, dir, err);
    }
    if (rc) rn__ck_meta_free(out);
    return rc;
}

/* ---- the store ---- */

struct refcount {
    char *path;
    uint32_t n;
};

struct retained {
    int64_t id;
    char *dir;
    char **shared;   /* paths relative to the job directory, one per reference */
    size_t n_shared;
};

struct rn_ck_store {
    char *dir;                   /* root/<job> */
    int lock_fd;
    uint32_t retain;
    int64_t max_id;
    FILE *log;
    struct refcount *refs;
    size_t n_refs, cap_refs;
    struct retained *kept;       /* oldest first */
    size_t n_kept;
};

const char *rn__ck_store_dir(const struct rn_ck_store *s) { return s->dir; }
int64_t rn__ck_store_max_id(const struct rn_ck_store *s) { return s->max_id; }

static struct refcount *ref_find(struct rn_ck_store *s, const char *path)
{
    for (size_t i = 0; i < s->n_refs; i++)
        if (!strcmp(s->refs[i].path, path)) return &s->refs[i];
    return NULL;
}

static int ref_inc(struct rn_ck_store *s, const char *path)
{
    struct refcount *r = ref_find(s, path);
    if (r) {
        r->n++;
        return 0;
    }
    if (s->n_refs == s->cap_refs) {
        size_t cap = s->cap_refs ? s->cap_refs * 2 : 64;
        struct refcount *v = realloc(s->refs, cap * sizeof *v);
        if (!v) return RN_ENOMEM;
        s->refs = v;
        s->cap_refs = cap;
    }
    if (!(s->refs[s->n_refs].path = strdup(path))) return RN_ENOMEM;
    s->refs[s->n_refs++].n = 1;
    return 0;
}

/* Drops one reference; the file goes when none is left. */
static void ref_dec(struct rn_ck_store *s, const char *path)
{
    struct refcount *r = ref_find(s, path);
    if (!r || --r->n) return;
    char *p = path_join(s->dir, path);
    if (p) unlink(p);
    free(p);
    free(r->path);
    *r = s->refs[--s->n_refs];
}

static void retained_free(struct retained *k)
{
    free(k->dir);
    for (size_t i = 0; i < k->n_shared; i++) free(k->shared[i]);
    free(k->shared);
}

/* Adds a completed checkpoint (its shared references counted). */
static int retain_add(struct rn_ck_store *s, int64_t id, const char *dir, const struct rn_ck_part *parts, size_t n_parts)
{
    struct retained *v = realloc(s->kept, (s->n_kept + 1) * sizeof *v);
    if (!v) return RN_ENOMEM;
    s->kept = v;
    size_t at = s->n_kept;
    while (at > 0 && v[at - 1].id > id) at--;   /* kept sorted by id */
    memmove(&v[at + 1], &v[at], (s->n_kept - at) * sizeof *v);
    struct retained *k = &v[at];
    memset(k, 0, sizeof *k);
    s->n_kept++;
    k->id = id;
    k->dir = strdup(dir);
    size_t n = 0;
    for (size_t i = 0; i < n_parts; i++) n += parts[i].n_shared;
    k->shared = calloc(n ? n : 1, sizeof *k->shared);
    if (!k->dir || !k->shared) return RN_ENOMEM;
    for (size_t i = 0; i < n_parts; i++)
        for (size_t j = 0; j < parts[i].n_shared; j++) {
            if (!(k->shared[k->n_shared] = strdup(parts[i].shared[j].path))) return RN_ENOMEM;
            k->n_shared++;
            if (ref_inc(s, parts[i].shared[j].path)) return RN_ENOMEM;
        }
    return 0;
}

/* Discards the oldest checkpoints beyond retain. */
static void retain_trim(struct rn_ck_store *s)
{
    while (s->n_kept > s->retain) {
        struct retained *k = &s->kept[0];
        rn__rm_rf(k->dir);
        for (size_t i = 0; i < k->n_shared; i++) ref_dec(s, k->shared[i]);
        if (s->log) fprintf(s->log, "runnel: checkpoint %" PRId64 " discarded (retain %u)\n", k->id, s->retain);
        retained_free(k);
        memmove(&s->kept[0], &s->kept[1], (s->n_kept - 1) * sizeof *s->kept);
        s->n_kept--;
    }
}

/* chk-<n> names: n, or -1 for other names. */
static int64_t chk_id(const char *name)
{
    if (strncmp(name, "chk-", 4) || !name[4]) return -1;
    char *end;
    long long v = strtoll(name + 4, &end, 10);
    return *end || v <= 0 ? -1 : (int64_t)v;
}

/* Shared files no retained checkpoint refers to (left by a crash mid-checkpoint, or uploaded
 * for a checkpoint that failed) go. */
static void sweep_shared(struct rn_ck_store *s)
{
    char *sd = path_join(s->dir, "shared");
    DIR *d = sd ? opendir(sd) : NULL;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char rel[1024];
        snprintf(rel, sizeof rel, "shared/%s", e->d_name);
        if (ref_find(s, rel)) continue;
        char *p = path_join(sd, e->d_name);
        if (p) unlink(p);
        free(p);
    }
    if (d) closedir(d);
    free(sd);
}

int rn__ck_store_open(const char *root, const char *job_name, uint32_t retain, FILE *log, struct rn_ck_store **out,
                      struct rn_error *err)
{
    *out = NULL;
    if (!job_name || !*job_name || strchr(job_name, '/') || !strcmp(job_name, ".") || !strcmp(job_name, ".."))
        return rn_error_set(err, RN_EINVAL, 0, 0, "job name '%s' cannot name a checkpoint directory", job_name ? job_name : "");
    struct rn_ck_store *s = calloc(1, sizeof *s);
    if (!s) return rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory");
    s->lock_fd = -1;
    s->retain = retain ? retain : 1;
    s->log = log;
    char *shared = NULL, *lock = NULL;
    int rc = 0;
    if (asprintf(&s->dir, "%s/%s", root, job_name) < 0) s->dir = NULL;
    if (!s->dir || !(shared = path_join(s->dir, "shared")) || !(lock = path_join(s->dir, ".lock"))) {
        rc = rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory");
        goto out;
    }
    if (rn__mkdir_p(shared)) {
        rc = io_error(err, errno, "cannot create the checkpoint directory %s%s: %s", shared, "");
        goto out;
    }
    if ((s->lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0666)) < 0) {
        rc = io_error(err, errno, "cannot open %s%s: %s", lock, "");
        goto out;
    }
    if (flock(s->lock_fd, LOCK_EX | LOCK_NB)) {
        char pid[32] = "";
        ssize_t n = pread(s->lock_fd, pid, sizeof pid - 1, 0);
        pid[n > 0 ? n : 0] = 0;
        pid[strcspn(pid, "\n")] = 0;
        rc = rn_error_set(err, RN_EINVAL, 0, 0, "another runnel run (pid %s) is using the checkpoint directory %s",
                          *pid ? pid : "?", s->dir);
        goto out;
    }
    char pid[32];
    int pl = snprintf(pid, sizeof pid, "%d\n", (int)getpid());
    if (ftruncate(s->lock_fd, 0) || pwrite(s->lock_fd, pid, (size_t)pl, 0) != pl) {
        rc = io_error(err, errno, "cannot write %s%s: %s", lock, "");
        goto out;
    }
    /* the checkpoints there: complete ones are retained, others removed */
    DIR *d = opendir(s->dir);
    struct dirent *e;
    while (!rc && d && (e = readdir(d))) {
        int64_t id = chk_id(e->d_name);
        if (id < 0) continue;
        if (id > s->max_id) s->max_id = id;
        char *cd = path_join(s->dir, e->d_name);
        struct rn_ck_meta m;
        struct rn_error merr;
        if (!cd) {
            rc = rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory");
        } else if (meta_decode(cd, &m, &merr)) {
            if (merr.code != RN_ENOTFOUND && log) fprintf(log, "runnel: removing unusable checkpoint: %s\n", merr.msg);
            rn__rm_rf(cd);
        } else {
            rc = retain_add(s, m.id, cd, m.parts, m.n_parts);
            if (rc) rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory");
            rn__ck_meta_free(&m);
        }
        free(cd);
    }
    if (d) closedir(d);
    if (!rc) sweep_shared(s);
out:
    free(shared);
    free(lock);
    if (rc) rn__ck_store_close(s);
    else *out = s;
    return rc;
}

void rn__ck_store_close(struct rn_ck_store *s)
{
    if (!s) return;
    if (s->lock_fd >= 0) close(s->lock_fd);   /* releases the lock */
    for (size_t i = 0; i < s->n_refs; i++) free(s->refs[i].path);
    free(s->refs);
    for (size_t i = 0; i < s->n_kept; i++) retained_free(&s->kept[i]);
    free(s->kept);
    free(s->dir);
    free(s);
}

int rn__ck_store_complete(struct rn_ck_store *s, const struct rn_job *job, int64_t id, bool savepoint, bool finished,
                          const char *dir, const struct rn_ck_part *parts, size_t n_parts, uint64_t bytes,
                          struct rn_error *err)
{
    int rc = write_meta(dir, job, id, savepoint, finished, parts, n_parts, bytes, err);
    if (rc || savepoint) return rc;
    if (id > s->max_id) s->max_id = id;
    if (retain_add(s, id, dir, parts, n_parts)) return rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory");
    retain_trim(s);
    return 0;
}

void rn__ck_store_sweep(struct rn_ck_store *s) { sweep_shared(s); }

void rn__ck_store_discard(struct rn_ck_store *s, const char *dir)
{
    (void)s;
    rn__rm_rf(dir);
}

/* ---- incremental upload ---- */

void rn__ck_known_free(struct rn_ck_known *k)
{
    for (size_t i = 0; i < k->n; i++) free(k->v[i].name), free(k->v[i].path);
    free(k->v);
    memset(k, 0, sizeof *k);
}

int rn__ck_known_add(struct rn_ck_known *k, const char *name, const char *path, uint64_t size)
{
    if (k->n == k->cap) {
        size_t cap = k->cap ? k->cap * 2 : 32;
        struct rn_ck_shared *v = realloc(k->v, cap * sizeof *v);
        if (!v) return RN_ENOMEM;
        k->v = v;
        k->cap = cap;
    }
    k->v[k->n] = (struct rn_ck_shared){strdup(name), strdup(path), size};
    if (!k->v[k->n].name || !k->v[k->n].path) {
        free(k->v[k->n].name);
        free(k->v[k->n].path);
        return RN_ENOMEM;
    }
    k->n++;
    return 0;
}

static const struct rn_ck_shared *known_find(const struct rn_ck_known *k, const char *name, uint64_t size)
{
    for (size_t i = k ? k->n : 0; i-- > 0;)
        if (k->v[i].size == size && !strcmp(k->v[i].name, name)) return &k->v[i];
    return NULL;
}

static bool is_sst(const char *name)
{
    size_t n = strlen(name);
    return n > 4 && !strcmp(name + n - 4, ".sst");
}

/* Copies the regular files of local/sub into ck_dir/rel/sub (SSTs aside when shared). */
static int upload_dir(const char *job_dir, const char *ck_dir, const char *rel, const char *local, const char *sub,
                      const char *instance, struct rn_ck_known *known, struct rn_ck_part *part, uint64_t *written,
                      struct rn_error *err)
{
    char src_dir[4096], dst_dir[4096];
    snprintf(src_dir, sizeof src_dir, "%s%s%s", local, *sub ? "/" : "", sub);
    snprintf(dst_dir, sizeof dst_dir, "%s/%s%s%s", ck_dir, rel, *sub ? "/" : "", sub);
    if (rn__mkdir_p(dst_dir)) return io_error(err, errno, "cannot create %s%s: %s", dst_dir, "");
    DIR *d = opendir(src_dir);
    if (!d) return io_error(err, errno, "cannot list %s%s: %s", src_dir, "");
    struct dirent *e;
    int rc = 0;
    while (!rc && (e = readdir(d))) {
        if (e->d_name[0] == '.' && (!e->d_name[1] || (e->d_name[1] == '.' && !e->d_name[2]))) continue;
        char src[4400], relf[2048];
        snprintf(src, sizeof src, "%s/%s", src_dir, e->d_name);
        snprintf(relf, sizeof relf, "%s%s%s/%s", rel, *sub ? "/" : "", sub, e->d_name);
        struct stat st;
        if (stat(src, &st)) {
            rc = io_error(err, errno, "cannot stat %s%s: %s", src, "");
            break;
        }
        if (S_ISDIR(st.st_mode)) {
            char sub2[1024];
            snprintf(sub2, sizeof sub2, "%s%s%s", sub, *sub ? "/" : "", e->d_name);
            rc = upload_dir(job_dir, ck_dir, rel, local, sub2, instance, known, part, written, err);
            continue;
        }
        uint64_t size = (uint64_t)st.st_size, n = 0;
        if (known && is_sst(e->d_name) && !strcmp(sub, "db")) {
            const struct rn_ck_shared *k = known_find(known, e->d_name, size);
            if (k) {
                rc = add_shared(part, e->d_name, k->path, size) ? rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory") : 0;
                continue;
            }
            char spath[1024], dst[4096];
            snprintf(spath, sizeof spath, "shared/%s-%s", instance, e->d_name);
            snprintf(dst, sizeof dst, "%s/%s", job_dir, spath);
            if ((rc = copy_file(src, dst, &n, err))) break;
            *written += n;
            if (add_shared(part, e->d_name, spath, size) || rn__ck_known_add(known, e->d_name, spath, size))
                rc = rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory");
            continue;
        }
        char dst[4096];
        snprintf(dst, sizeof dst, "%s/%s", ck_dir, relf);
        if ((rc = copy_file(src, dst, &n, err))) break;
        *written += n;
        if (add_file(part, relf, n)) rc = rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory");
    }
    closedir(d);
    return rc;
}

int rn__ck_upload_keyed(const char *job_dir, const char *ck_dir, const char *rel, const char *local,
                        const char *instance, struct rn_ck_known *known, struct rn_ck_part *part, uint64_t *written,
                        struct rn_error *err)
{
    int rc = upload_dir(job_dir, ck_dir, rel, local, "", instance, known, part, written, err);
    if (!rc && !(part->keyed = strdup(rel))) rc = rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory");
    rn__rm_rf(local);
    return rc;
}

int rn__ck_part_add_tree(struct rn_ck_part *part, const char *ck_dir, const char *rel, struct rn_error *err)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/%s", ck_dir, rel);
    DIR *d = opendir(dir);
    if (!d) return io_error(err, errno, "cannot list %s%s: %s", dir, "");
    struct dirent *e;
    int rc = 0;
    while (!rc && (e = readdir(d))) {
        if (e->d_name[0] == '.' && (!e->d_name[1] || (e->d_name[1] == '.' && !e->d_name[2]))) continue;
        char sub[2048], full[4096];
        snprintf(sub, sizeof sub, "%s/%s", rel, e->d_name);
        snprintf(full, sizeof full, "%s/%s", ck_dir, sub);
        struct stat st;
        if (stat(full, &st)) rc = io_error(err, errno, "cannot stat %s%s: %s", full, "");
        else if (S_ISDIR(st.st_mode)) rc = rn__ck_part_add_tree(part, ck_dir, sub, err);
        else if (add_file(part, sub, (uint64_t)st.st_size)) rc = rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory");
    }
    closedir(d);
    return rc;
}

/* ---- restore ---- */

int rn__ck_materialize(const struct rn_ck_meta *m, const struct rn_ck_part *part, const char *tmp, char *out,
                       size_t out_len, bool *made, struct rn_error *err)
{
    *made = false;
    if (!part->n_shared) {
        snprintf(out, out_len, "%s/%s", m->dir, part->keyed);
        return 0;
    }
    rn__rm_rf(tmp);
    if (rn__mkdir_p(tmp)) return io_error(err, errno, "cannot create %s%s: %s", tmp, "");
    *made = true;
    size_t klen = strlen(part->keyed);
    int rc = 0;
    for (size_t i = 0; !rc && i < part->n_files; i++) {
        const char *f = part->files[i].path;
        if (strncmp(f, part->keyed, klen) || f[klen] != '/') continue;
        char src[4096], dst[4096];
        snprintf(src, sizeof src, "%s/%s", m->dir, f);
        snprintf(dst, sizeof dst, "%s/%s", tmp, f + klen + 1);
        char *slash = strrchr(dst, '/');
        *slash = 0;
        if (rn__mkdir_p(dst)) rc = io_error(err, errno, "cannot create %s%s: %s", dst, "");
        *slash = '/';
        if (!rc) rc = link_or_copy(src, dst, err);
    }
    char db[4096];
    snprintf(db, sizeof db, "%s/db", tmp);
    if (!rc && rn__mkdir_p(db)) rc = io_error(err, errno, "cannot create %s%s: %s", db, "");
    for (size_t i = 0; !rc && i < part->n_shared; i++) {
        char src[8192], dst[8192];
        snprintf(src, sizeof src, "%s/%s", m->job_dir, part->shared[i].path);
        snprintf(dst, sizeof dst, "%s/%s", db, part->shared[i].name);
        rc = link_or_copy(src, dst, err);
    }
    snprintf(out, out_len, "%s", tmp);
    return rc;
}

/* ---- users' view ---- */

int rn_checkpoint_read_info(const char *dir, struct rn_checkpoint_info *out, struct rn_error *err)
{
    struct rn_ck_meta m;
    int rc = rn__ck_meta_read(dir, &m, err);
    if (rc) return rc;
    memset(out, 0, sizeof *out);
    out->id = m.id;
    out->savepoint = m.savepoint;
    out->finished = m.finished;
    out->time_ms = m.time_ms;
    snprintf(out->job_name, sizeof out->job_name, "%s", m.job_name);
    out->n_states = (uint32_t)m.n_parts;
    out->bytes = m.bytes;
    rn__ck_meta_free(&m);
    return 0;
}

struct cand {
    int64_t id;
    char *dir;
};

static int cmp_cand_desc(const void *a, const void *b)
{
    const struct cand *x = a, *y = b;
    return x->id < y->id ? 1 : x->id > y->id ? -1 : 0;
}

/* The chk-<n> directories of a job directory, newest first. */
static int list_chk(const char *job_dir, struct cand **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    DIR *d = opendir(job_dir);
    if (!d) return RN_EIO;
    struct dirent *e;
    size_t cap = 0;
    int rc = 0;
    while ((e = readdir(d))) {
        int64_t id = chk_id(e->d_name);
        if (id < 0) continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            struct cand *v = realloc(*out, cap * sizeof *v);
            if (!v) {
                rc = RN_ENOMEM;
                break;
            }
            *out = v;
        }
        if (!((*out)[*n].dir = path_join(job_dir, e->d_name))) {
            rc = RN_ENOMEM;
            break;
        }
        (*out)[(*n)++].id = id;
    }
    closedir(d);
    if (*n) qsort(*out, *n, sizeof **out, cmp_cand_desc);
    return rc;
}

int rn_checkpoint_resolve(const char *path, char *out, size_t out_len, FILE *log, struct rn_error *err)
{
    struct stat st;
    if (stat(path, &st) || !S_ISDIR(st.st_mode))
        return rn_error_set(err, RN_ENOTFOUND, 0, 0, "%s: no such checkpoint or savepoint directory", path);
    char meta[4096];
    snprintf(meta, sizeof meta, "%s/%s", path, META_NAME);
    if (!access(meta, F_OK)) {
        struct rn_checkpoint_info info;
        int rc = rn_checkpoint_read_info(path, &info, err);
        if (!rc) snprintf(out, out_len, "%s", path);
        return rc;
    }
    struct cand *c;
    size_t n;
    if (list_chk(path, &c, &n)) return rn_error_set(err, RN_EIO, 0, 0, "cannot list %s", path);
    int rc = RN_ENOTFOUND;
    for (size_t i = 0; i < n && rc; i++) {
        struct rn_checkpoint_info info;
        struct rn_error e2;
        rc = rn_checkpoint_read_info(c[i].dir, &info, &e2);
        if (!rc) snprintf(out, out_len, "%s", c[i].dir);
        else if (log) fprintf(log, "runnel: skipping checkpoint %s: %s\n", c[i].dir, e2.msg);
    }
    for (size_t i = 0; i < n; i++) free(c[i].dir);
    free(c);
    if (rc)
        rn_error_set(err, RN_ENOTFOUND, 0, 0, "%s has no usable checkpoint (and no %s: it is not a checkpoint itself)", path,
                     META_NAME);
    return rc;
}

static void print_one(FILE *out, const char *dir, int *valid)
{
    struct rn_checkpoint_info info;
    struct rn_error e;
    if (rn_checkpoint_read_info(dir, &info, &e)) {
        fprintf(out, "%-8s %-10s %s (%s)\n", "-", e.code == RN_ENOTFOUND ? "incomplete" : "corrupt", dir, e.msg);
        return;
    }
    (*valid)++;
    time_t t = (time_t)(info.time_ms / 1000);
    struct tm tm;
    char when[32];
    strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", gmtime_r(&t, &tm));
    fprintf(out, "%-8" PRId64 " %-10s %s  %10.1f MB  %s\n", info.id,
            info.savepoint ? "savepoint" : info.finished ? "finished" : "checkpoint", when, (double)info.bytes / 1e6, dir);
}

int rn_checkpoint_list(const char *job_dir, FILE *out, struct rn_error *err)
{
    struct cand *c;
    size_t n;
    if (list_chk(job_dir, &c, &n)) return rn_error_set(err, RN_EIO, 0, 0, "cannot list %s: %s", job_dir, strerror(errno));
    int valid = 0;
    for (size_t i = n; i-- > 0;) print_one(out, c[i].dir, &valid);
    for (size_t i = 0; i < n; i++) free(c[i].dir);
    free(c);
    char *sp = path_join(job_dir, "savepoints");
    DIR *d = sp ? opendir(sp) : NULL;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char *p = path_join(sp, e->d_name);
        if (p) print_one(out, p, &valid);
        free(p);
    }
    if (d) closedir(d);
    free(sp);
    return valid;
}
