/*
 * cli_triage_build: turns a parsed command line of the editors' commands
 * into the request it sends (see cli_triage.h): the frame, the messages it
 * points to, and the texts read from files (--situation-file and friends).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_triage.h"
#include "cli_util.h"
#include "level.h"

static ProtobufCBinaryData opt_bytes(const char *s)
{
    return frame_bytes(s != NULL ? s : "");
}

bool cli_triage_read_text(const char *path, const char *field, ProtobufCBinaryData *dst,
                          uint8_t **owned, char *err, size_t errlen)
{
    FILE *fp = fopen(path, "rb");
    if (fp == NULL)
        return cli_fail(err, errlen, "%s: cannot read %s: %s", field, path, strerror(errno));
    uint8_t *buf = malloc(CLI_TRIAGE_TEXT_FILE_MAX + 1);
    if (buf == NULL) {
        fclose(fp);
        return cli_fail(err, errlen, "%s: out of memory", field);
    }
    size_t n = fread(buf, 1, CLI_TRIAGE_TEXT_FILE_MAX + 1, fp);
    bool bad = ferror(fp) != 0;
    fclose(fp);
    if (bad) {
        free(buf);
        return cli_fail(err, errlen, "%s: cannot read %s", field, path);
    }
    if (n > CLI_TRIAGE_TEXT_FILE_MAX) {
        free(buf);
        return cli_fail(err, errlen, "%s: %s is larger than %u bytes", field, path,
                    CLI_TRIAGE_TEXT_FILE_MAX);
    }
    *owned = buf;
    dst->data = buf;
    dst->len = n;
    return true;
}

/* An inline text or the contents of a file. */
static bool edit_text(const char *inline_text, const char *file, const char *field,
                      ProtobufCBinaryData *dst, uint8_t **owned, char *err, size_t errlen)
{
    if (file != NULL)
        return cli_triage_read_text(file, field, dst, owned, err, errlen);
    *dst = opt_bytes(inline_text);
    return true;
}

