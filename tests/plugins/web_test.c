/*
 * The web plugin through the real loader and host (libxml2 sanitizer and HTML to text):
 * exact artifacts, sanitizer warnings, summary derivation (characters, word boundaries),
 * URL checks, configuration refusals and delivery to the outbox.
 */
#include "plugin_fixture.h"

static plug web = {.name = "web"};
static const plug_msg msg = {.item = "news/savings",
                             .variant = "control",
                             .locale = "en",
                             .message_id = "w1",
                             .now_ms = 1700000000000,
                             .prefix = "/web"};

/* Loads web.so with channels.web = config (NULL: no entry); the test stops unless it loaded. */
#define LOAD(config) REQUIRE(plug_load(&web, config) != NULL && hub_plugins_count(web.set) == 1)

/* Renders (validate = 0) or validates the fields title, html, summary, image, url. */
static void run(int validate, const char *title, const char *html, const char *summary,
                const char *image, const char *url, plug_call *c)
{
    const char *const f[5] = {title, html, summary, image, url};
    plug_run_str(c, web.ch, validate, &msg, f);
}

/* The artifact equals want: as JSON, and byte for byte (the plugin writes it in order). */
static void check_artifact(const plug_call *c, const char *want)
{
    json_t *w = json_loads(want, 0, NULL);
    CHECK(w != NULL);
    CHECK(c->art != NULL && json_equal(c->art, w));
    CHECK_STR(c->artifact.data, want);
    json_decref(w);
}

/* Renders the fields: 0, and the artifact is want. c stays for more checks. */
static void render_ok(plug_call *c, const char *title, const char *html, const char *summary,
                      const char *image, const char *url, const char *want)
{
    run(0, title, html, summary, image, url, c);
    CHECK(c->rc == 0);
    check_artifact(c, want);
}

/* The summary derived from html (title "T", no other field) is want. */
static void check_summary(const char *html, const char *want)
{
    plug_call c;
    run(0, "T", html, NULL, NULL, NULL, &c);
    CHECK(c.rc == 0);
    CHECK_STR(plug_art_str(&c, "summary"), want);
    plug_call_free(&c);
}

/* A paragraph of n copies of word (which ends in a space) is summarized as its first k words
 * and an ellipsis. */
static void check_words_cut(const char *word, size_t n, size_t k)
{
    char html[4096], want[2048];
    char *words = repeat_new(word, n), *kept = repeat_new(word, k);
    kept[strlen(kept) - 1] = '\0';
    snprintf(html, sizeof(html), "<p>%s</p>", words);
    snprintf(want, sizeof(want), "%s\xE2\x80\xA6", kept);
    check_summary(html, want);
    free(words);
    free(kept);
}

/* ---- rendering ----------------------------------------------------------------------------- */

static void test_render_full(void)
{
    LOAD("{\"driver\":\"inbox\",\"site_name\":\"Bank\"}");
    CHECK_STR(hub_channel_name(hub_plugins_get(web.set, 0)), "web");
    CHECK(hub_channel_field_index(web.ch, "summary") == 2);
    plug_call c;
    render_ok(&c, "Welcome", "<p>Open your <b>first</b> savings account</p>", NULL,
              "https://cdn.example/w.png", "/offers/savings",
              "{\"title\":\"Welcome\",\"html\":\"<p>Open your <b>first</b> savings "
              "account</p>\",\"summary\":\"Open your first savings account\",\"image\":"
              "\"https://cdn.example/w.png\",\"url\":\"/offers/savings\",\"og\":{"
              "\"og:type\":\"article\",\"og:title\":\"Welcome\",\"og:description\":"
              "\"Open your first savings account\",\"og:image\":\"https://cdn.example/"
              "w.png\",\"og:url\":\"/offers/savings\",\"og:site_name\":\"Bank\"}}");
    CHECK(json_array_size(c.warnings) == 0 && c.problems.count == 0);
    plug_call_free(&c);

    /* A given summary is kept as written; escaping is JSON's. */
    render_ok(&c, "Say \"hi\"", "<p>x &amp; y</p>", "Short, and <b>plain</b>", NULL,
              "https://bank.example/a?b=1&c=2",
              "{\"title\":\"Say \\\"hi\\\"\",\"html\":\"<p>x &amp; y</p>\",\"summary\":"
              "\"Short, and <b>plain</b>\",\"image\":null,\"url\":\"https://"
              "bank.example/a?b=1&c=2\",\"og\":{\"og:type\":\"article\",\"og:title\":"
              "\"Say \\\"hi\\\"\",\"og:description\":\"Short, and <b>plain</b>\","
              "\"og:url\":\"https://bank.example/a?b=1&c=2\",\"og:site_name\":"
              "\"Bank\"}}");
    plug_call_free(&c);
    plug_unload(&web);
}

