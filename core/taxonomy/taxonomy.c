/*
 * Taxonomy: the six fixed facets, the term grammar, term records and the usage counts read
 * from the tag index that content maintains.
 *
 * Keys in HUB_DB_TERMS are the terms themselves, so a parent sorts before its descendants
 * and "all descendants of T" is the key range with prefix "T/". Keys in HUB_DB_TAG_ITEMS are
 * "term\0item key"; the usage of T is the range "T\0" plus the range "T/".
 */
#include "taxonomy/taxonomy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TERM_SEGMENT_MAX     64
#define TERM_LABEL_MAX       200
#define TERM_DESCRIPTION_MAX 2000

const char *const hub_taxonomy_facets[] = {"journey", "campaign", "product", "channel",
                                           "segment", "action",   NULL};

int hub_taxonomy_is_facet(const char *s, size_t len)
{
    for (size_t i = 0; hub_taxonomy_facets[i] != NULL; i++) {
        if (strlen(hub_taxonomy_facets[i]) == len && memcmp(hub_taxonomy_facets[i], s, len) == 0)
            return 1;
    }
    return 0;
}

static int segment_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
}

static int check_segment(const char *s, size_t n, hub_error *err)
{
    if (n == 0)
        return hub_error_set(err, HUB_EINVAL, "invalid term: empty segment");
    if (n > TERM_SEGMENT_MAX)
        return hub_error_set(err, HUB_EINVAL, "invalid term: a segment is longer than %d bytes",
                             TERM_SEGMENT_MAX);
    if (s[0] == '-' || s[0] == '_' || s[0] == '.')
        return hub_error_set(err, HUB_EINVAL,
                             "invalid term: a segment must start with a letter or digit");
    for (size_t i = 0; i < n; i++) {
        if (!segment_char(s[i]))
            return hub_error_set(err, HUB_EINVAL,
                                 "invalid term: segments may hold only a-z, "
                                 "0-9, '-', '_' and '.'");
    }
    return 0;
}

int hub_term_check(const char *term, size_t len, hub_error *err)
{
    if (term == NULL || len == 0)
        return hub_error_set(err, HUB_EINVAL, "invalid term: empty");
    if (len > HUB_TERM_MAX)
        return hub_error_set(err, HUB_EINVAL, "invalid term: longer than %d bytes", HUB_TERM_MAX);
    const char *slash = memchr(term, '/', len);
    size_t flen = slash ? (size_t)(slash - term) : len;
    if (!hub_taxonomy_is_facet(term, flen))
        return hub_error_set(err, HUB_EINVAL,
                             "invalid term: it must start with a facet "
                             "(journey, campaign, product, channel, segment, "
                             "action) and '/'");
    if (slash == NULL)
        return hub_error_set(err, HUB_EINVAL, "invalid term: a facet alone is not a term");
    size_t pos = flen + 1;
    while (pos <= len) {
        const char *next = memchr(term + pos, '/', len - pos);
        size_t n = next ? (size_t)(next - (term + pos)) : len - pos;
        int rc = check_segment(term + pos, n, err);
        if (rc != 0)
            return rc;
        pos += n + 1;
    }
    return 0;
}

int hub_term_within(const char *term, size_t term_len, const char *prefix, size_t prefix_len)
{
    if (prefix_len == 0 || term_len < prefix_len || memcmp(term, prefix, prefix_len) != 0)
        return 0;
    if (prefix[prefix_len - 1] == '/')
        return term_len > prefix_len;
    return term_len == prefix_len || term[prefix_len] == '/';
}

/* ---- helpers --------------------------------------------------------------------------- */

static void add_problem(hub_error *err, const char *path, const char *msg)
{
    if (err != NULL)
        hub_problems_add(&err->problems, path, "%s", msg);
}

/* 1 if some key of db starts with prefix[0..len). */
static int has_prefix(hub_txn *txn, hub_db db, const char *prefix, size_t len)
{
    hub_cursor *c = NULL;
    hub_slice k, v;
    if (hub_cursor_open(txn, db, &c) != 0)
        return 0;
    int found = hub_cursor_seek(c, (hub_slice){prefix, len}, &k, &v) == 0 && k.len >= len &&
                memcmp(k.base, prefix, len) == 0;
    hub_cursor_close(c);
    return found;
}

/* Builds "term" + suffix (one byte) into buf; 0 or HUB_EINVAL when too long. */
static int with_suffix(char *buf, size_t cap, const char *term, char suffix, size_t *out_len)
{
    size_t n = strlen(term);
    if (n + 2 > cap)
        return HUB_EINVAL;
    memcpy(buf, term, n);
    buf[n] = suffix;
    buf[n + 1] = '\0';
    *out_len = n + 1;
    return 0;
}

