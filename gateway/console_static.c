/*
 * console_static: see console_static.h.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <event2/buffer.h>

#include "console_static.h"

struct static_file {
    char name[64];
    const char *type;
    unsigned char *data;
    size_t len;
};

struct console_static {
    struct static_file files[CONSOLE_STATIC_FILES_MAX];
    int n;
};

static const struct {
    const char *ext;
    const char *type;
} types[] = {
    { ".html", "text/html; charset=utf-8" },
    { ".js", "text/javascript; charset=utf-8" },
    { ".css", "text/css; charset=utf-8" },
    { ".svg", "image/svg+xml" },
    { ".png", "image/png" },
    { ".ico", "image/x-icon" },
};

static const char *type_of(const char *name)
{
    const char *dot = strrchr(name, '.');
    for (size_t i = 0; dot != NULL && i < sizeof(types) / sizeof(types[0]); i++)
        if (strcmp(dot, types[i].ext) == 0)
            return types[i].type;
    return NULL;
}

static bool name_ok(const char *name, size_t max)
{
    size_t n = strlen(name);
    if (n == 0 || n >= max || name[0] == '.')
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = name[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '-' || ch == '_' || ch == '.'))
            return false;
    }
    return true;
}

void console_static_free(struct console_static *st)
{
    if (st == NULL)
        return;
    for (int i = 0; i < st->n; i++)
        free(st->files[i].data);
    free(st);
}

static bool read_one(struct static_file *f, const char *dir, const char *name, size_t *total,
                     char *err, size_t errlen)
{
    char path[4096];
    struct stat sb;
    FILE *fp = NULL;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    fp = fopen(path, "rb");
    if (fp == NULL || fstat(fileno(fp), &sb) != 0) {
        snprintf(err, errlen, "console file %s: %s", path, strerror(errno));
        goto fail;
    }
    if (!S_ISREG(sb.st_mode) || (size_t)sb.st_size > CONSOLE_STATIC_FILE_MAX ||
        *total + (size_t)sb.st_size > CONSOLE_STATIC_TOTAL_MAX) {
        snprintf(err, errlen, "console file %s: not a regular file or too large", path);
        goto fail;
    }
    f->len = (size_t)sb.st_size;
    f->data = malloc(f->len > 0 ? f->len : 1);
    if (f->data == NULL || fread(f->data, 1, f->len, fp) != f->len) {
        snprintf(err, errlen, "console file %s: cannot read", path);
        goto fail;
    }
    snprintf(f->name, sizeof(f->name), "%s", name);
    f->type = type_of(name);
    *total += f->len;
    fclose(fp);
    return true;
fail:
    if (fp != NULL)
        fclose(fp);
    free(f->data);
    f->data = NULL;
    return false;
}

struct console_static *console_static_load(const char *dir, char *err, size_t errlen)
{
    struct console_static *st = calloc(1, sizeof(*st));
    DIR *d = opendir(dir);
    size_t total = 0;
    if (st == NULL || d == NULL) {
        snprintf(err, errlen, "console dir %s: %s", dir, st == NULL ? "out of memory" : strerror(errno));
        goto fail;
    }
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (!name_ok(de->d_name, sizeof(st->files[0].name)) || type_of(de->d_name) == NULL)
            continue;
        if (st->n == CONSOLE_STATIC_FILES_MAX) {
            snprintf(err, errlen, "console dir %s: more than %d files", dir,
                     CONSOLE_STATIC_FILES_MAX);
            goto fail;
        }
        if (!read_one(&st->files[st->n], dir, de->d_name, &total, err, errlen))
            goto fail;
        st->n++;
    }
    closedir(d);
    return st;
fail:
    if (d != NULL)
        closedir(d);
    console_static_free(st);
    return NULL;
}

void console_static_handle(struct console_req *r)
{
    const struct console_static *st = console_files(r);
    const char *name = strcmp(r->path, "/") == 0 ? "index.html" : r->path + 1;
    if (r->method != EVHTTP_REQ_GET) {
        console_fail(r, 405, "INVALID_ARGUMENT", "method", "pages are read with GET",
                     "页面只能以 GET 方式读取");
        return;
    }
    for (int i = 0; st != NULL && i < st->n; i++) {
        const struct static_file *f = &st->files[i];
        if (strcmp(f->name, name) != 0)
            continue;
        struct evbuffer *body = evbuffer_new();
        if (body == NULL || evbuffer_add(body, f->data, f->len) != 0) {
            if (body != NULL)
                evbuffer_free(body);
            console_fail(r, 503, "RESOURCE_EXHAUSTED", "", "out of memory", "服务器内存不足");
            return;
        }
        console_reply(r, 200, f->type, body);
        evbuffer_free(body);
        return;
    }
    console_fail(r, 404, "NOT_FOUND", "path", "no such page", "页面不存在");
}
