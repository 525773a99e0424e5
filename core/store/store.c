/*
 * store: the LMDB environment, named databases, schema version, read transactions, the
 * transaction and cursor wrappers, backup and the big-endian helpers. The writer thread
 * lives in writer.c; the few functions the two files share are declared in both, marked
 * "store-private".
 *
 * Read transactions are cheap: each thread caches one reset read-only MDB_txn per store
 * (MDB_NOTLS lets us own the reader slot ourselves) and renews it on the next read. Extra
 * slots (a second read on the same thread, or a thread whose cache holds another store)
 * come from a per-store free pool. Every slot belongs to one store and is aborted when that
 * store closes; a thread's cache is keyed by a process-unique store id, so a cache entry
 * left behind by a closed store is never touched again.
 */
#include "store/store.h"

#include "store/journal.h"

#include <dirent.h>
#include <errno.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define DEFAULT_MAP_SIZE    (4ULL << 30)
#define DEFAULT_MAX_READERS 512u
#define MAX_KEY             511u

static const char *const db_names[HUB_DB_COUNT] = {
    "meta",         "tokens",   "token_names", "locales",    "terms",      "drafts",
    "heads",        "versions", "delivery",    "tag_items",  "changes",    "audit",
    "audit_key",    "journeys", "jobs",        "job_bodies", "job_due",    "job_status",
    "idempotency",  "inbox",    "inbox_ids",   "webhooks",   "schedule",   "schedule_keys",
    "assignments",  "bandit",   "counters",    "touch",      "touch_time", "conversions",
    "translations",
};
_Static_assert(sizeof(db_names) / sizeof(db_names[0]) == HUB_DB_COUNT, "a database has no name");

struct hub_txn {
    hub_store *s;
    MDB_txn *txn;
    int writable;
    int err;             /* sticky: a write failed (HUB_EFULL, HUB_EIO); the op must not commit */
    int active;          /* read slots: between hub_store_read and hub_txn_end */
    hub_cursor *cursors; /* open cursors, closed when the transaction finishes */
    struct rslot *slot;  /* read transactions: the slot that holds this txn */
    hub_buf *redo;       /* the writer's journal record: every change is added to it */
};

struct hub_cursor {
    MDB_cursor *mc; /* NULL once its transaction finished */
    hub_txn *t;     /* NULL once detached */
    hub_cursor *next;
};

typedef struct rslot {
    hub_txn txn;
    struct rslot *next_all;  /* every slot of the store */
    struct rslot *next_free; /* the free pool */
    int cached;              /* held by a thread's cache (only that thread changes it) */
} rslot;

struct hub_store {
    MDB_env *env;
    MDB_dbi dbi[HUB_DB_COUNT];
    int read_only;
    int absent[HUB_DB_COUNT]; /* read only: databases an older store does not have yet */
    uint64_t id;
    hub_store *live_next;
    pthread_mutex_t pool_mu; /* slots lists */
    rslot *all_slots;
    rslot *free_slots;
    atomic_uint_fast64_t commits;
    struct hub_writer *writer; /* writer.c; NULL until started */
    pthread_mutex_t hook_mu;   /* the commit hook: set and called under it */
    void (*hook)(void *ctx);
    void *hook_ctx;
    hub_journal *journal; /* this process owns the journal (NULL: another one does, or none) */
    uint64_t journal_seq; /* the last journal record LMDB holds */
    char dir[4096];
};

/* store-private (shared with writer.c) */
MDB_env *hub_store_env_(hub_store *s);
struct hub_writer **hub_store_writer_ref_(hub_store *s);
int hub_store_xlate_(int rc);
int hub_store_run_fn_(hub_store *s, MDB_txn *txn, hub_buf *redo, hub_write_fn fn, void *arg);
hub_journal *hub_store_journal_(hub_store *s, uint64_t *seq);
int hub_store_put_journal_seq_(hub_store *s, MDB_txn *txn, uint64_t seq);
void hub_store_count_commit_(hub_store *s, int ok);
int hub_store_is_read_only_(hub_store *s);
void hub_store_writer_destroy_(hub_store *s);

/* ---- the live-store registry and the per-thread cache ---------------------------------- */

static pthread_mutex_t live_mu = PTHREAD_MUTEX_INITIALIZER;
static hub_store *live_stores;
static uint64_t next_store_id = 1; /* under live_mu */

typedef struct tl_cache {
    uint64_t store_id;
    hub_store *store;
    rslot *slot;
} tl_cache;

static _Thread_local tl_cache tl;
static pthread_key_t tl_key;
static pthread_once_t tl_once = PTHREAD_ONCE_INIT;

