/*
 * The mobile plugin through the real loader and host: exact APNs and FCM payloads, their
 * byte counts, the 4096-byte boundary, data and URL checks, configuration refusals, and
 * delivery to the outbox and to an HTTP push gateway (a fake http_request service).
 */
#include "plugin_fixture.h"

static plug_gw gw; /* a fake push gateway */
static plug mobile = {.name = "mobile", .services = {.http_request = plug_gw_http, .ctx = &gw}};
static const plug_msg msg = {.item = "onboarding/welcome",
                             .variant = "control",
                             .locale = "en",
                             .message_id = "m1",
                             .now_ms = 1700000000000,
                             .prefix = "/mobile"};

/* Loads mobile.so with channels.mobile = config (NULL: no entry); the test stops unless it
 * loaded. */
#define LOAD(config)                                                                               \
    REQUIRE(plug_load(&mobile, config) != NULL && hub_plugins_count(mobile.set) == 1)

/* Renders (validate = 0) or validates the fields title, body, image, deep_link, data. */
static void run(int validate, const char *title, const char *body, const char *image,
                const char *deep_link, const char *data, plug_call *c)
{
    const char *const f[5] = {title, body, image, deep_link, data};
    plug_run_str(c, mobile.ch, validate, &msg, f);
}

static long long bytes_of(const plug_call *c, const char *which)
{
    return json_integer_value(json_object_get(json_object_get(c->art, "bytes"), which));
}

/* Checks the artifact of c: the payloads equal apns and fcm (JSON text), appear in the
 * artifact byte for byte as written, and "bytes" counts them. */
static void check_artifact(const plug_call *c, const char *apns, const char *fcm)
{
    char *want = malloc(strlen(apns) + strlen(fcm) + 128);
    REQUIRE(want != NULL);
    snprintf(want, strlen(apns) + strlen(fcm) + 128,
             "{\"apns\":%s,\"fcm\":%s,\"bytes\":{\"apns\":%zu,\"fcm\":%zu}}", apns, fcm,
             strlen(apns), strlen(fcm));
    json_t *w = json_loads(want, 0, NULL);
    CHECK(w != NULL);
    CHECK(c->art != NULL && json_equal(c->art, w));
    CHECK(bytes_of(c, "apns") == (long long)strlen(apns));
    CHECK(bytes_of(c, "fcm") == (long long)strlen(fcm));
    CHECK(c->artifact.data != NULL && strstr(c->artifact.data, apns) != NULL);
    CHECK(c->artifact.data != NULL && strstr(c->artifact.data, fcm) != NULL);
    if (c->art == NULL || !json_equal(c->art, w))
        fprintf(stderr, "got  %s\nwant %s\n", c->artifact.data, want);
    json_decref(w);
    free(want);
}

/* ---- rendering ----------------------------------------------------------------------------- */

