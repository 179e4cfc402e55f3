/*
 * config_options: the one table of the gateway's options (see config.h).
 * Each row names an option, its type and bounds, its default, whether a
 * reload may change it, and one line of documentation; the parser, the
 * defaults, the reload's keep-fixed check and deploy/minyid.conf.example
 * (`minyid config example`) are all derived from it, so adding an option
 * is adding a row.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "config_points.h"
#include "log.h"
#include "paths.h"
#include "session.h"
#include "validate.h"

/* Width of the example file's comment lines. */
#define CONFIG_EXAMPLE_WIDTH 100

#define TEXT_(x) #x
#define TEXT(x) TEXT_(x)

#define FIELD(type, f) offsetof(type, f), sizeof(((type *)0)->f)
/* A row of the [section] options: field is the member of struct gw_config. */
#define OPT(sec, key, type, field, lo, hi, def, flags, doc) \
    { sec, key, type, FIELD(struct gw_config, field), lo, hi, def, NULL, NULL, flags, doc }
/* The same with the value the example file shows instead of the default. */
#define OPT_EX(sec, key, type, field, lo, hi, def, example, flags, doc) \
    { sec, key, type, FIELD(struct gw_config, field), lo, hi, def, NULL, example, flags, doc }
/* An option whose default is found when the gateway starts, or is kept by
 * the module the option belongs to (def_fn). */
#define OPT_FN(sec, key, type, field, def_fn, example, flags, doc) \
    { sec, key, type, FIELD(struct gw_config, field), 0, 0, NULL, def_fn, example, flags, doc }
/* A row of a [peer.NAME] section: field is the member of struct gw_peer. */
#define PEER(key, type, field, lo, hi, example, flags, doc) \
    { "peer.NAME", key, type, FIELD(struct gw_peer, field), lo, hi, NULL, NULL, example, flags, doc }

/* A row of an [external.NAME] section: field is the member of struct gw_external. */
#define EXTERNAL(key, type, field, lo, hi, example, flags, doc)                                \
    { "external.NAME", key, type, FIELD(struct gw_external, field), lo, hi, NULL, NULL, example, \
      flags, doc }

/* The [points] table's default, config_points.c's (def_fn of its row). */
static void points_default(char *out, size_t len)
{
    (void)len;
    config_points_defaults((struct office_rules *)(void *)out);
}

#define FIXED CONFIG_FIXED
#define RELOAD 0

