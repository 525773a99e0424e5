/*
 * The renderer's channel table (the plugins' schemas as content schemas), compiled fields,
 * the per-thread cache of them, and running them: fields in schema order, HTML fields
 * escaped, {% render %} resolved to published blocks in the same locale chain.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define MIB ((size_t)1024 * 1024)

int hub_renderer_new(const hub_plugins *plugins, hub_renderer **out)
{
    hub_renderer *r = calloc(1, sizeof(*r));
    *out = NULL;
    if (r == NULL)
        return HUB_ENOMEM;
    r->plugins = plugins;
    for (size_t i = 0; i < hub_plugins_count(plugins); i++) {
        render_channel *rc = &r->channels[i];
        const hub_plugin_schema *s = hub_channel_fields(hub_plugins_get(plugins, i));
        rc->channel = hub_plugins_get(plugins, i);
        rc->nfields = s->nfields;
        for (size_t f = 0; f < s->nfields; f++) {
            const hub_plugin_field *pf = s->fields[f];
            rc->fields[f] =
                (hub_field_schema){pf->name, pf->required != 0, pf->max_bytes ? pf->max_bytes : MIB,
                                   pf->kind == HUB_FIELD_OBJECT};
            rc->kinds[f] = pf->kind;
        }
        r->schemas[i] =
            (hub_channel_schema){hub_channel_name(rc->channel), rc->fields, rc->nfields};
    }
    r->set = (hub_schema_set){r->schemas, hub_plugins_count(plugins)};
    *out = r;
    return 0;
}

void hub_renderer_free(hub_renderer *r)
{
    free(r);
}

const hub_schema_set *hub_renderer_schemas(const hub_renderer *r)
{
    return &r->set;
}

const hub_plugins *hub_renderer_plugins(const hub_renderer *r)
{
    return r->plugins;
}

const render_channel *render_channel_find(const hub_renderer *r, const char *name)
{
    for (size_t i = 0; name != NULL && i < r->set.nchannels; i++) {
        if (strcmp(r->schemas[i].name, name) == 0)
            return &r->channels[i];
    }
    return NULL;
}

/* ---- compiled fields ----------------------------------------------------------------------- */

void compiled_free(compiled_fields *cf)
{
    if (cf == NULL)
        return;
    for (size_t i = 0; i < cf->nfields; i++) {
        hub_template_free(cf->templates[i]);
        json_decref(cf->objects[i]);
    }
    for (size_t i = 0; i < cf->nmembers; i++)
        hub_template_free(cf->members[i]);
    free(cf->members);
    free(cf);
}

static int compile_str(json_t *v, hub_template **out, hub_error *err)
{
    if (!json_is_string(v))
        return hub_error_set(err, HUB_EINVAL, "not a string");
    return hub_template_compile(json_string_value(v), json_string_length(v), out, err);
}

/* An object field: each member's value compiled into cf->members, indexed from o. */
static int compile_object(compiled_fields *cf, size_t i, json_t *v, hub_error *err)
{
    const char *k;
    json_t *m;
    if (!json_is_object(v))
        return hub_error_set(err, HUB_EINVAL, "not an object");
    cf->objects[i] = json_object();
    if (cf->objects[i] == NULL)
        return HUB_ENOMEM;
    json_object_foreach(v, k, m)
    {
        hub_template **grown = realloc(cf->members, (cf->nmembers + 1) * sizeof(*grown));
        if (grown == NULL)
            return HUB_ENOMEM;
        cf->members = grown;
        int rc = compile_str(m, &cf->members[cf->nmembers], err);
        if (rc != 0)
            return rc;
        json_object_set_new(cf->objects[i], k, json_integer((json_int_t)cf->nmembers));
        cf->nmembers++;
    }
    return 0;
}

int compiled_new_each(const render_channel *rc, json_t *fields, compiled_fields **out,
                      compile_error_fn on_error, void *ctx)
{
    compiled_fields *cf = calloc(1, sizeof(*cf));
    int rc_ = cf == NULL ? HUB_ENOMEM : 0, failed = 0;
    *out = NULL;
    if (cf != NULL)
        cf->nfields = rc->nfields;
    for (size_t i = 0; rc_ == 0 && i < rc->nfields; i++) {
        json_t *v = json_object_get(fields, rc->fields[i].name);
        hub_error e;
        if (v == NULL || json_is_null(v))
            continue;
        hub_error_init(&e);
        int one = rc->kinds[i] == HUB_FIELD_OBJECT ? compile_object(cf, i, v, &e)
                                                   : compile_str(v, &cf->templates[i], &e);
        if (one != 0 && on_error(ctx, i, one, &e) != 0)
            rc_ = one;
        failed |= one != 0;
        hub_error_clear(&e);
    }
    if (rc_ == 0 && failed)
        rc_ = HUB_EINVAL;
    if (rc_ != 0) {
        compiled_free(cf);
        return rc_;
    }
    *out = cf;
    return 0;
}

