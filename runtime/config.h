/*
 * config.h — the configuration of runnel's processes (`runnel jobmanager`, `runnel
 * taskmanager`, `runnel minicluster`): a table of known keys, and one value per key taken from
 * four sources, in increasing precedence:
 *
 *   1. the key's default (the table);
 *   2. the YAML file given with `--config conf.yaml`; keys written flat (`rest.port: 8081`),
 *      nested (`rest: {port: 8081}`) or mixed (`jobmanager: {rpc.port: 6123}`) mean the same;
 *   3. environment variables RUNNEL_<KEY>: the key upper-cased with dots and dashes turned into
 *      underscores (`rest.port` -> RUNNEL_REST_PORT, `rest.max-body` -> RUNNEL_REST_MAX_BODY);
 *      what Kubernetes manifests set;
 *   4. command-line flags: `--rest-port 8081` / `--rest-port=8081` (the key with dots turned
 *      into dashes), and the generic `-D key=value`, `-Dkey=value`, `--set key=value`.
 *
 * The precedence holds whatever order the sources are read in: each value remembers its
 * source, and a source never replaces a value from a higher one. Every value is checked
 * against its key's type even when a higher source overrides it, so a broken file is reported
 * and not silently masked.
 *
 * Errors name where the bad input is: `conf.yaml:3:7: rest.port: expected ...` (the position
 * libyaml gave), `RUNNEL_REST_PORT=abc: ...`, `--rest-port abc: ...`; unknown keys in the file
 * and in flags are errors, with a "did you mean" for near misses. Unknown RUNNEL_* variables are
 * ignored (other tools may use the prefix), except that a near miss of a known variable
 * (RUNNEL_REST_PROT) becomes a warning (rn_config_warning) that the process should log. An
 * environment variable set to the empty string counts as not set.
 *
 * Types and their text forms (parsing is the same in every source):
 *   string    any text up to 4096 bytes (the file's null or empty value is the empty string)
 *   int       decimal, optional sign, `_` separators (1_000); range-checked when the key has one
 *   bool      true/false, yes/no, on/off, 1/0 (any case)
 *   duration  an integer and a unit: ms, s, m (or min), h, d ("500ms", "10s", "2m"); a bare
 *             integer is milliseconds, as in job files
 *   size      an integer and a unit: b, k/kb/kib, m/mb/mib, g/gb/gib, t/tb/tib, any case,
 *             powers of 1024 ("64mb" = 67108864 bytes); a bare integer is bytes
 *   host:port `host:port` or `[ipv6]:port`; host not empty, port in the key's range (0..65535
 *             unless the key says otherwise)
 *   enum      one of the key's choices (any case), e.g. log.format text|json
 *
 * Ownership: rn_config owns every string its getters return; they stay valid until the key is
 * set again or the config is destroyed. A config is not thread-safe while it is being loaded;
 * once loaded, concurrent reads are fine.
 */
#ifndef RN_RUNTIME_CONFIG_H
#define RN_RUNTIME_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "runnel/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rn_config rn_config;

enum rn_config_type {
    RN_CONFIG_STRING,
    RN_CONFIG_INT,
    RN_CONFIG_BOOL,
    RN_CONFIG_DURATION,
    RN_CONFIG_SIZE,
    RN_CONFIG_HOSTPORT,
    RN_CONFIG_ENUM,
};

/* Where a value came from, lowest precedence first. */
enum rn_config_source { RN_CONFIG_DEFAULT, RN_CONFIG_FILE, RN_CONFIG_ENV, RN_CONFIG_FLAG };

/* One known key. Names are dotted lowercase words of [a-z0-9-] ("taskmanager.data.port"). */
struct rn_config_key {
    const char *name;
    enum rn_config_type type;
    const char *def;           /* the default, written as in a file; "" = empty */
    const char *help;          /* one sentence for --help, --print-config and the docs */
    int64_t min, max;          /* int: the value; duration: ms; size: bytes; host:port: the
                                * port. Inclusive; they apply when max > min. */
    const char *choices;       /* enum: "text|json" (lowercase, '|' between) */
    const char *default_from;  /* when the key is set nowhere, its value is this other key's
                                * (taskmanager.data.host follows taskmanager.data.bind) */
    bool secret;               /* rn_config_describe hides the value (rest.token) */
};

/* The built-in keys of runnel's processes, sorted by name (docs/operations.md lists them). */
extern const struct rn_config_key rn_config_keys[];
extern const size_t rn_config_n_keys;

/* ---- life cycle ---- */

/* A config over the built-in keys with every default in place; NULL when out of memory. The
 * caller destroys it. */
rn_config *rn_config_create(void);
/* The same over another table (tests, tools); the table must outlive the config. */
rn_config *rn_config_create_with(const struct rn_config_key *keys, size_t n_keys);
void rn_config_destroy(rn_config *c);

/* ---- sources ---- */

