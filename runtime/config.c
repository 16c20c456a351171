/*
 * config.c — the configuration of runnel's processes (runtime/config.h): the built-in key
 * table, the parsers of each value type, and the four sources (defaults, YAML file, RUNNEL_*
 * environment variables, command-line flags) merged by precedence.
 *
 * Assumes: the YAML file is read with the engine's loader (rn__yaml_load in
 * engine/value_internal.h), which keeps line and column of every node, refuses anchors and
 * aliases, and bounds nesting depth; a file is at most 1 MiB and a full key at most 255 bytes,
 * so loading is bounded whatever the input. Nothing here is on a hot path: values are parsed
 * and allocated once, at start-up.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "internal.h"
#include "value_internal.h"

extern char **environ;

#define MAX_FILE (1u << 20)
#define MAX_KEY 256
#define MAX_STRING 4096
#define ENV_PREFIX "RUNNEL_"

/* ---- the built-in keys (sorted by name; docs/operations.md lists them) ---- */

#define MS_DAY (86400LL * 1000)

const struct rn_config_key rn_config_keys[] = {
    {"checkpoints.dir", RN_CONFIG_STRING, "",
     "The checkpoint directory of jobs whose checkpoint block names none; empty = none.", 0, 0, NULL, NULL, false},
    {"heartbeat.interval", RN_CONFIG_DURATION, "1s",
     "How often task managers and the job manager send each other heartbeats.", 10, 3600 * 1000, NULL, NULL, false},
    {"heartbeat.timeout", RN_CONFIG_DURATION, "5s",
     "How long without a heartbeat before a task manager (or the job manager) is declared lost; longer than "
     "heartbeat.interval.",
     10, MS_DAY, NULL, NULL, false},
    {"jobmanager.address", RN_CONFIG_HOSTPORT, "127.0.0.1:6123",
     "Where task managers reach the job manager's RPC port (host:port).", 1, 65535, NULL, NULL, false},
    {"jobmanager.rpc.bind", RN_CONFIG_STRING, "127.0.0.1", "The address the job manager's RPC port listens on.", 0, 0,
     NULL, NULL, false},
    {"jobmanager.rpc.port", RN_CONFIG_INT, "6123", "The job manager's RPC port; 0 = any free port.", 0, 65535, NULL,
     NULL, false},
    {"jobs.history", RN_CONFIG_INT, "100", "How many ended jobs the job manager keeps (for the REST API).", 0, 1000000,
     NULL, NULL, false},
    {"log.format", RN_CONFIG_ENUM, "text", "The format of log lines: text (logfmt-like) or json (one object a line).",
     0, 0, "text|json", NULL, false},
    {"log.level", RN_CONFIG_ENUM, "info", "The least severe level that is logged.", 0, 0, "debug|info|warn|error",
     NULL, false},
    {"plugins.dir", RN_CONFIG_STRING, "", "A directory of operator plugins (shared objects) to load; empty = none.", 0,
     0, NULL, NULL, false},
    {"rest.bind", RN_CONFIG_STRING, "127.0.0.1", "The address the REST API listens on.", 0, 0, NULL, NULL, false},
    {"rest.max-body", RN_CONFIG_SIZE, "16mb", "The largest REST request body (a job submission) that is accepted.",
     1024, 1LL << 30, NULL, NULL, false},
    {"rest.port", RN_CONFIG_INT, "8081", "The REST API's port; 0 = any free port.", 0, 65535, NULL, NULL, false},
    {"rest.token", RN_CONFIG_STRING, "", "A token that REST requests must present; empty = none required.", 0, 0,
     NULL, NULL, true},
    {"restart.attempts", RN_CONFIG_INT, "3",
     "Restart strategy of jobs that give none (fixed delay): how many restarts before the job fails.", 0, 1000000,
     NULL, NULL, false},
    {"restart.delay", RN_CONFIG_DURATION, "1s", "Restart strategy of jobs that give none: the delay before a restart.",
     0, MS_DAY, NULL, NULL, false},
    {"savepoints.dir", RN_CONFIG_STRING, "",
     "The directory under which savepoints requested over REST must stay; empty = none configured.", 0, 0, NULL, NULL,
     false},
    {"state.dir", RN_CONFIG_STRING, "",
     "Where task managers keep local state (RocksDB); empty = the job's state directory, else TMPDIR.", 0, 0, NULL,
     NULL, false},
    {"taskmanager.data.bind", RN_CONFIG_STRING, "127.0.0.1", "The address a task manager's data port listens on.", 0,
     0, NULL, NULL, false},
    {"taskmanager.data.host", RN_CONFIG_STRING, "",
     "The address peers use to reach this task manager's data port; by default taskmanager.data.bind.", 0, 0, NULL,
     "taskmanager.data.bind", false},
    {"taskmanager.data.port", RN_CONFIG_INT, "0", "A task manager's data port; 0 = any free port.", 0, 65535, NULL,
     NULL, false},
    {"taskmanager.slots", RN_CONFIG_INT, "2", "How many task slots a task manager offers.", 1, 1024, NULL, NULL,
     false},
};
const size_t rn_config_n_keys = sizeof rn_config_keys / sizeof rn_config_keys[0];

/* ---- the config ---- */

struct slot {
    char *text;                 /* canonical text of the value */
    int64_t num;                /* int, bool (0/1), duration (ms), size (bytes), enum index, port */
    char *host;                 /* host:port: the host */
    enum rn_config_source src;
    char *origin;               /* NULL = "default" */
};

struct rn_config {
    const struct rn_config_key *keys;
    size_t n;
    struct slot *slots;
    char **env_names;           /* per key: RUNNEL_... */
    char **flag_names;          /* per key: the key with dots as dashes (without "--") */
    char *file;                 /* --config */
    bool print;                 /* --print-config */
    char **warnings;
    size_t n_warnings;
};

