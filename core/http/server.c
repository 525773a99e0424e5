/*
 * The HTTP/1.1 server: one libh2o evloop per thread, each with its own SO_REUSEPORT listener
 * (the kernel spreads connections by 4-tuple hash), a per-thread share of the connection
 * cap, and one catch-all handler that checks framing, authenticates and routes.
 *
 * HTTP/2 is off (Debian's 2.2.5 lacks the rapid-reset fix). Errors h2o produces itself
 * (413 over the body limit, 400 broken chunked encoding, 417) are rewritten into RFC 9457
 * problems by a filter on the fallback path, which is where h2o binds such requests.
 *
 * Stop: the stop flag ends each loop's run; the thread closes its listener, asks h2o to
 * stop keep-alive, expires idle connections at once, and keeps running until its writes
 * are answered and its connections closed.
 */
#include <errno.h>
#include <netdb.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http/internal.h"

#define DRAIN_MAX_MS 30000

struct hub_http_server {
    hub_http_config cfg;
    hub_store *store;
    const hub_schema_set *schemas;
    h2o_globalconf_t config;
    h2o_hostconf_t *host;
    hub_thread *threads;
    unsigned nthreads, started;
    uint16_t port;
    atomic_int stopping;
};

typedef struct hub_handler {
    h2o_handler_t super;
    hub_http_server *server;
} hub_handler;

typedef struct problem_filter {
    h2o_filter_t super;
    hub_http_server *server;
} problem_filter;

typedef struct swap_ostream {
    h2o_ostream_t super;
    h2o_iovec_t body;
} swap_ostream;

void hub_http_config_defaults(hub_http_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    snprintf(cfg->host, sizeof(cfg->host), "127.0.0.1");
    cfg->port = 8080;
    cfg->threads = 0;
    cfg->max_body_bytes = 1024 * 1024;
    cfg->max_connections = 1024;
    cfg->request_timeout_ms = 10000;
}

/* ---- framing and authentication ---------------------------------------------------------- */

/*
 * The connections of a thread by h2o_conn_t, to find a request's socket: h2o sets
 * sock->data to the connection when it accepts. Open addressing with linear probing.
 */
typedef struct conn_rec {
    hub_thread *t;
    h2o_conn_t *conn;
} conn_rec;

static size_t slot_of(const hub_thread *t, const void *conn)
{
    uint64_t h = (uint64_t)(uintptr_t)conn;
    h ^= h >> 17;
    h *= 0x9E3779B97F4A7C15ull;
    return (size_t)(h >> 24) & (t->nslots - 1);
}

static void conns_add(hub_thread *t, h2o_conn_t *conn, h2o_socket_t *sock)
{
    size_t i = slot_of(t, conn);
    while (t->slots[i].conn != NULL)
        i = (i + 1) & (t->nslots - 1);
    t->slots[i].conn = conn;
    t->slots[i].sock = sock;
}

static h2o_socket_t *conns_find(const hub_thread *t, const h2o_conn_t *conn)
{
    for (size_t i = slot_of(t, conn); t->slots[i].conn != NULL; i = (i + 1) & (t->nslots - 1))
        if (t->slots[i].conn == conn)
            return t->slots[i].sock;
    return NULL;
}

static void conns_remove(hub_thread *t, const h2o_conn_t *conn)
{
    size_t mask = t->nslots - 1, i = slot_of(t, conn);
    while (t->slots[i].conn != conn) {
        if (t->slots[i].conn == NULL)
            return;
        i = (i + 1) & mask;
    }
    /* Backward-shift deletion keeps every probe chain unbroken without tombstones. */
    for (size_t j = (i + 1) & mask; t->slots[j].conn != NULL; j = (j + 1) & mask) {
        size_t k = slot_of(t, t->slots[j].conn);
        int movable = i <= j ? (k <= i || k > j) : (k <= i && k > j);
        if (movable) {
            t->slots[i] = t->slots[j];
            i = j;
        }
    }
    t->slots[i].conn = NULL;
    t->slots[i].sock = NULL;
}

