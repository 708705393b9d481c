/* Decoder of the CLDAP ping's answer, NETLOGON_SAM_LOGON_RESPONSE_EX
 * (MS-ADTS 6.3.1.9).  Its names are DNS names with compression pointers
 * relative to the start of the blob; c-ares' ares_expand_name expands them
 * with bounds and loop checks, so no name parser of our own is needed
 * (Samba's NDR decoder would pull in talloc and samba-dev for one struct). */
#ifndef ADBRIDGE_NETLOGON_H
#define ADBRIDGE_NETLOGON_H

#include <adbridge/error.h>

#include <stddef.h>
#include <stdint.h>

/* NtVer bits of the request (MS-ADTS 6.3.1.1) */
#define ADB_NT_VERSION_5 0x00000002u
#define ADB_NT_VERSION_5EX 0x00000004u
#define ADB_NT_VERSION_5EX_WITH_IP 0x00000008u
#define ADB_NT_VERSION_WITH_CLOSEST_SITE 0x00000010u

/* DS_FLAG bits of the answer (MS-ADTS 6.3.1.2) */
#define ADB_DS_PDC 0x00000001u
#define ADB_DS_GC 0x00000004u
#define ADB_DS_LDAP 0x00000008u
#define ADB_DS_DS 0x00000010u
#define ADB_DS_KDC 0x00000020u
#define ADB_DS_TIMESERV 0x00000040u
#define ADB_DS_CLOSEST 0x00000080u
#define ADB_DS_WRITABLE 0x00000100u
#define ADB_DS_GOOD_TIMESERV 0x00000200u
#define ADB_DS_NDNC 0x00000400u
#define ADB_DS_SELECT_SECRET_DOMAIN_6 0x00000800u
#define ADB_DS_FULL_SECRET_DOMAIN_6 0x00001000u
#define ADB_DS_WS 0x00002000u
#define ADB_DS_DS_8 0x00004000u
#define ADB_DS_DS_9 0x00008000u
#define ADB_DS_DS_10 0x00010000u
#define ADB_DS_DNS_CONTROLLER 0x20000000u
#define ADB_DS_DNS_DOMAIN 0x40000000u
#define ADB_DS_DNS_FOREST 0x80000000u

#define ADB_NETLOGON_LOGON_SAM_LOGON_RESPONSE_EX 23
#define ADB_NETLOGON_LOGON_SAM_USER_UNKNOWN_EX 25

typedef struct adb_netlogon {
    uint16_t opcode;
    uint32_t flags;
    uint8_t domain_guid[16];
    char forest[256], domain[256], host[256];
    char netbios_domain[256], netbios_host[256], user[256];
    char dc_site[256], client_site[256], next_closest_site[256];
    char dc_address[46];         /* DcSockAddr when 5EX_WITH_IP was asked; "" otherwise */
    uint32_t nt_version;
    uint16_t lm_nt_token, lm20_token;
} adb_netlogon;

/* Decodes blob (the Netlogon attribute).  requested_ntver tells which
 * optional fields are present.  protocol_error, naming the field, on any
 * truncated, overlong or malformed part. */
adb_code adb_netlogon_decode(const uint8_t *blob, size_t len, uint32_t requested_ntver, adb_netlogon *out,
                             adb_error *err);

/* "PDC,GC,LDAP,..." into buf; returns buf. */
const char *adb_netlogon_flags_text(uint32_t flags, char *buf, size_t size);

#endif
