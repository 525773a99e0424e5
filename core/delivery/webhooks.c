/*
 * delivery/webhooks.c: subscriptions to the changes feed, delivered as signed HTTP POSTs.
 *
 *   HUB_DB_WEBHOOKS id -> {"id","url","events":[...],"secret","created_at","updated_at"}
 *
 * The change hook (hub_webhooks_on_change) runs inside the transaction of every publish,
 * unpublish and delete, and queues one job per subscribed webhook there: an event exists
 * exactly when its change committed. The job's body is the event,
 *   {"id":"evt-<seq>-<webhook>","type":"item.published","created_at","data":{"seq","key",
 *    "version"}},
 * and each attempt is signed anew (hub_webhook_sign) at the time it is sent, so a receiver
 * can refuse stale timestamps. Retries, backoff and dead-lettering are the queue's.
 */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "delivery/internal.h"

#define URL_MAX      2048
#define SECRET_MIN   16
#define SECRET_MAX   256
#define WEBHOOKS_MAX 100

static const char *const event_names[] = {"item.published", "item.unpublished", "item.deleted",
                                          NULL};

int hub_webhook_id_ok(const char *id)
{
    size_t n = id != NULL ? strlen(id) : 0;
    if (n == 0 || n > HUB_WEBHOOK_ID_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
            return 0;
    }
    return 1;
}

/* The host of an http(s) URL into out (lower case, no port, no userinfo); 0 or -1. */
static int url_host(const char *url, char *out, size_t cap)
{
    char ep[URL_MAX + 16];
    if (hub_transport_endpoint(url, ep, sizeof(ep)) != 0)
        return -1;
    const char *h = strstr(ep, "://") + 3, *end;
    if (*h == '[') { /* [v6]:port */
        end = strchr(h, ']');
        if (end == NULL)
            return -1;
        end++;
    } else {
        end = h + strcspn(h, ":");
    }
    if (end == h || (size_t)(end - h) >= cap)
        return -1;
    memcpy(out, h, (size_t)(end - h));
    out[end - h] = '\0';
    return 0;
}

static void check_url(const json_t *v, const json_t *allowed, hub_problems *p)
{
    const char *url = json_string_value(v);
    char host[300];
    size_t n = url != NULL ? strlen(url) : 0;
    if (url == NULL || n > URL_MAX ||
        (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) ||
        strpbrk(url, " \t\r\n") != NULL || url_host(url, host, sizeof(host)) != 0) {
        hub_problems_add(p, "/url", "required: an http:// or https:// URL of at most %d bytes",
                         URL_MAX);
        return;
    }
    if (allowed == NULL)
        return;
    size_t i;
    json_t *a;
    json_array_foreach(allowed, i, a) if (strcasecmp(json_string_value(a), host) == 0) return;
    hub_problems_add(p, "/url", "the host %.200s is not in webhooks.allowed_hosts", host);
}

static void check_events(const json_t *v, hub_problems *p)
{
    size_t i, k;
    json_t *e;
    if (!json_is_array(v) || json_array_size(v) == 0) {
        hub_problems_add(p, "/events", "required: a non-empty array of event names");
        return;
    }
    json_array_foreach(v, i, e)
    {
        const char *name = json_string_value(e);
        for (k = 0; name != NULL && event_names[k] != NULL; k++)
            if (strcmp(name, event_names[k]) == 0)
                break;
        if (name == NULL || event_names[k] == NULL)
            hub_problems_add(p, "/events",
                             "member %zu: want item.published, item.unpublished or item.deleted",
                             i);
    }
}

static json_t *view(const json_t *rec)
{
    json_t *out = json_deep_copy(rec);
    json_object_del(out, "secret"); /* never read back */
    return out;
}

