/*
 * experiment/plan.c: the compact plan an item's head carries, and its decoding.
 *
 * Format 1 (all integers big-endian):
 *   [u8 'P'][u8 1][u8 status][u8 allocation][be16 holdout_bp][u8 winner (0xff: none)]
 *   [u8 variant count][u8 seed len][seed]
 *   per variant: [u8 id len][id][8 bytes: the weight's IEEE 754 bits][u8 has audience]
 *                and, with an audience: [be16 n_any][be16 n_all][be16 n_none]
 *                [be16 terms length] then the terms, each [be16 len][bytes], any first.
 */
#include "experiment/experiment.h"

#include <math.h>
#include <string.h>

#define PLAN_MAGIC  'P'
#define PLAN_FORMAT 1

static int put_u8(hub_buf *b, unsigned v)
{
    char c = (char)(unsigned char)v;
    return hub_buf_append(b, &c, 1);
}

static int put_be16(hub_buf *b, unsigned v)
{
    unsigned char p[2] = {(unsigned char)(v >> 8), (unsigned char)v};
    return hub_buf_append(b, p, 2);
}

static int put_short_str(hub_buf *b, const char *s)
{
    size_t n = strlen(s);
    if (n > 255)
        return HUB_ETOOBIG;
    int rc = put_u8(b, (unsigned)n);
    return rc != 0 ? rc : hub_buf_append(b, s, n);
}

static int put_double(hub_buf *b, double d)
{
    uint64_t bits;
    unsigned char p[8];
    memcpy(&bits, &d, 8);
    hub_be64_put(p, bits);
    return hub_buf_append(b, p, 8);
}

