/*
 * analytics/record.c: what one event leaves in the store (counters of its day, the unit
 * flags, a touchpoint, the conversion index), exposures decided by the experiment module,
 * deliveries reported by the queue, and retention.
 */
#include "analytics/internal.h"

#include <math.h>
#include <string.h>

#define TKEY_MAX 511

void hub_analytics_config_default(hub_analytics_config *c)
{
    c->retention_days = 180;
    c->bandit_interval_ms = 3600 * 1000;
    c->bandit_floor_percent = 5;
}

static const char *const type_names[HUB_EV_COUNT] = {"exposure",   "delivered",   "open",  "click",
                                                     "conversion", "unsubscribe", "bounce"};

const char *hub_event_type_name(hub_event_type t)
{
    return (unsigned)t < HUB_EV_COUNT ? type_names[t] : "unknown";
}

int hub_event_type_parse(const char *s, hub_event_type *out)
{
    for (int i = 0; i < HUB_EV_COUNT; i++)
        if (s != NULL && strcmp(s, type_names[i]) == 0) {
            *out = (hub_event_type)i;
            return 0;
        }
    return HUB_EINVAL;
}

/* ---- counters -------------------------------------------------------------------------- */

size_t hub_counter_key(char out[HUB_CKEY_MAX], hub_slice item, hub_slice variant, hub_slice channel,
                       uint32_t day)
{
    size_t n = item.len + variant.len + channel.len + 3 + 4;
    if (n > HUB_CKEY_MAX)
        return 0;
    char *p = out;
    memcpy(p, item.base, item.len);
    p += item.len;
    *p++ = '\0';
    memcpy(p, variant.base, variant.len);
    p += variant.len;
    *p++ = '\0';
    memcpy(p, channel.base, channel.len);
    p += channel.len;
    *p++ = '\0';
    hub_be32_put((unsigned char *)p, day);
    return n;
}

int hub_counter_key_split(hub_slice k, hub_slice *item, hub_slice *variant, hub_slice *channel,
                          uint32_t *day)
{
    hub_slice *parts[3] = {item, variant, channel};
    size_t pos = 0;
    if (k.len < 7)
        return HUB_EIO;
    for (int i = 0; i < 3; i++) {
        const char *z = memchr(k.base + pos, '\0', k.len - 4 - pos);
        if (z == NULL)
            return HUB_EIO;
        *parts[i] = (hub_slice){k.base + pos, (size_t)(z - (k.base + pos))};
        pos = (size_t)(z - k.base) + 1;
    }
    if (pos != k.len - 4)
        return HUB_EIO;
    *day = hub_be32_get((const unsigned char *)k.base + pos);
    return 0;
}

int hub_counts_decode(hub_slice v, hub_counts *out)
{
    const unsigned char *p = (const unsigned char *)v.base;
    if (v.len != HUB_COUNTS_BYTES)
        return HUB_EIO;
    for (int i = 0; i < HUB_CTR_COUNT; i++)
        out->n[i] = hub_be64_get(p + 8 * i);
    uint64_t bits = hub_be64_get(p + 8 * HUB_CTR_COUNT);
    memcpy(&out->value, &bits, 8);
    return 0;
}

void hub_counts_add(hub_counts *to, const hub_counts *from)
{
    for (int i = 0; i < HUB_CTR_COUNT; i++)
        to->n[i] += from->n[i];
    to->value += from->value;
}

