/*
 * Journeys against a real store: validation with problem pointers, create and replace,
 * list, and refusing to delete an item a journey uses.
 */
#include "items_fixture.h"

static hub_store *S;

static int fn_journey_put(hub_txn *t, void *a)
{
    call *c = a;
    json_t *j = json_loads(c->body, 0, NULL);
    hub_content_ctx cx = {hub_content_builtin_schemas(), c->actor, NULL, NULL, NULL};
    int rc = hub_journey_put(t, &cx, c->key, j, &c->out, &c->created, &c->err);
    json_decref(j);
    return rc;
}

static int fn_journey_delete(hub_txn *t, void *a)
{
    call *c = a;
    hub_content_ctx cx = {hub_content_builtin_schemas(), c->actor, NULL, NULL, NULL};
    return hub_journey_delete(t, &cx, c->key);
}

static int has_problem(const call *c, const char *path)
{
    for (size_t i = 0; i < c->err.problems.count; i++) {
        if (strcmp(c->err.problems.items[i].path, path) == 0)
            return 1;
    }
    return 0;
}

static void test_validation(void)
{
    call c;
    REQUIRE(fx_do(S, fn_put, "j/welcome", example_item) == 0);

    call_init(&c, "campaign/spring",
              "{\"title\":\"x\",\"steps\":[{\"id\":\"a\","
              "\"item\":\"j/welcome\",\"channels\":[\"email\"]}]}");
    CHECK(fx_run(S, fn_journey_put, &c) == HUB_EINVAL);
    CHECK(has_problem(&c, ""));
    call_done(&c);

    call_init(&c, "journey/missing",
              "{\"title\":\"x\",\"steps\":[{\"id\":\"a\","
              "\"item\":\"j/welcome\",\"channels\":[\"email\"]}]}");
    CHECK(fx_run(S, fn_journey_put, &c) == HUB_EINVAL);
    CHECK(c.err.problems.count == 1 && has_problem(&c, ""));
    call_done(&c);

    call_init(&c, "journey/onboarding",
              "{\"title\":\"\",\"color\":1,\"steps\":["
              "{\"id\":\"a\",\"item\":\"j/welcome\",\"channels\":[\"email\",\"fax\",\"email\"]},"
              "{\"id\":\"a\",\"item\":\"j/none\",\"channels\":[],\"x\":1},"
              "{\"id\":\"bad id\",\"item\":\"j/welcome\",\"channels\":[\"sms\"]}]}");
    CHECK(fx_run(S, fn_journey_put, &c) == HUB_EINVAL);
    CHECK(has_problem(&c, "/title"));
    CHECK(has_problem(&c, "/color"));
    CHECK(has_problem(&c, "/steps/0/channels/1"));
    CHECK(has_problem(&c, "/steps/0/channels/2"));
    CHECK(has_problem(&c, "/steps/1/id"));
    CHECK(has_problem(&c, "/steps/1/item"));
    CHECK(has_problem(&c, "/steps/1/channels"));
    CHECK(has_problem(&c, "/steps/1/x"));
    CHECK(has_problem(&c, "/steps/2/id"));
    CHECK(c.err.problems.count == 9);
    call_done(&c);

    call_init(&c, "journey/onboarding", "{\"title\":\"x\",\"steps\":[]}");
    CHECK(fx_run(S, fn_journey_put, &c) == HUB_EINVAL && has_problem(&c, "/steps"));
    call_done(&c);
}

static void test_put_list_and_in_use(void)
{
    call c;
    const char *body = "{\"title\":\"Onboarding\",\"steps\":[{\"id\":\"welcome\","
                       "\"item\":\"j/welcome\",\"channels\":[\"email\",\"mobile\"]}]}";
    call_init(&c, "journey/onboarding", body);
    REQUIRE(fx_run(S, fn_journey_put, &c) == 0);
    CHECK(c.created == 1);
    CHECK_STR(json_string_value(json_object_get(c.out, "id")), "journey/onboarding");
    CHECK(json_is_string(json_object_get(c.out, "updated_at")));
    call_done(&c);
    call_init(&c, "journey/onboarding", body);
    REQUIRE(fx_run(S, fn_journey_put, &c) == 0);
    CHECK(c.created == 0);
    call_done(&c);

    hub_txn *t;
    json_t *list = NULL, *j = NULL;
    REQUIRE(hub_store_read(S, &t) == 0);
    CHECK(hub_journey_list(t, &list) == 0 && json_array_size(list) == 1);
    CHECK(hub_journey_get(t, "journey/onboarding", &j) == 0);
    CHECK_STR(json_string_value(json_object_get(j, "title")), "Onboarding");
    json_t *none = NULL;
    CHECK(hub_journey_get(t, "journey/other", &none) == HUB_ENOTFOUND && none == NULL);
    CHECK(hub_journey_uses_item(t, "j/welcome") == 1);
    CHECK(hub_journey_uses_item(t, "j/other") == 0);
    hub_txn_end(t);
    json_decref(list);
    json_decref(j);

    /* The item cannot be deleted while the journey uses it. */
    call_init(&c, "j/welcome", NULL);
    CHECK(fx_run(S, fn_delete, &c) == HUB_EINUSE);
    CHECK(strstr(c.err.message, "journey/onboarding") != NULL);
    call_done(&c);
    json_t *d = fx_draft(S, "j/welcome");
    CHECK(d != NULL);
    json_decref(d);

    call_init(&c, "journey/onboarding", NULL);
    REQUIRE(fx_run(S, fn_journey_delete, &c) == 0);
    call_done(&c);
    call_init(&c, "journey/onboarding", NULL);
    CHECK(fx_run(S, fn_journey_delete, &c) == HUB_ENOTFOUND);
    call_done(&c);
    call_init(&c, "j/welcome", NULL);
    CHECK(fx_run(S, fn_delete, &c) == 0);
    call_done(&c);
}

int main(void)
{
    S = fx_open("content_journeys");
    if (S == NULL)
        return 1;
    RUN(test_validation);
    RUN(test_put_list_and_in_use);
    hub_store_close(S);
    return TEST_SUMMARY();
}
