/*
 * http/h_items.c: the editing API of items (API.md "Items").
 *
 *   GET    /v1/items?tag=&kind=&status=&q=&cursor=&limit=   the paged list
 *   GET    /v1/items/{key}?status=draft|published            draft (ETag "r<rev>") or version
 *   PUT    /v1/items/{key}                                    create 201 / replace 200
 *   PATCH  /v1/items/{key}                                    JSON merge patch of the draft
 *   DELETE /v1/items/{key}                                    204 (409 while in use)
 *   POST   /v1/items/{key}/publish      {"at": null}          a new version
 *   POST   /v1/items/{key}/unpublish    {"at": null}
 *          (a later "at" schedules either: 202; GET /v1/items/{key}/schedule shows what is
 *          pending, DELETE /v1/items/{key}/schedule?action=publish|unpublish cancels it)
 *   GET    /v1/items/{key}/versions, /versions/{n}
 *   POST   /v1/items/{key}/rollback     {"version": n}
 *
 * The key is r->segs[1..] joined with '/'; a trailing route word selects a sub-route (route
 * words cannot be key segments, see hub_item_key_check). Writes need editor or admin; core
 * enforces the editor's channel and tag limits on every write. Reads on these routes follow
 * the tag limits too (the list leaves out, a single item answers 403), so an editor team sees
 * its own workspace; delivery reads (/v1/content) are not narrowed.
 *
 */
#include "http/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- request state --------------------------------------------------------------------- */

typedef enum route {
    R_ITEM,
    R_PUBLISH,
    R_UNPUBLISH,
    R_ROLLBACK,
    R_VERSIONS,
    R_VERSION,
    R_SCHEDULE,
} route;

/* What a write's txn function needs beside r: kept in r->scratch. */
typedef struct item_req {
    char key[HUB_ITEM_KEY_MAX + 1];
    uint32_t n;    /* version number: versions/{n}, rollback */
    int64_t at_ms; /* publish, unpublish: a time in the future schedules it; 0: now */
} item_req;

static item_req *state(hub_request *r)
{
    return r->scratch;
}

static hub_content_ctx ctx_of(hub_request *r)
{
    if (r->renderer == NULL)
        return (hub_content_ctx){r->schemas, &r->principal, NULL, NULL, NULL};
    return (hub_content_ctx){r->schemas, &r->principal, hub_render_publish_check,
                             (void *)r->renderer, NULL};
}

static void etag_of_revision(json_t *doc, char out[40])
{
    json_int_t rev = json_integer_value(json_object_get(doc, "revision"));
    snprintf(out, 40, "\"r%lld\"", (long long)rev);
}

static void etag_of_version(uint32_t n, char out[40])
{
    snprintf(out, 40, "\"v%u\"", (unsigned)n);
}

/* 1 if the request's tag limits allow doc; else sends 403 and returns 0. */
static int may_see(hub_request *r, json_t *doc)
{
    json_t *tags = json_object_get(doc, "tags");
    json_t *empty = json_is_array(tags) ? NULL : json_array();
    int ok = hub_principal_allows_tags(&r->principal, empty != NULL ? empty : tags);
    json_decref(empty);
    if (!ok)
        hub_req_send_problem(r, 403, "this token's tag limits do not cover this item", NULL);
    return ok;
}

/* Sends doc (stolen) with its ETag, or 304 when If-None-Match names it. */
static void send_tagged(hub_request *r, json_t *doc, const char *etag)
{
    hub_req_header(r, "etag", etag);
    if (r->if_none_match != NULL && hub_req_etag_match(r->if_none_match, etag, strlen(etag), 1)) {
        json_decref(doc);
        hub_req_send_json(r, 304, NULL);
        return;
    }
    hub_req_send_json(r, 200, doc);
}

/* ---- list ------------------------------------------------------------------------------ */

