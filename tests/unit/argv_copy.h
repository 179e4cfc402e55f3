/*
 * argv_copy: a writable argv for the command-line parser tests.  getopt
 * permutes argv, so each parse gets a fresh copy, "minyi" first.
 */
#ifndef MINYI_TEST_ARGV_COPY_H
#define MINYI_TEST_ARGV_COPY_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define ARGV_COPY_MAX 64

struct argv_copy {
    int argc;
    char *argv[ARGV_COPY_MAX];
};

/* Copies the NULL-terminated args after "minyi". */
static inline void make_argv(struct argv_copy *c, const char *const *args)
{
    c->argc = 0;
    c->argv[c->argc++] = strdup("minyi");
    for (size_t i = 0; args[i] != NULL; i++) {
        assert_true(c->argc < ARGV_COPY_MAX - 1);
        c->argv[c->argc++] = strdup(args[i]);
    }
    c->argv[c->argc] = NULL;
}

static inline void free_argv(struct argv_copy *c)
{
    for (int i = 0; i < c->argc; i++)
        free(c->argv[i]);
}

#endif
