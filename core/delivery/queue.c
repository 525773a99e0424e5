/*
 * delivery/queue.c: the threads that deliver what is queued.
 *
 * A dispatcher reads the due index (HUB_DB_JOB_DUE) in a short read transaction and hands
 * the ids of jobs that are due, and not already held, to the workers through a ring. A worker
 * loads the job, calls the channel plugin's deliver(), and submits the outcome to the writer
 * without waiting; the job stays held ("sending") until that outcome is committed, so it is
 * never handed out twice at once. A crash before the commit leaves the job due as it was: it
 * is delivered again after the restart with the same message id (at least once).
 *
 * Every minute the dispatcher also sweeps expired idempotency records and old finished jobs.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "delivery/internal.h"

#define HELD_MAX       HUB_QUEUE_HELD_MAX /* jobs held by workers or waiting in the ring */
#define HELD_SLOTS     (4 * HELD_MAX)     /* a power of two, at most a quarter full */
#define SCAN_MAX       256                /* due entries looked at per scan */
#define IDLE_WAIT_MS   1000
#define SWEEP_EVERY_MS 60000
#define SWEEP_MAX      2000
#define KEEP_DEFAULT   (7LL * 86400 * 1000)
#define WORKERS_MAX    256

struct hub_queue {
    hub_queue_config cfg;
    pthread_mutex_t mu;
    pthread_cond_t work_cv; /* workers: the ring has ids, or stopping */
    pthread_cond_t kick_cv; /* dispatcher: new jobs, a settled outcome, or stopping */
    pthread_cond_t idle_cv; /* stop: every outcome settled */
    int stopping, kicked;
    uint64_t held[HELD_SLOTS]; /* ids held (0: free slot), a hash set */
    size_t nheld;
    uint64_t ring[HELD_MAX];
    size_t ring_head, ring_len;
    size_t pending_ops; /* outcomes submitted, not yet settled */
    uint64_t rng;       /* seeds of the jitter, under mu */
    pthread_t dispatcher;
    pthread_t workers[WORKERS_MAX];
    unsigned nworkers;
    atomic_uint_fast64_t n_attempts, n_delivered, n_retried, n_dead;
};

typedef struct outcome_op {
    hub_write_op op;
    hub_job_outcome o;
    hub_queue *q;
} outcome_op;

static int64_t now_of(const hub_queue *q)
{
    return q->cfg.now_ms != NULL ? q->cfg.now_ms() : hub_now_ms();
}

/* ---- the held set (under mu): open addressing, linear probing, ids are never 0 ------------- */

static size_t held_slot(uint64_t id)
{
    return (size_t)((id * 0x9E3779B97F4A7C15ULL) >> 40) & (HELD_SLOTS - 1);
}

static int held_has(const hub_queue *q, uint64_t id)
{
    for (size_t i = held_slot(id); q->held[i] != 0; i = (i + 1) & (HELD_SLOTS - 1))
        if (q->held[i] == id)
            return 1;
    return 0;
}

static void held_add(hub_queue *q, uint64_t id)
{
    size_t i = held_slot(id);
    while (q->held[i] != 0 && q->held[i] != id)
        i = (i + 1) & (HELD_SLOTS - 1);
    if (q->held[i] == 0) {
        q->held[i] = id;
        q->nheld++;
    }
}

/* Removes id and shifts back the entries of its probe run that it displaced. */
static void held_remove(hub_queue *q, uint64_t id)
{
    size_t i = held_slot(id);
    while (q->held[i] != 0 && q->held[i] != id)
        i = (i + 1) & (HELD_SLOTS - 1);
    if (q->held[i] == 0)
        return;
    q->held[i] = 0;
    q->nheld--;
    for (size_t j = (i + 1) & (HELD_SLOTS - 1); q->held[j] != 0; j = (j + 1) & (HELD_SLOTS - 1)) {
        size_t home = held_slot(q->held[j]);
        /* Move j back into the hole at i unless its home lies cyclically in (i, j]. */
        int stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (!stays) {
            q->held[i] = q->held[j];
            q->held[j] = 0;
            i = j;
        }
    }
}

