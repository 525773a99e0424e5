/*
 * delivery/transport.c: SMTP and HTTP through libcurl, the host services smtp_send and
 * http_request. Each thread keeps one easy handle per protocol, so connections to the same
 * server are reused between messages; hub_transport_thread_end releases them.
 *
 * Nothing here follows redirects, speaks another protocol than the one asked for, or lets a
 * CR or LF into a header, an address or a method. Errors name the endpoint
 * (scheme://host:port), never the path, the query or credentials.
 */
#include <curl/curl.h>
#include <stdio.h>
#include <string.h>

#include "delivery/delivery.h"

#define DEFAULT_TIMEOUT_MS 30000u
#define CONNECT_TIMEOUT_MS 10000u
#define HEADERS_MAX        64

static _Thread_local CURL *tl_http;
static _Thread_local CURL *tl_smtp;

int hub_transport_global_init(hub_error *err)
{
    CURLcode c = curl_global_init(CURL_GLOBAL_DEFAULT);
    if (c != CURLE_OK)
        return hub_error_set(err, HUB_EIO, "libcurl: %s", curl_easy_strerror(c));
    return 0;
}

void hub_transport_global_cleanup(void)
{
    curl_global_cleanup();
}

void hub_transport_thread_end(void)
{
    curl_easy_cleanup(tl_http);
    curl_easy_cleanup(tl_smtp);
    tl_http = NULL;
    tl_smtp = NULL;
}

/* The calling thread's handle for one protocol, reset to defaults (connections kept). */
static CURL *thread_handle(CURL **slot)
{
    if (*slot == NULL)
        *slot = curl_easy_init();
    else
        curl_easy_reset(*slot);
    return *slot;
}

int hub_transport_endpoint(const char *url, char *out, size_t cap)
{
    const char *sep = url != NULL ? strstr(url, "://") : NULL;
    if (sep == NULL || sep == url || cap == 0)
        return HUB_EINVAL;
    const char *host = sep + 3, *end = host + strcspn(host, "/?#");
    const char *at = memchr(host, '@', (size_t)(end - host));
    if (at != NULL) /* user:password@ stays out of logs and keys */
        host = at + 1;
    int n = snprintf(out, cap, "%.*s://%.*s", (int)(sep - url), url, (int)(end - host), host);
    if (n < 0 || (size_t)n >= cap)
        return HUB_EINVAL;
    for (char *p = out; *p != '\0'; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    return 0;
}

static int one_line(const char *s)
{
    return s != NULL && strpbrk(s, "\r\n") == NULL;
}

/* Transient transport failures retry; a wrong URL, certificate or login does not. */
static int classify_curl(CURLcode c)
{
    switch (c) {
    case CURLE_OK:
        return HUB_DELIVER_OK;
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
    case CURLE_NOT_BUILT_IN:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_LOGIN_DENIED:
    case CURLE_BAD_FUNCTION_ARGUMENT:
    case CURLE_TOO_MANY_REDIRECTS:
    case CURLE_FILESIZE_EXCEEDED:
    case CURLE_USE_SSL_FAILED: /* STARTTLS required and the server does not offer it */
        return HUB_DELIVER_FAIL;
    default:
        return HUB_DELIVER_RETRY;
    }
}

static int64_t now_of(const hub_transport *t)
{
    return t != NULL && t->now_ms != NULL ? t->now_ms() : hub_now_ms();
}

/* Asks the endpoint's breaker; RETRY with *retry_after_ms set while it is open. */
static int admit(const hub_transport *t, const char *endpoint, int64_t *retry_after_ms, char *err,
                 size_t errcap)
{
    if (t == NULL || t->breakers == NULL)
        return HUB_DELIVER_OK;
    int64_t now = now_of(t), until = hub_breaker_admit(t->breakers, endpoint, now);
    if (until == 0)
        return HUB_DELIVER_OK;
    *retry_after_ms = until > now ? until - now : 1;
    snprintf(err, errcap,
             "%s: paused after repeated failures (circuit open), next probe in %lld ms", endpoint,
             (long long)*retry_after_ms);
    return HUB_DELIVER_RETRY;
}

/* A refusal (FAIL) still shows the far side alive; only transient failures open a breaker. */
static void report(const hub_transport *t, const char *endpoint, int rc)
{
    if (t == NULL || t->breakers == NULL)
        return;
    int outcome = rc == HUB_DELIVER_OK     ? HUB_BREAKER_OK
                  : rc == HUB_DELIVER_FAIL ? HUB_BREAKER_PERMANENT
                                           : HUB_BREAKER_TRANSIENT;
    hub_breaker_report(t->breakers, endpoint, outcome, now_of(t));
}

/* ---- HTTP ------------------------------------------------------------------------------- */

typedef struct sink {
    hub_buf *b; /* NULL: the body is dropped */
} sink;

/* Keeps what fits under the buffer's cap and drops the rest without failing the transfer. */
static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
    sink *s = arg;
    size_t n = size * nmemb;
    if (s->b != NULL && s->b->len < s->b->cap) {
        size_t room = s->b->cap - s->b->len;
        (void)hub_buf_append(s->b, data, n < room ? n : room);
    }
    return n;
}

