/*
 * paths: see paths.h.  The build passes three paths: the build tree, the
 * source tree's migrations and the installed ones (CMake's install prefix).
 */
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "paths.h"

#ifndef MINYI_SOURCE_CONSOLE
#define MINYI_SOURCE_CONSOLE ""
#endif
#ifndef MINYI_INSTALLED_CONSOLE
#define MINYI_INSTALLED_CONSOLE "/usr/share/minyi/console"
#endif
#ifndef MINYI_BUILD_DIR
#define MINYI_BUILD_DIR ""
#endif
#ifndef MINYI_SOURCE_MIGRATIONS
#define MINYI_SOURCE_MIGRATIONS ""
#endif
#ifndef MINYI_INSTALLED_MIGRATIONS
#define MINYI_INSTALLED_MIGRATIONS "/usr/share/minyi/migrations"
#endif

/* Whether this program's file lies under the build tree it was built in:
 * only then do the source tree's migrations belong to it.  A copy that was
 * installed (or packaged and unpacked elsewhere) uses the installed ones. */
static bool running_from_build_tree(void)
{
    char exe[PATH_MAX], build[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0 || MINYI_BUILD_DIR[0] == '\0' || realpath(MINYI_BUILD_DIR, build) == NULL)
        return false;
    exe[n] = '\0';
    size_t b = strlen(build);
    return strncmp(exe, build, b) == 0 && exe[b] == '/';
}

/* The environment's choice, else the source tree's directory for a minyid
 * in its build tree, else the installed one. */
static void share_default(const char *env_name, const char *source, const char *installed,
                          char *out, size_t len)
{
    const char *env = getenv(env_name);
    if (env != NULL && env[0] != '\0')
        snprintf(out, len, "%s", env);
    else if (source[0] != '\0' && running_from_build_tree())
        snprintf(out, len, "%s", source);
    else
        snprintf(out, len, "%s", installed);
}

void paths_migrations_default(char *out, size_t len)
{
    share_default(PATHS_MIGRATIONS_ENV, MINYI_SOURCE_MIGRATIONS, MINYI_INSTALLED_MIGRATIONS, out,
                  len);
}

void paths_console_default(char *out, size_t len)
{
    share_default(PATHS_CONSOLE_ENV, MINYI_SOURCE_CONSOLE, MINYI_INSTALLED_CONSOLE, out, len);
}
