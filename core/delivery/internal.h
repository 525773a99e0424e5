/* delivery internals shared by jobs.c, inbox.c and queue.c. */
#ifndef HUB_DELIVERY_INTERNAL_H
#define HUB_DELIVERY_INTERNAL_H

#include <stdlib.h>

#include "delivery/delivery.h"

/* The outcome of one attempt, settled on the writer thread. */
typedef struct hub_job_outcome {
    uint64_t id;
    uint32_t attempt;   /* 1 for the first */
    int result;         /* HUB_DELIVER_* */
    int64_t started_ms; /* when the attempt began */
    int64_t now_ms;     /* when it ended */
    int64_t retry_after_ms;
    uint64_t rng_seed; /* the jitter of the next attempt */
    const hub_retry_policy *policy;
    char error[256];
} hub_job_outcome;

/* Records the outcome: delivered, failed with the next attempt scheduled, or dead. An outcome
 * for an attempt the record has moved past is ignored (0). */
int hub_job_settle(hub_txn *txn, const hub_job_outcome *o);
/* Makes up to max jobs waiting for a later attempt due at now_ms (*moved of them). */
int hub_jobs_due_now(hub_txn *txn, int64_t now_ms, size_t max, size_t *moved);
int hub_jobs_sweep(hub_txn *txn, int64_t now_ms, int64_t keep_ms, size_t max, size_t *removed);

#endif
