/*
 * poster: the A4 poster as PNG and SVG (see poster.h).  Both are drawn
 * from one layout: the lines of text and the QR code's place and module
 * size, so the two files show the same page.
 */
#include "poster.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <fontconfig/fontconfig.h>
#include <ft2build.h>
#include FT_FREETYPE_H
#include <png.h>
#include <qrencode.h>

/* The font family asked of fontconfig for the Chinese text. */
#define POSTER_FONT "Noto Sans CJK SC"
/* Modules of white around the QR code, as the QR standard asks. */
#define POSTER_QUIET 4
/* The QR code's side on the page, at most, in pixels. */
#define POSTER_QR_SIDE 760
#define POSTER_QR_TOP 560

struct line {
    const char *text;
    int size_px;       /* the font's size */
    int baseline;      /* y of the baseline */
    bool bold;
};

/* The page's text above and below the QR code.  The contact point's name
 * and the URL are filled in by poster_write. */
enum { L_TITLE, L_NAME, L_CALL, L_URL, L_EXPLAIN1, L_EXPLAIN2, L_EXPLAIN3, L_EXPLAIN4, N_LINES };

static void layout(struct line lines[N_LINES], const char *name, const char *url)
{
    lines[L_TITLE] = (struct line){ "码上商 · 社情民意", 96, 200, true };
    lines[L_NAME] = (struct line){ name, 56, 330, true };
    lines[L_CALL] = (struct line){ "扫一扫，把您看到的问题和建议告诉我们", 44, 460, false };
    lines[L_URL] = (struct line){ url, 18, POSTER_QR_TOP + POSTER_QR_SIDE + 50, false };
    lines[L_EXPLAIN1] = (struct line){ "写下发生了什么、在哪里，可附照片；姓名和电话可以不填。", 34,
                                       1480, false };
    lines[L_EXPLAIN2] = (struct line){ "提交后请记下查询码，凭码查看联系点的回复和办理结果。", 34,
                                       1540, false };
    lines[L_EXPLAIN3] = (struct line){ "您的个人信息加密保存，只有本联系点能看到。", 34, 1600,
                                       false };
    lines[L_EXPLAIN4] = (struct line){ "请勿填写涉及国家秘密的内容。", 34, 1660, false };
}

/* ---- PNG ----------------------------------------------------------------- */

struct canvas {
    uint8_t *px;       /* grey, one byte a pixel, 255 white */
    int w, h;
};

static void fill(struct canvas *c, int x, int y, int w, int h, uint8_t v)
{
    for (int j = y; j < y + h && j < c->h; j++)
        if (j >= 0)
            for (int i = x; i < x + w && i < c->w; i++)
                if (i >= 0)
                    c->px[(size_t)j * (size_t)c->w + (size_t)i] = v;
}

/* The file of the font fontconfig matches for POSTER_FONT (bold or not)
 * into path, with its index in a collection. */
static bool find_font(bool bold, char *path, size_t len, int *index)
{
    bool ok = false;
    FcPattern *p = FcNameParse((const FcChar8 *)POSTER_FONT);
    FcResult res;

    if (p == NULL)
        return false;
    FcPatternAddString(p, FC_LANG, (const FcChar8 *)"zh-cn");
    FcPatternAddInteger(p, FC_WEIGHT, bold ? FC_WEIGHT_BOLD : FC_WEIGHT_REGULAR);
    FcConfigSubstitute(NULL, p, FcMatchPattern);
    FcDefaultSubstitute(p);
    FcPattern *m = FcFontMatch(NULL, p, &res);
    FcChar8 *file = NULL;
    if (m != NULL && FcPatternGetString(m, FC_FILE, 0, &file) == FcResultMatch &&
        strlen((const char *)file) < len) {
        snprintf(path, len, "%s", (const char *)file);
        if (FcPatternGetInteger(m, FC_INDEX, 0, index) != FcResultMatch)
            *index = 0;
        ok = true;
    }
    if (m != NULL)
        FcPatternDestroy(m);
    FcPatternDestroy(p);
    return ok;
}

/* The next code point of UTF-8 text at *s (advanced); 0 at the end.  The
 * texts are the poster's own and the gateway's, valid UTF-8. */
static uint32_t next_cp(const char **s)
{
    const uint8_t *p = (const uint8_t *)*s;
    uint32_t cp;
    int n;

    if (p[0] == 0)
        return 0;
    if (p[0] < 0x80) { cp = p[0]; n = 1; }
    else if ((p[0] & 0xe0) == 0xc0) { cp = p[0] & 0x1f; n = 2; }
    else if ((p[0] & 0xf0) == 0xe0) { cp = p[0] & 0x0f; n = 3; }
    else { cp = p[0] & 0x07; n = 4; }
    for (int i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80) {
            *s += i;
            return 0xfffd;
        }
        cp = cp << 6 | (p[i] & 0x3f);
    }
    *s += n;
    return cp;
}