typedef struct first_error {
    const render_channel *rc;
    const char **bad_field;
    hub_error *err;
} first_error;

/* Stops at the first failing field, keeping its name and message. */
static int keep_first(void *ctx, size_t field, int code, const hub_error *e)
{
    first_error *f = ctx;
    if (f->bad_field != NULL)
        *f->bad_field = f->rc->fields[field].name;
    hub_error_set(f->err, code, "%s", e->message);
    return code;
}

int compiled_new(const render_channel *rc, json_t *fields, compiled_fields **out,
                 const char **bad_field, hub_error *err)
{
    first_error f = {rc, bad_field, err};
    return compiled_new_each(rc, fields, out, keep_first, &f);
}

/* ---- the cache ------------------------------------------------------------------------------ */

typedef struct cache_entry {
    char *key;
    size_t klen;
    compiled_fields *cf;
} cache_entry;

struct hub_render_cache {
    cache_entry *slots; /* open addressing, power of two */
    size_t nslots;
    size_t count;
    size_t max;
};

static uint64_t key_hash(const char *k, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)k[i]) * 0x100000001b3ULL;
    return h;
}

hub_render_cache *hub_render_cache_new(size_t max_entries)
{
    hub_render_cache *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->max = max_entries ? max_entries : 4096;
    c->nslots = 16;
    while (c->nslots < c->max * 2)
        c->nslots *= 2;
    c->slots = calloc(c->nslots, sizeof(*c->slots));
    if (c->slots == NULL) {
        free(c);
        return NULL;
    }
    return c;
}

static void cache_clear(hub_render_cache *c)
{
    for (size_t i = 0; i < c->nslots; i++) {
        free(c->slots[i].key);
        compiled_free(c->slots[i].cf);
        c->slots[i] = (cache_entry){0};
    }
    c->count = 0;
}

void hub_render_cache_free(hub_render_cache *c)
{
    if (c == NULL)
        return;
    cache_clear(c);
    free(c->slots);
    free(c);
}

static cache_entry *cache_slot(hub_render_cache *c, const char *key, size_t klen)
{
    size_t i = (size_t)key_hash(key, klen) & (c->nslots - 1);
    while (c->slots[i].key != NULL &&
           (c->slots[i].klen != klen || memcmp(c->slots[i].key, key, klen) != 0))
        i = (i + 1) & (c->nslots - 1);
    return &c->slots[i];
}

const compiled_fields *cache_get(hub_render_cache *c, const char *key, size_t klen)
{
    if (c == NULL)
        return NULL;
    cache_entry *e = cache_slot(c, key, klen);
    return e->key != NULL ? e->cf : NULL;
}

/* Entries are never freed during a render (a render holds templates borrowed from the
 * cache): the cache may grow past max inside one render, up to the slot array, and
 * hub_render_cache_trim starts it over between renders. */
void hub_render_cache_trim(hub_render_cache *c)
{
    if (c != NULL && c->count >= c->max)
        cache_clear(c);
}

int cache_put(hub_render_cache *c, const char *key, size_t klen, compiled_fields *cf)
{
    if (c == NULL || c->count + 1 >= c->nslots) {
        compiled_free(cf);
        return HUB_ETOOBIG;
    }
    cache_entry *e = cache_slot(c, key, klen);
    if (e->key != NULL) { /* present already: keep the one renders may be using */
        compiled_free(cf);
        return 0;
    }
    e->key = hub_strndup(key, klen);
    if (e->key == NULL) {
        compiled_free(cf);
        return HUB_ENOMEM;
    }
    e->klen = klen;
    e->cf = cf;
    c->count++;
    return 0;
}

/* ---- running the templates ----------------------------------------------------------------- */

static hub_template_options options_for(const render_channel *rc, size_t field, int64_t now_ms,
                                        block_ctx *bctx)
{
    hub_template_options o = {0};
    o.escape_html = rc->kinds[field] == HUB_FIELD_HTML;
    o.now_ms = now_ms;
    o.resolve = block_resolve;
    o.resolve_ctx = bctx;
    return o;
}

