/*
 * kafka_tool.c — runnel-kafka (also `runnel kafka ...`): a Kafka mock cluster for tests, demos
 * and benchmarks, and a line producer / topic reader for it (or any Kafka cluster).
 *
 *   runnel-kafka mock [--brokers N] [--topic NAME[:PARTITIONS]]... [--port-file F] [--stdin-lifetime]
 *   runnel-kafka produce --bootstrap B --topic T [--partition P] [--key-field NAME] [--timeout-ms MS]
 *   runnel-kafka consume --bootstrap B --topic T [--read-committed] [--keys] [--timeout-ms MS]
 *
 * Assumes librdkafka 2.0.x's rdkafka_mock (kafka_client.h): brokers on 127.0.0.1 with ephemeral
 * ports (the mock cannot be given ports), so the mock prints its bootstrap list and writes it to
 * --port-file (written whole, then renamed into place; removed when the mock stops). produce sends stdin in
 * chunks (bounded memory whatever the input's size), each chunk acknowledged before the next;
 * consume reads the topic up to the end it had when it began. Exit status: 0 done, 1 failed (a
 * message on stderr naming the broker list and topic), 2 bad arguments.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "kafka_client.h"

#define MAX_TOPICS 64
#define CHUNK_LINES 65536
#define CHUNK_BYTES (16u << 20)
#define MAX_LINE (64u << 20)

static void usage(FILE *f)
{
    fprintf(f,
            "usage: runnel-kafka <command> [options]\n"
            "\n"
            "  mock [--brokers N] [--topic NAME[:PARTITIONS]]... [--port-file F] [--stdin-lifetime]\n"
            "      start a Kafka mock cluster of N brokers (1 to 64, default 1) on 127.0.0.1, create\n"
            "      the topics (default 1 partition), print bootstrap.servers=<list> (and write the list\n"
            "      to F), run until SIGINT or SIGTERM (or until stdin closes with --stdin-lifetime)\n"
            "  produce --bootstrap B --topic T [--partition P] [--key-field NAME] [--timeout-ms MS]\n"
            "      send each line of stdin as one message (value = the line; key = the JSON field NAME\n"
            "      of the line), wait for every acknowledgement, print the count on stderr\n"
            "  consume --bootstrap B --topic T [--read-committed] [--keys] [--timeout-ms MS]\n"
            "      print every message up to the topic's current end, one line each (value; with\n"
            "      --keys: key<TAB>value), partition by partition in offset order\n");
}

/* Parses a whole decimal int in [lo, hi]; false otherwise. */
static bool parse_int(const char *s, long lo, long hi, long *out)
{
    if (!s || !*s)
        return false;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

/* The value of option argv[*i] (advancing *i), or NULL with a usage message. */
static const char *opt_value(int argc, char **argv, int *i, const char *cmd)
{
    if (*i + 1 >= argc) {
        fprintf(stderr, "runnel-kafka %s: %s needs a value\n", cmd, argv[*i]);
        return NULL;
    }
    return argv[++*i];
}

/* ---- mock ---- */

static int write_port_file(const char *path, const char *bootstrap)
{
    size_t n = strlen(path);
    char *tmp = malloc(n + 8);
    if (!tmp)
        return -1;
    snprintf(tmp, n + 8, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    int rc = -1;
    if (!f) {
        fprintf(stderr, "runnel-kafka mock: cannot write %s: %s\n", tmp, strerror(errno));
        goto out;
    }
    bool ok = fprintf(f, "%s\n", bootstrap) >= 0;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        fprintf(stderr, "runnel-kafka mock: cannot write %s: %s\n", path, strerror(errno));
        unlink(tmp);
        goto out;
    }
    rc = 0;
out:
    free(tmp);
    return rc;
}

static int cmd_mock(int argc, char **argv)
{
    long brokers = 1;
    const char *port_file = NULL;
    bool stdin_lifetime = false;
    struct {
        char name[256];
        int partitions;
    } topics[MAX_TOPICS];
    int n_topics = 0;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "--brokers")) {
            if (!(v = opt_value(argc, argv, &i, "mock")))
                return 2;
            if (!parse_int(v, 1, 64, &brokers)) {
                fprintf(stderr, "runnel-kafka mock: --brokers %s: a number from 1 to 64\n", v);
                return 2;
            }
        } else if (!strcmp(a, "--topic")) {
            if (!(v = opt_value(argc, argv, &i, "mock")))
                return 2;
            if (n_topics == MAX_TOPICS) {
                fprintf(stderr, "runnel-kafka mock: more than %d topics\n", MAX_TOPICS);
                return 2;
            }
            const char *colon = strrchr(v, ':');
            size_t len = colon ? (size_t)(colon - v) : strlen(v);
            long parts = 1;
            if (len == 0 || len >= sizeof topics[0].name || (colon && !parse_int(colon + 1, 1, 10000, &parts))) {
                fprintf(stderr, "runnel-kafka mock: --topic %s: NAME or NAME:PARTITIONS (1 to 10000, names under 256 bytes)\n", v);
                return 2;
            }
            memcpy(topics[n_topics].name, v, len);
            topics[n_topics].name[len] = '\0';
            topics[n_topics].partitions = (int)parts;
            n_topics++;
        } else if (!strcmp(a, "--port-file")) {
            if (!(port_file = opt_value(argc, argv, &i, "mock")))
                return 2;
        } else if (!strcmp(a, "--stdin-lifetime")) {
            stdin_lifetime = true;
        } else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "runnel-kafka mock: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }

    /* Signals are read from a signalfd: blocked before any thread (librdkafka's) starts. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    if (sigprocmask(SIG_BLOCK, &sigs, NULL) != 0) {
        fprintf(stderr, "runnel-kafka mock: sigprocmask: %s\n", strerror(errno));
        return 1;
    }
    int sfd = signalfd(-1, &sigs, SFD_CLOEXEC);
    if (sfd < 0) {
        fprintf(stderr, "runnel-kafka mock: signalfd: %s\n", strerror(errno));
        return 1;
    }
    char why[512];
    int rc = 1;
    rnk_mock *m = rnk_mock_start((int)brokers, why, sizeof why);
    if (!m) {
        fprintf(stderr, "runnel-kafka mock: %s\n", why);
        goto out_sfd;
    }
    for (int t = 0; t < n_topics; t++)
        if (rnk_mock_create_topic(m, topics[t].name, topics[t].partitions, why, sizeof why) < 0) {
            fprintf(stderr, "runnel-kafka mock: %s\n", why);
            goto out_mock;
        }
    const char *b = rnk_mock_bootstrap(m);
    if (port_file && write_port_file(port_file, b) < 0)
        goto out_mock;
    printf("bootstrap.servers=%s\n", b);
    fflush(stdout);
    fprintf(stderr, "runnel-kafka mock: %ld broker%s at %s, %d topic%s\n", brokers, brokers == 1 ? "" : "s", b, n_topics,
            n_topics == 1 ? "" : "s");

    for (;;) {
        struct pollfd pf[2] = {{.fd = sfd, .events = POLLIN}, {.fd = 0, .events = POLLIN}};
        int n = poll(pf, stdin_lifetime ? 2 : 1, 1000);
        if (n < 0 && errno != EINTR) {
            fprintf(stderr, "runnel-kafka mock: poll: %s\n", strerror(errno));
            goto out_mock;
        }
        if (n <= 0)
            continue;
        if (pf[0].revents & POLLIN) {
            struct signalfd_siginfo si;
            if (read(sfd, &si, sizeof si) == (ssize_t)sizeof si)
                fprintf(stderr, "runnel-kafka mock: %s, stopping\n", si.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM");
            break;
        }
        if (stdin_lifetime && pf[1].revents) {
            char buf[4096];
            ssize_t r = read(0, buf, sizeof buf);
            if (r == 0 || (r < 0 && errno != EINTR && errno != EAGAIN)) {
                fprintf(stderr, "runnel-kafka mock: stdin closed, stopping\n");
                break;
            }
        }
    }
    rc = 0;
out_mock:
    rnk_mock_stop(m);
    if (port_file && rc == 0)
        unlink(port_file);
out_sfd:
    close(sfd);
    return rc;
}

/* ---- produce ---- */