static int header_named(const char *line, size_t len, const char *name)
{
    size_t n = strlen(name);
    return len > n && strncasecmp(line, name, n) == 0 && line[n] == ':';
}

/*
 * h2o 2.2.5 uses the first of several Content-Length headers, accepts Content-Length next to
 * Transfer-Encoding, and keeps neither in req->headers: both open the door to request
 * smuggling. The raw head is still at the start of the connection's input buffer (h2o
 * consumes it only after the response; bodies follow it): scan it, bounded by the buffer.
 */
static int framing_ok(const hub_thread *t, const h2o_req_t *req)
{
    h2o_socket_t *sock = conns_find(t, req->conn);
    if (sock == NULL || sock->input == NULL)
        return 0; /* cannot check: refuse rather than guess */
    const char *p = sock->input->bytes;
    const char *end = p + (sock->input->size < H2O_MAX_REQLEN ? sock->input->size : H2O_MAX_REQLEN);
    int lengths = 0, chunked = 0, first = 1;
    while (p < end && (*p == '\r' || *p == '\n'))
        p++; /* the parser skips empty lines before the request line */
    while (p < end) {
        const char *line = p;
        while (p < end && *p != '\n')
            p++;
        if (p == end)
            return 0;
        size_t len = (size_t)(p - line);
        if (len > 0 && line[len - 1] == '\r')
            len--;
        p++;
        if (len == 0 && !first)
            break;
        first = 0;
        lengths += header_named(line, len, "content-length");
        chunked += header_named(line, len, "transfer-encoding");
    }
    return lengths <= 1 && chunked <= 1 && !(lengths == 1 && chunked == 1);
}

/* Fills r->principal from "Authorization: Bearer <secret>"; sends 401 and returns -1. */
static int authenticate(hub_request *r, h2o_req_t *req)
{
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1);
    if (i < 0) {
        hub_req_send_problem(r, 401, "missing Authorization: Bearer <token>", NULL);
        return -1;
    }
    h2o_iovec_t v = req->headers.entries[i].value;
    if (v.len < 7 || strncasecmp(v.base, "bearer ", 7) != 0) {
        hub_req_send_problem(r, 401, "the Authorization header must be 'Bearer <token>'", NULL);
        return -1;
    }
    const char *secret = v.base + 7;
    size_t len = v.len - 7;
    while (len > 0 && *secret == ' ') {
        secret++;
        len--;
    }
    hub_txn *txn = NULL;
    int rc = hub_store_read(r->store, &txn);
    if (rc == 0) {
        rc = hub_auth_lookup(txn, secret, len, &r->principal);
        hub_txn_end(txn);
    }
    if (rc == HUB_EUNAUTH || rc == HUB_ENOTFOUND) {
        hub_req_send_problem(r, 401, "unknown or revoked token", NULL);
        return -1;
    }
    if (rc != 0) {
        hub_error e = {.code = rc};
        snprintf(e.message, sizeof(e.message), "cannot check the token: %s", hub_strerror(rc));
        hub_req_send_error(r, &e);
        return -1;
    }
    return 0;
}

/* ---- the handler ---------------------------------------------------------------------------- */

/* Answers a request outside /v1 with body (in the pool or static) and finishes it. */
static void send_plain(hub_thread *t, h2o_req_t *req, const char *content_type, const char *body,
                       size_t len)
{
    static h2o_generator_t generator = {NULL, NULL};
    req->res.status = 200;
    req->res.reason = "OK";
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, content_type,
                   strlen(content_type));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL,
                   H2O_STRLIT("no-store"));
    req->res.content_length = len;
    t->answered++;
    h2o_start_response(req, &generator);
    int head = h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD"));
    h2o_iovec_t buf = h2o_iovec_init(body, head ? 0 : len);
    h2o_send(req, &buf, head ? 0 : 1, H2O_SEND_STATE_FINAL);
}

