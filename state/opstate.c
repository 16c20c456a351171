/*
 * opstate.c — operator (non-keyed) state: named lists of byte values per subtask, snapshotted
 * into one file and redistributed round robin on restore (runnel/state.h, rn_opstate_*).
 *
 * File: "RNOS" magic, u32 version, u32 number of lists; per list: u32 name length, name, u32
 * number of elements, then per element u32 length and bytes; finally the CRC32C of everything
 * before it. All integers little-endian. The reader checks every length against what is left.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runnel/hash.h"
#include "runnel/state.h"

#define MAGIC 0x534f4e52u   /* "RNOS" */
#define VERSION 2u
#define LIST_UNION 1u

struct elem {
    uint32_t len;
    uint8_t *data;
};

struct list {
    char *name;
    uint32_t flags;
    size_t n, cap;
    struct elem *e;
};

struct rn_opstate {
    size_t n, cap;
    struct list *lists;
};

rn_opstate *rn_opstate_create(void) { return calloc(1, sizeof(rn_opstate)); }

void rn_opstate_destroy(rn_opstate *s)
{
    if (!s) return;
    for (size_t i = 0; i < s->n; i++) {
        for (size_t k = 0; k < s->lists[i].n; k++) free(s->lists[i].e[k].data);
        free(s->lists[i].e);
        free(s->lists[i].name);
    }
    free(s->lists);
    free(s);
}

static struct list *find(const rn_opstate *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->lists[i].name, name)) return &s->lists[i];
    return NULL;
}

static struct list *find_or_add(rn_opstate *s, const char *name)
{
    struct list *l = find(s, name);
    if (l) return l;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 4;
        struct list *nl = realloc(s->lists, cap * sizeof *nl);
        if (!nl) return NULL;
        s->lists = nl;
        s->cap = cap;
    }
    l = &s->lists[s->n];
    memset(l, 0, sizeof *l);
    if (!(l->name = strdup(name))) return NULL;
    s->n++;
    return l;
}

static int append(rn_opstate *s, const char *name, uint32_t flags, const void *val, uint32_t len)
{
    struct list *l = find_or_add(s, name);
    if (!l) return RN_ENOMEM;
    if (l->n && l->flags != flags) return RN_EINVAL;   /* one list is either kind, not both */
    l->flags = flags;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        struct elem *e = realloc(l->e, cap * sizeof *e);
        if (!e) return RN_ENOMEM;
        l->e = e;
        l->cap = cap;
    }
    uint8_t *d = malloc(len ? len : 1);
    if (!d) return RN_ENOMEM;
    if (len) memcpy(d, val, len);
    l->e[l->n++] = (struct elem){len, d};
    return 0;
}

int rn_opstate_append(rn_opstate *s, const char *name, const void *val, uint32_t len)
{
    return append(s, name, 0, val, len);
}

int rn_opstate_append_union(rn_opstate *s, const char *name, const void *val, uint32_t len)
{
    return append(s, name, LIST_UNION, val, len);
}

int rn_opstate_clear(rn_opstate *s, const char *name)
{
    struct list *l = find(s, name);
    if (!l) return 0;
    for (size_t k = 0; k < l->n; k++) free(l->e[k].data);
    l->n = 0;
    return 0;
}

int rn_opstate_each(const rn_opstate *s, const char *name, int (*fn)(const void *val, uint32_t len, void *user),
                    void *user)
{
    const struct list *l = find(s, name);
    for (size_t k = 0; l && k < l->n; k++) {
        int rc = fn(l->e[k].data, l->e[k].len, user);
        if (rc) return rc;
    }
    return 0;
}

/* ---- snapshot ---- */

struct out {
    uint8_t *p;
    size_t len, cap;
    bool oom;
};

static void put(struct out *o, const void *src, size_t n)
{
    if (o->oom) return;
    if (o->len + n > o->cap) {
        size_t cap = o->cap ? o->cap : 256;
        while (cap < o->len + n) cap *= 2;
        uint8_t *p = realloc(o->p, cap);
        if (!p) {
            o->oom = true;
            return;
        }
        o->p = p;
        o->cap = cap;
    }
    if (n) memcpy(o->p + o->len, src, n);
    o->len += n;
}

static void put_u32(struct out *o, uint32_t v) { put(o, &v, 4); }

int rn_opstate_snapshot(const rn_opstate *s, const char *path, struct rn_error *err)
{
    struct out o = {0};
    put_u32(&o, MAGIC);
    put_u32(&o, VERSION);
    put_u32(&o, (uint32_t)s->n);
    for (size_t i = 0; i < s->n; i++) {
        const struct list *l = &s->lists[i];
        put_u32(&o, (uint32_t)strlen(l->name));
        put(&o, l->name, strlen(l->name));
        put_u32(&o, l->flags);
        put_u32(&o, (uint32_t)l->n);
        for (size_t k = 0; k < l->n; k++) {
            put_u32(&o, l->e[k].len);
            put(&o, l->e[k].data, l->e[k].len);
        }
    }
    uint32_t crc = o.oom ? 0 : rn_crc32c(0, o.p, o.len);
    put_u32(&o, crc);
    if (o.oom) {
        free(o.p);
        return rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory");
    }
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0666);
    bool ok = fd >= 0 && write(fd, o.p, o.len) == (ssize_t)o.len && fsync(fd) == 0;
    if (fd >= 0) ok = close(fd) == 0 && ok;
    free(o.p);
    if (!ok || rename(tmp, path)) {
        int e = errno;
        unlink(tmp);
        return rn_error_set(err, RN_EIO, 0, 0, "cannot write operator state %s: %s", path, strerror(e));
    }
    return 0;
}

