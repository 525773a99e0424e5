/*
 * Import: each unit of an XLIFF document judged on its own and, when it passes, written into
 * the draft of its item in the target locale (translation.h lists the checks and reasons).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "template/template.h"

#define WHY_MAX 512

typedef struct importer {
    hub_txn *txn;
    const hub_content_ctx *cx;
    const hub_renderer *r;
    json_t *imported, *untranslated, *rejected, *items;
    int64_t now_ms;
} importer;

/* One file (item) being imported. */
typedef struct file_state {
    const hub_xliff_file *f;
    const char *key;
    char src[HUB_LOCALE_TAG_MAX], tgt[HUB_LOCALE_TAG_MAX];
    json_t *item;     /* the draft being changed (copy) */
    json_t *baseline; /* channel -> {"path: message": true} before this import */
    json_t *accepted; /* [{"unit","variant","channel","field","checksum"}] */
} file_state;

/* What a unit's id names. */
typedef struct unit_ref {
    char variant[HUB_VARIANT_ID_MAX + 1], channel[33], field[33];
    size_t vi;
    const hub_plugin_field *field_schema;
    json_t *source; /* the current source text */
} unit_ref;

/* s, or its first HUB_ITEM_KEY_MAX bytes and "..." in out when longer. */
static const char *cut(const char *s, char out[HUB_ITEM_KEY_MAX + 8])
{
    size_t n = strlen(s);
    if (n <= HUB_ITEM_KEY_MAX)
        return s;
    snprintf(out, HUB_ITEM_KEY_MAX + 8, "%.*s...", HUB_ITEM_KEY_MAX, s);
    return out;
}

static int entry(json_t *list, const char *item, const char *unit, const char *k3, const char *v3,
                 const char *detail)
{
    char name[HUB_ITEM_KEY_MAX + 8], id[HUB_ITEM_KEY_MAX + 8]; /* cut what no key can be */
    json_t *e = json_pack("{s:s,s:s}", "item", cut(item, name), "unit", cut(unit ? unit : "", id));
    if (e != NULL && k3 != NULL)
        json_object_set_new(e, k3, json_string(v3));
    if (e != NULL && detail != NULL)
        json_object_set_new(e, "detail", json_string(detail));
    return e == NULL || json_array_append_new(list, e) != 0 ? HUB_ENOMEM : 0;
}