static int http_classify(long status)
{
    if (status >= 200 && status <= 299)
        return HUB_DELIVER_OK;
    if (status == 408 || status == 425 || status == 429 || status >= 500)
        return HUB_DELIVER_RETRY;
    return HUB_DELIVER_FAIL;
}

static int method_ok(const char *m)
{
    static const char *const allowed[] = {"POST", "PUT", "PATCH", "GET", "DELETE", NULL};
    for (size_t i = 0; m != NULL && allowed[i] != NULL; i++)
        if (strcmp(m, allowed[i]) == 0)
            return 1;
    return 0;
}

/* The request's headers as a curl list, with Expect: off and a User-Agent. */
static int http_headers(const hub_http_request *req, struct curl_slist **out, char *err,
                        size_t errcap)
{
    char line[8192];
    struct curl_slist *l = curl_slist_append(NULL, "Expect:");
    if (req->nheaders > HEADERS_MAX) {
        curl_slist_free_all(l);
        snprintf(err, errcap, "more than %d request headers", HEADERS_MAX);
        return HUB_DELIVER_FAIL;
    }
    for (uint32_t i = 0; l != NULL && i < req->nheaders; i++) {
        const hub_http_header *h = &req->headers[i];
        if (!one_line(h->name) || !one_line(h->value) || h->name[0] == '\0' ||
            strchr(h->name, ':') != NULL || strchr(h->name, ' ') != NULL) {
            curl_slist_free_all(l);
            snprintf(err, errcap, "request header %u is not a one-line name and value", i);
            return HUB_DELIVER_FAIL;
        }
        int n = snprintf(line, sizeof(line), "%s: %s", h->name, h->value);
        if (n < 0 || (size_t)n >= sizeof(line)) {
            curl_slist_free_all(l);
            snprintf(err, errcap, "request header %.64s is too long", h->name);
            return HUB_DELIVER_FAIL;
        }
        struct curl_slist *next = curl_slist_append(l, line);
        if (next == NULL)
            curl_slist_free_all(l);
        l = next;
    }
    if (l == NULL) {
        snprintf(err, errcap, "out of memory");
        return HUB_DELIVER_RETRY;
    }
    *out = l;
    return HUB_DELIVER_OK;
}

static void http_setup(CURL *h, const hub_transport *t, const hub_http_request *req,
                       struct curl_slist *headers, sink *body, char *curl_err)
{
    uint32_t timeout = req->timeout_ms != 0              ? req->timeout_ms
                       : t != NULL && t->timeout_ms != 0 ? t->timeout_ms
                                                         : DEFAULT_TIMEOUT_MS;
    curl_easy_setopt(h, CURLOPT_URL, req->url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)timeout);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)(timeout < CONNECT_TIMEOUT_MS ? timeout : CONNECT_TIMEOUT_MS));
    curl_easy_setopt(h, CURLOPT_USERAGENT, "omnihub");
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, curl_err);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, body);
    if (strcmp(req->method, "GET") == 0) {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    } else {
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body.len);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, req->body.ptr != NULL ? req->body.ptr : "");
        if (strcmp(req->method, "POST") != 0)
            curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req->method);
    }
}

