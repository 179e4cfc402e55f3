/*
 * replay: runs a libFuzzer target's entry point over files, without the
 * fuzzer, so the seed corpus and every crash ever found are checked by the
 * ordinary build (and its sanitizer build) on each test run.
 *
 *   fuzz_replay_validate DIR_OR_FILE...
 *
 * Each argument is a file or a directory whose regular files are fed in
 * name order; a missing directory counts as empty (tests/fuzz/crashes/
 * holds nothing until a crash is found).  The target aborts on a finding,
 * which fails the test.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The largest input replayed; the targets ignore anything near it anyway. */
#define REPLAY_MAX_BYTES (4u << 20)

static long n_files;

static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    uint8_t *buf = malloc(REPLAY_MAX_BYTES);
    if (buf == NULL) {
        fclose(f);
        return -1;
    }
    size_t n = fread(buf, 1, REPLAY_MAX_BYTES, f);
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        fprintf(stderr, "replay: cannot read %s\n", path);
        free(buf);
        return -1;
    }
    /* An exact-size copy lets ASan see a read past the input's end. */
    uint8_t *exact = malloc(n > 0 ? n : 1);
    if (exact == NULL) {
        free(buf);
        return -1;
    }
    memcpy(exact, buf, n);
    free(buf);
    (void)LLVMFuzzerTestOneInput(exact, n);
    free(exact);
    n_files++;
    return 0;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

static int replay_path(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return errno == ENOENT ? 0 : -1;
    if (!S_ISDIR(st.st_mode))
        return replay_file(path);
    struct dirent **names = NULL;
    int n = scandir(path, &names, NULL, by_name);
    if (n < 0)
        return -1;
    int rc = 0;
    for (int i = 0; i < n; i++) {
        char child[4096];
        if (names[i]->d_name[0] != '.' &&
            (size_t)snprintf(child, sizeof(child), "%s/%s", path, names[i]->d_name) <
                sizeof(child) &&
            stat(child, &st) == 0 && S_ISREG(st.st_mode) && replay_file(child) != 0)
            rc = -1;
        free(names[i]);
    }
    free(names);
    return rc;
}

int main(int argc, char **argv)
{
    int rc = 0;
    for (int i = 1; i < argc; i++)
        if (replay_path(argv[i]) != 0)
            rc = 1;
    printf("replayed %ld inputs\n", n_files);
    /* An empty replay means the corpus went missing: that is a failure too. */
    return rc == 0 && n_files > 0 ? 0 : 1;
}
