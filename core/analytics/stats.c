/*
 * analytics/stats.c: the chi-square tail (regularized incomplete gamma), the sample ratio
 * mismatch test, conversion-rate comparisons, Thompson sampling with a floor, and
 * attribution credit. Formulas are the ones spelled out in stats.h; comments here say why
 * each numerical choice was made.
 */
#include <math.h>
#include <string.h>

#include "analytics/stats.h"

/* ---- distributions --------------------------------------------------------------------- */

/* Relative size of the last term at which a series or continued fraction stops: a little
 * above DBL_EPSILON, as further terms cannot change the double. */
#define GAMMA_EPS 1e-16
/* Iterations at most. Both expansions need O(sqrt(a)) terms near x = a, so this covers
 * df far beyond any experiment's; past it the partial result is returned. */
#define GAMMA_ITMAX 1000000
/* Stand-in for 0 in the Lentz algorithm, to avoid dividing by an exact 0. */
#define GAMMA_TINY 1e-300

double hub_stat_normal_cdf(double z)
{
    /* erfc keeps full relative accuracy in the lower tail, where 0.5 * (1 + erf) cancels. */
    return 0.5 * erfc(-z / sqrt(2.0));
}

/* log(x^a e^-x / Gamma(a)): the prefactor both expansions share, in logs so that large a
 * and x do not overflow. */
static double gamma_log_prefactor(double a, double x)
{
    return a * log(x) - x - lgamma(a);
}

/* P(a, x), the regularized lower incomplete gamma, by its power series
 * P = x^a e^-x / Gamma(a+1) * sum_n x^n / ((a+1)...(a+n)). Converges fast for x < a + 1. */
static double gamma_p_series(double a, double x)
{
    double ap = a, term = 1.0 / a, sum = term;
    for (int i = 0; i < GAMMA_ITMAX; i++) {
        ap += 1.0;
        term *= x / ap;
        sum += term;
        if (fabs(term) < fabs(sum) * GAMMA_EPS)
            break;
    }
    return sum * exp(gamma_log_prefactor(a, x));
}

/* Q(a, x), the regularized upper incomplete gamma, by its continued fraction (modified Lentz,
 * as in Numerical Recipes' gcf). Used for x >= a + 1, where it converges fast and gives the
 * small tail values directly instead of as 1 - P. */
static double gamma_q_cfrac(double a, double x)
{
    double b = x + 1.0 - a;
    double c = 1.0 / GAMMA_TINY;
    double d = 1.0 / b;
    double h = d;
    for (int i = 1; i <= GAMMA_ITMAX; i++) {
        double an = -i * (i - a);
        b += 2.0;
        d = an * d + b;
        if (fabs(d) < GAMMA_TINY)
            d = GAMMA_TINY;
        c = b + an / c;
        if (fabs(c) < GAMMA_TINY)
            c = GAMMA_TINY;
        d = 1.0 / d;
        double del = d * c;
        h *= del;
        if (fabs(del - 1.0) < GAMMA_EPS)
            break;
    }
    return exp(gamma_log_prefactor(a, x)) * h;
}

double hub_stat_chi2_sf(double x, double df)
{
    if (isnan(x) || !(df > 0.0) || isinf(df))
        return NAN;
    if (x <= 0.0)
        return 1.0;
    if (isinf(x))
        return 0.0;
    double a = df / 2.0, hx = x / 2.0;
    if (hx < a + 1.0)
        return 1.0 - gamma_p_series(a, hx);
    return gamma_q_cfrac(a, hx);
}

/* ---- sample ratio mismatch ------------------------------------------------------------- */

static int bad_count(double v)
{
    return !isfinite(v) || v < 0.0;
}

