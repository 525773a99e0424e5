/*
 * content/log.c: the changes feed and the audit log.
 *
 * Changes: HUB_DB_CHANGES be64 seq -> {"seq","type","key","version","at"}, seq from the
 * "changes" counter, so a follower resumes with ?since=<last seq seen>.
 * Audit: HUB_DB_AUDIT be64 seq -> {"seq","at","actor","action","resource","key","detail"},
 * seq from the "audit" counter; when key is given also HUB_DB_AUDIT_KEY "key\0be64 seq" -> ""
 * so the history of one resource is a prefix scan. The audit cursor is the base64url of the
 * be64 seq of the last record returned.
 */
#include "content/content.h"

#include <stdlib.h>
#include <string.h>

#define AKEY_MAX 511

static hub_change_hook change_hook;
static void *change_hook_ctx;

void hub_changes_set_hook(hub_change_hook fn, void *ctx)
{
    change_hook = fn;
    change_hook_ctx = ctx;
}

int hub_changes_append(hub_txn *txn, const char *type, const char *key, uint32_t version)
{
    uint64_t seq;
    unsigned char k[8];
    char at[HUB_TIME_LEN];
    int rc = hub_txn_next_seq(txn, "changes", &seq);
    if (rc != 0)
        return rc;
    hub_time_format(hub_now_ms(), at);
    json_t *rec = json_pack("{s:I,s:s,s:s,s:I,s:s}", "seq", (json_int_t)seq, "type", type, "key",
                            key, "version", (json_int_t)version, "at", at);
    if (rec == NULL)
        return HUB_ENOMEM;
    hub_be64_put(k, seq);
    rc = hub_content_store_json(txn, HUB_DB_CHANGES, (hub_slice){(const char *)k, 8}, rec);
    if (rc == 0 && change_hook != NULL)
        rc = change_hook(change_hook_ctx, txn, rec);
    json_decref(rec);
    return rc;
}

int hub_changes_list(hub_txn *txn, uint64_t since, size_t limit, json_t **out, uint64_t *next)
{
    hub_cursor *c;
    hub_slice k, v;
    unsigned char start[8];
    json_t *arr = json_array();
    uint64_t last = since;
    if (arr == NULL)
        return HUB_ENOMEM;
    int rc = since == UINT64_MAX ? HUB_ENOTFOUND : hub_cursor_open(txn, HUB_DB_CHANGES, &c);
    if (rc == 0) {
        hub_be64_put(start, since + 1);
        rc = hub_cursor_seek(c, (hub_slice){(const char *)start, 8}, &k, &v);
        while (rc == 0 && json_array_size(arr) < limit) {
            json_t *rec = k.len == 8 ? json_loadb(v.base, v.len, 0, NULL) : NULL;
            if (rec != NULL) {
                last = hub_be64_get((const unsigned char *)k.base);
                json_array_append_new(arr, rec);
            }
            rc = hub_cursor_next(c, &k, &v);
        }
        hub_cursor_close(c);
    }
    if (rc != 0 && rc != HUB_ENOTFOUND) {
        json_decref(arr);
        return rc;
    }
    *out = arr;
    if (next != NULL)
        *next = last;
    return 0;
}

static size_t audit_key(char out[AKEY_MAX], const char *key, uint64_t seq)
{
    size_t kl = strlen(key);
    if (kl + 9 > AKEY_MAX)
        return 0;
    memcpy(out, key, kl);
    out[kl] = '\0';
    hub_be64_put((unsigned char *)out + kl + 1, seq);
    return kl + 9;
}

int hub_audit_append(hub_txn *txn, const char *actor, const char *action, const char *resource,
                     const char *key, json_t *detail)
{
    uint64_t seq;
    unsigned char k[8];
    char at[HUB_TIME_LEN], ak[AKEY_MAX];
    int rc = hub_txn_next_seq(txn, "audit", &seq);
    if (rc != 0)
        return rc;
    hub_time_format(hub_now_ms(), at);
    json_t *rec = json_pack("{s:I,s:s,s:s,s:s,s:s,s:s?,s:O?}", "seq", (json_int_t)seq, "at", at,
                            "actor", actor != NULL ? actor : "cli", "action", action, "resource",
                            resource != NULL ? resource : "", "key", key, "detail", detail);
    if (rec == NULL)
        return HUB_ENOMEM;
    if (json_object_get(rec, "detail") == NULL)
        json_object_set_new(rec, "detail", json_null());
    hub_be64_put(k, seq);
    rc = hub_content_store_json(txn, HUB_DB_AUDIT, (hub_slice){(const char *)k, 8}, rec);
    json_decref(rec);
    if (rc != 0 || key == NULL)
        return rc;
    size_t n = audit_key(ak, key, seq);
    if (n == 0) {
        HUB_LOG_WARN("audit: key too long to index (%zu bytes)", strlen(key));
        return 0;
    }
    return hub_txn_put(txn, HUB_DB_AUDIT_KEY, (hub_slice){ak, n}, (hub_slice){"", 0});
}

