/*
 * http/h_content.c: the delivery read, GET /v1/content/{key...}?channel=&locale=&variant=
 * &fallback=&status=&subject=&segments= (API.md "Delivery"). The hot path of the product.
 *
 * Published content with fallback (the common case) is served from the materialized
 * documents: one read transaction, a few LMDB gets, no JSON parsing, no allocation beyond the
 * copy of the body into the response. ETag, Surrogate-Key and Content-Language come stored
 * with the document. Drafts (status=draft: preview, editor, admin) and exact-locale reads
 * (fallback=false) are resolved on the fly from the draft or the published version with the
 * same resolution rule (hub_item_resolve_channel), and get the same headers.
 *
 * Caching: "Cache-Control: no-cache" on published content, so journey engines and CDNs keep
 * the body and revalidate with If-None-Match (a 304 costs one LMDB get and no body); drafts
 * are "private, no-cache". Surrogate-Key lets a CDN purge exactly on publish.
 *
 * Variant assignment: without variant=, the variant is chosen for ?subject= and ?segments=
 * (h_assign.c, core/experiment): the body then names "experiment_bucket" and the "reason"
 * (requested, no_subject, paused, concluded, holdout, audience, sticky, weight, bandit). The
 * stored documents carry "experiment_bucket":null; the bucket and the reason are spliced into
 * a copy of the bytes, and the ETag gets them as a suffix, so the hot path still parses no
 * JSON. A held-out subject gets variant null and fields null. The first exposure of a subject
 * goes to the recorder, which stores it (and the sticky assignment) in the background.
 */
#include "http/internal.h"

#include <stdlib.h>
#include <string.h>

#define HEADER_STACK 1024

/* The parsed query. */
typedef struct delivery_query {
    char key[HUB_ITEM_KEY_MAX + 1];
    size_t key_len;
    const char *channel;
    const char *variant;             /* "" = base */
    char locale[HUB_LOCALE_TAG_MAX]; /* canonical; "" = the default locale */
    int fallback;
    int draft;
    /* set when the answer is an exposure to record (a subject in a running test); recorded
     * only once the content resolved, right before it is sent */
    const hub_audience_in *who;
    const hub_plan *plan;
    const hub_decision *dec;
    uint32_t version; /* the published version, once the plan was read */
} delivery_query;

/* Adds a header whose value is a slice (hub_req_header wants a C string). */
static void header_slice(hub_request *r, const char *name, hub_slice v)
{
    if (v.len == 0)
        return; /* nothing to say (a held-out subject is served no locale) */
    char stack[HEADER_STACK];
    char *s = v.len < sizeof(stack) ? stack : malloc(v.len + 1);
    if (s == NULL)
        return; /* the header is an optimization for caches: leave it out */
    memcpy(s, v.base, v.len);
    s[v.len] = '\0';
    hub_req_header(r, name, s);
    if (s != stack)
        free(s);
}

/* The answer: 304 when If-None-Match names the ETag (weak comparison, RFC 9110), else 200
 * with the body (copied). */
static void send_doc(hub_request *r, const hub_delivery_doc *d, const delivery_query *q)
{
    int draft = q->draft;
    if (q->dec != NULL && !draft)
        hub_req_note_exposure(r, q->key, q->who, q->plan, q->dec, q->channel);
    header_slice(r, "etag", d->etag);
    hub_req_header(r, "cache-control", draft ? "private, no-cache" : "no-cache");
    header_slice(r, "surrogate-key", d->surrogate);
    header_slice(r, "content-language", d->locale);
    if (r->if_none_match != NULL && d->etag.len < HEADER_STACK &&
        hub_req_etag_match(r->if_none_match, d->etag.base, d->etag.len, 1)) {
        hub_req_send_json(r, 304, NULL);
        return;
    }
    hub_req_send_bytes(r, 200, "application/json; charset=utf-8", d->body.base, d->body.len);
}

static void send_failure(hub_request *r, hub_error *err)
{
    if (err->code == 0)
        hub_error_set(err, HUB_ENOTFOUND, "no such content");
    hub_req_send_error(r, err);
}

/* ---- on the fly: drafts and exact-locale reads ----------------------------------------- */

static long variant_index(json_t *doc, const char *variant)
{
    size_t i;
    json_t *v;
    json_t *variants = json_object_get(doc, "variants");
    if (variant[0] == '\0')
        return json_array_size(variants) > 0 ? 0 : -1;
    json_array_foreach(variants, i, v)
    {
        const char *id = json_string_value(json_object_get(v, "id"));
        if (id != NULL && strcmp(id, variant) == 0)
            return (long)i;
    }
    return -1;
}