const struct config_option config_options[] = {
    OPT("gateway", "listen", CONFIG_STR, listen, 0, 0, "127.0.0.1", FIXED,
        "Address to listen on (use a public address behind a firewall)."),
    OPT("gateway", "port", CONFIG_INT, port, 1, 65535, "7443", FIXED, "TCP port to listen on."),
    OPT("gateway", "body_region", CONFIG_REGION, body_region, 0, 0, "330400", FIXED,
        "This body's six-digit GB/T 2260 region code, the prefix of every receipt."),
    OPT("gateway", "body_name", CONFIG_STR, body_name, 0, 0, "minyi", RELOAD,
        "Display name of this body (e.g. 嘉兴市政协), used in logs and answers."),
    OPT("gateway", "max_frame_bytes", CONFIG_BYTES, max_frame_bytes, 1024, 64L << 20, "1048576",
        RELOAD, "Largest frame body accepted, in bytes; a larger length prefix closes the connection."),
    OPT("gateway", "decode_budget_bytes", CONFIG_BYTES, decode_budget_bytes, 4096, 1L << 30,
        "8388608", RELOAD, "Memory protobuf-c may allocate to decode one frame, in bytes."),
    OPT("gateway", "max_inflight", CONFIG_INT, max_inflight, 1, 65536, "256", RELOAD,
        "Requests in flight per connection before the gateway stops reading from it.  (Fixed, "
        "not configurable: at most " TEXT(SESSION_FRAMES_PER_EVENT) " frames of one connection "
        "are handled per read event before other connections get their turn.)"),
    OPT("gateway", "handshake_timeout_ms", CONFIG_INT, handshake_timeout_ms, 1, 3600000, "10000",
        RELOAD, "A TLS handshake must finish within this many milliseconds."),
    OPT("gateway", "frame_timeout_ms", CONFIG_INT, frame_timeout_ms, 1, 3600000, "30000", RELOAD,
        "A frame whose first byte has arrived must arrive whole within this many milliseconds."),
    OPT("gateway", "idle_timeout_ms", CONFIG_INT, idle_timeout_ms, 1, 86400000, "300000", RELOAD,
        "A connection with no request for this many milliseconds is closed; an editor watching "
        "the live queue is waiting for events, not idle, and stays."),
    OPT("gateway", "max_connections", CONFIG_INT, max_connections, 1, 1000000, "10000", RELOAD,
        "Connections accepted at once; further ones are refused until others close."),
    OPT("gateway", "max_connections_per_ip", CONFIG_INT, max_connections_per_ip, 1, 1000000,
        "256", RELOAD, "Connections accepted at once from one source address."),
    OPT("gateway", "rate_per_s", CONFIG_INT, rate_per_s, 0, 1000000, "100", RELOAD,
        "Requests per second each principal may make, over all its connections; more are "
        "answered RESOURCE_EXHAUSTED with retry_after_ms.  0 turns the limit off."),
    OPT("gateway", "rate_burst", CONFIG_INT, rate_burst, 1, 1000000, "1000", RELOAD,
        "Requests a principal may make at once before rate_per_s applies (token bucket size)."),
    OPT("gateway", "memory_budget_bytes", CONFIG_BYTES, memory_budget_bytes, 1L << 20, 1L << 40,
        "67108864", RELOAD,
        "Memory all connections together may make the gateway hold in frames being received and "
        "answers not yet written, in bytes.  A frame larger than a connection's 16 KiB input "
        "window is charged its whole length when its length prefix arrives; when that does not "
        "fit, the frame waits (its connection is not read) until memory is released, and gets "
        "RESOURCE_EXHAUSTED if its frame deadline passes first.  While answers take the total "
        "over, no new frame is taken.  Must be at least max_frame_bytes."),
    OPT("gateway", "output_high_water_bytes", CONFIG_BYTES, output_high_water_bytes, 1024,
        1L << 30, "262144", RELOAD,
        "Bytes of answers queued for one connection at which the gateway stops reading its "
        "requests, until the client has read half of them."),
    OPT("gateway", "output_stall_timeout_ms", CONFIG_INT, output_stall_timeout_ms, 1, 3600000,
        "30000", RELOAD,
        "A connection whose answers stay above output_high_water_bytes this many milliseconds "
        "is closed: its client is not reading them."),
    OPT("gateway", "shutdown_grace_ms", CONFIG_INT, shutdown_grace_ms, 0, 3600000, "30000", RELOAD,
        "After SIGTERM, in-flight requests get this many milliseconds to be answered before "
        "connections are closed."),
    OPT_EX("tls", "cert", CONFIG_PATH, tls_cert, 0, 0, NULL, "server.crt",
           RELOAD | CONFIG_REQUIRED, "The gateway's certificate chain, PEM, leaf first."),
    OPT_EX("tls", "key", CONFIG_PATH, tls_key, 0, 0, NULL, "server.key", RELOAD | CONFIG_REQUIRED,
           "The private key of that certificate, PEM."),
    OPT_EX("tls", "client_ca", CONFIG_PATH, tls_client_ca, 0, 0, NULL, "ca.crt",
           RELOAD | CONFIG_REQUIRED, "CA certificate(s) that sign client certificates, PEM."),
    OPT("tls", "crl", CONFIG_PATH, tls_crl, 0, 0, "", RELOAD,
        "Optional certificate revocation list, PEM; empty means none."),
    OPT("database", "conninfo", CONFIG_STR, db_conninfo, 0, 0, "dbname=minyi", FIXED,
        "libpq connection string of this body's database (libpq's defaults for the rest)."),
    OPT("database", "pool_size", CONFIG_INT, db_pool_size, 1, 256, "4", FIXED,
        "PostgreSQL connections kept open by the gateway."),
    OPT("database", "batch_max", CONFIG_INT, db_batch_max, 1, 10000, "256", FIXED,
        "Most reports committed in one transaction."),
    OPT("database", "queue_max", CONFIG_INT, db_queue_max, 1, 10000000, "10000", FIXED,
        "Submissions waiting for a batch before new ones get RESOURCE_EXHAUSTED."),
    OPT("database", "query_timeout_ms", CONFIG_INT, db_query_timeout_ms, 1, 3600000, "10000",
        FIXED, "A query outstanding longer than this many milliseconds fails with UNAVAILABLE."),
    OPT_FN("database", "migrations_dir", CONFIG_PATH_OR_DEFAULT, migrations_dir,
           paths_migrations_default, "/usr/share/minyi/migrations",
           FIXED | CONFIG_EXAMPLE_COMMENTED,
           "Directory of the numbered SQL migrations (default: $" PATHS_MIGRATIONS_ENV " when "
           "set; else, for a minyid run from the build tree it was built in, the source tree's "
           "storage/migrations; else the installed share/minyi/migrations; empty keeps the "
           "default)."),
    OPT_EX("privacy", "key_file", CONFIG_PATH, pii_key_file, 0, 0, NULL, "pii.key",
           FIXED | CONFIG_REQUIRED,
           "File holding 64 hex characters, the 32-byte AES-256-GCM master key that wraps each "
           "report's data key (which seals its personal fields), mode 600: the gateway refuses "
           "to start when group or others may access it.  Make one with: (umask 077; openssl "
           "rand -hex 32 > pii.key)"),
    OPT("privacy", "key_version", CONFIG_INT, pii_key_version, 1, 1000000, "1", FIXED,
        "Version number stored beside and in each wrapped data key, raised when the key is "
        "rotated."),
    OPT("privacy", "old_key_files", CONFIG_KEY_LIST, n_pii_old, 0, 0, "", RELOAD,
        "Keys of earlier versions, as VERSION:FILE entries separated by spaces (each file "
        "private, like key_file): they unwrap data keys not yet moved to the current key, which "
        "wraps everything new.  To rotate: a new key_file with key_version raised, the old one "
        "listed here, a restart, then `minyid -c FILE pii rewrap` wraps every data key again "
        "with the new key; afterwards the old key may go."),
    OPT("privacy", "retention_days", CONFIG_INT, retention_days, 0, 36500, "0", FIXED,
        "Erase the personal fields (phone, a citizen reporter's name) of a report this many "
        "days after it was closed (adopted, rejected, merged, or decided above), each erasure "
        "an event in the audit chain; 0 never.  `minyid -c FILE erase RECEIPT` erases one "
        "report's at once."),
    OPT("privacy", "retention_interval_s", CONFIG_INT, retention_interval_s, 1, 86400, "3600",
        FIXED, "Seconds between the retention schedule's rounds.  The gateway that seals the "
        "audit chain runs them, so one gateway per database does."),
    OPT("admin", "listen", CONFIG_STR, admin_listen, 0, 0, "127.0.0.1", FIXED,
        "The operator's HTTP listener, GET /metrics (Prometheus text format) and GET /healthz "
        "(200 ok, or 503 and why): the numeric address to listen on; empty turns the listener "
        "off.  It has no authentication: keep it on loopback or a management network."),
    OPT("admin", "port", CONFIG_INT, admin_port, 0, 65535, "0", FIXED,
        "Port of that listener; 0 turns it off."),
    OPT("console", "listen", CONFIG_STR, console_listen, 0, 0, "127.0.0.1", FIXED,
        "The web console for editors, the office and contact points (proto/CONSOLE.md): HTTPS, "
        "TLS 1.3 with the [tls] files, the browser's client certificate being its principal, "
        "looked up as on the protocol port; limits, deadlines and rates are the [gateway] ones.  "
        "The numeric address to listen on; empty turns the console off."),
    OPT("console", "port", CONFIG_INT, console_port, 0, 65535, "0", FIXED,
        "Port of the console; 0 turns it off (the quick start uses 8443 for the city and 8444 "
        "for the province)."),
    OPT("console", "max_connections", CONFIG_INT, console_max_connections, 1, 1000000, "1000",
        RELOAD, "Open console connections at most, from all sources; the per-address limit is "
        "[gateway] max_connections_per_ip, counted together with the protocol port's."),
    OPT_FN("console", "dir", CONFIG_PATH_OR_DEFAULT, console_dir, paths_console_default,
           "/usr/share/minyi/console", RELOAD | CONFIG_EXAMPLE_COMMENTED,
           "Directory of the console's pages, read at the start and on SIGHUP (default: $"
           PATHS_CONSOLE_ENV " when set; else, for a minyid run from the build tree it was "
           "built in, the source tree's console/; else the installed share/minyi/console; empty "
           "keeps the default)."),
    OPT("log", "level", CONFIG_LOG_LEVEL, log_level, 0, 0, "info", RELOAD,
        "Lowest level written to stderr: debug, info, warn or error; report text and personal "
        "data appear only at debug."),
    OPT("log", "syslog", CONFIG_ON_OFF, log_syslog, 0, 0, "off", RELOAD,
        "on: every line goes to syslog (journald) as well, facility daemon, ident minyid, "
        "without its ts= field."),
    OPT("triage", "claim_lease_s", CONFIG_INT, claim_lease_s, 1, 86400, "1800", RELOAD,
        "Seconds an editor's claim on a report lasts unless the request asks otherwise "
        "(renewable)."),
    OPT("triage", "deadline_received_s", CONFIG_INT, deadline_received_s, 0, 31536000, "259200",
        RELOAD, "A report still RECEIVED (unclaimed) this many seconds after it arrived is "
        "flagged overdue in the queue (259200 is 3 days); 0 never."),
    OPT("triage", "deadline_in_review_s", CONFIG_INT, deadline_in_review_s, 0, 31536000, "604800",
        RELOAD, "A report IN_REVIEW this many seconds after it was first claimed is flagged "
        "overdue (604800 is 7 days); 0 never."),
    OPT("triage", "destinations", CONFIG_NAMES, destinations, 0, 0, "province", RELOAD,
        "Comma-separated names an editor may FORWARD to (letters, digits, '_', '.', '-')."),
    OPT("forward", "poll_ms", CONFIG_INT, fwd_poll_ms, 10, 3600000, "1000", RELOAD,
        "How often, in milliseconds, the forwarder claims outbox rows that are due.  Of several "
        "gateways on one database only one forwards (and pulls results) at a time: the one "
        "holding the forwarder's PostgreSQL advisory lock.  The others try for it this often "
        "and take over when its holder stops or loses its database session (a failover)."),
    OPT("forward", "results_interval_ms", CONFIG_INT, results_interval_ms, 10, 3600000, "10000",
        RELOAD, "How often, in milliseconds, each peer is asked for the results of the reports "
        "forwarded to it (adopted with its 批示, rejected, merged, forwarded further up, and "
        "results from above it).  Also asked right after each connection to it comes up; "
        "results are acknowledged only once stored here, so none is lost while either side is "
        "down."),
    OPT("forward", "lease_s", CONFIG_INT, fwd_lease_s, 1, 86400, "120", RELOAD,
        "A claimed row not answered within this many seconds is due again, e.g. after this "
        "gateway died while sending it; the upper instance stores a resend only once."),
    OPT("forward", "claim_max", CONFIG_INT, fwd_claim_max, 1, 10000, "64", RELOAD,
        "Rows claimed at once."),
    OPT("forward", "max_attempts", CONFIG_INT, fwd_max_attempts, 1, 1000, "20", RELOAD,
        "Temporary failures (connection refused, timeouts, TLS failures, UNAVAILABLE) before a "
        "row is marked dead and shown to editors; INVALID_ARGUMENT, PERMISSION_DENIED and "
        "CONFLICT make it dead at once."),
    OPT("forward", "backoff_min_ms", CONFIG_INT, fwd_backoff_min_ms, 1, 86400000, "1000", RELOAD,
        "Wait after the first failure in milliseconds, doubling with each further one up to "
        "backoff_max_ms, with random jitter of up to half."),
    OPT("forward", "backoff_max_ms", CONFIG_INT, fwd_backoff_max_ms, 1, 86400000, "600000",
        RELOAD, "The longest wait between attempts of one row, in milliseconds."),
    OPT("forward", "reconnect_min_ms", CONFIG_INT, fwd_reconnect_min_ms, 1, 86400000, "1000",
        RELOAD, "After a connection to a peer fails (refused, timed out, handshake failed, or "
        "lost while a delivery was on it), no new connection to it and no rows claimed for it "
        "for this many milliseconds, doubling with each further failure in a row up to "
        "reconnect_max_ms, with random jitter of up to half; an answer from the peer resets it."),
    OPT("forward", "reconnect_max_ms", CONFIG_INT, fwd_reconnect_max_ms, 1, 86400000, "60000",
        RELOAD, "The longest such pause, in milliseconds; keep it below lease_s."),
    OPT("forward", "timeout_ms", CONFIG_INT, fwd_timeout_ms, 1, 3600000, "30000", RELOAD,
        "Milliseconds for connecting and the TLS handshake, and for each answer."),
    OPT("audit", "seal", CONFIG_INT, audit_seal, 0, 1, "1", FIXED,
        "The audit chain: a sealer chains every committed change (SHA-256) and signs the "
        "chain's head.  Only one gateway per database seals at a time (an advisory lock); the "
        "others wait to take over.  1 runs a sealer in this gateway, 0 none."),
    OPT("audit", "seal_interval_ms", CONFIG_INT, audit_seal_interval_ms, 10, 3600000, "1000",
        RELOAD, "Milliseconds between sealing rounds when nothing more is waiting."),
    OPT("audit", "seal_batch_max", CONFIG_INT, audit_seal_batch_max, 1, 1000000, "10000", RELOAD,
        "Rows sealed per table in one round."),
    OPT("audit", "signing_key_file", CONFIG_PATH, audit_signing_key, 0, 0, "", FIXED,
        "Ed25519 private key (PEM, mode 600) that signs the chain's head; empty seals without "
        "signing.  Make one with: (umask 077; openssl genpkey -algorithm ed25519 -out "
        "audit.key)"),
    OPT("audit", "sign_every", CONFIG_INT, audit_sign_every, 1, 100000000, "1000", RELOAD,
        "Sign the head once this many rows were sealed since the last signed head ..."),
    OPT("audit", "sign_interval_s", CONFIG_INT, audit_sign_interval_s, 1, 86400, "60", RELOAD,
        "... or once this many seconds have passed with rows sealed."),
    OPT("public", "token_key_file", CONFIG_PATH, public_token_key, 0, 0, "", FIXED,
        "码上商: members of the public write to a contact point from its poster's QR code.  "
        "HMAC-SHA256 key (64 hex characters, mode 600) that signs the posters' tokens; empty "
        "turns posters off.  Make one with: (umask 077; openssl rand -hex 32 >public.key)"),
    OPT("public", "base_url", CONFIG_STR, public_base_url, 0, 0, "", RELOAD,
        "The public form's address as printed on posters, e.g. "
        "https://minyi.example.org:8443 (the path /public/ and the token are added)."),
    OPT("public", "pow_difficulty", CONFIG_INT, public_pow_bits, 0, 32, "14", RELOAD,
        "The proof of work a sender's browser does before a message is taken: about "
        "2^difficulty SHA-256 hashes (14: a second or two on a phone); 0 turns it off."),
    OPT("public", "rate_per_address", CONFIG_INT, public_rate_addr, 1, 1000000, "20", RELOAD,
        "Calls of the public form a minute from one address (the form, a message, a pickup "
        "code look-up), with as many at once."),
    OPT("public", "rate_per_token", CONFIG_INT, public_rate_token, 1, 1000000, "60", RELOAD,
        "Messages a minute to one contact point, with as many at once."),
    OPT("public", "inflight_max", CONFIG_INT, public_inflight_max, 1, 10000, "4", RELOAD,
        "Messages from the public waiting for the database at once; more are refused at once "
        "(503), so a flood never holds up the work of contact points and editors."),
    OPT("public", "photo_max_bytes", CONFIG_INT, public_photo_max, 1024, 262144, "262144",
        RELOAD, "Largest photo a sender may attach (at most a report's attachment size)."),
    OPT("audit", "check_interval_s", CONFIG_INT, audit_check_interval_s, 1, 86400, "600", FIXED,
        "Seconds between the sealer's checks of the whole chain: it recomputes every hash and "
        "signature as `minyid audit verify` does and keeps the verdict, which offices and "
        "admins read with `minyi audit` (\"verified up to seq N\")."),
    OPT_FN("points", "FIGURE", CONFIG_POINTS, points, points_default, NULL,
           RELOAD | CONFIG_ANY_NAME,
           "The 考核 points table `minyi points` applies to the history (the office's yearly "
           "assessment of contact points and writers).  One key per figure of `minyi stats` "
           "(proto/PROTOCOL.md section 3.14), written with '.' where the figure has ':' (INI "
           "reads ':' as '='), each worth a number of points from -1000 to 1000: received, "
           "adopted, forwarded, issued (an item of a published 专报 issue, 编发), rejected, "
           "returned, merged, external_sent, external_responses, "
           "adopted_above.LEVEL (LEVEL county, city, provincial or national) and "
           "instruction.LABEL (LABEL a 批示 level: 国家领导人, 省领导, 市领导, 县领导, 部门).  "
           "Figures without a key earn nothing.  The first figure key replaces the whole default "
           "table, which is the one below.  SIGHUP applies a changed table; asking again "
           "recomputes the past."),
    OPT("points", "merged_credit", CONFIG_POINTS, points, 0, 0, "split", RELOAD,
        "Writers of reports merged into one share its points: split (equal shares) or full "
        "(each gets all of them)."),
    { NULL, NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, 0, NULL },
};

