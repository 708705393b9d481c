/* Fuzzes what clients send the directory besides filters: identifiers
 * (adb_ident_parse) and paging cursors (adb_cursor_decode).  The first byte
 * picks the mode.  Invariants: an accepted identifier is NUL-terminated
 * text of its kind (a SID round-trips through text; names hold none of the
 * characters AD refuses); an accepted cursor re-encodes to exactly the input. */
#include "config.h"

#include <adbridge/cursor.h>
#include <adbridge/ident.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do { if (!(cond)) abort(); } while (0)

static void ident(const char *text, size_t len, const char *domain)
{
    adb_ident id;
    adb_error err = { 0 };
    char sid[ADB_SID_STRING_MAX];

    if (adb_ident_parse(text, len, domain, &id, &err) != ADB_OK) {
        CHECK(err.code == ADB_E_INVALID_REQUEST && err.message[0] != '\0');
        return;
    }
    CHECK(strlen(id.name) < sizeof id.name && strlen(id.domain) < sizeof id.domain);
    switch (id.kind) {
    case ADB_IDENT_SID:
        CHECK(adb_sid_format(&id.sid, sid, sizeof sid, NULL) == ADB_OK);
        CHECK(strlen(sid) == len && strncasecmp(sid, text, len) == 0);
        break;
    case ADB_IDENT_NT4:
        CHECK(id.domain[0] != '\0' && id.name[0] != '\0' && strpbrk(id.name, "\\*") == NULL);
        break;
    case ADB_IDENT_NAME:
        CHECK(strlen(id.name) == len && strpbrk(id.name, "\\*@") == NULL);
        break;
    case ADB_IDENT_UPN:
        CHECK(strlen(id.name) == len && strchr(id.name, '@') != NULL);
        break;
    case ADB_IDENT_DN:
        CHECK(strlen(id.name) == len && id.domain[0] != '\0');
        break;
    case ADB_IDENT_GUID:
        break;
    }
}

static void cursor(const char *text)
{
    adb_cursor c;
    char again[ADB_CURSOR_TEXT_MAX];

    if (adb_cursor_decode(text, ADB_CURSOR_SEARCH, 1, &c, NULL) != ADB_OK)
        return;
    CHECK(adb_cursor_encode(&c, again, sizeof again, NULL) == ADB_OK);
    CHECK(strcmp(again, text) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text;

    if (size == 0)
        return 0;
    if ((text = malloc(size)) == NULL)
        return 0;
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    switch (data[0] % 3) {
    case 0: ident(text, size - 1, NULL); break;
    case 1: ident(text, size - 1, "ADB"); break;
    case 2: cursor(text); break;
    }
    free(text);
    return 0;
}