static void test_render_minimal(void)
{
    LOAD(NULL);
    plug_call c;
    render_ok(&c, "T", "<p>Hello</p>\n<p>  big\tworld </p>", NULL, NULL, NULL,
              "{\"title\":\"T\",\"html\":\"<p>Hello</p>\\n<p>  big\\tworld </p>\","
              "\"summary\":\"Hello big world\",\"image\":null,\"url\":null,\"og\":{"
              "\"og:type\":\"article\",\"og:title\":\"T\",\"og:description\":\"Hello "
              "big world\"}}");
    plug_call_free(&c);

    /* No text at all: no summary, no og:description. */
    render_ok(&c, "T", "<img src=\"/a.png\">", NULL, NULL, NULL,
              "{\"title\":\"T\",\"html\":\"<img src=\\\"/a.png\\\">\",\"summary\":null,"
              "\"image\":null,\"url\":null,\"og\":{\"og:type\":\"article\","
              "\"og:title\":\"T\"}}");
    plug_call_free(&c);
    plug_unload(&web);
}

static void test_sanitizer_warnings(void)
{
    LOAD(NULL);
    plug_call c;
    render_ok(&c, "T", "<p onclick=\"steal()\">Hi</p><script>alert(1)</script>", NULL, NULL, NULL,
              "{\"title\":\"T\",\"html\":\"<p>Hi</p>\",\"summary\":\"Hi\",\"image\":"
              "null,\"url\":null,\"og\":{\"og:type\":\"article\",\"og:title\":\"T\","
              "\"og:description\":\"Hi\"}}");
    CHECK(json_array_size(c.warnings) == 1);
    CHECK(plug_warnings_with(&c, "html_sanitized", "removed 2 elements or attributes") == 1);
    plug_call_free(&c);

    run(0, "T", "<a href=\"javascript:alert(1)\">x</a>", NULL, NULL, NULL, &c);
    CHECK(c.rc == 0);
    CHECK(plug_warnings_with(&c, "html_sanitized", "removed 1 element or attribute ") == 1);
    plug_call_free(&c);

    /* At publish the removal is a warning, not a problem. */
    run(1, "T", "<p onclick=\"steal()\">Hi</p><script>alert(1)</script>", NULL, NULL, NULL, &c);
    CHECK(c.rc == 0 && c.problems.count == 0);
    CHECK(plug_warnings_with(&c, "html_sanitized", "removed 2 ") == 1);
    plug_call_free(&c);

    run(1, "T", "<p>clean</p>", NULL, NULL, NULL, &c);
    CHECK(c.rc == 0 && c.problems.count == 0 && json_array_size(c.warnings) == 0);
    plug_call_free(&c);
    plug_unload(&web);
}

