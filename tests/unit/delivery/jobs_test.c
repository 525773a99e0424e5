/*
 * Unit tests for core/delivery/jobs: outcomes settled from a record prepared off the writer
 * (and the fall-back when the stored record has moved on), job records made before the
 * transaction, and the idempotency records of sends in both layouts, with the sweep.
 */
#include <stdio.h>
#include <string.h>

#include "delivery/internal.h"
/* test.h formats a path into a fixed buffer; gcc cannot prove it fits */
#pragma GCC diagnostic ignored "-Wformat-truncation"
#include "test.h"

#define T0   INT64_C(1767225600000) /* 2026-01-01T00:00:00Z */
#define HASH "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static hub_store *open_fresh(const char *name)
{
    hub_store_options o = {.dir = test_tmpdir(name)};
    hub_store *s = NULL;
    return hub_store_open(&s, &o, NULL) == 0 ? s : NULL;
}

/* ---- transactions on this thread (no writer runs in these tests) ------------------------- */

typedef struct call {
    int (*fn)(hub_txn *txn, struct call *c);
    hub_job_outcome *o;
    const char *key;
    uint64_t id;
    json_t *json;
    hub_slice raw;
    int64_t now;
    size_t removed;
} call;

static int trampoline(hub_txn *txn, void *arg)
{
    call *c = arg;
    return c->fn(txn, c);
}

static int run(hub_store *s, call *c)
{
    return hub_store_write(s, trampoline, c);
}

static int do_enqueue(hub_txn *txn, call *c)
{
    hub_job_in in = {.channel = "sms",
                     .item = "journey/welcome",
                     .variant = "a",
                     .locale = "de",
                     .message_id = "m-1",
                     .version = 3,
                     .recipient = c->json,
                     .artifact = HUB_SLICE_LIT("{\"text\":\"Hallo\"}")};
    return hub_job_enqueue(txn, &in, c->now, &c->id);
}

static int do_settle(hub_txn *txn, call *c)
{
    return hub_job_settle(txn, c->o);
}

static int do_idem_put(hub_txn *txn, call *c)
{
    static const uint64_t ids[2] = {7, 90000000001ULL};
    return hub_idem_put(txn, c->key, HASH, json_string_value(c->json), ids, 2, c->now);
}

static int do_raw_put(hub_txn *txn, call *c)
{
    return hub_txn_put(txn, HUB_DB_IDEMPOTENCY, hub_slice_cstr(c->key), c->raw);
}

/* Stores c->raw as the record of job 999 (key: c->key, 8 bytes). */
static int do_raw_job(hub_txn *txn, call *c)
{
    return hub_txn_put(txn, HUB_DB_JOBS, (hub_slice){(char *)c->key, 8}, c->raw);
}

static int do_retry(hub_txn *txn, call *c)
{
    return hub_job_retry(txn, c->id, c->now);
}

static int do_sweep(hub_txn *txn, call *c)
{
    return hub_jobs_sweep(txn, c->now, 0, 100, &c->removed);
}

/* The stored record text of job id (malloc'd), or NULL. */
static char *record_of(hub_store *s, uint64_t id)
{
    hub_txn *t;
    hub_slice v;
    char *out = NULL;
    if (hub_store_read(s, &t) != 0)
        return NULL;
    if (hub_job_record(t, id, &v) == 0 && (out = malloc(v.len + 1)) != NULL) {
        memcpy(out, v.base, v.len);
        out[v.len] = '\0';
    }
    hub_txn_end(t);
    return out;
}

static json_t *load(hub_store *s, uint64_t id)
{
    hub_txn *t;
    json_t *rec = NULL;
    if (hub_store_read(s, &t) != 0)
        return NULL;
    (void)hub_job_load(t, id, &rec);
    hub_txn_end(t);
    return rec;
}

static uint64_t enqueue(hub_store *s, int64_t now)
{
    json_t *rcp = json_pack("{s:s,s:s}", "id", "r-1", "phone", "+4915100000000");
    call c = {.fn = do_enqueue, .json = rcp, .now = now};
    int rc = run(s, &c);
    json_decref(rcp);
    return rc == 0 ? c.id : 0;
}

