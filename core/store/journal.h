/*
 * store journal (store-private): the file in the data directory that makes a batch of writes
 * durable with one flush of contiguous bytes, before LMDB commits it.
 *
 * A record is the batch's changes as redo entries (put or delete of one key), framed as
 *   "OHJ1" [be32 payload length] [be64 seq] [be32 CRC-32 of length, seq and payload] payload
 * and written at the next offset of a file that was filled with zeros when it was made, so a
 * flush never has to write the file's metadata. Once LMDB holds every journaled change (its
 * META "journal_seq" says up to which record), the next record is written at offset 0 again.
 * Replay reads records from offset 0 while each is whole and carries the next seq: a record
 * of an earlier round has a smaller seq, a torn one a wrong CRC.
 *
 * One process owns the journal: it holds an exclusive flock on the file while the store is
 * open. Another process (a command-line tool beside the server) finds it locked and writes
 * straight to LMDB, as every process did before the journal.
 */
#ifndef HUB_STORE_JOURNAL_H
#define HUB_STORE_JOURNAL_H

#include "base/base.h"

#define HUB_JOURNAL_FILE  "journal"
#define HUB_JOURNAL_BYTES (4u << 20)

typedef struct hub_journal hub_journal;

/* One change of a record. */
typedef struct hub_redo {
    int del;       /* 1: delete key; 0: put key = val */
    unsigned db;   /* hub_db */
    hub_slice key; /* borrowed from the payload */
    hub_slice val;
} hub_redo;

/* Appends one change to a record's payload. 0 or HUB_ENOMEM / HUB_ETOOBIG. */
int hub_redo_add(hub_buf *payload, const hub_redo *r);
/* Reads the change at *pos of payload and moves *pos past it: 1, 0 at the end, HUB_EIO when
 * the payload is malformed. */
int hub_redo_next(hub_slice payload, size_t *pos, hub_redo *out);

/*
 * Opens dir's journal and takes its lock. create=0: a missing file gives *out NULL; create=1
 * makes it (zero-filled, flushed). A journal locked by another process gives *out NULL too.
 * Errors (HUB_EIO) name the path and the reason.
 */
int hub_journal_open(const char *dir, int create, hub_journal **out, hub_error *err);
/* Releases the lock and the file. NULL-safe. */
void hub_journal_close(hub_journal *j);

/* Calls apply(ctx, payload) for each whole record after seq `after`, in order, from offset 0;
 * *last gets the last seq applied (or `after`). Stops at apply's first error. */
int hub_journal_replay(hub_journal *j, uint64_t after, int (*apply)(void *ctx, hub_slice payload),
                       void *ctx, uint64_t *last, hub_error *err);

/* Writes record seq at the next offset, without flushing it. HUB_ETOOBIG when it does not fit
 * before the end of the file (commit LMDB, rewind, and it will), HUB_EIO when the write
 * failed. Not thread-safe against itself or hub_journal_rewind. */
int hub_journal_write(hub_journal *j, uint64_t seq, hub_slice payload);
/* Flushes every record written before the call (fdatasync). Any thread. HUB_EIO. */
int hub_journal_sync(hub_journal *j);
/* LMDB holds every record written so far: the next one goes to offset 0. */
void hub_journal_rewind(hub_journal *j);

#endif
