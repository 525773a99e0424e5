/*
 * experiment tests: the compact plan (roundtrip, every truncation and corruption rejected),
 * the bucket against the vectors of docs/bucketing.md (hard-coded ones and the whole table,
 * read from the source tree), the weighted mapping at its exact boundaries, zero and all-zero
 * weights, audiences, the decision order over a real store (sticky assignments, removed
 * variants, holdout records, bandits), the bandit weights record, and the distribution of
 * 100000 subjects against the weights (chi-square at p = 0.001).
 */
#include "experiment/experiment.h"
/* test.h formats a path into a fixed buffer; gcc cannot prove it fits */
#pragma GCC diagnostic ignored "-Wformat-truncation"
#include "test.h"

#include <math.h>

/* ---- helpers ----------------------------------------------------------------------------- */

/* A decoded plan with the bytes it borrows from. */
typedef struct tplan {
    hub_buf bytes;
    hub_plan p;
} tplan;

/* Item JSON written with ' for " (readable literals) into a new document. */
static json_t *doc_of(const char *squoted)
{
    char buf[4096];
    size_t n = strlen(squoted);
    if (n >= sizeof(buf))
        return NULL;
    for (size_t i = 0; i <= n; i++)
        buf[i] = squoted[i] == '\'' ? '"' : squoted[i];
    json_error_t e;
    json_t *doc = json_loads(buf, 0, &e);
    if (doc == NULL)
        fprintf(stderr, "bad test JSON: %s: %s\n", e.text, buf);
    return doc;
}

/* Encodes and decodes the plan of an item; 0 or the first error. */
static int plan_from_doc(json_t *doc, tplan *t)
{
    hub_buf_init(&t->bytes, 1u << 20);
    memset(&t->p, 0, sizeof(t->p));
    int rc = doc != NULL ? hub_plan_encode(doc, &t->bytes) : HUB_EINVAL;
    if (rc == 0)
        rc = hub_plan_decode((hub_slice){t->bytes.data, t->bytes.len}, &t->p);
    return rc;
}

static int plan_of(const char *squoted, tplan *t)
{
    json_t *doc = doc_of(squoted);
    int rc = plan_from_doc(doc, t);
    json_decref(doc);
    return rc;
}

static void tplan_free(tplan *t)
{
    hub_buf_free(&t->bytes);
}

static hub_slice S(const char *s)
{
    return hub_slice_cstr(s);
}

/* The id of plan index i ("(held out)" for -1) in a static buffer. */
static const char *vid(const hub_plan *p, int i)
{
    static char buf[300];
    if (i < 0 || (size_t)i >= p->nvariants)
        return i < 0 ? "(held out)" : "(out of range)";
    snprintf(buf, sizeof(buf), "%.*s", (int)p->v[i].id.len, p->v[i].id.base);
    return buf;
}

static const char *pick_id(const hub_plan *p, unsigned bucket)
{
    return vid(p, hub_experiment_pick(p, NULL, bucket));
}

/* ---- the plan ---------------------------------------------------------------------------- */

static const char *const FULL_ITEM =
    "{'key':'k','variants':["
    "{'id':'control','weight':20,'content':{}},"
    "{'id':'vip','weight':7,'audience':{'any':['segment/vip','segment/gold'],"
    "'all':['segment/adult'],'none':['segment/churned']},'content':{}},"
    "{'id':'b','weight':30.5,'content':{}},"
    "{'id':'c','content':{}}],"
    "'experiment':{'status':'concluded','allocation':'bandit','holdout_percent':2.5,"
    "'seed':'s\\u00e9ed','winner':'b'}}";

static void test_plan_roundtrip(void)
{
    tplan t;
    REQUIRE(plan_of(FULL_ITEM, &t) == 0);
    hub_plan *p = &t.p;
    CHECK(p->status == HUB_EXP_CONCLUDED && p->allocation == HUB_ALLOC_BANDIT);
    CHECK(p->holdout_bp == 250 && p->winner == 2 && p->nvariants == 4);
    CHECK(hub_slice_eq(p->seed, "s\xc3\xa9"
                                "ed"));
    CHECK(hub_slice_eq(p->v[0].id, "control") && p->v[0].weight == 20 && !p->v[0].audience);
    CHECK(hub_slice_eq(p->v[1].id, "vip") && p->v[1].weight == 7 && p->v[1].audience);
    CHECK(p->v[1].n_any == 2 && p->v[1].n_all == 1 && p->v[1].n_none == 1);
    CHECK(hub_slice_eq(p->v[2].id, "b") && p->v[2].weight == 30.5);
    CHECK(hub_slice_eq(p->v[3].id, "c") && p->v[3].weight == 0 && !p->v[3].audience);
    CHECK(hub_plan_find(p, S("b")) == 2 && hub_plan_find(p, S("nope")) == -1);
    CHECK(hub_plan_find(p, S("")) == -1 && hub_plan_find(p, S("contro")) == -1);

    json_t *j = hub_plan_json(p);
    REQUIRE(j != NULL);
    CHECK_STR(json_string_value(json_object_get(j, "status")), "concluded");
    CHECK_STR(json_string_value(json_object_get(j, "allocation")), "bandit");
    CHECK(json_real_value(json_object_get(j, "holdout_percent")) == 2.5);
    CHECK_STR(json_string_value(json_object_get(j, "winner")), "b");
    CHECK_STR(json_string_value(json_object_get(j, "seed")), "s\xc3\xa9"
                                                             "ed");
    json_t *vs = json_object_get(j, "variants");
    CHECK(json_array_size(vs) == 4);
    CHECK(json_is_true(json_object_get(json_array_get(vs, 1), "audience")));
    CHECK(json_real_value(json_object_get(json_array_get(vs, 2), "weight")) == 30.5);
    json_decref(j);

    /* defaults: no experiment member is running, fixed, no holdout, no seed, no winner */
    tplan d;
    REQUIRE(plan_of("{'variants':[{'id':'a'}]}", &d) == 0);
    CHECK(d.p.status == HUB_EXP_RUNNING && d.p.allocation == HUB_ALLOC_FIXED);
    CHECK(d.p.holdout_bp == 0 && d.p.winner == -1 && d.p.seed.len == 0 && d.p.nvariants == 1);
    j = hub_plan_json(&d.p);
    CHECK(json_is_null(json_object_get(j, "winner")));
    CHECK_STR(json_string_value(json_object_get(j, "seed")), "");
    json_decref(j);
    tplan_free(&d);
    tplan_free(&t);
}

static void test_plan_encode_rounding_and_refusals(void)
{
    static const struct {
        const char *hp;
        unsigned bp;
    } rounding[] = {{"0", 0},   {"0.004", 0},     {"0.005", 1},    {"0.125", 13},
                    {"5", 500}, {"33.335", 3334}, {"99.99", 9999}, {"100", 10000}};
    for (size_t i = 0; i < sizeof(rounding) / sizeof(rounding[0]); i++) {
        char item[200];
        tplan t;
        snprintf(item, sizeof(item),
                 "{'variants':[{'id':'a'}],'experiment':{'holdout_percent':%s}}", rounding[i].hp);
        CHECK(plan_of(item, &t) == 0);
        if (t.p.holdout_bp != rounding[i].bp)
            fprintf(stderr, "holdout %s: %u buckets, expected %u\n", rounding[i].hp, t.p.holdout_bp,
                    rounding[i].bp);
        CHECK(t.p.holdout_bp == rounding[i].bp);
        tplan_free(&t);
    }
    static const char *const bad[] = {
        "{'variants':[]}",
        "{}",
        "{'variants':[{'id':'a'}],'experiment':{'status':'stopped'}}",
        "{'variants':[{'id':'a'}],'experiment':{'allocation':'greedy'}}",
        "{'variants':[{'id':'a'}],'experiment':{'holdout_percent':100.01}}",
        "{'variants':[{'id':'a'}],'experiment':{'holdout_percent':-1}}",
        "{'variants':[{'weight':1}]}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        tplan t;
        CHECK(plan_of(bad[i], &t) != 0);
        tplan_free(&t);
    }
    /* 51 variants: over the plan's limit */
    hub_buf many;
    hub_buf_init(&many, 1u << 16);
    hub_buf_append_str(&many, "{'variants':[");
    for (int i = 0; i <= HUB_PLAN_VARIANTS_MAX; i++)
        hub_buf_printf(&many, "%s{'id':'v%d'}", i ? "," : "", i);
    hub_buf_append_str(&many, "]}");
    tplan t;
    CHECK(plan_of(many.data, &t) == HUB_EINVAL);
    tplan_free(&t);
    hub_buf_free(&many);
}