static int term_record(hub_txn *txn, const char *term, json_t **out)
{
    hub_slice v;
    *out = NULL;
    int rc = hub_txn_get(txn, HUB_DB_TERMS, hub_slice_cstr(term), &v);
    if (rc != 0)
        return rc;
    *out = json_loadb(v.base, v.len, 0, NULL);
    return *out ? 0 : HUB_EIO;
}

/* ---- writes ---------------------------------------------------------------------------- */

static void check_member(const char *key, json_t *v, int *bad, hub_error *err)
{
    if (strcmp(key, "label") == 0) {
        size_t n = json_is_string(v) ? json_string_length(v) : 0;
        if (n == 0 || n > TERM_LABEL_MAX || strlen(json_string_value(v)) != n) {
            add_problem(err, "/label", "must be a string of 1 to 200 bytes without NUL");
            *bad = 1;
        }
    } else if (strcmp(key, "description") == 0) {
        if (json_is_null(v))
            return;
        size_t n = json_is_string(v) ? json_string_length(v) : 0;
        if (!json_is_string(v) || n > TERM_DESCRIPTION_MAX || strlen(json_string_value(v)) != n) {
            add_problem(err, "/description",
                        "must be a string of at most 2000 bytes without NUL, or null");
            *bad = 1;
        }
    } else {
        hub_buf path;
        hub_buf_init(&path, 256);
        if (hub_buf_append_byte(&path, '/') == 0)
            (void)hub_buf_append_jptr(&path, key);
        add_problem(err, path.data ? path.data : "/", "unknown member");
        hub_buf_free(&path);
        *bad = 1;
    }
}

static int check_body(const char *term, json_t *body, hub_error *err)
{
    int bad = 0;
    if (!json_is_object(body)) {
        add_problem(err, "", "the body must be a JSON object");
        bad = 1;
    } else {
        const char *key;
        json_t *v;
        json_object_foreach(body, key, v)
        {
            check_member(key, v, &bad, err);
        }
        if (json_object_get(body, "label") == NULL) {
            add_problem(err, "/label", "is required");
            bad = 1;
        }
    }
    if (!bad)
        return 0;
    if (err == NULL || err->problems.count == 0)
        return hub_error_set(err, HUB_EINVAL, "invalid term %s", term);
    return hub_error_set(err, HUB_EINVAL, "invalid term %s: %s: %s", term,
                         err->problems.items[0].path, err->problems.items[0].message);
}

int hub_taxonomy_put(hub_txn *txn, const char *term, json_t *body, hub_error *err)
{
    if (term == NULL)
        return hub_error_set(err, HUB_EINVAL, "invalid term: empty");
    size_t len = strlen(term);
    if (hub_taxonomy_is_facet(term, len))
        return hub_error_set(err, HUB_EINVAL, "facet %s is built in and cannot be written", term);
    int rc = hub_term_check(term, len, err);
    if (rc != 0)
        return rc;
    rc = check_body(term, body, err);
    if (rc != 0)
        return rc;
    const char *last = strrchr(term, '/');
    size_t plen = (size_t)(last - term);
    if (!hub_taxonomy_is_facet(term, plen)) {
        hub_slice v;
        if (hub_txn_get(txn, HUB_DB_TERMS, (hub_slice){term, plen}, &v) != 0)
            return hub_error_set(err, HUB_EINVAL,
                                 "parent term %.*s does not exist; create it "
                                 "first",
                                 (int)plen, term);
    }
    json_t *desc = json_object_get(body, "description");
    json_t *rec = json_pack("{s:O, s:O}", "label", json_object_get(body, "label"), "description",
                            desc ? desc : json_null());
    char *text = rec ? json_dumps(rec, JSON_COMPACT) : NULL;
    json_decref(rec);
    if (text == NULL)
        return hub_error_set(err, HUB_ENOMEM, "out of memory");
    rc = hub_txn_put(txn, HUB_DB_TERMS, (hub_slice){term, len}, hub_slice_cstr(text));
    free(text);
    if (rc != 0)
        return hub_error_set(err, rc, "cannot write term %s: %s", term, hub_strerror(rc));
    return 0;
}

int hub_taxonomy_exists(hub_txn *txn, const char *term)
{
    hub_slice v;
    if (term == NULL)
        return 0;
    size_t len = strlen(term);
    if (hub_taxonomy_is_facet(term, len))
        return 1;
    if (hub_term_check(term, len, NULL) != 0)
        return 0;
    return hub_txn_get(txn, HUB_DB_TERMS, (hub_slice){term, len}, &v) == 0;
}

