/*
 * Unit tests for core/analytics/record.c and hub_events_write against a real store in a
 * temporary directory: the counter key and its split, what one event leaves (counters of its
 * day, the unit flags that make exposures and conversions count each subject once per item,
 * touchpoints, the conversion index, the retention index), the variant an event counts under
 * (its own, the stored one, the holdout, the published base), exposures decided by the
 * experiment module, deliveries reported by the queue, sequence blocks, and retention: what
 * hub_analytics_prune deletes, what it keeps, and pruning in slices.
 */
#include <stdint.h>
#include <string.h>

#include "analytics/internal.h"
/* test.h formats a path into a fixed buffer; gcc cannot prove it fits */
#pragma GCC diagnostic ignored "-Wformat-truncation"
#include "content/items_fixture.h"
#include "test.h"

/* 2026-06-15T12:00:00Z: noon, so that "now - n days" never falls on a midnight. */
#define NOW_MS 1781524800000LL
#define DAY    HUB_DAY_MS

static hub_store *S;

static hub_store *open_fresh(const char *name)
{
    hub_store *s = NULL;
    hub_error err;
    hub_store_options o = {.dir = test_tmpdir(name), .map_size = 64u << 20};
    hub_error_init(&err);
    if (hub_store_open(&s, &o, &err) != 0)
        fprintf(stderr, "store open: %s\n", err.message);
    hub_error_clear(&err);
    return s;
}

/* ---- helpers: events in, counters and entries out -------------------------------------- */

/* An event; variant NULL: none given (the stored one, else the base). */
static hub_event mk(hub_event_type type, const char *subject, const char *item, const char *variant,
                    const char *channel, int64_t ms)
{
    hub_event e;
    memset(&e, 0, sizeof(e));
    e.type = type;
    e.subject = hub_slice_cstr(subject);
    e.item = hub_slice_cstr(item != NULL ? item : "");
    e.variant = hub_slice_cstr(variant != NULL ? variant : "");
    e.has_variant = variant != NULL;
    e.channel = hub_slice_cstr(channel != NULL ? channel : "");
    e.action = hub_slice_cstr("");
    e.ms = ms;
    return e;
}

static hub_event conv(const char *subject, const char *item, const char *variant,
                      const char *action, double value, int64_t ms)
{
    hub_event e = mk(HUB_EV_CONVERSION, subject, item, variant, NULL, ms);
    e.action = hub_slice_cstr(action != NULL ? action : "");
    e.value = value;
    return e;
}

typedef struct rec_arg {
    const hub_event *e;
    int touch_always;
} rec_arg;

static int record_fn(hub_txn *t, void *arg)
{
    rec_arg *a = arg;
    uint64_t seq;
    int rc = hub_analytics_seq_block(t, 1, &seq);
    return rc != 0 ? rc : hub_analytics_record(t, a->e, seq, a->touch_always);
}

static int record(hub_event e, int touch_always)
{
    rec_arg a = {&e, touch_always};
    return hub_store_write(S, record_fn, &a);
}

/* The counters of (item, variant, channel) on the UTC day of ms; all 0 when none stored. */
static hub_counts counts_at(const char *item, const char *variant, const char *channel, int64_t ms)
{
    char k[HUB_CKEY_MAX];
    hub_counts c;
    hub_txn *t;
    hub_slice v;
    memset(&c, 0, sizeof(c));
    size_t kl = hub_counter_key(k, hub_slice_cstr(item), hub_slice_cstr(variant),
                                hub_slice_cstr(channel), (uint32_t)(ms / DAY));
    if (kl == 0 || hub_store_read(S, &t) != 0)
        return c;
    if (hub_txn_get(t, HUB_DB_COUNTERS, (hub_slice){k, kl}, &v) == 0 &&
        hub_counts_decode(v, &c) != 0)
        memset(&c, 0xff, sizeof(c.n)); /* a broken record shows as huge counts */
    hub_txn_end(t);
    return c;
}

static int has_counters(const char *item, const char *variant, const char *channel, int64_t ms)
{
    char k[HUB_CKEY_MAX];
    hub_txn *t;
    hub_slice v;
    size_t kl = hub_counter_key(k, hub_slice_cstr(item), hub_slice_cstr(variant),
                                hub_slice_cstr(channel), (uint32_t)(ms / DAY));
    if (kl == 0 || hub_store_read(S, &t) != 0)
        return 0;
    int found = hub_txn_get(t, HUB_DB_COUNTERS, (hub_slice){k, kl}, &v) == 0;
    hub_txn_end(t);
    return found;
}

