/*
 * app/scheduler.c: the thread that fires scheduled publishes and unpublishes
 * (core/content/schedule.c) through the writer, at most a second late.
 *
 * An entry fires in the transaction that runs its action, so it fires exactly once, also
 * across restarts (an entry that fell due while the server was down fires at start-up). An
 * action that fails (the draft no longer validates, the item was deleted) is dropped with an
 * audit record giving the reason, rather than retried forever.
 *
 * The same thread keeps the analytics in shape: it re-weights the bandit items every
 * analytics.bandit_interval_s, and hourly deletes the events older than the retention period
 * (in slices, so that one transaction never grows large).
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "app/app.h"

#define IDLE_MS        1000
#define PRUNE_EVERY_MS (3600 * 1000LL)
#define PRUNE_SLICE    10000

struct hub_scheduler {
    hub_store *store;
    hub_content_ctx cx; /* schemas and the publish check; the actor comes with each entry */
    hub_analytics_config an;
    int64_t next_reweight, next_prune; /* monotonic ms */
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stopping;
};

typedef struct fire_arg {
    const hub_scheduler *s;
    hub_buf key;
    json_t *done;
    hub_error err;
} fire_arg;

static int fire_fn(hub_txn *txn, void *arg)
{
    fire_arg *a = arg;
    return hub_schedule_fire(txn, &a->s->cx, (hub_slice){a->key.data, a->key.len}, &a->done,
                             &a->err);
}

static int drop_fn(hub_txn *txn, void *arg)
{
    fire_arg *a = arg;
    char reason[400];
    if (a->err.problems.count > 0)
        snprintf(reason, sizeof(reason), "%s: %s %s", a->err.message, a->err.problems.items[0].path,
                 a->err.problems.items[0].message);
    else
        snprintf(reason, sizeof(reason), "%s", a->err.message);
    return hub_schedule_drop(txn, (hub_slice){a->key.data, a->key.len}, reason);
}

/* Fires the entry in a->key; 0 when it was handled (fired, dropped or gone). */
static int fire_one(hub_scheduler *s, fire_arg *a)
{
    int rc = hub_store_write(s->store, fire_fn, a);
    if (rc == 0) {
        HUB_LOG_INFO("scheduler: %s of %s (by %s) done, version %lld",
                     json_string_value(json_object_get(a->done, "action")),
                     json_string_value(json_object_get(a->done, "key")),
                     json_string_value(json_object_get(a->done, "by")),
                     (long long)json_integer_value(json_object_get(a->done, "version")));
        return 0;
    }
    if (a->err.code == 0)
        return rc == HUB_ENOTFOUND ? 0 : rc; /* gone meanwhile, or the store failed */
    HUB_LOG_WARN("scheduler: a scheduled action failed and is dropped: %s", a->err.message);
    return hub_store_write(s->store, drop_fn, a);
}

static int sleep_ms(hub_scheduler *s, int64_t ms)
{
    struct timespec ts;
    hub_mono_deadline(ms, &ts);
    pthread_mutex_lock(&s->mu);
    if (!s->stopping)
        pthread_cond_timedwait(&s->cv, &s->mu, &ts);
    int stop = s->stopping;
    pthread_mutex_unlock(&s->mu);
    return stop;
}

static int reweight_fn(hub_txn *txn, void *arg)
{
    const hub_scheduler *s = arg;
    size_t n = 0;
    int rc = hub_analytics_reweight(txn, &s->an, hub_now_ms(), &n);
    if (rc == 0 && n > 0)
        HUB_LOG_INFO("scheduler: re-weighted %zu bandit item(s)", n);
    return rc;
}

typedef struct prune_arg {
    int retention_days;
    int more;
} prune_arg;

static int prune_fn(hub_txn *txn, void *arg)
{
    prune_arg *p = arg;
    return hub_analytics_prune(txn, p->retention_days, hub_now_ms(), PRUNE_SLICE, &p->more);
}

/* The periodic analytics work that is due. */
static void analytics_work(hub_scheduler *s)
{
    int64_t now = hub_mono_ms();
    if (now >= s->next_reweight) {
        int rc = hub_store_write(s->store, reweight_fn, s);
        if (rc != 0)
            HUB_LOG_WARN("scheduler: re-weighting bandits failed: %s", hub_strerror(rc));
        s->next_reweight = now + s->an.bandit_interval_ms;
    }
    if (now >= s->next_prune) {
        prune_arg p = {s->an.retention_days, 1};
        int rc = 0;
        for (int i = 0; rc == 0 && p.more && i < 100; i++)
            rc = hub_store_write(s->store, prune_fn, &p);
        if (rc != 0)
            HUB_LOG_WARN("scheduler: deleting old events failed: %s", hub_strerror(rc));
        s->next_prune = now + PRUNE_EVERY_MS;
    }
}

static void *scheduler_main(void *arg)
{
    hub_scheduler *s = arg;
    hub_thread_name("oh-scheduler");
    fire_arg a = {.s = s};
    hub_buf_init(&a.key, 4096);
    for (;;) {
        hub_txn *txn = NULL;
        int64_t now = hub_now_ms(), next = -1;
        int rc = hub_store_read(s->store, &txn);
        if (rc == 0)
            rc = hub_schedule_next(txn, now, &a.key, &next);
        hub_txn_end(txn);
        if (rc == 0) {
            hub_error_init(&a.err);
            a.done = NULL;
            rc = fire_one(s, &a);
            json_decref(a.done);
            hub_error_clear(&a.err);
            if (rc == 0)
                continue; /* the next one may be due as well */
        }
        analytics_work(s);
        int64_t wait = next > now && next - now < IDLE_MS ? next - now : IDLE_MS;
        if (sleep_ms(s, wait))
            break;
    }
    hub_buf_free(&a.key);
    return NULL;
}

int hub_scheduler_start(hub_store *store, const hub_content_ctx *cx, const hub_analytics_config *an,
                        hub_scheduler **out, hub_error *err)
{
    hub_scheduler *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return hub_error_set(err, HUB_ENOMEM, "out of memory");
    s->store = store;
    s->cx = *cx;
    s->an = *an;
    s->next_reweight = hub_mono_ms() + an->bandit_interval_ms;
    s->next_prune = hub_mono_ms(); /* at start-up, then hourly */
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, &ca);
    pthread_condattr_destroy(&ca);
    int rc = pthread_create(&s->thread, NULL, scheduler_main, s);
    if (rc != 0) {
        pthread_cond_destroy(&s->cv);
        pthread_mutex_destroy(&s->mu);
        free(s);
        return hub_error_set(err, HUB_EIO, "scheduler: cannot start a thread: %s", strerror(rc));
    }
    *out = s;
    return 0;
}

void hub_scheduler_stop(hub_scheduler *s)
{
    if (s == NULL)
        return;
    pthread_mutex_lock(&s->mu);
    s->stopping = 1;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s);
}
