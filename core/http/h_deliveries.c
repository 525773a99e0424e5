/*
 * /v1/deliveries and /v1/inbox: what became of the sends (delivery tokens and up).
 *   GET  /v1/deliveries/{id}[?include=artifact] one job: status queued|sending|failed|
 *                                              delivered|dead, attempts, last error, times
 *                                              (and the rendered artifact it delivers)
 *   GET  /v1/deliveries?status=dead&limit=&cursor=   jobs of one status, oldest first
 *   POST /v1/deliveries/{id}/retry             a dead (or failed) job due again now
 *   GET  /v1/inbox/{recipient}?channel=&limit= what the web channel delivered, newest first
 *   POST /v1/inbox/{recipient}/{message_id}/read
 */
#include <stdio.h>
#include <string.h>

#include "http/internal.h"

static const char *const statuses[] = {"queued", "sending", "failed", "delivered", "dead", NULL};

static int job_id(hub_request *r, const char *s, uint64_t *id)
{
    if (hub_job_id_parse(s, id) == 0)
        return 0;
    char detail[160];
    snprintf(detail, sizeof(detail), "no delivery '%.100s'", s);
    hub_req_send_problem(r, 404, detail, NULL);
    return -1;
}

static void read_one(hub_request *r, uint64_t id, int with_artifact)
{
    hub_txn *txn = NULL;
    json_t *rec = NULL, *art = NULL;
    hub_slice body;
    int rc = hub_store_read(r->store, &txn);
    if (rc == 0)
        rc = hub_job_load(txn, id, &rec);
    if (rc == 0 && with_artifact && hub_job_body(txn, id, &body) == 0)
        art = json_loadb(body.base, body.len, 0, NULL);
    hub_txn_end(txn);
    json_t *view = rc == 0 ? hub_job_view(rec, hub_queue_sending(r->cfg->queue, id)) : NULL;
    if (view != NULL && with_artifact)
        json_object_set_new(view, "artifact", art != NULL ? art : json_null());
    else
        json_decref(art);
    json_decref(rec);
    hub_req_send_one(r, rc == 0 && view == NULL ? HUB_ENOMEM : rc, view, "cannot read the delivery",
                     "no delivery '%llu'", (unsigned long long)id);
}

/* A queued or failed job a worker holds reads "sending", so the other lists leave it out. */
static int held(void *queue, uint64_t id)
{
    return hub_queue_sending(queue, id);
}

/* "sending" lives in memory only: the jobs the workers hold, in id order. */
static int list_sending(hub_request *r, hub_txn *txn, uint64_t after, size_t limit, json_t **out,
                        uint64_t *last)
{
    uint64_t ids[HUB_QUEUE_HELD_MAX];
    size_t n = hub_queue_held(r->cfg->queue, ids, HUB_QUEUE_HELD_MAX);
    json_t *arr = json_array();
    uint64_t prev = 0;
    *last = 0;
    for (size_t i = 0; arr != NULL && i < n; i++) {
        json_t *rec = NULL;
        if (ids[i] <= after || hub_job_load(txn, ids[i], &rec) != 0)
            continue;
        if (json_array_size(arr) == limit) {
            *last = prev; /* there is more after this page */
            json_decref(rec);
            break;
        }
        json_array_append_new(arr, hub_job_view(rec, 1));
        json_decref(rec);
        prev = ids[i];
    }
    *out = arr;
    return arr != NULL ? 0 : HUB_ENOMEM;
}

static void list(hub_request *r)
{
    static const char *const known[] = {"status", "limit", "cursor", NULL};
    size_t limit;
    uint64_t after = 0, last = 0;
    if (hub_req_reject_unknown_params(r, known) || hub_req_limit(r, &limit) != 0)
        return;
    const char *status = hub_req_param(r, "status"), *cursor = hub_req_param(r, "cursor");
    int ok = 0;
    for (size_t i = 0; status != NULL && statuses[i] != NULL; i++)
        ok |= strcmp(status, statuses[i]) == 0;
    if (!ok) {
        hub_req_send_problem(r, 400, "status must be queued, sending, failed, delivered or dead",
                             NULL);
        return;
    }
    if (cursor != NULL && hub_job_id_parse(cursor, &after) != 0) {
        hub_req_send_problem(r, 400, "cursor is not one this server gave", NULL);
        return;
    }
    hub_txn *txn = NULL;
    json_t *items = NULL;
    int rc = hub_store_read(r->store, &txn);
    if (rc == 0 && strcmp(status, "sending") == 0)
        rc = list_sending(r, txn, after, limit, &items, &last);
    else if (rc == 0)
        rc = hub_job_list(txn, status, after, limit, held, r->cfg->queue, &items, &last);
    hub_txn_end(txn);
    if (rc != 0) {
        hub_req_send_read(r, rc, NULL, "cannot list deliveries");
        return;
    }
    char next[24];
    snprintf(next, sizeof(next), "%llu", (unsigned long long)last);
    hub_req_send_json(r, 200,
                      json_pack("{s:o,s:s?}", "items", items, "next_cursor", last ? next : NULL));
}

