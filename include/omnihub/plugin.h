/*
 * omnihub channel plugin ABI, major 1.
 *
 * A channel plugin is a shared object that the hub loads with dlopen. It exports one symbol,
 * omnihub_plugin_entry, that hands the hub a description of the channel (hub_plugin): its
 * name, its field schema and its callbacks. The hub lends its services to the plugin through
 * a table of functions (hub_host_api): logging, HTML to text, HTML sanitizing, Liquid, SMTP,
 * HTTP, the outbox and metrics. A plugin holds no sockets and no files of its own.
 *
 * Caveats first:
 * - Every string crossing the boundary is UTF-8. Strings passed as hub_str are not
 *   NUL-terminated unless stated; const char * members are NUL-terminated.
 * - Nothing is freed across the boundary. Inputs are borrowed for the duration of a call.
 *   Outputs go into host-owned buffers (hub_out) through host functions, with a cap set by
 *   the host; an append past the cap fails with HUB_PLUGIN_ETOOBIG and leaves the buffer as
 *   it was. Plugin-owned data (the hub_plugin struct, the field schema) stays valid until
 *   free() of the state that returned it, or for the life of the loaded object.
 * - Threads: create() and free() are called once, from the start-up and shut-down thread.
 *   fields() is called after create() from that thread. validate(), render() and deliver()
 *   are called from many threads at once with the same state: they must be reentrant and
 *   must not modify the state without their own synchronization. render() and validate()
 *   run on the hub's request threads and must not block (no sleeping, no I/O); deliver() runs
 *   on delivery worker threads and may block in the host's SMTP and HTTP functions.
 * - jansson values (json_t) passed in are borrowed and must not be modified or decref'd; a
 *   plugin may json_incref nothing it was lent. Plugins link jansson themselves.
 *
 * Compatibility rules (the SQLite extension rule):
 * - Every struct starts with uint32_t struct_size. Minor versions only append members to the
 *   end of a struct; a member is never removed, reordered or retyped within a major.
 * - The host reads a plugin struct's members only up to its struct_size, and fills its own
 *   structs with its own struct_size; a plugin built against an older minor reads only the
 *   members it knows, and must check struct_size before reading a member added by a later
 *   minor (HUB_PLUGIN_HAS(s, member)).
 * - hub_str is frozen: two members, forever.
 * - A change that breaks these rules bumps OMNIHUB_PLUGIN_ABI_MAJOR; the hub refuses a
 *   plugin of another major, with a one-line reason naming the file.
 * tests/abi pins the offset of every member below, so a change cannot slip in unnoticed.
 */
#ifndef OMNIHUB_PLUGIN_H
#define OMNIHUB_PLUGIN_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define OMNIHUB_PLUGIN_ABI_MAJOR 1
#define OMNIHUB_PLUGIN_ABI_MINOR 1

/* The name of the one exported symbol, of type hub_plugin_entry_fn. */
#define OMNIHUB_PLUGIN_ENTRY "omnihub_plugin_entry"

/* 1 if struct *s (with its struct_size) is large enough to hold member m. */
#define HUB_PLUGIN_HAS(s, m) ((s)->struct_size >= offsetof(__typeof__(*(s)), m) + sizeof((s)->m))

/* Return codes. 0 is success; the negative values equal the hub's own error codes. */
#define HUB_PLUGIN_OK      0
#define HUB_PLUGIN_ENOMEM  (-1)  /* out of memory */
#define HUB_PLUGIN_EINVAL  (-2)  /* bad input: a field, the configuration, an artifact */
#define HUB_PLUGIN_ETOOBIG (-9)  /* an output cap was reached */
#define HUB_PLUGIN_EIO     (-11) /* an I/O failure in a host service */

/* deliver() results. */
#define HUB_DELIVER_OK    0 /* accepted by the next hop; do not send again */
#define HUB_DELIVER_RETRY 1 /* transient (timeout, refused, 4xx SMTP, 429/5xx): try again later */
#define HUB_DELIVER_FAIL  2 /* permanent (5xx SMTP, other 4xx, a bad address): dead-letter */

/* Log levels for hub_host_api.log. */
#define HUB_PLUGIN_LOG_DEBUG 0
#define HUB_PLUGIN_LOG_INFO  1
#define HUB_PLUGIN_LOG_WARN  2
#define HUB_PLUGIN_LOG_ERROR 3