/* A valid plan with one byte changed at `at` to `to` must decode as HUB_EIO. */
static int corrupt_rejected(const hub_buf *b, size_t at, unsigned char to)
{
    unsigned char copy[4096];
    hub_plan p;
    if (b->len > sizeof(copy) || at >= b->len)
        return 0;
    memcpy(copy, b->data, b->len);
    copy[at] = to;
    return hub_plan_decode((hub_slice){(const char *)copy, b->len}, &p) == HUB_EIO;
}

static void test_plan_decode_malformed(void)
{
    tplan t;
    REQUIRE(plan_of(FULL_ITEM, &t) == 0);
    const hub_buf *b = &t.bytes;
    /* every truncation, each in a heap copy of its own length so that ASan sees an over-read */
    for (size_t n = 0; n < b->len; n++) {
        char *copy = malloc(n > 0 ? n : 1);
        hub_plan p;
        REQUIRE(copy != NULL);
        memcpy(copy, b->data, n);
        int rc = hub_plan_decode((hub_slice){copy, n}, &p);
        if (rc != HUB_EIO)
            fprintf(stderr, "truncated to %zu of %zu bytes: rc %d\n", n, b->len, rc);
        CHECK(rc == HUB_EIO);
        free(copy);
    }
    /* a trailing byte */
    hub_buf longer;
    hub_plan p;
    hub_buf_init(&longer, 1u << 16);
    hub_buf_append(&longer, b->data, b->len);
    hub_buf_append_byte(&longer, 0);
    CHECK(hub_plan_decode((hub_slice){longer.data, longer.len}, &p) == HUB_EIO);
    hub_buf_free(&longer);
    CHECK(corrupt_rejected(b, 0, 'Q'));  /* magic */
    CHECK(corrupt_rejected(b, 1, 2));    /* format */
    CHECK(corrupt_rejected(b, 2, 3));    /* status */
    CHECK(corrupt_rejected(b, 3, 2));    /* allocation */
    CHECK(corrupt_rejected(b, 4, 0x27)); /* holdout 0x27xx > 10000 */
    CHECK(corrupt_rejected(b, 6, 4));    /* winner index == count */
    CHECK(corrupt_rejected(b, 7, 0));    /* no variants */
    CHECK(corrupt_rejected(b, 7, 51));   /* over the limit */
    CHECK(corrupt_rejected(b, 7, 3));    /* fewer variants than encoded: bytes left over */
    /* the first weight: [8 hdr][1 + 5 seed][1 + 7 "control"] then 8 bytes; 0xff.. is a NaN,
     * 0x80.. makes it negative */
    CHECK(corrupt_rejected(b, 8 + 6 + 8, 0xff));
    CHECK(corrupt_rejected(b, 8 + 6 + 8, 0xc0));
    tplan_free(&t);
}

/* Random bytes, and random mutations of a valid plan: decode never crashes, and a plan it
 * accepts is within its limits. */
static void test_plan_decode_garbage(void)
{
    tplan t;
    REQUIRE(plan_of(FULL_ITEM, &t) == 0);
    uint64_t x = 88172645463325252ULL;
    unsigned accepted = 0;
    for (int round = 0; round < 20000; round++) {
        unsigned char buf[256];
        size_t n = t.bytes.len;
        memcpy(buf, t.bytes.data, n);
        for (int k = 0; k < 1 + round % 4; k++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            buf[(x >> 8) % n] = (unsigned char)x;
        }
        if (round % 5 == 0)
            n = (x >> 20) % (n + 1);
        hub_plan p;
        if (hub_plan_decode((hub_slice){(const char *)buf, n}, &p) == 0) {
            accepted++;
            CHECK(p.nvariants >= 1 && p.nvariants <= HUB_PLAN_VARIANTS_MAX);
            CHECK(p.holdout_bp <= HUB_BUCKETS && p.winner < (int)p.nvariants);
            for (size_t i = 0; i < p.nvariants; i++) {
                CHECK(p.v[i].weight >= 0 && p.v[i].weight <= 1e9);
                if (p.v[i].audience) { /* must not over-read on broken term lists */
                    hub_slice seg = S("segment/vip");
                    (void)hub_experiment_audience_match(&p, i, &seg, 1);
                }
            }
            for (unsigned bucket = p.holdout_bp; bucket < HUB_BUCKETS; bucket += 97) {
                int v = hub_experiment_pick(&p, NULL, bucket);
                CHECK(v >= 0 && (size_t)v < p.nvariants);
            }
        }
    }
    CHECK(accepted > 0); /* some mutations (weights, ids) keep the plan valid */
    tplan_free(&t);
}

static void test_plan_differs(void)
{
    static const char *const variants[] = {
        /* 0 */ "{'variants':[{'id':'a','weight':50},{'id':'b','weight':50}],"
                "'experiment':{'status':'running'}}",
        /* 1: weight */
        "{'variants':[{'id':'a','weight':50},{'id':'b','weight':60}],"
        "'experiment':{'status':'running'}}",
        /* 2: a variant added */
        "{'variants':[{'id':'a','weight':50},{'id':'b','weight':50},{'id':'c'}],"
        "'experiment':{'status':'running'}}",
        /* 3: holdout */
        "{'variants':[{'id':'a','weight':50},{'id':'b','weight':50}],"
        "'experiment':{'status':'running','holdout_percent':1}}",
        /* 4: seed */
        "{'variants':[{'id':'a','weight':50},{'id':'b','weight':50}],"
        "'experiment':{'status':'running','seed':'x'}}",
        /* 5: allocation */
        "{'variants':[{'id':'a','weight':50},{'id':'b','weight':50}],"
        "'experiment':{'status':'running','allocation':'bandit'}}",
        /* 6: status */
        "{'variants':[{'id':'a','weight':50},{'id':'b','weight':50}],"
        "'experiment':{'status':'paused'}}",
        /* 7: an id renamed */
        "{'variants':[{'id':'a','weight':50},{'id':'B','weight':50}],"
        "'experiment':{'status':'running'}}",
        /* 8: an audience */
        "{'variants':[{'id':'a','weight':50},{'id':'b','weight':50,"
        "'audience':{'any':['segment/x']}}],'experiment':{'status':'running'}}",
        /* 9: another audience list */
        "{'variants':[{'id':'a','weight':50},{'id':'b','weight':50,"
        "'audience':{'none':['segment/x']}}],'experiment':{'status':'running'}}",
    };
    size_t n = sizeof(variants) / sizeof(variants[0]);
    tplan t[10];
    for (size_t i = 0; i < n; i++)
        CHECK(plan_of(variants[i], &t[i]) == 0);
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < n; k++)
            CHECK(hub_plan_differs(&t[i].p, &t[k].p) == (i != k));
    /* the same plan written differently (default status spelled out, content changed) */
    tplan same;
    CHECK(plan_of("{'variants':[{'id':'a','weight':50,'content':{'en':{}}},{'id':'b',"
                  "'weight':50.0}]}",
                  &same) == 0);
    CHECK(!hub_plan_differs(&same.p, &t[0].p));
    tplan_free(&same);
    for (size_t i = 0; i < n; i++)
        tplan_free(&t[i]);
}

