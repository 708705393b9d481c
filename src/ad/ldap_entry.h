/* The decoder of LDAP search entries, for ldap_conn.c (the rest of the
 * entry API is public: ldap_conn.h). */
#ifndef ADBRIDGE_AD_LDAP_ENTRY_H
#define ADBRIDGE_AD_LDAP_ENTRY_H

#include <adbridge/error.h>
#include <adbridge/ldap_conn.h>

#include <ldap.h>

/* One search entry message as an adb_ldap_entry (adb_ldap_entry_free). */
adb_code ldap_entry_decode(LDAP *ld, LDAPMessage *msg, adb_ldap_entry **out, adb_error *err);

#endif
