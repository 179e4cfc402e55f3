/*
 * store_int: the store's internals, shared by its files and no one else.
 *
 *   store.c    the public entry points, the queues, replies and draining
 *   pool.c     the connections: non-blocking connect, send, receive,
 *              timeouts and reconnect with backoff
 *   batch.c    a batch of submissions as one call of minyi_submit_batch()
 *   batch_notify.c  the 'new' notifications of the reports batches stored
 *   queries.c  principal lookup, status and list_mine
 *   triage_*.c the editors' operations and the forwarder's outbox
 *              (triage.h; their shared parts in triage_int.h)
 *   listen.c   the LISTEN connection of the live queue (triage.h)
 *   lock.c     an advisory lock on a connection of its own (lock.h)
 *   link.c     what listen.c's and lock.c's own connections share
 *   pgbin.c    PostgreSQL binary parameters (arrays, integers)
 *   gauges.c   the metrics page's reads and the health check's round trip
 */
#ifndef MINYI_STORE_INT_H
#define MINYI_STORE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>
#include <libpq-fe.h>

#include "clock.h"
#include "log.h"
#include "metrics.h"
#include "minyi.pb-c.h"
#include "pii.h"
#include "store.h"

#define STORE_DEFAULT_POOL_SIZE     4
#define STORE_DEFAULT_BATCH_MAX     256
#define STORE_DEFAULT_QUEUE_MAX     10000
#define STORE_DEFAULT_RECONNECT_MIN 100
#define STORE_DEFAULT_RECONNECT_MAX 5000
#define STORE_DEFAULT_QUERY_TIMEOUT 10000
#define STORE_POOL_MAX              64     /* connections */
#define STORE_BATCH_LIMIT           10000  /* largest batch_max accepted */
#define STORE_RETRY_AFTER_MS        1000   /* hint given with RESOURCE_EXHAUSTED / UNAVAILABLE */
#define STORE_RECEIPT_MAX           63     /* bytes of a receipt; longer ones cannot exist */
#define STORE_LIST_DEFAULT          20
#define STORE_LIST_MAX              100
/* Notifications of stored reports waiting while one call sends others; a
 * database that does not answer costs the hints beyond this, not memory. */
#define STORE_NOTIFY_PENDING_MAX    100000
/* How long the notifications of stored reports gather before one call
 * sends them: editors see a new report this much later, at most. */
#define STORE_NOTIFY_GATHER_MS      10
/* Connections intake batches leave to other operations (when the pool has
 * more than one).  Status queries, triage calls and the notifications of
 * stored batches then never wait behind intake, and submissions arriving
 * while every batch connection is busy gather into one larger batch rather
 * than many small transactions, each paying the per-call cost again. */
#define STORE_CONNS_KEPT_FOR_QUERIES 1
/* Intake batches running at once.  Two let one batch execute while the
 * other waits for its commit; more only share the same CPUs between more
 * backends, each with its per-transaction cost (measured with
 * tests/bench/run on two cores: a third batch connection raised the p99
 * latency at half load from about 12 ms to about 50 ms and lowered the
 * batched rate). */
#define STORE_BATCHES_MAX 2
/* Submissions that must be waiting before a second batch starts beside a
 * running one; fewer wait for the running batch to finish. */
#define STORE_BATCH_GATHER 8
/* Connections the public door's operations (码上商 messages and pickup
 * codes, public_msg.h) may hold at once.  They wait in a queue of their
 * own and go out only to a connection that intake and the other
 * operations leave idle, so a flood of them never holds the pool: with
 * them in the common queue, the public door's writes (each serialised on
 * its contact point's row) held every connection of the default pool of
 * four, and S2 beside a flood of 10,000 ran at a third of its rate. */
#define STORE_PUBLIC_CONNS_MAX 1

/* How many merges a contact point's status follows from its report to the
 * surviving one (a merge into a report that is merged later makes two). */
#define STORE_MERGE_DEPTH_TEXT "16"

/* Associated data that binds each sealed personal field to its column. */
#define STORE_AAD_PHONE         "minyi:reports.phone_enc"
#define STORE_AAD_REPORTER_NAME "minyi:reports.reporter_name_enc"

