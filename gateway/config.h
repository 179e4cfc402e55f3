/*
 * config: the gateway's INI file (libinih).  Every option is a row of one
 * table (config_options.c: name, type, default, whether a reload may
 * change it, a line of documentation), from which the parser, the
 * defaults, the reload's keep-fixed check and deploy/minyid.conf.example
 * (`minyid config example`) are derived.  Relative paths are resolved
 * against the directory of the config file.
 */
#ifndef MINYI_CONFIG_H
#define MINYI_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "office.h"

#define CONFIG_PATH_MAX 1024
/* Earlier personal-data key versions a gateway can hold besides the
 * current one (storage/pii.h: PII_KEYS_MAX in all). */
#define CONFIG_OLD_KEYS_MAX 15
#define CONFIG_DEST_LIST_MAX 1024     /* bytes of [triage] destinations */
#define CONFIG_PEERS_MAX 8            /* [peer.NAME] sections */
#define CONFIG_PEER_NAME_MAX 64       /* bytes of NAME, as in destinations */
#define CONFIG_HOST_MAX 256
#define CONFIG_PEER_ADDRS_MAX 8       /* addresses in one [peer.NAME] host list */
#define CONFIG_PORT_TEXT_MAX 12       /* bytes of a port as text: an int and its NUL */
#define CONFIG_DISPLAY_NAME_MAX 128   /* bytes of a destination's display name */
#define CONFIG_EXTERNALS_MAX 32       /* [external.NAME] sections */

/* [peer.NAME]: an instance above this one that FORWARD delivers to. */
struct gw_peer {
    char name[CONFIG_PEER_NAME_MAX + 1];
    char host[CONFIG_HOST_MAX];       /* address, or addresses tried in turn (addrlist.h) */
    int port;                         /* for an address without one; 0 when none is set */
    char ca[CONFIG_PATH_MAX];         /* CA that signs the peer's certificate */
    char server_name[CONFIG_HOST_MAX];/* host name or IP its certificate must carry (default:
                                       * host, or with a list the address being tried) */
    char cert[CONFIG_PATH_MAX];       /* our client certificate for it */
    char key[CONFIG_PATH_MAX];
    char display_name[CONFIG_DISPLAY_NAME_MAX + 1]; /* e.g. 浙江省政协; empty: name */
};

/* [external.NAME]: a destination of FORWARD that is not a minyi gateway
 * (市委办公室, a department): a 报送 sent by the office's own channel,
 * whose response an editor records (config_dests.h). */
struct gw_external {
    char name[CONFIG_PEER_NAME_MAX + 1];
    char display_name[CONFIG_DISPLAY_NAME_MAX + 1];
};