/* Adds one to counter c (and value to the value sum) for (item, variant, channel, day). */
static int bump(hub_txn *txn, hub_slice item, hub_slice variant, hub_slice channel, int64_t ms,
                hub_ctr c, double value)
{
    char k[HUB_CKEY_MAX];
    unsigned char v[HUB_COUNTS_BYTES];
    hub_counts cur = {{0}, 0};
    hub_slice old;
    size_t kl = hub_counter_key(k, item, variant, channel, (uint32_t)(ms / HUB_DAY_MS));
    if (kl == 0)
        return HUB_EINVAL;
    int rc = hub_txn_get(txn, HUB_DB_COUNTERS, (hub_slice){k, kl}, &old);
    if (rc == 0)
        rc = hub_counts_decode(old, &cur);
    if (rc != 0 && rc != HUB_ENOTFOUND)
        return rc;
    cur.n[c]++;
    cur.value += value;
    for (int i = 0; i < HUB_CTR_COUNT; i++)
        hub_be64_put(v + 8 * i, cur.n[i]);
    uint64_t bits;
    memcpy(&bits, &cur.value, 8);
    hub_be64_put(v + 8 * HUB_CTR_COUNT, bits);
    return hub_txn_put(txn, HUB_DB_COUNTERS, (hub_slice){k, kl}, (hub_slice){(char *)v, sizeof(v)});
}

/* ---- touchpoints and conversions ------------------------------------------------------- */

static int put_str16(unsigned char *out, size_t *pos, hub_slice s)
{
    out[*pos] = (unsigned char)(s.len >> 8);
    out[*pos + 1] = (unsigned char)s.len;
    memcpy(out + *pos + 2, s.base, s.len);
    *pos += 2 + s.len;
    return 0;
}

/* "prefix\0" + be64 ms + be64 seq into k; its length or 0. */
static size_t time_key(char k[TKEY_MAX], hub_slice prefix, int64_t ms, uint64_t seq)
{
    if (prefix.len + 17 > TKEY_MAX)
        return 0;
    memcpy(k, prefix.base, prefix.len);
    k[prefix.len] = '\0';
    hub_be64_put((unsigned char *)k + prefix.len + 1, (uint64_t)ms);
    hub_be64_put((unsigned char *)k + prefix.len + 9, seq);
    return prefix.len + 17;
}

/* The retention index entry: be64 ms, be64 seq -> kind + key. */
static int index_time(hub_txn *txn, char kind, hub_slice key, int64_t ms, uint64_t seq)
{
    unsigned char tk[16], v[1 + TKEY_MAX];
    hub_be64_put(tk, (uint64_t)ms);
    hub_be64_put(tk + 8, seq);
    v[0] = (unsigned char)kind;
    memcpy(v + 1, key.base, key.len);
    return hub_txn_put(txn, HUB_DB_TOUCH_TIME, (hub_slice){(char *)tk, 16},
                       (hub_slice){(char *)v, key.len + 1});
}

static int add_touch(hub_txn *txn, const hub_event *e, uint64_t seq)
{
    char k[TKEY_MAX];
    unsigned char v[1 + 2 + 512 + 2 + 512];
    size_t pos = 1, kl = time_key(k, e->subject, e->ms, seq);
    if (kl == 0 || e->item.len > 512 || e->channel.len > 512)
        return HUB_EINVAL;
    v[0] = (unsigned char)e->type;
    put_str16(v, &pos, e->item);
    put_str16(v, &pos, e->channel);
    int rc = hub_txn_put(txn, HUB_DB_TOUCH, (hub_slice){k, kl}, (hub_slice){(char *)v, pos});
    return rc != 0 ? rc : index_time(txn, 't', (hub_slice){k, kl}, e->ms, seq);
}

static int add_conversion(hub_txn *txn, const hub_event *e, uint64_t seq)
{
    char k[TKEY_MAX];
    unsigned char v[8 + 2 + 512 + 2 + 512];
    size_t pos = 8, kl = time_key(k, e->action, e->ms, seq);
    uint64_t bits;
    if (kl == 0 || e->subject.len > 512 || e->item.len > 512)
        return HUB_EINVAL;
    memcpy(&bits, &e->value, 8);
    hub_be64_put(v, bits);
    put_str16(v, &pos, e->subject);
    put_str16(v, &pos, e->item);
    int rc = hub_txn_put(txn, HUB_DB_CONVERSIONS, (hub_slice){k, kl}, (hub_slice){(char *)v, pos});
    return rc != 0 ? rc : index_time(txn, 'c', (hub_slice){k, kl}, e->ms, seq);
}

