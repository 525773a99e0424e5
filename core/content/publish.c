/*
 * content/publish.c: the life of published versions. Publish (validate completely, store an
 * immutable version, materialize the delivery documents), unpublish, delete, rollback, the
 * version list, and re-materialization after locale chains change.
 *
 * Version numbers come from the highest stored version of the key plus one. Versions are
 * only removed when the item is deleted, so a number is never reused while the item lives
 * (unpublish and publish again continue the count).
 */
#include "content/content.h"

#include <stdlib.h>
#include <string.h>

#define VKEY_MAX (HUB_ITEM_KEY_MAX + 5)

static size_t version_key(char out[VKEY_MAX], const char *key, uint32_t n)
{
    size_t kl = strlen(key);
    if (kl > HUB_ITEM_KEY_MAX)
        kl = HUB_ITEM_KEY_MAX;
    memcpy(out, key, kl);
    out[kl] = '\0';
    hub_be32_put((unsigned char *)out + kl + 1, n);
    return kl + 5;
}

static const hub_schema_set *schemas_of(const hub_content_ctx *cx)
{
    return cx != NULL && cx->schemas != NULL ? cx->schemas : hub_content_builtin_schemas();
}

int hub_content_get_published(hub_txn *txn, const char *key, json_t **out)
{
    char vk[VKEY_MAX];
    uint32_t n;
    int rc = hub_content_head_version(txn, key, &n);
    if (rc != 0)
        return rc;
    rc = hub_content_load_json(txn, HUB_DB_VERSIONS, (hub_slice){vk, version_key(vk, key, n)}, out);
    return rc == HUB_ENOTFOUND ? HUB_EIO : rc; /* a head without its version is corrupt */
}

/* Calls fn for every stored version key of `key` (copied, so fn may write). */
static int versions_keys(hub_txn *txn, const char *key, json_t *out_arr)
{
    char prefix[VKEY_MAX];
    size_t plen = version_key(prefix, key, 0) - 4;
    hub_cursor *c;
    hub_slice k, v;
    int rc = hub_cursor_open(txn, HUB_DB_VERSIONS, &c);
    if (rc != 0)
        return rc;
    rc = hub_cursor_seek(c, (hub_slice){prefix, plen}, &k, &v);
    while (rc == 0 && k.len == plen + 4 && memcmp(k.base, prefix, plen) == 0) {
        json_array_append_new(out_arr,
                              json_integer(hub_be32_get((const unsigned char *)k.base + plen)));
        rc = hub_cursor_next(c, &k, &v);
    }
    hub_cursor_close(c);
    return rc == 0 || rc == HUB_ENOTFOUND ? 0 : rc;
}

static int last_version(hub_txn *txn, const char *key, uint32_t *out)
{
    json_t *arr = json_array();
    if (arr == NULL)
        return HUB_ENOMEM;
    int rc = versions_keys(txn, key, arr);
    size_t n = json_array_size(arr);
    *out = n > 0 ? (uint32_t)json_integer_value(json_array_get(arr, n - 1)) : 0;
    json_decref(arr);
    return rc;
}

static int fail_problems(hub_error *err)
{
    size_t n = err->problems.count + err->problems.dropped;
    return hub_error_set(err, HUB_EINVAL, "the item has %zu problem%s", n, n == 1 ? "" : "s");
}

static int check_tags(const hub_content_ctx *cx, json_t *doc, hub_error *err)
{
    json_t *tags = json_object_get(doc, "tags");
    json_t *empty = json_array();
    int ok = cx == NULL || cx->actor == NULL ||
             hub_principal_allows_tags(cx->actor, json_is_array(tags) ? tags : empty);
    json_decref(empty);
    return ok ? 0 : hub_error_set(err, HUB_EFORBIDDEN, "this token may not touch this item");
}

static int load_draft(hub_txn *txn, const char *key, json_t **out, hub_error *err)
{
    int rc = hub_content_get_draft(txn, key, out);
    if (rc == HUB_ENOTFOUND)
        return hub_error_set(err, rc, "no item %s", key);
    return rc;
}

