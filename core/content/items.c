/*
 * content/items.c: drafts. Create or replace a draft with optimistic concurrency (If-Match on
 * "\"r<revision>\""), validation of form and references, and the actor's tag and channel
 * limits; reads of drafts; the paged item list; the tag and locale index in HUB_DB_TAG_ITEMS
 * ("term\0key" and "locale:<tag>\0key" -> "") that taxonomy and locale deletion rely on.
 */
#include "content/content.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define INDEX_KEY_MAX 511

/* Members the hub writes into drafts and versions: ignored on input, never validated. */
static const char *const meta_members[] = {"revision",     "created_at",        "updated_at",
                                           "updated_by",   "published_version", "version",
                                           "published_at", "published_by",      NULL};

/* ---- shared helpers -------------------------------------------------------------------- */

json_t *hub_content_item_copy(json_t *doc)
{
    json_t *c = json_deep_copy(doc);
    if (c == NULL)
        return NULL;
    for (size_t i = 0; meta_members[i] != NULL; i++)
        json_object_del(c, meta_members[i]);
    return c;
}

const char *hub_content_actor_name(const hub_content_ctx *cx)
{
    if (cx == NULL || cx->actor == NULL || cx->actor->name[0] == '\0')
        return "cli";
    return cx->actor->name;
}

int hub_content_load_json(hub_txn *txn, hub_db db, hub_slice key, json_t **out)
{
    hub_slice v;
    json_error_t je;
    int rc = hub_txn_get(txn, db, key, &v);
    if (rc != 0)
        return rc;
    *out = json_loadb(v.base, v.len, 0, &je);
    if (*out == NULL) {
        HUB_LOG_ERROR("content: a stored document is not JSON: %s", je.text);
        return HUB_EIO;
    }
    return 0;
}

int hub_content_store_json(hub_txn *txn, hub_db db, hub_slice key, json_t *doc)
{
    char *s = json_dumps(doc, JSON_COMPACT);
    if (s == NULL)
        return HUB_ENOMEM;
    int rc = hub_txn_put(txn, db, key, (hub_slice){s, strlen(s)});
    free(s);
    return rc;
}

/* ---- tag and locale index -------------------------------------------------------------- */

/* Adds the index terms of doc to set (an object used as a set): its tags and
 * "locale:<tag>" for every locale any variant has content in. */
static void index_collect(json_t *set, json_t *doc)
{
    size_t i;
    json_t *v;
    if (doc == NULL)
        return;
    json_array_foreach(json_object_get(doc, "tags"), i, v)
    {
        if (json_is_string(v))
            json_object_set_new(set, json_string_value(v), json_true());
    }
    json_array_foreach(json_object_get(doc, "variants"), i, v)
    {
        const char *loc;
        json_t *unused;
        json_object_foreach(json_object_get(v, "content"), loc, unused)
        {
            char term[8 + HUB_LOCALE_TAG_MAX];
            if ((size_t)snprintf(term, sizeof(term), "locale:%s", loc) < sizeof(term))
                json_object_set_new(set, term, json_true());
        }
    }
}

static size_t index_key(char out[INDEX_KEY_MAX + 1], const char *term, const char *key)
{
    size_t tl = strlen(term), kl = strlen(key);
    if (tl + 1 + kl > INDEX_KEY_MAX)
        return 0;
    memcpy(out, term, tl);
    out[tl] = '\0';
    memcpy(out + tl + 1, key, kl);
    return tl + 1 + kl;
}

