/*
 * cli_inbox: the 码上商 commands of the `minyi` CLI (see cli_inbox.h).
 * Each sends its requests on fresh connections.  convert first reads each
 * message (inbox show) and pre-fills the report from them: what happened
 * and where as the situation, the sender as a 群众 reporter (named when
 * they gave a name), their phone, their photos as attachments.  Its
 * client_report_id is derived from the messages' ids, so running the same
 * convert again is a retry that never makes a second report.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "cli_inbox.h"
#include "cli_util.h"
#include "client_err.h"
#include "hex.h"
#include "poster.h"

/* Messages one report may be made of (the gateway's INBOX_CONVERT_MAX). */
#define CONVERT_MAX 10
/* Attachments a report may carry (the gateway's VALIDATE_ATTACHMENTS_MAX). */
#define ATTACH_MAX 4
/* The title pre-filled from the first message, in code points at most. */
#define TITLE_PREFILL_CP 30
/* The reporter's unit when the contact point gives none. */
#define CITIZEN_UNIT "群众来信（码上商）"
#define CITIZEN_NAME "群众"
/* Bounds the situation text built from the messages. */
#define SITUATION_MAX (64 * 1024)

enum cmd { C_LIST, C_SHOW, C_REPLY, C_DISMISS, C_CONVERT, C_POSTER, N_CMDS };

enum iopt {
    I_PROFILE = 256,
    I_JSON,
    I_STATUS,
    I_LIMIT,
    I_CURSOR,
    I_PHOTOS,
    I_TEXT,
    I_REASON,
    I_REGION,
    I_TITLE,
    I_CATEGORY,
    I_URGENT,
    I_ANALYSIS,
    I_SUGGESTIONS,
    I_UNIT,
    I_PHONE,
    I_CP,
    I_ROTATE,
    I_PNG,
    I_SVG,
};

#define ALL ((1u << N_CMDS) - 1)
#define B(c) (1u << (c))

static const struct cli_opt_def iopts[] = {
    {{"profile", required_argument, NULL, I_PROFILE}, ALL},
    {{"json", no_argument, NULL, I_JSON}, ALL},
    {{"help", no_argument, NULL, 'h'}, ALL},
    {{"status", required_argument, NULL, I_STATUS}, B(C_LIST)},
    {{"limit", required_argument, NULL, I_LIMIT}, B(C_LIST)},
    {{"cursor", required_argument, NULL, I_CURSOR}, B(C_LIST)},
    {{"photos", required_argument, NULL, I_PHOTOS}, B(C_SHOW)},
    {{"text", required_argument, NULL, I_TEXT}, B(C_REPLY)},
    {{"reason", required_argument, NULL, I_REASON}, B(C_DISMISS)},
    {{"region", required_argument, NULL, I_REGION}, B(C_CONVERT)},
    {{"title", required_argument, NULL, I_TITLE}, B(C_CONVERT)},
    {{"category", required_argument, NULL, I_CATEGORY}, B(C_CONVERT)},
    {{"urgent", no_argument, NULL, I_URGENT}, B(C_CONVERT)},
    {{"analysis", required_argument, NULL, I_ANALYSIS}, B(C_CONVERT)},
    {{"suggestions", required_argument, NULL, I_SUGGESTIONS}, B(C_CONVERT)},
    {{"unit", required_argument, NULL, I_UNIT}, B(C_CONVERT)},
    {{"phone", required_argument, NULL, I_PHONE}, B(C_CONVERT)},
    {{"contact-point", required_argument, NULL, I_CP}, B(C_POSTER)},
    {{"rotate", no_argument, NULL, I_ROTATE}, B(C_POSTER)},
    {{"png", required_argument, NULL, I_PNG}, B(C_POSTER)},
    {{"svg", required_argument, NULL, I_SVG}, B(C_POSTER)},
};
#define N_IOPTS (sizeof(iopts) / sizeof(iopts[0]))
#define INBOX_MAX_OPTS 64

static const char *const cmd_names[N_CMDS] = { "inbox", "show", "reply", "dismiss", "convert",
                                               "poster" };