/* Sets the draft's published_version (n, or null when n == 0) without a new revision. */
static int draft_set_published(hub_txn *txn, const char *key, json_t *draft, uint32_t n)
{
    if (json_object_set_new(draft, "published_version", n ? json_integer(n) : json_null()))
        return HUB_ENOMEM;
    return hub_content_store_json(txn, HUB_DB_DRAFTS, hub_slice_cstr(key), draft);
}

static int validate_all(hub_txn *txn, const hub_content_ctx *cx, const char *key, json_t *item,
                        hub_error *err)
{
    const hub_schema_set *schemas = schemas_of(cx);
    int bad = hub_item_validate_form(item, key, schemas, &err->problems) != 0;
    bad |= hub_item_validate_refs(txn, item, &err->problems) != 0;
    if (!bad)
        bad = hub_item_validate_complete(txn, item, schemas, &err->problems) != 0;
    if (!bad && cx->check != NULL) {
        int rc = cx->check(cx->check_ctx, txn, key, item, &err->problems, cx->warnings);
        if (rc != 0 && rc != HUB_EINVAL)
            return hub_error_set(err, rc, "the channel checks could not run: %s", hub_strerror(rc));
        bad = rc != 0;
    }
    return bad ? fail_problems(err) : 0;
}

/* Records a change to how a running experiment assigns (weights, variants, holdout, status,
 * allocation, seed, winner) in the audit log: before and after, with the new version. */
static int audit_experiment(hub_txn *txn, const hub_content_ctx *cx, const char *key, uint32_t n,
                            json_t *old_doc, json_t *new_doc)
{
    hub_buf a, b;
    hub_plan pa, pb;
    hub_buf_init(&a, 1u << 20);
    hub_buf_init(&b, 1u << 20);
    int rc = hub_plan_encode(old_doc, &a);
    if (rc == 0)
        rc = hub_plan_encode(new_doc, &b);
    if (rc == 0)
        rc = hub_plan_decode((hub_slice){a.data, a.len}, &pa);
    if (rc == 0)
        rc = hub_plan_decode((hub_slice){b.data, b.len}, &pb);
    if (rc == 0 && hub_plan_differs(&pa, &pb) &&
        (pa.status == HUB_EXP_RUNNING || pb.status == HUB_EXP_RUNNING)) {
        json_t *d = json_pack("{s:I,s:o,s:o}", "version", (json_int_t)n, "before",
                              hub_plan_json(&pa), "after", hub_plan_json(&pb));
        rc = d == NULL ? HUB_ENOMEM
                       : hub_audit_append(txn, hub_content_actor_name(cx), "experiment.changed",
                                          "items", key, d);
        json_decref(d);
    }
    hub_buf_free(&a);
    hub_buf_free(&b);
    return rc;
}

/* Stores item (stripped of metadata) as the next version of key and makes it the head. */
static int publish_doc(hub_txn *txn, const hub_content_ctx *cx, const char *key, json_t *item,
                       json_t *draft, uint32_t *out_version, hub_error *err)
{
    char vk[VKEY_MAX], now[HUB_TIME_LEN];
    json_t *old_pub = NULL;
    uint32_t n;
    int rc = validate_all(txn, cx, key, item, err);
    if (rc == 0)
        rc = last_version(txn, key, &n);
    if (rc != 0)
        return rc;
    n++;
    hub_time_format(hub_now_ms(), now);
    if (json_object_set_new(item, "version", json_integer(n)) != 0 ||
        json_object_set_new(item, "published_at", json_string(now)) != 0 ||
        json_object_set_new(item, "published_by", json_string(hub_content_actor_name(cx))))
        return HUB_ENOMEM;
    rc = hub_content_store_json(txn, HUB_DB_VERSIONS, (hub_slice){vk, version_key(vk, key, n)},
                                item);
    if (rc == 0) {
        rc = hub_content_get_published(txn, key, &old_pub);
        rc = rc == HUB_ENOTFOUND ? 0 : rc;
    }
    if (rc == 0 && old_pub != NULL)
        rc = audit_experiment(txn, cx, key, n, old_pub, item);
    if (rc == 0)
        rc = hub_content_materialize(txn, schemas_of(cx), key, item);
    if (rc == 0)
        rc = hub_content_index_update(txn, key, draft, old_pub, draft, item);
    if (rc == 0)
        rc = draft_set_published(txn, key, draft, n);
    if (rc == 0)
        rc = hub_changes_append(txn, "item.published", key, n);
    json_decref(old_pub);
    if (rc == 0 && out_version != NULL)
        *out_version = n;
    return rc;
}