int hub_content_index_update(hub_txn *txn, const char *key, json_t *old_a, json_t *old_b,
                             json_t *new_a, json_t *new_b)
{
    json_t *olds = json_object(), *news = json_object();
    const char *term;
    json_t *unused;
    char buf[INDEX_KEY_MAX + 1];
    int rc = 0;
    if (olds == NULL || news == NULL) {
        rc = HUB_ENOMEM;
        goto out;
    }
    index_collect(olds, old_a);
    index_collect(olds, old_b);
    index_collect(news, new_a);
    index_collect(news, new_b);
    json_object_foreach(olds, term, unused)
    {
        size_t n = index_key(buf, term, key);
        if (n == 0 || json_object_get(news, term) != NULL)
            continue;
        rc = hub_txn_del(txn, HUB_DB_TAG_ITEMS, (hub_slice){buf, n});
        if (rc != 0 && rc != HUB_ENOTFOUND)
            goto out;
        rc = 0;
    }
    json_object_foreach(news, term, unused)
    {
        size_t n = index_key(buf, term, key);
        if (n == 0)
            continue;
        rc = hub_txn_put(txn, HUB_DB_TAG_ITEMS, (hub_slice){buf, n}, (hub_slice){"", 0});
        if (rc != 0)
            goto out;
    }
out:
    json_decref(olds);
    json_decref(news);
    return rc;
}

int hub_content_locale_in_use(hub_txn *txn, const char *tag)
{
    char prefix[16 + HUB_LOCALE_TAG_MAX];
    hub_cursor *c;
    hub_slice k, v;
    int n = snprintf(prefix, sizeof(prefix), "locale:%s", tag);
    if (n < 0 || (size_t)n + 1 >= sizeof(prefix))
        return 0;
    size_t plen = (size_t)n + 1; /* with the NUL separator */
    if (hub_cursor_open(txn, HUB_DB_TAG_ITEMS, &c) != 0)
        return 0;
    int used = hub_cursor_seek(c, (hub_slice){prefix, plen}, &k, &v) == 0 && k.len > plen &&
               memcmp(k.base, prefix, plen) == 0;
    hub_cursor_close(c);
    return used;
}

/* ---- drafts ---------------------------------------------------------------------------- */

int hub_content_get_draft(hub_txn *txn, const char *key, json_t **out)
{
    if (key[0] == '\0' || strlen(key) > HUB_ITEM_KEY_MAX)
        return HUB_ENOTFOUND;
    return hub_content_load_json(txn, HUB_DB_DRAFTS, hub_slice_cstr(key), out);
}

/* 1 if the If-Match list (comma-separated ETags, or "*") names the draft's revision. */
static int if_match_ok(const char *if_match, json_int_t revision)
{
    char etag[40];
    int n = snprintf(etag, sizeof(etag), "\"r%lld\"", (long long)revision);
    const char *p = if_match;
    while (*p != '\0') {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        const char *s = p;
        while (*p != '\0' && *p != ',')
            p++;
        const char *e = p;
        while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        size_t len = (size_t)(e - s);
        if ((len == 1 && *s == '*') || (len == (size_t)n && memcmp(s, etag, len) == 0))
            return 1;
    }
    return 0;
}

static int same(json_t *a, json_t *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    return json_equal(a, b);
}

/* 1 if every difference between two content objects ({locale:{channel:{...}}}) lies in a
 * channel the principal may touch. */
static int content_diff_allowed(const hub_principal *p, json_t *oldc, json_t *newc)
{
    json_t *sides[2] = {oldc, newc};
    for (int s = 0; s < 2; s++) {
        const char *loc;
        json_t *lv;
        json_object_foreach(sides[s], loc, lv)
        {
            json_t *ol = json_object_get(oldc, loc), *nl = json_object_get(newc, loc);
            const char *ch;
            json_t *cv;
            json_object_foreach(lv, ch, cv)
            {
                if (!same(json_object_get(ol, ch), json_object_get(nl, ch)) &&
                    !hub_principal_allows_channel(p, ch))
                    return 0;
            }
        }
    }
    return 1;
}

/* 1 if old (stored draft) and new (stripped copy with "key") differ only inside
 * content.<locale>.<allowed channel>. */
