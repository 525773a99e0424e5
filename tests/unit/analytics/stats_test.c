/*
 * Unit tests for core/analytics/stats: the normal CDF and chi-square tail against values from
 * mpmath (40 digits) and closed forms, the SRM test, rate comparisons on worked examples
 * (worked by hand in the comments, checked with python3's math module), Thompson sampling
 * against exact probabilities (mpmath integrals), the floor, and each attribution model.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "analytics/stats.h"
#include "test.h"

/* |got - want| <= rel * |want|: relative closeness, for values of any magnitude. */
static int rel_close(double got, double want, double rel)
{
    return fabs(got - want) <= rel * fabs(want);
}

static int abs_close(double got, double want, double tol)
{
    return fabs(got - want) <= tol;
}

static double sum_of(const double *v, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += v[i];
    return s;
}

/* ---- distributions --------------------------------------------------------------------- */

static void test_normal_cdf(void)
{
    /* Reference values: mpmath.ncdf. */
    CHECK(rel_close(hub_stat_normal_cdf(1.959964), 0.97500000090355760, 1e-14));
    CHECK(rel_close(hub_stat_normal_cdf(-1.959964), 0.02499999909644240, 1e-13));
    CHECK(rel_close(hub_stat_normal_cdf(HUB_STAT_Z95), 0.975, 1e-15));
    CHECK(hub_stat_normal_cdf(0.0) == 0.5);
    CHECK(rel_close(hub_stat_normal_cdf(3.0), 0.99865010196836991, 1e-15));
    /* The lower tail keeps its relative accuracy (1 + erf(z) would give 0 here). */
    CHECK(rel_close(hub_stat_normal_cdf(-8.0), 6.2209605742717841e-16, 1e-12));
    CHECK(rel_close(hub_stat_normal_cdf(-30.0), 4.9067139271481871e-198, 1e-12));
    CHECK(hub_stat_normal_cdf(-INFINITY) == 0.0);
    CHECK(hub_stat_normal_cdf(INFINITY) == 1.0);
    CHECK(isnan(hub_stat_normal_cdf(NAN)));
}

static void test_chi2_sf_reference(void)
{
    /* Q(df/2, x/2) from mpmath.gammainc(df/2, x/2, inf, regularized=True), 40 digits. Both
     * branches: series (x/2 < df/2 + 1) and continued fraction (otherwise). */
    static const struct {
        double x, df, want;
    } cases[] = {
        {3.841458820694124, 1, 0.050000000000000057435},  /* the 5% critical value, df 1 */
        {11.070497693516351, 5, 0.050000000000000051957}, /* the 5% critical value, df 5 */
        {1, 1, 0.31731050786291410283},                   /* P(|Z| > 1) */
        {0.5, 3, 0.91889141165467585936},                 /* series */
        {7.5, 4.5, 0.14648784848946726601},               /* non-integer df */
        {100, 1, 1.5239706048321052132e-23},              /* far tail */
        {1000, 1, 1.7958327848007261946e-219},            /* very far tail */
        {1000, 1000, 0.49405285382923964195},             /* large df, near the median */
        {1100, 1000, 0.014614408126295194045},            /* large df, upper tail */
        {900, 1000, 0.98928276190871025844},              /* large df, lower side */
        {1e4, 1e4, 0.49811936596618264465},               /* larger df */
        {1e-8, 1, 0.99992021154405269422},                /* tiny x */
        {0.001, 0.5, 0.83504024923158716309},             /* df < 1, series */
        {3, 0.5, 0.033416444158979030304},                /* df < 1, continued fraction */
        {50, 30, 0.012402060718900579954},                /* continued fraction */
        {30, 50, 0.98883521972844971642},                 /* series */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        double got = hub_stat_chi2_sf(cases[i].x, cases[i].df);
        if (!rel_close(got, cases[i].want, 1e-10))
            fprintf(stderr, "  chi2_sf(%g, %g) = %.17g, want %.17g\n", cases[i].x, cases[i].df, got,
                    cases[i].want);
        CHECK(rel_close(got, cases[i].want, 1e-10));
    }
    /* Below the smallest double: 0, not NaN or a negative number. */
    CHECK(hub_stat_chi2_sf(1e5, 10) == 0.0);
}

static void test_chi2_sf_closed_forms(void)
{
    /* df 2: Q(1, x/2) = exp(-x/2); df 1: erfc(sqrt(x/2)). Across both branches. */
    for (double x = 0.01; x < 200.0; x *= 1.37) {
        CHECK(rel_close(hub_stat_chi2_sf(x, 2.0), exp(-x / 2.0), 1e-12));
        CHECK(rel_close(hub_stat_chi2_sf(x, 1.0), erfc(sqrt(x / 2.0)), 1e-11));
    }
    /* df 4: Q(2, y) = e^-y (1 + y) with y = x/2. */
    for (double x = 0.05; x < 150.0; x *= 1.53)
        CHECK(rel_close(hub_stat_chi2_sf(x, 4.0), exp(-x / 2.0) * (1.0 + x / 2.0), 1e-12));
    /* The recurrence Q(a + 1, y) = Q(a, y) + y^a e^-y / Gamma(a + 1), for a non-integer a = 1.65
     * (df 3.3 -> 5.3): ties the two df to each other without either formula's code path. */
    for (double x = 0.3; x < 60.0; x *= 1.71) {
        double y = x / 2.0, a = 1.65;
        double step = exp(a * log(y) - y - lgamma(a + 1.0));
        CHECK(rel_close(hub_stat_chi2_sf(x, 5.3), hub_stat_chi2_sf(x, 3.3) + step, 1e-11));
    }
}

