/*
 * cmd_eval.c — `runnel eval`: generates demo bid rows, keeps those that pass --where, computes
 * the --select columns, prints the first rows and the throughput. It exercises the columnar
 * batches and the expression engine end to end from the command line, and doubles as a quick
 * way to try an expression: a compile error is printed with a caret under its position.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "runnel/expr.h"

#define MAX_SELECT 64

static void usage(FILE *f)
{
    fprintf(f,
            "usage: runnel eval [--rows N] [--where EXPR] [--select [NAME=]EXPR]... [--show N]\n"
            "\n"
            "Generates N demo bid rows (default 1000000) with the columns\n"
            "  auction int64, bidder int64, price int64, channel string, url string,\n"
            "  date_time timestamp\n"
            "keeps the rows where EXPR is true, computes each --select column (all columns when\n"
            "none is given), prints the first --show rows (default 10) and the rows per second.\n"
            "Expressions: docs/job-spec.md. Example:\n"
            "  runnel eval --where 'auction %% 123 = 0' --select auction \\\n"
            "              --select 'price_eur=price * 0.908' --select 'day=tumble_start(date_time, 1d)'\n");
}

void rn_cli_print_error(const char *what, const char *source, const struct rn_error *err)
{
    if (err->line > 0) fprintf(stderr, "runnel: %s: %d:%d: %s\n", what, err->line, err->column, err->msg);
    else fprintf(stderr, "runnel: %s: %s\n", what, err->msg);
    if (!source || err->line <= 0) return;
    const char *line = source;
    for (int l = 1; l < err->line && line; l++) {
        line = strchr(line, '\n');
        if (line) line++;
    }
    if (!line) return;
    int len = (int)strcspn(line, "\n");
    fprintf(stderr, "  %.*s\n  %*s^\n", len, line, err->column > 1 ? err->column - 1 : 0, "");
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int rn_cli_eval(int argc, char **argv)
{
    static const struct option opts[] = {
        {"rows", required_argument, NULL, 'n'}, {"where", required_argument, NULL, 'w'},
        {"select", required_argument, NULL, 's'}, {"show", required_argument, NULL, 'k'},
        {"help", no_argument, NULL, 'h'}, {0, 0, 0, 0},
    };
    unsigned long long rows = 1000000, show = 10;
    const char *where = NULL;
    char *names[MAX_SELECT], *exprs[MAX_SELECT];
    uint32_t n_sel = 0;
    int rc = 2, c;
    char *end;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'n':
        case 'k':
            *(c == 'n' ? &rows : &show) = strtoull(optarg, &end, 10);
            if (*end || !*optarg || *optarg == '-') {
                fprintf(stderr, "runnel eval: --%s takes a number, not '%s'\n", c == 'n' ? "rows" : "show", optarg);
                goto out;
            }
            break;
        case 'w': where = optarg; break;
        case 's': {
            if (n_sel == MAX_SELECT) {
                fprintf(stderr, "runnel eval: at most %d --select columns\n", MAX_SELECT);
                goto out;
            }
            /* NAME=EXPR when what precedes the first '=' is a plain name; else the whole is EXPR */
            size_t nl = strspn(optarg, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_");
            bool named = nl > 0 && optarg[nl] == '=' && optarg[nl + 1] != '=';
            names[n_sel] = named ? strndup(optarg, nl) : strdup(optarg);
            exprs[n_sel] = strdup(named ? optarg + nl + 1 : optarg);
            n_sel++;
            break;
        }
        case 'h': usage(stdout); rc = 0; goto out;
        default: usage(stderr); goto out;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "runnel eval: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        goto out;
    }

    const rn_schema *s = rn_demo_bids_schema();
    struct rn_error err;
    rn_expr *filter = NULL;
    rn_projection *proj = NULL;
    if (where && rn_expr_compile(where, s, &filter, &err)) {
        rn_cli_print_error("--where", where, &err);
        goto out;
    }
    if (filter && rn_expr_type(filter).id != RN_T_BOOL) {
        char tn[24];
        fprintf(stderr, "runnel: --where: the condition must be bool, '%s' is %s\n", where,
                rn_type_name(rn_expr_type(filter), tn, sizeof tn));
        goto out_exprs;
    }
    if (n_sel == 0) {
        for (uint32_t i = 0; i < rn_schema_len(s); i++) {
            names[n_sel] = strdup(rn_schema_field(s, i)->name);
            exprs[n_sel] = strdup(names[n_sel]);
            n_sel++;
        }
    }
    if (rn_projection_compile((const char *const *)names, (const char *const *)exprs, n_sel, s, &proj, &err)) {
        rn_cli_print_error("--select", NULL, &err);
        goto out_exprs;
    }

    char line[4096];
    printf("%s\n", rn_schema_describe(rn_projection_schema(proj), line, sizeof line));
    struct rn_batch *in = NULL;
    unsigned long long done = 0, kept = 0, shown = 0;
    double gen_s = 0, eval_s = 0;
    rc = 1;
    while (done < rows) {
        uint32_t n = rows - done < RN_BATCH_ROWS ? (uint32_t)(rows - done) : RN_BATCH_ROWS;
        double t0 = now_s();
        if (!(in = rn_batch_new(s, RN_BATCH_ROWS)) || rn_demo_bids_fill(in, done, n)) {
            fprintf(stderr, "runnel eval: out of memory\n");
            goto out_batch;
        }
        double t1 = now_s();
        struct rn_batch *passed = NULL, *out = NULL;
        if (filter ? rn_expr_filter(filter, in, &passed, &err) : (passed = rn_batch_ref(in), 0)) {
            rn_cli_print_error("--where", where, &err);
            goto out_batch;
        }
        int prc = rn_projection_apply(proj, passed, &out, &err);
        rn_batch_unref(passed);
        if (prc) {
            rn_cli_print_error("--select", NULL, &err);
            goto out_batch;
        }
        eval_s += now_s() - t1;
        gen_s += t1 - t0;
        for (uint32_t i = 0; i < out->n_rows && shown < show; i++, shown++)
            printf("%s\n", rn_batch_format_row(out, i, line, sizeof line));
        kept += out->n_rows;
        done += n;
        rn_batch_unref(out);
        rn_batch_unref(in);
        in = NULL;
    }
    if (kept > shown) printf("... %llu more rows\n", kept - shown);
    printf("rows in %llu, rows out %llu; filter+select %.1f M rows/s (generating the input: %.1f M rows/s)\n",
           done, kept, eval_s > 0 ? (double)done / eval_s / 1e6 : 0.0, gen_s > 0 ? (double)done / gen_s / 1e6 : 0.0);
    rc = 0;
out_batch:
    rn_batch_unref(in);
out_exprs:
    rn_projection_destroy(proj);
    rn_expr_destroy(filter);
out:
    for (uint32_t i = 0; i < n_sel; i++) {
        free(names[i]);
        free(exprs[i]);
    }
    return rc;
}
