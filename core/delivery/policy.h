/*
 * delivery/policy: when to try a failed delivery again, and when to stop sending to an
 * endpoint that keeps failing. Pure logic: no I/O, no clock of its own (every time is passed
 * in, in ms since the epoch), so the queue, the transports and the tests drive it alike.
 *
 * Retry schedule: exponential backoff with full jitter, a lower bound from Retry-After, and a
 * give-up deadline counted from the first attempt. Reentrant; the random state belongs to the
 * caller (one per thread or per job).
 *
 * Circuit breakers: one per endpoint ("scheme://host:port"), closed -> open after `threshold`
 * consecutive transient failures -> half-open after the open time, when exactly one probe is let
 * through; the probe's outcome closes it or opens it again for twice as long (up to a cap).
 * A hub_breakers is thread-safe: any thread may call any function on it at once, except
 * hub_breakers_free.
 */
#ifndef HUB_DELIVERY_POLICY_H
#define HUB_DELIVERY_POLICY_H

#include "base/base.h"

/* ---- retry schedule -------------------------------------------------------------------- */

typedef struct hub_retry_policy {
    int64_t base_ms;          /* first backoff ceiling, e.g. 30000 */
    int64_t max_ms;           /* cap on one backoff, e.g. 900000 */
    int64_t give_up_after_ms; /* since the first attempt, e.g. 86400000 */
} hub_retry_policy;

#define HUB_RETRY_BASE_MS    30000
#define HUB_RETRY_MAX_MS     900000
#define HUB_RETRY_GIVE_UP_MS 86400000

/* Sets the defaults: 30000 / 900000 / 86400000 (30 s, 15 min, one day). */
void hub_retry_policy_default(hub_retry_policy *p);

/*
 * Checks configuration values: base_ms >= 1, max_ms >= base_ms, give_up_after_ms >= 0.
 * 0, or HUB_EINVAL with a one-line reason naming the key ("delivery.retry.max_ms ...") in err
 * (truncated to cap, always NUL-terminated; err may be NULL). On success err is "".
 */
int hub_retry_policy_check(const hub_retry_policy *p, char *err, size_t cap);

/*
 * A small seedable generator (splitmix64): advances *rng and returns the next 64 random bits.
 * Any seed is fine, 0 included. Not for secrets. Returns 0 when rng is NULL.
 */
uint64_t hub_retry_rand(uint64_t *rng);

/*
 * The backoff ceiling after failed attempt `attempt`: min(max_ms, base_ms * 2^(attempt-1)),
 * computed without overflow for any attempt. Attempt 0 counts as 1. Values that
 * hub_retry_policy_check refuses are clamped (base_ms to at least 1, max_ms to at least
 * base_ms); p NULL uses the defaults.
 */
int64_t hub_retry_ceiling(const hub_retry_policy *p, uint32_t attempt);

/*
 * After failed attempt number `attempt` (1 = the first attempt failed) at now_ms of a job first
 * tried at first_ms: the time of the next attempt, or -1 when the job should be dead-lettered
 * (the next attempt would fall after first_ms + give_up_after_ms; exactly at it is allowed).
 *
 * delay = a uniform integer in [0, hub_retry_ceiling(p, attempt)], drawn from *rng (rng NULL:
 * no jitter, the ceiling itself). retry_after_ms > 0 (what the far side asked for) is a lower
 * bound: delay = max(delay, retry_after_ms); a Retry-After past the deadline means dead.
 * No overflow for any input; a negative give_up_after_ms counts as 0.
 */
int64_t hub_retry_next(const hub_retry_policy *p, uint32_t attempt, int64_t first_ms,
                       int64_t now_ms, int64_t retry_after_ms, uint64_t *rng);

/* ---- circuit breakers ------------------------------------------------------------------ */

/* Outcomes for hub_breaker_report. */
#define HUB_BREAKER_OK        0 /* the attempt succeeded: closes the breaker, resets counts */
#define HUB_BREAKER_TRANSIENT 1 /* no answer or a transient refusal: counts toward opening */
#define HUB_BREAKER_PERMANENT 2 /* the far side answered with a refusal: alive, like OK */

/* Endpoints tracked at most; past it the least recently used closed one is forgotten (or, when
 * all are open, the least recently used of all). */
#define HUB_BREAKERS_MAX 1024
/* Bytes of an endpoint name that count (with the NUL); longer names share one breaker with
 * every name of the same first HUB_BREAKER_ENDPOINT_MAX - 1 bytes. scheme://host:port fits. */
#define HUB_BREAKER_ENDPOINT_MAX 288

typedef struct hub_breakers hub_breakers;

/*
 * New set of breakers. threshold: consecutive transient failures that open a breaker (>= 1,
 * e.g. 5). open_ms: how long it stays open the first time (>= 1, e.g. 30000), doubling on each
 * failed probe up to max_open_ms (>= open_ms). 0, HUB_EINVAL (a value out of range, out NULL)
 * or HUB_ENOMEM. *out is owned by the caller: hub_breakers_free.
 */
int hub_breakers_new(uint32_t threshold, int64_t open_ms, int64_t max_open_ms, hub_breakers **out);

/* Frees b (NULL-safe). No other thread may be using it. */
void hub_breakers_free(hub_breakers *b);

/*
 * May the caller try `endpoint` now? 0: go ahead (closed, or this caller is the one probe of a
 * half-open breaker). Otherwise the time (ms, > 0) when the caller may try again: the end of
 * the open time, or, while a probe is out, when that probe counts as lost.
 * Only one probe is let through until it reports; a probe that has not reported open_ms after
 * it was let through counts as lost, and the next caller becomes the probe.
 * b or endpoint NULL: 0.
 */
int64_t hub_breaker_admit(hub_breakers *b, const char *endpoint, int64_t now_ms);

/*
 * The outcome (HUB_BREAKER_*) of an attempt that hub_breaker_admit let through.
 * OK and PERMANENT close the breaker whatever its state. TRANSIENT counts while closed and
 * opens it at the threshold; while a probe is out it is the probe failing, and the breaker
 * opens again for twice its last open time (up to max_open_ms); while open (an attempt let
 * through before it opened) it changes nothing. Unknown outcomes and NULL arguments are
 * ignored.
 */
void hub_breaker_report(hub_breakers *b, const char *endpoint, int outcome, int64_t now_ms);

/* For /metrics and tests: endpoints open at now_ms (not half-open, with or without a probe). */
size_t hub_breakers_open_count(hub_breakers *b, int64_t now_ms);

/* Endpoints remembered right now (never more than HUB_BREAKERS_MAX). Closed endpoints with no
 * failure to remember are not kept. */
size_t hub_breakers_tracked(hub_breakers *b);

/*
 * The state of one endpoint at now_ms: "closed", "open" or "half-open" (the open time is over,
 * whether or not a probe is out). Unknown endpoints and NULL arguments are "closed". Static
 * string.
 */
const char *hub_breaker_state(hub_breakers *b, const char *endpoint, int64_t now_ms);

#endif
