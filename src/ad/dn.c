/* Distinguished names (see include/adbridge/dn.h). */
#include "config.h"

#include <adbridge/config.h>
#include <adbridge/dn.h>

#include <ctype.h>
#include <ldap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static bool attr_is_name(const struct berval *a)
{
    if (a->bv_len == 0 || !isalpha((unsigned char)a->bv_val[0]))
        return false;
    for (ber_len_t i = 1; i < a->bv_len; i++)
        if (!isalnum((unsigned char)a->bv_val[i]) && a->bv_val[i] != '-')
            return false;
    return true;
}

/* Parses dn strictly: LDAPv3 syntax, named attribute types, string values. */
static LDAPDN parse(const char *dn)
{
    LDAPDN parsed = NULL;

    if (dn == NULL || dn[0] == '\0' || strlen(dn) > ADB_DN_MAX
        || ldap_str2dn(dn, &parsed, LDAP_DN_FORMAT_LDAPV3) != LDAP_SUCCESS)
        return NULL;
    if (parsed == NULL || parsed[0] == NULL) {
        ldap_dnfree(parsed);
        return NULL;
    }
    for (size_t i = 0; parsed[i] != NULL; i++)
        for (size_t j = 0; parsed[i][j] != NULL; j++) {
            const LDAPAVA *ava = parsed[i][j];
            if (!attr_is_name(&ava->la_attr) || (ava->la_flags & LDAP_AVA_BINARY) != 0) {
                ldap_dnfree(parsed);
                return NULL;
            }
        }
    return parsed;
}

bool adb_dn_valid(const char *dn)
{
    LDAPDN parsed = parse(dn);

    ldap_dnfree(parsed);
    return parsed != NULL;
}

static bool is_dc(LDAPRDN rdn)
{
    return rdn[0] != NULL && rdn[1] == NULL && rdn[0]->la_attr.bv_len == 2
           && strncasecmp(rdn[0]->la_attr.bv_val, "DC", 2) == 0 && rdn[0]->la_value.bv_len > 0;
}

bool adb_dn_looks_like(const char *t, size_t len)
{
    size_t i = 0;

    if (len == 0 || !isalpha((unsigned char)t[0]))
        return false;
    while (i < len && (isalnum((unsigned char)t[i]) || t[i] == '-'))
        i++;
    while (i < len && t[i] == ' ')
        i++;
    return i < len && t[i] == '=';
}

adb_code adb_dn_domain(const char *dn, char *out, size_t size, adb_error *err)
{
    LDAPDN parsed = parse(dn);
    size_t n = 0, first, o = 0;

    if (size > 0)
        out[0] = '\0';
    if (parsed == NULL)
        return adb_error_set(err, ADB_E_INVALID_REQUEST, "'%.200s' is not a distinguished name", dn ? dn : "");
    while (parsed[n] != NULL)
        n++;
    first = n;
    while (first > 0 && is_dc(parsed[first - 1]))
        first--;
    if (first == n) {
        ldap_dnfree(parsed);
        return adb_error_set(err, ADB_E_INVALID_REQUEST,
                             "'%.200s' names no domain (it does not end in DC= components)", dn);
    }
    for (size_t i = first; i < n; i++) {
        const struct berval *v = &parsed[i][0]->la_value;
        if (o + v->bv_len + 2 > size) {
            ldap_dnfree(parsed);
            out[0] = '\0';
            return adb_error_set(err, ADB_E_INVALID_REQUEST, "the domain of '%.200s' is too long", dn);
        }
        if (i > first)
            out[o++] = '.';
        for (ber_len_t k = 0; k < v->bv_len; k++)
            out[o++] = (char)tolower((unsigned char)v->bv_val[k]);
    }
    out[o] = '\0';
    ldap_dnfree(parsed);
    if (!adb_dns_name_valid(out)) {
        out[0] = '\0';
        return adb_error_set(err, ADB_E_INVALID_REQUEST, "the DC= components of '%.200s' are not a DNS name",
                             dn);
    }
    return ADB_OK;
}

adb_code adb_dn_from_domain(const char *domain, char *out, size_t size, adb_error *err)
{
    size_t o = 0;

    if (size > 0)
        out[0] = '\0';
    if (domain == NULL || !adb_dns_name_valid(domain))
        return adb_error_set(err, ADB_E_INVALID_REQUEST, "'%.200s' is not a DNS domain name",
                             domain ? domain : "");
    for (const char *label = domain; *label != '\0';) {
        size_t len = strcspn(label, ".");
        int n = snprintf(out + o, size - o, "%sDC=%.*s", o > 0 ? "," : "", (int)len, label);
        if (n < 0 || (size_t)n >= size - o) {
            out[0] = '\0';
            return adb_error_set(err, ADB_E_INTERNAL, "DN of %s does not fit in %zu bytes", domain, size);
        }
        o += (size_t)n;
        label += len;
        if (*label == '.')
            label++;
    }
    return ADB_OK;
}

static void lower_ascii(char *s)
{
    for (; *s != '\0'; s++)
        if (*s >= 'A' && *s <= 'Z')
            *s = (char)(*s - 'A' + 'a');
}

adb_code adb_dn_normalize(const char *dn, char **out, adb_error *err)
{
    LDAPDN parsed = parse(dn);
    char *text = NULL;

    *out = NULL;
    if (parsed == NULL)
        return adb_error_set(err, ADB_E_INVALID_REQUEST, "'%.200s' is not a distinguished name", dn ? dn : "");
    if (ldap_dn2str(parsed, &text, LDAP_DN_FORMAT_LDAPV3) != LDAP_SUCCESS || text == NULL) {
        ldap_dnfree(parsed);
        return adb_error_set(err, ADB_E_INVALID_REQUEST, "'%.200s' cannot be normalised", dn);
    }
    ldap_dnfree(parsed);
    *out = strdup(text);
    ldap_memfree(text);
    if (*out == NULL)
        return adb_error_set(err, ADB_E_NOMEM, "out of memory");
    lower_ascii(*out);
    return ADB_OK;
}