static void test_chi2_sf_edges(void)
{
    CHECK(hub_stat_chi2_sf(0.0, 1.0) == 1.0);
    CHECK(hub_stat_chi2_sf(0.0, 7.0) == 1.0);
    CHECK(hub_stat_chi2_sf(-3.0, 2.0) == 1.0);
    CHECK(hub_stat_chi2_sf(-INFINITY, 2.0) == 1.0);
    CHECK(hub_stat_chi2_sf(INFINITY, 2.0) == 0.0);
    CHECK(isnan(hub_stat_chi2_sf(NAN, 2.0)));
    CHECK(isnan(hub_stat_chi2_sf(1.0, 0.0)));
    CHECK(isnan(hub_stat_chi2_sf(1.0, -1.0)));
    CHECK(isnan(hub_stat_chi2_sf(1.0, NAN)));
    CHECK(isnan(hub_stat_chi2_sf(1.0, INFINITY)));

    /* Where the method switches (x/2 = df/2 + 1, i.e. x = df + 2) the value is continuous and
     * the function decreasing on both sides. */
    for (double df = 1.0; df <= 64.0; df *= 2.0) {
        double at = df + 2.0;
        double lo = hub_stat_chi2_sf(at * (1.0 - 1e-12), df);
        double hi = hub_stat_chi2_sf(at, df);
        CHECK(lo >= hi && lo - hi < 1e-11);
    }
    double prev = 1.0;
    int decreasing = 1;
    for (double x = 0.1; x < 80.0; x += 0.1) {
        double p = hub_stat_chi2_sf(x, 9.0);
        if (!(p <= prev && p >= 0.0))
            decreasing = 0;
        prev = p;
    }
    CHECK(decreasing);
}

/* ---- sample ratio mismatch ------------------------------------------------------------- */

static void test_srm_two_arms(void)
{
    double w[] = {1, 1}, p = -1.0;

    double balanced[] = {5000, 5000}; /* stat 0 */
    CHECK(hub_stat_srm(balanced, w, 2, &p) == 0);
    CHECK(p == 1.0);

    /* Expected 5050 each, stat = 2 * 50^2 / 5050 = 0.990099..., df 1:
     * p = erfc(sqrt(stat / 2)) = 0.31966 (python3: math.erfc(math.sqrt(50/101))). */
    double close[] = {5000, 5100};
    CHECK(hub_stat_srm(close, w, 2, &p) == 0);
    CHECK(rel_close(p, erfc(sqrt(0.5 * 2.0 * 2500.0 / 5050.0)), 1e-12));
    CHECK(p > 0.3 && p < 0.33);

    /* Expected 5250 each, stat = 2 * 250^2 / 5250 = 23.8095, p ~ 1.07e-6: a broken split. */
    double skewed[] = {5000, 5500};
    CHECK(hub_stat_srm(skewed, w, 2, &p) == 0);
    CHECK(rel_close(p, erfc(sqrt(250.0 * 250.0 / 5250.0)), 1e-10));
    CHECK(p < 1e-5 && p > 1e-7);

    /* The weights' scale does not matter: 50/50 is 1/1. */
    double w50[] = {50, 50}, p50 = -1.0;
    CHECK(hub_stat_srm(skewed, w50, 2, &p50) == 0);
    CHECK(rel_close(p50, p, 1e-14));
}

static void test_srm_weighted(void)
{
    /* Weights 2:1:1 over 4000: expected 2000, 1000, 1000. Observed 2100, 950, 950:
     * stat = 100^2/2000 + 50^2/1000 + 50^2/1000 = 5 + 2.5 + 2.5 = 10, df 2, p = e^-5. */
    double w[] = {2, 1, 1}, obs[] = {2100, 950, 950}, p = -1.0;
    CHECK(hub_stat_srm(obs, w, 3, &p) == 0);
    CHECK(rel_close(p, exp(-5.0), 1e-12));

    double fit[] = {2000, 1000, 1000};
    CHECK(hub_stat_srm(fit, w, 3, &p) == 0);
    CHECK(p == 1.0);

    /* An arm with weight 0 and no traffic is left out: the same as the two-arm test. */
    double w3[] = {1, 1, 0}, obs3[] = {5000, 5500, 0}, p3 = -1.0;
    CHECK(hub_stat_srm(obs3, w3, 3, &p3) == 0);
    CHECK(rel_close(p3, erfc(sqrt(250.0 * 250.0 / 5250.0)), 1e-10));

    /* Traffic where none should go: certainly broken, p = 0. */
    double stray[] = {5000, 5000, 1};
    CHECK(hub_stat_srm(stray, w3, 3, &p3) == 0);
    CHECK(p3 == 0.0);

    /* Nothing to test: one arm (df 0), or no traffic at all. */
    double one_w[] = {1, 0}, one_obs[] = {400, 0};
    p = -1.0;
    CHECK(hub_stat_srm(one_obs, one_w, 2, &p) == 0);
    CHECK(p == 1.0);
    double none[] = {0, 0, 0};
    p = -1.0;
    CHECK(hub_stat_srm(none, w, 3, &p) == 0);
    CHECK(p == 1.0);
    /* Stray traffic wins over "one arm": weights {1, 0}, observed {400, 3}. */
    double one_stray[] = {400, 3};
    CHECK(hub_stat_srm(one_stray, one_w, 2, &p) == 0);
    CHECK(p == 0.0);
}