/* A value parsed from text, before it replaces a slot's. */
struct parsed {
    char *text, *host;
    int64_t num;
};

static void parsed_free(struct parsed *p)
{
    free(p->text);
    free(p->host);
    p->text = p->host = NULL;
}

static const char *source_name(enum rn_config_source s)
{
    static const char *names[] = {"default", "file", "env", "flag"};
    return (unsigned)s < 4 ? names[s] : "?";
}

static const char *type_name(enum rn_config_type t)
{
    static const char *names[] = {"string", "int", "bool", "duration", "size", "host:port", "enum"};
    return (unsigned)t < sizeof names / sizeof names[0] ? names[t] : "?";
}

static ssize_t find_key(const rn_config *c, const char *name)
{
    if (!c || !name) return -1;
    for (size_t i = 0; i < c->n; i++)
        if (!strcmp(c->keys[i].name, name)) return (ssize_t)i;
    return -1;
}

/* The slot a key reads from: its own, or (set nowhere, with default_from) the other key's. */
static const struct slot *resolved(const rn_config *c, ssize_t idx)
{
    for (int hops = 0; idx >= 0 && hops < 8; hops++) {
        const struct slot *s = &c->slots[idx];
        if (s->src != RN_CONFIG_DEFAULT || !c->keys[idx].default_from) return s;
        ssize_t from = find_key(c, c->keys[idx].default_from);
        if (from < 0) return s;
        idx = from;
    }
    return idx >= 0 ? &c->slots[idx] : NULL;
}

/* ---- text helpers ---- */

/* A bounded, printable rendering of user text for error messages. */
static const char *shown(const char *text, char *buf, size_t size)
{
    size_t o = 0, i = 0;
    for (; text[i] && o + 4 < size; i++) buf[o++] = (unsigned char)text[i] < 0x20 || text[i] == 0x7f ? '?' : text[i];
    if (text[i]) {
        if (o > size - 4) o = size - 4;
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o] = 0;
    return buf;
}

/* The text without leading and trailing white space, into a new string. */
static char *trimmed_dup(const char *t)
{
    while (isspace((unsigned char)*t)) t++;
    size_t n = strlen(t);
    while (n && isspace((unsigned char)t[n - 1])) n--;
    return strndup(t, n);
}

/* The closest of names (n of them) to what, when close enough to be a typo; else NULL. */
static const char *near_miss(const char *what, char *const *names, const struct rn_config_key *keys, size_t n)
{
    const char *best = NULL;
    size_t best_d = 3, len = strlen(what);
    for (size_t i = 0; i < n; i++) {
        const char *name = names ? names[i] : keys[i].name;
        size_t d = rn__edit_distance(what, name);
        if (d < best_d && d * 3 <= len) {
            best_d = d;
            best = name;
        }
    }
    return best;
}

int rn_config_env_name(const char *key, char *buf, size_t size)
{
    size_t n = strlen(key);
    if (size < sizeof ENV_PREFIX + n) return RN_ERANGE;
    memcpy(buf, ENV_PREFIX, sizeof ENV_PREFIX - 1);
    char *o = buf + sizeof ENV_PREFIX - 1;
    for (size_t i = 0; i < n; i++) o[i] = key[i] == '.' || key[i] == '-' ? '_' : (char)toupper((unsigned char)key[i]);
    o[n] = 0;
    return 0;
}

/* ---- value parsers ---- */

struct unit {
    const char *name;
    int64_t mult;
};

/* n followed by one of units (optional spaces between; case-insensitive when nocase). */
static int parse_with_unit(const char *text, const struct unit *units, size_t n_units, bool nocase, int64_t *out,
                           const char *what, struct rn_error *err)
{
    char buf[80];
    const char *end;
    int64_t n;
    while (isspace((unsigned char)*text)) text++;
    if (!rn__parse_i64(text, &n, &end) || n < 0)
        return rn_error_set(err, RN_EINVAL, 0, 0, "expected %s, found '%s'", what, shown(text, buf, sizeof buf));
    while (*end == ' ') end++;
    size_t ulen = strlen(end);
    while (ulen && isspace((unsigned char)end[ulen - 1])) ulen--;
    for (size_t i = 0; i < n_units; i++) {
        if (strlen(units[i].name) != ulen) continue;
        if (nocase ? strncasecmp(end, units[i].name, ulen) : strncmp(end, units[i].name, ulen)) continue;
        if (n > INT64_MAX / units[i].mult)
            return rn_error_set(err, RN_ERANGE, 0, 0, "'%s' is too large", shown(text, buf, sizeof buf));
        *out = n * units[i].mult;
        return 0;
    }
    return rn_error_set(err, RN_EINVAL, 0, 0, "expected %s, found '%s'", what, shown(text, buf, sizeof buf));
}

static const struct unit duration_units[] = {
    {"", 1}, {"ms", 1}, {"s", 1000}, {"m", 60000}, {"min", 60000}, {"h", 3600000}, {"d", 86400000},
};
static const struct unit size_units[] = {
    {"", 1},           {"b", 1},           {"k", 1LL << 10},   {"kb", 1LL << 10}, {"kib", 1LL << 10},
    {"m", 1LL << 20},  {"mb", 1LL << 20},  {"mib", 1LL << 20}, {"g", 1LL << 30},  {"gb", 1LL << 30},
    {"gib", 1LL << 30}, {"t", 1LL << 40},  {"tb", 1LL << 40},  {"tib", 1LL << 40},
};

int rn_config_parse_duration(const char *text, int64_t *ms, struct rn_error *err)
{
    return parse_with_unit(text, duration_units, sizeof duration_units / sizeof duration_units[0], false, ms,
                           "a duration such as 500ms, 10s or 2m", err);
}

