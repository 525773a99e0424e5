/*
 * app/config.c: the configuration file (`--config FILE`). JSON; every key optional. The file
 * is checked against one table of rules (a tree: objects name their members' rules), so an
 * unknown key or a wrong type stops the start-up with ONE line naming the key as a JSON
 * pointer: "config: unknown key /channels/email/smtp/hots",
 * "config: /threads must be an integer 1..256".
 *
 * Keys of API.md "Configuration file":
 *   listen "HOST:PORT" (IPv6 as "[::1]:8080"; port 0 = any free port), threads 1..256,
 *   max_body_bytes 1024..1 GiB, max_connections 1..1000000,
 *   plugins {dir, load: [names], paths: [files]},
 *   channels {<channel>: {...}}: each member is an object that the channel's plugin checks
 *             in its create() (its keys are the plugin's: see docs/plugins.md); a refusal
 *             stops the start-up, naming the channel and the key,
 *   delivery {workers 1..256, retry {base_ms 1..3600000, max_ms 1..86400000 (at least
 *             base_ms), give_up_after_s 1..2592000}},
 *   outbox {dir}.
 * Keys added by omnihub:
 *   request_timeout_ms 100..3600000 (reading a request, keep-alive idle; default 10000),
 *   store {map_size_mb 1..1048576} (LMDB map size; default: the store's, 4096 MiB),
 *   log_level "debug"|"info"|"warn"|"error" (default "info"),
 *   delivery {breaker {threshold 1..1000 (default 5), open_ms 1..86400000 (default 30000)},
 *             timeout_ms 100..600000 (one SMTP or HTTP exchange; default 30000),
 *             keep_days 1..3650 (delivered and dead jobs; default 7)},
 *   webhooks {allowed_hosts: [host names a webhook URL may name]} (default: any),
 *   analytics {retention_days 1..3650 (events, touchpoints, daily counters; default 180),
 *              bandit_interval_s 1..604800 (re-weighting bandits; default 3600),
 *              bandit_floor_percent 0..50 (the least share of a bandit arm; default 5)}.
 * The parsed document stays in cfg->raw for the plugin and delivery issues.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"

#define CONFIG_FILE_MAX ((size_t)4 * 1024 * 1024)

typedef enum {
    R_OBJECT,  /* members listed in `members` */
    R_STRING,  /* any string */
    R_NSTRING, /* null or a string */
    R_INT,     /* integer min..max */
    R_BOOL,    /* true or false */
    R_ENUM,    /* one of `choices` */
    R_STRLIST, /* array of strings */
    R_STRMAP,  /* object whose members are all strings (any names) */
    R_OBJMAP,  /* object whose members are all objects (any names; checked elsewhere) */
    R_LISTEN,  /* "HOST:PORT" */
} rule_type;

typedef struct rule {
    const char *name;
    rule_type type;
    long long min, max;
    const char *const *choices;
    const struct rule *members; /* R_OBJECT: terminated by a NULL name */
} rule;

#define END                                                                                        \
    {                                                                                              \
        NULL, R_OBJECT, 0, 0, NULL, NULL                                                           \
    }

static const char *const levels[] = {"debug", "info", "warn", "error", NULL};

static const rule plugins_rules[] = {
    {"dir", R_STRING, 0, 0, NULL, NULL},
    {"load", R_STRLIST, 0, 0, NULL, NULL},
    {"paths", R_STRLIST, 0, 0, NULL, NULL},
    END,
};
static const rule retry_rules[] = {
    {"base_ms", R_INT, 1, 3600000, NULL, NULL},
    {"max_ms", R_INT, 1, 86400000, NULL, NULL},
    {"give_up_after_s", R_INT, 1, 2592000, NULL, NULL},
    END,
};
static const rule breaker_rules[] = {
    {"threshold", R_INT, 1, 1000, NULL, NULL},
    {"open_ms", R_INT, 1, 86400000, NULL, NULL},
    END,
};
static const rule delivery_rules[] = {
    {"workers", R_INT, 1, 256, NULL, NULL},
    {"retry", R_OBJECT, 0, 0, NULL, retry_rules},
    {"breaker", R_OBJECT, 0, 0, NULL, breaker_rules},
    {"timeout_ms", R_INT, 100, 600000, NULL, NULL},
    {"keep_days", R_INT, 1, 3650, NULL, NULL},
    END,
};
static const rule outbox_rules[] = {{"dir", R_STRING, 0, 0, NULL, NULL}, END};
static const rule webhooks_rules[] = {{"allowed_hosts", R_STRLIST, 0, 0, NULL, NULL}, END};
static const rule analytics_rules[] = {
    {"retention_days", R_INT, 1, 3650, NULL, NULL},
    {"bandit_interval_s", R_INT, 1, 604800, NULL, NULL},
    {"bandit_floor_percent", R_INT, 0, 50, NULL, NULL},
    END,
};
static const rule store_rules[] = {{"map_size_mb", R_INT, 1, 1048576, NULL, NULL}, END};

