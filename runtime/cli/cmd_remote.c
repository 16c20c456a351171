/*
 * cmd_remote.c — the `runnel` verbs that talk to a job manager's REST API: submit, list,
 * status, cancel, savepoint (the remote form; the local form, which signals a `runnel run`, is
 * rn_cli_savepoint in cmd_checkpoint.c and this file only dispatches to it) and stop.
 *
 * Every verb takes --jobmanager HOST:PORT (default $RUNNEL_JOBMANAGER, else localhost:8081),
 * --token T (default $RUNNEL_REST_TOKEN; sent as "Authorization: Bearer T") and --json (print
 * the server's JSON as it came, instead of a table). Exit codes: 0 success; 1 the job manager
 * answered with an error (printed: its {"error"} message, a submission's file:line:column
 * errors, or the HTTP status and the start of the body) or the operation failed (a savepoint
 * FAILED or not done within --timeout); 2 bad usage, an unreadable job file, or a job manager
 * that cannot be reached (the message names the address).
 *
 * The REST contract (what the job manager implements):
 *   POST  /jobs?file=<basename>[&restore=<dir>]  body: the YAML (application/yaml)
 *         202 {"id":"<32 hex>"}  |  400 {"errors":[{"file","line","column","message"}]}
 *   GET   /jobs                     {"jobs":[{"id","name","state","start_time","end_time","duration"}]}
 *   GET   /jobs/<id>                {"id","name","state","attempt","restarts","start_time","end_time",
 *                                    "duration","error","vertices":[{"id","type","parallelism","rows_in",
 *                                    "rows_out","rows_in_per_s","rows_out_per_s","backpressured"}]}
 *   PATCH /jobs/<id>?mode=cancel    body {}  -> 202 {}
 *   POST  /jobs/<id>/savepoints     body {"target_directory": DIR} (member left out without DIR)
 *   POST  /jobs/<id>/stop           same body  -> 202 {"request":"<hex>"}
 *   GET   /jobs/<id>/savepoints/<request>  {"status":"IN_PROGRESS|COMPLETED|FAILED","path","error"}
 * Times are epoch milliseconds (end_time -1 while running), durations milliseconds. Directories
 * (--restore, savepoint targets) are sent as written: the job manager resolves them on its own
 * machine. Every request has a 10 s deadline; savepoint polling stops at --timeout.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "rest/client.h"
#include "rest/json.h"

#define DEFAULT_JOBMANAGER "localhost:8081"
#define REQUEST_TIMEOUT_MS 10000
#define POLL_INTERVAL_MS 200
#define MAX_JOB_FILE ((size_t)64 << 20)

struct remote {
    char host[256];
    uint16_t port;
    char addr[300];       /* as the user gave it, for messages */
    const char *token;
    bool json;
    long timeout_s;       /* savepoint / stop polling */
};

/* A response, parsed when it is JSON. */
struct answer {
    int status;
    char *body;
    size_t len;
    rn_json_doc *doc;     /* NULL when the body is not JSON */
};

static void answer_free(struct answer *a)
{
    free(a->body);
    rn_json_doc_free(a->doc);
    memset(a, 0, sizeof *a);
}

/* ------------------------------------------------------------------------------------------ */
/* options                                                                                     */
/* ------------------------------------------------------------------------------------------ */

static int parse_address(const char *text, struct remote *rm)
{
    snprintf(rm->addr, sizeof rm->addr, "%s", text);
    const char *colon;
    const char *host = text;
    size_t hl;
    if (text[0] == '[') {   /* [v6]:port */
        const char *close = strchr(text, ']');
        if (!close) return -1;
        host = text + 1;
        hl = (size_t)(close - host);
        colon = close[1] == ':' ? close + 1 : NULL;
        if (close[1] && !colon) return -1;
    } else {
        colon = strrchr(text, ':');
        hl = colon ? (size_t)(colon - text) : strlen(text);
        if (colon && memchr(text, ':', hl)) return -1;   /* a bare v6 address needs brackets */
    }
    if (!hl || hl >= sizeof rm->host) return -1;
    memcpy(rm->host, host, hl);
    rm->host[hl] = 0;
    if (!colon) {
        rm->port = 8081;
        return 0;
    }
    char *end;
    errno = 0;
    long p = strtol(colon + 1, &end, 10);
    if (errno || end == colon + 1 || *end || p < 1 || p > 65535) return -1;
    rm->port = (uint16_t)p;
    return 0;
}

