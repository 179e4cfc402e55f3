/*
 * clock: the one reading of elapsed time, for deadlines, backoffs, rate
 * limits and measurements, and the one conversion of a number of
 * milliseconds into the timeval libevent's timers take (and the timespec
 * nanosleep takes).  Monotonic: a wall-clock step (NTP, an operator) must
 * not lengthen or cut a wait.
 *
 * It lives beside the protocol code because the gateway, the storage layer
 * and the client all need it, and proto/ is what each of them links.
 */
#ifndef MINYI_CLOCK_H
#define MINYI_CLOCK_H

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>

/* Nanoseconds since an arbitrary fixed point. */
static inline int64_t clock_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Milliseconds since the same point. */
static inline int64_t clock_mono_ms(void)
{
    return clock_mono_ns() / 1000000;
}

/* Microseconds on the same clock, for latencies worth measuring finer
 * than a millisecond (an intake commit, an acknowledgement). */
static inline int64_t clock_mono_us(void)
{
    return clock_mono_ns() / 1000;
}

/* Milliseconds since the Unix epoch by the wall clock: for times shown to
 * people or stored beside the database's, never for measuring a wait. */
static inline int64_t clock_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ms milliseconds as a timeval, e.g. for evtimer_add. */
static inline struct timeval clock_tv_ms(int64_t ms)
{
    struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000) };
    return tv;
}

/* ms milliseconds as a timespec, e.g. for nanosleep. */
static inline struct timespec clock_ts_ms(int64_t ms)
{
    struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };
    return ts;
}

/* Waits ms milliseconds, also when a signal interrupts the wait.  For
 * the command-line tools and the tests only: nothing in the gateway's
 * event loop may sleep. */
static inline void clock_sleep_ms(int64_t ms)
{
    struct timespec ts = clock_ts_ms(ms);
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* The environment variable of the test clock hook (clock_test_offset_s). */
#define CLOCK_TEST_OFFSET_ENV "MINYI_TEST_CLOCK_OFFSET_S"

/* The test clock hook: seconds that schedules judging by the calendar (the
 * retention of personal data) add to the database's time, read from
 * CLOCK_TEST_OFFSET_ENV; 0 when it is unset.  Tests simulate months passing
 * with it; a service never sets it. */
static inline int64_t clock_test_offset_s(void)
{
    const char *v = getenv(CLOCK_TEST_OFFSET_ENV);
    return v != NULL ? strtoll(v, NULL, 10) : 0;
}

#endif
