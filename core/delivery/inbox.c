/*
 * delivery/inbox.c: what the web channel delivers to, the on-site and in-app messages of
 * each recipient.
 *
 *   HUB_DB_INBOX      recipient \0 be64 seq -> {"message_id","channel","message" (the
 *                     artifact),"created_ms","read_ms"}
 *   HUB_DB_INBOX_IDS  message id -> recipient \0 be64 seq
 *
 * Writing a message id that is there already keeps the first copy, so a delivery attempt that
 * is repeated after a crash does not show the message twice.
 */
#include <stdio.h>
#include <string.h>

#include "delivery/internal.h"

#define INBOX_KEY_MAX (HUB_RECIPIENT_ID_MAX + 9)

static int recipient_ok(const char *r)
{
    size_t n = r != NULL ? strlen(r) : 0;
    return n > 0 && n <= HUB_RECIPIENT_ID_MAX && hub_utf8_valid(r, n);
}

static size_t inbox_key(const char *recipient, uint64_t seq, unsigned char out[INBOX_KEY_MAX])
{
    size_t n = strlen(recipient);
    memcpy(out, recipient, n);
    out[n] = '\0';
    hub_be64_put(out + n + 1, seq);
    return n + 9;
}

int hub_inbox_put(hub_txn *txn, const char *channel, const char *recipient, const char *message_id,
                  hub_slice body, int64_t now_ms)
{
    hub_slice v;
    unsigned char k[INBOX_KEY_MAX];
    uint64_t seq;
    if (!recipient_ok(recipient) || message_id == NULL || message_id[0] == '\0' ||
        strlen(message_id) > 128)
        return HUB_EINVAL;
    if (hub_txn_get(txn, HUB_DB_INBOX_IDS, hub_slice_cstr(message_id), &v) == 0)
        return 0; /* delivered before */
    json_t *msg = json_loadb(body.base, body.len, 0, NULL);
    if (!json_is_object(msg)) {
        json_decref(msg);
        return HUB_EINVAL;
    }
    int rc = hub_txn_next_seq(txn, "inbox", &seq);
    json_t *rec =
        rc == 0 ? json_pack("{s:s,s:s,s:O,s:I,s:n}", "message_id", message_id, "channel", channel,
                            "message", msg, "created_ms", (json_int_t)now_ms, "read_ms")
                : NULL;
    json_decref(msg);
    char *text = rec != NULL ? json_dumps(rec, JSON_COMPACT) : NULL;
    json_decref(rec);
    if (rc == 0 && text == NULL)
        rc = HUB_ENOMEM;
    size_t kl = rc == 0 ? inbox_key(recipient, seq, k) : 0;
    if (rc == 0)
        rc = hub_txn_put(txn, HUB_DB_INBOX, (hub_slice){(char *)k, kl}, hub_slice_cstr(text));
    if (rc == 0)
        rc = hub_txn_put(txn, HUB_DB_INBOX_IDS, hub_slice_cstr(message_id),
                         (hub_slice){(char *)k, kl});
    free(text);
    return rc;
}

static json_t *message_view(const json_t *rec)
{
    char ts[HUB_TIME_LEN];
    json_t *out =
        json_pack("{s:O,s:O,s:O}", "message_id", json_object_get(rec, "message_id"), "channel",
                  json_object_get(rec, "channel"), "message", json_object_get(rec, "message"));
    if (out == NULL)
        return NULL;
    hub_time_format((int64_t)json_integer_value(json_object_get(rec, "created_ms")), ts);
    json_object_set_new(out, "created_at", json_string(ts));
    const json_t *rd = json_object_get(rec, "read_ms");
    if (json_is_integer(rd)) {
        hub_time_format((int64_t)json_integer_value(rd), ts);
        json_object_set_new(out, "read_at", json_string(ts));
    } else {
        json_object_set_new(out, "read_at", json_null());
    }
    return out;
}

int hub_inbox_list(hub_txn *txn, const char *recipient, const char *channel, size_t limit,
                   json_t **out)
{
    unsigned char k[INBOX_KEY_MAX];
    hub_cursor *c = NULL;
    hub_slice key, v;
    size_t unread = 0;
    if (!recipient_ok(recipient))
        return HUB_EINVAL;
    size_t plen = strlen(recipient) + 1, kl = inbox_key(recipient, UINT64_MAX, k);
    json_t *arr = json_array();
    int rc = arr != NULL ? hub_cursor_open(txn, HUB_DB_INBOX, &c) : HUB_ENOMEM;
    /* Newest first: from just past the recipient's last key, backwards. */
    if (rc == 0) {
        rc = hub_cursor_seek(c, (hub_slice){(char *)k, kl}, &key, &v);
        rc = rc == 0 ? hub_cursor_prev(c, &key, &v) : hub_cursor_last(c, &key, &v);
    }
    for (; rc == 0; rc = hub_cursor_prev(c, &key, &v)) {
        if (key.len != kl || memcmp(key.base, k, plen) != 0)
            break;
        json_t *rec = json_loadb(v.base, v.len, 0, NULL);
        const char *ch = json_string_value(json_object_get(rec, "channel"));
        if (rec != NULL && (channel == NULL || (ch != NULL && strcmp(ch, channel) == 0))) {
            if (!json_is_integer(json_object_get(rec, "read_ms")))
                unread++;
            if (json_array_size(arr) < limit)
                json_array_append_new(arr, message_view(rec));
        }
        json_decref(rec);
    }
    hub_cursor_close(c);
    if (rc != 0 && rc != HUB_ENOTFOUND) {
        json_decref(arr);
        return rc;
    }
    *out = json_pack("{s:s,s:o,s:I}", "recipient", recipient, "messages", arr, "unread",
                     (json_int_t)unread);
    return *out != NULL ? 0 : HUB_ENOMEM;
}

int hub_inbox_mark_read(hub_txn *txn, const char *recipient, const char *message_id, int64_t now_ms,
                        json_t **out)
{
    hub_slice where, v;
    if (!recipient_ok(recipient) || message_id == NULL)
        return HUB_ENOTFOUND;
    int rc = hub_txn_get(txn, HUB_DB_INBOX_IDS, hub_slice_cstr(message_id), &where);
    size_t plen = strlen(recipient) + 1;
    if (rc != 0 || where.len != plen + 8 || memcmp(where.base, recipient, plen) != 0)
        return HUB_ENOTFOUND; /* another recipient's message is not there for this one */
    unsigned char k[INBOX_KEY_MAX];
    memcpy(k, where.base, where.len);
    hub_slice key = {(char *)k, where.len};
    rc = hub_txn_get(txn, HUB_DB_INBOX, key, &v);
    json_t *rec = rc == 0 ? json_loadb(v.base, v.len, 0, NULL) : NULL;
    if (rec == NULL)
        return rc != 0 ? rc : HUB_EIO;
    if (!json_is_integer(json_object_get(rec, "read_ms"))) {
        json_object_set_new(rec, "read_ms", json_integer(now_ms));
        char *text = json_dumps(rec, JSON_COMPACT);
        rc = text != NULL ? hub_txn_put(txn, HUB_DB_INBOX, key, hub_slice_cstr(text)) : HUB_ENOMEM;
        free(text);
    }
    *out = rc == 0 ? message_view(rec) : NULL;
    json_decref(rec);
    return rc != 0 ? rc : *out != NULL ? 0 : HUB_ENOMEM;
}