/* Names of the statements each connection prepares once it is up. */
#define STMT_SUBMIT    "minyi_submit"
#define STMT_PRINCIPAL "minyi_principal"
#define STMT_STATUS    "minyi_status"
#define STMT_MINE      "minyi_mine"
#define STMT_NOTIFY    "minyi_notify"

enum op_kind {
    OP_SUBMIT = 1,
    OP_PRINCIPAL,
    OP_STATUS,
    OP_MINE,
    OP_TRIAGE,                 /* one call of a triage SQL function (triage_*.c) */
    OP_NOTIFY,                 /* a stored batch's queue notifications (batch_notify.c) */
    OP_GAUGES,                 /* store_gauges or store_ping (gauges.c) */
};

/* Most text parameters of a triage statement (minyi_p_convert has 24). */
#define TRIAGE_NPARAMS_MAX 24

/* The triage statements each connection prepares with the others. */
#define STMT_T_QUEUE    "minyi_t_queue"
#define STMT_T_SHOW     "minyi_t_show"
#define STMT_T_CLAIM    "minyi_t_claim"
#define STMT_T_RENEW    "minyi_t_renew"
#define STMT_T_RELEASE  "minyi_t_release"
#define STMT_T_EDIT     "minyi_t_edit"
#define STMT_T_DECIDE   "minyi_t_decide"
#define STMT_T_RESUBMIT "minyi_t_resubmit"
#define STMT_F_NOTE     "minyi_f_note"
#define STMT_FW_CLAIM   "minyi_fw_claim"
#define STMT_FW_DONE    "minyi_fw_delivered"
#define STMT_FW_FAILED  "minyi_fw_failed"
#define STMT_F_ERASE    "minyi_f_erase"
#define STMT_FW_ERASED  "minyi_fw_erased"
#define STMT_FW_ERASE_FAILED "minyi_fw_erase_failed"
#define STMT_R_PULL     "minyi_r_pull"
#define STMT_R_APPLY    "minyi_r_apply"
#define STMT_O_LIST     "minyi_o_list"
#define STMT_O_ACT      "minyi_o_act"
#define STMT_T_ATTACH   "minyi_t_attachment"
#define STMT_T_INSTRUCT "minyi_t_instruct"
#define STMT_T_SHOW_OWN "minyi_t_show_own"
#define STMT_T_EXTRESP  "minyi_t_external_response"
#define TRIAGE_PREPARE_SQL                                                                  \
    "PREPARE " STMT_T_QUEUE "(int8, text[], int2[], int2, text, int8, int8, int8, bool, text," \
    " bool, bool, int2, int8, int8, int4, int4, int4) AS SELECT minyi_t_queue($1, $2, $3, $4," \
    " $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18);"                   \
    "PREPARE " STMT_T_SHOW "(int8, text, int4, int4, float4) AS"                             \
    " SELECT minyi_t_show($1, $2, $3, $4, $5);"                                             \
    "PREPARE " STMT_T_CLAIM "(int8, text, int4) AS SELECT minyi_t_claim($1, $2, $3);"       \
    "PREPARE " STMT_T_RENEW "(int8, text, int4) AS SELECT minyi_t_renew($1, $2, $3);"       \
    "PREPARE " STMT_T_RELEASE "(int8, text) AS SELECT minyi_t_release($1, $2);"             \
    "PREPARE " STMT_T_EDIT "(int8, text, text, text, text, text, int2, text) AS"           \
    " SELECT minyi_t_edit($1, $2, $3, $4, $5, $6, $7, $8);"                                 \
    "PREPARE " STMT_T_DECIDE "(int8, text, text, text, text, jsonb, text, text, text, int8,"  \
    " int4) AS SELECT minyi_t_decide($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11);"       \
    "PREPARE " STMT_T_RESUBMIT "(int8, text, uuid, text, text, text, text, int2, int2) AS"  \
    " SELECT minyi_t_resubmit($1, $2, $3, $4, $5, $6, $7, $8, $9);"                       \
    "PREPARE " STMT_F_NOTE "(int8, text, text, text, text, text[], int8, text, text, bool,"  \
    " jsonb) AS SELECT minyi_f_note($1, $2, $3, $4, $5, $6, $11)"                          \
    " || minyi_audit_witness_put($1, $7, $8, $9, $10);"                                     \
    "PREPARE " STMT_FW_CLAIM "(text[], int4, int4) AS"                                      \
    " SELECT minyi_fw_claim($1, $2, $3) || minyi_fw_claim_erase($1, $2, $3)"                 \
    " || minyi_audit_head();"                                                                \
    "PREPARE " STMT_FW_DONE "(int8, int4, text) AS SELECT minyi_fw_delivered($1, $2, $3);"  \
    "PREPARE " STMT_FW_FAILED "(int8, int4, text, bool, int4, int4, int4) AS"               \
    " SELECT minyi_fw_failed($1, $2, $3, $4, $5, $6, $7);"                                 \
    "PREPARE " STMT_F_ERASE "(int8, text, text, int8, text, text, bool) AS"                   \
    " SELECT minyi_f_erase($1, $2, $3) || minyi_audit_witness_put($1, $4, $5, $6, $7);"    \
    "PREPARE " STMT_FW_ERASED "(int8, int4) AS SELECT minyi_fw_erased($1, $2);"              \
    "PREPARE " STMT_FW_ERASE_FAILED "(int8, int4, text, bool, int4, int4, int4) AS"         \
    " SELECT minyi_fw_erase_failed($1, $2, $3, $4, $5, $6, $7);"                           \
    "PREPARE " STMT_R_PULL "(int8, int8[], int4, text, text, int8, text, text, bool) AS"    \
    " SELECT minyi_r_pull($1, $2, $3, $4, $5)"                                              \
    " || minyi_audit_witness_put($1, $6, $7, $8, $9);"                                      \
    "PREPARE " STMT_R_APPLY "(text, text, jsonb) AS SELECT minyi_r_apply($1, $2, $3);"     \
    "PREPARE " STMT_O_LIST "(int8, text[], text, text, int8, int4) AS"                      \
    " SELECT minyi_o_list($1, $2, $3, $4, $5, $6);"                                        \
    "PREPARE " STMT_O_ACT "(int8, int8, text, text) AS SELECT minyi_o_act($1, $2, $3, $4);" \
    "PREPARE " STMT_T_ATTACH "(int8, text, int4) AS SELECT minyi_t_attachment($1, $2, $3);" \
    "PREPARE " STMT_T_INSTRUCT "(int8, text, text, text, text, int8, bool, int4) AS"        \
    " SELECT minyi_t_instruct($1, $2, $3, $4, $5, $6, $7, $8);"                             \
    "PREPARE " STMT_T_SHOW_OWN "(int8, text, int4) AS SELECT minyi_t_show_own($1, $2, $3);" \
    "PREPARE " STMT_T_EXTRESP "(int8, text, text, text, text, text, text, int8, int4) AS"   \
    " SELECT minyi_t_external_response($1, $2, $3, $4, $5, $6, $7, $8, $9);"

