/*
 * The sms channel's configuration, channels.sms of the configuration file:
 *   "driver"        "outbox" (default) or "http"
 *   "max_segments"  refuse a text of more segments, 1..255 (default 10)
 *   "require_stop"  true: refuse a text without an opt-out keyword (default false)
 *   "stop_keywords" 1 to 16 opt-out keywords (default ["STOP"])
 *   "sender"        the sender id handed to the gateway, or null
 *   "http"          {"url": an http(s) gateway, required with the http driver,
 *                    "headers": {name: one-line value} (not Idempotency-Key, which the
 *                    plugin sets), "body": a Liquid template of the request body,
 *                    "timeout_ms": 0..600000}
 * The keys are read in the file's order; the first unknown key or wrong value refuses the
 * plugin with one line naming it. The body template is compiled here, at start-up.
 */
#include <stdlib.h>
#include <string.h>

#include "gsm7.h"
#include "sms.h"

#define STOP_KEYWORD_BYTES  64
#define SENDER_BYTES        64
#define URL_BYTES           2048
#define HEADER_VALUE_BYTES  1024
#define BODY_TEMPLATE_BYTES (64 * 1024)
#define TIMEOUT_MS_MAX      600000

#define DEFAULT_BODY                                                                               \
    "{\"to\":\"{{ recipient.phone }}\",\"text\":\"{{ text }}\",\"id\":\"{{ message_id }}\"}"

void sms_state_free(sms_state *st)
{
    if (st == NULL)
        return;
    for (size_t i = 0; i < st->nstop; i++)
        free(st->stop[i]);
    kit_headers_free(&st->headers);
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

static int parse_headers(sms_state *st, const json_t *v, char *err, size_t cap)
{
    const char *name;
    const json_t *val;
    if (!json_is_object(v))
        return kit_err(err, cap, HUB_PLUGIN_EINVAL, "http.headers: must be an object of strings");
    json_object_foreach((json_t *)v, name, val)
    {
        const char *s = json_string_value(val);
        size_t n = json_string_length(val);
        if (!kit_header_name_ok(name))
            return kit_err(err, cap, HUB_PLUGIN_EINVAL,
                           "http.headers: \"%.64s\" is not a header name", name);
        if (s == NULL || n > HEADER_VALUE_BYTES || has_control(s, n))
            return kit_err(err, cap, HUB_PLUGIN_EINVAL,
                           "http.headers.%s: must be a string of at most %d bytes on one line",
                           name, HEADER_VALUE_BYTES);
        if (kit_ascii_ieq(name, "Idempotency-Key"))
            return kit_err(err, cap, HUB_PLUGIN_EINVAL,
                           "http.headers.%s: the plugin sets it (the message id)", name);
        if (st->headers.n == KIT_HEADERS_MAX)
            return kit_err(err, cap, HUB_PLUGIN_EINVAL, "http.headers: at most %d headers",
                           KIT_HEADERS_MAX);
        if (kit_headers_add(&st->headers, name, s, n) != 0)
            return HUB_PLUGIN_ENOMEM;
        if (kit_ascii_ieq(name, "Content-Type"))
            st->has_content_type = 1;
    }
    return 0;
}

static int parse_http_key(sms_state *st, const char *key, const json_t *v, char *err, size_t cap)
{
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    json_int_t t;
    if (strcmp(key, "url") == 0) {
        if (s == NULL || n > URL_BYTES || kit_has_space_or_control(s, n) || !kit_http_url(s))
            return kit_err(err, cap, HUB_PLUGIN_EINVAL,
                           "http.url: must be an http:// or https:// URL");
        free(st->url);
        st->url = kit_strndup(s, n);
        return st->url != NULL ? 0 : HUB_PLUGIN_ENOMEM;
    }
    if (strcmp(key, "headers") == 0)
        return parse_headers(st, v, err, cap);
    if (strcmp(key, "body") == 0) {
        if (s == NULL || n == 0 || n > BODY_TEMPLATE_BYTES)
            return kit_err(err, cap, HUB_PLUGIN_EINVAL,
                           "http.body: must be a Liquid template of 1 to %d bytes",
                           BODY_TEMPLATE_BYTES);
        free(st->body);
        st->body = kit_strndup(s, n);
        st->body_len = n;
        return st->body != NULL ? 0 : HUB_PLUGIN_ENOMEM;
    }
    if (strcmp(key, "timeout_ms") == 0) {
        if (!kit_int_in(v, 0, TIMEOUT_MS_MAX, &t))
            return kit_err(err, cap, HUB_PLUGIN_EINVAL,
                           "http.timeout_ms: must be an integer from 0 to %d", TIMEOUT_MS_MAX);
        st->timeout_ms = (uint32_t)t;
        return 0;
    }
    return kit_err(err, cap, HUB_PLUGIN_EINVAL, "http: unknown key \"%.64s\"", key);
}

static int parse_http(sms_state *st, const json_t *v, char *err, size_t cap)
{
    const char *k;
    const json_t *hv;
    if (!json_is_object(v))
        return kit_err(err, cap, HUB_PLUGIN_EINVAL, "http: must be an object");
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
    if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > STOP_KEYWORDS_MAX)
        return kit_err(err, cap, HUB_PLUGIN_EINVAL,
                       "stop_keywords: must be an array of 1 to %d strings", STOP_KEYWORDS_MAX);
    for (size_t k = 0; k < st->nstop; k++)
        free(st->stop[k]);
    st->nstop = 0;
    json_array_foreach(v, i, kw)
    {
        const char *s = json_string_value(kw);
        size_t n = json_string_length(kw);
        if (s == NULL || n == 0 || n > STOP_KEYWORD_BYTES || has_control(s, n) || !utf8_ok(s, n))
            return kit_err(err, cap, HUB_PLUGIN_EINVAL,
                           "stop_keywords[%zu]: must be a string of 1 to %d bytes", i,
                           STOP_KEYWORD_BYTES);
        st->stop[st->nstop] = kit_strndup(s, n);
        st->stop_len[st->nstop] = n;
        if (st->stop[st->nstop] == NULL)
            return HUB_PLUGIN_ENOMEM;
        st->nstop++;
    }
    return 0;
}

