/*
 * The web plugin through the real loader and host (libxml2 sanitizer and HTML to text):
 * exact artifacts, sanitizer warnings, summary derivation (characters, word boundaries),
 * URL checks, configuration refusals and delivery to the outbox.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin/plugin.h"
#include "test.h"

static char data_dir[512];

static hub_plugins *load(const char *channels)
{
    char path[1024];
    const char *dir = getenv("HUB_PLUGIN_DIR");
    snprintf(path, sizeof(path), "%s/web.so", dir != NULL ? dir : "build/plugins");
    const char *paths[] = {path};
    json_t *ch = json_loads(channels, 0, NULL);
    snprintf(data_dir, sizeof(data_dir), "%s", test_tmpdir("web"));
    hub_plugins_config cfg = {0};
    cfg.paths = paths;
    cfg.npaths = 1;
    cfg.channels = ch;
    cfg.data_dir = data_dir;
    hub_plugins *p = NULL;
    hub_error err;
    hub_error_init(&err);
    int rc = hub_plugins_load(&cfg, &p, &err);
    hub_error_clear(&err);
    json_decref(ch);
    return rc == 0 ? p : NULL;
}

typedef struct call {
    int rc;
    hub_buf artifact;
    hub_problems problems;
    json_t *warnings;
} call;

static void call_free(call *c)
{
    hub_buf_free(&c->artifact);
    hub_problems_clear(&c->problems);
    json_decref(c->warnings);
}

static hub_str S(const char *s)
{
    return (hub_str){s, s != NULL ? strlen(s) : 0};
}

/* Renders (validate = 0) or validates the fields title, html, summary, image, url. */
static void run(const hub_channel *ch, int validate, const char *title, const char *html,
                const char *summary, const char *image, const char *url, call *c)
{
    hub_str f[5] = {S(title), S(html), S(summary), S(image), S(url)};
    hub_render_in in = {sizeof(in),   5,    f,    "news/savings",
                        "control",    "en", NULL, validate ? "validate" : "w1",
                        1700000000000};
    hub_channel_report rep = {&c->problems, "/web", NULL, NULL};
    hub_error err;
    memset(c, 0, sizeof(*c));
    hub_buf_init(&c->artifact, 1 << 20);
    hub_problems_init(&c->problems);
    c->warnings = json_array();
    rep.warnings = c->warnings;
    hub_error_init(&err);
    if (validate)
        c->rc = hub_channel_validate(ch, &in, &rep);
    else
        c->rc = hub_channel_render(ch, &in, &c->artifact, 1, &rep, &err);
    hub_error_clear(&err);
}

static int problems_at(const call *c, const char *path, const char *part)
{
    int n = 0;
    for (size_t i = 0; i < c->problems.count; i++)
        if (strcmp(c->problems.items[i].path, path) == 0 &&
            strstr(c->problems.items[i].message, part) != NULL)
            n++;
    return n;
}

static int warnings_with(const call *c, const char *code, const char *part)
{
    size_t i;
    json_t *w;
    int n = 0;
    json_array_foreach(c->warnings, i, w)
    {
        const char *wc = json_string_value(json_object_get(w, "code"));
        const char *m = json_string_value(json_object_get(w, "message"));
        if (wc != NULL && m != NULL && strcmp(wc, code) == 0 && strstr(m, part) != NULL)
            n++;
    }
    return n;
}

/* The artifact equals want: as JSON, and byte for byte (the plugin writes it in order). */
static void check_artifact(const call *c, const char *want)
{
    json_t *w = json_loads(want, 0, NULL);
    json_t *got = c->artifact.data != NULL ? json_loads(c->artifact.data, 0, NULL) : NULL;
    CHECK(w != NULL);
    CHECK(got != NULL && json_equal(got, w));
    CHECK_STR(c->artifact.data, want);
    json_decref(w);
    json_decref(got);
}

static const char *summary_of(const call *c, char *buf, size_t cap)
{
    json_t *a = json_loadb(c->artifact.data, c->artifact.len, 0, NULL);
    const char *s = json_string_value(json_object_get(a, "summary"));
    snprintf(buf, cap, "%s", s != NULL ? s : "(null)");
    json_decref(a);
    return buf;
}

/* n copies of s, concatenated, into a malloc'd string. */
static char *rep(const char *s, size_t n)
{
    size_t k = strlen(s);
    char *r = malloc(k * n + 1);
    for (size_t i = 0; r != NULL && i < n; i++)
        memcpy(r + i * k, s, k);
    if (r != NULL)
        r[k * n] = '\0';
    return r;
}

/* ---- rendering ----------------------------------------------------------------------------- */

