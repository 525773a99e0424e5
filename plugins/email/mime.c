/*
 * The MIME writer (see mime.h): header folding and RFC 2047 encoded-words, quoted-printable
 * (RFC 2045 section 6.7) and base64 bodies, the RFC 5322 date, address checks. Linear in
 * its input everywhere; body encoders reserve room per block and write through a pointer.
 */
#if !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L /* gmtime_r */
#endif
#include "mime.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MIME_ENOMEM  (-1)
#define MIME_ETOOBIG (-9)

#define HDR_LINE_MAX 78 /* RFC 5322 2.1.1: lines SHOULD stay within 78 characters */
#define EW_LINE_MAX  76 /* RFC 2047 2: a line holding encoded-words, at most 76 */
#define EW_MAX       75 /* RFC 2047 2: one encoded-word, at most 75 */
#define EW_OVERHEAD  12 /* "=?UTF-8?Q?" and "?=" */
#define BODY_BLOCK   4096

static const char hex_upper[] = "0123456789ABCDEF";
static const char b64_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Quoted-printable classes: 0 as it is, 1 as =XX, 2 space or tab (=XX at a line's end), 3 a
 * line break. */
enum { QP_LIT, QP_ESC, QP_WSP, QP_EOL };
/* clang-format off */
static const unsigned char qp_class[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 3, 1, 1, 3, 1, 1, /* 0x00 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x10 */
    2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x20 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, /* 0x30: '=' */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x40 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x50 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x60 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, /* 0x70: DEL */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x80 .. 0xFF */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
};
/* clang-format on */

/* ---- the buffer -------------------------------------------------------------------------- */

void mime_buf_init(mime_buf *b, size_t max)
{
    memset(b, 0, sizeof(*b));
    b->max = max;
}

void mime_buf_free(mime_buf *b)
{
    if (b == NULL)
        return;
    free(b->data);
    b->data = NULL;
    b->len = b->alloc = 0;
    b->err = 0;
}

int mime_buf_reserve(mime_buf *b, size_t extra)
{
    if (b->err != 0)
        return b->err;
    if (extra > b->max || b->len > b->max - extra)
        return b->err = MIME_ETOOBIG;
    size_t need = b->len + extra;
    if (need <= b->alloc)
        return 0;
    size_t a = b->alloc < 512 ? 512 : b->alloc;
    while (a < need)
        a = a > b->max / 2 ? need : a * 2;
    if (a > b->max)
        a = b->max;
    char *p = realloc(b->data, a);
    if (p == NULL)
        return b->err = MIME_ENOMEM;
    b->data = p;
    b->alloc = a;
    return 0;
}

void mime_put(mime_buf *b, const void *data, size_t len)
{
    if (len == 0 || mime_buf_reserve(b, len) != 0)
        return;
    memcpy(b->data + b->len, data, len);
    b->len += len;
}

void mime_puts(mime_buf *b, const char *s)
{
    mime_put(b, s, strlen(s));
}

/* ---- characters -------------------------------------------------------------------------- */

static int is_wsp(unsigned char c)
{
    return c == ' ' || c == '\t';
}

static int is_alnum(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* RFC 5322 atext. */
static int is_atext(unsigned char c)
{
    return is_alnum(c) || (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/* Characters an encoded-word in Q form may carry as they are, in any position (RFC 2047
 * 5(3), the strictest rule: phrases). */
static int q_safe(unsigned char c)
{
    return is_alnum(c) || c == '!' || c == '*' || c == '+' || c == '-' || c == '/';
}

static size_t q_width(const unsigned char *s, size_t n)
{
    size_t w = 0;
    for (size_t i = 0; i < n; i++)
        w += s[i] == ' ' || q_safe(s[i]) ? 1 : 3;
    return w;
}

/* Bytes of the UTF-8 character at s (1 for a malformed one). */
static size_t u8len(const unsigned char *s, size_t n)
{
    size_t l = s[0] < 0x80                    ? 1
               : s[0] >= 0xC2 && s[0] <= 0xDF ? 2
               : s[0] >= 0xE0 && s[0] <= 0xEF ? 3
               : s[0] >= 0xF0 && s[0] <= 0xF4 ? 4
                                              : 1;
    if (l > n)
        return 1;
    for (size_t i = 1; i < l; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 1;
    }
    return l;
}

int mime_has_line_break(const char *s, size_t n)
{
    return s != NULL && (memchr(s, '\r', n) != NULL || memchr(s, '\n', n) != NULL);
}

int mime_prefix_ci(const char *s, size_t n, const char *prefix)
{
    size_t i = 0;
    for (; prefix[i] != '\0'; i++) {
        unsigned char c = i < n ? (unsigned char)s[i] : 0;
        if (c >= 'A' && c <= 'Z')
            c = (unsigned char)(c + ('a' - 'A'));
        if (c != (unsigned char)prefix[i])
            return 0;
    }
    return 1;
}

size_t mime_trim(const char *s, size_t n, const char **start)
{
    while (n > 0 && is_wsp((unsigned char)s[0])) {
        s++;
        n--;
    }
    while (n > 0 && is_wsp((unsigned char)s[n - 1]))
        n--;
    *start = s;
    return n;
}

/* 1 when s holds "=?", which a reader would take for the start of an encoded-word. */
static int has_ew_start(const char *s, size_t n)
{
    for (size_t i = 0; i + 1 < n; i++) {
        if (s[i] == '=' && s[i + 1] == '?')
            return 1;
    }
    return 0;
}

/* ---- header pieces ----------------------------------------------------------------------- */

static void put_b64(mime_buf *b, const unsigned char *s, size_t n)
{
    char q[4];
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)s[i] << 16;
        if (i + 1 < n)
            v |= (unsigned)s[i + 1] << 8;
        if (i + 2 < n)
            v |= s[i + 2];
        q[0] = b64_chars[(v >> 18) & 63];
        q[1] = b64_chars[(v >> 12) & 63];
        q[2] = i + 1 < n ? b64_chars[(v >> 6) & 63] : '=';
        q[3] = i + 2 < n ? b64_chars[v & 63] : '=';
        mime_put(b, q, 4);
    }
}

static void put_q(mime_buf *b, const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char e[3] = {(char)s[i], 0, 0};
        if (s[i] == ' ') {
            e[0] = '_';
        } else if (!q_safe(s[i])) {
            e[0] = '=';
            e[1] = hex_upper[s[i] >> 4];
            e[2] = hex_upper[s[i] & 15];
        }
        mime_put(b, e, e[1] != 0 ? 3 : 1);
    }
}

/* Width of the encoded-word payload for s[i..j): Q or B. */
static size_t ew_width(int q, const unsigned char *s, size_t n)
{
    return q ? q_width(s, n) : 4 * ((n + 2) / 3);
}

/*
 * s as encoded-words, the first after the *col characters already on the line (or on a new
 * line when it would not hold a word there), each further word on a line of its own. A word
 * ends on a character boundary.
 */
static void put_words(mime_buf *b, const char *v, size_t n, size_t *col)
{
    const unsigned char *s = (const unsigned char *)v;
    int q = q_width(s, n) <= 4 * ((n + 2) / 3);
    size_t i = 0;
    while (i < n) {
        size_t cl = u8len(s + i, n - i);
        if (i > 0 || *col + EW_OVERHEAD + ew_width(q, s + i, cl) > EW_LINE_MAX) {
            mime_put(b, "\r\n ", 3);
            *col = 1;
        }
        size_t room = EW_LINE_MAX - *col < EW_MAX ? EW_LINE_MAX - *col : EW_MAX;
        size_t payload = room - EW_OVERHEAD, j = i, w = 0;
        while (j < n) {
            size_t l = u8len(s + j, n - j);
            size_t nw = q ? w + q_width(s + j, l) : ew_width(0, s + i, j + l - i);
            if (nw > payload)
                break;
            w = nw;
            j += l;
        }
        if (j == i) { /* cannot happen: one character always fits a fresh line */
            j = i + cl;
            w = ew_width(q, s + i, cl);
        }
        mime_put(b, q ? "=?UTF-8?Q?" : "=?UTF-8?B?", 10);
        if (q)
            put_q(b, s + i, j - i);
        else
            put_b64(b, s + i, j - i);
        mime_put(b, "?=", 2);
        *col += EW_OVERHEAD + w;
        i = j;
    }
}

/*
 * Printable ASCII s, folded before white space so that no line passes 78 characters. -1 with
 * nothing written when a word cannot fit (the first one on this line, or any on a line of
 * its own).
 */
static int put_folded(mime_buf *b, const char *s, size_t n, size_t *col)
{
    size_t save = b->len, save_col = *col, i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && is_wsp((unsigned char)s[j]))
            j++;
        while (j < n && !is_wsp((unsigned char)s[j]))
            j++;
        if (*col + (j - i) > HDR_LINE_MAX) {
            if (i == 0 || j - i > HDR_LINE_MAX) {
                b->len = save;
                *col = save_col;
                return -1;
            }
            mime_put(b, "\r\n", 2);
            *col = 0;
        }
        mime_put(b, s + i, j - i);
        *col += j - i;
        i = j;
    }
    return 0;
}

