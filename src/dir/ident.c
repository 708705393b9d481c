/* Identifier parsing (see include/adbridge/ident.h). */
#include "config.h"

#include <adbridge/config.h>
#include <adbridge/dn.h>
#include <adbridge/ident.h>

#include <ctype.h>
#include <stdio.h>
#include <string.h>

/* Characters AD refuses in sAMAccountName (and so in a down-level name). */
static const char bad_name_chars[] = "\"/\\[]:;|=,+*?<>";
static const char bad_netbios_chars[] = "\\/:*?\"<>|.";

const char *adb_ident_kind_name(adb_ident_kind kind)
{
    switch (kind) {
    case ADB_IDENT_NAME: return "name";
    case ADB_IDENT_NT4: return "nt4";
    case ADB_IDENT_UPN: return "upn";
    case ADB_IDENT_SID: return "sid";
    case ADB_IDENT_GUID: return "guid";
    case ADB_IDENT_DN: return "dn";
    }
    return "?";
}

bool adb_text_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;

    while (i < len) {
        unsigned char c = p[i];
        size_t n;
        uint32_t cp;
        if (c < 0x80) {
            if (c < 0x20 || c == 0x7f)
                return false;
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            n = 1;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        for (size_t k = 1; k <= n; k++) {
            if (i + k >= len || (p[i + k] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (p[i + k] & 0x3f);
        }
        /* Overlong forms, surrogates, beyond U+10FFFF, C1 controls. */
        if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff))
            || (cp >= 0xd800 && cp <= 0xdfff) || (cp >= 0x80 && cp < 0xa0))
            return false;
        i += n + 1;
    }
    return true;
}

bool adb_netbios_name_valid(const char *name)
{
    size_t len = strlen(name);

    if (len == 0 || len > 15 || name[0] == ' ' || name[len - 1] == ' ')
        return false;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)name[i] < 0x20 || strchr(bad_netbios_chars, name[i]) != NULL)
            return false;
    return true;
}

static adb_code check_name(const char *name, size_t len, const char *what, adb_error *err)
{
    if (len == 0)
        return adb_error_set(err, ADB_E_INVALID_REQUEST, "%s is empty", what);
    if (len > ADB_NAME_MAX)
        return adb_error_set(err, ADB_E_INVALID_REQUEST, "%s is %zu bytes; account names have at most %d",
                             what, len, ADB_NAME_MAX);
    for (size_t i = 0; i < len; i++)
        if (strchr(bad_name_chars, name[i]) != NULL)
            return adb_error_set(err, ADB_E_INVALID_REQUEST,
                                 "%s contains '%c', which account names cannot contain (none of %s)", what,
                                 name[i], bad_name_chars);
    if (name[len - 1] == '.' || name[0] == ' ' || name[len - 1] == ' ')
        return adb_error_set(err, ADB_E_INVALID_REQUEST,
                             "%s starts or ends with a space or ends with '.', which account names cannot", what);
    return ADB_OK;
}

/* A domain qualifier: a DNS name (has a dot) or a NetBIOS name. */
static adb_code check_domain(const char *domain, size_t len, adb_error *err)
{
    char buf[ADB_DOMAIN_MAX];

    if (len == 0)
        return adb_error_set(err, ADB_E_INVALID_REQUEST, "the domain part is empty");
    if (len >= sizeof buf)
        return adb_error_set(err, ADB_E_INVALID_REQUEST, "the domain part is longer than %zu bytes",
                             sizeof buf - 1);
    memcpy(buf, domain, len);
    buf[len] = '\0';
    if (memchr(buf, '.', len) != NULL ? !adb_dns_name_valid(buf) : !adb_netbios_name_valid(buf))
        return adb_error_set(err, ADB_E_INVALID_REQUEST,
                             "'%s' is neither a NetBIOS domain name (1-15 characters, none of \\/:*?\"<>|) "
                             "nor a DNS domain name", buf);
    return ADB_OK;
}

static bool looks_like_sid(const char *t, size_t len)
{
    return len >= 2 && (t[0] == 'S' || t[0] == 's') && t[1] == '-';
}

static bool looks_like_guid(const char *t, size_t len)
{
    if (len == 38 && t[0] == '{')
        t++, len -= 2;
    if (len != 36)
        return false;
    for (size_t i = 0; i < 36; i++)
        if (i == 8 || i == 13 || i == 18 || i == 23 ? t[i] != '-' : !isxdigit((unsigned char)t[i]))
            return false;
    return true;
}


