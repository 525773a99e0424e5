/*
 * The changes feed and the audit log against a real store: sequence order, paging by seq
 * and by cursor, the per-key audit index, and the since filter.
 */
#include "items_fixture.h"

static hub_store *S;

static int fn_append_changes(hub_txn *t, void *a)
{
    (void)a;
    int rc = hub_changes_append(t, "item.published", "x/a", 1);
    if (rc == 0)
        rc = hub_changes_append(t, "item.published", "x/b", 1);
    if (rc == 0)
        rc = hub_changes_append(t, "item.unpublished", "x/a", 1);
    if (rc == 0)
        rc = hub_changes_append(t, "item.deleted", "x/a", 0);
    return rc;
}

static int fn_failing(hub_txn *t, void *a)
{
    (void)a;
    hub_changes_append(t, "item.published", "x/rolled-back", 1);
    return HUB_EINVAL; /* rolled back: the change must not appear */
}

static void test_changes(void)
{
    hub_txn *t;
    json_t *list = NULL;
    uint64_t next = 0;
    REQUIRE(hub_store_write(S, fn_append_changes, NULL) == 0);
    CHECK(hub_store_write(S, fn_failing, NULL) == HUB_EINVAL);
    REQUIRE(hub_store_read(S, &t) == 0);
    REQUIRE(hub_changes_list(t, 0, 3, &list, &next) == 0);
    CHECK(json_array_size(list) == 3);
    uint64_t prev = 0;
    for (size_t i = 0; i < json_array_size(list); i++) {
        uint64_t seq =
            (uint64_t)json_integer_value(json_object_get(json_array_get(list, i), "seq"));
        CHECK(seq > prev);
        prev = seq;
    }
    CHECK(next == prev);
    CHECK_STR(json_string_value(json_object_get(json_array_get(list, 2), "type")),
              "item.unpublished");
    CHECK(json_is_string(json_object_get(json_array_get(list, 0), "at")));
    json_decref(list);
    REQUIRE(hub_changes_list(t, next, 10, &list, &next) == 0);
    CHECK(json_array_size(list) == 1);
    CHECK_STR(json_string_value(json_object_get(json_array_get(list, 0), "type")), "item.deleted");
    CHECK(json_integer_value(json_object_get(json_array_get(list, 0), "version")) == 0);
    json_decref(list);
    uint64_t end = next;
    REQUIRE(hub_changes_list(t, end, 10, &list, &next) == 0);
    CHECK(json_array_size(list) == 0 && next == end);
    json_decref(list);
    hub_txn_end(t);
}

static int audit(const char *key, int64_t since, const char *cursor, size_t limit, json_t **out,
                 char **next)
{
    hub_txn *t;
    hub_error err;
    hub_error_init(&err);
    if (hub_store_read(S, &t) != 0)
        return HUB_EIO;
    int rc = hub_audit_list(t, key, since, cursor, limit, out, next, &err);
    hub_txn_end(t);
    return rc;
}

static void test_audit_by_key(void)
{
    call c;
    REQUIRE(fx_do(S, fn_put, "x/a", example_item) == 0);
    REQUIRE(fx_do(S, fn_put, "x/b", example_item) == 0);
    REQUIRE(fx_do(S, fn_put, "x/a", example_item) == 0);
    call_init(&c, "x/a", NULL);
    REQUIRE(fx_run(S, fn_publish, &c) == 0);
    call_done(&c);

    json_t *list = NULL;
    char *next = NULL;
    REQUIRE(audit("x/a", 0, NULL, 2, &list, &next) == 0);
    REQUIRE(json_array_size(list) == 2);
    CHECK_STR(json_string_value(json_object_get(json_array_get(list, 0), "action")), "item.put");
    CHECK_STR(json_string_value(json_object_get(json_array_get(list, 0), "actor")), "cli");
    CHECK_STR(json_string_value(json_object_get(json_array_get(list, 0), "resource")), "items");
    CHECK(json_integer_value(json_object_get(json_object_get(json_array_get(list, 1), "detail"),
                                             "revision")) == 2);
    REQUIRE(next != NULL);
    json_decref(list);
    char *cur = next;
    REQUIRE(audit("x/a", 0, cur, 2, &list, &next) == 0);
    CHECK(json_array_size(list) == 1 && next == NULL);
    CHECK_STR(json_string_value(json_object_get(json_array_get(list, 0), "action")),
              "item.publish");
    CHECK_STR(json_string_value(json_object_get(json_array_get(list, 0), "key")), "x/a");
    json_decref(list);
    free(cur);

    /* All keys, oldest first; since in the future gives nothing. */
    REQUIRE(audit(NULL, 0, NULL, 100, &list, &next) == 0);
    CHECK(json_array_size(list) >= 4 && next == NULL);
    char keys[64] = "";
    for (size_t i = 0; i < json_array_size(list); i++) {
        json_t *r = json_array_get(list, i);
        const char *k = json_string_value(json_object_get(r, "key"));
        if (k != NULL && strncmp(k, "x/", 2) == 0 && strlen(keys) + 2 < sizeof(keys))
            strncat(keys, k + 2, 1);
    }
    CHECK_STR(keys, "abaa");
    json_decref(list);
    REQUIRE(audit(NULL, hub_now_ms() + 3600 * 1000, NULL, 100, &list, &next) == 0);
    CHECK(json_array_size(list) == 0);
    json_decref(list);
    REQUIRE(audit("x/none", 0, NULL, 100, &list, &next) == 0);
    CHECK(json_array_size(list) == 0);
    json_decref(list);
    CHECK(audit(NULL, 0, "bogus", 10, &list, &next) == HUB_EBADREQ);
}

int main(void)
{
    S = fx_open("content_log");
    if (S == NULL)
        return 1;
    RUN(test_changes);
    RUN(test_audit_by_key);
    hub_store_close(S);
    return TEST_SUMMARY();
}
