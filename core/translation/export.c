/*
 * Export: the fields of the chosen items that are missing or outdated in the target locale,
 * as one XLIFF document (translation.h says which fields and how units look).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "template/template.h"

#define PAGE 1000

typedef struct exporter {
    hub_txn *txn;
    const hub_renderer *r;
    const hub_tr_export_request *rq;
    char source[HUB_LOCALE_TAG_MAX];
    json_t *keys;   /* item keys in export order */
    json_t *seen;   /* key -> true */
    json_t *drafts; /* the drafts the units' texts point into */
    void **owned;   /* everything else the document points into */
    size_t nowned, capowned;
    hub_xliff_file *files;
    size_t nfiles, capfiles;
    size_t nunits;
} exporter;

static void *own(exporter *ex, void *p)
{
    if (p == NULL)
        return NULL;
    if (hub_array_grow((void **)&ex->owned, &ex->capowned, ex->nowned, sizeof(*ex->owned), 64)) {
        free(p);
        return NULL;
    }
    return ex->owned[ex->nowned++] = p;
}

static char *ownf(exporter *ex, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *ownf(exporter *ex, const char *fmt, ...)
{
    char *s = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    return n < 0 ? NULL : own(ex, s);
}

/* ---- which items ----------------------------------------------------------------------- */

static int add_key(exporter *ex, const char *key)
{
    if (json_object_get(ex->seen, key) != NULL)
        return 0;
    if (json_object_set_new(ex->seen, key, json_true()) != 0 ||
        json_array_append_new(ex->keys, json_string(key)) != 0)
        return HUB_ENOMEM;
    return 0;
}

static int list_items(exporter *ex, hub_error *err)
{
    hub_item_filter f = {ex->rq->tag, NULL, 0, NULL, ex->rq->viewer};
    char *cursor = NULL;
    int rc;
    do {
        json_t *page = NULL, *it;
        char *next = NULL;
        size_t i;
        rc = hub_content_list(ex->txn, &f, cursor, PAGE, &page, &next, err);
        json_array_foreach(page, i, it)
        {
            if (rc == 0)
                rc = add_key(ex, json_string_value(json_object_get(it, "key")));
        }
        json_decref(page);
        free(cursor);
        cursor = next;
    } while (rc == 0 && cursor != NULL);
    free(cursor);
    return rc;
}

/* Adds the block a {% render %} names (as the renderer resolves it) when the viewer may. */
static int add_block(exporter *ex, hub_slice name)
{
    char key[HUB_ITEM_KEY_MAX + 8];
    json_t *draft = NULL;
    int rc = HUB_ENOTFOUND;
    if (name.len == 0 || name.len > HUB_ITEM_KEY_MAX)
        return 0;
    for (int pass = 0; pass < 2 && rc == HUB_ENOTFOUND; pass++) {
        snprintf(key, sizeof(key), "%s%.*s", pass ? "blocks/" : "", (int)name.len, name.base);
        rc = hub_content_get_draft(ex->txn, key, &draft);
    }
    const char *kind = json_string_value(json_object_get(draft, "kind"));
    if (rc == 0 && kind != NULL && strcmp(kind, "block") == 0 &&
        (ex->rq->viewer == NULL ||
         hub_principal_allows_tags(ex->rq->viewer, json_object_get(draft, "tags"))))
        rc = add_key(ex, key);
    json_decref(draft);
    return rc == HUB_ENOTFOUND ? 0 : rc;
}

/* Adds the blocks rendered by any string of the item's source-locale content. */
static int add_rendered_blocks(exporter *ex, json_t *draft)
{
    size_t i;
    json_t *v;
    int rc = 0;
    json_array_foreach(json_object_get(draft, "variants"), i, v)
    {
        const char *ch, *f;
        json_t *fields, *val;
        json_object_foreach(json_object_get(json_object_get(v, "content"), ex->source), ch, fields)
        {
            json_object_foreach(fields, f, val)
            {
                hub_template *t = NULL;
                if (rc != 0 || !json_is_string(val) ||
                    hub_template_compile(json_string_value(val), json_string_length(val), &t,
                                         NULL) != 0)
                    continue;
                for (size_t k = 0; rc == 0 && k < hub_template_render_count(t); k++)
                    rc = add_block(ex, hub_template_render_name(t, k));
                hub_template_free(t);
            }
        }
    }
    return rc;
}

/* ---- units ------------------------------------------------------------------------------- */

typedef struct field_ctx {
    const char *key, *title, *kind, *variant, *channel;
    const hub_plugin_field *field;
    json_t *target; /* the current translation or NULL */
    const tr_record *rec;
} field_ctx;

static int notes(exporter *ex, const field_ctx *fc, const tr_parts *parts, hub_xliff_unit *u)
{
    const char **n = own(ex, calloc(4, sizeof(*n)));
    size_t k = 0, codes = 0;
    if (n == NULL)
        return HUB_ENOMEM;
    for (size_t i = 0; i < parts->n; i++)
        codes += parts->v[i].kind != HUB_XLIFF_TEXT;
    n[k++] = ownf(ex, "%s %s of variant %s of the %s \"%s\" (%s)", fc->channel, fc->field->name,
                  fc->variant, fc->kind, fc->title, fc->key);
    n[k++] = ownf(ex, "%s %s: %s; at most %zu bytes", fc->channel, fc->field->name,
                  fc->field->description ? fc->field->description : "text",
                  fc->field->max_bytes ? fc->field->max_bytes : (size_t)1 << 20);
    if (codes > 0)
        n[k++] = ownf(ex,
                      "Keep the %zu inline code%s (Liquid {{ }} and {%% %%} tags%s); move "
                      "them where the translation needs them.",
                      codes, codes == 1 ? "" : "s",
                      fc->field->kind == HUB_FIELD_HTML ? ", HTML tags" : "");
    if (fc->target != NULL) {
        char at[HUB_TIME_LEN];
        hub_time_format(fc->rec->at_ms, at);
        n[k++] = ownf(ex,
                      "Outdated: the %s source changed after this translation was imported "
                      "(%s). Current translation: %s",
                      fc->rec->source, at, json_string_value(fc->target));
    }
    for (size_t i = 0; i < k; i++) {
        if (n[i] == NULL)
            return HUB_ENOMEM;
    }
    u->notes = n;
    u->nnotes = k;
    return 0;
}

static int add_unit(exporter *ex, hub_xliff_file *file, const field_ctx *fc, json_t *src)
{
    tr_parts parts = {0};
    char sum[HUB_SHA256_HEX_LEN + 1];
    hub_xliff_unit *u;
    int rc = hub_sha256_hex(json_string_value(src), json_string_length(src), sum);
    if (rc == 0)
        rc = tr_split(json_string_value(src), json_string_length(src),
                      fc->field->kind == HUB_FIELD_HTML, &parts);
    if (rc != 0) {
        tr_parts_free(&parts);
        return rc;
    }
    if (own(ex, parts.v) == NULL)
        return HUB_ENOMEM;
    u = realloc(file->units, (file->nunits + 1) * sizeof(*u));
    if (u == NULL)
        return HUB_ENOMEM;
    file->units = u;
    u = &file->units[file->nunits];
    memset(u, 0, sizeof(*u));
    u->id = ownf(ex, "%s.%s.%s", fc->variant, fc->channel, fc->field->name);
    u->checksum = ownf(ex, "%s", sum);
    u->source = parts.v;
    u->nsource = parts.n;
    rc = u->id == NULL || u->checksum == NULL ? HUB_ENOMEM : notes(ex, fc, &parts, u);
    if (rc == 0) {
        file->nunits++;
        ex->nunits++;
    }
    return rc;
}

/* The field's unit when its translation is missing or outdated. */
static int consider(exporter *ex, hub_xliff_file *file, field_ctx *fc, json_t *content)
{
    json_t *src = json_object_get(
        json_object_get(json_object_get(content, ex->source), fc->channel), fc->field->name);
    json_t *tgt = json_object_get(
        json_object_get(json_object_get(content, ex->rq->locale), fc->channel), fc->field->name);
    tr_record rec;
    char sum[HUB_SHA256_HEX_LEN + 1];
    if (!json_is_string(src) || json_string_length(src) == 0)
        return 0;
    fc->target = NULL;
    fc->rec = &rec;
    if (json_is_string(tgt)) {
        int rc = tr_record_get(ex->txn, fc->key, fc->variant, ex->rq->locale, fc->channel,
                               fc->field->name, &rec);
        if (rc == HUB_ENOTFOUND)
            return 0; /* translated by hand: up to date as far as anyone knows */
        if (rc == 0)
            rc = hub_sha256_hex(json_string_value(tgt), json_string_length(tgt), sum);
        if (rc != 0 || strcmp(sum, rec.target) != 0)
            return rc; /* corrected by hand since the import: that editor knew the source */
        /* outdated when the text it was translated from (in its own locale) changed */
        json_t *from = json_object_get(
            json_object_get(json_object_get(content, rec.source), fc->channel), fc->field->name);
        if (json_is_string(from))
            rc = hub_sha256_hex(json_string_value(from), json_string_length(from), sum);
        if (rc != 0 || (json_is_string(from) && strcmp(sum, rec.checksum) == 0))
            return rc;
        fc->target = tgt;
    }
    return add_unit(ex, file, fc, src);
}

static int item_units(exporter *ex, hub_xliff_file *file, json_t *draft, const char *key)
{
    const hub_plugins *pl = hub_renderer_plugins(ex->r);
    field_ctx fc = {.key = key,
                    .title = json_string_value(json_object_get(draft, "title")),
                    .kind = json_string_value(json_object_get(draft, "kind"))};
    size_t vi;
    json_t *v;
    int rc = 0;
    json_array_foreach(json_object_get(draft, "variants"), vi, v)
    {
        json_t *content = json_object_get(v, "content");
        fc.variant = json_string_value(json_object_get(v, "id"));
        for (size_t c = 0; rc == 0 && fc.variant != NULL && c < hub_plugins_count(pl); c++) {
            const hub_channel *ch = hub_plugins_get(pl, c);
            const hub_plugin_schema *schema = hub_channel_fields(ch);
            fc.channel = hub_channel_name(ch);
            if (ex->rq->viewer != NULL && !hub_principal_allows_channel(ex->rq->viewer, fc.channel))
                continue;
            for (uint32_t f = 0; rc == 0 && f < schema->nfields; f++) {
                fc.field = schema->fields[f];
                if (fc.field->kind == HUB_FIELD_TEXT || fc.field->kind == HUB_FIELD_HTML)
                    rc = consider(ex, file, &fc, content);
            }
        }
    }
    return rc;
}

static int add_file(exporter *ex, const char *key)
{
    json_t *draft = NULL;
    int rc = hub_content_get_draft(ex->txn, key, &draft);
    if (rc == HUB_ENOTFOUND)
        return 0;
    if (rc != 0 || json_array_append_new(ex->drafts, draft) != 0)
        return rc != 0 ? rc : HUB_ENOMEM;
    if (hub_array_grow((void **)&ex->files, &ex->capfiles, ex->nfiles, sizeof(*ex->files), 16))
        return HUB_ENOMEM;
    hub_xliff_file *file = &ex->files[ex->nfiles];
    memset(file, 0, sizeof(*file));
    file->original = ownf(ex, "%s", key);
    file->note = json_string_value(json_object_get(draft, "title"));
    rc = file->original == NULL ? HUB_ENOMEM : item_units(ex, file, draft, key);
    if (file->nunits > 0)
        ex->nfiles++;
    else
        free(file->units);
    return rc;
}

static int check_locales(exporter *ex, hub_error *err)
{
    const hub_tr_export_request *rq = ex->rq;
    if (rq->source != NULL)
        snprintf(ex->source, sizeof(ex->source), "%s", rq->source);
    else if (hub_locale_default(ex->txn, ex->source) != 0)
        return hub_error_set(err, HUB_EINVAL, "no locale is configured");
    if (rq->locale == NULL || !hub_locale_exists(ex->txn, rq->locale))
        return hub_error_set(err, HUB_EINVAL, "locale %s is not configured",
                             rq->locale ? rq->locale : "(none)");
    if (!hub_locale_exists(ex->txn, ex->source))
        return hub_error_set(err, HUB_EINVAL, "source locale %s is not configured", ex->source);
    if (strcmp(ex->source, rq->locale) == 0)
        return hub_error_set(err, HUB_EINVAL, "the source and target locale are both %s",
                             ex->source);
    return 0;
}

int hub_translation_export(hub_txn *txn, const hub_renderer *r, const hub_tr_export_request *rq,
                           hub_buf *out, size_t *nunits, hub_error *err)
{
    exporter ex = {.txn = txn, .r = r, .rq = rq};
    size_t i;
    json_t *k;
    int rc;
    *nunits = 0;
    ex.keys = json_array();
    ex.seen = json_object();
    ex.drafts = json_array();
    rc = ex.keys == NULL || ex.seen == NULL || ex.drafts == NULL ? HUB_ENOMEM
                                                                 : check_locales(&ex, err);
    if (rc == 0)
        rc = list_items(&ex, err);
    for (i = 0; rc == 0 && rq->tag != NULL && i < json_array_size(ex.keys); i++) {
        json_t *draft = NULL; /* the list grows as blocks are found: they are visited too */
        rc = hub_content_get_draft(txn, json_string_value(json_array_get(ex.keys, i)), &draft);
        rc = rc == 0 ? add_rendered_blocks(&ex, draft) : rc == HUB_ENOTFOUND ? 0 : rc;
        json_decref(draft);
    }
    json_array_foreach(ex.keys, i, k)
    {
        if (rc == 0)
            rc = add_file(&ex, json_string_value(k));
    }
    if (rc == 0 && ex.nunits > 0) {
        hub_xliff_doc doc = {rq->format, ex.source, rq->locale, ex.files, ex.nfiles, NULL};
        rc = hub_xliff_write(&doc, out, err);
    }
    if (rc == 0)
        *nunits = ex.nunits;
    else if (err != NULL && err->code == 0)
        hub_error_set(err, rc, "export: %s", hub_strerror(rc));
    for (i = 0; i < ex.nfiles; i++)
        free(ex.files[i].units);
    free(ex.files);
    for (i = 0; i < ex.nowned; i++)
        free(ex.owned[i]);
    free(ex.owned);
    json_decref(ex.keys);
    json_decref(ex.seen);
    json_decref(ex.drafts);
    return rc;
}

hub_xliff_version hub_translation_format(const char *name)
{
    if (name == NULL || strcmp(name, "xliff2") == 0)
        return HUB_XLIFF_2;
    if (strcmp(name, "xliff12") == 0)
        return HUB_XLIFF_12;
    return 0;
}

const char *hub_translation_format_name(hub_xliff_version v)
{
    return v == HUB_XLIFF_12 ? "xliff12" : "xliff2";
}