const struct config_option config_peer_options[] = {
    PEER("host", CONFIG_STR, host, 1, 0, "127.0.0.1", CONFIG_REQUIRED,
         "Address of the upper instance's gateway, or up to " TEXT(CONFIG_PEER_ADDRS_MAX)
         " addresses separated by commas, each with an optional port (a.example:7443, "
         "[::1]:7443), e.g. its gateways without a load balancer: the forwarder uses one at a "
         "time and moves to the next when it cannot reach it."),
    PEER("port", CONFIG_INT, port, 1, 65535, "7443", 0,
         "TCP port of an address that names none (required unless every address has its own)."),
    PEER("ca", CONFIG_PATH, ca, 1, 0, "province-ca.crt", CONFIG_REQUIRED,
         "CA certificate(s) that sign the upper instance's server certificate, PEM."),
    PEER("server_name", CONFIG_STR, server_name, 0, 0, "minyi.zjzx.gov.cn", 0,
         "Host name or IP address its certificate must carry, checked during the handshake "
         "(default: host; with a list, the address being tried)."),
    PEER("cert", CONFIG_PATH, cert, 1, 0, "peer-client.crt", CONFIG_REQUIRED,
         "Our client certificate for this peer, PEM."),
    PEER("key", CONFIG_PATH, key, 1, 0, "peer-client.key", CONFIG_REQUIRED,
         "The private key of that certificate, PEM."),
    PEER("display_name", CONFIG_STR, display_name, 0, 0, "浙江省政协", 0,
         "What histories and listings call this destination (default: NAME)."),
    { NULL, NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, 0, NULL },
};

