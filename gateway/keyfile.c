/*
 * keyfile: refuse secret key files that others may read.
 */
#include "keyfile.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* The check looks at the file already opened rather than at the path, so
 * the file checked is the file read even if the path is replaced meanwhile. */
bool keyfile_check_private(int fd, const char *path, char *err, size_t errlen)
{
    struct stat st;

    if (fstat(fd, &st) != 0) {
        snprintf(err, errlen, "key file %s: %s", path, strerror(errno));
        return false;
    }
    if ((st.st_mode & KEYFILE_FORBIDDEN_MODE) != 0) {
        snprintf(err, errlen,
                 "key file %s has mode %04o: group or others may access it; "
                 "make it private to its owner (chmod 600 %s)",
                 path, (unsigned)(st.st_mode & 07777), path);
        return false;
    }
    return true;
}
