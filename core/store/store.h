/*
 * store: the only user of lmdb.h. One LMDB environment in the data directory, a fixed set of
 * named databases, an on-disk schema version, and the writer thread.
 *
 * Reads: any thread opens a short read transaction (hub_store_read), reads, ends it. Values
 * returned by hub_txn_get and cursors are borrowed from the map: valid only until the
 * transaction ends or the same transaction writes. Copy what must outlive it.
 *
 * Writes: every write runs on the writer thread (hub_store_submit). The writer takes all the
 * operations that are waiting, runs each in its own nested transaction inside one outer
 * transaction, makes the batch durable once (group commit), and only then calls each
 * operation's `done` callback. An operation whose function fails is rolled back alone; the
 * others commit. Durable: `done` with result 0 means the change is on disk.
 *
 * Durable has two forms (hub_write_durability). By default a batch commits to LMDB: its
 * pages, a flush, the meta page, a second flush. A batch of only HUB_WRITE_JOURNAL and
 * HUB_WRITE_LAZY operations is written instead as one record to the data directory's journal
 * (one flush of contiguous bytes), and LMDB commits the batches gathered in its open
 * transaction within 50 ms (writer.c). Until then readers do not see them: hub_store_settled
 * says whether there are such changes, and an operation of the default kind (even one that
 * changes nothing) waits for the commit. Opening the store replays journal records that LMDB
 * lacks, so a crash loses nothing that was answered.
 *
 * A process that has not started the writer (the command line tools) may call
 * hub_store_write, which runs the function in its own durable transaction on the caller's
 * thread (another process's server is serialised by LMDB's own writer lock).
 */
#ifndef HUB_STORE_H
#define HUB_STORE_H

#include "base/base.h"

typedef struct hub_store hub_store;
typedef struct hub_txn hub_txn;
typedef struct hub_cursor hub_cursor;

/* The named databases. Keys and values are bytes; the modules above own their formats. */
typedef enum hub_db {
    HUB_DB_META,          /* "schema_version", counters, settings                          */
    HUB_DB_TOKENS,        /* sha256(secret) hex -> token record (auth)                       */
    HUB_DB_TOKEN_NAMES,   /* token name -> sha256 hex (auth)                               */
    HUB_DB_LOCALES,       /* tag -> locale record (locale)                                   */
    HUB_DB_TERMS,         /* "facet/path" -> term record (taxonomy)                          */
    HUB_DB_DRAFTS,        /* item key -> draft document (content)                            */
    HUB_DB_HEADS,         /* item key -> published head (content)                            */
    HUB_DB_VERSIONS,      /* item key \0 be32 version -> version document (content)          */
    HUB_DB_DELIVERY,      /* item \0 variant \0 locale \0 channel -> materialized body     */
    HUB_DB_TAG_ITEMS,     /* tag \0 item key -> "" (content: tag index, drafts and published) */
    HUB_DB_CHANGES,       /* be64 seq -> change record (content)                             */
    HUB_DB_AUDIT,         /* be64 seq -> audit record                                        */
    HUB_DB_AUDIT_KEY,     /* item key \0 be64 seq -> "" (audit by key)                       */
    HUB_DB_JOURNEYS,      /* journey id -> journey document                                  */
    HUB_DB_JOBS,          /* be64 delivery id -> job record (delivery)                       */
    HUB_DB_JOB_BODIES,    /* be64 delivery id -> the artifact to deliver (delivery)          */
    HUB_DB_JOB_DUE,       /* be64 due ms, be64 id -> "" for jobs waiting (delivery)          */
    HUB_DB_JOB_STATUS,    /* status \0 be64 id -> "" (delivery)                              */
    HUB_DB_IDEMPOTENCY,   /* idempotency key -> hash, time, job ids, answer (delivery)       */
    HUB_DB_INBOX,         /* recipient \0 be64 seq -> inbox message (delivery)               */
    HUB_DB_INBOX_IDS,     /* message id -> recipient \0 be64 seq (delivery)                  */
    HUB_DB_WEBHOOKS,      /* webhook id -> {"id","url","events","secret",...} (delivery)     */
    HUB_DB_SCHEDULE,      /* be64 at ms, item key -> {"action","key","at","actor"} (app)     */
    HUB_DB_SCHEDULE_KEYS, /* item key -> be64 at ms of its pending schedule (app)           */
    HUB_DB_ASSIGNMENTS,   /* item key \0 subject -> assignment and unit flags (experiment)   */
    HUB_DB_BANDIT,        /* item key -> the bandit's current weights (experiment)           */
    HUB_DB_COUNTERS,      /* item \0 variant \0 channel \0 be32 day -> counters (analytics) */
    HUB_DB_TOUCH,         /* subject \0 be64 ms, be64 seq -> touchpoint (analytics)         */
    HUB_DB_TOUCH_TIME,    /* be64 ms, be64 seq -> subject (analytics: retention)             */
    HUB_DB_CONVERSIONS,   /* action \0 be64 ms, be64 seq -> conversion (analytics)          */
    HUB_DB_TRANSLATIONS,  /* item \0 variant \0 locale \0 channel \0 field -> the source it
                             was translated from (translation)                                */
    HUB_DB_COUNT
} hub_db;

