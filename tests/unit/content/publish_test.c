/*
 * Publishing against a real store: versions and their numbering, completeness failures,
 * unpublish, rollback, delete, and what each leaves in the delivery path.
 */
#include "items_fixture.h"

static hub_store *S;

static int publish(const char *key, uint32_t *version)
{
    call c;
    call_init(&c, key, NULL);
    int rc = fx_run(S, fn_publish, &c);
    if (rc != 0)
        fprintf(stderr, "  (publish %s: %s)\n", key, c.err.message);
    *version = c.version;
    call_done(&c);
    return rc;
}

/* The delivery body of (key, base variant, en, email) as a string, and its ETag. */
static int read_doc(const char *key, const char *locale, char *body, size_t cap, char etag[40])
{
    hub_txn *t;
    hub_delivery_doc d;
    hub_error err;
    hub_error_init(&err);
    if (hub_store_read(S, &t) != 0)
        return HUB_EIO;
    int rc = hub_content_delivery(t, hub_slice_cstr(key), (hub_slice){"", 0}, locale,
                                  HUB_SLICE_LIT("email"), &d, &err);
    if (rc == 0) {
        snprintf(body, cap, "%.*s", (int)d.body.len, d.body.base);
        snprintf(etag, 40, "%.*s", (int)d.etag.len, d.etag.base);
    }
    hub_txn_end(t);
    return rc;
}

static void test_publish_versions(void)
{
    uint32_t v = 0;
    char body1[4096], body2[4096], e1[40], e2[40];
    CHECK(publish("p/missing", &v) == HUB_ENOTFOUND);
    REQUIRE(fx_do(S, fn_put, "p/a", example_item) == 0);
    REQUIRE(publish("p/a", &v) == 0);
    CHECK(v == 1);
    json_t *d = fx_draft(S, "p/a");
    CHECK(d != NULL && json_integer_value(json_object_get(d, "published_version")) == 1);
    json_decref(d);
    REQUIRE(read_doc("p/a", "en", body1, sizeof(body1), e1) == 0);
    CHECK(strstr(body1, "\"version\":1") != NULL);
    CHECK(strlen(e1) == 34 && e1[0] == '"' && e1[33] == '"');

    /* Same draft again: a new version, a new ETag (the body names the version). */
    REQUIRE(publish("p/a", &v) == 0);
    CHECK(v == 2);
    REQUIRE(read_doc("p/a", "en", body2, sizeof(body2), e2) == 0);
    CHECK(strcmp(e1, e2) != 0);
    CHECK(strstr(body2, "\"version\":2") != NULL);
    /* Reading twice gives the same bytes. */
    REQUIRE(read_doc("p/a", "en", body1, sizeof(body1), e1) == 0);
    CHECK(strcmp(e1, e2) == 0 && strcmp(body1, body2) == 0);

    hub_txn *t;
    json_t *list = NULL, *pub = NULL;
    REQUIRE(hub_store_read(S, &t) == 0);
    CHECK(hub_content_versions(t, "p/a", &list) == 0);
    CHECK(json_array_size(list) == 2);
    CHECK(json_integer_value(json_object_get(json_array_get(list, 0), "version")) == 2);
    CHECK_STR(json_string_value(json_object_get(json_array_get(list, 1), "title")),
              "Welcome to the bank");
    CHECK(hub_content_get_published(t, "p/a", &pub) == 0);
    CHECK(json_integer_value(json_object_get(pub, "version")) == 2);
    CHECK(json_object_get(pub, "revision") == NULL); /* draft metadata is not copied */
    json_decref(list);
    list = NULL;
    CHECK(hub_content_versions(t, "p/none", &list) == HUB_ENOTFOUND && list == NULL);
    hub_txn_end(t);
    json_decref(pub);
}

static void test_publish_incomplete(void)
{
    call c;
    /* German sms with only the German language: no required text in "de" for mobile. */
    REQUIRE(fx_do(S, fn_put, "p/inc",
                  "{\"kind\":\"message\",\"title\":\"t\",\"variants\":[{\"id\":\"a\","
                  "\"content\":{\"de\":{\"mobile\":{\"deep_link\":\"x://y\"}}}}]}") == 0);
    call_init(&c, "p/inc", NULL);
    CHECK(fx_run(S, fn_publish, &c) == HUB_EINVAL);
    CHECK(c.err.problems.count > 0);
    call_done(&c);
    hub_txn *t;
    uint32_t n;
    REQUIRE(hub_store_read(S, &t) == 0);
    CHECK(hub_content_head_version(t, "p/inc", &n) == HUB_ENOTFOUND);
    hub_txn_end(t);
}

