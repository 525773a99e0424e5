/*
 * The request object and the answers: decoding the path and query into a hub_request,
 * reading JSON bodies, sending JSON and RFC 9457 problems, and handing writes to the store's
 * writer thread and back.
 *
 * Memory: a hub_request and every string it holds are one malloc'd block, because a write
 * may outlive the h2o request (the client goes away while the writer runs). A small guard
 * lives in the h2o request's pool; when h2o frees the pool first, the guard clears r->req so
 * the late answer is dropped. Answering frees r.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/internal.h"

typedef struct guard {
    hub_request *r; /* NULL once the request was answered */
} guard;

static void guard_dispose(void *p)
{
    guard *g = p;
    if (g->r != NULL)
        g->r->req = NULL; /* the client went away while a write was pending */
}

/* ---- decoding -------------------------------------------------------------------------- */

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decodes in[0..len) into out (NUL-terminated); '+' is a space when plus_space.
 * -1 on a bad escape, a NUL byte or invalid UTF-8. */
static int decode(const char *in, size_t len, int plus_space, char *out)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        char c = in[i];
        if (c == '%') {
            if (i + 2 >= len)
                return -1;
            int hi = hexval(in[i + 1]);
            int lo = hexval(in[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            c = (char)(hi * 16 + lo);
            i += 2;
        } else if (c == '+' && plus_space) {
            c = ' ';
        }
        if (c == '\0')
            return -1;
        out[n++] = c;
    }
    out[n] = '\0';
    return hub_utf8_valid(out, n) ? 0 : -1;
}

/* Copies a header value (NULL when absent) into the arena. */
static char *copy_header(const h2o_req_t *req, const h2o_token_t *token, char **arena)
{
    ssize_t i = h2o_find_header(&req->headers, token, -1);
    if (i < 0)
        return NULL;
    const h2o_iovec_t *v = &req->headers.entries[i].value;
    char *s = *arena;
    memcpy(s, v->base, v->len);
    s[v->len] = '\0';
    *arena += v->len + 1;
    return s;
}

int hub_req_header_copy(const hub_request *r, const char *name, char *out, size_t cap)
{
    if (r->req == NULL)
        return 0;
    ssize_t i = h2o_find_header_by_str(&r->req->headers, name, strlen(name), -1);
    if (i < 0)
        return 0;
    const h2o_iovec_t *v = &r->req->headers.entries[i].value;
    if (v->len >= cap)
        return -1;
    memcpy(out, v->base, v->len);
    out[v->len] = '\0';
    return 1;
}

static size_t header_len(const h2o_req_t *req, const h2o_token_t *token)
{
    ssize_t i = h2o_find_header(&req->headers, token, -1);
    return i < 0 ? 0 : req->headers.entries[i].value.len + 1;
}

/* Splits the path below "/v1/" into decoded segments. An empty trailing segment (a final
 * '/') is dropped; other empty segments are kept, so handlers see them and answer 404. */
static int split_path(hub_request *r, const char *p, size_t len, char **arena)
{
    size_t start = 0;
    while (start <= len) {
        const char *slash = memchr(p + start, '/', len - start);
        size_t end = slash != NULL ? (size_t)(slash - p) : len;
        if (end == len && end == start && r->nsegs > 0)
            break;
        if (r->nsegs == HUB_MAX_SEGS)
            return -1;
        if (decode(p + start, end - start, 0, *arena) != 0)
            return -1;
        r->segs[r->nsegs++] = *arena;
        *arena += strlen(*arena) + 1;
        start = end + 1;
    }
    return 0;
}

static int split_query(hub_request *r, const char *q, size_t len, char **arena)
{
    size_t start = 0;
    while (start < len) {
        const char *amp = memchr(q + start, '&', len - start);
        size_t end = amp != NULL ? (size_t)(amp - q) : len;
        if (end > start) {
            const char *eq = memchr(q + start, '=', end - start);
            size_t name_end = eq != NULL ? (size_t)(eq - q) : end;
            if (r->nparams == HUB_MAX_PARAMS)
                return -1;
            char *name = *arena;
            if (decode(q + start, name_end - start, 1, name) != 0)
                return -1;
            *arena += strlen(name) + 1;
            char *value = *arena;
            size_t vstart = eq != NULL ? name_end + 1 : end;
            if (decode(q + vstart, end - vstart, 1, value) != 0)
                return -1;
            *arena += strlen(value) + 1;
            r->param_names[r->nparams] = name;
            r->param_values[r->nparams] = value;
            r->nparams++;
        }
        start = end + 1;
    }
    return 0;
}

