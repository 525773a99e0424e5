/*
 * The sms channel plugin: one field, "text". render() counts the text as a phone does
 * (gsm7.h: GSM-7 with its extension table, else UCS-2; 160/153 and 70/67 per segment) and
 * writes {"text","encoding","characters","segments","unicode_characters"}; validate() and
 * render() warn when a few characters force UCS-2 and when the message takes several
 * segments, and refuse more segments than max_segments and, where the sender's policy says
 * so (require_stop), a text without an opt-out keyword. deliver() writes the message to the
 * outbox or POSTs it to an HTTP gateway with a Liquid body template.
 *
 * render() is on the hot path (a budget of 200k renders per second per core, the host's
 * Liquid included): one counting pass over the text, no allocation, and the artifact
 * written straight into the host's buffer in three appends.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <omnihub/plugin.h>

#include "gsm7.h"

#define PLUGIN_NAME         "sms"
#define LISTED_MAX          20 /* unicode_characters in the artifact */
#define WARN_LISTED_MAX     10 /* characters named in the sms_ucs2 warning (its line is capped) */
#define HEADERS_MAX         32
#define STOP_KEYWORDS_MAX   16
#define STOP_KEYWORD_BYTES  64
#define SENDER_BYTES        64
#define URL_BYTES           2048
#define HEADER_VALUE_BYTES  1024
#define BODY_TEMPLATE_BYTES (64 * 1024)
#define HTTP_BODY_CAP       (256 * 1024)
#define TIMEOUT_MS_MAX      600000
#define RECIPIENT_DEPTH_MAX 32

#define DEFAULT_BODY                                                                               \
    "{\"to\":\"{{ recipient.phone }}\",\"text\":\"{{ text }}\",\"id\":\"{{ message_id }}\"}"

enum { DRIVER_OUTBOX, DRIVER_HTTP };

typedef struct sms_state {
    const hub_host_api *host;
    int driver;
    unsigned max_segments;
    int require_stop;
    char *stop[STOP_KEYWORDS_MAX];
    size_t stop_len[STOP_KEYWORDS_MAX];
    size_t nstop;
    char *sender; /* NULL: none configured */
    /* http driver */
    char *url;
    hub_http_header headers[HEADERS_MAX];
    size_t nheaders;
    int has_content_type; /* the configured headers set Content-Type themselves */
    char *body;           /* the Liquid body template */
    size_t body_len;
    int body_json; /* the template looks like JSON: string variables are JSON-escaped */
    uint32_t timeout_ms;
} sms_state;

static const hub_plugin_field text_field = {
    sizeof(hub_plugin_field),
    HUB_FIELD_TEXT,
    "text",
    1,
    0,
    10000,
    "the message text; GSM-7 when every character allows it, else UCS-2"};
static const hub_plugin_field *const schema_fields[] = {&text_field};
static const hub_plugin_schema schema = {sizeof(hub_plugin_schema), 1, schema_fields};

/* ---- small helpers ------------------------------------------------------------------------ */

static char ascii_lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static int ascii_ieq(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (ascii_lower(a[i]) != ascii_lower(b[i]))
            return 0;
    return 1;
}

/* a and b equal, ASCII letters compared without case (strcasecmp follows the locale). */
static int name_is(const char *a, const char *b)
{
    size_t n = strlen(b);
    return strlen(a) == n && ascii_ieq(a, b, n);
}

static char *dup_n(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d != NULL) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

