/*
 * /v1/tokens (admin only): create (the secret is in the answer once and nowhere else), list
 * and read (names, roles and limits, never secrets or hashes), delete. Creating and deleting
 * are audited without the secret.
 */
#include <stdio.h>
#include <string.h>

#include "http/internal.h"

/* Channel limits must name channels this hub has (auth does not know the schemas, which are
 * immutable, so the writer thread may read them). Adds a problem per unknown channel to p;
 * returns how many. */
static size_t unknown_channels(const hub_request *r, hub_problems *p)
{
    json_t *channels = json_object_get(r->body, "channels"), *c;
    size_t i, n = 0;
    json_array_foreach(channels, i, c)
    {
        if (json_is_string(c) && hub_schema_find(r->schemas, json_string_value(c)) == NULL) {
            char path[32];
            snprintf(path, sizeof(path), "/channels/%zu", i);
            hub_problems_add(p, path, "unknown channel '%.40s'", json_string_value(c));
            n++;
        }
    }
    return n;
}

static int create_txn(hub_txn *txn, hub_request *r)
{
    char secret[HUB_TOKEN_SECRET_LEN];
    json_t *record = NULL;
    int rc = hub_auth_token_create(txn, r->body, secret, &record, &r->err);
    /* One answer lists every problem; a token made meanwhile is rolled back with this op. */
    size_t unknown = rc == 0 || rc == HUB_EINVAL ? unknown_channels(r, &r->err.problems) : 0;
    if (rc == 0 && unknown > 0)
        rc = hub_error_set(&r->err, HUB_EINVAL, "the token names channels this hub does not have");
    if (rc == 0) {
        json_t *detail =
            json_pack("{s:O,s:O,s:O}", "role", json_object_get(record, "role"), "channels",
                      json_object_get(record, "channels"), "tags", json_object_get(record, "tags"));
        rc = detail == NULL
                 ? HUB_ENOMEM
                 : hub_audit_append(txn, r->principal.name, "token.create", "tokens",
                                    json_string_value(json_object_get(record, "name")), detail);
        json_decref(detail);
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

/* The public records: all of them paged (name == NULL), or the one named. */
static void read_tokens(hub_request *r, const char *name)
{
    hub_txn *txn = NULL;
    json_t *list = NULL, *one = NULL, *t;
    size_t i;
    int rc = hub_store_read(r->store, &txn);
    if (rc == 0)
        rc = hub_auth_token_list(txn, &list);
    hub_txn_end(txn);
    if (name == NULL) {
        hub_req_send_list(r, rc, list, "name", "cannot list tokens");
        return;
    }
    json_array_foreach(list, i, t)
    {
        const char *n = json_string_value(json_object_get(t, "name"));
        if (one == NULL && n != NULL && strcmp(n, name) == 0)
            one = json_incref(t);
    }
    json_decref(list);
    hub_req_send_one(r, rc == 0 && one == NULL ? HUB_ENOTFOUND : rc, one, "cannot read the token",
                     "no token is named '%.64s'", name);
}

void hub_h_tokens(hub_request *r)
{
    int list = hub_req_collection_start(r, HUB_ROLE_ADMIN);
    if (list < 0)
        return;
    if (list) {
        read_tokens(r, NULL);
    } else if (r->nsegs == 1 && hub_req_is(r, "POST")) {
        if (hub_req_read_json(r, 1, 0) == 0)
            hub_req_write(r, create_txn, hub_req_done_json);
    } else if (r->nsegs == 1) {
        hub_req_method_not_allowed(r, "GET, POST");
    } else if (r->nsegs == 2 && hub_req_is(r, "GET")) {
        read_tokens(r, r->segs[1]);
    } else if (r->nsegs == 2 && hub_req_is(r, "DELETE")) {
        hub_req_write(r, delete_txn, hub_req_done_empty);
    } else if (r->nsegs == 2) {
        hub_req_method_not_allowed(r, "GET, DELETE");
    } else {
        hub_req_send_problem(r, 404, "no such resource", NULL);
    }
}