hub_request *hub_req_new(hub_thread *t, h2o_req_t *req)
{
    size_t path_len = req->query_at != SIZE_MAX ? req->query_at : req->path.len;
    size_t query_len = req->query_at != SIZE_MAX ? req->path.len - req->query_at - 1 : 0;
    /* Decoded strings are never longer than their source; each needs a NUL. */
    size_t arena_len = 2 * (path_len + query_len) + 8 + header_len(req, H2O_TOKEN_IF_MATCH) +
                       header_len(req, H2O_TOKEN_IF_NONE_MATCH);
    hub_request *r = calloc(1, sizeof(*r) + arena_len);
    if (r == NULL) {
        hub_req_send_early_problem(t, req, 503, "out of memory");
        return NULL;
    }
    char *arena = (char *)(r + 1);
    r->req = req;
    r->thread = t;
    hub_error_init(&r->err);
    size_t mlen = req->method.len < sizeof(r->method) - 1 ? req->method.len : sizeof(r->method) - 1;
    memcpy(r->method, req->method.base, mlen);
    /* The router only sends paths starting with "/v1/" here. */
    const char *sub = req->path.base + 4;
    if (split_path(r, sub, path_len - 4, &arena) != 0) {
        free(r);
        hub_req_send_early_problem(t, req, 400,
                                   "the path is malformed (bad percent-encoding, "
                                   "a NUL, invalid UTF-8 or too many segments)");
        return NULL;
    }
    if (query_len > 0 &&
        split_query(r, req->path.base + req->query_at + 1, query_len, &arena) != 0) {
        free(r);
        hub_req_send_early_problem(t, req, 400,
                                   "the query string is malformed (bad percent-encoding, "
                                   "a NUL, invalid UTF-8 or too many parameters)");
        return NULL;
    }
    r->if_match = copy_header(req, H2O_TOKEN_IF_MATCH, &arena);
    r->if_none_match = copy_header(req, H2O_TOKEN_IF_NONE_MATCH, &arena);
    guard *g = h2o_mem_alloc_shared(&req->pool, sizeof(*g), guard_dispose);
    g->r = r;
    r->guard_ = g;
    return r;
}

/* Frees r; detaches the guard first so a later pool clear does not touch freed memory. */
static void req_free(hub_request *r)
{
    if (r->req != NULL && r->guard_ != NULL)
        ((guard *)r->guard_)->r = NULL;
    json_decref(r->body);
    json_decref(r->result);
    hub_error_clear(&r->err);
    if (r->scratch_free != NULL)
        r->scratch_free(r->scratch);
    else
        free(r->scratch);
    free(r);
}

/* ---- small helpers ---------------------------------------------------------------------- */

const char *hub_req_param(const hub_request *r, const char *name)
{
    for (size_t i = 0; i < r->nparams; i++)
        if (strcmp(r->param_names[i], name) == 0)
            return r->param_values[i];
    return NULL;
}

int hub_req_reject_unknown_params(hub_request *r, const char *const *known)
{
    for (size_t i = 0; i < r->nparams; i++) {
        size_t k = 0;
        while (known[k] != NULL && strcmp(known[k], r->param_names[i]) != 0)
            k++;
        if (known[k] == NULL) {
            char detail[200];
            snprintf(detail, sizeof(detail), "unknown query parameter '%.100s'", r->param_names[i]);
            hub_req_send_problem(r, 400, detail, NULL);
            return 1;
        }
    }
    return 0;
}

int hub_req_limit(hub_request *r, size_t *out)
{
    const char *s = hub_req_param(r, "limit");
    uint64_t v = 100;
    if (s != NULL && (hub_parse_u64(hub_slice_cstr(s), &v) != 0 || v < 1 || v > 1000)) {
        hub_req_send_problem(r, 400, "limit must be an integer from 1 to 1000", NULL);
        return -1;
    }
    *out = (size_t)v;
    return 0;
}

