/*
 * store: the gateway's PostgreSQL access.
 *
 * A small pool of libpq connections lives inside the libevent loop: they are
 * opened with PQconnectStart/PQconnectPoll, set non-blocking, and driven by
 * events on PQsocket.  Nothing here blocks the loop, except the functions
 * marked "blocking", which are for start-up and the operator's commands only.
 *
 * Submissions go to a batcher that groups concurrent ones into one
 * transaction; a submission's callback reports success only after that
 * transaction's COMMIT succeeded.  If the batch fails in the database, its
 * rows are retried one by one so a bad row does not cost its neighbours.
 *
 * Callback contract: every async call invokes its callback exactly once, on
 * the loop, never from inside the call itself, also when the database is
 * down (UNAVAILABLE) and when the store is shutting down.
 */
#ifndef MINYI_STORE_H
#define MINYI_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>
#include <protobuf-c/protobuf-c.h>

#include "intake.h"
#include "principal.h"

struct pii_keyring;

struct store_config {
    const char *conninfo;        /* libpq connection string */
    int pool_size;               /* connections (default 4) */
    int batch_max;               /* reports per transaction (default 256) */
    int queue_max;               /* submissions waiting for a batch before RESOURCE_EXHAUSTED (default 10000) */
    int reconnect_min_ms;        /* backoff after a lost connection (default 100) */
    int reconnect_max_ms;        /* (default 5000) */
    int query_timeout_ms;        /* a query outstanding longer fails with UNAVAILABLE (default 10000) */
    const char *body_region;     /* this body's region code, the receipt prefix, e.g. "330400" */
    const uint8_t *pii_key;      /* 32-byte AES-256-GCM key for personal fields */
    int pii_key_version;         /* the master key version that wraps new data keys */
    /* Keys of earlier versions, which open values not yet rewrapped (NULL:
     * none); copied by store_open. */
    const struct pii_keyring *pii_old_keys;
};

/* The answer to an async operation.  On success code == 0 and msg is a
 * malloc'd protobuf message the receiver owns (free with
 * protobuf_c_message_free_unpacked(msg, NULL)).  On failure code is a
 * MINYI__V1__ERROR_CODE__* value, field/message say why and msg is NULL. */
struct store_reply {
    int code;
    const char *field;           /* static string or NULL */
    char message[256];
    char message_zh[256];
    ProtobufCMessage *msg;
};

/* One measurement of what the database holds (store_gauges): name says
 * what it is (see gauges.c), label1 and label2 qualify it (a state, a
 * destination; "" when unused). */
#define STORE_GAUGE_NAME_MAX 32
#define STORE_GAUGE_LABEL_MAX 128
struct store_gauge {
    char name[STORE_GAUGE_NAME_MAX];
    char label1[STORE_GAUGE_LABEL_MAX];
    char label2[STORE_GAUGE_LABEL_MAX];
    double value;
};

typedef void (*store_reply_cb)(void *arg, struct store_reply *reply);
/* code 0 with n rows in g (valid during the call only), or an error code
 * (UNAVAILABLE when the database did not answer) with none. */
typedef void (*store_gauges_cb)(void *arg, int code, const struct store_gauge *g, size_t n);
typedef void (*store_principal_cb)(void *arg, int code, const struct principal *p);

struct store;

/* Blocking.  Connects, refuses when fsync or synchronous_commit is off or
 * when an applied migration's file was edited since (its SHA-256 differs
 * from the one recorded), applies pending migrations from migrations_dir in
 * order under an advisory lock.  Returns false with a reason in err. */
bool store_preflight(const char *conninfo, const char *migrations_dir,
                     char *err, size_t errlen) __attribute__((warn_unused_result));

/* store_preflight for `minyid migrate`: also writes to out (a FILE *) what
 * it applied, with checksums, as lines or (json) one JSON object. */
