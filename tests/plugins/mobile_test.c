/*
 * The mobile plugin through the real loader and host: exact APNs and FCM payloads, their
 * byte counts, the 4096-byte boundary, data and URL checks, configuration refusals, and
 * delivery to the outbox and to an HTTP push gateway (a fake http_request service).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin/plugin.h"
#include "test.h"

static char data_dir[512];

/* ---- a fake push gateway ----------------------------------------------------------------- */

#define MAX_CALLS 8
static struct {
    char url[256];
    char method[16];
    char body[8192];
    char headers[1024]; /* "name: value\n" each */
    uint32_t timeout_ms;
} calls[MAX_CALLS];
static int ncalls;
static int answers[MAX_CALLS]; /* deliver code per call */
static uint32_t status[MAX_CALLS];
static int64_t retry_after[MAX_CALLS];

static int fake_http(void *ctx, const hub_http_request *req, hub_http_response *res, char *err,
                     size_t errcap)
{
    (void)ctx;
    int i = ncalls++;
    if (i >= MAX_CALLS)
        return HUB_DELIVER_FAIL;
    snprintf(calls[i].url, sizeof(calls[i].url), "%s", req->url);
    snprintf(calls[i].method, sizeof(calls[i].method), "%s", req->method);
    snprintf(calls[i].body, sizeof(calls[i].body), "%.*s", (int)req->body.len, req->body.ptr);
    calls[i].headers[0] = '\0';
    for (uint32_t h = 0; h < req->nheaders; h++) {
        size_t n = strlen(calls[i].headers);
        snprintf(calls[i].headers + n, sizeof(calls[i].headers) - n, "%s: %s\n",
                 req->headers[h].name, req->headers[h].value);
    }
    calls[i].timeout_ms = req->timeout_ms;
    res->status = status[i];
    res->retry_after_ms = retry_after[i];
    if (answers[i] != HUB_DELIVER_OK)
        snprintf(err, errcap, "gateway said %u", status[i]);
    return answers[i];
}

static void fake_reset(void)
{
    memset(calls, 0, sizeof(calls));
    ncalls = 0;
    for (int i = 0; i < MAX_CALLS; i++) {
        answers[i] = HUB_DELIVER_OK;
        status[i] = 200;
        retry_after[i] = 0;
    }
}

/* ---- loading and calling ------------------------------------------------------------------- */

/* Loads mobile.so with channels config `channels` (JSON text). */
static hub_plugins *load(const char *channels)
{
    char path[1024];
    const char *dir = getenv("HUB_PLUGIN_DIR");
    snprintf(path, sizeof(path), "%s/mobile.so", dir != NULL ? dir : "build/plugins");
    const char *paths[] = {path};
    json_t *ch = json_loads(channels, 0, NULL);
    snprintf(data_dir, sizeof(data_dir), "%s", test_tmpdir("mobile"));
    hub_plugins_config cfg = {0};
    cfg.paths = paths;
    cfg.npaths = 1;
    cfg.channels = ch;
    cfg.data_dir = data_dir;
    cfg.services.http_request = fake_http;
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
    json_t *parsed; /* the artifact, parsed, or NULL */
} call;

static void call_free(call *c)
{
    hub_buf_free(&c->artifact);
    hub_problems_clear(&c->problems);
    json_decref(c->warnings);
    json_decref(c->parsed);
}

static hub_str S(const char *s)
{
    return (hub_str){s, s != NULL ? strlen(s) : 0};
}

/* Renders (validate = 0) or validates the fields title, body, image, deep_link, data. */
static void run(const hub_channel *ch, int validate, const char *title, const char *body,
                const char *image, const char *deep_link, const char *data, call *c)
{
    hub_str f[5] = {S(title), S(body), S(image), S(deep_link), S(data)};
    hub_render_in in = {sizeof(in),   5,    f,    "onboarding/welcome",
                        "control",    "en", NULL, validate ? "validate" : "m1",
                        1700000000000};
    hub_channel_report rep = {&c->problems, "/mobile", NULL, NULL};
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
    if (c->rc == 0 && !validate)
        c->parsed = json_loadb(c->artifact.data, c->artifact.len, 0, NULL);
}

