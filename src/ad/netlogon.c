/* NETLOGON_SAM_LOGON_RESPONSE_EX decoder: see include/adbridge/netlogon.h. */
#include "config.h"

#include <adbridge/netlogon.h>

#include <ares.h>
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

struct cursor {
    const uint8_t *blob;
    size_t len, off;
};

static bool take(struct cursor *c, void *dst, size_t n)
{
    if (c->len - c->off < n)
        return false;
    memcpy(dst, c->blob + c->off, n);
    c->off += n;
    return true;
}

static bool u16(struct cursor *c, uint16_t *v)
{
    uint8_t b[2];
    if (!take(c, b, 2))
        return false;
    *v = (uint16_t)(b[0] | b[1] << 8);
    return true;
}

static bool u32(struct cursor *c, uint32_t *v)
{
    uint8_t b[4];
    if (!take(c, b, 4))
        return false;
    *v = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    return true;
}

/* One compressed name at the cursor; pointers are relative to the blob. */
static bool name(struct cursor *c, char *out, size_t size)
{
    char *s = NULL;
    long used = 0;

    if (c->off >= c->len)
        return false;
    if (ares_expand_name(c->blob + c->off, c->blob, (int)c->len, &s, &used) != ARES_SUCCESS)
        return false;
    bool ok = used > 0 && (size_t)used <= c->len - c->off && strlen(s) < size;
    if (ok) {
        memcpy(out, s, strlen(s) + 1);
        c->off += (size_t)used;
    }
    ares_free_string(s);
    return ok;
}

adb_code adb_netlogon_decode(const uint8_t *blob, size_t len, uint32_t requested_ntver, adb_netlogon *out,
                             adb_error *err)
{
    struct cursor c = { .blob = blob, .len = len };
    uint16_t sbz;
    struct {
        const char *field;
        char *dst;
    } names[] = {
        { "DnsForestName", out->forest },         { "DnsDomainName", out->domain },
        { "DnsHostName", out->host },             { "NetbiosDomainName", out->netbios_domain },
        { "NetbiosComputerName", out->netbios_host }, { "UserName", out->user },
        { "DcSiteName", out->dc_site },           { "ClientSiteName", out->client_site },
    };

    memset(out, 0, sizeof *out);
    if (blob == NULL || len > 0x10000)
        return adb_error_set(err, ADB_E_PROTOCOL, "netlogon reply: %zu bytes is not a plausible size", len);
    if (!u16(&c, &out->opcode) || !u16(&c, &sbz) || !u32(&c, &out->flags)
        || !take(&c, out->domain_guid, sizeof out->domain_guid))
        return adb_error_set(err, ADB_E_PROTOCOL, "netlogon reply truncated in its header (%zu bytes)", len);
    if (out->opcode != ADB_NETLOGON_LOGON_SAM_LOGON_RESPONSE_EX
        && out->opcode != ADB_NETLOGON_LOGON_SAM_USER_UNKNOWN_EX)
        return adb_error_set(err, ADB_E_PROTOCOL,
                             "netlogon reply has opcode %u, not LOGON_SAM_LOGON_RESPONSE_EX (23 or 25)",
                             out->opcode);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!name(&c, names[i].dst, 256))
            return adb_error_set(err, ADB_E_PROTOCOL, "netlogon reply: bad or truncated %s at byte %zu",
                                 names[i].field, c.off);
    if (requested_ntver & ADB_NT_VERSION_5EX_WITH_IP) {
        uint8_t size, sa[16];
        if (!take(&c, &size, 1) || size != sizeof sa || !take(&c, sa, sizeof sa))
            return adb_error_set(err, ADB_E_PROTOCOL, "netlogon reply: bad DcSockAddr at byte %zu", c.off);
        if (sa[0] == 2 && sa[1] == 0)          /* AF_INET, little-endian */
            inet_ntop(AF_INET, sa + 4, out->dc_address, sizeof out->dc_address);
    }
    /* Samba leaves NextClosestSiteName out even when asked: optional. */
    if ((requested_ntver & ADB_NT_VERSION_WITH_CLOSEST_SITE) && c.len - c.off > 8
        && !name(&c, out->next_closest_site, sizeof out->next_closest_site))
        return adb_error_set(err, ADB_E_PROTOCOL, "netlogon reply: bad NextClosestSiteName at byte %zu", c.off);
    if (!u32(&c, &out->nt_version) || !u16(&c, &out->lm_nt_token) || !u16(&c, &out->lm20_token))
        return adb_error_set(err, ADB_E_PROTOCOL, "netlogon reply truncated before NtVersion (%zu bytes)", len);
    /* Both tokens are 0xFFFF (MS-ADTS 6.3.1.9): a shifted or cut trailer shows here. */
    if (out->lm_nt_token != 0xffff || out->lm20_token != 0xffff)
        return adb_error_set(err, ADB_E_PROTOCOL, "netlogon reply: LmNtToken/Lm20Token are %04x/%04x, not ffff",
                             out->lm_nt_token, out->lm20_token);
    if (c.off != c.len)
        return adb_error_set(err, ADB_E_PROTOCOL, "netlogon reply: %zu unexpected bytes after the tokens",
                             c.len - c.off);
    return ADB_OK;
}

const char *adb_netlogon_flags_text(uint32_t flags, char *buf, size_t size)
{
    static const struct {
        uint32_t bit;
        const char *name;
    } names[] = {
        { ADB_DS_PDC, "PDC" },
        { ADB_DS_GC, "GC" },
        { ADB_DS_LDAP, "LDAP" },
        { ADB_DS_DS, "DS" },
        { ADB_DS_KDC, "KDC" },
        { ADB_DS_TIMESERV, "TIMESERV" },
        { ADB_DS_CLOSEST, "CLOSEST" },
        { ADB_DS_WRITABLE, "WRITABLE" },
        { ADB_DS_GOOD_TIMESERV, "GOOD_TIMESERV" },
        { ADB_DS_NDNC, "NDNC" },
        { ADB_DS_SELECT_SECRET_DOMAIN_6, "SELECT_SECRET_DOMAIN_6" },
        { ADB_DS_FULL_SECRET_DOMAIN_6, "FULL_SECRET_DOMAIN_6" },
        { ADB_DS_WS, "WS" },
        { ADB_DS_DS_8, "DS_8" },
        { ADB_DS_DS_9, "DS_9" },
        { ADB_DS_DS_10, "DS_10" },
        { ADB_DS_DNS_CONTROLLER, "DNS_CONTROLLER" },
        { ADB_DS_DNS_DOMAIN, "DNS_DOMAIN" },
        { ADB_DS_DNS_FOREST, "DNS_FOREST" },
    };
    size_t off = 0;

    if (size == 0)
        return buf;
    buf[0] = '\0';
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if ((flags & names[i].bit) && off < size)
            off += (size_t)snprintf(buf + off, size - off, "%s%s", off ? "," : "", names[i].name);
    return buf;
}
