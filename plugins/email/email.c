/*
 * The email channel plugin: its field schema, validate() at publish, render() of a complete
 * MIME message per recipient, deliver() to the outbox or through the host's SMTP driver.
 *
 * render() builds the message in one pass into a local buffer: headers (From, To, Reply-To,
 * Subject, Date, Message-ID, MIME-Version, List-Unsubscribe, List-Unsubscribe-Post,
 * Content-Type), then multipart/alternative with text/plain and text/html, each in
 * quoted-printable or, for mostly non-ASCII text, base64 (mime_body_choose). The HTML gets the
 * preheader as a hidden div at the start of its body; the text part is the text field, else
 * the host's plain-text version of that HTML. A CR or LF in anything bound for a header is
 * refused (problem + HUB_PLUGIN_EINVAL) rather than cleaned, so nothing can inject fields.
 * The boundary starts with "=_", which neither encoding can produce, and is checked anyway.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem */
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/kit.h"
#include "email.h"
#include "mime.h"

enum { F_SUBJECT, F_PREHEADER, F_HTML, F_TEXT, F_FROM_NAME, F_REPLY_TO, F_COUNT };

#define MIME_MAX        ((size_t)64 << 20) /* the message being built; bodies are 1 MiB each */
#define URL_MAX         900                /* a List-Unsubscribe URL, so the line stays < 998 */
#define MSGID_MAX       128
#define PREHEADER_OPEN  "<div style=\"display:none;max-height:0;overflow:hidden;mso-hide:all\">"
#define PREHEADER_CLOSE "</div>"

static const hub_plugin_field f_subject =
    KIT_FIELD(HUB_FIELD_TEXT, "subject", 1, 998, "Subject line; UTF-8 is sent RFC 2047 encoded");
static const hub_plugin_field f_preheader = KIT_FIELD(
    HUB_FIELD_TEXT, "preheader", 0, 500, "Preview text, a hidden div at the top of the HTML");
static const hub_plugin_field f_html =
    KIT_FIELD(HUB_FIELD_HTML, "html", 1, 1 << 20, "HTML body (Gmail clips over about 102 KB)");
static const hub_plugin_field f_text = KIT_FIELD(
    HUB_FIELD_TEXT, "text", 0, 1 << 20, "Plain-text body; derived from the HTML if absent");
static const hub_plugin_field f_from_name = KIT_FIELD(
    HUB_FIELD_TEXT, "from_name", 0, 200, "Display name of From, replacing the configured one");
static const hub_plugin_field f_reply_to =
    KIT_FIELD(HUB_FIELD_TEXT, "reply_to", 0, 320, "Reply-To address (\"Name <addr>\" or addr)");
static const hub_plugin_field *const field_list[F_COUNT] = {&f_subject, &f_preheader, &f_html,
                                                            &f_text,    &f_from_name, &f_reply_to};
static const hub_plugin_schema schema = {sizeof(hub_plugin_schema), F_COUNT, field_list};

/* One message being checked or rendered; every pointer borrowed unless noted. */
typedef struct email_msg {
    hub_str subject;   /* trimmed */
    hub_str preheader; /* trimmed; ptr NULL: none */
    hub_str html;      /* the final HTML: the field, or html_buf */
    hub_str text;
    const char *from_disp;
    size_t from_dn;
    const char *reply_disp;
    size_t reply_dn;
    const char *reply_addr; /* NULL: no Reply-To */
    size_t reply_an;
    const char *to; /* NULL: no To */
    size_t to_len;
    int one_click;     /* the unsubscribe URL is https */
    char *reply_copy;  /* owned: an unquoted display name */
    mime_buf html_buf; /* owned: the HTML with the preheader */
    mime_buf unsub;    /* owned: "<url>" */
    hub_out *text_out; /* owned: the derived text */
    hub_out *url_out;  /* owned: the rendered URL template */
} email_msg;

static void msg_init(email_msg *m)
{
    memset(m, 0, sizeof(*m));
    mime_buf_init(&m->html_buf, MIME_MAX);
    mime_buf_init(&m->unsub, 4096);
}