/* The chain to resolve with: the requested locale's (or the default's), or just that
 * locale for fallback=false. */
static int query_chain(hub_txn *txn, const delivery_query *q, hub_locale_chain *chain,
                       hub_error *err)
{
    char def[HUB_LOCALE_TAG_MAX];
    const char *loc = q->locale;
    if (loc[0] == '\0') {
        if (hub_locale_default(txn, def) != 0)
            return hub_error_set(err, HUB_ENOTFOUND, "no locales are configured");
        loc = def;
    }
    if (q->fallback)
        return hub_locale_chain_get(txn, loc, chain) == 0
                   ? 0
                   : hub_error_set(err, HUB_ENOTFOUND, "no locales are configured");
    chain->count = 1;
    memcpy(chain->tags[0], loc, strlen(loc) + 1);
    return 0;
}

/* "item:<key>" and " tag:<t>" per tag, as the materialized documents carry. */
static int surrogate_of(json_t *doc, const char *key, hub_buf *out)
{
    size_t i;
    json_t *t;
    int rc = hub_buf_printf(out, "item:%s", key);
    json_array_foreach(json_object_get(doc, "tags"), i, t)
    {
        if (rc == 0 && json_is_string(t))
            rc = hub_buf_printf(out, " tag:%s", json_string_value(t));
    }
    return rc;
}

/* The body in the shape of the materialized documents (fields and from are stolen); drafts
 * have "version": null and their "revision". */
static json_t *make_body(const delivery_query *q, json_t *doc, const char *variant,
                         const hub_decision *d, const char *locale, json_t *fields, json_t *from)
{
    json_t *b = json_object();
    json_t *version = json_object_get(doc, "version");
    int bad = b == NULL;
    bad |= json_object_set_new(b, "key", json_string(q->key));
    bad |= json_object_set_new(b, "version", q->draft ? json_null() : json_copy(version));
    if (q->draft)
        bad |= json_object_set(b, "revision", json_object_get(doc, "revision"));
    bad |= json_object_set_new(b, "variant", variant != NULL ? json_string(variant) : json_null());
    bad |= json_object_set_new(b, "experiment_bucket",
                               d->bucket >= 0 ? json_integer(d->bucket) : json_null());
    bad |= json_object_set_new(b, "reason", json_string(hub_reason_name(d->reason)));
    bad |= json_object_set_new(b, "locale", locale != NULL ? json_string(locale) : json_null());
    bad |= json_object_set_new(b, "channel", json_string(q->channel));
    bad |= json_object_set_new(b, "fields", fields != NULL ? fields : json_null());
    bad |= json_object_set_new(
        b, "resolved_from", from != NULL ? from : (fields != NULL ? json_object() : json_null()));
    if (bad) {
        json_decref(b);
        return NULL;
    }
    return b;
}

/* Sends a body resolved on the fly (stolen) with an ETag of its hash and the item's
 * Surrogate-Key; locale NULL: no Content-Language. */
static int send_body(hub_request *r, const delivery_query *q, json_t *doc, json_t *body,
                     const char *locale, hub_error *err)
{
    char *text = body != NULL ? json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(body);
    hub_buf sur;
    hub_buf_init(&sur, 1u << 20);
    if (text == NULL || surrogate_of(doc, q->key, &sur) != 0) {
        free(text);
        hub_buf_free(&sur);
        return hub_error_set(err, HUB_ENOMEM, "out of memory");
    }
    unsigned char h[16];
    char etag[35];
    hub_hash128(text, strlen(text), h);
    etag[0] = '"';
    hub_hex(h, 16, etag + 1);
    memcpy(etag + 33, "\"", 2);
    hub_delivery_doc d = {hub_slice_cstr(text),
                          {etag, 34},
                          {sur.data, sur.len},
                          hub_slice_cstr(locale != NULL ? locale : "")};
    send_doc(r, &d, q);
    free(text);
    hub_buf_free(&sur);
    return 0;
}

/* Resolves doc for the query and variant (NULL: held out) and sends it. */
static int send_resolved(hub_request *r, hub_txn *txn, const delivery_query *q, json_t *doc,
                         const char *variant, const hub_decision *dec, hub_error *err)
{
    hub_locale_chain chain;
    json_t *from = NULL, *fields;
    const hub_schema_set *schemas = r->schemas ? r->schemas : hub_content_builtin_schemas();
    if (variant == NULL)
        return send_body(r, q, doc, make_body(q, doc, NULL, dec, NULL, NULL, NULL), NULL, err);
    long vi = variant_index(doc, variant);
    if (vi < 0)
        return hub_error_set(err, HUB_ENOTFOUND, "unknown variant");
    int rc = query_chain(txn, q, &chain, err);
    if (rc != 0)
        return rc;
    fields = hub_item_resolve_channel(doc, (size_t)vi, &chain, q->channel, schemas, &from);
    if (fields == NULL)
        return hub_error_set(err, HUB_ENOTFOUND, "no %.32s content for this item in %s", q->channel,
                             chain.tags[0]);
    const char *locale = hub_served_locale(&chain, from);
    json_t *vid =
        json_object_get(json_array_get(json_object_get(doc, "variants"), (size_t)vi), "id");
    return send_body(r, q, doc,
                     make_body(q, doc, json_string_value(vid), dec, locale, fields, from), locale,
                     err);
}

