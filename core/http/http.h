/*
 * http: the only user of h2o.h. The HTTP/1.1 server (libh2o evloop, one event loop per
 * thread, each with its own SO_REUSEPORT listener), routing, authentication, and a handler
 * per resource of API.md.
 *
 * Event-loop threads never block: reads use a short LMDB read transaction; writes are handed
 * to the store's writer thread and answered when it has committed.
 */
#ifndef HUB_HTTP_H
#define HUB_HTTP_H

#include "analytics/analytics.h"
#include "base/base.h"
#include "content/content.h"
#include "delivery/delivery.h"
#include "render/render.h"
#include "store/store.h"

typedef struct hub_http_config {
    char host[64];                /* "127.0.0.1" */
    uint16_t port;                /* 8080 */
    unsigned threads;             /* event loops; 0 = number of cores */
    size_t max_body_bytes;        /* 1 MiB */
    unsigned max_connections;     /* across all threads; 1024 */
    unsigned request_timeout_ms;  /* reading a request, idle keep-alive; 10000 */
    const hub_renderer *renderer; /* the channels (borrowed; NULL: none, render is 404) */
    hub_queue *queue;             /* the delivery queue (borrowed; NULL: sends are 503) */
    const json_t *webhook_hosts;  /* webhooks.allowed_hosts (borrowed; NULL: any host) */
    hub_recorder *recorder;       /* exposures of reads (borrowed; NULL: not recorded) */
    int retention_days;           /* analytics.retention_days: how old an event may be */
} hub_http_config;

void hub_http_config_defaults(hub_http_config *cfg);

typedef struct hub_http_server hub_http_server;

/*
 * Binds the listeners and starts the event-loop threads. The store's writer must already
 * run. schemas: borrowed for the server's life. HUB_EIO with the reason (address in use...).
 */
int hub_http_start(hub_http_server **out, const hub_http_config *cfg, hub_store *store,
                   const hub_schema_set *schemas, hub_error *err);
/* The port actually bound (useful with port 0). */
uint16_t hub_http_port(const hub_http_server *s);
/*
 * Graceful stop: closes the listeners, lets in-flight requests (including writes queued to
 * the writer) finish and their responses go out, closes idle connections, joins the threads.
 * Call before stopping the store's writer. NULL-safe.
 */
void hub_http_stop(hub_http_server *s);

#endif
