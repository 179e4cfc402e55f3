/*
 * test_public_photo: a public sender's photo loses its metadata (EXIF with
 * GPS, XMP, comments, PNG text and eXIf chunks) and still decodes to the
 * same picture; anything that is not a JPEG or PNG by content is refused
 * with a stable code and the field.  The pictures are real: libjpeg and
 * libpng encode them here, and the metadata is what a phone writes (an
 * EXIF block whose GPS directory holds a latitude and longitude).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jpeglib.h>
#include <png.h>

#include "public_photo.h"

#define W 16
#define H 8
#define FIELD "photos[0]"

/* A TIFF/EXIF block, big-endian, as a phone writes it: IFD0 with one
 * entry (GPSInfo) pointing at a GPS directory holding GPSLatitudeRef "N"
 * and GPSLatitude 30/1 15/1 0/1, and the owner's name as Artist. */
static const uint8_t tiff_gps[] = {
    'M', 'M', 0, 42, 0, 0, 0, 8,
    /* IFD0 at 8: two entries */
    0, 2,
    0x01, 0x3b, 0, 2, 0, 0, 0, 8, 0, 0, 0, 38,          /* Artist, ASCII, 8 bytes at 38 */
    0x88, 0x25, 0, 4, 0, 0, 0, 1, 0, 0, 0, 46,          /* GPSInfo, LONG, IFD at 46 */
    0, 0, 0, 0,                                          /* no next IFD */
    'Z', 'h', 'a', 'n', 'g', 'S', 'a', 0,                /* at 38 */
    /* GPS IFD at 46: two entries */
    0, 2,
    0, 1, 0, 2, 0, 0, 0, 2, 'N', 0, 0, 0,                /* GPSLatitudeRef "N" */
    0, 2, 0, 5, 0, 0, 0, 3, 0, 0, 0, 80,                 /* GPSLatitude, 3 RATIONAL at 80 */
    0, 0, 0, 0,
    0, 0, 0, 30, 0, 0, 0, 1, 0, 0, 0, 15, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1,
};

static const char xmp[] = "http://ns.adobe.com/xap/1.0/\0<x:xmpmeta><exif:GPSLatitude>30,15N"
                          "</exif:GPSLatitude></x:xmpmeta>";

static uint8_t pixel(int x, int y, int c) { return (uint8_t)(x * 13 + y * 29 + c * 71); }