static void msg_free(const hub_host_api *h, email_msg *m)
{
    free(m->reply_copy);
    mime_buf_free(&m->html_buf);
    mime_buf_free(&m->unsub);
    if (m->text_out != NULL)
        h->out_free(m->text_out);
    if (m->url_out != NULL)
        h->out_free(m->url_out);
}

static hub_str field(const hub_render_in *in, int i)
{
    if (in->fields == NULL || (uint32_t)i >= in->nfields)
        return (hub_str){NULL, 0};
    return in->fields[i];
}

/* ---- header checks, shared by validate and render ----------------------------------------- */

#define LINE_BREAK "a line break (CR or LF) is refused in a header field"

/* The subject: no line break, not empty once trimmed (when given, or always at render). */
static int check_subject(const email_state *st, const hub_render_in *in, hub_report *r,
                         email_msg *m, int rendering)
{
    hub_str s = field(in, F_SUBJECT);
    if (s.ptr == NULL && !rendering)
        return 0; /* a missing required field is the hub's completeness check */
    if (mime_has_line_break(s.ptr, s.len)) {
        st->host->report_problem(r, "subject", LINE_BREAK);
        return 1;
    }
    m->subject.len = s.ptr != NULL ? mime_trim(s.ptr, s.len, &m->subject.ptr) : 0;
    if (m->subject.len == 0) {
        st->host->report_problem(r, "subject", "the subject is empty");
        return 1;
    }
    return 0;
}

/* From's display name: the from_name field when it has text, else the configured one. */
static int check_from_name(const email_state *st, const hub_render_in *in, hub_report *r,
                           email_msg *m)
{
    hub_str s = field(in, F_FROM_NAME);
    const char *t;
    size_t n;
    m->from_disp = st->from_disp;
    m->from_dn = strlen(st->from_disp);
    if (s.ptr == NULL)
        return 0;
    if (mime_has_line_break(s.ptr, s.len)) {
        st->host->report_problem(r, "from_name", LINE_BREAK);
        return 1;
    }
    n = mime_trim(s.ptr, s.len, &t);
    if (n > 0) {
        m->from_disp = t;
        m->from_dn = n;
    }
    return 0;
}

/* Reply-To: the reply_to field ("Name <addr>" or addr) when it has text, else the config's. */
static int check_reply_to(const email_state *st, const hub_render_in *in, hub_report *r,
                          email_msg *m)
{
    hub_str s = field(in, F_REPLY_TO);
    const char *t = NULL;
    size_t n = s.ptr != NULL ? mime_trim(s.ptr, s.len, &t) : 0;
    mime_mailbox mb;
    if (st->reply_addr != NULL) {
        m->reply_disp = st->reply_disp;
        m->reply_dn = strlen(st->reply_disp);
        m->reply_addr = st->reply_addr;
        m->reply_an = strlen(st->reply_addr);
    }
    if (mime_has_line_break(s.ptr, s.len)) {
        st->host->report_problem(r, "reply_to", LINE_BREAK);
        return 1;
    }
    if (n == 0)
        return 0;
    if (mime_mailbox_parse(t, n, &mb) != 0) {
        st->host->report_problem(r, "reply_to", "not an email address (want addr@domain)");
        return 1;
    }
    m->reply_disp = mb.disp;
    m->reply_dn = mb.dn;
    m->reply_addr = mb.addr;
    m->reply_an = mb.an;
    if (mb.quoted && mb.dn > 0) {
        if ((m->reply_copy = malloc(mb.dn)) == NULL)
            return -1;
        m->reply_dn = mime_unquote(mb.disp, mb.dn, m->reply_copy);
        m->reply_disp = m->reply_copy;
    }
    return 0;
}

/* To: recipient.email when it is there (a string, not empty). */
static int check_recipient(const email_state *st, const hub_render_in *in, hub_report *r,
                           email_msg *m)
{
    const json_t *e = in->recipient != NULL ? json_object_get(in->recipient, "email") : NULL;
    if (!json_is_string(e) || json_string_length(e) == 0)
        return 0;
    const char *s = json_string_value(e);
    size_t n = json_string_length(e);
    if (mime_has_line_break(s, n)) {
        st->host->report_problem(r, NULL, "recipient.email: " LINE_BREAK);
        return 1;
    }
    if (!mime_addr_ok(s, n)) {
        st->host->report_problem(r, NULL, "recipient.email is not an email address");
        return 1;
    }
    m->to = s;
    m->to_len = n;
    return 0;
}

