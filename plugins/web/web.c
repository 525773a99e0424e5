/*
 * web: on-site and in-app messages. One message (title, html, summary, image, url) becomes
 * a sanitized HTML fragment (the host's libxml2 allow-list: no script, no event attributes,
 * no javascript: URLs) with its Open Graph fields, so a site can show it in an inbox, a feed
 * or a link preview.
 *
 * Artifact: {"title", "html", "summary", "image", "url", "og": {"og:type": "article",
 * "og:title", "og:description"?, "og:image"?, "og:url"?, "og:site_name"?}}; absent
 * top-level members are null. A missing summary is derived from the text of the HTML: at
 * most 200 characters, cut at a word boundary and ended with "…".
 *
 * Configuration (channels.web): "driver" "inbox" (default) | "outbox"; "site_name" for
 * og:site_name. Delivery: both drivers write the artifact to the outbox under "web"; the
 * hub's inbox (GET /v1/inbox/{recipient}) reads the web messages from there, so "inbox"
 * needs nothing more of the plugin.
 *
 * Threads: the state is read-only after create(); validate and render use host buffers of
 * their own.
 */
#include <jansson.h>
#include <omnihub/plugin.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SUMMARY_CHARS 200
#define SUMMARY_BUF   (SUMMARY_CHARS * 4 + 8)
#define ELLIPSIS      "\xE2\x80\xA6" /* U+2026 */

enum { F_TITLE, F_HTML, F_SUMMARY, F_IMAGE, F_URL, NFIELDS };
enum { DRIVER_INBOX, DRIVER_OUTBOX };

/* ---- the field schema ---------------------------------------------------------------------- */

#define FIELD(kind, name, req, max, desc)                                                          \
    {                                                                                              \
        sizeof(hub_plugin_field), kind, name, req, 0, max, desc                                    \
    }

static const hub_plugin_field f_title =
    FIELD(HUB_FIELD_TEXT, "title", 1, 500, "the message's title (og:title)");
static const hub_plugin_field f_html =
    FIELD(HUB_FIELD_HTML, "html", 1, 1024 * 1024, "the message as an HTML fragment");
static const hub_plugin_field f_summary =
    FIELD(HUB_FIELD_TEXT, "summary", 0, 2000, "a short text (og:description); derived when absent");
static const hub_plugin_field f_image =
    FIELD(HUB_FIELD_URL, "image", 0, 2048, "an http(s) or relative image URL (og:image)");
static const hub_plugin_field f_url =
    FIELD(HUB_FIELD_URL, "url", 0, 2048, "where the message links to (og:url)");

static const hub_plugin_field *const field_list[NFIELDS] = {&f_title, &f_html, &f_summary, &f_image,
                                                            &f_url};
static const hub_plugin_schema schema = {sizeof(hub_plugin_schema), NFIELDS, field_list};
static const char *const field_names[NFIELDS] = {"title", "html", "summary", "image", "url"};

/* ---- state and configuration --------------------------------------------------------------- */

typedef struct web_state {
    const hub_host_api *host;
    int driver;
    char *site_name; /* NULL: no og:site_name */
} web_state;

static void web_free(void *state)
{
    web_state *st = state;
    if (st != NULL) {
        free(st->site_name);
        free(st);
    }
}

static int cfg_err(char *err, size_t errcap, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int cfg_err(char *err, size_t errcap, int rc, const char *fmt, ...)
{
    if (err != NULL && errcap > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errcap, fmt, ap);
        va_end(ap);
    }
    return rc;
}

static int parse_config(web_state *st, const json_t *cfg, char *err, size_t errcap)
{
    const char *key;
    json_t *v;
    if (cfg == NULL)
        return 0;
    if (!json_is_object(cfg))
        return cfg_err(err, errcap, HUB_PLUGIN_EINVAL, "channels.web: must be an object");
    json_object_foreach((json_t *)cfg, key, v)
    {
        if (strcmp(key, "driver") == 0) {
            const char *d = json_string_value(v);
            if (d == NULL || (strcmp(d, "inbox") != 0 && strcmp(d, "outbox") != 0))
                return cfg_err(err, errcap, HUB_PLUGIN_EINVAL,
                               "channels.web.driver: must be \"inbox\" or \"outbox\"");
            st->driver = strcmp(d, "inbox") == 0 ? DRIVER_INBOX : DRIVER_OUTBOX;
        } else if (strcmp(key, "site_name") == 0) {
            if (!json_is_string(v) && !json_is_null(v))
                return cfg_err(err, errcap, HUB_PLUGIN_EINVAL,
                               "channels.web.site_name: must be a string or null");
            free(st->site_name);
            st->site_name = NULL;
            if (json_is_string(v)) {
                size_t n = json_string_length(v);
                if ((st->site_name = malloc(n + 1)) == NULL)
                    return cfg_err(err, errcap, HUB_PLUGIN_ENOMEM, "out of memory");
                memcpy(st->site_name, json_string_value(v), n + 1);
            }
        } else {
            return cfg_err(err, errcap, HUB_PLUGIN_EINVAL, "channels.web: unknown key \"%.64s\"",
                           key);
        }
    }
    return 0;
}