/* Skips a JSON value starting at p (no validation beyond balancing); the end, or NULL. */
static const char *json_skip_string(const char *p, const char *end)
{
    for (p++; p < end; p++) {
        if (*p == '\\')
            p++;
        else if (*p == '"')
            return p + 1;
    }
    return NULL;
}

static const char *json_skip_value(const char *p, const char *end)
{
    int depth = 0;
    while (p < end) {
        char c = *p;
        if (c == '"') {
            if (!(p = json_skip_string(p, end)))
                return NULL;
            if (depth == 0)
                return p;
            continue;
        }
        if (c == '{' || c == '[')
            depth++;
        else if (c == '}' || c == ']') {
            if (depth == 0)
                return p;
            if (--depth == 0)
                return p + 1;
        } else if (depth == 0 && (c == ',' || c == ' ' || c == '\t'))
            return p;
        p++;
    }
    return depth == 0 ? p : NULL;
}

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\r'))
        p++;
    return p;
}

/* The text of top-level field `name` of the JSON object in [line, end): a string's contents
 * without its quotes (escapes left as written), other values as written. false when absent or
 * not an object. */
static bool json_field(const char *line, const char *end, const char *name, const char **vs, size_t *vlen)
{
    size_t nlen = strlen(name);
    const char *p = skip_ws(line, end);
    if (p >= end || *p != '{')
        return false;
    p++;
    for (;;) {
        p = skip_ws(p, end);
        if (p >= end || *p != '"')
            return false;
        const char *ks = p + 1, *ke = json_skip_string(p, end);
        if (!ke)
            return false;
        bool match = (size_t)(ke - 1 - ks) == nlen && memcmp(ks, name, nlen) == 0;
        p = skip_ws(ke, end);
        if (p >= end || *p != ':')
            return false;
        p = skip_ws(p + 1, end);
        const char *ve = json_skip_value(p, end);
        if (!ve || ve == p)
            return false;
        if (match) {
            if (*p == '"') {
                *vs = p + 1;
                *vlen = (size_t)(ve - p - 2);
            } else {
                *vs = p;
                *vlen = (size_t)(ve - p);
            }
            return true;
        }
        p = skip_ws(ve, end);
        if (p >= end || *p != ',')
            return false;
        p++;
    }
}

