/*
 * log.c — the structured logger of runnel's processes (runtime/log.h): formatting a line in
 * text or JSON, the process-wide settings, and the FILE* adapter that turns written lines into
 * log lines (glibc's fopencookie).
 *
 * Assumes: a line is formatted into a buffer on the stack (heap only past it) and written
 * with one fwrite + fflush while the logger's mutex is held, so lines never interleave and a
 * re-init cannot swap the stream under a writer. The message itself is printed outside the
 * mutex (its arguments are the caller's). Lines are bounded: the message by RN_LOG_MAX_MSG,
 * the context fields by MAX_FIELD.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "config.h"
#include "log.h"

#define MAX_FIELD 256
#define MAX_PROCESS 128

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_int log_level = RN_LOG_INFO;
/* under log_lock: */
static enum rn_log_format log_format = RN_LOG_TEXT;
static FILE *log_out;                   /* NULL = stderr */
static char log_process[MAX_PROCESS] = "runnel";
static int64_t (*log_clock)(void);

static const char *level_names[] = {"debug", "info", "warn", "error"};
static const char *level_upper[] = {"DEBUG", "INFO", "WARN", "ERROR"};

const char *rn_log_level_name(enum rn_log_level level)
{
    return (unsigned)level < 4 ? level_names[level] : "?";
}

int rn_log_level_parse(const char *name, enum rn_log_level *out)
{
    for (int i = 0; name && i < 4; i++)
        if (!strcasecmp(name, level_names[i]) || (i == RN_LOG_WARN && !strcasecmp(name, "warning"))) {
            *out = (enum rn_log_level)i;
            return 0;
        }
    return RN_EINVAL;
}

int rn_log_format_parse(const char *name, enum rn_log_format *out)
{
    if (name && !strcasecmp(name, "text")) return *out = RN_LOG_TEXT, 0;
    if (name && !strcasecmp(name, "json")) return *out = RN_LOG_JSON, 0;
    return RN_EINVAL;
}

static void copy_process(const char *process)
{
    snprintf(log_process, sizeof log_process, "%s", process && *process ? process : "runnel");
}

void rn_log_init(const char *process, enum rn_log_level level, enum rn_log_format format, FILE *out)
{
    pthread_mutex_lock(&log_lock);
    copy_process(process);
    log_format = format == RN_LOG_JSON ? RN_LOG_JSON : RN_LOG_TEXT;
    log_out = out;
    atomic_store(&log_level, (unsigned)level <= RN_LOG_ERROR ? (int)level : RN_LOG_INFO);
    pthread_mutex_unlock(&log_lock);
}

void rn_log_init_config(const char *process, const struct rn_config *c, FILE *out)
{
    enum rn_log_level level = RN_LOG_INFO;
    enum rn_log_format format = RN_LOG_TEXT;
    rn_log_level_parse(rn_config_str(c, "log.level"), &level);
    rn_log_format_parse(rn_config_str(c, "log.format"), &format);
    rn_log_init(process, level, format, out);
}

void rn_log_set_process(const char *process)
{
    pthread_mutex_lock(&log_lock);
    copy_process(process);
    pthread_mutex_unlock(&log_lock);
}

void rn_log_set_level(enum rn_log_level level)
{
    if ((unsigned)level <= RN_LOG_ERROR) atomic_store(&log_level, (int)level);
}

bool rn_log_enabled(enum rn_log_level level) { return (int)level >= atomic_load(&log_level); }

void rn_log_set_clock(int64_t (*now_ms)(void))
{
    pthread_mutex_lock(&log_lock);
    log_clock = now_ms;
    pthread_mutex_unlock(&log_lock);
}

/* ---- a growable line buffer that starts on the caller's stack ---- */

struct line {
    char *p;
    size_t len, cap;
    bool heap, failed;
};

