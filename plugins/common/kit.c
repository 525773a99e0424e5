/*
 * kit: the helpers the built-in channel plugins share (see kit.h for each contract). Every
 * plugin's .so carries its own copy, hidden; nothing here keeps state.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/kit.h"

/* ---- the entry point ----------------------------------------------------------------------- */

int kit_plugin_entry(const hub_host_api *host, uint32_t abi_major, const hub_plugin *plugin,
                     const hub_plugin **out)
{
    if (host == NULL || out == NULL || abi_major != OMNIHUB_PLUGIN_ABI_MAJOR ||
        !HUB_PLUGIN_HAS(host, out_free))
        return HUB_PLUGIN_EINVAL;
    *out = plugin;
    return 0;
}

/* ---- reasons and strings ------------------------------------------------------------------- */

int kit_err(char *err, size_t cap, int rc, const char *fmt, ...)
{
    if (err != NULL && cap > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, cap, fmt, ap);
        va_end(ap);
    }
    return rc;
}

char *kit_strndup(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d != NULL) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

char *kit_strdup(const char *s)
{
    return kit_strndup(s, strlen(s));
}

char kit_ascii_lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

int kit_ascii_ieqn(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (kit_ascii_lower(a[i]) != kit_ascii_lower(b[i]))
            return 0;
    return 1;
}

int kit_ascii_ieq(const char *a, const char *b)
{
    size_t n = strlen(b);
    return strlen(a) == n && kit_ascii_ieqn(a, b, n);
}

int kit_has_space_or_control(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c == 0x7F)
            return 1;
    }
    return 0;
}

/* ---- UTF-8 and field values ---------------------------------------------------------------- */

size_t kit_utf8_seq(const unsigned char *p, size_t n)
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

int kit_utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0, k; i < len; i += k)
        if ((k = kit_utf8_seq(p + i, len - i)) == 0)
            return 0;
    return 1;
}

int kit_present(hub_str s)
{
    return s.ptr != NULL && s.len > 0;
}

/* ---- URLs ---------------------------------------------------------------------------------- */

size_t kit_url_scheme(const char *u, size_t n)
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

int kit_scheme_is(const char *u, size_t slen, const char *name)
{
    return strlen(name) == slen && kit_ascii_ieqn(u, name, slen);
}

int kit_http_url(const char *s)
{
    return strncmp(s, "http://", 7) == 0 || strncmp(s, "https://", 8) == 0;
}

/* ---- configuration objects ----------------------------------------------------------------- */

const char *kit_unknown_key(const json_t *obj, const char *const *allowed)
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

int kit_check_object(const json_t *v, const char *path, const char *const *allowed, char *err,
                     size_t cap)
{
    const char *k;
    if (!json_is_object(v))
        return kit_err(err, cap, HUB_PLUGIN_EINVAL, "%s: must be an object", path);
    if ((k = kit_unknown_key(v, allowed)) != NULL)
        return kit_err(err, cap, HUB_PLUGIN_EINVAL, "%s: unknown key \"%.64s\"", path, k);
    return 0;
}

int kit_string_enum(const json_t *v, const char *const *names)
{
    const char *s = json_string_value(v);
    for (int i = 0; s != NULL && names[i] != NULL; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    return -1;
}

int kit_int_in(const json_t *v, json_int_t lo, json_int_t hi, json_int_t *out)
{
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return 0;
    if (out != NULL)
        *out = json_integer_value(v);
    return 1;
}

int kit_string_or_null(const json_t *v, const char *prefix, const char *key, char **out, char *err,
                       size_t cap)
{
    if (v == NULL)
        return 0;
    if (!json_is_null(v) && !json_is_string(v))
        return kit_err(err, cap, HUB_PLUGIN_EINVAL, "%s.%s: must be a string or null", prefix, key);
    free(*out);
    *out = NULL;
    if (json_is_string(v) && (*out = kit_strdup(json_string_value(v))) == NULL)
        return kit_err(err, cap, HUB_PLUGIN_ENOMEM, "out of memory");
    return 0;
}

/* ---- HTTP headers -------------------------------------------------------------------------- */

int kit_header_name_ok(const char *name)
{
    static const char extra[] = "!#$%&'*+-.^_`|~";
    size_t n = strlen(name);
    if (n == 0 || n > 64)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        int alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && strchr(extra, c) == NULL)
            return 0;
    }
    return 1;
}