static int lookup(const char *s, const char *const *names, int dflt)
{
    if (s == NULL)
        return dflt;
    for (int i = 0; names[i] != NULL; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    return -1;
}

static const char *const status_names[] = {"running", "paused", "concluded", NULL};
static const char *const alloc_names[] = {"fixed", "bandit", NULL};

/* The audience terms: counts then a length-prefixed run of [be16 len][bytes]. */
static int put_audience(hub_buf *b, json_t *aud)
{
    static const char *const lists[] = {"any", "all", "none"};
    hub_buf terms;
    int rc = 0;
    hub_buf_init(&terms, 60000);
    for (int k = 0; k < 3 && rc == 0; k++) {
        json_t *l = json_object_get(aud, lists[k]), *t;
        size_t i;
        rc = put_be16(b, (unsigned)json_array_size(l));
        json_array_foreach(l, i, t)
        {
            const char *s = json_string_value(t);
            size_t n = s != NULL ? strlen(s) : 0;
            if (rc == 0)
                rc = n > 0xffff ? HUB_ETOOBIG : put_be16(&terms, (unsigned)n);
            if (rc == 0)
                rc = hub_buf_append(&terms, s != NULL ? s : "", n);
        }
    }
    if (rc == 0)
        rc = terms.len > 0xffff ? HUB_ETOOBIG : put_be16(b, (unsigned)terms.len);
    if (rc == 0)
        rc = hub_buf_append(b, terms.data, terms.len);
    hub_buf_free(&terms);
    return rc;
}

/* The weights a plan may carry: what decoding accepts (validated items stay within 0..10000). */
#define WEIGHT_LIMIT 1e9

static int put_variant(hub_buf *b, json_t *v)
{
    const char *id = json_string_value(json_object_get(v, "id"));
    json_t *aud = json_object_get(v, "audience");
    double w = json_number_value(json_object_get(v, "weight"));
    int rc = id != NULL && w >= 0 && w <= WEIGHT_LIMIT ? put_short_str(b, id) : HUB_EINVAL;
    if (rc == 0)
        rc = put_double(b, w);
    if (rc == 0)
        rc = put_u8(b, aud != NULL);
    if (rc == 0 && aud != NULL)
        rc = put_audience(b, aud);
    return rc;
}

static int winner_index(json_t *variants, json_t *winner)
{
    size_t i;
    json_t *v;
    if (winner == NULL)
        return 0xff;
    json_array_foreach(variants, i,
                       v) if (json_equal(json_object_get(v, "id"), winner)) return (int)i;
    return 0xff;
}

int hub_plan_encode(json_t *item, hub_buf *out)
{
    json_t *e = json_object_get(item, "experiment");
    json_t *vs = json_object_get(item, "variants"), *v;
    int status = lookup(json_string_value(json_object_get(e, "status")), status_names, 0);
    int alloc = lookup(json_string_value(json_object_get(e, "allocation")), alloc_names, 0);
    double hp = json_number_value(json_object_get(e, "holdout_percent"));
    const char *seed = json_string_value(json_object_get(e, "seed"));
    size_t i, n = json_array_size(vs);
    if (status < 0 || alloc < 0 || n == 0 || n > HUB_PLAN_VARIANTS_MAX || !(hp >= 0 && hp <= 100))
        return HUB_EINVAL;
    unsigned char hdr[8] = {PLAN_MAGIC, PLAN_FORMAT, (unsigned char)status, (unsigned char)alloc};
    unsigned bp = (unsigned)lround(hp * 100.0);
    hdr[4] = (unsigned char)(bp >> 8);
    hdr[5] = (unsigned char)bp;
    hdr[6] = (unsigned char)winner_index(vs, json_object_get(e, "winner"));
    hdr[7] = (unsigned char)n;
    int rc = hub_buf_append(out, hdr, sizeof(hdr));
    if (rc == 0)
        rc = put_short_str(out, seed != NULL ? seed : "");
    json_array_foreach(vs, i, v)
    {
        if (rc == 0)
            rc = put_variant(out, v);
    }
    return rc;
}

/* ---- decoding -------------------------------------------------------------------------- */

typedef struct reader {
    const unsigned char *p;
    size_t len, pos;
    int bad;
} reader;

static unsigned rd_u8(reader *r)
{
    if (r->len - r->pos < 1) {
        r->bad = 1;
        return 0;
    }
    return r->p[r->pos++];
}

static unsigned rd_be16(reader *r)
{
    unsigned hi = rd_u8(r);
    return (hi << 8) | rd_u8(r);
}

static hub_slice rd_bytes(reader *r, size_t n)
{
    hub_slice s = {"", 0};
    if (r->len - r->pos < n) {
        r->bad = 1;
        return s;
    }
    s.base = (const char *)r->p + r->pos;
    s.len = n;
    r->pos += n;
    return s;
}

static double rd_double(reader *r)
{
    hub_slice s = rd_bytes(r, 8);
    uint64_t bits;
    double d = 0;
    if (s.len == 8) {
        bits = hub_be64_get((const unsigned char *)s.base);
        memcpy(&d, &bits, 8);
    }
    return d;
}

static void rd_variant(reader *r, hub_plan_variant *v)
{
    v->id = rd_bytes(r, rd_u8(r));
    v->weight = rd_double(r);
    if (!(v->weight >= 0 && v->weight <= WEIGHT_LIMIT))
        r->bad = 1;
    v->audience = (int)rd_u8(r);
    v->n_any = v->n_all = v->n_none = 0;
    v->terms = (hub_slice){"", 0};
    if (v->audience) {
        v->n_any = rd_be16(r);
        v->n_all = rd_be16(r);
        v->n_none = rd_be16(r);
        v->terms = rd_bytes(r, rd_be16(r));
    }
}

int hub_plan_decode(hub_slice bytes, hub_plan *out)
{
    reader r = {(const unsigned char *)bytes.base, bytes.len, 0, 0};
    hub_slice hdr = rd_bytes(&r, 8);
    if (r.bad || hdr.base[0] != PLAN_MAGIC || hdr.base[1] != PLAN_FORMAT)
        return HUB_EIO;
    const unsigned char *h = (const unsigned char *)hdr.base;
    if (h[2] > HUB_EXP_CONCLUDED || h[3] > HUB_ALLOC_BANDIT)
        return HUB_EIO;
    out->status = (hub_exp_status)h[2];
    out->allocation = (hub_exp_allocation)h[3];
    out->holdout_bp = ((unsigned)h[4] << 8) | h[5];
    out->nvariants = h[7];
    out->winner = h[6] == 0xff ? -1 : h[6];
    if (out->holdout_bp > HUB_BUCKETS || out->nvariants == 0 ||
        out->nvariants > HUB_PLAN_VARIANTS_MAX || out->winner >= (int)out->nvariants)
        return HUB_EIO;
    out->seed = rd_bytes(&r, rd_u8(&r));
    for (size_t i = 0; i < out->nvariants; i++)
        rd_variant(&r, &out->v[i]);
    return r.bad || r.pos != r.len ? HUB_EIO : 0;
}

int hub_plan_find(const hub_plan *p, hub_slice id)
{
    for (size_t i = 0; i < p->nvariants; i++)
        if (p->v[i].id.len == id.len && memcmp(p->v[i].id.base, id.base, id.len) == 0)
            return (int)i;
    return -1;
}

json_t *hub_plan_json(const hub_plan *p)
{
    json_t *vs = json_array();
    for (size_t i = 0; i < p->nvariants; i++)
        json_array_append_new(vs,
                              json_pack("{s:s%,s:f,s:b}", "id", p->v[i].id.base, p->v[i].id.len,
                                        "weight", p->v[i].weight, "audience", p->v[i].audience));
    json_t *winner = p->winner >= 0 ? json_stringn(p->v[p->winner].id.base, p->v[p->winner].id.len)
                                    : json_null();
    return json_pack("{s:s,s:s,s:f,s:s%,s:o,s:o}", "status", status_names[p->status], "allocation",
                     alloc_names[p->allocation], "holdout_percent", p->holdout_bp / 100.0, "seed",
                     p->seed.base, p->seed.len, "winner", winner, "variants", vs);
}

static int slice_ne(hub_slice a, hub_slice b)
{
    return a.len != b.len || memcmp(a.base, b.base, a.len) != 0;
}

int hub_plan_differs(const hub_plan *a, const hub_plan *b)
{
    if (a->status != b->status || a->allocation != b->allocation ||
        a->holdout_bp != b->holdout_bp || a->winner != b->winner || a->nvariants != b->nvariants ||
        slice_ne(a->seed, b->seed))
        return 1;
    for (size_t i = 0; i < a->nvariants; i++) {
        const hub_plan_variant *x = &a->v[i], *y = &b->v[i];
        if (slice_ne(x->id, y->id) || x->weight != y->weight || x->audience != y->audience ||
            slice_ne(x->terms, y->terms) || x->n_any != y->n_any || x->n_all != y->n_all)
            return 1;
    }
    return 0;
}
