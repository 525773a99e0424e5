/*
 * journal tests: the record format and its replay rules (torn records, records of an earlier
 * round), the lock, and the writer with journaled ops: done before LMDB commits, a default op
 * that commits them, lazy ops done only once visible, a batch too big for the journal, and a
 * process that dies with journaled batches that LMDB never committed (a child process that
 * exits without closing the store): opening the store again replays them, deletes included.
 */
#include "store/journal.h"
#include "store/store.h"
/* test.h formats a path into a fixed buffer; gcc cannot prove it fits */
#pragma GCC diagnostic ignored "-Wformat-truncation"
#include "test.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <unistd.h>

static hub_store *open_dir(const char *dir)
{
    hub_store_options o = {.dir = dir};
    hub_store *s = NULL;
    hub_error err;
    hub_error_init(&err);
    if (hub_store_open(&s, &o, &err) != 0)
        fprintf(stderr, "open: %s\n", err.message);
    hub_error_clear(&err);
    return s;
}

static int present(hub_store *s, const char *key)
{
    hub_txn *t;
    hub_slice v;
    if (hub_store_read(s, &t) != 0)
        return -1;
    int r = hub_txn_get(t, HUB_DB_DRAFTS, hub_slice_cstr(key), &v);
    hub_txn_end(t);
    return r == 0;
}

/* ---- the format ------------------------------------------------------------------------- */

static int same(hub_slice a, hub_slice b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.base, b.base, a.len) == 0);
}

static void test_redo_round_trip(void)
{
    hub_buf b;
    hub_buf_init(&b, SIZE_MAX);
    hub_redo in[3] = {{0, HUB_DB_JOBS, HUB_SLICE_LIT("k1"), HUB_SLICE_LIT("value one")},
                      {1, HUB_DB_JOB_DUE, HUB_SLICE_LIT("k2"), {"", 0}},
                      {0, HUB_DB_META, HUB_SLICE_LIT("k3"), {"", 0}}};
    for (int i = 0; i < 3; i++)
        REQUIRE(hub_redo_add(&b, &in[i]) == 0);
    hub_slice p = {b.data, b.len};
    size_t pos = 0;
    hub_redo r;
    for (int i = 0; i < 3; i++) {
        REQUIRE(hub_redo_next(p, &pos, &r) == 1);
        CHECK(r.del == in[i].del && r.db == in[i].db);
        CHECK(same(r.key, in[i].key) && same(r.val, in[i].val));
    }
    CHECK(hub_redo_next(p, &pos, &r) == 0);
    /* cut anywhere inside the last change: malformed, not read past the end */
    for (size_t cut = b.len - 1; cut > b.len - 10; cut--) {
        pos = 0;
        int got = 1;
        for (int i = 0; i < 3 && got == 1; i++)
            got = hub_redo_next((hub_slice){b.data, cut}, &pos, &r);
        CHECK(got == HUB_EIO);
    }
    pos = 0;
    CHECK(hub_redo_next(HUB_SLICE_LIT("X\x01\x00\x01\x00\x00\x00\x00k"), &pos, &r) == HUB_EIO);
    hub_buf_free(&b);
}

typedef struct seen {
    int n;
    char last[64];
} seen;

static int count_record(void *arg, hub_slice payload)
{
    seen *s = arg;
    s->n++;
    snprintf(s->last, sizeof(s->last), "%.*s", (int)payload.len, payload.base);
    return 0;
}

static void test_replay_rules(void)
{
    const char *dir = test_tmpdir("journal_rules");
    hub_journal *j = NULL, *other = NULL;
    hub_error err;
    hub_error_init(&err);
    REQUIRE(hub_journal_open(dir, 1, &j, &err) == 0 && j != NULL);
    /* one owner: a second open (another open file description) finds it locked */
    CHECK(hub_journal_open(dir, 1, &other, &err) == 0 && other == NULL);
    CHECK(hub_journal_write(j, 1, HUB_SLICE_LIT("one")) == 0);
    CHECK(hub_journal_write(j, 2, HUB_SLICE_LIT("two")) == 0);
    CHECK(hub_journal_write(j, 3, HUB_SLICE_LIT("three")) == 0);
    CHECK(hub_journal_sync(j) == 0);
    seen s = {0, ""};
    uint64_t last = 0;
    CHECK(hub_journal_replay(j, 0, count_record, &s, &last, &err) == 0);
    CHECK(s.n == 3 && last == 3);
    CHECK_STR(s.last, "three");
    /* LMDB holds up to 1: replay starts at offset 0 and wants seq 2 there; it finds 1 */
    s = (seen){0, ""};
    CHECK(hub_journal_replay(j, 1, count_record, &s, &last, &err) == 0);
    CHECK(s.n == 0 && last == 1);
    /* a torn third record: the first two replay */
    char path[4200];
    snprintf(path, sizeof(path), "%s/%s", dir, HUB_JOURNAL_FILE);
    int fd = open(path, O_RDWR);
    REQUIRE(fd >= 0);
    CHECK(pwrite(fd, "X", 1, (20 + 3) + (20 + 3) + 20 + 2) == 1);
    close(fd);
    s = (seen){0, ""};
    CHECK(hub_journal_replay(j, 0, count_record, &s, &last, &err) == 0);
    CHECK(s.n == 2 && last == 2);
    /* after a rewind, record 4 at offset 0; the old records behind it are an earlier round */
    hub_journal_rewind(j);
    CHECK(hub_journal_write(j, 4, HUB_SLICE_LIT("four, longer than one")) == 0);
    s = (seen){0, ""};
    CHECK(hub_journal_replay(j, 3, count_record, &s, &last, &err) == 0);
    CHECK(s.n == 1 && last == 4);
    /* a record that does not fit before the end of the file */
    char *big = calloc(1, HUB_JOURNAL_BYTES);
    REQUIRE(big != NULL);
    CHECK(hub_journal_write(j, 5, (hub_slice){big, HUB_JOURNAL_BYTES}) == HUB_ETOOBIG);
    free(big);
    hub_journal_close(j);
    /* closed: the lock is free again, and the file is not made anew */
    CHECK(hub_journal_open(dir, 0, &other, &err) == 0 && other != NULL);
    hub_journal_close(other);
    hub_error_clear(&err);
}

