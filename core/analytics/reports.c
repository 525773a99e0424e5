/*
 * analytics/reports.c: the item report and attribution, computed from the stored counters,
 * touchpoints and conversions in one read transaction. The formulas are in stats.h and, for
 * readers of the reports, in docs/reports.md.
 */
#include "analytics/internal.h"
#include "analytics/stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SRM_ALPHA       0.001 /* a mismatch this unlikely by chance means broken assignment */
#define TOUCH_MAX       256   /* touchpoints considered per conversion (the newest) */
#define CONVERSIONS_MAX 1000000

/* ---- item report ----------------------------------------------------------------------- */

#define CHANNELS_MAX 16

/* Counters of one channel. */
typedef struct crow {
    char name[65]; /* "" for events without a channel */
    hub_counts c;
} crow;

/* Per variant: totals and per channel. */
typedef struct vrow {
    char id[HUB_VARIANT_ID_MAX + 1];
    hub_counts total;
    crow ch[CHANNELS_MAX];
    size_t nch;
} vrow;

typedef struct report {
    vrow rows[HUB_PLAN_VARIANTS_MAX + 16];
    size_t nrows;
    vrow holdout;
} report;

static vrow *row_of(report *r, hub_slice id)
{
    if (id.len == 0)
        return &r->holdout;
    for (size_t i = 0; i < r->nrows; i++)
        if (strlen(r->rows[i].id) == id.len && memcmp(r->rows[i].id, id.base, id.len) == 0)
            return &r->rows[i];
    if (r->nrows == sizeof(r->rows) / sizeof(r->rows[0]) || id.len > HUB_VARIANT_ID_MAX)
        return NULL; /* a variant removed long ago beyond what we show */
    vrow *v = &r->rows[r->nrows++];
    memcpy(v->id, id.base, id.len);
    v->id[id.len] = '\0';
    return v;
}

static json_t *counts_json(const hub_counts *c)
{
    double exp = (double)c->n[HUB_CTR_EXPOSURES], conv = (double)c->n[HUB_CTR_CONVERSIONS];
    return json_pack("{s:I,s:I,s:I,s:I,s:I,s:o,s:f,s:I,s:I}", "exposures",
                     (json_int_t)c->n[HUB_CTR_EXPOSURES], "deliveries",
                     (json_int_t)c->n[HUB_CTR_DELIVERIES], "opens", (json_int_t)c->n[HUB_CTR_OPENS],
                     "clicks", (json_int_t)c->n[HUB_CTR_CLICKS], "conversions",
                     (json_int_t)c->n[HUB_CTR_CONVERSIONS], "conversion_rate",
                     exp > 0 ? json_real(conv > exp ? 1.0 : conv / exp) : json_null(), "value",
                     c->value, "unsubscribes", (json_int_t)c->n[HUB_CTR_UNSUBSCRIBES], "bounces",
                     (json_int_t)c->n[HUB_CTR_BOUNCES]);
}

/* Adds one counters record to its row (totals and channel). */
static void add_record(report *r, hub_slice variant, hub_slice channel, const hub_counts *c)
{
    vrow *row = row_of(r, variant);
    if (row == NULL)
        return;
    hub_counts_add(&row->total, c);
    if (channel.len > 64)
        return;
    for (size_t i = 0; i < row->nch; i++)
        if (strlen(row->ch[i].name) == channel.len &&
            memcmp(row->ch[i].name, channel.base, channel.len) == 0) {
            hub_counts_add(&row->ch[i].c, c);
            return;
        }
    if (row->nch == CHANNELS_MAX)
        return;
    crow *n = &row->ch[row->nch++];
    memcpy(n->name, channel.base, channel.len);
    n->name[channel.len] = '\0';
    n->c = *c;
}

static json_t *channels_json(const vrow *row)
{
    json_t *out = json_object();
    for (size_t i = 0; i < row->nch; i++)
        json_object_set_new(out, row->ch[i].name[0] ? row->ch[i].name : "none",
                            counts_json(&row->ch[i].c));
    return out;
}

