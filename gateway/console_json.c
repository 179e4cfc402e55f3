/*
 * console_json: see console_json.h.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "console_json.h"
#include "utf8.h"

/* ---- protobuf -> JSON ---------------------------------------------------- */

static bool is_text(const ProtobufCBinaryData *b)
{
    if (b->len > 0 && !utf8_valid(b->data, b->len, NULL))
        return false;
    for (size_t i = 0; i < b->len; i++)
        if ((b->data[i] < 0x20 && b->data[i] != '\n' && b->data[i] != '\t') || b->data[i] == 0x7f)
            return false;
    return true;
}

static json_t *bytes_json(const ProtobufCBinaryData *b)
{
    if (b->len == 0)
        return json_string("");
    if (is_text(b))
        return json_stringn((const char *)b->data, b->len);
    size_t cap = 4 * ((b->len + 2) / 3) + 1;
    char *text = malloc(cap);
    if (text == NULL)
        return NULL;
    EVP_EncodeBlock((unsigned char *)text, b->data, (int)b->len);
    json_t *o = json_pack("{s:s}", "base64", text);
    free(text);
    return o;
}

static json_t *value_json(const ProtobufCFieldDescriptor *f, const void *p)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        return json_integer(*(const int32_t *)p);
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        return json_integer(*(const uint32_t *)p);
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        return json_integer(*(const int64_t *)p);
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return json_integer((json_int_t) * (const uint64_t *)p);
    case PROTOBUF_C_TYPE_FLOAT:
        return json_real(*(const float *)p);
    case PROTOBUF_C_TYPE_DOUBLE:
        return json_real(*(const double *)p);
    case PROTOBUF_C_TYPE_BOOL:
        return json_boolean(*(const protobuf_c_boolean *)p);
    case PROTOBUF_C_TYPE_ENUM: {
        int v = *(const int *)p;
        const ProtobufCEnumValue *ev =
            protobuf_c_enum_descriptor_get_value((const ProtobufCEnumDescriptor *)f->descriptor, v);
        return ev != NULL ? json_string(ev->name) : json_integer(v);
    }
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char *const *)p;
        return json_string(s != NULL ? s : "");
    }
    case PROTOBUF_C_TYPE_BYTES:
        return bytes_json((const ProtobufCBinaryData *)p);
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessage *m = *(ProtobufCMessage *const *)p;
        return m != NULL ? console_json_from_message(m) : json_null();
    }
    }
    return NULL;
}

static size_t type_size(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_SINT32: case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_FIXED32:
        return 4;
    case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64:
        return 8;
    case PROTOBUF_C_TYPE_FLOAT: return sizeof(float);
    case PROTOBUF_C_TYPE_DOUBLE: return sizeof(double);
    case PROTOBUF_C_TYPE_BOOL: return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_ENUM: return sizeof(int);
    case PROTOBUF_C_TYPE_STRING: return sizeof(char *);
    case PROTOBUF_C_TYPE_BYTES: return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_MESSAGE: return sizeof(ProtobufCMessage *);
    }
    return 0;
}