static int audit_version(hub_txn *txn, const hub_content_ctx *cx, const char *action,
                         const char *key, uint32_t n, uint32_t from)
{
    json_t *d = from ? json_pack("{s:I,s:I}", "version", (json_int_t)n, "from", (json_int_t)from)
                     : json_pack("{s:I}", "version", (json_int_t)n);
    int rc = hub_audit_append(txn, hub_content_actor_name(cx), action, "items", key, d);
    json_decref(d);
    return rc;
}

/*
 * Publishes a new version of key from its draft (from == 0) or from version `from` (a
 * rollback), audited as `action`.
 */
static int publish_from(hub_txn *txn, const hub_content_ctx *cx, const char *key, uint32_t from,
                        uint32_t *out_version, hub_error *err)
{
    char vk[VKEY_MAX];
    json_t *draft = NULL, *source = NULL, *item = NULL;
    uint32_t n = 0;
    hub_error local;
    hub_error_init(&local);
    if (err == NULL)
        err = &local;
    int rc = load_draft(txn, key, &draft, err);
    if (rc == 0)
        rc = check_tags(cx, draft, err);
    if (rc == 0 && from == 0) {
        source = json_incref(draft);
    } else if (rc == 0) {
        rc = hub_content_load_json(txn, HUB_DB_VERSIONS,
                                   (hub_slice){vk, version_key(vk, key, from)}, &source);
        if (rc == HUB_ENOTFOUND)
            hub_error_set(err, rc, "item %s has no version %u", key, (unsigned)from);
    }
    if (rc == 0) {
        item = hub_content_item_copy(source);
        rc = item == NULL ? HUB_ENOMEM : publish_doc(txn, cx, key, item, draft, &n, err);
    }
    if (rc == 0)
        rc = audit_version(txn, cx, from ? "item.rollback" : "item.publish", key, n, from);
    if (rc == 0 && out_version != NULL)
        *out_version = n;
    json_decref(draft);
    json_decref(source);
    json_decref(item);
    hub_error_clear(&local);
    return rc;
}

int hub_content_publish(hub_txn *txn, const hub_content_ctx *cx, const char *key,
                        uint32_t *out_version, hub_error *err)
{
    return publish_from(txn, cx, key, 0, out_version, err);
}

int hub_content_rollback(hub_txn *txn, const hub_content_ctx *cx, const char *key, uint32_t n,
                         uint32_t *out_version, hub_error *err)
{
    if (n == 0)
        return hub_error_set(err, HUB_ENOTFOUND, "item %s has no version 0", key);
    return publish_from(txn, cx, key, n, out_version, err);
}

int hub_content_unpublish(hub_txn *txn, const hub_content_ctx *cx, const char *key, hub_error *err)
{
    json_t *draft = NULL, *pub = NULL;
    uint32_t n = 0;
    hub_error local;
    hub_error_init(&local);
    if (err == NULL)
        err = &local;
    int rc = load_draft(txn, key, &draft, err);
    if (rc == 0)
        rc = check_tags(cx, draft, err);
    if (rc == 0) {
        rc = hub_content_head_version(txn, key, &n);
        if (rc == HUB_ENOTFOUND)
            hub_error_set(err, rc, "item %s is not published", key);
    }
    if (rc == 0)
        rc = hub_content_get_published(txn, key, &pub);
    if (rc == 0)
        rc = hub_content_unmaterialize(txn, key);
    if (rc == 0)
        rc = hub_content_index_update(txn, key, draft, pub, draft, NULL);
    if (rc == 0)
        rc = draft_set_published(txn, key, draft, 0);
    if (rc == 0)
        rc = hub_changes_append(txn, "item.unpublished", key, n);
    if (rc == 0)
        rc = audit_version(txn, cx, "item.unpublish", key, n, 0);
    json_decref(draft);
    json_decref(pub);
    hub_error_clear(&local);
    return rc;
}