static hub_job_outcome outcome(uint64_t id, uint32_t attempt, int result, const hub_retry_policy *p)
{
    hub_job_outcome o = {.id = id,
                         .attempt = attempt,
                         .result = result,
                         .started_ms = T0 + 10,
                         .now_ms = T0 + 20,
                         .rng_seed = 42,
                         .policy = p};
    snprintf(o.error, sizeof(o.error), "%s", result == HUB_DELIVER_OK ? "" : "gateway said 503");
    return o;
}

/* A fresh store with one job queued at T0: the store (NULL on failure), the default retry
 * policy, the job's id and its record text as a worker would read it (malloc'd). */
static hub_store *one_queued_job(const char *name, hub_retry_policy *p, uint64_t *id, char **seen)
{
    hub_store *s = open_fresh(name);
    hub_retry_policy_default(p);
    *id = s != NULL ? enqueue(s, T0) : 0;
    *seen = *id > 0 ? record_of(s, *id) : NULL;
    if (*seen == NULL && s != NULL) {
        hub_store_close(s);
        s = NULL;
    }
    return s;
}

/* Jobs waiting for an attempt, or -1. */
static long waiting(hub_store *s)
{
    hub_txn *t;
    if (hub_store_read(s, &t) != 0)
        return -1;
    long n = (long)hub_job_waiting(t);
    hub_txn_end(t);
    return n;
}

/* ---- job records ------------------------------------------------------------------------ */

static void test_record_and_load(void)
{
    hub_txn *t;
    hub_store *s = open_fresh("jobs_record");
    REQUIRE(s != NULL);
    uint64_t id = enqueue(s, T0);
    REQUIRE(id > 0);
    char *text = record_of(s, id);
    REQUIRE(text != NULL);
    json_t *parsed = json_loads(text, 0, NULL);
    CHECK(parsed != NULL && json_object_get(parsed, "id") == NULL); /* the key holds it */
    json_decref(parsed);
    CHECK(strstr(text, "\"status\":\"queued\"") != NULL);
    CHECK(strstr(text, "\"next_ms\":1767225600000") != NULL);

    /* The same job made in two steps is the same record. */
    json_t *rcp = json_pack("{s:s,s:s}", "id", "r-1", "phone", "+4915100000000");
    hub_job_in in = {.channel = "sms",
                     .item = "journey/welcome",
                     .variant = "a",
                     .locale = "de",
                     .message_id = "m-1",
                     .version = 3,
                     .recipient = rcp};
    char *made = hub_job_record_text(&in, T0);
    REQUIRE(made != NULL);
    CHECK_STR(made, text);
    free(made);
    json_decref(rcp);

    json_t *rec = load(s, id);
    REQUIRE(rec != NULL);
    char want[24];
    snprintf(want, sizeof(want), "%llu", (unsigned long long)id);
    CHECK_STR(json_string_value(json_object_get(rec, "id")), want);
    void *first = json_object_iter(rec);
    CHECK(first != NULL && strcmp(json_object_iter_key(first), "id") == 0);
    CHECK_STR(json_string_value(json_object_get(rec, "channel")), "sms");
    json_decref(rec);
    free(text);

    /* A record that is JSON but no object is an error of the store, not of memory. */
    unsigned char k[8];
    hub_be64_put(k, 999);
    call r = {.fn = do_raw_job, .raw = HUB_SLICE_LIT("[1]")};
    r.key = (const char *)k;
    CHECK(run(s, &r) == 0);
    REQUIRE(hub_store_read(s, &t) == 0);
    rec = NULL;
    CHECK(hub_job_load(t, 999, &rec) == HUB_EIO && rec == NULL);
    hub_txn_end(t);
    hub_store_close(s);
}

/* hub_job_settle_prepare as a worker calls it, on text read from the store. */
/* An outcome of attempt `attempt`, prepared by the worker from the record text it read. */
static hub_job_outcome prepared(uint64_t id, uint32_t attempt, int result,
                                const hub_retry_policy *p, const char *text)
{
    hub_job_outcome o = outcome(id, attempt, result, p);
    hub_buf seen;
    hub_buf_init(&seen, SIZE_MAX);
    if (hub_buf_append_str(&seen, text) != 0)
        return o;
    hub_job_settle_prepare(&o, &seen, json_loads(text, 0, NULL));
    CHECK(seen.data == NULL); /* taken or freed: nothing is left to the caller */
    hub_buf_free(&seen);
    return o;
}