static int channel_diff_allowed(const hub_principal *p, json_t *old, json_t *nw)
{
    json_t *sides[2] = {old, nw};
    for (int s = 0; s < 2; s++) {
        const char *m;
        json_t *v;
        json_object_foreach(sides[s], m, v)
        {
            int is_meta = 0;
            for (size_t i = 0; meta_members[i] != NULL; i++)
                is_meta |= strcmp(m, meta_members[i]) == 0;
            if (!is_meta && strcmp(m, "variants") != 0 &&
                !same(json_object_get(old, m), json_object_get(nw, m)))
                return 0;
        }
    }
    json_t *ov = json_object_get(old, "variants"), *nv = json_object_get(nw, "variants");
    if (json_array_size(ov) != json_array_size(nv))
        return 0;
    for (size_t i = 0; i < json_array_size(ov); i++) {
        json_t *a = json_deep_copy(json_array_get(ov, i));
        json_t *b = json_deep_copy(json_array_get(nv, i));
        int ok =
            a != NULL && b != NULL &&
            content_diff_allowed(p, json_object_get(a, "content"), json_object_get(b, "content"));
        if (ok) {
            json_object_del(a, "content");
            json_object_del(b, "content");
            ok = json_equal(a, b);
        }
        json_decref(a);
        json_decref(b);
        if (!ok)
            return 0;
    }
    return 1;
}

static json_t *tags_or_empty(json_t *doc, json_t *empty)
{
    json_t *t = json_object_get(doc, "tags");
    return json_is_array(t) ? t : empty;
}

/* Tag and channel limits of the actor (NULL: unrestricted). */
static int check_actor(const hub_content_ctx *cx, json_t *old, json_t *nw, hub_error *err)
{
    const hub_principal *p = cx != NULL ? cx->actor : NULL;
    json_t *empty;
    int ok;
    if (p == NULL)
        return 0;
    empty = json_array();
    ok = hub_principal_allows_tags(p, tags_or_empty(nw, empty)) &&
         (old == NULL || hub_principal_allows_tags(p, tags_or_empty(old, empty)));
    json_decref(empty);
    if (!ok)
        return hub_error_set(err, HUB_EFORBIDDEN, "this token may not write items with these tags");
    if (p->nchannels == 0)
        return 0;
    if (old == NULL)
        return hub_error_set(err, HUB_EFORBIDDEN,
                             "a token limited to channels cannot create items");
    if (!channel_diff_allowed(p, old, nw))
        return hub_error_set(err, HUB_EFORBIDDEN,
                             "this token may only change the content of its channels");
    return 0;
}

static int fail_problems(hub_error *err)
{
    size_t n = err->problems.count + err->problems.dropped;
    return hub_error_set(err, HUB_EINVAL, "the item has %zu problem%s", n, n == 1 ? "" : "s");
}

/* Adds the stored metadata to the validated copy. */
static int draft_finish(hub_txn *txn, const hub_content_ctx *cx, const char *key, json_t *d,
                        json_t *old)
{
    char now[HUB_TIME_LEN];
    uint32_t pv;
    json_int_t rev = old != NULL ? json_integer_value(json_object_get(old, "revision")) + 1 : 1;
    json_t *created = old != NULL ? json_object_get(old, "created_at") : NULL;
    hub_time_format(hub_now_ms(), now);
    int published = hub_content_head_version(txn, key, &pv) == 0;
    if (json_object_set_new(d, "revision", json_integer(rev)) != 0 ||
        json_object_set_new(d, "created_at",
                            json_is_string(created) ? json_copy(created) : json_string(now)) ||
        json_object_set_new(d, "updated_at", json_string(now)) != 0 ||
        json_object_set_new(d, "updated_by", json_string(hub_content_actor_name(cx))) != 0 ||
        json_object_set_new(d, "published_version", published ? json_integer(pv) : json_null()))
        return HUB_ENOMEM;
    return 0;
}