int rn_config_parse_size(const char *text, uint64_t *bytes, struct rn_error *err)
{
    int64_t v;
    int rc = parse_with_unit(text, size_units, sizeof size_units / sizeof size_units[0], true, &v,
                             "a size such as 4096, 512kb or 64mb", err);
    if (!rc) *bytes = (uint64_t)v;
    return rc;
}

/* Canonical text of a duration: the largest unit that divides it. */
static void format_duration(int64_t ms, char *buf, size_t size)
{
    static const struct unit u[] = {{"d", 86400000}, {"h", 3600000}, {"m", 60000}, {"s", 1000}};
    for (size_t i = 0; i < 4; i++)
        if (ms && ms % u[i].mult == 0) {
            snprintf(buf, size, "%lld%s", (long long)(ms / u[i].mult), u[i].name);
            return;
        }
    snprintf(buf, size, "%lldms", (long long)ms);
}

static void format_size(int64_t b, char *buf, size_t size)
{
    static const struct unit u[] = {{"tb", 1LL << 40}, {"gb", 1LL << 30}, {"mb", 1LL << 20}, {"kb", 1LL << 10}};
    for (size_t i = 0; i < 4; i++)
        if (b && b % u[i].mult == 0) {
            snprintf(buf, size, "%lld%s", (long long)(b / u[i].mult), u[i].name);
            return;
        }
    snprintf(buf, size, "%lldb", (long long)b);
}

/* "min..max" of a key for messages, in its type's units. */
static void format_range(const struct rn_config_key *k, char *buf, size_t size)
{
    char a[40], b[40];
    if (k->type == RN_CONFIG_DURATION) {
        format_duration(k->min, a, sizeof a);
        format_duration(k->max, b, sizeof b);
    } else if (k->type == RN_CONFIG_SIZE) {
        format_size(k->min, a, sizeof a);
        format_size(k->max, b, sizeof b);
    } else {
        snprintf(a, sizeof a, "%lld", (long long)k->min);
        snprintf(b, sizeof b, "%lld", (long long)k->max);
    }
    snprintf(buf, size, "%s..%s", a, b);
}

static bool in_range(const struct rn_config_key *k, int64_t v) { return k->max <= k->min || (v >= k->min && v <= k->max); }

static int out_of_range(const struct rn_config_key *k, const char *what, const char *text, struct rn_error *err)
{
    char range[100], buf[80];
    format_range(k, range, sizeof range);
    return rn_error_set(err, RN_ERANGE, 0, 0, "expected %s in %s, found '%s'", what, range,
                        shown(text, buf, sizeof buf));
}

static int parse_hostport(const struct rn_config_key *k, const char *t, struct parsed *p, struct rn_error *err)
{
    char buf[80];
    const char *host = t, *host_end, *port;
    if (*t == '[') {
        host = t + 1;
        host_end = strchr(host, ']');
        if (!host_end || host_end[1] != ':') goto bad;
        port = host_end + 2;
    } else {
        host_end = strrchr(t, ':');
        if (!host_end) goto bad;
        port = host_end + 1;
        if (memchr(t, ':', (size_t)(host_end - t)))
            return rn_error_set(err, RN_EINVAL, 0, 0, "an IPv6 address needs brackets ([::1]:6123), found '%s'",
                                shown(t, buf, sizeof buf));
    }
    if (host_end == host) goto bad;
    for (const char *h = host; h < host_end; h++)
        if (isspace((unsigned char)*h) || *h == '/' || *h == '[' || *h == ']' || (unsigned char)*h < 0x20) goto bad;
    int64_t n = 0;
    size_t digits = 0;
    for (const char *d = port; *d; d++, digits++) {
        if (!isdigit((unsigned char)*d) || digits >= 6) goto bad;
        n = n * 10 + (*d - '0');
    }
    if (!digits) goto bad;
    int64_t lo = k->max > k->min ? k->min : 0, hi = k->max > k->min ? k->max : 65535;
    if (n < lo || n > hi) {
        char range[60];
        snprintf(range, sizeof range, "%lld..%lld", (long long)lo, (long long)hi);
        return rn_error_set(err, RN_ERANGE, 0, 0, "expected a port in %s, found '%s'", range,
                            shown(t, buf, sizeof buf));
    }
    p->num = n;
    if (!(p->host = strndup(host, (size_t)(host_end - host)))) return rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory");
    return 0;
bad:
    return rn_error_set(err, RN_EINVAL, 0, 0, "expected host:port (127.0.0.1:6123, [::1]:6123), found '%s'",
                        shown(t, buf, sizeof buf));
}

/* Parses text as key k's type into p (canonical text, number, host). The message in err says
 * what was expected, without saying where the text came from (the caller adds that). */
