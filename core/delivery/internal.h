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
    /* Set by hub_job_settle_prepare, off the writer thread: the record as the attempt read it
     * (seen) and as it is once settled (settled, settled_text; NULL when not prepared). */
    hub_buf seen;
    json_t *settled;
    char *settled_text;
    char old_status[16];
    int64_t old_due;
} hub_job_outcome;

/* Settles o on rec, the record the attempt was made from, parsed from the text seen, so that
 * the writer has only to compare and store. Takes seen's memory and the reference to rec
 * (both are released when o is, or at once). Leaves o unprepared when rec has moved past this
 * attempt; hub_job_settle then decides on the stored record. Any thread. */
void hub_job_settle_prepare(hub_job_outcome *o, hub_buf *seen, json_t *rec);
/* Frees what hub_job_settle_prepare kept. */
void hub_job_settle_release(hub_job_outcome *o);
/* Records the outcome: delivered, failed with the next attempt scheduled, or dead. When the
 * stored record is still the prepared one's `seen`, the prepared record is stored as is;
 * otherwise the outcome is applied to the stored record. An outcome for an attempt the record
 * has moved past is ignored (0). */
int hub_job_settle(hub_txn *txn, const hub_job_outcome *o);
/* The stored record text of job id (borrowed from txn). */
int hub_job_record(hub_txn *txn, uint64_t id, hub_slice *out);
/* Makes up to max jobs waiting for a later attempt due at now_ms (*moved of them). */
int hub_jobs_due_now(hub_txn *txn, int64_t now_ms, size_t max, size_t *moved);
int hub_jobs_sweep(hub_txn *txn, int64_t now_ms, int64_t keep_ms, size_t max, size_t *removed);

#endif
