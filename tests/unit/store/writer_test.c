/*
 * writer tests: per-op rollback inside a batch, group commit under concurrency, draining on
 * stop, submit after stop, the no-writer path, `done` on the completer thread in commit order
 * while the writer goes on, and the writer's counters.
 */
#include "store/store.h"
/* test.h formats a path into a fixed buffer; gcc cannot prove it fits */
#pragma GCC diagnostic ignored "-Wformat-truncation"
#include "test.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

static hub_store *open_fresh(const char *name)
{
    hub_store_options o = {.dir = test_tmpdir(name)};
    hub_store *s = NULL;
    hub_error err;
    hub_error_init(&err);
    if (hub_store_open(&s, &o, &err) != 0)
        fprintf(stderr, "open: %s\n", err.message);
    hub_error_clear(&err);
    return s;
}

typedef struct op_arg {
    hub_write_op op; /* first */
    char key[32];
    int fail; /* fn writes, then returns HUB_EINVAL */
    atomic_int *done_count;
    int done_result;
} op_arg;

static int op_fn(hub_txn *t, void *arg)
{
    op_arg *a = arg;
    int r = hub_txn_put(t, HUB_DB_DRAFTS, hub_slice_cstr(a->key), HUB_SLICE_LIT("v"));
    if (r != 0)
        return r;
    r = hub_txn_put(t, HUB_DB_HEADS, hub_slice_cstr(a->key), HUB_SLICE_LIT("h"));
    if (r != 0)
        return r;
    return a->fail ? HUB_EINVAL : 0;
}

static void op_done(hub_write_op *op)
{
    op_arg *a = (op_arg *)op;
    a->done_result = op->result;
    atomic_fetch_add(a->done_count, 1);
}

static void init_op(op_arg *a, int i, int fail, atomic_int *count)
{
    memset(a, 0, sizeof(*a));
    snprintf(a->key, sizeof(a->key), "op%04d", i);
    a->fail = fail;
    a->done_count = count;
    a->done_result = 12345;
    a->op.fn = op_fn;
    a->op.arg = a;
    a->op.done = op_done;
}

static int present(hub_store *s, hub_db db, const char *key)
{
    hub_txn *t;
    hub_slice v;
    if (hub_store_read(s, &t) != 0)
        return -1;
    int r = hub_txn_get(t, db, hub_slice_cstr(key), &v);
    hub_txn_end(t);
    return r == 0;
}

/* A blocker op holds the writer so that the next ops queue up and form one batch. */
typedef struct gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int entered, open;
} gate;

static int gate_fn(hub_txn *t, void *arg)
{
    gate *g = arg;
    (void)t;
    pthread_mutex_lock(&g->mu);
    g->entered = 1;
    pthread_cond_broadcast(&g->cv);
    while (!g->open)
        pthread_cond_wait(&g->cv, &g->mu);
    pthread_mutex_unlock(&g->mu);
    return 0;
}

static int noop_fn(hub_txn *t, void *arg)
{
    (void)t;
    (void)arg;
    return 0;
}

static void gate_done(hub_write_op *op)
{
    (void)op;
}

static void gate_wait_entered(gate *g)
{
    pthread_mutex_lock(&g->mu);
    while (!g->entered)
        pthread_cond_wait(&g->cv, &g->mu);
    pthread_mutex_unlock(&g->mu);
}

