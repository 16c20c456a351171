/*
 * schema_pb.c — converts schemas to and from their protobuf form (runtime/proto/types.proto),
 * the form in which job graphs carry them to job managers and checkpoints store them.
 */
#include <stdlib.h>

#include "runnel/schema_pb.h"
#include "types.pb-c.h"

int rn_schema_pack(const rn_schema *s, uint8_t **out, size_t *len)
{
    size_t n = rn_schema_len(s);
    Runnel__Field *fields = calloc(n ? n : 1, sizeof *fields);
    Runnel__Field **ptrs = calloc(n ? n : 1, sizeof *ptrs);
    int rc = RN_ENOMEM;
    if (!fields || !ptrs) goto out;
    for (size_t i = 0; i < n; i++) {
        const struct rn_field *f = rn_schema_field(s, i);
        runnel__field__init(&fields[i]);
        fields[i].name = (char *)f->name;
        fields[i].type = (Runnel__TypeId)f->type.id;
        fields[i].dim = f->type.dim;
        fields[i].nullable = f->nullable;
        ptrs[i] = &fields[i];
    }
    Runnel__Schema msg;
    runnel__schema__init(&msg);
    msg.n_fields = n;
    msg.fields = ptrs;
    *len = runnel__schema__get_packed_size(&msg);
    *out = malloc(*len ? *len : 1);
    if (!*out) goto out;
    runnel__schema__pack(&msg, *out);
    rc = 0;
out:
    free(fields);
    free(ptrs);
    return rc;
}

rn_schema *rn_schema_unpack(const uint8_t *data, size_t len, struct rn_error *err)
{
    Runnel__Schema *msg = runnel__schema__unpack(NULL, len, data);
    if (!msg) {
        rn_error_set(err, RN_ECORRUPT, 0, 0, "schema message does not decode");
        return NULL;
    }
    rn_schema *s = rn_schema_create();
    for (size_t i = 0; s && i < msg->n_fields; i++) {
        const Runnel__Field *f = msg->fields[i];
        struct rn_type t = {(enum rn_type_id)f->type, f->dim};
        if (rn_schema_add(s, f->name, t, f->nullable)) {
            rn_error_set(err, RN_ECORRUPT, 0, 0, "schema field %zu ('%s') is invalid or repeated", i, f->name);
            rn_schema_unref(s);
            s = NULL;
        }
    }
    runnel__schema__free_unpacked(msg, NULL);
    return s;
}
