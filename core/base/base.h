/*
 * base: the few things every module shares. Errors, logging, strings with lengths, capped
 * growable buffers, a problem list for validation, clocks. libc only.
 *
 * Thread-safety: everything here is reentrant; the log sink is the one global, set once at
 * start-up before threads exist (hub_log_set_level).
 */
#ifndef HUB_BASE_H
#define HUB_BASE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* ---- errors ---------------------------------------------------------------------------- */

/* Fallible functions return 0 or one of these. Each maps to one HTTP status (see http). */
enum {
    HUB_OK = 0,
    HUB_ENOMEM = -1,     /* allocation failed                                  -> 503 */
    HUB_EINVAL = -2,     /* input breaks a rule                                -> 422 */
    HUB_EBADREQ = -3,    /* malformed request (JSON, query, cursor)            -> 400 */
    HUB_ENOTFOUND = -4,  /* no such resource                                   -> 404 */
    HUB_EEXISTS = -5,    /* already exists                                     -> 409 */
    HUB_EINUSE = -6,     /* still referenced by something else                 -> 409 */
    HUB_EPRECOND = -7,   /* If-Match did not match                             -> 412 */
    HUB_EFORBIDDEN = -8, /* the token lacks the right                          -> 403 */
    HUB_ETOOBIG = -9,    /* over a configured cap                              -> 413 */
    HUB_EFULL = -10,     /* the store's map is full; nothing was written       -> 507 */
    HUB_EIO = -11,       /* disk or OS failure                                 -> 503 */
    HUB_ESHUTDOWN = -12, /* the server is stopping                             -> 503 */
    HUB_EUNAUTH = -13,   /* missing or unknown token                           -> 401 */
};

/* A static English name for a code ("not found"). Never NULL. */
const char *hub_strerror(int code);

/*
 * Problems: the list a validation returns, each a JSON pointer (RFC 6901) and a message.
 * Capped at HUB_PROBLEMS_MAX entries; past that the list notes that more were dropped.
 */
#define HUB_PROBLEMS_MAX 200
typedef struct hub_problem {
    char *path;    /* JSON pointer, owned */
    char *message; /* one line, owned */
} hub_problem;

typedef struct hub_problems {
    hub_problem *items;
    size_t count;
    size_t cap;
    size_t dropped; /* problems past HUB_PROBLEMS_MAX */
} hub_problems;

