/* Fuzzes the reading of the KDC's etype info from krb5's trace text (the
 * salt comes from the KDC, which may be spoofed where FAST is not used):
 * it must never read outside the text, and a salt it gives must be plain
 * printable text found in the input, so that the key derived under it is
 * the one krb5 would derive. */
#include "config.h"

#include "../../src/ad/pwcheck_internal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do { if (!(cond)) abort(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* An exact-size copy, NUL-terminated as krb5's trace text is. */
    char *text = malloc(size + 1), salt[300], small[8];
    krb5_enctype etype;

    CHECK(text != NULL);
    memcpy(text, data, size);
    text[size] = '\0';
    if (pwcheck_etype_info_parse(text, &etype, salt, sizeof salt)) {
        CHECK(strlen(salt) < sizeof salt);
        for (const char *p = salt; *p != '\0'; p++)
            CHECK(*p >= 0x20 && *p <= 0x7e && *p != '\\');
        CHECK(strstr(text, salt) != NULL);
    }
    if (pwcheck_etype_info_parse(text, &etype, small, sizeof small))
        CHECK(strlen(small) < sizeof small);
    free(text);
    return 0;
}