int hub_stat_srm(const double *observed, const double *weights, size_t k, double *p_value)
{
    if (observed == NULL || weights == NULL || p_value == NULL)
        return HUB_EINVAL;
    double total = 0.0, wsum = 0.0;
    size_t arms = 0;
    int stray = 0; /* traffic in an arm meant to get none */
    for (size_t i = 0; i < k; i++) {
        if (bad_count(observed[i]) || bad_count(weights[i]))
            return HUB_EINVAL;
        total += observed[i];
        wsum += weights[i];
        if (weights[i] > 0.0)
            arms++;
        else if (observed[i] > 0.0)
            stray = 1;
    }
    if (arms == 0 || !isfinite(total) || !isfinite(wsum))
        return HUB_EINVAL;
    if (stray) {
        *p_value = 0.0;
        return 0;
    }
    if (total == 0.0 || arms < 2) {
        *p_value = 1.0;
        return 0;
    }
    double stat = 0.0;
    for (size_t i = 0; i < k; i++) {
        if (weights[i] <= 0.0)
            continue;
        double expected = total * weights[i] / wsum;
        double diff = observed[i] - expected;
        stat += diff * diff / expected;
    }
    *p_value = hub_stat_chi2_sf(stat, (double)(arms - 1));
    return 0;
}

/* ---- conversion rates ------------------------------------------------------------------ */

int hub_stat_compare_rates(uint64_t n_base, uint64_t c_base, uint64_t n_var, uint64_t c_var,
                           hub_stat_compare *out)
{
    if (out == NULL)
        return HUB_EINVAL;
    if (c_base > n_base)
        c_base = n_base;
    if (c_var > n_var)
        c_var = n_var;
    double nb = (double)n_base, cb = (double)c_base;
    double nv = (double)n_var, cv = (double)c_var;
    double pb = n_base > 0 ? cb / nb : 0.0;
    double pv = n_var > 0 ? cv / nv : 0.0;
    out->rate_base = pb;
    out->rate_variant = pv;

    out->defined = n_base > 0 && n_var > 0 && pb > 0.0;
    if (out->defined) {
        double var_b = pb * (1.0 - pb) / nb;
        double var_v = pv * (1.0 - pv) / nv;
        double var = var_v / (pb * pb) + pv * pv * var_b / (pb * pb * pb * pb);
        double half = HUB_STAT_Z95 * sqrt(var);
        out->uplift = pv / pb - 1.0;
        out->low = out->uplift - half;
        out->high = out->uplift + half;
    } else {
        out->uplift = out->low = out->high = NAN;
    }

    /* Beta(1 + c, 1 + n - c) has mean (1 + c) / (2 + n) and variance m (1 - m) / (3 + n),
     * both finite and the variance > 0 for every n, so the quotient is always defined. */
    double mb = (1.0 + cb) / (2.0 + nb), mv = (1.0 + cv) / (2.0 + nv);
    double sb = mb * (1.0 - mb) / (3.0 + nb), sv = mv * (1.0 - mv) / (3.0 + nv);
    out->prob_beat = hub_stat_normal_cdf((mv - mb) / sqrt(sv + sb));
    return 0;
}

/* ---- bandits --------------------------------------------------------------------------- */

/* xoshiro256** (Blackman and Vigna), with a cached second normal from the polar method. */
typedef struct rng {
    uint64_t s[4];
    double spare;
    int has_spare;
} rng;

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

/* Seeding through splitmix64 is what the xoshiro authors advise: it never yields the
 * all-zero state, whatever the seed (0 included). */
static void rng_seed(rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&seed);
    r->has_spare = 0;
    r->spare = 0.0;
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

/* Uniform in the open interval (0, 1): the +0.5 keeps log(u) finite. */
static double rng_uniform(rng *r)
{
    return ((double)(rng_next(r) >> 11) + 0.5) * 0x1.0p-53;
}

/* Standard normal by the Marsaglia polar method: only log and sqrt, no trigonometry. */
static double rng_normal(rng *r)
{
    if (r->has_spare) {
        r->has_spare = 0;
        return r->spare;
    }
    double u, v, s;
    do {
        u = 2.0 * rng_uniform(r) - 1.0;
        v = 2.0 * rng_uniform(r) - 1.0;
        s = u * u + v * v;
    } while (s >= 1.0 || s == 0.0);
    double f = sqrt(-2.0 * log(s) / s);
    r->spare = v * f;
    r->has_spare = 1;
    return u * f;
}

