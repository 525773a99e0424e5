/*
 * store writer: the one thread that owns LMDB write transactions in the server.
 *
 * Group commit: submitters queue operations; the writer takes up to batch_max of them, runs
 * each in a nested transaction of one outer transaction, and makes the batch durable once.
 * While that flush runs, the next batch queues up. An op whose fn fails (or whose writes hit
 * a full map) is rolled back alone by aborting its child transaction. `done` runs only after
 * the flush, so result 0 means "on disk".
 *
 * The flush is one of two (store.h). A batch with an op of the default durability commits
 * the outer transaction to LMDB. A batch of journal and lazy ops, when this process owns the
 * journal, is written to it as one record of the batch's changes and flushed; the outer
 * transaction stays open for the next batches, and commits to LMDB when an op of the default
 * durability arrives, COMMIT_MS after its first journaled batch, or when the journal is full.
 * A commit writes every page the open transaction changed once, however many batches changed
 * it, so LMDB's scattered page writes and two flushes are paid every 50 ms or so rather
 * than for every batch. META's journal_seq, written in the same commit, tells a replay where
 * to start.
 *
 * The `done` callbacks run on a second thread, the completer, in the order they are handed
 * over: they wake other threads (an HTTP loop, a delivery worker), and those wake-ups are
 * system calls that would otherwise sit between one flush and the next.
 *
 * The writer also runs mdb_reader_check about every 10 s, so slots of dead reader processes
 * do not pile up.
 */
#include "store/store.h"

#include "store/journal.h"

#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#define DEFAULT_BATCH_MAX 256u
#define READER_CHECK_MS   10000
/* How long journaled batches may wait in the open transaction for LMDB's commit. Longer
 * spreads a commit over more batches; it is also how late the delivery workers, which read
 * committed jobs, may see a new one. */
#define COMMIT_MS 50

/* store-private (defined in store.c) */
MDB_env *hub_store_env_(hub_store *s);
struct hub_writer **hub_store_writer_ref_(hub_store *s);
int hub_store_xlate_(int rc);
int hub_store_run_fn_(hub_store *s, MDB_txn *txn, hub_buf *redo, hub_write_fn fn, void *arg);
hub_journal *hub_store_journal_(hub_store *s, uint64_t *seq);
int hub_store_put_journal_seq_(hub_store *s, MDB_txn *txn, uint64_t seq);
void hub_store_count_commit_(hub_store *s, int ok);
int hub_store_is_read_only_(hub_store *s);
void hub_store_writer_destroy_(hub_store *s);

typedef enum { W_RUNNING, W_STOPPING, W_STOPPED } writer_state;

/* Ops handed from one thread to the next: the writer's flusher and its completer each take
 * the whole list at once. */
typedef struct op_queue {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    hub_write_op *head, *tail;
    int closed; /* nothing more will be pushed */
} op_queue;

static void queue_init(op_queue *q)
{
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->cv, NULL);
    q->head = q->tail = NULL;
    q->closed = 0;
}

static void queue_destroy(op_queue *q)
{
    pthread_cond_destroy(&q->cv);
    pthread_mutex_destroy(&q->mu);
}

/* Appends a list (NULL-terminated through next_). */
static void queue_push(op_queue *q, hub_write_op *list)
{
    if (list == NULL)
        return;
    hub_write_op *last = list;
    while (last->next_ != NULL)
        last = last->next_;
    pthread_mutex_lock(&q->mu);
    if (q->tail != NULL)
        q->tail->next_ = list;
    else
        q->head = list;
    q->tail = last;
    pthread_cond_signal(&q->cv);
    pthread_mutex_unlock(&q->mu);
}

static void queue_close(op_queue *q)
{
    pthread_mutex_lock(&q->mu);
    q->closed = 1;
    pthread_cond_signal(&q->cv);
    pthread_mutex_unlock(&q->mu);
}

