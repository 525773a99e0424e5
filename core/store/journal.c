/*
 * store journal: the record format, the file, its lock, append and replay (see journal.h).
 */
#include "store/journal.h"

#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#define HEADER      20u
#define REDO_HEADER 8u /* [u8 kind][u8 db][be16 key length][be32 value length] */

struct hub_journal {
    int fd;
    size_t size; /* bytes of the file, all written once */
    size_t off;  /* where the next record goes */
    char path[4096];
};

/* ---- CRC-32 (IEEE 802.3, reflected), table made on first use ------------------------------ */

static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[i] = c;
    }
}

static uint32_t crc_add(uint32_t crc, const void *data, size_t n)
{
    const unsigned char *p = data;
    crc = ~crc;
    while (n-- > 0)
        crc = crc_table[(crc ^ *p++) & 0xFF] ^ (crc >> 8);
    return ~crc;
}

/* The CRC of a record: its length and seq (header bytes 4..16), then the payload. */
static uint32_t record_crc(const unsigned char *header, hub_slice payload)
{
    pthread_once(&crc_once, crc_init);
    return crc_add(crc_add(0, header + 4, 12), payload.base, payload.len);
}

/* ---- redo entries --------------------------------------------------------------------------- */

int hub_redo_add(hub_buf *payload, const hub_redo *r)
{
    unsigned char h[REDO_HEADER];
    size_t vlen = r->del ? 0 : r->val.len;
    if (r->key.len > 0xFFFF || vlen > 0xFFFFFFFFu || r->db > 0xFF)
        return HUB_ETOOBIG;
    h[0] = r->del ? 'D' : 'P';
    h[1] = (unsigned char)r->db;
    h[2] = (unsigned char)(r->key.len >> 8);
    h[3] = (unsigned char)r->key.len;
    hub_be32_put(h + 4, (uint32_t)vlen);
    size_t mark = payload->len;
    int rc = hub_buf_append(payload, h, sizeof(h));
    if (rc == 0)
        rc = hub_buf_append(payload, r->key.base, r->key.len);
    if (rc == 0 && vlen > 0)
        rc = hub_buf_append(payload, r->val.base, vlen);
    if (rc != 0) { /* leave the payload whole */
        payload->len = mark;
        payload->data[mark] = '\0';
    }
    return rc;
}

int hub_redo_next(hub_slice payload, size_t *pos, hub_redo *out)
{
    size_t at = *pos;
    if (at == payload.len)
        return 0;
    const unsigned char *p = (const unsigned char *)payload.base + at;
    if (payload.len - at < REDO_HEADER || (p[0] != 'D' && p[0] != 'P'))
        return HUB_EIO;
    size_t klen = ((size_t)p[2] << 8) | p[3], vlen = hub_be32_get(p + 4);
    if (klen > payload.len - at - REDO_HEADER || vlen > payload.len - at - REDO_HEADER - klen ||
        (p[0] == 'D' && vlen != 0))
        return HUB_EIO;
    out->del = p[0] == 'D';
    out->db = p[1];
    out->key = (hub_slice){(const char *)p + REDO_HEADER, klen};
    out->val = (hub_slice){(const char *)p + REDO_HEADER + klen, vlen};
    *pos = at + REDO_HEADER + klen + vlen;
    return 1;
}

/* ---- the file ------------------------------------------------------------------------------- */

static int write_all(int fd, const void *data, size_t n, off_t at)
{
    const char *p = data;
    while (n > 0) {
        ssize_t w = pwrite(fd, p, n, at);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
        at += w;
    }
    return 0;
}

static int read_all(int fd, void *data, size_t n, off_t at)
{
    char *p = data;
    while (n > 0) {
        ssize_t r = pread(fd, p, n, at);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        p += r;
        n -= (size_t)r;
        at += r;
    }
    return 0;
}

/* Fills the file with zeros up to HUB_JOURNAL_BYTES and flushes it and its directory, so
 * that appends later overwrite blocks that exist and a flush writes data alone. */
static int fill(hub_journal *j, const char *dir, size_t have)
{
    static const char zeros[1 << 16];
    for (size_t at = have; at < HUB_JOURNAL_BYTES; at += sizeof(zeros))
        if (write_all(j->fd, zeros, sizeof(zeros), (off_t)at) != 0)
            return -1;
    if (fsync(j->fd) != 0)
        return -1;
    int d = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (d < 0)
        return -1;
    int rc = fsync(d);
    close(d);
    return rc;
}

