/*
 * Unit tests for core/delivery/policy: the retry schedule (ceilings, jitter, Retry-After, the
 * give-up deadline, the generator) and the circuit breakers (opening, probes, backoff, lost
 * probes, the bound on endpoints, several threads at once). Every clock is a parameter.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "delivery/policy.h"
#include "test.h"

#define T0 INT64_C(1767225600000) /* 2026-01-01T00:00:00Z */

/* ---- retry schedule -------------------------------------------------------------------- */

static void test_defaults_and_check(void)
{
    hub_retry_policy p;
    char err[200];
    hub_retry_policy_default(&p);
    CHECK(p.base_ms == 30000 && p.max_ms == 900000 && p.give_up_after_ms == 86400000);
    memcpy(err, "junk", 5);
    CHECK(hub_retry_policy_check(&p, err, sizeof(err)) == 0);
    CHECK_STR(err, "");

    p.base_ms = 0;
    CHECK(hub_retry_policy_check(&p, err, sizeof(err)) == HUB_EINVAL);
    CHECK_STR(err, "delivery.retry.base_ms must be at least 1 (got 0)");
    p.base_ms = -30;
    CHECK(hub_retry_policy_check(&p, err, sizeof(err)) == HUB_EINVAL);
    CHECK(strstr(err, "delivery.retry.base_ms") != NULL);

    hub_retry_policy_default(&p);
    p.max_ms = 29999;
    CHECK(hub_retry_policy_check(&p, err, sizeof(err)) == HUB_EINVAL);
    CHECK(strncmp(err, "delivery.retry.max_ms ", 22) == 0);
    CHECK(strstr(err, "29999 < 30000") != NULL);
    p.max_ms = 30000; /* equal is fine: no growth */
    CHECK(hub_retry_policy_check(&p, err, sizeof(err)) == 0);

    hub_retry_policy_default(&p);
    p.give_up_after_ms = -1;
    CHECK(hub_retry_policy_check(&p, err, sizeof(err)) == HUB_EINVAL);
    CHECK(strncmp(err, "delivery.retry.give_up_after_ms ", 32) == 0);
    p.give_up_after_ms = 0;
    CHECK(hub_retry_policy_check(&p, err, sizeof(err)) == 0);

    /* One line, truncated to the cap, NUL-terminated; no buffer at all is fine too. */
    p.base_ms = 0;
    char small[10];
    CHECK(hub_retry_policy_check(&p, small, sizeof(small)) == HUB_EINVAL);
    CHECK_STR(small, "delivery.");
    CHECK(strchr(err, '\n') == NULL);
    CHECK(hub_retry_policy_check(&p, NULL, 0) == HUB_EINVAL);
    CHECK(hub_retry_policy_check(NULL, err, sizeof(err)) == HUB_EINVAL);
    CHECK(strncmp(err, "delivery.retry", 14) == 0);
    hub_retry_policy_default(NULL); /* no crash */
}

static void test_rand(void)
{
    /* splitmix64 reference outputs (seed 0, and the common seed 1234567). */
    uint64_t s = 0;
    CHECK(hub_retry_rand(&s) == UINT64_C(0xe220a8397b1dcdaf));
    CHECK(hub_retry_rand(&s) == UINT64_C(0x6e789e6aa1b965f4));
    s = 1234567;
    CHECK(hub_retry_rand(&s) == UINT64_C(6457827717110365317));
    CHECK(hub_retry_rand(&s) == UINT64_C(3203168211198807973));
    CHECK(hub_retry_rand(&s) == UINT64_C(9817491932198370423));
    CHECK(hub_retry_rand(NULL) == 0);

    /* The same seed gives the same schedule; another seed another one. */
    hub_retry_policy p;
    hub_retry_policy_default(&p);
    uint64_t a = 42, b = 42, c = 43;
    int same = 1, differ = 0;
    for (uint32_t i = 1; i <= 1000; i++) {
        uint32_t attempt = i % 9 + 1;
        int64_t x = hub_retry_next(&p, attempt, T0, T0, 0, &a);
        int64_t y = hub_retry_next(&p, attempt, T0, T0, 0, &b);
        int64_t z = hub_retry_next(&p, attempt, T0, T0, 0, &c);
        same &= x == y;
        differ += x != z;
    }
    CHECK(same);
    CHECK(a == b);
    CHECK(differ > 990);
}