/* Keeps rec if it passes since_ms; returns 1 to take it (rec owned by the caller). */
static int audit_keep(json_t *rec, int64_t since_ms)
{
    int64_t at;
    const char *s = json_string_value(json_object_get(rec, "at"));
    if (since_ms <= 0)
        return 1;
    return s != NULL && hub_time_parse(s, strlen(s), &at) == 0 && at >= since_ms;
}

typedef struct audit_page {
    json_t *items;
    size_t limit;
    int more;
    uint64_t last;
} audit_page;

/* Offers the record at seq; returns 1 when the page is full and one more matched. */
static int audit_offer(hub_txn *txn, audit_page *pg, uint64_t seq, int64_t since_ms)
{
    unsigned char k[8];
    json_t *rec;
    hub_be64_put(k, seq);
    if (hub_content_load_json(txn, HUB_DB_AUDIT, (hub_slice){(const char *)k, 8}, &rec) != 0)
        return 0;
    int keep = audit_keep(rec, since_ms);
    if (keep && json_array_size(pg->items) >= pg->limit) {
        json_decref(rec);
        pg->more = 1;
        return 1;
    }
    if (keep) {
        json_array_append_new(pg->items, rec);
        pg->last = seq;
    } else {
        json_decref(rec);
    }
    return 0;
}

static int audit_scan(hub_txn *txn, const char *key, int64_t since_ms, uint64_t after,
                      audit_page *pg)
{
    hub_cursor *c;
    hub_slice k, v;
    char start[AKEY_MAX];
    size_t plen = 0, slen;
    int rc = hub_cursor_open(txn, key != NULL ? HUB_DB_AUDIT_KEY : HUB_DB_AUDIT, &c);
    if (rc != 0)
        return rc;
    if (key != NULL) {
        slen = audit_key(start, key, after + 1); /* 0: too long, so never indexed */
        plen = slen > 8 ? slen - 8 : 0;
    } else {
        hub_be64_put((unsigned char *)start, after + 1);
        slen = 8;
    }
    rc = slen == 0 ? HUB_ENOTFOUND : hub_cursor_seek(c, (hub_slice){start, slen}, &k, &v);
    while (rc == 0 && k.len == plen + 8 && memcmp(k.base, start, plen) == 0) {
        uint64_t seq = hub_be64_get((const unsigned char *)k.base + plen);
        if (audit_offer(txn, pg, seq, since_ms))
            break;
        rc = hub_cursor_next(c, &k, &v);
    }
    hub_cursor_close(c);
    return rc == 0 || rc == HUB_ENOTFOUND ? 0 : rc;
}

int hub_audit_list(hub_txn *txn, const char *key, int64_t since_ms, const char *cursor,
                   size_t limit, json_t **out, char **next_cursor, hub_error *err)
{
    uint64_t after = 0;
    audit_page pg = {json_array(), limit == 0 ? 100 : limit, 0, 0};
    *out = NULL;
    *next_cursor = NULL;
    if (pg.items == NULL)
        return HUB_ENOMEM;
    if (key != NULL && key[0] == '\0')
        key = NULL;
    if (cursor != NULL) {
        unsigned char b[9];
        if (strlen(cursor) != 11 || hub_b64url_decode(cursor, 11, b, sizeof(b)) != 8) {
            json_decref(pg.items);
            return hub_error_set(err, HUB_EBADREQ, "bad cursor");
        }
        after = hub_be64_get(b);
    }
    int rc = after == UINT64_MAX ? 0 : audit_scan(txn, key, since_ms, after, &pg);
    if (rc == 0 && pg.more) {
        unsigned char b[8];
        hub_be64_put(b, pg.last);
        *next_cursor = malloc(12);
        if (*next_cursor == NULL)
            rc = HUB_ENOMEM;
        else
            hub_b64url_encode(b, 8, *next_cursor);
    }
    if (rc != 0) {
        json_decref(pg.items);
        return rc;
    }
    *out = pg.items;
    return 0;
}
