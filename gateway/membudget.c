/*
 * membudget: the memory budget for frame buffers and queued answers.  See
 * membudget.h for the policy.
 */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/resource.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "membudget.h"

/* A first-come queue of waiters, linked through the waiters themselves. */
struct waitq {
    struct membudget_waiter *head, *tail;
};

struct membudget {
    const size_t *limit;
    size_t held;
    size_t peak;                 /* most held since the last "memory_wait_begin" */
    /* Frames that need a buffer, in arrival order.  A frame that fits in
     * its connection's window needs none and waits only while the total is
     * over the limit, in a queue of its own, so it never queues behind a
     * large frame that does not fit yet. */
    struct waitq large, small;
    unsigned long waited;        /* frames queued since the last "memory_wait_begin" */
    bool full;                   /* "memory_wait_begin" logged, "memory_wait_end" not yet */
    struct event *wake;          /* grants to waiters, run from the loop */
    struct event *trim;
    int64_t trim_first_ms;       /* first release since the last trim */
};

static void waitq_push(struct waitq *q, struct membudget_waiter *w)
{
    w->next = NULL;
    w->prev = q->tail;
    if (q->tail != NULL)
        q->tail->next = w;
    else
        q->head = w;
    q->tail = w;
    w->waiting = true;
}

static void waitq_remove(struct waitq *q, struct membudget_waiter *w)
{
    if (w->prev != NULL)
        w->prev->next = w->next;
    else
        q->head = w->next;
    if (w->next != NULL)
        w->next->prev = w->prev;
    else
        q->tail = w->prev;
    w->prev = w->next = NULL;
    w->waiting = false;
}

static void charge(struct membudget *mb, size_t n)
{
    mb->held += n;
    if (mb->held > mb->peak)
        mb->peak = mb->held;
}

static bool fits(const struct membudget *mb, size_t need)
{
    return need <= *mb->limit && mb->held <= *mb->limit - need;
}

bool membudget_over(const struct membudget *mb)
{
    return mb->held > *mb->limit;
}

size_t membudget_held(const struct membudget *mb)
{
    return mb->held;
}

/* Whether a grant is possible now: checked on every release, so cheap. */
static bool grant_due(const struct membudget *mb)
{
    return (mb->small.head != NULL && !membudget_over(mb)) ||
           (mb->large.head != NULL && fits(mb, mb->large.head->need));
}

/* Logs the end of a shortage once nothing waits any more. */
static void note_available(struct membudget *mb)
{
    if (mb->full && mb->large.head == NULL && mb->small.head == NULL) {
        mb->full = false;
        log_info("event=memory_wait_end held=%zu budget=%zu peak=%zu waited=%lu", mb->held,
                 *mb->limit, mb->peak, mb->waited);
    }
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct membudget *mb = arg;
    while (mb->small.head != NULL && !membudget_over(mb)) {
        struct membudget_waiter *w = mb->small.head;
        waitq_remove(&mb->small, w);
        w->granted(w);
    }
    /* Strictly in order: a large frame is never overtaken by a smaller
     * one behind it, so it cannot starve. */
    while (mb->large.head != NULL && fits(mb, mb->large.head->need)) {
        struct membudget_waiter *w = mb->large.head;
        waitq_remove(&mb->large, w);
        charge(mb, w->need);
        w->granted(w);
    }
    note_available(mb);
}

static void wake_if_due(struct membudget *mb)
{
    if (grant_due(mb))
        event_active(mb->wake, EV_TIMEOUT, 0);
}

static void on_trim(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    /* Freed chunks inside the heap stay resident until trimmed; glibc
     * trims only the top of the heap by itself, and a burst of closed
     * connections leaves its free memory scattered below live objects. */
    struct mallinfo2 mi = mallinfo2();
    if (mi.fordblks >= MEMBUDGET_TRIM_MIN_FREE) {
        int released = malloc_trim(0);
        log_debug("event=malloc_trim free=%zu released=%d", mi.fordblks, released);
    }
}

struct membudget *membudget_new(struct event_base *base, const size_t *limit)
{
    struct membudget *mb = calloc(1, sizeof(*mb));
    if (mb == NULL)
        goto fail;
    mb->limit = limit;
    mb->wake = event_new(base, -1, 0, on_wake, mb);
    mb->trim = evtimer_new(base, on_trim, mb);
    if (mb->wake == NULL || mb->trim == NULL)
        goto fail;
    if (mallopt(M_MMAP_THRESHOLD, MEMBUDGET_MMAP_THRESHOLD) != 1)
        log_warnx("event=mallopt_failed option=M_MMAP_THRESHOLD");
    return mb;
fail:
    membudget_free(mb);
    return NULL;
}

void membudget_free(struct membudget *mb)
{
    if (mb == NULL)
        return;
    if (mb->wake != NULL)
        event_free(mb->wake);
    if (mb->trim != NULL)
        event_free(mb->trim);
    free(mb);
}

