/*
 * mobile: the push notification channel. One notification (title, body, image, deep link,
 * data) is rendered as both an APNs payload and an FCM HTTP v1 message; each is checked
 * against the 4096 bytes both services accept (a problem over it, a "push_size" warning past
 * warn_bytes). deliver() writes the artifact to the outbox, or posts one request per device
 * token to an HTTP push gateway.
 *
 * Artifact: {"apns": {...}, "fcm": {"message": {...}}, "bytes": {"apns": n, "fcm": n}}, n the
 * length of that payload's compact JSON exactly as this plugin serializes and sends it.
 *
 * The data field (an object of strings) goes into the APNs payload's top level and FCM's
 * data; keys either service reserves are refused ("aps", "from", "notification",
 * "message_type", "google.*", "gcm.*"), and so are "deep_link" and "image", which the
 * fields of the same names set there.
 *
 * Configuration (channels.mobile): "driver" "outbox" (default) | "http"; "http" {"url",
 * "headers", "timeout_ms"}; "apns" {"sound", "category", "thread_id"}; "fcm"
 * {"android_channel_id", "priority"}; "warn_bytes". Unknown keys refuse the plugin.
 *
 * Threads: the state is read-only after create(); validate, render and deliver keep all
 * they build on their own stack and heap.
 */
#include <jansson.h>
#include <omnihub/plugin.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PUSH_MAX_BYTES    4096
#define PUSH_WARN_DEFAULT 3686 /* 90% of 4096 */
#define MAX_HEADERS       32
#define MAX_TIMEOUT_MS    600000

enum { F_TITLE, F_BODY, F_IMAGE, F_DEEP_LINK, F_DATA, NFIELDS };
enum { DRIVER_OUTBOX, DRIVER_HTTP };

/* ---- the field schema ---------------------------------------------------------------------- */

#define FIELD(kind, name, req, max, desc)                                                          \
    {                                                                                              \
        sizeof(hub_plugin_field), kind, name, req, 0, max, desc                                    \
    }

static const hub_plugin_field f_title =
    FIELD(HUB_FIELD_TEXT, "title", 1, 500, "the notification's title");
static const hub_plugin_field f_body =
    FIELD(HUB_FIELD_TEXT, "body", 1, 4000, "the notification's text");
static const hub_plugin_field f_image =
    FIELD(HUB_FIELD_URL, "image", 0, 2048, "an https:// image shown with the notification");
static const hub_plugin_field f_deep_link =
    FIELD(HUB_FIELD_URL, "deep_link", 0, 2048, "where a tap leads: app-scheme:// or https://");
static const hub_plugin_field f_data =
    FIELD(HUB_FIELD_OBJECT, "data", 0, 4096, "string key/values handed to the app");

static const hub_plugin_field *const field_list[NFIELDS] = {&f_title, &f_body, &f_image,
                                                            &f_deep_link, &f_data};
static const hub_plugin_schema schema = {sizeof(hub_plugin_schema), NFIELDS, field_list};

/* ---- state and configuration --------------------------------------------------------------- */

typedef struct mobile_state {
    const hub_host_api *host;
    int driver;
    char *url;
    char *hname[MAX_HEADERS];
    char *hvalue[MAX_HEADERS];
    uint32_t nheaders;
    uint32_t timeout_ms;
    char *sound; /* NULL: no sound member */
    char *category;
    char *thread_id;
    char *channel_id;
    const char *priority; /* "high" or "normal" (static) */
    size_t warn_bytes;
} mobile_state;

static void mobile_free(void *state)
{
    mobile_state *st = state;
    if (st == NULL)
        return;
    free(st->url);
    for (uint32_t i = 0; i < st->nheaders; i++) {
        free(st->hname[i]);
        free(st->hvalue[i]);
    }
    free(st->sound);
    free(st->category);
    free(st->thread_id);
    free(st->channel_id);
    free(st);
}

static int cfg_err(char *err, size_t errcap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int cfg_err(char *err, size_t errcap, const char *fmt, ...)
{
    if (err != NULL && errcap > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errcap, fmt, ap);
        va_end(ap);
    }
    return HUB_PLUGIN_EINVAL;
}