struct args {
    enum cmd cmd;
    const char *profile_path;
    bool json, help;
    const char *opt[I_SVG - I_PROFILE + 1];   /* string options by id */
    bool urgent, rotate;
    int64_t ids[CONVERT_MAX];
    size_t n_ids;
    int64_t cp;
    unsigned long limit;
};

void cli_inbox_usage(FILE *out)
{
    fputs(
        "码上商 (contact points; messages the public sent from the contact point's poster):\n"
        "  inbox [--status S] [--limit N] [--cursor C]\n"
        "        Lists the inbox, newest first.  S is new, replied, converted or dismissed.\n"
        "  inbox show ID [--photos DIR]\n"
        "        One message in full, with the sender's name and phone when given;\n"
        "        --photos saves its photos into DIR.\n"
        "  inbox reply ID --text T\n"
        "        Answers the sender, who reads it with their pickup code.\n"
        "  inbox dismiss ID --reason T\n"
        "        Closes the message without a report; the sender sees it was not taken up.\n"
        "  inbox convert ID... --region R [--title T] [--category C] [--urgent]\n"
        "        [--analysis A] [--suggestions S] [--unit U] [--phone P]\n"
        "        Turns one or several messages into one report of yours, pre-filled from\n"
        "        them (reporter kind CITIZEN); the senders' pickup codes then show its\n"
        "        outcome.  Running it again is a retry: it never makes a second report.\n"
        "  poster [--contact-point ID] [--rotate] [--png FILE] [--svg FILE]\n"
        "        Writes the contact point's A4 poster with its QR code (its own for a\n"
        "        contact point; offices and admins name one).  --rotate first revokes\n"
        "        every poster printed before.\n",
        out);
}

bool cli_inbox_is_command(const char *name)
{
    return strcmp(name, "inbox") == 0 || strcmp(name, "poster") == 0;
}

bool cli_inbox_option_wants_value(const char *name, size_t len)
{
    return cli_opt_wants_value(iopts, N_IOPTS, name, len);
}

static bool parse_words(int npos, char **pos, struct args *a, char *err, size_t errlen)
{
    if (a->cmd == C_POSTER)
        return npos == 0 || cli_fail(err, errlen, "unexpected argument %s", pos[0]);
    if (npos == 0 || strcmp(pos[0], "list") == 0) {
        a->cmd = C_LIST;
        return npos <= 1 || cli_fail(err, errlen, "unexpected argument %s", pos[1]);
    }
    for (int c = C_SHOW; c <= C_CONVERT; c++)
        if (strcmp(pos[0], cmd_names[c]) == 0)
            a->cmd = (enum cmd)c;
    if (a->cmd == C_LIST)
        return cli_fail(err, errlen, "inbox wants show, reply, dismiss or convert, not %s",
                        pos[0]);
    size_t want_max = a->cmd == C_CONVERT ? CONVERT_MAX : 1;
    if (npos < 2 || (size_t)(npos - 1) > want_max)
        return cli_fail(err, errlen, "inbox %s wants %s", pos[0],
                        a->cmd == C_CONVERT ? "1 to 10 message ids" : "exactly one message id");
    for (int i = 1; i < npos; i++)
        if (!cli_parse_id(pos[i], &a->ids[a->n_ids++]))
            return cli_fail(err, errlen, "a message id is a positive number, not %s", pos[i]);
    return true;
}

