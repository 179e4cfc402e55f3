/*
 * store_log: the store's log lines, in the gateway's key=value format.  The
 * store is a library of its own (the tools and tests link it without the
 * gateway), so it writes its few lines itself.  Never personal data or
 * report text here.
 */
#include "store_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define STORE_LOG_LINE_MAX 1024

void store_log(const char *level, const char *fmt, ...)
{
    char line[STORE_LOG_LINE_MAX];
    struct timespec ts;
    struct tm tm;
    va_list ap;
    int n, m;
    size_t len;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    n = snprintf(line, sizeof line, "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s module=store ",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                 tm.tm_sec, ts.tv_nsec / 1000000, level);
    if (n < 0 || (size_t)n >= sizeof line)
        return;
    va_start(ap, fmt);
    m = vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    if (m < 0)
        return;
    len = strlen(line);
    if (len > sizeof line - 2)
        len = sizeof line - 2;
    line[len++] = '\n';
    fwrite(line, 1, len, stderr);
}

void store_pq_quiet(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}
