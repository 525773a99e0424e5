/*
 * The example plugin examples/chat-webhook (built as $HUB_CHAT_SO) through the real loader
 * and host: its configuration refusals, the hand-checked artifacts, the 4000-byte limit in
 * validate() and render(), the title warning, and deliver() to the outbox and to a stub
 * HTTP driver (headers, Idempotency-Key, status classification, Retry-After).
 */
#include <jansson.h>
#include <stdint.h>

#include "plugin/plugin.h"
#include "test.h"

#define PREFIX "/variants/0/content/en/chat"

static char so_path[1024];
static char data_dir[600];
static hub_plugins *plugins;
static const hub_channel *chat;
static char refusal[800];

/* ---- a stub HTTP driver ------------------------------------------------------------------ */

static struct {
    int calls;
    char url[256];
    char headers[1024]; /* "Name: value\n" each, in order */
    char body[8192];
    int answer;       /* the transport's verdict */
    uint32_t status;  /* the HTTP status it reports */
    int64_t retry_ms; /* res->retry_after_ms */
} gw;

static int stub_http(void *ctx, const hub_http_request *req, hub_http_response *res, char *err,
                     size_t errcap)
{
    size_t n = 0;
    gw.calls++;
    snprintf(gw.url, sizeof(gw.url), "%s %s", req->method, req->url);
    gw.headers[0] = '\0';
    for (uint32_t i = 0; i < req->nheaders && n < sizeof(gw.headers); i++)
        n += (size_t)snprintf(gw.headers + n, sizeof(gw.headers) - n, "%s: %s\n",
                              req->headers[i].name, req->headers[i].value);
    snprintf(gw.body, sizeof(gw.body), "%.*s", (int)req->body.len, req->body.ptr);
    res->status = gw.status;
    res->retry_after_ms = gw.retry_ms;
    if (gw.answer != HUB_DELIVER_OK)
        snprintf(err, errcap, "stub: %u", gw.status);
    return gw.answer;
}

/* Loads chat.so with `config` (JSON text) as channels.chat: 0 when it loaded, else -1 with
 * the refusal in `refusal`. Frees the previous set. */
static int load(const char *config)
{
    json_error_t je;
    json_t *channels = json_object(), *conf = json_loads(config, 0, &je);
    const char *paths[] = {so_path};
    hub_error err;
    hub_plugins_free(plugins);
    plugins = NULL;
    chat = NULL;
    refusal[0] = '\0';
    if (conf == NULL) {
        fprintf(stderr, "bad test config %s: %s\n", config, je.text);
        abort();
    }
    json_object_set_new(channels, "chat", conf);
    hub_plugins_config cfg = {.paths = paths,
                              .npaths = 1,
                              .channels = channels,
                              .data_dir = data_dir,
                              .services = {NULL, stub_http, NULL}};
    hub_error_init(&err);
    int rc = hub_plugins_load(&cfg, &plugins, &err);
    hub_error_clear(&err);
    json_decref(channels);
    if (rc != 0)
        return -1;
    chat = hub_plugins_find(plugins, "chat", 4);
    if (hub_plugins_refused_count(plugins) > 0)
        snprintf(refusal, sizeof(refusal), "%s", hub_plugins_refusal(plugins, 0));
    return chat != NULL ? 0 : -1;
}