static int scan_counters(hub_txn *txn, const char *key, int64_t from_ms, int64_t to_ms, report *r,
                         int *any)
{
    hub_cursor *c;
    hub_slice k, v, item, variant, channel;
    hub_counts cnt;
    uint32_t day;
    size_t plen = strlen(key) + 1;
    int rc = hub_cursor_open(txn, HUB_DB_COUNTERS, &c);
    if (rc != 0)
        return rc;
    rc = hub_cursor_seek(c, (hub_slice){key, plen}, &k, &v);
    while (rc == 0 && k.len > plen && memcmp(k.base, key, plen) == 0) {
        if (hub_counter_key_split(k, &item, &variant, &channel, &day) != 0 ||
            hub_counts_decode(v, &cnt) != 0) {
            rc = HUB_EIO;
            break;
        }
        int64_t day_ms = (int64_t)day * HUB_DAY_MS;
        if ((from_ms < 0 || day_ms + HUB_DAY_MS > from_ms) && (to_ms < 0 || day_ms <= to_ms)) {
            add_record(r, variant, channel, &cnt);
            *any = 1;
        }
        if (rc == 0)
            rc = hub_cursor_next(c, &k, &v);
    }
    hub_cursor_close(c);
    return rc == HUB_ENOTFOUND ? 0 : rc;
}

/* Sample ratio mismatch over the weighted variants of a fixed allocation. */
static json_t *srm_json(const hub_plan *p, const report *r)
{
    double obs[HUB_PLAN_VARIANTS_MAX], w[HUB_PLAN_VARIANTS_MAX], pv = 1;
    size_t k = 0;
    if (p == NULL || p->status != HUB_EXP_RUNNING || p->allocation != HUB_ALLOC_FIXED)
        return json_pack("{s:n,s:n,s:s}", "p_value", "ok", "note",
                         "checked for running experiments with fixed weights");
    for (size_t i = 0; i < p->nvariants; i++) {
        if (p->v[i].audience)
            continue;
        obs[k] = (double)r->rows[i].total.n[HUB_CTR_EXPOSURES];
        w[k++] = p->v[i].weight;
    }
    double total_w = 0;
    for (size_t i = 0; i < k; i++)
        total_w += w[i];
    if (!(total_w > 0))
        for (size_t i = 0; i < k; i++)
            w[i] = 1;
    if (hub_stat_srm(obs, w, k, &pv) != 0)
        return json_pack("{s:n,s:n}", "p_value", "ok");
    return json_pack("{s:f,s:b}", "p_value", pv, "ok", pv >= SRM_ALPHA);
}

static json_t *variant_json(const vrow *row, const vrow *base, const hub_plan *p, int is_base)
{
    json_t *o = json_pack("{s:s}", "variant", row->id), *counts = counts_json(&row->total);
    hub_stat_compare cmp;
    json_object_update(o, counts);
    json_decref(counts);
    json_object_set_new(o, "by_channel", channels_json(row));
    int i = p != NULL ? hub_plan_find(p, hub_slice_cstr(row->id)) : -1;
    json_object_set_new(o, "weight",
                        i >= 0 && !p->v[i].audience ? json_real(p->v[i].weight) : json_null());
    if (is_base || base == NULL) {
        json_object_set_new(o, "uplift", json_null());
        json_object_set_new(o, "probability_to_beat_base", json_null());
        return o;
    }
    hub_stat_compare_rates(base->total.n[HUB_CTR_EXPOSURES], base->total.n[HUB_CTR_CONVERSIONS],
                           row->total.n[HUB_CTR_EXPOSURES], row->total.n[HUB_CTR_CONVERSIONS],
                           &cmp);
    json_object_set_new(o, "uplift",
                        cmp.defined ? json_pack("{s:f,s:f,s:f}", "estimate", cmp.uplift, "low",
                                                cmp.low, "high", cmp.high)
                                    : json_null());
    json_object_set_new(o, "probability_to_beat_base", json_real(cmp.prob_beat));
    return o;
}

static json_t *time_or_null(int64_t ms)
{
    char t[HUB_TIME_LEN];
    if (ms < 0)
        return json_null();
    hub_time_format(ms, t);
    return json_string(t);
}