int hub_taxonomy_delete(hub_txn *txn, const char *term, hub_error *err)
{
    char buf[HUB_TERM_MAX + 2];
    size_t blen = 0;
    if (term == NULL)
        return hub_error_set(err, HUB_EINVAL, "invalid term: empty");
    size_t len = strlen(term);
    if (hub_taxonomy_is_facet(term, len))
        return hub_error_set(err, HUB_EINVAL, "facet %s is built in and cannot be deleted", term);
    int rc = hub_term_check(term, len, err);
    if (rc != 0)
        return rc;
    hub_slice v;
    if (hub_txn_get(txn, HUB_DB_TERMS, (hub_slice){term, len}, &v) != 0)
        return hub_error_set(err, HUB_ENOTFOUND, "term %s does not exist", term);
    if (with_suffix(buf, sizeof(buf), term, '/', &blen) == 0 &&
        has_prefix(txn, HUB_DB_TERMS, buf, blen))
        return hub_error_set(err, HUB_EINUSE, "term %s has child terms; delete them first", term);
    int used = has_prefix(txn, HUB_DB_TAG_ITEMS, buf, blen);
    if (!used && with_suffix(buf, sizeof(buf), term, '\0', &blen) == 0)
        used = has_prefix(txn, HUB_DB_TAG_ITEMS, buf, blen);
    if (used)
        return hub_error_set(err, HUB_EINUSE,
                             "term %s is used by items (or its descendants "
                             "are); untag them first",
                             term);
    rc = hub_txn_del(txn, HUB_DB_TERMS, (hub_slice){term, len});
    if (rc != 0)
        return hub_error_set(err, rc, "cannot delete term %s: %s", term, hub_strerror(rc));
    return 0;
}

/* ---- reads ----------------------------------------------------------------------------- */

/* Appends the item keys found under prefix in the tag index to keys (a JSON object used as
 * a set, so items tagged with several descendants count once). */
static int collect_items(hub_txn *txn, const char *prefix, size_t plen, json_t *keys)
{
    hub_cursor *c = NULL;
    hub_slice k, v;
    int rc = hub_cursor_open(txn, HUB_DB_TAG_ITEMS, &c);
    if (rc != 0)
        return rc;
    for (rc = hub_cursor_seek(c, (hub_slice){prefix, plen}, &k, &v); rc == 0;
         rc = hub_cursor_next(c, &k, &v)) {
        if (k.len < plen || memcmp(k.base, prefix, plen) != 0)
            break;
        const char *nul = memchr(k.base, '\0', k.len);
        if (nul == NULL)
            continue;
        size_t off = (size_t)(nul + 1 - k.base);
        /* The object is only a set: its keys are never printed, so no UTF-8 check. */
        if (json_object_setn_new_nocheck(keys, nul + 1, k.len - off, json_true()) != 0) {
            rc = HUB_ENOMEM;
            break;
        }
    }
    if (c != NULL)
        hub_cursor_close(c);
    return rc == HUB_ENOTFOUND ? 0 : rc;
}

static int item_count(hub_txn *txn, const char *term, size_t *out)
{
    char buf[HUB_TERM_MAX + 2];
    size_t blen;
    json_t *keys = json_object();
    int rc = keys ? 0 : HUB_ENOMEM;
    if (rc == 0 && with_suffix(buf, sizeof(buf), term, '\0', &blen) == 0)
        rc = collect_items(txn, buf, blen, keys);
    if (rc == 0 && with_suffix(buf, sizeof(buf), term, '/', &blen) == 0)
        rc = collect_items(txn, buf, blen, keys);
    *out = json_object_size(keys);
    json_decref(keys);
    return rc;
}

/* [{"term","label"}] of the direct children of term (or facet). */
static int children_of(hub_txn *txn, const char *term, json_t **out)
{
    char buf[HUB_TERM_MAX + 2];
    size_t blen;
    hub_cursor *c = NULL;
    hub_slice k, v;
    *out = json_array();
    if (*out == NULL)
        return HUB_ENOMEM;
    if (with_suffix(buf, sizeof(buf), term, '/', &blen) != 0)
        return 0;
    int rc = hub_cursor_open(txn, HUB_DB_TERMS, &c);
    for (rc = rc ? rc : hub_cursor_seek(c, (hub_slice){buf, blen}, &k, &v); rc == 0;
         rc = hub_cursor_next(c, &k, &v)) {
        if (k.len < blen || memcmp(k.base, buf, blen) != 0)
            break;
        if (memchr(k.base + blen, '/', k.len - blen) != NULL)
            continue; /* a grandchild */
        json_t *rec = json_loadb(v.base, v.len, 0, NULL);
        json_t *child = json_pack("{s:s%, s:O}", "term", k.base, k.len, "label",
                                  rec ? json_object_get(rec, "label") : json_null());
        json_decref(rec);
        if (child == NULL || json_array_append_new(*out, child) != 0) {
            rc = HUB_ENOMEM;
            break;
        }
    }
    if (c != NULL)
        hub_cursor_close(c);
    return rc == HUB_ENOTFOUND ? 0 : rc;
}