/* ---- the writer with journaled ops -------------------------------------------------------- */

typedef struct jop {
    hub_write_op op; /* first */
    char key[32];
    int del;           /* delete the key (and every key with its prefix) instead */
    size_t big;        /* bytes of value (0: a short one) */
    atomic_int *count; /* done calls */
    int result;
    int visible_at_done; /* present() in done: lazy ops must be visible then */
    hub_store *s;
} jop;

static int jop_fn(hub_txn *t, void *arg)
{
    jop *a = arg;
    if (a->del)
        return hub_txn_del_prefix(t, HUB_DB_DRAFTS, hub_slice_cstr(a->key));
    if (a->big == 0)
        return hub_txn_put(t, HUB_DB_DRAFTS, hub_slice_cstr(a->key), HUB_SLICE_LIT("v"));
    char *v = calloc(1, a->big);
    int rc = v != NULL
                 ? hub_txn_put(t, HUB_DB_DRAFTS, hub_slice_cstr(a->key), (hub_slice){v, a->big})
                 : HUB_ENOMEM;
    free(v);
    return rc;
}

static void jop_done(hub_write_op *op)
{
    jop *a = (jop *)op;
    a->result = op->result;
    if (op->durability == HUB_WRITE_LAZY)
        a->visible_at_done = present(a->s, a->key);
    atomic_fetch_add(a->count, 1);
}

static void jop_init(jop *a, hub_store *s, const char *key, hub_write_durability d,
                     atomic_int *count)
{
    memset(a, 0, sizeof(*a));
    snprintf(a->key, sizeof(a->key), "%s", key);
    a->op = (hub_write_op){.fn = jop_fn, .arg = a, .done = jop_done, .durability = d};
    a->count = count;
    a->result = 12345;
    a->s = s;
}

static void wait_count(atomic_int *count, int n)
{
    for (int i = 0; i < 20000 && atomic_load(count) < n; i++)
        usleep(500);
}

static int noop_fn(hub_txn *t, void *arg)
{
    (void)t;
    (void)arg;
    return 0;
}

static void test_journaled_then_committed(void)
{
    hub_store *s = open_dir(test_tmpdir("journal_writer"));
    REQUIRE(s != NULL);
    REQUIRE(hub_store_writer_start(s, 0) == 0);
    enum { N = 40 };
    static jop ops[N];
    atomic_int count = 0;
    uint64_t commits = hub_store_commit_count(s);
    for (int i = 0; i < N; i++) {
        char k[32];
        snprintf(k, sizeof(k), "j%03d", i);
        jop_init(&ops[i], s, k, i % 4 == 3 ? HUB_WRITE_LAZY : HUB_WRITE_JOURNAL, &count);
        hub_store_submit(s, &ops[i].op);
    }
    wait_count(&count, N);
    REQUIRE(atomic_load(&count) == N);
    for (int i = 0; i < N; i++) {
        CHECK(ops[i].result == 0);
        if (ops[i].op.durability == HUB_WRITE_LAZY)
            CHECK(ops[i].visible_at_done == 1);
    }
    /* an op of the default durability commits everything journaled before it */
    CHECK(hub_store_write(s, noop_fn, NULL) == 0);
    CHECK(hub_store_settled(s));
    CHECK(hub_store_commit_count(s) > commits);
    for (int i = 0; i < N; i++)
        CHECK(present(s, ops[i].key) == 1);
    hub_writer_stats st;
    hub_store_writer_stats(s, &st);
    CHECK(st.journaled >= 1 && st.flushes >= 1);
    hub_store_close(s);
}

