/*
 * The sms plugin through the real loader and host: artifacts of hand-checked texts (GSM-7
 * with its extension table, UCS-2 with surrogate pairs, the 160/153 and 70/67 boundaries),
 * the warnings and problems of validate() and render(), configuration refusals naming the
 * key, and deliver() to the outbox and to a stub HTTP gateway.
 */
#include "plugin_fixture.h"

#define PREFIX "/variants/0/content/en/sms"

static plug_gw gw; /* the app's HTTP driver */
static plug sms = {.name = "sms", .services = {.http_request = plug_gw_http, .ctx = &gw}};
static plug_msg msg = {.item = "onboarding/welcome", /* main() sets .recipient */
                       .variant = "control",
                       .locale = "en",
                       .message_id = "msg-1",
                       .now_ms = 1700000000000,
                       .prefix = PREFIX};
static plug_call cur; /* the last render or validate */

/* ---- loading ------------------------------------------------------------------------------ */

/* Loads the plugin with `config` (JSON text) as channels.sms; 0 when the channel loaded,
 * else -1 with the loader's refusal in sms.refusal. Frees what the previous call loaded. */
static int load(const char *config)
{
    plug_load(&sms, config);
    return sms.ch != NULL ? 0 : -1;
}

/* 1 if the configuration is refused with a reason that contains `why`. */
static int refused(const char *config, const char *why)
{
    if (load(config) == 0) {
        fprintf(stderr, "config %s was accepted\n", config);
        return 0;
    }
    if (strstr(sms.refusal, "create failed: ") == NULL || strstr(sms.refusal, why) == NULL) {
        fprintf(stderr, "config %s: refusal \"%s\" lacks \"%s\"\n", config, sms.refusal, why);
        return 0;
    }
    return 1;
}

/* ---- validate and render ------------------------------------------------------------------ */

/* Renders (or validates) the text field, len bytes of text; into cur. */
static int run(int validate, const char *text, size_t len)
{
    hub_str f = {text, len};
    plug_call_free(&cur);
    plug_run(&cur, sms.ch, validate, &msg, &f);
    return cur.rc;
}

static int render(const char *text)
{
    return run(PLUG_RENDER, text, strlen(text));
}

/* validate() of a field value; text NULL: the field resolved to nothing. */
static int validate(const char *text)
{
    return run(PLUG_VALIDATE, text, text != NULL ? strlen(text) : 0);
}

static const char *artifact(void)
{
    return cur.artifact.data != NULL ? cur.artifact.data : "";
}

/* Warning i (problem i) of the last call is exactly this; else 0, said on stderr. */
static int warn_is(size_t i, const char *code, const char *message)
{
    return plug_warning_is(&cur, i, code, message);
}

static int problem_is(size_t i, const char *path, const char *message)
{
    return plug_problem_is(&cur, i, path, message);
}

/* n copies of the UTF-8 sequence u, then tail; in a static buffer. */
static const char *rep(const char *u, size_t n, const char *tail)
{
    static char big[8192];
    return repeat_into(big, sizeof(big), u, n, tail);
}

static char want[10000];

/* The artifact render() must write for `text` (no character in it needs a JSON escape). */
static const char *expect(const char *text, const char *enc, int chars, int segs, const char *list)
{
    snprintf(want, sizeof(want),
             "{\"text\":\"%s\",\"encoding\":\"%s\",\"characters\":%d,\"segments\":%d,"
             "\"unicode_characters\":[%s]}",
             text, enc, chars, segs, list);
    return want;
}

#define RENDERS(text, enc, chars, segs, list)                                                      \
    do {                                                                                           \
        const char *t_ = (text);                                                                   \
        CHECK(render(t_) == 0);                                                                    \
        CHECK_STR(artifact(), expect(t_, enc, chars, segs, list));                                 \
    } while (0)

/* ---- the tests ---------------------------------------------------------------------------- */