static size_t entries(hub_db db)
{
    hub_txn *t;
    if (hub_store_read(S, &t) != 0)
        return (size_t)-1;
    size_t n = hub_txn_count(t, db);
    hub_txn_end(t);
    return n;
}

/* The stored assignment flags of (item, subject); -1 when there is no record. The variant
 * into vbuf. */
static int flags_of(const char *item, const char *subject, char *vbuf, size_t cap)
{
    hub_txn *t;
    hub_assignment a;
    int flags = -1;
    if (hub_store_read(S, &t) != 0)
        return -1;
    if (hub_assignment_get(t, hub_slice_cstr(item), hub_slice_cstr(subject), &a) == 0) {
        flags = (int)a.flags;
        snprintf(vbuf, cap, "%.*s", (int)a.variant.len, a.variant.base);
    }
    hub_txn_end(t);
    return flags;
}

/* ---- counter keys ---------------------------------------------------------------------- */

static void test_counter_key_roundtrip(void)
{
    static const struct {
        const char *item, *variant, *channel;
        uint32_t day;
    } cases[] = {
        {"onboarding/welcome", "short", "email", 20619},
        {"a", "", "", 0},               /* the holdout, no channel, day 0 */
        {"k", "v", "sms", 256},         /* a day with zero bytes: 00 00 01 00 */
        {"k", "v", "web", 0x01000000u}, /* 01 00 00 00 */
        {"k", "v", "mobile", UINT32_MAX},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char k[HUB_CKEY_MAX];
        hub_slice item, variant, channel;
        uint32_t day = 12345;
        size_t kl =
            hub_counter_key(k, hub_slice_cstr(cases[i].item), hub_slice_cstr(cases[i].variant),
                            hub_slice_cstr(cases[i].channel), cases[i].day);
        CHECK(kl ==
              strlen(cases[i].item) + strlen(cases[i].variant) + strlen(cases[i].channel) + 7);
        REQUIRE(hub_counter_key_split((hub_slice){k, kl}, &item, &variant, &channel, &day) == 0);
        CHECK(item.len == strlen(cases[i].item) && memcmp(item.base, cases[i].item, item.len) == 0);
        CHECK(variant.len == strlen(cases[i].variant) &&
              memcmp(variant.base, cases[i].variant, variant.len) == 0);
        CHECK(channel.len == strlen(cases[i].channel) &&
              memcmp(channel.base, cases[i].channel, channel.len) == 0);
        CHECK(day == cases[i].day);
    }
    /* the item's key sorts its counters together, day after day */
    char a[HUB_CKEY_MAX], b[HUB_CKEY_MAX];
    size_t al = hub_counter_key(a, HUB_SLICE_LIT("k"), HUB_SLICE_LIT("v"), HUB_SLICE_LIT("e"), 9);
    size_t bl = hub_counter_key(b, HUB_SLICE_LIT("k"), HUB_SLICE_LIT("v"), HUB_SLICE_LIT("e"), 10);
    CHECK(al == bl && memcmp(a, b, al) < 0);
}

static void test_counter_key_limits(void)
{
    char k[HUB_CKEY_MAX], big[600];
    memset(big, 'x', sizeof(big));
    /* 500 + 1 + 3 + 3 NULs + 4 = 511 fits; one byte more does not */
    CHECK(hub_counter_key(k, (hub_slice){big, 500}, HUB_SLICE_LIT("v"), HUB_SLICE_LIT("abc"), 1) ==
          511);
    CHECK(hub_counter_key(k, (hub_slice){big, 500}, HUB_SLICE_LIT("v"), HUB_SLICE_LIT("abcd"), 1) ==
          0);
    CHECK(hub_counter_key(k, (hub_slice){big, 600}, HUB_SLICE_LIT(""), HUB_SLICE_LIT(""), 1) == 0);
}

