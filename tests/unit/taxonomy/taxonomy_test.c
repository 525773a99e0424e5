/* Unit tests for the taxonomy: term grammar, parents, item counts, tree, delete rules. */
#include <jansson.h>

#include "taxonomy/taxonomy.h"
#include "test.h"

static hub_store *store;

typedef struct op_arg {
    int kind; /* 0 put, 1 delete, 2 tag item, 3 untag item */
    const char *term;
    const char *body_or_item;
    hub_error err;
} op_arg;

static int do_op(hub_txn *txn, void *arg)
{
    op_arg *a = arg;
    if (a->kind == 1)
        return hub_taxonomy_delete(txn, a->term, &a->err);
    if (a->kind >= 2) {
        char key[512];
        size_t tl = strlen(a->term), il = strlen(a->body_or_item);
        memcpy(key, a->term, tl);
        key[tl] = '\0';
        memcpy(key + tl + 1, a->body_or_item, il);
        hub_slice k = {key, tl + 1 + il};
        if (a->kind == 3)
            return hub_txn_del(txn, HUB_DB_TAG_ITEMS, k);
        return hub_txn_put(txn, HUB_DB_TAG_ITEMS, k, (hub_slice){"", 0});
    }
    json_t *body = json_loads(a->body_or_item, 0, NULL);
    if (body == NULL)
        return HUB_EBADREQ;
    int rc = hub_taxonomy_put(txn, a->term, body, &a->err);
    json_decref(body);
    return rc;
}

static char last_message[256];
static char last_path[64];

static int run(int kind, const char *term, const char *x)
{
    op_arg a = {kind, term, x, {0}};
    hub_error_init(&a.err);
    int rc = hub_store_write(store, do_op, &a);
    snprintf(last_message, sizeof(last_message), "%s", a.err.message);
    snprintf(last_path, sizeof(last_path), "%s",
             a.err.problems.count ? a.err.problems.items[0].path : "");
    hub_error_clear(&a.err);
    return rc;
}

static json_t *get(const char *term, int *rc)
{
    hub_txn *txn = NULL;
    json_t *out = NULL;
    *rc = hub_store_read(store, &txn);
    if (*rc == 0)
        *rc = hub_taxonomy_get(txn, term, &out);
    hub_txn_end(txn);
    return out;
}

static int exists(const char *term)
{
    hub_txn *txn = NULL;
    if (hub_store_read(store, &txn) != 0)
        return -1;
    int r = hub_taxonomy_exists(txn, term);
    hub_txn_end(txn);
    return r;
}

static int term_ok(const char *t)
{
    return hub_term_check(t, strlen(t), NULL) == 0;
}

static void test_grammar(void)
{
    CHECK(term_ok("product/accounts/savings"));
    CHECK(term_ok("campaign/spring-2027"));
    CHECK(term_ok("journey/a.b_c"));
    CHECK(term_ok("segment/0vip"));
    CHECK(term_ok("action/open-account"));
    CHECK(term_ok("channel/email"));
    const char *bad[] = {
        "",           "product",          "product/",   "product//x",  "Product/x",
        "thing/x",    "product/Accounts", "product/-x", "product/x y", "product/x/",
        "/product/x", "product/\xc3\xa4", "product/_x", "product/.x"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        hub_error err;
        hub_error_init(&err);
        int rc = hub_term_check(bad[i], strlen(bad[i]), &err);
        if (rc != HUB_EINVAL)
            fprintf(stderr, "  accepted: \"%s\"\n", bad[i]);
        CHECK(rc == HUB_EINVAL);
        CHECK(err.message[0] != '\0');
        hub_error_clear(&err);
    }
    char t[260];
    /* segment of 64 ok, 65 not */
    snprintf(t, sizeof(t), "product/%064d", 0);
    CHECK(term_ok(t));
    snprintf(t, sizeof(t), "product/%065d", 0);
    CHECK(!term_ok(t));
    /* 200 bytes ok, 201 not: "product" + 3 x "/<63>" = 7 + 192 = 199, + "/a" ... */
    snprintf(t, sizeof(t), "product/%063d/%063d/%063d/a", 0, 0, 0);
    CHECK(strlen(t) == 201);
    CHECK(!term_ok(t));
    t[strlen(t) - 2] = '\0'; /* drop "/a": 199 */
    CHECK(strlen(t) == 199);
    CHECK(term_ok(t));
    snprintf(t, sizeof(t), "product/%063d/%063d/%064d", 0, 0, 0);
    CHECK(strlen(t) == 200);
    CHECK(term_ok(t));
    CHECK(hub_term_check("product/x\0y", 11, NULL) == HUB_EINVAL);

    CHECK(hub_taxonomy_is_facet("segment", 7));
    CHECK(!hub_taxonomy_is_facet("segments", 8));
    CHECK(!hub_taxonomy_is_facet("seg", 3));
    size_t n = 0;
    while (hub_taxonomy_facets[n] != NULL)
        n++;
    CHECK(n == 6);

    CHECK(hub_term_within("campaign/spring", 15, "campaign/", 9));
    CHECK(hub_term_within("campaign/spring/x", 17, "campaign/spring", 15));
    CHECK(hub_term_within("campaign/spring", 15, "campaign/spring", 15));
    CHECK(!hub_term_within("campaign/springtime", 19, "campaign/spring", 15));
    CHECK(!hub_term_within("campaign", 8, "campaign/", 9));
    CHECK(hub_term_within("campaign/x", 10, "campaign", 8));
    CHECK(!hub_term_within("product/x", 9, "campaign/", 9));
}

