/*
 * webkit: one HTTPS request to a test gateway's console ([console] port),
 * as a browser sends it, with a test certificate or none — for the
 * integration tests that check the console's door from C (the browser
 * tests drive Chromium instead).
 */
#ifndef MINYI_TEST_WEBKIT_H
#define MINYI_TEST_WEBKIT_H

#include <stdbool.h>
#include <stddef.h>

#include "harness.h"

#define TWEB_HEADERS_MAX 8192        /* bytes of an answer's header block kept */
#define TWEB_BODY_MAX (8u << 20)     /* bytes of an answer's body read at most */

struct tweb_answer {
    int status;                      /* HTTP status; -1 when there was no answer */
    char headers[TWEB_HEADERS_MAX];  /* the header block, lines ending in \r\n */
    char *body;                      /* NUL-terminated, malloc'd; NULL without an answer */
    size_t body_len;
    char err[256];                   /* why there was no answer */
};

/* Sends method path (with extra_headers, "Name: value\r\n" lines, and body,
 * both may be NULL) over a new TLS 1.3 connection to gw's console, with
 * certname's certificate (NULL: none), and reads the answer until the
 * server closes (Connection: close).  Returns a->status. */
int tweb_call(const struct tgw *gw, const char *certname, const char *method, const char *path,
              const char *extra_headers, const char *body, struct tweb_answer *a);
/* The value of header name in a (case-insensitive), copied into out;
 * false when absent. */
bool tweb_header(const struct tweb_answer *a, const char *name, char *out, size_t len);
void tweb_answer_free(struct tweb_answer *a);

/* An answer read as it streams (server-sent events). */
struct tweb_stream;
/* Sends GET path with certname's certificate and keeps the connection;
 * NULL (printed) when it cannot be opened or the answer is not 200. */
struct tweb_stream *tweb_stream_open(const struct tgw *gw, const char *certname, const char *path);
/* Reads until the bytes received contain needle or timeout_ms pass; true
 * when it was found (what was read before it stays consumed). */
bool tweb_stream_wait(struct tweb_stream *st, const char *needle, int timeout_ms);
void tweb_stream_close(struct tweb_stream *st);
/* A TLS connection to gw's console with certname's certificate, nothing
 * sent; NULL (printed) when it cannot be made. */
struct tweb_stream *tweb_stream_connect(const struct tgw *gw, const char *certname);
/* Sends text on st as it is (a request kept alive, or a part of one);
 * false when the connection is closed. */
bool tweb_stream_send(struct tweb_stream *st, const char *text);
/* Sends text one byte every gap_ms, reading whatever comes back; returns
 * how many bytes went out before the server closed the connection, or -1
 * when all of them did and it is still open. */
int tweb_stream_trickle(struct tweb_stream *st, const char *text, int gap_ms);
/* Reads until the server closes the connection (true) or timeout_ms pass. */
bool tweb_stream_closed(struct tweb_stream *st, int timeout_ms);

#endif
