/*
 * clock: the gateway's one reading of elapsed time, for deadlines, backoffs
 * and rate limits.  Monotonic: a wall-clock step (NTP, an operator) must not
 * lengthen or cut a wait.
 */
#ifndef MINYI_CLOCK_H
#define MINYI_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Milliseconds since an arbitrary fixed point. */
static inline int64_t clock_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Microseconds on the same clock, for latencies worth measuring finer
 * than a millisecond (an intake commit, an acknowledgement). */
static inline int64_t clock_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

#endif
