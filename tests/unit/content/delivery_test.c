/*
 * Delivery reads against a real store: the field-by-field resolution (variant, then base
 * variant, per locale of the chain), locale fallback, headers, the exact-locale answer, and
 * re-materialization after a locale chain changes.
 */
#include "items_fixture.h"

static hub_store *S;

typedef struct got {
    int rc;
    json_t *body;
    char etag[40];
    char surrogate[512];
    char locale[64];
    char message[256];
} got;

static got get(const char *key, const char *variant, const char *locale, const char *channel)
{
    got g = {0};
    hub_txn *t;
    hub_delivery_doc d;
    hub_error err;
    hub_error_init(&err);
    if (hub_store_read(S, &t) != 0) {
        g.rc = HUB_EIO;
        return g;
    }
    g.rc = hub_content_delivery(t, hub_slice_cstr(key), hub_slice_cstr(variant), locale,
                                hub_slice_cstr(channel), &d, &err);
    if (g.rc == 0) {
        g.body = json_loadb(d.body.base, d.body.len, 0, NULL);
        snprintf(g.etag, sizeof(g.etag), "%.*s", (int)d.etag.len, d.etag.base);
        snprintf(g.surrogate, sizeof(g.surrogate), "%.*s", (int)d.surrogate.len, d.surrogate.base);
        snprintf(g.locale, sizeof(g.locale), "%.*s", (int)d.locale.len, d.locale.base);
    }
    snprintf(g.message, sizeof(g.message), "%s", err.message);
    hub_txn_end(t);
    return g;
}

static const char *field(const got *g, const char *name)
{
    return json_string_value(json_object_get(json_object_get(g->body, "fields"), name));
}

static const char *from(const got *g, const char *name, const char *what)
{
    json_t *rf = json_object_get(json_object_get(g->body, "resolved_from"), name);
    return json_string_value(json_object_get(rf, what));
}

static int publish(const char *key)
{
    call c;
    call_init(&c, key, NULL);
    int rc = fx_run(S, fn_publish, &c);
    if (rc != 0)
        fprintf(stderr, "  (publish %s: %s)\n", key, c.err.message);
    call_done(&c);
    return rc;
}

static void test_resolution(void)
{
    REQUIRE(fx_do(S, fn_put, "d/welcome", example_item) == 0);
    got g = get("d/welcome", "", "en", "email");
    CHECK(g.rc == HUB_ENOTFOUND && strstr(g.message, "not published") != NULL);
    REQUIRE(publish("d/welcome") == 0);

    /* A German reader of 'short' gets control's German subject, never the English one. */
    g = get("d/welcome", "short", "de", "email");
    REQUIRE(g.rc == 0);
    CHECK_STR(field(&g, "subject"), "Willkommen, {{ first_name }}");
    CHECK_STR(from(&g, "subject", "variant"), "control");
    CHECK_STR(from(&g, "subject", "locale"), "de");
    CHECK_STR(field(&g, "html"), "<h1>Hello {{ first_name }}</h1>");
    CHECK_STR(from(&g, "html", "locale"), "en");
    CHECK_STR(json_string_value(json_object_get(g.body, "variant")), "short");
    CHECK_STR(json_string_value(json_object_get(g.body, "key")), "d/welcome");
    CHECK(json_integer_value(json_object_get(g.body, "version")) == 1);
    CHECK(json_is_null(json_object_get(g.body, "experiment_bucket")));
    CHECK_STR(g.locale, "de");
    CHECK_STR(g.surrogate, "item:d/welcome tag:journey/onboarding tag:product/accounts/savings "
                           "tag:segment/new-customers");
    json_decref(g.body);

    /* An English reader of 'short' gets its own subject. */
    g = get("d/welcome", "short", "en", "email");
    CHECK(g.rc == 0 && strcmp(field(&g, "subject"), "You're in") == 0);
    CHECK_STR(from(&g, "subject", "variant"), "short");
    json_decref(g.body);

    /* de-AT falls back to de, then en; the served language is de. */
    g = get("d/welcome", "", "de-AT", "sms");
    REQUIRE(g.rc == 0);
    CHECK_STR(g.locale, "en"); /* no German sms anywhere: chain de-AT, de, en */
    CHECK_STR(from(&g, "text", "locale"), "en");
    json_decref(g.body);
    g = get("d/welcome", "", "de-AT", "email");
    REQUIRE(g.rc == 0);
    CHECK_STR(g.locale, "de");
    CHECK_STR(field(&g, "subject"), "Willkommen, {{ first_name }}");
    json_decref(g.body);

    /* Default locale, unknown locale, unknown variant, unknown channel. */
    g = get("d/welcome", "", "", "email");
    CHECK(g.rc == 0 && strcmp(g.locale, "en") == 0);
    json_decref(g.body);
    g = get("d/welcome", "nope", "en", "email");
    CHECK(g.rc == HUB_ENOTFOUND && strstr(g.message, "unknown variant") != NULL);
    g = get("d/welcome", "", "en", "fax");
    CHECK(g.rc == HUB_ENOTFOUND && strstr(g.message, "no fax content") != NULL);
    g = get("d/nothing", "", "en", "email");
    CHECK(g.rc == HUB_ENOTFOUND);
}

static int fn_chain_change(hub_txn *t, void *a)
{
    call *c = a;
    json_t *j = json_loads(c->body, 0, NULL);
    int changed = 0;
    int rc = hub_locale_put(t, c->key, j, &changed, &c->err);
    json_decref(j);
    c->created = changed;
    if (rc == 0 && changed)
        rc = hub_content_rematerialize_all(t);
    return rc;
}

static void test_rematerialize(void)
{
    /* en subject and html, fr html only, de subject only. */
    REQUIRE(fx_do(S, fn_put, "d/chain",
                  "{\"kind\":\"message\",\"title\":\"c\",\"variants\":[{\"id\":\"a\","
                  "\"content\":{\"en\":{\"email\":{\"subject\":\"S-en\",\"html\":\"H-en\"}},"
                  "\"fr\":{\"email\":{\"html\":\"H-fr\"}},"
                  "\"de\":{\"email\":{\"subject\":\"S-de\"}}}}]}") == 0);
    REQUIRE(publish("d/chain") == 0);
    got g = get("d/chain", "", "de", "email");
    REQUIRE(g.rc == 0);
    CHECK_STR(field(&g, "html"), "H-en");
    char etag_before[40];
    memcpy(etag_before, g.etag, sizeof(etag_before));
    json_decref(g.body);

    /* de now falls back to fr: the stored documents follow. */
    call c;
    call_init(&c, "de", "{\"name\":\"Deutsch\",\"fallback\":\"fr\"}");
    REQUIRE(fx_run(S, fn_chain_change, &c) == 0);
    CHECK(c.created == 1);
    call_done(&c);
    g = get("d/chain", "", "de", "email");
    REQUIRE(g.rc == 0);
    CHECK_STR(field(&g, "html"), "H-fr");
    CHECK_STR(from(&g, "html", "locale"), "fr");
    CHECK_STR(field(&g, "subject"), "S-de");
    CHECK(strcmp(g.etag, etag_before) != 0);
    json_decref(g.body);
    g = get("d/chain", "", "de-AT", "email"); /* de-AT -> de -> fr -> en */
    CHECK(g.rc == 0 && strcmp(field(&g, "html"), "H-fr") == 0);
    json_decref(g.body);
}

int main(void)
{
    S = fx_open("content_delivery");
    if (S == NULL)
        return 1;
    RUN(test_resolution);
    RUN(test_rematerialize);
    hub_store_close(S);
    return TEST_SUMMARY();
}
