/*
 * Rendering one item for one recipient. Published items go through their materialized
 * delivery documents (the same few LMDB gets as a delivery read), whose ETag keys the
 * per-thread cache of compiled templates, so a warm render parses no JSON and compiles
 * nothing. Drafts are resolved and compiled on every call (previews are rare).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "internal.h"

#define ARTIFACT_CAP ((size_t)4 * 1024 * 1024)
#define FIELDS_CAP   ((size_t)4 * 1024 * 1024)

void hub_render_result_init(hub_render_result *res)
{
    memset(res, 0, sizeof(*res));
    hub_buf_init(&res->artifact, ARTIFACT_CAP);
    hub_problems_init(&res->problems);
}

void hub_render_result_free(hub_render_result *res)
{
    hub_buf_free(&res->artifact);
    json_decref(res->warnings);
    res->warnings = NULL;
    hub_problems_clear(&res->problems);
}

/*
 * A new message id: 128 bits from a per-thread generator seeded once from the kernel
 * (getrandom per message cost a system call on every render). Unique, not secret: ids are
 * idempotency keys and Message-IDs, never credentials.
 */
static _Thread_local uint64_t id_state[2];

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static int new_message_id(char out[40])
{
    unsigned char r[16];
    if (id_state[0] == 0 && id_state[1] == 0 &&
        getrandom(id_state, sizeof(id_state), 0) != (ssize_t)sizeof(id_state))
        return HUB_EIO;
    uint64_t a = splitmix64(&id_state[0]), b = splitmix64(&id_state[1]);
    for (int i = 0; i < 8; i++) {
        r[i] = (unsigned char)(a >> (8 * i));
        r[8 + i] = (unsigned char)(b >> (8 * i));
    }
    hub_hex(r, sizeof(r), out);
    out[32] = '\0';
    return 0;
}

/* Prefixes err's message with the field it is about. */
static int field_error(hub_error *err, int code, const char *field)
{
    char msg[sizeof(err->message)];
    snprintf(msg, sizeof(msg), "%s", err->message);
    return hub_error_set(err, code, "field %s: %s", field, msg);
}

/* ---- variant ------------------------------------------------------------------------------ */

/*
 * The variant for the recipient when the request names none: the experiment's decision
 * (core/experiment) for the recipient's id and segments, read-only: rendering records no
 * exposure (a send does, in its own transaction). A held-out recipient is rendered with the
 * base variant and *holdout set, so a preview still shows something.
 */
static int choose_variant(hub_txn *txn, const hub_render_request *rq,
                          char out[HUB_VARIANT_ID_MAX + 1], int *holdout)
{
    hub_slice segs[64];
    hub_buf scratch;
    hub_plan p;
    hub_decision d;
    const char *id = json_string_value(json_object_get(rq->recipient, "id"));
    size_t nsegs = hub_segments_from_json(json_object_get(rq->recipient, "segments"), segs, 64);
    hub_slice subject = hub_slice_cstr(id != NULL && strlen(id) <= HUB_SUBJECT_MAX ? id : "");
    hub_buf_init(&scratch, 1u << 20);
    int rc = hub_content_plan(txn, hub_slice_cstr(rq->item), rq->draft, &scratch, &p, NULL);
    if (rc == 0)
        rc = hub_experiment_decide(txn, &p, hub_slice_cstr(rq->item), subject, segs, nsegs, &d);
    if (rc == 0) {
        /* held out: the base variant, so a preview still shows something */
        hub_slice v = d.variant >= 0 ? hub_decision_variant(&p, &d) : p.v[0].id;
        *holdout = d.variant < 0;
        snprintf(out, HUB_VARIANT_ID_MAX + 1, "%.*s", (int)v.len, v.base);
    }
    hub_buf_free(&scratch);
    return rc;
}

/* ---- the compiled fields of the request ---------------------------------------------------- */

static int published_fields(hub_render_cache *cache, hub_txn *txn, const render_channel *rc,
                            const hub_render_request *rq, const char *variant,
                            const compiled_fields **out, hub_error *err)
{
    hub_delivery_doc d;
    char ck[600];
    const char *locale = rq->locale != NULL ? rq->locale : "";
    int rc_ = hub_content_delivery(txn, hub_slice_cstr(rq->item), hub_slice_cstr(variant), locale,
                                   hub_slice_cstr(rq->channel), &d, err);
    if (rc_ != 0)
        return rc_;
    if (rq->no_fallback && locale[0] != '\0' && !hub_slice_eq(d.locale, locale))
        return hub_error_set(err, HUB_ENOTFOUND, "no %s content in %s", rq->channel, locale);
    int n = snprintf(ck, sizeof(ck), "M%.*s%s", (int)d.etag.len, d.etag.base, rq->item);
    if ((*out = cache_get(cache, ck, (size_t)n)) != NULL)
        return 0;
    json_t *doc = json_loadb(d.body.base, d.body.len, 0, NULL);
    compiled_fields *cf = NULL;
    const char *bad = NULL;
    rc_ = doc == NULL ? hub_error_set(err, HUB_EIO, "a stored delivery document is corrupt")
                      : compiled_new(rc, json_object_get(doc, "fields"), &cf, &bad, err);
    if (rc_ == 0) {
        cf->version = (uint32_t)json_integer_value(json_object_get(doc, "version"));
        snprintf(cf->variant, sizeof(cf->variant), "%s",
                 json_string_value(json_object_get(doc, "variant")));
        snprintf(cf->locale, sizeof(cf->locale), "%.*s", (int)d.locale.len, d.locale.base);
        rc_ = cache_put(cache, ck, (size_t)n, cf);
        *out = rc_ == 0 ? cache_get(cache, ck, (size_t)n) : NULL;
    }
    json_decref(doc);
    return rc_;
}