/* Waits for ops and takes them all; NULL once the queue is closed and empty. */
static hub_write_op *queue_take(op_queue *q)
{
    pthread_mutex_lock(&q->mu);
    while (q->head == NULL && !q->closed)
        pthread_cond_wait(&q->cv, &q->mu);
    hub_write_op *list = q->head;
    q->head = q->tail = NULL;
    pthread_mutex_unlock(&q->mu);
    return list;
}

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
    op_queue done; /* closed: the writer exited, nothing more will be handed over */
    /* The journal, and the outer transaction its batches wait in (writer thread only). */
    hub_journal *journal;                /* NULL: every batch commits to LMDB */
    MDB_txn *open;                       /* NULL when no batch waits */
    int64_t open_ms;                     /* when its first batch was journaled */
    uint64_t seq;                        /* the last journal record written */
    uint64_t open_records;               /* records in the open transaction */
    hub_buf redo;                        /* the running batch's record */
    hub_write_op *lazy_head, *lazy_tail; /* journaled lazy ops, done after the commit */
    atomic_int unsettled;                /* 1 while journaled changes wait for the commit */
    /* The flusher: fdatasyncs the records the writer wrote, then hands their ops over. One
     * flush covers every record written before it began. */
    pthread_t flusher;
    op_queue unflushed;
    atomic_uint_fast64_t flushes, flush_us;
    atomic_uint_fast64_t batches, journaled, ops, busy_us, commit_us, journal_us;
};

/* Result for ops whose own work succeeded but whose outer commit failed. */
static int commit_failure(int rc)
{
    return rc == MDB_MAP_FULL ? HUB_EFULL
                              : (hub_store_xlate_(rc) == HUB_ENOMEM ? HUB_ENOMEM : HUB_EIO);
}

/* Runs one op in a child of outer; returns 1 if it left changes to commit. Its changes are
 * added to redo (when not NULL), and taken out again when it is rolled back. */
static int run_child(hub_store *s, MDB_txn *outer, hub_buf *redo, hub_write_op *op)
{
    MDB_txn *child;
    size_t mark = redo != NULL ? redo->len : 0;
    int rc = mdb_txn_begin(hub_store_env_(s), outer, 0, &child);
    if (rc != 0) {
        op->result = commit_failure(rc);
        return 0;
    }
    int r = hub_store_run_fn_(s, child, redo, op->fn, op->arg);
    if (r >= 0) {
        rc = mdb_txn_commit(child); /* frees child even on failure */
        r = rc == 0 ? r : commit_failure(rc);
    } else {
        mdb_txn_abort(child);
    }
    op->result = r;
    if (r < 0 && redo != NULL && redo->len > mark) {
        redo->len = mark;
        redo->data[mark] = '\0';
    }
    return r >= 0;
}

static uint64_t micros_since(int64_t start_us)
{
    int64_t d = hub_mono_us() - start_us;
    return d > 0 ? (uint64_t)d : 0;
}

/* Gives a list of ops (NULL-terminated through next_) to the completer. */
static void hand_over(struct hub_writer *w, hub_write_op *list)
{
    queue_push(&w->done, list);
}

/* Commits the open transaction to LMDB, with journal_seq when it holds journaled batches.
 * Returns the LMDB result; the transaction is gone either way. */
static int commit_open(struct hub_writer *w)
{
    hub_store *s = w->s;
    int rc = w->open_records > 0 ? hub_store_put_journal_seq_(s, w->open, w->seq) : 0;
    int64_t start = hub_mono_us();
    if (rc == 0)
        rc = mdb_txn_commit(w->open); /* never abort after this, even on failure */
    else
        mdb_txn_abort(w->open);
    atomic_fetch_add(&w->commit_us, micros_since(start));
    w->open = NULL;
    if (rc != 0 && w->open_records > 0) {
        /* Batches in it were answered; only the journal holds them now, and what runs next
         * would not see them. A restart replays them. */
        HUB_LOG_ERROR("store: commit of %llu journaled batches failed: %s; stopping so that "
                      "a restart replays them",
                      (unsigned long long)w->open_records, mdb_strerror(rc));
        abort();
    }
    hub_store_count_commit_(s, rc == 0);
    if (rc != 0) {
        HUB_LOG_ERROR("store: group commit failed: %s", mdb_strerror(rc));
        return rc;
    }
    if (w->open_records > 0)
        hub_journal_rewind(w->journal);
    w->open_records = 0;
    atomic_store(&w->unsettled, 0);
    hub_write_op *lazy = w->lazy_head;
    w->lazy_head = w->lazy_tail = NULL;
    hand_over(w, lazy);
    return 0;
}