/* The office's reads (office.c, migration 0023): periods arrive as
 * milliseconds since the epoch. */
#define STMT_OFFICE_STATS  "minyi_office_stats"
#define STMT_OFFICE_POINTS "minyi_office_points"
#define OFFICE_PREPARE_SQL                                                                  \
    "PREPARE " STMT_OFFICE_STATS "(int8, int8, int8, text) AS"                              \
    " SELECT minyi_stats($1, to_timestamp($2 / 1000.0), to_timestamp($3 / 1000.0), $4);"   \
    "PREPARE " STMT_OFFICE_POINTS "(int8, int8, int8, jsonb, bool, text, bool) AS"          \
    " SELECT minyi_points($1, to_timestamp($2 / 1000.0), to_timestamp($3 / 1000.0), $4,"   \
    " $5, $6, $7);"

/* 专报 issues (issue.c, migration 0027_issues.sql). */
#define STMT_ISSUE_NEW     "minyi_issue_new"
#define STMT_ISSUE_ADD     "minyi_issue_add"
#define STMT_ISSUE_REMOVE  "minyi_issue_remove"
#define STMT_ISSUE_PUBLISH "minyi_issue_publish"
#define STMT_ISSUE_SHOW    "minyi_issue_show"
#define STMT_ISSUE_LIST    "minyi_issue_list"
#define STMT_ISSUE_SEND    "minyi_issue_send"
#define ISSUE_PREPARE_SQL                                                                   \
    "PREPARE " STMT_ISSUE_NEW "(int8, text, int4, text, text, text) AS"                     \
    " SELECT minyi_i_new($1, $2, $3, $4, $5, $6);"                                         \
    "PREPARE " STMT_ISSUE_ADD "(int8, int8, text, text, text, int4, int4) AS"               \
    " SELECT minyi_i_add($1, $2, $3, $4, $5, $6, $7);"                                     \
    "PREPARE " STMT_ISSUE_REMOVE "(int8, int8, text) AS SELECT minyi_i_remove($1, $2, $3);" \
    "PREPARE " STMT_ISSUE_PUBLISH "(int8, int8) AS SELECT minyi_i_publish($1, $2);"         \
    "PREPARE " STMT_ISSUE_SHOW "(int8, int8) AS SELECT minyi_i_show($1, $2);"               \
    "PREPARE " STMT_ISSUE_LIST "(int8, int4, int4) AS SELECT minyi_i_list($1, $2, $3);"    \
    "PREPARE " STMT_ISSUE_SEND "(int8, int8, text, text, int8, int4) AS"                    \
    " SELECT minyi_i_send($1, $2, $3, $4, $5, $6);"