/* ---- the bucket ------------------------------------------------------------------------ */

#define LONG_KEY                                                                                   \
    "bucketing/long/segment-000/segment-001/segment-002/segment-003/segment-004/segment-005/"      \
    "segment-006/segment-007/segment-008/segment-009/segment-010/segment-011/segment-012/"         \
    "segment-013/segment-014/segme"

/* The bucket, with the call's success counted as a check (HUB_BUCKETS when it fails). */
static unsigned bucket_of(hub_slice key, hub_slice seed, hub_slice subject)
{
    unsigned b = HUB_BUCKETS;
    CHECK(hub_experiment_bucket(key, seed, subject, &b) == 0);
    return b;
}

static void test_bucket_vectors(void)
{
    static const struct {
        const char *key, *seed, *subject;
        unsigned bucket;
    } v[] = {
        {"onboarding/welcome", "", "cust-42", 2536}, /* API.md's example */
        {"bucketing/welcome", "", "cust-42", 8564},  /* docs/bucketing.md rows */
        {"bucketing/welcome", "", "jörg.müller@example.org", 8043},
        {"bucketing/welcome", "", "用户-1001", 8964},
        {"bucketing/welcome", "", "🙂 smile", 7612},
        {"bucketing/welcome", "", "a:b:c", 7830},
        {"bucketing/spring-2027", "2027-q2", "ÅÄÖ-åäö", 2809},
        {"bucketing/spring-2027", "2027-q2", "cust-37005", 0},
        {"bucketing/spring-2027", "2027-q2", "cust-19964", 9999},
        {"bucketing/equal", "ünï-seed", "Ελληνικά", 4780},
        {"bucketing/targeted", "t", "tab\there", 6036},
    };
    CHECK(strlen(LONG_KEY) == 200);
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        unsigned b = bucket_of(S(v[i].key), S(v[i].seed), S(v[i].subject));
        if (b != v[i].bucket)
            fprintf(stderr, "bucket(%s, %s, %s) = %u, expected %u\n", v[i].key, v[i].seed,
                    v[i].subject, b, v[i].bucket);
        CHECK(b == v[i].bucket);
    }
    char big[2001];
    memset(big, 'x', 256);
    big[256] = '\0';
    CHECK(bucket_of(S(LONG_KEY), S("s"), S(big)) == 2173);
    /* past the stack buffer of the implementation (1024 bytes): the heap path */
    memset(big, 'y', 2000);
    big[2000] = '\0';
    CHECK(bucket_of(S("k"), S(""), S(big)) == 6448);
    big[1100] = '\0';
    CHECK(bucket_of(S("k"), S("seed"), S(big)) == 2098);
    /* the subject is bytes: a slice with an embedded NUL is hashed as given */
    CHECK(bucket_of(S("k"), S(""), (hub_slice){"ab\0c", 4}) !=
          bucket_of(S("k"), S(""), (hub_slice){"ab", 2}));
}

/* ---- the table of docs/bucketing.md ------------------------------------------------------ */

/* The doc, found from this file's path: tests/unit/experiment/ -> docs/bucketing.md. */
static FILE *open_doc(void)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s", __FILE__);
    for (int up = 0; up < 4; up++) {
        char *slash = strrchr(path, '/');
        if (slash == NULL)
            return NULL;
        *slash = '\0';
    }
    strncat(path, "/docs/bucketing.md", sizeof(path) - strlen(path) - 1);
    return fopen(path, "r");
}

/* Splits a table row "| a | b | ... |" into at most max trimmed cells (in place). */
static size_t split_row(char *line, char **cells, size_t max)
{
    size_t n = 0;
    char *p = strchr(line, '|');
    while (p != NULL && n < max) {
        char *q = strchr(p + 1, '|');
        if (q == NULL)
            break;
        char *s = p + 1, *e = q;
        while (s < e && *s == ' ')
            s++;
        while (e > s && e[-1] == ' ')
            e--;
        *e = '\0';
        cells[n++] = s;
        p = q;
    }
    return n;
}

/* The item of a row: "a=20 vip=100(audience) b=30" and the holdout, as a JSON document. */
static json_t *row_item(char *weights, const char *holdout, const char *seed)
{
    json_t *vs = json_array();
    json_t *exp =
        json_pack("{s:s,s:f}", "status", "running", "holdout_percent", strtod(holdout, NULL));
    if (seed[0] != '\0')
        json_object_set_new(exp, "seed", json_string(seed));
    for (char *tok = weights; tok != NULL && *tok != '\0';) {
        char *sp = strchr(tok, ' ');
        if (sp != NULL)
            *sp = '\0';
        char *eq = strchr(tok, '=');
        if (eq == NULL)
            break;
        *eq = '\0';
        json_t *v = json_pack("{s:s,s:f}", "id", tok, "weight", strtod(eq + 1, NULL));
        if (strstr(eq + 1, "(audience)") != NULL)
            json_object_set_new(v, "audience", json_pack("{s:[s]}", "any", "segment/vip"));
        json_array_append_new(vs, v);
        tok = sp != NULL ? sp + 1 : NULL;
    }
    return json_pack("{s:o,s:o}", "variants", vs, "experiment", exp);
}

/* Checks one row; 1 when it is a vector row. */
static int check_row(char *line)
{
    char *c[9];
    if (split_row(line, c, 9) != 8 || c[0][0] < '0' || c[0][0] > '9')
        return 0;
    json_t *key = json_loads(c[1], JSON_DECODE_ANY, NULL);
    json_t *seed = json_loads(c[2], JSON_DECODE_ANY, NULL);
    json_t *subject = json_loads(c[3], JSON_DECODE_ANY, NULL);
    json_t *want = json_loads(c[7], JSON_DECODE_ANY, NULL);
    int ok = json_is_string(key) && json_is_string(seed) && json_is_string(subject) && want;
    CHECK(ok);
    if (!ok) {
        fprintf(stderr, "row %s: cannot read its JSON cells\n", c[0]);
        json_decref(key), json_decref(seed), json_decref(subject), json_decref(want);
        return 1;
    }
    hub_slice k = {json_string_value(key), json_string_length(key)};
    hub_slice sd = {json_string_value(seed), json_string_length(seed)};
    hub_slice sub = {json_string_value(subject), json_string_length(subject)};
    unsigned b = bucket_of(k, sd, sub);
    if (b != (unsigned)strtoul(c[4], NULL, 10))
        fprintf(stderr, "row %s: bucket %u, the doc says %s\n", c[0], b, c[4]);
    CHECK(b == (unsigned)strtoul(c[4], NULL, 10));
    json_t *item = row_item(c[6], c[5], json_string_value(seed));
    tplan t;
    CHECK(plan_from_doc(item, &t) == 0);
    /* a first decision by bucket: holdout, else the weighted mapping (the decision itself,
     * over a store, is tested below) */
    int got = b < t.p.holdout_bp ? -1 : hub_experiment_pick(&t.p, NULL, b);
    const char *expect = json_is_null(want) ? "(held out)" : json_string_value(want);
    if (strcmp(vid(&t.p, got), expect) != 0)
        fprintf(stderr, "row %s: variant %s, the doc says %s\n", c[0], vid(&t.p, got), expect);
    CHECK_STR(vid(&t.p, got), expect);
    tplan_free(&t);
    json_decref(item);
    json_decref(key);
    json_decref(seed);
    json_decref(subject);
    json_decref(want);
    return 1;
}