/* ---- settling --------------------------------------------------------------------------- */

static int hook_calls;
static char hook_item[64];

static int count_hook(void *ctx, hub_txn *txn, const json_t *job, int64_t now_ms)
{
    (void)ctx;
    (void)txn;
    (void)now_ms;
    hook_calls++;
    snprintf(hook_item, sizeof(hook_item), "%s", json_string_value(json_object_get(job, "item")));
    return 0;
}

static void test_settle_prepared(void)
{
    hub_retry_policy p;
    uint64_t id;
    char *seen;
    hub_store *s = one_queued_job("jobs_prepared", &p, &id, &seen);
    REQUIRE(s != NULL);

    /* A failed attempt, prepared from what the worker read: stored exactly as prepared. */
    hub_job_outcome o = prepared(id, 1, HUB_DELIVER_RETRY, &p, seen);
    REQUIRE(o.settled_text != NULL);
    CHECK_STR(o.old_status, "queued");
    CHECK(o.old_due == T0);
    call c = {.fn = do_settle, .o = &o};
    CHECK(run(s, &c) == 0);
    char *after = record_of(s, id);
    REQUIRE(after != NULL);
    CHECK_STR(after, o.settled_text);
    json_t *rec = load(s, id);
    CHECK_STR(json_string_value(json_object_get(rec, "status")), "failed");
    CHECK(json_integer_value(json_object_get(rec, "attempts")) == 1);
    CHECK_STR(json_string_value(json_object_get(rec, "last_error")), "gateway said 503");
    int64_t next = json_integer_value(json_object_get(rec, "next_ms"));
    CHECK(next > T0 + 20 && next <= T0 + 20 + HUB_RETRY_BASE_MS);
    json_decref(rec);
    CHECK(waiting(s) == 1); /* still waiting, under its new due time */
    hub_job_settle_release(&o);
    CHECK(o.settled_text == NULL);

    /* The second attempt delivers it; the delivered hook sees the record. */
    hub_jobs_set_delivered_hook(count_hook, NULL);
    hook_calls = 0;
    hub_job_outcome o2 = prepared(id, 2, HUB_DELIVER_OK, &p, after);
    REQUIRE(o2.settled_text != NULL);
    c.o = &o2;
    CHECK(run(s, &c) == 0);
    CHECK(hook_calls == 1);
    CHECK_STR(hook_item, "journey/welcome");
    rec = load(s, id);
    CHECK_STR(json_string_value(json_object_get(rec, "status")), "delivered");
    CHECK(json_integer_value(json_object_get(rec, "done_ms")) == T0 + 20);
    json_decref(rec);
    CHECK(waiting(s) == 0);
    hub_job_settle_release(&o2);
    hub_jobs_set_delivered_hook(NULL, NULL);
    free(after);
    free(seen);
    hub_store_close(s);
}

static void test_settle_stale_preparation(void)
{
    hub_retry_policy p;
    uint64_t id;
    char *seen;
    hub_store *s = one_queued_job("jobs_stale", &p, &id, &seen);
    REQUIRE(s != NULL);

    /* Prepared from the queued record, but another outcome of attempt 1 lands first: the
     * prepared text must not be stored over it, and the outcome is then stale (ignored). */
    hub_job_outcome late = prepared(id, 1, HUB_DELIVER_OK, &p, seen);
    REQUIRE(late.settled_text != NULL);
    hub_job_outcome first = outcome(id, 1, HUB_DELIVER_FAIL, &p); /* not prepared */
    call c = {.fn = do_settle, .o = &first};
    CHECK(run(s, &c) == 0);
    char *dead = record_of(s, id);
    REQUIRE(dead != NULL);
    CHECK(strstr(dead, "\"status\":\"dead\"") != NULL);
    c.o = &late;
    CHECK(run(s, &c) == 0);
    char *now = record_of(s, id);
    REQUIRE(now != NULL);
    CHECK_STR(now, dead);
    hub_job_settle_release(&late);

    /* Retried by hand: queued again, and the stored record still holds no "id". */
    call rt = {.fn = do_retry, .id = id, .now = T0 + 100};
    CHECK(run(s, &rt) == 0);
    char *again = record_of(s, id);
    REQUIRE(again != NULL);
    json_t *parsed = json_loads(again, 0, NULL);
    CHECK(parsed != NULL && json_object_get(parsed, "id") == NULL);
    CHECK_STR(json_string_value(json_object_get(parsed, "status")), "queued");
    json_decref(parsed);
    free(again);

    /* A preparation from a record that is already past the attempt keeps nothing. */
    hub_job_outcome past = prepared(id, 1, HUB_DELIVER_OK, &p, dead);
    CHECK(past.settled_text == NULL);
    /* Nor does one from text that is not a record. */
    hub_job_outcome junk = prepared(id, 1, HUB_DELIVER_OK, &p, "{not json");
    CHECK(junk.settled_text == NULL);
    hub_job_settle_release(&junk); /* harmless when nothing was kept */
    free(now);
    free(dead);
    free(seen);
    hub_store_close(s);
}

