/*
 * office: what the office (办公室) reads — the body's figures for any
 * period and the 考核 points of a year — derived from the history by the
 * SQL functions of migration 0023_office.sql, never from counters kept on
 * the side.
 *
 * Calls follow store.h's contract: the callback is invoked exactly once,
 * on the loop, never from inside the call; on success reply->msg is a
 * malloc'd protobuf message the receiver owns.  Who may read what is
 * decided in the database as well as by the gateway: offices, admins and
 * editors read the whole body, a contact point its own reports only,
 * anyone else is PERMISSION_DENIED on principal.kind.
 */
#ifndef MINYI_OFFICE_H
#define MINYI_OFFICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

/* The longest period one request may ask figures for: ten years. */
#define OFFICE_PERIOD_MAX_MS (10LL * 366 * 24 * 3600 * 1000)
/* Most rules of a points table, and the longest figure name in one. */
#define OFFICE_RULES_MAX 64
#define OFFICE_FIGURE_MAX 64

/* A 考核 points table: points[i] for each item of figures[i] (a figure
 * name of migration 0023, e.g. adopted_above:provincial); split: writers
 * of merged reports share an item's points equally (else each gets all). */
struct office_rules {
    char figures[OFFICE_RULES_MAX][OFFICE_FIGURE_MAX];
    double points[OFFICE_RULES_MAX];
    size_t n;
    bool split;
};

/* Figures of [from_ms, to_ms) for actor, broken down by by
 * (MINYI__V1__STATS_BY__*).  Reply msg: Minyi__V1__StatsResponse;
 * INVALID_ARGUMENT on stats.from_ms / stats.to_ms / stats.by. */
void office_stats(struct store *st, int64_t actor, int64_t from_ms, int64_t to_ms, int by,
                  store_reply_cb cb, void *arg);

/* Points of [from_ms, to_ms) for actor under rules, per contact point or
 * reporter (MINYI__V1__POINTS_BY__*), with every item when explain.
 * Reply msg: Minyi__V1__PointsResponse, which also lists the rules. */
void office_points(struct store *st, int64_t actor, int64_t from_ms, int64_t to_ms,
                   const struct office_rules *rules, int by, bool explain, store_reply_cb cb,
                   void *arg);

#endif