enum { OPT_JOBMANAGER = 1, OPT_TOKEN, OPT_JSON, OPT_TIMEOUT, OPT_RESTORE, OPT_SAVEPOINT, OPT_HELP };
enum { ALLOW_TIMEOUT = 1, ALLOW_RESTORE = 2, ALLOW_SAVEPOINT = 4 };

/* Parses the options of a verb into rm (and *dir for --restore / --savepoint); leaves the
 * positional arguments in argv[optind .. argc). 0, or an exit code (help: 0 after printing). */
static int parse_options(int argc, char **argv, unsigned allow, const char *usage, struct remote *rm, const char **dir, bool *done)
{
    static const struct option opts[] = {
        {"jobmanager", required_argument, NULL, OPT_JOBMANAGER},
        {"token", required_argument, NULL, OPT_TOKEN},
        {"json", no_argument, NULL, OPT_JSON},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {"restore", required_argument, NULL, OPT_RESTORE},
        {"savepoint", required_argument, NULL, OPT_SAVEPOINT},
        {"help", no_argument, NULL, OPT_HELP},
        {0, 0, 0, 0},
    };
    memset(rm, 0, sizeof *rm);
    rm->timeout_s = 60;
    *done = false;
    const char *addr = getenv("RUNNEL_JOBMANAGER");
    if (!addr || !*addr) addr = DEFAULT_JOBMANAGER;
    const char *tok = getenv("RUNNEL_REST_TOKEN");
    rm->token = tok && *tok ? tok : NULL;
    int c;
    optind = 1;
    opterr = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case OPT_JOBMANAGER: addr = optarg; break;
        case OPT_TOKEN: rm->token = *optarg ? optarg : NULL; break;
        case OPT_JSON: rm->json = true; break;
        case OPT_TIMEOUT: {
            char *end;
            long t = strtol(optarg, &end, 10);
            if (!(allow & ALLOW_TIMEOUT) || *end || end == optarg || t <= 0 || t > 86400) goto usage;
            rm->timeout_s = t;
            break;
        }
        case OPT_RESTORE:
            if (!(allow & ALLOW_RESTORE) || !*optarg) goto usage;
            *dir = optarg;
            break;
        case OPT_SAVEPOINT:
            if (!(allow & ALLOW_SAVEPOINT) || !*optarg) goto usage;
            *dir = optarg;
            break;
        case OPT_HELP:
            printf("%s", usage);
            *done = true;
            return 0;
        default: goto usage;
        }
    }
    if (parse_address(addr, rm)) {
        fprintf(stderr, "runnel: --jobmanager '%s' is not HOST:PORT\n", addr);
        *done = true;
        return 2;
    }
    return 0;
usage:
    fprintf(stderr, "%s", usage);
    *done = true;
    return 2;
}

/* ------------------------------------------------------------------------------------------ */
/* requests                                                                                    */
/* ------------------------------------------------------------------------------------------ */

/* Appends s %-encoded (everything but unreserved characters) to buf; false when it does not
 * fit (buf is then cut, and must not be sent). */
static bool url_encode(char *buf, size_t cap, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(buf);
    for (; *s; s++) {
        if (n + 4 > cap) {
            buf[n] = 0;
            return false;
        }
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~') {
            buf[n++] = (char)c;
        } else {
            buf[n++] = '%';
            buf[n++] = hex[c >> 4];
            buf[n++] = hex[c & 15];
        }
    }
    buf[n] = 0;
    return true;
}

/* One request. 0 with *a filled (any HTTP status), or 2 after saying that the job manager
 * cannot be reached. */
