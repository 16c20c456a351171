/*
 * state.c — the public keyed-state API (runnel/state.h): configuration checks, key encoding,
 * snapshot manifests, and dispatch to the backend that an instance was opened with.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "state_internal.h"

static int64_t real_clock(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const struct rn_backend_ops *ops_of(enum rn_state_backend_kind k)
{
    return k == RN_STATE_ROCKSDB ? &rn_rocksdb_backend_ops : k == RN_STATE_MEMORY ? &rn_memory_backend_ops : NULL;
}

int rn__state_init_head(rn_state_backend *b, const struct rn_backend_ops *ops, const struct rn_state_config *cfg,
                        struct rn_error *err)
{
    if (cfg->max_parallelism < 1 || cfg->max_parallelism > 32768)
        return rn_error_set(err, RN_EINVAL, 0, 0, "max_parallelism must be from 1 to 32768, not %u", cfg->max_parallelism);
    if (cfg->kg_first > cfg->kg_last || cfg->kg_last >= cfg->max_parallelism)
        return rn_error_set(err, RN_EINVAL, 0, 0, "key group range [%u, %u] does not fit %u key groups", cfg->kg_first,
                            cfg->kg_last, cfg->max_parallelism);
    b->ops = ops;
    b->cfg = *cfg;
    b->cfg.dir = cfg->dir ? strdup(cfg->dir) : NULL;
    if (cfg->dir && !b->cfg.dir) return rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory");
    b->clock = cfg->clock ? cfg->clock : real_clock;
    return 0;
}

void rn__state_free_head(rn_state_backend *b) { free((char *)b->cfg.dir); }

enum rn_state_backend_kind rn_state_backend_kind(const rn_state_backend *b) { return b->cfg.kind; }

int rn__state_check_desc(const struct rn_state_desc *d, const struct rn_state *prev, struct rn_error *err)
{
    if (!d->name || !*d->name) return rn_error_set(err, RN_EINVAL, 0, 0, "a state needs a name");
    if ((unsigned)d->kind > RN_STATE_MAP) return rn_error_set(err, RN_EINVAL, 0, 0, "state '%s': unknown kind", d->name);
    if (d->kind == RN_STATE_REDUCING && (!d->combine || !d->value_size))
        return rn_error_set(err, RN_EINVAL, 0, 0, "reducing state '%s' needs a combine function and a fixed value size",
                            d->name);
    if (d->ttl_ms < 0) return rn_error_set(err, RN_EINVAL, 0, 0, "state '%s': negative time-to-live", d->name);
    if (prev && (prev->desc.kind != d->kind || prev->desc.value_size != d->value_size || prev->desc.ttl_ms != d->ttl_ms))
        return rn_error_set(err, RN_EINVAL, 0, 0, "state '%s' is already declared with another kind, size or TTL", d->name);
    return 0;
}

int rn_state_backend_open(const struct rn_state_config *cfg, rn_state_backend **out, struct rn_error *err)
{
    const struct rn_backend_ops *ops = ops_of(cfg->kind);
    *out = NULL;
    if (!ops) return rn_error_set(err, RN_EINVAL, 0, 0, "unknown state backend");
    return ops->open(cfg, out, err);
}

int rn_state_backend_restore(const struct rn_state_config *cfg, const char *const *dirs, size_t n_dirs,
                             rn_state_backend **out, struct rn_error *err)
{
    const struct rn_backend_ops *ops = ops_of(cfg->kind);
    *out = NULL;
    if (!ops) return rn_error_set(err, RN_EINVAL, 0, 0, "unknown state backend");
    return ops->restore(cfg, dirs, n_dirs, out, err);
}

void rn_state_backend_close(rn_state_backend *b)
{
    if (b) b->ops->close(b);
}

int rn_state_declare(rn_state_backend *b, const struct rn_state_desc *d, rn_state **out, struct rn_error *err)
{
    return b->ops->declare(b, d, out, err);
}

#define OPS(s) ((s)->backend->ops)
int rn_state_get(rn_state *s, const struct rn_state_key *k, int64_t ns, const void **val, uint32_t *len)
{
    return OPS(s)->get(s, k, ns, val, len);
}
int rn_state_put(rn_state *s, const struct rn_state_key *k, int64_t ns, const void *val, uint32_t len)
{
    if (s->desc.value_size && len != s->desc.value_size) return RN_EINVAL;
    return OPS(s)->put(s, k, ns, val, len);
}
int rn_state_remove(rn_state *s, const struct rn_state_key *k, int64_t ns) { return OPS(s)->remove(s, k, ns); }
int rn_state_add(rn_state *s, const struct rn_state_key *k, int64_t ns, const void *val)
{
    if (s->desc.kind != RN_STATE_REDUCING) return RN_EINVAL;
    return OPS(s)->add(s, k, ns, val);
}
int rn_state_get_many(rn_state *s, const struct rn_state_key *keys, const int64_t *ns, uint32_t n, const void **vals,
                      uint32_t *lens)
{
    return OPS(s)->get_many(s, keys, ns, n, vals, lens);
}
int rn_state_add_many(rn_state *s, const struct rn_state_key *keys, const int64_t *ns, uint32_t n, const void *vals)
{
    if (s->desc.kind != RN_STATE_REDUCING) return RN_EINVAL;
    return OPS(s)->add_many(s, keys, ns, n, vals);
}
int rn_state_list_append(rn_state *s, const struct rn_state_key *k, int64_t ns, const void *val, uint32_t len)
{
    if (s->desc.kind != RN_STATE_LIST || (s->desc.value_size && len != s->desc.value_size)) return RN_EINVAL;
    return OPS(s)->list_append(s, k, ns, val, len);
}
int rn_state_list_each(rn_state *s, const struct rn_state_key *k, int64_t ns,
                       int (*fn)(const void *val, uint32_t len, void *user), void *user)
{
    if (s->desc.kind != RN_STATE_LIST) return RN_EINVAL;
    return OPS(s)->list_each(s, k, ns, fn, user);
}
int rn_state_map_put(rn_state *s, const struct rn_state_key *k, int64_t ns, const void *mkey, uint32_t mlen,
                     const void *val, uint32_t len)
{
    if (s->desc.kind != RN_STATE_MAP || (s->desc.value_size && len != s->desc.value_size)) return RN_EINVAL;
    return OPS(s)->map_put(s, k, ns, mkey, mlen, val, len);
}
int rn_state_map_get(rn_state *s, const struct rn_state_key *k, int64_t ns, const void *mkey, uint32_t mlen,
                     const void **val, uint32_t *len)
{
    if (s->desc.kind != RN_STATE_MAP) return RN_EINVAL;
    return OPS(s)->map_get(s, k, ns, mkey, mlen, val, len);
}
int rn_state_map_remove(rn_state *s, const struct rn_state_key *k, int64_t ns, const void *mkey, uint32_t mlen)
{
    if (s->desc.kind != RN_STATE_MAP) return RN_EINVAL;
    return OPS(s)->map_remove(s, k, ns, mkey, mlen);
}
int rn_state_map_each(rn_state *s, const struct rn_state_key *k, int64_t ns,
                      int (*fn)(const void *mkey, uint32_t mlen, const void *val, uint32_t len, void *user), void *user)
{
    if (s->desc.kind != RN_STATE_MAP) return RN_EINVAL;
    return OPS(s)->map_each(s, k, ns, fn, user);
}
int rn_state_each(rn_state *s, uint32_t kg_first, uint32_t kg_last, int (*fn)(const struct rn_state_entry *e, void *user),
                  void *user)
{
    return OPS(s)->each(s, kg_first, kg_last, fn, user);
}
int rn_state_each_in_namespace(rn_state *s, int64_t ns, int (*fn)(const struct rn_state_entry *e, void *user), void *user)
{
    return OPS(s)->each_in_namespace(s, ns, fn, user);
}
int rn_state_snapshot(rn_state_backend *b, const char *dir, struct rn_error *err) { return b->ops->snapshot(b, dir, err); }
int rn_state_snapshot_begin(rn_state_backend *b, const char *dir, struct rn_error *err)
{
    return b->ops->snapshot_begin ? b->ops->snapshot_begin(b, dir, err) : b->ops->snapshot(b, dir, err);
}
int rn_state_snapshot_poll(rn_state_backend *b, bool wait, struct rn_error *err)
{
    return b->ops->snapshot_poll ? b->ops->snapshot_poll(b, wait, err) : 0;
}
uint64_t rn_state_backend_entries(const rn_state_backend *b) { return b->ops->entries(b); }
uint64_t rn_state_backend_memory(const rn_state_backend *b) { return b->ops->memory(b); }

/* ---- manifests ---- */

