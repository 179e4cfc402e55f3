/*
 * itkit: small helpers shared by the integration tests in tests/it — one
 * gateway with its database and two registered contact points, connections
 * that fail the test when they cannot be made, request builders for
 * pipelining, assertions on answers, and direct database reads.
 *
 * Everything here fails the running cmocka test (fail_msg) instead of
 * returning an error, so the tests read as the behaviour they check.
 */
#ifndef MINYI_TEST_ITKIT_H
#define MINYI_TEST_ITKIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "harness.h"

#define IT_REGION "330402"            /* region of the test contact points */
#define IT_RECEIPT_MAX 64             /* bytes of a receipt copied out of a frame */
#define IT_TEXT_MAX 1024              /* bytes of a text field itbytes_has searches */

/* A cluster, its database, a gateway and the test principals. */
struct itenv {
    struct tpg pg;
    struct tgw gw;
    char conninfo[1024];
    int64_t contact1, contact2, editor1;
    bool pg_up, gw_up;
};

/* Starts everything (extra_ini as for tgw_start, may be NULL) and registers
 * contact1 and contact2 (contact) and editor1 (editor).  Returns false,
 * having printed why, when anything fails. */
bool itenv_up(struct itenv *e, const char *extra_ini) __attribute__((warn_unused_result));
/* Stops the gateway with SIGTERM (returns its exit code, -1 when it was not
 * running) and destroys the cluster. */
int itenv_down(struct itenv *e);
/* itenv_down for a cmocka group teardown: 0 when the gateway exited 0,
 * else -1 with the exit code printed. */
int itenv_teardown(struct itenv *e);

/* Connects with certname's certificate (NULL: none); fails the test on error. */
struct client_conn *itconnect(const struct itenv *e, const char *certname);
/* The same to any gateway a test started (a second one, a lower instance). */
struct client_conn *itconnect_gw(const struct tgw *gw, const char *certname);
/* Connects and returns NULL with the reason in err when that fails. */
struct client_conn *ittry_connect(const struct itenv *e, const char *certname, char *err,
                                  size_t errlen);

/* Replaces a bytes field of a message made by tmake_report (malloc'd). */
void itset(ProtobufCBinaryData *d, const char *s);
void itset_raw(ProtobufCBinaryData *d, const void *p, size_t len);

/* Adds a field the .proto does not have (or one it has, with raw bytes of
 * our choosing) to a message from tmake_report: protobuf-c packs it after
 * the known fields as its tag, then data as given.  For wire type
 * START_GROUP, data is the group's contents including its end tag.  Freed
 * with the message by protobuf_c_message_free_unpacked(m, NULL). */
void itadd_unknown(ProtobufCMessage *m, uint32_t field, ProtobufCWireType wire_type,
                   const void *data, size_t len);

/* Sends one request with the given id without waiting (pipelining). */
void itsend_submit(struct client_conn *c, uint64_t id, Minyi__V1__Report *r);
void itsend_status(struct client_conn *c, uint64_t id, const char *receipt);
void itsend_list(struct client_conn *c, uint64_t id, uint32_t limit, const char *cursor);
/* Receives one frame; fails the test on timeout or close. */
Frame *itrecv(struct client_conn *c, struct frame_arena **arena);

/* Sends one request with a fresh id and waits for its answer. */
Frame *itsubmit(struct client_conn *c, Minyi__V1__Report *r, struct frame_arena **arena);
Frame *itstatus(struct client_conn *c, const char *receipt, struct frame_arena **arena);
Frame *itlist(struct client_conn *c, uint32_t limit, const char *cursor,
              struct frame_arena **arena);

/* Sends f with a fresh id and waits for its answer (the connection may
 * have other requests in flight); fails the test when none comes. */
Frame *itcall(struct client_conn *c, Frame *f, struct frame_arena **arena);
/* Asks on c for the figures of [from_ms, to_ms) broken down by by (a
 * MINYI__V1__STATS_BY__* value); answers the frame (in *a). */
Frame *itstats(struct client_conn *c, int64_t from_ms, int64_t to_ms, int by,
               struct frame_arena **a);
/* The editor on c claims receipt; fails the test, naming the error, unless
 * the answer is claim_ok. */
void itclaim_ok(struct client_conn *c, const char *receipt);
/* A show of receipt on c (an editor's, or a contact point's of its own
 * report); fails the test, naming the error, unless the answer is
 * show_ok.  The answer lives in *arena. */