static int cfg_nomem(char *err, size_t errcap)
{
    cfg_err(err, errcap, "out of memory");
    return HUB_PLUGIN_ENOMEM;
}

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d != NULL)
        memcpy(d, s, n);
    return d;
}

/* The first key of obj not in allowed (NULL-terminated), or NULL. */
static const char *unknown_key(const json_t *obj, const char *const *allowed)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v)
    {
        size_t i = 0;
        while (allowed[i] != NULL && strcmp(allowed[i], key) != 0)
            i++;
        if (allowed[i] == NULL)
            return key;
    }
    return NULL;
}

/* obj[key] when present: a string (copied into *out, replacing it) or null (*out = NULL). */
static int opt_str(const json_t *obj, const char *where, const char *key, char **out, char *err,
                   size_t errcap)
{
    const json_t *v = json_object_get(obj, key);
    if (v == NULL)
        return 0;
    if (!json_is_null(v) && !json_is_string(v))
        return cfg_err(err, errcap, "channels.mobile.%s.%s: must be a string or null", where, key);
    free(*out);
    *out = NULL;
    if (json_is_string(v) && (*out = dup_str(json_string_value(v))) == NULL)
        return cfg_nomem(err, errcap);
    return 0;
}

static int ascii_ieq(const char *a, const char *b)
{
    for (; *a != '\0' && *b != '\0'; a++, b++) {
        char x = *a >= 'A' && *a <= 'Z' ? (char)(*a - 'A' + 'a') : *a;
        char y = *b >= 'A' && *b <= 'Z' ? (char)(*b - 'A' + 'a') : *b;
        if (x != y)
            return 0;
    }
    return *a == *b;
}

/* An HTTP field name (RFC 9110 token). */
static int header_name_ok(const char *s)
{
    static const char extra[] = "!#$%&'*+-.^_`|~";
    if (*s == '\0' || strlen(s) > 64)
        return 0;
    for (; *s != '\0'; s++) {
        char c = *s;
        int alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && strchr(extra, c) == NULL)
            return 0;
    }
    return 1;
}

static int header_value_ok(const json_t *v)
{
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (strlen(s) != n || n > 1024)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] == '\r' || s[i] == '\n')
            return 0;
    return 1;
}

static int parse_headers(mobile_state *st, const json_t *h, char *err, size_t errcap)
{
    const char *name;
    json_t *v;
    if (!json_is_object(h))
        return cfg_err(err, errcap, "channels.mobile.http.headers: must be an object");
    if (json_object_size(h) > MAX_HEADERS)
        return cfg_err(err, errcap, "channels.mobile.http.headers: more than %d headers",
                       MAX_HEADERS);
    json_object_foreach((json_t *)h, name, v)
    {
        if (!header_name_ok(name))
            return cfg_err(err, errcap, "channels.mobile.http.headers: bad header name \"%.64s\"",
                           name);
        if (ascii_ieq(name, "content-type") || ascii_ieq(name, "idempotency-key"))
            return cfg_err(err, errcap, "channels.mobile.http.headers.%s: set by the plugin", name);
        if (!json_is_string(v) || !header_value_ok(v))
            return cfg_err(err, errcap,
                           "channels.mobile.http.headers.%s: must be a one-line string", name);
        st->hname[st->nheaders] = dup_str(name);
        st->hvalue[st->nheaders] = dup_str(json_string_value(v));
        st->nheaders++;
        if (st->hname[st->nheaders - 1] == NULL || st->hvalue[st->nheaders - 1] == NULL)
            return cfg_nomem(err, errcap);
    }
    return 0;
}