adb_code adb_ident_parse(const char *text, size_t len, const char *domain, adb_ident *out, adb_error *err)
{
    const char *at, *bs;
    bool has_domain = domain != NULL && domain[0] != '\0';
    adb_code rc;

    memset(out, 0, sizeof *out);
    if (text == NULL || len == 0)
        return adb_error_set(err, ADB_E_INVALID_REQUEST, "the identifier is empty");
    if (len > ADB_IDENT_MAX)
        return adb_error_set(err, ADB_E_INVALID_REQUEST, "the identifier is %zu bytes; at most %d are accepted",
                             len, ADB_IDENT_MAX);
    if (memchr(text, '\0', len) != NULL)
        return adb_error_set(err, ADB_E_INVALID_REQUEST, "the identifier contains a NUL byte");
    if (!adb_text_valid(text, len))
        return adb_error_set(err, ADB_E_INVALID_REQUEST,
                             "the identifier contains a control character or is not valid UTF-8");
    if (has_domain && (rc = check_domain(domain, strlen(domain), err)) != ADB_OK) {
        adb_error_prefix(err, "domain");
        return rc;
    }

    if (looks_like_sid(text, len)) {
        out->kind = ADB_IDENT_SID;
        if ((rc = adb_sid_parse(text, len, &out->sid, err)) != ADB_OK) {
            adb_error_prefix(err, "malformed SID");
            return rc;
        }
    } else if (looks_like_guid(text, len)) {
        out->kind = ADB_IDENT_GUID;
        if ((rc = adb_guid_parse(text, len, &out->guid, err)) != ADB_OK)
            return rc;
    } else if (adb_dn_looks_like(text, len)) {
        out->kind = ADB_IDENT_DN;
        memcpy(out->name, text, len);
        if (!adb_dn_valid(out->name))
            return adb_error_set(err, ADB_E_INVALID_REQUEST,
                                 "'%.200s' is not a valid distinguished name (RFC 4514: escape , + \" \\ < > ; "
                                 "with a backslash)", out->name);
        if ((rc = adb_dn_domain(out->name, out->domain, sizeof out->domain, err)) != ADB_OK)
            return rc;
    } else if ((bs = memchr(text, '\\', len)) != NULL) {
        size_t dlen = (size_t)(bs - text), nlen = len - dlen - 1;
        out->kind = ADB_IDENT_NT4;
        if ((rc = check_domain(text, dlen, err)) != ADB_OK) {
            adb_error_prefix(err, "in DOMAIN\\name");
            return rc;
        }
        if ((rc = check_name(bs + 1, nlen, "the name after DOMAIN\\", err)) != ADB_OK)
            return rc;
        memcpy(out->domain, text, dlen);
        memcpy(out->name, bs + 1, nlen);
    } else if ((at = memrchr(text, '@', len)) != NULL) {
        size_t llen = (size_t)(at - text), slen = len - llen - 1;
        out->kind = ADB_IDENT_UPN;
        if (llen == 0)
            return adb_error_set(err, ADB_E_INVALID_REQUEST, "the user principal name has nothing before '@'");
        if (len > ADB_UPN_MAX)
            return adb_error_set(err, ADB_E_INVALID_REQUEST, "the user principal name is longer than %d bytes",
                                 ADB_UPN_MAX);
        if (slen == 0 || slen >= sizeof out->domain)
            return adb_error_set(err, ADB_E_INVALID_REQUEST, "the UPN suffix after '@' is %s",
                                 slen == 0 ? "empty" : "too long");
        memcpy(out->domain, at + 1, slen);
        if (!adb_dns_name_valid(out->domain))
            return adb_error_set(err, ADB_E_INVALID_REQUEST, "the UPN suffix '%s' is not a DNS name", out->domain);
        memcpy(out->name, text, len);
    } else {
        out->kind = ADB_IDENT_NAME;
        if ((rc = check_name(text, len, "the account name", err)) != ADB_OK)
            return rc;
        memcpy(out->name, text, len);
    }
    if (has_domain) {
        if (out->kind != ADB_IDENT_NAME)
            return adb_error_set(err, ADB_E_INVALID_REQUEST,
                                 "a domain may only qualify a bare account name, not a %s (it names its own "
                                 "domain or needs none)", adb_ident_kind_name(out->kind));
        out->kind = ADB_IDENT_NT4;
        snprintf(out->domain, sizeof out->domain, "%s", domain);
    }
    return ADB_OK;
}