void hub_problems_init(hub_problems *p);
void hub_problems_clear(hub_problems *p); /* frees the entries, keeps p usable */
/* Adds a problem; path is a JSON pointer already escaped, message printf-style. */
void hub_problems_add(hub_problems *p, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * hub_error: a code and a one-line message, filled by functions whose failures need words.
 * Optional problems list for validation failures (422). Caller-allocated; init with
 * hub_error_init, release with hub_error_clear.
 */
typedef struct hub_error {
    int code;
    char message[256];
    hub_problems problems;
} hub_error;

void hub_error_init(hub_error *err);
void hub_error_clear(hub_error *err);
/* Sets code and message (printf-style) and returns code, so `return hub_error_set(...)`. */
int hub_error_set(hub_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- logging --------------------------------------------------------------------------- */

typedef enum { HUB_LOG_DEBUG, HUB_LOG_INFO, HUB_LOG_WARN, HUB_LOG_ERROR } hub_log_level;
void hub_log_set_level(hub_log_level level); /* before threads start */
void hub_log(hub_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define HUB_LOG_INFO(...)  hub_log(HUB_LOG_INFO, __VA_ARGS__)
#define HUB_LOG_WARN(...)  hub_log(HUB_LOG_WARN, __VA_ARGS__)
#define HUB_LOG_ERROR(...) hub_log(HUB_LOG_ERROR, __VA_ARGS__)

/* ---- strings and buffers --------------------------------------------------------------- */

/* A borrowed run of bytes; not NUL-terminated unless stated. */
typedef struct hub_slice {
    const char *base;
    size_t len;
} hub_slice;

#define HUB_SLICE_LIT(s) ((hub_slice){(s), sizeof(s) - 1})
hub_slice hub_slice_cstr(const char *s);
int hub_slice_eq(hub_slice a, const char *cstr);
int hub_slice_starts_with(hub_slice a, const char *prefix);

/*
 * A growable buffer with a hard cap: appending past `cap` fails with HUB_ETOOBIG and leaves
 * the contents as they were. The data is always NUL-terminated (not counted in len).
 */
typedef struct hub_buf {
    char *data;
    size_t len;
    size_t alloc;
    size_t cap;
} hub_buf;

void hub_buf_init(hub_buf *b, size_t cap);
void hub_buf_free(hub_buf *b);
void hub_buf_reset(hub_buf *b); /* len = 0, keeps memory */
int hub_buf_append(hub_buf *b, const void *data, size_t len);
int hub_buf_append_str(hub_buf *b, const char *s);
int hub_buf_append_byte(hub_buf *b, char c);
int hub_buf_printf(hub_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s as a JSON pointer reference token (RFC 6901: '~' -> "~0", '/' -> "~1"). */
int hub_buf_append_jptr(hub_buf *b, const char *s);

/* HTML escaping. quotes: 0 escapes & < > (text), 1 also " (double-quoted attribute values),
 * 2 also ' (any context). hub_html_entity gives the replacement of one byte or NULL. On
 * failure hub_buf_append_html leaves b as it was. */
const char *hub_html_entity(char c, int quotes);
int hub_buf_append_html(hub_buf *b, const char *s, size_t n, int quotes);

/* strdup / strndup that return NULL only on allocation failure. */
/* Makes room for one more element in a malloc'd array *v of *cap elements of `size` bytes
 * holding n: doubles *cap (from `first`) when n == *cap. 0 or HUB_ENOMEM (*v unchanged). */
int hub_array_grow(void **v, size_t *cap, size_t n, size_t size, size_t first);

char *hub_strdup(const char *s);
char *hub_strndup(const char *s, size_t n);

/* Checks that the bytes are well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF). */
int hub_utf8_valid(const char *s, size_t len);
/* Drops from the NUL-terminated s, in place, every byte that is not part of a well-formed
 * UTF-8 character, so that text cut to a byte count (printf's "%.64s", a fixed buffer) can
 * still go into JSON. Returns s. */
char *hub_utf8_scrub(char *s);
/* Where to cut UTF-8 text s before byte n (s[n] readable) without splitting a character: n,
 * moved back to the start of the character that s[n] continues. 0 when s[0..n] holds no
 * start of a character. */
size_t hub_utf8_back(const char *s, size_t n);

/* 1 when s[0..n) is 1 or more of [A-Za-z0-9._-] (token names, file names of plugins). */
int hub_plain_name(const char *s, size_t n);

/* Parses a base-10 unsigned integer that fills the whole slice. 0 or HUB_EINVAL. */
int hub_parse_u64(hub_slice s, uint64_t *out);

/* Lower-case hex of `len` bytes into out (2*len+1 bytes). */
void hub_hex(const unsigned char *in, size_t len, char *out);

/* Base64url (RFC 4648 section 5, no padding). encode: out needs 4*ceil(len/3)+1 bytes.
 * decode returns the decoded length, or -1 on a bad character or a bad length. */
size_t hub_b64url_encode(const unsigned char *in, size_t len, char *out);
long hub_b64url_decode(const char *in, size_t len, unsigned char *out, size_t out_cap);

/* ---- threads and files ----------------------------------------------------------------- */

/* Names the calling thread (at most 15 bytes are kept), for top -H, perf and gdb. */
void hub_thread_name(const char *name);

/* Makes the entries of directory dir (renames, creations) durable: returns once an fsync of
 * dir that began after this call has succeeded (0), or -1 with errno. Threads that call it
 * for the same directory at the same time share one fsync (group commit for directories).
 * Thread-safe. hub_fsync_dir_count: the fsyncs of directories done so far (for tests). */
int hub_fsync_dir(const char *dir);
uint64_t hub_fsync_dir_count(void);

/* ---- time ------------------------------------------------------------------------------ */

/* Wall clock in milliseconds since the epoch, and monotonic milli- and microseconds. */
int64_t hub_now_ms(void);
int64_t hub_mono_ms(void);
int64_t hub_mono_us(void);
/* The CLOCK_MONOTONIC time ms from now, for pthread_cond_timedwait on a condition variable
 * whose clock attribute is CLOCK_MONOTONIC. */
struct timespec;
void hub_mono_deadline(int64_t ms, struct timespec *out);
/* Formats ms since epoch as RFC 3339 UTC with milliseconds: 2026-11-23T03:21:33.123Z.
 * out needs HUB_TIME_LEN bytes. */
#define HUB_TIME_LEN 32
void hub_time_format(int64_t ms, char out[HUB_TIME_LEN]);
/* Parses an RFC 3339 timestamp (any offset, optional fraction) into ms since epoch (UTC).
 * 0 or HUB_EINVAL. */
int hub_time_parse(const char *s, size_t len, int64_t *out_ms);

#endif
