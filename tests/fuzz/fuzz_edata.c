/* Fuzzes the NTSTATUS decoder for KRB-ERROR e-data (bytes from a KDC, which
 * may be spoofed): it must never read outside the input, and whatever it
 * reports must be an error status that the reason mapping accepts. */
#include "config.h"

#include <adbridge/pwcheck.h>

#include <krb5/krb5.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do { if (!(cond)) abort(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* An exact-size copy, so AddressSanitizer catches a read past the end. */
    uint8_t *copy = malloc(size > 0 ? size : 1);
    uint32_t st = 1;
    bool needs;

    CHECK(copy != NULL);
    memcpy(copy, data, size);
    if (adb_pwcheck_edata_ntstatus(copy, size, &st)) {
        CHECK((st & 0xC0000000u) == 0xC0000000u);
        CHECK(adb_pwcheck_reason(KRB5KDC_ERR_CLIENT_REVOKED, st, &needs) != ADB_AUTH_NONE);
    } else {
        CHECK(st == 0);
    }
    free(copy);
    return 0;
}