static const rule top_rules[] = {
    {"listen", R_LISTEN, 0, 0, NULL, NULL},
    {"threads", R_INT, 1, 256, NULL, NULL},
    {"max_body_bytes", R_INT, 1024, 1073741824LL, NULL, NULL},
    {"max_connections", R_INT, 1, 1000000, NULL, NULL},
    {"request_timeout_ms", R_INT, 100, 3600000, NULL, NULL},
    {"plugins", R_OBJECT, 0, 0, NULL, plugins_rules},
    {"channels", R_OBJMAP, 0, 0, NULL, NULL},
    {"delivery", R_OBJECT, 0, 0, NULL, delivery_rules},
    {"outbox", R_OBJECT, 0, 0, NULL, outbox_rules},
    {"webhooks", R_OBJECT, 0, 0, NULL, webhooks_rules},
    {"store", R_OBJECT, 0, 0, NULL, store_rules},
    {"analytics", R_OBJECT, 0, 0, NULL, analytics_rules},
    {"log_level", R_ENUM, 0, 0, levels, NULL},
    END,
};

/* ---- listen ---------------------------------------------------------------------------- */

int hub_config_parse_listen(const char *s, char host[64], uint16_t *port)
{
    const char *colon = s != NULL ? strrchr(s, ':') : NULL;
    if (colon == NULL || colon == s)
        return HUB_EINVAL;
    const char *h = s;
    size_t hlen = (size_t)(colon - s);
    if (h[0] == '[') { /* [v6]:port */
        if (hlen < 3 || h[hlen - 1] != ']')
            return HUB_EINVAL;
        h++;
        hlen -= 2;
    } else if (memchr(h, ':', hlen) != NULL) {
        return HUB_EINVAL; /* a bare IPv6 address is ambiguous */
    }
    if (hlen == 0 || hlen >= 64)
        return HUB_EINVAL;
    for (size_t i = 0; i < hlen; i++) {
        unsigned char c = (unsigned char)h[i];
        if (c <= 0x20 || c >= 0x7f || c == '/' || c == '[' || c == ']')
            return HUB_EINVAL;
    }
    uint64_t p;
    if (hub_parse_u64(hub_slice_cstr(colon + 1), &p) != 0 || p > 65535)
        return HUB_EINVAL;
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    *port = (uint16_t)p;
    return 0;
}

/* ---- the checking walk ----------------------------------------------------------------- */

/* Appends the member name to the pointer in path (RFC 6901 escaped); returns the old length. */
static size_t enter(hub_buf *path, const char *name)
{
    size_t mark = path->len;
    if (hub_buf_append_byte(path, '/') != 0 || hub_buf_append_jptr(path, name) != 0) {
        path->len = mark;
        path->data[mark] = '\0';
    }
    return mark;
}

static void leave(hub_buf *path, size_t mark)
{
    path->len = mark;
    if (path->data != NULL)
        path->data[mark] = '\0';
}

static const char *ptr(const hub_buf *path)
{
    return path->data != NULL ? path->data : "";
}

static int choices_text(const char *const *choices, char *out, size_t cap)
{
    size_t n = 0;
    out[0] = '\0';
    for (size_t i = 0; choices[i] != NULL; i++) {
        int w = snprintf(out + n, cap - n, "%s\"%s\"", i ? ", " : "", choices[i]);
        if (w < 0 || (size_t)w >= cap - n)
            break;
        n += (size_t)w;
    }
    return 0;
}

static int check_value(const rule *r, json_t *v, hub_buf *path, hub_error *err);