static void test_summary_derivation(void)
{
    LOAD(NULL);
    char html[4096], want[2048];

    /* 150 two-byte characters, " end ", 60 more: 215 characters, 365 bytes. The cut falls
     * in the x's; the last word boundary before it is after "end". Counting bytes would cut
     * inside the é's. */
    char *e150 = repeat_new("\xC3\xA9", 150), *x60 = repeat_new("x", 60);
    snprintf(html, sizeof(html), "<p>%s end %s</p>", e150, x60);
    snprintf(want, sizeof(want), "%s end\xE2\x80\xA6", e150);
    check_summary(html, want);

    /* One word of 300 é: cut at 199 characters (398 bytes), never inside a character. */
    char *e300 = repeat_new("\xC3\xA9", 300), *e199 = repeat_new("\xC3\xA9", 199);
    snprintf(html, sizeof(html), "<p>%s</p>", e300);
    snprintf(want, sizeof(want), "%s\xE2\x80\xA6", e199);
    check_summary(html, want);

    /* Exactly 200 characters (three-byte €): kept whole, no ellipsis. */
    char *eur200 = repeat_new("\xE2\x82\xAC", 200);
    snprintf(html, sizeof(html), "<p>%s</p>", eur200);
    check_summary(html, eur200);

    /* 199 characters then a space and more: the cut already falls before a space. */
    char *a199 = repeat_new("a", 199);
    snprintf(html, sizeof(html), "<p>%s</p><p>more words</p>", a199);
    snprintf(want, sizeof(want), "%s\xE2\x80\xA6", a199);
    check_summary(html, want);

    /* Words of 9 characters and a space: character 199 is a space, so 199 characters (20
     * words) are kept whole. */
    check_words_cut("wwwwwwwww ", 25, 20);

    /* Words of 8 and a space: character 199 is inside word 23, so the cut goes back to the
     * space before it: 22 words, 197 characters. */
    check_words_cut("wwwwwwww ", 25, 22);

    free(e150);
    free(x60);
    free(e300);
    free(e199);
    free(eur200);
    free(a199);
    plug_unload(&web);
}

static void test_url_and_title_checks(void)
{
    LOAD(NULL);
    static const char *const bad[] = {"javascript:alert(1)",
                                      "JavaScript:alert(1)",
                                      "data:image/png;base64,AAAA",
                                      "mailto:a@b.example",
                                      " https://x.example",
                                      "java\tscript:x",
                                      "http:/x",
                                      "vbscript:msgbox(1)"};
    static const char *const good[] = {"https://x.example/a", "HTTP://X.EXAMPLE",    "/a/b",
                                       "a/b?x=1:2",           "//cdn.example/i.png", "#top",
                                       "page.html#a:b"};
    plug_call c;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        run(0, "T", "<p>x</p>", NULL, bad[i], bad[i], &c);
        CHECK(c.rc == HUB_EINVAL && c.problems.count == 2);
        CHECK(plug_problems_at(&c, "/web/image", "") == 1);
        CHECK(plug_problems_at(&c, "/web/url", "") == 1);
        CHECK(c.artifact.len == 0);
        plug_call_free(&c);
        run(1, "T", "<p>x</p>", NULL, NULL, bad[i], &c);
        CHECK(c.rc == 0 && c.problems.count == 1 && plug_problems_at(&c, "/web/url", "") == 1);
        plug_call_free(&c);
    }
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        run(0, "T", "<p>x</p>", NULL, good[i], good[i], &c);
        CHECK(c.rc == 0 && c.problems.count == 0);
        plug_call_free(&c);
    }

    /* An empty (or blank) title is a problem at publish and at render. */
    run(1, "", "<p>x</p>", NULL, NULL, NULL, &c);
    CHECK(c.rc == 0 && c.problems.count == 1 && plug_problems_at(&c, "/web/title", "empty") == 1);
    plug_call_free(&c);
    run(1, " \n", "<p>x</p>", NULL, NULL, NULL, &c);
    CHECK(c.rc == 0 && plug_problems_at(&c, "/web/title", "empty") == 1);
    plug_call_free(&c);
    run(0, NULL, "<p>x</p>", NULL, NULL, NULL, &c);
    CHECK(c.rc == HUB_EINVAL && plug_problems_at(&c, "/web/title", "empty") == 1);
    plug_call_free(&c);
    plug_unload(&web);
}

/* ---- configuration and delivery ------------------------------------------------------------ */

static void test_config_refusals(void)
{
    plug_expect_refusal(&web, "{\"driver\":\"inbox\",\"theme\":\"dark\"}",
                        "channels.web: unknown key \"theme\"");
    plug_expect_refusal(&web, "{\"driver\":\"smtp\"}", "channels.web.driver");
    plug_expect_refusal(&web, "{\"site_name\":5}", "channels.web.site_name");
    plug_expect_refusal(&web, "[]", "channels.web");
    plug_unload(&web);
}

