/*
 * base: errors, problem lists, logging, capped buffers and small string helpers.
 * Global state: the log level only (set before threads start).
 */
#include "base/base.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- errors ---------------------------------------------------------------------------- */

const char *hub_strerror(int code)
{
    switch (code) {
    case HUB_OK:
        return "ok";
    case HUB_ENOMEM:
        return "out of memory";
    case HUB_EINVAL:
        return "invalid input";
    case HUB_EBADREQ:
        return "malformed request";
    case HUB_ENOTFOUND:
        return "not found";
    case HUB_EEXISTS:
        return "already exists";
    case HUB_EINUSE:
        return "still in use";
    case HUB_EPRECOND:
        return "precondition failed";
    case HUB_EFORBIDDEN:
        return "forbidden";
    case HUB_ETOOBIG:
        return "too large";
    case HUB_EFULL:
        return "the store is full";
    case HUB_EIO:
        return "input/output error";
    case HUB_ESHUTDOWN:
        return "shutting down";
    case HUB_EUNAUTH:
        return "unauthorized";
    default:
        return "unknown error";
    }
}

void hub_problems_init(hub_problems *p)
{
    memset(p, 0, sizeof(*p));
}

void hub_problems_clear(hub_problems *p)
{
    for (size_t i = 0; i < p->count; i++) {
        free(p->items[i].path);
        free(p->items[i].message);
    }
    free(p->items);
    hub_problems_init(p);
}

void hub_problems_add(hub_problems *p, const char *path, const char *fmt, ...)
{
    if (p->count >= HUB_PROBLEMS_MAX) {
        p->dropped++;
        return;
    }
    if (p->count == p->cap) {
        size_t ncap = p->cap ? p->cap * 2 : 8;
        hub_problem *n = realloc(p->items, ncap * sizeof(*n));
        if (n == NULL) {
            p->dropped++;
            return;
        }
        p->items = n;
        p->cap = ncap;
    }
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    char *dpath = hub_strdup(path ? path : "");
    char *dmsg = hub_strdup(hub_utf8_scrub(msg));
    if (dpath == NULL || dmsg == NULL) {
        free(dpath);
        free(dmsg);
        p->dropped++;
        return;
    }
    p->items[p->count].path = hub_utf8_scrub(dpath);
    p->items[p->count].message = dmsg;
    p->count++;
}

void hub_error_init(hub_error *err)
{
    err->code = 0;
    err->message[0] = '\0';
    hub_problems_init(&err->problems);
}

void hub_error_clear(hub_error *err)
{
    hub_problems_clear(&err->problems);
    err->code = 0;
    err->message[0] = '\0';
}

int hub_error_set(hub_error *err, int code, const char *fmt, ...)
{
    if (err == NULL)
        return code;
    err->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
    hub_utf8_scrub(err->message);
    return code;
}

/* ---- logging --------------------------------------------------------------------------- */

static hub_log_level log_level = HUB_LOG_INFO;

void hub_log_set_level(hub_log_level level)
{
    log_level = level;
}

void hub_log(hub_log_level level, const char *fmt, ...)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};
    if (level < log_level)
        return;
    char line[1024], ts[HUB_TIME_LEN];
    hub_time_format(hub_now_ms(), ts);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    /* One write per line so lines from threads do not interleave. */
    fprintf(stderr, "%s %s %s\n", ts, names[level], line);
}

/* ---- slices ---------------------------------------------------------------------------- */

hub_slice hub_slice_cstr(const char *s)
{
    return (hub_slice){s, s ? strlen(s) : 0};
}

int hub_slice_eq(hub_slice a, const char *cstr)
{
    size_t n = strlen(cstr);
    return a.len == n && (n == 0 || memcmp(a.base, cstr, n) == 0);
}

int hub_slice_starts_with(hub_slice a, const char *prefix)
{
    size_t n = strlen(prefix);
    return a.len >= n && (n == 0 || memcmp(a.base, prefix, n) == 0);
}

/* ---- buffers --------------------------------------------------------------------------- */

void hub_buf_init(hub_buf *b, size_t cap)
{
    b->data = NULL;
    b->len = 0;
    b->alloc = 0;
    b->cap = cap;
}

void hub_buf_free(hub_buf *b)
{
    free(b->data);
    hub_buf_init(b, b->cap);
}