/* Checks everything that can refuse the write; on success *out_new is the validated copy. */
static int put_check(hub_txn *txn, const hub_content_ctx *cx, const char *key, json_t *item,
                     json_t *old, const char *if_match, json_t **out_new, hub_error *err)
{
    const hub_schema_set *schemas =
        cx != NULL && cx->schemas != NULL ? cx->schemas : hub_content_builtin_schemas();
    int rc = hub_item_key_check(key, strlen(key), err);
    if (rc != 0)
        return rc;
    if (if_match != NULL) {
        json_int_t rev = json_integer_value(json_object_get(old, "revision"));
        if (old == NULL || !if_match_ok(if_match, rev))
            return hub_error_set(err, HUB_EPRECOND, "If-Match does not match the draft");
    }
    if (!json_is_object(item))
        return hub_error_set(err, HUB_EINVAL, "the item must be a JSON object");
    json_t *nw = hub_content_item_copy(item);
    if (nw == NULL)
        return HUB_ENOMEM;
    if (hub_item_validate_form(nw, key, schemas, &err->problems) != 0) {
        /* List every problem at once: unknown terms and locales too (it copes with any
         * shape and skips what the form check already reported). */
        hub_item_validate_refs(txn, nw, &err->problems);
        json_decref(nw);
        return fail_problems(err);
    }
    if (json_object_set_new(nw, "key", json_string(key)) != 0) {
        json_decref(nw);
        return HUB_ENOMEM;
    }
    rc = check_actor(cx, old, nw, err);
    if (rc == 0 && hub_item_validate_refs(txn, nw, &err->problems) != 0)
        rc = fail_problems(err);
    if (rc != 0) {
        json_decref(nw);
        return rc;
    }
    *out_new = nw;
    return 0;
}

int hub_content_put(hub_txn *txn, const hub_content_ctx *cx, const char *key, json_t *item,
                    const char *if_match, json_t **out_draft, int *created, hub_error *err)
{
    json_t *old = NULL, *nw = NULL, *pub = NULL, *detail = NULL;
    hub_error local;
    hub_error_init(&local);
    if (err == NULL)
        err = &local;
    if (out_draft != NULL)
        *out_draft = NULL;
    int rc = hub_content_get_draft(txn, key, &old);
    if (rc != 0 && rc != HUB_ENOTFOUND)
        goto out;
    rc = put_check(txn, cx, key, item, old, if_match, &nw, err);
    if (rc != 0)
        goto out;
    rc = draft_finish(txn, cx, key, nw, old);
    if (rc == 0)
        rc = hub_content_store_json(txn, HUB_DB_DRAFTS, hub_slice_cstr(key), nw);
    if (rc != 0)
        goto out;
    rc = hub_content_get_published(txn, key, &pub);
    if (rc != 0 && rc != HUB_ENOTFOUND)
        goto out;
    rc = hub_content_index_update(txn, key, old, pub, nw, pub);
    if (rc != 0)
        goto out;
    detail = json_pack("{s:O}", "revision", json_object_get(nw, "revision"));
    rc = hub_audit_append(txn, hub_content_actor_name(cx), "item.put", "items", key, detail);
    if (rc != 0)
        goto out;
    if (created != NULL)
        *created = old == NULL;
    if (out_draft != NULL) {
        *out_draft = nw;
        nw = NULL;
    }
out:
    json_decref(old);
    json_decref(nw);
    json_decref(pub);
    json_decref(detail);
    hub_error_clear(&local);
    return rc;
}

/* ---- list ------------------------------------------------------------------------------ */