/* The number of problems at path whose message contains `part`. */
static int problems_at(const call *c, const char *path, const char *part)
{
    int n = 0;
    for (size_t i = 0; i < c->problems.count; i++)
        if (strcmp(c->problems.items[i].path, path) == 0 &&
            strstr(c->problems.items[i].message, part) != NULL)
            n++;
    return n;
}

/* The number of warnings with code whose message contains `part`. */
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

static long long bytes_of(const call *c, const char *which)
{
    return json_integer_value(json_object_get(json_object_get(c->parsed, "bytes"), which));
}

/* Checks the artifact of c: the payloads equal apns and fcm (JSON text), appear in the
 * artifact byte for byte as written, and "bytes" counts them. */
static void check_artifact(const call *c, const char *apns, const char *fcm)
{
    char *want = malloc(strlen(apns) + strlen(fcm) + 128);
    REQUIRE(want != NULL);
    snprintf(want, strlen(apns) + strlen(fcm) + 128,
             "{\"apns\":%s,\"fcm\":%s,\"bytes\":{\"apns\":%zu,\"fcm\":%zu}}", apns, fcm,
             strlen(apns), strlen(fcm));
    json_t *w = json_loads(want, 0, NULL);
    CHECK(w != NULL);
    CHECK(c->parsed != NULL && json_equal(c->parsed, w));
    CHECK(bytes_of(c, "apns") == (long long)strlen(apns));
    CHECK(bytes_of(c, "fcm") == (long long)strlen(fcm));
    CHECK(c->artifact.data != NULL && strstr(c->artifact.data, apns) != NULL);
    CHECK(c->artifact.data != NULL && strstr(c->artifact.data, fcm) != NULL);
    if (c->parsed == NULL || !json_equal(c->parsed, w))
        fprintf(stderr, "got  %s\nwant %s\n", c->artifact.data, want);
    json_decref(w);
    free(want);
}

/* ---- rendering ----------------------------------------------------------------------------- */

static void test_render_full(void)
{
    hub_plugins *p = load("{}");
    REQUIRE(p != NULL && hub_plugins_count(p) == 1);
    const hub_channel *ch = hub_plugins_get(p, 0);
    CHECK_STR(hub_channel_name(ch), "mobile");
    CHECK(hub_channel_field_index(ch, "deep_link") == 3);
    call c;
    run(ch, 0, "Hello", "Your account is ready", "https://cdn.example/a.png", "bank://home",
        "{\"campaign\":\"spring\",\"n\":\"3\"}", &c);
    CHECK(c.rc == 0);
    check_artifact(&c,
                   "{\"aps\":{\"alert\":{\"title\":\"Hello\",\"body\":\"Your account is "
                   "ready\"},\"sound\":\"default\",\"mutable-content\":1},\"deep_link\":\"bank:/"
                   "/home\",\"image\":\"https://cdn.example/a.png\",\"campaign\":\"spring\","
                   "\"n\":\"3\"}",
                   "{\"message\":{\"notification\":{\"title\":\"Hello\",\"body\":\"Your account "
                   "is ready\",\"image\":\"https://cdn.example/a.png\"},\"data\":{\"campaign\":"
                   "\"spring\",\"n\":\"3\",\"deep_link\":\"bank://home\"},\"android\":{"
                   "\"priority\":\"high\"}}}");
    CHECK(json_array_size(c.warnings) == 0);
    CHECK(c.problems.count == 0);
    call_free(&c);

    /* Non-ASCII and characters JSON escapes are counted as serialized. */
    run(ch, 0, "Grüße", "a \"quote\"\n", NULL, NULL, NULL, &c);
    CHECK(c.rc == 0);
    check_artifact(&c,
                   "{\"aps\":{\"alert\":{\"title\":\"Grüße\",\"body\":\"a \\\"quote\\\"\\n\"},"
                   "\"sound\":\"default\"}}",
                   "{\"message\":{\"notification\":{\"title\":\"Grüße\",\"body\":\"a "
                   "\\\"quote\\\"\\n\"},\"data\":{},\"android\":{\"priority\":\"high\"}}}");
    call_free(&c);
    hub_plugins_free(p);
}