static int parse_value(const struct rn_config_key *k, const char *text, struct parsed *p, struct rn_error *err)
{
    char buf[80], canon[64];
    memset(p, 0, sizeof *p);
    if (strlen(text) > MAX_STRING)
        return rn_error_set(err, RN_ERANGE, 0, 0, "the value is longer than %d bytes", MAX_STRING);
    if (k->type == RN_CONFIG_STRING) {
        if (!(p->text = strdup(text))) return rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory");
        return 0;
    }
    char *t = trimmed_dup(text);
    if (!t) return rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory");
    int rc = 0;
    canon[0] = 0;
    switch (k->type) {
    case RN_CONFIG_INT: {
        const char *end, *digits = t + (*t == '-' || *t == '+');
        bool all_digits = isdigit((unsigned char)*digits);
        for (const char *d = digits; *d && all_digits; d++) all_digits = isdigit((unsigned char)*d) || *d == '_';
        if (!rn__parse_i64(t, &p->num, &end) || *end) {
            if (all_digits && k->max > k->min) rc = out_of_range(k, "an integer", t, err);   /* overflow */
            else rc = rn_error_set(err, RN_EINVAL, 0, 0, "expected an integer, found '%s'", shown(t, buf, sizeof buf));
            break;
        }
        if (!in_range(k, p->num)) rc = out_of_range(k, "an integer", t, err);
        else snprintf(canon, sizeof canon, "%lld", (long long)p->num);
        break;
    }
    case RN_CONFIG_BOOL: {
        static const char *yes[] = {"true", "yes", "on", "1"}, *no[] = {"false", "no", "off", "0"};
        rc = rn_error_set(err, RN_EINVAL, 0, 0, "expected true or false, found '%s'", shown(t, buf, sizeof buf));
        for (int i = 0; i < 4; i++) {
            if (!strcasecmp(t, yes[i])) p->num = 1, rc = 0;
            if (!strcasecmp(t, no[i])) p->num = 0, rc = 0;
        }
        if (!rc) {
            rn_error_clear(err);
            snprintf(canon, sizeof canon, "%s", p->num ? "true" : "false");
        }
        break;
    }
    case RN_CONFIG_DURATION:
        rc = rn_config_parse_duration(t, &p->num, err);
        if (!rc && !in_range(k, p->num)) rc = out_of_range(k, "a duration", t, err);
        if (!rc) format_duration(p->num, canon, sizeof canon);
        break;
    case RN_CONFIG_SIZE: {
        uint64_t b;
        rc = rn_config_parse_size(t, &b, err);
        p->num = (int64_t)b;
        if (!rc && !in_range(k, p->num)) rc = out_of_range(k, "a size", t, err);
        if (!rc) format_size(p->num, canon, sizeof canon);
        break;
    }
    case RN_CONFIG_HOSTPORT:
        rc = parse_hostport(k, t, p, err);
        if (!rc) {
            /* the host can be long: build the text directly */
            size_t need = strlen(p->host) + 12;
            char *s = malloc(need);
            if (!s) {
                rc = rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory");
                break;
            }
            snprintf(s, need, strchr(p->host, ':') ? "[%s]:%lld" : "%s:%lld", p->host, (long long)p->num);
            p->text = s;
        }
        break;
    case RN_CONFIG_ENUM: {
        const char *ch = k->choices ? k->choices : "";
        size_t tl = strlen(t);
        int idx = 0;
        rc = RN_EINVAL;
        for (const char *s = ch;; idx++) {
            const char *bar = strchr(s, '|');
            size_t len = bar ? (size_t)(bar - s) : strlen(s);
            if (len == tl && !strncasecmp(s, t, len) && len < sizeof canon) {
                memcpy(canon, s, len);
                canon[len] = 0;
                p->num = idx;
                rc = 0;
                break;
            }
            if (!bar) break;
            s = bar + 1;
        }
        if (rc) rc = rn_error_set(err, RN_EINVAL, 0, 0, "expected one of %s, found '%s'", ch, shown(t, buf, sizeof buf));
        break;
    }
    default:
        rc = rn_error_set(err, RN_EINVAL, 0, 0, "a key of unknown type %d", (int)k->type);
    }
    free(t);
    if (!rc && !p->text && !(p->text = strdup(canon))) rc = rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory");
    if (rc) parsed_free(p);
    return rc;
}

/* Parses value for key idx and, unless a higher source already set it, stores it with origin.
 * where is the start of an error message: "conf.yaml:3:7", "RUNNEL_REST_PORT", "--rest-port". */
static int set_index(rn_config *c, size_t idx, enum rn_config_source src, const char *value, const char *origin,
                     const char *where, int line, int col, struct rn_error *err)
{
    const struct rn_config_key *k = &c->keys[idx];
    struct rn_error why;
    struct parsed p;
    rn_error_clear(&why);
    int rc = parse_value(k, value, &p, &why);
    if (rc) return rn_error_set(err, rc, line, col, "%s: %s: %s", where, k->name, why.msg);
    struct slot *s = &c->slots[idx];
    if (src < s->src) {
        parsed_free(&p);
        return 0;
    }
    char *o = NULL;
    if (origin && !(o = strdup(origin))) {
        parsed_free(&p);
        return rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory");
    }
    free(s->text);
    free(s->host);
    free(s->origin);
    s->text = p.text;
    s->host = p.host;
    s->num = p.num;
    s->src = src;
    s->origin = o;
    return 0;
}

/* ---- life cycle ---- */

rn_config *rn_config_create_with(const struct rn_config_key *keys, size_t n_keys)
{
    rn_config *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->keys = keys;
    c->n = n_keys;
    if (!(c->slots = calloc(n_keys ? n_keys : 1, sizeof *c->slots))) goto fail;
    if (!(c->env_names = calloc(n_keys ? n_keys : 1, sizeof *c->env_names))) goto fail;
    if (!(c->flag_names = calloc(n_keys ? n_keys : 1, sizeof *c->flag_names))) goto fail;
    for (size_t i = 0; i < n_keys; i++) {
        size_t len = strlen(keys[i].name);
        if (!(c->env_names[i] = malloc(len + sizeof ENV_PREFIX))) goto fail;
        rn_config_env_name(keys[i].name, c->env_names[i], len + sizeof ENV_PREFIX);
        if (!(c->flag_names[i] = strdup(keys[i].name))) goto fail;
        for (char *d = c->flag_names[i]; *d; d++)
            if (*d == '.') *d = '-';
        /* a default that does not parse is a bug in the table: refuse the table */
        if (set_index(c, i, RN_CONFIG_DEFAULT, keys[i].def ? keys[i].def : "", NULL, "default", 0, 0, NULL)) goto fail;
    }
    return c;
fail:
    rn_config_destroy(c);
    return NULL;
}

rn_config *rn_config_create(void) { return rn_config_create_with(rn_config_keys, rn_config_n_keys); }