static void test_gsm7_artifacts(void)
{
    REQUIRE(load("{}") == 0);
    RENDERS(rep("a", 160, ""), "GSM-7", 160, 1, "");
    CHECK(json_array_size(cur.warnings) == 0);
    RENDERS(rep("a", 161, ""), "GSM-7", 161, 2, "");
    CHECK(json_array_size(cur.warnings) == 1);
    CHECK(warn_is(0, "sms_segments", "2 segments (GSM-7): 161 characters, 153 per segment"));
    RENDERS("€", "GSM-7", 2, 1, "");
    RENDERS("5 € only", "GSM-7", 9, 1, "");
    RENDERS("[1~2]", "GSM-7", 8, 1, ""); /* [ ~ ] take two septets each */
    RENDERS(rep("a", 158, "~"), "GSM-7", 160, 1, "");
    RENDERS(rep("a", 159, "["), "GSM-7", 161, 2, ""); /* the escape tips it over */
    RENDERS("Café à Zürich", "GSM-7", 13, 1, "");     /* é à ü are in the basic table */
    CHECK(json_array_size(cur.warnings) == 0);
    RENDERS(rep("a", 306, ""), "GSM-7", 306, 2, ""); /* 153 x 2 */
    RENDERS(rep("a", 307, ""), "GSM-7", 307, 3, "");
    CHECK(warn_is(0, "sms_segments", "3 segments (GSM-7): 307 characters, 153 per segment"));
}

static void test_ucs2_artifacts(void)
{
    REQUIRE(load("{}") == 0);
    /* The emoji is a surrogate pair: H, i, space and two units. */
    RENDERS("Hi 😀", "UCS-2", 5, 1, "\"😀\"");
    CHECK(json_array_size(cur.warnings) == 1);
    CHECK(warn_is(0, "sms_ucs2",
                  "\"😀\" (U+1F600) forces UCS-2: 70 characters per segment instead of 160"));
    RENDERS("Crêpe", "UCS-2", 5, 1, "\"ê\""); /* é is GSM-7, ê is not */
    CHECK(warn_is(0, "sms_ucs2",
                  "\"ê\" (U+00EA) forces UCS-2: 70 characters per segment instead of 160"));
    /* Chinese: every character forces UCS-2, the only encoding it has: no sms_ucs2. */
    RENDERS("你好世界", "UCS-2", 4, 1, "\"你\",\"好\",\"世\",\"界\"");
    CHECK(json_array_size(cur.warnings) == 0);
    RENDERS(rep("ç", 70, ""), "UCS-2", 70, 1, "\"ç\""); /* ç is not GSM-7 (Ç is) */
    CHECK(json_array_size(cur.warnings) == 0);
    RENDERS(rep("ç", 71, ""), "UCS-2", 71, 2, "\"ç\"");
    CHECK(json_array_size(cur.warnings) == 1);
    CHECK(warn_is(0, "sms_segments", "2 segments (UCS-2): 71 characters, 67 per segment"));
    RENDERS(rep("a", 68, "😀"), "UCS-2", 70, 1, "\"😀\"");
    RENDERS(rep("a", 69, "😀"), "UCS-2", 71, 2, "\"😀\"");
    RENDERS(rep("ç", 134, ""), "UCS-2", 134, 2, "\"ç\"");
    RENDERS(rep("ç", 135, ""), "UCS-2", 135, 3, "\"ç\"");
    /* One ê makes 71 characters two segments, where 70 septets would take one. */
    RENDERS(rep("a", 70, "ê"), "UCS-2", 71, 2, "\"ê\"");
    CHECK(json_array_size(cur.warnings) == 2);
    CHECK(warn_is(0, "sms_ucs2",
                  "\"ê\" (U+00EA) forces UCS-2: 70 characters per segment instead of 160; "
                  "without it the message takes 1 segment instead of 2"));
    CHECK(warn_is(1, "sms_segments", "2 segments (UCS-2): 71 characters, 67 per segment"));
}