static void test_render_configured(void)
{
    hub_plugins *p = load("{\"mobile\":{\"apns\":{\"sound\":null,\"category\":\"NEWS\","
                          "\"thread_id\":\"t1\"},\"fcm\":{\"android_channel_id\":\"promo\","
                          "\"priority\":\"normal\"}}}");
    REQUIRE(p != NULL && hub_plugins_count(p) == 1);
    call c;
    run(hub_plugins_get(p, 0), 0, "Hi", "There", NULL, "https://bank.example/offer", NULL, &c);
    CHECK(c.rc == 0);
    check_artifact(&c,
                   "{\"aps\":{\"alert\":{\"title\":\"Hi\",\"body\":\"There\"},\"thread-id\":"
                   "\"t1\",\"category\":\"NEWS\"},\"deep_link\":\"https://bank.example/offer\"}",
                   "{\"message\":{\"notification\":{\"title\":\"Hi\",\"body\":\"There\"},"
                   "\"data\":{\"deep_link\":\"https://bank.example/offer\"},\"android\":{"
                   "\"priority\":\"normal\",\"notification\":{\"channel_id\":\"promo\"}}}}");
    call_free(&c);
    hub_plugins_free(p);
}

/* The APNs payload at exactly 4096 bytes renders with a warning; one byte more fails. The
 * long category makes APNs the larger payload, so FCM stays under the limit. */
static void test_size_boundary(void)
{
    char category[301], conf[512], frame[1024];
    memset(category, 'c', 300);
    category[300] = '\0';
    snprintf(conf, sizeof(conf), "{\"mobile\":{\"apns\":{\"category\":\"%s\"}}}", category);
    hub_plugins *p = load(conf);
    REQUIRE(p != NULL && hub_plugins_count(p) == 1);
    const hub_channel *ch = hub_plugins_get(p, 0);
    snprintf(frame, sizeof(frame),
             "{\"aps\":{\"alert\":{\"title\":\"T\",\"body\":\"\"},\"sound\":\"default\","
             "\"category\":\"%s\"}}",
             category);
    size_t overhead = strlen(frame);
    REQUIRE(overhead < 4096);
    char body[4097];
    memset(body, 'b', sizeof(body));
    body[4096 - overhead] = '\0';

    call c;
    run(ch, 0, "T", body, NULL, NULL, NULL, &c);
    CHECK(c.rc == 0);
    CHECK(bytes_of(&c, "apns") == 4096);
    CHECK(bytes_of(&c, "fcm") < 4096);
    CHECK(warnings_with(&c, "push_size", "APNs payload is 4096 bytes") == 1);
    call_free(&c);
    run(ch, 1, "T", body, NULL, NULL, NULL, &c);
    CHECK(c.rc == 0 && c.problems.count == 0);
    CHECK(warnings_with(&c, "push_size", "APNs payload is 4096 bytes") == 1);
    call_free(&c);

    body[4096 - overhead] = 'b';
    body[4097 - overhead] = '\0';
    run(ch, 0, "T", body, NULL, NULL, NULL, &c);
    CHECK(c.rc == HUB_EINVAL);
    CHECK(problems_at(&c, "/mobile", "APNs payload is 4097 bytes, over the 4096-byte limit") == 1);
    call_free(&c);
    run(ch, 1, "T", body, NULL, NULL, NULL, &c);
    CHECK(c.rc == 0);
    CHECK(c.problems.count == 1 && problems_at(&c, "/mobile", "APNs payload is 4097") == 1);
    call_free(&c);

    /* Under warn_bytes (3686 by default) nothing is said; one byte past it warns. */
    body[3686 - overhead] = '\0';
    run(ch, 0, "T", body, NULL, NULL, NULL, &c);
    CHECK(c.rc == 0 && bytes_of(&c, "apns") == 3686 && json_array_size(c.warnings) == 0);
    call_free(&c);
    body[3686 - overhead] = 'b';
    body[3687 - overhead] = '\0';
    run(ch, 0, "T", body, NULL, NULL, NULL, &c);
    CHECK(c.rc == 0 && warnings_with(&c, "push_size", "APNs payload is 3687 bytes") == 1);
    call_free(&c);
    hub_plugins_free(p);
}

