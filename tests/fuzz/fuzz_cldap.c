/* Fuzzes the CLDAP reply decoder (liblber over an untrusted datagram, then
 * the netlogon decoder).  The first 4 bytes are the expected message id. */
#include "config.h"

#include <adbridge/cldap.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    adb_netlogon nl;
    int32_t id;

    if (size < 4)
        return 0;
    memcpy(&id, data, 4);
    uint8_t *dgram = malloc(size - 4 ? size - 4 : 1);
    memcpy(dgram, data + 4, size - 4);
    (void)adb_cldap_decode(dgram, size - 4, id, ADB_CLDAP_NTVER, &nl, NULL);
    free(dgram);
    return 0;
}