static void test_unicode_characters(void)
{
    char list[512], text[512];
    size_t n = 0, k = 0;
    REQUIRE(load("{}") == 0);
    /* In order of first appearance, each once; a tab escaped in JSON, named by code point. */
    CHECK(render("’Hi’ 😀 ’ a\tb") == 0);
    CHECK_STR(artifact(), "{\"text\":\"’Hi’ 😀 ’ a\\tb\",\"encoding\":\"UCS-2\",\"characters\":13,"
                          "\"segments\":1,\"unicode_characters\":[\"’\",\"😀\",\"\\u0009\"]}");
    CHECK(json_array_size(cur.warnings) == 1);
    CHECK(warn_is(0, "sms_ucs2",
                  "\"’\" (U+2019), \"😀\" (U+1F600), U+0009 force UCS-2: 70 characters per "
                  "segment instead of 160"));
    /* 25 distinct CJK characters U+4E00..U+4E18: the first 20 are listed. */
    for (unsigned c = 0x4E00; c < 0x4E19; c++) {
        char u[4] = {(char)(0xE0 | (c >> 12)), (char)(0x80 | ((c >> 6) & 0x3F)),
                     (char)(0x80 | (c & 0x3F)), 0};
        k += (size_t)snprintf(text + k, sizeof(text) - k, "%s", u);
        if (c < 0x4E00 + 20)
            n += (size_t)snprintf(list + n, sizeof(list) - n, "%s\"%s\"", c > 0x4E00 ? "," : "", u);
    }
    RENDERS(text, "UCS-2", 25, 1, list);
    /* Eleven stray accents in a Latin text: the warning names ten. */
    CHECK(render(rep("a", 30, "áâêëíîïóôúû")) == 0);
    CHECK(strstr(artifact(),
                 "\"characters\":41,\"segments\":1,\"unicode_characters\":[\"á\","
                 "\"â\",\"ê\",\"ë\",\"í\",\"î\",\"ï\",\"ó\",\"ô\",\"ú\",\"û\"]}") != NULL);
    CHECK(warn_is(0, "sms_ucs2",
                  "\"á\" (U+00E1), \"â\" (U+00E2), \"ê\" (U+00EA), \"ë\" (U+00EB), \"í\" "
                  "(U+00ED), \"î\" (U+00EE), \"ï\" (U+00EF), \"ó\" (U+00F3), \"ô\" (U+00F4), "
                  "\"ú\" (U+00FA) and 1 more force UCS-2: 70 characters per segment instead of "
                  "160"));
    /* Text that needs escaping in the artifact. */
    CHECK(render("Say \"hi\" \\ bye\n") == 0);
    CHECK_STR(artifact(), "{\"text\":\"Say \\\"hi\\\" \\\\ bye\\n\",\"encoding\":\"GSM-7\","
                          "\"characters\":16,\"segments\":1,\"unicode_characters\":[]}");
}

static void test_max_segments(void)
{
    REQUIRE(load("{\"max_segments\": 2}") == 0);
    CHECK(validate(rep("a", 307, "")) == 0);
    CHECK(cur.problems.count == 1);
    CHECK(problem_is(0, PREFIX "/text", "3 segments (GSM-7), at most 2 allowed"));
    CHECK(warn_is(0, "sms_segments", "3 segments (GSM-7): 307 characters, 153 per segment"));
    CHECK(render(rep("a", 307, "")) == HUB_EINVAL);
    CHECK(cur.artifact.len == 0);
    CHECK(cur.problems.count == 1);
    CHECK(problem_is(0, PREFIX "/text", "3 segments (GSM-7), at most 2 allowed"));
    RENDERS(rep("a", 306, ""), "GSM-7", 306, 2, "");
    CHECK(cur.problems.count == 0);
    CHECK(render(rep("ç", 135, "")) == HUB_EINVAL);
    CHECK(problem_is(0, PREFIX "/text", "3 segments (UCS-2), at most 2 allowed"));
    CHECK(validate(rep("ç", 134, "")) == 0 && cur.problems.count == 0);

    /* The default is 10. */
    REQUIRE(load("{}") == 0);
    CHECK(render(rep("a", 1530, "")) == 0 && cur.problems.count == 0);
    CHECK(render(rep("a", 1531, "")) == HUB_EINVAL);
    CHECK(problem_is(0, PREFIX "/text", "11 segments (GSM-7), at most 10 allowed"));
}

