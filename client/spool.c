/*
 * spool: submissions kept on disk until the gateway has them (see spool.h).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "hex.h"
#include "spool.h"

#define SPOOL_WAITING ".req"
#define SPOOL_REFUSED ".refused"
#define SPOOL_TMP ".tmp"
/* Largest entry read back: far above any frame a gateway accepts, small
 * enough that a damaged file cannot make us allocate without bound. */
#define SPOOL_FILE_MAX (64u << 20)
/* What decoding an entry may allocate, per byte of the entry. */
#define SPOOL_DECODE_FACTOR 4
#define SPOOL_DIR_MODE 0700
#define SPOOL_FILE_MODE 0600
#define SPOOL_DERIVE_TAG "minyi client_report_id v1"

static bool fail(char *err, size_t errlen, const char *what, const char *path)
{
    snprintf(err, errlen, "spool: %s %s: %s", what, path, strerror(errno));
    return false;
}

static bool entry_path(const char *dir, const char *crid, const char *suffix, char *out,
                       size_t len)
{
    int n = snprintf(out, len, "%s/%s%s", dir, crid, suffix);
    return n >= 0 && (size_t)n < len;
}

/* A rename or an unlink is durable only once the directory is synced. */
static bool sync_dir(const char *dir, char *err, size_t errlen)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return fail(err, errlen, "cannot open", dir);
    bool ok = fsync(fd) == 0;
    int saved = errno;
    close(fd);
    errno = saved;
    return ok || fail(err, errlen, "cannot sync", dir);
}

/* Creates the spool directory on first use and syncs its parent, so the
 * directory itself survives a crash as well as the entry in it. */
static bool ensure_dir(const char *dir, char *err, size_t errlen)
{
    char parent[PATH_MAX];
    if (mkdir(dir, SPOOL_DIR_MODE) != 0) {
        if (errno == EEXIST)
            return true;
        return fail(err, errlen, "cannot create", dir);
    }
    int n = snprintf(parent, sizeof(parent), "%s", dir);
    if (n < 0 || (size_t)n >= sizeof(parent))
        return fail(err, errlen, "name too long:", dir);
    char *slash = strrchr(parent, '/');
    if (slash == NULL)
        strcpy(parent, ".");
    else if (slash == parent)
        parent[1] = '\0';
    else
        *slash = '\0';
    return sync_dir(parent, err, errlen);
}

static bool write_all(int fd, const uint8_t *p, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return false;
        }
        p += w;
        len -= (size_t)w;
    }
    return true;
}

bool spool_put(const char *dir, const char *crid, const Frame *req, char *err, size_t errlen)
{
    char tmp[PATH_MAX], final[PATH_MAX], tmpname[SPOOL_CRID_LEN + 64];
    uint8_t *buf = NULL;
    size_t len = 0;
    int fd = -1;
    bool ok = false;

    snprintf(tmpname, sizeof(tmpname), ".%s.%ld", crid, (long)getpid());
    if (!entry_path(dir, tmpname, SPOOL_TMP, tmp, sizeof(tmp)) ||
        !entry_path(dir, crid, SPOOL_WAITING, final, sizeof(final))) {
        snprintf(err, errlen, "spool: directory name too long: %s", dir);
        return false;
    }
    if (!ensure_dir(dir, err, errlen))
        return false;
    Frame copy = *req;
    copy.id = 0;
    buf = frame_encode(&copy, &len);
    if (buf == NULL) {
        snprintf(err, errlen, "spool: out of memory");
        goto fail;
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, SPOOL_FILE_MODE);
    if (fd < 0) {
        fail(err, errlen, "cannot create", tmp);
        goto fail;
    }
    if (!write_all(fd, buf, len) || fsync(fd) != 0) {
        fail(err, errlen, "cannot write", tmp);
        goto fail;
    }
    if (close(fd) != 0) {
        fd = -1;
        fail(err, errlen, "cannot write", tmp);
        goto fail;
    }
    fd = -1;
    if (rename(tmp, final) != 0) {
        fail(err, errlen, "cannot rename into", final);
        goto fail;
    }
    ok = sync_dir(dir, err, errlen);
fail:
    if (fd >= 0)
        close(fd);
    if (!ok)
        unlink(tmp);
    free(buf);
    return ok;
}

