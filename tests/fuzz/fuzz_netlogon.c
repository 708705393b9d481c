/* Fuzzes the NETLOGON_SAM_LOGON_RESPONSE_EX decoder.  The first byte picks
 * which optional fields the "request" asked for; the rest is the blob.  A
 * decoded reply must have NUL-terminated names within their buffers. */
#include "config.h"

#include <adbridge/netlogon.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    adb_netlogon nl;
    char flags[512];

    if (size < 1)
        return 0;
    uint32_t ntver = ADB_NT_VERSION_5 | ADB_NT_VERSION_5EX | (data[0] & 1 ? ADB_NT_VERSION_WITH_CLOSEST_SITE : 0)
                     | (data[0] & 2 ? ADB_NT_VERSION_5EX_WITH_IP : 0);
    uint8_t *blob = malloc(size - 1 ? size - 1 : 1);    /* exact size: ASan sees overreads */
    memcpy(blob, data + 1, size - 1);
    if (adb_netlogon_decode(blob, size - 1, ntver, &nl, NULL) == ADB_OK) {
        if (strnlen(nl.host, sizeof nl.host) == sizeof nl.host || strnlen(nl.client_site, 256) == 256)
            abort();
        adb_netlogon_flags_text(nl.flags, flags, sizeof flags);
    }
    free(blob);
    return 0;
}