/* ---- idempotency records ---------------------------------------------------------------- */

static int lookup(hub_store *s, const char *key, const char *hash, int64_t now, json_t **out)
{
    hub_txn *t;
    *out = NULL;
    if (hub_store_read(s, &t) != 0)
        return HUB_EIO;
    int rc = hub_idem_lookup(t, key, hash, now, out);
    hub_txn_end(t);
    return rc;
}

static void test_idempotency(void)
{
    hub_store *s = open_fresh("jobs_idem");
    REQUIRE(s != NULL);
    json_t *text = json_string("{\"deliveries\":[{\"id\":\"\",\"channel\":\"sms\"},"
                               "{\"id\":\"\",\"channel\":\"email\"}],\"variant\":\"b\"}");
    call c = {.fn = do_idem_put, .key = "3:eng-key-1", .json = text, .now = T0};
    CHECK(run(s, &c) == 0);
    json_t *ans = NULL;
    CHECK(lookup(s, "3:eng-key-1", HASH, T0 + 1000, &ans) == 0);
    json_t *dl = json_object_get(ans, "deliveries");
    CHECK(json_array_size(dl) == 2);
    CHECK_STR(json_string_value(json_object_get(json_array_get(dl, 0), "id")), "7");
    CHECK_STR(json_string_value(json_object_get(json_array_get(dl, 1), "id")), "90000000001");
    CHECK_STR(json_string_value(json_object_get(json_array_get(dl, 1), "channel")), "email");
    CHECK_STR(json_string_value(json_object_get(ans, "variant")), "b");
    json_decref(ans);
    char other[] = HASH;
    other[0] = 'f';
    CHECK(lookup(s, "3:eng-key-1", other, T0 + 1000, &ans) == HUB_EINVAL && ans == NULL);
    CHECK(lookup(s, "3:eng-key-1", HASH, T0 + HUB_IDEMPOTENCY_TTL_MS, &ans) == HUB_ENOTFOUND);
    CHECK(lookup(s, "3:eng-key-2", HASH, T0, &ans) == HUB_ENOTFOUND);

    /* A hash that is no SHA-256 in hex is refused, and nothing is stored. */
    hub_txn *t;
    REQUIRE(hub_store_read(s, &t) == 0);
    CHECK(hub_idem_put(t, "k", "abc", "{}", NULL, 0, T0) == HUB_EINVAL);
    hub_txn_end(t);

    /* Records of the JSON layout (written by 0.5) are still answered. */
    char legacy[300];
    snprintf(legacy, sizeof(legacy),
             "{\"hash\":\"%s\",\"answer\":{\"deliveries\":[{\"id\":\"3\"}]},\"at_ms\":%lld}", HASH,
             (long long)T0);
    call r = {.fn = do_raw_put, .key = "3:old", .raw = hub_slice_cstr(legacy)};
    CHECK(run(s, &r) == 0);
    CHECK(lookup(s, "3:old", HASH, T0 + 1, &ans) == 0);
    CHECK_STR(json_string_value(
                  json_object_get(json_array_get(json_object_get(ans, "deliveries"), 0), "id")),
              "3");
    json_decref(ans);
    CHECK(lookup(s, "3:old", other, T0 + 1, &ans) == HUB_EINVAL);

    /* Damaged records are errors, not crashes: too short, and more ids than deliveries. */
    r.key = "3:short";
    r.raw = HUB_SLICE_LIT("B0123");
    CHECK(run(s, &r) == 0);
    CHECK(lookup(s, "3:short", HASH, T0, &ans) == HUB_EIO && ans == NULL);
    unsigned char bad[1 + 64 + 8 + 2 + 8 + 2];
    bad[0] = 'B';
    memcpy(bad + 1, HASH, 64);
    hub_be64_put(bad + 65, (uint64_t)T0);
    bad[73] = 0;
    bad[74] = 1; /* one id ... */
    hub_be64_put(bad + 75, 5);
    memcpy(bad + 83, "{}", 2); /* ... and no deliveries */
    r.key = "3:count";
    r.raw = (hub_slice){(char *)bad, sizeof(bad)};
    CHECK(run(s, &r) == 0);
    CHECK(lookup(s, "3:count", HASH, T0, &ans) == HUB_EIO && ans == NULL);

    /* A readable header whose answer is no object with deliveries: an error, and swept at
     * once rather than answering 500 for a day. */
    unsigned char arr[1 + 64 + 8 + 2 + 7];
    memcpy(arr, bad, 75);
    arr[73] = arr[74] = 0; /* no ids */
    memcpy(arr + 75, "[1,2,3]", 7);
    r.key = "3:array";
    r.raw = (hub_slice){(char *)arr, sizeof(arr)};
    CHECK(run(s, &r) == 0);
    CHECK(lookup(s, "3:array", HASH, T0, &ans) == HUB_EIO && ans == NULL);
    /* A time from the far future (a damaged record) is compared without overflow. */
    static const char one[] = "{\"deliveries\":[{}]}";
    unsigned char fut[83 + sizeof(one) - 1];
    memcpy(fut, bad, 83); /* the tag, the hash, one id (5) */
    hub_be64_put(fut + 65, (uint64_t)INT64_MAX);
    memcpy(fut + 83, one, sizeof(one) - 1);
    r.key = "3:future";
    r.raw = (hub_slice){(char *)fut, sizeof(fut)};
    CHECK(run(s, &r) == 0);
    CHECK(lookup(s, "3:future", HASH, T0, &ans) == 0);
    CHECK_STR(json_string_value(
                  json_object_get(json_array_get(json_object_get(ans, "deliveries"), 0), "id")),
              "5");
    json_decref(ans);

    /* The sweep: a day later the records of both layouts and the damaged ones go; the one
     * from the future stays. */
    call sw = {.fn = do_sweep, .now = T0 + HUB_IDEMPOTENCY_TTL_MS + 1};
    CHECK(run(s, &sw) == 0);
    CHECK(sw.removed == 5);
    REQUIRE(hub_store_read(s, &t) == 0);
    CHECK(hub_txn_count(t, HUB_DB_IDEMPOTENCY) == 1);
    hub_txn_end(t);
    json_decref(text);
    hub_store_close(s);
}