/* 码上商 (inbox.c, public_msg.c; migration 0030). */
#define STMT_P_POSTER "minyi_p_poster"
#define STMT_P_SUBMIT "minyi_p_submit"
#define STMT_P_PICKUP "minyi_p_pickup"
#define STMT_P_INBOX  "minyi_p_inbox"
#define STMT_P_SHOW   "minyi_p_show"
#define STMT_P_ANSWER "minyi_p_answer"
#define STMT_P_CONVERT "minyi_p_convert"
#define PUBLIC_PREPARE_SQL                                                                  \
    "PREPARE " STMT_P_POSTER "(int8, int8, bool) AS SELECT minyi_p_poster($1, $2, $3);"     \
    "PREPARE " STMT_P_SUBMIT "(int8, int4, text, text, bytea, bytea, int4, bytea, bytea,"   \
    " text[], bytea[], bytea[], int4) AS SELECT minyi_p_submit($1, $2, $3, $4, $5, $6, $7," \
    " $8, $9, $10, $11, $12, $13);"                                                         \
    "PREPARE " STMT_P_PICKUP "(bytea) AS SELECT minyi_p_pickup($1);"                        \
    "PREPARE " STMT_P_INBOX "(int8, text, int4, int8) AS"                                   \
    " SELECT minyi_p_inbox($1, $2, $3, $4);"                                                \
    "PREPARE " STMT_P_SHOW "(int8, int8) AS SELECT minyi_p_show($1, $2);"                   \
    "PREPARE " STMT_P_ANSWER "(int8, int8, bool, text) AS"                                  \
    " SELECT minyi_p_answer($1, $2, $3, $4);"                                               \
    "PREPARE " STMT_P_CONVERT "(int8, int8[], text, uuid, bytea, text, text, text, text,"   \
    " int2, int2, text, bytea, text, int2, text, text, bytea, bytea, int4, text[], text[],"  \
    " bytea[], bytea[]) AS SELECT minyi_p_convert($1, $2, $3, $4, $5, $6, $7, $8, $9, $10,"  \
    " $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24);"

/* The audit through the pool (audit_ops.c, migration 0032): times arrive
 * as milliseconds since the epoch, 0 for none. */
