/*
 * experiment/assign.c: buckets, the weighted mapping, audience rules, the stored assignments
 * and bandit weights, and the decision that combines them (order in experiment.h).
 *
 * Assignment record (HUB_DB_ASSIGNMENTS, "key\0subject" -> value):
 *   [u8 'A'][u8 flags][be64 first ms][u8 variant len][variant][u8 channel len][channel]
 * Bandit record (HUB_DB_BANDIT, key -> value):
 *   [u8 'B'][u8 1][be64 updated ms][u8 n] then n times [u8 id len][id][8 bytes weight bits]
 */
#include "experiment/experiment.h"

#include <math.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <string.h>

#define AKEY_MAX 511

/* SHA-256 through EVP with the algorithm fetched once and a context kept per thread: the
 * one-shot SHA256() fetches the algorithm on every call, which costs a read with a subject
 * several percent of its time. The parts are fed in turn, so nothing is copied. */
static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;
static pthread_key_t ctx_key;

static void sha256_init(void)
{
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
    pthread_key_create(&ctx_key, (void (*)(void *))EVP_MD_CTX_free);
}

static EVP_MD_CTX *thread_ctx(void)
{
    pthread_once(&sha256_once, sha256_init);
    EVP_MD_CTX *ctx = pthread_getspecific(ctx_key);
    if (ctx == NULL) {
        ctx = EVP_MD_CTX_new();
        if (ctx != NULL && pthread_setspecific(ctx_key, ctx) != 0) {
            EVP_MD_CTX_free(ctx);
            ctx = NULL;
        }
    }
    return ctx;
}

int hub_experiment_bucket(hub_slice key, hub_slice seed, hub_slice subject, unsigned *out)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    EVP_MD_CTX *ctx = thread_ctx();
    if (ctx == NULL || sha256_md == NULL || EVP_DigestInit_ex2(ctx, sha256_md, NULL) != 1 ||
        EVP_DigestUpdate(ctx, key.base, key.len) != 1 || EVP_DigestUpdate(ctx, ":", 1) != 1 ||
        EVP_DigestUpdate(ctx, seed.base, seed.len) != 1 || EVP_DigestUpdate(ctx, ":", 1) != 1 ||
        EVP_DigestUpdate(ctx, subject.base, subject.len) != 1 ||
        EVP_DigestFinal_ex(ctx, md, &len) != 1 || len != 32)
        return HUB_ENOMEM;
    *out = (unsigned)(hub_be64_get(md) % HUB_BUCKETS);
    return 0;
}

int hub_experiment_pick(const hub_plan *p, const double *weights, unsigned bucket)
{
    double total = 0, run = 0;
    int last = -1, equal;
    for (size_t i = 0; i < p->nvariants; i++)
        if (!p->v[i].audience)
            total += weights != NULL ? weights[i] : p->v[i].weight;
    equal = !(total > 0);
    if (equal) {
        total = 0;
        for (size_t i = 0; i < p->nvariants; i++)
            total += !p->v[i].audience;
    }
    double range = (double)(HUB_BUCKETS - p->holdout_bp);
    for (size_t i = 0; i < p->nvariants; i++) {
        if (p->v[i].audience)
            continue;
        double w = equal ? 1.0 : (weights != NULL ? weights[i] : p->v[i].weight);
        run += w;
        last = (int)i;
        if (w > 0 && (double)bucket < (double)p->holdout_bp + floor(range * run / total))
            return (int)i;
    }
    /* bucket 9999 with rounding at the top, or trailing zero weights: the last variant
     * with weight (or the last eligible one) owns the end of the range */
    for (size_t i = p->nvariants; i-- > 0;) {
        double w = equal ? 1.0 : (weights != NULL ? weights[i] : p->v[i].weight);
        if (!p->v[i].audience && w > 0)
            return (int)i;
    }
    return last;
}

/* ---- audience -------------------------------------------------------------------------- */

static int has(const hub_slice *segs, size_t n, hub_slice t)
{
    for (size_t i = 0; i < n; i++)
        if (segs[i].len == t.len && memcmp(segs[i].base, t.base, t.len) == 0)
            return 1;
    return 0;
}