static void test_sweep_keeps_fresh(void)
{
    hub_store *s = open_fresh("jobs_sweep");
    REQUIRE(s != NULL);
    json_t *text = json_string("{\"deliveries\":[{\"id\":\"\"},{\"id\":\"\"}]}");
    call c = {.fn = do_idem_put, .key = "1:a", .json = text, .now = T0};
    CHECK(run(s, &c) == 0);
    c.key = "1:b";
    c.now = T0 + 3600000;
    CHECK(run(s, &c) == 0);
    call sw = {.fn = do_sweep, .now = T0 + HUB_IDEMPOTENCY_TTL_MS + 1};
    CHECK(run(s, &sw) == 0);
    CHECK(sw.removed == 1);
    json_t *ans = NULL;
    CHECK(lookup(s, "1:b", HASH, sw.now, &ans) == 0);
    json_decref(ans);
    CHECK(lookup(s, "1:a", HASH, sw.now, &ans) == HUB_ENOTFOUND);
    json_decref(text);
    hub_store_close(s);
}

int main(void)
{
    RUN(test_record_and_load);
    RUN(test_settle_prepared);
    RUN(test_settle_stale_preparation);
    RUN(test_idempotency);
    RUN(test_sweep_keeps_fresh);
    return TEST_SUMMARY();
}
