/*
 * registry.c — the operator registry: built-in definitions and plugins loaded with dlopen from
 * a plugin directory. Every definition, built-in or not, passes the same checks: ABI major
 * version, struct size (a plugin built against another layout would read garbage), a valid
 * name, the callbacks its kind needs. A refused plugin is unloaded and never half-registered.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "runnel/job.h"
#include "runnel/window_fn.h"
#include "runnel/aggregate.h"

struct entry {
    const struct rn_operator_def *def;
    char *origin;
};

/* A registered window function (runnel/window_fn.h). */
struct window_fn_entry {
    const struct rn_window_fn_def *def;
    char *origin;
};

/* A registered aggregate function (runnel/aggregate.h). */
struct aggregate_entry {
    const struct rn_aggregate_def *def;
    char *origin;
};

struct rn_registry {
    size_t n, cap;
    struct entry *items;      /* kept sorted by name */
    size_t n_window_fns, cap_window_fns;
    struct window_fn_entry *window_fns;   /* kept sorted by name */
    size_t n_aggregates, cap_aggregates;
    struct aggregate_entry *aggregates;   /* kept sorted by name */
    size_t n_handles;
    void **handles;           /* dlopen handles, closed with the registry */
};

rn_registry *rn_registry_create(void)
{
    return calloc(1, sizeof(rn_registry));
}

void rn_registry_destroy(rn_registry *r)
{
    if (!r) return;
    for (size_t i = 0; i < r->n; i++) free(r->items[i].origin);
    free(r->items);
    for (size_t i = 0; i < r->n_window_fns; i++) free(r->window_fns[i].origin);
    free(r->window_fns);
    for (size_t i = 0; i < r->n_aggregates; i++) free(r->aggregates[i].origin);
    free(r->aggregates);
    for (size_t i = 0; i < r->n_handles; i++) dlclose(r->handles[i]);
    free(r->handles);
    free(r);
}

static int check_def(const struct rn_operator_def *d, struct rn_error *err)
{
    if (!d) return rn_error_set(err, RN_EINVAL, 0, 0, "the entry point returned no operator definition");
    if (d->abi_version >> 16 != RN_OPERATOR_ABI_MAJOR)
        return rn_error_set(err, RN_EINVAL, 0, 0,
                            "built for operator ABI %u.%u, this runnel has ABI %u.%u (major versions must match)",
                            d->abi_version >> 16, d->abi_version & 0xffff, RN_OPERATOR_ABI_MAJOR, RN_OPERATOR_ABI_MINOR);
    if (d->struct_size != sizeof(struct rn_operator_def))
        return rn_error_set(err, RN_EINVAL, 0, 0,
                            "its struct rn_operator_def is %u bytes, this runnel's is %zu (rebuild it against this runnel's operator.h)",
                            d->struct_size, sizeof(struct rn_operator_def));
    const char *n = d->name;
    bool name_ok = n && *n >= 'a' && *n <= 'z' && strlen(n) <= 64;
    for (const char *p = n; name_ok && *p; p++) name_ok = (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_';
    if (!name_ok) return rn_error_set(err, RN_EINVAL, 0, 0, "operator name '%s' is not [a-z][a-z0-9_]*", n ? n : "(null)");
    if (!d->plan || !d->open || !d->close)
        return rn_error_set(err, RN_EINVAL, 0, 0, "operator '%s' lacks plan, open or close", n);
    if (d->n_inputs_max == 0 ? !d->poll : !d->process)
        return rn_error_set(err, RN_EINVAL, 0, 0, "operator '%s' is a %s but has no %s callback", n,
                            d->n_inputs_max ? "transformation" : "source", d->n_inputs_max ? "process" : "poll");
    if (d->n_inputs_min > d->n_inputs_max)
        return rn_error_set(err, RN_EINVAL, 0, 0, "operator '%s': n_inputs_min > n_inputs_max", n);
    for (const struct rn_option *o = d->options; o && o->name; o++)
        if ((unsigned)o->type > RN_OPT_OUTPUT)
            return rn_error_set(err, RN_EINVAL, 0, 0, "operator '%s': option '%s' has an unknown type", n, o->name);
    return 0;
}

static int add(rn_registry *r, const struct rn_operator_def *def, const char *origin, struct rn_error *err)
{
    int rc = check_def(def, err);
    if (rc) return rc;
    size_t at = 0;
    while (at < r->n && strcmp(r->items[at].def->name, def->name) < 0) at++;
    if (at < r->n && !strcmp(r->items[at].def->name, def->name))
        return rn_error_set(err, RN_EINVAL, 0, 0, "operator '%s' is already registered (by %s)", def->name,
                            r->items[at].origin);
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 32;
        struct entry *items = realloc(r->items, cap * sizeof *items);
        if (!items) return rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory");
        r->items = items;
        r->cap = cap;
    }
    char *o = strdup(origin);
    if (!o) return rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory");
    memmove(&r->items[at + 1], &r->items[at], (r->n - at) * sizeof *r->items);
    r->items[at] = (struct entry){def, o};
    r->n++;
    return 0;
}