/* 1 when the unstructured text can go as it is: printable ASCII and tabs, no "=?". */
static int plain_text(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c < 0x20 && c != '\t') || c >= 0x7F)
            return 0;
    }
    return !has_ew_start(s, n);
}

static size_t put_name(mime_buf *b, const char *name)
{
    size_t n = strlen(name);
    mime_put(b, name, n);
    mime_put(b, ": ", 2);
    return n + 2;
}

void mime_header_text(mime_buf *b, const char *name, const char *v, size_t n)
{
    size_t col = put_name(b, name);
    if (!plain_text(v, n) || put_folded(b, v, n, &col) != 0)
        put_words(b, v, n, &col);
    mime_put(b, "\r\n", 2);
}

enum { DISP_ATOMS, DISP_QUOTE, DISP_ENCODE };

static int display_kind(const char *s, size_t n)
{
    int k = DISP_ATOMS;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c >= 0x7F)
            return DISP_ENCODE;
        if (c != ' ' && !is_atext(c))
            k = DISP_QUOTE;
    }
    return has_ew_start(s, n) ? DISP_ENCODE : k;
}

static size_t quoted_len(const char *s, size_t n)
{
    size_t q = n + 2;
    for (size_t i = 0; i < n; i++)
        q += s[i] == '"' || s[i] == '\\';
    return q;
}