/* A borrowed run of bytes. Frozen: never gains members. ptr is NULL for "absent". */
typedef struct hub_str {
    const char *ptr;
    size_t len;
} hub_str;

/* Host-owned opaque objects, only ever handled through host functions. */
typedef struct hub_out hub_out;       /* a growable byte buffer with a cap */
typedef struct hub_report hub_report; /* collects problems (validate) and warnings (render) */

/* ---- the field schema: what content the channel takes ------------------------------------ */

/* Field kinds. Every kind is a Liquid template in the stored item. */
#define HUB_FIELD_TEXT 1 /* plain text; Liquid output is not escaped */
#define HUB_FIELD_HTML 2 /* HTML; Liquid {{ }} output is HTML-escaped unless | raw */
#define HUB_FIELD_URL  3 /* a URL; Liquid output is not escaped (use | url_encode) */
#define HUB_FIELD_OBJECT                                                                           \
    4 /* a JSON object of string values, each a Liquid template; the                               \
         rendered value reaches the plugin as compact JSON text */

typedef struct hub_plugin_field {
    uint32_t struct_size;
    uint32_t kind;           /* HUB_FIELD_* */
    const char *name;        /* [a-z][a-z0-9_]{0,31}, unique within the channel */
    uint32_t required;       /* 1: every variant must resolve it in every targeted locale */
    uint32_t reserved;       /* 0 */
    size_t max_bytes;        /* limit on the stored template text, in bytes (0: 1 MiB) */
    const char *description; /* one line for docs and errors; may be NULL */
} hub_plugin_field;

typedef struct hub_plugin_schema {
    uint32_t struct_size;
    uint32_t nfields;                      /* at most 32 */
    const hub_plugin_field *const *fields; /* [nfields]; plugin-owned, valid until free() */
} hub_plugin_schema;

/* ---- calls ------------------------------------------------------------------------------- */

/*
 * One variant of an item, in one locale, for this channel: what validate() and render() see.
 * fields[i] is the value of schema field i (the order fields() declared), already rendered
 * by the hub's Liquid engine for the recipient (render) or for nobody (validate: every
 * variable empty, blocks included, so a length checked at publish is a lower bound of the
 * length at send). fields[i].ptr is NULL when the field resolved to nothing.
 */
typedef struct hub_render_in {
    uint32_t struct_size;
    uint32_t nfields;        /* equals the schema's nfields */
    const hub_str *fields;   /* [nfields] */
    const char *item;        /* the item key */
    const char *variant;     /* the variant id */
    const char *locale;      /* the BCP 47 tag the content was served for */
    const json_t *recipient; /* render: {"id","locale","email","phone","push","segments",
                                "attributes"} as the request gave it (members may be
                                missing); validate: NULL */
    const char *message_id;  /* unique per message, [A-Za-z0-9-]; stays the same for every
                                delivery attempt of the message. validate: "validate" */
    int64_t now_ms;          /* the hub's clock (Unix ms) for Date headers and the like */
} hub_render_in;

/* What deliver() is asked to deliver: an artifact that render() produced earlier. */
typedef struct hub_deliver_in {
    uint32_t struct_size;
    uint32_t attempt;        /* 1 for the first attempt */
    hub_str artifact;        /* the JSON object text render() wrote */
    const json_t *recipient; /* as in hub_render_in */
    const char *message_id;  /* as in hub_render_in; use it as the idempotency key */
} hub_deliver_in;

typedef struct hub_deliver_out {
    uint32_t struct_size;
    uint32_t reserved;
    char *error;            /* host-owned; write a one-line reason on failure */
    size_t error_cap;       /* bytes of error, including the NUL */
    int64_t retry_after_ms; /* RETRY: the earliest next attempt the far side asked for, 0:
                               let the hub's backoff decide */
} hub_deliver_out;

/* ---- host services ----------------------------------------------------------------------- */

typedef struct hub_http_header {
    const char *name;
    const char *value;
} hub_http_header;

typedef struct hub_http_request {
    uint32_t struct_size;
    uint32_t nheaders;
    const char *method;             /* "POST", "PUT", "GET" */
    const char *url;                /* http:// or https:// */
    const hub_http_header *headers; /* [nheaders] */
    hub_str body;
    uint32_t timeout_ms; /* 0: the configured default */
    uint32_t reserved;
} hub_http_request;

