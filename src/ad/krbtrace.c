/* KDCs from MIT krb5's trace (see include/adbridge/krbtrace.h). */
#include "config.h"

#include <adbridge/krbtrace.h>

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* The address after " to stream " / " from dgram " etc. in m, or NULL. */
static const char *address_after(const char *m, const char *dir)
{
    static const char *const kinds[] = { "stream ", "dgram " };
    const char *p = m;

    while ((p = strstr(p, dir)) != NULL) {
        p += strlen(dir);
        for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++)
            if (strncmp(p, kinds[i], strlen(kinds[i])) == 0)
                return p + strlen(kinds[i]);
    }
    return NULL;
}

/* MIT's messages: "Sending request (196 bytes) to ADB.TEST", "Sending TCP
 * request to stream 10.0.0.1:88", "Received answer (145 bytes) from stream
 * 10.0.0.1:88". */
void adb_krb_trace_cb(krb5_context ctx, const krb5_trace_info *info, void *data)
{
    adb_krb_trace *t = data;
    const char *m, *p;
    char addr[64];

    if (info == NULL || (m = info->message) == NULL)
        return;
    if ((p = strstr(m, "Selected etype info: ")) != NULL) {
        if (t->etype_info != NULL)
            t->etype_info(ctx, p + strlen("Selected etype info: "), t->etype_info_arg);
        return;
    }
    if ((p = strstr(m, "Sending request (")) != NULL && (p = strstr(p, ") to ")) != NULL) {
        p += 5;
        snprintf(t->realm, sizeof t->realm, "%.*s", (int)strcspn(p, " \n"), p);
        return;
    }
    if ((p = address_after(m, " from ")) != NULL) {
        snprintf(t->answered, sizeof t->answered, "%.*s", (int)strcspn(p, " \n"), p);
        return;
    }
    if ((p = address_after(m, " to ")) == NULL)
        return;
    snprintf(addr, sizeof addr, "%.*s", (int)strcspn(p, " \n"), p);
    for (int i = 0; i < t->n_tried; i++)
        if (strcmp(t->tried[i], addr) == 0)
            return;
    if (t->n_tried < ADB_KRB_TRACE_MAX_TRIED)
        memcpy(t->tried[t->n_tried++], addr, sizeof addr);
}

void adb_krb_trace_tried(const adb_krb_trace *t, const char *none_text, char *buf, size_t size)
{
    size_t o = 0;

    buf[0] = '\0';
    for (int i = 0; i < t->n_tried && o < size; i++)
        o += (size_t)snprintf(buf + o, size - o, "%s%s", i > 0 ? ", " : "", t->tried[i]);
    if (t->n_tried == 0)
        snprintf(buf, size, "%s", none_text);
}