typedef struct hub_store_options {
    const char *dir;      /* data directory; created if missing (one level) */
    uint64_t map_size;    /* bytes; 0 = default (4 GiB) */
    unsigned max_readers; /* 0 = default (512) */
    int read_only;        /* open without write access (backup, inspection) */
} hub_store_options;

/* The schema version this build writes. Opening a store with a newer one fails. */
/* 2: webhooks, schedule and schedule_keys got their own databases (version 1 kept them, by
 * mistake, in LMDB's main database; opening moves them). */
#define HUB_STORE_SCHEMA_VERSION 2

/*
 * Opens (and if new, initializes) the store. Clears stale reader slots (mdb_reader_check).
 * Errors: HUB_EIO (with the path and the OS reason in err), HUB_EINVAL (newer schema).
 */
int hub_store_open(hub_store **out, const hub_store_options *opts, hub_error *err);
/* Stops the writer if running (finishing what is queued), closes the env. NULL-safe. */
void hub_store_close(hub_store *s);

/* ---- transactions ---------------------------------------------------------------------- */

/* Begins a read-only transaction for the calling thread. One at a time per thread.
 * Cheap: reuses a per-thread handle (reset/renew). */
int hub_store_read(hub_store *s, hub_txn **out);
/* Ends a read transaction, or aborts a write transaction given to you. NULL-safe. */
void hub_txn_end(hub_txn *t);

/* Returns 0 and a borrowed value, or HUB_ENOTFOUND. */
int hub_txn_get(hub_txn *t, hub_db db, hub_slice key, hub_slice *out);
/* Write transactions only. HUB_EFULL when the map is full, HUB_EINVAL for a key over 511
 * bytes or empty. */
int hub_txn_put(hub_txn *t, hub_db db, hub_slice key, hub_slice val);
/* 0, or HUB_ENOTFOUND when the key was not there. */
int hub_txn_del(hub_txn *t, hub_db db, hub_slice key);
/* Deletes every key of db that starts with prefix (write transactions). */
int hub_txn_del_prefix(hub_txn *t, hub_db db, hub_slice prefix);
/* Next value of a named 64-bit counter in HUB_DB_META (starts at 1). Write txns only. */
int hub_txn_next_seq(hub_txn *t, const char *counter, uint64_t *out);
/* Entries in a database (from its stat). */
size_t hub_txn_count(hub_txn *t, hub_db db);

/* Cursors: ordered by key bytes (memcmp). The returned key/value are borrowed. */
int hub_cursor_open(hub_txn *t, hub_db db, hub_cursor **out);
void hub_cursor_close(hub_cursor *c);
/* Positions at the first key >= key (key.len 0: the first key). HUB_ENOTFOUND at the end. */
int hub_cursor_seek(hub_cursor *c, hub_slice key, hub_slice *out_key, hub_slice *out_val);
int hub_cursor_next(hub_cursor *c, hub_slice *out_key, hub_slice *out_val);
/* Positions at the last key. HUB_ENOTFOUND when empty. */
int hub_cursor_last(hub_cursor *c, hub_slice *out_key, hub_slice *out_val);
int hub_cursor_prev(hub_cursor *c, hub_slice *out_key, hub_slice *out_val);
/* Deletes the entry under the cursor (write txns). */
int hub_cursor_del(hub_cursor *c);

