/*
 * profile: reads a client profile (INI, [client] section) with libinih.
 *
 * Unknown sections and keys are refused rather than ignored, so a typo such
 * as "sever_name" is reported instead of silently disabling a setting.
 * Relative file names are resolved against the directory of the profile,
 * so a profile and its certificates can be moved together.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "addrlist.h"
#include "client.h"

#define PROFILE_DEFAULT_HOST "127.0.0.1"
#define PROFILE_DEFAULT_PORT "7443"
#define PROFILE_DEFAULT_TIMEOUT_MS 10000
#define PROFILE_MAX_TIMEOUT_MS (24 * 60 * 60 * 1000)

struct profile_ctx {
    struct client_profile *p;
    char dir[PATH_MAX];
    char *err;
    size_t errlen;
    bool failed;
};

/* Copies a value into a fixed field; false when it does not fit. */
static bool copy_field(char *dst, size_t dstlen, const char *value)
{
    size_t n = strlen(value);
    if (n >= dstlen)
        return false;
    memcpy(dst, value, n + 1);
    return true;
}

/* Copies a file name, prefixing the profile's directory unless it is
 * absolute.  An empty value stays empty (e.g. no client certificate). */
static bool copy_path(const struct profile_ctx *ctx, char *dst, size_t dstlen, const char *value)
{
    if (value[0] == '\0' || value[0] == '/')
        return copy_field(dst, dstlen, value);
    int n = snprintf(dst, dstlen, "%s/%s", ctx->dir, value);
    return n >= 0 && (size_t)n < dstlen;
}

/* The default spool: beside the profile, named after it without its
 * extension, so that several profiles in one directory (a contact point's
 * and an editor's) never share one. */
static bool default_spool(const char *dir, const char *path, char *out, size_t len)
{
    const char *base = strrchr(path, '/');
    base = base != NULL ? base + 1 : path;
    const char *dot = strrchr(base, '.');
    int stem = dot != NULL && dot != base ? (int)(dot - base) : (int)strlen(base);
    int n = snprintf(out, len, "%s/%.*s.spool", dir, stem, base);
    return n >= 0 && (size_t)n < len;
}

static int on_option(void *user, const char *section, const char *name, const char *value)
{
    struct profile_ctx *ctx = user;
    struct client_profile *p = ctx->p;
    bool ok;

    if (ctx->failed)
        return 0;
    if (strcmp(section, "client") != 0) {
        snprintf(ctx->err, ctx->errlen, "unknown section [%s]", section);
        ctx->failed = true;
        return 0;
    }
    if (strcmp(name, "host") == 0) {
        ok = copy_field(p->host, sizeof(p->host), value);
    } else if (strcmp(name, "port") == 0) {
        ok = copy_field(p->port, sizeof(p->port), value);
    } else if (strcmp(name, "ca") == 0) {
        ok = copy_path(ctx, p->ca, sizeof(p->ca), value);
    } else if (strcmp(name, "cert") == 0) {
        ok = copy_path(ctx, p->cert, sizeof(p->cert), value);
    } else if (strcmp(name, "key") == 0) {
        ok = copy_path(ctx, p->key, sizeof(p->key), value);
    } else if (strcmp(name, "spool") == 0) {
        ok = copy_path(ctx, p->spool, sizeof(p->spool), value);
    } else if (strcmp(name, "server_name") == 0) {
        ok = copy_field(p->server_name, sizeof(p->server_name), value);
    } else if (strcmp(name, "timeout_ms") == 0) {
        char *end;
        errno = 0;
        long v = strtol(value, &end, 10);
        ok = errno == 0 && end != value && *end == '\0' && v > 0 && v <= PROFILE_MAX_TIMEOUT_MS;
        if (ok)
            p->timeout_ms = (int)v;
        else {
            snprintf(ctx->err, ctx->errlen, "timeout_ms must be a number of milliseconds from 1 to %d",
                     PROFILE_MAX_TIMEOUT_MS);
            ctx->failed = true;
            return 0;
        }
    } else {
        snprintf(ctx->err, ctx->errlen, "unknown key %s in [client]", name);
        ctx->failed = true;
        return 0;
    }
    if (!ok) {
        snprintf(ctx->err, ctx->errlen, "value of %s is too long", name);
        ctx->failed = true;
        return 0;
    }
    return 1;
}

bool client_profile_load(const char *path, struct client_profile *p, char *err, size_t errlen)
{
    struct profile_ctx ctx = {.p = p, .err = err, .errlen = errlen};
    char resolved[PATH_MAX];
    char why[256] = "";

    memset(p, 0, sizeof(*p));
    strcpy(p->host, PROFILE_DEFAULT_HOST);
    strcpy(p->port, PROFILE_DEFAULT_PORT);
    p->timeout_ms = PROFILE_DEFAULT_TIMEOUT_MS;

    if (realpath(path, resolved) == NULL) {
        snprintf(err, errlen, "profile %s: %s", path, strerror(errno));
        return false;
    }
    char *slash = strrchr(resolved, '/');
    if (slash != NULL)
        *slash = '\0';
    strcpy(ctx.dir, resolved[0] != '\0' ? resolved : "/");

    ctx.err = why;
    ctx.errlen = sizeof(why);
    int rc = ini_parse(path, on_option, &ctx);
    if (ctx.failed) {
        snprintf(err, errlen, "profile %s: %s", path, why);
        return false;
    }
    if (rc < 0) {
        snprintf(err, errlen, "profile %s: cannot read it", path);
        return false;
    }
    if (rc > 0) {
        snprintf(err, errlen, "profile %s: syntax error on line %d", path, rc);
        return false;
    }
    if (p->ca[0] == '\0') {
        snprintf(err, errlen, "profile %s: ca is required", path);
        return false;
    }
    /* With a list of gateways (or a port in host) and no server_name, each
     * address is checked against the gateway's certificate as it is tried
     * (client_connect). */
    if (p->server_name[0] == '\0' && !addrlist_is_list(p->host))
        strcpy(p->server_name, p->host);
    if (p->spool[0] == '\0' && !default_spool(ctx.dir, path, p->spool, sizeof(p->spool))) {
        snprintf(err, errlen, "profile %s: the spool's directory name is too long", path);
        return false;
    }
    return true;
}