static void set_err(char *err, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t cap, const char *fmt, ...)
{
    va_list ap;
    if (err == NULL || cap == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
}

/* UTF-8 of code point c (at most U+10FFFF) into out (4 bytes); returns the length. */
static size_t utf8_put(uint32_t c, char *out)
{
    static const unsigned char lead[] = {0, 0, 0xC0, 0xE0, 0xF0};
    size_t n = c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
    for (size_t k = n - 1; k > 0; k--, c >>= 6)
        out[k] = (char)(0x80 | (c & 0x3F));
    out[0] = (char)(lead[n] | c);
    return n;
}

/* The code point that starts at s[i] of text already checked to be valid UTF-8. */
static uint32_t utf8_at(const unsigned char *s, size_t i)
{
    unsigned char b = s[i];
    if (b < 0x80)
        return b;
    if ((b & 0xE0) == 0xC0)
        return ((b & 0x1Fu) << 6) | (s[i + 1] & 0x3Fu);
    if ((b & 0xF0) == 0xE0)
        return ((b & 0x0Fu) << 12) | ((s[i + 1] & 0x3Fu) << 6) | (s[i + 2] & 0x3Fu);
    return ((b & 0x07u) << 18) | ((s[i + 1] & 0x3Fu) << 12) | ((s[i + 2] & 0x3Fu) << 6) |
           (s[i + 3] & 0x3Fu);
}

/*
 * Whether c continues a word next to an opt-out keyword: ASCII letters, digits and '_', the
 * letters of the scripts written with spaces between words (Latin, Greek, Cyrillic) and
 * combining marks. Everything else is a boundary: spaces, punctuation (curly quotes too),
 * symbols, emoji, and the scripts written without spaces, so "回复STOP退订" holds STOP.
 */
static int word_char(uint32_t c)
{
    if (c < 0x80)
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '_';
    return (c >= 0xC0 && c <= 0x24F && c != 0xD7 && c != 0xF7) || (c >= 0x300 && c <= 0x52F) ||
           (c >= 0x1E00 && c <= 0x1FFF);
}

/* 1 if one of the keywords occurs in the (valid UTF-8) text as a whole word, ASCII letters
 * compared without case. */
static int has_stop_keyword(const sms_state *st, const char *text, size_t len)
{
    const unsigned char *s = (const unsigned char *)text;
    for (size_t k = 0; k < st->nstop; k++) {
        const char *kw = st->stop[k];
        size_t kl = st->stop_len[k];
        for (size_t i = 0; kl <= len && i <= len - kl; i++) {
            if (ascii_lower(text[i]) != ascii_lower(kw[0]) || !ascii_ieq(text + i, kw, kl))
                continue;
            int before = 0;
            if (i > 0) {
                size_t p = i - 1; /* back to the start of the previous character */
                while (p > 0 && (s[p] & 0xC0) == 0x80)
                    p--;
                before = word_char(utf8_at(s, p));
            }
            int after = i + kl < len && word_char(utf8_at(s, i + kl));
            if (!before && !after)
                return 1;
        }
    }
    return 0;
}

/* ---- configuration ------------------------------------------------------------------------ */

static void state_free(sms_state *st)
{
    if (st == NULL)
        return;
    for (size_t i = 0; i < st->nstop; i++)
        free(st->stop[i]);
    for (size_t i = 0; i < st->nheaders; i++) {
        free((char *)st->headers[i].name);
        free((char *)st->headers[i].value);
    }
    free(st->sender);
    free(st->url);
    free(st->body);
    free(st);
}

static int utf8_ok(const char *s, size_t len)
{
    sms_count c;
    return sms_count_text(s, len, &c, NULL, 0, NULL) == 0;
}

static int has_control(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7F)
            return 1;
    return 0;
}

/* An HTTP header name: 1..64 token characters (RFC 9110). */
static int header_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              strchr("!#$%&'*+-.^_`|~", c) != NULL))
            return 0;
    }
    return 1;
}

static int parse_headers(sms_state *st, const json_t *v, char *err, size_t cap)
{
    const char *name;
    const json_t *val;
    if (!json_is_object(v)) {
        set_err(err, cap, "http.headers: must be an object of strings");
        return HUB_PLUGIN_EINVAL;
    }
    json_object_foreach((json_t *)v, name, val)
    {
        const char *s = json_string_value(val);
        size_t n = json_string_length(val);
        if (!header_name_ok(name)) {
            set_err(err, cap, "http.headers: \"%.64s\" is not a header name", name);
            return HUB_PLUGIN_EINVAL;
        }
        if (s == NULL || n > HEADER_VALUE_BYTES || has_control(s, n)) {
            set_err(err, cap, "http.headers.%s: must be a string of at most %d bytes on one line",
                    name, HEADER_VALUE_BYTES);
            return HUB_PLUGIN_EINVAL;
        }
        if (name_is(name, "Idempotency-Key")) {
            set_err(err, cap, "http.headers.%s: the plugin sets it (the message id)", name);
            return HUB_PLUGIN_EINVAL;
        }
        if (st->nheaders == HEADERS_MAX) {
            set_err(err, cap, "http.headers: at most %d headers", HEADERS_MAX);
            return HUB_PLUGIN_EINVAL;
        }
        hub_http_header *h = &st->headers[st->nheaders];
        h->name = dup_n(name, strlen(name));
        h->value = dup_n(s, n);
        st->nheaders++;
        if (h->name == NULL || h->value == NULL)
            return HUB_PLUGIN_ENOMEM;
        if (name_is(name, "Content-Type"))
            st->has_content_type = 1;
    }
    return 0;
}