static void pool_push(hub_store *s, rslot *slot)
{
    pthread_mutex_lock(&s->pool_mu);
    slot->next_free = s->free_slots;
    s->free_slots = slot;
    pthread_mutex_unlock(&s->pool_mu);
}

/* Hands a thread's cached slot back to its store's pool, if that store is still open. */
static void tl_release(tl_cache *c)
{
    if (c->slot == NULL)
        return;
    pthread_mutex_lock(&live_mu);
    for (hub_store *p = live_stores; p != NULL; p = p->live_next) {
        if (p == c->store && p->id == c->store_id) {
            c->slot->cached = 0;
            if (!c->slot->txn.active)
                pool_push(p, c->slot);
            break;
        }
    }
    pthread_mutex_unlock(&live_mu);
    c->slot = NULL;
    c->store = NULL;
    c->store_id = 0;
}

static void tl_destroy(void *p)
{
    tl_release(p);
}

static void tl_key_init(void)
{
    if (pthread_key_create(&tl_key, tl_destroy) != 0)
        HUB_LOG_WARN("store: no thread key; read slots of exiting threads are kept until close");
}

/* ---- small helpers --------------------------------------------------------------------- */

int hub_store_xlate_(int rc)
{
    switch (rc) {
    case MDB_SUCCESS:
        return 0;
    case MDB_NOTFOUND:
        return HUB_ENOTFOUND;
    case MDB_MAP_FULL:
        return HUB_EFULL;
    case MDB_BAD_VALSIZE:
        return HUB_EINVAL;
    case ENOMEM:
        return HUB_ENOMEM;
    default:
        HUB_LOG_ERROR("store: %s", mdb_strerror(rc));
        return HUB_EIO;
    }
}

MDB_env *hub_store_env_(hub_store *s)
{
    return s->env;
}

struct hub_writer **hub_store_writer_ref_(hub_store *s)
{
    return &s->writer;
}

void hub_store_count_commit_(hub_store *s, int ok)
{
    atomic_fetch_add(&s->commits, 1);
    if (!ok)
        return;
    pthread_mutex_lock(&s->hook_mu);
    if (s->hook != NULL)
        s->hook(s->hook_ctx);
    pthread_mutex_unlock(&s->hook_mu);
}

void hub_store_set_commit_hook(hub_store *s, void (*fn)(void *ctx), void *ctx)
{
    pthread_mutex_lock(&s->hook_mu);
    s->hook = fn;
    s->hook_ctx = ctx;
    pthread_mutex_unlock(&s->hook_mu);
}

int hub_store_is_read_only_(hub_store *s)
{
    return s->read_only;
}

uint64_t hub_store_commit_count(hub_store *s)
{
    return atomic_load(&s->commits);
}

uint64_t hub_store_map_used(hub_store *s)
{
    MDB_envinfo info;
    MDB_stat st;
    if (mdb_env_info(s->env, &info) != 0 || mdb_env_stat(s->env, &st) != 0)
        return 0;
    return ((uint64_t)info.me_last_pgno + 1) * st.ms_psize;
}

static int key_ok(hub_slice key)
{
    return key.len > 0 && key.len <= MAX_KEY && key.base != NULL;
}

static MDB_val to_val(hub_slice s)
{
    MDB_val v = {s.len, (void *)s.base};
    return v;
}

static hub_slice from_val(MDB_val v)
{
    hub_slice s = {v.mv_data, v.mv_size};
    return s;
}

/* Closes the cursors still open on t (the transaction is about to finish). */
static void txn_close_cursors(hub_txn *t)
{
    hub_cursor *c = t->cursors;
    while (c != NULL) {
        hub_cursor *next = c->next;
        if (c->mc != NULL)
            mdb_cursor_close(c->mc);
        c->mc = NULL;
        c->t = NULL;
        c->next = NULL;
        c = next;
    }
    t->cursors = NULL;
}

/* Records a failed write so the operation is rolled back whatever fn returns. */
static int txn_write_failed(hub_txn *t, int rc)
{
    int code = hub_store_xlate_(rc);
    if (t->err == 0 && (code == HUB_EFULL || code == HUB_EIO || code == HUB_ENOMEM))
        t->err = code; /* the first failure is the cause; later ones say "txn is broken" */
    return code;
}

int hub_store_run_fn_(hub_store *s, MDB_txn *txn, hub_buf *redo, hub_write_fn fn, void *arg)
{
    hub_txn t = {.s = s, .txn = txn, .writable = 1, .redo = redo};
    int r = fn(&t, arg);
    txn_close_cursors(&t);
    if (r >= 0 && t.err != 0)
        r = t.err;
    return r;
}

/* ---- open and close -------------------------------------------------------------------- */