static long variant_index(json_t *doc, const char *id)
{
    size_t i;
    json_t *v;
    if (id[0] == '\0')
        return 0;
    json_array_foreach(json_object_get(doc, "variants"), i, v)
    {
        if (strcmp(json_string_value(json_object_get(v, "id")), id) == 0)
            return (long)i;
    }
    return -1;
}

/* A draft, or a published version read with fallback off: resolved and compiled for this
 * call only (both are rare); *owned gets what to free. */
static int onthefly_fields(const hub_renderer *r, hub_txn *txn, const render_channel *rc,
                           const hub_render_request *rq, const char *variant,
                           compiled_fields **owned, hub_error *err)
{
    json_t *doc = NULL, *from = NULL, *fields = NULL;
    hub_locale_chain chain;
    const char *bad = NULL;
    int rc_ = rq->draft ? hub_content_get_draft(txn, rq->item, &doc)
                        : hub_content_get_published(txn, rq->item, &doc);
    if (rc_ == HUB_ENOTFOUND)
        return hub_error_set(err, rc_, rq->draft ? "no such item" : "item is not published");
    if (rc_ == 0 && (rq->no_fallback && rq->locale != NULL && rq->locale[0] != '\0')) {
        chain.count = 1;
        snprintf(chain.tags[0], sizeof(chain.tags[0]), "%s", rq->locale);
    } else if (rc_ == 0) {
        rc_ = hub_locale_chain_get(txn, rq->locale != NULL ? rq->locale : "", &chain);
    }
    long vi = rc_ == 0 ? variant_index(doc, variant) : 0;
    if (rc_ == 0 && vi < 0)
        rc_ = hub_error_set(err, HUB_ENOTFOUND, "unknown variant");
    if (rc_ == 0)
        fields = hub_item_resolve_channel(doc, (size_t)vi, &chain, rq->channel, &r->set, &from);
    if (rc_ == 0 && fields == NULL)
        rc_ = hub_error_set(err, HUB_ENOTFOUND, "no %s content for this item", rq->channel);
    if (rc_ == 0)
        rc_ = compiled_new(rc, fields, owned, &bad, err);
    if (rc_ == 0) {
        json_t *vid = json_object_get(json_array_get(json_object_get(doc, "variants"), vi), "id");
        snprintf((*owned)->variant, sizeof((*owned)->variant), "%s", json_string_value(vid));
        (*owned)->version = (uint32_t)json_integer_value(json_object_get(doc, "version"));
        snprintf((*owned)->locale, sizeof((*owned)->locale), "%s", hub_served_locale(&chain, from));
    } else if (bad != NULL) {
        rc_ = field_error(err, HUB_EINVAL, bad);
    }
    json_decref(fields);
    json_decref(from);
    json_decref(doc);
    return rc_;
}

/* ---- render --------------------------------------------------------------------------------- */

/* The Liquid variables: the recipient's attributes at the top level, and the recipient. */
static json_t *make_vars(const json_t *recipient, const char *message_id)
{
    json_t *vars = json_object();
    json_t *attrs = json_object_get(recipient, "attributes");
    if (vars == NULL)
        return NULL;
    if (json_is_object(attrs))
        json_object_update(vars, attrs);
    if (recipient != NULL)
        json_object_set(vars, "recipient", (json_t *)recipient);
    json_object_set_new(vars, "message_id", json_string(message_id));
    return vars;
}

static int run_plugin(const render_channel *rc, const hub_render_request *rq,
                      const compiled_fields *cf, const hub_str *strs, hub_render_result *res,
                      hub_error *err)
{
    hub_render_in in = {
        sizeof(in),    (uint32_t)rc->nfields, strs,
        rq->item,      cf->variant,           cf->locale,
        rq->recipient, res->message_id,       rq->now_ms != 0 ? rq->now_ms : hub_now_ms()};
    hub_channel_report rep = {&res->problems, "/fields", NULL, res->warnings};
    if (rq->max_artifact > 0)
        res->artifact.cap = rq->max_artifact;
    return hub_channel_render(rc->channel, &in, &res->artifact, 0, &rep, err);
}

static int render_cached(const hub_renderer *r, hub_render_cache *cache, hub_txn *txn,
                         const hub_render_request *rq, hub_render_result *res, hub_error *err);