/* An FCM payload over the limit is named as such. */
static void test_fcm_too_big(void)
{
    hub_plugins *p = load("{\"mobile\":{\"warn_bytes\":100}}");
    REQUIRE(p != NULL && hub_plugins_count(p) == 1);
    /* FCM is the larger payload by default; find a body that puts FCM alone over. */
    const char *fcm_frame = "{\"message\":{\"notification\":{\"title\":\"T\",\"body\":\"\"},"
                            "\"data\":{},\"android\":{\"priority\":\"high\"}}}";
    char body[4097];
    size_t n = 4097 - strlen(fcm_frame);
    memset(body, 'b', n);
    body[n] = '\0';
    call c;
    run(hub_plugins_get(p, 0), 0, "T", body, NULL, NULL, NULL, &c);
    CHECK(c.rc == HUB_EINVAL);
    CHECK(c.problems.count == 1 && problems_at(&c, "/mobile", "FCM payload is 4097 bytes") == 1);
    CHECK(warnings_with(&c, "push_size", "APNs payload is") == 1); /* warn_bytes 100 */
    call_free(&c);
    hub_plugins_free(p);
}

static void test_data_checks(void)
{
    hub_plugins *p = load("{}");
    REQUIRE(p != NULL && hub_plugins_count(p) == 1);
    const hub_channel *ch = hub_plugins_get(p, 0);
    call c;
    run(ch, 0, "T", "B", NULL, NULL,
        "{\"aps\":\"x\",\"from\":\"a\",\"google.c\":\"y\",\"gcm.n\":\"z\",\"notification\":\"q\","
        "\"message_type\":\"m\",\"ok\":\"b\"}",
        &c);
    CHECK(c.rc == HUB_EINVAL);
    CHECK(c.problems.count == 6);
    CHECK(problems_at(&c, "/mobile/data", "\"aps\" is reserved") == 1);
    CHECK(problems_at(&c, "/mobile/data", "\"from\" is reserved") == 1);
    CHECK(problems_at(&c, "/mobile/data", "\"google.c\" is reserved") == 1);
    CHECK(problems_at(&c, "/mobile/data", "\"gcm.n\" is reserved") == 1);
    CHECK(problems_at(&c, "/mobile/data", "\"notification\" is reserved") == 1);
    CHECK(problems_at(&c, "/mobile/data", "\"message_type\" is reserved") == 1);
    CHECK(c.artifact.len == 0);
    call_free(&c);

    /* deep_link and image would collide with the members the fields set in APNs. */
    run(ch, 0, "T", "B", NULL, NULL, "{\"deep_link\":\"x://y\",\"image\":\"z\"}", &c);
    CHECK(c.rc == HUB_EINVAL && c.problems.count == 2);
    CHECK(problems_at(&c, "/mobile/data", "\"deep_link\" is reserved") == 1);
    CHECK(problems_at(&c, "/mobile/data", "\"image\" is reserved") == 1);
    call_free(&c);

    /* "google" without the dot, "gcmx" and "apsx" are ordinary keys. */
    run(ch, 0, "T", "B", NULL, NULL, "{\"google\":\"1\",\"gcmx\":\"2\",\"apsx\":\"3\"}", &c);
    CHECK(c.rc == 0 && c.problems.count == 0);
    CHECK_STR(json_string_value(json_object_get(json_object_get(c.parsed, "apns"), "gcmx")), "2");
    call_free(&c);

    run(ch, 0, "T", "B", NULL, NULL, "{\"n\":3,\"b\":true}", &c);
    CHECK(c.rc == HUB_EINVAL);
    CHECK(problems_at(&c, "/mobile/data", "\"n\" must have a string value") == 1);
    CHECK(problems_at(&c, "/mobile/data", "\"b\" must have a string value") == 1);
    call_free(&c);

    run(ch, 0, "T", "B", NULL, NULL, "[\"a\"]", &c);
    CHECK(c.rc == HUB_EINVAL && problems_at(&c, "/mobile/data", "JSON object") == 1);
    call_free(&c);
    run(ch, 0, "T", "B", NULL, NULL, "{\"a\":", &c);
    CHECK(c.rc == HUB_EINVAL && problems_at(&c, "/mobile/data", "JSON object") == 1);
    call_free(&c);

    /* validate reports the same, and returns 0 (it could check). */
    run(ch, 1, "T", "B", NULL, NULL, "{\"aps\":\"x\"}", &c);
    CHECK(c.rc == 0 && problems_at(&c, "/mobile/data", "\"aps\" is reserved") == 1);
    call_free(&c);
    hub_plugins_free(p);
}

