/*
 * libFuzzer target for the intake path a peer can reach: decode a frame body
 * with the budgeted decoder and, when it is a submission, validate it.  Any
 * crash, leak or sanitizer report is a bug; so is an accepted report whose
 * stored text is not valid UTF-8, or a rejection without a field.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "utf8.h"
#include "validate.h"

/* Keeps the fuzzer's memory use near what the gateway allows per frame. */
#define FUZZ_MAX_INPUT FRAME_DEFAULT_MAX

static void check_text(const char *s)
{
    if (s == NULL || !utf8_valid((const uint8_t *)s, strlen(s), NULL))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct frame_arena *arena = NULL;
    struct intake_report out;
    struct validation_error err;

    if (size > FUZZ_MAX_INPUT)
        return 0;
    Frame *f = frame_decode(data, size, FRAME_DEFAULT_DECODE_BUDGET, &arena);
    if (f == NULL)
        return 0;
    if (f->body_case == MINYI__V1__FRAME__BODY_SUBMIT && f->submit != NULL) {
        if (validate_report(f->submit->report, NULL, &out, &err)) {
            check_text(out.title);
            check_text(out.situation);
            check_text(out.analysis);
            check_text(out.suggestions);
            check_text(out.reporter_name);
            check_text(out.reporter_unit);
            check_text(out.reporter_sector);
            check_text(out.phone);
            for (size_t i = 0; i < out.n_attachments; i++)
                check_text(out.attachments[i].name);
            intake_report_free(&out);
        } else {
            if (err.field == NULL || err.field[0] == '\0')
                abort();
            check_text(err.message);
            check_text(err.message_zh);
        }
    }
    frame_arena_free(arena);
    return 0;
}