/* 1 when the batch may be journaled: it has no op of the default durability. */
static int journal_only(const struct hub_writer *w, const hub_write_op *batch)
{
    if (w->journal == NULL || batch == NULL)
        return 0;
    for (const hub_write_op *op = batch; op != NULL; op = op->next_)
        if (op->durability == HUB_WRITE_COMMIT)
            return 0;
    return 1;
}

static void *flusher_main(void *arg)
{
    struct hub_writer *w = arg;
    hub_write_op *list;
    hub_thread_name("oh-flusher");
    while ((list = queue_take(&w->unflushed)) != NULL) {
        int64_t start = hub_mono_us();
        if (hub_journal_sync(w->journal) != 0) {
            /* Whether the records reached the disk is unknown now (the kernel may have
             * dropped the pages). Nothing of theirs was answered; a restart replays what
             * the journal holds. */
            HUB_LOG_ERROR("store: flushing the journal failed; stopping");
            abort();
        }
        atomic_fetch_add(&w->flushes, 1);
        atomic_fetch_add(&w->flush_us, micros_since(start));
        hand_over(w, list);
    }
    return NULL;
}

static void stop_flusher(struct hub_writer *w)
{
    if (w->journal == NULL)
        return;
    queue_close(&w->unflushed);
    pthread_join(w->flusher, NULL);
}

/* Writes the batch's record to the journal and gives its ops to the flusher (lazy ones with
 * changes wait for the commit instead). 0, or the write failed and nothing was handed over. */
static int journal_batch(struct hub_writer *w, hub_write_op *batch)
{
    int64_t start = hub_mono_us();
    int rc = hub_journal_write(w->journal, w->seq + 1, (hub_slice){w->redo.data, w->redo.len});
    atomic_fetch_add(&w->journal_us, micros_since(start));
    if (rc == HUB_EIO)
        HUB_LOG_WARN("store: writing the journal failed; this batch commits to LMDB");
    if (rc != 0)
        return rc;
    w->seq++;
    if (w->open_records++ == 0)
        w->open_ms = hub_mono_ms();
    atomic_store(&w->unsettled, 1); /* before any done: a reader that saw one waits */
    atomic_fetch_add(&w->journaled, 1);
    hub_write_op *now = NULL, **now_tail = &now;
    for (hub_write_op *op = batch, *next; op != NULL; op = next) {
        next = op->next_;
        op->next_ = NULL;
        if (op->durability == HUB_WRITE_LAZY && op->result >= 0) {
            if (w->lazy_tail != NULL)
                w->lazy_tail->next_ = op;
            else
                w->lazy_head = op;
            w->lazy_tail = op;
        } else {
            *now_tail = op;
            now_tail = &op->next_;
        }
    }
    queue_push(&w->unflushed, now); /* done after the next flush */
    return 0;
}

/* Runs a batch (a NULL-terminated list through next_; NULL: only commit what is open) and
 * makes it durable, then hands it to the completer. */
static void run_batch(struct hub_writer *w, hub_write_op *batch)
{
    hub_store *s = w->s;
    int64_t start = hub_mono_us();
    size_t n = 0;
    int journal = journal_only(w, batch), given = batch != NULL;
    for (hub_write_op *op = batch; op != NULL; op = op->next_)
        n++;
    int rc = w->open == NULL ? mdb_txn_begin(hub_store_env_(s), NULL, 0, &w->open) : 0;
    if (rc != 0) {
        w->open = NULL;
        for (hub_write_op *op = batch; op != NULL; op = op->next_)
            op->result = commit_failure(rc);
    } else {
        int kept = 0;
        hub_buf_reset(&w->redo);
        for (hub_write_op *op = batch; op != NULL; op = op->next_)
            kept += run_child(s, w->open, journal ? &w->redo : NULL, op);
        if (journal && kept > 0 && journal_batch(w, batch) == 0) {
            batch = NULL; /* handed over */
        } else if (journal && kept == 0 && w->open_records > 0) {
            /* Nothing to write, but what it answered may come from records not flushed yet
             * (a repeated idempotency key): done after the next flush, as they are. */
            queue_push(&w->unflushed, batch);
            batch = NULL;
        } else if (kept == 0 && w->open_records == 0) {
            mdb_txn_abort(w->open); /* nothing to write: no flush */
            w->open = NULL;
        } else {
            rc = commit_open(w);
            for (hub_write_op *op = batch; rc != 0 && op != NULL; op = op->next_)
                if (op->result >= 0)
                    op->result = commit_failure(rc);
        }
    }
    atomic_fetch_add(&w->batches, (uint64_t)given);
    atomic_fetch_add(&w->ops, n);
    atomic_fetch_add(&w->busy_us, micros_since(start));
    hand_over(w, batch);
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
    queue_close(&w->done);
}