int hub_taxonomy_get(hub_txn *txn, const char *term, json_t **out)
{
    json_t *rec = NULL, *children = NULL;
    size_t count = 0;
    *out = NULL;
    if (term == NULL)
        return HUB_ENOTFOUND;
    size_t len = strlen(term);
    int facet = hub_taxonomy_is_facet(term, len);
    if (!facet && hub_term_check(term, len, NULL) != 0)
        return HUB_ENOTFOUND;
    int rc = facet ? 0 : term_record(txn, term, &rec);
    if (rc == 0)
        rc = children_of(txn, term, &children);
    if (rc == 0)
        rc = item_count(txn, term, &count);
    if (rc == 0 && facet) {
        *out = json_pack("{s:s, s:s, s:O, s:I}", "term", term, "facet", term, "children", children,
                         "item_count", (json_int_t)count);
    } else if (rc == 0) {
        json_t *d = json_object_get(rec, "description");
        *out = json_pack("{s:s, s:s%, s:O, s:O, s:O, s:I}", "term", term, "facet", term,
                         (size_t)(strchr(term, '/') - term), "label", json_object_get(rec, "label"),
                         "description", d ? d : json_null(), "children", children, "item_count",
                         (json_int_t)count);
    }
    if (rc == 0 && *out == NULL)
        rc = HUB_ENOMEM;
    json_decref(rec);
    json_decref(children);
    return rc;
}

/* Adds one stored term to the tree: under its parent node, or at the facet's top level. */
static int tree_add(json_t *terms, json_t *index, const char *key, size_t klen, json_t *rec)
{
    json_t *d = json_object_get(rec, "description");
    json_t *node =
        json_pack("{s:s%, s:O, s:O, s:[]}", "term", key, klen, "label",
                  json_object_get(rec, "label"), "description", d ? d : json_null(), "children");
    if (node == NULL)
        return HUB_ENOMEM;
    const char *term = json_string_value(json_object_get(node, "term"));
    const char *last = strrchr(term, '/');
    char parent[HUB_TERM_MAX + 1];
    snprintf(parent, sizeof(parent), "%.*s", (int)(last - term), term);
    json_t *pnode = json_object_get(index, parent);
    json_t *list = pnode ? json_object_get(pnode, "children") : terms;
    /* A parent sorts before its children, so it is in the index when it exists; a term whose
     * parent is missing (never written by put) is shown at the top level. */
    if (json_object_set(index, term, node) != 0 || json_array_append_new(list, node) != 0)
        return HUB_ENOMEM;
    return 0;
}

static int tree_facet(hub_txn *txn, const char *facet, json_t **out)
{
    char buf[HUB_TERM_MAX + 2];
    size_t blen;
    hub_cursor *c = NULL;
    hub_slice k, v;
    json_t *terms = json_array(), *index = json_object();
    int rc = terms && index ? hub_cursor_open(txn, HUB_DB_TERMS, &c) : HUB_ENOMEM;
    if (rc == 0)
        rc = with_suffix(buf, sizeof(buf), facet, '/', &blen);
    for (rc = rc ? rc : hub_cursor_seek(c, (hub_slice){buf, blen}, &k, &v); rc == 0;
         rc = hub_cursor_next(c, &k, &v)) {
        if (k.len < blen || memcmp(k.base, buf, blen) != 0)
            break;
        if (k.len > HUB_TERM_MAX)
            continue; /* never written by put; skip rather than fail the whole tree */
        json_t *rec = json_loadb(v.base, v.len, 0, NULL);
        rc = rec ? tree_add(terms, index, k.base, k.len, rec) : HUB_EIO;
        json_decref(rec);
        if (rc != 0)
            break;
    }
    if (c != NULL)
        hub_cursor_close(c);
    json_decref(index);
    *out = NULL;
    if (rc == 0 || rc == HUB_ENOTFOUND) {
        *out = json_pack("{s:s, s:o}", "facet", facet, "terms", terms);
        return *out ? 0 : HUB_ENOMEM;
    }
    json_decref(terms);
    return rc;
}

int hub_taxonomy_tree(hub_txn *txn, json_t **out)
{
    json_t *facets = json_array();
    *out = NULL;
    if (facets == NULL)
        return HUB_ENOMEM;
    for (size_t i = 0; hub_taxonomy_facets[i] != NULL; i++) {
        json_t *f = NULL;
        int rc = tree_facet(txn, hub_taxonomy_facets[i], &f);
        if (rc == 0 && json_array_append_new(facets, f) != 0)
            rc = HUB_ENOMEM;
        if (rc != 0) {
            json_decref(facets);
            return rc;
        }
    }
    *out = json_pack("{s:o}", "facets", facets);
    return *out ? 0 : HUB_ENOMEM;
}