static void line_reserve(struct line *l, size_t more)
{
    if (l->failed || l->len + more <= l->cap) return;
    size_t cap = l->cap * 2;
    while (cap < l->len + more) cap *= 2;
    char *p = l->heap ? realloc(l->p, cap) : malloc(cap);
    if (!p) {
        l->failed = true;   /* keep what fits: the line is cut short, never lost */
        return;
    }
    if (!l->heap) memcpy(p, l->p, l->len);
    l->p = p;
    l->cap = cap;
    l->heap = true;
}

static void put(struct line *l, const char *s, size_t n)
{
    line_reserve(l, n);
    if (l->len + n > l->cap) n = l->cap - l->len;
    memcpy(l->p + l->len, s, n);
    l->len += n;
}

static void puts_(struct line *l, const char *s) { put(l, s, strlen(s)); }
static void putc_(struct line *l, char c) { put(l, &c, 1); }

static void put_hex(struct line *l, const char *prefix, unsigned v, int digits)
{
    char b[12];
    snprintf(b, sizeof b, "%s%0*x", prefix, digits, v);
    puts_(l, b);
}

/* The length of the valid UTF-8 sequence at s (of n bytes left), 0 when it is not one. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    if (s[0] < 0x80) return 1;
    size_t len;
    uint32_t cp;
    if (s[0] >= 0xc2 && s[0] <= 0xdf) len = 2, cp = s[0] & 0x1f;
    else if (s[0] >= 0xe0 && s[0] <= 0xef) len = 3, cp = s[0] & 0x0f;
    else if (s[0] >= 0xf0 && s[0] <= 0xf4) len = 4, cp = s[0] & 0x07;
    else return 0;
    if (n < len) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return len;
}

/* Text escapes: control bytes and invalid UTF-8 as \n \r \t \xNN; with quote, also \" and \\. */
static void put_text_escaped(struct line *l, const char *s, size_t n, bool quote)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        unsigned char ch = u[i];
        size_t ul = utf8_len(u + i, n - i);
        if (ch == '\n') puts_(l, "\\n");
        else if (ch == '\r') puts_(l, "\\r");
        else if (ch == '\t') puts_(l, "\\t");
        else if (ch < 0x20 || ch == 0x7f || !ul) put_hex(l, "\\x", ch, 2);
        else if (quote && (ch == '"' || ch == '\\')) {
            putc_(l, '\\');
            putc_(l, (char)ch);
        } else {
            put(l, s + i, ul);
            i += ul;
            continue;
        }
        i++;
    }
}

static bool needs_quotes(const char *s, size_t n)
{
    if (!n) return true;
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        unsigned char ch = u[i];
        size_t ul = utf8_len(u + i, n - i);
        if (ch <= ' ' || ch == '=' || ch == '"' || ch == '\\' || ch == 0x7f || !ul) return true;
        i += ul;
    }
    return false;
}

/* A JSON string of s, with suffix (plain ASCII) inside the quotes. */
static void put_json_string(struct line *l, const char *s, size_t n, const char *suffix)
{
    const unsigned char *u = (const unsigned char *)s;
    putc_(l, '"');
    for (size_t i = 0; i < n;) {
        unsigned char ch = u[i];
        size_t ul = utf8_len(u + i, n - i);
        switch (ch) {
        case '"': puts_(l, "\\\""); break;
        case '\\': puts_(l, "\\\\"); break;
        case '\n': puts_(l, "\\n"); break;
        case '\r': puts_(l, "\\r"); break;
        case '\t': puts_(l, "\\t"); break;
        case '\b': puts_(l, "\\b"); break;
        case '\f': puts_(l, "\\f"); break;
        default:
            if (ch < 0x20) put_hex(l, "\\u", ch, 4);
            else if (!ul) puts_(l, "\\ufffd");
            else {
                put(l, s + i, ul);
                i += ul;
                continue;
            }
        }
        i++;
    }
    puts_(l, suffix);
    putc_(l, '"');
}

static size_t field_len(const char *s)
{
    return s ? strnlen(s, MAX_FIELD) : 0;
}