static bool parse(int argc, char **argv, struct args *a, char *err, size_t errlen)
{
    struct cli_raw_opt raw[INBOX_MAX_OPTS];
    size_t n_raw;

    memset(a, 0, sizeof *a);
    if (!cli_opts_collect(argc, argv, iopts, N_IOPTS, I_PROFILE, raw, INBOX_MAX_OPTS, &n_raw,
                          &a->help, err, errlen))
        return false;
    if (a->help)
        return true;
    if (optind >= argc || !cli_inbox_is_command(argv[optind]))
        return cli_fail(err, errlen, "no inbox command");
    a->cmd = strcmp(argv[optind], "poster") == 0 ? C_POSTER : C_LIST;
    if (!parse_words(argc - optind - 1, argv + optind + 1, a, err, errlen))
        return false;
    for (size_t k = 0; k < n_raw; k++) {
        int id = raw[k].id;
        const char *v = raw[k].value;
        if ((cli_opt_cmds(iopts, N_IOPTS, id) & B(a->cmd)) == 0)
            return cli_fail(err, errlen, "--%s does not belong to %s",
                            cli_opt_name(iopts, N_IOPTS, id), cmd_names[a->cmd]);
        switch (id) {
        case I_JSON: a->json = true; break;
        case I_URGENT: a->urgent = true; break;
        case I_ROTATE: a->rotate = true; break;
        case I_LIMIT:
            if (!cli_parse_uint(v, 200, &a->limit) || a->limit == 0)
                return cli_fail(err, errlen, "--limit wants a number from 1 to 200, not %s", v);
            break;
        case I_CP:
            if (!cli_parse_id(v, &a->cp))
                return cli_fail(err, errlen, "--contact-point wants a principal id, not %s", v);
            break;
        default:
            a->opt[id - I_PROFILE] = v;
            break;
        }
    }
    a->profile_path = a->opt[0];
    if (a->cmd == C_REPLY && a->opt[I_TEXT - I_PROFILE] == NULL)
        return cli_fail(err, errlen, "inbox reply wants --text");
    if (a->cmd == C_DISMISS && a->opt[I_REASON - I_PROFILE] == NULL)
        return cli_fail(err, errlen, "inbox dismiss wants --reason");
    if (a->cmd == C_CONVERT && a->opt[I_REGION - I_PROFILE] == NULL)
        return cli_fail(err, errlen, "inbox convert wants --region");
    if (a->cmd == C_POSTER && a->opt[I_PNG - I_PROFILE] == NULL &&
        a->opt[I_SVG - I_PROFILE] == NULL)
        return cli_fail(err, errlen, "poster wants --png FILE, --svg FILE or both");
    return true;
}

static const char *opt(const struct args *a, int id)
{
    return a->opt[id - I_PROFILE];
}

/* ---- list, show, reply, dismiss ---------------------------------------- */

static void print_list(bool json, const Minyi__V1__InboxResponse *m)
{
    char when[64];

    if (json) {
        json_t *arr = json_array();
        for (size_t i = 0; i < m->n_items; i++) {
            const Minyi__V1__InboxItem *e = m->items[i];
            json_array_append_new(
                arr, json_pack("{s:I,s:o,s:o,s:o,s:I,s:I,s:o}", "id", (json_int_t)e->id,
                               "what", cli_jbytes(&e->what), "place", cli_jbytes(&e->place),
                               "status", cli_jbytes(&e->status), "received_at_ms",
                               (json_int_t)e->received_at_ms, "photos", (json_int_t)e->photos,
                               "receipt", cli_jbytes(&e->receipt)));
        }
        cli_print_json(json_pack("{s:o,s:o}", "items", arr, "next_cursor",
                                 cli_jbytes(&m->next_cursor)));
        return;
    }
    printf("%-8s %-10s %-26s %-6s %s\n", "ID", "STATUS", "RECEIVED", "PHOTOS", "WHERE / WHAT");
    for (size_t i = 0; i < m->n_items; i++) {
        const Minyi__V1__InboxItem *e = m->items[i];
        cli_format_time(e->received_at_ms, when, sizeof when);
        printf("%-8" PRId64 " %-10.*s %-26s %-6u ", e->id, (int)e->status.len,
               (const char *)e->status.data, when, e->photos);
        cli_print_bytes(&e->place);
        fputs(" / ", stdout);
        cli_print_bytes(&e->what);
        if (e->receipt.len > 0) {
            fputs(" -> ", stdout);
            cli_print_bytes(&e->receipt);
        }
        fputc('\n', stdout);
    }
    if (m->next_cursor.len > 0) {
        fputs("next_cursor=", stdout);
        cli_print_bytes(&m->next_cursor);
        fputc('\n', stdout);
    }
}

static const char *photo_ext(const ProtobufCBinaryData *type)
{
    return type->len == 9 && memcmp(type->data, "image/png", 9) == 0 ? "png" : "jpg";
}