static void test_deliver_outbox(void)
{
    static const char *const confs[] = {"{\"driver\":\"outbox\"}"};
    for (size_t k = 0; k < 1; k++) {
        LOAD(confs[k]);
        plug_call c;
        char err[256] = "";
        int64_t retry = 0;
        size_t n = 0;
        run(0, "Welcome", "<p>Hi</p>", NULL, NULL, NULL, &c);
        REQUIRE(c.rc == 0);
        CHECK(plug_deliver(web.ch, c.artifact.data, c.artifact.len, "{\"id\":\"cust-42\"}", "msg-9",
                           err, sizeof(err), &retry) == HUB_DELIVER_OK);
        const char *text = plug_outbox(&web, "msg-9.json", &n);
        CHECK(text != NULL);
        CHECK(n == c.artifact.len && text != NULL && strcmp(text, c.artifact.data) == 0);

        /* A name the outbox cannot take is a permanent failure with a reason. */
        CHECK(plug_deliver(web.ch, c.artifact.data, c.artifact.len, "{\"id\":\"cust-42\"}", "../x",
                           err, sizeof(err), &retry) == HUB_DELIVER_FAIL);
        CHECK(err[0] != '\0');
        plug_call_free(&c);
        plug_unload(&web);
    }
}

/* The inbox_write service, recording what the plugin handed over. */
typedef struct inbox_seen {
    int calls;
    char channel[16], recipient[64], message_id[64];
    char body[4096];
} inbox_seen;

static int fake_inbox(void *ctx, const char *channel, const char *recipient, const char *message_id,
                      hub_str body, char *err, size_t errcap)
{
    inbox_seen *s = ctx;
    s->calls++;
    snprintf(s->channel, sizeof(s->channel), "%s", channel);
    snprintf(s->recipient, sizeof(s->recipient), "%s", recipient);
    snprintf(s->message_id, sizeof(s->message_id), "%s", message_id);
    snprintf(s->body, sizeof(s->body), "%.*s", (int)body.len, body.ptr);
    snprintf(err, errcap, "stored");
    return HUB_DELIVER_OK;
}

static void test_deliver_inbox(void)
{
    inbox_seen seen = {0};
    web.services = (hub_plugin_services){.inbox_write = fake_inbox, .ctx = &seen};
    LOAD(NULL); /* "inbox" is the default driver */
    plug_call c;
    char err[256] = "";
    int64_t retry = 0;
    run(0, "Welcome", "<p>Hi</p>", NULL, NULL, NULL, &c);
    REQUIRE(c.rc == 0);
    CHECK(plug_deliver(web.ch, c.artifact.data, c.artifact.len, "{\"id\":\"cust-42\"}", "msg-9",
                       err, sizeof(err), &retry) == HUB_DELIVER_OK);
    CHECK(seen.calls == 1);
    CHECK_STR(seen.channel, "web");
    CHECK_STR(seen.recipient, "cust-42");
    CHECK_STR(seen.message_id, "msg-9");
    CHECK_STR(seen.body, c.artifact.data);
    /* No recipient id: nothing to file it under, a permanent failure. */
    CHECK(plug_deliver(web.ch, c.artifact.data, c.artifact.len, "{\"email\":\"a@b.c\"}", "msg-10",
                       err, sizeof(err), &retry) == HUB_DELIVER_FAIL);
    CHECK(seen.calls == 1);
    plug_call_free(&c);
    plug_unload(&web);
    web.services = (hub_plugin_services){0};
}

int main(void)
{
    RUN(test_render_full);
    RUN(test_render_minimal);
    RUN(test_sanitizer_warnings);
    RUN(test_summary_derivation);
    RUN(test_url_and_title_checks);
    RUN(test_config_refusals);
    RUN(test_deliver_outbox);
    RUN(test_deliver_inbox);
    plug_unload(&web);
    return TEST_SUMMARY();
}
