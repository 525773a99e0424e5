/*
 * delivery/jobs.c: the durable records of the queue, read and written in the caller's
 * transaction.
 *
 *   HUB_DB_JOBS        be64 id -> {"channel","item","version","variant","locale",
 *                      "journey","step","message_id","recipient","status","attempts",
 *                      "created_ms","first_ms","window_ms" (start of the give-up window),
 *                      "next_ms","done_ms","last_error"} (records written before 0.6 also
 *                      hold "id"; hub_job_load puts it in front either way)
 *   HUB_DB_JOB_BODIES  be64 id -> the artifact text (written once)
 *   HUB_DB_JOB_DUE     be64 next_ms, be64 id -> "" while the job waits (queued or failed)
 *   HUB_DB_JOB_STATUS  status \0 be64 id -> ""
 *   HUB_DB_IDEMPOTENCY key -> 'B', the request hash (64 hex digits), be64 at_ms, be16 n,
 *                      n be64 job ids, then the answer's JSON text with each of its n
 *                      deliveries' "id" left "" (filled from the ids when read). Records
 *                      written before 0.6 are JSON: {"hash","answer","at_ms"}.
 *
 * A job is "queued" (no attempt yet), "failed" (an attempt failed, another is scheduled),
 * "delivered" or "dead" (refused for good, or out of time). "sending" exists only in memory,
 * while a worker holds the job (hub_queue_sending).
 */
#include <stdio.h>
#include <string.h>

#include "delivery/internal.h"

static void id_key(uint64_t id, unsigned char key[8])
{
    hub_be64_put(key, id);
}

static void due_key(int64_t at_ms, uint64_t id, unsigned char key[16])
{
    hub_be64_put(key, (uint64_t)(at_ms < 0 ? 0 : at_ms));
    hub_be64_put(key + 8, id);
}

static size_t status_key(const char *status, uint64_t id, unsigned char key[32])
{
    size_t n = strlen(status);
    memcpy(key, status, n);
    key[n] = '\0';
    hub_be64_put(key + n + 1, id);
    return n + 9;
}

int hub_job_id_parse(const char *s, uint64_t *out)
{
    if (s == NULL || s[0] == '0' || hub_parse_u64(hub_slice_cstr(s), out) != 0 || *out == 0)
        return HUB_ENOTFOUND;
    return 0;
}

json_t *hub_job_id_json(uint64_t id)
{
    char s[24];
    snprintf(s, sizeof(s), "%llu", (unsigned long long)id);
    return json_string(s);
}

static int get_json(hub_txn *txn, hub_db db, hub_slice key, json_t **out)
{
    hub_slice v;
    int rc = hub_txn_get(txn, db, key, &v);
    if (rc != 0)
        return rc;
    *out = json_loadb(v.base, v.len, 0, NULL);
    return *out != NULL ? 0 : HUB_EIO;
}

int hub_job_load(hub_txn *txn, uint64_t id, json_t **out)
{
    unsigned char k[8];
    json_t *rec = NULL;
    id_key(id, k);
    int rc = get_json(txn, HUB_DB_JOBS, (hub_slice){(char *)k, 8}, &rec);
    if (rc != 0)
        return rc;
    *out = json_is_object(rec) ? json_pack("{s:o}", "id", hub_job_id_json(id)) : NULL;
    rc = !json_is_object(rec)                                 ? HUB_EIO
         : *out != NULL && json_object_update(*out, rec) == 0 ? 0
                                                              : HUB_ENOMEM;
    json_decref(rec);
    if (rc != 0) {
        json_decref(*out);
        *out = NULL;
    }
    return rc;
}

int hub_job_record(hub_txn *txn, uint64_t id, hub_slice *out)
{
    unsigned char k[8];
    id_key(id, k);
    return hub_txn_get(txn, HUB_DB_JOBS, (hub_slice){(char *)k, 8}, out);
}