static void test_unpublish_rollback_delete(void)
{
    uint32_t v = 0;
    char body[4096], etag[40];
    call c;
    REQUIRE(fx_do(S, fn_put, "p/r", example_item) == 0);
    REQUIRE(publish("p/r", &v) == 0 && v == 1);
    /* Change the English control subject and publish v2. */
    json_t *item = json_loads(example_item, 0, NULL);
    json_object_set_new(
        json_object_get(
            json_object_get(
                json_object_get(json_array_get(json_object_get(item, "variants"), 0), "content"),
                "en"),
            "email"),
        "subject", json_string("Second subject"));
    char *changed = json_dumps(item, 0);
    json_decref(item);
    REQUIRE(fx_do(S, fn_put, "p/r", changed) == 0);
    free(changed);
    REQUIRE(publish("p/r", &v) == 0 && v == 2);
    REQUIRE(read_doc("p/r", "en", body, sizeof(body), etag) == 0);
    CHECK(strstr(body, "Second subject") != NULL);

    /* Unpublish: delivery 404, the draft says null. */
    call_init(&c, "p/r", NULL);
    REQUIRE(fx_run(S, fn_unpublish, &c) == 0);
    call_done(&c);
    CHECK(read_doc("p/r", "en", body, sizeof(body), etag) == HUB_ENOTFOUND);
    call_init(&c, "p/r", NULL);
    CHECK(fx_run(S, fn_unpublish, &c) == HUB_ENOTFOUND);
    call_done(&c);
    json_t *d = fx_draft(S, "p/r");
    CHECK(d != NULL && json_is_null(json_object_get(d, "published_version")));
    json_decref(d);

    /* Rollback to 1: version 3 equal to 1 in content, served again. */
    call_init(&c, "p/r", NULL);
    c.n = 9;
    CHECK(fx_run(S, fn_rollback, &c) == HUB_ENOTFOUND);
    call_done(&c);
    call_init(&c, "p/r", NULL);
    c.n = 1;
    REQUIRE(fx_run(S, fn_rollback, &c) == 0);
    CHECK(c.version == 3);
    call_done(&c);
    REQUIRE(read_doc("p/r", "en", body, sizeof(body), etag) == 0);
    CHECK(strstr(body, "Second subject") == NULL && strstr(body, "\"version\":3") != NULL);
    hub_txn *t;
    json_t *v1 = NULL, *v3 = NULL;
    REQUIRE(hub_store_read(S, &t) == 0);
    CHECK(hub_content_version_get(t, "p/r", 1, &v1) == 0);
    CHECK(hub_content_version_get(t, "p/r", 3, &v3) == 0);
    hub_txn_end(t);
    REQUIRE(v1 != NULL && v3 != NULL);
    CHECK(json_equal(json_object_get(v1, "variants"), json_object_get(v3, "variants")));
    CHECK(json_equal(json_object_get(v1, "title"), json_object_get(v3, "title")));
    json_decref(v1);
    json_decref(v3);
    d = fx_draft(S, "p/r"); /* the draft is left as it was */
    CHECK(d != NULL && json_integer_value(json_object_get(d, "revision")) == 2);
    CHECK(d != NULL && json_integer_value(json_object_get(d, "published_version")) == 3);
    json_decref(d);

    /* Delete removes everything. */
    call_init(&c, "p/r", NULL);
    REQUIRE(fx_run(S, fn_delete, &c) == 0);
    call_done(&c);
    CHECK(fx_draft(S, "p/r") == NULL);
    CHECK(read_doc("p/r", "en", body, sizeof(body), etag) == HUB_ENOTFOUND);
    REQUIRE(hub_store_read(S, &t) == 0);
    CHECK(hub_content_version_get(t, "p/r", 1, &v1) == HUB_ENOTFOUND);
    json_t *list = NULL;
    CHECK(hub_content_versions(t, "p/r", &list) == HUB_ENOTFOUND);
    hub_txn_end(t);
}

static void test_block_in_use(void)
{
    uint32_t v = 0;
    call c;
    REQUIRE(fx_do(S, fn_put, "blocks/footer",
                  "{\"kind\":\"block\",\"title\":\"Footer\",\"variants\":[{\"id\":\"a\","
                  "\"content\":{\"en\":{\"web\":{\"title\":\"f\",\"html\":\"<p>f</p>\"}}}}]}") ==
            0);
    REQUIRE(fx_do(S, fn_put, "p/uses-footer",
                  "{\"kind\":\"message\",\"title\":\"m\",\"variants\":[{\"id\":\"a\","
                  "\"content\":{\"en\":{\"web\":{\"title\":\"t\",\"html\":"
                  "\"<p>x</p>{%  render 'blocks/footer' %}\"}}}}]}") == 0);
    REQUIRE(publish("p/uses-footer", &v) == 0);
    call_init(&c, "blocks/footer", NULL);
    CHECK(fx_run(S, fn_delete, &c) == HUB_EINUSE);
    CHECK(strstr(c.err.message, "p/uses-footer") != NULL);
    call_done(&c);
    call_init(&c, "p/uses-footer", NULL);
    REQUIRE(fx_run(S, fn_unpublish, &c) == 0);
    call_done(&c);
    call_init(&c, "blocks/footer", NULL);
    CHECK(fx_run(S, fn_delete, &c) == 0);
    call_done(&c);
}

int main(void)
{
    S = fx_open("content_publish");
    if (S == NULL)
        return 1;
    RUN(test_publish_versions);
    RUN(test_publish_incomplete);
    RUN(test_unpublish_rollback_delete);
    RUN(test_block_in_use);
    hub_store_close(S);
    return TEST_SUMMARY();
}
