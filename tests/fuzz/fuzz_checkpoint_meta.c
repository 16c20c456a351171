/*
 * fuzz_checkpoint_meta.c — libFuzzer target for the reader of a checkpoint's _metadata
 * (engine/checkpoint.c through rn_checkpoint_read_info): what `runnel run --restore` and
 * `runnel checkpoints` read from disk, possibly truncated or corrupt.
 *
 * Any input must be rejected with an error (RN_ECORRUPT / RN_ENOTFOUND naming the directory)
 * or accepted; never a crash, a leak or a read outside the input. The frame carries a CRC32C
 * that random mutations almost never match, so each input is tried twice: as the whole file,
 * and as the protobuf body in a correct frame ("RNCK", version 1, length, CRC32C), which lets
 * the fuzzer reach the message decoding and the checks of the paths it names (which must
 * never leave the checkpoint's directory). Seeds: tests/fuzz/corpus/checkpoint_meta/.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runnel/checkpoint.h"
#include "runnel/hash.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[256], file[300];

static void try_file(const uint8_t *data, size_t size)
{
    FILE *f = fopen(file, "wb");
    if (!f) abort();
    if (size && fwrite(data, 1, size, f) != size) abort();
    fclose(f);
    struct rn_checkpoint_info info;
    struct rn_error err;
    int rc = rn_checkpoint_read_info(dir, &info, &err);
    if (rc && !err.msg[0]) abort();   /* every refusal says why */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/fuzz-checkpoint-%d/chk-1", (int)getpid());
        char parent[256];
        snprintf(parent, sizeof parent, "/tmp/fuzz-checkpoint-%d", (int)getpid());
        mkdir(parent, 0777);
        mkdir(dir, 0777);
        snprintf(file, sizeof file, "%s/_metadata", dir);
    }
    try_file(data, size);
    if (size > (1u << 20)) return 0;
    uint8_t *framed = malloc(size + 16);
    if (!framed) return 0;
    uint32_t hdr[3] = {0x4b434e52u, 1u, (uint32_t)size};
    memcpy(framed, hdr, 12);
    if (size) memcpy(framed + 12, data, size);
    uint32_t crc = rn_crc32c(0, framed, size + 12);
    memcpy(framed + 12 + size, &crc, 4);
    try_file(framed, size + 16);
    free(framed);
    return 0;
}