const struct config_option config_external_options[] = {
    EXTERNAL("display_name", CONFIG_STR, display_name, 1, 0, "市委办公室", CONFIG_REQUIRED,
             "What histories and listings call this destination."),
    { NULL, NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, 0, NULL },
};

const struct config_option *config_option_find(const struct config_option *table,
                                               const char *section, const char *name)
{
    const struct config_option *any = NULL;

    for (const struct config_option *o = table; o->name != NULL; o++) {
        if (section != NULL && strcmp(o->section, section) != 0)
            continue;
        if (strcmp(o->name, name) == 0)
            return o;
        if ((o->flags & CONFIG_ANY_NAME) && any == NULL)
            any = o;
    }
    return any;
}

static bool parse_long(const char *v, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno != 0 || end == v || *end != '\0' || n < min || n > max)
        return false;
    *out = n;
    return true;
}

/* Destination names: letters, digits, '_', '.', '-', separated by commas
 * (spaces around them allowed). */
bool config_names_ok(const char *v)
{
    for (const char *p = v; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')) &&
            strchr("_.-, ", *p) == NULL)
            return false;
    return true;
}

/* value as a path into out (size bytes), relative to dir unless absolute
 * or dir is NULL or empty. */
static bool set_path(char *out, size_t size, const char *dir, const char *value)
{
    int k;

    if (value[0] != '\0' && value[0] != '/' && dir != NULL && dir[0] != '\0')
        k = snprintf(out, size, "%s/%s", dir, value);
    else
        k = snprintf(out, size, "%s", value);
    return k >= 0 && (size_t)k < size;
}