static int list_filter(hub_request *r, hub_item_filter *f)
{
    int draft;
    const char *tag = hub_req_param(r, "tag"), *kind = hub_req_param(r, "kind");
    if (hub_req_status_draft(r, 1, &draft) != 0)
        return -1;
    if (tag != NULL && !hub_taxonomy_is_facet(tag, strlen(tag)) &&
        hub_term_check(tag, strlen(tag), NULL) != 0) {
        hub_req_send_problem(r, 400, "tag must be a facet or a taxonomy term", NULL);
        return -1;
    }
    if (kind != NULL && strcmp(kind, "message") != 0 && strcmp(kind, "block") != 0) {
        hub_req_send_problem(r, 400, "kind must be message or block", NULL);
        return -1;
    }
    *f = (hub_item_filter){tag, kind, !draft, hub_req_param(r, "q"), &r->principal};
    return 0;
}

static void list_items(hub_request *r)
{
    static const char *const known[] = {"tag", "kind", "status", "q", "cursor", "limit", NULL};
    hub_item_filter f;
    hub_txn *txn;
    hub_error err;
    json_t *items = NULL;
    char *next = NULL;
    size_t limit;
    if (!hub_req_is(r, "GET")) {
        hub_req_method_not_allowed(r, "GET");
        return;
    }
    if (hub_req_reject_unknown_params(r, known) || !hub_req_require(r, HUB_ROLE_DELIVERY) ||
        hub_req_limit(r, &limit) != 0 || list_filter(r, &f) != 0)
        return;
    hub_error_init(&err);
    int rc = hub_store_read(r->store, &txn);
    if (rc == 0) {
        if (f.tag != NULL && !hub_taxonomy_exists(txn, f.tag))
            rc = hub_error_set(&err, HUB_EINVAL, "no taxonomy term '%.200s'", f.tag);
        else
            rc = hub_content_list(txn, &f, hub_req_param(r, "cursor"), limit, &items, &next, &err);
        hub_txn_end(txn);
    }
    if (rc != 0) {
        if (err.code == 0)
            hub_error_set(&err, rc, "cannot list items: %s", hub_strerror(rc));
        hub_req_send_error(r, &err);
    } else {
        hub_req_send_json(r, 200, json_pack("{s:o,s:s?}", "items", items, "next_cursor", next));
    }
    free(next);
    hub_error_clear(&err);
}

/* ---- reads of one item ----------------------------------------------------------------- */

static void get_item(hub_request *r)
{
    static const char *const known[] = {"status", NULL};
    const char *key = state(r)->key;
    int draft;
    hub_txn *txn;
    json_t *doc = NULL;
    char etag[40];
    if (hub_req_reject_unknown_params(r, known) || !hub_req_require(r, HUB_ROLE_DELIVERY) ||
        hub_req_status_draft(r, 1, &draft) != 0)
        return;
    int rc = hub_store_read(r->store, &txn);
    if (rc == 0) {
        rc = draft ? hub_content_get_draft(txn, key, &doc)
                   : hub_content_get_published(txn, key, &doc);
        hub_txn_end(txn);
    }
    if (rc == HUB_ENOTFOUND) {
        hub_req_send_problem(r, 404, draft ? "no such item" : "the item is not published", NULL);
        return;
    }
    if (rc != 0) {
        hub_req_send_problem(r, hub_status_for(rc), hub_strerror(rc), NULL);
        return;
    }
    if (!may_see(r, doc)) {
        json_decref(doc);
        return;
    }
    if (draft)
        etag_of_revision(doc, etag);
    else
        etag_of_version((uint32_t)json_integer_value(json_object_get(doc, "version")), etag);
    send_tagged(r, doc, etag);
}

/* GET versions (list) and versions/{n}: what was published, for preview and up. */
/* ?limit= and ?cursor= of the versions list; the cursor is the last version of the previous
 * page (versions come newest first). Sends 400 and returns -1 when malformed. */
static int page_args(hub_request *r, size_t *limit, uint64_t *below)
{
    const char *cursor = hub_req_param(r, "cursor");
    if (hub_req_limit(r, limit) != 0)
        return -1;
    if (cursor != NULL && (hub_parse_u64(hub_slice_cstr(cursor), below) != 0 || *below == 0)) {
        hub_req_send_problem(r, 400, "cursor is not one this list gave out", NULL);
        return -1;
    }
    return 0;
}

