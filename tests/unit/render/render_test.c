/*
 * core/render against the real channel plugins of this build (build/plugins, found next to
 * the test binary's directory): the publish check (Liquid syntax with field, line and column;
 * blocks; plugin validation), rendering (variables, escaping, blocks in the locale chain,
 * object fields, audience variants, drafts, fallback off), the per-thread cache across
 * republishing, and hostile templates ending in an error.
 */
#include <limits.h>
#include <unistd.h>

#include "content/items_fixture.h"
#include "render/render.h"

static hub_plugins *plugins;
static hub_store *S;
static hub_renderer *renderer;

static int fn_put_r(hub_txn *t, void *a)
{
    call *c = a;
    json_t *j = json_loads(c->body, 0, NULL);
    hub_content_ctx cx = {hub_renderer_schemas(renderer), NULL, hub_render_publish_check, renderer,
                          NULL};
    int rc = hub_content_put(t, &cx, c->key, j, NULL, NULL, NULL, &c->err);
    json_decref(j);
    return rc;
}

static int fn_publish_r(hub_txn *t, void *a)
{
    call *c = a;
    hub_content_ctx cx = {hub_renderer_schemas(renderer), NULL, hub_render_publish_check, renderer,
                          NULL};
    return hub_content_publish(t, &cx, c->key, &c->version, &c->err);
}

/* PUT and publish; returns the publish result and leaves the problems in *c (call_done). */
static int put_publish(hub_store *s, const char *key, const char *body, call *c)
{
    call_init(c, key, body);
    int rc = fx_run(s, fn_put_r, c);
    if (rc != 0) {
        fprintf(stderr, "  put %s: %s\n", key, c->err.message);
        return rc;
    }
    hub_error_clear(&c->err);
    hub_error_init(&c->err);
    return fx_run(s, fn_publish_r, c);
}

static int has_problem(const call *c, const char *path, const char *needle)
{
    for (size_t i = 0; i < c->err.problems.count; i++) {
        if (strcmp(c->err.problems.items[i].path, path) == 0 &&
            strstr(c->err.problems.items[i].message, needle) != NULL)
            return 1;
    }
    for (size_t i = 0; i < c->err.problems.count; i++)
        fprintf(stderr, "    have %s: %s\n", c->err.problems.items[i].path,
                c->err.problems.items[i].message);
    return 0;
}

typedef struct rendered {
    int rc;
    json_t *artifact;
    hub_render_result res;
    hub_error err;
} rendered;

static void render(hub_store *s, hub_render_cache *cache, const hub_render_request *rq,
                   rendered *out)
{
    hub_txn *t = NULL;
    hub_error_init(&out->err);
    hub_render_result_init(&out->res);
    out->artifact = NULL;
    out->rc = hub_store_read(s, &t);
    if (out->rc == 0)
        out->rc = hub_render(renderer, cache, t, rq, &out->res, &out->err);
    hub_txn_end(t);
    if (out->rc == 0)
        out->artifact = json_loadb(out->res.artifact.data, out->res.artifact.len, 0, NULL);
}

static void rendered_done(rendered *r)
{
    json_decref(r->artifact);
    hub_render_result_free(&r->res);
    hub_error_clear(&r->err);
}

static const char *art(const rendered *r, const char *member)
{
    return json_string_value(json_object_get(r->artifact, member));
}

static const char *const block_body =
    "{\"kind\":\"block\",\"title\":\"Footer\",\"variants\":[{\"id\":\"d\",\"content\":{"
    "\"en\":{\"sms\":{\"text\":\"Reply STOP to opt out.\"},"
    "\"web\":{\"title\":\"f\",\"html\":\"<small>Bank of {{ town | default: 'London' }}</small>\"}},"
    "\"de\":{\"sms\":{\"text\":\"STOP zum Abmelden.\"}}}}]}";