/* Prometheus text format (version 0.0.4). */
static void send_metrics(hub_http_server *s, hub_thread *t, h2o_req_t *req)
{
    hub_buf b;
    hub_buf_init(&b, 64 * 1024);
    uint64_t requests = 0, conns = 0;
    /* every thread's counters (zero until it runs): `started` moves while threads start */
    for (unsigned i = 0; i < s->nthreads; i++) {
        requests += atomic_load_explicit(&s->threads[i].stat_requests, memory_order_relaxed);
        conns += atomic_load_explicit(&s->threads[i].stat_conns, memory_order_relaxed);
    }
    hub_buf_printf(&b,
                   "# HELP omnihub_http_requests_total HTTP requests received.\n"
                   "# TYPE omnihub_http_requests_total counter\n"
                   "omnihub_http_requests_total %llu\n"
                   "# HELP omnihub_http_connections Open client connections.\n"
                   "# TYPE omnihub_http_connections gauge\n"
                   "omnihub_http_connections %llu\n"
                   "# HELP omnihub_store_commits_total Durable write transactions (group commits "
                   "count once).\n"
                   "# TYPE omnihub_store_commits_total counter\n"
                   "omnihub_store_commits_total %llu\n"
                   "# HELP omnihub_store_map_used_bytes Bytes of the LMDB map in use.\n"
                   "# TYPE omnihub_store_map_used_bytes gauge\n"
                   "omnihub_store_map_used_bytes %llu\n",
                   (unsigned long long)requests, (unsigned long long)conns,
                   (unsigned long long)hub_store_commit_count(s->store),
                   (unsigned long long)hub_store_map_used(s->store));
    hub_writer_stats ws;
    hub_store_writer_stats(s->store, &ws);
    hub_buf_printf(&b,
                   "# HELP omnihub_store_writer_batches_total Batches the writer thread ran, one "
                   "transaction each.\n"
                   "# TYPE omnihub_store_writer_batches_total counter\n"
                   "omnihub_store_writer_batches_total %llu\n"
                   "# HELP omnihub_store_writer_ops_total Write operations in those batches.\n"
                   "# TYPE omnihub_store_writer_ops_total counter\n"
                   "omnihub_store_writer_ops_total %llu\n"
                   "# HELP omnihub_store_writer_busy_seconds_total Time the writer spent running "
                   "batches.\n"
                   "# TYPE omnihub_store_writer_busy_seconds_total counter\n"
                   "omnihub_store_writer_busy_seconds_total %.6f\n"
                   "# HELP omnihub_store_writer_commit_seconds_total Of which in LMDB's "
                   "commits: page writes and fsyncs.\n"
                   "# TYPE omnihub_store_writer_commit_seconds_total counter\n"
                   "omnihub_store_writer_commit_seconds_total %.6f\n"
                   "# HELP omnihub_store_writer_journaled_total Batches made durable in the "
                   "journal (LMDB commits them later, many at once).\n"
                   "# TYPE omnihub_store_writer_journaled_total counter\n"
                   "omnihub_store_writer_journaled_total %llu\n"
                   "# HELP omnihub_store_writer_journal_seconds_total Of the busy time, writing "
                   "journal records.\n"
                   "# TYPE omnihub_store_writer_journal_seconds_total counter\n"
                   "omnihub_store_writer_journal_seconds_total %.6f\n"
                   "# HELP omnihub_store_journal_flushes_total Journal flushes (fdatasync), each "
                   "covering the records written before it.\n"
                   "# TYPE omnihub_store_journal_flushes_total counter\n"
                   "omnihub_store_journal_flushes_total %llu\n"
                   "# HELP omnihub_store_journal_flush_seconds_total Time in those flushes.\n"
                   "# TYPE omnihub_store_journal_flush_seconds_total counter\n"
                   "omnihub_store_journal_flush_seconds_total %.6f\n",
                   (unsigned long long)ws.batches, (unsigned long long)ws.ops,
                   (double)ws.busy_us / 1e6, (double)ws.commit_us / 1e6,
                   (unsigned long long)ws.journaled, (double)ws.journal_us / 1e6,
                   (unsigned long long)ws.flushes, (double)ws.flush_us / 1e6);
    const hub_plugins *plugins =
        s->cfg.renderer != NULL ? hub_renderer_plugins(s->cfg.renderer) : NULL;
    hub_buf_printf(&b,
                   "# HELP omnihub_channels_loaded Channel plugins loaded.\n"
                   "# TYPE omnihub_channels_loaded gauge\n"
                   "omnihub_channels_loaded %zu\n",
                   hub_plugins_count(plugins));
    hub_plugins_metrics_text(&b);
    hub_queue_metrics_text(t->server->cfg.queue, &b);
    uint64_t written, dropped;
    hub_recorder_stats(s->cfg.recorder, &written, &dropped);
    hub_buf_printf(&b,
                   "# HELP omnihub_exposures_recorded_total First exposures of reads written "
                   "in the background.\n"
                   "# TYPE omnihub_exposures_recorded_total counter\n"
                   "omnihub_exposures_recorded_total %llu\n"
                   "# HELP omnihub_exposures_dropped_total First exposures of reads dropped "
                   "because too many were waiting (counted at the subject's next read).\n"
                   "# TYPE omnihub_exposures_dropped_total counter\n"
                   "omnihub_exposures_dropped_total %llu\n",
                   (unsigned long long)written, (unsigned long long)dropped);
    char *body = h2o_mem_alloc_pool(&req->pool, b.len + 1);
    memcpy(body, b.data, b.len);
    send_plain(t, req, "text/plain; version=0.0.4; charset=utf-8", body, b.len);
    hub_buf_free(&b);
}