static void test_ceiling_table(void)
{
    static const struct {
        int64_t base, max;
        uint32_t attempt;
        int64_t ceiling;
    } cases[] = {
        {30000, 900000, 0, 30000}, /* attempt 0 counts as 1 */
        {30000, 900000, 1, 30000},
        {30000, 900000, 2, 60000},
        {30000, 900000, 3, 120000},
        {30000, 900000, 4, 240000},
        {30000, 900000, 5, 480000},
        {30000, 900000, 6, 900000}, /* 960000 capped */
        {30000, 900000, 7, 900000},
        {30000, 900000, 64, 900000},
        {30000, 900000, 65, 900000},
        {30000, 900000, UINT32_MAX, 900000},
        {3, 100, 6, 96},
        {3, 100, 7, 100},
        {1, INT64_MAX, 63, INT64_C(1) << 62},
        {1, INT64_MAX, 64, INT64_MAX}, /* 2^63 does not fit */
        {1000, INT64_MAX, 63, INT64_MAX},
        {(INT64_C(1) << 62), INT64_MAX, 2, INT64_MAX},
        {1000, INT64_MAX, UINT32_MAX, INT64_MAX},
        {0, 0, 1, 1},       /* refused by the check; clamped, never 0 */
        {-5, -9, 40, 1},    /* same */
        {500, 100, 3, 500}, /* max below base: base wins */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        hub_retry_policy p = {cases[i].base, cases[i].max, 86400000};
        int64_t got = hub_retry_ceiling(&p, cases[i].attempt);
        if (got != cases[i].ceiling)
            fprintf(stderr, "case %zu: ceiling %" PRId64 ", want %" PRId64 "\n", i, got,
                    cases[i].ceiling);
        CHECK(got == cases[i].ceiling);
    }
    CHECK(hub_retry_ceiling(NULL, 2) == 60000); /* defaults */
}

/* Draws n delays with attempt k and checks they fill [0, ceiling] evenly. */
static void check_spread(const hub_retry_policy *p, uint32_t attempt, int64_t ceiling, int64_t now,
                         uint64_t seed)
{
    const int n = 20000;
    uint64_t rng = seed;
    int64_t lo = INT64_MAX, hi = -1;
    double sum = 0;
    int out_of_range = 0;
    for (int i = 0; i < n; i++) {
        int64_t next = hub_retry_next(p, attempt, now, now, 0, &rng);
        int64_t d = next - now;
        if (next < 0 || d < 0 || d > ceiling)
            out_of_range++;
        lo = d < lo ? d : lo;
        hi = d > hi ? d : hi;
        sum += (double)d;
    }
    double c = (double)ceiling, mean = sum / n;
    if (out_of_range != 0 || (double)hi < 0.99 * c || (double)lo > 0.01 * c || mean < 0.48 * c ||
        mean > 0.52 * c)
        fprintf(stderr,
                "attempt %" PRIu32 ": ceiling %" PRId64 " lo %" PRId64 " hi %" PRId64
                " mean %.0f out %d\n",
                attempt, ceiling, lo, hi, mean, out_of_range);
    CHECK(out_of_range == 0);
    CHECK((double)hi >= 0.99 * c); /* full range: reaches the ceiling */
    CHECK((double)lo <= 0.01 * c); /* full jitter: reaches down to 0, not ceiling/2 */
    CHECK(mean >= 0.48 * c && mean <= 0.52 * c);
}