int hub_job_body(hub_txn *txn, uint64_t id, hub_slice *out)
{
    unsigned char k[8];
    id_key(id, k);
    return hub_txn_get(txn, HUB_DB_JOB_BODIES, (hub_slice){(char *)k, 8}, out);
}

static int64_t rec_int(const json_t *rec, const char *name)
{
    return (int64_t)json_integer_value(json_object_get(rec, name));
}

/* Moves the job between status and due indices and stores its record text. */
static int job_store_text(hub_txn *txn, uint64_t id, const char *old_status, int64_t old_due,
                          const char *status, int64_t next_ms, const char *text)
{
    unsigned char k[8], sk[32], dk[16];
    int waiting = strcmp(status, "queued") == 0 || strcmp(status, "failed") == 0;
    int rc = 0;
    id_key(id, k);
    if (old_status != NULL && strcmp(old_status, status) != 0) {
        size_t n = status_key(old_status, id, sk);
        (void)hub_txn_del(txn, HUB_DB_JOB_STATUS, (hub_slice){(char *)sk, n});
    }
    if (old_due >= 0) {
        due_key(old_due, id, dk);
        (void)hub_txn_del(txn, HUB_DB_JOB_DUE, (hub_slice){(char *)dk, 16});
    }
    size_t n = status_key(status, id, sk);
    rc = hub_txn_put(txn, HUB_DB_JOB_STATUS, (hub_slice){(char *)sk, n}, (hub_slice){"", 0});
    if (rc == 0 && waiting) {
        due_key(next_ms, id, dk);
        rc = hub_txn_put(txn, HUB_DB_JOB_DUE, (hub_slice){(char *)dk, 16}, (hub_slice){"", 0});
    }
    return rc != 0 ? rc
                   : hub_txn_put(txn, HUB_DB_JOBS, (hub_slice){(char *)k, 8}, hub_slice_cstr(text));
}

/* job_store_text with the text of rec (without "id", which hub_job_load put in). */
static int job_store(hub_txn *txn, uint64_t id, const char *old_status, int64_t old_due,
                     json_t *rec)
{
    json_object_del(rec, "id");
    char *text = json_dumps(rec, JSON_COMPACT);
    if (text == NULL)
        return HUB_ENOMEM;
    int rc = job_store_text(txn, id, old_status, old_due,
                            json_string_value(json_object_get(rec, "status")),
                            rec_int(rec, "next_ms"), text);
    free(text);
    return rc;
}

char *hub_job_record_text(const hub_job_in *in, int64_t now_ms)
{
    json_t *rec = json_pack(
        "{s:s,s:s,s:I,s:s?,s:s?,s:s?,s:s?,s:s?,s:s,s:O?,s:s,s:i,s:I,s:I}", "channel", in->channel,
        "item", in->item, "version", (json_int_t)in->version, "variant", in->variant, "locale",
        in->locale, "journey", in->journey, "step", in->step, "webhook", in->webhook, "message_id",
        in->message_id, "recipient", in->recipient, "status", "queued", "attempts", 0, "created_ms",
        (json_int_t)now_ms, "next_ms", (json_int_t)now_ms);
    char *text = rec != NULL ? json_dumps(rec, JSON_COMPACT) : NULL;
    json_decref(rec);
    return text;
}

int hub_job_enqueue_text(hub_txn *txn, const char *record, hub_slice artifact, int64_t now_ms,
                         uint64_t *id_out)
{
    uint64_t id;
    unsigned char k[8];
    int rc = hub_txn_next_seq(txn, "delivery", &id);
    if (rc != 0)
        return rc;
    id_key(id, k);
    rc = hub_txn_put(txn, HUB_DB_JOB_BODIES, (hub_slice){(char *)k, 8}, artifact);
    if (rc == 0)
        rc = job_store_text(txn, id, NULL, -1, "queued", now_ms, record);
    if (rc == 0)
        *id_out = id;
    return rc;
}