/* ---- reads that see every answered send ------------------------------------------------------ */

/* A send (POST .../steps/{step}/send) is answered once journaled, before LMDB commits it (its
 * own reads need no other send's changes). */
static int is_send(const hub_request *r)
{
    return r->nsegs >= 5 && strcmp(r->segs[0], "journeys") == 0 &&
           strcmp(r->segs[r->nsegs - 1], "send") == 0 &&
           strcmp(r->segs[r->nsegs - 3], "steps") == 0 && hub_req_is(r, "POST");
}

/* Run by the writer after the commit that lets reads see every journaled change. */
static int wait_for_commit(hub_txn *txn, hub_request *r)
{
    (void)txn;
    (void)r;
    return 0;
}

static void handle_settled(hub_request *r)
{
    if (r->op.result < 0) {
        hub_req_send_error(r, &r->err);
        return;
    }
    hub_route_find(r->segs[0])(r);
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    hub_http_server *s = ((hub_handler *)self)->server;
    hub_thread *t = H2O_STRUCT_FROM_MEMBER(hub_thread, ctx, req->conn->ctx);
    size_t path_len = req->query_at != SIZE_MAX ? req->query_at : req->path.len;
    h2o_iovec_t path = h2o_iovec_init(req->path.base, path_len);
    int framed = framing_ok(t, req);
    if (!framed)
        req->http1_is_persistent = 0; /* whatever follows on this connection is suspect */
    atomic_fetch_add_explicit(&t->stat_requests, 1, memory_order_relaxed);
    int get = h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET")) ||
              h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD"));
    if (framed && get && h2o_memis(path.base, path.len, H2O_STRLIT("/healthz"))) {
        static const char ok[] = "{\"status\":\"ok\"}";
        send_plain(t, req, "application/json; charset=utf-8", ok, sizeof(ok) - 1);
        return 0;
    }
    if (framed && get && h2o_memis(path.base, path.len, H2O_STRLIT("/metrics"))) {
        send_metrics(s, t, req);
        return 0;
    }
    if (framed && (h2o_memis(path.base, path.len, H2O_STRLIT("/metrics")) ||
                   h2o_memis(path.base, path.len, H2O_STRLIT("/healthz")))) {
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ALLOW, NULL,
                       H2O_STRLIT("GET, HEAD"));
        hub_req_send_early_problem(t, req, 405, "only GET and HEAD are allowed here");
        return 0;
    }
    if (path.len < 5 || memcmp(path.base, "/v1/", 4) != 0) {
        hub_req_send_early_problem(t, req, framed ? 404 : 400,
                                   framed ? "no such resource; the API lives under /v1/"
                                          : "repeated or conflicting length headers");
        return 0;
    }
    hub_request *r = hub_req_new(t, req);
    if (r == NULL)
        return 0;
    r->store = s->store;
    r->schemas = s->schemas;
    r->cfg = &s->cfg;
    r->renderer = s->cfg.renderer;
    r->render_cache = t->render_cache;
    if (!framed) {
        hub_req_send_problem(r, 400,
                             "repeated or conflicting Content-Length and "
                             "Transfer-Encoding headers",
                             NULL);
        return 0;
    }
    if (authenticate(r, req) != 0)
        return 0;
    hub_handler_fn fn = hub_route_find(r->segs[0]);
    if (fn == NULL) {
        hub_req_send_problem(r, 404, "no such resource", NULL);
        return 0;
    }
    if (!hub_store_settled(r->store) && !is_send(r)) {
        /* Sends were answered that LMDB has not committed yet: a client that had its 202
         * must find its delivery. The request goes on after the commit. */
        hub_req_write(r, wait_for_commit, handle_settled);
        return 0;
    }
    uint64_t before = t->answered;
    fn(r);
    if (t->answered == before) { /* a handler bug: r is still ours, answer it */
        HUB_LOG_ERROR("http: handler for '%s' returned without answering", r->segs[0]);
        hub_req_send_problem(r, 500, "the server did not answer this request", NULL);
    }
    return 0;
}

