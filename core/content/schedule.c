/*
 * content/schedule.c: publish and unpublish at a set time.
 *
 *   HUB_DB_SCHEDULE       be64 at ms, action byte ('p' | 'u'), item key -> {"action","key",
 *                         "at","actor","role","tags"}
 *   HUB_DB_SCHEDULE_KEYS  action byte, item key -> the HUB_DB_SCHEDULE key
 *
 * One pending schedule per item and action; a new one replaces it. Firing deletes the entry
 * in the same transaction as the publish or unpublish it runs, so each fires exactly once,
 * also across restarts. The action runs with the rights of the token that scheduled it (its
 * name, role and tag limits are kept with the entry).
 */
#include <stdio.h>
#include <string.h>

#include "content/content.h"

#define SKEY_MAX (9 + HUB_ITEM_KEY_MAX)

static char action_byte(const char *action)
{
    return strcmp(action, "publish") == 0 ? 'p' : 'u';
}

static size_t sched_key(int64_t at_ms, char action, const char *key, unsigned char out[SKEY_MAX])
{
    size_t n = strlen(key);
    hub_be64_put(out, (uint64_t)(at_ms < 0 ? 0 : at_ms));
    out[8] = (unsigned char)action;
    memcpy(out + 9, key, n);
    return 9 + n;
}

static size_t index_key(char action, const char *key, char out[SKEY_MAX])
{
    size_t n = strlen(key);
    out[0] = action;
    memcpy(out + 1, key, n);
    return n + 1;
}

int hub_schedule_cancel(hub_txn *txn, const char *key, const char *action)
{
    char ik[SKEY_MAX];
    hub_slice old;
    size_t n = index_key(action_byte(action), key, ik);
    int rc = hub_txn_get(txn, HUB_DB_SCHEDULE_KEYS, (hub_slice){ik, n}, &old);
    if (rc != 0)
        return rc;
    unsigned char sk[SKEY_MAX];
    size_t sl = old.len < SKEY_MAX ? old.len : SKEY_MAX;
    memcpy(sk, old.base, sl);
    (void)hub_txn_del(txn, HUB_DB_SCHEDULE, (hub_slice){(char *)sk, sl});
    return hub_txn_del(txn, HUB_DB_SCHEDULE_KEYS, (hub_slice){ik, n});
}

int hub_schedule_put(hub_txn *txn, const hub_principal *actor, const char *key, const char *action,
                     int64_t at_ms, json_t **out)
{
    char at[HUB_TIME_LEN], ik[SKEY_MAX];
    unsigned char sk[SKEY_MAX];
    int rc = hub_schedule_cancel(txn, key, action);
    if (rc != 0 && rc != HUB_ENOTFOUND)
        return rc;
    hub_time_format(at_ms, at);
    json_t *rec = json_pack("{s:s,s:s,s:s,s:s,s:s}", "action", action, "key", key, "at", at,
                            "actor", actor->name, "role", hub_role_name(actor->role));
    if (rec != NULL && actor->ntags > 0) { /* the token's tag limits go with the entry */
        json_t *tags = json_array();
        for (size_t i = 0; i < actor->ntags; i++)
            json_array_append_new(tags, json_string(actor->tags[i]));
        json_object_set_new(rec, "tags", tags);
    }
    char *text = rec != NULL ? json_dumps(rec, JSON_COMPACT) : NULL;
    size_t sl = sched_key(at_ms, action_byte(action), key, sk);
    size_t il = index_key(action_byte(action), key, ik);
    rc = text == NULL
             ? HUB_ENOMEM
             : hub_txn_put(txn, HUB_DB_SCHEDULE, (hub_slice){(char *)sk, sl}, hub_slice_cstr(text));
    if (rc == 0)
        rc = hub_txn_put(txn, HUB_DB_SCHEDULE_KEYS, (hub_slice){ik, il},
                         (hub_slice){(char *)sk, sl});
    free(text);
    if (rc == 0) {
        json_object_set_new(rec, "status", json_string("scheduled"));
        json_object_del(rec, "role");
        json_object_del(rec, "tags");
        *out = json_incref(rec);
    }
    json_decref(rec);
    return rc;
}

int hub_schedule_get(hub_txn *txn, const char *key, json_t **out)
{
    static const char *const actions[] = {"publish", "unpublish"};
    json_t *o = json_pack("{s:s}", "key", key);
    for (size_t a = 0; o != NULL && a < 2; a++) {
        char ik[SKEY_MAX];
        hub_slice where, v;
        size_t n = index_key(action_byte(actions[a]), key, ik);
        json_t *rec = NULL;
        if (hub_txn_get(txn, HUB_DB_SCHEDULE_KEYS, (hub_slice){ik, n}, &where) == 0 &&
            hub_txn_get(txn, HUB_DB_SCHEDULE, where, &v) == 0)
            rec = json_loadb(v.base, v.len, 0, NULL);
        json_object_set_new(o, actions[a],
                            rec != NULL ? json_pack("{s:O,s:O}", "at", json_object_get(rec, "at"),
                                                    "by", json_object_get(rec, "actor"))
                                        : json_null());
        json_decref(rec);
    }
    *out = o;
    return o != NULL ? 0 : HUB_ENOMEM;
}