/* Every header check; the number of problems reported, or -1 when out of memory. */
static int check_headers(const email_state *st, const hub_render_in *in, hub_report *r,
                         email_msg *m, int rendering)
{
    int bad = check_subject(st, in, r, m, rendering);
    int rc = check_reply_to(st, in, r, m);
    if (rc < 0)
        return -1;
    bad += rc + check_from_name(st, in, r, m) + check_recipient(st, in, r, m);
    hub_str p = field(in, F_PREHEADER);
    if (p.ptr != NULL)
        p.len = mime_trim(p.ptr, p.len, &p.ptr);
    if (p.len > 0)
        m->preheader = p;
    return bad;
}

/* ---- the HTML ------------------------------------------------------------------------------- */

/* Offset just past the <body ...> start tag, or 0 when there is none. */
static size_t body_start(const char *s, size_t n)
{
    const char *p = s, *end = s + n;
    while ((p = memchr(p, '<', (size_t)(end - p))) != NULL) {
        if (end - p > 5 && mime_prefix_ci(p + 1, 4, "body") &&
            (p[5] == '>' || p[5] == '/' || p[5] == ' ' || p[5] == '\t' || p[5] == '\n' ||
             p[5] == '\r' || p[5] == '\f')) {
            char quote = 0;
            for (const char *q = p + 5; q < end; q++) {
                if (quote != 0 && *q == quote)
                    quote = 0;
                else if (quote == 0 && (*q == '"' || *q == '\''))
                    quote = *q;
                else if (quote == 0 && *q == '>')
                    return (size_t)(q + 1 - s);
            }
            return 0;
        }
        p++;
    }
    return 0;
}

static const char *html_entity(char c)
{
    switch (c) {
    case '&':
        return "&amp;";
    case '<':
        return "&lt;";
    case '>':
        return "&gt;";
    case '"':
        return "&quot;";
    case '\'':
        return "&#39;";
    default:
        return NULL;
    }
}

static size_t escaped_len(const char *s, size_t n)
{
    size_t k = n;
    for (size_t i = 0; i < n; i++) {
        const char *e = html_entity(s[i]);
        k += e != NULL ? strlen(e) - 1 : 0;
    }
    return k;
}

static void put_escaped(mime_buf *b, const char *s, size_t n)
{
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        const char *e = html_entity(s[i]);
        if (e != NULL) {
            mime_put(b, s + run, i - run);
            mime_puts(b, e);
            run = i + 1;
        }
    }
    mime_put(b, s + run, n - run);
}

/* The size of the final HTML, preheader included. */
static size_t final_html_len(const email_msg *m, hub_str html)
{
    if (m->preheader.ptr == NULL)
        return html.len;
    return html.len + strlen(PREHEADER_OPEN) + escaped_len(m->preheader.ptr, m->preheader.len) +
           strlen(PREHEADER_CLOSE);
}

static void warn_size(const email_state *st, hub_report *r, size_t n)
{
    if (n > st->html_warn_bytes)
        st->host->report_warning(r, "email_html_size",
                                 "the HTML is %zu bytes, over %zu; Gmail clips messages whose "
                                 "HTML passes about 102 KB",
                                 n, st->html_warn_bytes);
}

/* m->html: the html field with the preheader div right after <body ...> (or first). */
static int build_html(email_msg *m, hub_str html)
{
    if (m->preheader.ptr == NULL) {
        m->html = html;
        return 0;
    }
    size_t at = body_start(html.ptr, html.len);
    mime_buf *b = &m->html_buf;
    if (mime_buf_reserve(b, final_html_len(m, html)) != 0)
        return b->err;
    mime_put(b, html.ptr, at);
    mime_puts(b, PREHEADER_OPEN);
    put_escaped(b, m->preheader.ptr, m->preheader.len);
    mime_puts(b, PREHEADER_CLOSE);
    mime_put(b, html.ptr + at, html.len - at);
    m->html = (hub_str){b->data, b->len};
    return b->err;
}