static void test_config_refusals(void)
{
    static const char *const cases[][2] = {
        {"{\"colour\": 1}", "create failed: unknown key \"colour\""},
        {"{\"driver\": \"smtp\"}", "\"driver\" must be \"outbox\" or \"http\""},
        {"{\"driver\": 1}", "\"driver\" must be"},
        {"{\"driver\": \"http\"}", "\"http.url\" is required when \"driver\" is \"http\""},
        {"{\"driver\": \"http\", \"http\": {\"url\": \"ftp://x.example/\"}}",
         "\"http.url\" must be an http:// or https:// URL"},
        {"{\"http\": {\"url\": \"https://a b/\"}}", "\"http.url\" must be"},
        {"{\"http\": []}", "\"http\" must be an object"},
        {"{\"http\": {\"nope\": 1}}", "unknown key \"http.nope\""},
        {"{\"http\": {\"headers\": {\"X-Bad\": \"a\\r\\nInjected: 1\"}}}", "bad header \"X-Bad\""},
        {"{\"http\": {\"headers\": {\"Bad Name\": \"v\"}}}", "bad header \"Bad Name\""},
        {"{\"http\": {\"headers\": {\"X-N\": 5}}}", "bad header \"X-N\""},
        {"{\"http\": {\"headers\": {\"idempotency-key\": \"v\"}}}", "is set by the plugin"},
        {"{\"username\": 5}", "\"username\" must be a string of 1 to 80 bytes"},
        {"{\"username\": \"\"}", "\"username\" must be"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        CHECK(load(cases[i][0]) == -1);
        if (strstr(refusal, cases[i][1]) == NULL)
            fprintf(stderr, "config %s: refusal \"%s\" lacks \"%s\"\n", cases[i][0], refusal,
                    cases[i][1]);
        CHECK(strstr(refusal, cases[i][1]) != NULL);
        CHECK(strstr(refusal, so_path) == refusal);
    }
    /* Accepted configurations. */
    CHECK(load("{}") == 0);
    CHECK(load("{\"driver\": \"outbox\", \"username\": \"Northwind\"}") == 0);
    CHECK(load("{\"driver\": \"http\", \"http\": {\"url\": \"https://hooks.example/T1\", "
               "\"headers\": {\"Authorization\": \"Bearer t\"}}}") == 0);
}

static void test_schema(void)
{
    REQUIRE(load("{}") == 0);
    const hub_plugin_schema *s = hub_channel_fields(chat);
    REQUIRE(s->nfields == 2);
    CHECK_STR(s->fields[0]->name, "text");
    CHECK(s->fields[0]->kind == HUB_FIELD_TEXT && s->fields[0]->required == 1);
    CHECK(s->fields[0]->max_bytes == 4000);
    CHECK_STR(s->fields[1]->name, "title");
    CHECK(s->fields[1]->kind == HUB_FIELD_TEXT && s->fields[1]->required == 0);
    CHECK(s->fields[1]->max_bytes == 200);
    CHECK_STR(hub_channel_plugin(chat)->version, "1.0.0");
}

/* ---- render and validate ------------------------------------------------------------------- */

typedef struct call {
    hub_buf art;
    hub_problems probs;
    json_t *warnings;
    hub_error err;
    int rc;
} call;

static void call_free(call *c)
{
    hub_buf_free(&c->art);
    hub_problems_clear(&c->probs);
    json_decref(c->warnings);
    hub_error_clear(&c->err);
}

/* Renders (or validates, when validate is set) text and title (NULL: absent). */
static void run(call *c, int validate, const char *text, size_t tlen, const char *title)
{
    hub_str f[2] = {{text, tlen}, {title, title != NULL ? strlen(title) : 0}};
    hub_render_in in = {
        sizeof(in), 2, f, "demo/card", "default", "en", NULL, validate ? "validate" : "m-1", 0};
    hub_buf_init(&c->art, 1 << 20);
    hub_problems_init(&c->probs);
    hub_error_init(&c->err);
    c->warnings = json_array();
    hub_channel_report rep = {&c->probs, PREFIX, NULL, c->warnings};
    c->rc = validate ? hub_channel_validate(chat, &in, &rep)
                     : hub_channel_render(chat, &in, &c->art, 1, &rep, &c->err);
}

static void check_artifact(const char *text, const char *title, const char *want)
{
    call c;
    run(&c, 0, text, text != NULL ? strlen(text) : 0, title);
    CHECK(c.rc == 0);
    CHECK_STR(c.art.data, want);
    CHECK(c.probs.count == 0 && json_array_size(c.warnings) == 0);
    call_free(&c);
}

static void test_render(void)
{
    REQUIRE(load("{}") == 0);
    check_artifact("Hello Ada, your card is on its way.", "Card shipped",
                   "{\"text\":\"Hello Ada, your card is on its way.\",\"title\":\"Card shipped\","
                   "\"payload\":{\"text\":\"*Card shipped*\\nHello Ada, your card is on its "
                   "way.\"}}");
    /* No title, or a blank one: null, and the payload is the text alone. */
    check_artifact("Just text", NULL,
                   "{\"text\":\"Just text\",\"title\":null,\"payload\":{\"text\":\"Just text\"}}");
    check_artifact("Just text", " \n ",
                   "{\"text\":\"Just text\",\"title\":null,\"payload\":{\"text\":\"Just text\"}}");
    /* Escaping, UTF-8 kept, the title trimmed. */
    check_artifact("Line 1\nSay \"hi\" \\ <https://x.example|link> \xe2\x82\xac",
                   "  Caf\xc3\xa9 \"A\"\n",
                   "{\"text\":\"Line 1\\nSay \\\"hi\\\" \\\\ <https://x.example|link> "
                   "\xe2\x82\xac\",\"title\":\"Caf\xc3\xa9 \\\"A\\\"\",\"payload\":{\"text\":"
                   "\"*Caf\xc3\xa9 \\\"A\\\"*\\nLine 1\\nSay \\\"hi\\\" \\\\ "
                   "<https://x.example|link> \xe2\x82\xac\"}}");
    /* The configured username goes into the payload. */
    REQUIRE(load("{\"username\": \"Northwind Bank\"}") == 0);
    check_artifact("Hi", "T",
                   "{\"text\":\"Hi\",\"title\":\"T\",\"payload\":{\"text\":\"*T*\\nHi\","
                   "\"username\":\"Northwind Bank\"}}");
}

static void test_limits(void)
{
    static char big[4002];
    call c;
    REQUIRE(load("{}") == 0);
    memset(big, 'x', sizeof(big));
    /* 4000 bytes: fine in both. */
    run(&c, 1, big, 4000, NULL);
    CHECK(c.rc == 0 && c.probs.count == 0);
    call_free(&c);
    run(&c, 0, big, 4000, NULL);
    CHECK(c.rc == 0 && c.art.len == 4000 * 2 + 46);
    call_free(&c);
    /* 4001 bytes: a problem at publish, a refusal at render. */
    run(&c, 1, big, 4001, NULL);
    CHECK(c.rc == 0);
    REQUIRE(c.probs.count == 1);
    CHECK_STR(c.probs.items[0].path, PREFIX "/text");
    CHECK_STR(c.probs.items[0].message,
              "the text is 4001 bytes after rendering; a chat message takes at most 4000");
    call_free(&c);
    run(&c, 0, big, 4001, NULL);
    CHECK(c.rc == HUB_EINVAL && c.art.len == 0);
    CHECK(c.probs.count == 1);
    call_free(&c);
    /* An empty text after rendering (validate does not judge: variables are empty there). */
    run(&c, 0, "  \n", 3, NULL);
    CHECK(c.rc == HUB_EINVAL);
    REQUIRE(c.probs.count == 1);
    CHECK_STR(c.probs.items[0].path, PREFIX "/text");
    CHECK_STR(c.probs.items[0].message, "the text is empty after rendering");
    call_free(&c);
    run(&c, 0, NULL, 0, "title");
    CHECK(c.rc == HUB_EINVAL && c.probs.count == 1);
    call_free(&c);
    run(&c, 1, "", 0, NULL);
    CHECK(c.rc == 0 && c.probs.count == 0);
    call_free(&c);
    /* A long title: a warning, still sent. */
    char title[202];
    memset(title, 't', 201);
    title[201] = '\0';
    run(&c, 0, "x", 1, title);
    CHECK(c.rc == 0 && c.probs.count == 0);
    REQUIRE(json_array_size(c.warnings) == 1);
    CHECK_STR(json_string_value(json_object_get(json_array_get(c.warnings, 0), "code")),
              "chat_title_long");
    call_free(&c);
    /* Invalid UTF-8 never reaches the artifact. */
    run(&c, 0, "bad \xc3\x28", 6, NULL);
    CHECK(c.rc == HUB_EINVAL && c.art.len == 0);
    call_free(&c);
}

/* ---- deliver ------------------------------------------------------------------------------- */

static const char *artifact = "{\"text\":\"Hi\",\"title\":\"T\",\"payload\":{\"text\":\"*T*\\nHi\","
                              "\"username\":\"NW\"}}";
static const char *payload = "{\"text\":\"*T*\\nHi\",\"username\":\"NW\"}";

static int deliver(const char *art, const char *message_id, char *err, size_t cap, int64_t *retry)
{
    json_t *rcp = json_object();
    hub_deliver_in in = {sizeof(in), 1, {art, strlen(art)}, rcp, message_id};
    int rc = hub_channel_deliver(chat, &in, err, cap, retry);
    json_decref(rcp);
    return rc;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    static char buf[8192];
    size_t n;
    if (f == NULL)
        return NULL;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void test_deliver_outbox(void)
{
    char err[200], path[1200];
    int64_t retry = -1;
    REQUIRE(load("{\"driver\": \"outbox\"}") == 0);
    CHECK(deliver(artifact, "msg-7f3a", err, sizeof(err), &retry) == HUB_DELIVER_OK);
    snprintf(path, sizeof(path), "%s/outbox/chat/msg-7f3a.json", data_dir);
    CHECK_STR(slurp(path), payload);
    CHECK(gw.calls == 0);
    CHECK(deliver("{\"text\":\"no payload\"}", "m-2", err, sizeof(err), &retry) ==
          HUB_DELIVER_FAIL);
    CHECK_STR(err, "the artifact is not a chat artifact");
    CHECK(deliver("not json", "m-2", err, sizeof(err), &retry) == HUB_DELIVER_FAIL);
    CHECK(deliver(artifact, "", err, sizeof(err), &retry) == HUB_DELIVER_FAIL);
    CHECK_STR(err, "no message id");
    hub_buf m;
    hub_buf_init(&m, 1 << 16);
    CHECK(hub_plugins_metrics_text(&m) == 0);
    CHECK(strstr(m.data, "omnihub_plugin_sent_total{channel=\"chat\"} 1\n") != NULL);
    hub_buf_free(&m);
}

static void test_deliver_http(void)
{
    char err[200];
    int64_t retry = -1;
    REQUIRE(load("{\"driver\": \"http\", \"http\": {\"url\": \"https://hooks.example/T1\", "
                 "\"headers\": {\"Authorization\": \"Bearer t\"}}}") == 0);
    memset(&gw, 0, sizeof(gw));
    gw.answer = HUB_DELIVER_OK;
    gw.status = 200;
    CHECK(deliver(artifact, "m-1", err, sizeof(err), &retry) == HUB_DELIVER_OK);
    CHECK(gw.calls == 1);
    CHECK_STR(gw.url, "POST https://hooks.example/T1");
    CHECK_STR(gw.headers, "Content-Type: application/json\nIdempotency-Key: m-1\n"
                          "Authorization: Bearer t\n");
    CHECK_STR(gw.body, payload);
    CHECK(retry == 0);

    /* A transport OK with an error status is classified by the status. */
    gw.status = 404;
    CHECK(deliver(artifact, "m-1", err, sizeof(err), &retry) == HUB_DELIVER_FAIL);
    CHECK_STR(err, "the webhook answered HTTP 404");
    gw.status = 503;
    CHECK(deliver(artifact, "m-1", err, sizeof(err), &retry) == HUB_DELIVER_RETRY);
    gw.status = 429;
    CHECK(deliver(artifact, "m-1", err, sizeof(err), &retry) == HUB_DELIVER_RETRY);
    CHECK_STR(err, "the webhook answered HTTP 429");
    /* The transport's own RETRY, with Retry-After. */
    gw.answer = HUB_DELIVER_RETRY;
    gw.status = 429;
    gw.retry_ms = 30000;
    CHECK(deliver(artifact, "m-2", err, sizeof(err), &retry) == HUB_DELIVER_RETRY);
    CHECK(retry == 30000);
    CHECK_STR(err, "stub: 429");
    CHECK(strstr(gw.headers, "Idempotency-Key: m-2\n") != NULL);
    gw.answer = HUB_DELIVER_FAIL;
    gw.status = 400;
    gw.retry_ms = 0;
    CHECK(deliver(artifact, "m-3", err, sizeof(err), &retry) == HUB_DELIVER_FAIL);
    CHECK(gw.calls == 6);

    /* A configured Content-Type replaces the plugin's. */
    REQUIRE(load("{\"driver\": \"http\", \"http\": {\"url\": \"http://127.0.0.1:9/h\", "
                 "\"headers\": {\"content-type\": \"application/json; charset=utf-8\"}}}") == 0);
    memset(&gw, 0, sizeof(gw));
    gw.answer = HUB_DELIVER_OK;
    gw.status = 204;
    CHECK(deliver(artifact, "m-4", err, sizeof(err), &retry) == HUB_DELIVER_OK);
    CHECK_STR(gw.headers, "Idempotency-Key: m-4\ncontent-type: application/json; charset=utf-8\n");
}

int main(void)
{
    const char *so = getenv("HUB_CHAT_SO");
    if (so == NULL) {
        fprintf(stderr, "HUB_CHAT_SO is not set (run through ctest)\n");
        return 1;
    }
    snprintf(so_path, sizeof(so_path), "%s", so);
    snprintf(data_dir, sizeof(data_dir), "%s", test_tmpdir("abi_chat"));
    RUN(test_config_refusals);
    RUN(test_schema);
    RUN(test_render);
    RUN(test_limits);
    RUN(test_deliver_outbox);
    RUN(test_deliver_http);
    hub_plugins_free(plugins);
    return TEST_SUMMARY();
}
