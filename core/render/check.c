/*
 * The publish check: for every variant x locale the item has content in x channel it has
 * content for, the resolved fields must compile as Liquid, render with no recipient (every
 * variable empty) including the published blocks they name, and pass the channel plugin's
 * validate(). Every problem is listed, each under the JSON pointer an editor fixes:
 * - a syntax error under the field where the text lives (the variant and locale it was
 *   resolved from), once per text;
 * - a block that is not published, and the plugin's problems, under the combination that
 *   fails ("/variants/1/content/de/sms/text"), saying where the text came from when the
 *   fallback brought it from elsewhere.
 */
#include <stdio.h>
#include <string.h>

#include "internal.h"

typedef struct check {
    const hub_renderer *r;
    hub_txn *txn;
    const char *key;
    json_t *item;
    hub_problems *out;
    hub_render_cache *cache;
    json_t *seen;     /* source pointers whose syntax was reported already */
    json_t *warnings; /* NULL or where the plugins' warnings go, with their path */
} check;

static long variant_index_of(json_t *item, const char *id)
{
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(item, "variants"), i, v)
    {
        if (id != NULL && strcmp(json_string_value(json_object_get(v, "id")), id) == 0)
            return (long)i;
    }
    return 0;
}

static void pointer(hub_buf *b, long variant, const char *locale, const char *channel,
                    const char *field)
{
    hub_buf_reset(b);
    hub_buf_printf(b, "/variants/%ld/content/", variant);
    hub_buf_append_jptr(b, locale);
    hub_buf_append_byte(b, '/');
    hub_buf_append_jptr(b, channel);
    if (field != NULL) {
        hub_buf_append_byte(b, '/');
        hub_buf_append_jptr(b, field);
    }
}

/* Where field f of a resolution came from, as a pointer into the item. */
static void source_pointer(check *c, json_t *from, const char *channel, const char *f, hub_buf *b)
{
    json_t *src = json_object_get(from, f);
    const char *vid = json_string_value(json_object_get(src, "variant"));
    pointer(b, variant_index_of(c->item, vid), json_string_value(json_object_get(src, "locale")),
            channel, f);
}

typedef struct syntax_report {
    check *c;
    const render_channel *rc;
    json_t *from;
} syntax_report;

/* A field that does not compile: reported once per source text, where the text lives. */
static int report_syntax(void *ctx, size_t field, int code, const hub_error *e)
{
    syntax_report *s = ctx;
    const char *name = s->rc->fields[field].name;
    hub_buf path;
    hub_buf_init(&path, 4096);
    source_pointer(s->c, s->from, hub_channel_name(s->rc->channel), name, &path);
    if (path.data != NULL && json_object_get(s->c->seen, path.data) == NULL) {
        json_object_set_new(s->c->seen, path.data, json_true());
        hub_problems_add(s->c->out, path.data, "Liquid: %s", e->message);
    }
    hub_buf_free(&path);
    return code == HUB_EINVAL || code == HUB_ETOOBIG ? 0 : code; /* go on to the next field */
}

/* Compiles each resolved field once, reporting every syntax error. */
static int compile_all(check *c, const render_channel *rc, json_t *fields, json_t *from,
                       compiled_fields **out)
{
    syntax_report s = {c, rc, from};
    return compiled_new_each(rc, fields, out, report_syntax, &s);
}

/* " (from variant control, locale en)" when any field came from elsewhere, else "". */
static void origin_note(json_t *item, long vi, const char *locale, json_t *from, char *out,
                        size_t cap)
{
    const char *f, *vid = json_string_value(json_object_get(
                       json_array_get(json_object_get(item, "variants"), vi), "id"));
    json_t *src;
    out[0] = '\0';
    json_object_foreach(from, f, src)
    {
        const char *sv = json_string_value(json_object_get(src, "variant"));
        const char *sl = json_string_value(json_object_get(src, "locale"));
        if ((sv != NULL && vid != NULL && strcmp(sv, vid) != 0) ||
            (sl != NULL && strcmp(sl, locale) != 0)) {
            snprintf(out, cap, " (resolved through fallback)");
            return;
        }
    }
}

/* 1 if template t names `key` in a {% render %} (with or without "blocks/"). */
static int renders_key(const hub_template *t, const char *key)
{
    size_t kl = strlen(key);
    for (size_t i = 0; t != NULL && i < hub_template_render_count(t); i++) {
        hub_slice n = hub_template_render_name(t, i);
        if ((n.len == kl && memcmp(n.base, key, kl) == 0) ||
            (kl > 7 && strncmp(key, "blocks/", 7) == 0 && n.len == kl - 7 &&
             memcmp(n.base, key + 7, n.len) == 0))
            return 1;
    }
    return 0;
}

/* A block that renders itself would recurse on every render that uses it. */
static int self_rendering(check *c, const render_channel *rc, const compiled_fields *cf, long vi,
                          const char *locale)
{
    const char *key = c->key;
    const char *kind = json_string_value(json_object_get(c->item, "kind"));
    int found = 0;
    if (key == NULL || kind == NULL || strcmp(kind, "block") != 0)
        return 0;
    for (size_t i = 0; i < rc->nfields; i++) {
        if (!renders_key(cf->templates[i], key))
            continue;
        hub_buf path;
        hub_buf_init(&path, 4096);
        pointer(&path, vi, locale, hub_channel_name(rc->channel), rc->fields[i].name);
        hub_problems_add(c->out, path.data, "the block renders itself");
        hub_buf_free(&path);
        found = 1;
    }
    return found;
}

/* Adds the plugin's warnings for one combination, with its path; at most 100 in all. */
static void keep_warnings(check *c, json_t *got, const char *path)
{
    size_t i;
    json_t *w;
    json_array_foreach(got, i, w)
    {
        if (c->warnings == NULL || json_array_size(c->warnings) >= 100)
            return;
        json_object_set_new(w, "path", json_string(path));
        json_array_append(c->warnings, w);
    }
}

