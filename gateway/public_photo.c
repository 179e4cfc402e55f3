/*
 * public_photo: type by content, size limit, metadata stripped (see
 * public_photo.h).  Both formats are walked segment by segment (JPEG) or
 * chunk by chunk (PNG) and copied with a list of what to keep, so anything
 * unknown is left out rather than let through: a list of what to drop
 * would miss the next metadata format a phone invents.
 */
#include "public_photo.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t png_signature[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };

/* JPEG markers the walk tells apart. */
#define JPEG_SOI 0xd8
#define JPEG_EOI 0xd9
#define JPEG_SOS 0xda
#define JPEG_RST0 0xd0
#define JPEG_RST7 0xd7
#define JPEG_TEM 0x01
#define JPEG_APP0 0xe0
#define JPEG_APP14 0xee
#define JPEG_APP15 0xef
#define JPEG_COM 0xfe

/* Bytes of a PNG chunk around its data: length, type and CRC. */
#define PNG_CHUNK_OVERHEAD 12
/* The largest chunk length the PNG specification allows (2^31 - 1). */
#define PNG_CHUNK_MAX 0x7fffffffu

const char *public_photo_media_type(enum public_photo_type type)
{
    return type == PUBLIC_PHOTO_PNG ? "image/png" : "image/jpeg";
}

enum public_photo_type public_photo_sniff(const uint8_t *in, size_t len)
{
    if (len >= 3 && in[0] == 0xff && in[1] == JPEG_SOI && in[2] == 0xff)
        return PUBLIC_PHOTO_JPEG;
    if (len >= sizeof png_signature && memcmp(in, png_signature, sizeof png_signature) == 0)
        return PUBLIC_PHOTO_PNG;
    return 0;
}

static bool refuse(struct validation_error *err, const char *field, const char *message,
                   const char *message_zh)
{
    err->code = MINYI__V1__ERROR_CODE__INVALID_ARGUMENT;
    snprintf(err->field_buf, sizeof err->field_buf, "%s", field);
    err->field = err->field_buf;
    snprintf(err->message, sizeof err->message, "%s", message);
    snprintf(err->message_zh, sizeof err->message_zh, "%s", message_zh);
    return false;
}

static uint32_t be16(const uint8_t *p) { return (uint32_t)p[0] << 8 | p[1]; }

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Whether an APPn or COM segment whose payload is seg[0..n) stays: the
 * JFIF header (APP0 "JFIF\0") says how to read the pixels' density, and
 * Adobe's APP14 says whether the colours are transformed (without it a
 * CMYK or YCCK picture is drawn in the wrong colours).  Neither holds
 * anything about the sender. */
static bool jpeg_app_kept(uint8_t marker, const uint8_t *seg, size_t n)
{
    if (marker == JPEG_APP0)
        return n >= 5 && memcmp(seg, "JFIF", 5) == 0;
    if (marker == JPEG_APP14)
        return n >= 5 && memcmp(seg, "Adobe", 5) == 0;
    return false;
}

/* The end of the entropy-coded data that starts at p: the position of the
 * next marker that is not a restart marker or a stuffed zero, or len when
 * there is none. */
static size_t jpeg_scan_end(const uint8_t *in, size_t len, size_t p)
{
    while (p + 1 < len) {
        if (in[p] == 0xff && in[p + 1] != 0 && in[p + 1] != 0xff &&
            !(in[p + 1] >= JPEG_RST0 && in[p + 1] <= JPEG_RST7))
            return p;
        p++;
    }
    return len;
}

/* Copies the JPEG in[0..len) without its metadata into out (len bytes). */
static bool jpeg_clean(const uint8_t *in, size_t len, uint8_t *out, size_t *out_len)
{
    size_t pos = 2, n = 0;
    bool scanned = false;

    out[n++] = 0xff;
    out[n++] = JPEG_SOI;
    for (;;) {
        /* Fill bytes (0xff repeated) may come before any marker. */
        while (pos + 1 < len && in[pos] == 0xff && in[pos + 1] == 0xff)
            pos++;
        if (pos + 2 > len || in[pos] != 0xff)
            return false;
        uint8_t marker = in[pos + 1];
        if (marker == JPEG_EOI) {
            if (!scanned)
                return false;
            out[n++] = 0xff;
            out[n++] = JPEG_EOI;
            *out_len = n;  /* anything after the end marker is left out too */
            return true;
        }
        if (marker == JPEG_TEM || (marker >= JPEG_RST0 && marker <= JPEG_RST7)) {
            out[n++] = 0xff;
            out[n++] = marker;
            pos += 2;
            continue;
        }
        if (marker == JPEG_SOI || pos + 4 > len)
            return false;
        size_t seglen = be16(in + pos + 2);
        if (seglen < 2 || seglen > len - pos - 2)
            return false;
        size_t end = pos + 2 + seglen;
        bool metadata = (marker >= JPEG_APP0 && marker <= JPEG_APP15) || marker == JPEG_COM;
        if (!metadata || jpeg_app_kept(marker, in + pos + 4, seglen - 2)) {
            memcpy(out + n, in + pos, end - pos);
            n += end - pos;
        }
        pos = end;
        if (marker == JPEG_SOS) {
            size_t data_end = jpeg_scan_end(in, len, pos);
            if (data_end >= len)
                return false;
            memcpy(out + n, in + pos, data_end - pos);
            n += data_end - pos;
            pos = data_end;
            scanned = true;
        }
    }
}