static void test_require_stop(void)
{
    static const char *ok[] = {
        "Reply STOP to opt out", "reply stop.", "STOP",   "end: Stop",
        "“Stop” ends it",        "Texte ARRET", "(stop)", "STOP!STOP",
        "回复STOP退订",          "Пишите STOP", "STOP😀",
    };
    /* The last one: a combining acute accent makes STOP another word. */
    static const char *missing[] = {
        "Hello", "STOPPED", "NONSTOP now", "stop_now", "séSTOP",
        "ST OP", "arrêt",   "STOPé",       "ЖSTOP",    "STOP\xcc\x81",
    };
    REQUIRE(load("{\"require_stop\": true, \"stop_keywords\": [\"STOP\", \"ARRET\"]}") == 0);
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        CHECK(validate(ok[i]) == 0);
        CHECK(cur.problems.count == 0);
        CHECK(render(ok[i]) == 0);
    }
    for (size_t i = 0; i < sizeof(missing) / sizeof(missing[0]); i++) {
        CHECK(validate(missing[i]) == 0);
        CHECK(cur.problems.count == 1);
        CHECK(problem_is(0, PREFIX "/text",
                         "the text must contain an opt-out keyword as a word (require_stop): "
                         "STOP, ARRET"));
        CHECK(render(missing[i]) == HUB_EINVAL);
    }
    REQUIRE(load("{\"require_stop\": true}") == 0);
    CHECK(render("Reply STOP") == 0);
    CHECK(render("Reply ARRET") == HUB_EINVAL);
    CHECK(problem_is(0, PREFIX "/text",
                     "the text must contain the opt-out keyword as a word (require_stop): STOP"));
    /* Not required: no check. */
    REQUIRE(load("{\"stop_keywords\": [\"STOP\"]}") == 0);
    CHECK(render("Hello") == 0);
}

static void test_bad_text(void)
{
    REQUIRE(load("{}") == 0);
    CHECK(validate("ab\xff") == 0);
    CHECK(problem_is(0, PREFIX "/text", "the text is not valid UTF-8"));
    CHECK(render("ab\xc3") == HUB_EINVAL);
    CHECK(problem_is(0, PREFIX "/text", "the text is not valid UTF-8"));
    CHECK(render(" \n ") == HUB_EINVAL);
    CHECK(problem_is(0, PREFIX "/text", "the text is empty after rendering"));
    CHECK(run(PLUG_RENDER, NULL, 0) == HUB_EINVAL);
    CHECK(problem_is(0, PREFIX "/text", "the text is empty after rendering"));
    /* At publish the variables are empty: an empty text is a warning, not a refusal. */
    CHECK(validate(NULL) == 0);
    CHECK(cur.problems.count == 0);
    CHECK(warn_is(0, "sms_empty", "the text is empty when its variables are empty"));
    /* validate() warns as render() does. */
    CHECK(validate("Crêpe") == 0 && cur.problems.count == 0);
    CHECK(warn_is(0, "sms_ucs2",
                  "\"ê\" (U+00EA) forces UCS-2: 70 characters per segment instead of 160"));
}