static void test_jitter_spread(void)
{
    hub_retry_policy p;
    hub_retry_policy_default(&p);
    static const struct {
        uint32_t attempt;
        int64_t ceiling;
    } cases[] = {{1, 30000},  {2, 60000},  {3, 120000},    {4, 240000},
                 {5, 480000}, {6, 900000}, {1000, 900000}, {UINT32_MAX, 900000}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        check_spread(&p, cases[i].attempt, cases[i].ceiling, T0, 7 + i);

    /* The widest range there is: [0, INT64_MAX], from time 0 with no deadline to speak of. */
    hub_retry_policy wide = {1, INT64_MAX, INT64_MAX};
    check_spread(&wide, UINT32_MAX, INT64_MAX, 0, 99);

    /* Both ends are included, evenly: base = max = 3 gives 0, 1, 2, 3 a quarter each. */
    hub_retry_policy three = {3, 3, 86400000};
    int counts[5] = {0};
    uint64_t rng = 5;
    for (int i = 0; i < 8000; i++) {
        int64_t d = hub_retry_next(&three, 1, T0, T0, 0, &rng) - T0;
        counts[d >= 0 && d <= 3 ? d : 4]++;
    }
    CHECK(counts[4] == 0);
    for (int v = 0; v < 4; v++)
        CHECK(counts[v] > 1800 && counts[v] < 2200);

    /* Pinned draws: seed 1234567, [0, 1000]: the generator's outputs mod 1001. */
    hub_retry_policy k = {1000, 1000, 86400000};
    rng = 1234567;
    CHECK(hub_retry_next(&k, 1, T0, T0, 0, &rng) == T0 + 722);
    CHECK(hub_retry_next(&k, 1, T0, T0, 0, &rng) == T0 + 121);
    CHECK(hub_retry_next(&k, 1, T0, T0, 0, &rng) == T0 + 3);

    /* Attempt 0 is attempt 1; no generator means no jitter (the ceiling). */
    uint64_t r1 = 11, r2 = 11;
    CHECK(hub_retry_next(&p, 0, T0, T0, 0, &r1) == hub_retry_next(&p, 1, T0, T0, 0, &r2));
    CHECK(hub_retry_next(&p, 3, T0, T0 + 5, 0, NULL) == T0 + 5 + 120000);
    CHECK(hub_retry_next(NULL, 1, T0, T0, 0, NULL) == T0 + 30000);
}

static void test_retry_after(void)
{
    hub_retry_policy p = {1000, 1000, 86400000};
    uint64_t rng = 3;
    int exact = 1;
    for (int i = 0; i < 200; i++)
        exact &= hub_retry_next(&p, 1, T0, T0, 5000, &rng) == T0 + 5000;
    CHECK(exact); /* above the ceiling: the Retry-After itself */

    /* Inside the range it is a floor: draws under 500 become 500, the others stay. */
    int below = 0, at = 0, above = 0;
    for (int i = 0; i < 2000; i++) {
        int64_t d = hub_retry_next(&p, 1, T0, T0, 500, &rng) - T0;
        below += d < 500 || d > 1000;
        at += d == 500;
        above += d > 500 && d <= 1000;
    }
    CHECK(below == 0);
    CHECK(at > 800 && at < 1200); /* about half the draws */
    CHECK(above > 800 && above < 1200);

    /* Zero or negative: no Retry-After, the same draws as without. */
    uint64_t a = 21, b = 21;
    int same = 1;
    for (int i = 0; i < 100; i++)
        same &= hub_retry_next(&p, 1, T0, T0, -5, &a) == hub_retry_next(&p, 1, T0, T0, 0, &b);
    CHECK(same);
}

static void test_deadline(void)
{
    /* base = max = 1 and Retry-After >= 2: the delay is exactly the Retry-After. */
    hub_retry_policy p = {1, 1, 60000};
    uint64_t rng = 1;
    int64_t now = T0 + 10000;
    CHECK(hub_retry_next(&p, 4, T0, now, 50000, &rng) == T0 + 60000); /* exactly at: allowed */
    CHECK(hub_retry_next(&p, 4, T0, now, 50001, &rng) == -1);         /* 1 ms past: dead */
    CHECK(hub_retry_next(&p, 4, T0, now, INT64_MAX, &rng) == -1);     /* no overflow */

    /* Without jitter (no generator) the delay is the ceiling, 1 ms here. */
    CHECK(hub_retry_next(&p, 1, T0, T0 + 59999, 0, NULL) == T0 + 60000);
    CHECK(hub_retry_next(&p, 1, T0, T0 + 60000, 0, NULL) == -1);
    CHECK(hub_retry_next(&p, 1, T0, T0 + 60001, 0, &rng) == -1); /* already past */

    /* The jittered draw counts too: [0, 30000] from 20000 before the deadline is dead
     * exactly when the draw exceeds 20000. */
    hub_retry_policy q = {30000, 30000, 60000};
    int dead = 0, alive = 0, wrong = 0;
    for (int i = 0; i < 3000; i++) {
        uint64_t before = rng;
        int64_t next = hub_retry_next(&q, 1, T0, T0 + 40000, 0, &rng);
        uint64_t again = before;
        int64_t d = hub_retry_next(&q, 1, T0, 0, 0, &again); /* the same draw, no deadline near */
        if (next == -1) {
            dead++;
            wrong += d <= 20000;
        } else {
            alive++;
            wrong += next != T0 + 40000 + d;
        }
    }
    CHECK(wrong == 0);
    CHECK(dead > 700 && dead < 1300); /* 1/3 of the draws */
    CHECK(alive > 1700 && alive < 2300);

    /* give_up 0: only an attempt at the very first instant would do. */
    hub_retry_policy z = {1, 1, 0};
    CHECK(hub_retry_next(&z, 1, T0, T0, 0, NULL) == -1);
    z.give_up_after_ms = -7; /* refused by the check; counts as 0 */
    CHECK(hub_retry_next(&z, 1, T0, T0, 0, NULL) == -1);

    /* Times near the end of int64_t saturate instead of overflowing. */
    hub_retry_policy d;
    hub_retry_policy_default(&d);
    int64_t late = INT64_MAX - 1000;
    int64_t r = hub_retry_next(&d, UINT32_MAX, late, late, 0, &rng);
    CHECK(r == -1 || r >= late);
    d.give_up_after_ms = 100;
    CHECK(hub_retry_next(&d, 1, late, late, 0, NULL) == -1);
}

/* ---- circuit breakers ------------------------------------------------------------------ */

static const char *SMTP = "smtp://127.0.0.1:2525";
static const char *HTTP = "http://127.0.0.1:9000";

static void test_breaker_new_and_bad_input(void)
{
    static char not_null;
    hub_breakers *b = (hub_breakers *)(void *)&not_null; /* to see that a refusal clears it */
    CHECK(hub_breakers_new(0, 1000, 2000, &b) == HUB_EINVAL && b == NULL);
    CHECK(hub_breakers_new(5, 0, 2000, &b) == HUB_EINVAL && b == NULL);
    CHECK(hub_breakers_new(5, 1000, 999, &b) == HUB_EINVAL && b == NULL);
    CHECK(hub_breakers_new(5, 1000, 2000, NULL) == HUB_EINVAL);
    REQUIRE(hub_breakers_new(5, 1000, 1000, &b) == 0 && b != NULL);

    CHECK(hub_breaker_admit(NULL, SMTP, T0) == 0);
    CHECK(hub_breaker_admit(b, NULL, T0) == 0);
    hub_breaker_report(NULL, SMTP, HUB_BREAKER_TRANSIENT, T0);
    hub_breaker_report(b, NULL, HUB_BREAKER_TRANSIENT, T0);
    for (int i = 0; i < 10; i++)
        hub_breaker_report(b, SMTP, 7, T0); /* unknown outcome: ignored */
    CHECK(hub_breakers_tracked(b) == 0);
    CHECK_STR(hub_breaker_state(b, SMTP, T0), "closed");
    CHECK_STR(hub_breaker_state(b, "never seen", T0), "closed");
    CHECK_STR(hub_breaker_state(NULL, SMTP, T0), "closed");
    CHECK_STR(hub_breaker_state(b, NULL, T0), "closed");
    CHECK(hub_breakers_open_count(NULL, T0) == 0);
    CHECK(hub_breakers_tracked(NULL) == 0);

    /* Success on an endpoint never seen leaves nothing behind. */
    hub_breaker_report(b, HTTP, HUB_BREAKER_OK, T0);
    hub_breaker_report(b, HTTP, HUB_BREAKER_PERMANENT, T0);
    CHECK(hub_breakers_tracked(b) == 0);

    /* A clock before the epoch still never answers 0 ("go ahead") while open. */
    hub_breakers *c = NULL;
    REQUIRE(hub_breakers_new(1, 1000, 1000, &c) == 0);
    hub_breaker_report(c, SMTP, HUB_BREAKER_TRANSIENT, -5000); /* open until -4000 */
    CHECK(hub_breaker_admit(c, SMTP, -4500) == 1);
    hub_breakers_free(c);
    hub_breakers_free(b);
    hub_breakers_free(NULL);
}

static void test_breaker_opens_at_threshold(void)
{
    hub_breakers *b = NULL;
    REQUIRE(hub_breakers_new(5, 30000, 240000, &b) == 0);
    for (int i = 0; i < 4; i++) {
        CHECK(hub_breaker_admit(b, SMTP, T0 + i) == 0);
        hub_breaker_report(b, SMTP, HUB_BREAKER_TRANSIENT, T0 + i);
    }
    CHECK(hub_breaker_admit(b, SMTP, T0 + 10) == 0); /* 4 of 5: still closed */
    CHECK_STR(hub_breaker_state(b, SMTP, T0 + 10), "closed");
    CHECK(hub_breakers_open_count(b, T0 + 10) == 0);
    CHECK(hub_breakers_tracked(b) == 1);

    hub_breaker_report(b, SMTP, HUB_BREAKER_TRANSIENT, T0 + 100); /* the 5th */
    CHECK_STR(hub_breaker_state(b, SMTP, T0 + 101), "open");
    CHECK(hub_breakers_open_count(b, T0 + 101) == 1);
    CHECK(hub_breaker_admit(b, SMTP, T0 + 101) == T0 + 100 + 30000);
    CHECK(hub_breaker_admit(b, SMTP, T0 + 30099) == T0 + 30100); /* 1 ms before */
    CHECK(hub_breaker_admit(b, HTTP, T0 + 101) == 0);            /* other endpoints unaffected */
    CHECK_STR(hub_breaker_state(b, HTTP, T0 + 101), "closed");

    /* The open time is over: half-open, no longer counted as open, before any probe. */
    CHECK_STR(hub_breaker_state(b, SMTP, T0 + 30100), "half-open");
    CHECK(hub_breakers_open_count(b, T0 + 30100) == 0);
    CHECK(hub_breakers_open_count(b, T0 + 30099) == 1);
    hub_breakers_free(b);
}

static void test_breaker_success_resets(void)
{
    hub_breakers *b = NULL;
    REQUIRE(hub_breakers_new(5, 30000, 240000, &b) == 0);
    for (int i = 0; i < 4; i++)
        hub_breaker_report(b, SMTP, HUB_BREAKER_TRANSIENT, T0);
    hub_breaker_report(b, SMTP, HUB_BREAKER_OK, T0);
    CHECK(hub_breakers_tracked(b) == 0);
    for (int i = 0; i < 4; i++)
        hub_breaker_report(b, SMTP, HUB_BREAKER_TRANSIENT, T0);
    CHECK_STR(hub_breaker_state(b, SMTP, T0), "closed"); /* 4 since the OK, not 8 */
    hub_breaker_report(b, SMTP, HUB_BREAKER_TRANSIENT, T0);
    CHECK_STR(hub_breaker_state(b, SMTP, T0), "open");

    /* PERMANENT: the far side answered; it resets like OK and never opens. */
    for (int i = 0; i < 4; i++)
        hub_breaker_report(b, HTTP, HUB_BREAKER_TRANSIENT, T0);
    hub_breaker_report(b, HTTP, HUB_BREAKER_PERMANENT, T0);
    for (int i = 0; i < 4; i++)
        hub_breaker_report(b, HTTP, HUB_BREAKER_TRANSIENT, T0);
    CHECK_STR(hub_breaker_state(b, HTTP, T0), "closed");
    hub_breaker_report(b, HTTP, HUB_BREAKER_OK, T0);
    for (int i = 0; i < 50; i++)
        hub_breaker_report(b, HTTP, HUB_BREAKER_PERMANENT, T0);
    CHECK_STR(hub_breaker_state(b, HTTP, T0), "closed");
    CHECK(hub_breaker_admit(b, HTTP, T0) == 0);
    CHECK(hub_breakers_open_count(b, T0) == 1); /* SMTP only */
    hub_breakers_free(b);
}

static void test_breaker_one_probe(void)
{
    hub_breakers *b = NULL;
    REQUIRE(hub_breakers_new(3, 1000, 5000, &b) == 0);
    for (int i = 0; i < 3; i++)
        hub_breaker_report(b, SMTP, HUB_BREAKER_TRANSIENT, T0);
    CHECK(hub_breaker_admit(b, SMTP, T0 + 999) == T0 + 1000);
    CHECK(hub_breaker_admit(b, SMTP, T0 + 1000) == 0); /* the probe */
    CHECK(hub_breaker_admit(b, SMTP, T0 + 1000) == T0 + 2000);
    CHECK(hub_breaker_admit(b, SMTP, T0 + 1500) == T0 + 2000);
    CHECK_STR(hub_breaker_state(b, SMTP, T0 + 1500), "half-open");
    CHECK(hub_breakers_open_count(b, T0 + 1500) == 0);

    hub_breaker_report(b, SMTP, HUB_BREAKER_OK, T0 + 1600); /* the probe succeeded */
    CHECK_STR(hub_breaker_state(b, SMTP, T0 + 1600), "closed");
    CHECK(hub_breaker_admit(b, SMTP, T0 + 1600) == 0);
    CHECK(hub_breaker_admit(b, SMTP, T0 + 1600) == 0);

    /* Opening again starts from the first open time, not a doubled one. */
    for (int i = 0; i < 3; i++)
        hub_breaker_report(b, SMTP, HUB_BREAKER_TRANSIENT, T0 + 2000);
    CHECK(hub_breaker_admit(b, SMTP, T0 + 2000) == T0 + 3000);

    /* A PERMANENT answer from the probe closes it too. */
    CHECK(hub_breaker_admit(b, SMTP, T0 + 3000) == 0);
    hub_breaker_report(b, SMTP, HUB_BREAKER_PERMANENT, T0 + 3001);
    CHECK_STR(hub_breaker_state(b, SMTP, T0 + 3001), "closed");
    CHECK(hub_breakers_tracked(b) == 0);
    hub_breakers_free(b);
}

static void test_breaker_probe_backoff(void)
{
    hub_breakers *b = NULL;
    REQUIRE(hub_breakers_new(1, 1000, 5000, &b) == 0);
    hub_breaker_report(b, HTTP, HUB_BREAKER_TRANSIENT, T0);
    CHECK(hub_breaker_admit(b, HTTP, T0 + 1) == T0 + 1000);

    /* Each failed probe opens it again for twice as long: 2000, 4000, then 5000 (cap). */
    static const struct {
        int64_t probe, fail, until;
    } steps[] = {
        {1000, 1010, 1010 + 2000},
        {3010, 3010, 3010 + 4000},
        {7010, 7020, 7020 + 5000}, /* 8000 capped */
        {12020, 12020, 12020 + 5000},
    };
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        CHECK(hub_breaker_admit(b, HTTP, T0 + steps[i].probe) == 0);
        hub_breaker_report(b, HTTP, HUB_BREAKER_TRANSIENT, T0 + steps[i].fail);
        CHECK_STR(hub_breaker_state(b, HTTP, T0 + steps[i].fail), "open");
        CHECK(hub_breaker_admit(b, HTTP, T0 + steps[i].fail) == T0 + steps[i].until);
        CHECK(hub_breaker_admit(b, HTTP, T0 + steps[i].until - 1) == T0 + steps[i].until);
    }
    CHECK(hub_breaker_admit(b, HTTP, T0 + 17020) == 0);
    hub_breaker_report(b, HTTP, HUB_BREAKER_OK, T0 + 17030);
    hub_breaker_report(b, HTTP, HUB_BREAKER_TRANSIENT, T0 + 20000);
    CHECK(hub_breaker_admit(b, HTTP, T0 + 20000) == T0 + 21000); /* back to the first time */
    hub_breakers_free(b);
}