static int parse_http_key(sms_state *st, const char *key, const json_t *v, char *err, size_t cap)
{
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (strcmp(key, "url") == 0) {
        if (s == NULL || n > URL_BYTES || has_control(s, n) || strchr(s, ' ') != NULL ||
            (strncmp(s, "http://", 7) != 0 && strncmp(s, "https://", 8) != 0)) {
            set_err(err, cap, "http.url: must be an http:// or https:// URL");
            return HUB_PLUGIN_EINVAL;
        }
        free(st->url);
        st->url = dup_n(s, n);
        return st->url != NULL ? 0 : HUB_PLUGIN_ENOMEM;
    }
    if (strcmp(key, "headers") == 0)
        return parse_headers(st, v, err, cap);
    if (strcmp(key, "body") == 0) {
        if (s == NULL || n == 0 || n > BODY_TEMPLATE_BYTES) {
            set_err(err, cap, "http.body: must be a Liquid template of 1 to %d bytes",
                    BODY_TEMPLATE_BYTES);
            return HUB_PLUGIN_EINVAL;
        }
        free(st->body);
        st->body = dup_n(s, n);
        st->body_len = n;
        return st->body != NULL ? 0 : HUB_PLUGIN_ENOMEM;
    }
    if (strcmp(key, "timeout_ms") == 0) {
        json_int_t t = json_integer_value(v);
        if (!json_is_integer(v) || t < 0 || t > TIMEOUT_MS_MAX) {
            set_err(err, cap, "http.timeout_ms: must be an integer from 0 to %d", TIMEOUT_MS_MAX);
            return HUB_PLUGIN_EINVAL;
        }
        st->timeout_ms = (uint32_t)t;
        return 0;
    }
    set_err(err, cap, "http: unknown key \"%.64s\"", key);
    return HUB_PLUGIN_EINVAL;
}

