/*
 * The example plugin examples/chat-webhook (built as $HUB_CHAT_SO) through the real loader
 * and host: its configuration refusals, the hand-checked artifacts, the 4000-byte limit in
 * validate() and render(), the title warning, and deliver() to the outbox and to a stub
 * HTTP driver (headers, Idempotency-Key, status classification, Retry-After).
 */
#include "../plugins/plugin_fixture.h"

#define PREFIX "/variants/0/content/en/chat"

/* The plugin file is $HUB_CHAT_SO (main sets .so); the HTTP driver is a stub. */
static plug_gw gw;
static plug chat = {
    .name = "chat", .tmpname = "abi_chat", .services = {.http_request = plug_gw_http, .ctx = &gw}};
static const plug_msg msg = {.item = "demo/card",
                             .variant = "default",
                             .locale = "en",
                             .message_id = "m-1",
                             .prefix = PREFIX};

/* Loads chat.so with `config` (JSON text) as channels.chat: 0 when it loaded, else -1 with
 * the refusal in chat.refusal. Frees the previous set. */
static int load(const char *config)
{
    plug_load(&chat, config);
    return chat.ch != NULL ? 0 : -1;
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
        CHECK(plug_refusal_has(&chat, cases[i][1]));
        CHECK(strstr(chat.refusal, chat.path) == chat.refusal);
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
    const hub_plugin_schema *s = hub_channel_fields(chat.ch);
    REQUIRE(s->nfields == 2);
    CHECK_STR(s->fields[0]->name, "text");
    CHECK(s->fields[0]->kind == HUB_FIELD_TEXT && s->fields[0]->required == 1);
    CHECK(s->fields[0]->max_bytes == 4000);
    CHECK_STR(s->fields[1]->name, "title");
    CHECK(s->fields[1]->kind == HUB_FIELD_TEXT && s->fields[1]->required == 0);
    CHECK(s->fields[1]->max_bytes == 200);
    CHECK_STR(hub_channel_plugin(chat.ch)->version, "1.0.0");
}

/* ---- render and validate ------------------------------------------------------------------- */

/* Renders (or validates, when validate is set) text and title (NULL: absent). */
static void run(plug_call *c, int validate, const char *text, size_t tlen, const char *title)
{
    hub_str f[2] = {{text, tlen}, {title, title != NULL ? strlen(title) : 0}};
    plug_run(c, chat.ch, validate, &msg, f);
}

static void check_artifact(const char *text, const char *title, const char *want)
{
    plug_call c;
    run(&c, 0, text, text != NULL ? strlen(text) : 0, title);
    CHECK(c.rc == 0);
    CHECK_STR(c.artifact.data, want);
    CHECK(c.problems.count == 0 && json_array_size(c.warnings) == 0);
    plug_call_free(&c);
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
    plug_call c;
    REQUIRE(load("{}") == 0);
    memset(big, 'x', sizeof(big));
    /* 4000 bytes: fine in both. */
    run(&c, 1, big, 4000, NULL);
    CHECK(c.rc == 0 && c.problems.count == 0);
    plug_call_free(&c);
    run(&c, 0, big, 4000, NULL);
    CHECK(c.rc == 0 && c.artifact.len == 4000 * 2 + 46);
    plug_call_free(&c);
    /* 4001 bytes: a problem at publish, a refusal at render. */
    run(&c, 1, big, 4001, NULL);
    CHECK(c.rc == 0);
    REQUIRE(c.problems.count == 1);
    CHECK_STR(c.problems.items[0].path, PREFIX "/text");
    CHECK_STR(c.problems.items[0].message,
              "the text is 4001 bytes after rendering; a chat message takes at most 4000");
    plug_call_free(&c);
    run(&c, 0, big, 4001, NULL);
    CHECK(c.rc == HUB_EINVAL && c.artifact.len == 0);
    CHECK(c.problems.count == 1);
    plug_call_free(&c);
    /* An empty text after rendering (validate does not judge: variables are empty there). */
    run(&c, 0, "  \n", 3, NULL);
    CHECK(c.rc == HUB_EINVAL);
    REQUIRE(c.problems.count == 1);
    CHECK_STR(c.problems.items[0].path, PREFIX "/text");
    CHECK_STR(c.problems.items[0].message, "the text is empty after rendering");
    plug_call_free(&c);
    run(&c, 0, NULL, 0, "title");
    CHECK(c.rc == HUB_EINVAL && c.problems.count == 1);
    plug_call_free(&c);
    run(&c, 1, "", 0, NULL);
    CHECK(c.rc == 0 && c.problems.count == 0);
    plug_call_free(&c);
    /* A long title: a warning, still sent. */
    char title[202];
    memset(title, 't', 201);
    title[201] = '\0';
    run(&c, 0, "x", 1, title);
    CHECK(c.rc == 0 && c.problems.count == 0);
    REQUIRE(json_array_size(c.warnings) == 1);
    CHECK_STR(json_string_value(json_object_get(json_array_get(c.warnings, 0), "code")),
              "chat_title_long");
    plug_call_free(&c);
    /* Invalid UTF-8 never reaches the artifact. */
    run(&c, 0, "bad \xc3\x28", 6, NULL);
    CHECK(c.rc == HUB_EINVAL && c.artifact.len == 0);
    plug_call_free(&c);
}

