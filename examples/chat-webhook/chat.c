/*
 * chat: an example omnihub channel plugin for chat incoming webhooks (Slack, Mattermost and
 * Google Chat take a JSON body with a "text" member). It is built out of tree against the
 * installed <omnihub/plugin.h>; docs/plugins.md walks through it.
 *
 * Fields: text (text, required, 4000 bytes) and title (text, optional, 200 bytes).
 * Configuration ("channels": {"chat": {...}}):
 *   "driver": "outbox" (default) or "http"
 *   "http": {"url": "https://hooks.example/...", "headers": {"Name": "value", ...}}
 *   "username": the name the message is posted as (optional)
 * Artifact: {"text": "...", "title": "..." | null,
 *            "payload": {"text": "*title*\ntext", "username": "..."}}
 * where payload is exactly the body the webhook receives (username only when configured).
 *
 * Threads: create() and free() run once; validate(), render() and deliver() run on many
 * threads at once and only read the state. render() allocates one scratch buffer and never
 * blocks; deliver() blocks in the host's HTTP service.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <omnihub/plugin.h>

#define PLUGIN_NAME  "chat"
#define TEXT_MAX     4000 /* bytes of the rendered text a chat message takes */
#define TITLE_MAX    200
#define URL_MAX      2048
#define HEADERS_MAX  16
#define HEADER_MAX   1024 /* bytes of one header name or value */
#define USERNAME_MAX 80

enum { DRIVER_OUTBOX, DRIVER_HTTP };
enum { F_TEXT, F_TITLE }; /* field indexes, in the order of the schema */

typedef struct chat_state {
    const hub_host_api *host;
    int driver;
    char *url;                            /* http driver */
    hub_http_header headers[HEADERS_MAX]; /* configured headers, strings owned */
    uint32_t nheaders;
    int has_content_type; /* the configured headers set Content-Type themselves */
    char *username;       /* NULL: none */
} chat_state;

/* ---- the field schema (static, shared by every state) ------------------------------------- */

static const hub_plugin_field text_field = {
    sizeof(hub_plugin_field),
    HUB_FIELD_TEXT,
    "text",
    1,
    0,
    TEXT_MAX,
    "the message, in the chat's own markup (Slack mrkdwn: *bold*, _italic_, <url|label>)"};
static const hub_plugin_field title_field = {
    sizeof(hub_plugin_field),          HUB_FIELD_TEXT, "title", 0, 0, TITLE_MAX,
    "a bold first line above the text"};
static const hub_plugin_field *const schema_fields[] = {&text_field, &title_field};
static const hub_plugin_schema schema = {sizeof(hub_plugin_schema), 2, schema_fields};

/* ---- small helpers ------------------------------------------------------------------------- */

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

static char *dup_str(const char *s)
{
    size_t n = strlen(s);
    char *d = malloc(n + 1);
    if (d != NULL)
        memcpy(d, s, n + 1);
    return d;
}

/* ASCII case-insensitive equality (strcasecmp would follow the locale). */
static int name_is(const char *a, const char *b)
{
    for (; *a != '\0' && *b != '\0'; a++, b++) {
        char x = *a >= 'A' && *a <= 'Z' ? (char)(*a - 'A' + 'a') : *a;
        char y = *b >= 'A' && *b <= 'Z' ? (char)(*b - 'A' + 'a') : *b;
        if (x != y)
            return 0;
    }
    return *a == *b;
}

/* No control characters (so no CR/LF header injection), at most max bytes, not empty. */
static int printable(const char *s, size_t max)
{
    size_t n = strlen(s);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return 0;
    return n > 0 && n <= max;
}

/* An HTTP header name: an RFC 9110 token of letters, digits and -_. */
static int header_name_ok(const char *s)
{
    size_t n = strlen(s);
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return 0;
    }
    return n > 0 && n <= 64;
}

/* s without the blanks at both ends. */
static hub_str trim(hub_str s)
{
    while (s.ptr != NULL && s.len > 0 && (s.ptr[0] == ' ' || s.ptr[0] == '\n'))
        s.ptr++, s.len--;
    while (s.ptr != NULL && s.len > 0 && (s.ptr[s.len - 1] == ' ' || s.ptr[s.len - 1] == '\n'))
        s.len--;
    return s;
}