struct chunk {
    char **values, **keys;
    size_t n;
    size_t bytes;
};

static void chunk_clear(struct chunk *c)
{
    for (size_t i = 0; i < c->n; i++) {
        free(c->values[i]);
        if (c->keys)
            free(c->keys[i]);
    }
    c->n = 0;
    c->bytes = 0;
}

static int cmd_produce(int argc, char **argv)
{
    const char *bootstrap = NULL, *topic = NULL, *key_field = NULL;
    long partition = -1, timeout_ms = 60000;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "--bootstrap")) {
            if (!(bootstrap = opt_value(argc, argv, &i, "produce")))
                return 2;
        } else if (!strcmp(a, "--topic")) {
            if (!(topic = opt_value(argc, argv, &i, "produce")))
                return 2;
        } else if (!strcmp(a, "--key-field")) {
            if (!(key_field = opt_value(argc, argv, &i, "produce")))
                return 2;
        } else if (!strcmp(a, "--partition")) {
            if (!(v = opt_value(argc, argv, &i, "produce")))
                return 2;
            if (!parse_int(v, 0, INT32_MAX, &partition)) {
                fprintf(stderr, "runnel-kafka produce: --partition %s: a partition number\n", v);
                return 2;
            }
        } else if (!strcmp(a, "--timeout-ms")) {
            if (!(v = opt_value(argc, argv, &i, "produce")))
                return 2;
            if (!parse_int(v, 1, INT_MAX, &timeout_ms)) {
                fprintf(stderr, "runnel-kafka produce: --timeout-ms %s: a positive number\n", v);
                return 2;
            }
        } else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "runnel-kafka produce: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (!bootstrap || !*bootstrap || !topic || !*topic) {
        fprintf(stderr, "runnel-kafka produce: --bootstrap and --topic are required\n");
        usage(stderr);
        return 2;
    }
    /* Fail early, and before reading stdin, on a topic or partition that is not there. */
    char why[512];
    int parts = rnk_partitions(bootstrap, topic, (int)timeout_ms, why, sizeof why);
    if (parts < 0) {
        fprintf(stderr, "runnel-kafka produce: %s\n", why);
        return 1;
    }
    if (partition >= parts) {
        fprintf(stderr, "runnel-kafka produce: topic %s on %s has %d partitions: no partition %ld\n", topic, bootstrap,
                parts, partition);
        return 1;
    }

    int rc = 1;
    struct chunk c = {0};
    c.values = calloc(CHUNK_LINES, sizeof *c.values);
    c.keys = key_field ? calloc(CHUNK_LINES, sizeof *c.keys) : NULL;
    char *line = NULL;
    size_t cap = 0, total = 0, line_no = 0;
    if (!c.values || (key_field && !c.keys)) {
        fprintf(stderr, "runnel-kafka produce: out of memory\n");
        goto out;
    }
    for (;;) {
        errno = 0;
        ssize_t len = getline(&line, &cap, stdin);
        if (len < 0 && errno) {
            fprintf(stderr, "runnel-kafka produce: reading stdin: %s\n", strerror(errno));
            goto out;
        }
        if (len >= 0) {
            line_no++;
            if ((size_t)len > MAX_LINE) {
                fprintf(stderr, "runnel-kafka produce: line %zu is over %u bytes (topic %s on %s)\n", line_no,
                        MAX_LINE, topic, bootstrap);
                goto out;
            }
            while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
                line[--len] = '\0';
            if (key_field) {
                const char *ks;
                size_t klen;
                if (!json_field(line, line + len, key_field, &ks, &klen)) {
                    fprintf(stderr, "runnel-kafka produce: line %zu has no field '%s' (--key-field; topic %s on %s)\n",
                            line_no, key_field, topic, bootstrap);
                    goto out;
                }
                c.keys[c.n] = strndup(ks, klen);
            }
            c.values[c.n] = strndup(line, (size_t)len);
            if (!c.values[c.n] || (key_field && !c.keys[c.n])) {
                if (!c.values[c.n] && key_field)
                    free(c.keys[c.n]);
                else
                    free(c.values[c.n]);
                fprintf(stderr, "runnel-kafka produce: out of memory\n");
                goto out;
            }
            c.n++;
            c.bytes += (size_t)len;
        }
        if (c.n > 0 && (len < 0 || c.n == CHUNK_LINES || c.bytes >= CHUNK_BYTES)) {
            if (rnk_produce(bootstrap, topic, (int32_t)partition, (const char *const *)c.values,
                            (const char *const *)c.keys, NULL, c.n, (int)timeout_ms, why, sizeof why) < 0) {
                fprintf(stderr, "runnel-kafka produce: %s (%zu messages sent before)\n", why, total);
                goto out;
            }
            total += c.n;
            chunk_clear(&c);
        }
        if (len < 0)
            break;
    }
    fprintf(stderr, "runnel-kafka produce: %zu messages to %s on %s\n", total, topic, bootstrap);
    rc = 0;
