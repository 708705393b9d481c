/* SID codecs (see include/adbridge/sid.h). */
#include "config.h"

#include <adbridge/filter.h>
#include <adbridge/sid.h>

#include <stdio.h>
#include <string.h>

#define AUTHORITY_LIMIT (UINT64_C(1) << 48)

static bool sid_valid(const adb_sid *sid)
{
    return sid != NULL && sid->n_sub >= 1 && sid->n_sub <= ADB_SID_MAX_SUB && sid->authority < AUTHORITY_LIMIT;
}

static adb_code invalid_struct(adb_error *err)
{
    return adb_error_set(err, ADB_E_INTERNAL, "invalid SID value (sub-authority count or authority out of range)");
}

adb_code adb_sid_decode(const void *data, size_t len, adb_sid *out, adb_error *err)
{
    const uint8_t *p = data;

    memset(out, 0, sizeof *out);
    if (len < 8)
        return adb_error_set(err, ADB_E_PROTOCOL, "binary SID is %zu bytes, shorter than its 8-byte header", len);
    if (p[0] != 1)
        return adb_error_set(err, ADB_E_PROTOCOL, "binary SID has revision %u, only 1 exists", (unsigned)p[0]);
    if (p[1] < 1 || p[1] > ADB_SID_MAX_SUB)
        return adb_error_set(err, ADB_E_PROTOCOL, "binary SID claims %u sub-authorities, not 1 to %d",
                             (unsigned)p[1], ADB_SID_MAX_SUB);
    if (len != 8 + 4 * (size_t)p[1])
        return adb_error_set(err, ADB_E_PROTOCOL, "binary SID is %zu bytes, but %u sub-authorities need %zu",
                             len, (unsigned)p[1], 8 + 4 * (size_t)p[1]);
    out->n_sub = p[1];
    for (int i = 2; i < 8; i++)  /* big-endian, 48 bits */
        out->authority = out->authority << 8 | p[i];
    for (size_t i = 0; i < out->n_sub; i++) {  /* little-endian */
        const uint8_t *s = p + 8 + 4 * i;
        out->sub[i] = (uint32_t)s[0] | (uint32_t)s[1] << 8 | (uint32_t)s[2] << 16 | (uint32_t)s[3] << 24;
    }
    return ADB_OK;
}

