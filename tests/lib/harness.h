/*
 * harness: what the integration tests need around the code under test — a
 * throwaway PostgreSQL cluster, a real minyid process, the test
 * certificates, principals, client profiles and valid reports.
 *
 * Clusters and gateways are cleaned up even when a test fails: an atexit
 * handler stops what a test left running, and a small guardian process
 * stops the clusters with an immediate shutdown when the test process dies
 * abnormally (abort, sanitizer report, SIGKILL from a ctest timeout).  Each
 * cluster also leaves a marker file under MINYI_BINARY_DIR/tests/clusters/
 * until it is destroyed, so tests/run can stop whatever survived even that.
 *
 * The test certificates live in MINYI_BINARY_DIR/tests/certs and are made
 * by tests/run with deploy/certs: ca, server (localhost, 127.0.0.1),
 * contact1, contact2, editor1, editor2, peer1 and peer2 (lower instances'
 * client certificates: district → city and city → province), unknown (signed by the CA, meant never to be
 * registered), inactive, revoked (listed in crl.pem, the CA's CRL), and
 * stranger (signed by a different CA, otherca/ca.crt).
 */
#ifndef MINYI_TEST_HARNESS_H
#define MINYI_TEST_HARNESS_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "client.h"

#define T_WUR __attribute__((warn_unused_result))

/* ---- PostgreSQL ---------------------------------------------------------- */

struct tpg {
    char root[PATH_MAX];     /* temporary directory holding everything below */
    char data[PATH_MAX];     /* data directory */
    char sock[PATH_MAX];     /* unix socket directory (no TCP listener) */
    char log[PATH_MAX];      /* server log */
    int port;                /* names the socket file .s.PGSQL.<port> */
    bool running;
};

/* initdb + start a new cluster in a fresh directory under /tmp, as the
 * postgres user when run as root.  fsync and synchronous_commit are on,
 * because minyid refuses to start otherwise. */
bool tpg_start(struct tpg *pg) T_WUR;
/* pg_ctl stop with the given mode: "fast" (a clean shutdown) or
 * "immediate" (as if the machine lost power: crash recovery on restart). */
bool tpg_stop(struct tpg *pg, const char *mode) T_WUR;
/* Starts the same cluster again on the same socket and port. */
bool tpg_start_again(struct tpg *pg) T_WUR;
/* Stops (fast, then immediate if need be) and removes the directory. */
void tpg_destroy(struct tpg *pg);
/* CREATE DATABASE name; writes a conninfo for it (as user postgres). */
bool tpg_create_db(struct tpg *pg, const char *name, char *conninfo, size_t len) T_WUR;

/* Directory of the PostgreSQL programs (psql, pg_dump, ...):
 * MINYI_PG_BINDIR, else the newest /usr/lib/postgresql/N/bin; "" when
 * they are to be found on PATH. */
const char *tpg_bindir(void);

/* Applies the migrations from the source tree to a database. */
bool tdb_migrate(const char *conninfo) T_WUR;
/* The file's content, NUL-terminated, malloc'd; NULL when it cannot be read
 * or is longer than max bytes. */
char *tfile_text(const char *path, size_t max) T_WUR;
/* Writes a plain-SQL pg_dump of the database to out_path. */
bool tdb_dump(const char *conninfo, const char *out_path) T_WUR;
/* Runs a statement with text parameters; false (printed) on error. */
bool tdb_exec(const char *conninfo, const char *sql, int nparams,
              const char *const *params) T_WUR;
/* Runs a query with text parameters and returns the first column of the
 * first row as an integer (e.g. a count); -1 on error (printed). */
long long tdb_scalar(const char *conninfo, const char *sql, int nparams,
                     const char *const *params);

/* ---- the gateway --------------------------------------------------------- */

struct tgw {
    pid_t pid;               /* 0 when not running */
    int port;
    int admin_port;          /* [admin] port: /metrics and /healthz on 127.0.0.1 */
    int console_port;        /* [console] port: the browser's HTTPS door on 127.0.0.1 */
    char dir[PATH_MAX];      /* holds minyid.conf, pii.key and minyid.log */
    char conf[PATH_MAX];
    char log[PATH_MAX];      /* stderr of every run, appended */
};