Frame *spool_load(const char *dir, const char *crid, struct frame_arena **arena, char *err,
                  size_t errlen)
{
    char path[PATH_MAX];
    uint8_t *buf = NULL;
    Frame *f = NULL;
    struct stat st;

    *arena = NULL;
    if (!entry_path(dir, crid, SPOOL_WAITING, path, sizeof(path))) {
        snprintf(err, errlen, "spool: directory name too long: %s", dir);
        return NULL;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fail(err, errlen, "cannot open", path);
        return NULL;
    }
    if (fstat(fd, &st) != 0) {
        fail(err, errlen, "cannot read", path);
        goto fail;
    }
    if (st.st_size < FRAME_HEADER_LEN || (uint64_t)st.st_size > SPOOL_FILE_MAX) {
        snprintf(err, errlen, "spool: %s is not a spooled request (size %lld)", path,
                 (long long)st.st_size);
        goto fail;
    }
    size_t len = (size_t)st.st_size, got = 0;
    buf = malloc(len);
    if (buf == NULL) {
        snprintf(err, errlen, "spool: out of memory");
        goto fail;
    }
    while (got < len) {
        ssize_t r = read(fd, buf + got, len - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            fail(err, errlen, "cannot read", path);
            goto fail;
        }
        got += (size_t)r;
    }
    if (frame_peek_len(buf) != len - FRAME_HEADER_LEN) {
        snprintf(err, errlen, "spool: %s is damaged (its length does not match)", path);
        goto fail;
    }
    size_t budget = len * SPOOL_DECODE_FACTOR;
    if (budget < FRAME_DEFAULT_DECODE_BUDGET)
        budget = FRAME_DEFAULT_DECODE_BUDGET;
    f = frame_decode(buf + FRAME_HEADER_LEN, len - FRAME_HEADER_LEN, budget, arena);
    if (f == NULL)
        snprintf(err, errlen, "spool: %s is damaged (not a frame)", path);
fail:
    close(fd);
    free(buf);
    return f;
}

bool spool_remove(const char *dir, const char *crid, char *err, size_t errlen)
{
    char path[PATH_MAX];
    bool removed = false;
    const char *suffixes[] = {SPOOL_WAITING, SPOOL_REFUSED};
    for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
        if (!entry_path(dir, crid, suffixes[i], path, sizeof(path))) {
            snprintf(err, errlen, "spool: directory name too long: %s", dir);
            return false;
        }
        if (unlink(path) == 0)
            removed = true;
        else if (errno != ENOENT)
            return fail(err, errlen, "cannot remove", path);
    }
    return !removed || sync_dir(dir, err, errlen);
}

bool spool_mark_refused(const char *dir, const char *crid, char *err, size_t errlen)
{
    char from[PATH_MAX], to[PATH_MAX];
    if (!entry_path(dir, crid, SPOOL_WAITING, from, sizeof(from)) ||
        !entry_path(dir, crid, SPOOL_REFUSED, to, sizeof(to))) {
        snprintf(err, errlen, "spool: directory name too long: %s", dir);
        return false;
    }
    if (rename(from, to) != 0)
        return fail(err, errlen, "cannot rename", from);
    return sync_dir(dir, err, errlen);
}

bool spool_crid_ok(const uint8_t *s, size_t len)
{
    if (s == NULL || len != SPOOL_CRID_LEN)
        return false;
    for (size_t i = 0; i < SPOOL_CRID_LEN; i++) {
        uint8_t c = s[i];
        bool dash_pos = i == 8 || i == 13 || i == 18 || i == 23;
        bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
        if (dash_pos ? c != '-' : !hex)
            return false;
    }
    return true;
}

/* True when name is CRID + suffix with a well-formed CRID, copied out. */
static bool entry_name(const char *name, const char *suffix, char crid[SPOOL_CRID_LEN + 1])
{
    size_t n = strlen(name), s = strlen(suffix);
    if (n != SPOOL_CRID_LEN + s || strcmp(name + SPOOL_CRID_LEN, suffix) != 0 ||
        !spool_crid_ok((const uint8_t *)name, SPOOL_CRID_LEN))
        return false;
    memcpy(crid, name, SPOOL_CRID_LEN);
    crid[SPOOL_CRID_LEN] = '\0';
    return true;
}

/* A temporary file ".CRID.PID.tmp" whose writer is no longer running was
 * left by a crash before its rename: the submission it held was never
 * acknowledged as spooled, so it is dropped. */
static void drop_stale_tmp(const char *dir, const char *name)
{
    size_t n = strlen(name), s = strlen(SPOOL_TMP);
    if (name[0] != '.' || n <= s + SPOOL_CRID_LEN + 2 || strcmp(name + n - s, SPOOL_TMP) != 0)
        return;
    const char *pid_text = name + 1 + SPOOL_CRID_LEN + 1;
    char *end;
    long pid = strtol(pid_text, &end, 10);
    if (end != name + n - s || pid <= 0 || (kill((pid_t)pid, 0) != 0 && errno == ESRCH)) {
        char path[PATH_MAX];
        int len = snprintf(path, sizeof(path), "%s/%s", dir, name);
        if (len > 0 && (size_t)len < sizeof(path))
            unlink(path);
    }
}

static int entry_cmp(const void *a, const void *b)
{
    const struct spool_entry *x = a, *y = b;
    if (x->spooled_at_ms != y->spooled_at_ms)
        return x->spooled_at_ms < y->spooled_at_ms ? -1 : 1;
    return strcmp(x->crid, y->crid);
}