/* A JPEG of W x H from libjpeg, in a malloc'd buffer. */
static uint8_t *make_jpeg(size_t *len)
{
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr jerr;
    unsigned char *buf = NULL;
    unsigned long n = 0;
    uint8_t row[W * 3];

    c.err = jpeg_std_error(&jerr);
    jpeg_create_compress(&c);
    jpeg_mem_dest(&c, &buf, &n);
    c.image_width = W;
    c.image_height = H;
    c.input_components = 3;
    c.in_color_space = JCS_RGB;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, 95, TRUE);
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < H) {
        for (int x = 0; x < W; x++)
            for (int k = 0; k < 3; k++)
                row[x * 3 + k] = pixel(x, (int)c.next_scanline, k);
        JSAMPROW r = row;
        jpeg_write_scanlines(&c, &r, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    *len = n;
    return buf;
}

/* Decodes a JPEG into out (W * H * 3 bytes); false when libjpeg cannot. */
static bool decode_jpeg(const uint8_t *in, size_t len, uint8_t *out)
{
    struct jpeg_decompress_struct d;
    struct jpeg_error_mgr jerr;

    d.err = jpeg_std_error(&jerr);
    jpeg_create_decompress(&d);
    jpeg_mem_src(&d, in, (unsigned long)len);
    if (jpeg_read_header(&d, TRUE) != JPEG_HEADER_OK) {
        jpeg_destroy_decompress(&d);
        return false;
    }
    jpeg_start_decompress(&d);
    bool ok = d.output_width == W && d.output_height == H && d.output_components == 3;
    while (ok && d.output_scanline < H) {
        JSAMPROW r = out + d.output_scanline * W * 3;
        jpeg_read_scanlines(&d, &r, 1);
    }
    jpeg_finish_decompress(&d);
    jpeg_destroy_decompress(&d);
    return ok;
}

/* in with a segment (marker, payload) inserted right after SOI. */
static uint8_t *jpeg_insert(uint8_t *in, size_t *len, uint8_t marker, const void *payload,
                            size_t n)
{
    uint8_t *out = malloc(*len + 4 + n);
    assert_non_null(out);
    memcpy(out, in, 2);
    out[2] = 0xff;
    out[3] = marker;
    out[4] = (uint8_t)((n + 2) >> 8);
    out[5] = (uint8_t)(n + 2);
    memcpy(out + 6, payload, n);
    memcpy(out + 6 + n, in + 2, *len - 2);
    *len += 4 + n;
    free(in);
    return out;
}

static bool contains(const uint8_t *h, size_t hl, const void *needle, size_t nl)
{
    for (size_t i = 0; i + nl <= hl; i++)
        if (memcmp(h + i, needle, nl) == 0)
            return true;
    return false;
}

/* A phone's JPEG: EXIF with GPS (APP1), XMP (APP1), a comment. */
static uint8_t *make_phone_jpeg(size_t *len)
{
    uint8_t exif[6 + sizeof tiff_gps];
    memcpy(exif, "Exif\0\0", 6);
    memcpy(exif + 6, tiff_gps, sizeof tiff_gps);

    uint8_t *j = make_jpeg(len);
    j = jpeg_insert(j, len, 0xfe, "taken by ZhangSa", 16);
    j = jpeg_insert(j, len, 0xe1, xmp, sizeof xmp - 1);
    j = jpeg_insert(j, len, 0xe1, exif, sizeof exif);
    return j;
}

static void test_jpeg_loses_gps_and_keeps_picture(void **state)
{
    size_t len;
    uint8_t before[W * H * 3], after[W * H * 3];
    struct public_photo p;
    struct validation_error err;

    (void)state;
    uint8_t *j = make_phone_jpeg(&len);
    assert_true(contains(j, len, "Exif", 4));
    assert_true(decode_jpeg(j, len, before));

    assert_true(public_photo_clean(j, len, PUBLIC_PHOTO_MAX_DEFAULT, FIELD, &p, &err));
    assert_int_equal(p.type, PUBLIC_PHOTO_JPEG);
    assert_string_equal(public_photo_media_type(p.type), "image/jpeg");
    assert_true(p.len < len);
    assert_false(contains(p.data, p.len, "Exif", 4));
    assert_false(contains(p.data, p.len, "ZhangSa", 7));
    assert_false(contains(p.data, p.len, "GPSLatitude", 11));
    assert_false(contains(p.data, p.len, "\xff\xe1", 2));
    assert_false(contains(p.data, p.len, "\xff\xfe", 2));
    assert_true(contains(p.data, p.len, "JFIF", 4));
    /* The same picture, pixel for pixel: only metadata went. */
    assert_true(decode_jpeg(p.data, p.len, after));
    assert_memory_equal(before, after, sizeof before);
    /* Cleaning a clean photo changes nothing. */
    struct public_photo again;
    assert_true(public_photo_clean(p.data, p.len, PUBLIC_PHOTO_MAX_DEFAULT, FIELD, &again, &err));
    assert_int_equal(again.len, p.len);
    assert_memory_equal(again.data, p.data, p.len);
    public_photo_free(&again);
    public_photo_free(&p);
    free(j);
}

/* Bytes appended after the end marker are where some tools hide a second
 * picture or data; they are left out. */
static void test_jpeg_drops_trailing_data(void **state)
{
    size_t len;
    struct public_photo p;
    struct validation_error err;

    (void)state;
    uint8_t *j = make_jpeg(&len);
    uint8_t *t = malloc(len + 12);
    assert_non_null(t);
    memcpy(t, j, len);
    memcpy(t + len, "GPS 30N120E!", 12);
    assert_true(public_photo_clean(t, len + 12, PUBLIC_PHOTO_MAX_DEFAULT, FIELD, &p, &err));
    assert_false(contains(p.data, p.len, "GPS 30N", 7));
    assert_int_equal(p.len, len);
    public_photo_free(&p);
    free(t);
    free(j);
}

static void test_jpeg_truncated_refused(void **state)
{
    size_t len;
    struct public_photo p;
    struct validation_error err;

    (void)state;
    uint8_t *j = make_phone_jpeg(&len);
    size_t cuts[] = { 3, 5, 30, len / 2, len - 2 };
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        memset(&err, 0, sizeof err);
        assert_false(public_photo_clean(j, cuts[i], PUBLIC_PHOTO_MAX_DEFAULT, FIELD, &p, &err));
        assert_int_equal(err.code, MINYI__V1__ERROR_CODE__INVALID_ARGUMENT);
        assert_string_equal(err.field, FIELD);
        assert_null(p.data);
    }
    free(j);
}