/* One page of the versions list (stolen): {"items","next_cursor"}. */
static json_t *versions_page(json_t *all, size_t limit, uint64_t below)
{
    json_t *items = json_array(), *v;
    size_t i;
    uint64_t last = 0;
    int more = 0;
    json_array_foreach(all, i, v)
    {
        uint64_t n = (uint64_t)json_integer_value(json_object_get(v, "version"));
        if (n >= below)
            continue;
        if (json_array_size(items) == limit) {
            more = 1;
            break;
        }
        json_array_append(items, v);
        last = n;
    }
    json_decref(all);
    char next[24];
    snprintf(next, sizeof(next), "%llu", (unsigned long long)last);
    return json_pack("{s:o,s:s?}", "items", items, "next_cursor", more ? next : NULL);
}

static void get_versions(hub_request *r, int one)
{
    static const char *const known_one[] = {NULL};
    static const char *const known_list[] = {"limit", "cursor", NULL};
    size_t limit = 100;
    uint64_t below = UINT64_MAX;
    item_req *ir = state(r);
    hub_txn *txn;
    json_t *draft = NULL, *out = NULL;
    if (!hub_req_is(r, "GET")) {
        hub_req_method_not_allowed(r, "GET");
        return;
    }
    if (hub_req_reject_unknown_params(r, one ? known_one : known_list) ||
        !hub_req_require(r, HUB_ROLE_PREVIEW) || (!one && page_args(r, &limit, &below) != 0))
        return;
    int rc = hub_store_read(r->store, &txn);
    if (rc == 0) {
        rc = hub_content_get_draft(txn, ir->key, &draft);
        if (rc == 0)
            rc = one ? hub_content_version_get(txn, ir->key, ir->n, &out)
                     : hub_content_versions(txn, ir->key, &out);
        hub_txn_end(txn);
    }
    if (rc == 0 && may_see(r, draft)) {
        char etag[40];
        etag_of_version(ir->n, etag);
        if (one)
            send_tagged(r, out, etag);
        else
            hub_req_send_json(r, 200, versions_page(out, limit, below));
        out = NULL;
    } else if (rc == HUB_ENOTFOUND) {
        hub_req_send_problem(r, 404, draft != NULL ? "no such version" : "no such item", NULL);
    } else if (rc != 0) {
        hub_req_send_problem(r, hub_status_for(rc), hub_strerror(rc), NULL);
    }
    json_decref(draft);
    json_decref(out);
}

/* ---- writes ---------------------------------------------------------------------------- */

/* Answers a failed write, or 1 when the write succeeded. */
static int write_ok(hub_request *r)
{
    if (r->op.result == 0)
        return 1;
    hub_req_send_error(r, &r->err);
    return 0;
}

/* The stored draft in r->result, as PUT and PATCH return it. */
static void done_draft(hub_request *r)
{
    char etag[40], loc[16 + HUB_ITEM_KEY_MAX];
    if (!write_ok(r))
        return;
    etag_of_revision(r->result, etag);
    hub_req_header(r, "etag", etag);
    if (r->created) {
        snprintf(loc, sizeof(loc), "/v1/items/%s", state(r)->key);
        hub_req_header(r, "location", loc);
    }
    json_t *draft = r->result;
    r->result = NULL; /* sending frees r */
    hub_req_send_json(r, r->created ? 201 : 200, draft);
}

static void done_result(hub_request *r)
{
    if (!write_ok(r))
        return;
    json_t *res = r->result;
    r->result = NULL; /* sending frees r */
    hub_req_send_json(r, res == NULL ? 204 : r->created ? 202 : 200, res);
}