/* Reads a YAML file (up to 1 MiB). An empty file, or one with only comments, sets nothing. The
 * top level must be a map. RN_EIO when it cannot be read, RN_EINVAL for bad content. */
int rn_config_load_file(rn_config *c, const char *path, struct rn_error *err);
/* The same from memory; name is what errors call the file. */
int rn_config_load_text(rn_config *c, const char *text, size_t len, const char *name, struct rn_error *err);
/* Reads RUNNEL_* variables from envp (a NULL-terminated "NAME=value" array; NULL = environ). */
int rn_config_load_env(rn_config *c, char *const *envp, struct rn_error *err);
/* Sets key to value (text, parsed by the key's type) as coming from source; origin is what
 * rn_config_origin and errors say about it (NULL: the source's name). RN_ENOTFOUND for an
 * unknown key, RN_EINVAL for a bad value; a value of a lower source than the current one is
 * checked and then dropped. */
int rn_config_set(rn_config *c, enum rn_config_source source, const char *key, const char *value,
                  const char *origin, struct rn_error *err);

/* Looks at argv[*i]: when it is a configuration flag (--config FILE, --print-config, -D k=v,
 * --set k=v, --<key-with-dashes> VALUE, each also as --flag=value) it is applied (flags take
 * source RN_CONFIG_FLAG; --config only remembers the file), *i moves past it and its value, and
 * the result is 1. 0 when argv[*i] is not one of these (the caller's own flag, or an unknown
 * one the caller reports); < 0 with err for a flag of ours with a missing or bad value, or -D /
 * --set naming an unknown key. */
int rn_config_arg(rn_config *c, int argc, char **argv, int *i, struct rn_error *err);
/* For the caller's "unknown option" message: the configuration flag (without "--") that arg
 * ("--rest-prot", "--rest-prot=1") looks like a typo of, or NULL. */
const char *rn_config_flag_suggestion(const rn_config *c, const char *arg);
/* The whole start-up: takes every configuration flag out of argv (argv[0] is kept; *argc and
 * argv are compacted to what is left, for the caller's own parsing; nothing after "--" is
 * looked at), then reads the --config file if one was named, then the environment (environ),
 * then runs rn_config_check. 0, or < 0 with err naming the flag, file:line or variable. */
int rn_config_load_args(rn_config *c, int *argc, char **argv, struct rn_error *err);
/* Checks between keys (heartbeat.timeout longer than heartbeat.interval); err names both
 * values and their sources. */
int rn_config_check(const rn_config *c, struct rn_error *err);

/* The file named by --config (NULL when none), and whether --print-config was given. */
const char *rn_config_file(const rn_config *c);
bool rn_config_print_requested(const rn_config *c);

/* ---- reading values (a key that is unknown or of another type gives 0 / "" / NULL) ---- */

/* Any key's value as text, canonical for its type ("" when empty); NULL for an unknown key. */
const char *rn_config_str(const rn_config *c, const char *key);
int64_t rn_config_int(const rn_config *c, const char *key);
bool rn_config_bool(const rn_config *c, const char *key);
int64_t rn_config_duration_ms(const rn_config *c, const char *key);
uint64_t rn_config_size(const rn_config *c, const char *key);
/* host:port keys: the host (without IPv6 brackets) and the port. */
const char *rn_config_host(const rn_config *c, const char *key);
int rn_config_port(const rn_config *c, const char *key);
/* enum keys: the index of the value among the choices (0-based); -1 for another key. */
int rn_config_enum(const rn_config *c, const char *key);
/* Where the value came from: the source, and as text: "default", "conf.yaml:3",
 * "env RUNNEL_REST_PORT", "flag --rest-port", "flag -D rest.port". NULL for an unknown key. */
enum rn_config_source rn_config_source_of(const rn_config *c, const char *key);
const char *rn_config_origin(const rn_config *c, const char *key);

/* Warnings collected while loading (unknown RUNNEL_* variables that look like a known one):
 * the i-th, NULL past the last. The process logs them. */
const char *rn_config_warning(const rn_config *c, size_t i);

/* Prints every key with its value and where it came from, one per line, as YAML with the
 * source in a comment (`rest.port: 9000  # env RUNNEL_REST_PORT`); secret values print as
 * "***" when set. What `--print-config` shows. */
void rn_config_describe(const rn_config *c, FILE *out);
/* Prints the key table: name, type, default, environment variable, flag and help. */
void rn_config_help(const rn_config *c, FILE *out);

/* The environment variable of a key into buf (RUNNEL_REST_PORT); RN_ERANGE when it does not
 * fit. */
int rn_config_env_name(const char *key, char *buf, size_t size);

/* Parsers of the text forms above (what every source uses), for code that reads the same kinds
 * of values elsewhere: 0, or RN_EINVAL / RN_ERANGE with a message saying what was expected. */
int rn_config_parse_duration(const char *text, int64_t *ms, struct rn_error *err);
int rn_config_parse_size(const char *text, uint64_t *bytes, struct rn_error *err);

#ifdef __cplusplus
}
#endif
#endif
