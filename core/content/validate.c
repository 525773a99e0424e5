/*
 * Validation of item documents: the key grammar, the form of an item (every problem at once,
 * each with an RFC 6901 pointer into the document), references to terms and locales, the
 * publish-time completeness rule (through the resolver in schemas.c, the same one
 * materialization uses), and RFC 7396 merge patch.
 *
 * The form check walks the document once, keeping the pointer of the current node in one
 * growable buffer: entering a member or an index appends a reference token, leaving it cuts
 * the buffer back. Messages never carry raw member names longer than NAME_SHOW bytes, and
 * never control characters, so every message stays one readable line.
 *
 * Thread-safety: the pure functions may run on any thread; the others run in the caller's
 * transaction.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "content/content.h"

#define TITLE_MAX    500
#define TAGS_MAX     100
#define VARIANTS_MAX 50
#define WEIGHT_MAX   10000.0
#define SEED_MAX     64
#define NAME_SHOW    64
/* Pointers are at most about twice the document's size, and documents are capped well below
 * this by the HTTP layer; past it a problem is reported at the nearest pointer that fits. */
#define PATH_CAP ((size_t)16 * 1024 * 1024)

/* ---- item keys ------------------------------------------------------------------------- */

static const char *const route_words[] = {"versions", "publish",  "unpublish",
                                          "rollback", "schedule", NULL};

static int key_byte_ok(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '.' || ch == '_' || ch == '-';
}

static int key_segment_check(const char *seg, size_t n, hub_error *err)
{
    if (n == 0)
        return hub_error_set(err, HUB_EINVAL,
                             "invalid item key: empty segment (leading, trailing or double '/')");
    if ((n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.'))
        return hub_error_set(err, HUB_EINVAL,
                             "invalid item key: '.' and '..' segments are "
                             "not allowed");
    for (size_t w = 0; route_words[w] != NULL; w++) {
        if (strlen(route_words[w]) == n && memcmp(seg, route_words[w], n) == 0)
            return hub_error_set(err, HUB_EINVAL,
                                 "invalid item key: segment '%s' is reserved for routes",
                                 route_words[w]);
    }
    return 0;
}

int hub_item_key_check(const char *key, size_t len, hub_error *err)
{
    if (key == NULL || len == 0)
        return hub_error_set(err, HUB_EINVAL, "invalid item key: empty");
    if (len > HUB_ITEM_KEY_MAX)
        return hub_error_set(err, HUB_EINVAL, "invalid item key: longer than %d bytes",
                             HUB_ITEM_KEY_MAX);
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && key[i] != '/') {
            if (!key_byte_ok((unsigned char)key[i]))
                return hub_error_set(err, HUB_EINVAL,
                                     "invalid item key: byte 0x%02x at offset %zu is not "
                                     "allowed (use A-Z a-z 0-9 . _ - and '/')",
                                     (unsigned char)key[i], i);
            continue;
        }
        int rc = key_segment_check(key + start, i - start, err);
        if (rc != 0)
            return rc;
        start = i + 1;
    }
    return 0;
}

/* ---- the walk: pointer buffer and problems --------------------------------------------- */

typedef struct vctx {
    hub_buf path;
    hub_problems *out;
    int bad;
} vctx;

static void vctx_init(vctx *c, hub_problems *out)
{
    hub_buf_init(&c->path, PATH_CAP);
    c->out = out;
    c->bad = 0;
}

/* A member name fit for a message: at most NAME_SHOW bytes cut at a UTF-8 boundary, control
 * characters shown as '?'. */
static const char *show(const char *s, char out[NAME_SHOW + 4])
{
    size_t n = 0;
    if (s == NULL)
        s = "";
    while (s[n] != '\0' && n < NAME_SHOW) {
        unsigned char ch = (unsigned char)s[n];
        out[n] = (ch < 0x20 || ch == 0x7f) ? '?' : (char)ch;
        n++;
    }
    if (s[n] != '\0') {
        n = hub_utf8_back(s, n); /* do not split a character */
        memcpy(out + n, "...", 3);
        n += 3;
    }
    out[n] = '\0';
    return out;
}

static void cut(vctx *c, size_t mark)
{
    c->path.len = mark;
    if (c->path.data != NULL)
        c->path.data[mark] = '\0';
}