/* ---- h2o's own errors as problems ----------------------------------------------------------- */

static void swap_send(h2o_ostream_t *self, h2o_req_t *req, h2o_iovec_t *bufs, size_t n,
                      h2o_send_state_t state)
{
    swap_ostream *o = (swap_ostream *)self;
    (void)bufs;
    (void)n;
    if (h2o_send_state_is_in_progress(state)) {
        h2o_ostream_send_next(self, req, NULL, 0, state);
        return;
    }
    h2o_ostream_send_next(self, req, &o->body, 1, state);
}

static void on_setup_ostream(h2o_filter_t *self, h2o_req_t *req, h2o_ostream_t **slot)
{
    hub_http_server *s = ((problem_filter *)self)->server;
    if (req->res.status >= 400) {
        char detail[160];
        if (req->res.status == 413)
            snprintf(detail, sizeof(detail),
                     "the request body is larger than the limit of %zu bytes",
                     s->cfg.max_body_bytes);
        else
            snprintf(detail, sizeof(detail), "%s", req->res.reason);
        json_t *doc = json_pack("{s:s,s:s,s:i,s:s}", "type", "about:blank", "title",
                                req->res.reason, "status", req->res.status, "detail", detail);
        size_t len = doc != NULL ? json_dumpb(doc, NULL, 0, JSON_COMPACT) : 0;
        char *buf = h2o_mem_alloc_pool(&req->pool, len + 1);
        len = doc != NULL ? json_dumpb(doc, buf, len, JSON_COMPACT) : 0;
        json_decref(doc);
        ssize_t i = h2o_find_header(&req->res.headers, H2O_TOKEN_CONTENT_TYPE, -1);
        if (i >= 0)
            req->res.headers.entries[i].value =
                h2o_iovec_init(H2O_STRLIT("application/problem+json"));
        req->res.content_length = len;
        swap_ostream *o = (swap_ostream *)h2o_add_ostream(req, sizeof(*o), slot);
        o->super.do_send = swap_send;
        o->body = h2o_iovec_init(buf, len);
        slot = &o->super.next;
    }
    h2o_setup_next_ostream(req, slot);
}

/* ---- connections ------------------------------------------------------------------------------
 */

static void on_accept(h2o_socket_t *listener, const char *err);

static void on_conn_closed(void *data)
{
    conn_rec *rec = data;
    hub_thread *t = rec->t;
    conns_remove(t, rec->conn);
    free(rec);
    t->conns--;
    atomic_store_explicit(&t->stat_conns, t->conns, memory_order_relaxed);
    if (!t->listening && t->listener != NULL && !atomic_load(&t->server->stopping)) {
        h2o_socket_read_start(t->listener, on_accept);
        t->listening = 1;
    }
}

