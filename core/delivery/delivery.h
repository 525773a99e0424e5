/*
 * delivery: how messages leave the hub. The transports (libcurl SMTP and HTTP, the only user
 * of curl/ headers) that back the host services smtp_send and http_request, the retry policy
 * and circuit breaker (policy.h), and the durable queue of sends.
 */
#ifndef HUB_DELIVERY_H
#define HUB_DELIVERY_H

#include <omnihub/plugin.h>

#include <jansson.h>

#include "base/base.h"
#include "delivery/policy.h"
#include "plugin/plugin.h"
#include "store/store.h"

/* ---- transports ------------------------------------------------------------------------ */

/*
 * What the transports share; the ctx of hub_transport_smtp and hub_transport_http. Read-only
 * after start-up, so any thread may call them at once.
 *
 * Classification (HUB_DELIVER_*): no answer (refused, reset, timeout, TLS handshake failed,
 * name not resolved), HTTP 408, 425, 429 and 5xx, and SMTP 4xx are RETRY; other HTTP
 * statuses below 200 or from 300 up, SMTP 5xx, a refused login, a bad URL and a failed
 * certificate check are FAIL. Redirects are not followed (FAIL, with the status).
 */
typedef struct hub_transport {
    uint32_t timeout_ms;     /* a request without its own timeout; 0: 30 s */
    hub_breakers *breakers;  /* per endpoint (scheme://host:port); NULL: none */
    int64_t (*now_ms)(void); /* the breakers' clock; NULL: hub_now_ms */
} hub_transport;

/* Initializes libcurl for the process. Call once at start-up, before any thread sends. */
int hub_transport_global_init(hub_error *err);
void hub_transport_global_cleanup(void);

/* The host service smtp_send: msg->url names the server (ABI 1.1). */
int hub_transport_smtp(void *ctx, const char *channel, const hub_smtp_message *msg,
                       hub_smtp_result *res, char *err, size_t errcap);

/* The host service http_request. res->body, when set, receives what fits under its cap. */
int hub_transport_http(void *ctx, const hub_http_request *req, hub_http_response *res, char *err,
                       size_t errcap);

/* Releases the calling thread's cached connections. Call before a sending thread exits. */
void hub_transport_thread_end(void);

/* "scheme://host[:port]" of url into out (cap); 0, or HUB_EINVAL for a URL without "://". */
int hub_transport_endpoint(const char *url, char *out, size_t cap);

/* ---- the host services the plugins get ----------------------------------------------- */

/* What the services need; the app owns it and sets store once the store is open (before any
 * deliver() runs). */
typedef struct hub_delivery_services {
    hub_transport transport;
    hub_store *store;
} hub_delivery_services;

/* Fills out (for hub_plugins_config.services) with smtp_send, http_request and inbox_write
 * over s. */
void hub_delivery_services_bind(hub_delivery_services *s, hub_plugin_services *out);

/* ---- jobs (in the caller's transaction) ------------------------------------------------- */

#define HUB_RECIPIENT_ID_MAX    128
#define HUB_IDEMPOTENCY_KEY_MAX 200
#define HUB_IDEMPOTENCY_TTL_MS  (24LL * 3600 * 1000)

/* One message to deliver: what the send request rendered. Strings borrowed. */
typedef struct hub_job_in {
    const char *channel, *item, *variant, *locale, *journey, *step, *message_id;
    const char *webhook; /* a webhook event (channel HUB_WEBHOOK_CHANNEL): the webhook id */
    uint32_t version;
    const json_t *recipient; /* the request's recipient object (kept for deliver()) */
    hub_slice artifact;      /* the plugin's artifact (JSON object text) */
} hub_job_in;

/* Stores a queued job, due now; its id (> 0) into *id_out. Write transactions. */
int hub_job_enqueue(hub_txn *txn, const hub_job_in *in, int64_t now_ms, uint64_t *id_out);
/* The same in two steps, so that the writer thread only stores: the record text of a job
 * queued at now_ms (malloc'd; NULL when out of memory), made on any thread; then the job with
 * that record, artifact and now_ms, in the write transaction. */