#define STMT_AUDIT_NOTE "minyi_audit_note"
#define STMT_AUDIT_READ "minyi_audit_read"
#define AUDIT_OPS_PREPARE_SQL                                                               \
    "PREPARE " STMT_AUDIT_NOTE "(text, text, text, text) AS"                                \
    " SELECT minyi_admin_note($1, $2, $3, $4);"                                             \
    "PREPARE " STMT_AUDIT_READ "(int8, int8, int8, text, int8, int4) AS"                    \
    " SELECT minyi_audit_read($1, CASE WHEN $2 > 0 THEN to_timestamp($2 / 1000.0) END,"     \
    " CASE WHEN $3 > 0 THEN to_timestamp($3 / 1000.0) END, $4, $5, $6);"

/* The metrics page's reads (gauges.c), one row per measurement: name,
 * label1, label2, value.  Backlogs count pending and in_flight outbox
 * rows; dead ones are shown apart.  reports is read through its state
 * index, so a scrape costs an index-only scan, not a table scan. */
#define STMT_GAUGES "minyi_gauges"
#define STMT_PING   "minyi_ping"
#define GAUGES_PREPARE_SQL                                                                   \
    "PREPARE " STMT_GAUGES " AS"                                                             \
    " SELECT 'queue', state, '', count(*)::float8 FROM reports GROUP BY state"              \
    " UNION ALL SELECT 'outbox', destination, state, count(*)::float8 FROM outbox"          \
    "  WHERE state IN ('pending', 'in_flight', 'dead') GROUP BY destination, state"         \
    " UNION ALL SELECT 'outbox_oldest', destination, '',"                                    \
    "  extract(epoch FROM now() - min(created_at))::float8 FROM outbox"                      \
    "  WHERE state IN ('pending', 'in_flight') GROUP BY destination"                         \
    " UNION ALL SELECT 'results_owed', p.id::text, p.name, count(*)::float8"                \
    "  FROM results_out r JOIN principals p ON p.id = r.peer_id"                            \
    "  WHERE r.acked_at IS NULL GROUP BY p.id, p.name"                                      \
    " UNION ALL SELECT 'results_owed_oldest', p.id::text, p.name,"                          \
    "  extract(epoch FROM now() - min(r.created_at))::float8"                               \
    "  FROM results_out r JOIN principals p ON p.id = r.peer_id"                            \
    "  WHERE r.acked_at IS NULL GROUP BY p.id, p.name;"                                     \
    "PREPARE " STMT_PING " AS SELECT 1;"

struct store;
struct store_op;
struct json_t;

/* Turns the jsonb answer of a triage SQL function into op's reply message
 * (one builder per operation, in triage_*.c).  *msg is set as soon as the
 * message is allocated, so that the caller frees it when this returns
 * false, which it does only when out of memory. */
typedef bool (*triage_build_fn)(const struct store *st, const struct store_op *op,
                                const struct json_t *answer, ProtobufCMessage **msg);

struct store_conn;

/* Sends op, an ordinary operation, on c (idle, with op attached), passing
 * pool_send the completion of its own kind. */
typedef void (*store_send_fn)(struct store_conn *c, struct store_op *op);

/* Called by the pool when every result of the query sent on c is in
 * (c->res, c->failed, c->sqlstate); it answers the ops attached to c.
 * Each sender hands pool_send its own, as OpenSMTPD gives each backend
 * call its completion, so the pool never knows who sent what. */
typedef void (*pool_done_fn)(struct store_conn *c);

/* One caller's request, from the call that made it until its callback. */
struct store_op {
    struct store_op *next;
    enum op_kind kind;
    bool public_door;          /* from the public door: STORE_PUBLIC_CONNS_MAX */
    store_send_fn send;        /* NULL for OP_SUBMIT, which goes in a batch */
    store_reply_cb reply_cb;
    store_principal_cb principal_cb;
    void *arg;

    /* OP_SUBMIT */
    struct intake_report *report;
    bool solo;                 /* its batch failed: store it alone */
    int row;                   /* index of its row in the batch being stored */
    struct store_op *first;    /* earlier op of the same batch with the same key */

    /* OP_PRINCIPAL */
    uint8_t fingerprint[32];

    /* OP_STATUS and OP_MINE */
    int64_t principal_id;
    char receipt[STORE_RECEIPT_MAX + 1];
    uint32_t limit;
    int64_t cursor;            /* list ids below this one */

