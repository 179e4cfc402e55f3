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

/* Milliseconds after memory was released before the heap is trimmed, so a
 * burst of closes ends in one trim, not one per close. */
#define MEMBUDGET_TRIM_DELAY_MS 1000
/* Free bytes inside malloc's heap above which a trim is worth its cost. */
#define MEMBUDGET_TRIM_MIN_FREE (4u << 20)
/* Allocations at least this large get their own mapping, which goes back
 * to the system the moment it is freed.  Setting it also stops glibc from
 * raising the threshold after each large free (its default), which is what
 * kept a burst of 1 MiB frames resident after their connections closed. */
#define MEMBUDGET_MMAP_THRESHOLD (128u << 10)

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

/* Something large was freed (a connection closed): trim malloc's heap
 * after MEMBUDGET_TRIM_DELAY_MS if it then holds much free memory. */
void membudget_freed(struct membudget *mb);

#endif
