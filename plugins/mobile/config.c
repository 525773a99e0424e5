/*
 * The mobile channel's configuration, channels.mobile of the configuration file:
 *   "driver"     "outbox" (default) or "http"
 *   "http"       {"url": an http(s) push gateway, required with the http driver,
 *                 "headers": {name: one-line value} (not Content-Type nor Idempotency-Key,
 *                 which the plugin sets), "timeout_ms": 0..600000}
 *   "apns"       {"sound" (default "default"), "category", "thread_id"}: strings or null
 *   "fcm"        {"android_channel_id": a string or null, "priority": "high" (default) or
 *                 "normal"}
 *   "warn_bytes" warn when a payload passes this many bytes (0..4096, default 3686)
 * Unknown keys and wrong types refuse the plugin with one line naming the key.
 */
#include <stdlib.h>
#include <string.h>

#include "mobile.h"

#define HEADER_VALUE_MAX 1024

void mobile_state_free(mobile_state *st)
{
    if (st == NULL)
        return;
    free(st->url);
    kit_headers_free(&st->headers);
    free(st->sound);
    free(st->category);
    free(st->thread_id);
    free(st->channel_id);
    free(st);
}

/* One line of at most HEADER_VALUE_MAX bytes, no NUL inside. */
static int header_value_ok(const json_t *v)
{
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (strlen(s) != n || n > HEADER_VALUE_MAX)
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
        return kit_err(err, errcap, HUB_PLUGIN_EINVAL,
                       "channels.mobile.http.headers: must be an object");
    if (json_object_size(h) > KIT_HEADERS_MAX)
        return kit_err(err, errcap, HUB_PLUGIN_EINVAL,
                       "channels.mobile.http.headers: more than %d headers", KIT_HEADERS_MAX);
    json_object_foreach((json_t *)h, name, v)
    {
        if (!kit_header_name_ok(name))
            return kit_err(err, errcap, HUB_PLUGIN_EINVAL,
                           "channels.mobile.http.headers: bad header name \"%.64s\"", name);
        if (kit_ascii_ieq(name, "content-type") || kit_ascii_ieq(name, "idempotency-key"))
            return kit_err(err, errcap, HUB_PLUGIN_EINVAL,
                           "channels.mobile.http.headers.%s: set by the plugin", name);
        if (!json_is_string(v) || !header_value_ok(v))
            return kit_err(err, errcap, HUB_PLUGIN_EINVAL,
                           "channels.mobile.http.headers.%s: must be a one-line string", name);
        if (kit_headers_add(&st->headers, name, json_string_value(v), json_string_length(v)) != 0)
            return kit_err(err, errcap, HUB_PLUGIN_ENOMEM, "out of memory");
    }
    return 0;
}

static int parse_http(mobile_state *st, const json_t *http, char *err, size_t errcap)
{
    static const char *const keys[] = {"url", "headers", "timeout_ms", NULL};
    const json_t *v;
    json_int_t t;
    int rc = kit_check_object(http, "channels.mobile.http", keys, err, errcap);
    if (rc == 0)
        rc = kit_string_or_null(json_object_get(http, "url"), "channels.mobile.http", "url",
                                &st->url, err, errcap);
    if (rc != 0)
        return rc;
    if (st->url != NULL && !kit_http_url(st->url))
        return kit_err(err, errcap, HUB_PLUGIN_EINVAL,
                       "channels.mobile.http.url: must be an http:// or https:// URL");
    if ((v = json_object_get(http, "headers")) != NULL &&
        (rc = parse_headers(st, v, err, errcap)) != 0)
        return rc;
    if ((v = json_object_get(http, "timeout_ms")) != NULL) {
        if (!kit_int_in(v, 0, MAX_TIMEOUT_MS, &t))
            return kit_err(err, errcap, HUB_PLUGIN_EINVAL,
                           "channels.mobile.http.timeout_ms: must be an integer 0..%d",
                           MAX_TIMEOUT_MS);
        st->timeout_ms = (uint32_t)t;
    }
    return 0;
}