/* Saves the message's photos into dir as ID-N.jpg / .png. */
static bool save_photos(const Minyi__V1__InboxMessage *m, const char *dir, char *err,
                        size_t errlen)
{
    for (size_t i = 0; i < m->n_photos; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%" PRId64 "-%zu.%s", dir, m->id, i + 1,
                 photo_ext(&m->photos[i]->media_type));
        FILE *f = fopen(path, "wb");
        if (f == NULL)
            return cli_fail(err, errlen, "%s: %s", path, strerror(errno));
        size_t n = fwrite(m->photos[i]->content.data, 1, m->photos[i]->content.len, f);
        if (fclose(f) != 0 || n != m->photos[i]->content.len)
            return cli_fail(err, errlen, "%s: cannot write", path);
    }
    return true;
}

static void print_show(bool json, const Minyi__V1__InboxMessage *m)
{
    char when[64];

    if (json) {
        cli_print_json(json_pack(
            "{s:I,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:I,s:I}", "id", (json_int_t)m->id, "what",
            cli_jbytes(&m->what), "place", cli_jbytes(&m->place), "name", cli_jbytes(&m->name),
            "phone", cli_jbytes(&m->phone), "status", cli_jbytes(&m->status), "reply",
            cli_jbytes(&m->reply), "dismiss_reason", cli_jbytes(&m->dismiss_reason), "receipt",
            cli_jbytes(&m->receipt), "received_at_ms", (json_int_t)m->received_at_ms, "photos",
            (json_int_t)m->n_photos));
        return;
    }
    cli_format_time(m->received_at_ms, when, sizeof when);
    printf("id: %" PRId64 "\nreceived: %s\nstatus: ", m->id, when);
    const ProtobufCBinaryData *fields[] = { &m->status, &m->place, &m->name, &m->phone,
                                            &m->reply, &m->dismiss_reason, &m->receipt,
                                            &m->what };
    const char *labels[] = { "", "where: ", "name: ", "phone: ", "reply: ", "dismissed: ",
                             "report: ", "what:\n" };
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        if (i > 0 && fields[i]->len == 0)
            continue;
        fputs(labels[i], stdout);
        cli_print_bytes(fields[i]);
        fputc('\n', stdout);
    }
    printf("photos: %zu\n", m->n_photos);
}

/* One call, its answer checked to be of type want. */
static Frame *call(const struct client_profile *p, const struct args *a, Frame *req, int want,
                   struct frame_arena **arena, int *rc)
{
    return cli_call_expect(p, a->json, req, want, arena, rc);
}

static int run_simple(const struct client_profile *p, const struct args *a)
{
    Frame req = MINYI__V1__FRAME__INIT;
    Minyi__V1__InboxRequest list = MINYI__V1__INBOX_REQUEST__INIT;
    Minyi__V1__InboxShowRequest show = MINYI__V1__INBOX_SHOW_REQUEST__INIT;
    Minyi__V1__InboxAnswerRequest ans = MINYI__V1__INBOX_ANSWER_REQUEST__INIT;
    struct frame_arena *arena = NULL;
    int rc = CLI_EXIT_DONE, want;
    char err[CLI_ERR_LEN];

    switch (a->cmd) {
    case C_LIST:
        list.status = frame_bytes(opt(a, I_STATUS) ? opt(a, I_STATUS) : "");
        list.limit = (uint32_t)a->limit;
        list.cursor = frame_bytes(opt(a, I_CURSOR) ? opt(a, I_CURSOR) : "");
        req.body_case = MINYI__V1__FRAME__BODY_INBOX;
        req.inbox = &list;
        want = MINYI__V1__FRAME__BODY_INBOX_OK;
        break;
    case C_SHOW:
        show.id = a->ids[0];
        req.body_case = MINYI__V1__FRAME__BODY_INBOX_SHOW;
        req.inbox_show = &show;
        want = MINYI__V1__FRAME__BODY_INBOX_SHOW_OK;
        break;
    default:
        ans.id = a->ids[0];
        ans.dismiss = a->cmd == C_DISMISS;
        ans.text = frame_bytes(opt(a, ans.dismiss ? I_REASON : I_TEXT));
        req.body_case = MINYI__V1__FRAME__BODY_INBOX_ANSWER;
        req.inbox_answer = &ans;
        want = MINYI__V1__FRAME__BODY_OK;
        break;
    }
    Frame *f = call(p, a, &req, want, &arena, &rc);
    if (f != NULL) {
        if (a->cmd == C_LIST) {
            print_list(a->json, f->inbox_ok);
        } else if (a->cmd == C_SHOW) {
            if (opt(a, I_PHOTOS) != NULL && !save_photos(f->inbox_show_ok, opt(a, I_PHOTOS), err,
                                                         sizeof err))
                rc = cli_report_invalid(a->json, err);
            else
                print_show(a->json, f->inbox_show_ok);
        } else if (a->json) {
            cli_print_json(json_pack("{s:I,s:s}", "id", (json_int_t)a->ids[0], "status",
                                     a->cmd == C_DISMISS ? "dismissed" : "replied"));
        } else {
            printf("message %" PRId64 " %s\n", a->ids[0],
                   a->cmd == C_DISMISS ? "dismissed" : "replied");
        }
    }
    frame_arena_free(arena);
    return rc;
}