static int make_dir(const char *dir, hub_error *err)
{
    if (mkdir(dir, 0750) == 0 || errno == EEXIST) {
        struct stat st;
        if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
            return hub_error_set(err, HUB_EIO, "data directory %s: not a directory", dir);
        return 0;
    }
    return hub_error_set(err, HUB_EIO, "data directory %s: %s", dir, strerror(errno));
}

/* Writes the schema version into a new store, refuses a newer one. */
/* 1 if key names one of our databases (the records LMDB keeps in its main database). */
static int is_db_name(MDB_val k)
{
    for (int i = 0; i < HUB_DB_COUNT; i++)
        if (strlen(db_names[i]) == k.mv_size && memcmp(db_names[i], k.mv_data, k.mv_size) == 0)
            return 1;
    return 0;
}

/* Where a version 1 record of the main database belongs, by its shape: schedule_keys values
 * are 8 bytes; schedule keys start with 8 bytes of time and hold {"action",...}; webhooks
 * hold {"url",...}. -1: none of them (left in place). */
static int v1_home(MDB_val k, MDB_val v)
{
    const char *d = v.mv_data;
    if (v.mv_size == 8)
        return HUB_DB_SCHEDULE_KEYS;
    if (v.mv_size > 10 && d[0] == '{' && k.mv_size > 8 && memmem(d, v.mv_size, "\"action\"", 8))
        return HUB_DB_SCHEDULE;
    if (v.mv_size > 6 && d[0] == '{' && memmem(d, v.mv_size, "\"url\"", 5))
        return HUB_DB_WEBHOOKS;
    return -1;
}

