/*
 * fuzz_opstate.c — libFuzzer target for rn_opstate_restore, the reader of operator-state files
 * in checkpoints (state/opstate.c): lists of a source's positions or a sink's pending files,
 * redistributed over subtasks on restore.
 *
 * Any input must be refused (RN_ECORRUPT naming the file) or, once accepted, restore for every
 * subtask of a few parallelisms; never a crash, a leak or a read outside the input. The file
 * ends with a CRC32C that mutations rarely match, so each input is tried as is and with its CRC
 * recomputed. Seeds: tests/fuzz/corpus/opstate/.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runnel/hash.h"
#include "runnel/state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[256];

static void try_file(const uint8_t *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (size && fwrite(data, 1, size, f) != size) abort();
    fclose(f);
    const char *paths[1] = {path};
    rn_opstate *one;
    struct rn_error err;
    if (rn_opstate_restore(paths, 1, 0, 1, &one, &err)) {
        if (!err.msg[0]) abort();
        return;
    }
    rn_opstate_destroy(one);
    for (uint32_t p = 2; p <= 3; p++)
        for (uint32_t i = 0; i < p; i++) {
            rn_opstate *s;
            if (rn_opstate_restore(paths, 1, i, p, &s, &err)) abort();   /* accepted once, accepted always */
            rn_opstate_destroy(s);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!path[0]) snprintf(path, sizeof path, "/tmp/fuzz-opstate-%d", (int)getpid());
    try_file(data, size);
    if (size < 4 || size > (1u << 20)) return 0;
    uint8_t *fixed = malloc(size);
    if (!fixed) return 0;
    memcpy(fixed, data, size);
    uint32_t crc = rn_crc32c(0, fixed, size - 4);
    memcpy(fixed + size - 4, &crc, 4);
    try_file(fixed, size);
    free(fixed);
    return 0;
}