static void gate_open(gate *g)
{
    pthread_mutex_lock(&g->mu);
    g->open = 1;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

static void test_rollback_in_batch(void)
{
    hub_store *s = open_fresh("writer_rollback");
    REQUIRE(s != NULL);
    REQUIRE(hub_store_writer_start(s, 0) == 0);
    gate g = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
    hub_write_op gop = {.fn = gate_fn, .arg = &g, .done = gate_done};
    hub_store_submit(s, &gop);
    gate_wait_entered(&g);
    atomic_int count = 0;
    op_arg ops[6];
    for (int i = 0; i < 6; i++) {
        init_op(&ops[i], i, i % 2 == 1, &count);
        hub_store_submit(s, &ops[i].op);
    }
    uint64_t before = hub_store_commit_count(s);
    gate_open(&g);
    hub_store_writer_stop(s); /* drains */
    CHECK(atomic_load(&count) == 6);
    /* the gate op's batch and the six queued ops' batch: two commits at most */
    CHECK(hub_store_commit_count(s) - before == 2);
    for (int i = 0; i < 6; i++) {
        int fail = i % 2 == 1;
        CHECK(ops[i].done_result == (fail ? HUB_EINVAL : 0));
        CHECK(present(s, HUB_DB_DRAFTS, ops[i].key) == !fail);
        CHECK(present(s, HUB_DB_HEADS, ops[i].key) == !fail);
    }
    hub_store_close(s);
}

static void test_submit_after_stop(void)
{
    hub_store *s = open_fresh("writer_after_stop");
    REQUIRE(s != NULL);
    REQUIRE(hub_store_writer_start(s, 4) == 0);
    atomic_int count = 0;
    op_arg a;
    init_op(&a, 1, 0, &count);
    hub_store_submit(s, &a.op);
    hub_store_writer_stop(s);
    CHECK(atomic_load(&count) == 1 && a.done_result == 0);
    init_op(&a, 2, 0, &count);
    hub_store_submit(s, &a.op);
    CHECK(atomic_load(&count) == 2); /* done called at once */
    CHECK(a.done_result == HUB_ESHUTDOWN);
    CHECK(present(s, HUB_DB_DRAFTS, "op0002") == 0);
    hub_store_writer_stop(s); /* twice is harmless */
    hub_store_close(s);
}

static void test_stop_drains_many(void)
{
    hub_store *s = open_fresh("writer_drain");
    REQUIRE(s != NULL);
    REQUIRE(hub_store_writer_start(s, 8) == 0);
    enum { N = 100 };
    static op_arg ops[N];
    atomic_int count = 0;
    for (int i = 0; i < N; i++) {
        init_op(&ops[i], i, 0, &count);
        hub_store_submit(s, &ops[i].op);
    }
    hub_store_writer_stop(s);
    CHECK(atomic_load(&count) == N);
    int ok = 0;
    for (int i = 0; i < N; i++)
        ok += ops[i].done_result == 0 && present(s, HUB_DB_DRAFTS, ops[i].key) == 1;
    CHECK(ok == N);
    /* batch_max 8: at least N/8 commits */
    CHECK(hub_store_commit_count(s) >= N / 8);
    hub_store_close(s);
}

static void count_hook(void *ctx)
{
    atomic_fetch_add((atomic_int *)ctx, 1);
}

/* The commit hook runs once per successful commit, on the writer and inline alike, not for a
 * write that rolled back, and not after it is cleared. */
static void test_commit_hook(void)
{
    hub_store *s = open_fresh("writer_hook");
    REQUIRE(s != NULL);
    atomic_int hooks = 0, count = 0;
    op_arg a;
    hub_store_set_commit_hook(s, count_hook, &hooks);
    init_op(&a, 1, 0, &count);
    CHECK(hub_store_write(s, op_fn, &a) == 0); /* inline, no writer yet */
    CHECK(atomic_load(&hooks) == 1);
    REQUIRE(hub_store_writer_start(s, 0) == 0);
    init_op(&a, 2, 0, &count);
    CHECK(hub_store_write(s, op_fn, &a) == 0);
    CHECK(atomic_load(&hooks) == 2);
    init_op(&a, 3, 1, &count);
    CHECK(hub_store_write(s, op_fn, &a) == HUB_EINVAL); /* rolled back: nothing committed */
    CHECK(atomic_load(&hooks) == 2);
    hub_store_set_commit_hook(s, NULL, NULL);
    init_op(&a, 4, 0, &count);
    CHECK(hub_store_write(s, op_fn, &a) == 0);
    CHECK(atomic_load(&hooks) == 2);
    hub_store_writer_stop(s);
    hub_store_close(s);
}

static void test_no_writer(void)
{
    hub_store *s = open_fresh("writer_none");
    REQUIRE(s != NULL);
    atomic_int count = 0;
    op_arg a;
    init_op(&a, 7, 0, &count);
    CHECK(hub_store_write(s, op_fn, &a) == 0);
    CHECK(present(s, HUB_DB_HEADS, "op0007") == 1);
    init_op(&a, 8, 1, &count);
    CHECK(hub_store_write(s, op_fn, &a) == HUB_EINVAL);
    CHECK(present(s, HUB_DB_HEADS, "op0008") == 0);
    init_op(&a, 9, 0, &count);
    hub_store_submit(s, &a.op); /* runs inline */
    CHECK(atomic_load(&count) == 1 && a.done_result == 0);
    CHECK(present(s, HUB_DB_DRAFTS, "op0009") == 1);
    hub_store_close(s);
}

/* ---- group commit ---------------------------------------------------------------------- */

enum { THREADS = 16, PER_THREAD = 200 };

typedef struct worker {
    hub_store *s;
    int id;
    int failures;
} worker;

static int seq_put_fn(hub_txn *t, void *arg)
{
    worker *w = arg;
    uint64_t n;
    int r = hub_txn_next_seq(t, "test", &n);
    if (r != 0)
        return r;
    unsigned char key[8];
    hub_be64_put(key, n);
    char val[16];
    int len = snprintf(val, sizeof(val), "%d", w->id);
    return hub_txn_put(t, HUB_DB_CHANGES, (hub_slice){(const char *)key, 8},
                       (hub_slice){val, (size_t)len});
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    for (int i = 0; i < PER_THREAD; i++) {
        if (hub_store_write(w->s, seq_put_fn, w) != 0)
            w->failures++;
        /* reads interleave with writes on the same thread */
        hub_txn *t;
        if (hub_store_read(w->s, &t) != 0) {
            w->failures++;
            continue;
        }
        if (hub_txn_count(t, HUB_DB_CHANGES) < (size_t)i + 1)
            w->failures++;
        hub_txn_end(t);
    }
    return NULL;
}

static void test_group_commit(void)
{
    hub_store *s = open_fresh("writer_group");
    REQUIRE(s != NULL);
    REQUIRE(hub_store_writer_start(s, 0) == 0);
    uint64_t before = hub_store_commit_count(s);
    pthread_t th[THREADS];
    worker w[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (worker){s, i, 0};
        REQUIRE(pthread_create(&th[i], NULL, worker_main, &w[i]) == 0);
    }
    int failures = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        failures += w[i].failures;
    }
    CHECK(failures == 0);
    uint64_t commits = hub_store_commit_count(s) - before;
    fprintf(stderr, "group commit: %d writes in %llu commits\n", THREADS * PER_THREAD,
            (unsigned long long)commits);
    CHECK(commits > 0);
    CHECK(commits < THREADS * PER_THREAD / 4);
    hub_txn *t;
    REQUIRE(hub_store_read(s, &t) == 0);
    CHECK(hub_txn_count(t, HUB_DB_CHANGES) == THREADS * PER_THREAD);
    /* keys are 1..N in order with no gap */
    hub_cursor *c;
    hub_slice k, v;
    REQUIRE(hub_cursor_open(t, HUB_DB_CHANGES, &c) == 0);
    uint64_t expect = 1;
    int r;
    for (r = hub_cursor_seek(c, (hub_slice){NULL, 0}, &k, &v); r == 0;
         r = hub_cursor_next(c, &k, &v)) {
        if (k.len != 8 || hub_be64_get((const unsigned char *)k.base) != expect)
            break;
        expect++;
    }
    CHECK(r == HUB_ENOTFOUND);
    CHECK(expect == THREADS * PER_THREAD + 1);
    hub_cursor_close(c);
    hub_txn_end(t);
    CHECK(hub_store_reader_check(s) >= 0);
    CHECK(hub_store_map_used(s) > 0);
    hub_store_close(s);
}