static int check_one(check *c, const render_channel *rc, long vi, const char *locale)
{
    hub_locale_chain chain;
    json_t *from = NULL, *fields;
    compiled_fields *cf = NULL;
    int rc_ = hub_locale_chain_get(c->txn, locale, &chain);
    if (rc_ != 0)
        return rc_ == HUB_ENOTFOUND ? 0 : rc_; /* refs validation reports unknown locales */
    fields = hub_item_resolve_channel(c->item, (size_t)vi, &chain, hub_channel_name(rc->channel),
                                      &c->r->set, &from);
    if (fields == NULL)
        return 0; /* completeness reports what is missing */
    rc_ = compile_all(c, rc, fields, from, &cf);
    if (rc_ == 0 && self_rendering(c, rc, cf, vi, locale)) {
        /* reported */
    } else if (rc_ == 0) {
        hub_buf buf, path;
        hub_str strs[RENDER_FIELDS_MAX];
        const char *bad = NULL;
        block_ctx bctx;
        hub_error e;
        char note[64];
        hub_error_init(&e);
        hub_buf_init(&buf, (size_t)4 * 1024 * 1024);
        hub_buf_init(&path, 4096);
        snprintf(cf->locale, sizeof(cf->locale), "%s", locale);
        pointer(&path, vi, locale, hub_channel_name(rc->channel), NULL);
        origin_note(c->item, vi, locale, from, note, sizeof(note));
        rc_ = render_fields(c->r, c->cache, c->txn, rc, cf, NULL, 0, &buf, strs, &bad, &bctx, &e);
        if (rc_ != 0 && bad != NULL) {
            hub_buf_append_byte(&path, '/');
            hub_buf_append_jptr(&path, bad);
            if (bctx.missing[0] != '\0')
                hub_problems_add(c->out, path.data, "renders '%s', which is not a published block",
                                 bctx.missing);
            else
                hub_problems_add(c->out, path.data, "Liquid: %s", e.message);
            rc_ = 0;
        } else if (rc_ == 0) {
            json_t *vid =
                json_object_get(json_array_get(json_object_get(c->item, "variants"), vi), "id");
            hub_render_in in = {sizeof(in),
                                (uint32_t)rc->nfields,
                                strs,
                                c->key,
                                json_string_value(vid),
                                locale,
                                NULL,
                                "validate",
                                hub_now_ms()};
            hub_channel_report rep = {c->out, path.data, note, json_array()};
            rc_ = hub_channel_validate(rc->channel, &in, &rep);
            keep_warnings(c, rep.warnings, path.data);
            json_decref(rep.warnings);
        }
        hub_buf_free(&buf);
        hub_buf_free(&path);
        hub_error_clear(&e);
    } else if (rc_ == HUB_EINVAL) {
        rc_ = 0; /* reported */
    }
    compiled_free(cf);
    json_decref(fields);
    json_decref(from);
    return rc_;
}

/* The union of the locales (or, with channels=1, channels) the variants have content in. */
static json_t *content_keys(json_t *item, int channels)
{
    json_t *set = json_object(), *v, *loc;
    const char *k, *ch;
    size_t i;
    json_array_foreach(json_object_get(item, "variants"), i, v)
    {
        json_object_foreach(json_object_get(v, "content"), k, loc)
        {
            if (!channels) {
                json_object_set_new(set, k, json_true());
                continue;
            }
            json_t *x;
            json_object_foreach(loc, ch, x) json_object_set_new(set, ch, json_true());
        }
    }
    return set;
}

int hub_render_publish_check(void *ctx, hub_txn *txn, const char *key, json_t *item,
                             hub_problems *out, json_t *warnings)
{
    const hub_renderer *r = ctx;
    size_t before = out->count + out->dropped;
    check c = {r, txn, key, item, out, hub_render_cache_new(256), json_object(), warnings};
    json_t *locales = content_keys(item, 0), *channels = content_keys(item, 1), *x;
    const char *loc, *ch;
    int rc =
        c.cache == NULL || c.seen == NULL || locales == NULL || channels == NULL ? HUB_ENOMEM : 0;
    size_t nv = json_array_size(json_object_get(item, "variants"));
    json_object_foreach(channels, ch, x)
    {
        const render_channel *rc_ = render_channel_find(r, ch);
        for (size_t vi = 0; rc == 0 && rc_ != NULL && vi < nv; vi++) {
            json_t *y;
            json_object_foreach(locales, loc, y)
            {
                if (rc == 0)
                    rc = check_one(&c, rc_, (long)vi, loc);
            }
        }
    }
    hub_render_cache_free(c.cache);
    json_decref(c.seen);
    json_decref(locales);
    json_decref(channels);
    if (rc != 0)
        return rc;
    return out->count + out->dropped > before ? HUB_EINVAL : 0;
}

int hub_render_check_locale(const hub_renderer *r, hub_txn *txn, const char *key, json_t *item,
                            const char *locale, const char *channel, hub_problems *out)
{
    const render_channel *rch = render_channel_find(r, channel);
    check c = {r, txn, key, item, out, hub_render_cache_new(64), json_object(), NULL};
    size_t nv = json_array_size(json_object_get(item, "variants"));
    int rc = c.cache == NULL || c.seen == NULL ? HUB_ENOMEM : rch == NULL ? HUB_ENOTFOUND : 0;
    for (size_t vi = 0; rc == 0 && vi < nv; vi++)
        rc = check_one(&c, rch, (long)vi, locale);
    hub_render_cache_free(c.cache);
    json_decref(c.seen);
    return rc;
}
