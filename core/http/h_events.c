/*
 * http/h_events.c: POST /v1/events, a batch of at most 1000 events (core/analytics/events.c
 * says what makes one valid). Checked on the loop thread in a read transaction, the accepted
 * ones written in one transaction by the writer (durable when answered):
 *   200 {"accepted": n, "rejected": [{"index","path","reason"}]}
 * A batch where every event is rejected is 422 with the reasons as the problem's errors.
 */
#include "http/internal.h"

#include <string.h>

static int write_events(hub_txn *txn, hub_request *r)
{
    return hub_events_write(txn, json_object_get(r->result, "events"));
}

static void events_done(hub_request *r)
{
    if (r->op.result != 0) {
        hub_req_send_error(r, &r->err);
        return;
    }
    json_object_del(r->result, "events");
    json_t *body = r->result;
    r->result = NULL;
    hub_req_send_json(r, 200, body);
}

/* 422 with each rejection as an error of the problem. */
static void all_rejected(hub_request *r, json_t *rejected)
{
    hub_problems p;
    size_t i;
    json_t *e;
    hub_problems_init(&p);
    json_array_foreach(rejected, i, e)
        hub_problems_add(&p, json_string_value(json_object_get(e, "path")), "%s",
                         json_string_value(json_object_get(e, "reason")));
    hub_req_send_problem(r, 422, "every event was rejected", &p);
    hub_problems_clear(&p);
}

void hub_h_events(hub_request *r)
{
    json_t *ok = NULL, *rejected = NULL;
    hub_txn *txn = NULL;
    hub_error err;
    if (!hub_req_bare_post(r))
        return;
    if (!hub_req_require(r, HUB_ROLE_DELIVERY) || hub_req_read_json(r, 0, 0) != 0)
        return;
    hub_error_init(&err);
    int rc = hub_store_read(r->store, &txn);
    if (rc == 0)
        rc = hub_events_check(
            txn, r->body, r->schemas ? r->schemas : hub_content_builtin_schemas(), hub_now_ms(),
            r->cfg->retention_days > 0 ? r->cfg->retention_days : 180, &ok, &rejected, &err);
    else
        hub_error_set(&err, rc, "cannot read the store: %s", hub_strerror(rc));
    hub_txn_end(txn);
    if (rc != 0) {
        if (rc == HUB_EINVAL)
            hub_req_send_problem(r, 422, err.message, NULL);
        else
            hub_req_send_error(r, &err);
    } else if (json_array_size(ok) == 0 && json_array_size(rejected) > 0) {
        all_rejected(r, rejected);
    } else {
        r->result = json_pack("{s:I,s:O,s:O}", "accepted", (json_int_t)json_array_size(ok),
                              "rejected", rejected, "events", ok);
        if (r->result == NULL)
            hub_req_send_problem(r, 503, "out of memory", NULL);
        else
            hub_req_write(r, write_events, events_done);
    }
    json_decref(ok);
    json_decref(rejected);
    hub_error_clear(&err);
}