static int recursive_fn(hub_txn *t, void *arg)
{
    (void)t;
    return hub_store_write(arg, op_fn, NULL); /* from the writer thread: refused */
}

static void test_write_from_writer(void)
{
    hub_store *s = open_fresh("writer_recursive");
    REQUIRE(s != NULL);
    REQUIRE(hub_store_writer_start(s, 0) == 0);
    CHECK(hub_store_write(s, recursive_fn, s) == HUB_EINVAL);
    hub_store_close(s); /* stops the writer too */
}

/* ---- map full inside one op of a batch ------------------------------------------------- */

typedef struct big_arg {
    hub_write_op op; /* first */
    int ignore_error;
    int done_result;
} big_arg;

static int big_fn(hub_txn *t, void *arg)
{
    big_arg *a = arg;
    static char val[256 * 1024];
    memset(val, 'b', sizeof(val));
    for (int i = 0; i < 8; i++) { /* 2 MiB into a 1 MiB map */
        char key[16];
        snprintf(key, sizeof(key), "big%d", i);
        int r = hub_txn_put(t, HUB_DB_DELIVERY, hub_slice_cstr(key), (hub_slice){val, sizeof(val)});
        if (r != 0 && !a->ignore_error)
            return r;
    }
    return 0;
}

static void big_done(hub_write_op *op)
{
    ((big_arg *)op)->done_result = op->result;
}