int hub_queue_sending(hub_queue *q, uint64_t id)
{
    if (q == NULL)
        return 0;
    pthread_mutex_lock(&q->mu);
    int h = held_has(q, id);
    pthread_mutex_unlock(&q->mu);
    return h;
}

static int cmp_id(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

size_t hub_queue_held(hub_queue *q, uint64_t *out, size_t cap)
{
    size_t n = 0;
    if (q == NULL)
        return 0;
    pthread_mutex_lock(&q->mu);
    for (size_t i = 0; i < HELD_SLOTS && n < cap; i++)
        if (q->held[i] != 0)
            out[n++] = q->held[i];
    pthread_mutex_unlock(&q->mu);
    qsort(out, n, sizeof(*out), cmp_id);
    return n;
}

static void kick_on_commit(void *q)
{
    hub_queue_kick(q);
}

void hub_queue_kick(hub_queue *q)
{
    if (q == NULL)
        return;
    pthread_mutex_lock(&q->mu);
    q->kicked = 1;
    pthread_cond_signal(&q->kick_cv);
    pthread_mutex_unlock(&q->mu);
}

/* ---- workers -------------------------------------------------------------------------------- */

static void outcome_done(hub_write_op *op)
{
    outcome_op *w = (outcome_op *)op;
    hub_queue *q = w->q;
    if (op->result != 0)
        HUB_LOG_WARN("delivery %llu: the outcome was not stored (%s); it will be retried",
                     (unsigned long long)w->o.id, hub_strerror(op->result));
    pthread_mutex_lock(&q->mu);
    held_remove(q, w->o.id);
    q->pending_ops--;
    q->kicked = 1;
    pthread_cond_signal(&q->kick_cv);
    if (q->pending_ops == 0)
        pthread_cond_broadcast(&q->idle_cv);
    pthread_mutex_unlock(&q->mu);
    hub_job_settle_release(&w->o);
    free(w);
}

static int settle_fn(hub_txn *txn, void *arg)
{
    return hub_job_settle(txn, &((outcome_op *)arg)->o);
}

/* Loads job id: its record text (copied into *seen, parsed into *rec) and its artifact
 * (copied into *body), in one read transaction. */
static int load_job(hub_queue *q, uint64_t id, hub_buf *seen, json_t **rec, hub_buf *body)
{
    hub_txn *txn = NULL;
    hub_slice r, b;
    int rc = hub_store_read(q->cfg.store, &txn);
    if (rc == 0 && (rc = hub_job_record(txn, id, &r)) == 0)
        rc = hub_buf_append(seen, r.base, r.len);
    if (rc == 0 && (rc = hub_job_body(txn, id, &b)) == 0)
        rc = hub_buf_append(body, b.base, b.len);
    hub_txn_end(txn);
    if (rc == 0 && (*rec = json_loadb(seen->data, seen->len, 0, NULL)) == NULL)
        rc = HUB_EIO;
    return rc;
}

/* One attempt of a webhook event: POSTs it, signed now, to the webhook's current URL. */
static int send_event(hub_queue *q, const char *hook, const hub_deliver_in *in, char *err,
                      size_t errcap, int64_t *retry_after_ms)
{
    hub_txn *txn = NULL;
    json_t *rec = NULL;
    char sig[HUB_WEBHOOK_SIG_MAX];
    int rc = hub_store_read(q->cfg.store, &txn);
    if (rc == 0)
        rc = hub_webhook_load(txn, hook, &rec);
    hub_txn_end(txn);
    if (rc == HUB_ENOTFOUND)
        return snprintf(err, errcap, "webhook %s was deleted", hook), HUB_DELIVER_FAIL;
    const char *secret = json_string_value(json_object_get(rec, "secret"));
    const char *url = json_string_value(json_object_get(rec, "url"));
    if (rc != 0 || secret == NULL || url == NULL || q->cfg.services == NULL ||
        hub_webhook_sign(secret, in->message_id, hub_now_ms() / 1000,
                         (hub_slice){(char *)in->artifact.ptr, in->artifact.len}, sig) != 0) {
        json_decref(rec);
        return snprintf(err, errcap, "webhook %s cannot be read or signed", hook),
               HUB_DELIVER_RETRY;
    }
    const hub_http_header h[] = {{"Content-Type", "application/json"},
                                 {"Omnihub-Event-Id", in->message_id},
                                 {"Idempotency-Key", in->message_id},
                                 {"Omnihub-Signature", sig}};
    hub_http_request req = {sizeof(req), 4, "POST", url, h, in->artifact, 0, 0};
    hub_http_response res = {sizeof(res), 0, NULL, 0};
    rc = hub_transport_http(&q->cfg.services->transport, &req, &res, err, errcap);
    *retry_after_ms = res.retry_after_ms;
    json_decref(rec);
    return rc;
}

static void attempt(hub_queue *q, uint64_t id)
{
    json_t *rec = NULL;
    hub_buf seen, body;
    hub_buf_init(&seen, SIZE_MAX);
    hub_buf_init(&body, SIZE_MAX);
    outcome_op *w = calloc(1, sizeof(*w));
    int rc = w != NULL ? load_job(q, id, &seen, &rec, &body) : HUB_ENOMEM;
    const char *st = json_string_value(json_object_get(rec, "status"));
    if (rc != 0 || st == NULL || (strcmp(st, "queued") != 0 && strcmp(st, "failed") != 0)) {
        /* Gone, settled meanwhile, or unreadable: let go; the due index decides again. */
        pthread_mutex_lock(&q->mu);
        held_remove(q, id);
        pthread_mutex_unlock(&q->mu);
        json_decref(rec);
        hub_buf_free(&seen);
        hub_buf_free(&body);
        free(w);
        return;
    }
    const char *ch = json_string_value(json_object_get(rec, "channel"));
    const char *hook = json_string_value(json_object_get(rec, "webhook"));
    const hub_channel *c = hook == NULL ? hub_plugins_find(q->cfg.plugins, ch, strlen(ch)) : NULL;
    uint32_t n = (uint32_t)json_integer_value(json_object_get(rec, "attempts")) + 1;
    hub_deliver_in in = {sizeof(in),
                         n,
                         {body.data, body.len},
                         json_object_get(rec, "recipient"),
                         json_string_value(json_object_get(rec, "message_id"))};
    w->o.id = id;
    w->o.attempt = n;
    w->o.started_ms = now_of(q);
    w->o.policy = &q->cfg.retry;
    if (hook != NULL) {
        w->o.result =
            send_event(q, hook, &in, w->o.error, sizeof(w->o.error), &w->o.retry_after_ms);
    } else if (c == NULL) {
        w->o.result = HUB_DELIVER_FAIL;
        snprintf(w->o.error, sizeof(w->o.error), "channel %.64s is not loaded", ch);
    } else {
        w->o.result =
            hub_channel_deliver(c, &in, w->o.error, sizeof(w->o.error), &w->o.retry_after_ms);
    }
    w->o.error[sizeof(w->o.error) - 1] = '\0';
    hub_utf8_scrub(w->o.error); /* a plugin's or a server's words, cut to the buffer: JSON text */
    w->o.now_ms = now_of(q);
    atomic_fetch_add(&q->n_attempts, 1);
    atomic_fetch_add(w->o.result == HUB_DELIVER_OK      ? &q->n_delivered
                     : w->o.result == HUB_DELIVER_RETRY ? &q->n_retried
                                                        : &q->n_dead,
                     1);
    hub_buf_free(&body);
    w->q = q;
    w->op.fn = settle_fn;
    w->op.arg = w;
    w->op.done = outcome_done;
    /* Durable once journaled; outcome_done lets go of the job only when the dispatcher,
     * which reads committed jobs, can see the outcome. */
    w->op.durability = HUB_WRITE_LAZY;
    pthread_mutex_lock(&q->mu);
    w->o.rng_seed = hub_retry_rand(&q->rng);
    q->pending_ops++;
    pthread_mutex_unlock(&q->mu);
    /* The new record is worked out here, from what was read, so the writer has only to
     * compare and store it. */
    hub_job_settle_prepare(&w->o, &seen, rec);
    hub_store_submit(q->cfg.store, &w->op);
}

static void *worker_main(void *arg)
{
    hub_queue *q = arg;
    hub_thread_name("oh-deliver");
    for (;;) {
        pthread_mutex_lock(&q->mu);
        while (!q->stopping && q->ring_len == 0)
            pthread_cond_wait(&q->work_cv, &q->mu);
        if (q->stopping) {
            pthread_mutex_unlock(&q->mu);
            break;
        }
        uint64_t id = q->ring[q->ring_head];
        q->ring_head = (q->ring_head + 1) % HELD_MAX;
        q->ring_len--;
        pthread_mutex_unlock(&q->mu);
        attempt(q, id);
    }
    hub_transport_thread_end();
    return NULL;
}

/* ---- dispatcher ----------------------------------------------------------------------------- */

/* Hands due jobs to the workers. Returns when to look again (ms): at once when it handed some
 * out and may have left more; when the next job falls due; or -1 (wait for a kick, a settled
 * outcome or a new job, or a second). */
static int64_t dispatch(hub_queue *q, int64_t now)
{
    hub_txn *txn = NULL;
    hub_cursor *c = NULL;
    hub_slice k, v;
    int64_t next = -1;
    size_t looked = 0, handed = 0;
    if (hub_store_read(q->cfg.store, &txn) != 0)
        return now + IDLE_WAIT_MS;
    int rc = hub_cursor_open(txn, HUB_DB_JOB_DUE, &c);
    for (rc = rc == 0 ? hub_cursor_seek(c, (hub_slice){"", 0}, &k, &v) : rc;
         rc == 0 && looked < SCAN_MAX; rc = hub_cursor_next(c, &k, &v), looked++) {
        if (k.len != 16)
            continue;
        int64_t due = (int64_t)hub_be64_get((const unsigned char *)k.base);
        uint64_t id = hub_be64_get((const unsigned char *)k.base + 8);
        if (due > now) {
            next = due;
            break;
        }
        pthread_mutex_lock(&q->mu);
        int full = q->nheld >= HELD_MAX;
        if (!full && !held_has(q, id)) {
            held_add(q, id);
            handed++;
            q->ring[(q->ring_head + q->ring_len) % HELD_MAX] = id;
            q->ring_len++;
            pthread_cond_signal(&q->work_cv);
        }
        pthread_mutex_unlock(&q->mu);
        if (full)
            break; /* a settled outcome kicks the next scan */
    }
    hub_cursor_close(c);
    hub_txn_end(txn);
    return looked >= SCAN_MAX && handed > 0 ? now : looked >= SCAN_MAX ? -1 : next;
}

typedef struct sweep_arg {
    int64_t now, keep;
    size_t removed;
} sweep_arg;

static int sweep_fn(hub_txn *txn, void *arg)
{
    sweep_arg *a = arg;
    return hub_jobs_sweep(txn, a->now, a->keep, SWEEP_MAX, &a->removed);
}

static void wait_until(hub_queue *q, int64_t ms)
{
    struct timespec ts;
    hub_mono_deadline(ms, &ts);
    pthread_mutex_lock(&q->mu);
    if (!q->kicked && !q->stopping)
        pthread_cond_timedwait(&q->kick_cv, &q->mu, &ts);
    q->kicked = 0;
    pthread_mutex_unlock(&q->mu);
}

typedef struct due_arg {
    int64_t now;
    size_t moved;
} due_arg;

static int due_fn(hub_txn *txn, void *arg)
{
    due_arg *a = arg;
    return hub_jobs_due_now(txn, a->now, 10000, &a->moved);
}

/* A restart is a fresh start: what waited for a later attempt (a breaker that is gone now, a
 * backoff) is due at once; the breakers decide again. */
static int due_now_all(hub_queue *q)
{
    size_t total = 0;
    due_arg a = {now_of(q), 0};
    int rc;
    do {
        rc = hub_store_write(q->cfg.store, due_fn, &a);
        total += a.moved;
    } while (rc == 0 && a.moved == 10000);
    if (total > 0)
        HUB_LOG_INFO("delivery: %zu waiting jobs are due now", total);
    return rc;
}

static void *dispatcher_main(void *arg)
{
    hub_queue *q = arg;
    hub_thread_name("oh-dispatch");
    int64_t last_sweep = 0;
    /* Here rather than in hub_queue_start: however many jobs wait, start-up does not. */
    if (due_now_all(q) != 0)
        HUB_LOG_WARN("delivery: cannot make the waiting jobs due now; they keep their times");
    for (;;) {
        pthread_mutex_lock(&q->mu);
        int stop = q->stopping;
        pthread_mutex_unlock(&q->mu);
        if (stop)
            break;
        int64_t now = now_of(q);
        if (now - last_sweep >= SWEEP_EVERY_MS) {
            sweep_arg a = {now, q->cfg.keep_ms, 0};
            if (hub_store_write(q->cfg.store, sweep_fn, &a) == 0 && a.removed > 0)
                HUB_LOG_INFO("delivery: swept %zu old records", a.removed);
            last_sweep = now;
        }
        int64_t next = dispatch(q, now);
        int64_t wait = next < 0 ? IDLE_WAIT_MS : next - now_of(q);
        if (wait > IDLE_WAIT_MS)
            wait = IDLE_WAIT_MS; /* a test clock may jump; look again at least every second */
        if (wait > 0)
            wait_until(q, wait);
    }
    return NULL;
}

/* ---- life ----------------------------------------------------------------------------------- */

int hub_queue_start(const hub_queue_config *cfg, hub_queue **out, hub_error *err)
{
    char why[160];
    hub_queue *q = calloc(1, sizeof(*q));
    if (q == NULL)
        return hub_error_set(err, HUB_ENOMEM, "out of memory");
    q->cfg = *cfg;
    if (q->cfg.workers == 0)
        q->cfg.workers = 4;
    if (q->cfg.keep_ms <= 0)
        q->cfg.keep_ms = KEEP_DEFAULT;
    if (q->cfg.workers > WORKERS_MAX || hub_retry_policy_check(&q->cfg.retry, why, sizeof(why))) {
        free(q);
        return hub_error_set(err, HUB_EINVAL, "%s",
                             cfg->workers > WORKERS_MAX ? "delivery.workers: at most 256" : why);
    }
    if (getrandom(&q->rng, sizeof(q->rng), 0) != (ssize_t)sizeof(q->rng))
        q->rng = (uint64_t)hub_now_ms();
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->work_cv, NULL);
    pthread_cond_init(&q->kick_cv, &ca);
    pthread_cond_init(&q->idle_cv, NULL);
    pthread_condattr_destroy(&ca);
    /* Every commit may have made jobs due (a send, a webhook event, a retry by hand). */
    hub_store_set_commit_hook(q->cfg.store, kick_on_commit, q);
    int rc = pthread_create(&q->dispatcher, NULL, dispatcher_main, q);
    for (; rc == 0 && q->nworkers < q->cfg.workers; q->nworkers++)
        rc = pthread_create(&q->workers[q->nworkers], NULL, worker_main, q);
    if (rc != 0) {
        hub_error_set(err, HUB_EIO, "delivery: cannot start a thread: %s", strerror(rc));
        hub_queue_stop(q); /* joins what started (the dispatcher always did when nworkers > 0) */
        return HUB_EIO;
    }
    *out = q;
    return 0;
}

