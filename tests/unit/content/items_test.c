/*
 * Drafts against a real store: revisions and If-Match, validation failures, actor limits
 * (channels and tags), the tag and locale index, and the paged list.
 */
#include "items_fixture.h"

static hub_store *S;

static json_int_t put_rev(const char *key, const char *body, const char *if_match, int *rc)
{
    call c;
    json_int_t rev = -1;
    call_init(&c, key, body);
    c.if_match = if_match;
    *rc = fx_run(S, fn_put, &c);
    if (*rc == 0)
        rev = json_integer_value(json_object_get(c.out, "revision"));
    call_done(&c);
    return rev;
}

static void test_put_revisions_and_if_match(void)
{
    int rc;
    put_rev("m/a", example_item, "*", &rc);
    CHECK(rc == HUB_EPRECOND); /* "*" needs an existing draft */
    put_rev("m/a", example_item, "\"r1\"", &rc);
    CHECK(rc == HUB_EPRECOND);

    call c;
    call_init(&c, "m/a", example_item);
    REQUIRE(fx_run(S, fn_put, &c) == 0);
    CHECK(c.created == 1);
    CHECK(json_integer_value(json_object_get(c.out, "revision")) == 1);
    CHECK_STR(json_string_value(json_object_get(c.out, "key")), "m/a");
    CHECK(json_is_null(json_object_get(c.out, "published_version")));
    CHECK(json_is_string(json_object_get(c.out, "created_at")));
    CHECK_STR(json_string_value(json_object_get(c.out, "updated_by")), "cli");
    call_done(&c);

    CHECK(put_rev("m/a", example_item, "\"r1\"", &rc) == 2 && rc == 0);
    put_rev("m/a", example_item, "\"r1\"", &rc);
    CHECK(rc == HUB_EPRECOND);
    CHECK(put_rev("m/a", example_item, "\"r9\", \"r2\"", &rc) == 3 && rc == 0);
    CHECK(put_rev("m/a", example_item, "*", &rc) == 4 && rc == 0);
    CHECK(put_rev("m/a", example_item, NULL, &rc) == 5 && rc == 0);

    json_t *d = fx_draft(S, "m/a");
    REQUIRE(d != NULL);
    CHECK(json_integer_value(json_object_get(d, "revision")) == 5);
    CHECK_STR(json_string_value(json_object_get(d, "title")), "Welcome to the bank");
    json_decref(d);
}

static void test_put_invalid(void)
{
    call c;
    call_init(&c, "m/bad", "{\"kind\":\"poem\",\"title\":1,\"variants\":[]}");
    CHECK(fx_run(S, fn_put, &c) == HUB_EINVAL);
    CHECK(c.err.problems.count > 0);
    CHECK(strstr(c.err.message, "problem") != NULL);
    call_done(&c);
    CHECK(fx_draft(S, "m/bad") == NULL);

    call_init(&c, "m/../x", example_item);
    CHECK(fx_run(S, fn_put, &c) == HUB_EINVAL);
    call_done(&c);

    /* A reference to a term that does not exist. */
    call_init(&c, "m/badref",
              "{\"kind\":\"message\",\"title\":\"t\",\"tags\":[\"campaign/nope\"],"
              "\"variants\":[{\"id\":\"a\",\"content\":{\"en\":{\"sms\":{\"text\":\"x\"}}}}]}");
    CHECK(fx_run(S, fn_put, &c) == HUB_EINVAL);
    CHECK(c.err.problems.count == 1);
    call_done(&c);
}

static void test_channel_limited_actor(void)
{
    hub_principal email = {.name = "email-team", .role = HUB_ROLE_EDITOR, .nchannels = 1};
    memcpy(email.channels[0], "email", 6);
    call c;

    /* Creating is refused. */
    call_init(&c, "m/new-by-email", example_item);
    c.actor = &email;
    CHECK(fx_run(S, fn_put, &c) == HUB_EFORBIDDEN);
    call_done(&c);

    /* Changing the German email subject is allowed. */
    json_t *item = json_loads(example_item, 0, NULL);
    json_t *de_email = json_object_get(
        json_object_get(
            json_object_get(json_array_get(json_object_get(item, "variants"), 0), "content"), "de"),
        "email");
    json_object_set_new(de_email, "subject", json_string("Hallo"));
    char *changed = json_dumps(item, 0);
    call_init(&c, "m/a", changed);
    c.actor = &email;
    CHECK(fx_run(S, fn_put, &c) == 0);
    CHECK_STR(json_string_value(json_object_get(c.out, "updated_by")), "email-team");
    call_done(&c);
    free(changed);

    /* Adding an sms text in German is not. */
    json_t *de = json_object_get(
        json_object_get(json_array_get(json_object_get(item, "variants"), 0), "content"), "de");
    json_object_set_new(de, "sms", json_pack("{s:s}", "text", "Hallo"));
    changed = json_dumps(item, 0);
    call_init(&c, "m/a", changed);
    c.actor = &email;
    CHECK(fx_run(S, fn_put, &c) == HUB_EFORBIDDEN);
    call_done(&c);
    free(changed);
    json_object_del(de, "sms");

    /* Nor is a new title. */
    json_object_set_new(item, "title", json_string("Other"));
    changed = json_dumps(item, 0);
    call_init(&c, "m/a", changed);
    c.actor = &email;
    CHECK(fx_run(S, fn_put, &c) == HUB_EFORBIDDEN);
    call_done(&c);
    free(changed);
    json_decref(item);

    json_t *d = fx_draft(S, "m/a");
    CHECK(d != NULL &&
          strcmp(json_string_value(json_object_get(d, "title")), "Welcome to the bank") == 0);
    json_decref(d);
}