static void test_config_errors(void)
{
    CHECK(refused("{\"driver\": \"smtp\"}", "driver: must be \"outbox\" or \"http\""));
    CHECK(refused("{\"driver\": 1}", "driver: must be"));
    CHECK(refused("{\"colour\": 1}", "unknown key \"colour\""));
    CHECK(refused("{\"max_segments\": 0}", "max_segments: must be an integer from 1 to 255"));
    CHECK(refused("{\"max_segments\": 256}", "max_segments: must be an integer from 1 to 255"));
    CHECK(refused("{\"max_segments\": \"4\"}", "max_segments: must be an integer"));
    CHECK(refused("{\"max_segments\": 2.5}", "max_segments: must be an integer"));
    CHECK(refused("{\"require_stop\": \"yes\"}", "require_stop: must be true or false"));
    CHECK(refused("{\"stop_keywords\": []}", "stop_keywords: must be an array of 1 to 16"));
    CHECK(refused("{\"stop_keywords\": \"STOP\"}", "stop_keywords: must be an array"));
    CHECK(refused("{\"stop_keywords\": [\"STOP\", 1]}", "stop_keywords[1]: must be a string"));
    CHECK(refused("{\"stop_keywords\": [\"\"]}", "stop_keywords[0]: must be a string"));
    CHECK(refused("{\"sender\": 5}", "sender: must be a string"));
    CHECK(refused("{\"driver\": \"http\"}", "http.url: required when driver is \"http\""));
    CHECK(refused("{\"http\": []}", "http: must be an object"));
    CHECK(refused("{\"http\": {\"url\": \"ftp://gw\"}}", "http.url: must be an http://"));
    CHECK(refused("{\"http\": {\"timeout\": 5}}", "http: unknown key \"timeout\""));
    CHECK(refused("{\"http\": {\"timeout_ms\": -1}}", "http.timeout_ms: must be an integer"));
    CHECK(refused("{\"http\": {\"headers\": {\"X-Key\": 1}}}", "http.headers.X-Key: must be"));
    CHECK(refused("{\"http\": {\"headers\": {\"Bad Name\": \"x\"}}}",
                  "http.headers: \"Bad Name\" is not a header name"));
    CHECK(refused("{\"http\": {\"headers\": {\"idempotency-key\": \"x\"}}}",
                  "http.headers.idempotency-key: the plugin sets it"));
    CHECK(refused("{\"http\": {\"headers\": {\"X-A\": \"a\\r\\nX-B: b\"}}}",
                  "http.headers.X-A: must be a string"));
    CHECK(refused("{\"driver\": \"http\", \"http\": {\"url\": \"http://gw\", \"body\": \"{{ x\"}}",
                  "http.body: "));
    CHECK(refused("{\"http\": {\"body\": 3}}", "http.body: must be a Liquid template"));
    /* Every key at once, well formed. */
    CHECK(load("{\"driver\": \"http\", \"http\": {\"url\": \"https://gw.example/sms\", "
               "\"headers\": {\"Authorization\": \"Bearer x\"}, \"body\": \"{{ text }}\", "
               "\"timeout_ms\": 5000}, \"max_segments\": 4, \"require_stop\": false, "
               "\"stop_keywords\": [\"STOP\", \"STOPP\"], \"sender\": \"BANK\"}") == 0);
    CHECK(load("{\"sender\": null}") == 0);
}

/* ---- delivery ----------------------------------------------------------------------------- */

static char derr[256];
static int64_t dretry;

/* Delivers the last artifact to recipient_json as message_id. */
static int deliver(const char *message_id, const char *recipient_json)
{
    return plug_deliver(sms.ch, cur.artifact.data, cur.artifact.len, recipient_json, message_id,
                        derr, sizeof(derr), &dretry);
}

