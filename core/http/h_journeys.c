/*
 * /v1/journeys: the steps a journey engine walks, each naming an item and its channels. The
 * id is a journey/ taxonomy term; the path may name it whole (/v1/journeys/journey/onboarding)
 * or without the facet (/v1/journeys/onboarding). Reads for every token, writes for editors
 * and admins. A segment "steps" cannot be part of an id: /v1/journeys/{id}/steps/{step}
 * is the route that resolves a step for one recipient (it comes with variant assignment;
 * until then such a path names no journey: 404), and POST .../steps/{step}/send sends it
 * (h_send.c).
 */
#include <stdlib.h>
#include <string.h>

#include "http/internal.h"

#define ID_MAX 512

static int put_txn(hub_txn *txn, hub_request *r)
{
    hub_content_ctx cx = {r->schemas, &r->principal, NULL, NULL, NULL};
    return hub_journey_put(txn, &cx, r->scratch, r->body, &r->result, &r->created, &r->err);
}

static int delete_txn(hub_txn *txn, hub_request *r)
{
    hub_content_ctx cx = {r->schemas, &r->principal, NULL, NULL, NULL};
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

/* 1 if a path segment is the route word "steps" (kept free for the step route). */
static int has_route_word(const hub_request *r)
{
    for (size_t i = 1; i < r->nsegs; i++)
        if (strcmp(r->segs[i], "steps") == 0)
            return 1;
    return 0;
}

/* The index of the first "steps" segment, or 0. */
static size_t steps_at(const hub_request *r)
{
    for (size_t i = 1; i < r->nsegs; i++)
        if (strcmp(r->segs[i], "steps") == 0)
            return i;
    return 0;
}

static void read_journey(hub_request *r, const char *id)
{
    hub_txn *txn = NULL;
    json_t *out = NULL;
    int rc = hub_store_read(r->store, &txn);
    if (rc == 0)
        rc = hub_journey_get(txn, id, &out);
    hub_txn_end(txn);
    hub_req_send_one(r, rc, out, "cannot read the journey", "no journey '%.200s'", id);
}

static void one_journey(hub_request *r)
{
    char id[ID_MAX];
    if (journey_id(r, id, sizeof(id)) != 0) {
        hub_req_send_problem(r, 404, "no such journey (id too long)", NULL);
        return;
    }
    size_t at = steps_at(r);
    if (at > 1 && at + 3 == r->nsegs && strcmp(r->segs[at + 2], "send") == 0) {
        char jid[ID_MAX];
        size_t n = r->nsegs;
        r->nsegs = at; /* the id is the part before "steps" */
        int bad = journey_id(r, jid, sizeof(jid));
        r->nsegs = n;
        if (bad)
            hub_req_send_problem(r, 404, "no such journey (id too long)", NULL);
        else
            hub_h_send(r, jid, r->segs[at + 1]);
        return;
    }
    if (has_route_word(r) && hub_req_is(r, "PUT"))
        hub_req_send_problem(r, 422,
                             "a journey id cannot have a segment 'steps': "
                             "/v1/journeys/{id}/steps/{step} is the step route",
                             NULL);
    else if (has_route_word(r))
        hub_req_send_problem(r, 404, "no such resource", NULL);
    else if (hub_req_is(r, "GET"))
        read_journey(r, id);
    else
        hub_req_put_or_delete(r, HUB_ROLE_EDITOR, id, put_txn, delete_txn);
}

static void list_journeys(hub_request *r)
{
    hub_txn *txn = NULL;
    json_t *all = NULL;
    int rc = hub_store_read(r->store, &txn);
    if (rc == 0)
        rc = hub_journey_list(txn, &all);
    hub_txn_end(txn);
    hub_req_send_list(r, rc, all, "id", "cannot list journeys");
}

void hub_h_journeys(hub_request *r)
{
    int list = hub_req_collection_start(r, HUB_ROLE_DELIVERY);
    if (list < 0)
        return;
    if (list)
        list_journeys(r);
    else if (r->nsegs == 1)
        hub_req_method_not_allowed(r, "GET");
    else
        one_journey(r);
}