int hub_render(const hub_renderer *r, hub_render_cache *cache, hub_txn *txn,
               const hub_render_request *rq, hub_render_result *res, hub_error *err)
{
    if (cache != NULL)
        return render_cached(r, cache, txn, rq, res, err);
    hub_render_cache *tmp = hub_render_cache_new(64);
    if (tmp == NULL)
        return hub_error_set(err, HUB_ENOMEM, "out of memory");
    int rc = render_cached(r, tmp, txn, rq, res, err);
    hub_render_cache_free(tmp);
    return rc;
}

static int render_cached(const hub_renderer *r, hub_render_cache *cache, hub_txn *txn,
                         const hub_render_request *rq, hub_render_result *res, hub_error *err)
{
    const render_channel *rc = render_channel_find(r, rq->channel);
    char variant[HUB_VARIANT_ID_MAX + 1] = "";
    const compiled_fields *cf = NULL;
    compiled_fields *owned = NULL;
    hub_str strs[RENDER_FIELDS_MAX];
    const char *bad = NULL;
    block_ctx bctx;
    hub_buf buf;
    int rc_;
    if (rc == NULL)
        return hub_error_set(err, HUB_ENOTFOUND, "no channel called %.40s", rq->channel);
    hub_render_cache_trim(cache);
    res->warnings = json_array();
    if (res->warnings == NULL || (rq->message_id == NULL && new_message_id(res->message_id)))
        return hub_error_set(err, HUB_ENOMEM, "out of resources");
    if (rq->message_id != NULL)
        snprintf(res->message_id, sizeof(res->message_id), "%s", rq->message_id);
    int holdout = 0;
    if (rq->variant != NULL) {
        snprintf(variant, sizeof(variant), "%s", rq->variant);
    } else {
        rc_ = choose_variant(txn, rq, variant, &holdout);
        if (rc_ == HUB_ENOTFOUND)
            return hub_error_set(err, rc_, rq->draft ? "no such item" : "item is not published");
        if (rc_ != 0)
            return hub_error_set(err, rc_, "cannot choose a variant: %s", hub_strerror(rc_));
        if (holdout)
            json_array_append_new(
                res->warnings,
                json_pack("{s:s,s:s}", "code", "holdout", "message",
                          "the recipient is held out of the experiment: a send sends nothing; "
                          "this is the base variant"));
    }
    int exact = rq->no_fallback && rq->locale != NULL && rq->locale[0] != '\0';
    rc_ = rq->draft || exact ? onthefly_fields(r, txn, rc, rq, variant, &owned, err)
                             : published_fields(cache, txn, rc, rq, variant, &cf, err);
    if (owned != NULL)
        cf = owned;
    json_t *vars = rc_ == 0 ? make_vars(rq->recipient, res->message_id) : NULL;
    if (rc_ == 0 && vars == NULL)
        rc_ = hub_error_set(err, HUB_ENOMEM, "out of memory");
    hub_buf_init(&buf, FIELDS_CAP);
    if (rc_ == 0)
        rc_ = render_fields(r, cache, txn, rc, cf, vars, rq->now_ms, &buf, strs, &bad, &bctx, err);
    if (rc_ != 0 && bad != NULL) {
        if (bctx.missing[0] != '\0')
            rc_ = HUB_EINVAL;
        if (bctx.missing[0] != '\0')
            hub_error_set(err, rc_, "field %s: renders '%s', which is not a published block", bad,
                          bctx.missing);
        else
            field_error(err, rc_, bad);
    }
    if (rc_ == 0) {
        res->version = cf->version;
        snprintf(res->variant, sizeof(res->variant), "%s", cf->variant);
        snprintf(res->locale, sizeof(res->locale), "%s", cf->locale);
        rc_ = run_plugin(rc, rq, cf, strs, res, err);
    }
    hub_buf_free(&buf);
    json_decref(vars);
    compiled_free(owned);
    return rc_;
}

json_t *hub_render_result_json(const hub_render_request *rq, const hub_render_result *res)
{
    json_t *artifact = json_loadb(res->artifact.data, res->artifact.len, 0, NULL);
    json_t *b = artifact != NULL ? json_object() : NULL;
    int bad = b == NULL;
    bad |= json_object_set_new(b, "item", json_string(rq->item));
    bad |= json_object_set_new(b, "channel", json_string(rq->channel));
    bad |= json_object_set_new(b, "version", rq->draft ? json_null() : json_integer(res->version));
    bad |= json_object_set_new(b, "variant", json_string(res->variant));
    bad |= json_object_set_new(b, "locale", json_string(res->locale));
    bad |= json_object_set_new(b, "message_id", json_string(res->message_id));
    bad |= json_object_set(b, "artifact", artifact);
    bad |= json_object_set_new(b, "warnings",
                               res->warnings != NULL ? json_incref(res->warnings) : json_array());
    json_decref(artifact);
    if (bad) {
        json_decref(b);
        return NULL;
    }
    return b;
}