static void test_publish_check(void)
{
    hub_store *s = S;
    call c;
    /* A syntax error: the field where the text lives, with line and column. */
    int rc = put_publish(s, "t/syntax",
                         "{\"kind\":\"message\",\"title\":\"x\",\"variants\":[{\"id\":\"a\","
                         "\"content\":{\"en\":{\"sms\":{\"text\":\"Hi\\n{{ name | }}\"}}}}]}",
                         &c);
    CHECK(rc == HUB_EINVAL);
    CHECK(has_problem(&c, "/variants/0/content/en/sms/text", "line 2, column"));
    call_done(&c);
    /* A block that is not published. */
    rc = put_publish(
        s, "t/noblock",
        "{\"kind\":\"message\",\"title\":\"x\",\"variants\":[{\"id\":\"a\","
        "\"content\":{\"en\":{\"sms\":{\"text\":\"Hi {% render 'blocks/nope' %}\"}}}}]}",
        &c);
    CHECK(rc == HUB_EINVAL);
    CHECK(has_problem(&c, "/variants/0/content/en/sms/text", "blocks/nope"));
    call_done(&c);
    /* The plugin's rule: 1700 GSM-7 characters are 12 segments, over the default of 10; the
     * German reader of variant b gets the base variant's text through fallback. */
    char body[2400];
    char text[1701];
    memset(text, 'a', 1700);
    text[1700] = '\0';
    snprintf(body, sizeof(body),
             "{\"kind\":\"message\",\"title\":\"x\",\"variants\":[{\"id\":\"a\",\"content\":{"
             "\"en\":{\"sms\":{\"text\":\"%s\"}},\"de\":{\"sms\":{\"text\":\"kurz\"}}}},"
             "{\"id\":\"b\",\"content\":{\"de\":{\"sms\":{\"text\":\"b\"}}}}]}",
             text);
    rc = put_publish(s, "t/long", body, &c);
    CHECK(rc == HUB_EINVAL);
    CHECK(has_problem(&c, "/variants/0/content/en/sms/text", "12 segments"));
    CHECK(has_problem(&c, "/variants/1/content/en/sms/text", "fallback"));
    CHECK(c.err.problems.count == 2);
    call_done(&c);
    /* The block, then a message using it, publish. */
    CHECK(put_publish(s, "blocks/footer", block_body, &c) == 0);
    call_done(&c);
    rc = put_publish(s, "t/ok",
                     "{\"kind\":\"message\",\"title\":\"x\",\"variants\":[{\"id\":\"a\","
                     "\"content\":{\"en\":{\"sms\":{\"text\":\"Hi {{ first_name | default: "
                     "'there' }}. {% render 'footer' %}\"},\"web\":{\"title\":\"<{{ t }}>\","
                     "\"html\":\"<p>{{ t }}</p>{% render 'blocks/footer', town: 'Graz' %}\"},"
                     "\"mobile\":{\"title\":\"T\",\"body\":\"B\",\"data\":{\"k\":\"{{ t }}!\"}}},"
                     "\"de\":{\"sms\":{\"text\":\"Hallo {{ first_name }}. {% render "
                     "'blocks/footer' %}\"}}}},"
                     "{\"id\":\"vip\",\"audience\":{\"any\":[\"segment/vip\"]},\"content\":{"
                     "\"en\":{\"sms\":{\"text\":\"VIP {{ first_name }}\"}}}}]}",
                     &c);
    CHECK(rc == 0);
    CHECK(c.version == 1);
    call_done(&c);
}