int hub_transport_http(void *ctx, const hub_http_request *req, hub_http_response *res, char *err,
                       size_t errcap)
{
    const hub_transport *t = ctx;
    char endpoint[300], curl_err[CURL_ERROR_SIZE] = "";
    struct curl_slist *headers = NULL;
    res->status = 0;
    res->retry_after_ms = 0;
    if (req == NULL || !method_ok(req->method) || !one_line(req->url) ||
        (strncmp(req->url, "http://", 7) != 0 && strncmp(req->url, "https://", 8) != 0) ||
        hub_transport_endpoint(req->url, endpoint, sizeof(endpoint)) != 0) {
        snprintf(err, errcap, "not an http(s) request this hub sends");
        return HUB_DELIVER_FAIL;
    }
    int rc = admit(t, endpoint, &res->retry_after_ms, err, errcap);
    if (rc != HUB_DELIVER_OK)
        return rc;
    rc = http_headers(req, &headers, err, errcap);
    CURL *h = rc == HUB_DELIVER_OK ? thread_handle(&tl_http) : NULL;
    if (rc != HUB_DELIVER_OK || h == NULL) {
        curl_slist_free_all(headers);
        if (rc == HUB_DELIVER_OK)
            snprintf(err, errcap, "libcurl: no handle");
        return rc == HUB_DELIVER_OK ? HUB_DELIVER_RETRY : rc;
    }
    sink body = {res->body != NULL ? hub_out_buf(res->body) : NULL};
    http_setup(h, t, req, headers, &body, curl_err);
    CURLcode c = curl_easy_perform(h);
    long status = 0;
    curl_off_t retry_s = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(h, CURLINFO_RETRY_AFTER, &retry_s);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(headers);
    res->status = c == CURLE_OK ? (uint32_t)status : 0;
    if (c != CURLE_OK) {
        rc = classify_curl(c);
        snprintf(err, errcap, "%s: %s", endpoint, curl_err[0] ? curl_err : curl_easy_strerror(c));
    } else {
        rc = http_classify(status);
        if (retry_s > 0)
            res->retry_after_ms = (int64_t)(retry_s > 86400 * 7 ? 86400 * 7 : retry_s) * 1000;
        if (rc != HUB_DELIVER_OK)
            snprintf(err, errcap, "%s answered %ld", endpoint, status);
    }
    report(t, endpoint, rc);
    return rc;
}

/* ---- SMTP ------------------------------------------------------------------------------- */

typedef struct reader {
    const char *p;
    size_t left;
} reader;

static size_t on_read(char *buf, size_t size, size_t nmemb, void *arg)
{
    reader *r = arg;
    size_t n = size * nmemb < r->left ? size * nmemb : r->left;
    memcpy(buf, r->p, n);
    r->p += n;
    r->left -= n;
    return n;
}

/* A bare address for MAIL FROM / RCPT TO: printable, no spaces, brackets or line breaks. */
static int address_ok(const char *a)
{
    size_t n = a != NULL ? strlen(a) : 0;
    if (n == 0 || n > 320 || strchr(a, '@') == NULL)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)a[i];
        if (c <= ' ' || c == 0x7f || c == '<' || c == '>')
            return 0;
    }
    return 1;
}

static int smtp_check(const hub_smtp_message *msg, char *err, size_t errcap)
{
    if (strncmp(msg->url, "smtp://", 7) != 0 && strncmp(msg->url, "smtps://", 8) != 0)
        return snprintf(err, errcap, "the SMTP url is not smtp:// or smtps://"), HUB_DELIVER_FAIL;
    if (!one_line(msg->url) || (msg->username != NULL && !one_line(msg->username)) ||
        (msg->password != NULL && !one_line(msg->password)))
        return snprintf(err, errcap, "the SMTP url or login has a line break"), HUB_DELIVER_FAIL;
    if (!address_ok(msg->from))
        return snprintf(err, errcap, "the envelope sender is not a bare address"), HUB_DELIVER_FAIL;
    if (msg->nrcpt == 0 || msg->nrcpt > 100)
        return snprintf(err, errcap, "want 1 to 100 recipients"), HUB_DELIVER_FAIL;
    for (uint32_t i = 0; i < msg->nrcpt; i++)
        if (!address_ok(msg->rcpt[i]))
            return snprintf(err, errcap, "recipient %u is not a bare address", i), HUB_DELIVER_FAIL;
    if (msg->data.ptr == NULL || msg->data.len == 0)
        return snprintf(err, errcap, "the message is empty"), HUB_DELIVER_FAIL;
    return HUB_DELIVER_OK;
}

