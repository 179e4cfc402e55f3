#include <math.h>
#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>

#include "metrics.h"
#include "minyi.pb-c.h"

/* Reports per intake transaction: powers of two up to the largest batch_max. */
static const double batch_bounds[] = { 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096, 10000 };
/* Seconds, from half a millisecond (a commit on a quiet local disk) to the
 * default query timeout. */
static const double latency_bounds[] = { 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                         0.1,    0.25,  0.5,    1,     2.5,  5,     10 };
#define N_OF(a) ((int)(sizeof(a) / sizeof((a)[0])))

struct metrics metrics = {
    .intake_batch_size = { batch_bounds, N_OF(batch_bounds) },
    .intake_commit_seconds = { latency_bounds, N_OF(latency_bounds) },
    .ack_seconds = { latency_bounds, N_OF(latency_bounds) },
};

void metrics_observe(struct metrics_hist *h, double v)
{
    int i = 0;
    while (i < h->n_le && v > h->le[i])
        i++;
    h->bucket[i]++;
    h->sum += v;
    h->count++;
}

/* Integers as integers (counters, counts), anything else with enough
 * digits for a latency sum. */
static void put_value(struct evbuffer *out, double v)
{
    if (isinf(v))
        evbuffer_add_printf(out, v > 0 ? "+Inf" : "-Inf");
    else if (v == floor(v) && fabs(v) < 1e15)
        evbuffer_add_printf(out, "%.0f", v);
    else
        evbuffer_add_printf(out, "%.9g", v);
}

/* Text with backslash and newline escaped, and the double quote too when it
 * is a label value (HELP text keeps its quotes). */
static void put_escaped(struct evbuffer *out, const char *s, bool quote)
{
    for (; *s; s++) {
        if (*s == '\\')
            evbuffer_add(out, "\\\\", 2);
        else if (*s == '\n')
            evbuffer_add(out, "\\n", 2);
        else if (*s == '"' && quote)
            evbuffer_add(out, "\\\"", 2);
        else
            evbuffer_add(out, s, 1);
    }
}

void metrics_family(struct evbuffer *out, const char *name, const char *type, const char *help)
{
    evbuffer_add_printf(out, "# HELP %s ", name);
    put_escaped(out, help, false);
    evbuffer_add_printf(out, "\n# TYPE %s %s\n", name, type);
}

void metrics_sample(struct evbuffer *out, const char *name, const char *const *labels,
                    double value)
{
    evbuffer_add_printf(out, "%s", name);
    if (labels != NULL && labels[0] != NULL) {
        evbuffer_add(out, "{", 1);
        for (int i = 0; labels[i] != NULL && labels[i + 1] != NULL; i += 2) {
            evbuffer_add_printf(out, "%s%s=\"", i > 0 ? "," : "", labels[i]);
            put_escaped(out, labels[i + 1], true);
            evbuffer_add(out, "\"", 1);
        }
        evbuffer_add(out, "}", 1);
    }
    evbuffer_add(out, " ", 1);
    put_value(out, value);
    evbuffer_add(out, "\n", 1);
}

void metrics_write_hist(struct evbuffer *out, const char *name, const char *help,
                        const struct metrics_hist *h)
{
    char series[128], le[32];
    uint64_t cumulative = 0;

    metrics_family(out, name, "histogram", help);
    snprintf(series, sizeof(series), "%s_bucket", name);
    for (int i = 0; i <= h->n_le; i++) {
        cumulative += h->bucket[i];
        if (i < h->n_le)
            snprintf(le, sizeof(le), "%g", h->le[i]);
        else
            snprintf(le, sizeof(le), "+Inf");
        metrics_sample(out, series, (const char *const[]){ "le", le, NULL }, (double)cumulative);
    }
    snprintf(series, sizeof(series), "%s_sum", name);
    metrics_sample(out, series, NULL, h->sum);
    snprintf(series, sizeof(series), "%s_count", name);
    metrics_sample(out, series, NULL, (double)h->count);
}

/* The protocol's name of a Frame body (its field name, e.g. "list_mine"). */
static const char *body_name(int slot)
{
    const ProtobufCFieldDescriptor *f =
        slot > 0 ? protobuf_c_message_descriptor_get_field(&minyi__v1__frame__descriptor,
                                                           (unsigned)slot)
                 : NULL;
    return f != NULL ? f->name : "unknown";
}