static void on_accept(h2o_socket_t *listener, const char *err)
{
    hub_thread *t = listener->data;
    if (err != NULL)
        return;
    for (int i = 0; i < 16 && t->conns < t->max_conns; i++) {
        h2o_socket_t *sock = h2o_evloop_socket_accept(listener);
        if (sock == NULL)
            break;
        conn_rec *rec = malloc(sizeof(*rec));
        if (rec == NULL) {
            h2o_socket_close(sock);
            continue;
        }
        t->conns++;
        atomic_store_explicit(&t->stat_conns, t->conns, memory_order_relaxed);
        h2o_accept(&t->accept, sock);
        /* h2o_http1_accept made the connection and pointed sock->data at it. */
        *rec = (conn_rec){t, sock->data};
        conns_add(t, rec->conn, sock);
        sock->on_close.cb = on_conn_closed;
        sock->on_close.data = rec;
    }
    if (t->conns >= t->max_conns && t->listening) {
        /* At the cap: stop accepting; the kernel queues newcomers until one closes. */
        h2o_socket_read_stop(listener);
        t->listening = 0;
    }
}

static int open_listener(hub_http_server *s, uint16_t port, int *out_fd, hub_error *err)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    char portstr[8];
    snprintf(portstr, sizeof(portstr), "%u", (unsigned)port);
    int rc = getaddrinfo(s->cfg.host, portstr, &hints, &ai);
    if (rc != 0)
        return hub_error_set(err, HUB_EIO, "listen: cannot resolve '%s': %s", s->cfg.host,
                             gai_strerror(rc));
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int on = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) != 0 ||
        (ai->ai_family == AF_INET6 &&
         setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on)) != 0) ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 1024) != 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        freeaddrinfo(ai);
        return hub_error_set(err, HUB_EIO, "listen on %s:%s: %s", s->cfg.host, portstr,
                             strerror(e));
    }
    freeaddrinfo(ai);
    if (s->port == 0) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
            s->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                     : ((struct sockaddr_in *)&ss)->sin_port);
    }
    *out_fd = fd;
    return 0;
}

/* ---- threads ----------------------------------------------------------------------------------
 */

static void drain(hub_thread *t)
{
    if (t->listener != NULL) {
        if (t->listening)
            h2o_socket_read_stop(t->listener);
        h2o_socket_close(t->listener);
        t->listener = NULL;
    }
    h2o_context_request_shutdown(&t->ctx);
    /* Idle keep-alive connections wait for a request until req_timeout: expire them now.
     * Requests being handled have no timeout armed; their connections close after answering. */
    t->ctx.http1.req_timeout.timeout = 0;
    int64_t deadline = hub_mono_ms() + DRAIN_MAX_MS;
    while ((t->pending > 0 || !h2o_linklist_is_empty(&t->ctx.http1._conns)) &&
           hub_mono_ms() < deadline)
        h2o_evloop_run(t->ctx.loop, 50);
}

static void *thread_main(void *arg)
{
    hub_thread *t = arg;
    hub_thread_name("oh-http");
    h2o_context_init(&t->ctx, h2o_evloop_create(), &t->server->config);
    h2o_multithread_register_receiver(t->ctx.queue, &t->receiver, hub_req_on_writes_done);
    t->accept.ctx = &t->ctx;
    t->accept.hosts = t->server->config.hosts;
    t->listener = h2o_evloop_socket_create(t->ctx.loop, t->listen_fd, H2O_SOCKET_FLAG_DONT_READ);
    t->listener->data = t;
    h2o_socket_read_start(t->listener, on_accept);
    t->listening = 1;
    t->render_cache = hub_render_cache_new(0);
    while (!atomic_load(&t->server->stopping))
        h2o_evloop_run(t->ctx.loop, 100);
    drain(t);
    if (t->pending > 0 || !h2o_linklist_is_empty(&t->ctx.http1._conns)) {
        /* Disposing with live connections would abort inside h2o: leave them to exit. */
        HUB_LOG_WARN("http: %zu writes and some connections still open after %d ms", t->pending,
                     DRAIN_MAX_MS);
        return NULL;
    }
    /* HTTP/2 is off, so the GOAWAY timer request_shutdown armed has nothing to do. */
    if (h2o_timeout_is_linked(&t->ctx.http2._graceful_shutdown_timeout))
        h2o_timeout_unlink(&t->ctx.http2._graceful_shutdown_timeout);
    hub_render_cache_free(t->render_cache);
    t->render_cache = NULL;
    h2o_multithread_unregister_receiver(t->ctx.queue, &t->receiver);
    h2o_loop_t *loop = t->ctx.loop;
    h2o_context_dispose(&t->ctx);
    h2o_evloop_destroy(loop);
    return NULL;
}

