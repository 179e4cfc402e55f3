/*
 * paths: where an installed or a just-built minyid finds its files.
 */
#ifndef MINYI_PATHS_H
#define MINYI_PATHS_H

#include <stddef.h>

/* The environment variable that overrides the default migrations directory
 * (the [database] migrations_dir option overrides both). */
#define PATHS_MIGRATIONS_ENV "MINYI_MIGRATIONS_DIR"

/*
 * The default migrations directory, written to out (len bytes):
 * $MINYI_MIGRATIONS_DIR when set; else, for a minyid run from the build
 * tree it was built in, the source tree's storage/migrations; else the
 * installed share/minyi/migrations.
 */
void paths_migrations_default(char *out, size_t len);

/* The environment variable that overrides the default directory of the
 * console's pages (the [console] dir option overrides both). */
#define PATHS_CONSOLE_ENV "MINYI_CONSOLE_DIR"

/* The default directory of the console's pages, chosen like the
 * migrations': $MINYI_CONSOLE_DIR, the source tree's console/ for a
 * minyid run from its build tree, else the installed share/minyi/console. */
void paths_console_default(char *out, size_t len);

#endif