/* The protocol's name of an error code, e.g. "INVALID_ARGUMENT". */
static const char *code_name(int slot)
{
    const ProtobufCEnumValue *v =
        slot > 0 ? protobuf_c_enum_descriptor_get_value(&minyi__v1__error_code__descriptor, slot)
                 : NULL;
    return v != NULL ? v->name : "UNKNOWN";
}

/* A family by code, one sample per code that has counted something, so
 * the page does not carry a row of zeros for every code. */
static void write_by_code(struct evbuffer *out, const char *name, const char *help,
                          const uint64_t *counts)
{
    metrics_family(out, name, "counter", help);
    for (int i = 0; i < METRICS_ERROR_CODES; i++)
        if (counts[i] != 0)
            metrics_sample(out, name, (const char *const[]){ "code", code_name(i), NULL },
                           (double)counts[i]);
}

/* A counter family without labels. */
static void write_counter(struct evbuffer *out, const char *name, const char *help, uint64_t v)
{
    metrics_family(out, name, "counter", help);
    metrics_sample(out, name, NULL, (double)v);
}

void metrics_write_registry(struct evbuffer *out)
{
    static const char *const refusal_names[METRICS_REFUSALS] = {
        [METRICS_REFUSED_MAX_CONNECTIONS] = "max_connections",
        [METRICS_REFUSED_PER_ADDRESS] = "max_connections_per_ip",
        [METRICS_REFUSED_SETUP_FAILED] = "setup_failed",
    };

    write_counter(out, "minyi_connections_accepted_total",
                  "TCP connections accepted on the protocol port.", metrics.connections_accepted);
    metrics_family(out, "minyi_connections_refused_total", "counter",
                   "TCP connections closed at once, by reason.");
    for (int i = 0; i < METRICS_REFUSALS; i++)
        metrics_sample(out, "minyi_connections_refused_total",
                       (const char *const[]){ "reason", refusal_names[i], NULL },
                       (double)metrics.connections_refused[i]);
    write_counter(out, "minyi_tls_handshakes_total",
                  "TLS handshakes completed with ALPN minyi/1 and a client certificate.",
                  metrics.tls_handshakes);
    write_counter(out, "minyi_tls_handshake_failures_total",
                  "TLS handshakes that failed, passed their deadline, or lacked ALPN or a "
                  "certificate.",
                  metrics.tls_handshake_failures);
    write_counter(out, "minyi_frames_received_total", "Whole frames taken from clients.",
                  metrics.frames_received);
    write_counter(out, "minyi_frames_sent_total", "Frames queued to clients.",
                  metrics.frames_sent);

    metrics_family(out, "minyi_requests_total", "counter",
                   "Requests dispatched, by type (the Frame body's field name).");
    for (int i = 0; i < METRICS_BODY_CASES; i++)
        if (metrics.requests[i] != 0)
            metrics_sample(out, "minyi_requests_total",
                           (const char *const[]){ "type", body_name(i), NULL },
                           (double)metrics.requests[i]);
    write_by_code(out, "minyi_errors_total", "Error frames sent, by code.", metrics.errors);

    write_counter(out, "minyi_reports_accepted_total",
                  "Submissions answered with a receipt (committed), retries included.",
                  metrics.reports_accepted);
    write_counter(out, "minyi_reports_duplicate_total",
                  "Submissions answered with the receipt of an earlier one with the same "
                  "client_report_id.",
                  metrics.reports_duplicate);
    write_by_code(out, "minyi_reports_rejected_total",
                  "Submissions answered with an error, by code.", metrics.reports_rejected);

    metrics_write_hist(out, "minyi_intake_batch_size", "Distinct reports per intake transaction.",
                       &metrics.intake_batch_size);
    metrics_write_hist(out, "minyi_intake_commit_seconds",
                       "Time from sending an intake transaction to its COMMIT answered.",
                       &metrics.intake_commit_seconds);
    metrics_write_hist(out, "minyi_ack_seconds",
                       "Time from a valid submission handed to storage to its receipt queued to "
                       "the client.",
                       &metrics.ack_seconds);
}
