/*
 * cli_office: the office's commands of the `minyi` CLI —
 *
 *   minyi stats --from DATE --to DATE [--by BREAKDOWN]
 *               [--json | --csv | --xlsx FILE]
 *   minyi points --year Y [--by contact-point|reporter] [--explain] [--json | --csv]
 *
 * cli.c hands the whole command line over when the command word is
 * "stats" or "points".  Parsing is separate from sending, so the unit
 * tests can check what a command line turns into without a gateway.
 */
#ifndef MINYI_CLI_OFFICE_H
#define MINYI_CLI_OFFICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum cli_office_cmd {
    CLI_OFFICE_STATS,
    CLI_OFFICE_POINTS,
};

enum cli_office_format {
    CLI_OFFICE_TEXT,
    CLI_OFFICE_JSON,
    CLI_OFFICE_CSV,
    CLI_OFFICE_XLSX,
};

/* A parsed command line; strings point into argv. */
struct cli_office_args {
    enum cli_office_cmd cmd;
    const char *profile_path;
    bool help;
    enum cli_office_format format;
    const char *xlsx_path;
    int64_t from_ms, to_ms;        /* stats: [from, to) */
    int by;                        /* MINYI__V1__STATS_BY__* or MINYI__V1__POINTS_BY__* */
    bool by_given;
    int year;                      /* points */
    bool explain;
};

void cli_office_usage(FILE *out);
bool cli_office_is_command(const char *name);
bool cli_office_option_wants_value(const char *name, size_t len);

/* Parses argv (argv[0] the program, the command word among the rest);
 * false with the reason in err for a usage error. */
bool cli_office_parse(int argc, char **argv, struct cli_office_args *a, char *err,
                      size_t errlen) __attribute__((warn_unused_result));

int cli_office_main(int argc, char **argv, void (*usage)(FILE *out));

#endif