static hub_slice next_term(hub_slice terms, size_t *pos)
{
    const unsigned char *p = (const unsigned char *)terms.base + *pos;
    hub_slice t = {"", 0};
    if (terms.len - *pos < 2)
        return t;
    size_t n = ((size_t)p[0] << 8) | p[1];
    if (terms.len - *pos - 2 < n)
        return t;
    t.base = terms.base + *pos + 2;
    t.len = n;
    *pos += 2 + n;
    return t;
}

int hub_experiment_audience_match(const hub_plan *p, size_t i, const hub_slice *segs, size_t n)
{
    const hub_plan_variant *v = &p->v[i];
    size_t pos = 0;
    int any = v->n_any == 0;
    if (!v->audience || v->n_any + v->n_all + v->n_none == 0)
        return 0;
    for (unsigned k = 0; k < v->n_any; k++)
        any |= has(segs, n, next_term(v->terms, &pos));
    if (!any)
        return 0;
    for (unsigned k = 0; k < v->n_all; k++)
        if (!has(segs, n, next_term(v->terms, &pos)))
            return 0;
    for (unsigned k = 0; k < v->n_none; k++)
        if (has(segs, n, next_term(v->terms, &pos)))
            return 0;
    return 1;
}

static int audience_variant(const hub_plan *p, const hub_slice *segs, size_t n)
{
    for (size_t i = 1; i < p->nvariants; i++)
        if (hub_experiment_audience_match(p, i, segs, n))
            return (int)i;
    return -1;
}

int hub_segments_split(const char *list, hub_slice *out, size_t max)
{
    size_t n = 0;
    const char *s = list;
    while (s != NULL && *s != '\0') {
        const char *comma = strchr(s, ',');
        size_t len = comma != NULL ? (size_t)(comma - s) : strlen(s);
        if (len > 0) {
            if (n == max)
                return -1;
            out[n++] = (hub_slice){s, len};
        }
        s = comma != NULL ? comma + 1 : NULL;
    }
    return (int)n;
}

size_t hub_segments_from_json(const json_t *list, hub_slice *out, size_t max)
{
    size_t i, n = 0;
    json_t *s;
    json_array_foreach(list, i, s)
    {
        if (json_is_string(s) && n < max)
            out[n++] = (hub_slice){json_string_value(s), json_string_length(s)};
    }
    return n;
}

/* ---- assignment records ---------------------------------------------------------------- */

static size_t akey(char out[AKEY_MAX], hub_slice key, hub_slice subject)
{
    if (key.len + 1 + subject.len > AKEY_MAX)
        return 0;
    memcpy(out, key.base, key.len);
    out[key.len] = '\0';
    memcpy(out + key.len + 1, subject.base, subject.len);
    return key.len + 1 + subject.len;
}

int hub_assignment_get(hub_txn *txn, hub_slice key, hub_slice subject, hub_assignment *out)
{
    char k[AKEY_MAX];
    hub_slice v;
    size_t kl = akey(k, key, subject);
    if (kl == 0)
        return HUB_ENOTFOUND;
    int rc = hub_txn_get(txn, HUB_DB_ASSIGNMENTS, (hub_slice){k, kl}, &v);
    if (rc != 0)
        return rc;
    const unsigned char *p = (const unsigned char *)v.base;
    if (v.len < 12 || p[0] != 'A')
        return HUB_EIO;
    size_t vl = p[10];
    if (v.len < 12 + vl || v.len != 12 + vl + p[11 + vl])
        return HUB_EIO;
    out->flags = p[1];
    out->first_ms = (int64_t)hub_be64_get(p + 2);
    out->variant = (hub_slice){v.base + 11, vl};
    out->channel = (hub_slice){v.base + 12 + vl, p[11 + vl]};
    return 0;
}