static void test_render_full(void)
{
    LOAD(NULL);
    CHECK_STR(hub_channel_name(hub_plugins_get(mobile.set, 0)), "mobile");
    CHECK(hub_channel_field_index(mobile.ch, "deep_link") == 3);
    plug_call c;
    run(0, "Hello", "Your account is ready", "https://cdn.example/a.png", "bank://home",
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
    plug_call_free(&c);

    /* Non-ASCII and characters JSON escapes are counted as serialized. */
    run(0, "Grüße", "a \"quote\"\n", NULL, NULL, NULL, &c);
    CHECK(c.rc == 0);
    check_artifact(&c,
                   "{\"aps\":{\"alert\":{\"title\":\"Grüße\",\"body\":\"a \\\"quote\\\"\\n\"},"
                   "\"sound\":\"default\"}}",
                   "{\"message\":{\"notification\":{\"title\":\"Grüße\",\"body\":\"a "
                   "\\\"quote\\\"\\n\"},\"data\":{},\"android\":{\"priority\":\"high\"}}}");
    plug_call_free(&c);
    plug_unload(&mobile);
}

static void test_render_configured(void)
{
    LOAD("{\"apns\":{\"sound\":null,\"category\":\"NEWS\",\"thread_id\":\"t1\"},\"fcm\":{"
         "\"android_channel_id\":\"promo\",\"priority\":\"normal\"}}");
    plug_call c;
    run(0, "Hi", "There", NULL, "https://bank.example/offer", NULL, &c);
    CHECK(c.rc == 0);
    check_artifact(&c,
                   "{\"aps\":{\"alert\":{\"title\":\"Hi\",\"body\":\"There\"},\"thread-id\":"
                   "\"t1\",\"category\":\"NEWS\"},\"deep_link\":\"https://bank.example/offer\"}",
                   "{\"message\":{\"notification\":{\"title\":\"Hi\",\"body\":\"There\"},"
                   "\"data\":{\"deep_link\":\"https://bank.example/offer\"},\"android\":{"
                   "\"priority\":\"normal\",\"notification\":{\"channel_id\":\"promo\"}}}}");
    plug_call_free(&c);
    plug_unload(&mobile);
}

/* The APNs payload at exactly 4096 bytes renders with a warning; one byte more fails. The
 * long category makes APNs the larger payload, so FCM stays under the limit. */
static void test_size_boundary(void)
{
    char category[301], conf[512], frame[1024];
    memset(category, 'c', 300);
    category[300] = '\0';
    snprintf(conf, sizeof(conf), "{\"apns\":{\"category\":\"%s\"}}", category);
    LOAD(conf);
    snprintf(frame, sizeof(frame),
             "{\"aps\":{\"alert\":{\"title\":\"T\",\"body\":\"\"},\"sound\":\"default\","
             "\"category\":\"%s\"}}",
             category);
    size_t overhead = strlen(frame);
    REQUIRE(overhead < 4096);
    char body[4097];
    memset(body, 'b', sizeof(body));
    body[4096 - overhead] = '\0';

    plug_call c;
    run(0, "T", body, NULL, NULL, NULL, &c);
    CHECK(c.rc == 0);
    CHECK(bytes_of(&c, "apns") == 4096);
    CHECK(bytes_of(&c, "fcm") < 4096);
    CHECK(plug_warnings_with(&c, "push_size", "APNs payload is 4096 bytes") == 1);
    plug_call_free(&c);
    run(1, "T", body, NULL, NULL, NULL, &c);
    CHECK(c.rc == 0 && c.problems.count == 0);
    CHECK(plug_warnings_with(&c, "push_size", "APNs payload is 4096 bytes") == 1);
    plug_call_free(&c);

    body[4096 - overhead] = 'b';
    body[4097 - overhead] = '\0';
    run(0, "T", body, NULL, NULL, NULL, &c);
    CHECK(c.rc == HUB_EINVAL);
    CHECK(plug_problems_at(&c, "/mobile", "APNs payload is 4097 bytes, over the 4096-byte limit") ==
          1);
    plug_call_free(&c);
    run(1, "T", body, NULL, NULL, NULL, &c);
    CHECK(c.rc == 0);
    CHECK(c.problems.count == 1 && plug_problems_at(&c, "/mobile", "APNs payload is 4097") == 1);
    plug_call_free(&c);

    /* Under warn_bytes (3686 by default) nothing is said; one byte past it warns. */
    body[3686 - overhead] = '\0';
    run(0, "T", body, NULL, NULL, NULL, &c);
    CHECK(c.rc == 0 && bytes_of(&c, "apns") == 3686 && json_array_size(c.warnings) == 0);
    plug_call_free(&c);
    body[3686 - overhead] = 'b';
    body[3687 - overhead] = '\0';
    run(0, "T", body, NULL, NULL, NULL, &c);
    CHECK(c.rc == 0 && plug_warnings_with(&c, "push_size", "APNs payload is 3687 bytes") == 1);
    plug_call_free(&c);
    plug_unload(&mobile);
}

/* An FCM payload over the limit is named as such. */
static void test_fcm_too_big(void)
{
    LOAD("{\"warn_bytes\":100}");
    /* FCM is the larger payload by default; find a body that puts FCM alone over. */
    const char *fcm_frame = "{\"message\":{\"notification\":{\"title\":\"T\",\"body\":\"\"},"
                            "\"data\":{},\"android\":{\"priority\":\"high\"}}}";
    char body[4097];
    size_t n = 4097 - strlen(fcm_frame);
    memset(body, 'b', n);
    body[n] = '\0';
    plug_call c;
    run(0, "T", body, NULL, NULL, NULL, &c);
    CHECK(c.rc == HUB_EINVAL);
    CHECK(c.problems.count == 1 &&
          plug_problems_at(&c, "/mobile", "FCM payload is 4097 bytes") == 1);
    CHECK(plug_warnings_with(&c, "push_size", "APNs payload is") == 1); /* warn_bytes 100 */
    plug_call_free(&c);
    plug_unload(&mobile);
}

static void test_data_checks(void)
{
    LOAD(NULL);
    plug_call c;
    run(0, "T", "B", NULL, NULL,
        "{\"aps\":\"x\",\"from\":\"a\",\"google.c\":\"y\",\"gcm.n\":\"z\",\"notification\":\"q\","
        "\"message_type\":\"m\",\"ok\":\"b\"}",
        &c);
    CHECK(c.rc == HUB_EINVAL);
    CHECK(c.problems.count == 6);
    CHECK(plug_problems_at(&c, "/mobile/data", "\"aps\" is reserved") == 1);
    CHECK(plug_problems_at(&c, "/mobile/data", "\"from\" is reserved") == 1);
    CHECK(plug_problems_at(&c, "/mobile/data", "\"google.c\" is reserved") == 1);
    CHECK(plug_problems_at(&c, "/mobile/data", "\"gcm.n\" is reserved") == 1);
    CHECK(plug_problems_at(&c, "/mobile/data", "\"notification\" is reserved") == 1);
    CHECK(plug_problems_at(&c, "/mobile/data", "\"message_type\" is reserved") == 1);
    CHECK(c.artifact.len == 0);
    plug_call_free(&c);

    /* deep_link and image would collide with the members the fields set in APNs. */
    run(0, "T", "B", NULL, NULL, "{\"deep_link\":\"x://y\",\"image\":\"z\"}", &c);
    CHECK(c.rc == HUB_EINVAL && c.problems.count == 2);
    CHECK(plug_problems_at(&c, "/mobile/data", "\"deep_link\" is reserved") == 1);
    CHECK(plug_problems_at(&c, "/mobile/data", "\"image\" is reserved") == 1);
    plug_call_free(&c);

    /* "google" without the dot, "gcmx" and "apsx" are ordinary keys. */
    run(0, "T", "B", NULL, NULL, "{\"google\":\"1\",\"gcmx\":\"2\",\"apsx\":\"3\"}", &c);
    CHECK(c.rc == 0 && c.problems.count == 0);
    CHECK_STR(json_string_value(json_object_get(json_object_get(c.art, "apns"), "gcmx")), "2");
    plug_call_free(&c);

    run(0, "T", "B", NULL, NULL, "{\"n\":3,\"b\":true}", &c);
    CHECK(c.rc == HUB_EINVAL);
    CHECK(plug_problems_at(&c, "/mobile/data", "\"n\" must have a string value") == 1);
    CHECK(plug_problems_at(&c, "/mobile/data", "\"b\" must have a string value") == 1);
    plug_call_free(&c);

    run(0, "T", "B", NULL, NULL, "[\"a\"]", &c);
    CHECK(c.rc == HUB_EINVAL && plug_problems_at(&c, "/mobile/data", "JSON object") == 1);
    plug_call_free(&c);
    run(0, "T", "B", NULL, NULL, "{\"a\":", &c);
    CHECK(c.rc == HUB_EINVAL && plug_problems_at(&c, "/mobile/data", "JSON object") == 1);
    plug_call_free(&c);

    /* validate reports the same, and returns 0 (it could check). */
    run(1, "T", "B", NULL, NULL, "{\"aps\":\"x\"}", &c);
    CHECK(c.rc == 0 && plug_problems_at(&c, "/mobile/data", "\"aps\" is reserved") == 1);
    plug_call_free(&c);
    plug_unload(&mobile);
}

static void test_url_checks(void)
{
    LOAD(NULL);
    static const char *const bad_images[] = {"http://cdn.example/a.png", "javascript:alert(1)",
                                             "/a.png", "https://", "https://cdn.example/a b"};
    static const char *const bad_links[] = {
        "home",       "javascript://%0aalert(1)", "data://text/html,x", "bank:home", "://x",
        "bank://a\tb"};
    plug_call c;
    for (size_t i = 0; i < sizeof(bad_images) / sizeof(bad_images[0]); i++) {
        run(0, "T", "B", bad_images[i], NULL, NULL, &c);
        CHECK(c.rc == HUB_EINVAL && c.problems.count == 1);
        CHECK(plug_problems_at(&c, "/mobile/image", "") == 1);
        plug_call_free(&c);
        run(1, "T", "B", bad_images[i], NULL, NULL, &c);
        CHECK(c.rc == 0 && plug_problems_at(&c, "/mobile/image", "") == 1);
        plug_call_free(&c);
    }
    for (size_t i = 0; i < sizeof(bad_links) / sizeof(bad_links[0]); i++) {
        run(0, "T", "B", NULL, bad_links[i], NULL, &c);
        CHECK(c.rc == HUB_EINVAL && c.problems.count == 1);
        CHECK(plug_problems_at(&c, "/mobile/deep_link", "") == 1);
        plug_call_free(&c);
    }
    static const char *const good_links[] = {"bank://home", "https://bank.example/x",
                                             "my-app.v2+x://open?id=1", "HTTPS://B.EXAMPLE"};
    for (size_t i = 0; i < sizeof(good_links) / sizeof(good_links[0]); i++) {
        run(0, "T", "B", "HTTPS://cdn.example/i.png", good_links[i], NULL, &c);
        CHECK(c.rc == 0 && c.problems.count == 0);
        plug_call_free(&c);
    }
    /* Both at once, and the message as a whole stays checked. */
    run(1, "T", "B", "ftp://x", "nope", NULL, &c);
    CHECK(c.problems.count == 2);
    CHECK(plug_problems_at(&c, "/mobile/image", "https://") == 1);
    CHECK(plug_problems_at(&c, "/mobile/deep_link", "scheme://") == 1);
    plug_call_free(&c);
    plug_unload(&mobile);
}

/* ---- configuration ------------------------------------------------------------------------- */

static void test_config_refusals(void)
{
    plug_expect_refusal(&mobile, "{\"driver\":\"outbox\",\"colour\":\"red\"}",
                        "channels.mobile: unknown key \"colour\"");
    plug_expect_refusal(&mobile, "{\"apns\":{\"badge\":1}}",
                        "channels.mobile.apns: unknown key \"badge\"");
    plug_expect_refusal(&mobile, "{\"fcm\":{\"ttl\":1}}", "unknown key \"ttl\"");
    plug_expect_refusal(&mobile, "{\"http\":{\"url\":\"https://x\",\"retries\":1}}",
                        "unknown key \"retries\"");
    plug_expect_refusal(&mobile, "{\"driver\":\"pigeon\"}", "channels.mobile.driver");
    plug_expect_refusal(&mobile, "{\"driver\":\"http\"}", "channels.mobile.http.url");
    plug_expect_refusal(&mobile, "{\"warn_bytes\":5000}", "channels.mobile.warn_bytes");
    plug_expect_refusal(&mobile, "{\"apns\":{\"sound\":1}}", "channels.mobile.apns.sound");
    plug_expect_refusal(&mobile, "{\"fcm\":{\"priority\":\"urgent\"}}",
                        "channels.mobile.fcm.priority");
    plug_expect_refusal(&mobile, "{\"http\":{\"url\":\"ftp://x\"}}", "channels.mobile.http.url");
    plug_expect_refusal(&mobile,
                        "{\"http\":{\"url\":\"https://x\",\"headers\":{\"Content-Type\":"
                        "\"text/plain\"}}}",
                        "Content-Type");
    plug_expect_refusal(&mobile,
                        "{\"http\":{\"url\":\"https://x\",\"headers\":{\"X-A\":\"a\\r\\n"
                        "X-B: b\"}}}",
                        "X-A");
    plug_expect_refusal(&mobile, "{\"http\":{\"timeout_ms\":-1}}",
                        "channels.mobile.http.timeout_ms");
    plug_unload(&mobile);
}

/* ---- delivery ------------------------------------------------------------------------------ */

/* Delivers the artifact of c to recipient (JSON text) as id. */
static int deliver(const plug_call *c, const char *recipient, const char *id, char *err,
                   size_t errcap, int64_t *retry)
{
    return plug_deliver(mobile.ch, c->artifact.data, c->artifact.len, recipient, id, err, errcap,
                        retry);
}

static void test_deliver_outbox(void)
{
    LOAD("{\"driver\":\"outbox\"}");
    plug_call c;
    char err[256];
    int64_t retry;
    run(0, "Hello", "Body", NULL, "bank://home", NULL, &c);
    REQUIRE(c.rc == 0);
    int rc = deliver(&c,
                     "{\"id\":\"c1\",\"push\":[{\"platform\":\"fcm\",\"token\":\"tok-1\"},"
                     "{\"platform\":\"pager\",\"token\":\"x\"},{\"platform\":\"apns\","
                     "\"token\":\"tok-2\",\"extra\":1}]}",
                     "msg-1", err, sizeof(err), &retry);
    CHECK(rc == HUB_DELIVER_OK);
    const char *text = plug_outbox(&mobile, "msg-1.json", NULL);
    CHECK(text != NULL);
    json_t *got = text != NULL ? json_loads(text, 0, NULL) : NULL;
    json_t *want = json_deep_copy(c.art);
    json_object_set_new(want, "push",
                        json_loads("[{\"platform\":\"fcm\",\"token\":\"tok-1\"},{\"platform\":"
                                   "\"apns\",\"token\":\"tok-2\"}]",
                                   0, NULL));
    CHECK(got != NULL && json_equal(got, want));
    if (got == NULL || !json_equal(got, want))
        fprintf(stderr, "outbox file: %s\n", text != NULL ? text : "(missing)");
    json_decref(got);
    json_decref(want);

    /* No push target: a permanent failure, nothing written. */
    rc = deliver(&c, "{\"id\":\"c1\",\"push\":[]}", "msg-2", err, sizeof(err), &retry);
    CHECK(rc == HUB_DELIVER_FAIL && strstr(err, "no push token") != NULL);
    rc = deliver(&c, NULL, "msg-2", err, sizeof(err), &retry);
    CHECK(rc == HUB_DELIVER_FAIL && strstr(err, "no push token") != NULL);
    CHECK(plug_outbox(&mobile, "msg-2.json", NULL) == NULL);
    plug_call_free(&c);
    plug_unload(&mobile);
}

static void test_deliver_http(void)
{
    LOAD("{\"driver\":\"http\",\"http\":{\"url\":\"https://push.example/send\",\"headers\":{"
         "\"Authorization\":\"Bearer k\"},\"timeout_ms\":5000}}");
    const char *two = "{\"push\":[{\"platform\":\"fcm\",\"token\":\"tok-1\"},"
                      "{\"platform\":\"apns\",\"token\":\"tok-2\"}]}";
    plug_call c;
    char err[256];
    int64_t retry;
    run(0, "Hello", "Body", NULL, NULL, NULL, &c);
    REQUIRE(c.rc == 0);

    plug_gw_reset(&gw);
    int rc = deliver(&c, two, "m7", err, sizeof(err), &retry);
    CHECK(rc == HUB_DELIVER_OK);
    REQUIRE(gw.calls == 2);
    char want[4096];
    snprintf(want, sizeof(want), "{\"platform\":\"fcm\",\"token\":\"tok-1\",\"payload\":%s}",
             "{\"message\":{\"notification\":{\"title\":\"Hello\",\"body\":\"Body\"},\"data\":"
             "{},\"android\":{\"priority\":\"high\"}}}");
    CHECK_STR(gw.req[0].body, want);
    snprintf(want, sizeof(want), "{\"platform\":\"apns\",\"token\":\"tok-2\",\"payload\":%s}",
             "{\"aps\":{\"alert\":{\"title\":\"Hello\",\"body\":\"Body\"},\"sound\":"
             "\"default\"}}");
    CHECK_STR(gw.req[1].body, want);
    CHECK_STR(gw.req[0].url, "https://push.example/send");
    CHECK_STR(gw.req[0].method, "POST");
    CHECK(gw.req[0].timeout_ms == 5000);
    CHECK_STR(gw.req[0].headers, "Authorization: Bearer k\nContent-Type: application/json\n"
                                 "Idempotency-Key: m7.0\n");
    CHECK_STR(gw.req[1].headers, "Authorization: Bearer k\nContent-Type: application/json\n"
                                 "Idempotency-Key: m7.1\n");

    /* The worst outcome wins: OK + RETRY is RETRY (with the gateway's Retry-After). */
    plug_gw_reset(&gw);
    gw.answer[1] = (plug_gw_answer){HUB_DELIVER_RETRY, 503, 7000, NULL};
    rc = deliver(&c, two, "m7", err, sizeof(err), &retry);
    CHECK(rc == HUB_DELIVER_RETRY && retry == 7000);
    CHECK(strstr(err, "apns token 1") != NULL && strstr(err, "503") != NULL);

    /* FAIL beats RETRY. */
    plug_gw_reset(&gw);
    gw.answer[0] = (plug_gw_answer){HUB_DELIVER_RETRY, 500, 0, NULL};
    gw.answer[1] = (plug_gw_answer){HUB_DELIVER_FAIL, 400, 0, NULL};
    rc = deliver(&c, two, "m7", err, sizeof(err), &retry);
    CHECK(rc == HUB_DELIVER_FAIL && gw.calls == 2);
    CHECK(strstr(err, "apns token 1") != NULL && strstr(err, "400") != NULL);

    /* A gateway answer the transport passed as OK but that is not 2xx is classified here. */
    plug_gw_reset(&gw);
    gw.answer[0].status = 404;
    rc = deliver(&c, "{\"push\":[{\"platform\":\"fcm\",\"token\":\"t\"}]}", "m8", err, sizeof(err),
                 &retry);
    CHECK(rc == HUB_DELIVER_FAIL && strstr(err, "404") != NULL);

    plug_gw_reset(&gw);
    rc = deliver(&c, "{\"push\":[{\"platform\":\"fcm\"}]}", "m9", err, sizeof(err), &retry);
    CHECK(rc == HUB_DELIVER_FAIL && gw.calls == 0 && strstr(err, "no push token") != NULL);
    plug_call_free(&c);
    plug_unload(&mobile);
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
    plug_unload(&mobile);
    return TEST_SUMMARY();
}