static json_t *bandit_json(hub_txn *txn, const char *key, const hub_plan *p)
{
    double w[HUB_PLAN_VARIANTS_MAX], total = 0;
    int64_t at = -1;
    if (hub_bandit_get(txn, hub_slice_cstr(key), p, w, &at) != 0)
        hub_bandit_equal(p, w);
    for (size_t i = 0; i < p->nvariants; i++)
        total += w[i];
    json_t *ws = json_object();
    for (size_t i = 0; i < p->nvariants; i++) {
        char id[HUB_VARIANT_ID_MAX + 1];
        if (p->v[i].audience)
            continue;
        snprintf(id, sizeof(id), "%.*s", (int)p->v[i].id.len, p->v[i].id.base);
        json_object_set_new(ws, id, json_real(total > 0 ? w[i] / total : 0));
    }
    return json_pack("{s:o,s:o}", "weights", ws, "updated_at", time_or_null(at));
}

static int report_json(hub_txn *txn, const char *key, const hub_plan *p, report *r, int64_t from_ms,
                       int64_t to_ms, json_t **out)
{
    json_t *vs = json_array();
    json_t *o =
        json_pack("{s:s,s:o,s:o,s:o}", "item", key, "from", time_or_null(from_ms), "to",
                  time_or_null(to_ms), "experiment", p != NULL ? hub_plan_json(p) : json_null());
    if (o == NULL || vs == NULL) {
        json_decref(o);
        json_decref(vs);
        return HUB_ENOMEM;
    }
    json_object_set_new(o, "srm", srm_json(p, r));
    for (size_t i = 0; i < r->nrows; i++)
        json_array_append_new(
            vs, variant_json(&r->rows[i], r->nrows > 0 ? &r->rows[0] : NULL, p, i == 0));
    json_object_set_new(o, "variants", vs);
    json_t *h = counts_json(&r->holdout.total);
    json_object_set_new(h, "by_channel", channels_json(&r->holdout));
    json_object_set_new(o, "holdout", h);
    if (p != NULL && p->allocation == HUB_ALLOC_BANDIT)
        json_object_set_new(o, "bandit", bandit_json(txn, key, p));
    *out = o;
    return 0;
}

int hub_report_item(hub_txn *txn, const char *key, int64_t from_ms, int64_t to_ms, json_t **out)
{
    report *r = calloc(1, sizeof(*r));
    hub_plan plan, *p = NULL;
    hub_buf scratch;
    json_t *draft = NULL;
    int any = 0;
    if (r == NULL)
        return HUB_ENOMEM;
    hub_buf_init(&scratch, 1u << 20);
    if (hub_content_plan(txn, hub_slice_cstr(key), 0, &scratch, &plan, NULL) == 0) {
        p = &plan;
        for (size_t i = 0; i < p->nvariants; i++)
            row_of(r, p->v[i].id); /* plan order, the base first */
    }
    int rc = scan_counters(txn, key, from_ms, to_ms, r, &any);
    if (rc == 0 && p == NULL && !any && hub_content_get_draft(txn, key, &draft) != 0)
        rc = HUB_ENOTFOUND;
    if (rc == 0)
        rc = report_json(txn, key, p, r, from_ms, to_ms, out);
    json_decref(draft);
    hub_buf_free(&scratch);
    free(r);
    return rc;
}

static int slices_equal(hub_slice a, hub_slice b)
{
    return a.len == b.len && memcmp(a.base, b.base, a.len) == 0;
}

/* ---- attribution ----------------------------------------------------------------------- */

typedef struct touch {
    hub_slice item, channel; /* borrowed from the read transaction */
    int64_t ms;
} touch;

/* The credits so far: "item\x1fchannel" -> [conversions, value]. */
static void credit(json_t *credits, const touch *t, double share, double value)
{
    char k[HUB_ITEM_KEY_MAX + 80];
    if (share == 0)
        return; /* a touchpoint the model gives nothing (first and last touch) is no credit */
    snprintf(k, sizeof(k), "%.*s\x1f%.*s", (int)t->item.len, t->item.base, (int)t->channel.len,
             t->channel.base);
    json_t *slot = json_object_get(credits, k);
    if (slot == NULL) {
        slot = json_pack("[f,f]", 0.0, 0.0);
        json_object_set_new(credits, k, slot);
    }
    json_array_set_new(slot, 0, json_real(json_real_value(json_array_get(slot, 0)) + share));
    json_array_set_new(slot, 1,
                       json_real(json_real_value(json_array_get(slot, 1)) + share * value));
}

