/*
 * store writer: the one thread that owns LMDB write transactions in the server.
 *
 * Group commit: submitters queue operations; the writer takes up to batch_max of them, runs
 * each in a nested transaction of one outer transaction, and commits the outer one once, so
 * one fsync covers the whole batch. While that fsync runs, the next batch queues up. An op
 * whose fn fails (or whose writes hit a full map) is rolled back alone by aborting its child
 * transaction. `done` runs only after the outer commit, so result 0 means "on disk".
 *
 * The `done` callbacks run on a second thread, the completer, in commit order: they wake
 * other threads (an HTTP loop, a delivery worker), and those wake-ups are system calls that
 * would otherwise sit between one commit and the next. The writer hands the committed batch
 * over and starts the next one at once.
 *
 * The writer also runs mdb_reader_check about every 10 s, so slots of dead reader processes
 * do not pile up.
 */
#include "store/store.h"

#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#define DEFAULT_BATCH_MAX 256u
#define READER_CHECK_MS   10000

/* store-private (defined in store.c) */
MDB_env *hub_store_env_(hub_store *s);
struct hub_writer **hub_store_writer_ref_(hub_store *s);
int hub_store_xlate_(int rc);
int hub_store_run_fn_(hub_store *s, MDB_txn *txn, hub_write_fn fn, void *arg);
void hub_store_count_commit_(hub_store *s, int ok);
int hub_store_is_read_only_(hub_store *s);
void hub_store_writer_destroy_(hub_store *s);

typedef enum { W_RUNNING, W_STOPPING, W_STOPPED } writer_state;

struct hub_writer {
    hub_store *s;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* CLOCK_MONOTONIC */
    hub_write_op *head, *tail;
    writer_state state;
    unsigned batch_max;
    /* The completer: committed ops waiting for their `done`, in commit order. */
    pthread_t completer;
    pthread_mutex_t done_mu;
    pthread_cond_t done_cv;
    hub_write_op *done_head, *done_tail;
    int writer_exited; /* under done_mu: nothing more will be handed over */
    atomic_uint_fast64_t batches, ops, busy_us, commit_us;
};

/* Result for ops whose own work succeeded but whose outer commit failed. */
static int commit_failure(int rc)
{
    return rc == MDB_MAP_FULL ? HUB_EFULL
                              : (hub_store_xlate_(rc) == HUB_ENOMEM ? HUB_ENOMEM : HUB_EIO);
}

/* Runs one op in a child of outer; returns 1 if it left changes to commit. */
static int run_child(hub_store *s, MDB_txn *outer, hub_write_op *op)
{
    MDB_txn *child;
    int rc = mdb_txn_begin(hub_store_env_(s), outer, 0, &child);
    if (rc != 0) {
        op->result = commit_failure(rc);
        return 0;
    }
    int r = hub_store_run_fn_(s, child, op->fn, op->arg);
    if (r < 0) {
        mdb_txn_abort(child);
        op->result = r;
        return 0;
    }
    rc = mdb_txn_commit(child); /* frees child even on failure */
    if (rc != 0) {
        op->result = commit_failure(rc);
        return 0;
    }
    op->result = r;
    return 1;
}

static uint64_t micros_since(int64_t start_us)
{
    int64_t d = hub_mono_us() - start_us;
    return d > 0 ? (uint64_t)d : 0;
}

/* Appends a committed batch to the completer's list. */
static void hand_over(struct hub_writer *w, hub_write_op *batch, hub_write_op *last)
{
    pthread_mutex_lock(&w->done_mu);
    if (w->done_tail != NULL)
        w->done_tail->next_ = batch;
    else
        w->done_head = batch;
    w->done_tail = last;
    pthread_cond_signal(&w->done_cv);
    pthread_mutex_unlock(&w->done_mu);
}

/* Runs a batch (a NULL-terminated list through next_) in one outer transaction, then hands it
 * to the completer. */
static void run_batch(struct hub_writer *w, hub_write_op *batch)
{
    hub_store *s = w->s;
    int64_t start = hub_mono_us();
    size_t n = 0;
    hub_write_op *last = batch;
    MDB_txn *outer;
    int rc = mdb_txn_begin(hub_store_env_(s), NULL, 0, &outer);
    if (rc != 0) {
        for (hub_write_op *op = batch; op != NULL; op = op->next_)
            op->result = commit_failure(rc);
    } else {
        int kept = 0;
        for (hub_write_op *op = batch; op != NULL; op = op->next_)
            kept += run_child(s, outer, op);
        if (kept == 0) {
            mdb_txn_abort(outer); /* nothing to write: no fsync */
        } else {
            int64_t commit_start = hub_mono_us();
            rc = mdb_txn_commit(outer); /* never abort after this, even on failure */
            atomic_fetch_add(&w->commit_us, micros_since(commit_start));
            hub_store_count_commit_(s, rc == 0);
            if (rc != 0) {
                HUB_LOG_ERROR("store: group commit failed: %s", mdb_strerror(rc));
                for (hub_write_op *op = batch; op != NULL; op = op->next_)
                    if (op->result >= 0)
                        op->result = commit_failure(rc);
            }
        }
    }
    for (hub_write_op *op = batch; op != NULL; op = op->next_) {
        last = op;
        n++;
    }
    atomic_fetch_add(&w->batches, 1);
    atomic_fetch_add(&w->ops, n);
    atomic_fetch_add(&w->busy_us, micros_since(start));
    hand_over(w, batch, last);
}