static void test_doc_table(void)
{
    FILE *f = open_doc();
    char line[4096];
    int in = 0, rows = 0;
    REQUIRE(f != NULL);
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strstr(line, "<!-- vectors: begin -->") != NULL)
            in = 1;
        else if (strstr(line, "<!-- vectors: end -->") != NULL)
            in = 0;
        else if (in)
            rows += check_row(line);
    }
    fclose(f);
    fprintf(stderr, "docs/bucketing.md: %d vectors checked\n", rows);
    CHECK(rows >= 24);
}

/* ---- the weighted mapping ---------------------------------------------------------------- */

/* Counts per plan index over the buckets from the holdout up; 0 when the indexes ever go
 * down (each variant owns one contiguous range, in item order). */
static int count_range(const hub_plan *p, const double *w, unsigned *counts)
{
    int last = -1;
    memset(counts, 0, sizeof(unsigned) * HUB_PLAN_VARIANTS_MAX);
    for (unsigned b = p->holdout_bp; b < HUB_BUCKETS; b++) {
        int v = hub_experiment_pick(p, w, b);
        if (v < last || v < 0 || (size_t)v >= p->nvariants)
            return 0;
        counts[v]++;
        last = v;
    }
    return 1;
}

static void test_pick_boundaries(void)
{
    unsigned n[HUB_PLAN_VARIANTS_MAX];
    tplan t;
    REQUIRE(plan_of("{'variants':[{'id':'a','weight':20},{'id':'b','weight':30},"
                    "{'id':'c','weight':50}],'experiment':{'holdout_percent':5}}",
                    &t) == 0);
    CHECK(t.p.holdout_bp == 500);
    CHECK_STR(pick_id(&t.p, 500), "a");
    CHECK_STR(pick_id(&t.p, 2399), "a");
    CHECK_STR(pick_id(&t.p, 2400), "b");
    CHECK_STR(pick_id(&t.p, 5249), "b");
    CHECK_STR(pick_id(&t.p, 5250), "c");
    CHECK_STR(pick_id(&t.p, 9999), "c");
    CHECK(count_range(&t.p, NULL, n) && n[0] == 1900 && n[1] == 2850 && n[2] == 4750);
    /* the bandit's weights replace the published ones */
    double w[HUB_PLAN_VARIANTS_MAX] = {0, 0, 1};
    CHECK(count_range(&t.p, w, n) && n[0] == 0 && n[1] == 0 && n[2] == 9500);
    w[0] = 3, w[1] = 1, w[2] = 0;
    CHECK(count_range(&t.p, w, n) && n[0] == 7125 && n[1] == 2375 && n[2] == 0);
    w[0] = w[1] = w[2] = 0; /* all zero: equal */
    CHECK(count_range(&t.p, w, n) && n[0] == 3166 && n[1] == 3167 && n[2] == 3167);
    tplan_free(&t);

    /* zero weights own nothing, wherever they are */
    REQUIRE(plan_of("{'variants':[{'id':'a','weight':0},{'id':'b','weight':50},"
                    "{'id':'c','weight':0},{'id':'d','weight':50},{'id':'e','weight':0}]}",
                    &t) == 0);
    CHECK_STR(pick_id(&t.p, 0), "b");
    CHECK_STR(pick_id(&t.p, 4999), "b");
    CHECK_STR(pick_id(&t.p, 5000), "d");
    CHECK_STR(pick_id(&t.p, 9999), "d");
    CHECK(count_range(&t.p, NULL, n) && n[0] == 0 && n[1] == 5000 && n[2] == 0 && n[3] == 5000 &&
          n[4] == 0);
    tplan_free(&t);

    /* all zero (absent) weights: equal thirds */
    REQUIRE(plan_of("{'variants':[{'id':'a'},{'id':'b','weight':0},{'id':'c'}]}", &t) == 0);
    CHECK_STR(pick_id(&t.p, 3332), "a");
    CHECK_STR(pick_id(&t.p, 3333), "b");
    CHECK_STR(pick_id(&t.p, 6665), "b");
    CHECK_STR(pick_id(&t.p, 6666), "c");
    CHECK(count_range(&t.p, NULL, n) && n[0] == 3333 && n[1] == 3333 && n[2] == 3334);
    tplan_free(&t);

    /* an audience variant's weight is ignored; a trailing zero weight owns nothing */
    REQUIRE(plan_of("{'variants':[{'id':'control','weight':70},{'id':'vip','weight':100,"
                    "'audience':{'any':['segment/vip']}},{'id':'b','weight':30},"
                    "{'id':'c','weight':0}]}",
                    &t) == 0);
    CHECK_STR(pick_id(&t.p, 6999), "control");
    CHECK_STR(pick_id(&t.p, 7000), "b");
    CHECK_STR(pick_id(&t.p, 9999), "b");
    CHECK(count_range(&t.p, NULL, n) && n[0] == 7000 && n[1] == 0 && n[2] == 3000 && n[3] == 0);
    tplan_free(&t);

    /* IEEE double order of operations: 10000 * (0.7 + 0.1) / (0.7 + 0.1 + 0.2) < 8000 */
    REQUIRE(plan_of("{'variants':[{'id':'a','weight':0.7},{'id':'b','weight':0.1},"
                    "{'id':'c','weight':0.2}]}",
                    &t) == 0);
    CHECK_STR(pick_id(&t.p, 6999), "a");
    CHECK_STR(pick_id(&t.p, 7000), "b");
    CHECK_STR(pick_id(&t.p, 7998), "b");
    CHECK_STR(pick_id(&t.p, 7999), "c");
    tplan_free(&t);

    /* holdout 100%: nothing is left to split, and every bucket is held out (see decide) */
    REQUIRE(plan_of("{'variants':[{'id':'a','weight':1}],'experiment':{'holdout_percent':100}}",
                    &t) == 0);
    CHECK(t.p.holdout_bp == HUB_BUCKETS);
    CHECK(count_range(&t.p, NULL, n));
    tplan_free(&t);

    /* one variant, tiny and huge weights */
    REQUIRE(plan_of("{'variants':[{'id':'a','weight':0.001},{'id':'b','weight':10000}]}", &t) == 0);
    CHECK_STR(pick_id(&t.p, 0), "b"); /* floor(10000 * 0.001 / 10000.001) = 0: a owns nothing */
    CHECK(count_range(&t.p, NULL, n) && n[0] == 0 && n[1] == 10000);
    tplan_free(&t);
}

/* ---- audiences --------------------------------------------------------------------------- */

static int match(const hub_plan *p, size_t i, const char *csv)
{
    char buf[256];
    hub_slice segs[16];
    snprintf(buf, sizeof(buf), "%s", csv);
    int n = hub_segments_split(buf, segs, 16);
    return hub_experiment_audience_match(p, i, segs, (size_t)(n > 0 ? n : 0));
}

static void test_audience(void)
{
    tplan t;
    REQUIRE(plan_of("{'variants':[{'id':'base'},"
                    "{'id':'any','audience':{'any':['s/a','s/b']}},"
                    "{'id':'all','audience':{'all':['s/c','s/d']}},"
                    "{'id':'none','audience':{'none':['s/e']}},"
                    "{'id':'mix','audience':{'any':['s/x'],'all':['s/y'],'none':['s/z']}},"
                    "{'id':'empty','audience':{}},"
                    "{'id':'emptylists','audience':{'any':[],'all':[],'none':[]}}]}",
                    &t) == 0);
    const hub_plan *p = &t.p;
    CHECK(!match(p, 0, "s/a")); /* no audience: never a match */
    CHECK(match(p, 1, "s/a") && match(p, 1, "s/q,s/b") && !match(p, 1, ""));
    CHECK(!match(p, 1, "s/ab") && !match(p, 1, "s/a/b") && !match(p, 1, "s/") &&
          !match(p, 1, "S/A"));
    CHECK(match(p, 2, "s/c,s/d") && match(p, 2, "s/d,s/q,s/c") && !match(p, 2, "s/c"));
    CHECK(!match(p, 2, "s/d") && !match(p, 2, ""));
    CHECK(match(p, 3, "") && match(p, 3, "s/q") && !match(p, 3, "s/e") && !match(p, 3, "s/q,s/e"));
    CHECK(match(p, 4, "s/x,s/y") && match(p, 4, "s/y,s/x,s/q"));
    CHECK(!match(p, 4, "s/x,s/y,s/z") && !match(p, 4, "s/x") && !match(p, 4, "s/y"));
    CHECK(!match(p, 5, "") && !match(p, 5, "s/a")); /* no terms: nobody */
    CHECK(!match(p, 6, "") && !match(p, 6, "s/a"));
    tplan_free(&t);
}