/* ---- writes ---------------------------------------------------------------------------- */

/* Runs inside a nested write transaction; returns 0 to keep its changes, <0 to roll them
 * back. Must not block on anything but the store. */
typedef int (*hub_write_fn)(hub_txn *txn, void *arg);

/* When an operation's `done` runs (see the top of this file). */
typedef enum hub_write_durability {
    HUB_WRITE_COMMIT = 0, /* after LMDB committed it: durable and seen by every read */
    HUB_WRITE_JOURNAL,    /* once journaled: durable; reads see it after the next commit */
    HUB_WRITE_LAZY,       /* journaled, and `done` after the commit that lets reads see it */
} hub_write_durability;

typedef struct hub_write_op {
    hub_write_fn fn;
    void *arg;
    hub_write_durability durability;
    /* Called after the commit (or failure), on the writer's completer thread in commit order
     * (or on the submitting thread when no writer runs); op->result holds fn's
     * return value, or HUB_EFULL / HUB_EIO if the commit itself failed, or HUB_ESHUTDOWN.
     * The op is the caller's memory; the writer does not touch it after calling done. */
    void (*done)(struct hub_write_op *op);
    int result;
    struct hub_write_op *next_; /* private */
} hub_write_op;

/* Starts the writer thread. Max ops batched into one commit: batch_max (0 = 256). */
int hub_store_writer_start(hub_store *s, unsigned batch_max);
/* Queues op. Thread-safe. After hub_store_writer_stop, done is called at once with
 * HUB_ESHUTDOWN. */
void hub_store_submit(hub_store *s, hub_write_op *op);
/* Runs fn durably and waits: through the writer if it runs, else in its own transaction on
 * this thread. Returns fn's result or the commit's error. */
int hub_store_write(hub_store *s, hub_write_fn fn, void *arg);
/* 1 when every change whose op is done is also seen by reads; 0 while journaled changes wait
 * for LMDB's commit. Thread-safe. A reader that must see what was answered before it asked
 * submits an op of the default durability first (it is done after that commit). */
int hub_store_settled(hub_store *s);
/* Finishes every queued op and its done, then stops the writer thread. */
void hub_store_writer_stop(hub_store *s);

/* What the writer thread has done since it started; all zero when none runs. Thread-safe. */
typedef struct hub_writer_stats {
    uint64_t batches;    /* batches run (each journaled once or committed) */
    uint64_t journaled;  /* of which journaled */
    uint64_t ops;        /* operations in them */
    uint64_t busy_us;    /* time running batches: the operations and making them durable */
    uint64_t commit_us;  /* of which in LMDB's commits: writing the pages and the flushes */
    uint64_t journal_us; /* and of which writing journal records (not flushing them) */
    uint64_t flushes;    /* journal flushes, on their own thread; each covers the records
                          * written before it began */
    uint64_t flush_us;   /* time in those flushes */
} hub_writer_stats;
void hub_store_writer_stats(hub_store *s, hub_writer_stats *out);

/* fn(ctx) runs after every successful commit (on the committing thread, before the ops'
 * `done`; it must not block or write). One hook per store; NULL clears it. Once this returns,
 * the previous hook is not running and will not run again. Thread-safe. */
void hub_store_set_commit_hook(hub_store *s, void (*fn)(void *ctx), void *ctx);

/* Number of write transactions committed since open (group commits count once). For tests
 * and metrics. Thread-safe. */
uint64_t hub_store_commit_count(hub_store *s);
/* Bytes of the map in use (last page * page size); 0 if unknown. Thread-safe. */
uint64_t hub_store_map_used(hub_store *s);

/* Runs mdb_reader_check; returns the number of stale slots cleared (>= 0) or an error. */
int hub_store_reader_check(hub_store *s);

/* Writes a consistent, compacted copy of the store into dir (created; must be empty or
 * missing). Safe while another process writes. */
int hub_store_backup(hub_store *s, const char *dir, hub_error *err);

/* Big-endian helpers for keys that must sort numerically. */
void hub_be64_put(unsigned char out[8], uint64_t v);
uint64_t hub_be64_get(const unsigned char in[8]);
void hub_be32_put(unsigned char out[4], uint32_t v);
uint32_t hub_be32_get(const unsigned char in[4]);

#endif