struct membuf {
    uint8_t *data;
    size_t len;
};

static void png_write_mem(png_structp png, png_bytep data, png_size_t n)
{
    struct membuf *m = png_get_io_ptr(png);
    m->data = realloc(m->data, m->len + n);
    assert_non_null(m->data);
    memcpy(m->data + m->len, data, n);
    m->len += n;
}

static void png_flush_mem(png_structp png) { (void)png; }

/* A PNG of W x H from libpng with the metadata a phone or editor adds:
 * tEXt, iTXt, tIME, and eXIf holding the GPS block. */
static uint8_t *make_phone_png(size_t *len)
{
    struct membuf m = { NULL, 0 };
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    uint8_t row[W * 3];

    assert_non_null(png);
    assert_non_null(info);
    png_set_write_fn(png, &m, png_write_mem, png_flush_mem);
    png_set_IHDR(png, info, W, H, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_set_gAMA(png, info, 0.45455);
    png_text text[2];
    memset(text, 0, sizeof text);
    text[0].compression = PNG_TEXT_COMPRESSION_NONE;
    text[0].key = "Author";
    text[0].text = "ZhangSa";
    text[1].compression = PNG_ITXT_COMPRESSION_NONE;
    text[1].key = "XML:com.adobe.xmp";
    text[1].text = "<exif:GPSLatitude>30,15N</exif:GPSLatitude>";
    png_set_text(png, info, text, 2);
    png_time t = { 2026, 12, 3, 8, 0, 0 };
    png_set_tIME(png, info, &t);
    png_set_eXIf_1(png, info, sizeof tiff_gps, (png_bytep)tiff_gps);
    png_write_info(png, info);
    for (int y = 0; y < H; y++) {
        for (int x = 0; x < W; x++)
            for (int k = 0; k < 3; k++)
                row[x * 3 + k] = pixel(x, y, k);
        png_write_row(png, row);
    }
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    *len = m.len;
    return m.data;
}

struct memsrc {
    const uint8_t *data;
    size_t len, pos;
};

static void png_read_mem(png_structp png, png_bytep out, png_size_t n)
{
    struct memsrc *s = png_get_io_ptr(png);
    if (n > s->len - s->pos)
        png_error(png, "short");
    memcpy(out, s->data + s->pos, n);
    s->pos += n;
}

/* Decodes a PNG into out (W * H * 3 bytes); false when libpng cannot. */
static bool decode_png(const uint8_t *in, size_t len, uint8_t *out)
{
    struct memsrc s = { in, len, 0 };
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    volatile bool ok = false;

    if (setjmp(png_jmpbuf(png)) == 0) {
        png_set_read_fn(png, &s, png_read_mem);
        png_read_info(png, info);
        if (png_get_image_width(png, info) == W && png_get_image_height(png, info) == H) {
            for (int y = 0; y < H; y++)
                png_read_row(png, out + y * W * 3, NULL);
            png_read_end(png, NULL);
            ok = true;
        }
    }
    png_destroy_read_struct(&png, &info, NULL);
    return ok;
}

static void test_png_loses_text_and_exif(void **state)
{
    size_t len;
    uint8_t before[W * H * 3], after[W * H * 3];
    struct public_photo p;
    struct validation_error err;

    (void)state;
    uint8_t *g = make_phone_png(&len);
    assert_true(contains(g, len, "eXIf", 4));
    assert_true(contains(g, len, "ZhangSa", 7));
    assert_true(decode_png(g, len, before));

    assert_true(public_photo_clean(g, len, PUBLIC_PHOTO_MAX_DEFAULT, FIELD, &p, &err));
    assert_int_equal(p.type, PUBLIC_PHOTO_PNG);
    assert_false(contains(p.data, p.len, "eXIf", 4));
    assert_false(contains(p.data, p.len, "tEXt", 4));
    assert_false(contains(p.data, p.len, "iTXt", 4));
    assert_false(contains(p.data, p.len, "tIME", 4));
    assert_false(contains(p.data, p.len, "ZhangSa", 7));
    assert_false(contains(p.data, p.len, "GPSLatitude", 11));
    assert_true(contains(p.data, p.len, "gAMA", 4));
    assert_true(decode_png(p.data, p.len, after));
    assert_memory_equal(before, after, sizeof before);
    public_photo_free(&p);
    free(g);
}

static void test_png_broken_refused(void **state)
{
    size_t len;
    struct public_photo p;
    struct validation_error err;

    (void)state;
    uint8_t *g = make_phone_png(&len);
    /* Cut short, so IEND is missing. */
    assert_false(public_photo_clean(g, len - 12, PUBLIC_PHOTO_MAX_DEFAULT, FIELD, &p, &err));
    assert_int_equal(err.code, MINYI__V1__ERROR_CODE__INVALID_ARGUMENT);
    assert_string_equal(err.field, FIELD);
    /* A chunk length running past the end. */
    g[8] = 0x7f;
    assert_false(public_photo_clean(g, len, PUBLIC_PHOTO_MAX_DEFAULT, FIELD, &p, &err));
    assert_string_equal(err.field, FIELD);
    free(g);
}

/* What is not a picture by content is refused, whatever it claims to be:
 * a script, a PDF, an SVG (which can carry script), a GIF, nothing. */
static void test_not_an_image_refused(void **state)
{
    static const char *const others[] = {
        "<script>alert(1)</script>",
        "%PDF-1.7\n1 0 obj",
        "<svg xmlns=\"http://www.w3.org/2000/svg\"><script>x()</script></svg>",
        "GIF89a\x01\x00\x01\x00",
        "\xff\xd8",
        "",
    };
    struct public_photo p;
    struct validation_error err;

    (void)state;
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
        memset(&err, 0, sizeof err);
        assert_false(public_photo_clean((const uint8_t *)others[i], strlen(others[i]),
                                        PUBLIC_PHOTO_MAX_DEFAULT, FIELD, &p, &err));
        assert_int_equal(err.code, MINYI__V1__ERROR_CODE__INVALID_ARGUMENT);
        assert_string_equal(err.field, FIELD);
        assert_non_null(strstr(err.message, "JPEG or PNG"));
        assert_non_null(strstr(err.message_zh, "JPEG"));
    }
}

/* The size is checked before the content is looked at or copied. */
static void test_too_large_refused_first(void **state)
{
    size_t len;
    struct public_photo p;
    struct validation_error err;

    (void)state;
    uint8_t *j = make_phone_jpeg(&len);
    assert_false(public_photo_clean(j, len, len - 1, FIELD, &p, &err));
    assert_int_equal(err.code, MINYI__V1__ERROR_CODE__INVALID_ARGUMENT);
    assert_string_equal(err.field, FIELD);
    assert_non_null(strstr(err.message, "at most"));
    assert_true(public_photo_clean(j, len, len, FIELD, &p, &err));
    public_photo_free(&p);
    free(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jpeg_loses_gps_and_keeps_picture),
        cmocka_unit_test(test_jpeg_drops_trailing_data),
        cmocka_unit_test(test_jpeg_truncated_refused),
        cmocka_unit_test(test_png_loses_text_and_exif),
        cmocka_unit_test(test_png_broken_refused),
        cmocka_unit_test(test_not_an_image_refused),
        cmocka_unit_test(test_too_large_refused_first),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