static void test_segments_split_and_reasons(void)
{
    hub_slice s[3];
    CHECK(hub_segments_split(NULL, s, 3) == 0);
    CHECK(hub_segments_split("", s, 3) == 0);
    CHECK(hub_segments_split(",,", s, 3) == 0);
    CHECK(hub_segments_split("a,,b,", s, 3) == 2 && hub_slice_eq(s[0], "a") &&
          hub_slice_eq(s[1], "b"));
    CHECK(hub_segments_split("a,b,c", s, 3) == 3 && hub_slice_eq(s[2], "c"));
    CHECK(hub_segments_split("a,b,c,d", s, 3) == -1);
    static const char *const names[] = {"requested", "no_subject", "paused", "concluded", "holdout",
                                        "audience",  "sticky",     "weight", "bandit"};
    static const hub_reason rs[] = {
        HUB_REASON_REQUESTED, HUB_REASON_NO_SUBJECT, HUB_REASON_PAUSED,
        HUB_REASON_CONCLUDED, HUB_REASON_HOLDOUT,    HUB_REASON_AUDIENCE,
        HUB_REASON_STICKY,    HUB_REASON_WEIGHT,     HUB_REASON_BANDIT};
    for (size_t i = 0; i < sizeof(rs) / sizeof(rs[0]); i++)
        CHECK_STR(hub_reason_name(rs[i]), names[i]);
    CHECK_STR(hub_reason_name((hub_reason)99), "unknown");
}

/* ---- the decision over a store ------------------------------------------------------------ */

static hub_store *store_at(const char *name)
{
    hub_store_options o = {.dir = test_tmpdir(name), .map_size = 64u << 20};
    hub_store *s = NULL;
    hub_error err;
    hub_error_init(&err);
    if (hub_store_open(&s, &o, &err) != 0)
        fprintf(stderr, "open %s: %s\n", o.dir, err.message);
    hub_error_clear(&err);
    return s;
}

typedef struct put_arg {
    const char *key, *subject, *variant, *channel;
    unsigned flags;
    int64_t ms;
} put_arg;

static int put_fn(hub_txn *txn, void *arg)
{
    const put_arg *a = arg;
    hub_assignment rec = {a->flags, a->ms, S(a->variant), S(a->channel ? a->channel : "")};
    return hub_assignment_put(txn, S(a->key), S(a->subject), &rec);
}

static int put_assignment(hub_store *s, const char *key, const char *subject, unsigned flags,
                          const char *variant)
{
    put_arg a = {key, subject, variant, "email", flags, 1234};
    return hub_store_write(s, put_fn, &a);
}

typedef struct raw_arg {
    hub_db db;
    hub_slice key, val;
} raw_arg;

static int raw_put_fn(hub_txn *txn, void *arg)
{
    const raw_arg *a = arg;
    return hub_txn_put(txn, a->db, a->key, a->val);
}

/* One decision in its own read transaction; *id gets the variant's id. */
static int decide(hub_store *s, const hub_plan *p, const char *key, const char *subject,
                  const char *segs_csv, hub_decision *d, char id[80])
{
    hub_txn *txn = NULL;
    hub_slice segs[16];
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", segs_csv);
    int n = hub_segments_split(buf, segs, 16);
    int rc = hub_store_read(s, &txn);
    if (rc == 0)
        rc = hub_experiment_decide(txn, p, S(key), S(subject), segs, (size_t)(n > 0 ? n : 0), d);
    snprintf(id, 80, "%s", rc == 0 ? vid(p, d->variant) : "(error)");
    d->rec.variant = d->rec.channel = S(""); /* borrowed from the ended txn */
    hub_txn_end(txn);
    return rc;
}

/* A subject "<prefix>-<n>" whose bucket for (key, seed) is in [lo, hi). */
static const char *subject_in(const char *key, const char *seed, const char *prefix, unsigned lo,
                              unsigned hi)
{
    static char buf[4][64];
    static int next;
    char *out = buf[next++ % 4];
    for (int n = 0; n < 1000000; n++) {
        snprintf(out, 64, "%s-%d", prefix, n);
        unsigned b = bucket_of(S(key), S(seed), S(out));
        if (b >= lo && b < hi)
            return out;
    }
    abort();
}

/* 1 if the decision for (subject, segments) is want/why; says what it was otherwise. */
static int decided_as(hub_store *s, const hub_plan *p, const char *key, const char *subject,
                      const char *segs_csv, hub_decision *d, const char *want, hub_reason why)
{
    char id[80];
    int rc = decide(s, p, key, subject, segs_csv, d, id);
    if (rc == 0 && strcmp(id, want) == 0 && d->reason == why)
        return 1;
    fprintf(stderr, "decide(%s, '%.40s', [%s]): rc %d, %s (%s); expected %s (%s)\n", key, subject,
            segs_csv, rc, id, rc == 0 ? hub_reason_name(d->reason) : "-", want,
            hub_reason_name(why));
    return 0;
}

static const char *const ORDER_RUNNING =
    "{'variants':[{'id':'a','weight':50},{'id':'vip','audience':{'any':['segment/vip']}},"
    "{'id':'b','weight':50}],'experiment':{'holdout_percent':10}}";