    /* OP_TRIAGE: the statement, its text parameters (malloc'd, NULL for
     * SQL NULL) and what the answer needs besides the result. */
    triage_build_fn tbuild;    /* makes the reply from the answer */
    const char *stmt;
    int nparams;
    char *params[TRIAGE_NPARAMS_MAX];
    bool show_diff;

    /* OP_GAUGES: the statement's rows, malloc'd. */
    store_gauges_cb gauges_cb;
    struct store_gauge *gauges;
    size_t n_gauges;

    /* The answer, filled before the op goes to the done queue. */
    struct store_reply reply;
    struct principal principal;
};

struct op_queue {
    struct store_op *head, *tail;
    size_t n;
};

/* A growing byte buffer holding one binary parameter. */
struct pgbuf {
    uint8_t *data;
    size_t len, cap;
};

/* A one-dimensional array parameter in PostgreSQL's binary array format. */
struct pgarr {
    struct pgbuf b;
    uint32_t elem_oid;
    uint32_t n;
    bool has_null;
};

enum conn_state {
    CONN_DOWN = 0,       /* waiting for the reconnect timer */
    CONN_CONNECTING,     /* PQconnectPoll in progress */
    CONN_SETUP,          /* preparing statements */
    CONN_IDLE,
    CONN_BUSY,           /* one query outstanding */
};

/* minyi_submit_batch() takes 25 parameters: 23 arrays and 2 scalars. */
#define BATCH_NPARAMS 25
#define BATCH_NARRAYS 23

struct pii_sealer;

struct store_conn {
    struct store *st;
    int idx;
    enum conn_state state;
    PGconn *pg;
    struct event *ev_io;
    evutil_socket_t io_fd;
    short io_what;
    struct event *ev_timer;    /* connect/query timeout, or reconnect backoff */
    int backoff_ms;

    /* The query outstanding: its kind, its completion and the ops it
     * answers. */
    enum op_kind kind;
    bool public_door;          /* the query is a public door's operation */
    pool_done_fn done;
    struct store_op **ops;
    size_t n_ops, cap_ops;
    size_t n_rows;             /* distinct reports sent (OP_SUBMIT) */
    int64_t sent_us;           /* when the batch was sent (clock_mono_us) */
    PGresult *res;             /* the first result with rows */
    bool failed;
    char sqlstate[6];
    char errmsg[200];

    /* Parameter buffers of the batch statement, kept between batches. */
    struct pgarr arr[BATCH_NARRAYS];
    int *row_tuple;            /* result tuple of each row, -1 when missing */
    size_t cap_rows;
    /* The ops of the batch being built that carry a row, by their key
     * (principal, client_report_id): open addressing, a power of two at
     * least twice batch_max, so a duplicate is found without a scan; all
     * empty between batches. */
    struct store_op **by_key;
    size_t by_key_cap;
    /* The random bytes of the batch being built, drawn with one RAND_bytes
     * call (batch.c, add_dek); cleansed once it is built, so none outlive
     * it. */
    uint8_t *rand;
    size_t rand_cap, rand_len, rand_used;
};

struct store {
    struct event_base *base;
    struct store_config cfg;
    char *conninfo;
    char body_region[7];
    /* The personal-data keys: the current one (cfg.pii_key at
     * cfg.pii_key_version), which seals, and cfg.pii_old_keys, which only
     * open. */
    struct pii_keyring keyring;
    struct pii_sealer *sealer; /* the current key, ready to wrap intake's data keys */
    /* Intake's sealer of personal fields: one context, given each report's
     * fresh data key in turn (storage/pii.h). */
    struct pii_sealer *dek_sealer;

    struct store_conn *conns;
    int n_conns;
    int n_up;                  /* CONN_IDLE or CONN_BUSY */
    int n_busy;

    struct op_queue subq;      /* submissions waiting for a batch */
    struct op_queue opq;       /* other operations */
    struct op_queue pubq;      /* the public door's, after all others */
    struct op_queue doneq;     /* answered, callbacks not yet called */
    struct event *ev_done;
    struct event *ev_kick;