static void test_srm_bad_input(void)
{
    double w[] = {1, 1}, obs[] = {10, 12}, p = 42.0;
    double neg_obs[] = {-1, 12}, neg_w[] = {1, -1}, zero_w[] = {0, 0};
    double nan_obs[] = {NAN, 3}, inf_w[] = {INFINITY, 1};
    CHECK(hub_stat_srm(NULL, w, 2, &p) == HUB_EINVAL);
    CHECK(hub_stat_srm(obs, NULL, 2, &p) == HUB_EINVAL);
    CHECK(hub_stat_srm(obs, w, 2, NULL) == HUB_EINVAL);
    CHECK(hub_stat_srm(neg_obs, w, 2, &p) == HUB_EINVAL);
    CHECK(hub_stat_srm(obs, neg_w, 2, &p) == HUB_EINVAL);
    CHECK(hub_stat_srm(obs, zero_w, 2, &p) == HUB_EINVAL);
    CHECK(hub_stat_srm(nan_obs, w, 2, &p) == HUB_EINVAL);
    CHECK(hub_stat_srm(obs, inf_w, 2, &p) == HUB_EINVAL);
    CHECK(hub_stat_srm(obs, w, 0, &p) == HUB_EINVAL);
    CHECK(p == 42.0); /* untouched on error */
}

/* ---- conversion rates ------------------------------------------------------------------ */

static void test_compare_worked(void)
{
    hub_stat_compare r;
    /* Base 100/1000, variant 120/1000. By hand:
     *   p_b = 0.1, p_v = 0.12, uplift = 0.12/0.1 - 1 = 0.2
     *   var_b = 0.1*0.9/1000 = 9e-5, var_v = 0.12*0.88/1000 = 1.056e-4
     *   var = 1.056e-4/0.01 + 0.0144*9e-5/1e-4 = 0.01056 + 0.01296 = 0.02352
     *   sqrt(var) = 0.153362316, half = 1.959963985 * 0.153362316 = 0.300584616
     *   low = -0.100584616, high = 0.500584616
     *   m_b = 101/1002 = 0.100798403, m_v = 121/1002 = 0.120758483
     *   s2_b = m_b(1-m_b)/1003 = 9.0366984e-5, s2_v = m_v(1-m_v)/1003 = 1.05858297e-4
     *   z = 0.01996008 / sqrt(1.96225281e-4) = 1.42490134, Phi(z) = 0.922907139 */
    CHECK(hub_stat_compare_rates(1000, 100, 1000, 120, &r) == 0);
    CHECK(r.defined == 1);
    CHECK(rel_close(r.rate_base, 0.1, 1e-15) && rel_close(r.rate_variant, 0.12, 1e-15));
    CHECK(rel_close(r.uplift, 0.2, 1e-14));
    CHECK(rel_close(r.low, -0.10058461614448239, 1e-12));
    CHECK(rel_close(r.high, 0.50058461614448224, 1e-12));
    CHECK(rel_close(r.prob_beat, 0.92290713855150819, 1e-12));

    /* Equal arms: uplift 0, a symmetric interval, prob_beat exactly 0.5.
     * var = 9e-5/0.01 + 0.01*9e-5/1e-4 = 0.018, half = 1.959963985 * 0.134164079 = 0.262956762 */
    CHECK(hub_stat_compare_rates(1000, 100, 1000, 100, &r) == 0);
    CHECK(r.defined && r.uplift == 0.0 && r.prob_beat == 0.5);
    CHECK(rel_close(r.high, 0.26295676217297448, 1e-12) && r.low == -r.high);

    /* A worse variant, unequal sizes: base 10/200 = 0.05, variant 5/250 = 0.02.
     *   uplift = 0.4 - 1 = -0.6
     *   var = (0.02*0.98/250)/0.0025 + 0.0004*(0.05*0.95/200)/6.25e-6 = 0.03136 + 0.0152 = 0.04656
     *   half = 1.959963985 * 0.215777663 = 0.422916449 -> [-1.022916449, -0.177083551]
     *   m_b = 11/202, m_v = 6/252, z = -1.64869405, prob_beat = 0.049605165 */
    CHECK(hub_stat_compare_rates(200, 10, 250, 5, &r) == 0);
    CHECK(r.defined && rel_close(r.uplift, -0.6, 1e-14));
    CHECK(rel_close(r.low, -1.022916448830639, 1e-12));
    CHECK(rel_close(r.high, -0.1770835511693612, 1e-12));
    CHECK(rel_close(r.prob_beat, 0.049605164971332133, 1e-11));

    /* Large samples: 50000/1e6 vs 50500/1e6, uplift +1%:
     *   var = (0.0505*0.9495/1e6)/0.0025 + 0.0505^2*(0.05*0.95/1e6)/6.25e-6 = 3.85618e-5
     *   half = 1.959963985 * 0.006209815 = 0.012171013 -> [-0.002171013, 0.022171013]
     *   prob_beat = Phi(1.61837331) = 0.947208915 */
    CHECK(hub_stat_compare_rates(1000000, 50000, 1000000, 50500, &r) == 0);
    CHECK(rel_close(r.uplift, 0.01, 1e-12));
    CHECK(rel_close(r.low, -0.002171013382288367, 1e-9));
    CHECK(rel_close(r.high, 0.022171013382288385, 1e-11));
    CHECK(rel_close(r.prob_beat, 0.94720891511450889, 1e-11));
}