static int request(const struct remote *rm, const char *method, const char *path, const char *body, size_t body_len,
                   const char *content_type, struct answer *a)
{
    memset(a, 0, sizeof *a);
    struct rn_error err;
    int rc = rn_http_request(rm->host, rm->port, method, path, rm->token, body, body_len, content_type, REQUEST_TIMEOUT_MS, &a->status,
                             &a->body, &a->len, &err);
    if (rc) {
        fprintf(stderr, "runnel: cannot reach the job manager at %s: %s\n", rm->addr, err.msg);
        return 2;
    }
    if (a->len) {
        struct rn_error perr;
        if (rn_json_parse(a->body, a->len, NULL, &a->doc, &perr)) a->doc = NULL;
    }
    return 0;
}

static void print_raw(const struct answer *a)
{
    fwrite(a->body, 1, a->len, stdout);
    if (!a->len || a->body[a->len - 1] != '\n') putchar('\n');
}

/* Prints text for a terminal: control characters become '?', at most max bytes. */
static void print_clean(FILE *f, const char *s, size_t n, size_t max)
{
    for (size_t i = 0; i < n && i < max; i++) {
        unsigned char c = (unsigned char)s[i];
        fputc(c < 0x20 || c == 0x7f ? '?' : c, f);
    }
    if (n > max) fputs("...", f);
}

/* The job manager's error answer, printed; returns 1. */
static int server_error(const struct remote *rm, const struct answer *a)
{
    if (rm->json && a->doc) {
        print_raw(a);
        return 1;
    }
    const rn_json *root = rn_json_root(a->doc);
    const rn_json *errors = rn_json_get(root, "errors");
    if (rn_json_type_of(errors) == RN_JSON_ARRAY && rn_json_count(errors)) {
        for (size_t i = 0; i < rn_json_count(errors); i++) {
            const rn_json *e = rn_json_at(errors, i);
            const char *file = rn_json_get_str(e, "file");
            const char *msg = rn_json_get_str(e, "message");
            int64_t line = 0, col = 0;
            rn_json_as_int(rn_json_get(e, "line"), &line);
            rn_json_as_int(rn_json_get(e, "column"), &col);
            fprintf(stderr, "%s", file ? file : "job");
            if (line > 0) fprintf(stderr, ":%" PRId64, line);
            if (line > 0 && col > 0) fprintf(stderr, ":%" PRId64, col);
            fprintf(stderr, ": ");
            if (msg) print_clean(stderr, msg, strlen(msg), 4096);
            else fprintf(stderr, "error");
            fputc('\n', stderr);
        }
        return 1;
    }
    const char *msg = rn_json_get_str(root, "error");
    if (msg) {
        fprintf(stderr, "runnel: ");
        print_clean(stderr, msg, strlen(msg), 4096);
        fprintf(stderr, " (HTTP %d)\n", a->status);
        return 1;
    }
    fprintf(stderr, "runnel: the job manager at %s answered HTTP %d", rm->addr, a->status);
    if (a->len) {
        size_t n = strcspn(a->body, "\r\n");
        fprintf(stderr, ": ");
        print_clean(stderr, a->body, n < a->len ? n : a->len, 200);
    }
    fputc('\n', stderr);
    return 1;
}

static bool ok_status(int s) { return s >= 200 && s < 300; }

/* A successful answer that lacks what the contract promises; returns 1. */
static int unexpected(const struct remote *rm, const struct answer *a, const char *what)
{
    fprintf(stderr, "runnel: unexpected answer from the job manager at %s (%s): ", rm->addr, what);
    print_clean(stderr, a->body, a->len, 200);
    fputc('\n', stderr);
    return 1;
}

/* ------------------------------------------------------------------------------------------ */
/* formatting                                                                                  */
/* ------------------------------------------------------------------------------------------ */

static void fmt_duration(char *out, size_t cap, const rn_json *v)
{
    int64_t ms;
    if (rn_json_as_int(v, &ms) || ms < 0) {
        snprintf(out, cap, "-");
        return;
    }
    if (ms < 1000) snprintf(out, cap, "%" PRId64 "ms", ms);
    else if (ms < 60000) snprintf(out, cap, "%.1fs", (double)ms / 1000.0);
    else if (ms < 3600000) snprintf(out, cap, "%" PRId64 "m%02" PRId64 "s", ms / 60000, ms / 1000 % 60);
    else snprintf(out, cap, "%" PRId64 "h%02" PRId64 "m", ms / 3600000, ms / 60000 % 60);
}