static void test_breaker_stale_failures(void)
{
    /* Attempts let through before the breaker opened report after it: no change. */
    hub_breakers *b = NULL;
    REQUIRE(hub_breakers_new(2, 1000, 8000, &b) == 0);
    hub_breaker_report(b, SMTP, HUB_BREAKER_TRANSIENT, T0);
    hub_breaker_report(b, SMTP, HUB_BREAKER_TRANSIENT, T0);
    hub_breaker_report(b, SMTP, HUB_BREAKER_TRANSIENT, T0 + 500);
    hub_breaker_report(b, SMTP, HUB_BREAKER_TRANSIENT, T0 + 1000); /* open time over, no probe */
    CHECK(hub_breaker_admit(b, SMTP, T0 + 600) == T0 + 1000);
    CHECK(hub_breaker_admit(b, SMTP, T0 + 1000) == 0); /* a probe, as if nothing came */
    hub_breaker_report(b, SMTP, HUB_BREAKER_TRANSIENT, T0 + 1000);
    CHECK(hub_breaker_admit(b, SMTP, T0 + 1000) == T0 + 3000); /* doubled once, not more */

    /* A success from one of them shows the far side alive: closed. */
    hub_breaker_report(b, SMTP, HUB_BREAKER_OK, T0 + 1100);
    CHECK(hub_breaker_admit(b, SMTP, T0 + 1100) == 0);
    hub_breakers_free(b);
}