static int retry_txn(hub_txn *txn, hub_request *r)
{
    uint64_t id = *(uint64_t *)r->scratch;
    int rc = hub_job_retry(txn, id, hub_now_ms());
    if (rc == HUB_EEXISTS)
        return hub_error_set(&r->err, rc, "delivery %llu is not dead or failed",
                             (unsigned long long)id);
    if (rc == HUB_ENOTFOUND)
        return hub_error_set(&r->err, rc, "no delivery '%llu'", (unsigned long long)id);
    json_t *rec = NULL;
    if (rc == 0 && (rc = hub_job_load(txn, id, &rec)) == 0)
        r->result = hub_job_view(rec, 0);
    json_decref(rec);
    return rc;
}

void hub_h_deliveries(hub_request *r)
{
    uint64_t id;
    if (!hub_req_require(r, HUB_ROLE_DELIVERY))
        return;
    if (r->nsegs == 1) {
        if (!hub_req_is(r, "GET"))
            hub_req_method_not_allowed(r, "GET");
        else
            list(r);
        return;
    }
    if (r->nsegs > 3 || (r->nsegs == 3 && strcmp(r->segs[2], "retry") != 0)) {
        hub_req_send_problem(r, 404, "no such resource", NULL);
        return;
    }
    static const char *const none[] = {NULL}, *const include[] = {"include", NULL};
    if (hub_req_reject_unknown_params(r, r->nsegs == 2 ? include : none) ||
        job_id(r, r->segs[1], &id) != 0)
        return;
    if (r->nsegs == 2) {
        const char *inc = hub_req_param(r, "include");
        if (!hub_req_is(r, "GET"))
            hub_req_method_not_allowed(r, "GET");
        else if (inc != NULL && strcmp(inc, "artifact") != 0)
            hub_req_send_problem(r, 400, "include may only be \"artifact\"", NULL);
        else
            read_one(r, id, inc != NULL);
        return;
    }
    if (!hub_req_is(r, "POST")) {
        hub_req_method_not_allowed(r, "POST");
        return;
    }
    uint64_t *arg = malloc(sizeof(*arg));
    if (arg == NULL) {
        hub_req_send_problem(r, 503, "out of memory", NULL);
        return;
    }
    *arg = id;
    r->scratch = arg;
    hub_req_write(r, retry_txn, hub_req_done_json);
}

/* ---- inbox ------------------------------------------------------------------------------------
 */

static void inbox_list(hub_request *r)
{
    static const char *const known[] = {"channel", "limit", NULL};
    size_t limit;
    if (hub_req_reject_unknown_params(r, known) || hub_req_limit(r, &limit) != 0)
        return;
    hub_txn *txn = NULL;
    json_t *out = NULL;
    int rc = hub_store_read(r->store, &txn);
    if (rc == 0)
        rc = hub_inbox_list(txn, r->segs[1], hub_req_param(r, "channel"), limit, &out);
    hub_txn_end(txn);
    if (rc == HUB_EINVAL) {
        hub_req_send_problem(r, 404, "no such recipient id (1 to 128 bytes of UTF-8)", NULL);
        return;
    }
    hub_req_send_read(r, rc, out, "cannot read the inbox");
}

static int read_txn(hub_txn *txn, hub_request *r)
{
    int rc = hub_inbox_mark_read(txn, r->segs[1], r->segs[2], hub_now_ms(), &r->result);
    if (rc == HUB_ENOTFOUND)
        return hub_error_set(&r->err, rc, "no message '%.140s' in the inbox of '%.140s'",
                             r->segs[2], r->segs[1]);
    return rc;
}

void hub_h_inbox(hub_request *r)
{
    static const char *const none[] = {NULL};
    if (!hub_req_require(r, HUB_ROLE_DELIVERY))
        return;
    if (r->nsegs == 2) {
        if (!hub_req_is(r, "GET"))
            hub_req_method_not_allowed(r, "GET");
        else
            inbox_list(r);
        return;
    }
    if (r->nsegs != 4 || strcmp(r->segs[3], "read") != 0) {
        hub_req_send_problem(r, 404, "no such resource", NULL);
        return;
    }
    if (!hub_req_is(r, "POST")) {
        hub_req_method_not_allowed(r, "POST");
        return;
    }
    if (hub_req_reject_unknown_params(r, none))
        return;
    hub_req_write(r, read_txn, hub_req_done_json);
}