static void put_timestamp(struct line *l, int64_t ms)
{
    int64_t sec = ms / 1000, frac = ms % 1000;
    if (frac < 0) {
        frac += 1000;
        sec--;
    }
    time_t t = (time_t)sec;
    struct tm tm;
    char b[48];
    if (!gmtime_r(&t, &tm)) memset(&tm, 0, sizeof tm);
    snprintf(b, sizeof b, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec, (int)frac);
    puts_(l, b);
}

static int64_t real_clock(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Formats and writes one line; msg is n bytes (not NUL-terminated); cut: add "...". */
static void write_line(enum rn_log_level level, const struct rn_log_ctx *ctx, const char *msg, size_t n, bool cut)
{
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r')) n--;
    const char *names[3] = {"job", "task", "peer"};
    const char *vals[3] = {ctx ? ctx->job : NULL, ctx ? ctx->task : NULL, ctx ? ctx->peer : NULL};
    char stack[2048];
    struct line l = {stack, 0, sizeof stack, false, false};
    pthread_mutex_lock(&log_lock);
    int64_t now = log_clock ? log_clock() : real_clock();
    if (log_format == RN_LOG_JSON) {
        puts_(&l, "{\"time\":\"");
        put_timestamp(&l, now);
        puts_(&l, "\",\"level\":\"");
        puts_(&l, level_names[level]);
        puts_(&l, "\",\"process\":");
        put_json_string(&l, log_process, strlen(log_process), "");
        for (int i = 0; i < 3; i++) {
            size_t fl = field_len(vals[i]);
            if (!fl) continue;
            puts_(&l, ",\"");
            puts_(&l, names[i]);
            puts_(&l, "\":");
            put_json_string(&l, vals[i], fl, "");
        }
        puts_(&l, ",\"msg\":");
        put_json_string(&l, msg, n, cut ? "..." : "");
        puts_(&l, "}\n");
    } else {
        put_timestamp(&l, now);
        putc_(&l, ' ');
        puts_(&l, level_upper[level]);
        putc_(&l, ' ');
        put_text_escaped(&l, log_process, strlen(log_process), false);
        for (int i = 0; i < 3; i++) {
            size_t fl = field_len(vals[i]);
            if (!fl) continue;
            putc_(&l, ' ');
            puts_(&l, names[i]);
            putc_(&l, '=');
            bool q = needs_quotes(vals[i], fl);
            if (q) putc_(&l, '"');
            put_text_escaped(&l, vals[i], fl, q);
            if (q) putc_(&l, '"');
        }
        putc_(&l, ' ');
        put_text_escaped(&l, msg, n, false);
        if (cut) puts_(&l, "...");
        putc_(&l, '\n');
    }
    if (l.failed && l.len) l.p[l.len - 1] = '\n';   /* out of memory: a cut line still ends */
    FILE *out = log_out ? log_out : stderr;
    fwrite(l.p, 1, l.len, out);
    fflush(out);
    pthread_mutex_unlock(&log_lock);
    if (l.heap) free(l.p);
}

void rn_vlog(enum rn_log_level level, const struct rn_log_ctx *ctx, const char *fmt, va_list ap)
{
    if ((unsigned)level > RN_LOG_ERROR) level = RN_LOG_ERROR;
    if (!rn_log_enabled(level)) return;
    char stack[1024], *big = NULL;
    const char *msg = stack;
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(stack, sizeof stack, fmt, ap);
    bool cut = false;
    size_t len;
    if (n < 0) {
        msg = "(a log message that cannot be formatted)";
        len = strlen(msg);
    } else if ((size_t)n < sizeof stack) {
        len = (size_t)n;
    } else {
        /* longer than the stack buffer: print it again into the heap, up to the limit */
        size_t want = (size_t)n > RN_LOG_MAX_MSG ? RN_LOG_MAX_MSG : (size_t)n;
        if ((big = malloc(want + 1))) {
            vsnprintf(big, want + 1, fmt, ap2);
            msg = big;
            len = want;
            cut = (size_t)n > want;
        } else {
            len = sizeof stack - 1;
            cut = true;
        }
    }
    va_end(ap2);
    write_line(level, ctx, msg, len, cut);
    free(big);
}

void rn_log(enum rn_log_level level, const struct rn_log_ctx *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    rn_vlog(level, ctx, fmt, ap);
    va_end(ap);
}

/* ---- the FILE* adapter ---- */

struct stream {
    pthread_mutex_t lock;       /* stdio already locks the FILE around each call; this makes the
                                 * state safe without relying on that (and visible to TSan) */
    enum rn_log_level level;
    char *job, *task, *peer;    /* copies of the context */
    char *buf;                  /* the line being written */
    size_t len, cap;
};

static void stream_emit(struct stream *s)
{
    size_t n = s->len;
    while (n && s->buf[n - 1] == '\r') n--;
    s->len = 0;
    if (!n || !rn_log_enabled(s->level)) return;
    struct rn_log_ctx ctx = {s->job, s->task, s->peer};
    write_line(s->level, &ctx, s->buf, n, false);
}

/* Appends n bytes to the pending line, emitting it whenever it reaches the cap. */
static void stream_append(struct stream *s, const char *p, size_t n)
{
    while (n) {
        if (s->len == s->cap) {
            size_t cap = s->cap * 2 > RN_LOG_MAX_MSG ? RN_LOG_MAX_MSG : s->cap * 2;
            char *b = cap > s->cap ? realloc(s->buf, cap) : NULL;
            if (b) {
                s->buf = b;
                s->cap = cap;
            } else {
                stream_emit(s);   /* at the cap (or out of memory): the line is split here */
            }
        }
        size_t take = s->cap - s->len < n ? s->cap - s->len : n;
        memcpy(s->buf + s->len, p, take);
        s->len += take;
        p += take;
        n -= take;
    }
}

static ssize_t stream_write(void *cookie, const char *p, size_t n)
{
    struct stream *s = cookie;
    size_t left = n;
    pthread_mutex_lock(&s->lock);
    while (left) {
        const char *nl = memchr(p, '\n', left);
        size_t part = nl ? (size_t)(nl - p) : left;
        stream_append(s, p, part);
        if (!nl) break;
        stream_emit(s);
        p = nl + 1;
        left -= part + 1;
    }
    pthread_mutex_unlock(&s->lock);
    return (ssize_t)n;
}

static void stream_free(struct stream *s)
{
    free(s->job);
    free(s->task);
    free(s->peer);
    free(s->buf);
    free(s);
}

static int stream_close(void *cookie)
{
    struct stream *s = cookie;
    pthread_mutex_lock(&s->lock);
    stream_emit(s);
    pthread_mutex_unlock(&s->lock);
    pthread_mutex_destroy(&s->lock);
    stream_free(s);
    return 0;
}

static bool dup_field(char **to, const char *from)
{
    if (!from || !*from) return true;
    *to = strndup(from, MAX_FIELD);
    return *to != NULL;
}

FILE *rn_log_stream(enum rn_log_level level, const struct rn_log_ctx *ctx)
{
    struct stream *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    pthread_mutex_init(&s->lock, NULL);
    s->level = (unsigned)level <= RN_LOG_ERROR ? level : RN_LOG_ERROR;
    s->cap = 256;
    if (!(s->buf = malloc(s->cap))) goto free_stream;
    if (ctx && (!dup_field(&s->job, ctx->job) || !dup_field(&s->task, ctx->task) || !dup_field(&s->peer, ctx->peer)))
        goto free_stream;
    cookie_io_functions_t io = {.read = NULL, .write = stream_write, .seek = NULL, .close = stream_close};
    FILE *f = fopencookie(s, "w", io);
    if (!f) goto free_stream;
    setvbuf(f, NULL, _IOLBF, 4096);
    return f;
free_stream:
    pthread_mutex_destroy(&s->lock);
    stream_free(s);
    return NULL;
}