static int parse_http(mobile_state *st, const json_t *http, char *err, size_t errcap)
{
    static const char *const keys[] = {"url", "headers", "timeout_ms", NULL};
    const char *k;
    const json_t *v;
    int rc;
    if (!json_is_object(http))
        return cfg_err(err, errcap, "channels.mobile.http: must be an object");
    if ((k = unknown_key(http, keys)) != NULL)
        return cfg_err(err, errcap, "channels.mobile.http: unknown key \"%.64s\"", k);
    if ((rc = opt_str(http, "http", "url", &st->url, err, errcap)) != 0)
        return rc;
    if (st->url != NULL && strncmp(st->url, "http://", 7) != 0 &&
        strncmp(st->url, "https://", 8) != 0)
        return cfg_err(err, errcap, "channels.mobile.http.url: must be an http:// or https:// URL");
    if ((v = json_object_get(http, "headers")) != NULL &&
        (rc = parse_headers(st, v, err, errcap)) != 0)
        return rc;
    if ((v = json_object_get(http, "timeout_ms")) != NULL) {
        if (!json_is_integer(v) || json_integer_value(v) < 0 ||
            json_integer_value(v) > MAX_TIMEOUT_MS)
            return cfg_err(err, errcap, "channels.mobile.http.timeout_ms: must be an integer 0..%d",
                           MAX_TIMEOUT_MS);
        st->timeout_ms = (uint32_t)json_integer_value(v);
    }
    return 0;
}

static int parse_apns(mobile_state *st, const json_t *apns, char *err, size_t errcap)
{
    static const char *const keys[] = {"sound", "category", "thread_id", NULL};
    const char *k;
    int rc;
    if (!json_is_object(apns))
        return cfg_err(err, errcap, "channels.mobile.apns: must be an object");
    if ((k = unknown_key(apns, keys)) != NULL)
        return cfg_err(err, errcap, "channels.mobile.apns: unknown key \"%.64s\"", k);
    if ((rc = opt_str(apns, "apns", "sound", &st->sound, err, errcap)) != 0 ||
        (rc = opt_str(apns, "apns", "category", &st->category, err, errcap)) != 0 ||
        (rc = opt_str(apns, "apns", "thread_id", &st->thread_id, err, errcap)) != 0)
        return rc;
    return 0;
}

static int parse_fcm(mobile_state *st, const json_t *fcm, char *err, size_t errcap)
{
    static const char *const keys[] = {"android_channel_id", "priority", NULL};
    const char *k;
    const json_t *v;
    int rc;
    if (!json_is_object(fcm))
        return cfg_err(err, errcap, "channels.mobile.fcm: must be an object");
    if ((k = unknown_key(fcm, keys)) != NULL)
        return cfg_err(err, errcap, "channels.mobile.fcm: unknown key \"%.64s\"", k);
    if ((rc = opt_str(fcm, "fcm", "android_channel_id", &st->channel_id, err, errcap)) != 0)
        return rc;
    if ((v = json_object_get(fcm, "priority")) != NULL) {
        const char *p = json_string_value(v);
        if (p == NULL || (strcmp(p, "high") != 0 && strcmp(p, "normal") != 0))
            return cfg_err(err, errcap,
                           "channels.mobile.fcm.priority: must be \"high\" or \"normal\"");
        st->priority = strcmp(p, "high") == 0 ? "high" : "normal";
    }
    return 0;
}

static int parse_config(mobile_state *st, const json_t *cfg, char *err, size_t errcap)
{
    static const char *const keys[] = {"driver", "http", "apns", "fcm", "warn_bytes", NULL};
    const char *k;
    const json_t *v;
    int rc;
    if (cfg == NULL)
        return 0;
    if (!json_is_object(cfg))
        return cfg_err(err, errcap, "channels.mobile: must be an object");
    if ((k = unknown_key(cfg, keys)) != NULL)
        return cfg_err(err, errcap, "channels.mobile: unknown key \"%.64s\"", k);
    if ((v = json_object_get(cfg, "driver")) != NULL) {
        const char *d = json_string_value(v);
        if (d == NULL || (strcmp(d, "outbox") != 0 && strcmp(d, "http") != 0))
            return cfg_err(err, errcap, "channels.mobile.driver: must be \"outbox\" or \"http\"");
        st->driver = strcmp(d, "http") == 0 ? DRIVER_HTTP : DRIVER_OUTBOX;
    }
    if ((v = json_object_get(cfg, "http")) != NULL && (rc = parse_http(st, v, err, errcap)) != 0)
        return rc;
    if ((v = json_object_get(cfg, "apns")) != NULL && (rc = parse_apns(st, v, err, errcap)) != 0)
        return rc;
    if ((v = json_object_get(cfg, "fcm")) != NULL && (rc = parse_fcm(st, v, err, errcap)) != 0)
        return rc;
    if ((v = json_object_get(cfg, "warn_bytes")) != NULL) {
        if (!json_is_integer(v) || json_integer_value(v) < 0 ||
            json_integer_value(v) > PUSH_MAX_BYTES)
            return cfg_err(err, errcap, "channels.mobile.warn_bytes: must be an integer 0..%d",
                           PUSH_MAX_BYTES);
        st->warn_bytes = (size_t)json_integer_value(v);
    }
    if (st->driver == DRIVER_HTTP && st->url == NULL)
        return cfg_err(err, errcap, "channels.mobile.http.url: required with driver \"http\"");
    return 0;
}

