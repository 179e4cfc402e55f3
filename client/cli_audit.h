/*
 * cli_audit: the office's read of the audit chain —
 *
 *   minyi audit [--from DATE] [--to DATE] [--report RECEIPT] [--after SEQ]
 *               [--limit N] [--json]
 *
 * Offices and admins only (PROTOCOL.md §3.17).  cli.c hands the whole
 * command line over when the command word is "audit".  Parsing is separate
 * from sending, so the unit tests can check what a command line turns into
 * without a gateway.
 */
#ifndef MINYI_CLI_AUDIT_H
#define MINYI_CLI_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* A parsed command line; strings point into argv. */
struct cli_audit_args {
    const char *profile_path;
    bool help, json;
    int64_t from_ms, to_ms;        /* 0: unbounded */
    const char *receipt;           /* NULL: every entry */
    int64_t after_seq;
    uint32_t limit;                /* 0: the gateway's default */
};

void cli_audit_usage(FILE *out);
bool cli_audit_is_command(const char *name);
bool cli_audit_option_wants_value(const char *name, size_t len);
/* Parses argv (argv[0] the program, "audit" among the rest); false with the
 * reason in err for a usage error. */
bool cli_audit_parse(int argc, char **argv, struct cli_audit_args *a, char *err, size_t errlen)
    __attribute__((warn_unused_result));
int cli_audit_main(int argc, char **argv, void (*usage)(FILE *out));

#endif
