/*
 * The sms plugin through the real loader and host: artifacts of hand-checked texts (GSM-7
 * with its extension table, UCS-2 with surrogate pairs, the 160/153 and 70/67 boundaries),
 * the warnings and problems of validate() and render(), configuration refusals naming the
 * key, and deliver() to the outbox and to a stub HTTP gateway.
 */
#include <jansson.h>
#include <stdint.h>

#include "plugin/plugin.h"
#include "test.h"

#define PREFIX "/variants/0/content/en/sms"

static char so_path[1024];

/* ---- a stub HTTP gateway (the app's driver): records the request, answers as told ------- */

static struct {
    int calls;
    char method[16];
    char url[256];
    char headers[1024]; /* "Name: value\n" each, in order */
    char body[4096];
    uint32_t timeout_ms;
    int answer;              /* what to return */
    const char *answer_err;  /* what to write into err */
    int64_t answer_retry_ms; /* res->retry_after_ms */
} gw;

static int stub_http(void *ctx, const hub_http_request *req, hub_http_response *res, char *err,
                     size_t errcap)
{
    size_t n = 0;
    gw.calls++;
    snprintf(gw.method, sizeof(gw.method), "%s", req->method);
    snprintf(gw.url, sizeof(gw.url), "%s", req->url);
    gw.headers[0] = '\0';
    for (uint32_t i = 0; i < req->nheaders; i++)
        n += (size_t)snprintf(gw.headers + n, sizeof(gw.headers) - n, "%s: %s\n",
                              req->headers[i].name, req->headers[i].value);
    snprintf(gw.body, sizeof(gw.body), "%.*s", (int)req->body.len, req->body.ptr);
    gw.timeout_ms = req->timeout_ms;
    res->status = gw.answer == HUB_DELIVER_OK ? 200 : 503;
    res->retry_after_ms = gw.answer_retry_ms;
    if (gw.answer_err != NULL)
        snprintf(err, errcap, "%s", gw.answer_err);
    return gw.answer;
}

/* ---- loading ------------------------------------------------------------------------------ */

static hub_plugins *plugins;
static const hub_channel *ch;
static char data_dir[512];
static char refusal[700];

/* Loads the plugin with `config` (JSON text) as channels.sms; 0 when the channel loaded,
 * else -1 with the loader's refusal in `refusal`. Frees what the previous call loaded. */
static int load(const char *config)
{
    json_error_t je;
    json_t *conf = json_loads(config, 0, &je);
    json_t *channels = json_object();
    const char *paths[] = {so_path};
    hub_error err;
    hub_plugins_free(plugins);
    plugins = NULL;
    ch = NULL;
    refusal[0] = '\0';
    if (conf == NULL || channels == NULL) {
        fprintf(stderr, "bad test config %s: %s\n", config, je.text);
        abort();
    }
    json_object_set_new(channels, "sms", conf);
    snprintf(data_dir, sizeof(data_dir), "%s", test_tmpdir("sms"));
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
    ch = hub_plugins_find(plugins, "sms", 3);
    if (hub_plugins_refused_count(plugins) > 0)
        snprintf(refusal, sizeof(refusal), "%s", hub_plugins_refusal(plugins, 0));
    return ch != NULL ? 0 : -1;
}

/* 1 if the configuration is refused with a reason that contains `why`. */
static int refused(const char *config, const char *why)
{
    if (load(config) == 0) {
        fprintf(stderr, "config %s was accepted\n", config);
        return 0;
    }
    if (strstr(refusal, "create failed: ") == NULL || strstr(refusal, why) == NULL) {
        fprintf(stderr, "config %s: refusal \"%s\" lacks \"%s\"\n", config, refusal, why);
        return 0;
    }
    return 1;
}

/* ---- validate and render ------------------------------------------------------------------ */

static hub_buf art;
static json_t *warnings;
static hub_problems problems;
static json_t *recipient;

static void reset(void)
{
    hub_buf_free(&art);
    hub_buf_init(&art, 1 << 20);
    json_decref(warnings);
    warnings = json_array();
    hub_problems_clear(&problems);
}

