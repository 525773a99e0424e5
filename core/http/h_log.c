/*
 * /v1/changes (delivery and up): every publish, unpublish and delete in order, for replicas
 * and static-site builds that follow the hub. /v1/audit (editor and up): who changed what,
 * when, filtered by key and time; editors see the content history (items, journeys, locales,
 * taxonomy) but not token records, and an editor with tag limits only its own items.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/internal.h"

#define AUDIT_ROUNDS 8 /* bounds the scan of a narrowed audit page on the loop thread */

/* ---- the changes feed ------------------------------------------------------------------ */

/* The shared start of both logs: one path segment, GET only, known params, role, limit.
 * 0 to go on; -1 when it answered. */
static int log_prologue(hub_request *r, const char *const *known, hub_role role, size_t *limit)
{
    if (r->nsegs != 1) {
        hub_req_send_problem(r, 404, "no such resource", NULL);
        return -1;
    }
    if (!hub_req_is(r, "GET")) {
        hub_req_method_not_allowed(r, "GET");
        return -1;
    }
    if (hub_req_reject_unknown_params(r, known) || !hub_req_require(r, role) ||
        hub_req_limit(r, limit) != 0)
        return -1;
    return 0;
}

void hub_h_changes(hub_request *r)
{
    static const char *const known[] = {"since", "limit", NULL};
    uint64_t since = 0, next = 0;
    size_t limit;
    if (log_prologue(r, known, HUB_ROLE_DELIVERY, &limit) != 0)
        return;
    const char *s = hub_req_param(r, "since");
    /* JSON numbers past 2^63 do not survive jansson (nor most clients): no such seq exists. */
    if (s != NULL && (hub_parse_u64(hub_slice_cstr(s), &since) != 0 || since > INT64_MAX)) {
        hub_req_send_problem(r, 400, "since must be a sequence number from 0 to 2^63-1", NULL);
        return;
    }
    hub_txn *txn = NULL;
    json_t *items = NULL;
    int rc = hub_store_read(r->store, &txn);
    if (rc == 0)
        rc = hub_changes_list(txn, since, limit, &items, &next);
    hub_txn_end(txn);
    hub_req_send_read(
        r, rc,
        rc == 0 ? json_pack("{s:o,s:I}", "items", items, "next_since", (json_int_t)next) : items,
        "cannot read the changes feed");
}

/* ---- the audit log --------------------------------------------------------------------- */

/* Whether r's principal may see an audit record. Admins see all. Editors see the content
 * resources (a new resource stays hidden until listed here); with tag limits, only items
 * whose draft or published tags they cover, as GET /v1/items narrows (a removed item's tags
 * are gone, so its records stay hidden). */
static int audit_visible(hub_txn *txn, const hub_principal *p, json_t *rec)
{
    static const char *const editor_resources[] = {"items", "journeys", "locales", "taxonomy",
                                                   NULL};
    const char *res = json_string_value(json_object_get(rec, "resource"));
    const char *key = json_string_value(json_object_get(rec, "key"));
    size_t i = 0;
    if (p->role >= HUB_ROLE_ADMIN)
        return 1;
    while (res != NULL && editor_resources[i] != NULL && strcmp(editor_resources[i], res) != 0)
        i++;
    if (res == NULL || editor_resources[i] == NULL)
        return 0;
    if (p->ntags == 0 || strcmp(res, "items") != 0)
        return 1;
    json_t *doc = NULL;
    if (key == NULL || (hub_content_get_draft(txn, key, &doc) != 0 &&
                        hub_content_get_published(txn, key, &doc) != 0))
        return 0;
    json_t *tags = json_object_get(doc, "tags");
    int ok = json_is_array(tags) && hub_principal_allows_tags(p, tags);
    json_decref(doc);
    return ok;
}

/* Fills out (an array) with up to limit visible records from the cursor on; *next gets the
 * cursor after the last record looked at (malloc'd), or NULL at the end. Records hidden from
 * the reader are skipped by asking for more, a bounded number of times. */
static int audit_page(hub_txn *txn, hub_request *r, int64_t since_ms, size_t limit, json_t *out,
                      char **next, hub_error *err)
{
    const char *key = hub_req_param(r, "key"), *cur = hub_req_param(r, "cursor");
    char *owned = NULL;
    for (int round = 0; round < AUDIT_ROUNDS && json_array_size(out) < limit; round++) {
        json_t *got = NULL, *rec;
        char *nx = NULL;
        size_t i;
        int rc =
            hub_audit_list(txn, key, since_ms, cur, limit - json_array_size(out), &got, &nx, err);
        if (rc != 0) {
            json_decref(got);
            free(owned);
            return rc;
        }
        json_array_foreach(got, i, rec)
        {
            if (audit_visible(txn, &r->principal, rec))
                json_array_append(out, rec);
        }
        json_decref(got);
        free(owned);
        cur = owned = nx;
        if (nx == NULL)
            break;
    }
    *next = owned;
    return 0;
}

void hub_h_audit(hub_request *r)
{
    static const char *const known[] = {"key", "since", "cursor", "limit", NULL};
    int64_t since_ms = 0;
    size_t limit;
    if (log_prologue(r, known, HUB_ROLE_EDITOR, &limit) != 0)
        return;
    const char *s = hub_req_param(r, "since");
    if (s != NULL && hub_time_parse(s, strlen(s), &since_ms) != 0) {
        hub_req_send_problem(r, 400, "since must be an RFC 3339 time", NULL);
        return;
    }
    hub_txn *txn = NULL;
    json_t *items = json_array();
    char *next = NULL;
    hub_error err;
    hub_error_init(&err);
    int rc = items == NULL ? HUB_ENOMEM : hub_store_read(r->store, &txn);
    if (rc == 0)
        rc = audit_page(txn, r, since_ms, limit, items, &next, &err);
    hub_txn_end(txn);
    if (rc != 0) {
        json_decref(items);
        if (err.code == 0)
            hub_error_set(&err, rc, "cannot read the audit log: %s", hub_strerror(rc));
        hub_req_send_error(r, &err);
    } else {
        hub_req_send_json(r, 200, json_pack("{s:o,s:s?}", "items", items, "next_cursor", next));
    }
    free(next);
    hub_error_clear(&err);
}