static int mobile_create(const hub_plugin_create_in *in, void **state, char *err, size_t errcap)
{
    mobile_state *st = calloc(1, sizeof(*st));
    if (st == NULL || (st->sound = dup_str("default")) == NULL) {
        free(st);
        return cfg_nomem(err, errcap);
    }
    st->host = in->host;
    st->driver = DRIVER_OUTBOX;
    st->priority = "high";
    st->warn_bytes = PUSH_WARN_DEFAULT;
    int rc = parse_config(st, in->config, err, errcap);
    if (rc != 0) {
        mobile_free(st);
        return rc;
    }
    *state = st;
    return 0;
}

static const hub_plugin_schema *mobile_fields(void *state)
{
    (void)state;
    return &schema;
}

/* ---- checking the fields ------------------------------------------------------------------- */

/* Well-formed UTF-8: no overlongs, no surrogates, nothing past U+10FFFF. */
static int utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        unsigned char b = p[i];
        size_t n = b < 0x80                 ? 1
                   : b >= 0xC2 && b <= 0xDF ? 2
                   : b >= 0xE0 && b <= 0xEF ? 3
                   : b >= 0xF0 && b <= 0xF4 ? 4
                                            : 0;
        if (n == 0 || len - i < n)
            return 0;
        for (size_t k = 1; k < n; k++)
            if ((p[i + k] & 0xC0) != 0x80)
                return 0;
        if ((b == 0xE0 && p[i + 1] < 0xA0) || (b == 0xED && p[i + 1] > 0x9F) ||
            (b == 0xF0 && p[i + 1] < 0x90) || (b == 0xF4 && p[i + 1] > 0x8F))
            return 0;
        i += n;
    }
    return 1;
}

static int present(hub_str s)
{
    return s.ptr != NULL && s.len > 0;
}