/* Calls done on each op of list, in order. */
static void complete(hub_write_op *op)
{
    while (op != NULL) {
        hub_write_op *next = op->next_; /* the op may be gone once done returns */
        op->next_ = NULL;
        op->done(op);
        op = next;
    }
}

/* Tells the completer that nothing more will be handed over: it ends once the list is done. */
static void release_completer(struct hub_writer *w)
{
    pthread_mutex_lock(&w->done_mu);
    w->writer_exited = 1;
    pthread_cond_signal(&w->done_cv);
    pthread_mutex_unlock(&w->done_mu);
}

static void *completer_main(void *arg)
{
    struct hub_writer *w = arg;
    hub_thread_name("oh-completer");
    pthread_mutex_lock(&w->done_mu);
    for (;;) {
        while (w->done_head == NULL && !w->writer_exited)
            pthread_cond_wait(&w->done_cv, &w->done_mu);
        hub_write_op *list = w->done_head;
        w->done_head = w->done_tail = NULL;
        if (list == NULL)
            break; /* the writer has exited and everything is done */
        pthread_mutex_unlock(&w->done_mu);
        complete(list);
        pthread_mutex_lock(&w->done_mu);
    }
    pthread_mutex_unlock(&w->done_mu);
    return NULL;
}

/* Takes up to batch_max queued ops; w->mu held. */
static hub_write_op *take_batch(struct hub_writer *w)
{
    hub_write_op *batch = w->head, *last = w->head;
    for (unsigned n = 1; n < w->batch_max && last->next_ != NULL; n++)
        last = last->next_;
    w->head = last->next_;
    if (w->head == NULL)
        w->tail = NULL;
    last->next_ = NULL;
    return batch;
}

static void *writer_main(void *arg)
{
    struct hub_writer *w = arg;
    hub_thread_name("oh-writer");
    int64_t next_check = hub_mono_ms() + READER_CHECK_MS;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (w->head == NULL && w->state == W_RUNNING) {
            struct timespec ts;
            int64_t wait = next_check - hub_mono_ms();
            if (wait <= 0)
                break;
            hub_mono_deadline(wait, &ts);
            pthread_cond_timedwait(&w->cv, &w->mu, &ts);
        }
        if (w->head == NULL && w->state != W_RUNNING)
            break;
        hub_write_op *batch = w->head != NULL ? take_batch(w) : NULL;
        pthread_mutex_unlock(&w->mu);
        if (batch != NULL)
            run_batch(w, batch);
        if (hub_mono_ms() >= next_check) {
            hub_store_reader_check(w->s);
            next_check = hub_mono_ms() + READER_CHECK_MS;
        }
        pthread_mutex_lock(&w->mu);
    }
    pthread_mutex_unlock(&w->mu);
    release_completer(w);
    return NULL;
}

static void writer_free(struct hub_writer *w)
{
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->done_cv);
    pthread_mutex_destroy(&w->done_mu);
    free(w);
}

int hub_store_writer_start(hub_store *s, unsigned batch_max)
{
    struct hub_writer **ref = hub_store_writer_ref_(s);
    if (hub_store_is_read_only_(s)) {
        HUB_LOG_ERROR("store: cannot start the writer on a read-only store");
        return HUB_EINVAL;
    }
    if (*ref != NULL)
        return (*ref)->state == W_RUNNING ? 0 : HUB_ESHUTDOWN;
    struct hub_writer *w = calloc(1, sizeof(*w));
    if (w == NULL)
        return HUB_ENOMEM;
    w->s = s;
    w->batch_max = batch_max ? batch_max : DEFAULT_BATCH_MAX;
    w->state = W_RUNNING;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->done_cv, NULL);
    pthread_mutex_init(&w->done_mu, NULL);
    if (pthread_create(&w->completer, NULL, completer_main, w) != 0) {
        writer_free(w);
        HUB_LOG_ERROR("store: cannot start the writer's completer thread");
        return HUB_EIO;
    }
    if (pthread_create(&w->thread, NULL, writer_main, w) != 0) {
        release_completer(w);
        pthread_join(w->completer, NULL);
        writer_free(w);
        HUB_LOG_ERROR("store: cannot start the writer thread");
        return HUB_EIO;
    }
    *ref = w;
    return 0;
}

