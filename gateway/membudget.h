/*
 * membudget: one process-wide budget for the memory that peers make the
 * gateway hold — the buffers of frames being received and the answers
 * queued for clients — and the return of that memory to the system after
 * a burst.
 *
 * A frame too large for a connection's input window is charged its whole
 * length when its length prefix has been read, before its buffer exists, so
 * a frame that is granted memory can always be received to its end.  When
 * the charge does not fit, the frame waits in a first-come queue (its
 * connection stops reading) until enough memory has been released; it is
 * never charged half.  Answers are charged as they are queued and released
 * as they are written; they cannot wait (the request was already done), so
 * they may take the total over the limit, and while it is over, no
 * connection takes a new frame at all (membudget_over).  Waiting frames are
 * bounded in time by the frame deadline, which the session enforces.
 *
 * Waiting for memory is chosen over closing the largest holders: the
 * largest frames are the honest ones (reports with attachments), a frame
 * that waits loses nothing, and a holder that never completes its frame is
 * closed by its frame deadline anyway, which releases its charge.
 */
#ifndef MINYI_MEMBUDGET_H
#define MINYI_MEMBUDGET_H

#include <stdbool.h>
#include <stddef.h>

#include <event2/event.h>

/* Milliseconds after the last release before the heap is trimmed, so a
 * burst of closes ends in one trim, not one per close ... */
#define MEMBUDGET_TRIM_DELAY_MS 1000
/* ... but no later than this after the first release not yet trimmed, so
 * a steady trickle of closes does not put the trim off for ever. */
#define MEMBUDGET_TRIM_MAX_DELAY_MS 10000
/* Free bytes inside malloc's heap above which a trim is worth its cost. */
#define MEMBUDGET_TRIM_MIN_FREE (4u << 20)
/* Allocations at least this large get their own mapping, which goes back
 * to the system the moment it is freed.  Setting it also stops glibc from
 * raising the threshold after each large free (its default), which is what
 * kept a burst of 1 MiB frames resident after their connections closed. */
#define MEMBUDGET_MMAP_THRESHOLD (128u << 10)

/* Descriptors beyond max_connections given a libevent record at start:
 * the database pool, the listeners, the admin listener's clients, the
 * forwarder's peers and the log. */
#define MEMBUDGET_FD_RESERVE 256

/* glibc's per-thread cache of freed small chunks, as a tunable (see
 * membudget_tune_malloc): one chunk of each size instead of seven. */
#define MEMBUDGET_TCACHE_TUNABLE "glibc.malloc.tcache_count"
#define MEMBUDGET_TCACHE_COUNT 1

struct membudget;

/* One frame (of one connection) waiting for memory.  granted is called
 * from the event loop, never from inside membudget_take or
 * membudget_release, after the charge of need bytes has been taken. */
struct membudget_waiter {
    struct membudget_waiter *prev, *next;
    size_t need;
    bool waiting;
    void (*granted)(struct membudget_waiter *w);
};

/* A budget of *limit bytes (read at every decision, so a reload that
 * changes the value applies at once).  Also fixes malloc's mmap threshold. */
struct membudget *membudget_new(struct event_base *base, const size_t *limit)
    __attribute__((warn_unused_result));
void membudget_free(struct membudget *mb);

/* Charges need bytes for a frame's buffer.  True when they were taken
 * now; otherwise w is queued and false returned, and w->granted is called
 * once the bytes have been taken for it. */
bool membudget_take(struct membudget *mb, struct membudget_waiter *w, size_t need)
    __attribute__((warn_unused_result));
/* Takes w off the queue (its connection is closing); nothing was charged. */
void membudget_cancel(struct membudget *mb, struct membudget_waiter *w);

/* Charges bytes that cannot wait (answers queued for a client). */
void membudget_add(struct membudget *mb, size_t n);
/* Releases bytes charged by membudget_take or membudget_add. */
void membudget_release(struct membudget *mb, size_t n);

/* True while the charged total is above the limit: no new frame is taken. */
bool membudget_over(const struct membudget *mb);
/* Bytes charged now (frame buffers and queued answers), for /metrics. */
size_t membudget_held(const struct membudget *mb);

/*
 * Makes libevent create its record for every descriptor number below fds
 * (bounded by the open-file limit) now, side by side.  libevent allocates
 * the record of a descriptor number the first time an event is added on
 * it and keeps it until the event base is freed.  Made during a burst,
 * each record sits in the middle of its connection's memory and keeps that
 * page resident after the connection closed (measured: 2,000 records,
 * 16 bytes each, kept 9 MB resident that malloc_trim could not return).
 * Made here, they cost a few hundred kB once.  A failure only costs that
 * return of memory, so it is logged and the gateway carries on.
 */
void membudget_prepare_fds(struct event_base *base, int fds);

/*
 * glibc keeps the last chunks freed of each size up to about 1 kB in a
 * per-thread cache (tcache, seven of each by default) that malloc_trim
 * does not see.  After a burst of closes they lie scattered over the
 * memory the burst freed and keep a page resident each: measured 1.2 MB
 * after 2,000 connections closed, on a gateway that started at 13 MB,
 * against 0.5 MB with one chunk of each size.  The cache's size is a
 * tunable that glibc reads only when a program starts, so the gateway
 * executes itself again, once, with GLIBC_TUNABLES naming it; a value the
 * operator set there is kept.  Call it before anything is opened or
 * started.  Returns only when no new execution is needed or it failed
 * (logged: the gateway then runs with glibc's default).
 */
void membudget_tune_malloc(char **argv);

/* Something large was freed (a connection closed): trim malloc's heap
 * once the releases pause for MEMBUDGET_TRIM_DELAY_MS (at the latest
 * MEMBUDGET_TRIM_MAX_DELAY_MS after the first), if it then holds much free
 * memory. */
void membudget_freed(struct membudget *mb);

#endif