int rn_registry_add(rn_registry *r, const struct rn_operator_def *def, struct rn_error *err)
{
    return add(r, def, "built-in", err);
}

/* ---- window functions (runnel/window_fn.h): the same checks as operators ---- */

static int check_window_fn(const struct rn_window_fn_def *d, struct rn_error *err)
{
    if (!d) return rn_error_set(err, RN_EINVAL, 0, 0, "no window function definition");
    if (d->abi_version >> 16 != RN_WINDOW_FN_ABI_MAJOR)
        return rn_error_set(err, RN_EINVAL, 0, 0,
                            "window function built for window-function ABI %u.%u, this runnel has ABI %u.%u "
                            "(major versions must match)",
                            d->abi_version >> 16, d->abi_version & 0xffff, RN_WINDOW_FN_ABI_MAJOR, RN_WINDOW_FN_ABI_MINOR);
    if (d->struct_size != sizeof(struct rn_window_fn_def))
        return rn_error_set(err, RN_EINVAL, 0, 0,
                            "its struct rn_window_fn_def is %u bytes, this runnel's is %zu (rebuild it against this "
                            "runnel's window_fn.h)",
                            d->struct_size, sizeof(struct rn_window_fn_def));
    const char *n = d->name;
    bool name_ok = n && *n >= 'a' && *n <= 'z' && strlen(n) <= 64;
    for (const char *p = n; name_ok && *p; p++) name_ok = (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_';
    if (!name_ok) return rn_error_set(err, RN_EINVAL, 0, 0, "window function name '%s' is not [a-z][a-z0-9_]*", n ? n : "(null)");
    if (!d->plan || !d->process)
        return rn_error_set(err, RN_EINVAL, 0, 0, "window function '%s' lacks plan or process", n);
    for (const struct rn_option *o = d->options; o && o->name; o++)
        if ((unsigned)o->type > RN_OPT_SCHEMA)
            return rn_error_set(err, RN_EINVAL, 0, 0, "window function '%s': option '%s' has an unknown type", n, o->name);
    return 0;
}

static int add_window_fn(rn_registry *r, const struct rn_window_fn_def *def, const char *origin, struct rn_error *err)
{
    int rc = check_window_fn(def, err);
    if (rc) return rc;
    size_t at = 0;
    while (at < r->n_window_fns && strcmp(r->window_fns[at].def->name, def->name) < 0) at++;
    if (at < r->n_window_fns && !strcmp(r->window_fns[at].def->name, def->name))
        return rn_error_set(err, RN_EINVAL, 0, 0, "window function '%s' is already registered (by %s)", def->name,
                            r->window_fns[at].origin);
    if (r->n_window_fns == r->cap_window_fns) {
        size_t cap = r->cap_window_fns ? r->cap_window_fns * 2 : 8;
        struct window_fn_entry *items = realloc(r->window_fns, cap * sizeof *items);
        if (!items) return rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory");
        r->window_fns = items;
        r->cap_window_fns = cap;
    }
    char *o = strdup(origin);
    if (!o) return rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory");
    memmove(&r->window_fns[at + 1], &r->window_fns[at], (r->n_window_fns - at) * sizeof *r->window_fns);
    r->window_fns[at] = (struct window_fn_entry){def, o};
    r->n_window_fns++;
    return 0;
}

int rn_registry_add_window_fn(rn_registry *r, const struct rn_window_fn_def *def, struct rn_error *err)
{
    return add_window_fn(r, def, "built-in", err);
}

const struct rn_window_fn_def *rn_registry_find_window_fn(const rn_registry *r, const char *name)
{
    size_t lo = 0, hi = r ? r->n_window_fns : 0;
    while (name && lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(r->window_fns[mid].def->name, name);
        if (!c) return r->window_fns[mid].def;
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

size_t rn_registry_window_fn_len(const rn_registry *r) { return r->n_window_fns; }
const struct rn_window_fn_def *rn_registry_window_fn_at(const rn_registry *r, size_t i)
{
    return i < r->n_window_fns ? r->window_fns[i].def : NULL;
}
const char *rn_registry_window_fn_origin(const rn_registry *r, size_t i)
{
    return i < r->n_window_fns ? r->window_fns[i].origin : NULL;
}

/* The window functions a plugin exports (rn_plugin_window_fns), all checked, none registered
 * yet: *out gets the NULL-terminated list (NULL when the plugin exports none) and *n its length. */
static int plugin_window_fns(const rn_registry *r, void *h, const struct rn_window_fn_def *const **out, size_t *n,
                             struct rn_error *err)
{
    rn_plugin_window_fns_fn fn = (rn_plugin_window_fns_fn)dlsym(h, RN_PLUGIN_WINDOW_FNS);
    *out = NULL;
    *n = 0;
    if (!fn) return 0;
    const struct rn_window_fn_def *const *defs = fn();
    if (!defs) return rn_error_set(err, RN_EINVAL, 0, 0, "%s returned NULL", RN_PLUGIN_WINDOW_FNS);
    for (size_t i = 0; defs[i]; i++) {
        int rc = check_window_fn(defs[i], err);
        if (!rc && rn_registry_find_window_fn(r, defs[i]->name))
            rc = rn_error_set(err, RN_EINVAL, 0, 0, "window function '%s' is already registered", defs[i]->name);
        for (size_t j = 0; !rc && j < i; j++)
            if (!strcmp(defs[j]->name, defs[i]->name))
                rc = rn_error_set(err, RN_EINVAL, 0, 0, "window function '%s' is listed twice", defs[i]->name);
        if (rc) return rc;
        *n = i + 1;
    }
    *out = defs;
    return 0;
}

/* ---- aggregate functions (runnel/aggregate.h): the same checks as operators ---- */

static int check_aggregate(const struct rn_aggregate_def *d, struct rn_error *err)
{
    static const char *const builtin[] = {"count", "sum", "min", "max", "avg", "count_distinct", "first", "last"};
    if (!d) return rn_error_set(err, RN_EINVAL, 0, 0, "no aggregate function definition");
    if (d->abi_version >> 16 != RN_AGGREGATE_ABI_MAJOR)
        return rn_error_set(err, RN_EINVAL, 0, 0,
                            "aggregate function built for aggregate ABI %u.%u, this runnel has ABI %u.%u "
                            "(major versions must match)",
                            d->abi_version >> 16, d->abi_version & 0xffff, RN_AGGREGATE_ABI_MAJOR, RN_AGGREGATE_ABI_MINOR);
    if (d->struct_size != sizeof(struct rn_aggregate_def))
        return rn_error_set(err, RN_EINVAL, 0, 0,
                            "its struct rn_aggregate_def is %u bytes, this runnel's is %zu (rebuild it against this "
                            "runnel's aggregate.h)",
                            d->struct_size, sizeof(struct rn_aggregate_def));
    const char *n = d->name;
    bool name_ok = n && *n >= 'a' && *n <= 'z' && strlen(n) <= 64;
    for (const char *p = n; name_ok && *p; p++) name_ok = (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_';
    if (!name_ok) return rn_error_set(err, RN_EINVAL, 0, 0, "aggregate function name '%s' is not [a-z][a-z0-9_]*", n ? n : "(null)");
    for (size_t i = 0; i < sizeof builtin / sizeof *builtin; i++)
        if (!strcmp(n, builtin[i]))
            return rn_error_set(err, RN_EINVAL, 0, 0, "aggregate function '%s' has the name of a built-in aggregate", n);
    if (!d->plan || !d->add || !d->merge || !d->result)
        return rn_error_set(err, RN_EINVAL, 0, 0, "aggregate function '%s' lacks plan, add, merge or result", n);
    return 0;
}

static int add_aggregate(rn_registry *r, const struct rn_aggregate_def *def, const char *origin, struct rn_error *err)
{
    int rc = check_aggregate(def, err);
    if (rc) return rc;
    size_t at = 0;
    while (at < r->n_aggregates && strcmp(r->aggregates[at].def->name, def->name) < 0) at++;
    if (at < r->n_aggregates && !strcmp(r->aggregates[at].def->name, def->name))
        return rn_error_set(err, RN_EINVAL, 0, 0, "aggregate function '%s' is already registered (by %s)", def->name,
                            r->aggregates[at].origin);
    if (r->n_aggregates == r->cap_aggregates) {
        size_t cap = r->cap_aggregates ? r->cap_aggregates * 2 : 8;
        struct aggregate_entry *items = realloc(r->aggregates, cap * sizeof *items);
        if (!items) return rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory");
        r->aggregates = items;
        r->cap_aggregates = cap;
    }
    char *o = strdup(origin);
    if (!o) return rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory");
    memmove(&r->aggregates[at + 1], &r->aggregates[at], (r->n_aggregates - at) * sizeof *r->aggregates);
    r->aggregates[at] = (struct aggregate_entry){def, o};
    r->n_aggregates++;
    return 0;
}

int rn_registry_add_aggregate(rn_registry *r, const struct rn_aggregate_def *def, struct rn_error *err)
{
    return add_aggregate(r, def, "built-in", err);
}

const struct rn_aggregate_def *rn_registry_find_aggregate(const rn_registry *r, const char *name)
{
    size_t lo = 0, hi = r ? r->n_aggregates : 0;
    while (name && lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(r->aggregates[mid].def->name, name);
        if (!c) return r->aggregates[mid].def;
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

size_t rn_registry_aggregate_len(const rn_registry *r) { return r->n_aggregates; }
const struct rn_aggregate_def *rn_registry_aggregate_at(const rn_registry *r, size_t i)
{
    return i < r->n_aggregates ? r->aggregates[i].def : NULL;
}
const char *rn_registry_aggregate_origin(const rn_registry *r, size_t i)
{
    return i < r->n_aggregates ? r->aggregates[i].origin : NULL;
}

/* The aggregate functions a plugin exports (rn_plugin_aggregates), all checked, none
 * registered yet: *out gets the NULL-terminated list (NULL when it exports none), *n its length. */
static int plugin_aggregates(const rn_registry *r, void *h, const struct rn_aggregate_def *const **out, size_t *n,
                             struct rn_error *err)
{
    rn_plugin_aggregates_fn fn = (rn_plugin_aggregates_fn)dlsym(h, RN_PLUGIN_AGGREGATES);
    *out = NULL;
    *n = 0;
    if (!fn) return 0;
    const struct rn_aggregate_def *const *defs = fn();
    if (!defs) return rn_error_set(err, RN_EINVAL, 0, 0, "%s returned NULL", RN_PLUGIN_AGGREGATES);
    for (size_t i = 0; defs[i]; i++) {
        int rc = check_aggregate(defs[i], err);
        if (!rc && rn_registry_find_aggregate(r, defs[i]->name))
            rc = rn_error_set(err, RN_EINVAL, 0, 0, "aggregate function '%s' is already registered", defs[i]->name);
        for (size_t j = 0; !rc && j < i; j++)
            if (!strcmp(defs[j]->name, defs[i]->name))
                rc = rn_error_set(err, RN_EINVAL, 0, 0, "aggregate function '%s' is listed twice", defs[i]->name);
        if (rc) return rc;
        *n = i + 1;
    }
    *out = defs;
    return 0;
}

int rn_registry_load_plugin(rn_registry *r, const char *path, struct rn_error *err)
{
    /* RTLD_NODELETE: a plugin stays mapped after dlclose. Libraries it links may keep threads
     * and allocations past the registry (librdkafka's global state), which must not run or be
     * reported from unmapped code; LeakSanitizer can then also name a plugin's frames. */
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
    if (!h) return rn_error_set(err, RN_EINVAL, 0, 0, "cannot load: %s", dlerror());
    const struct rn_operator_def *single = NULL;
    const struct rn_operator_def *const *many = NULL;
    rn_plugin_entry_fn one = (rn_plugin_entry_fn)dlsym(h, RN_PLUGIN_ENTRY);
    rn_plugin_entries_fn all = (rn_plugin_entries_fn)dlsym(h, RN_PLUGIN_ENTRIES);
    const struct rn_window_fn_def *const *window_fns = NULL;
    size_t n_window_fns = 0;
    int wrc = plugin_window_fns(r, h, &window_fns, &n_window_fns, err);
    const struct rn_aggregate_def *const *aggregates = NULL;
    size_t n_aggregates = 0;
    if (!wrc) wrc = plugin_aggregates(r, h, &aggregates, &n_aggregates, err);
    if (wrc) {
        dlclose(h);
        return wrc;
    }
    if (one) single = one();
    else if (all) many = all();
    else if (!window_fns && !aggregates) {
        dlclose(h);
        return rn_error_set(err, RN_EINVAL, 0, 0, "exports neither %s nor %s (nor %s, nor %s)", RN_PLUGIN_ENTRY,
                            RN_PLUGIN_ENTRIES, RN_PLUGIN_WINDOW_FNS, RN_PLUGIN_AGGREGATES);
    }
    /* check everything before registering anything */
    size_t n = 0;
    const struct rn_operator_def *const *defs = many ? many : &single;
    for (; many ? defs[n] != NULL : (one != NULL && n < 1); n++) {
        int rc = check_def(defs[n], err);
        if (!rc && rn_registry_find(r, defs[n]->name))
            rc = rn_error_set(err, RN_EINVAL, 0, 0, "operator '%s' is already registered", defs[n]->name);
        if (rc) {
            dlclose(h);
            return rc;
        }
    }
    void **handles = realloc(r->handles, (r->n_handles + 1) * sizeof *handles);
    if (!handles) {
        dlclose(h);
        return rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory");
    }
    r->handles = handles;
    r->handles[r->n_handles++] = h;
    for (size_t i = 0; i < n; i++) {
        int rc = add(r, defs[i], path, err);
        if (rc) return rc;
    }
    for (size_t i = 0; i < n_window_fns; i++) {
        int rc = add_window_fn(r, window_fns[i], path, err);
        if (rc) return rc;
    }
    for (size_t i = 0; i < n_aggregates; i++) {
        int rc = add_aggregate(r, aggregates[i], path, err);
        if (rc) return rc;
    }
    return 0;
}

int rn_registry_load_dir(rn_registry *r, const char *dir, FILE *warn, unsigned *refused)
{
    DIR *d = opendir(dir);
    if (refused) *refused = 0;
    if (!d) return RN_EIO;
    struct dirent *e;
    char **names = NULL;
    size_t n = 0;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len < 4 || strcmp(e->d_name + len - 3, ".so") || e->d_name[0] == '.') continue;
        char **nn = realloc(names, (n + 1) * sizeof *nn);
        if (!nn) break;
        names = nn;
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    /* a stable order, whatever the directory's */
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
            char *t = names[j];
            names[j] = names[j - 1];
            names[j - 1] = t;
        }
    for (size_t i = 0; i < n; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        struct rn_error err;
        if (rn_registry_load_plugin(r, path, &err)) {
            if (warn) fprintf(warn, "runnel: plugin %s refused: %s\n", path, err.msg);
            if (refused) (*refused)++;
        }
        free(names[i]);
    }
    free(names);
    return 0;
}

const struct rn_operator_def *rn_registry_find(const rn_registry *r, const char *name)
{
    size_t lo = 0, hi = r->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(r->items[mid].def->name, name);
        if (!c) return r->items[mid].def;
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

const char *rn_registry_closest(const rn_registry *r, const char *name)
{
    const char *best = NULL;
    size_t best_d = strlen(name) / 2 + 2;
    for (size_t i = 0; i < r->n; i++) {
        size_t d = rn__edit_distance(name, r->items[i].def->name);
        if (d < best_d) best_d = d, best = r->items[i].def->name;
    }
    return best;
}

size_t rn_registry_len(const rn_registry *r) { return r->n; }
const struct rn_operator_def *rn_registry_at(const rn_registry *r, size_t i) { return i < r->n ? r->items[i].def : NULL; }
const char *rn_registry_origin(const rn_registry *r, size_t i) { return i < r->n ? r->items[i].origin : NULL; }

void rn_operator_describe(const struct rn_operator_def *d, FILE *f)
{
    static const char *types[] = {"string", "int", "double", "bool", "duration", "expression", "map", "list", "schema", "output id"};
    fprintf(f, "%s — %s\n", d->name, d->description ? d->description : "");
    if (d->n_inputs_max == 0) fprintf(f, "  source (no input)\n");
    else if (d->n_inputs_min == d->n_inputs_max) fprintf(f, "  inputs: %u\n", d->n_inputs_min);
    else if (d->n_inputs_max == UINT32_MAX) fprintf(f, "  inputs: %u or more\n", d->n_inputs_min);
    else fprintf(f, "  inputs: %u to %u\n", d->n_inputs_min, d->n_inputs_max);
    if (d->flags & RN_OP_SINK) fprintf(f, "  sink (no output)\n");
    if (!d->options || !d->options->name) {
        fprintf(f, "  options: none\n");
        return;
    }
    fprintf(f, "  options:\n");
    for (const struct rn_option *o = d->options; o->name; o++) {
        fprintf(f, "    %-20s %-10s %s", o->name, types[o->type], o->help ? o->help : "");
        if (o->default_value && *o->default_value) fprintf(f, " (default: %s)", o->default_value);
        else fprintf(f, " (required)");
        fprintf(f, "\n");
    }
}