int rn__state_write_manifest(const char *dir, const char *backend, const struct rn_state_config *cfg, const char *extra,
                             struct rn_error *err)
{
    char tmp[4096], path[4096];
    snprintf(tmp, sizeof tmp, "%s/RUNNEL-STATE.tmp", dir);
    snprintf(path, sizeof path, "%s/RUNNEL-STATE", dir);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0666);
    if (fd < 0) return rn_error_set(err, RN_EIO, 0, 0, "cannot write %s: %s", tmp, strerror(errno));
    char head[256];
    int n = snprintf(head, sizeof head, "backend %s\nmax_parallelism %u\nkey_groups %u %u\n", backend,
                     cfg->max_parallelism, cfg->kg_first, cfg->kg_last);
    size_t el = extra ? strlen(extra) : 0;
    bool ok = write(fd, head, (size_t)n) == n && (el == 0 || write(fd, extra, el) == (ssize_t)el) && fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    if (!ok || rename(tmp, path)) {
        unlink(tmp);
        return rn_error_set(err, RN_EIO, 0, 0, "cannot write %s: %s", path, strerror(errno));
    }
    return 0;
}

int rn__state_read_manifest(const char *dir, const char *backend, uint32_t max_parallelism, uint32_t *kg_first,
                            uint32_t *kg_last, char **extra, struct rn_error *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/RUNNEL-STATE", dir);
    FILE *f = fopen(path, "rb");
    if (!f) return rn_error_set(err, RN_EIO, 0, 0, "cannot read state snapshot %s: %s", path, strerror(errno));
    char name[64] = "";
    unsigned mp = 0, a = 0, b = 0;
    int got = fscanf(f, "backend %63s max_parallelism %u key_groups %u %u", name, &mp, &a, &b);
    long at = ftell(f);
    fseek(f, 0, SEEK_END);
    long end = ftell(f);
    char *rest = NULL;
    if (got == 4 && at >= 0 && end >= at && end - at < (1 << 24)) {
        rest = calloc(1, (size_t)(end - at) + 1);
        fseek(f, at, SEEK_SET);
        if (rest && fread(rest, 1, (size_t)(end - at), f) != (size_t)(end - at)) {
            free(rest);
            rest = NULL;
        }
    }
    fclose(f);
    if (got != 4 || !rest) {
        free(rest);
        return rn_error_set(err, RN_ECORRUPT, 0, 0, "state snapshot %s is truncated or corrupt", path);
    }
    if (strcmp(name, backend)) {
        free(rest);
        return rn_error_set(err, RN_EINVAL, 0, 0, "state snapshot %s was written by the %s backend, not %s", path, name, backend);
    }
    if (mp != max_parallelism || a > b || b >= mp) {
        free(rest);
        return rn_error_set(err, RN_EINVAL, 0, 0, "state snapshot %s has %u key groups (range %u-%u), the job has %u", path,
                            mp, a, b, max_parallelism);
    }
    *kg_first = a;
    *kg_last = b;
    if (extra) *extra = rest;
    else free(rest);
    return 0;
}

int rn_state_snapshot_files(const char *dir, char ***names, size_t *n, struct rn_error *err)
{
    /* rocksdb snapshots list their SST files on "sst <name>" lines of the manifest */
    *names = NULL;
    *n = 0;
    char path[4096];
    snprintf(path, sizeof path, "%s/RUNNEL-STATE", dir);
    FILE *f = fopen(path, "rb");
    if (!f) return rn_error_set(err, RN_EIO, 0, 0, "cannot read state snapshot %s: %s", path, strerror(errno));
    char line[4096];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "sst ", 4)) continue;
        line[strcspn(line, "\n")] = 0;
        char **nn = realloc(*names, (*n + 1) * sizeof *nn);
        if (!nn || !(nn[*n] = strdup(line + 4))) {
            free(nn);
            fclose(f);
            return rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory");
        }
        *names = nn;
        (*n)++;
    }
    fclose(f);
    return 0;
}