static void put_quoted(mime_buf *b, const char *s, size_t n)
{
    size_t run = 0;
    mime_put(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"' || s[i] == '\\') {
            mime_put(b, s + run, i - run);
            mime_put(b, "\\", 1);
            run = i;
        }
    }
    mime_put(b, s + run, n - run);
    mime_put(b, "\"", 1);
}

void mime_header_mailbox(mime_buf *b, const char *name, const char *disp, size_t dn,
                         const char *addr, size_t an)
{
    size_t col = put_name(b, name), limit = HDR_LINE_MAX;
    if (dn == 0) {
        mime_put(b, addr, an);
        mime_put(b, "\r\n", 2);
        return;
    }
    int k = display_kind(disp, dn);
    if (k == DISP_ATOMS && put_folded(b, disp, dn, &col) != 0)
        k = DISP_ENCODE;
    if (k == DISP_QUOTE) {
        size_t qn = quoted_len(disp, dn);
        if (col + qn <= HDR_LINE_MAX) {
            put_quoted(b, disp, dn);
            col += qn;
        } else {
            k = DISP_ENCODE;
        }
    }
    if (k == DISP_ENCODE) {
        put_words(b, disp, dn, &col);
        limit = EW_LINE_MAX;
    }
    if (col + an + 3 > limit)
        mime_put(b, "\r\n", 2);
    mime_put(b, " <", 2);
    mime_put(b, addr, an);
    mime_put(b, ">\r\n", 3);
}

void mime_header_list(mime_buf *b, const char *name, const char *const *items, const size_t *lens,
                      size_t n)
{
    size_t col = put_name(b, name);
    for (size_t k = 0; k < n; k++) {
        if (k > 0) {
            mime_put(b, ",", 1);
            col++;
            if (col + 1 + lens[k] > HDR_LINE_MAX) {
                mime_put(b, "\r\n", 2);
                col = 0;
            }
            mime_put(b, " ", 1);
            col++;
        }
        mime_put(b, items[k], lens[k]);
        col += lens[k];
    }
    mime_put(b, "\r\n", 2);
}

