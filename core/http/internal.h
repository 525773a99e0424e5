/*
 * http internals shared by the server (server.c, request.c) and the resource handlers
 * (h_*.c). Nothing outside core/http includes this.
 *
 * Life of a request: server.c's on_req checks framing, allocates a hub_request (malloc'd,
 * because a write can outlive the h2o request when the client goes away), decodes the path,
 * authenticates, and calls the route's handler on the loop thread. A handler either answers
 * at once (reads) or calls hub_req_write(): the write function then runs on the writer
 * thread inside the group-commit transaction, and `done` runs back on the loop thread with
 * op.result, where it answers. If the client went away meanwhile, r->req is NULL and the
 * answer is dropped (the write still committed). The request is freed after the answer.
 */
#ifndef HUB_HTTP_INTERNAL_H
#define HUB_HTTP_INTERNAL_H

#define H2O_USE_LIBUV 0
#include <pthread.h>
#include <stdatomic.h>

#include <h2o.h>
#include <jansson.h>

#include "http/http.h"

#define HUB_MAX_SEGS   128 /* a 200-byte key has at most 100 segments */
#define HUB_MAX_PARAMS 32

typedef struct hub_http_server hub_http_server;
typedef struct hub_request hub_request;

/* One event loop with its own listener (server.c). Touched only by its own thread, except
 * `receiver`, which the writer thread posts to. */
typedef struct hub_thread {
    h2o_context_t ctx; /* first: on_req finds the thread from req->conn->ctx */
    hub_http_server *server;
    pthread_t tid;
    h2o_accept_ctx_t accept;
    h2o_socket_t *listener;
    int listen_fd;
    int listening;                       /* the listener is being read (not paused at the cap) */
    unsigned conns, max_conns;           /* open connections and this thread's share of the cap */
    h2o_multithread_receiver_t receiver; /* writes coming back from the writer thread */
    size_t pending;                      /* requests waiting for the writer */
    uint64_t answered;                   /* requests answered or handed to the writer */
    atomic_uint_fast64_t stat_requests;  /* for /metrics: written here, read by any thread */
    atomic_uint stat_conns;
    struct hub_conn_slot {
        h2o_conn_t *conn;
        h2o_socket_t *sock;
    } * slots;                      /* open connections by h2o_conn_t (server.c) */
    size_t nslots;                  /* a power of two, at least twice max_conns */
    hub_render_cache *render_cache; /* compiled templates of this thread (render.h) */
} hub_thread;

typedef void (*hub_done_fn)(hub_request *r);
typedef int (*hub_txn_fn)(hub_txn *txn, hub_request *r);

struct hub_request {
    h2o_req_t *req; /* NULL once h2o disposed the request (client gone) */
    hub_thread *thread;
    hub_store *store;
    const hub_schema_set *schemas;
    const hub_http_config *cfg;
    const hub_renderer *renderer;   /* NULL when the hub has no channels */
    hub_render_cache *render_cache; /* the thread's */
    hub_principal principal;        /* who asks (after auth) */

    /* The method, and the path below "/v1/" split on '/' and percent-decoded (a "%2F"
     * inside a segment stays inside that segment). segs[0] is the resource name. */
    char method[8];
    size_t nsegs;
    char *segs[HUB_MAX_SEGS];
    /* Query parameters, decoded ('+' is a space). Repeated names: the first wins. */
    size_t nparams;
    char *param_names[HUB_MAX_PARAMS];
    char *param_values[HUB_MAX_PARAMS];
    /* Request headers the handlers use, copied (NULL when absent). */
    char *if_match;
    char *if_none_match;

    /* For writes: the function run on the writer thread, its result and answer. */
    hub_write_op op;
    hub_txn_fn txn_fn;
    hub_done_fn done;
    json_t *body;     /* parsed request body (owned) */
    json_t *result;   /* what the write produced (owned) */
    hub_error err;    /* why it failed */
    uint32_t version; /* scratch for handlers */
    int created;      /* scratch for handlers */
    void *scratch;    /* scratch for handlers, freed with scratch_free, else free() */
    void (*scratch_free)(void *);

    /* Private to server.c and request.c. */
    void *guard_;                   /* lives in the h2o request's pool; clears r->req */
    h2o_multithread_message_t msg_; /* the writer's "done" back to the loop thread */
};

/* ---- request helpers (request.c) ------------------------------------------------------- */

/* The decoded value of query parameter `name`, or NULL. Borrowed from r. */
const char *hub_req_param(const hub_request *r, const char *name);
/* 1 when the query has a parameter not in the NULL-terminated list `known`; then sends 400
 * naming it. Handlers call this first so a typo is an error, not a silent default. */
int hub_req_reject_unknown_params(hub_request *r, const char *const *known);
/* Joins r->segs[first..end) with '/' into out (cap bytes with the NUL). Returns the length,
 * or SIZE_MAX when the result does not fit. */
