/*
 * Import: each unit of an XLIFF document judged on its own and, when it passes, written into
 * the draft of its item in the target locale (translation.h lists the checks and reasons).
 * Files naming the same item and languages are taken together, so an item gets one draft
 * write however the document is cut into files.
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
    const hub_xliff_doc *doc;
    json_t *imported, *untranslated, *rejected, *items;
    int64_t now_ms;
} importer;

/* The files of one item and language pair being imported. */
typedef struct item_state {
    const hub_xliff_file *first;
    const char *key;
    char src[HUB_LOCALE_TAG_MAX], tgt[HUB_LOCALE_TAG_MAX];
    json_t *item;     /* the draft being changed (copy) */
    json_t *checked;  /* locales whose publish check a change in tgt can alter: tgt and the
                         item's locales whose chain reaches tgt */
    json_t *baseline; /* channel -> {"path: message": true} before this import */
    json_t *accepted; /* [{"unit","variant","channel","field","checksum","target"}] */
    json_t *seen;     /* unit id -> true, for the units with a translation */
} item_state;

/* What a unit's id names. */
typedef struct unit_ref {
    char variant[HUB_VARIANT_ID_MAX + 1], channel[33], field[33];
    size_t vi;
    const hub_plugin_field *schema;
    json_t *source; /* the current source text */
} unit_ref;

/* Why a unit is refused: reason NULL while it passes. */
typedef struct verdict {
    const char *reason;
    char why[WHY_MAX];
} verdict;

/* ---- report entries ----------------------------------------------------------------------- */

/* Cuts s[0..len) back to whole UTF-8 characters (after a cut that may split one). */
static void utf8_fit(char *s)
{
    size_t n = strlen(s);
    while (n > 0 && !hub_utf8_valid(s, n))
        s[--n] = '\0';
}

static void refuse(verdict *v, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void refuse(verdict *v, const char *reason, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v->why, sizeof(v->why), fmt, ap);
    va_end(ap);
    utf8_fit(v->why);
    v->reason = reason;
}

/* s, or its first HUB_ITEM_KEY_MAX bytes (whole characters) and "..." in out. */
static const char *cut(const char *s, char out[HUB_ITEM_KEY_MAX + 8])
{
    if (strlen(s) <= HUB_ITEM_KEY_MAX)
        return s;
    memcpy(out, s, HUB_ITEM_KEY_MAX);
    out[HUB_ITEM_KEY_MAX] = '\0';
    utf8_fit(out);
    memcpy(out + strlen(out), "...", 4);
    return out;
}

static int entry(json_t *list, const char *item, const char *unit, const char *k3, const char *v3,
                 const char *detail)
{
    char name[HUB_ITEM_KEY_MAX + 8], id[HUB_ITEM_KEY_MAX + 8]; /* cut what no key can be */
    json_t *e = json_pack("{s:s,s:s}", "item", cut(item, name), "unit", cut(unit ? unit : "", id));
    int rc = e == NULL ? HUB_ENOMEM : 0;
    if (rc == 0 && k3 != NULL && json_object_set_new(e, k3, json_string(v3)) != 0)
        rc = HUB_ENOMEM;
    if (rc == 0 && detail != NULL && json_object_set_new(e, "detail", json_string(detail)) != 0)
        rc = HUB_ENOMEM;
    if (rc == 0 && json_array_append(list, e) != 0)
        rc = HUB_ENOMEM;
    json_decref(e);
    return rc;
}