static int blank(hub_str s)
{
    for (size_t i = 0; s.ptr != NULL && i < s.len; i++)
        if (s.ptr[i] != ' ' && s.ptr[i] != '\t' && s.ptr[i] != '\n' && s.ptr[i] != '\r')
            return 0;
    return 1;
}

/* ---- create and free ----------------------------------------------------------------------- */

static void chat_free(void *state)
{
    chat_state *st = state;
    if (st == NULL)
        return;
    for (uint32_t i = 0; i < st->nheaders; i++) {
        free((char *)st->headers[i].name);
        free((char *)st->headers[i].value);
    }
    free(st->url);
    free(st->username);
    free(st);
}

static int parse_headers(chat_state *st, const json_t *headers, char *err, size_t cap)
{
    const char *name;
    const json_t *v;
    if (!json_is_object(headers)) {
        set_err(err, cap, "\"http.headers\" must be an object of strings");
        return HUB_PLUGIN_EINVAL;
    }
    json_object_foreach((json_t *)headers, name, v)
    {
        const char *value = json_string_value(v);
        if (st->nheaders == HEADERS_MAX) {
            set_err(err, cap, "\"http.headers\": more than %d headers", HEADERS_MAX);
            return HUB_PLUGIN_EINVAL;
        }
        if (!header_name_ok(name) || value == NULL || !printable(value, HEADER_MAX)) {
            set_err(err, cap,
                    "\"http.headers\": bad header \"%.64s\" (a token name, a string "
                    "value without control characters)",
                    name);
            return HUB_PLUGIN_EINVAL;
        }
        if (name_is(name, "Idempotency-Key") || name_is(name, "Content-Length")) {
            set_err(err, cap, "\"http.headers\": \"%.64s\" is set by the plugin", name);
            return HUB_PLUGIN_EINVAL;
        }
        hub_http_header *h = &st->headers[st->nheaders];
        h->name = dup_str(name);
        h->value = dup_str(value);
        st->nheaders++; /* counted first, so chat_free releases a half-made pair */
        if (h->name == NULL || h->value == NULL)
            return HUB_PLUGIN_ENOMEM;
        if (name_is(name, "Content-Type"))
            st->has_content_type = 1;
    }
    return 0;
}