char *hub_job_record_text(const hub_job_in *in, int64_t now_ms);
int hub_job_enqueue_text(hub_txn *txn, const char *record, hub_slice artifact, int64_t now_ms,
                         uint64_t *id_out);
/* The job record (new reference); HUB_ENOTFOUND. */
int hub_job_load(hub_txn *txn, uint64_t id, json_t **out);
/* The artifact the job delivers (borrowed from the transaction); HUB_ENOTFOUND. */
int hub_job_body(hub_txn *txn, uint64_t id, hub_slice *out);
/* A delivery id of the API ("42") as a number; HUB_ENOTFOUND when it cannot be one. */
int hub_job_id_parse(const char *s, uint64_t *out);
/* Job id as the API writes it: a JSON string of its decimal digits (new reference; NULL when
 * out of memory). */
json_t *hub_job_id_json(uint64_t id);
/* Runs in the transaction that marks a job delivered, with its record (borrowed): the
 * analytics count deliveries and touchpoints here. A failure rolls the outcome back (it is
 * then retried). Set once at start-up, before the queue starts (NULL: none). */
typedef int (*hub_delivered_hook)(void *ctx, hub_txn *txn, const json_t *job, int64_t now_ms);
void hub_jobs_set_delivered_hook(hub_delivered_hook fn, void *ctx);
/* Puts a dead or failed job back in the queue, due now, with a fresh give-up window.
 * HUB_ENOTFOUND, or HUB_EEXISTS when it is queued, sending or delivered. */
int hub_job_retry(hub_txn *txn, uint64_t id, int64_t now_ms);
/* The API's view of a job record (new reference): {"id","status","channel","item","webhook",
 * "version","variant","locale","journey","step","recipient","message_id","attempts",
 * "last_error","created_at","first_attempt_at","next_attempt_at","finished_at"}. */
json_t *hub_job_view(const json_t *rec, int sending);
/* Jobs of one status in id order after `after`, at most limit views into *out (a new array),
 * leaving out those skip(ctx, id) names (skip may be NULL); *last is the last id when there
 * may be more, else 0. */
int hub_job_list(hub_txn *txn, const char *status, uint64_t after, size_t limit,
                 int (*skip)(void *ctx, uint64_t id), void *ctx, json_t **out, uint64_t *last);
/* Jobs waiting for an attempt (queued or failed). */
size_t hub_job_waiting(hub_txn *txn);

/* Idempotency records of sends (24 h). lookup: 0 with the stored answer (new reference) when
 * key was used with the same request hash; HUB_EINVAL when with another; HUB_ENOTFOUND when
 * unused or expired. put: hash is the request's SHA-256 (hex); answer_text the answer's JSON
 * text in which the "id" of each of its n "deliveries" is left "", ids those n job ids (the
 * answer is the same text for any ids, so it can be made before the jobs are stored). */
int hub_idem_lookup(hub_txn *txn, const char *key, const char *hash, int64_t now_ms,
                    json_t **answer);
int hub_idem_put(hub_txn *txn, const char *key, const char *hash, const char *answer_text,
                 const uint64_t *ids, size_t n, int64_t now_ms);

/* ---- inbox (web channel) --------------------------------------------------------------- */

/* Stores body (a JSON object text) for recipient; a message id stored before is kept as it
 * was. HUB_EINVAL for a bad recipient id, message id or body. */
int hub_inbox_put(hub_txn *txn, const char *channel, const char *recipient, const char *message_id,
                  hub_slice body, int64_t now_ms);
/* {"recipient","messages":[{"message_id","channel","message","created_at","read_at"}],
 * "unread"} newest first, at most limit messages, of one channel or all (NULL). */
int hub_inbox_list(hub_txn *txn, const char *recipient, const char *channel, size_t limit,
                   json_t **out);
