/* Why a password check failed, as the KDC tells it (see
 * include/adbridge/pwcheck.h): reason names, krb5 error codes and the
 * NTSTATUS that AD and Samba put in a KRB-ERROR's e-data. */
#include "config.h"

#include <adbridge/pwcheck.h>

#include <krb5/krb5.h>
#include <lber.h>
#include <stdint.h>

enum {
    PA_PW_SALT = 3,           /* also KERB_ERR_TYPE_EXTENDED in KERB-ERROR-DATA */
    NTSTATUS_VALUE_LEN = 12,  /* status, reserved, flags */
};

static const char *const reason_names[ADB_AUTH_REASON_COUNT_] = {
    [ADB_AUTH_NONE] = "none",
    [ADB_AUTH_OK] = "ok",
    [ADB_AUTH_INVALID_CREDENTIALS] = "invalid_credentials",
    [ADB_AUTH_UNKNOWN_USER] = "unknown_user",
    [ADB_AUTH_ACCOUNT_DISABLED] = "account_disabled",
    [ADB_AUTH_ACCOUNT_LOCKED] = "account_locked",
    [ADB_AUTH_ACCOUNT_EXPIRED] = "account_expired",
    [ADB_AUTH_PASSWORD_EXPIRED] = "password_expired",
    [ADB_AUTH_PASSWORD_MUST_CHANGE] = "password_must_change",
    [ADB_AUTH_CLOCK_SKEW] = "clock_skew",
    [ADB_AUTH_DC_UNAVAILABLE] = "dc_unavailable",
    [ADB_AUTH_ACCOUNT_RESTRICTED] = "account_restricted",
    [ADB_AUTH_LOCKED_BY_BRIDGE] = "locked_by_bridge",
};

const char *adb_auth_reason_name(adb_auth_reason r)
{
    if ((unsigned)r >= ADB_AUTH_REASON_COUNT_ || reason_names[r] == NULL)
        return "none";
    return reason_names[r];
}

/* ---- reasons ---- */

adb_auth_reason adb_pwcheck_reason(long code, uint32_t ntstatus, bool *needs_state)
{
    bool needs = false;
    adb_auth_reason r;

    switch (code) {
    case 0:
        r = ADB_AUTH_OK;
        break;
    case KRB5KDC_ERR_PREAUTH_FAILED:
    case KRB5KRB_AP_ERR_BAD_INTEGRITY:
        r = ADB_AUTH_INVALID_CREDENTIALS;
        break;
    case KRB5KDC_ERR_C_PRINCIPAL_UNKNOWN:
        r = ADB_AUTH_UNKNOWN_USER;
        break;
    case KRB5KDC_ERR_CLIENT_REVOKED:
    case KRB5KDC_ERR_POLICY:
        switch (ntstatus) {
        case ADB_NTSTATUS_ACCOUNT_DISABLED: r = ADB_AUTH_ACCOUNT_DISABLED; break;
        case ADB_NTSTATUS_ACCOUNT_LOCKED_OUT: r = ADB_AUTH_ACCOUNT_LOCKED; break;
        case ADB_NTSTATUS_ACCOUNT_EXPIRED: r = ADB_AUTH_ACCOUNT_EXPIRED; break;
        case ADB_NTSTATUS_INVALID_LOGON_HOURS:
        case ADB_NTSTATUS_INVALID_WORKSTATION:
        case ADB_NTSTATUS_ACCOUNT_RESTRICTION:
            r = ADB_AUTH_ACCOUNT_RESTRICTED;
            break;
        default:
            r = ADB_AUTH_ACCOUNT_RESTRICTED;
            needs = true;
        }
        break;
    case KRB5KDC_ERR_KEY_EXP:
        if (ntstatus == ADB_NTSTATUS_PASSWORD_MUST_CHANGE)
            r = ADB_AUTH_PASSWORD_MUST_CHANGE;
        else if (ntstatus == ADB_NTSTATUS_PASSWORD_EXPIRED)
            r = ADB_AUTH_PASSWORD_EXPIRED;
        else {
            r = ADB_AUTH_PASSWORD_EXPIRED;
            needs = true;
        }
        break;
    case KRB5KRB_AP_ERR_SKEW:
        r = ADB_AUTH_CLOCK_SKEW;
        break;
    case KRB5_KDC_UNREACH:
    case KRB5_REALM_CANT_RESOLVE:
    case KRB5_REALM_UNKNOWN:   /* no KDC known for the realm */
        r = ADB_AUTH_DC_UNAVAILABLE;
        break;
    default:
        r = ADB_AUTH_NONE;
    }
    if (needs_state != NULL)
        *needs_state = needs;
    return r;
}