int hub_req_is(const hub_request *r, const char *m)
{
    if (strcmp(r->method, m) == 0)
        return 1;
    return strcmp(m, "GET") == 0 && strcmp(r->method, "HEAD") == 0;
}

int hub_req_require(hub_request *r, hub_role role)
{
    if (r->principal.role >= role)
        return 1;
    char detail[160];
    snprintf(detail, sizeof(detail), "this needs a token with role %s or higher; '%.64s' is %s",
             hub_role_name(role), r->principal.name, hub_role_name(r->principal.role));
    hub_req_send_problem(r, 403, detail, NULL);
    return 0;
}

void hub_req_method_not_allowed(hub_request *r, const char *allow)
{
    char detail[120];
    hub_req_header(r, "allow", allow);
    snprintf(detail, sizeof(detail), "method %s is not allowed here; allowed: %s", r->method,
             allow);
    hub_req_send_problem(r, 405, detail, NULL);
}

/* ---- path, status and entity tags ------------------------------------------------------ */

/*
 * Joins r->segs[first..end) with '/' into out (cap bytes with the NUL). Returns the length,
 * or SIZE_MAX when the result does not fit.
 */
size_t hub_req_join_segs(const hub_request *r, size_t first, size_t end, char *out, size_t cap)
{
    size_t n = 0;
    for (size_t i = first; i < end && i < r->nsegs; i++) {
        size_t len = strlen(r->segs[i]);
        if (n + (i > first) + len + 1 > cap)
            return SIZE_MAX;
        if (i > first)
            out[n++] = '/';
        memcpy(out + n, r->segs[i], len);
        n += len;
    }
    if (n < cap)
        out[n] = '\0';
    return n;
}

/*
 * 1 when the If-Match or If-None-Match value `list` ("*" or a comma-separated list of
 * entity tags) names etag (with its quotes). weak: RFC 9110 weak comparison (If-None-Match:
 * "W/" is ignored on both sides); else strong (If-Match: a weak tag never matches). A
 * malformed list matches nothing from the bad element on.
 */
int hub_req_etag_match(const char *list, const char *etag, size_t etag_len, int weak)
{
    const char *p = list;
    if (etag_len > 2 && etag[0] == 'W' && etag[1] == '/') {
        if (!weak)
            return 0;
        etag += 2;
        etag_len -= 2;
    }
    while (*p != '\0') {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (*p == '*')
            return 1;
        int is_weak = p[0] == 'W' && p[1] == '/';
        if (is_weak)
            p += 2;
        if (*p != '"')
            return 0;
        const char *close = strchr(p + 1, '"');
        if (close == NULL)
            return 0;
        size_t len = (size_t)(close - p) + 1;
        if ((weak || !is_weak) && len == etag_len && memcmp(p, etag, len) == 0)
            return 1;
        p = close + 1;
    }
    return 0;
}

/*
 * ?status=draft|published. Absent: default_draft, except that roles below preview get
 * published. status=draft from a delivery token: 403. Sends the error and returns -1.
 */
int hub_req_status_draft(hub_request *r, int default_draft, int *out_draft)
{
    const char *s = hub_req_param(r, "status");
    int may_draft = r->principal.role >= HUB_ROLE_PREVIEW;
    if (s == NULL) {
        *out_draft = default_draft && may_draft;
        return 0;
    }
    if (strcmp(s, "published") == 0) {
        *out_draft = 0;
        return 0;
    }
    if (strcmp(s, "draft") != 0) {
        hub_req_send_problem(r, 400, "status must be draft or published", NULL);
        return -1;
    }
    if (!may_draft) {
        hub_req_send_problem(r, 403, "this token may only read published content", NULL);
        return -1;
    }
    *out_draft = 1;
    return 0;
}

/* ---- JSON bodies ------------------------------------------------------------------------ */

/* 1 if the Content-Type is `type` with at most a charset=utf-8 parameter. */
static int media_type_is(h2o_iovec_t v, const char *type)
{
    size_t tl = strlen(type);
    if (v.len < tl || strncasecmp(v.base, type, tl) != 0)
        return 0;
    const char *p = v.base + tl, *end = v.base + v.len;
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    if (p == end)
        return 1;
    if (*p++ != ';')
        return 0;
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    size_t rest = (size_t)(end - p);
    return (rest == 13 && strncasecmp(p, "charset=utf-8", 13) == 0) ||
           (rest == 15 && strncasecmp(p, "charset=\"utf-8\"", 15) == 0);
}

