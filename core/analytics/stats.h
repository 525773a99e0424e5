/*
 * analytics/stats: the numbers behind experiment reports, bandits and attribution. Pure
 * computation over arrays the caller owns: libc and libm only, no allocation, no I/O, no clock.
 *
 * Thread-safety: every function is reentrant and keeps no state between calls (the bandit's
 * random generator lives on its stack, seeded by the caller), so any thread may call any
 * function at any time.
 *
 * The formulas are written out below exactly as computed, because a document and an
 * independent script reproduce them; change one only together with both.
 */
#ifndef HUB_ANALYTICS_STATS_H
#define HUB_ANALYTICS_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "base/base.h"

/* ---- distributions --------------------------------------------------------------------- */

/*
 * Phi(z), the standard normal CDF: 0.5 * erfc(-z / sqrt(2)). Accurate in both tails (no
 * 1 - x cancellation below zero). -inf -> 0, +inf -> 1, NaN -> NaN.
 */
double hub_stat_normal_cdf(double z);

/*
 * The chi-square survival function (upper-tail p-value) P(X >= x) for df degrees of freedom:
 * the regularized upper incomplete gamma Q(df/2, x/2). Computed with the power series of
 * P = 1 - Q when x/2 < df/2 + 1 and with a Lentz continued fraction for Q otherwise, so the
 * small p-values of the far tail keep their relative accuracy (no 1 - P cancellation).
 * Measured against mpmath: relative error below 1e-12 for df <= 1000 (tails down to 1e-300
 * included), ~1e-11 at df 1e4, ~1e-10 at df 1e5, ~1e-9 at df 1e6, where the x^a e^-x /
 * Gamma(a) factor, taken in logs, loses digits to cancellation. A result below the smallest
 * double is 0.
 *
 * x <= 0 -> 1.0; x = +inf -> 0.0. df need not be an integer but must be > 0 and finite:
 * otherwise, or when x is NaN, the result is NaN.
 */
double hub_stat_chi2_sf(double x, double df);

/* ---- sample ratio mismatch ------------------------------------------------------------- */

/*
 * Sample ratio mismatch: does the observed split of traffic over k arms fit the intended one?
 * A chi-square goodness-of-fit test of observed[i] against
 *     expected_i = total * weights[i] / sum(weights),   total = sum(observed),
 *     stat = sum over arms with weights[i] > 0 of (observed[i] - expected_i)^2 / expected_i,
 *     df = (number of arms with weights[i] > 0) - 1,   *p_value = hub_stat_chi2_sf(stat, df).
 * Weights need not sum to 1 (50/50 and 1/1 are the same). In this order:
 *   - an arm with weight 0 is left out of the test, but if it has observed[i] > 0 the split is
 *     certainly broken and *p_value = 0.0;
 *   - when total == 0 or df < 1 there is nothing to test and *p_value = 1.0.
 * Small p (say < 0.001) means the assignment or the logging is broken, not that a variant won.
 *
 * Returns 0, or HUB_EINVAL (with *p_value untouched) when a pointer is NULL, any value is
 * negative or not finite, or every weight is 0 (k == 0 included).
 */
int hub_stat_srm(const double *observed, const double *weights, size_t k, double *p_value);

/* ---- conversion rates ------------------------------------------------------------------ */

/* z for a two-sided 95% interval: Phi^-1(0.975). */
#define HUB_STAT_Z95 1.959963984540054

/* One variant against the base. Filled by hub_stat_compare_rates. */
typedef struct hub_stat_compare {
    double rate_base;    /* c_base / n_base, 0 when n_base == 0 */
    double rate_variant; /* c_var / n_var, 0 when n_var == 0 */
    double uplift;       /* rate_variant / rate_base - 1; NAN unless defined */
    double low, high;    /* 95% interval of uplift; NAN unless defined */
    double prob_beat;    /* P(variant's true rate > base's), always defined */
    int defined;         /* 1 when uplift/low/high are numbers, 0 when they are NAN */
} hub_stat_compare;

/*
 * Compares conversions of a variant (n_var exposures, c_var conversions) with the base
 * (n_base, c_base). A count of conversions above its exposures is clamped to them (c = n).
 * With p_b = rate_base, p_v = rate_variant:
 *
 *   rate     p_x = c_x / n_x                      (0 when n_x == 0)
 *   uplift   u = p_v / p_b - 1                    (relative, 0.2 means +20%)
 *   interval delta method on the ratio p_v / p_b:
 *            var_x = p_x * (1 - p_x) / n_x
 *            var   = var_v / p_b^2 + p_v^2 * var_b / p_b^4
 *            low   = u - 1.959963984540054 * sqrt(var)
 *            high  = u + 1.959963984540054 * sqrt(var)
 *            When n_base == 0, n_var == 0 or p_b == 0: defined = 0 and uplift, low and high
 *            are NAN (print them as null); otherwise defined = 1.
 *   prob_beat  Bayesian, posteriors Beta(1 + c_x, 1 + n_x - c_x) (uniform prior), compared by
 *            the normal approximation:
 *            m_x = (1 + c_x) / (2 + n_x),   s2_x = m_x * (1 - m_x) / (3 + n_x)
 *            prob_beat = Phi((m_v - m_b) / sqrt(s2_v + s2_b))
 *            Defined for every input, n == 0 included (0.5 when both sides are equal).
 *
 * Counts are converted to double, so values above 2^53 lose their last digits.
 * Returns 0, or HUB_EINVAL when out is NULL.
 */