static void test_breaker_lost_probe(void)
{
    hub_breakers *b = NULL;
    REQUIRE(hub_breakers_new(1, 1000, 8000, &b) == 0);
    hub_breaker_report(b, SMTP, HUB_BREAKER_TRANSIENT, T0);
    CHECK(hub_breaker_admit(b, SMTP, T0 + 1000) == 0); /* probe 1, never reports */
    CHECK(hub_breaker_admit(b, SMTP, T0 + 1999) == T0 + 2000);
    CHECK(hub_breaker_admit(b, SMTP, T0 + 2000) == 0);         /* probe 2 replaces it */
    CHECK(hub_breaker_admit(b, SMTP, T0 + 2000) == T0 + 3000); /* and only one */
    CHECK(hub_breaker_admit(b, SMTP, T0 + 3500) == 0);         /* probe 3 */

    /* After doubling, a lost probe still times out after the first open time (1000). */
    hub_breaker_report(b, SMTP, HUB_BREAKER_TRANSIENT, T0 + 4000); /* open 2000 */
    CHECK(hub_breaker_admit(b, SMTP, T0 + 6000) == 0);
    CHECK(hub_breaker_admit(b, SMTP, T0 + 6999) == T0 + 7000);
    CHECK(hub_breaker_admit(b, SMTP, T0 + 7000) == 0);
    hub_breaker_report(b, SMTP, HUB_BREAKER_OK, T0 + 7100);
    CHECK_STR(hub_breaker_state(b, SMTP, T0 + 7100), "closed");
    hub_breakers_free(b);
}