int hub_analytics_seq_block(hub_txn *txn, size_t n, uint64_t *first)
{
    uint64_t block;
    if (n == 0 || n > 1024)
        return HUB_EINVAL;
    int rc = hub_txn_next_seq(txn, "events", &block);
    if (rc == 0)
        *first = block << 10;
    return rc;
}

/* ---- one event ------------------------------------------------------------------------- */

static const hub_ctr type_ctr[HUB_EV_COUNT] = {
    HUB_CTR_EXPOSURES,         HUB_CTR_DELIVERIES,   HUB_CTR_OPENS,  HUB_CTR_CLICKS,
    HUB_CTR_CONVERSION_EVENTS, HUB_CTR_UNSUBSCRIBES, HUB_CTR_BOUNCES};

/* The variant an event counts under (copied into buf, HUB_VARIANT_BUF bytes): its own, else
 * the subject's stored one (holdout: ""), else the base. *rec gets the stored record for the
 * unit flags. */
#define HUB_VARIANT_BUF 256
static int event_variant(hub_txn *txn, const hub_event *e, hub_assignment *rec, int *has_rec,
                         hub_slice *variant, char *buf)
{
    hub_slice v = {"", 0};
    int rc = hub_assignment_get(txn, e->item, e->subject, rec);
    if (rc != 0 && rc != HUB_ENOTFOUND)
        return rc;
    *has_rec = rc == 0;
    rc = 0;
    hub_plan p;
    hub_buf scratch;
    hub_buf_init(&scratch, 1u << 20);
    if (e->has_variant)
        v = e->holdout ? (hub_slice){"", 0} : e->variant;
    else if (*has_rec)
        v = (rec->flags & HUB_ASSIGN_HOLDOUT) ? (hub_slice){"", 0} : rec->variant;
    else if ((rc = hub_content_plan(txn, e->item, 0, &scratch, &p, NULL)) == 0)
        v = p.v[0].id;
    variant->base = buf;
    variant->len = v.len < HUB_VARIANT_BUF ? v.len : HUB_VARIANT_BUF - 1;
    memcpy(buf, v.base, variant->len);
    hub_buf_free(&scratch);
    return rc;
}

/* Sets a unit flag on (item, subject) once; *first = 1 when it was not set before. */
static int unit_flag(hub_txn *txn, const hub_event *e, hub_assignment *rec, int has_rec,
                     hub_slice variant, unsigned flag, int *first)
{
    hub_assignment a = {flag, e->ms, variant, e->channel};
    *first = !has_rec || !(rec->flags & flag);
    if (!*first)
        return 0;
    if (has_rec) {
        a = *rec;
        a.flags |= flag;
    } else if (variant.len == 0) {
        a.flags |= HUB_ASSIGN_HOLDOUT;
    }
    return hub_assignment_put(txn, e->item, e->subject, &a);
}

int hub_analytics_record(hub_txn *txn, const hub_event *e, uint64_t seq, int touch_always)
{
    char base[HUB_VARIANT_BUF];
    hub_assignment rec;
    hub_slice variant = {"", 0};
    int has_rec = 0, first = 1, rc = 0;
    if (e->item.len > 0)
        rc = event_variant(txn, e, &rec, &has_rec, &variant, base);
    if (rc == HUB_ENOTFOUND)
        return 0; /* its item was unpublished since the event was checked: nothing to count */
    if (rc == 0 && e->item.len > 0) {
        hub_ctr c = type_ctr[e->type];
        double value = e->type == HUB_EV_CONVERSION ? e->value : 0;
        /* the unit flag first: rec points into the map, which the counters' put may move */
        if (e->type == HUB_EV_EXPOSURE || e->type == HUB_EV_CONVERSION)
            rc = unit_flag(txn, e, &rec, has_rec, variant,
                           e->type == HUB_EV_EXPOSURE ? HUB_ASSIGN_EXPOSED : HUB_ASSIGN_CONVERTED,
                           &first);
        if (rc == 0 && (e->type != HUB_EV_EXPOSURE || first))
            rc = bump(txn, e->item, variant, e->channel, e->ms, c, value);
        if (rc == 0 && e->type == HUB_EV_CONVERSION && first)
            rc = bump(txn, e->item, variant, e->channel, e->ms, HUB_CTR_CONVERSIONS, 0);
    }
    int touch = e->item.len > 0 && e->type <= HUB_EV_CLICK &&
                (e->type != HUB_EV_EXPOSURE || first || touch_always);
    if (rc == 0 && touch)
        rc = add_touch(txn, e, seq);
    if (rc == 0 && e->type == HUB_EV_CONVERSION && e->action.len > 0)
        rc = add_conversion(txn, e, seq);
    return rc;
}