const Minyi__V1__ShowResponse *itshow_ok(struct client_conn *c, const char *receipt,
                                         struct frame_arena **arena);
/* The editor on c decides the claimed receipt (a MINYI__V1__DECISION__*
 * value; dest is the one destination of a forward, else NULL); fails the
 * test unless the answer is decide_ok. */
void itdecide_ok(struct client_conn *c, const char *receipt, int decision, const char *dest);
/* The same for a whole DecideRequest (a note, a merge target, a 批示). */
void itdecide_req_ok(struct client_conn *c, Minyi__V1__DecideRequest *q);
/* The editor on c forwards the claimed receipt to dest; fails the test
 * unless the answer is decide_ok. */
void itforward_ok(struct client_conn *c, const char *receipt, const char *dest);
/* contact submits a report with this situation, and the editor on editor
 * claims it and forwards it to dest; copies the receipt to out. */
void itsubmit_forwarded(struct client_conn *contact, struct client_conn *editor,
                        const char *situation, const char *dest, char *out);

/* ---- a hierarchy of instances on one cluster -------------------------------- */

/* One body's instance: its gateway and database, region code and name. */
struct itinst {
    struct tgw gw;
    struct tgw gw2;          /* a second gateway, once itinst_add_gw started it */
    char conninfo[1024];
    const char *region, *name;
    char ini[4096];          /* the config text its gateway was started with */
};

/* Creates database db on pg and starts a gateway for the body region
 * (display name name) with editor1 registered as its editor.  With upper,
 * its one destination upper_dest forwards there with the certificate
 * peer_cert (which upper must register as a peer), with short retry
 * intervals and results pulled every results_ms.  False (printed) when
 * anything fails. */
bool itinst_up(struct tpg *pg, struct itinst *in, const char *db, const char *region,
               const char *name, const char *upper_dest, const struct itinst *upper,
               const char *peer_cert, int results_ms) __attribute__((warn_unused_result));
/* itinst_up with extra config text (NULL: none) added to the instance's. */
bool itinst_up_ini(struct tpg *pg, struct itinst *in, const char *db, const char *region,
                   const char *name, const char *upper_dest, const struct itinst *upper,
                   const char *peer_cert, int results_ms, const char *extra)
    __attribute__((warn_unused_result));

/* The three bodies the hierarchy tests use. */
#define IT_PROV_REGION "330000"
#define IT_PROV_NAME "浙江省政协"
#define IT_CITY_REGION "330400"
#define IT_CITY_NAME "嘉兴市政协"
#define IT_DIST_REGION "330402"
#define IT_DIST_NAME "南湖区政协"
/* Starts the chain district → city → province on pg (databases
 * "district", "city", "province"; each forwards to the next with peer1 and
 * peer2 as its peer certificate, destinations "city" and "province"),
 * results pulled every results_ms.  False (printed) when anything fails. */
bool itinst_chain_up(struct tpg *pg, struct itinst *prov, struct itinst *city,
                     struct itinst *dist, int results_ms) __attribute__((warn_unused_result));
/* itinst_chain_up with extra config text for the city (NULL: none), e.g.
 * its external destinations. */
bool itinst_chain_up_ini(struct tpg *pg, struct itinst *prov, struct itinst *city,
                         struct itinst *dist, int results_ms, const char *city_extra)
    __attribute__((warn_unused_result));

/* Starts the instance's second gateway in->gw2: on its database, with its
 * config and its key for personal fields, as a second minyid of one body
 * behind a load balancer.  False (printed) when it does not start. */
bool itinst_add_gw(struct itinst *in) __attribute__((warn_unused_result));

/* Stops the gateways of the n instances (both, with a second) with
 * SIGTERM (saying which one exited badly), destroys pg when pg_up, and
 * removes dir when it is set (NULL or "": none).
 * Answers 0, or -1 when anything went wrong: a cmocka group teardown. */
int itinst_down(struct itinst *const *all, size_t n, struct tpg *pg, bool pg_up,
                const char *dir);

/* Polls until sql (one text parameter, or none when param is NULL)
 * answers want; false after ms milliseconds. */
bool itwait_text(const char *conninfo, const char *sql, const char *param, const char *want,
                 int ms);

/* How long an instance's delivery or a result from above may take. */
#define IT_INST_WITHIN_MS 30000
/* in's editor1 claims receipt and forwards it to dest; waits until the
 * delivery is made and copies the receipt there into up (IT_RECEIPT_MAX
 * bytes).  Fails the test when anything goes wrong. */