static void test_counter_key_split_rejects_malformed(void)
{
    hub_slice item, variant, channel;
    uint32_t day;
    static const struct {
        const char *bytes;
        size_t len;
    } bad[] = {
        {"", 0},
        {"a\0b\0\0", 5},                      /* shorter than three NULs and a day */
        {"abc\0def\0ghij", 12},               /* two NULs: the third part runs into the day */
        {"a\0b\0c\0d\0\x00\x00\x00\x01", 12}, /* four parts */
        {"a\0b\0c\0\x00\x00\x01", 9},         /* a day of three bytes */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CHECK(hub_counter_key_split((hub_slice){bad[i].bytes, bad[i].len}, &item, &variant,
                                    &channel, &day) == HUB_EIO);
    hub_counts c;
    unsigned char v[HUB_COUNTS_BYTES] = {0};
    CHECK(hub_counts_decode((hub_slice){(char *)v, sizeof(v)}, &c) == 0);
    CHECK(hub_counts_decode((hub_slice){(char *)v, sizeof(v) - 1}, &c) == HUB_EIO);
}

static void test_event_type_names(void)
{
    hub_event_type t;
    for (int i = 0; i < HUB_EV_COUNT; i++) {
        CHECK(hub_event_type_parse(hub_event_type_name((hub_event_type)i), &t) == 0);
        CHECK(t == (hub_event_type)i);
    }
    CHECK_STR(hub_event_type_name(HUB_EV_CONVERSION), "conversion");
    CHECK(hub_event_type_parse("view", &t) == HUB_EINVAL);
    CHECK(hub_event_type_parse("Exposure", &t) == HUB_EINVAL);
    CHECK(hub_event_type_parse(NULL, &t) == HUB_EINVAL);
    CHECK_STR(hub_event_type_name(HUB_EV_COUNT), "unknown");
}

/* ---- recording ------------------------------------------------------------------------- */

static void test_exposures_count_subjects_once(void)
{
    int64_t t0 = NOW_MS - 3 * DAY;
    REQUIRE(record(mk(HUB_EV_EXPOSURE, "s1", "i/x", "a", "email", t0), 1) == 0);
    REQUIRE(record(mk(HUB_EV_EXPOSURE, "s1", "i/x", "a", "email", t0 + 1000), 1) == 0);
    /* another variant, another channel, another day: still the same subject */
    REQUIRE(record(mk(HUB_EV_EXPOSURE, "s1", "i/x", "b", "sms", t0 + DAY), 1) == 0);
    REQUIRE(record(mk(HUB_EV_EXPOSURE, "s2", "i/x", "b", "sms", t0 + DAY), 1) == 0);
    /* a subject is counted per item: s1 on another item counts there */
    REQUIRE(record(mk(HUB_EV_EXPOSURE, "s1", "i/y", "a", "email", t0), 1) == 0);
    CHECK(counts_at("i/x", "a", "email", t0).n[HUB_CTR_EXPOSURES] == 1);
    CHECK(!has_counters("i/x", "b", "sms", t0));
    CHECK(counts_at("i/x", "b", "sms", t0 + DAY).n[HUB_CTR_EXPOSURES] == 1);
    CHECK(counts_at("i/y", "a", "email", t0).n[HUB_CTR_EXPOSURES] == 1);
    char v[64] = "";
    CHECK(flags_of("i/x", "s1", v, sizeof(v)) == (int)HUB_ASSIGN_EXPOSED);
    CHECK_STR(v, "a"); /* the variant of the first exposure, not sticky */
    /* reported exposures always leave a touchpoint; reads (touch_always 0) only the first */
    size_t touches = entries(HUB_DB_TOUCH);
    CHECK(touches == 5);
    REQUIRE(record(mk(HUB_EV_EXPOSURE, "s1", "i/x", "a", "web", t0 + 2000), 0) == 0);
    CHECK(entries(HUB_DB_TOUCH) == touches);
    REQUIRE(record(mk(HUB_EV_EXPOSURE, "s3", "i/x", "a", "web", t0 + 2000), 0) == 0);
    CHECK(entries(HUB_DB_TOUCH) == touches + 1);
    CHECK(entries(HUB_DB_TOUCH_TIME) == touches + 1);
    CHECK(counts_at("i/x", "a", "web", t0).n[HUB_CTR_EXPOSURES] == 1);
}

static void test_conversions_count_subjects_once_and_sum_value(void)
{
    int64_t t0 = NOW_MS - 2 * DAY;
    REQUIRE(record(mk(HUB_EV_EXPOSURE, "c1", "i/c", "a", "email", t0), 1) == 0);
    hub_event first = conv("c1", "i/c", NULL, "action/open", 10, t0 + 1);
    hub_event again = conv("c1", "i/c", NULL, "action/open", 2.5, t0 + 2);
    REQUIRE(record(first, 1) == 0);
    REQUIRE(record(again, 1) == 0);
    hub_counts c = counts_at("i/c", "a", "", t0); /* the variant from the stored record */
    CHECK(c.n[HUB_CTR_CONVERSIONS] == 1);
    CHECK(c.n[HUB_CTR_CONVERSION_EVENTS] == 2);
    CHECK(c.value == 12.5);
    char v[64] = "";
    CHECK(flags_of("i/c", "c1", v, sizeof(v)) == (int)(HUB_ASSIGN_EXPOSED | HUB_ASSIGN_CONVERTED));
    CHECK_STR(v, "a");
    /* conversions leave no touchpoint, but each one with an action is indexed */
    CHECK(entries(HUB_DB_CONVERSIONS) == 2);
    /* a conversion without item: only the index; without action either: nothing */
    size_t counters = entries(HUB_DB_COUNTERS), touch_time = entries(HUB_DB_TOUCH_TIME);
    REQUIRE(record(conv("c2", NULL, NULL, "action/open", 7, t0), 1) == 0);
    CHECK(entries(HUB_DB_CONVERSIONS) == 3 && entries(HUB_DB_COUNTERS) == counters);
    CHECK(entries(HUB_DB_TOUCH_TIME) == touch_time + 1);
    REQUIRE(record(conv("c3", "i/c", "b", NULL, 1, t0), 1) == 0);
    CHECK(entries(HUB_DB_CONVERSIONS) == 3);
    CHECK(counts_at("i/c", "b", "", t0).n[HUB_CTR_CONVERSIONS] == 1);
    CHECK(counts_at("i/c", "b", "", t0).n[HUB_CTR_EXPOSURES] == 0);
}

static void test_other_events_count_every_event(void)
{
    int64_t t0 = NOW_MS - DAY;
    size_t touches = entries(HUB_DB_TOUCH);
    static const hub_event_type types[] = {HUB_EV_DELIVERED, HUB_EV_OPEN, HUB_EV_CLICK,
                                           HUB_EV_UNSUBSCRIBE, HUB_EV_BOUNCE};
    for (size_t i = 0; i < 5; i++) {
        REQUIRE(record(mk(types[i], "o1", "i/o", "a", "email", t0), 1) == 0);
        REQUIRE(record(mk(types[i], "o1", "i/o", "a", "email", t0 + 1), 1) == 0);
    }
    hub_counts c = counts_at("i/o", "a", "email", t0);
    CHECK(c.n[HUB_CTR_DELIVERIES] == 2 && c.n[HUB_CTR_OPENS] == 2 && c.n[HUB_CTR_CLICKS] == 2);
    CHECK(c.n[HUB_CTR_UNSUBSCRIBES] == 2 && c.n[HUB_CTR_BOUNCES] == 2);
    CHECK(c.n[HUB_CTR_EXPOSURES] == 0 && c.n[HUB_CTR_CONVERSIONS] == 0 && c.value == 0);
    /* delivered, open and click are touchpoints; unsubscribe and bounce are not */
    CHECK(entries(HUB_DB_TOUCH) == touches + 6);
}

static void test_holdout_and_stored_variant(void)
{
    int64_t t0 = NOW_MS - DAY;
    hub_event held = mk(HUB_EV_EXPOSURE, "h1", "i/h", "", "email", t0);
    held.holdout = 1;
    REQUIRE(record(held, 1) == 0);
    CHECK(counts_at("i/h", "", "email", t0).n[HUB_CTR_EXPOSURES] == 1);
    char v[64] = "x";
    CHECK(flags_of("i/h", "h1", v, sizeof(v)) == (int)(HUB_ASSIGN_EXPOSED | HUB_ASSIGN_HOLDOUT));
    /* later events of h1 without a variant count under the holdout */
    REQUIRE(record(conv("h1", "i/h", NULL, NULL, 4, t0 + 5), 1) == 0);
    REQUIRE(record(mk(HUB_EV_CLICK, "h1", "i/h", NULL, "email", t0 + 6), 1) == 0);
    hub_counts c = counts_at("i/h", "", "", t0);
    CHECK(c.n[HUB_CTR_CONVERSIONS] == 1 && c.value == 4);
    CHECK(counts_at("i/h", "", "email", t0).n[HUB_CTR_CLICKS] == 1);
    /* an event that names a variant counts under it, whatever is stored */
    REQUIRE(record(mk(HUB_EV_OPEN, "h1", "i/h", "b", "email", t0), 1) == 0);
    CHECK(counts_at("i/h", "b", "email", t0).n[HUB_CTR_OPENS] == 1);
}

static void test_base_variant_of_the_published_item(void)
{
    hub_store *saved = S;
    uint32_t version = 0;
    S = fx_open("analytics_base");
    REQUIRE(S != NULL);
    call c;
    REQUIRE(fx_do(S, fn_put, "p/a", example_item) == 0);
    call_init(&c, "p/a", NULL);
    CHECK(fx_run(S, fn_publish, &c) == 0);
    version = c.version;
    call_done(&c);
    REQUIRE(version == 1);
    int64_t t0 = NOW_MS - DAY;
    /* no variant, no stored record: the base variant (the first, "control") */
    CHECK(record(mk(HUB_EV_EXPOSURE, "b1", "p/a", NULL, "email", t0), 1) == 0);
    CHECK(counts_at("p/a", "control", "email", t0).n[HUB_CTR_EXPOSURES] == 1);
    CHECK(record(conv("b2", "p/a", NULL, NULL, 1, t0), 1) == 0);
    CHECK(counts_at("p/a", "control", "", t0).n[HUB_CTR_CONVERSIONS] == 1);
    /* no variant and nothing published (unpublished since the check): nothing to count it
     * under, so it is skipped, and the rest of its batch still counts */
    size_t n = entries(HUB_DB_COUNTERS), nt = entries(HUB_DB_TOUCH);
    CHECK(record(mk(HUB_EV_EXPOSURE, "b3", "p/none", NULL, "email", t0), 1) == 0);
    CHECK(entries(HUB_DB_COUNTERS) == n && entries(HUB_DB_TOUCH) == nt);
    hub_store_close(S);
    S = saved;
}

/* ---- hub_events_write ------------------------------------------------------------------ */

typedef struct write_arg {
    json_t *events;
} write_arg;

static int write_fn(hub_txn *t, void *arg)
{
    return hub_events_write(t, ((write_arg *)arg)->events);
}

static void test_events_write(void)
{
    hub_store *saved = S;
    S = open_fresh("analytics_write");
    REQUIRE(S != NULL);
    int64_t t0 = NOW_MS - DAY;
    /* 1100 clicks of one subject in the same millisecond: two sequence blocks, and every one
     * its own touchpoint (the sequence number tells them apart) */
    write_arg w = {json_array()};
    for (int i = 0; i < 1100; i++)
        json_array_append_new(w.events, json_pack("{s:s,s:s,s:s,s:s,s:s,s:I}", "type", "click",
                                                  "subject", "w1", "item", "i/w", "variant", "a",
                                                  "channel", "web", "ms", (json_int_t)t0));
    json_array_append_new(w.events,
                          json_pack("{s:s,s:s,s:s,s:s,s:s,s:f,s:I}", "type", "conversion",
                                    "subject", "w1", "item", "i/w", "variant", "a", "action",
                                    "action/open", "value", 9.5, "ms", (json_int_t)t0));
    json_array_append_new(w.events,
                          json_pack("{s:s,s:s,s:s,s:n,s:I}", "type", "exposure", "subject", "w2",
                                    "item", "i/w", "variant", "ms", (json_int_t)(t0 - DAY)));
    /* variant null: w2 has no record and i/w is not published, so w2's exposure is skipped
     * and the other events of the batch are written */
    REQUIRE(hub_store_write(S, write_fn, &w) == 0);
    json_decref(w.events);
    hub_counts c = counts_at("i/w", "a", "web", t0);
    CHECK(c.n[HUB_CTR_CLICKS] == 1100);
    CHECK(entries(HUB_DB_TOUCH) == 1100);
    CHECK(entries(HUB_DB_TOUCH_TIME) == 1101);
    CHECK(entries(HUB_DB_CONVERSIONS) == 1);
    c = counts_at("i/w", "a", "", t0);
    CHECK(c.n[HUB_CTR_CONVERSIONS] == 1 && c.value == 9.5);
    hub_store_close(S);
    S = saved;
}

/* ---- exposures of the experiment module and deliveries of the queue ------------------- */

typedef struct expose_arg {
    hub_exposure x;
} expose_arg;

static int expose_fn(hub_txn *t, void *arg)
{
    return hub_analytics_expose(t, &((expose_arg *)arg)->x);
}

static int expose(const char *subject, const char *variant, int holdout, int store, int64_t ms)
{
    expose_arg a = {{hub_slice_cstr("i/e"), hub_slice_cstr(subject), hub_slice_cstr(variant),
                     hub_slice_cstr("web"), holdout, store, 0, ms}};
    return hub_store_write(S, expose_fn, &a);
}

static void test_expose(void)
{
    int64_t t0 = NOW_MS - DAY;
    char v[64] = "";
    REQUIRE(expose("e1", "a", 0, 1, t0) == 0);
    REQUIRE(expose("e1", "a", 0, 1, t0 + 1) == 0);
    CHECK(counts_at("i/e", "a", "web", t0).n[HUB_CTR_EXPOSURES] == 1);
    CHECK(flags_of("i/e", "e1", v, sizeof(v)) == (int)(HUB_ASSIGN_STICKY | HUB_ASSIGN_EXPOSED));
    CHECK_STR(v, "a");
    /* a sticky assignment is kept (no replace): not counted again, not moved to b */
    REQUIRE(expose("e1", "b", 0, 1, t0 + 2) == 0);
    CHECK(flags_of("i/e", "e1", v, sizeof(v)) == (int)(HUB_ASSIGN_STICKY | HUB_ASSIGN_EXPOSED));
    CHECK_STR(v, "a");
    CHECK(!has_counters("i/e", "b", "web", t0));
    REQUIRE(expose("e2", "", 1, 1, t0) == 0);
    CHECK(counts_at("i/e", "", "web", t0).n[HUB_CTR_EXPOSURES] == 1);
    CHECK(flags_of("i/e", "e2", v, sizeof(v)) ==
          (int)(HUB_ASSIGN_STICKY | HUB_ASSIGN_EXPOSED | HUB_ASSIGN_HOLDOUT));
    /* a subject first seen through an event keeps being counted once */
    REQUIRE(record(mk(HUB_EV_EXPOSURE, "e3", "i/e", "b", "email", t0), 1) == 0);
    REQUIRE(expose("e3", "a", 0, 1, t0) == 0);
    CHECK(counts_at("i/e", "b", "email", t0).n[HUB_CTR_EXPOSURES] == 1);
    CHECK(counts_at("i/e", "a", "web", t0).n[HUB_CTR_EXPOSURES] == 1);
}

typedef struct job_arg {
    json_t *job;
    int64_t ms;
} job_arg;

static int delivered_fn(hub_txn *t, void *arg)
{
    job_arg *a = arg;
    return hub_analytics_on_delivered(NULL, t, a->job, a->ms);
}

static void test_on_delivered(void)
{
    int64_t t0 = NOW_MS - DAY;
    size_t touches = entries(HUB_DB_TOUCH);
    /* a job as hub_job_enqueue stores it: "webhook" is null for content */
    job_arg a = {json_pack("{s:s,s:s,s:s,s:n,s:{s:s}}", "item", "i/d", "variant", "a", "channel",
                           "email", "webhook", "recipient", "id", "r1"),
                 t0};
    REQUIRE(hub_store_write(S, delivered_fn, &a) == 0);
    CHECK(counts_at("i/d", "a", "email", t0).n[HUB_CTR_DELIVERIES] == 1);
    CHECK(entries(HUB_DB_TOUCH) == touches + 1);
    json_decref(a.job);
    /* a webhook event is no delivery of content */
    a.job = json_pack("{s:s,s:s,s:s,s:s,s:{s:s}}", "item", "i/d", "variant", "a", "channel",
                      "email", "webhook", "wh-1", "recipient", "id", "r1");
    REQUIRE(hub_store_write(S, delivered_fn, &a) == 0);
    json_decref(a.job);
    /* nor a job without recipient id */
    a.job = json_pack("{s:s,s:s,s:s}", "item", "i/d", "variant", "a", "channel", "email");
    REQUIRE(hub_store_write(S, delivered_fn, &a) == 0);
    json_decref(a.job);
    CHECK(counts_at("i/d", "a", "email", t0).n[HUB_CTR_DELIVERIES] == 1);
    CHECK(entries(HUB_DB_TOUCH) == touches + 1);
}

static int seq_fn(hub_txn *t, void *arg)
{
    uint64_t *out = arg;
    int rc = hub_analytics_seq_block(t, 1024, &out[0]);
    if (rc == 0)
        rc = hub_analytics_seq_block(t, 1, &out[1]);
    if (rc == 0 && hub_analytics_seq_block(t, 0, &out[2]) != HUB_EINVAL)
        rc = HUB_EIO;
    if (rc == 0 && hub_analytics_seq_block(t, 1025, &out[2]) != HUB_EINVAL)
        rc = HUB_EIO;
    return rc;
}

static void test_seq_blocks_do_not_overlap(void)
{
    uint64_t s[3] = {0, 0, 0};
    REQUIRE(hub_store_write(S, seq_fn, s) == 0);
    CHECK(s[0] % 1024 == 0 && s[1] % 1024 == 0);
    CHECK(s[1] >= s[0] + 1024);
}

/* ---- retention ------------------------------------------------------------------------- */

typedef struct prune_arg {
    int retention_days;
    int64_t now_ms;
    size_t max;
    int more;
    int rc;
} prune_arg;

static int prune_fn(hub_txn *t, void *arg)
{
    prune_arg *p = arg;
    p->rc = hub_analytics_prune(t, p->retention_days, p->now_ms, p->max, &p->more);
    return p->rc;
}

/*
 * The fixture of the retention tests, in a fresh store (old: 200 days back, new: 1 day back):
 *   old  o1 exposure i/r a email, o1 click i/r a email, o1 conversion action/r (i/r a),
 *        o2 exposure i/r b sms
 *        -> counters (i/r,a,email,old) (i/r,a,"",old) (i/r,b,sms,old); touchpoints 3,
 *           conversions 1, retention index 4
 *   new  n1 exposure i/r a email, n1 conversion action/r (i/r a)
 *        -> counters (i/r,a,email,new) (i/r,a,"",new); touchpoints 1, conversions 1, index 2
 */
#define OLD_MS (NOW_MS - 200 * DAY)
#define NEW_MS (NOW_MS - DAY)

static int retention_fixture(const char *name)
{
    S = open_fresh(name);
    if (S == NULL)
        return -1;
    int rc = record(mk(HUB_EV_EXPOSURE, "o1", "i/r", "a", "email", OLD_MS), 1);
    rc |= record(mk(HUB_EV_CLICK, "o1", "i/r", "a", "email", OLD_MS + 1000), 1);
    rc |= record(conv("o1", "i/r", "a", "action/r", 5, OLD_MS + 2000), 1);
    rc |= record(mk(HUB_EV_EXPOSURE, "o2", "i/r", "b", "sms", OLD_MS), 1);
    rc |= record(mk(HUB_EV_EXPOSURE, "n1", "i/r", "a", "email", NEW_MS), 1);
    rc |= record(conv("n1", "i/r", "a", "action/r", 5, NEW_MS + 1000), 1);
    return rc;
}

static void check_only_new_left(void)
{
    CHECK(entries(HUB_DB_TOUCH) == 1);
    CHECK(entries(HUB_DB_CONVERSIONS) == 1);
    CHECK(entries(HUB_DB_TOUCH_TIME) == 2);
    CHECK(entries(HUB_DB_COUNTERS) == 2);
    CHECK(!has_counters("i/r", "a", "email", OLD_MS) && !has_counters("i/r", "a", "", OLD_MS));
    CHECK(!has_counters("i/r", "b", "sms", OLD_MS));
    CHECK(counts_at("i/r", "a", "email", NEW_MS).n[HUB_CTR_EXPOSURES] == 1);
    CHECK(counts_at("i/r", "a", "", NEW_MS).n[HUB_CTR_CONVERSIONS] == 1);
    /* the unit flags are kept: o1 and o2 stay counted as exposed */
    CHECK(entries(HUB_DB_ASSIGNMENTS) == 3);
}

static void test_prune_deletes_exactly_the_old(void)
{
    hub_store *saved = S;
    REQUIRE(retention_fixture("analytics_prune") == 0);
    CHECK(entries(HUB_DB_TOUCH) == 4 && entries(HUB_DB_CONVERSIONS) == 2);
    CHECK(entries(HUB_DB_TOUCH_TIME) == 6 && entries(HUB_DB_COUNTERS) == 5);
    prune_arg p = {180, NOW_MS, 1000, 1, 0};
    /* retention 250 days keeps everything */
    p.retention_days = 250;
    REQUIRE(hub_store_write(S, prune_fn, &p) == 0);
    CHECK(p.more == 0 && entries(HUB_DB_TOUCH_TIME) == 6 && entries(HUB_DB_COUNTERS) == 5);
    p.retention_days = 180;
    p.more = 1;
    REQUIRE(hub_store_write(S, prune_fn, &p) == 0);
    CHECK(p.more == 0);
    check_only_new_left();
    /* again: nothing left to do */
    REQUIRE(hub_store_write(S, prune_fn, &p) == 0);
    CHECK(p.more == 0);
    check_only_new_left();
    p.retention_days = 0;
    CHECK(hub_store_write(S, prune_fn, &p) == HUB_EINVAL);
    hub_store_close(S);
    S = saved;
}

static void test_prune_in_slices(void)
{
    hub_store *saved = S;
    REQUIRE(retention_fixture("analytics_prune_slices") == 0);
    /* old entries: 4 in the retention index, 3 counters = 7; 2 per call -> 4 calls */
    prune_arg p = {180, NOW_MS, 0, 0, 0};
    REQUIRE(hub_store_write(S, prune_fn, &p) == 0);
    CHECK(p.more == 1 && entries(HUB_DB_TOUCH_TIME) == 6); /* max 0: nothing, more to do */
    p.max = 2;
    int calls = 0;
    size_t before = entries(HUB_DB_TOUCH_TIME) + entries(HUB_DB_COUNTERS);
    do {
        REQUIRE(hub_store_write(S, prune_fn, &p) == 0);
        calls++;
        size_t now = entries(HUB_DB_TOUCH_TIME) + entries(HUB_DB_COUNTERS);
        CHECK(before - now <= 2);
        CHECK(p.more == 0 || before - now == 2);
        before = now;
    } while (p.more && calls < 20);
    CHECK(calls == 4);
    check_only_new_left();
    hub_store_close(S);
    S = saved;
}

static void test_prune_boundary(void)
{
    /* a touchpoint exactly retention_days old is kept, one a millisecond older goes; the
     * counters of the day the cutoff falls in are kept whole */
    hub_store *saved = S;
    S = open_fresh("analytics_prune_edge");
    REQUIRE(S != NULL);
    int64_t cutoff = NOW_MS - 30 * DAY;
    REQUIRE(record(mk(HUB_EV_CLICK, "x1", "i/b", "a", "email", cutoff - 1), 1) == 0);
    REQUIRE(record(mk(HUB_EV_CLICK, "x1", "i/b", "a", "email", cutoff), 1) == 0);
    REQUIRE(record(mk(HUB_EV_CLICK, "x1", "i/b", "a", "email", cutoff - DAY), 1) == 0);
    prune_arg p = {30, NOW_MS, 100, 0, 0};
    REQUIRE(hub_store_write(S, prune_fn, &p) == 0);
    CHECK(entries(HUB_DB_TOUCH) == 1 && entries(HUB_DB_TOUCH_TIME) == 1);
    CHECK(counts_at("i/b", "a", "email", cutoff).n[HUB_CTR_CLICKS] == 2);
    CHECK(!has_counters("i/b", "a", "email", cutoff - DAY));
    hub_store_close(S);
    S = saved;
}

int main(void)
{
    RUN(test_counter_key_roundtrip);
    RUN(test_counter_key_limits);
    RUN(test_counter_key_split_rejects_malformed);
    RUN(test_event_type_names);
    S = open_fresh("analytics_record");
    if (S == NULL)
        return 1;
    RUN(test_exposures_count_subjects_once);
    RUN(test_conversions_count_subjects_once_and_sum_value);
    RUN(test_other_events_count_every_event);
    RUN(test_holdout_and_stored_variant);
    RUN(test_expose);
    RUN(test_on_delivered);
    RUN(test_seq_blocks_do_not_overlap);
    RUN(test_base_variant_of_the_published_item);
    RUN(test_events_write);
    RUN(test_prune_deletes_exactly_the_old);
    RUN(test_prune_in_slices);
    RUN(test_prune_boundary);
    hub_store_close(S);
    return TEST_SUMMARY();
}