adb_code adb_sid_encode(const adb_sid *sid, uint8_t *buf, size_t size, size_t *len, adb_error *err)
{
    size_t need;

    if (!sid_valid(sid))
        return invalid_struct(err);
    need = 8 + 4 * (size_t)sid->n_sub;
    if (size < need)
        return adb_error_set(err, ADB_E_INTERNAL, "binary SID needs %zu bytes, buffer has %zu", need, size);
    buf[0] = 1;
    buf[1] = sid->n_sub;
    for (int i = 0; i < 6; i++)
        buf[2 + i] = (uint8_t)(sid->authority >> (8 * (5 - i)));
    for (size_t i = 0; i < sid->n_sub; i++)
        for (int b = 0; b < 4; b++)
            buf[8 + 4 * i + b] = (uint8_t)(sid->sub[i] >> (8 * b));
    if (len != NULL)
        *len = need;
    return ADB_OK;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Reads a canonical decimal uint32 at text[*i] (no sign, no leading zero). */
static bool parse_u32(const char *text, size_t len, size_t *i, uint32_t *v)
{
    uint64_t acc = 0;
    size_t start = *i;

    if (*i >= len || !is_digit(text[*i]))
        return false;
    if (text[*i] == '0') {
        (*i)++;
        *v = 0;
        return *i >= len || !is_digit(text[*i]);
    }
    while (*i < len && is_digit(text[*i])) {
        if (*i - start >= 10)
            return false;
        acc = acc * 10 + (uint64_t)(text[*i] - '0');
        (*i)++;
    }
    if (acc > UINT32_MAX)
        return false;
    *v = (uint32_t)acc;
    return true;
}

static adb_code bad_text(adb_error *err, size_t at, const char *why)
{
    return adb_error_set(err, ADB_E_INVALID_REQUEST, "invalid SID text at character %zu: %s", at + 1, why);
}

adb_code adb_sid_parse(const char *text, size_t len, adb_sid *out, adb_error *err)
{
    size_t i = 4;
    uint32_t v;

    memset(out, 0, sizeof *out);
    if (len >= ADB_SID_STRING_MAX)
        return adb_error_set(err, ADB_E_INVALID_REQUEST, "SID text is %zu bytes, longer than any SID", len);
    if (len < 4 || memcmp(text, "S-1-", 4) != 0)
        return bad_text(err, 0, "expected \"S-1-\"");
    if (len - i >= 2 && text[i] == '0' && text[i + 1] == 'x') {
        /* exactly 12 upper-case hex digits, for authorities >= 2^32 only */
        i += 2;
        for (int d = 0; d < 12; d++, i++) {
            char c = i < len ? text[i] : '\0';
            if (is_digit(c))
                out->authority = out->authority << 4 | (uint64_t)(c - '0');
            else if (c >= 'A' && c <= 'F')
                out->authority = out->authority << 4 | (uint64_t)(c - 'A' + 10);
            else
                return bad_text(err, i, "a hex authority is \"0x\" and 12 upper-case hex digits");
        }
        if (out->authority <= UINT32_MAX)
            return bad_text(err, 4, "an authority below 2^32 must be written in decimal");
    } else {
        if (!parse_u32(text, len, &i, &v))
            return bad_text(err, i, "the authority must be a decimal number below 2^32 without leading zeros "
                                    "(larger ones are written 0x and 12 hex digits)");
        out->authority = v;
    }
    while (i < len) {
        if (text[i] != '-')
            return bad_text(err, i, "expected '-' between numbers");
        if (out->n_sub == ADB_SID_MAX_SUB)
            return bad_text(err, i, "more than 15 sub-authorities");
        i++;
        if (!parse_u32(text, len, &i, &out->sub[out->n_sub]))
            return bad_text(err, i, "a sub-authority must be a decimal number from 0 to 4294967295 "
                                    "without sign or leading zeros");
        out->n_sub++;
    }
    if (out->n_sub == 0)
        return bad_text(err, i, "a SID needs at least one sub-authority");
    return ADB_OK;
}

adb_code adb_sid_format(const adb_sid *sid, char *buf, size_t size, adb_error *err)
{
    char tmp[ADB_SID_STRING_MAX];
    int n;

    if (size > 0)
        buf[0] = '\0';
    if (!sid_valid(sid))
        return invalid_struct(err);
    if (sid->authority > UINT32_MAX)
        n = snprintf(tmp, sizeof tmp, "S-1-0x%012llX", (unsigned long long)sid->authority);
    else
        n = snprintf(tmp, sizeof tmp, "S-1-%llu", (unsigned long long)sid->authority);
    for (size_t i = 0; i < sid->n_sub; i++)
        n += snprintf(tmp + n, sizeof tmp - (size_t)n, "-%lu", (unsigned long)sid->sub[i]);
    if ((size_t)n >= size)
        return adb_error_set(err, ADB_E_INTERNAL, "SID text needs %d bytes, buffer has %zu", n + 1, size);
    memcpy(buf, tmp, (size_t)n + 1);
    return ADB_OK;
}

adb_code adb_sid_filter_value(const adb_sid *sid, char *buf, size_t size, adb_error *err)
{
    uint8_t bin[ADB_SID_BINARY_MAX];
    size_t len;
    adb_code code;

    if (size > 0)
        buf[0] = '\0';
    if ((code = adb_sid_encode(sid, bin, sizeof bin, &len, err)) != ADB_OK)
        return code;
    return adb_filter_escape(bin, len, ADB_FILTER_BINARY, buf, size, NULL, err);
}

adb_code adb_sid_split(const adb_sid *sid, adb_sid *domain, uint32_t *rid, adb_error *err)
{
    if (!sid_valid(sid))
        return invalid_struct(err);
    if (sid->n_sub < 2)
        return adb_error_set(err, ADB_E_INVALID_REQUEST, "SID has a single sub-authority: it names no domain");
    if (rid != NULL)
        *rid = sid->sub[sid->n_sub - 1];
    if (domain != NULL) {
        adb_sid d = *sid;  /* sid and domain may be the same object */
        d.n_sub--;
        d.sub[d.n_sub] = 0;
        *domain = d;
    }
    return ADB_OK;
}

adb_code adb_sid_compose(const adb_sid *domain, uint32_t rid, adb_sid *out, adb_error *err)
{
    adb_sid s;

    if (!sid_valid(domain))
        return invalid_struct(err);
    if (domain->n_sub >= ADB_SID_MAX_SUB)
        return adb_error_set(err, ADB_E_INVALID_REQUEST, "domain SID already has %d sub-authorities: no room for a RID",
                             ADB_SID_MAX_SUB);
    s = *domain;
    s.sub[s.n_sub++] = rid;
    *out = s;
    return ADB_OK;
}

int adb_sid_compare(const adb_sid *a, const adb_sid *b)
{
    size_t n = a->n_sub < b->n_sub ? a->n_sub : b->n_sub;

    if (n > ADB_SID_MAX_SUB)  /* never read past sub[] of an invalid value */
        n = ADB_SID_MAX_SUB;

    if (a->authority != b->authority)
        return a->authority < b->authority ? -1 : 1;
    for (size_t i = 0; i < n; i++)
        if (a->sub[i] != b->sub[i])
            return a->sub[i] < b->sub[i] ? -1 : 1;
    return (a->n_sub > b->n_sub) - (a->n_sub < b->n_sub);
}

bool adb_sid_equal(const adb_sid *a, const adb_sid *b)
{
    return adb_sid_compare(a, b) == 0;
}

bool adb_sid_in_domain(const adb_sid *sid, const adb_sid *domain)
{
    if (!sid_valid(sid) || !sid_valid(domain) || sid->n_sub != domain->n_sub + 1 || sid->authority != domain->authority)
        return false;
    return memcmp(sid->sub, domain->sub, sizeof sid->sub[0] * domain->n_sub) == 0;
}
