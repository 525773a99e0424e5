/*
 * analytics/events.c: POST /v1/events. Each event is checked on its own (the good ones are
 * accepted, each bad one is rejected with its index, a JSON pointer and a reason), in a read
 * transaction on the loop thread; the accepted ones are then written in one transaction.
 *
 * Event: {"type", "subject", "item", "variant", "channel", "locale", "delivery_id",
 *         "action", "value", "ts"}
 * - type: exposure | delivered | open | click | conversion | unsubscribe | bounce;
 * - subject: 1..256 bytes; item: a published item (optional for conversions, which then
 *   need an action); variant: one of the item's variants, or null (the subject's assigned
 *   variant, else the base); channel: a loaded channel or null; locale: BCP 47 or null;
 * - delivery_id: a delivery of this hub; it supplies item, variant and channel when absent;
 * - action: an existing action/ term (required for a conversion without item);
 * - value: a finite number (conversions); ts: RFC 3339, default now, not more than five
 *   minutes ahead, not older than the retention period.
 */
#include "analytics/internal.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define FUTURE_SLACK_MS (5 * 60 * 1000LL)

static const char *const members[] = {"type",        "subject", "item",   "variant",
                                      "channel",     "locale",  "action", "value",
                                      "delivery_id", "ts",      NULL};

typedef struct check {
    json_t *rejected;
    size_t index;
    int bad;
} check;