int hub_req_locale_param(hub_request *r, const char *name, char out[HUB_LOCALE_TAG_MAX],
                         int required)
{
    const char *v = hub_req_param(r, name);
    hub_error e;
    char detail[320];
    out[0] = '\0';
    if ((v == NULL || v[0] == '\0') && !required)
        return 1;
    hub_error_init(&e);
    if (v != NULL && v[0] != '\0' && hub_locale_canonicalize(v, strlen(v), out, &e) == 0)
        return 1;
    snprintf(detail, sizeof(detail), "%s: %s", name,
             v == NULL || v[0] == '\0' ? "is required" : e.message);
    hub_error_clear(&e);
    hub_req_send_problem(r, 400, detail, NULL);
    return 0;
}

int hub_req_content_type_in(const hub_request *r, const char *const *types)
{
    ssize_t i = h2o_find_header(&r->req->headers, H2O_TOKEN_CONTENT_TYPE, -1);
    for (size_t k = 0; i >= 0 && types[k] != NULL; k++) {
        if (media_type_is(r->req->headers.entries[i].value, types[k]))
            return 1;
    }
    return 0;
}

int hub_req_read_json(hub_request *r, int require_object, int allow_merge_patch)
{
    static const char *const json_only[] = {"application/json", NULL};
    static const char *const json_or_patch[] = {"application/json", "application/merge-patch+json",
                                                NULL};
    h2o_req_t *req = r->req;
    if (req->entity.base == NULL || req->entity.len == 0) {
        hub_req_send_problem(r, 400, "this request needs a JSON body", NULL);
        return -1;
    }
    if (!hub_req_content_type_in(r, allow_merge_patch ? json_or_patch : json_only)) {
        hub_req_send_problem(r, 415,
                             allow_merge_patch ? "the body must be application/json or "
                                                 "application/merge-patch+json (UTF-8)"
                                               : "the body must be application/json (UTF-8)",
                             NULL);
        return -1;
    }
    if (!hub_utf8_valid(req->entity.base, req->entity.len)) {
        hub_req_send_problem(r, 400, "the body is not valid UTF-8", NULL);
        return -1;
    }
    json_error_t jerr;
    r->body = json_loadb(req->entity.base, req->entity.len,
                         JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
    if (r->body == NULL) {
        char detail[240];
        snprintf(detail, sizeof(detail), "malformed JSON at line %d column %d: %s", jerr.line,
                 jerr.column, jerr.text);
        hub_req_send_problem(r, 400, detail, NULL);
        return -1;
    }
    if (require_object && !json_is_object(r->body)) {
        hub_req_send_problem(r, 422, "the body must be a JSON object", NULL);
        return -1;
    }
    return 0;
}

/* ---- answers ----------------------------------------------------------------------------- */

int hub_status_for(int code)
{
    switch (code) {
    case HUB_EINVAL:
        return 422;
    case HUB_EBADREQ:
        return 400;
    case HUB_ENOTFOUND:
        return 404;
    case HUB_EEXISTS:
    case HUB_EINUSE:
        return 409;
    case HUB_EPRECOND:
        return 412;
    case HUB_EFORBIDDEN:
        return 403;
    case HUB_ETOOBIG:
        return 413;
    case HUB_EFULL:
        return 507;
    case HUB_EUNAUTH:
        return 401;
    case HUB_ENOMEM:
    case HUB_EIO:
    case HUB_ESHUTDOWN:
        return 503;
    default:
        return 500;
    }
}

static const char *reason_for(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 304:
        return "Not Modified";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 409:
        return "Conflict";
    case 412:
        return "Precondition Failed";
    case 413:
        return "Content Too Large";
    case 415:
        return "Unsupported Media Type";
    case 422:
        return "Unprocessable Content";
    case 429:
        return "Too Many Requests";
    case 503:
        return "Service Unavailable";
    case 507:
        return "Insufficient Storage";
    default:
        return status < 400 ? "OK" : "Internal Server Error";
    }
}