static int web_create(const hub_plugin_create_in *in, void **state, char *err, size_t errcap)
{
    web_state *st = calloc(1, sizeof(*st));
    if (st == NULL)
        return cfg_err(err, errcap, HUB_PLUGIN_ENOMEM, "out of memory");
    st->host = in->host;
    st->driver = DRIVER_INBOX;
    int rc = parse_config(st, in->config, err, errcap);
    if (rc != 0) {
        web_free(st);
        return rc;
    }
    *state = st;
    return 0;
}

static const hub_plugin_schema *web_fields(void *state)
{
    (void)state;
    return &schema;
}

/* ---- text helpers -------------------------------------------------------------------------- */

/* The length of the well-formed UTF-8 sequence at p (n bytes available), 0 if malformed. */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
    unsigned char b = p[0];
    size_t k = b < 0x80                 ? 1
               : b >= 0xC2 && b <= 0xDF ? 2
               : b >= 0xE0 && b <= 0xEF ? 3
               : b >= 0xF0 && b <= 0xF4 ? 4
                                        : 0;
    if (k == 0 || n < k)
        return 0;
    for (size_t i = 1; i < k; i++)
        if ((p[i] & 0xC0) != 0x80)
            return 0;
    if ((b == 0xE0 && p[1] < 0xA0) || (b == 0xED && p[1] > 0x9F) || (b == 0xF0 && p[1] < 0x90) ||
        (b == 0xF4 && p[1] > 0x8F))
        return 0;
    return k;
}

static int utf8_valid(hub_str s)
{
    const unsigned char *p = (const unsigned char *)s.ptr;
    for (size_t i = 0, k; i < s.len; i += k)
        if ((k = utf8_seq(p + i, s.len - i)) == 0)
            return 0;
    return 1;
}

/* White space for summaries: ASCII white space and U+00A0 (what &nbsp; decodes to). */
static int is_space(const unsigned char *p, size_t k)
{
    return (k == 1 && (p[0] == ' ' || (p[0] >= 0x09 && p[0] <= 0x0D))) ||
           (k == 2 && p[0] == 0xC2 && p[1] == 0xA0);
}

static int blank(hub_str s)
{
    for (size_t i = 0; s.ptr != NULL && i < s.len; i++)
        if (!is_space((const unsigned char *)s.ptr + i, 1))
            return 0;
    return 1;
}

static int present(hub_str s)
{
    return s.ptr != NULL && s.len > 0;
}

/*
 * The summary of a text, into out (SUMMARY_BUF bytes): white space runs become one space,
 * the ends are trimmed. A text longer than SUMMARY_CHARS characters (code points, never a
 * cut inside one) keeps the words that fit in SUMMARY_CHARS - 1 and ends with "…" (one
 * long word is cut where it must). Malformed bytes are skipped. Returns the length in bytes.
 */
static size_t derive_summary(const char *text, size_t len, char *out)
{
    const unsigned char *p = (const unsigned char *)text;
    size_t ends[SUMMARY_CHARS + 1]; /* ends[j]: where character j ends, in bytes of out */
    size_t o = 0, nch = 0, i = 0, k;
    int space = 0, more = 0;
    for (; i < len && !more; i += k) {
        if ((k = utf8_seq(p + i, len - i)) == 0) {
            k = 1;
            continue;
        }
        if (is_space(p + i, k)) {
            space = nch > 0;
            continue;
        }
        if (nch + (size_t)space + 1 > SUMMARY_CHARS) {
            more = 1;
            break;
        }
        if (space) {
            out[o++] = ' ';
            ends[nch++] = o;
            space = 0;
        }
        memcpy(out + o, p + i, k);
        o += k;
        ends[nch++] = o;
    }
    if (!more)
        return o;
    /* Character j (j >= 1) starts at ends[j - 1]. Keep SUMMARY_CHARS - 1 characters, or
     * fewer: those before the last space, unless the cut already falls before one (the
     * character after it is a space, or the space that was pending) or no space is left. */
    size_t keep = nch < SUMMARY_CHARS ? nch : SUMMARY_CHARS - 1;
    if (keep < nch && out[ends[keep - 1]] != ' ') {
        size_t j = keep - 1;
        while (j > 0 && out[ends[j - 1]] != ' ')
            j--;
        if (j > 0)
            keep = j;
    }
    o = ends[keep - 1];
    memcpy(out + o, ELLIPSIS, sizeof(ELLIPSIS) - 1);
    return o + sizeof(ELLIPSIS) - 1;
}