static void fmt_time(char *out, size_t cap, const rn_json *v)
{
    int64_t ms;
    if (rn_json_as_int(v, &ms) || ms < 0) {
        snprintf(out, cap, "-");
        return;
    }
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    if (!localtime_r(&t, &tm) || !strftime(out, cap, "%Y-%m-%d %H:%M:%S", &tm)) snprintf(out, cap, "%" PRId64, ms);
}

/* A scalar as text: strings as they are (cleaned), numbers, booleans as yes/no, else "-". */
static void fmt_value(char *out, size_t cap, const rn_json *v)
{
    size_t n;
    const char *s;
    int64_t i;
    double d;
    bool b;
    switch (rn_json_type_of(v)) {
    case RN_JSON_STRING:
        s = rn_json_as_str(v, &n);
        snprintf(out, cap, "%.*s", (int)(n < cap ? n : cap - 1), s);
        for (char *c = out; *c; c++)
            if ((unsigned char)*c < 0x20 || *c == 0x7f) *c = '?';
        break;
    case RN_JSON_NUMBER:
        if (!rn_json_as_int(v, &i)) snprintf(out, cap, "%" PRId64, i);
        else if (!rn_json_as_double(v, &d)) snprintf(out, cap, "%.1f", d);
        break;
    case RN_JSON_BOOL:
        rn_json_as_bool(v, &b);
        snprintf(out, cap, "%s", b ? "yes" : "no");
        break;
    default: snprintf(out, cap, "-"); break;
    }
}

static void fmt_rate(char *out, size_t cap, const rn_json *v)
{
    double d;
    if (rn_json_as_double(v, &d)) snprintf(out, cap, "-");
    else snprintf(out, cap, "%.1f", d);
}

/* ------------------------------------------------------------------------------------------ */
/* submit                                                                                      */
/* ------------------------------------------------------------------------------------------ */

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    struct stat st;
    if (fstat(fileno(f), &st) || !S_ISREG(st.st_mode)) {
        fclose(f);
        errno = EISDIR;
        return NULL;
    }
    if ((size_t)st.st_size > MAX_JOB_FILE) {
        fclose(f);
        errno = EFBIG;
        return NULL;
    }
    size_t cap = (size_t)st.st_size + 1, n = 0;
    char *buf = malloc(cap);
    if (!buf) {
        fclose(f);
        return NULL;
    }
    for (;;) {
        size_t k = fread(buf + n, 1, cap - n, f);
        n += k;
        if (n < cap) break;
        if (cap > MAX_JOB_FILE) {   /* it grew while we read */
            free(buf);
            fclose(f);
            errno = EFBIG;
            return NULL;
        }
        char *nb = realloc(buf, cap * 2);
        if (!nb) {
            free(buf);
            fclose(f);
            return NULL;
        }
        buf = nb;
        cap *= 2;
    }
    bool bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        errno = EIO;
        return NULL;
    }
    *len = n;
    return buf;
}