static void configure(hub_http_server *s)
{
    h2o_config_init(&s->config);
    s->config.server_name = h2o_iovec_init(H2O_STRLIT("omnihub"));
    s->config.max_request_entity_size = s->cfg.max_body_bytes;
    s->config.http1.req_timeout = s->cfg.request_timeout_ms;
    s->config.http1.upgrade_to_http2 = 0;
    s->host = h2o_config_register_host(&s->config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *path = h2o_config_register_path(s->host, "/", 0);
    hub_handler *h = (hub_handler *)h2o_create_handler(path, sizeof(*h));
    h->super.on_req = on_req;
    h->server = s;
    problem_filter *f = (problem_filter *)h2o_create_filter(&s->host->fallback_path, sizeof(*f));
    f->super.on_setup_ostream = on_setup_ostream;
    f->server = s;
}

/* Lets the process hold the connection cap plus the store's and the loops' descriptors. */
static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

int hub_http_start(hub_http_server **out, const hub_http_config *cfg, hub_store *store,
                   const hub_schema_set *schemas, hub_error *err)
{
    *out = NULL;
    if (cfg->threads < 1 || cfg->max_connections < 1 || cfg->max_body_bytes < 1)
        return hub_error_set(err, HUB_EINVAL,
                             "http: threads, max_connections and "
                             "max_body_bytes must be at least 1");
    hub_http_server *s = calloc(1, sizeof(*s));
    if (s == NULL || (s->threads = calloc(cfg->threads, sizeof(hub_thread))) == NULL) {
        free(s);
        return hub_error_set(err, HUB_ENOMEM, "http: out of memory");
    }
    s->cfg = *cfg;
    s->store = store;
    s->schemas = cfg->renderer != NULL ? hub_renderer_schemas(cfg->renderer) : schemas;
    s->nthreads = cfg->threads;
    s->port = cfg->port;
    raise_fd_limit();
    configure(s);
    unsigned share = cfg->max_connections / cfg->threads;
    for (unsigned i = 0; i < s->nthreads; i++) {
        hub_thread *t = &s->threads[i];
        t->server = s;
        t->listen_fd = -1;
        t->max_conns = share > 0 ? share : 1;
        for (t->nslots = 16; t->nslots < 2 * (size_t)t->max_conns;)
            t->nslots *= 2;
        t->slots = calloc(t->nslots, sizeof(*t->slots));
        if (t->slots == NULL) {
            hub_http_stop(s);
            return hub_error_set(err, HUB_ENOMEM, "http: out of memory");
        }
        int rc = open_listener(s, s->port, &t->listen_fd, err);
        if (rc != 0) {
            hub_http_stop(s);
            return rc;
        }
    }
    for (; s->started < s->nthreads; s->started++) {
        hub_thread *t = &s->threads[s->started];
        if (pthread_create(&t->tid, NULL, thread_main, t) != 0) {
            hub_http_stop(s);
            return hub_error_set(err, HUB_EIO, "http: cannot start a thread");
        }
    }
    *out = s;
    return 0;
}

uint16_t hub_http_port(const hub_http_server *s)
{
    return s->port;
}

void hub_http_stop(hub_http_server *s)
{
    if (s == NULL)
        return;
    atomic_store(&s->stopping, 1);
    for (unsigned i = 0; i < s->started; i++)
        pthread_join(s->threads[i].tid, NULL);
    for (unsigned i = s->started; i < s->nthreads; i++)
        if (s->threads[i].listen_fd >= 0)
            close(s->threads[i].listen_fd);
    h2o_config_dispose(&s->config);
    for (unsigned i = 0; i < s->nthreads; i++)
        free(s->threads[i].slots);
    free(s->threads);
    free(s);
}