static void test_decide_order(void)
{
    hub_store *s = store_at("experiment_order");
    REQUIRE(s != NULL);
    tplan t;
    hub_decision d;
    char id[80];
    const char *key = "exp/order";
    REQUIRE(plan_of(ORDER_RUNNING, &t) == 0);
    CHECK(decided_as(s, &t.p, key, "", "", &d, "a", HUB_REASON_NO_SUBJECT));
    CHECK(d.bucket == -1 && !d.store && !d.stored);
    CHECK(decided_as(s, &t.p, key, "", "segment/vip", &d, "vip", HUB_REASON_AUDIENCE));
    CHECK(d.bucket == -1 && !d.store);
    const char *held = subject_in(key, "", "h", 0, 1000);
    CHECK(decided_as(s, &t.p, key, held, "", &d, "(held out)", HUB_REASON_HOLDOUT));
    CHECK(d.variant == -1 && d.store && d.bucket == (int)bucket_of(S(key), S(""), S(held)));
    /* holdout comes before audiences for a running test with a subject */
    CHECK(decided_as(s, &t.p, key, held, "segment/vip", &d, "(held out)", HUB_REASON_HOLDOUT));
    const char *in_a = subject_in(key, "", "a", 1000, 5500);
    CHECK(decided_as(s, &t.p, key, in_a, "", &d, "a", HUB_REASON_WEIGHT));
    CHECK(d.store && !d.stored && d.bucket >= 1000 && d.bucket < 5500);
    CHECK(decided_as(s, &t.p, key, in_a, "segment/other,segment/vip", &d, "vip",
                     HUB_REASON_AUDIENCE));
    CHECK(!d.store && d.bucket >= 1000);
    const char *in_b = subject_in(key, "", "b", 5500, 10000);
    CHECK(decided_as(s, &t.p, key, in_b, "", &d, "b", HUB_REASON_WEIGHT));
    /* subjects: at most 256 bytes, no NUL */
    char big[258];
    memset(big, 'q', 257);
    big[257] = '\0';
    CHECK(decide(s, &t.p, key, big, "", &d, id) == HUB_EINVAL);
    big[256] = '\0';
    CHECK(decide(s, &t.p, key, big, "", &d, id) == 0 && d.bucket >= 0);
    hub_txn *txn = NULL;
    REQUIRE(hub_store_read(s, &txn) == 0);
    CHECK(hub_experiment_decide(txn, &t.p, S(key), (hub_slice){"a\0b", 3}, NULL, 0, &d) ==
          HUB_EINVAL);
    hub_txn_end(txn);
    tplan_free(&t);

    /* paused: the base, or an audience match; concluded: the winner, else the base */
    REQUIRE(plan_of("{'variants':[{'id':'a','weight':50},{'id':'vip','audience':{'any':["
                    "'segment/vip']}},{'id':'b','weight':50}],'experiment':{'status':'paused'}}",
                    &t) == 0);
    CHECK(decided_as(s, &t.p, key, in_b, "", &d, "a", HUB_REASON_PAUSED));
    CHECK(d.bucket == -1 && !d.store);
    CHECK(decided_as(s, &t.p, key, in_b, "segment/vip", &d, "vip", HUB_REASON_AUDIENCE));
    CHECK(decided_as(s, &t.p, key, "", "", &d, "a", HUB_REASON_PAUSED));
    tplan_free(&t);
    REQUIRE(plan_of("{'variants':[{'id':'a','weight':50},{'id':'vip','audience':{'any':["
                    "'segment/vip']}},{'id':'b','weight':50}],"
                    "'experiment':{'status':'concluded','winner':'b'}}",
                    &t) == 0);
    CHECK(decided_as(s, &t.p, key, in_a, "", &d, "b", HUB_REASON_CONCLUDED));
    CHECK(decided_as(s, &t.p, key, held, "", &d, "b", HUB_REASON_CONCLUDED));
    CHECK(decided_as(s, &t.p, key, "", "", &d, "b", HUB_REASON_CONCLUDED));
    CHECK(decided_as(s, &t.p, key, in_a, "segment/vip", &d, "vip", HUB_REASON_AUDIENCE));
    tplan_free(&t);
    REQUIRE(plan_of("{'variants':[{'id':'a','weight':50},{'id':'b','weight':50}],"
                    "'experiment':{'status':'concluded'}}",
                    &t) == 0);
    CHECK(decided_as(s, &t.p, key, in_b, "", &d, "a", HUB_REASON_CONCLUDED));
    tplan_free(&t);

    /* holdout 100%: everyone is held out */
    REQUIRE(plan_of("{'variants':[{'id':'a','weight':1}],'experiment':{'holdout_percent':100}}",
                    &t) == 0);
    int all = 1;
    for (int i = 0; i < 2000; i++) {
        char sub[32];
        snprintf(sub, sizeof(sub), "everyone-%d", i);
        all &= decided_as(s, &t.p, key, sub, "", &d, "(held out)", HUB_REASON_HOLDOUT);
    }
    CHECK(all);
    tplan_free(&t);
    hub_store_close(s);
}

static void test_assignment_records(void)
{
    hub_store *s = store_at("experiment_records");
    REQUIRE(s != NULL);
    put_arg a = {"exp/rec",      "jörg", "variant-b", "sms", HUB_ASSIGN_STICKY | HUB_ASSIGN_EXPOSED,
                 1700000000123LL};
    REQUIRE(hub_store_write(s, put_fn, &a) == 0);
    hub_txn *txn = NULL;
    hub_assignment rec;
    REQUIRE(hub_store_read(s, &txn) == 0);
    CHECK(hub_assignment_get(txn, S("exp/rec"), S("jörg"), &rec) == 0);
    CHECK(rec.flags == (HUB_ASSIGN_STICKY | HUB_ASSIGN_EXPOSED) && rec.first_ms == 1700000000123LL);
    CHECK(hub_slice_eq(rec.variant, "variant-b") && hub_slice_eq(rec.channel, "sms"));
    CHECK(hub_assignment_get(txn, S("exp/rec"), S("jorg"), &rec) == HUB_ENOTFOUND);
    CHECK(hub_assignment_get(txn, S("exp/re"), S("jörg"), &rec) == HUB_ENOTFOUND);
    hub_txn_end(txn);
    /* a held-out record: empty variant and channel */
    put_arg h = {"exp/rec", "held", "", NULL, HUB_ASSIGN_STICKY | HUB_ASSIGN_HOLDOUT, 1};
    REQUIRE(hub_store_write(s, put_fn, &h) == 0);
    REQUIRE(hub_store_read(s, &txn) == 0);
    CHECK(hub_assignment_get(txn, S("exp/rec"), S("held"), &rec) == 0);
    CHECK(rec.flags == (HUB_ASSIGN_STICKY | HUB_ASSIGN_HOLDOUT) && rec.variant.len == 0 &&
          rec.channel.len == 0);
    hub_txn_end(txn);
    /* limits: variant and channel 255 bytes, key + subject 510 */
    char long_id[300];
    memset(long_id, 'v', 256);
    long_id[256] = '\0';
    put_arg bad = {"exp/rec", "x", long_id, NULL, HUB_ASSIGN_STICKY, 1};
    CHECK(hub_store_write(s, put_fn, &bad) == HUB_EINVAL);
    long_id[255] = '\0';
    put_arg ok = {"exp/rec", "x", long_id, long_id, HUB_ASSIGN_STICKY, 1};
    CHECK(hub_store_write(s, put_fn, &ok) == 0);
    /* corrupt records are HUB_EIO, for the record and for the decision */
    static const char *const corrupt[] = {"", "A", "Xaaaaaaaaaaa", "A\1\0\0\0\0\0\0\0\0\5ab\0",
                                          "A\1\0\0\0\0\0\0\0\0\1a\0zz"};
    static const size_t corrupt_len[] = {0, 1, 12, 14, 15};
    tplan t;
    REQUIRE(plan_of("{'variants':[{'id':'a'}]}", &t) == 0);
    for (size_t i = 1; i < sizeof(corrupt) / sizeof(corrupt[0]); i++) {
        raw_arg r = {HUB_DB_ASSIGNMENTS, {"exp/rec\0bad", 11}, {corrupt[i], corrupt_len[i]}};
        REQUIRE(hub_store_write(s, raw_put_fn, &r) == 0);
        hub_decision d;
        char id[80];
        REQUIRE(hub_store_read(s, &txn) == 0);
        CHECK(hub_assignment_get(txn, S("exp/rec"), S("bad"), &rec) == HUB_EIO);
        hub_txn_end(txn);
        CHECK(decide(s, &t.p, "exp/rec", "bad", "", &d, id) == HUB_EIO);
    }
    tplan_free(&t);
    hub_store_close(s);
}

typedef struct drop_arg {
    const char *key;
} drop_arg;

static int drop_fn(hub_txn *txn, void *arg)
{
    return hub_assignment_drop_item(txn, S(((drop_arg *)arg)->key));
}

static void test_assignment_drop_item(void)
{
    hub_store *s = store_at("experiment_drop");
    REQUIRE(s != NULL);
    static const char *const keys[] = {"exp/drop", "exp/drop", "exp/drop2", "exp/dro",
                                       "exp/drop/x"};
    static const char *const subjects[] = {"s1", "s2", "s1", "s1", "s1"};
    for (size_t i = 0; i < 5; i++)
        REQUIRE(put_assignment(s, keys[i], subjects[i], HUB_ASSIGN_STICKY, "a") == 0);
    drop_arg a = {"exp/drop"};
    CHECK(hub_store_write(s, drop_fn, &a) == 0);
    CHECK(hub_store_write(s, drop_fn, &a) == 0); /* nothing left: still fine */
    hub_txn *txn = NULL;
    hub_assignment rec;
    REQUIRE(hub_store_read(s, &txn) == 0);
    for (size_t i = 0; i < 5; i++)
        CHECK((hub_assignment_get(txn, S(keys[i]), S(subjects[i]), &rec) == 0) == (i >= 2));
    hub_txn_end(txn);
    hub_store_close(s);
}