static void test_url_checks(void)
{
    hub_plugins *p = load("{}");
    REQUIRE(p != NULL && hub_plugins_count(p) == 1);
    const hub_channel *ch = hub_plugins_get(p, 0);
    static const char *const bad_images[] = {"http://cdn.example/a.png", "javascript:alert(1)",
                                             "/a.png", "https://", "https://cdn.example/a b"};
    static const char *const bad_links[] = {
        "home",       "javascript://%0aalert(1)", "data://text/html,x", "bank:home", "://x",
        "bank://a\tb"};
    call c;
    for (size_t i = 0; i < sizeof(bad_images) / sizeof(bad_images[0]); i++) {
        run(ch, 0, "T", "B", bad_images[i], NULL, NULL, &c);
        CHECK(c.rc == HUB_EINVAL && c.problems.count == 1);
        CHECK(problems_at(&c, "/mobile/image", "") == 1);
        call_free(&c);
        run(ch, 1, "T", "B", bad_images[i], NULL, NULL, &c);
        CHECK(c.rc == 0 && problems_at(&c, "/mobile/image", "") == 1);
        call_free(&c);
    }
    for (size_t i = 0; i < sizeof(bad_links) / sizeof(bad_links[0]); i++) {
        run(ch, 0, "T", "B", NULL, bad_links[i], NULL, &c);
        CHECK(c.rc == HUB_EINVAL && c.problems.count == 1);
        CHECK(problems_at(&c, "/mobile/deep_link", "") == 1);
        call_free(&c);
    }
    static const char *const good_links[] = {"bank://home", "https://bank.example/x",
                                             "my-app.v2+x://open?id=1", "HTTPS://B.EXAMPLE"};
    for (size_t i = 0; i < sizeof(good_links) / sizeof(good_links[0]); i++) {
        run(ch, 0, "T", "B", "HTTPS://cdn.example/i.png", good_links[i], NULL, &c);
        CHECK(c.rc == 0 && c.problems.count == 0);
        call_free(&c);
    }
    /* Both at once, and the message as a whole stays checked. */
    run(ch, 1, "T", "B", "ftp://x", "nope", NULL, &c);
    CHECK(c.problems.count == 2);
    CHECK(problems_at(&c, "/mobile/image", "https://") == 1);
    CHECK(problems_at(&c, "/mobile/deep_link", "scheme://") == 1);
    call_free(&c);
    hub_plugins_free(p);
}

/* ---- configuration ------------------------------------------------------------------------- */

static void expect_refusal(const char *conf, const char *part)
{
    hub_plugins *p = load(conf);
    CHECK(p != NULL);
    if (p == NULL)
        return;
    CHECK(hub_plugins_count(p) == 0);
    CHECK(hub_plugins_refused_count(p) == 1);
    const char *r = hub_plugins_refusal(p, 0);
    CHECK(r != NULL && strstr(r, part) != NULL);
    if (r == NULL || strstr(r, part) == NULL)
        fprintf(stderr, "refusal: %s (wanted %s)\n", r != NULL ? r : "(none)", part);
    hub_plugins_free(p);
}

static void test_config_refusals(void)
{
    expect_refusal("{\"mobile\":{\"driver\":\"outbox\",\"colour\":\"red\"}}",
                   "channels.mobile: unknown key \"colour\"");
    expect_refusal("{\"mobile\":{\"apns\":{\"badge\":1}}}", "channels.mobile.apns: unknown key "
                                                            "\"badge\"");
    expect_refusal("{\"mobile\":{\"fcm\":{\"ttl\":1}}}", "unknown key \"ttl\"");
    expect_refusal("{\"mobile\":{\"http\":{\"url\":\"https://x\",\"retries\":1}}}",
                   "unknown key \"retries\"");
    expect_refusal("{\"mobile\":{\"driver\":\"pigeon\"}}", "channels.mobile.driver");
    expect_refusal("{\"mobile\":{\"driver\":\"http\"}}", "channels.mobile.http.url");
    expect_refusal("{\"mobile\":{\"warn_bytes\":5000}}", "channels.mobile.warn_bytes");
    expect_refusal("{\"mobile\":{\"apns\":{\"sound\":1}}}", "channels.mobile.apns.sound");
    expect_refusal("{\"mobile\":{\"fcm\":{\"priority\":\"urgent\"}}}",
                   "channels.mobile.fcm.priority");
    expect_refusal("{\"mobile\":{\"http\":{\"url\":\"ftp://x\"}}}", "channels.mobile.http.url");
    expect_refusal("{\"mobile\":{\"http\":{\"url\":\"https://x\",\"headers\":{\"Content-Type\":"
                   "\"text/plain\"}}}}",
                   "Content-Type");
    expect_refusal("{\"mobile\":{\"http\":{\"url\":\"https://x\",\"headers\":{\"X-A\":\"a\\r\\n"
                   "X-B: b\"}}}}",
                   "X-A");
    expect_refusal("{\"mobile\":{\"http\":{\"timeout_ms\":-1}}}",
                   "channels.mobile.http.timeout_ms");
}

