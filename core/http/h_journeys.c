/*
 * /v1/journeys: the steps a journey engine walks, each naming an item and its channels. The
 * id is a journey/ taxonomy term; the path may name it whole (/v1/journeys/journey/onboarding)
 * or without the facet (/v1/journeys/onboarding). Reads for every token, writes for editors
 * and admins. (Resolving a step for one recipient comes with variant assignment.)
 */
#include <stdlib.h>
#include <string.h>

#include "http/internal.h"

#define ID_MAX 512

static int put_txn(hub_txn *txn, hub_request *r)
{
    hub_content_ctx cx = {r->schemas, &r->principal};
    return hub_journey_put(txn, &cx, r->scratch, r->body, &r->result, &r->created, &r->err);
}

static int delete_txn(hub_txn *txn, hub_request *r)
{
    hub_content_ctx cx = {r->schemas, &r->principal};
    int rc = hub_journey_delete(txn, &cx, r->scratch);
    if (rc == HUB_ENOTFOUND)
        return hub_error_set(&r->err, rc, "no journey '%.200s'", (const char *)r->scratch);
    return rc;
}

/* The journey id of the path into out: segs[1..] joined, "journey/" added when missing. */
static int journey_id(hub_request *r, char *out, size_t cap)
{
    int bare = strcmp(r->segs[1], "journey") != 0;
    size_t off = bare ? 8 : 0;
    if (cap <= off)
        return -1;
    memcpy(out, "journey/", off);
    return hub_req_join_segs(r, 1, r->nsegs, out + off, cap - off) == SIZE_MAX ? -1 : 0;
}

static void one_journey(hub_request *r)
{
    char id[ID_MAX];
    if (journey_id(r, id, sizeof(id)) != 0) {
        hub_req_send_problem(r, 404, "no such journey (id too long)", NULL);
        return;
    }
    if (hub_req_is(r, "GET")) {
        hub_txn *txn = NULL;
        json_t *out = NULL;
        int rc = hub_store_read(r->store, &txn);
        if (rc == 0)
            rc = hub_journey_get(txn, id, &out);
        hub_txn_end(txn);
        hub_req_send_read(r, rc, out, "no such journey");
        return;
    }
    hub_req_put_or_delete(r, HUB_ROLE_EDITOR, id, put_txn, delete_txn);
}

void hub_h_journeys(hub_request *r)
{
    static const char *const none[] = {NULL};
    if (hub_req_reject_unknown_params(r, none) || !hub_req_require(r, HUB_ROLE_DELIVERY))
        return;
    if (r->nsegs > 1) {
        one_journey(r);
        return;
    }
    if (!hub_req_is(r, "GET")) {
        hub_req_method_not_allowed(r, "GET");
        return;
    }
    hub_txn *txn = NULL;
    json_t *out = NULL;
    int rc = hub_store_read(r->store, &txn);
    if (rc == 0)
        rc = hub_journey_list(txn, &out);
    hub_txn_end(txn);
    if (rc == 0)
        out = json_pack("{s:o,s:n}", "items", out, "next_cursor");
    hub_req_send_read(r, rc, out, "cannot list journeys");
}