    /* The 'new' notifications of stored reports not sent yet: the insides
     * of the three array literals minyi_notify_received() takes
     * (batch_notify.c), and whether a call of it is outstanding. */
    struct pgbuf notify_lit[3];
    size_t notify_n;
    bool notify_busy;
    struct event *ev_notify;   /* sends them when it fires */

    bool draining;
    bool drain_notified;
    void (*drain_cb)(void *arg);
    void *drain_arg;
};

/* store.c */
void store_op_queue_push(struct op_queue *q, struct store_op *op);
void store_op_queue_push_front(struct op_queue *q, struct store_op *op);
struct store_op *store_op_queue_pop(struct op_queue *q);
/* Hands op's answer to its caller on a later loop pass. */
void store_op_done(struct store *st, struct store_op *op);
void store_op_fail(struct store *st, struct store_op *op, int code, const char *field,
                   const char *msg, const char *msg_zh);
/* Gives queued work to idle connections on the next loop pass. */
void store_kick(struct store *st);
void store_kick_now(struct store *st);   /* starts queued work at once (store.c) */
/* Fails all queued work when no connection is up or coming up. */
void store_fail_if_unreachable(struct store *st);

/* True when s could be a receipt: 1 to STORE_RECEIPT_MAX digits, letters
 * and dashes.  Anything else cannot name a report, so it is answered
 * NOT_FOUND without asking the database.  (The gateway checks what it
 * receives with validate_receipt_chars; this layer keeps its own contract
 * for any caller, and cannot reach the gateway's validation.) */
bool store_receipt_plausible(const char *s);

/* The op constructor and the queue for ordinary operations, for triage_op.c
 * and batch.c; send sends the op when a connection takes it. */
struct store_op *store_op_new(enum op_kind kind, store_send_fn send, void *arg);
void store_op_enqueue(struct store *st, struct store_op *op);
/* The same for an operation of the public door (public_msg.c): its own
 * queue, served after every other and on STORE_PUBLIC_CONNS_MAX
 * connections at most. */
void store_op_enqueue_public(struct store *st, struct store_op *op);

/* pool.c */
bool pool_conn_init(struct store_conn *c, struct store *st, int idx)
    __attribute__((warn_unused_result));
void pool_start(struct store_conn *c);
void pool_close(struct store_conn *c);
/* Sends a prepared statement for the ops attached to c; done answers them
 * when its results are in.  When the connection breaks instead, the ops
 * are answered UNAVAILABLE and c is reset, and done is not called. */
void pool_send(struct store_conn *c, const char *stmt, int nparams,
               const char *const *values, const int *lengths, const int *formats,
               pool_done_fn done);
bool pool_conn_add_op(struct store_conn *c, struct store_op *op)
    __attribute__((warn_unused_result));
/* True when a failed statement's SQLSTATE says "try again later" rather
 * than "this input cannot be stored". */
bool pool_sqlstate_transient(const char *sqlstate);
/* True when a failed statement's SQLSTATE says this server will not take
 * writes any more, so the connection must be made again (to the primary). */
bool pool_sqlstate_moved(const char *sqlstate);

/* batch.c: run when c is idle and the submission queue is not empty. */
void batch_start(struct store_conn *c);
void batch_free_buffers(struct store_conn *c);
/* Allocates a connection's lookup of a batch's keys (pool_conn_init). */
bool batch_init_buffers(struct store_conn *c);

/* batch_notify.c: what a 'new' notification says besides its kind and
 * state. */
struct batch_fresh_row {
    const char *receipt;       /* in the batch's result, valid until it is cleared */
    int64_t at_ms;
    int64_t principal_id;
};
/* Gathers the notifications of the rows a batch inserted into three
 * text[] / int8[] literals and sends them when no call is outstanding. */
void batch_notify_inserted(struct store *st, const struct batch_fresh_row *rows, size_t n);
void batch_notify_free(struct store *st);
void batch_notify_timer_cb(evutil_socket_t fd, short what, void *arg);

/* queries.c: the senders of the small reads, and what every completion of
 * an ordinary op does first: the op of c when its query succeeded, else
 * NULL with the op answered (UNAVAILABLE when the SQLSTATE says "try
 * again", else INTERNAL). */