static void test_map_full_in_batch(void)
{
    hub_store_options o = {.dir = test_tmpdir("writer_full"), .map_size = 1 << 20};
    hub_store *s = NULL;
    REQUIRE(hub_store_open(&s, &o, NULL) == 0);
    REQUIRE(hub_store_writer_start(s, 0) == 0);
    gate g = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
    hub_write_op gop = {.fn = gate_fn, .arg = &g, .done = gate_done};
    hub_store_submit(s, &gop);
    gate_wait_entered(&g);
    atomic_int count = 0;
    op_arg before, after;
    big_arg big = {.op = {.fn = big_fn, .arg = &big, .done = big_done}, .done_result = 1};
    big_arg big2 = {
        .op = {.fn = big_fn, .arg = &big2, .done = big_done}, .ignore_error = 1, .done_result = 1};
    init_op(&before, 1, 0, &count);
    init_op(&after, 2, 0, &count);
    hub_store_submit(s, &before.op);
    hub_store_submit(s, &big.op);
    hub_store_submit(s, &big2.op);
    hub_store_submit(s, &after.op);
    gate_open(&g);
    hub_store_writer_stop(s);
    CHECK(big.done_result == HUB_EFULL);
    CHECK(big2.done_result == HUB_EFULL); /* fn ignored the error: still rolled back */
    CHECK(before.done_result == 0 && after.done_result == 0);
    CHECK(present(s, HUB_DB_DRAFTS, "op0001") == 1);
    CHECK(present(s, HUB_DB_HEADS, "op0002") == 1);
    CHECK(present(s, HUB_DB_DELIVERY, "big0") == 0);
    hub_txn *t;
    REQUIRE(hub_store_read(s, &t) == 0);
    CHECK(hub_txn_count(t, HUB_DB_DELIVERY) == 0);
    hub_txn_end(t);
    hub_store_close(s);
}

/* ---- done on the completer ------------------------------------------------------------ */

#define ORDERED 40

typedef struct ordered {
    hub_write_op op; /* first */
    char key[32];
    pthread_t fn_thread, done_thread;
    int *log, *log_len; /* done appends its index here (only the completer writes it) */
    int index;
    gate *hold; /* done waits here when set */
} ordered;

static int ordered_fn(hub_txn *t, void *arg)
{
    ordered *o = arg;
    o->fn_thread = pthread_self();
    return hub_txn_put(t, HUB_DB_DRAFTS, hub_slice_cstr(o->key), HUB_SLICE_LIT("v"));
}