int rn_cli_submit(int argc, char **argv)
{
    static const char usage[] =
        "usage: runnel submit JOB.yaml [--restore DIR] [--jobmanager HOST:PORT] [--token T] [--json]\n"
        "Sends the job file to a job manager (POST /jobs) and prints the job's id. --restore starts it from a\n"
        "savepoint or retained checkpoint DIR (a path on the job manager's machine).\n";
    struct remote rm;
    const char *restore = NULL;
    bool done;
    int rc = parse_options(argc, argv, ALLOW_RESTORE, usage, &rm, &restore, &done);
    if (done) return rc;
    if (optind + 1 != argc) {
        fprintf(stderr, "%s", usage);
        return 2;
    }
    const char *file = argv[optind];
    size_t len;
    char *yaml = read_file(file, &len);
    if (!yaml) {
        fprintf(stderr, "runnel: cannot read %s: %s\n", file, strerror(errno));
        return 2;
    }
    const char *base = strrchr(file, '/');
    base = base ? base + 1 : file;
    char path[16384] = "/jobs?file=";
    bool fits = url_encode(path, sizeof path, base);
    if (fits && restore) {
        strcat(path, "&restore=");
        fits = url_encode(path, sizeof path, restore);
    }
    if (!fits) {
        fprintf(stderr, "runnel: the job file's name or the --restore directory is too long\n");
        free(yaml);
        return 2;
    }
    struct answer a;
    rc = request(&rm, "POST", path, yaml, len, "application/yaml", &a);
    free(yaml);
    if (rc) return rc;
    if (!ok_status(a.status)) {
        rc = server_error(&rm, &a);
    } else if (rm.json) {
        print_raw(&a);
    } else {
        const char *id = rn_json_get_str(rn_json_root(a.doc), "id");
        if (id) printf("submitted %s\n", id);
        else rc = unexpected(&rm, &a, "no job id");
    }
    answer_free(&a);
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* list, status, cancel                                                                        */
/* ------------------------------------------------------------------------------------------ */

int rn_cli_list(int argc, char **argv)
{
    static const char usage[] = "usage: runnel list [--jobmanager HOST:PORT] [--token T] [--json]\n"
                                "Lists the job manager's jobs (GET /jobs): id, name, state and duration.\n";
    struct remote rm;
    bool done;
    int rc = parse_options(argc, argv, 0, usage, &rm, NULL, &done);
    if (done) return rc;
    if (optind != argc) {
        fprintf(stderr, "%s", usage);
        return 2;
    }
    struct answer a;
    rc = request(&rm, "GET", "/jobs", NULL, 0, NULL, &a);
    if (rc) return rc;
    if (!ok_status(a.status)) {
        rc = server_error(&rm, &a);
        goto out;
    }
    if (rm.json) {
        print_raw(&a);
        goto out;
    }
    const rn_json *jobs = rn_json_get(rn_json_root(a.doc), "jobs");
    if (rn_json_type_of(jobs) != RN_JSON_ARRAY) {
        rc = unexpected(&rm, &a, "no jobs array");
        goto out;
    }
    size_t n = rn_json_count(jobs);
    int name_w = 4;
    for (size_t i = 0; i < n; i++) {
        char name[64];
        fmt_value(name, sizeof name, rn_json_get(rn_json_at(jobs, i), "name"));
        if ((int)strlen(name) > name_w) name_w = (int)strlen(name);
    }
    printf("%-32s  %-*s  %-10s  %s\n", "ID", name_w, "NAME", "STATE", "DURATION");
    for (size_t i = 0; i < n; i++) {
        const rn_json *j = rn_json_at(jobs, i);
        char id[64], name[64], state[32], dur[32];
        fmt_value(id, sizeof id, rn_json_get(j, "id"));
        fmt_value(name, sizeof name, rn_json_get(j, "name"));
        fmt_value(state, sizeof state, rn_json_get(j, "state"));
        fmt_duration(dur, sizeof dur, rn_json_get(j, "duration"));
        printf("%-32s  %-*s  %-10s  %s\n", id, name_w, name, state, dur);
    }
    if (!n) printf("(no jobs)\n");
out:
    answer_free(&a);
    return rc;
}

/* The path /jobs/<id><suffix>, the id %-encoded; false (after saying so) when it is too long. */
static bool job_path(char *out, size_t cap, const char *id, const char *suffix)
{
    snprintf(out, cap, "/jobs/");
    size_t n;
    if (!url_encode(out, cap, id) || (n = strlen(out)) + strlen(suffix) + 1 > cap) {
        fprintf(stderr, "runnel: job id too long\n");
        return false;
    }
    memcpy(out + n, suffix, strlen(suffix) + 1);
    return true;
}

int rn_cli_status(int argc, char **argv)
{
    static const char usage[] = "usage: runnel status JOB_ID [--jobmanager HOST:PORT] [--token T] [--json]\n"
                                "Shows a job (GET /jobs/JOB_ID): its state, attempts, times, error, and each vertex's\n"
                                "parallelism, rows in and out, rates and back-pressure.\n";
    struct remote rm;
    bool done;
    int rc = parse_options(argc, argv, 0, usage, &rm, NULL, &done);
    if (done) return rc;
    if (optind + 1 != argc) {
        fprintf(stderr, "%s", usage);
        return 2;
    }
    char path[512];
    if (!job_path(path, sizeof path, argv[optind], "")) return 2;
    struct answer a;
    rc = request(&rm, "GET", path, NULL, 0, NULL, &a);
    if (rc) return rc;
    if (!ok_status(a.status)) {
        rc = server_error(&rm, &a);
        goto out;
    }
    if (rm.json) {
        print_raw(&a);
        goto out;
    }
    const rn_json *j = rn_json_root(a.doc);
    if (rn_json_type_of(j) != RN_JSON_OBJECT) {
        rc = unexpected(&rm, &a, "not a job");
        goto out;
    }
    char id[64], name[256], state[32], attempt[32], restarts[32], start[64], end[64], dur[32];
    fmt_value(id, sizeof id, rn_json_get(j, "id"));
    fmt_value(name, sizeof name, rn_json_get(j, "name"));
    fmt_value(state, sizeof state, rn_json_get(j, "state"));
    fmt_value(attempt, sizeof attempt, rn_json_get(j, "attempt"));
    fmt_value(restarts, sizeof restarts, rn_json_get(j, "restarts"));
    fmt_time(start, sizeof start, rn_json_get(j, "start_time"));
    fmt_time(end, sizeof end, rn_json_get(j, "end_time"));
    fmt_duration(dur, sizeof dur, rn_json_get(j, "duration"));
    printf("job       %s (%s)\n", id, name);
    printf("state     %s (attempt %s, restarts %s)\n", state, attempt, restarts);
    printf("started   %s\n", start);
    if (strcmp(end, "-")) printf("ended     %s\n", end);
    printf("duration  %s\n", dur);
    size_t elen;
    const char *error = rn_json_as_str(rn_json_get(j, "error"), &elen);
    if (error) {
        printf("error     ");
        print_clean(stdout, error, elen, 4096);
        putchar('\n');
    }
    const rn_json *vs = rn_json_get(j, "vertices");
    size_t n = rn_json_count(vs);
    if (rn_json_type_of(vs) == RN_JSON_ARRAY && n) {
        int id_w = 6, type_w = 4;
        for (size_t i = 0; i < n; i++) {
            char v[128];
            fmt_value(v, sizeof v, rn_json_get(rn_json_at(vs, i), "id"));
            if ((int)strlen(v) > id_w) id_w = (int)strlen(v);
            fmt_value(v, sizeof v, rn_json_get(rn_json_at(vs, i), "type"));
            if ((int)strlen(v) > type_w) type_w = (int)strlen(v);
        }
        printf("\n%-*s  %-*s  %11s  %12s  %12s  %10s  %10s  %s\n", id_w, "VERTEX", type_w, "TYPE", "PARALLELISM", "ROWS IN", "ROWS OUT",
               "IN/S", "OUT/S", "BACKPRESSURED");
        for (size_t i = 0; i < n; i++) {
            const rn_json *v = rn_json_at(vs, i);
            char vid[128], type[128], par[32], in[32], out[32], ins[32], outs[32], bp[32];
            fmt_value(vid, sizeof vid, rn_json_get(v, "id"));
            fmt_value(type, sizeof type, rn_json_get(v, "type"));
            fmt_value(par, sizeof par, rn_json_get(v, "parallelism"));
            fmt_value(in, sizeof in, rn_json_get(v, "rows_in"));
            fmt_value(out, sizeof out, rn_json_get(v, "rows_out"));
            fmt_rate(ins, sizeof ins, rn_json_get(v, "rows_in_per_s"));
            fmt_rate(outs, sizeof outs, rn_json_get(v, "rows_out_per_s"));
            fmt_value(bp, sizeof bp, rn_json_get(v, "backpressured"));
            printf("%-*s  %-*s  %11s  %12s  %12s  %10s  %10s  %s\n", id_w, vid, type_w, type, par, in, out, ins, outs, bp);
        }
    }
out:
    answer_free(&a);
    return rc;
}

int rn_cli_cancel(int argc, char **argv)
{
    static const char usage[] = "usage: runnel cancel JOB_ID [--jobmanager HOST:PORT] [--token T] [--json]\n"
                                "Cancels a job (PATCH /jobs/JOB_ID?mode=cancel); the job manager cancels it asynchronously.\n";
    struct remote rm;
    bool done;
    int rc = parse_options(argc, argv, 0, usage, &rm, NULL, &done);
    if (done) return rc;
    if (optind + 1 != argc) {
        fprintf(stderr, "%s", usage);
        return 2;
    }
    char path[512];
    if (!job_path(path, sizeof path, argv[optind], "?mode=cancel")) return 2;
    struct answer a;
    rc = request(&rm, "PATCH", path, "{}", 2, "application/json", &a);
    if (rc) return rc;
    if (!ok_status(a.status)) rc = server_error(&rm, &a);
    else if (rm.json) print_raw(&a);
    else printf("cancelling %s\n", argv[optind]);
    answer_free(&a);
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* savepoint, stop                                                                             */
/* ------------------------------------------------------------------------------------------ */

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) && errno == EINTR) {
    }
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* POST /jobs/<id>/<action> with the target directory, then polls the savepoint request. */
static int trigger_and_wait(const struct remote *rm, const char *id, const char *action, const char *dir)
{
    struct rn_json_builder b;
    rn_json_init(&b);
    rn_json_obj_begin(&b);
    if (dir) rn_json_kstr(&b, "target_directory", dir);
    rn_json_obj_end(&b);
    const char *body;
    size_t blen;
    if (rn_json_finish(&b, &body, &blen)) {
        rn_json_release(&b);
        fprintf(stderr, "runnel: out of memory\n");
        return 2;
    }
    char path[512];
    if (!job_path(path, sizeof path, id, action)) {
        rn_json_release(&b);
        return 2;
    }
    struct answer a;
    int rc = request(rm, "POST", path, body, blen, "application/json", &a);
    rn_json_release(&b);
    if (rc) return rc;
    if (!ok_status(a.status)) {
        rc = server_error(rm, &a);
        answer_free(&a);
        return rc;
    }
    const char *req = rn_json_get_str(rn_json_root(a.doc), "request");
    if (!req || !*req) {
        rc = unexpected(rm, &a, "no savepoint request id");
        answer_free(&a);
        return rc;
    }
    char poll_path[1024];
    if (!job_path(poll_path, sizeof poll_path, id, "/savepoints/") || !url_encode(poll_path, sizeof poll_path, req)) {
        rc = unexpected(rm, &a, "a savepoint request id too long");
        answer_free(&a);
        return rc;
    }
    char req_id[128];
    snprintf(req_id, sizeof req_id, "%s", req);
    answer_free(&a);

    int64_t deadline = mono_ms() + rm->timeout_s * 1000;
    for (;;) {
        rc = request(rm, "GET", poll_path, NULL, 0, NULL, &a);
        if (rc) return rc;
        if (!ok_status(a.status)) {
            rc = server_error(rm, &a);
            answer_free(&a);
            return rc;
        }
        const rn_json *root = rn_json_root(a.doc);
        const char *status = rn_json_get_str(root, "status");
        if (!status) {
            rc = unexpected(rm, &a, "no savepoint status");
            answer_free(&a);
            return rc;
        }
        if (!strcmp(status, "COMPLETED")) {
            const char *p = rn_json_get_str(root, "path");
            if (rm->json) {
                print_raw(&a);
            } else if (p) {
                print_clean(stdout, p, strlen(p), 8192);
                putchar('\n');
            } else {
                rc = unexpected(rm, &a, "a completed savepoint without its path");
            }
            answer_free(&a);
            return rc;
        }
        if (!strcmp(status, "FAILED")) {
            if (rm->json) {
                print_raw(&a);
            } else {
                const char *e = rn_json_get_str(root, "error");
                fprintf(stderr, "runnel: the savepoint of job %s failed: ", id);
                if (e) print_clean(stderr, e, strlen(e), 4096);
                else fprintf(stderr, "(no reason given)");
                fputc('\n', stderr);
            }
            answer_free(&a);
            return 1;
        }
        if (strcmp(status, "IN_PROGRESS")) {
            rc = unexpected(rm, &a, "unknown savepoint status");
            answer_free(&a);
            return rc;
        }
        answer_free(&a);
        if (mono_ms() + POLL_INTERVAL_MS > deadline) {
            fprintf(stderr, "runnel: the savepoint of job %s (request %s) is still in progress after %ld s\n", id, req_id, rm->timeout_s);
            return 1;
        }
        sleep_ms(POLL_INTERVAL_MS);
    }
}