/* Width in pixels of text at the face's current size. */
static int text_width(FT_Face face, const char *text)
{
    int w = 0;
    uint32_t cp;

    while ((cp = next_cp(&text)) != 0)
        if (FT_Load_Char(face, cp, FT_LOAD_DEFAULT) == 0)
            w += (int)(face->glyph->advance.x >> 6);
    return w;
}

/* Draws text centred on the line's baseline, shrinking it to fit the page. */
static bool draw_line(struct canvas *c, FT_Face face, const struct line *l)
{
    int size = l->size_px;

    FT_Set_Pixel_Sizes(face, 0, (FT_UInt)size);
    while (text_width(face, l->text) > c->w - 80 && size > 8) {
        size -= 2;
        FT_Set_Pixel_Sizes(face, 0, (FT_UInt)size);
    }
    int x = (c->w - text_width(face, l->text)) / 2;
    const char *s = l->text;
    uint32_t cp;
    while ((cp = next_cp(&s)) != 0) {
        if (FT_Load_Char(face, cp, FT_LOAD_RENDER) != 0)
            continue;
        FT_GlyphSlot g = face->glyph;
        for (unsigned r = 0; r < g->bitmap.rows; r++)
            for (unsigned k = 0; k < g->bitmap.width; k++) {
                int px = x + g->bitmap_left + (int)k, py = l->baseline - g->bitmap_top + (int)r;
                if (px < 0 || py < 0 || px >= c->w || py >= c->h)
                    continue;
                uint8_t a = g->bitmap.buffer[r * (unsigned)g->bitmap.pitch + k];
                uint8_t *d = &c->px[(size_t)py * (size_t)c->w + (size_t)px];
                /* Black text over what is there, by the glyph's coverage. */
                *d = (uint8_t)(*d * (255 - a) / 255);
            }
        x += (int)(g->advance.x >> 6);
    }
    return true;
}

static bool draw_text(struct canvas *c, const struct line lines[N_LINES], char *err,
                      size_t errlen)
{
    FT_Library ft = NULL;
    FT_Face faces[2] = { NULL, NULL };
    char path[1024];
    int index = 0;
    bool ok = false;

    if (!FcInit() || FT_Init_FreeType(&ft) != 0) {
        snprintf(err, errlen, "cannot start fontconfig or FreeType");
        return false;
    }
    for (int b = 0; b < 2; b++) {
        if (!find_font(b == 1, path, sizeof path, &index) ||
            FT_New_Face(ft, path, index, &faces[b]) != 0) {
            snprintf(err, errlen, "no font for Chinese text (install fonts-noto-cjk)");
            goto fail;
        }
    }
    for (int i = 0; i < N_LINES; i++)
        if (!draw_line(c, faces[lines[i].bold ? 1 : 0], &lines[i]))
            goto fail;
    ok = true;
fail:
    for (int b = 0; b < 2; b++)
        if (faces[b] != NULL)
            FT_Done_Face(faces[b]);
    FT_Done_FreeType(ft);
    /* One poster per run: fontconfig's configuration goes with it. */
    FcFini();
    return ok;
}

/* The QR code's module size and left and top corners on the page. */
static void qr_place(const QRcode *qr, int *module, int *left, int *top)
{
    int side = qr->width + 2 * POSTER_QUIET;
    *module = POSTER_QR_SIDE / side;
    *left = (POSTER_WIDTH_PX - side * *module) / 2 + POSTER_QUIET * *module;
    *top = POSTER_QR_TOP + POSTER_QUIET * *module;
}

static bool write_png(const char *path, const struct canvas *c, char *err, size_t errlen)
{
    FILE *f = fopen(path, "wb");
    png_structp png = NULL;
    png_infop info = NULL;
    bool ok = false;

    if (f == NULL) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return false;
    }
    png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    info = png != NULL ? png_create_info_struct(png) : NULL;
    if (info == NULL || setjmp(png_jmpbuf(png)) != 0) {
        snprintf(err, errlen, "%s: cannot write the PNG", path);
        goto fail;
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)c->w, (png_uint_32)c->h, 8, PNG_COLOR_TYPE_GRAY,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    /* 150 dots per inch, so it prints as A4. */
    png_set_pHYs(png, info, 5906, 5906, PNG_RESOLUTION_METER);
    png_write_info(png, info);
    for (int y = 0; y < c->h; y++)
        png_write_row(png, c->px + (size_t)y * (size_t)c->w);
    png_write_end(png, info);
    ok = true;
