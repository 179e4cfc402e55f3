/*
 * intake: ownership of a validated report on its way to storage.
 */
#include "intake.h"

#include <stdlib.h>
#include <string.h>
#include <string.h>

/*
 * Frees every buffer the report owns, but not the struct itself (it may live
 * on the stack or inside another object; a heap-allocated report is freed by
 * its owner afterwards).  Leaves the struct zeroed, so a second call, or a
 * call on a report that was never filled, is harmless.
 */
void intake_report_free(struct intake_report *r)
{
    if (r == NULL)
        return;
    free(r->title);
    free(r->situation);
    free(r->analysis);
    free(r->suggestions);
    free(r->reporter_name);
    free(r->reporter_unit);
    free(r->reporter_sector);
    free(r->phone);
    for (size_t i = 0; r->attachments != NULL && i < r->n_attachments; i++) {
        free(r->attachments[i].name);
        free(r->attachments[i].media_type);
        free(r->attachments[i].content);
    }
    free(r->attachments);
    memset(r, 0, sizeof *r);
}