static int decode_touch(hub_slice v, touch *t)
{
    const unsigned char *p = (const unsigned char *)v.base;
    if (v.len < 5)
        return HUB_EIO;
    size_t il = ((size_t)p[1] << 8) | p[2];
    if (v.len < 5 + il)
        return HUB_EIO;
    size_t cl = ((size_t)p[3 + il] << 8) | p[4 + il];
    if (v.len != 5 + il + cl)
        return HUB_EIO;
    t->item = (hub_slice){v.base + 3, il};
    t->channel = (hub_slice){v.base + 5 + il, cl};
    return 0;
}

/*
 * The touchpoints of subject in [conv_ms - window, conv_ms], oldest first, the newest
 * TOUCH_MAX of them; a run of touchpoints of the same item and channel is one touchpoint
 * (a delivery, its open and its click), timed at the last of the run.
 */
static int touches_of(hub_txn *txn, hub_slice subject, int64_t conv_ms, int64_t window_ms,
                      touch *out, size_t *n)
{
    hub_cursor *c;
    hub_slice k, v;
    char seek[HUB_SUBJECT_MAX + 17];
    size_t plen = subject.len + 1;
    *n = 0;
    if (subject.len > HUB_SUBJECT_MAX)
        return 0;
    memcpy(seek, subject.base, subject.len);
    seek[subject.len] = '\0';
    hub_be64_put((unsigned char *)seek + plen, (uint64_t)(conv_ms - window_ms));
    int rc = hub_cursor_open(txn, HUB_DB_TOUCH, &c);
    if (rc != 0)
        return rc;
    rc = hub_cursor_seek(c, (hub_slice){seek, plen + 8}, &k, &v);
    while (rc == 0 && k.len == plen + 16 && memcmp(k.base, seek, plen) == 0) {
        touch t;
        t.ms = (int64_t)hub_be64_get((const unsigned char *)k.base + plen);
        if (t.ms > conv_ms)
            break;
        if (decode_touch(v, &t) == 0) {
            touch *last = *n > 0 ? &out[*n - 1] : NULL;
            if (last != NULL && slices_equal(last->item, t.item) &&
                slices_equal(last->channel, t.channel)) {
                last->ms = t.ms;
            } else {
                if (*n == TOUCH_MAX) { /* keep the newest: drop the oldest */
                    memmove(out, out + 1, (TOUCH_MAX - 1) * sizeof(*out));
                    (*n)--;
                }
                out[(*n)++] = t;
            }
        }
        rc = hub_cursor_next(c, &k, &v);
    }
    hub_cursor_close(c);
    return rc == HUB_ENOTFOUND ? 0 : rc;
}

/* Credits one conversion (key after the action prefix: be64 ms, be64 seq). */
static int attribute_one(hub_txn *txn, const hub_attribution_query *q, hub_attr_model m, int64_t ms,
                         hub_slice v, touch *touches, json_t *credits, double *value)
{
    const unsigned char *p = (const unsigned char *)v.base;
    double w[TOUCH_MAX], val;
    int64_t tms[TOUCH_MAX];
    size_t n;
    if (v.len < 12)
        return HUB_EIO;
    uint64_t bits = hub_be64_get(p);
    memcpy(&val, &bits, 8);
    size_t sl = ((size_t)p[8] << 8) | p[9];
    if (v.len < 10 + sl)
        return HUB_EIO;
    hub_slice subject = {v.base + 10, sl};
    int rc = touches_of(txn, subject, ms, (int64_t)q->window_days * HUB_DAY_MS, touches, &n);
    if (rc != 0)
        return rc;
    *value += val;
    if (n == 0) {
        touch none = {{"", 0}, {"", 0}, ms};
        credit(credits, &none, 1.0, val);
        return 0;
    }
    for (size_t i = 0; i < n; i++)
        tms[i] = touches[i].ms;
    rc = hub_attr_credit(m, tms, n, ms, q->half_life_days, w);
    for (size_t i = 0; rc == 0 && i < n; i++)
        credit(credits, &touches[i], w[i], val);
    return rc;
}