/* A publish or unpublish at a later time: the item must exist and the token may touch it. */
static int schedule_txn(hub_txn *txn, hub_request *r, const char *action)
{
    json_t *draft = NULL, *empty = json_array();
    int rc = hub_content_get_draft(txn, state(r)->key, &draft);
    const json_t *tags = json_object_get(draft, "tags");
    if (rc == HUB_ENOTFOUND)
        rc = hub_error_set(&r->err, rc, "no item %s", state(r)->key);
    else if (rc == 0 && !hub_principal_allows_tags(&r->principal,
                                                   json_is_array(tags) ? (json_t *)tags : empty))
        rc = hub_error_set(&r->err, HUB_EFORBIDDEN, "this token may not touch this item");
    json_decref(draft);
    json_decref(empty);
    if (rc == 0)
        rc = hub_schedule_put(txn, &r->principal, state(r)->key, action, state(r)->at_ms,
                              &r->result);
    r->created = rc == 0; /* 202: accepted for later */
    return rc;
}

static int put_txn(hub_txn *txn, hub_request *r)
{
    hub_content_ctx cx = ctx_of(r);
    return hub_content_put(txn, &cx, state(r)->key, r->body, r->if_match, &r->result, &r->created,
                           &r->err);
}

/* The merge patch applies to the item as stored, without the hub's metadata; hub_content_put
 * then checks If-Match against the same draft, inside the same transaction. */
static int patch_txn(hub_txn *txn, hub_request *r)
{
    hub_content_ctx cx = ctx_of(r);
    json_t *draft = NULL, *item = NULL, *patched = NULL;
    int rc = hub_content_get_draft(txn, state(r)->key, &draft);
    if (rc == HUB_ENOTFOUND)
        rc = hub_error_set(&r->err, rc, "no item %s: create it with PUT", state(r)->key);
    if (rc == 0) {
        item = hub_content_item_copy(draft);
        patched = item != NULL ? hub_json_merge_patch(item, r->body) : NULL;
        rc = patched == NULL ? HUB_ENOMEM : 0;
    }
    if (rc == 0)
        rc = hub_content_put(txn, &cx, state(r)->key, patched, r->if_match, &r->result, &r->created,
                             &r->err);
    json_decref(draft);
    json_decref(item);
    json_decref(patched);
    return rc;
}

/* If-Match on publish, unpublish, rollback and delete: the draft the editor looked at. */
static int check_if_match(hub_txn *txn, hub_request *r)
{
    json_t *draft;
    char etag[40];
    if (r->if_match == NULL)
        return 0;
    int rc = hub_content_get_draft(txn, state(r)->key, &draft);
    if (rc == HUB_ENOTFOUND)
        return hub_error_set(&r->err, rc, "no item %s", state(r)->key);
    if (rc != 0)
        return rc;
    etag_of_revision(draft, etag);
    json_decref(draft);
    if (!hub_req_etag_match(r->if_match, etag, strlen(etag), 0))
        return hub_error_set(&r->err, HUB_EPRECOND, "If-Match does not match the draft");
    return 0;
}

static int delete_txn(hub_txn *txn, hub_request *r)
{
    hub_content_ctx cx = ctx_of(r);
    int rc = check_if_match(txn, r);
    return rc != 0 ? rc : hub_content_delete(txn, &cx, state(r)->key, &r->err);
}

/* {"key","version","published_at","published_by","status":"published"} of the new head. */
static int published_result(hub_txn *txn, hub_request *r, uint32_t n)
{
    json_t *doc;
    int rc = hub_content_get_published(txn, state(r)->key, &doc);
    if (rc != 0)
        return rc;
    r->result = json_pack("{s:s,s:I,s:O?,s:O?,s:s}", "key", state(r)->key, "version", (json_int_t)n,
                          "published_at", json_object_get(doc, "published_at"), "published_by",
                          json_object_get(doc, "published_by"), "status", "published");
    json_decref(doc);
    return r->result != NULL ? 0 : HUB_ENOMEM;
}

static int publish_txn(hub_txn *txn, hub_request *r)
{
    hub_content_ctx cx = ctx_of(r);
    uint32_t n = 0;
    if (state(r)->at_ms > 0)
        return check_if_match(txn, r) != 0 ? r->err.code : schedule_txn(txn, r, "publish");
    cx.warnings = json_array();
    int rc = cx.warnings == NULL ? HUB_ENOMEM : check_if_match(txn, r);
    if (rc == 0)
        rc = hub_content_publish(txn, &cx, state(r)->key, &n, &r->err);
    if (rc == 0)
        rc = published_result(txn, r, n);
    /* What the channels warn about (a sanitized tag, a UCS-2 character): published anyway. */
    if (rc == 0 && json_object_set(r->result, "warnings", cx.warnings) != 0)
        rc = HUB_ENOMEM;
    json_decref(cx.warnings);
    return rc;
}