static int parse_sender(sms_state *st, const json_t *v, char *err, size_t cap)
{
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (json_is_null(v))
        return 0;
    if (s == NULL || n == 0 || n > SENDER_BYTES || has_control(s, n))
        return kit_err(err, cap, HUB_PLUGIN_EINVAL, "sender: must be a string of 1 to %d bytes",
                       SENDER_BYTES);
    free(st->sender);
    st->sender = kit_strndup(s, n);
    return st->sender != NULL ? 0 : HUB_PLUGIN_ENOMEM;
}

static int parse_key(sms_state *st, const char *key, const json_t *v, char *err, size_t cap)
{
    static const char *const drivers[] = {"outbox", "http", NULL}; /* DRIVER_* order */
    json_int_t n;
    if (strcmp(key, "driver") == 0) {
        int d = kit_string_enum(v, drivers);
        if (d < 0)
            return kit_err(err, cap, HUB_PLUGIN_EINVAL, "driver: must be \"outbox\" or \"http\"");
        st->driver = d;
        return 0;
    }
    if (strcmp(key, "http") == 0)
        return parse_http(st, v, err, cap);
    if (strcmp(key, "max_segments") == 0) {
        if (!kit_int_in(v, 1, 255, &n))
            return kit_err(err, cap, HUB_PLUGIN_EINVAL,
                           "max_segments: must be an integer from 1 to 255");
        st->max_segments = (unsigned)n;
        return 0;
    }
    if (strcmp(key, "require_stop") == 0) {
        if (!json_is_boolean(v))
            return kit_err(err, cap, HUB_PLUGIN_EINVAL, "require_stop: must be true or false");
        st->require_stop = json_is_true(v);
        return 0;
    }
    if (strcmp(key, "stop_keywords") == 0)
        return parse_stop_keywords(st, v, err, cap);
    if (strcmp(key, "sender") == 0)
        return parse_sender(st, v, err, cap);
    return kit_err(err, cap, HUB_PLUGIN_EINVAL, "unknown key \"%.64s\"", key);
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
    if (rc != 0)
        return kit_err(err, cap, HUB_PLUGIN_EINVAL, "http.body: %s",
                       why[0] ? why : "the template does not render");
    return 0;
}

/* The defaults: the outbox, 10 segments, the keyword STOP, the JSON body template. */
static sms_state *state_new(const hub_host_api *host)
{
    sms_state *st = calloc(1, sizeof(*st));
    if (st == NULL)
        return NULL;
    st->host = host;
    st->driver = DRIVER_OUTBOX;
    st->max_segments = 10;
    st->stop[0] = kit_strndup("STOP", 4);
    st->stop_len[0] = 4;
    st->nstop = st->stop[0] != NULL;
    st->body = kit_strdup(DEFAULT_BODY);
    st->body_len = strlen(DEFAULT_BODY);
    if (st->nstop == 0 || st->body == NULL) {
        sms_state_free(st);
        return NULL;
    }
    return st;
}

int sms_config_parse(const hub_host_api *host, const json_t *config, sms_state **out, char *err,
                     size_t errcap)
{
    const char *key;
    const json_t *v;
    int rc = 0;
    sms_state *st = state_new(host);
    *out = NULL;
    if (st == NULL)
        return HUB_PLUGIN_ENOMEM;
    if (config != NULL && !json_is_object(config))
        rc = kit_err(err, errcap, HUB_PLUGIN_EINVAL, "the sms configuration must be an object");
    if (rc == 0 && config != NULL) {
        json_object_foreach((json_t *)config, key, v)
        {
            rc = parse_key(st, key, v, err, errcap);
            if (rc != 0)
                break;
        }
    }
    if (rc == 0 && st->driver == DRIVER_HTTP && st->url == NULL)
        rc = kit_err(err, errcap, HUB_PLUGIN_EINVAL, "http.url: required when driver is \"http\"");
    if (rc == 0) {
        size_t i = 0;
        while (i < st->body_len && strchr(" \t\r\n", st->body[i]) != NULL)
            i++;
        st->body_json = i < st->body_len && (st->body[i] == '{' || st->body[i] == '[');
        rc = check_body(st, err, errcap);
    }
    if (rc != 0) {
        sms_state_free(st);
        return rc;
    }
    *out = st;
    return 0;
}