static int delete_versions(hub_txn *txn, const char *key)
{
    char vk[VKEY_MAX];
    size_t i;
    json_t *v, *arr = json_array();
    if (arr == NULL)
        return HUB_ENOMEM;
    int rc = versions_keys(txn, key, arr);
    json_array_foreach(arr, i, v)
    {
        if (rc != 0)
            break;
        size_t len = version_key(vk, key, (uint32_t)json_integer_value(v));
        rc = hub_txn_del(txn, HUB_DB_VERSIONS, (hub_slice){vk, len});
    }
    json_decref(arr);
    return rc;
}

/* 1 if the template text s contains {% render '<key>' %} (either quote, any spacing). */
static int renders(const char *s, const char *key)
{
    size_t kl = strlen(key);
    for (const char *p = strstr(s, "render"); p != NULL; p = strstr(p + 1, "render")) {
        const char *q = p + 6;
        while (*q == ' ' || *q == '\t' || *q == '\n')
            q++;
        if ((*q == '\'' || *q == '"') && strncmp(q + 1, key, kl) == 0 && q[1 + kl] == *q)
            return 1;
    }
    return 0;
}

static int value_renders(json_t *v, const char *key)
{
    const char *k;
    size_t i;
    json_t *x;
    if (json_is_string(v))
        return renders(json_string_value(v), key);
    json_object_foreach(v, k, x)
    {
        if (value_renders(x, key))
            return 1;
    }
    json_array_foreach(v, i, x)
    {
        if (value_renders(x, key))
            return 1;
    }
    return 0;
}

/* The key of a published message that renders block `key` into out: 1, or 0 if none.
 * A scan of every published version: deleting a block is rare. */
static int block_user(hub_txn *txn, const char *key, char out[HUB_ITEM_KEY_MAX + 1])
{
    hub_cursor *c;
    hub_slice k, v;
    json_t *keys = json_array();
    size_t i;
    json_t *kv;
    int found = 0;
    if (keys == NULL || hub_cursor_open(txn, HUB_DB_HEADS, &c) != 0) {
        json_decref(keys);
        return 0;
    }
    int rc = hub_cursor_seek(c, (hub_slice){"", 0}, &k, &v);
    for (; rc == 0; rc = hub_cursor_next(c, &k, &v))
        json_array_append_new(keys, json_stringn(k.base, k.len));
    hub_cursor_close(c);
    json_array_foreach(keys, i, kv)
    {
        json_t *doc;
        const char *other = json_string_value(kv);
        if (found || other == NULL || strcmp(other, key) == 0 ||
            hub_content_get_published(txn, other, &doc) != 0)
            continue;
        found = value_renders(json_object_get(doc, "variants"), key);
        if (found)
            snprintf(out, HUB_ITEM_KEY_MAX + 1, "%s", other);
        json_decref(doc);
    }
    json_decref(keys);
    return found;
}

int hub_content_delete(hub_txn *txn, const hub_content_ctx *cx, const char *key, hub_error *err)
{
    json_t *draft = NULL, *pub = NULL;
    char journey[HUB_TERM_MAX + 1], user[HUB_ITEM_KEY_MAX + 1];
    hub_error local;
    hub_error_init(&local);
    if (err == NULL)
        err = &local;
    int rc = load_draft(txn, key, &draft, err);
    if (rc == 0)
        rc = check_tags(cx, draft, err);
    if (rc == 0 && cx != NULL && cx->actor != NULL && cx->actor->nchannels > 0)
        rc = hub_error_set(err, HUB_EFORBIDDEN, "a token limited to channels cannot delete items");
    if (rc == 0 && hub_journey_first_user(txn, key, journey, sizeof(journey)))
        rc = hub_error_set(err, HUB_EINUSE, "journey %s uses this item", journey);
    if (rc == 0 && json_is_string(json_object_get(draft, "kind")) &&
        strcmp(json_string_value(json_object_get(draft, "kind")), "block") == 0 &&
        block_user(txn, key, user))
        rc = hub_error_set(err, HUB_EINUSE, "published item %s renders this block", user);
    if (rc == 0) {
        rc = hub_content_get_published(txn, key, &pub);
        rc = rc == HUB_ENOTFOUND ? 0 : rc;
    }
    if (rc == 0)
        rc = hub_content_unmaterialize(txn, key);
    if (rc == 0)
        rc = delete_versions(txn, key);
    if (rc == 0)
        rc = hub_assignment_drop_item(txn, hub_slice_cstr(key));
    if (rc == 0) /* the item's translation records (core/translation) go with it */
        rc = hub_txn_del_prefix(txn, HUB_DB_TRANSLATIONS, (hub_slice){key, strlen(key) + 1});
    if (rc == 0)
        rc = hub_content_index_update(txn, key, draft, pub, NULL, NULL);
    if (rc == 0)
        rc = hub_txn_del(txn, HUB_DB_DRAFTS, hub_slice_cstr(key));
    if (rc == 0)
        rc = hub_changes_append(txn, "item.deleted", key, 0);
    if (rc == 0)
        rc = hub_audit_append(txn, hub_content_actor_name(cx), "item.delete", "items", key, NULL);
    json_decref(draft);
    json_decref(pub);
    hub_error_clear(&local);
    return rc;
}

