/*
 * minyi-bench-copy: the COPY ceiling of the intake benchmark.
 *
 *   minyi-bench-copy --conninfo CONNINFO --principal ID --situation-file F
 *                    [--clients N] [--batch ROWS] [--duration S] [--json FILE]
 *
 * Each of N clients (one thread and one libpq connection each) loads report
 * rows into the reports table with COPY ... FROM STDIN, ROWS rows per
 * statement, each statement its own transaction, until S seconds have
 * passed.  The rows are those of tests/bench/batch100.sql: the same columns,
 * the same constant values, the situation text the harness cuts for
 * pgbench, and a new receipt, client_report_id and payload hash per row.
 * They go through the same schema, indexes and triggers as the gateway's
 * rows, so the rate is what PostgreSQL itself takes at its cheapest way in:
 * the ceiling the gateway's intake (S3) is compared with.
 *
 * The rate counts only rows of statements that committed, from the start to
 * the last commit.  Blocking libpq calls are fine here: this is a load
 * generator, with no event loop to keep awake.
 */
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <libpq-fe.h>
#include <openssl/rand.h>

#include "clock.h"
#include "hex.h"

#define COPY_MAX_CLIENTS 64
#define COPY_MAX_BATCH 100000
#define COPY_MAX_SITUATION (1u << 20)
#define COPY_DEFAULT_BATCH 1000
#define COPY_DEFAULT_SECONDS 5

/* The columns and constant values of tests/bench/batch100.sql. */
#define COPY_SQL                                                                                  \
    "COPY reports (receipt, principal_id, client_report_id, payload_sha256, title, situation, "    \
    "analysis, suggestions, category, urgency, reporter_name, reporter_unit, reporter_kind, "     \
    "reporter_sector, region, phone_enc) FROM STDIN"
#define COPY_TITLE "关于加快老旧小区加装电梯的建议"
#define COPY_ANALYSIS "费用分摊机制不明确,低楼层住户顾虑较多。"
#define COPY_SUGGESTIONS "建议出台分摊指导意见,并由街道牵头协调。"
/* sha256 of the empty string, as the pgbench scripts store for phone_enc. */
#define COPY_EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

struct copy_client {
    pthread_t thread;
    int index;
    long long rows;         /* rows of committed statements */
    int64_t last_commit_ns;
    char error[512];
};

static const char *conninfo, *json_path;
static long long principal;
static int n_clients = 1, batch = COPY_DEFAULT_BATCH;
static double duration_s = COPY_DEFAULT_SECONDS;
static char *situation;     /* escaped for COPY's text format */
static int64_t t_start, t_stop;
/* Every client connects before the clock starts, so connecting is not
 * counted against the rate; the main thread waits here too. */
static pthread_barrier_t connected;

/* The situation text escaped for COPY's text format: a backslash doubled,
 * tab, newline and carriage return written as escapes.  NULL when the file
 * cannot be read or is larger than COPY_MAX_SITUATION. */
static char *load_situation(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    char *raw = malloc(COPY_MAX_SITUATION + 1);
    char *out = NULL;
    if (raw == NULL)
        goto done;
    size_t n = fread(raw, 1, COPY_MAX_SITUATION + 1, f);
    if (n > COPY_MAX_SITUATION || ferror(f))
        goto done;
    while (n > 0 && raw[n - 1] == '\n')
        n--;
    out = malloc(2 * n + 1);
    if (out == NULL)
        goto done;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = raw[i];
        const char *esc = ch == '\\' ? "\\\\" : ch == '\t' ? "\\t" : ch == '\n' ? "\\n"
                          : ch == '\r' ? "\\r" : NULL;
        if (esc != NULL) {
            out[o++] = esc[0];
            out[o++] = esc[1];
        } else {
            out[o++] = ch;
        }
    }
    out[o] = '\0';
done:
    free(raw);
    fclose(f);
    return out;
}

/* Appends one row of the batch to buf (COPY text format); false when the
 * random generator fails. */
static bool append_row(char **buf, size_t *len, size_t *cap, int client, long long seq)
{
    char crid[HEX_UUID_TEXT_LEN + 1], receipt_id[HEX_UUID_TEXT_LEN + 1];
    uint8_t sha[32];
    char sha_hex[65];
    if (!hex_uuid_v4(crid) || !hex_uuid_v4(receipt_id) || RAND_bytes(sha, sizeof(sha)) != 1)
        return false;
    hex_encode(sha, sizeof(sha), sha_hex);
    size_t need = strlen(situation) + 1024;
    if (*len + need > *cap) {
        size_t ncap = (*len + need) * 2;
        char *nb = realloc(*buf, ncap);
        if (nb == NULL)
            return false;
        *buf = nb;
        *cap = ncap;
    }
    /* bytea in COPY text: \\x followed by hex digits (the backslash
     * itself escaped). */
    int w = snprintf(*buf + *len, *cap - *len,
                     "bench-copy-%d-%lld-%s\t%lld\t%s\t\\\\x%s\t%s\t%s\t%s\t%s\t4\t1\t张三\t南湖区政协\t1\t"
                     "经济界\t330402\t\\\\x%s\n",
                     client, seq, receipt_id, principal, crid, sha_hex, COPY_TITLE, situation,
                     COPY_ANALYSIS, COPY_SUGGESTIONS, COPY_EMPTY_SHA256);
    if (w < 0 || (size_t)w >= *cap - *len)
        return false;
    *len += (size_t)w;
    return true;
}