static void endpoint_name(char *out, size_t cap, const char *prefix, int i)
{
    snprintf(out, cap, "http://%s-%d.example:9000", prefix, i);
}

static void test_breaker_bounded(void)
{
    char ep[64];
    hub_breakers *b = NULL;

    /* All open: the least recently used is forgotten, the table stays at the bound. */
    REQUIRE(hub_breakers_new(1, 1000, 1000, &b) == 0);
    for (int i = 0; i < HUB_BREAKERS_MAX + 1; i++) {
        endpoint_name(ep, sizeof(ep), "e", i);
        hub_breaker_report(b, ep, HUB_BREAKER_TRANSIENT, T0);
    }
    CHECK(hub_breakers_tracked(b) == HUB_BREAKERS_MAX);
    CHECK(hub_breakers_open_count(b, T0) == HUB_BREAKERS_MAX);
    endpoint_name(ep, sizeof(ep), "e", 0);
    CHECK_STR(hub_breaker_state(b, ep, T0), "closed");
    endpoint_name(ep, sizeof(ep), "e", 1);
    CHECK_STR(hub_breaker_state(b, ep, T0), "open");
    endpoint_name(ep, sizeof(ep), "e", HUB_BREAKERS_MAX);
    CHECK_STR(hub_breaker_state(b, ep, T0), "open");
    hub_breakers_free(b);

    /* Open ones outlive closed ones; among closed ones the least recently used goes first. */
    REQUIRE(hub_breakers_new(2, 1000, 1000, &b) == 0);
    for (int i = 0; i < 10; i++) {
        endpoint_name(ep, sizeof(ep), "open", i);
        hub_breaker_report(b, ep, HUB_BREAKER_TRANSIENT, T0);
        hub_breaker_report(b, ep, HUB_BREAKER_TRANSIENT, T0);
    }
    for (int i = 0; i < 2000; i++) {
        endpoint_name(ep, sizeof(ep), "c", i);
        hub_breaker_report(b, ep, HUB_BREAKER_TRANSIENT, T0);
    }
    CHECK(hub_breakers_tracked(b) == HUB_BREAKERS_MAX);
    CHECK(hub_breakers_open_count(b, T0) == 10);
    int open_kept = 0;
    for (int i = 0; i < 10; i++) {
        endpoint_name(ep, sizeof(ep), "open", i);
        open_kept += strcmp(hub_breaker_state(b, ep, T0), "open") == 0;
    }
    CHECK(open_kept == 10);
    /* 1014 closed slots hold c-986 .. c-1999: c-986 remembers its failure, c-985 does not. */
    endpoint_name(ep, sizeof(ep), "c", 986);
    hub_breaker_report(b, ep, HUB_BREAKER_TRANSIENT, T0);
    CHECK_STR(hub_breaker_state(b, ep, T0), "open");
    endpoint_name(ep, sizeof(ep), "c", 985);
    hub_breaker_report(b, ep, HUB_BREAKER_TRANSIENT, T0);
    CHECK_STR(hub_breaker_state(b, ep, T0), "closed");
    CHECK(hub_breakers_tracked(b) == HUB_BREAKERS_MAX);
    /* Successes give the room back. */
    for (int i = 0; i < 10; i++) {
        endpoint_name(ep, sizeof(ep), "open", i);
        hub_breaker_report(b, ep, HUB_BREAKER_OK, T0);
    }
    CHECK(hub_breakers_tracked(b) == HUB_BREAKERS_MAX - 10);
    hub_breakers_free(b);

    /* Names past HUB_BREAKER_ENDPOINT_MAX - 1 bytes share a breaker (documented). */
    char long1[600], long2[600];
    memset(long1, 'a', sizeof(long1));
    long1[sizeof(long1) - 2] = '1';
    long1[sizeof(long1) - 1] = '\0';
    memcpy(long2, long1, sizeof(long2));
    long2[sizeof(long2) - 2] = '2';
    REQUIRE(hub_breakers_new(1, 1000, 1000, &b) == 0);
    hub_breaker_report(b, long1, HUB_BREAKER_TRANSIENT, T0);
    CHECK_STR(hub_breaker_state(b, long2, T0), "open");
    CHECK(hub_breakers_tracked(b) == 1);
    hub_breakers_free(b);
}

