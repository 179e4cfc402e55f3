/*
 * poster: the printable 码上商 poster of a contact point — an A4 page with
 * its name, a short explanation in Chinese and the QR code of its public
 * form's URL (which carries the signed token).  The same page is written
 * as PNG (for printing as it is) and SVG (for a print shop, scalable).
 * The QR code comes from libqrencode, the PNG from libpng, and the text in
 * the PNG is drawn by FreeType with a Chinese font fontconfig finds
 * (Debian's fonts-noto-cjk).
 */
#ifndef MINYI_POSTER_H
#define MINYI_POSTER_H

#include <stdbool.h>
#include <stddef.h>

/* A4 at 150 dots per inch: 210 x 297 mm. */
#define POSTER_WIDTH_PX 1240
#define POSTER_HEIGHT_PX 1754
/* The longest URL a poster carries (the QR code stays easy to scan). */
#define POSTER_URL_MAX 512

/* Writes the poster of the contact point named name with the QR code of
 * url to png_path and/or svg_path (NULL: not that one).  False with a
 * reason in err. */
bool poster_write(const char *name, const char *url, const char *png_path, const char *svg_path,
                  char *err, size_t errlen) __attribute__((warn_unused_result));

#endif
