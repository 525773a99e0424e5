/*
 * /v1/locales: the locales with their fallback chains. Reads for every token, writes for
 * admins. A write that changes any chain re-resolves every published item's delivery
 * documents in the same transaction, so readers never see content resolved with old chains.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/internal.h"

/* The canonical tag of the path, kept in r->scratch for the writer thread. */
static const char *tag_of(hub_request *r)
{
    return r->scratch;
}

static int put_txn(hub_txn *txn, hub_request *r)
{
    int changed = 0;
    r->created = !hub_locale_exists(txn, tag_of(r));
    int rc = hub_locale_put(txn, tag_of(r), r->body, &changed, &r->err);
    if (rc == 0 && changed)
        rc = hub_content_rematerialize_all(txn);
    if (rc == 0)
        rc = hub_audit_append(txn, r->principal.name, "locale.put", "locales", tag_of(r), r->body);
    if (rc == 0)
        rc = hub_locale_get(txn, tag_of(r), &r->result);
    return rc;
}

static int delete_txn(hub_txn *txn, hub_request *r)
{
    int changed = 0;
    if (!hub_locale_exists(txn, tag_of(r)))
        return hub_error_set(&r->err, HUB_ENOTFOUND, "no locale '%s'", tag_of(r));
    if (hub_content_locale_in_use(txn, tag_of(r)))
        return hub_error_set(&r->err, HUB_EINUSE,
                             "content uses locale '%s': remove it from the items first", tag_of(r));
    int rc = hub_locale_delete(txn, tag_of(r), &changed, &r->err);
    if (rc == 0 && changed)
        rc = hub_content_rematerialize_all(txn);
    if (rc == 0)
        rc = hub_audit_append(txn, r->principal.name, "locale.delete", "locales", tag_of(r), NULL);
    return rc;
}

static void read_locale(hub_request *r, const char *tag)
{
    hub_txn *txn = NULL;
    json_t *out = NULL;
    int rc = hub_store_read(r->store, &txn);
    if (rc == 0)
        rc = hub_locale_get(txn, tag, &out);
    hub_txn_end(txn);
    if (rc == HUB_ENOTFOUND) {
        char detail[100];
        snprintf(detail, sizeof(detail), "no locale '%s'", tag);
        hub_req_send_problem(r, 404, detail, NULL);
        return;
    }
    hub_req_send_read(r, rc, out, "cannot read the locale");
}

static void list_locales(hub_request *r)
{
    hub_txn *txn = NULL;
    json_t *all = NULL;
    int rc = hub_store_read(r->store, &txn);
    if (rc == 0)
        rc = hub_locale_list(txn, &all);
    hub_txn_end(txn);
    hub_req_send_list(r, rc, all, "tag", "cannot list locales");
}

/* A path that is no BCP 47 tag is a malformed request for every method (400). */
static void bad_tag(hub_request *r, const hub_error *err)
{
    char detail[300];
    snprintf(detail, sizeof(detail), "the path does not name a locale: %s", err->message);
    hub_req_send_problem(r, 400, detail, NULL);
}

static void one_locale(hub_request *r)
{
    char tag[HUB_LOCALE_TAG_MAX];
    hub_error err;
    hub_error_init(&err);
    int rc = hub_locale_canonicalize(r->segs[1], strlen(r->segs[1]), tag, &err);
    if (rc != 0)
        bad_tag(r, &err);
    else if (hub_req_is(r, "GET"))
        read_locale(r, tag);
    else
        hub_req_put_or_delete(r, HUB_ROLE_ADMIN, tag, put_txn, delete_txn);
    hub_error_clear(&err);
}

void hub_h_locales(hub_request *r)
{
    int list = hub_req_collection_start(r, HUB_ROLE_DELIVERY);
    if (list < 0)
        return;
    if (list)
        list_locales(r);
    else if (r->nsegs == 1)
        hub_req_method_not_allowed(r, "GET");
    else if (r->nsegs == 2)
        one_locale(r);
    else
        hub_req_send_problem(r, 404, "no such resource", NULL);
}