int hub_assignment_put(hub_txn *txn, hub_slice key, hub_slice subject, const hub_assignment *a)
{
    char k[AKEY_MAX];
    unsigned char v[12 + 2 * 255];
    size_t kl = akey(k, key, subject);
    if (kl == 0 || a->variant.len > 255 || a->channel.len > 255)
        return HUB_EINVAL;
    v[0] = 'A';
    v[1] = (unsigned char)a->flags;
    hub_be64_put(v + 2, (uint64_t)a->first_ms);
    v[10] = (unsigned char)a->variant.len;
    memcpy(v + 11, a->variant.base, a->variant.len);
    v[11 + a->variant.len] = (unsigned char)a->channel.len;
    memcpy(v + 12 + a->variant.len, a->channel.base, a->channel.len);
    return hub_txn_put(txn, HUB_DB_ASSIGNMENTS, (hub_slice){k, kl},
                       (hub_slice){(char *)v, 12 + a->variant.len + a->channel.len});
}

int hub_assignment_drop_item(hub_txn *txn, hub_slice key)
{
    char k[AKEY_MAX];
    if (key.len + 1 > AKEY_MAX)
        return HUB_EINVAL;
    memcpy(k, key.base, key.len);
    k[key.len] = '\0';
    return hub_txn_del_prefix(txn, HUB_DB_ASSIGNMENTS, (hub_slice){k, key.len + 1});
}

/* ---- bandit weights -------------------------------------------------------------------- */

void hub_bandit_equal(const hub_plan *p, double *weights)
{
    for (size_t i = 0; i < p->nvariants; i++)
        weights[i] = p->v[i].audience ? 0.0 : 1.0;
}

int hub_bandit_get(hub_txn *txn, hub_slice key, const hub_plan *p, double *weights,
                   int64_t *updated_ms)
{
    hub_slice v;
    int rc = hub_txn_get(txn, HUB_DB_BANDIT, key, &v);
    if (rc != 0)
        return rc;
    const unsigned char *b = (const unsigned char *)v.base;
    if (v.len < 11 || b[0] != 'B' || b[1] != 1)
        return HUB_EIO;
    size_t n = b[10], pos = 11, covered = 0;
    for (size_t i = 0; i < p->nvariants; i++)
        weights[i] = 0;
    for (size_t k = 0; k < n; k++) {
        if (v.len - pos < 1 || v.len - pos - 1 < (size_t)b[pos] + 8)
            return HUB_EIO;
        hub_slice id = {v.base + pos + 1, b[pos]};
        uint64_t bits = hub_be64_get(b + pos + 1 + id.len);
        int i = hub_plan_find(p, id);
        if (i >= 0 && !p->v[i].audience) {
            memcpy(&weights[i], &bits, 8);
            covered++;
        }
        pos += 1 + id.len + 8;
    }
    size_t eligible = 0;
    for (size_t i = 0; i < p->nvariants; i++)
        eligible += !p->v[i].audience;
    if (covered != eligible)
        return HUB_ENOTFOUND;
    if (updated_ms != NULL)
        *updated_ms = (int64_t)hub_be64_get(b + 2);
    return 0;
}

int hub_bandit_put(hub_txn *txn, hub_slice key, const hub_plan *p, const double *weights,
                   int64_t now_ms)
{
    unsigned char buf[11 + HUB_PLAN_VARIANTS_MAX * (1 + 255 + 8)];
    size_t pos = 11, n = 0;
    buf[0] = 'B';
    buf[1] = 1;
    hub_be64_put(buf + 2, (uint64_t)now_ms);
    for (size_t i = 0; i < p->nvariants; i++) {
        uint64_t bits;
        if (p->v[i].audience)
            continue;
        buf[pos] = (unsigned char)p->v[i].id.len;
        memcpy(buf + pos + 1, p->v[i].id.base, p->v[i].id.len);
        memcpy(&bits, &weights[i], 8);
        hub_be64_put(buf + pos + 1 + p->v[i].id.len, bits);
        pos += 1 + p->v[i].id.len + 8;
        n++;
    }
    buf[10] = (unsigned char)n;
    return hub_txn_put(txn, HUB_DB_BANDIT, key, (hub_slice){(char *)buf, pos});
}