bool membudget_take(struct membudget *mb, struct membudget_waiter *w, size_t need)
{
    if (need == 0 ? !membudget_over(mb) : (mb->large.head == NULL && fits(mb, need))) {
        charge(mb, need);
        return true;
    }
    w->need = need;
    waitq_push(need == 0 ? &mb->small : &mb->large, w);
    if (!mb->full) {
        mb->full = true;
        mb->waited = 0;
        mb->peak = mb->held;
        log_info("event=memory_wait_begin held=%zu budget=%zu need=%zu", mb->held, *mb->limit, need);
    }
    /* A waiter that can never be granted would wait for ever; the config
     * check keeps the budget at least one largest frame, so this is a bug. */
    if (need > *mb->limit)
        log_error("event=memory_need_over_budget need=%zu budget=%zu", need, *mb->limit);
    mb->waited++;
    return false;
}

void membudget_cancel(struct membudget *mb, struct membudget_waiter *w)
{
    if (!w->waiting)
        return;
    waitq_remove(w->need == 0 ? &mb->small : &mb->large, w);
    /* The head may have changed to a waiter that fits. */
    wake_if_due(mb);
    note_available(mb);
}

void membudget_add(struct membudget *mb, size_t n)
{
    charge(mb, n);
}

void membudget_release(struct membudget *mb, size_t n)
{
    if (n > mb->held)
        fatal("membudget: releasing %zu bytes of %zu held", n, mb->held);
    mb->held -= n;
    wake_if_due(mb);
}

void membudget_freed(struct membudget *mb)
{
    int64_t now = clock_mono_ms();
    if (!evtimer_pending(mb->trim, NULL))
        mb->trim_first_ms = now;
    else if (now - mb->trim_first_ms >= MEMBUDGET_TRIM_MAX_DELAY_MS - MEMBUDGET_TRIM_DELAY_MS)
        return;
    struct timeval tv = clock_tv_ms(MEMBUDGET_TRIM_DELAY_MS);
    evtimer_add(mb->trim, &tv);
}

static void on_never(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
}

void membudget_prepare_fds(struct event_base *base, int fds)
{
    int p[2] = { -1, -1 };
    struct event *ev = NULL;
    int made = 0;
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        rl.rlim_cur < (rlim_t)fds)
        fds = (int)rl.rlim_cur;
    /* A pipe, since epoll refuses regular files such as /dev/null. */
    if (pipe2(p, O_CLOEXEC) != 0)
        goto fail;
    ev = event_new(base, p[0], EV_READ, on_never, NULL);
    if (ev == NULL)
        goto fail;
    for (int fd = 0; fd < fds; fd++) {
        /* A number in use has its record already, or gets it now. */
        if (fcntl(fd, F_GETFD) != -1 || errno != EBADF)
            continue;
        if (dup3(p[0], fd, O_CLOEXEC) != fd)
            goto fail;
        bool added = event_assign(ev, base, fd, EV_READ, on_never, NULL) == 0 &&
                     event_add(ev, NULL) == 0;
        if (added && event_del(ev) != 0)
            fatal("membudget: event_del of descriptor %d failed", fd);
        close(fd);
        if (!added)
            goto fail;
        made++;
    }
    event_free(ev);
    close(p[0]);
    close(p[1]);
    log_debug("event=fd_records_made fds=%d made=%d", fds, made);
    return;
fail:
    log_warn("event=fd_records_failed fds=%d made=%d", fds, made);
    if (ev != NULL)
        event_free(ev);
    if (p[0] >= 0)
        close(p[0]);
    if (p[1] >= 0)
        close(p[1]);
}

/* Room for the operator's GLIBC_TUNABLES and ours; a longer value is left
 * as it is. */
#define TUNABLES_MAX 1024

void membudget_tune_malloc(char **argv)
{
    const char *old = getenv("GLIBC_TUNABLES");
    char tunables[TUNABLES_MAX];

    if (old != NULL && strstr(old, MEMBUDGET_TCACHE_TUNABLE "=") != NULL)
        return;
    /* A program started with privileges (set-user-ID, file capabilities)
     * gets its tunables erased by glibc: executing again would not end. */
    if (getauxval(AT_SECURE) != 0)
        return;
    int n = snprintf(tunables, sizeof(tunables), "%s%s" MEMBUDGET_TCACHE_TUNABLE "=%d",
                     old != NULL ? old : "", old != NULL && *old != '\0' ? ":" : "",
                     MEMBUDGET_TCACHE_COUNT);
    if (n < 0 || (size_t)n >= sizeof(tunables)) {
        log_warnx("event=malloc_tune_skipped reason=\"GLIBC_TUNABLES too long\"");
        return;
    }
    if (setenv("GLIBC_TUNABLES", tunables, 1) != 0) {
        log_warn("event=malloc_tune_failed step=setenv");
        return;
    }
    execv("/proc/self/exe", argv);
    log_warn("event=malloc_tune_failed step=exec");
}