int kit_headers_add(kit_headers *hs, const char *name, const char *value, size_t vlen)
{
    if (hs->n == KIT_HEADERS_MAX)
        return HUB_PLUGIN_ETOOBIG;
    char *n = kit_strdup(name);
    char *v = kit_strndup(value, vlen);
    if (n == NULL || v == NULL) {
        free(n);
        free(v);
        return HUB_PLUGIN_ENOMEM;
    }
    hs->h[hs->n++] = (hub_http_header){n, v};
    return 0;
}

void kit_headers_free(kit_headers *hs)
{
    for (uint32_t i = 0; i < hs->n; i++) {
        free((char *)hs->h[i].name);
        free((char *)hs->h[i].value);
    }
    hs->n = 0;
}

/* ---- delivery ------------------------------------------------------------------------------ */

int kit_deliver_code(int rc)
{
    if (rc == HUB_DELIVER_OK || rc == HUB_DELIVER_RETRY || rc == HUB_DELIVER_FAIL)
        return rc;
    return rc == HUB_PLUGIN_EINVAL ? HUB_DELIVER_FAIL : HUB_DELIVER_RETRY;
}

int kit_outbox_write(const hub_host_api *host, const char *channel, const char *name,
                     const char *ext, const void *data, size_t len, hub_deliver_out *out)
{
    char none[1]; /* where the reason goes when the caller gave no room for it */
    int rc =
        host->outbox_write(channel, name, ext, data, len, out->error != NULL ? out->error : none,
                           out->error != NULL ? out->error_cap : sizeof(none));
    return kit_deliver_code(rc);
}

int kit_outbox_json(const hub_host_api *host, const char *channel, const char *name,
                    const json_t *doc, int newline, hub_deliver_out *out)
{
    size_t n = json_dumpb(doc, NULL, 0, JSON_COMPACT);
    char *data = n > 0 ? malloc(n + 1) : NULL;
    int rc;
    if (data != NULL && json_dumpb(doc, data, n, JSON_COMPACT) == n) {
        if (newline)
            data[n++] = '\n';
        rc = kit_outbox_write(host, channel, name, ".json", data, n, out);
    } else {
        rc = kit_err(out->error, out->error_cap, HUB_DELIVER_RETRY, "out of memory");
    }
    free(data);
    return rc;
}

int kit_http_post(const hub_host_api *host, const char *url, const kit_headers *hs,
                  const char *content_type, const char *idempotency_key, hub_str body,
                  uint32_t timeout_ms, hub_http_response *res, char *err, size_t cap)
{
    hub_http_header h[KIT_HEADERS_MAX + 2];
    uint32_t n = hs->n;
    memcpy(h, hs->h, n * sizeof(h[0]));
    if (content_type != NULL)
        h[n++] = (hub_http_header){"Content-Type", content_type};
    if (idempotency_key != NULL)
        h[n++] = (hub_http_header){"Idempotency-Key", idempotency_key};
    hub_http_request req = {sizeof(req), n, "POST", url, h, body, timeout_ms, 0};
    *res = (hub_http_response){sizeof(*res), 0, NULL, 0};
    return kit_deliver_code(host->http_request(&req, res, err, cap));
}

/* ---- JSON text into a host buffer ---------------------------------------------------------- */

void kit_emit_raw(kit_emit *e, const char *text)
{
    if (e->rc == 0)
        e->rc = e->host->out_append(e->out, text, strlen(text));
}

void kit_emit_string(kit_emit *e, const char *s, size_t n)
{
    if (e->rc == 0)
        e->rc = e->host->out_json_string(e->out, s != NULL ? s : "", s != NULL ? n : 0);
}

void kit_emit_member(kit_emit *e, const char *key, const char *s, size_t n)
{
    kit_emit_raw(e, key);
    if (s != NULL)
        kit_emit_string(e, s, n);
    else
        kit_emit_raw(e, "null");
}