static size_t enter(vctx *c, const char *name)
{
    size_t mark = c->path.len;
    if (hub_buf_append_byte(&c->path, '/') != 0 || hub_buf_append_jptr(&c->path, name) != 0)
        cut(c, mark);
    return mark;
}

static size_t enter_index(vctx *c, size_t i)
{
    size_t mark = c->path.len;
    if (hub_buf_printf(&c->path, "/%zu", i) != 0)
        cut(c, mark);
    return mark;
}

/* Drops a character that vsnprintf cut short at the end of s, so the text stays UTF-8. */
static void utf8_trim_tail(char *s)
{
    size_t n = strlen(s), p = n, back = 0;
    while (p > 0 && back < 4 && ((unsigned char)s[p - 1] & 0xC0) == 0x80) {
        p--;
        back++;
    }
    if (p == 0 || ((unsigned char)s[p - 1] & 0x80) == 0)
        return;
    unsigned char lead = (unsigned char)s[p - 1];
    size_t want = (lead & 0xE0) == 0xC0 ? 2 : (lead & 0xF0) == 0xE0 ? 3 : 4;
    if (back + 1 < want)
        s[p - 1] = '\0';
}

static void vproblem(vctx *c, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
static void vproblem(vctx *c, const char *fmt, va_list ap)
{
    char msg[400];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    utf8_trim_tail(msg);
    c->bad = 1;
    hub_problems_add(c->out, c->path.data != NULL ? c->path.data : "", "%s", msg);
}

/* A problem at the current pointer. */
static void problem(vctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void problem(vctx *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vproblem(c, fmt, ap);
    va_end(ap);
}

/* A problem at member `name` of the current node. */
static void problem_at(vctx *c, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void problem_at(vctx *c, const char *name, const char *fmt, ...)
{
    size_t mark = enter(c, name);
    va_list ap;
    va_start(ap, fmt);
    vproblem(c, fmt, ap);
    va_end(ap);
    cut(c, mark);
}

static int in_list(const char *s, const char *const *list)
{
    for (size_t i = 0; list[i] != NULL; i++) {
        if (strcmp(s, list[i]) == 0)
            return 1;
    }
    return 0;
}

static void check_unknown(vctx *c, json_t *obj, const char *const *allowed)
{
    const char *k;
    json_t *v;
    char shown[NAME_SHOW + 4];
    json_object_foreach(obj, k, v)
    {
        if (!in_list(k, allowed))
            problem_at(c, k, "unknown member '%s'", show(k, shown));
    }
}

/* 1 when v is a string that is one of list. */
static int string_in(json_t *v, const char *const *list)
{
    return json_is_string(v) && strlen(json_string_value(v)) == json_string_length(v) &&
           in_list(json_string_value(v), list);
}

static int number_in(json_t *v, double lo, double hi)
{
    return json_is_number(v) && json_number_value(v) >= lo && json_number_value(v) <= hi;
}

/* A taxonomy term at the current pointer, optionally required to start with prefix. */
static void check_term(vctx *c, json_t *t, const char *prefix)
{
    hub_error e;
    if (!json_is_string(t)) {
        problem(c, "must be a taxonomy term (a string)");
        return;
    }
    hub_error_init(&e);
    const char *s = json_string_value(t);
    if (hub_term_check(s, json_string_length(t), &e) != 0)
        problem(c, "%s", e.message);
    else if (prefix != NULL && strncmp(s, prefix, strlen(prefix)) != 0)
        problem(c, "must be a %s term", prefix);
    hub_error_clear(&e);
}

/* ---- item members ---------------------------------------------------------------------- */

static void check_key_member(vctx *c, json_t *item, const char *key)
{
    json_t *k = json_object_get(item, "key");
    if (k == NULL)
        return;
    if (!json_is_string(k))
        problem_at(c, "key", "must be a string");
    else if (key != NULL && (json_string_length(k) != strlen(key) ||
                             memcmp(json_string_value(k), key, strlen(key)) != 0))
        problem_at(c, "key", "does not match the key in the URL");
}

static void check_kind_title(vctx *c, json_t *item)
{
    static const char *const kinds[] = {"message", "block", NULL};
    json_t *kind = json_object_get(item, "kind");
    if (kind == NULL)
        problem_at(c, "kind", "required: \"message\" or \"block\"");
    else if (!string_in(kind, kinds))
        problem_at(c, "kind", "must be \"message\" or \"block\"");

    json_t *title = json_object_get(item, "title");
    if (title == NULL)
        problem_at(c, "title", "required: a string of 1 to %d bytes", TITLE_MAX);
    else if (!json_is_string(title) || json_string_length(title) == 0 ||
             json_string_length(title) > TITLE_MAX)
        problem_at(c, "title", "must be a string of 1 to %d bytes", TITLE_MAX);
}

static void check_tags(vctx *c, json_t *item)
{
    json_t *tags = json_object_get(item, "tags");
    if (tags == NULL)
        return;
    size_t mark = enter(c, "tags");
    if (!json_is_array(tags)) {
        problem(c, "must be an array of taxonomy terms");
    } else if (json_array_size(tags) > TAGS_MAX) {
        problem(c, "at most %d tags", TAGS_MAX);
    } else {
        for (size_t i = 0; i < json_array_size(tags); i++) {
            size_t m = enter_index(c, i);
            json_t *t = json_array_get(tags, i);
            check_term(c, t, NULL);
            for (size_t j = 0; j < i && json_is_string(t); j++) {
                if (json_equal(t, json_array_get(tags, j))) {
                    problem(c, "duplicate tag (also at /tags/%zu)", j);
                    break;
                }
            }
            cut(c, m);
        }
    }
    cut(c, mark);
}

static void check_time(vctx *c, json_t *item, const char *name)
{
    json_t *v = json_object_get(item, name);
    int64_t ms;
    if (v == NULL || json_is_null(v))
        return;
    if (!json_is_string(v) || hub_time_parse(json_string_value(v), json_string_length(v), &ms) != 0)
        problem_at(c, name, "must be null or an RFC 3339 time (2027-03-01T09:00:00Z)");
}

/* ---- variants -------------------------------------------------------------------------- */

static int variant_id_ok(json_t *id)
{
    if (!json_is_string(id))
        return 0;
    const char *s = json_string_value(id);
    size_t n = json_string_length(id);
    if (n == 0 || n > HUB_VARIANT_ID_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '_' || ch == '-'))
            return 0;
    }
    return 1;
}

static void check_variant_id(vctx *c, json_t *variants, size_t i)
{
    json_t *id = json_object_get(json_array_get(variants, i), "id");
    char shown[NAME_SHOW + 4];
    if (id == NULL) {
        problem_at(c, "id", "required: 1 to %d characters of A-Z a-z 0-9 _ -", HUB_VARIANT_ID_MAX);
        return;
    }
    if (!variant_id_ok(id)) {
        problem_at(c, "id", "must be 1 to %d characters of A-Z a-z 0-9 _ -", HUB_VARIANT_ID_MAX);
        return;
    }
    for (size_t j = 0; j < i; j++) {
        if (json_equal(id, json_object_get(json_array_get(variants, j), "id"))) {
            problem_at(c, "id", "duplicate variant id '%s' (also /variants/%zu)",
                       show(json_string_value(id), shown), j);
            return;
        }
    }
}

static void check_audience(vctx *c, json_t *aud)
{
    static const char *const members[] = {"any", "all", "none", NULL};
    size_t mark = enter(c, "audience");
    int terms = 0, shape_bad = 0;
    if (!json_is_object(aud)) {
        problem(c, "must be an object with \"any\", \"all\" or \"none\" segment lists");
        cut(c, mark);
        return;
    }
    check_unknown(c, aud, members);
    for (size_t k = 0; members[k] != NULL; k++) {
        json_t *list = json_object_get(aud, members[k]);
        if (list == NULL)
            continue;
        size_t m = enter(c, members[k]);
        if (!json_is_array(list)) {
            problem(c, "must be an array of segment/ terms");
            shape_bad = 1;
        }
        for (size_t i = 0; i < json_array_size(list); i++) {
            size_t mi = enter_index(c, i);
            check_term(c, json_array_get(list, i), "segment/");
            terms++;
            cut(c, mi);
        }
        cut(c, m);
    }
    if (terms == 0 && !shape_bad)
        problem(c, "needs at least one segment/ term in \"any\", \"all\" or \"none\"");
    cut(c, mark);
}

static const hub_field_schema *field_find(const hub_channel_schema *cs, const char *name)
{
    for (size_t i = 0; i < cs->nfields; i++) {
        if (strcmp(cs->fields[i].name, name) == 0)
            return &cs->fields[i];
    }
    return NULL;
}

static void check_field_value(vctx *c, json_t *v, const hub_field_schema *fs)
{
    if (!fs->is_object) {
        if (!json_is_string(v))
            problem(c, "must be a string");
        else if (json_string_length(v) > fs->max_bytes)
            problem(c, "is %zu bytes long; at most %zu bytes", json_string_length(v),
                    fs->max_bytes);
        return;
    }
    if (!json_is_object(v)) {
        problem(c, "must be an object of string values");
        return;
    }
    const char *k;
    json_t *s;
    size_t total = 0;
    json_object_foreach(v, k, s)
    {
        if (!json_is_string(s))
            problem_at(c, k, "must be a string");
        else
            total += strlen(k) + json_string_length(s);
    }
    if (total > fs->max_bytes)
        problem(c, "holds %zu bytes of names and values; at most %zu bytes", total, fs->max_bytes);
}

static void check_channel(vctx *c, json_t *fields, const hub_channel_schema *cs)
{
    const char *f;
    json_t *v;
    char shown[NAME_SHOW + 4];
    if (!json_is_object(fields)) {
        problem(c, "must be an object of %s fields", cs->name);
        return;
    }
    json_object_foreach(fields, f, v)
    {
        size_t m = enter(c, f);
        const hub_field_schema *fs = field_find(cs, f);
        if (fs == NULL)
            problem(c, "unknown field '%s' for channel %s", show(f, shown), cs->name);
        else
            check_field_value(c, v, fs);
        cut(c, m);
    }
}

static void check_locale_key(vctx *c, const char *loc)
{
    char canon[HUB_LOCALE_TAG_MAX];
    hub_error e;
    hub_error_init(&e);
    if (hub_locale_canonicalize(loc, strlen(loc), canon, &e) != 0)
        problem(c, "%s", e.message);
    else if (strcmp(canon, loc) != 0)
        problem(c, "locale must be written in canonical case: '%s'", canon);
    hub_error_clear(&e);
}

static void check_content(vctx *c, json_t *content, const hub_schema_set *schemas)
{
    size_t mark = enter(c, "content");
    const char *loc, *ch;
    json_t *chans, *fields;
    char shown[NAME_SHOW + 4];
    if (content == NULL)
        problem(c, "required: an object keyed by locale");
    else if (!json_is_object(content))
        problem(c, "must be an object keyed by locale");
    json_object_foreach(content, loc, chans)
    {
        size_t ml = enter(c, loc);
        check_locale_key(c, loc);
        if (!json_is_object(chans))
            problem(c, "must be an object keyed by channel");
        json_object_foreach(chans, ch, fields)
        {
            size_t mc = enter(c, ch);
            const hub_channel_schema *cs = hub_schema_find(schemas, ch);
            if (cs == NULL)
                problem(c, "unknown channel '%s'", show(ch, shown));
            else
                check_channel(c, fields, cs);
            cut(c, mc);
        }
        cut(c, ml);
    }
    cut(c, mark);
}

static void check_variant(vctx *c, json_t *variants, size_t i, const hub_schema_set *schemas)
{
    static const char *const members[] = {"id", "weight", "audience", "content", NULL};
    json_t *v = json_array_get(variants, i);
    if (!json_is_object(v)) {
        problem(c, "a variant must be an object");
        return;
    }
    check_unknown(c, v, members);
    check_variant_id(c, variants, i);
    json_t *w = json_object_get(v, "weight");
    if (w != NULL && !number_in(w, 0, WEIGHT_MAX))
        problem_at(c, "weight", "must be a number from 0 to %g", WEIGHT_MAX);
    json_t *aud = json_object_get(v, "audience");
    if (aud != NULL) {
        if (i == 0)
            problem_at(c, "audience", "the base variant (the first) cannot have an audience");
        check_audience(c, aud);
    }
    check_content(c, json_object_get(v, "content"), schemas);
}

static void check_variants(vctx *c, json_t *item, const hub_schema_set *schemas)
{
    json_t *vs = json_object_get(item, "variants");
    size_t mark = enter(c, "variants");
    if (vs == NULL)
        problem(c, "required: a non-empty array of variants (the first is the base)");
    else if (!json_is_array(vs) || json_array_size(vs) == 0)
        problem(c, "must be a non-empty array of variants (the first is the base)");
    else if (json_array_size(vs) > VARIANTS_MAX)
        problem(c, "at most %d variants", VARIANTS_MAX);
    else {
        for (size_t i = 0; i < json_array_size(vs); i++) {
            size_t m = enter_index(c, i);
            check_variant(c, vs, i, schemas);
            cut(c, m);
        }
    }
    cut(c, mark);
}

/* ---- experiment ------------------------------------------------------------------------ */

static int names_variant(json_t *item, json_t *id)
{
    json_t *vs = json_object_get(item, "variants");
    for (size_t i = 0; i < json_array_size(vs); i++) {
        if (json_equal(id, json_object_get(json_array_get(vs, i), "id")))
            return 1;
    }
    return 0;
}

static void check_experiment(vctx *c, json_t *item)
{
    static const char *const members[] = {
        "status", "holdout_percent", "allocation", "winner", "seed", NULL};
    static const char *const statuses[] = {"running", "paused", "concluded", NULL};
    static const char *const allocations[] = {"fixed", "bandit", NULL};
    static const char *const concluded[] = {"concluded", NULL};
    json_t *e = json_object_get(item, "experiment");
    if (e == NULL)
        return;
    size_t mark = enter(c, "experiment");
    if (!json_is_object(e)) {
        problem(c, "must be an object");
        cut(c, mark);
        return;
    }
    check_unknown(c, e, members);
    json_t *status = json_object_get(e, "status");
    if (status != NULL && !string_in(status, statuses))
        problem_at(c, "status", "must be \"running\", \"paused\" or \"concluded\"");
    json_t *h = json_object_get(e, "holdout_percent");
    if (h != NULL && !number_in(h, 0, 100))
        problem_at(c, "holdout_percent", "must be a number from 0 to 100");
    json_t *a = json_object_get(e, "allocation");
    if (a != NULL && !string_in(a, allocations))
        problem_at(c, "allocation", "must be \"fixed\" or \"bandit\"");
    json_t *w = json_object_get(e, "winner");
    if (w != NULL) {
        if (!json_is_string(w) || !names_variant(item, w))
            problem_at(c, "winner", "must be the id of one of the item's variants");
        else if (!string_in(status, concluded))
            problem_at(c, "winner", "a winner is allowed only when status is \"concluded\"");
    }
    json_t *seed = json_object_get(e, "seed");
    if (seed != NULL && (!json_is_string(seed) || json_string_length(seed) == 0 ||
                         json_string_length(seed) > SEED_MAX))
        problem_at(c, "seed", "must be a string of 1 to %d bytes", SEED_MAX);
    cut(c, mark);
}

int hub_item_validate_form(json_t *item, const char *key, const hub_schema_set *schemas,
                           hub_problems *out)
{
    static const char *const members[] = {"key",        "kind",         "title",
                                          "tags",       "variants",     "experiment",
                                          "publish_at", "unpublish_at", NULL};
    vctx c;
    vctx_init(&c, out);
    if (schemas == NULL)
        schemas = hub_content_builtin_schemas();
    if (!json_is_object(item)) {
        problem(&c, "the item must be a JSON object");
    } else {
        check_unknown(&c, item, members);
        check_key_member(&c, item, key);
        check_kind_title(&c, item);
        check_tags(&c, item);
        check_variants(&c, item, schemas);
        check_experiment(&c, item);
        check_time(&c, item, "publish_at");
        check_time(&c, item, "unpublish_at");
    }
    hub_buf_free(&c.path);
    return c.bad ? HUB_EINVAL : 0;
}

/* ---- references ------------------------------------------------------------------------ */

static void refs_terms(vctx *c, hub_txn *txn, json_t *list)
{
    char shown[NAME_SHOW + 4];
    for (size_t i = 0; i < json_array_size(list); i++) {
        json_t *t = json_array_get(list, i);
        /* Malformed terms are the form check's to report; only existence is checked here. */
        if (!json_is_string(t) ||
            hub_term_check(json_string_value(t), json_string_length(t), NULL) != 0 ||
            hub_taxonomy_exists(txn, json_string_value(t)))
            continue;
        size_t m = enter_index(c, i);
        problem(c, "term '%s' does not exist", show(json_string_value(t), shown));
        cut(c, m);
    }
}

static void refs_variant(vctx *c, hub_txn *txn, json_t *v)
{
    static const char *const lists[] = {"any", "all", "none", NULL};
    json_t *aud = json_object_get(v, "audience");
    const char *loc;
    json_t *chans;
    char shown[NAME_SHOW + 4];
    if (json_is_object(aud)) {
        size_t ma = enter(c, "audience");
        for (size_t k = 0; lists[k] != NULL; k++) {
            size_t m = enter(c, lists[k]);
            refs_terms(c, txn, json_object_get(aud, lists[k]));
            cut(c, m);
        }
        cut(c, ma);
    }
    size_t mc = enter(c, "content");
    json_object_foreach(json_object_get(v, "content"), loc, chans)
    {
        char canon[HUB_LOCALE_TAG_MAX];
        int well_formed = hub_locale_canonicalize(loc, strlen(loc), canon, NULL) == 0 &&
                          strcmp(canon, loc) == 0; /* else the form check reported it */
        if (well_formed && !hub_locale_exists(txn, loc))
            problem_at(c, loc, "locale '%s' is not configured", show(loc, shown));
    }
    cut(c, mc);
}

int hub_item_validate_refs(hub_txn *txn, json_t *item, hub_problems *out)
{
    vctx c;
    vctx_init(&c, out);
    size_t m = enter(&c, "tags");
    refs_terms(&c, txn, json_object_get(item, "tags"));
    cut(&c, m);
    json_t *vs = json_object_get(item, "variants");
    m = enter(&c, "variants");
    for (size_t i = 0; i < json_array_size(vs); i++) {
        size_t mi = enter_index(&c, i);
        refs_variant(&c, txn, json_array_get(vs, i));
        cut(&c, mi);
    }
    cut(&c, m);
    hub_buf_free(&c.path);
    return c.bad ? HUB_EINVAL : 0;
}

/* ---- completeness ---------------------------------------------------------------------- */

/* chain(loc) as a reader of exactly loc sees it: loc itself first, even when it is not
 * configured (refs reports that), then its stored or looked-up chain. */
static void chain_for(hub_txn *txn, const char *loc, hub_locale_chain *out)
{
    hub_locale_chain got;
    out->count = 0;
    if (strlen(loc) >= HUB_LOCALE_TAG_MAX)
        return;
    memcpy(out->tags[out->count++], loc, strlen(loc) + 1);
    if (hub_locale_chain_get(txn, loc, &got) != 0)
        return;
    size_t k = (got.count > 0 && strcmp(got.tags[0], loc) == 0) ? 1 : 0;
    for (; k < got.count && out->count < HUB_LOCALE_CHAIN_MAX; k++)
        memcpy(out->tags[out->count++], got.tags[k], HUB_LOCALE_TAG_MAX);
}

/* Channels any variant has content for, in any locale: targeted[k] for schemas->channels[k]. */
static void channels_targeted(json_t *variants, const hub_schema_set *schemas,
                              unsigned char *targeted)
{
    const char *loc, *ch;
    json_t *chans, *fields;
    for (size_t i = 0; i < json_array_size(variants); i++) {
        json_object_foreach(json_object_get(json_array_get(variants, i), "content"), loc, chans)
        {
            json_object_foreach(chans, ch, fields)
            {
                for (size_t k = 0; k < schemas->nchannels; k++)
                    targeted[k] |= strcmp(schemas->channels[k].name, ch) == 0;
            }
        }
    }
}

static void chain_text(const hub_locale_chain *chain, char *out, size_t cap)
{
    size_t n = 0;
    out[0] = '\0';
    for (size_t k = 0; k < chain->count && n < cap; k++) {
        int w = snprintf(out + n, cap - n, "%s%s", k ? ", " : "", chain->tags[k]);
        if (w < 0)
            break;
        n += (size_t)w;
    }
}

typedef struct completeness {
    vctx c;
    json_t *item;
    const hub_schema_set *schemas;
    unsigned char *targeted; /* per schema channel */
} completeness;

/* Problems for every required field of every targeted channel that variant i cannot resolve
 * in loc. */
static void complete_one(completeness *k, size_t i, const char *loc, const hub_locale_chain *chain)
{
    json_t *id = json_object_get(json_array_get(json_object_get(k->item, "variants"), i), "id");
    char shown[NAME_SHOW + 4], shown_loc[NAME_SHOW + 4], chain_s[256];
    chain_text(chain, chain_s, sizeof(chain_s));
    for (size_t ch = 0; ch < k->schemas->nchannels; ch++) {
        const hub_channel_schema *cs = &k->schemas->channels[ch];
        for (size_t f = 0; k->targeted[ch] && f < cs->nfields; f++) {
            if (!cs->fields[f].required ||
                hub_item_resolve_field(k->item, i, chain, cs->name, cs->fields[f].name, NULL, NULL,
                                       NULL) == 0)
                continue;
            size_t m = enter_index(&k->c, i);
            enter(&k->c, "content");
            enter(&k->c, loc);
            enter(&k->c, cs->name);
            enter(&k->c, cs->fields[f].name);
            problem(&k->c,
                    "required field '%s' does not resolve for variant '%s' in locale '%s' "
                    "(chain %s)",
                    cs->fields[f].name, show(json_string_value(id), shown), show(loc, shown_loc),
                    chain_s);
            cut(&k->c, m);
        }
    }
}

/* Chains are looked up once per locale while there are few enough to keep (configured
 * locales are far fewer); past that, once per use. */
#define CHAIN_CACHE_MAX 256

static void complete_all(completeness *k, hub_txn *txn, json_t *locales)
{
    json_t *vs = json_object_get(k->item, "variants");
    size_t nloc = json_object_size(locales);
    hub_locale_chain *cache = nloc <= CHAIN_CACHE_MAX ? calloc(nloc + 1, sizeof(*cache)) : NULL;
    const char *loc;
    json_t *unused;
    size_t li = 0;
    json_object_foreach(locales, loc, unused)
    {
        if (cache != NULL)
            chain_for(txn, loc, &cache[li++]);
    }
    enter(&k->c, "variants");
    for (size_t i = 0; i < json_array_size(vs); i++) {
        li = 0;
        json_object_foreach(locales, loc, unused)
        {
            hub_locale_chain one;
            if (cache == NULL)
                chain_for(txn, loc, &one);
            complete_one(k, i, loc, cache != NULL ? &cache[li++] : &one);
        }
    }
    free(cache);
}

int hub_item_validate_complete(hub_txn *txn, json_t *item, const hub_schema_set *schemas,
                               hub_problems *out)
{
    json_t *vs = json_object_get(item, "variants");
    json_t *locales = json_object(); /* insertion-ordered set of targeted locales */
    const char *loc;
    json_t *chans;
    int rc = 0;
    if (schemas == NULL)
        schemas = hub_content_builtin_schemas();
    completeness k = {.item = item, .schemas = schemas};
    k.targeted = calloc(schemas->nchannels + 1, 1);
    if (locales == NULL || k.targeted == NULL)
        rc = HUB_ENOMEM;
    for (size_t i = 0; rc == 0 && i < json_array_size(vs); i++) {
        json_object_foreach(json_object_get(json_array_get(vs, i), "content"), loc, chans)
        {
            if (json_object_set_new(locales, loc, json_true()) != 0)
                rc = HUB_ENOMEM;
        }
    }
    if (rc == 0) {
        vctx_init(&k.c, out);
        channels_targeted(vs, schemas, k.targeted);
        complete_all(&k, txn, locales);
        hub_buf_free(&k.c.path);
        rc = k.c.bad ? HUB_EINVAL : 0;
    }
    json_decref(locales);
    free(k.targeted);
    return rc;
}

/* ---- merge patch ----------------------------------------------------------------------- */

/* RFC 7396 section 2 on a target we own (stolen; may be NULL): returns the result (owned). */
static json_t *merge_owned(json_t *target, json_t *patch)
{
    const char *k;
    json_t *v;
    if (!json_is_object(patch)) {
        json_decref(target);
        return json_deep_copy(patch);
    }
    if (!json_is_object(target)) {
        json_decref(target);
        target = json_object();
        if (target == NULL)
            return NULL;
    }
    json_object_foreach(patch, k, v)
    {
        if (json_is_null(v)) {
            json_object_del(target, k);
            continue;
        }
        json_t *cur = json_object_get(target, k);
        json_t *merged = merge_owned(json_incref(cur), v);
        if (merged == NULL || json_object_set_new(target, k, merged) != 0) {
            json_decref(target);
            return NULL;
        }
    }
    return target;
}

json_t *hub_json_merge_patch(json_t *target, json_t *patch)
{
    if (patch == NULL)
        return NULL;
    /* Work on a deep copy so the result shares nothing with either input. */
    json_t *copy = json_is_object(patch) && target != NULL ? json_deep_copy(target) : NULL;
    if (json_is_object(patch) && target != NULL && copy == NULL)
        return NULL;
    return merge_owned(copy, patch);
}