/* Renders an object field as compact JSON text of its rendered members. */
static int render_object(const compiled_fields *cf, size_t i, const json_t *vars,
                         const hub_template_options *o, hub_buf *buf, hub_error *err)
{
    hub_buf tmp;
    const char *k;
    json_t *idx, *outobj = json_object();
    int rc = outobj == NULL ? HUB_ENOMEM : 0;
    hub_buf_init(&tmp, buf->cap);
    json_object_foreach(cf->objects[i], k, idx)
    {
        if (rc != 0)
            break;
        hub_buf_reset(&tmp);
        rc = hub_template_render(cf->members[json_integer_value(idx)], vars, o, &tmp, err);
        if (rc == 0)
            rc = json_object_set_new(outobj, k, json_stringn(tmp.data ? tmp.data : "", tmp.len))
                     ? HUB_EINVAL
                     : 0;
    }
    char *text = rc == 0 ? json_dumps(outobj, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    if (rc == 0)
        rc = text == NULL ? HUB_ENOMEM : hub_buf_append_str(buf, text);
    free(text);
    json_decref(outobj);
    hub_buf_free(&tmp);
    return rc;
}

int render_fields(const hub_renderer *r, hub_render_cache *cache, hub_txn *txn,
                  const render_channel *rc, const compiled_fields *cf, const json_t *vars,
                  int64_t now_ms, hub_buf *buf, hub_str strs[RENDER_FIELDS_MAX],
                  const char **bad_field, block_ctx *bctx, hub_error *err)
{
    size_t start[RENDER_FIELDS_MAX], end[RENDER_FIELDS_MAX];
    int present[RENDER_FIELDS_MAX];
    *bctx = (block_ctx){r, cache, txn, rc, cf->locale, 0, ""};
    for (size_t i = 0; i < rc->nfields; i++) {
        int rc_ = 0;
        present[i] = cf->templates[i] != NULL || cf->objects[i] != NULL;
        start[i] = end[i] = buf->len;
        if (!present[i])
            continue;
        bctx->field = i;
        hub_template_options o = options_for(rc, i, now_ms, bctx);
        rc_ = cf->templates[i] != NULL ? hub_template_render(cf->templates[i], vars, &o, buf, err)
                                       : render_object(cf, i, vars, &o, buf, err);
        if (rc_ != 0) {
            *bad_field = rc->fields[i].name;
            return rc_;
        }
        end[i] = buf->len;
    }
    for (size_t i = 0; i < rc->nfields; i++)
        strs[i] =
            present[i] ? (hub_str){buf->data + start[i], end[i] - start[i]} : (hub_str){NULL, 0};
    return 0;
}

/* ---- blocks ---------------------------------------------------------------------------------- */

/* Compiled fields of the published block `key` for the channel, in the chain of locale;
 * cached by the delivery document's ETag. */
static int block_fields(block_ctx *b, const char *key, const compiled_fields **out)
{
    hub_delivery_doc d;
    hub_error e;
    char ck[600];
    hub_error_init(&e);
    int rc = hub_content_delivery(b->txn, hub_slice_cstr(key), (hub_slice){"", 0}, b->locale,
                                  hub_slice_cstr(hub_channel_name(b->rc->channel)), &d, &e);
    hub_error_clear(&e);
    if (rc != 0)
        return rc;
    int n = snprintf(ck, sizeof(ck), "B%.*s%s", (int)d.etag.len, d.etag.base, key);
    const compiled_fields *hit = cache_get(b->cache, ck, (size_t)n);
    if (hit != NULL) {
        *out = hit;
        return 0;
    }
    json_t *doc = json_loadb(d.body.base, d.body.len, 0, NULL);
    compiled_fields *cf = NULL;
    hub_error_init(&e);
    rc = doc == NULL ? HUB_EIO : compiled_new(b->rc, json_object_get(doc, "fields"), &cf, NULL, &e);
    hub_error_clear(&e);
    json_decref(doc);
    if (rc == 0)
        rc = cache_put(b->cache, ck, (size_t)n, cf);
    if (rc != 0)
        return rc;
    *out = cache_get(b->cache, ck, (size_t)n);
    return *out != NULL ? 0 : HUB_ENOMEM;
}

int block_resolve(void *ctx, const char *name, size_t len, const hub_template **out)
{
    block_ctx *b = ctx;
    char key[HUB_ITEM_KEY_MAX + 1];
    const compiled_fields *cf = NULL;
    if (len == 0 || len > HUB_ITEM_KEY_MAX - 7) {
        snprintf(b->missing, sizeof(b->missing), "%.*s", (int)(len > 200 ? 200 : len), name);
        return HUB_ENOTFOUND;
    }
    snprintf(key, sizeof(key), "%.*s", (int)len, name);
    int rc = block_fields(b, key, &cf);
    if (rc == HUB_ENOTFOUND && strncmp(key, "blocks/", 7) != 0) {
        snprintf(key, sizeof(key), "blocks/%.*s", (int)len, name);
        rc = block_fields(b, key, &cf);
    }
    if (rc == 0 && cf->templates[b->field] == NULL)
        rc = HUB_ENOTFOUND;
    if (rc != 0) {
        snprintf(b->missing, sizeof(b->missing), "%.*s", (int)len, name);
        return rc;
    }
    *out = cf->templates[b->field];
    return 0;
}