/* m->text: the text field when it has any, else the plain-text version of the final HTML. */
static int build_text(const email_state *st, const hub_render_in *in, hub_report *r, email_msg *m)
{
    const hub_host_api *h = st->host;
    hub_str t = field(in, F_TEXT);
    if (t.ptr != NULL && t.len > 0) {
        m->text = t;
        return 0;
    }
    m->text_out = h->out_new(4 * m->html.len + 65536);
    if (m->text_out == NULL)
        return HUB_PLUGIN_ENOMEM;
    int rc = h->html_to_text(m->html.ptr, m->html.len, m->text_out);
    if (rc == HUB_PLUGIN_EINVAL)
        h->report_problem(r, "html",
                          "no text version can be derived: the HTML is not UTF-8, "
                          "holds a NUL byte or nests too deep");
    m->text = h->out_view(m->text_out);
    return rc;
}

/* ---- List-Unsubscribe ------------------------------------------------------------------------ */

/* The configured URL template rendered for this recipient into m->url_out. */
static int render_unsub_url(const email_state *st, const hub_render_in *in, hub_report *r,
                            email_msg *m, hub_str *url)
{
    const hub_host_api *h = st->host;
    char why[200] = "";
    json_t *vars = json_object();
    json_t *rec = in->recipient != NULL ? json_deep_copy(in->recipient) : json_null();
    if (vars == NULL)
        json_decref(rec); /* json_object_set_new takes rec in every other case */
    int rc = vars == NULL || json_object_set_new(vars, "recipient", rec) != 0 ||
                     json_object_set_new(vars, "message_id", json_string(in->message_id)) != 0
                 ? HUB_PLUGIN_ENOMEM
                 : 0;
    if (rc == 0 && (m->url_out = h->out_new(URL_MAX + 1)) == NULL)
        rc = HUB_PLUGIN_ENOMEM;
    if (rc == 0)
        rc = h->template_render(st->unsub_url, st->unsub_url_len, vars, m->url_out, why,
                                sizeof(why));
    json_decref(vars);
    if (rc == HUB_PLUGIN_ETOOBIG || rc == HUB_PLUGIN_EINVAL) {
        h->report_problem(r, NULL, "the unsubscribe URL cannot be rendered: %s",
                          rc == HUB_PLUGIN_ETOOBIG ? "longer than 900 bytes" : why);
        return HUB_PLUGIN_EINVAL;
    }
    if (rc == 0)
        *url = h->out_view(m->url_out);
    return rc;
}

/*
 * m->unsub: "<url>" with bytes that cannot stand in a header URL percent-encoded. A line
 * break or an overlong URL refuses the message; a URL that is not http(s) is left out with a
 * warning (the message is fine without it).
 */
static int put_url(const email_state *st, hub_report *r, email_msg *m, hub_str url)
{
    static const char hex[] = "0123456789ABCDEF";
    url.len = mime_trim(url.ptr, url.len, &url.ptr);
    if (url.len == 0)
        return 0;
    if (mime_has_line_break(url.ptr, url.len) || url.len > URL_MAX) {
        st->host->report_problem(r, NULL, "the unsubscribe URL %s",
                                 url.len > URL_MAX ? "is longer than 900 bytes"
                                                   : "holds a line break (CR or LF)");
        return HUB_PLUGIN_EINVAL;
    }
    if (!mime_prefix_ci(url.ptr, url.len, "https://") &&
        !mime_prefix_ci(url.ptr, url.len, "http://")) {
        st->host->report_warning(r, "email_unsubscribe_url",
                                 "the unsubscribe URL is not http or https; left out");
        return 0;
    }
    mime_put(&m->unsub, "<", 1);
    for (size_t i = 0; i < url.len; i++) {
        unsigned char c = (unsigned char)url.ptr[i];
        if (c <= 0x20 || c >= 0x7F || c == '<' || c == '>' || c == '"') {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            mime_put(&m->unsub, e, 3);
        } else {
            mime_put(&m->unsub, &url.ptr[i], 1);
        }
    }
    mime_put(&m->unsub, ">", 1);
    m->one_click = mime_prefix_ci(url.ptr, url.len, "https://");
    return m->unsub.err;
}