int hub_job_enqueue(hub_txn *txn, const hub_job_in *in, int64_t now_ms, uint64_t *id_out)
{
    char *text = hub_job_record_text(in, now_ms);
    if (text == NULL)
        return HUB_ENOMEM;
    int rc = hub_job_enqueue_text(txn, text, in->artifact, now_ms, id_out);
    free(text);
    return rc;
}

static hub_delivered_hook delivered_hook;
static void *delivered_ctx;

void hub_jobs_set_delivered_hook(hub_delivered_hook fn, void *ctx)
{
    delivered_hook = fn;
    delivered_ctx = ctx;
}

/* Applies o to rec, the job's record: 0 when it did (old_status and *old_due say where the job
 * was), 1 when the record has moved past this attempt and stays as it is. */
static int settle_record(json_t *rec, const hub_job_outcome *o, char old_status[16],
                         int64_t *old_due)
{
    snprintf(old_status, 16, "%s", json_string_value(json_object_get(rec, "status")));
    int waiting = strcmp(old_status, "queued") == 0 || strcmp(old_status, "failed") == 0;
    /* A job settled meanwhile (retried by hand after a restart, say) keeps its new state. */
    if (!waiting || rec_int(rec, "attempts") != (int64_t)o->attempt - 1)
        return 1;
    *old_due = rec_int(rec, "next_ms");
    const char *status = "delivered";
    int64_t began = o->started_ms > 0 ? o->started_ms : o->now_ms;
    if (json_object_get(rec, "first_ms") == NULL)
        json_object_set_new(rec, "first_ms", json_integer(began));
    /* The give-up window: from the first attempt, or from the last retry by hand. */
    if (json_object_get(rec, "window_ms") == NULL)
        json_object_set_new(rec, "window_ms", json_integer(began));
    json_object_set_new(rec, "attempts", json_integer(o->attempt));
    if (o->result == HUB_DELIVER_RETRY) {
        uint64_t rng = o->rng_seed;
        int64_t next = hub_retry_next(o->policy, o->attempt, rec_int(rec, "window_ms"), o->now_ms,
                                      o->retry_after_ms, &rng);
        status = next < 0 ? "dead" : "failed";
        if (next >= 0)
            json_object_set_new(rec, "next_ms", json_integer(next));
    } else if (o->result != HUB_DELIVER_OK) {
        status = "dead";
    }
    json_object_set_new(rec, "status", json_string(status));
    if (strcmp(status, "failed") != 0)
        json_object_set_new(rec, "done_ms", json_integer(o->now_ms));
    if (o->result != HUB_DELIVER_OK)
        json_object_set_new(rec, "last_error", json_string(o->error[0] ? o->error : "failed"));
    if (strcmp(status, "dead") == 0 && o->result == HUB_DELIVER_RETRY)
        json_object_set_new(rec, "last_error",
                            json_sprintf("gave up after %u attempts: %s", o->attempt,
                                         o->error[0] ? o->error : "failed"));
    return 0;
}

void hub_job_settle_prepare(hub_job_outcome *o, hub_buf *seen, json_t *rec)
{
    char old_status[16];
    int64_t old_due = -1;
    char *text = NULL;
    hub_job_settle_release(o);
    if (json_is_object(rec) && settle_record(rec, o, old_status, &old_due) == 0 &&
        (text = json_dumps(rec, JSON_COMPACT)) != NULL) {
        o->seen = *seen;
        hub_buf_init(seen, SIZE_MAX); /* its memory is o's now */
        o->settled = rec;
        o->settled_text = text;
        snprintf(o->old_status, sizeof(o->old_status), "%s", old_status);
        o->old_due = old_due;
        return;
    }
    json_decref(rec);
    hub_buf_free(seen);
}

void hub_job_settle_release(hub_job_outcome *o)
{
    if (o->settled_text == NULL)
        return;
    json_decref(o->settled);
    free(o->settled_text);
    hub_buf_free(&o->seen);
    o->settled = NULL;
    o->settled_text = NULL;
}