bool spool_list(const char *dir, struct spool_entry **out, size_t *n, char *err, size_t errlen)
{
    struct spool_entry *v = NULL;
    size_t count = 0, cap = 0;
    struct dirent *de;

    *out = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (d == NULL)
        return errno == ENOENT || fail(err, errlen, "cannot read", dir);
    while ((de = readdir(d)) != NULL) {
        struct spool_entry e = {0};
        if (entry_name(de->d_name, SPOOL_WAITING, e.crid))
            e.refused = false;
        else if (entry_name(de->d_name, SPOOL_REFUSED, e.crid))
            e.refused = true;
        else {
            drop_stale_tmp(dir, de->d_name);
            continue;
        }
        struct stat st;
        if (fstatat(dirfd(d), de->d_name, &st, 0) != 0)
            continue; /* removed meanwhile by another minyi */
        e.spooled_at_ms = (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
        if (count == cap) {
            size_t ncap = cap == 0 ? 16 : cap * 2;
            struct spool_entry *nv = realloc(v, ncap * sizeof(*nv));
            if (nv == NULL) {
                closedir(d);
                free(v);
                snprintf(err, errlen, "spool: out of memory");
                return false;
            }
            v = nv;
            cap = ncap;
        }
        v[count++] = e;
    }
    closedir(d);
    if (count > 1)
        qsort(v, count, sizeof(*v), entry_cmp);
    *out = v;
    *n = count;
    return true;
}

/* SHA-256 of the certificate's DER form: the principal the gateway will
 * see, however the PEM file is laid out. */
static bool cert_fingerprint(const char *path, uint8_t md[EVP_MAX_MD_SIZE], unsigned *mdlen,
                             char *err, size_t errlen)
{
    FILE *fp = fopen(path, "r");
    if (fp == NULL)
        return fail(err, errlen, "cannot read the certificate", path);
    X509 *x = PEM_read_X509(fp, NULL, NULL, NULL);
    fclose(fp);
    bool ok = x != NULL && X509_digest(x, EVP_sha256(), md, mdlen) == 1;
    X509_free(x);
    if (!ok)
        snprintf(err, errlen, "spool: %s holds no certificate", path);
    return ok;
}

bool spool_derive_crid(const struct client_profile *p, const char *receipt,
                       const Minyi__V1__Report *r, char out[SPOOL_CRID_LEN + 1], char *err,
                       size_t errlen)
{
    uint8_t fp[EVP_MAX_MD_SIZE], md[EVP_MAX_MD_SIZE];
    unsigned fplen = 0, mdlen = 0;
    uint8_t *packed = NULL;
    EVP_MD_CTX *ctx = NULL;
    bool ok = false;

    if (p->cert[0] == '\0') {
        snprintf(err, errlen, "spool: the profile names no certificate (cert)");
        return false;
    }
    if (!cert_fingerprint(p->cert, fp, &fplen, err, errlen))
        return false;
    Minyi__V1__Report copy = *r;
    copy.client_report_id.data = NULL;
    copy.client_report_id.len = 0;
    size_t len = protobuf_c_message_get_packed_size(&copy.base);
    packed = malloc(len > 0 ? len : 1);
    ctx = EVP_MD_CTX_new();
    if (packed == NULL || ctx == NULL) {
        snprintf(err, errlen, "spool: out of memory");
        goto fail;
    }
    protobuf_c_message_pack(&copy.base, packed);
    /* Each part is preceded by its length, so no two different inputs
     * run together into the same bytes. */
    uint64_t lens[3] = {fplen, strlen(receipt), len};
    ok = EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
         EVP_DigestUpdate(ctx, SPOOL_DERIVE_TAG, sizeof(SPOOL_DERIVE_TAG)) == 1 &&
         EVP_DigestUpdate(ctx, &lens[0], sizeof(lens[0])) == 1 &&
         EVP_DigestUpdate(ctx, fp, fplen) == 1 &&
         EVP_DigestUpdate(ctx, &lens[1], sizeof(lens[1])) == 1 &&
         EVP_DigestUpdate(ctx, receipt, lens[1]) == 1 &&
         EVP_DigestUpdate(ctx, &lens[2], sizeof(lens[2])) == 1 &&
         EVP_DigestUpdate(ctx, packed, len) == 1 && EVP_DigestFinal_ex(ctx, md, &mdlen) == 1;
    if (!ok) {
        snprintf(err, errlen, "spool: cannot compute SHA-256");
        goto fail;
    }
    /* A UUID of version 8 (RFC 9562: made by the application's own rule)
     * from the first 16 bytes of the hash. */
    md[6] = (uint8_t)((md[6] & 0x0f) | 0x80);
    md[8] = (uint8_t)((md[8] & 0x3f) | 0x80);
    hex_uuid_format(md, out);
fail:
    EVP_MD_CTX_free(ctx);
    free(packed);
    return ok;
}