static void test_outbox(void)
{
    REQUIRE(load("{\"sender\": \"BANK\"}") == 0);
    REQUIRE(render("Grüß Gott, 5 €") == 0);
    CHECK(deliver("msg-42", "{\"id\": \"cust-42\", \"phone\": \"+436641234567\"}") ==
          HUB_DELIVER_OK);
    CHECK_STR(plug_outbox(&sms, "msg-42.json", NULL),
              "{\"to\":\"+436641234567\",\"sender\":\"BANK\",\"text\":\"Grüß "
              "Gott, 5 €\",\"encoding\":\"GSM-7\",\"segments\":1,"
              "\"message_id\":\"msg-42\"}\n");

    REQUIRE(load("{}") == 0);
    REQUIRE(render(rep("ç", 71, "")) == 0);
    CHECK(deliver("msg-43", "{\"phone\": \"+12025550123\"}") == HUB_DELIVER_OK);
    snprintf(want, sizeof(want),
             "{\"to\":\"+12025550123\",\"sender\":null,\"text\":\"%s\",\"encoding\":\"UCS-2\","
             "\"segments\":2,\"message_id\":\"msg-43\"}\n",
             rep("ç", 71, ""));
    CHECK_STR(plug_outbox(&sms, "msg-43.json", NULL), want);

    /* Addresses: missing or not E.164 is permanent. */
    CHECK(deliver("msg-44", "{\"id\": \"cust-42\"}") == HUB_DELIVER_FAIL);
    CHECK_STR(derr, "no phone number");
    CHECK(deliver("msg-44", NULL) == HUB_DELIVER_FAIL);
    CHECK_STR(derr, "no phone number");
    CHECK(deliver("msg-44", "{\"phone\": \"\"}") == HUB_DELIVER_FAIL);
    CHECK_STR(derr, "no phone number");
    static const char *bad[] = {"0664 1234567",      "+43 664 1234567", "+4366412",
                                "+1234567890123456", "+0664123456",     "436641234567"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char r[128];
        snprintf(r, sizeof(r), "{\"phone\": \"%s\"}", bad[i]);
        CHECK(deliver("msg-44", r) == HUB_DELIVER_FAIL);
        CHECK(strstr(derr, "E.164") != NULL);
    }
    CHECK(deliver("msg-44", "{\"phone\": \"+123456789\"}") == HUB_DELIVER_OK); /* 9 digits */
    CHECK(plug_outbox(&sms, "msg-44.json", NULL) != NULL);
    /* An artifact that is not the plugin's. */
    hub_buf_reset(&cur.artifact);
    hub_buf_append_str(&cur.artifact, "{\"text\": 1}");
    CHECK(deliver("msg-45", "{\"phone\": \"+12025550123\"}") == HUB_DELIVER_FAIL);
    CHECK_STR(derr, "the artifact is not an sms artifact");
}

/* Loads config, renders text and delivers it as message_id to recipient (JSON text) through
 * a fresh stub gateway: OK, with the gateway's record in gw. */
static void send_http(const char *config, const char *text, const char *message_id,
                      const char *recipient)
{
    REQUIRE(load(config) == 0);
    REQUIRE(render(text) == 0);
    plug_gw_reset(&gw);
    CHECK(deliver(message_id, recipient) == HUB_DELIVER_OK);
}