void hub_store_writer_stop(hub_store *s)
{
    struct hub_writer *w = *hub_store_writer_ref_(s);
    if (w == NULL)
        return;
    pthread_mutex_lock(&w->mu);
    if (w->state != W_RUNNING) {
        pthread_mutex_unlock(&w->mu);
        return;
    }
    w->state = W_STOPPING;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);    /* the thread drains the queue before it exits */
    pthread_join(w->completer, NULL); /* and the completer every done after it */
    pthread_mutex_lock(&w->mu);
    w->state = W_STOPPED;
    pthread_mutex_unlock(&w->mu);
}

void hub_store_writer_destroy_(hub_store *s)
{
    struct hub_writer **ref = hub_store_writer_ref_(s);
    struct hub_writer *w = *ref;
    if (w == NULL)
        return;
    writer_free(w);
    *ref = NULL;
}

/* Runs op on this thread in its own durable transaction (no writer thread). */
static int write_inline(hub_store *s, hub_write_fn fn, void *arg)
{
    if (hub_store_is_read_only_(s))
        return HUB_EINVAL;
    MDB_txn *txn;
    int rc = mdb_txn_begin(hub_store_env_(s), NULL, 0, &txn);
    if (rc != 0)
        return commit_failure(rc);
    int r = hub_store_run_fn_(s, txn, fn, arg);
    if (r < 0) {
        mdb_txn_abort(txn);
        return r;
    }
    rc = mdb_txn_commit(txn); /* frees txn even on failure */
    hub_store_count_commit_(s, rc == 0);
    return rc == 0 ? r : commit_failure(rc);
}

void hub_store_submit(hub_store *s, hub_write_op *op)
{
    struct hub_writer *w = *hub_store_writer_ref_(s);
    op->next_ = NULL;
    if (w == NULL) { /* no writer started (tools): run it here */
        op->result = write_inline(s, op->fn, op->arg);
        op->done(op);
        return;
    }
    pthread_mutex_lock(&w->mu);
    if (w->state != W_RUNNING) {
        pthread_mutex_unlock(&w->mu);
        op->result = HUB_ESHUTDOWN;
        op->done(op);
        return;
    }
    if (w->tail != NULL)
        w->tail->next_ = op;
    else
        w->head = op;
    w->tail = op;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

typedef struct sync_call {
    hub_write_op op; /* first: done() gets &call->op */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int finished;
} sync_call;

static void sync_done(hub_write_op *op)
{
    sync_call *c = (sync_call *)op;
    pthread_mutex_lock(&c->mu);
    c->finished = 1;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

int hub_store_write(hub_store *s, hub_write_fn fn, void *arg)
{
    struct hub_writer *w = *hub_store_writer_ref_(s);
    int running = 0, threads = 0;
    if (w != NULL) {
        pthread_mutex_lock(&w->mu);
        running = w->state == W_RUNNING;
        threads = w->state != W_STOPPED;
        pthread_mutex_unlock(&w->mu);
        /* Also while stopping: the writer and its completer are still at work then. */
        if (threads && (pthread_equal(pthread_self(), w->thread) ||
                        pthread_equal(pthread_self(), w->completer))) {
            HUB_LOG_ERROR("store: hub_store_write called from the writer or its completer");
            return HUB_EINVAL; /* would wait for itself, or write beside it */
        }
    }
    if (!running)
        return write_inline(s, fn, arg);
    sync_call c = {.op = {.fn = fn, .arg = arg, .done = sync_done}, .finished = 0};
    pthread_mutex_init(&c.mu, NULL);
    pthread_cond_init(&c.cv, NULL);
    hub_store_submit(s, &c.op);
    pthread_mutex_lock(&c.mu);
    while (!c.finished)
        pthread_cond_wait(&c.cv, &c.mu);
    pthread_mutex_unlock(&c.mu);
    pthread_cond_destroy(&c.cv);
    pthread_mutex_destroy(&c.mu);
    return c.op.result;
}

void hub_store_writer_stats(hub_store *s, hub_writer_stats *out)
{
    struct hub_writer *w = *hub_store_writer_ref_(s);
    *out = (hub_writer_stats){0};
    if (w == NULL)
        return;
    out->batches = atomic_load(&w->batches);
    out->ops = atomic_load(&w->ops);
    out->busy_us = atomic_load(&w->busy_us);
    out->commit_us = atomic_load(&w->commit_us);
}