static void test_decide_sticky(void)
{
    hub_store *s = store_at("experiment_sticky");
    REQUIRE(s != NULL);
    tplan t;
    hub_decision d;
    const char *key = "exp/sticky";
    REQUIRE(plan_of("{'variants':[{'id':'a','weight':50},{'id':'vip','audience':{'any':["
                    "'segment/vip']}},{'id':'b','weight':50}]}",
                    &t) == 0);
    char sa[64], other[64], held[64], loose[64];
    snprintf(sa, sizeof(sa), "%s", subject_in(key, "", "sa", 0, 5000));
    snprintf(other, sizeof(other), "%s", subject_in(key, "", "other", 0, 5000));
    snprintf(held, sizeof(held), "%s", subject_in(key, "", "held", 0, 5000));
    snprintf(loose, sizeof(loose), "%s", subject_in(key, "", "loose", 0, 5000));
    CHECK(decided_as(s, &t.p, key, sa, "", &d, "a", HUB_REASON_WEIGHT) && d.store);
    REQUIRE(put_assignment(s, key, sa, HUB_ASSIGN_STICKY | HUB_ASSIGN_EXPOSED, "a") == 0);
    CHECK(decided_as(s, &t.p, key, sa, "", &d, "a", HUB_REASON_STICKY));
    CHECK(d.stored && !d.store && d.bucket < 5000);
    /* an audience the subject matches now wins, and leaves the record alone */
    CHECK(decided_as(s, &t.p, key, sa, "segment/vip", &d, "vip", HUB_REASON_AUDIENCE));
    CHECK(!d.store);
    tplan_free(&t);

    /* weights change: the stored subject keeps a; a new subject in the same range gets b */
    REQUIRE(plan_of("{'variants':[{'id':'a','weight':0},{'id':'b','weight':100}]}", &t) == 0);
    CHECK(decided_as(s, &t.p, key, sa, "", &d, "a", HUB_REASON_STICKY));
    CHECK(decided_as(s, &t.p, key, other, "", &d, "b", HUB_REASON_WEIGHT));
    tplan_free(&t);
    /* a variant added in front of it, and a new seed: still a */
    REQUIRE(plan_of("{'variants':[{'id':'z','weight':100},{'id':'a','weight':0},{'id':'b'}],"
                    "'experiment':{'seed':'new','holdout_percent':50}}",
                    &t) == 0);
    CHECK(decided_as(s, &t.p, key, sa, "", &d, "a", HUB_REASON_STICKY));
    tplan_free(&t);
    /* paused and resumed */
    REQUIRE(plan_of("{'variants':[{'id':'b'},{'id':'a'}],'experiment':{'status':'paused'}}", &t) ==
            0);
    CHECK(decided_as(s, &t.p, key, sa, "", &d, "b", HUB_REASON_PAUSED));
    tplan_free(&t);
    /* the variant removed: assigned anew by bucket, to be stored in place of the record */
    REQUIRE(plan_of("{'variants':[{'id':'b','weight':50},{'id':'c','weight':50}]}", &t) == 0);
    CHECK(decided_as(s, &t.p, key, sa, "", &d, "b", HUB_REASON_WEIGHT));
    CHECK(d.store && d.stored && (d.rec.flags & HUB_ASSIGN_STICKY));
    tplan_free(&t);

    /* a stored holdout stays held out, even with the holdout gone */
    REQUIRE(put_assignment(s, key, held, HUB_ASSIGN_STICKY | HUB_ASSIGN_HOLDOUT, "") == 0);
    REQUIRE(plan_of("{'variants':[{'id':'a','weight':50},{'id':'vip','audience':{'any':["
                    "'segment/vip']}},{'id':'b','weight':50}]}",
                    &t) == 0);
    CHECK(decided_as(s, &t.p, key, held, "", &d, "(held out)", HUB_REASON_HOLDOUT));
    CHECK(!d.store && d.stored);
    CHECK(decided_as(s, &t.p, key, held, "segment/vip", &d, "(held out)", HUB_REASON_HOLDOUT));
    /* a record that is not sticky (an exposure posted as an event) does not assign */
    REQUIRE(put_assignment(s, key, loose, HUB_ASSIGN_EXPOSED, "b") == 0);
    CHECK(decided_as(s, &t.p, key, loose, "", &d, "a", HUB_REASON_WEIGHT));
    CHECK(d.store && d.stored);
    tplan_free(&t);

    /* The stored variant became a targeted one (it gained an audience): a recipient outside
     * that audience must not keep it; it is assigned again by bucket among the weighted
     * variants, and the new decision replaces the record. A recipient in the audience gets
     * it as an audience match. */
    char was_b[64];
    snprintf(was_b, sizeof(was_b), "%s", subject_in(key, "", "wasb", 0, 10000));
    REQUIRE(put_assignment(s, key, was_b, HUB_ASSIGN_STICKY | HUB_ASSIGN_EXPOSED, "b") == 0);
    REQUIRE(plan_of("{'variants':[{'id':'a','weight':100},{'id':'b','audience':{'any':["
                    "'segment/vip']}}]}",
                    &t) == 0);
    CHECK(decided_as(s, &t.p, key, was_b, "segment/vip", &d, "b", HUB_REASON_AUDIENCE));
    CHECK(decided_as(s, &t.p, key, was_b, "", &d, "a", HUB_REASON_WEIGHT));
    CHECK(d.store && d.stored);
    tplan_free(&t);
    hub_store_close(s);
}

typedef struct bandit_arg {
    const char *key;
    const hub_plan *p;
    const double *w;
    int64_t ms;
    int drop;
} bandit_arg;

static int bandit_fn(hub_txn *txn, void *arg)
{
    const bandit_arg *a = arg;
    if (a->drop)
        return hub_bandit_drop(txn, S(a->key));
    return hub_bandit_put(txn, S(a->key), a->p, a->w, a->ms);
}

static int bandit_get(hub_store *s, const char *key, const hub_plan *p, double *w, int64_t *ms)
{
    hub_txn *txn = NULL;
    int rc = hub_store_read(s, &txn);
    if (rc == 0)
        rc = hub_bandit_get(txn, S(key), p, w, ms);
    hub_txn_end(txn);
    return rc;
}

static const char *const BANDIT_ITEM =
    "{'variants':[{'id':'a'},{'id':'vip','audience':{'any':['segment/vip']}},{'id':'b'},"
    "{'id':'c'}],'experiment':{'allocation':'bandit'}}";

