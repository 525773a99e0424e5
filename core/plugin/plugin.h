/*
 * plugin: loads channel plugins (the only user of dlfcn.h), checks them against the ABI of
 * include/omnihub/plugin.h, and lends them the host services (the hub_host_api table).
 *
 * A loaded set of plugins (hub_plugins) is built once at start-up and frozen: after
 * hub_plugins_load returns, any thread may look channels up and call them; nothing is
 * added or removed until hub_plugins_free, which must run after every call has returned.
 *
 * Refusals: a plugin with another ABI major, no entry symbol, an unresolved symbol (dlopen
 * fails), a duplicate or malformed name, a missing callback, a bad field schema or a failing
 * create() is refused with one line naming the file and the reason. The refusal is kept
 * (hub_plugins_refusal) for the caller to report; the other plugins load.
 */
#ifndef HUB_PLUGIN_MODULE_H
#define HUB_PLUGIN_MODULE_H

#include <jansson.h>
#include <omnihub/plugin.h>

#include "base/base.h"

#define HUB_PLUGINS_MAX 32

typedef struct hub_plugins hub_plugins;
typedef struct hub_channel hub_channel;

/* Host services that live above this module (the delivery drivers), handed in by the app.
 * Any member may be NULL: the host function then fails with HUB_DELIVER_FAIL and a reason. */
typedef struct hub_plugin_services {
    int (*smtp_send)(void *ctx, const char *channel, const hub_smtp_message *msg,
                     hub_smtp_result *res, char *err, size_t errcap);
    int (*http_request)(void *ctx, const hub_http_request *req, hub_http_response *res, char *err,
                        size_t errcap);
    int (*inbox_write)(void *ctx, const char *channel, const char *recipient,
                       const char *message_id, hub_str body, char *err, size_t errcap);
    void *ctx;
} hub_plugin_services;

typedef struct hub_plugins_config {
    const char *dir;         /* directory of <name>.so files; NULL: no directory */
    const char *const *load; /* names to load from dir, [nload]; nload 0: every *.so in dir */
    size_t nload;
    const char *const *paths; /* extra plugin files by path, [npaths] */
    size_t npaths;
    const json_t *channels; /* {"<name>": {...}} per-channel configuration; may be NULL */
    const char *data_dir;   /* handed to create(); the outbox lives in <data_dir>/outbox */
    const char *outbox_dir; /* NULL: <data_dir>/outbox */
    hub_plugin_services services;
} hub_plugins_config;

/*
 * Loads the plugins cfg names. Returns 0 with *out set even when some plugins were refused
 * (see hub_plugins_refusal); HUB_ENOMEM, or HUB_EINVAL when the configuration itself is
 * wrong (a name in `load` that is not a plain name). Call from one thread at start-up.
 */
int hub_plugins_load(const hub_plugins_config *cfg, hub_plugins **out, hub_error *err);

/* Calls every plugin's free(), dlcloses them and frees the set. NULL-safe. */
void hub_plugins_free(hub_plugins *p);

/* Loaded channels in load order; i < count. The pointer is valid until hub_plugins_free. */
size_t hub_plugins_count(const hub_plugins *p);
const hub_channel *hub_plugins_get(const hub_plugins *p, size_t i);
/* The channel called name, or NULL. */
const hub_channel *hub_plugins_find(const hub_plugins *p, const char *name, size_t len);

/* One-line refusals ("plugins/x.so: ABI major 2, the hub speaks 1"), i < refused count. */
size_t hub_plugins_refused_count(const hub_plugins *p);
const char *hub_plugins_refusal(const hub_plugins *p, size_t i);

const char *hub_channel_name(const hub_channel *c);
const char *hub_channel_path(const hub_channel *c);
const hub_plugin *hub_channel_plugin(const hub_channel *c);
/* The field schema, checked at load: 1..32 fields with valid unique names and kinds. */
const hub_plugin_schema *hub_channel_fields(const hub_channel *c);
/* Index of field `name` in the schema, or -1. */
int hub_channel_field_index(const hub_channel *c, const char *name);

/*
 * Collects what a plugin reports during one call: problems (validate, render) go into
 * `problems` under "<path_prefix>/<field>" (or path_prefix alone for the message as a
 * whole), each message suffixed with `suffix` when not NULL; warnings go into `warnings` (a
 * JSON array of {"code","message"}, may be NULL to drop them).
 */
typedef struct hub_channel_report {
    hub_problems *problems;
    const char *path_prefix;
    const char *suffix;
    json_t *warnings;
} hub_channel_report;

/* Runs the plugin's validate(). 0 (problems, if any, were added), or the plugin's code. */
int hub_channel_validate(const hub_channel *c, const hub_render_in *in, hub_channel_report *rep);

/*
 * Runs the plugin's render(), appending the artifact (JSON object text) to artifact.
 * 0; HUB_EINVAL when the plugin refused the message (problems added); HUB_ETOOBIG when the
 * artifact outgrew the buffer's cap; HUB_EIO when the plugin wrote something that is not a
 * JSON object (checked only when check_json is set). err gets a one-line reason.
 */
int hub_channel_render(const hub_channel *c, const hub_render_in *in, hub_buf *artifact,
                       int check_json, hub_channel_report *rep, hub_error *err);

/* Runs the plugin's deliver(): HUB_DELIVER_OK, _RETRY or _FAIL; reason in err (cap). */
int hub_channel_deliver(const hub_channel *c, const hub_deliver_in *in, char *err, size_t errcap,
                        int64_t *retry_after_ms);

/* Appends the plugins' counters (host->metric_add) in Prometheus text format. */
int hub_plugins_metrics_text(hub_buf *out);

/* The buffer behind a host-owned hub_out (for the host services that fill one). */
hub_buf *hub_out_buf(hub_out *out);

/* The host table the loader hands to plugins (also for tests that drive a plugin). */
const hub_host_api *hub_plugins_host(const hub_plugins *p);

#endif