/* Stores a settled rec (and tells the delivered hook). */
static int settle_store(hub_txn *txn, uint64_t id, const char *old_status, int64_t old_due,
                        json_t *rec, const char *text, int64_t now_ms)
{
    const char *status = json_string_value(json_object_get(rec, "status"));
    int rc = text != NULL ? job_store_text(txn, id, old_status, old_due, status,
                                           rec_int(rec, "next_ms"), text)
                          : job_store(txn, id, old_status, old_due, rec);
    if (rc == 0 && delivered_hook != NULL && strcmp(status, "delivered") == 0)
        rc = delivered_hook(delivered_ctx, txn, rec, now_ms);
    return rc;
}

int hub_job_settle(hub_txn *txn, const hub_job_outcome *o)
{
    unsigned char k[8];
    hub_slice stored;
    id_key(o->id, k);
    int rc = hub_txn_get(txn, HUB_DB_JOBS, (hub_slice){(char *)k, 8}, &stored);
    if (rc != 0)
        return rc;
    /* Prepared by the worker from what it read, and nothing has changed the job since. */
    if (o->settled_text != NULL && stored.len == o->seen.len &&
        memcmp(stored.base, o->seen.data, stored.len) == 0)
        return settle_store(txn, o->id, o->old_status, o->old_due, o->settled, o->settled_text,
                            o->now_ms);
    json_t *rec = json_loadb(stored.base, stored.len, 0, NULL);
    if (rec == NULL)
        return HUB_EIO;
    char old_status[16];
    int64_t old_due = -1;
    rc = settle_record(rec, o, old_status, &old_due) != 0
             ? 0
             : settle_store(txn, o->id, old_status, old_due, rec, NULL, o->now_ms);
    json_decref(rec);
    return rc;
}

int hub_job_retry(hub_txn *txn, uint64_t id, int64_t now_ms)
{
    json_t *rec = NULL;
    int rc = hub_job_load(txn, id, &rec);
    if (rc != 0)
        return rc;
    const char *st = json_string_value(json_object_get(rec, "status"));
    char old_status[16];
    snprintf(old_status, sizeof(old_status), "%s", st);
    if (strcmp(st, "dead") != 0 && strcmp(st, "failed") != 0) {
        json_decref(rec);
        return HUB_EEXISTS;
    }
    int64_t old_due = strcmp(st, "failed") == 0 ? rec_int(rec, "next_ms") : -1;
    /* A fresh window: the give-up deadline counts from the next attempt. */
    json_object_del(rec, "window_ms");
    json_object_del(rec, "done_ms");
    json_object_set_new(rec, "status", json_string("queued"));
    json_object_set_new(rec, "next_ms", json_integer(now_ms));
    rc = job_store(txn, id, old_status, old_due, rec);
    json_decref(rec);
    return rc;
}

/* ---- the API's view ------------------------------------------------------------------------ */

static void set_time(json_t *out, const char *name, const json_t *rec, const char *ms_name)
{
    const json_t *v = json_object_get(rec, ms_name);
    char ts[HUB_TIME_LEN];
    if (!json_is_integer(v)) {
        json_object_set_new(out, name, json_null());
        return;
    }
    hub_time_format((int64_t)json_integer_value(v), ts);
    json_object_set_new(out, name, json_string(ts));
}