/* Why a URL is refused, or NULL: only http://, https:// or a relative reference (no
 * scheme at all), so javascript:, data: and the like never reach an href or a src. */
static const char *url_refusal(hub_str u)
{
    size_t i = 0;
    for (size_t b = 0; b < u.len; b++) {
        unsigned char c = (unsigned char)u.ptr[b];
        if (c <= 0x20 || c == 0x7F)
            return "must not contain spaces or control characters";
    }
    while (i < u.len && u.ptr[i] != ':' && u.ptr[i] != '/' && u.ptr[i] != '?' && u.ptr[i] != '#')
        i++;
    if (i == u.len || u.ptr[i] != ':')
        return NULL;
    int web = (i == 4 && (u.ptr[0] | 0x20) == 'h' && (u.ptr[1] | 0x20) == 't' &&
               (u.ptr[2] | 0x20) == 't' && (u.ptr[3] | 0x20) == 'p') ||
              (i == 5 && (u.ptr[0] | 0x20) == 'h' && (u.ptr[1] | 0x20) == 't' &&
               (u.ptr[2] | 0x20) == 't' && (u.ptr[3] | 0x20) == 'p' && (u.ptr[4] | 0x20) == 's');
    if (web && u.len - i >= 3 && memcmp(u.ptr + i, "://", 3) == 0)
        return NULL;
    return "must be an http:// or https:// URL or a relative one";
}

/* ---- checking and rendering ---------------------------------------------------------------- */

/* Reports what is wrong with the fields; returns the number of problems. */
static int check_fields(const web_state *st, const hub_render_in *in, hub_report *r)
{
    int problems = 0;
    for (int i = 0; i < NFIELDS; i++) {
        hub_str s = in->fields[i];
        const char *why = NULL;
        if (i == F_TITLE && blank(s))
            why = "is empty";
        else if (present(s) && !utf8_valid(s))
            why = "is not valid UTF-8";
        else if ((i == F_IMAGE || i == F_URL) && present(s))
            why = url_refusal(s);
        if (why != NULL) {
            st->host->report_problem(r, field_names[i], "%s", why);
            problems++;
        }
    }
    return problems;
}

/* Sanitizes the html field into *out (new: free with out_free); warns about removals. */
static int sanitize(const web_state *st, hub_str html, hub_report *r, hub_out **out, int *problems)
{
    size_t removed = 0;
    size_t len = html.ptr != NULL ? html.len : 0;
    /* Re-serializing may escape what the source left bare ("&" -> "&amp;"). */
    size_t cap = len < ((size_t)-1 - 4096) / 6 ? len * 6 + 4096 : (size_t)-1;
    if ((*out = st->host->out_new(cap)) == NULL)
        return HUB_PLUGIN_ENOMEM;
    if (len == 0)
        return 0;
    int rc = st->host->sanitize_html(html.ptr, len, *out, &removed);
    if (rc == HUB_PLUGIN_EINVAL) {
        st->host->report_problem(r, "html", "could not be parsed as HTML");
        (*problems)++;
        return 0;
    }
    if (rc != 0)
        return rc;
    if (removed > 0)
        st->host->report_warning(r, "html_sanitized",
                                 "the sanitizer removed %zu element%s or attribute%s from html "
                                 "(scripts, event handlers, unsafe URLs and the like)",
                                 removed, removed == 1 ? "" : "s", removed == 1 ? "" : "s");
    return 0;
}

/* The summary field, or one derived from the sanitized HTML's text into buf. */
static int summary_of(const web_state *st, const hub_render_in *in, hub_str html, char *buf,
                      hub_str *out)
{
    if (present(in->fields[F_SUMMARY])) {
        *out = in->fields[F_SUMMARY];
        return 0;
    }
    *out = (hub_str){buf, 0};
    if (html.len == 0)
        return 0;
    hub_out *text =
        st->host->out_new(html.len < ((size_t)-1 - 4096) / 4 ? html.len * 4 + 4096 : (size_t)-1);
    if (text == NULL)
        return HUB_PLUGIN_ENOMEM;
    int rc = st->host->html_to_text(html.ptr, html.len, text);
    if (rc == 0) {
        hub_str t = st->host->out_view(text);
        out->len = derive_summary(t.ptr, t.len, buf);
    }
    st->host->out_free(text);
    return rc;
}

/* Appends JSON text while no append has failed. */
typedef struct emitter {
    const hub_host_api *h;
    hub_out *out;
    int rc;
} emitter;

static void lit(emitter *e, const char *s)
{
    if (e->rc == 0)
        e->rc = e->h->out_append(e->out, s, strlen(s));
}