static void test_render_full(void)
{
    hub_plugins *p = load("{\"web\":{\"driver\":\"inbox\",\"site_name\":\"Bank\"}}");
    REQUIRE(p != NULL && hub_plugins_count(p) == 1);
    const hub_channel *ch = hub_plugins_get(p, 0);
    CHECK_STR(hub_channel_name(ch), "web");
    CHECK(hub_channel_field_index(ch, "summary") == 2);
    call c;
    run(ch, 0, "Welcome", "<p>Open your <b>first</b> savings account</p>", NULL,
        "https://cdn.example/w.png", "/offers/savings", &c);
    CHECK(c.rc == 0);
    check_artifact(&c, "{\"title\":\"Welcome\",\"html\":\"<p>Open your <b>first</b> savings "
                       "account</p>\",\"summary\":\"Open your first savings account\",\"image\":"
                       "\"https://cdn.example/w.png\",\"url\":\"/offers/savings\",\"og\":{"
                       "\"og:type\":\"article\",\"og:title\":\"Welcome\",\"og:description\":"
                       "\"Open your first savings account\",\"og:image\":\"https://cdn.example/"
                       "w.png\",\"og:url\":\"/offers/savings\",\"og:site_name\":\"Bank\"}}");
    CHECK(json_array_size(c.warnings) == 0 && c.problems.count == 0);
    call_free(&c);

    /* A given summary is kept as written; escaping is JSON's. */
    run(ch, 0, "Say \"hi\"", "<p>x &amp; y</p>", "Short, and <b>plain</b>", NULL,
        "https://bank.example/a?b=1&c=2", &c);
    CHECK(c.rc == 0);
    check_artifact(&c, "{\"title\":\"Say \\\"hi\\\"\",\"html\":\"<p>x &amp; y</p>\",\"summary\":"
                       "\"Short, and <b>plain</b>\",\"image\":null,\"url\":\"https://"
                       "bank.example/a?b=1&c=2\",\"og\":{\"og:type\":\"article\",\"og:title\":"
                       "\"Say \\\"hi\\\"\",\"og:description\":\"Short, and <b>plain</b>\","
                       "\"og:url\":\"https://bank.example/a?b=1&c=2\",\"og:site_name\":"
                       "\"Bank\"}}");
    call_free(&c);
    hub_plugins_free(p);
}

static void test_render_minimal(void)
{
    hub_plugins *p = load("{}");
    REQUIRE(p != NULL && hub_plugins_count(p) == 1);
    const hub_channel *ch = hub_plugins_get(p, 0);
    call c;
    run(ch, 0, "T", "<p>Hello</p>\n<p>  big\tworld </p>", NULL, NULL, NULL, &c);
    CHECK(c.rc == 0);
    check_artifact(&c, "{\"title\":\"T\",\"html\":\"<p>Hello</p>\\n<p>  big\\tworld </p>\","
                       "\"summary\":\"Hello big world\",\"image\":null,\"url\":null,\"og\":{"
                       "\"og:type\":\"article\",\"og:title\":\"T\",\"og:description\":\"Hello "
                       "big world\"}}");
    call_free(&c);

    /* No text at all: no summary, no og:description. */
    run(ch, 0, "T", "<img src=\"/a.png\">", NULL, NULL, NULL, &c);
    CHECK(c.rc == 0);
    check_artifact(&c, "{\"title\":\"T\",\"html\":\"<img src=\\\"/a.png\\\">\",\"summary\":null,"
                       "\"image\":null,\"url\":null,\"og\":{\"og:type\":\"article\","
                       "\"og:title\":\"T\"}}");
    call_free(&c);
    hub_plugins_free(p);
}

static void test_sanitizer_warnings(void)
{
    hub_plugins *p = load("{}");
    REQUIRE(p != NULL && hub_plugins_count(p) == 1);
    const hub_channel *ch = hub_plugins_get(p, 0);
    call c;
    run(ch, 0, "T", "<p onclick=\"steal()\">Hi</p><script>alert(1)</script>", NULL, NULL, NULL, &c);
    CHECK(c.rc == 0);
    CHECK(json_array_size(c.warnings) == 1);
    CHECK(warnings_with(&c, "html_sanitized", "removed 2 elements or attributes") == 1);
    check_artifact(&c, "{\"title\":\"T\",\"html\":\"<p>Hi</p>\",\"summary\":\"Hi\",\"image\":"
                       "null,\"url\":null,\"og\":{\"og:type\":\"article\",\"og:title\":\"T\","
                       "\"og:description\":\"Hi\"}}");
    call_free(&c);

    run(ch, 0, "T", "<a href=\"javascript:alert(1)\">x</a>", NULL, NULL, NULL, &c);
    CHECK(c.rc == 0);
    CHECK(warnings_with(&c, "html_sanitized", "removed 1 element or attribute ") == 1);
    call_free(&c);

    /* At publish the removal is a warning, not a problem. */
    run(ch, 1, "T", "<p onclick=\"steal()\">Hi</p><script>alert(1)</script>", NULL, NULL, NULL, &c);
    CHECK(c.rc == 0 && c.problems.count == 0);
    CHECK(warnings_with(&c, "html_sanitized", "removed 2 ") == 1);
    call_free(&c);

    run(ch, 1, "T", "<p>clean</p>", NULL, NULL, NULL, &c);
    CHECK(c.rc == 0 && c.problems.count == 0 && json_array_size(c.warnings) == 0);
    call_free(&c);
    hub_plugins_free(p);
}