/* Gamma(shape, 1) by Marsaglia and Tsang (2000). Needs shape >= 1, which every Beta(1 + c,
 * 1 + n - c) parameter is, so the shape < 1 boost is not needed. */
static double rng_gamma(rng *r, double shape)
{
    double d = shape - 1.0 / 3.0;
    double cc = 1.0 / sqrt(9.0 * d);
    for (;;) {
        double x, v;
        do {
            x = rng_normal(r);
            v = 1.0 + cc * x;
        } while (v <= 0.0);
        v = v * v * v;
        double u = rng_uniform(r);
        if (u < 1.0 - 0.0331 * (x * x) * (x * x))
            return d * v;
        if (log(u) < 0.5 * x * x + d * (1.0 - v + log(v)))
            return d * v;
    }
}

static double rng_beta(rng *r, double a, double b)
{
    double x = rng_gamma(r, a);
    double y = rng_gamma(r, b);
    return x / (x + y);
}

/* Counts, in out[], the rounds each arm's posterior draw is the highest, as shares. */
static void thompson_shares(const uint64_t *n, const uint64_t *c, size_t k, unsigned draws,
                            uint64_t seed, double *out)
{
    rng r;
    rng_seed(&r, seed);
    for (size_t i = 0; i < k; i++)
        out[i] = 0.0;
    for (unsigned d = 0; d < draws; d++) {
        size_t best = 0;
        double best_v = -1.0;
        for (size_t i = 0; i < k; i++) {
            uint64_t ci = c[i] < n[i] ? c[i] : n[i];
            double v = rng_beta(&r, 1.0 + (double)ci, 1.0 + (double)(n[i] - ci));
            if (v > best_v) {
                best_v = v;
                best = i;
            }
        }
        out[best] += 1.0; /* exact: counts stay far below 2^53 */
    }
    for (size_t i = 0; i < k; i++)
        out[i] /= (double)draws;
}

/*
 * Raises arms below floor_share to it and scales the others so the sum stays 1. An arm at the
 * floor counts as raised: each pass that finds an arm below adds it to those, so k + 1 passes
 * always reach the fixpoint out_i = max(floor, lambda * share_i).
 */
static void apply_floor(double *out, size_t k, double floor_share)
{
    if (floor_share <= 0.0)
        return;
    for (size_t pass = 0; pass <= k; pass++) {
        double free_mass = 0.0;
        size_t raised = 0;
        int below = 0;
        for (size_t i = 0; i < k; i++) {
            if (out[i] < floor_share)
                below = 1;
            if (out[i] <= floor_share)
                raised++;
            else
                free_mass += out[i];
        }
        if (!below)
            return;
        /* free_mass > 0: had every arm been at or below the floor, floor * k >= 1, which the
         * caller turns into an equal split before getting here. */
        double scale = (1.0 - (double)raised * floor_share) / free_mass;
        for (size_t i = 0; i < k; i++)
            out[i] = out[i] <= floor_share ? floor_share : out[i] * scale;
    }
}

int hub_bandit_weights(const uint64_t *n, const uint64_t *c, size_t k, double floor_share,
                       unsigned draws, uint64_t seed, double *out)
{
    if (n == NULL || c == NULL || out == NULL || k == 0 || draws == 0)
        return HUB_EINVAL;
    if (!(floor_share >= 0.0) || floor_share * (double)k > 1.0 + 1e-9)
        return HUB_EINVAL;
    if (k == 1) {
        out[0] = 1.0;
        return 0;
    }
    /* A floor that takes all the traffic leaves nothing to sample for; within rounding of
     * that (1/3 * 3), split equally rather than scale by a negative remainder. */
    if (floor_share * (double)k >= 1.0 - 1e-12) {
        for (size_t i = 0; i < k; i++)
            out[i] = 1.0 / (double)k;
        return 0;
    }
    thompson_shares(n, c, k, draws, seed, out);
    apply_floor(out, k, floor_share);
    return 0;
}