void hub_buf_reset(hub_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

static int buf_reserve(hub_buf *b, size_t extra)
{
    if (extra > b->cap || b->len > b->cap - extra)
        return HUB_ETOOBIG;
    size_t need = b->len + extra + 1;
    if (need <= b->alloc)
        return 0;
    size_t n = b->alloc ? b->alloc : 64;
    while (n < need)
        n *= 2;
    char *d = realloc(b->data, n);
    if (d == NULL)
        return HUB_ENOMEM;
    b->data = d;
    b->alloc = n;
    return 0;
}

int hub_buf_append(hub_buf *b, const void *data, size_t len)
{
    int rc = buf_reserve(b, len);
    if (rc != 0)
        return rc;
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return 0;
}

int hub_buf_append_str(hub_buf *b, const char *s)
{
    return hub_buf_append(b, s, strlen(s));
}

int hub_buf_append_byte(hub_buf *b, char c)
{
    return hub_buf_append(b, &c, 1);
}

int hub_buf_printf(hub_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return HUB_EINVAL;
    int rc = buf_reserve(b, (size_t)n);
    if (rc != 0)
        return rc;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

int hub_buf_append_jptr(hub_buf *b, const char *s)
{
    for (; *s; s++) {
        int rc;
        if (*s == '~')
            rc = hub_buf_append(b, "~0", 2);
        else if (*s == '/')
            rc = hub_buf_append(b, "~1", 2);
        else
            rc = hub_buf_append_byte(b, *s);
        if (rc != 0)
            return rc;
    }
    return 0;
}

int hub_plain_name(const char *s, size_t n)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

const char *hub_html_entity(char c, int quotes)
{
    switch (c) {
    case '&':
        return "&amp;";
    case '<':
        return "&lt;";
    case '>':
        return "&gt;";
    case '"':
        return quotes >= 1 ? "&quot;" : NULL;
    case '\'':
        return quotes >= 2 ? "&#39;" : NULL;
    default:
        return NULL;
    }
}

int hub_buf_append_html(hub_buf *b, const char *s, size_t n, int quotes)
{
    size_t start = b->len, run = 0;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const char *rep = hub_html_entity(s[i], quotes);
        if (rep == NULL)
            continue;
        rc = hub_buf_append(b, s + run, i - run);
        if (rc == 0)
            rc = hub_buf_append_str(b, rep);
        run = i + 1;
    }
    if (rc == 0)
        rc = hub_buf_append(b, s + run, n - run);
    if (rc != 0) {
        b->len = start;
        if (b->data != NULL)
            b->data[start] = '\0';
    }
    return rc;
}

/* ---- strings --------------------------------------------------------------------------- */

int hub_array_grow(void **v, size_t *cap, size_t n, size_t size, size_t first)
{
    if (n < *cap)
        return 0;
    size_t ncap = *cap ? *cap * 2 : first;
    if (ncap < *cap || ncap > SIZE_MAX / size)
        return HUB_ENOMEM;
    void *nv = realloc(*v, ncap * size);
    if (nv == NULL)
        return HUB_ENOMEM;
    *v = nv;
    *cap = ncap;
    return 0;
}

char *hub_strdup(const char *s)
{
    return hub_strndup(s, strlen(s));
}

char *hub_strndup(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d == NULL)
        return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

size_t hub_utf8_back(const char *s, size_t n)
{
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--;
    return n;
}

/* The length of the well-formed UTF-8 character at s (left bytes readable), or 0. */
static size_t utf8_char(const unsigned char *s, size_t left)
{
    unsigned c = s[0];
    size_t n;
    uint32_t cp, min;
    if (c < 0x80)
        return 1;
    if ((c & 0xE0) == 0xC0) {
        n = 1, cp = c & 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
        n = 2, cp = c & 0x0F, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
        n = 3, cp = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (left <= n)
        return 0;
    for (size_t k = 1; k <= n; k++) {
        if ((s[k] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[k] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n + 1;
}

int hub_utf8_valid(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    for (size_t i = 0, n; i < len; i += n)
        if ((n = utf8_char(s + i, len - i)) == 0)
            return 0;
    return 1;
}

char *hub_utf8_scrub(char *str)
{
    unsigned char *s = (unsigned char *)str;
    size_t len = strlen(str), out = 0;
    for (size_t i = 0; i < len;) {
        size_t n = utf8_char(s + i, len - i);
        if (n == 0) { /* not the start of a whole character: drop the byte */
            i++;
            continue;
        }
        memmove(s + out, s + i, n);
        out += n;
        i += n;
    }
    s[out] = '\0';
    return str;
}

int hub_parse_u64(hub_slice s, uint64_t *out)
{
    if (s.len == 0 || s.len > 20)
        return HUB_EINVAL;
    uint64_t v = 0;
    for (size_t i = 0; i < s.len; i++) {
        unsigned d = (unsigned char)s.base[i] - '0';
        if (d > 9)
            return HUB_EINVAL;
        if (v > (UINT64_MAX - d) / 10)
            return HUB_EINVAL;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

void hub_hex(const unsigned char *in, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * len] = '\0';
}

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t hub_b64url_encode(const unsigned char *in, size_t len, char *out)
{
    size_t o = 0, i = 0;
    for (; i + 2 < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = b64url[(v >> 18) & 63];
        out[o++] = b64url[(v >> 12) & 63];
        out[o++] = b64url[(v >> 6) & 63];
        out[o++] = b64url[v & 63];
    }
    if (len - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = b64url[(v >> 18) & 63];
        out[o++] = b64url[(v >> 12) & 63];
    } else if (len - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        out[o++] = b64url[(v >> 18) & 63];
        out[o++] = b64url[(v >> 12) & 63];
        out[o++] = b64url[(v >> 6) & 63];
    }
    out[o] = '\0';
    return o;
}

static int b64url_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

long hub_b64url_decode(const char *in, size_t len, unsigned char *out, size_t out_cap)
{
    if (len % 4 == 1)
        return -1;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        int v = b64url_value(in[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o >= out_cap)
                return -1;
            out[o++] = (unsigned char)((acc >> bits) & 0xFF);
        }
    }
    /* Leftover bits must be zero, or the encoding was not canonical. */
    if (bits > 0 && (acc & ((1u << bits) - 1)) != 0)
        return -1;
    return (long)o;
}

void hub_thread_name(const char *name)
{
    char n[16];
    snprintf(n, sizeof(n), "%s", name);
    (void)pthread_setname_np(pthread_self(), n);
}

/* ---- shared directory fsyncs ------------------------------------------------------------ */

#define DIRSYNC_GROUPS 32 /* directories shared; more are synced alone */

typedef struct dirsync {
    char *dir;
    uint64_t requested; /* callers so far (tickets) */
    uint64_t synced;    /* every ticket up to this one is durable */
    uint64_t failed;    /* every ticket up to this one was in a failed fsync */
    int err;            /* errno of that failure */
    int running;        /* an fsync is under way */
} dirsync;

static pthread_mutex_t dirsync_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t dirsync_cv = PTHREAD_COND_INITIALIZER;
static dirsync dirsyncs[DIRSYNC_GROUPS];
static atomic_uint_fast64_t dirsync_count;

static int fsync_dir_now(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    int e = errno;
    close(fd);
    atomic_fetch_add(&dirsync_count, 1);
    errno = e;
    return rc;
}

/* The group of dir, added when new; NULL when the table is full. dirsync_mu held. */
static dirsync *dirsync_group(const char *dir)
{
    dirsync *free_slot = NULL;
    for (size_t i = 0; i < DIRSYNC_GROUPS; i++) {
        if (dirsyncs[i].dir != NULL && strcmp(dirsyncs[i].dir, dir) == 0)
            return &dirsyncs[i];
        if (dirsyncs[i].dir == NULL && free_slot == NULL)
            free_slot = &dirsyncs[i];
    }
    if (free_slot != NULL && (free_slot->dir = hub_strdup(dir)) == NULL)
        free_slot = NULL;
    return free_slot;
}

int hub_fsync_dir(const char *dir)
{
    pthread_mutex_lock(&dirsync_mu);
    dirsync *g = dirsync_group(dir);
    if (g == NULL) {
        pthread_mutex_unlock(&dirsync_mu);
        return fsync_dir_now(dir);
    }
    uint64_t ticket = ++g->requested;
    int rc = 0, err = 0;
    for (;;) {
        /* A failure first: after a failed fsync the kernel may have dropped what was dirty,
         * so a later success proves nothing for the entries of this ticket. */
        if (g->failed >= ticket) {
            rc = -1;
            err = g->err;
            break;
        }
        if (g->synced >= ticket)
            break;
        if (g->running) {
            pthread_cond_wait(&dirsync_cv, &dirsync_mu);
            continue;
        }
        /* No fsync under way: this caller runs one for every ticket taken so far. */
        uint64_t upto = g->requested;
        g->running = 1;
        pthread_mutex_unlock(&dirsync_mu);
        int r = fsync_dir_now(dir), e = errno;
        pthread_mutex_lock(&dirsync_mu);
        g->running = 0;
        if (r == 0 && upto > g->synced)
            g->synced = upto;
        if (r != 0 && upto > g->failed) {
            g->failed = upto;
            g->err = e;
        }
        pthread_cond_broadcast(&dirsync_cv);
    }
    pthread_mutex_unlock(&dirsync_mu);
    errno = err;
    return rc;
}

uint64_t hub_fsync_dir_count(void)
{
    return atomic_load(&dirsync_count);
}