/* Schema 1 -> 2: moves webhooks and schedules out of LMDB's main database. */
static int migrate_v1(hub_store *s, MDB_txn *txn, hub_error *err)
{
    MDB_dbi main_db;
    MDB_cursor *c;
    MDB_val k, v;
    int rc = mdb_dbi_open(txn, NULL, 0, &main_db);
    if (rc == 0)
        rc = mdb_cursor_open(txn, main_db, &c);
    if (rc != 0)
        return hub_error_set(err, HUB_EIO, "store: migrating: %s", mdb_strerror(rc));
    rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
    while (rc == 0) {
        int home = is_db_name(k) ? -1 : v1_home(k, v);
        if (home >= 0) {
            rc = mdb_put(txn, s->dbi[home], &k, &v, 0);
            if (rc == 0)
                rc = mdb_cursor_del(c, 0);
            if (rc == 0)
                rc = mdb_cursor_get(c, &k, &v, MDB_GET_CURRENT);
            if (rc == EINVAL || rc == MDB_NOTFOUND)
                rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
            continue;
        }
        rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(c);
    if (rc != MDB_NOTFOUND)
        return hub_error_set(err, hub_store_xlate_(rc), "store: migrating: %s", mdb_strerror(rc));
    return 0;
}

static int write_schema(hub_store *s, MDB_txn *txn, hub_error *err)
{
    MDB_val k = {sizeof("schema_version") - 1, "schema_version"};
    char buf[24];
    int n = snprintf(buf, sizeof(buf), "%d", HUB_STORE_SCHEMA_VERSION);
    MDB_val nv = {(size_t)n, buf};
    int rc = mdb_put(txn, s->dbi[HUB_DB_META], &k, &nv, 0);
    if (rc != 0)
        return hub_error_set(err, hub_store_xlate_(rc), "writing schema version: %s",
                             mdb_strerror(rc));
    return 0;
}

static int check_schema(hub_store *s, MDB_txn *txn, hub_error *err)
{
    MDB_val k = {sizeof("schema_version") - 1, "schema_version"}, v;
    int rc = mdb_get(txn, s->dbi[HUB_DB_META], &k, &v);
    if (rc == MDB_NOTFOUND) {
        if (s->read_only)
            return hub_error_set(err, HUB_EIO, "store has no schema version (not initialized)");
        return write_schema(s, txn, err);
    }
    if (rc != 0)
        return hub_error_set(err, HUB_EIO, "reading schema version: %s", mdb_strerror(rc));
    uint64_t ver;
    if (hub_parse_u64((hub_slice){v.mv_data, v.mv_size}, &ver) != 0)
        return hub_error_set(err, HUB_EIO, "store schema version is not a number (corrupt meta)");
    if (ver > HUB_STORE_SCHEMA_VERSION)
        return hub_error_set(err, HUB_EINVAL,
                             "store schema version %llu is newer than this build supports (%d); "
                             "use a newer omnihub",
                             (unsigned long long)ver, HUB_STORE_SCHEMA_VERSION);
    if (ver == 1 && !s->read_only) {
        rc = migrate_v1(s, txn, err);
        return rc != 0 ? rc : write_schema(s, txn, err);
    }
    return 0;
}

/* ---- the journal ------------------------------------------------------------------------ */

static const MDB_val journal_seq_key = {sizeof("journal_seq") - 1, "journal_seq"};

typedef struct replay_ctx {
    hub_store *s;
    MDB_txn *txn;
} replay_ctx;

/* Applies one journal record's changes (journal.c calls it in record order). */
static int replay_record(void *arg, hub_slice payload)
{
    replay_ctx *c = arg;
    size_t pos = 0;
    hub_redo r;
    int got, rc = 0;
    while (rc == 0 && (got = hub_redo_next(payload, &pos, &r)) == 1) {
        if (r.db >= HUB_DB_COUNT || !key_ok(r.key))
            return HUB_EIO;
        MDB_val k = to_val(r.key), v = to_val(r.val);
        if (v.mv_data == NULL)
            v.mv_data = "";
        rc = r.del ? mdb_del(c->txn, c->s->dbi[r.db], &k, NULL)
                   : mdb_put(c->txn, c->s->dbi[r.db], &k, &v, 0);
        if (rc == MDB_NOTFOUND)
            rc = 0; /* deleted by a record replayed before, or never stored */
    }
    return rc != 0 ? hub_store_xlate_(rc) : got < 0 ? got : 0;
}

int hub_store_put_journal_seq_(hub_store *s, MDB_txn *txn, uint64_t seq)
{
    unsigned char b[8];
    hub_be64_put(b, seq);
    MDB_val k = journal_seq_key, v = {8, b};
    return mdb_put(txn, s->dbi[HUB_DB_META], &k, &v, 0);
}

/* Reads META's journal_seq, then applies the journal's records after it: the batches that
 * were answered before the process stopped but that LMDB did not commit. */
static int replay_journal(hub_store *s, MDB_txn *txn, hub_error *err)
{
    MDB_val k = journal_seq_key, v;
    int rc = mdb_get(txn, s->dbi[HUB_DB_META], &k, &v);
    if (rc == 0 && v.mv_size == 8)
        s->journal_seq = hub_be64_get(v.mv_data);
    else if (rc != MDB_NOTFOUND)
        return hub_error_set(err, HUB_EIO, "store: journal_seq: %s",
                             rc == 0 ? "not 8 bytes (corrupt meta)" : mdb_strerror(rc));
    if (s->journal == NULL)
        return 0;
    replay_ctx c = {s, txn};
    uint64_t last;
    int r = hub_journal_replay(s->journal, s->journal_seq, replay_record, &c, &last, err);
    if (r != 0)
        return r;
    if (last == s->journal_seq)
        return 0;
    HUB_LOG_INFO("store: replayed %llu journal records that were answered but not committed",
                 (unsigned long long)(last - s->journal_seq));
    s->journal_seq = last;
    rc = hub_store_put_journal_seq_(s, txn, last);
    return rc == 0 ? 0
                   : hub_error_set(err, hub_store_xlate_(rc), "store: journal_seq: %s",
                                   mdb_strerror(rc));
}

/* The journal for the writer, made now if there is none yet; NULL when another process owns
 * it or it cannot be made (the writer then commits every batch to LMDB). *seq: the last record
 * LMDB holds. */
hub_journal *hub_store_journal_(hub_store *s, uint64_t *seq)
{
    *seq = s->journal_seq;
    if (s->journal != NULL || s->read_only)
        return s->journal;
    hub_error err;
    hub_error_init(&err);
    if (hub_journal_open(s->dir, 1, &s->journal, &err) != 0)
        HUB_LOG_WARN("%s; every batch commits to LMDB", err.message);
    else if (s->journal == NULL)
        HUB_LOG_WARN("store: another process holds %s/%s; every batch commits to LMDB", s->dir,
                     HUB_JOURNAL_FILE);
    hub_error_clear(&err);
    return s->journal;
}

/* Opens every named database, checks the schema and replays the journal, in one
 * transaction. */
static int open_dbs(hub_store *s, hub_error *err)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(s->env, NULL, s->read_only ? MDB_RDONLY : 0, &txn);
    if (rc != 0)
        return hub_error_set(err, HUB_EIO, "store: begin: %s", mdb_strerror(rc));
    for (int i = 0; i < HUB_DB_COUNT; i++) {
        rc = mdb_dbi_open(txn, db_names[i], s->read_only ? 0 : MDB_CREATE, &s->dbi[i]);
        if (rc == MDB_NOTFOUND && s->read_only) {
            s->absent[i] = 1; /* an older store, read only: the database reads as empty */
            continue;
        }
        if (rc != 0) {
            mdb_txn_abort(txn);
            return hub_error_set(err, HUB_EIO, "store: database %s: %s", db_names[i],
                                 mdb_strerror(rc));
        }
    }
    int r = check_schema(s, txn, err);
    if (r == 0 && !s->read_only)
        r = replay_journal(s, txn, err);
    if (r != 0) {
        mdb_txn_abort(txn);
        return r;
    }
    rc = mdb_txn_commit(txn); /* also for read-only: keeps the dbi handles */
    if (rc != 0)
        return hub_error_set(err, hub_store_xlate_(rc), "store: initial commit: %s",
                             mdb_strerror(rc));
    return 0;
}