static int parse_http(chat_state *st, const json_t *http, char *err, size_t cap)
{
    const char *key;
    const json_t *v;
    if (!json_is_object(http)) {
        set_err(err, cap, "\"http\" must be an object");
        return HUB_PLUGIN_EINVAL;
    }
    json_object_foreach((json_t *)http, key, v)
    {
        int rc = 0;
        if (strcmp(key, "url") == 0) {
            const char *url = json_string_value(v);
            if (url == NULL || !printable(url, URL_MAX) || strchr(url, ' ') != NULL ||
                (strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0)) {
                set_err(err, cap, "\"http.url\" must be an http:// or https:// URL");
                return HUB_PLUGIN_EINVAL;
            }
            st->url = dup_str(url);
            rc = st->url == NULL ? HUB_PLUGIN_ENOMEM : 0;
        } else if (strcmp(key, "headers") == 0) {
            rc = parse_headers(st, v, err, cap);
        } else {
            set_err(err, cap, "unknown key \"http.%.64s\"", key);
            rc = HUB_PLUGIN_EINVAL;
        }
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* One top-level member of the configuration. */
static int parse_key(chat_state *st, const char *key, const json_t *v, char *err, size_t cap)
{
    const char *s = json_string_value(v);
    if (strcmp(key, "driver") == 0) {
        if (s != NULL && strcmp(s, "outbox") == 0) {
            st->driver = DRIVER_OUTBOX;
        } else if (s != NULL && strcmp(s, "http") == 0) {
            st->driver = DRIVER_HTTP;
        } else {
            set_err(err, cap, "\"driver\" must be \"outbox\" or \"http\"");
            return HUB_PLUGIN_EINVAL;
        }
        return 0;
    }
    if (strcmp(key, "http") == 0)
        return parse_http(st, v, err, cap);
    if (strcmp(key, "username") == 0) {
        if (s == NULL || !printable(s, USERNAME_MAX)) {
            set_err(err, cap, "\"username\" must be a string of 1 to %d bytes", USERNAME_MAX);
            return HUB_PLUGIN_EINVAL;
        }
        st->username = dup_str(s);
        return st->username == NULL ? HUB_PLUGIN_ENOMEM : 0;
    }
    set_err(err, cap, "unknown key \"%.64s\"", key);
    return HUB_PLUGIN_EINVAL;
}

static int chat_create(const hub_plugin_create_in *in, void **state, char *err, size_t errcap)
{
    const char *key;
    const json_t *v;
    int rc = 0;
    chat_state *st = calloc(1, sizeof(*st));
    if (st == NULL)
        return HUB_PLUGIN_ENOMEM;
    st->host = in->host;
    st->driver = DRIVER_OUTBOX;
    json_object_foreach((json_t *)in->config, key, v)
    {
        rc = parse_key(st, key, v, err, errcap);
        if (rc != 0)
            break;
    }
    if (rc == 0 && st->driver == DRIVER_HTTP && st->url == NULL) {
        set_err(err, errcap, "\"http.url\" is required when \"driver\" is \"http\"");
        rc = HUB_PLUGIN_EINVAL;
    }
    if (rc != 0) {
        if (rc == HUB_PLUGIN_ENOMEM)
            set_err(err, errcap, "out of memory");
        chat_free(st);
        return rc;
    }
    *state = st;
    return 0;
}

static const hub_plugin_schema *chat_fields(void *state)
{
    return &schema;
}

/* ---- validate and render ------------------------------------------------------------------- */

/*
 * The checks validate() and render() share. At publish the hub renders the fields with every
 * variable empty, so a text over the limit there is over it for every recipient; at render
 * the same check sees the real text.
 */
static int check_lengths(const chat_state *st, const hub_render_in *in, hub_report *report)
{
    hub_str text = in->fields[F_TEXT], title = in->fields[F_TITLE];
    int problems = 0;
    if (text.ptr != NULL && text.len > TEXT_MAX) {
        st->host->report_problem(report, "text",
                                 "the text is %zu bytes after rendering; a chat message takes "
                                 "at most %d",
                                 text.len, TEXT_MAX);
        problems++;
    }
    if (title.ptr != NULL && title.len > TITLE_MAX)
        st->host->report_warning(report, "chat_title_long",
                                 "the title is %zu bytes after rendering; over %d it wraps "
                                 "badly in most chat clients",
                                 title.len, TITLE_MAX);
    return problems;
}

static int chat_validate(void *state, const hub_render_in *in, hub_report *report)
{
    if (in->nfields != 2)
        return HUB_PLUGIN_EINVAL;
    check_lengths(state, in, report);
    return 0;
}

/* "*title*\ntext" (or the text alone) into a new buffer of *len bytes. */
static char *message_text(hub_str title, hub_str text, size_t *len)
{
    size_t n = title.ptr != NULL ? title.len + 3 : 0;
    char *m = malloc(n + text.len + 1);
    if (m == NULL)
        return NULL;
    if (title.ptr != NULL) {
        m[0] = '*';
        memcpy(m + 1, title.ptr, title.len);
        memcpy(m + 1 + title.len, "*\n", 2);
    }
    memcpy(m + n, text.ptr, text.len);
    *len = n + text.len;
    return m;
}

static int chat_render(void *state, const hub_render_in *in, hub_out *a, hub_report *report)
{
    const chat_state *st = state;
    const hub_host_api *h = st->host;
    hub_str text = in->fields[F_TEXT], title = in->fields[F_TITLE];
    size_t mlen = 0;
    if (in->nfields != 2)
        return HUB_PLUGIN_EINVAL;
    if (blank(text)) {
        h->report_problem(report, "text", "the text is empty after rendering");
        return HUB_PLUGIN_EINVAL;
    }
    if (check_lengths(st, in, report) > 0)
        return HUB_PLUGIN_EINVAL;
    title = trim(title); /* "* Title *" would not be bold */
    if (blank(title))
        title.ptr = NULL;
    char *msg = message_text(title, text, &mlen);
    if (msg == NULL)
        return HUB_PLUGIN_ENOMEM;
    /* Every string through out_json_string: it escapes, and refuses invalid UTF-8. */
    int rc = h->out_append(a, "{\"text\":", 8);
    if (rc == 0)
        rc = h->out_json_string(a, text.ptr, text.len);
    if (rc == 0)
        rc = h->out_append(a, ",\"title\":", 9);
    if (rc == 0)
        rc = title.ptr != NULL ? h->out_json_string(a, title.ptr, title.len)
                               : h->out_append(a, "null", 4);
    if (rc == 0)
        rc = h->out_append(a, ",\"payload\":{\"text\":", 19);
    if (rc == 0)
        rc = h->out_json_string(a, msg, mlen);
    if (rc == 0 && st->username != NULL) {
        rc = h->out_append(a, ",\"username\":", 12);
        if (rc == 0)
            rc = h->out_json_string(a, st->username, strlen(st->username));
    }
    if (rc == 0)
        rc = h->out_append(a, "}}", 2);
    free(msg);
    return rc;
}

/* ---- deliver ------------------------------------------------------------------------------- */

/* A transport's OK is not enough when the webhook answered with an error status. */
static int classify(int rc, uint32_t status, char *err, size_t cap)
{
    if (rc != HUB_DELIVER_OK || status == 0 || (status >= 200 && status < 300))
        return rc;
    set_err(err, cap, "the webhook answered HTTP %u", status);
    return status == 429 || status >= 500 ? HUB_DELIVER_RETRY : HUB_DELIVER_FAIL;
}

static int deliver_http(const chat_state *st, const hub_deliver_in *in, const char *body,
                        hub_deliver_out *out)
{
    hub_http_header hdrs[HEADERS_MAX + 2];
    uint32_t n = 0;
    if (!st->has_content_type)
        hdrs[n++] = (hub_http_header){"Content-Type", "application/json"};
    /* The same message id on every attempt: a webhook that honours the key drops repeats. */
    hdrs[n++] = (hub_http_header){"Idempotency-Key", in->message_id};
    for (uint32_t i = 0; i < st->nheaders; i++)
        hdrs[n++] = st->headers[i];
    hub_http_request req = {sizeof(req), n, "POST", st->url, hdrs, {body, strlen(body)}, 0, 0};
    hub_http_response res = {sizeof(res), 0, NULL, 0};
    int rc = st->host->http_request(&req, &res, out->error, out->error_cap);
    rc = classify(rc, res.status, out->error, out->error_cap);
    if (rc == HUB_DELIVER_RETRY)
        out->retry_after_ms = res.retry_after_ms;
    return rc;
}

static int chat_deliver(void *state, const hub_deliver_in *in, hub_deliver_out *out)
{
    const chat_state *st = state;
    json_error_t je;
    int rc;
    if (in->message_id == NULL || in->message_id[0] == '\0') {
        set_err(out->error, out->error_cap, "no message id");
        return HUB_DELIVER_FAIL;
    }
    json_t *art = json_loadb(in->artifact.ptr, in->artifact.len, 0, &je);
    const json_t *payload = json_object_get(art, "payload");
    char *body = json_is_object(payload) ? json_dumps(payload, JSON_COMPACT) : NULL;
    if (body == NULL) {
        set_err(out->error, out->error_cap, "the artifact is not a chat artifact");
        rc = HUB_DELIVER_FAIL;
    } else if (st->driver == DRIVER_HTTP) {
        rc = deliver_http(st, in, body, out);
    } else {
        rc = st->host->outbox_write(PLUGIN_NAME, in->message_id, ".json", body, strlen(body),
                                    out->error, out->error_cap);
    }
    if (rc == HUB_DELIVER_OK)
        st->host->metric_add(PLUGIN_NAME, "sent", 1);
    free(body);
    json_decref(art);
    return rc;
}

/* ---- the entry point ----------------------------------------------------------------------- */

static const hub_plugin plugin = {
    .struct_size = sizeof(hub_plugin),
    .abi_major = OMNIHUB_PLUGIN_ABI_MAJOR,
    .abi_minor = OMNIHUB_PLUGIN_ABI_MINOR,
    .name = PLUGIN_NAME,
    .version = "1.0.0",
    .description = "chat incoming webhooks (Slack, Mattermost, Google Chat): a text and a title",
    .create = chat_create,
    .fields = chat_fields,
    .validate = chat_validate,
    .render = chat_render,
    .deliver = chat_deliver,
    .free = chat_free,
};

OMNIHUB_PLUGIN_EXPORT int omnihub_plugin_entry(const hub_host_api *host, uint32_t abi_major,
                                               const hub_plugin **out)
{
    /* Every host function used here exists since ABI 1.0; a plugin that needed a member of a
     * later minor would check HUB_PLUGIN_HAS(host, member) and decline without it. */
    if (abi_major != OMNIHUB_PLUGIN_ABI_MAJOR || !HUB_PLUGIN_HAS(host, out_free))
        return HUB_PLUGIN_EINVAL;
    *out = &plugin;
    return 0;
}
