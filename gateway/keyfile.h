/*
 * keyfile: the rule every secret key file of the gateway obeys (the key
 * that seals personal fields, the key that signs the audit chain): only its
 * owner may read or write it.
 */
#ifndef MINYI_KEYFILE_H
#define MINYI_KEYFILE_H

#include <stdbool.h>
#include <stddef.h>

/* Permission bits a key file must not have: any access by group or others. */
#define KEYFILE_FORBIDDEN_MODE 0077

/* Checks the open file fd (named path in messages).  False, with a message
 * naming the file and its mode, when group or others have any access to it. */
bool keyfile_check_private(int fd, const char *path, char *err, size_t errlen)
    __attribute__((warn_unused_result));

#endif