static void str(emitter *e, hub_str s)
{
    if (e->rc == 0)
        e->rc = e->h->out_json_string(e->out, s.ptr != NULL ? s.ptr : "", s.len);
}

/* ,"name":"value" when s is present; ,"name":null otherwise when with_null. */
static void member(emitter *e, const char *name, hub_str s, int with_null)
{
    if (!present(s) && !with_null)
        return;
    lit(e, name);
    if (present(s))
        str(e, s);
    else
        lit(e, "null");
}

static int emit(const web_state *st, const hub_render_in *in, hub_str html, hub_str summary,
                hub_out *out)
{
    emitter e = {st->host, out, 0};
    hub_str image = in->fields[F_IMAGE], url = in->fields[F_URL];
    hub_str site = {st->site_name, st->site_name != NULL ? strlen(st->site_name) : 0};
    lit(&e, "{\"title\":");
    str(&e, in->fields[F_TITLE]);
    lit(&e, ",\"html\":");
    str(&e, html);
    member(&e, ",\"summary\":", summary, 1);
    member(&e, ",\"image\":", image, 1);
    member(&e, ",\"url\":", url, 1);
    lit(&e, ",\"og\":{\"og:type\":\"article\",\"og:title\":");
    str(&e, in->fields[F_TITLE]);
    member(&e, ",\"og:description\":", summary, 0);
    member(&e, ",\"og:image\":", image, 0);
    member(&e, ",\"og:url\":", url, 0);
    member(&e, ",\"og:site_name\":", site, 0);
    lit(&e, "}}");
    return e.rc;
}

static int web_validate(void *state, const hub_render_in *in, hub_report *report)
{
    const web_state *st = state;
    hub_out *html = NULL;
    if (in->nfields != NFIELDS || in->fields == NULL)
        return HUB_PLUGIN_EINVAL;
    int problems = check_fields(st, in, report);
    int rc = sanitize(st, in->fields[F_HTML], report, &html, &problems);
    st->host->out_free(html);
    return rc;
}

static int web_render(void *state, const hub_render_in *in, hub_out *artifact, hub_report *report)
{
    const web_state *st = state;
    hub_out *html = NULL;
    char buf[SUMMARY_BUF];
    hub_str summary;
    if (in->nfields != NFIELDS || in->fields == NULL)
        return HUB_PLUGIN_EINVAL;
    int problems = check_fields(st, in, report);
    int rc = sanitize(st, in->fields[F_HTML], report, &html, &problems);
    if (rc == 0 && problems > 0)
        rc = HUB_PLUGIN_EINVAL;
    if (rc == 0)
        rc = summary_of(st, in, st->host->out_view(html), buf, &summary);
    if (rc == 0)
        rc = emit(st, in, st->host->out_view(html), summary, artifact);
    st->host->out_free(html);
    return rc;
}

/* ---- delivery ------------------------------------------------------------------------------ */

static int web_deliver(void *state, const hub_deliver_in *in, hub_deliver_out *out)
{
    const web_state *st = state;
    char err[256] = "";
    int rc = HUB_DELIVER_FAIL;
    if (in->message_id != NULL && in->artifact.ptr != NULL)
        rc = st->host->outbox_write("web", in->message_id, ".json", in->artifact.ptr,
                                    in->artifact.len, err, sizeof(err));
    else
        snprintf(err, sizeof(err), "no message id or artifact");
    /* outbox_write answers with deliver codes; a negative code is an I/O failure. */
    if (rc == HUB_PLUGIN_EINVAL)
        rc = HUB_DELIVER_FAIL;
    else if (rc != HUB_DELIVER_OK && rc != HUB_DELIVER_FAIL)
        rc = HUB_DELIVER_RETRY;
    if (rc != HUB_DELIVER_OK && out->error != NULL && out->error_cap > 0)
        snprintf(out->error, out->error_cap, "%s", err);
    return rc;
}

/* ---- the entry point ----------------------------------------------------------------------- */

static const hub_plugin web_plugin = {
    .struct_size = sizeof(hub_plugin),
    .abi_major = OMNIHUB_PLUGIN_ABI_MAJOR,
    .abi_minor = OMNIHUB_PLUGIN_ABI_MINOR,
    .name = "web",
    .version = "1.0.0",
    .description = "on-site and in-app messages: sanitized HTML with Open Graph fields",
    .create = web_create,
    .fields = web_fields,
    .validate = web_validate,
    .render = web_render,
    .deliver = web_deliver,
    .free = web_free,
};

int omnihub_plugin_entry(const hub_host_api *host, uint32_t abi_major, const hub_plugin **out)
{
    if (host == NULL || out == NULL || abi_major != OMNIHUB_PLUGIN_ABI_MAJOR ||
        !HUB_PLUGIN_HAS(host, out_free))
        return HUB_PLUGIN_EINVAL;
    *out = &web_plugin;
    return 0;
}
