/*
 * experiment: which variant of an item one recipient gets. Deterministic bucketing, holdout,
 * audience rules, weighted and bandit allocation, and the sticky assignments that keep a
 * recipient on its variant while an experiment runs. docs/bucketing.md is the public
 * specification of the bucket and the mapping; this module is its reference implementation.
 *
 * The plan. Publishing an item compiles the allocation-relevant part of it (variant ids,
 * weights, audiences, the experiment's status, allocation, holdout, seed and winner) into a
 * compact binary plan (hub_plan_encode) that content stores in the item's head, so the hot
 * read decodes it from the map without JSON and without allocation (hub_plan_decode).
 *
 * The decision (hub_experiment_decide), in this order:
 *   1. no experiment running, or no subject: an audience variant the segments match (targeting
 *      is not the experiment: it outlives it), else for "paused" the base variant, for
 *      "concluded" the winner (the base when none was named), without subject the base;
 *   3. a stored assignment that is still valid (sticky): its holdout or its variant, except
 *      that an audience variant the recipient matches now wins over a weighted one;
 *   4. otherwise bucket = hash mod 10000: buckets below the holdout are held out (no variant,
 *      no send); then an audience variant the segments match; then the weighted variants
 *      (the item's weights, or the bandit's current weights) split the remaining buckets.
 * A decision by 4 (holdout, weight, bandit) is to be stored, so it sticks.
 *
 * Stored assignments (HUB_DB_ASSIGNMENTS, "key\0subject" -> record) also carry the unit
 * flags the reports count by: whether the subject was exposed and whether it converted.
 *
 * Threads: everything here is pure or runs in the caller's transaction; any thread.
 */
#ifndef HUB_EXPERIMENT_H
#define HUB_EXPERIMENT_H

#include <jansson.h>
#include <stdint.h>

#include "base/base.h"
#include "store/store.h"

#define HUB_PLAN_VARIANTS_MAX 50
#define HUB_BUCKETS           10000
#define HUB_SUBJECT_MAX       256

typedef enum hub_exp_status {
    HUB_EXP_RUNNING = 0,
    HUB_EXP_PAUSED = 1,
    HUB_EXP_CONCLUDED = 2
} hub_exp_status;

typedef enum hub_exp_allocation { HUB_ALLOC_FIXED = 0, HUB_ALLOC_BANDIT = 1 } hub_exp_allocation;

typedef struct hub_plan_variant {
    hub_slice id;
    double weight;   /* as published; absent = 0 */
    int audience;    /* 1: targeted ({any,all,none}); not part of the weighted split */
    hub_slice terms; /* the encoded any/all/none lists (see plan.c) */
    unsigned n_any, n_all, n_none;
} hub_plan_variant;

/* A decoded plan. Slices borrow the encoded bytes. */
typedef struct hub_plan {
    hub_exp_status status;
    hub_exp_allocation allocation;
    unsigned holdout_bp; /* holdout in buckets (basis points): 0..10000 */
    int winner;          /* variant index, -1: none */
    hub_slice seed;      /* "" when the item names none */
    size_t nvariants;
    hub_plan_variant v[HUB_PLAN_VARIANTS_MAX];
} hub_plan;

/* Compiles the plan of an item document (variants, experiment) and appends it to out.
 * The document must have passed hub_item_validate_form. HUB_EINVAL, HUB_ETOOBIG, HUB_ENOMEM. */
int hub_plan_encode(json_t *item, hub_buf *out);
/* Decodes an encoded plan; out borrows from `bytes`. HUB_EIO when malformed. */
int hub_plan_decode(hub_slice bytes, hub_plan *out);
/* {"status","allocation","holdout_percent","seed","winner","variants":[{"id","weight",
 * "audience":bool}]} (new) for audit records and reports. */
json_t *hub_plan_json(const hub_plan *p);
/* 1 if the two plans assign differently (weights, variants, holdout, allocation, status,
 * seed or winner). Audit records a change of a running experiment. */
int hub_plan_differs(const hub_plan *a, const hub_plan *b);
/* Index of variant id in the plan, or -1. */
int hub_plan_find(const hub_plan *p, hub_slice id);

/* ---- bucketing (docs/bucketing.md) ----------------------------------------------------- */

/* *out = first 8 bytes of SHA-256("<key>:<seed>:<subject>") as a big-endian unsigned
 * 64-bit integer, mod 10000. 0, or HUB_ENOMEM when libcrypto cannot allocate its context. */
int hub_experiment_bucket(hub_slice key, hub_slice seed, hub_slice subject, unsigned *out);

/*
 * The weighted variant for bucket b >= holdout_bp: eligible variants are those without an
 * audience; weights[i] (per plan index; NULL: the plan's own weights) of eligible variants;
 * when they sum to 0 every eligible variant weighs 1. With R = 10000 - holdout_bp and C_i
 * the running sum of eligible weights in plan order, W the total, variant i owns the
 * buckets below holdout_bp + floor(R * C_i / W) (the last one owns up to 9999).
 * Returns the plan index; -1 if no variant is eligible (cannot happen for a valid item: the
 * base variant has no audience).
 */
