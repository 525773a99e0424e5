/*
 * content/journeys.c: journeys, the ordered steps a journey engine walks, each naming an
 * item and the channels it is sent on. Stored in HUB_DB_JOURNEYS as
 * {"id","title","steps":[{"id","item","channels"}],"updated_at"}. There are few journeys, so
 * "which journey uses this item" is a scan.
 */
#include "content/content.h"

#include <string.h>

#define STEPS_MAX   50
#define STEP_ID_MAX 64

static int step_id_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > STEP_ID_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

static int item_exists(hub_txn *txn, const char *key)
{
    hub_slice v;
    if (strlen(key) > HUB_ITEM_KEY_MAX || strlen(key) == 0)
        return 0;
    return hub_txn_get(txn, HUB_DB_DRAFTS, hub_slice_cstr(key), &v) == 0 ||
           hub_txn_get(txn, HUB_DB_HEADS, hub_slice_cstr(key), &v) == 0;
}

static void check_channels(const hub_schema_set *schemas, json_t *chs, const char *base,
                           hub_problems *p)
{
    char path[96];
    size_t i, j;
    json_t *c;
    snprintf(path, sizeof(path), "%s/channels", base);
    if (!json_is_array(chs) || json_array_size(chs) == 0) {
        hub_problems_add(p, path, "must be a non-empty array of channel names");
        return;
    }
    json_array_foreach(chs, i, c)
    {
        const char *name = json_string_value(c);
        snprintf(path, sizeof(path), "%s/channels/%zu", base, i);
        if (name == NULL || hub_schema_find(schemas, name) == NULL) {
            hub_problems_add(p, path, "must be a known channel");
            continue;
        }
        for (j = 0; j < i; j++) {
            if (json_equal(c, json_array_get(chs, j))) {
                hub_problems_add(p, path, "repeats channel %s", name);
                break;
            }
        }
    }
}

/* Unknown member paths need the member name: added here, escaped. */
static void unknown_member(hub_problems *p, const char *prefix, const char *name)
{
    hub_buf b;
    hub_buf_init(&b, 512);
    if (hub_buf_append_str(&b, prefix) == 0 && hub_buf_append_byte(&b, '/') == 0 &&
        hub_buf_append_jptr(&b, name) == 0)
        hub_problems_add(p, b.data, "unknown member");
    else
        hub_problems_add(p, prefix, "unknown member");
    hub_buf_free(&b);
}

static void check_step(hub_txn *txn, const hub_schema_set *schemas, json_t *steps, size_t i,
                       hub_problems *p)
{
    char base[32], path[64];
    json_t *step = json_array_get(steps, i), *v;
    const char *m;
    snprintf(base, sizeof(base), "/steps/%zu", i);
    if (!json_is_object(step)) {
        hub_problems_add(p, base, "must be an object");
        return;
    }
    json_object_foreach(step, m, v)
    {
        if (strcmp(m, "id") != 0 && strcmp(m, "item") != 0 && strcmp(m, "channels") != 0)
            unknown_member(p, base, m);
    }
    const char *id = json_string_value(json_object_get(step, "id"));
    snprintf(path, sizeof(path), "%s/id", base);
    if (id == NULL || !step_id_ok(id))
        hub_problems_add(p, path, "must be 1..64 of A-Z a-z 0-9 _ -");
    for (size_t j = 0; id != NULL && j < i; j++) {
        if (json_equal(json_object_get(step, "id"),
                       json_object_get(json_array_get(steps, j), "id")))
            hub_problems_add(p, path, "repeats step id %s", id);
    }
    const char *item = json_string_value(json_object_get(step, "item"));
    snprintf(path, sizeof(path), "%s/item", base);
    if (item == NULL || !item_exists(txn, item))
        hub_problems_add(p, path, "must be the key of an existing item");
    check_channels(schemas, json_object_get(step, "channels"), base, p);
}

static void validate(hub_txn *txn, const hub_schema_set *schemas, const char *id, json_t *body,
                     hub_problems *p)
{
    const char *m;
    json_t *v, *steps;
    if (hub_term_check(id, strlen(id), NULL) != 0 || strncmp(id, "journey/", 8) != 0)
        hub_problems_add(p, "", "the journey id must be a journey/ taxonomy term");
    else if (!hub_taxonomy_exists(txn, id))
        hub_problems_add(p, "", "the taxonomy term %s does not exist", id);
    if (!json_is_object(body)) {
        hub_problems_add(p, "", "must be a JSON object");
        return;
    }
    json_object_foreach(body, m, v)
    {
        /* id and updated_at are what GET returns: accepted back (id must match). */
        if (strcmp(m, "id") == 0 && !(json_is_string(v) && strcmp(json_string_value(v), id) == 0))
            hub_problems_add(p, "/id", "must equal the journey id in the path");
        else if (strcmp(m, "title") && strcmp(m, "steps") && strcmp(m, "id") &&
                 strcmp(m, "updated_at"))
            unknown_member(p, "", m);
    }
    v = json_object_get(body, "title");
    if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > 200)
        hub_problems_add(p, "/title", "must be a string of 1..200 bytes");
    steps = json_object_get(body, "steps");
    if (!json_is_array(steps) || json_array_size(steps) == 0 ||
        json_array_size(steps) > STEPS_MAX) {
        hub_problems_add(p, "/steps", "must be an array of 1..%d steps", STEPS_MAX);
        return;
    }
    for (size_t i = 0; i < json_array_size(steps); i++)
        check_step(txn, schemas, steps, i, p);
}