void mime_header_date(mime_buf *b, int64_t ms)
{
    static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    int64_t secs = ms / 1000 - (ms % 1000 < 0 ? 1 : 0);
    time_t t = (time_t)secs;
    struct tm tm;
    char line[128];
    if (gmtime_r(&t, &tm) == NULL) {
        t = 0;
        gmtime_r(&t, &tm);
    }
    int n = snprintf(line, sizeof(line), "Date: %s, %02d %s %04d %02d:%02d:%02d +0000\r\n",
                     days[tm.tm_wday % 7], tm.tm_mday, months[tm.tm_mon % 12], tm.tm_year + 1900,
                     tm.tm_hour, tm.tm_min, tm.tm_sec);
    if (n > 0 && (size_t)n < sizeof(line))
        mime_put(b, line, (size_t)n);
}

/* ---- bodies ------------------------------------------------------------------------------ */

int mime_body_choose(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t e = 0;
    for (size_t i = 0; i < n; i++)
        e += qp_class[u[i]] == QP_ESC;
    size_t qp = n + 2 * e + 3 * (n / 73);
    size_t b64 = 4 * (n / 3 + 1) + 2 * (n / 57);
    return qp > b64 ? MIME_BASE64 : MIME_QP;
}

const char *mime_encoding_name(int enc)
{
    return enc == MIME_BASE64 ? "base64" : "quoted-printable";
}

/*
 * Quoted-printable: bytes 33..126 but '=' as they are, space and tab too except at the end
 * of a line, everything else =XX; a soft break ("=" CRLF) keeps lines within 76 characters.
 * Each block of input gets room for its worst case (3 bytes per byte plus soft breaks).
 */
static void body_qp(mime_buf *b, const unsigned char *s, size_t n)
{
    size_t i = 0, col = 0;
    while (i < n) {
        size_t end = n - i < BODY_BLOCK ? n : i + BODY_BLOCK;
        if (mime_buf_reserve(b, 4 * (end - i) + 8) != 0)
            return;
        char *o = b->data + b->len;
        for (; i < end; i++) {
            unsigned char c = s[i], k = qp_class[c];
            if (k == QP_LIT && col < 75) { /* the common case: fits even before a soft break */
                *o++ = (char)c;
                col++;
                continue;
            }
            if (k == QP_EOL) {
                if (c == '\r' && i + 1 < n && s[i + 1] == '\n')
                    i++;
                *o++ = '\r';
                *o++ = '\n';
                col = 0;
                continue;
            }
            int eol = i + 1 == n || qp_class[s[i + 1]] == QP_EOL;
            int lit = k == QP_LIT || (k == QP_WSP && !eol);
            size_t w = lit ? 1 : 3;
            if (col + w > (eol ? 76u : 75u)) {
                memcpy(o, "=\r\n", 3);
                o += 3;
                col = 0;
            }
            if (lit) {
                *o++ = (char)c;
            } else {
                *o++ = '=';
                *o++ = hex_upper[c >> 4];
                *o++ = hex_upper[c & 15];
            }
            col += w;
        }
        b->len = (size_t)(o - b->data);
    }
}

typedef struct b64_state {
    char *o;
    size_t col;
    unsigned char g[3];
    size_t gn;
} b64_state;

static void b64_flush(b64_state *st)
{
    unsigned v = (unsigned)st->g[0] << 16;
    if (st->gn > 1)
        v |= (unsigned)st->g[1] << 8;
    if (st->gn > 2)
        v |= st->g[2];
    if (st->col == 76) {
        memcpy(st->o, "\r\n", 2);
        st->o += 2;
        st->col = 0;
    }
    st->o[0] = b64_chars[(v >> 18) & 63];
    st->o[1] = b64_chars[(v >> 12) & 63];
    st->o[2] = st->gn > 1 ? b64_chars[(v >> 6) & 63] : '=';
    st->o[3] = st->gn > 2 ? b64_chars[v & 63] : '=';
    st->o += 4;
    st->col += 4;
    st->gn = 0;
}

