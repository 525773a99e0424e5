/*
 * The MIME writer of the email plugin: a capped growing buffer, header fields folded to
 * RFC 5322's 78 characters with RFC 2047 encoded-words for text that is not plain ASCII,
 * quoted-printable and base64 bodies with CRLF line ends and lines of at most 76 characters,
 * the Date format of RFC 5322 and plausibility checks of addresses. libc only, no state:
 * every function is reentrant.
 *
 * Caveats first:
 * - Writes into a mime_buf never fail one by one: the first failure (allocation, or the cap)
 *   is kept in b->err and every later write is a no-op, so a caller checks once at the end.
 * - Header values must not hold CR or LF; callers refuse those before (mime_has_line_break).
 * - Encoded-words carry UTF-8 and never split a UTF-8 character between two words; a
 *   malformed sequence is carried byte by byte (a decoder shows it as it was given).
 * - Addresses are ASCII only (no SMTPUTF8): dot-atom local part, host-name domain.
 */
#ifndef OMNIHUB_EMAIL_MIME_H
#define OMNIHUB_EMAIL_MIME_H

#include <stddef.h>
#include <stdint.h>

typedef struct mime_buf {
    char *data; /* owned; not NUL-terminated */
    size_t len;
    size_t alloc;
    size_t max; /* the cap on len */
    int err;    /* 0, or the first failure: -1 (out of memory) or -9 (over the cap) */
} mime_buf;

/* An empty buffer that may grow to max bytes. */
void mime_buf_init(mime_buf *b, size_t max);
void mime_buf_free(mime_buf *b); /* NULL-safe; leaves an empty buffer */
/* Makes room for extra more bytes; 0 or b->err. */
int mime_buf_reserve(mime_buf *b, size_t extra);
void mime_put(mime_buf *b, const void *data, size_t len);
void mime_puts(mime_buf *b, const char *s);

/* 1 when s holds a CR or an LF. */
int mime_has_line_break(const char *s, size_t n);
/* 1 when s (n bytes) starts with the lower-case ASCII prefix, ignoring ASCII case (the
 * locale plays no part, unlike strncasecmp). */
int mime_prefix_ci(const char *s, size_t n, const char *prefix);
/* s without leading and trailing spaces and tabs: sets *start, returns the new length. */
size_t mime_trim(const char *s, size_t n, const char **start);

/* ---- headers: each call writes one whole field, "Name: value" CRLF -------------------- */

/*
 * An unstructured field (Subject). Printable ASCII (tabs allowed) is written as it is,
 * folded before white space so that lines stay within 78 characters; anything else (non-
 * ASCII, control characters, "=?", or a word too long to fold) becomes a run of UTF-8
 * encoded-words (Q when that is shorter, else B), each at most 75 characters, one per line.
 */
void mime_header_text(mime_buf *b, const char *name, const char *v, size_t n);

/*
 * A mailbox field (From, Reply-To): the display name (dn 0: none), written as atoms, a
 * quoted-string or encoded-words, then " <addr>" (or the bare address without a name).
 */
void mime_header_mailbox(mime_buf *b, const char *name, const char *disp, size_t dn,
                         const char *addr, size_t an);

/* A field of comma-separated ASCII items (List-Unsubscribe), folded between items. */
void mime_header_list(mime_buf *b, const char *name, const char *const *items, const size_t *lens,
                      size_t n);

/* "Date: Tue, 14 Nov 2023 22:13:20 +0000" CRLF, for ms since the epoch, in UTC. */
void mime_header_date(mime_buf *b, int64_t ms);

/* ---- bodies -------------------------------------------------------------------------- */

#define MIME_QP     1
#define MIME_BASE64 2

/* The transfer encoding that gives the smaller body: base64 for mostly non-ASCII text. */
int mime_body_choose(const char *s, size_t n);
/* The name for Content-Transfer-Encoding. */
const char *mime_encoding_name(int enc);

/*
 * The body s in the encoding enc. Line breaks (CRLF, LF or a lone CR) become CRLF: hard
 * line breaks in quoted-printable, canonical CRLF under base64. Every output line is at
 * most 76 characters; nothing is written after the last line (no trailing CRLF).
 */
void mime_body(mime_buf *b, int enc, const char *s, size_t n);

/* ---- addresses ----------------------------------------------------------------------- */

/* 1 when s is a plausible addr-spec: local@domain, dot-atom local part of at most 64
 * bytes, a domain of LDH labels (one label allowed, as in "localhost"), 254 bytes in all. */
int mime_addr_ok(const char *s, size_t n);

typedef struct mime_mailbox {
    const char *disp; /* display name, borrowed; quotes stripped, escapes still in */
    size_t dn;
    int quoted;       /* the display name was a quoted-string: unquote with mime_unquote */
    const char *addr; /* the addr-spec, borrowed */
    size_t an;
} mime_mailbox;

/* Splits "Name <addr>", "\"Name\" <addr>", "<addr>" or "addr"; 0, or -1 when the form or
 * the address is wrong. */
int mime_mailbox_parse(const char *s, size_t n, mime_mailbox *out);
/* Removes quoted-pair backslashes from s into out (room for n bytes); returns the length. */
size_t mime_unquote(const char *s, size_t n, char *out);
/* Appends the mailbox the way a person reads it: UTF-8 name (quoted when it holds
 * specials), then " <addr>"; the bare address without a name. */
void mime_mailbox_text(mime_buf *b, const char *disp, size_t dn, const char *addr, size_t an);

#endif