void hub_req_header(hub_request *r, const char *name, const char *value)
{
    h2o_req_t *req = r->req;
    size_t nlen = strlen(name), vlen = strlen(value);
    char *n = h2o_mem_alloc_pool(&req->pool, nlen + 1);
    for (size_t i = 0; i <= nlen; i++)
        n[i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] + 32 : name[i]);
    char *v = h2o_mem_alloc_pool(&req->pool, vlen + 1);
    memcpy(v, value, vlen + 1);
    h2o_add_header_by_str(&req->pool, &req->res.headers, n, nlen, 1, NULL, v, vlen);
}

/* Sends body (already in the request's pool or static) and finishes r. */
static void send_raw(hub_request *r, int status, const char *content_type, char *body, size_t len)
{
    static h2o_generator_t generator = {NULL, NULL};
    h2o_req_t *req = r->req;
    req->res.status = status;
    req->res.reason = reason_for(status);
    if (content_type != NULL)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, content_type,
                       strlen(content_type));
    /* 204 and 304 carry no body and no Content-Length; HEAD gets the length of the GET. */
    int no_body = status == 204 || status == 304;
    int bodyless = no_body || hub_req_is(r, "HEAD");
    req->res.content_length = no_body ? SIZE_MAX : len;
    r->thread->answered++;
    req_free(r);
    h2o_start_response(req, &generator);
    h2o_iovec_t buf = h2o_iovec_init(body, bodyless ? 0 : len);
    h2o_send(req, &buf, bodyless ? 0 : 1, H2O_SEND_STATE_FINAL);
}

void hub_req_send_bytes(hub_request *r, int status, const char *content_type, const char *body,
                        size_t len)
{
    char *copy = NULL;
    if (len > 0) {
        copy = h2o_mem_alloc_pool(&r->req->pool, len);
        memcpy(copy, body, len);
    }
    send_raw(r, status, content_type, copy, len);
}

void hub_req_send_json(hub_request *r, int status, json_t *body)
{
    if (body == NULL) {
        send_raw(r, status, NULL, NULL, 0);
        return;
    }
    size_t n = json_dumpb(body, NULL, 0, JSON_COMPACT);
    char *buf = h2o_mem_alloc_pool(&r->req->pool, n + 1);
    n = json_dumpb(body, buf, n, JSON_COMPACT);
    json_decref(body);
    send_raw(r, status, "application/json; charset=utf-8", buf, n);
}

/* The problem document as bytes in the pool. */
static char *problem_bytes(h2o_mem_pool_t *pool, int status, const char *detail,
                           const hub_problems *problems, size_t *out_len)
{
    json_t *text = json_string(detail != NULL ? detail : "");
    if (text == NULL) { /* cut to a byte count in the middle of a character, say */
        char *copy = hub_strdup(detail);
        text = copy != NULL ? json_string(hub_utf8_scrub(copy)) : NULL;
        free(copy);
    }
    json_t *doc = json_pack("{s:s,s:s,s:i,s:o}", "type", "about:blank", "title", reason_for(status),
                            "status", status, "detail", text);
    if (doc != NULL && problems != NULL && problems->count > 0) {
        json_t *errors = json_array();
        for (size_t i = 0; i < problems->count; i++)
            json_array_append_new(errors, json_pack("{s:s,s:s}", "path", problems->items[i].path,
                                                    "message", problems->items[i].message));
        if (problems->dropped > 0)
            json_object_set_new(doc, "errors_dropped", json_integer((json_int_t)problems->dropped));
        json_object_set_new(doc, "errors", errors);
    }
    if (doc == NULL) { /* no memory: still answer, with the status given */
        char *fallback = h2o_mem_alloc_pool(pool, 64);
        *out_len =
            (size_t)snprintf(fallback, 64, "{\"type\":\"about:blank\",\"status\":%d}", status);
        return fallback;
    }
    size_t n = json_dumpb(doc, NULL, 0, JSON_COMPACT);
    char *buf = h2o_mem_alloc_pool(pool, n + 1);
    *out_len = json_dumpb(doc, buf, n, JSON_COMPACT);
    json_decref(doc);
    return buf;
}

void hub_req_send_problem(hub_request *r, int status, const char *detail,
                          const hub_problems *problems)
{
    size_t n;
    char *body = problem_bytes(&r->req->pool, status, detail, problems, &n);
    if (status == 401)
        hub_req_header(r, "www-authenticate", "Bearer");
    send_raw(r, status, "application/problem+json", body, n);
}