static hub_render_in render_in(const hub_str *field)
{
    return (hub_render_in){
        sizeof(hub_render_in), 1, field, "onboarding/welcome", "control", "en", recipient, "msg-1",
        1700000000000};
}

static int render_n(const char *text, size_t len)
{
    hub_str f = {text, len};
    hub_render_in in = render_in(&f);
    hub_error err;
    reset(); /* before rep takes the new warnings array */
    hub_channel_report rep = {&problems, PREFIX, NULL, warnings};
    hub_error_init(&err);
    int rc = hub_channel_render(ch, &in, &art, 1, &rep, &err);
    hub_error_clear(&err);
    return rc;
}

static int render(const char *text)
{
    return render_n(text, strlen(text));
}

/* validate() of a field value; text NULL: the field resolved to nothing. */
static int validate(const char *text)
{
    hub_str f = {text, text != NULL ? strlen(text) : 0};
    hub_render_in in = render_in(&f);
    in.recipient = NULL;
    in.message_id = "validate";
    reset();
    hub_channel_report rep = {&problems, PREFIX, NULL, warnings};
    return hub_channel_validate(ch, &in, &rep);
}

static const char *artifact(void)
{
    return art.data != NULL ? art.data : "";
}

/* Warning i is {code, message}. */
static int warn_is(size_t i, const char *code, const char *message)
{
    json_t *w = json_array_get(warnings, i);
    const char *c = json_string_value(json_object_get(w, "code"));
    const char *m = json_string_value(json_object_get(w, "message"));
    if (c == NULL || m == NULL || strcmp(c, code) != 0 || strcmp(m, message) != 0) {
        fprintf(stderr, "warning %zu: [%s] %s\n   wanted [%s] %s\n", i, c ? c : "(none)",
                m ? m : "", code, message);
        return 0;
    }
    return 1;
}

static int problem_is(size_t i, const char *path, const char *message)
{
    if (i >= problems.count) {
        fprintf(stderr, "no problem %zu; wanted %s: %s\n", i, path, message);
        return 0;
    }
    if (strcmp(problems.items[i].path, path) != 0 ||
        strcmp(problems.items[i].message, message) != 0) {
        fprintf(stderr, "problem %zu: %s: %s\n   wanted %s: %s\n", i, problems.items[i].path,
                problems.items[i].message, path, message);
        return 0;
    }
    return 1;
}

static char big[8192];

/* n copies of the UTF-8 sequence u, then tail; in `big`. */
static const char *rep(const char *u, size_t n, const char *tail)
{
    size_t k = 0, ul = strlen(u);
    for (size_t i = 0; i < n && k + ul < sizeof(big) - 256; i++, k += ul)
        memcpy(big + k, u, ul);
    snprintf(big + k, sizeof(big) - k, "%s", tail);
    return big;
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
    CHECK(json_array_size(warnings) == 0);
    RENDERS(rep("a", 161, ""), "GSM-7", 161, 2, "");
    CHECK(json_array_size(warnings) == 1);
    CHECK(warn_is(0, "sms_segments", "2 segments (GSM-7): 161 characters, 153 per segment"));
    RENDERS("€", "GSM-7", 2, 1, "");
    RENDERS("5 € only", "GSM-7", 9, 1, "");
    RENDERS("[1~2]", "GSM-7", 8, 1, ""); /* [ ~ ] take two septets each */
    RENDERS(rep("a", 158, "~"), "GSM-7", 160, 1, "");
    RENDERS(rep("a", 159, "["), "GSM-7", 161, 2, ""); /* the escape tips it over */
    RENDERS("Café à Zürich", "GSM-7", 13, 1, "");     /* é à ü are in the basic table */
    CHECK(json_array_size(warnings) == 0);
    RENDERS(rep("a", 306, ""), "GSM-7", 306, 2, ""); /* 153 x 2 */
    RENDERS(rep("a", 307, ""), "GSM-7", 307, 3, "");
    CHECK(warn_is(0, "sms_segments", "3 segments (GSM-7): 307 characters, 153 per segment"));
}