static int reject(importer *im, const char *item, const char *unit, const char *reason,
                  const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static int reject(importer *im, const char *item, const char *unit, const char *reason,
                  const char *fmt, ...)
{
    char detail[WHY_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    return entry(im->rejected, item, unit, "reason", reason, detail);
}

/* ---- naming ------------------------------------------------------------------------------ */

static int copy_part(char *out, size_t cap, const char *s, size_t n)
{
    if (n == 0 || n >= cap)
        return 0;
    memcpy(out, s, n);
    out[n] = '\0';
    return 1;
}

/* Finds the source field a unit id names: 0, or a reason with why filled. */
static const char *resolve_unit(importer *im, file_state *fs, const char *id, unit_ref *u,
                                char *why)
{
    const char *a = strchr(id, '.'), *b = a ? strchr(a + 1, '.') : NULL;
    const hub_channel *ch;
    json_t *v;
    size_t i;
    if (b == NULL || !copy_part(u->variant, sizeof(u->variant), id, (size_t)(a - id)) ||
        !copy_part(u->channel, sizeof(u->channel), a + 1, (size_t)(b - a - 1)) ||
        !copy_part(u->field, sizeof(u->field), b + 1, strlen(b + 1))) {
        snprintf(why, WHY_MAX, "the unit id is not <variant>.<channel>.<field>");
        return "unknown_unit";
    }
    u->vi = (size_t)-1;
    json_array_foreach(json_object_get(fs->item, "variants"), i, v)
    {
        const char *vid = json_string_value(json_object_get(v, "id"));
        if (vid != NULL && strcmp(vid, u->variant) == 0)
            u->vi = i;
    }
    ch = hub_plugins_find(hub_renderer_plugins(im->r), u->channel, strlen(u->channel));
    int fi = ch == NULL ? -1 : hub_channel_field_index(ch, u->field);
    if (u->vi == (size_t)-1 || fi < 0) {
        snprintf(why, WHY_MAX, "the item has no variant %s or no channel field %s.%s", u->variant,
                 u->channel, u->field);
        return "unknown_unit";
    }
    u->field_schema = hub_channel_fields(ch)->fields[fi];
    v = json_object_get(json_array_get(json_object_get(fs->item, "variants"), u->vi), "content");
    u->source = json_object_get(json_object_get(json_object_get(v, fs->src), u->channel), u->field);
    if (!json_is_string(u->source) ||
        (u->field_schema->kind != HUB_FIELD_TEXT && u->field_schema->kind != HUB_FIELD_HTML)) {
        snprintf(why, WHY_MAX, "variant %s has no %s text for %s.%s", u->variant, fs->src,
                 u->channel, u->field);
        return "unknown_unit";
    }
    if (im->cx->actor != NULL && !hub_principal_allows_channel(im->cx->actor, u->channel)) {
        snprintf(why, WHY_MAX, "the token may not change channel %s", u->channel);
        return "forbidden";
    }
    return NULL;
}

/* ---- checks ------------------------------------------------------------------------------ */

/* The source changed since the export: by oh:checksum, else by the document's source text. */
static const char *stale(const hub_xliff_unit *unit, const unit_ref *u, const tr_parts *src,
                         const char *sum, char *why)
{
    int html = u->field_schema->kind == HUB_FIELD_HTML;
    if (unit->checksum != NULL) {
        if (strcmp(unit->checksum, sum) == 0)
            return NULL;
        snprintf(why, WHY_MAX,
                 "the source text changed since the export (checksum %.12s..., now "
                 "%.12s...): export again",
                 unit->checksum, sum);
        return "stale_source";
    }
    hub_buf doc;
    hub_buf_init(&doc, json_string_length(u->source) + 1);
    int rc = tr_rebuild(src, unit->source, unit->nsource, html, &doc, why, WHY_MAX);
    int same = rc == 0 && doc.len == json_string_length(u->source) &&
               memcmp(doc.data, json_string_value(u->source), doc.len) == 0;
    hub_buf_free(&doc);
    if (same)
        return NULL;
    snprintf(why, WHY_MAX,
             "the unit has no oh:checksum and its source is not the current "
             "source text: export again");
    return "stale_source";
}

/* The translation's text (into out) when its codes and Liquid are sound; else a reason. */
static const char *translation_text(const hub_xliff_unit *unit, const unit_ref *u,
                                    const tr_parts *src, hub_buf *out, char *why, int *fatal)
{
    int html = u->field_schema->kind == HUB_FIELD_HTML;
    size_t max = u->field_schema->max_bytes ? u->field_schema->max_bytes : (size_t)1 << 20;
    hub_template *t = NULL;
    hub_error e;
    int rc = tr_rebuild(src, unit->target, unit->ntarget, html, out, why, WHY_MAX);
    if (rc < 0) {
        *fatal = rc;
        return NULL;
    }
    if (rc != TR_CODES_OK)
        return rc == TR_CODES_MISSING ? "missing_code" : "broken_code";
    if (!hub_utf8_valid(out->data, out->len) || memchr(out->data, '\0', out->len) != NULL) {
        snprintf(why, WHY_MAX, "the translation is not valid UTF-8 text");
        return "invalid_unit";
    }
    if (out->len > max) {
        snprintf(why, WHY_MAX, "%s.%s is %zu bytes, at most %zu", u->channel, u->field, out->len,
                 max);
        return "channel_limits";
    }
    hub_error_init(&e);
    rc = hub_template_compile(out->data, out->len, &t, &e);
    hub_template_free(t);
    if (rc != 0)
        snprintf(why, WHY_MAX, "Liquid: %s", e.message);
    hub_error_clear(&e);
    return rc != 0 ? "liquid" : NULL;
}

/* The publish problems of (target locale, channel) as a set of "path: message". */
static int problem_set(importer *im, file_state *fs, const char *channel, json_t **out)
{
    hub_problems p;
    hub_problems_init(&p);
    int rc = hub_render_check_locale(im->r, im->txn, fs->key, fs->item, fs->tgt, channel, &p);
    json_t *set = json_object();
    for (size_t i = 0; rc == 0 && set != NULL && i < p.count; i++) {
        char line[1024];
        snprintf(line, sizeof(line), "%s: %s", p.items[i].path, p.items[i].message);
        json_object_set_new(set, line, json_true());
    }
    hub_problems_clear(&p);
    if (rc == 0 && set == NULL)
        rc = HUB_ENOMEM;
    if (rc != 0) {
        json_decref(set);
        return rc;
    }
    *out = set;
    return 0;
}

/* The slot of (variant, target, channel) in the item's content, created when missing. */
static json_t *slot(file_state *fs, const unit_ref *u)
{
    json_t *v = json_array_get(json_object_get(fs->item, "variants"), u->vi);
    const char *names[] = {"content", fs->tgt, u->channel};
    for (size_t i = 0; v != NULL && i < 3; i++) {
        json_t *next = json_object_get(v, names[i]);
        if (!json_is_object(next)) {
            next = json_object();
            if (next == NULL || json_object_set_new(v, names[i], next) != 0)
                return NULL;
        }
        v = next;
    }
    return v;
}

/* Removes the field from the item, and the channel and locale objects it leaves empty. */
static void unslot(file_state *fs, const unit_ref *u)
{
    json_t *content =
        json_object_get(json_array_get(json_object_get(fs->item, "variants"), u->vi), "content");
    json_t *loc = json_object_get(content, fs->tgt), *ch = json_object_get(loc, u->channel);
    json_object_del(ch, u->field);
    if (json_object_size(ch) == 0)
        json_object_del(loc, u->channel);
    if (json_object_size(loc) == 0)
        json_object_del(content, fs->tgt);
}

/* Writes text into the item; keeps it when the channel's check finds nothing new. */
static const char *apply(importer *im, file_state *fs, const unit_ref *u, const hub_buf *text,
                         char *why, int *fatal)
{
    json_t *base = json_object_get(fs->baseline, u->channel), *after = NULL;
    json_t *where, *old;
    if (base == NULL) {
        if ((*fatal = problem_set(im, fs, u->channel, &base)) != 0)
            return NULL;
        json_object_set_new(fs->baseline, u->channel, base);
    }
    where = slot(fs, u);
    if (where == NULL) {
        *fatal = HUB_ENOMEM;
        return NULL;
    }
    old = json_incref(json_object_get(where, u->field));
    json_object_set_new(where, u->field, json_stringn(text->data, text->len));
    if ((*fatal = problem_set(im, fs, u->channel, &after)) != 0) {
        json_decref(old);
        return NULL;
    }
    const char *line, *found = NULL;
    json_t *x;
    json_object_foreach(after, line, x)
    {
        if (found == NULL && json_object_get(base, line) == NULL)
            found = line;
    }
    if (found != NULL) {
        snprintf(why, WHY_MAX, "%s", found);
        if (old != NULL)
            json_object_set(where, u->field, old);
        else
            unslot(fs, u);
    }
    json_decref(old);
    json_decref(after);
    return found != NULL ? "channel_limits" : NULL;
}

/* Judges one unit; 0 whatever its fate, a negative code when it could not. */
static int import_unit(importer *im, file_state *fs, const hub_xliff_unit *unit)
{
    char why[WHY_MAX] = "", sum[HUB_SHA256_HEX_LEN + 1];
    unit_ref u;
    tr_parts src = {0};
    hub_buf text;
    int fatal = 0;
    const char *reason = resolve_unit(im, fs, unit->id, &u, why);
    if (reason != NULL)
        return reject(im, fs->key, unit->id, reason, "%s", why);
    if (unit->error != NULL)
        return reject(im, fs->key, unit->id, "invalid_unit", "%s", unit->error);
    hub_buf_init(&text, (size_t)4 << 20);
    fatal = tr_checksum(json_string_value(u.source), json_string_length(u.source), sum);
    if (fatal == 0)
        fatal = tr_split(json_string_value(u.source), json_string_length(u.source),
                         u.field_schema->kind == HUB_FIELD_HTML, &src);
    if (fatal == 0)
        reason = stale(unit, &u, &src, sum, why);
    if (fatal == 0 && reason == NULL && !unit->has_target)
        fatal = entry(im->untranslated, fs->key, unit->id, NULL, NULL, NULL);
    else if (fatal == 0 && reason == NULL)
        reason = translation_text(unit, &u, &src, &text, why, &fatal);
    if (fatal == 0 && reason == NULL && unit->has_target)
        reason = apply(im, fs, &u, &text, why, &fatal);
    if (fatal == 0 && reason != NULL)
        fatal = reject(im, fs->key, unit->id, reason, "%s", why);
    else if (fatal == 0 && unit->has_target) {
        json_t *a = json_pack("{s:s,s:s,s:s,s:s,s:s}", "unit", unit->id, "variant", u.variant,
                              "channel", u.channel, "field", u.field, "checksum", sum);
        fatal = a == NULL || json_array_append_new(fs->accepted, a) != 0 ? HUB_ENOMEM : 0;
    }
    tr_parts_free(&src);
    hub_buf_free(&text);
    return fatal;
}

/* ---- files ------------------------------------------------------------------------------- */

static int reject_all(importer *im, const hub_xliff_file *f, const char *reason, const char *why)
{
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < f->nunits; i++)
        rc = reject(im, f->original, f->units[i].id, reason, "%s", why);
    return rc;
}

/* Stores the changed draft and the accepted units' records. */
static int commit_file(importer *im, file_state *fs)
{
    hub_error e;
    int created = 0, rc;
    size_t i;
    json_t *a;
    hub_error_init(&e);
    rc = hub_content_put(im->txn, im->cx, fs->key, fs->item, NULL, NULL, &created, &e);
    if (rc == HUB_EINVAL || rc == HUB_EFORBIDDEN) { /* the draft as a whole refuses */
        const char *reason = rc == HUB_EFORBIDDEN ? "forbidden" : "invalid_unit";
        char why[WHY_MAX];
        if (e.problems.count > 0)
            snprintf(why, sizeof(why), "%s: %s", e.problems.items[0].path,
                     e.problems.items[0].message);
        else
            snprintf(why, sizeof(why), "%s", e.message);
        rc = 0;
        json_array_foreach(fs->accepted, i, a)
        {
            if (rc == 0)
                rc = reject(im, fs->key, json_string_value(json_object_get(a, "unit")), reason,
                            "%s", why);
        }
        hub_error_clear(&e);
        return rc;
    }
    hub_error_clear(&e);
    if (rc != 0)
        return rc;
    tr_record rec = {.at_ms = im->now_ms};
    snprintf(rec.source, sizeof(rec.source), "%s", fs->src);
    json_array_foreach(fs->accepted, i, a)
    {
        const char *unit = json_string_value(json_object_get(a, "unit"));
        memcpy(rec.checksum, json_string_value(json_object_get(a, "checksum")),
               HUB_SHA256_HEX_LEN + 1);
        if (rc == 0)
            rc = tr_record_put(im->txn, fs->key, json_string_value(json_object_get(a, "variant")),
                               fs->tgt, json_string_value(json_object_get(a, "channel")),
                               json_string_value(json_object_get(a, "field")), &rec);
        if (rc == 0)
            rc = entry(im->imported, fs->key, unit, "locale", fs->tgt, NULL);
    }
    if (rc == 0 && json_array_append_new(im->items, json_string(fs->key)) != 0)
        rc = HUB_ENOMEM;
    if (rc == 0) { /* who brought which translations in, beside the item.put of the draft */
        json_t *units = json_array(), *detail;
        json_array_foreach(fs->accepted, i, a) json_array_append(units, json_object_get(a, "unit"));
        detail = json_pack("{s:s,s:s,s:o}", "source", fs->src, "locale", fs->tgt, "units", units);
        rc = detail == NULL ? HUB_ENOMEM
                            : hub_audit_append(im->txn, hub_content_actor_name(im->cx),
                                               "item.translated", "items", fs->key, detail);
        json_decref(detail);
    }
    return rc;
}

/* The file's languages as configured locales, or a reason for every unit. */
static const char *file_locales(importer *im, file_state *fs, char *why)
{
    const hub_xliff_file *f = fs->f;
    if (f->srclang == NULL || f->trglang == NULL ||
        hub_locale_canonicalize(f->srclang, strlen(f->srclang), fs->src, NULL) != 0 ||
        hub_locale_canonicalize(f->trglang, strlen(f->trglang), fs->tgt, NULL) != 0) {
        snprintf(why, WHY_MAX, "the languages are not BCP 47 tags");
        return "unknown_locale";
    }
    if (!hub_locale_exists(im->txn, fs->src) || !hub_locale_exists(im->txn, fs->tgt) ||
        strcmp(fs->src, fs->tgt) == 0) {
        snprintf(why, WHY_MAX, "the source %s and target %s must be two configured locales",
                 fs->src, fs->tgt);
        return "unknown_locale";
    }
    return NULL;
}

static int import_file(importer *im, const hub_xliff_file *f)
{
    file_state fs = {.f = f, .key = f->original};
    char why[WHY_MAX];
    json_t *draft = NULL;
    const char *reason = file_locales(im, &fs, why);
    int rc = 0;
    if (reason != NULL)
        return reject_all(im, f, reason, why);
    if (hub_item_key_check(fs.key, strlen(fs.key), NULL) != 0)
        return reject_all(im, f, "unknown_item", "not an item key");
    rc = hub_content_get_draft(im->txn, fs.key, &draft);
    if (rc == HUB_ENOTFOUND || rc == HUB_EINVAL)
        return reject_all(im, f, "unknown_item", "no item has this key");
    if (rc != 0)
        return rc;
    if (im->cx->actor != NULL &&
        !hub_principal_allows_tags(im->cx->actor, json_object_get(draft, "tags"))) {
        json_decref(draft);
        return reject_all(im, f, "forbidden", "the token may not change this item");
    }
    fs.item = hub_content_item_copy(draft);
    fs.baseline = json_object();
    fs.accepted = json_array();
    rc = fs.item == NULL || fs.baseline == NULL || fs.accepted == NULL ? HUB_ENOMEM : 0;
    for (size_t i = 0; rc == 0 && i < f->nunits; i++)
        rc = import_unit(im, &fs, &f->units[i]);
    if (rc == 0 && json_array_size(fs.accepted) > 0)
        rc = commit_file(im, &fs);
    json_decref(draft);
    json_decref(fs.item);
    json_decref(fs.baseline);
    json_decref(fs.accepted);
    return rc;
}

int hub_translation_import(hub_txn *txn, const hub_content_ctx *cx, const hub_renderer *r,
                           const hub_xliff_doc *doc, json_t **report, hub_error *err)
{
    importer im = {txn,          cx,           r,           json_array(), json_array(),
                   json_array(), json_array(), hub_now_ms()};
    int rc =
        im.imported == NULL || im.untranslated == NULL || im.rejected == NULL || im.items == NULL
            ? HUB_ENOMEM
            : 0;
    for (size_t i = 0; rc == 0 && i < doc->nfiles; i++)
        rc = import_file(&im, &doc->files[i]);
    if (rc == 0) {
        *report = json_pack("{s:s,s:I,s:o,s:o,s:o,s:o}", "format",
                            hub_translation_format_name(doc->version), "files",
                            (json_int_t)doc->nfiles, "imported", im.imported, "untranslated",
                            im.untranslated, "rejected", im.rejected, "items", im.items);
        return *report == NULL ? hub_error_set(err, HUB_ENOMEM, "import: out of memory") : 0;
    }
    json_decref(im.imported);
    json_decref(im.untranslated);
    json_decref(im.rejected);
    json_decref(im.items);
    return hub_error_set(err, rc, "import: %s", hub_strerror(rc));
}
