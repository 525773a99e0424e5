/*
 * delivery/policy.c: the retry schedule (full-jitter exponential backoff under a give-up
 * deadline) and the per-endpoint circuit breakers.
 *
 * The breakers live in one fixed table of HUB_BREAKERS_MAX entries, chained from a small hash
 * index, under one mutex: every call is a handful of comparisons, so a finer lock would buy
 * nothing. Only endpoints with something to remember (a failure, an open or half-open state)
 * have an entry; a success removes it, which keeps the table small in the common case.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "delivery/policy.h"

/* ---- retry schedule -------------------------------------------------------------------- */

/* a + b, saturated at the ends of int64_t instead of overflowing. */
static int64_t sat_add(int64_t a, int64_t b)
{
    if (b > 0 && a > INT64_MAX - b)
        return INT64_MAX;
    if (b < 0 && a < INT64_MIN - b)
        return INT64_MIN;
    return a + b;
}

void hub_retry_policy_default(hub_retry_policy *p)
{
    if (p == NULL)
        return;
    p->base_ms = HUB_RETRY_BASE_MS;
    p->max_ms = HUB_RETRY_MAX_MS;
    p->give_up_after_ms = HUB_RETRY_GIVE_UP_MS;
}

static int refuse(char *err, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int refuse(char *err, size_t cap, const char *fmt, ...)
{
    if (err != NULL && cap > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, cap, fmt, ap);
        va_end(ap);
    }
    return HUB_EINVAL;
}

int hub_retry_policy_check(const hub_retry_policy *p, char *err, size_t cap)
{
    if (err != NULL && cap > 0)
        err[0] = '\0';
    if (p == NULL)
        return refuse(err, cap, "delivery.retry: no policy given");
    if (p->base_ms < 1)
        return refuse(err, cap, "delivery.retry.base_ms must be at least 1 (got %" PRId64 ")",
                      p->base_ms);
    if (p->max_ms < p->base_ms)
        return refuse(err, cap,
                      "delivery.retry.max_ms must be at least delivery.retry.base_ms (%" PRId64
                      " < %" PRId64 ")",
                      p->max_ms, p->base_ms);
    if (p->give_up_after_ms < 0)
        return refuse(err, cap,
                      "delivery.retry.give_up_after_ms must be 0 or more (got %" PRId64 ")",
                      p->give_up_after_ms);
    return 0;
}

/* splitmix64 (Steele, Lea and Flood): a Weyl sequence through a 64-bit mixer. */
uint64_t hub_retry_rand(uint64_t *rng)
{
    if (rng == NULL)
        return 0;
    *rng += UINT64_C(0x9e3779b97f4a7c15);
    uint64_t z = *rng;
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

int64_t hub_retry_ceiling(const hub_retry_policy *p, uint32_t attempt)
{
    int64_t base = p != NULL ? p->base_ms : HUB_RETRY_BASE_MS;
    int64_t max = p != NULL ? p->max_ms : HUB_RETRY_MAX_MS;
    if (base < 1)
        base = 1;
    if (max < base)
        max = base;
    uint32_t shift = attempt > 1 ? attempt - 1 : 0;
    /* base << shift <= max exactly when base <= max >> shift; the shift cannot overflow then. */
    if (shift >= 63 || base > (max >> shift))
        return max;
    return base << shift;
}

/* A uniform integer in [0, ceiling] (ceiling >= 0), without modulo bias. */
static int64_t draw(uint64_t *rng, int64_t ceiling)
{
    if (rng == NULL)
        return ceiling;
    uint64_t n = (uint64_t)ceiling + 1;  /* at most 2^63, never 0 */
    uint64_t reject_below = (0 - n) % n; /* 2^64 mod n */
    uint64_t r = hub_retry_rand(rng);
    while (r < reject_below)
        r = hub_retry_rand(rng);
    return (int64_t)(r % n);
}

int64_t hub_retry_next(const hub_retry_policy *p, uint32_t attempt, int64_t first_ms,
                       int64_t now_ms, int64_t retry_after_ms, uint64_t *rng)
{
    int64_t give_up = p != NULL ? p->give_up_after_ms : HUB_RETRY_GIVE_UP_MS;
    if (give_up < 0)
        give_up = 0;
    int64_t deadline = sat_add(first_ms, give_up);
    int64_t delay = draw(rng, hub_retry_ceiling(p, attempt));
    if (retry_after_ms > delay)
        delay = retry_after_ms;
    int64_t next = sat_add(now_ms, delay);
    if (now_ms > deadline || next > deadline)
        return -1;
    return next < 0 ? 0 : next; /* a clock before 1970 is a bug; "now" is the safe answer */
}

/* ---- circuit breakers ------------------------------------------------------------------ */

enum { ST_FREE, ST_CLOSED, ST_OPEN, ST_PROBING };

#define NBUCKETS 2048 /* a power of two, twice HUB_BREAKERS_MAX */
#define NIL      (-1)

typedef struct entry {
    char key[HUB_BREAKER_ENDPOINT_MAX];
    int32_t next;      /* next in the bucket chain, or in the free list; NIL ends it */
    uint32_t hash;     /* of key */
    int state;         /* ST_* */
    uint32_t failures; /* consecutive transient failures while closed */
    int64_t open_len;  /* the last open time; doubles on each failed probe */
    int64_t until;     /* ST_OPEN: when it turns half-open */
    int64_t probe_at;  /* ST_PROBING: when the probe was let through */
    uint64_t used;     /* b->tick at the last admit or report, for eviction */
} entry;

struct hub_breakers {
    pthread_mutex_t mu;
    uint32_t threshold;
    int64_t open_ms;
    int64_t max_open_ms;
    uint64_t tick;
    size_t count;      /* entries in use */
    int32_t free_head; /* free entries, chained through next */
    int32_t buckets[NBUCKETS];
    entry entries[HUB_BREAKERS_MAX];
};

/* An endpoint name cut to the bytes that count, with its hash (FNV-1a). */
typedef struct key {
    char s[HUB_BREAKER_ENDPOINT_MAX];
    uint32_t hash;
} key;

static void key_make(const char *endpoint, key *k)
{
    size_t len = strnlen(endpoint, sizeof(k->s) - 1);
    memcpy(k->s, endpoint, len);
    k->s[len] = '\0';
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)k->s[i];
        h *= 16777619u;
    }
    k->hash = h;
}