void hub_queue_stop(hub_queue *q)
{
    if (q == NULL)
        return;
    hub_store_set_commit_hook(q->cfg.store, NULL, NULL);
    pthread_mutex_lock(&q->mu);
    q->stopping = 1;
    pthread_cond_broadcast(&q->work_cv);
    pthread_cond_broadcast(&q->kick_cv);
    pthread_mutex_unlock(&q->mu);
    pthread_join(q->dispatcher, NULL);
    for (unsigned i = 0; i < q->nworkers; i++)
        pthread_join(q->workers[i], NULL);
    /* The outcomes still at the writer call back into q: wait for them. */
    pthread_mutex_lock(&q->mu);
    while (q->pending_ops > 0)
        pthread_cond_wait(&q->idle_cv, &q->mu);
    pthread_mutex_unlock(&q->mu);
    pthread_cond_destroy(&q->work_cv);
    pthread_cond_destroy(&q->kick_cv);
    pthread_cond_destroy(&q->idle_cv);
    pthread_mutex_destroy(&q->mu);
    free(q);
}

int hub_queue_metrics_text(hub_queue *q, hub_buf *out)
{
    hub_txn *txn = NULL;
    size_t waiting = 0;
    if (q == NULL)
        return 0;
    if (hub_store_read(q->cfg.store, &txn) == 0)
        waiting = hub_job_waiting(txn);
    hub_txn_end(txn);
    return hub_buf_printf(out,
                          "# HELP omnihub_delivery_attempts_total Delivery attempts by outcome.\n"
                          "# TYPE omnihub_delivery_attempts_total counter\n"
                          "omnihub_delivery_attempts_total{outcome=\"delivered\"} %llu\n"
                          "omnihub_delivery_attempts_total{outcome=\"retry\"} %llu\n"
                          "omnihub_delivery_attempts_total{outcome=\"refused\"} %llu\n"
                          "# HELP omnihub_delivery_waiting Jobs queued or waiting for a retry.\n"
                          "# TYPE omnihub_delivery_waiting gauge\n"
                          "omnihub_delivery_waiting %zu\n",
                          (unsigned long long)atomic_load(&q->n_delivered),
                          (unsigned long long)atomic_load(&q->n_retried),
                          (unsigned long long)atomic_load(&q->n_dead), waiting);
}