static int serve_on_the_fly(hub_request *r, hub_txn *txn, const delivery_query *q,
                            const char *variant, const hub_decision *dec, hub_error *err)
{
    json_t *doc = NULL;
    int rc = q->draft ? hub_content_get_draft(txn, q->key, &doc)
                      : hub_content_get_published(txn, q->key, &doc);
    if (rc == HUB_ENOTFOUND)
        return hub_error_set(err, rc, q->draft ? "no such item" : "item is not published");
    if (rc == 0)
        rc = send_resolved(r, txn, q, doc, variant, dec, err);
    json_decref(doc);
    return rc;
}

/* ---- the handler ----------------------------------------------------------------------- */

static int bad_query(hub_request *r, const char *detail)
{
    hub_req_send_problem(r, 400, detail, NULL);
    return -1;
}

static int parse_query(hub_request *r, delivery_query *q)
{
    const char *fb = hub_req_param(r, "fallback");
    q->who = NULL;
    q->plan = NULL;
    q->dec = NULL;
    q->version = 0;
    q->channel = hub_req_param(r, "channel");
    q->variant = hub_req_param(r, "variant");
    if (q->variant == NULL)
        q->variant = "";
    if (q->channel == NULL || q->channel[0] == '\0')
        return bad_query(r, "channel is required");
    if (fb == NULL || strcmp(fb, "true") == 0)
        q->fallback = 1;
    else if (strcmp(fb, "false") == 0)
        q->fallback = 0;
    else
        return bad_query(r, "fallback must be true or false");
    if (!hub_req_locale_param(r, "locale", q->locale, 0))
        return -1;
    if (hub_req_status_draft(r, 0, &q->draft) != 0)
        return -1;
    q->key_len = hub_req_join_segs(r, 1, r->nsegs, q->key, sizeof(q->key));
    if (q->key_len == 0 || q->key_len == SIZE_MAX) {
        hub_req_send_problem(r, 404, "no such item", NULL);
        return -1;
    }
    return 0;
}

/* Sends a stored document with the decision spliced in: "experiment_bucket":<bucket>,
 * "reason":"<reason>" in place of the stored "experiment_bucket":null, and the ETag suffixed
 * with both (the bytes differ per bucket). */
static int send_assigned(hub_request *r, const delivery_query *q, const hub_delivery_doc *d,
                         const hub_decision *dec, hub_error *err)
{
    static const char marker[] = "\"experiment_bucket\":null";
    char stack[8192], etag[96], ins[64];
    const char *at = memmem(d->body.base, d->body.len, marker, sizeof(marker) - 1);
    const char *reason = hub_reason_name(dec->reason);
    if (at == NULL || d->etag.len < 2 || d->etag.len > 40)
        return hub_error_set(err, HUB_EIO, "a stored delivery document is corrupt");
    int il =
        dec->bucket >= 0
            ? snprintf(ins, sizeof(ins), "\"experiment_bucket\":%d,\"reason\":\"%s\"", dec->bucket,
                       reason)
            : snprintf(ins, sizeof(ins), "\"experiment_bucket\":null,\"reason\":\"%s\"", reason);
    size_t pre = (size_t)(at - d->body.base), post = d->body.len - pre - (sizeof(marker) - 1);
    size_t n = pre + (size_t)il + post;
    char *body = n <= sizeof(stack) ? stack : malloc(n);
    if (body == NULL)
        return hub_error_set(err, HUB_ENOMEM, "out of memory");
    memcpy(body, d->body.base, pre);
    memcpy(body + pre, ins, (size_t)il);
    memcpy(body + pre + il, at + sizeof(marker) - 1, post);
    int el = snprintf(etag, sizeof(etag), "%.*s.%d.%s\"", (int)d->etag.len - 1, d->etag.base,
                      dec->bucket, reason);
    hub_delivery_doc out = {{body, n}, {etag, (size_t)el}, d->surrogate, d->locale};
    send_doc(r, &out, q);
    if (body != stack)
        free(body);
    return 0;
}