json_t *hub_job_view(const json_t *rec, int sending)
{
    static const char *const copied[] = {"id",       "channel",    "item", "version", "variant",
                                         "locale",   "journey",    "step", "webhook", "message_id",
                                         "attempts", "last_error", NULL};
    json_t *out = json_object();
    if (out == NULL)
        return NULL;
    for (size_t i = 0; copied[i] != NULL; i++) {
        json_t *v = json_object_get(rec, copied[i]);
        json_object_set(out, copied[i], v != NULL ? v : json_null());
    }
    const char *st = json_string_value(json_object_get(rec, "status"));
    int waiting = st != NULL && (strcmp(st, "queued") == 0 || strcmp(st, "failed") == 0);
    json_object_set_new(out, "status", json_string(sending && waiting ? "sending" : st));
    json_t *rid = json_object_get(json_object_get(rec, "recipient"), "id");
    json_object_set(out, "recipient", rid != NULL ? rid : json_null());
    set_time(out, "created_at", rec, "created_ms");
    set_time(out, "first_attempt_at", rec, "first_ms");
    if (waiting)
        set_time(out, "next_attempt_at", rec, "next_ms");
    else
        json_object_set_new(out, "next_attempt_at", json_null());
    set_time(out, "finished_at", rec, "done_ms");
    return out;
}

int hub_job_list(hub_txn *txn, const char *status, uint64_t after, size_t limit,
                 int (*skip)(void *ctx, uint64_t id), void *ctx, json_t **out, uint64_t *last)
{
    unsigned char sk[32];
    hub_cursor *c = NULL;
    hub_slice k, v;
    size_t n = status_key(status, after + 1, sk), plen = strlen(status) + 1;
    *last = 0;
    json_t *arr = json_array();
    int rc = arr != NULL ? hub_cursor_open(txn, HUB_DB_JOB_STATUS, &c) : HUB_ENOMEM;
    if (rc == 0)
        rc = hub_cursor_seek(c, (hub_slice){(char *)sk, n}, &k, &v);
    for (; rc == 0 && json_array_size(arr) < limit; rc = hub_cursor_next(c, &k, &v)) {
        if (k.len != n || memcmp(k.base, sk, plen) != 0)
            break;
        uint64_t id = hub_be64_get((const unsigned char *)k.base + plen);
        json_t *rec = NULL;
        if ((skip != NULL && skip(ctx, id)) || hub_job_load(txn, id, &rec) != 0)
            continue;
        json_array_append_new(arr, hub_job_view(rec, 0));
        json_decref(rec);
        *last = id;
    }
    hub_cursor_close(c);
    if (rc != 0 && rc != HUB_ENOTFOUND) {
        json_decref(arr);
        return rc;
    }
    if (json_array_size(arr) < limit)
        *last = 0; /* no further page */
    *out = arr;
    return 0;
}

size_t hub_job_waiting(hub_txn *txn)
{
    return hub_txn_count(txn, HUB_DB_JOB_DUE);
}

/* ---- idempotency -------------------------------------------------------------------------- */

#define IDEM_TAG      'B'
#define IDEM_HASH_HEX 64 /* the request's SHA-256 in hex */
#define IDEM_HEAD     (1 + IDEM_HASH_HEX + 8 + 2)

/* A stored idempotency record, either layout: its hash and time, and its answer (a new
 * reference, NULL when the answer cannot be read). HUB_EIO when even the hash and the time
 * cannot be read. */