/* ---- convert ------------------------------------------------------------- */

/* The client_report_id of converting these messages: a UUID made from
 * their ids, so the same conversion always has the same one. */
static void convert_crid(const struct args *a, char out[HEX_UUID_TEXT_LEN + 1])
{
    uint8_t d[EVP_MAX_MD_SIZE];
    char buf[CONVERT_MAX * 24 + 32];
    size_t n = (size_t)snprintf(buf, sizeof buf, "minyi-inbox-convert");

    for (size_t i = 0; i < a->n_ids; i++)
        n += (size_t)snprintf(buf + n, sizeof buf - n, ":%" PRId64, a->ids[i]);
    EVP_Digest(buf, n, d, NULL, EVP_sha256(), NULL);
    d[6] = (uint8_t)((d[6] & 0x0f) | 0x40);   /* the form of a version 4 UUID */
    d[8] = (uint8_t)((d[8] & 0x3f) | 0x80);
    hex_uuid_format(d, out);
}

/* The first n code points of s[0..len) into out (a title). */
static void prefix_cp(const ProtobufCBinaryData *s, size_t n, char *out, size_t outlen)
{
    size_t i = 0, cps = 0;

    while (i < s->len && cps < n) {
        uint8_t c = s->data[i];
        size_t w = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : 4;
        if (c == '\n' || c == '\r' || i + w > s->len || i + w >= outlen)
            break;
        i += w;
        cps++;
    }
    memcpy(out, s->data, i);
    out[i] = '\0';
}

struct convert_buf {
    char situation[SITUATION_MAX];
    char title[TITLE_PREFILL_CP * 4 + 1];
    char name[256], phone[64], crid[HEX_UUID_TEXT_LEN + 1];
    Minyi__V1__Attachment att[ATTACH_MAX];
    Minyi__V1__Attachment *attp[ATTACH_MAX];
    char att_names[ATTACH_MAX][64];
    uint8_t att_sha[ATTACH_MAX][32];
    size_t n_att;
};

