/*
 * analytics: what happened after content was served. Events (POST /v1/events, and those
 * the hub records itself: exposures when it serves content for a subject, deliveries when a
 * job is delivered), the counters and touchpoints they leave in LMDB, the item report
 * (per variant and channel, with uplift, probability to beat the base and a sample ratio
 * check), attribution of conversions to touchpoints, bandit re-weighting and retention.
 * docs/reports.md explains the numbers for readers of the reports.
 *
 * Storage (all written on the writer thread, in the caller's transaction):
 * - HUB_DB_COUNTERS "item\0variant\0channel\0be32 day" -> counters (record.c); variant ""
 *   is the holdout, channel "" an event without channel. Days are UTC days since the epoch.
 * - HUB_DB_ASSIGNMENTS (experiment) carries the unit flags: a subject's exposure and its
 *   conversion are counted once per item.
 * - HUB_DB_TOUCH "subject\0be64 ms be64 seq" -> touchpoint (exposure, delivered, open,
 *   click of an item in a channel); HUB_DB_CONVERSIONS "action\0be64 ms be64 seq" ->
 *   conversion; HUB_DB_TOUCH_TIME "be64 ms be64 seq" -> where to delete either at the end
 *   of the retention period.
 *
 * Threads: the write functions run in the caller's write transaction; reports in a read
 * transaction on any thread; the recorder has its own thread (recorder.c).
 */
#ifndef HUB_ANALYTICS_H
#define HUB_ANALYTICS_H

#include <jansson.h>
#include <stdint.h>

#include "base/base.h"
#include "content/content.h"
#include "delivery/delivery.h"
#include "experiment/experiment.h"
#include "store/store.h"

#define HUB_EVENTS_MAX 1000 /* events per POST /v1/events */

typedef enum hub_event_type {
    HUB_EV_EXPOSURE,
    HUB_EV_DELIVERED,
    HUB_EV_OPEN,
    HUB_EV_CLICK,
    HUB_EV_CONVERSION,
    HUB_EV_UNSUBSCRIBE,
    HUB_EV_BOUNCE,
    HUB_EV_COUNT
} hub_event_type;

/* One event, validated. Slices borrowed from the request (or the job). */
typedef struct hub_event {
    hub_event_type type;
    hub_slice subject, item, variant, channel, action;
    int has_variant; /* 0: take it from the stored assignment, else the base */
    int holdout;     /* the subject is held out (variant "") */
    double value;
    int64_t ms;
} hub_event;

/* Settings (config "analytics"). */
typedef struct hub_analytics_config {
    int retention_days;          /* touchpoints, conversions and daily counters; default 180 */
    int64_t bandit_interval_ms;  /* how often bandits are re-weighted; default 1 h */
    double bandit_floor_percent; /* no arm below this share; default 5 */
} hub_analytics_config;

void hub_analytics_config_default(hub_analytics_config *c);

/* ---- recording (record.c), in the caller's write transaction --------------------------- */

/*
 * Records one event: counters of its day, the unit flags (first exposure, first conversion
 * of the subject for the item), a touchpoint (exposure, delivered, open, click with an
 * item) and the conversion index (conversions with an action). seq: unique per event
 * (hub_analytics_seq_block). touch_always: 0 records an exposure's touchpoint only for the
 * subject's first exposure (what reads do), 1 always (reported events).
 */
int hub_analytics_record(hub_txn *txn, const hub_event *e, uint64_t seq, int touch_always);

/* Reserves n (<= 1024) event sequence numbers; the first into *first. */
int hub_analytics_seq_block(hub_txn *txn, size_t n, uint64_t *first);

/* An exposure decided by hub_experiment_decide, ready to record (slices borrowed). */
typedef struct hub_exposure {
    hub_slice key, subject, variant, channel; /* variant "" when held out */
    int holdout;
    int store;   /* store the decision as the subject's sticky assignment */
    int replace; /* ... even over a sticky one (its variant was removed) */
    int64_t ms;
} hub_exposure;