int hub_breakers_new(uint32_t threshold, int64_t open_ms, int64_t max_open_ms, hub_breakers **out)
{
    if (out == NULL)
        return HUB_EINVAL;
    *out = NULL;
    if (threshold < 1 || open_ms < 1 || max_open_ms < open_ms)
        return HUB_EINVAL;
    hub_breakers *b = calloc(1, sizeof(*b));
    if (b == NULL)
        return HUB_ENOMEM;
    if (pthread_mutex_init(&b->mu, NULL) != 0) {
        free(b);
        return HUB_ENOMEM;
    }
    b->threshold = threshold;
    b->open_ms = open_ms;
    b->max_open_ms = max_open_ms;
    for (size_t i = 0; i < NBUCKETS; i++)
        b->buckets[i] = NIL;
    for (int32_t i = 0; i < HUB_BREAKERS_MAX; i++)
        b->entries[i].next = i + 1 < HUB_BREAKERS_MAX ? i + 1 : NIL;
    b->free_head = 0;
    *out = b;
    return 0;
}

void hub_breakers_free(hub_breakers *b)
{
    if (b == NULL)
        return;
    pthread_mutex_destroy(&b->mu);
    free(b);
}

/* The entry of k, or NIL. Under the lock. */
static int32_t find(const hub_breakers *b, const key *k)
{
    int32_t i = b->buckets[k->hash & (NBUCKETS - 1)];
    while (i != NIL) {
        const entry *e = &b->entries[i];
        if (e->hash == k->hash && strcmp(e->key, k->s) == 0)
            return i;
        i = e->next;
    }
    return NIL;
}

/* Forgets entry i: out of its chain, onto the free list. Under the lock. */
static void forget(hub_breakers *b, int32_t i)
{
    entry *e = &b->entries[i];
    int32_t *link = &b->buckets[e->hash & (NBUCKETS - 1)];
    while (*link != i)
        link = &b->entries[*link].next;
    *link = e->next;
    e->state = ST_FREE;
    e->next = b->free_head;
    b->free_head = i;
    b->count--;
}

/* When the table is full: the least recently used closed entry, else the least recently used.
 * Under the lock. */
static int32_t victim(const hub_breakers *b)
{
    int32_t closed = NIL, any = NIL;
    for (int32_t i = 0; i < HUB_BREAKERS_MAX; i++) {
        const entry *e = &b->entries[i];
        if (e->state == ST_FREE)
            continue;
        if (any == NIL || e->used < b->entries[any].used)
            any = i;
        if (e->state == ST_CLOSED && (closed == NIL || e->used < b->entries[closed].used))
            closed = i;
    }
    return closed != NIL ? closed : any;
}

