/* What MIT krb5's trace says about the KDCs an exchange talked to: the
 * addresses it sent to, the one that answered, and the realm of the last
 * request.  Both the machine login (krb.h) and password checks (pwcheck.h)
 * name the KDCs they tried in their errors from it.  Only addresses and the
 * realm are kept; trace messages themselves are never logged. */
#ifndef ADBRIDGE_KRBTRACE_H
#define ADBRIDGE_KRBTRACE_H

#include <krb5/krb5.h>
#include <stddef.h>

enum { ADB_KRB_TRACE_MAX_TRIED = 8 };

typedef struct adb_krb_trace {
    char realm[256];                                /* realm of the last request sent */
    char answered[64];                              /* last KDC that answered ("" when none) */
    char tried[ADB_KRB_TRACE_MAX_TRIED][64];        /* KDCs sent to, in order, each once */
    int n_tried;
    /* Optional: called with what follows "Selected etype info: " each time
     * krb5 picks the enctype, salt and s2k parameters of the client's key
     * ("etype aes256-cts, salt \"ADB.TESTalice\", params \"\x00\x00\x10\x00\""). */
    void (*etype_info)(krb5_context ctx, const char *info, void *arg);
    void *etype_info_arg;
} adb_krb_trace;

/* A krb5_trace_callback; data is the adb_krb_trace to fill (zero it first,
 * then set etype_info if wanted). */
void adb_krb_trace_cb(krb5_context ctx, const krb5_trace_info *info, void *data);

/* "10.0.0.1:88, 10.0.0.2:88", or none_text when nothing was tried. */
void adb_krb_trace_tried(const adb_krb_trace *t, const char *none_text, char *buf, size_t size);

#endif