/* The exposure of decision d of plan p for (key, subject) in channel at ms. */
void hub_exposure_of(const hub_plan *p, const hub_decision *d, hub_slice key, hub_slice subject,
                     hub_slice channel, int64_t ms, hub_exposure *out);

/* Records an exposure: stores the sticky assignment when asked (a sticky one stored
 * meanwhile wins, unless replace), and counts the subject's first exposure of the item with
 * its touchpoint. */
int hub_analytics_expose(hub_txn *txn, const hub_exposure *x);

/* The hub_delivered_hook of core/delivery: counts the delivery and its touchpoint. */
int hub_analytics_on_delivered(void *ctx, hub_txn *txn, const json_t *job, int64_t now_ms);

/* Deletes touchpoints, conversions and daily counters older than retention_days, at most
 * max_deletes entries per call; *more = 1 when some are left. */
int hub_analytics_prune(hub_txn *txn, int retention_days, int64_t now_ms, size_t max_deletes,
                        int *more);

/* ---- events (events.c) ----------------------------------------------------------------- */

/*
 * POST /v1/events. Validates every event of `body` (an array of at most HUB_EVENTS_MAX) in
 * the read transaction rtxn against the published items, their variants, the channels
 * known to `schemas`, the taxonomy (actions) and the clock; *out_ok gets the accepted events
 * (a new array of the valid event objects, to hand to hub_events_write), *out_rejected a new
 * array [{"index","path","reason"}]. HUB_EINVAL (with a reason in err) when body is not such
 * an array.
 */
int hub_events_check(hub_txn *rtxn, const json_t *body, const hub_schema_set *schemas,
                     int64_t now_ms, int retention_days, json_t **out_ok, json_t **out_rejected,
                     hub_error *err);
/* Records the accepted events (from hub_events_check) in one write transaction. */
int hub_events_write(hub_txn *txn, const json_t *accepted);

/* ---- reports (reports.c), in a read transaction --------------------------------------- */

/* The item report (API.md "Events and reports") for days from_ms..to_ms (inclusive; -1:
 * open). HUB_ENOTFOUND when the item has no draft and no counters. */
int hub_report_item(hub_txn *txn, const char *key, int64_t from_ms, int64_t to_ms, json_t **out);

typedef struct hub_attribution_query {
    const char *action;
    const char *model; /* first_touch | last_touch | linear | time_decay | position */
    int window_days;   /* 1..365 */
    double half_life_days;
    int64_t from_ms, to_ms; /* conversions in this range (-1: open) */
} hub_attribution_query;

/* Credits of the conversions of q->action; HUB_EINVAL with a reason for a bad model. */
int hub_report_attribution(hub_txn *txn, const hub_attribution_query *q, json_t **out,
                           hub_error *err);

/* ---- bandits (bandit.c) ---------------------------------------------------------------- */

/* Re-weights every running bandit item from its counters (Thompson sampling, floor from
 * cfg); *count: how many were re-weighted. */
int hub_analytics_reweight(hub_txn *txn, const hub_analytics_config *cfg, int64_t now_ms,
                           size_t *count);

/* ---- the recorder (recorder.c): exposures of reads, written in the background --------- */

typedef struct hub_recorder hub_recorder;

/* A recorder writing through store's writer, holding at most max_pending exposures
 * (0: 65536); its thread writes what is pending every few milliseconds. */
int hub_recorder_start(hub_store *store, size_t max_pending, hub_recorder **out);
/* Writes what is pending and stops. NULL-safe. */
void hub_recorder_stop(hub_recorder *r);
/* Queues an exposure (copied). Never blocks on the store: when max_pending are waiting it
 * is dropped and counted. Thread-safe; NULL-safe. */
void hub_recorder_expose(hub_recorder *r, const hub_exposure *x);
/* Waits until everything queued before the call is written (tests, shutdown). */
void hub_recorder_flush(hub_recorder *r);
/* Exposures written and dropped since start. */
void hub_recorder_stats(hub_recorder *r, uint64_t *written, uint64_t *dropped);

#endif