int hub_content_versions(hub_txn *txn, const char *key, json_t **out)
{
    char vk[VKEY_MAX];
    size_t i;
    json_t *v, *nums = json_array(), *list = json_array();
    json_t *draft = NULL;
    int rc = nums == NULL || list == NULL ? HUB_ENOMEM : versions_keys(txn, key, nums);
    if (rc == 0 && json_array_size(nums) == 0)
        rc = hub_content_get_draft(txn, key, &draft); /* ENOTFOUND: no such item */
    for (i = json_array_size(nums); rc == 0 && i-- > 0;) {
        json_t *doc;
        v = json_array_get(nums, i);
        rc = hub_content_load_json(
            txn, HUB_DB_VERSIONS,
            (hub_slice){vk, version_key(vk, key, (uint32_t)json_integer_value(v))}, &doc);
        if (rc != 0)
            break;
        json_array_append_new(list, json_pack("{s:O,s:O?,s:O?,s:O?}", "version", v, "published_at",
                                              json_object_get(doc, "published_at"), "published_by",
                                              json_object_get(doc, "published_by"), "title",
                                              json_object_get(doc, "title")));
        json_decref(doc);
    }
    json_decref(nums);
    json_decref(draft);
    if (rc != 0) {
        json_decref(list);
        return rc;
    }
    *out = list;
    return 0;
}

int hub_content_version_get(hub_txn *txn, const char *key, uint32_t n, json_t **out)
{
    char vk[VKEY_MAX];
    if (strlen(key) > HUB_ITEM_KEY_MAX)
        return HUB_ENOTFOUND;
    return hub_content_load_json(txn, HUB_DB_VERSIONS, (hub_slice){vk, version_key(vk, key, n)},
                                 out);
}

int hub_content_rematerialize_all(hub_txn *txn)
{
    hub_cursor *c;
    hub_slice k, v;
    size_t i;
    json_t *kv, *keys = json_array();
    if (keys == NULL)
        return HUB_ENOMEM;
    int rc = hub_cursor_open(txn, HUB_DB_HEADS, &c);
    if (rc != 0) {
        json_decref(keys);
        return rc;
    }
    /* Collect first: materializing writes, which would invalidate the cursor. */
    rc = hub_cursor_seek(c, (hub_slice){"", 0}, &k, &v);
    while (rc == 0) {
        json_array_append_new(keys, json_stringn(k.base, k.len));
        rc = hub_cursor_next(c, &k, &v);
    }
    hub_cursor_close(c);
    rc = rc == HUB_ENOTFOUND ? 0 : rc;
    json_array_foreach(keys, i, kv)
    {
        json_t *doc;
        const char *key = json_string_value(kv);
        if (rc != 0 || key == NULL)
            break;
        rc = hub_content_get_published(txn, key, &doc);
        if (rc == 0) {
            rc = hub_content_materialize(txn, hub_content_builtin_schemas(), key, doc);
            json_decref(doc);
        }
    }
    json_decref(keys);
    return rc;
}
