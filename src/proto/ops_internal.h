/* What the operations' runners share with the dispatcher (proto's own):
 * the service they run in and what a run hands back. */
#ifndef ADBRIDGE_PROTO_OPS_INTERNAL_H
#define ADBRIDGE_PROTO_OPS_INTERNAL_H

#include <adbridge/backend.h>
#include <adbridge/config.h>
#include <adbridge/dispatch.h>
#include <adbridge/keystore.h>
#include <adbridge/log.h>
#include <adbridge/ops.h>
#include <adbridge/proto.h>

#include <jansson.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

struct adb_service {
    adb_backend backend;
    adb_keystore *ks;                   /* NULL: health lists no keys */
    const adb_config *cfg;
    const adb_logger *log;
    adb_link_state_fn link_state;
    void *link_arg;
    time_t started;
    int64_t started_mono_s;
    atomic_ulong total;
    atomic_ulong by_op[ADB_OP_COUNT_];
    atomic_ulong by_code[ADB_CODE_COUNT_];
};

/* What a run hands back besides its code. */
struct adb_op_outcome {
    json_t *result;
    json_t *candidates;                 /* ambiguous */
    char path[ADB_PROTO_PATH_MAX];      /* the param at fault */
};

/* A JSON string of s, or null for "" (a last page's cursor). */
json_t *op_cursor_json(const char *cursor);

#endif