static void test_compare_undefined(void)
{
    hub_stat_compare r;
    /* No exposures at all: rates 0, uplift undefined, prob_beat 0.5 (two uniform priors). */
    CHECK(hub_stat_compare_rates(0, 0, 0, 0, &r) == 0);
    CHECK(r.defined == 0 && isnan(r.uplift) && isnan(r.low) && isnan(r.high));
    CHECK(r.rate_base == 0.0 && r.rate_variant == 0.0 && r.prob_beat == 0.5);

    /* Base rate 0: a relative uplift has no meaning, but the variant can still be ahead:
     * m_b = 1/102, m_v = 6/102, s2_b = m_b(1-m_b)/103, s2_v = m_v(1-m_v)/103,
     * z = 1.95026794, prob_beat = 0.974427904. */
    CHECK(hub_stat_compare_rates(100, 0, 100, 5, &r) == 0);
    CHECK(r.defined == 0 && isnan(r.uplift) && isnan(r.low) && isnan(r.high));
    CHECK(r.rate_variant == 0.05);
    CHECK(rel_close(r.prob_beat, 0.9744279043253532, 1e-11));

    /* Base not yet exposed: its posterior is the prior, mean 0.5, so the variant at 0.2 is
     * behind: m_b = 1/2, s2_b = 0.25/3, m_v = 11/52, s2_v = m_v(1-m_v)/53,
     * z = -0.28846154 / sqrt(0.08648031) = -0.98091028, prob_beat = 0.163318493. */
    CHECK(hub_stat_compare_rates(0, 0, 50, 10, &r) == 0);
    CHECK(r.defined == 0 && isnan(r.uplift));
    CHECK(r.rate_variant == 0.2);
    CHECK(rel_close(r.prob_beat, 0.16331849259523332, 1e-11));

    /* Variant not exposed, base converting: undefined too. */
    CHECK(hub_stat_compare_rates(100, 10, 0, 0, &r) == 0);
    CHECK(r.defined == 0 && isnan(r.high) && r.rate_base == 0.1 && r.rate_variant == 0.0);

    CHECK(hub_stat_compare_rates(1, 1, 1, 1, NULL) == HUB_EINVAL);
}

static void test_compare_clamp(void)
{
    hub_stat_compare r, same;
    /* 20 conversions of 10 exposures count as 10 of 10: base rate 1, variant 3/10.
     *   uplift = -0.7, var = (0.3*0.7/10)/1 + 0.09*0/1 = 0.021, half = 0.284025765
     *   m_b = 11/12, m_v = 4/12, z = -3.8488899, prob_beat = 5.9327159e-5 */
    CHECK(hub_stat_compare_rates(10, 20, 10, 3, &r) == 0);
    CHECK(hub_stat_compare_rates(10, 10, 10, 3, &same) == 0);
    /* Field by field: memcmp of the whole struct would read its padding. */
    CHECK(r.rate_base == same.rate_base && r.rate_variant == same.rate_variant);
    CHECK(r.uplift == same.uplift && r.low == same.low && r.high == same.high);
    CHECK(r.prob_beat == same.prob_beat && r.defined == same.defined);
    CHECK(r.rate_base == 1.0 && rel_close(r.uplift, -0.7, 1e-14));
    CHECK(rel_close(r.low, -0.98402576508932538, 1e-12));
    CHECK(rel_close(r.high, -0.41597423491067459, 1e-12));
    CHECK(rel_close(r.prob_beat, 5.9327158982017671e-05, 1e-9));

    /* Both at rate 1: zero variance, a zero-width interval at 0. */
    CHECK(hub_stat_compare_rates(40, 40, 40, 99, &r) == 0);
    CHECK(r.defined && r.uplift == 0.0 && r.low == 0.0 && r.high == 0.0 && r.prob_beat == 0.5);
    CHECK(r.rate_variant == 1.0);
}

/* ---- bandits --------------------------------------------------------------------------- */

static void test_bandit_deterministic(void)
{
    uint64_t n[] = {500, 520, 480}, c[] = {40, 45, 38};
    double a[3], b[3], d[3];
    CHECK(hub_bandit_weights(n, c, 3, 0.05, 5000, 7, a) == 0);
    CHECK(hub_bandit_weights(n, c, 3, 0.05, 5000, 7, b) == 0);
    CHECK(memcmp(a, b, sizeof(a)) == 0);
    CHECK(hub_bandit_weights(n, c, 3, 0.05, 5000, 8, d) == 0);
    CHECK(memcmp(a, d, sizeof(a)) != 0);
    CHECK(abs_close(sum_of(a, 3), 1.0, 1e-9) && abs_close(sum_of(d, 3), 1.0, 1e-9));
    /* Seed 0 is as good as any (splitmix64 seeding never gives the all-zero state). */
    CHECK(hub_bandit_weights(n, c, 3, 0.0, 5000, 0, d) == 0);
    CHECK(abs_close(sum_of(d, 3), 1.0, 1e-9) && d[0] > 0.0 && d[1] > 0.0 && d[2] > 0.0);
}