static int env_open(hub_store *s, const hub_store_options *opts, hub_error *err)
{
    int rc = mdb_env_create(&s->env);
    if (rc != 0)
        return hub_error_set(err, HUB_EIO, "store: mdb_env_create: %s", mdb_strerror(rc));
    uint64_t map = opts->map_size ? opts->map_size : DEFAULT_MAP_SIZE;
    unsigned readers = opts->max_readers ? opts->max_readers : DEFAULT_MAX_READERS;
    if ((rc = mdb_env_set_maxdbs(s->env, HUB_DB_COUNT + 4)) != 0 ||
        (rc = mdb_env_set_mapsize(s->env, (size_t)map)) != 0 ||
        (rc = mdb_env_set_maxreaders(s->env, readers)) != 0)
        return hub_error_set(err, HUB_EIO, "store: configuring environment: %s", mdb_strerror(rc));
    unsigned flags = MDB_NOTLS | (s->read_only ? MDB_RDONLY : 0);
    rc = mdb_env_open(s->env, opts->dir, flags, 0640);
    if (rc != 0)
        return hub_error_set(err, HUB_EIO, "store %s: %s", opts->dir, mdb_strerror(rc));
    int dead = 0;
    if (mdb_reader_check(s->env, &dead) == 0 && dead > 0)
        HUB_LOG_INFO("store: cleared %d stale reader slots", dead);
    return 0;
}

int hub_store_open(hub_store **out, const hub_store_options *opts, hub_error *err)
{
    *out = NULL;
    if (opts == NULL || opts->dir == NULL || opts->dir[0] == '\0')
        return hub_error_set(err, HUB_EINVAL, "store: no data directory given");
    if (!opts->read_only) {
        int r = make_dir(opts->dir, err);
        if (r != 0)
            return r;
    }
    hub_store *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return hub_error_set(err, HUB_ENOMEM, "store: out of memory");
    s->read_only = opts->read_only != 0;
    pthread_mutex_init(&s->pool_mu, NULL);
    pthread_mutex_init(&s->hook_mu, NULL);
    atomic_init(&s->commits, 0);
    snprintf(s->dir, sizeof(s->dir), "%s", opts->dir);
    int r = env_open(s, opts, err);
    if (r == 0 && !s->read_only)
        r = hub_journal_open(opts->dir, 0, &s->journal, err);
    if (r == 0)
        r = open_dbs(s, err);
    if (r != 0) {
        hub_journal_close(s->journal);
        if (s->env != NULL)
            mdb_env_close(s->env);
        pthread_mutex_destroy(&s->pool_mu);
        pthread_mutex_destroy(&s->hook_mu);
        free(s);
        return r;
    }
    pthread_once(&tl_once, tl_key_init);
    pthread_mutex_lock(&live_mu);
    s->id = next_store_id++;
    s->live_next = live_stores;
    live_stores = s;
    pthread_mutex_unlock(&live_mu);
    *out = s;
    return 0;
}

void hub_store_close(hub_store *s)
{
    if (s == NULL)
        return;
    hub_store_writer_stop(s);
    hub_store_writer_destroy_(s);
    pthread_mutex_lock(&live_mu);
    for (hub_store **pp = &live_stores; *pp != NULL; pp = &(*pp)->live_next) {
        if (*pp == s) {
            *pp = s->live_next;
            break;
        }
    }
    pthread_mutex_unlock(&live_mu);
    if (tl.store == s && tl.store_id == s->id) {
        tl.slot = NULL;
        tl.store = NULL;
        tl.store_id = 0;
    }
    rslot *slot = s->all_slots;
    while (slot != NULL) {
        rslot *next = slot->next_all;
        if (slot->txn.active)
            HUB_LOG_WARN("store: closing with a read transaction still open");
        txn_close_cursors(&slot->txn);
        if (slot->txn.txn != NULL)
            mdb_txn_abort(slot->txn.txn);
        free(slot);
        slot = next;
    }
    mdb_env_close(s->env);
    hub_journal_close(s->journal); /* after LMDB holds every record: the writer stopped */
    pthread_mutex_destroy(&s->pool_mu);
    pthread_mutex_destroy(&s->hook_mu);
    free(s);
}

