/*
 * metrics: the process's counters and histograms, and their rendering in
 * the Prometheus text exposition format (version 0.0.4).
 *
 * The gateway is one thread, so the registry is one plain struct: the hot
 * path adds to a field (metrics.frames_received++) and observes a histogram
 * with a short scan of its bounds; no locks, no allocation.  Values that are
 * cheaper to read when scraped than to keep up to date (connections by
 * state, bytes in buffers, what the database holds) are not kept here: the
 * admin listener writes them itself with metrics_family and metrics_sample.
 *
 * The store library counts into the same registry (batch sizes, commit
 * latency), which is why this file is built into the library it shares
 * with the logger.
 */
#ifndef MINYI_METRICS_H
#define MINYI_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct evbuffer;

/* Frame body field numbers below this are counted apart; any other counts
 * in slot 0, shown as type="unknown". */
#define METRICS_BODY_CASES 128
/* Error codes below this are counted apart; any other in slot 0. */
#define METRICS_ERROR_CODES 16
/* Most bounds of a histogram (the +Inf bucket comes on top). */
#define METRICS_HIST_BOUNDS_MAX 16

struct metrics_hist {
    const double *le;                          /* upper bounds, ascending */
    int n_le;
    uint64_t bucket[METRICS_HIST_BOUNDS_MAX + 1]; /* per bound, not cumulative; last: above all */
    double sum;
    uint64_t count;
};

/* Why an accepted TCP connection was closed at once. */
enum metrics_refusal {
    METRICS_REFUSED_MAX_CONNECTIONS,
    METRICS_REFUSED_PER_ADDRESS,
    METRICS_REFUSED_SETUP_FAILED,
    METRICS_REFUSALS,
};

struct metrics {
    uint64_t connections_accepted;
    uint64_t connections_refused[METRICS_REFUSALS];
    uint64_t tls_handshakes;                   /* completed with ALPN minyi/1 and a certificate */
    uint64_t tls_handshake_failures;           /* failed, timed out, or refused after it */
    uint64_t frames_received;
    uint64_t frames_sent;
    uint64_t requests[METRICS_BODY_CASES];     /* by Frame body field number */
    uint64_t errors[METRICS_ERROR_CODES];      /* Error frames sent, by code */
    uint64_t reports_accepted;                 /* submissions answered with a receipt */
    uint64_t reports_duplicate;                /* of those, retries answered with the first receipt */
    uint64_t reports_rejected[METRICS_ERROR_CODES];
    struct metrics_hist intake_batch_size;     /* reports per intake transaction */
    struct metrics_hist intake_commit_seconds; /* intake transaction, sent to answered */
    struct metrics_hist ack_seconds;           /* valid submission handed to storage to its receipt queued */
};

extern struct metrics metrics;

void metrics_observe(struct metrics_hist *h, double v);

static inline int metrics_body_slot(int body_case)
{
    return body_case > 0 && body_case < METRICS_BODY_CASES ? body_case : 0;
}

static inline int metrics_code_slot(int code)
{
    return code > 0 && code < METRICS_ERROR_CODES ? code : 0;
}

/* Writes the # HELP and # TYPE lines of a family; type is "counter",
 * "gauge" or "histogram". */
void metrics_family(struct evbuffer *out, const char *name, const char *type, const char *help);
/* Writes one sample.  labels is NULL or a NULL-terminated list of name,
 * value pairs; the values are escaped as the format requires. */
void metrics_sample(struct evbuffer *out, const char *name, const char *const *labels,
                    double value);
/* Writes a histogram's family and its _bucket, _sum and _count samples. */
void metrics_write_hist(struct evbuffer *out, const char *name, const char *help,
                        const struct metrics_hist *h);
/* Writes every family of the registry. */
void metrics_write_registry(struct evbuffer *out);

#endif
