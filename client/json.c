/*
 * json: builds a Report from the JSON a contact point writes by hand.
 *
 * The mapping is strict about shape (unknown keys, wrong types and malformed
 * base64 or hex are errors, reported as "report.field: reason") but does
 * not judge content: an empty title, a bad region code or an unknown
 * category number is passed on as given, because the gateway alone decides
 * what is valid and says so with a stable error code.  Text is taken
 * byte for byte; nothing is trimmed or normalised here.
 *
 * Conveniences for people and scripts:
 *   - client_report_id is generated (a random UUID version 4) when absent;
 *   - situation_file / analysis_file / suggestions_file name a text file
 *     whose bytes become that field;
 *   - an attachment may name a file ("path") instead of carrying
 *     "content_b64"; its name defaults to the file's base name, its media
 *     type to one guessed from the extension, and its sha256 is computed
 *     when "sha256" (64 hex digits) is absent.
 * Relative file names are resolved against base_dir.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "cli_util.h"
#include "client.h"
#include "hex.h"

/* Largest file read for a text field or an attachment.  Anything larger
 * could not travel in one frame anyway. */
#define JSON_FILE_MAX (1u << 20)
#define JSON_SHA256_LEN 32
#define JSON_PATH_MAX 4096
/* Bytes of the list of an enum's names in an error message. */
#define JSON_ENUM_NAMES_MAX 256

struct json_ctx {
    const char *base_dir;
    char *err;
    size_t errlen;
};