static void *completer_main(void *arg)
{
    struct hub_writer *w = arg;
    hub_write_op *list;
    hub_thread_name("oh-completer");
    while ((list = queue_take(&w->done)) != NULL)
        complete(list);
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

/* 1 when the open transaction has waited long enough for its commit. */
static int commit_due(const struct hub_writer *w, int64_t now_ms)
{
    return w->open_records > 0 && now_ms - w->open_ms >= COMMIT_MS;
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
            int64_t until = next_check;
            if (w->open_records > 0 && w->open_ms + COMMIT_MS < until)
                until = w->open_ms + COMMIT_MS;
            int64_t wait = until - hub_mono_ms();
            if (wait <= 0)
                break;
            hub_mono_deadline(wait, &ts);
            pthread_cond_timedwait(&w->cv, &w->mu, &ts);
        }
        if (w->head == NULL && w->state != W_RUNNING)
            break;
        hub_write_op *batch = w->head != NULL ? take_batch(w) : NULL;
        pthread_mutex_unlock(&w->mu);
        if (batch != NULL || commit_due(w, hub_mono_ms()))
            run_batch(w, batch);
        if (commit_due(w, hub_mono_ms()))
            run_batch(w, NULL);
        if (hub_mono_ms() >= next_check) {
            hub_store_reader_check(w->s);
            next_check = hub_mono_ms() + READER_CHECK_MS;
        }
        pthread_mutex_lock(&w->mu);
    }
    pthread_mutex_unlock(&w->mu);
    if (w->open != NULL)
        run_batch(w, NULL); /* stopping: LMDB gets what waits */
    stop_flusher(w);
    release_completer(w);
    return NULL;
}

static void writer_free(struct hub_writer *w)
{
    hub_buf_free(&w->redo);
    queue_destroy(&w->unflushed);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    queue_destroy(&w->done);
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
    w->journal = hub_store_journal_(s, &w->seq);
    hub_buf_init(&w->redo, SIZE_MAX);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&w->mu, NULL);
    queue_init(&w->done);
    queue_init(&w->unflushed);
    if (w->journal != NULL && pthread_create(&w->flusher, NULL, flusher_main, w) != 0) {
        HUB_LOG_WARN("store: cannot start the journal's flusher; every batch commits to LMDB");
        w->journal = NULL;
    }
    if (pthread_create(&w->completer, NULL, completer_main, w) != 0) {
        stop_flusher(w);
        writer_free(w);
        HUB_LOG_ERROR("store: cannot start the writer's completer thread");
        return HUB_EIO;
    }
    if (pthread_create(&w->thread, NULL, writer_main, w) != 0) {
        stop_flusher(w);
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
    int r = hub_store_run_fn_(s, txn, NULL, fn, arg);
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
    out->journaled = atomic_load(&w->journaled);
    out->ops = atomic_load(&w->ops);
    out->busy_us = atomic_load(&w->busy_us);
    out->commit_us = atomic_load(&w->commit_us);
    out->journal_us = atomic_load(&w->journal_us);
    out->flushes = atomic_load(&w->flushes);
    out->flush_us = atomic_load(&w->flush_us);
}

int hub_store_settled(hub_store *s)
{
    struct hub_writer *w = s != NULL ? *hub_store_writer_ref_(s) : NULL;
    return w == NULL || atomic_load(&w->unsettled) == 0;
}