void hub_req_send_error(hub_request *r, const hub_error *err)
{
    int code = err->code != 0 ? err->code : HUB_EIO;
    const char *detail = err->message[0] != '\0' ? err->message : hub_strerror(code);
    int status = hub_status_for(code);
    if (status == 500)
        HUB_LOG_ERROR("http: unexpected error code %d: %s", code, detail);
    hub_req_send_problem(r, status, detail, &err->problems);
}

void hub_req_send_early_problem(hub_thread *t, h2o_req_t *req, int status, const char *detail)
{
    static h2o_generator_t generator = {NULL, NULL};
    size_t n;
    char *body = problem_bytes(&req->pool, status, detail, NULL, &n);
    req->res.status = status;
    req->res.reason = reason_for(status);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                   H2O_STRLIT("application/problem+json"));
    req->res.content_length = n;
    t->answered++;
    h2o_start_response(req, &generator);
    h2o_iovec_t buf = h2o_iovec_init(body, n);
    h2o_send(req, &buf, 1, H2O_SEND_STATE_FINAL);
}

/* ---- writes ------------------------------------------------------------------------------ */

/* On the writer thread, inside the group-commit transaction. */
static int write_trampoline(hub_txn *txn, void *arg)
{
    hub_request *r = arg;
    int rc = r->txn_fn(txn, r);
    if (rc < 0 && r->err.code == 0)
        hub_error_set(&r->err, rc, "%s", hub_strerror(rc));
    return rc;
}

/* On the writer's completer thread after the commit: hand r back to its loop thread. */
static void write_done(hub_write_op *op)
{
    hub_request *r = H2O_STRUCT_FROM_MEMBER(hub_request, op, op);
    h2o_multithread_send_message(&r->thread->receiver, &r->msg_);
}

void hub_req_write(hub_request *r, hub_txn_fn fn, hub_done_fn done)
{
    hub_req_write_as(r, fn, done, HUB_WRITE_COMMIT);
}

void hub_req_write_as(hub_request *r, hub_txn_fn fn, hub_done_fn done, hub_write_durability d)
{
    r->txn_fn = fn;
    r->done = done;
    r->op = (hub_write_op){.fn = write_trampoline, .arg = r, .done = write_done, .durability = d};
    r->thread->pending++;
    r->thread->answered++;
    hub_store_submit(r->store, &r->op);
}

void hub_req_done_json(hub_request *r)
{
    if (r->op.result < 0) {
        hub_req_send_error(r, &r->err);
        return;
    }
    json_t *body = r->result;
    r->result = NULL;
    hub_req_send_json(r, r->created ? 201 : 200, body);
}

void hub_req_done_empty(hub_request *r)
{
    if (r->op.result < 0)
        hub_req_send_error(r, &r->err);
    else
        hub_req_send_json(r, 204, NULL);
}

void hub_req_send_read(hub_request *r, int rc, json_t *out, const char *what)
{
    if (rc == 0) {
        hub_req_send_json(r, 200, out);
        return;
    }
    json_decref(out);
    char detail[160];
    snprintf(detail, sizeof(detail), "%s: %s", what, hub_strerror(rc));
    hub_req_send_problem(r, hub_status_for(rc), detail, NULL);
}

void hub_req_send_one(hub_request *r, int rc, json_t *out, const char *what,
                      const char *missing_fmt, ...)
{
    if (rc != HUB_ENOTFOUND) {
        hub_req_send_read(r, rc, out, what);
        return;
    }
    char detail[300];
    va_list ap;
    va_start(ap, missing_fmt);
    vsnprintf(detail, sizeof(detail), missing_fmt, ap);
    va_end(ap);
    json_decref(out);
    hub_req_send_problem(r, 404, detail, NULL);
}

void hub_req_put_or_delete(hub_request *r, hub_role role, const char *id, hub_txn_fn put,
                           hub_txn_fn del)
{
    if (!hub_req_is(r, "PUT") && !hub_req_is(r, "DELETE")) {
        hub_req_method_not_allowed(r, "GET, PUT, DELETE");
        return;
    }
    if (!hub_req_require(r, role))
        return;
    if ((r->scratch = hub_strdup(id)) == NULL) {
        hub_req_send_problem(r, 503, "out of memory", NULL);
        return;
    }
    if (hub_req_is(r, "DELETE"))
        hub_req_write(r, del, hub_req_done_empty);
    else if (hub_req_read_json(r, 1, 0) == 0)
        hub_req_write(r, put, hub_req_done_json);
}

