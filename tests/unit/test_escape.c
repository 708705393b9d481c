/* The CLI's escaping of directory and network text (src/adbridge/cli.c):
 * no control character, C1 code point or invalid UTF-8 byte reaches the
 * terminal raw; printable text, UTF-8 and backslashes stay as they are. */
#include "config.h"

#include "../../src/adbridge/cli.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

static void expect(const char *in, const char *want)
{
    char out[256];
    size_t n = cli_escape(in, out, sizeof out);

    assert_string_equal(out, want);
    assert_int_equal(n, strlen(want));
}

static void test_terminal_attacks(void **state)
{
    (void)state;
    /* the measured attack: retitle (OSC ... BEL) and clear (CSI 2J) */
    expect("Eve\x1b]0;pwned\x07\x1b[2J", "Eve\\x1b]0;pwned\\x07\\x1b[2J");
    expect("a\nb\rc\td", "a\\x0ab\\x0dc\\x09d");
    expect("\x7f", "\\x7f");
    expect("\x01\x1f", "\\x01\\x1f");
    /* C1 as UTF-8 code points: CSI U+009B, OSC U+009D, U+0080, U+009F */
    expect("x\xc2\x9b" "2J", "x\\u009b2J");
    expect("\xc2\x9d\xc2\x80\xc2\x9f", "\\u009d\\u0080\\u009f");
}

static void test_invalid_utf8(void **state)
{
    (void)state;
    expect("\x9b" "2J", "\\x9b2J");                 /* a raw C1 byte (8-bit CSI) */
    expect("\xff\xfe", "\\xff\\xfe");
    expect("\xc0\xaf", "\\xc0\\xaf");               /* overlong '/' */
    expect("\xe0\x80\xaf", "\\xe0\\x80\\xaf");      /* overlong, 3 bytes */
    expect("\xed\xa0\x80", "\\xed\\xa0\\x80");      /* a UTF-16 surrogate */
    expect("\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80");   /* past U+10FFFF */
    expect("ab\xc3", "ab\\xc3");                    /* cut short at the end */
    expect("\xe2\x82" "x", "\\xe2\\x82x");          /* cut short in the middle */
}

static void test_kept_as_is(void **state)
{
    (void)state;
    expect("", "");
    expect(NULL, "");
    expect("ADB\\alice", "ADB\\alice");             /* DOMAIN\name stays readable */
    expect("Smith, John (Sales) *", "Smith, John (Sales) *");
    expect("J\xc3\xbcrgen \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80", "J\xc3\xbcrgen \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80");
    expect("\xc2\xa0nbsp", "\xc2\xa0nbsp");         /* U+00A0 is printable, not C1 */
}

static void test_every_byte(void **state)
{
    char in[2], out[16];
    (void)state;

    /* No single byte comes out as a control or a lone high byte. */
    for (int b = 1; b < 256; b++) {
        in[0] = (char)b;
        in[1] = '\0';
        cli_escape(in, out, sizeof out);
        for (const unsigned char *p = (const unsigned char *)out; *p; p++)
            assert_true(*p >= 0x20 && *p < 0x7f);
    }
}

static void test_cut(void **state)
{
    char out[8];
    (void)state;

    /* Like snprintf: the whole length is returned, the text cut at a piece
     * boundary, never inside an escape or a character. */
    assert_int_equal(cli_escape("ab\x1b" "cd", out, sizeof out), 8);
    assert_string_equal(out, "ab\\x1bc");
    assert_int_equal(cli_escape("\xe6\x97\xa5\xe6\x97\xa5\xe6\x97\xa5", out, sizeof out), 9);
    assert_string_equal(out, "\xe6\x97\xa5\xe6\x97\xa5");
    assert_int_equal(cli_escape("x", out, 0), 1);
}

static void test_put_pads_by_characters(void **state)
{
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    char big[2000];
    (void)state;

    assert_non_null(f);
    cli_put(f, "\xc3\xbc\x1b", 8);   /* ü\x1b: 5 columns, 3 spaces */
    fputc('|', f);
    memset(big, '\x07', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    cli_put(f, big, 0);              /* longer than cli_put's own buffer: not cut */
    fclose(f);
    assert_memory_equal(buf, "\xc3\xbc\\x1b   |", 10);
    assert_int_equal(size, 10 + 4 * (sizeof big - 1));
    assert_null(memchr(buf, 0x07, size));
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_terminal_attacks),
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_kept_as_is),
        cmocka_unit_test(test_every_byte),
        cmocka_unit_test(test_cut),
        cmocka_unit_test(test_put_pads_by_characters),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
