/*
 * store tests: open/reopen, get/put/del, cursors, counters, schema version, map full,
 * backup, read snapshots.
 */
#include "store/store.h"
/* test.h formats a path into a fixed buffer; gcc cannot prove it fits */
#pragma GCC diagnostic ignored "-Wformat-truncation"
#include "test.h"

#include <lmdb.h>
#include <pthread.h>

static char dirbuf[512];

static hub_store *open_at(const char *dir, uint64_t map_size)
{
    hub_store_options o = {.dir = dir, .map_size = map_size};
    hub_store *s = NULL;
    hub_error err;
    hub_error_init(&err);
    int r = hub_store_open(&s, &o, &err);
    if (r != 0)
        fprintf(stderr, "open %s: %s\n", dir, err.message);
    hub_error_clear(&err);
    return s;
}

static const char *fresh(const char *name)
{
    snprintf(dirbuf, sizeof(dirbuf), "%s", test_tmpdir(name));
    return dirbuf;
}

typedef struct kv {
    hub_db db;
    const char *key;
    const char *val;
} kv;

static int put_fn(hub_txn *t, void *arg)
{
    kv *p = arg;
    return hub_txn_put(t, p->db, hub_slice_cstr(p->key), hub_slice_cstr(p->val));
}

static int del_fn(hub_txn *t, void *arg)
{
    kv *p = arg;
    return hub_txn_del(t, p->db, hub_slice_cstr(p->key));
}

/* Reads key into buf (NUL-terminated); returns the get result. */
static int read_str(hub_store *s, hub_db db, const char *key, char *buf, size_t cap)
{
    hub_txn *t;
    int r = hub_store_read(s, &t);
    if (r != 0)
        return r;
    hub_slice v;
    r = hub_txn_get(t, db, hub_slice_cstr(key), &v);
    if (r == 0)
        snprintf(buf, cap, "%.*s", (int)v.len, v.base);
    hub_txn_end(t);
    return r;
}

static void test_open_reopen(void)
{
    const char *dir = fresh("store_reopen");
    hub_store *s = open_at(dir, 0);
    REQUIRE(s != NULL);
    kv a = {HUB_DB_DRAFTS, "item-1", "hello"};
    CHECK(hub_store_write(s, put_fn, &a) == 0);
    hub_store_close(s);
    s = open_at(dir, 0);
    REQUIRE(s != NULL);
    char buf[64] = "";
    CHECK(read_str(s, HUB_DB_DRAFTS, "item-1", buf, sizeof(buf)) == 0);
    CHECK_STR(buf, "hello");
    CHECK(read_str(s, HUB_DB_HEADS, "item-1", buf, sizeof(buf)) == HUB_ENOTFOUND);
    hub_store_close(s);
    hub_store_close(NULL);
}

