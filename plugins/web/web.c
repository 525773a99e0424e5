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
 * og:site_name. Delivery: "inbox" stores the artifact in the recipient's inbox through the
 * host (GET /v1/inbox/{recipient}; ABI 1.1), "outbox" writes it to the outbox under "web".
 *
 * Threads: the state is read-only after create(); validate and render use host buffers of
 * their own.
 */
#include <jansson.h>
#include <omnihub/plugin.h>
#include <stdlib.h>
#include <string.h>

#include "common/kit.h"

#define SUMMARY_CHARS 200
#define SUMMARY_BUF   (SUMMARY_CHARS * 4 + 8)
#define ELLIPSIS      "\xE2\x80\xA6" /* U+2026 */

enum { F_TITLE, F_HTML, F_SUMMARY, F_IMAGE, F_URL, NFIELDS };
enum { DRIVER_INBOX, DRIVER_OUTBOX };

/* ---- the field schema ---------------------------------------------------------------------- */

static const hub_plugin_field f_title =
    KIT_FIELD(HUB_FIELD_TEXT, "title", 1, 500, "the message's title (og:title)");
static const hub_plugin_field f_html =
    KIT_FIELD(HUB_FIELD_HTML, "html", 1, 1024 * 1024, "the message as an HTML fragment");
static const hub_plugin_field f_summary = KIT_FIELD(
    HUB_FIELD_TEXT, "summary", 0, 2000, "a short text (og:description); derived when absent");
static const hub_plugin_field f_image =
    KIT_FIELD(HUB_FIELD_URL, "image", 0, 2048, "an http(s) or relative image URL (og:image)");
static const hub_plugin_field f_url =
    KIT_FIELD(HUB_FIELD_URL, "url", 0, 2048, "where the message links to (og:url)");

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

/* The keys are read in the file's order, so the first bad one is the one named. */
static int parse_config(web_state *st, const json_t *cfg, char *err, size_t errcap)
{
    static const char *const drivers[] = {"inbox", "outbox", NULL}; /* DRIVER_* order */
    const char *key;
    json_t *v;
    if (cfg == NULL)
        return 0;
    if (!json_is_object(cfg))
        return kit_err(err, errcap, HUB_PLUGIN_EINVAL, "channels.web: must be an object");
    json_object_foreach((json_t *)cfg, key, v)
    {
        int rc = 0;
        if (strcmp(key, "driver") == 0) {
            st->driver = kit_string_enum(v, drivers);
            if (st->driver < 0)
                rc = kit_err(err, errcap, HUB_PLUGIN_EINVAL,
                             "channels.web.driver: must be \"inbox\" or \"outbox\"");
        } else if (strcmp(key, "site_name") == 0) {
            rc = kit_string_or_null(v, "channels.web", "site_name", &st->site_name, err, errcap);
        } else {
            rc =
                kit_err(err, errcap, HUB_PLUGIN_EINVAL, "channels.web: unknown key \"%.64s\"", key);
        }
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int web_create(const hub_plugin_create_in *in, void **state, char *err, size_t errcap)
{
    web_state *st = calloc(1, sizeof(*st));
    if (st == NULL)
        return kit_err(err, errcap, HUB_PLUGIN_ENOMEM, "out of memory");
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
        if ((k = kit_utf8_seq(p + i, len - i)) == 0) {
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
    if (kit_has_space_or_control(u.ptr, u.len))
        return "must not contain spaces or control characters";
    while (i < u.len && u.ptr[i] != ':' && u.ptr[i] != '/' && u.ptr[i] != '?' && u.ptr[i] != '#')
        i++;
    if (i == u.len || u.ptr[i] != ':')
        return NULL; /* no scheme: a relative reference */
    if ((kit_scheme_is(u.ptr, i, "http") || kit_scheme_is(u.ptr, i, "https")) && u.len - i >= 3 &&
        memcmp(u.ptr + i, "://", 3) == 0)
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
        else if (kit_present(s) && !kit_utf8_valid(s.ptr, s.len))
            why = "is not valid UTF-8";
        else if ((i == F_IMAGE || i == F_URL) && kit_present(s))
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
    if (kit_present(in->fields[F_SUMMARY])) {
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

/* ,"name":"value" when s is present; ,"name":null otherwise when with_null. */
static void member(kit_emit *e, const char *name, hub_str s, int with_null)
{
    if (kit_present(s) || with_null)
        kit_emit_member(e, name, kit_present(s) ? s.ptr : NULL, s.len);
}

static int emit(const web_state *st, const hub_render_in *in, hub_str html, hub_str summary,
                hub_out *out)
{
    kit_emit e = {st->host, out, 0};
    hub_str image = in->fields[F_IMAGE], url = in->fields[F_URL];
    hub_str site = {st->site_name, st->site_name != NULL ? strlen(st->site_name) : 0};
    kit_emit_raw(&e, "{\"title\":");
    kit_emit_string(&e, in->fields[F_TITLE].ptr, in->fields[F_TITLE].len);
    kit_emit_raw(&e, ",\"html\":");
    kit_emit_string(&e, html.ptr, html.len);
    member(&e, ",\"summary\":", summary, 1);
    member(&e, ",\"image\":", image, 1);
    member(&e, ",\"url\":", url, 1);
    kit_emit_raw(&e, ",\"og\":{\"og:type\":\"article\",\"og:title\":");
    kit_emit_string(&e, in->fields[F_TITLE].ptr, in->fields[F_TITLE].len);
    member(&e, ",\"og:description\":", summary, 0);
    member(&e, ",\"og:image\":", image, 0);
    member(&e, ",\"og:url\":", url, 0);
    member(&e, ",\"og:site_name\":", site, 0);
    kit_emit_raw(&e, "}}");
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
    if (in->message_id == NULL || in->artifact.ptr == NULL)
        return kit_err(out->error, out->error_cap, HUB_DELIVER_FAIL, "no message id or artifact");
    if (st->driver == DRIVER_INBOX) {
        const json_t *id = in->recipient != NULL ? json_object_get(in->recipient, "id") : NULL;
        if (!json_is_string(id))
            return kit_err(out->error, out->error_cap, HUB_DELIVER_FAIL, "no recipient id");
        if (!HUB_PLUGIN_HAS(st->host, inbox_write))
            return kit_err(out->error, out->error_cap, HUB_DELIVER_FAIL,
                           "this hub has no inbox (plugin ABI 1.1)");
        char none[1];
        return st->host->inbox_write("web", json_string_value(id), in->message_id, in->artifact,
                                     out->error != NULL ? out->error : none,
                                     out->error != NULL ? out->error_cap : sizeof(none));
    }
    return kit_outbox_write(st->host, "web", in->message_id, ".json", in->artifact.ptr,
                            in->artifact.len, out);
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
    return kit_plugin_entry(host, abi_major, &web_plugin, out);
}