size_t hub_req_join_segs(const hub_request *r, size_t first, size_t end, char *out, size_t cap);
/* 1 when an If-Match / If-None-Match value ("*" or a list of entity tags) names etag (with
 * its quotes). weak: RFC 9110 weak comparison (If-None-Match), else strong (If-Match). */
int hub_req_etag_match(const char *list, const char *etag, size_t etag_len, int weak);
/* Reads ?status=draft|published with the role rules: absent gives default_draft for roles
 * that may read drafts (preview and up), else published; draft from a delivery token is 403.
 * Sends the error and returns -1. */
int hub_req_status_draft(hub_request *r, int default_draft, int *out_draft);
/* Parses ?limit= (default 100, 1..1000). On a bad value sends 400 and returns -1. */
int hub_req_limit(hub_request *r, size_t *out);

/*
 * Parses the body as a JSON value (r->body): Content-Type must be application/json (or
 * application/merge-patch+json when allow_merge_patch) else 415; the body must be valid
 * UTF-8 and JSON else 400; objects only when require_object (else 422). Sends the error
 * itself and returns -1; 0 on success.
 */
int hub_req_read_json(hub_request *r, int require_object, int allow_merge_patch);
/* The query parameter `name` as a canonical BCP 47 tag in out: 1, with out "" when it is
 * absent or empty and not required; 0 after answering 400 ("<name>: <why>"). */
int hub_req_locale_param(hub_request *r, const char *name, char out[HUB_LOCALE_TAG_MAX],
                         int required);
/* 1 when the request's Content-Type is one of types (NULL-terminated; parameters other than
 * charset=utf-8 do not match). */
int hub_req_content_type_in(const hub_request *r, const char *const *types);

/* Copies the value of request header `name` (lower case) into out: 1, 0 when absent, -1 when
 * it does not fit in cap bytes with its NUL. */
int hub_req_header_copy(const hub_request *r, const char *name, char *out, size_t cap);

/* 1 if the principal has at least `role`; else sends 403 and returns 0. */
int hub_req_require(hub_request *r, hub_role role);

/* ---- answers (request.c) --------------------------------------------------------------- */

/* Adds a response header (copied). */
void hub_req_header(hub_request *r, const char *name, const char *value);
/*
 * Each send function answers and FINISHES the request: r is freed when it returns, so a
 * handler calls exactly one of them, last (or hub_req_write, whose `done` then does).
 */
/* Sends status with a JSON body (stolen; NULL = no body, e.g. 204), content-type
 * application/json; charset=utf-8. */
void hub_req_send_json(hub_request *r, int status, json_t *body);
/* Sends raw bytes (copied) with the given content type. */
void hub_req_send_bytes(hub_request *r, int status, const char *content_type, const char *body,
                        size_t len);
/* RFC 9457 problem details: {"type":"about:blank","title","status","detail","errors":[...]}
 * (errors from `problems` when non-NULL and non-empty). application/problem+json. */
void hub_req_send_problem(hub_request *r, int status, const char *detail,
                          const hub_problems *problems);
/* Maps err->code to a status (base.h lists them) and sends err as a problem. */
void hub_req_send_error(hub_request *r, const hub_error *err);
/* The HTTP status for a HUB_E* code. */
int hub_status_for(int code);

/*
 * Runs fn(txn, r) on the writer thread in the group-commit transaction, then done(r) on this
 * loop thread with r->op.result set (fn's result, or the commit's failure). done must answer
 * (it is skipped, and r freed, if the client went away). If fn fails without filling r->err,
 * r->err gets the code and a generic message.
 */
void hub_req_write(hub_request *r, hub_txn_fn fn, hub_done_fn done);
/* The same with the op's durability: HUB_WRITE_JOURNAL answers once the change is in the
 * journal; reads of other requests see it after the next commit (the send alone uses it). */
void hub_req_write_as(hub_request *r, hub_txn_fn fn, hub_done_fn done, hub_write_durability d);

/* Ready-made `done` functions: answer r->err on failure, else r->result (stolen) with 201
 * when r->created or 200 (hub_req_done_json), or 204 (hub_req_done_empty). */
void hub_req_done_json(hub_request *r);
void hub_req_done_empty(hub_request *r);
/* Answers a read: 200 with out (stolen) when rc is 0, else the status for rc with
 * "<what>: <reason>" (out is released). */
void hub_req_send_read(hub_request *r, int rc, json_t *out, const char *what);

/* Answers a read of one resource: as hub_req_send_read, except that HUB_ENOTFOUND is a 404
 * whose detail is missing_fmt formatted ("no webhook '%s'"). */
void hub_req_send_one(hub_request *r, int rc, json_t *out, const char *what,
                      const char *missing_fmt, ...) __attribute__((format(printf, 5, 6)));

/* PUT or DELETE of one resource named `id` (GET is the caller's; other methods get 405
 * "GET, PUT, DELETE"): requires `role`, keeps a copy of id in r->scratch for the writer
 * thread, reads the JSON object body of a PUT, and runs put (answered by hub_req_done_json)
 * or del (answered by hub_req_done_empty). */