/* A new closed entry for k, forgetting another when the table is full. Under the lock. */
static int32_t insert(hub_breakers *b, const key *k)
{
    if (b->free_head == NIL)
        forget(b, victim(b));
    int32_t i = b->free_head;
    entry *e = &b->entries[i];
    b->free_head = e->next;
    memcpy(e->key, k->s, sizeof(e->key));
    e->hash = k->hash;
    e->state = ST_CLOSED;
    e->failures = 0;
    e->open_len = 0;
    e->until = 0;
    e->probe_at = 0;
    int32_t *head = &b->buckets[k->hash & (NBUCKETS - 1)];
    e->next = *head;
    *head = i;
    b->count++;
    return i;
}

static void open_for(entry *e, int64_t len, int64_t now_ms)
{
    e->state = ST_OPEN;
    e->open_len = len;
    e->until = sat_add(now_ms, len);
    e->failures = 0;
}

int64_t hub_breaker_admit(hub_breakers *b, const char *endpoint, int64_t now_ms)
{
    if (b == NULL || endpoint == NULL)
        return 0;
    key k;
    key_make(endpoint, &k);
    int64_t again = 0;
    pthread_mutex_lock(&b->mu);
    int32_t i = find(b, &k);
    if (i != NIL) {
        entry *e = &b->entries[i];
        e->used = ++b->tick;
        if (e->state == ST_OPEN) {
            if (now_ms < e->until) {
                again = e->until;
            } else {
                e->state = ST_PROBING; /* this caller is the probe */
                e->probe_at = now_ms;
            }
        } else if (e->state == ST_PROBING) {
            int64_t lost_at = sat_add(e->probe_at, b->open_ms);
            if (now_ms < lost_at)
                again = lost_at;
            else
                e->probe_at = now_ms; /* the last probe never reported: this one replaces it */
        }
    }
    pthread_mutex_unlock(&b->mu);
    return again != 0 && again < 1 ? 1 : again; /* never 0 ("go ahead") by accident */
}

/* A transient failure on entry e. Under the lock. */
static void failed(hub_breakers *b, entry *e, int64_t now_ms)
{
    if (e->state == ST_CLOSED) {
        if (e->failures < UINT32_MAX)
            e->failures++;
        if (e->failures >= b->threshold)
            open_for(e, b->open_ms, now_ms);
    } else if (e->state == ST_PROBING) {
        int64_t len = e->open_len > b->max_open_ms / 2 ? b->max_open_ms : e->open_len * 2;
        open_for(e, len, now_ms);
    }
    /* ST_OPEN: an attempt let through before the breaker opened; nothing new to learn. */
}

void hub_breaker_report(hub_breakers *b, const char *endpoint, int outcome, int64_t now_ms)
{
    if (b == NULL || endpoint == NULL)
        return;
    if (outcome != HUB_BREAKER_OK && outcome != HUB_BREAKER_TRANSIENT &&
        outcome != HUB_BREAKER_PERMANENT)
        return;
    key k;
    key_make(endpoint, &k);
    pthread_mutex_lock(&b->mu);
    int32_t i = find(b, &k);
    if (outcome != HUB_BREAKER_TRANSIENT) {
        if (i != NIL)
            forget(b, i); /* alive: closed with no count is the same as not tracked */
    } else {
        if (i == NIL)
            i = insert(b, &k);
        entry *e = &b->entries[i];
        e->used = ++b->tick;
        failed(b, e, now_ms);
    }
    pthread_mutex_unlock(&b->mu);
}

size_t hub_breakers_open_count(hub_breakers *b, int64_t now_ms)
{
    if (b == NULL)
        return 0;
    size_t n = 0;
    pthread_mutex_lock(&b->mu);
    for (size_t i = 0; i < HUB_BREAKERS_MAX; i++) {
        const entry *e = &b->entries[i];
        if (e->state == ST_OPEN && now_ms < e->until)
            n++;
    }
    pthread_mutex_unlock(&b->mu);
    return n;
}

size_t hub_breakers_tracked(hub_breakers *b)
{
    if (b == NULL)
        return 0;
    pthread_mutex_lock(&b->mu);
    size_t n = b->count;
    pthread_mutex_unlock(&b->mu);
    return n;
}

const char *hub_breaker_state(hub_breakers *b, const char *endpoint, int64_t now_ms)
{
    if (b == NULL || endpoint == NULL)
        return "closed";
    key k;
    key_make(endpoint, &k);
    const char *word = "closed";
    pthread_mutex_lock(&b->mu);
    int32_t i = find(b, &k);
    if (i != NIL) {
        const entry *e = &b->entries[i];
        if (e->state == ST_OPEN)
            word = now_ms < e->until ? "open" : "half-open";
        else if (e->state == ST_PROBING)
            word = "half-open";
    }
    pthread_mutex_unlock(&b->mu);
    return word;
}
