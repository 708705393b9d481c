/* Fuzzes the request decoder (adb_request_decode) and the reply encoder.
 * Invariants: a refused request is invalid_request with a path starting
 * with "$" and a message; an accepted one has an id and a known op; the
 * error reply for any input is JSON text that names no more than it should
 * (it parses, has v, id and error.code). */
#include "config.h"

#include <adbridge/proto.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do { if (!(cond)) abort(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    adb_request r;
    adb_error err = { 0 };
    adb_code rc = adb_request_decode(data, size, 4096, &r, &err);
    char *reply;
    size_t len;
    json_t *j;

    if (rc == ADB_OK) {
        CHECK(r.id[0] != '\0' && adb_op_name(r.op) != NULL);
        reply = adb_reply_result(r.id, r.op, json_object(), &len);
    } else {
        CHECK(rc == ADB_E_INVALID_REQUEST && r.error_path[0] == '$' && err.message[0] != '\0');
        reply = adb_reply_error(r.id, r.op, rc, err.message, r.error_path, NULL, &len);
    }
    CHECK(reply != NULL && strlen(reply) == len);
    j = json_loads(reply, JSON_REJECT_DUPLICATES, NULL);
    CHECK(j != NULL && json_integer_value(json_object_get(j, "v")) == ADB_PROTO_VERSION);
    CHECK(json_object_get(j, rc == ADB_OK ? "result" : "error") != NULL);
    json_decref(j);
    free(reply);
    adb_request_clear(&r);
    return 0;
}