bool store_migrate(const char *conninfo, const char *migrations_dir, void *out_FILE, bool json,
                   char *err, size_t errlen) __attribute__((warn_unused_result));

/* Blocking, read-only: writes every migration file and applied row to out
 * with its state (applied, pending, edited, applied-unchecked from before
 * checksums were kept, missing-file) and checksums, as lines or JSON. */
bool store_migrate_status(const char *conninfo, const char *migrations_dir, void *out_FILE,
                          bool json, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Starts the pool (connections come up asynchronously). */
struct store *store_open(struct event_base *base, const struct store_config *cfg)
    __attribute__((warn_unused_result));

/* True while at least one pool connection is up. */
bool store_healthy(const struct store *st);

/* Looks up an active or inactive principal by certificate fingerprint.
 * code 0 and p set when found; NOT_FOUND; UNAVAILABLE. */
void store_principal_lookup(struct store *st, const uint8_t fingerprint[32],
                            store_principal_cb cb, void *arg);

/* Queues a validated report (ownership of r, a malloc'd struct, moves to the
 * store, which releases it with intake_report_free and free).  Reply msg
 * is a Minyi__V1__SubmitResponse; a retry with the same client_report_id
 * from the same principal answers the first receipt with duplicate = true,
 * or CONFLICT on field "report.client_report_id" when the payload differs. */
void store_submit(struct store *st, struct intake_report *r, store_reply_cb cb, void *arg);

/* Reply msg is a Minyi__V1__StatusResponse; NOT_FOUND when the receipt does
 * not exist or belongs to another principal. */
void store_status(struct store *st, int64_t principal_id, const char *receipt,
                  store_reply_cb cb, void *arg);

/* Reply msg is a Minyi__V1__ListMineResponse, newest first. */
void store_list_mine(struct store *st, int64_t principal_id, uint32_t limit,
                     const char *cursor, store_reply_cb cb, void *arg);

/* Reads the gauges the metrics page shows: reports by state, outbox rows
 * by destination and state, the age of the oldest undelivered outbox row
 * per destination, and the results owed to each lower instance with the
 * age of the oldest.  One query, answered like any other operation. */
void store_gauges(struct store *st, store_gauges_cb cb, void *arg);

/* One round trip to the database (the health check): code 0 when it
 * answered, with no rows. */
void store_ping(struct store *st, store_gauges_cb cb, void *arg);

/* Stops taking new work; calls done once every queued and in-flight
 * operation has answered.  Then store_free may be called. */
void store_drain(struct store *st, void (*done)(void *arg), void *arg);
void store_free(struct store *st);

/* Blocking.  A connection for the operator's commands and the sealer
 * process (notices silenced); NULL with the reason in err. */
struct pg_conn;
struct pg_conn *store_admin_connect(const char *conninfo, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Blocking operator commands (`minyid principal ...`). */
bool store_admin_principal_add(const char *conninfo, const uint8_t fingerprint[32],
                               enum principal_kind kind, const char *name,
                               const char *region, const char *sector,
                               int64_t *id_out, char *err, size_t errlen)
    __attribute__((warn_unused_result));
bool store_admin_principal_set_active(const char *conninfo, int64_t id, bool active,
                                      char *err, size_t errlen)
    __attribute__((warn_unused_result));
/* Registers key (an Ed25519 public key, 32 bytes) as an audit key of the
 * peer principal id (migration 0033), beside the keys it has, with an
 * admin event; a key registered already is left as it is. */
bool store_admin_principal_audit_key(const char *conninfo, int64_t id, const uint8_t key[32],
                                     char *err, size_t errlen) __attribute__((warn_unused_result));
/* Writes one line per principal to out: id kind active fingerprint(hex)
 * region sector name; with json, one JSON array of objects with those keys
 * ("active" a boolean, "sector" "" when none). */
bool store_admin_principal_list(const char *conninfo, void *out_FILE, bool json,
                                char *err, size_t errlen)
    __attribute__((warn_unused_result));

#endif