static int rollback_txn(hub_txn *txn, hub_request *r)
{
    hub_content_ctx cx = ctx_of(r);
    uint32_t n = 0;
    int rc = check_if_match(txn, r);
    if (rc == 0)
        rc = hub_content_rollback(txn, &cx, state(r)->key, state(r)->n, &n, &r->err);
    if (rc == 0)
        rc = published_result(txn, r, n);
    if (rc == 0)
        rc = json_object_set_new(r->result, "from", json_integer(state(r)->n)) ? HUB_ENOMEM : 0;
    return rc;
}

static int unpublish_txn(hub_txn *txn, hub_request *r)
{
    hub_content_ctx cx = ctx_of(r);
    uint32_t n = 0;
    char now[HUB_TIME_LEN];
    if (state(r)->at_ms > 0)
        return check_if_match(txn, r) != 0 ? r->err.code : schedule_txn(txn, r, "unpublish");
    int rc = check_if_match(txn, r);
    if (rc == 0 && hub_content_head_version(txn, state(r)->key, &n) != 0)
        n = 0; /* hub_content_unpublish says why */
    if (rc == 0)
        rc = hub_content_unpublish(txn, &cx, state(r)->key, &r->err);
    if (rc != 0)
        return rc;
    hub_time_format(hub_now_ms(), now);
    r->result = json_pack("{s:s,s:I,s:s,s:s,s:[]}", "key", state(r)->key, "version", (json_int_t)n,
                          "unpublished_at", now, "status", "unpublished", "warnings");
    if (r->result == NULL)
        return HUB_ENOMEM;
    char journey[HUB_TERM_MAX + 1];
    if (hub_journey_first_user(txn, state(r)->key, journey, sizeof(journey)))
        json_array_append_new(
            json_object_get(r->result, "warnings"),
            json_pack("{s:s,s:s,s:s}", "code", "used_by_journey", "journey", journey, "message",
                      "a journey uses this item: its step answers 404 and its sends fail until "
                      "the item is published again"));
    return 0;
}

/* ---- bodies of the POST routes --------------------------------------------------------- */

/* Reads an optional body: none (or empty) leaves r->body NULL. -1 when an error was sent. */
static int read_optional_body(hub_request *r)
{
    if (r->req == NULL || r->req->entity.base == NULL || r->req->entity.len == 0)
        return 0;
    return hub_req_read_json(r, 1, 0);
}

/* Checks that body has only the members in `allowed`; adds a problem for each other one. */
static void check_members(json_t *body, const char *const *allowed, hub_problems *p)
{
    const char *m;
    json_t *unused;
    json_object_foreach(body, m, unused)
    {
        size_t i = 0;
        while (allowed[i] != NULL && strcmp(allowed[i], m) != 0)
            i++;
        if (allowed[i] == NULL) {
            hub_buf path;
            hub_buf_init(&path, 4 * HUB_ITEM_KEY_MAX);
            hub_buf_append_byte(&path, '/');
            hub_buf_append_jptr(&path, m);
            hub_problems_add(p, path.data != NULL ? path.data : "", "unknown member");
            hub_buf_free(&path);
        }
    }
}

/* Sends 422 with the problems and returns -1 if there are any. */
static int send_problems(hub_request *r, hub_problems *p, const char *detail)
{
    if (p->count == 0 && p->dropped == 0)
        return 0;
    hub_req_send_problem(r, 422, detail, p);
    hub_problems_clear(p);
    return -1;
}

/*
 * {"at": null | RFC 3339 time} for publish and unpublish: null, or a time not in the future
 * (a past time means "now"), acts at once; a later time schedules the action (202), replacing
 * a pending schedule of the same action (core/content/schedule.c). At most a year ahead.
 */