void rn_config_destroy(rn_config *c)
{
    if (!c) return;
    for (size_t i = 0; i < c->n; i++) {
        if (c->slots) {
            free(c->slots[i].text);
            free(c->slots[i].host);
            free(c->slots[i].origin);
        }
        if (c->env_names) free(c->env_names[i]);
        if (c->flag_names) free(c->flag_names[i]);
    }
    for (size_t i = 0; i < c->n_warnings; i++) free(c->warnings[i]);
    free(c->warnings);
    free(c->slots);
    free(c->env_names);
    free(c->flag_names);
    free(c->file);
    free(c);
}

int rn_config_set(rn_config *c, enum rn_config_source source, const char *key, const char *value, const char *origin,
                  struct rn_error *err)
{
    char buf[80];
    ssize_t idx = find_key(c, key);
    if (idx < 0) {
        const char *near = c ? near_miss(key, NULL, c->keys, c->n) : NULL;
        return rn_error_set(err, RN_ENOTFOUND, 0, 0, "%s: unknown key '%s'%s%s%s", origin ? origin : source_name(source),
                            shown(key, buf, sizeof buf), near ? " (did you mean " : "", near ? near : "",
                            near ? "?)" : "");
    }
    if (!origin) origin = source_name(source);
    return set_index(c, (size_t)idx, source, value ? value : "", source == RN_CONFIG_DEFAULT ? NULL : origin, origin,
                     0, 0, err);
}

/* ---- the file ---- */

struct file_load {
    rn_config *c;
    const char *name;
    int *seen;                  /* per key: the line that set it in this file, 0 = not yet */
};

/* Whether some key starts with prefix followed by a dot (prefix names a section). */
static bool is_section(const rn_config *c, const char *prefix, char *list, size_t list_size)
{
    size_t n = strlen(prefix), o = 0;
    bool any = false;
    if (list_size) list[0] = 0;
    for (size_t i = 0; i < c->n; i++) {
        if (strncmp(c->keys[i].name, prefix, n) || c->keys[i].name[n] != '.') continue;
        if (list && o + strlen(c->keys[i].name) + 8 < list_size)
            o += (size_t)snprintf(list + o, list_size - o, "%s%s", any ? ", " : "", c->keys[i].name);
        else if (list && o + 6 < list_size && !strstr(list, "..."))
            o += (size_t)snprintf(list + o, list_size - o, ", ...");
        any = true;
    }
    return any;
}

static int unknown_key(struct file_load *fl, const char *full, const rn_value *at, struct rn_error *err)
{
    char buf[80], list[200];
    const rn_config *c = fl->c;
    int line = rn_value_line(at), col = rn_value_column(at);
    if (is_section(c, full, list, sizeof list))
        return rn_error_set(err, RN_EINVAL, line, col, "%s:%d:%d: '%s' is a section of keys (%s), not a value",
                            fl->name, line, col, shown(full, buf, sizeof buf), list);
    const char *near = near_miss(full, NULL, c->keys, c->n);
    return rn_error_set(err, RN_ENOTFOUND, line, col, "%s:%d:%d: unknown key '%s'%s%s%s", fl->name, line, col,
                        shown(full, buf, sizeof buf), near ? " (did you mean " : "", near ? near : "", near ? "?)" : "");
}

static int load_map(struct file_load *fl, const rn_value *map, const char *prefix, struct rn_error *err)
{
    rn_config *c = fl->c;
    char full[MAX_KEY], where[512], origin[512];
    for (size_t i = 0; i < rn_value_len(map); i++) {
        const rn_value *kv = rn__value_key_value(map, i), *item = rn_value_at(map, i);
        const char *k = rn_value_key(map, i);
        int kl = rn_value_line(kv), kc = rn_value_column(kv);
        int n = snprintf(full, sizeof full, "%s%s%s", prefix, *prefix ? "." : "", k);
        if (n < 0 || (size_t)n >= sizeof full)
            return rn_error_set(err, RN_EINVAL, kl, kc, "%s:%d:%d: a key longer than %d bytes", fl->name, kl, kc,
                                MAX_KEY - 1);
        ssize_t idx = find_key(c, full);
        enum rn_value_kind kind = rn_value_kind(item);
        int il = rn_value_line(item) ? rn_value_line(item) : kl, ic = rn_value_line(item) ? rn_value_column(item) : kc;
        if (kind == RN_VALUE_MAP || kind == RN_VALUE_LIST) {
            if (idx >= 0)
                return rn_error_set(err, RN_EINVAL, il, ic, "%s:%d:%d: %s: expected a single value (%s), found a %s", fl->name,
                                    il, ic, full, type_name(c->keys[idx].type), kind == RN_VALUE_MAP ? "map" : "list");
            if (kind == RN_VALUE_MAP && rn_value_len(item) > 0) {
                /* a section (or an unknown name: its first key is reported, with a suggestion) */
                int rc = load_map(fl, item, full, err);
                if (rc) return rc;
                continue;
            }
            if (kind == RN_VALUE_MAP && is_section(c, full, NULL, 0)) continue;   /* rest: {} */
            return unknown_key(fl, full, kv, err);
        }
        if (idx < 0) return unknown_key(fl, full, kv, err);
        if (fl->seen[idx])
            return rn_error_set(err, RN_EINVAL, kl, kc, "%s:%d:%d: %s is set twice in the file (first at line %d)",
                                fl->name, kl, kc, full, fl->seen[idx]);
        fl->seen[idx] = kl ? kl : 1;
        const char *text = rn_value_text(item);
        if (!text) {
            if (c->keys[idx].type != RN_CONFIG_STRING)
                return rn_error_set(err, RN_EINVAL, il, ic, "%s:%d:%d: %s: expected a value (%s), found nothing",
                                    fl->name, il, ic, full, type_name(c->keys[idx].type));
            text = "";
        }
        snprintf(where, sizeof where, "%s:%d:%d", fl->name, il, ic);
        snprintf(origin, sizeof origin, "%s:%d", fl->name, il);
        int rc = set_index(c, (size_t)idx, RN_CONFIG_FILE, text, origin, where, il, ic, err);
        if (rc) return rc;
    }
    return 0;
}