static void test_http(void)
{
    const char *text = "Say \"hi\"\nbye €";
    send_http("{\"driver\": \"http\", \"sender\": \"BANK\", \"http\": {\"url\": "
              "\"http://127.0.0.1:9000/sms\", \"headers\": {\"Authorization\": \"Bearer t0k\"}, "
              "\"timeout_ms\": 2500}}",
              text, "msg-7", "{\"phone\": \"+436641234567\"}");
    CHECK(gw.calls == 1);
    CHECK_STR(gw.req[0].method, "POST");
    CHECK_STR(gw.req[0].url, "http://127.0.0.1:9000/sms");
    CHECK(gw.req[0].timeout_ms == 2500);
    CHECK_STR(gw.req[0].headers, "Authorization: Bearer t0k\nContent-Type: application/json\n"
                                 "Idempotency-Key: msg-7\n");
    /* The default body, with the quote and the newline escaped for JSON. */
    CHECK_STR(gw.req[0].body,
              "{\"to\":\"+436641234567\",\"text\":\"Say \\\"hi\\\"\\nbye €\",\"id\":\"msg-7\"}");
    json_t *b = json_loads(gw.req[0].body, 0, NULL);
    CHECK_STR(json_string_value(json_object_get(b, "text")), text);
    json_decref(b);

    /* The gateway's classification passes through, with its Retry-After and reason. */
    plug_gw_answer_all(&gw, (plug_gw_answer){HUB_DELIVER_RETRY, 503, 30000, "HTTP 503"});
    CHECK(deliver("msg-7", "{\"phone\": \"+436641234567\"}") == HUB_DELIVER_RETRY);
    CHECK(dretry == 30000);
    CHECK_STR(derr, "HTTP 503");
    plug_gw_answer_all(&gw, (plug_gw_answer){HUB_DELIVER_FAIL, 503, 0, "HTTP 400"});
    CHECK(deliver("msg-7", "{\"phone\": \"+436641234567\"}") == HUB_DELIVER_FAIL);
    CHECK_STR(derr, "HTTP 400");
    gw.calls = 0;
    CHECK(deliver("msg-7", "{\"phone\": \"12\"}") == HUB_DELIVER_FAIL);
    CHECK(gw.calls == 0);

    /* A plain-text body is not escaped; every variable is there. */
    send_http("{\"driver\": \"http\", \"sender\": \"BANK\", \"http\": {\"url\": "
              "\"http://gw/sms\", \"body\": \"To {{ recipient.phone }} from {{ sender }} "
              "({{ message_id }}): {{ text }}\"}}",
              text, "msg-8", "{\"phone\": \"+436641234567\"}");
    CHECK_STR(gw.req[0].headers,
              "Content-Type: text/plain; charset=utf-8\nIdempotency-Key: msg-8\n");
    CHECK_STR(gw.req[0].body, "To +436641234567 from BANK (msg-8): Say \"hi\"\nbye €");

    /* Recipient strings are escaped too, at any depth; a configured Content-Type wins. */
    send_http("{\"driver\": \"http\", \"http\": {\"url\": \"http://gw/sms\", \"headers\": "
              "{\"content-type\": \"application/vnd.gw+json\"}, \"body\": "
              "\"  [\\\"{{ recipient.attributes.name }}\\\", \\\"{{ recipient.tags[1] }}\\\", "
              "{{ recipient.attributes.n }}, \\\"{{ sender }}\\\"]\"}}",
              "hi", "msg-9",
              "{\"phone\": \"+436641234567\", \"tags\": [\"a\", \"b\\\"\\\\\"], "
              "\"attributes\": {\"name\": \"J\\u00f6\\\"rg\\n\", \"n\": 3}}");
    CHECK_STR(gw.req[0].headers, "content-type: application/vnd.gw+json\nIdempotency-Key: msg-9\n");
    CHECK_STR(gw.req[0].body, "  [\"Jö\\\"rg\\n\", \"b\\\"\\\\\", 3, \"\"]");
    b = json_loads(gw.req[0].body, 0, NULL);
    CHECK_STR(json_string_value(json_array_get(b, 0)), "Jö\"rg\n");
    CHECK_STR(json_string_value(json_array_get(b, 1)), "b\"\\");
    json_decref(b);
}

int main(void)
{
    json_t *recipient = json_pack("{s:s, s:s}", "id", "cust-42", "phone", "+436641234567");
    msg.recipient = recipient;
    RUN(test_gsm7_artifacts);
    RUN(test_ucs2_artifacts);
    RUN(test_unicode_characters);
    RUN(test_max_segments);
    RUN(test_require_stop);
    RUN(test_bad_text);
    RUN(test_config_errors);
    RUN(test_outbox);
    RUN(test_http);
    plug_unload(&sms);
    plug_call_free(&cur);
    json_decref(recipient);
    return TEST_SUMMARY();
}
