/* Security identifiers (MS-DTYP 2.4.2): the binary form AD stores (objectSid,
 * tokenGroups, sIDHistory) and the text form "S-1-5-21-a-b-c-rid".
 *
 * Both decoders are strict and accept only the canonical form, so that
 * text -> SID -> text and binary -> SID -> binary are identities:
 *   binary: revision 1, 1..15 sub-authorities, length exactly 8 + 4 * count;
 *   text:   "S-1-" authority ("-" sub-authority){1,15}, where the authority is
 *           decimal below 2^32 and "0x" plus 12 upper-case hex digits from
 *           2^32 on (MS-DTYP 2.4.2.1), and every number is plain decimal: no
 *           sign, no leading zero, no empty part, at most 4294967295.
 * A SID with no sub-authority ("S-1-0") is refused: MS-DTYP's grammar needs
 * one, and AD never stores one. */
#ifndef ADBRIDGE_SID_H
#define ADBRIDGE_SID_H

#include <adbridge/error.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
    ADB_SID_MAX_SUB = 15,
    ADB_SID_BINARY_MAX = 8 + 4 * ADB_SID_MAX_SUB,        /* 68 bytes */
    ADB_SID_STRING_MAX = 4 + 14 + 11 * ADB_SID_MAX_SUB + 1, /* 184, with the NUL */
    ADB_SID_FILTER_MAX = 3 * ADB_SID_BINARY_MAX + 1,      /* 205, with the NUL */
};

typedef struct adb_sid {
    uint8_t n_sub;                  /* 1..ADB_SID_MAX_SUB */
    uint64_t authority;             /* 48 bits */
    uint32_t sub[ADB_SID_MAX_SUB];  /* sub[n_sub - 1] is the RID of an account */
} adb_sid;

/* Binary (as in an LDAP attribute value) -> SID.  ADB_E_PROTOCOL when data is
 * not a well-formed SID (it comes from a DC). */
adb_code adb_sid_decode(const void *data, size_t len, adb_sid *out, adb_error *err);

/* SID -> binary; size >= ADB_SID_BINARY_MAX always suffices.  *len gets the
 * length.  ADB_E_INTERNAL for an invalid adb_sid or a short buffer. */
adb_code adb_sid_encode(const adb_sid *sid, uint8_t *buf, size_t size, size_t *len, adb_error *err);

/* Text (len bytes, no NUL needed; an embedded NUL is refused) -> SID.
 * ADB_E_INVALID_REQUEST with the offset and reason when not canonical. */
adb_code adb_sid_parse(const char *text, size_t len, adb_sid *out, adb_error *err);

/* SID -> canonical text, NUL-terminated; size >= ADB_SID_STRING_MAX always
 * suffices.  ADB_E_INTERNAL for an invalid adb_sid or a short buffer. */
adb_code adb_sid_format(const adb_sid *sid, char *buf, size_t size, adb_error *err);

/* SID -> the escaped binary form for an LDAP filter ("\01\05\00..."), as
 * adb_filter_escape(ADB_FILTER_BINARY) makes it; size >= ADB_SID_FILTER_MAX. */
adb_code adb_sid_filter_value(const adb_sid *sid, char *buf, size_t size, adb_error *err);

/* Splits an account SID into its domain SID and RID (the last sub-authority);
 * either output may be NULL.  ADB_E_INVALID_REQUEST when the SID has a single
 * sub-authority (it names no domain). */
adb_code adb_sid_split(const adb_sid *sid, adb_sid *domain, uint32_t *rid, adb_error *err);

/* domain + rid -> account SID.  ADB_E_INVALID_REQUEST when the domain SID
 * already has ADB_SID_MAX_SUB sub-authorities. */
adb_code adb_sid_compose(const adb_sid *domain, uint32_t rid, adb_sid *out, adb_error *err);

/* Total order (authority, then sub-authorities, a prefix first): <0, 0, >0. */
int adb_sid_compare(const adb_sid *a, const adb_sid *b);
bool adb_sid_equal(const adb_sid *a, const adb_sid *b);

/* True when sid is domain plus exactly one RID. */
bool adb_sid_in_domain(const adb_sid *sid, const adb_sid *domain);

#endif