static void test_render(void)
{
    hub_store *s = S;
    hub_render_cache *cache = hub_render_cache_new(0);
    json_t *rcp = json_loads("{\"id\":\"c1\",\"attributes\":{\"first_name\":\"Jörg\","
                             "\"t\":\"<b>&\"}}",
                             0, NULL);
    rendered r;
    hub_render_request rq = {.item = "t/ok", .channel = "sms", .locale = "de-AT", .recipient = rcp};
    render(s, cache, &rq, &r);
    REQUIRE(r.rc == 0);
    /* de-AT falls back to de, the block too (its German text). */
    CHECK_STR(art(&r, "text"), "Hallo Jörg. STOP zum Abmelden.");
    CHECK_STR(r.res.locale, "de");
    CHECK_STR(r.res.variant, "a");
    CHECK(r.res.version == 1);
    rendered_done(&r);
    /* en: the default filter and the block found without its "blocks/" prefix. */
    rq.locale = "en";
    rq.recipient = NULL;
    render(s, cache, &rq, &r);
    REQUIRE(r.rc == 0);
    CHECK_STR(art(&r, "text"), "Hi there. Reply STOP to opt out.");
    rendered_done(&r);
    /* web: HTML fields escape, text fields do not; the block gets its parameter. */
    rq.channel = "web";
    rq.recipient = rcp;
    render(s, cache, &rq, &r);
    REQUIRE(r.rc == 0);
    CHECK_STR(art(&r, "title"), "<<b>&>");
    CHECK_STR(art(&r, "html"), "<p>&lt;b&gt;&amp;</p><small>Bank of Graz</small>");
    rendered_done(&r);
    /* mobile: an object field renders member by member. */
    rq.channel = "mobile";
    render(s, cache, &rq, &r);
    REQUIRE(r.rc == 0);
    json_t *data =
        json_object_get(json_object_get(json_object_get(r.artifact, "fcm"), "message"), "data");
    CHECK_STR(json_string_value(json_object_get(data, "k")), "<b>&!");
    rendered_done(&r);
    /* An audience variant for a matching recipient; an explicit one wins. */
    json_t *vip = json_loads("{\"id\":\"c2\",\"segments\":[\"segment/vip\"],"
                             "\"attributes\":{\"first_name\":\"Ann\"}}",
                             0, NULL);
    rq = (hub_render_request){.item = "t/ok", .channel = "sms", .locale = "en", .recipient = vip};
    render(s, cache, &rq, &r);
    REQUIRE(r.rc == 0);
    CHECK_STR(art(&r, "text"), "VIP Ann");
    CHECK_STR(r.res.variant, "vip");
    rendered_done(&r);
    rq.variant = "a";
    render(s, cache, &rq, &r);
    CHECK(r.rc == 0 && strcmp(art(&r, "text"), "Hi Ann. Reply STOP to opt out.") == 0);
    rendered_done(&r);
    /* Unknown variant, channel, item; fallback off with no exact content. */
    rq.variant = "zzz";
    render(s, cache, &rq, &r);
    CHECK(r.rc == HUB_ENOTFOUND);
    rendered_done(&r);
    rq.variant = NULL;
    rq.channel = "fax";
    render(s, cache, &rq, &r);
    CHECK(r.rc == HUB_ENOTFOUND);
    rendered_done(&r);
    rq.channel = "sms";
    rq.item = "t/none";
    render(s, cache, &rq, &r);
    CHECK(r.rc == HUB_ENOTFOUND);
    rendered_done(&r);
    rq = (hub_render_request){.item = "t/ok", .channel = "sms", .locale = "fr", .no_fallback = 1};
    render(s, cache, &rq, &r);
    CHECK(r.rc == HUB_ENOTFOUND);
    rendered_done(&r);
    json_decref(vip);
    json_decref(rcp);
    hub_render_cache_free(cache);
}

/* The cache is keyed by the delivery document: a republish is seen at once. */
static void test_cache_republish(void)
{
    hub_store *s = S;
    hub_render_cache *cache = hub_render_cache_new(0);
    hub_render_request rq = {.item = "t/rep", .channel = "sms", .locale = "en"};
    rendered r;
    call c;
    CHECK(put_publish(s, "t/rep",
                      "{\"kind\":\"message\",\"title\":\"x\",\"variants\":[{\"id\":\"a\","
                      "\"content\":{\"en\":{\"sms\":{\"text\":\"one {% render 'footer' %}\"}}}}]}",
                      &c) == 0);
    call_done(&c);
    render(s, cache, &rq, &r);
    CHECK(r.rc == 0 && strcmp(art(&r, "text"), "one Reply STOP to opt out.") == 0);
    rendered_done(&r);
    CHECK(put_publish(s, "t/rep",
                      "{\"kind\":\"message\",\"title\":\"x\",\"variants\":[{\"id\":\"a\","
                      "\"content\":{\"en\":{\"sms\":{\"text\":\"two {% render 'footer' %}\"}}}}]}",
                      &c) == 0);
    call_done(&c);
    /* Republishing the block changes every message using it. */
    CHECK(put_publish(s, "blocks/footer",
                      "{\"kind\":\"block\",\"title\":\"F\",\"variants\":[{\"id\":\"d\",\"content\":"
                      "{\"en\":{\"sms\":{\"text\":\"STOP=stop\"}}}}]}",
                      &c) == 0);
    call_done(&c);
    render(s, cache, &rq, &r);
    CHECK(r.rc == 0 && strcmp(art(&r, "text"), "two STOP=stop") == 0);
    CHECK(r.res.version == 2);
    rendered_done(&r);
    hub_render_cache_free(cache);
}