static void test_ucs2_artifacts(void)
{
    REQUIRE(load("{}") == 0);
    /* The emoji is a surrogate pair: H, i, space and two units. */
    RENDERS("Hi 😀", "UCS-2", 5, 1, "\"😀\"");
    CHECK(json_array_size(warnings) == 1);
    CHECK(warn_is(0, "sms_ucs2",
                  "\"😀\" (U+1F600) forces UCS-2: 70 characters per segment instead of 160"));
    RENDERS("Crêpe", "UCS-2", 5, 1, "\"ê\""); /* é is GSM-7, ê is not */
    CHECK(warn_is(0, "sms_ucs2",
                  "\"ê\" (U+00EA) forces UCS-2: 70 characters per segment instead of 160"));
    /* Chinese: every character forces UCS-2, the only encoding it has: no sms_ucs2. */
    RENDERS("你好世界", "UCS-2", 4, 1, "\"你\",\"好\",\"世\",\"界\"");
    CHECK(json_array_size(warnings) == 0);
    RENDERS(rep("ç", 70, ""), "UCS-2", 70, 1, "\"ç\""); /* ç is not GSM-7 (Ç is) */
    CHECK(json_array_size(warnings) == 0);
    RENDERS(rep("ç", 71, ""), "UCS-2", 71, 2, "\"ç\"");
    CHECK(json_array_size(warnings) == 1);
    CHECK(warn_is(0, "sms_segments", "2 segments (UCS-2): 71 characters, 67 per segment"));
    RENDERS(rep("a", 68, "😀"), "UCS-2", 70, 1, "\"😀\"");
    RENDERS(rep("a", 69, "😀"), "UCS-2", 71, 2, "\"😀\"");
    RENDERS(rep("ç", 134, ""), "UCS-2", 134, 2, "\"ç\"");
    RENDERS(rep("ç", 135, ""), "UCS-2", 135, 3, "\"ç\"");
    /* One ê makes 71 characters two segments, where 70 septets would take one. */
    RENDERS(rep("a", 70, "ê"), "UCS-2", 71, 2, "\"ê\"");
    CHECK(json_array_size(warnings) == 2);
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
    CHECK(json_array_size(warnings) == 1);
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
    CHECK(problems.count == 1);
    CHECK(problem_is(0, PREFIX "/text", "3 segments (GSM-7), at most 2 allowed"));
    CHECK(warn_is(0, "sms_segments", "3 segments (GSM-7): 307 characters, 153 per segment"));
    CHECK(render(rep("a", 307, "")) == HUB_EINVAL);
    CHECK(art.len == 0);
    CHECK(problems.count == 1);
    CHECK(problem_is(0, PREFIX "/text", "3 segments (GSM-7), at most 2 allowed"));
    RENDERS(rep("a", 306, ""), "GSM-7", 306, 2, "");
    CHECK(problems.count == 0);
    CHECK(render(rep("ç", 135, "")) == HUB_EINVAL);
    CHECK(problem_is(0, PREFIX "/text", "3 segments (UCS-2), at most 2 allowed"));
    CHECK(validate(rep("ç", 134, "")) == 0 && problems.count == 0);

    /* The default is 10. */
    REQUIRE(load("{}") == 0);
    CHECK(render(rep("a", 1530, "")) == 0 && problems.count == 0);
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
        CHECK(problems.count == 0);
        CHECK(render(ok[i]) == 0);
    }
    for (size_t i = 0; i < sizeof(missing) / sizeof(missing[0]); i++) {
        CHECK(validate(missing[i]) == 0);
        CHECK(problems.count == 1);
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
    CHECK(render_n(NULL, 0) == HUB_EINVAL);
    CHECK(problem_is(0, PREFIX "/text", "the text is empty after rendering"));
    /* At publish the variables are empty: an empty text is a warning, not a refusal. */
    CHECK(validate(NULL) == 0);
    CHECK(problems.count == 0);
    CHECK(warn_is(0, "sms_empty", "the text is empty when its variables are empty"));
    /* validate() warns as render() does. */
    CHECK(validate("Crêpe") == 0 && problems.count == 0);
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

static int deliver(const char *message_id, const char *recipient_json)
{
    json_t *r = recipient_json != NULL ? json_loads(recipient_json, 0, NULL) : NULL;
    hub_deliver_in in = {sizeof(in), 1, {art.data, art.len}, r, message_id};
    dretry = -1;
    int rc = hub_channel_deliver(ch, &in, derr, sizeof(derr), &dretry);
    json_decref(r);
    return rc;
}

static char *read_file(const char *path)
{
    static char buf[8192];
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

static void test_outbox(void)
{
    char path[1024];
    REQUIRE(load("{\"sender\": \"BANK\"}") == 0);
    REQUIRE(render("Grüß Gott, 5 €") == 0);
    CHECK(deliver("msg-42", "{\"id\": \"cust-42\", \"phone\": \"+436641234567\"}") ==
          HUB_DELIVER_OK);
    snprintf(path, sizeof(path), "%s/outbox/sms/msg-42.json", data_dir);
    CHECK_STR(read_file(path), "{\"to\":\"+436641234567\",\"sender\":\"BANK\",\"text\":\"Grüß "
                               "Gott, 5 €\",\"encoding\":\"GSM-7\",\"segments\":1,"
                               "\"message_id\":\"msg-42\"}\n");

    REQUIRE(load("{}") == 0);
    REQUIRE(render(rep("ç", 71, "")) == 0);
    CHECK(deliver("msg-43", "{\"phone\": \"+12025550123\"}") == HUB_DELIVER_OK);
    snprintf(path, sizeof(path), "%s/outbox/sms/msg-43.json", data_dir);
    snprintf(want, sizeof(want),
             "{\"to\":\"+12025550123\",\"sender\":null,\"text\":\"%s\",\"encoding\":\"UCS-2\","
             "\"segments\":2,\"message_id\":\"msg-43\"}\n",
             rep("ç", 71, ""));
    CHECK_STR(read_file(path), want);

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
    snprintf(path, sizeof(path), "%s/outbox/sms/msg-44.json", data_dir);
    CHECK(read_file(path) != NULL);
    /* An artifact that is not the plugin's. */
    hub_buf_reset(&art);
    hub_buf_append_str(&art, "{\"text\": 1}");
    CHECK(deliver("msg-45", "{\"phone\": \"+12025550123\"}") == HUB_DELIVER_FAIL);
    CHECK_STR(derr, "the artifact is not an sms artifact");
}

static void test_http(void)
{
    const char *text = "Say \"hi\"\nbye €";
    REQUIRE(load("{\"driver\": \"http\", \"sender\": \"BANK\", \"http\": {\"url\": "
                 "\"http://127.0.0.1:9000/sms\", \"headers\": {\"Authorization\": \"Bearer t0k\"}, "
                 "\"timeout_ms\": 2500}}") == 0);
    REQUIRE(render(text) == 0);
    memset(&gw, 0, sizeof(gw));
    gw.answer = HUB_DELIVER_OK;
    CHECK(deliver("msg-7", "{\"phone\": \"+436641234567\"}") == HUB_DELIVER_OK);
    CHECK(gw.calls == 1);
    CHECK_STR(gw.method, "POST");
    CHECK_STR(gw.url, "http://127.0.0.1:9000/sms");
    CHECK(gw.timeout_ms == 2500);
    CHECK_STR(gw.headers, "Authorization: Bearer t0k\nContent-Type: application/json\n"
                          "Idempotency-Key: msg-7\n");
    /* The default body, with the quote and the newline escaped for JSON. */
    CHECK_STR(gw.body,
              "{\"to\":\"+436641234567\",\"text\":\"Say \\\"hi\\\"\\nbye €\",\"id\":\"msg-7\"}");
    json_t *b = json_loads(gw.body, 0, NULL);
    CHECK_STR(json_string_value(json_object_get(b, "text")), text);
    json_decref(b);

    /* The gateway's classification passes through, with its Retry-After and reason. */
    gw.answer = HUB_DELIVER_RETRY;
    gw.answer_err = "HTTP 503";
    gw.answer_retry_ms = 30000;
    CHECK(deliver("msg-7", "{\"phone\": \"+436641234567\"}") == HUB_DELIVER_RETRY);
    CHECK(dretry == 30000);
    CHECK_STR(derr, "HTTP 503");
    gw.answer = HUB_DELIVER_FAIL;
    gw.answer_err = "HTTP 400";
    gw.answer_retry_ms = 0;
    CHECK(deliver("msg-7", "{\"phone\": \"+436641234567\"}") == HUB_DELIVER_FAIL);
    CHECK_STR(derr, "HTTP 400");
    gw.calls = 0;
    CHECK(deliver("msg-7", "{\"phone\": \"12\"}") == HUB_DELIVER_FAIL);
    CHECK(gw.calls == 0);

    /* A plain-text body is not escaped; every variable is there. */
    REQUIRE(load("{\"driver\": \"http\", \"sender\": \"BANK\", \"http\": {\"url\": "
                 "\"http://gw/sms\", \"body\": \"To {{ recipient.phone }} from {{ sender }} "
                 "({{ message_id }}): {{ text }}\"}}") == 0);
    REQUIRE(render(text) == 0);
    memset(&gw, 0, sizeof(gw));
    CHECK(deliver("msg-8", "{\"phone\": \"+436641234567\"}") == HUB_DELIVER_OK);
    CHECK_STR(gw.headers, "Content-Type: text/plain; charset=utf-8\nIdempotency-Key: msg-8\n");
    CHECK_STR(gw.body, "To +436641234567 from BANK (msg-8): Say \"hi\"\nbye €");

    /* Recipient strings are escaped too, at any depth; a configured Content-Type wins. */
    REQUIRE(load("{\"driver\": \"http\", \"http\": {\"url\": \"http://gw/sms\", \"headers\": "
                 "{\"content-type\": \"application/vnd.gw+json\"}, \"body\": "
                 "\"  [\\\"{{ recipient.attributes.name }}\\\", \\\"{{ recipient.tags[1] }}\\\", "
                 "{{ recipient.attributes.n }}, \\\"{{ sender }}\\\"]\"}}") == 0);
    REQUIRE(render("hi") == 0);
    memset(&gw, 0, sizeof(gw));
    CHECK(deliver("msg-9", "{\"phone\": \"+436641234567\", \"tags\": [\"a\", \"b\\\"\\\\\"], "
                           "\"attributes\": {\"name\": \"J\\u00f6\\\"rg\\n\", \"n\": 3}}") ==
          HUB_DELIVER_OK);
    CHECK_STR(gw.headers, "content-type: application/vnd.gw+json\nIdempotency-Key: msg-9\n");
    CHECK_STR(gw.body, "  [\"Jö\\\"rg\\n\", \"b\\\"\\\\\", 3, \"\"]");
    b = json_loads(gw.body, 0, NULL);
    CHECK_STR(json_string_value(json_array_get(b, 0)), "Jö\"rg\n");
    CHECK_STR(json_string_value(json_array_get(b, 1)), "b\"\\");
    json_decref(b);
}

int main(void)
{
    const char *dir = getenv("HUB_PLUGIN_DIR");
    snprintf(so_path, sizeof(so_path), "%s/sms.so", dir != NULL ? dir : "build/plugins");
    hub_problems_init(&problems);
    recipient = json_pack("{s:s, s:s}", "id", "cust-42", "phone", "+436641234567");
    RUN(test_gsm7_artifacts);
    RUN(test_ucs2_artifacts);
    RUN(test_unicode_characters);
    RUN(test_max_segments);
    RUN(test_require_stop);
    RUN(test_bad_text);
    RUN(test_config_errors);
    RUN(test_outbox);
    RUN(test_http);
    hub_plugins_free(plugins);
    hub_buf_free(&art);
    json_decref(warnings);
    json_decref(recipient);
    hub_problems_clear(&problems);
    return TEST_SUMMARY();
}