static void test_put_and_get(void)
{
    CHECK(run(0, "product/accounts", "{\"label\":\"Accounts\"}") == 0);
    CHECK(run(0, "product/accounts/savings", "{\"label\":\"Savings\",\"description\":\"S\"}") == 0);
    CHECK(run(0, "product/accounts/current", "{\"label\":\"Current\",\"description\":null}") == 0);
    CHECK(run(0, "product/accounts/savings/junior", "{\"label\":\"Junior\"}") == 0);
    CHECK(run(0, "product/accounts-x", "{\"label\":\"Other\"}") == 0);
    CHECK(run(0, "campaign/spring", "{\"label\":\"Spring\"}") == 0);

    CHECK(run(0, "product/loans/car", "{\"label\":\"Car\"}") == HUB_EINVAL);
    CHECK(strstr(last_message, "product/loans") != NULL);
    CHECK(run(0, "product", "{\"label\":\"P\"}") == HUB_EINVAL);
    CHECK(run(0, "Product/x", "{\"label\":\"P\"}") == HUB_EINVAL);
    CHECK(run(0, "product/y", "{\"label\":\"P\",\"colour\":\"red\"}") == HUB_EINVAL);
    CHECK_STR(last_path, "/colour");
    CHECK(run(0, "product/y", "{\"description\":\"d\"}") == HUB_EINVAL);
    CHECK_STR(last_path, "/label");
    CHECK(run(0, "product/y", "{\"label\":\"\"}") == HUB_EINVAL);
    CHECK_STR(last_path, "/label");
    CHECK(run(0, "product/y", "{\"label\":\"x\",\"description\":7}") == HUB_EINVAL);
    CHECK_STR(last_path, "/description");
    CHECK(run(0, "product/y", "[1]") == HUB_EINVAL);

    CHECK(exists("product") == 1);
    CHECK(exists("product/accounts/savings") == 1);
    CHECK(exists("product/y") == 0);
    CHECK(exists("nonsense") == 0);

    int rc;
    json_t *t = get("product/accounts", &rc);
    REQUIRE(rc == 0 && t != NULL);
    CHECK_STR(json_string_value(json_object_get(t, "term")), "product/accounts");
    CHECK_STR(json_string_value(json_object_get(t, "facet")), "product");
    CHECK_STR(json_string_value(json_object_get(t, "label")), "Accounts");
    CHECK(json_is_null(json_object_get(t, "description")));
    json_t *ch = json_object_get(t, "children");
    CHECK(json_array_size(ch) == 2); /* direct children only */
    CHECK_STR(json_string_value(json_object_get(json_array_get(ch, 0), "term")),
              "product/accounts/current");
    CHECK_STR(json_string_value(json_object_get(json_array_get(ch, 1), "label")), "Savings");
    CHECK(json_integer_value(json_object_get(t, "item_count")) == 0);
    json_decref(t);

    t = get("product/nope", &rc);
    CHECK(rc == HUB_ENOTFOUND && t == NULL);
    t = get("product", &rc);
    REQUIRE(rc == 0 && t != NULL);
    CHECK_STR(json_string_value(json_object_get(t, "facet")), "product");
    CHECK(json_array_size(json_object_get(t, "children")) == 2); /* accounts, accounts-x */
    json_decref(t);
}

