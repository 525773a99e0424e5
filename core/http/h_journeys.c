/*
 * /v1/journeys: the steps a journey engine walks, each naming an item and its channels. The
 * id is a journey/ taxonomy term; the path may name it whole (/v1/journeys/journey/onboarding)
 * or without the facet (/v1/journeys/onboarding). Reads for every token, writes for editors
 * and admins. A segment "steps" cannot be part of an id: GET /v1/journeys/{id}/steps/{step}
 * resolves a step for one recipient (?locale=&subject=&segments=): one variant for the
 * recipient, and every channel of the step in it, as GET /v1/content would serve each;
 * POST .../steps/{step}/send sends it (h_send.c).
 *
 *   {"journey","step","item","version","variant","experiment_bucket","reason",
 *    "channels":{"email":{"locale","fields","resolved_from"},...},
 *    "missing":[{"channel","reason"}]}
 * A held-out recipient gets variant null and no channels (each is missing, "holdout").
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

/* The step of journey j named step (borrowed from j), or NULL. */
static json_t *find_step(json_t *j, const char *step)
{
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(j, "steps"), i, s)
    {
        if (strcmp(json_string_value(json_object_get(s, "id")), step) == 0)
            return s;
    }
    return NULL;
}

/* One channel of the step for the chosen variant, into channels or missing. */
static int step_channel(hub_txn *txn, const char *item, const char *variant, const char *locale,
                        const char *ch, json_t *channels, json_t *missing)
{
    hub_delivery_doc d;
    hub_error err;
    hub_error_init(&err);
    int rc = hub_content_delivery(txn, hub_slice_cstr(item), hub_slice_cstr(variant), locale,
                                  hub_slice_cstr(ch), &d, &err);
    if (rc == HUB_ENOTFOUND) {
        json_array_append_new(missing,
                              json_pack("{s:s,s:s}", "channel", ch, "reason", err.message));
        rc = 0;
    } else if (rc == 0) {
        json_t *body = json_loadb(d.body.base, d.body.len, 0, NULL);
        rc = body == NULL
                 ? HUB_EIO
                 : json_object_set_new(channels, ch,
                                       json_pack("{s:O,s:O,s:O}", "locale",
                                                 json_object_get(body, "locale"), "fields",
                                                 json_object_get(body, "fields"), "resolved_from",
                                                 json_object_get(body, "resolved_from")));
        json_decref(body);
    }
    hub_error_clear(&err);
    return rc;
}

/* The answer for step s of journey jid (new), or NULL with err set. */
static json_t *resolve_step(hub_request *r, hub_txn *txn, const char *jid, json_t *s,
                            const hub_audience_in *who, const char *locale, hub_error *err)
{
    const char *item = json_string_value(json_object_get(s, "item"));
    hub_plan p;
    hub_decision d;
    hub_buf scratch;
    uint32_t version = 0;
    char variant[HUB_VARIANT_ID_MAX + 1] = "";
    size_t i;
    json_t *c, *out = NULL;
    hub_buf_init(&scratch, 1u << 20);
    int rc = hub_req_assign(txn, item, 0, who, &scratch, &p, &d, &version, err);
    if (rc == HUB_ENOTFOUND)
        hub_error_set(err, rc, "item %s of step %s is not published", item,
                      json_string_value(json_object_get(s, "id")));
    if (rc == 0) {
        hub_slice v = hub_decision_variant(&p, &d);
        snprintf(variant, sizeof(variant), "%.*s", (int)v.len, v.base);
        out = json_pack("{s:s,s:O,s:s,s:I,s:o,s:o,s:s,s:{},s:[]}", "journey", jid, "step",
                        json_object_get(s, "id"), "item", item, "version", (json_int_t)version,
                        "variant", d.variant >= 0 ? json_string(variant) : json_null(),
                        "experiment_bucket", d.bucket >= 0 ? json_integer(d.bucket) : json_null(),
                        "reason", hub_reason_name(d.reason), "channels", "missing");
    }
    json_t *channels = json_object_get(out, "channels"), *missing = json_object_get(out, "missing");
    json_array_foreach(json_object_get(s, "channels"), i, c)
    {
        if (out == NULL || rc != 0)
            break;
        if (d.variant < 0)
            json_array_append_new(missing,
                                  json_pack("{s:O,s:s}", "channel", c, "reason", "holdout"));
        else
            rc = step_channel(txn, item, variant, locale, json_string_value(c), channels, missing);
    }
    /* an exposure when the recipient is shown something (or held out of it) */
    const char *shown = NULL, *first;
    json_t *unused;
    json_object_foreach(channels, first, unused)
    {
        shown = first;
        break;
    }
    if (rc == 0 && out != NULL && (shown != NULL || d.variant < 0))
        hub_req_note_exposure(
            r, item, who, &p, &d,
            shown != NULL ? shown
                          : json_string_value(json_array_get(json_object_get(s, "channels"), 0)));
    hub_buf_free(&scratch);
    if (rc != 0 && err->code == 0)
        hub_error_set(err, rc, "cannot resolve the step: %s", hub_strerror(rc));
    if (rc != 0) {
        json_decref(out);
        return NULL;
    }
    return out;
}