void query_send_principal(struct store_conn *c, struct store_op *op);
void query_send_status(struct store_conn *c, struct store_op *op);
void query_send_mine(struct store_conn *c, struct store_op *op);
struct store_op *query_take(struct store_conn *c) __attribute__((warn_unused_result));
/* Answers op with msg (built when ok, NULL for none), or UNAVAILABLE when
 * building it ran out of memory (msg, if any, is freed). */
void query_answer(struct store *st, struct store_op *op, ProtobufCMessage *msg, bool ok);
extern const char store_prepare_sql[];

/* triage_op.c */
void triage_free_params(struct store_op *op);

/* pgbin.c */
bool pgbuf_reserve(struct pgbuf *b, size_t more) __attribute__((warn_unused_result));
void pgbuf_free(struct pgbuf *b);
void pgarr_reset(struct pgarr *a, uint32_t elem_oid);
bool pgarr_add(struct pgarr *a, const void *data, size_t len) __attribute__((warn_unused_result));
bool pgarr_add_null(struct pgarr *a) __attribute__((warn_unused_result));
bool pgarr_add_i16(struct pgarr *a, int16_t v) __attribute__((warn_unused_result));
bool pgarr_add_i32(struct pgarr *a, int32_t v) __attribute__((warn_unused_result));
bool pgarr_add_i64(struct pgarr *a, int64_t v) __attribute__((warn_unused_result));
/* Reserves room for one element of len bytes and returns where to write it. */
uint8_t *pgarr_add_space(struct pgarr *a, size_t len) __attribute__((warn_unused_result));
/* Writes the array header; the array is then data[0..len). */
void pgarr_finish(struct pgarr *a);
void pgarr_free(struct pgarr *a);

#define PG_OID_BYTEA 17
#define PG_OID_INT8  20
#define PG_OID_INT2  21
#define PG_OID_INT4  23
#define PG_OID_TEXT  25
#define PG_OID_UUID  2950

/* link.c: a connection of its own (listen.c, lock.c), see there.  The
 * owner keeps its state; io_cb and timer_cb get arg. */
struct store_link {
    struct event_base *base;
    PGconn *pg;
    struct event *ev_io;       /* the socket, for what store_link_watch said */
    struct event *ev_timer;    /* the owner's deadlines, and the reconnect wait */
    event_callback_fn io_cb;
    void *arg;
    int min_ms, max_ms, backoff_ms;
};

enum store_link_step { STORE_LINK_WAIT, STORE_LINK_OK, STORE_LINK_FAILED };

/* False when out of memory (store_link_free cleans up either way). */
bool store_link_init(struct store_link *k, struct event_base *base, int min_ms, int max_ms,
                     event_callback_fn io_cb, event_callback_fn timer_cb, void *arg)
    __attribute__((warn_unused_result));
void store_link_timer(struct store_link *k, int ms);
/* Watches the current socket for what (0: not at all); false on failure. */
bool store_link_watch(struct store_link *k, short what) __attribute__((warn_unused_result));
/* Starts connecting, with timeout_ms on the timer; false when libpq
 * cannot even start (the owner then calls store_link_close). */
bool store_link_connect(struct store_link *k, const char *conninfo, int timeout_ms)
    __attribute__((warn_unused_result));
/* One connect step on a socket event: WAIT (watching again), OK
 * (connected and non-blocking) or FAILED. */
enum store_link_step store_link_poll(struct store_link *k) __attribute__((warn_unused_result));
/* Closes the connection and arms the timer for the reconnect, doubling the
 * wait for next time; answers the wait armed now. */
int store_link_close(struct store_link *k);
/* The connection works: the next failure waits min_ms again. */
static inline void store_link_works(struct store_link *k) { k->backoff_ms = k->min_ms; }
void store_link_free(struct store_link *k);

/* pool.c: a libpq notice processor that drops notices ("relation already exists,
 * skipping"), which libpq would otherwise print to stderr as they are. */
void store_pq_quiet(void *arg, const char *message);

#endif
