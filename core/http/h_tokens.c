/*
 * /v1/tokens (admin only): create (the secret is in the answer once and nowhere else), list
 * (names, roles and limits, never secrets or hashes), delete. Creating and deleting are
 * audited without the secret.
 */
#include <stdio.h>
#include <string.h>

#include "http/internal.h"

static int create_txn(hub_txn *txn, hub_request *r)
{
    char secret[HUB_TOKEN_SECRET_LEN];
    json_t *record = NULL;
    int rc = hub_auth_token_create(txn, r->body, secret, &record, &r->err);
    if (rc == 0) {
        const char *name = json_string_value(json_object_get(record, "name"));
        rc = hub_audit_append(txn, r->principal.name, "token.create", "tokens", name,
                              json_object_get(record, "role"));
    }
    if (rc == 0) {
        json_object_set_new(record, "secret", json_string(secret));
        r->result = record;
        r->created = 1;
    } else {
        json_decref(record);
    }
    memset(secret, 0, sizeof(secret));
    return rc;
}

static int delete_txn(hub_txn *txn, hub_request *r)
{
    int rc = hub_auth_token_delete(txn, r->segs[1]);
    if (rc == HUB_ENOTFOUND)
        return hub_error_set(&r->err, rc, "no token is named '%.64s'", r->segs[1]);
    if (rc == 0)
        rc = hub_audit_append(txn, r->principal.name, "token.delete", "tokens", r->segs[1], NULL);
    return rc;
}

/* Channel limits must name channels this hub has (auth does not know the schemas). */
static int channels_known(hub_request *r)
{
    json_t *channels = json_object_get(r->body, "channels"), *c;
    size_t i;
    hub_problems p;
    hub_problems_init(&p);
    json_array_foreach(channels, i, c)
    {
        if (json_is_string(c) && hub_schema_find(r->schemas, json_string_value(c)) == NULL) {
            char path[32];
            snprintf(path, sizeof(path), "/channels/%zu", i);
            hub_problems_add(&p, path, "unknown channel '%.40s'", json_string_value(c));
        }
    }
    if (p.count == 0)
        return 1;
    hub_req_send_problem(r, 422, "the token names channels this hub does not have", &p);
    hub_problems_clear(&p);
    return 0;
}

void hub_h_tokens(hub_request *r)
{
    static const char *const none[] = {NULL};
    if (hub_req_reject_unknown_params(r, none) || !hub_req_require(r, HUB_ROLE_ADMIN))
        return;
    if (r->nsegs == 1 && hub_req_is(r, "GET")) {
        hub_txn *txn = NULL;
        json_t *list = NULL;
        int rc = hub_store_read(r->store, &txn);
        if (rc == 0)
            rc = hub_auth_token_list(txn, &list);
        hub_txn_end(txn);
        hub_req_send_read(r, rc,
                          rc == 0 ? json_pack("{s:o,s:n}", "items", list, "next_cursor") : list,
                          "cannot list tokens");
    } else if (r->nsegs == 1 && hub_req_is(r, "POST")) {
        if (hub_req_read_json(r, 1, 0) == 0 && channels_known(r))
            hub_req_write(r, create_txn, hub_req_done_json);
    } else if (r->nsegs == 1) {
        hub_req_method_not_allowed(r, "GET, POST");
    } else if (r->nsegs == 2 && hub_req_is(r, "DELETE")) {
        hub_req_write(r, delete_txn, hub_req_done_empty);
    } else if (r->nsegs == 2) {
        hub_req_method_not_allowed(r, "DELETE");
    } else {
        hub_req_send_problem(r, 404, "no such resource", NULL);
    }
}