typedef struct hub_http_response {
    uint32_t struct_size;
    uint32_t status;        /* HTTP status, 0 when no answer arrived */
    hub_out *body;          /* host-owned, may be NULL: the response body (capped) */
    int64_t retry_after_ms; /* from Retry-After, 0 if absent */
} hub_http_response;

/* Flags of hub_smtp_message (since 1.1). */
#define HUB_SMTP_STARTTLS 1u /* smtp:// only: upgrade with STARTTLS, refuse to go on without it */

typedef struct hub_smtp_message {
    uint32_t struct_size;
    uint32_t nrcpt;
    const char *from;        /* envelope sender, a bare address */
    const char *const *rcpt; /* [nrcpt] bare addresses */
    hub_str data;            /* the whole RFC 5322 message, CRLF line ends */
    /* since 1.1: the server. The host fails a message without url with HUB_DELIVER_FAIL. */
    const char *url;      /* smtp://host:port (plain or STARTTLS) or smtps://host:port */
    const char *username; /* NULL: no AUTH */
    const char *password; /* with username */
    uint32_t timeout_ms;  /* the whole exchange; 0: the host's default (30 s) */
    uint32_t flags;       /* HUB_SMTP_* */
} hub_smtp_message;

typedef struct hub_smtp_result {
    uint32_t struct_size;
    uint32_t reply_code; /* the SMTP reply code, 0 when no answer arrived */
    /* since 1.1: RETRY: the earliest next attempt that makes sense (the server is paused by
     * the hub's circuit breaker), 0 when the hub's backoff may decide */
    int64_t retry_after_ms;
} hub_smtp_result;

/*
 * The table of host services, handed to omnihub_plugin_entry and to create(). Valid for the
 * life of the loaded plugin. Every function is thread-safe unless stated.
 */
