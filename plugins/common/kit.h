/*
 * kit: the helpers the built-in channel plugins share. plugins/common is compiled into each
 * built-in plugin's shared object (it is not a plugin itself); like the rest of a plugin it
 * is built with -fvisibility=hidden, so none of these names is exported: every .so still
 * exports only omnihub_plugin_entry.
 *
 * Caveats first:
 * - libc, jansson and <omnihub/plugin.h> only, as for a plugin. No state: every function is
 *   reentrant and may be called from any thread.
 * - Reasons are one line. Where the plugins word a refusal differently, the helper only
 *   classifies and the plugin writes its own words; the helpers that write a reason write
 *   the one wording their callers share, byte for byte.
 * - Strings handed back as "new" are malloc'd and the caller frees them; "borrowed" ones
 *   live as long as what they were taken from.
 */
#ifndef OMNIHUB_PLUGINS_KIT_H
#define OMNIHUB_PLUGINS_KIT_H

#include <jansson.h>
#include <omnihub/plugin.h>
#include <stddef.h>
#include <stdint.h>

/* A static hub_plugin_field initializer: kind HUB_FIELD_*, name, required 0/1, max_bytes,
 * description. */
#define KIT_FIELD(kind, name, required, max_bytes, description)                                    \
    {                                                                                              \
        sizeof(hub_plugin_field), (kind), (name), (required), 0, (max_bytes), (description)        \
    }

/* ---- the entry point ----------------------------------------------------------------------- */

/*
 * The body of omnihub_plugin_entry: checks that host is a table of this ABI major that is
 * large enough to hold every function of minor 0 (up to out_free), then sets *out to plugin.
 * 0, or HUB_PLUGIN_EINVAL (a NULL host or out, another major, an older table).
 */
int kit_plugin_entry(const hub_host_api *host, uint32_t abi_major, const hub_plugin *plugin,
                     const hub_plugin **out);

/* ---- reasons and strings ------------------------------------------------------------------- */

/*
 * Writes the printf-style reason into err (cap bytes, truncated, always NUL-terminated;
 * nothing when err is NULL or cap is 0) and returns rc, so that a caller can
 * `return kit_err(err, cap, HUB_PLUGIN_EINVAL, ...)`. Also for hub_deliver_out:
 * `kit_err(out->error, out->error_cap, HUB_DELIVER_FAIL, ...)`.
 */