static void test_bandit_exact_probabilities(void)
{
    /* With two arms the share of arm 1 is P(X1 > X0). Beta(3, 1) (2 of 2) against Beta(1, 1)
     * (no data): int_0^1 3x^2 * x dx = 3/4. Beta(2, 1) against Beta(1, 1): 2/3. With
     * 40000 draws the standard error is ~0.0023; the tolerance is 0.012 (5 sigma). */
    double out[3];
    uint64_t n1[] = {0, 2}, c1[] = {0, 2};
    CHECK(hub_bandit_weights(n1, c1, 2, 0.0, 40000, 11, out) == 0);
    CHECK(abs_close(out[1], 0.75, 0.012) && abs_close(out[0], 0.25, 0.012));
    uint64_t n2[] = {0, 1}, c2[] = {0, 1};
    CHECK(hub_bandit_weights(n2, c2, 2, 0.0, 40000, 12, out) == 0);
    CHECK(abs_close(out[1], 2.0 / 3.0, 0.012));

    /* Larger shapes (the Marsaglia-Tsang path away from shape 1): Beta(16, 86) (15 of 100)
     * against Beta(11, 91) (10 of 100): P = 0.853283790 (mpmath.quad of pdf * betainc). */
    uint64_t n3[] = {100, 100}, c3[] = {10, 15};
    CHECK(hub_bandit_weights(n3, c3, 2, 0.0, 40000, 13, out) == 0);
    CHECK(abs_close(out[1], 0.853283789933966, 0.01));

    /* Skewed shapes, where a sampler off in its constants shows (Marsaglia-Tsang with
     * d = a - 1/2 instead of a - 1/3 gives 0.292 and 0.059 here). Beta(2, 40) (1 of 40) against
     * Beta(1, 6) (0 of 5): 0.241443108 (mpmath.quad); Beta(1, 21) (0 of 20) against Beta(1, 1):
     * int_0^1 x * 21 (1-x)^20 dx = 1/22. */
    uint64_t n5[] = {5, 40}, c5[] = {0, 1};
    CHECK(hub_bandit_weights(n5, c5, 2, 0.0, 40000, 15, out) == 0);
    CHECK(abs_close(out[1], 0.241443108233, 0.01));
    uint64_t n6[] = {0, 20}, c6[] = {0, 0};
    CHECK(hub_bandit_weights(n6, c6, 2, 0.0, 40000, 16, out) == 0);
    CHECK(abs_close(out[1], 1.0 / 22.0, 0.006));

    /* Three arms, Beta(1,1), Beta(3,1), Beta(2,5): P(each is the max) = 41/168, 123/168, 1/42
     * (mpmath.quad of pdf_i * prod_j cdf_j). Checks the arg-max over more than two. */
    uint64_t n4[] = {0, 2, 5}, c4[] = {0, 2, 1};
    CHECK(hub_bandit_weights(n4, c4, 3, 0.0, 40000, 14, out) == 0);
    CHECK(abs_close(out[0], 41.0 / 168.0, 0.012));
    CHECK(abs_close(out[1], 123.0 / 168.0, 0.012));
    CHECK(abs_close(out[2], 1.0 / 42.0, 0.005));
}

static void test_bandit_better_and_equal(void)
{
    /* A clearly better arm (12% vs 10% over 10000 each, z ~ 4.5) takes nearly all. */
    uint64_t n[] = {10000, 10000}, c[] = {1000, 1200};
    double out[4];
    CHECK(hub_bandit_weights(n, c, 2, 0.0, 10000, 1, out) == 0);
    CHECK(out[1] > 0.99 && out[0] < 0.01);
    CHECK(out[0] + out[1] == 1.0);

    /* Four equal arms: about a quarter each (standard error 0.003 at 20000 draws). */
    uint64_t ne[] = {1000, 1000, 1000, 1000}, ce[] = {100, 100, 100, 100};
    CHECK(hub_bandit_weights(ne, ce, 4, 0.0, 20000, 2, out) == 0);
    for (int i = 0; i < 4; i++)
        CHECK(abs_close(out[i], 0.25, 0.02));
    CHECK(abs_close(sum_of(out, 4), 1.0, 1e-9));

    /* No data at all: equal too. */
    uint64_t zero[] = {0, 0, 0, 0};
    CHECK(hub_bandit_weights(zero, zero, 4, 0.0, 20000, 3, out) == 0);
    for (int i = 0; i < 4; i++)
        CHECK(abs_close(out[i], 0.25, 0.02));

    /* Conversions above exposures are clamped: 50 of 10 is 10 of 10, draw for draw. */
    uint64_t nc[] = {10, 10}, c_over[] = {50, 2}, c_clamped[] = {10, 2};
    double a[2], b[2];
    CHECK(hub_bandit_weights(nc, c_over, 2, 0.0, 2000, 4, a) == 0);
    CHECK(hub_bandit_weights(nc, c_clamped, 2, 0.0, 2000, 4, b) == 0);
    CHECK(memcmp(a, b, sizeof(a)) == 0 && a[0] > 0.99);
}