static json_t *stored_steps(json_t *steps)
{
    size_t i;
    json_t *s, *out = json_array();
    json_array_foreach(steps, i, s)
    {
        json_array_append_new(out, json_pack("{s:O,s:O,s:O}", "id", json_object_get(s, "id"),
                                             "item", json_object_get(s, "item"), "channels",
                                             json_object_get(s, "channels")));
    }
    return out;
}

int hub_journey_put(hub_txn *txn, const hub_content_ctx *cx, const char *id, json_t *body,
                    json_t **out, int *created, hub_error *err)
{
    char now[HUB_TIME_LEN];
    hub_slice old;
    hub_problems local;
    hub_problems *p = err != NULL ? &err->problems : &local;
    const hub_schema_set *schemas =
        cx != NULL && cx->schemas != NULL ? cx->schemas : hub_content_builtin_schemas();
    hub_problems_init(&local);
    validate(txn, schemas, id, body, p);
    if (p->count > 0 || p->dropped > 0) {
        size_t n = p->count + p->dropped;
        hub_problems_clear(&local);
        return hub_error_set(err, HUB_EINVAL, "the journey has %zu problem%s", n,
                             n == 1 ? "" : "s");
    }
    int existed = hub_txn_get(txn, HUB_DB_JOURNEYS, hub_slice_cstr(id), &old) == 0;
    hub_time_format(hub_now_ms(), now);
    json_t *doc =
        json_pack("{s:s,s:O,s:o,s:s}", "id", id, "title", json_object_get(body, "title"), "steps",
                  stored_steps(json_object_get(body, "steps")), "updated_at", now);
    int rc = doc == NULL ? HUB_ENOMEM
                         : hub_content_store_json(txn, HUB_DB_JOURNEYS, hub_slice_cstr(id), doc);
    if (rc == 0)
        rc = hub_audit_append(txn, hub_content_actor_name(cx), "journey.put", "journeys", id, NULL);
    if (rc == 0 && created != NULL)
        *created = !existed;
    if (rc == 0 && out != NULL)
        *out = json_incref(doc);
    json_decref(doc);
    return rc;
}

int hub_journey_get(hub_txn *txn, const char *id, json_t **out)
{
    if (id[0] == '\0' || strlen(id) > HUB_TERM_MAX)
        return HUB_ENOTFOUND;
    return hub_content_load_json(txn, HUB_DB_JOURNEYS, hub_slice_cstr(id), out);
}

int hub_journey_list(hub_txn *txn, json_t **out)
{
    hub_cursor *c;
    hub_slice k, v;
    json_t *arr = json_array();
    int rc = arr == NULL ? HUB_ENOMEM : hub_cursor_open(txn, HUB_DB_JOURNEYS, &c);
    if (rc != 0) {
        json_decref(arr);
        return rc;
    }
    rc = hub_cursor_seek(c, (hub_slice){"", 0}, &k, &v);
    while (rc == 0) {
        json_t *doc = json_loadb(v.base, v.len, 0, NULL);
        if (doc != NULL)
            json_array_append_new(arr, doc);
        rc = hub_cursor_next(c, &k, &v);
    }
    hub_cursor_close(c);
    if (rc != HUB_ENOTFOUND) {
        json_decref(arr);
        return rc;
    }
    *out = arr;
    return 0;
}

int hub_journey_delete(hub_txn *txn, const hub_content_ctx *cx, const char *id)
{
    if (id[0] == '\0' || strlen(id) > HUB_TERM_MAX)
        return HUB_ENOTFOUND;
    int rc = hub_txn_del(txn, HUB_DB_JOURNEYS, hub_slice_cstr(id));
    if (rc == 0)
        rc = hub_audit_append(txn, hub_content_actor_name(cx), "journey.delete", "journeys", id,
                              NULL);
    return rc;
}

int hub_journey_first_user(hub_txn *txn, const char *key, char *out, size_t cap)
{
    hub_cursor *c;
    hub_slice k, v;
    int found = 0;
    if (hub_cursor_open(txn, HUB_DB_JOURNEYS, &c) != 0)
        return 0;
    int rc = hub_cursor_seek(c, (hub_slice){"", 0}, &k, &v);
    while (rc == 0 && !found) {
        size_t i;
        json_t *s, *doc = json_loadb(v.base, v.len, 0, NULL);
        json_array_foreach(json_object_get(doc, "steps"), i, s)
        {
            const char *item = json_string_value(json_object_get(s, "item"));
            found |= item != NULL && strcmp(item, key) == 0;
        }
        json_decref(doc);
        if (found && cap > 0) {
            size_t n = k.len < cap - 1 ? k.len : cap - 1;
            memcpy(out, k.base, n);
            out[n] = '\0';
        }
        if (!found)
            rc = hub_cursor_next(c, &k, &v);
    }
    hub_cursor_close(c);
    return found;
}

int hub_journey_uses_item(hub_txn *txn, const char *key)
{
    char id[HUB_TERM_MAX + 1];
    return hub_journey_first_user(txn, key, id, sizeof(id));
}