int hub_experiment_pick(const hub_plan *p, const double *weights, unsigned bucket);

/* 1 if segments match variant i's audience: "any" needs one of its terms, "all" every one,
 * "none" none of them; every present list must hold. 0 for a variant without audience. */
int hub_experiment_audience_match(const hub_plan *p, size_t i, const hub_slice *segs, size_t n);

/* ---- assignments (HUB_DB_ASSIGNMENTS) -------------------------------------------------- */

#define HUB_ASSIGN_STICKY    1u /* a decision by bucket: it is kept while the test runs */
#define HUB_ASSIGN_HOLDOUT   2u /* held out: no variant */
#define HUB_ASSIGN_EXPOSED   4u /* the subject was exposed (counted once) */
#define HUB_ASSIGN_CONVERTED 8u /* the subject converted (counted once) */

typedef struct hub_assignment {
    unsigned flags;
    int64_t first_ms;  /* when the record was made */
    hub_slice variant; /* "" when held out */
    hub_slice channel; /* the channel of the first exposure ("" unknown) */
} hub_assignment;

/* The stored record of (key, subject): borrowed from txn. HUB_ENOTFOUND, HUB_EIO. */
int hub_assignment_get(hub_txn *txn, hub_slice key, hub_slice subject, hub_assignment *out);
int hub_assignment_put(hub_txn *txn, hub_slice key, hub_slice subject, const hub_assignment *a);
/* Removes every record of an item (the item was deleted). */
int hub_assignment_drop_item(hub_txn *txn, hub_slice key);

/* ---- bandit weights (HUB_DB_BANDIT) ---------------------------------------------------- */

/* The bandit's current weights of an item, per plan index (0 for audience variants) into
 * weights[HUB_PLAN_VARIANTS_MAX]; *updated_ms (may be NULL) when they were computed.
 * HUB_ENOTFOUND when none are stored or they do not cover the plan's eligible variants
 * (the plan changed since): the caller then uses equal weights. */
int hub_bandit_get(hub_txn *txn, hub_slice key, const hub_plan *p, double *weights,
                   int64_t *updated_ms);
int hub_bandit_put(hub_txn *txn, hub_slice key, const hub_plan *p, const double *weights,
                   int64_t now_ms);
int hub_bandit_drop(hub_txn *txn, hub_slice key);
/* The weights a bandit starts from and falls back to: equal over the eligible variants. */
void hub_bandit_equal(const hub_plan *p, double *weights);

/* ---- the decision ---------------------------------------------------------------------- */

typedef enum hub_reason {
    HUB_REASON_REQUESTED, /* variant= named it */
    HUB_REASON_NO_SUBJECT,
    HUB_REASON_PAUSED,
    HUB_REASON_CONCLUDED,
    HUB_REASON_HOLDOUT,
    HUB_REASON_AUDIENCE,
    HUB_REASON_STICKY,
    HUB_REASON_WEIGHT,
    HUB_REASON_BANDIT
} hub_reason;

/* "requested", "no_subject", "paused", "concluded", "holdout", "audience", "sticky",
 * "weight", "bandit". */
const char *hub_reason_name(hub_reason r);

typedef struct hub_decision {
    int variant; /* plan index; -1: held out */
    int bucket;  /* 0..9999; -1 without a subject or outside a running test */
    hub_reason reason;
    int stored; /* 1: a record exists (rec is valid) */
    hub_assignment rec;
    int store; /* 1: the decision should be stored as sticky (new, or replacing a
                  record whose variant no longer exists) */
} hub_decision;

/*
 * Decides for (key, subject, segments) under plan p (see the order above), reading the stored
 * assignment and, for bandits, the current weights from txn. subject.len 0: no subject.
 * Never writes. 0, or HUB_EINVAL (subject over HUB_SUBJECT_MAX or with a NUL byte), HUB_EIO.
 */
int hub_experiment_decide(hub_txn *txn, const hub_plan *p, hub_slice key, hub_slice subject,
                          const hub_slice *segs, size_t nsegs, hub_decision *out);

/* Splits "a,b,c" into at most max slices (empty parts skipped). Returns the count, or -1
 * when there are more than max. */
int hub_segments_split(const char *list, hub_slice *out, size_t max);
/* The strings of a JSON array (a recipient's "segments"; borrowed), at most max of them;
 * other members are skipped. Returns the count. */
size_t hub_segments_from_json(const json_t *list, hub_slice *out, size_t max);

/* The id of the variant decided (borrowed from the plan); "" when held out. */
hub_slice hub_decision_variant(const hub_plan *p, const hub_decision *d);

#endif