/* ---- read transactions ----------------------------------------------------------------- */

static rslot *slot_take(hub_store *s)
{
    pthread_mutex_lock(&s->pool_mu);
    rslot *slot = s->free_slots;
    if (slot != NULL) {
        s->free_slots = slot->next_free;
        slot->next_free = NULL;
    } else {
        slot = calloc(1, sizeof(*slot));
        if (slot != NULL) {
            slot->txn.s = s;
            slot->txn.slot = slot;
            slot->next_all = s->all_slots;
            s->all_slots = slot;
        }
    }
    pthread_mutex_unlock(&s->pool_mu);
    return slot;
}

/* Picks the thread's cached slot, or a pooled one when it is busy or another store's. */
static rslot *slot_for_thread(hub_store *s)
{
    if (tl.slot != NULL && tl.store_id == s->id && tl.store == s && !tl.slot->txn.active)
        return tl.slot;
    if (tl.slot != NULL && (tl.store_id != s->id || tl.store != s))
        tl_release(&tl);
    rslot *slot = slot_take(s);
    if (slot != NULL && tl.slot == NULL) {
        slot->cached = 1;
        tl.slot = slot;
        tl.store = s;
        tl.store_id = s->id;
        pthread_setspecific(tl_key, &tl);
    }
    return slot;
}

static int slot_begin(hub_store *s, rslot *slot)
{
    int rc;
    if (slot->txn.txn != NULL) {
        rc = mdb_txn_renew(slot->txn.txn);
        if (rc == 0)
            return 0;
        mdb_txn_abort(slot->txn.txn);
        slot->txn.txn = NULL;
    }
    rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &slot->txn.txn);
    if (rc == MDB_READERS_FULL) {
        hub_store_reader_check(s);
        rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &slot->txn.txn);
    }
    if (rc != 0) {
        slot->txn.txn = NULL;
        return hub_store_xlate_(rc);
    }
    return 0;
}

int hub_store_read(hub_store *s, hub_txn **out)
{
    *out = NULL;
    rslot *slot = slot_for_thread(s);
    if (slot == NULL)
        return HUB_ENOMEM;
    int r = slot_begin(s, slot);
    if (r != 0) {
        if (!slot->cached)
            pool_push(s, slot);
        return r;
    }
    slot->txn.active = 1;
    slot->txn.err = 0;
    *out = &slot->txn;
    return 0;
}

void hub_txn_end(hub_txn *t)
{
    if (t == NULL)
        return;
    if (t->writable) /* owned by the writer (or hub_store_write), which ends it */
        return;
    if (!t->active)
        return;
    txn_close_cursors(t);
    mdb_txn_reset(t->txn);
    t->active = 0;
    if (!t->slot->cached)
        pool_push(t->s, t->slot);
}

/* ---- get, put, del, counters ----------------------------------------------------------- */

/* Adds a change to the writer's journal record, if it keeps one. Out of memory fails the
 * operation like a failed write: a change the journal does not hold must not be answered. */
static int journal_add(hub_txn *t, int del, hub_db db, hub_slice key, hub_slice val)
{
    if (t->redo == NULL)
        return 0;
    hub_redo r = {del, (unsigned)db, key, val};
    int rc = hub_redo_add(t->redo, &r);
    if (rc != 0 && t->err == 0)
        t->err = HUB_ENOMEM;
    return rc != 0 ? HUB_ENOMEM : 0;
}

static int txn_usable(hub_txn *t, hub_db db)
{
    return t != NULL && t->txn != NULL && (t->writable || t->active) && (int)db >= 0 &&
           db < HUB_DB_COUNT;
}

int hub_txn_get(hub_txn *t, hub_db db, hub_slice key, hub_slice *out)
{
    if (!txn_usable(t, db))
        return HUB_EINVAL;
    if (!key_ok(key))
        return HUB_ENOTFOUND; /* such a key cannot have been stored */
    if (t->s->absent[db])
        return HUB_ENOTFOUND;
    MDB_val k = to_val(key), v;
    int rc = mdb_get(t->txn, t->s->dbi[db], &k, &v);
    if (rc != 0)
        return hub_store_xlate_(rc);
    *out = from_val(v);
    return 0;
}

int hub_txn_put(hub_txn *t, hub_db db, hub_slice key, hub_slice val)
{
    if (!txn_usable(t, db) || !t->writable) {
        HUB_LOG_ERROR("store: put on a read transaction");
        return HUB_EINVAL;
    }
    if (!key_ok(key))
        return HUB_EINVAL;
    if (val.base == NULL && val.len != 0)
        return HUB_EINVAL;
    MDB_val k = to_val(key), v = to_val(val);
    if (v.mv_data == NULL)
        v.mv_data = "";
    int rc = mdb_put(t->txn, t->s->dbi[db], &k, &v, 0);
    if (rc != 0)
        return txn_write_failed(t, rc);
    return journal_add(t, 0, db, key, val);
}

