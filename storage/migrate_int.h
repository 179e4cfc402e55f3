/*
 * migrate_int: the migration files as migrate.c applies and reports them —
 * finding NNNN_name.sql in the migrations directory in the order of their
 * numbers, reading one, and the SHA-256 each applied one is recorded with
 * (migrate_files.c).  All of it runs before the event loop or in
 * `minyid migrate`, so it may block.
 */
#ifndef MINYI_MIGRATE_INT_H
#define MINYI_MIGRATE_INT_H

#include <stdbool.h>
#include <stddef.h>

/* Most migration files in one directory, the largest one, and the longest
 * name. */
#define MIGRATE_MAX_FILES 1000
#define MIGRATE_FILE_MAX (16u << 20)
#define MIGRATE_NAME_MAX 255

/* Hex characters of a SHA-256 checksum. */
#define MIGRATE_SUM_HEX 64

struct migration {
    int version;
    char name[MIGRATE_NAME_MAX + 1];
};

/* The migrations in dir, sorted by number, into a malloc'd *out; false
 * (err says why) when the directory cannot be read, has too many, or two
 * share a number. */
bool migrate_list(const char *dir, struct migration **out, size_t *n_out, char *err,
                  size_t errlen) __attribute__((warn_unused_result));
/* The whole file at path as a malloc'd string, or NULL (err says why). */
char *migrate_read_file(const char *path, char *err, size_t errlen)
    __attribute__((warn_unused_result));
/* The SHA-256 of a migration's text as lower-case hex (the form sha256sum
 * prints, so an operator can compare by hand). */
bool migrate_checksum_text(const char *text, char out[MIGRATE_SUM_HEX + 1], char *err,
                           size_t errlen) __attribute__((warn_unused_result));
/* The checksum of the file dir/name. */
bool migrate_checksum_file(const char *dir, const char *name, char out[MIGRATE_SUM_HEX + 1],
                           char *err, size_t errlen) __attribute__((warn_unused_result));

#endif