/* ---- several threads ------------------------------------------------------------------- */

#define THREADS 4

typedef struct worker {
    hub_breakers *b;
    pthread_barrier_t *start;
    int mode; /* 0: hammer, 1: probe race, 2: opening race */
    uint64_t seed;
    long admitted; /* admits that answered 0 */
    long bad;      /* answers that break the contract */
} worker;

static const char *ENDPOINTS[] = {"smtp://127.0.0.1:2525", "http://127.0.0.1:9000",
                                  "http://127.0.0.1:9001", "https://push.example:443",
                                  "smtp://mx.example:25"};

static void hammer(worker *w)
{
    for (long i = 0; i < 20000; i++) {
        const char *ep = ENDPOINTS[hub_retry_rand(&w->seed) % 5];
        int64_t now = T0 + i * 3;
        int64_t r = hub_breaker_admit(w->b, ep, now);
        if (r < 0)
            w->bad++;
        if (r != 0)
            continue;
        w->admitted++;
        uint64_t roll = hub_retry_rand(&w->seed) % 10;
        int outcome = roll < 6   ? HUB_BREAKER_TRANSIENT
                      : roll < 9 ? HUB_BREAKER_OK
                                 : HUB_BREAKER_PERMANENT;
        hub_breaker_report(w->b, ep, outcome, now + 1);
        const char *s = hub_breaker_state(w->b, ep, now + 1);
        if (strcmp(s, "closed") != 0 && strcmp(s, "open") != 0 && strcmp(s, "half-open") != 0)
            w->bad++;
        if (hub_breakers_open_count(w->b, now + 1) > 5 || hub_breakers_tracked(w->b) > 5)
            w->bad++;
    }
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    pthread_barrier_wait(w->start);
    if (w->mode == 0) {
        hammer(w);
    } else if (w->mode == 1) {
        /* Open since T0 for 1000 ms; everybody asks at T0 + 1000 at once. */
        for (int i = 0; i < 5000; i++) {
            int64_t r = hub_breaker_admit(w->b, SMTP, T0 + 1000);
            if (r == 0)
                w->admitted++;
            else if (r != T0 + 2000)
                w->bad++;
        }
    } else {
        /* A fixed clock: once open, nothing more gets through. */
        for (;;) {
            int64_t r = hub_breaker_admit(w->b, HTTP, T0);
            if (r != 0) {
                w->bad += r != T0 + 1000;
                break;
            }
            w->admitted++;
            hub_breaker_report(w->b, HTTP, HUB_BREAKER_TRANSIENT, T0);
        }
    }
    return NULL;
}