void itinst_forward(const struct itinst *in, const char *receipt, const char *dest, char *up);
/* cert records a 批示 (level, text, given_at_ms: 0 for now, leader
 * 省委副书记) on receipt at in; answers the frame (in *a). */
Frame *itinst_instruct(const struct itinst *in, const char *cert, const char *receipt, int level,
                       const char *text, int64_t given_at_ms, struct frame_arena **a);
/* Waits until receipt's state at in is state; fails the test after
 * IT_INST_WITHIN_MS. */
void itinst_expect_state(const struct itinst *in, const char *receipt, const char *state);

/* ---- the minyi CLI, as a user runs it -------------------------------------- */

/* Most arguments after --profile FILE. */
#define IT_CLI_MAX_ARGS 32

/* Starts the program argv[0] (a path) with its arguments (NULL-terminated)
 * and its standard output and error going to the files out_path and
 * err_path; answers its pid. */
pid_t itspawn(const char *const *argv, const char *out_path, const char *err_path);
/* Runs argv (as itspawn) to its end through the files dir/out and dir/err,
 * copies both streams into out and err (len bytes each) and to stderr for
 * the log; answers the exit status (128 + the signal when it was killed). */
int itrun(const char *dir, const char *const *argv, char *out, char *err, size_t len);

/* Starts `minyi --profile profile args...` (args NULL-terminated) with its
 * standard output and error going to the files out_path and err_path;
 * answers its pid. */
pid_t itspawn_cli(const char *profile, const char *const *args, const char *out_path,
                  const char *err_path);
/* The file at path, at most len - 1 bytes, NUL-terminated into buf ("" when
 * it cannot be read). */
void itslurp(const char *path, char *buf, size_t len);
/* Runs `minyi --profile profile args...` to its end through the files
 * dir/out and dir/err, copies both streams into out and err (len bytes
 * each) and to stderr for the log; answers the exit status (128 + the
 * signal when it was killed). */
int itrun_cli(const char *dir, const char *profile, const char *const *args, char *out,
              char *err, size_t len);

/* Fails the test unless haystack contains needle (showing haystack). */
void itexpect_contains(const char *haystack, const char *needle);
/* The first line of text (without its newline), truncated to len - 1 bytes. */
void itfirst_line(const char *text, char *out, size_t len);
/* Makes an Ed25519 signing key in dir (mode 600) and writes to ini the
 * [audit] config of a gateway that seals every 100 ms and signs a head
 * every sign_every rows with it.  False (printed) when it cannot. */
bool itaudit_ini(const char *dir, int sign_every, char *ini, size_t len)
    __attribute__((warn_unused_result));

/* Writes text to the file at path; fails the test when it cannot. */
void itwrite_file(const char *path, const char *text);

/* ---- 码上商, the public form --------------------------------------------- */

#define IT_POSTER_URL_MAX 600         /* bytes of a poster's URL */
#define IT_POSTER_OUT_MAX 65536       /* bytes of `minyi poster`'s output read */
/* Writes a fresh token key for [public] token_key_file (64 hex characters,
 * mode 600) at dir/public.key and its path into path; fails the test when
 * it cannot. */
void itpublic_key(const char *dir, char *path, size_t len);
/* The token of the current poster of profile's contact point, from
 * `minyi poster` run in dir (with --rotate, which revokes the ones before,
 * when rotate); fails the test when there is none. */
void itposter_token(const char *dir, const char *profile, bool rotate, char *token, size_t len);

/* Runs `minyid -c GW-CONFIG args...` (the operator's commands) to its end
 * like itrun_cli; answers the exit status. */
int itrun_minyid(const char *dir, const struct tgw *gw, const char *const *args, char *out,
                 char *err, size_t len);

/* Waits up to max_ms for what a connection whose principal lost its access
 * gets: an Error frame (id 0, PERMISSION_DENIED, field "certificate"), then
 * the close.  Fails the test otherwise; answers the milliseconds it took. */
long long itexpect_denied_close(struct client_conn *c, long long max_ms);

/* Asserts an Error frame with this code and (when field is not NULL) field. */
void itexpect_error(const Frame *f, int code, const char *field);
/* Asserts a SubmitResponse whose receipt matches ^[0-9]{6}-[0-9]{4}-[0-9]{6}$
 * and copies the receipt to out (IT_RECEIPT_MAX bytes). */