int hub_stat_compare_rates(uint64_t n_base, uint64_t c_base, uint64_t n_var, uint64_t c_var,
                           hub_stat_compare *out);

/* ---- bandits --------------------------------------------------------------------------- */

/*
 * Thompson sampling: the share of traffic each of k arms should get next. Arm i (n[i]
 * exposures, c[i] conversions, c clamped to n) has the posterior Beta(1 + c[i], 1 + n[i] -
 * c[i]). For each of `draws` rounds one value is drawn from every posterior and the arm with
 * the highest wins the round (on an exact tie the lower index); out[i] = wins_i / draws.
 *
 * Then the floor: every arm gets at least floor_share, so no arm starves and its estimate keeps
 * improving. Arms below floor_share are raised to it and the remaining arms scaled down in
 * proportion so that the sum stays 1; repeated until no arm is below the floor (at most k
 * passes). floor_share = 0 leaves the sampled shares as they are; floor_share * k == 1 gives
 * every arm 1/k.
 *
 * out (k doubles, caller-owned) sums to 1 within 1e-9. Deterministic: the same inputs and seed
 * give the same shares on every call (the generator is xoshiro256** seeded through splitmix64,
 * normals by the Marsaglia polar method, gammas by Marsaglia-Tsang; across libm versions a
 * rare near-tie round could go the other way). Not for secrets. Cost: O(draws * k) gamma
 * samples, so the caller caps draws (10000 is plenty for shares to +-0.01).
 * k == 1 -> out[0] = 1.
 *
 * Returns 0, or HUB_EINVAL when a pointer is NULL, k == 0, draws == 0, or floor_share is not
 * a number with 0 <= floor_share and floor_share * k <= 1 (+1e-9 for rounding, as in 1/3 * 3).
 * out is untouched on error.
 */
int hub_bandit_weights(const uint64_t *n, const uint64_t *c, size_t k, double floor_share,
                       unsigned draws, uint64_t seed, double *out);

/* ---- attribution ----------------------------------------------------------------------- */

/* How a conversion's credit is split over the touchpoints that led to it. */
typedef enum {
    HUB_ATTR_FIRST,      /* "first_touch": all to the oldest */
    HUB_ATTR_LAST,       /* "last_touch": all to the newest */
    HUB_ATTR_LINEAR,     /* "linear": equal shares */
    HUB_ATTR_TIME_DECAY, /* "time_decay": halves every half_life_days before the conversion */
    HUB_ATTR_POSITION,   /* "position": 40% first, 40% last, 20% over the middle */
} hub_attr_model;

/*
 * The model named `name` (exactly, lower case, as in the enum comments) into *out.
 * Returns 0, or HUB_EINVAL for NULL arguments or an unknown name (*out untouched).
 */
int hub_attr_model_parse(const char *name, hub_attr_model *out);

/*
 * Splits one conversion at conversion_ms over n touchpoints touch_ms[0..n-1] (ms since the
 * epoch, oldest first; equal times allowed; a touch at the conversion time allowed). Writes
 * out[0..n-1] (caller-owned), non-negative and summing to 1:
 *   first       out = [1, 0, ..., 0]
 *   last        out = [0, ..., 0, 1]
 *   linear      out[i] = 1 / n
 *   time_decay  w_i = 2^(-(conversion_ms - touch_ms[i]) / (half_life_days * 86400000)),
 *               out[i] = w_i / sum(w). Computed relative to the newest touch (the common
 *               factor cancels), so touches many half-lives old cannot all underflow to 0.
 *   position    n == 1: [1]; n == 2: [0.5, 0.5]; n >= 3: out[0] = out[n-1] = 0.4 and
 *               0.2 / (n - 2) to each touch in between.
 * half_life_days is read only by time_decay.
 *
 * Returns 0, or HUB_EINVAL (out untouched) when a pointer is NULL, n == 0, the touches are
 * not in time order, a touch is after conversion_ms, m is not a model, or (time_decay only)
 * half_life_days is not a finite number > 0.
 */
int hub_attr_credit(hub_attr_model m, const int64_t *touch_ms, size_t n, int64_t conversion_ms,
                    double half_life_days, double *out);

#endif