/* Writes a config (free loopback port, test certificates, a new PII key,
 * the given conninfo) and starts MINYID_PATH on it, waiting up to 20 s for
 * "minyid ready" on its stderr.  extra_ini (may be NULL) is INI text whose
 * options override or add to the generated ones, e.g.
 * "[gateway]\nmax_inflight = 4\n". */
bool tgw_start(struct tgw *gw, const char *conninfo, const char *extra_ini) T_WUR;
/* Starts the gateway again with the same config and port. */
bool tgw_start_again(struct tgw *gw) T_WUR;
/* Sends sig (e.g. SIGTERM) and waits up to 60 s for the gateway to exit.
 * sig 0 sends nothing and only waits: use it after signalling the gateway
 * yourself, because a second SIGTERM may arrive after minyid has stopped
 * handling signals and kill it.  Returns the exit code, 128 + signal number
 * when it died of a signal, or -1 when it did not exit in time (it is then
 * killed).  The log is copied to stderr when the result is not 0. */
int tgw_stop(struct tgw *gw, int sig);
/* SIGKILL and reap. */
void tgw_kill(struct tgw *gw);
/* True when the gateway's log contains needle. */
bool tgw_log_contains(const struct tgw *gw, const char *needle);
/* Copies the gateway's log to stderr, for a failing test's output. */
void tgw_dump_log(const struct tgw *gw);
/* GET path from the gateway's admin listener (HTTP/1.0, up to 10 s).
 * Answers the status code with the body NUL-terminated in body (len
 * bytes at most, cut when longer), or -1 (printed) when there was no
 * well-formed answer. */
int tgw_http_get(const struct tgw *gw, const char *path, char *body, size_t len);

/* ---- certificates, principals, profiles ---------------------------------- */

/* Path of a test certificate file: tcert("contact1", "crt"), tcert("ca", "crt"),
 * tcert("contact1", "key").  Returns one of a few rotating static buffers. */
const char *tcert(const char *name, const char *kind);
/* SHA-256 of the certificate's DER form. */
bool tcert_fingerprint(const char *certname, uint8_t fp[32]) T_WUR;
/* Registers the certificate's fingerprint as a principal (kind "contact",
 * "editor", "peer" or "admin"; display name = certname) in the database and
 * returns its id, or -1 (printed) on failure.  The database must be
 * migrated (tdb_migrate or a started gateway). */
int64_t tprincipal_add(const char *conninfo, const char *certname, const char *kind,
                       const char *region, bool active);
/* A client profile for the gateway using certname's certificate; certname
 * NULL leaves cert and key empty (a client without a certificate). */
void tprofile(struct client_profile *p, const char *certname, const struct tgw *gw);

/* Writes that profile as an INI file at path, for the minyi CLI; false
 * (printed) when it cannot. */
bool tprofile_write(const char *path, const char *certname, const struct tgw *gw) T_WUR;

/* ---- reports ------------------------------------------------------------- */

/* A random version-4 UUID in text form. */
void tuuid(char out[37]);
/* A valid report (every required field set) with the given
 * client_report_id (NULL: a new UUID) and situation (NULL: a short text).
 * malloc'd; free with protobuf_c_message_free_unpacked(&r->base, NULL). */
Minyi__V1__Report *tmake_report(const char *client_report_id, const char *situation) T_WUR;
/* The text of a file from the shared corpus (MINYI_CORPUS_DIR, else the
 * source tree's ../shared/corpus), malloc'd and NUL-terminated; NULL when
 * it cannot be read. */
char *treport_corpus(const char *name) T_WUR;
/* Sends a SubmitRequest with the next request id and waits for its answer. */
Frame *tsubmit(struct client_conn *c, Minyi__V1__Report *r, struct frame_arena **arena,
               char *err, size_t errlen) T_WUR;

#endif
