/* Runs a libFuzzer target over files without libFuzzer, so every normal
 * build replays the seed corpora (and any crash files) as a regression test.
 * Usage: fuzz_X FILE|DIR...   Output: TAP, one line per input file. */
#include "config.h"

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int n_run;

static void run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf;
    long len;

    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        printf("not ok %d - %s: cannot read\n", ++n_run, path);
        if (f != NULL)
            fclose(f);
        return;
    }
    buf = malloc(len > 0 ? (size_t)len : 1);
    if (buf == NULL || fread(buf, 1, (size_t)len, f) != (size_t)len) {
        printf("not ok %d - %s: cannot read\n", ++n_run, path);
    } else {
        /* A crash or sanitizer report aborts the process: the harness sees it. */
        LLVMFuzzerTestOneInput(buf, (size_t)len);
        printf("ok %d - %s\n", ++n_run, path);
    }
    free(buf);
    fclose(f);
}

static void run_path(const char *path)
{
    struct stat st;
    DIR *d;
    struct dirent *e;

    if (stat(path, &st) != 0) {
        printf("not ok %d - %s: missing\n", ++n_run, path);
        return;
    }
    if (!S_ISDIR(st.st_mode)) {
        run_file(path);
        return;
    }
    if ((d = opendir(path)) == NULL)
        return;
    while ((e = readdir(d)) != NULL) {
        char child[4096];
        if (e->d_name[0] == '.')
            continue;
        snprintf(child, sizeof child, "%s/%s", path, e->d_name);
        run_path(child);
    }
    closedir(d);
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        run_path(argv[i]);
    if (n_run == 0)
        printf("not ok 1 - no corpus files given\n"), n_run = 1;
    printf("1..%d\n", n_run);
    return 0;
}