/* Whether a PNG chunk of this type stays: the critical chunks a decoder
 * needs and the ancillary ones that change how the picture looks. */
static bool png_chunk_kept(const uint8_t type[4])
{
    static const char *const kept[] = {
        "IHDR", "PLTE", "IDAT", "IEND", "tRNS", "gAMA", "cHRM", "sRGB", "sBIT", "bKGD", "pHYs",
    };
    for (size_t i = 0; i < sizeof kept / sizeof kept[0]; i++)
        if (memcmp(type, kept[i], 4) == 0)
            return true;
    return false;
}

static bool png_type_ok(const uint8_t type[4])
{
    for (int i = 0; i < 4; i++)
        if (!((type[i] >= 'A' && type[i] <= 'Z') || (type[i] >= 'a' && type[i] <= 'z')))
            return false;
    return true;
}

/* Copies the PNG in[0..len) without its metadata into out (len bytes).  A
 * critical chunk this code does not know is refused: no viewer could draw
 * the picture anyway. */
static bool png_clean(const uint8_t *in, size_t len, uint8_t *out, size_t *out_len)
{
    size_t pos = sizeof png_signature, n = 0;

    memcpy(out, png_signature, sizeof png_signature);
    n = sizeof png_signature;
    for (;;) {
        if (len - pos < PNG_CHUNK_OVERHEAD)
            return false;
        uint32_t clen = be32(in + pos);
        const uint8_t *type = in + pos + 4;
        if (clen > PNG_CHUNK_MAX || clen > len - pos - PNG_CHUNK_OVERHEAD || !png_type_ok(type))
            return false;
        bool first = pos == sizeof png_signature;
        if (first != (memcmp(type, "IHDR", 4) == 0))
            return false;
        size_t end = pos + PNG_CHUNK_OVERHEAD + clen;
        bool critical = type[0] >= 'A' && type[0] <= 'Z';
        if (png_chunk_kept(type)) {
            memcpy(out + n, in + pos, end - pos);
            n += end - pos;
        } else if (critical) {
            return false;
        }
        pos = end;
        if (memcmp(type, "IEND", 4) == 0) {
            *out_len = n;
            return true;
        }
    }
}

bool public_photo_clean(const uint8_t *in, size_t len, size_t max, const char *field,
                        struct public_photo *out, struct validation_error *err)
{
    char msg[128], msg_zh[128];

    memset(out, 0, sizeof *out);
    if (len > max) {
        snprintf(msg, sizeof msg, "a photo may have at most %zu bytes", max);
        snprintf(msg_zh, sizeof msg_zh, "照片不得超过%zu字节", max);
        return refuse(err, field, msg, msg_zh);
    }
    enum public_photo_type type = public_photo_sniff(in, len);
    if (type == 0)
        return refuse(err, field, "a photo must be a JPEG or PNG image",
                      "照片须为 JPEG 或 PNG 图片");
    uint8_t *buf = malloc(len);
    if (buf == NULL) {
        err->code = MINYI__V1__ERROR_CODE__RESOURCE_EXHAUSTED;
        err->field = "";
        snprintf(err->message, sizeof err->message, "out of memory");
        snprintf(err->message_zh, sizeof err->message_zh, "服务器内存不足");
        return false;
    }
    size_t n = 0;
    bool ok = type == PUBLIC_PHOTO_JPEG ? jpeg_clean(in, len, buf, &n) : png_clean(in, len, buf, &n);
    if (!ok) {
        free(buf);
        return refuse(err, field,
                      type == PUBLIC_PHOTO_JPEG ? "the JPEG image is damaged or incomplete"
                                                : "the PNG image is damaged or incomplete",
                      "图片已损坏或不完整");
    }
    out->type = type;
    out->data = buf;
    out->len = n;
    return true;
}

void public_photo_free(struct public_photo *p)
{
    free(p->data);
    p->data = NULL;
    p->len = 0;
}