json_t *console_json_from_message(const ProtobufCMessage *m)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    json_t *o = json_object();
    if (o == NULL)
        return NULL;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        const char *base = (const char *)m;
        const void *p = base + f->offset;
        json_t *v = NULL;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)(base + f->quantifier_offset);
            const char *arr = *(char *const *)p;
            v = json_array();
            for (size_t k = 0; v != NULL && k < n; k++) {
                json_t *e = value_json(f, arr + k * type_size(f->type));
                if (e == NULL || json_array_append_new(v, e) != 0) {
                    json_decref(v);
                    v = NULL;
                }
            }
        } else {
            if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
                if (*(const uint32_t *)(base + f->quantifier_offset) != f->id)
                    continue;
            } else if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->type != PROTOBUF_C_TYPE_MESSAGE &&
                       f->type != PROTOBUF_C_TYPE_STRING) {
                if (!*(const protobuf_c_boolean *)(base + f->quantifier_offset))
                    continue;
            }
            if (f->type == PROTOBUF_C_TYPE_MESSAGE && *(ProtobufCMessage *const *)p == NULL)
                continue;
            v = value_json(f, p);
        }
        if (v == NULL || json_object_set_new(o, f->name, v) != 0) {
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

/* ---- JSON -> protobuf ---------------------------------------------------- */

/* Writes prefix.name (or name) to path; false, so a refusal can return it. */
static bool set_path(char path[CONSOLE_JSON_PATH_MAX], const char *prefix, const char *name)
{
    char tmp[CONSOLE_JSON_PATH_MAX];
    snprintf(tmp, sizeof(tmp), "%s%s%s", prefix, prefix[0] && name[0] ? "." : "", name);
    memcpy(path, tmp, sizeof(tmp));
    return false;
}

static bool json_int_in(const json_t *v, long long lo, long long hi, long long *out)
{
    if (!json_is_integer(v))
        return false;
    json_int_t n = json_integer_value(v);
    if (n < lo || n > hi)
        return false;
    *out = (long long)n;
    return true;
}

static bool read_bytes(const json_t *v, ProtobufCBinaryData *out)
{
    const char *text;
    size_t len;
    if (json_is_string(v)) {
        text = json_string_value(v);
        len = json_string_length(v);
        out->data = malloc(len > 0 ? len : 1);
        if (out->data == NULL)
            return false;
        memcpy(out->data, text, len);
        out->len = len;
        return true;
    }
    const json_t *b = json_is_object(v) && json_object_size(v) == 1 ? json_object_get(v, "base64")
                                                                     : NULL;
    if (!json_is_string(b))
        return false;
    text = json_string_value(b);
    len = json_string_length(b);
    if (len % 4 != 0)
        return false;
    out->data = malloc(len / 4 * 3 + 1);
    if (out->data == NULL)
        return false;
    int n = EVP_DecodeBlock(out->data, (const unsigned char *)text, (int)len);
    if (n < 0) {
        free(out->data);
        out->data = NULL;
        return false;
    }
    /* EVP_DecodeBlock counts the padding as data. */
    size_t pad = len >= 2 && text[len - 1] == '=' ? (text[len - 2] == '=' ? 2 : 1) : 0;
    out->len = (size_t)n - pad;
    return true;
}

static bool read_value(const ProtobufCFieldDescriptor *f, const json_t *v, void *p,
                       char path[CONSOLE_JSON_PATH_MAX])
{
    long long n;
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        if (!json_int_in(v, INT32_MIN, INT32_MAX, &n))
            return set_path(path, "", f->name);
        *(int32_t *)p = (int32_t)n;
        return true;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        if (!json_int_in(v, 0, UINT32_MAX, &n))
            return set_path(path, "", f->name);
        *(uint32_t *)p = (uint32_t)n;
        return true;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        if (!json_int_in(v, INT64_MIN, INT64_MAX, &n))
            return set_path(path, "", f->name);
        *(int64_t *)p = n;
        return true;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        if (!json_int_in(v, 0, INT64_MAX, &n))
            return set_path(path, "", f->name);
        *(uint64_t *)p = (uint64_t)n;
        return true;
    case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_DOUBLE:
        if (!json_is_number(v))
            return set_path(path, "", f->name);
        if (f->type == PROTOBUF_C_TYPE_FLOAT)
            *(float *)p = (float)json_number_value(v);
        else
            *(double *)p = json_number_value(v);
        return true;
    case PROTOBUF_C_TYPE_BOOL:
        if (!json_is_boolean(v))
            return set_path(path, "", f->name);
        *(protobuf_c_boolean *)p = json_is_true(v);
        return true;
    case PROTOBUF_C_TYPE_ENUM: {
        const ProtobufCEnumDescriptor *ed = f->descriptor;
        const ProtobufCEnumValue *ev = NULL;
        if (json_is_string(v))
            ev = protobuf_c_enum_descriptor_get_value_by_name(ed, json_string_value(v));
        else if (json_int_in(v, INT32_MIN, INT32_MAX, &n))
            ev = protobuf_c_enum_descriptor_get_value(ed, (int)n);
        if (ev == NULL)
            return set_path(path, "", f->name);
        *(int *)p = ev->value;
        return true;
    }
    case PROTOBUF_C_TYPE_STRING: {
        if (!json_is_string(v))
            return set_path(path, "", f->name);
        char *s = strdup(json_string_value(v));
        if (s == NULL)
            return set_path(path, "", f->name);
        *(char **)p = s;
        return true;
    }
    case PROTOBUF_C_TYPE_BYTES:
        if (!read_bytes(v, (ProtobufCBinaryData *)p))
            return set_path(path, "", f->name);
        return true;
    case PROTOBUF_C_TYPE_MESSAGE: {
        ProtobufCMessage *m = console_json_to_message(f->descriptor, v, path);
        if (m == NULL) {
            /* path names the field inside (or nothing, when v was not an
             * object at all): put this field's name in front. */
            char inner[CONSOLE_JSON_PATH_MAX];
            memcpy(inner, path, sizeof(inner));
            set_path(path, f->name, inner);
            if (inner[0] == '\0')
                set_path(path, "", f->name);
            return false;
        }
        *(ProtobufCMessage **)p = m;
        return true;
    }
    }
    return set_path(path, "", f->name);
}

ProtobufCMessage *console_json_to_message(const ProtobufCMessageDescriptor *d, const json_t *o,
                                          char path[CONSOLE_JSON_PATH_MAX])
{
    path[0] = '\0';
    if (!json_is_object(o))
        return NULL;
    ProtobufCMessage *m = calloc(1, d->sizeof_message);
    if (m == NULL)
        return NULL;
    protobuf_c_message_init(d, m);
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)o, key, v) {
        const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(d, key);
        char *base = (char *)m;
        if (f == NULL) {
            set_path(path, "", key);
            goto fail;
        }
        if (json_is_null(v))
            continue;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = json_is_array(v) ? json_array_size(v) : 0;
            size_t sz = type_size(f->type);
            if (!json_is_array(v)) {
                set_path(path, "", key);
                goto fail;
            }
            char *arr = n > 0 ? calloc(n, sz) : NULL;
            if (n > 0 && arr == NULL) {
                set_path(path, "", key);
                goto fail;
            }
            *(char **)(base + f->offset) = arr;
            for (size_t k = 0; k < n; k++) {
                /* Count each element as it is read, so a failure frees
                 * exactly the ones that hold something. */
                *(size_t *)(base + f->quantifier_offset) = k + 1;
                if (!read_value(f, json_array_get(v, k), arr + k * sz, path))
                    goto fail;
            }
            *(size_t *)(base + f->quantifier_offset) = n;
            continue;
        }
        /* Two members of one oneof: the first would be lost, not chosen. */
        if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
            *(uint32_t *)(base + f->quantifier_offset) != 0) {
            set_path(path, "", key);
            goto fail;
        }
        if (!read_value(f, v, base + f->offset, path))
            goto fail;
        if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
            *(uint32_t *)(base + f->quantifier_offset) = f->id;
        else if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->type != PROTOBUF_C_TYPE_MESSAGE &&
                 f->type != PROTOBUF_C_TYPE_STRING)
            *(protobuf_c_boolean *)(base + f->quantifier_offset) = 1;
    }
    return m;
fail:
    protobuf_c_message_free_unpacked(m, NULL);
    return NULL;
}