int hub_txn_del(hub_txn *t, hub_db db, hub_slice key)
{
    if (!txn_usable(t, db) || !t->writable)
        return HUB_EINVAL;
    if (!key_ok(key))
        return HUB_ENOTFOUND;
    MDB_val k = to_val(key);
    int rc = mdb_del(t->txn, t->s->dbi[db], &k, NULL);
    if (rc == 0)
        return journal_add(t, 1, db, key, (hub_slice){"", 0});
    if (rc == MDB_NOTFOUND)
        return HUB_ENOTFOUND;
    return txn_write_failed(t, rc);
}

int hub_txn_next_seq(hub_txn *t, const char *counter, uint64_t *out)
{
    char key[MAX_KEY + 1];
    if (counter == NULL || !txn_usable(t, HUB_DB_META) || !t->writable)
        return HUB_EINVAL;
    int n = snprintf(key, sizeof(key), "seq:%s", counter);
    if (n < 0 || (size_t)n > MAX_KEY)
        return HUB_EINVAL;
    hub_slice k = {key, (size_t)n}, v;
    uint64_t cur = 0;
    int r = hub_txn_get(t, HUB_DB_META, k, &v);
    if (r == 0 && v.len == 8)
        cur = hub_be64_get((const unsigned char *)v.base);
    else if (r == 0)
        return HUB_EIO; /* not ours: corrupt counter */
    else if (r != HUB_ENOTFOUND)
        return r;
    unsigned char buf[8];
    hub_be64_put(buf, cur + 1);
    r = hub_txn_put(t, HUB_DB_META, k, (hub_slice){(const char *)buf, 8});
    if (r != 0)
        return r;
    *out = cur + 1;
    return 0;
}

size_t hub_txn_count(hub_txn *t, hub_db db)
{
    MDB_stat st;
    if (!txn_usable(t, db) || t->s->absent[db] || mdb_stat(t->txn, t->s->dbi[db], &st) != 0)
        return 0;
    return st.ms_entries;
}

/* Deletes every key of db that starts with prefix. */
int hub_txn_del_prefix(hub_txn *t, hub_db db, hub_slice prefix)
{
    hub_cursor *c;
    hub_slice k, v;
    int rc = hub_cursor_open(t, db, &c);
    if (rc != 0)
        return rc;
    rc = hub_cursor_seek(c, prefix, &k, &v);
    while (rc == 0 && k.len >= prefix.len && memcmp(k.base, prefix.base, prefix.len) == 0) {
        rc = hub_cursor_del(c);
        if (rc == 0)
            rc = hub_cursor_seek(c, prefix, &k, &v);
    }
    hub_cursor_close(c);
    return rc == HUB_ENOTFOUND ? 0 : rc;
}

/* ---- cursors --------------------------------------------------------------------------- */

int hub_cursor_open(hub_txn *t, hub_db db, hub_cursor **out)
{
    *out = NULL;
    if (!txn_usable(t, db))
        return HUB_EINVAL;
    hub_cursor *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return HUB_ENOMEM;
    int rc = t->s->absent[db] ? 0 : mdb_cursor_open(t->txn, t->s->dbi[db], &c->mc);
    if (rc != 0) {
        free(c);
        return hub_store_xlate_(rc);
    }
    c->t = t;
    c->next = t->cursors;
    t->cursors = c;
    *out = c;
    return 0;
}

void hub_cursor_close(hub_cursor *c)
{
    if (c == NULL)
        return;
    if (c->t != NULL) {
        for (hub_cursor **pp = &c->t->cursors; *pp != NULL; pp = &(*pp)->next) {
            if (*pp == c) {
                *pp = c->next;
                break;
            }
        }
    }
    if (c->mc != NULL)
        mdb_cursor_close(c->mc);
    free(c);
}

static int cursor_get(hub_cursor *c, MDB_val *k, MDB_val *v, MDB_cursor_op op, hub_slice *out_key,
                      hub_slice *out_val)
{
    if (c == NULL || c->t == NULL)
        return HUB_EINVAL;
    if (c->mc == NULL)
        return HUB_ENOTFOUND; /* a database an older store does not have */
    int rc = mdb_cursor_get(c->mc, k, v, op);
    if (rc != 0)
        return hub_store_xlate_(rc);
    if (out_key != NULL)
        *out_key = from_val(*k);
    if (out_val != NULL)
        *out_val = from_val(*v);
    return 0;
}