bool cli_triage_build(const struct cli_triage_args *a, struct cli_triage_request *r, char *err,
                      size_t errlen)
{
    memset(r, 0, sizeof(*r));
    r->frame = (Frame)MINYI__V1__FRAME__INIT;
    r->filter = (Minyi__V1__QueueFilter)MINYI__V1__QUEUE_FILTER__INIT;
    r->queue = (Minyi__V1__QueueRequest)MINYI__V1__QUEUE_REQUEST__INIT;
    r->show = (Minyi__V1__ShowRequest)MINYI__V1__SHOW_REQUEST__INIT;
    r->claim = (Minyi__V1__ClaimRequest)MINYI__V1__CLAIM_REQUEST__INIT;
    r->renew = (Minyi__V1__RenewRequest)MINYI__V1__RENEW_REQUEST__INIT;
    r->release = (Minyi__V1__ReleaseRequest)MINYI__V1__RELEASE_REQUEST__INIT;
    r->edit = (Minyi__V1__EditRequest)MINYI__V1__EDIT_REQUEST__INIT;
    r->decide = (Minyi__V1__DecideRequest)MINYI__V1__DECIDE_REQUEST__INIT;
    r->watch = (Minyi__V1__WatchRequest)MINYI__V1__WATCH_REQUEST__INIT;
    r->attachment = (Minyi__V1__AttachmentRequest)MINYI__V1__ATTACHMENT_REQUEST__INIT;
    r->instruct = (Minyi__V1__InstructRequest)MINYI__V1__INSTRUCT_REQUEST__INIT;
    r->respond = (Minyi__V1__ExternalResponseRequest)MINYI__V1__EXTERNAL_RESPONSE_REQUEST__INIT;
    Frame *f = &r->frame;
    ProtobufCBinaryData receipt = opt_bytes(a->receipt);

    switch (a->cmd) {
    case CLI_TRIAGE_QUEUE:
        /* The arrays live in *a, which outlives the request. */
        r->filter.n_states = a->n_states;
        r->filter.states = (Minyi__V1__ReportState *)a->states;
        r->filter.n_categories = a->n_categories;
        r->filter.categories = (Minyi__V1__Category *)a->categories;
        r->filter.urgency = a->urgency;
        r->filter.region_prefix = opt_bytes(a->region);
        r->filter.contact_point_id = a->contact_point_id;
        r->filter.received_from_ms = a->from_ms;
        r->filter.received_to_ms = a->to_ms;
        r->filter.claimed_by_me = a->mine;
        r->filter.text = opt_bytes(a->text);
        r->filter.overdue_only = a->overdue;
        r->filter.dead_deliveries_only = a->dead;
        r->queue.filter = &r->filter;
        r->queue.limit = a->limit;
        r->queue.cursor = opt_bytes(a->cursor);
        f->body_case = MINYI__V1__FRAME__BODY_QUEUE;
        f->queue = &r->queue;
        r->answer = MINYI__V1__FRAME__BODY_QUEUE_OK;
        return true;
    case CLI_TRIAGE_SHOW:
        r->show.receipt = receipt;
        r->show.version = a->version;
        r->show.diff = a->diff;
        f->body_case = MINYI__V1__FRAME__BODY_SHOW;
        f->show = &r->show;
        r->answer = MINYI__V1__FRAME__BODY_SHOW_OK;
        return true;
    case CLI_TRIAGE_CLAIM:
        r->claim.receipt = receipt;
        r->claim.lease_seconds = a->lease_seconds;
        f->body_case = MINYI__V1__FRAME__BODY_CLAIM;
        f->claim = &r->claim;
        r->answer = MINYI__V1__FRAME__BODY_CLAIM_OK;
        return true;
    case CLI_TRIAGE_RENEW:
        r->renew.receipt = receipt;
        r->renew.lease_seconds = a->lease_seconds;
        f->body_case = MINYI__V1__FRAME__BODY_RENEW;
        f->renew = &r->renew;
        r->answer = MINYI__V1__FRAME__BODY_CLAIM_OK;
        return true;
    case CLI_TRIAGE_RELEASE:
        r->release.receipt = receipt;
        f->body_case = MINYI__V1__FRAME__BODY_RELEASE;
        f->release = &r->release;
        r->answer = MINYI__V1__FRAME__BODY_OK;
        return true;
    case CLI_TRIAGE_EDIT:
        r->edit.receipt = receipt;
        r->edit.title = opt_bytes(a->title);
        r->edit.category = a->category;
        r->edit.note = opt_bytes(a->note);
        f->body_case = MINYI__V1__FRAME__BODY_EDIT;
        f->edit = &r->edit;
        r->answer = MINYI__V1__FRAME__BODY_EDIT_OK;
        return edit_text(a->situation, a->situation_file, "situation", &r->edit.situation,
                         &r->owned[0], err, errlen) &&
               edit_text(a->analysis, a->analysis_file, "analysis", &r->edit.analysis,
                         &r->owned[1], err, errlen) &&
               edit_text(a->suggestions, a->suggestions_file, "suggestions",
                         &r->edit.suggestions, &r->owned[2], err, errlen);
    case CLI_TRIAGE_ADOPT:
    case CLI_TRIAGE_REJECT:
    case CLI_TRIAGE_RETURN:
    case CLI_TRIAGE_MERGE:
    case CLI_TRIAGE_FORWARD:
        r->decide.receipt = receipt;
        r->decide.note = opt_bytes(a->note);
        r->decide.decision = a->cmd == CLI_TRIAGE_ADOPT    ? MINYI__V1__DECISION__ADOPT
                             : a->cmd == CLI_TRIAGE_REJECT ? MINYI__V1__DECISION__REJECT
                             : a->cmd == CLI_TRIAGE_RETURN ? MINYI__V1__DECISION__RETURN
                             : a->cmd == CLI_TRIAGE_MERGE  ? MINYI__V1__DECISION__MERGE
                                                           : MINYI__V1__DECISION__FORWARD;
        r->decide.into_receipt = opt_bytes(a->into);
        r->decide.instruction = opt_bytes(a->instruction);
        r->decide.instruction_level = opt_bytes(a->level);
        for (size_t i = 0; i < a->n_destinations; i++)
            r->destinations[i] = frame_bytes(a->destinations[i]);
        r->decide.n_destinations = a->n_destinations;
        r->decide.destinations = a->n_destinations > 0 ? r->destinations : NULL;
        r->decide.document_number = opt_bytes(a->document_number);
        r->decide.document_date_ms = a->document_date_ms;
        f->body_case = MINYI__V1__FRAME__BODY_DECIDE;
        f->decide = &r->decide;
        r->answer = MINYI__V1__FRAME__BODY_DECIDE_OK;
        return true;
    case CLI_TRIAGE_WATCH:
        f->body_case = MINYI__V1__FRAME__BODY_WATCH;
        f->watch = &r->watch;
        r->answer = MINYI__V1__FRAME__BODY_OK;
        return true;
    case CLI_TRIAGE_INSTRUCT:
        r->instruct.receipt = receipt;
        r->instruct.level = (Minyi__V1__InstructionLevel)level_parse(a->level);
        r->instruct.leader = opt_bytes(a->leader);
        r->instruct.text = opt_bytes(a->text);
        r->instruct.given_at_ms = a->given_at_ms;
        r->instruct.on_paper = a->on_paper;
        f->body_case = MINYI__V1__FRAME__BODY_INSTRUCT;
        f->instruct = &r->instruct;
        r->answer = MINYI__V1__FRAME__BODY_DECIDE_OK;
        return true;
    case CLI_TRIAGE_RESPOND:
        r->respond.receipt = receipt;
        r->respond.destination = opt_bytes(a->destinations[0]);
        r->respond.kind = a->response_kind;
        r->respond.text = opt_bytes(a->text);
        r->respond.level = a->level != NULL
                               ? (Minyi__V1__InstructionLevel)level_parse(a->level)
                               : MINYI__V1__INSTRUCTION_LEVEL__INSTRUCTION_LEVEL_UNSPECIFIED;
        r->respond.leader = opt_bytes(a->leader);
        r->respond.responded_at_ms = a->given_at_ms;
        f->body_case = MINYI__V1__FRAME__BODY_EXTERNAL_RESPONSE;
        f->external_response = &r->respond;
        r->answer = MINYI__V1__FRAME__BODY_DECIDE_OK;
        return true;
    case CLI_TRIAGE_ATTACHMENT:
        r->attachment.receipt = receipt;
        r->attachment.index = a->index;
        f->body_case = MINYI__V1__FRAME__BODY_ATTACHMENT;
        f->attachment = &r->attachment;
        r->answer = MINYI__V1__FRAME__BODY_ATTACHMENT_OK;
        return true;
    case CLI_TRIAGE_N_CMDS:
        break;
    }
    abort(); /* cli_triage_parse only yields the commands above */
}

void cli_triage_request_free(struct cli_triage_request *r)
{
    for (size_t i = 0; i < sizeof(r->owned) / sizeof(r->owned[0]); i++) {
        free(r->owned[i]);
        r->owned[i] = NULL;
    }
}