static void test_bandit_floor(void)
{
    /* Arm 1 (10%) beats two 5% arms nearly always (P(arm 0 wins) ~ 1e-5): the losers are
     * raised to the floor and the winner keeps the rest, 1 - 2 * 0.1. */
    uint64_t n[] = {1000, 1000, 1000}, c[] = {50, 100, 50};
    double out[3];
    CHECK(hub_bandit_weights(n, c, 3, 0.1, 10000, 5, out) == 0);
    CHECK(abs_close(out[0], 0.1, 1e-12) && abs_close(out[2], 0.1, 1e-12));
    CHECK(abs_close(out[1], 0.8, 1e-12));
    CHECK(abs_close(sum_of(out, 3), 1.0, 1e-9));

    /* Raising one arm can push another under the floor, so the floor is iterated. Shares
     * without a floor (mpmath): 0.00223, 0.21529, 0.78248 for 15, 25, 30 of 100. With floor
     * 0.2, arm 0 goes to 0.2 and scaling by 0.8 / 0.99777 takes arm 1 to 0.1726 < 0.2, so it
     * is raised too: 0.2, 0.2, 0.6 (a single pass would leave 0.2, 0.1726, 0.6274). */
    uint64_t n2[] = {100, 100, 100}, c2[] = {15, 25, 30};
    double raw[3];
    CHECK(hub_bandit_weights(n2, c2, 3, 0.0, 40000, 6, raw) == 0);
    CHECK(abs_close(raw[0], 0.00222827, 0.003) && abs_close(raw[1], 0.21528949, 0.012));
    CHECK(hub_bandit_weights(n2, c2, 3, 0.2, 40000, 6, out) == 0);
    CHECK(abs_close(out[0], 0.2, 1e-12) && abs_close(out[1], 0.2, 1e-12));
    CHECK(abs_close(out[2], 0.6, 1e-12));

    /* Arms above the floor are scaled in proportion: with floor 0.05 only arm 0 is raised,
     * the others share 0.95 in their sampled ratio (same seed, so the same draws). */
    CHECK(hub_bandit_weights(n2, c2, 3, 0.05, 40000, 6, out) == 0);
    CHECK(out[0] == 0.05);
    CHECK(rel_close(out[1] / out[2], raw[1] / raw[2], 1e-12));
    CHECK(rel_close(out[1], raw[1] * 0.95 / (raw[1] + raw[2]), 1e-12));
    CHECK(abs_close(sum_of(out, 3), 1.0, 1e-12));

    /* A floor of 1/k gives every arm 1/k, even with 1/3 * 3 rounding. */
    CHECK(hub_bandit_weights(n, c, 3, 1.0 / 3.0, 100, 7, out) == 0);
    for (int i = 0; i < 3; i++)
        CHECK(abs_close(out[i], 1.0 / 3.0, 1e-15));
    uint64_t n5[] = {10, 10, 10, 10, 10}, c5[] = {0, 1, 2, 3, 9};
    double out5[5];
    CHECK(hub_bandit_weights(n5, c5, 5, 0.2, 100, 7, out5) == 0);
    for (int i = 0; i < 5; i++)
        CHECK(abs_close(out5[i], 0.2, 1e-15));
    /* A floor a hair over 1/k (accepted as rounding) is an equal split, not floor_share each:
     * 5 * 0.2000000001 would sum to 1.0000000005. */
    CHECK(hub_bandit_weights(n5, c5, 5, 0.2 + 1e-10, 100, 7, out5) == 0);
    for (int i = 0; i < 5; i++)
        CHECK(out5[i] == 1.0 / 5.0);
    CHECK(hub_bandit_weights(n5, c5, 5, 0.2 + 1e-8, 100, 7, out5) == HUB_EINVAL);
    /* A smaller floor is respected by every arm. */
    CHECK(hub_bandit_weights(n5, c5, 5, 0.15, 3000, 8, out5) == 0);
    for (int i = 0; i < 5; i++)
        CHECK(out5[i] >= 0.15 - 1e-12);
    CHECK(abs_close(sum_of(out5, 5), 1.0, 1e-9) && out5[4] > 0.3);
}

static void test_bandit_bad_input(void)
{
    uint64_t n[] = {10, 10}, c[] = {1, 2};
    double out[2] = {-7.0, -7.0};
    CHECK(hub_bandit_weights(NULL, c, 2, 0.0, 10, 1, out) == HUB_EINVAL);
    CHECK(hub_bandit_weights(n, NULL, 2, 0.0, 10, 1, out) == HUB_EINVAL);
    CHECK(hub_bandit_weights(n, c, 2, 0.0, 10, 1, NULL) == HUB_EINVAL);
    CHECK(hub_bandit_weights(n, c, 0, 0.0, 10, 1, out) == HUB_EINVAL);
    CHECK(hub_bandit_weights(n, c, 2, 0.0, 0, 1, out) == HUB_EINVAL);
    CHECK(hub_bandit_weights(n, c, 1, 0.0, 0, 1, out) == HUB_EINVAL);
    CHECK(hub_bandit_weights(n, c, 2, -0.01, 10, 1, out) == HUB_EINVAL);
    CHECK(hub_bandit_weights(n, c, 2, 0.51, 10, 1, out) == HUB_EINVAL);
    CHECK(hub_bandit_weights(n, c, 2, NAN, 10, 1, out) == HUB_EINVAL);
    CHECK(hub_bandit_weights(n, c, 2, INFINITY, 10, 1, out) == HUB_EINVAL);
    CHECK(out[0] == -7.0 && out[1] == -7.0); /* untouched on error */

    /* One arm takes everything, whatever its data (floor up to 1 allowed). */
    CHECK(hub_bandit_weights(n, c, 1, 1.0, 1, 9, out) == 0);
    CHECK(out[0] == 1.0 && out[1] == -7.0);
    CHECK(hub_bandit_weights(n, c, 1, 1.5, 1, 9, out) == HUB_EINVAL);
}