/* The one-click URL: the configured template, else the recipient's unsubscribe_url. */
static int build_unsub(const email_state *st, const hub_render_in *in, hub_report *r, email_msg *m)
{
    hub_str url = {NULL, 0};
    if (st->unsub_url != NULL) {
        int rc = render_unsub_url(st, in, r, m, &url);
        if (rc != 0)
            return rc;
    } else if (in->recipient != NULL) {
        const json_t *a = json_object_get(in->recipient, "attributes");
        const json_t *u = json_object_get(a, "unsubscribe_url");
        if (json_is_string(u))
            url = (hub_str){json_string_value(u), json_string_length(u)};
    }
    return url.ptr != NULL ? put_url(st, r, m, url) : 0;
}

/* ---- the message ----------------------------------------------------------------------------- */

static int message_id_ok(const char *id)
{
    size_t n = id != NULL ? strlen(id) : 0;
    if (n == 0 || n > MSGID_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return 0;
    }
    return 1;
}

static void put_headers(const email_state *st, const hub_render_in *in, const email_msg *m,
                        mime_buf *b)
{
    mime_header_mailbox(b, "From", m->from_disp, m->from_dn, st->from_addr, strlen(st->from_addr));
    if (m->to != NULL)
        mime_header_mailbox(b, "To", NULL, 0, m->to, m->to_len);
    if (m->reply_addr != NULL)
        mime_header_mailbox(b, "Reply-To", m->reply_disp, m->reply_dn, m->reply_addr, m->reply_an);
    mime_header_text(b, "Subject", m->subject.ptr, m->subject.len);
    mime_header_date(b, in->now_ms);
    mime_puts(b, "Message-ID: <");
    mime_puts(b, in->message_id);
    mime_puts(b, "@");
    mime_puts(b, st->domain);
    mime_puts(b, ">\r\nMIME-Version: 1.0\r\n");
    const char *items[2];
    size_t lens[2], n = 0;
    if (m->unsub.len > 0) {
        items[n] = m->unsub.data;
        lens[n++] = m->unsub.len;
    }
    char mailto[300];
    if (st->unsub_mailto != NULL) {
        int k = snprintf(mailto, sizeof(mailto), "<mailto:%s>", st->unsub_mailto);
        items[n] = mailto;
        lens[n++] = k > 0 && (size_t)k < sizeof(mailto) ? (size_t)k : 0;
    }
    if (n > 0)
        mime_header_list(b, "List-Unsubscribe", items, lens, n);
    if (m->one_click)
        mime_puts(b, "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n");
}

static void put_part(mime_buf *b, const char *boundary, const char *type, hub_str body)
{
    int enc = mime_body_choose(body.ptr, body.len);
    mime_puts(b, "\r\n--");
    mime_puts(b, boundary);
    mime_puts(b, "\r\nContent-Type: ");
    mime_puts(b, type);
    mime_puts(b, "; charset=utf-8\r\nContent-Transfer-Encoding: ");
    mime_puts(b, mime_encoding_name(enc));
    mime_puts(b, "\r\n\r\n");
    mime_body(b, enc, body.ptr, body.len);
}

/* How many delimiter lines ("--boundary" after a line break) the message holds. */
static size_t count_delimiters(const mime_buf *b, const char *boundary)
{
    char d[96];
    int dn = snprintf(d, sizeof(d), "\r\n--%s", boundary);
    size_t count = 0;
    const char *p = b->data, *end = b->data + b->len;
    while (dn > 0 && p != NULL && p < end) {
        p = memmem(p, (size_t)(end - p), d, (size_t)dn);
        if (p != NULL) {
            count++;
            p += dn;
        }
    }
    return count;
}