static int check_object(const rule *members, json_t *v, hub_buf *path, hub_error *err)
{
    const char *k;
    json_t *m;
    if (!json_is_object(v))
        return hub_error_set(err, HUB_EINVAL, "config: %s must be an object", ptr(path));
    json_object_foreach(v, k, m)
    {
        const rule *r = members;
        while (r->name != NULL && strcmp(r->name, k) != 0)
            r++;
        size_t mark = enter(path, k);
        int rc = r->name == NULL
                     ? hub_error_set(err, HUB_EINVAL, "config: unknown key %s", ptr(path))
                     : check_value(r, m, path, err);
        leave(path, mark);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int check_strings(json_t *v, hub_buf *path, hub_error *err, int is_list)
{
    const char *k;
    size_t i;
    json_t *m;
    if (is_list && !json_is_array(v))
        return hub_error_set(err, HUB_EINVAL, "config: %s must be an array of strings", ptr(path));
    if (!is_list && !json_is_object(v))
        return hub_error_set(err, HUB_EINVAL, "config: %s must be an object of strings", ptr(path));
    json_array_foreach(v, i, m)
    {
        if (!json_is_string(m))
            return hub_error_set(err, HUB_EINVAL, "config: %s/%zu must be a string", ptr(path), i);
    }
    json_object_foreach(v, k, m)
    {
        if (json_is_string(m))
            continue;
        enter(path, k);
        return hub_error_set(err, HUB_EINVAL, "config: %s must be a string", ptr(path));
    }
    return 0;
}

/* An object of objects: "channels", whose members each channel plugin checks itself. */
static int check_objects(json_t *v, hub_buf *path, hub_error *err)
{
    const char *k;
    json_t *m;
    if (!json_is_object(v))
        return hub_error_set(err, HUB_EINVAL, "config: %s must be an object", ptr(path));
    json_object_foreach(v, k, m)
    {
        if (json_is_object(m))
            continue;
        enter(path, k);
        return hub_error_set(err, HUB_EINVAL, "config: %s must be an object", ptr(path));
    }
    return 0;
}

static int check_value(const rule *r, json_t *v, hub_buf *path, hub_error *err)
{
    const char *p = ptr(path);
    char text[128], host[64];
    uint16_t port;
    switch (r->type) {
    case R_OBJECT:
        return check_object(r->members, v, path, err);
    case R_STRING:
        if (!json_is_string(v))
            return hub_error_set(err, HUB_EINVAL, "config: %s must be a string", p);
        return 0;
    case R_NSTRING:
        if (!json_is_string(v) && !json_is_null(v))
            return hub_error_set(err, HUB_EINVAL, "config: %s must be a string or null", p);
        return 0;
    case R_INT:
        if (!json_is_integer(v) || json_integer_value(v) < r->min || json_integer_value(v) > r->max)
            return hub_error_set(err, HUB_EINVAL, "config: %s must be an integer %lld..%lld", p,
                                 r->min, r->max);
        return 0;
    case R_BOOL:
        if (!json_is_boolean(v))
            return hub_error_set(err, HUB_EINVAL, "config: %s must be true or false", p);
        return 0;
    case R_ENUM:
        for (size_t i = 0; json_is_string(v) && r->choices[i] != NULL; i++) {
            if (strcmp(json_string_value(v), r->choices[i]) == 0)
                return 0;
        }
        choices_text(r->choices, text, sizeof(text));
        return hub_error_set(err, HUB_EINVAL, "config: %s must be one of %s", p, text);
    case R_STRLIST:
        return check_strings(v, path, err, 1);
    case R_STRMAP:
        return check_strings(v, path, err, 0);
    case R_OBJMAP:
        return check_objects(v, path, err);
    case R_LISTEN:
        if (!json_is_string(v) || hub_config_parse_listen(json_string_value(v), host, &port) != 0)
            return hub_error_set(err, HUB_EINVAL,
                                 "config: %s must be a string HOST:PORT (port 0..65535)", p);
        return 0;
    }
    return hub_error_set(err, HUB_EINVAL, "config: %s: no rule", p);
}

/* ---- applying the checked document ----------------------------------------------------- */

static long long int_at(json_t *obj, const char *name, long long dflt)
{
    json_t *v = json_object_get(obj, name);
    return json_is_integer(v) ? (long long)json_integer_value(v) : dflt;
}

static void apply(hub_config *cfg, json_t *doc)
{
    json_t *v = json_object_get(doc, "listen");
    if (json_is_string(v))
        hub_config_parse_listen(json_string_value(v), cfg->http.host, &cfg->http.port);
    cfg->http.threads = (unsigned)int_at(doc, "threads", cfg->http.threads);
    cfg->http.max_body_bytes =
        (size_t)int_at(doc, "max_body_bytes", (long long)cfg->http.max_body_bytes);
    cfg->http.max_connections = (unsigned)int_at(doc, "max_connections", cfg->http.max_connections);
    cfg->http.request_timeout_ms =
        (unsigned)int_at(doc, "request_timeout_ms", cfg->http.request_timeout_ms);
    long long mb = int_at(json_object_get(doc, "store"), "map_size_mb", 0);
    if (mb > 0)
        cfg->map_size = (uint64_t)mb * 1024 * 1024;
    v = json_object_get(doc, "log_level");
    for (int i = 0; json_is_string(v) && levels[i] != NULL; i++) {
        if (strcmp(json_string_value(v), levels[i]) == 0)
            cfg->log_level = (hub_log_level)i; /* levels[] follows hub_log_level's order */
    }
    cfg->plugins = json_object_get(doc, "plugins");
    cfg->channels = json_object_get(doc, "channels");
    cfg->delivery = json_object_get(doc, "delivery");
    cfg->outbox = json_object_get(doc, "outbox");
    cfg->http.webhook_hosts = json_object_get(json_object_get(doc, "webhooks"), "allowed_hosts");
    json_t *d = cfg->delivery, *retry = json_object_get(d, "retry");
    json_t *breaker = json_object_get(d, "breaker");
    cfg->workers = (unsigned)int_at(d, "workers", 4);
    cfg->retry.base_ms = int_at(retry, "base_ms", HUB_RETRY_BASE_MS);
    cfg->retry.max_ms = int_at(retry, "max_ms", HUB_RETRY_MAX_MS);
    cfg->retry.give_up_after_ms =
        int_at(retry, "give_up_after_s", HUB_RETRY_GIVE_UP_MS / 1000) * 1000;
    cfg->breaker_threshold = (uint32_t)int_at(breaker, "threshold", 5);
    cfg->breaker_open_ms = int_at(breaker, "open_ms", 30000);
    cfg->send_timeout_ms = (uint32_t)int_at(d, "timeout_ms", 30000);
    cfg->keep_ms = int_at(d, "keep_days", 7) * 86400LL * 1000;
    json_t *an = json_object_get(doc, "analytics");
    cfg->analytics.retention_days =
        (int)int_at(an, "retention_days", cfg->analytics.retention_days);
    cfg->analytics.bandit_interval_ms =
        int_at(an, "bandit_interval_s", cfg->analytics.bandit_interval_ms / 1000) * 1000;
    cfg->analytics.bandit_floor_percent =
        (double)int_at(an, "bandit_floor_percent", (long long)cfg->analytics.bandit_floor_percent);
}

void hub_config_defaults(hub_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    hub_http_config_defaults(&cfg->http);
    cfg->log_level = HUB_LOG_INFO;
    cfg->workers = 4;
    hub_retry_policy_default(&cfg->retry);
    cfg->breaker_threshold = 5;
    cfg->breaker_open_ms = 30000;
    cfg->send_timeout_ms = 30000;
    cfg->keep_ms = 7 * 86400LL * 1000;
    hub_analytics_config_default(&cfg->analytics);
}

int hub_config_parse(hub_config *cfg, const char *text, size_t len, hub_error *err)
{
    json_error_t jerr;
    json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (doc == NULL)
        return hub_error_set(err, HUB_EINVAL, "config: line %d column %d: %s", jerr.line,
                             jerr.column, jerr.text);
    if (!json_is_object(doc)) {
        json_decref(doc);
        return hub_error_set(err, HUB_EINVAL, "config: the file must hold a JSON object");
    }
    hub_buf path;
    hub_buf_init(&path, 4096);
    int rc = hub_buf_append(&path, "", 0); /* allocates, so ptr() is never NULL past here */
    if (rc == 0)
        rc = check_object(top_rules, doc, &path, err);
    else
        rc = hub_error_set(err, HUB_ENOMEM, "config: out of memory");
    hub_buf_free(&path);
    if (rc != 0) {
        json_decref(doc);
        return rc;
    }
    json_decref(cfg->raw);
    cfg->raw = doc;
    apply(cfg, doc);
    char why[160];
    if (hub_retry_policy_check(&cfg->retry, why, sizeof(why)) != 0)
        return hub_error_set(err, HUB_EINVAL, "config: %s", why);
    return 0;
}

int hub_config_load(hub_config *cfg, const char *path, hub_error *err)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return hub_error_set(err, HUB_EIO, "config: %s: %s", path, strerror(errno));
    char *buf = malloc(CONFIG_FILE_MAX + 1);
    size_t n = buf != NULL ? fread(buf, 1, CONFIG_FILE_MAX + 1, f) : 0;
    int bad = buf != NULL && ferror(f);
    fclose(f);
    int rc;
    if (buf == NULL)
        rc = hub_error_set(err, HUB_ENOMEM, "config: out of memory");
    else if (bad)
        rc = hub_error_set(err, HUB_EIO, "config: %s: read error", path);
    else if (n > CONFIG_FILE_MAX)
        rc = hub_error_set(err, HUB_EINVAL, "config: %s: larger than %zu bytes", path,
                           CONFIG_FILE_MAX);
    else
        rc = hub_config_parse(cfg, buf, n, err);
    free(buf);
    return rc;
}

void hub_config_free(hub_config *cfg)
{
    if (cfg == NULL)
        return;
    json_decref(cfg->raw);
    cfg->raw = NULL;
    cfg->plugins = cfg->channels = cfg->delivery = cfg->outbox = NULL;
}
