/* Feeds request files to the bridge's decoder (adb_request_decode) and
 * prints one line per file: "FILE<TAB>valid" or
 * "FILE<TAB>invalid<TAB>PATH<TAB>MESSAGE".  Used by conformance.test, which
 * compares these verdicts with python3-jsonschema's.  Exit 0 unless a file
 * cannot be read.  `check_request --ops` prints the names of the table of
 * operations (ops.h), one a line, in its order. */
#include "config.h"

#include <adbridge/proto.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t cap = 0, n = 0, got;

    if (f == NULL)
        return NULL;
    do {
        if (n == cap) {
            char *grown = realloc(buf, cap = cap ? cap * 2 : 4096);
            if (grown == NULL) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = grown;
        }
        got = fread(buf + n, 1, cap - n, f);
        n += got;
    } while (got > 0);
    fclose(f);
    *len = n;
    return buf;
}

int main(int argc, char **argv)
{
    size_t max = 0;
    int first = 1;

    if (argc == 2 && strcmp(argv[1], "--ops") == 0) {
        for (int i = 0; i < ADB_OP_COUNT_; i++)
            printf("%s\n", adb_op_name((adb_op)i));
        return 0;
    }
    if (argc > 2 && argv[1][0] == '-' && argv[1][1] == 'm') {   /* -m MAX_BYTES */
        max = strtoul(argv[2], NULL, 10);
        first = 3;
    }
    for (int i = first; i < argc; i++) {
        size_t len = 0;
        char *body = slurp(argv[i], &len);
        adb_request r;
        adb_error err = { 0 };

        if (body == NULL) {
            fprintf(stderr, "check_request: cannot read %s\n", argv[i]);
            return 2;
        }
        if (adb_request_decode(body, len, max, &r, &err) == ADB_OK)
            printf("%s\tvalid\n", argv[i]);
        else
            printf("%s\tinvalid\t%s\t%s\n", argv[i], r.error_path, err.message);
        adb_request_clear(&r);
        free(body);
    }
    return 0;
}