static void test_tag_limited_actor(void)
{
    hub_principal camp = {.name = "campaigns", .role = HUB_ROLE_EDITOR, .ntags = 1};
    memcpy(camp.tags[0], "campaign/", 10);
    call c;
    call_init(&c, "m/tagged", example_item); /* no campaign tag */
    c.actor = &camp;
    CHECK(fx_run(S, fn_put, &c) == HUB_EFORBIDDEN);
    call_done(&c);
    call_init(&c, "m/tagged",
              "{\"kind\":\"message\",\"title\":\"Spring\",\"tags\":[\"campaign/spring\"],"
              "\"variants\":[{\"id\":\"a\",\"content\":{\"en\":{\"sms\":{\"text\":\"hi\"}}}}]}");
    c.actor = &camp;
    CHECK(fx_run(S, fn_put, &c) == 0);
    call_done(&c);
}

static const char *tagged(const char *tag, char *buf, size_t cap)
{
    snprintf(buf, cap,
             "{\"kind\":\"block\",\"title\":\"Item %s\",\"tags\":[\"%s\"],"
             "\"variants\":[{\"id\":\"a\",\"content\":{\"en\":{\"sms\":{\"text\":\"x\"}}}}]}",
             tag, tag);
    return buf;
}

static int list(const hub_item_filter *f, const char *cursor, size_t limit, json_t **items,
                char **next)
{
    hub_txn *t;
    hub_error err;
    hub_error_init(&err);
    if (hub_store_read(S, &t) != 0)
        return HUB_EIO;
    int rc = hub_content_list(t, f, cursor, limit, items, next, &err);
    hub_txn_end(t);
    return rc;
}

static void test_index_and_list(void)
{
    char b[512];
    REQUIRE(fx_do(S, fn_put, "l/1", tagged("product/accounts", b, sizeof(b))) == 0);
    REQUIRE(fx_do(S, fn_put, "l/2", tagged("product/accounts/savings", b, sizeof(b))) == 0);
    REQUIRE(fx_do(S, fn_put, "l/3", tagged("product/accountsx", b, sizeof(b))) == 0);
    REQUIRE(fx_do(S, fn_put, "l/0", tagged("product/accounts/savings", b, sizeof(b))) == 0);

    hub_item_filter f = {.tag = "product/accounts", .kind = "block"};
    json_t *items = NULL;
    char *next = NULL;
    REQUIRE(list(&f, NULL, 2, &items, &next) == 0);
    CHECK(json_array_size(items) == 2);
    CHECK_STR(json_string_value(json_object_get(json_array_get(items, 0), "key")), "l/0");
    CHECK_STR(json_string_value(json_object_get(json_array_get(items, 1), "key")), "l/1");
    CHECK(json_integer_value(json_object_get(json_array_get(items, 0), "revision")) == 1);
    REQUIRE(next != NULL);
    json_decref(items);
    char *cur = next;
    REQUIRE(list(&f, cur, 2, &items, &next) == 0);
    CHECK(json_array_size(items) == 1); /* l/3 (accountsx) is not a descendant */
    CHECK_STR(json_string_value(json_object_get(json_array_get(items, 0), "key")), "l/2");
    CHECK(next == NULL);
    json_decref(items);
    free(cur);

    /* No tag: key order over all drafts, with kind and q filters. */
    hub_item_filter g = {.q = "item PRODUCT/ACCOUNTSX"};
    REQUIRE(list(&g, NULL, 10, &items, &next) == 0);
    CHECK(json_array_size(items) == 1 && next == NULL);
    json_decref(items);
    hub_item_filter all = {0};
    REQUIRE(list(&all, NULL, 3, &items, &next) == 0);
    CHECK(json_array_size(items) == 3 && next != NULL);
    CHECK_STR(json_string_value(json_object_get(json_array_get(items, 0), "key")), "l/0");
    json_decref(items);
    free(next);

    /* Published only: nothing published yet. */
    hub_item_filter pub = {.published_only = 1};
    REQUIRE(list(&pub, NULL, 10, &items, &next) == 0);
    CHECK(json_array_size(items) == 0 && next == NULL);
    json_decref(items);

    CHECK(list(&f, "!!not base64!!", 2, &items, &next) == HUB_EBADREQ);
    CHECK(list(&f, "Li4", 2, &items, &next) == HUB_EBADREQ); /* ".." is not a key */

    /* The index: re-tagging removes the stale entry; locales are counted. */
    REQUIRE(fx_do(S, fn_put, "l/1", tagged("campaign/spring", b, sizeof(b))) == 0);
    REQUIRE(list(&f, NULL, 10, &items, &next) == 0);
    CHECK(json_array_size(items) == 2); /* l/0 and l/2 */
    json_decref(items);
    hub_txn *t;
    REQUIRE(hub_store_read(S, &t) == 0);
    CHECK(hub_content_locale_in_use(t, "en") == 1);
    CHECK(hub_content_locale_in_use(t, "de") == 1); /* m/a has German content */
    CHECK(hub_content_locale_in_use(t, "fr") == 0);
    CHECK(hub_content_locale_in_use(t, "e") == 0);
    hub_txn_end(t);
}

int main(void)
{
    S = fx_open("content_items");
    if (S == NULL)
        return 1;
    RUN(test_put_revisions_and_if_match);
    RUN(test_put_invalid);
    RUN(test_channel_limited_actor);
    RUN(test_tag_limited_actor);
    RUN(test_index_and_list);
    hub_store_close(S);
    return TEST_SUMMARY();
}