static int parse_apns(mobile_state *st, const json_t *apns, char *err, size_t errcap)
{
    static const char *const keys[] = {"sound", "category", "thread_id", NULL};
    static const char *const where = "channels.mobile.apns";
    int rc = kit_check_object(apns, where, keys, err, errcap);
    if (rc == 0)
        rc = kit_string_or_null(json_object_get(apns, "sound"), where, "sound", &st->sound, err,
                                errcap);
    if (rc == 0)
        rc = kit_string_or_null(json_object_get(apns, "category"), where, "category", &st->category,
                                err, errcap);
    if (rc == 0)
        rc = kit_string_or_null(json_object_get(apns, "thread_id"), where, "thread_id",
                                &st->thread_id, err, errcap);
    return rc;
}

static int parse_fcm(mobile_state *st, const json_t *fcm, char *err, size_t errcap)
{
    static const char *const keys[] = {"android_channel_id", "priority", NULL};
    static const char *const priorities[] = {"high", "normal", NULL};
    const json_t *v;
    int rc = kit_check_object(fcm, "channels.mobile.fcm", keys, err, errcap);
    if (rc == 0)
        rc = kit_string_or_null(json_object_get(fcm, "android_channel_id"), "channels.mobile.fcm",
                                "android_channel_id", &st->channel_id, err, errcap);
    if (rc != 0)
        return rc;
    if ((v = json_object_get(fcm, "priority")) != NULL) {
        int p = kit_string_enum(v, priorities);
        if (p < 0)
            return kit_err(err, errcap, HUB_PLUGIN_EINVAL,
                           "channels.mobile.fcm.priority: must be \"high\" or \"normal\"");
        st->priority = priorities[p];
    }
    return 0;
}

static int parse_config(mobile_state *st, const json_t *cfg, char *err, size_t errcap)
{
    static const char *const keys[] = {"driver", "http", "apns", "fcm", "warn_bytes", NULL};
    static const char *const drivers[] = {"outbox", "http", NULL}; /* DRIVER_* order */
    const json_t *v;
    json_int_t n;
    int rc;
    if (cfg == NULL)
        return 0;
    if ((rc = kit_check_object(cfg, "channels.mobile", keys, err, errcap)) != 0)
        return rc;
    if ((v = json_object_get(cfg, "driver")) != NULL) {
        st->driver = kit_string_enum(v, drivers);
        if (st->driver < 0)
            return kit_err(err, errcap, HUB_PLUGIN_EINVAL,
                           "channels.mobile.driver: must be \"outbox\" or \"http\"");
    }
    if ((v = json_object_get(cfg, "http")) != NULL && (rc = parse_http(st, v, err, errcap)) != 0)
        return rc;
    if ((v = json_object_get(cfg, "apns")) != NULL && (rc = parse_apns(st, v, err, errcap)) != 0)
        return rc;
    if ((v = json_object_get(cfg, "fcm")) != NULL && (rc = parse_fcm(st, v, err, errcap)) != 0)
        return rc;
    if ((v = json_object_get(cfg, "warn_bytes")) != NULL) {
        if (!kit_int_in(v, 0, PUSH_MAX_BYTES, &n))
            return kit_err(err, errcap, HUB_PLUGIN_EINVAL,
                           "channels.mobile.warn_bytes: must be an integer 0..%d", PUSH_MAX_BYTES);
        st->warn_bytes = (size_t)n;
    }
    if (st->driver == DRIVER_HTTP && st->url == NULL)
        return kit_err(err, errcap, HUB_PLUGIN_EINVAL,
                       "channels.mobile.http.url: required with driver \"http\"");
    return 0;
}

int mobile_config_parse(const hub_host_api *host, const json_t *config, mobile_state **out,
                        char *err, size_t errcap)
{
    mobile_state *st = calloc(1, sizeof(*st));
    *out = NULL;
    if (st == NULL || (st->sound = kit_strdup("default")) == NULL) {
        free(st);
        return kit_err(err, errcap, HUB_PLUGIN_ENOMEM, "out of memory");
    }
    st->host = host;
    st->driver = DRIVER_OUTBOX;
    st->priority = "high";
    st->warn_bytes = PUSH_WARN_DEFAULT;
    int rc = parse_config(st, config, err, errcap);
    if (rc != 0) {
        mobile_state_free(st);
        return rc;
    }
    *out = st;
    return 0;
}