/* ---- the inbox service ---------------------------------------------------------------------- */

typedef struct inbox_arg {
    const char *channel, *recipient, *message_id;
    hub_str body;
} inbox_arg;

static int inbox_fn(hub_txn *txn, void *arg)
{
    inbox_arg *a = arg;
    return hub_inbox_put(txn, a->channel, a->recipient, a->message_id,
                         (hub_slice){(char *)a->body.ptr, a->body.len}, hub_now_ms());
}

static int inbox_service(void *ctx, const char *channel, const char *recipient,
                         const char *message_id, hub_str body, char *err, size_t errcap)
{
    hub_delivery_services *s = ctx;
    inbox_arg a = {channel, recipient, message_id, body};
    int rc = s->store != NULL ? hub_store_write(s->store, inbox_fn, &a) : HUB_ESHUTDOWN;
    if (rc == 0)
        return HUB_DELIVER_OK;
    snprintf(err, errcap, "inbox: %s", hub_strerror(rc));
    return rc == HUB_EINVAL ? HUB_DELIVER_FAIL : HUB_DELIVER_RETRY;
}

static int smtp_service(void *ctx, const char *channel, const hub_smtp_message *msg,
                        hub_smtp_result *res, char *err, size_t errcap)
{
    return hub_transport_smtp(&((hub_delivery_services *)ctx)->transport, channel, msg, res, err,
                              errcap);
}

static int http_service(void *ctx, const hub_http_request *req, hub_http_response *res, char *err,
                        size_t errcap)
{
    return hub_transport_http(&((hub_delivery_services *)ctx)->transport, req, res, err, errcap);
}

void hub_delivery_services_bind(hub_delivery_services *s, hub_plugin_services *out)
{
    out->smtp_send = smtp_service;
    out->http_request = http_service;
    out->inbox_write = inbox_service;
    out->ctx = s;
}