static int remote_savepoint(int argc, char **argv)
{
    static const char usage[] =
        "usage: runnel savepoint JOB_ID [DIR] [--timeout SECONDS] [--jobmanager HOST:PORT] [--token T] [--json]\n"
        "       runnel savepoint JOB.yaml [--dir DIR] [--stop] [--timeout SECONDS]   (a local `runnel run`)\n"
        "Triggers a savepoint of a job on a job manager (into DIR on its machine, else its default directory),\n"
        "waits for it (default 60 s) and prints its path.\n";
    struct remote rm;
    bool done;
    int rc = parse_options(argc, argv, ALLOW_TIMEOUT, usage, &rm, NULL, &done);
    if (done) return rc;
    if (optind + 1 != argc && optind + 2 != argc) {
        fprintf(stderr, "%s", usage);
        return 2;
    }
    return trigger_and_wait(&rm, argv[optind], "/savepoints", optind + 1 < argc ? argv[optind + 1] : NULL);
}

int rn_cli_stop(int argc, char **argv)
{
    static const char usage[] =
        "usage: runnel stop JOB_ID [--savepoint DIR] [--timeout SECONDS] [--jobmanager HOST:PORT] [--token T] [--json]\n"
        "Stops a job with a savepoint (POST /jobs/JOB_ID/stop; into DIR on the job manager's machine, else its\n"
        "default directory), waits for it (default 60 s) and prints the savepoint's path.\n";
    struct remote rm;
    const char *dir = NULL;
    bool done;
    int rc = parse_options(argc, argv, ALLOW_TIMEOUT | ALLOW_SAVEPOINT, usage, &rm, &dir, &done);
    if (done) return rc;
    if (optind + 1 != argc) {
        fprintf(stderr, "%s", usage);
        return 2;
    }
    return trigger_and_wait(&rm, argv[optind], "/stop", dir);
}