/* ---- paging whole collections ---------------------------------------------------------- */

#define LIST_ID_MAX 256 /* longest id of a listed collection (journey terms: 200 bytes) */

/* The id after which the page starts, from ?cursor= (base64url of the last id served), into
 * after ("" when absent). Sends 400 and returns -1 on a cursor this server did not make. */
static int list_cursor(hub_request *r, char after[LIST_ID_MAX + 1])
{
    const char *c = hub_req_param(r, "cursor");
    after[0] = '\0';
    if (c == NULL)
        return 0;
    long n = hub_b64url_decode(c, strlen(c), (unsigned char *)after, LIST_ID_MAX);
    if (n <= 0 || memchr(after, '\0', (size_t)n) != NULL) {
        hub_req_send_problem(r, 400, "bad cursor", NULL);
        return -1;
    }
    after[n] = '\0';
    return 0;
}

static const char *id_at(json_t *all, size_t i, const char *id)
{
    const char *s = json_string_value(json_object_get(json_array_get(all, i), id));
    return s != NULL ? s : "";
}

/*
 * Answers one page of a collection: `all` (stolen) holds every record in store order (byte
 * order of the string member `id`); ?limit= and ?cursor= pick the page, answered as
 * {"items","next_cursor"}. The cursor names the last id served, so paging stays right when
 * records come and go between pages. rc != 0: answers the failure as hub_req_send_read.
 */
void hub_req_send_list(hub_request *r, int rc, json_t *all, const char *id, const char *what)
{
    size_t limit, start = 0, n = json_array_size(all);
    char after[LIST_ID_MAX + 1];
    if (rc != 0) {
        hub_req_send_read(r, rc, all, what);
        return;
    }
    if (hub_req_limit(r, &limit) != 0 || list_cursor(r, after) != 0) {
        json_decref(all);
        return;
    }
    while (after[0] != '\0' && start < n && strcmp(id_at(all, start, id), after) <= 0)
        start++;
    json_t *items = json_array();
    for (size_t i = start; i < n && i - start < limit; i++)
        json_array_append(items, json_array_get(all, i));
    char next[4 * ((LIST_ID_MAX + 2) / 3) + 1];
    const char *last = n - start > limit ? id_at(all, start + limit - 1, id) : NULL;
    if (last != NULL && strlen(last) <= LIST_ID_MAX)
        hub_b64url_encode((const unsigned char *)last, strlen(last), next);
    else
        last = NULL;
    json_decref(all);
    hub_req_send_json(r, 200,
                      json_pack("{s:o,s:s?}", "items", items, "next_cursor", last ? next : NULL));
}

int hub_req_bare_post(hub_request *r)
{
    if (r->nsegs != 1) {
        hub_req_send_problem(r, 404, "no such resource", NULL);
        return 0;
    }
    if (!hub_req_is(r, "POST")) {
        hub_req_method_not_allowed(r, "POST");
        return 0;
    }
    return 1;
}

int hub_req_collection_start(hub_request *r, hub_role role)
{
    static const char *const none[] = {NULL}, *const paging[] = {"limit", "cursor", NULL};
    int list = r->nsegs == 1 && hub_req_is(r, "GET");
    if (hub_req_reject_unknown_params(r, list ? paging : none) || !hub_req_require(r, role))
        return -1;
    return list;
}

void hub_req_on_writes_done(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    hub_thread *t = H2O_STRUCT_FROM_MEMBER(hub_thread, receiver, receiver);
    while (!h2o_linklist_is_empty(messages)) {
        h2o_multithread_message_t *m =
            H2O_STRUCT_FROM_MEMBER(h2o_multithread_message_t, link, messages->next);
        h2o_linklist_unlink(&m->link);
        hub_request *r = H2O_STRUCT_FROM_MEMBER(hub_request, msg_, m);
        t->pending--;
        if (r->op.result < 0 && r->err.code == 0)
            hub_error_set(&r->err, r->op.result, "%s", hub_strerror(r->op.result));
        if (r->req == NULL) {
            req_free(r); /* the client left; the write itself is committed (or failed) */
            continue;
        }
        r->done(r);
    }
}