static bool fail_at(struct json_ctx *x, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Writes "field: reason" into the error buffer; always returns false so
 * callers can `return fail_at(...)`. */
static bool fail_at(struct json_ctx *x, const char *field, const char *fmt, ...)
{
    int n = snprintf(x->err, x->errlen, "%s: ", field);
    if (n >= 0 && (size_t)n < x->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(x->err + n, x->errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return false;
}

static bool set_bytes(ProtobufCBinaryData *dst, const void *data, size_t len)
{
    free(dst->data);
    dst->data = NULL;
    dst->len = 0;
    if (len == 0)
        return true;
    dst->data = malloc(len);
    if (dst->data == NULL)
        return false;
    memcpy(dst->data, data, len);
    dst->len = len;
    return true;
}

/* A JSON string (which may contain \u0000: the gateway must see it to
 * refuse it) into a bytes field. */
static bool take_string(struct json_ctx *x, const char *field, json_t *v, ProtobufCBinaryData *dst)
{
    if (!json_is_string(v))
        return fail_at(x, field, "must be a string");
    if (!set_bytes(dst, json_string_value(v), json_string_length(v)))
        return fail_at(x, field, "out of memory");
    return true;
}

static bool resolve_path(struct json_ctx *x, const char *field, const char *name, char *out,
                         size_t outlen)
{
    int n;
    if (name[0] == '/' || x->base_dir == NULL || x->base_dir[0] == '\0')
        n = snprintf(out, outlen, "%s", name);
    else
        n = snprintf(out, outlen, "%s/%s", x->base_dir, name);
    if (n < 0 || (size_t)n >= outlen)
        return fail_at(x, field, "file name too long");
    return true;
}

/* Reads a whole file of at most JSON_FILE_MAX bytes into dst. */
static bool read_file_into(struct json_ctx *x, const char *field, const char *name,
                           ProtobufCBinaryData *dst)
{
    char path[JSON_PATH_MAX];
    uint8_t *buf = NULL;
    size_t len = 0;

    if (!resolve_path(x, field, name, path, sizeof(path)))
        return false;
    FILE *fp = fopen(path, "rb");
    if (fp == NULL)
        return fail_at(x, field, "cannot read %s: %s", path, strerror(errno));
    buf = malloc(JSON_FILE_MAX + 1);
    if (buf == NULL) {
        fclose(fp);
        return fail_at(x, field, "out of memory");
    }
    len = fread(buf, 1, JSON_FILE_MAX + 1, fp);
    bool bad = ferror(fp) != 0;
    fclose(fp);
    if (bad) {
        free(buf);
        return fail_at(x, field, "cannot read %s", path);
    }
    if (len > JSON_FILE_MAX) {
        free(buf);
        return fail_at(x, field, "%s is larger than %u bytes", path, JSON_FILE_MAX);
    }
    free(dst->data);
    dst->data = NULL;
    dst->len = len;
    if (len > 0) {
        dst->data = buf;
    } else {
        free(buf);
    }
    return true;
}

/* An enum given by name ("SOCIETY", any case) or by number.  Numbers are
 * passed on unchecked so that the gateway's own check decides. */
static bool take_enum(struct json_ctx *x, const char *field, json_t *v,
                      const ProtobufCEnumDescriptor *desc, int *dst)
{
    if (json_is_integer(v)) {
        json_int_t n = json_integer_value(v);
        if (n < INT32_MIN || n > INT32_MAX)
            return fail_at(x, field, "number out of range");
        *dst = (int)n;
        return true;
    }
    if (!json_is_string(v))
        return fail_at(x, field, "must be a name such as \"%s\" or a number",
                       desc->n_values > 1 ? desc->values[1].name : "X");
    const char *s = json_string_value(v);
    for (unsigned i = 0; i < desc->n_values; i++) {
        if (strcasecmp(desc->values[i].name, s) == 0) {
            *dst = desc->values[i].value;
            return true;
        }
    }
    char names[JSON_ENUM_NAMES_MAX];
    cli_enum_names(desc, names, sizeof(names));
    return fail_at(x, field, "unknown value \"%s\" (one of %s, or a number)", s, names);
}

static bool take_sha256_hex(struct json_ctx *x, const char *field, json_t *v, ProtobufCBinaryData *dst)
{
    uint8_t raw[JSON_SHA256_LEN];
    if (!json_is_string(v) || json_string_length(v) != 2 * JSON_SHA256_LEN)
        return fail_at(x, field, "must be %d hexadecimal digits", 2 * JSON_SHA256_LEN);
    if (!hex_decode(json_string_value(v), raw, sizeof(raw)))
        return fail_at(x, field, "must be %d hexadecimal digits", 2 * JSON_SHA256_LEN);
    if (!set_bytes(dst, raw, sizeof(raw)))
        return fail_at(x, field, "out of memory");
    return true;
}

static bool take_base64(struct json_ctx *x, const char *field, json_t *v, ProtobufCBinaryData *dst)
{
    if (!json_is_string(v))
        return fail_at(x, field, "must be a base64 string");
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (n > (size_t)JSON_FILE_MAX * 2)
        return fail_at(x, field, "too long");
    EVP_ENCODE_CTX *ectx = EVP_ENCODE_CTX_new();
    uint8_t *out = malloc(n / 4 * 3 + 3 + 1);
    int outl = 0, finl = 0;
    bool ok = ectx != NULL && out != NULL;
    if (ok) {
        EVP_DecodeInit(ectx);
        ok = EVP_DecodeUpdate(ectx, out, &outl, (const unsigned char *)s, (int)n) >= 0 &&
             EVP_DecodeFinal(ectx, out + outl, &finl) == 1;
    }
    EVP_ENCODE_CTX_free(ectx);
    if (!ok) {
        free(out);
        return fail_at(x, field, "is not valid base64");
    }
    free(dst->data);
    dst->data = NULL;
    dst->len = (size_t)(outl + finl);
    if (dst->len > 0)
        dst->data = out;
    else
        free(out);
    return true;
}

static const char *guess_media_type(const char *name)
{
    static const struct {
        const char *ext;
        const char *type;
    } table[] = {
        {"pdf", "application/pdf"},
        {"txt", "text/plain"},
        {"csv", "text/csv"},
        {"json", "application/json"},
        {"jpg", "image/jpeg"},
        {"jpeg", "image/jpeg"},
        {"png", "image/png"},
        {"gif", "image/gif"},
        {"doc", "application/msword"},
        {"docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"},
        {"xls", "application/vnd.ms-excel"},
        {"xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"},
        {"ofd", "application/ofd"},
        {"zip", "application/zip"},
    };
    const char *dot = strrchr(name, '.');
    if (dot != NULL) {
        for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
            if (strcasecmp(dot + 1, table[i].ext) == 0)
                return table[i].type;
    }
    return "application/octet-stream";
}

static bool take_attachment(struct json_ctx *x, size_t idx, json_t *obj, Minyi__V1__Attachment *a)
{
    char field[64], sub[96];
    const char *key;
    json_t *v;
    json_t *path = NULL, *b64 = NULL, *hex = NULL;
    bool have_name = false, have_type = false;

    snprintf(field, sizeof(field), "report.attachments[%zu]", idx);
    if (!json_is_object(obj))
        return fail_at(x, field, "must be an object");
    json_object_foreach(obj, key, v) {
        snprintf(sub, sizeof(sub), "%s.%s", field, key);
        if (json_is_null(v))
            continue;
        if (strcmp(key, "name") == 0) {
            if (!take_string(x, sub, v, &a->name))
                return false;
            have_name = true;
        } else if (strcmp(key, "media_type") == 0) {
            if (!take_string(x, sub, v, &a->media_type))
                return false;
            have_type = true;
        } else if (strcmp(key, "path") == 0) {
            if (!json_is_string(v))
                return fail_at(x, sub, "must be a string");
            path = v;
        } else if (strcmp(key, "content_b64") == 0) {
            b64 = v;
        } else if (strcmp(key, "sha256") == 0) {
            hex = v;
        } else {
            return fail_at(x, sub, "unknown key");
        }
    }
    if ((path == NULL) == (b64 == NULL))
        return fail_at(x, field, "needs exactly one of \"path\" and \"content_b64\"");
    if (path != NULL) {
        const char *p = json_string_value(path);
        snprintf(sub, sizeof(sub), "%s.path", field);
        if (!read_file_into(x, sub, p, &a->content))
            return false;
        const char *base = strrchr(p, '/');
        base = base != NULL ? base + 1 : p;
        if (!have_name && !set_bytes(&a->name, base, strlen(base)))
            return fail_at(x, field, "out of memory");
        if (!have_type) {
            const char *t = guess_media_type(base);
            if (!set_bytes(&a->media_type, t, strlen(t)))
                return fail_at(x, field, "out of memory");
        }
    } else {
        snprintf(sub, sizeof(sub), "%s.content_b64", field);
        if (!take_base64(x, sub, b64, &a->content))
            return false;
    }
    if (hex != NULL) {
        snprintf(sub, sizeof(sub), "%s.sha256", field);
        return take_sha256_hex(x, sub, hex, &a->sha256);
    }
    uint8_t md[JSON_SHA256_LEN];
    unsigned int mdlen = 0;
    if (EVP_Digest(a->content.data != NULL ? a->content.data : (uint8_t *)"", a->content.len, md,
                   &mdlen, EVP_sha256(), NULL) != 1 ||
        mdlen != JSON_SHA256_LEN)
        return fail_at(x, field, "cannot compute sha256");
    if (!set_bytes(&a->sha256, md, mdlen))
        return fail_at(x, field, "out of memory");
    return true;
}

static bool take_attachments(struct json_ctx *x, json_t *arr, Minyi__V1__Report *r)
{
    if (!json_is_array(arr))
        return fail_at(x, "report.attachments", "must be an array");
    size_t n = json_array_size(arr);
    if (n == 0)
        return true;
    r->attachments = calloc(n, sizeof(*r->attachments));
    if (r->attachments == NULL)
        return fail_at(x, "report.attachments", "out of memory");
    for (size_t i = 0; i < n; i++) {
        Minyi__V1__Attachment *a = malloc(sizeof(*a));
        if (a == NULL)
            return fail_at(x, "report.attachments", "out of memory");
        minyi__v1__attachment__init(a);
        /* Counted at once so that a failure below frees it with the rest. */
        r->attachments[r->n_attachments++] = a;
        if (!take_attachment(x, i, json_array_get(arr, i), a))
            return false;
    }
    return true;
}

static bool take_reporter(struct json_ctx *x, json_t *obj, Minyi__V1__Report *r)
{
    char sub[96];
    const char *key;
    json_t *v;

    if (!json_is_object(obj))
        return fail_at(x, "report.reporter", "must be an object");
    Minyi__V1__Reporter *rep = malloc(sizeof(*rep));
    if (rep == NULL)
        return fail_at(x, "report.reporter", "out of memory");
    minyi__v1__reporter__init(rep);
    r->reporter = rep;
    json_object_foreach(obj, key, v) {
        snprintf(sub, sizeof(sub), "report.reporter.%s", key);
        if (json_is_null(v))
            continue;
        bool ok;
        if (strcmp(key, "name") == 0)
            ok = take_string(x, sub, v, &rep->name);
        else if (strcmp(key, "unit") == 0)
            ok = take_string(x, sub, v, &rep->unit);
        else if (strcmp(key, "sector") == 0)
            ok = take_string(x, sub, v, &rep->sector);
        else if (strcmp(key, "kind") == 0) {
            int k = 0;
            ok = take_enum(x, sub, v, &minyi__v1__reporter_kind__descriptor, &k);
            rep->kind = (Minyi__V1__ReporterKind)k;
        } else
            ok = fail_at(x, sub, "unknown key");
        if (!ok)
            return false;
    }
    return true;
}

static bool make_uuid(ProtobufCBinaryData *dst)
{
    char text[HEX_UUID_TEXT_LEN + 1];

    return hex_uuid_v4(text) && set_bytes(dst, text, HEX_UUID_TEXT_LEN);
}

/* The three body parts, each given inline or as a file name. */
struct text_key {
    const char *key;
    const char *file_key;
    size_t offset;
};

static const struct text_key text_keys[] = {
    {"situation", "situation_file", offsetof(Minyi__V1__Report, situation)},
    {"analysis", "analysis_file", offsetof(Minyi__V1__Report, analysis)},
    {"suggestions", "suggestions_file", offsetof(Minyi__V1__Report, suggestions)},
};

static bool take_report(struct json_ctx *x, json_t *root, Minyi__V1__Report *r)
{
    char sub[96];
    const char *key;
    json_t *v;

    if (!json_is_object(root))
        return fail_at(x, "report", "must be a JSON object");
    for (size_t i = 0; i < sizeof(text_keys) / sizeof(text_keys[0]); i++) {
        json_t *inl = json_object_get(root, text_keys[i].key);
        json_t *file = json_object_get(root, text_keys[i].file_key);
        if (inl != NULL && !json_is_null(inl) && file != NULL && !json_is_null(file)) {
            snprintf(sub, sizeof(sub), "report.%s", text_keys[i].key);
            return fail_at(x, sub, "give either %s or %s, not both", text_keys[i].key,
                           text_keys[i].file_key);
        }
    }
    json_object_foreach(root, key, v) {
        snprintf(sub, sizeof(sub), "report.%s", key);
        if (json_is_null(v))
            continue;
        bool ok = true, handled = false;
        for (size_t i = 0; i < sizeof(text_keys) / sizeof(text_keys[0]) && !handled; i++) {
            ProtobufCBinaryData *dst = (ProtobufCBinaryData *)((char *)r + text_keys[i].offset);
            if (strcmp(key, text_keys[i].key) == 0) {
                handled = true;
                ok = take_string(x, sub, v, dst);
            } else if (strcmp(key, text_keys[i].file_key) == 0) {
                handled = true;
                ok = json_is_string(v) ? read_file_into(x, sub, json_string_value(v), dst)
                                       : fail_at(x, sub, "must be a file name");
            }
        }
        if (handled) {
            if (!ok)
                return false;
            continue;
        }
        if (strcmp(key, "client_report_id") == 0)
            ok = take_string(x, sub, v, &r->client_report_id);
        else if (strcmp(key, "title") == 0)
            ok = take_string(x, sub, v, &r->title);
        else if (strcmp(key, "region") == 0)
            ok = take_string(x, sub, v, &r->region);
        else if (strcmp(key, "phone") == 0)
            ok = take_string(x, sub, v, &r->phone);
        else if (strcmp(key, "category") == 0) {
            int c = 0;
            ok = take_enum(x, sub, v, &minyi__v1__category__descriptor, &c);
            r->category = (Minyi__V1__Category)c;
        } else if (strcmp(key, "urgency") == 0) {
            int u = 0;
            ok = take_enum(x, sub, v, &minyi__v1__urgency__descriptor, &u);
            r->urgency = (Minyi__V1__Urgency)u;
        } else if (strcmp(key, "reporter") == 0)
            ok = take_reporter(x, v, r);
        else if (strcmp(key, "attachments") == 0)
            ok = take_attachments(x, v, r);
        else
            ok = fail_at(x, sub, "unknown key");
        if (!ok)
            return false;
    }
    if (r->client_report_id.len == 0 && !make_uuid(&r->client_report_id))
        return fail_at(x, "report.client_report_id", "cannot generate a UUID");
    return true;
}

Minyi__V1__Report *client_report_from_json(const char *json_text, const char *base_dir,
                                            char *err, size_t errlen)
{
    struct json_ctx x = {.base_dir = base_dir, .err = err, .errlen = errlen};
    json_error_t je;
    Minyi__V1__Report *r = NULL;

    json_t *root = json_loads(json_text, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
    if (root == NULL) {
        fail_at(&x, "report", "invalid JSON at line %d column %d: %s", je.line, je.column, je.text);
        return NULL;
    }
    r = malloc(sizeof(*r));
    if (r == NULL) {
        fail_at(&x, "report", "out of memory");
        goto fail;
    }
    minyi__v1__report__init(r);
    if (!take_report(&x, root, r))
        goto fail;
    json_decref(root);
    return r;
fail:
    json_decref(root);
    if (r != NULL)
        protobuf_c_message_free_unpacked(&r->base, NULL);
    return NULL;
}