/* Runs THREADS workers in `mode`; returns the total admitted, adds the bad answers to *bad. */
static long run_workers(hub_breakers *b, int mode, long *bad)
{
    pthread_t th[THREADS];
    worker w[THREADS];
    pthread_barrier_t start;
    long admitted = 0;
    int started = 0;
    pthread_barrier_init(&start, NULL, THREADS);
    for (int i = 0; i < THREADS; i++) {
        w[i] = (worker){.b = b, .start = &start, .mode = mode, .seed = 100 + (uint64_t)i};
        if (pthread_create(&th[i], NULL, worker_main, &w[i]) != 0)
            abort(); /* the barrier would wait forever */
        started++;
    }
    for (int i = 0; i < started; i++) {
        pthread_join(th[i], NULL);
        admitted += w[i].admitted;
        *bad += w[i].bad;
    }
    pthread_barrier_destroy(&start);
    return admitted;
}

static void test_breaker_threads(void)
{
    hub_breakers *b = NULL;
    long bad = 0;

    REQUIRE(hub_breakers_new(3, 50, 400, &b) == 0);
    long admitted = run_workers(b, 0, &bad);
    CHECK(bad == 0);
    CHECK(admitted > 0 && admitted < THREADS * 20000L); /* some refused, some let through */
    for (size_t i = 0; i < 5; i++)
        hub_breaker_report(b, ENDPOINTS[i], HUB_BREAKER_OK, T0 + 100000);
    CHECK(hub_breakers_tracked(b) == 0);
    CHECK(hub_breakers_open_count(b, T0 + 100000) == 0);
    hub_breakers_free(b);

    /* Exactly one probe among 4 x 5000 simultaneous admits. */
    REQUIRE(hub_breakers_new(1, 1000, 8000, &b) == 0);
    hub_breaker_report(b, SMTP, HUB_BREAKER_TRANSIENT, T0);
    bad = 0;
    CHECK(run_workers(b, 1, &bad) == 1);
    CHECK(bad == 0);
    CHECK_STR(hub_breaker_state(b, SMTP, T0 + 1000), "half-open");
    hub_breakers_free(b);

    /* Opening under contention: the 8th failure opens it; at most one attempt per other
     * thread was already in flight. */
    REQUIRE(hub_breakers_new(8, 1000, 8000, &b) == 0);
    bad = 0;
    admitted = run_workers(b, 2, &bad);
    CHECK(admitted >= 8 && admitted <= 8 + THREADS - 1);
    CHECK(bad == 0);
    CHECK_STR(hub_breaker_state(b, HTTP, T0), "open");
    CHECK(hub_breakers_open_count(b, T0) == 1);
    hub_breakers_free(b);
}

int main(void)
{
    RUN(test_defaults_and_check);
    RUN(test_rand);
    RUN(test_ceiling_table);
    RUN(test_jitter_spread);
    RUN(test_retry_after);
    RUN(test_deadline);
    RUN(test_breaker_new_and_bad_input);
    RUN(test_breaker_opens_at_threshold);
    RUN(test_breaker_success_resets);
    RUN(test_breaker_one_probe);
    RUN(test_breaker_probe_backoff);
    RUN(test_breaker_stale_failures);
    RUN(test_breaker_lost_probe);
    RUN(test_breaker_bounded);
    RUN(test_breaker_threads);
    return TEST_SUMMARY();
}