static void test_get_put_del(void)
{
    hub_store *s = open_at(fresh("store_gpd"), 0);
    REQUIRE(s != NULL);
    kv a = {HUB_DB_TERMS, "channel/email", "E"};
    CHECK(hub_store_write(s, put_fn, &a) == 0);
    a.val = "E2";
    CHECK(hub_store_write(s, put_fn, &a) == 0);
    char buf[64] = "";
    CHECK(read_str(s, HUB_DB_TERMS, "channel/email", buf, sizeof(buf)) == 0);
    CHECK_STR(buf, "E2");
    CHECK(hub_store_write(s, del_fn, &a) == 0);
    CHECK(read_str(s, HUB_DB_TERMS, "channel/email", buf, sizeof(buf)) == HUB_ENOTFOUND);
    CHECK(hub_store_write(s, del_fn, &a) == HUB_ENOTFOUND);
    kv empty = {HUB_DB_TERMS, "", "x"};
    CHECK(hub_store_write(s, put_fn, &empty) == HUB_EINVAL);
    char big[600];
    memset(big, 'k', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    kv toolong = {HUB_DB_TERMS, big, "x"};
    CHECK(hub_store_write(s, put_fn, &toolong) == HUB_EINVAL);
    CHECK(read_str(s, HUB_DB_TERMS, big, buf, sizeof(buf)) == HUB_ENOTFOUND);
    /* put on a read transaction is refused */
    hub_txn *t;
    REQUIRE(hub_store_read(s, &t) == 0);
    CHECK(hub_txn_put(t, HUB_DB_TERMS, HUB_SLICE_LIT("k"), HUB_SLICE_LIT("v")) == HUB_EINVAL);
    CHECK(hub_txn_del(t, HUB_DB_TERMS, HUB_SLICE_LIT("k")) == HUB_EINVAL);
    hub_txn_end(t);
    hub_store_close(s);
}

static int put_many_fn(hub_txn *t, void *arg)
{
    static const char *const keys[] = {"b", "d", "a", "c", "e"};
    (void)arg;
    for (size_t i = 0; i < 5; i++) {
        int r = hub_txn_put(t, HUB_DB_TAG_ITEMS, hub_slice_cstr(keys[i]), hub_slice_cstr(keys[i]));
        if (r != 0)
            return r;
    }
    return 0;
}

static int cursor_del_fn(hub_txn *t, void *arg)
{
    hub_cursor *c;
    hub_slice k, v;
    (void)arg;
    int r = hub_cursor_open(t, HUB_DB_TAG_ITEMS, &c);
    if (r != 0)
        return r;
    r = hub_cursor_seek(c, HUB_SLICE_LIT("c"), &k, &v);
    if (r == 0)
        r = hub_cursor_del(c);
    hub_cursor_close(c);
    return r;
}

static void test_cursors(void)
{
    hub_store *s = open_at(fresh("store_cursor"), 0);
    REQUIRE(s != NULL);
    REQUIRE(hub_store_write(s, put_many_fn, NULL) == 0);
    hub_txn *t;
    hub_cursor *c;
    hub_slice k, v;
    char seen[8] = "";
    size_t n = 0;
    REQUIRE(hub_store_read(s, &t) == 0);
    CHECK(hub_txn_count(t, HUB_DB_TAG_ITEMS) == 5);
    REQUIRE(hub_cursor_open(t, HUB_DB_TAG_ITEMS, &c) == 0);
    for (int r = hub_cursor_seek(c, (hub_slice){NULL, 0}, &k, &v); r == 0 && n < 7;
         r = hub_cursor_next(c, &k, &v))
        seen[n++] = k.base[0];
    CHECK_STR(seen, "abcde");
    CHECK(hub_cursor_seek(c, HUB_SLICE_LIT("bb"), &k, &v) == 0 && k.base[0] == 'c');
    CHECK(hub_cursor_seek(c, HUB_SLICE_LIT("f"), &k, &v) == HUB_ENOTFOUND);
    CHECK(hub_cursor_last(c, &k, &v) == 0 && k.base[0] == 'e' && v.len == 1);
    CHECK(hub_cursor_prev(c, &k, &v) == 0 && k.base[0] == 'd');
    CHECK(hub_cursor_del(c) == HUB_EINVAL); /* read transaction */
    hub_cursor_close(c);
    hub_txn_end(t);
    CHECK(hub_store_write(s, cursor_del_fn, NULL) == 0);
    REQUIRE(hub_store_read(s, &t) == 0);
    CHECK(hub_txn_count(t, HUB_DB_TAG_ITEMS) == 4);
    CHECK(hub_txn_get(t, HUB_DB_TAG_ITEMS, HUB_SLICE_LIT("c"), &v) == HUB_ENOTFOUND);
    /* a cursor left open is closed with its transaction, and closing it later is safe */
    REQUIRE(hub_cursor_open(t, HUB_DB_TAG_ITEMS, &c) == 0);
    hub_txn_end(t);
    CHECK(hub_cursor_next(c, &k, &v) == HUB_EINVAL);
    hub_cursor_close(c);
    hub_cursor_close(NULL);
    /* empty database */
    REQUIRE(hub_store_read(s, &t) == 0);
    REQUIRE(hub_cursor_open(t, HUB_DB_AUDIT, &c) == 0);
    CHECK(hub_cursor_last(c, &k, &v) == HUB_ENOTFOUND);
    CHECK(hub_cursor_seek(c, (hub_slice){NULL, 0}, &k, &v) == HUB_ENOTFOUND);
    hub_cursor_close(c);
    hub_txn_end(t);
    hub_store_close(s);
}

typedef struct seq_arg {
    const char *name;
    uint64_t got[3];
} seq_arg;

static int seq_fn(hub_txn *t, void *arg)
{
    seq_arg *a = arg;
    for (int i = 0; i < 3; i++) {
        int r = hub_txn_next_seq(t, a->name, &a->got[i]);
        if (r != 0)
            return r;
    }
    return 0;
}

static void test_next_seq(void)
{
    const char *dir = fresh("store_seq");
    hub_store *s = open_at(dir, 0);
    REQUIRE(s != NULL);
    seq_arg a = {.name = "changes"};
    CHECK(hub_store_write(s, seq_fn, &a) == 0);
    CHECK(a.got[0] == 1 && a.got[1] == 2 && a.got[2] == 3);
    seq_arg b = {.name = "audit"};
    CHECK(hub_store_write(s, seq_fn, &b) == 0);
    CHECK(b.got[0] == 1);
    hub_store_close(s);
    s = open_at(dir, 0);
    REQUIRE(s != NULL);
    CHECK(hub_store_write(s, seq_fn, &a) == 0);
    CHECK(a.got[0] == 4 && a.got[2] == 6);
    hub_store_close(s);
}

static int schema_fn(hub_txn *t, void *arg)
{
    return hub_txn_put(t, HUB_DB_META, HUB_SLICE_LIT("schema_version"), hub_slice_cstr(arg));
}

static void test_schema_newer_refused(void)
{
    const char *dir = fresh("store_schema");
    hub_store *s = open_at(dir, 0);
    REQUIRE(s != NULL);
    CHECK(hub_store_write(s, schema_fn, "3") == 0);
    hub_store_close(s);
    hub_store_options o = {.dir = dir};
    hub_error err;
    hub_error_init(&err);
    s = NULL;
    CHECK(hub_store_open(&s, &o, &err) == HUB_EINVAL);
    CHECK(s == NULL);
    CHECK(strstr(err.message, "newer") != NULL);
    hub_error_clear(&err);
}

/* A version 1 store kept webhooks and schedules in LMDB's main database (their names were
 * missing); opening it moves them to their own databases and leaves nothing behind. */
static void v1_put(MDB_txn *t, MDB_dbi d, const void *k, size_t kl, const char *v, size_t vl)
{
    MDB_val mk = {kl, (void *)k}, mv = {vl, (void *)v};
    CHECK(mdb_put(t, d, &mk, &mv, 0) == 0);
}

static void make_v1(const char *dir)
{
    MDB_env *env;
    MDB_txn *t;
    MDB_dbi meta, main_db;
    unsigned char sk[8 + 4] = {0, 0, 1, 2, 3, 4, 5, 6, 'a', '/', 'b', 0};
    REQUIRE(mdb_env_create(&env) == 0);
    mdb_env_set_maxdbs(env, 64);
    REQUIRE(mdb_env_open(env, dir, 0, 0600) == 0);
    REQUIRE(mdb_txn_begin(env, NULL, 0, &t) == 0);
    REQUIRE(mdb_dbi_open(t, "meta", MDB_CREATE, &meta) == 0);
    REQUIRE(mdb_dbi_open(t, NULL, 0, &main_db) == 0);
    v1_put(t, meta, "schema_version", 14, "1", 1);
    static const char hook[] = "{\"id\":\"hook-1\",\"url\":\"http://x/\"}";
    static const char sched[] = "{\"action\":\"publish\",\"key\":\"a/b\"}";
    v1_put(t, main_db, "hook-1", 6, hook, sizeof(hook) - 1);
    v1_put(t, main_db, sk, 11, sched, sizeof(sched) - 1);
    v1_put(t, main_db, "a/b", 3, "\0\0\1\2\3\4\5\6", 8);
    REQUIRE(mdb_txn_commit(t) == 0);
    mdb_env_close(env);
}

static void test_schema_v1_migrated(void)
{
    const char *dir = fresh("store_v1");
    char buf[64];
    make_v1(dir);
    hub_store *s = open_at(dir, 0);
    REQUIRE(s != NULL);
    CHECK(read_str(s, HUB_DB_WEBHOOKS, "hook-1", buf, sizeof(buf)) == 0);
    CHECK(strstr(buf, "http://x/") != NULL);
    CHECK(read_str(s, HUB_DB_META, "schema_version", buf, sizeof(buf)) == 0);
    CHECK_STR(buf, "2");
    hub_txn *t;
    hub_slice v;
    unsigned char sk[11] = {0, 0, 1, 2, 3, 4, 5, 6, 'a', '/', 'b'};
    REQUIRE(hub_store_read(s, &t) == 0);
    CHECK(hub_txn_get(t, HUB_DB_SCHEDULE, (hub_slice){(char *)sk, 11}, &v) == 0);
    CHECK(hub_txn_get(t, HUB_DB_SCHEDULE_KEYS, HUB_SLICE_LIT("a/b"), &v) == 0 && v.len == 8);
    CHECK(hub_txn_count(t, HUB_DB_WEBHOOKS) == 1);
    hub_txn_end(t);
    hub_store_close(s);
    /* nothing is left in the main database but the names of the databases */
    MDB_env *env;
    MDB_txn *rt;
    MDB_dbi main_db;
    MDB_stat st;
    REQUIRE(mdb_env_create(&env) == 0);
    mdb_env_set_maxdbs(env, 64);
    REQUIRE(mdb_env_open(env, dir, MDB_RDONLY, 0600) == 0);
    REQUIRE(mdb_txn_begin(env, NULL, MDB_RDONLY, &rt) == 0);
    REQUIRE(mdb_dbi_open(rt, NULL, 0, &main_db) == 0);
    REQUIRE(mdb_stat(rt, main_db, &st) == 0);
    CHECK(st.ms_entries == HUB_DB_COUNT);
    mdb_txn_abort(rt);
    mdb_env_close(env);
}

static void test_open_errors(void)
{
    hub_store_options o = {.dir = "/proc/omnihub-cannot-exist/x"};
    hub_error err;
    hub_error_init(&err);
    hub_store *s = NULL;
    CHECK(hub_store_open(&s, &o, &err) == HUB_EIO);
    CHECK(s == NULL && err.message[0] != '\0');
    hub_store_options none = {0};
    CHECK(hub_store_open(&s, &none, &err) == HUB_EINVAL);
    hub_error_clear(&err);
}

/* ---- map full -------------------------------------------------------------------------- */

typedef struct fill_arg {
    int n;
    size_t vlen;
} fill_arg;

static int fill_fn(hub_txn *t, void *arg)
{
    fill_arg *a = arg;
    static char val[4096];
    char key[32];
    memset(val, 'v', sizeof(val));
    for (int i = 0; i < 4; i++) { /* four puts per op: a failure must roll back all four */
        snprintf(key, sizeof(key), "k%06d-%d", a->n, i);
        int r = hub_txn_put(t, HUB_DB_DELIVERY, hub_slice_cstr(key), (hub_slice){val, a->vlen});
        if (r != 0)
            return r;
    }
    return 0;
}

/* Ignores the put error: the store must still refuse to commit half the op. */
static int fill_ignore_fn(hub_txn *t, void *arg)
{
    (void)fill_fn(t, arg);
    return 0;
}

static void check_map_full(hub_write_fn fn, const char *name)
{
    hub_store *s = open_at(fresh(name), 1 << 20);
    REQUIRE(s != NULL);
    REQUIRE(hub_store_writer_start(s, 0) == 0);
    fill_arg a = {0, 3000};
    int r = 0;
    for (a.n = 0; a.n < 2000; a.n++) {
        r = hub_store_write(s, fn, &a);
        if (r != 0)
            break;
    }
    CHECK(r == HUB_EFULL);
    CHECK(a.n > 10);
    hub_txn *t;
    hub_slice v;
    REQUIRE(hub_store_read(s, &t) == 0);
    CHECK(hub_txn_count(t, HUB_DB_DELIVERY) == (size_t)a.n * 4);
    CHECK(hub_txn_get(t, HUB_DB_DELIVERY, HUB_SLICE_LIT("k000000-3"), &v) == 0 && v.len == 3000);
    char key[32];
    snprintf(key, sizeof(key), "k%06d-0", a.n);
    CHECK(hub_txn_get(t, HUB_DB_DELIVERY, hub_slice_cstr(key), &v) == HUB_ENOTFOUND);
    hub_txn_end(t);
    /* small writes still fit or fail cleanly, and the store keeps working */
    kv small = {HUB_DB_META, "after", "x"};
    r = hub_store_write(s, put_fn, &small);
    CHECK(r == 0 || r == HUB_EFULL);
    hub_store_close(s);
}

static void test_map_full(void)
{
    check_map_full(fill_fn, "store_full");
    check_map_full(fill_ignore_fn, "store_full_ignore");
}

/* ---- backup and snapshots -------------------------------------------------------------- */

static void test_backup(void)
{
    char src[512], dst[600];
    snprintf(src, sizeof(src), "%s", fresh("store_backup_src"));
    snprintf(dst, sizeof(dst), "%s/copy", fresh("store_backup_dst"));
    hub_store *s = open_at(src, 0);
    REQUIRE(s != NULL);
    kv a = {HUB_DB_JOURNEYS, "welcome", "{\"steps\":3}"};
    CHECK(hub_store_write(s, put_fn, &a) == 0);
    hub_error err;
    hub_error_init(&err);
    CHECK(hub_store_backup(s, dst, &err) == 0);
    CHECK(hub_store_backup(s, dst, &err) == HUB_EINVAL); /* not empty now */
    CHECK(strstr(err.message, "not empty") != NULL);
    hub_store_close(s);

    hub_store_options o = {.dir = dst, .read_only = 1};
    REQUIRE(hub_store_open(&s, &o, &err) == 0);
    char buf[64] = "";
    CHECK(read_str(s, HUB_DB_JOURNEYS, "welcome", buf, sizeof(buf)) == 0);
    CHECK_STR(buf, "{\"steps\":3}");
    CHECK(hub_store_write(s, put_fn, &a) == HUB_EINVAL); /* read-only */
    CHECK(hub_store_writer_start(s, 0) == HUB_EINVAL);
    hub_store_close(s);
    s = open_at(dst, 0); /* and writable */
    REQUIRE(s != NULL);
    CHECK(read_str(s, HUB_DB_JOURNEYS, "welcome", buf, sizeof(buf)) == 0);
    hub_store_close(s);
    hub_error_clear(&err);
}

static void test_snapshot(void)
{
    hub_store *s = open_at(fresh("store_snap"), 0);
    REQUIRE(s != NULL);
    REQUIRE(hub_store_writer_start(s, 0) == 0);
    kv a = {HUB_DB_HEADS, "x", "old"};
    REQUIRE(hub_store_write(s, put_fn, &a) == 0);
    hub_txn *t, *t2;
    hub_slice v;
    REQUIRE(hub_store_read(s, &t) == 0);
    a.val = "new";
    CHECK(hub_store_write(s, put_fn, &a) == 0);
    kv b = {HUB_DB_HEADS, "y", "added"};
    CHECK(hub_store_write(s, put_fn, &b) == 0);
    CHECK(hub_txn_get(t, HUB_DB_HEADS, HUB_SLICE_LIT("x"), &v) == 0 && v.len == 3 &&
          memcmp(v.base, "old", 3) == 0);
    CHECK(hub_txn_get(t, HUB_DB_HEADS, HUB_SLICE_LIT("y"), &v) == HUB_ENOTFOUND);
    /* a second read on the same thread sees the new state */
    REQUIRE(hub_store_read(s, &t2) == 0);
    CHECK(t2 != t);
    CHECK(hub_txn_get(t2, HUB_DB_HEADS, HUB_SLICE_LIT("x"), &v) == 0 &&
          memcmp(v.base, "new", 3) == 0);
    hub_txn_end(t2);
    hub_txn_end(t);
    REQUIRE(hub_store_read(s, &t) == 0);
    CHECK(hub_txn_get(t, HUB_DB_HEADS, HUB_SLICE_LIT("y"), &v) == 0);
    hub_txn_end(t);
    hub_store_close(s);
}

/* Two stores read alternately on one thread: the thread cache must follow. */
static void test_two_stores(void)
{
    char d1[512];
    snprintf(d1, sizeof(d1), "%s", fresh("store_two_a"));
    hub_store *s1 = open_at(d1, 0);
    hub_store *s2 = open_at(fresh("store_two_b"), 0);
    REQUIRE(s1 != NULL && s2 != NULL);
    kv a = {HUB_DB_META, "who", "one"}, b = {HUB_DB_META, "who", "two"};
    CHECK(hub_store_write(s1, put_fn, &a) == 0);
    CHECK(hub_store_write(s2, put_fn, &b) == 0);
    char buf[16];
    for (int i = 0; i < 50; i++) {
        CHECK(read_str(s1, HUB_DB_META, "who", buf, sizeof(buf)) == 0 && buf[0] == 'o');
        CHECK(read_str(s2, HUB_DB_META, "who", buf, sizeof(buf)) == 0 && buf[0] == 't');
    }
    hub_store_close(s1);
    CHECK(read_str(s2, HUB_DB_META, "who", buf, sizeof(buf)) == 0 && buf[0] == 't');
    hub_store_close(s2);
}

int main(void)
{
    RUN(test_open_reopen);
    RUN(test_get_put_del);
    RUN(test_cursors);
    RUN(test_next_seq);
    RUN(test_schema_newer_refused);
    RUN(test_schema_v1_migrated);
    RUN(test_open_errors);
    RUN(test_map_full);
    RUN(test_backup);
    RUN(test_snapshot);
    RUN(test_two_stores);
    return TEST_SUMMARY();
}