/* ---- the NTSTATUS in a KRB-ERROR's e-data (untrusted bytes) ---- */

/* The fields of one PA-DATA or KERB-ERROR-DATA, [1] INTEGER and [2] OCTET
 * STRING OPTIONAL; ber holds the SEQUENCE's contents only. */
static bool typed_fields(BerElement *ber, ber_int_t *type, struct berval *value)
{
    ber_len_t len;
    ber_tag_t tag;

    value->bv_len = 0;
    value->bv_val = NULL;
    if (ber_peek_tag(ber, &len) != (LBER_CLASS_CONTEXT | LBER_CONSTRUCTED | 1) || ber_scanf(ber, "{") == LBER_ERROR
        || ber_peek_tag(ber, &len) != LBER_INTEGER || ber_scanf(ber, "i", type) == LBER_ERROR)
        return false;
    if ((tag = ber_peek_tag(ber, &len)) == LBER_DEFAULT)
        return true;   /* no value */
    return tag == (LBER_CLASS_CONTEXT | LBER_CONSTRUCTED | 2) && ber_scanf(ber, "{") != LBER_ERROR
           && ber_peek_tag(ber, &len) == LBER_OCTETSTRING && ber_scanf(ber, "m", value) != LBER_ERROR;
}

static bool status_of(ber_int_t type, const struct berval *v, uint32_t *ntstatus)
{
    const unsigned char *b = (const unsigned char *)v->bv_val;

    if (type != PA_PW_SALT || v->bv_len != NTSTATUS_VALUE_LEN)
        return false;
    *ntstatus = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    return (*ntstatus & 0xC0000000u) == 0xC0000000u;   /* an error status */
}

/* Parses the contents of one SEQUENCE (given as bytes) with typed_fields. */
static bool entry_status(const struct berval *contents, uint32_t *ntstatus)
{
    struct berval copy = *contents;
    BerElement *ber = ber_init(&copy);
    struct berval value;
    ber_int_t type;
    bool found;

    if (ber == NULL)
        return false;
    found = typed_fields(ber, &type, &value) && status_of(type, &value, ntstatus);
    ber_free(ber, 1);
    return found;
}

bool adb_pwcheck_edata_ntstatus(const void *edata, size_t len, uint32_t *ntstatus)
{
    struct berval bv, contents, item;
    BerElement *top = NULL, *seq = NULL;
    ber_len_t l;
    bool found = false;

    *ntstatus = 0;
    if (edata == NULL || len < 2 || len > 65536)
        return false;
    bv.bv_val = (char *)(uintptr_t)edata;   /* ber_init copies, never writes */
    bv.bv_len = len;
    /* ber_skip_element hands out an element's contents, bounded by its
     * length: a malformed element cannot make the walk leave it. */
    if ((top = ber_init(&bv)) == NULL || ber_skip_element(top, &contents) != LBER_SEQUENCE
        || (seq = ber_init(&contents)) == NULL)
        goto out;
    if (ber_peek_tag(seq, &l) == (LBER_CLASS_CONTEXT | LBER_CONSTRUCTED | 1)) {
        found = entry_status(&contents, ntstatus);   /* KERB-ERROR-DATA */
        goto out;
    }
    /* METHOD-DATA: SEQUENCE OF PA-DATA. */
    while (!found && ber_peek_tag(seq, &l) == LBER_SEQUENCE && ber_skip_element(seq, &item) == LBER_SEQUENCE)
        found = entry_status(&item, ntstatus);
out:
    if (!found)
        *ntstatus = 0;
    if (seq != NULL)
        ber_free(seq, 1);
    if (top != NULL)
        ber_free(top, 1);
    return found;
}
