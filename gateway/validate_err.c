/*
 * validate_err: how the validators name a broken rule — the field's
 * protocol path and Chinese label, and a sentence in English and in
 * Chinese that starts with them (see validate_err.h).
 */
#include "validate_err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "utf8.h"

/*
 * snprintf may cut a message inside a multi-byte character; the message goes
 * out in an Error frame whose text must itself be valid UTF-8, so drop the
 * incomplete tail.
 */
static void trim_utf8(char *buf)
{
    size_t bad;

    if (!utf8_valid((const uint8_t *)buf, strlen(buf), &bad))
        buf[bad] = '\0';
}

/*
 * Fills err with the code, the field and both messages, each a sentence
 * that starts with the field's name (English) or label (Chinese).
 */
static void set_error(struct validation_error *err, int code, const struct validate_field *f,
                      const char *reason_en, const char *reason_zh)
{
    char zh_label[64];

    err->code = code;
    if (f->index >= 0) {
        snprintf(err->field_buf, sizeof err->field_buf, "report.attachments[%ld]%s",
                 f->index, f->path);
        snprintf(zh_label, sizeof zh_label, "附件[%ld]%s", f->index, f->zh);
        err->field = err->field_buf;
    } else {
        snprintf(zh_label, sizeof zh_label, "%s", f->zh);
        err->field = f->path;
    }
    snprintf(err->message, sizeof err->message, "%s %s", err->field, reason_en);
    snprintf(err->message_zh, sizeof err->message_zh, "%s%s", zh_label, reason_zh);
    trim_utf8(err->message);
    trim_utf8(err->message_zh);
}

/*
 * Records a broken rule (INVALID_ARGUMENT) and returns false, so checks can
 * end in `return validate_reject(...)`.  Both formats receive the same arguments in
 * the same order.
 */
bool validate_reject(struct validation_error *err, const struct validate_field *f,
                     const char *en_fmt, const char *zh_fmt, ...)
{
    char en[160], zh[160];
    va_list ap, ap2;

    va_start(ap, zh_fmt);
    va_copy(ap2, ap);
    vsnprintf(en, sizeof en, en_fmt, ap);
    vsnprintf(zh, sizeof zh, zh_fmt, ap2);
    va_end(ap2);
    va_end(ap);
    trim_utf8(en);
    trim_utf8(zh);
    set_error(err, MINYI__V1__ERROR_CODE__INVALID_ARGUMENT, f, en, zh);
    return false;
}

/* For failures that are ours, not the client's (memory, OpenSSL). */
bool validate_reject_internal(struct validation_error *err, const struct validate_field *f,
                              const char *reason_en, const char *reason_zh)
{
    set_error(err, MINYI__V1__ERROR_CODE__INTERNAL, f, reason_en, reason_zh);
    return false;
}

bool validate_reject_nomem(struct validation_error *err, const struct validate_field *f)
{
    return validate_reject_internal(err, f, "could not be processed: server out of memory",
                                    "无法处理：服务器内存不足");
}
