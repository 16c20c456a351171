/*
 * registry.c — the operator registry every command starts from: the built-in operators plus the
 * plugins of one directory: --plugin-dir, else $RUNNEL_PLUGIN_DIR, else lib/runnel/plugins or
 * plugins/ next to the runnel binary. Plugins come only from that directory, never from a job
 * file or a request.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "builtin.h"
#include "cli.h"

static bool is_dir(const char *p)
{
    struct stat st;
    return p && stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

rn_registry *rn_cli_registry(const char *plugin_dir)
{
    struct rn_error err;
    rn_registry *r = rn_registry_create();
    if (!r || rn_builtin_register(r, &err)) {
        fprintf(stderr, "runnel: cannot register the built-in operators: %s\n", r ? err.msg : "out of memory");
        rn_registry_destroy(r);
        return NULL;
    }
    char buf[PATH_MAX];
    const char *dir = plugin_dir ? plugin_dir : getenv("RUNNEL_PLUGIN_DIR");
    if (!dir) {
        ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 32);
        if (n > 0) {
            buf[n] = 0;
            char *slash = strrchr(buf, '/');
            if (slash) {
                strcpy(slash, "/../lib/runnel/plugins");
                if (is_dir(buf)) dir = buf;
                else {
                    strcpy(slash, "/plugins");
                    if (is_dir(buf)) dir = buf;
                }
            }
        }
    }
    if (!dir) return r;
    if (!is_dir(dir)) {
        if (plugin_dir) {
            fprintf(stderr, "runnel: plugin directory '%s' does not exist\n", dir);
            rn_registry_destroy(r);
            return NULL;
        }
        return r;
    }
    unsigned refused;
    if (rn_registry_load_dir(r, dir, stderr, &refused)) fprintf(stderr, "runnel: cannot read plugin directory '%s'\n", dir);
    return r;
}

/* Finds --plugin-dir DIR / --plugin-dir=DIR anywhere in argv and removes it. */
const char *rn_cli_take_plugin_dir(int *argc, char **argv)
{
    const char *dir = NULL;
    int out = 0;
    for (int i = 0; i < *argc; i++) {
        if (!strcmp(argv[i], "--plugin-dir") && i + 1 < *argc) {
            dir = argv[++i];
        } else if (!strncmp(argv[i], "--plugin-dir=", 13)) {
            dir = argv[i] + 13;
        } else {
            argv[out++] = argv[i];
        }
    }
    *argc = out;
    argv[out] = NULL;
    return dir;
}