/* ---- attribution ----------------------------------------------------------------------- */

#define DAY INT64_C(86400000)
#define T0  INT64_C(1767225600000) /* 2026-01-01T00:00:00Z */

static void test_attr_parse(void)
{
    static const char *names[] = {"first_touch", "last_touch", "linear", "time_decay", "position"};
    static const hub_attr_model models[] = {HUB_ATTR_FIRST, HUB_ATTR_LAST, HUB_ATTR_LINEAR,
                                            HUB_ATTR_TIME_DECAY, HUB_ATTR_POSITION};
    for (int i = 0; i < 5; i++) {
        hub_attr_model m = (hub_attr_model)99;
        CHECK(hub_attr_model_parse(names[i], &m) == 0);
        CHECK(m == models[i]);
    }
    hub_attr_model m = HUB_ATTR_LINEAR;
    CHECK(hub_attr_model_parse("Linear", &m) == HUB_EINVAL);
    CHECK(hub_attr_model_parse("first", &m) == HUB_EINVAL);
    CHECK(hub_attr_model_parse("linear ", &m) == HUB_EINVAL);
    CHECK(hub_attr_model_parse("", &m) == HUB_EINVAL);
    CHECK(hub_attr_model_parse(NULL, &m) == HUB_EINVAL);
    CHECK(hub_attr_model_parse("linear", NULL) == HUB_EINVAL);
    CHECK(m == HUB_ATTR_LINEAR); /* untouched on error */
}

static void test_attr_simple_models(void)
{
    int64_t t[] = {T0, T0 + DAY, T0 + 2 * DAY, T0 + 3 * DAY};
    int64_t conv = T0 + 4 * DAY;
    double out[4];
    CHECK(hub_attr_credit(HUB_ATTR_FIRST, t, 4, conv, 0.0, out) == 0);
    CHECK(out[0] == 1.0 && out[1] == 0.0 && out[2] == 0.0 && out[3] == 0.0);
    CHECK(hub_attr_credit(HUB_ATTR_LAST, t, 4, conv, 0.0, out) == 0);
    CHECK(out[0] == 0.0 && out[1] == 0.0 && out[2] == 0.0 && out[3] == 1.0);
    CHECK(hub_attr_credit(HUB_ATTR_LINEAR, t, 4, conv, 0.0, out) == 0);
    CHECK(out[0] == 0.25 && out[1] == 0.25 && out[2] == 0.25 && out[3] == 0.25);
    CHECK(hub_attr_credit(HUB_ATTR_LINEAR, t, 3, conv, 0.0, out) == 0);
    CHECK(rel_close(out[1], 1.0 / 3.0, 1e-15) && abs_close(sum_of(out, 3), 1.0, 1e-15));

    /* One touch takes all under every model. */
    for (int m = HUB_ATTR_FIRST; m <= HUB_ATTR_POSITION; m++) {
        out[0] = 0.0;
        CHECK(hub_attr_credit((hub_attr_model)m, t, 1, conv, 7.0, out) == 0);
        CHECK(out[0] == 1.0);
    }
}

static void test_attr_position(void)
{
    int64_t t[] = {T0, T0 + 1, T0 + 2, T0 + 3, T0 + 4};
    double out[5];
    CHECK(hub_attr_credit(HUB_ATTR_POSITION, t, 2, T0 + 10, 0.0, out) == 0);
    CHECK(out[0] == 0.5 && out[1] == 0.5);
    CHECK(hub_attr_credit(HUB_ATTR_POSITION, t, 3, T0 + 10, 0.0, out) == 0);
    CHECK(out[0] == 0.4 && rel_close(out[1], 0.2, 1e-15) && out[2] == 0.4);
    /* Five touches: 0.4, 0.2/3 three times, 0.4. */
    CHECK(hub_attr_credit(HUB_ATTR_POSITION, t, 5, T0 + 10, 0.0, out) == 0);
    CHECK(out[0] == 0.4 && out[4] == 0.4);
    for (int i = 1; i < 4; i++)
        CHECK(rel_close(out[i], 0.2 / 3.0, 1e-15));
    CHECK(abs_close(sum_of(out, 5), 1.0, 1e-15));
}