/* One COPY statement of `batch` rows; false with cl->error set on failure. */
static bool copy_batch(PGconn *pg, struct copy_client *cl, long long *seq, char **buf, size_t *cap)
{
    size_t len = 0;
    for (int i = 0; i < batch; i++)
        if (!append_row(buf, &len, cap, cl->index, (*seq)++)) {
            snprintf(cl->error, sizeof(cl->error), "cannot make a row (memory or random)");
            return false;
        }
    PGresult *r = PQexec(pg, COPY_SQL);
    if (PQresultStatus(r) != PGRES_COPY_IN) {
        snprintf(cl->error, sizeof(cl->error), "COPY refused: %s", PQerrorMessage(pg));
        PQclear(r);
        return false;
    }
    PQclear(r);
    if (PQputCopyData(pg, *buf, (int)len) != 1 || PQputCopyEnd(pg, NULL) != 1) {
        snprintf(cl->error, sizeof(cl->error), "COPY data: %s", PQerrorMessage(pg));
        return false;
    }
    bool ok = true;
    while ((r = PQgetResult(pg)) != NULL) {
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            snprintf(cl->error, sizeof(cl->error), "COPY failed: %s", PQresultErrorMessage(r));
            ok = false;
        }
        PQclear(r);
    }
    return ok;
}

static void *client_main(void *arg)
{
    struct copy_client *cl = arg;
    char *buf = NULL;
    size_t cap = 0;
    long long seq = 0;
    PGconn *pg = PQconnectdb(conninfo);
    bool up = PQstatus(pg) == CONNECTION_OK;
    if (!up)
        snprintf(cl->error, sizeof(cl->error), "cannot connect: %s", PQerrorMessage(pg));
    pthread_barrier_wait(&connected);
    if (!up)
        goto done;
    while (clock_mono_ns() < t_stop) {
        if (!copy_batch(pg, cl, &seq, &buf, &cap))
            goto done;
        cl->rows += batch;
        cl->last_commit_ns = clock_mono_ns();
    }
done:
    PQfinish(pg);
    free(buf);
    return NULL;
}

static void usage(FILE *to)
{
    fputs("usage: minyi-bench-copy --conninfo CONNINFO --principal ID --situation-file FILE\n"
          "                        [--clients N] [--batch ROWS] [--duration S] [--json FILE]\n",
          to);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"conninfo", required_argument, NULL, 'c'}, {"principal", required_argument, NULL, 'p'},
        {"situation-file", required_argument, NULL, 's'},
        {"clients", required_argument, NULL, 'n'},  {"batch", required_argument, NULL, 'b'},
        {"duration", required_argument, NULL, 'd'}, {"json", required_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0},
    };
    const char *situation_path = NULL;
    int o;
    while ((o = getopt_long(argc, argv, "c:p:s:n:b:d:j:h", longopts, NULL)) != -1) {
        switch (o) {
        case 'c': conninfo = optarg; break;
        case 'p': principal = atoll(optarg); break;
        case 's': situation_path = optarg; break;
        case 'n': n_clients = atoi(optarg); break;
        case 'b': batch = atoi(optarg); break;
        case 'd': duration_s = atof(optarg); break;
        case 'j': json_path = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (conninfo == NULL || situation_path == NULL || principal <= 0) {
        usage(stderr);
        return 2;
    }
    if (n_clients < 1 || n_clients > COPY_MAX_CLIENTS || batch < 1 || batch > COPY_MAX_BATCH ||
        duration_s <= 0) {
        fprintf(stderr, "minyi-bench-copy: --clients (1-%d), --batch (1-%d) or --duration out of "
                        "range\n",
                COPY_MAX_CLIENTS, COPY_MAX_BATCH);
        return 2;
    }
    situation = load_situation(situation_path);
    if (situation == NULL) {
        fprintf(stderr, "minyi-bench-copy: cannot read the situation text %s\n", situation_path);
        return 2;
    }

    struct copy_client clients[COPY_MAX_CLIENTS] = {0};
    if (pthread_barrier_init(&connected, NULL, (unsigned)n_clients + 1) != 0) {
        fprintf(stderr, "minyi-bench-copy: cannot make a barrier\n");
        return 2;
    }
    for (int i = 0; i < n_clients; i++) {
        clients[i].index = i;
        if (pthread_create(&clients[i].thread, NULL, client_main, &clients[i]) != 0) {
            fprintf(stderr, "minyi-bench-copy: cannot start a client thread\n");
            return 2;
        }
    }
    /* The clients read t_start and t_stop only after the barrier. */
    t_start = clock_mono_ns();
    t_stop = t_start + (int64_t)(duration_s * 1e9);
    pthread_barrier_wait(&connected);
    long long rows = 0;
    int64_t t_end = t_start;
    bool failed = false;
    for (int i = 0; i < n_clients; i++) {
        pthread_join(clients[i].thread, NULL);
        rows += clients[i].rows;
        if (clients[i].last_commit_ns > t_end)
            t_end = clients[i].last_commit_ns;
        if (clients[i].error[0]) {
            fprintf(stderr, "minyi-bench-copy: client %d: %s\n", i, clients[i].error);
            failed = true;
        }
    }
    double secs = (double)(t_end - t_start) * 1e-9;
    double rate = secs > 0 ? (double)rows / secs : 0;
    printf("COPY %d clients x %d-row batches: %lld rows in %.2f s = %.1f rows/s\n", n_clients,
           batch, rows, secs, rate);
    if (json_path != NULL) {
        json_t *j = json_pack("{s:s,s:i,s:i,s:I,s:f,s:f}", "mode", "copy", "clients", n_clients,
                              "batch", batch, "acked", (json_int_t)rows, "seconds", secs, "rate",
                              rate);
        if (j == NULL || json_dump_file(j, json_path, JSON_INDENT(2)) != 0) {
            fprintf(stderr, "minyi-bench-copy: cannot write %s\n", json_path);
            return 2;
        }
        json_decref(j);
    }
    free(situation);
    return failed || rows == 0 ? 1 : 0;
}
