/* The wire contract (schemas/request.schema.json, reply.schema.json): a
 * strict decoder of request messages and the encoder of replies.
 *
 * The decoder accepts exactly what the request schema accepts, plus the
 * rules of JSON text that a schema cannot state (schemas/README.md): at most
 * max_bytes, UTF-8, no duplicate keys, no NUL.  Anything else — wrong type,
 * missing or unknown field at any level, unknown op, other version, a value
 * out of its range — is invalid_request with the JSON path of the offending
 * field in adb_request.error_path ("$.params.limit") and in the message.
 * Messages never quote a password (jansson's "near '...'" is cut).
 *
 * The decoded request points into a jansson tree it holds: free it with
 * adb_request_clear, which also wipes a plaintext password in that tree.
 * Each operation's params are decoded by its entry in the table of
 * operations (ops.h). */
#ifndef ADBRIDGE_PROTO_H
#define ADBRIDGE_PROTO_H

#include <adbridge/error.h>
#include <adbridge/keystore.h>
#include <adbridge/ops.h>

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
    ADB_PROTO_VERSION = 1,              /* the protocol version ("v") this bridge speaks */
    ADB_PROTO_LEVEL = 2,                /* additions within version 1 (schemas/README.md) */
    ADB_PROTO_MAX_MESSAGE_DEFAULT = 65536,
    ADB_PROTO_ID_MAX = 128,             /* characters of a request id */
    ADB_PROTO_PATH_MAX = 300,           /* bytes of an error path, with the NUL */
    ADB_PROTO_DOMAINS_MAX = 64,         /* entries of domains.configure */
    ADB_PROTO_SEALED_MAX = 64,          /* sealed copies in one auth.password */
    ADB_PROTO_IDENT_MAX = 512,          /* code points of an identifier (<= ADB_IDENT_MAX bytes) */
    ADB_PROTO_PREFIX_MAX = 64,          /* code points of a search prefix (<= ADB_SEARCH_PREFIX_MAX bytes) */
    ADB_PROTO_PASSWORD_MAX = 256,       /* code points of a plaintext password (<= ADB_PWCHECK_PASSWORD_MAX bytes) */
    ADB_PROTO_SEALED_B64_MAX = 4096,    /* characters of one sealed copy */
};

typedef struct adb_domain_flag {
    const char *domain;
    bool enabled;
} adb_domain_flag;

/* A decoded request.  Fields not used by the op are zero. */
typedef struct adb_request {
    json_t *root_;                      /* private: owns the strings */
    char id[ADB_PROTO_ID_MAX + 1];      /* "" when it could not be read */
    adb_op op;                          /* ADB_OP_NONE when it could not be read */
    int64_t deadline_ms;                /* Unix time in ms; 0: none */
    /* user.get, group.get: id; user.groups: user; group.members: group;
     * auth.password: user; cache.invalidate: id (NULL: everything) */
    const char *ident;
    const char *domain;                 /* qualifies a bare name; NULL: none */
    bool refresh;                       /* topology.get */
    adb_domain_flag domains[ADB_PROTO_DOMAINS_MAX];   /* domains.configure */
    size_t n_domains;
    const char *prefix;                 /* search */
    unsigned kinds;                     /* search: ADB_KINDS_USER | ADB_KINDS_GROUP; 0: both */
    size_t limit;                       /* search, group.members; 0: default */
    const char *cursor;                 /* search, group.members; NULL: first page */
    bool transitive;                    /* group.members */
    unsigned fields;                    /* group.members: ADB_FIELD_* bits of the members shown; 0: all */
    adb_sealed_copy sealed[ADB_PROTO_SEALED_MAX];     /* auth.password */
    size_t n_sealed;
    const char *password;               /* auth.password plaintext; NULL: none */
    size_t password_len;
    bool include_groups;                /* auth.password */
    json_t *params;                     /* $.params as validated, for an op whose params are not above */
    bool local;                         /* set by adb_dispatch_local, never decoded: the host's admin asks */
    char error_path[ADB_PROTO_PATH_MAX]; /* on invalid_request: "$.params.x" */
} adb_request;

/* Decodes one message body.  max_bytes: the size limit (0: the default).
 * On error (always invalid_request, or out_of_memory) out->id and out->op
 * hold what could be read before the offending field, for the reply; call
 * adb_request_clear in every case. */
adb_code adb_request_decode(const void *body, size_t len, size_t max_bytes, adb_request *out, adb_error *err);

/* The same for a request already parsed (the CLI builds one): root is
 * held (a reference) until adb_request_clear, which wipes a plaintext
 * password in it. */
adb_code adb_request_decode_json(json_t *root, adb_request *out, adb_error *err);

/* Wipes a plaintext password in the tree and lets it go. */
void adb_request_clear(adb_request *r);

/* Reply bodies (compact JSON text, malloc'd; *len its length).  id "" or
 * NULL: null; op ADB_OP_NONE: no "op".  result and candidates are stolen
 * (may be NULL).  message is made valid UTF-8 and cut at 1024 code points;
 * path NULL or "": none.  NULL only when memory runs out. */
char *adb_reply_result(const char *id, adb_op op, json_t *result, size_t *len);
char *adb_reply_error(const char *id, adb_op op, adb_code code, const char *message, const char *path,
                      json_t *candidates, size_t *len);
/* The same replies as objects; NULL only when memory runs out. */
json_t *adb_reply_result_json(const char *id, adb_op op, json_t *result);
json_t *adb_reply_error_json(const char *id, adb_op op, adb_code code, const char *message, const char *path,
                             json_t *candidates);

/* "2024-05-01T12:00:00Z" for Unix time t (UTC); null for 0. */
json_t *adb_proto_time(int64_t t);

#endif