int kit_err(char *err, size_t cap, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* A new NUL-terminated copy of the n bytes at s, or NULL when out of memory. */
char *kit_strndup(const char *s, size_t n);
/* A new copy of the C string s, or NULL when out of memory. */
char *kit_strdup(const char *s);

/* c with ASCII A-Z lowered; every other byte as it is (unlike tolower, no locale). */
char kit_ascii_lower(char c);
/* 1 when the n bytes at a and b are equal, ASCII letters compared without case. */
int kit_ascii_ieqn(const char *a, const char *b, size_t n);
/* 1 when the C strings a and b are equal, ASCII letters compared without case. */
int kit_ascii_ieq(const char *a, const char *b);

/* 1 when one of the n bytes at s is a space, a control character (NUL included) or DEL:
 * what a URL or a header token must not hold. */
int kit_has_space_or_control(const char *s, size_t n);

/* ---- UTF-8 and field values ---------------------------------------------------------------- */

/* The length (1-4) of the well-formed UTF-8 sequence at p, n > 0 bytes available; 0 when it
 * is malformed (overlong, a surrogate, past U+10FFFF, cut short). */
size_t kit_utf8_seq(const unsigned char *p, size_t n);
/* 1 when the len bytes at s are well-formed UTF-8 (the empty text is). */
int kit_utf8_valid(const char *s, size_t len);

/* 1 when a field value has text: ptr not NULL and len > 0. */
int kit_present(hub_str s);

/* ---- URLs ---------------------------------------------------------------------------------- */

/* The length of the RFC 3986 scheme that starts u (n bytes) when "://" follows it, else 0. */
size_t kit_url_scheme(const char *u, size_t n);
/* 1 when the scheme u (slen bytes) is name (lower case), ASCII letters without case. */
int kit_scheme_is(const char *u, size_t slen, const char *name);
/* 1 when the C string s starts with "http://" or "https://", exactly in lower case (the
 * configured gateway URLs). */
int kit_http_url(const char *s);

/* ---- configuration objects ----------------------------------------------------------------- */

/* The first key of obj (borrowed) that is not in allowed (NULL-terminated), or NULL. */
const char *kit_unknown_key(const json_t *obj, const char *const *allowed);

/*
 * Checks that v is an object with no key outside allowed (NULL-terminated). 0, or
 * HUB_PLUGIN_EINVAL with `<path>: must be an object` or `<path>: unknown key "<key>"` (the
 * key cut at 64 bytes) in err.
 */
int kit_check_object(const json_t *v, const char *path, const char *const *allowed, char *err,
                     size_t cap);

/* The index in names (NULL-terminated) of v's string value, or -1 when v is not a string
 * or not one of names. */
int kit_string_enum(const json_t *v, const char *const *names);

/* 1 when v is a JSON integer from lo to hi, and then *out (may be NULL) gets it; else 0. */
int kit_int_in(const json_t *v, json_int_t lo, json_int_t hi, json_int_t *out);

/*
 * An optional string setting at <prefix>.<key>, its value v (NULL: the key is absent). v
 * absent: 0, *out unchanged. v null: *out freed and set to NULL. v a string: *out freed and
 * replaced by a new copy. 0; HUB_PLUGIN_EINVAL with `<prefix>.<key>: must be a string or
 * null`; HUB_PLUGIN_ENOMEM with "out of memory".
 */
int kit_string_or_null(const json_t *v, const char *prefix, const char *key, char **out, char *err,
                       size_t cap);

/* ---- HTTP headers -------------------------------------------------------------------------- */

#define KIT_HEADERS_MAX 32

/* Configured request headers: names and values owned (new copies), in configuration order. */
typedef struct kit_headers {
    hub_http_header h[KIT_HEADERS_MAX];
    uint32_t n;
} kit_headers;

/* 1 when name is an HTTP field name: 1 to 64 token characters (RFC 9110). */
int kit_header_name_ok(const char *name);

/* Appends copies of name and of the vlen bytes of value. 0; HUB_PLUGIN_ETOOBIG when there
 * are KIT_HEADERS_MAX already; HUB_PLUGIN_ENOMEM (nothing added). */
int kit_headers_add(kit_headers *hs, const char *name, const char *value, size_t vlen);

/* Frees the copies; hs stays usable and empty. */
void kit_headers_free(kit_headers *hs);

/* ---- delivery ------------------------------------------------------------------------------ */

/* A host service's answer as a deliver() result: HUB_DELIVER_OK, _RETRY and _FAIL as they
 * are; HUB_PLUGIN_EINVAL (bad input) is permanent, FAIL; any other code (memory, I/O) may
 * pass, RETRY. */
int kit_deliver_code(int rc);

/*
 * Writes data (len bytes) to the channel's outbox as <name><ext> through host->outbox_write,
 * its reason written straight into out->error (dropped when out->error is NULL). A deliver()
 * result (kit_deliver_code). Blocks (fsync): for deliver() only.
 */
int kit_outbox_write(const hub_host_api *host, const char *channel, const char *name,
                     const char *ext, const void *data, size_t len, hub_deliver_out *out);

/*
 * Writes doc (borrowed) as compact JSON, plus "\n" when newline, to the channel's outbox as
 * <name>.json (kit_outbox_write). A deliver() result; RETRY with "out of memory" in
 * out->error when doc cannot be serialized.
 */
int kit_outbox_json(const hub_host_api *host, const char *channel, const char *name,
                    const json_t *doc, int newline, hub_deliver_out *out);

/*
 * For deliver() only (it blocks): POSTs body to url through host->http_request with the configured
 * headers hs, then "Content-Type: <content_type>" (not when NULL) and "Idempotency-Key:
 * <idempotency_key>" (not when NULL). *res receives the host's answer (status, Retry-After; no
 * body); the reason goes into err (cap). A deliver() result (kit_deliver_code); the HTTP status is
 * left to the caller.
 */
int kit_http_post(const hub_host_api *host, const char *url, const kit_headers *hs,
                  const char *content_type, const char *idempotency_key, hub_str body,
                  uint32_t timeout_ms, hub_http_response *res, char *err, size_t cap);

/* ---- JSON text into a host buffer ---------------------------------------------------------- */

/* Appends JSON text to a host buffer until one append fails: rc keeps the first failure
 * (HUB_PLUGIN_ETOOBIG at the cap) and every later call does nothing. Start with rc 0. */
typedef struct kit_emit {
    const hub_host_api *host;
    hub_out *out;
    int rc;
} kit_emit;

/* Appends the C string text as it is (JSON punctuation, a member name with its quotes). */
void kit_emit_raw(kit_emit *e, const char *text);
/* Appends the n bytes at s as a JSON string (host->out_json_string); s NULL: "". */
void kit_emit_string(kit_emit *e, const char *s, size_t n);
/* Appends key as it is (like ",\"name\":"), then s as a JSON string, or null when s is
 * NULL. */
void kit_emit_member(kit_emit *e, const char *key, const char *s, size_t n);

#endif
