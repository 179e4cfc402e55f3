/*
 * migrate_files: the migration files themselves (see migrate_int.h).
 */
#include "migrate_int.h"
#include "hex.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

static int migration_cmp(const void *a, const void *b)
{
    const struct migration *x = a, *y = b;

    if (x->version != y->version)
        return x->version < y->version ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* NNNN_*.sql: four digits, an underscore, and ".sql" at the end. */
static bool migration_name(const char *name, int *version)
{
    size_t n = strlen(name);
    int i, v = 0;

    if (n < 9 || n > MIGRATE_NAME_MAX || name[4] != '_' || strcmp(name + n - 4, ".sql") != 0)
        return false;
    for (i = 0; i < 4; i++) {
        if (name[i] < '0' || name[i] > '9')
            return false;
        v = v * 10 + (name[i] - '0');
    }
    *version = v;
    return true;
}

bool migrate_list(const char *dir, struct migration **out, size_t *n_out, char *err,
                  size_t errlen)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    struct migration *list = NULL;
    size_t n = 0, i;

    if (!d) {
        snprintf(err, errlen, "cannot open migrations directory %s: %s", dir, strerror(errno));
        return false;
    }
    list = calloc(MIGRATE_MAX_FILES, sizeof *list);
    if (!list) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    while ((e = readdir(d)) != NULL) {
        int v;
        if (!migration_name(e->d_name, &v))
            continue;
        if (n == MIGRATE_MAX_FILES) {
            snprintf(err, errlen, "more than %d migrations in %s", MIGRATE_MAX_FILES, dir);
            goto fail;
        }
        list[n].version = v;
        snprintf(list[n].name, sizeof list[n].name, "%s", e->d_name);
        n++;
    }
    qsort(list, n, sizeof *list, migration_cmp);
    for (i = 1; i < n; i++) {
        if (list[i].version == list[i - 1].version) {
            snprintf(err, errlen, "two migrations numbered %04d: %s and %s", list[i].version,
                     list[i - 1].name, list[i].name);
            goto fail;
        }
    }
    closedir(d);
    *out = list;
    *n_out = n;
    return true;
fail:
    free(list);
    closedir(d);
    return false;
}

char *migrate_read_file(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t n;

    if (!f) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    buf = malloc(MIGRATE_FILE_MAX + 1);
    if (!buf) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    n = fread(buf, 1, MIGRATE_FILE_MAX + 1, f);
    if (ferror(f) || n > MIGRATE_FILE_MAX) {
        snprintf(err, errlen, "cannot read %s (or it is larger than %u bytes)", path,
                 MIGRATE_FILE_MAX);
        goto fail;
    }
    buf[n] = '\0';
    fclose(f);
    return buf;
fail:
    free(buf);
    fclose(f);
    return NULL;
}

/* The SHA-256 of a migration file's text as lower-case hex (the form
 * sha256sum prints, so an operator can compare by hand). */
bool migrate_checksum_text(const char *text, char out[MIGRATE_SUM_HEX + 1], char *err,
                           size_t errlen)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    if (EVP_Digest(text, strlen(text), md, &md_len, EVP_sha256(), NULL) != 1 ||
        md_len * 2 != MIGRATE_SUM_HEX) {
        snprintf(err, errlen, "cannot compute a SHA-256 checksum");
        return false;
    }
    hex_encode(md, md_len, out);
    return true;
}

/* The checksum of the file dir/name. */
bool migrate_checksum_file(const char *dir, const char *name, char out[MIGRATE_SUM_HEX + 1],
                           char *err, size_t errlen)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    char *text = migrate_read_file(path, err, errlen);
    if (text == NULL)
        return false;
    bool ok = migrate_checksum_text(text, out, err, errlen);
    free(text);
    return ok;
}