int hub_journal_open(const char *dir, int create, hub_journal **out, hub_error *err)
{
    *out = NULL;
    hub_journal *j = calloc(1, sizeof(*j));
    if (j == NULL)
        return hub_error_set(err, HUB_ENOMEM, "store: out of memory");
    int n = snprintf(j->path, sizeof(j->path), "%s/%s", dir, HUB_JOURNAL_FILE);
    if (n < 0 || (size_t)n >= sizeof(j->path)) {
        free(j);
        return hub_error_set(err, HUB_EINVAL, "store: data directory path too long");
    }
    j->fd = open(j->path, O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0), 0640);
    if (j->fd < 0) {
        int e = errno;
        free(j);
        return e == ENOENT && !create ? 0
                                      : hub_error_set(err, HUB_EIO, "store: journal %s/%s: %s", dir,
                                                      HUB_JOURNAL_FILE, strerror(e));
    }
    if (flock(j->fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        close(j->fd);
        free(j);
        return e == EWOULDBLOCK ? 0
                                : hub_error_set(err, HUB_EIO, "store: locking %s/%s: %s", dir,
                                                HUB_JOURNAL_FILE, strerror(e));
    }
    struct stat st;
    if (fstat(j->fd, &st) != 0 ||
        ((size_t)st.st_size < HUB_JOURNAL_BYTES && fill(j, dir, (size_t)st.st_size) != 0)) {
        int e = errno;
        hub_journal_close(j);
        return hub_error_set(err, HUB_EIO, "store: preparing %s/%s: %s", dir, HUB_JOURNAL_FILE,
                             strerror(e));
    }
    j->size = HUB_JOURNAL_BYTES;
    *out = j;
    return 0;
}

void hub_journal_close(hub_journal *j)
{
    if (j == NULL)
        return;
    close(j->fd); /* releases the lock */
    free(j);
}

int hub_journal_replay(hub_journal *j, uint64_t after, int (*apply)(void *ctx, hub_slice payload),
                       void *ctx, uint64_t *last, hub_error *err)
{
    unsigned char h[HEADER];
    char *buf = NULL;
    size_t off = 0;
    int rc = 0;
    *last = after;
    while (off + HEADER <= j->size && read_all(j->fd, h, HEADER, (off_t)off) == 0) {
        size_t len = hub_be32_get(h + 4);
        if (memcmp(h, "OHJ1", 4) != 0 || hub_be64_get(h + 8) != *last + 1 ||
            len > j->size - off - HEADER)
            break;
        char *grown = realloc(buf, len + 1);
        if (grown == NULL) {
            rc = hub_error_set(err, HUB_ENOMEM, "store: out of memory replaying the journal");
            break;
        }
        buf = grown;
        hub_slice payload = {buf, len};
        if (read_all(j->fd, buf, len, (off_t)(off + HEADER)) != 0 ||
            record_crc(h, payload) != hub_be32_get(h + 16))
            break; /* torn: the write of a batch that was never answered */
        if ((rc = apply(ctx, payload)) != 0) {
            hub_error_set(err, rc, "store: journal record %llu cannot be applied: %s",
                          (unsigned long long)(*last + 1), hub_strerror(rc));
            break;
        }
        ++*last;
        off += HEADER + len;
    }
    free(buf);
    return rc;
}

int hub_journal_write(hub_journal *j, uint64_t seq, hub_slice payload)
{
    unsigned char h[HEADER];
    if (payload.len > j->size || j->off + HEADER + payload.len > j->size)
        return HUB_ETOOBIG;
    memcpy(h, "OHJ1", 4);
    hub_be32_put(h + 4, (uint32_t)payload.len);
    hub_be64_put(h + 8, seq);
    hub_be32_put(h + 16, record_crc(h, payload));
    struct iovec iov[2] = {{h, HEADER}, {(void *)payload.base, payload.len}};
    size_t want = HEADER + payload.len;
    ssize_t w = pwritev(j->fd, iov, 2, (off_t)j->off);
    if (w != (ssize_t)want) { /* short only on a failing disk: write the rest plainly */
        if (w < 0)
            w = 0;
        if ((size_t)w < HEADER &&
            write_all(j->fd, h + w, HEADER - (size_t)w, (off_t)(j->off + (size_t)w)) != 0)
            return HUB_EIO;
        size_t done = (size_t)w > HEADER ? (size_t)w - HEADER : 0;
        if (write_all(j->fd, payload.base + done, payload.len - done,
                      (off_t)(j->off + HEADER + done)) != 0)
            return HUB_EIO;
    }
    j->off += want;
    return 0;
}

int hub_journal_sync(hub_journal *j)
{
    return fdatasync(j->fd) == 0 ? 0 : HUB_EIO;
}

void hub_journal_rewind(hub_journal *j)
{
    j->off = 0;
}
