/*
 * vmgate — runs a fuzz target once on each input file (or each file in a
 * directory) given on the command line: how CI replays the kept corpora and
 * the regression inputs of crashes found, without clang's libFuzzer. Exits
 * non-zero when an input cannot be read; a crash is the target's own.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <glib.h>

#include "fuzz.h"

static int run_file(const char *path)
{
    g_autofree char *data = NULL;
    gsize len = 0;
    g_autoptr(GError) err = NULL;

    if (!g_file_get_contents(path, &data, &len, &err)) {
        fprintf(stderr, "%s\n", err->message);
        return -1;
    }
    LLVMFuzzerTestOneInput((const uint8_t *)data, len);
    return 0;
}

int main(int argc, char **argv)
{
    unsigned runs = 0;

    if (LLVMFuzzerInitialize)
        LLVMFuzzerInitialize(&argc, &argv);
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) < 0) {
            perror(argv[i]);
            return 1;
        }
        if (S_ISDIR(st.st_mode)) {
            g_autoptr(GDir) dir = g_dir_open(argv[i], 0, NULL);
            const char *name;
            while (dir && (name = g_dir_read_name(dir))) {
                g_autofree char *path = g_build_filename(argv[i], name, NULL);
                if (run_file(path) < 0)
                    return 1;
                runs++;
            }
        } else {
            if (run_file(argv[i]) < 0)
                return 1;
            runs++;
        }
    }
    printf("%s: %u inputs ran\n", argv[0], runs);
    return runs > 0 ? 0 : 1;
}