struct gw_config {
    /* [gateway] */
    char listen[256];
    int port;
    char body_region[7];
    char body_name[128];
    size_t max_frame_bytes;
    size_t decode_budget_bytes;
    int max_inflight;
    int handshake_timeout_ms;
    int frame_timeout_ms;
    int idle_timeout_ms;
    int max_connections;
    int max_connections_per_ip;
    int rate_per_s;                  /* per principal; 0: no limit */
    int rate_burst;
    int shutdown_grace_ms;
    size_t memory_budget_bytes;      /* frame buffers and queued answers, all connections */
    size_t output_high_water_bytes;  /* queued answers at which a connection stops being read */
    int output_stall_timeout_ms;     /* ... and after which it is closed if still above */
    /* [tls] */
    char tls_cert[CONFIG_PATH_MAX];
    char tls_key[CONFIG_PATH_MAX];
    char tls_client_ca[CONFIG_PATH_MAX];
    char tls_crl[CONFIG_PATH_MAX];
    /* [database] */
    char db_conninfo[1024];
    int db_pool_size;
    int db_batch_max;
    int db_queue_max;
    int db_query_timeout_ms;
    char migrations_dir[CONFIG_PATH_MAX];
    /* [privacy] */
    char pii_key_file[CONFIG_PATH_MAX];
    int pii_key_version;
    /* [privacy] old_key_files: keys of earlier versions, which open values
     * not yet rewrapped (`minyid pii rewrap`) but seal nothing. */
    int n_pii_old;
    int pii_old_versions[CONFIG_OLD_KEYS_MAX];
    char pii_old_files[CONFIG_OLD_KEYS_MAX][CONFIG_PATH_MAX];
    int retention_days;              /* erase personal fields this long after closing; 0: never */
    int retention_interval_s;        /* between the schedule's rounds */
    /* [admin]: the operator's HTTP listener (/metrics, /healthz) */
    char admin_listen[256];          /* numeric address; "" turns the listener off */
    int admin_port;                  /* 0 turns the listener off */
    /* [console]: the browser's HTTPS listener (console.h) */
    char console_listen[256];        /* numeric address; "" turns the console off */
    int console_port;                /* 0 turns the console off */
    int console_max_connections;     /* open console connections, all sources */
    char console_dir[CONFIG_PATH_MAX];/* the pages' static files */
    /* [log] */
    int log_level;
    bool log_syslog;                 /* every line to syslog (journald) as well */
    /* [triage] */
    int claim_lease_s;               /* default claim length */
    int deadline_received_s;         /* RECEIVED longer than this is overdue (0: never) */
    int deadline_in_review_s;        /* IN_REVIEW likewise */
    char destinations[CONFIG_DEST_LIST_MAX]; /* comma-separated names for FORWARD */
    /* [forward]: the forwarder that delivers outbox rows to the peers */
    int fwd_poll_ms;                 /* how often due rows are claimed */
    int results_interval_ms;         /* how often each peer is asked for results */
    int fwd_lease_s;                 /* a claimed row is due again after this */
    int fwd_claim_max;               /* rows claimed at once */
    int fwd_max_attempts;            /* temporary failures before a row is dead */
    int fwd_backoff_min_ms;          /* wait after the first failure, doubling */
    int fwd_backoff_max_ms;
    int fwd_reconnect_min_ms;        /* no new connection to an unreachable peer for */
    int fwd_reconnect_max_ms;        /* this long, doubling per failure up to max */
    int fwd_timeout_ms;              /* connect + handshake, and each answer */
    /* [audit]: the sealer of the audit chain (gateway/sealer.c) */
    int audit_seal;                  /* 1: this gateway runs a sealer (one per database seals) */
    int audit_seal_interval_ms;      /* pause between rounds that found nothing more to seal */
    int audit_seal_batch_max;        /* rows sealed per table and round */
    char audit_signing_key[CONFIG_PATH_MAX]; /* Ed25519 PEM private key; empty: heads unsigned */
    int audit_sign_every;            /* sign the head after this many sealed rows */
    int audit_sign_interval_s;       /* or after this long with rows sealed */
    /* [public]: 码上商, the public form and its posters */
    char public_token_key[CONFIG_PATH_MAX]; /* signs posters' tokens; empty: no posters */
    char public_base_url[256];       /* the public form's address as printed on posters */
    int audit_check_interval_s;      /* the sealer verifies the whole chain this often */
    int public_pow_bits;             /* the proof of work's difficulty (public_pow.h) */
    int public_rate_addr;            /* calls a minute from one address */
    int public_rate_token;           /* messages a minute to one contact point */
    int public_inflight_max;         /* messages waiting for the database at once */
    int public_photo_max;            /* bytes of one photo */
    /* [peer.NAME] */
    struct gw_peer peers[CONFIG_PEERS_MAX];
    int n_peers;
    /* [external.NAME] */
    struct gw_external externals[CONFIG_EXTERNALS_MAX];
    int n_externals;
    /* [points]: the 考核 points table (config_points.h) */
    struct office_rules points;
    bool points_replaced;            /* the file gave a table of its own */
};

/* How an option's text becomes its field. */
enum config_type {
    CONFIG_INT = 1,          /* int, min..max */
    CONFIG_BYTES,            /* size_t, min..max */
    CONFIG_STR,              /* char array, at least min bytes */
    CONFIG_PATH,             /* likewise, relative to the config file's directory */
    CONFIG_PATH_OR_DEFAULT,  /* a path where an empty value keeps the default */
    CONFIG_REGION,           /* a six-digit region code */
    CONFIG_LOG_LEVEL,        /* debug, info, warn or error, as an int */
    CONFIG_ON_OFF,           /* "on" or "off", as a bool */
    CONFIG_KEY_LIST,         /* [privacy] old_key_files: VERSION:PATH entries (n_pii_old and
                              * the arrays beside it) */
    CONFIG_NAMES,            /* comma-separated destination names */
    CONFIG_POINTS,           /* a [points] key, read by config_points.c into the table of
                              * struct office_rules */
};