out:
    chunk_clear(&c);
    free(c.values);
    free(c.keys);
    free(line);
    return rc;
}

/* ---- consume ---- */

static int cmd_consume(int argc, char **argv)
{
    const char *bootstrap = NULL, *topic = NULL;
    bool read_committed = false, keys = false;
    long timeout_ms = 60000;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "--bootstrap")) {
            if (!(bootstrap = opt_value(argc, argv, &i, "consume")))
                return 2;
        } else if (!strcmp(a, "--topic")) {
            if (!(topic = opt_value(argc, argv, &i, "consume")))
                return 2;
        } else if (!strcmp(a, "--read-committed")) {
            read_committed = true;
        } else if (!strcmp(a, "--keys")) {
            keys = true;
        } else if (!strcmp(a, "--timeout-ms")) {
            if (!(v = opt_value(argc, argv, &i, "consume")))
                return 2;
            if (!parse_int(v, 1, INT_MAX, &timeout_ms)) {
                fprintf(stderr, "runnel-kafka consume: --timeout-ms %s: a positive number\n", v);
                return 2;
            }
        } else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "runnel-kafka consume: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (!bootstrap || !*bootstrap || !topic || !*topic) {
        fprintf(stderr, "runnel-kafka consume: --bootstrap and --topic are required\n");
        usage(stderr);
        return 2;
    }
    char why[512];
    struct rnk_msgs msgs;
    if (rnk_consume_all(bootstrap, topic, read_committed, (int)timeout_ms, &msgs, why, sizeof why) < 0) {
        fprintf(stderr, "runnel-kafka consume: %s\n", why);
        return 1;
    }
    static char obuf[1 << 16];
    setvbuf(stdout, obuf, _IOFBF, sizeof obuf);
    for (size_t i = 0; i < msgs.n; i++) {
        const struct rnk_msg *m = &msgs.v[i];
        if (keys) {
            if (m->key)
                fwrite(m->key, 1, m->key_len, stdout);
            putchar('\t');
        }
        if (m->value)
            fwrite(m->value, 1, m->value_len, stdout);
        putchar('\n');
    }
    int rc = 0;
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "runnel-kafka consume: writing stdout: %s (topic %s on %s)\n", strerror(errno), topic, bootstrap);
        rc = 1;
    }
    rnk_msgs_free(&msgs);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "mock"))
        return cmd_mock(argc - 1, argv + 1);
    if (!strcmp(cmd, "produce"))
        return cmd_produce(argc - 1, argv + 1);
    if (!strcmp(cmd, "consume"))
        return cmd_consume(argc - 1, argv + 1);
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "runnel-kafka: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}