static int idem_read(hub_slice v, char hash[IDEM_HASH_HEX + 1], int64_t *at_ms, json_t **answer)
{
    const unsigned char *b = (const unsigned char *)v.base;
    *answer = NULL;
    if (v.len > 0 && b[0] == '{') { /* written before 0.6 */
        json_t *rec = json_loadb(v.base, v.len, 0, NULL);
        const char *h = json_string_value(json_object_get(rec, "hash"));
        if (h == NULL) {
            json_decref(rec);
            return HUB_EIO;
        }
        snprintf(hash, IDEM_HASH_HEX + 1, "%s", h);
        *at_ms = rec_int(rec, "at_ms");
        json_t *ans = json_object_get(rec, "answer");
        *answer = json_is_object(ans) ? json_incref(ans) : NULL;
        json_decref(rec);
        return 0;
    }
    if (v.len < IDEM_HEAD || b[0] != IDEM_TAG)
        return HUB_EIO;
    size_t n = ((size_t)b[IDEM_HEAD - 2] << 8) | b[IDEM_HEAD - 1];
    if (v.len < IDEM_HEAD + 8 * n)
        return HUB_EIO;
    memcpy(hash, b + 1, IDEM_HASH_HEX);
    hash[IDEM_HASH_HEX] = '\0';
    *at_ms = (int64_t)hub_be64_get(b + 1 + IDEM_HASH_HEX);
    const unsigned char *ids = b + IDEM_HEAD;
    size_t off = IDEM_HEAD + 8 * n;
    json_t *ans = json_loadb(v.base + off, v.len - off, 0, NULL);
    json_t *dl = json_object_get(ans, "deliveries");
    int ok = json_is_object(ans) && json_is_array(dl) && json_array_size(dl) == n;
    for (size_t i = 0; ok && i < n; i++)
        ok = json_object_set_new(json_array_get(dl, i), "id",
                                 hub_job_id_json(hub_be64_get(ids + 8 * i))) == 0;
    if (ok)
        *answer = ans;
    else
        json_decref(ans);
    return 0;
}

/* Whether a record stored at at_ms has expired at now_ms (at_ms comes from the disk: no sum
 * that could overflow). */
static int idem_expired(int64_t at_ms, int64_t now_ms)
{
    return at_ms <= now_ms - HUB_IDEMPOTENCY_TTL_MS;
}

int hub_idem_lookup(hub_txn *txn, const char *key, const char *hash, int64_t now_ms,
                    json_t **answer)
{
    hub_slice v;
    char stored[IDEM_HASH_HEX + 1];
    int64_t at_ms = 0;
    json_t *ans = NULL;
    int rc = hub_txn_get(txn, HUB_DB_IDEMPOTENCY, hub_slice_cstr(key), &v);
    if (rc != 0)
        return rc;
    if (idem_read(v, stored, &at_ms, &ans) != 0)
        return HUB_EIO;
    rc = idem_expired(at_ms, now_ms) ? HUB_ENOTFOUND /* the key may be used again */
         : strcmp(stored, hash) != 0 ? HUB_EINVAL
         : ans == NULL               ? HUB_EIO
                                     : 0;
    if (rc != 0)
        json_decref(ans);
    else
        *answer = ans;
    return rc;
}

int hub_idem_put(hub_txn *txn, const char *key, const char *hash, const char *answer_text,
                 const uint64_t *ids, size_t n, int64_t now_ms)
{
    if (strlen(hash) != IDEM_HASH_HEX || n > 0xffff)
        return HUB_EINVAL;
    size_t alen = strlen(answer_text), len = IDEM_HEAD + 8 * n + alen;
    unsigned char *v = malloc(len);
    if (v == NULL)
        return HUB_ENOMEM;
    v[0] = IDEM_TAG;
    memcpy(v + 1, hash, IDEM_HASH_HEX);
    hub_be64_put(v + 1 + IDEM_HASH_HEX, (uint64_t)now_ms);
    v[IDEM_HEAD - 2] = (unsigned char)(n >> 8);
    v[IDEM_HEAD - 1] = (unsigned char)n;
    for (size_t i = 0; i < n; i++)
        hub_be64_put(v + IDEM_HEAD + 8 * i, ids[i]);
    memcpy(v + IDEM_HEAD + 8 * n, answer_text, alen);
    int rc = hub_txn_put(txn, HUB_DB_IDEMPOTENCY, hub_slice_cstr(key), (hub_slice){(char *)v, len});
    free(v);
    return rc;
}