/* RFC 3986 scheme followed by "://": its length, or 0. */
static size_t scheme_len(const char *u, size_t n)
{
    size_t i = 0;
    while (i < n) {
        char c = u[i];
        int alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        if (!alpha && (i == 0 || !((c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.')))
            break;
        i++;
    }
    return i > 0 && n - i >= 3 && memcmp(u + i, "://", 3) == 0 ? i : 0;
}

static int scheme_is(const char *u, size_t slen, const char *name)
{
    if (strlen(name) != slen)
        return 0;
    for (size_t i = 0; i < slen; i++) {
        char c = u[i] >= 'A' && u[i] <= 'Z' ? (char)(u[i] - 'A' + 'a') : u[i];
        if (c != name[i])
            return 0;
    }
    return 1;
}

/* Why the URL in field `name` is refused, or NULL. image: https:// with something after;
 * deep_link: any "scheme://" but the script and local ones. */
static const char *url_refusal(hub_str u, int is_image)
{
    for (size_t i = 0; i < u.len; i++) {
        unsigned char c = (unsigned char)u.ptr[i];
        if (c <= 0x20 || c == 0x7F)
            return "must not contain spaces or control characters";
    }
    size_t sl = scheme_len(u.ptr, u.len);
    if (is_image)
        return sl > 0 && scheme_is(u.ptr, sl, "https") && u.len > sl + 3
                   ? NULL
                   : "must be an https:// URL";
    if (sl == 0)
        return "must be a URL of the form scheme://... (an app scheme or https)";
    if (scheme_is(u.ptr, sl, "javascript") || scheme_is(u.ptr, sl, "data") ||
        scheme_is(u.ptr, sl, "vbscript") || scheme_is(u.ptr, sl, "file"))
        return "must not use a script or file scheme";
    return NULL;
}

static int data_key_reserved(const char *k)
{
    static const char *const names[] = {"aps",          "from",      "notification",
                                        "message_type", "deep_link", "image"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(k, names[i]) == 0)
            return 1;
    return strncmp(k, "google.", 7) == 0 || strncmp(k, "gcm.", 4) == 0;
}

/* What the payloads are built from, after the checks: refused parts are left out. */
typedef struct push_in {
    hub_str title;
    hub_str body;
    hub_str image;     /* .ptr NULL: absent or refused */
    hub_str deep_link; /* likewise */
    json_t *data;      /* new: an object of string values, or NULL */
} push_in;

/* Parses the data field; reports and drops what cannot be sent. Returns the problems. */
static int check_data(const mobile_state *st, hub_str s, hub_report *r, json_t **out)
{
    json_error_t je;
    const char *key;
    json_t *v, *tmp;
    int problems = 0;
    json_t *d = json_loadb(s.ptr, s.len, JSON_REJECT_DUPLICATES, &je);
    if (d == NULL || !json_is_object(d)) {
        st->host->report_problem(r, "data", "must be a JSON object of string values");
        json_decref(d);
        return 1;
    }
    json_object_foreach_safe(d, tmp, key, v)
    {
        const char *why = data_key_reserved(key) ? "is reserved by APNs or FCM"
                          : !json_is_string(v)   ? "must have a string value"
                                                 : NULL;
        if (why != NULL) {
            st->host->report_problem(r, "data", "key \"%.64s\" %s", key, why);
            problems++;
            json_object_del(d, key);
        }
    }
    *out = d;
    return problems;
}

/* Checks the fields of in and fills x; returns the number of problems reported. */
static int check_fields(const mobile_state *st, const hub_render_in *in, hub_report *r, push_in *x)
{
    static const char *const names[NFIELDS] = {"title", "body", "image", "deep_link", "data"};
    int problems = 0;
    memset(x, 0, sizeof(*x));
    for (int i = 0; i < NFIELDS; i++) {
        hub_str s = in->fields[i];
        if (!present(s))
            continue;
        const char *why = !utf8_valid(s.ptr, s.len)          ? "is not valid UTF-8"
                          : i == F_IMAGE || i == F_DEEP_LINK ? url_refusal(s, i == F_IMAGE)
                                                             : NULL;
        if (why != NULL) {
            st->host->report_problem(r, names[i], "%s", why);
            problems++;
            continue;
        }
        if (i == F_TITLE)
            x->title = s;
        else if (i == F_BODY)
            x->body = s;
        else if (i == F_IMAGE)
            x->image = s;
        else if (i == F_DEEP_LINK)
            x->deep_link = s;
        else
            problems += check_data(st, s, r, &x->data);
    }
    return problems;
}

/* ---- building the payloads ----------------------------------------------------------------- */

/* obj[key] = v (stolen); a NULL v or a failed set marks *bad. */
static void put(json_t *obj, const char *key, json_t *v, int *bad)
{
    if (v == NULL || json_object_set_new(obj, key, v) != 0)
        *bad = 1;
}

static json_t *jstr(hub_str s)
{
    return json_stringn(s.ptr != NULL ? s.ptr : "", s.ptr != NULL ? s.len : 0);
}

static json_t *build_apns(const mobile_state *st, const push_in *x)
{
    json_t *apns = json_object(), *aps = json_object(), *alert = json_object();
    const char *key;
    json_t *v;
    int bad = apns == NULL;
    put(alert, "title", jstr(x->title), &bad);
    put(alert, "body", jstr(x->body), &bad);
    put(aps, "alert", alert, &bad);
    if (st->sound != NULL)
        put(aps, "sound", json_string(st->sound), &bad);
    if (x->image.ptr != NULL)
        put(aps, "mutable-content", json_integer(1), &bad);
    if (st->thread_id != NULL)
        put(aps, "thread-id", json_string(st->thread_id), &bad);
    if (st->category != NULL)
        put(aps, "category", json_string(st->category), &bad);
    put(apns, "aps", aps, &bad);
    if (x->deep_link.ptr != NULL)
        put(apns, "deep_link", jstr(x->deep_link), &bad);
    if (x->image.ptr != NULL)
        put(apns, "image", jstr(x->image), &bad);
    json_object_foreach(x->data, key, v)
    {
        if (json_object_set(apns, key, v) != 0)
            bad = 1;
    }
    if (bad) {
        json_decref(apns);
        return NULL;
    }
    return apns;
}

static json_t *build_fcm(const mobile_state *st, const push_in *x)
{
    json_t *fcm = json_object(), *msg = json_object(), *note = json_object();
    json_t *data = x->data != NULL ? json_copy(x->data) : json_object();
    json_t *android = json_object();
    int bad = fcm == NULL;
    put(note, "title", jstr(x->title), &bad);
    put(note, "body", jstr(x->body), &bad);
    if (x->image.ptr != NULL)
        put(note, "image", jstr(x->image), &bad);
    if (x->deep_link.ptr != NULL)
        put(data, "deep_link", jstr(x->deep_link), &bad);
    put(android, "priority", json_string(st->priority), &bad);
    if (st->channel_id != NULL)
        put(android, "notification", json_pack("{s:s}", "channel_id", st->channel_id), &bad);
    put(msg, "notification", note, &bad);
    put(msg, "data", data, &bad);
    put(msg, "android", android, &bad);
    put(fcm, "message", msg, &bad);
    if (bad) {
        json_decref(fcm);
        return NULL;
    }
    return fcm;
}

/* Reports a payload over the limit (a problem) or past warn_bytes (a warning). */
static int check_size(const mobile_state *st, hub_report *r, const char *which, size_t n)
{
    if (n > PUSH_MAX_BYTES) {
        st->host->report_problem(r, NULL, "the %s payload is %zu bytes, over the %d-byte limit",
                                 which, n, PUSH_MAX_BYTES);
        return 1;
    }
    if (n > st->warn_bytes)
        st->host->report_warning(r, "push_size",
                                 "the %s payload is %zu bytes, near the %d-byte limit", which, n,
                                 PUSH_MAX_BYTES);
    return 0;
}

/*
 * Checks and builds both payloads: *problems counts what was reported. On 0, *apns and
 * *fcm are new (the caller decrefs them) and their sizes are checked.
 */
static int build(const mobile_state *st, const hub_render_in *in, hub_report *r, json_t **apns,
                 json_t **fcm, int *problems)
{
    push_in x;
    *apns = *fcm = NULL;
    if (in->nfields != NFIELDS || in->fields == NULL)
        return HUB_PLUGIN_EINVAL;
    *problems = check_fields(st, in, r, &x);
    *apns = build_apns(st, &x);
    *fcm = build_fcm(st, &x);
    json_decref(x.data);
    if (*apns == NULL || *fcm == NULL) {
        json_decref(*apns);
        json_decref(*fcm);
        *apns = *fcm = NULL;
        return HUB_PLUGIN_ENOMEM;
    }
    *problems += check_size(st, r, "APNs", json_dumpb(*apns, NULL, 0, JSON_COMPACT));
    *problems += check_size(st, r, "FCM", json_dumpb(*fcm, NULL, 0, JSON_COMPACT));
    return 0;
}

static int mobile_validate(void *state, const hub_render_in *in, hub_report *report)
{
    json_t *apns, *fcm;
    int problems;
    int rc = build(state, in, report, &apns, &fcm, &problems);
    json_decref(apns);
    json_decref(fcm);
    return rc;
}

/* Appends {"apns": ..., "fcm": ..., "bytes": {"apns": n, "fcm": n}} to out. */
static int emit(const mobile_state *st, json_t *apns, json_t *fcm, hub_out *out)
{
    json_t *a = json_pack("{s:O,s:O,s:{s:I,s:I}}", "apns", apns, "fcm", fcm, "bytes", "apns",
                          (json_int_t)json_dumpb(apns, NULL, 0, JSON_COMPACT), "fcm",
                          (json_int_t)json_dumpb(fcm, NULL, 0, JSON_COMPACT));
    char *text = a != NULL ? json_dumps(a, JSON_COMPACT) : NULL;
    int rc = text == NULL ? HUB_PLUGIN_ENOMEM : st->host->out_append(out, text, strlen(text));
    free(text);
    json_decref(a);
    return rc;
}

static int mobile_render(void *state, const hub_render_in *in, hub_out *artifact,
                         hub_report *report)
{
    json_t *apns, *fcm;
    int problems;
    int rc = build(state, in, report, &apns, &fcm, &problems);
    if (rc == 0)
        rc = problems > 0 ? HUB_PLUGIN_EINVAL : emit(state, apns, fcm, artifact);
    json_decref(apns);
    json_decref(fcm);
    return rc;
}

/* ---- delivery ------------------------------------------------------------------------------ */

static int deliver_err(hub_deliver_out *out, int result, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int deliver_err(hub_deliver_out *out, int result, const char *fmt, ...)
{
    if (out->error != NULL && out->error_cap > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(out->error, out->error_cap, fmt, ap);
        va_end(ap);
    }
    return result;
}

/* The recipient's usable push targets, [{"platform","token","index"}] in their order
 * (index: the position in the recipient's "push" array); entries without a known platform
 * or a token are skipped. */
static json_t *push_targets(const json_t *recipient)
{
    json_t *out = json_array();
    const json_t *push = json_object_get(recipient, "push");
    size_t i;
    json_t *e;
    if (out == NULL || !json_is_array(push))
        return out;
    json_array_foreach(push, i, e)
    {
        const char *p = json_string_value(json_object_get(e, "platform"));
        const char *t = json_string_value(json_object_get(e, "token"));
        if (p == NULL || t == NULL || t[0] == '\0' ||
            (strcmp(p, "apns") != 0 && strcmp(p, "fcm") != 0))
            continue;
        json_array_append_new(
            out, json_pack("{s:s,s:s,s:I}", "platform", p, "token", t, "index", (json_int_t)i));
    }
    return out;
}

/* outbox_write and http_request answer with deliver codes; anything else is an I/O error. */
static int as_result(int rc)
{
    return rc == HUB_DELIVER_OK      ? HUB_DELIVER_OK
           : rc == HUB_DELIVER_FAIL  ? HUB_DELIVER_FAIL
           : rc == HUB_PLUGIN_EINVAL ? HUB_DELIVER_FAIL
                                     : HUB_DELIVER_RETRY;
}

/* The artifact plus the targets: {"apns","fcm","bytes","push":[{"platform","token"}]}. */
static int deliver_outbox(const mobile_state *st, const hub_deliver_in *in, json_t *art,
                          const json_t *targets, hub_deliver_out *out)
{
    json_t *push = json_array();
    size_t i;
    json_t *t;
    char err[256] = "";
    json_array_foreach(targets, i, t)
    {
        json_array_append_new(push,
                              json_pack("{s:O,s:O}", "platform", json_object_get(t, "platform"),
                                        "token", json_object_get(t, "token")));
    }
    char *text = NULL;
    if (push != NULL && json_array_size(push) == json_array_size(targets) &&
        json_object_set_new(art, "push", push) == 0)
        text = json_dumps(art, JSON_COMPACT);
    else
        json_decref(push);
    if (text == NULL)
        return deliver_err(out, HUB_DELIVER_RETRY, "out of memory");
    int rc = as_result(st->host->outbox_write("mobile", in->message_id, ".json", text, strlen(text),
                                              err, sizeof(err)));
    free(text);
    return rc == HUB_DELIVER_OK ? rc : deliver_err(out, rc, "%s", err);
}

/* POSTs {"platform","token","payload"} for one target; a deliver code, reason in why. */
static int send_one(const mobile_state *st, const hub_deliver_in *in, const json_t *target,
                    const json_t *payload, char *why, size_t whycap, int64_t *retry_after)
{
    hub_http_header h[MAX_HEADERS + 2];
    char key[160];
    json_t *body = json_pack("{s:O,s:O,s:O}", "platform", json_object_get(target, "platform"),
                             "token", json_object_get(target, "token"), "payload", payload);
    char *text = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (text == NULL) {
        snprintf(why, whycap, "out of memory");
        return HUB_DELIVER_RETRY;
    }
    /* One key per target: the gateway must not take a second device's request for a
     * replay of the first; the index is stable across attempts of the message. */
    snprintf(key, sizeof(key), "%.128s.%lld", in->message_id,
             (long long)json_integer_value(json_object_get(target, "index")));
    uint32_t n = 0;
    for (; n < st->nheaders; n++)
        h[n] = (hub_http_header){st->hname[n], st->hvalue[n]};
    h[n++] = (hub_http_header){"Content-Type", "application/json"};
    h[n++] = (hub_http_header){"Idempotency-Key", key};
    hub_http_request req = {sizeof(req),    n, "POST", st->url, h, {text, strlen(text)},
                            st->timeout_ms, 0};
    hub_http_response res = {sizeof(res), 0, NULL, 0};
    int rc = as_result(st->host->http_request(&req, &res, why, whycap));
    free(text);
    if (rc == HUB_DELIVER_OK && res.status != 0 && (res.status < 200 || res.status > 299)) {
        rc = res.status == 429 || res.status >= 500 ? HUB_DELIVER_RETRY : HUB_DELIVER_FAIL;
        snprintf(why, whycap, "the push gateway answered %u", res.status);
    }
    if (rc == HUB_DELIVER_RETRY && res.retry_after_ms > *retry_after)
        *retry_after = res.retry_after_ms;
    return rc;
}

/* One request per target; the result is the worst outcome (FAIL over RETRY over OK). */
static int deliver_http(const mobile_state *st, const hub_deliver_in *in, const json_t *art,
                        const json_t *targets, hub_deliver_out *out)
{
    int worst = HUB_DELIVER_OK;
    size_t i;
    json_t *t;
    json_array_foreach(targets, i, t)
    {
        const char *platform = json_string_value(json_object_get(t, "platform"));
        char why[256] = "";
        int64_t retry_after = 0;
        int rc =
            send_one(st, in, t, json_object_get(art, platform), why, sizeof(why), &retry_after);
        if (rc > worst) {
            worst = rc;
            deliver_err(out, rc, "%s token %lld: %s", platform,
                        (long long)json_integer_value(json_object_get(t, "index")), why);
        }
        if (rc == HUB_DELIVER_RETRY && retry_after > out->retry_after_ms)
            out->retry_after_ms = retry_after;
    }
    return worst;
}

static int mobile_deliver(void *state, const hub_deliver_in *in, hub_deliver_out *out)
{
    const mobile_state *st = state;
    json_error_t je;
    int rc;
    if (in->message_id == NULL)
        return deliver_err(out, HUB_DELIVER_FAIL, "no message id");
    json_t *art = json_loadb(in->artifact.ptr, in->artifact.len, 0, &je);
    json_t *targets = push_targets(in->recipient);
    if (!json_is_object(json_object_get(art, "apns")) ||
        !json_is_object(json_object_get(art, "fcm")))
        rc = deliver_err(out, HUB_DELIVER_FAIL, "the artifact is not a mobile artifact");
    else if (targets == NULL)
        rc = deliver_err(out, HUB_DELIVER_RETRY, "out of memory");
    else if (json_array_size(targets) == 0)
        rc = deliver_err(out, HUB_DELIVER_FAIL, "no push token");
    else if (st->driver == DRIVER_HTTP)
        rc = deliver_http(st, in, art, targets, out);
    else
        rc = deliver_outbox(st, in, art, targets, out);
    json_decref(targets);
    json_decref(art);
    return rc;
}

/* ---- the entry point ----------------------------------------------------------------------- */

static const hub_plugin mobile_plugin = {
    .struct_size = sizeof(hub_plugin),
    .abi_major = OMNIHUB_PLUGIN_ABI_MAJOR,
    .abi_minor = OMNIHUB_PLUGIN_ABI_MINOR,
    .name = "mobile",
    .version = "1.0.0",
    .description = "push notifications: APNs and FCM payloads, outbox or HTTP push gateway",
    .create = mobile_create,
    .fields = mobile_fields,
    .validate = mobile_validate,
    .render = mobile_render,
    .deliver = mobile_deliver,
    .free = mobile_free,
};

int omnihub_plugin_entry(const hub_host_api *host, uint32_t abi_major, const hub_plugin **out)
{
    if (host == NULL || out == NULL || abi_major != OMNIHUB_PLUGIN_ABI_MAJOR ||
        !HUB_PLUGIN_HAS(host, out_free))
        return HUB_PLUGIN_EINVAL;
    *out = &mobile_plugin;
    return 0;
}
