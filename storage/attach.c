/*
 * attach: attachments from the database's answers into protocol messages
 * (see attach.h).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "attach.h"
#include "hex.h"

/* A JSON string copied into a bytes field (empty stays NULL). */
static bool take_text(const json_t *x, const char *key, ProtobufCBinaryData *out)
{
    const json_t *v = json_object_get(x, key);
    if (!json_is_string(v))
        return false;
    size_t n = json_string_length(v);
    out->len = 0;
    out->data = NULL;
    if (n == 0)
        return true;
    out->data = malloc(n);
    if (out->data == NULL)
        return false;
    memcpy(out->data, json_string_value(v), n);
    out->len = n;
    return true;
}

/* A hex string decoded into a bytes field (hex.h). */
static bool take_hex(const json_t *x, const char *key, ProtobufCBinaryData *out)
{
    const json_t *v = json_object_get(x, key);
    out->len = 0;
    out->data = NULL;
    if (!json_is_string(v))
        return false;
    size_t n = json_string_length(v);
    if (n == 0)
        return true;
    if (n % 2 != 0)
        return false;
    out->data = malloc(n / 2);
    if (out->data == NULL)
        return false;
    if (!hex_decode(json_string_value(v), out->data, n / 2)) {
        free(out->data);
        out->data = NULL;
        return false;
    }
    out->len = n / 2;
    return true;
}

bool attach_show_list(const json_t *arr, Minyi__V1__ShowResponse *m)
{
    size_t n = json_array_size(arr);
    if (n == 0)
        return true;
    m->attachments = calloc(n, sizeof *m->attachments);
    if (m->attachments == NULL)
        return false;
    for (size_t i = 0; i < n; i++) {
        const json_t *x = json_array_get(arr, i);
        Minyi__V1__AttachmentInfo *a = malloc(sizeof *a);
        if (a == NULL)
            return false;
        minyi__v1__attachment_info__init(a);
        /* Counted at once, so that a failure below frees it with the rest. */
        m->attachments[m->n_attachments++] = a;
        json_int_t idx = json_integer_value(json_object_get(x, "index"));
        json_int_t size = json_integer_value(json_object_get(x, "size"));
        if (idx < 0 || size < 0 || !take_text(x, "name", &a->name) ||
            !take_text(x, "media_type", &a->media_type) || !take_hex(x, "sha256", &a->sha256))
            return false;
        a->index = (uint32_t)idx;
        a->size = (uint64_t)size;
    }
    return true;
}

bool attach_fill(const json_t *x, Minyi__V1__Attachment *a)
{
    return take_text(x, "name", &a->name) && take_text(x, "media_type", &a->media_type) &&
           take_hex(x, "sha256", &a->sha256) && take_hex(x, "content", &a->content);
}

bool attach_report_list(const json_t *arr, Minyi__V1__Report *r)
{
    size_t n = json_array_size(arr);
    if (n == 0)
        return true;
    r->attachments = calloc(n, sizeof *r->attachments);
    if (r->attachments == NULL)
        return false;
    for (size_t i = 0; i < n; i++) {
        Minyi__V1__Attachment *a = malloc(sizeof *a);
        if (a == NULL)
            return false;
        minyi__v1__attachment__init(a);
        r->attachments[r->n_attachments++] = a;
        if (!attach_fill(json_array_get(arr, i), a))
            return false;
    }
    return true;
}