/* Deletes up to max expired idempotency records and finished jobs older than keep_ms. */
int hub_jobs_sweep(hub_txn *txn, int64_t now_ms, int64_t keep_ms, size_t max, size_t *removed)
{
    hub_cursor *c = NULL;
    hub_slice k, v;
    size_t n = 0;
    int rc = hub_cursor_open(txn, HUB_DB_IDEMPOTENCY, &c);
    for (rc = rc == 0 ? hub_cursor_seek(c, (hub_slice){"", 0}, &k, &v) : rc; rc == 0 && n < max;
         rc = hub_cursor_next(c, &k, &v)) {
        char hash[IDEM_HASH_HEX + 1];
        int64_t at_ms = 0;
        json_t *ans = NULL;
        /* expired, or unreadable (it could only ever answer 500) */
        int old =
            idem_read(v, hash, &at_ms, &ans) != 0 || ans == NULL || idem_expired(at_ms, now_ms);
        json_decref(ans);
        if (old && hub_cursor_del(c) == 0)
            n++;
    }
    hub_cursor_close(c);
    static const char *const finished[] = {"delivered", "dead"};
    for (size_t f = 0; f < 2 && (rc == 0 || rc == HUB_ENOTFOUND); f++) {
        unsigned char sk[32];
        size_t kl = status_key(finished[f], 0, sk), plen = strlen(finished[f]) + 1;
        rc = hub_cursor_open(txn, HUB_DB_JOB_STATUS, &c);
        /* Ids grow with time, so the oldest come first: stop at the first one kept. */
        for (rc = rc == 0 ? hub_cursor_seek(c, (hub_slice){(char *)sk, kl}, &k, &v) : rc;
             rc == 0 && n < max; rc = hub_cursor_next(c, &k, &v)) {
            if (k.len != kl || memcmp(k.base, sk, plen) != 0)
                break;
            uint64_t id = hub_be64_get((const unsigned char *)k.base + plen);
            json_t *rec = NULL;
            if (hub_job_load(txn, id, &rec) == 0 && rec_int(rec, "done_ms") + keep_ms > now_ms) {
                json_decref(rec);
                break;
            }
            json_decref(rec);
            unsigned char ik[8];
            id_key(id, ik);
            (void)hub_txn_del(txn, HUB_DB_JOBS, (hub_slice){(char *)ik, 8});
            (void)hub_txn_del(txn, HUB_DB_JOB_BODIES, (hub_slice){(char *)ik, 8});
            if (hub_cursor_del(c) == 0)
                n++;
        }
        hub_cursor_close(c);
    }
    *removed = n;
    return rc == HUB_ENOTFOUND ? 0 : rc;
}

int hub_jobs_due_now(hub_txn *txn, int64_t now_ms, size_t max, size_t *moved)
{
    hub_cursor *c = NULL;
    hub_slice k, v;
    unsigned char dk[16];
    uint64_t *ids = malloc(max * sizeof(*ids));
    size_t n = 0;
    *moved = 0;
    if (ids == NULL)
        return HUB_ENOMEM;
    due_key(now_ms + 1, 0, dk);
    int rc = hub_cursor_open(txn, HUB_DB_JOB_DUE, &c);
    for (rc = rc == 0 ? hub_cursor_seek(c, (hub_slice){(char *)dk, 16}, &k, &v) : rc;
         rc == 0 && n < max; rc = hub_cursor_next(c, &k, &v))
        if (k.len == 16)
            ids[n++] = hub_be64_get((const unsigned char *)k.base + 8);
    hub_cursor_close(c);
    rc = rc == HUB_ENOTFOUND || rc == 0 ? 0 : rc;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        json_t *rec = NULL;
        if (hub_job_load(txn, ids[i], &rec) != 0)
            continue;
        const char *st = json_string_value(json_object_get(rec, "status"));
        char old_status[16];
        snprintf(old_status, sizeof(old_status), "%s", st != NULL ? st : "");
        int64_t old_due = rec_int(rec, "next_ms");
        json_object_set_new(rec, "next_ms", json_integer(now_ms));
        rc = job_store(txn, ids[i], old_status, old_due, rec);
        json_decref(rec);
        *moved += rc == 0;
    }
    free(ids);
    return rc;
}