/* Adds message m to the report being pre-filled in b. */
static bool add_message(struct convert_buf *b, const Minyi__V1__InboxMessage *m, bool first,
                        char *err, size_t errlen)
{
    size_t used = strlen(b->situation);
    int n = snprintf(b->situation + used, sizeof b->situation - used, "%s%.*s\n地点：%.*s",
                     first ? "" : "\n\n", (int)m->what.len, (const char *)m->what.data,
                     (int)m->place.len, (const char *)m->place.data);
    if (n < 0 || (size_t)n >= sizeof b->situation - used)
        return cli_fail(err, errlen, "the messages are too long for one report");
    if (first)
        prefix_cp(&m->what, TITLE_PREFILL_CP, b->title, sizeof b->title);
    if (b->name[0] == '\0' && m->name.len > 0 && m->name.len < sizeof b->name)
        snprintf(b->name, sizeof b->name, "%.*s", (int)m->name.len, (const char *)m->name.data);
    if (b->phone[0] == '\0' && m->phone.len > 0 && m->phone.len < sizeof b->phone)
        snprintf(b->phone, sizeof b->phone, "%.*s", (int)m->phone.len,
                 (const char *)m->phone.data);
    for (size_t i = 0; i < m->n_photos; i++) {
        if (b->n_att == ATTACH_MAX)
            return cli_fail(err, errlen, "the messages have more than %d photos, the most a "
                                         "report may carry", ATTACH_MAX);
        const Minyi__V1__PublicPhoto *p = m->photos[i];
        Minyi__V1__Attachment *a = &b->att[b->n_att];
        minyi__v1__attachment__init(a);
        snprintf(b->att_names[b->n_att], sizeof b->att_names[0], "photo-%" PRId64 "-%zu.%s",
                 m->id, i + 1, photo_ext(&p->media_type));
        a->name = frame_bytes(b->att_names[b->n_att]);
        a->media_type = p->media_type;
        a->content = p->content;
        EVP_Digest(p->content.data, p->content.len, b->att_sha[b->n_att], NULL, EVP_sha256(),
                   NULL);
        a->sha256.data = b->att_sha[b->n_att];
        a->sha256.len = 32;
        b->attp[b->n_att] = a;
        b->n_att++;
    }
    return true;
}

static int run_convert(const struct client_profile *p, const struct args *a)
{
    struct convert_buf *b = calloc(1, sizeof *b);
    struct frame_arena *arenas[CONVERT_MAX] = { NULL };
    struct frame_arena *arena = NULL;
    char err[CLI_ERR_LEN];
    int rc = CLI_EXIT_DONE;

    if (b == NULL)
        return cli_report_invalid(a->json, "out of memory");
    /* Each message read in turn; their answers stay until the report is sent. */
    for (size_t i = 0; i < a->n_ids; i++) {
        Frame req = MINYI__V1__FRAME__INIT;
        Minyi__V1__InboxShowRequest show = MINYI__V1__INBOX_SHOW_REQUEST__INIT;
        show.id = a->ids[i];
        req.body_case = MINYI__V1__FRAME__BODY_INBOX_SHOW;
        req.inbox_show = &show;
        Frame *f = call(p, a, &req, MINYI__V1__FRAME__BODY_INBOX_SHOW_OK, &arenas[i], &rc);
        if (f == NULL)
            goto out;
        if (!add_message(b, f->inbox_show_ok, i == 0, err, sizeof err)) {
            rc = cli_report_invalid(a->json, err);
            goto out;
        }
    }
    /* A report needs a phone to call back; when no sender left one, the
     * contact point gives its own. */
    if (b->phone[0] == '\0' && opt(a, I_PHONE) == NULL) {
        rc = cli_report_invalid(a->json, "no sender left a phone number: give --phone "
                                         "(the contact point's own)");
        goto out;
    }
    convert_crid(a, b->crid);
    Minyi__V1__Reporter rep = MINYI__V1__REPORTER__INIT;
    rep.name = frame_bytes(b->name[0] ? b->name : CITIZEN_NAME);
    rep.unit = frame_bytes(opt(a, I_UNIT) ? opt(a, I_UNIT) : CITIZEN_UNIT);
    rep.kind = MINYI__V1__REPORTER_KIND__CITIZEN;
    Minyi__V1__Report r = MINYI__V1__REPORT__INIT;
    r.client_report_id = frame_bytes(b->crid);
    r.title = frame_bytes(opt(a, I_TITLE) ? opt(a, I_TITLE) : b->title);
    r.situation = frame_bytes(b->situation);
    r.analysis = frame_bytes(opt(a, I_ANALYSIS) ? opt(a, I_ANALYSIS) : "");
    r.suggestions = frame_bytes(opt(a, I_SUGGESTIONS) ? opt(a, I_SUGGESTIONS) : "");
    r.category = MINYI__V1__CATEGORY__OTHER;
    if (opt(a, I_CATEGORY) != NULL) {
        const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value_by_name(
            &minyi__v1__category__descriptor, opt(a, I_CATEGORY));
        if (v == NULL || v->value == 0) {
            char names[256];
            cli_enum_names(&minyi__v1__category__descriptor, names, sizeof names);
            snprintf(err, sizeof err, "--category wants one of %s", names);
            rc = cli_report_invalid(a->json, err);
            goto out;
        }
        r.category = (Minyi__V1__Category)v->value;
    }
    r.urgency = a->urgent ? MINYI__V1__URGENCY__URGENT : MINYI__V1__URGENCY__NORMAL;
    r.reporter = &rep;
    r.region = frame_bytes(opt(a, I_REGION));
    r.phone = frame_bytes(opt(a, I_PHONE) ? opt(a, I_PHONE) : b->phone);
    r.n_attachments = b->n_att;
    r.attachments = b->n_att > 0 ? b->attp : NULL;

    Frame req = MINYI__V1__FRAME__INIT;
    Minyi__V1__InboxConvertRequest conv = MINYI__V1__INBOX_CONVERT_REQUEST__INIT;
    conv.n_ids = a->n_ids;
    conv.ids = (int64_t *)a->ids;
    conv.report = &r;
    req.body_case = MINYI__V1__FRAME__BODY_INBOX_CONVERT;
    req.inbox_convert = &conv;
    Frame *f = call(p, a, &req, MINYI__V1__FRAME__BODY_SUBMIT_OK, &arena, &rc);
    if (f != NULL) {
        const Minyi__V1__SubmitResponse *s = f->submit_ok;
        if (a->json)
            cli_print_json(json_pack("{s:o,s:b}", "receipt", cli_jbytes(&s->receipt),
                                     "duplicate", s->duplicate));
        else {
            cli_print_bytes(&s->receipt);
            fputc('\n', stdout);
        }
    }
out:
    frame_arena_free(arena);
    for (size_t i = 0; i < CONVERT_MAX; i++)
        frame_arena_free(arenas[i]);
    free(b);
    return rc;
}