int hub_webhook_put(hub_txn *txn, const char *id, const json_t *body, const json_t *allowed_hosts,
                    json_t **out, int *created, hub_error *err)
{
    static const char *const members[] = {"url", "events", "secret", NULL};
    const char *k;
    json_t *v, *old = NULL;
    char at[HUB_TIME_LEN];
    if (!hub_webhook_id_ok(id))
        return hub_error_set(err, HUB_ENOTFOUND, "a webhook id is 1 to %d of a-z, 0-9, '-' and '_'",
                             HUB_WEBHOOK_ID_MAX);
    json_object_foreach((json_t *)body, k, v)
    {
        size_t i = 0;
        while (members[i] != NULL && strcmp(members[i], k) != 0)
            i++;
        if (members[i] == NULL)
            hub_problems_add(&err->problems, "", "unknown member '%.64s'", k);
    }
    check_url(json_object_get(body, "url"), allowed_hosts, &err->problems);
    check_events(json_object_get(body, "events"), &err->problems);
    v = json_object_get(body, "secret");
    if (!json_is_string(v) || json_string_length(v) < SECRET_MIN ||
        json_string_length(v) > SECRET_MAX)
        hub_problems_add(&err->problems, "/secret", "required: a string of %d to %d bytes",
                         SECRET_MIN, SECRET_MAX);
    if (err->problems.count > 0)
        return hub_error_set(err, HUB_EINVAL, "the webhook breaks a rule");
    hub_slice cur;
    int exists = hub_txn_get(txn, HUB_DB_WEBHOOKS, hub_slice_cstr(id), &cur) == 0;
    if (exists)
        old = json_loadb(cur.base, cur.len, 0, NULL);
    if (!exists && hub_txn_count(txn, HUB_DB_WEBHOOKS) >= WEBHOOKS_MAX)
        return hub_error_set(err, HUB_EINVAL, "at most %d webhooks", WEBHOOKS_MAX);
    hub_time_format(hub_now_ms(), at);
    const json_t *was = json_object_get(old, "created_at");
    json_t *rec = json_pack("{s:s,s:O,s:O,s:O,s:s,s:s}", "id", id, "url",
                            json_object_get(body, "url"), "events", json_object_get(body, "events"),
                            "secret", json_object_get(body, "secret"), "created_at",
                            json_is_string(was) ? json_string_value(was) : at, "updated_at", at);
    json_decref(old);
    char *text = rec != NULL ? json_dumps(rec, JSON_COMPACT) : NULL;
    int rc = text != NULL
                 ? hub_txn_put(txn, HUB_DB_WEBHOOKS, hub_slice_cstr(id), hub_slice_cstr(text))
                 : HUB_ENOMEM;
    free(text);
    if (rc == 0 && (*out = view(rec)) == NULL)
        rc = HUB_ENOMEM;
    json_decref(rec);
    *created = !exists;
    return rc;
}

int hub_webhook_load(hub_txn *txn, const char *id, json_t **out)
{
    hub_slice v;
    int rc = hub_webhook_id_ok(id) ? hub_txn_get(txn, HUB_DB_WEBHOOKS, hub_slice_cstr(id), &v)
                                   : HUB_ENOTFOUND;
    if (rc != 0)
        return rc;
    *out = json_loadb(v.base, v.len, 0, NULL);
    return *out != NULL ? 0 : HUB_EIO;
}

int hub_webhook_get(hub_txn *txn, const char *id, json_t **out)
{
    json_t *rec = NULL;
    int rc = hub_webhook_load(txn, id, &rec);
    if (rc == 0 && (*out = view(rec)) == NULL)
        rc = HUB_ENOMEM;
    json_decref(rec);
    return rc;
}

int hub_webhook_list(hub_txn *txn, json_t **out)
{
    hub_cursor *c = NULL;
    hub_slice k, v;
    json_t *arr = json_array();
    int rc = arr != NULL ? hub_cursor_open(txn, HUB_DB_WEBHOOKS, &c) : HUB_ENOMEM;
    for (rc = rc == 0 ? hub_cursor_seek(c, (hub_slice){"", 0}, &k, &v) : rc; rc == 0;
         rc = hub_cursor_next(c, &k, &v)) {
        json_t *rec = json_loadb(v.base, v.len, 0, NULL);
        if (rec != NULL)
            json_array_append_new(arr, view(rec));
        json_decref(rec);
    }
    hub_cursor_close(c);
    if (rc != HUB_ENOTFOUND) {
        json_decref(arr);
        return rc;
    }
    *out = arr;
    return 0;
}