static void read_step(hub_request *r, const char *jid, const char *step)
{
    static const char *const known[] = {"locale", "subject", "segments", NULL};
    char locale[HUB_LOCALE_TAG_MAX] = "";
    hub_audience_in who;
    hub_txn *txn = NULL;
    json_t *j = NULL, *out = NULL;
    hub_error err;
    if (hub_req_reject_unknown_params(r, known) || hub_req_audience(r, &who) != 0)
        return;
    if (!hub_req_locale_param(r, "locale", locale, 0))
        return;
    hub_error_init(&err);
    int rc = hub_store_read(r->store, &txn);
    if (rc == 0)
        rc = hub_journey_get(txn, jid, &j);
    if (rc == HUB_ENOTFOUND)
        hub_error_set(&err, rc, "no journey '%.200s'", jid);
    json_t *s = rc == 0 ? find_step(j, step) : NULL;
    if (rc == 0 && s == NULL)
        rc = hub_error_set(&err, HUB_ENOTFOUND, "journey '%.200s' has no step '%.200s'", jid, step);
    if (rc == 0) {
        out = resolve_step(r, txn, jid, s, &who, locale, &err);
        rc = out == NULL ? err.code : 0;
    }
    hub_txn_end(txn);
    json_decref(j);
    if (rc != 0)
        hub_req_send_error(r, &err);
    else
        hub_req_send_json(r, 200, out);
    hub_error_clear(&err);
}

static void one_journey(hub_request *r)
{
    char id[ID_MAX];
    if (journey_id(r, id, sizeof(id)) != 0) {
        hub_req_send_problem(r, 404, "no such journey (id too long)", NULL);
        return;
    }
    size_t at = steps_at(r);
    int send = at > 1 && at + 3 == r->nsegs && strcmp(r->segs[at + 2], "send") == 0;
    if (send || (at > 1 && at + 2 == r->nsegs && hub_req_is(r, "GET"))) {
        char jid[ID_MAX];
        size_t n = r->nsegs;
        r->nsegs = at; /* the id is the part before "steps" */
        int bad = journey_id(r, jid, sizeof(jid));
        r->nsegs = n;
        if (bad)
            hub_req_send_problem(r, 404, "no such journey (id too long)", NULL);
        else if (send)
            hub_h_send(r, jid, r->segs[at + 1]);
        else
            read_step(r, jid, r->segs[at + 1]);
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
    size_t at = steps_at(r);
    if (at > 1 && at + 2 == r->nsegs && hub_req_is(r, "GET")) {
        if (hub_req_require(r, HUB_ROLE_DELIVERY))
            one_journey(r); /* the step read takes its own parameters */
        return;
    }
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