/* ---- poster -------------------------------------------------------------- */

static int run_poster(const struct client_profile *p, const struct args *a)
{
    Frame req = MINYI__V1__FRAME__INIT;
    Minyi__V1__PosterRequest q = MINYI__V1__POSTER_REQUEST__INIT;
    struct frame_arena *arena = NULL;
    char err[CLI_ERR_LEN], name[256], url[POSTER_URL_MAX + 1];
    int rc = CLI_EXIT_DONE;

    q.contact_point_id = a->cp;
    q.rotate = a->rotate;
    req.body_case = MINYI__V1__FRAME__BODY_POSTER;
    req.poster = &q;
    Frame *f = call(p, a, &req, MINYI__V1__FRAME__BODY_POSTER_OK, &arena, &rc);
    if (f != NULL) {
        const Minyi__V1__PosterResponse *m = f->poster_ok;
        snprintf(name, sizeof name, "%.*s", (int)m->contact_point.len,
                 (const char *)m->contact_point.data);
        if (m->url.len > POSTER_URL_MAX) {
            rc = cli_report_failure(a->json, CLIENT_ERR_PROTOCOL "the poster's URL is too long");
        } else {
            memcpy(url, m->url.data, m->url.len);
            url[m->url.len] = '\0';
            if (!poster_write(name, url, opt(a, I_PNG), opt(a, I_SVG), err, sizeof err))
                rc = cli_report_invalid(a->json, err);
            else if (a->json)
                cli_print_json(json_pack("{s:s,s:s,s:I,s:I}", "url", url, "contact_point", name,
                                         "contact_point_id", (json_int_t)m->contact_point_id,
                                         "generation", (json_int_t)m->generation));
            else
                printf("%s\n", url);
        }
    }
    frame_arena_free(arena);
    return rc;
}

int cli_inbox_main(int argc, char **argv, void (*usage)(FILE *out))
{
    struct args a;
    struct client_profile profile;
    char err[CLI_ERR_LEN];

    bool parsed = parse(argc, argv, &a, err, sizeof err);
    int rc = cli_command_begin(parsed, err, a.help, a.profile_path, &profile, usage);
    if (rc >= 0)
        return rc;
    switch (a.cmd) {
    case C_CONVERT: rc = run_convert(&profile, &a); break;
    case C_POSTER: rc = run_poster(&profile, &a); break;
    default: rc = run_simple(&profile, &a); break;
    }
    return cli_command_end(rc);
}