static void reject(check *c, const char *member, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void reject(check *c, const char *member, const char *fmt, ...)
{
    char reason[300], path[80];
    va_list ap;
    if (c->bad)
        return; /* one reason per event: the first */
    va_start(ap, fmt);
    vsnprintf(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    snprintf(path, sizeof(path), "/%zu%s%s", c->index, member[0] ? "/" : "", member);
    json_array_append_new(c->rejected, json_pack("{s:I,s:s,s:s}", "index", (json_int_t)c->index,
                                                 "path", path, "reason", hub_utf8_scrub(reason)));
    c->bad = 1;
}

/* A string member: NULL when absent or null; rejects other types, empty strings, NUL bytes
 * and strings over max bytes. */
static const char *opt_string(check *c, const json_t *ev, const char *name, size_t max)
{
    json_t *v = json_object_get(ev, name);
    if (v == NULL || json_is_null(v))
        return NULL;
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (s == NULL || n == 0 || n > max || strlen(s) != n) {
        reject(c, name, "must be a string of 1 to %zu bytes", max);
        return NULL;
    }
    return s;
}

/* Fills item, variant and channel from the delivery the event names (when it names one). */
static void from_delivery(check *c, hub_txn *txn, json_t *out)
{
    const char *id = json_string_value(json_object_get(out, "delivery_id"));
    uint64_t n;
    json_t *job = NULL;
    if (id == NULL)
        return;
    if (hub_job_id_parse(id, &n) != 0 || hub_job_load(txn, n, &job) != 0) {
        reject(c, "delivery_id", "unknown delivery %s", id);
        return;
    }
    const char *subject = json_string_value(json_object_get(out, "subject"));
    const char *recipient =
        json_string_value(json_object_get(json_object_get(job, "recipient"), "id"));
    if (subject != NULL && recipient != NULL && strcmp(subject, recipient) != 0)
        reject(c, "subject", "differs from the recipient of delivery %s", id);
    static const char *const take[] = {"item", "variant", "channel"};
    for (int i = 0; i < 3; i++) {
        json_t *mine = json_object_get(out, take[i]), *theirs = json_object_get(job, take[i]);
        if (mine == NULL || json_is_null(mine))
            json_object_set(out, take[i], theirs != NULL ? theirs : json_null());
        else if (theirs != NULL && !json_equal(mine, theirs))
            reject(c, take[i], "%s", "differs from the delivery's");
    }
    json_decref(job);
}

/* The item must be published; the variant one of its variants. */
static void check_item(check *c, hub_txn *txn, json_t *out)
{
    const char *item = json_string_value(json_object_get(out, "item"));
    const char *variant = json_string_value(json_object_get(out, "variant"));
    hub_plan p;
    hub_buf scratch;
    if (item == NULL)
        return;
    hub_buf_init(&scratch, 1u << 20);
    if (hub_content_plan(txn, hub_slice_cstr(item), 0, &scratch, &p, NULL) != 0)
        reject(c, "item", "unknown item %s (not published)", item);
    else if (variant != NULL && hub_plan_find(&p, hub_slice_cstr(variant)) < 0)
        reject(c, "variant", "item has no variant %s", variant);
    hub_buf_free(&scratch);
}

static void check_time(check *c, const json_t *ev, json_t *out, int64_t now, int retention)
{
    json_t *ts = json_object_get(ev, "ts");
    int64_t ms = now;
    if (ts != NULL && !json_is_null(ts)) {
        const char *s = json_string_value(ts);
        if (s == NULL || hub_time_parse(s, json_string_length(ts), &ms) != 0) {
            reject(c, "ts", "must be an RFC 3339 time");
            return;
        }
        if (ms > now + FUTURE_SLACK_MS)
            reject(c, "ts", "is in the future");
        else if (ms < now - (int64_t)retention * HUB_DAY_MS)
            reject(c, "ts", "is older than the retention period");
    }
    json_object_set_new(out, "ms", json_integer(ms));
}

static void check_refs(check *c, hub_txn *txn, const json_t *ev, const hub_schema_set *schemas,
                       hub_event_type type)
{
    const char *channel = opt_string(c, ev, "channel", 64);
    const char *action = opt_string(c, ev, "action", HUB_TERM_MAX);
    const char *locale = opt_string(c, ev, "locale", 64);
    char canon[HUB_LOCALE_TAG_MAX];
    json_t *value = json_object_get(ev, "value");
    if (channel != NULL && hub_schema_find(schemas, channel) == NULL)
        reject(c, "channel", "unknown channel %s", channel);
    if (locale != NULL && hub_locale_canonicalize(locale, strlen(locale), canon, NULL) != 0)
        reject(c, "locale", "is not a BCP 47 language tag");
    if (action != NULL && (strncmp(action, "action/", 7) != 0 || !hub_taxonomy_exists(txn, action)))
        reject(c, "action", "unknown action %s (an action/ taxonomy term)", action);
    if (value != NULL && !json_is_null(value) &&
        (!json_is_number(value) || !isfinite(json_number_value(value))))
        reject(c, "value", "must be a number");
    int has_item = json_string_value(json_object_get(ev, "item")) != NULL ||
                   json_string_value(json_object_get(ev, "delivery_id")) != NULL;
    if (type == HUB_EV_CONVERSION && action == NULL && !has_item)
        reject(c, "action", "a conversion needs an action or an item");
    if (!has_item && json_string_value(json_object_get(ev, "variant")) != NULL)
        reject(c, "variant", "a variant needs an item");
}

/* Checks one event; a normalized copy (new) when it is good, else NULL. */
static json_t *check_one(check *c, hub_txn *txn, const json_t *ev, const hub_schema_set *schemas,
                         int64_t now, int retention)
{
    const char *k;
    json_t *v;
    hub_event_type type = HUB_EV_EXPOSURE;
    if (!json_is_object(ev)) {
        reject(c, "", "an event must be an object");
        return NULL;
    }
    json_object_foreach((json_t *)ev, k, v)
    {
        size_t i = 0;
        while (members[i] != NULL && strcmp(members[i], k) != 0)
            i++;
        if (members[i] == NULL)
            reject(c, "", "unknown member '%.64s'", k);
    }
    if (hub_event_type_parse(json_string_value(json_object_get(ev, "type")), &type) != 0)
        reject(c, "type",
               "must be exposure, delivered, open, click, conversion, unsubscribe or bounce");
    if (opt_string(c, ev, "subject", HUB_SUBJECT_MAX) == NULL)
        reject(c, "subject", "required: a string of 1 to 256 bytes");
    opt_string(c, ev, "item", HUB_ITEM_KEY_MAX);
    opt_string(c, ev, "variant", HUB_VARIANT_ID_MAX);
    opt_string(c, ev, "delivery_id", 24);
    check_refs(c, txn, ev, schemas, type);
    json_t *out = c->bad ? NULL : json_deep_copy(ev);
    if (out == NULL)
        return NULL;
    from_delivery(c, txn, out);
    if (!c->bad && type != HUB_EV_CONVERSION &&
        json_string_value(json_object_get(out, "item")) == NULL)
        reject(c, "item", "required for this event type");
    if (!c->bad)
        check_item(c, txn, out);
    if (!c->bad)
        check_time(c, ev, out, now, retention);
    if (c->bad) {
        json_decref(out);
        return NULL;
    }
    return out;
}

int hub_events_check(hub_txn *rtxn, const json_t *body, const hub_schema_set *schemas,
                     int64_t now_ms, int retention_days, json_t **out_ok, json_t **out_rejected,
                     hub_error *err)
{
    size_t i;
    json_t *ev;
    if (!json_is_array(body))
        return hub_error_set(err, HUB_EINVAL, "the body must be an array of events");
    if (json_array_size(body) > HUB_EVENTS_MAX)
        return hub_error_set(err, HUB_EINVAL, "at most %d events per request (got %zu)",
                             HUB_EVENTS_MAX, json_array_size(body));
    json_t *ok = json_array(), *rejected = json_array();
    if (ok == NULL || rejected == NULL) {
        json_decref(ok);
        json_decref(rejected);
        return hub_error_set(err, HUB_ENOMEM, "out of memory");
    }
    json_array_foreach(body, i, ev)
    {
        check c = {rejected, i, 0};
        json_t *good = check_one(&c, rtxn, ev, schemas, now_ms, retention_days);
        if (good != NULL)
            json_array_append_new(ok, good);
    }
    *out_ok = ok;
    *out_rejected = rejected;
    return 0;
}

static hub_slice member(const json_t *ev, const char *name)
{
    json_t *v = json_object_get(ev, name);
    return json_is_string(v) ? (hub_slice){json_string_value(v), json_string_length(v)}
                             : (hub_slice){"", 0};
}

int hub_events_write(hub_txn *txn, const json_t *accepted)
{
    size_t i;
    json_t *ev;
    uint64_t seq = 0;
    int rc = 0;
    json_array_foreach(accepted, i, ev)
    {
        hub_event e;
        if (i % 1024 == 0 && (rc = hub_analytics_seq_block(txn, 1024, &seq)) != 0)
            break;
        hub_event_type_parse(json_string_value(json_object_get(ev, "type")), &e.type);
        e.subject = member(ev, "subject");
        e.item = member(ev, "item");
        e.variant = member(ev, "variant");
        e.channel = member(ev, "channel");
        e.action = member(ev, "action");
        e.has_variant = e.variant.len > 0;
        e.holdout = 0;
        e.value = json_number_value(json_object_get(ev, "value"));
        e.ms = (int64_t)json_integer_value(json_object_get(ev, "ms"));
        rc = hub_analytics_record(txn, &e, seq + i % 1024, 1);
        if (rc != 0)
            break;
    }
    return rc;
}