static void test_batch_too_big_for_the_journal(void)
{
    hub_store *s = open_dir(test_tmpdir("journal_big"));
    REQUIRE(s != NULL);
    REQUIRE(hub_store_writer_start(s, 0) == 0);
    enum { N = 6 };
    static jop ops[N];
    atomic_int count = 0;
    for (int i = 0; i < N; i++) {
        char k[32];
        snprintf(k, sizeof(k), "big%d", i);
        jop_init(&ops[i], s, k, HUB_WRITE_JOURNAL, &count);
        ops[i].big = HUB_JOURNAL_BYTES / 3;
        hub_store_submit(s, &ops[i].op);
    }
    wait_count(&count, N);
    REQUIRE(atomic_load(&count) == N);
    for (int i = 0; i < N; i++)
        CHECK(ops[i].result == 0);
    CHECK(hub_store_write(s, noop_fn, NULL) == 0);
    for (int i = 0; i < N; i++)
        CHECK(present(s, ops[i].key) == 1);
    hub_store_close(s);
}

/* In a child: journals puts of c0..c29, then deletes of c1* (c1, c10..c19), and exits
 * without closing the store while LMDB has not committed them. Exit 0, or 3 when the
 * writer's timer committed them first (then nothing is left to replay: try again). */
static int crash_child(const char *dir)
{
    hub_store *s = open_dir(dir);
    if (s == NULL || hub_store_writer_start(s, 0) != 0)
        return 2;
    enum { N = 31 };
    static jop ops[N];
    atomic_int count = 0;
    for (int i = 0; i < N; i++) {
        char k[32];
        snprintf(k, sizeof(k), "c%d", i < 30 ? i : 1);
        jop_init(&ops[i], s, k, HUB_WRITE_JOURNAL, &count);
        ops[i].del = i == 30;
        hub_store_submit(s, &ops[i].op);
        if (i == 29)
            wait_count(&count, 30); /* the delete comes after the puts */
    }
    wait_count(&count, N);
    for (int i = 0; i < N; i++)
        if (ops[i].result != 0)
            return 2;
    return hub_store_settled(s) ? 3 : 0;
}

static void test_crash_replays_the_journal(void)
{
    const char *dir = test_tmpdir("journal_crash");
    int status = 0;
    for (int attempt = 0; attempt < 10; attempt++) {
        fflush(NULL);
        pid_t pid = fork();
        REQUIRE(pid >= 0);
        if (pid == 0)
            _exit(crash_child(dir)); /* no close: the open transaction dies with the process */
        REQUIRE(waitpid(pid, &status, 0) == pid);
        REQUIRE(WIFEXITED(status));
        if (WEXITSTATUS(status) != 3)
            break;
    }
    REQUIRE(WEXITSTATUS(status) == 0);
    hub_store *s = open_dir(dir);
    REQUIRE(s != NULL);
    int kept = 0, gone = 0;
    for (int i = 0; i < 30; i++) {
        char k[32];
        snprintf(k, sizeof(k), "c%d", i);
        int want = !(i == 1 || (i >= 10 && i <= 19));
        (want ? &kept : &gone)[0] += present(s, k) == want;
    }
    CHECK(kept == 19 && gone == 11);
    hub_txn *t;
    hub_slice v;
    REQUIRE(hub_store_read(s, &t) == 0);
    CHECK(hub_txn_get(t, HUB_DB_META, HUB_SLICE_LIT("journal_seq"), &v) == 0 && v.len == 8 &&
          hub_be64_get((const unsigned char *)v.base) >= 2);
    hub_txn_end(t);
    hub_store_close(s);
    /* replayed once: opening again changes nothing and finds nothing to replay */
    s = open_dir(dir);
    REQUIRE(s != NULL);
    CHECK(present(s, "c0") == 1 && present(s, "c1") == 0 && present(s, "c29") == 1);
    hub_store_close(s);
}

/* In a child, beside the parent's server-like store that owns the journal: a journal op
 * commits to LMDB at once. Exit 0 when it did. */
static int second_child(const char *dir)
{
    hub_store *b = open_dir(dir);
    if (b == NULL || hub_store_writer_start(b, 0) != 0)
        return 2;
    atomic_int count = 0;
    static jop op;
    jop_init(&op, b, "from-b", HUB_WRITE_JOURNAL, &count);
    hub_store_submit(b, &op.op);
    wait_count(&count, 1);
    int ok = op.result == 0 && hub_store_settled(b) && present(b, "from-b") == 1;
    hub_store_close(b);
    return ok ? 0 : 1;
}

static void test_second_process_writes_without_journal(void)
{
    const char *dir = test_tmpdir("journal_two");
    hub_store *a = open_dir(dir);
    REQUIRE(a != NULL);
    REQUIRE(hub_store_writer_start(a, 0) == 0); /* makes and owns the journal */
    fflush(NULL);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0)
        _exit(second_child(dir));
    int status = 0;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK(present(a, "from-b") == 1); /* committed by the other process: seen at once */
    hub_store_close(a);
}

int main(void)
{
    RUN(test_redo_round_trip);
    RUN(test_replay_rules);
    RUN(test_journaled_then_committed);
    RUN(test_batch_too_big_for_the_journal);
    RUN(test_crash_replays_the_journal);
    RUN(test_second_process_writes_without_journal);
    return TEST_SUMMARY();
}
