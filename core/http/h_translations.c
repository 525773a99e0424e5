/*
 * http/h_translations.c: the translation workflow (core/translation).
 *   GET  /v1/translations/export?locale=&source=&tag=&format=xliff2|xliff12
 *        200 application/xliff+xml with the units to translate (X-Omnihub-Units: n), or 204
 *        when nothing is missing or outdated. Editors (within their limits), preview, admin.
 *   POST /v1/translations/import  (an XLIFF 2.0 or 1.2 body: application/xliff+xml,
 *        application/xml or text/xml) 200 with the report of hub_translation_import; 422 when
 *        no unit was imported and some were rejected. Editors and admins.
 * The document is parsed on the loop thread, one import at a time across the threads (429
 * with Retry-After otherwise: a parse holds the document's tree); the units are judged and
 * written by the writer in one transaction.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/internal.h"
#include "translation/translation.h"

static void export_xliff(hub_request *r)
{
    static const char *const known[] = {"locale", "source", "tag", "format", NULL};
    char locale[HUB_LOCALE_TAG_MAX], source[HUB_LOCALE_TAG_MAX], name[160], units[24];
    const char *format = hub_req_param(r, "format");
    hub_xliff_version v = hub_translation_format(format);
    hub_txn *txn = NULL;
    hub_buf out;
    hub_error err;
    size_t n = 0;
    if (!hub_req_require(r, HUB_ROLE_PREVIEW) || hub_req_reject_unknown_params(r, known) != 0 ||
        !hub_req_locale_param(r, "locale", locale, 1) ||
        !hub_req_locale_param(r, "source", source, 0))
        return;
    if (v == 0) {
        hub_req_send_problem(r, 400, "format must be xliff2 or xliff12", NULL);
        return;
    }
    if (r->renderer == NULL) {
        hub_req_send_problem(r, 503, "no channel plugin is loaded", NULL);
        return;
    }
    hub_tr_export_request rq = {source[0] ? source : NULL, locale, hub_req_param(r, "tag"), v,
                                &r->principal};
    hub_buf_init(&out, HUB_TR_EXPORT_MAX);
    hub_error_init(&err);
    int rc = hub_store_read(r->store, &txn);
    if (rc == 0)
        rc = hub_translation_export(txn, r->renderer, &rq, &out, &n, &err);
    else
        hub_error_set(&err, rc, "cannot read the store: %s", hub_strerror(rc));
    hub_txn_end(txn);
    snprintf(units, sizeof(units), "%zu", n);
    if (rc == HUB_ETOOBIG) {
        hub_req_send_problem(r, 422, "the export is over 12 MiB: narrow it with tag=", NULL);
    } else if (rc != 0) {
        hub_req_send_error(r, &err);
    } else {
        hub_req_header(r, "x-omnihub-units", units);
        snprintf(name, sizeof(name), "attachment; filename=\"omnihub-%s%s%s.xlf\"",
                 rq.source ? rq.source : "", rq.source ? "-" : "", locale);
        if (n > 0)
            hub_req_header(r, "content-disposition", name);
        hub_req_send_bytes(r, n > 0 ? 200 : 204, "application/xliff+xml; charset=utf-8", out.data,
                           n > 0 ? out.len : 0);
    }
    hub_buf_free(&out);
    hub_error_clear(&err);
}

/* Imports being parsed now, across the loop threads: parsing holds the document's tree,
 * up to tens of times its size (core/xml), so one at a time; the others wait (429). */
static atomic_int parsing;

static void doc_free(void *p)
{
    hub_xliff_doc_free(p);
    free(p);
}

static int import_txn(hub_txn *txn, hub_request *r)
{
    hub_content_ctx cx = {r->schemas, &r->principal, hub_render_publish_check, (void *)r->renderer,
                          NULL};
    return hub_translation_import(txn, &cx, r->renderer, r->scratch, &r->result, &r->err);
}

static void import_done(hub_request *r)
{
    json_t *rejected = json_object_get(r->result, "rejected");
    if (r->op.result != 0) {
        hub_req_send_error(r, &r->err);
        return;
    }
    if (json_array_size(json_object_get(r->result, "imported")) == 0 &&
        json_array_size(rejected) > 0) {
        hub_problems p;
        size_t i;
        json_t *e;
        hub_problems_init(&p);
        hub_buf path;
        hub_buf_init(&path, 4096);
        json_array_foreach(rejected, i, e)
        { /* "/<item>/<unit>" as a JSON pointer, the reason first */
            hub_buf_reset(&path);
            hub_buf_append_byte(&path, '/');
            hub_buf_append_jptr(&path, json_string_value(json_object_get(e, "item")));
            hub_buf_append_byte(&path, '/');
            hub_buf_append_jptr(&path, json_string_value(json_object_get(e, "unit")));
            const char *detail = json_string_value(json_object_get(e, "detail"));
            hub_problems_add(&p, path.data, "%s: %s",
                             json_string_value(json_object_get(e, "reason")),
                             detail != NULL ? detail : "");
        }
        hub_buf_free(&path);
        hub_req_send_problem(r, 422, "no unit was imported", &p);
        hub_problems_clear(&p);
        return;
    }
    hub_req_done_json(r);
}

static void import_xliff(hub_request *r)
{
    static const char *const types[] = {"application/xliff+xml", "application/x-xliff+xml",
                                        "application/xml", "text/xml", NULL};
    static const char *const none[] = {NULL};
    hub_xliff_doc *doc;
    hub_error err;
    if (!hub_req_require(r, HUB_ROLE_EDITOR) || hub_req_reject_unknown_params(r, none) != 0)
        return;
    if (r->req->entity.base == NULL || r->req->entity.len == 0) {
        hub_req_send_problem(r, 400, "this request needs an XLIFF body", NULL);
        return;
    }
    if (!hub_req_content_type_in(r, types)) {
        hub_req_send_problem(r, 415, "the body must be application/xliff+xml (XLIFF 2.0 or 1.2)",
                             NULL);
        return;
    }
    if (r->renderer == NULL) {
        hub_req_send_problem(r, 503, "no channel plugin is loaded", NULL);
        return;
    }
    doc = calloc(1, sizeof(*doc));
    if (doc == NULL) {
        hub_req_send_problem(r, 503, "out of memory", NULL);
        return;
    }
    if (atomic_fetch_add(&parsing, 1) != 0) {
        atomic_fetch_sub(&parsing, 1);
        free(doc);
        hub_req_header(r, "retry-after", "1");
        hub_req_send_problem(r, 429, "another translation import is being read; retry", NULL);
        return;
    }
    hub_error_init(&err);
    int rc = hub_xliff_parse(r->req->entity.base, r->req->entity.len, doc, &err);
    atomic_fetch_sub(&parsing, 1);
    if (rc != 0) {
        free(doc);
        hub_req_send_error(r, &err);
    } else {
        r->scratch = doc;
        r->scratch_free = doc_free;
        hub_req_write(r, import_txn, import_done);
    }
    hub_error_clear(&err);
}

void hub_h_translations(hub_request *r)
{
    if (r->nsegs == 2 && strcmp(r->segs[1], "export") == 0) {
        if (hub_req_is(r, "GET"))
            export_xliff(r);
        else
            hub_req_method_not_allowed(r, "GET");
    } else if (r->nsegs == 2 && strcmp(r->segs[1], "import") == 0) {
        if (hub_req_is(r, "POST"))
            import_xliff(r);
        else
            hub_req_method_not_allowed(r, "POST");
    } else {
        hub_req_send_problem(r, 404, "no such resource: try /v1/translations/export or /import",
                             NULL);
    }
}