static void test_bandit_records(void)
{
    hub_store *s = store_at("experiment_bandit");
    REQUIRE(s != NULL);
    tplan t, grown, shrunk;
    double w[HUB_PLAN_VARIANTS_MAX], got[HUB_PLAN_VARIANTS_MAX];
    int64_t ms = 0;
    REQUIRE(plan_of(BANDIT_ITEM, &t) == 0);
    hub_bandit_equal(&t.p, w);
    CHECK(w[0] == 1 && w[1] == 0 && w[2] == 1 && w[3] == 1);
    CHECK(bandit_get(s, "exp/bandit", &t.p, got, &ms) == HUB_ENOTFOUND);
    w[0] = 0.125, w[1] = 0.75 /* an audience variant: not stored */, w[2] = 0.8, w[3] = 0.075;
    bandit_arg put = {"exp/bandit", &t.p, w, 1700000000000LL, 0};
    REQUIRE(hub_store_write(s, bandit_fn, &put) == 0);
    CHECK(bandit_get(s, "exp/bandit", &t.p, got, &ms) == 0 && ms == 1700000000000LL);
    CHECK(got[0] == 0.125 && got[1] == 0 && got[2] == 0.8 && got[3] == 0.075);
    CHECK(bandit_get(s, "exp/bandit", &t.p, got, NULL) == 0);
    /* the plan changed since: a weight is missing, so none are used */
    REQUIRE(plan_of("{'variants':[{'id':'a'},{'id':'b'},{'id':'c'},{'id':'d'}],"
                    "'experiment':{'allocation':'bandit'}}",
                    &grown) == 0);
    CHECK(bandit_get(s, "exp/bandit", &grown.p, got, &ms) == HUB_ENOTFOUND);
    /* a removed arm leaves the others covered */
    REQUIRE(plan_of("{'variants':[{'id':'c'},{'id':'a'}],'experiment':{'allocation':'bandit'}}",
                    &shrunk) == 0);
    CHECK(bandit_get(s, "exp/bandit", &shrunk.p, got, &ms) == 0 && got[0] == 0.075 &&
          got[1] == 0.125);
    bandit_arg drop = {"exp/bandit", &t.p, w, 0, 1};
    CHECK(hub_store_write(s, bandit_fn, &drop) == 0);
    CHECK(bandit_get(s, "exp/bandit", &t.p, got, &ms) == HUB_ENOTFOUND);
    CHECK(hub_store_write(s, bandit_fn, &drop) == 0);
    /* corrupt records */
    static const char *const corrupt[] = {"B", "X\1\0\0\0\0\0\0\0\0\0",
                                          "B\1\0\0\0\0\0\0\0\0\1\5ab"};
    static const size_t corrupt_len[] = {1, 11, 14};
    for (size_t i = 0; i < 3; i++) {
        raw_arg r = {HUB_DB_BANDIT, S("exp/bandit"), {corrupt[i], corrupt_len[i]}};
        REQUIRE(hub_store_write(s, raw_put_fn, &r) == 0);
        CHECK(bandit_get(s, "exp/bandit", &t.p, got, &ms) == HUB_EIO);
    }
    tplan_free(&shrunk);
    tplan_free(&grown);
    tplan_free(&t);
    hub_store_close(s);
}

static void test_decide_bandit(void)
{
    hub_store *s = store_at("experiment_decide_bandit");
    REQUIRE(s != NULL);
    tplan t;
    hub_decision d;
    char id[80];
    const char *key = "exp/arms";
    REQUIRE(plan_of(BANDIT_ITEM, &t) == 0);
    /* no weights stored yet: equal thirds over a, b, c */
    const char *in_b = subject_in(key, "", "eq", 3333, 6666);
    CHECK(decided_as(s, &t.p, key, in_b, "", &d, "b", HUB_REASON_BANDIT));
    CHECK(d.store);
    CHECK(decided_as(s, &t.p, key, in_b, "segment/vip", &d, "vip", HUB_REASON_AUDIENCE));
    /* weights that send every new subject to c */
    double w[HUB_PLAN_VARIANTS_MAX] = {0, 0, 0, 1};
    bandit_arg put = {key, &t.p, w, 1, 0};
    REQUIRE(hub_store_write(s, bandit_fn, &put) == 0);
    int all_c = 1;
    for (int i = 0; i < 300; i++) {
        char sub[32];
        snprintf(sub, sizeof(sub), "new-%d", i);
        all_c &= decided_as(s, &t.p, key, sub, "", &d, "c", HUB_REASON_BANDIT);
    }
    CHECK(all_c);
    /* an assigned subject stays */
    REQUIRE(put_assignment(s, key, in_b, HUB_ASSIGN_STICKY, "b") == 0);
    CHECK(decided_as(s, &t.p, key, in_b, "", &d, "b", HUB_REASON_STICKY));
    /* a corrupt weights record fails the decision rather than guessing */
    raw_arg r = {HUB_DB_BANDIT, S(key), S("B")};
    REQUIRE(hub_store_write(s, raw_put_fn, &r) == 0);
    CHECK(decide(s, &t.p, key, "new-1", "", &d, id) == HUB_EIO);
    tplan_free(&t);
    hub_store_close(s);
}

/* ---- distribution ------------------------------------------------------------------------ */

/* Chi-square of observed counts against expected shares. */
static double chi_square(const unsigned *obs, const double *share, size_t k, unsigned n)
{
    double x2 = 0;
    for (size_t i = 0; i < k; i++) {
        double e = share[i] * n;
        x2 += (obs[i] - e) * (obs[i] - e) / e;
    }
    return x2;
}

static void test_distribution(void)
{
    enum { N = 100000 };
    tplan t;
    /* 3 variants 20/30/50 with a 10% holdout: 4 cells, 3 degrees of freedom */
    REQUIRE(plan_of("{'variants':[{'id':'a','weight':20},{'id':'b','weight':30},"
                    "{'id':'c','weight':50}],'experiment':{'holdout_percent':10,'seed':'dist'}}",
                    &t) == 0);
    unsigned obs[4] = {0, 0, 0, 0};
    char sub[32];
    for (int i = 0; i < N; i++) {
        snprintf(sub, sizeof(sub), "user-%d", i);
        unsigned b = bucket_of(S("exp/dist"), t.p.seed, S(sub));
        obs[b < t.p.holdout_bp ? 0 : 1 + hub_experiment_pick(&t.p, NULL, b)]++;
    }
    const double share[4] = {0.10, 0.90 * 0.2, 0.90 * 0.3, 0.90 * 0.5};
    double x2 = chi_square(obs, share, 4, N);
    fprintf(stderr, "distribution: held %u a %u b %u c %u, chi-square %.2f\n", obs[0], obs[1],
            obs[2], obs[3], x2);
    CHECK(x2 < 16.266); /* chi-square, 3 df, p = 0.001 */
    /* the holdout share alone, within 4 standard deviations */
    double held = (double)obs[0] / N, sd = sqrt(0.1 * 0.9 / N);
    CHECK(fabs(held - 0.1) < 4 * sd);
    tplan_free(&t);

    /* without holdout and seed, 2 degrees of freedom */
    REQUIRE(plan_of("{'variants':[{'id':'a','weight':2},{'id':'b','weight':3},"
                    "{'id':'c','weight':5}]}",
                    &t) == 0);
    unsigned o3[3] = {0, 0, 0};
    for (int i = 0; i < N; i++) {
        snprintf(sub, sizeof(sub), "%d@example.org", i);
        o3[hub_experiment_pick(&t.p, NULL, bucket_of(S("exp/d2"), S(""), S(sub)))]++;
    }
    const double s3[3] = {0.2, 0.3, 0.5};
    CHECK(chi_square(o3, s3, 3, N) < 13.816); /* 2 df, p = 0.001 */
    /* the buckets themselves: uniform over 10 deciles (9 df) */
    unsigned dec[10] = {0};
    for (int i = 0; i < N; i++) {
        snprintf(sub, sizeof(sub), "d-%d", i);
        dec[bucket_of(S("exp/d3"), S("x"), S(sub)) / 1000]++;
    }
    const double s10[10] = {0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1};
    CHECK(chi_square(dec, s10, 10, N) < 27.877); /* 9 df, p = 0.001 */
    tplan_free(&t);
}

int main(void)
{
    RUN(test_plan_roundtrip);
    RUN(test_plan_encode_rounding_and_refusals);
    RUN(test_plan_decode_malformed);
    RUN(test_plan_decode_garbage);
    RUN(test_plan_differs);
    RUN(test_bucket_vectors);
    RUN(test_doc_table);
    RUN(test_pick_boundaries);
    RUN(test_audience);
    RUN(test_segments_split_and_reasons);
    RUN(test_decide_order);
    RUN(test_assignment_records);
    RUN(test_assignment_drop_item);
    RUN(test_decide_sticky);
    RUN(test_bandit_records);
    RUN(test_decide_bandit);
    RUN(test_distribution);
    return TEST_SUMMARY();
}