static void b64_byte(b64_state *st, unsigned char c)
{
    st->g[st->gn++] = c;
    if (st->gn == 3)
        b64_flush(st);
}

/* Base64 of the text in canonical form (every line break CRLF), 76 characters a line. */
static void body_base64(mime_buf *b, const unsigned char *s, size_t n)
{
    b64_state st = {NULL, 0, {0, 0, 0}, 0};
    size_t i = 0;
    while (i < n) {
        size_t end = n - i < BODY_BLOCK ? n : i + BODY_BLOCK;
        if (mime_buf_reserve(b, 3 * (end - i) + 16) != 0)
            return;
        st.o = b->data + b->len;
        for (; i < end; i++) {
            if (s[i] == '\r' || s[i] == '\n') {
                if (s[i] == '\r' && i + 1 < n && s[i + 1] == '\n')
                    i++;
                b64_byte(&st, '\r');
                b64_byte(&st, '\n');
            } else {
                b64_byte(&st, s[i]);
            }
        }
        if (i >= n && st.gn > 0)
            b64_flush(&st);
        b->len = (size_t)(st.o - b->data);
    }
}

void mime_body(mime_buf *b, int enc, const char *s, size_t n)
{
    if (enc == MIME_BASE64)
        body_base64(b, (const unsigned char *)s, n);
    else
        body_qp(b, (const unsigned char *)s, n);
}

/* ---- addresses --------------------------------------------------------------------------- */

static int local_ok(const char *s, size_t n)
{
    if (n == 0 || n > 64 || s[0] == '.' || s[n - 1] == '.')
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '.' ? s[i + 1] == '.' : !is_atext(c))
            return 0;
    }
    return 1;
}

static int domain_ok(const char *s, size_t n)
{
    size_t label = 0;
    if (n == 0 || n > 253)
        return 0;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || s[i] == '.') {
            if (label == 0 || label > 63 || s[i - 1] == '-' || s[i - label] == '-')
                return 0;
            label = 0;
        } else if (is_alnum((unsigned char)s[i]) || s[i] == '-') {
            label++;
        } else {
            return 0;
        }
    }
    return 1;
}

int mime_addr_ok(const char *s, size_t n)
{
    const char *at = s != NULL ? memchr(s, '@', n) : NULL;
    if (at == NULL || n > 254)
        return 0;
    size_t ln = (size_t)(at - s);
    return local_ok(s, ln) && domain_ok(at + 1, n - ln - 1);
}

int mime_mailbox_parse(const char *s, size_t n, mime_mailbox *out)
{
    memset(out, 0, sizeof(*out));
    n = mime_trim(s, n, &s);
    out->disp = s;
    out->addr = s;
    out->an = n;
    if (n > 0 && s[n - 1] == '>') {
        size_t lt = n - 1;
        while (lt > 0 && s[lt - 1] != '<')
            lt--;
        if (lt == 0)
            return -1;
        out->addr = s + lt;
        out->an = n - 1 - lt;
        out->dn = mime_trim(s, lt - 1, &out->disp);
        if (out->dn >= 2 && out->disp[0] == '"' && out->disp[out->dn - 1] == '"') {
            out->disp++;
            out->dn -= 2;
            out->quoted = 1;
        }
    }
    return mime_addr_ok(out->addr, out->an) ? 0 : -1;
}

size_t mime_unquote(const char *s, size_t n, char *out)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\\' && i + 1 < n)
            i++;
        out[k++] = s[i];
    }
    return k;
}

void mime_mailbox_text(mime_buf *b, const char *disp, size_t dn, const char *addr, size_t an)
{
    int quote = 0;
    for (size_t i = 0; i < dn; i++) {
        unsigned char c = (unsigned char)disp[i];
        if (c < 0x80 && c != ' ' && !is_atext(c))
            quote = 1;
    }
    if (dn > 0) {
        if (quote)
            put_quoted(b, disp, dn);
        else
            mime_put(b, disp, dn);
        mime_put(b, " <", 2);
    }
    mime_put(b, addr, an);
    if (dn > 0)
        mime_put(b, ">", 1);
}