static int build_mime(const email_state *st, const hub_render_in *in, const email_msg *m,
                      mime_buf *b)
{
    if (mime_buf_reserve(b, 4096 + m->text.len + m->text.len / 8 + m->html.len + m->html.len / 8) !=
        0)
        return b->err;
    for (int attempt = 0; attempt < 4; attempt++) {
        char boundary[72];
        snprintf(boundary, sizeof(boundary), "=_omnihub_%.48s_%d", in->message_id, attempt);
        b->len = 0;
        put_headers(st, in, m, b);
        mime_puts(b, "Content-Type: multipart/alternative;\r\n boundary=\"");
        mime_puts(b, boundary);
        mime_puts(b, "\"\r\n");
        put_part(b, boundary, "text/plain", m->text);
        put_part(b, boundary, "text/html", m->html);
        mime_puts(b, "\r\n--");
        mime_puts(b, boundary);
        mime_puts(b, "--\r\n");
        if (b->err != 0)
            return b->err;
        if (count_delimiters(b, boundary) == 3)
            return 0;
    }
    return HUB_PLUGIN_EIO; /* "=_" cannot occur in either encoding: not reached */
}

/* ---- the artifact ---------------------------------------------------------------------------- */

static int write_artifact(const email_state *st, const hub_render_in *in, const email_msg *m,
                          const mime_buf *mime, hub_out *o)
{
    mime_buf from, id;
    mime_buf_init(&from, 4096);
    mime_buf_init(&id, 1024);
    mime_mailbox_text(&from, m->from_disp, m->from_dn, st->from_addr, strlen(st->from_addr));
    mime_puts(&id, "<");
    mime_puts(&id, in->message_id);
    mime_puts(&id, "@");
    mime_puts(&id, st->domain);
    mime_puts(&id, ">");
    kit_emit e = {st->host, o, from.err != 0 ? from.err : id.err};
    kit_emit_member(&e, "{\"mime\":", mime->data, mime->len);
    kit_emit_member(&e, ",\"subject\":", m->subject.ptr, m->subject.len);
    kit_emit_member(&e, ",\"html\":", m->html.ptr, m->html.len);
    kit_emit_member(&e, ",\"text\":", m->text.ptr, m->text.len);
    kit_emit_member(&e, ",\"message_id\":", id.data, id.len);
    kit_emit_member(&e, ",\"preheader\":", m->preheader.ptr, m->preheader.len);
    kit_emit_member(&e, ",\"to\":", m->to, m->to_len);
    kit_emit_member(&e, ",\"from\":", from.data, from.len);
    kit_emit_raw(&e, "}");
    mime_buf_free(&from);
    mime_buf_free(&id);
    return e.rc;
}

/* ---- callbacks ------------------------------------------------------------------------------- */

static int email_create(const hub_plugin_create_in *in, void **state, char *err, size_t errcap)
{
    email_state *st = NULL;
    int rc = email_config_parse(in->host, in->config, &st, err, errcap);
    *state = st;
    return rc;
}

static const hub_plugin_schema *email_fields(void *state)
{
    (void)state;
    return &schema;
}

static int email_validate(void *state, const hub_render_in *in, hub_report *report)
{
    const email_state *st = state;
    email_msg m;
    msg_init(&m);
    int rc = check_headers(st, in, report, &m, 0);
    hub_str html = field(in, F_HTML);
    if (rc >= 0 && html.ptr != NULL)
        warn_size(st, report, final_html_len(&m, html));
    msg_free(st->host, &m);
    return rc < 0 ? HUB_PLUGIN_ENOMEM : 0;
}

static int email_render(void *state, const hub_render_in *in, hub_out *artifact, hub_report *report)
{
    const email_state *st = state;
    const hub_host_api *h = st->host;
    hub_str html = field(in, F_HTML);
    email_msg m;
    mime_buf mime;
    msg_init(&m);
    mime_buf_init(&mime, MIME_MAX);
    int rc = check_headers(st, in, report, &m, 1);
    rc = rc < 0 ? HUB_PLUGIN_ENOMEM : rc > 0 ? HUB_PLUGIN_EINVAL : 0;
    if (rc == 0 && html.ptr == NULL) {
        h->report_problem(report, "html", "the HTML body is missing");
        rc = HUB_PLUGIN_EINVAL;
    }
    if (rc == 0 && !message_id_ok(in->message_id)) {
        h->report_problem(report, NULL, "the message id is not 1-128 of [A-Za-z0-9_-]");
        rc = HUB_PLUGIN_EINVAL;
    }
    if (rc == 0)
        rc = build_html(&m, html);
    if (rc == 0) {
        warn_size(st, report, m.html.len);
        rc = build_text(st, in, report, &m);
    }
    if (rc == 0)
        rc = build_unsub(st, in, report, &m);
    if (rc == 0)
        rc = build_mime(st, in, &m, &mime);
    if (rc == 0)
        rc = write_artifact(st, in, &m, &mime, artifact);
    mime_buf_free(&mime);
    msg_free(h, &m);
    return rc;
}