void itexpect_receipt(const Frame *f, char *out);
/* Submits r and asserts a receipt (copied to out, which may be NULL). */
void itsubmit_ok(struct client_conn *c, Minyi__V1__Report *r, char *out);
/* Submits r and asserts INVALID_ARGUMENT on field. */
void itsubmit_invalid(struct client_conn *c, Minyi__V1__Report *r, const char *field);

/* True when s matches ^[0-9]{6}-[0-9]{4}-[0-9]{6}$. */
bool itreceipt_well_formed(const char *s);
/* Whether a bytes field is exactly want, or contains it. */
bool itbytes_is(const ProtobufCBinaryData *b, const char *want);
bool itbytes_has(const ProtobufCBinaryData *b, const char *want);
/* The first history entry of a status with this action whose note
 * contains note; fails the test when there is none. */
const Minyi__V1__HistoryEntry *itstatus_entry(const Minyi__V1__StatusResponse *s,
                                              const char *action, const char *note);
/* Copies a bytes field into a NUL-terminated buffer (truncating). */
void itcopy(const ProtobufCBinaryData *b, char *out, size_t outlen);

/* Runs one SQL command (several statements allowed, no parameters) as the
 * database superuser; fails the test on error. */
void itdb_exec(const char *conninfo, const char *sql);
/* First column of the first row as text (malloc'd), or NULL when there is
 * no row; fails the test on a query error. */
char *itdb_text(const char *conninfo, const char *sql, int nparams, const char *const *params);
/* Number of reports rows with this receipt / this client_report_id. */
long long itdb_rows_receipt(const char *conninfo, const char *receipt);
long long itdb_rows_crid(const char *conninfo, const char *crid);

/* ---- skips that ctest sees ------------------------------------------------- */

/* The exit status ctest reads as "skipped" (SKIP_RETURN_CODE, set for every
 * integration test in tests/CMakeLists.txt). */
#define IT_SKIP_RC 77

/* Skips the running test because something outside the code under test is
 * missing (a tool not installed, an earlier test's result), printing why.
 * Never for an answer of the gateway: that is a failure. */
void itskip(const char *why) __attribute__((noreturn));
/* The exit status of a test program from cmocka_run_group_tests' count of
 * failed tests: 1 when any failed, IT_SKIP_RC when none failed but a test
 * called itskip, else 0.  cmocka itself counts a skip as a pass. */
int itexit(int failed);
/* itexit, and 1 as well when a group teardown (itenv_teardown,
 * itinst_down) found a gateway that stopped badly — under the sanitizers,
 * a leak reported at its exit — which cmocka reports but counts as
 * nothing.  Tests move to it once their gateways are known to stop clean
 * under the sanitizers. */
int itexit_strict(int failed);

/* Makes a fresh directory /tmp/minyi-NAME-XXXXXX into out (len bytes);
 * false when it cannot. */
bool itmkdtemp(char *out, size_t len, const char *name) __attribute__((warn_unused_result));
/* Removes a directory made by itmkdtemp with everything in it. */
void itrmtree(const char *dir);

/* Monotonic milliseconds. */
long long itnow_ms(void);
void itsleep_ms(int ms);
/* Under AddressSanitizer resident memory says little (its shadow memory
 * and quarantine), so tests compare it with a bound only when this is 1. */
#if defined(__SANITIZE_ADDRESS__)
#define IT_CHECK_RSS 0
#else
#define IT_CHECK_RSS 1
#endif
/* Resident memory of process pid in kB (VmRSS); fails the test when it
 * cannot be read. */
long itrss_kb(pid_t pid);
/* Any "Name: N kB" line of /proc/PID/status, e.g. "RssAnon". */
long itstatus_kb(pid_t pid, const char *field);
/* CPU time (user + system) process pid has used, in milliseconds; fails
 * the test when it cannot be read. */
long long itcpu_ms(pid_t pid);
/* Raises this process's open-file limit to its hard limit, for tests that
 * hold many connections (a gateway started afterwards inherits it). */
void itraise_nofile(void);
/* The value of one sample of a /metrics page (series is the name with its
 * labels exactly as rendered, e.g. minyi_errors_total{code="INVALID_ARGUMENT"}),
 * or NAN when the page has no such sample. */
double itmetric(const char *page, const char *series);

#endif