static void ordered_done(hub_write_op *op)
{
    ordered *o = (ordered *)op;
    o->done_thread = pthread_self();
    if (o->hold != NULL)
        gate_fn(NULL, o->hold);
    o->log[(*o->log_len)++] = o->index;
}

static void test_done_on_completer(void)
{
    hub_store *s = open_fresh("writer_completer");
    REQUIRE(s != NULL);
    REQUIRE(hub_store_writer_start(s, 4) == 0); /* small batches: several commits */
    static ordered ops[ORDERED];
    int log[ORDERED], log_len = 0;
    gate hold = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
    for (int i = 0; i < ORDERED; i++) {
        ops[i] = (ordered){.op = {.fn = ordered_fn, .arg = &ops[i], .done = ordered_done},
                           .log = log,
                           .log_len = &log_len,
                           .index = i,
                           .hold = i == 0 ? &hold : NULL};
        snprintf(ops[i].key, sizeof(ops[i].key), "ord%03d", i);
    }
    /* The first op's done blocks; the writer must go on committing the others meanwhile. */
    hub_store_submit(s, &ops[0].op);
    gate_wait_entered(&hold);
    for (int i = 1; i < ORDERED; i++)
        hub_store_submit(s, &ops[i].op);
    int committed = 0;
    for (int tries = 0; tries < 500 && !committed; tries++) {
        committed = present(s, HUB_DB_DRAFTS, "ord039") == 1;
        if (!committed)
            nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
    }
    CHECK(committed);
    CHECK(log_len == 0); /* no done ran ahead of the blocked one */
    gate_open(&hold);
    hub_store_writer_stop(s); /* returns once every done has run */
    CHECK(log_len == ORDERED);
    int in_order = 1;
    for (int i = 0; i < log_len; i++)
        in_order &= log[i] == i;
    CHECK(in_order);
    CHECK(!pthread_equal(ops[5].fn_thread, ops[5].done_thread));
    CHECK(pthread_equal(ops[5].done_thread, ops[30].done_thread));
    CHECK(!pthread_equal(ops[5].done_thread, pthread_self()));

    hub_writer_stats st;
    hub_store_writer_stats(s, &st);
    CHECK(st.ops == ORDERED);
    CHECK(st.batches >= ORDERED / 4 && st.batches <= ORDERED);
    CHECK(st.busy_us >= st.commit_us && st.commit_us > 0);
    hub_store_close(s);

    hub_store *none = open_fresh("writer_nostats");
    REQUIRE(none != NULL);
    st.ops = 99;
    hub_store_writer_stats(none, &st);
    CHECK(st.ops == 0 && st.batches == 0 && st.busy_us == 0);
    hub_store_close(none);
}

typedef struct nested {
    hub_write_op op; /* first */
    hub_store *s;
    int result;
} nested;

static void nested_done(hub_write_op *op)
{
    nested *n = (nested *)op;
    n->result = hub_store_write(n->s, op_fn, NULL); /* would wait for itself */
}

static void test_write_from_completer(void)
{
    hub_store *s = open_fresh("writer_completer_write");
    REQUIRE(s != NULL);
    REQUIRE(hub_store_writer_start(s, 0) == 0);
    nested n = {.op = {.fn = noop_fn, .done = nested_done}, .s = s, .result = 1};
    hub_store_submit(s, &n.op);
    hub_store_writer_stop(s);
    CHECK(n.result == HUB_EINVAL);
    hub_store_close(s);
}

int main(void)
{
    RUN(test_rollback_in_batch);
    RUN(test_submit_after_stop);
    RUN(test_stop_drains_many);
    RUN(test_no_writer);
    RUN(test_commit_hook);
    RUN(test_map_full_in_batch);
    RUN(test_group_commit);
    RUN(test_write_from_writer);
    RUN(test_done_on_completer);
    RUN(test_write_from_completer);
    return TEST_SUMMARY();
}
