/*
 * The sms channel plugin: one field, "text". render() counts the text as a phone does
 * (gsm7.h: GSM-7 with its extension table, else UCS-2; 160/153 and 70/67 per segment) and
 * writes {"text","encoding","characters","segments","unicode_characters"}; validate() and
 * render() warn when a few characters force UCS-2 and when the message takes several
 * segments, and refuse more segments than max_segments and, where the sender's policy says
 * so (require_stop), a text without an opt-out keyword. deliver() writes the message to the
 * outbox or POSTs it to an HTTP gateway with a Liquid body template. The configuration is
 * read in config.c.
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
#include "sms.h"

#define PLUGIN_NAME         "sms"
#define LISTED_MAX          20 /* unicode_characters in the artifact */
#define WARN_LISTED_MAX     10 /* characters named in the sms_ucs2 warning (its line is capped) */
#define RECIPIENT_DEPTH_MAX 32

static const hub_plugin_field text_field =
    KIT_FIELD(HUB_FIELD_TEXT, "text", 1, 10000,
              "the message text; GSM-7 when every character allows it, else UCS-2");
static const hub_plugin_field *const schema_fields[] = {&text_field};
static const hub_plugin_schema schema = {sizeof(hub_plugin_schema), 1, schema_fields};

/* ---- small helpers ------------------------------------------------------------------------ */

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
            if (kit_ascii_lower(text[i]) != kit_ascii_lower(kw[0]) ||
                !kit_ascii_ieqn(text + i, kw, kl))
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

static int sms_create(const hub_plugin_create_in *in, void **state, char *err, size_t errcap)
{
    sms_state *st = NULL;
    int rc = sms_config_parse(in->host, in->config, &st, err, errcap);
    if (rc == 0) { /* translators and editors read the limit in the field's description */
        snprintf(st->text_description, sizeof(st->text_description),
                 "the message text: GSM-7 (160 characters, 153 per segment when split) when "
                 "every character allows it, else UCS-2 (70, 67 per segment); at most %u "
                 "segments",
                 st->max_segments);
        st->text_field = text_field;
        st->text_field.description = st->text_description;
        st->field_list[0] = &st->text_field;
        st->schema = schema;
        st->schema.fields = st->field_list;
    }
    *state = st;
    return rc;
}

static void sms_free(void *state)
{
    sms_state_free(state);
}

static const hub_plugin_schema *sms_fields(void *state)
{
    const sms_state *st = state;
    return st != NULL ? &st->schema : &schema;
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

static int deliver_outbox(const sms_state *st, const hub_deliver_in *in, const char *phone,
                          const artifact *a, hub_deliver_out *out)
{
    json_t *msg = json_object();
    if (msg == NULL || json_object_set_new(msg, "to", json_string(phone)) != 0 ||
        json_object_set_new(msg, "sender",
                            st->sender != NULL ? json_string(st->sender) : json_null()) != 0 ||
        json_object_set_new(msg, "text", json_stringn(a->text, a->text_len)) != 0 ||
        json_object_set_new(msg, "encoding", json_string(a->encoding)) != 0 ||
        json_object_set_new(msg, "segments", json_integer(a->segments)) != 0 ||
        json_object_set_new(msg, "message_id", json_string(in->message_id)) != 0) {
        json_decref(msg);
        return kit_err(out->error, out->error_cap, HUB_DELIVER_RETRY, "out of memory");
    }
    int rc = kit_outbox_json(st->host, PLUGIN_NAME, in->message_id, msg, 1, out);
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
    char why[200] = "";
    json_t *vars = body_vars(st, in, a);
    hub_out *body = h->out_new(HTTP_BODY_CAP);
    int rc;
    if (vars == NULL || body == NULL) {
        rc = kit_err(out->error, out->error_cap, HUB_DELIVER_RETRY,
                     "cannot build the body (out of memory, or the recipient nests over %d deep)",
                     RECIPIENT_DEPTH_MAX);
        goto out;
    }
    rc = h->template_render(st->body, st->body_len, vars, body, why, sizeof(why));
    if (rc != 0) {
        /* The template compiled at start-up: what fails now fails for this message. */
        rc = kit_err(out->error, out->error_cap, HUB_DELIVER_FAIL, "http.body: %s", why);
        goto out;
    }
    const char *type = st->has_content_type ? NULL
                       : st->body_json      ? "application/json"
                                            : "text/plain; charset=utf-8";
    hub_http_response res;
    rc = kit_http_post(h, st->url, &st->headers, type, in->message_id, h->out_view(body),
                       st->timeout_ms, &res, out->error, out->error_cap);
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
    if (phone == NULL || phone[0] == '\0')
        return kit_err(out->error, out->error_cap, HUB_DELIVER_FAIL, "no phone number");
    if (!e164(phone))
        return kit_err(out->error, out->error_cap, HUB_DELIVER_FAIL,
                       "the phone number is not E.164 (+ and 8 to 15 digits)");
    if (in->message_id == NULL || in->message_id[0] == '\0')
        return kit_err(out->error, out->error_cap, HUB_DELIVER_FAIL, "no message id");
    if (artifact_read(in->artifact, &a) != 0) {
        rc = kit_err(out->error, out->error_cap, HUB_DELIVER_FAIL,
                     "the artifact is not an sms artifact");
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
    return kit_plugin_entry(host, abi_major, &sms_plugin, out);
}