/* ---- delivery ------------------------------------------------------------------------------ */

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = malloc(1 << 16);
    *len = 0;
    if (f != NULL && buf != NULL)
        *len = fread(buf, 1, (1 << 16) - 1, f);
    if (f != NULL)
        fclose(f);
    if (buf != NULL)
        buf[*len] = '\0';
    return f != NULL ? buf : (free(buf), NULL);
}

static int deliver(const hub_channel *ch, const call *c, const char *recipient, const char *id,
                   char *err, size_t errcap, int64_t *retry)
{
    json_t *r = recipient != NULL ? json_loads(recipient, 0, NULL) : NULL;
    hub_deliver_in in = {sizeof(in), 1, {c->artifact.data, c->artifact.len}, r, id};
    err[0] = '\0';
    *retry = 0;
    int rc = hub_channel_deliver(ch, &in, err, errcap, retry);
    json_decref(r);
    return rc;
}

static void test_deliver_outbox(void)
{
    hub_plugins *p = load("{\"mobile\":{\"driver\":\"outbox\"}}");
    REQUIRE(p != NULL && hub_plugins_count(p) == 1);
    const hub_channel *ch = hub_plugins_get(p, 0);
    call c;
    char err[256], path[1024];
    int64_t retry;
    run(ch, 0, "Hello", "Body", NULL, "bank://home", NULL, &c);
    REQUIRE(c.rc == 0);
    int rc = deliver(ch, &c,
                     "{\"id\":\"c1\",\"push\":[{\"platform\":\"fcm\",\"token\":\"tok-1\"},"
                     "{\"platform\":\"pager\",\"token\":\"x\"},{\"platform\":\"apns\","
                     "\"token\":\"tok-2\",\"extra\":1}]}",
                     "msg-1", err, sizeof(err), &retry);
    CHECK(rc == HUB_DELIVER_OK);
    snprintf(path, sizeof(path), "%s/outbox/mobile/msg-1.json", data_dir);
    size_t len;
    char *text = read_file(path, &len);
    CHECK(text != NULL);
    json_t *got = text != NULL ? json_loads(text, 0, NULL) : NULL;
    json_t *want = json_deep_copy(c.parsed);
    json_object_set_new(want, "push",
                        json_loads("[{\"platform\":\"fcm\",\"token\":\"tok-1\"},{\"platform\":"
                                   "\"apns\",\"token\":\"tok-2\"}]",
                                   0, NULL));
    CHECK(got != NULL && json_equal(got, want));
    if (got == NULL || !json_equal(got, want))
        fprintf(stderr, "outbox file: %s\n", text != NULL ? text : "(missing)");
    json_decref(got);
    json_decref(want);
    free(text);

    /* No push target: a permanent failure, nothing written. */
    rc = deliver(ch, &c, "{\"id\":\"c1\",\"push\":[]}", "msg-2", err, sizeof(err), &retry);
    CHECK(rc == HUB_DELIVER_FAIL && strstr(err, "no push token") != NULL);
    rc = deliver(ch, &c, NULL, "msg-2", err, sizeof(err), &retry);
    CHECK(rc == HUB_DELIVER_FAIL && strstr(err, "no push token") != NULL);
    snprintf(path, sizeof(path), "%s/outbox/mobile/msg-2.json", data_dir);
    text = read_file(path, &len);
    CHECK(text == NULL);
    free(text);
    call_free(&c);
    hub_plugins_free(p);
}