/* The summary of key if it passes the filter (new reference), else NULL. */
static json_t *list_match(hub_txn *txn, const hub_item_filter *f, const char *key, json_t *draft)
{
    json_t *pub = NULL, *doc = draft, *out = NULL, *empty = json_array();
    if (f->published_only) {
        if (hub_content_get_published(txn, key, &pub) != 0)
            goto out;
        doc = pub;
    }
    const char *kind = json_string_value(json_object_get(doc, "kind"));
    const char *title = json_string_value(json_object_get(doc, "title"));
    json_t *tags = tags_or_empty(doc, empty);
    if (f->kind != NULL && (kind == NULL || strcmp(kind, f->kind) != 0))
        goto out;
    if (f->q != NULL && f->q[0] != '\0' && (title == NULL || strcasestr(title, f->q) == NULL))
        goto out;
    if (f->viewer != NULL && !hub_principal_allows_tags(f->viewer, tags))
        goto out;
    if (f->tag != NULL) {
        size_t i, tl = strlen(f->tag);
        json_t *t;
        int hit = 0;
        json_array_foreach(tags, i, t)
        {
            const char *s = json_string_value(t);
            hit |= s != NULL && hub_term_within(s, strlen(s), f->tag, tl);
        }
        if (!hit)
            goto out;
    }
    out = json_pack("{s:s,s:O?,s:O?,s:O,s:O?,s:O?,s:O?}", "key", key, "kind",
                    json_object_get(doc, "kind"), "title", json_object_get(doc, "title"), "tags",
                    tags, "revision", json_object_get(draft, "revision"), "published_version",
                    json_object_get(draft, "published_version"), "updated_at",
                    json_object_get(draft, "updated_at"));
out:
    json_decref(pub);
    json_decref(empty);
    return out;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Candidate keys, sorted, for a tag filter: the index entries of the term and its
 * descendants ("product/accounts" must not match "product/accountsX"). */
static int tag_candidates(hub_txn *txn, const char *tag, json_t *out_set)
{
    hub_cursor *c;
    hub_slice k, v;
    size_t tl = strlen(tag);
    int rc = hub_cursor_open(txn, HUB_DB_TAG_ITEMS, &c);
    if (rc != 0)
        return rc;
    rc = hub_cursor_seek(c, (hub_slice){tag, tl}, &k, &v);
    while (rc == 0 && k.len > tl && memcmp(k.base, tag, tl) == 0) {
        const char *nul = memchr(k.base, '\0', k.len);
        if (nul != NULL && (k.base[tl] == '\0' || k.base[tl] == '/')) {
            size_t off = (size_t)(nul - k.base) + 1;
            char key[HUB_ITEM_KEY_MAX + 1];
            if (k.len - off <= HUB_ITEM_KEY_MAX) {
                memcpy(key, k.base + off, k.len - off);
                key[k.len - off] = '\0';
                json_object_set_new(out_set, key, json_true());
            }
        }
        rc = hub_cursor_next(c, &k, &v);
    }
    hub_cursor_close(c);
    return rc == 0 || rc == HUB_ENOTFOUND ? 0 : rc;
}

static int decode_cursor(const char *cursor, char out[HUB_ITEM_KEY_MAX + 1], hub_error *err)
{
    size_t len = strlen(cursor);
    long n = len > 4 * HUB_ITEM_KEY_MAX
                 ? -1
                 : hub_b64url_decode(cursor, len, (unsigned char *)out, HUB_ITEM_KEY_MAX);
    if (n <= 0 || memchr(out, '\0', (size_t)n) != NULL)
        return hub_error_set(err, HUB_EBADREQ, "bad cursor");
    out[n] = '\0';
    if (hub_item_key_check(out, (size_t)n, NULL) != 0)
        return hub_error_set(err, HUB_EBADREQ, "bad cursor");
    return 0;
}

/* Pager state: collects up to limit summaries, notes whether one more matched. */
typedef struct pager {
    json_t *items;
    size_t limit;
    int more;
} pager;

/* Offers key to the page; returns 1 when the scan can stop. */
static int pager_offer(hub_txn *txn, const hub_item_filter *f, pager *pg, const char *key,
                       json_t *draft)
{
    json_t *s = list_match(txn, f, key, draft);
    if (s == NULL)
        return 0;
    if (json_array_size(pg->items) >= pg->limit) {
        json_decref(s);
        pg->more = 1;
        return 1;
    }
    json_array_append_new(pg->items, s);
    return 0;
}

static int list_by_tag(hub_txn *txn, const hub_item_filter *f, const char *after, pager *pg)
{
    json_t *set = json_object();
    const char *k;
    json_t *unused;
    size_t n = 0;
    if (set == NULL)
        return HUB_ENOMEM;
    int rc = tag_candidates(txn, f->tag, set);
    const char **keys = calloc(json_object_size(set) + 1, sizeof(*keys));
    if (rc != 0 || keys == NULL) {
        free(keys);
        json_decref(set);
        return rc != 0 ? rc : HUB_ENOMEM;
    }
    json_object_foreach(set, k, unused) keys[n++] = k;
    qsort(keys, n, sizeof(*keys), cmp_str);
    for (size_t i = 0; i < n && rc == 0; i++) {
        json_t *draft;
        if (after != NULL && strcmp(keys[i], after) <= 0)
            continue;
        if (hub_content_get_draft(txn, keys[i], &draft) != 0)
            continue;
        int stop = pager_offer(txn, f, pg, keys[i], draft);
        json_decref(draft);
        if (stop)
            break;
    }
    free(keys);
    json_decref(set);
    return rc;
}

static int list_all(hub_txn *txn, const hub_item_filter *f, const char *after, pager *pg)
{
    hub_cursor *c;
    hub_slice k, v;
    int rc = hub_cursor_open(txn, HUB_DB_DRAFTS, &c);
    if (rc != 0)
        return rc;
    rc = hub_cursor_seek(c, after != NULL ? hub_slice_cstr(after) : (hub_slice){"", 0}, &k, &v);
    if (rc == 0 && after != NULL && hub_slice_eq(k, after))
        rc = hub_cursor_next(c, &k, &v);
    while (rc == 0) {
        char key[HUB_ITEM_KEY_MAX + 1];
        json_t *draft = k.len <= HUB_ITEM_KEY_MAX ? json_loadb(v.base, v.len, 0, NULL) : NULL;
        if (draft != NULL) {
            memcpy(key, k.base, k.len);
            key[k.len] = '\0';
            /* list_match may read other databases: the borrowed k/v stay valid (no write). */
            int stop = pager_offer(txn, f, pg, key, draft);
            json_decref(draft);
            if (stop)
                break;
        }
        rc = hub_cursor_next(c, &k, &v);
    }
    hub_cursor_close(c);
    return rc == 0 || rc == HUB_ENOTFOUND ? 0 : rc;
}

int hub_content_list(hub_txn *txn, const hub_item_filter *f, const char *cursor, size_t limit,
                     json_t **out_items, char **next_cursor, hub_error *err)
{
    static const hub_item_filter none = {0};
    char after[HUB_ITEM_KEY_MAX + 1];
    pager pg = {json_array(), limit == 0 ? 100 : limit, 0};
    int rc = 0;
    *out_items = NULL;
    *next_cursor = NULL;
    if (pg.items == NULL)
        return HUB_ENOMEM;
    if (f == NULL)
        f = &none;
    if (cursor != NULL)
        rc = decode_cursor(cursor, after, err);
    if (rc != 0)
        goto fail;
    const char *a = cursor != NULL ? after : NULL;
    rc = f->tag != NULL ? list_by_tag(txn, f, a, &pg) : list_all(txn, f, a, &pg);
    if (rc != 0)
        goto fail;
    if (pg.more) {
        const char *last =
            json_string_value(json_object_get(json_array_get(pg.items, pg.limit - 1), "key"));
        size_t len = strlen(last);
        *next_cursor = malloc(4 * ((len + 2) / 3) + 1);
        if (*next_cursor == NULL) {
            rc = HUB_ENOMEM;
            goto fail;
        }
        hub_b64url_encode((const unsigned char *)last, len, *next_cursor);
    }
    *out_items = pg.items;
    return 0;
fail:
    json_decref(pg.items);
    return rc;
}