int hub_cursor_seek(hub_cursor *c, hub_slice key, hub_slice *out_key, hub_slice *out_val)
{
    MDB_val k = {0, NULL}, v = {0, NULL};
    if (key.len == 0)
        return cursor_get(c, &k, &v, MDB_FIRST, out_key, out_val);
    if (!key_ok(key))
        return HUB_EINVAL;
    k = to_val(key);
    return cursor_get(c, &k, &v, MDB_SET_RANGE, out_key, out_val);
}

int hub_cursor_next(hub_cursor *c, hub_slice *out_key, hub_slice *out_val)
{
    MDB_val k = {0, NULL}, v = {0, NULL};
    return cursor_get(c, &k, &v, MDB_NEXT, out_key, out_val);
}

int hub_cursor_last(hub_cursor *c, hub_slice *out_key, hub_slice *out_val)
{
    MDB_val k = {0, NULL}, v = {0, NULL};
    return cursor_get(c, &k, &v, MDB_LAST, out_key, out_val);
}

int hub_cursor_prev(hub_cursor *c, hub_slice *out_key, hub_slice *out_val)
{
    MDB_val k = {0, NULL}, v = {0, NULL};
    return cursor_get(c, &k, &v, MDB_PREV, out_key, out_val);
}

int hub_cursor_del(hub_cursor *c)
{
    if (c == NULL || c->mc == NULL || c->t == NULL || !c->t->writable)
        return HUB_EINVAL;
    hub_txn *t = c->t;
    size_t mark = t->redo != NULL ? t->redo->len : 0;
    if (t->redo != NULL) { /* the key is the map's until the delete: journal it first */
        MDB_val k, v;
        MDB_dbi dbi;
        int got = mdb_cursor_get(c->mc, &k, &v, MDB_GET_CURRENT);
        if (got == MDB_NOTFOUND || got == EINVAL)
            return HUB_ENOTFOUND;
        if (got != 0)
            return txn_write_failed(t, got);
        dbi = mdb_cursor_dbi(c->mc);
        int db = 0;
        while (db < HUB_DB_COUNT && t->s->dbi[db] != dbi)
            db++;
        got = journal_add(t, 1, (hub_db)db, from_val(k), (hub_slice){"", 0});
        if (got != 0)
            return got;
    }
    int rc = mdb_cursor_del(c->mc, 0);
    if (rc != 0 && t->redo != NULL) {
        t->redo->len = mark;
        t->redo->data[mark] = '\0';
    }
    if (rc == 0)
        return 0;
    if (rc == MDB_NOTFOUND || rc == EINVAL)
        return HUB_ENOTFOUND; /* not positioned on an entry */
    return txn_write_failed(c->t, rc);
}

/* ---- maintenance ----------------------------------------------------------------------- */

int hub_store_reader_check(hub_store *s)
{
    int dead = 0;
    int rc = mdb_reader_check(s->env, &dead);
    if (rc != 0)
        return hub_store_xlate_(rc);
    if (dead > 0)
        HUB_LOG_INFO("store: cleared %d stale reader slots", dead);
    return dead;
}

static int dir_is_empty(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return 0;
    int empty = 1;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            empty = 0;
            break;
        }
    }
    closedir(d);
    return empty;
}

int hub_store_backup(hub_store *s, const char *dir, hub_error *err)
{
    if (dir == NULL || dir[0] == '\0')
        return hub_error_set(err, HUB_EINVAL, "backup: no directory given");
    if (mkdir(dir, 0750) != 0) {
        if (errno != EEXIST)
            return hub_error_set(err, HUB_EIO, "backup: %s: %s", dir, strerror(errno));
        struct stat st;
        if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
            return hub_error_set(err, HUB_EINVAL, "backup: %s is not a directory", dir);
        if (!dir_is_empty(dir))
            return hub_error_set(err, HUB_EINVAL, "backup: %s is not empty", dir);
    }
    int rc = mdb_env_copy2(s->env, dir, MDB_CP_COMPACT);
    if (rc != 0)
        return hub_error_set(err, HUB_EIO, "backup to %s: %s", dir, mdb_strerror(rc));
    return 0;
}

/* ---- big-endian helpers ---------------------------------------------------------------- */

void hub_be64_put(unsigned char out[8], uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        out[i] = (unsigned char)(v & 0xff);
        v >>= 8;
    }
}

uint64_t hub_be64_get(const unsigned char in[8])
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | in[i];
    return v;
}

void hub_be32_put(unsigned char out[4], uint32_t v)
{
    for (int i = 3; i >= 0; i--) {
        out[i] = (unsigned char)(v & 0xff);
        v >>= 8;
    }
}

uint32_t hub_be32_get(const unsigned char in[4])
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++)
        v = (v << 8) | in[i];
    return v;
}