int hub_bandit_drop(hub_txn *txn, hub_slice key)
{
    int rc = hub_txn_del(txn, HUB_DB_BANDIT, key);
    return rc == HUB_ENOTFOUND ? 0 : rc;
}

/* ---- the decision ---------------------------------------------------------------------- */

hub_slice hub_decision_variant(const hub_plan *p, const hub_decision *d)
{
    return d->variant >= 0 ? p->v[d->variant].id : (hub_slice){"", 0};
}

const char *hub_reason_name(hub_reason r)
{
    static const char *const names[] = {"requested", "no_subject", "paused", "concluded", "holdout",
                                        "audience",  "sticky",     "weight", "bandit"};
    return (unsigned)r < sizeof(names) / sizeof(names[0]) ? names[r] : "unknown";
}

static int decided(hub_decision *out, int variant, hub_reason reason)
{
    out->variant = variant;
    out->reason = reason;
    return 0;
}

/* Step 4: by bucket (holdout, audience, weights). */
static int by_bucket(hub_txn *txn, const hub_plan *p, hub_slice key, const hub_slice *segs,
                     size_t nsegs, hub_decision *out)
{
    double w[HUB_PLAN_VARIANTS_MAX];
    if ((unsigned)out->bucket < p->holdout_bp) {
        out->store = 1;
        return decided(out, -1, HUB_REASON_HOLDOUT);
    }
    int a = audience_variant(p, segs, nsegs);
    if (a >= 0)
        return decided(out, a, HUB_REASON_AUDIENCE);
    out->store = 1;
    if (p->allocation == HUB_ALLOC_BANDIT) {
        int rc = hub_bandit_get(txn, key, p, w, NULL);
        if (rc == HUB_ENOTFOUND)
            hub_bandit_equal(p, w);
        else if (rc != 0)
            return rc;
        return decided(out, hub_experiment_pick(p, w, (unsigned)out->bucket), HUB_REASON_BANDIT);
    }
    return decided(out, hub_experiment_pick(p, NULL, (unsigned)out->bucket), HUB_REASON_WEIGHT);
}

int hub_experiment_decide(hub_txn *txn, const hub_plan *p, hub_slice key, hub_slice subject,
                          const hub_slice *segs, size_t nsegs, hub_decision *out)
{
    memset(out, 0, sizeof(*out));
    out->bucket = -1;
    if (subject.len > HUB_SUBJECT_MAX || memchr(subject.base, '\0', subject.len) != NULL)
        return HUB_EINVAL;
    if (p->status != HUB_EXP_RUNNING || subject.len == 0) {
        int a = audience_variant(p, segs, nsegs);
        if (a >= 0)
            return decided(out, a, HUB_REASON_AUDIENCE);
        if (p->status == HUB_EXP_PAUSED)
            return decided(out, 0, HUB_REASON_PAUSED);
        if (p->status == HUB_EXP_CONCLUDED)
            return decided(out, p->winner >= 0 ? p->winner : 0, HUB_REASON_CONCLUDED);
        return decided(out, 0, HUB_REASON_NO_SUBJECT);
    }
    unsigned bucket;
    int rc = hub_experiment_bucket(key, p->seed, subject, &bucket);
    if (rc != 0)
        return rc;
    out->bucket = (int)bucket;
    rc = hub_assignment_get(txn, key, subject, &out->rec);
    if (rc != 0 && rc != HUB_ENOTFOUND)
        return rc;
    out->stored = rc == 0;
    if (out->stored && (out->rec.flags & HUB_ASSIGN_STICKY)) {
        if (out->rec.flags & HUB_ASSIGN_HOLDOUT)
            return decided(out, -1, HUB_REASON_HOLDOUT);
        int a = audience_variant(p, segs, nsegs);
        if (a >= 0)
            return decided(out, a, HUB_REASON_AUDIENCE);
        int i = hub_plan_find(p, out->rec.variant);
        if (i >= 0 && !p->v[i].audience)
            return decided(out, i, HUB_REASON_STICKY);
        /* its variant was removed, or became a targeted one the recipient does not match:
         * assign anew */
    }
    return by_bucket(txn, p, key, segs, nsegs, out);
}
