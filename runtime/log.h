/*
 * log.h — structured logging of runnel's processes: one line per event, written to one FILE*
 * (stderr by default) with a single locked write, so that lines from many threads never mix.
 *
 * Each line carries a UTC timestamp with milliseconds, the level, the process ("jobmanager",
 * "taskmanager tm-1"), the optional job, task and peer of the event, and the message:
 *
 *   text: 2026-11-22T20:50:01.123Z INFO jobmanager job=3fa8 task=agg/1 checkpoint 7 completed
 *   json: {"time":"2026-11-22T20:50:01.123Z","level":"info","process":"jobmanager",
 *          "job":"3fa8","task":"agg/1","msg":"checkpoint 7 completed"}      (on one line)
 *
 * Text fields are logfmt-like: a value with a space, '=', '"', a control byte or nothing in it
 * is double-quoted with \" \\ \n \r \t \xNN escapes; the message is the rest of the line, with
 * control bytes escaped the same way (a message never spans lines) and trailing newlines
 * dropped. JSON strings are escaped per RFC 8259; bytes that are not valid UTF-8 become U+FFFD
 * in JSON and \xNN in text. Fields that are NULL or empty are left out. A message longer than
 * RN_LOG_MAX_MSG bytes is cut there and ends with "...".
 *
 * Assumes glibc (fopencookie for rn_log_stream). Logging before rn_log_init writes with the
 * defaults (process "runnel", info, text, stderr). Not for per-record hot paths: a line is
 * formatted on the caller's stack (the heap only for long lines) and written under a mutex.
 */
#ifndef RN_RUNTIME_LOG_H
#define RN_RUNTIME_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "runnel/error.h"

#ifdef __cplusplus
extern "C" {
#endif

enum rn_log_level { RN_LOG_DEBUG, RN_LOG_INFO, RN_LOG_WARN, RN_LOG_ERROR };
enum rn_log_format { RN_LOG_TEXT, RN_LOG_JSON };

#define RN_LOG_MAX_MSG 16384

/* What an event is about; any field may be NULL (or the whole context). The strings are read
 * during the call only. */
struct rn_log_ctx {
    const char *job;    /* job id */
    const char *task;   /* operator chain and subtask, "window/2" */
    const char *peer;   /* the other end of a connection, "127.0.0.1:41234" or "tm-2" */
};

/* Sets up the process-wide logger: process name (copied; NULL = "runnel"), the least severe
 * level written, the format, and where lines go (NULL = stderr; the caller keeps owning it and
 * must not pass a stream from rn_log_stream). May be called again to change any of them. */
void rn_log_init(const char *process, enum rn_log_level level, enum rn_log_format format, FILE *out);
/* The same with level and format from a config's log.level and log.format (runtime/config.h). */
struct rn_config;
void rn_log_init_config(const char *process, const struct rn_config *c, FILE *out);
/* Changes one setting (thread-safe). */
void rn_log_set_process(const char *process);
void rn_log_set_level(enum rn_log_level level);
/* Whether a line of this level would be written (cheap: check before costly arguments). */
bool rn_log_enabled(enum rn_log_level level);

/* Writes one line (printf-style), when level passes the filter. */
void rn_log(enum rn_log_level level, const struct rn_log_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void rn_vlog(enum rn_log_level level, const struct rn_log_ctx *ctx, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

/* A FILE* whose every line becomes one log line of this level with ctx's fields (copied), for
 * code that logs to a plain stream (the runner's `log` option: operator logs and checkpoint
 * lines). Line-buffered: a line goes out when its '\n' is written, whatever the pieces it was
 * written in; a last line without '\n' goes out at fclose; empty lines are dropped; a line
 * longer than RN_LOG_MAX_MSG is split. The caller closes it with fclose. Writers on several
 * threads may share it: stdio locks the stream for each call (as for any FILE), so lines
 * written with one call each never mix. NULL with errno when out of memory. */
FILE *rn_log_stream(enum rn_log_level level, const struct rn_log_ctx *ctx);

/* Level and format names: "debug".."error", "text"/"json" (parse: any case). 0 or RN_EINVAL. */
const char *rn_log_level_name(enum rn_log_level level);
int rn_log_level_parse(const char *name, enum rn_log_level *out);
int rn_log_format_parse(const char *name, enum rn_log_format *out);

/* Tests: the clock that stamps lines, in milliseconds since the epoch (NULL = the real one). */
void rn_log_set_clock(int64_t (*now_ms)(void));

#ifdef __cplusplus
}
#endif
#endif