static int cmp_credit(const void *a, const void *b)
{
    double x = json_real_value(json_object_get(*(json_t *const *)a, "conversions"));
    double y = json_real_value(json_object_get(*(json_t *const *)b, "conversions"));
    return x < y ? 1 : x > y ? -1 : 0;
}

/* [{"item","channel","conversions","value"}], most credited first; the conversions without
 * a touchpoint in the window under item null, channel null. */
static json_t *credits_json(json_t *credits)
{
    const char *k;
    json_t *slot, *arr = json_array();
    size_t n = json_object_size(credits), i = 0;
    json_t **rows = calloc(n + 1, sizeof(*rows));
    if (rows == NULL || arr == NULL) {
        free(rows);
        return arr;
    }
    json_object_foreach(credits, k, slot)
    {
        const char *sep = strchr(k, '\x1f');
        size_t il = sep != NULL ? (size_t)(sep - k) : strlen(k);
        const char *ch = sep != NULL ? sep + 1 : "";
        rows[i++] = json_pack("{s:o,s:o,s:O,s:O}", "item", il ? json_stringn(k, il) : json_null(),
                              "channel", ch[0] ? json_string(ch) : json_null(), "conversions",
                              json_array_get(slot, 0), "value", json_array_get(slot, 1));
    }
    qsort(rows, i, sizeof(*rows), cmp_credit);
    for (size_t j = 0; j < i; j++)
        json_array_append_new(arr, rows[j]);
    free(rows);
    return arr;
}

int hub_report_attribution(hub_txn *txn, const hub_attribution_query *q, json_t **out,
                           hub_error *err)
{
    hub_attr_model m;
    hub_cursor *c;
    hub_slice k, v;
    char seek[HUB_TERM_MAX + 17];
    size_t plen = strlen(q->action) + 1, count = 0;
    double value = 0;
    if (hub_attr_model_parse(q->model, &m) != 0)
        return hub_error_set(
            err, HUB_EINVAL,
            "model must be first_touch, last_touch, linear, time_decay or position");
    if (plen > HUB_TERM_MAX + 1)
        return hub_error_set(err, HUB_EINVAL, "action is too long");
    touch *touches = malloc(TOUCH_MAX * sizeof(*touches));
    json_t *credits = json_object();
    int rc = touches == NULL || credits == NULL ? HUB_ENOMEM
                                                : hub_cursor_open(txn, HUB_DB_CONVERSIONS, &c);
    if (rc == 0) {
        memcpy(seek, q->action, plen);
        hub_be64_put((unsigned char *)seek + plen, (uint64_t)(q->from_ms < 0 ? 0 : q->from_ms));
        rc = hub_cursor_seek(c, (hub_slice){seek, plen + 8}, &k, &v);
        while (rc == 0 && k.len == plen + 16 && memcmp(k.base, seek, plen) == 0 &&
               count < CONVERSIONS_MAX) {
            int64_t ms = (int64_t)hub_be64_get((const unsigned char *)k.base + plen);
            if (q->to_ms >= 0 && ms > q->to_ms)
                break;
            rc = attribute_one(txn, q, m, ms, v, touches, credits, &value);
            count++;
            if (rc == 0)
                rc = hub_cursor_next(c, &k, &v);
        }
        hub_cursor_close(c);
        rc = rc == HUB_ENOTFOUND ? 0 : rc;
    }
    if (rc == 0) {
        *out = json_pack("{s:s,s:s,s:i,s:o,s:o,s:I,s:f,s:o}", "action", q->action, "model",
                         q->model, "window_days", q->window_days, "from", time_or_null(q->from_ms),
                         "to", time_or_null(q->to_ms), "conversions", (json_int_t)count, "value",
                         value, "credits", credits_json(credits));
        if (*out != NULL && m == HUB_ATTR_TIME_DECAY)
            json_object_set_new(*out, "half_life_days", json_real(q->half_life_days));
        rc = *out == NULL ? HUB_ENOMEM : 0;
    }
    if (rc != 0 && rc != HUB_EINVAL)
        hub_error_set(err, rc, "cannot compute the attribution: %s", hub_strerror(rc));
    free(touches);
    json_decref(credits);
    return rc;
}