/* ---- deliver ------------------------------------------------------------------------------- */

static const char *artifact = "{\"text\":\"Hi\",\"title\":\"T\",\"payload\":{\"text\":\"*T*\\nHi\","
                              "\"username\":\"NW\"}}";
static const char *payload = "{\"text\":\"*T*\\nHi\",\"username\":\"NW\"}";

static int deliver(const char *art, const char *message_id, char *err, size_t cap, int64_t *retry)
{
    return plug_deliver(chat.ch, art, strlen(art), "{}", message_id, err, cap, retry);
}

static void test_deliver_outbox(void)
{
    char err[200];
    int64_t retry = -1;
    REQUIRE(load("{\"driver\": \"outbox\"}") == 0);
    CHECK(deliver(artifact, "msg-7f3a", err, sizeof(err), &retry) == HUB_DELIVER_OK);
    CHECK_STR(plug_outbox(&chat, "msg-7f3a.json", NULL), payload);
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
    plug_gw_reset(&gw);
    CHECK(deliver(artifact, "m-1", err, sizeof(err), &retry) == HUB_DELIVER_OK);
    CHECK(gw.calls == 1);
    CHECK_STR(gw.req[0].method, "POST");
    CHECK_STR(gw.req[0].url, "https://hooks.example/T1");
    CHECK_STR(gw.req[0].headers, "Content-Type: application/json\nIdempotency-Key: m-1\n"
                                 "Authorization: Bearer t\n");
    CHECK_STR(gw.req[0].body, payload);
    CHECK(retry == 0);

    /* A transport OK with an error status is classified by the status. */
    plug_gw_answer_all(&gw, (plug_gw_answer){HUB_DELIVER_OK, 404, 0, NULL});
    CHECK(deliver(artifact, "m-1", err, sizeof(err), &retry) == HUB_DELIVER_FAIL);
    CHECK_STR(err, "the webhook answered HTTP 404");
    plug_gw_answer_all(&gw, (plug_gw_answer){HUB_DELIVER_OK, 503, 0, NULL});
    CHECK(deliver(artifact, "m-1", err, sizeof(err), &retry) == HUB_DELIVER_RETRY);
    plug_gw_answer_all(&gw, (plug_gw_answer){HUB_DELIVER_OK, 429, 0, NULL});
    CHECK(deliver(artifact, "m-1", err, sizeof(err), &retry) == HUB_DELIVER_RETRY);
    CHECK_STR(err, "the webhook answered HTTP 429");
    /* The transport's own RETRY, with Retry-After. */
    plug_gw_answer_all(&gw, (plug_gw_answer){HUB_DELIVER_RETRY, 429, 30000, NULL});
    CHECK(deliver(artifact, "m-2", err, sizeof(err), &retry) == HUB_DELIVER_RETRY);
    CHECK(retry == 30000);
    CHECK_STR(err, "stub: 429");
    CHECK(strstr(plug_gw_last(&gw)->headers, "Idempotency-Key: m-2\n") != NULL);
    plug_gw_answer_all(&gw, (plug_gw_answer){HUB_DELIVER_FAIL, 400, 0, NULL});
    CHECK(deliver(artifact, "m-3", err, sizeof(err), &retry) == HUB_DELIVER_FAIL);
    CHECK(gw.calls == 6);

    /* A configured Content-Type replaces the plugin's. */
    REQUIRE(load("{\"driver\": \"http\", \"http\": {\"url\": \"http://127.0.0.1:9/h\", "
                 "\"headers\": {\"content-type\": \"application/json; charset=utf-8\"}}}") == 0);
    plug_gw_reset(&gw);
    gw.answer[0].status = 204;
    CHECK(deliver(artifact, "m-4", err, sizeof(err), &retry) == HUB_DELIVER_OK);
    CHECK_STR(gw.req[0].headers,
              "Idempotency-Key: m-4\ncontent-type: application/json; charset=utf-8\n");
}

int main(void)
{
    const char *so = getenv("HUB_CHAT_SO");
    if (so == NULL) {
        fprintf(stderr, "HUB_CHAT_SO is not set (run through ctest)\n");
        return 1;
    }
    chat.so = so;
    RUN(test_config_refusals);
    RUN(test_schema);
    RUN(test_render);
    RUN(test_limits);
    RUN(test_deliver_outbox);
    RUN(test_deliver_http);
    plug_unload(&chat);
    return TEST_SUMMARY();
}