/* The local form when the first argument names an existing .yaml / .yml file or --dir is given
 * (or --stop or --plugin-dir, which only the local form has); else the remote form. */
int rn_cli_savepoint_dispatch(int argc, char **argv)
{
    bool local = false;
    const char *first = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--")) {
            if (i + 1 < argc && !first) first = argv[i + 1];
            break;
        }
        if (!strcmp(a, "--dir") || !strncmp(a, "--dir=", 6) || !strcmp(a, "--stop") || !strcmp(a, "--plugin-dir") ||
            !strncmp(a, "--plugin-dir=", 13))
            local = true;
        if (a[0] == '-') {
            /* options with a separate value: skip it */
            if (!strchr(a, '=') && (!strcmp(a, "--dir") || !strcmp(a, "--timeout") || !strcmp(a, "--plugin-dir") ||
                                    !strcmp(a, "--jobmanager") || !strcmp(a, "--token")))
                i++;
            continue;
        }
        if (!first) first = a;
    }
    if (first && !local) {
        size_t n = strlen(first);
        struct stat st;
        bool yaml = (n > 5 && !strcmp(first + n - 5, ".yaml")) || (n > 4 && !strcmp(first + n - 4, ".yml"));
        if (yaml && stat(first, &st) == 0 && S_ISREG(st.st_mode)) local = true;
    }
    return local ? rn_cli_savepoint(argc, argv) : remote_savepoint(argc, argv);
}
