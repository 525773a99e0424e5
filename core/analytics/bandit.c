/*
 * analytics/bandit.c: re-weighting the bandit items. Every item with allocation "bandit"
 * keeps a weights record (HUB_DB_BANDIT, written at publish); on each tick of the scheduler
 * the running ones get new weights by Thompson sampling on their exposures and conversions
 * (all retained days), with a floor per arm. New subjects are assigned by these weights;
 * assigned subjects keep their variant (sticky).
 */
#include "analytics/internal.h"
#include "analytics/stats.h"

#include <string.h>

#define BANDIT_DRAWS 10000

/* Exposures and conversions per plan variant from the item's counters. */
static int arm_counts(hub_txn *txn, hub_slice key, const hub_plan *p, uint64_t *n, uint64_t *c)
{
    hub_cursor *cur;
    hub_slice k, v, item, variant, channel;
    hub_counts cnt;
    uint32_t day;
    char prefix[HUB_ITEM_KEY_MAX + 1];
    memcpy(prefix, key.base, key.len);
    prefix[key.len] = '\0';
    for (size_t i = 0; i < p->nvariants; i++)
        n[i] = c[i] = 0;
    int rc = hub_cursor_open(txn, HUB_DB_COUNTERS, &cur);
    if (rc != 0)
        return rc;
    rc = hub_cursor_seek(cur, (hub_slice){prefix, key.len + 1}, &k, &v);
    while (rc == 0 && k.len > key.len + 1 && memcmp(k.base, prefix, key.len + 1) == 0) {
        if (hub_counter_key_split(k, &item, &variant, &channel, &day) == 0 &&
            hub_counts_decode(v, &cnt) == 0) {
            int i = hub_plan_find(p, variant);
            if (i >= 0) {
                n[i] += cnt.n[HUB_CTR_EXPOSURES];
                c[i] += cnt.n[HUB_CTR_CONVERSIONS];
            }
        }
        rc = hub_cursor_next(cur, &k, &v);
    }
    hub_cursor_close(cur);
    return rc == HUB_ENOTFOUND ? 0 : rc;
}

/* New weights for one item (its eligible arms); the others keep 0. */
static int reweight_one(hub_txn *txn, hub_slice key, const hub_plan *p, double floor_share,
                        int64_t now_ms)
{
    uint64_t n[HUB_PLAN_VARIANTS_MAX], c[HUB_PLAN_VARIANTS_MAX];
    uint64_t an[HUB_PLAN_VARIANTS_MAX], ac[HUB_PLAN_VARIANTS_MAX];
    double share[HUB_PLAN_VARIANTS_MAX], w[HUB_PLAN_VARIANTS_MAX];
    size_t k = 0, idx[HUB_PLAN_VARIANTS_MAX];
    int rc = arm_counts(txn, key, p, n, c);
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < p->nvariants; i++) {
        w[i] = 0;
        if (p->v[i].audience)
            continue;
        an[k] = n[i];
        ac[k] = c[i];
        idx[k++] = i;
    }
    if (k == 0)
        return 0;
    if (floor_share * (double)k > 1)
        floor_share = 1.0 / (double)k;
    uint64_t seed = (uint64_t)now_ms ^ ((uint64_t)key.len << 32);
    for (size_t i = 0; i < key.len; i++)
        seed = seed * 1099511628211ULL ^ (unsigned char)key.base[i];
    rc = hub_bandit_weights(an, ac, k, floor_share, BANDIT_DRAWS, seed, share);
    if (rc != 0)
        return rc;
    for (size_t j = 0; j < k; j++)
        w[idx[j]] = share[j];
    return hub_bandit_put(txn, key, p, w, now_ms);
}

int hub_analytics_reweight(hub_txn *txn, const hub_analytics_config *cfg, int64_t now_ms,
                           size_t *count)
{
    hub_cursor *c;
    hub_slice k, v;
    char keys[64][HUB_ITEM_KEY_MAX + 1];
    size_t n = 0, done = 0;
    char after[HUB_ITEM_KEY_MAX + 2] = "";
    size_t after_len = 0;
    int rc = 0;
    *count = 0;
    /* Collect keys in slices of 64 first: writing would invalidate the cursor's keys. */
    do {
        n = 0;
        rc = hub_cursor_open(txn, HUB_DB_BANDIT, &c);
        if (rc != 0)
            return rc;
        rc = hub_cursor_seek(c, (hub_slice){after, after_len}, &k, &v);
        while (rc == 0 && n < 64) {
            if (k.len <= HUB_ITEM_KEY_MAX &&
                !(k.len == after_len && memcmp(k.base, after, after_len) == 0)) {
                memcpy(keys[n], k.base, k.len);
                keys[n++][k.len] = '\0';
            }
            rc = hub_cursor_next(c, &k, &v);
        }
        hub_cursor_close(c);
        if (rc != 0 && rc != HUB_ENOTFOUND)
            return rc;
        for (size_t i = 0; i < n; i++) {
            hub_plan p;
            hub_buf scratch;
            hub_buf_init(&scratch, 1u << 20);
            int r = hub_content_plan(txn, hub_slice_cstr(keys[i]), 0, &scratch, &p, NULL);
            if (r == 0 && p.status == HUB_EXP_RUNNING && p.allocation == HUB_ALLOC_BANDIT) {
                r = reweight_one(txn, hub_slice_cstr(keys[i]), &p,
                                 cfg->bandit_floor_percent / 100.0, now_ms);
                done += r == 0;
            }
            hub_buf_free(&scratch);
            if (r != 0 && r != HUB_ENOTFOUND && r != HUB_EIO)
                return r;
        }
        if (n > 0) {
            after_len = strlen(keys[n - 1]);
            memcpy(after, keys[n - 1], after_len + 1);
        }
    } while (n == 64);
    *count = done;
    return 0;
}