/* ---- attribution ----------------------------------------------------------------------- */

static const struct {
    const char *name;
    hub_attr_model model;
} attr_names[] = {
    {"first_touch", HUB_ATTR_FIRST}, {"last_touch", HUB_ATTR_LAST},
    {"linear", HUB_ATTR_LINEAR},     {"time_decay", HUB_ATTR_TIME_DECAY},
    {"position", HUB_ATTR_POSITION},
};

int hub_attr_model_parse(const char *name, hub_attr_model *out)
{
    if (name == NULL || out == NULL)
        return HUB_EINVAL;
    for (size_t i = 0; i < sizeof(attr_names) / sizeof(attr_names[0]); i++) {
        if (strcmp(name, attr_names[i].name) == 0) {
            *out = attr_names[i].model;
            return 0;
        }
    }
    return HUB_EINVAL;
}

/* The weights are taken relative to the newest touch rather than to the conversion: the
 * common factor 2^(-(conversion - newest) / H) cancels in the normalization, and the newest
 * weight is then 1, so the sum cannot underflow to 0 however old the touches are. */
static void time_decay(const int64_t *touch_ms, size_t n, double half_life_days, double *out)
{
    double h_ms = half_life_days * 86400000.0;
    int64_t newest = touch_ms[n - 1];
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) {
        /* touch_ms[i] <= newest, so the unsigned difference is exact even where the signed
         * one would overflow. */
        double age = (double)((uint64_t)newest - (uint64_t)touch_ms[i]);
        out[i] = exp2(-age / h_ms);
        sum += out[i];
    }
    for (size_t i = 0; i < n; i++)
        out[i] /= sum;
}

static void position_based(size_t n, double *out)
{
    if (n <= 2) {
        for (size_t i = 0; i < n; i++)
            out[i] = 1.0 / (double)n;
        return;
    }
    out[0] = out[n - 1] = 0.4;
    for (size_t i = 1; i < n - 1; i++)
        out[i] = 0.2 / (double)(n - 2);
}

static int attr_check(hub_attr_model m, const int64_t *touch_ms, size_t n, int64_t conversion_ms,
                      double half_life_days)
{
    if (touch_ms == NULL || n == 0)
        return HUB_EINVAL;
    for (size_t i = 1; i < n; i++) {
        if (touch_ms[i] < touch_ms[i - 1])
            return HUB_EINVAL;
    }
    if (touch_ms[n - 1] > conversion_ms)
        return HUB_EINVAL;
    if (m == HUB_ATTR_TIME_DECAY && !(half_life_days > 0.0 && isfinite(half_life_days)))
        return HUB_EINVAL;
    return 0;
}

int hub_attr_credit(hub_attr_model m, const int64_t *touch_ms, size_t n, int64_t conversion_ms,
                    double half_life_days, double *out)
{
    if (out == NULL || attr_check(m, touch_ms, n, conversion_ms, half_life_days) != 0)
        return HUB_EINVAL;
    switch (m) {
    case HUB_ATTR_FIRST:
    case HUB_ATTR_LAST:
        for (size_t i = 0; i < n; i++)
            out[i] = 0.0;
        out[m == HUB_ATTR_FIRST ? 0 : n - 1] = 1.0;
        return 0;
    case HUB_ATTR_LINEAR:
        for (size_t i = 0; i < n; i++)
            out[i] = 1.0 / (double)n;
        return 0;
    case HUB_ATTR_TIME_DECAY:
        time_decay(touch_ms, n, half_life_days, out);
        return 0;
    case HUB_ATTR_POSITION:
        position_based(n, out);
        return 0;
    }
    return HUB_EINVAL; /* not a model: an out-of-range enum value */
}