static void test_deliver_http(void)
{
    hub_plugins *p = load("{\"mobile\":{\"driver\":\"http\",\"http\":{\"url\":"
                          "\"https://push.example/send\",\"headers\":{\"Authorization\":"
                          "\"Bearer k\"},\"timeout_ms\":5000}}}");
    REQUIRE(p != NULL && hub_plugins_count(p) == 1);
    const hub_channel *ch = hub_plugins_get(p, 0);
    const char *two = "{\"push\":[{\"platform\":\"fcm\",\"token\":\"tok-1\"},"
                      "{\"platform\":\"apns\",\"token\":\"tok-2\"}]}";
    call c;
    char err[256];
    int64_t retry;
    run(ch, 0, "Hello", "Body", NULL, NULL, NULL, &c);
    REQUIRE(c.rc == 0);

    fake_reset();
    int rc = deliver(ch, &c, two, "m7", err, sizeof(err), &retry);
    CHECK(rc == HUB_DELIVER_OK);
    REQUIRE(ncalls == 2);
    char want[4096];
    snprintf(want, sizeof(want), "{\"platform\":\"fcm\",\"token\":\"tok-1\",\"payload\":%s}",
             "{\"message\":{\"notification\":{\"title\":\"Hello\",\"body\":\"Body\"},\"data\":"
             "{},\"android\":{\"priority\":\"high\"}}}");
    CHECK_STR(calls[0].body, want);
    snprintf(want, sizeof(want), "{\"platform\":\"apns\",\"token\":\"tok-2\",\"payload\":%s}",
             "{\"aps\":{\"alert\":{\"title\":\"Hello\",\"body\":\"Body\"},\"sound\":"
             "\"default\"}}");
    CHECK_STR(calls[1].body, want);
    CHECK_STR(calls[0].url, "https://push.example/send");
    CHECK_STR(calls[0].method, "POST");
    CHECK(calls[0].timeout_ms == 5000);
    CHECK_STR(calls[0].headers, "Authorization: Bearer k\nContent-Type: application/json\n"
                                "Idempotency-Key: m7.0\n");
    CHECK_STR(calls[1].headers, "Authorization: Bearer k\nContent-Type: application/json\n"
                                "Idempotency-Key: m7.1\n");

    /* The worst outcome wins: OK + RETRY is RETRY (with the gateway's Retry-After). */
    fake_reset();
    answers[1] = HUB_DELIVER_RETRY;
    status[1] = 503;
    retry_after[1] = 7000;
    rc = deliver(ch, &c, two, "m7", err, sizeof(err), &retry);
    CHECK(rc == HUB_DELIVER_RETRY && retry == 7000);
    CHECK(strstr(err, "apns token 1") != NULL && strstr(err, "503") != NULL);

    /* FAIL beats RETRY. */
    fake_reset();
    answers[0] = HUB_DELIVER_RETRY;
    status[0] = 500;
    answers[1] = HUB_DELIVER_FAIL;
    status[1] = 400;
    rc = deliver(ch, &c, two, "m7", err, sizeof(err), &retry);
    CHECK(rc == HUB_DELIVER_FAIL && ncalls == 2);
    CHECK(strstr(err, "apns token 1") != NULL && strstr(err, "400") != NULL);

    /* A gateway answer the transport passed as OK but that is not 2xx is classified here. */
    fake_reset();
    status[0] = 404;
    rc = deliver(ch, &c, "{\"push\":[{\"platform\":\"fcm\",\"token\":\"t\"}]}", "m8", err,
                 sizeof(err), &retry);
    CHECK(rc == HUB_DELIVER_FAIL && strstr(err, "404") != NULL);

    fake_reset();
    rc = deliver(ch, &c, "{\"push\":[{\"platform\":\"fcm\"}]}", "m9", err, sizeof(err), &retry);
    CHECK(rc == HUB_DELIVER_FAIL && ncalls == 0 && strstr(err, "no push token") != NULL);
    call_free(&c);
    hub_plugins_free(p);
}

int main(void)
{
    RUN(test_render_full);
    RUN(test_render_configured);
    RUN(test_size_boundary);
    RUN(test_fcm_too_big);
    RUN(test_data_checks);
    RUN(test_url_checks);
    RUN(test_config_refusals);
    RUN(test_deliver_outbox);
    RUN(test_deliver_http);
    return TEST_SUMMARY();
}