static void test_summary_derivation(void)
{
    hub_plugins *p = load("{}");
    REQUIRE(p != NULL && hub_plugins_count(p) == 1);
    const hub_channel *ch = hub_plugins_get(p, 0);
    char html[4096], want[2048], got[2048];
    call c;

    /* 150 two-byte characters, " end ", 60 more: 215 characters, 365 bytes. The cut falls
     * in the x's; the last word boundary before it is after "end". Counting bytes would cut
     * inside the é's. */
    char *e150 = rep("\xC3\xA9", 150), *x60 = rep("x", 60);
    snprintf(html, sizeof(html), "<p>%s end %s</p>", e150, x60);
    run(ch, 0, "T", html, NULL, NULL, NULL, &c);
    CHECK(c.rc == 0);
    snprintf(want, sizeof(want), "%s end\xE2\x80\xA6", e150);
    CHECK_STR(summary_of(&c, got, sizeof(got)), want);
    call_free(&c);

    /* One word of 300 é: cut at 199 characters (398 bytes), never inside a character. */
    char *e300 = rep("\xC3\xA9", 300), *e199 = rep("\xC3\xA9", 199);
    snprintf(html, sizeof(html), "<p>%s</p>", e300);
    run(ch, 0, "T", html, NULL, NULL, NULL, &c);
    snprintf(want, sizeof(want), "%s\xE2\x80\xA6", e199);
    CHECK_STR(summary_of(&c, got, sizeof(got)), want);
    call_free(&c);

    /* Exactly 200 characters (three-byte €): kept whole, no ellipsis. */
    char *eur200 = rep("\xE2\x82\xAC", 200);
    snprintf(html, sizeof(html), "<p>%s</p>", eur200);
    run(ch, 0, "T", html, NULL, NULL, NULL, &c);
    CHECK_STR(summary_of(&c, got, sizeof(got)), eur200);
    call_free(&c);

    /* 199 characters then a space and more: the cut already falls before a space. */
    char *a199 = rep("a", 199);
    snprintf(html, sizeof(html), "<p>%s</p><p>more words</p>", a199);
    run(ch, 0, "T", html, NULL, NULL, NULL, &c);
    snprintf(want, sizeof(want), "%s\xE2\x80\xA6", a199);
    CHECK_STR(summary_of(&c, got, sizeof(got)), want);
    call_free(&c);

    /* Words of 9 characters and a space: character 199 is a space, so 199 characters (20
     * words) are kept whole. */
    char *words = rep("wwwwwwwww ", 25), *kept = rep("wwwwwwwww ", 20);
    kept[strlen(kept) - 1] = '\0';
    snprintf(html, sizeof(html), "<p>%s</p>", words);
    run(ch, 0, "T", html, NULL, NULL, NULL, &c);
    snprintf(want, sizeof(want), "%s\xE2\x80\xA6", kept);
    CHECK_STR(summary_of(&c, got, sizeof(got)), want);
    call_free(&c);
    free(words);
    free(kept);

    /* Words of 8 and a space: character 199 is inside word 23, so the cut goes back to the
     * space before it: 22 words, 197 characters. */
    words = rep("wwwwwwww ", 25);
    kept = rep("wwwwwwww ", 22);
    kept[strlen(kept) - 1] = '\0';
    snprintf(html, sizeof(html), "<p>%s</p>", words);
    run(ch, 0, "T", html, NULL, NULL, NULL, &c);
    snprintf(want, sizeof(want), "%s\xE2\x80\xA6", kept);
    CHECK_STR(summary_of(&c, got, sizeof(got)), want);
    call_free(&c);

    free(e150);
    free(x60);
    free(e300);
    free(e199);
    free(eur200);
    free(a199);
    free(words);
    free(kept);
    hub_plugins_free(p);
}

