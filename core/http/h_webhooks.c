/*
 * /v1/webhooks (admin tokens): subscriptions to item.published, item.unpublished and
 * item.deleted, POSTed signed to an http(s) URL (core/delivery/webhooks.c).
 *   PUT    /v1/webhooks/{id}  {"url","events":[...],"secret"}  201 created, 200 replaced
 *   GET    /v1/webhooks/{id}  without the secret
 *   DELETE /v1/webhooks/{id}
 *   GET    /v1/webhooks       {"items","next_cursor"}
 * The configuration's webhooks.allowed_hosts, when set, lists the hosts a URL may name.
 */
#include "http/internal.h"

static int put_txn(hub_txn *txn, hub_request *r)
{
    return hub_webhook_put(txn, r->scratch, r->body, r->cfg->webhook_hosts, &r->result, &r->created,
                           &r->err);
}

static int delete_txn(hub_txn *txn, hub_request *r)
{
    int rc = hub_webhook_delete(txn, r->scratch);
    if (rc == HUB_ENOTFOUND)
        return hub_error_set(&r->err, rc, "no webhook '%.64s'", (const char *)r->scratch);
    return rc;
}

static void read_one(hub_request *r, const char *id)
{
    hub_txn *txn = NULL;
    json_t *out = NULL;
    int rc = hub_store_read(r->store, &txn);
    if (rc == 0)
        rc = hub_webhook_get(txn, id, &out);
    hub_txn_end(txn);
    hub_req_send_one(r, rc, out, "cannot read the webhook", "no webhook '%.64s'", id);
}

void hub_h_webhooks(hub_request *r)
{
    int list = hub_req_collection_start(r, HUB_ROLE_ADMIN);
    if (list < 0)
        return;
    if (list) {
        hub_txn *txn = NULL;
        json_t *all = NULL;
        int rc = hub_store_read(r->store, &txn);
        if (rc == 0)
            rc = hub_webhook_list(txn, &all);
        hub_txn_end(txn);
        hub_req_send_list(r, rc, all, "id", "cannot list webhooks");
    } else if (r->nsegs == 1) {
        hub_req_method_not_allowed(r, "GET");
    } else if (r->nsegs != 2 || !hub_webhook_id_ok(r->segs[1])) {
        hub_req_send_problem(r, 404, "no such webhook (an id is 1 to 64 of a-z, 0-9, '-' and '_')",
                             NULL);
    } else if (hub_req_is(r, "GET")) {
        read_one(r, r->segs[1]);
    } else {
        hub_req_put_or_delete(r, HUB_ROLE_ADMIN, r->segs[1], put_txn, delete_txn);
    }
}