static int check_at_body(hub_request *r)
{
    static const char *const allowed[] = {"at", NULL};
    hub_problems p;
    int64_t at;
    if (read_optional_body(r) != 0)
        return -1;
    if (r->body == NULL)
        return 0;
    hub_problems_init(&p);
    check_members(r->body, allowed, &p);
    json_t *v = json_object_get(r->body, "at");
    if (v != NULL && !json_is_null(v)) {
        if (!json_is_string(v) ||
            hub_time_parse(json_string_value(v), json_string_length(v), &at) != 0)
            hub_problems_add(&p, "/at", "must be null or an RFC 3339 time");
        else if (at > hub_now_ms() + 366LL * 86400 * 1000)
            hub_problems_add(&p, "/at", "must be at most a year from now");
        else if (at > hub_now_ms())
            state(r)->at_ms = at;
    }
    return send_problems(r, &p, "the request body breaks a rule");
}

/* {"version": n} for rollback, n >= 1. */
static int check_rollback_body(hub_request *r)
{
    static const char *const allowed[] = {"version", NULL};
    hub_problems p;
    if (hub_req_read_json(r, 1, 0) != 0)
        return -1;
    hub_problems_init(&p);
    check_members(r->body, allowed, &p);
    json_t *v = json_object_get(r->body, "version");
    if (!json_is_integer(v) || json_integer_value(v) < 1 ||
        json_integer_value(v) > (json_int_t)UINT32_MAX)
        hub_problems_add(&p, "/version", "must be a version number (an integer >= 1)");
    else
        state(r)->n = (uint32_t)json_integer_value(v);
    return send_problems(r, &p, "the request body breaks a rule");
}

/* ---- routing --------------------------------------------------------------------------- */

static int is_word(const char *s, const char *w)
{
    return strcmp(s, w) == 0;
}

/* Which sub-route the segments name; *key_end: one past the key's last segment. */
static route parse_route(const hub_request *r, size_t *key_end)
{
    size_t n = r->nsegs;
    const char *last = r->segs[n - 1];
    *key_end = n;
    if (n >= 4 && is_word(r->segs[n - 2], "versions")) {
        *key_end = n - 2;
        return R_VERSION;
    }
    if (n >= 3) {
        static const struct {
            const char *word;
            route rt;
        } words[] = {{"publish", R_PUBLISH},
                     {"unpublish", R_UNPUBLISH},
                     {"rollback", R_ROLLBACK},
                     {"versions", R_VERSIONS},
                     {"schedule", R_SCHEDULE}};
        for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
            if (is_word(last, words[i].word)) {
                *key_end = n - 1;
                return words[i].rt;
            }
        }
    }
    return R_ITEM;
}

/* Fills the key (and version number); on a key that cannot exist sends 422 for PUT (the
 * client chose it) or 404, and returns -1. */
static int take_key(hub_request *r, route rt, size_t key_end)
{
    item_req *ir = state(r);
    hub_error err;
    uint64_t n = 0;
    hub_error_init(&err);
    size_t len = hub_req_join_segs(r, 1, key_end, ir->key, sizeof(ir->key));
    if (len == SIZE_MAX)
        hub_error_set(&err, HUB_EINVAL, "the item key is longer than %d bytes", HUB_ITEM_KEY_MAX);
    else
        hub_item_key_check(ir->key, len, &err);
    if (rt == R_VERSION && err.code == 0 &&
        (hub_parse_u64(hub_slice_cstr(r->segs[r->nsegs - 1]), &n) != 0 || n == 0 || n > UINT32_MAX))
        hub_error_set(&err, HUB_ENOTFOUND, "no such version");
    ir->n = (uint32_t)n;
    if (err.code == HUB_ENOTFOUND) {
        hub_req_send_problem(r, 404, err.message, NULL);
    } else if (err.code != 0) {
        int put = rt == R_ITEM && hub_req_is(r, "PUT");
        hub_req_send_problem(r, put ? 422 : 404, put ? err.message : "no such item", NULL);
    }
    int rc = err.code != 0 ? -1 : 0;
    hub_error_clear(&err);
    return rc;
}