/* The answer for a held-out subject of a published item: the base variant's document shows
 * that the item has the channel (and gives its Surrogate-Key); the body, with no
 * variant and no fields, is written directly (key and channel are plain names). */
static int send_holdout(hub_request *r, hub_txn *txn, const delivery_query *q,
                        const hub_decision *dec, hub_error *err)
{
    hub_delivery_doc base;
    char body[HUB_ITEM_KEY_MAX + 256], etag[35];
    unsigned char h[16];
    hub_slice key = {q->key, q->key_len};
    int rc = hub_content_delivery(txn, key, (hub_slice){"", 0}, q->locale,
                                  hub_slice_cstr(q->channel), &base, err);
    if (rc != 0)
        return rc;
    int n = snprintf(body, sizeof(body),
                     "{\"key\":\"%s\",\"version\":%u,\"variant\":null,\"experiment_bucket\":%d,"
                     "\"reason\":\"holdout\",\"locale\":null,\"channel\":\"%s\",\"fields\":null,"
                     "\"resolved_from\":null}",
                     q->key, (unsigned)q->version, dec->bucket, q->channel);
    if (n < 0 || (size_t)n >= sizeof(body))
        return hub_error_set(err, HUB_ETOOBIG, "the answer does not fit");
    hub_hash128(body, (size_t)n, h);
    etag[0] = '"';
    hub_hex(h, 16, etag + 1);
    memcpy(etag + 33, "\"", 2);
    hub_delivery_doc d = {{body, (size_t)n}, {etag, 34}, base.surrogate, {"", 0}};
    send_doc(r, &d, q);
    return 0;
}

/* Serves the query with variant assignment; rc and err as the handler's. */
static int serve(hub_request *r, hub_txn *txn, delivery_query *q, const hub_audience_in *who,
                 hub_error *err)
{
    hub_plan plan;
    hub_decision dec;
    hub_delivery_doc d;
    hub_buf scratch;
    char variant[HUB_VARIANT_ID_MAX + 1] = "";
    int rc = 0;
    memset(&dec, 0, sizeof(dec));
    dec.bucket = -1;
    dec.reason = HUB_REASON_REQUESTED;
    hub_buf_init(&scratch, 1u << 20);
    if (q->variant[0] != '\0') {
        snprintf(variant, sizeof(variant), "%s", q->variant);
    } else {
        rc = hub_req_assign(txn, q->key, q->draft, who, &scratch, &plan, &dec, &q->version, err);
        hub_slice v = rc == 0 ? hub_decision_variant(&plan, &dec) : (hub_slice){"", 0};
        snprintf(variant, sizeof(variant), "%.*s", (int)v.len, v.base);
        q->who = who;
        q->plan = &plan;
        q->dec = rc == 0 ? &dec : NULL;
    }
    if (rc == 0 && !q->draft && q->fallback && dec.variant < 0) {
        rc = send_holdout(r, txn, q, &dec, err);
    } else if (rc == 0 && (q->draft || !q->fallback || dec.variant < 0)) {
        rc = serve_on_the_fly(r, txn, q, dec.variant >= 0 ? variant : NULL, &dec, err);
    } else if (rc == 0) {
        hub_slice key = {q->key, q->key_len}, vs = hub_slice_cstr(variant);
        rc = hub_content_delivery(txn, key, vs, q->locale, hub_slice_cstr(q->channel), &d, err);
        if (rc == 0) /* copies out of the map before the txn ends */
            rc = send_assigned(r, q, &d, &dec, err);
    }
    hub_buf_free(&scratch);
    return rc;
}

void hub_h_content(hub_request *r)
{
    static const char *const known[] = {"channel", "status",  "subject",  "segments",
                                        "locale",  "variant", "fallback", NULL};
    delivery_query q;
    hub_audience_in who;
    hub_txn *txn = NULL;
    hub_error err;
    if (!hub_req_is(r, "GET")) {
        hub_req_method_not_allowed(r, "GET");
        return;
    }
    if (hub_req_reject_unknown_params(r, known) || !hub_req_require(r, HUB_ROLE_DELIVERY) ||
        parse_query(r, &q) != 0 || hub_req_audience(r, &who) != 0)
        return;
    hub_error_init(&err);
    int rc = hub_store_read(r->store, &txn);
    if (rc != 0)
        hub_error_set(&err, rc, "cannot read the store: %s", hub_strerror(rc));
    else
        rc = serve(r, txn, &q, &who, &err);
    hub_txn_end(txn);
    if (rc != 0)
        send_failure(r, &err);
    hub_error_clear(&err);
}