/* ---- deliver --------------------------------------------------------------------------------- */

/* The outbox file name: the Message-ID's local part, in [A-Za-z0-9._-], at most 128. */
static void outbox_name(const char *msgid, const char *fallback, char *name, size_t cap)
{
    const char *s = msgid != NULL ? msgid : "";
    size_t k = 0;
    if (*s == '<')
        s++;
    for (; *s != '\0' && *s != '@' && *s != '>' && k + 1 < cap; s++) {
        char c = *s;
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '-' || c == '_' || (c == '.' && k > 0);
        name[k++] = ok ? c : '_';
    }
    name[k] = '\0';
    if (k == 0 && fallback != NULL)
        outbox_name(fallback, NULL, name, cap);
    else if (k == 0)
        snprintf(name, cap, "message");
}

static int send_smtp(const email_state *st, const hub_deliver_in *in, const json_t *mime,
                     hub_deliver_out *out)
{
    const json_t *e = in->recipient != NULL ? json_object_get(in->recipient, "email") : NULL;
    if (!json_is_string(e))
        return kit_err(out->error, out->error_cap, HUB_DELIVER_FAIL, "no email address");
    const char *to = json_string_value(e);
    if (!mime_addr_ok(to, json_string_length(e)))
        return kit_err(out->error, out->error_cap, HUB_DELIVER_FAIL,
                       "the email address is not valid");
    const char *rcpt[1] = {to};
    hub_smtp_message msg = {sizeof(msg),
                            1,
                            st->envelope_from,
                            rcpt,
                            {json_string_value(mime), json_string_length(mime)},
                            st->smtp_url,
                            st->smtp_user,
                            st->smtp_pass,
                            0,
                            st->smtp_starttls ? HUB_SMTP_STARTTLS : 0};
    hub_smtp_result res = {sizeof(res), 0, 0};
    char none[1];
    int rc = st->host->smtp_send("email", &msg, &res, out->error != NULL ? out->error : none,
                                 out->error != NULL ? out->error_cap : sizeof(none));
    if (rc == HUB_DELIVER_RETRY && res.retry_after_ms > 0)
        out->retry_after_ms = res.retry_after_ms;
    return rc;
}

static int email_deliver(void *state, const hub_deliver_in *in, hub_deliver_out *out)
{
    const email_state *st = state;
    json_error_t je;
    json_t *a = json_loadb(in->artifact.ptr, in->artifact.len, 0, &je);
    const json_t *mime = json_object_get(a, "mime");
    int rc;
    if (!json_is_string(mime)) {
        rc = kit_err(out->error, out->error_cap, HUB_DELIVER_FAIL,
                     "the artifact has no \"mime\" string");
    } else if (st->driver == EMAIL_DRIVER_SMTP) {
        rc = send_smtp(st, in, mime, out);
    } else {
        char name[129];
        outbox_name(json_string_value(json_object_get(a, "message_id")), in->message_id, name,
                    sizeof(name));
        rc = kit_outbox_write(st->host, "email", name, ".eml", json_string_value(mime),
                              json_string_length(mime), out);
    }
    json_decref(a);
    return rc;
}

static void email_free(void *state)
{
    email_state_free(state);
}

static const hub_plugin email_plugin = {
    sizeof(hub_plugin),
    OMNIHUB_PLUGIN_ABI_MAJOR,
    OMNIHUB_PLUGIN_ABI_MINOR,
    0,
    "email",
    "1.0.0",
    "Email: MIME multipart/alternative, RFC 2047 headers, List-Unsubscribe; outbox or SMTP",
    email_create,
    email_fields,
    email_validate,
    email_render,
    email_deliver,
    email_free,
};

OMNIHUB_PLUGIN_EXPORT int omnihub_plugin_entry(const hub_host_api *host, uint32_t abi_major,
                                               const hub_plugin **out)
{
    return kit_plugin_entry(host, abi_major, &email_plugin, out);
}
