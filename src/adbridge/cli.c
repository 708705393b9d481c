/* Output helpers of the CLI (see cli.h). */
#include "config.h"

#include "cli.h"

#include <adbridge/text.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cli_print_json(json_t *j)
{
    char *text = json_dumps(j, JSON_INDENT(2));

    if (text != NULL)
        printf("%s\n", text);
    free(text);
    json_decref(j);
}

void cli_print_failure(const char *cmd, const char *code, const char *message)
{
    fprintf(stderr, "adbridge %s: ", cmd);
    cli_put(stderr, code, 0);
    fputs(": ", stderr);
    cli_put(stderr, message, 0);
    fputc('\n', stderr);
}

void cli_print_error(const char *cmd, const adb_error *err)
{
    cli_print_failure(cmd, adb_code_name(err->code), err->message);
}

size_t cli_escape(const char *s, char *out, size_t size)
{
    const unsigned char *p = (const unsigned char *)(s != NULL ? s : "");
    size_t need = 0, o = 0;
    bool cut = false;

    while (*p != '\0') {
        char piece[8];
        size_t k = adb_utf8_len(p), n;

        if (k == 0 || *p < 0x20 || *p == 0x7f) {
            n = (size_t)snprintf(piece, sizeof piece, "\\x%02x", *p);
            k = 1;
        } else if (k == 2 && p[0] == 0xC2 && p[1] < 0xA0) {   /* C1: U+0080..U+009F, e.g. CSI U+009B */
            n = (size_t)snprintf(piece, sizeof piece, "\\u00%02x", p[1]);
        } else {
            memcpy(piece, p, k);
            n = k;
        }
        /* Whole pieces only: a cut never splits a character or an escape. */
        if (!cut && o + n < size) {
            memcpy(out + o, piece, n);
            o += n;
        } else {
            cut = true;
        }
        need += n;
        p += k;
    }
    if (size > 0)
        out[o] = '\0';
    return need;
}

void cli_put(FILE *f, const char *s, int width)
{
    char small[512], *text = small;
    size_t need = cli_escape(s, small, sizeof small);
    int columns = 0;

    /* Long values (a DN, a server's message) are not cut: escape them again
     * into a buffer that fits.  Out of memory: print what fitted. */
    if (need >= sizeof small && (text = malloc(need + 1)) != NULL)
        cli_escape(s, text, need + 1);
    else if (text == NULL)
        text = small;
    fputs(text, f);
    for (const char *c = text; *c != '\0'; c++)
        columns += ((unsigned char)*c & 0xC0) != 0x80;
    for (; columns < width; columns++)
        fputc(' ', f);
    if (text != small)
        free(text);
}