fail:
    png_destroy_write_struct(&png, &info);
    if (fclose(f) != 0 && ok) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        ok = false;
    }
    return ok;
}

static bool poster_png(const QRcode *qr, const struct line lines[N_LINES], const char *path,
                       char *err, size_t errlen)
{
    struct canvas c = { NULL, POSTER_WIDTH_PX, POSTER_HEIGHT_PX };
    int module, left, top;
    bool ok = false;

    c.px = malloc((size_t)c.w * (size_t)c.h);
    if (c.px == NULL) {
        snprintf(err, errlen, "out of memory");
        return false;
    }
    memset(c.px, 255, (size_t)c.w * (size_t)c.h);
    /* A frame around the page's content, for cutting and for the eye. */
    fill(&c, 40, 40, c.w - 80, 6, 0);
    fill(&c, 40, c.h - 46, c.w - 80, 6, 0);
    qr_place(qr, &module, &left, &top);
    for (int y = 0; y < qr->width; y++)
        for (int x = 0; x < qr->width; x++)
            if (qr->data[y * qr->width + x] & 1)
                fill(&c, left + x * module, top + y * module, module, module, 0);
    ok = draw_text(&c, lines, err, errlen) && write_png(path, &c, err, errlen);
    free(c.px);
    return ok;
}

/* ---- SVG ----------------------------------------------------------------- */

/* Text as SVG character data: the markup characters escaped. */
static void svg_text(FILE *f, const char *s)
{
    for (; *s != '\0'; s++) {
        switch (*s) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*s, f); break;
        }
    }
}

static bool poster_svg(const QRcode *qr, const struct line lines[N_LINES], const char *path,
                       char *err, size_t errlen)
{
    int module, left, top;
    FILE *f = fopen(path, "w");

    if (f == NULL) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return false;
    }
    qr_place(qr, &module, &left, &top);
    fprintf(f,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"210mm\" height=\"297mm\""
            " viewBox=\"0 0 %d %d\">\n"
            "<rect width=\"100%%\" height=\"100%%\" fill=\"#fff\"/>\n"
            "<rect x=\"40\" y=\"40\" width=\"%d\" height=\"6\"/>\n"
            "<rect x=\"40\" y=\"%d\" width=\"%d\" height=\"6\"/>\n",
            POSTER_WIDTH_PX, POSTER_HEIGHT_PX, POSTER_WIDTH_PX - 80, POSTER_HEIGHT_PX - 46,
            POSTER_WIDTH_PX - 80);
    /* One path of unit squares, so the code stays sharp at any scale. */
    fprintf(f, "<path fill=\"#000\" d=\"");
    for (int y = 0; y < qr->width; y++)
        for (int x = 0; x < qr->width; x++)
            if (qr->data[y * qr->width + x] & 1)
                fprintf(f, "M%d %dh%dv%dh-%dz", left + x * module, top + y * module, module,
                        module, module);
    fprintf(f, "\"/>\n");
    for (int i = 0; i < N_LINES; i++) {
        fprintf(f,
                "<text x=\"%d\" y=\"%d\" font-family=\"'" POSTER_FONT "', 'Noto Sans CJK',"
                " sans-serif\" font-size=\"%d\"%s text-anchor=\"middle\">",
                POSTER_WIDTH_PX / 2, lines[i].baseline, lines[i].size_px,
                lines[i].bold ? " font-weight=\"bold\"" : "");
        svg_text(f, lines[i].text);
        fputs("</text>\n", f);
    }
    fputs("</svg>\n", f);
    if (ferror(f) != 0 || fclose(f) != 0) {
        snprintf(err, errlen, "%s: cannot write the SVG", path);
        return false;
    }
    return true;
}

bool poster_write(const char *name, const char *url, const char *png_path, const char *svg_path,
                  char *err, size_t errlen)
{
    struct line lines[N_LINES];

    if (strlen(url) > POSTER_URL_MAX) {
        snprintf(err, errlen, "the URL is longer than %d bytes", POSTER_URL_MAX);
        return false;
    }
    /* Level M restores up to 15 % of the code, enough for a scuffed poster
     * while keeping the modules large. */
    QRcode *qr = QRcode_encodeString8bit(url, 0, QR_ECLEVEL_M);
    if (qr == NULL) {
        snprintf(err, errlen, "cannot make the QR code: %s", strerror(errno));
        return false;
    }
    layout(lines, name, url);
    bool ok = (png_path == NULL || poster_png(qr, lines, png_path, err, errlen)) &&
              (svg_path == NULL || poster_svg(qr, lines, svg_path, err, errlen));
    QRcode_free(qr);
    return ok;
}