/* Whether text has nothing but white space and comments. */
static bool blank_yaml(const char *text, size_t len)
{
    bool comment = false;
    size_t i = len >= 3 && !memcmp(text, "\xef\xbb\xbf", 3) ? 3 : 0;   /* a UTF-8 byte order mark */
    for (; i < len; i++) {
        char ch = text[i];
        if (ch == '\n' || ch == '\r') comment = false;
        else if (comment) continue;
        else if (ch == '#') comment = true;
        else if (ch != ' ' && ch != '\t') return false;
    }
    return true;
}

int rn_config_load_text(rn_config *c, const char *text, size_t len, const char *name, struct rn_error *err)
{
    if (!name) name = "config";
    if (len > MAX_FILE)
        return rn_error_set(err, RN_ERANGE, 0, 0, "%s: the configuration file is larger than %u bytes", name, MAX_FILE);
    if (blank_yaml(text, len)) return 0;
    struct rn_error yerr;
    rn_error_clear(&yerr);
    rn_value *root = rn__yaml_load(text, len, &yerr);
    if (!root)
        return rn_error_set(err, yerr.code ? yerr.code : RN_EINVAL, yerr.line, yerr.column, "%s:%d:%d: %s", name,
                            yerr.line, yerr.column, yerr.msg);
    int rc = 0;
    struct file_load fl = {c, name, calloc(c->n ? c->n : 1, sizeof(int))};
    if (!fl.seen) {
        rc = rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory");
        goto free_root;
    }
    if (rn_value_kind(root) == RN_VALUE_MAP) {
        rc = load_map(&fl, root, "", err);
    } else if (rn_value_kind(root) != RN_VALUE_NULL) {
        int l = rn_value_line(root), col = rn_value_column(root);
        rc = rn_error_set(err, RN_EINVAL, l, col, "%s:%d:%d: expected a map of keys (rest.port: 8081) at the top", name,
                          l, col);
    }
    free(fl.seen);
free_root:
    rn__value_free(root);
    return rc;
}

int rn_config_load_file(rn_config *c, const char *path, struct rn_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        int e = errno;
        rn_error_set(err, RN_EIO, 0, 0, "%s: cannot open the configuration file: %s", path, strerror(e));
        if (err) err->sys_errno = e;
        return RN_EIO;
    }
    int rc = 0;
    char *buf = malloc(MAX_FILE + 1);
    if (!buf) {
        rc = rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory");
        goto close_file;
    }
    size_t len = fread(buf, 1, MAX_FILE + 1, f);
    if (ferror(f)) {
        int e = errno;
        rc = rn_error_set(err, RN_EIO, 0, 0, "%s: cannot read the configuration file: %s", path, strerror(e));
        if (err) err->sys_errno = e;
        goto free_buf;
    }
    if (len > MAX_FILE) {
        rc = rn_error_set(err, RN_ERANGE, 0, 0, "%s: the configuration file is larger than %u bytes", path, MAX_FILE);
        goto free_buf;
    }
    rc = rn_config_load_text(c, buf, len, path, err);
free_buf:
    free(buf);
close_file:
    fclose(f);
    return rc;
}

/* ---- the environment ---- */

static int add_warning(rn_config *c, const char *text)
{
    for (size_t i = 0; i < c->n_warnings; i++)
        if (!strcmp(c->warnings[i], text)) return 0;
    char **w = realloc(c->warnings, (c->n_warnings + 1) * sizeof *w);
    if (!w) return RN_ENOMEM;
    c->warnings = w;
    if (!(w[c->n_warnings] = strdup(text))) return RN_ENOMEM;
    c->n_warnings++;
    return 0;
}

int rn_config_load_env(rn_config *c, char *const *envp, struct rn_error *err)
{
    if (!envp) envp = environ;
    char name[160], msg[400];
    for (size_t e = 0; envp && envp[e]; e++) {
        const char *kv = envp[e], *eq = strchr(kv, '=');
        if (strncmp(kv, ENV_PREFIX, sizeof ENV_PREFIX - 1) || !eq) continue;
        size_t nlen = (size_t)(eq - kv);
        if (nlen >= sizeof name) continue;
        memcpy(name, kv, nlen);
        name[nlen] = 0;
        ssize_t idx = -1;
        for (size_t i = 0; i < c->n && idx < 0; i++)
            if (!strcmp(c->env_names[i], name)) idx = (ssize_t)i;
        if (idx < 0) {
            const char *near = near_miss(name, c->env_names, NULL, c->n);
            if (near) {
                snprintf(msg, sizeof msg, "environment variable %s is not a configuration key (did you mean %s?); ignored",
                         name, near);
                if (add_warning(c, msg)) return rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory");
            }
            continue;
        }
        if (!eq[1]) continue;   /* set but empty: as if not set */
        char origin[200];
        snprintf(origin, sizeof origin, "env %s", name);
        int rc = set_index(c, (size_t)idx, RN_CONFIG_ENV, eq + 1, origin, name, 0, 0, err);
        if (rc) return rc;
    }
    return 0;
}

/* ---- command-line flags ---- */

static bool is_bool_word(const char *s)
{
    static const char *w[] = {"true", "false", "yes", "no", "on", "off", "1", "0"};
    for (size_t i = 0; i < sizeof w / sizeof w[0]; i++)
        if (!strcasecmp(s, w[i])) return true;
    return false;
}

