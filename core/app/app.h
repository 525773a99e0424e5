/*
 * app: the composition root. Configuration file, the command line (serve, token create,
 * import, backup), start and stop in order.
 */
#ifndef HUB_APP_H
#define HUB_APP_H

#include <jansson.h>

#include "base/base.h"
#include "delivery/delivery.h"
#include "http/http.h"

typedef struct hub_config {
    hub_http_config http;
    uint64_t map_size;       /* "store": {"map_size_mb": n}; 0 = the store's default */
    hub_log_level log_level; /* "log_level"; HUB_LOG_INFO by default */
    json_t *plugins;         /* kept for the plugin issue (borrowed from raw) */
    json_t *channels;        /* kept for the delivery issue */
    json_t *delivery;
    json_t *outbox;
    unsigned workers;               /* delivery.workers */
    hub_retry_policy retry;         /* delivery.retry */
    uint32_t breaker_threshold;     /* delivery.breaker.threshold */
    int64_t breaker_open_ms;        /* delivery.breaker.open_ms */
    uint32_t send_timeout_ms;       /* delivery.timeout_ms */
    int64_t keep_ms;                /* delivery.keep_days */
    hub_analytics_config analytics; /* analytics.retention_days, bandit_interval_s,
                                       bandit_floor_percent */
    json_t *raw;                    /* the whole parsed file, owned */
} hub_config;

void hub_config_defaults(hub_config *cfg);
/* Loads a JSON config file over the defaults. Unknown keys and wrong types: HUB_EINVAL with
 * one line naming the key ("config: unknown key /channels/email/smtp/hots"). */
int hub_config_load(hub_config *cfg, const char *path, hub_error *err);
int hub_config_parse(hub_config *cfg, const char *text, size_t len, hub_error *err);
void hub_config_free(hub_config *cfg);
/* Parses "HOST:PORT" ("[::1]:8080" for IPv6; port 0..65535) into host (NUL-terminated,
 * brackets removed) and port. HUB_EINVAL, with host and port untouched, when malformed. */
int hub_config_parse_listen(const char *s, char host[64], uint16_t *port);

/* The command line. Returns the process exit code: 0 ok, 1 runtime failure, 2 bad usage. */
int hub_cli_main(int argc, char **argv);

/*
 * Imports JSON files or folders (recursively, *.json in name order) into the store; see
 * content-samples/README.md for the file format. Prints each rejected file with its reason
 * on stderr; returns 0 when all were accepted, 1 otherwise.
 */
int hub_import_paths(hub_store *store, const hub_renderer *renderer, char **paths, int npaths);

/* The thread that fires scheduled publishes and unpublishes (scheduler.c). cx: schemas and
 * the publish check (borrowed; they outlive it). Stop it before the store's writer. */
typedef struct hub_scheduler hub_scheduler;
int hub_scheduler_start(hub_store *store, const hub_content_ctx *cx, const hub_analytics_config *an,
                        hub_scheduler **out, hub_error *err);
void hub_scheduler_stop(hub_scheduler *s); /* NULL-safe */

/* The loaded channel plugins and the renderer over them (channels.c). */
typedef struct hub_channels {
    hub_plugins *plugins;
    hub_renderer *renderer;
    hub_breakers *breakers;
    hub_delivery_services *services; /* set services->store before anything is delivered */
} hub_channels;

/* Loads the plugins cfg names (refusals go to stderr; the others load) and builds the
 * renderer. data_dir: the store's directory (the outbox default lives there). */
int hub_channels_open(hub_channels *out, const hub_config *cfg, const char *data_dir,
                      hub_error *err);
void hub_channels_close(hub_channels *c); /* NULL-safe members */

#endif