/* [privacy] old_key_files: VERSION:PATH entries separated by spaces, each
 * path set like a CONFIG_PATH.  The option's field is n_pii_old; the
 * versions and paths go beside it in cfg. */
static bool old_keys_parse(struct gw_config *cfg, const char *dir, const char *v)
{
    char buf[CONFIG_PATH_MAX * 4], *save = NULL, *tok;
    int k = snprintf(buf, sizeof buf, "%s", v);

    if (k < 0 || (size_t)k >= sizeof buf)
        return false;
    cfg->n_pii_old = 0;
    for (tok = strtok_r(buf, " \t,", &save); tok != NULL; tok = strtok_r(NULL, " \t,", &save)) {
        char *colon = strchr(tok, ':'), *end;
        long ver;
        if (colon == NULL || cfg->n_pii_old == CONFIG_OLD_KEYS_MAX)
            return false;
        *colon = '\0';
        ver = strtol(tok, &end, 10);
        if (*end != '\0' || ver < 1 || ver > 1000000 || colon[1] == '\0' ||
            !set_path(cfg->pii_old_files[cfg->n_pii_old], CONFIG_PATH_MAX, dir, colon + 1))
            return false;
        cfg->pii_old_versions[cfg->n_pii_old++] = (int)ver;
    }
    return true;
}