int hub_webhook_delete(hub_txn *txn, const char *id)
{
    return hub_webhook_id_ok(id) ? hub_txn_del(txn, HUB_DB_WEBHOOKS, hub_slice_cstr(id))
                                 : HUB_ENOTFOUND;
}

/* ---- events --------------------------------------------------------------------------------- */

static int subscribed(const json_t *hook, const char *type)
{
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(hook, "events"), i,
                       e) if (strcmp(json_string_value(e), type) == 0) return 1;
    return 0;
}

/* Queues the event of one change for one webhook. */
static int queue_event(hub_txn *txn, const json_t *hook, const json_t *change, int64_t now)
{
    char id[96];
    const char *type = json_string_value(json_object_get(change, "type"));
    const char *hid = json_string_value(json_object_get(hook, "id"));
    snprintf(id, sizeof(id), "evt-%lld-%s",
             (long long)json_integer_value(json_object_get(change, "seq")), hid);
    json_t *ev = json_pack("{s:s,s:s,s:O,s:{s:O,s:O,s:O}}", "id", id, "type", type, "created_at",
                           json_object_get(change, "at"), "data", "seq",
                           json_object_get(change, "seq"), "key", json_object_get(change, "key"),
                           "version", json_object_get(change, "version"));
    char *text = ev != NULL ? json_dumps(ev, JSON_COMPACT) : NULL;
    json_decref(ev);
    if (text == NULL)
        return HUB_ENOMEM;
    hub_job_in in = {.channel = HUB_WEBHOOK_CHANNEL,
                     .item = json_string_value(json_object_get(change, "key")),
                     .webhook = hid,
                     .message_id = id,
                     .version = (uint32_t)json_integer_value(json_object_get(change, "version")),
                     .artifact = hub_slice_cstr(text)};
    uint64_t job;
    int rc = hub_job_enqueue(txn, &in, now, &job);
    free(text);
    return rc;
}

int hub_webhooks_on_change(void *ctx, hub_txn *txn, const json_t *change)
{
    hub_cursor *c = NULL;
    hub_slice k, v;
    const char *type = json_string_value(json_object_get(change, "type"));
    int64_t now = hub_now_ms();
    (void)ctx;
    if (type == NULL)
        return HUB_EINVAL;
    int rc = hub_cursor_open(txn, HUB_DB_WEBHOOKS, &c);
    for (rc = rc == 0 ? hub_cursor_seek(c, (hub_slice){"", 0}, &k, &v) : rc; rc == 0;
         rc = hub_cursor_next(c, &k, &v)) {
        json_t *hook = json_loadb(v.base, v.len, 0, NULL);
        int r2 = hook != NULL && subscribed(hook, type) ? queue_event(txn, hook, change, now) : 0;
        json_decref(hook);
        if (r2 != 0) {
            hub_cursor_close(c);
            return r2; /* the change rolls back with its events */
        }
    }
    hub_cursor_close(c);
    return rc == HUB_ENOTFOUND ? 0 : rc;
}

int hub_webhook_sign(const char *secret, const char *event_id, int64_t ts, hub_slice body,
                     char out[HUB_WEBHOOK_SIG_MAX])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    char hex[2 * 32 + 1];
    hub_buf msg;
    hub_buf_init(&msg, SIZE_MAX);
    int rc = hub_buf_printf(&msg, "%s.%lld.", event_id, (long long)ts);
    if (rc == 0)
        rc = hub_buf_append(&msg, body.base, body.len);
    if (rc == 0 && (HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)msg.data,
                         msg.len, md, &mdlen) == NULL ||
                    mdlen != 32))
        rc = HUB_EIO;
    hub_buf_free(&msg);
    if (rc != 0)
        return rc;
    hub_hex(md, 32, hex);
    snprintf(out, HUB_WEBHOOK_SIG_MAX, "t=%lld,v1=%s", (long long)ts, hex);
    return 0;
}
