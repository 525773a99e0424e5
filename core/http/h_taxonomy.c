/*
 * /v1/taxonomy: the shared terms in six facets. GET /v1/taxonomy is the whole tree;
 * /v1/taxonomy/{facet}/{path...} is one term with its children and item count. Reads for
 * every token, writes for admins.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/internal.h"

#define TERM_MAX 512

static int put_txn(hub_txn *txn, hub_request *r)
{
    const char *term = r->scratch;
    r->created = !hub_taxonomy_exists(txn, term);
    int rc = hub_taxonomy_put(txn, term, r->body, &r->err);
    if (rc == 0)
        rc = hub_audit_append(txn, r->principal.name, "taxonomy.put", "taxonomy", term, r->body);
    if (rc == 0)
        rc = hub_taxonomy_get(txn, term, &r->result);
    return rc;
}

static int delete_txn(hub_txn *txn, hub_request *r)
{
    const char *term = r->scratch;
    int rc = hub_taxonomy_delete(txn, term, &r->err);
    if (rc == 0)
        rc = hub_audit_append(txn, r->principal.name, "taxonomy.delete", "taxonomy", term, NULL);
    return rc;
}

static void read_taxonomy(hub_request *r, const char *term)
{
    hub_txn *txn = NULL;
    json_t *out = NULL;
    int rc = hub_store_read(r->store, &txn);
    if (rc == 0)
        rc = term != NULL ? hub_taxonomy_get(txn, term, &out) : hub_taxonomy_tree(txn, &out);
    hub_txn_end(txn);
    if (rc == HUB_ENOTFOUND && term != NULL) {
        char detail[TERM_MAX + 32];
        snprintf(detail, sizeof(detail), "no term '%s'", term);
        hub_req_send_problem(r, 404, detail, NULL);
        return;
    }
    hub_req_send_read(r, rc, out,
                      term != NULL ? "cannot read the term" : "cannot read the taxonomy");
}

static void one_term(hub_request *r)
{
    char term[TERM_MAX];
    hub_error err;
    if (hub_req_join_segs(r, 1, r->nsegs, term, sizeof(term)) == SIZE_MAX) {
        hub_req_send_problem(r, 404, "no such term (too long)", NULL);
        return;
    }
    if (hub_req_is(r, "GET")) {
        read_taxonomy(r, term);
        return;
    }
    hub_error_init(&err);
    if (hub_req_is(r, "PUT") && hub_term_check(term, strlen(term), &err) != 0) {
        hub_req_send_error(r, &err); /* the grammar, before the role: 422 says what is wrong */
        hub_error_clear(&err);
        return;
    }
    hub_error_clear(&err);
    hub_req_put_or_delete(r, HUB_ROLE_ADMIN, term, put_txn, delete_txn);
}

void hub_h_taxonomy(hub_request *r)
{
    static const char *const none[] = {NULL};
    if (hub_req_reject_unknown_params(r, none) || !hub_req_require(r, HUB_ROLE_DELIVERY))
        return;
    if (r->nsegs > 1) {
        one_term(r);
    } else if (hub_req_is(r, "GET")) {
        read_taxonomy(r, NULL);
    } else {
        hub_req_method_not_allowed(r, "GET");
    }
}