static bool is_text(enum config_type t)
{
    return t == CONFIG_STR || t == CONFIG_PATH || t == CONFIG_PATH_OR_DEFAULT ||
           t == CONFIG_REGION || t == CONFIG_NAMES;
}

bool config_option_set(const struct config_option *o, void *base, const char *dir,
                       const char *value)
{
    char *field = (char *)base + o->offset;
    long n;
    int k;

    if (is_text(o->type) && strlen(value) < (size_t)o->min)
        return false;
    switch (o->type) {
    case CONFIG_INT:
        if (!parse_long(value, o->min, o->max, &n))
            return false;
        *(int *)(void *)field = (int)n;
        return true;
    case CONFIG_BYTES:
        if (!parse_long(value, o->min, o->max, &n))
            return false;
        *(size_t *)(void *)field = (size_t)n;
        return true;
    case CONFIG_LOG_LEVEL:
        if ((k = log_level_parse(value)) < 0)
            return false;
        *(int *)(void *)field = k;
        return true;
    case CONFIG_ON_OFF:
        /* "on" or "off", nothing else, so a typo is an error and not a
         * silent off. */
        if (strcmp(value, "on") != 0 && strcmp(value, "off") != 0)
            return false;
        *(bool *)(void *)field = strcmp(value, "on") == 0;
        return true;
    case CONFIG_REGION:
        if (!validate_region_code((const uint8_t *)value, strlen(value)))
            return false;
        break;
    case CONFIG_NAMES:
        if (!config_names_ok(value))
            return false;
        break;
    case CONFIG_PATH_OR_DEFAULT:
        if (value[0] == '\0')
            return true;
        /* fall through */
    case CONFIG_PATH:
        /* Relative to the config file's directory. */
        return set_path(field, o->size, dir, value);
    case CONFIG_KEY_LIST:
        return old_keys_parse((struct gw_config *)base, dir, value);
    case CONFIG_POINTS: {
        /* A key of its own (merged_credit); a figure key read from a file
         * goes to config_points_option with the file's replaced flag. */
        bool replaced = true;
        return config_points_option((struct office_rules *)(void *)field, &replaced, o->name,
                                    value, NULL, 0);
    }
    case CONFIG_STR:
        break;
    default:
        log_error("event=bug reason=\"option [%s] %s has type %d\"", o->section, o->name,
                  (int)o->type);
        abort();
    }
    k = snprintf(field, o->size, "%s", value);
    return k >= 0 && (size_t)k < o->size;
}