static void test_url_and_title_checks(void)
{
    hub_plugins *p = load("{}");
    REQUIRE(p != NULL && hub_plugins_count(p) == 1);
    const hub_channel *ch = hub_plugins_get(p, 0);
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
    call c;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        run(ch, 0, "T", "<p>x</p>", NULL, bad[i], bad[i], &c);
        CHECK(c.rc == HUB_EINVAL && c.problems.count == 2);
        CHECK(problems_at(&c, "/web/image", "") == 1);
        CHECK(problems_at(&c, "/web/url", "") == 1);
        CHECK(c.artifact.len == 0);
        call_free(&c);
        run(ch, 1, "T", "<p>x</p>", NULL, NULL, bad[i], &c);
        CHECK(c.rc == 0 && c.problems.count == 1 && problems_at(&c, "/web/url", "") == 1);
        call_free(&c);
    }
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        run(ch, 0, "T", "<p>x</p>", NULL, good[i], good[i], &c);
        CHECK(c.rc == 0 && c.problems.count == 0);
        call_free(&c);
    }

    /* An empty (or blank) title is a problem at publish and at render. */
    run(ch, 1, "", "<p>x</p>", NULL, NULL, NULL, &c);
    CHECK(c.rc == 0 && c.problems.count == 1 && problems_at(&c, "/web/title", "empty") == 1);
    call_free(&c);
    run(ch, 1, " \n", "<p>x</p>", NULL, NULL, NULL, &c);
    CHECK(c.rc == 0 && problems_at(&c, "/web/title", "empty") == 1);
    call_free(&c);
    run(ch, 0, NULL, "<p>x</p>", NULL, NULL, NULL, &c);
    CHECK(c.rc == HUB_EINVAL && problems_at(&c, "/web/title", "empty") == 1);
    call_free(&c);
    hub_plugins_free(p);
}

/* ---- configuration and delivery ------------------------------------------------------------ */

static void expect_refusal(const char *conf, const char *part)
{
    hub_plugins *p = load(conf);
    CHECK(p != NULL);
    if (p == NULL)
        return;
    CHECK(hub_plugins_count(p) == 0 && hub_plugins_refused_count(p) == 1);
    const char *r = hub_plugins_refusal(p, 0);
    CHECK(r != NULL && strstr(r, part) != NULL);
    if (r == NULL || strstr(r, part) == NULL)
        fprintf(stderr, "refusal: %s (wanted %s)\n", r != NULL ? r : "(none)", part);
    hub_plugins_free(p);
}

static void test_config_refusals(void)
{
    expect_refusal("{\"web\":{\"driver\":\"inbox\",\"theme\":\"dark\"}}",
                   "channels.web: unknown key \"theme\"");
    expect_refusal("{\"web\":{\"driver\":\"smtp\"}}", "channels.web.driver");
    expect_refusal("{\"web\":{\"site_name\":5}}", "channels.web.site_name");
    expect_refusal("{\"web\":[]}", "channels.web");
}

static void test_deliver_outbox(void)
{
    static const char *const confs[] = {"{\"web\":{\"driver\":\"outbox\"}}", "{}"};
    for (size_t k = 0; k < 2; k++) {
        hub_plugins *p = load(confs[k]);
        REQUIRE(p != NULL && hub_plugins_count(p) == 1);
        const hub_channel *ch = hub_plugins_get(p, 0);
        call c;
        char err[256] = "", path[1024], buf[4096] = "";
        int64_t retry = 0;
        run(ch, 0, "Welcome", "<p>Hi</p>", NULL, NULL, NULL, &c);
        REQUIRE(c.rc == 0);
        json_t *r = json_loads("{\"id\":\"cust-42\"}", 0, NULL);
        hub_deliver_in in = {sizeof(in), 1, {c.artifact.data, c.artifact.len}, r, "msg-9"};
        CHECK(hub_channel_deliver(ch, &in, err, sizeof(err), &retry) == HUB_DELIVER_OK);
        snprintf(path, sizeof(path), "%s/outbox/web/msg-9.json", data_dir);
        FILE *f = fopen(path, "rb");
        CHECK(f != NULL);
        size_t n = f != NULL ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
        if (f != NULL)
            fclose(f);
        buf[n] = '\0';
        CHECK(n == c.artifact.len && strcmp(buf, c.artifact.data) == 0);

        /* A name the outbox cannot take is a permanent failure with a reason. */
        in.message_id = "../x";
        CHECK(hub_channel_deliver(ch, &in, err, sizeof(err), &retry) == HUB_DELIVER_FAIL);
        CHECK(err[0] != '\0');
        json_decref(r);
        call_free(&c);
        hub_plugins_free(p);
    }
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
    return TEST_SUMMARY();
}