static int reject(importer *im, const char *item, const char *unit, const verdict *v)
{
    return entry(im->rejected, item, unit, "reason", v->reason, v->why);
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

/* Finds the source field a unit id names (or refuses the unit). */
static void resolve_unit(importer *im, item_state *st, const char *id, int has_target, unit_ref *u,
                         verdict *v)
{
    const char *a = strchr(id, '.'), *b = a ? strchr(a + 1, '.') : NULL;
    const hub_channel *ch;
    json_t *var;
    size_t i;
    if (b == NULL || !copy_part(u->variant, sizeof(u->variant), id, (size_t)(a - id)) ||
        !copy_part(u->channel, sizeof(u->channel), a + 1, (size_t)(b - a - 1)) ||
        !copy_part(u->field, sizeof(u->field), b + 1, strlen(b + 1))) {
        refuse(v, "unknown_unit", "the unit id is not <variant>.<channel>.<field>");
        return;
    }
    u->vi = (size_t)-1;
    json_array_foreach(json_object_get(st->item, "variants"), i, var)
    {
        const char *vid = json_string_value(json_object_get(var, "id"));
        if (vid != NULL && strcmp(vid, u->variant) == 0)
            u->vi = i;
    }
    ch = hub_plugins_find(hub_renderer_plugins(im->r), u->channel, strlen(u->channel));
    int fi = ch == NULL ? -1 : hub_channel_field_index(ch, u->field);
    if (u->vi == (size_t)-1 || fi < 0) {
        refuse(v, "unknown_unit", "the item has no variant %s or no channel field %s.%s",
               u->variant, u->channel, u->field);
        return;
    }
    u->schema = hub_channel_fields(ch)->fields[fi];
    var = json_object_get(json_array_get(json_object_get(st->item, "variants"), u->vi), "content");
    u->source =
        json_object_get(json_object_get(json_object_get(var, st->src), u->channel), u->field);
    if (!json_is_string(u->source) ||
        (u->schema->kind != HUB_FIELD_TEXT && u->schema->kind != HUB_FIELD_HTML)) {
        refuse(v, "unknown_unit", "variant %s has no %s text for %s.%s", u->variant, st->src,
               u->channel, u->field);
        return;
    }
    if (im->cx->actor != NULL && !hub_principal_allows_channel(im->cx->actor, u->channel)) {
        refuse(v, "forbidden", "the token may not change channel %s", u->channel);
        return;
    }
    if (has_target && json_object_get(st->seen, id) != NULL)
        refuse(v, "invalid_unit", "the unit is translated twice for this item");
}

/* ---- checks ------------------------------------------------------------------------------ */

/* The source changed since the export: by oh:checksum, else by the document's source text. */
static int stale(const hub_xliff_unit *unit, const unit_ref *u, const tr_parts *src,
                 const char *sum, verdict *v)
{
    int html = u->schema->kind == HUB_FIELD_HTML;
    if (unit->checksum != NULL) {
        if (strcmp(unit->checksum, sum) != 0)
            refuse(v, "stale_source",
                   "the source text changed since the export (checksum %.12s..., now %.12s...): "
                   "export again",
                   unit->checksum, sum);
        return 0;
    }
    hub_buf doc;
    char why[WHY_MAX];
    hub_buf_init(&doc, json_string_length(u->source) + 1);
    int rc = tr_rebuild(src, unit->source, unit->nsource, html, &doc, why, sizeof(why));
    int same = rc == 0 && doc.len == json_string_length(u->source) &&
               memcmp(doc.data, json_string_value(u->source), doc.len) == 0;
    hub_buf_free(&doc);
    if (rc == HUB_ENOMEM)
        return rc;
    if (!same)
        refuse(v, "stale_source",
               "the unit has no oh:checksum and its source is not the current source text: "
               "export again");
    return 0;
}

/* The translation's text (into out) when its size, codes and Liquid are sound. */
static int translation_text(const hub_xliff_unit *unit, const unit_ref *u, const tr_parts *src,
                            hub_buf *out, verdict *v)
{
    int html = u->schema->kind == HUB_FIELD_HTML;
    size_t max = u->schema->max_bytes ? u->schema->max_bytes : (size_t)1 << 20, text = 0;
    hub_template *t = NULL;
    hub_error e;
    for (size_t i = 0; i < unit->ntarget; i++)
        text += unit->target[i].len;
    if (text > max) {
        refuse(v, "channel_limits", "%s.%s has %zu bytes of text, at most %zu", u->channel,
               u->field, text, max);
        return 0;
    }
    int rc = tr_rebuild(src, unit->target, unit->ntarget, html, out, v->why, sizeof(v->why));
    if (rc == HUB_ETOOBIG || (rc == 0 && out->len > max)) {
        refuse(v, "channel_limits", "%s.%s is over %zu bytes", u->channel, u->field, max);
        return 0;
    }
    if (rc < 0)
        return rc;
    if (rc != TR_CODES_OK) {
        utf8_fit(v->why);
        v->reason = rc == TR_CODES_MISSING ? "missing_code" : "broken_code";
        return 0;
    }
    if (!hub_utf8_valid(out->data, out->len) || memchr(out->data, '\0', out->len) != NULL) {
        refuse(v, "invalid_unit", "the translation is not valid UTF-8 text");
        return 0;
    }
    hub_error_init(&e);
    rc = hub_template_compile(out->data, out->len, &t, &e);
    hub_template_free(t);
    if (rc != 0)
        refuse(v, "liquid", "Liquid: %s", e.message);
    hub_error_clear(&e);
    return 0;
}

/* The publish problems a change of (target, channel) can alter, as "path: message" keys. */
static int problem_set(importer *im, item_state *st, const char *channel, json_t **out)
{
    hub_problems p;
    size_t i;
    json_t *loc;
    int rc = 0;
    json_t *set = json_object();
    hub_problems_init(&p);
    json_array_foreach(st->checked, i, loc)
    {
        if (rc == 0)
            rc = hub_render_check_locale(im->r, im->txn, st->key, st->item, json_string_value(loc),
                                         channel, &p);
    }
    for (i = 0; rc == 0 && set != NULL && i < p.count; i++) {
        char line[1024];
        snprintf(line, sizeof(line), "%s: %s", p.items[i].path, p.items[i].message);
        utf8_fit(line);
        if (json_object_set_new(set, line, json_true()) != 0)
            rc = HUB_ENOMEM;
    }
    hub_problems_clear(&p);
    if (rc == 0 && set == NULL)
        rc = HUB_ENOMEM;
    if (rc != 0)
        json_decref(set);
    else
        *out = set;
    return rc;
}

/* The variant's content object for the target locale and channel, created when missing. */
static json_t *slot(item_state *st, const unit_ref *u)
{
    json_t *v = json_array_get(json_object_get(st->item, "variants"), u->vi);
    const char *names[] = {"content", st->tgt, u->channel};
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
static void unslot(item_state *st, const unit_ref *u)
{
    json_t *content =
        json_object_get(json_array_get(json_object_get(st->item, "variants"), u->vi), "content");
    json_t *loc = json_object_get(content, st->tgt), *ch = json_object_get(loc, u->channel);
    json_object_del(ch, u->field);
    if (json_object_size(ch) == 0)
        json_object_del(loc, u->channel);
    if (json_object_size(loc) == 0)
        json_object_del(content, st->tgt);
}

/* Writes text into the item; keeps it when the channel's check finds nothing new. */
static int apply(importer *im, item_state *st, const unit_ref *u, const hub_buf *text, verdict *v)
{
    json_t *base = json_object_get(st->baseline, u->channel), *after = NULL, *where, *old, *x;
    const char *line, *found = NULL;
    int rc = 0;
    if (base == NULL) {
        if ((rc = problem_set(im, st, u->channel, &base)) != 0)
            return rc;
        if (json_object_set_new(st->baseline, u->channel, base) != 0)
            return HUB_ENOMEM;
    }
    if ((where = slot(st, u)) == NULL)
        return HUB_ENOMEM;
    old = json_incref(json_object_get(where, u->field));
    if (json_object_set_new(where, u->field, json_stringn(text->data, text->len)) != 0)
        rc = HUB_ENOMEM;
    if (rc == 0)
        rc = problem_set(im, st, u->channel, &after);
    json_object_foreach(after, line, x)
    {
        if (found == NULL && json_object_get(base, line) == NULL)
            found = line;
    }
    if (found != NULL)
        refuse(v, "channel_limits", "%s", found);
    if (rc != 0 || found != NULL) { /* put the item back as it was */
        if (old != NULL)
            json_object_set(where, u->field, old);
        else
            unslot(st, u);
    }
    json_decref(old);
    json_decref(after);
    return rc;
}

static int accept(item_state *st, const hub_xliff_unit *unit, const unit_ref *u, const char *sum,
                  const hub_buf *text)
{
    char tsum[HUB_SHA256_HEX_LEN + 1];
    int rc = hub_sha256_hex(text->data, text->len, tsum);
    json_t *a = rc != 0 ? NULL
                        : json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "unit", unit->id, "variant",
                                    u->variant, "channel", u->channel, "field", u->field,
                                    "checksum", sum, "target", tsum);
    if (rc == 0 && (a == NULL || json_array_append_new(st->accepted, a) != 0))
        rc = HUB_ENOMEM;
    return rc;
}

/* Judges one unit; 0 whatever its fate, a negative code when it could not. */
static int import_unit(importer *im, item_state *st, const hub_xliff_unit *unit)
{
    char sum[HUB_SHA256_HEX_LEN + 1];
    verdict v = {NULL, ""};
    unit_ref u;
    tr_parts src = {0};
    hub_buf text;
    int rc = 0;
    resolve_unit(im, st, unit->id, unit->has_target, &u, &v);
    if (v.reason == NULL && unit->error != NULL)
        refuse(&v, "invalid_unit", "%s", unit->error);
    if (v.reason != NULL)
        return reject(im, st->key, unit->id, &v);
    if (unit->has_target && json_object_set_new(st->seen, unit->id, json_true()) != 0)
        return HUB_ENOMEM;
    hub_buf_init(&text, (size_t)4 << 20);
    rc = hub_sha256_hex(json_string_value(u.source), json_string_length(u.source), sum);
    if (rc == 0)
        rc = tr_split(json_string_value(u.source), json_string_length(u.source),
                      u.schema->kind == HUB_FIELD_HTML, &src);
    if (rc == 0)
        rc = stale(unit, &u, &src, sum, &v);
    if (rc == 0 && v.reason == NULL && !unit->has_target)
        rc = entry(im->untranslated, st->key, unit->id, NULL, NULL, NULL);
    else if (rc == 0 && v.reason == NULL)
        rc = translation_text(unit, &u, &src, &text, &v);
    if (rc == 0 && v.reason == NULL && unit->has_target)
        rc = apply(im, st, &u, &text, &v);
    if (rc == 0 && v.reason != NULL)
        rc = reject(im, st->key, unit->id, &v);
    else if (rc == 0 && unit->has_target)
        rc = accept(st, unit, &u, sum, &text);
    tr_parts_free(&src);
    hub_buf_free(&text);
    return rc;
}

/* ---- items ------------------------------------------------------------------------------- */

/* Calls reject for every unit of the group's files. */
static int reject_all(importer *im, const json_t *files, const char *reason, const char *why)
{
    verdict v = {reason, ""};
    size_t i;
    json_t *f;
    int rc = 0;
    snprintf(v.why, sizeof(v.why), "%s", why);
    json_array_foreach(files, i, f)
    {
        const hub_xliff_file *file = &im->doc->files[json_integer_value(f)];
        for (size_t k = 0; rc == 0 && k < file->nunits; k++)
            rc = reject(im, file->original, file->units[k].id, &v);
    }
    return rc;
}

/* Stores the changed draft and the accepted units' records. */
static int commit_item(importer *im, item_state *st)
{
    hub_error e;
    int created = 0, rc;
    size_t i;
    json_t *a;
    hub_error_init(&e);
    rc = hub_content_put(im->txn, im->cx, st->key, st->item, NULL, NULL, &created, &e);
    if (rc == HUB_EINVAL || rc == HUB_EFORBIDDEN) { /* the draft as a whole refuses */
        verdict v = {rc == HUB_EFORBIDDEN ? "forbidden" : "invalid_unit", ""};
        if (e.problems.count > 0)
            refuse(&v, v.reason, "%s: %s", e.problems.items[0].path, e.problems.items[0].message);
        else
            refuse(&v, v.reason, "%s", e.message);
        rc = 0;
        json_array_foreach(st->accepted, i, a)
        {
            if (rc == 0)
                rc = reject(im, st->key, json_string_value(json_object_get(a, "unit")), &v);
        }
        hub_error_clear(&e);
        return rc;
    }
    hub_error_clear(&e);
    tr_record rec = {.at_ms = im->now_ms};
    snprintf(rec.source, sizeof(rec.source), "%s", st->src);
    json_array_foreach(st->accepted, i, a)
    {
        snprintf(rec.checksum, sizeof(rec.checksum), "%s",
                 json_string_value(json_object_get(a, "checksum")));
        snprintf(rec.target, sizeof(rec.target), "%s",
                 json_string_value(json_object_get(a, "target")));
        if (rc == 0)
            rc = tr_record_put(im->txn, st->key, json_string_value(json_object_get(a, "variant")),
                               st->tgt, json_string_value(json_object_get(a, "channel")),
                               json_string_value(json_object_get(a, "field")), &rec);
        if (rc == 0)
            rc = entry(im->imported, st->key, json_string_value(json_object_get(a, "unit")),
                       "locale", st->tgt, NULL);
    }
    json_t *k;
    int listed = 0;
    json_array_foreach(im->items, i, k) listed |= strcmp(json_string_value(k), st->key) == 0;
    if (rc == 0 && !listed && json_array_append_new(im->items, json_string(st->key)) != 0)
        rc = HUB_ENOMEM;
    if (rc == 0) { /* who brought which translations in, beside the item.put of the draft */
        json_t *units = json_array(), *detail;
        json_array_foreach(st->accepted, i, a) json_array_append(units, json_object_get(a, "unit"));
        detail = json_pack("{s:s,s:s,s:o}", "source", st->src, "locale", st->tgt, "units", units);
        rc = detail == NULL ? HUB_ENOMEM
                            : hub_audit_append(im->txn, hub_content_actor_name(im->cx),
                                               "item.translated", "items", st->key, detail);
        json_decref(detail);
    }
    return rc;
}

/* The languages as configured locales (or why the whole group is refused). */
static const char *item_locales(importer *im, item_state *st, char *why)
{
    const hub_xliff_file *f = st->first;
    if (f->srclang == NULL || f->trglang == NULL ||
        hub_locale_canonicalize(f->srclang, strlen(f->srclang), st->src, NULL) != 0 ||
        hub_locale_canonicalize(f->trglang, strlen(f->trglang), st->tgt, NULL) != 0) {
        snprintf(why, WHY_MAX, "the languages are not BCP 47 tags");
        return "unknown_locale";
    }
    if (!hub_locale_exists(im->txn, st->src) || !hub_locale_exists(im->txn, st->tgt) ||
        strcmp(st->src, st->tgt) == 0) {
        snprintf(why, WHY_MAX, "the source %s and target %s must be two configured locales",
                 st->src, st->tgt);
        return "unknown_locale";
    }
    if (hub_item_key_check(st->key, strlen(st->key), NULL) != 0) {
        snprintf(why, WHY_MAX, "not an item key");
        return "unknown_item";
    }
    return NULL;
}

/* The target and the locales of the item whose fallback chain reaches it. */
static int checked_locales(importer *im, item_state *st)
{
    json_t *v, *loc;
    const char *tag;
    size_t i;
    if (json_array_append_new(st->checked, json_string(st->tgt)) != 0)
        return HUB_ENOMEM;
    json_array_foreach(json_object_get(st->item, "variants"), i, v)
    {
        json_object_foreach(json_object_get(v, "content"), tag, loc)
        {
            hub_locale_chain chain;
            size_t k, n = json_array_size(st->checked);
            for (k = 0; k < n; k++)
                if (strcmp(json_string_value(json_array_get(st->checked, k)), tag) == 0)
                    break;
            if (k < n || hub_locale_chain_get(im->txn, tag, &chain) != 0)
                continue;
            for (k = 0; k < chain.count; k++) {
                if (strcmp(chain.tags[k], st->tgt) == 0 &&
                    json_array_append_new(st->checked, json_string(tag)) != 0)
                    return HUB_ENOMEM;
            }
        }
    }
    return 0;
}

/* Loads the item of the group into st->item, or refuses every unit of it (st->item NULL). */
static int load_item(importer *im, item_state *st, const json_t *files)
{
    char why[WHY_MAX];
    json_t *draft = NULL;
    const char *reason = item_locales(im, st, why);
    if (reason != NULL)
        return reject_all(im, files, reason, why);
    int rc = hub_content_get_draft(im->txn, st->key, &draft);
    if (rc == HUB_ENOTFOUND || rc == HUB_EINVAL)
        return reject_all(im, files, "unknown_item", "no item has this key");
    if (rc != 0)
        return rc;
    if (im->cx->actor != NULL &&
        !hub_principal_allows_tags(im->cx->actor, json_object_get(draft, "tags")))
        rc = reject_all(im, files, "forbidden", "the token may not change this item");
    else if ((st->item = hub_content_item_copy(draft)) == NULL)
        rc = HUB_ENOMEM;
    else
        rc = checked_locales(im, st);
    json_decref(draft);
    return rc;
}

/* Imports the units of files (indexes into the document) of one item and language pair. */
static int import_item(importer *im, const json_t *files)
{
    item_state st = {.first = &im->doc->files[json_integer_value(json_array_get(files, 0))]};
    size_t i;
    json_t *f;
    int rc = 0;
    st.key = st.first->original;
    st.checked = json_array();
    st.baseline = json_object();
    st.accepted = json_array();
    st.seen = json_object();
    if (st.checked == NULL || st.baseline == NULL || st.accepted == NULL || st.seen == NULL)
        rc = HUB_ENOMEM;
    else if ((rc = load_item(im, &st, files)) == 0 && st.item != NULL) {
        json_array_foreach(files, i, f)
        {
            const hub_xliff_file *file = &im->doc->files[json_integer_value(f)];
            for (size_t k = 0; rc == 0 && k < file->nunits; k++)
                rc = import_unit(im, &st, &file->units[k]);
        }
        if (rc == 0 && json_array_size(st.accepted) > 0)
            rc = commit_item(im, &st);
    }
    json_decref(st.item);
    json_decref(st.checked);
    json_decref(st.baseline);
    json_decref(st.accepted);
    json_decref(st.seen);
    return rc;
}

/* The files grouped by item and languages, groups in order of first appearance. */
static json_t *group_files(const hub_xliff_doc *doc)
{
    json_t *by = json_object(), *order = json_array();
    hub_buf k;
    int rc = by == NULL || order == NULL ? HUB_ENOMEM : 0;
    hub_buf_init(&k, (size_t)64 << 20);
    for (size_t i = 0; rc == 0 && i < doc->nfiles; i++) {
        const hub_xliff_file *f = &doc->files[i];
        hub_buf_reset(&k);
        rc = hub_buf_printf(&k, "%s\n%s\n%s", f->original ? f->original : "",
                            f->srclang ? f->srclang : "", f->trglang ? f->trglang : "");
        json_t *g = rc == 0 ? json_object_get(by, k.data) : NULL;
        if (rc == 0 && g == NULL) {
            g = json_array();
            if (g == NULL || json_object_set_new(by, k.data, g) != 0 ||
                json_array_append(order, g) != 0)
                rc = HUB_ENOMEM;
        }
        if (rc == 0 && json_array_append_new(g, json_integer((json_int_t)i)) != 0)
            rc = HUB_ENOMEM;
    }
    hub_buf_free(&k);
    json_decref(by);
    if (rc != 0) {
        json_decref(order);
        return NULL;
    }
    return order;
}

int hub_translation_import(hub_txn *txn, const hub_content_ctx *cx, const hub_renderer *r,
                           const hub_xliff_doc *doc, json_t **report, hub_error *err)
{
    importer im = {txn,          cx,           r,           doc, json_array(), json_array(),
                   json_array(), json_array(), hub_now_ms()};
    json_t *groups = group_files(doc), *g;
    size_t i;
    int rc = groups == NULL || im.imported == NULL || im.untranslated == NULL ||
                     im.rejected == NULL || im.items == NULL
                 ? HUB_ENOMEM
                 : 0;
    json_array_foreach(groups, i, g)
    {
        if (rc == 0)
            rc = import_item(&im, g);
    }
    json_decref(groups);
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