void config_defaults(struct gw_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    for (const struct config_option *o = config_options; o->name != NULL; o++) {
        if (o->def_fn != NULL)
            o->def_fn((char *)cfg + o->offset, o->size);
        else if (o->def != NULL && !config_option_set(o, cfg, NULL, o->def)) {
            /* A default its own option refuses is a bug in the table. */
            log_error("event=bug reason=\"default of [%s] %s refused\"", o->section, o->name);
            abort();
        }
    }
}

bool config_option_is_set(const struct config_option *o, const void *base)
{
    const char *field = (const char *)base + o->offset;

    if (is_text(o->type))
        return field[0] != '\0';
    if (o->type == CONFIG_BYTES)
        return *(const size_t *)(const void *)field != 0;
    if (o->type == CONFIG_ON_OFF)
        return *(const bool *)(const void *)field;
    return *(const int *)(const void *)field != 0;
}

/* Whether the option's value differs between a and b.  Text is compared as
 * text: what follows its NUL is whatever a longer earlier value left. */
static bool option_differs(const struct config_option *o, const void *a, const void *b)
{
    const char *fa = (const char *)a + o->offset, *fb = (const char *)b + o->offset;

    if (is_text(o->type))
        return strcmp(fa, fb) != 0;
    return memcmp(fa, fb, o->size) != 0;
}

/* Appends ", "-separated name parts to out (len bytes, used so far *used). */
static void add_changed(char *out, size_t len, size_t *used, size_t n, const char *a,
                        const char *b, const char *c)
{
    int k = snprintf(out + *used, len - *used, "%s%s.%s%s%s", n ? ", " : "", a, b, c ? "." : "",
                     c ? c : "");
    if (k > 0 && *used + (size_t)k < len)
        *used += (size_t)k;
}

size_t config_changed(const struct gw_config *was, const struct gw_config *now, char *changed,
                      size_t len)
{
    size_t n = 0, used = 0;

    if (len > 0)
        changed[0] = '\0';
    for (const struct config_option *o = config_options; o->name != NULL; o++)
        if (option_differs(o, was, now))
            add_changed(changed, len, &used, n++, o->section, o->name, NULL);
    /* A peer added, removed or changed, by the name it has now (or had). */
    for (int i = 0; i < was->n_peers || i < now->n_peers; i++) {
        const struct gw_peer *a = i < was->n_peers ? &was->peers[i] : NULL;
        const struct gw_peer *b = i < now->n_peers ? &now->peers[i] : NULL;
        for (const struct config_option *o = config_peer_options; o->name != NULL; o++)
            if (a == NULL || b == NULL || option_differs(o, a, b))
                add_changed(changed, len, &used, n++, "peer", (b ? b : a)->name, o->name);
    }
    return n;
}

size_t config_keep_fixed(struct gw_config *next, const struct gw_config *cur, char *changed,
                         size_t len)
{
    size_t n = 0, used = 0;

    if (len > 0)
        changed[0] = '\0';
    for (const struct config_option *o = config_options; o->name != NULL; o++) {
        if (!(o->flags & CONFIG_FIXED))
            continue;
        if (option_differs(o, next, cur)) {
            int k = snprintf(changed + used, len - used, "%s%s.%s", n ? "," : "", o->section,
                             o->name);
            if (k > 0 && used + (size_t)k < len)
                used += (size_t)k;
            n++;
        }
        memcpy((char *)next + o->offset, (const char *)cur + o->offset, o->size);
    }
    return n;
}