/* -D / --set: "key=value" */
static int set_pair(rn_config *c, const char *flag, const char *pair, struct rn_error *err)
{
    char buf[80], key[MAX_KEY], origin[MAX_KEY + 16];
    const char *eq = strchr(pair, '=');
    if (!eq || eq == pair)
        return rn_error_set(err, RN_EINVAL, 0, 0, "%s %s: expected key=value (-D rest.port=8081)", flag,
                            shown(pair, buf, sizeof buf));
    size_t kl = (size_t)(eq - pair);
    if (kl >= sizeof key) return rn_error_set(err, RN_ENOTFOUND, 0, 0, "%s: unknown key '%s'", flag, shown(pair, buf, sizeof buf));
    memcpy(key, pair, kl);
    key[kl] = 0;
    ssize_t idx = find_key(c, key);
    if (idx < 0) {
        const char *near = near_miss(key, NULL, c->keys, c->n);
        return rn_error_set(err, RN_ENOTFOUND, 0, 0, "%s: unknown key '%s'%s%s%s", flag, shown(key, buf, sizeof buf),
                            near ? " (did you mean " : "", near ? near : "", near ? "?)" : "");
    }
    snprintf(origin, sizeof origin, "flag %s %s", flag, key);
    return set_index(c, (size_t)idx, RN_CONFIG_FLAG, eq + 1, origin, flag, 0, 0, err);
}

int rn_config_arg(rn_config *c, int argc, char **argv, int *i, struct rn_error *err)
{
    const char *a = argv[*i];
    if (!a) return 0;
    /* --config FILE */
    if (!strcmp(a, "--config") || !strncmp(a, "--config=", 9)) {
        const char *file = a[8] == '=' ? a + 9 : (*i + 1 < argc ? argv[*i + 1] : NULL);
        if (!file || !*file) return rn_error_set(err, RN_EINVAL, 0, 0, "--config needs a file name");
        char *copy = strdup(file);
        if (!copy) return rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory");
        free(c->file);
        c->file = copy;
        *i += a[8] == '=' ? 1 : 2;
        return 1;
    }
    if (!strcmp(a, "--print-config")) {
        c->print = true;
        (*i)++;
        return 1;
    }
    /* -D key=value, -Dkey=value, --set key=value, --set=key=value */
    if (!strcmp(a, "-D") || !strcmp(a, "--set")) {
        if (*i + 1 >= argc) return rn_error_set(err, RN_EINVAL, 0, 0, "%s needs key=value (-D rest.port=8081)", a);
        int rc = set_pair(c, a, argv[*i + 1], err);
        if (rc) return rc;
        *i += 2;
        return 1;
    }
    if ((!strncmp(a, "-D", 2) && a[2]) || !strncmp(a, "--set=", 6)) {
        int rc = a[1] == 'D' ? set_pair(c, "-D", a + 2, err) : set_pair(c, "--set", a + 6, err);
        if (rc) return rc;
        (*i)++;
        return 1;
    }
    /* --<key-with-dashes> VALUE, --<key-with-dashes>=VALUE */
    if (strncmp(a, "--", 2) || !a[2]) return 0;
    const char *name = a + 2, *eq = strchr(name, '=');
    size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
    ssize_t idx = -1;
    for (size_t k = 0; k < c->n && idx < 0; k++)
        if (strlen(c->flag_names[k]) == nlen && !strncmp(c->flag_names[k], name, nlen)) idx = (ssize_t)k;
    if (idx < 0) return 0;
    char where[MAX_KEY + 8], origin[MAX_KEY + 16];
    snprintf(where, sizeof where, "--%s", c->flag_names[idx]);
    snprintf(origin, sizeof origin, "flag --%s", c->flag_names[idx]);
    const char *value;
    int used;
    if (eq) {
        value = eq + 1;
        used = 1;
    } else if (c->keys[idx].type == RN_CONFIG_BOOL) {
        /* a bool flag alone means true; it takes the next argument only when that is a bool word */
        bool next = *i + 1 < argc && argv[*i + 1] && is_bool_word(argv[*i + 1]);
        value = next ? argv[*i + 1] : "true";
        used = next ? 2 : 1;
    } else if (*i + 1 < argc && argv[*i + 1]) {
        value = argv[*i + 1];
        used = 2;
    } else {
        return rn_error_set(err, RN_EINVAL, 0, 0, "%s needs a value (%s)", where, type_name(c->keys[idx].type));
    }
    int rc = set_index(c, (size_t)idx, RN_CONFIG_FLAG, value, origin, where, 0, 0, err);
    if (rc) return rc;
    *i += used;
    return 1;
}

int rn_config_check(const rn_config *c, struct rn_error *err)
{
    ssize_t hi = find_key(c, "heartbeat.interval"), ht = find_key(c, "heartbeat.timeout");
    if (hi >= 0 && ht >= 0 && c->keys[hi].type == RN_CONFIG_DURATION && c->keys[ht].type == RN_CONFIG_DURATION &&
        c->slots[ht].num <= c->slots[hi].num)
        return rn_error_set(err, RN_EINVAL, 0, 0,
                            "heartbeat.timeout (%s, %s) must be longer than heartbeat.interval (%s, %s)",
                            c->slots[ht].text, rn_config_origin(c, "heartbeat.timeout"), c->slots[hi].text,
                            rn_config_origin(c, "heartbeat.interval"));
    return 0;
}

int rn_config_load_args(rn_config *c, int *argc, char **argv, struct rn_error *err)
{
    int n = *argc, out = n > 0 ? 1 : 0, i = out;
    while (i < n) {
        if (!strcmp(argv[i], "--")) {
            while (i < n) argv[out++] = argv[i++];
            break;
        }
        int at = i;
        int rc = rn_config_arg(c, n, argv, &i, err);
        if (rc < 0) return rc;
        if (rc == 0) argv[out++] = argv[i++];
        else if (i <= at) i = at + 1;   /* never loop on an argument */
    }
    *argc = out;
    if (out < n) argv[out] = NULL;
    int rc;
    if (c->file && (rc = rn_config_load_file(c, c->file, err))) return rc;
    if ((rc = rn_config_load_env(c, NULL, err))) return rc;
    return rn_config_check(c, err);
}