/* Marks a message read (once; the first time stays) and returns its view. HUB_ENOTFOUND. */
int hub_inbox_mark_read(hub_txn *txn, const char *recipient, const char *message_id, int64_t now_ms,
                        json_t **out);

/* ---- webhooks (webhooks.c) ------------------------------------------------------------- */

#define HUB_WEBHOOK_ID_MAX  64
#define HUB_WEBHOOK_CHANNEL "webhook" /* the channel name of webhook jobs */
#define HUB_WEBHOOK_SIG_MAX 96

/* 1 for a webhook id: 1..64 of a-z, 0-9, '-', '_'. */
int hub_webhook_id_ok(const char *id);
/* Creates or replaces webhook id from {"url","events":[...],"secret"}; allowed_hosts: a JSON
 * array of host names the url may name (NULL: any). *out: the stored webhook without its
 * secret. HUB_EINVAL with err->problems, HUB_ENOTFOUND for a bad id. */
int hub_webhook_put(hub_txn *txn, const char *id, const json_t *body, const json_t *allowed_hosts,
                    json_t **out, int *created, hub_error *err);
/* The stored record, secret included (for signing); HUB_ENOTFOUND. */
int hub_webhook_load(hub_txn *txn, const char *id, json_t **out);
/* The record without its secret; HUB_ENOTFOUND. */
int hub_webhook_get(hub_txn *txn, const char *id, json_t **out);
int hub_webhook_list(hub_txn *txn, json_t **out);
int hub_webhook_delete(hub_txn *txn, const char *id);
/* The hub_change_hook of core/content (ctx unused): queues one event job per webhook
 * subscribed to the change's type, in the change's transaction; the queue sees it once that
 * commits. */
int hub_webhooks_on_change(void *ctx, hub_txn *txn, const json_t *change);
/* "t=<ts>,v1=<hex HMAC-SHA256(secret, "<event id>.<ts>.<body>")>" into out. 0 or HUB_EIO. */
int hub_webhook_sign(const char *secret, const char *event_id, int64_t ts, hub_slice body,
                     char out[HUB_WEBHOOK_SIG_MAX]);

/* ---- the queue: a dispatcher and worker threads ---------------------------------------- */

typedef struct hub_queue hub_queue;

typedef struct hub_queue_config {
    hub_store *store;                /* its writer runs */
    const hub_plugins *plugins;      /* the channels deliver() is called on */
    hub_delivery_services *services; /* the transports webhook events go out through */
    unsigned workers;                /* 0: 4 */
    hub_retry_policy retry;
    int64_t keep_ms;         /* delivered and dead jobs are kept this long; 0: 7 days */
    int64_t (*now_ms)(void); /* NULL: hub_now_ms */
} hub_queue_config;

/* Starts the dispatcher and the workers, and hooks the store's commits so that new jobs are
 * looked at at once. The dispatcher first makes every job waiting for a later attempt due now
 * (a restart is a fresh start; the breakers decide again). */
int hub_queue_start(const hub_queue_config *cfg, hub_queue **out, hub_error *err);
/* Lets running attempts finish (their outcomes go to the writer), then joins the threads.
 * Call before stopping the store's writer. NULL-safe. */
void hub_queue_stop(hub_queue *q);
/* Look for work now (the commit hook calls it). Thread-safe, NULL-safe. */
void hub_queue_kick(hub_queue *q);
/* 1 while a worker holds job id (its status then reads "sending"). */
int hub_queue_sending(hub_queue *q, uint64_t id);
/* The ids of the jobs held right now (at most HUB_QUEUE_HELD_MAX), ascending, at most cap of
 * them; returns the count. */
#define HUB_QUEUE_HELD_MAX 512
size_t hub_queue_held(hub_queue *q, uint64_t *out, size_t cap);
/* Counters in Prometheus text format. */
int hub_queue_metrics_text(hub_queue *q, hub_buf *out);

#endif
