/*
 * libFuzzer target for experiment plans, the bytes an item's head carries: arbitrary bytes
 * are decoded; a plan that decodes is used as the hot path would use it (a bucket mapped to
 * a variant for its own weights and for equal weights, every variant's audience matched
 * against segments cut from the input, the JSON view built). The second half of the input
 * is also taken as an item document and compiled into a plan, which must decode.
 * Invariants: no crash, no read outside the input; a picked variant is an index of the plan
 * without an audience; an encoded plan decodes to the same variant count.
 */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "experiment/experiment.h"

static void use_plan(const hub_plan *p, const uint8_t *data, size_t size)
{
    hub_slice segs[4];
    double w[HUB_PLAN_VARIANTS_MAX];
    size_t n = 0;
    for (size_t i = 0; i + 4 <= size && n < 4; i += size / 4 + 1)
        segs[n++] = (hub_slice){(const char *)data + i, 4};
    unsigned bucket = 0;
    int rc = hub_experiment_bucket((hub_slice){(const char *)data, size / 2}, p->seed,
                                   (hub_slice){"s", 1}, &bucket);
    assert(rc == 0 && bucket < HUB_BUCKETS);
    if (bucket >= p->holdout_bp) {
        int v = hub_experiment_pick(p, NULL, bucket);
        assert(v < (int)p->nvariants && (v < 0 || !p->v[v].audience));
        hub_bandit_equal(p, w);
        v = hub_experiment_pick(p, w, bucket);
        assert(v < (int)p->nvariants && (v < 0 || !p->v[v].audience));
    }
    for (size_t i = 0; i < p->nvariants; i++)
        (void)hub_experiment_audience_match(p, i, segs, n);
    json_decref(hub_plan_json(p));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hub_plan p;
    if (hub_plan_decode((hub_slice){(const char *)data, size}, &p) == 0)
        use_plan(&p, data, size);
    json_t *item = json_loadb((const char *)data + size / 2, size - size / 2, 0, NULL);
    hub_buf b;
    hub_buf_init(&b, 1u << 20);
    if (item != NULL && json_is_object(item) && hub_plan_encode(item, &b) == 0) {
        hub_plan q;
        int rc = hub_plan_decode((hub_slice){b.data, b.len}, &q);
        assert(rc == 0); /* what encoding accepts, decoding reads back */
        assert(q.nvariants == json_array_size(json_object_get(item, "variants")));
    }
    hub_buf_free(&b);
    json_decref(item);
    return 0;
}