/* Writes text as comment lines of at most CONFIG_EXAMPLE_WIDTH columns,
 * breaking at spaces. */
static void write_comment(FILE *f, const char *prefix, const char *text)
{
    const char *p = text;
    size_t room = CONFIG_EXAMPLE_WIDTH - strlen(prefix);

    while (*p != '\0') {
        size_t n = strlen(p), cut = n;
        if (n > room) {
            cut = room;
            while (cut > 0 && p[cut] != ' ')
                cut--;
            if (cut == 0)
                cut = strcspn(p, " ");
        }
        size_t shown = cut;
        while (shown > 0 && p[shown - 1] == ' ')
            shown--;
        fprintf(f, "%s%.*s\n", prefix, (int)shown, p);
        p += cut;
        while (*p == ' ')
            p++;
    }
}

/* One option: its documentation, what it defaults to and whether a reload
 * changes it, then the line itself (commented out under [peer.NAME] and
 * where the example stands for a value of the installation). */
static void write_option(FILE *f, const struct config_option *o, bool commented)
{
    char line[512];
    const char *value = o->example != NULL ? o->example : o->def;

    write_comment(f, "; ", o->doc);
    if (o->type == CONFIG_POINTS && (o->flags & CONFIG_ANY_NAME)) {
        /* Its name stands for many keys: the default table shows them. */
        struct office_rules r;
        points_default((char *)&r, sizeof(r));
        config_points_write(f, "; ", &r);
        return;
    }
    if (!(o->flags & CONFIG_EXAMPLE_COMMENTED) && (o->def != NULL || (o->flags & CONFIG_REQUIRED))) {
        snprintf(line, sizeof(line), "%s%s%s%s",
                 o->flags & CONFIG_REQUIRED ? "Required" : "Default: ",
                 o->flags & CONFIG_REQUIRED ? "" : o->def[0] == '\0' ? "empty" : o->def,
                 o->flags & CONFIG_FIXED ? "; fixed: a reload keeps the running value" : "",
                 ".");
        write_comment(f, "; ", line);
    }
    fprintf(f, "%s%s =%s%s\n", commented || (o->flags & CONFIG_EXAMPLE_COMMENTED) ? "; " : "",
            o->name, value != NULL && value[0] != '\0' ? " " : "", value != NULL ? value : "");
}

bool config_example_write(FILE *f)
{
    const char *section = NULL;

    fputs("; minyid configuration (INI), written by `minyid config example` from the gateway's\n"
          "; table of options.  Every option is shown with its default value, except the\n"
          "; required ones, which show an example.  Options marked fixed take effect only\n"
          "; after a restart; SIGHUP reloads the others.\n"
          "; Relative paths are resolved against the directory of this file.\n"
          "; Run:  minyid -c /etc/minyi/minyid.conf\n"
          "; Comments start with ';' or '#' at the beginning of a line.\n",
          f);
    for (const struct config_option *o = config_options; o->name != NULL; o++) {
        if (section == NULL || strcmp(section, o->section) != 0) {
            fprintf(f, "\n[%s]\n", o->section);
            section = o->section;
        }
        write_option(f, o, false);
    }
    fputs("\n", f);
    write_comment(f, "; ",
                  "[peer.NAME]: an instance above this one (e.g. the city or the province) that "
                  "FORWARD delivers to; NAME is one of the [triage] destinations.  One section "
                  "per peer, at most " TEXT(CONFIG_PEERS_MAX) ".  The upper instance registers "
                  "our client certificate as a principal of kind peer.");
    fputs("; [peer.province]\n", f);
    for (const struct config_option *o = config_peer_options; o->name != NULL; o++)
        write_option(f, o, true);
    fputs("\n", f);
    write_comment(f, "; ",
                  "[external.NAME]: a destination of FORWARD that is not a minyi gateway "
                  "(市委办公室, 市政府办公室, a department), at most " TEXT(CONFIG_EXTERNALS_MAX)
                  ".  NAME is its id for `forward --to`; a 报送 there is recorded with its "
                  "document number and sent by the office's own channel, and an editor records "
                  "what comes back (`respond`).");
    fputs("; [external.swb]\n", f);
    for (const struct config_option *o = config_external_options; o->name != NULL; o++)
        write_option(f, o, true);
    return fflush(f) == 0 && !ferror(f);
}