/* ---- exposures decided by the experiment module ---------------------------------------- */

void hub_exposure_of(const hub_plan *p, const hub_decision *d, hub_slice key, hub_slice subject,
                     hub_slice channel, int64_t ms, hub_exposure *out)
{
    out->key = key;
    out->subject = subject;
    out->channel = channel;
    out->holdout = d->variant < 0;
    out->variant = hub_decision_variant(p, d);
    out->store = d->store;
    out->replace = d->store && d->stored && (d->rec.flags & HUB_ASSIGN_STICKY);
    out->ms = ms;
}

int hub_analytics_expose(hub_txn *txn, const hub_exposure *x)
{
    hub_assignment cur, a;
    int rc = hub_assignment_get(txn, x->key, x->subject, &cur);
    if (rc != 0 && rc != HUB_ENOTFOUND)
        return rc;
    int had = rc == 0, changed = !had;
    a = had ? cur : (hub_assignment){0, x->ms, x->variant, x->channel};
    if (x->store && (!had || !(cur.flags & HUB_ASSIGN_STICKY) || x->replace)) {
        a.flags = (a.flags & ~HUB_ASSIGN_HOLDOUT) | HUB_ASSIGN_STICKY |
                  (x->holdout ? HUB_ASSIGN_HOLDOUT : 0);
        a.variant = x->variant;
        changed = 1;
    }
    int first = !(a.flags & HUB_ASSIGN_EXPOSED);
    if (first) {
        a.flags |= HUB_ASSIGN_EXPOSED;
        a.channel = x->channel;
        changed = 1;
    }
    /* counted under the variant the subject keeps; copied, as the put moves the map */
    char vbuf[256];
    hub_slice variant = {vbuf, (a.flags & HUB_ASSIGN_HOLDOUT) ? 0 : a.variant.len};
    memcpy(vbuf, a.variant.base, variant.len);
    rc = changed ? hub_assignment_put(txn, x->key, x->subject, &a) : 0;
    if (rc != 0 || !first)
        return rc;
    uint64_t seq;
    hub_event e = {HUB_EV_EXPOSURE,
                   x->subject,
                   x->key,
                   variant,
                   x->channel,
                   {"", 0},
                   1,
                   (a.flags & HUB_ASSIGN_HOLDOUT) != 0,
                   0,
                   x->ms};
    rc = bump(txn, x->key, variant, x->channel, x->ms, HUB_CTR_EXPOSURES, 0);
    if (rc == 0)
        rc = hub_analytics_seq_block(txn, 1, &seq);
    return rc != 0 ? rc : add_touch(txn, &e, seq);
}