/* ---- restore ---- */

struct in {
    const uint8_t *p, *end;
};

static bool take(struct in *r, void *dst, size_t n)
{
    if ((size_t)(r->end - r->p) < n) return false;
    if (dst && n) memcpy(dst, r->p, n);
    r->p += n;
    return true;
}

static int corrupt(const char *path, const char *what, struct rn_error *err)
{
    return rn_error_set(err, RN_ECORRUPT, 0, 0, "operator state %s is corrupt: %s", path, what);
}

/* Elements of each list seen so far over the files read: the running index that decides which
 * subtask an element goes to. */
struct counts {
    size_t n;
    struct count {
        char name[256];
        uint64_t seen;
    } *v;
};

static uint64_t *counter(struct counts *c, const char *name)
{
    for (size_t i = 0; i < c->n; i++)
        if (!strcmp(c->v[i].name, name)) return &c->v[i].seen;
    struct count *v = realloc(c->v, (c->n + 1) * sizeof *v);
    if (!v) return NULL;
    c->v = v;
    snprintf(v[c->n].name, sizeof v[c->n].name, "%s", name);
    v[c->n].seen = 0;
    return &v[c->n++].seen;
}

/* Adds the elements of one snapshot to out, keeping those whose running index (per list, over
 * all files so far) falls on this subtask. */
static int restore_one(const char *path, uint32_t index, uint32_t parallelism, rn_opstate *out, struct counts *seen,
                       struct rn_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) return rn_error_set(err, RN_EIO, 0, 0, "cannot read operator state %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) || st.st_size > (1L << 31)) {
        fclose(f);
        return corrupt(path, "unreadable size", err);
    }
    size_t size = (size_t)st.st_size;
    uint8_t *buf = malloc(size ? size : 1);
    bool read_ok = buf && fread(buf, 1, size, f) == size;
    fclose(f);
    if (!read_ok) {
        free(buf);
        return buf ? corrupt(path, "short read", err) : rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory");
    }
    int rc = 0;
    uint32_t magic, version, n_lists, crc;
    struct in r = {buf, buf + size};
    if (size < 16) {
        rc = corrupt(path, "truncated", err);
        goto done;
    }
    memcpy(&crc, buf + size - 4, 4);
    if (rn_crc32c(0, buf, size - 4) != crc) {
        rc = corrupt(path, "checksum mismatch", err);
        goto done;
    }
    r.end = buf + size - 4;
    if (!take(&r, &magic, 4) || !take(&r, &version, 4) || !take(&r, &n_lists, 4) || magic != MAGIC || version != VERSION) {
        rc = corrupt(path, "not an operator state file of this version", err);
        goto done;
    }
    for (uint32_t i = 0; i < n_lists && !rc; i++) {
        uint32_t nl, ne, flags;
        char name[256];
        if (!take(&r, &nl, 4) || nl == 0 || nl >= sizeof name || !take(&r, name, nl) || !take(&r, &flags, 4) ||
            (flags & ~LIST_UNION) || !take(&r, &ne, 4)) {
            rc = corrupt(path, "bad list header", err);
            break;
        }
        name[nl] = 0;
        uint64_t *count = counter(seen, name);
        if (!count || !find_or_add(out, name)) {   /* the list exists even when this subtask gets none */
            rc = rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory");
            break;
        }
        for (uint32_t k = 0; k < ne; k++, (*count)++) {
            uint32_t len;
            const uint8_t *data = r.p + 4;
            if (!take(&r, &len, 4) || !take(&r, NULL, len)) {
                rc = corrupt(path, "element runs past the end", err);
                break;
            }
            bool mine = (flags & LIST_UNION) || *count % parallelism == index;
            if (mine && (rc = append(out, name, flags, data, len))) {
                if (rc == RN_EINVAL) rc = corrupt(path, "a list is both a union and a split list", err);
                break;
            }
        }
    }
    if (!rc && r.p != r.end) rc = corrupt(path, "trailing bytes", err);
done:
    free(buf);
    return rc;
}

int rn_opstate_restore(const char *const *paths, size_t n_paths, uint32_t index, uint32_t parallelism, rn_opstate **out,
                       struct rn_error *err)
{
    *out = NULL;
    if (parallelism == 0 || index >= parallelism)
        return rn_error_set(err, RN_EINVAL, 0, 0, "subtask %u of %u does not exist", index, parallelism);
    rn_opstate *s = rn_opstate_create();
    struct counts seen = {0};
    int rc = s ? 0 : rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory");
    for (size_t i = 0; i < n_paths && !rc; i++) rc = restore_one(paths[i], index, parallelism, s, &seen, err);
    free(seen.v);
    if (rc) {
        rn_opstate_destroy(s);
        return rc;
    }
    *out = s;
    return 0;
}