static void test_item_count(void)
{
    CHECK(run(2, "product/accounts", "item-a") == 0);
    CHECK(run(2, "product/accounts/savings", "item-a") == 0);
    CHECK(run(2, "product/accounts/savings/junior", "item-b") == 0);
    CHECK(run(2, "product/accounts-x", "item-c") == 0);
    CHECK(run(2, "campaign/spring", "item-a") == 0);
    int rc;
    json_t *t = get("product/accounts", &rc);
    CHECK(rc == 0 && json_integer_value(json_object_get(t, "item_count")) == 2);
    json_decref(t);
    t = get("product/accounts/savings", &rc);
    CHECK(rc == 0 && json_integer_value(json_object_get(t, "item_count")) == 2);
    json_decref(t);
    t = get("product/accounts-x", &rc);
    CHECK(rc == 0 && json_integer_value(json_object_get(t, "item_count")) == 1);
    json_decref(t);
    t = get("product", &rc);
    CHECK(rc == 0 && json_integer_value(json_object_get(t, "item_count")) == 3);
    json_decref(t);
    t = get("journey", &rc);
    CHECK(rc == 0 && json_integer_value(json_object_get(t, "item_count")) == 0);
    json_decref(t);
}

static void test_tree(void)
{
    hub_txn *txn = NULL;
    json_t *tree = NULL;
    REQUIRE(hub_store_read(store, &txn) == 0);
    CHECK(hub_taxonomy_tree(txn, &tree) == 0);
    hub_txn_end(txn);
    REQUIRE(tree != NULL);
    json_t *facets = json_object_get(tree, "facets");
    CHECK(json_array_size(facets) == 6);
    json_t *product = NULL;
    for (size_t i = 0; i < json_array_size(facets); i++) {
        json_t *f = json_array_get(facets, i);
        if (strcmp(json_string_value(json_object_get(f, "facet")), "product") == 0)
            product = f;
    }
    REQUIRE(product != NULL);
    json_t *terms = json_object_get(product, "terms");
    CHECK(json_array_size(terms) == 2);
    json_t *acc = json_array_get(terms, 0);
    CHECK_STR(json_string_value(json_object_get(acc, "term")), "product/accounts");
    json_t *kids = json_object_get(acc, "children");
    CHECK(json_array_size(kids) == 2);
    json_t *sav = json_array_get(kids, 1);
    CHECK_STR(json_string_value(json_object_get(sav, "description")), "S");
    CHECK(json_array_size(json_object_get(sav, "children")) == 1);
    CHECK_STR(json_string_value(
                  json_object_get(json_array_get(json_object_get(sav, "children"), 0), "term")),
              "product/accounts/savings/junior");
    CHECK_STR(json_string_value(json_object_get(json_array_get(terms, 1), "term")),
              "product/accounts-x");
    json_decref(tree);
}

static void test_delete(void)
{
    CHECK(run(1, "product/accounts", NULL) == HUB_EINUSE);
    CHECK(strstr(last_message, "child") != NULL);
    CHECK(run(1, "product/accounts/savings/junior", NULL) == HUB_EINUSE);
    CHECK(strstr(last_message, "items") != NULL);
    CHECK(run(1, "product/accounts/current", NULL) == 0);
    CHECK(run(1, "product/accounts/current", NULL) == HUB_ENOTFOUND);
    CHECK(run(1, "product", NULL) == HUB_EINVAL);
    CHECK(run(1, "bad term", NULL) == HUB_EINVAL);
    CHECK(run(3, "product/accounts/savings/junior", "item-b") == 0);
    CHECK(run(1, "product/accounts/savings/junior", NULL) == 0);
    /* savings still has item-a directly */
    CHECK(run(1, "product/accounts/savings", NULL) == HUB_EINUSE);
    CHECK(run(3, "product/accounts/savings", "item-a") == 0);
    CHECK(run(1, "product/accounts/savings", NULL) == 0);
    CHECK(run(1, "product/accounts", NULL) == HUB_EINUSE); /* item-a on accounts itself */
    /* a sibling with a longer name does not count as a use or a child */
    CHECK(run(3, "product/accounts", "item-a") == 0);
    CHECK(run(1, "product/accounts", NULL) == 0);
    CHECK(exists("product/accounts") == 0);
    CHECK(exists("product/accounts-x") == 1);
}

int main(void)
{
    hub_store_options opts = {0};
    hub_error err;
    hub_error_init(&err);
    opts.dir = test_tmpdir("taxonomy");
    opts.map_size = 64u << 20;
    if (hub_store_open(&store, &opts, &err) != 0) {
        fprintf(stderr, "cannot open the store: %s\n", err.message);
        return 1;
    }
    RUN(test_grammar);
    RUN(test_put_and_get);
    RUN(test_item_count);
    RUN(test_tree);
    RUN(test_delete);
    hub_store_close(store);
    hub_error_clear(&err);
    return TEST_SUMMARY();
}