typedef struct hub_host_api {
    uint32_t struct_size;
    uint32_t abi_minor; /* the host's OMNIHUB_PLUGIN_ABI_MINOR */

    /* One log line; never log message bodies, addresses or secrets. */
    void (*log)(int level, const char *plugin, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

    /* Output buffers: append bytes; append s as a JSON string literal (quotes and escapes);
     * read back what is there. Append fails with HUB_PLUGIN_ETOOBIG at the cap. */
    int (*out_append)(hub_out *out, const void *data, size_t len);
    int (*out_json_string)(hub_out *out, const char *s, size_t len);
    hub_str (*out_view)(const hub_out *out);

    /* A problem (validate) or a warning (render) about field `field` (a schema field name,
     * or NULL for the message as a whole). code: a short machine name ("sms_ucs2"). */
    void (*report_problem)(hub_report *r, const char *field, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
    void (*report_warning)(hub_report *r, const char *code, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

    /* The plain-text version of an HTML body (libxml2): links as "label (url)", lists, line
     * breaks, entities decoded. Appends to out. 0, HUB_PLUGIN_EINVAL, HUB_PLUGIN_ETOOBIG. */
    int (*html_to_text)(const char *html, size_t len, hub_out *out);
    /* The HTML fragment with everything outside the allow-list removed (no script, no event
     * attributes, no javascript: URLs). Appends to out; *removed (may be NULL) counts what
     * was taken out. */
    int (*sanitize_html)(const char *html, size_t len, hub_out *out, size_t *removed);

    /* Compiles and renders a Liquid template (src, len) with the variables of vars (a JSON
     * object, borrowed, may be NULL) and appends the output to out. err (may be NULL, cap
     * errcap) receives a one-line reason on failure. Bounded in time and output. */
    int (*template_render)(const char *src, size_t len, const json_t *vars, hub_out *out, char *err,
                           size_t errcap);

    /* Blocking services for deliver() only. Each returns HUB_DELIVER_OK, _RETRY or _FAIL as
     * the transport classifies the outcome, and writes a reason into err (cap errcap). */
    int (*smtp_send)(const char *channel, const hub_smtp_message *msg, hub_smtp_result *res,
                     char *err, size_t errcap);
    int (*http_request)(const hub_http_request *req, hub_http_response *res, char *err,
                        size_t errcap);
    /* Writes one message atomically (temp file, fsync, rename) into the channel's outbox
     * directory as <name><ext>; name: [A-Za-z0-9._-]{1,128}, ext like ".eml" or ".json".
     * Writing the same name again replaces the file (the same message id: idempotent). */
    int (*outbox_write)(const char *channel, const char *name, const char *ext, const void *data,
                        size_t len, char *err, size_t errcap);

    /* Adds delta to the counter omnihub_plugin_<name>_total{channel="<plugin>"}; name:
     * [a-z_]{1,48}. */
    void (*metric_add)(const char *plugin, const char *name, double delta);

    /* A new hub_out with cap `cap` bytes (for deliver(): response bodies and the like);
     * release with out_free. */
    hub_out *(*out_new)(size_t cap);
    void (*out_free)(hub_out *out);

    /* since 1.1 (check HUB_PLUGIN_HAS(host, inbox_write)): stores a message in the inbox of
     * recipient `recipient` (a recipient id, 1..128 bytes) under message_id, durably, for
     * GET /v1/inbox/{recipient}. body: a JSON object text (the artifact). Writing the same
     * message id again keeps the first copy (idempotent). HUB_DELIVER_OK, _RETRY or _FAIL. */
    int (*inbox_write)(const char *channel, const char *recipient, const char *message_id,
                       hub_str body, char *err, size_t errcap);
} hub_host_api;

/* ---- the plugin ---------------------------------------------------------------------------- */

/* What create() receives. */
typedef struct hub_plugin_create_in {
    uint32_t struct_size;
    uint32_t reserved;
    const hub_host_api *host; /* valid until free() */
    const json_t *config;     /* the channel's object from the configuration file's
                                 "channels" (borrowed for the call: copy what you keep); an
                                 empty object when the file has none */
    const char *data_dir;     /* the hub's data directory */
} hub_plugin_create_in;

typedef struct hub_plugin {
    uint32_t struct_size;
    uint32_t abi_major; /* OMNIHUB_PLUGIN_ABI_MAJOR the plugin was built with */
    uint32_t abi_minor;
    uint32_t reserved;
    const char *name;        /* the channel name, [a-z][a-z0-9_-]{0,31}; unique in the hub */
    const char *version;     /* the plugin's own version, free text */
    const char *description; /* one line */

    /*
     * Builds the plugin's state from its configuration. 0 and *state (may be NULL if the
     * plugin needs none), or a negative code with a one-line reason in err (cap errcap);
     * the hub then refuses the plugin and calls nothing else of it (not even free).
     */
    int (*create)(const hub_plugin_create_in *in, void **state, char *err, size_t errcap);

    /* The field schema. Plugin-owned, valid until free(). Never NULL. */
    const hub_plugin_schema *(*fields)(void *state);

    /*
     * Checks one variant x locale at publish. Reports every problem with
     * host->report_problem (naming the field); warnings with report_warning. Returns 0 when
     * it could check (problems or not), a negative code when it could not.
     */
    int (*validate)(void *state, const hub_render_in *in, hub_report *report);

    /*
     * Produces the artifact for one recipient: a JSON object (text) appended to `artifact`
     * in the shape the channel documents, and warnings through report_warning. A problem
     * that makes the message unsendable is reported with report_problem and returns
     * HUB_PLUGIN_EINVAL.
     */
    int (*render)(void *state, const hub_render_in *in, hub_out *artifact, hub_report *report);

    /* Delivers an artifact; returns HUB_DELIVER_OK, _RETRY or _FAIL (see above). */
    int (*deliver)(void *state, const hub_deliver_in *in, hub_deliver_out *out);

    /* Releases the state; NULL-safe. Called once, after every other call has returned. */
    void (*free)(void *state);
} hub_plugin;

/*
 * The exported entry point. The hub passes its host table and its ABI major; the plugin
 * sets *out to its (static, plugin-owned) description and returns 0, or returns a negative
 * code when it cannot work with this host (for example a host->abi_minor older than it
 * needs). It must not call the host beyond log here.
 */
typedef int (*hub_plugin_entry_fn)(const hub_host_api *host, uint32_t abi_major,
                                   const hub_plugin **out);

#if defined(__GNUC__)
#define OMNIHUB_PLUGIN_EXPORT __attribute__((visibility("default")))
#else
#define OMNIHUB_PLUGIN_EXPORT
#endif

OMNIHUB_PLUGIN_EXPORT int omnihub_plugin_entry(const hub_host_api *host, uint32_t abi_major,
                                               const hub_plugin **out);

#ifdef __cplusplus
}
#endif

#endif