int hub_analytics_on_delivered(void *ctx, hub_txn *txn, const json_t *job, int64_t now_ms)
{
    (void)ctx;
    const char *item = json_string_value(json_object_get(job, "item"));
    const char *variant = json_string_value(json_object_get(job, "variant"));
    const char *channel = json_string_value(json_object_get(job, "channel"));
    const char *subject =
        json_string_value(json_object_get(json_object_get(job, "recipient"), "id"));
    uint64_t seq;
    if (item == NULL || channel == NULL || subject == NULL ||
        json_string_value(json_object_get(job, "webhook")) != NULL)
        return 0; /* webhook events are no deliveries of content */
    hub_event e = {HUB_EV_DELIVERED,
                   hub_slice_cstr(subject),
                   hub_slice_cstr(item),
                   hub_slice_cstr(variant != NULL ? variant : ""),
                   hub_slice_cstr(channel),
                   {"", 0},
                   variant != NULL,
                   0,
                   0,
                   now_ms};
    int rc = hub_analytics_seq_block(txn, 1, &seq);
    return rc != 0 ? rc : hub_analytics_record(txn, &e, seq, 1);
}

/* ---- retention ------------------------------------------------------------------------- */

static int prune_index(hub_txn *txn, int64_t cutoff, size_t max, size_t *done, int *more)
{
    hub_cursor *c;
    hub_slice k, v;
    int rc = hub_cursor_open(txn, HUB_DB_TOUCH_TIME, &c);
    if (rc != 0)
        return rc;
    rc = hub_cursor_seek(c, (hub_slice){"", 0}, &k, &v);
    while (rc == 0 && k.len == 16 &&
           (int64_t)hub_be64_get((const unsigned char *)k.base) < cutoff) {
        if (*done >= max) {
            *more = 1;
            break;
        }
        if (v.len > 1) {
            hub_db db = v.base[0] == 'c' ? HUB_DB_CONVERSIONS : HUB_DB_TOUCH;
            char target[TKEY_MAX];
            size_t tl = v.len - 1 < TKEY_MAX ? v.len - 1 : TKEY_MAX;
            memcpy(target, v.base + 1, tl); /* the delete below invalidates v */
            int d = hub_txn_del(txn, db, (hub_slice){target, tl});
            if (d != 0 && d != HUB_ENOTFOUND) {
                rc = d;
                break;
            }
        }
        rc = hub_cursor_del(c);
        if (rc == 0)
            rc = hub_cursor_seek(c, (hub_slice){"", 0}, &k, &v);
        (*done)++;
    }
    hub_cursor_close(c);
    return rc == HUB_ENOTFOUND ? 0 : rc;
}

static int prune_counters(hub_txn *txn, uint32_t cutoff_day, size_t max, size_t *done, int *more)
{
    hub_cursor *c;
    hub_slice k, v, item, variant, channel;
    uint32_t day;
    int rc = hub_cursor_open(txn, HUB_DB_COUNTERS, &c);
    if (rc != 0)
        return rc;
    rc = hub_cursor_seek(c, (hub_slice){"", 0}, &k, &v);
    while (rc == 0) {
        if (hub_counter_key_split(k, &item, &variant, &channel, &day) == 0 && day < cutoff_day) {
            if (*done >= max) {
                *more = 1;
                break;
            }
            char saved[HUB_CKEY_MAX];
            size_t sl = k.len;
            memcpy(saved, k.base, sl); /* the delete invalidates k */
            rc = hub_cursor_del(c);
            (*done)++;
            if (rc == 0) /* the first key after the deleted one */
                rc = hub_cursor_seek(c, (hub_slice){saved, sl}, &k, &v);
            continue;
        }
        rc = hub_cursor_next(c, &k, &v);
    }
    hub_cursor_close(c);
    return rc == HUB_ENOTFOUND ? 0 : rc;
}

int hub_analytics_prune(hub_txn *txn, int retention_days, int64_t now_ms, size_t max_deletes,
                        int *more)
{
    size_t done = 0;
    int64_t cutoff = now_ms - (int64_t)retention_days * HUB_DAY_MS;
    *more = 0;
    if (retention_days <= 0)
        return HUB_EINVAL;
    if (cutoff <= 0)
        return 0; /* nothing can be that old */
    int rc = prune_index(txn, cutoff, max_deletes, &done, more);
    if (rc == 0)
        rc = prune_counters(txn, (uint32_t)(cutoff / HUB_DAY_MS), max_deletes, &done, more);
    return rc;
}
