/*
 * /v1/changes (delivery and up): every publish, unpublish and delete in order, for replicas
 * and static-site builds that follow the hub. /v1/audit (editor and up): who changed what,
 * when, filtered by key and time.
 */
#include <stdlib.h>
#include <string.h>

#include "http/internal.h"

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
    if (s != NULL && hub_parse_u64(hub_slice_cstr(s), &since) != 0) {
        hub_req_send_problem(r, 400, "since must be a sequence number (0 or more)", NULL);
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
    json_t *items = NULL;
    char *next = NULL;
    hub_error err;
    hub_error_init(&err);
    int rc = hub_store_read(r->store, &txn);
    if (rc == 0)
        rc = hub_audit_list(txn, hub_req_param(r, "key"), since_ms, hub_req_param(r, "cursor"),
                            limit, &items, &next, &err);
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