static int parse_http(sms_state *st, const json_t *v, char *err, size_t cap)
{
    const char *k;
    const json_t *hv;
    if (!json_is_object(v)) {
        set_err(err, cap, "http: must be an object");
        return HUB_PLUGIN_EINVAL;
    }
    json_object_foreach((json_t *)v, k, hv)
    {
        int rc = parse_http_key(st, k, hv, err, cap);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int parse_stop_keywords(sms_state *st, const json_t *v, char *err, size_t cap)
{
    size_t i;
    const json_t *kw;
    if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > STOP_KEYWORDS_MAX) {
        set_err(err, cap, "stop_keywords: must be an array of 1 to %d strings", STOP_KEYWORDS_MAX);
        return HUB_PLUGIN_EINVAL;
    }
    for (size_t k = 0; k < st->nstop; k++)
        free(st->stop[k]);
    st->nstop = 0;
    json_array_foreach(v, i, kw)
    {
        const char *s = json_string_value(kw);
        size_t n = json_string_length(kw);
        if (s == NULL || n == 0 || n > STOP_KEYWORD_BYTES || has_control(s, n) || !utf8_ok(s, n)) {
            set_err(err, cap, "stop_keywords[%zu]: must be a string of 1 to %d bytes", i,
                    STOP_KEYWORD_BYTES);
            return HUB_PLUGIN_EINVAL;
        }
        st->stop[st->nstop] = dup_n(s, n);
        st->stop_len[st->nstop] = n;
        if (st->stop[st->nstop] == NULL)
            return HUB_PLUGIN_ENOMEM;
        st->nstop++;
    }
    return 0;
}

static int parse_key(sms_state *st, const char *key, const json_t *v, char *err, size_t cap)
{
    if (strcmp(key, "driver") == 0) {
        const char *s = json_string_value(v);
        if (s == NULL || (strcmp(s, "outbox") != 0 && strcmp(s, "http") != 0)) {
            set_err(err, cap, "driver: must be \"outbox\" or \"http\"");
            return HUB_PLUGIN_EINVAL;
        }
        st->driver = strcmp(s, "http") == 0 ? DRIVER_HTTP : DRIVER_OUTBOX;
        return 0;
    }
    if (strcmp(key, "http") == 0)
        return parse_http(st, v, err, cap);
    if (strcmp(key, "max_segments") == 0) {
        json_int_t n = json_integer_value(v);
        if (!json_is_integer(v) || n < 1 || n > 255) {
            set_err(err, cap, "max_segments: must be an integer from 1 to 255");
            return HUB_PLUGIN_EINVAL;
        }
        st->max_segments = (unsigned)n;
        return 0;
    }
    if (strcmp(key, "require_stop") == 0) {
        if (!json_is_boolean(v)) {
            set_err(err, cap, "require_stop: must be true or false");
            return HUB_PLUGIN_EINVAL;
        }
        st->require_stop = json_is_true(v);
        return 0;
    }
    if (strcmp(key, "stop_keywords") == 0)
        return parse_stop_keywords(st, v, err, cap);
    if (strcmp(key, "sender") == 0) {
        const char *s = json_string_value(v);
        size_t n = json_string_length(v);
        if (json_is_null(v))
            return 0;
        if (s == NULL || n == 0 || n > SENDER_BYTES || has_control(s, n)) {
            set_err(err, cap, "sender: must be a string of 1 to %d bytes", SENDER_BYTES);
            return HUB_PLUGIN_EINVAL;
        }
        free(st->sender);
        st->sender = dup_n(s, n);
        return st->sender != NULL ? 0 : HUB_PLUGIN_ENOMEM;
    }
    set_err(err, cap, "unknown key \"%.64s\"", key);
    return HUB_PLUGIN_EINVAL;
}

/* Compiles and renders the body template once with no variables, so that a syntax error
 * refuses the plugin at start-up rather than dead-lettering every message. */
static int check_body(sms_state *st, char *err, size_t cap)
{
    char why[200] = "";
    hub_out *out = st->host->out_new(HTTP_BODY_CAP);
    if (out == NULL)
        return HUB_PLUGIN_ENOMEM;
    int rc = st->host->template_render(st->body, st->body_len, NULL, out, why, sizeof(why));
    st->host->out_free(out);
    if (rc != 0) {
        set_err(err, cap, "http.body: %s", why[0] ? why : "the template does not render");
        return HUB_PLUGIN_EINVAL;
    }
    return 0;
}

static int sms_create(const hub_plugin_create_in *in, void **state, char *err, size_t errcap)
{
    const char *key;
    const json_t *v;
    int rc = 0;
    sms_state *st = calloc(1, sizeof(*st));
    if (st == NULL)
        return HUB_PLUGIN_ENOMEM;
    st->host = in->host;
    st->driver = DRIVER_OUTBOX;
    st->max_segments = 10;
    st->stop[0] = dup_n("STOP", 4);
    st->stop_len[0] = 4;
    st->nstop = st->stop[0] != NULL;
    st->body = dup_n(DEFAULT_BODY, strlen(DEFAULT_BODY));
    st->body_len = strlen(DEFAULT_BODY);
    if (st->nstop == 0 || st->body == NULL)
        rc = HUB_PLUGIN_ENOMEM;
    if (rc == 0 && in->config != NULL && !json_is_object(in->config)) {
        set_err(err, errcap, "the sms configuration must be an object");
        rc = HUB_PLUGIN_EINVAL;
    }
    if (rc == 0 && in->config != NULL) {
        json_object_foreach((json_t *)in->config, key, v)
        {
            rc = parse_key(st, key, v, err, errcap);
            if (rc != 0)
                break;
        }
    }
    if (rc == 0 && st->driver == DRIVER_HTTP && st->url == NULL) {
        set_err(err, errcap, "http.url: required when driver is \"http\"");
        rc = HUB_PLUGIN_EINVAL;
    }
    if (rc == 0) {
        size_t i = 0;
        while (i < st->body_len && strchr(" \t\r\n", st->body[i]) != NULL)
            i++;
        st->body_json = i < st->body_len && (st->body[i] == '{' || st->body[i] == '[');
        rc = check_body(st, err, errcap);
    }
    if (rc != 0) {
        state_free(st);
        return rc;
    }
    *state = st;
    return 0;
}

static void sms_free(void *state)
{
    state_free(state);
}

static const hub_plugin_schema *sms_fields(void *state)
{
    (void)state;
    return &schema;
}

/* ---- counting, warnings, problems --------------------------------------------------------- */

/* The count of one text and the characters that forced UCS-2. */
typedef struct text_count {
    sms_count c;
    sms_count_detail d;
    uint32_t forced[LISTED_MAX + 1]; /* one more than is listed: tells "more than 20" */
    size_t nforced;
} text_count;

static const char *encoding_name(const sms_count *c)
{
    return c->ucs2 ? "UCS-2" : "GSM-7";
}

/* Appends to buf (cap bytes, *n used) what fmt says, truncating; buf stays a C string. */
static void cat(char *buf, size_t cap, size_t *n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void cat(char *buf, size_t cap, size_t *n, const char *fmt, ...)
{
    va_list ap;
    if (*n + 1 >= cap)
        return;
    va_start(ap, fmt);
    int k = vsnprintf(buf + *n, cap - *n, fmt, ap);
    va_end(ap);
    if (k > 0)
        *n = *n + (size_t)k < cap ? *n + (size_t)k : cap - 1;
}

/*
 * Whether a few stray characters forced UCS-2 (a curly quote in an English text), the case
 * DESIGN.md asks to warn about: every forcing character fits in unicode_characters, and they
 * are at most half of the text. A text written in a script outside GSM-7 (Chinese, Greek
 * lower case, Cyrillic) gets no warning: UCS-2 is its only encoding, not an accident.
 */
static int stray_ucs2(const text_count *tc)
{
    return tc->c.ucs2 && tc->nforced <= LISTED_MAX &&
           tc->d.forced_code_points * 2 <= tc->d.code_points;
}

/* sms_ucs2: `"’" (U+2019) forces UCS-2: 70 characters per segment instead of 160`, and what
 * the message would take without them when that is fewer segments. */
static void warn_ucs2(const sms_state *st, const text_count *tc, hub_report *r)
{
    char msg[WARN_LISTED_MAX * 24 + 200];
    size_t n = 0, shown = tc->nforced < WARN_LISTED_MAX ? tc->nforced : WARN_LISTED_MAX;
    msg[0] = '\0';
    for (size_t i = 0; i < shown; i++) {
        uint32_t c = tc->forced[i];
        char u[5];
        if (c < 0x20 || (c >= 0x7F && c <= 0x9F)) {
            cat(msg, sizeof(msg), &n, "%sU+%04X", i > 0 ? ", " : "", (unsigned)c);
            continue;
        }
        u[utf8_put(c, u)] = '\0';
        cat(msg, sizeof(msg), &n, "%s\"%s\" (U+%04X)", i > 0 ? ", " : "", u, (unsigned)c);
    }
    if (tc->nforced > shown)
        cat(msg, sizeof(msg), &n, " and %zu more", tc->nforced - shown);
    cat(msg, sizeof(msg), &n, " %s UCS-2: 70 characters per segment instead of 160",
        tc->nforced == 1 ? "forces" : "force");
    if (tc->d.gsm7_segments < tc->c.segments)
        cat(msg, sizeof(msg), &n, "; without %s the message takes %zu segment%s instead of %zu",
            tc->nforced == 1 ? "it" : "them", tc->d.gsm7_segments,
            tc->d.gsm7_segments == 1 ? "" : "s", tc->c.segments);
    st->host->report_warning(r, "sms_ucs2", "%s", msg);
}

static void problem_no_stop(const sms_state *st, hub_report *r)
{
    char list[240];
    size_t n = 0;
    list[0] = '\0';
    for (size_t k = 0; k < st->nstop; k++) {
        if (n + st->stop_len[k] + 8 > sizeof(list)) {
            cat(list, sizeof(list), &n, ", ...");
            break;
        }
        cat(list, sizeof(list), &n, "%s%s", k > 0 ? ", " : "", st->stop[k]);
    }
    st->host->report_problem(r, "text", "the text must contain %s as a word (require_stop): %s",
                             st->nstop == 1 ? "the opt-out keyword" : "an opt-out keyword", list);
}

static int blank(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
            return 0;
    return 1;
}

/*
 * Counts the text (a field value; ptr NULL when it resolved to nothing) into *tc and reports
 * the warnings and problems of it. rendering: 1 for render() (the exact text), 0 for
 * validate(). Returns how many problems were reported.
 */
static int check_text(const sms_state *st, hub_str text, int rendering, text_count *tc,
                      hub_report *r)
{
    const hub_host_api *h = st->host;
    const char *s = text.ptr != NULL ? text.ptr : "";
    size_t len = text.ptr != NULL ? text.len : 0;
    int problems = 0;
    if (sms_count_text_detail(s, len, &tc->c, &tc->d, tc->forced, LISTED_MAX + 1, &tc->nforced) !=
        0) {
        h->report_problem(r, "text", "the text is not valid UTF-8");
        return 1;
    }
    if (blank(s, len)) {
        if (rendering) {
            h->report_problem(r, "text", "the text is empty after rendering");
            problems++;
        } else {
            h->report_warning(r, "sms_empty", "the text is empty when its variables are empty");
        }
    }
    if (stray_ucs2(tc))
        warn_ucs2(st, tc, r);
    if (tc->c.segments > 1)
        h->report_warning(r, "sms_segments", "%zu segments (%s): %zu characters, %d per segment",
                          tc->c.segments, encoding_name(&tc->c), tc->c.characters,
                          tc->c.ucs2 ? 67 : 153);
    if (tc->c.segments > st->max_segments) {
        h->report_problem(r, "text", "%zu segments (%s), at most %u allowed", tc->c.segments,
                          encoding_name(&tc->c), st->max_segments);
        problems++;
    }
    if (st->require_stop && !has_stop_keyword(st, s, len)) {
        problem_no_stop(st, r);
        problems++;
    }
    return problems;
}

static int sms_validate(void *state, const hub_render_in *in, hub_report *report)
{
    text_count tc;
    if (in->nfields < 1 || in->fields == NULL)
        return HUB_PLUGIN_EINVAL;
    /* The hub rendered the text with every Liquid variable empty, so the segments counted
     * here are a lower bound of the message sent: max_segments refuses only what is too long
     * already, and render() checks the exact text again for each recipient. */
    check_text(state, in->fields[0], 0, &tc, report);
    return 0;
}

/* Appends c to a JSON string being built in buf at *k (at most 7 bytes). */
static void json_char(uint32_t c, char *buf, size_t *k)
{
    static const char hex[] = "0123456789abcdef";
    if (c < 0x20) {
        memcpy(buf + *k, "\\u00", 4);
        buf[*k + 4] = hex[c >> 4];
        buf[*k + 5] = hex[c & 15];
        *k += 6;
        return;
    }
    if (c == '"' || c == '\\')
        buf[(*k)++] = '\\';
    *k += utf8_put(c, buf + *k);
}

/* Appends the C string lit to buf at *k (snprintf would cost a tenth of render()). */
static void put(char *buf, size_t *k, const char *lit)
{
    size_t n = strlen(lit);
    memcpy(buf + *k, lit, n);
    *k += n;
}

static void put_size(char *buf, size_t *k, size_t v)
{
    char digits[24];
    size_t n = 0;
    do {
        digits[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v > 0);
    while (n > 0)
        buf[(*k)++] = digits[--n];
}

/* {"text","encoding","characters","segments","unicode_characters"} in three appends. */
static int write_artifact(const hub_host_api *h, const char *s, size_t len, const text_count *tc,
                          hub_out *out)
{
    char tail[128 + LISTED_MAX * 10];
    size_t listed = tc->nforced < LISTED_MAX ? tc->nforced : LISTED_MAX;
    int rc = h->out_append(out, "{\"text\":", 8);
    if (rc == 0)
        rc = h->out_json_string(out, s, len);
    if (rc != 0)
        return rc;
    size_t k = 0;
    put(tail, &k,
        tc->c.ucs2 ? ",\"encoding\":\"UCS-2\",\"characters\":"
                   : ",\"encoding\":\"GSM-7\",\"characters\":");
    put_size(tail, &k, tc->c.characters);
    put(tail, &k, ",\"segments\":");
    put_size(tail, &k, tc->c.segments);
    put(tail, &k, ",\"unicode_characters\":[");
    for (size_t i = 0; i < listed; i++) {
        if (i > 0)
            tail[k++] = ',';
        tail[k++] = '"';
        json_char(tc->forced[i], tail, &k);
        tail[k++] = '"';
    }
    tail[k++] = ']';
    tail[k++] = '}';
    return h->out_append(out, tail, k);
}

static int sms_render(void *state, const hub_render_in *in, hub_out *artifact, hub_report *report)
{
    const sms_state *st = state;
    text_count tc;
    if (in->nfields < 1 || in->fields == NULL)
        return HUB_PLUGIN_EINVAL;
    if (check_text(st, in->fields[0], 1, &tc, report) > 0)
        return HUB_PLUGIN_EINVAL;
    return write_artifact(st->host, in->fields[0].ptr, in->fields[0].len, &tc, artifact);
}

/* ---- delivery ----------------------------------------------------------------------------- */

/* E.164: '+', then 8 to 15 digits, the first (the country code's) not 0. */
static int e164(const char *s)
{
    size_t n = strlen(s);
    if (n < 9 || n > 16 || s[0] != '+' || s[1] == '0')
        return 0;
    for (size_t i = 1; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

/* A string's JSON escape without the quotes, as a new jansson string. */
static json_t *escaped_string(const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    char *e = malloc(len * 6 + 1);
    size_t k = 0;
    if (e == NULL)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *short_esc = c == '"'    ? "\\\""
                                : c == '\\' ? "\\\\"
                                : c == '\n' ? "\\n"
                                : c == '\r' ? "\\r"
                                : c == '\t' ? "\\t"
                                : c == '\b' ? "\\b"
                                : c == '\f' ? "\\f"
                                            : NULL;
        if (short_esc != NULL) {
            memcpy(e + k, short_esc, 2);
            k += 2;
        } else if (c < 0x20) {
            memcpy(e + k, "\\u00", 4);
            e[k + 4] = hex[c >> 4];
            e[k + 5] = hex[c & 15];
            k += 6;
        } else {
            e[k++] = (char)c;
        }
    }
    json_t *j = json_stringn(e, k);
    free(e);
    return j;
}

/* A new copy of v with every string JSON-escaped (escape) or a plain deep copy. */
static json_t *vars_copy(const json_t *v, int escape, int depth)
{
    if (!escape)
        return json_deep_copy(v);
    if (depth > RECIPIENT_DEPTH_MAX)
        return NULL;
    if (json_is_string(v))
        return escaped_string(json_string_value(v), json_string_length(v));
    if (json_is_object(v)) {
        json_t *o = json_object();
        const char *k;
        const json_t *m;
        json_object_foreach((json_t *)v, k, m)
        {
            if (o == NULL || json_object_set_new(o, k, vars_copy(m, escape, depth + 1)) != 0) {
                json_decref(o);
                return NULL;
            }
        }
        return o;
    }
    if (json_is_array(v)) {
        json_t *a = json_array();
        size_t i;
        const json_t *m;
        json_array_foreach(v, i, m)
        {
            if (a == NULL || json_array_append_new(a, vars_copy(m, escape, depth + 1)) != 0) {
                json_decref(a);
                return NULL;
            }
        }
        return a;
    }
    return json_deep_copy(v);
}

/* What deliver() reads back from the artifact render() wrote. */
typedef struct artifact {
    json_t *root;
    const char *text;
    size_t text_len;
    const char *encoding;
    json_int_t segments;
} artifact;

static int artifact_read(hub_str s, artifact *a)
{
    a->root = s.ptr != NULL ? json_loadb(s.ptr, s.len, 0, NULL) : NULL;
    const json_t *text = json_object_get(a->root, "text");
    const json_t *enc = json_object_get(a->root, "encoding");
    const json_t *seg = json_object_get(a->root, "segments");
    if (!json_is_string(text) || !json_is_string(enc) || !json_is_integer(seg))
        return -1;
    a->text = json_string_value(text);
    a->text_len = json_string_length(text);
    a->encoding = json_string_value(enc);
    a->segments = json_integer_value(seg);
    return 0;
}

/* A host service's negative code as a delivery result: bad input is permanent, the rest
 * (memory, I/O) may pass. */
static int deliver_code(int rc)
{
    if (rc == HUB_DELIVER_OK || rc == HUB_DELIVER_RETRY || rc == HUB_DELIVER_FAIL)
        return rc;
    return rc == HUB_PLUGIN_EINVAL ? HUB_DELIVER_FAIL : HUB_DELIVER_RETRY;
}

static int deliver_outbox(const sms_state *st, const hub_deliver_in *in, const char *phone,
                          const artifact *a, hub_deliver_out *out)
{
    json_t *msg = json_object();
    int rc = HUB_DELIVER_RETRY;
    if (msg == NULL || json_object_set_new(msg, "to", json_string(phone)) != 0 ||
        json_object_set_new(msg, "sender",
                            st->sender != NULL ? json_string(st->sender) : json_null()) != 0 ||
        json_object_set_new(msg, "text", json_stringn(a->text, a->text_len)) != 0 ||
        json_object_set_new(msg, "encoding", json_string(a->encoding)) != 0 ||
        json_object_set_new(msg, "segments", json_integer(a->segments)) != 0 ||
        json_object_set_new(msg, "message_id", json_string(in->message_id)) != 0) {
        set_err(out->error, out->error_cap, "out of memory");
        json_decref(msg);
        return HUB_DELIVER_RETRY;
    }
    size_t n = json_dumpb(msg, NULL, 0, JSON_COMPACT);
    char *data = n > 0 ? malloc(n + 1) : NULL;
    if (data != NULL && json_dumpb(msg, data, n, JSON_COMPACT) == n) {
        data[n] = '\n';
        rc = deliver_code(st->host->outbox_write(PLUGIN_NAME, in->message_id, ".json", data, n + 1,
                                                 out->error, out->error_cap));
    } else {
        set_err(out->error, out->error_cap, "out of memory");
    }
    free(data);
    json_decref(msg);
    return rc;
}

/* The Liquid variables of the body template: {"recipient","text","message_id","sender"}. */
static json_t *body_vars(const sms_state *st, const hub_deliver_in *in, const artifact *a)
{
    int esc = st->body_json;
    json_t *vars = json_object();
    json_t *rcpt = vars_copy(in->recipient, esc, 0);
    json_t *text = esc ? escaped_string(a->text, a->text_len) : json_stringn(a->text, a->text_len);
    json_t *id =
        esc ? escaped_string(in->message_id, strlen(in->message_id)) : json_string(in->message_id);
    json_t *sender = st->sender == NULL ? json_null()
                     : esc              ? escaped_string(st->sender, strlen(st->sender))
                                        : json_string(st->sender);
    if (vars == NULL || json_object_set_new(vars, "recipient", rcpt) != 0 ||
        json_object_set_new(vars, "text", text) != 0 ||
        json_object_set_new(vars, "message_id", id) != 0 ||
        json_object_set_new(vars, "sender", sender) != 0) {
        json_decref(vars);
        return NULL;
    }
    return vars;
}

static int deliver_http(const sms_state *st, const hub_deliver_in *in, const artifact *a,
                        hub_deliver_out *out)
{
    const hub_host_api *h = st->host;
    hub_http_header hdrs[HEADERS_MAX + 2];
    char why[200] = "";
    json_t *vars = body_vars(st, in, a);
    hub_out *body = h->out_new(HTTP_BODY_CAP);
    int rc;
    if (vars == NULL || body == NULL) {
        set_err(out->error, out->error_cap,
                "cannot build the body (out of memory, or the recipient nests over %d deep)",
                RECIPIENT_DEPTH_MAX);
        rc = HUB_DELIVER_RETRY;
        goto out;
    }
    rc = h->template_render(st->body, st->body_len, vars, body, why, sizeof(why));
    if (rc != 0) {
        /* The template compiled at start-up: what fails now fails for this message. */
        set_err(out->error, out->error_cap, "http.body: %s", why);
        rc = HUB_DELIVER_FAIL;
        goto out;
    }
    size_t n = st->nheaders;
    memcpy(hdrs, st->headers, n * sizeof(hdrs[0]));
    if (!st->has_content_type)
        hdrs[n++] = (hub_http_header){"Content-Type", st->body_json ? "application/json"
                                                                    : "text/plain; charset=utf-8"};
    hdrs[n++] = (hub_http_header){"Idempotency-Key", in->message_id};
    hub_http_request req = {sizeof(req), (uint32_t)n,       "POST",         st->url,
                            hdrs,        h->out_view(body), st->timeout_ms, 0};
    hub_http_response res = {sizeof(res), 0, NULL, 0};
    rc = deliver_code(h->http_request(&req, &res, out->error, out->error_cap));
    if (rc == HUB_DELIVER_RETRY && res.retry_after_ms > 0)
        out->retry_after_ms = res.retry_after_ms;
out:
    h->out_free(body);
    json_decref(vars);
    return rc;
}

static int sms_deliver(void *state, const hub_deliver_in *in, hub_deliver_out *out)
{
    const sms_state *st = state;
    const char *phone = json_string_value(json_object_get(in->recipient, "phone"));
    artifact a = {0};
    int rc;
    if (phone == NULL || phone[0] == '\0') {
        set_err(out->error, out->error_cap, "no phone number");
        return HUB_DELIVER_FAIL;
    }
    if (!e164(phone)) {
        set_err(out->error, out->error_cap, "the phone number is not E.164 (+ and 8 to 15 digits)");
        return HUB_DELIVER_FAIL;
    }
    if (in->message_id == NULL || in->message_id[0] == '\0') {
        set_err(out->error, out->error_cap, "no message id");
        return HUB_DELIVER_FAIL;
    }
    if (artifact_read(in->artifact, &a) != 0) {
        set_err(out->error, out->error_cap, "the artifact is not an sms artifact");
        rc = HUB_DELIVER_FAIL;
    } else if (st->driver == DRIVER_HTTP) {
        rc = deliver_http(st, in, &a, out);
    } else {
        rc = deliver_outbox(st, in, phone, &a, out);
    }
    if (rc == HUB_DELIVER_OK && a.segments > 0)
        st->host->metric_add(PLUGIN_NAME, "segments", (double)a.segments);
    json_decref(a.root);
    return rc;
}

/* ---- entry -------------------------------------------------------------------------------- */

static const hub_plugin sms_plugin = {
    .struct_size = sizeof(hub_plugin),
    .abi_major = OMNIHUB_PLUGIN_ABI_MAJOR,
    .abi_minor = OMNIHUB_PLUGIN_ABI_MINOR,
    .name = PLUGIN_NAME,
    .version = "1.0.0",
    .description = "SMS: GSM-7 or UCS-2 with segments counted as a phone does; outbox or HTTP",
    .create = sms_create,
    .fields = sms_fields,
    .validate = sms_validate,
    .render = sms_render,
    .deliver = sms_deliver,
    .free = sms_free,
};

int omnihub_plugin_entry(const hub_host_api *host, uint32_t abi_major, const hub_plugin **out)
{
    if (abi_major != OMNIHUB_PLUGIN_ABI_MAJOR || host == NULL || !HUB_PLUGIN_HAS(host, out_free))
        return HUB_PLUGIN_EINVAL;
    *out = &sms_plugin;
    return 0;
}