static void test_attr_time_decay(void)
{
    /* Half-life 7 days; touches 14, 7 and 0 days before the conversion: raw weights 1/4, 1/2,
     * 1, sum 7/4, so 1/7, 2/7, 4/7. */
    int64_t conv = T0 + 30 * DAY;
    int64_t t[] = {conv - 14 * DAY, conv - 7 * DAY, conv};
    double out[3];
    CHECK(hub_attr_credit(HUB_ATTR_TIME_DECAY, t, 3, conv, 7.0, out) == 0);
    CHECK(rel_close(out[0], 1.0 / 7.0, 1e-14));
    CHECK(rel_close(out[1], 2.0 / 7.0, 1e-14));
    CHECK(rel_close(out[2], 4.0 / 7.0, 1e-14));

    /* The gap between the newest touch and the conversion cancels: with the conversion 3.5
     * days after the newest touch, half-life 1.5 days and touches 1.5 days apart, the weights
     * are 1/4 : 1/2 : 1 times 2^(-3.5/1.5) each, so the split is 1/7, 2/7, 4/7 again. */
    int64_t t2[] = {T0, T0 + 3 * DAY / 2, T0 + 3 * DAY};
    CHECK(hub_attr_credit(HUB_ATTR_TIME_DECAY, t2, 3, T0 + 3 * DAY + 7 * DAY / 2, 1.5, out) == 0);
    CHECK(rel_close(out[0], 1.0 / 7.0, 1e-14) && rel_close(out[2], 4.0 / 7.0, 1e-14));

    /* Touches 20000 half-lives old: 2^-20000 underflows, yet the split stays 1/3, 2/3. */
    int64_t old[] = {T0, T0 + DAY};
    CHECK(hub_attr_credit(HUB_ATTR_TIME_DECAY, old, 2, T0 + 20001 * DAY, 1.0, out) == 0);
    CHECK(rel_close(out[0], 1.0 / 3.0, 1e-14) && rel_close(out[1], 2.0 / 3.0, 1e-14));

    /* Equal times share equally; a touch at the conversion instant is allowed. */
    int64_t same[] = {conv, conv};
    CHECK(hub_attr_credit(HUB_ATTR_TIME_DECAY, same, 2, conv, 7.0, out) == 0);
    CHECK(out[0] == 0.5 && out[1] == 0.5);

    /* The extremes of int64: no overflow in the age (UBSan would see it). */
    int64_t wide[] = {INT64_MIN, 0};
    CHECK(hub_attr_credit(HUB_ATTR_TIME_DECAY, wide, 2, INT64_MAX, 7.0, out) == 0);
    CHECK(out[0] == 0.0 && out[1] == 1.0);

    /* A half-life of a year spreads a week's touches almost evenly. */
    int64_t week[] = {T0, T0 + 7 * DAY};
    CHECK(hub_attr_credit(HUB_ATTR_TIME_DECAY, week, 2, T0 + 7 * DAY, 365.0, out) == 0);
    CHECK(rel_close(out[0], 1.0 / (1.0 + exp2(7.0 / 365.0)), 1e-14));
    CHECK(out[0] < 0.5 && out[0] > 0.49);
}

static void test_attr_bad_input(void)
{
    int64_t t[] = {T0, T0 + DAY, T0 + 2 * DAY};
    int64_t unordered[] = {T0, T0 + 2 * DAY, T0 + DAY};
    double out[3] = {-1.0, -1.0, -1.0};
    int64_t conv = T0 + 3 * DAY;
    for (int m = HUB_ATTR_FIRST; m <= HUB_ATTR_POSITION; m++) {
        hub_attr_model model = (hub_attr_model)m;
        CHECK(hub_attr_credit(model, t, 0, conv, 7.0, out) == HUB_EINVAL);
        CHECK(hub_attr_credit(model, NULL, 3, conv, 7.0, out) == HUB_EINVAL);
        CHECK(hub_attr_credit(model, t, 3, conv, 7.0, NULL) == HUB_EINVAL);
        CHECK(hub_attr_credit(model, unordered, 3, conv, 7.0, out) == HUB_EINVAL);
        /* The newest touch after the conversion, by 1 ms. */
        CHECK(hub_attr_credit(model, t, 3, T0 + 2 * DAY - 1, 7.0, out) == HUB_EINVAL);
    }
    CHECK(hub_attr_credit(HUB_ATTR_TIME_DECAY, t, 3, conv, 0.0, out) == HUB_EINVAL);
    CHECK(hub_attr_credit(HUB_ATTR_TIME_DECAY, t, 3, conv, -7.0, out) == HUB_EINVAL);
    CHECK(hub_attr_credit(HUB_ATTR_TIME_DECAY, t, 3, conv, NAN, out) == HUB_EINVAL);
    CHECK(hub_attr_credit(HUB_ATTR_TIME_DECAY, t, 3, conv, INFINITY, out) == HUB_EINVAL);
    CHECK(hub_attr_credit((hub_attr_model)99, t, 3, conv, 7.0, out) == HUB_EINVAL);
    CHECK(out[0] == -1.0 && out[1] == -1.0 && out[2] == -1.0); /* untouched on error */

    /* The half-life matters only to time_decay. */
    CHECK(hub_attr_credit(HUB_ATTR_LINEAR, t, 3, conv, 0.0, out) == 0);
    CHECK(hub_attr_credit(HUB_ATTR_POSITION, t, 3, conv, NAN, out) == 0);
}

int main(void)
{
    RUN(test_normal_cdf);
    RUN(test_chi2_sf_reference);
    RUN(test_chi2_sf_closed_forms);
    RUN(test_chi2_sf_edges);
    RUN(test_srm_two_arms);
    RUN(test_srm_weighted);
    RUN(test_srm_bad_input);
    RUN(test_compare_worked);
    RUN(test_compare_undefined);
    RUN(test_compare_clamp);
    RUN(test_bandit_deterministic);
    RUN(test_bandit_exact_probabilities);
    RUN(test_bandit_better_and_equal);
    RUN(test_bandit_floor);
    RUN(test_bandit_bad_input);
    RUN(test_attr_parse);
    RUN(test_attr_simple_models);
    RUN(test_attr_position);
    RUN(test_attr_time_decay);
    RUN(test_attr_bad_input);
    return TEST_SUMMARY();
}