int hub_schedule_next(hub_txn *txn, int64_t now_ms, hub_buf *due, int64_t *next_ms)
{
    hub_cursor *c = NULL;
    hub_slice k, v;
    *next_ms = -1;
    int rc = hub_cursor_open(txn, HUB_DB_SCHEDULE, &c);
    if (rc == 0)
        rc = hub_cursor_seek(c, (hub_slice){"", 0}, &k, &v);
    if (rc == 0 && k.len > 9) {
        int64_t at = (int64_t)hub_be64_get((const unsigned char *)k.base);
        if (at <= now_ms) {
            hub_buf_reset(due);
            rc = hub_buf_append(due, k.base, k.len);
        } else {
            *next_ms = at;
            rc = HUB_ENOTFOUND;
        }
    } else if (rc == 0) {
        rc = HUB_EIO;
    }
    hub_cursor_close(c);
    return rc;
}

/* Takes the entry under skey out of both indexes; its record into *rec. */
static int take(hub_txn *txn, hub_slice skey, json_t **rec)
{
    hub_slice v;
    char ik[SKEY_MAX];
    int rc = hub_txn_get(txn, HUB_DB_SCHEDULE, skey, &v);
    if (rc != 0)
        return rc; /* fired or replaced meanwhile */
    *rec = json_loadb(v.base, v.len, 0, NULL);
    const char *key = json_string_value(json_object_get(*rec, "key"));
    const char *action = json_string_value(json_object_get(*rec, "action"));
    rc = key != NULL && action != NULL ? hub_txn_del(txn, HUB_DB_SCHEDULE, skey) : HUB_EIO;
    if (rc == 0) {
        size_t n = index_key(action_byte(action), key, ik);
        (void)hub_txn_del(txn, HUB_DB_SCHEDULE_KEYS, (hub_slice){ik, n});
    }
    return rc;
}

int hub_schedule_fire(hub_txn *txn, const hub_content_ctx *base, hub_slice skey, json_t **done,
                      hub_error *err)
{
    json_t *rec = NULL;
    int rc = take(txn, skey, &rec);
    if (rc != 0) {
        json_decref(rec);
        return rc;
    }
    hub_principal actor = {0};
    size_t i;
    json_t *t;
    snprintf(actor.name, sizeof(actor.name), "%s",
             json_string_value(json_object_get(rec, "actor")));
    actor.role = hub_role_parse(json_string_value(json_object_get(rec, "role")));
    json_array_foreach(json_object_get(rec, "tags"), i, t) if (i < HUB_TOKEN_LIMITS_MAX)
    {
        snprintf(actor.tags[i], sizeof(actor.tags[i]), "%s", json_string_value(t));
        actor.ntags = i + 1;
    }
    hub_content_ctx cx = *base;
    cx.actor = &actor;
    const char *key = json_string_value(json_object_get(rec, "key"));
    uint32_t version = 0;
    int publish = strcmp(json_string_value(json_object_get(rec, "action")), "publish") == 0;
    rc = publish ? hub_content_publish(txn, &cx, key, &version, err)
                 : hub_content_unpublish(txn, &cx, key, err);
    if (rc == 0)
        *done = json_pack("{s:O,s:O,s:O,s:I}", "action", json_object_get(rec, "action"), "key",
                          json_object_get(rec, "key"), "by", json_object_get(rec, "actor"),
                          "version", (json_int_t)version);
    json_decref(rec);
    return rc;
}

int hub_schedule_drop(hub_txn *txn, hub_slice skey, const char *reason)
{
    json_t *rec = NULL;
    int rc = take(txn, skey, &rec);
    if (rc == 0) {
        json_t *detail = json_pack("{s:O,s:O,s:s}", "at", json_object_get(rec, "at"), "by",
                                   json_object_get(rec, "actor"), "reason", reason);
        char action[40];
        snprintf(action, sizeof(action), "item.scheduled_%s_failed",
                 json_string_value(json_object_get(rec, "action")));
        rc = hub_audit_append(txn, "scheduler", action, "items",
                              json_string_value(json_object_get(rec, "key")), detail);
        json_decref(detail);
    }
    json_decref(rec);
    return rc;
}
