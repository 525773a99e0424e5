/*
 * POST /v1/render: renders one item for one recipient through the channel plugin.
 *   {"item": key, "channel": name, "locale": tag|null, "fallback": true|false,
 *    "recipient": {"id", "segments": [terms], "attributes": {...}, ...}|null,
 *    "variant": id|null, "status": "published"|"draft"}
 * answers {"item","channel","version","variant","locale","message_id","artifact","warnings"}.
 * Delivery and up; status "draft" needs preview and up. A message the channel refuses is
 * 422 with the plugin's problems under /fields/<name>.
 */
#include <string.h>

#include "http/internal.h"

static const char *const members[] = {"item",      "channel", "locale", "fallback",
                                      "recipient", "variant", "status", NULL};

static int known_member(const char *k)
{
    for (size_t i = 0; members[i] != NULL; i++)
        if (strcmp(members[i], k) == 0)
            return 1;
    return 0;
}

/* Checks the body's shape; problems into p. */
static void check_body(json_t *b, hub_problems *p)
{
    const char *k;
    json_t *v;
    json_object_foreach(b, k, v)
    {
        if (!known_member(k))
            hub_problems_add(p, "", "unknown member '%.64s'", k);
    }
    if (!json_is_string(json_object_get(b, "item")))
        hub_problems_add(p, "/item", "required: the item key");
    if (!json_is_string(json_object_get(b, "channel")))
        hub_problems_add(p, "/channel", "required: a channel name");
    v = json_object_get(b, "locale");
    if (v != NULL && !json_is_null(v) && !json_is_string(v))
        hub_problems_add(p, "/locale", "must be a BCP 47 tag or null");
    v = json_object_get(b, "fallback");
    if (v != NULL && !json_is_boolean(v))
        hub_problems_add(p, "/fallback", "must be true or false");
    v = json_object_get(b, "variant");
    if (v != NULL && !json_is_null(v) &&
        (!json_is_string(v) || json_string_length(v) == 0 ||
         json_string_length(v) > HUB_VARIANT_ID_MAX))
        hub_problems_add(p, "/variant", "must be a variant id or null");
    v = json_object_get(b, "status");
    if (v != NULL && !json_is_null(v) &&
        (!json_is_string(v) || (strcmp(json_string_value(v), "published") != 0 &&
                                strcmp(json_string_value(v), "draft") != 0)))
        hub_problems_add(p, "/status", "must be published or draft");
    json_t *rcp = json_object_get(b, "recipient");
    if (rcp != NULL && !json_is_null(rcp) && !json_is_object(rcp))
        hub_problems_add(p, "/recipient", "must be an object or null");
    else if (rcp != NULL && !json_is_null(rcp))
        hub_check_recipient(rcp, 0, p);
}

static void answer_failure(hub_request *r, int rc, hub_error *err, hub_render_result *res)
{
    if (rc == HUB_EINVAL && res->problems.count > 0) {
        hub_req_send_problem(r, 422, err->message, &res->problems);
        return;
    }
    hub_req_send_error(r, err);
}

void hub_h_render(hub_request *r)
{
    hub_problems p;
    hub_error err;
    hub_render_result res;
    char locale[HUB_LOCALE_TAG_MAX] = "";
    if (!hub_req_bare_post(r))
        return;
    static const char *const none[] = {NULL};
    if (!hub_req_require(r, HUB_ROLE_DELIVERY) || hub_req_reject_unknown_params(r, none) ||
        hub_req_read_json(r, 1, 0) != 0)
        return;
    hub_problems_init(&p);
    hub_error_init(&err);
    check_body(r->body, &p);
    const char *loc = json_string_value(json_object_get(r->body, "locale"));
    if (p.count == 0 && loc != NULL && hub_locale_canonicalize(loc, strlen(loc), locale, &err) != 0)
        hub_problems_add(&p, "/locale", "%s", err.message);
    if (p.count > 0) {
        hub_req_send_problem(r, 422, "the render request is not valid", &p);
        hub_problems_clear(&p);
        hub_error_clear(&err);
        return;
    }
    hub_problems_clear(&p);
    const char *status = json_string_value(json_object_get(r->body, "status"));
    int draft = status != NULL && strcmp(status, "draft") == 0;
    if (draft && r->principal.role < HUB_ROLE_PREVIEW) {
        hub_req_send_problem(r, 403, "this token may only render published content", NULL);
        hub_error_clear(&err);
        return;
    }
    if (r->renderer == NULL) {
        hub_req_send_problem(r, 404, "this hub has no channel plugins loaded", NULL);
        hub_error_clear(&err);
        return;
    }
    hub_render_request rq = {
        .item = json_string_value(json_object_get(r->body, "item")),
        .channel = json_string_value(json_object_get(r->body, "channel")),
        .locale = locale,
        .no_fallback = json_is_false(json_object_get(r->body, "fallback")),
        .variant = json_string_value(json_object_get(r->body, "variant")),
        .recipient = json_object_get(r->body, "recipient"),
        .draft = draft,
    };
    hub_render_result_init(&res);
    hub_txn *txn = NULL;
    int rc = hub_store_read(r->store, &txn);
    if (rc == 0) {
        rc = hub_render(r->renderer, r->render_cache, txn, &rq, &res, &err);
        hub_txn_end(txn);
    } else {
        hub_error_set(&err, rc, "the store cannot be read");
    }
    if (rc == 0) {
        json_t *body = hub_render_result_json(&rq, &res);
        if (body != NULL)
            hub_req_send_json(r, 200, body);
        else /* the plugin's artifact did not parse (or memory ran out): not the client's fault */
            hub_req_send_problem(r, 503, "the channel plugin produced an artifact that is not JSON",
                                 NULL);
    } else {
        answer_failure(r, rc, &err, &res);
    }
    hub_render_result_free(&res);
    hub_error_clear(&err);
}