const char *rn_config_flag_suggestion(const rn_config *c, const char *arg)
{
    if (!arg || strncmp(arg, "--", 2)) return NULL;
    char name[MAX_KEY];
    snprintf(name, sizeof name, "%s", arg + 2);
    char *eq = strchr(name, '=');
    if (eq) *eq = 0;
    return near_miss(name, c->flag_names, NULL, c->n);
}

const char *rn_config_file(const rn_config *c) { return c->file; }
bool rn_config_print_requested(const rn_config *c) { return c->print; }

/* ---- getters ---- */

static const struct slot *typed(const rn_config *c, const char *key, enum rn_config_type t)
{
    ssize_t idx = find_key(c, key);
    if (idx < 0 || c->keys[idx].type != t) return NULL;
    return resolved(c, idx);
}

const char *rn_config_str(const rn_config *c, const char *key)
{
    ssize_t idx = find_key(c, key);
    return idx < 0 ? NULL : resolved(c, idx)->text;
}

int64_t rn_config_int(const rn_config *c, const char *key)
{
    const struct slot *s = typed(c, key, RN_CONFIG_INT);
    return s ? s->num : 0;
}

bool rn_config_bool(const rn_config *c, const char *key)
{
    const struct slot *s = typed(c, key, RN_CONFIG_BOOL);
    return s && s->num;
}

int64_t rn_config_duration_ms(const rn_config *c, const char *key)
{
    const struct slot *s = typed(c, key, RN_CONFIG_DURATION);
    return s ? s->num : 0;
}

uint64_t rn_config_size(const rn_config *c, const char *key)
{
    const struct slot *s = typed(c, key, RN_CONFIG_SIZE);
    return s ? (uint64_t)s->num : 0;
}

const char *rn_config_host(const rn_config *c, const char *key)
{
    const struct slot *s = typed(c, key, RN_CONFIG_HOSTPORT);
    return s ? s->host : NULL;
}

int rn_config_port(const rn_config *c, const char *key)
{
    const struct slot *s = typed(c, key, RN_CONFIG_HOSTPORT);
    return s ? (int)s->num : 0;
}

int rn_config_enum(const rn_config *c, const char *key)
{
    const struct slot *s = typed(c, key, RN_CONFIG_ENUM);
    return s ? (int)s->num : -1;
}

enum rn_config_source rn_config_source_of(const rn_config *c, const char *key)
{
    ssize_t idx = find_key(c, key);
    return idx < 0 ? RN_CONFIG_DEFAULT : c->slots[idx].src;
}

const char *rn_config_origin(const rn_config *c, const char *key)
{
    ssize_t idx = find_key(c, key);
    if (idx < 0) return NULL;
    return c->slots[idx].origin ? c->slots[idx].origin : "default";
}

const char *rn_config_warning(const rn_config *c, size_t i) { return i < c->n_warnings ? c->warnings[i] : NULL; }

/* ---- printing ---- */

/* The value as describe() prints it: YAML, quoted for strings and host:port. The caller frees. */
static char *rendered(const struct rn_config_key *k, const char *text)
{
    if (k->secret && text[0]) return strdup("\"***\"");
    if (k->type != RN_CONFIG_STRING && k->type != RN_CONFIG_HOSTPORT) return strdup(text);
    char *buf = malloc(strlen(text) * 4 + 3), *o = buf;
    if (!buf) return NULL;
    *o++ = '"';
    for (const char *s = text; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') {
            *o++ = '\\';
            *o++ = (char)ch;
        } else if (ch < 0x20 || ch == 0x7f) {
            o += sprintf(o, "\\x%02x", ch);
        } else {
            *o++ = (char)ch;
        }
    }
    *o++ = '"';
    *o = 0;
    return buf;
}

void rn_config_describe(const rn_config *c, FILE *out)
{
    int width = 0;
    for (size_t i = 0; i < c->n; i++)
        if ((int)strlen(c->keys[i].name) > width) width = (int)strlen(c->keys[i].name);
    fprintf(out, "# runnel configuration: every key, its value and where it came from\n");
    for (size_t i = 0; i < c->n; i++) {
        const struct rn_config_key *k = &c->keys[i];
        const struct slot *own = &c->slots[i], *s = resolved(c, (ssize_t)i);
        char *v = rendered(k, s->text);
        int vlen = v ? (int)strlen(v) : 0;
        fprintf(out, "%s: %*s%s%*s# %s", k->name, width - (int)strlen(k->name), "", v ? v : "\"\"",
                vlen < 22 ? 24 - vlen : 2, "", own->origin ? own->origin : "default");
        if (own->src == RN_CONFIG_DEFAULT && k->default_from) fprintf(out, " (= %s)", k->default_from);
        fputc('\n', out);
        free(v);
    }
    for (size_t i = 0; i < c->n_warnings; i++) fprintf(out, "# warning: %s\n", c->warnings[i]);
}

void rn_config_help(const rn_config *c, FILE *out)
{
    for (size_t i = 0; i < c->n; i++) {
        const struct rn_config_key *k = &c->keys[i];
        fprintf(out, "  %s (%s", k->name, k->type == RN_CONFIG_ENUM && k->choices ? k->choices : type_name(k->type));
        if (k->def && k->def[0]) fprintf(out, ", default %s", k->def);
        else if (k->default_from) fprintf(out, ", default = %s", k->default_from);
        else fprintf(out, ", default empty");
        fprintf(out, "; env %s; flag --%s)\n      %s\n", c->env_names[i], c->flag_names[i], k->help ? k->help : "");
    }
}