/* Flags of an option. */
#define CONFIG_FIXED             0x1  /* a reload keeps the running value (restart to change) */
#define CONFIG_REQUIRED          0x2  /* no default: the installation must give one */
#define CONFIG_EXAMPLE_COMMENTED 0x4  /* the example file shows it commented out */
#define CONFIG_ANY_NAME          0x8  /* the row takes every key of its section that no other
                                       * row names; its name stands for them (FIGURE) */

struct config_option {
    const char *section;     /* "gateway", ...; "peer.NAME" for a peer's */
    const char *name;
    enum config_type type;
    size_t offset, size;     /* of its field in struct gw_config (or gw_peer) */
    long min, max;
    const char *def;         /* the default as written in the file; NULL: none */
    /* For a default known only when the gateway starts (text options):
     * writes it to the field of len bytes.  def is then NULL. */
    void (*def_fn)(char *out, size_t len);
    const char *example;     /* the example file's value when not def; NULL: def */
    unsigned flags;          /* CONFIG_FIXED, ... */
    const char *doc;         /* one line of documentation */
};

/* The tables, each ended by a row whose name is NULL: the sections' options
 * and the options of each [peer.NAME] section. */
extern const struct config_option config_options[];
extern const struct config_option config_peer_options[];
extern const struct config_option config_external_options[];

/* The row of [section] name in table (any section when NULL): the row of
 * that name, else the section's CONFIG_ANY_NAME row, else NULL. */
const struct config_option *config_option_find(const struct config_option *table,
                                               const char *section, const char *name);
/* Parses value into the option's field of base (a struct gw_config, or a
 * struct gw_peer for config_peer_options); dir resolves relative paths
 * (NULL: leave them).  False when the value is not acceptable. */
bool config_option_set(const struct config_option *o, void *base, const char *dir,
                       const char *value) __attribute__((warn_unused_result));
/* Whether the option's field of base holds a value (text not empty,
 * number not 0). */
bool config_option_is_set(const struct config_option *o, const void *base);
/* Whether v is a list of destination names: letters, digits, '_', '.',
 * '-', separated by commas and spaces. */
bool config_names_ok(const char *v);

/* Names every option whose value differs between was and now, as
 * "section.name" (a peer's as "peer.NAME.key") separated by ", " in
 * changed (len bytes; cut short when it does not fit), and returns how
 * many: what a reload changed, by name and never by value. */
size_t config_changed(const struct gw_config *was, const struct gw_config *now, char *changed,
                      size_t len);

/* Gives next the running value (cur's) of every fixed option.  Returns how
 * many differed and names them ("gateway.port,...") in changed. */
size_t config_keep_fixed(struct gw_config *next, const struct gw_config *cur, char *changed,
                         size_t len);

/* Writes deploy/minyid.conf.example: every option with its documentation
 * and default.  False when writing failed. */
bool config_example_write(FILE *f) __attribute__((warn_unused_result));

/* The [peer.NAME] section of name, or NULL. */
const struct gw_peer *config_peer(const struct gw_config *cfg, const char *name);

/* True when name is one of the comma-separated names in cfg->destinations. */
bool config_destination_known(const struct gw_config *cfg, const char *name);

void config_defaults(struct gw_config *cfg);

/* Reads path over the defaults.  Unknown sections or keys and bad values are
 * errors (a typo must not silently leave a default in force). */
bool config_load(const char *path, struct gw_config *cfg, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* The keyring of cfg's personal-data keys: the current key_file at
 * key_version and every old_key_files entry, each file checked private. */
struct pii_keyring;
bool config_read_keyring(const struct gw_config *cfg, struct pii_keyring *kr, char *err,
                         size_t errlen) __attribute__((warn_unused_result));

/* Reads the 64-hex-character key file into key[32]. */
bool config_read_key(const char *path, unsigned char key[32], char *err, size_t errlen)
    __attribute__((warn_unused_result));

#endif