static void test_draft_and_hostile(void)
{
    hub_store *s = S;
    call c;
    call_init(&c, "t/draft",
              "{\"kind\":\"message\",\"title\":\"x\",\"variants\":[{\"id\":\"a\",\"content\":{"
              "\"en\":{\"sms\":{\"text\":\"{% for i in (1..1000000) %}x{% endfor %}\"}}}}]}");
    CHECK(fx_run(s, fn_put_r, &c) == 0);
    call_done(&c);
    /* The draft renders without publishing; the huge loop ends in an error, not a hang. */
    hub_render_request rq = {.item = "t/draft", .channel = "sms", .locale = "en", .draft = 1};
    rendered r;
    int64_t t0 = hub_mono_ms();
    render(s, NULL, &rq, &r);
    CHECK(r.rc == HUB_ETOOBIG);
    CHECK(hub_mono_ms() - t0 < 5000);
    CHECK(strstr(r.err.message, "field text") != NULL);
    rendered_done(&r);
    /* Publishing it fails the same way, as a problem of the field. */
    call_init(&c, "t/draft", NULL);
    CHECK(fx_run(s, fn_publish_r, &c) == HUB_EINVAL);
    CHECK(has_problem(&c, "/variants/0/content/en/sms/text", "Liquid"));
    call_done(&c);
    /* A block may not render itself. */
    CHECK(put_publish(s, "blocks/loop",
                      "{\"kind\":\"block\",\"title\":\"L\",\"variants\":[{\"id\":\"d\",\"content\":"
                      "{\"en\":{\"sms\":{\"text\":\"x\"}}}}]}",
                      &c) == 0);
    call_done(&c);
    CHECK(put_publish(s, "blocks/loop",
                      "{\"kind\":\"block\",\"title\":\"L\",\"variants\":[{\"id\":\"d\",\"content\":"
                      "{\"en\":{\"sms\":{\"text\":\"x{% render 'blocks/loop' %}\"}}}}]}",
                      &c) == HUB_EINVAL);
    call_done(&c);
}

static int load_plugins(void)
{
    char exe[PATH_MAX], dir[PATH_MAX + 16];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0)
        return -1;
    exe[n] = '\0';
    *strrchr(exe, '/') = '\0';
    snprintf(dir, sizeof(dir), "%s/../plugins", exe);
    static const char *const names[] = {"email", "sms", "mobile", "web"};
    hub_plugins_config pc = {
        .dir = dir, .load = names, .nload = 4, .data_dir = test_tmpdir("render-out")};
    hub_error err;
    hub_error_init(&err);
    int rc = hub_plugins_load(&pc, &plugins, &err);
    hub_error_clear(&err);
    if (rc != 0 || hub_plugins_count(plugins) != 4) {
        for (size_t i = 0; plugins != NULL && i < hub_plugins_refused_count(plugins); i++)
            fprintf(stderr, "%s\n", hub_plugins_refusal(plugins, i));
        return -1;
    }
    return hub_renderer_new(plugins, &renderer);
}

int main(void)
{
    hub_log_set_level(HUB_LOG_WARN);
    if (load_plugins() != 0) {
        fprintf(stderr, "the four plugins did not load\n");
        return 1;
    }
    S = fx_open("render");
    if (S == NULL)
        return 1;
    RUN(test_publish_check);
    RUN(test_render);
    RUN(test_cache_republish);
    RUN(test_draft_and_hostile);
    hub_store_close(S);
    hub_renderer_free(renderer);
    hub_plugins_free(plugins);
    return TEST_SUMMARY();
}