static struct curl_slist *smtp_rcpts(const hub_smtp_message *msg)
{
    char line[330];
    struct curl_slist *l = NULL;
    for (uint32_t i = 0; i < msg->nrcpt; i++) {
        snprintf(line, sizeof(line), "<%s>", msg->rcpt[i]);
        struct curl_slist *next = curl_slist_append(l, line);
        if (next == NULL) {
            curl_slist_free_all(l);
            return NULL;
        }
        l = next;
    }
    return l;
}

int hub_transport_smtp(void *ctx, const char *channel, const hub_smtp_message *msg,
                       hub_smtp_result *res, char *err, size_t errcap)
{
    const hub_transport *t = ctx;
    char endpoint[300], from[330], curl_err[CURL_ERROR_SIZE] = "";
    int64_t wait_ms = 0;
    (void)channel;
    res->reply_code = 0;
    if (HUB_PLUGIN_HAS(res, retry_after_ms))
        res->retry_after_ms = 0;
    if (msg->url == NULL || hub_transport_endpoint(msg->url, endpoint, sizeof(endpoint)) != 0)
        return snprintf(err, errcap, "no SMTP url"), HUB_DELIVER_FAIL;
    int rc = smtp_check(msg, err, errcap);
    if (rc == HUB_DELIVER_OK)
        rc = admit(t, endpoint, &wait_ms, err, errcap);
    if (rc == HUB_DELIVER_RETRY && HUB_PLUGIN_HAS(res, retry_after_ms))
        res->retry_after_ms = wait_ms; /* the breaker's next probe */
    if (rc != HUB_DELIVER_OK)
        return rc;
    struct curl_slist *rcpts = smtp_rcpts(msg);
    CURL *h = rcpts != NULL ? thread_handle(&tl_smtp) : NULL;
    if (h == NULL) {
        curl_slist_free_all(rcpts);
        return snprintf(err, errcap, "out of memory"), HUB_DELIVER_RETRY;
    }
    uint32_t timeout = msg->timeout_ms != 0              ? msg->timeout_ms
                       : t != NULL && t->timeout_ms != 0 ? t->timeout_ms
                                                         : DEFAULT_TIMEOUT_MS;
    reader r = {msg->data.ptr, msg->data.len};
    snprintf(from, sizeof(from), "<%s>", msg->from);
    curl_easy_setopt(h, CURLOPT_URL, msg->url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)timeout);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)(timeout < CONNECT_TIMEOUT_MS ? timeout : CONNECT_TIMEOUT_MS));
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, curl_err);
    curl_easy_setopt(h, CURLOPT_MAIL_FROM, from);
    curl_easy_setopt(h, CURLOPT_MAIL_RCPT, rcpts);
    curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(h, CURLOPT_READDATA, &r);
    curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)msg->data.len);
    if (msg->flags & HUB_SMTP_STARTTLS)
        curl_easy_setopt(h, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
    if (msg->username != NULL) {
        curl_easy_setopt(h, CURLOPT_USERNAME, msg->username);
        curl_easy_setopt(h, CURLOPT_PASSWORD, msg->password != NULL ? msg->password : "");
    }
    CURLcode c = curl_easy_perform(h);
    long code = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_setopt(h, CURLOPT_MAIL_RCPT, NULL);
    curl_slist_free_all(rcpts);
    res->reply_code = code > 0 && code < 1000 ? (uint32_t)code : 0;
    if (c == CURLE_OK) {
        rc = HUB_DELIVER_OK;
    } else {
        /* The server's reply decides when there was one: 4xx later, 5xx never. */
        rc = code >= 400 && code <= 499   ? HUB_DELIVER_RETRY
             : code >= 500 && code <= 599 ? HUB_DELIVER_FAIL
                                          : classify_curl(c);
        if (code >= 400)
            snprintf(err, errcap, "%s answered %ld", endpoint, code);
        else
            snprintf(err, errcap, "%s: %s", endpoint,
                     curl_err[0] ? curl_err : curl_easy_strerror(c));
        if (rc == HUB_DELIVER_RETRY) { /* never reuse a connection in doubt */
            curl_easy_cleanup(h);
            tl_smtp = NULL;
        }
    }
    report(t, endpoint, rc);
    return rc;
}