void hub_req_put_or_delete(hub_request *r, hub_role role, const char *id, hub_txn_fn put,
                           hub_txn_fn del);

/* Answers one page of a collection core returns whole: `all` (stolen) holds every record in
 * byte order of its string member `id`; ?limit= and ?cursor= (base64url of the last id
 * served, so paging stays right while records come and go) pick the page, answered as
 * {"items","next_cursor"}. rc != 0: answers the failure as hub_req_send_read. */
void hub_req_send_list(hub_request *r, int rc, json_t *all, const char *id, const char *what);

/* The start of a collection resource: a GET of the collection itself may take ?limit= and
 * ?cursor=, other requests no query parameters; the principal needs `role`. Returns 1 for
 * "list the collection", 0 for anything else, -1 when it answered (400 or 403). */
int hub_req_collection_start(hub_request *r, hub_role role);
/* For a resource that only takes POST on its bare path (/v1/render, /v1/events): 1 when r is
 * such a POST; else answers 404 or 405 and returns 0. */
int hub_req_bare_post(hub_request *r);

/* ---- routing (routes.c and h_*.c) ------------------------------------------------------ */

/* A resource handler: look at r->method and r->segs, answer or start a write. */
typedef void (*hub_handler_fn)(hub_request *r);

/* Finds the handler for r->segs[0]; NULL if the resource does not exist (404). */
hub_handler_fn hub_route_find(const char *resource);

/* Sends 405 with an Allow header listing `allow` (e.g. "GET, PUT, DELETE"). */
void hub_req_method_not_allowed(hub_request *r, const char *allow);
/* 1 if r->method equals m ("HEAD" also matches "GET"). */
int hub_req_is(const hub_request *r, const char *m);

/* The resources (one file each). */
void hub_h_tokens(hub_request *r);
/* POST /v1/journeys/{id}/steps/{step}/send (h_send.c); journey: the full id. */
void hub_h_send(hub_request *r, const char *journey, const char *step);
/* Checks a recipient object as send and render take it ({"id", "locale", "email", "phone",
 * "push", "segments", "attributes", "consent", "preferred_channel"}): problems into p, under
 * /recipient. id_required: send needs an id; a render may go without. (h_send.c) */
void hub_check_recipient(const json_t *rc, int id_required, hub_problems *p);
void hub_h_deliveries(hub_request *r);
void hub_h_inbox(hub_request *r);
void hub_h_webhooks(hub_request *r);
void hub_h_locales(hub_request *r);
void hub_h_taxonomy(hub_request *r);
void hub_h_items(hub_request *r);
void hub_h_content(hub_request *r);
void hub_h_events(hub_request *r);
void hub_h_reports(hub_request *r);
void hub_h_translations(hub_request *r);

/* ---- variant assignment for one recipient (h_assign.c) ---------------------------------- */

#define HUB_SEGMENTS_MAX 64

/* Who a read or a send is for: the subject and segments of the query or the body. */
typedef struct hub_audience_in {
    hub_slice subject; /* len 0: none */
    hub_slice segs[HUB_SEGMENTS_MAX];
    size_t nsegs;
} hub_audience_in;

/* Reads ?subject= and ?segments= (comma separated). Sends 400 and returns -1 when bad. */
int hub_req_audience(hub_request *r, hub_audience_in *out);

/* The decision for key (published, or the draft when draft) for `who`: *p is the plan
 * (borrowing scratch or the transaction), *d the decision, *version (may be NULL) the
 * published version (0 for a draft). HUB_ENOTFOUND (err says: not published / no such
 * item), HUB_EIO. */
int hub_req_assign(hub_txn *txn, const char *key, int draft, const hub_audience_in *who,
                   hub_buf *scratch, hub_plan *p, hub_decision *d, uint32_t *version,
                   hub_error *err);

/* Queues the exposure of a decision for recording when it is one (a running test with a
 * subject) that the store does not know yet. */
void hub_req_note_exposure(hub_request *r, const char *key, const hub_audience_in *who,
                           const hub_plan *p, const hub_decision *d, const char *channel);
void hub_h_render(hub_request *r);
void hub_h_journeys(hub_request *r);
void hub_h_changes(hub_request *r);
void hub_h_audit(hub_request *r);

/* ---- between server.c and request.c ---------------------------------------------------- */

/* Makes the hub_request for an h2o request: copies method, decoded path segments, query and
 * the headers handlers use into one allocation owned by r. On malformed input (bad percent
 * encoding, NUL, invalid UTF-8, too many segments or parameters) it answers 400/404 itself
 * and returns NULL. */
hub_request *hub_req_new(hub_thread *t, h2o_req_t *req);
/* Sends an RFC 9457 problem for a request that has no hub_request (yet). */
void hub_req_send_early_problem(hub_thread *t, h2o_req_t *req, int status, const char *detail);
/* The loop thread's side of a finished write (registered on thread->receiver). */
void hub_req_on_writes_done(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages);

#endif