/* GET, PUT, PATCH, DELETE on the item itself. */
static void item_route(hub_request *r)
{
    static const char *const none[] = {NULL};
    if (hub_req_is(r, "GET")) {
        get_item(r);
        return;
    }
    int put = hub_req_is(r, "PUT"), patch = hub_req_is(r, "PATCH");
    if (!put && !patch && !hub_req_is(r, "DELETE")) {
        hub_req_method_not_allowed(r, "GET, PUT, PATCH, DELETE");
        return;
    }
    if (hub_req_reject_unknown_params(r, none) || !hub_req_require(r, HUB_ROLE_EDITOR))
        return;
    if (put || patch) {
        if (hub_req_read_json(r, 1, patch) == 0)
            hub_req_write(r, put ? put_txn : patch_txn, done_draft);
        return;
    }
    hub_req_write(r, delete_txn, done_result);
}

static int cancel_txn(hub_txn *txn, hub_request *r)
{
    const char *action = state(r)->n ? "publish" : "unpublish";
    int rc = hub_schedule_cancel(txn, state(r)->key, action);
    if (rc == HUB_ENOTFOUND)
        return hub_error_set(&r->err, rc, "no %s of %s is scheduled", action, state(r)->key);
    return rc;
}

/* GET /v1/items/{key}/schedule (preview and up); DELETE ...?action=publish|unpublish. */
static void schedule_route(hub_request *r)
{
    static const char *const none[] = {NULL}, *const action[] = {"action", NULL};
    if (hub_req_is(r, "GET")) {
        hub_txn *txn = NULL;
        json_t *out = NULL;
        if (hub_req_reject_unknown_params(r, none) || !hub_req_require(r, HUB_ROLE_PREVIEW))
            return;
        int rc = hub_store_read(r->store, &txn);
        if (rc == 0)
            rc = hub_schedule_get(txn, state(r)->key, &out);
        hub_txn_end(txn);
        hub_req_send_read(r, rc, out, "cannot read the schedule");
        return;
    }
    if (!hub_req_is(r, "DELETE")) {
        hub_req_method_not_allowed(r, "GET, DELETE");
        return;
    }
    if (hub_req_reject_unknown_params(r, action) || !hub_req_require(r, HUB_ROLE_EDITOR))
        return;
    const char *a = hub_req_param(r, "action");
    if (a == NULL || (strcmp(a, "publish") != 0 && strcmp(a, "unpublish") != 0)) {
        hub_req_send_problem(r, 400, "action must be publish or unpublish", NULL);
        return;
    }
    state(r)->n = strcmp(a, "publish") == 0;
    hub_req_write(r, cancel_txn, done_result);
}

/* POST publish, unpublish, rollback. */
static void action_route(hub_request *r, route rt)
{
    static const char *const none[] = {NULL};
    if (!hub_req_is(r, "POST")) {
        hub_req_method_not_allowed(r, "POST");
        return;
    }
    if (hub_req_reject_unknown_params(r, none) || !hub_req_require(r, HUB_ROLE_EDITOR))
        return;
    if (rt == R_ROLLBACK) {
        if (check_rollback_body(r) == 0)
            hub_req_write(r, rollback_txn, done_result);
        return;
    }
    if (check_at_body(r) == 0)
        hub_req_write(r, rt == R_PUBLISH ? publish_txn : unpublish_txn, done_result);
}

void hub_h_items(hub_request *r)
{
    size_t key_end;
    if (r->nsegs <= 1) {
        list_items(r);
        return;
    }
    r->scratch = calloc(1, sizeof(item_req));
    if (r->scratch == NULL) {
        hub_req_send_problem(r, 503, "out of memory", NULL);
        return;
    }
    route rt = parse_route(r, &key_end);
    if (take_key(r, rt, key_end) != 0)
        return;
    switch (rt) {
    case R_ITEM:
        item_route(r);
        break;
    case R_VERSIONS:
    case R_VERSION:
        get_versions(r, rt == R_VERSION);
        break;
    case R_SCHEDULE:
        schedule_route(r);
        break;
    default:
        action_route(r, rt);
        break;
    }
}
